//! One run's hops beside another's, so that an integration run that is slow can be held
//! against the single-service run of the same service to see which hop is to blame. The
//! other run is a stored one (`compare_with:`, read before anything starts, so a bad path
//! fails at once rather than after the measurement) or an earlier phase of the same file,
//! held in memory (`run::plan`). A hop is matched to the other run's hop with the same
//! caller and callee, else to its only hop into the same callee (the entry's caller is
//! `load` in one phase and another service in the other).

use std::path::Path;

use anyhow::{anyhow, Context};
use gauntlet_reports::graph::{GraphEdge, HopFigures, HopPair, PhaseComparison, ServiceGraph};
use gauntlet_reports::RunResult;

/// The run to compare with: its result and where it came from.
#[derive(Debug, Clone)]
pub struct ComparedRun {
    /// A `result.json` path, or a phase's run directory.
    pub source: String,
    pub result: RunResult,
}

/// Reads `path` (a `result.json`, or a run directory holding one).
pub(super) fn load(path: &Path) -> anyhow::Result<ComparedRun> {
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
    Ok(ComparedRun {
        source: file.display().to_string(),
        result,
    })
}

/// The scenario's `compare_with` run, if it names one.
pub(super) fn for_scenario(
    scenario: &crate::scenario::Scenario,
) -> anyhow::Result<Option<ComparedRun>> {
    scenario.compare_with.as_deref().map(load).transpose()
}

/// Puts the other run's hops beside the result's, when both have hops.
pub(super) fn attach_to(result: &mut RunResult, other: Option<&ComparedRun>) {
    let Some(graph) = result.graph.as_mut() else {
        return;
    };
    if let Some(compared) = other.and_then(|o| compare(graph, o)) {
        graph.compared = Some(compared);
    }
}

/// `graph`'s hops paired with the other run's; `None` when the other run has no hops.
pub(super) fn compare(graph: &ServiceGraph, other: &ComparedRun) -> Option<PhaseComparison> {
    let theirs = other.result.graph.as_ref()?;
    let hops = graph
        .edges
        .iter()
        .filter_map(|e| matching(e, &graph.edges, &theirs.edges).map(|o| pair(e, o)))
        .collect();
    Some(PhaseComparison {
        source: other.source.clone(),
        phase: other.result.phase.clone(),
        name: other.result.name.clone(),
        hops,
    })
}

/// The other run's hop for `e`: the one with the same caller and callee, else the only hop
/// into the same callee, when `e` is the only hop into it on this side too (two callers of
/// one callee here must not both be held against the one caller there).
fn matching<'a>(
    e: &GraphEdge,
    ours: &[GraphEdge],
    others: &'a [GraphEdge],
) -> Option<&'a GraphEdge> {
    if let Some(same) = others.iter().find(|o| o.from == e.from && o.to == e.to) {
        return Some(same);
    }
    only_into(ours, &e.to)?;
    only_into(others, &e.to)
}

/// The one hop into `to`, if exactly one.
fn only_into<'b>(edges: &'b [GraphEdge], to: &str) -> Option<&'b GraphEdge> {
    let mut into = edges.iter().filter(|o| o.to == to);
    match (into.next(), into.next()) {
        (Some(one), None) => Some(one),
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
        let p = pair(
            &integration[0],
            matching(&integration[0], &integration, &single).unwrap(),
        );
        assert_eq!((p.other.from.as_str(), p.p99_delta_ms), ("load", Some(4.0)));
        assert!((p.error_rate_delta - 0.1).abs() < 1e-12);
        let p = pair(
            &integration[1],
            matching(&integration[1], &integration, &single).unwrap(),
        );
        assert_eq!(p.p99_delta_ms, Some(1.0));
        // Two stored hops into the same callee and none from the same caller: no match.
        let ambiguous = vec![edge("a", "db", 1.0, 0.0), edge("b", "db", 1.0, 0.0)];
        let c = edge("c", "db", 1.0, 0.0);
        assert!(matching(&c, std::slice::from_ref(&c), &ambiguous).is_none());
        // Two hops into one callee on this side: neither takes the other side's only hop.
        let ours = [
            edge("bff", "db", 1.0, 0.0),
            edge("checkout", "db", 1.0, 0.0),
        ];
        let theirs = [edge("load", "db", 1.0, 0.0)];
        assert!(matching(&ours[0], &ours, &theirs).is_none());
        assert!(matching(&ours[1], &ours, &theirs).is_none());
    }
}
