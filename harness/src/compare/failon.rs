//! `--fail-on` expressions: `FIGURE OP CHANGE`, e.g. `latency.p99 > +10%`,
//! `added.p50 > +0.5ms`, `throughput < -5%`, `error_rate > +0.5%`.
//!
//! A check fails only on a *significant* change beyond its threshold: the interval of the
//! change must exclude zero on the threshold's side, and the point estimate must be past the
//! threshold. (The minimum effect does not apply: the threshold is the user's own minimum.)
//! A check that cannot be judged (too few runs for an interval, a relative threshold on a
//! figure whose baseline is zero) fails, with the reason, like a gate that cannot be measured.

use gauntlet_reports::compare::{Check, Figure};

use super::figures::{self, FigureDef, Reference, FIGURES};

/// A parsed `--fail-on` expression.
#[derive(Debug, Clone, PartialEq)]
pub struct FailOn {
    pub expr: String,
    pub figure: &'static str,
    /// `true` for `>` (an increase fails), `false` for `<`.
    pub increase: bool,
    pub threshold: Threshold,
}

/// A threshold on the change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// A fraction of the reference: `+10%` is 0.10.
    Relative(f64),
    /// In the figure's unit (ms, rps, cores, MB; error rate as a ratio).
    Absolute(f64),
}

/// A bad expression: what is wrong, where, and what is valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid --fail-on `{expr}`: {message} (at column {column})\n  hint: {hint}")]
pub struct FailOnError {
    pub expr: String,
    /// 1-based column of the offending part.
    pub column: usize,
    pub message: String,
    pub hint: String,
}

fn figure_list() -> String {
    FIGURES.iter().map(|f| f.key).collect::<Vec<_>>().join(", ")
}

/// Parses one expression.
pub fn parse(expr: &str) -> Result<FailOn, FailOnError> {
    let err = |at: usize, message: String, hint: String| FailOnError {
        expr: expr.to_string(),
        column: at + 1,
        message,
        hint,
    };
    let general =
        "write FIGURE > +CHANGE or FIGURE < -CHANGE, e.g. `latency.p99 > +10%`".to_string();
    let start = expr.len() - expr.trim_start().len();
    let name_len = expr[start..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
        .unwrap_or(expr.len() - start);
    let name = &expr[start..start + name_len];
    if name.is_empty() {
        return Err(err(
            start,
            "expected a figure name".into(),
            format!("figures: {}", figure_list()),
        ));
    }
    let def = figures::find(name).ok_or_else(|| {
        err(
            start,
            format!("unknown figure `{name}`"),
            format!("figures: {}", figure_list()),
        )
    })?;
    let mut pos = start + name_len;
    pos += expr[pos..].len() - expr[pos..].trim_start().len();
    let increase = match expr[pos..].chars().next() {
        Some('>') => true,
        Some('<') => false,
        Some(c) => {
            return Err(err(
                pos,
                format!("expected `>` or `<`, found `{c}`"),
                general,
            ))
        }
        None => {
            return Err(err(
                pos,
                "expected `>` or `<` after the figure".into(),
                general,
            ))
        }
    };
    pos += 1;
    if expr[pos..].starts_with(['=', '>', '<']) {
        return Err(err(pos, "expected a single `>` or `<`".into(), general));
    }
    pos += expr[pos..].len() - expr[pos..].trim_start().len();
    let value_start = pos;
    let rest = expr[pos..].trim_end();
    if rest.is_empty() {
        return Err(err(
            pos,
            "expected a change after the operator".into(),
            general,
        ));
    }
    let (sign, body) = match rest.chars().next() {
        Some('+') => (Some(1.0), &rest[1..]),
        Some('-') => (Some(-1.0), &rest[1..]),
        _ => (None, rest),
    };
    let body_at = value_start + (rest.len() - body.len());
    let num_len = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let number: f64 = body[..num_len].parse().map_err(|_| {
        err(
            body_at,
            format!("expected a number, found `{body}`"),
            general.clone(),
        )
    })?;
    let unit = body[num_len..].trim();
    let unit_at = body_at + num_len + (body[num_len..].len() - body[num_len..].trim_start().len());
    let want = if increase { 1.0 } else { -1.0 };
    // An unsigned change reads as an increase; a decrease must say `-`, so that
    // `throughput < 5%` is never silently read as a 5% drop.
    if sign.unwrap_or(1.0) != want || number == 0.0 {
        let example = if increase { "+10%" } else { "-10%" };
        return Err(err(
            value_start,
            format!(
                "`{}` checks for {}: the change must be {} and not zero",
                if increase { ">" } else { "<" },
                if increase {
                    "an increase"
                } else {
                    "a decrease"
                },
                if increase { "positive" } else { "negative" },
            ),
            format!(
                "e.g. `{} {} {example}`",
                def.key,
                if increase { ">" } else { "<" }
            ),
        ));
    }
    let threshold = threshold(def, want * number, unit).map_err(|m| err(unit_at, m.0, m.1))?;
    Ok(FailOn {
        expr: expr.trim().to_string(),
        figure: def.key,
        increase,
        threshold,
    })
}

/// The threshold for a number and unit on this figure, or (message, hint).
fn threshold(def: &FigureDef, v: f64, unit: &str) -> Result<Threshold, (String, String)> {
    let absolute = def.reference == Reference::Absolute;
    let t = match (def.unit, unit) {
        ("ratio", "%" | "pp") => Threshold::Absolute(v / 100.0),
        (_, "%") => Threshold::Relative(v / 100.0),
        ("ms", "ms") => Threshold::Absolute(v),
        ("ms", "us" | "µs") => Threshold::Absolute(v / 1000.0),
        ("ms", "s") => Threshold::Absolute(v * 1000.0),
        ("rps", "rps") => Threshold::Absolute(v),
        ("cores", "cores" | "vcpu") => Threshold::Absolute(v),
        ("MB", "MB" | "MiB") => Threshold::Absolute(v),
        _ => {
            let units = match def.unit {
                "ms" => "%, ms, us or s",
                "rps" => "% or rps",
                "cores" => "% or cores",
                "MB" => "% or MB",
                _ => "% (percentage points) or pp",
            };
            let found = if unit.is_empty() {
                "no unit".to_string()
            } else {
                format!("unit `{unit}`")
            };
            return Err((
                format!("{found} for `{}`", def.key),
                format!(
                    "`{}` takes {units}{}",
                    def.key,
                    if absolute {
                        "; its change is absolute: +0.5% means 0.5 points"
                    } else {
                        ""
                    }
                ),
            ));
        }
    };
    Ok(t)
}

/// Judges one check against the compare's figures.
pub fn evaluate(check: &FailOn, figures: &[Figure]) -> Check {
    let fail = |detail: String| Check {
        expr: check.expr.clone(),
        figure: check.figure.to_string(),
        passed: false,
        detail,
    };
    let Some(f) = figures.iter().find(|f| f.key == check.figure) else {
        return fail(format!("cannot judge: `{}` was not measured", check.figure));
    };
    let (value, ci, shown) = match check.threshold {
        Threshold::Relative(t) => match (f.relative, f.relative_ci) {
            (Some(v), ci) => (v, ci.map(|i| (i.low, i.high)), (t, "%")),
            (None, _) => {
                return fail(format!(
                    "cannot judge: {} has no relative change (its baseline is zero or missing); use an absolute threshold",
                    f.label
                ))
            }
        },
        Threshold::Absolute(t) => match f.change {
            Some(v) => (v, f.change_ci.map(|i| (i.low, i.high)), (t, "abs")),
            None => return fail(format!("cannot judge: {} has no samples on one side", f.label)),
        },
    };
    let Some((lo, hi)) = ci else {
        return fail(format!(
            "cannot judge: {} has no interval ({})",
            f.label, f.reason
        ));
    };
    let fmt = |x: f64| match shown.1 {
        "%" => format!("{:+.2}%", x * 100.0),
        _ if f.unit == "ratio" => format!("{:+.3} pp", x * 100.0),
        _ => format!("{x:+.4} {}", f.unit),
    };
    let t = shown.0;
    let (significant, beyond) = if check.increase {
        (lo > 0.0, value > t)
    } else {
        (hi < 0.0, value < t)
    };
    let what = format!(
        "{} changed {} [{}, {}]",
        f.label,
        fmt(value),
        fmt(lo),
        fmt(hi)
    );
    let detail = match (significant, beyond) {
        (true, true) => format!("{what}: a significant change beyond {}", fmt(t)),
        (false, true) => format!(
            "{what}: beyond {} but not significant (the interval reaches zero)",
            fmt(t)
        ),
        (_, false) => format!("{what}: within {}", fmt(t)),
    };
    Check {
        expr: check.expr.clone(),
        figure: check.figure.to_string(),
        passed: !(significant && beyond),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::figures::{judge, Judgement};

    #[test]
    fn parses_the_documented_forms() {
        let p = |s| parse(s).unwrap();
        assert_eq!(p("latency.p99 > +10%").threshold, Threshold::Relative(0.10));
        assert_eq!(p("added.p50>+0.5ms").threshold, Threshold::Absolute(0.5));
        assert_eq!(p("added.p50 > 500us").threshold, Threshold::Absolute(0.5));
        assert_eq!(
            p("cpu_per_krps > +15%").threshold,
            Threshold::Relative(0.15)
        );
        assert_eq!(
            p("error_rate > +0.5%").threshold,
            Threshold::Absolute(0.005)
        );
        assert_eq!(p("latency.p99.9 > 20%").figure, "latency.p999");
        let t = p(" throughput < -5% ");
        assert_eq!(
            (t.figure, t.increase, t.threshold),
            ("throughput", false, Threshold::Relative(-0.05))
        );
        assert_eq!(p("memory > +10MB").threshold, Threshold::Absolute(10.0));
    }

    #[test]
    fn bad_expressions_say_what_where_and_what_is_valid() {
        let e = |s| parse(s).unwrap_err();
        let x = e("latency.p98 > +10%");
        assert_eq!(x.column, 1);
        assert!(
            x.message.contains("unknown figure `latency.p98`") && x.hint.contains("latency.p99"),
            "{x}"
        );
        let x = e("latency.p99 = +10%");
        assert_eq!(x.column, 13);
        assert!(x.message.contains("expected `>` or `<`"), "{x}");
        let x = e("latency.p99 >= 10%");
        assert!(x.message.contains("single"), "{x}");
        let x = e("latency.p99 > -10%");
        assert_eq!(x.column, 15);
        assert!(x.message.contains("positive"), "{x}");
        let x = e("throughput < 5%");
        assert!(x.message.contains("negative"), "{x}");
        let x = e("latency.p99 > +10");
        assert!(
            x.message.contains("no unit") && x.hint.contains("ms"),
            "{x}"
        );
        let x = e("latency.p99 > +10rps");
        assert_eq!(x.column, 18);
        let x = e("latency.p99 > fast");
        assert!(x.message.contains("expected a number"), "{x}");
        assert!(e("latency.p99 >").message.contains("expected a change"));
        assert!(e("").message.contains("figure name"));
        assert!(e("rss > +1cores").hint.contains("% or MB"));
    }

    #[test]
    fn a_check_fails_only_on_a_significant_change_past_its_threshold() {
        let j = Judgement {
            confidence: 0.95,
            min_effect: 0.05,
        };
        let def = crate::compare::figures::find("latency.p99").unwrap();
        let fig = |b: Vec<f64>| vec![judge(def, vec![10.0, 10.1, 9.9, 10.0], b, Some(10.0), j)];
        let check = parse("latency.p99 > +10%").unwrap();
        assert!(
            !evaluate(&check, &fig(vec![12.0, 12.1, 11.9, 12.0])).passed,
            "+20%"
        );
        assert!(
            evaluate(&check, &fig(vec![10.5, 10.6, 10.4, 10.5])).passed,
            "+5% only"
        );
        // +20% on the estimate, but an interval reaching zero: not significant, passes.
        assert!(evaluate(&check, &fig(vec![9.0, 12.0, 14.0, 16.0])).passed);
        // Too few samples: fails as cannot-judge.
        let short = vec![judge(def, vec![10.0], vec![20.0], Some(10.0), j)];
        let c = evaluate(&check, &short);
        assert!(
            !c.passed && c.detail.contains("cannot judge"),
            "{}",
            c.detail
        );
    }
}
