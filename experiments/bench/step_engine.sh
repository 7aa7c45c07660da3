#!/usr/bin/env bash
# The step engine and the GEMM stages against this machine's limits (issue 13), all in one
# run on one machine, nothing else running:
#   1. the simple bound of the pair terms (pair_bound.c: B targets x M shared negatives, d2,
#      q = 1/(1+d2), Z += q, g += q^2 (y_i - y_l), float32 omp simd, -O3 -march=native
#      -ffast-math, every core) and the step engine alone, per loss and step shape;
#   2. nomad's pair rate per shipped loss on the issue's fit: 10,000 Fashion-MNIST points,
#      t-SNE affinities (perplexity 30) on k = 90, 2,048 negatives shared by the batch, 600
#      epochs: run.json's optimizer.pairs / optimize seconds;
#   3. sgemm GFLOP/s for each OpenBLAS kernel this CPU runs, and the one nomad uses;
#   4. exact kNN (ann: exact, those 10,000 x 784, k = 90): GFLOP/s-equivalent of 2 n^2 d, as a
#      share of the best sgemm;
#   5. seconds per epoch from 100k to 3M points, eager and lazy update;
#   6. configs/nomad-paper.yaml (b68e0af's configs/nomad.yaml, renamed when nomad.yaml became
#      the t-SNE-class recipe) on all of Fashion-MNIST: fit seconds and NP@10, this tree against
#      b68e0af (its code and its config, built from git in experiments/out/bench/b68e0af), with
#      OpenBLAS's own kernel and with the generic one the issue's machine fell back to.
# Prints the tables and writes experiments/bench/results/step_engine.md.
#
#   bash experiments/bench/step_engine.sh
# Environment: BENCH_QUICK=1 (a smoke run: short fits, small sizes, no baseline; the table goes
# to experiments/out/bench/step_engine_quick.md), BENCH_BASELINE=0 (skip 6's baseline).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=/usr/bin/python3
QUICK=${BENCH_QUICK:-0}
OUT=$ROOT/experiments/out/bench/step_engine
MD=$ROOT/experiments/bench/results/step_engine.md
[[ $QUICK == 1 ]] && MD=$ROOT/experiments/out/bench/step_engine_quick.md
mkdir -p "$OUT" "$(dirname "$MD")"

BUILD=${BENCH_BUILD:-build}
if [[ ! -x $BUILD/nomad || ! -x $BUILD/nomad_step_bench || ! -x $BUILD/nomad_sgemm_bench ]]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target nomad nomad_step_bench nomad_sgemm_bench >/dev/null
fi
NOMAD=$ROOT/$BUILD/nomad

if [[ $QUICK == 1 ]]; then
    ENGINE_SECONDS=0.5 EPOCHS=20 SIZES="20000 40000" FM_SET=(--set data.limit=10000 --set optimizer.epochs=20)
else
    ENGINE_SECONDS=3 EPOCHS=600 SIZES="100000 300000 1000000 3000000" FM_SET=()
fi

echo "== 1. the bound and the engine alone" >&2
"$BUILD/nomad_step_bench" "$BUILD/plugins" "$ENGINE_SECONDS" | tee "$OUT/engine.txt" >&2

echo "== 2. pair rate per loss on the issue's fit" >&2
ISSUE_FIT=(--set data.limit=10000 --set 'ann={plugin: exact, k: 90}' --set 'affinity={plugin: perplexity}'
           --set 'negatives={plugin: uniform, m: 2048, shared: true}' --set "optimizer.epochs=$EPOCHS"
           --set eval.enabled=false --set output.plot=false)
# three rounds, the losses in turn (one in QUICK); the report takes each loss's median
FIT_ROUNDS=3
[[ $QUICK == 1 ]] && FIT_ROUNDS=1
rm -rf "$OUT"/fit-*
for round in $(seq "$FIT_ROUNDS"); do
    tag=""
    [[ $round -gt 1 ]] && tag=".$round"
    for loss in infonce neg umap; do
        "$NOMAD" run configs/infonce-tsne.yaml "${ISSUE_FIT[@]}" --set "loss={plugin: $loss}" --out "$OUT/fit-$loss$tag" \
            --quiet
    done
done

echo "== 3. sgemm per OpenBLAS kernel" >&2
: > "$OUT/sgemm.txt"
kernels="Prescott Haswell"
grep -q avx512f /proc/cpuinfo && kernels="$kernels SkylakeX"
grep -q AuthenticAMD /proc/cpuinfo && kernels="$kernels Zen"
for k in $kernels; do OPENBLAS_CORETYPE=$k "$BUILD/nomad_sgemm_bench" >> "$OUT/sgemm.txt"; done
# what nomad itself ends up with (its start-up check may restart it on another kernel)
"$NOMAD" --version | sed 's/^/nomad: /' >> "$OUT/sgemm.txt"
cat "$OUT/sgemm.txt" >&2

echo "== 4. exact kNN" >&2
rm -rf "$OUT/knn"
"$NOMAD" run configs/infonce-tsne.yaml --set data.limit=10000 --set 'ann={plugin: exact, k: 90, recall_sample: 0}' \
    --set optimizer.epochs=1 --set eval.enabled=false --set output.plot=false \
    --out "$OUT/knn" --quiet

echo "== 5. seconds per epoch, eager and lazy" >&2
# shellcheck disable=SC2086
"$BUILD/nomad_step_bench" "$BUILD/plugins" --scaling $SIZES | tee "$OUT/scaling.txt" >&2

echo "== 6. configs/nomad-paper.yaml on Fashion-MNIST" >&2
# Rounds alternate the builds, and the report takes each one's median: on a shared VM one run
# each can swing the ratio by a third.
ROUNDS=3
[[ $QUICK == 1 ]] && ROUNDS=1
B=$ROOT/experiments/out/bench/b68e0af
BASELINE=0
if [[ $QUICK != 1 && ${BENCH_BASELINE:-1} == 1 ]]; then
    BASELINE=1
    if [[ ! -x $B/build/nomad ]]; then
        rm -rf "$B" && git worktree prune
        git worktree add -q --detach "$B" b68e0af
        cmake -S "$B" -B "$B/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOMAD_CUDA=OFF >/dev/null
        cmake --build "$B/build" -j"$(nproc)" --target nomad plugins >/dev/null
    fi
fi
rm -rf "$OUT"/nomad-now* "$OUT"/nomad-b68e0af*
for round in $(seq "$ROUNDS"); do
    tag=""
    [[ $round -gt 1 ]] && tag=".$round"
    "$NOMAD" run configs/nomad-paper.yaml ${FM_SET[@]+"${FM_SET[@]}"} --set output.plot=false \
        --out "$OUT/nomad-now$tag" --quiet
    # As on the issue's machine, where OpenBLAS fell back to its generic kernel (nomad restarts
    # itself on a fast one; b68e0af keeps it).
    OPENBLAS_CORETYPE=Prescott "$NOMAD" run configs/nomad-paper.yaml ${FM_SET[@]+"${FM_SET[@]}"} \
        --set output.plot=false --out "$OUT/nomad-now-prescott$tag" --quiet
    if [[ $BASELINE == 1 ]]; then # b68e0af's own code and its own configs/nomad.yaml
        "$B/build/nomad" run "$B/configs/nomad.yaml" --set output.plot=false --out "$OUT/nomad-b68e0af$tag" --quiet
        OPENBLAS_CORETYPE=Prescott "$B/build/nomad" run "$B/configs/nomad.yaml" --set output.plot=false \
            --out "$OUT/nomad-b68e0af-prescott$tag" --quiet
    fi
done
BASE=""
[[ $BASELINE == 1 ]] && BASE=$OUT/nomad-b68e0af

$PY experiments/bench/report_step_engine.py "$OUT" "$MD" "$BASE" "$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "(written to ${MD#$ROOT/})" >&2
