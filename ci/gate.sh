#!/usr/bin/env bash
# Runs one scenario as a CI gate and explains the exit code in words.
# Usage: ci/gate.sh SCENARIO [JUNIT_FILE]
set -uo pipefail
scenario=${1:?usage: ci/gate.sh SCENARIO [JUNIT_FILE]}
junit=${2:-gauntlet-junit.xml}
gauntlet=${GAUNTLET:-gauntlet}
"$gauntlet" run "$scenario" --junit "$junit" --quiet
code=$?
case $code in
  0) echo "gauntlet: every gate held" ;;
  1) echo "gauntlet: a gate failed (see $junit)" ;;
  2) echo "gauntlet: the scenario or the command line is invalid" ;;
  3) echo "gauntlet: the run broke (Envoy crash, NACK, setup failure); partial results were written" ;;
  130) echo "gauntlet: interrupted" ;;
  *) echo "gauntlet: unexpected exit code $code" ;;
esac
exit $code
