//! `service:`: the service under test of the single-service phase, a program Gauntlet
//! starts, health-checks, and stops: either a command (an argv list, never run through a
//! shell) or a container of a local `image:` (its `args:` the container's command). `${PORT}`
//! and `${<DEPENDENCY>_URL}` in the command, the args and `env` values are replaced by the
//! values Gauntlet sets (and any other `${…}` is an error here, not at run time).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::check::Ctx;
use super::container::SERVICE;
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
    pub image: Option<Scalar>,
    pub args: Option<Vec<Scalar>>,
    pub env: Option<OrderedMap<Scalar, Scalar>>,
    pub cwd: Option<Scalar>,
    pub port: Option<i64>,
    pub health: Option<Scalar>,
    pub startup_timeout: Option<Scalar>,
    pub cpus: Option<Scalar>,
    pub memory: Option<Scalar>,
}

/// The validated `service:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSpec {
    /// `service` unless named; names its log (`service-<name>.log`) and its figures.
    pub name: String,
    /// What runs: a command or a container. Written out as its `command` or `image` field.
    #[serde(flatten)]
    pub run: ServiceRun,
    /// Added to Gauntlet's environment (a command) or set in the container (an image),
    /// after Gauntlet's own variables. A plain map so that secret-looking values can be
    /// redacted where it is written out.
    pub env: BTreeMap<String, String>,
    /// Working directory of a command: relative to the scenario file's directory; default
    /// that directory. Unused by an image, which has its own.
    pub cwd: PathBuf,
    /// Port it listens on, on 127.0.0.1; `None`: Gauntlet picks a free one.
    pub port: Option<u16>,
    /// Path polled until it answers 2xx.
    pub health: String,
    /// How long it may take to become healthy.
    pub startup_timeout: Duration,
}

/// How a service runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceRun {
    /// Program and arguments, `${…}` not yet expanded (the values exist only at run time).
    Command(Vec<String>),
    /// A container of a local (or pullable) image, on the host network.
    Image(ServiceImage),
}

/// `image:` and the fields that go with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceImage {
    /// `repository[:tag]`, e.g. `gauntlet/mock:0.1.0`.
    pub image: String,
    /// The container's command (the arguments of the image's entrypoint), `${…}` not yet
    /// expanded; empty: the image's own.
    pub args: Vec<String>,
    /// CPU limit in cores.
    pub cpus: Option<f64>,
    /// Memory limit in bytes.
    pub memory: Option<u64>,
}

impl ServiceSpec {
    /// The program, for a command; `None` for an image.
    pub fn command(&self) -> Option<&[String]> {
        match &self.run {
            ServiceRun::Command(argv) => Some(argv),
            ServiceRun::Image(_) => None,
        }
    }
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
    let run = run(ctx, &path, raw, &vars);
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
        run: run?,
        env: env?,
        cwd: cwd?,
        port,
        health: health?,
        startup_timeout: startup_timeout?,
    })
}

/// `command:` or `image:` (exactly one), and the fields that belong to only one of them.
fn run(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &RawService,
    vars: &[String],
) -> Option<ServiceRun> {
    match (&raw.command, &raw.image) {
        (Some(_), Some(_)) => {
            ctx.err_key(
                &path.key("image"),
                "`image` and `command` are both set",
                "keep one: `command` runs a program, `image` runs a container of that image",
            );
            None
        }
        (None, None) => {
            ctx.missing(
                path,
                "command",
                "add the program and its arguments as a list, e.g. \
                 `command: [./checkout, --port, \"${PORT}\"]` (it is not run through a shell), \
                 or `image: gauntlet/mock:0.1.0` to run a container",
            );
            None
        }
        (Some(argv), None) => command_run(ctx, path, raw, argv, vars).map(ServiceRun::Command),
        (None, Some(image)) => image_run(ctx, path, raw, image, vars).map(ServiceRun::Image),
    }
}

/// `command:`, refusing the fields that belong to a container.
fn command_run(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &RawService,
    argv: &[Scalar],
    vars: &[String],
) -> Option<Vec<String>> {
    let only_image = [
        ("args", raw.args.is_some()),
        ("cpus", raw.cpus.is_some()),
        ("memory", raw.memory.is_some()),
    ];
    let mut ok = true;
    for (field, set) in only_image {
        if set {
            ctx.err_key(
                &path.key(field),
                format!("`{field}` belongs to a container, but this service is a `command`"),
                match field {
                    "args" => "put the arguments in `command`, after the program",
                    _ => "limits need `image:` (a container); remove it, or run an image",
                },
            );
            ok = false;
        }
    }
    let argv = command(ctx, path, argv, vars);
    argv.filter(|_| ok)
}

/// `image:` with its `args`, `cpus` and `memory`; `cwd` has no meaning for it.
fn image_run(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &RawService,
    image: &Scalar,
    vars: &[String],
) -> Option<ServiceImage> {
    if raw.cwd.is_some() {
        ctx.err_key(
            &path.key("cwd"),
            "`cwd` is the working directory of a `command`; an image has its own",
            "remove `cwd`",
        );
        return None;
    }
    let image = super::container::image_with(ctx, &path.key("image"), image, &SERVICE);
    let args = match raw.args.as_deref() {
        Some(list) => arg_list(ctx, &path.key("args"), list, vars),
        None => Some(Vec::new()),
    };
    let (cpus, memory) =
        super::container::limits(ctx, path, raw.cpus.as_ref(), raw.memory.as_ref(), &SERVICE)?;
    Some(ServiceImage {
        image: image?,
        args: args?,
        cpus,
        memory,
    })
}

/// A container's `args`: at most [`MAX_ARGS`], each with known `${…}` references only.
fn arg_list(
    ctx: &mut Ctx<'_>,
    at: &FieldPath,
    raw: &[Scalar],
    vars: &[String],
) -> Option<Vec<String>> {
    if raw.len() > MAX_ARGS {
        ctx.err(
            at,
            format!("{} arguments is over the limit of {MAX_ARGS}", raw.len()),
            format!("use at most {MAX_ARGS}"),
        );
        return None;
    }
    let mut ok = true;
    let out = raw
        .iter()
        .enumerate()
        .map(|(i, arg)| {
            let text = arg.to_string();
            ok &= references(ctx, &at.index(i), &text, vars);
            text
        })
        .collect();
    ok.then_some(out)
}

fn command(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &[Scalar],
    vars: &[String],
) -> Option<Vec<String>> {
    let at = path.key("command");
    if raw.is_empty() {
        ctx.err(
            &at,
            "the command is empty",
            "give the program and its arguments, e.g. `[./checkout, --port, \"${PORT}\"]`",
        );
        return None;
    }
    let program_empty = raw[0].to_string().trim().is_empty();
    if program_empty {
        ctx.err(
            &at.index(0),
            "the program name is empty",
            "name the program to run",
        );
    }
    let out = arg_list(ctx, &at, raw, vars);
    out.filter(|_| !program_empty)
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
                "phase `single-service` tests one service: add `service: { command: [...] }` \
                 (or `service: { image: ... }`)",
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
/// sizing (sweeps and searches load one Envoy). `envoy.image` is allowed: every sidecar of
/// the phase then runs in its own container of that image, with `envoy.cpus` and
/// `envoy.memory` as each one's limits.
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
}
