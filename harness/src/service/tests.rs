use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use super::*;

fn launch(dir: &Path, argv: &[&str], timeout: Duration) -> ServiceLaunch {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    ServiceLaunch {
        name: "svc".into(),
        launch: Launch::Process {
            argv: argv
                .iter()
                .map(|a| a.replace("PORT", &port.to_string()))
                .collect(),
            cwd: dir.to_path_buf(),
        },
        env: BTreeMap::from([("GREETING".to_string(), "hello".to_string())]),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        health: "/".into(),
        startup_timeout: timeout,
        log_path: dir.join("service-svc.log"),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gauntlet-service-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn alive(pid: i32) -> bool {
    // A reaped process has no /proc entry; a zombie would still have one.
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn a_service_that_exits_at_once_reports_its_output() {
    let dir = scratch("exits");
    let cfg = launch(
        &dir,
        &["sh", "-c", "echo \"$GREETING, bad flag\" >&2; exit 3"],
        Duration::from_secs(5),
    );
    let err = start(&cfg).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ServiceError::ExitedEarly { .. }), "{text}");
    assert!(text.contains("exit code 3"), "{text}");
    assert!(text.contains("hello, bad flag"), "{text}");
}

#[tokio::test]
async fn a_service_that_never_gets_healthy_is_killed_and_reaped() {
    let dir = scratch("unhealthy");
    let cfg = launch(
        &dir,
        &["sh", "-c", "echo $$ > pid; echo starting; exec sleep 30"],
        Duration::from_millis(600),
    );
    let err = start(&cfg).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ServiceError::NotHealthy { .. }), "{text}");
    assert!(
        text.contains("starting") && text.contains("connecting"),
        "{text}"
    );
    let pid: i32 = fs::read_to_string(dir.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid), "service {pid} is still running");
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error() {
    let dir = scratch("missing");
    let cfg = launch(&dir, &["no-such-program-gauntlet"], Duration::from_secs(1));
    let err = start(&cfg).await.unwrap_err();
    assert!(matches!(err, ServiceError::Spawn { .. }), "{err}");
}

#[tokio::test]
async fn a_healthy_service_runs_until_stopped() {
    let dir = scratch("healthy");
    let cfg = launch(
        &dir,
        &[
            "python3",
            "-m",
            "http.server",
            "PORT",
            "--bind",
            "127.0.0.1",
        ],
        Duration::from_secs(10),
    );
    let service = start(&cfg).await.unwrap();
    let pid = service.pid() as i32;
    assert!(alive(pid));
    assert_eq!(probe(cfg.addr, "/", Duration::from_secs(1)).await, Ok(200));
    let exit = service.stop(Duration::from_secs(2)).await;
    assert!(exit.requested, "{exit}");
    assert!(!alive(pid));
}

#[test]
fn programs_resolve_beside_the_executable_then_path() {
    let cwd = Path::new("/srv/app");
    assert_eq!(resolve_program("./run.sh", cwd), cwd.join("./run.sh"));
    assert_eq!(
        resolve_program("/bin/true", cwd),
        PathBuf::from("/bin/true")
    );
    assert_eq!(
        resolve_program("no-such-tool-x", cwd),
        PathBuf::from("no-such-tool-x")
    );
}

#[test]
fn an_image_launch_expands_args_and_env_and_logs_beside_the_run() {
    use crate::scenario::{ServiceImage, ServiceRun, ServiceSpec};
    let spec = ServiceSpec {
        name: "checkout".into(),
        run: ServiceRun::Image(ServiceImage {
            image: "gauntlet/mock:0.1.0".into(),
            args: vec!["--listen".into(), "127.0.0.1:${PORT}".into()],
            cpus: Some(0.5),
            memory: None,
        }),
        env: BTreeMap::from([("DEPS".to_string(), "${DEP_URL}/x".to_string())]),
        cwd: PathBuf::from("."),
        port: None,
        health: "/healthz".into(),
        startup_timeout: Duration::from_secs(3),
    };
    let vars = BTreeMap::from([
        ("PORT".to_string(), "8080".to_string()),
        ("DEP_URL".to_string(), "http://127.0.0.1:9000".to_string()),
    ]);
    let addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let run_dir = Path::new("/tmp/run");
    let launch = ServiceLaunch::from_spec(&spec, "checkout", addr, &vars, run_dir).unwrap();
    let Launch::Container(image) = &launch.launch else {
        panic!("not a container: {launch:?}");
    };
    assert_eq!(image.args, ["--listen", "127.0.0.1:8080"]);
    assert_eq!(image.cpus, Some(0.5));
    assert_eq!(launch.env["DEPS"], "http://127.0.0.1:9000/x");
    assert_eq!(launch.env["PORT"], "8080");
    assert_eq!(launch.log_path, run_dir.join("service-checkout.log"));
}
