//! Validation that catches, before any load runs, what would otherwise only go wrong after
//! it: a gRPC gate on HTTP load (unmeasurable), a value listed twice in a sweep (two points
//! with one step name), an image named by digest (the container layer names images by tag),
//! and a multi-phase file whose default phase name grows over the limit.

#[path = "common/scenario_check.rs"]
mod scenario_check;

use std::path::Path;

use gauntlet::scenario;
use scenario_check::{check, with, BASE};

#[test]
fn grpc_gates_need_grpc_load() {
    check(
        &with("gates:\n  - errors.rate < 1%\n  - grpc.unavailable.rate < 5%\n"),
        "8:5 gates[1]: `grpc.unavailable.rate` counts gRPC statuses, but the load sends plain HTTP",
    );
}

#[test]
fn a_sweep_lists_each_value_once() {
    check(
        &with("sweep: { rate: [50, 400, 50] }\n"),
        "6:26 sweep.rate[2]: this rate is already listed at index 0",
    );
    // `500m` and `0.5` are the same limit.
    check(
        &with("envoy: { image: gauntlet/envoy:1.40.0 }\nsweep: { rate: [50, 400], cpus: [0.5, 500m] }\n"),
        "7:39 sweep.cpus[1]: this CPU limit is already listed at index 0",
    );
}

#[test]
fn images_are_named_by_tag_not_digest() {
    let digest = format!("sha256:{}", "a".repeat(64));
    check(
        &with(&format!(
            "envoy: {{ image: \"envoyproxy/envoy@{digest}\" }}\n"
        )),
        "6:17 envoy.image: names an image by digest",
    );
}

#[test]
fn a_default_phase_name_over_the_limit_says_to_name_the_phase() {
    let top = "n".repeat(60);
    let body: String = BASE.lines().skip(1).map(|l| format!("    {l}\n")).collect();
    let yaml = format!(
        "name: {top}\nphases:\n  - phase: benchmark\n{body}  - phase: benchmark\n    name: two\n{body}"
    );
    let Err(err) = scenario::parse_file_with(&yaml, Path::new("x.yaml"), &Default::default())
    else {
        panic!("the default name is too long:\n{yaml}");
    };
    let text = err.to_string();
    assert!(
        text.contains("3:5") && text.contains("phases[0]: missing `name`"),
        "{text}"
    );
    assert!(text.contains("is 70 characters long"), "{text}");
}
