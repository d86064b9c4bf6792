//! Folding a written policy onto the one that stands: the same code validates a route or
//! cluster definition (folded onto nothing) and a timeline event's `set:` (folded onto the
//! policy as earlier events left it). Also the checks on a field's two spellings (native and
//! Istio's).
//!
//! Every function returns `None` after recording an error; `Some(None)` means "no value".

use std::time::Duration;

use super::check::{shorten, Ctx};
use super::locate::FieldPath;
use super::patch::Patch;
use super::raw::Scalar;
use super::raw_policy::RawPercentage;
use super::upstream::positive;

/// Applies `patch` to an optional value: absent keeps `base`, removed clears it, set folds
/// the written fields onto `base` (or onto defaults when there is none).
pub(crate) fn apply<R, T: Clone>(
    patch: &Patch<R>,
    base: &Option<T>,
    fold: impl FnOnce(Option<&T>, &R) -> Option<T>,
) -> Option<Option<T>> {
    match patch {
        Patch::Absent => Some(base.clone()),
        Patch::Remove => Some(None),
        Patch::Set(raw) => fold(base.as_ref(), raw).map(Some),
    }
}

/// Records that a field is written in both spellings; the error points at the second.
pub(crate) fn both_spellings(ctx: &mut Ctx<'_>, parent: &FieldPath, native: &str, istio: &str) {
    ctx.err_key(
        &parent.key(istio),
        format!("`{native}` and `{istio}` are both set"),
        format!("`{istio}` is Istio's spelling of `{native}`: keep one"),
    );
}

/// The one of a field's two spellings that is written, with its path: the native one
/// when neither is. `None` (error recorded) when both are.
pub(crate) fn pick<'a, T>(
    ctx: &mut Ctx<'_>,
    parent: &FieldPath,
    native: (&str, &'a Patch<T>),
    istio: (&str, &'a Patch<T>),
) -> Option<(FieldPath, &'a Patch<T>)> {
    match (native.1.given(), istio.1.given()) {
        (true, true) => {
            both_spellings(ctx, parent, native.0, istio.0);
            None
        }
        (false, true) => Some((parent.key(istio.0), istio.1)),
        _ => Some((parent.key(native.0), native.1)),
    }
}

/// Like [`pick`] for plain optional fields: `Some(None)` when neither is written.
pub(crate) fn pick_opt<'a, T>(
    ctx: &mut Ctx<'_>,
    parent: &FieldPath,
    native: (&str, Option<&'a T>),
    istio: (&str, Option<&'a T>),
) -> Option<Option<(FieldPath, &'a T)>> {
    match (native.1, istio.1) {
        (Some(_), Some(_)) => {
            both_spellings(ctx, parent, native.0, istio.0);
            None
        }
        (Some(v), None) => Some(Some((parent.key(native.0), v))),
        (None, Some(v)) => Some(Some((parent.key(istio.0), v))),
        (None, None) => Some(None),
    }
}

/// An optional positive duration, patched.
pub(crate) fn opt_duration(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    patch: &Patch<Scalar>,
    base: Option<Duration>,
    max: Duration,
) -> Option<Option<Duration>> {
    apply(patch, &base, |_, v| positive(ctx, path, v, max))
}

/// An optional whole number in `min..=max`, patched; `what` names it in messages.
pub(crate) fn opt_count(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    patch: &Patch<i64>,
    base: Option<u32>,
    (min, max): (u32, u32),
    what: &str,
) -> Option<Option<u32>> {
    apply(patch, &base, |_, v| ctx.count(path, *v, min, max, what))
}

/// Like [`opt_count`] for a field written in Istio's spelling, where Istio reads `0` as
/// "unset": refused, so that the number means the same in both spellings.
pub(crate) fn opt_count_istio(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    patch: &Patch<i64>,
    base: Option<u32>,
    max: u32,
    what: &str,
) -> Option<Option<u32>> {
    if patch.set() == Some(&0) {
        ctx.err(
            path,
            format!("{what} must be at least 1, not 0"),
            "Istio reads 0 as \"not set\"; leave the field out for Envoy's default",
        );
        return None;
    }
    opt_count(ctx, path, patch, base, (1, max), what)
}

/// A share of requests: `percent: 12.5%`, or Istio's `percentage: { value: 12.5 }`.
/// Returns 0.0..=100.0; `Some(None)` when neither is written.
pub(crate) fn share(
    ctx: &mut Ctx<'_>,
    parent: &FieldPath,
    percent: Option<&Scalar>,
    percentage: Option<&RawPercentage>,
) -> Option<Option<f64>> {
    let given = |v: bool| v.then_some(&());
    let written = pick_opt(
        ctx,
        parent,
        ("percent", given(percent.is_some())),
        ("percentage", given(percentage.is_some())),
    )?;
    match written {
        None => Some(None),
        Some((path, _)) if percentage.is_none() => {
            let value = percent?;
            ctx.percent(&path, value).map(|f| Some(f * 100.0))
        }
        Some((path, _)) => istio_percentage(ctx, &path, percentage?).map(Some),
    }
}

/// Istio's `{ value: 12.5 }`: a number of percent, 0 to 100 (a `%` is allowed too).
pub(crate) fn istio_percentage(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &RawPercentage,
) -> Option<f64> {
    let Some(value) = &raw.value else {
        ctx.err(
            path,
            "missing `value`",
            "for example `{ value: 50 }` (percent)",
        );
        return None;
    };
    let at = path.key("value");
    let number = match value {
        Scalar::Int(n) => Some(*n as f64),
        Scalar::Float(x) => Some(*x),
        Scalar::Str(s) if s.trim_end().ends_with('%') => {
            return ctx.percent(&at, value).map(|f| f * 100.0)
        }
        _ => None,
    };
    match number {
        Some(x) if (0.0..=100.0).contains(&x) => Some(x),
        Some(_) => {
            ctx.err(
                &at,
                format!("{value} is outside 0 to 100"),
                "Istio's `value` is a percentage: 0 to 100",
            );
            None
        }
        None => {
            ctx.err(
                &at,
                format!("`{}` is not a number", shorten(&value.to_string())),
                "Istio's `value` is a percentage without `%`, e.g. `value: 12.5`",
            );
            None
        }
    }
}
