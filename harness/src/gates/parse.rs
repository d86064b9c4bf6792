//! The gate parser: tokens → [`Gate`]. Every error carries the column of the token that is
//! wrong and a hint saying what would be right.

use super::lex::{lex, Op, Tok, Token};
use super::metric::{MetricRef, Step, Unit};
use super::names::parse_metric;
use super::suggest::closest;
use super::value::{checked, number, Number};
use super::{syntax_error as error, Gate, GateSyntaxError, Scope, Threshold};

/// Clause keywords, for "did you mean" on a misspelt one.
const KEYWORDS: [&str; 4] = ["during", "after", "before", "step"];

/// Parses one gate (see the module docs for the grammar).
pub fn parse_gate(text: &str) -> Result<Gate, GateSyntaxError> {
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        end_col: text.chars().count() + 1,
    };
    p.gate(text)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Column just past the text, for "expected … here" at the end.
    end_col: usize,
}

/// A metric as parsed, before its step is known.
struct RawMetric {
    name: String,
    col: usize,
    metric: super::metric::Metric,
    baseline: bool,
}

// === impl Parser ===

impl Parser {
    fn gate(&mut self, text: &str) -> Result<Gate, GateSyntaxError> {
        let metric = match self.next() {
            Some(Token {
                tok: Tok::Word(w),
                col,
            }) => self.metric(&w, col)?,
            Some(t) => {
                return Err(error(t.col, "a gate starts with a metric")
                    .with_hint("e.g. `latency.p99 < 50ms` or `errors.rate < 1%`"))
            }
            None => {
                return Err(error(1, "empty gate")
                    .with_hint("write e.g. `latency.p99 < 50ms` or `errors.rate < 1%`"))
            }
        };
        let op = match self.next() {
            Some(Token {
                tok: Tok::Op(op), ..
            }) => op,
            other => {
                let col = other.as_ref().map_or(self.end_col, |t| t.col);
                let hint = match other.map(|t| t.tok) {
                    Some(Tok::Word(w)) => word_op(&w)
                        .map(|op| format!("write `{op}`"))
                        .unwrap_or_else(|| example(&metric)),
                    _ => example(&metric),
                };
                return Err(error(
                    col,
                    &format!(
                        "expected a comparison (<, <=, >, >=, ==, !=) after `{}`",
                        metric.name
                    ),
                )
                .with_hint(&hint));
            }
        };
        let threshold = self.threshold(&metric, op)?;
        let (scope, step) = self.clauses()?;
        let step_value = resolve_step(&metric, step)?;
        let threshold = match threshold {
            RawThreshold::Value(v) => Threshold::Value(v),
            RawThreshold::ShareOf { fraction, of } => Threshold::ShareOf {
                fraction,
                of: finish(of, step_value.or(Some(Step::Envoy))),
            },
        };
        Ok(Gate {
            text: text.trim().to_string(),
            metric: finish(metric, step_value),
            op,
            threshold,
            scope,
        })
    }

    fn metric(&self, word: &str, col: usize) -> Result<RawMetric, GateSyntaxError> {
        let (metric, baseline) = parse_metric(word, col)?;
        Ok(RawMetric {
            name: word.to_string(),
            col,
            metric,
            baseline,
        })
    }

    fn threshold(&mut self, metric: &RawMetric, op: Op) -> Result<RawThreshold, GateSyntaxError> {
        let (text, col) = match self.next() {
            Some(Token {
                tok: Tok::Number(n),
                col,
            }) => (n, col),
            other => {
                let col = other.map_or(self.end_col, |t| t.col);
                return Err(error(
                    col,
                    &format!("expected a threshold after `{}`", op.as_str()),
                )
                .with_hint(&example(metric)));
            }
        };
        let unit = metric.metric.unit();
        if let Some(Token {
            tok: Tok::Word(w), ..
        }) = self.peek()
        {
            if matches!(w.as_str(), "us" | "µs" | "ms" | "s" | "m" | "%" | "rps") {
                return Err(error(col, &format!("`{text}` and `{w}` are apart"))
                    .with_hint(&format!("write `{text}{w}`, without the space")));
            }
        }
        let number = number(&text, col, unit)?;
        if let Some(Token {
            tok: Tok::Word(w),
            col: of_col,
        }) = self.peek()
        {
            if w == "of" {
                let of_col = *of_col;
                let Number::Percent(pct) = number else {
                    return Err(error(of_col, "`of` follows a percentage")
                        .with_hint("e.g. `99% of mocks.backend.requests`"));
                };
                self.pos += 1;
                let of = match self.next() {
                    Some(Token {
                        tok: Tok::Word(w),
                        col,
                    }) => self.metric(&w, col)?,
                    other => {
                        let col = other.map_or(self.end_col, |t| t.col);
                        return Err(error(col, "expected a metric after `of`")
                            .with_hint("e.g. `99% of mocks.backend.requests`"));
                    }
                };
                if of.metric.unit() != unit {
                    return Err(error(
                        of.col,
                        &format!(
                            "`{}` is in {} but `{}` is in {}",
                            of.name,
                            of.metric.unit().as_str(),
                            metric.name,
                            unit.as_str()
                        ),
                    )
                    .with_hint("compare a metric with a share of one in the same unit"));
                }
                return Ok(RawThreshold::ShareOf {
                    fraction: pct / 100.0,
                    of,
                });
            }
        }
        Ok(RawThreshold::Value(checked(
            number,
            &text,
            col,
            &metric.name,
            unit,
        )?))
    }

    /// The optional clauses after the threshold: one window, one `step`, in any order.
    fn clauses(&mut self) -> Result<(Scope, Option<(Step, usize)>), GateSyntaxError> {
        let mut scope: Option<(Scope, &'static str)> = None;
        let mut step = None;
        while let Some(t) = self.next() {
            let word = match &t.tok {
                Tok::Word(w) => w.as_str(),
                _ => "",
            };
            let kw = match word {
                "during" => "during",
                "after" => "after",
                "before" => "before",
                "step" => "step",
                _ => return Err(unexpected(&t)),
            };
            if kw == "step" {
                if step.is_some() {
                    return Err(error(t.col, "a gate names one step").with_hint("drop one `step`"));
                }
                step = Some(self.step_name()?);
                continue;
            }
            if let Some((_, first)) = scope {
                return Err(error(
                    t.col,
                    &format!("a gate has one window, and this one already has `{first}`"),
                )
                .with_hint("write one gate per window"));
            }
            let s = match kw {
                "during" => self.during()?,
                "after" => {
                    let label = self.label("after")?;
                    let offset_s = if self.eat(&Tok::Plus) {
                        self.duration("an offset after `+`", "`+ 2s`")?.0
                    } else {
                        0.0
                    };
                    Scope::After { label, offset_s }
                }
                _ => Scope::Before {
                    label: self.label("before")?,
                },
            };
            scope = Some((s, kw));
        }
        Ok((scope.map_or(Scope::WholeStep, |(s, _)| s), step))
    }

    fn during(&mut self) -> Result<Scope, GateSyntaxError> {
        let how = "write `during [20s, 40s]`";
        if !self.eat(&Tok::LBracket) {
            let at = self.peek().map_or(self.end_col, |t| t.col);
            return Err(error(at, "expected `[` after `during`").with_hint(how));
        }
        let (from_s, _) = self.duration("the start of the window", "`[20s, 40s]`")?;
        if !self.eat(&Tok::Comma) {
            let at = self.peek().map_or(self.end_col, |t| t.col);
            return Err(error(at, "expected `,` between the window's start and end").with_hint(how));
        }
        let (to_s, to_col) = self.duration("the end of the window", "`[20s, 40s]`")?;
        if !self.eat(&Tok::RBracket) {
            let at = self.peek().map_or(self.end_col, |t| t.col);
            return Err(error(at, "expected `]` to close the window").with_hint(how));
        }
        if to_s <= from_s {
            return Err(error(to_col, "the window ends before it starts")
                .with_hint("the end must be later than the start, e.g. `during [20s, 40s]`"));
        }
        Ok(Scope::During { from_s, to_s })
    }

    /// A duration token, in seconds, and its column.
    fn duration(&mut self, what: &str, eg: &str) -> Result<(f64, usize), GateSyntaxError> {
        match self.next() {
            Some(Token {
                tok: Tok::Number(n),
                col,
            }) => match number(&n, col, Unit::Ms)? {
                Number::Ms(ms) if ms >= 0.0 => Ok((ms / 1000.0, col)),
                Number::Plain(0.0) => Ok((0.0, col)),
                _ => Err(error(col, &format!("`{n}` is not a duration"))
                    .with_hint(&format!("{what} is a time with a unit, e.g. {eg}"))),
            },
            other => {
                let col = other.map_or(self.end_col, |t| t.col);
                Err(error(col, &format!("expected {what}")).with_hint(&format!("e.g. {eg}")))
            }
        }
    }

    fn label(&mut self, after: &str) -> Result<String, GateSyntaxError> {
        match self.next() {
            Some(Token {
                tok: Tok::Word(w) | Tok::Number(w),
                ..
            }) => Ok(w),
            other => {
                let col = other.map_or(self.end_col, |t| t.col);
                Err(
                    error(col, &format!("expected an event label after `{after}`")).with_hint(
                        &format!("a timeline event's label, e.g. `{after} shift-to-canary`"),
                    ),
                )
            }
        }
    }

    fn step_name(&mut self) -> Result<(Step, usize), GateSyntaxError> {
        match self.next() {
            Some(Token {
                tok: Tok::Word(w),
                col,
            }) => match Step::from_name(&w) {
                Some(s) => Ok((s, col)),
                None => Err(error(col, &format!("unknown step `{w}`")).with_hint(
                    &closest(&w, &["envoy", "baseline"]).map_or_else(
                        || "the steps are `envoy` and `baseline`".to_string(),
                        |s| format!("did you mean `{s}`?"),
                    ),
                )),
            },
            other => {
                let col = other.map_or(self.end_col, |t| t.col);
                Err(error(col, "expected a step name after `step`")
                    .with_hint("`step envoy` or `step baseline`"))
            }
        }
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += usize::from(t.is_some());
        t
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let hit = self.peek().is_some_and(|t| &t.tok == tok);
        self.pos += usize::from(hit);
        hit
    }
}

enum RawThreshold {
    Value(f64),
    ShareOf { fraction: f64, of: RawMetric },
}

/// Gives a parsed metric its step: `baseline.` prefix, else the `step` clause, else `envoy`.
fn resolve_step(
    m: &RawMetric,
    step: Option<(Step, usize)>,
) -> Result<Option<Step>, GateSyntaxError> {
    if !m.metric.per_step() {
        return match step {
            Some((_, col)) => Err(error(
                col,
                &format!("`{}` covers the whole run, not a step", m.name),
            )
            .with_hint("drop the `step` clause")),
            None => Ok(None),
        };
    }
    match (m.baseline, step) {
        (true, Some((Step::Envoy, col))) => Err(error(
            col,
            &format!("`{}` reads the baseline step, not `step envoy`", m.name),
        )
        .with_hint("drop the `baseline.` prefix or the `step` clause")),
        (true, _) => Ok(Some(Step::Baseline)),
        (false, Some((s, _))) => Ok(Some(s)),
        (false, None) => Ok(Some(Step::Envoy)),
    }
}

/// The finished metric reference; `default` is the gate's step.
fn finish(m: RawMetric, default: Option<Step>) -> MetricRef {
    let step = if !m.metric.per_step() {
        None
    } else if m.baseline {
        Some(Step::Baseline)
    } else {
        default.or(Some(Step::Envoy))
    };
    MetricRef {
        name: m.name,
        metric: m.metric,
        step,
    }
}

fn word_op(w: &str) -> Option<&'static str> {
    Some(match w {
        "lt" => "<",
        "le" | "lte" => "<=",
        "gt" => ">",
        "ge" | "gte" => ">=",
        "eq" | "is" | "=" => "==",
        "ne" | "neq" => "!=",
        _ => return None,
    })
}

/// An example gate over this metric, for hints.
fn example(m: &RawMetric) -> String {
    let v = match m.metric.unit() {
        Unit::Ms => "50ms",
        Unit::Ratio => "1%",
        Unit::Count => "0",
        Unit::Rps => "1000",
    };
    format!("e.g. `{} < {v}`", m.name)
}

fn unexpected(t: &Token) -> GateSyntaxError {
    let shown = match &t.tok {
        Tok::Word(w) | Tok::Number(w) => w.clone(),
        Tok::Op(op) => op.as_str().to_string(),
        Tok::LBracket => "[".into(),
        Tok::RBracket => "]".into(),
        Tok::Comma => ",".into(),
        Tok::Plus => "+".into(),
    };
    let hint = match &t.tok {
        Tok::Word(w) => closest(w, &KEYWORDS).map(|k| format!("did you mean `{k}`?")),
        _ => None,
    };
    error(t.col, &format!("unexpected `{shown}`")).with_hint(&hint.unwrap_or_else(|| {
        "after the threshold a gate takes `during [from, to]`, `after <event> [+ offset]`, \
         `before <event>` and `step <name>`"
            .to_string()
    }))
}
