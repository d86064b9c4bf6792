//! The load generator against small in-test servers on 127.0.0.1.
//!
//! Tests run one at a time (a shared lock): they measure time, and two load runs sharing two
//! cores would measure each other.

#[path = "load/servers.rs"]
mod servers;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gauntlet::load::{self, LoadOutcome, LoadPlan, Mode, Protocol, RequestTemplate, WindowReport};
use tokio_util::sync::CancellationToken;

use self::servers::{raw_server, server, Behavior};

static SERIAL: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

fn plan(target: SocketAddr, mode: Mode, connections: u32, duration_ms: u64) -> LoadPlan {
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

async fn run(plan: LoadPlan) -> (LoadOutcome, Vec<WindowReport>) {
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

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The measured windows add up to the totals.
fn assert_windows_sum_to_totals(o: &LoadOutcome) {
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
async fn connect_failures_are_counted_without_hanging() {
    let _serial = SERIAL.lock().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    for protocol in [Protocol::Http1, Protocol::Http2] {
        for mode in [Mode::Open { rate: 100.0 }, Mode::Closed { concurrency: 2 }] {
            let mut p = plan(dead, mode, 2, 1000);
            p.protocol = protocol;
            let began = Instant::now();
            let (o, _) = run(p).await;
            eprintln!("dead target {protocol:?} {mode:?}: {:?}", o.failures);
            assert!(began.elapsed() < Duration::from_secs(3));
            assert_eq!(o.requests_sent, 0);
            assert_eq!(o.responses.total(), 0);
            assert!(o.failures.connect > 0);
            assert_eq!(o.failures.total(), o.failures.connect);
            if let Mode::Open { .. } = mode {
                assert_eq!(o.failures.connect, 100, "every scheduled request fails");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_are_counted() {
    let _serial = SERIAL.lock().await;
    let srv = server(Behavior {
        delay: Duration::from_secs(5),
        ..Behavior::default()
    })
    .await;
    for protocol in [Protocol::Http1, Protocol::Http2] {
        let mut p = plan(srv.addr, Mode::Open { rate: 20.0 }, 2, 1000);
        p.protocol = protocol;
        p.timeout = Duration::from_millis(100);
        let began = Instant::now();
        let (o, _) = run(p).await;
        eprintln!(
            "timeouts {protocol:?}: {:?}, unsent {}",
            o.failures, o.unsent
        );
        assert!(began.elapsed() < Duration::from_millis(1800));
        assert_eq!(o.responses.total(), 0);
        assert!(o.failures.timeout >= 15, "{:?}", o.failures);
        assert_eq!(o.failures.total(), o.failures.timeout);
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_and_malformed_responses() {
    let _serial = SERIAL.lock().await;
    let closing = raw_server(
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
        true,
    )
    .await;
    let (o, _) = run(plan(closing, Mode::Open { rate: 100.0 }, 2, 500)).await;
    assert_eq!(
        (o.responses.get(200), o.failures.total()),
        (50, 0),
        "{:?}",
        o.failures
    );

    let chunked = raw_server(
        b"HTTP/1.1 503 Busy\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nt: 1\r\n\r\n",
        false,
    )
    .await;
    let (o, _) = run(plan(chunked, Mode::Closed { concurrency: 2 }, 2, 300)).await;
    assert!(
        o.responses.get(503) > 10 && o.failures.total() == 0,
        "{:?}",
        o.failures
    );

    let extra = raw_server(
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA",
        false,
    )
    .await;
    let (o, _) = run(plan(extra, Mode::Open { rate: 100.0 }, 2, 500)).await;
    assert_eq!(
        (o.failures.protocol, o.responses.total()),
        (50, 0),
        "{:?}",
        o.failures
    );

    let garbage = raw_server(b"SPDY/9 what\r\n\r\n", false).await;
    let (o, _) = run(plan(garbage, Mode::Open { rate: 100.0 }, 2, 500)).await;
    assert_eq!(o.failures.protocol, 50, "{:?}", o.failures);
}

#[tokio::test]
async fn invalid_plans_are_errors() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut p = plan(addr, Mode::Open { rate: 10.0 }, 1, 100);
    p.targets.clear();
    assert!(matches!(
        load::run(p, CancellationToken::new(), None).await,
        Err(load::LoadError::NoTargets)
    ));
    let p = plan(addr, Mode::Open { rate: 10.0 }, 0, 100);
    assert!(matches!(
        load::run(p, CancellationToken::new(), None).await,
        Err(load::LoadError::ZeroConnections)
    ));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_heads_and_bodies_are_read() {
    let _serial = SERIAL.lock().await;
    let body = "x".repeat(300_000);
    let mut chunked = String::from("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
    for _ in 0..30 {
        chunked.push_str(&format!("2710\r\n{}\r\n", "y".repeat(10_000)));
    }
    chunked.push_str("0\r\n\r\n");
    let cases = [
        format!("HTTP/1.1 200 OK\r\ncontent-length: 300000\r\n\r\n{body}"),
        chunked,
        // Larger than the initial read buffer: it grows once.
        format!(
            "HTTP/1.1 200 OK\r\nx-big: {}\r\ncontent-length: 2\r\n\r\nok",
            "h".repeat(40_000)
        ),
    ];
    for wire in cases {
        let addr = raw_server(Box::leak(wire.into_bytes().into_boxed_slice()), false).await;
        let (o, _) = run(plan(addr, Mode::Open { rate: 100.0 }, 2, 300)).await;
        assert_eq!(
            (o.responses.get(200), o.failures.total()),
            (30, 0),
            "{:?}",
            o.failures
        );
    }
}
