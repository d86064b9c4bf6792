//! The `gauntlet compare` command line: flags → a validated compare configuration → the
//! runner or the stored-run diff → the table on stdout and an exit code.

use std::path::{Path, PathBuf};

use super::failon::{self, FailOn};
use super::figures::Judgement;
use super::runner::{self, CompareConfig};
use super::side::SideSpec;
use super::stored;
use crate::exit;

/// Flags of `gauntlet compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// A scenario file (runs it on both sides); a compare directory (judges its runs again);
    /// or two stored directories RUN_A RUN_B (run directories, compare directories or
    /// directories of runs) to diff without running.
    #[arg(required = true, num_args = 1..=2, value_name = "SCENARIO | RUN_A RUN_B")]
    pub inputs: Vec<PathBuf>,
    /// Baseline Envoy version (managed install if needed), e.g. 1.39.3.
    #[arg(long, value_name = "VERSION", conflicts_with = "baseline_bin")]
    pub baseline_envoy: Option<String>,
    /// Candidate Envoy version, e.g. 1.40.0.
    #[arg(long, value_name = "VERSION", conflicts_with = "candidate_bin")]
    pub candidate_envoy: Option<String>,
    /// Baseline Envoy binary.
    #[arg(long, value_name = "PATH")]
    pub baseline_bin: Option<PathBuf>,
    /// Candidate Envoy binary.
    #[arg(long, value_name = "PATH")]
    pub candidate_bin: Option<PathBuf>,
    /// Baseline Envoy image (run in a container), e.g. gauntlet/envoy:1.39.3.
    #[arg(long, value_name = "IMAGE", conflicts_with_all = ["baseline_envoy", "baseline_bin"])]
    pub baseline_image: Option<String>,
    /// Candidate Envoy image (run in a container), e.g. gauntlet/envoy:1.40.0.
    #[arg(long, value_name = "IMAGE", conflicts_with_all = ["candidate_envoy", "candidate_bin"])]
    pub candidate_image: Option<String>,
    /// Runs per side, interleaved A B A B … (4 or more give distribution-free intervals).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Fail (exit 1) on a significant change beyond a threshold, e.g. 'latency.p99 > +10%'.
    #[arg(long = "fail-on", value_name = "EXPR", value_parser = parse_fail_on)]
    pub fail_on: Vec<FailOn>,
    /// Smallest relative change called a regression or an improvement.
    #[arg(long, default_value = "5%", value_parser = percent)]
    pub min_effect: f64,
    /// Confidence of the intervals.
    #[arg(long, default_value = "95%", value_parser = percent)]
    pub confidence: f64,
    /// Compare directory (default: runs/compare-<name>-<timestamp>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No per-second progress of the runs.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_fail_on(s: &str) -> Result<FailOn, String> {
    failon::parse(s).map_err(|e| e.to_string())
}

fn percent(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (t, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a percentage (write e.g. 5%)"))?;
    let v = v / scale;
    if !(0.0..=10.0).contains(&v) || !v.is_finite() {
        return Err(format!("`{s}` must be between 0% and 1000%"));
    }
    Ok(v)
}

/// Runs `gauntlet compare` and returns the exit code.
pub async fn main(args: CompareArgs) -> u8 {
    let judgement = Judgement {
        confidence: args.confidence,
        min_effect: args.min_effect,
    };
    if !(0.5..1.0).contains(&args.confidence) {
        eprintln!("error: --confidence must be at least 50% and below 100%");
        return exit::BAD_INPUT;
    }
    match args.inputs.as_slice() {
        [dir] if dir.join("compare.json").is_file() => rejudge(dir, &args, judgement),
        [scenario] => run(scenario, &args, judgement).await,
        [a, b] => {
            if args.baseline_envoy.is_some()
                || args.candidate_envoy.is_some()
                || args.baseline_bin.is_some()
                || args.candidate_bin.is_some()
                || args.baseline_image.is_some()
                || args.candidate_image.is_some()
            {
                eprintln!("error: --baseline-*/--candidate-* choose Envoys to run; with two stored directories nothing runs\n  hint: pass one scenario file to run a compare");
                return exit::BAD_INPUT;
            }
            diff(a, b, &args, judgement)
        }
        _ => exit::BAD_INPUT,
    }
}

fn side(
    version: &Option<String>,
    bin: &Option<PathBuf>,
    image: &Option<String>,
    role: &str,
) -> Result<SideSpec, String> {
    match (version, bin, image) {
        (Some(v), None, None) => Ok(SideSpec::Version(v.clone())),
        (None, Some(p), None) => Ok(SideSpec::Binary(p.clone())),
        (None, None, Some(i)) => Ok(SideSpec::Image(i.clone())),
        _ => Err(format!(
            "the {role} side needs --{role}-envoy VERSION, --{role}-bin PATH or --{role}-image IMAGE"
        )),
    }
}

async fn run(path: &Path, args: &CompareArgs, judgement: Judgement) -> u8 {
    let sides = side(
        &args.baseline_envoy,
        &args.baseline_bin,
        &args.baseline_image,
        "baseline",
    )
    .and_then(|b| {
        Ok((
            b,
            side(
                &args.candidate_envoy,
                &args.candidate_bin,
                &args.candidate_image,
                "candidate",
            )?,
        ))
    });
    let (baseline, candidate) = match sides {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let scenario = match crate::scenario::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::BAD_INPUT;
        }
    };
    let cfg = CompareConfig {
        baseline,
        candidate,
        repeat: args.repeat,
        checks: args.fail_on.clone(),
        judgement,
        out: args.out.clone(),
        progress: !args.quiet,
    };
    let cancel = crate::signals::install();
    match runner::run(&scenario, &cfg, cancel).await {
        Ok(outcome) => {
            println!(
                "{}",
                gauntlet_reports::compare::text::terminal(&outcome.result)
            );
            println!("results: {}", outcome.dir.display());
            outcome.exit_code
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn rejudge(dir: &Path, args: &CompareArgs, judgement: Judgement) -> u8 {
    match stored::rejudge(dir, judgement, &args.fail_on) {
        Ok(result) => show(result, args),
        Err(e) => {
            eprintln!("error: {e}");
            exit::BAD_INPUT
        }
    }
}

fn diff(a: &Path, b: &Path, args: &CompareArgs, judgement: Judgement) -> u8 {
    match stored::compare(a, b, judgement, &args.fail_on) {
        Ok(result) => show(result, args),
        Err(e) => {
            eprintln!("error: {e}");
            exit::BAD_INPUT
        }
    }
}

/// Writes a stored-run compare to `--out` (when given) and prints it.
fn show(result: gauntlet_reports::compare::CompareResult, args: &CompareArgs) -> u8 {
    if let Some(out) = &args.out {
        if let Err(e) = std::fs::create_dir_all(out)
            .map_err(|e| e.to_string())
            .and_then(|()| runner::write(&result, out).map_err(|e| e.to_string()))
        {
            eprintln!("error: {e}");
            return exit::RUN_ERROR;
        }
    }
    println!("{}", gauntlet_reports::compare::text::terminal(&result));
    runner::exit_code(&result)
}

/// For `gauntlet report`: renders a compare directory (or a `compare.json`). `None` when the
/// path is not a compare; `Err` when it is but cannot be read or has no such format.
pub fn report(path: &Path, format: gauntlet_reports::Format) -> Option<Result<String, String>> {
    let file = if path.is_dir() {
        path.join("compare.json")
    } else {
        path.to_path_buf()
    };
    let is_compare = file.file_name().is_some_and(|n| n == "compare.json") && file.is_file();
    if !is_compare || path.join("result.json").is_file() {
        return None;
    }
    Some(
        gauntlet_reports::compare::read(&file).and_then(|c| {
            gauntlet_reports::compare::render(format, &c)
                .ok_or_else(|| format!("the {format:?} format describes a single run; a compare renders as terminal, json, markdown, html or junit"))
        }),
    )
}
