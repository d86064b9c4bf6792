//! Security and reliability defaults of the harness itself (issue 5): every listener is on
//! loopback, commands are argv and never a shell line, limits are raised by flag only,
//! output that cannot be written (or a full disk) is a clear error, a taken port is a clear
//! run error, and a SIGKILLed Gauntlet takes its service and Envoys with it. Secrets are
//! `secrets.rs`'s.

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

/// Every socket Gauntlet and its Envoy listen on (mocks, xDS, Envoy's listener and admin) is
/// bound to 127.0.0.1, as the bootstrap, Envoy's admin and the kernel all say.
#[test]
fn every_listener_binds_loopback() {
    let _serial = serial();
    let dir = scratch("loopback");
    let scenario = scenario_file(
        &dir,
        "name: loopback\nbaseline: false\nupstreams:\n  backend: { endpoints: 2 }\nload: { rate: 20/s, duration: 3s, warmup: 0 }\n",
    );
    let mut child = spawn_run(&dir, &scenario);
    wait_for_envoy_windows(&dir, &mut child, 1);
    let run_dir = dir.join("run");
    let envoy = processes_mentioning(&run_dir.join("bootstrap.pb").display().to_string());
    assert_eq!(envoy.len(), 1, "one Envoy: {envoy:?}");

    let own = listening(child.id());
    let envoys = listening(envoy[0]);
    // Two mock endpoints and the xDS server; Envoy's listener and its admin.
    assert!(own.len() >= 3, "Gauntlet listens on {own:?}");
    assert!(envoys.len() >= 2, "Envoy listens on {envoys:?}");
    for (addr, port) in own.iter().chain(&envoys) {
        assert!(addr.is_loopback(), "a listener on {addr}:{port}");
    }

    let bootstrap = std::fs::read_to_string(run_dir.join("bootstrap.txt")).unwrap();
    let addresses = quoted_after(&bootstrap, "address: \"");
    assert!(addresses.len() >= 2, "admin and xDS: {bootstrap}");
    for a in &addresses {
        assert_eq!(a, "127.0.0.1", "bootstrap.txt names {a}");
    }

    let admin = std::fs::read_to_string(run_dir.join("admin-address")).unwrap();
    let listeners = http_get(admin.trim(), "/listeners?format=json");
    let listener_addresses = quoted_after(&listeners, "\"address\": \"");
    assert!(!listener_addresses.is_empty(), "{listeners}");
    for a in &listener_addresses {
        assert_eq!(a, "127.0.0.1", "Envoy's /listeners: {listeners}");
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

/// The `(address, port)` of every TCP socket in LISTEN state that `pid` holds, from
/// `/proc/<pid>/fd` and `/proc/net/tcp{,6}`. An IPv6 listener reads as unspecified (never
/// loopback for this check: Gauntlet has no reason to listen on IPv6).
fn listening(pid: u32) -> Vec<(Ipv4Addr, u16)> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().to_string();
            l.strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_string)
        })
        .collect();
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if cols.len() < 10 || cols[3] != "0A" || !inodes.contains(cols[9]) {
                continue;
            }
            let (ip, port) = cols[1].split_once(':').unwrap();
            let port = u16::from_str_radix(port, 16).unwrap();
            let ip = if table.ends_with('6') {
                Ipv4Addr::UNSPECIFIED
            } else {
                // The kernel prints the address in host (little-endian) byte order.
                Ipv4Addr::from(u32::from_str_radix(ip, 16).unwrap().swap_bytes())
            };
            found.push((ip, port));
        }
    }
    found
}

/// Every string between `prefix` and the next `"`.
fn quoted_after(text: &str, prefix: &str) -> Vec<String> {
    text.split(prefix)
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_string))
        .collect()
}

/// A plain HTTP/1.1 GET on loopback (Envoy's admin refuses HTTP/1.0), returning the body.
fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(text)
}

/// `gauntlet validate` (and `run`, which validates first) refuse a scenario over a limit,
/// name the limit and the flag; `--limit` raises it; a bad flag is bad input.
#[test]
fn limits_are_enforced_and_raised_by_flag() {
    let dir = scratch("limits");
    let scenario = scenario_file(
        &dir,
        "name: big\nupstreams:\n  backend: {}\nload: { rate: 2M/s, connections: 20000, duration: 30h }\n",
    );
    let validate = |flags: &[&str]| -> Output {
        let mut cmd = gauntlet();
        cmd.arg("validate").arg(&scenario);
        for f in flags {
            cmd.args(["--limit", f]);
        }
        cmd.output().unwrap()
    };
    let out = validate(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    for what in ["load.rate", "load.connections", "load.duration"] {
        assert!(err.contains(what), "{what} not named: {err}");
    }
    let out = validate(&["max_rate=3M/s", "max_connections=20000"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("load.duration") && !err.contains("load.rate"),
        "{err}"
    );
    let out = validate(&["max_rate=3M/s", "max_connections=20000", "max_duration=48h"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    // `run` takes the same flags; a bad one stops it before anything starts.
    for (flag, expected) in [
        ("max_rps=10", "unknown limit `max_rps`"),
        ("max_rate=lots", "`lots` is not a rate"),
        ("max_duration", "expected NAME=VALUE"),
    ] {
        let out = gauntlet()
            .arg("run")
            .arg(&scenario)
            .args(["--limit", flag, "--out"])
            .arg(dir.join("run"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected) && err.contains("hint:"), "{err}");
        assert!(!dir.join("run").exists());
    }
    // Lowered limits bite too: a limit is a ceiling the caller sets, not only a safety net.
    let small = scenario_file(
        &dir,
        "name: small\nupstreams:\n  backend: {}\nload: { rate: 100/s, duration: 10s }\n",
    );
    let out = gauntlet()
        .arg("validate")
        .arg(&small)
        .args(["--limit", "max_rate=50"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

const SMALL_RUN: &str = "name: x\nbaseline: false\nupstreams:\n  backend: {}\nload: { rate: 10/s, duration: 1s, warmup: 0 }\n";

/// A `--junit` file on a full device fails at once, before Envoy or load, as bad input.
#[test]
fn junit_on_a_full_device_fails_before_the_load() {
    let dir = scratch("junit-full");
    let scenario = scenario_file(&dir, SMALL_RUN);
    let out = gauntlet()
        .arg("run")
        .arg(&scenario)
        .args(["--junit", "/dev/full", "--out"])
        .arg(dir.join("run"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--junit /dev/full") && err.contains("No space left"),
        "{err}"
    );
    assert!(!dir.join("run").exists(), "nothing ran");
    let out = gauntlet()
        .arg("run")
        .arg(&scenario)
        .args(["--junit"])
        .arg(dir.join("no-such-dir/junit.xml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

/// A tiny tmpfs, unmounted on drop. `None` (with the reason) where mounting is not allowed.
struct TinyFs(PathBuf);

impl TinyFs {
    fn mount(at: &Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Self(at.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// Writes until the device says it is full.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Disk full: before the run, `--out` fails at once as bad input; during the run, the run
/// ends as a run error naming the file it could not write, and leaves nothing running.
#[test]
fn a_full_disk_is_a_clear_error() {
    let _serial = serial();
    let dir = scratch("disk-full");
    let scenario = scenario_file(&dir, SMALL_RUN.replace("1s", "3s").as_str());
    let fs = match TinyFs::mount(&dir.join("mnt"), "256k") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED a_full_disk_is_a_clear_error: cannot mount a tmpfs ({why}); /dev/full is checked by junit_on_a_full_device_fails_before_the_load");
            return;
        }
    };
    // Full before the run: the run directory's probe write fails.
    fs.fill();
    let out = gauntlet()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(fs.0.join("run"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("No space left") && err.contains("--out"),
        "{err}"
    );

    // Full during the run: free the space, start, fill once the load is under way.
    std::fs::remove_file(fs.0.join("filler")).unwrap();
    let _ = std::fs::remove_dir_all(fs.0.join("run"));
    let mut child = gauntlet()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(fs.0.join("run"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let windows = fs.0.join("run/windows-envoy.jsonl");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&windows).map_or(0, |t| t.lines().count()) < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the envoy step never started"
        );
        assert!(child.try_wait().unwrap().is_none(), "gauntlet exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    fs.fill();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("result.json") && err.contains("No space left"),
        "{err}"
    );
    assert!(
        processes_mentioning(&fs.0.display().to_string()).is_empty(),
        "Envoy outlived the run"
    );
}

/// Envoy cannot bind its listener (`envoy.listen_port` is taken): a run error (exit 3) with
/// Envoy's own reason, in the result and in the printed report, and no Envoy left running.
#[test]
fn a_taken_listen_port_is_a_clear_run_error() {
    let _serial = serial();
    let dir = scratch("port-taken");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let scenario = scenario_file(
        &dir,
        &format!(
            "name: port-taken\nbaseline: false\nenvoy: {{ listen_port: {port} }}\nupstreams:\n  backend: {{}}\nload: {{ rate: 10/s, duration: 1s, warmup: 0 }}\n"
        ),
    );
    let out = run(&dir, &scenario);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let error = result(&dir).error.unwrap_or_default();
    assert!(
        error.contains(&port.to_string()) && error.contains("in use"),
        "{error}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("in use"),
        "the report says why: {}",
        describe(&out)
    );
    assert!(processes_mentioning(dir.to_str().unwrap()).is_empty());
    drop(taken);
}

/// A service's command is an argv vector, never a shell line: shell syntax in it reaches
/// the program as literal text and runs nothing.
#[test]
fn service_commands_are_argv_not_a_shell_line() {
    let dir = scratch("service-argv");
    let scenario = scenario_file(
        &dir,
        r#"
name: argv
phase: single-service
baseline: false
service:
  command: ["/bin/echo", "; touch pwned1", "$(touch pwned2)", "`touch pwned3`", "&& touch pwned4"]
upstreams:
  backend: {}
load: { rate: 10/s, duration: 1s, warmup: 0 }
"#,
    );
    let out = run(&dir, &scenario);
    // echo exits at once, before it could become healthy: a run error naming its output.
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let log = std::fs::read_to_string(dir.join("run/service-service.log")).unwrap();
    assert_eq!(
        log.trim(),
        "; touch pwned1 $(touch pwned2) `touch pwned3` && touch pwned4"
    );
    for n in 1..=4 {
        assert!(
            !dir.join(format!("pwned{n}")).exists(),
            "a shell ran pwned{n}"
        );
        assert!(
            !dir.join(format!("run/pwned{n}")).exists(),
            "a shell ran pwned{n}"
        );
    }
}

/// Gauntlet SIGKILLed mid-run in the single-service phase: its service and both Envoys
/// (ingress and egress) die with it (the parent-death signal), nothing is left running.
#[test]
fn a_sigkilled_gauntlet_takes_its_service_and_envoys_with_it() {
    let _serial = serial();
    let dir = scratch("kill-with-service");
    let scenario = scenario_file(
        &dir,
        r#"
name: svc-kill
phase: single-service
baseline: false
service: { command: [python3, -m, http.server, "${PORT}", --bind, 127.0.0.1], health: / }
upstreams:
  dep: {}
load: { rate: 20/s, duration: 60s, warmup: 0 }
"#,
    );
    let mut child = spawn_run(&dir, &scenario);
    wait_for_envoy_windows(&dir, &mut child, 1);
    let children = children_of(child.id());
    let names: Vec<String> = children.iter().map(|(_, n)| n.clone()).collect();
    assert!(
        names.iter().filter(|n| n.as_str() == "envoy").count() == 2
            && names.iter().any(|n| n.starts_with("python")),
        "two Envoys and the service: {names:?}"
    );
    child.kill().unwrap();
    let _ = child.wait();
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let alive = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    while children.iter().any(|(p, _)| alive(*p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<_> = children.iter().filter(|(p, _)| alive(*p)).collect();
    assert!(left.is_empty(), "outlived a SIGKILLed Gauntlet: {left:?}");
}

/// The direct children of `pid`: their pids and command names.
fn children_of(pid: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (head, rest) = stat.rsplit_once(')').unwrap_or_default();
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|x| x.parse::<u32>().ok());
        if ppid == Some(pid) {
            let name = head
                .split_once('(')
                .map(|(_, n)| n.to_string())
                .unwrap_or_default();
            found.push((p, name));
        }
    }
    found
}
