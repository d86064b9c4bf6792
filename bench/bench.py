#!/usr/bin/env python3
"""Gauntlet's performance suite: every comparison of issue 7, side by side in one run.

Called by bench/run.sh (which installs the tools and builds the release binaries). The
server under test is pinned to core 0 and the client to core 1 (taskset); each comparison
is repeated and interleaved (A B C, A B C, ...) so drift on a shared machine hits every
tool alike; medians and ratios are reported. Prints tables and writes bench/results.json;
bench/report.py turns that into BENCHMARKS.md.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The binaries under test; GAUNTLET_BENCH_BIN points at a copy when other builds on the
# machine might replace target/release mid-run.
REL = Path(os.environ.get("GAUNTLET_BENCH_BIN", ROOT / "target" / "release"))
SERVER_CORE, CLIENT_CORE = "0", "1"
TICK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def cpu_seconds(pids):
    """utime + stime of the processes (every thread), from /proc."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def run_client(cmd, core=CLIENT_CORE, timeout=120):
    """Runs `cmd` pinned to `core`; returns (stdout, stderr, cpu seconds, wall seconds)."""
    err = tempfile.TemporaryFile()
    start = time.monotonic()
    p = subprocess.Popen(["taskset", "-c", core, *cmd], stdout=subprocess.PIPE, stderr=err)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    out = p.stdout.read().decode()
    # wait4 rather than wait: the child's rusage (all its threads) is the client's CPU.
    _, status, usage = os.wait4(p.pid, 0)
    timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    err.seek(0)
    stderr = err.read().decode(errors="replace")
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {stderr[-2000:]}")
    return out, stderr, usage.ru_utime + usage.ru_stime, wall


# === servers ===


class Nginx:
    """nginx from Debian: one worker, loopback only, `return 200`, no access log, from a
    generated config in a temp dir; HTTP/1.1 on one port and h2c (prior knowledge) on another."""

    def __enter__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="gauntlet-bench-nginx-"))
        self.port, self.h2_port = free_port(), free_port()
        d = self.dir
        conf = f"""
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 100000000;
    server {{ listen 127.0.0.1:{self.port}; return 200; }}
    server {{ listen 127.0.0.1:{self.h2_port} http2; http2_max_requests 100000000; return 200; }}
}}
"""
        (d / "nginx.conf").write_text(conf)
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, "nginx", "-p", str(d), "-c", str(d / "nginx.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        wait_port(self.h2_port)
        return self

    def pids(self):
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [self.proc.pid, *map(int, children)]

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Mock:
    """gauntlet-mock with one worker thread on the server core."""

    def __init__(self, *extra):
        self.extra = extra

    def __enter__(self):
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, str(REL / "gauntlet-mock"), "--listen", "127.0.0.1:0",
             "--threads", "1", *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"gauntlet-mock did not start: {line!r}")
        self.port = int(m.group(1))
        self.started = time.monotonic()
        return self

    def pids(self):
        return [self.proc.pid]

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# === clients ===


def wrk(port, secs, latency=False):
    cmd = ["wrk", "-t1", "-c16", f"-d{secs}s", *(["--latency"] if latency else []),
           f"http://127.0.0.1:{port}/"]
    out, _, cpu, wall = run_client(cmd)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    result = {"rps": rps, "cpu": cpu / wall}
    if latency:
        unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}
        for pct, value, u in re.findall(r"^\s+(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
            key = pct.split(".")[0] if float(pct).is_integer() else pct.replace(".", "")
            result[f"p{key}_ms"] = float(value) * unit[u]
        m = re.search(r"Latency\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", out)
        if m:
            result["mean_ms"] = float(m.group(1)) * unit[m.group(2)]
            result["max_ms"] = float(m.group(5)) * unit[m.group(6)]
        result["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    return result


def gauntlet_load(port, secs, *args):
    cmd = [str(REL / "gauntlet"), "load", f"127.0.0.1:{port}", "-d", f"{secs}s", "--warmup", "1s",
           "--json", *args]
    out, _, cpu, wall = run_client(cmd)
    load = json.loads(out)["load"]
    return {"rps": load["achieved_rps"], "cpu": cpu / wall, "load": load}


def oha(port, secs):
    cmd = [oha_bin(), "-z", f"{secs}s", "-c", "16", "--no-tui", "--output-format", "json",
           f"http://127.0.0.1:{port}/"]
    out, _, cpu, wall = run_client(cmd)
    summary = json.loads(out)["summary"]
    return {"rps": summary["requestsPerSec"], "cpu": cpu / wall}


def oha_bin():
    return shutil.which("oha") or str(Path.home() / ".cargo" / "bin" / "oha")


def h2load(port, secs):
    cmd = ["h2load", "-c16", "-m1", "-t1", "-D", str(secs), f"http://127.0.0.1:{port}/"]
    out, _, cpu, wall = run_client(cmd)
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    failed = int(re.search(r"(\d+) failed", out).group(1))
    if failed:
        raise RuntimeError(f"h2load: {failed} requests failed:\n{out}")
    return {"rps": float(m.group(1)), "cpu": cpu / wall}


# === the comparisons ===


def interleaved(repeats, contenders):
    """Runs every contender once per round; returns {name: [result, ...]}."""
    results = {name: [] for name in contenders}
    for r in range(repeats):
        for name, run in contenders.items():
            res = run()
            results[name].append(res)
            log(f"  round {r + 1} {name}: {res['rps']:,.0f} req/s, client CPU {res['cpu']:.2f}")
    return results


def summarize(results, reference):
    out = {}
    for name, runs in results.items():
        out[name] = {
            "runs": [round(x["rps"]) for x in runs],
            "median_rps": median([x["rps"] for x in runs]),
            "median_client_cpu": median([x["cpu"] for x in runs]),
            "median_server_cpu": median([x.get("server_cpu") for x in runs]),
        }
    for name in out:
        out[name]["ratio"] = out[name]["median_rps"] / out[reference]["median_rps"]
    return out


def bench_loadgen(a):
    log("1. load generator efficiency (server: nginx on core 0, client on core 1)")
    with Nginx() as ng:
        h1 = interleaved(a.repeats, {
            "wrk": lambda: wrk(ng.port, a.secs),
            "oha": lambda: oha(ng.port, a.secs),
            "gauntlet": lambda: gauntlet_load(ng.port, a.secs, "-c", "16"),
        })
        h2 = interleaved(a.repeats, {
            "h2load": lambda: h2load(ng.h2_port, a.secs),
            "gauntlet": lambda: gauntlet_load(ng.h2_port, a.secs, "-c", "16", "--http2"),
        })
    return {"http1": summarize(h1, "wrk"), "http2": summarize(h2, "h2load")}


def with_server_cpu(server, run):
    before, start = cpu_seconds(server.pids()), time.monotonic()
    res = run()
    res["server_cpu"] = (cpu_seconds(server.pids()) - before) / (time.monotonic() - start)
    return res


def bench_mock(a):
    log("2. mock server efficiency (server on core 0, wrk -t1 -c16 on core 1)")
    with Nginx() as ng, Mock() as mock:
        res = interleaved(a.repeats, {
            "nginx": lambda: with_server_cpu(ng, lambda: wrk(ng.port, a.secs)),
            "gauntlet-mock": lambda: with_server_cpu(mock, lambda: wrk(mock.port, a.secs)),
        })
    out = summarize(res, "nginx")
    for name, runs in res.items():
        # Requests per second of server CPU: fair even if wrk, not the server, is the limit.
        out[name]["rps_per_server_core"] = median([x["rps"] / x["server_cpu"] for x in runs])
    out["gauntlet-mock"]["ratio_per_core"] = (
        out["gauntlet-mock"]["rps_per_server_core"] / out["nginx"]["rps_per_server_core"])
    return out


def bench_open_loop(a):
    log("3. open-loop precision (nginx on core 0, gauntlet load --rate on core 1)")
    rates = [1000, 10000, 50000]
    runs = {r: [] for r in rates}
    with Nginx() as ng:
        for i in range(a.open_repeats):
            for rate in rates:
                load = gauntlet_load(ng.port, a.secs, "--rate", str(rate))["load"]
                sat = load["saturation"]
                row = {
                    "achieved_rps": load["achieved_rps"],
                    "error_pct": 100 * (load["achieved_rps"] - rate) / rate,
                    "lateness_p99_us": 1000 * load["send_lateness"]["p99_ms"],
                    "lateness_p50_us": 1000 * load["send_lateness"]["p50_ms"],
                    "latency_p99_ms": load["latency"]["p99_ms"],
                    "client_bound": sat["client_bound"],
                    "reason": sat.get("reason"),
                    "client_cpu": sat["client_cpu"],
                    "connections_busy": sat["connections_busy"],
                    "unsent": load["requests"] - load["responses"],
                }
                # Out of reach: the achieved rate misses the target by more than the 0.5% goal.
                # Then the flag should blame the client, unless the target held the requests
                # (sends waiting on busy connections: `connections_busy`, not the client).
                row["out_of_reach"] = abs(row["error_pct"]) >= 0.5
                row["target_bound"] = row["out_of_reach"] and row["connections_busy"] > 0.05
                row["flag_correct"] = row["client_bound"] == (row["out_of_reach"] and not row["target_bound"])
                runs[rate].append(row)
                log(f"  round {i + 1} {rate}/s: achieved {row['achieved_rps']:,.1f} "
                    f"({row['error_pct']:+.3f}%), lateness p99 {row['lateness_p99_us']:.0f} µs, "
                    f"client_bound {row['client_bound']} ({row['reason']}), "
                    f"connections busy {row['connections_busy']:.3f}, client CPU {row['client_cpu']:.2f}")
    out = {}
    for rate, rows in runs.items():
        out[str(rate)] = {
            "runs": rows,
            "median_error_pct": median([r["error_pct"] for r in rows]),
            "median_lateness_p99_us": median([r["lateness_p99_us"] for r in rows]),
            "client_bound_runs": sum(r["client_bound"] for r in rows),
            "out_of_reach_runs": sum(r["out_of_reach"] for r in rows),
            "flag_correct_runs": sum(r["flag_correct"] for r in rows),
            "n": len(rows),
        }
    return out


STALL_AT_S = 6.0  # after the mock starts: ~5 s into the measured part (1 s warmup first)


def co_expectation(rate, secs, stall_s, base_ms):
    """Corrected percentiles when the server freezes once for `stall_s` during an open-loop
    run of `secs` at `rate`: requests intended during the stall (rate × stall of them) are
    answered when it ends, so their latency is uniform on (0, stall]; the rest see the
    base latency. With q = stall/secs the share delayed, P(L > x) = q (1 - x/stall) for x
    above the base, so the p-quantile (p > 1 - q) is stall × (1 - (1 - p)/q) plus the base."""
    q = stall_s / secs
    exp = {}
    for name, p in (("p95", 0.95), ("p99", 0.99), ("p999", 0.999)):
        exp[f"{name}_ms"] = (stall_s * (1 - (1 - p) / q)) * 1000 + base_ms if p > 1 - q else base_ms
    exp["mean_ms"] = q * stall_s / 2 * 1000 + (1 - q) * base_ms
    exp["max_ms"] = stall_s * 1000 + base_ms
    exp["delayed_share"] = q
    return exp


def bench_co(a):
    log("4. coordinated omission: the mock freezes once for 1 s during 10 s at 1000 rps")
    secs, rate, stall = 10, 1000, 1.0
    rows, wrk_rows = [], []
    for i in range(a.co_repeats):
        with Mock("--stall-at", f"{STALL_AT_S}s", "--stall-for", f"{stall}s") as mock:
            load = gauntlet_load(mock.port, secs, "--rate", str(rate))["load"]
        stalled = [w["t_s"] for w in load["windows"] if not w["warmup"] and w["max_ms"] > 500]
        rows.append({"corrected": load["latency"], "uncorrected": load["latency_uncorrected"],
                     "requests": load["requests"], "stalled_windows": stalled})
        log(f"  round {i + 1} gauntlet: corrected p99 {load['latency']['p99_ms']:.1f} ms, "
            f"uncorrected p99 {load['latency_uncorrected']['p99_ms']:.3f} ms, stall in window {stalled}")
        with Mock("--stall-at", f"{STALL_AT_S - 1}s", "--stall-for", f"{stall}s") as mock:
            w = wrk(mock.port, secs, latency=True)
        wrk_rows.append(w)
        log(f"  round {i + 1} wrk: p99 {w.get('p99_ms')} ms, max {w.get('max_ms')} ms")
    # The base latency (no stall) is the median of the undelayed requests: the p50.
    base = median([r["corrected"]["p50_ms"] for r in rows])
    exp = co_expectation(rate, secs, stall, base)
    keys = ["p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms"]
    corrected = {k: median([r["corrected"][k] for r in rows]) for k in keys}
    uncorrected = {k: median([r["uncorrected"][k] for r in rows]) for k in keys}
    wrk_med = {k: median([w.get(k) for w in wrk_rows]) for k in ["p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"]}
    errors = {k: 100 * (corrected[k] - exp[k]) / exp[k] for k in ("p99_ms", "p999_ms", "mean_ms", "max_ms")}
    return {"expected": exp, "corrected": corrected, "uncorrected": uncorrected,
            "errors_pct": errors, "wrk": wrk_med, "wrk_requests": median([w["requests"] for w in wrk_rows]),
            "runs": rows}


def bench_xds(a):
    log("5. xDS at scale (one Envoy, fresh per push; interleaved sizes)")
    cmd = [str(REL / "examples" / "xds_scale"), "--repeats", str(a.xds_repeats)]
    if a.envoy_bin:
        cmd += ["--envoy-bin", a.envoy_bin]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"xds_scale failed: {p.stderr[-3000:]}")
    log(p.stderr)
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    out = {}
    for n in sorted({r["clusters"] for r in rows}):
        rs = [r for r in rows if r["clusters"] == n]
        med = lambda f: median([f(r) for r in rs])  # noqa: E731
        out[str(n)] = {
            "set_ms": med(lambda r: r["set_ms"]),
            "ack_ms": med(lambda r: r["ack_ms"]),
            "envoy_update_ms": med(lambda r: r["envoy_update_ms"]["total"]),
            "envoy_cds_ms": med(lambda r: r["envoy_update_ms"]["cds"]),
            "envoy_rds_ms": med(lambda r: r["envoy_update_ms"]["rds"]),
            "envoy_eds_ms": med(lambda r: r["envoy_update_ms"]["eds"]),
            "envoy_cpu_ms": med(lambda r: r["envoy_cpu_ms"]),
            "gauntlet_cpu_ms": med(lambda r: r["gauntlet_cpu_ms"]),
            "gauntlet_hwm_mb": med(lambda r: r["gauntlet_hwm_mb"]),
            "gauntlet_rss_mb": med(lambda r: r["gauntlet_rss_mb"]),
            "type_ack_ms": {t: med(lambda r, t=t: dict(r["type_ack_ms"]).get(t))
                            for t in ("cluster", "endpoint", "route")},
            "runs": rs,
        }
    return out


def large_scenario(path, upstreams=256, routes=1000, events=5000, gates=200):
    """A scenario with many upstreams (with outlier detection), routes (with a header match
    and retries), timeline events and gates; the defaults are near the validator's limits."""
    lines = ["name: large", "baseline: false", "upstreams:"]
    for u in range(upstreams):
        lines.append(f"  svc{u}: {{ endpoints: 4, latency: 1ms..3ms, responses: {{ 200: 99%, 503: 1% }}, body: 1KiB }}")
    lines.append("routes:")
    for r in range(routes - 1):
        u = r % upstreams
        lines += [f"  - name: r{r}", f"    match: {{ prefix: /r{r}/, headers: {{ x-tenant: t{r % 7} }} }}",
                  f"    cluster: svc{u}", "    timeout: 2s",
                  "    retries: { on: [5xx, reset], attempts: 3, per_try_timeout: 500ms }"]
    lines += ["  - name: default", "    match: { prefix: / }", "    cluster: svc0"]
    lines.append("clusters:")
    for u in range(upstreams):
        lines.append(f"  svc{u}: {{ outlier_detection: {{ consecutive_5xx: 5, interval: 1s, base_ejection_time: 10s }} }}")
    lines.append("load: { rate: 1000/s, connections: 16, duration: 60s, warmup: 2s }")
    lines.append("timeline:")
    for e in range(events):
        u = e % upstreams
        lines += [f"  - at: {(e * 11) % 59000 + 500}ms", f"    name: e{e}", f"    upstream: svc{u}",
                  f"    endpoints: [{e % 4}]", f"    set: {{ latency: {1 + e % 9}ms }}"]
    lines.append("gates:")
    for g in range(gates):
        lines.append(f"  - latency.p99 < {100 + g}ms")
    path.write_text("\n".join(lines) + "\n")


def validate_time(tmp, name, **shape):
    """hyperfine's figures for `gauntlet validate` of a generated scenario."""
    path = tmp / f"{name}.yaml"
    large_scenario(path, **shape)
    check = subprocess.run([str(REL / "gauntlet"), "validate", str(path)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"the {name} scenario does not validate: {check.stderr}")
    hf = tmp / "hyperfine.json"
    subprocess.run(["hyperfine", "-N", "--warmup", "3", "--runs", "30", "--export-json", str(hf),
                    f"{REL / 'gauntlet'} validate {path}"], check=True, capture_output=True)
    h = json.loads(hf.read_text())["results"][0]
    log(f"  validate {name} ({path.stat().st_size // 1024} KiB): median {h['median'] * 1000:.1f} ms, "
        f"user {h['user'] * 1000:.1f} ms")
    return {"shape": shape, "bytes": path.stat().st_size, "median_ms": h["median"] * 1000,
            "mean_ms": h["mean"] * 1000, "stddev_ms": h["stddev"] * 1000,
            "user_ms": h["user"] * 1000, "system_ms": h["system"] * 1000, "runs": len(h["times"])}


STARTUP_SCENARIO = """\
name: startup
baseline: false
envoy: { version: "1.40.0", concurrency: 1 }
upstreams:
  backend: { endpoints: 1 }
routes:
  - match: { prefix: / }
    cluster: backend
load: { rate: 200/s, connections: 4, duration: 2s, warmup: 0s }
"""


def first_request_after(scenario, out):
    """Seconds from exec of `gauntlet run` to its first load request: the Envoy step opens
    windows-envoy.jsonl as its load starts (the schedule begins 25 ms later)."""
    windows = out / "windows-envoy.jsonl"
    start = time.monotonic()
    p = subprocess.Popen([str(REL / "gauntlet"), "run", str(scenario), "--out", str(out), "--quiet"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = None
    while p.poll() is None:
        if first is None and windows.exists():
            first = time.monotonic() - start
        time.sleep(0.002)
    if p.returncode != 0 or first is None:
        raise RuntimeError(f"gauntlet run exited {p.returncode} (first request seen: {first})")
    return first


def bench_startup(a):
    log("6. start-up: gauntlet run → first request (warm Envoy cache); gauntlet validate (large)")
    tmp = Path(tempfile.mkdtemp(prefix="gauntlet-bench-startup-"))
    scenario = tmp / "startup.yaml"
    scenario.write_text(STARTUP_SCENARIO)
    # Untimed first run: installs Envoy 1.40.0 into the cache if it is not there yet.
    first_request_after(scenario, tmp / "warm")
    runs = [first_request_after(scenario, tmp / f"run{i}") for i in range(a.repeats)]
    log(f"  run → first request: {', '.join(f'{x * 1000:.0f} ms' for x in runs)}")
    shapes = {
        "large": dict(upstreams=256, routes=1000, events=5000, gates=200),
        "medium": dict(upstreams=50, routes=200, events=500, gates=50),
    }
    validate = {name: validate_time(tmp, name, **shape) for name, shape in shapes.items()}
    shutil.rmtree(tmp, ignore_errors=True)
    return {"run_first_request_s": runs, "run_median_s": median(runs), "validate": validate}


def bench_alloc(a):
    log("7. hot path hygiene: cargo test -p gauntlet --test alloc")
    p = subprocess.run(["cargo", "test", "-q", "-p", "gauntlet", "--test", "alloc", "--", "--nocapture",
                        "--test-threads", "1"], cwd=ROOT, capture_output=True, text=True)
    lines = [l for l in p.stderr.splitlines() if "allocations" in l or l.endswith(":")]
    log("\n".join(lines))
    return {"passed": p.returncode == 0, "lines": lines}


SECTIONS = {"loadgen": bench_loadgen, "mock": bench_mock, "open": bench_open_loop,
            "co": bench_co, "xds": bench_xds, "startup": bench_startup, "alloc": bench_alloc}


def machine():
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = re.search(r"Model name:\s+(.*)", lscpu).group(1).strip()
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) // 1024 // 1024
    def ver(cmd):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True)
        except OSError:
            return f"{cmd[0]}: not installed"
        return (p.stdout + p.stderr).strip() or f"{cmd[0]}: unknown version"
    return {
        "cpu": model, "nproc": os.cpu_count(), "mem_gib": mem, "kernel": os.uname().release,
        "hypervisor": (re.search(r"Hypervisor vendor:\s+(.*)", lscpu) or [None, "none"])[1],
        "wrk": ver(["wrk", "-v"]).split("[")[0].strip().splitlines()[0],
        "nginx": ver(["nginx", "-v"]).strip(),
        "h2load": ver(["h2load", "--version"]).strip(),
        "oha": ver([oha_bin(), "--version"]).strip(),
        "rustc": ver(["rustc", "--version"]).strip(),
        "load_before": Path("/proc/loadavg").read_text().split()[:3],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated: " + ",".join(SECTIONS))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--secs", type=int, default=5, help="seconds per closed-loop run")
    ap.add_argument("--open-repeats", type=int, default=3)
    ap.add_argument("--co-repeats", type=int, default=3)
    ap.add_argument("--xds-repeats", type=int, default=3)
    ap.add_argument("--envoy-bin")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    a = ap.parse_args()
    out_path = Path(a.out)
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    results["machine"] = machine()
    results.setdefault("sections", {})
    for name in a.only.split(","):
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        data = SECTIONS[name](a)
        load_after = Path("/proc/loadavg").read_text().split()[:3]
        results["sections"][name] = {"date": started, "load_after": load_after,
                                     "settings": {"repeats": a.repeats, "secs": a.secs}, "data": data}
        out_path.write_text(json.dumps(results, indent=1))
    log(f"results: {out_path}")


if __name__ == "__main__":
    main()
