#!/usr/bin/env bash
# The t-SNE-class configs transfer, as shipped, to data they were not tuned on (issue 14): scikit-
# learn's digits, 1,797 x 64 float64 (Fashion-MNIST, the tuning set, is 70,000 x 784 bytes; here
# a batch is larger than the data). Floors from experiments/transfer.sh's runs (NP@10 on every
# point as query, 10-NN label accuracy), against openTSNE's defaults at 0.583 and 0.988:
#   nomad.yaml 0.570 / 0.982 (10 cells: 0.242 sqrt(n)), infonce-tsne.yaml 0.563 / 0.978, tsne.yaml 0.569 / 0.976.
set -u
source "$(dirname "$0")/common.bash"
if ! $PY -c 'import sklearn' 2>/dev/null; then echo "scikit-learn is not installed (python3-sklearn)"; exit 77; fi
$PY - "$SCRATCH" <<'PY' || bad "write the digits"
import sys
import numpy as np
from sklearn.datasets import load_digits
d = load_digits()
np.save(sys.argv[1] + "/digits.npy", d.data.astype(np.float64))
np.save(sys.argv[1] + "/labels.npy", d.target.astype(np.int32))
PY
for c in nomad infonce-tsne tsne; do
  if "$NOMAD" run "configs/$c.yaml" --set "data.path=$SCRATCH/digits.npy" --set "data.labels=$SCRATCH/labels.npy" \
      --set output.plot=false --quiet --out "$SCRATCH/$c"; then ok "ran $c on the digits"
  else bad "run $c on the digits failed"; fi
done
$PY - "$SCRATCH" <<'PY' && ok "quality floors on the digits" || bad "quality floors on the digits"
import json, sys
ok = True
for c in ("nomad", "infonce-tsne", "tsne"):
    m = json.load(open(f"{sys.argv[1]}/{c}/run.json"))["metrics"]
    good = m["np"] >= 0.54 and m["knn_acc"] >= 0.96
    print(f"{'ok  ' if good else 'FAIL'} {c:12s} NP@10 {m['np']:.4f} (>= 0.54)  10-NN acc {m['knn_acc']:.4f} (>= 0.96)")
    ok &= good
sys.exit(0 if ok else 1)
PY
finish
