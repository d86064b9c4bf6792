//! Sizing against a real Envoy: the shipped `scenarios/sizing.yaml` sweep (shortened so the
//! suite stays fast) fits CPU against rps and plans capacity, and `find_max_rps` finds a
//! capacity limit set by a circuit breaker in front of a fixed-latency mock.

mod common;

use std::path::Path;

use common::*;

fn shipped(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.yaml"));
    std::fs::read_to_string(path).expect("read the shipped scenario")
}

/// The shipped text with each `from` replaced by `to`; panics when one is not there, so the
/// test notices when the shipped file changes.
fn shorten(text: &str, edits: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (from, to) in edits {
        assert!(out.contains(from), "the shipped scenario has no `{from}`");
        out = out.replacen(from, to, 1);
    }
    out
}

#[test]
fn sizing_sweep_fits_cpu_against_rps_and_plans_capacity() {
    let _serial = serial();
    let dir = scratch("sizing-sweep");
    // Shorter steps, and rates a debug build drives on a busy 2-core machine (the shipped
    // file is for release builds). 3 s leaves two or three CPU samples after warmup.
    let yaml = shorten(
        &shipped("sizing"),
        &[
            ("duration: 5s", "duration: 3s"),
            ("warmup: 1s", "warmup: 500ms"),
            ("cooldown: 1s", "cooldown: 0s"),
            (
                "rate: [250, 500, 1000, 2000, 4000]",
                "rate: [200, 400, 800, 1200, 1600]",
            ),
        ],
    );
    let out = run(&dir, &scenario_file(&dir, &yaml));
    assert!(out.status.success(), "{}", describe(&out));
    let r = result(&dir);
    let sizing = r.sizing.as_ref().expect("a sizing section");

    // Every point ran both steps, under its own name, at its own rate.
    let rates = [200.0, 400.0, 800.0, 1200.0, 1600.0];
    assert_eq!(sizing.points.len(), rates.len());
    assert_eq!(r.steps.len(), 2 * rates.len());
    for (p, rate) in sizing.points.iter().zip(rates) {
        let name = format!("envoy@{rate:.0}rps");
        assert_eq!(p.step, name);
        assert_eq!(
            p.baseline_step.as_deref(),
            Some(&*format!("baseline@{rate:.0}rps"))
        );
        assert_eq!(p.target_rps, rate);
        let step = r.step(&name).expect("the point's envoy step");
        assert_eq!(step.load.target_rps, Some(rate));
        // Open loop over 2 s: the achieved rate is the target, give or take scheduling.
        assert!(
            (p.achieved_rps - rate).abs() < 0.1 * rate,
            "{name}: achieved {}",
            p.achieved_rps
        );
        assert!(p.envoy_cpu.is_some_and(|c| c > 0.0), "{p:?}");
        assert!(p.rss_max_mb.is_some_and(|m| m > 10.0), "{p:?}");
        assert!(p.added.is_some(), "{p:?}");
        assert!(dir.join(format!("run/windows-{name}.jsonl")).exists());
    }
    // CPU grows with rps: a positive slope that explains most of the variation over a
    // 8× range of rates (on a noisy 2-core machine, R² well above 0.5).
    let fit = &sizing.fits[0];
    assert_eq!(sizing.fits.len(), 1);
    assert_eq!(fit.points, 5);
    assert!(fit.slope > 0.0, "{fit:?}");
    assert!(fit.r_squared > 0.5 && fit.r_squared <= 1.0, "{fit:?}");
    assert!((fit.vcpu_per_krps - fit.slope * 1000.0).abs() < 1e-12);

    // The plan is the formula applied to the stored fit.
    let plan = sizing.capacity.as_ref().expect("a capacity plan");
    let budget = 0.5 * (1.0 - 0.3);
    let per_replica = (budget - fit.intercept.max(0.0)) / fit.slope;
    assert!((plan.rps_per_replica.unwrap() - per_replica).abs() < 1e-6 * per_replica);
    assert_eq!(plan.replicas, Some((20_000.0 / per_replica).ceil() as u32));
    let keys: Vec<&str> = plan.annotations.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "sidecar.istio.io/proxyCPU",
            "sidecar.istio.io/proxyCPULimit",
            "sidecar.istio.io/proxyMemory",
            "sidecar.istio.io/proxyMemoryLimit"
        ]
    );
    // The gate held at every point and says which point it reports.
    assert_eq!(r.gates.len(), 1);
    assert!(
        r.gates[0].passed && r.gates[0].detail.starts_with("at envoy@"),
        "{:?}",
        r.gates
    );

    // The reports show it, and `gauntlet report` re-renders it from the stored result.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let html = std::fs::read_to_string(dir.join("run/report.html")).unwrap();
    assert!(html.contains("id=\"sizing\"") && html.contains("sidecar.istio.io/proxyCPU"));
    let md = gauntlet()
        .args(["report"])
        .arg(dir.join("run"))
        .args(["--format", "markdown"])
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(
        md.contains("### Sizing") && md.contains("### Capacity plan"),
        "{md}\n{stdout}"
    );
}

#[test]
fn find_max_rps_lands_within_5_percent_of_a_known_capacity() {
    let _serial = serial();
    let dir = scratch("sizing-find-max");
    // 100 requests at a time, 200 ms each: 500 rps. Shorter probes than the shipped file.
    let yaml = shorten(
        &shipped("find-max"),
        &[
            ("step_duration: 2s", "step_duration: 1500ms"),
            ("cooldown: 500ms", "cooldown: 200ms"),
            ("warmup: 500ms", "warmup: 300ms"),
        ],
    );
    let out = run(&dir, &scenario_file(&dir, &yaml));
    assert!(out.status.success(), "{}", describe(&out));
    let r = result(&dir);
    let fm = r
        .sizing
        .as_ref()
        .and_then(|s| s.find_max.clone())
        .expect("a find_max section");
    let knee = fm.knee_rps.expect("a knee");
    assert_eq!(fm.stopped, "converged", "{fm:#?}");
    assert!(
        (knee - 500.0).abs() <= 0.05 * 500.0,
        "knee {knee} rps is not within 5% of 500: {fm:#?}"
    );
    // The walk doubled from the start rate before bisecting, and every probe is a step.
    let rates: Vec<f64> = fm.walk.iter().map(|p| p.target_rps).collect();
    assert_eq!(&rates[..3], &[100.0, 200.0, 400.0], "{rates:?}");
    assert!(fm.walk.iter().any(|p| p.verdict == "broken"), "{fm:#?}");
    for p in &fm.walk {
        assert!(r.step(&p.step).is_some(), "{} has no step", p.step);
    }
    // Rates above the knee broke the SLO through overflows, which Envoy counted.
    let over = fm.walk.iter().find(|p| !p.passed).unwrap();
    let step = r.step(&over.step).unwrap();
    let stat = |name: &str| step.envoy_stats.get(name).copied().unwrap_or(0);
    let overflow = stat("cluster.backend.upstream_rq_pending_overflow")
        + stat("cluster.backend.upstream_rq_overflow");
    assert!(overflow > 0, "{:?}", over);
}
