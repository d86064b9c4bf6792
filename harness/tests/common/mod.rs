//! Shared by the end-to-end tests: run the `gauntlet` binary as a user would, with Envoy
//! installs cached under `target/` so the suite installs each version once.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

use gauntlet_reports::RunResult;

/// Runs that measure latency take turns: two of them on two cores would disturb each other.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the lock that keeps timing-sensitive runs apart.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The cache directory every test shares for managed Envoy installs.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/gauntlet-test-cache")
}

/// A `gauntlet` command with the shared cache and no `ENVOY_BIN`, so tests exercise the
/// managed install (PATH is kept: the install needs the machine's python3).
pub fn gauntlet() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gauntlet"));
    cmd.env("GAUNTLET_CACHE_DIR", cache_dir())
        .env_remove("ENVOY_BIN");
    cmd
}

/// A scratch directory for one test, under `target/`, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/gauntlet-test-runs")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Writes `yaml` to `<dir>/scenario.yaml` and returns the path.
pub fn scenario_file(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, yaml).expect("write scenario");
    path
}

/// `gauntlet run <scenario> --out <dir>/run --quiet`, returning the process output.
pub fn run(dir: &Path, scenario: &Path) -> Output {
    gauntlet()
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(dir.join("run"))
        .arg("--quiet")
        .output()
        .expect("spawn gauntlet")
}

/// Starts `gauntlet run <scenario> --out <dir>/run` in the background, output captured.
pub fn spawn_run(dir: &Path, scenario: &Path) -> std::process::Child {
    gauntlet()
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(dir.join("run"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn gauntlet")
}

/// `gauntlet run` of `yaml` in `dir`, failing unless it exits 0 with every gate held;
/// returns the result.
pub fn run_passing(dir: &Path, yaml: &str) -> RunResult {
    let out = run(dir, &scenario_file(dir, yaml));
    assert!(out.status.success(), "{}", describe(&out));
    let r = result(dir);
    assert!(r.gates.iter().all(|g| g.passed), "{:#?}", r.gates);
    r
}

/// The shipped `scenarios/<name>.yaml`.
pub fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.yaml"))
}

/// The text of the shipped `scenarios/<name>.yaml`.
pub fn shipped_text(name: &str) -> String {
    std::fs::read_to_string(shipped(name)).expect("read the shipped scenario")
}

/// `text` (a scenario whose `load:` is one line) with `load` instead of its own.
pub fn with_load(text: &str, load: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.starts_with("load:"))
        .expect("a one-line load");
    text.replace(line, load)
}

/// Builds `gauntlet-mock` into the directory `gauntlet` is in (Cargo builds a test only its
/// own crate's binaries), once per test process; a no-op when it is up to date. Returns its
/// path.
pub fn mock_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let gauntlet = Path::new(env!("CARGO_BIN_EXE_gauntlet"));
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
            let mut cmd = Command::new(cargo);
            cmd.args([
                "build",
                "--quiet",
                "-p",
                "gauntlet-mocks",
                "--bin",
                "gauntlet-mock",
            ]);
            if gauntlet.parent().is_some_and(|d| d.ends_with("release")) {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("run cargo build");
            let mock = gauntlet.with_file_name("gauntlet-mock");
            assert!(
                status.success() && mock.is_file(),
                "building gauntlet-mock failed"
            );
            mock
        })
        .clone()
}

/// Reads `<dir>/run/result.json`.
pub fn result(dir: &Path) -> RunResult {
    gauntlet_reports::json::read(&dir.join("run/result.json")).expect("read result.json")
}

/// Prints a run's output, for the failure message of an assertion.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// PIDs of live processes whose command line mentions `needle` (e.g. a run directory).
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        // A zombie has an empty command line and is not running anything.
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            found.push(pid);
        }
    }
    found
}

/// A window's count of one status code.
pub fn status_in(w: &gauntlet_reports::Window, code: &str) -> u64 {
    w.statuses.get(code).copied().unwrap_or(0)
}

/// The named step, or a panic naming what was there.
pub fn step<'a>(r: &'a RunResult, name: &str) -> &'a gauntlet_reports::StepResult {
    r.step(name).unwrap_or_else(|| {
        let names: Vec<_> = r.steps.iter().map(|s| s.name.as_str()).collect();
        panic!("no step `{name}` in {names:?}; error: {:?}", r.error)
    })
}

/// Waits until the run in `dir` has streamed `n` windows of its Envoy step, failing if the
/// process exits first or a minute passes.
pub fn wait_for_envoy_windows(dir: &Path, child: &mut std::process::Child, n: usize) {
    let file = dir.join("run/windows-envoy.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(&file).map_or(0, |t| t.lines().count()) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "the envoy step never started"
        );
        assert!(child.try_wait().unwrap().is_none(), "gauntlet exited early");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
