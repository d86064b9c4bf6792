//! A service given as a container image (`service.image`, and a program entry of
//! `services:`): exactly one of `image` and `command`, the container-only fields (`args`,
//! `cpus`, `memory`) refused with a command, `cwd` refused with an image, and each error
//! naming its line, column and field. No Docker engine is needed: this is validation only.

#[path = "common/scenario_check.rs"]
mod scenario_check;

use std::path::Path;

use gauntlet::scenario::{self, ServiceKind, ServiceRun};
use scenario_check::check;

/// A single-service scenario whose `service:` mapping is `service` (on line 3).
fn single(service: &str) -> String {
    format!(
        "name: svc\nphase: single-service\nservice:\n{service}\
         upstreams: {{ dep: {{}} }}\nload: {{ rate: 10/s, duration: 1s }}\n"
    )
}

/// An integration scenario whose one service `a` is `node` (on line 4).
fn integration(node: &str) -> String {
    format!(
        "name: int\nphase: integration\nservices:\n  a: {node}\n\
         upstreams: {{ dep: {{}} }}\nload: {{ rate: 10/s, duration: 1s }}\n"
    )
}

const IMAGE: &str = "  image: gauntlet/mock:0.1.0\n";

#[test]
fn image_and_command_are_exclusive_and_one_is_required() {
    check(
        &single(&format!("  command: [x]\n{IMAGE}")),
        "5:3 service.image: `image` and `command` are both set",
    );
    check(
        &single("  name: checkout\n"),
        "3:1 service: missing `command`",
    );
}

#[test]
fn container_fields_need_an_image() {
    for (field, value, line) in [
        ("args", "[--port, \"1\"]", 5),
        ("cpus", "0.5", 5),
        ("memory", "64Mi", 5),
    ] {
        check(
            &single(&format!("  command: [x]\n  {field}: {value}\n")),
            &format!("{line}:3 service.{field}: `{field}` belongs to a container, but this service is a `command`"),
        );
    }
    check(
        &single(&format!("{IMAGE}  cwd: ./svc\n")),
        "5:3 service.cwd: `cwd` is the working directory of a `command`",
    );
}

#[test]
fn image_fields_are_checked_like_envoys() {
    check(
        &single("  image: Not/An:Image!\n"),
        "4:10 service.image: is not an image reference",
    );
    check(
        &single(&format!("{IMAGE}  memory: 128\n")),
        "5:11 service.memory: memory `128` has no unit",
    );
    check(
        &single(&format!("{IMAGE}  cpus: 0\n")),
        "5:9 service.cpus: cpus must be more than 0",
    );
    check(
        &single(&format!("{IMAGE}  args: [--listen, \"127.0.0.1:${{PORTT}}\"]\n")),
        "5:20 service.args[1]: `127.0.0.1:${PORTT}` refers to ${PORTT}, which Gauntlet does not set",
    );
}

#[test]
fn an_image_service_parses_to_the_model() {
    let yaml = single(&format!(
        "{IMAGE}  args: [--listen, \"127.0.0.1:${{PORT}}\", --call, \"d=${{DEP_URL}}/x\"]\n  \
         env: {{ MODE: fast }}\n  cpus: 500m\n  memory: 128Mi\n  startup_timeout: 3s\n"
    ));
    let s = scenario::parse(&yaml, Path::new("x.yaml")).expect("parses");
    let spec = s.service.expect("a service");
    let ServiceRun::Image(image) = &spec.run else {
        panic!("not an image: {spec:?}");
    };
    assert_eq!(image.image, "gauntlet/mock:0.1.0");
    assert_eq!(image.args[1], "127.0.0.1:${PORT}");
    assert_eq!(image.args[3], "d=${DEP_URL}/x");
    assert_eq!(image.cpus, Some(0.5));
    assert_eq!(image.memory, Some(128 << 20));
    assert_eq!(spec.env["MODE"], "fast");
    assert!(spec.command().is_none());
}

#[test]
fn integration_services_may_be_images() {
    check(
        &integration("{ mock: {}, image: gauntlet/mock:0.1.0 }"),
        "4:18 services.a.image: `mock` and `image` are both set",
    );
    check(
        &integration("{ command: [x], memory: 64Mi }"),
        "4:22 services.a.memory: `memory` belongs to a container",
    );
    let s = scenario::parse(
        &integration(
            "{ image: gauntlet/mock:0.1.0, args: [--listen, \"127.0.0.1:${PORT}\"], cpus: 1 }",
        ),
        Path::new("x.yaml"),
    )
    .expect("parses");
    let ServiceKind::Command(spec) = &s.services[0].kind else {
        panic!("not a program: {:?}", s.services[0]);
    };
    assert!(matches!(&spec.run, ServiceRun::Image(i) if i.cpus == Some(1.0)));
}
