//! What the load tests (`load.rs`, `load_failures.rs`) share: a plan against one target,
//! a bounded run that also collects the windows streamed live, and the check that the
//! measured windows add up to the totals. Included with
//! `#[path = "load/plan.rs"] mod plan;` next to the servers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use gauntlet::load::{self, LoadOutcome, LoadPlan, Mode, Protocol, RequestTemplate, WindowReport};
use tokio_util::sync::CancellationToken;

/// Taken by every test that measures time: two load runs sharing two cores would measure
/// each other.
pub static SERIAL: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

pub fn plan(target: SocketAddr, mode: Mode, connections: u32, duration_ms: u64) -> LoadPlan {
    LoadPlan {
        targets: vec![target],
        protocol: Protocol::Http1,
        mode,
        connections,
        duration: Duration::from_millis(duration_ms),
        warmup: Duration::ZERO,
        request: RequestTemplate {
            method: "GET".into(),
            path: "/".into(),
            authority: "test.local".into(),
            headers: vec![("x-gauntlet".into(), "1".into())],
            body: Bytes::new(),
        },
        timeout: Duration::from_secs(2),
        workers: 2,
        start_at: None,
        streams: None,
        grpc_deadline: None,
    }
}

pub async fn run(plan: LoadPlan) -> (LoadOutcome, Vec<WindowReport>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let bound = plan.warmup + plan.duration + plan.timeout + Duration::from_secs(5);
    let outcome = tokio::time::timeout(bound, load::run(plan, CancellationToken::new(), Some(tx)))
        .await
        .expect("the run ends within its duration and timeout")
        .expect("a valid plan");
    let mut live = vec![];
    while let Ok(w) = rx.try_recv() {
        live.push(w);
    }
    (outcome, live)
}

pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The measured windows add up to the totals.
pub fn assert_windows_sum_to_totals(o: &LoadOutcome) {
    let measured: Vec<_> = o.windows.iter().filter(|w| !w.warmup).collect();
    assert_eq!(
        measured.iter().map(|w| w.sent).sum::<u64>(),
        o.requests_sent
    );
    assert_eq!(
        measured.iter().map(|w| w.responses.total()).sum::<u64>(),
        o.responses.total()
    );
    assert_eq!(
        measured.iter().map(|w| w.failures.total()).sum::<u64>(),
        o.failures.total()
    );
    assert_eq!(
        measured.iter().map(|w| w.latency.len()).sum::<u64>(),
        o.corrected.len()
    );
}
