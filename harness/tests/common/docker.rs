//! Shared by the tests that need a Docker engine: whether it answers (a test FAILS without
//! one unless `GAUNTLET_SKIP_DOCKER=1` is set on purpose, and then says loudly that it
//! skipped), Gauntlet's containers left in it, and Gauntlet's mock image.
//!
//! Included with `#[path = "common/docker.rs"] mod docker_support;` next to `mod common;`
//! by the test files that use it, so the other tests do not compile it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gauntlet::envoy::docker::{self, MANAGED_LABEL, NAME_PREFIX};
use gauntlet_reports::RunStatus;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use testcontainers::bollard::query_parameters::{
    KillContainerOptionsBuilder, ListContainersOptionsBuilder,
};

use super::common::{
    describe, gauntlet, mock_binary, result, scenario_file, spawn_run, wait_for_envoy_windows,
};

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Whether the container tests run: an engine answers, or the skip is asked for (loudly).
pub fn engine() -> bool {
    match block_on(docker::connect()) {
        Ok(_) => true,
        Err(e) if std::env::var("GAUNTLET_SKIP_DOCKER").as_deref() == Ok("1") => {
            // Straight to the stream: the test harness captures `eprintln!` of passing tests.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!! GAUNTLET_SKIP_DOCKER=1: SKIPPING a container test ({e}) !!!!!\n"
            );
            false
        }
        Err(e) => panic!(
            "the container tests need a Docker engine: {e}\n(set GAUNTLET_SKIP_DOCKER=1 to skip them on purpose)"
        ),
    }
}

/// Gauntlet's containers in the engine (label or name prefix), running or not.
pub fn gauntlet_containers() -> Vec<String> {
    block_on(async {
        let docker = docker::connect().await.unwrap();
        let options = ListContainersOptionsBuilder::new().all(true).build();
        let list = docker.list_containers(Some(options)).await.unwrap();
        list.into_iter()
            .filter(|c| {
                let labelled = c
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.contains_key(MANAGED_LABEL));
                let named = c
                    .names
                    .iter()
                    .flatten()
                    .any(|n| n.trim_start_matches('/').starts_with(NAME_PREFIX));
                labelled || named
            })
            .map(|c| format!("{:?} {:?}", c.names, c.state))
            .collect()
    })
}

/// SIGKILLs, through the engine, the one container that carries `label` (`key` or
/// `key=value`), as an OOM kill would; fails unless exactly one does.
pub fn kill_container_labelled(label: &str) {
    block_on(async {
        let d = docker::connect().await.unwrap();
        let filters = HashMap::from([("label", vec![label])]);
        let options = ListContainersOptionsBuilder::new()
            .filters(&filters)
            .build();
        let list = d.list_containers(Some(options)).await.unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        let signal = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
        d.kill_container(list[0].id.as_deref().unwrap(), Some(signal))
            .await
            .unwrap();
    });
}

/// A background run, started once its Envoy step has streamed a window, that is always
/// ended: SIGINT (the orderly stop that removes its containers), then SIGKILL if it hangs,
/// so a failing test leaves nothing running.
pub struct Background(Option<Child>);

impl Background {
    pub fn start(dir: &Path, yaml: &str) -> Self {
        // In the guard first, so a run that never gets there is ended too.
        let mut guard = Self(Some(spawn_run(dir, &scenario_file(dir, yaml))));
        wait_for_envoy_windows(dir, guard.0.as_mut().unwrap(), 1);
        guard
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.0.as_ref().unwrap().id() as i32)
    }

    /// SIGINT, as Ctrl-C would.
    pub fn interrupt(&self) {
        kill(self.pid(), Signal::SIGINT).unwrap();
    }

    pub fn wait(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }

    /// SIGINT, then checks the orderly stop: exit code 130, an `interrupted` result in
    /// `dir`, and no container left.
    pub fn interrupt_and_check(self, dir: &Path) {
        self.interrupt();
        let out = self.wait();
        assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
        assert_eq!(result(dir).status, RunStatus::Interrupted);
        assert_no_containers();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let Some(mut child) = self.0.take() else {
            return;
        };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Fails unless no Gauntlet container is left (waiting a little for a removal under way).
pub fn assert_no_containers() {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = gauntlet_containers();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "containers left behind: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The Envoy image the container tests run.
pub const ENVOY_IMAGE: &str = "gauntlet/envoy:1.40.0";

/// Builds [`ENVOY_IMAGE`] once per test binary through the CLI (a no-op when the engine
/// already has it with the same files).
pub fn envoy_image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let started = Instant::now();
        let text = build_envoy_image();
        assert!(text.contains(ENVOY_IMAGE), "{text}");
        eprintln!("image: {} ({:?})", text.trim(), started.elapsed());
    });
    ENVOY_IMAGE
}

/// `gauntlet envoy image 1.40.0`, failing unless it succeeds; returns what it printed.
pub fn build_envoy_image() -> String {
    let out = gauntlet()
        .args(["envoy", "image", "1.40.0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds `gauntlet-mock` next to `gauntlet` (a no-op when it is up to date) and, from it,
/// `gauntlet/mock:<version>` through the CLI (a no-op when the engine has it with the same
/// files); once per test binary. Returns the image's tag.
pub fn mock_image() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let mock = mock_binary();
        let out = gauntlet()
            .args(["envoy", "mock-image", "--binary"])
            .arg(&mock)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        let tag = gauntlet::envoy::image::mock_tag();
        assert!(String::from_utf8_lossy(&out.stdout).contains(&tag));
        tag
    })
}
