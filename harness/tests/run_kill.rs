//! Killing things mid-run: Envoy SIGKILLed, Gauntlet SIGKILLed, SIGTERM, a second SIGINT.
//! Each must end the documented way and leave no process behind.

mod common;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use common::*;
use gauntlet_reports::RunStatus;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const LONG_RUN: &str = r#"
name: long
baseline: false
upstreams:
  backend: {}
load: { rate: 100/s, duration: 60s, warmup: 0 }
"#;

/// Starts `gauntlet run` on a long scenario and waits until the Envoy step has streamed
/// `windows` windows.
fn start_long_run(dir: &Path, windows: usize) -> Child {
    let scenario = scenario_file(dir, LONG_RUN);
    let mut child = spawn_run(dir, &scenario);
    wait_for_envoy_windows(dir, &mut child, windows);
    child
}

/// The Envoy started for the run in `dir` (its command line names the run directory).
fn envoy_pid(dir: &Path) -> Pid {
    let pids = processes_mentioning(&dir.join("run/bootstrap.pb").display().to_string());
    assert_eq!(pids.len(), 1, "exactly one Envoy for the run: {pids:?}");
    Pid::from_raw(pids[0] as i32)
}

/// Waits until nothing mentions the run directory, or fails after `limit`.
fn assert_no_orphans(dir: &Path, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let left = processes_mentioning(dir.to_str().unwrap());
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "processes left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn envoy_killed_mid_run_is_a_run_error_with_partial_results() {
    let _serial = serial();
    let dir = scratch("kill-envoy");
    let child = start_long_run(&dir, 2);
    kill(envoy_pid(&dir), Signal::SIGKILL).unwrap();
    let killed = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "took {:?}",
        killed.elapsed()
    );
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let r = result(&dir);
    assert_eq!(r.status, RunStatus::Failed);
    let error = r.error.clone().unwrap_or_default();
    assert!(error.contains("Envoy exited"), "{error}");
    assert!(
        error.contains("signal 9") || error.contains("SIGKILL"),
        "{error}"
    );
    let l = &step(&r, "envoy").load;
    assert!(
        l.cut_short && l.responses >= 100,
        "partial figures kept: {l:?}"
    );
    // Detected within a second: the load stopped well before its 60 s.
    assert!(l.duration_s < 10.0, "{}", l.duration_s);
    assert_no_orphans(&dir, Duration::from_secs(2));
}

#[test]
fn gauntlet_sigkilled_takes_envoy_with_it() {
    let _serial = serial();
    let dir = scratch("kill-gauntlet");
    let mut child = start_long_run(&dir, 1);
    let envoy = envoy_pid(&dir);
    child.kill().unwrap();
    let _ = child.wait();
    // The parent-death signal reaches Envoy at once.
    let deadline = Instant::now() + Duration::from_secs(2);
    while kill(envoy, None).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        kill(envoy, None).is_err(),
        "Envoy outlived a SIGKILLed Gauntlet"
    );
    assert_no_orphans(&dir, Duration::from_secs(2));
    // Windows written so far survive on disk.
    let windows = std::fs::read_to_string(dir.join("run/windows-envoy.jsonl")).unwrap();
    assert!(windows.lines().count() >= 1);
}

#[test]
fn sigterm_stops_gracefully_like_sigint() {
    let _serial = serial();
    let dir = scratch("sigterm");
    let child = start_long_run(&dir, 2);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    assert_eq!(result(&dir).status, RunStatus::Interrupted);
    assert_no_orphans(&dir, Duration::from_secs(2));
}

#[test]
fn second_sigint_aborts_at_once_without_orphans() {
    let _serial = serial();
    let dir = scratch("double-sigint");
    let child = start_long_run(&dir, 1);
    let pid = Pid::from_raw(child.id() as i32);
    kill(pid, Signal::SIGINT).unwrap();
    // Apart enough that the runtime sees two signals, not one coalesced delivery.
    std::thread::sleep(Duration::from_millis(200));
    kill(pid, Signal::SIGINT).unwrap();
    let stopped = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(stopped.elapsed() < Duration::from_secs(3));
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    assert_no_orphans(&dir, Duration::from_secs(2));
}

/// A stalled Envoy (SIGSTOP) never ACKs the timeline's push: the run fails after the bounded
/// wait with the documented exit code, and the stopped Envoy is still reaped.
#[test]
fn stalled_envoy_never_acks_and_is_reaped() {
    let _serial = serial();
    let dir = scratch("stalled");
    let scenario = scenario_file(
        &dir,
        r#"
name: stalled
baseline: false
upstreams:
  a: {}
  b: {}
routes:
  - { name: main, match: { prefix: / }, cluster: a }
load: { rate: 50/s, duration: 30s, warmup: 0, timeout: 2s }
timeline:
  - { at: 2s, name: move, route: main, set: { cluster: b } }
"#,
    );
    let mut child = spawn_run(&dir, &scenario);
    wait_for_envoy_windows(&dir, &mut child, 1);
    kill(envoy_pid(&dir), Signal::SIGSTOP).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let r = result(&dir);
    assert_eq!(r.status, RunStatus::Failed);
    let error = r.error.clone().unwrap_or_default();
    assert!(error.contains("did not apply"), "{error}");
    assert!(r.events[0].error.is_some(), "{:?}", r.events);
    assert_no_orphans(&dir, Duration::from_secs(5));
}
