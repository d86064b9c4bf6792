#!/usr/bin/env bash
# Soak: one long run at a steady, modest rate through a real Envoy, and whether memory stays
# flat after warmup.
#
# The run is an ordinary `gauntlet run` (release build) of a generated scenario: open loop at
# RATE requests/s through Envoy (concurrency 1) to two mock endpoints, no baseline step. The
# mocks run inside the Gauntlet process, so Gauntlet's RSS covers the load generator, the
# mocks, the xDS server and the in-memory windows together. Two independent readings:
#   - `steps[].resources` in result.json: Gauntlet's and Envoy's RSS, sampled every second by
#     the run itself;
#   - this script's own reading of /proc/<pid>/status (VmRSS, VmHWM) for Gauntlet and Envoy
#     every 10 s, into soak-rss.tsv in the run directory.
# It prints RSS at 1 min and at the end, the least-squares slope after warmup (MB/min), the
# size of result.json and windows-envoy.jsonl, and the load figures.
#
# Usage: bench/soak.sh [duration=10m] [rate=1000] [out=target/soak/run-<timestamp>]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10m}
rate=${2:-1000}
out=${3:-target/soak/run-$(date -u +%Y%m%dT%H%M%SZ)}

cargo build --release -q -p gauntlet
bin=${CARGO_TARGET_DIR:-target}/release/gauntlet
mkdir -p "$(dirname "$out")"
scenario=$(mktemp --suffix=.yaml)
trap 'rm -f "$scenario"' EXIT
cat >"$scenario" <<YAML
name: soak
envoy: { version: "1.40.0", concurrency: 1 }
upstreams:
  backend: { endpoints: 2, latency: 1ms, responses: { 200: 100% }, body: 1KiB }
routes:
  - { match: { prefix: / }, cluster: backend, timeout: 2s }
load: { rate: ${rate}/s, connections: 16, duration: ${duration}, warmup: 30s }
baseline: false
gates:
  - errors.rate < 1%
YAML

"$bin" run "$scenario" --out "$out" --quiet &
gauntlet=$!
rss_log="$out.rss.tsv"
printf 't_s\tgauntlet_rss_mb\tgauntlet_hwm_mb\tenvoy_rss_mb\tenvoy_hwm_mb\n' >"$rss_log"
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || true; }
start=$(date +%s)
while kill -0 "$gauntlet" 2>/dev/null; do
  # Envoy is Gauntlet's only child named envoy.
  envoy=$(pgrep -P "$gauntlet" -x envoy | head -n1 || true)
  g_rss=$(status_kb "$gauntlet" VmRSS); g_hwm=$(status_kb "$gauntlet" VmHWM)
  e_rss=""; e_hwm=""
  if [ -n "$envoy" ]; then e_rss=$(status_kb "$envoy" VmRSS); e_hwm=$(status_kb "$envoy" VmHWM); fi
  if [ -n "$g_rss" ]; then
    awk -v t=$(( $(date +%s) - start )) -v a="$g_rss" -v b="$g_hwm" -v c="$e_rss" -v d="$e_hwm" \
      'BEGIN { printf "%d\t%.1f\t%.1f\t%s\t%s\n", t, a/1024, b/1024, (c == "" ? "" : sprintf("%.1f", c/1024)), (d == "" ? "" : sprintf("%.1f", d/1024)) }' \
      >>"$rss_log"
  fi
  sleep 10
done
code=0; wait "$gauntlet" || code=$?
mv "$rss_log" "$out/soak-rss.tsv"
echo "gauntlet exited $code; run directory $out"

python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
r = json.load(open(os.path.join(out, "result.json")))
step = next(s for s in r["steps"] if s["name"] == "envoy")
load = step["load"]
samples = step["resources"]

def slope(points):
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else float("nan")

def at(points, t):
    return min(points, key=lambda p: abs(p[0] - t))[1] if points else float("nan")

def report(label, points, warm_s):
    after = [p for p in points if p[0] >= warm_s]
    if not after:
        print(f"{label}: no samples")
        return
    end = after[-1][0]
    first = at(after, 60.0)
    last = after[-1][1]
    per_min = slope([(t / 60.0, v) for t, v in after])
    print(f"{label}: {at(points, 60.0):.1f} MB at 1 min, {last:.1f} MB at {end/60:.1f} min "
          f"(max {max(v for _, v in after):.1f}), change {last - first:+.1f} MB, "
          f"slope after warmup {per_min:+.3f} MB/min")

warm_s = 60.0  # the 30 s load warmup plus Envoy's and the allocator's own settling
print("-- from result.json (sampled every second by the run) --")
report("gauntlet RSS (load generator + mocks + xDS)",
       [(s["t_s"], s["gauntlet_rss_mb"]) for s in samples], warm_s)
report("envoy RSS", [(s["t_s"], s["envoy_rss_mb"]) for s in samples if s.get("envoy_rss_mb") is not None], warm_s)
print("-- from /proc every 10 s by this script --")
rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, "soak-rss.tsv"))][1:]
report("gauntlet RSS", [(float(t), float(g)) for t, g, *_ in rows if g], warm_s)
report("envoy RSS", [(float(t), float(row[3])) for row in rows for t in [row[0]] if len(row) > 3 and row[3]], warm_s)
if rows:
    print(f"gauntlet VmHWM at the end {rows[-1][2]} MB; envoy VmHWM {rows[-1][4] if len(rows[-1]) > 4 else '?'} MB")
print("-- load --")
print(f"status {r['status']}, achieved {load['achieved_rps']:.1f} rps, requests {load['requests']}, "
      f"error_rate {load['error_rate']}, p50 {load['latency']['p50_ms']:.2f} ms, p99 {load['latency']['p99_ms']:.2f} ms, "
      f"windows {len(load['windows'])}")
for name in ("result.json", "windows-envoy.jsonl"):
    path = os.path.join(out, name)
    if os.path.exists(path):
        print(f"{name}: {os.path.getsize(path) / 1e6:.2f} MB")
PY
exit "$code"
