use super::*;

fn sample(t_s: f64, cpu: f64) -> ResourceSample {
    ResourceSample {
        t_s,
        envoy_cpu: Some(cpu),
        envoy_rss_mb: Some(40.0),
        gauntlet_cpu: 0.1,
        gauntlet_rss_mb: 10.0,
        ..ResourceSample::default()
    }
}

/// A deterministic generator (xorshift64*) so the noisy test is reproducible.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[test]
fn steady_state_drops_warmup_and_the_first_and_last_samples() {
    // Warmup 1 s: the 0.9 s and 1.2 s samples go (before warmup + 0.5 s), then the ramp-up
    // (5.0) and the wind-down (9.0) are trimmed.
    let samples = [
        sample(0.9, 7.0),
        sample(1.2, 7.0),
        sample(2.0, 5.0),
        sample(3.0, 0.2),
        sample(4.0, 0.4),
        sample(5.0, 0.3),
        sample(6.0, 9.0),
    ];
    let (cpu, n) = steady_cpu(&samples, 1.0);
    assert_eq!(n, 3);
    assert!((cpu.unwrap() - 0.3).abs() < 1e-12, "{cpu:?}");
    // Too short to trim: kept as is.
    let (cpu, n) = steady_cpu(&samples[2..4], 1.0);
    assert_eq!(n, 2);
    assert!((cpu.unwrap() - 2.6).abs() < 1e-12);
    assert_eq!(steady_cpu(&[], 1.0), (None, 0));
}

#[test]
fn fit_recovers_slope_and_intercept_exactly_from_noiseless_samples() {
    // CPU = 0.02 + 0.35 per 1000 rps, as each step's per-second samples would show it.
    let (a, b) = (0.02, 0.35 / 1000.0);
    let mut xy = Vec::new();
    for rps in [250.0, 500.0, 1000.0, 2000.0, 4000.0] {
        let samples: Vec<ResourceSample> = (0..8)
            .map(|i| sample(1.0 + f64::from(i), a + b * rps))
            .collect();
        let (cpu, _) = steady_cpu(&samples, 1.0);
        xy.push((rps, cpu.unwrap()));
    }
    let f = fit("c16 b0", &xy).unwrap();
    assert!((f.slope - b).abs() < 1e-12, "{f:?}");
    assert!((f.intercept - a).abs() < 1e-9, "{f:?}");
    assert!((f.vcpu_per_krps - 0.35).abs() < 1e-9);
    assert!((f.r_squared - 1.0).abs() < 1e-12);
    assert!(f.slope_stderr.unwrap() < 1e-9);
    assert_eq!((f.rps_min, f.rps_max, f.points), (250.0, 4000.0, 5));
}

#[test]
fn fit_recovers_the_slope_within_its_standard_error_from_noisy_samples() {
    let (a, b) = (0.05, 0.3 / 1000.0);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut xy = Vec::new();
    for rps in [250.0, 500.0, 1000.0, 1500.0, 2000.0, 3000.0, 4000.0] {
        // Per-second samples with 0.03 cores of noise; the step mean averages 10 of them.
        let samples: Vec<ResourceSample> = (0..12)
            .map(|i| sample(1.0 + f64::from(i), a + b * rps + 0.03 * rng.normal()))
            .collect();
        xy.push((rps, steady_cpu(&samples, 0.0).0.unwrap()));
    }
    let f = fit("g", &xy).unwrap();
    let se = f.slope_stderr.unwrap();
    // The mean of 10 samples has sd ≈ 0.0095; over this spread of rates the slope's standard
    // error is about 3e-6, so 4 standard errors is a tolerance that cannot flake (fixed seed).
    assert!(se > 0.0 && se < 1e-5, "{f:?}");
    assert!((f.slope - b).abs() < 4.0 * se, "{f:?}");
    assert!((f.intercept - a).abs() < 0.03, "{f:?}");
    assert!(f.r_squared > 0.95, "{f:?}");
}

#[test]
fn fit_needs_two_distinct_rates() {
    assert!(fit("g", &[(100.0, 0.1)]).is_none());
    assert!(fit("g", &[(100.0, 0.1), (100.0, 0.2)]).is_none());
    let two = fit("g", &[(100.0, 0.1), (200.0, 0.2)]).unwrap();
    assert!(two.slope_stderr.is_none());
}

fn line(intercept: f64, vcpu_per_krps: f64) -> CpuFit {
    CpuFit {
        group: "c16 b0".into(),
        points: 5,
        intercept,
        slope: vcpu_per_krps / 1000.0,
        vcpu_per_krps,
        r_squared: 0.99,
        ..CpuFit::default()
    }
}

#[test]
fn capacity_follows_the_formula_and_writes_istio_annotations() {
    let spec = CapacitySpec {
        target_rps: 20_000.0,
        cpu_limit: 0.5,
        headroom: 0.3,
        slo: None,
    };
    // Budget 0.35 cores, idle 0.02: (0.35 − 0.02) / 0.00035 = 942.86 rps per replica,
    // so 20000 rps needs ceil(21.21) = 22 replicas, each at 0.02 + 0.35 × 20000/22/1000.
    let plan = capacity(&spec, &[line(0.02, 0.35)], Some(41.3));
    assert!((plan.rps_per_replica.unwrap() - 942.857_142_857).abs() < 1e-6);
    assert_eq!(plan.replicas, Some(22));
    let request = 0.02 + 0.35 * 20_000.0 / 22.0 / 1000.0;
    assert!((plan.cpu_request.unwrap() - request).abs() < 1e-12);
    assert!(plan.cpu_request.unwrap() <= 0.35 + 1e-12);
    assert_eq!(plan.memory_request_mib, Some(42));
    assert_eq!(plan.memory_limit_mib, Some(59)); // 41.3 / 0.7 = 59.0
    let ann: Vec<(&str, &str)> = plan
        .annotations
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        ann,
        [
            ("sidecar.istio.io/proxyCPU", "339m"),
            ("sidecar.istio.io/proxyCPULimit", "500m"),
            ("sidecar.istio.io/proxyMemory", "42Mi"),
            ("sidecar.istio.io/proxyMemoryLimit", "59Mi"),
        ]
    );
}

#[test]
fn capacity_plans_on_the_most_expensive_fit_and_explains_what_it_cannot_plan() {
    let spec = CapacitySpec {
        target_rps: 1000.0,
        cpu_limit: 2.0,
        headroom: 0.0,
        slo: None,
    };
    let mut cheap = line(-0.5, 0.1);
    cheap.group = "cheap".into();
    let plan = capacity(&spec, &[cheap, line(-0.5, 0.4)], None);
    assert_eq!(plan.group, "c16 b0");
    // A negative intercept is treated as 0: 2 / 0.0004 = 5000 rps per replica.
    assert!((plan.rps_per_replica.unwrap() - 5000.0).abs() < 1e-9);
    assert_eq!(plan.replicas, Some(1));
    assert_eq!(
        plan.annotations.len(),
        2,
        "no memory figure, no memory annotations"
    );

    let flat = capacity(&spec, &[line(0.1, -0.01)], None);
    assert!(flat.replicas.is_none());
    assert!(flat.reason.unwrap().contains("not positive"));
    let idle = capacity(&spec, &[line(2.5, 0.3)], None);
    assert!(idle.reason.unwrap().contains("idle CPU"));
    assert!(capacity(&spec, &[], None).reason.is_some());
}

#[test]
fn points_that_fell_short_of_their_rate_stay_out_of_the_fit() {
    let point = |rate: f64, achieved: f64, cpu: f64| SizingPoint {
        step: format!("envoy@{rate}rps"),
        group: "g".into(),
        target_rps: rate,
        achieved_rps: achieved,
        envoy_cpu: Some(cpu),
        in_fit: achieved >= FIT_MIN_ACHIEVED * rate,
        ..SizingPoint::default()
    };
    // On the line 0.1 + 0.2 per 1000 rps, but the last point saturated at 0.4 cores.
    let points = [
        point(500.0, 500.0, 0.2),
        point(1000.0, 999.0, 0.2998),
        point(2000.0, 1990.0, 0.498),
        point(4000.0, 3000.0, 0.4),
    ];
    assert!(!points[3].in_fit && points[2].in_fit);
    let f = &fits(&points)[0];
    assert_eq!(f.points, 3);
    assert!((f.vcpu_per_krps - 0.2).abs() < 1e-9, "{f:?}");
}

fn load(achieved: f64, p99_ms: f64, error_rate: f64) -> gauntlet_reports::LoadSummary {
    gauntlet_reports::LoadSummary {
        achieved_rps: achieved,
        error_rate,
        latency: gauntlet_reports::Percentiles {
            count: 1000,
            p99_ms,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn a_point_meets_the_slo_by_its_ceilings_its_rate_and_its_gates() {
    let slo = crate::scenario::Slo {
        p99: Some(std::time::Duration::from_millis(10)),
        ..Default::default()
    };
    assert_eq!(
        point_verdict(&slo, &[], 1000.0, &load(995.0, 4.0, 0.0)),
        (Some(true), String::new())
    );
    let (met, why) = point_verdict(&slo, &[], 1000.0, &load(995.0, 12.5, 0.0));
    assert!(
        met == Some(false) && why.contains("p99 12.500 ms > 10 ms"),
        "{why}"
    );
    // Within the ceilings but short of the rate: not carried.
    let (met, why) = point_verdict(&slo, &[], 1000.0, &load(800.0, 4.0, 0.0));
    assert!(
        met == Some(false) && why.contains("achieved 800 rps of 1000"),
        "{why}"
    );
    // Gates as the SLO: an empty SLO still asks for the rate, and each failed gate counts.
    let none = crate::scenario::Slo::default();
    let failed = ["gate `latency.p99 < 5ms`: 7 ms".to_string()];
    let (met, why) = point_verdict(&none, &failed, 1000.0, &load(1000.0, 7.0, 0.0));
    assert!(
        met == Some(false) && why.contains("latency.p99 < 5ms"),
        "{why}"
    );
    assert_eq!(
        point_verdict(&none, &[], 1000.0, &load(1000.0, 7.0, 0.0)).0,
        Some(true)
    );
}

/// A point of a CPU-limit sweep: `met` its SLO verdict, CPU in cores, throttled periods.
fn limited(limit: f64, rate: f64, met: bool, cpu: f64, throttled: u64) -> SizingPoint {
    SizingPoint {
        step: format!("envoy@{rate}rps-cpu{limit}"),
        group: format!("c16 b0 cpu{limit}"),
        target_rps: rate,
        achieved_rps: rate,
        envoy_cpu: Some(cpu),
        in_fit: true,
        cpu_limit: Some(limit),
        throttled_periods: Some(throttled),
        slo_met: Some(met),
        slo_reason: if met {
            String::new()
        } else {
            format!("p99 over at {rate}")
        },
        ..SizingPoint::default()
    }
}

/// Two limits over 250..2000 rps at 0.25 cores per 1000 rps: under 0.25 cores the SLO holds
/// to 500 rps and throttling starts at 1000; under 1 core it holds everywhere, unthrottled.
fn two_limits() -> Vec<SizingPoint> {
    let mut points = Vec::new();
    for (limit, last_met, throttled_from) in [(0.25, 500.0, 1000.0), (1.0, 2000.0, f64::MAX)] {
        for rate in [250.0, 500.0, 1000.0, 2000.0] {
            let cpu = (0.25 * rate / 1000.0_f64).min(limit);
            let throttled = if rate >= throttled_from { 40 } else { 0 };
            points.push(limited(limit, rate, rate <= last_met, cpu, throttled));
        }
    }
    points
}

#[test]
fn each_limit_reports_its_highest_rate_within_the_slo_and_where_throttling_began() {
    let mut points = two_limits();
    // Noise above the break (the 2000 point "met" again) does not extend the streak.
    points[3].slo_met = Some(true);
    let ls = limits(&points, &fits(&points));
    assert_eq!(ls.len(), 2);
    let (tight, roomy) = (&ls[0], &ls[1]);
    assert_eq!((tight.cpu_limit, tight.points), (0.25, 4));
    assert_eq!(tight.max_rps_within_slo, Some(500.0));
    assert_eq!(tight.broke_at_rps, Some(1000.0));
    assert_eq!(tight.broke_because, "p99 over at 1000");
    assert_eq!(tight.throttled_from_rps, Some(1000.0));
    assert!(tight.throttle_measured);
    assert_eq!(roomy.max_rps_within_slo, Some(2000.0));
    assert_eq!((roomy.broke_at_rps, roomy.throttled_from_rps), (None, None));
    assert!((roomy.vcpu_per_krps.unwrap() - 0.25).abs() < 1e-9);
    // A process (no limit) has no per-limit figures; a point without cgroup figures says so.
    let mut process = two_limits();
    process.iter_mut().for_each(|p| p.cpu_limit = None);
    assert!(limits(&process, &[]).is_empty());
    let mut unmeasured = two_limits();
    unmeasured[0].throttled_periods = None;
    assert!(!limits(&unmeasured, &[])[0].throttle_measured);
    // A stray throttled period at 250 rps, clean at 500: throttling still began at 1000.
    let mut stray = two_limits();
    stray[0].throttled_periods = Some(1);
    assert_eq!(limits(&stray, &[])[0].throttled_from_rps, Some(1000.0));
    // The top rate clean: no throttling onset, whatever happened below.
    stray[3].throttled_periods = Some(0);
    assert_eq!(limits(&stray, &[])[0].throttled_from_rps, None);
    // The lowest rate broke: no max.
    let mut broken = two_limits();
    broken[0].slo_met = Some(false);
    assert_eq!(limits(&broken, &[])[0].max_rps_within_slo, None);
}

fn plan(target: f64, replicas: u32, headroom: f64) -> gauntlet_reports::sizing::CapacityPlan {
    gauntlet_reports::sizing::CapacityPlan {
        target_rps: target,
        cpu_limit: 0.5,
        headroom,
        replicas: Some(replicas),
        annotations: vec![
            ("sidecar.istio.io/proxyCPU".into(), "100m".into()),
            ("sidecar.istio.io/proxyCPULimit".into(), "500m".into()),
        ],
        ..Default::default()
    }
}

#[test]
fn the_plan_suggests_the_smallest_limit_that_carries_the_per_replica_rate() {
    let points = two_limits();
    let ls = limits(&points, &fits(&points));
    // 2000 rps over 5 replicas = 400 per replica. Under 0.25 cores the SLO holds to 500,
    // and the CPU at 400 (between 250 → 0.0625 and 500 → 0.125) is 0.1: within
    // 0.25 × (1 − 0.3) = 0.175. So 250m.
    let mut p = plan(2000.0, 5, 0.3);
    suggest_limit(&mut p, &ls, &points);
    assert_eq!(p.suggested_cpu_limit, Some(0.25));
    assert_eq!(
        p.annotations[1],
        ("sidecar.istio.io/proxyCPULimit".into(), "250m".into())
    );
    let why = p.cpu_limit_reason.unwrap();
    assert!(
        why.contains("400 rps per replica") && why.contains("0.100 of its 0.175"),
        "{why}"
    );

    // 800 per replica: over 0.25's SLO (500), so 1 core.
    let mut p = plan(1600.0, 2, 0.3);
    suggest_limit(&mut p, &ls, &points);
    assert_eq!(p.suggested_cpu_limit, Some(1.0));
    assert_eq!(p.annotations[1].1, "1000m");

    // 480 per replica, CPU 0.12 there: within 0.25 × (1 − 0.5) = 0.125, but not within
    // 0.25 × (1 − 0.9) = 0.025 nor 1 × (1 − 0.9) = 0.1.
    let mut p = plan(480.0, 1, 0.5);
    suggest_limit(&mut p, &ls, &points);
    assert_eq!(p.suggested_cpu_limit, Some(0.25));
    let mut p = plan(480.0, 1, 0.9);
    suggest_limit(&mut p, &ls, &points);
    assert_eq!(p.suggested_cpu_limit, None);
    assert_eq!(p.annotations[1].1, "500m", "the scenario's limit stays");
    let why = p.cpu_limit_reason.unwrap();
    assert!(
        why.contains("250m: Envoy would use 0.120 cores at 480 rps, over the 0.025"),
        "{why}"
    );
    assert!(why.contains("1000m: Envoy would use 0.120 cores"), "{why}");

    // Above every swept rate: not carried anywhere (no extrapolation).
    let mut p = plan(5000.0, 1, 0.3);
    suggest_limit(&mut p, &ls, &points);
    assert_eq!(p.suggested_cpu_limit, None);
    assert!(p
        .cpu_limit_reason
        .unwrap()
        .contains("the SLO held only up to 2000 rps"));

    // No plan, no suggestion; no limits, nothing said.
    let mut p = plan(2000.0, 5, 0.3);
    p.replicas = None;
    suggest_limit(&mut p, &ls, &points);
    assert!(p.suggested_cpu_limit.is_none() && p.cpu_limit_reason.is_some());
    let mut p = plan(2000.0, 5, 0.3);
    suggest_limit(&mut p, &[], &points);
    assert!(p.suggested_cpu_limit.is_none() && p.cpu_limit_reason.is_none());
}

#[test]
fn a_point_missed_while_the_client_was_saturated_is_not_judged_and_skipped() {
    let slo = crate::scenario::Slo {
        p99: Some(std::time::Duration::from_millis(10)),
        ..Default::default()
    };
    let mut saturated = load(700.0, 40.0, 0.0);
    saturated.saturation.client_bound = true;
    saturated.saturation.reason = Some("sends ran late".into());
    let (met, why) = point_verdict(&slo, &[], 1000.0, &saturated);
    assert_eq!(met, None, "{why}");
    assert!(
        why.starts_with("not judged:") && why.contains("saturated"),
        "{why}"
    );
    // A gate that failed as well is a verdict of its own.
    let failed = ["gate `errors.rate < 1%`: 3%".to_string()];
    assert_eq!(
        point_verdict(&slo, &failed, 1000.0, &saturated).0,
        Some(false)
    );
    // In the streak a point not judged neither proves capacity nor breaks it.
    let mut points = two_limits();
    points[2].slo_met = None;
    let ls = limits(&points, &[]);
    assert_eq!(ls[0].max_rps_within_slo, Some(500.0));
    assert_eq!(ls[0].broke_at_rps, Some(2000.0));
    points[4].slo_met = None;
    let ls = limits(&points, &[]);
    assert_eq!(ls[1].max_rps_within_slo, Some(2000.0));
}

#[test]
fn no_limit_below_the_planned_cpu_request_is_suggested() {
    let points = two_limits();
    let ls = limits(&points, &fits(&points));
    let mut p = plan(2000.0, 5, 0.3);
    p.cpu_request = Some(0.3);
    suggest_limit(&mut p, &ls, &points);
    assert_eq!(p.suggested_cpu_limit, Some(1.0));
    let mut p = plan(2000.0, 5, 0.3);
    p.cpu_request = Some(1.5);
    suggest_limit(&mut p, &ls, &points);
    assert_eq!(p.suggested_cpu_limit, None);
    let why = p.cpu_limit_reason.unwrap_or_default();
    assert!(
        why.contains("below the planned CPU request of 1500m"),
        "{why}"
    );
}
