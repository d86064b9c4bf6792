//! Writing a [`Spec`] as YAML: block style at the top level, flow style below it.

use std::fmt::Write;

use super::pools::*;
use super::*;

/// A flow mapping under construction: `{ k: v, ... }`.
#[derive(Default)]
struct Map(Vec<String>);

impl Map {
    fn put(&mut self, key: &str, value: impl Into<String>) {
        self.0.push(format!("{key}: {}", value.into()));
    }
    fn opt(&mut self, key: &str, v: &Option<V>, pool: &[&str]) {
        if let Some(v) = v {
            self.put(key, v.show(pool));
        }
    }
    /// `None` leaves the field out, `Some(None)` writes `null`.
    fn patch<T>(&mut self, key: &str, v: &Option<Option<T>>, f: impl FnOnce(&T) -> String) {
        match v {
            None => {}
            Some(None) => self.put(key, "null"),
            Some(Some(t)) => self.put(key, f(t)),
        }
    }
    fn done(self) -> String {
        format!("{{ {} }}", self.0.join(", "))
    }
}

fn pairs(list: &[(V, V)], keys: &[&str], values: &[&str]) -> String {
    let mut m = Map::default();
    for (k, v) in list.iter().take(8) {
        m.put(&k.show(keys), v.show(values));
    }
    m.done()
}

fn list(items: &[V], pool: &[&str]) -> String {
    let shown: Vec<String> = items.iter().take(8).map(|v| v.show(pool)).collect();
    format!("[{}]", shown.join(", "))
}

/// Picks keys by index from `keys`, each with a value from `pool`.
fn fields(list: &[(u8, V)], keys: &[(&str, &[&str])]) -> String {
    let mut m = Map::default();
    for (k, v) in list.iter().take(8) {
        let (key, pool) = keys[usize::from(*k) % keys.len()];
        m.put(key, v.show(pool));
    }
    m.done()
}

impl Behavior {
    fn write(&self, m: &mut Map) {
        m.opt("latency", &self.latency, LATENCIES);
        if let Some(r) = &self.responses {
            m.put("responses", pairs(r, STATUSES, PERCENTS));
        }
        m.opt("body", &self.body, SIZES);
        m.patch("chaos", &self.chaos, |c| {
            let mut cm = Map::default();
            cm.opt("hang", &c.hang, PERCENTS);
            cm.opt("reset", &c.reset, PERCENTS);
            cm.opt("close", &c.close, PERCENTS);
            cm.patch("slow_body", &c.slow_body, |(chunk, interval)| {
                let mut sm = Map::default();
                sm.opt("chunk_bytes", chunk, SIZES);
                sm.opt("interval", interval, DURATIONS);
                sm.done()
            });
            cm.done()
        });
    }
}

impl Route {
    fn write(&self, m: &mut Map) {
        m.opt(
            "name",
            &self.name,
            &["main", "canary", "route-0", "route-1", "", "a b"],
        );
        if let Some(mt) = &self.matcher {
            let mut mm = Map::default();
            mm.put(
                if mt.exact { "path" } else { "prefix" },
                mt.path.show(PATHS),
            );
            if !mt.headers.is_empty() {
                mm.put("headers", pairs(&mt.headers, HEADER_NAMES, HEADER_VALUES));
            }
            m.put("match", mm.done());
        }
        match &self.target {
            None => {}
            Some(Target::Cluster(c)) => m.put("cluster", c.show(UPSTREAMS)),
            Some(Target::Weighted(w)) => m.put("weighted", pairs(w, UPSTREAMS, COUNTS)),
            Some(Target::Both(c, w)) => {
                m.put("cluster", c.show(UPSTREAMS));
                m.put("weighted", pairs(w, UPSTREAMS, COUNTS));
            }
        }
        m.patch("timeout", &self.timeout, |v| v.show(DURATIONS));
        m.patch("idle_timeout", &self.idle_timeout, |v| v.show(DURATIONS));
        m.patch("retries", &self.retries, |r| {
            let mut rm = Map::default();
            rm.opt("on", &r.on, RETRY_ON);
            rm.opt("retryOn", &r.retry_on_istio, ISTIO_RETRY_ON);
            rm.opt("attempts", &r.attempts, COUNTS);
            rm.opt("per_try_timeout", &r.per_try_timeout, DURATIONS);
            rm.opt("perTryTimeout", &r.per_try_timeout_istio, DURATIONS);
            if let Some((base, max)) = &r.backoff {
                let mut bm = Map::default();
                bm.opt("base", base, DURATIONS);
                bm.opt("max", max, DURATIONS);
                rm.put("backoff", bm.done());
            }
            if let Some(codes) = &r.codes {
                rm.put("retriable_status_codes", list(codes, STATUSES));
            }
            rm.opt("avoid_previous_hosts", &r.avoid_previous_hosts, BOOLS);
            rm.opt(
                "host_selection_attempts",
                &r.host_selection_attempts,
                COUNTS,
            );
            rm.done()
        });
        m.patch("mirror", &self.mirror, |list| {
            let one = |mirror: &Mirror| {
                let mut mm = Map::default();
                mm.opt("cluster", &mirror.cluster, UPSTREAMS);
                mm.opt("percent", &mirror.percent, PERCENTS);
                mm.done()
            };
            match list.as_slice() {
                [single] => one(single),
                many => format!(
                    "[{}]",
                    many.iter().take(4).map(one).collect::<Vec<_>>().join(", ")
                ),
            }
        });
        if let Some(p) = &self.mirror_percentage {
            m.put(
                "mirrorPercentage",
                format!("{{ value: {} }}", p.show(COUNTS)),
            );
        }
        m.patch("fault", &self.fault, |f| {
            let mut fm = Map::default();
            if let Some(Delay {
                fixed,
                percent,
                istio,
            }) = &f.delay
            {
                let mut dm = Map::default();
                if *istio {
                    dm.opt("fixedDelay", fixed, DURATIONS);
                    if let Some(p) = percent {
                        dm.put("percentage", format!("{{ value: {} }}", p.show(COUNTS)));
                    }
                } else {
                    dm.opt("fixed", fixed, DURATIONS);
                    dm.opt("percent", percent, PERCENTS);
                }
                fm.put("delay", dm.done());
            }
            if let Some(Abort {
                status,
                grpc,
                percent,
                istio,
            }) = &f.abort
            {
                let mut am = Map::default();
                if *istio {
                    am.opt("httpStatus", status, STATUSES);
                    am.opt("grpcStatus", grpc, GRPC);
                    if let Some(p) = percent {
                        am.put("percentage", format!("{{ value: {} }}", p.show(COUNTS)));
                    }
                } else {
                    am.opt("status", status, STATUSES);
                    am.opt("grpc_status", grpc, GRPC);
                    am.opt("percent", percent, PERCENTS);
                }
                fm.put("abort", am.done());
            }
            if let Some(h) = &f.headers {
                fm.put("headers", pairs(h, HEADER_NAMES, HEADER_VALUES));
            }
            fm.done()
        });
        m.patch("rate_limit", &self.rate_limit, |r| {
            let mut rm = Map::default();
            rm.opt("requests_per_second", &r.rps, COUNTS);
            rm.opt("max_tokens", &r.max_tokens, COUNTS);
            rm.opt("tokens_per_fill", &r.tokens_per_fill, COUNTS);
            rm.opt("fill_interval", &r.fill_interval, DURATIONS);
            rm.opt("status", &r.status, STATUSES);
            rm.done()
        });
    }
}

impl Cluster {
    fn write(&self, m: &mut Map) {
        m.patch("circuit_breakers", &self.circuit_breakers, |f| {
            fields(f, BREAKER_FIELDS)
        });
        m.patch("outlier_detection", &self.outlier, |f| {
            fields(f, OUTLIER_FIELDS)
        });
        if let Some((istio, v)) = &self.lb {
            if *istio {
                m.put("loadBalancer", v.show(ISTIO_LB));
            } else {
                m.put("lb_policy", v.show(LB));
            }
        }
        m.patch("health_check", &self.health_check, |f| {
            fields(f, HEALTH_FIELDS)
        });
        m.opt(
            "max_requests_per_connection",
            &self.max_requests_per_connection,
            COUNTS,
        );
        if let Some(p) = &self.connection_pool {
            m.put("connectionPool", fields(p, POOL_FIELDS));
        }
    }
}

impl Spec {
    /// The scenario as YAML text.
    pub fn yaml(&self) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: String| {
            let _ = writeln!(out, "{k}: {v}");
        };
        if let Some(n) = &self.name {
            line("name", n.show(NAMES));
        }
        if let Some(p) = &self.phase {
            line("phase", p.show(PHASES));
        }
        if let Some(e) = &self.envoy {
            let mut m = Map::default();
            m.opt("version", &e.version, VERSIONS);
            m.opt(
                "binary",
                &e.binary,
                &["/usr/local/bin/envoy", "\"\"", "envoy"],
            );
            m.opt("concurrency", &e.concurrency, COUNTS);
            m.opt("log_level", &e.log_level, LOG_LEVELS);
            m.opt(
                "listen_port",
                &e.listen_port,
                &["10000", "0", "65535", "65536", "-1"],
            );
            line("envoy", m.done());
        }
        if !self.upstreams.is_empty() {
            let mut m = Map::default();
            for (name, u) in self.upstreams.iter().take(6) {
                let value = match u {
                    None => "null".to_string(),
                    Some(u) => {
                        let mut um = Map::default();
                        um.opt("endpoints", &u.endpoints, COUNTS);
                        if let Some(h2) = u.protocol {
                            um.put("protocol", if h2 { "http2" } else { "http1" });
                        }
                        u.behavior.write(&mut um);
                        um.opt("connect_timeout", &u.connect_timeout, DURATIONS);
                        um.done()
                    }
                };
                m.put(&name.show(UPSTREAMS), value);
            }
            line("upstreams", m.done());
        }
        if let Some(routes) = &self.routes {
            let shown: Vec<String> = routes
                .iter()
                .take(6)
                .map(|r| {
                    let mut m = Map::default();
                    r.write(&mut m);
                    m.done()
                })
                .collect();
            line("routes", format!("[{}]", shown.join(", ")));
        }
        if !self.clusters.is_empty() {
            let mut m = Map::default();
            for (name, c) in self.clusters.iter().take(4) {
                let value = match c {
                    None => "null".to_string(),
                    Some(c) => {
                        let mut cm = Map::default();
                        c.write(&mut cm);
                        cm.done()
                    }
                };
                m.put(&name.show(UPSTREAMS), value);
            }
            line("clusters", m.done());
        }
        if let Some(l) = &self.load {
            let mut m = Map::default();
            if let Some(h2) = l.protocol {
                m.put("protocol", if h2 { "http2" } else { "http1" });
            }
            m.opt("rate", &l.rate, RATES);
            m.opt("concurrency", &l.concurrency, COUNTS);
            m.opt("connections", &l.connections, COUNTS);
            m.opt("duration", &l.duration, DURATIONS);
            m.opt("warmup", &l.warmup, DURATIONS);
            m.opt("timeout", &l.timeout, DURATIONS);
            m.opt("workers", &l.workers, COUNTS);
            if let Some(r) = &l.request {
                let mut rm = Map::default();
                rm.opt("method", &r.method, METHODS);
                rm.opt("path", &r.path, PATHS);
                if !r.headers.is_empty() {
                    rm.put(
                        "headers",
                        pairs(&r.headers, HEADER_NAMES, &["a", "\"a\\nb\"", "1", "\"\""]),
                    );
                }
                rm.opt("body", &r.body, SIZES);
                m.put("request", rm.done());
            }
            line("load", m.done());
        }
        if let Some(b) = &self.baseline {
            line("baseline", b.show(BOOLS));
        }
        if !self.timeline.is_empty() {
            let shown: Vec<String> = self.timeline.iter().take(8).map(Event::write).collect();
            line("timeline", format!("[{}]", shown.join(", ")));
        }
        if !self.gates.is_empty() {
            let shown: Vec<String> = self
                .gates
                .iter()
                .take(6)
                .map(|g| match g {
                    V::Pick(i) => {
                        let g = GATES[usize::from(*i) % GATES.len()];
                        if g.starts_with('{') {
                            g.to_string()
                        } else {
                            quote(g)
                        }
                    }
                    V::Text(s) => quote(s),
                })
                .collect();
            line("gates", format!("[{}]", shown.join(", ")));
        }
        if let Some((k, v)) = &self.extra {
            line(&quote(k), v.show(COUNTS));
        }
        out
    }
}

impl Event {
    fn write(&self) -> String {
        let mut m = Map::default();
        m.opt("at", &self.at, EVENT_AT);
        m.opt("name", &self.name, EVENT_NAMES);
        match &self.what {
            EventKind::Route(r, set) => {
                m.put(
                    "route",
                    r.show(&["0", "1", "2", "main", "canary", "-1", "route-0"]),
                );
                let mut sm = Map::default();
                set.write(&mut sm);
                m.put("set", sm.done());
            }
            EventKind::Cluster(c, set) => {
                m.put("cluster", c.show(UPSTREAMS));
                let mut sm = Map::default();
                set.write(&mut sm);
                m.put("set", sm.done());
            }
            EventKind::UpstreamSet(u, eps, set) => {
                m.put("upstream", u.show(UPSTREAMS));
                if let Some(eps) = eps {
                    m.put("endpoints", list(eps, COUNTS));
                }
                let mut sm = Map::default();
                set.write(&mut sm);
                m.put("set", sm.done());
            }
            EventKind::UpstreamUp(u, eps, down, value) => {
                m.put("upstream", u.show(UPSTREAMS));
                if let Some(eps) = eps {
                    m.put("endpoints", list(eps, COUNTS));
                }
                m.put(if *down { "down" } else { "up" }, value.to_string());
            }
            EventKind::UpstreamScale(u, n) => {
                m.put("upstream", u.show(UPSTREAMS));
                m.put("scale", n.show(COUNTS));
            }
            EventKind::Empty => {}
        }
        m.done()
    }
}
