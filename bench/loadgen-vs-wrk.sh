#!/usr/bin/env bash
# Gauntlet's load generator against wrk on the same target, side by side in one run.
#
# Target: gauntlet-mock (one thread) pinned to core 0. Client: wrk, then `gauntlet load`,
# pinned to core 1, closed loop, 16 connections, HTTP/1.1, interleaved A B A B so drift on
# a noisy machine hits both alike. Prints each run, the medians and the ratio.
#
# Usage: bench/loadgen-vs-wrk.sh [repeats=5] [seconds=10]
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-5}
secs=${2:-10}

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi
cargo build --release -q -p gauntlet -p gauntlet-mocks

log=$(mktemp)
taskset -c 0 target/release/gauntlet-mock --listen 127.0.0.1:0 --threads 1 >"$log" &
mock=$!
trap 'kill $mock 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q '^listening on' "$log" && break; sleep 0.1; done
addr=$(sed -n 's/^listening on //p' "$log" | head -n1)
[ -n "$addr" ] || { echo "gauntlet-mock did not start" >&2; exit 1; }

wrk_rps=(); gauntlet_rps=()
for i in $(seq "$repeats"); do
  w=$(taskset -c 1 wrk -t1 -c16 -d"${secs}s" "http://$addr/" | awk '/^Requests\/sec:/ {print $2}')
  g=$(taskset -c 1 target/release/gauntlet load "$addr" -c 16 -d "${secs}s" --warmup 1s --json \
      | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["load"]["achieved_rps"], 1))')
  echo "run $i: wrk ${w} rps, gauntlet ${g} rps"
  wrk_rps+=("$w"); gauntlet_rps+=("$g")
done

python3 - "${wrk_rps[*]}" "${gauntlet_rps[*]}" <<'PY'
import statistics, sys
w = [float(x) for x in sys.argv[1].split()]
g = [float(x) for x in sys.argv[2].split()]
mw, mg = statistics.median(w), statistics.median(g)
print(f"median: wrk {mw:.0f} rps, gauntlet {mg:.0f} rps, ratio gauntlet/wrk {mg / mw:.3f}")
PY
