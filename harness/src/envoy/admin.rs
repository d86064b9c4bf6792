//! A small HTTP/1 client for Envoy's admin API. One connection per call (the admin API is
//! not on the hot path), and a timeout on every call.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

use super::{parse_build_version, EnvoyError};

/// Client for one Envoy's admin API.
#[derive(Debug, Clone)]
pub struct AdminClient {
    addr: SocketAddr,
    timeout: Duration,
}

/// What `/server_info` says, for labelling runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerInfo {
    /// The release, e.g. `1.40.0`.
    pub version: String,
    /// The whole build string, e.g. `9e55…/1.40.0/Clean/RELEASE/BoringSSL`.
    pub full_version: String,
    /// `LIVE`, `DRAINING`, `PRE_INITIALIZING` or `INITIALIZING`.
    pub state: String,
    /// Time since this Envoy started.
    pub uptime: Duration,
    /// Worker threads (`--concurrency`).
    pub concurrency: u32,
}

impl AdminClient {
    /// Timeout of each call unless set with [`AdminClient::with_timeout`].
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// A client for the admin API at `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// The same client with another timeout per call (connect, request and body).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The admin API's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GET path` (e.g. `/clusters?format=json`); the body of a 2xx answer.
    pub async fn get(&self, path: &str) -> Result<String, EnvoyError> {
        self.call_ok(Method::GET, path).await
    }

    /// `POST path` (e.g. `/healthcheck/fail`, `/drain_listeners`); the body of a 2xx answer.
    pub async fn post(&self, path: &str) -> Result<String, EnvoyError> {
        self.call_ok(Method::POST, path).await
    }

    /// The server state `/ready` reports (`LIVE` when ready, with 200; others with 503).
    pub async fn state(&self) -> Result<String, EnvoyError> {
        let path = "/ready";
        let (status, body) = self.call(Method::GET, path).await?;
        if status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE {
            Ok(body.trim().to_owned())
        } else {
            Err(status_error(path, status, &body))
        }
    }

    /// Whether `/ready` says `LIVE`; false on any error.
    pub async fn ready(&self) -> bool {
        self.state().await.is_ok_and(|state| state == "LIVE")
    }

    /// `/server_info`: version, state and uptime.
    pub async fn server_info(&self) -> Result<ServerInfo, EnvoyError> {
        let path = "/server_info";
        let body = self.get(path).await?;
        parse_server_info(&body).map_err(|detail| parse_error(path, detail))
    }

    /// Counters and gauges from `/stats?format=json` (histograms and text readouts left out).
    pub async fn stats(&self) -> Result<BTreeMap<String, u64>, EnvoyError> {
        Ok(self.stats_snapshot().await?.values)
    }

    /// Counters and gauges whose names match `regex` (Envoy's RE2 `filter`), for sampling
    /// the few stats a scenario cares about every second without pulling all of them.
    pub async fn stats_matching(&self, regex: &str) -> Result<BTreeMap<String, u64>, EnvoyError> {
        let path = format!("/stats?format=json&filter={}", encode_query(regex));
        let body = self.get(&path).await?;
        Ok(parse_stats(&body)
            .map_err(|detail| parse_error(&path, detail))?
            .values)
    }

    /// Text readouts from `/stats?format=json`, e.g. `cluster_manager.cds.version_text`.
    pub async fn text_readouts(&self) -> Result<BTreeMap<String, String>, EnvoyError> {
        Ok(self.stats_snapshot().await?.texts)
    }

    async fn stats_snapshot(&self) -> Result<Stats, EnvoyError> {
        let path = "/stats?format=json";
        let body = self.get(path).await?;
        parse_stats(&body).map_err(|detail| parse_error(path, detail))
    }

    async fn call_ok(&self, method: Method, path: &str) -> Result<String, EnvoyError> {
        let (status, body) = self.call(method, path).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(status_error(path, status, &body))
        }
    }

    /// One request on a fresh connection, bounded by the timeout.
    async fn call(&self, method: Method, path: &str) -> Result<(StatusCode, String), EnvoyError> {
        let failed = |detail: String| EnvoyError::Admin {
            path: path.to_owned(),
            detail,
        };
        let exchange = async {
            let stream = TcpStream::connect(self.addr)
                .await
                .map_err(|e| failed(format!("connecting to {}: {e}", self.addr)))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| failed(e.to_string()))?;
            let request = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header(hyper::header::HOST, self.addr.to_string())
                .body(Empty::<Bytes>::new())
                .map_err(|e| failed(e.to_string()))?;
            let response = async move {
                let response = sender.send_request(request).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                Ok::<_, hyper::Error>((status, String::from_utf8_lossy(&body).into_owned()))
            };
            tokio::select! {
                biased;
                answer = response => answer.map_err(|e| failed(e.to_string())),
                closed = connection => Err(failed(match closed {
                    Ok(()) => "connection closed before the answer".to_owned(),
                    Err(e) => e.to_string(),
                })),
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| EnvoyError::AdminTimeout {
                path: path.to_owned(),
                timeout: self.timeout,
            })?
    }
}

fn status_error(path: &str, status: StatusCode, body: &str) -> EnvoyError {
    EnvoyError::AdminStatus {
        path: path.to_owned(),
        status: status.as_u16(),
        body: body.trim().chars().take(500).collect(),
    }
}

fn parse_error(path: &str, detail: String) -> EnvoyError {
    EnvoyError::AdminParse {
        path: path.to_owned(),
        detail,
    }
}

// === parsing ===

/// Numbers and text readouts of one `/stats?format=json` document.
#[derive(Debug, Default, PartialEq)]
struct Stats {
    values: BTreeMap<String, u64>,
    texts: BTreeMap<String, String>,
}

/// Parses `{"stats":[{"name":…,"value":…}, …, {"histograms":{…}}]}`. Counters and gauges
/// have numeric values, text readouts string values; the histograms entry has no name.
fn parse_stats(json: &str) -> Result<Stats, String> {
    #[derive(Deserialize)]
    struct Doc {
        stats: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        name: Option<String>,
        value: Option<serde_json::Value>,
    }
    let doc: Doc = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mut stats = Stats::default();
    for entry in doc.stats {
        match (entry.name, entry.value) {
            (Some(name), Some(serde_json::Value::Number(n))) => {
                let value = n
                    .as_u64()
                    .ok_or_else(|| format!("{name} is {n}, not a u64"))?;
                stats.values.insert(name, value);
            }
            (Some(name), Some(serde_json::Value::String(text))) => {
                stats.texts.insert(name, text);
            }
            _ => {}
        }
    }
    Ok(stats)
}

fn parse_server_info(json: &str) -> Result<ServerInfo, String> {
    #[derive(Deserialize)]
    struct Doc {
        version: String,
        state: String,
        uptime_current_epoch: String,
        command_line_options: Options,
    }
    #[derive(Deserialize)]
    struct Options {
        concurrency: u32,
    }
    let doc: Doc = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let build = parse_build_version(&doc.version)
        .ok_or_else(|| format!("version {:?} has no release", doc.version))?;
    Ok(ServerInfo {
        version: build.version,
        full_version: build.full,
        state: doc.state,
        uptime: parse_proto_duration(&doc.uptime_current_epoch)
            .ok_or_else(|| format!("uptime {:?} is not a duration", doc.uptime_current_epoch))?,
        concurrency: doc.command_line_options.concurrency,
    })
}

/// A protobuf JSON duration: `12s`, `1.500s`.
fn parse_proto_duration(text: &str) -> Option<Duration> {
    let seconds: f64 = text.strip_suffix('s')?.parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass as they are).
fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from Envoy 1.40.0 (the server_info node's extension list shortened).
    const SERVER_INFO: &str = include_str!("testdata/server_info.json");
    const STATS: &str = include_str!("testdata/stats.json");
    const STATS_XDS: &str = include_str!("testdata/stats_xds.json");

    #[test]
    fn parses_server_info() {
        let info = parse_server_info(SERVER_INFO).unwrap();
        assert_eq!(
            info,
            ServerInfo {
                version: "1.40.0".into(),
                full_version:
                    "9e5580933739775e8bce696a57a2e1bc99368f23/1.40.0/Clean/RELEASE/BoringSSL".into(),
                state: "LIVE".into(),
                uptime: Duration::ZERO,
                concurrency: 1,
            }
        );
        let bad = SERVER_INFO.replace("/1.40.0/", "/");
        assert!(parse_server_info(&bad).unwrap_err().contains("no release"));
        assert!(parse_server_info("{}").is_err());
    }

    #[test]
    fn parses_stats() {
        let stats = parse_stats(STATS).unwrap();
        assert_eq!(stats.values.len(), 263);
        assert_eq!(stats.values["server.live"], 1);
        assert_eq!(stats.values["server.concurrency"], 1);
        assert_eq!(stats.values["cluster_manager.active_clusters"], 0);
        assert!(stats.texts.is_empty());
        assert!(!stats
            .values
            .keys()
            .any(|k| k.ends_with("downstream_cx_length_ms")));

        let stats = parse_stats(STATS_XDS).unwrap();
        assert_eq!(stats.values["cluster_manager.cds.update_attempt"], 3);
        assert_eq!(stats.values["control_plane.connected_state"], 0);
        assert_eq!(stats.texts["cluster_manager.cds.version_text"], "");
        assert_eq!(stats.values.len() + stats.texts.len(), 10);

        assert!(parse_stats(r#"{"stats":[{"name":"g","value":-1}]}"#)
            .unwrap_err()
            .contains("not a u64"));
        assert!(parse_stats("not json").is_err());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_proto_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_proto_duration("12s"), Some(Duration::from_secs(12)));
        assert_eq!(
            parse_proto_duration("1.5s"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_proto_duration("12"), None);
        assert_eq!(parse_proto_duration("-1s"), None);
    }

    #[tokio::test]
    async fn unreachable_admin_is_an_error_not_a_hang() {
        // A port nobody listens on: bind, learn the port, close.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let admin = AdminClient::new(addr).with_timeout(Duration::from_secs(2));
        assert!(!admin.ready().await);
        let err = admin.get("/server_info").await.unwrap_err().to_string();
        assert!(err.contains("is Envoy still running"), "{err}");
    }

    #[tokio::test]
    async fn silent_admin_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = AdminClient::new(listener.local_addr().unwrap())
            .with_timeout(Duration::from_millis(100));
        let err = admin.stats().await.unwrap_err();
        assert!(matches!(err, EnvoyError::AdminTimeout { .. }), "{err}");
        drop(listener);
    }
}
