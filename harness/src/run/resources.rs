//! Process CPU and memory from `/proc`, for sizing: Envoy's (the figure a capacity plan
//! needs) and Gauntlet's own (to show the harness was not the bottleneck).

use std::time::Instant;

use gauntlet_reports::{ResourceSample, ResourceSummary};

use super::cgroup::CgroupReader;

/// Shortest interval a CPU reading is taken over, seconds.
const MIN_INTERVAL_S: f64 = 0.5;

/// CPU time and RSS of one process, read from `/proc/<pid>`.
#[derive(Debug)]
struct ProcReader {
    pid: u32,
    ticks_per_sec: f64,
    last: Option<(Instant, u64)>,
}

impl ProcReader {
    fn new(pid: u32) -> Self {
        let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|t| *t > 0)
            .unwrap_or(100);
        Self {
            pid,
            ticks_per_sec: ticks as f64,
            last: None,
        }
    }

    /// Cores used since the previous call (None on the first call or when the process is
    /// gone) and the resident set size in MB.
    fn sample(&mut self) -> (Option<f64>, Option<f64>) {
        let now = Instant::now();
        let ticks = cpu_ticks(self.pid);
        let since = self
            .last
            .map(|(at, _)| now.duration_since(at).as_secs_f64());
        // Clock ticks are 10 ms: over a short interval one tick more or less reads as a
        // huge spike, so an interval under MIN_INTERVAL_S is not a sample.
        if since.is_some_and(|wall| wall < MIN_INTERVAL_S) {
            return (None, rss_mb(self.pid));
        }
        let cpu = match (ticks, self.last, since) {
            (Some(t), Some((_, prev)), Some(wall)) => {
                Some(t.saturating_sub(prev) as f64 / self.ticks_per_sec / wall)
            }
            _ => None,
        };
        if let Some(t) = ticks {
            self.last = Some((now, t));
        }
        (cpu, rss_mb(self.pid))
    }
}

/// utime + stime of a process in clock ticks (fields 14 and 15 of `/proc/<pid>/stat`,
/// counted after the parenthesised command name, which may itself hold spaces).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name, field 3 (state) is index 0, so utime (14) is index 11.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` of a process, in MB.
fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Samples Envoy (when there is one) and Gauntlet itself.
#[derive(Debug)]
pub(super) struct ResourceSampler {
    envoy: Option<ProcReader>,
    own: ProcReader,
    /// Envoy's container cgroup, when it runs in one: CPU, throttling, memory.
    cgroup: Option<CgroupReader>,
}

impl ResourceSampler {
    pub fn new(envoy_pid: Option<u32>) -> Self {
        let mut sampler = Self {
            envoy: envoy_pid.map(ProcReader::new),
            own: ProcReader::new(std::process::id()),
            cgroup: None,
        };
        // Prime the CPU counters so the first real sample covers one interval.
        let _ = sampler.sample(0.0);
        sampler
    }

    /// Also reads Envoy's container cgroup (its CPU figure replaces the `/proc` one: it
    /// counts in nanoseconds, not 10 ms ticks).
    pub fn with_cgroup(mut self, cgroup: Option<CgroupReader>) -> Self {
        if let Some(mut c) = cgroup {
            let _ = c.sample();
            self.cgroup = Some(c);
        }
        self
    }

    /// One sample at offset `t_s`; `None` until the CPU counters have a previous reading.
    pub fn sample(&mut self, t_s: f64) -> Option<ResourceSample> {
        let (envoy_cpu, envoy_rss_mb) = match &mut self.envoy {
            Some(r) => r.sample(),
            None => (None, None),
        };
        let (own_cpu, own_rss) = self.own.sample();
        let own_cpu = own_cpu?;
        let cg = self
            .cgroup
            .as_mut()
            .map(CgroupReader::sample)
            .unwrap_or_default();
        Some(ResourceSample {
            t_s,
            envoy_cpu: cg.cpu.or(envoy_cpu),
            envoy_rss_mb,
            gauntlet_cpu: own_cpu,
            gauntlet_rss_mb: own_rss.unwrap_or(0.0),
            envoy_periods: cg.periods,
            envoy_throttled_periods: cg.throttled_periods,
            envoy_throttled_ms: cg.throttled_ms,
            envoy_throttled_share: match (cg.throttled_periods, cg.periods) {
                (Some(t), Some(p)) if p > 0 => Some(t as f64 / p as f64),
                (Some(_), Some(_)) => Some(0.0),
                _ => None,
            },
            envoy_memory_mb: cg.memory_mb,
            envoy_working_set_mb: cg.working_set_mb,
            envoy_memory_peak_mb: cg.peak_mb,
        })
    }

    /// The container's CPU limit in cores, if it has one.
    pub fn cpu_limit(&self) -> Option<f64> {
        self.cgroup.as_ref().and_then(CgroupReader::cpu_limit)
    }
}

/// Means and maxima over the samples taken after `warmup_s`.
pub fn summarize(
    samples: &[ResourceSample],
    warmup_s: f64,
    achieved_rps: f64,
) -> Option<ResourceSummary> {
    let measured: Vec<&ResourceSample> =
        samples.iter().filter(|s| s.t_s > warmup_s + 0.5).collect();
    let envoy: Vec<f64> = measured.iter().filter_map(|s| s.envoy_cpu).collect();
    if envoy.is_empty() {
        return None;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let envoy_cpu_mean = mean(&envoy);
    let own: Vec<f64> = measured.iter().map(|s| s.gauntlet_cpu).collect();
    Some(ResourceSummary {
        envoy_cpu_mean,
        envoy_cpu_max: envoy.iter().cloned().fold(0.0, f64::max),
        envoy_cpu_per_krps: if achieved_rps > 0.0 {
            envoy_cpu_mean / achieved_rps * 1000.0
        } else {
            0.0
        },
        envoy_rss_max_mb: measured
            .iter()
            .filter_map(|s| s.envoy_rss_mb)
            .fold(0.0, f64::max),
        gauntlet_cpu_mean: mean(&own),
        ..throttling(&measured)
    })
}

/// The cgroup figures over the measured samples (all `None` without a container).
fn throttling(measured: &[&ResourceSample]) -> ResourceSummary {
    let sum = |f: fn(&ResourceSample) -> Option<u64>| -> Option<u64> {
        measured
            .iter()
            .map(|s| f(s))
            .sum::<Option<u64>>()
            .filter(|_| !measured.is_empty())
    };
    let periods = sum(|s| s.envoy_periods);
    let throttled = sum(|s| s.envoy_throttled_periods);
    let max = |f: fn(&ResourceSample) -> Option<f64>| {
        measured.iter().filter_map(|s| f(s)).reduce(f64::max)
    };
    ResourceSummary {
        envoy_throttled_ratio: match (throttled, periods) {
            (Some(t), Some(p)) if p > 0 => Some(t as f64 / p as f64),
            (Some(_), Some(_)) => Some(0.0),
            _ => None,
        },
        envoy_throttled_periods: throttled,
        envoy_throttled_s: periods.and(
            measured
                .iter()
                .map(|s| s.envoy_throttled_ms)
                .sum::<Option<f64>>()
                .map(|ms| ms / 1000.0),
        ),
        envoy_working_set_max_mb: max(|s| s.envoy_working_set_mb),
        envoy_memory_peak_mb: max(|s| s.envoy_memory_peak_mb),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(cpu_ticks(std::process::id()).is_some());
        assert!(rss_mb(std::process::id()).unwrap() > 1.0);
        assert!(cpu_ticks(u32::MAX).is_none());
    }

    #[test]
    fn summary_skips_warmup_and_scales_per_krps() {
        let s = |t_s, cpu| ResourceSample {
            t_s,
            envoy_cpu: Some(cpu),
            envoy_rss_mb: Some(40.0 + t_s),
            gauntlet_cpu: 0.1,
            gauntlet_rss_mb: 10.0,
            ..Default::default()
        };
        let samples = [s(1.0, 0.9), s(2.0, 0.2), s(3.0, 0.4)];
        let sum = summarize(&samples, 1.0, 2000.0).unwrap();
        assert!((sum.envoy_cpu_mean - 0.3).abs() < 1e-9);
        assert!((sum.envoy_cpu_per_krps - 0.15).abs() < 1e-9);
        assert_eq!(sum.envoy_rss_max_mb, 43.0);
        assert!(summarize(&[], 0.0, 1.0).is_none());
    }

    #[test]
    fn throttling_is_summed_over_the_measured_samples() {
        let s = |t_s, periods, throttled, ms, ws| ResourceSample {
            t_s,
            envoy_cpu: Some(0.1),
            envoy_periods: Some(periods),
            envoy_throttled_periods: Some(throttled),
            envoy_throttled_ms: Some(ms),
            envoy_working_set_mb: Some(ws),
            envoy_memory_peak_mb: Some(80.0),
            ..Default::default()
        };
        // The warmup sample (t = 1) is left out.
        let samples = [
            s(1.0, 10, 10, 900.0, 99.0),
            s(2.0, 10, 5, 300.0, 17.0),
            s(3.0, 10, 0, 0.0, 18.0),
        ];
        let sum = summarize(&samples, 1.0, 1000.0).unwrap();
        assert_eq!(sum.envoy_throttled_periods, Some(5));
        assert_eq!(sum.envoy_throttled_ratio, Some(0.25));
        assert_eq!(sum.envoy_throttled_s, Some(0.3));
        assert_eq!(sum.envoy_working_set_max_mb, Some(18.0));
        assert_eq!(sum.envoy_memory_peak_mb, Some(80.0));
        // A process has no cgroup figures.
        let plain = ResourceSample {
            t_s: 2.0,
            envoy_cpu: Some(0.1),
            ..Default::default()
        };
        let sum = summarize(&[plain], 1.0, 1000.0).unwrap();
        assert_eq!(sum.envoy_throttled_ratio, None);
        assert_eq!(sum.envoy_working_set_max_mb, None);
    }
}
