//! The run directory: where everything a run measures lands, created before any load starts
//! so an unwritable `--out` fails early instead of after a long run.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// The run directory could not be prepared.
#[derive(Debug, thiserror::Error)]
#[error("cannot use run directory {path}: {source}\n  hint: pass a writable directory with --out")]
pub struct RunDirError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// A prepared, writable run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Uses `out` if given, else `runs/<name>-<timestamp>/`. The name is sanitised so that it
    /// can never leave `runs/` whatever the scenario says.
    pub fn create(out: Option<&Path>, name: &str, now: DateTime<Utc>) -> Result<Self, RunDirError> {
        let path = match out {
            Some(p) => p.to_path_buf(),
            None => Path::new("runs").join(format!(
                "{}-{}",
                sanitize(name),
                now.format("%Y%m%dT%H%M%SZ")
            )),
        };
        let fail = |source| RunDirError {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&path).map_err(fail)?;
        // Prove the directory takes writes now, not at the end of the run.
        let probe = path.join(".gauntlet-write-test");
        std::fs::File::create(&probe)
            .and_then(|mut f| f.write_all(b"ok"))
            .map_err(fail)?;
        let _ = std::fs::remove_file(&probe);
        Ok(Self { path })
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// Keeps `[A-Za-z0-9._-]`, replaces anything else with `_`, and never yields `.` or `..`.
pub fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() {
        "run".to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_names_inside_runs() {
        assert_eq!(sanitize("checkout-bench"), "checkout-bench");
        assert_eq!(sanitize("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(sanitize(".."), "run");
        assert_eq!(sanitize("a b/c"), "a_b_c");
        assert_eq!(sanitize("ünï"), "_n_");
    }

    #[test]
    fn unwritable_out_fails_early() {
        let err = RunDir::create(Some(Path::new("/proc/gauntlet-cannot")), "x", Utc::now());
        assert!(err.is_err());
    }
}
