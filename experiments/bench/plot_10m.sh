#!/usr/bin/env bash
# How long `nomad plot` takes to draw 10,000,000 points (goal: under 10 s on 2 cores), with
# and without labels. Data: a 2-D mixture of 20 labelled Gaussian blobs, cached in
# experiments/out/. BENCH_N changes the point count.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${BENCH_N:-10000000}
NOMAD=${NOMAD:-build/nomad}
[ -x "$NOMAD" ] || { cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" >/dev/null; }
out=experiments/out/plot; mkdir -p "$out"
PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
if [ ! -s "$out/y_$N.npy" ]; then
  $PY - "$N" "$out" <<'PY'
import numpy as np, sys
n, out = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
lab = rng.integers(0, 20, n).astype(np.int32)
c = rng.normal(0, 10, (20, 2)).astype(np.float32)
y = c[lab] + rng.normal(0, 1, (n, 2)).astype(np.float32)
np.save(f"{out}/y_{n}.npy", y); np.save(f"{out}/labels_{n}.npy", lab)
PY
fi
t0=$(date +%s.%N); "$NOMAD" plot "$out/y_$N.npy" -o "$out/density.png"; t1=$(date +%s.%N)
"$NOMAD" plot "$out/y_$N.npy" --labels "$out/labels_$N.npy" -o "$out/labels.png"; t2=$(date +%s.%N)
awk -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
  printf "| points | density map s | labelled map s |\n|---:|---:|---:|\n| %d | %.2f | %.2f |\n", n, b - a, c - b }'
