//! Files with several phases (`phases:`): each entry is a whole scenario body, validated by
//! the same code as a one-phase file with every path prefixed by `phases[i]`, so an error
//! in a phase names `phases[1].service.command` and points at that line. The format is
//! documented in the module docs of `scenario` ("Several phases").

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::check::Ctx;
use super::decode;
use super::error::{closest, ScenarioError};
use super::limits::Limits;
use super::locate::{FieldPath, Locator};
use super::model::Scenario;
use super::raw::{RawPlan, RawScenario, Scalar};
use super::validate;

/// Fewest phases of a multi-phase file: one phase is a one-phase file.
const MIN_PHASES: usize = 2;
/// Most phases of a multi-phase file.
pub const MAX_PHASES: usize = 8;

/// The top-level fields of a one-phase file, which in a multi-phase file belong in a phase.
const PHASE_FIELDS: &[&str] = &[
    "phase",
    "envoy",
    "upstreams",
    "routes",
    "clusters",
    "load",
    "baseline",
    "timeline",
    "gates",
    "service",
    "services",
    "compare_with",
    "sweep",
    "capacity",
    "find_max_rps",
    "mocks",
];

/// A validated file with several phases, run in file order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    /// The file the plan was read from.
    pub source: PathBuf,
    /// 2..=[`MAX_PHASES`] scenarios with unique names, in file order.
    pub phases: Vec<Scenario>,
}

/// What a scenario file holds: one phase, or several.
#[derive(Debug, Clone)]
pub enum ScenarioFile {
    /// Boxed: a scenario is large beside a plan's few pointers.
    One(Box<Scenario>),
    Phases(Plan),
}

/// Whether the file has `phases:` at the top level.
pub(crate) fn has_phases(loc: &Locator) -> bool {
    loc.has(&FieldPath::root().key("phases"))
}

/// The error for a multi-phase file given where one scenario is expected.
pub(crate) fn not_one(source: &Path, loc: &Locator) -> ScenarioError {
    let at = loc.key(&FieldPath::root().key("phases"));
    ScenarioError::at(
        source,
        at,
        Some("phases"),
        "this file holds several phases; this command takes a one-phase scenario",
    )
    .hint("run it with `gauntlet run`, or copy one phase's fields into a file of its own")
}

/// Decodes and validates a multi-phase file, collecting the errors of every phase.
pub(crate) fn parse(
    text: &str,
    source: &Path,
    limits: &Limits,
    loc: &Locator,
) -> Result<Plan, ScenarioError> {
    let mut raw: RawPlan = decode::decode(text, source, loc)?;
    let mut ctx = Ctx::new(source, text, loc, limits);
    let root = FieldPath::root();
    let name = match &raw.name {
        Some(n) => ctx.name(
            &root.key("name"),
            n,
            true,
            "name",
            "checkout-rollout",
            false,
        ),
        None => {
            ctx.missing(
                &root,
                "name",
                "add `name: checkout-rollout`: it names the run directory",
            );
            None
        }
    };
    refuse_top_level(&mut ctx, &raw);
    let entries = raw.phases.take().unwrap_or_default();
    let count_ok = phase_count(&mut ctx, entries.len());
    let mut errors = std::mem::take(&mut ctx.errors);
    let mut phases = Vec::new();
    for (i, mut entry) in entries.into_iter().enumerate() {
        let base = root.key("phases").index(i);
        let mut pctx = Ctx::new(source, text, loc, limits).at_base(base);
        phases.push(phase(&mut pctx, &mut entry, name.as_deref(), source));
        errors.append(&mut pctx.errors);
    }
    let phases: Option<Vec<Scenario>> = phases.into_iter().collect();
    if let Some(phases) = &phases {
        errors.extend(duplicate_names(source, loc, phases));
    }
    match (name, phases, ScenarioError::combine(errors)) {
        (_, _, Some(e)) => Err(e),
        (Some(name), Some(phases), None) if count_ok => Ok(Plan {
            name,
            source: source.to_path_buf(),
            phases,
        }),
        // Every failing check records an error; this is a backstop, not a path.
        _ => Err(ScenarioError::file(source, "the scenario is invalid")),
    }
}

/// Top-level fields other than `name` and `phases`: a phase's fields say to move them.
fn refuse_top_level(ctx: &mut Ctx<'_>, raw: &RawPlan) {
    for (key, _) in &raw.other.0 {
        let field = key.to_string();
        let at = FieldPath::root().key(field.clone());
        if PHASE_FIELDS.contains(&field.as_str()) {
            ctx.err_key(
                &at,
                format!("`{field}` belongs in a phase: a file with `phases:` takes only `name` and `phases` at the top"),
                format!("move `{field}:` into each entry of `phases:` that needs it (every phase is a whole scenario)"),
            );
        } else {
            let hint = match closest(&field, ["name", "phases"]) {
                Some(c) => format!("did you mean `{c}`?"),
                None => {
                    "remove it; a file with `phases:` takes only `name` and `phases` at the top"
                        .to_string()
                }
            };
            ctx.err_key(
                &at,
                format!(
                    "unknown field `{}`; expected one of: name, phases",
                    super::check::shorten(&field)
                ),
                hint,
            );
        }
    }
}

fn phase_count(ctx: &mut Ctx<'_>, n: usize) -> bool {
    if (MIN_PHASES..=MAX_PHASES).contains(&n) {
        return true;
    }
    let at = FieldPath::root().key("phases");
    let message =
        format!("a file with `phases:` holds {MIN_PHASES} to {MAX_PHASES} phases, not {n}");
    let hint = if n < MIN_PHASES {
        "for a single phase, write its fields at the top level without `phases:`"
    } else {
        "split the phases over several files"
    };
    ctx.err(&at, message, hint);
    false
}

/// One entry of `phases:`: `phase:` required, `compare_with:` refused, the name defaulted,
/// then the validator of a one-phase file.
fn phase(
    ctx: &mut Ctx<'_>,
    raw: &mut RawScenario,
    top: Option<&str>,
    source: &Path,
) -> Option<Scenario> {
    let root = FieldPath::root();
    let Some(kind) = raw.phase.as_ref().map(Scalar::to_string) else {
        ctx.missing(
            &root,
            "phase",
            "add `phase: single-service` (or `integration`, `benchmark`): a phase of a multi-phase file names its kind",
        );
        return None;
    };
    if raw.compare_with.is_some() {
        ctx.err_key(
            &root.key("compare_with"),
            "`compare_with:` is not used in a file with `phases:`",
            "remove it: each phase's hops are compared with the earlier phases' automatically",
        );
    }
    if raw.name.is_none() {
        // The validator reports a bad top-level name or phase; the placeholder keeps it from
        // reporting a missing name on top of that.
        let known = ["benchmark", "single-service", "integration"].contains(&kind.as_str());
        let default = match top {
            Some(top) if known => format!("{top}-{kind}"),
            _ => "phase".to_string(),
        };
        // The name was not written: a default over the limit must say so, or the error
        // would point at a name the user cannot find in the file.
        if default.len() > MAX_DEFAULT_NAME {
            ctx.missing(
                &root,
                "name",
                &format!(
                    "the phase's default name `{default}` (`<name>-<phase>`) is {} characters long, \
                     over the limit of {MAX_DEFAULT_NAME}; add a shorter `name:` to this phase",
                    default.len()
                ),
            );
            return None;
        }
        raw.name = Some(Scalar::Str(default));
    }
    validate::scenario(ctx, raw, source)
}

/// The longest name (`check::name`'s limit).
const MAX_DEFAULT_NAME: usize = 64;

/// An error for every phase whose name an earlier phase already has.
fn duplicate_names(source: &Path, loc: &Locator, phases: &[Scenario]) -> Vec<ScenarioError> {
    let mut seen = HashSet::new();
    let mut errors = Vec::new();
    for (i, s) in phases.iter().enumerate() {
        if seen.insert(s.name.as_str()) {
            continue;
        }
        let base = FieldPath::root().key("phases").index(i);
        let named = base.key("name");
        let field = if loc.has(&named) { named } else { base };
        let e = ScenarioError::at(
            source,
            loc.value(&field),
            Some(&field.to_string()),
            format!("another phase is also named `{}`", s.name),
        )
        .hint("give each phase its own `name:`: it names the phase's run directory");
        errors.push(e);
    }
    errors
}
