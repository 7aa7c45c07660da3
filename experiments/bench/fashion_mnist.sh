#!/usr/bin/env bash
# Speed and quality on Fashion-MNIST (70,000 x 784): nomad with every shipped config, openTSNE,
# umap-learn, PaCMAP and scikit-learn's Barnes-Hut t-SNE on the same rows, every layout scored by the same
# `nomad eval`. Prints a Markdown table and writes it to experiments/bench/results/fashion_mnist.md.
#
#   bash experiments/bench/fashion_mnist.sh [--set key=value]...   # extra args go to every `nomad run`
#
# Environment:
#   BENCH_LIMIT=N     use only the first N rows (smoke test); the table then goes to
#                     experiments/out/bench/fashion_mnist_limitN.md, not to results/
#   BENCH_METHODS     space-separated subset of: nomad nomad-paper tsne-sampled infonce-tsne neg-tsne umap-forces
#                     opentsne umap pacmap tsne (tsne-sampled: configs/tsne.yaml; tsne: scikit-learn's) (default: all of them; tsne, Barnes-Hut, takes 16 minutes)
#   PEERS_VENV=dir    where openTSNE 1.0.4 and PaCMAP are pip-installed (default
#                     experiments/out/peers-venv, a venv over Debian's python3 and its numpy)
#   BENCH_UMAP_WARMUP=0  time umap-learn's first call, numba JIT compilation included
#   NOMAD=path        the nomad binary to use (default build/nomad, built if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=/usr/bin/python3
LIMIT=${BENCH_LIMIT:-0}
METHODS=${BENCH_METHODS:-"nomad nomad-paper tsne-sampled infonce-tsne neg-tsne umap-forces opentsne umap pacmap tsne"}

NOMAD=${NOMAD:-build/nomad}
if [[ ! -x $NOMAD && $NOMAD == build/nomad ]]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
    cmake --build build -j"$(nproc)"
fi
[[ -x $NOMAD ]] || { echo "fashion_mnist.sh: $NOMAD: no such program" >&2; exit 2; }
if ! $PY -c 'import umap, sklearn' 2>/dev/null; then
    echo "installing Debian's umap-learn (needs root)" >&2
    apt-get install -y umap-learn >&2
fi

if [[ $LIMIT -gt 0 ]]; then
    TAG=limit$LIMIT
    MD=${BENCH_MD:-$ROOT/experiments/out/bench/fashion_mnist_$TAG.md}
    LIMIT_SET=(--set "data.limit=$LIMIT")
else
    TAG=full
    MD=${BENCH_MD:-$ROOT/experiments/bench/results/fashion_mnist.md}
    LIMIT_SET=()
fi
OUT=$ROOT/experiments/out/bench/fashion_mnist_$TAG
mkdir -p "$OUT"

# The rows every method fits and every layout is scored against (u8 .npy + int32 labels,
# the same first-N rows that nomad's data.limit takes from the fashion-mnist alias).
$PY experiments/bench/peers.py prep "$OUT/data" --limit "$LIMIT"
DATA=$OUT/data/fmnist.npy
LABELS=$OUT/data/labels.npy

has() { [[ " $METHODS " == *" $1 "* ]]; }

# openTSNE and PaCMAP come from PyPI, into a venv of their own (Debian's python3 stays as it is).
VENV=${PEERS_VENV:-$ROOT/experiments/out/peers-venv}
if has opentsne || has pacmap; then
    if ! "$VENV/bin/python" -c 'import openTSNE, pacmap' 2>/dev/null; then
        echo "installing openTSNE 1.0.4 and PaCMAP from PyPI into ${VENV#$ROOT/}" >&2
        $PY -m venv --system-site-packages "$VENV"
        "$VENV/bin/pip" install --quiet openTSNE==1.0.4 pacmap >&2
    fi
fi

score() {  # score DIR: DIR/embedding.npy -> DIR/eval.json
    "$NOMAD" eval "$DATA" "$1/embedding.npy" --labels "$LABELS" --k 10 --queries 5000 \
        --triplets 5000 --seed 42 --json > "$1/eval.json.tmp"
    mv "$1/eval.json.tmp" "$1/eval.json"
}

for method in nomad nomad-paper tsne-sampled infonce-tsne neg-tsne umap-forces; do
    has "$method" || continue
    cfg=${method%-sampled}
    d=$OUT/nomad-$cfg
    rm -rf "$d"
    echo "== nomad configs/$cfg.yaml" >&2
    "$NOMAD" run "configs/$cfg.yaml" --set threads=0 ${LIMIT_SET[@]+"${LIMIT_SET[@]}"} "$@" --out "$d" --quiet
    score "$d"
done

for peer in opentsne umap pacmap tsne; do
    has "$peer" || continue
    py=$PY
    case $peer in
        umap) d=$OUT/umap-learn ;;
        tsne) d=$OUT/sklearn-tsne ;;
        *) d=$OUT/$peer py=$VENV/bin/python ;;
    esac
    rm -rf "$d"
    mkdir -p "$d"
    echo "== $peer" >&2
    warm=()
    [[ $peer == umap && ${BENCH_UMAP_WARMUP:-1} == 0 ]] && warm=(--no-warmup)
    "$py" experiments/bench/peers.py "$peer" "$DATA" "$d/embedding.npy" "$d/peer.json" ${warm[@]+"${warm[@]}"}
    score "$d"
done

N=$($PY -c "import numpy as np; print(np.load('$DATA', mmap_mode='r').shape[0])")
$PY experiments/bench/peers.py table "$OUT" --md "$MD" \
    --title "Fashion-MNIST, $N points, $(nproc) cores ($(date -u +%Y-%m-%d), nomad $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "(written to ${MD#$ROOT/})" >&2
