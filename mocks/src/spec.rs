//! The short text forms of behaviours used on command lines: latency specs (`5ms`,
//! `1ms..5ms`, `p50=5ms,p99=40ms`, `0`), status mixes (`200:97%,503:3%`), gRPC status
//! mixes (`OK:70%,UNAVAILABLE:30%`) and slow bodies (`100B/50ms`).
//!
//! Kept in the library, not the binary, so the harness CLI reads the same forms.

use std::time::Duration;

use crate::units::{format_duration, parse_duration, parse_percent, parse_size};
use crate::{Chaos, GrpcStatusMix, Latency, SlowBody, StatusMix};

/// A spec that does not parse; the message says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SpecError {
    /// What is wrong and what a valid value looks like.
    pub message: String,
}

fn err(message: impl Into<String>) -> SpecError {
    SpecError {
        message: message.into(),
    }
}

/// How far percentages may stray from summing to 100% (rounding in `33.3%` style specs).
const PERCENT_SUM_TOLERANCE: f64 = 1e-6;

/// Parses a latency spec:
/// - `0` (or any zero duration): no delay;
/// - `5ms`: always 5 ms;
/// - `1ms..5ms`: uniform between the two, inclusive;
/// - `p50=5ms,p99=40ms`: percentile points, interpolated as [`Latency::Percentiles`] says.
pub fn parse_latency(text: &str) -> Result<Latency, SpecError> {
    let s = text.trim();
    let latency = if let Some((min, max)) = s.split_once("..") {
        Latency::Uniform {
            min: duration(min, text)?,
            max: duration(max, text)?,
        }
    } else if s.contains('=') {
        let points = s
            .split(',')
            .map(|point| percentile_point(point, text))
            .collect::<Result<Vec<_>, _>>()?;
        Latency::Percentiles(points)
    } else {
        let d = duration(s, text)?;
        if d.is_zero() {
            Latency::Zero
        } else {
            Latency::Fixed(d)
        }
    };
    latency
        .validate()
        .map_err(|e| err(format!("latency `{text}`: {e}")))?;
    Ok(latency)
}

fn duration(part: &str, whole: &str) -> Result<Duration, SpecError> {
    parse_duration(part).map_err(|e| {
        err(format!(
            "latency `{whole}`: {e} (a latency is `0`, `5ms`, `1ms..5ms` or `p50=5ms,p99=40ms`)"
        ))
    })
}

fn percentile_point(point: &str, whole: &str) -> Result<(f64, Duration), SpecError> {
    let bad = || {
        err(format!(
            "latency `{whole}`: `{}` is not a percentile point; write e.g. `p99=40ms`",
            point.trim()
        ))
    };
    let (name, value) = point.trim().split_once('=').ok_or_else(bad)?;
    let percentile: f64 = name
        .trim()
        .strip_prefix(['p', 'P'])
        .ok_or_else(bad)?
        .parse()
        .map_err(|_| bad())?;
    Ok((percentile, duration(value.trim(), whole)?))
}

/// Parses a status mix such as `200:97%,503:3%`. The percentages must sum to 100%. A lone
/// status without a percentage (`200`) means always that status.
pub fn parse_status_mix(text: &str) -> Result<StatusMix, SpecError> {
    let s = text.trim();
    let items: Vec<&str> = s.split(',').map(str::trim).collect();
    let mix = if let [only] = items[..] {
        match only.split_once(':') {
            None => StatusMix::always(status_code(only, text)?),
            Some(_) => StatusMix(vec![status_item(only, text)?]),
        }
    } else {
        StatusMix(
            items
                .iter()
                .map(|item| status_item(item, text))
                .collect::<Result<_, _>>()?,
        )
    };
    let sum: f64 = mix.0.iter().map(|&(_, w)| w).sum();
    if (sum - 1.0).abs() > PERCENT_SUM_TOLERANCE {
        return Err(err(format!(
            "statuses `{text}` sum to {}%, not 100%",
            format_percent(sum)
        )));
    }
    mix.validate()
        .map_err(|e| err(format!("statuses `{text}`: {e}")))?;
    Ok(mix)
}

fn status_item(item: &str, whole: &str) -> Result<(u16, f64), SpecError> {
    let (code, percent) = item.split_once(':').ok_or_else(|| {
        err(format!(
            "statuses `{whole}`: `{item}` needs a share; write e.g. `200:97%,503:3%`"
        ))
    })?;
    let weight = parse_percent(percent).map_err(|e| err(format!("statuses `{whole}`: {e}")))?;
    Ok((status_code(code, whole)?, weight))
}

fn status_code(code: &str, whole: &str) -> Result<u16, SpecError> {
    code.trim().parse().map_err(|_| {
        err(format!(
            "statuses `{whole}`: `{}` is not a status code; write e.g. `200:97%,503:3%`",
            code.trim()
        ))
    })
}

/// Writes a latency in the form [`parse_latency`] reads.
pub fn format_latency(latency: &Latency) -> String {
    match latency {
        Latency::Zero => "0".to_string(),
        Latency::Fixed(d) => format_duration(*d),
        Latency::Uniform { min, max } => {
            format!("{}..{}", format_duration(*min), format_duration(*max))
        }
        Latency::Percentiles(points) => points
            .iter()
            .map(|&(p, d)| format!("p{p}={}", format_duration(d)))
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// Writes a status mix in the form [`parse_status_mix`] reads.
pub fn format_status_mix(mix: &StatusMix) -> String {
    mix.0
        .iter()
        .map(|&(code, w)| format!("{code}:{}%", format_percent(w)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a gRPC status mix such as `OK:70%,UNAVAILABLE:30%`, in the form of
/// [`parse_status_mix`]: codes by name in any case (`unavailable`, `deadline-exceeded`) or by
/// number (`14`), percentages summing to 100%; a lone code (`OK`) means always that code.
pub fn parse_grpc_status_mix(text: &str) -> Result<GrpcStatusMix, SpecError> {
    let items: Vec<&str> = text.trim().split(',').map(str::trim).collect();
    let mix = match items[..] {
        [only] if !only.contains(':') => GrpcStatusMix::always(grpc_code(only, text)?),
        _ => GrpcStatusMix(
            items
                .iter()
                .map(|item| {
                    let (code, percent) = item.split_once(':').ok_or_else(|| {
                        err(format!(
                            "gRPC statuses `{text}`: `{item}` needs a share; write e.g. `OK:70%,UNAVAILABLE:30%`"
                        ))
                    })?;
                    let weight = parse_percent(percent)
                        .map_err(|e| err(format!("gRPC statuses `{text}`: {e}")))?;
                    Ok((grpc_code(code, text)?, weight))
                })
                .collect::<Result<_, SpecError>>()?,
        ),
    };
    let sum: f64 = mix.0.iter().map(|&(_, w)| w).sum();
    if (sum - 1.0).abs() > PERCENT_SUM_TOLERANCE {
        return Err(err(format!(
            "gRPC statuses `{text}` sum to {}%, not 100%",
            format_percent(sum)
        )));
    }
    mix.validate()
        .map_err(|e| err(format!("gRPC statuses `{text}`: {e}")))?;
    Ok(mix)
}

fn grpc_code(code: &str, whole: &str) -> Result<u8, SpecError> {
    crate::grpc::parse_code(code).ok_or_else(|| {
        err(format!(
            "gRPC statuses `{whole}`: `{}` is not a gRPC status; write a name such as `OK`, `UNAVAILABLE`, `DEADLINE_EXCEEDED` or a number 0..=16",
            code.trim()
        ))
    })
}

/// Writes a gRPC status mix in the form [`parse_grpc_status_mix`] reads, codes by name.
pub fn format_grpc_status_mix(mix: &GrpcStatusMix) -> String {
    mix.0
        .iter()
        .map(|&(code, w)| {
            let name = crate::grpc::code_name(code).map_or(code.to_string(), str::to_string);
            format!("{name}:{}%", format_percent(w))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a slow body `CHUNK/INTERVAL`, e.g. `100B/50ms` or `1KiB/1s`: that many bytes
/// after each interval. See [`SlowBody`].
pub fn parse_slow_body(text: &str) -> Result<SlowBody, SpecError> {
    let bad = |why: String| {
        err(format!(
            "slow body `{text}`: {why} (a slow body is `CHUNK/INTERVAL`, e.g. `100B/50ms`)"
        ))
    };
    let (chunk, interval) = text
        .trim()
        .split_once('/')
        .ok_or_else(|| bad("no `/` between chunk size and interval".into()))?;
    let chunk_bytes = parse_size(chunk).map_err(|e| bad(e.message))?;
    let chunk_bytes = usize::try_from(chunk_bytes)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| bad("the chunk must be at least 1 byte".into()))?;
    let interval = parse_duration(interval).map_err(|e| bad(e.message))?;
    let slow = SlowBody {
        chunk_bytes,
        interval,
    };
    let check = Chaos {
        slow_body: Some(slow),
        ..Chaos::default()
    };
    check.validate().map_err(|e| bad(e.to_string()))?;
    Ok(slow)
}

/// Writes a slow body in the form [`parse_slow_body`] reads.
pub fn format_slow_body(slow: &SlowBody) -> String {
    format!("{}B/{}", slow.chunk_bytes, format_duration(slow.interval))
}

/// Describes chaos in the flags' words, e.g. `hang 5% reset 1% slow-body 100B/50ms`, or
/// `none`.
pub fn format_chaos(chaos: &Chaos) -> String {
    let mut parts = Vec::new();
    for (name, share) in [
        ("hang", chaos.hang),
        ("reset", chaos.reset),
        ("close", chaos.close),
    ] {
        if share > 0.0 {
            parts.push(format!("{name} {}%", format_percent(share)));
        }
    }
    if let Some(slow) = &chaos.slow_body {
        parts.push(format!("slow-body {}", format_slow_body(slow)));
    }
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(" ")
    }
}

/// A fraction as a percentage without float noise: 0.7 → `70`, 0.025 → `2.5`.
fn format_percent(fraction: f64) -> String {
    let s = format!("{:.6}", fraction * 100.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn latencies() {
        let cases = [
            ("0", Latency::Zero),
            ("0ms", Latency::Zero),
            ("5ms", Latency::Fixed(ms(5))),
            (" 1.5s ", Latency::Fixed(ms(1500))),
            (
                "1ms..5ms",
                Latency::Uniform {
                    min: ms(1),
                    max: ms(5),
                },
            ),
            (
                "0..5ms",
                Latency::Uniform {
                    min: ms(0),
                    max: ms(5),
                },
            ),
            (
                "p50=5ms,p99=40ms",
                Latency::Percentiles(vec![(50.0, ms(5)), (99.0, ms(40))]),
            ),
            (
                "p50=5ms, p99.9=1s",
                Latency::Percentiles(vec![(50.0, ms(5)), (99.9, ms(1000))]),
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(parse_latency(spec), Ok(want), "{spec}");
        }
    }

    #[test]
    fn bad_latencies() {
        for spec in [
            "",
            "5",
            "fast",
            "5ms..",
            "..5ms",
            "5ms..1ms",
            "p50",
            "p50=",
            "50=5ms",
            "px=5ms",
            "p99=5ms,p50=6ms",
            "p50=5ms,p99=1ms",
            "p101=5ms",
            "p50=5ms,5ms",
        ] {
            assert!(parse_latency(spec).is_err(), "{spec:?} should be refused");
        }
    }

    #[test]
    fn status_mixes() {
        let cases = [
            ("200", StatusMix::always(200)),
            ("503:100%", StatusMix::always(503)),
            ("200:97%,503:3%", StatusMix(vec![(200, 0.97), (503, 0.03)])),
            (
                "200:33.3333333%, 500:33.3333333%, 503:33.3333334%",
                StatusMix(vec![
                    (200, 0.333333333),
                    (500, 0.333333333),
                    (503, 0.333333334),
                ]),
            ),
        ];
        for (spec, want) in cases {
            let got = parse_status_mix(spec).unwrap();
            assert_eq!(got.0.len(), want.0.len(), "{spec}");
            for (g, w) in got.0.iter().zip(&want.0) {
                assert_eq!(g.0, w.0, "{spec}");
                assert!((g.1 - w.1).abs() < 1e-12, "{spec}: {g:?} vs {w:?}");
            }
        }
    }

    #[test]
    fn bad_status_mixes() {
        let cases = [
            ("", "not a status code"),
            ("200:50%", "sum to 50%"),
            ("200:97%,503:4%", "sum to 101%"),
            ("200:97,503:3%", "not a percentage"),
            ("200:97%,503", "needs a share"),
            ("ok:100%", "not a status code"),
            ("100:100%", "not in 200..=599"),
            ("200:50%,200:50%", "listed twice"),
        ];
        for (spec, message) in cases {
            let e = parse_status_mix(spec).expect_err(spec);
            assert!(e.message.contains(message), "{spec:?}: {e}");
        }
    }

    #[test]
    fn format_round_trips() {
        for spec in ["0", "5ms", "1ms..5ms", "p50=5ms,p99.9=40ms"] {
            assert_eq!(format_latency(&parse_latency(spec).unwrap()), spec);
        }
        for spec in ["200:100%", "200:97%,503:3%", "200:70%,503:27.5%,429:2.5%"] {
            assert_eq!(format_status_mix(&parse_status_mix(spec).unwrap()), spec);
        }
        for spec in ["100B/50ms", "1B/0", "4096B/2s"] {
            assert_eq!(format_slow_body(&parse_slow_body(spec).unwrap()), spec);
        }
    }

    #[test]
    fn slow_bodies() {
        let ok = |spec: &str, chunk_bytes, interval| {
            let want = SlowBody {
                chunk_bytes,
                interval,
            };
            assert_eq!(parse_slow_body(spec), Ok(want), "{spec}");
        };
        ok("100B/50ms", 100, ms(50));
        ok(" 1KiB / 1s ", 1024, ms(1000));
        ok("1/0", 1, Duration::ZERO);
        let cases = [
            ("100B", "no `/`"),
            ("0B/5ms", "at least 1 byte"),
            ("lots/5ms", "not a size"),
            ("100B/5", "not a duration"),
            ("100B/100h", "longer than the limit"),
        ];
        for (spec, message) in cases {
            let e = parse_slow_body(spec).expect_err(spec);
            assert!(e.message.contains(message), "{spec:?}: {e}");
        }
    }

    #[test]
    fn chaos_descriptions() {
        assert_eq!(format_chaos(&Chaos::default()), "none");
        let chaos = Chaos {
            hang: 0.05,
            reset: 0.0,
            close: 0.125,
            slow_body: Some(SlowBody {
                chunk_bytes: 100,
                interval: ms(50),
            }),
        };
        assert_eq!(
            format_chaos(&chaos),
            "hang 5% close 12.5% slow-body 100B/50ms"
        );
    }

    #[test]
    fn grpc_status_mixes() {
        let mix = parse_grpc_status_mix("OK:70%, unavailable:30%").unwrap();
        assert_eq!(mix, GrpcStatusMix(vec![(0, 0.7), (14, 0.3)]));
        assert_eq!(format_grpc_status_mix(&mix), "OK:70%,UNAVAILABLE:30%");
        assert_eq!(
            parse_grpc_status_mix("deadline-exceeded").unwrap(),
            GrpcStatusMix::always(4)
        );
        assert_eq!(
            parse_grpc_status_mix("0:99%,14:1%").unwrap(),
            GrpcStatusMix(vec![(0, 0.99), (14, 0.01)])
        );
        for (spec, message) in [
            ("OK:70%,UNAVAILABLE:20%", "sum to 90%"),
            ("OK:70%,UNAVAILABLE", "needs a share"),
            ("NOPE", "not a gRPC status"),
            ("17", "not a gRPC status"),
            ("OK:50%,ok:50%", "listed twice"),
        ] {
            let e = parse_grpc_status_mix(spec).expect_err(spec);
            assert!(e.message.contains(message), "{spec:?}: {e}");
        }
    }
}
