#!/usr/bin/env bash
# Runs every libFuzzer target of a -DTL_FUZZ=ON build for a bounded time.
#
#   scripts/fuzz.sh BUILD_DIR [SECONDS]      (default 30 seconds per target)
#
# Each target starts from the seed corpus in fuzz/corpus/<target>/ (read-only) and keeps what
# it finds in BUILD_DIR/fuzz-work/<target>/, so a second run continues where the first ended.
# The full libFuzzer output of each target is in BUILD_DIR/fuzz-logs/<target>.log.
# A crash, leak or broken invariant leaves its input in BUILD_DIR/fuzz-artifacts/ and makes
# the script exit 1 after the remaining targets have run; reproduce it with
#   BUILD_DIR/fuzz/fuzz_<target> BUILD_DIR/fuzz-artifacts/<target>-crash-...
# FUZZ_TARGETS="mp note" limits the run; FUZZ_JOBS (default 1) runs that many workers each.
set -uo pipefail
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n "2,12p" "$0" | sed 's/^# \{0,1\}//'
  [ $# -lt 1 ] && exit 2 || exit 0
fi
build=$1
seconds=${2:-30}
src=$(cd "$(dirname "$0")/.." && pwd)
targets=${FUZZ_TARGETS:-"mp envelope record note json bundle http"}
jobs=${FUZZ_JOBS:-1}
case $seconds in ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 2;; esac

failed=()
for t in $targets; do
  bin=$build/fuzz/fuzz_$t
  if [ ! -x "$bin" ]; then
    echo "fuzz.sh: $bin is missing: configure with CC=clang -DTL_FUZZ=ON and build first" >&2
    exit 2
  fi
  work=$build/fuzz-work/$t
  art=$build/fuzz-artifacts
  mkdir -p "$work" "$art"
  echo "== fuzz_$t: ${seconds}s (corpus: $src/fuzz/corpus/$t, findings: $work)"
  extra=()
  [ "$jobs" -gt 1 ] && extra=(-jobs="$jobs" -workers="$jobs")
  # -max_len: the largest inputs the decoders take are batches (1 MiB); 64 KiB reaches every
  # limit of a single envelope and keeps runs fast. -timeout: one input taking over 10 s is a bug.
  log=$build/fuzz-logs/$t.log
  mkdir -p "$build/fuzz-logs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" -max_total_time="$seconds" -max_len=70000 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$art/$t-" "${extra[@]}" \
      "$work" "$src/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|peak_rss_mb)' "$log" | tr '\n' ' '
  echo
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz.sh: fuzz_$t FAILED (exit $rc); input in $art/, full log $log" >&2
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failures in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: every target ran ${seconds}s without a finding"
