//! `gauntlet-mock`: one mock upstream endpoint as a standalone server, like Fortio's echo
//! server, with a control API under `/__gauntlet/` to read counters and swap the behaviour.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use gauntlet_mocks::behavior::MAX_BODY_BYTES;
use gauntlet_mocks::spec::{
    format_chaos, format_latency, format_status_mix, parse_latency, parse_slow_body,
    parse_status_mix,
};
use gauntlet_mocks::units::{parse_percent, parse_size};
use gauntlet_mocks::{
    serve_with, Behavior, Chaos, EndpointId, EndpointState, Latency, ServeOptions, SlowBody,
    StatusMix,
};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// A mock upstream: answers every request after a sampled latency with a sampled status and
/// a fixed-size body, or by chaos hangs, resets or closes. `GET /__gauntlet/stats` returns
/// counters as JSON; `PUT /__gauntlet/behavior` with a JSON behaviour swaps it while running.
#[derive(Debug, Parser)]
#[command(name = "gauntlet-mock", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port. The first stdout line is
    /// `listening on <addr>`.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Allow a non-loopback --listen address, exposing the mock to the network.
    #[arg(long)]
    allow_external: bool,
    /// Delay before answering: `0`, `5ms`, `1ms..5ms` (uniform) or `p50=5ms,p99=40ms`.
    #[arg(long, default_value = "0", value_parser = parse_latency)]
    latency: Latency,
    /// Status mix, shares summing to 100%: `200`, `200:97%,503:3%`.
    #[arg(long, default_value = "200", value_parser = parse_status_mix)]
    status: StatusMix,
    /// Response body size: `0`, `512`, `1KiB`, `4KB`.
    #[arg(long, default_value = "0", value_parser = body_size)]
    body: usize,
    /// Share of requests read and never answered: `5%`.
    #[arg(long, default_value = "0%", value_parser = share)]
    hang: f64,
    /// Share of requests whose connection is reset (RST) before any response byte: `1%`.
    #[arg(long, default_value = "0%", value_parser = share)]
    reset: f64,
    /// Share of responses that close their connection (`connection: close`; GOAWAY on h2).
    #[arg(long, default_value = "0%", value_parser = share)]
    close: f64,
    /// Send bodies in chunks, pausing before each: `CHUNK/INTERVAL`, e.g. `100B/50ms`.
    #[arg(long, value_parser = slow_body)]
    slow_body: Option<SlowBody>,
    /// Upstream name sent back in the `x-gauntlet-upstream` header.
    #[arg(long, default_value = "mock", value_parser = upstream_name)]
    name: String,
    /// Worker threads (default: one per CPU).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

fn body_size(text: &str) -> Result<usize, String> {
    let bytes = parse_size(text).map_err(|e| e.to_string())?;
    usize::try_from(bytes)
        .ok()
        .filter(|&n| n <= MAX_BODY_BYTES)
        .ok_or_else(|| format!("`{text}` is larger than the limit of {MAX_BODY_BYTES} bytes"))
}

fn share(text: &str) -> Result<f64, String> {
    parse_percent(text).map_err(|e| e.to_string())
}

fn slow_body(text: &str) -> Result<SlowBody, String> {
    parse_slow_body(text).map_err(|e| e.to_string())
}

fn upstream_name(text: &str) -> Result<String, String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(text.to_string())
    } else {
        Err("a name is visible ASCII without spaces, e.g. `backend`".to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.listen.ip().is_loopback() && !cli.allow_external {
        Cli::command()
            .error(
                ErrorKind::ArgumentConflict,
                format!(
                    "--listen {} is not a loopback address; a mock answers anyone who \
                     connects, so pass --allow-external to listen there anyway",
                    cli.listen
                ),
            )
            .exit();
    }
    let behavior = Behavior {
        latency: cli.latency.clone(),
        statuses: cli.status.clone(),
        body_bytes: cli.body,
        chaos: Chaos {
            hang: cli.hang,
            reset: cli.reset,
            close: cli.close,
            slow_body: cli.slow_body,
        },
    };
    let chaos = format_chaos(&behavior.chaos);
    let id = EndpointId {
        upstream: cli.name.clone(),
        index: 0,
    };
    let state = match EndpointState::new(id, behavior) {
        Ok(state) => Arc::new(state),
        // The flag parsers check what they can; what is left is still a usage error.
        Err(error) => Cli::command().error(ErrorKind::InvalidValue, error).exit(),
    };

    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();

    match run(&cli, state, &chaos) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gauntlet-mock: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli, state: Arc<EndpointState>, chaos: &str) -> anyhow::Result<()> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        runtime.worker_threads(usize::from(threads));
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        // Signal handlers first: a server that cannot be stopped cleanly should not start.
        let shutdown = shutdown_signal()?;
        let listener = TcpListener::bind(cli.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cli.listen))?;
        let addr = listener
            .local_addr()
            .context("cannot read the bound address")?;
        // Scripts read this line to find the port, so it comes first and alone on stdout.
        println!("listening on {addr}");
        eprintln!(
            "gauntlet-mock: upstream {} latency {} status {} body {} bytes chaos {chaos}",
            cli.name,
            format_latency(&cli.latency),
            format_status_mix(&cli.status),
            cli.body
        );
        let options = ServeOptions {
            control_api: true,
            ..ServeOptions::default()
        };
        serve_with(listener, state, options, shutdown)
            .await
            .context("server failed")
    })
}

/// Resolves on SIGINT or SIGTERM.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("gauntlet-mock: shutting down");
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        // Without a working handler, run until killed rather than stop at once.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        eprintln!("gauntlet-mock: shutting down");
    })
}
