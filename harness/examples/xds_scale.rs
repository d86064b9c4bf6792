//! xDS at scale: how long one Envoy takes to accept N clusters (each with an endpoint and a
//! route) from Gauntlet's control plane, what that costs Gauntlet, and how it compares with
//! Envoy's own account of its update time.
//!
//! For each size and repeat: a fresh xDS server and a fresh Envoy start with a one-cluster
//! seed config; then one snapshot replaces it with N new clusters (CDS + EDS) and N routes
//! (RDS; the listener is unchanged, so no LDS push). Measured:
//! - `set_ms`: `XdsControl::set_config` wall time (model → protos, diff, hand to the stream);
//! - `ack_ms`: set → every type ACKed (`PushReport::latency`), and per type sent → ACK;
//! - `gauntlet_cpu_ms`, `envoy_cpu_ms`: CPU time of this process and of Envoy over the push,
//!   summed over their threads from `/proc/<pid>/task/*/schedstat`;
//! - `gauntlet_rss_mb` / `gauntlet_hwm_mb`: this process's RSS after the push and its peak;
//! - `envoy_update_ms`: Envoy's `update_duration` histograms (CDS, RDS and every EDS
//!   subscription, read after Envoy's 5 s stats flush): time Envoy spent applying the update.
//!
//! Usage: `cargo run --release -p gauntlet --example xds_scale -- [--sizes 10,100,1000,10000]
//! [--repeats 3] [--envoy-bin PATH]`. One JSON object per measurement on stdout, a table of
//! medians on stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use clap::Parser;
use gauntlet::envoy::{self, AdminClient, LaunchConfig, Request};
use gauntlet::xds::{self, ClusterSpec, EnvoyConfig, ListenerSpec, RouteSpec, XdsControl};
use serde::Serialize;

const NODE: &str = "xds-scale";
/// Envoy's default stats flush interval is 5 s; histograms show in `/stats` only after it.
const STATS_FLUSH_WAIT: Duration = Duration::from_millis(5_500);
/// Generous: Envoy on a busy 2-core machine may take seconds for 10,000 clusters.
const ACK_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Debug, Parser)]
struct Args {
    /// Cluster counts to push, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000,10000")]
    sizes: Vec<usize>,
    /// Fresh Envoy per size and repeat; medians over the repeats.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Envoy binary (default: the managed install of Gauntlet's default version).
    #[arg(long)]
    envoy_bin: Option<PathBuf>,
}

/// One push of `clusters` clusters, measured.
#[derive(Debug, Clone, Serialize)]
struct Measurement {
    clusters: usize,
    repeat: usize,
    set_ms: f64,
    ack_ms: f64,
    /// Sent → ACK per resource type, in push order.
    type_ack_ms: Vec<(String, f64)>,
    gauntlet_cpu_ms: f64,
    gauntlet_rss_mb: f64,
    gauntlet_hwm_mb: f64,
    envoy_cpu_ms: f64,
    envoy_update_ms: EnvoyUpdate,
}

/// Envoy's `update_duration` (ms) for the push, per subscription kind.
#[derive(Debug, Clone, Default, Serialize)]
struct EnvoyUpdate {
    cds: f64,
    rds: f64,
    /// Summed over the N EDS subscriptions (each recorded in whole milliseconds).
    eds: f64,
    total: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let request = args
        .envoy_bin
        .clone()
        .map_or(Request::Default, Request::Binary);
    let resolved = envoy::install::which(&request, gauntlet::scenario::DEFAULT_ENVOY_VERSION)
        .await
        .context("finding Envoy")?;
    eprintln!("envoy {} at {}", resolved.version, resolved.path.display());
    let mut all = Vec::new();
    for repeat in 1..=args.repeats {
        // Interleaved: every size once per round, so drift hits every size alike.
        for &n in &args.sizes {
            let m = measure(&resolved.path, n, repeat)
                .await
                .with_context(|| format!("{n} clusters, repeat {repeat}"))?;
            println!("{}", serde_json::to_string(&m)?);
            all.push(m);
        }
    }
    eprintln!("{}", table(&args.sizes, &all));
    Ok(())
}

async fn measure(binary: &std::path::Path, n: usize, repeat: usize) -> anyhow::Result<Measurement> {
    let dir = std::env::temp_dir().join(format!("gauntlet-xds-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let xds_addr = listener.local_addr()?;
    let control = XdsControl::new();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(xds::run(listener, control.clone(), async {
        let _ = stopped.await;
    }));
    let ingress = free_port()?;
    let seed = config(ingress, "seed", 1);
    let v1 = control.set_config(NODE, &seed)?;
    let bootstrap = dir.join("bootstrap.pb");
    std::fs::write(
        &bootstrap,
        xds::bootstrap_bytes(&xds::BootstrapSpec::new(NODE, xds_addr))?,
    )?;
    let mut launch = LaunchConfig::new(binary, &bootstrap, &dir);
    launch.log_level = "warning".into();
    let process = envoy::launch(launch).await.context("starting Envoy")?;
    control.wait_applied(NODE, v1, ACK_DEADLINE).await?;

    let target = config(ingress, "c", n);
    let (envoy_cpu0, cpu0) = (cpu_ms(process.pid()), cpu_ms(std::process::id()));
    let started = Instant::now();
    let version = control.set_config(NODE, &target)?;
    let set_ms = ms(started.elapsed());
    let report = control.wait_applied(NODE, version, ACK_DEADLINE).await?;
    let ack_ms = ms(report.latency());
    let gauntlet_cpu_ms = cpu_ms(std::process::id()).zip(cpu0).map(|(b, a)| b - a);
    let envoy_cpu_ms = cpu_ms(process.pid()).zip(envoy_cpu0).map(|(b, a)| b - a);
    let type_ack_ms = report
        .pushes
        .iter()
        .map(|p| {
            let latency = p.ack_latency.map_or(f64::NAN, ms);
            (p.resource_type.to_string(), latency)
        })
        .collect();
    let (gauntlet_rss_mb, gauntlet_hwm_mb) = memory_mb();

    tokio::time::sleep(STATS_FLUSH_WAIT).await;
    let envoy_update_ms = envoy_update(process.admin()).await?;
    process.stop(Duration::from_secs(3)).await?;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Measurement {
        clusters: n,
        repeat,
        set_ms,
        ack_ms,
        type_ack_ms,
        gauntlet_cpu_ms: gauntlet_cpu_ms.unwrap_or(f64::NAN),
        gauntlet_rss_mb,
        gauntlet_hwm_mb,
        envoy_cpu_ms: envoy_cpu_ms.unwrap_or(f64::NAN),
        envoy_update_ms,
    })
}

/// One listener on `ingress` with `n` routes `/<prefix><i>/` → cluster `<prefix><i>`, each
/// cluster with one loopback endpoint (nothing listens there: Envoy does not connect until a
/// request comes, and none does).
fn config(ingress: SocketAddr, prefix: &str, n: usize) -> EnvoyConfig {
    let clusters: Vec<ClusterSpec> = (0..n)
        .map(|i| {
            let port = 20_000 + (i % 40_000) as u16;
            ClusterSpec::new(
                format!("{prefix}{i}"),
                vec![SocketAddr::from(([127, 0, 0, 1], port))],
            )
        })
        .collect();
    let mut listener = ListenerSpec::new("ingress", ingress);
    listener.routes = clusters
        .iter()
        .map(|c| RouteSpec::prefix(&c.name, format!("/{}/", c.name), &c.name))
        .collect();
    EnvoyConfig {
        listeners: vec![listener],
        clusters,
    }
}

/// Sums the largest recorded `update_duration` of the CDS, RDS and EDS subscriptions. Each
/// subscription of a fresh Envoy has recorded the seed update (tiny) and this push, so the
/// maximum is this push.
async fn envoy_update(admin: &AdminClient) -> anyhow::Result<EnvoyUpdate> {
    let body = admin
        .get("/stats?format=json&usedonly&filter=update_duration$")
        .await?;
    let json: serde_json::Value = serde_json::from_str(&body)?;
    let mut out = EnvoyUpdate::default();
    let histograms = json["stats"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["histograms"]["computed_quantiles"].as_array())
        .flatten();
    for h in histograms {
        let name = h["name"].as_str().unwrap_or_default();
        let max = h["values"]
            .as_array()
            .and_then(|v| v.last())
            .and_then(|q| q["cumulative"].as_f64())
            .unwrap_or(0.0);
        if name.starts_with("cluster_manager.cds.") {
            out.cds += max;
        } else if name.contains(".rds.") {
            out.rds += max;
        } else if name.starts_with("cluster.") {
            out.eds += max;
        }
    }
    out.total = out.cds + out.rds + out.eds;
    if out.cds == 0.0 && out.rds == 0.0 && out.eds == 0.0 {
        return Err(anyhow!("Envoy reported no update_duration histograms"));
    }
    Ok(out)
}

/// CPU time of a process in milliseconds: the sum over its threads of
/// `/proc/<pid>/task/<tid>/schedstat` (nanoseconds on CPU), finer than `stat`'s 10 ms ticks.
fn cpu_ms(pid: u32) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut ns = 0u64;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        ns += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(ns as f64 / 1e6)
}

/// This process's `VmRSS` and `VmHWM` (peak RSS) in MB.
fn memory_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn free_port() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Medians per size: the summary a person reads.
fn table(sizes: &[usize], all: &[Measurement]) -> String {
    let mut out = String::from(
        "clusters  set_ms  push→ACK_ms  envoy_update_ms(cds+rds+eds)  envoy_cpu_ms  \
         gauntlet_cpu_ms  gauntlet/envoy_cpu  gauntlet_hwm_mb\n",
    );
    for &n in sizes {
        let of = |f: &dyn Fn(&Measurement) -> f64| {
            median(all.iter().filter(|m| m.clusters == n).map(f).collect())
        };
        let (g, e) = (of(&|m| m.gauntlet_cpu_ms), of(&|m| m.envoy_cpu_ms));
        out.push_str(&format!(
            "{n:>8}  {:>6.1}  {:>11.1}  {:>28.1}  {:>12.0}  {:>15.0}  {:>18.3}  {:>15.1}\n",
            of(&|m| m.set_ms),
            of(&|m| m.ack_ms),
            of(&|m| m.envoy_update_ms.total),
            e,
            g,
            g / e,
            of(&|m| m.gauntlet_hwm_mb),
        ));
    }
    out
}
