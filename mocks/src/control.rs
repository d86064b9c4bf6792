//! The control API a standalone mock answers under `/__gauntlet/`: read the counters, reset
//! them, read or swap the behaviour. Control requests are not counted as traffic.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde::Serialize;

use crate::counters::UpstreamCounts;
use crate::endpoint::EndpointState;
use crate::server::MockBody;
use crate::Behavior;

/// Paths under this prefix are control requests when the control API is on.
pub const PREFIX: &str = "/__gauntlet/";

/// A behaviour is a few hundred bytes of JSON; anything far larger is a mistake.
const MAX_CONTROL_BODY: usize = 1 << 20;

/// Answers one control request. Failures are answered with a status and a message, never
/// an error, so a bad control call cannot close the connection.
pub(crate) async fn handle(
    state: Arc<EndpointState>,
    request: Request<Incoming>,
) -> Result<Response<MockBody>, hyper::Error> {
    let route = request.uri().path().strip_prefix(PREFIX).unwrap_or("");
    let response = match (route, request.method()) {
        ("stats", &Method::GET) => json(StatusCode::OK, &stats(&state)),
        ("stats", &Method::DELETE) => {
            state.counters.reset();
            text(StatusCode::OK, "counters reset\n")
        }
        ("stats", _) => not_allowed("GET, DELETE"),
        ("behavior", &Method::GET) => json(StatusCode::OK, &state.current_behavior()),
        ("behavior", &Method::PUT) => put_behavior(&state, request.into_body()).await,
        ("behavior", _) => not_allowed("GET, PUT"),
        _ => text(
            StatusCode::NOT_FOUND,
            "unknown control path; try GET /__gauntlet/stats, DELETE /__gauntlet/stats, \
             GET or PUT /__gauntlet/behavior\n",
        ),
    };
    Ok(response)
}

/// The endpoint's counters in the same shape as an upstream's, so tools read both alike.
fn stats(state: &EndpointState) -> UpstreamCounts {
    UpstreamCounts::from_endpoints(state.id.upstream.clone(), vec![state.counters.snapshot()])
}

async fn put_behavior(state: &EndpointState, body: Incoming) -> Response<MockBody> {
    let bytes = match Limited::new(body, MAX_CONTROL_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            let status = if error.is::<LengthLimitError>() {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return text(status, format!("cannot read the behavior: {error}\n"));
        }
    };
    let behavior: Behavior = match serde_json::from_slice(&bytes) {
        Ok(behavior) => behavior,
        Err(error) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("body is not a behavior as JSON: {error}\n"),
            )
        }
    };
    match state.set_behavior(behavior) {
        Ok(()) => {
            let now = state.current_behavior();
            // A log reader (Gauntlet keeps each mock container's log) sees what is served.
            tracing::info!(
                "behavior set: {}",
                serde_json::to_string(&now).unwrap_or_default()
            );
            json(StatusCode::OK, &now)
        }
        Err(error) => text(StatusCode::BAD_REQUEST, format!("{error}\n")),
    }
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<MockBody> {
    match serde_json::to_vec_pretty(value) {
        Ok(mut body) => {
            body.push(b'\n');
            respond(status, "application/json", Bytes::from(body))
        }
        Err(error) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the answer: {error}\n"),
        ),
    }
}

fn text(status: StatusCode, message: impl Into<Bytes>) -> Response<MockBody> {
    respond(status, "text/plain; charset=utf-8", message.into())
}

fn not_allowed(allow: &'static str) -> Response<MockBody> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<MockBody> {
    let mut response = Response::new(MockBody::full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
