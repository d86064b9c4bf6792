//! One load step: drive the load, stream its 1-second windows to disk and the terminal, run
//! the timeline beside it, and stop early (keeping what was measured) when Envoy dies, a
//! push is NACKed or the user interrupts.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use bytes::Bytes;
use gauntlet_reports::StepResult;
use tokio_util::sync::CancellationToken;

use super::cgroup::CgroupReader;
use super::mock_fleet::MockFleet;
use super::progress::{Progress, Style};
use super::resources::{self, ResourceSampler};
use super::rundir::RunDir;
use super::sampler::StatSampler;
use super::summary;
use super::timeline::Timeline;
use crate::envoy::Envoy;
use crate::load::{self, LoadPlan, Mode, Protocol, RequestTemplate, WindowReport};
use crate::scenario::{LoadMode, LoadProtocol, Scenario};

/// What every step of a run shares.
pub(super) struct StepCtx<'a> {
    pub scenario: &'a Scenario,
    pub mocks: &'a MockFleet,
    pub dir: &'a RunDir,
    pub progress: bool,
    pub cancel: CancellationToken,
}

/// One step: its name, where its load goes, and the Envoy whose health it watches.
#[derive(Clone)]
pub(super) struct StepSpec<'a> {
    name: String,
    /// A sweep point's or probe's load, in place of the scenario's rate and shape.
    load: Option<LoadOverride>,
    targets: Vec<SocketAddr>,
    envoy: Option<&'a Envoy>,
}

/// The load of one sizing point: an open-loop rate, connections, body and duration.
#[derive(Debug, Clone)]
pub(super) struct LoadOverride {
    pub rate: f64,
    pub connections: u32,
    pub body_bytes: usize,
    pub duration: Duration,
}

impl<'a> StepSpec<'a> {
    /// The Envoy this step goes through (a sweep over CPU limits changes its container).
    pub fn envoy_handle(&self) -> Option<&'a Envoy> {
        self.envoy
    }

    /// The same step renamed and run at a sizing point's load (`envoy@2000rps`).
    pub fn at(self, name: String, load: LoadOverride) -> Self {
        Self {
            name,
            load: Some(load),
            ..self
        }
    }

    /// The direct path: client → mocks.
    pub fn baseline(targets: Vec<SocketAddr>) -> Self {
        Self {
            name: "baseline".to_string(),
            load: None,
            targets,
            envoy: None,
        }
    }

    /// The path through Envoy's listener.
    pub fn envoy(listener: SocketAddr, envoy: &'a Envoy) -> Self {
        Self {
            name: "envoy".to_string(),
            load: None,
            targets: vec![listener],
            envoy: Some(envoy),
        }
    }
}

/// Runs the step. Always returns the step's figures; the error says why it ended early.
pub(super) async fn run(
    ctx: &StepCtx<'_>,
    spec: StepSpec<'_>,
    mut timeline: Option<&mut Timeline<'_>>,
) -> (StepResult, Option<anyhow::Error>) {
    if let Err(e) = ctx.mocks.reset().await {
        let e = anyhow::Error::new(e).context("resetting the mocks' counters");
        return (empty(&spec, Default::default()), Some(e));
    }
    // One clock for the load, the timeline and the samplers: the step starts at `origin`.
    let origin = Instant::now() + Duration::from_millis(50);
    let mut plan = plan(ctx.scenario, spec.targets.clone());
    if let Some(o) = &spec.load {
        plan.mode = Mode::Open { rate: o.rate };
        plan.connections = o.connections;
        plan.duration = o.duration;
        // A gRPC call's body is its encoded message: filler would not decode.
        if plan.protocol != Protocol::Grpc {
            plan.request.body = Bytes::from(vec![b'x'; o.body_bytes]);
        }
    }
    plan.start_at = Some(origin);
    let stop = ctx.cancel.child_token();
    let (tx, mut windows) = tokio::sync::mpsc::unbounded_channel();
    let load = tokio::spawn(load::run(plan.clone(), stop.clone(), Some(tx)));
    let total_s = (plan.warmup + plan.duration).as_secs_f64();
    let mut sink = WindowSink::open(ctx, &spec.name, total_s);
    let mut failure: Option<anyhow::Error> = None;
    let mut resources = Vec::new();
    let sampler = spec
        .envoy
        .map(|e| StatSampler::new(ctx.scenario, e.admin().clone(), origin));
    // A container's own cgroup gives its CPU, throttling and memory.
    let cgroup = spec
        .envoy
        .filter(|e| e.container().is_some())
        .and_then(|e| CgroupReader::for_pid(e.pid()));
    let mut proc_sampler = ResourceSampler::new(spec.envoy.map(|e| e.pid())).with_cgroup(cgroup);
    let cpu_limit = proc_sampler.cpu_limit();
    {
        let mut timeline_done = timeline.is_none();
        let timeline_fut = async {
            match timeline.as_deref_mut() {
                Some(t) => t.run(origin, &spec.name, ctx.mocks, sampler.as_ref()).await,
                None => Ok(()),
            }
        };
        tokio::pin!(timeline_fut);
        let sampler_fut = async {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Some(r) = proc_sampler.sample(origin.elapsed().as_secs_f64()) {
                    resources.push(r);
                }
                if let Some(s) = &sampler {
                    s.sample().await;
                }
            }
        };
        tokio::pin!(sampler_fut);
        loop {
            tokio::select! {
                w = windows.recv() => match w {
                    Some(w) => sink.push(&w),
                    None => break,
                },
                r = &mut timeline_fut, if !timeline_done => {
                    timeline_done = true;
                    if let Err(e) = r {
                        failure.get_or_insert(e);
                        stop.cancel();
                    }
                }
                () = &mut sampler_fut => {}
                exit = envoy_exit(spec.envoy), if failure.is_none() => {
                    failure = Some(anyhow!("Envoy exited during the `{}` step: {exit}", spec.name));
                    stop.cancel();
                }
                crash = ctx.mocks.crashed(), if failure.is_none() => {
                    failure = Some(anyhow!("a mock stopped during the `{}` step: {crash}", spec.name));
                    stop.cancel();
                }
            }
        }
    }
    if let Some(s) = &sampler {
        s.sample().await;
    }
    let loaded = load.await;
    // The mocks' own counts, read once the load is over (from the containers' control API
    // when the mocks run in containers).
    let mocks = match ctx.mocks.counts().await {
        Ok(counts) => summary::mocks(&counts),
        Err(e) => {
            let e = anyhow::Error::new(e).context("reading the mocks' counts");
            failure.get_or_insert(e);
            Default::default()
        }
    };
    let outcome = match loaded {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            return (
                empty(&spec, mocks),
                Some(anyhow!("load plan rejected: {e}")),
            )
        }
        Err(e) => {
            return (
                empty(&spec, mocks),
                Some(anyhow!("load generator crashed: {e}")),
            )
        }
    };
    let mut step = StepResult {
        name: spec.name.to_string(),
        targets: spec.targets.iter().map(|a| a.to_string()).collect(),
        load: summary::load(&plan, &outcome),
        envoy_stats: Default::default(),
        mocks,
        envoy_series: sampler.map(StatSampler::into_series).unwrap_or_default(),
        resource_summary: resources::summarize(
            &resources,
            plan.warmup.as_secs_f64(),
            outcome.achieved_rps,
        )
        .map(|s| gauntlet_reports::ResourceSummary {
            envoy_cpu_limit: cpu_limit,
            ..s
        }),
        resources,
    };
    step.load.cut_short = stop.is_cancelled();
    (step, failure)
}

/// Resolves when the watched Envoy exits; never, when there is none.
async fn envoy_exit(envoy: Option<&Envoy>) -> String {
    match envoy {
        Some(e) => {
            let info = e.exited().await;
            format!(
                "{info}\n  last lines of {}:\n{}",
                e.log_path().display(),
                e.log_tail(15)
            )
        }
        None => std::future::pending().await,
    }
}

fn empty(
    spec: &StepSpec<'_>,
    mocks: std::collections::BTreeMap<String, gauntlet_reports::MockCounts>,
) -> StepResult {
    StepResult {
        name: spec.name.to_string(),
        targets: spec.targets.iter().map(|a| a.to_string()).collect(),
        load: Default::default(),
        envoy_stats: Default::default(),
        mocks,
        envoy_series: Vec::new(),
        resources: Vec::new(),
        resource_summary: None,
    }
}

/// The load generator's plan for this scenario and these targets.
fn plan(s: &Scenario, targets: Vec<SocketAddr>) -> LoadPlan {
    let l = &s.load;
    LoadPlan {
        targets,
        protocol: match l.protocol {
            LoadProtocol::Http1 => Protocol::Http1,
            LoadProtocol::Http2 => Protocol::Http2,
            LoadProtocol::Grpc => Protocol::Grpc,
        },
        mode: match l.mode {
            LoadMode::Open { rate } => Mode::Open { rate },
            LoadMode::Closed { concurrency } => Mode::Closed { concurrency },
        },
        connections: l.connections,
        duration: l.duration,
        warmup: l.warmup,
        request: RequestTemplate {
            method: l.request.method.clone(),
            path: l.request.path.clone(),
            authority: "gauntlet.local".to_string(),
            headers: l.request.headers.clone(),
            body: match &l.grpc {
                Some(call) => Bytes::from(call.message.clone()),
                None => Bytes::from(vec![b'x'; l.request.body_bytes]),
            },
        },
        timeout: l.timeout,
        workers: l.workers as usize,
        start_at: None,
        streams: l.streams,
        grpc_deadline: l.grpc.as_ref().and_then(|c| c.deadline),
    }
}

/// Appends each window to `windows-<step>.jsonl` as it completes (so a crash loses at most
/// the last second) and prints a progress line.
struct WindowSink {
    file: Option<std::fs::File>,
    progress: Progress,
}

impl WindowSink {
    fn open(ctx: &StepCtx<'_>, step: &str, total_s: f64) -> Self {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(ctx.dir.file(&format!("windows-{step}.jsonl")))
            .map_err(|e| tracing::warn!("cannot write windows file: {e}"))
            .ok();
        Self {
            file,
            progress: Progress::new(step, Style::detect(ctx.progress), total_s),
        }
    }

    fn push(&mut self, w: &WindowReport) {
        let window = summary::window(w);
        if let Some(f) = &mut self.file {
            if let Ok(line) = serde_json::to_string(&window) {
                let _ = writeln!(f, "{line}");
            }
        }
        self.progress.window(&window);
    }
}
