#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan, build-fuzz/), replays each seed corpus
# (tests/fuzz/corpus/<name>/), then fuzzes each harness for SECONDS (default 15; CI) with its
# own growing corpus in build-fuzz/corpus/<name>. A crash, leak or sanitizer report fails the
# script and leaves the input in build-fuzz/artifacts/. Long runs: tests/fuzz/run.sh 3600.
# NOMAD_FUZZ_MAX_LEN caps an input's bytes (65536; a config needs no more than 4096).
#   tests/fuzz/run.sh [SECONDS] [HARNESS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-15}
shift || true
command -v clang >/dev/null || { echo "fuzz: clang is missing (tests/install_deps.sh installs it)" >&2; exit 2; }
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOMAD_FUZZ=ON -DNOMAD_CUDA=OFF \
  -DNOMAD_MPI=OFF -DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_all >/dev/null
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(config data labels sweep_json checkpoint)
mkdir -p build-fuzz/artifacts
export OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
for h in "${harnesses[@]}"; do
  bin=build-fuzz/fuzz/fuzz_$h seeds=tests/fuzz/corpus/$h work=build-fuzz/corpus/$h
  mkdir -p "$work"
  "$bin" -runs=0 "$seeds" >/dev/null 2>"build-fuzz/$h.replay.log" \
    || { echo "fuzz: $h: a seed input fails (build-fuzz/$h.replay.log)" >&2; tail -30 "build-fuzz/$h.replay.log" >&2; exit 1; }
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="${NOMAD_FUZZ_MAX_LEN:-65536}" -print_final_stats=1 \
    -artifact_prefix=build-fuzz/artifacts/"$h"- "$work" "$seeds" >"build-fuzz/$h.log" 2>&1 \
    || { echo "fuzz: $h: FAILED (build-fuzz/$h.log)" >&2; grep -A30 "ERROR\|==ERROR\|runtime error\|deadly" "build-fuzz/$h.log" | head -60 >&2; exit 1; }
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/$h.log")
  cov=$(grep -o 'cov: [0-9]*' "build-fuzz/$h.log" | tail -1)
  echo "fuzz: $h: $runs executions in ${seconds} s, $cov, corpus $(ls "$work" | wc -l) inputs, clean"
done
