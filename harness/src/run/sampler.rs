//! Envoy's stats over time: the counters a scenario cares about, sampled about once a second
//! and right before each timeline event, so a gate's window can start or end exactly at an
//! event instead of up to a second away from it.

use std::cell::RefCell;
use std::time::Instant;

use gauntlet_reports::StatSample;

use crate::envoy::AdminClient;
use crate::scenario::Scenario;

/// Samples its scenario's clusters, the ingress HTTP stats and server memory.
pub(super) struct StatSampler {
    admin: AdminClient,
    filter: String,
    origin: Instant,
    // The periodic sampler and the timeline share it within one task; no borrow is held
    // across an await.
    series: RefCell<Vec<StatSample>>,
}

impl StatSampler {
    pub fn new(scenario: &Scenario, admin: AdminClient, origin: Instant) -> Self {
        // Upstream names are [A-Za-z0-9_-], so they need no escaping in the regex.
        let clusters: Vec<&str> = scenario.upstreams.iter().map(|u| u.name.as_str()).collect();
        let filter = format!(
            "^(cluster\\.({})\\.|http\\.{}\\.|server\\.(memory_|live|concurrency))",
            clusters.join("|"),
            super::config::STAT_PREFIX
        );
        Self {
            // A sample is worth less than a second of waiting on a stalled Envoy.
            admin: admin.with_timeout(std::time::Duration::from_secs(1)),
            filter,
            origin,
            series: RefCell::new(Vec::new()),
        }
    }

    /// Takes one sample now; an admin error (Envoy gone) is logged and skipped.
    pub async fn sample(&self) {
        let t_s = self.origin.elapsed().as_secs_f64();
        match self.admin.stats_matching(&self.filter).await {
            Ok(stats) => self.series.borrow_mut().push(StatSample { t_s, stats }),
            Err(e) => tracing::debug!("stats sample skipped: {e}"),
        }
    }

    /// The samples in time order.
    pub fn into_series(self) -> Vec<StatSample> {
        let mut series = self.series.into_inner();
        series.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
        series
    }
}
