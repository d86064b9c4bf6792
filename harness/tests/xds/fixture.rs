//! The fixture of the tests against a real Envoy (`xds_envoy.rs`, `xds_policies.rs`,
//! `xds_policy_config.rs`): an ADS server, an Envoy pointed at it, small upstreams and a raw
//! HTTP client. Included with `#[path = "xds/fixture.rs"] mod fixture;`.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use gauntlet::xds::{
    bootstrap_bytes, bootstrap_text, run, BootstrapSpec, ClusterSpec, EnvoyConfig, ListenerSpec,
    RouteSpec, TargetSpec, XdsControl, XdsError,
};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub const NODE: &str = "envoy-test";
/// Generous: a cold Envoy on a busy 2-core CI box.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(20);

/// The Envoy binary under test: `GAUNTLET_TEST_ENVOY`, else the pip-installed 1.40.0.
pub fn envoy_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("GAUNTLET_TEST_ENVOY") {
            return PathBuf::from(bin);
        }
        // The project's own resolver, with the suite's shared cache: installs 1.40.0 once.
        // A thread of its own, because the caller may already be inside a runtime.
        std::thread::spawn(|| {
            let mut provisioner = gauntlet::envoy::Provisioner::from_env();
            provisioner.cache_dir = Some(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../target/gauntlet-test-cache"),
            );
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let request = gauntlet::envoy::Request::Version("1.40.0".into());
            rt.block_on(provisioner.which(&request, "1.40.0"))
                .unwrap_or_else(|e| panic!("cannot get Envoy 1.40.0 for the tests: {e}"))
                .path
        })
        .join()
        .unwrap()
    })
    .clone()
}

// === fixture ===

/// An ADS server, plus an Envoy once started. Dropping it kills Envoy and stops the server,
/// whether the test passed or not.
pub struct Fixture {
    pub control: XdsControl,
    xds_addr: SocketAddr,
    stop_xds: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), XdsError>>>,
    envoy: Option<Envoy>,
}

impl Fixture {
    pub async fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let xds_addr = listener.local_addr().unwrap();
        let control = XdsControl::new();
        let (stop_xds, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(run(listener, control.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            control,
            xds_addr,
            stop_xds: Some(stop_xds),
            server: Some(server),
            envoy: None,
        }
    }

    /// Stops the ADS server and waits for it to finish, with Envoy still connected.
    pub async fn stop_xds(&mut self) -> Result<(), XdsError> {
        if let Some(stop) = self.stop_xds.take() {
            let _ = stop.send(());
        }
        let server = self.server.take().expect("server running");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("server stops promptly with Envoy connected")
            .expect("server task did not panic")
    }

    /// Starts Envoy and waits until its admin address is known (not until it is ready:
    /// it only becomes ready once it has config).
    pub async fn start_envoy(&mut self, name: &str) {
        self.envoy = Some(Envoy::start(name, self.xds_addr).await);
    }

    pub fn envoy(&self) -> &Envoy {
        self.envoy.as_ref().expect("envoy started")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(stop) = self.stop_xds.take() {
            let _ = stop.send(());
        }
    }
}

pub struct Envoy {
    child: Child,
    admin: SocketAddr,
    dir: PathBuf,
}

impl Envoy {
    pub async fn start(name: &str, xds_addr: SocketAddr) -> Self {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gauntlet-xds-{}-{}-{name}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = BootstrapSpec::new(NODE, xds_addr);
        std::fs::write(dir.join("bootstrap.pb"), bootstrap_bytes(&spec).unwrap()).unwrap();
        std::fs::write(dir.join("bootstrap.txt"), bootstrap_text(&spec).unwrap()).unwrap();
        let log = std::fs::File::create(dir.join("envoy.log")).unwrap();
        let admin_path = dir.join("admin.txt");
        let child = Command::new(envoy_bin())
            .arg("-c")
            .arg(dir.join("bootstrap.pb"))
            .arg("--disable-hot-restart")
            .arg("--admin-address-path")
            .arg(&admin_path)
            .args(["--concurrency", "1", "-l", "warn", "--drain-time-s", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", envoy_bin().display()));
        let mut envoy = Self {
            child,
            admin: "127.0.0.1:0".parse().unwrap(),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        envoy.admin = loop {
            if let Ok(text) = std::fs::read_to_string(&admin_path) {
                if let Ok(addr) = text.trim().parse() {
                    break addr;
                }
            }
            if let Ok(Some(status)) = envoy.child.try_wait() {
                panic!("Envoy exited with {status}:\n{}", envoy.log());
            }
            assert!(
                Instant::now() < deadline,
                "no admin address:\n{}",
                envoy.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        envoy
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }

    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + APPLY_TIMEOUT;
        loop {
            if let Ok((200, _, body)) = get(self.admin, "/ready").await {
                if body.trim() == "LIVE" {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "Envoy never ready:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The value of one counter from `/stats`, if Envoy has it.
    pub async fn stat(&self, name: &str) -> Option<u64> {
        let (_, _, body) = get(self.admin, &format!("/stats?filter=^{name}$"))
            .await
            .ok()?;
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .and_then(|v| v.trim().parse().ok())
    }
}

impl Envoy {
    /// Every stat whose name contains `needle`, as `name: value` lines (for messages and
    /// for finding a stat's exact name).
    pub async fn stats_containing(&self, needle: &str) -> String {
        let (_, _, body) = get(self.admin, "/stats").await.unwrap_or_default();
        body.lines()
            .filter(|l| l.contains(needle))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Envoy's `/config_dump`, parsed.
    pub async fn config_dump(&self) -> serde_json::Value {
        let (status, _, body) = get(self.admin, "/config_dump").await.unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        // kill_on_drop also does this; doing it here first makes the intent explicit.
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            eprintln!("--- Envoy log ({}) ---\n{}", self.dir.display(), self.log());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// === upstreams and HTTP ===

/// An HTTP/1.1 server answering 200 with `x-upstream: <name>` until the test ends.
pub async fn upstream(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = service_fn(move |_req| async move {
                    Ok::<_, Infallible>(
                        hyper::Response::builder()
                            .header("x-upstream", name)
                            .body(Full::new(Bytes::from_static(b"ok")))
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// One `GET` on a fresh connection: status, `x-upstream` (if any), body.
pub async fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Option<String>, String)> {
    request(addr, path, &[]).await
}

/// One `GET` with extra request headers on a fresh connection: status, `x-upstream` (if
/// any), body.
pub async fn request(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, Option<String>, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{extra}Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await?;
    // Read until the response is complete rather than until EOF: after a local reply (a
    // 429 from the rate limiter) Envoy holds the connection for its delayed_close_timeout
    // (1 s) before closing, which would make every such request take a second.
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    while !complete(&raw) {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response: {text:?}")))?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    let body = match header("transfer-encoding") {
        Some(te) if te.eq_ignore_ascii_case("chunked") => dechunk(body),
        _ => body.to_owned(),
    };
    Ok((status, header("x-upstream"), body))
}

/// Whether `raw` holds a whole response: its head and the body its head announces.
fn complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let body = &raw[end + 4..];
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        return body.len() >= len;
    }
    match header("transfer-encoding") {
        Some(te) if te.eq_ignore_ascii_case("chunked") => {
            body == b"0\r\n\r\n" || body.ends_with(b"\r\n0\r\n\r\n")
        }
        // Neither: the body runs until the server closes.
        _ => false,
    }
}

/// Decodes a chunked body (Envoy's admin answers `Connection: close` requests chunked).
pub fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// Retries `GET /` through Envoy until it reaches `want`, and returns how long that took.
pub async fn reaches(listener: SocketAddr, want: &str) -> Duration {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(5);
    loop {
        let got = get(listener, "/").await;
        if matches!(&got, Ok((200, Some(u), _)) if u == want) {
            return start.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "never reached {want}; last: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A port nobody listens on now, for Envoy's listener.
pub fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// One listener routing everything to `target`, over `clusters`.
pub fn config(
    listener: SocketAddr,
    clusters: &[(&str, SocketAddr)],
    target: TargetSpec,
) -> EnvoyConfig {
    let mut l = ListenerSpec::new("ingress", listener);
    l.routes = vec![RouteSpec {
        target,
        ..RouteSpec::prefix("all", "/", "")
    }];
    EnvoyConfig {
        listeners: vec![l],
        clusters: clusters
            .iter()
            .map(|(name, addr)| ClusterSpec::new(*name, vec![*addr]))
            .collect(),
    }
}

pub fn to(cluster: &str) -> TargetSpec {
    TargetSpec::Cluster(cluster.to_owned())
}
