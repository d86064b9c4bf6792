//! The chaos timeline: events at offsets from a step's start, applied in order while the
//! load runs. Policy changes go out over xDS to every Envoy whose config they change (the
//! one proxy, the egress sidecar, or the integration phase's sidecars that route to the
//! changed route's or cluster's upstream) and wait for each one's ACK; mock changes swap the
//! endpoints' behaviour in place. Every event is recorded with the time it really happened.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use gauntlet_reports::EventRecord;
use tokio::sync::oneshot;

use super::config::{self, Live};
use super::mock_fleet::MockFleet;
use super::sampler::StatSampler;
use super::world::ACK_DEADLINE;
use crate::scenario::{RouteTarget, Scenario, TimelineAction, TimelineEvent};
use crate::xds::model::EnvoyConfig;
use crate::xds::XdsControl;

/// Builds the config of every node a timeline changes from the live state: `(node id,
/// config)`, one node in the benchmark and single-service phases, a sidecar per service in
/// the integration phase.
pub(super) type NodeConfigs<'a> =
    Box<dyn Fn(&Live) -> Vec<(String, EnvoyConfig)> + Send + Sync + 'a>;

/// The timeline of one run, with the live copy of the routes it changes.
pub(super) struct Timeline<'a> {
    scenario: &'a Scenario,
    control: XdsControl,
    configs: NodeConfigs<'a>,
    /// What each node was last given, so that a change goes only to the nodes it changes.
    given: BTreeMap<String, EnvoyConfig>,
    /// The nodes whose config the last push changed, named in the event's record when the
    /// timeline has several.
    pushed_to: Vec<String>,
    live: Live,
    records: Vec<EventRecord>,
    origin: Option<oneshot::Sender<Instant>>,
}

impl<'a> Timeline<'a> {
    /// The timeline of one Envoy (`node`) whose whole config [`config::envoy_config`] builds.
    pub fn new(
        scenario: &'a Scenario,
        control: XdsControl,
        node: &'a str,
        listener: SocketAddr,
        live: Live,
    ) -> Self {
        let configs: NodeConfigs<'a> = Box::new(move |live: &Live| {
            vec![(
                node.to_string(),
                config::envoy_config(scenario, listener, live),
            )]
        });
        Self::for_nodes(scenario, control, live, configs)
    }

    /// The timeline of several Envoys, each given what `configs` builds for it. `live` must
    /// be what their current configs were built from: a change is pushed to the nodes whose
    /// config it changes, and the push waits for each of them to ACK.
    pub fn for_nodes(
        scenario: &'a Scenario,
        control: XdsControl,
        live: Live,
        configs: NodeConfigs<'a>,
    ) -> Self {
        let given = configs(&live).into_iter().collect();
        Self {
            scenario,
            control,
            configs,
            given,
            pushed_to: Vec::new(),
            live,
            records: Vec::new(),
            origin: None,
        }
    }

    /// The step's origin, sent when the timeline starts (the phases take the first snapshot
    /// of their hop figures at the end of the warmup, on the step's clock).
    pub fn origin(&mut self) -> oneshot::Receiver<Instant> {
        let (tx, rx) = oneshot::channel();
        self.origin = Some(tx);
        rx
    }

    /// Applies every event at its offset from `origin`. Returns at the first failure (a NACK,
    /// a push Envoy never ACKs); the events applied so far stay recorded.
    pub async fn run(
        &mut self,
        origin: Instant,
        step: &str,
        mocks: &MockFleet,
        stats: Option<&StatSampler>,
    ) -> anyhow::Result<()> {
        if let Some(tx) = self.origin.take() {
            let _ = tx.send(origin);
        }
        let events = self.scenario.timeline.clone();
        for event in &events {
            tokio::time::sleep_until((origin + event.at).into()).await;
            // Envoy's counters as they stand just before the change, so windows that end at
            // the event read exact figures.
            if let Some(s) = stats {
                s.sample().await;
            }
            let applied = origin.elapsed();
            let mut record = EventRecord {
                label: event.label.clone(),
                action: describe(event),
                at_s: event.at.as_secs_f64(),
                applied_s: applied.as_secs_f64(),
                step: step.to_string(),
                ack_ms: None,
                error: None,
            };
            self.pushed_to.clear();
            let outcome = self.apply(event, mocks).await;
            match outcome {
                Ok(ack) => record.ack_ms = ack.map(|d| d.as_secs_f64() * 1e3),
                Err(e) => record.error = Some(format!("{e:#}")),
            }
            self.name_pushed(&mut record);
            let failed = record.error.clone();
            self.records.push(record);
            if let Some(e) = failed {
                return Err(anyhow!("timeline event `{}` failed: {e}", event.label));
            }
        }
        Ok(())
    }

    /// Names the nodes an xDS push changed in its record, when the timeline has several.
    fn name_pushed(&self, record: &mut EventRecord) {
        if self.given.len() < 2 || record.ack_ms.is_none() {
            return;
        }
        record.action = match self.pushed_to.as_slice() {
            [] => format!("{}: no node's config changes", record.action),
            nodes => format!("{} to {}", record.action, nodes.join(", ")),
        };
    }

    /// The events as they happened.
    pub fn into_records(self) -> Vec<EventRecord> {
        self.records
    }

    async fn apply(
        &mut self,
        event: &TimelineEvent,
        mocks: &MockFleet,
    ) -> anyhow::Result<Option<Duration>> {
        match &event.action {
            TimelineAction::SetRoute { route, new } => {
                let r = self
                    .live
                    .routes
                    .get_mut(*route)
                    .ok_or_else(|| anyhow!("route {route} does not exist"))?;
                *r = new.clone();
                self.push().await.map(Some)
            }
            TimelineAction::SetCluster { cluster, policy } => {
                self.live.clusters.insert(cluster.clone(), policy.clone());
                self.push().await.map(Some)
            }
            TimelineAction::SetUpstream {
                upstream,
                endpoints,
                behavior,
            } => {
                // Bounded: a mock container's control call gives up after a few seconds.
                mocks
                    .set_behavior(upstream, endpoints.as_deref(), behavior)
                    .await
                    .with_context(|| format!("changing upstream `{upstream}`"))?;
                Ok(None)
            }
            TimelineAction::SetEndpointsUp {
                upstream,
                endpoints,
                up,
            } => {
                mocks
                    .set_up(upstream, endpoints, *up)
                    .await
                    .with_context(|| format!("taking endpoints of `{upstream}` up/down"))?;
                Ok(None)
            }
            TimelineAction::SetEndpointCount { upstream, count } => {
                let addrs = mocks
                    .scale_to(upstream, *count)
                    .await
                    .with_context(|| format!("scaling upstream `{upstream}`"))?;
                self.live.endpoints.insert(upstream.clone(), addrs);
                self.push().await.map(Some)
            }
        }
    }

    /// Pushes the live config to every node it changes (to every node when it changes none,
    /// which then applies at once) and waits for each to ACK it; the time that took.
    async fn push(&mut self) -> anyhow::Result<Duration> {
        let configs = (self.configs)(&self.live);
        let changed: Vec<&(String, EnvoyConfig)> = configs
            .iter()
            .filter(|(node, cfg)| self.given.get(node) != Some(cfg))
            .collect();
        self.pushed_to = changed.iter().map(|(node, _)| node.clone()).collect();
        let targets = if changed.is_empty() {
            configs.iter().collect()
        } else {
            changed
        };
        let sent = Instant::now();
        let mut versions = Vec::with_capacity(targets.len());
        for (node, cfg) in &targets {
            let version = self
                .control
                .set_config(node, cfg)
                .with_context(|| format!("building the changed configuration of `{node}`"))?;
            versions.push((node, version));
        }
        // All set before any wait: the Envoys apply their changes side by side.
        for (node, version) in versions {
            self.control
                .wait_applied(node, version, ACK_DEADLINE)
                .await
                .with_context(|| format!("pushing the change to `{node}`"))?;
        }
        for (node, cfg) in targets {
            self.given.insert(node.clone(), cfg.clone());
        }
        Ok(sent.elapsed())
    }
}

/// The event's action in words, for the result and the terminal.
fn describe(event: &TimelineEvent) -> String {
    match &event.action {
        TimelineAction::SetRoute { route, new } => {
            let to = match &new.target {
                RouteTarget::Cluster(c) => c.clone(),
                RouteTarget::Weighted(w) => w
                    .iter()
                    .map(|(c, n)| format!("{c}={n}"))
                    .collect::<Vec<_>>()
                    .join(","),
            };
            format!(
                "route {route} ({}) → {to}, policy updated (xDS push)",
                new.name
            )
        }
        TimelineAction::SetCluster { cluster, .. } => {
            format!("cluster {cluster}: policies updated (xDS push)")
        }
        TimelineAction::SetUpstream {
            upstream,
            endpoints,
            behavior,
        } => {
            let statuses: Vec<String> = behavior
                .statuses
                .0
                .iter()
                .map(|(c, w)| format!("{c}:{:.1}%", w * 100.0))
                .collect();
            let chaos = if behavior.chaos.is_off() {
                String::new()
            } else {
                format!(
                    ", chaos {}",
                    gauntlet_mocks::spec::format_chaos(&behavior.chaos)
                )
            };
            format!(
                "upstream {upstream} {}: statuses {}, latency {}{chaos}",
                which(endpoints.as_deref()),
                statuses.join(" "),
                gauntlet_mocks::spec::format_latency(&behavior.latency)
            )
        }
        TimelineAction::SetEndpointsUp {
            upstream,
            endpoints,
            up,
        } => format!(
            "upstream {upstream} {} {}",
            which(Some(endpoints)),
            if *up {
                "up"
            } else {
                "down (refusing connections)"
            }
        ),
        TimelineAction::SetEndpointCount { upstream, count } => {
            format!("upstream {upstream} scaled to {count} endpoints (EDS push)")
        }
    }
}

fn which(endpoints: Option<&[u32]>) -> String {
    match endpoints {
        Some(e) => format!("endpoints {e:?}"),
        None => "all endpoints".to_string(),
    }
}
