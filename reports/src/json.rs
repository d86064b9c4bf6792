//! `result.json`: the model as pretty JSON, and back.

use std::io;
use std::path::Path;

use crate::model::{RunResult, SCHEMA};

/// Why a stored result could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path} is not a Gauntlet result: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path} has schema `{found}`, this Gauntlet reads `{SCHEMA}`")]
    Schema { path: String, found: String },
}

/// Renders the result as pretty JSON.
pub fn render(result: &RunResult) -> String {
    // Serialising plain structs of strings, numbers and maps cannot fail.
    serde_json::to_string_pretty(result).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Writes the result to `path` atomically (a temporary file renamed over it), so a reader
/// never sees half a file even if the run dies while writing.
pub fn write(result: &RunResult, path: &Path) -> io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, render(result))?;
    std::fs::rename(&tmp, path)
}

/// Reads a stored `result.json`, checking its schema.
pub fn read(path: &Path) -> Result<RunResult, ReadError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: p.clone(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| ReadError::Parse {
            path: p.clone(),
            source,
        })?;
    let found = value.get("schema").and_then(|s| s.as_str()).unwrap_or("");
    if found != SCHEMA {
        return Err(ReadError::Schema {
            path: p,
            found: found.to_string(),
        });
    }
    serde_json::from_value(value).map_err(|source| ReadError::Parse { path: p, source })
}
