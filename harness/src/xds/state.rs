//! The ADS (State of the World) protocol as a state machine: no I/O, no clock.
//!
//! Inputs are "a snapshot was set", "a stream opened/closed" and "a request arrived", each
//! with the current time as an argument; outputs are the responses to send. The machine is
//! level-triggered: after every input it compares, per stream and type, what Envoy should
//! have with what was last sent, and sends the difference (see [`XdsState::pump`]). That one
//! rule covers the first request, live pushes, new EDS/RDS names and snapshots set before
//! Envoy connected.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use envoy_types::pb::google::protobuf::Any;

use super::log::{NackEvent, PushLogEntry, PushReport, Version};
use super::resources::Resources;
use super::{ResourceType, XdsError};

/// Identifies one ADS stream (one gRPC call).
pub(crate) type StreamId = u64;

/// The parts of a DiscoveryRequest the protocol depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Request {
    pub type_url: String,
    pub version_info: String,
    pub response_nonce: String,
    pub resource_names: Vec<String>,
    /// `error_detail.message` when Envoy NACKs.
    pub error_detail: Option<String>,
}

/// A DiscoveryResponse to send on a stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outgoing {
    pub stream: StreamId,
    pub resource_type: ResourceType,
    pub version: Version,
    pub nonce: String,
    pub resources: Vec<Any>,
}

/// What a request caused.
#[derive(Debug, Default)]
pub(crate) struct Reaction {
    pub responses: Vec<Outgoing>,
    pub nack: Option<NackEvent>,
}

/// Every node's snapshots and every stream's protocol state, plus the push log.
#[derive(Debug, Default)]
pub(crate) struct XdsState {
    nodes: BTreeMap<String, NodeState>,
    /// Which node each open stream belongs to.
    stream_nodes: BTreeMap<StreamId, String>,
    /// Nonces come from one counter, so they are unique per stream and across streams.
    last_nonce: u64,
    log: Vec<PushLogEntry>,
}

#[derive(Debug, Default)]
struct NodeState {
    snapshot: Option<Snapshot>,
    history: BTreeMap<Version, HistoryEntry>,
    streams: BTreeMap<StreamId, StreamState>,
}

#[derive(Debug)]
struct Snapshot {
    version: Version,
    resources: Resources,
    /// Per type, the snapshot version at which its content last changed: the version_info
    /// Envoy gets, so an unchanged type is never pushed again.
    type_versions: [Version; 4],
}

#[derive(Debug)]
struct HistoryEntry {
    set_at: DateTime<Utc>,
    type_versions: [Version; 4],
    /// Per type, the resource names Envoy must hold; empty EDS/RDS sets need no ACK because
    /// Envoy never asks for them.
    names: [BTreeSet<String>; 4],
    applied_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct StreamState {
    types: [TypeState; 4],
}

#[derive(Debug, Default)]
struct TypeState {
    /// Envoy has asked for this type on this stream.
    subscribed: bool,
    /// What Envoy asked for (RDS/EDS only; LDS/CDS are wildcard).
    names: BTreeSet<String>,
    last_sent: Option<Sent>,
    /// The last version Envoy accepted, and the names that response carried.
    acked: Option<(Version, BTreeSet<String>)>,
    /// The last version Envoy rejected, with its message, until it accepts a newer one.
    nacked: Option<(Version, String)>,
}

#[derive(Debug)]
struct Sent {
    version: Version,
    names: BTreeSet<String>,
    nonce: String,
    log_index: usize,
}

impl XdsState {
    /// Installs a new snapshot for `node` and returns its version and the pushes it causes,
    /// in make-before-break order.
    pub(crate) fn set_snapshot(
        &mut self,
        node: &str,
        resources: Resources,
        now: DateTime<Utc>,
    ) -> (Version, Vec<Outgoing>) {
        let state = self.nodes.entry(node.to_owned()).or_default();
        let version = Version(state.snapshot.as_ref().map_or(1, |s| s.version.0 + 1));
        let type_versions = ResourceType::ALL.map(|ty| match &state.snapshot {
            Some(prev) if prev.resources.of(ty) == resources.of(ty) => {
                prev.type_versions[ty as usize]
            }
            _ => version,
        });
        let names = ResourceType::ALL.map(|ty| resources.of(ty).keys().cloned().collect());
        state.history.insert(
            version,
            HistoryEntry {
                set_at: now,
                type_versions,
                names,
                applied_at: None,
            },
        );
        state.snapshot = Some(Snapshot {
            version,
            resources,
            type_versions,
        });
        let streams: Vec<StreamId> = state.streams.keys().copied().collect();
        let mut out = Vec::new();
        for stream in streams {
            out.extend(self.pump(node, stream, now));
        }
        // A snapshot that changes nothing is applied as soon as it is set.
        self.refresh_applied(node, now);
        (version, out)
    }

    /// Registers a new stream for `node` (on its first request, which names the node).
    pub(crate) fn open_stream(&mut self, stream: StreamId, node: &str) {
        self.stream_nodes.insert(stream, node.to_owned());
        let state = self.nodes.entry(node.to_owned()).or_default();
        state.streams.insert(stream, StreamState::default());
    }

    /// Forgets a closed stream. Its unanswered pushes stay in the log without an answer.
    pub(crate) fn close_stream(&mut self, stream: StreamId) {
        if let Some(node) = self.stream_nodes.remove(&stream) {
            if let Some(state) = self.nodes.get_mut(&node) {
                state.streams.remove(&stream);
            }
        }
    }

    /// Handles one request on an open stream.
    pub(crate) fn on_request(
        &mut self,
        stream: StreamId,
        req: &Request,
        now: DateTime<Utc>,
    ) -> Reaction {
        let mut reaction = Reaction::default();
        let Some(ty) = ResourceType::from_type_url(&req.type_url) else {
            // A type we do not serve (e.g. SDS): leave Envoy waiting rather than guess.
            return reaction;
        };
        let Some(node) = self.stream_nodes.get(&stream).cloned() else {
            return reaction;
        };
        let Some(state) = self.nodes.get_mut(&node) else {
            return reaction;
        };
        let Some(ts) = state
            .streams
            .get_mut(&stream)
            .map(|s| &mut s.types[ty as usize])
        else {
            return reaction;
        };

        // Whether to answer again even though Envoy already holds what was last sent.
        let mut resend = false;
        if req.response_nonce.is_empty() {
            // A first request for this type on this stream (Envoy's version_info, if any, is
            // from an earlier stream): send the current content whatever Envoy says it has.
            ts.subscribed = true;
            ts.last_sent = None;
        } else {
            let Some(sent) = ts.last_sent.as_ref() else {
                return reaction;
            };
            if sent.nonce != req.response_nonce {
                // Stale: an answer to a response that a newer one has replaced.
                return reaction;
            }
            let entry = &mut self.log[sent.log_index];
            // Envoy quotes the same nonce again when it only changes the names it wants; the
            // first answer is the one that measures the push.
            let first_answer = entry.acked_at.is_none() && entry.nacked_at.is_none();
            if first_answer {
                entry.ack_latency = (now - entry.sent_at).to_std().ok();
            }
            // A second request quoting an answered nonce means Envoy's watches changed. For
            // EDS that includes a cluster re-created by a CDS update: its new watch waits
            // for an answer, same names or not, and without one Envoy keeps the cluster
            // warming for its initial_fetch_timeout (15 s) before using cached endpoints.
            // A repeated NACK is not answered: the same content would be rejected again.
            resend = !first_answer && !ty.is_wildcard() && req.error_detail.is_none();
            match &req.error_detail {
                None => {
                    if first_answer {
                        entry.acked_at = Some(now);
                    }
                    ts.acked = Some((sent.version, sent.names.clone()));
                    ts.nacked = None;
                }
                Some(message) => {
                    if first_answer {
                        entry.nacked_at = Some(now);
                        entry.error_detail = Some(message.clone());
                    }
                    ts.nacked = Some((sent.version, message.clone()));
                    reaction.nack = first_answer.then(|| NackEvent {
                        node: node.clone(),
                        resource_type: ty,
                        version: sent.version,
                        nonce: sent.nonce.clone(),
                        message: message.clone(),
                        kept_version: req.version_info.clone(),
                        at: now,
                    });
                }
            }
        }
        if !ty.is_wildcard() {
            ts.names = req.resource_names.iter().cloned().collect();
        }
        if resend {
            ts.last_sent = None;
        }
        self.refresh_applied(&node, now);
        reaction.responses = self.pump(&node, stream, now);
        reaction
    }

    /// Whether `version` of `node` is applied: `Ok(Some)` once every type is ACKed on every
    /// open stream of the node, `Err(Nack)` if Envoy rejected part of it, `Ok(None)` meanwhile.
    pub(crate) fn applied(
        &self,
        node: &str,
        version: Version,
    ) -> Result<Option<PushReport>, XdsError> {
        let unknown = || XdsError::UnknownVersion {
            node: node.to_owned(),
            version,
        };
        let state = self.nodes.get(node).ok_or_else(unknown)?;
        let entry = state.history.get(&version).ok_or_else(unknown)?;
        if let Some(applied_at) = entry.applied_at {
            let pushes = self
                .log
                .iter()
                .filter(|e| e.node == node && e.version == version)
                .cloned()
                .collect();
            return Ok(Some(PushReport {
                node: node.to_owned(),
                version,
                set_at: entry.set_at,
                applied_at,
                pushes,
            }));
        }
        for stream in state.streams.values() {
            for ty in ResourceType::ALL {
                let Some((rejected, message)) = &stream.types[ty as usize].nacked else {
                    continue;
                };
                if *rejected >= entry.type_versions[ty as usize] && required(entry, ty) {
                    return Err(XdsError::Nack {
                        node: node.to_owned(),
                        resource_type: ty,
                        version: rejected.to_string(),
                        message: message.clone(),
                    });
                }
            }
        }
        Ok(None)
    }

    /// How many streams `node` has open.
    pub(crate) fn stream_count(&self, node: &str) -> usize {
        self.nodes.get(node).map_or(0, |n| n.streams.len())
    }

    /// Every push so far, in the order sent, with the answers recorded since.
    pub(crate) fn log(&self) -> &[PushLogEntry] {
        &self.log
    }

    /// Sends, for each type in push order, what this stream should have and does not.
    fn pump(&mut self, node: &str, stream: StreamId, now: DateTime<Utc>) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let Some(state) = self.nodes.get_mut(node) else {
            return out;
        };
        let (Some(snap), Some(ss)) = (&state.snapshot, state.streams.get_mut(&stream)) else {
            return out;
        };
        let warm = dependencies_warm(snap, ss);
        for ty in ResourceType::ALL {
            let ts = &mut ss.types[ty as usize];
            if !ts.subscribed {
                continue;
            }
            // Listeners and routes may point at any cluster, so they wait until Envoy has
            // every cluster and its endpoints: otherwise it answers 503 "no cluster".
            if matches!(ty, ResourceType::Listener | ResourceType::Route) && !warm {
                continue;
            }
            let version = snap.type_versions[ty as usize];
            let all = snap.resources.of(ty);
            let names: BTreeSet<String> = if ty.is_wildcard() {
                all.keys().cloned().collect()
            } else {
                ts.names
                    .iter()
                    .filter(|n| all.contains_key(*n))
                    .cloned()
                    .collect()
            };
            if !ty.is_wildcard() && names.is_empty() {
                // Nothing Envoy asked for exists (yet); an empty RDS/EDS answer means nothing.
                continue;
            }
            let needed = match &ts.last_sent {
                None => true,
                Some(sent) => sent.version != version || !names.is_subset(&sent.names),
            };
            if !needed {
                continue;
            }
            if let Some(prev) = &ts.last_sent {
                let entry = &mut self.log[prev.log_index];
                if entry.acked_at.is_none() && entry.nacked_at.is_none() {
                    entry.superseded = true;
                }
            }
            self.last_nonce += 1;
            let nonce = self.last_nonce.to_string();
            let resources = names.iter().filter_map(|n| all.get(n).cloned()).collect();
            self.log.push(PushLogEntry {
                node: node.to_owned(),
                stream,
                resource_type: ty,
                version,
                nonce: nonce.clone(),
                resource_names: names.iter().cloned().collect(),
                sent_at: now,
                acked_at: None,
                nacked_at: None,
                ack_latency: None,
                error_detail: None,
                superseded: false,
            });
            ts.last_sent = Some(Sent {
                version,
                names,
                nonce: nonce.clone(),
                log_index: self.log.len() - 1,
            });
            out.push(Outgoing {
                stream,
                resource_type: ty,
                version,
                nonce,
                resources,
            });
        }
        out
    }

    /// Marks every not-yet-applied version of `node` that now is.
    fn refresh_applied(&mut self, node: &str, now: DateTime<Utc>) {
        let Some(state) = self.nodes.get_mut(node) else {
            return;
        };
        if state.streams.is_empty() {
            return;
        }
        for entry in state
            .history
            .values_mut()
            .filter(|e| e.applied_at.is_none())
        {
            let done = state.streams.values().all(|s| {
                ResourceType::ALL
                    .into_iter()
                    .all(|ty| !required(entry, ty) || holds(entry, ty, &s.types[ty as usize]))
            });
            if done {
                entry.applied_at = Some(now);
            }
        }
    }
}

/// LDS and CDS are always subscribed; EDS and RDS only when there is something to name.
fn required(entry: &HistoryEntry, ty: ResourceType) -> bool {
    ty.is_wildcard() || !entry.names[ty as usize].is_empty()
}

/// Whether a stream has accepted `entry`'s content of `ty` (or newer content).
fn holds(entry: &HistoryEntry, ty: ResourceType, ts: &TypeState) -> bool {
    let wanted = entry.type_versions[ty as usize];
    match &ts.acked {
        Some((v, _)) if *v > wanted => true,
        Some((v, names)) if *v == wanted => {
            ty.is_wildcard() || entry.names[ty as usize].is_subset(names)
        }
        _ => false,
    }
}

/// Whether the stream has ACKed the current clusters and, for each, its endpoints.
fn dependencies_warm(snap: &Snapshot, ss: &StreamState) -> bool {
    let cds = &ss.types[ResourceType::Cluster as usize];
    if !cds.subscribed {
        // Not an Envoy that takes clusters from us: nothing to wait for.
        return true;
    }
    let cds_version = snap.type_versions[ResourceType::Cluster as usize];
    if !matches!(&cds.acked, Some((v, _)) if *v == cds_version) {
        return false;
    }
    let wanted = snap.resources.of(ResourceType::Endpoint);
    if wanted.is_empty() {
        return true;
    }
    let eds_version = snap.type_versions[ResourceType::Endpoint as usize];
    let eds = &ss.types[ResourceType::Endpoint as usize];
    matches!(&eds.acked, Some((v, names)) if *v == eds_version
        && wanted.keys().all(|n| names.contains(n)))
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
