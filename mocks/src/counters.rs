//! What a mock endpoint has seen, as lock-free counters and serialisable snapshots.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

/// The lowest status with its own counter.
const FIRST_STATUS: u16 = 100;
/// The highest status with its own counter.
const LAST_STATUS: u16 = 599;
const STATUS_SLOTS: usize = (LAST_STATUS - FIRST_STATUS + 1) as usize;
/// gRPC status codes 0..=16.
const GRPC_SLOTS: usize = crate::grpc::MAX_CODE as usize + 1;

/// Live counters of one endpoint. Every field is an atomic updated with relaxed ordering:
/// the numbers are statistics, not synchronisation, and a snapshot taken while requests run
/// may be a few requests apart between fields.
#[derive(Debug)]
pub struct Counters {
    requests: AtomicU64,
    by_status: [AtomicU64; STATUS_SLOTS],
    by_grpc_status: [AtomicU64; GRPC_SLOTS],
    bytes: AtomicU64,
    connections_accepted: AtomicU64,
    connections_active: AtomicU64,
    hung: AtomicU64,
    reset: AtomicU64,
    closed: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            by_status: [const { AtomicU64::new(0) }; STATUS_SLOTS],
            by_grpc_status: [const { AtomicU64::new(0) }; GRPC_SLOTS],
            bytes: AtomicU64::new(0),
            connections_accepted: AtomicU64::new(0),
            connections_active: AtomicU64::new(0),
            hung: AtomicU64::new(0),
            reset: AtomicU64::new(0),
            closed: AtomicU64::new(0),
        }
    }
}

impl Counters {
    /// Counts a request as it arrives, before its body is read or its delay waited.
    #[inline]
    pub fn request(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    /// Counts a response handed to the connection, with `body_bytes` of body.
    #[inline]
    pub fn response(&self, status: u16, body_bytes: u64) {
        if let Some(slot) = status
            .checked_sub(FIRST_STATUS)
            .and_then(|i| self.by_status.get(usize::from(i)))
        {
            slot.fetch_add(1, Relaxed);
        }
        if body_bytes > 0 {
            self.bytes.fetch_add(body_bytes, Relaxed);
        }
    }

    /// Counts the `grpc-status` of a gRPC answer (counted by [`Counters::response`] too).
    #[inline]
    pub fn grpc_status(&self, code: u8) {
        if let Some(slot) = self.by_grpc_status.get(usize::from(code)) {
            slot.fetch_add(1, Relaxed);
        }
    }

    /// Counts a request left unanswered on purpose (chaos `hang`).
    pub fn request_hung(&self) {
        self.hung.fetch_add(1, Relaxed);
    }

    /// Counts a request answered by resetting its connection (chaos `reset`).
    pub fn connection_reset(&self) {
        self.reset.fetch_add(1, Relaxed);
    }

    /// Counts a response that closes its connection (chaos `close`); the response itself is
    /// counted by [`Counters::response`] as well.
    pub fn response_closed(&self) {
        self.closed.fetch_add(1, Relaxed);
    }

    /// Counts an accepted connection; the guard counts it as closed when dropped, so a
    /// connection task that is aborted still leaves the active count right.
    pub fn connection(&self) -> ConnectionGuard<'_> {
        self.connections_accepted.fetch_add(1, Relaxed);
        self.connections_active.fetch_add(1, Relaxed);
        ConnectionGuard(self)
    }

    /// Connections open right now.
    pub fn active_connections(&self) -> u64 {
        self.connections_active.load(Relaxed)
    }

    /// Copies the counters into plain numbers.
    pub fn snapshot(&self) -> EndpointCounts {
        let by_status = (FIRST_STATUS..=LAST_STATUS)
            .zip(&self.by_status)
            .filter_map(|(code, n)| {
                let n = n.load(Relaxed);
                (n > 0).then_some((code, n))
            })
            .collect();
        let by_grpc_status = (0..=crate::grpc::MAX_CODE)
            .zip(&self.by_grpc_status)
            .filter_map(|(code, n)| {
                let n = n.load(Relaxed);
                (n > 0).then_some((code, n))
            })
            .collect();
        EndpointCounts {
            requests: self.requests.load(Relaxed),
            by_status,
            by_grpc_status,
            bytes: self.bytes.load(Relaxed),
            connections: self.connections_accepted.load(Relaxed),
            hung: self.hung.load(Relaxed),
            reset: self.reset.load(Relaxed),
            closed: self.closed.load(Relaxed),
        }
    }

    /// Zeroes every cumulative counter (not the active connections, which are a level, not
    /// a count). Fields are zeroed one by one, so requests in flight may land on either side.
    pub fn reset(&self) {
        self.requests.store(0, Relaxed);
        for slot in self.by_status.iter().chain(&self.by_grpc_status) {
            slot.store(0, Relaxed);
        }
        self.bytes.store(0, Relaxed);
        self.connections_accepted.store(0, Relaxed);
        self.hung.store(0, Relaxed);
        self.reset.store(0, Relaxed);
        self.closed.store(0, Relaxed);
    }
}

/// Keeps a connection counted as active until dropped.
#[derive(Debug)]
pub struct ConnectionGuard<'a>(&'a Counters);

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.0.connections_active.fetch_sub(1, Relaxed);
    }
}

/// A snapshot of one endpoint's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointCounts {
    /// Requests received (control API requests excluded): those answered (`by_status`),
    /// hung, reset, and any still in flight.
    pub requests: u64,
    /// Responses sent, by status; only statuses that were sent appear.
    pub by_status: BTreeMap<u16, u64>,
    /// gRPC answers by `grpc-status` code; empty (and left out of the JSON) for HTTP.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_grpc_status: BTreeMap<u8, u64>,
    /// Response body bytes sent.
    pub bytes: u64,
    /// Connections accepted, including any that only carried control API requests.
    pub connections: u64,
    /// Requests read and never answered (chaos `hang`); not in `by_status`.
    #[serde(default)]
    pub hung: u64,
    /// Requests answered by a connection reset (chaos `reset`); not in `by_status`.
    #[serde(default)]
    pub reset: u64,
    /// Responses that closed their connection (chaos `close`); also in `by_status`.
    #[serde(default)]
    pub closed: u64,
}

/// A snapshot of every endpoint of an upstream, with the totals a report wants first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamCounts {
    /// The upstream's name.
    pub name: String,
    /// Requests received by all endpoints.
    pub requests: u64,
    /// Responses sent by all endpoints, by status.
    pub by_status: BTreeMap<u16, u64>,
    /// gRPC answers by all endpoints, by `grpc-status` code.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_grpc_status: BTreeMap<u8, u64>,
    /// Requests hung by all endpoints.
    #[serde(default)]
    pub hung: u64,
    /// Requests answered by a connection reset, by all endpoints.
    #[serde(default)]
    pub reset: u64,
    /// Responses that closed their connection, by all endpoints.
    #[serde(default)]
    pub closed: u64,
    /// Each endpoint's counts, by index.
    pub endpoints: Vec<EndpointCounts>,
}

impl UpstreamCounts {
    /// Sums the endpoints' counts under `name`.
    pub fn from_endpoints(name: impl Into<String>, endpoints: Vec<EndpointCounts>) -> Self {
        let mut by_status = BTreeMap::new();
        for (&code, &n) in endpoints.iter().flat_map(|e| &e.by_status) {
            *by_status.entry(code).or_insert(0) += n;
        }
        let mut by_grpc_status = BTreeMap::new();
        for (&code, &n) in endpoints.iter().flat_map(|e| &e.by_grpc_status) {
            *by_grpc_status.entry(code).or_insert(0) += n;
        }
        Self {
            name: name.into(),
            requests: endpoints.iter().map(|e| e.requests).sum(),
            by_status,
            by_grpc_status,
            hung: endpoints.iter().map(|e| e.hung).sum(),
            reset: endpoints.iter().map(|e| e.reset).sum(),
            closed: endpoints.iter().map(|e| e.closed).sum(),
            endpoints,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_keeps_non_zero_statuses_only() {
        let c = Counters::default();
        c.request();
        c.request();
        c.response(200, 10);
        c.response(503, 0);
        c.response(599, 1);
        c.response(100, 0);
        // Out of range statuses cannot come from a validated behaviour; they are ignored.
        c.response(600, 0);
        c.response(99, 0);
        c.request_hung();
        c.connection_reset();
        c.connection_reset();
        c.response_closed();
        let s = c.snapshot();
        assert_eq!((s.hung, s.reset, s.closed), (1, 2, 1));
        assert_eq!(s.requests, 2);
        assert_eq!(s.bytes, 11);
        let expected: BTreeMap<u16, u64> = [(100, 1), (200, 1), (503, 1), (599, 1)].into();
        assert_eq!(s.by_status, expected);
        c.reset();
        assert_eq!(c.snapshot(), EndpointCounts::default());
    }

    #[test]
    fn connection_guard_tracks_active() {
        let c = Counters::default();
        let a = c.connection();
        let b = c.connection();
        assert_eq!(c.active_connections(), 2);
        drop(a);
        assert_eq!(c.active_connections(), 1);
        c.reset();
        assert_eq!(c.active_connections(), 1, "reset leaves the level alone");
        drop(b);
        assert_eq!(c.active_connections(), 0);
        assert_eq!(c.snapshot().connections, 0);
    }

    #[test]
    fn upstream_sums_endpoints() {
        let e = |requests, s: &[(u16, u64)]| EndpointCounts {
            requests,
            by_status: s.iter().copied().collect(),
            hung: 1,
            reset: requests,
            ..Default::default()
        };
        let u = UpstreamCounts::from_endpoints(
            "b",
            vec![e(3, &[(200, 3)]), e(2, &[(200, 1), (503, 1)])],
        );
        assert_eq!(u.requests, 5);
        assert_eq!(u.by_status, [(200, 4), (503, 1)].into());
        assert_eq!(u.endpoints.len(), 2);
        assert_eq!((u.hung, u.reset, u.closed), (2, 5, 0));
    }

    #[test]
    fn counts_without_chaos_fields_still_read() {
        let old = r#"{"requests":2,"by_status":{"200":2},"bytes":0,"connections":1}"#;
        let counts: EndpointCounts = serde_json::from_str(old).unwrap();
        assert_eq!(
            (counts.requests, counts.hung, counts.reset, counts.closed),
            (2, 0, 0, 0)
        );
        let old = r#"{"name":"b","requests":2,"by_status":{},"endpoints":[]}"#;
        let counts: UpstreamCounts = serde_json::from_str(old).unwrap();
        assert_eq!((counts.hung, counts.reset, counts.closed), (0, 0, 0));
    }
}
