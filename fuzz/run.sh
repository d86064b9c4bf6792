#!/usr/bin/env bash
# Runs the fuzz targets one after the other, SECONDS each (default 600), on one core each.
#
#   fuzz/run.sh [SECONDS] [TARGET...]      e.g. fuzz/run.sh 60 gate_parse
#
# Targets default to scenario_parse, gate_parse and scenario_structured. New corpus entries
# go to corpus/<target>/, crashes to artifacts/<target>/ (not committed: copy a minimised
# reproducer to artifacts-found/), libFuzzer's output to logs/<target>.log. Exits 1 when
# any target left a crash. Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable
# toolchain RUSTC_BOOTSTRAP=1 lets it use the nightly flags it needs.
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(scenario_parse gate_parse scenario_structured)
fi

export RUSTC_BOOTSTRAP=1
# Release with debug assertions (so overflow checks), no sanitizer: the code under test is
# safe Rust, and the executions per second matter more on a shared two-core machine.
build=(-O -a -s none)
cargo fuzz build "${build[@]}"

mkdir -p logs
found=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  dict=()
  case "$t" in
    scenario_parse) dict=(-dict=scenario.dict) ;;
    gate_parse) dict=(-dict=gate.dict) ;;
  esac
  before=$(ls "artifacts/$t" | wc -l)
  echo "== $t for ${secs}s (log: fuzz/logs/$t.log)"
  # -jobs=1 runs the fuzzer in a child that writes fuzz-0.log here; cargo-fuzz's own
  # report (the reproduce and minimise commands after a crash) goes to logs/<target>.run.
  cargo fuzz run "${build[@]}" "$t" "corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=5 -max_len=8192 \
    -jobs=1 -print_final_stats=1 "${dict[@]}" > "logs/$t.run" 2>&1 || true
  mv -f fuzz-0.log "logs/$t.log" 2>/dev/null || true
  grep -E '^(stat::|#[0-9]+ +(DONE|pulse))|panicked' -A1 "logs/$t.log" | tail -8 || true
  after=$(ls "artifacts/$t" | wc -l)
  if [ "$after" -gt "$before" ]; then
    echo "!! $t: new crash in fuzz/artifacts/$t/:"
    ls -t "artifacts/$t" | head -n $((after - before))
    found=1
  fi
done
exit "$found"
