//! `mocks:`: where the mock upstreams run. Parsed and validated here, run by
//! `run::mock_fleet`.
//!
//! # Mocks in containers: `mocks.image`, `mocks.cpus`, `mocks.memory`
//!
//! ```yaml
//! mocks:                          # optional; default: every mock runs inside Gauntlet
//!   image: gauntlet/mock:0.1.0    # run every endpoint of every upstream as its own
//!                                 # container of this image (build it with
//!                                 # `gauntlet envoy mock-image`)
//!   cpus: 0.5                     # CPU limit of each container, in cores or `500m`;
//!                                 # optional; its worker threads follow (ceil, at least 1)
//!   memory: 64Mi                  # memory limit of each container, with a unit; at least
//!                                 # 6MiB; optional
//! ```
//!
//! One setting for the whole scenario, not one per upstream: the point is to keep the
//! mocks' CPU away from the load generator's, and a run that mixes in-process and
//! containerised upstreams would measure two different things. Each endpoint is a
//! `gauntlet-mock` container on the host network; it binds a free loopback port itself and
//! reports it, so no port is chosen and released first. Its behaviour is sent whole through
//! its control API (`PUT /__gauntlet/behavior`) before any load, timeline changes go the
//! same way, and counts are read from `GET /__gauntlet/stats`, so results, gates and
//! reports read the same as with in-process mocks. An endpoint taken `down` by the
//! timeline is a removed container (its port refuses connections); `up` starts a new one
//! on the same port with the same behaviour and counts carried over. Container logs go to
//! `mock-<upstream>-<index>.log` in the run directory.
//!
//! Every phase takes it: in the single-service and integration phases the sidecars' calls
//! reach the upstreams' containers (the integration phase's built-in mock services stay
//! inside Gauntlet), and the hop graph's callee counts are the containers' own. Limits: at
//! most 32 containers, counting the endpoints a `scale:` event grows to; in the benchmark
//! phase the load's path may not start with `/__gauntlet/` (the control API's prefix).

use super::check::{shorten, Ctx};
use super::container::{self, Examples};
use super::locate::FieldPath;
use super::model::{Load, MockContainers, Phase, TimelineAction, TimelineEvent, Upstream};
use super::raw::{RawScenario, Scalar};

/// The most mock containers a run may start: each is a process with its own runtime, and
/// a machine that runs the load generator and Envoy too has only so many cores.
pub(crate) const MAX_CONTAINERS: u32 = 32;
/// The image's control API answers under this prefix on the traffic port.
const CONTROL_PREFIX: &str = gauntlet_mocks::CONTROL_PREFIX;
/// The examples in the errors of `mocks:` fields.
const MOCK: Examples = Examples {
    image: "gauntlet/mock:0.1.0",
    image_hint: "write `repository:tag` in lower case, e.g. `gauntlet/mock:0.1.0` (build it with `gauntlet envoy mock-image`)",
    memory_hint: "write a size with a unit, e.g. `64Mi` or `128MiB`",
    memory_floor_hint: "a mock needs a few MiB plus its bodies; write e.g. `64Mi`",
};

/// `mocks:` as the file has it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMocks {
    pub image: Option<Scalar>,
    pub cpus: Option<Scalar>,
    pub memory: Option<Scalar>,
}

/// What `mocks:` needs from the sections validated before it.
pub(crate) struct MockRefs<'a> {
    pub phase: Option<Phase>,
    pub upstreams: Option<&'a [Upstream]>,
    pub timeline: Option<&'a [TimelineEvent]>,
    pub load: Option<&'a Load>,
}

/// Validates `mocks:`; `Some(None)` when absent (in-process mocks), `None` after an error.
pub(crate) fn section(
    ctx: &mut Ctx<'_>,
    raw: &RawScenario,
    refs: &MockRefs<'_>,
) -> Option<Option<MockContainers>> {
    let Some(raw) = &raw.mocks else {
        return Some(None);
    };
    let path = FieldPath::root().key("mocks");
    let Some(image_value) = &raw.image else {
        ctx.missing(
            &path,
            "image",
            "add `image: gauntlet/mock:0.1.0` (build it with `gauntlet envoy mock-image`)",
        );
        return None;
    };
    let image = container::image_with(ctx, &path.key("image"), image_value, &MOCK);
    let limits = container::limits(ctx, &path, raw.cpus.as_ref(), raw.memory.as_ref(), &MOCK);
    let fits = fits(ctx, &path, refs);
    fits?;
    let (cpus, memory) = limits?;
    Some(Some(MockContainers {
        image: image?,
        cpus,
        memory,
    }))
}

/// The containers the run can need stay within [`MAX_CONTAINERS`], and the load's path
/// does not reach the control API (in the benchmark phase, where the load goes to the
/// mocks; elsewhere it goes to a service).
fn fits(ctx: &mut Ctx<'_>, path: &FieldPath, refs: &MockRefs<'_>) -> Option<()> {
    let mut ok = true;
    if let Some(ups) = refs.upstreams {
        let events = refs.timeline.unwrap_or_default();
        let most = |u: &Upstream| {
            let scaled = events.iter().filter_map(|e| match &e.action {
                TimelineAction::SetEndpointCount { upstream, count } if *upstream == u.name => {
                    Some(*count)
                }
                _ => None,
            });
            scaled.fold(u.endpoints, u32::max)
        };
        let total: u32 = ups.iter().map(most).sum();
        if total > MAX_CONTAINERS {
            ctx.err_key(
                path,
                format!(
                    "the upstreams need {total} mock containers (one per endpoint, counting \
                     `scale:` events), over the limit of {MAX_CONTAINERS}"
                ),
                "use fewer endpoints, or remove `mocks:` to run the mocks inside Gauntlet",
            );
            ok = false;
        }
    }
    let load = refs
        .load
        .filter(|_| matches!(refs.phase, None | Some(Phase::Benchmark)));
    if let Some(load) = load {
        if load.request.path.starts_with(CONTROL_PREFIX) {
            ctx.err(
                &FieldPath::root().key("load").key("request").key("path"),
                format!(
                    "`{}` is under `{CONTROL_PREFIX}`, where a mock container answers its \
                     control API, not traffic",
                    shorten(&load.request.path)
                ),
                "use another path, or remove `mocks:` to run the mocks inside Gauntlet",
            );
            ok = false;
        }
    }
    ok.then_some(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::scenario::{parse, MockContainers, ScenarioError};

    const BASE: &str = "name: m\nupstreams:\n  backend: { endpoints: 2 }\n\
                        load: { rate: 10/s, duration: 1s }\n";

    fn err(yaml: &str) -> ScenarioError {
        match parse(yaml, Path::new("x.yaml")) {
            Ok(s) => panic!("parsed: {:?}\n{yaml}", s.mocks),
            Err(e) => e,
        }
    }

    /// `line:column field: message` of the first error, and every error has a hint.
    fn first(yaml: &str) -> String {
        let e = err(yaml);
        for each in e.all() {
            assert!(
                each.hint.as_deref().is_some_and(|h| !h.is_empty()),
                "{each}"
            );
        }
        format!(
            "{}:{} {}: {}",
            e.line.unwrap_or(0),
            e.column.unwrap_or(0),
            e.field.as_deref().unwrap_or("-"),
            e.message
        )
    }

    #[test]
    fn absent_means_in_process_and_present_means_containers() {
        let s = parse(BASE, Path::new("x.yaml")).unwrap();
        assert_eq!(s.mocks, None);
        let yaml =
            format!("{BASE}mocks: {{ image: gauntlet/mock:0.1.0, cpus: 500m, memory: 64Mi }}\n");
        let s = parse(&yaml, Path::new("x.yaml")).unwrap();
        assert_eq!(
            s.mocks,
            Some(MockContainers {
                image: "gauntlet/mock:0.1.0".into(),
                cpus: Some(0.5),
                memory: Some(64 << 20),
            })
        );
    }

    #[test]
    fn errors_name_line_and_field() {
        let cases = [
            ("mocks: { cpus: 1 }\n", "5:8 mocks: missing `image`"),
            (
                "mocks: { image: \"Not An Image\" }\n",
                "5:17 mocks.image: is not an image reference",
            ),
            (
                "mocks: { image: gauntlet/mock:0.1.0, cpus: 0 }\n",
                "5:44 mocks.cpus: cpus must be more than 0",
            ),
            (
                "mocks: { image: gauntlet/mock:0.1.0, memory: 64 }\n",
                "5:46 mocks.memory: memory `64` has no unit",
            ),
            (
                "mocks: { image: gauntlet/mock:0.1.0, memory: 1Mi }\n",
                "5:46 mocks.memory: under the engine's minimum",
            ),
            (
                "mocks: { image: gauntlet/mock:0.1.0, threads: 2 }\n",
                "5:38 mocks.threads: unknown field `threads`",
            ),
        ];
        for (extra, expected) in cases {
            let got = first(&format!("{BASE}{extra}"));
            let (head, fragment) = expected.split_once(": ").unwrap();
            assert!(
                got.starts_with(&format!("{head}: ")) && got.contains(fragment),
                "expected `{expected}`, got `{got}`"
            );
        }
    }

    #[test]
    fn every_phase_takes_containers() {
        let yaml = "name: s\nphase: integration\nservices:\n  a: { mock: { calls: [{ service: db, path: /x }] } }\n\
                    upstreams:\n  db: {}\nload: { rate: 10/s, duration: 1s }\n\
                    mocks: { image: gauntlet/mock:0.1.0, cpus: 0.5 }\n";
        let s = parse(yaml, Path::new("s.yaml")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.mocks.as_ref().map(|m| m.cpus), Some(Some(0.5)));
    }

    #[test]
    fn container_count_and_control_path_are_bounded() {
        let many = "name: m\nupstreams:\n  a: { endpoints: 20 }\n  b: { endpoints: 10 }\n\
                    load: { rate: 10/s, duration: 4s }\nmocks: { image: gauntlet/mock:0.1.0 }\n\
                    timeline:\n  - { at: 1s, upstream: b, scale: 13 }\n";
        let got = first(many);
        assert!(
            got.starts_with("6:1 mocks: the upstreams need 33 mock containers"),
            "{got}"
        );
        let control = "name: m\nupstreams:\n  a: {}\n\
                       load: { rate: 10/s, duration: 1s, request: { path: /__gauntlet/stats } }\n\
                       mocks: { image: gauntlet/mock:0.1.0 }\n";
        let got = first(control);
        assert!(
            got.starts_with("4:52 load.request.path: `/__gauntlet/stats` is under"),
            "{got}"
        );
    }
}
