#!/usr/bin/env bash
# Gauntlet's performance suite (issue 7): one command that installs what it needs, builds
# the release binaries, runs every comparison side by side (server pinned to core 0, client
# to core 1, repeated and interleaved), prints the tables and updates BENCHMARKS.md.
#
# Usage: bench/run.sh [bench.py options]
#   bench/run.sh                                  # everything (about 10 minutes)
#   bench/run.sh --only loadgen,mock --repeats 3  # some sections; the others keep their figures
# Options: --only loadgen,mock,open,co,xds,startup,alloc  --repeats N (default 5)
#          --secs S (closed-loop run length, default 5)  --envoy-bin PATH
#
# Needs root for apt-get (Debian: wrk, nginx, nghttp2-client for h2load, hyperfine) and
# crates.io for `cargo install oha`. nginx runs from a generated config in a temp dir,
# loopback only, on unprivileged ports; every server is started and stopped by the suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v nginx >/dev/null || need_apt+=(nginx-light)
command -v h2load >/dev/null || need_apt+=(nghttp2-client)
command -v hyperfine >/dev/null || need_apt+=(hyperfine)
command -v taskset >/dev/null || need_apt+=(util-linux)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]} (Debian packages)" >&2
  apt-get install -y -qq "${need_apt[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null; }
fi
if ! command -v oha >/dev/null && [ ! -x "$HOME/.cargo/bin/oha" ]; then
  echo "installing oha (cargo install oha)" >&2
  cargo install -q --locked oha
fi
if [ "$(nproc)" -lt 2 ]; then
  echo "the suite pins the server and the client to different cores: it needs 2 CPUs" >&2
  exit 1
fi

cargo build --release -q -p gauntlet -p gauntlet-mocks --bins --example xds_scale
python3 bench/bench.py "$@"
python3 bench/report.py
