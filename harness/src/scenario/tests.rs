//! Unit tests of the parser's internals (the locator) and its robustness: no input may make
//! it panic or hang, and whatever it accepts must hold the model's promises.

use std::path::Path;

use super::error::Pos;
use super::locate::{FieldPath, Locator};
use super::{parse, RouteTarget, Scenario, ScenarioError, TimelineAction};

const FULL: &str = include_str!("../../tests/scenarios/good/full.yaml");
/// Valid files the robustness tests start from: every field of the format between them.
const VALID: [&str; 4] = [
    FULL,
    include_str!("../../tests/scenarios/good/policies.yaml"),
    include_str!("../../tests/scenarios/good/istio.yaml"),
    include_str!("../../tests/scenarios/good/timeline.yaml"),
];

fn path(segs: &[&str]) -> FieldPath {
    segs.iter()
        .fold(FieldPath::root(), |p, s| match s.parse::<usize>() {
            Ok(i) => p.index(i),
            Err(_) => p.key(*s),
        })
}

fn pos(line: usize, column: usize) -> Pos {
    Pos { line, column }
}

#[test]
fn locator_finds_keys_and_values() {
    let text = "name: x\nupstreams:\n  backend:\n    endpoints: 2\nroutes:\n  - cluster: a\n    weighted: { a: 1 }\n";
    let loc = Locator::scan(text, Path::new("x.yaml")).expect("valid YAML");
    let endpoints = path(&["upstreams", "backend", "endpoints"]);
    assert_eq!(loc.value(&endpoints), pos(4, 16));
    assert_eq!(loc.key(&endpoints), pos(4, 5));
    assert_eq!(loc.value(&path(&["routes", "0", "cluster"])), pos(6, 14));
    // A block mapping is located at the key holding it; a flow mapping at its `{`.
    assert_eq!(loc.value(&path(&["upstreams"])), pos(2, 1));
    assert_eq!(loc.value(&path(&["routes", "0", "weighted"])), pos(7, 15));
    assert_eq!(
        loc.key(&path(&["routes", "0", "weighted", "a"])),
        pos(7, 17)
    );
    // Fields not written fall back to the nearest enclosing value.
    assert!(!loc.has(&path(&["upstreams", "backend", "latency"])));
    assert_eq!(
        loc.value(&path(&["upstreams", "backend", "latency"])),
        pos(3, 3)
    );
    assert_eq!(loc.value(&path(&["routes", "3", "cluster"])), pos(5, 1));
    assert_eq!(
        path(&["routes", "0", "weighted", "a"]).to_string(),
        "routes[0].weighted.a"
    );
}

#[test]
fn locator_skips_complex_keys() {
    let text = "? [a, b]\n: { c: 1 }\nd: 2\n";
    let loc = Locator::scan(text, Path::new("x.yaml")).expect("valid YAML");
    assert_eq!(loc.value(&path(&["d"])), pos(3, 4));
}

#[test]
fn aliases_used_sensibly_are_fine() {
    let yaml = "name: bench\nupstreams:\n  a: &up { endpoints: 2, latency: 5ms }\n  b: *up\nload: { rate: 10, duration: 1s }\n";
    let s = parse(yaml, Path::new("x.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.upstreams[1].endpoints, 2);
    // An error inside an aliased value points at the alias.
    let yaml = yaml.replace("endpoints: 2", "endpoints: 0");
    let e = parse(&yaml, Path::new("x.yaml")).expect_err("0 endpoints");
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(3), Some("upstreams.a.endpoints"))
    );
    assert_eq!(e.more[0].line, Some(4));
}

/// What every result must satisfy: errors located, scenarios consistent.
fn check_invariants(input: &str, result: &Result<Scenario, ScenarioError>) {
    match result {
        Err(e) => {
            for e in e.all() {
                assert!(!e.message.is_empty(), "empty message for {input:?}");
                if e.field.is_some() {
                    assert!(
                        e.line.is_some() && e.column.is_some(),
                        "{e} has no position for {input:?}"
                    );
                }
            }
            assert!(!e.to_string().is_empty());
        }
        Ok(s) => {
            assert!(!s.upstreams.is_empty() && !s.routes.is_empty());
            let defined = |n: &String| s.upstream(n).is_some();
            let targets = s
                .routes
                .iter()
                .map(|r| &r.target)
                .chain(s.timeline.iter().filter_map(|e| match &e.action {
                    TimelineAction::SetRoute { new, .. } => Some(&new.target),
                    _ => None,
                }));
            for t in targets {
                match t {
                    RouteTarget::Cluster(c) => assert!(defined(c)),
                    RouteTarget::Weighted(w) => {
                        assert!(w.iter().all(|(c, n)| defined(c) && *n > 0))
                    }
                }
            }
            for u in &s.upstreams {
                u.behavior.validate().expect("servable behaviour");
            }
            let routes = s
                .routes
                .iter()
                .chain(s.timeline.iter().filter_map(|e| match &e.action {
                    TimelineAction::SetRoute { new, .. } => Some(new),
                    _ => None,
                }));
            for r in routes {
                let own = match &r.target {
                    RouteTarget::Cluster(c) => vec![c],
                    RouteTarget::Weighted(w) => w.iter().map(|(c, _)| c).collect(),
                };
                for m in &r.policy.mirrors {
                    assert!(defined(&m.cluster) && !own.contains(&&m.cluster));
                    assert!((0.0..=100.0).contains(&m.percent));
                }
            }
            let labels: Vec<&str> = s.timeline.iter().map(|e| e.label.as_str()).collect();
            let mut unique = labels.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), labels.len(), "duplicate event labels");
            for e in &s.timeline {
                match &e.action {
                    TimelineAction::SetCluster { cluster, .. } => assert!(defined(cluster)),
                    TimelineAction::SetUpstream {
                        upstream, behavior, ..
                    } => {
                        assert!(defined(upstream));
                        behavior.validate().expect("servable behaviour");
                    }
                    TimelineAction::SetEndpointsUp {
                        upstream,
                        endpoints,
                        ..
                    } => {
                        assert!(defined(upstream) && !endpoints.is_empty());
                    }
                    TimelineAction::SetEndpointCount { upstream, count } => {
                        assert!(defined(upstream) && (1..=64).contains(count));
                    }
                    TimelineAction::SetRoute { route, .. } => assert!(*route < s.routes.len()),
                }
            }
            for g in &s.gates {
                assert!(g.event_refs().iter().all(|r| labels.contains(r)));
            }
            assert!(s.route_for_load().is_some());
            let end = s.load.warmup + s.load.duration;
            assert!(s.timeline.windows(2).all(|w| w[0].at <= w[1].at));
            assert!(s.timeline.iter().all(|e| e.at < end));
        }
    }
}

fn run(input: &str) {
    let result = parse(input, Path::new("fuzz.yaml"));
    check_invariants(input, &result);
}

/// A small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn every_prefix_of_a_valid_file() {
    for (n, file) in VALID.iter().enumerate() {
        run(file);
        // Every prefix of the first file, every fifth of the others: the test stays fast
        // and every section is still cut in many places.
        let stride = if n == 0 { 1 } else { 5 };
        for (i, _) in file.char_indices().step_by(stride) {
            run(&file[..i]);
        }
    }
}

#[test]
fn mutations_of_a_valid_file() {
    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ":",
        ": ",
        ",",
        "- ",
        "&a ",
        "*a",
        "!!str ",
        "|",
        ">",
        "'",
        "\"",
        "#",
        "%",
        "@",
        "\n",
        "  ",
        "\t",
        "0",
        "-1",
        "1e400",
        "99999999999999999999",
        "5ms",
        "100%",
        "?",
        "---\n",
        "...\n",
        "~",
        "null",
        "true",
        "\\u0000",
        "é",
        "<<: *a\n",
        "none",
        "{}",
        "retryOn: ",
        "- at: 1s\n",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..4000 {
        let chars: Vec<char> = VALID[round % VALID.len()].chars().collect();
        let mut text = chars.clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(text.len());
            match rng.below(3) {
                0 => {
                    let len = rng.below(20).min(text.len() - at);
                    text.drain(at..at + len);
                }
                1 => {
                    let token = TOKENS[rng.below(TOKENS.len())];
                    text.splice(at..at, token.chars());
                }
                _ => {
                    let from = rng.below(text.len());
                    let len = rng.below(40).min(text.len() - from);
                    let copy: Vec<char> = text[from..from + len].to_vec();
                    text.splice(at..at, copy);
                }
            }
        }
        run(&text.iter().collect::<String>());
    }
}

#[test]
fn random_bytes() {
    let mut rng = Rng(42);
    for _ in 0..2000 {
        let len = rng.below(300);
        let bytes: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
        run(&String::from_utf8_lossy(&bytes));
        let ascii: String = bytes
            .iter()
            .map(|b| char::from(b"{}[]:,-&*! \n'\"#abc015%|>?"[*b as usize % 25]))
            .collect();
        run(&ascii);
    }
}

#[test]
fn large_and_hostile_inputs_fail_fast() {
    let cases = [
        // ~1 MiB of values in one list.
        format!("name: [{}1]\n", "1,".repeat(500_000)),
        // Deep flow and block nesting.
        format!("a: {}", "{a: ".repeat(100_000)),
        (0..200)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect(),
        // Many upstreams, routes and events: over the limits, reported once.
        format!(
            "name: x\nupstreams:\n{}",
            (0..50_000)
                .map(|i| format!("  u{i}: {{}}\n"))
                .collect::<String>()
        ),
        format!(
            "name: x\nupstreams: {{ b: {{}} }}\nload: {{ rate: 1, duration: 1s }}\ntimeline:\n{}",
            "  - { at: 0s, upstream: b, set: { body: 1 } }\n".repeat(20_000)
        ),
        // A long key over many children: paths must not be copied per child.
        format!("? {}\n: [{}1]\n", "k".repeat(200_000), "1,".repeat(200_000)),
        // Quadratic alias expansion.
        format!(
            "a: &a [{}1]\nb: [{}*a]\n",
            "1,".repeat(2_000),
            "*a, ".repeat(2_000)
        ),
        // Long lists and strings where a policy takes a few values.
        format!(
            "name: x\nupstreams: {{ b: {{}} }}\nroutes: [{{ cluster: b, retries: {{ on: [retriable-status-codes], retriable_status_codes: [{}503] }} }}]\n",
            "503, ".repeat(100_000)
        ),
        format!(
            "name: x\nupstreams: {{ b: {{}} }}\nroutes: [{{ cluster: b, retries: {{ retryOn: \"{}5xx\" }} }}]\n",
            "5xx,".repeat(100_000)
        ),
        format!("name: x\nupstreams: {{ b: {{}} }}\ngates: [{}]\n", "a < 1, ".repeat(50_000)),
        format!(
            "name: x\nupstreams: {{ b: {{}} }}\ngates: [\"{}\"]\n",
            "latency.p99 ".repeat(50_000)
        ),
        // Many keys in one status mix.
        format!(
            "name: x\nupstreams: {{ b: {{ responses: {{ {} }} }} }}\n",
            (0..60_000)
                .map(|i| format!("{i}: 1%, "))
                .collect::<String>()
        ),
    ];
    for case in &cases {
        let result = parse(case, Path::new("big.yaml"));
        assert!(result.is_err(), "accepted {} bytes", case.len());
        check_invariants("<large input>", &result);
        let Err(err) = result else { continue };
        assert!(err.more.len() < super::error::MAX_ERRORS);
        // User text is shortened in messages.
        for e in err.all() {
            let one = ScenarioError {
                more: Vec::new(),
                ..e.clone()
            };
            let shown = one.to_string();
            assert!(shown.len() < 600, "{} bytes of error", shown.len());
        }
    }
}

#[test]
fn the_full_example_round_trips_through_json() {
    let s = parse(FULL, Path::new("full.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let json = serde_json::to_value(&s).expect("serializable");
    assert_eq!(json["upstreams"][0]["name"], "backend");
    assert_eq!(json["timeline"].as_array().map(Vec::len), Some(3));
}

/// A scenario named by a bare file name (`gauntlet run s.yaml`) has an empty parent path,
/// which no process can take as its working directory: the service runs in `.` instead.
#[test]
fn a_bare_file_name_gives_services_the_current_directory() {
    let text = include_str!("../../../scenarios/single-service.yaml");
    for (source, cwd) in [("s.yaml", "."), ("dir/s.yaml", "dir")] {
        let s = parse(text, Path::new(source)).expect("the shipped scenario parses");
        let service = s.service.expect("a single-service scenario has a service");
        assert_eq!(service.cwd, Path::new(cwd), "{source}");
    }
}
