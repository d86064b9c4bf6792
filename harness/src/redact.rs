//! Secrets redaction: values whose name looks like a secret are replaced by `<redacted>` in
//! everything a run writes for people to read (`result.json`, the reports rendered from it,
//! the log files in the run directory), while the live run still uses the real values.
//!
//! Two layers, because a secret can leak two ways:
//! 1. by structure: [`redact_scenario`] walks the scenario as JSON and, inside any
//!    name/value collection (`headers`, `env`, `environment`), replaces every string under an
//!    entry whose name looks secret ([`is_secret_name`]). Collections come as maps
//!    (`{ Authorization: "Bearer …" }`), as `[name, value]` pairs (the load's request
//!    headers) or as objects with a `name` field (route header matches);
//! 2. by value: the strings it replaced are remembered ([`Secrets`]) and scrubbed from free
//!    text that may quote them (an error, Envoy's NACK message, `envoy.log` at debug level,
//!    where Envoy prints request headers).
//!
//! Field names of the scenario format itself (`max_tokens`, `rate_limit`) are never matched:
//! only entry names inside the collections above are, so redaction never hides a setting.

use std::borrow::Cow;
use std::path::Path;

use serde_json::Value;

/// What a redacted value reads as.
pub const REDACTED: &str = "<redacted>";

/// Keys whose value is a collection of named entries (headers, environment variables).
const COLLECTIONS: &[&str] = &["headers", "env", "environment"];

/// Substrings that make an entry's name secret, matched on the lower-cased name with `-`,
/// `_` and `.` removed (so `X-Api-Key`, `API_KEY` and `apikey` all match `key`).
const SECRET_WORDS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "key",
    "auth",
    "credential",
    "cookie",
    "session",
    "signature",
    "private",
    "jwt",
];

/// Shortest value scrubbed from free text: a shorter one (`1`, `on`) would turn up by chance
/// in unrelated text and make it unreadable. Such values are still redacted by structure.
const MIN_SCRUB_LEN: usize = 6;

/// Whether an entry called `name` (a header, an environment variable) holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_WORDS.iter().any(|w| folded.contains(w))
}

/// The secret values a scenario holds, to scrub from free text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    /// Longest first, so a secret that contains another is replaced whole.
    values: Vec<String>,
}

impl Secrets {
    /// True when there is nothing to scrub (the common case: no step below costs anything).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    fn add(&mut self, value: &str) {
        if value.len() >= MIN_SCRUB_LEN && !self.values.iter().any(|v| v == value) {
            self.values.push(value.to_string());
            self.values
                .sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        }
    }

    /// `text` with every secret value replaced by [`REDACTED`].
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = Cow::Owned(out.replace(v.as_str(), REDACTED));
            }
        }
        out
    }

    /// Scrubs every string in a JSON tree, except under `histogram` keys (base64 data, where
    /// a match is chance and replacing it would corrupt the histogram).
    pub fn scrub_json(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Cow::Owned(scrubbed) = self.scrub(s) {
                    *s = scrubbed;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_json(v)),
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if k != "histogram" {
                        self.scrub_json(v);
                    }
                }
            }
            _ => {}
        }
    }

    /// Rewrites a text file with the secrets scrubbed; a file that does not exist is fine.
    pub fn scrub_file(&self, path: &Path) -> std::io::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let text = String::from_utf8_lossy(&bytes);
        if let Cow::Owned(scrubbed) = self.scrub(&text) {
            std::fs::write(path, scrubbed)?;
        }
        Ok(())
    }
}

/// Redacts secret entries of every name/value collection in `scenario` (in place) and
/// returns the values it replaced.
pub fn redact_scenario(scenario: &mut Value) -> Secrets {
    let mut secrets = Secrets::default();
    walk(scenario, &mut secrets);
    secrets
}

fn walk(value: &mut Value, secrets: &mut Secrets) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if COLLECTIONS.contains(&k.as_str()) {
                    redact_collection(v, secrets);
                }
                walk(v, secrets);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, secrets)),
        _ => {}
    }
}

/// One collection: a map, a list of `[name, value]` pairs, or a list of `{ name, … }`.
fn redact_collection(collection: &mut Value, secrets: &mut Secrets) {
    match collection {
        Value::Object(map) => {
            for (name, v) in map.iter_mut() {
                if is_secret_name(name) {
                    replace_strings(v, secrets);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|e| redact_entry(e, secrets)),
        _ => {}
    }
}

fn redact_entry(entry: &mut Value, secrets: &mut Secrets) {
    match entry {
        Value::Array(pair) if pair.len() == 2 && pair[0].as_str().is_some_and(is_secret_name) => {
            replace_strings(&mut pair[1], secrets);
        }
        Value::Object(map) => {
            let secret = map
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(is_secret_name);
            if secret {
                for (k, v) in map.iter_mut() {
                    if k != "name" && !is_match_kind(v) {
                        replace_strings(v, secrets);
                    }
                }
            }
        }
        _ => {}
    }
}

/// A header match that only asks for presence or absence (`HeaderValueMatch::Present`,
/// `Absent`): no value to hide, and the word must not be scrubbed from other text.
fn is_match_kind(v: &Value) -> bool {
    matches!(v.as_str(), Some("present" | "absent"))
}

/// Replaces every string (and number: a numeric PIN is a secret too) under `value`.
fn replace_strings(value: &mut Value, secrets: &mut Secrets) {
    match value {
        Value::String(s) => {
            secrets.add(s);
            *s = REDACTED.to_string();
        }
        Value::Number(n) => {
            secrets.add(&n.to_string());
            *value = Value::String(REDACTED.to_string());
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_strings(v, secrets)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_strings(v, secrets)),
        _ => {}
    }
}

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
