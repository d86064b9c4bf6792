//! The load generator against small in-test servers on 127.0.0.1: schedules, latency,
//! closed loops, HTTP/2 and cancellation. Failures, timeouts and odd responses are
//! `load_failures.rs`'s.
//!
//! Tests run one at a time (a shared lock): they measure time, and two load runs sharing two
//! cores would measure each other.

#[path = "load/plan.rs"]
mod plan;
#[path = "load/servers.rs"]
#[allow(dead_code)]
mod servers;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gauntlet::load::{self, Mode, Protocol};
use tokio_util::sync::CancellationToken;

use self::plan::{assert_windows_sum_to_totals, ms, plan, run, SERIAL};
use self::servers::{server, Behavior};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_on_schedule() {
    let _serial = SERIAL.lock().await;
    let srv = server(Behavior::default()).await;
    let mut p = plan(srv.addr, Mode::Open { rate: 200.0 }, 4, 2000);
    p.warmup = Duration::from_millis(500);
    let (o, live) = run(p).await;
    eprintln!(
        "open 200 rps: sent {} ok {} p50 {:.3} ms p99 {:.3} ms own-late p99 {} us cpu {:?}",
        o.requests_sent,
        o.responses.get(200),
        ms(o.corrected.value_at_quantile(0.5)),
        ms(o.corrected.value_at_quantile(0.99)),
        o.saturation.own_lateness_p99_us,
        o.saturation.cpu_per_worker
    );
    assert!(
        (392..=408).contains(&o.requests_sent),
        "sent {}",
        o.requests_sent
    );
    assert_eq!(o.responses.get(200), o.requests_sent);
    assert_eq!(o.failures.total(), 0);
    assert_eq!(o.unsent, 0);
    assert_eq!(
        srv.requests.load(Ordering::Relaxed),
        500,
        "warmup requests were sent too"
    );
    assert_eq!(o.windows.len(), 3);
    assert_eq!(o.windows.iter().filter(|w| w.warmup).count(), 1);
    assert_eq!(o.windows.iter().map(|w| w.sent).sum::<u64>(), 500);
    assert_windows_sum_to_totals(&o);
    assert_eq!(live.len(), o.windows.len(), "every window was streamed");
    // Whether the client is flagged depends on what else the machine runs; what must hold is
    // that nothing was left unsent and (almost) nothing queued behind a busy connection.
    assert_eq!(o.saturation.unsent_client, 0);
    assert!(o.saturation.connections_busy < 0.05, "{:?}", o.saturation);
    assert_eq!(o.saturation.send_ratio, Some(1.0));
    assert!(
        (o.achieved_rps - 200.0).abs() < 5.0,
        "rps {}",
        o.achieved_rps
    );
    assert_eq!(o.corrected.len(), o.uncorrected.len());
    assert_eq!(o.lateness.len(), o.requests_sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_counts_the_server_delay() {
    let _serial = SERIAL.lock().await;
    let srv = server(Behavior {
        delay: Duration::from_millis(20),
        ..Behavior::default()
    })
    .await;
    let (o, _) = run(plan(srv.addr, Mode::Open { rate: 100.0 }, 4, 2000)).await;
    let p50 = ms(o.corrected.value_at_quantile(0.5));
    eprintln!(
        "20 ms server: corrected p50 {p50:.3} ms, p99 {:.3} ms",
        ms(o.corrected.value_at_quantile(0.99))
    );
    assert!((20.0..=23.0).contains(&p50), "corrected p50 {p50} ms");
    assert_eq!(o.responses.get(200), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_corrected_latency_only() {
    let _serial = SERIAL.lock().await;
    let srv = server(Behavior {
        stall: Some((Duration::from_millis(1200), Duration::from_millis(500))),
        ..Behavior::default()
    })
    .await;
    let (o, _) = run(plan(srv.addr, Mode::Open { rate: 100.0 }, 2, 3000)).await;
    let corrected = ms(o.corrected.value_at_quantile(0.99));
    let uncorrected = ms(o.uncorrected.value_at_quantile(0.99));
    eprintln!(
        "stall: corrected p99 {corrected:.1} ms, uncorrected p99 {uncorrected:.1} ms max {:.1} ms, busy {:.3}",
        ms(o.uncorrected.max()),
        o.saturation.connections_busy
    );
    assert!(corrected >= 400.0, "corrected p99 {corrected} ms");
    assert!(uncorrected < 100.0, "uncorrected p99 {uncorrected} ms");
    assert!(
        ms(o.uncorrected.max()) >= 300.0,
        "the requests in flight did wait"
    );
    assert!(
        o.saturation.connections_busy > 0.1,
        "queued sends are the server's doing"
    );
    assert_eq!(o.saturation.unsent_client, 0);
    // Sends queued behind the stall are late, but not by the client's doing.
    let late_p99 = o.lateness.value_at_quantile(0.99);
    assert!(late_p99 >= 300_000, "lateness p99 {late_p99} us");
    assert!(
        o.saturation.own_lateness_p99_us < late_p99 / 10,
        "{:?}",
        o.saturation
    );
    assert_eq!(
        o.responses.get(200),
        300,
        "the backlog drained after the stall"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_keeps_the_concurrency() {
    let _serial = SERIAL.lock().await;
    let srv = server(Behavior {
        delay: Duration::from_millis(5),
        ..Behavior::default()
    })
    .await;
    let (o, _) = run(plan(srv.addr, Mode::Closed { concurrency: 4 }, 1, 1000)).await;
    eprintln!(
        "closed 4: {} responses, {:.0} rps",
        o.responses.total(),
        o.achieved_rps
    );
    assert_eq!(
        o.connections, 4,
        "HTTP/1.1 concurrency is the connection count"
    );
    assert_eq!(srv.connections.load(Ordering::Relaxed), 4);
    assert_eq!(srv.max_in_flight.load(Ordering::SeqCst), 4);
    // 4 in flight at ~5 ms each: ~800 rps at best.
    assert!(
        (100.0..900.0).contains(&o.achieved_rps),
        "rps {}",
        o.achieved_rps
    );
    assert_eq!(o.failures.total(), 0);
    assert_eq!(o.corrected.len(), o.uncorrected.len());
    assert_eq!(
        o.corrected.value_at_quantile(0.5),
        o.uncorrected.value_at_quantile(0.5)
    );
    assert!(o.lateness.is_empty());
    assert_windows_sum_to_totals(&o);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_open_loop_multiplexes_streams() {
    let _serial = SERIAL.lock().await;
    let srv = server(Behavior {
        delay: Duration::from_millis(50),
        ..Behavior::default()
    })
    .await;
    let mut p = plan(srv.addr, Mode::Open { rate: 200.0 }, 2, 1000);
    p.protocol = Protocol::Http2;
    let (o, _) = run(p).await;
    let p50 = ms(o.corrected.value_at_quantile(0.5));
    eprintln!(
        "h2 open: {} ok, p50 {p50:.2} ms, busy {}",
        o.responses.get(200),
        o.saturation.connections_busy
    );
    // 100 rps per connection with 50 ms responses: ~5 streams in flight each, none queued.
    assert_eq!(o.responses.get(200), 200);
    assert!((50.0..56.0).contains(&p50), "p50 {p50} ms");
    assert_eq!(o.saturation.connections_busy, 0.0);
    assert_eq!(srv.connections.load(Ordering::Relaxed), 2);
    assert_windows_sum_to_totals(&o);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_full_connection_stops_at_the_end() {
    let _serial = SERIAL.lock().await;
    let srv = server(Behavior {
        delay: Duration::from_millis(800),
        ..Behavior::default()
    })
    .await;
    // 300 rps on one connection with 800 ms responses: the 100-stream cap is reached at
    // ~330 ms, so most of the schedule waits on a full connection.
    let mut p = plan(srv.addr, Mode::Open { rate: 300.0 }, 1, 1000);
    p.protocol = Protocol::Http2;
    let began = Instant::now();
    let (o, _) = run(p).await;
    eprintln!(
        "h2 full: sent {} unsent {} busy {:.2} ok {}",
        o.requests_sent,
        o.unsent,
        o.saturation.connections_busy,
        o.responses.get(200)
    );
    assert!(
        began.elapsed() < Duration::from_millis(2200),
        "no sending after the end"
    );
    assert_eq!(o.saturation.scheduled, 300);
    assert_eq!(o.requests_sent + o.unsent, 300);
    assert!(o.unsent >= 50, "unsent {}", o.unsent);
    assert_eq!(o.saturation.unsent_client, 0, "a full connection is busy");
    assert!(o.saturation.connections_busy > 0.3);
    assert_eq!(o.responses.get(200), o.requests_sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_closed_loop_shares_connections() {
    let _serial = SERIAL.lock().await;
    let srv = server(Behavior {
        delay: Duration::from_millis(10),
        ..Behavior::default()
    })
    .await;
    let mut p = plan(srv.addr, Mode::Closed { concurrency: 8 }, 2, 1000);
    p.protocol = Protocol::Http2;
    let (o, _) = run(p).await;
    eprintln!(
        "h2 closed 8: {} responses, {:.0} rps",
        o.responses.total(),
        o.achieved_rps
    );
    assert_eq!(srv.connections.load(Ordering::Relaxed), 2);
    assert_eq!(srv.max_in_flight.load(Ordering::SeqCst), 8);
    // 8 in flight at ~10 ms each: ~800 rps at best.
    assert!(
        (100.0..850.0).contains(&o.achieved_rps),
        "rps {}",
        o.achieved_rps
    );
    assert_eq!(o.failures.total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_returns_partial_results_quickly() {
    let _serial = SERIAL.lock().await;
    let srv = server(Behavior::default()).await;
    let cancel = CancellationToken::new();
    let run = tokio::spawn(load::run(
        plan(srv.addr, Mode::Open { rate: 100.0 }, 2, 30_000),
        cancel.clone(),
        None,
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cancelled = Instant::now();
    cancel.cancel();
    let o = tokio::time::timeout(Duration::from_secs(2), run)
        .await
        .expect("a cancelled run returns quickly")
        .unwrap()
        .unwrap();
    eprintln!(
        "cancelled after {:?}: {} responses",
        cancelled.elapsed(),
        o.responses.total()
    );
    assert!(cancelled.elapsed() < Duration::from_millis(500));
    assert!(o.cancelled);
    assert!(o.elapsed > Duration::from_millis(1300) && o.elapsed < Duration::from_millis(1600));
    assert!(
        (130..=160).contains(&o.responses.get(200)),
        "{}",
        o.responses.get(200)
    );
    let shape: Vec<_> = o.windows.iter().map(|w| (w.index, w.sent)).collect();
    assert_eq!(
        o.windows.len(),
        2,
        "one full window and the partial one: {shape:?}"
    );
    assert_windows_sum_to_totals(&o);
}

/// Throughput on one worker, to compare with `wrk -t1 -c16` against the same server:
/// `GAUNTLET_BENCH_TARGET=127.0.0.1:18080 cargo test --release --test load -- --ignored --nocapture`
/// (`GAUNTLET_BENCH_PROTOCOL=h2` for HTTP/2, `GAUNTLET_BENCH_RATE=50000` for open loop).
#[tokio::test]
#[ignore = "benchmark: needs a server at GAUNTLET_BENCH_TARGET"]
async fn bench_one_worker() {
    let Ok(target) = std::env::var("GAUNTLET_BENCH_TARGET") else {
        return;
    };
    let mut p = plan(
        target.parse().unwrap(),
        Mode::Closed { concurrency: 16 },
        16,
        5000,
    );
    if let Ok(rate) = std::env::var("GAUNTLET_BENCH_RATE") {
        p.mode = Mode::Open {
            rate: rate.parse().unwrap(),
        };
    }
    if std::env::var("GAUNTLET_BENCH_PROTOCOL").as_deref() == Ok("h2") {
        p.protocol = Protocol::Http2;
        p.connections = 2;
    }
    p.workers = 1;
    p.warmup = Duration::from_secs(1);
    let (o, _) = run(p).await;
    eprintln!(
        "bench: {:.0} rps, p50 {:.3} ms, p99 {:.3} ms, failures {:?}, unsent {}, cpu {:?}, \
         own-late p99 {} us, busy {:.3}, client-bound {:?}",
        o.achieved_rps,
        ms(o.corrected.value_at_quantile(0.5)),
        ms(o.corrected.value_at_quantile(0.99)),
        o.failures,
        o.unsent,
        o.saturation.cpu_per_worker,
        o.saturation.own_lateness_p99_us,
        o.saturation.connections_busy,
        o.saturation.reason
    );
}
