#!/usr/bin/env bash
# Experiment 7b, the scale control (issue 14, item 2): does t-SNE itself keep its NP@10 from
# 200,000 to 1,000,000 points? nomad.yaml as experiments/bench/large.sh scales it (for its time
# budget), nomad.yaml as shipped, and openTSNE 1.0.4 with its defaults (perplexity 30, 750 iterations, FFT gradients, all cores),
# each fitted on the 1,000,000 x 128 manifold blobs and on their first fifth. Each large layout
# is scored twice, as in cell_artifact.sh: against all its points, and on its first fifth alone
# (the small run's points and neighbourhood scale).
#
#   bash experiments/scale_control.sh   # about 2 h on 2 cores, most of it openTSNE at 1M
#   EXP_BLOBS_N=20000 EXP_LIMIT=20000 bash experiments/scale_control.sh   # a smoke run
#
# Environment (and experiments/lib.sh's): EXP_BLOBS_N (default 1000000), EXP_BLOBS_D (128),
#   LARGE_SET   nomad.yaml's scaling (default: experiments/bench/large_set.txt, as large.sh),
#   EXP_OPENTSNE=0 (no openTSNE rows: smoke runs), PEERS_VENV (as fashion_mnist.sh).
# One seed; finished fits are kept in experiments/out/exp_*/scale_control/ and not redone.
source "$(dirname "$0")/lib.sh"
EXP_BLOBS_N=${EXP_BLOBS_N:-1000000}
exp_data blobs
exp_need_matplotlib
BIG=$DATA_N
SMALL=$((BIG / 5))
LARGE_SET=${LARGE_SET:-$(<experiments/bench/large_set.txt)}

OPENTSNE=${EXP_OPENTSNE:-1}
[[ $OPENTSNE != 0 ]] && exp_opentsne_venv

out=$WORK/scale_control$SET_TAG
mkdir -p "$out"
$PY experiments/exp_data.py slice "$DATA" "$LABELS" "$out/first_fifth" --limit "$SMALL"
XS=$out/first_fifth/blobs.npy YS=$out/first_fifth/labels.npy

scale=()
for kv in $LARGE_SET; do scale+=(--set "$kv"); done
nomad_fit() { # nomad_fit DIR DATA LABELS: large.sh's scaling
    exp_run "$1" configs/nomad.yaml --set "data.path=$2" --set "data.labels=$3" --set threads=0 "${scale[@]}" \
        --set eval.enabled=false --set output.plot=false ${SETS[@]+"${SETS[@]}"}
}
shipped_fit() { # shipped_fit DIR DATA LABELS: nomad.yaml as it ships, as openTSNE runs with its defaults
    exp_run "$1" configs/nomad.yaml --set "data.path=$2" --set "data.labels=$3" --set threads=0 \
        --set eval.enabled=false --set output.plot=false ${SETS[@]+"${SETS[@]}"}
}
csv=$RESULTS/scale_control.csv
echo "method,fit_s_small,np_small,fit_s_big,np_big,np_big_on_small,knn_acc_small,knn_acc_big" >"$csv.tmp"
methods=(nomad shipped)
[[ $OPENTSNE != 0 ]] && methods+=(opentsne)
for method in "${methods[@]}"; do
    echo "== $method: $SMALL rows, then $BIG" >&2
    if [[ $method == opentsne ]]; then
        exp_opentsne "$out/$method-small" "$XS" "$YS"
        exp_opentsne "$out/$method-big" "$DATA" "$LABELS"
    else
        "${method}_fit" "$out/$method-small" "$XS" "$YS" || continue
        "${method}_fit" "$out/$method-big" "$DATA" "$LABELS" || continue
        exp_score "$XS" "$YS" "$out/$method-small" 42
        exp_score "$DATA" "$LABELS" "$out/$method-big" 42
    fi
    exp_score_head "$XS" "$YS" "$out/$method-big" "$SMALL"
    $PY - "$out/$method" "$method" "$SMALL" >>"$csv.tmp" <<'PY'
import csv, json, sys
sys.path.insert(0, "experiments")
from exp_report import fit_seconds as fit_s  # noqa: E402
d, method = sys.argv[1:3]
ev = lambda p: json.load(open(p + "/eval.json"))
small, big, part = ev(d + "-small"), ev(d + "-big"), ev(d + f"-big/first_{sys.argv[3]}")
f = lambda v: f"{v:.4f}"
csv.writer(sys.stdout).writerow([method, f"{fit_s(d + '-small'):.1f}", f(small["np"]), f"{fit_s(d + '-big'):.1f}",
                                 f(big["np"]), f(part["np"]), f(small.get("knn_acc", 0)), f(big.get("knn_acc", 0))])
PY
done
mv "$csv.tmp" "$csv"

$PY - "$csv" "$RESULTS" "$SMALL" "$BIG" "$LARGE_SET" \
    "Scale control: $DATA_TITLE and its first $SMALL rows ($(exp_stamp))" "$out" "$LABELS" <<'PY'
import csv, os, sys
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
sys.path.insert(0, "experiments")
from exp_report import layout_panel  # noqa: E402
src, results, small, big, large_set, title, out, labels = sys.argv[1:9]
md_path = os.path.join(results, "scale_control.md")
names = {"nomad": f"nomad.yaml + {large_set} (large.sh)", "shipped": "nomad.yaml as shipped",
         "opentsne": "openTSNE 1.0.4, defaults"}
short = {"nomad": "nomad.yaml, large.sh's scaling", "shipped": "nomad.yaml as shipped", "opentsne": "openTSNE"}
md = [f"## {title}", "",
      f"| method | fit s, {small} | NP@10, {small} | fit s, {big} | NP@10, {big} (all) | "
      f"NP@10, {big} on its first {small} | fall (first fifth) | 10-NN acc, {small} / {big} |",
      "|---|---:|---:|---:|---:|---:|---:|---:|"]
for r in csv.DictReader(open(src)):
    fall = float(r["np_small"]) - float(r["np_big_on_small"])
    md.append(f"| {names.get(r['method'], r['method'])} | {r['fit_s_small']} | {r['np_small']} | {r['fit_s_big']} | "
              f"{r['np_big']} | {r['np_big_on_small']} | {fall:.4f} | {r['knn_acc_small']} / {r['knn_acc_big']} |")
md += ["", "One seed each. The small runs are fitted and scored on the first fifth of the rows; the large ones "
       "on all rows, then scored again on the first fifth's rows alone (their neighbours among themselves), "
       "the small run's measure. \"Fall\" is the small run's NP@10 less that score: the issue asks for at "
       "most 0.03."]
open(md_path, "w").write("\n".join(md) + "\n")
# The four layouts, a sample of each coloured by cluster: small runs above, large below.
y = np.load(labels)
rows = list(csv.DictReader(open(src)))
fig, axes = plt.subplots(2, len(rows), figsize=(4.5 * len(rows), 8.6), squeeze=False)
rng = np.random.default_rng(0)
for c, r in enumerate(rows):
    for a, (size, np_key) in enumerate((("small", "np_small"), ("big", "np_big"))):
        e = np.load(os.path.join(out, f"{r['method']}-{size}", "embedding.npy"))
        layout_panel(axes[a][c], e, y, f"{short[r['method']]}\n{len(e)} points: NP@10 {r[np_key]}", rng)
fig.tight_layout()
fig.savefig(os.path.join(results, "scale_control.png"), dpi=90)
PY
exp_publish scale_control
