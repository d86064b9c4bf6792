//! Threshold numbers: `50ms`, `1.5s`, `0.1%`, `1000`, `500rps`, read and checked against
//! the unit of the metric they are compared with.

use gauntlet_mocks::units::parse_duration;

use super::metric::Unit;
use super::{syntax_error as error, GateSyntaxError};

/// The number of a threshold, before it is checked against the metric's unit.
pub enum Number {
    Plain(f64),
    Percent(f64),
    Ms(f64),
}

/// Reads a number token: `50ms`, `1.5s`, `0.1%`, `1000`, `500rps`.
pub fn number(text: &str, col: usize, unit: Unit) -> Result<Number, GateSyntaxError> {
    let bad =
        |what: &str, hint: &str| error(col, &format!("`{text}` is not {what}")).with_hint(hint);
    if let Some(n) = text.strip_suffix('%') {
        return n
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Number::Percent)
            .ok_or_else(|| bad("a percentage", "write e.g. `1%` or `0.1%`"));
    }
    if !text.chars().any(|c| c.is_alphabetic()) {
        return text
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Number::Plain)
            .ok_or_else(|| bad("a number", "write e.g. `1000` or `2.5`"));
    }
    if unit == Unit::Rps {
        if let Some(v) = text.strip_suffix("rps").and_then(|n| n.parse::<f64>().ok()) {
            return Some(v)
                .filter(|v| v.is_finite())
                .map(Number::Plain)
                .ok_or_else(|| bad("a number", "write e.g. `1000` or `2.5`"));
        }
    }
    let (sign, magnitude) = match text.strip_prefix('-') {
        Some(m) => (-1.0, m),
        None => (1.0, text),
    };
    parse_duration(magnitude)
        .map(|d| Number::Ms(sign * d.as_secs_f64() * 1000.0))
        .map_err(|_| {
            bad(
                "a duration",
                "durations take `us`, `ms`, `s` or `m`, e.g. `50ms`, `1.5s`",
            )
        })
}

/// Checks a plain threshold against the metric's unit and returns it in that unit.
pub fn checked(
    n: Number,
    text: &str,
    col: usize,
    name: &str,
    unit: Unit,
) -> Result<f64, GateSyntaxError> {
    match (unit, n) {
        (Unit::Ms, Number::Ms(ms)) => Ok(ms),
        (Unit::Ratio, Number::Percent(p)) => Ok(p / 100.0),
        (Unit::Count | Unit::Rps, Number::Plain(v)) => Ok(v),
        (Unit::Ms | Unit::Ratio, Number::Plain(0.0)) => Ok(0.0),
        (Unit::Ms, Number::Plain(_)) => Err(error(col, &format!("`{text}` has no unit"))
            .with_hint(&format!("`{name}` is a time: write e.g. `{text}ms`"))),
        (Unit::Ratio, Number::Plain(_)) => {
            Err(
                error(col, &format!("`{text}` is not a percentage")).with_hint(&format!(
                    "`{name}` is a share: write a percentage, e.g. `1%`"
                )),
            )
        }
        (_, Number::Percent(_)) => Err(error(
            col,
            &format!("a percentage of what? `{name}` is in {}", unit.as_str()),
        )
        .with_hint(&format!(
            "write `{text} of <metric>`, e.g. `{name} >= {text} of baseline.{name}`"
        ))),
        (_, Number::Ms(_)) => Err(error(
            col,
            &format!("`{text}` is a time but `{name}` is in {}", unit.as_str()),
        )
        .with_hint(match unit {
            Unit::Ratio => "write a percentage, e.g. `1%`",
            _ => "write a plain number, e.g. `0` or `1000`",
        })),
    }
}
