//! The container fields of `envoy:`: parsed and validated here, run by `envoy::container`.
//!
//! # Containers: `envoy.image`, `envoy.cpus`, `envoy.memory`
//!
//! ```yaml
//! envoy:
//!   image: gauntlet/envoy:1.40.0  # run Envoy in a container of this local image (build it
//!                                 # with `gauntlet envoy image 1.40.0`); any local or
//!                                 # pullable image, e.g. envoyproxy/envoy:v1.40.0
//!   cpus: 0.5                     # CPU limit in cores, or `500m`; > 0 and <= this machine's
//!                                 # cores; needs `image`
//!   memory: 256Mi                 # memory limit with a unit: 256Mi, 512MiB, 1Gi, 300MB;
//!                                 # at least 6MiB (the engine's minimum); needs `image`
//! sweep:
//!   rate: [200, 400, 800]
//!   cpus: [0.25, 0.5, 1.0]        # optional: each rate under each CPU limit (2 or more);
//!                                 # the one container's limit is changed between points;
//!                                 # steps are named `envoy@800rps-cpu0.5`; needs `image`
//! ```
//!
//! The container shares the host's network and gets the same bootstrap, readiness check and
//! log as a process; `image` cannot be combined with `version` or `binary` (the image decides
//! which Envoy runs). Its CPU, throttling and memory are read from its cgroup every second.
//!
//! In the single-service and integration phases `image` puts every sidecar in a container:
//! the ingress and the egress sidecar each in its own, one per service in the integration
//! phase, each under `cpus` and `memory` (as Istio's `proxyCPULimit` and `proxyMemoryLimit`
//! apply to each pod's proxy). The graph's sidecar entries (`graph.proxies`) and a service
//! run from an `image:` then carry their image, limits and CFS throttling, with CPU and
//! memory (the working set) read from each container's cgroup over the measured window.
//! `sweep:`, `capacity:` and `find_max_rps:` stay the benchmark phase's.

use gauntlet_mocks::units;

use super::check::{shorten, Ctx};
use super::locate::FieldPath;
use super::model::EnvoyImage;
use super::raw::{RawEnvoy, Scalar};

/// The engine refuses memory limits under 6 MiB.
const MIN_MEMORY: u64 = 6 << 20;

/// `Some(None)` when no container is asked for, `None` after an error.
pub(crate) fn envoy_image(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &RawEnvoy,
) -> Option<Option<EnvoyImage>> {
    let Some(image_value) = &raw.image else {
        for (key, value) in [("cpus", &raw.cpus), ("memory", &raw.memory)] {
            if value.is_some() {
                ctx.err_key(
                    &path.key(key),
                    format!("`{key}` limits a container, but `image` is not set"),
                    "add `image: gauntlet/envoy:1.40.0` (build it with `gauntlet envoy image 1.40.0`), or remove the limit",
                );
                return None;
            }
        }
        return Some(None);
    };
    for other in ["version", "binary"] {
        let set = match other {
            "version" => raw.version.is_some(),
            _ => raw.binary.is_some(),
        };
        if set {
            ctx.err_key(
                &path.key("image"),
                format!("`image` and `{other}` are both set"),
                "keep one: the image decides which Envoy runs (e.g. `image: gauntlet/envoy:1.40.0`)",
            );
            return None;
        }
    }
    let image = image_with(ctx, &path.key("image"), image_value, &ENVOY);
    let (cpus, memory) = limits(ctx, path, raw.cpus.as_ref(), raw.memory.as_ref(), &ENVOY)?;
    Some(Some(EnvoyImage {
        image: image?,
        cpus,
        memory,
    }))
}

/// The examples a container's errors give. `envoy:`, `mocks:` and a service's `image:`
/// take the same fields with the same checks; only the image and sizes that suit them differ.
pub(super) struct Examples {
    /// The image shown when `image` is not a string.
    pub image: &'static str,
    /// What to write instead of a malformed image reference.
    pub image_hint: &'static str,
    /// What to write instead of a size without a unit or one that does not parse.
    pub memory_hint: &'static str,
    /// What to write instead of a size under the engine's minimum.
    pub memory_floor_hint: &'static str,
}

/// The examples for Envoy's container (and a service's, which has no better ones).
pub(super) const ENVOY: Examples = Examples {
    image: "gauntlet/envoy:1.40.0",
    image_hint: "write `repository:tag` in lower case, e.g. `gauntlet/envoy:1.40.0` or `envoyproxy/envoy:v1.40.0`",
    memory_hint: "write a size with a unit, e.g. `256Mi`, `512MiB` or `1Gi`",
    memory_floor_hint: "Envoy needs tens of MiB; write e.g. `256Mi`",
};

/// The examples for a service's container.
pub(super) const SERVICE: Examples = Examples {
    image: "gauntlet/mock:0.1.0",
    image_hint:
        "write `repository:tag` in lower case, e.g. `checkout:1.4.2` or `gauntlet/mock:0.1.0`",
    memory_hint: "write a size with a unit, e.g. `128Mi`, `512MiB` or `1Gi`",
    memory_floor_hint: "write at least the engine's minimum, e.g. `64Mi`",
};

/// An image reference: `repository[:tag]` of `[a-z0-9._/:-]`. Digests (`@sha256:…`) are
/// refused: the container layer names an image by repository and tag.
pub(super) fn image_with(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    value: &Scalar,
    examples: &Examples,
) -> Option<String> {
    let s = ctx.string(path, value, examples.image)?;
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._/:@-".contains(c);
    if s.is_empty()
        || s.len() > 255
        || !s.chars().all(allowed)
        || s.starts_with(['-', '.', '/', ':'])
    {
        ctx.err(
            path,
            format!("`{}` is not an image reference", shorten(&s)),
            examples.image_hint,
        );
        return None;
    }
    if s.contains('@') {
        ctx.err(
            path,
            format!("`{}` names an image by digest", shorten(&s)),
            "name it by repository and tag (give the image a tag with `docker tag <image> <name>:<tag>` if it has none)",
        );
        return None;
    }
    Some(s)
}

/// `cpus` and `memory` under `path`, each `None` when not set. Both are checked before
/// either error is returned, so a file with two mistakes hears of both.
pub(super) fn limits(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    cpus_value: Option<&Scalar>,
    memory_value: Option<&Scalar>,
    examples: &Examples,
) -> Option<(Option<f64>, Option<u64>)> {
    let cpus = match cpus_value {
        Some(v) => cpus(ctx, &path.key("cpus"), v).map(Some),
        None => Some(None),
    };
    let memory = match memory_value {
        Some(v) => memory_with(ctx, &path.key("memory"), v, examples).map(Some),
        None => Some(None),
    };
    Some((cpus?, memory?))
}

/// Cores: `0.5`, `2`, or millicores `500m`; more than 0, at most this machine's cores.
pub(super) fn cpus(ctx: &mut Ctx<'_>, path: &FieldPath, value: &Scalar) -> Option<f64> {
    let hint_cores = machine_cores();
    let hint = format!("write cores, e.g. `0.5` or `500m`, more than 0 and at most {hint_cores}");
    let parsed = match value {
        Scalar::Int(n) => Some(*n as f64),
        Scalar::Float(x) => Some(*x),
        Scalar::Str(s) => match s.strip_suffix('m') {
            Some(milli) => milli.trim().parse::<f64>().ok().map(|m| m / 1000.0),
            None => s.trim().parse::<f64>().ok(),
        },
        Scalar::Bool(_) => None,
    };
    let Some(cores) = parsed.filter(|c| c.is_finite()) else {
        ctx.err(path, format!("`{value}` is not a number of cores"), hint);
        return None;
    };
    if cores <= 0.0 {
        ctx.err(
            path,
            format!("cpus must be more than 0, not `{value}`"),
            hint,
        );
        return None;
    }
    // The engine counts in billionths of a core; under a thousandth is not a limit.
    if cores < 0.001 {
        ctx.err(
            path,
            format!("`{value}` is less than a thousandth of a core"),
            hint,
        );
        return None;
    }
    if cores > hint_cores as f64 {
        ctx.err(
            path,
            format!("cpus `{value}` is more than this machine's {hint_cores} cores"),
            hint,
        );
        return None;
    }
    Some(cores)
}

/// Logical CPUs of this machine (what the engine allows a container at most).
fn machine_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A size with a unit; a bare number is refused, since `256` bytes is never what is meant.
fn memory_with(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    value: &Scalar,
    examples: &Examples,
) -> Option<u64> {
    let hint = examples.memory_hint;
    let text = value.to_string();
    let has_unit =
        matches!(value, Scalar::Str(s) if s.trim().ends_with(|c: char| c.is_ascii_alphabetic()));
    if !has_unit {
        ctx.err(
            path,
            format!("memory `{}` has no unit", shorten(&text)),
            hint,
        );
        return None;
    }
    let bytes = match units::parse_size(&text) {
        Ok(b) => b,
        Err(e) => {
            ctx.err(path, e.to_string(), hint);
            return None;
        }
    };
    if bytes < MIN_MEMORY {
        ctx.err(
            path,
            format!(
                "memory `{}` is under the engine's minimum of 6MiB",
                shorten(&text)
            ),
            examples.memory_floor_hint,
        );
        return None;
    }
    Some(bytes)
}

/// `sweep.cpus`: at least 2 CPU limits, each as `envoy.cpus` takes it.
pub(crate) fn sweep_cpus(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: Option<&[Scalar]>,
) -> Option<Vec<f64>> {
    let Some(list) = raw else {
        return Some(Vec::new());
    };
    if list.len() < 2 {
        ctx.err(
            path,
            "a sweep over CPU limits needs at least 2 of them",
            "list them, e.g. `cpus: [0.25, 0.5, 1.0]`",
        );
        return None;
    }
    let each: Vec<Option<f64>> = list
        .iter()
        .enumerate()
        .map(|(i, c)| cpus(ctx, &path.index(i), c))
        .collect();
    each.into_iter().collect()
}

/// `sweep.cpus` limits a container: the scenario must run Envoy in one.
pub(crate) fn sweep_needs_image(ctx: &mut Ctx<'_>, raw: &super::raw::RawScenario) {
    let swept = raw.sweep.as_ref().is_some_and(|s| s.cpus.is_some());
    let image = raw.envoy.as_ref().is_some_and(|e| e.image.is_some());
    if swept && !image {
        ctx.err_key(
            &FieldPath::root().key("sweep").key("cpus"),
            "`sweep.cpus` limits a container, but `envoy.image` is not set",
            "add `envoy: { image: gauntlet/envoy:1.40.0 }` (build it with `gauntlet envoy image 1.40.0`)",
        );
    }
}
