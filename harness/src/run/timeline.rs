//! The chaos timeline: events at offsets from a step's start, applied in order while the
//! load runs. Policy changes go out over xDS and wait for Envoy's ACK; mock changes swap the
//! endpoints' behaviour in place. Every event is recorded with the time it really happened.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use gauntlet_mocks::UpstreamHandle;
use gauntlet_reports::EventRecord;

use super::config::{self, Live};
use super::sampler::StatSampler;
use super::world::ACK_DEADLINE;
use crate::scenario::{RouteTarget, Scenario, TimelineAction, TimelineEvent};
use crate::xds::XdsControl;

/// The timeline of one run, with the live copy of the routes it changes.
pub(super) struct Timeline<'a> {
    scenario: &'a Scenario,
    control: XdsControl,
    node: &'static str,
    listener: SocketAddr,
    live: Live,
    records: Vec<EventRecord>,
}

impl<'a> Timeline<'a> {
    pub fn new(
        scenario: &'a Scenario,
        control: XdsControl,
        node: &'static str,
        listener: SocketAddr,
        live: Live,
    ) -> Self {
        Self {
            scenario,
            control,
            node,
            listener,
            live,
            records: Vec::new(),
        }
    }

    /// Applies every event at its offset from `origin`. Returns at the first failure (a NACK,
    /// a push Envoy never ACKs); the events applied so far stay recorded.
    pub async fn run(
        &mut self,
        origin: Instant,
        step: &str,
        mocks: &BTreeMap<String, UpstreamHandle>,
        stats: Option<&StatSampler>,
    ) -> anyhow::Result<()> {
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
            let outcome = self.apply(event, mocks).await;
            match outcome {
                Ok(ack) => record.ack_ms = ack.map(|d| d.as_secs_f64() * 1e3),
                Err(e) => record.error = Some(format!("{e:#}")),
            }
            let failed = record.error.clone();
            self.records.push(record);
            if let Some(e) = failed {
                return Err(anyhow!("timeline event `{}` failed: {e}", event.label));
            }
        }
        Ok(())
    }

    /// The events as they happened.
    pub fn into_records(self) -> Vec<EventRecord> {
        self.records
    }

    async fn apply(
        &mut self,
        event: &TimelineEvent,
        mocks: &BTreeMap<String, UpstreamHandle>,
    ) -> anyhow::Result<Option<Duration>> {
        let mock = |name: &str| {
            mocks
                .get(name)
                .ok_or_else(|| anyhow!("upstream `{name}` is not running"))
        };
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
                mock(upstream)?
                    .set_behavior(endpoints.as_deref(), behavior.clone())
                    .with_context(|| format!("changing upstream `{upstream}`"))?;
                Ok(None)
            }
            TimelineAction::SetEndpointsUp {
                upstream,
                endpoints,
                up,
            } => {
                mock(upstream)?
                    .set_up(endpoints, *up)
                    .await
                    .with_context(|| format!("taking endpoints of `{upstream}` up/down"))?;
                Ok(None)
            }
            TimelineAction::SetEndpointCount { upstream, count } => {
                let addrs = mock(upstream)?
                    .scale_to(*count)
                    .await
                    .with_context(|| format!("scaling upstream `{upstream}`"))?;
                self.live.endpoints.insert(upstream.clone(), addrs);
                self.push().await.map(Some)
            }
        }
    }

    /// Pushes the live config and waits for Envoy to ACK it; the time it took.
    async fn push(&mut self) -> anyhow::Result<Duration> {
        let cfg = config::envoy_config(self.scenario, self.listener, &self.live);
        let sent = Instant::now();
        let version = self
            .control
            .set_config(self.node, &cfg)
            .context("building the changed configuration")?;
        self.control
            .wait_applied(self.node, version, ACK_DEADLINE)
            .await
            .context("pushing the change")?;
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
