#!/usr/bin/env bash
# The first GPU checks, in kernels/README.md's order, from the binaries tests/gpu/pack.sh put in
# .gpu/ (carried to the device machine, which cannot build nomad): the CUDA parity tests, the
# GPU fit against the CPU one and the CUDA entries, whole runs (e2e/cuda_run, e2e/device), then
# the kernel timings (nomad_gpu_bench at GPU_SCALE, default 0.1). Each check has its own
# timeout; one failing does not stop the others. Everything goes to $OUT/first_run.log and a
# one-line-per-check summary to $OUT/first_run_summary.txt; exit 0 only when every check passed.
#
#   device run: bash tests/gpu/first_run.sh   (carry: [".gpu"])
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:-/tmp/first_run}
mkdir -p "$OUT"
LOG=$OUT/first_run.log SUMMARY=$OUT/first_run_summary.txt
: >"$SUMMARY"
exec > >(tee "$LOG") 2>&1

[[ -f .gpu/build_path && -f .gpu/lib.tar.xz ]] || { echo "first_run: no .gpu/ bundle: run tests/gpu/pack.sh here, carry .gpu"; exit 2; }
LIBS=/tmp/nomad-gpu-libs
mkdir -p "$LIBS" && tar -C "$LIBS" -xJf .gpu/lib.tar.xz
export LD_LIBRARY_PATH="$ROOT/.gpu/build:$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The tests name their plugin folder by build-cuda's path where they were built.
BUILD_PATH=$(cat .gpu/build_path)
if [[ ! -e $BUILD_PATH ]]; then mkdir -p "$(dirname "$BUILD_PATH")" && ln -s "$ROOT/.gpu/build" "$BUILD_PATH"; fi
B=$ROOT/.gpu/build # nomad finds its plugins beside itself, in $B/plugins

echo "== machine"
nvidia-smi -L || true
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$B/nomad" --version
missing=$(for f in "$B"/nomad "$B"/nomad_gpu_bench "$B"/tests/* "$B"/plugins/*.so; do ldd "$f"; done | grep 'not found' | sort -u)
if [[ -n $missing ]]; then
    echo "first_run: libraries not found:"; echo "$missing"
    echo "libraries: FAIL (not found: $(echo "$missing" | awk '{print $1}' | paste -sd' '))" >>"$SUMMARY"
    exit 3
fi

status=0
check() { # check NAME TIMEOUT_S command...: runs it, one summary line
    local name=$1 limit=$2 rc t0=$SECONDS; shift 2
    echo "== $name"
    timeout "$limit" "$@"; rc=$?
    local verdict=PASS
    [[ $rc == 77 ]] && verdict=SKIP
    [[ $rc != 0 && $rc != 77 ]] && verdict="FAIL (exit $rc)" && status=1
    echo "$name: $verdict, $((SECONDS - t0)) s" | tee -a "$SUMMARY"
}

for t in kernels_test_cuda_check kernels_test_kmeans kernels_test_knn kernels_test_affinity kernels_test_pca \
         kernels_test_sgd_step unit_test_optimizer_cuda plugins_test_cuda_entries; do
    check "$t" 60 "$B/tests/$t"
done
check e2e/cuda_run 240 bash tests/e2e/cuda_run.sh "$B/nomad" /tmp/nomad-e2e-cuda_run
check e2e/device 60 bash tests/e2e/device.sh "$B/nomad" /tmp/nomad-e2e-device
check nomad_gpu_bench 150 "$B/nomad_gpu_bench" "${GPU_SCALE:-0.1}"
echo "== summary"
cat "$SUMMARY"
exit $status
