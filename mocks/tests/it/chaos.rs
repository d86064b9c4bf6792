//! Chaos as a client meets it: hung requests, reset and closed connections, slow bodies,
//! and shares that match what was asked for.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gauntlet_mocks::{Behavior, Chaos, Latency, SlowBody, StatusMix};
use http::Method;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::support::{
    assert_binomial, eventually, is_reset, raw_exchange, start, Client, RawEnd, ResetWatch, RAW_GET,
};

fn chaos(chaos: Chaos, body_bytes: usize) -> Behavior {
    Behavior {
        body_bytes,
        chaos,
        ..Behavior::default()
    }
}

fn hang(share: f64) -> Chaos {
    Chaos {
        hang: share,
        ..Chaos::default()
    }
}

fn reset(share: f64) -> Chaos {
    Chaos {
        reset: share,
        ..Chaos::default()
    }
}

fn close(share: f64) -> Chaos {
    Chaos {
        close: share,
        ..Chaos::default()
    }
}

/// Polls the endpoint's counters until `check` holds, within 5 s.
async fn counted(server: &crate::support::Running, check: impl Fn(u64, u64, u64) -> bool) {
    let state = Arc::clone(&server.state);
    let ok = eventually(Duration::from_secs(5), || {
        let c = state.counters.snapshot();
        check(c.hung, c.reset, c.closed)
    })
    .await;
    assert!(ok, "counters: {:?}", server.state.counters.snapshot());
}

#[tokio::test]
async fn hung_requests_leave_the_client_waiting() {
    let server = start("hang", chaos(hang(1.0), 10)).await;
    let mut client = Client::h1(server.addr).await;
    let upload = Bytes::from(vec![1u8; 100_000]);
    let waited = tokio::time::timeout(
        Duration::from_millis(300),
        client.try_send(Method::POST, "/", upload),
    )
    .await;
    assert!(waited.is_err(), "the client timed out: {waited:?}");
    counted(&server, |hung, _, _| hung == 1).await;
    let counts = server.state.counters.snapshot();
    assert_eq!((counts.requests, counts.by_status.len()), (1, 0));

    // The client giving up closes the connection; the server notices and lets it go.
    drop(client);
    let state = Arc::clone(&server.state);
    assert!(
        eventually(Duration::from_secs(5), || state
            .counters
            .active_connections()
            == 0)
        .await,
        "the server let the hung connection go"
    );
    server.stop().await;
}

#[tokio::test]
async fn hangs_on_h2_are_per_stream_and_leave_no_task_behind() {
    let server = start("hang2", chaos(hang(1.0), 3)).await;
    let client = Client::h2(server.addr).await;
    let mut hung = JoinSet::new();
    for _ in 0..3 {
        let mut stream = client.clone_h2();
        hung.spawn(async move {
            tokio::time::timeout(Duration::from_millis(300), stream.get("/")).await
        });
    }
    while let Some(outcome) = hung.join_next().await {
        assert!(outcome.expect("task").is_err(), "every stream hung");
    }
    counted(&server, |hung, _, _| hung == 3).await;

    // Chaos off, and the same connection answers again.
    server
        .state
        .set_behavior(chaos(Chaos::default(), 3))
        .expect("swap");
    let mut stream = client.clone_h2();
    let answer = stream.get("/").await;
    assert_eq!((answer.status, answer.body.len()), (200, 3));
    assert_eq!(server.state.counters.snapshot().connections, 1);

    drop((client, stream));
    server.stop().await;
    // Hung streams run in tasks of their own; the connection's end must end them too.
    let metrics = tokio::runtime::Handle::current().metrics();
    assert!(
        eventually(Duration::from_secs(5), || metrics.num_alive_tasks() == 0).await,
        "{} tasks still alive",
        metrics.num_alive_tasks()
    );
}

#[tokio::test]
async fn shutdown_gives_up_on_hung_requests_after_the_grace() {
    let server = start("stuck", chaos(hang(1.0), 0)).await;
    let mut client = Client::h1(server.addr).await;
    let in_flight =
        tokio::spawn(async move { client.try_send(Method::GET, "/", Bytes::new()).await });
    counted(&server, |hung, _, _| hung == 1).await;
    let state = Arc::clone(&server.state);
    let started = Instant::now();
    server.stop().await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "grace of 1s, then gave up: {took:?}"
    );
    assert!(
        in_flight.await.expect("task").is_err(),
        "the request was cut"
    );
    assert_eq!(state.counters.active_connections(), 0);
}

#[tokio::test]
async fn resets_come_before_any_response_byte() {
    let server = start("reset", chaos(reset(1.0), 10)).await;
    let (bytes, end) = raw_exchange(server.addr, RAW_GET, Duration::from_secs(5)).await;
    assert!(matches!(end, RawEnd::Reset), "{end:?}");
    assert!(bytes.is_empty(), "no response byte: {bytes:?}");

    // A request with a body is read first, then reset; hyper's client sees ECONNRESET.
    let mut client = Client::h1(server.addr).await;
    let error = client
        .try_send(Method::POST, "/", Bytes::from(vec![2u8; 50_000]))
        .await
        .expect_err("reset");
    assert!(is_reset(&error), "{error:?}");

    // On h2 the whole connection goes: its streams fail, its socket meets the RST.
    let stream = ResetWatch::connect(server.addr).await;
    let saw_reset = Arc::clone(&stream.saw_reset);
    let (mut sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("h2 handshake");
    let conn = tokio::spawn(conn);
    let request = http::Request::builder()
        .uri(format!("http://{}/", server.addr))
        .body(Full::new(Bytes::new()))
        .expect("request");
    assert!(sender.send_request(request).await.is_err());
    let ended = tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("the connection ends")
        .expect("task");
    assert!(ended.is_err(), "with an error");
    assert!(
        saw_reset.load(std::sync::atomic::Ordering::SeqCst),
        "ECONNRESET"
    );

    counted(&server, |_, reset, _| reset == 3).await;
    let counts = server.state.counters.snapshot();
    assert_eq!((counts.requests, counts.by_status.len()), (3, 0));
    let state = Arc::clone(&server.state);
    assert!(
        eventually(Duration::from_secs(5), || state
            .counters
            .active_connections()
            == 0)
        .await
    );
    server.stop().await;
}

#[tokio::test]
async fn close_ends_the_connection_after_the_response() {
    let server = start("close", chaos(close(1.0), 5)).await;
    let (bytes, end) = raw_exchange(server.addr, RAW_GET, Duration::from_secs(5)).await;
    assert!(matches!(end, RawEnd::Eof), "{end:?}");
    let text = String::from_utf8(bytes).expect("ascii");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{text}"
    );
    assert!(
        text.ends_with("\r\n\r\nxxxxx"),
        "the whole body, then EOF: {text}"
    );

    // HTTP/2 has no connection header: the server sends GOAWAY and the connection ends.
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (mut sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("h2 handshake");
    let conn = tokio::spawn(conn);
    let request = http::Request::builder()
        .uri(format!("http://{}/", server.addr))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status(), 200);
    assert!(response.headers().get(http::header::CONNECTION).is_none());
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(body, "xxxxx");
    tokio::time::timeout(Duration::from_secs(5), conn)
        .await
        .expect("the h2 connection ends after GOAWAY")
        .expect("task")
        .expect("a clean end");

    counted(&server, |_, _, closed| closed == 2).await;
    assert_eq!(
        server.state.counters.snapshot().by_status,
        [(200, 2)].into()
    );
    server.stop().await;
}

#[tokio::test]
async fn slow_bodies_take_chunks_times_interval() {
    let interval = Duration::from_millis(30);
    let slow = Chaos {
        slow_body: Some(SlowBody {
            chunk_bytes: 100,
            interval,
        }),
        ..Chaos::default()
    };
    let server = start("slow", chaos(slow, 1000)).await;
    let expected = interval * 10;
    for mut client in [Client::h1(server.addr).await, Client::h2(server.addr).await] {
        let started = Instant::now();
        let (answer, frames) = client.get_frames("/").await;
        let took = started.elapsed();
        assert_eq!((answer.status, answer.body.len()), (200, 1000));
        assert!(took >= expected, "{:?}: {took:?}", answer.version);
        assert!(
            took < expected + Duration::from_millis(250),
            "{:?}: {took:?}",
            answer.version
        );
        // Trickled, not sent at the end: several frames, the first long before the last.
        assert!(frames.len() >= 5, "{:?}: {frames:?}", answer.version);
        assert!(frames[0] < expected / 2, "{:?}: {frames:?}", answer.version);
    }
    // HEAD has no body to trickle.
    let mut client = Client::h1(server.addr).await;
    let started = Instant::now();
    let head = client.send(Method::HEAD, "/", Bytes::new()).await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert!(started.elapsed() < expected, "{:?}", started.elapsed());
    assert_eq!(server.state.counters.snapshot().bytes, 2000);
    server.stop().await;
}

/// What one worker of the shares test saw.
#[derive(Default)]
struct Seen {
    statuses: BTreeMap<u16, u64>,
    hung: u64,
    reset: u64,
    closed: u64,
}

#[tokio::test]
async fn shares_and_counters_agree_with_the_client() {
    let (p_reset, p_hang, p_close, p_503) = (0.1, 0.1, 0.2, 0.3);
    let behavior = Behavior {
        latency: Latency::Zero,
        statuses: StatusMix(vec![(200, 1.0 - p_503), (503, p_503)]),
        body_bytes: 10,
        chaos: Chaos {
            hang: p_hang,
            reset: p_reset,
            close: p_close,
            slow_body: None,
        },
        grpc: None,
    };
    let server = start("shares", behavior).await;
    let addr = server.addr;
    let (workers, per_worker) = (100u64, 10u64);
    let n = workers * per_worker;
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        tasks.spawn(async move {
            let mut seen = Seen::default();
            let mut client = None;
            for _ in 0..per_worker {
                let c = match &mut client {
                    Some(c) => c,
                    None => client.insert(Client::h1(addr).await),
                };
                // Generous, so that only a hung request ever takes this long.
                let outcome = tokio::time::timeout(
                    Duration::from_secs(1),
                    c.try_send(Method::GET, "/", Bytes::new()),
                )
                .await;
                match outcome {
                    Err(_) => {
                        seen.hung += 1;
                        client = None;
                    }
                    Ok(Err(error)) => {
                        assert!(is_reset(&error), "{error:?}");
                        seen.reset += 1;
                        client = None;
                    }
                    Ok(Ok(answer)) => {
                        *seen.statuses.entry(answer.status).or_default() += 1;
                        if answer.close {
                            seen.closed += 1;
                            client = None;
                        }
                    }
                }
            }
            seen
        });
    }
    let mut total = Seen::default();
    while let Some(seen) = tasks.join_next().await {
        let seen = seen.expect("worker");
        for (code, count) in seen.statuses {
            *total.statuses.entry(code).or_default() += count;
        }
        total.hung += seen.hung;
        total.reset += seen.reset;
        total.closed += seen.closed;
    }
    let answered: u64 = total.statuses.values().sum();
    assert_eq!(answered + total.hung + total.reset, n);
    assert_binomial(total.reset, n, p_reset, "resets");
    assert_binomial(total.hung, n, p_hang, "hangs");
    assert_binomial(total.closed, answered, p_close, "closes of answered");
    assert_binomial(total.statuses[&503], answered, p_503, "503s of answered");

    let state = Arc::clone(&server.state);
    let agree = eventually(Duration::from_secs(5), || {
        let c = state.counters.snapshot();
        (c.requests, c.hung, c.reset, c.closed) == (n, total.hung, total.reset, total.closed)
    })
    .await;
    let counts = server.state.counters.snapshot();
    assert!(
        agree,
        "server {counts:?}, client hung {} reset {} closed {}",
        total.hung, total.reset, total.closed
    );
    assert_eq!(counts.by_status, total.statuses);
    assert_eq!(counts.bytes, answered * 10);
    server.stop().await;
}

#[tokio::test]
async fn close_without_a_body_skips_the_slow_body() {
    // A 204 with close and a slow body: no body to trickle, but the close still happens.
    let behavior = Behavior {
        statuses: StatusMix::always(204),
        body_bytes: 100,
        chaos: Chaos {
            close: 1.0,
            slow_body: Some(SlowBody {
                chunk_bytes: 1,
                interval: Duration::from_secs(1),
            }),
            ..Chaos::default()
        },
        ..Behavior::default()
    };
    let server = start("nobody", behavior).await;
    let started = Instant::now();
    let (bytes, end) = raw_exchange(server.addr, RAW_GET, Duration::from_secs(5)).await;
    assert!(matches!(end, RawEnd::Eof), "{end:?}");
    assert!(started.elapsed() < Duration::from_millis(500));
    let text = String::from_utf8(bytes).expect("ascii");
    assert!(text.starts_with("HTTP/1.1 204"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "{text}");
    assert_eq!(server.state.counters.snapshot().closed, 1);
    server.stop().await;
}
