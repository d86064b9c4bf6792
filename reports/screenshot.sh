#!/usr/bin/env bash
# Renders a stored run's HTML report (and its Markdown, Fortio JSON and .hlog) and takes a
# full-page screenshot with headless Chromium, to look at what the renderers produce.
#
#   reports/screenshot.sh RUN_DIR [OUT.png] [WIDTHxHEIGHT]
#
# RUN_DIR holds a result.json (e.g. from `gauntlet run SCENARIO --out RUN_DIR`). Writes
# RUN_DIR/report.html, summary.md, fortio.json, latency.hlog, and the PNG (default
# RUN_DIR/report.png). Needs chromium (Debian: apt-get install -y chromium).
set -euo pipefail
run_dir=$(realpath "${1:?usage: reports/screenshot.sh RUN_DIR [OUT.png] [WIDTHxHEIGHT]}")
png=${2:-$run_dir/report.png}
size=${3:-1300x2400}
cd "$(dirname "$0")/.."
GAUNTLET_RUN_DIR=$run_dir cargo test -q -p gauntlet-reports --test render_file -- --ignored >/dev/null
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --screenshot="$png" --window-size="${size/x/,}" "file://$run_dir/report.html" 2>/dev/null
echo "$png"
