#!/usr/bin/env bash
# docs/plugin-guide.md as a test: its example plugin (docs/examples/nearest_means.c) is built
# with the guide's own cc line, stays under 100 lines, is the code the guide shows, is found by
# name and by path, keeps exactly the K nearest means, changes the result against the shipped
# cluster_mean, and is swept over K with nomad sweep as the guide does.
set -u
source "$(dirname "$0")/common.bash"
ROOT=$(pwd)
GUIDE="$ROOT/docs/plugin-guide.md"
EXAMPLE="$ROOT/docs/examples/nearest_means.c"

# The guide's build lines, run as written from the repository root (HOME = scratch).
build=$(sed '/^## 9\./,$d' "$GUIDE" | grep -E '^(mkdir -p ~/nomad-plugins|cc .*nearest_means)')
[ "$(wc -l <<<"$build")" -eq 2 ] || bad "the guide's build lines not found"
(cd "$ROOT" && HOME="$SCRATCH" bash -e -c "$build") && [ -s "$SCRATCH/nomad-plugins/negatives_nearest_means.so" ] \
  && ok "the guide's cc line builds the example" || bad "example build"
cc -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -I "$ROOT/core/include" "$EXAMPLE" -o "$SCRATCH/strict.so" \
  && ok "no warnings" || bad "the example has warnings"
lines=$(wc -l <"$EXAMPLE")
[ "$lines" -lt 100 ] && ok "example is $lines lines" || bad "example is $lines lines, the guide promises under 100"
$PY - "$GUIDE" "$EXAMPLE" <<'PY' && ok "the guide's C code is the example's" || bad "the guide's code drifted from the example"
import re, sys
guide, src = open(sys.argv[1]).read(), open(sys.argv[2]).read()
have = {l.strip() for l in src.splitlines()}
blocks = re.findall(r"```c\n(.*?)```", guide.split("\n## 9.")[0], re.S)  # section 9 is loss_guide.sh's
assert len(blocks) >= 3, len(blocks)
missing = [l for b in blocks for l in b.splitlines() if l.strip() and l.strip() not in have]
assert not missing, missing
assert "(%d lines)" % len(src.rstrip("\n").splitlines()) in guide, "the guide states another line count"
PY

export NOMAD_PLUGIN_PATH="$SCRATCH/nomad-plugins"
"$NOMAD" plugins --describe nearest_means | grep -q "K other cells nearest it" && ok "described" || bad "describe"
blobs "$SCRATCH"
guide_yaml 'negatives: { plugin: nearest_means, exact: 16, K: 2 }'
cd "$SCRATCH"
run() { "$NOMAD" run guide.yaml --quiet "$@"; }
acc() { $PY -c "import json, sys; print(json.load(open(sys.argv[1] + '/run.json'))['metrics']['knn_acc'])" "$1"; }
run --out by_name && run --out by_path --set negatives.plugin="$SCRATCH/nomad-plugins/negatives_nearest_means.so" \
  && cmp -s by_name/embedding.npy by_path/embedding.npy && ok "run by name and by path, same result" || bad "run by path"
# K past the number of other cells keeps them all: the same bytes as K = cells - 1.
run --out k7 --set negatives.K=7 && run --out k50 --set negatives.K=50 && cmp -s k7/embedding.npy k50/embedding.npy \
  && ok "K >= cells - 1 keeps every mean" || bad "K clamping"
# The shipped estimator it generalises: other draws, same quality, different bytes.
run --out shipped --set 'negatives={plugin: cluster_mean, exact: 16, approx_cells: all_but_own, weighting: mass}' \
  && ! cmp -s k7/embedding.npy shipped/embedding.npy && ! cmp -s by_name/embedding.npy shipped/embedding.npy \
  && ok "nearest_means changes the result against the shipped cluster_mean" || bad "same result as cluster_mean"
$PY -c "import sys; a, b = map(float, sys.argv[1:]); assert a > 0.9 and abs(a - b) < 0.05, (a, b)" \
  "$(acc k7)" "$(acc shipped)" && ok "with every mean it is as good as cluster_mean" || bad "K = all vs cluster_mean"

# The guide's ablation: a sweep over K, one row per K, K = 0 (no far field) the worst.
"$NOMAD" sweep guide.yaml --grid negatives.K=0,2,7 --out sweep --quiet && ok "sweep over K" || bad "sweep over K"
$PY - <<'PY' && ok "sweep table: no far field collapses the blobs" || bad "sweep table: $(cat sweep/results.csv)"
import csv
rows = {r["negatives.K"]: r for r in csv.DictReader(open("sweep/results.csv"))}
assert sorted(rows) == ["0", "2", "7"] and all(r["status"] == "ok" for r in rows.values()), rows
acc = {k: float(r["knn_acc"]) for k, r in rows.items()}
assert acc["0"] + 0.2 < acc["7"], acc
PY
grep -q '^| `7` | 1/1 |' sweep/results.md && ok "results.md has the K = 7 cell" || bad "results.md"
finish
