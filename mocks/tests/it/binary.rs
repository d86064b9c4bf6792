//! The `gauntlet-mock` binary as a user or script runs it: flags, the `listening on` line,
//! the control API, signals.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use gauntlet_mocks::{Behavior, Chaos, SlowBody, StatusMix, UpstreamCounts};
use http::Method;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::support::{eventually_async, raw_exchange, Client, RawEnd, RAW_GET};

const BIN: &str = env!("CARGO_BIN_EXE_gauntlet-mock");

/// A running mock; `kill_on_drop` ends it even when an assertion fails first.
pub(crate) struct Mock {
    pub child: Child,
    pub addr: SocketAddr,
}

/// Starts the binary on a free loopback port and reads its `listening on` line.
pub(crate) async fn spawn(args: &[&str]) -> Mock {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn gauntlet-mock");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(stdout).read_line(&mut first),
    )
    .await
    .expect("first line within 10s")
    .expect("read stdout");
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line is `listening on <addr>`, got {first:?}"))
        .parse()
        .expect("an address");
    Mock { child, addr }
}

/// Runs the binary to its end.
pub(crate) fn run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .output()
        .expect("run gauntlet-mock")
}

/// The counts the control API reports.
pub(crate) async fn stats(client: &mut Client) -> UpstreamCounts {
    let answer = client.get("/__gauntlet/stats").await;
    assert_eq!(answer.status, 200);
    serde_json::from_slice(&answer.body).expect("stats JSON")
}

#[tokio::test]
async fn control_api_reads_stats_and_swaps_behavior() {
    let mock = spawn(&["--name", "edge", "--status", "200:100%", "--body", "1KiB"]).await;
    let mut client = Client::h1(mock.addr).await;

    let answer = client.get("/anything").await;
    assert_eq!((answer.status, answer.body.len()), (200, 1024));
    assert_eq!(answer.upstream, "edge");
    let counts = stats(&mut client).await;
    assert_eq!(counts.name, "edge");
    assert_eq!(counts.requests, 1, "control requests are not counted");
    assert_eq!(counts.by_status, [(200, 1)].into());
    assert_eq!(counts.endpoints[0].bytes, 1024);

    let next = Behavior {
        statuses: StatusMix::always(503),
        body_bytes: 2,
        ..Behavior::default()
    };
    let body = Bytes::from(serde_json::to_vec(&next).expect("json"));
    let swapped = client.send(Method::PUT, "/__gauntlet/behavior", body).await;
    assert_eq!(swapped.status, 200, "{:?}", swapped.body);
    let answer = client.get("/").await;
    assert_eq!((answer.status, answer.body.len()), (503, 2));
    let current = client.get("/__gauntlet/behavior").await;
    let current: Behavior = serde_json::from_slice(&current.body).expect("behavior JSON");
    assert_eq!(current, next);

    let bad_json = client
        .send(
            Method::PUT,
            "/__gauntlet/behavior",
            Bytes::from_static(b"{nope"),
        )
        .await;
    assert_eq!(bad_json.status, 400);
    assert!(String::from_utf8_lossy(&bad_json.body).contains("not a behavior"));
    let bad_mix = br#"{"latency":"zero","statuses":[[200,0.5]],"body_bytes":0}"#;
    let refused = client
        .send(
            Method::PUT,
            "/__gauntlet/behavior",
            Bytes::from_static(bad_mix),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(String::from_utf8_lossy(&refused.body).contains("sum to"));
    assert_eq!(
        client.get("/").await.status,
        503,
        "refused swaps change nothing"
    );

    let counts = stats(&mut client).await;
    assert_eq!(counts.requests, 3);
    assert_eq!(counts.by_status, [(200, 1), (503, 2)].into());
    let reset = client
        .send(Method::DELETE, "/__gauntlet/stats", Bytes::new())
        .await;
    assert_eq!(reset.status, 200);
    assert_eq!(stats(&mut client).await.requests, 0);
    assert_eq!(client.get("/__gauntlet/nope").await.status, 404);
}

#[tokio::test]
async fn serves_h2c_and_the_latency_flag() {
    let mock = spawn(&["--latency", "20ms..30ms"]).await;
    let mut client = Client::h2(mock.addr).await;
    let started = tokio::time::Instant::now();
    let answer = client.get("/").await;
    assert_eq!(
        (answer.status, answer.version),
        (200, http::Version::HTTP_2)
    );
    assert!(started.elapsed() >= Duration::from_millis(20));
}

#[tokio::test]
async fn stops_cleanly_on_sigterm() {
    let mut mock = spawn(&[]).await;
    let mut client = Client::h1(mock.addr).await;
    assert_eq!(client.get("/").await.status, 200);
    let pid = mock.child.id().expect("running").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(5), mock.child.wait())
        .await
        .expect("exits within 5s")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}

#[test]
fn bad_flags_exit_2_with_a_message() {
    let cases: &[(&[&str], &str)] = &[
        (&["--status", "200:90%"], "not 100%"),
        (&["--status", "200:90%,503"], "needs a share"),
        (&["--latency", "5"], "not a duration"),
        (
            &["--latency", "p99=5ms,p50=6ms"],
            "percentiles must increase",
        ),
        (&["--body", "lots"], "not a size"),
        (&["--name", "two words"], "visible ASCII"),
        (&["--listen", "0.0.0.0:0"], "--allow-external"),
        (&["--frobnicate"], "unexpected argument"),
        (&["--hang", "5"], "not a percentage"),
        (&["--close", "101%"], "outside 0%..100%"),
        (
            &["--hang", "60%", "--reset", "50%"],
            "add up to more than 1",
        ),
        (&["--slow-body", "100B"], "no `/`"),
        (&["--slow-body", "0B/5ms"], "at least 1 byte"),
    ];
    for (args, message) in cases {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[tokio::test]
async fn chaos_from_flags_and_from_the_control_api() {
    let mock = spawn(&["--reset", "100%", "--body", "10"]).await;
    let (bytes, end) = raw_exchange(mock.addr, RAW_GET, Duration::from_secs(5)).await;
    assert!(
        matches!(end, RawEnd::Reset) && bytes.is_empty(),
        "{end:?} {bytes:?}"
    );

    // Control requests are not traffic, so chaos never touches them.
    let mut client = Client::h1(mock.addr).await;
    let current = client.get("/__gauntlet/behavior").await;
    let current: Behavior = serde_json::from_slice(&current.body).expect("behavior JSON");
    assert_eq!(current.chaos.reset, 1.0);

    let next = Behavior {
        body_bytes: 10,
        chaos: Chaos {
            close: 1.0,
            slow_body: Some(SlowBody {
                chunk_bytes: 5,
                interval: Duration::from_millis(20),
            }),
            ..Chaos::default()
        },
        ..Behavior::default()
    };
    let body = Bytes::from(serde_json::to_vec(&next).expect("json"));
    let swapped = client.send(Method::PUT, "/__gauntlet/behavior", body).await;
    assert_eq!(swapped.status, 200, "{:?}", swapped.body);
    let started = Instant::now();
    let (bytes, end) = raw_exchange(mock.addr, RAW_GET, Duration::from_secs(5)).await;
    assert!(matches!(end, RawEnd::Eof), "{end:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(40),
        "two chunks, 20ms before each"
    );
    let text = String::from_utf8(bytes).expect("ascii");
    assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
    assert!(text.ends_with("xxxxxxxxxx"), "{text}");

    // JSON as a person writes it: only the chaos that matters.
    let hang = br#"{"latency":"zero","statuses":[[200,1.0]],"body_bytes":0,"chaos":{"hang":1.0}}"#;
    let swapped = client
        .send(
            Method::PUT,
            "/__gauntlet/behavior",
            Bytes::from_static(hang),
        )
        .await;
    assert_eq!(swapped.status, 200, "{:?}", swapped.body);
    let (bytes, end) = raw_exchange(mock.addr, RAW_GET, Duration::from_millis(300)).await;
    assert!(
        matches!(end, RawEnd::TimedOut) && bytes.is_empty(),
        "{end:?} {bytes:?}"
    );
    let typo = br#"{"latency":"zero","statuses":[[200,1.0]],"body_bytes":0,"chaos":{"hnag":1.0}}"#;
    let refused = client
        .send(
            Method::PUT,
            "/__gauntlet/behavior",
            Bytes::from_static(typo),
        )
        .await;
    assert_eq!(refused.status, 400, "unknown chaos fields are refused");

    let counted = eventually_async(Duration::from_secs(5), || async {
        let mut client = Client::h1(mock.addr).await;
        let counts = stats(&mut client).await;
        (counts.reset, counts.closed, counts.hung) == (1, 1, 1)
    })
    .await;
    assert!(counted, "{:?}", stats(&mut client).await);
}
