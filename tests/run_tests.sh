#!/usr/bin/env bash
# The README's test command: installs dependencies, builds with warnings as errors, runs
# the whole suite (unit, ABI, kernels, plugins, end-to-end and quality floors) and the Python
# package's (pip install . into a venv, then pytest), then the
# suite again under ASan + UBSan (quality floors excluded: they are slow under sanitizers),
# then the fuzz harnesses briefly (tests/fuzz/run.sh; NOMAD_FUZZ_SECONDS each, default 15).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install_deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOMAD_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 1800
bash tests/python.sh # the Python package: pip install . and its pytest suite

if [ "${NOMAD_SKIP_SANITIZE:-0}" != 1 ]; then
  cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DNOMAD_WERROR=ON -DNOMAD_SANITIZE=ON -DNOMAD_CUDA=OFF >/dev/null
  cmake --build build-sanitize -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-sanitize --output-on-failure -j"$jobs" -LE quality --timeout 1800
fi

# The libFuzzer harnesses (tests/fuzz): each seed corpus replayed, then each fuzzed for a while.
if [ "${NOMAD_SKIP_FUZZ:-0}" != 1 ]; then
  bash tests/fuzz/run.sh "${NOMAD_FUZZ_SECONDS:-15}"
fi
