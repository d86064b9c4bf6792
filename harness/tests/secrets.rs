//! Secrets are used, never recorded (issue 5): secret request headers and service
//! environment values reach Envoy and the service, and every file Gauntlet writes and
//! everything it prints reads `<redacted>` in their place.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const SECRET: &str = "Bearer gauntlet-test-s3cr3t-0123456789";
const COOKIE: &str = "sid=gauntlet-cookie-9876543210";

/// The load sends the secret headers; the only route matches them exactly, so every 200
/// proves Envoy received the real values (anything else would be a 404: no route).
fn secret_scenario() -> String {
    format!(
        r#"
name: secrets
baseline: false
envoy: {{ log_level: debug }}     # Envoy prints request headers at debug level
upstreams:
  backend: {{}}
routes:
  - match: {{ prefix: /, headers: {{ authorization: "{SECRET}" }} }}
    cluster: backend
load:
  rate: 20/s
  duration: 1s
  warmup: 0
  request: {{ headers: {{ Authorization: "{SECRET}", Cookie: "{COOKIE}", x-request-tag: visible-value }} }}
"#
    )
}

#[test]
fn secret_headers_are_sent_but_redacted_everywhere_they_are_written() {
    let _serial = serial();
    let dir = scratch("secrets");
    let scenario = scenario_file(&dir, &secret_scenario());
    let out = run(&dir, &scenario);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let r = result(&dir);
    let load = &step(&r, "envoy").load;
    assert!(load.responses >= 10, "{load:?}");
    assert_eq!(
        load.statuses.get("200").copied().unwrap_or(0),
        load.responses,
        "the route only matches the real header: {:?}",
        load.statuses
    );
    let request = &r.scenario["load"]["request"]["headers"];
    let text = request.to_string();
    assert!(text.contains("<redacted>"), "{text}");
    assert!(
        text.contains("visible-value"),
        "non-secret headers stay: {text}"
    );
    // Every file of the run directory, the rendered reports and the terminal output.
    let run_dir = dir.join("run");
    let mut checked = Vec::new();
    for path in files_under(&run_dir) {
        let bytes = std::fs::read(&path).unwrap();
        assert_no_secret(&String::from_utf8_lossy(&bytes), &path);
        checked.push(path.file_name().unwrap().to_string_lossy().to_string());
    }
    for name in ["result.json", "report.html", "summary.md", "envoy.log"] {
        assert!(
            checked.iter().any(|c| c == name),
            "{name} missing: {checked:?}"
        );
    }
    // Envoy logged the request headers and the log was scrubbed, not merely quiet.
    let log = std::fs::read_to_string(run_dir.join("envoy.log")).unwrap();
    assert!(
        log.contains("<redacted>"),
        "envoy.log never printed the header"
    );
    assert_no_secret(&String::from_utf8_lossy(&out.stdout), Path::new("stdout"));
    assert_no_secret(&String::from_utf8_lossy(&out.stderr), Path::new("stderr"));
    for format in ["html", "markdown", "json", "terminal"] {
        let rendered = gauntlet()
            .args(["report", "--format", format])
            .arg(&run_dir)
            .output()
            .unwrap();
        assert!(rendered.status.success(), "{}", describe(&rendered));
        assert_no_secret(
            &String::from_utf8_lossy(&rendered.stdout),
            Path::new(format),
        );
    }
}

/// Every file under `dir`, subdirectories included.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn assert_no_secret(text: &str, what: &Path) {
    for secret in [SECRET, "gauntlet-test-s3cr3t", COOKIE, "gauntlet-cookie"] {
        assert!(
            !text.contains(secret),
            "{} contains the secret `{secret}`",
            what.display()
        );
    }
}

/// A service's secret-looking environment value reaches the service but nothing written:
/// the service prints it and exits, and the log, the error quoting the log, `result.json`
/// and the reports all read `<redacted>` where it was.
#[test]
fn service_secret_env_is_passed_but_redacted() {
    let dir = scratch("service-env");
    let token = "tok-gauntlet-7f3a9c2e51";
    let scenario = scenario_file(
        &dir,
        &format!(
            r#"
name: env
phase: single-service
baseline: false
service:
  command: ["/bin/sh", "-c", "echo token=$API_TOKEN level=$LOG_LEVEL"]
  env: {{ API_TOKEN: "{token}", LOG_LEVEL: debug }}
upstreams:
  backend: {{}}
load: {{ rate: 10/s, duration: 1s, warmup: 0 }}
"#
        ),
    );
    let out = run(&dir, &scenario);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let log = std::fs::read_to_string(dir.join("run/service-service.log")).unwrap();
    // The value was there (the service printed something) and was scrubbed.
    assert_eq!(log.trim(), "token=<redacted> level=debug");
    let r = result(&dir);
    assert_eq!(r.scenario["service"]["env"]["API_TOKEN"], "<redacted>");
    assert_eq!(r.scenario["service"]["env"]["LOG_LEVEL"], "debug");
    assert!(r.error.unwrap_or_default().contains("token=<redacted>"));
    for path in files_under(&dir.join("run")) {
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).to_string();
        assert!(!text.contains(token), "{} holds the token", path.display());
    }
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!shown.contains(token), "printed: {shown}");
}
