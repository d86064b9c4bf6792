//! The load generator when things go wrong, against small in-test servers on 127.0.0.1:
//! connect failures, timeouts, closed connections and malformed responses, large heads and
//! bodies, and plans that cannot run.
//!
//! Tests run one at a time (a shared lock): they measure time, and two load runs sharing two
//! cores would measure each other.

#[path = "load/plan.rs"]
mod plan;
#[path = "load/servers.rs"]
#[allow(dead_code)]
mod servers;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gauntlet::load::{self, Mode, Protocol};
use tokio_util::sync::CancellationToken;

use self::plan::{plan, run, SERIAL};
use self::servers::{raw_server, server, Behavior};

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
