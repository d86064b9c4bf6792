//! `upstreams:`: mock clusters, each `endpoints` servers with one behaviour (see
//! `behavior`); their Envoy policies are under `clusters:` (see `cluster_policy`).

use std::collections::HashSet;
use std::time::Duration;

use gauntlet_mocks::behavior::MAX_LATENCY;
use gauntlet_mocks::Behavior;
use serde_yaml::Value;

use super::behavior::{behavior, BehaviorFields};
use super::check::Ctx;
use super::locate::FieldPath;
use super::model::{Upstream, UpstreamProtocol};
use super::raw::{OrderedMap, RawUpstream, Scalar};

/// Validates `upstreams:`; `None` when the section is absent or any upstream is invalid.
pub(crate) fn upstreams(
    ctx: &mut Ctx<'_>,
    raw: Option<&OrderedMap<Scalar, Option<RawUpstream>>>,
) -> Option<Vec<Upstream>> {
    let path = FieldPath::root().key("upstreams");
    let Some(raw) = raw else {
        ctx.missing(
            &FieldPath::root(),
            "upstreams",
            "declare at least one mock upstream, e.g. `upstreams: { backend: { endpoints: 2 } }`",
        );
        return None;
    };
    if raw.0.is_empty() {
        ctx.err(
            &path,
            "no upstreams are declared",
            "declare at least one, e.g. `backend: { endpoints: 2 }`",
        );
        return None;
    }
    let max = ctx.limits.max_upstreams;
    if raw.0.len() > max {
        ctx.err(
            &path,
            format!("{} upstreams is over the limit of {max}", raw.0.len()),
            format!("declare at most {max}"),
        );
        return None;
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(raw.0.len());
    let mut ok = true;
    for (key, up) in &raw.0 {
        let p = path.key(key.to_string());
        let Some(name) = ctx.name(&p, key, false, "upstream name", "backend", true) else {
            ok = false;
            continue;
        };
        if !seen.insert(name.clone()) {
            ctx.err_key(
                &p,
                format!("upstream `{name}` is declared twice"),
                "give each upstream its own name",
            );
            ok = false;
            continue;
        }
        let default = RawUpstream::default();
        match upstream(ctx, &p, name, up.as_ref().unwrap_or(&default)) {
            Some(u) => out.push(u),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn upstream(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    name: String,
    raw: &RawUpstream,
) -> Option<Upstream> {
    let endpoints = match raw.endpoints {
        Some(n) => ctx.count(
            &path.key("endpoints"),
            n,
            1,
            ctx.limits.max_endpoints,
            "endpoints",
        ),
        None => Some(1),
    };
    let protocol = match &raw.protocol {
        Some(p) => match ctx.choice(&path.key("protocol"), p, &["http1", "http2", "grpc"]) {
            Some("http2") => Some(UpstreamProtocol::Http2),
            Some("grpc") => Some(UpstreamProtocol::Grpc),
            Some(_) => Some(UpstreamProtocol::Http1),
            None => None,
        },
        None => Some(UpstreamProtocol::Http1),
    };
    let fields = BehaviorFields {
        latency: raw.latency.as_ref(),
        responses: raw.responses.as_ref(),
        body: raw.body.as_ref(),
        chaos: &raw.chaos,
    };
    // A gRPC upstream answers `OK` unless `responses` says otherwise.
    let base = Behavior {
        grpc: (protocol == Some(UpstreamProtocol::Grpc))
            .then(|| gauntlet_mocks::GrpcStatusMix::always(gauntlet_mocks::grpc::OK)),
        ..Behavior::default()
    };
    let behavior = behavior(ctx, path, &base, &fields);
    let connect_timeout = match &raw.connect_timeout {
        Some(v) => positive(ctx, &path.key("connect_timeout"), v, MAX_LATENCY),
        None => Some(Duration::from_secs(1)),
    };
    Some(Upstream {
        name,
        endpoints: endpoints?,
        protocol: protocol?,
        behavior: behavior?,
        connect_timeout: connect_timeout?,
        // Filled from `clusters:` once every upstream is known.
        policy: Default::default(),
    })
}

/// A duration that must be more than zero.
pub(crate) fn positive(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    value: &Scalar,
    max: Duration,
) -> Option<Duration> {
    let d = ctx.duration(path, value, max)?;
    if d.is_zero() {
        ctx.err(
            path,
            "must be more than 0",
            "write a positive duration, e.g. `1s`",
        );
        return None;
    }
    Some(d)
}

/// A YAML scalar value as a [`Scalar`]; `None` for collections and nulls.
pub(crate) fn scalar_of(v: &Value) -> Option<Scalar> {
    match v {
        Value::String(s) => Some(Scalar::Str(s.clone())),
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::Number(n) => Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Scalar::Int(i.into()),
            (_, Some(u), _) => Scalar::Int(u.into()),
            (_, _, f) => Scalar::Float(f.unwrap_or(f64::NAN)),
        }),
        _ => None,
    }
}
