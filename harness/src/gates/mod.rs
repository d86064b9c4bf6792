//! CI gates: readable expressions over a run's result, each with a measured value and a
//! verdict. (Being built: parser and evaluator.)

use serde::Serialize;

/// A parsed gate, e.g. `latency.p99 < 50ms during [20s, 40s]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// The gate as written, for messages and reports.
    pub text: String,
}

/// A gate that does not parse; `column` is 1-based within the gate's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GateSyntaxError {
    pub column: usize,
    pub message: String,
    pub hint: String,
}

/// Parses one gate expression.
pub fn parse(text: &str) -> Result<Gate, GateSyntaxError> {
    Ok(Gate {
        text: text.to_string(),
    })
}
