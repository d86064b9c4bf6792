//! Unary gRPC answers: the status codes, a weighted mix of them, and the framing.
//!
//! An endpoint whose [`Behavior::grpc`](crate::Behavior::grpc) is set answers every request
//! (any path, e.g. `/gauntlet.mock.v1.Mock/Call`) as a unary gRPC method over HTTP/2: HTTP
//! status 200, `content-type: application/grpc`, and a `grpc-status` drawn from the mix. An
//! `OK` answer carries one length-prefixed message of `body_bytes` bytes and the status in
//! the trailers; any other status is a trailers-only answer (the status in the headers, no
//! message), as gRPC servers send errors. The latency distributions and chaos apply as for
//! HTTP.

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderValue;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::MockError;

/// The gRPC status codes by number, in the spelling of the gRPC specification.
pub const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The largest gRPC status code.
pub const MAX_CODE: u8 = 16;

/// The status `OK`.
pub const OK: u8 = 0;
/// The status `DEADLINE_EXCEEDED`.
pub const DEADLINE_EXCEEDED: u8 = 4;
/// The status `UNAVAILABLE`.
pub const UNAVAILABLE: u8 = 14;

/// The name of a code, e.g. 14 → `UNAVAILABLE`; `None` past [`MAX_CODE`].
pub fn code_name(code: u8) -> Option<&'static str> {
    CODES.get(usize::from(code)).copied()
}

/// Reads a code given by name in any case, with `_` or `-` between words (`unavailable`,
/// `RESOURCE_EXHAUSTED`, `resource-exhausted`) or by number (`14`).
pub fn parse_code(text: &str) -> Option<u8> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u8>() {
        return (n <= MAX_CODE).then_some(n);
    }
    let wanted = t.replace('-', "_").to_ascii_uppercase();
    CODES
        .iter()
        .position(|name| *name == wanted)
        .and_then(|i| u8::try_from(i).ok())
}

/// The code a gRPC client assigns a response that carries no `grpc-status`, from its HTTP
/// status (the mapping of gRPC's "HTTP to gRPC status code mapping" document).
pub fn from_http_status(status: u16) -> u8 {
    match status {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502 | 503 | 504 => UNAVAILABLE,
        _ => 2,
    }
}

/// The value of a `grpc-status` header, e.g. `b"14"` → 14; `None` when it is not a code.
#[inline]
pub fn parse_status_value(value: &[u8]) -> Option<u8> {
    match value {
        [d] if d.is_ascii_digit() => Some(d - b'0'),
        [b'1', d] if d.is_ascii_digit() && d - b'0' <= MAX_CODE - 10 => Some(10 + d - b'0'),
        _ => None,
    }
}

/// A weighted choice of gRPC status codes. Weights are fractions that sum to 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrpcStatusMix(pub Vec<(u8, f64)>);

/// How far the weights may stray from 1 (rounding in `33.3%` specs).
const WEIGHT_SUM_TOLERANCE: f64 = 1e-6;

impl GrpcStatusMix {
    /// A mix that always answers `code`.
    pub fn always(code: u8) -> Self {
        Self(vec![(code, 1.0)])
    }

    /// Checks the mix: at least one code, each in 0..=16 and listed once, weights finite and
    /// non-negative, summing to 1.
    pub fn validate(&self) -> Result<(), MockError> {
        let invalid = |m: String| Err(MockError::InvalidBehavior(m));
        if self.0.is_empty() {
            return invalid("gRPC status mix needs at least one status".into());
        }
        let mut sum = 0.0;
        for (i, &(code, weight)) in self.0.iter().enumerate() {
            if code > MAX_CODE {
                return invalid(format!("gRPC status {code} is not in 0..=16"));
            }
            if self.0[..i].iter().any(|&(c, _)| c == code) {
                return invalid(format!("gRPC status {code} is listed twice"));
            }
            if !weight.is_finite() || weight < 0.0 {
                return invalid(format!(
                    "gRPC status {code} has weight {weight}; weights are fractions in 0..=1"
                ));
            }
            sum += weight;
        }
        if (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
            return invalid(format!("gRPC status weights sum to {sum}, not 1 (100%)"));
        }
        Ok(())
    }
}

/// A [`GrpcStatusMix`] ready for the hot path: cumulative weights and the header values,
/// made once per behaviour.
#[derive(Debug, Clone)]
pub struct GrpcTable {
    cumulative: Box<[f64]>,
    codes: Box<[u8]>,
    /// The `grpc-status` header value of each code, by code.
    values: Box<[HeaderValue]>,
    /// The one message every `OK` answer carries, length prefix included.
    message: Bytes,
}

impl GrpcTable {
    /// Builds the table after checking the mix; `message_bytes` is the size of the message
    /// an `OK` answer carries (without the 5-byte prefix).
    pub fn new(mix: &GrpcStatusMix, message_bytes: usize) -> Result<Self, MockError> {
        mix.validate()?;
        let mut running = 0.0;
        let mut cumulative = Vec::with_capacity(mix.0.len());
        for &(_, weight) in &mix.0 {
            running += weight;
            cumulative.push(running);
        }
        // Rounding may leave the sum a hair below 1; the last entry must catch every draw.
        if let Some(last) = cumulative.last_mut() {
            *last = f64::INFINITY;
        }
        Ok(Self {
            cumulative: cumulative.into_boxed_slice(),
            codes: mix.0.iter().map(|&(c, _)| c).collect(),
            values: (0..=MAX_CODE)
                .map(|c| HeaderValue::from(u16::from(c)))
                .collect(),
            message: frame(&filler_message(message_bytes)),
        })
    }

    /// Draws one status code. A single-status mix does not touch the RNG.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u8 {
        if let [only] = &*self.codes {
            return *only;
        }
        let u: f64 = rng.random();
        let i = self.cumulative.partition_point(|&c| c <= u);
        self.codes
            .get(i)
            .or(self.codes.last())
            .copied()
            .unwrap_or(OK)
    }

    /// The `grpc-status` header value of `code`.
    #[inline]
    pub fn status_value(&self, code: u8) -> HeaderValue {
        self.values
            .get(usize::from(code))
            .cloned()
            .unwrap_or(HeaderValue::from_static("2"))
    }

    /// The framed message of an `OK` answer, shared by every answer.
    pub fn message(&self) -> &Bytes {
        &self.message
    }
}

/// One gRPC length-prefixed message: a 0 (uncompressed) flag, the length as 4 bytes big
/// endian, the message.
pub fn frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(0);
    out.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    out.put_slice(message);
    out.freeze()
}

/// A valid protobuf message of exactly `n` bytes: field 1 (`bytes payload = 1`) filled with
/// `x`, so that a client decoding it with any message type whose field 1 is `bytes`, or as
/// unknown fields, reads it. A 1-byte message cannot hold the field and is sent empty.
pub fn filler_message(n: usize) -> Vec<u8> {
    if n < 2 {
        return Vec::new();
    }
    // Tag (1 byte) + length varint + payload = n. Where no minimal varint fits exactly (n =
    // 130: 127 + 2 is 129, 128 + 3 is 131), the varint gets one byte of padding, which
    // protobuf allows.
    let mut payload = n - 2;
    while 1 + varint_len(payload as u64) + payload > n {
        payload -= 1;
    }
    let width = n - 1 - payload;
    let mut out = Vec::with_capacity(n);
    out.push(0x0a);
    let mut v = payload as u64;
    for i in 0..width {
        let group = (v & 0x7f) as u8;
        v >>= 7;
        out.push(if i + 1 < width { group | 0x80 } else { group });
    }
    out.resize(n, b'x');
    out
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn codes_by_name_and_number() {
        assert_eq!(parse_code("unavailable"), Some(14));
        assert_eq!(parse_code("RESOURCE_EXHAUSTED"), Some(8));
        assert_eq!(parse_code("resource-exhausted"), Some(8));
        assert_eq!(parse_code("Deadline_Exceeded"), Some(4));
        assert_eq!(parse_code("0"), Some(0));
        assert_eq!(parse_code("16"), Some(16));
        for bad in ["17", "-1", "unavailible", "", "200"] {
            assert_eq!(parse_code(bad), None, "{bad}");
        }
        assert_eq!(code_name(14), Some("UNAVAILABLE"));
        assert_eq!(code_name(17), None);
    }

    #[test]
    fn status_values() {
        for code in 0..=MAX_CODE {
            assert_eq!(parse_status_value(code.to_string().as_bytes()), Some(code));
        }
        for bad in [&b""[..], b"17", b"x", b"014", b"100"] {
            assert_eq!(parse_status_value(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn mixes_are_checked() {
        assert!(GrpcStatusMix(vec![(0, 0.7), (14, 0.3)]).validate().is_ok());
        for bad in [
            GrpcStatusMix(vec![]),
            GrpcStatusMix(vec![(17, 1.0)]),
            GrpcStatusMix(vec![(0, 0.5), (0, 0.5)]),
            GrpcStatusMix(vec![(0, 0.5)]),
            GrpcStatusMix(vec![(0, f64::NAN)]),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sampling_follows_the_weights() {
        let table = GrpcTable::new(&GrpcStatusMix(vec![(0, 0.7), (14, 0.3)]), 10).unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let n = 100_000;
        let unavailable = (0..n).filter(|_| table.sample(&mut rng) == 14).count();
        let share = unavailable as f64 / n as f64;
        // Five standard deviations of a binomial share at n = 100 000 is about 0.007.
        assert!((share - 0.3).abs() < 0.007, "{share}");
        assert_eq!(table.status_value(14), "14");
        assert_eq!(&table.message()[..5], &[0, 0, 0, 0, 10]);
    }

    #[tokio::test]
    async fn an_ok_answer_is_the_message_then_the_trailers() {
        use http_body_util::BodyExt;
        use hyper::body::Body;
        let table = GrpcTable::new(&GrpcStatusMix::always(OK), 3).unwrap();
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", table.status_value(OK));
        let mut body = crate::server::MockBody::grpc(table.message().clone(), trailers);
        assert_eq!(body.size_hint().exact(), Some(8));
        let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&data[..], &[0, 0, 0, 0, 3, 0x0a, 1, b'x']);
        let end = body
            .frame()
            .await
            .unwrap()
            .unwrap()
            .into_trailers()
            .unwrap();
        assert_eq!(end["grpc-status"], "0");
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none());
    }

    #[test]
    fn filler_messages_are_exact_and_valid() {
        for n in [0usize, 2, 3, 127, 128, 129, 130, 131, 1024, 16_385, 16_386] {
            let m = filler_message(n);
            assert_eq!(m.len(), n, "length of {n}");
            if n == 0 {
                continue;
            }
            // Decode: tag 0x0a, varint length, payload to the end.
            assert_eq!(m[0], 0x0a);
            let (mut len, mut shift, mut i) = (0u64, 0, 1);
            loop {
                let b = m[i];
                len |= u64::from(b & 0x7f) << shift;
                shift += 7;
                i += 1;
                if b & 0x80 == 0 {
                    break;
                }
            }
            assert_eq!(i + len as usize, n, "payload of {n} fills the message");
        }
        assert!(filler_message(1).is_empty());
    }
}
