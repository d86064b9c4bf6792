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
    let image = image(ctx, &path.key("image"), image_value);
    let cpus = match &raw.cpus {
        Some(v) => cpus(ctx, &path.key("cpus"), v).map(Some),
        None => Some(None),
    };
    let memory = match &raw.memory {
        Some(v) => memory(ctx, &path.key("memory"), v).map(Some),
        None => Some(None),
    };
    Some(Some(EnvoyImage {
        image: image?,
        cpus: cpus?,
        memory: memory?,
    }))
}

/// An image reference: `repository[:tag]` of `[a-z0-9._/:-]` (and `@sha256:` digests).
pub(super) fn image(ctx: &mut Ctx<'_>, path: &FieldPath, value: &Scalar) -> Option<String> {
    let s = ctx.string(path, value, "gauntlet/envoy:1.40.0")?;
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._/:@-".contains(c);
    if s.is_empty()
        || s.len() > 255
        || !s.chars().all(allowed)
        || s.starts_with(['-', '.', '/', ':'])
    {
        ctx.err(
            path,
            format!("`{}` is not an image reference", shorten(&s)),
            "write `repository:tag` in lower case, e.g. `gauntlet/envoy:1.40.0` or `envoyproxy/envoy:v1.40.0`",
        );
        return None;
    }
    Some(s)
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
pub(super) fn memory(ctx: &mut Ctx<'_>, path: &FieldPath, value: &Scalar) -> Option<u64> {
    let hint = "write a size with a unit, e.g. `256Mi`, `512MiB` or `1Gi`";
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
            "Envoy needs tens of MiB; write e.g. `256Mi`",
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
