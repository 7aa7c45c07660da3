#!/usr/bin/env bash
# nomad run under mpirun: 1, 2 and 4 ranks finish and agree with the input (every row once,
# in input order); the same seed and rank count give the same bytes; snapshots are gathered
# too; run.json records the ranks, their points, stage times, bytes and load imbalance; and
# balanced placement is no worse than round robin. (Quality: quality_mpi_fashion_mnist.sh.) Data: 4,000 points in 12 blobs (.npy, read
# in slices) and 3,000 Fashion-MNIST rows (IDX, read whole and cut) when installed.
set -u
source "$(dirname "$0")/common.bash"
forms=0
$PY - "$SCRATCH/blobs.npy" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(3)
centres = rng.normal(scale=6.0, size=(12, 24))
label = rng.integers(0, 12, 4000)
x = centres[label] + rng.normal(size=(4000, 24))
np.save(sys.argv[1], x.astype("<f4"))
np.save(sys.argv[1].replace(".npy", "_labels.npy"), label.astype("<i4"))
x = x.astype("<f4")  # the same values as f64 .npy and as raw f32: other reading paths, same rows
np.save(sys.argv[1].replace(".npy", "_f8.npy"), x.astype("<f8"))
x.tofile(sys.argv[1].replace(".npy", ".f32"))
PY
cat >"$SCRATCH/blobs.yaml" <<YAML
data: { path: $SCRATCH/blobs.npy, labels: $SCRATCH/blobs_labels.npy }
seed: 11
threads: 1
distributed: { backend: mpi, abort_timeout: 20 }
partitioner: { plugin: kmeans, cells: 8 }
ann: { plugin: exact_cell, k: 10 }
negatives: { plugin: cluster_mean, exact: 32, approx_cells: all_but_own }
optimizer: { epochs: 8, batch: 256 }
eval: { queries: 1000, triplets: 1000 }
output: { dir: "$SCRATCH/{name}", plot: false, snapshot_every: 4 }
YAML
for np in 1 2 4; do
  for rep in a b; do
    if mpi $np run "$SCRATCH/blobs.yaml" --quiet --set output.name=np$np$rep; then ok "np $np ($rep) ran"; else bad "np $np ($rep) failed"; fi
  done
  if cmp -s "$SCRATCH/np${np}a/embedding.npy" "$SCRATCH/np${np}b/embedding.npy"; then ok "np $np: same bytes twice"
  else bad "np $np: two runs with the same seed differ"; fi
  if cmp -s "$SCRATCH/np${np}a/embedding.npy" "$SCRATCH/np${np}a/snapshots/epoch_0008.npy"; then ok "np $np: last snapshot = layout"
  else bad "np $np: the gathered snapshot of the last epoch differs from embedding.npy"; fi
done
for form in "data.path=$SCRATCH/blobs_f8.npy" "data.path=$SCRATCH/blobs.f32 --set data.format=raw --set data.dim=24"; do
  name=form$((++forms))
  # shellcheck disable=SC2086 # $form holds two --set pairs for raw
  if mpi 2 run "$SCRATCH/blobs.yaml" --quiet --set output.name=$name --set $form &&
     cmp -s "$SCRATCH/np2a/embedding.npy" "$SCRATCH/$name/embedding.npy"; then ok "2 ranks, $form: same bytes as <f4 .npy"
  else bad "2 ranks, $form: differs from the <f4 .npy run"; fi
done
if mpi 4 run "$SCRATCH/blobs.yaml" --quiet --set output.name=bal --set distributed.cell_placement=balanced; then ok "balanced ran"
else bad "balanced failed"; fi
$PY - "$SCRATCH" <<'PY' && ok "run.json of distributed runs" || bad "run.json of distributed runs"
import json, sys, numpy as np
root = sys.argv[1]
x = np.load(f"{root}/blobs.npy")
good = True
def check(cond, what):
    global good
    print(("ok  " if cond else "FAIL") + " " + what)
    good &= bool(cond)
for np_ in (1, 2, 4):
    r = json.load(open(f"{root}/np{np_}a/run.json"))
    d = r["distributed"]
    y = np.load(f"{root}/np{np_}a/embedding.npy")
    check(y.shape == (4000, 2) and np.isfinite(y).all(), f"np {np_}: layout 4000 x 2, finite")
    check(d["backend"] == "mpi" and d["ranks"] == np_ and len(d["per_rank"]) == np_, f"np {np_}: ranks recorded")
    pts = [p["points"] for p in d["per_rank"]]
    check(sum(pts) == 4000 and min(pts) > 0, f"np {np_}: points per rank {pts} add up to 4000")
    check(sum(p["cells"] for p in d["per_rank"]) == r["partition"]["cells"], f"np {np_}: every cell on one rank")
    check(abs(d["load_imbalance_points"] - max(pts) * np_ / 4000) < 1e-9, f"np {np_}: load imbalance {d['load_imbalance_points']:.3f}")
    check(d["bytes_per_step"] == r["partition"]["cells"] * 2 * 8, f"np {np_}: {d['bytes_per_step']} bytes per step")
    opt = [p["stage_bytes"]["optimize"] for p in d["per_rank"]]
    steps = r["optimizer"]["steps"]
    if np_ > 1:  # every step's all-reduce at least, both ways
        check(min(opt) >= 2 * (steps + 1) * d["bytes_per_step"], f"np {np_}: optimize moved {opt} bytes over {steps} steps")
        check(all(p["bytes_sent"] > 0 and p["comm_calls"] > steps for p in d["per_rank"]), f"np {np_}: bytes sent")
    check(all(set(p["stage_seconds"]) >= {"load", "partition", "optimize"} for p in d["per_rank"]), f"np {np_}: stage times")
    check(steps == 8 * (4000 // (256 * np_)), f"np {np_}: {steps} steps = epochs * N / (batch * ranks)")
    check(0 <= r["metrics"]["knn_acc"] <= 1, f"np {np_}: rank 0 evaluated the gathered layout (10-NN accuracy {r['metrics']['knn_acc']:.3f})")
rr = json.load(open(f"{root}/np4a/run.json"))["distributed"]
bal = json.load(open(f"{root}/bal/run.json"))["distributed"]
check(bal["cell_placement"] == "balanced" and bal["load_imbalance_points"] <= rr["load_imbalance_points"] + 1e-12,
      f"balanced imbalance {bal['load_imbalance_points']:.3f} <= round robin {rr['load_imbalance_points']:.3f}")
sys.exit(0 if good else 1)
PY
if [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  if mpi 2 run "$SCRATCH/blobs.yaml" --quiet --set data.path=fashion-mnist --set 'data.labels=""' --set data.limit=3000 --set output.name=fm \
     --set output.snapshot_every=0 && [ -s "$SCRATCH/fm/embedding.npy" ]; then ok "Fashion-MNIST (IDX) on 2 ranks"
  else bad "Fashion-MNIST (IDX) on 2 ranks"; fi
fi
finish
