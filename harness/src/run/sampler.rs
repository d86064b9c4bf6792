//! Envoy's stats over time: the counters a scenario cares about, sampled about once a second
//! and right before each timeline event, so a gate's window can start or end exactly at an
//! event instead of up to a second away from it.
//!
//! A step keeps every sample until it ends, so the series is held compactly: each stat name
//! is stored once, and a sample is its values plus the list of name ids it has (shared with
//! the previous sample when the same stats were present, as they nearly always are). The
//! result's map-per-sample form is built once, when the step ends.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;
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
    series: RefCell<Series>,
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
            series: RefCell::new(Series::default()),
        }
    }

    /// Takes one sample now; an admin error (Envoy gone) is logged and skipped.
    pub async fn sample(&self) {
        let t_s = self.origin.elapsed().as_secs_f64();
        match self.admin.stats_matching(&self.filter).await {
            Ok(stats) => self.series.borrow_mut().push(t_s, stats),
            Err(e) => tracing::debug!("stats sample skipped: {e}"),
        }
    }

    /// The samples in time order.
    pub fn into_series(self) -> Vec<StatSample> {
        self.series.into_inner().into_samples()
    }
}

/// The samples of one step, with each stat name stored once.
#[derive(Default)]
struct Series {
    /// Every stat name seen, with its id (its position in the table).
    ids: BTreeMap<String, u32>,
    rows: Vec<Row>,
}

/// One sample: the ids of the stats it has, ascending by name, and their values.
struct Row {
    t_s: f64,
    names: Arc<[u32]>,
    values: Box<[u64]>,
}

impl Series {
    fn push(&mut self, t_s: f64, stats: BTreeMap<String, u64>) {
        let mut names = Vec::with_capacity(stats.len());
        let mut values = Vec::with_capacity(stats.len());
        for (name, value) in stats {
            let next = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
            names.push(*self.ids.entry(name).or_insert(next));
            values.push(value);
        }
        let names = match self.rows.last() {
            Some(prev) if *prev.names == names[..] => Arc::clone(&prev.names),
            _ => Arc::from(names),
        };
        self.rows.push(Row {
            t_s,
            names,
            values: values.into_boxed_slice(),
        });
    }

    /// The samples in time order, as the result holds them.
    fn into_samples(self) -> Vec<StatSample> {
        let mut table = vec![""; self.ids.len()];
        for (name, &id) in &self.ids {
            table[id as usize] = name;
        }
        let mut rows = self.rows;
        rows.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
        rows.into_iter()
            .map(|r| StatSample {
                t_s: r.t_s,
                stats: r
                    .names
                    .iter()
                    .zip(r.values.iter())
                    .map(|(&id, &v)| (table[id as usize].to_string(), v))
                    .collect(),
            })
            .collect()
    }

    /// Heap bytes a row keeps of its own (its name list is shared when unchanged).
    #[cfg(test)]
    fn own_bytes(&self, i: usize) -> usize {
        let r = &self.rows[i];
        let shared = i > 0 && Arc::ptr_eq(&r.names, &self.rows[i - 1].names);
        r.values.len() * 8 + if shared { 0 } else { r.names.len() * 4 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn series_round_trips_and_stores_each_name_once() {
        let mut s = Series::default();
        let first = stats(&[("cluster.a.upstream_rq", 1), ("server.live", 1)]);
        let later = stats(&[("cluster.a.upstream_rq", 9), ("server.live", 1)]);
        let grown = stats(&[
            ("cluster.a.upstream_rq", 12),
            ("cluster.b.x", 3),
            ("server.live", 0),
        ]);
        s.push(0.0, first.clone());
        s.push(2.0, later.clone());
        // A sample taken before an event lands out of order; the result is in time order.
        s.push(1.5, later.clone());
        s.push(3.0, grown.clone());
        assert_eq!(s.ids.len(), 3, "each name stored once");
        assert_eq!(
            s.own_bytes(1),
            16,
            "an unchanged set of stats shares its names"
        );
        assert_eq!(
            s.own_bytes(3),
            24 + 12,
            "a changed set has its own name list"
        );
        let out = s.into_samples();
        let got: Vec<_> = out.iter().map(|x| (x.t_s, x.stats.clone())).collect();
        assert_eq!(
            got,
            [
                (0.0, first),
                (1.5, later.clone()),
                (2.0, later),
                (3.0, grown)
            ]
        );
    }
}
