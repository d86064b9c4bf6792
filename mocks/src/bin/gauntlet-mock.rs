//! `gauntlet-mock`: one mock upstream endpoint as a standalone server, like Fortio's echo
//! server, with a control API under `/__gauntlet/` to read counters and swap the behaviour.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use gauntlet_mocks::behavior::MAX_BODY_BYTES;
use gauntlet_mocks::spec::{
    format_chaos, format_latency, format_status_mix, parse_latency, parse_slow_body,
    parse_status_mix,
};
use gauntlet_mocks::units::{parse_duration, parse_percent, parse_size};
use gauntlet_mocks::{
    serve_with, Behavior, Chaos, EndpointId, EndpointState, Latency, ServeOptions, SlowBody,
    StatusMix,
};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// A mock upstream: answers every request after a sampled latency with a sampled status and
/// a fixed-size body, or by chaos hangs, resets or closes. `GET /__gauntlet/stats` returns
/// counters as JSON; `PUT /__gauntlet/behavior` with a JSON behaviour swaps it while running.
/// With `--call`, a mock *service* instead: each request calls its dependencies first.
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
    /// Answer every request as a unary gRPC method (any path, over HTTP/2) with statuses
    /// from this mix: `OK`, `OK:70%,UNAVAILABLE:30%`, codes by name or number. `OK` answers
    /// carry a message of --body bytes; others are trailers-only. Replaces --status.
    #[arg(long, value_name = "MIX", conflicts_with = "calls",
          value_parser = gauntlet_mocks::spec::parse_grpc_status_mix)]
    grpc: Option<gauntlet_mocks::GrpcStatusMix>,
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
    /// Endpoint index sent back in the `x-gauntlet-endpoint` header (Gauntlet runs one
    /// container per endpoint of an upstream).
    #[arg(long, default_value_t = 0)]
    index: u32,
    /// After SIGTERM or SIGINT, how long requests in flight may take to finish before their
    /// connections are dropped: `0` drops them at once, as an endpoint going down does.
    #[arg(long, default_value = "1s", value_parser = duration)]
    grace: Duration,
    /// Worker threads (default: one per CPU).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Freeze the whole server once, this long after it starts listening, e.g. `5s`, as a
    /// GC pause would (for coordinated-omission checks). Needs `--threads 1`.
    #[arg(long, value_parser = duration, requires = "stall_for")]
    stall_at: Option<Duration>,
    /// How long the one stall of `--stall-at` lasts, e.g. `1s`.
    #[arg(long, value_parser = duration, requires = "stall_at")]
    stall_for: Option<Duration>,
    /// Service mode: before answering, call this dependency, `NAME=http://host:port/path` or
    /// `NAME=/path` (base URL from `$NAME_URL`, which Gauntlet sets to its egress sidecar).
    /// Repeat for several; answers 200 when every call got a 2xx, else --failure-status.
    #[arg(long = "call", value_name = "NAME=URL", value_parser = call_arg)]
    calls: Vec<gauntlet_mocks::Call>,
    /// Service mode: make the calls one after the other (stopping at the first failure)
    /// instead of all at once.
    #[arg(long, requires = "calls")]
    sequential: bool,
    /// Service mode: the status answered when a call failed.
    #[arg(long, default_value_t = 502, requires = "calls",
          value_parser = clap::value_parser!(u16).range(100..=599))]
    failure_status: u16,
    /// Service mode: timeout of each call, e.g. `2s`.
    #[arg(long, default_value = "5s", value_parser = duration, requires = "calls")]
    call_timeout: Duration,
    /// Service mode: path answered 200 at once, uncounted, for health checks.
    #[arg(long, default_value = "/healthz", requires = "calls")]
    health: String,
}

/// Starts the stdout line with the final counts as JSON, written when the mock stops.
const FINAL_STATS: &str = "final stats: ";

fn call_arg(text: &str) -> Result<gauntlet_mocks::Call, String> {
    gauntlet_mocks::parse_call(text, |var| std::env::var(var).ok())
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
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
    if cli.stall_at.is_some() && cli.threads != Some(1) {
        // Blocking the one worker thread freezes every connection; with more workers the
        // others would keep answering and the stall would be partial.
        Cli::command()
            .error(
                ErrorKind::MissingRequiredArgument,
                "--stall-at freezes the server's only worker thread: add --threads 1",
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
        grpc: cli.grpc.clone(),
    };
    let chaos = format_chaos(&behavior.chaos);
    let id = EndpointId {
        upstream: cli.name.clone(),
        index: cli.index,
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
            match &cli.grpc {
                Some(mix) => format!("grpc {}", gauntlet_mocks::spec::format_grpc_status_mix(mix)),
                None => format_status_mix(&cli.status),
            },
            cli.body
        );
        if let (Some(at), Some(length)) = (cli.stall_at, cli.stall_for) {
            tokio::spawn(stall(at, length));
        }
        if !cli.calls.is_empty() {
            return serve_service(cli, listener, shutdown).await;
        }
        let options = ServeOptions {
            control_api: true,
            grace: cli.grace,
        };
        serve_with(listener, Arc::clone(&state), options, shutdown)
            .await
            .context("server failed")?;
        // The counts once nothing more can arrive, for whoever stopped the mock (Gauntlet
        // reads them from the log when the timeline takes an endpoint down).
        let counts = gauntlet_mocks::UpstreamCounts::from_endpoints(
            cli.name.clone(),
            vec![state.counters.snapshot()],
        );
        // Nobody may be reading stdout any more (a closed pipe): that is no failure.
        use std::io::Write as _;
        let line = format!("{FINAL_STATS}{}\n", serde_json::to_string(&counts)?);
        let _ = std::io::stdout().write_all(line.as_bytes());
        Ok(())
    })
}

/// Blocks the runtime's only worker thread for `length`, `at` from now: no connection is
/// read or answered meanwhile, as when a real server pauses. Requests that arrive during the
/// stall are answered when it ends.
async fn stall(at: Duration, length: Duration) {
    tokio::time::sleep(at).await;
    eprintln!("gauntlet-mock: stalling for {length:?}");
    // Deliberately blocking inside the runtime: the stall is the point.
    std::thread::sleep(length);
    eprintln!("gauntlet-mock: stall over");
}

/// Service mode (`--call`): a fan-out service instead of a plain upstream.
async fn serve_service(
    cli: &Cli,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut config = gauntlet_mocks::FanoutConfig::new(cli.name.clone(), cli.calls.clone());
    if cli.sequential {
        config.mode = gauntlet_mocks::CallMode::Sequential;
    }
    config.latency = cli.latency.clone();
    config.failure_status = cli.failure_status;
    config.call_timeout = cli.call_timeout;
    config.health_path = cli.health.clone();
    for call in &cli.calls {
        eprintln!(
            "gauntlet-mock: service {} calls {} at {}",
            cli.name, call.name, call.url
        );
    }
    gauntlet_mocks::fanout::Fanout::new(config)
        .context("invalid service")?
        .serve(listener, shutdown)
        .await
        .context("server failed")
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
