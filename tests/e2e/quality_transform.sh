#!/usr/bin/env bash
# nomad transform on Fashion-MNIST, the issue's test: fit configs/nomad.yaml on 80% of the
# points, place the other 20% with `nomad transform`, and classify them (10-NN on the training
# points' layout). Their accuracy must be within 0.03 of the same 20% classified the same way
# in a fit on all points. Also: the map did not move, and a second transform gives the same
# bytes (for a thread count, as every run: the PCA-space search's GEMMs round by thread count).
# Then the same with configs/umap-forces.yaml on 20,000 rows: a loss that sums its terms.
set -u
source "$(dirname "$0")/common.bash"
DIR=/usr/share/datasets/fashion-mnist
[ -e $DIR/train-images-idx3-ubyte.gz ] || { echo "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"; exit 77; }
cd "$SCRATCH"
$PY - "$DIR" <<'PY' || bad "split"
import gzip, sys, numpy as np
d = sys.argv[1]
def idx(name, offset):
    return np.frombuffer(gzip.open(f"{d}/{name}").read(), np.uint8, offset=offset)
x = np.concatenate([idx("train-images-idx3-ubyte.gz", 16), idx("t10k-images-idx3-ubyte.gz", 16)]).reshape(-1, 784)
y = np.concatenate([idx("train-labels-idx1-ubyte.gz", 8), idx("t10k-labels-idx1-ubyte.gz", 8)]).astype(np.int32)
order = np.random.default_rng(0).permutation(len(x))
cut = len(x) * 8 // 10
x, y = x[order].astype(np.float32), y[order]
np.save("all.npy", x); np.save("all_y.npy", y)
np.save("train.npy", x[:cut]); np.save("train_y.npy", y[:cut])
np.save("new.npy", x[cut:]); np.save("new_y.npy", y[cut:])
PY
common=(--set eval.enabled=false --set output.plot=false --quiet)
"$NOMAD" run "$OLDPWD/configs/nomad.yaml" --set data.path=train.npy --set data.labels=train_y.npy "${common[@]}" --out fit80 \
  || bad "fit on 80%"
"$NOMAD" run "$OLDPWD/configs/nomad.yaml" --set data.path=all.npy --set data.labels=all_y.npy "${common[@]}" --out fit100 \
  || bad "fit on all"
cp fit80/embedding.npy map_before.npy
start=$(date +%s.%N)
"$NOMAD" transform fit80 new.npy -o new_emb.npy || bad "transform"
end=$(date +%s.%N)
"$NOMAD" transform fit80 new.npy -o new_emb_again.npy --quiet || bad "transform, again"
cmp -s new_emb.npy new_emb_again.npy && ok "the same placement twice" || bad "two transforms differ"
cmp -s map_before.npy fit80/embedding.npy && ok "the map did not move" || bad "transform changed the run's embedding"
$PY - "$start" "$end" <<'PY' && ok "transform accuracy within 0.03 of a fit on all points" || bad "transform accuracy"
import sys, numpy as np
from sklearn.neighbors import KNeighborsClassifier
ty, ny = np.load("train_y.npy"), np.load("new_y.npy")
cut = len(ty)
def acc(train_layout, new_layout):
    return KNeighborsClassifier(10).fit(train_layout, ty).score(new_layout, ny)
placed = acc(np.load("fit80/embedding.npy"), np.load("new_emb.npy"))
full = np.load("fit100/embedding.npy")
together = acc(full[:cut], full[cut:])
print(f"10-NN accuracy of the 20%: placed by transform {placed:.4f}, fitted with the rest {together:.4f}; "
      f"transform of {len(ny)} points: {float(sys.argv[2]) - float(sys.argv[1]):.1f} s")
sys.exit(0 if placed >= together - 0.03 else 1)
PY

# The run's own loss places the points: UMAP's forces sum their terms, so the placement must
# keep the fit's balance (run.json's edge_weight_per_target and negatives_per_target). On the
# first 20,000 of the shuffled rows (16,000 fitted, 4,000 placed) with configs/umap-forces.yaml.
$PY -c "import numpy as np; x, y = np.load('all.npy')[:20000], np.load('all_y.npy')[:20000]; np.save('u_all.npy', x); np.save('u_all_y.npy', y); np.save('u_train.npy', x[:16000]); np.save('u_train_y.npy', y[:16000]); np.save('u_new.npy', x[16000:]); np.save('u_new_y.npy', y[16000:])" || bad "umap split"
"$NOMAD" run "$OLDPWD/configs/umap-forces.yaml" --set data.path=u_train.npy --set data.labels=u_train_y.npy "${common[@]}" \
  --out ufit80 || bad "umap-forces fit on 80%"
"$NOMAD" run "$OLDPWD/configs/umap-forces.yaml" --set data.path=u_all.npy --set data.labels=u_all_y.npy "${common[@]}" \
  --out ufit100 || bad "umap-forces fit on all"
"$NOMAD" transform ufit80 u_new.npy -o u_new_emb.npy --quiet || bad "umap-forces transform"
$PY - <<'PY' && ok "umap-forces: transform accuracy within 0.03 of a fit on all points" || bad "umap-forces transform accuracy"
import json, numpy as np
from sklearn.neighbors import KNeighborsClassifier
ty, ny = np.load("u_train_y.npy"), np.load("u_new_y.npy")
acc = lambda a, b: KNeighborsClassifier(10).fit(a, ty).score(b, ny)
full = np.load("ufit100/embedding.npy")
placed, together = acc(np.load("ufit80/embedding.npy"), np.load("u_new_emb.npy")), acc(full[:16000], full[16000:])
opt = json.load(open("ufit80/run.json"))["optimizer"]
print(f"umap-forces, 10-NN accuracy of the 4,000: placed {placed:.4f}, fitted with the rest {together:.4f} "
      f"(the fit's balance: {opt['edge_weight_per_target']:.2f} edge weight, {opt['negatives_per_target']:.0f} negatives per target)")
assert opt["edge_weight_per_target"] > 2 and opt["negatives_per_target"] == 25
raise SystemExit(0 if placed >= together - 0.03 else 1)
PY
finish
