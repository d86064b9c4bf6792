#!/usr/bin/env bash
# After the test suite: is anything Gauntlet started still running? Exits 1 with the list if so.
#
# Gauntlet's, for this check, is a process that
#   - runs a binary from this repository's target/ (gauntlet, gauntlet-mock, a test binary,
#     or an Envoy from the test cache target/gauntlet-test-cache), or
#   - is an Envoy (or a service) whose command line or working directory is under the test
#     run directories (target/gauntlet-test-runs, target/tmp, /tmp/gauntlet-*),
# and a container labelled org.gauntlet.managed whose Gauntlet (label org.gauntlet.pid) is gone.
#
# To never flag unrelated work on a developer's machine, it matches paths, not names (an
# `envoy` you run yourself is not under target/), and it skips a process that still has a
# `cargo` ancestor: that one belongs to a build or test run still in progress, not to the
# suite that just finished. Zombies are skipped (they run nothing).
#
# Usage: ci/check-orphans.sh [--wait SECONDS]   (default 5: exits are not instantaneous)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
wait_s=5
if [ "${1:-}" = "--wait" ]; then wait_s=${2:?--wait needs seconds}; fi

under_target() {
  case "$1" in
    "$repo"/target/*) return 0 ;;
  esac
  return 1
}

in_run_dirs() {
  case "$1" in
    *"$repo"/target/gauntlet-test-runs*|*"$repo"/target/tmp/*|*/tmp/gauntlet-*) return 0 ;;
  esac
  return 1
}

# 0 if some ancestor of $1 is a cargo process.
has_cargo_ancestor() {
  local pid=$1 comm ppid
  while [ "$pid" -gt 1 ] 2>/dev/null; do
    ppid=$(awk '{ sub(/^.*\) /, ""); print $2 }' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ -n "$ppid" ] || return 1
    pid=$ppid
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [ "$comm" = cargo ] && return 0
  done
  return 1
}

leftover_processes() {
  local dir pid exe cmd cwd state
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [ "$pid" = "$$" ] && continue
    state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "$dir/stat" 2>/dev/null) || continue
    [ "$state" = Z ] && continue
    exe=$(readlink "$dir/exe" 2>/dev/null) || exe=""
    cmd=$(tr '\0' ' ' <"$dir/cmdline" 2>/dev/null) || cmd=""
    cwd=$(readlink "$dir/cwd" 2>/dev/null) || cwd=""
    [ -n "$exe$cmd" ] || continue
    if under_target "${exe% (deleted)}" || in_run_dirs "$cmd" || in_run_dirs "$cwd/"; then
      has_cargo_ancestor "$pid" && continue
      printf '  pid %s: %s (exe %s, cwd %s)\n' "$pid" "${cmd:0:300}" "${exe:-?}" "${cwd:-?}"
    fi
  done
}

leftover_containers() {
  command -v docker >/dev/null 2>&1 || return 0
  docker info >/dev/null 2>&1 || return 0
  local id name pid status
  docker ps -a --filter label=org.gauntlet.managed \
    --format '{{.ID}}	{{.Names}}	{{.Label "org.gauntlet.pid"}}	{{.Status}}' 2>/dev/null |
    while IFS=$'\t' read -r id name pid status; do
      [ -n "$id" ] || continue
      # A container whose Gauntlet still runs belongs to a run in progress.
      if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then continue; fi
      printf '  container %s %s (org.gauntlet.pid %s, gone; %s)\n' "$id" "$name" "${pid:-?}" "$status"
    done
}

deadline=$(( $(date +%s) + wait_s ))
while :; do
  found="$(leftover_processes)$(leftover_containers)"
  [ -z "$found" ] && { echo "check-orphans: nothing left behind by Gauntlet"; exit 0; }
  [ "$(date +%s)" -ge "$deadline" ] && break
  sleep 1
done
echo "check-orphans: left behind by Gauntlet after the test suite:" >&2
printf '%s\n' "$found" >&2
exit 1
