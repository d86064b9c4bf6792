//! Plain records of what the control plane did: versions, pushes, ACKs and NACKs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

use super::ResourceType;

/// A snapshot version, counted per node from 1. It is also the `version_info` Envoy sees
/// (each type carries the version at which its content last changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Version(pub u64);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One DiscoveryResponse sent to Envoy, and what Envoy said about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushLogEntry {
    /// The Envoy node it went to.
    pub node: String,
    /// The ADS stream it went out on (streams are numbered from 1 per control plane).
    pub stream: u64,
    /// What it carried.
    #[serde(rename = "type")]
    pub resource_type: ResourceType,
    /// The `version_info` it carried.
    pub version: Version,
    /// Its nonce, which Envoy's answer quotes.
    pub nonce: String,
    /// Names of the resources in the response, sorted.
    pub resource_names: Vec<String>,
    /// When it was handed to the stream.
    pub sent_at: DateTime<Utc>,
    /// When Envoy accepted it.
    pub acked_at: Option<DateTime<Utc>>,
    /// When Envoy rejected it.
    pub nacked_at: Option<DateTime<Utc>>,
    /// Sent → ACK (or NACK).
    #[serde(rename = "ack_latency_ms", serialize_with = "millis")]
    pub ack_latency: Option<Duration>,
    /// Envoy's message when it rejected the push.
    pub error_detail: Option<String>,
    /// A newer push of the same type went out before Envoy answered this one, so Envoy's
    /// answer to it is stale and never recorded.
    pub superseded: bool,
}

/// A snapshot version that Envoy has applied: every type of it ACKed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushReport {
    /// The Envoy node.
    pub node: String,
    /// The applied snapshot version.
    pub version: Version,
    /// When the snapshot was set (not when Envoy connected, if it was not yet connected).
    pub set_at: DateTime<Utc>,
    /// When the last ACK needed to complete it arrived.
    pub applied_at: DateTime<Utc>,
    /// The pushes that carried this version's changes, in the order they were sent.
    pub pushes: Vec<PushLogEntry>,
}

impl PushReport {
    /// Set → applied: how long the change took to be accepted everywhere.
    pub fn latency(&self) -> Duration {
        (self.applied_at - self.set_at).to_std().unwrap_or_default()
    }
}

/// Envoy rejected a push. Sent to NACK subscribers so a run can stop with Envoy's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NackEvent {
    /// The Envoy node that rejected the push.
    pub node: String,
    /// The type of the rejected push.
    #[serde(rename = "type")]
    pub resource_type: ResourceType,
    /// The rejected version.
    pub version: Version,
    /// The rejected push's nonce (find it in the push log).
    pub nonce: String,
    /// Envoy's `error_detail` message.
    pub message: String,
    /// The version Envoy keeps serving (its `version_info`; empty if it never accepted one).
    pub kept_version: String,
    /// When the NACK arrived.
    pub at: DateTime<Utc>,
}

fn millis<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&(d.as_secs_f64() * 1000.0)),
        None => s.serialize_none(),
    }
}
