//! Runs that go wrong: a NACK, an interrupt, bad input. Each must end with the documented
//! exit code, write what it measured, and leave no Envoy behind.

mod common;

use std::time::{Duration, Instant};

use common::*;
use gauntlet_reports::RunStatus;

/// Issue 2: Envoy rejects a resource; the run fails quoting Envoy and reaps it.
#[test]
fn nack_is_surfaced_with_envoys_message() {
    let _serial = serial();
    let dir = scratch("nack");
    // Hold the port the scenario asks Envoy's listener to bind: Envoy rejects the listener
    // (LDS NACK) with its own "cannot bind" message.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let scenario = scenario_file(
        &dir,
        &format!(
            r#"
name: nack
envoy: {{ listen_port: {port} }}
upstreams:
  backend: {{}}
load: {{ rate: 50/s, duration: 2s }}
"#
        ),
    );
    let out = run(&dir, &scenario);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("rejected listener"), "{all}");
    assert!(
        all.contains("cannot bind"),
        "Envoy's own message is quoted: {all}"
    );
    let r = result(&dir);
    assert_eq!(r.status, RunStatus::Failed);
    assert!(r.error.as_deref().unwrap_or("").contains("cannot bind"));
    assert!(
        r.xds.iter().any(|p| p.error.is_some()),
        "the NACK is in the push log"
    );
    assert!(
        processes_mentioning(dir.to_str().unwrap()).is_empty(),
        "Envoy left running"
    );
    drop(held);
}

/// Issue 2: SIGINT mid-run writes a partial result, exits non-zero, leaves no Envoy.
#[test]
fn sigint_writes_partial_result_and_reaps_envoy() {
    let _serial = serial();
    let dir = scratch("sigint");
    let scenario = scenario_file(
        &dir,
        r#"
name: sigint
baseline: false
upstreams:
  backend: {}
load: { rate: 200/s, duration: 60s, warmup: 0 }
"#,
    );
    let mut child = spawn_run(&dir, &scenario);
    // Wait until the Envoy step has streamed two windows, then interrupt.
    wait_for_envoy_windows(&dir, &mut child, 2);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let stopped = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "graceful stop took too long"
    );
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    let r = result(&dir);
    assert_eq!(r.status, RunStatus::Interrupted);
    let l = &step(&r, "envoy").load;
    assert!(l.cut_short);
    assert!(l.responses >= 200, "partial figures kept: {}", l.responses);
    // A partial run renders like any other.
    let report = gauntlet()
        .args(["report", "--format", "html"])
        .arg(dir.join("run"))
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", describe(&report));
    assert!(String::from_utf8_lossy(&report.stdout).contains("nterrupted"));
    assert!(
        processes_mentioning(dir.to_str().unwrap()).is_empty(),
        "Envoy left running"
    );
}

/// Bad input: exit code 2, a message with file, line and field, nothing started.
#[test]
fn invalid_scenario_is_rejected_before_anything_runs() {
    let dir = scratch("invalid");
    let scenario = scenario_file(
        &dir,
        "name: bad\nupstreams:\n  backend: {}\nroutes:\n  - match: { prefix: / }\n    cluster: bakend\nload: { rate: 10/s, duration: 1s }\n",
    );
    for sub in ["run", "validate"] {
        let out = gauntlet().arg(sub).arg(&scenario).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("scenario.yaml:6:"), "{err}");
        assert!(err.contains("routes[0].cluster"), "{err}");
        assert!(err.contains("bakend"), "{err}");
    }
    assert!(!dir.join("run").exists());
}

/// An unwritable --out fails before Envoy or any load starts.
#[test]
fn unwritable_out_fails_early() {
    let dir = scratch("unwritable");
    let scenario = scenario_file(
        &dir,
        "name: x\nupstreams:\n  backend: {}\nload: { rate: 10/s, duration: 1s }\n",
    );
    let out = gauntlet()
        .arg("run")
        .arg(&scenario)
        .args(["--out", "/proc/gauntlet-not-writable"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--out"));
}
