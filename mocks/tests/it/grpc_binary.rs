//! `gauntlet-mock --grpc <mix>` as a stand-in gRPC service: unary calls over h2c answered
//! with the mix's statuses, `OK` with a message and trailers, the rest trailers-only.

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::binary::{run, spawn, stats};
use crate::support::Client;

const CALLS: usize = 200;

/// One unary call's answer: HTTP status, `grpc-status` (headers or trailers), message bytes.
struct Call {
    http: u16,
    content_type: String,
    grpc_status: Option<u8>,
    in_trailers: bool,
    body: Bytes,
}

async fn call(sender: &mut http2::SendRequest<Full<Bytes>>) -> Call {
    // An empty message, length-prefixed: uncompressed flag and a zero length.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/gauntlet.mock.v1.Mock/Call")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
        .expect("request");
    let response = sender.send_request(request).await.expect("call");
    let (head, body) = response.into_parts();
    let header = |map: &http::HeaderMap, name: &str| {
        map.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let collected = body.collect().await.expect("body");
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let from_trailers = header(&trailers, "grpc-status");
    Call {
        http: head.status.as_u16(),
        content_type: header(&head.headers, "content-type").unwrap_or_default(),
        in_trailers: from_trailers.is_some(),
        grpc_status: from_trailers
            .or_else(|| header(&head.headers, "grpc-status"))
            .and_then(|s| s.parse().ok()),
        body: collected.to_bytes(),
    }
}

#[tokio::test]
async fn grpc_flag_answers_unary_calls_from_the_mix() {
    let mock = spawn(&[
        "--name",
        "payments",
        "--grpc",
        "OK:70%,unavailable:30%",
        "--body",
        "16",
    ])
    .await;
    let stream = TcpStream::connect(mock.addr).await.expect("connect");
    // Headers and message go out as separate writes; Nagle would hold the second one.
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("h2c handshake");
    tokio::spawn(conn);
    let (mut ok, mut unavailable) = (0, 0);
    for _ in 0..CALLS {
        let c = call(&mut sender).await;
        assert_eq!((c.http, c.content_type.as_str()), (200, "application/grpc"));
        match c.grpc_status {
            Some(0) => {
                ok += 1;
                assert!(c.in_trailers, "OK carries its status in the trailers");
                // The 5-byte prefix and the 16-byte message of --body.
                assert_eq!(c.body.len(), 21);
                assert_eq!(&c.body[..5], &[0, 0, 0, 0, 16]);
            }
            Some(14) => {
                unavailable += 1;
                assert!(!c.in_trailers && c.body.is_empty(), "trailers-only");
            }
            other => panic!("grpc-status {other:?} is not in the mix"),
        }
    }
    // 30% of 200 is 60, with a standard deviation of 6.5: 30..=90 holds but for a
    // 4.6-sigma draw, and catches a mix that was ignored (0) or inverted (140).
    assert!(
        (30..=90).contains(&unavailable),
        "{unavailable} UNAVAILABLE"
    );
    assert_eq!(ok + unavailable, CALLS);

    let mut control = Client::h1(mock.addr).await;
    let counts = stats(&mut control).await;
    assert_eq!(counts.name, "payments");
    assert_eq!(counts.requests, CALLS as u64);
    assert_eq!(
        counts.by_grpc_status,
        [(0, ok as u64), (14, unavailable as u64)].into()
    );
}

#[test]
fn a_bad_grpc_mix_is_a_usage_error() {
    for (mix, message) in [
        ("OK:70%", "sum to 70%"),
        ("OK:70%,NOPE:30%", "`NOPE` is not a gRPC status"),
    ] {
        let out = run(&["--listen", "127.0.0.1:0", "--grpc", mix]);
        assert_eq!(out.status.code(), Some(2), "{mix}: usage error exit code");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{mix}: {stderr}");
    }
}
