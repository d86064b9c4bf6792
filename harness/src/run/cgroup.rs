//! A container's CPU, CPU throttling and memory from its cgroup, for sizing under limits.
//!
//! cgroup v1 (one hierarchy per controller): `cpuacct.usage`, `cpu.stat` (`nr_periods`,
//! `nr_throttled`, `throttled_time` in ns), `cpu.cfs_quota_us`/`cpu.cfs_period_us`,
//! `memory.usage_in_bytes`, `memory.stat` (`total_inactive_file`),
//! `memory.max_usage_in_bytes`. cgroup v2 (one directory): `cpu.stat` (`usage_usec`,
//! `nr_periods`, `nr_throttled`, `throttled_usec`), `cpu.max`, `memory.current`,
//! `memory.stat` (`inactive_file`), `memory.peak`. The directories are found from
//! `/proc/<pid>/cgroup` of the container's process, so any cgroup driver works.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

const ROOT: &str = "/sys/fs/cgroup";
const MB: f64 = 1024.0 * 1024.0;

/// Where a container's cgroup files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Layout {
    V1 {
        cpu: PathBuf,
        cpuacct: PathBuf,
        memory: PathBuf,
    },
    V2 {
        dir: PathBuf,
    },
}

/// Cumulative CPU counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct CpuCounters {
    pub usage_ns: u64,
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_ns: u64,
}

/// One reading: CPU over the interval since the previous one, memory now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct CgroupSample {
    /// Cores used over the interval (`None` on the first reading).
    pub cpu: Option<f64>,
    pub periods: Option<u64>,
    pub throttled_periods: Option<u64>,
    pub throttled_ms: Option<f64>,
    pub memory_mb: Option<f64>,
    pub working_set_mb: Option<f64>,
    pub peak_mb: Option<f64>,
}

/// Reads one container's cgroup; keeps the previous CPU counters for the deltas.
#[derive(Debug, Clone)]
pub(super) struct CgroupReader {
    layout: Layout,
    last: Option<(Instant, CpuCounters)>,
}

impl CgroupReader {
    /// The cgroup of process `pid` (a container's main process), if it can be read.
    pub fn for_pid(pid: u32) -> Option<Self> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let layout = layout(&text, Path::new(ROOT))?;
        let reader = Self { layout, last: None };
        reader.counters()?;
        Some(reader)
    }

    /// The CPU limit in cores from the CFS quota (`None`: unlimited).
    pub fn cpu_limit(&self) -> Option<f64> {
        match &self.layout {
            Layout::V1 { cpu, .. } => {
                let quota: i64 = read_number(&cpu.join("cpu.cfs_quota_us"))?;
                let period: i64 = read_number(&cpu.join("cpu.cfs_period_us"))?;
                (quota > 0 && period > 0).then(|| quota as f64 / period as f64)
            }
            Layout::V2 { dir } => {
                let text = std::fs::read_to_string(dir.join("cpu.max")).ok()?;
                let mut parts = text.split_whitespace();
                let quota: f64 = parts.next()?.parse().ok()?;
                let period: f64 = parts.next()?.parse().ok()?;
                (period > 0.0).then(|| quota / period)
            }
        }
    }

    /// Takes a reading now.
    pub fn sample(&mut self) -> CgroupSample {
        let now = Instant::now();
        let counters = self.counters();
        let mut s = self.memory();
        if let (Some(c), Some((at, prev))) = (counters, self.last) {
            let wall = now.duration_since(at).as_secs_f64();
            if wall > 0.0 {
                s.cpu = Some(c.usage_ns.saturating_sub(prev.usage_ns) as f64 / 1e9 / wall);
            }
            s.periods = Some(c.periods.saturating_sub(prev.periods));
            s.throttled_periods = Some(c.throttled_periods.saturating_sub(prev.throttled_periods));
            s.throttled_ms = Some(c.throttled_ns.saturating_sub(prev.throttled_ns) as f64 / 1e6);
        }
        if let Some(c) = counters {
            self.last = Some((now, c));
        }
        s
    }

    fn counters(&self) -> Option<CpuCounters> {
        match &self.layout {
            Layout::V1 { cpu, cpuacct, .. } => {
                let stat = read_stat(&cpu.join("cpu.stat"))?;
                Some(CpuCounters {
                    usage_ns: read_number(&cpuacct.join("cpuacct.usage"))?,
                    periods: *stat.get("nr_periods")?,
                    throttled_periods: *stat.get("nr_throttled")?,
                    throttled_ns: *stat.get("throttled_time")?,
                })
            }
            Layout::V2 { dir } => {
                let stat = read_stat(&dir.join("cpu.stat"))?;
                Some(CpuCounters {
                    usage_ns: stat.get("usage_usec")? * 1000,
                    periods: stat.get("nr_periods").copied().unwrap_or(0),
                    throttled_periods: stat.get("nr_throttled").copied().unwrap_or(0),
                    throttled_ns: stat.get("throttled_usec").copied().unwrap_or(0) * 1000,
                })
            }
        }
    }

    fn memory(&self) -> CgroupSample {
        let (usage, inactive, peak) = match &self.layout {
            Layout::V1 { memory, .. } => (
                read_number::<u64>(&memory.join("memory.usage_in_bytes")),
                read_stat(&memory.join("memory.stat"))
                    .and_then(|s| s.get("total_inactive_file").copied()),
                read_number::<u64>(&memory.join("memory.max_usage_in_bytes")),
            ),
            Layout::V2 { dir } => (
                read_number::<u64>(&dir.join("memory.current")),
                read_stat(&dir.join("memory.stat")).and_then(|s| s.get("inactive_file").copied()),
                read_number::<u64>(&dir.join("memory.peak")),
            ),
        };
        CgroupSample {
            memory_mb: usage.map(|u| u as f64 / MB),
            working_set_mb: usage.map(|u| u.saturating_sub(inactive.unwrap_or(0)) as f64 / MB),
            peak_mb: peak.map(|p| p as f64 / MB),
            ..Default::default()
        }
    }
}

/// The directories named by a `/proc/<pid>/cgroup` text under `root`: v1 when it lists the
/// cpu, cpuacct and memory controllers, else v2 (the `0::` line).
pub(super) fn layout(text: &str, root: &Path) -> Option<Layout> {
    let mut v1: HashMap<&str, PathBuf> = HashMap::new();
    let mut v2 = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        if controllers.is_empty() {
            v2 = Some(root.join(rel));
            continue;
        }
        for c in controllers.split(',') {
            // A combined mount (`cpu,cpuacct`) is a directory named after both.
            let joint = root.join(controllers).join(rel);
            let single = root.join(c).join(rel);
            v1.insert(c, if single.is_dir() { single } else { joint });
        }
    }
    match (v1.remove("cpu"), v1.remove("cpuacct"), v1.remove("memory")) {
        (Some(cpu), Some(cpuacct), Some(memory)) => Some(Layout::V1 {
            cpu,
            cpuacct,
            memory,
        }),
        _ => v2.map(|dir| Layout::V2 { dir }),
    }
}

fn read_number<T: std::str::FromStr>(path: &Path) -> Option<T> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A `key value` per line file (`cpu.stat`, `memory.stat`).
fn read_stat(path: &Path) -> Option<HashMap<String, u64>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(' ')?;
                Some((k.to_string(), v.trim().parse().ok()?))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_v1(root: &Path, id: &str, usage: u64, nr: u64, thr: u64, thr_ns: u64) {
        for c in ["cpu", "cpuacct", "memory"] {
            std::fs::create_dir_all(root.join(c).join("docker").join(id)).unwrap();
        }
        let d = |c: &str| root.join(c).join("docker").join(id);
        std::fs::write(d("cpuacct").join("cpuacct.usage"), format!("{usage}\n")).unwrap();
        std::fs::write(
            d("cpu").join("cpu.stat"),
            format!("nr_periods {nr}\nnr_throttled {thr}\nthrottled_time {thr_ns}\n"),
        )
        .unwrap();
        std::fs::write(d("cpu").join("cpu.cfs_quota_us"), "10000\n").unwrap();
        std::fs::write(d("cpu").join("cpu.cfs_period_us"), "100000\n").unwrap();
        std::fs::write(d("memory").join("memory.usage_in_bytes"), "52428800\n").unwrap();
        std::fs::write(
            d("memory").join("memory.stat"),
            "cache 100\ntotal_inactive_file 10485760\n",
        )
        .unwrap();
        std::fs::write(d("memory").join("memory.max_usage_in_bytes"), "62914560\n").unwrap();
    }

    #[test]
    fn v1_counters_become_rates_and_deltas() {
        let root = std::env::temp_dir().join(format!("gauntlet-cgroup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        fake_v1(&root, "abc", 1_000_000_000, 10, 2, 5_000_000);
        let text = "4:memory:/docker/abc\n2:cpuacct:/docker/abc\n1:cpu:/docker/abc\n0::/\n";
        let layout = layout(text, &root).unwrap();
        assert!(matches!(layout, Layout::V1 { .. }));
        let mut r = CgroupReader { layout, last: None };
        assert_eq!(r.cpu_limit(), Some(0.1));
        let first = r.sample();
        assert_eq!(first.cpu, None);
        assert_eq!(first.memory_mb, Some(50.0));
        assert_eq!(first.working_set_mb, Some(40.0));
        assert_eq!(first.peak_mb, Some(60.0));
        // Back-date the previous reading by a second, then advance the counters.
        let (_, c) = r.last.unwrap();
        r.last = Some((Instant::now() - std::time::Duration::from_secs(1), c));
        fake_v1(&root, "abc", 1_100_000_000, 20, 9, 45_000_000);
        let s = r.sample();
        let cpu = s.cpu.unwrap();
        assert!((0.09..=0.1).contains(&cpu), "{cpu}");
        assert_eq!((s.periods, s.throttled_periods), (Some(10), Some(7)));
        assert_eq!(s.throttled_ms, Some(40.0));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn v2_layout_is_the_unified_line() {
        let root = Path::new("/nonexistent");
        let layout = layout("0::/system.slice/docker-abc.scope\n", root).unwrap();
        assert_eq!(
            layout,
            Layout::V2 {
                dir: root.join("system.slice/docker-abc.scope")
            }
        );
        assert!(layout_of_nothing());
    }

    fn layout_of_nothing() -> bool {
        layout("", Path::new("/x")).is_none()
    }
}
