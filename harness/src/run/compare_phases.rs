//! `compare_with:`: this run's hops beside a stored run's, so that an integration run that
//! is slow can be held against the single-service run of the same service to see which hop
//! is to blame. A hop is matched to the stored hop with the same caller and callee, else to
//! the only stored hop into the same callee (the entry's caller is `load` in one phase and
//! another service in the other). The stored run is read before anything starts, so a bad
//! path fails at once rather than after the measurement.

use std::path::Path;

use anyhow::{anyhow, Context};
use gauntlet_reports::graph::{GraphEdge, HopFigures, HopPair, PhaseComparison, ServiceGraph};
use gauntlet_reports::RunResult;

/// The stored run to compare with, read and checked to have hops.
pub(super) struct Stored {
    source: String,
    result: RunResult,
}

/// Reads `path` (a `result.json`, or a run directory holding one).
pub(super) fn load(path: &Path) -> anyhow::Result<Stored> {
    let file = if path.is_dir() {
        path.join("result.json")
    } else {
        path.to_path_buf()
    };
    let result = gauntlet_reports::json::read(&file)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("reading `compare_with` {}", file.display()))?;
    if result.graph.is_none() {
        return Err(anyhow!(
            "`compare_with` {} has no hops: it is a `{}` run; compare with a single-service \
             or integration run",
            file.display(),
            result.phase
        ));
    }
    Ok(Stored {
        source: file.display().to_string(),
        result,
    })
}

/// The scenario's `compare_with` run, if it names one.
pub(super) fn for_scenario(scenario: &crate::scenario::Scenario) -> anyhow::Result<Option<Stored>> {
    scenario.compare_with.as_deref().map(load).transpose()
}

/// Puts the stored run's hops beside the result's, when both exist.
pub(super) fn attach_to(result: &mut RunResult, stored: Option<&Stored>) {
    if let (Some(graph), Some(stored)) = (result.graph.as_mut(), stored) {
        attach(graph, stored);
    }
}

/// Puts the stored run's hops beside `graph`'s.
pub(super) fn attach(graph: &mut ServiceGraph, stored: &Stored) {
    let Some(other) = &stored.result.graph else {
        return;
    };
    let hops = graph
        .edges
        .iter()
        .filter_map(|e| matching(e, &other.edges).map(|o| pair(e, o)))
        .collect();
    graph.compared = Some(PhaseComparison {
        source: stored.source.clone(),
        phase: stored.result.phase.clone(),
        name: stored.result.name.clone(),
        hops,
    });
}

fn matching<'a>(e: &GraphEdge, others: &'a [GraphEdge]) -> Option<&'a GraphEdge> {
    if let Some(same) = others.iter().find(|o| o.from == e.from && o.to == e.to) {
        return Some(same);
    }
    let mut into = others.iter().filter(|o| o.to == e.to);
    match (into.next(), into.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

fn figures(e: &GraphEdge) -> HopFigures {
    HopFigures {
        from: e.from.clone(),
        rps: e.rps,
        error_rate: e.error_rate,
        p50_ms: e.p50_ms,
        p99_ms: e.p99_ms,
    }
}

fn pair(this: &GraphEdge, other: &GraphEdge) -> HopPair {
    HopPair {
        from: this.from.clone(),
        to: this.to.clone(),
        this: figures(this),
        other: figures(other),
        p99_delta_ms: this.p99_ms.zip(other.p99_ms).map(|(a, b)| a - b),
        error_rate_delta: this.error_rate - other.error_rate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: &str, to: &str, p99: f64, err: f64) -> GraphEdge {
        GraphEdge {
            from: from.into(),
            to: to.into(),
            p99_ms: Some(p99),
            error_rate: err,
            ..GraphEdge::default()
        }
    }

    #[test]
    fn hops_match_by_caller_and_callee_then_by_callee() {
        let single = vec![
            edge("load", "checkout", 5.0, 0.0),
            edge("checkout", "db", 2.0, 0.0),
        ];
        let integration = [
            edge("bff", "checkout", 9.0, 0.1),
            edge("checkout", "db", 3.0, 0.0),
        ];
        let p = pair(&integration[0], matching(&integration[0], &single).unwrap());
        assert_eq!((p.other.from.as_str(), p.p99_delta_ms), ("load", Some(4.0)));
        assert!((p.error_rate_delta - 0.1).abs() < 1e-12);
        let p = pair(&integration[1], matching(&integration[1], &single).unwrap());
        assert_eq!(p.p99_delta_ms, Some(1.0));
        // Two stored hops into the same callee and none from the same caller: no match.
        let ambiguous = vec![edge("a", "db", 1.0, 0.0), edge("b", "db", 1.0, 0.0)];
        assert!(matching(&edge("c", "db", 1.0, 0.0), &ambiguous).is_none());
    }
}
