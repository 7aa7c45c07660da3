#!/usr/bin/env bash
# nomad transform: new points placed on a finished map, the map left as it was, the same bytes
# for any thread count, and every bad input refused in one line (exit 2) with no output left.
# The quality test on Fashion-MNIST is quality_transform.sh.
set -u
source "$(dirname "$0")/common.bash"
cd "$SCRATCH"
blobs "$SCRATCH"
"$NOMAD" run "$OLDPWD/configs/nomad.yaml" --set data.path=x.npy --set data.labels=y.npy --set threads=2 \
  --set eval.enabled=false --quiet --out map || bad "fit"
$PY - <<'PY'
import numpy as np
x = np.load("x.npy")
rng = np.random.default_rng(5)
pick = rng.choice(len(x), 60, replace=False)
np.save("new.npy", x[pick] + rng.normal(0, 0.3, (60, x.shape[1])).astype(np.float32))
np.save("new_y.npy", np.load("y.npy")[pick])
np.save("wide.npy", np.zeros((5, 9), np.float32))
bad = x[:5].copy(); bad[2, 3] = np.nan; np.save("nan.npy", bad)
PY
cp map/embedding.npy before.npy
expect_ok "$NOMAD" transform map new.npy -o placed.npy --quiet
expect_ok "$NOMAD" transform map new.npy -o placed1.npy --set threads=1 --quiet
cmp -s placed.npy placed1.npy && ok "the same bytes with 1 and 2 threads" || bad "the placement depends on the thread count"
cmp -s before.npy map/embedding.npy && ok "the map did not move" || bad "the run's embedding changed"
$PY - <<'PY' && ok "60 x 2 points, each among its own blob" || bad "placement"
import numpy as np
from sklearn.neighbors import KNeighborsClassifier
z, y, lab = np.load("placed.npy"), np.load("map/embedding.npy"), np.load("y.npy")
assert z.shape == (60, 2) and z.dtype == np.float32 and np.isfinite(z).all(), z.shape
acc = KNeighborsClassifier(10).fit(y, lab).score(z, np.load("new_y.npy"))
print("blob accuracy of the placed points", acc)
assert acc >= 0.95, acc
PY
grep -q 'nomad transform' map/report.md && ok "report.md says how to place new points" || bad "report.md is silent on transform"

# bad input: one line, exit 2, nothing written
expect_fail 2 "usage: nomad transform RUN_DIR NEW_DATA -o OUT.npy" "$NOMAD" transform map new.npy
expect_fail 2 "nowhere: no run.json: not the folder of a finished nomad run" "$NOMAD" transform nowhere new.npy -o o.npy
cp -r map old && rm old/config.yaml
expect_fail 2 "old: no config.yaml: the run predates" "$NOMAD" transform old new.npy -o o.npy
cp -r map cut && head -c 40 map/run.json > cut/run.json
expect_fail 2 "cut/run.json: not a complete run record: line" "$NOMAD" transform cut new.npy -o o.npy
expect_fail 2 "wide.npy: rows of 9 values, but the map was made of rows of 8" "$NOMAD" transform map wide.npy -o o.npy
expect_fail 2 "nan.npy" "$NOMAD" transform map nan.npy -o o.npy
expect_fail 2 "only transform.* keys and threads can change" "$NOMAD" transform map new.npy -o o.npy --set seed=3
expect_fail 2 "transform.k" "$NOMAD" transform map new.npy -o o.npy --set transform.k=0
expect_fail 2 "missing.npy" "$NOMAD" transform map missing.npy -o o.npy
[ ! -e o.npy ] && ok "no output left by a refused transform" || bad "o.npy left behind"
finish
