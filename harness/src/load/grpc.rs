//! Unary gRPC over the HTTP/2 path: the request headers (added once, at plan time) and
//! reading a call's `grpc-status` from the response.
//!
//! A call is the HTTP/2 exchange of `http2` with gRPC's framing: the request body is the
//! message with its 5-byte prefix, built once; the response's status is `grpc-status`, in
//! the trailers, or in the headers of a trailers-only answer. Reading it parses one or two
//! ASCII digits in place: no allocation beyond what hyper does for the exchange. A call is
//! recorded with its gRPC code (0..=16) as its status, so the per-worker status slots that
//! count HTTP statuses (100..=999) count gRPC codes too without a second table.

use std::time::Duration;

use gauntlet_mocks::grpc::{from_http_status, parse_status_value};
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, TE};
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::http2::hyper_failure;
use super::outcome::FailureKind;

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// Adds the headers every call carries: `content-type: application/grpc`, `te: trailers`
/// and, with a deadline, `grpc-timeout`.
pub(crate) fn add_headers(headers: &mut HeaderMap, deadline: Option<Duration>) {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(TE, HeaderValue::from_static("trailers"));
    if let Some(d) = deadline {
        let value = crate::scenario::grpc_timeout_header(d);
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(GRPC_TIMEOUT, v);
        }
    }
}

/// The gRPC status of a response, read to its end: from the headers of a trailers-only
/// answer, else from the trailers. A response without `grpc-status` gets the code gRPC
/// clients derive from its HTTP status when that is not 200, and is a protocol failure
/// when it is 200 (a gRPC server must send a status).
pub(crate) async fn status(response: http::Response<Incoming>) -> Result<u16, FailureKind> {
    let (head, mut body) = response.into_parts();
    let mut code = match head.headers.get(&GRPC_STATUS) {
        Some(v) => Some(parse(v)?),
        None => None,
    };
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| hyper_failure(&e))?;
        if let Some(trailers) = frame.trailers_ref() {
            if let Some(v) = trailers.get(&GRPC_STATUS) {
                code = Some(parse(v)?);
            }
        }
    }
    match code {
        Some(c) => Ok(u16::from(c)),
        None if head.status != http::StatusCode::OK => {
            Ok(u16::from(from_http_status(head.status.as_u16())))
        }
        None => Err(FailureKind::Protocol),
    }
}

fn parse(value: &HeaderValue) -> Result<u8, FailureKind> {
    parse_status_value(value.as_bytes()).ok_or(FailureKind::Protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_of_a_call() {
        let mut h = HeaderMap::new();
        add_headers(&mut h, Some(Duration::from_millis(50)));
        assert_eq!(h["content-type"], "application/grpc");
        assert_eq!(h["te"], "trailers");
        assert_eq!(h["grpc-timeout"], "50000u");
        let mut h = HeaderMap::new();
        add_headers(&mut h, None);
        assert!(h.get("grpc-timeout").is_none());
    }
}
