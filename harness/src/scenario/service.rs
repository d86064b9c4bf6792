//! `service:`: the service under test of the single-service phase, a program Gauntlet
//! starts, health-checks, and stops. The command is an argv list, never run through a
//! shell; `${PORT}` and `${<DEPENDENCY>_URL}` in it and in `env` values are replaced by the
//! values Gauntlet sets (and any other `${…}` is an error here, not at run time).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::check::Ctx;
use super::locate::FieldPath;
use super::raw::{OrderedMap, Scalar};

/// Most arguments of a service's command.
const MAX_ARGS: usize = 256;
/// Default `startup_timeout`.
const DEFAULT_STARTUP: Duration = Duration::from_secs(10);
/// Longest `startup_timeout`.
const MAX_STARTUP: Duration = Duration::from_secs(300);
/// The variable holding the service's port.
pub const PORT_VAR: &str = "PORT";

/// `service:` as serde reads it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
    pub name: Option<Scalar>,
    pub command: Option<Vec<Scalar>>,
    pub env: Option<OrderedMap<Scalar, Scalar>>,
    pub cwd: Option<Scalar>,
    pub port: Option<i64>,
    pub health: Option<Scalar>,
    pub startup_timeout: Option<Scalar>,
}

/// The validated `service:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSpec {
    /// `service` unless named; names its log (`service-<name>.log`) and its figures.
    pub name: String,
    /// Program and arguments, `${…}` not yet expanded (the values exist only at run time).
    pub command: Vec<String>,
    /// Added to Gauntlet's environment, after Gauntlet's own variables. A plain map so
    /// that secret-looking values can be redacted where it is written out.
    pub env: BTreeMap<String, String>,
    /// Working directory: relative to the scenario file's directory; default that directory.
    pub cwd: PathBuf,
    /// Port it listens on, on 127.0.0.1; `None`: Gauntlet picks a free one.
    pub port: Option<u16>,
    /// Path polled until it answers 2xx.
    pub health: String,
    /// How long it may take to become healthy.
    pub startup_timeout: Duration,
}

/// The variables Gauntlet sets for a service whose dependencies are `deps`: `PORT` and one
/// `<NAME>_URL` per dependency (see [`gauntlet_mocks::url_env_var`]).
pub fn service_vars<'a>(deps: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut vars = vec![PORT_VAR.to_string()];
    vars.extend(deps.into_iter().map(gauntlet_mocks::url_env_var));
    vars
}

/// Validates `service:` for a scenario whose upstreams are `deps`.
pub(crate) fn service(
    ctx: &mut Ctx<'_>,
    raw: &RawService,
    source: &Path,
    deps: &[String],
) -> Option<ServiceSpec> {
    service_at(
        ctx,
        raw,
        &FieldPath::root().key("service"),
        "service",
        source,
        deps,
    )
}

/// Validates a service definition found at `path` (`service`, or `services.<name>` in the
/// integration phase), named `default_name` unless it names itself.
pub(crate) fn service_at(
    ctx: &mut Ctx<'_>,
    raw: &RawService,
    path: &FieldPath,
    default_name: &str,
    source: &Path,
    deps: &[String],
) -> Option<ServiceSpec> {
    let path = path.clone();
    let vars = service_vars(deps.iter().map(String::as_str));
    let name = match &raw.name {
        Some(n) => ctx.name(
            &path.key("name"),
            n,
            false,
            "service name",
            "checkout",
            false,
        ),
        None => Some(default_name.to_string()),
    };
    let command = command(ctx, &path, raw.command.as_deref(), &vars);
    let env = env(ctx, &path, raw.env.as_ref(), &vars);
    // `Path::new("s.yaml").parent()` is `Some("")`, which no process can use as its
    // working directory: a bare file name means the current directory.
    let dir = match source.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let cwd = match &raw.cwd {
        Some(c) => ctx
            .string(&path.key("cwd"), c, "./service")
            .map(|c| dir.join(c)),
        None => Some(dir.to_path_buf()),
    };
    let port = match raw.port {
        Some(p) => ctx
            .count(&path.key("port"), p, 1, 65535, "port")
            .and_then(|p| u16::try_from(p).ok()),
        None => None,
    };
    let health = match &raw.health {
        Some(h) => health(ctx, &path.key("health"), h),
        None => Some("/healthz".to_string()),
    };
    let startup_timeout = match &raw.startup_timeout {
        Some(t) => ctx.duration(&path.key("startup_timeout"), t, MAX_STARTUP),
        None => Some(DEFAULT_STARTUP),
    };
    if raw.port.is_some() && port.is_none() {
        return None;
    }
    Some(ServiceSpec {
        name: name?,
        command: command?,
        env: env?,
        cwd: cwd?,
        port,
        health: health?,
        startup_timeout: startup_timeout?,
    })
}

fn command(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: Option<&[Scalar]>,
    vars: &[String],
) -> Option<Vec<String>> {
    let Some(raw) = raw else {
        ctx.missing(
            path,
            "command",
            "add the program and its arguments as a list, e.g. \
             `command: [./checkout, --port, \"${PORT}\"]` (it is not run through a shell)",
        );
        return None;
    };
    let at = path.key("command");
    if raw.is_empty() {
        ctx.err(
            &at,
            "the command is empty",
            "give the program and its arguments, e.g. `[./checkout, --port, \"${PORT}\"]`",
        );
        return None;
    }
    if raw.len() > MAX_ARGS {
        ctx.err(
            &at,
            format!("{} arguments is over the limit of {MAX_ARGS}", raw.len()),
            format!("use at most {MAX_ARGS}"),
        );
        return None;
    }
    let mut ok = true;
    let mut out = Vec::with_capacity(raw.len());
    for (i, arg) in raw.iter().enumerate() {
        let text = arg.to_string();
        ok &= references(ctx, &at.index(i), &text, vars);
        out.push(text);
    }
    if out[0].trim().is_empty() {
        ctx.err(
            &at.index(0),
            "the program name is empty",
            "name the program to run",
        );
        ok = false;
    }
    ok.then_some(out)
}

fn env(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: Option<&OrderedMap<Scalar, Scalar>>,
    vars: &[String],
) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (key, value) in raw.map(|m| m.0.as_slice()).unwrap_or_default() {
        let at = path.key("env").key(key.to_string());
        let name = key.to_string();
        let valid = name
            .bytes()
            .enumerate()
            .all(|(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()));
        if name.is_empty() || !valid {
            ctx.err_key(
                &at,
                format!("`{name}` is not an environment variable name"),
                "use letters, digits and `_`, not starting with a digit, e.g. `LOG_LEVEL`",
            );
            ok = false;
            continue;
        }
        let text = value.to_string();
        ok &= references(ctx, &at, &text, vars);
        out.insert(name, text);
    }
    ok.then_some(out)
}

/// Checks that every `${NAME}` in `text` names a variable Gauntlet sets.
fn references(ctx: &mut Ctx<'_>, at: &FieldPath, text: &str, vars: &[String]) -> bool {
    let known: BTreeMap<String, String> = vars.iter().map(|v| (v.clone(), v.clone())).collect();
    match crate::service::expand(text, &known) {
        Ok(_) => true,
        Err(e) => {
            ctx.err(
                at,
                e.to_string(),
                "Gauntlet sets ${PORT} and one ${<UPSTREAM>_URL} per upstream; \
                 the command is not run through a shell, so other variables are not expanded",
            );
            false
        }
    }
}

fn health(ctx: &mut Ctx<'_>, at: &FieldPath, raw: &Scalar) -> Option<String> {
    let text = ctx.string(at, raw, "/healthz")?;
    if !text.starts_with('/') || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        ctx.err(
            at,
            format!("`{text}` is not a path"),
            "write the path the service answers 2xx on when ready, e.g. `/healthz`",
        );
        return None;
    }
    Some(text)
}

/// `service:` as the phase wants it: required by `single-service`, refused elsewhere.
pub(crate) fn section(
    ctx: &mut Ctx<'_>,
    scenario: &super::raw::RawScenario,
    phase: Option<super::model::Phase>,
    source: &Path,
) -> Option<Option<ServiceSpec>> {
    use super::model::Phase;
    let deps: Vec<String> = scenario
        .upstreams
        .iter()
        .flat_map(|m| m.0.iter().map(|(k, _)| k.to_string()))
        .collect();
    if phase? != Phase::Benchmark {
        benchmark_only(ctx, scenario);
    }
    match (phase?, scenario.service.as_ref()) {
        (Phase::SingleService, Some(raw)) => service(ctx, raw, source, &deps).map(Some),
        (Phase::SingleService, None) => {
            ctx.missing(
                &FieldPath::root(),
                "service",
                "phase `single-service` tests one service: add `service: { command: [...] }`",
            );
            None
        }
        (_, Some(_)) => {
            ctx.err_key(
                &FieldPath::root().key("service"),
                "`service:` is only used by `phase: single-service`",
                "add `phase: single-service`, or remove `service:`",
            );
            None
        }
        (_, None) => Some(None),
    }
}

/// Refuses, outside the benchmark phase, the sections only the benchmark phase runs:
/// sizing (sweeps and searches load one Envoy) and Envoy in a container (the sidecars run
/// as processes beside their services).
fn benchmark_only(ctx: &mut Ctx<'_>, raw: &super::raw::RawScenario) {
    let sizing = [
        ("sweep", raw.sweep.is_some()),
        ("capacity", raw.capacity.is_some()),
        ("find_max_rps", raw.find_max_rps.is_some()),
    ];
    for (field, set) in sizing {
        if set {
            ctx.err_key(
                &FieldPath::root().key(field),
                format!("`{field}:` is only run by `phase: benchmark`"),
                "size the sidecar in a benchmark scenario, or remove it here",
            );
        }
    }
    if raw.envoy.as_ref().is_some_and(|e| e.image.is_some()) {
        ctx.err_key(
            &FieldPath::root().key("envoy").key("image"),
            "the sidecars of this phase run as processes, not in a container",
            "remove `envoy.image`, or use `phase: benchmark`",
        );
    }
}
