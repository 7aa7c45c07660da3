#!/usr/bin/env bash
# Experiment 7, the cell artifact at scale (issue 14, item 2): configs/nomad-paper.yaml as
# experiments/bench/large.sh scales it (128 cells, kNN in 32 PCs, batch 65536, 100 epochs) on
# 1,000,000 x 128 manifold blobs and on their first fifth (200,000 rows), with one suspected
# cause changed at a time: the learning rate (lr = N lr_scale grows with N), the edges cut at
# cell borders (ann.scope global, with inverted lists to keep it affordable), the cell means
# as single points (the 8 nearest cells exact); then the last two together, with infonce and
# with the tsne loss (the pair that removes the artifact). NP@10 of the large run is given twice: against
# all its points, and on its first fifth alone, which is the small run's query set and
# neighbourhood scale (10 neighbours among 1M points are five times nearer than among 200k).
#
#   bash experiments/cell_artifact.sh      # writes docs/results/cell_artifact.{md,csv,png}
#   EXP_LIMIT=5000 EXP_ARTIFACT_CELLS=8 EXP_SET="optimizer.epochs=4" bash experiments/cell_artifact.sh
#
# Environment (and experiments/lib.sh's): EXP_BLOBS_N (default 1000000), EXP_BLOBS_D (128),
#   EXP_ARTIFACT_CELLS  K-Means cells (default 128, as large.sh)
# One seed; runs kept in experiments/out/exp_*/cell_artifact/ and resumed.
source "$(dirname "$0")/lib.sh"
EXP_BLOBS_N=${EXP_BLOBS_N:-1000000}
exp_data blobs
exp_need_matplotlib
CELLS=${EXP_ARTIFACT_CELLS:-128}
[[ $CELLS =~ ^[1-9][0-9]*$ ]] || { echo "$EXP_NAME: EXP_ARTIFACT_CELLS=$CELLS: expected a count" >&2; exit 2; }
BIG=$DATA_N
SMALL=$((BIG / 5))

# The first fifth of the rows, as data of its own: what the small runs fit and are scored on.
out=$WORK/cell_artifact$SET_TAG
mkdir -p "$out"
$PY experiments/exp_data.py slice "$DATA" "$LABELS" "$out/first_fifth" --limit "$SMALL"
XS=$out/first_fifth/blobs.npy YS=$out/first_fifth/labels.npy

# name | what changes | --set assignments ("" = none)
VARIANTS=(
    "nomad-paper.yaml|as large.sh ran it: kNN inside cells, the other cells as means|"
    "lr / 5|optimizer.lr_scale 0.02: at 1M the step of each touch as at 200k|optimizer.lr_scale=0.02"
    "edges across cells|ann.scope global (4 of 512 k-means lists searched per point): no edge cut|ann.scope=global ann.lists=512 ann.probe=4"
    "8 nearest cells exact|negatives.approx_cells nearest_exact:8: no mean near a target|negatives.approx_cells=nearest_exact:8"
    "both|edges across cells and the 8 nearest cells exact: an edge into a nearby cell meets its points, not its mean|ann.scope=global ann.lists=512 ann.probe=4 negatives.approx_cells=nearest_exact:8"
    "both, tsne loss|both, with t-SNE's one global normaliser (loss tsne, lr_scale 0.3) instead of infonce's per target|ann.scope=global ann.lists=512 ann.probe=4 negatives.approx_cells=nearest_exact:8 loss.plugin=tsne optimizer.lr_scale=0.3"
)

base=(configs/nomad-paper.yaml --set "data.path=$DATA" --set "data.labels=$LABELS" --set threads=0
      --set "partitioner.cells=$CELLS" --set ann.pca=32 --set optimizer.batch=65536 --set optimizer.epochs=100
      --set eval.enabled=false --set output.plot=false)
csv=$RESULTS/cell_artifact.csv
echo "name,change,np_small,np_big,np_big_on_small,knn_acc_big,fit_s_big" >"$csv.tmp"
for row in "${VARIANTS[@]}"; do
    IFS='|' read -r name change sets <<<"$row"
    slug=$(tr ' ./' '___' <<<"$name")
    read -r -a kvs <<<"$sets"
    extra=()
    for kv in ${kvs[@]+"${kvs[@]}"}; do extra+=(--set "$kv"); done
    echo "== $name" >&2
    exp_run "$out/$slug-small" "${base[@]}" --set "data.limit=$SMALL" ${extra[@]+"${extra[@]}"} \
        ${SETS[@]+"${SETS[@]}"} || continue
    exp_run "$out/$slug-big" "${base[@]}" ${extra[@]+"${extra[@]}"} ${SETS[@]+"${SETS[@]}"} || continue
    exp_score "$XS" "$YS" "$out/$slug-small" 42
    exp_score "$DATA" "$LABELS" "$out/$slug-big" 42
    exp_score_head "$XS" "$YS" "$out/$slug-big" "$SMALL" # the large layout's first fifth, as the small run is scored
    $PY - "$out/$slug" "$name" "$change" "$SMALL" >>"$csv.tmp" <<'PY'
import csv, json, sys
d, name, change = sys.argv[1:4]
ev = lambda p: json.load(open(p + "/eval.json"))
small, big, part = ev(d + "-small"), ev(d + "-big"), ev(d + f"-big/first_{sys.argv[4]}")
st = json.load(open(d + "-big/run.json"))["stage_seconds"]
fit = sum(st.get(k, 0.0) for k in ("plugins", "partition", "ann", "affinity", "init", "optimize"))
f = lambda m: f"{m['np']:.4f}"
csv.writer(sys.stdout).writerow([name, change, f(small), f(big), f(part), f"{big.get('knn_acc', 0):.4f}", f"{fit:.1f}"])
PY
done
mv "$csv.tmp" "$csv"

# Table, and the large layouts side by side (a sample of their points, coloured by cluster).
$PY - "$csv" "$RESULTS" "$out" "$LABELS" "Cell artifact: $DATA_TITLE and its first $SMALL rows, $CELLS cells ($(exp_stamp))" <<'PY'
import csv, os, sys
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
sys.path.insert(0, "experiments")
from exp_report import layout_panel  # noqa: E402
src, results, out, labels, title = sys.argv[1:6]
rows = list(csv.DictReader(open(src)))
md = [f"## {title}", "",
      "| variant | change from nomad-paper.yaml (large.sh's scaling) | NP@10, first fifth alone | NP@10, all | "
      "NP@10 of the same run on its first fifth | 10-NN acc, all | fit s, all |",
      "|---|---|---:|---:|---:|---:|---:|"]
for r in rows:
    md.append(f"| {r['name']} | {r['change']} | {r['np_small']} | {r['np_big']} | {r['np_big_on_small']} | "
              f"{r['knn_acc_big']} | {r['fit_s_big']} |")
md += ["", "One seed. \"First fifth alone\": fitted on the first fifth of the rows and scored there; "
       "\"all\": fitted and scored on every row; the third column scores the \"all\" layout on the first "
       "fifth's rows (their neighbours among themselves), the small run's measure. Maps: "
       "cell_artifact.png (the runs on all rows)."]
open(os.path.join(results, "cell_artifact.md"), "w").write("\n".join(md) + "\n")
y = np.load(labels)
fig, axes = plt.subplots(1, len(rows), figsize=(4 * len(rows), 4.3))
rng = np.random.default_rng(0)
for ax, r in zip(np.atleast_1d(axes), rows):
    e = np.load(os.path.join(out, r["name"].replace(" ", "_").replace(".", "_").replace("/", "_") + "-big",
                             "embedding.npy"))
    layout_panel(ax, e, y, f"{r['name']}\nNP@10 {r['np_big']} (first fifth {r['np_big_on_small']})", rng)
fig.tight_layout()
fig.savefig(os.path.join(results, "cell_artifact.png"), dpi=90)
PY
exp_publish cell_artifact
