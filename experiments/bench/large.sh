#!/usr/bin/env bash
# One large end-to-end run: 1,000,000 x 128 synthetic manifold blobs (50 Gaussian clusters on a
# 5-d manifold; experiments/make_manifold_blobs.py, cached in experiments/out/blobs/) mapped by
# configs/nomad.yaml scaled to the size (LARGE_SET below). Prints per-stage wall time, total,
# peak RSS and PASS/FAIL for peak RSS < 3 GiB; writes experiments/bench/results/large.md.
# Exit status 1 on FAIL.
#
#   bash experiments/bench/large.sh [--set key=value]...   # extra args go to `nomad run`
#
# Environment:
#   BENCH_N=N            rows (default 1000000); other sizes write experiments/out/bench/large_N.md
#   BENCH_D=D            dimensions (default 128)
#   BENCH_RSS_GIB=G      the peak-RSS limit (default 3)
#   NOMAD=path           the nomad binary (default build/nomad, built if missing)
#   LARGE_SET="k=v ..."  the scaling of nomad.yaml to 1M points (default: large_set.txt, which
#                        experiments/scale_control.sh reads too): 128 cells (nomad.yaml's own
#                        cells_root gives 242 at 1M, and costs more per step); each point's kNN
#                        searched in 4 of 512 k-means lists (nomad.yaml's list_size gives 455); 32
#                        PCs (refined in 128-d) halve it again; a larger batch means fewer passes of the O(n) SGD update; 100
#                        epochs for time (250: NP@10 0.262 instead of 0.159, optimise 269 s not 74)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=/usr/bin/python3
N=${BENCH_N:-1000000}
D=${BENCH_D:-128}
LIMIT_GIB=${BENCH_RSS_GIB:-3}
SEED=0
LARGE_SET=${LARGE_SET:-$(<experiments/bench/large_set.txt)}
SCALE=()
for kv in $LARGE_SET; do SCALE+=(--set "$kv"); done

NOMAD=${NOMAD:-build/nomad}
if [[ ! -x $NOMAD && $NOMAD == build/nomad ]]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    cmake --build build -j"$(nproc)"
fi
[[ -x $NOMAD ]] || { echo "large.sh: $NOMAD: no such program" >&2; exit 2; }

BLOBS=$ROOT/experiments/out/blobs
X=$BLOBS/blobs_${N}x${D}_s$SEED.npy
Y=$BLOBS/blobs_${N}x${D}_s${SEED}_labels.npy
mkdir -p "$BLOBS"
GEN=-1
if [[ ! -f $X || ! -f $Y ]]; then
    echo "== generating $N x $D (cached in ${BLOBS#$ROOT/})" >&2
    t0=$(date +%s%N)
    $PY experiments/make_manifold_blobs.py "$N" "$D" "$X" --labels "$Y" --seed "$SEED"
    GEN=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
fi

if [[ $N == 1000000 && $D == 128 ]]; then
    MD=${BENCH_MD:-$ROOT/experiments/bench/results/large.md}
else
    MD=${BENCH_MD:-$ROOT/experiments/out/bench/large_${N}x$D.md}
fi
RUN=$ROOT/experiments/out/bench/large_${N}x$D
rm -rf "$RUN"
mkdir -p "$(dirname "$RUN")"

echo "== nomad configs/nomad.yaml on ${X#$ROOT/}" >&2
t0=$(date +%s%N)
"$NOMAD" run configs/nomad.yaml --set "data.path=$X" --set "data.labels=$Y" --set eval.queries=5000 \
    --set threads=0 "${SCALE[@]}" "$@" --out "$RUN" --quiet
WALL=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')

$PY experiments/bench/report_large.py "$RUN" "$WALL" "$GEN" "$LIMIT_GIB" --md "$MD" \
    --title "nomad (configs/nomad.yaml + $LARGE_SET) on $N x $D manifold blobs, $(nproc) cores ($(date -u +%Y-%m-%d), nomad $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
