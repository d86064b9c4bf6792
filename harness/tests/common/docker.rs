//! Shared by the tests that need a Docker engine: whether it answers (a test FAILS without
//! one unless `GAUNTLET_SKIP_DOCKER=1` is set on purpose, and then says loudly that it
//! skipped), Gauntlet's containers left in it, and Gauntlet's mock image.
//!
//! Included with `#[path = "common/docker.rs"] mod docker_support;` next to `mod common;`
//! by the test files that use it, so the other tests do not compile it.

#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gauntlet::envoy::docker::{self, MANAGED_LABEL, NAME_PREFIX};
use testcontainers::bollard::query_parameters::ListContainersOptionsBuilder;

use super::common::{describe, gauntlet};

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

/// Builds `gauntlet-mock` next to `gauntlet` (a no-op when it is up to date) and, from it,
/// `gauntlet/mock:<version>` through the CLI (a no-op when the engine has it with the same
/// files); once per test binary. Returns the image's tag.
pub fn mock_image() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let mock = Path::new(env!("CARGO_BIN_EXE_gauntlet")).with_file_name("gauntlet-mock");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build.args([
            "build",
            "--quiet",
            "-p",
            "gauntlet-mocks",
            "--bin",
            "gauntlet-mock",
        ]);
        if mock.parent().is_some_and(|d| d.ends_with("release")) {
            build.arg("--release");
        }
        let built = build.status().unwrap();
        assert!(
            built.success() && mock.is_file(),
            "building gauntlet-mock failed"
        );
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
