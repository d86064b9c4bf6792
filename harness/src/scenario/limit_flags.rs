//! `--limit NAME=VALUE`: raising (or lowering) one of the [`Limits`] from the command line,
//! for the run that really means 2 million requests per second or a 48-hour soak.
//!
//! Values are read the way the scenario reads them: rates as `500000`, `500k/s` or `1.5M/s`,
//! durations as `2h` or `90m`, sizes as `128MiB`, counts as plain integers.

use std::time::Duration;

use gauntlet_mocks::units;

use super::limits::Limits;

/// A `--limit` that could not be applied.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LimitError {
    #[error("--limit `{0}`: expected NAME=VALUE\n  hint: e.g. --limit max_rate=500000; the limits are: {names}", names = names().join(", "))]
    Syntax(String),
    #[error("--limit {0}: unknown limit `{0}`\n  hint: the limits are: {names}", names = names().join(", "))]
    Unknown(String),
    #[error("--limit {name}={value}: {reason}\n  hint: {hint}")]
    BadValue {
        name: String,
        value: String,
        reason: String,
        hint: &'static str,
    },
}

/// How a limit's value is written.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Rate,
    Duration,
    Bytes,
    Count,
}

impl Kind {
    fn hint(self) -> &'static str {
        match self {
            Kind::Rate => "write requests per second, e.g. 500000, 500k/s or 1.5M/s",
            Kind::Duration => "write a duration, e.g. 48h or 90m",
            Kind::Bytes => "write a size, e.g. 128MiB or 4GB",
            Kind::Count => "write a whole number greater than 0, e.g. 20000",
        }
    }
}

/// Every limit by its flag name (the field name of [`Limits`]) and how its value is written.
const LIMITS: &[(&str, Kind)] = &[
    ("max_file_bytes", Kind::Bytes),
    ("max_rate", Kind::Rate),
    ("max_connections", Kind::Count),
    ("max_concurrency", Kind::Count),
    ("max_body_bytes", Kind::Bytes),
    ("max_duration", Kind::Duration),
    ("max_endpoints", Kind::Count),
    ("max_upstreams", Kind::Count),
    ("max_routes", Kind::Count),
    ("max_timeline_events", Kind::Count),
    ("max_workers", Kind::Count),
    ("max_envoy_concurrency", Kind::Count),
    ("max_sweep_points", Kind::Count),
];

/// The names `--limit` takes.
pub fn names() -> Vec<&'static str> {
    LIMITS.iter().map(|(n, _)| *n).collect()
}

/// A parsed value, before it is stored in the field of its type.
enum Parsed {
    Rate(f64),
    Duration(Duration),
    Number(u64),
}

fn parse(kind: Kind, value: &str) -> Result<Parsed, String> {
    match kind {
        Kind::Rate => parse_rate(value).map(Parsed::Rate),
        Kind::Duration => match units::parse_duration(value) {
            Ok(d) if d.is_zero() => Err("must be more than 0".to_string()),
            Ok(d) => Ok(Parsed::Duration(d)),
            Err(e) => Err(e.to_string()),
        },
        Kind::Bytes => match units::parse_size(value) {
            Ok(0) => Err("must be more than 0".to_string()),
            Ok(n) => Ok(Parsed::Number(n)),
            Err(e) => Err(e.to_string()),
        },
        Kind::Count => match value.trim().parse::<u64>() {
            Ok(0) => Err("must be more than 0".to_string()),
            Ok(n) => Ok(Parsed::Number(n)),
            Err(_) => Err(format!("`{value}` is not a whole number")),
        },
    }
}

/// `500000`, `500k/s`, `1.5M/s` → requests per second (finite, more than 0).
fn parse_rate(value: &str) -> Result<f64, String> {
    let s = value.trim();
    let s = s.strip_suffix("/s").unwrap_or(s).trim_end();
    let (number, scale) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1e3),
        Some((i, 'M')) => (&s[..i], 1e6),
        _ => (s, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n * scale),
        Ok(_) => Err("must be a finite number more than 0".to_string()),
        Err(_) => Err(format!("`{value}` is not a rate")),
    }
}

/// Narrows a parsed count to the field's type, with an error rather than a silent wrap.
fn narrow<T: TryFrom<u64>>(n: u64) -> Result<T, String> {
    T::try_from(n).map_err(|_| format!("{n} is too large"))
}

impl Limits {
    /// Applies one `NAME=VALUE` override.
    pub fn apply_flag(&mut self, flag: &str) -> Result<(), LimitError> {
        let (name, value) = flag
            .split_once('=')
            .filter(|(n, v)| !n.trim().is_empty() && !v.trim().is_empty())
            .ok_or_else(|| LimitError::Syntax(flag.to_string()))?;
        self.set(name.trim(), value.trim())
    }

    /// Sets the limit called `name` from its written `value`.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), LimitError> {
        let kind = LIMITS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
            .ok_or_else(|| LimitError::Unknown(name.to_string()))?;
        let bad = |reason: String| LimitError::BadValue {
            name: name.to_string(),
            value: value.to_string(),
            reason,
            hint: kind.hint(),
        };
        let parsed = parse(kind, value).map_err(bad)?;
        self.store(name, parsed).map_err(bad)
    }

    fn store(&mut self, name: &str, parsed: Parsed) -> Result<(), String> {
        match (name, parsed) {
            ("max_rate", Parsed::Rate(r)) => self.max_rate = r,
            ("max_duration", Parsed::Duration(d)) => self.max_duration = d,
            ("max_file_bytes", Parsed::Number(n)) => self.max_file_bytes = narrow(n)?,
            ("max_body_bytes", Parsed::Number(n)) => self.max_body_bytes = n,
            ("max_connections", Parsed::Number(n)) => self.max_connections = narrow(n)?,
            ("max_concurrency", Parsed::Number(n)) => self.max_concurrency = narrow(n)?,
            ("max_endpoints", Parsed::Number(n)) => self.max_endpoints = narrow(n)?,
            ("max_upstreams", Parsed::Number(n)) => self.max_upstreams = narrow(n)?,
            ("max_routes", Parsed::Number(n)) => self.max_routes = narrow(n)?,
            ("max_timeline_events", Parsed::Number(n)) => self.max_timeline_events = narrow(n)?,
            ("max_workers", Parsed::Number(n)) => self.max_workers = narrow(n)?,
            ("max_envoy_concurrency", Parsed::Number(n)) => self.max_envoy_concurrency = narrow(n)?,
            ("max_sweep_points", Parsed::Number(n)) => self.max_sweep_points = narrow(n)?,
            // LIMITS and this match list the same names; a test keeps them in step.
            (other, _) => return Err(format!("`{other}` cannot be set")),
        }
        Ok(())
    }

    /// The default limits with every `NAME=VALUE` in `flags` applied, in order.
    pub fn with_flags<S: AsRef<str>>(flags: &[S]) -> Result<Limits, LimitError> {
        let mut limits = Limits::default();
        for f in flags {
            limits.apply_flag(f.as_ref())?;
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_can_be_set_and_changes_its_field() {
        for (name, kind) in LIMITS {
            let value = match kind {
                Kind::Rate => "2M/s",
                Kind::Duration => "48h",
                Kind::Bytes => "3MiB",
                Kind::Count => "7",
            };
            let mut l = Limits::default();
            l.set(name, value).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_ne!(l, Limits::default(), "{name} changed nothing");
        }
    }

    /// A field added to `Limits` must get a flag too: its name shows in the Debug output.
    #[test]
    fn every_field_has_a_flag() {
        let debug = format!("{:?}", Limits::default());
        let body = debug.trim_start_matches("Limits {").trim_end_matches('}');
        let fields: Vec<&str> = body
            .split(", ")
            .filter_map(|f| f.split_once(':').map(|(n, _)| n.trim()))
            .collect();
        assert_eq!(fields.len(), LIMITS.len(), "{fields:?}");
        for f in fields {
            assert!(names().contains(&f), "limit `{f}` has no --limit name");
        }
    }

    #[test]
    fn values_are_read_like_the_scenario_reads_them() {
        let l = Limits::with_flags(&[
            "max_rate=500k/s",
            "max_duration=2h",
            "max_body_bytes=128MiB",
            " max_connections = 20000 ",
        ])
        .unwrap();
        assert_eq!(l.max_rate, 500_000.0);
        assert_eq!(l.max_duration, Duration::from_secs(7200));
        assert_eq!(l.max_body_bytes, 128 << 20);
        assert_eq!(l.max_connections, 20_000);
        assert_eq!(l.max_endpoints, Limits::default().max_endpoints);
    }

    #[test]
    fn bad_flags_are_clear_errors() {
        let e = Limits::with_flags(&["max_rps=10"]).unwrap_err();
        assert_eq!(e, LimitError::Unknown("max_rps".into()));
        let text = e.to_string();
        assert!(
            text.contains("unknown limit `max_rps`") && text.contains("max_rate"),
            "{text}"
        );
        let e = Limits::with_flags(&["max_rate"]).unwrap_err().to_string();
        assert!(e.contains("expected NAME=VALUE"), "{e}");
        let e = Limits::with_flags(&["max_duration=forever"])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--limit max_duration=forever:") && e.contains("48h"),
            "{e}"
        );
        for bad in [
            "max_rate=0",
            "max_rate=-5",
            "max_rate=inf",
            "max_workers=0",
            "max_workers=1.5",
        ] {
            let e = Limits::with_flags(&[bad]).unwrap_err();
            assert!(matches!(e, LimitError::BadValue { .. }), "{bad}: {e}");
        }
        let e = Limits::with_flags(&["max_workers=99999999999"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("too large"), "{e}");
    }
}
