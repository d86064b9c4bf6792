//! The chaos timeline: events at offsets from a step's start, applied in order while the
//! load runs. Policy changes go out over xDS and wait for Envoy's ACK; mock changes swap the
//! endpoints' behaviour in place. Every event is recorded with the time it really happened.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use gauntlet_mocks::UpstreamHandle;
use gauntlet_reports::EventRecord;

use super::config;
use crate::scenario::{Route, RouteTarget, Scenario, TimelineAction, TimelineEvent};
use crate::xds::XdsControl;

/// How long a timeline push may wait for its ACK before the run fails.
const ACK_DEADLINE: Duration = Duration::from_secs(10);

/// The timeline of one run, with the live copy of the routes it changes.
pub(super) struct Timeline<'a> {
    scenario: &'a Scenario,
    control: XdsControl,
    node: &'static str,
    listener: SocketAddr,
    endpoints: BTreeMap<String, Vec<SocketAddr>>,
    routes: Vec<Route>,
    records: Vec<EventRecord>,
}

impl<'a> Timeline<'a> {
    pub fn new(
        scenario: &'a Scenario,
        control: XdsControl,
        node: &'static str,
        listener: SocketAddr,
        endpoints: BTreeMap<String, Vec<SocketAddr>>,
    ) -> Self {
        Self {
            scenario,
            control,
            node,
            listener,
            endpoints,
            routes: scenario.routes.clone(),
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
    ) -> anyhow::Result<()> {
        let events = self.scenario.timeline.clone();
        for event in &events {
            tokio::time::sleep_until((origin + event.at).into()).await;
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
        match &event.action {
            TimelineAction::SetRoute { route, new } => {
                let r = self
                    .routes
                    .get_mut(*route)
                    .ok_or_else(|| anyhow!("route {route} does not exist"))?;
                *r = new.clone();
                let cfg = config::envoy_config(
                    self.scenario,
                    self.listener,
                    &self.endpoints,
                    &self.routes,
                );
                let sent = Instant::now();
                let version = self
                    .control
                    .set_config(self.node, &cfg)
                    .context("building the changed configuration")?;
                self.control
                    .wait_applied(self.node, version, ACK_DEADLINE)
                    .await
                    .context("pushing the route change")?;
                Ok(Some(sent.elapsed()))
            }
            TimelineAction::SetUpstream {
                upstream,
                endpoints,
                behavior,
            } => {
                let handle = mocks
                    .get(upstream)
                    .ok_or_else(|| anyhow!("upstream `{upstream}` is not running"))?;
                handle
                    .set_behavior(endpoints.as_deref(), behavior.clone())
                    .with_context(|| format!("changing upstream `{upstream}`"))?;
                Ok(None)
            }
            other => Err(anyhow!("timeline action not supported yet: {other:?}")),
        }
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
            format!("route {route} → {to} (xDS push)")
        }
        TimelineAction::SetUpstream {
            upstream,
            endpoints,
            behavior,
        } => {
            let which = match endpoints {
                Some(e) => format!("endpoints {e:?}"),
                None => "all endpoints".to_string(),
            };
            let statuses: Vec<String> = behavior
                .statuses
                .0
                .iter()
                .map(|(c, w)| format!("{c}:{:.1}%", w * 100.0))
                .collect();
            format!(
                "upstream {upstream} {which}: statuses {}, latency {:?}",
                statuses.join(" "),
                behavior.latency
            )
        }
        other => format!("{other:?}"),
    }
}
