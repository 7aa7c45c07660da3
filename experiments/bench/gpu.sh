#!/usr/bin/env bash
# The GPU path: kernels on their own, then whole runs with `device: cuda` against `device: cpu`.
# Builds with NOMAD_CUDA=ON (build-gpu/), then
#  1. kernels: runs the CUDA parity tests (each GPU kernel against its CPU reference,
#     tests/kernels/test_*.c) and times every kernel against its CPU reference on generated data
#     (experiments/bench/gpu_kernels.c: k-means on 70k x 784 and 1M x 128, exact kNN inside 8
#     cells of 70k x 784 and 128 cells of 1M x 128 in f32 / f16 / bf16, the fused optimiser step
#     on 70k and 1M points);
#  2. end to end: each data set mapped twice with the same config, `--set device=cuda` and
#     `--set device=cpu`: Fashion-MNIST 70,000 x 784 (configs/nomad-paper.yaml, and the default
#     configs/nomad.yaml as the set fmnist-tsne, no goal), and 1,000,000 x 128
#     and 10,000,000 x 128 manifold blobs (experiments/make_manifold_blobs.py, as large.sh; its
#     settings, LARGE_SET). experiments/bench/report_gpu.py prints one table (each stage's
#     seconds, total, NP@10, the goal and whether it is met, CPU/GPU) and writes it to
#     experiments/bench/results/gpu.md. Goals on one H100: Fashion-MNIST under 5 s, 1M x 128
#     under 60 s, 10M x 128 under 10 minutes (run.json's total; GOAL_ON changes that).
# Output also goes to experiments/out/bench/gpu.log.
#
#   bash experiments/bench/gpu.sh [scale] [--set key=value]...
#
# scale < 1 shrinks every size (kernels, rows of Fashion-MNIST through data.limit, blob rows;
# default 1); the table then goes to experiments/out/bench/gpu_scale<scale>.md and has no goals.
# Extra arguments go to every end-to-end `nomad run`.
#
# Environment:
#   BUILD=dir        the build directory (default build-gpu; NOMAD_CUDA=ON)
#   CUDA_ARCH=90     CMAKE_CUDA_ARCHITECTURES (90: H100/H200; e.g. "80;90" for others)
#   KERNELS=0        skip part 1 (parity tests and kernel timings)
#   E2E=0            skip part 2
#   E2E_SETS="fmnist fmnist-tsne 1m 10m"  the data sets of part 2 (rows of sets not run this time are
#                    still shown from earlier runs in the same output folder)
#   E2E_DEVICES="cuda cpu"    the devices of part 2
#   CPU_10M=1        also run the CPU path on 10M (default 0 at scale 1, where it takes hours;
#                    the table says it was skipped; default 1 at scale < 1)
#   SET_1M, SET_10M  `key=value ...` for the blobs (default: large.sh's LARGE_SET)
#   RUN_TIMEOUT=S    stop a `nomad run` after S seconds (default 0: no limit)
#   GOAL_ON=total|wall|no-eval  the time the goals and CPU/GPU use (default total)
#   NOMAD=path       the nomad of part 2 (default $BUILD/nomad, built here)
#   GPU_MD=file      where the table goes
# Fashion-MNIST is Debian's dataset-fashion-mnist, found as `nomad run` finds it: under
# $NOMAD_DATASETS_DIR or /usr/share/datasets (fashion-mnist/*.gz); without it those rows are
# skipped. Blobs are generated once into experiments/out/bench/data/ (large.sh's cache in
# experiments/out/blobs/ is used when it holds the same file); 10M x 128 is 4.8 GiB.
# Runs and their bench.txt are kept in experiments/out/bench/gpu_e2e[_scale<scale>]/<set>-<device>/.
#
# Exit status: 77 when no GPU is present (nvidia-smi missing or failing, or nomad_gpu_bench
# exits 77): the build and the skipped tests still run, the end-to-end part is skipped. Else
# non-zero when the kernel timings or an end-to-end run failed (a failing parity test shows as
# Failed in the log but does not change the status).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SCALE=1
if [[ $# -gt 0 && $1 != -* ]]; then SCALE=$1; shift; fi
EXTRA=("$@")
OUT=experiments/out/bench
BUILD=${BUILD:-build-gpu} # the build directory (NOMAD_CUDA=ON)
KERNELS=${KERNELS:-1}
E2E=${E2E:-1}
E2E_SETS=${E2E_SETS:-"fmnist fmnist-tsne 1m 10m"}
E2E_DEVICES=${E2E_DEVICES:-"cuda cpu"}
FULL=$(awk -v s="$SCALE" 'BEGIN { print (s + 0 >= 1) ? 1 : 0 }')
if [[ $FULL == 1 ]]; then CPU_10M=${CPU_10M:-0}; else CPU_10M=${CPU_10M:-1}; fi
# configs/nomad-paper.yaml scaled to 1M points as large.sh scaled it before nomad.yaml became the
# t-SNE-class recipe (the GPU kernels were written for this one)
LARGE=${LARGE_SET:-"partitioner.cells=128 ann.pca=32 optimizer.batch=65536 optimizer.epochs=100"}
SET_1M=${SET_1M:-$LARGE}
SET_10M=${SET_10M:-$LARGE}
RUN_TIMEOUT=${RUN_TIMEOUT:-0}
GOAL_ON=${GOAL_ON:-total}
rows() { awk -v n="$1" -v s="$SCALE" 'BEGIN { printf "%d", n * s + 0.5 }'; }
mkdir -p "$OUT"

build() {
    local targets=()
    [[ $KERNELS != 0 ]] && targets+=(nomad_gpu_bench kernels_test_cuda_check kernels_test_kmeans
        kernels_test_knn kernels_test_affinity kernels_test_pca kernels_test_sgd_step)
    [[ $E2E != 0 && -z ${NOMAD:-} ]] && targets+=(nomad plugins)
    [[ ${#targets[@]} -gt 0 ]] || return 0
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOMAD_CUDA=ON \
        -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target "${targets[@]}" >/dev/null
}

kernels() {
    ctest --test-dir "$BUILD" -R 'kernels/test_(cuda_check|kmeans|knn_topk|affinity|pca|sgd_step)$' \
        --output-on-failure -V | grep -E '^[0-9]+: (  |\[|[a-z_]+: )|Passed|Failed|Skipped' || true
    "$BUILD"/nomad_gpu_bench "$SCALE"
}

# ---- part 2: end to end

E2E_DIR=$OUT/gpu_e2e
[[ $FULL == 1 ]] || E2E_DIR=${E2E_DIR}_scale$SCALE
if [[ $FULL == 1 ]]; then MD=${GPU_MD:-experiments/bench/results/gpu.md}; else MD=${GPU_MD:-$OUT/gpu_scale$SCALE.md}; fi

note() {  # note DIR key=value...: DIR/bench.txt, read by report_gpu.py
    mkdir -p "$1"
    local d=$1; shift
    printf '%s\n' "$@" >"$d/bench.txt"
}

run_one() {  # run_one SET DEVICE N D ARGS...: one `nomad run ARGS --set device=DEVICE`, timed
    local set=$1 dev=$2 n=$3 d=$4; shift 4
    local dir=$E2E_DIR/$set-$dev rc=0 t0 wall reason
    local args=("$@" --set "device=$dev")
    rm -rf "$dir"
    echo "== $set, device $dev: nomad run ${args[*]}" >&2
    local tmo=()
    [[ $RUN_TIMEOUT != 0 ]] && tmo=(timeout "$RUN_TIMEOUT")
    t0=$(date +%s%N)
    ${tmo[@]+"${tmo[@]}"} "$NOMAD" run "${args[@]}" --out "$dir" --quiet 2>"$E2E_DIR/$set-$dev.log" || rc=$?
    wall=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    if [[ $rc == 0 ]]; then
        note "$dir" status=ok "device=$dev" "n=$n" "d=$d" "wall=$wall" "args=${args[*]}"
        echo "   $wall s" >&2
    else
        if [[ $rc == 124 && $RUN_TIMEOUT != 0 ]]; then reason="stopped after RUN_TIMEOUT=$RUN_TIMEOUT s"
        else reason=$(grep -v '^\s*$' "$E2E_DIR/$set-$dev.log" | tail -1 | sed 's/^nomad: error: //'); fi
        note "$dir" status=failed "device=$dev" "exit=$rc" "n=$n" "d=$d" "wall=$wall" "reason=${reason:-no message}" "args=${args[*]}"
        echo "   FAILED (exit $rc): ${reason:-no message} (log: $E2E_DIR/$set-$dev.log)" >&2
        FAILED=1
    fi
}

blobs() {  # blobs N D: sets X and Y to the generated data (made once)
    local n=$1 d=$2 name=blobs_${1}x${2}_s0
    X=$ROOT/experiments/out/blobs/$name.npy Y=$ROOT/experiments/out/blobs/${name}_labels.npy
    [[ -f $X && -f $Y ]] && return 0  # large.sh's cache: the same generator, seed and size
    X=$ROOT/$OUT/data/$name.npy Y=$ROOT/$OUT/data/${name}_labels.npy
    [[ -f $X && -f $Y ]] && return 0
    mkdir -p "$OUT/data"
    local py
    for py in /usr/bin/python3 python3; do
        command -v "$py" >/dev/null && "$py" -c 'import numpy' 2>/dev/null && break
        py=
    done
    [[ -n $py ]] || { echo "gpu.sh: no python3 with numpy to generate $n x $d" >&2; return 1; }
    echo "== generating $n x $d into ${X#$ROOT/}" >&2
    "$py" experiments/make_manifold_blobs.py "$n" "$d" "$X" --labels "$Y" --seed 0 >&2
}

e2e() {
    FAILED=0
    NOMAD=${NOMAD:-$BUILD/nomad}
    [[ -x $NOMAD ]] || { echo "gpu.sh: $NOMAD: no such program" >&2; return 2; }
    mkdir -p "$E2E_DIR"
    local set dev n d kv k label g specs=()
    local data_root=${NOMAD_DATASETS_DIR:-/usr/share/datasets}
    for set in $E2E_SETS; do
        local args=()
        case $set in
        fmnist | fmnist-tsne)
            n=$(rows 70000) d=784
            args=(configs/nomad-paper.yaml --set threads=0)
            [[ $set == fmnist ]] || args=(configs/nomad.yaml --set threads=0)
            [[ $FULL == 1 ]] || args+=(--set "data.limit=$n")
            if [[ ! -r $data_root/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
                echo "gpu.sh: Fashion-MNIST not under $data_root (apt-get install dataset-fashion-mnist, or NOMAD_DATASETS_DIR): skipped" >&2
                for dev in $E2E_DEVICES; do
                    rm -rf "$E2E_DIR/$set-$dev"
                    note "$E2E_DIR/$set-$dev" status=skipped "device=$dev" "n=$n" d=784 "reason=no Fashion-MNIST under $data_root"
                done
                continue
            fi
            ;;
        1m | 10m)
            d=128
            if [[ $set == 1m ]]; then n=$(rows 1000000) kv=$SET_1M; else n=$(rows 10000000) kv=$SET_10M; fi
            if ! blobs "$n" 128; then
                for dev in $E2E_DEVICES; do
                    rm -rf "$E2E_DIR/$set-$dev"
                    note "$E2E_DIR/$set-$dev" status=failed "device=$dev" "n=$n" d=128 "reason=generating $n x 128 failed"
                done
                FAILED=1
                continue
            fi
            args=(configs/nomad-paper.yaml --set "data.path=$X" --set "data.labels=$Y" --set eval.queries=5000 --set threads=0)
            for k in $kv; do args+=(--set "$k"); done
            ;;
        *) echo "gpu.sh: E2E_SETS: unknown set $set (fmnist fmnist-tsne 1m 10m)" >&2; return 2 ;;
        esac
        args+=(${EXTRA[@]+"${EXTRA[@]}"})
        for dev in $E2E_DEVICES; do
            if [[ $set == 10m && $dev == cpu && $CPU_10M == 0 ]]; then
                if [[ -f $E2E_DIR/$set-$dev/run.json ]]; then
                    echo "== $set, device cpu: CPU_10M=0, the earlier run is kept" >&2
                else
                    rm -rf "$E2E_DIR/$set-$dev"
                    note "$E2E_DIR/$set-$dev" status=skipped device=cpu "n=$n" d=$d \
                        "reason=CPU_10M=0 (the CPU path takes hours at 10M)" "args=${args[*]} --set device=cpu"
                fi
                continue
            fi
            run_one "$set" "$dev" "$n" "$d" "${args[@]}"
        done
    done
    # The table: every set, those of earlier calls too (a folder never written shows "not run").
    for set in fmnist fmnist-tsne 1m 10m; do
        case $set in
        fmnist) label=Fashion-MNIST g=5 ;;
        fmnist-tsne) label="Fashion-MNIST, nomad.yaml" g=- ;;
        1m) label="blobs 1M" g=60 ;;
        10m) label="blobs 10M" g=600 ;;
        esac
        [[ $FULL == 1 ]] || g=-
        for dev in cuda cpu; do
            [[ -e $E2E_DIR/$set-$dev ]] && specs+=(--run "$label" "$g" "$E2E_DIR/$set-$dev")
        done
    done
    [[ ${#specs[@]} -gt 0 ]] || return $FAILED
    local gpu cpu
    gpu=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | paste -sd';' || true)
    cpu="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: *//'), $(nproc) cores"
    local py=python3
    [[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
    "$py" experiments/bench/report_gpu.py ${specs[@]+"${specs[@]}"} --md "$MD" --gpu "$gpu" --cpu "$cpu" \
        --goal-on "$GOAL_ON" --title "nomad end to end, device: cuda vs device: cpu$([[ $FULL == 1 ]] || echo ", scale $SCALE")"
    echo "(written to $MD)" >&2
    return $FAILED
}

main() {
    build
    local status=0
    if [[ $KERNELS != 0 ]]; then
        kernels || status=$?
    fi
    if [[ $status == 77 ]]; then
        echo "gpu.sh: no GPU (nomad_gpu_bench exit 77): end-to-end part skipped"
        return 77
    fi
    if [[ $E2E != 0 ]]; then
        if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
            echo "gpu.sh: no GPU (nvidia-smi missing or failing): end-to-end part skipped"
            return 77
        fi
        local e=0
        e2e || e=$?
        [[ $status != 0 ]] || status=$e
    fi
    return $status
}

main 2>&1 | tee "$OUT/gpu.log"
