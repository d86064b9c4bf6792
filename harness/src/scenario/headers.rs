//! Header conditions (`match.headers` of a route, `fault.headers`): header name → exact
//! value, `{ exact: v }`, `{ prefix: v }`, `present` or `absent`.

use std::collections::HashSet;

use serde_yaml::Value;

use super::check::{shorten, Ctx};
use super::locate::FieldPath;
use super::raw::{OrderedMap, Scalar};
use super::upstream::scalar_of;
use crate::policy::{HeaderMatch, HeaderValueMatch};

/// Most header conditions on one route or fault.
const MAX_HEADER_MATCHES: usize = 32;

const HINT: &str = "write `name: value` (exact), `name: { prefix: v }`, `name: present` or \
                    `name: absent`; `{ exact: present }` matches the word itself";

/// An HTTP token character (RFC 9110 `tchar`).
pub(crate) fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Validates header conditions; names are lower-cased (header names are case-insensitive).
pub(crate) fn header_matches(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &OrderedMap<Scalar, Value>,
) -> Option<Vec<HeaderMatch>> {
    if raw.0.len() > MAX_HEADER_MATCHES {
        ctx.err(
            path,
            format!(
                "{} header conditions is over the limit of {MAX_HEADER_MATCHES}",
                raw.0.len()
            ),
            format!("give at most {MAX_HEADER_MATCHES}"),
        );
        return None;
    }
    let mut out = Vec::with_capacity(raw.0.len());
    let mut seen = HashSet::new();
    let mut ok = true;
    for (name, value) in &raw.0 {
        let name = name.to_string();
        let p = path.key(name.clone());
        let Some(lower) = header_name(ctx, &p, &name) else {
            ok = false;
            continue;
        };
        if !seen.insert(lower.clone()) {
            ctx.err_key(
                &p,
                format!("header `{name}` is given twice"),
                "header names are case-insensitive; give each once",
            );
            ok = false;
            continue;
        }
        match header_value(ctx, &p, value) {
            Some(value) => out.push(HeaderMatch { name: lower, value }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A header name (or a pseudo-header like `:authority`), lower-cased.
fn header_name(ctx: &mut Ctx<'_>, path: &FieldPath, name: &str) -> Option<String> {
    let bare = name.strip_prefix(':').unwrap_or(name);
    if bare.is_empty() || !bare.chars().all(is_tchar) {
        let shown = shorten(&name.escape_debug().to_string());
        ctx.err_key(
            path,
            format!("`{shown}` is not a valid header name"),
            "header names use letters, digits and `-` (any HTTP token character), e.g. `x-user`",
        );
        return None;
    }
    Some(name.to_ascii_lowercase())
}

fn header_value(ctx: &mut Ctx<'_>, path: &FieldPath, value: &Value) -> Option<HeaderValueMatch> {
    if let Some(s) = scalar_of(value) {
        let text = s.to_string();
        return match (&s, text.as_str()) {
            (Scalar::Str(_), "present") => Some(HeaderValueMatch::Present),
            (Scalar::Str(_), "absent") => Some(HeaderValueMatch::Absent),
            _ => one_line(ctx, path, text).map(HeaderValueMatch::Exact),
        };
    }
    let Value::Mapping(map) = value else {
        let found = if value.is_null() { "nothing" } else { "a list" };
        ctx.err(
            path,
            format!("expected a header value, found {found}"),
            HINT,
        );
        return None;
    };
    let mut entries = map.iter();
    let (Some((key, v)), None) = (entries.next(), entries.next()) else {
        ctx.err(path, "give exactly one of `exact` or `prefix`", HINT);
        return None;
    };
    let key = scalar_of(key).map(|k| k.to_string()).unwrap_or_default();
    let p = path.key(key.clone());
    let Some(text) = scalar_of(v).map(|s| s.to_string()) else {
        ctx.err(&p, "expected a header value", HINT);
        return None;
    };
    match key.as_str() {
        "exact" => one_line(ctx, &p, text).map(HeaderValueMatch::Exact),
        "prefix" if text.is_empty() => {
            ctx.err(
                &p,
                "the prefix is empty",
                "an empty prefix matches any value: write `present` instead",
            );
            None
        }
        "prefix" => one_line(ctx, &p, text).map(HeaderValueMatch::Prefix),
        other => {
            let hint = super::error::did_you_mean(other, ["exact", "prefix"])
                .unwrap_or_else(|| HINT.to_string());
            ctx.err_key(
                &p,
                format!("`{}` is not `exact` or `prefix`", shorten(other)),
                hint,
            );
            None
        }
    }
}

fn one_line(ctx: &mut Ctx<'_>, path: &FieldPath, text: String) -> Option<String> {
    if text.chars().any(|c| c.is_control() && c != '\t') {
        ctx.err(
            path,
            "the header value contains a line break or control character",
            "header values are one line of text: remove CR, LF and other control characters",
        );
        return None;
    }
    Some(text)
}
