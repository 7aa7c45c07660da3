#!/usr/bin/env bash
# The plugin guide's example, built exactly as docs/plugin-guide.md says, found through
# NOMAD_PLUGIN_PATH, described, and used in a run (by name and by path).
set -u
source "$(dirname "$0")/common.bash"
ROOT=$(pwd)
cc -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -I "$ROOT/core/include" \
   "$ROOT/docs/examples/own_cell.c" -o "$SCRATCH/negatives_own_cell.so" && ok "example builds" || bad "example build"
export NOMAD_PLUGIN_PATH="$SCRATCH"
"$NOMAD" plugins --describe own_cell | grep -q "exact negatives per target" && ok "described" || bad "describe"
$PY - "$SCRATCH" <<'PY'
import numpy as np, sys
rng = np.random.default_rng(1)
x = np.concatenate([rng.normal(c, 1, (150, 8)) for c in (0, 6, 12, 18)]).astype(np.float32)
np.save(sys.argv[1] + "/x.npy", x); np.save(sys.argv[1] + "/y.npy", np.repeat(np.arange(4), 150))
PY
cd "$SCRATCH"
cat > own.yaml <<'YAML'
data: { path: x.npy, labels: y.npy }
partitioner: { plugin: kmeans, cells: 4 }
negatives: { plugin: own_cell, m: 8 }
optimizer: { epochs: 20, batch: 64 }
eval: { queries: 200 }
YAML
"$NOMAD" run own.yaml --quiet --out by_name && ok "run by name" || bad "run by name"
"$NOMAD" run own.yaml --quiet --out by_path --set negatives.plugin="$SCRATCH/negatives_own_cell.so" \
  && cmp -s by_name/embedding.npy by_path/embedding.npy && ok "run by path, same result" || bad "run by path"
$PY -c "import json; r = json.load(open('by_name/run.json')); assert r['metrics']['knn_acc'] > 0.9, r['metrics']" \
  && ok "own_cell separates the blobs" || bad "own_cell quality"
finish
