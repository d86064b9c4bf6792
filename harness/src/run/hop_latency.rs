//! Latency percentiles of one measured window, from Envoy's cumulative histograms.
//!
//! Envoy keeps each histogram since it started, and the quantiles it computes are over all
//! of it: an edge's p99 read from them mixes in the baseline step's calls (which cross the
//! same sidecars) and the warmup. Its admin API also lists the histogram's bins
//! (`/stats?format=json&histogram_buckets=detailed`: `totals`, each bin a `lower_bound`, a
//! `width` and the `count` of samples since Envoy started). Two snapshots of the bins, at
//! the start of the measured part of a step and at its end, give by subtraction the bins of
//! exactly the samples recorded in between, and the percentiles are read from those.
//!
//! Resolution: Envoy's own bins, log-linear with two significant digits (`[1, 1.1)`,
//! `[12, 13)`, `[250, 260)`: a bin is at most a tenth of its lower bound wide) plus one bin
//! for zero. A percentile is placed within its bin by linear interpolation over the bin's
//! width, as Envoy does for its own quantiles, so it is exact to within one bin. Envoy
//! records `downstream_rq_time` in whole milliseconds (truncated), so below 10 ms the
//! samples sit at the integers: `2.05` reads "2 ms and some", and `0` "under 1 ms".

use std::collections::BTreeMap;

use serde_json::Value;

/// One bin of an Envoy histogram: the samples in `[lower, lower + width)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Bin {
    pub lower: f64,
    pub width: f64,
    pub count: u64,
}

/// A histogram's bins in ascending order, one per lower bound.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Bins(Vec<Bin>);

/// Every histogram of one Envoy by name.
pub(super) type Histograms = BTreeMap<String, Bins>;

impl Bins {
    /// Bins in any order; two with the same lower bound are added together.
    pub fn new(bins: impl IntoIterator<Item = Bin>) -> Self {
        let mut by_lower: BTreeMap<u64, Bin> = BTreeMap::new();
        for b in bins.into_iter().filter(|b| b.lower.is_finite()) {
            by_lower
                .entry(order_key(b.lower))
                .and_modify(|x| x.count += b.count)
                .or_insert(b);
        }
        Self(by_lower.into_values().collect())
    }

    /// How many samples the bins hold.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|b| b.count).sum()
    }

    /// The samples recorded after `earlier` was taken: each bin's count less the same
    /// bin's count then (a bin absent then counts from zero).
    pub fn since(&self, earlier: &Bins) -> Bins {
        let before: BTreeMap<u64, u64> = earlier
            .0
            .iter()
            .map(|b| (order_key(b.lower), b.count))
            .collect();
        Bins(
            self.0
                .iter()
                .map(|b| Bin {
                    count: b
                        .count
                        .saturating_sub(before.get(&order_key(b.lower)).copied().unwrap_or(0)),
                    ..*b
                })
                .filter(|b| b.count > 0)
                .collect(),
        )
    }

    /// The `q` quantile (0..=1) of the samples, interpolated within the bin its rank falls
    /// in; `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        let filled = self.0.iter().filter(|b| b.count > 0);
        let mut last = None;
        for b in filled {
            if (below + b.count) as f64 >= rank {
                let within = ((rank - below as f64) / b.count as f64).clamp(0.0, 1.0);
                return Some(b.lower + b.width * within);
            }
            below += b.count;
            last = Some(b);
        }
        last.map(|b| b.lower + b.width)
    }
}

/// A key that sorts like the (finite) float: the sign bit flipped for positives, every bit
/// for negatives.
fn order_key(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 0 {
        bits | (1 << 63)
    } else {
        !bits
    }
}

/// The `totals` of every histogram in Envoy's `/stats?format=json&histogram_buckets=detailed`;
/// empty when the text is not that JSON (the caller then reports no latency).
pub(super) fn parse_detailed(text: &str) -> Histograms {
    let mut out = Histograms::new();
    let Ok(json) = serde_json::from_str::<Value>(text) else {
        return out;
    };
    let stats = json["stats"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let details = stats
        .iter()
        .filter_map(|s| s["histograms"]["details"].as_array())
        .flatten();
    for d in details {
        let Some(name) = d["name"].as_str() else {
            continue;
        };
        let bins = d["totals"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| {
                Some(Bin {
                    lower: b["lower_bound"].as_f64()?,
                    width: b["width"].as_f64().unwrap_or(0.0),
                    count: b["count"].as_u64()?,
                })
            });
        out.insert(name.to_string(), Bins::new(bins));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bins(list: &[(f64, f64, u64)]) -> Bins {
        Bins::new(list.iter().map(|&(lower, width, count)| Bin {
            lower,
            width,
            count,
        }))
    }

    #[test]
    fn reads_the_totals_of_envoys_detailed_histograms() {
        let text = r#"{"stats":[{"name":"c","value":3},{"histograms":{
            "supported_percentiles":[0,25,50,75,90,95,99,99.5,99.9,100],
            "details":[{"name":"http.out_db.downstream_rq_time",
              "totals":[{"lower_bound":2,"width":0.1,"count":7},{"lower_bound":0,"width":0,"count":3}],
              "intervals":[{"lower_bound":2,"width":0.1,"count":1}],
              "percentiles":[{"cumulative":0,"interval":0}]}]}}]}"#;
        let h = parse_detailed(text);
        let b = &h["http.out_db.downstream_rq_time"];
        assert_eq!(b.count(), 10);
        assert_eq!(b.0[0].lower, 0.0);
        assert_eq!(b.0[1].count, 7);
        assert!(parse_detailed("not json").is_empty());
        assert!(parse_detailed(r#"{"stats":[]}"#).is_empty());
    }

    #[test]
    fn quantiles_interpolate_within_the_bin() {
        // 100 samples: 50 at 1 ms, 40 at 2 ms, 10 at 12 ms.
        let b = bins(&[(1.0, 0.1, 50), (2.0, 0.1, 40), (12.0, 1.0, 10)]);
        // Rank 50 is the last sample of the first bin: its upper edge.
        assert!((b.quantile(0.5).unwrap() - 1.1).abs() < 1e-9);
        // Rank 99 is the 9th of 10 samples in [12, 13).
        assert!((b.quantile(0.99).unwrap() - 12.9).abs() < 1e-9);
        assert_eq!(b.quantile(0.0), Some(1.0));
        assert_eq!(b.quantile(1.0), Some(13.0));
        assert_eq!(Bins::default().quantile(0.5), None);
        // The zero bin has no width: everything under 1 ms reads 0.
        assert_eq!(bins(&[(0.0, 0.0, 4)]).quantile(0.99), Some(0.0));
    }

    #[test]
    fn the_window_leaves_out_what_was_recorded_before_it() {
        // Before the step: 1000 slow samples (a baseline through the same listener).
        let before = bins(&[(1.0, 0.1, 10), (50.0, 1.0, 990)]);
        // After it: 200 more, all at 1 ms.
        let after = bins(&[(1.0, 0.1, 210), (50.0, 1.0, 990)]);
        let window = after.since(&before);
        assert_eq!(window.count(), 200);
        let p99 = window.quantile(0.99).unwrap();
        assert!((1.0..1.1).contains(&p99), "{p99}");
        // The cumulative histogram would have put the p99 among the baseline's samples.
        assert!(after.quantile(0.99).unwrap() >= 50.0);
    }

    #[test]
    fn a_bin_new_in_the_window_counts_from_zero_and_emptied_bins_go() {
        let before = bins(&[(3.0, 0.1, 5)]);
        let after = bins(&[(3.0, 0.1, 5), (7.0, 0.1, 2)]);
        let w = after.since(&before);
        assert_eq!(w, bins(&[(7.0, 0.1, 2)]));
        // A restarted Envoy (fewer samples than before) gives no negative counts.
        assert_eq!(before.since(&after).count(), 0);
    }

    #[test]
    fn bins_sort_by_value_and_merge_equal_bounds() {
        let b = bins(&[(10.0, 1.0, 1), (0.0, 0.0, 1), (2.5, 0.1, 1), (10.0, 1.0, 2)]);
        let lowers: Vec<f64> = b.0.iter().map(|x| x.lower).collect();
        assert_eq!(lowers, [0.0, 2.5, 10.0]);
        assert_eq!(b.0[2].count, 3);
    }
}
