//! `routes:`: names, matches and targets (`cluster` / `weighted`); the policies are in
//! `route_policy`. A timeline event's `set:` is folded onto a route by the same code.

use std::collections::{HashMap, HashSet};

use super::check::{shorten, Ctx};
use super::headers::header_matches;
use super::locate::FieldPath;
use super::model::{Route, RouteMatch, RouteTarget};
use super::raw::{OrderedMap, RawMatch, RawRoute, Scalar};
use super::route_policy::route_policy;
use crate::policy::{HeaderMatch, RoutePolicy};

/// The names a route or event may refer to: every declared upstream, valid or not, so that
/// one bad upstream does not also make each reference to it an error.
pub(crate) struct Names {
    /// In file order, for messages.
    list: Vec<String>,
    set: HashSet<String>,
}

impl Names {
    /// The names declared under `upstreams:`, in file order.
    pub fn new(list: Vec<String>) -> Self {
        let set = list.iter().cloned().collect();
        Names { list, set }
    }

    /// The first declared upstream, the default route's target.
    pub fn first(&self) -> Option<&String> {
        self.list.first()
    }

    fn hint(&self) -> String {
        const SHOWN: usize = 10;
        let mut names: Vec<&str> = self.list.iter().take(SHOWN).map(String::as_str).collect();
        let more = format!("and {} more", self.list.len().saturating_sub(SHOWN));
        if self.list.len() > SHOWN {
            names.push(&more);
        }
        format!("defined upstreams are: {}", names.join(", "))
    }

    /// Checks that `value` names an upstream; `what` is how the field calls it
    /// (`cluster` in routes, `upstream` in timeline events). The error points at the value.
    pub fn resolve(
        &self,
        ctx: &mut Ctx<'_>,
        path: &FieldPath,
        value: &Scalar,
        what: &str,
    ) -> Option<String> {
        self.check(ctx, path, value, what, false)
    }

    /// Like [`Names::resolve`] for a name written as a key (in `weighted:`, `clusters:`).
    pub fn resolve_key(
        &self,
        ctx: &mut Ctx<'_>,
        path: &FieldPath,
        value: &Scalar,
        what: &str,
    ) -> Option<String> {
        self.check(ctx, path, value, what, true)
    }

    fn check(
        &self,
        ctx: &mut Ctx<'_>,
        path: &FieldPath,
        value: &Scalar,
        what: &str,
        at_key: bool,
    ) -> Option<String> {
        let name = value.to_string();
        if self.set.contains(&name) {
            return Some(name);
        }
        let message = format!("{what} `{}` is not defined", shorten(&name));
        if at_key {
            ctx.err_key(path, message, self.hint());
        } else {
            ctx.err(path, message, self.hint());
        }
        None
    }
}

/// Validates `routes:`; absent, it is one route `prefix: /` to the first upstream.
pub(crate) fn routes(
    ctx: &mut Ctx<'_>,
    raw: Option<&Vec<RawRoute>>,
    names: &Names,
) -> Option<Vec<Route>> {
    let path = FieldPath::root().key("routes");
    let Some(raw) = raw else {
        let first = names.first()?;
        return Some(vec![Route {
            name: "route-0".into(),
            matcher: RouteMatch::Prefix("/".into()),
            headers: Vec::new(),
            target: RouteTarget::Cluster(first.clone()),
            policy: RoutePolicy::default(),
        }]);
    };
    if raw.is_empty() {
        ctx.err(
            &path,
            "no routes are given",
            "add a route, or remove `routes:` to send everything to the first upstream",
        );
        return None;
    }
    let max = ctx.limits.max_routes;
    if raw.len() > max {
        ctx.err(
            &path,
            format!("{} routes is over the limit of {max}", raw.len()),
            format!("give at most {max}"),
        );
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut ok = true;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, r) in raw.iter().enumerate() {
        let p = path.index(i);
        let Some(route) = route(ctx, &p, i, None, r, names) else {
            ok = false;
            continue;
        };
        if let Some(first) = seen.insert(route.name.clone(), i) {
            let at = if r.name.is_some() {
                p.key("name")
            } else {
                p.clone()
            };
            ctx.err(
                &at,
                format!(
                    "route name `{}` is already used by routes[{first}]",
                    route.name
                ),
                "give each route its own name",
            );
            ok = false;
        }
        out.push(route);
    }
    ok.then_some(out)
}

/// Builds route `index` at `path` from its definition (`base` is `None`), or folds a route
/// event's `set:` onto the route as it stands (`base`): what `raw` does not mention stays.
pub(crate) fn route(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    index: usize,
    base: Option<&Route>,
    raw: &RawRoute,
    names: &Names,
) -> Option<Route> {
    let name = match (&raw.name, base) {
        (Some(_), Some(_)) => {
            ctx.err_key(
                &path.key("name"),
                "a route's name cannot change",
                "remove `name`; the event names the route it changes in `route:`",
            );
            None
        }
        (Some(n), None) => ctx.name(&path.key("name"), n, false, "route name", "main", false),
        (None, Some(b)) => Some(b.name.clone()),
        (None, None) => Some(format!("route-{index}")),
    };
    let matcher = route_match(ctx, &path.key("match"), raw.matcher.as_ref(), base);
    let target = match target(
        ctx,
        path,
        &raw.cluster,
        &raw.weighted,
        names,
        base.is_none(),
    ) {
        Some(Some(t)) => Some(t),
        Some(None) => base.map(|b| b.target.clone()),
        None => None,
    };
    let standing = base.map(|b| b.policy.clone()).unwrap_or_default();
    let policy = route_policy(ctx, path, &standing, raw, names);
    let ((matcher, headers), target, policy) = (matcher?, target?, policy?);
    let own: Vec<&String> = match &target {
        RouteTarget::Cluster(c) => vec![c],
        RouteTarget::Weighted(w) => w.iter().map(|(c, _)| c).collect(),
    };
    if let Some(m) = policy.mirrors.iter().find(|m| own.contains(&&m.cluster)) {
        ctx.err(
            &path.key("mirror"),
            format!("the route mirrors to `{}`, which it also sends its traffic to", m.cluster),
            "mirror to a separate upstream (e.g. `shadow`), so that its counts show the mirrored traffic",
        );
        return None;
    }
    Some(Route {
        name: name?,
        matcher,
        headers,
        target,
        policy,
    })
}

/// `match:` (path and headers), folded onto the route as it stands when there is one.
fn route_match(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: Option<&RawMatch>,
    base: Option<&Route>,
) -> Option<(RouteMatch, Vec<HeaderMatch>)> {
    let standing = base.map_or_else(
        || (RouteMatch::Prefix("/".into()), Vec::new()),
        |b| (b.matcher.clone(), b.headers.clone()),
    );
    let Some(raw) = raw else {
        return Some(standing);
    };
    let matcher = match (&raw.prefix, &raw.path) {
        (Some(_), Some(_)) => {
            ctx.err(
                path,
                "`prefix` and `path` are both set",
                "keep one: `prefix` matches the start of the path, `path` the whole path",
            );
            None
        }
        (None, None) if raw.headers.is_some() => Some(standing.0),
        (None, None) => {
            ctx.err(
                path,
                "no `prefix` or `path` given",
                "for example `match: { prefix: / }`",
            );
            None
        }
        (Some(p), None) => url_path(ctx, &path.key("prefix"), p).map(RouteMatch::Prefix),
        (None, Some(p)) => url_path(ctx, &path.key("path"), p).map(RouteMatch::Path),
    };
    let headers = match &raw.headers {
        Some(h) => header_matches(ctx, &path.key("headers"), h),
        None => Some(standing.1),
    };
    Some((matcher?, headers?))
}

/// A URL path: starts with `/`, printable ASCII without spaces.
pub(crate) fn url_path(ctx: &mut Ctx<'_>, path: &FieldPath, value: &Scalar) -> Option<String> {
    let s = ctx.string(path, value, "/api")?;
    let shown = shorten(&s.escape_debug().to_string());
    if !s.starts_with('/') {
        ctx.err(
            path,
            format!("path `{shown}` does not start with `/`"),
            format!("write it as `/{}`", shorten(s.trim_start())),
        );
        return None;
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        ctx.err(
            path,
            format!("path `{shown}` contains whitespace or a control character"),
            "percent-encode it, e.g. `%20` for a space",
        );
        return None;
    }
    if !s.is_ascii() {
        ctx.err(
            path,
            format!("path `{shown}` contains non-ASCII characters"),
            "percent-encode them as UTF-8 bytes, e.g. `%C3%A9` for `é`",
        );
        return None;
    }
    Some(s)
}

/// `cluster:` or `weighted:` at `path`. `Some(None)` when neither is given and
/// `required` is false.
pub(crate) fn target(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    cluster: &Option<Scalar>,
    weighted: &Option<OrderedMap<Scalar, i64>>,
    names: &Names,
    required: bool,
) -> Option<Option<RouteTarget>> {
    match (cluster, weighted) {
        (Some(_), Some(_)) => {
            ctx.err(
                &path.key("weighted"),
                "`cluster` and `weighted` are both set",
                "keep one: `cluster: backend` or `weighted: { backend: 90, canary: 10 }`",
            );
            None
        }
        (None, None) if required => {
            ctx.err(
                path,
                "no `cluster` or `weighted` given",
                "for example `cluster: backend`",
            );
            None
        }
        (None, None) => Some(None),
        (Some(c), None) => names
            .resolve(ctx, &path.key("cluster"), c, "cluster")
            .map(|n| Some(RouteTarget::Cluster(n))),
        (None, Some(w)) => weighted_target(ctx, &path.key("weighted"), w, names).map(Some),
    }
}

fn weighted_target(
    ctx: &mut Ctx<'_>,
    path: &FieldPath,
    raw: &OrderedMap<Scalar, i64>,
    names: &Names,
) -> Option<RouteTarget> {
    if raw.0.is_empty() {
        ctx.err(
            path,
            "no clusters given",
            "for example `weighted: { backend: 90, canary: 10 }`",
        );
        return None;
    }
    let max = ctx.limits.max_upstreams;
    if raw.0.len() > max {
        ctx.err(
            path,
            format!("{} clusters is over the limit of {max}", raw.0.len()),
            "list each upstream at most once",
        );
        return None;
    }
    let mut out: Vec<(String, u32)> = Vec::with_capacity(raw.0.len());
    let mut total: u64 = 0;
    let mut ok = true;
    for (cluster, weight) in &raw.0 {
        let p = path.key(cluster.to_string());
        let Some(name) = names.resolve_key(ctx, &p, cluster, "cluster") else {
            ok = false;
            continue;
        };
        if out.iter().any(|(n, _)| *n == name) {
            ctx.err_key(
                &p,
                format!("cluster `{name}` is listed twice"),
                "list each cluster once",
            );
            ok = false;
            continue;
        }
        match u32::try_from(*weight) {
            Ok(w) if w > 0 => {
                total += u64::from(w);
                out.push((name, w));
            }
            _ => {
                ctx.err(
                    &p,
                    format!("weight {weight} is not a positive whole number"),
                    "weights are relative shares above 0, e.g. `90` and `10`",
                );
                ok = false;
            }
        }
    }
    if ok && total > u64::from(u32::MAX) {
        ctx.err(
            path,
            "the weights add up to more than 4294967295",
            "use smaller weights, e.g. percentages",
        );
        return None;
    }
    ok.then_some(RouteTarget::Weighted(out))
}
