//! Files with several phases (`phases:`): validation errors inside a phase name the field
//! from the top of the file and its line; the shipped `scenarios/rollout.yaml` runs its
//! single-service and integration phases each in its own directory and puts their hops side
//! by side in `plan.json`; the exit code is the worst phase's, and a phase that fails stops
//! the phases after it.

mod common;

use std::path::Path;

use common::*;
use gauntlet::scenario::{self, Limits, ScenarioError, ScenarioFile};
use gauntlet_reports::plan::{PhaseVerdict, PlanResult};

// `ScenarioError` is large by design (see `scenario`): it carries its whole context.
#[allow(clippy::result_large_err)]
fn parse(yaml: &str) -> Result<ScenarioFile, ScenarioError> {
    scenario::parse_file_with(yaml, Path::new("plan.yaml"), &Limits::default())
}

fn errors(yaml: &str) -> Vec<ScenarioError> {
    match parse(yaml) {
        Ok(_) => panic!("expected errors in:\n{yaml}"),
        Err(e) => e.all().cloned().collect(),
    }
}

/// The error about `field`, whatever else was reported.
fn error_at(errors: &[ScenarioError], field: &str) -> ScenarioError {
    errors
        .iter()
        .find(|e| e.field.as_deref() == Some(field))
        .cloned()
        .unwrap_or_else(|| panic!("no error at `{field}` in {errors:#?}"))
}

/// A valid benchmark phase body, indented as an entry of `phases:`.
const BENCH: &str = "  - phase: benchmark
    upstreams: { backend: {} }
    load: { rate: 50/s, duration: 1s, warmup: 0s }
    baseline: false
";

fn plan_read(dir: &Path) -> PlanResult {
    gauntlet_reports::plan::read(&dir.join("run/plan.json")).expect("read plan.json")
}

#[test]
fn an_error_inside_a_phase_names_its_field_and_line() {
    let yaml = format!(
        "name: two\nphases:\n{BENCH}  - phase: benchmark
    upstreams: {{ backend: {{}} }}
    load: {{ rate: fast, duration: 1s }}
    gates: [\"latency.p99 < 5ms after nope\"]
"
    );
    let errs = errors(&yaml);
    let rate = error_at(&errs, "phases[1].load.rate");
    assert_eq!(rate.line, Some(9), "{rate}");
    assert_eq!(rate.column, Some(19), "{rate}");
    // A position inside a value (the gate's unknown event) is found through the prefix too.
    let gate = error_at(&errs, "phases[1].gates[0]");
    assert_eq!((gate.line, gate.column), (Some(10), Some(38)), "{gate}");
    // The first phase is valid: nothing is reported about it.
    assert!(errs.iter().all(|e| e
        .field
        .as_deref()
        .is_some_and(|f| f.starts_with("phases[1]"))));
}

#[test]
fn an_unknown_field_inside_a_phase_keeps_its_position() {
    let yaml = format!("name: two\nphases:\n{BENCH}  - phase: integration\n    servces: {{}}\n");
    let e = error_at(&errors(&yaml), "phases[1].servces");
    assert_eq!((e.line, e.column), (Some(8), Some(5)), "{e}");
    assert_eq!(e.hint.as_deref(), Some("did you mean `services`?"));
}

#[test]
fn top_level_fields_other_than_name_and_phases_are_refused() {
    let yaml = format!("name: two\nload: {{ rate: 1/s }}\nphse: x\nphases:\n{BENCH}{BENCH}");
    let errs = errors(&yaml);
    let load = error_at(&errs, "load");
    assert_eq!(load.line, Some(2));
    assert!(load.message.contains("belongs in a phase"), "{load}");
    assert!(
        load.hint.as_deref().unwrap().contains("move `load:`"),
        "{load}"
    );
    let typo = error_at(&errs, "phse");
    assert_eq!(typo.line, Some(3));
    assert!(
        typo.message.contains("expected one of: name, phases"),
        "{typo}"
    );
}

#[test]
fn phases_need_a_kind_unique_names_no_compare_with_and_two_to_eight_entries() {
    let one = errors(&format!("name: one\nphases:\n{BENCH}"));
    let count = error_at(&one, "phases");
    assert!(count.message.contains("2 to 8 phases, not 1"), "{count}");

    let nine = errors(&format!("name: nine\nphases:\n{}", BENCH.repeat(9)));
    assert!(error_at(&nine, "phases").message.contains("not 9"));

    // Two benchmark phases without names default to the same name.
    let same = errors(&format!("name: same\nphases:\n{BENCH}{BENCH}"));
    let dup = error_at(&same, "phases[1]");
    assert!(dup.message.contains("`same-benchmark`"), "{dup}");
    assert_eq!(dup.line, Some(7));

    let no_kind = BENCH.replace("- phase: benchmark\n    ", "- ");
    let kind = errors(&format!("name: k\nphases:\n{no_kind}{BENCH}"));
    let kind = error_at(&kind, "phases[0]");
    assert!(kind.message.contains("missing `phase`"), "{kind}");

    let cw = BENCH.replace("baseline: false", "compare_with: runs/x");
    let cw = errors(&format!(
        "name: c\nphases:\n{BENCH}{}",
        cw.replace("- phase: benchmark", "- phase: integration")
    ));
    let cw = error_at(&cw, "phases[1].compare_with");
    assert!(
        cw.hint.as_deref().unwrap().contains("automatically"),
        "{cw}"
    );
}

#[test]
fn phases_are_named_after_the_file_unless_named_and_one_phase_files_are_unchanged() {
    let named = BENCH.replace("- phase: benchmark", "- phase: benchmark\n    name: second");
    let Ok(ScenarioFile::Phases(plan)) = parse(&format!("name: p\nphases:\n{BENCH}{named}")) else {
        panic!("a valid plan");
    };
    let names: Vec<&str> = plan.phases.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["p-benchmark", "second"]);
    // The one-scenario entry points refuse a plan with a clear message...
    let e = scenario::parse(
        &format!("name: p\nphases:\n{BENCH}{named}"),
        Path::new("p.yaml"),
    )
    .unwrap_err();
    assert!(e.message.contains("holds several phases"), "{e}");
    // ...and a one-phase file is one scenario either way.
    let one = "name: one\nupstreams: { backend: {} }\nload: { rate: 5/s, duration: 1s }\n";
    assert!(matches!(parse(one), Ok(ScenarioFile::One(s)) if s.name == "one"));
}

#[test]
fn validate_checks_every_phase_of_the_shipped_rollout() {
    let file = shipped("rollout");
    let out = gauntlet().arg("validate").arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(text.contains("checkout-rollout, 2 phases"), "{text}");
    assert!(text.contains("checkout-rollout-integration"), "{text}");
}

#[test]
fn rollout_runs_both_phases_and_puts_their_hops_side_by_side() {
    mock_binary();
    let _serial = serial();
    let dir = scratch("rollout-shipped");
    let file = shipped("rollout");
    let out = run(&dir, &file);
    assert!(out.status.success(), "{}", describe(&out));
    let plan = plan_read(&dir);
    assert_eq!(plan.schema, "gauntlet.plan/v1");
    let dirs: Vec<_> = plan.phases.iter().map(|p| p.dir.clone().unwrap()).collect();
    assert_eq!(
        dirs,
        [
            "01-checkout-rollout-single-service",
            "02-checkout-rollout-integration"
        ]
    );
    assert!(
        plan.phases.iter().all(|p| p.verdict == PhaseVerdict::Pass),
        "{plan:#?}"
    );
    let read = |d: &str| {
        gauntlet_reports::json::read(&dir.join("run").join(d).join("result.json")).unwrap()
    };
    let single = read(&dirs[0]);
    let integration = read(&dirs[1]);
    let (sg, ig) = (single.graph.unwrap(), integration.graph.unwrap());
    // `checkout` is a program whose calls are not declared: its sidecar listens for every
    // callee, but only the hops it took are edges (db is inventory's callee, not its).
    assert!(ig.edge("checkout", "db").is_none(), "{:#?}", ig.edges);
    assert!(ig.edges.iter().all(|e| e.requests > 0), "{:#?}", ig.edges);
    assert_eq!(plan.comparisons.len(), 1);
    let c = &plan.comparisons[0];
    assert_eq!(
        (c.phase.as_str(), c.against.as_str()),
        (
            "checkout-rollout-integration",
            "checkout-rollout-single-service"
        )
    );
    let mut pairs: Vec<(&str, &str, &str)> = c
        .hops
        .hops
        .iter()
        .map(|h| (h.from.as_str(), h.to.as_str(), h.other.from.as_str()))
        .collect();
    pairs.sort_unstable();
    // inventory → db exists only in the integration phase: it has no partner.
    assert_eq!(
        pairs,
        [
            ("checkout", "inventory", "checkout"),
            ("checkout", "pricing", "checkout"),
            ("load", "checkout", "load"),
        ]
    );
    for h in &c.hops.hops {
        let before = sg
            .edge(&h.other.from, &h.to)
            .expect("the single-service hop");
        let now = ig.edge(&h.from, &h.to).expect("the integration hop");
        assert_eq!(
            (h.other.p99_ms, h.other.error_rate),
            (before.p99_ms, before.error_rate)
        );
        assert_eq!((h.this.p99_ms, h.this.rps), (now.p99_ms, now.rps));
        assert_eq!(
            h.p99_delta_ms,
            now.p99_ms.zip(before.p99_ms).map(|(a, b)| a - b)
        );
    }
    // The single-service egress hop to the flaky inventory shows its retries; in the
    // integration phase inventory is a service and the flaky one is its db.
    assert!(sg.edge("checkout", "inventory").unwrap().retries > 0);
    assert!(ig.edge("inventory", "db").unwrap().retries > 0);
    // The integration phase's own result carries the same comparison.
    assert_eq!(ig.compared.as_ref().map(|x| &x.hops), Some(&c.hops.hops));
    let md = std::fs::read_to_string(dir.join("run/plan.md")).unwrap();
    assert!(
        md.contains("Hops side by side") && md.contains("| checkout → inventory |"),
        "{md}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verdict pass"), "{stdout}");
    let report = gauntlet()
        .arg("report")
        .arg(dir.join("run"))
        .arg("--format")
        .arg("markdown")
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", describe(&report));
    assert_eq!(
        String::from_utf8_lossy(&report.stdout).trim_end(),
        md.trim_end()
    );
    // A format a plan has no rendering in says where to look instead.
    let junit = gauntlet()
        .arg("report")
        .arg(dir.join("run"))
        .args(["--format", "junit"])
        .output()
        .unwrap();
    assert_eq!(junit.status.code(), Some(2), "{}", describe(&junit));
    let err = String::from_utf8_lossy(&junit.stderr);
    assert!(
        err.contains("multi-phase run") && err.contains("01-checkout-rollout-single-service"),
        "{err}"
    );
    assert!(processes_mentioning(dir.to_str().unwrap()).is_empty());
}

#[test]
fn ctrl_c_stops_the_plan_and_skips_the_phases_left() {
    use nix::sys::signal::{kill, Signal};
    let dir = scratch("rollout-interrupted");
    let long = BENCH
        .replace("duration: 1s", "duration: 30s")
        .replace("- phase: benchmark", "- phase: benchmark\n    name: first");
    let yaml = format!("name: sig\nphases:\n{long}{BENCH}");
    let mut child = spawn_run(&dir, &scenario_file(&dir, &yaml));
    let windows = dir.join("run/01-first/windows-envoy.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(&windows).map_or(0, |t| t.lines().count()) < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first phase never loaded"
        );
        assert!(child.try_wait().unwrap().is_none(), "gauntlet exited early");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    kill(pid, Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    let plan = plan_read(&dir);
    let verdicts: Vec<_> = plan.phases.iter().map(|p| p.verdict).collect();
    assert_eq!(verdicts, [PhaseVerdict::Interrupted, PhaseVerdict::Skipped]);
    assert!(dir.join("run/01-first/result.json").is_file());
    assert!(!dir.join("run/02-sig-benchmark").exists());
}

#[test]
fn a_failing_gate_in_one_phase_is_the_exit_code() {
    let dir = scratch("rollout-gate-fails");
    let failing = BENCH.replace(
        "baseline: false",
        "baseline: false\n    gates: [\"errors.rate > 50%\"]\n    name: strict",
    );
    let yaml = format!("name: gates\nphases:\n{BENCH}{failing}");
    let out = run(&dir, &scenario_file(&dir, &yaml));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let plan = plan_read(&dir);
    let verdicts: Vec<_> = plan.phases.iter().map(|p| p.verdict).collect();
    assert_eq!(verdicts, [PhaseVerdict::Pass, PhaseVerdict::GatesFailed]);
    assert_eq!(plan.verdict, PhaseVerdict::GatesFailed);
    assert_eq!(
        (plan.phases[1].gates_passed, plan.phases[1].gates_failed),
        (0, 1)
    );
    // Benchmarks have no hops: there is nothing to put side by side.
    assert!(plan.comparisons.is_empty());
    assert!(dir.join("run/02-strict/result.json").is_file());
}

#[test]
fn a_failed_phase_skips_the_phases_after_it() {
    mock_binary();
    let dir = scratch("rollout-phase-fails");
    let broken = "  - phase: single-service
    service: { name: svc, command: [sh, -c, 'echo no config >&2; exit 3'] }
    upstreams: { dep: {} }
    load: { rate: 10/s, duration: 1s, warmup: 0s }
    baseline: false
";
    let yaml = format!("name: stops\nphases:\n{broken}{BENCH}");
    let out = run(&dir, &scenario_file(&dir, &yaml));
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let plan = plan_read(&dir);
    let verdicts: Vec<_> = plan.phases.iter().map(|p| p.verdict).collect();
    assert_eq!(verdicts, [PhaseVerdict::RunError, PhaseVerdict::Skipped]);
    assert!(
        plan.phases[0]
            .error
            .as_deref()
            .unwrap()
            .contains("no config"),
        "{plan:#?}"
    );
    assert!(plan.phases[1].dir.is_none());
    assert!(!dir.join("run/02-stops-benchmark").exists());
    assert!(processes_mentioning(dir.to_str().unwrap()).is_empty());
}
