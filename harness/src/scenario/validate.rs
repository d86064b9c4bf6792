//! Raw scenario → model: the top level and `envoy:`, the order the sections are validated
//! in (what each needs from the others), and the checks across sections (the load's path
//! must hit a route). `load:` is `load_spec`'s.

use std::path::{Path, PathBuf};

use super::check::{shorten, Ctx};
use super::cluster_policy::clusters;
use super::gates::gates;
use super::load_spec::load;
use super::locate::FieldPath;
use super::model::{EnvoySource, EnvoySpec, Phase, Scenario};
use super::raw::{RawEnvoy, RawScenario, Scalar};
use super::route::{routes, Names};
use super::timeline::{labels, timeline, Refs};
use super::upstream::upstreams;

const LOG_LEVELS: &[&str] = &[
    "trace", "debug", "info", "warning", "warn", "error", "critical", "off",
];

/// Validates the whole scenario; `None` when any error was recorded in `ctx`.
pub(crate) fn scenario(ctx: &mut Ctx<'_>, raw: &RawScenario, source: &Path) -> Option<Scenario> {
    let root = FieldPath::root();
    let name = match &raw.name {
        Some(n) => ctx.name(&root.key("name"), n, true, "name", "checkout-bench", false),
        None => {
            ctx.missing(
                &root,
                "name",
                "add `name: checkout-bench`: it names the run directory",
            );
            None
        }
    };
    let phase = phase(ctx, raw.phase.as_ref());
    let envoy = envoy(ctx, raw.envoy.as_ref());
    let mut ups = upstreams(ctx, raw.upstreams.as_ref());
    let declared: Vec<String> = raw
        .upstreams
        .iter()
        .flat_map(|m| m.0.iter().map(|(k, _)| k.to_string()))
        .collect();
    let names = Names::new(declared);
    let routes = routes(ctx, raw.routes.as_ref(), &names);
    let policies = clusters(ctx, raw.clusters.as_ref(), &names);
    match (&mut ups, &policies) {
        (Some(ups), Some(policies)) => {
            for (name, policy) in policies {
                if let Some(u) = ups.iter_mut().find(|u| u.name == *name) {
                    u.policy = policy.clone();
                }
            }
        }
        // The timeline folds cluster events onto these policies: without them it cannot.
        _ => ups = None,
    }
    let load = load(ctx, raw.load.as_ref());
    let refs = Refs {
        names: &names,
        routes: routes.as_deref(),
        upstreams: ups.as_deref(),
        run_length: load.as_ref().map(|l| l.warmup + l.duration),
    };
    let timeline = timeline(ctx, raw.timeline.as_ref(), &refs);
    let labels = timeline.as_deref().map(labels);
    let gates = gates(ctx, raw.gates.as_ref(), labels.as_deref());
    super::gates::grpc_gates_need_grpc_load(ctx, gates.as_deref(), load.as_ref());
    let has_timeline = raw.timeline.as_ref().is_some_and(|t| !t.is_empty());
    let sizing = super::sizing::sizing(ctx, raw, load.as_ref(), has_timeline);
    super::container::sweep_needs_image(ctx, raw);
    let service = super::service::section(ctx, raw, phase, source);
    let services = super::integration::section(ctx, raw, phase, source);
    let compare_with = super::integration::compare_with(ctx, raw, phase, source);
    let mock_refs = super::mocks::MockRefs {
        phase,
        upstreams: ups.as_deref(),
        timeline: timeline.as_deref(),
        load: load.as_ref(),
    };
    let mocks = super::mocks::section(ctx, raw, &mock_refs);
    // In the single-service phase the load goes to the service, and the routes are its
    // egress routes: no route has to match the load's path.
    let load_via_routes = phase == Some(Phase::Benchmark);
    if let (Some(routes), Some(load), true) = (&routes, &load, load_via_routes) {
        let path = &load.request.path;
        if !routes.iter().any(|r| r.matcher.matches(path)) {
            let at = root.key("load").key("request").key("path");
            ctx.err(
                &at,
                format!("no route matches the request path `{}`, so every request would get a 404", shorten(path)),
                "add a route that matches it (e.g. `match: { prefix: / }`) or change `load.request.path`",
            );
        }
    }
    if !ctx.errors.is_empty() {
        return None;
    }
    Some(Scenario {
        name: name?,
        source: source.to_path_buf(),
        phase: phase?,
        envoy: envoy?,
        upstreams: ups?,
        routes: routes?,
        load: load?,
        baseline: raw.baseline.unwrap_or(true),
        timeline: timeline?,
        gates: gates?,
        service: service?,
        services: services?,
        compare_with: compare_with?,
        sizing: sizing?,
        mocks: mocks?,
    })
}

fn phase(ctx: &mut Ctx<'_>, raw: Option<&Scalar>) -> Option<Phase> {
    let Some(raw) = raw else {
        return Some(Phase::Benchmark);
    };
    let path = FieldPath::root().key("phase");
    match ctx.choice(&path, raw, &["benchmark", "single-service", "integration"])? {
        "benchmark" => Some(Phase::Benchmark),
        "single-service" => Some(Phase::SingleService),
        "integration" => Some(Phase::Integration),
        other => {
            ctx.err(
                &path,
                format!("phase `{other}` is not supported yet"),
                "use `phase: benchmark` (or leave it out)",
            );
            None
        }
    }
}

fn envoy(ctx: &mut Ctx<'_>, raw: Option<&RawEnvoy>) -> Option<EnvoySpec> {
    let path = FieldPath::root().key("envoy");
    let default = RawEnvoy::default();
    let raw = raw.unwrap_or(&default);
    let source = match (&raw.version, &raw.binary) {
        (Some(_), Some(_)) => {
            ctx.err_key(
                &path.key("binary"),
                "`version` and `binary` are both set",
                "keep one: `version` installs that Envoy, `binary` runs the one at a path",
            );
            None
        }
        (Some(v), None) => version(ctx, &path.key("version"), v).map(EnvoySource::Version),
        (None, Some(b)) => binary(ctx, &path.key("binary"), b).map(EnvoySource::Binary),
        (None, None) => Some(EnvoySource::Default),
    };
    let concurrency = match raw.concurrency {
        Some(n) => ctx.count(
            &path.key("concurrency"),
            n,
            1,
            ctx.limits.max_envoy_concurrency,
            "concurrency",
        ),
        None => Some(1),
    };
    let log_level = match &raw.log_level {
        Some(l) => ctx
            .choice(&path.key("log_level"), l, LOG_LEVELS)
            .map(str::to_string),
        None => Some("warn".to_string()),
    };
    let listen_port = match raw.listen_port {
        Some(n) => ctx
            .count(
                &path.key("listen_port"),
                n,
                1,
                u32::from(u16::MAX),
                "listen_port",
            )
            .map(|p| u16::try_from(p).ok()),
        None => Some(None),
    };
    let image = super::container::envoy_image(ctx, &path, raw);
    Some(EnvoySpec {
        image: image?,
        source: source?,
        concurrency: concurrency?,
        log_level: log_level?,
        listen_port: listen_port?,
    })
}

fn version(ctx: &mut Ctx<'_>, path: &FieldPath, value: &Scalar) -> Option<String> {
    let hint = "quote a full release version, e.g. `version: \"1.40.0\"`";
    let Scalar::Str(s) = value else {
        ctx.err(
            path,
            format!("version `{value}` was read as a number"),
            hint,
        );
        return None;
    };
    let v = s.strip_prefix('v').unwrap_or(s);
    let parts: Vec<&str> = v.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.len() <= 4 && p.chars().all(|c| c.is_ascii_digit());
    if parts.len() != 3 || !parts.iter().all(numeric) {
        ctx.err(
            path,
            format!("`{}` is not an Envoy release version", shorten(s)),
            hint,
        );
        return None;
    }
    Some(v.to_string())
}

fn binary(ctx: &mut Ctx<'_>, path: &FieldPath, value: &Scalar) -> Option<PathBuf> {
    let s = ctx.string(path, value, "/usr/local/bin/envoy")?;
    if s.trim().is_empty() || s.chars().any(char::is_control) {
        ctx.err(
            path,
            "the binary path is empty or has control characters",
            "give the path to an Envoy executable, e.g. `/usr/local/bin/envoy`",
        );
        return None;
    }
    Some(PathBuf::from(s))
}
