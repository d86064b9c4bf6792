//! `gates:`: one expression per line, parsed by [`crate::gates::parse`]. Syntax errors point
//! at the column inside the gate when the gate is written on one line as is (plain, or
//! quoted without escapes); otherwise at the gate's start.

use serde_yaml::Value;

use super::check::{shorten, Ctx};
use super::error::did_you_mean;
use super::locate::FieldPath;
use crate::gates::{self, Gate};

/// Most gates in one scenario.
const MAX_GATES: usize = 1_000;
/// Longest gate, in characters.
const MAX_GATE_CHARS: usize = 1_000;

const QUOTE_HINT: &str = "write each gate as one line of text, e.g. `- latency.p99 < 50ms`; \
                          quote it if it contains `: ` or starts with a YAML symbol";

/// Validates `gates:`; `labels` are the timeline's event names (`None` when the timeline is
/// invalid, so references to events are not checked).
pub(crate) fn gates(
    ctx: &mut Ctx<'_>,
    raw: Option<&Vec<Value>>,
    labels: Option<&[&str]>,
) -> Option<Vec<Gate>> {
    let path = FieldPath::root().key("gates");
    let Some(raw) = raw else {
        return Some(Vec::new());
    };
    if raw.len() > MAX_GATES {
        ctx.err(
            &path,
            format!("{} gates is over the limit of {MAX_GATES}", raw.len()),
            format!("give at most {MAX_GATES}"),
        );
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut ok = true;
    for (i, value) in raw.iter().enumerate() {
        match gate(ctx, &path.index(i), value, labels) {
            Some(g) => out.push(g),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn gate(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    value: &Value,
    labels: Option<&[&str]>,
) -> Option<Gate> {
    let text = match value {
        Value::String(s) => s,
        Value::Mapping(_) => {
            ctx.err(
                path,
                "a gate was read as a mapping: YAML takes `: ` for a key and its value",
                QUOTE_HINT,
            );
            return None;
        }
        Value::Null => {
            ctx.err(path, "the gate is empty", QUOTE_HINT);
            return None;
        }
        other => {
            let found = match other {
                Value::Sequence(_) => "a list",
                _ => "a single value",
            };
            ctx.err(
                path,
                format!("expected a gate expression, found {found}"),
                QUOTE_HINT,
            );
            return None;
        }
    };
    if text.chars().count() > MAX_GATE_CHARS {
        ctx.err(
            path,
            format!("the gate is longer than {MAX_GATE_CHARS} characters"),
            "split it into several gates",
        );
        return None;
    }
    let parsed = match gates::parse(text) {
        Ok(g) => g,
        Err(e) => {
            let hint = if e.hint.is_empty() {
                "see the gate grammar: `<metric> <op> <threshold> [window]`, e.g. `latency.p99 < 50ms`".to_string()
            } else {
                e.hint.clone()
            };
            let pos = ctx.within(path, text, e.column);
            ctx.err_at(pos, path, e.message, hint);
            return None;
        }
    };
    let Some(labels) = labels else {
        return Some(parsed);
    };
    for label in parsed.event_refs() {
        if labels.contains(&label) {
            continue;
        }
        let column = text
            .find(label)
            .map_or(1, |at| text[..at].chars().count() + 1);
        let pos = ctx.within(path, text, column);
        let hint = did_you_mean(label, labels.iter().copied()).unwrap_or_else(|| {
            if labels.is_empty() {
                "the timeline has no events; name one with `name:` to refer to it".to_string()
            } else {
                let shown: Vec<&str> = labels.iter().take(10).copied().collect();
                format!("timeline events are: {}", shown.join(", "))
            }
        });
        let message = format!("no timeline event is named `{}`", shorten(label));
        ctx.err_at(pos, path, message, hint);
        return None;
    }
    Some(parsed)
}

/// Refuses `grpc.<code>.*` gates when the load is not gRPC: there would be no gRPC status
/// to count, and the gate could only fail after the whole run.
pub(crate) fn grpc_gates_need_grpc_load(
    ctx: &mut Ctx<'_>,
    gates: Option<&[Gate]>,
    load: Option<&super::model::Load>,
) {
    let (Some(gates), Some(load)) = (gates, load) else {
        return;
    };
    if load.protocol == super::model::LoadProtocol::Grpc {
        return;
    }
    let path = FieldPath::root().key("gates");
    for (i, g) in gates.iter().enumerate() {
        if matches!(g.metric.metric, gates::Metric::Grpc(..)) {
            ctx.err(
                &path.index(i),
                format!(
                    "`{}` counts gRPC statuses, but the load sends plain HTTP requests",
                    g.metric.name
                ),
                "use `load.protocol: grpc`, or gate on HTTP statuses, e.g. `status.503.rate < 1%`",
            );
        }
    }
}
