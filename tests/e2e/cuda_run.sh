#!/usr/bin/env bash
# The fit on a GPU (device: cuda) against the same config on the CPU: both separate three
# far-apart blobs, their NP@10 agree within 0.05, run.json names the GPU, the layout is
# finite; for every shipped loss with a CUDA entry, and for configs/nomad.yaml itself (tsne's
# pooled Z, cells opened by their spreads). Exits 77 (skipped) without CUDA in the build or
# without a GPU.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/common.bash"
cd "$SCRATCH"
"$NOMAD" --version | grep -q "cuda yes" || { echo "skip: built without CUDA"; exit 77; }
nvidia-smi -L >/dev/null 2>&1 || { echo "skip: no GPU"; exit 77; }

$PY -c "
import numpy as np
rng = np.random.default_rng(0)
lab = np.repeat(np.arange(3), 2000)
np.save('blobs.npy', (rng.normal(0, 8, (3, 32))[lab] + rng.normal(0, 1, (6000, 32))).astype(np.float32))
np.save('labels.npy', lab.astype(np.int64))"
cat > blobs.yaml <<'YAML'
data: { path: blobs.npy, labels: labels.npy }
partitioner: { plugin: kmeans, cells: 4 }
ann: { plugin: exact_cell, k: 15 }
negatives: { plugin: cluster_mean, exact: 64, approx_cells: all_but_own, weighting: mass, group: 8 }
optimizer: { epochs: 60, batch: 512 }
eval: { k: 10, queries: 1000, triplets: 2000 }
YAML
# configs/nomad.yaml on the blobs, fewer epochs: the run named "nomad"
nomad_yaml=(--set data.path=blobs.npy --set data.labels=labels.npy --set optimizer.epochs=60
            --set eval.queries=1000 --set eval.triplets=2000 --set output.plot=false)
for loss in infonce neg umap tsne nomad; do
  for dev in cpu cuda; do
    if [ "$loss" = nomad ]; then
      "$NOMAD" run "$ROOT/configs/nomad.yaml" "${nomad_yaml[@]}" --quiet --set device=$dev --out out/$loss-$dev \
        && ok "nomad.yaml on $dev" || bad "nomad.yaml on $dev"
    else
      "$NOMAD" run blobs.yaml --quiet --set device=$dev --set loss.plugin=$loss --out out/$loss-$dev \
        && ok "$loss on $dev" || bad "$loss on $dev"
    fi
  done
  $PY - "$loss" <<'PY' && ok "$loss: cuda matches cpu" || bad "$loss: cuda differs from cpu"
import json, sys, numpy as np
loss = sys.argv[1]
cpu, gpu = (json.load(open(f"out/{loss}-{d}/run.json")) for d in ("cpu", "cuda"))
y = np.load(f"out/{loss}-cuda/embedding.npy")
assert np.isfinite(y).all() and y.shape == (6000, 2)
assert gpu["host"]["gpu"] and cpu["host"]["gpu"] is None, (gpu["host"], cpu["host"])
for r in (cpu, gpu):
    assert r["metrics"]["knn_acc"] > 0.95, r["metrics"]
assert abs(cpu["metrics"]["np"] - gpu["metrics"]["np"]) < 0.05, (cpu["metrics"], gpu["metrics"])
if loss == "nomad":
    # batch 8192 > 6000 points: one step an epoch, whose loss both sides take from the same
    # targets; the first epochs' values (tsne's ln Z: the pooled Z from the second step on)
    # agree while the two layouts are still close
    lc, lg = cpu["optimizer"]["loss"][:3], gpu["optimizer"]["loss"][:3]
    assert all(abs(a - b) <= 2e-3 * abs(a) for a, b in zip(lc, lg)), (lc, lg)
PY
done
# The uniform negatives and binary affinity (the InfoNC-t-SNE configuration's plugins but the
# kNN) on the GPU too.
"$NOMAD" run blobs.yaml --quiet --set device=cuda --set partitioner.plugin=single --set negatives.plugin=uniform \
  --set affinity.plugin=binary --out out/uniform && ok "uniform + binary on cuda" || bad "uniform + binary on cuda"
finish
