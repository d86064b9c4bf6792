//! `gauntlet compare A B` on directories already on disk. Each side is one of:
//! - a run directory (holds `result.json`): one run;
//! - a compare directory (holds `compare.json`): the runs of its candidate side, so two
//!   compares of the same candidate, or a new candidate against an old one, can be diffed;
//! - any other directory: every immediate subdirectory holding a `result.json`, in name order.
//!
//! `gauntlet compare COMPARE_DIR` (one directory) judges that compare's runs again.

use std::path::{Path, PathBuf};

use chrono::Utc;
use gauntlet_reports::compare::{CompareResult, CompareStatus};

use super::failon::FailOn;
use super::figures::Judgement;
use super::{build, BuildSpec, RunEntry, SideRuns};

/// A side that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    #[error("{path}: {reason}\n  hint: pass a run directory (with result.json), a compare directory (with compare.json) or a directory of run directories")]
    Unreadable { path: PathBuf, reason: String },
}

/// Reads both sides and judges them.
pub fn compare(
    baseline: &Path,
    candidate: &Path,
    judgement: Judgement,
    checks: &[FailOn],
) -> Result<CompareResult, StoredError> {
    let started_at = Utc::now();
    let b = load("baseline", baseline)?;
    let c = load("candidate", candidate)?;
    let name = [&b, &c]
        .iter()
        .flat_map(|s| s.runs.iter())
        .find_map(|r| r.result.as_ref().map(|r| r.name.clone()))
        .unwrap_or_default();
    let spec = BuildSpec {
        name,
        started_at,
        status: CompareStatus::Completed,
        error: None,
        judgement,
        checks,
    };
    Ok(build(spec, &b, &c))
}

/// Judges a stored compare directory's runs again, e.g. with another `--min-effect` or
/// new `--fail-on` checks; the runs stay as they were.
pub fn rejudge(
    dir: &Path,
    judgement: Judgement,
    checks: &[FailOn],
) -> Result<CompareResult, StoredError> {
    let old = gauntlet_reports::compare::read(&dir.join("compare.json")).map_err(|reason| {
        StoredError::Unreadable {
            path: dir.to_path_buf(),
            reason,
        }
    })?;
    let side = |role: &'static str, s: &gauntlet_reports::compare::Side| SideRuns {
        role,
        label: s.label.clone(),
        runs: s
            .runs
            .iter()
            .map(|r| entry(&dir.join(&r.dir), &r.dir))
            .collect(),
    };
    let spec = BuildSpec {
        name: old.name.clone(),
        started_at: old.started_at,
        status: old.status,
        error: old.error.clone(),
        judgement,
        checks,
    };
    Ok(build(
        spec,
        &side("baseline", &old.baseline),
        &side("candidate", &old.candidate),
    ))
}

fn entry(run: &Path, name: &str) -> RunEntry {
    match gauntlet_reports::json::read(&run.join("result.json")) {
        Ok(r) => RunEntry {
            dir: name.to_string(),
            result: Some(r),
            error: None,
        },
        Err(e) => RunEntry {
            dir: name.to_string(),
            result: None,
            error: Some(e.to_string()),
        },
    }
}

fn load(role: &'static str, path: &Path) -> Result<SideRuns, StoredError> {
    let bad = |reason: String| StoredError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    let dirs: Vec<PathBuf> = if path.join("result.json").is_file() {
        vec![path.to_path_buf()]
    } else if path.join("compare.json").is_file() {
        let c = gauntlet_reports::compare::read(&path.join("compare.json")).map_err(bad)?;
        c.candidate.runs.iter().map(|r| path.join(&r.dir)).collect()
    } else {
        let mut found: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| bad(e.to_string()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("result.json").is_file())
            .collect();
        found.sort();
        found
    };
    if dirs.is_empty() {
        return Err(bad("no runs found".into()));
    }
    let runs = dirs
        .iter()
        .map(|d| entry(d, &d.display().to_string()))
        .collect();
    Ok(SideRuns {
        role,
        label: path.display().to_string(),
        runs,
    })
}
