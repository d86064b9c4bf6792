//! A small client for the control API of one `gauntlet-mock` (`/__gauntlet/` on its
//! traffic port): swap the behaviour, read and reset the counters. One HTTP/1.1 connection
//! per call to 127.0.0.1 (the calls are a few per run, never on the load's path), each
//! bounded by a timeout, so a stuck mock fails a call instead of stalling the run.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use gauntlet_mocks::{Behavior, EndpointCounts, UpstreamCounts, CONTROL_PREFIX};
use http_body_util::{BodyExt, Full};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long one control call may take, connection included.
pub(super) const CONTROL_TIMEOUT: Duration = Duration::from_secs(3);

/// A control call that failed, with what was asked and why.
#[derive(Debug, thiserror::Error)]
pub(super) enum ControlError {
    #[error("{method} {path} on {addr}: {detail}")]
    Failed {
        method: Method,
        path: String,
        addr: SocketAddr,
        detail: String,
    },
    #[error("{method} {path} on {addr}: no answer within {timeout:?}")]
    Timeout {
        method: Method,
        path: String,
        addr: SocketAddr,
        timeout: Duration,
    },
    #[error("{method} {path} on {addr} answered {status}: {body}")]
    Status {
        method: Method,
        path: String,
        addr: SocketAddr,
        status: u16,
        body: String,
    },
}

/// The control API of the mock listening on `addr`.
#[derive(Debug, Clone, Copy)]
pub(super) struct MockControl {
    addr: SocketAddr,
    timeout: Duration,
}

impl MockControl {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            timeout: CONTROL_TIMEOUT,
        }
    }

    /// `PUT /__gauntlet/behavior`: installs `behavior` whole and returns what the mock says
    /// it now serves (the caller compares the two, so a mock that drops a field it does not
    /// know is caught before load).
    pub async fn set_behavior(&self, behavior: &Behavior) -> Result<Behavior, ControlError> {
        let path = format!("{CONTROL_PREFIX}behavior");
        let body = serde_json::to_vec(behavior).map_err(|e| self.failed(&Method::PUT, &path, e))?;
        let answer = self.call(Method::PUT, &path, Bytes::from(body)).await?;
        serde_json::from_slice(&answer).map_err(|e| self.failed(&Method::PUT, &path, e))
    }

    /// `GET /__gauntlet/stats`: the endpoint's counters.
    pub async fn counts(&self) -> Result<EndpointCounts, ControlError> {
        let path = format!("{CONTROL_PREFIX}stats");
        let answer = self.call(Method::GET, &path, Bytes::new()).await?;
        let counts: UpstreamCounts =
            serde_json::from_slice(&answer).map_err(|e| self.failed(&Method::GET, &path, e))?;
        // One mock is one endpoint; its answer has the shape of an upstream's.
        counts
            .endpoints
            .into_iter()
            .next()
            .ok_or_else(|| self.failed(&Method::GET, &path, "the answer lists no endpoint"))
    }

    /// `DELETE /__gauntlet/stats`: zeroes the counters.
    pub async fn reset(&self) -> Result<(), ControlError> {
        let path = format!("{CONTROL_PREFIX}stats");
        self.call(Method::DELETE, &path, Bytes::new()).await?;
        Ok(())
    }

    fn failed(&self, method: &Method, path: &str, detail: impl ToString) -> ControlError {
        ControlError::Failed {
            method: method.clone(),
            path: path.to_string(),
            addr: self.addr,
            detail: detail.to_string(),
        }
    }

    /// One request on a fresh connection, bounded by the timeout; the body of a 2xx answer.
    async fn call(&self, method: Method, path: &str, body: Bytes) -> Result<Bytes, ControlError> {
        let exchange = async {
            let fail = |e: &dyn std::fmt::Display| self.failed(&method, path, e);
            let stream = TcpStream::connect(self.addr)
                .await
                .map_err(|e| fail(&format!("connecting: {e}")))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| fail(&e))?;
            let request = hyper::Request::builder()
                .method(method.clone())
                .uri(path)
                .header(hyper::header::HOST, self.addr.to_string())
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(Full::new(body))
                .map_err(|e| fail(&e))?;
            let response = async move {
                let response = sender.send_request(request).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                Ok::<_, hyper::Error>((status, body))
            };
            let (status, body) = tokio::select! {
                biased;
                answer = response => answer.map_err(|e| fail(&e))?,
                closed = connection => return Err(fail(&match closed {
                    Ok(()) => "connection closed before the answer".to_string(),
                    Err(e) => e.to_string(),
                })),
            };
            self.check(&method, path, status, body)
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ControlError::Timeout {
                method: method.clone(),
                path: path.to_string(),
                addr: self.addr,
                timeout: self.timeout,
            })?
    }

    fn check(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        body: Bytes,
    ) -> Result<Bytes, ControlError> {
        if status.is_success() {
            return Ok(body);
        }
        Err(ControlError::Status {
            method: method.clone(),
            path: path.to_string(),
            addr: self.addr,
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body)
                .trim()
                .chars()
                .take(300)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gauntlet_mocks::{serve_with, EndpointId, EndpointState, Latency, ServeOptions, StatusMix};

    use super::*;

    /// A mock with its control API on, as the `gauntlet-mock` binary serves it.
    async fn mock() -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let id = EndpointId {
            upstream: "backend".into(),
            index: 0,
        };
        let state = Arc::new(EndpointState::new(id, Behavior::default()).unwrap());
        let options = ServeOptions {
            control_api: true,
            ..ServeOptions::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(serve_with(listener, state, options, async {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    #[tokio::test]
    async fn behaviour_counts_and_reset_round_trip() {
        let (addr, _stop) = mock().await;
        let control = MockControl::new(addr);
        let behavior = Behavior {
            latency: Latency::Percentiles(vec![
                (50.0, Duration::from_micros(100)),
                (99.0, Duration::from_millis(2)),
            ]),
            statuses: StatusMix(vec![(200, 0.75), (503, 0.25)]),
            body_bytes: 17,
            chaos: gauntlet_mocks::Chaos {
                close: 0.125,
                ..Default::default()
            },
            grpc: None,
        };
        assert_eq!(control.set_behavior(&behavior).await.unwrap(), behavior);
        // Every part of the model crosses the JSON whole: uniform latency, all the chaos, a
        // gRPC status mix.
        let full = Behavior {
            latency: Latency::Uniform {
                min: Duration::from_micros(1),
                max: Duration::from_micros(3),
            },
            chaos: gauntlet_mocks::Chaos {
                hang: 0.01,
                reset: 0.02,
                close: 0.03,
                slow_body: Some(gauntlet_mocks::SlowBody {
                    chunk_bytes: 7,
                    interval: Duration::from_micros(5),
                }),
            },
            grpc: Some(gauntlet_mocks::GrpcStatusMix(vec![(0, 0.9), (14, 0.1)])),
            ..behavior.clone()
        };
        assert_eq!(control.set_behavior(&full).await.unwrap(), full);
        assert_eq!(control.set_behavior(&behavior).await.unwrap(), behavior);
        assert_eq!(control.counts().await.unwrap().requests, 0);
        // One request of traffic is counted; the control calls are not.
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let request = hyper::Request::get("/x")
            .header("host", "m")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let _ = sender.send_request(request).await.unwrap();
        assert_eq!(control.counts().await.unwrap().requests, 1);
        control.reset().await.unwrap();
        assert_eq!(control.counts().await.unwrap().requests, 0);
    }

    #[tokio::test]
    async fn refusals_and_silence_are_errors() {
        let (addr, _stop) = mock().await;
        let bad = Behavior {
            statuses: StatusMix(vec![(200, 0.5)]),
            ..Behavior::default()
        };
        let e = MockControl::new(addr).set_behavior(&bad).await.unwrap_err();
        assert!(matches!(e, ControlError::Status { status: 400, .. }), "{e}");
        // A port that accepts and never answers: the call gives up at its timeout.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let control = MockControl {
            addr: silent.local_addr().unwrap(),
            timeout: Duration::from_millis(200),
        };
        let e = control.counts().await.unwrap_err();
        assert!(matches!(e, ControlError::Timeout { .. }), "{e}");
    }
}
