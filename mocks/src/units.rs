//! Human units shared by the scenario file, the CLI and the mock binary:
//! durations (`250ms`, `2s`, `1m30s`), sizes (`1KiB`, `512`, `2MB`) and percentages (`97%`).

use std::time::Duration;

/// A value that does not parse as the unit it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UnitError {
    /// What is wrong and what a valid value looks like.
    pub message: String,
}

fn err(message: String) -> UnitError {
    UnitError { message }
}

/// Parses a duration such as `250ms`, `2s`, `1.5s`, `1m30s`, `100us`, `0`.
/// Units: `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`. A bare number other than 0 is refused,
/// because `5` could mean seconds or milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let bad = || {
        err(format!(
            "`{text}` is not a duration; write a number with a unit, e.g. `250ms`, `2s`, `1m30s`"
        ))
    };
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_end == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        let after = &rest[num_end..];
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let scale = match &after[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &after[unit_end..];
    }
    if !total.is_finite() || total > 1e9 {
        return Err(err(format!("`{text}` is too long a duration")));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Parses a size in bytes: `512`, `1KiB`, `1KB`, `2MiB`, `1.5k`. Decimal units (`KB`, `MB`,
/// `GB`, `k`) are powers of 1000, binary ones (`KiB`, `MiB`, `GiB`) powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let s = text.trim();
    let bad = || {
        err(format!(
            "`{text}` is not a size; write bytes, e.g. `512`, `1KiB`, `4KB`, `1MiB`"
        ))
    };
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    if num_end == 0 {
        return Err(bad());
    }
    let value: f64 = s[..num_end].parse().map_err(|_| bad())?;
    let scale: f64 = match s[num_end..].trim() {
        "" | "B" | "b" => 1.0,
        "k" | "K" | "KB" | "kB" => 1e3,
        "KiB" | "Ki" => 1024.0,
        "M" | "MB" => 1e6,
        "MiB" | "Mi" => 1024.0 * 1024.0,
        "G" | "GB" => 1e9,
        "GiB" | "Gi" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes > u64::MAX as f64 / 2.0 {
        return Err(err(format!("`{text}` is too large a size")));
    }
    Ok(bytes.round() as u64)
}

/// Parses a percentage `97%` or `2.5%` into a fraction (0.97, 0.025). The `%` is required so
/// that `0.5` is never mistaken for 50%.
pub fn parse_percent(text: &str) -> Result<f64, UnitError> {
    let s = text.trim();
    let bad = || {
        err(format!(
            "`{text}` is not a percentage; write e.g. `97%` or `2.5%`"
        ))
    };
    let number = s.strip_suffix('%').ok_or_else(bad)?.trim();
    let value: f64 = number.parse().map_err(|_| bad())?;
    if !value.is_finite() || !(0.0..=100.0).contains(&value) {
        return Err(err(format!("`{text}` is outside 0%..100%")));
    }
    Ok(value / 100.0)
}

/// Formats a duration the way the parser reads it back (`250ms`, `2s`, `1.5s`).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        "0".to_string()
    } else if nanos.is_multiple_of(1_000_000_000) {
        format!("{}s", nanos / 1_000_000_000)
    } else if nanos.is_multiple_of(1_000_000) {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{nanos}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ok = |s: &str, d: Duration| assert_eq!(parse_duration(s).unwrap(), d, "{s}");
        ok("250ms", Duration::from_millis(250));
        ok("2s", Duration::from_secs(2));
        ok("1.5s", Duration::from_millis(1500));
        ok("1m30s", Duration::from_secs(90));
        ok("100us", Duration::from_micros(100));
        ok("0", Duration::ZERO);
        for bad in ["", "5", "ms", "5 parsecs", "-1s", "1e3s", "s5"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("1KiB").unwrap(), 1024);
        assert_eq!(parse_size("4KB").unwrap(), 4000);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        for bad in ["", "KiB", "1 parsec", "-3"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percents() {
        assert_eq!(parse_percent("97%").unwrap(), 0.97);
        assert_eq!(parse_percent("2.5%").unwrap(), 0.025);
        for bad in ["97", "101%", "-1%", "x%", "NaN%"] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn duration_round_trip() {
        for s in ["250ms", "2s", "100us", "0", "7ns"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
