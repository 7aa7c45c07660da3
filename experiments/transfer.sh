#!/usr/bin/env bash
# Experiment 6b, transfer (issue 14, item 1): the t-SNE-class configs were tuned on
# Fashion-MNIST (70,000 x 784, bytes). Do they hold, as shipped, on data of another size,
# width and type? Each shipped t-SNE-class config and openTSNE 1.0.4 (its defaults) on:
#   - digits: scikit-learn's digits, 1,797 x 64, float64 (fewer points than one batch);
#   - blobs-f16: 50,000 x 32 generated manifold blobs (20 clusters on an 8-d manifold, seed 1:
#     not the shape of the tuning runs' blobs), stored as float16.
# Every layout is scored by `nomad eval` on the same queries (experiments/lib.sh's exp_score).
#
#   bash experiments/transfer.sh     # about 10 min on 2 cores, most of it openTSNE
#   EXP_SET="optimizer.epochs=20" bash experiments/transfer.sh   # a quick look (its own folder)
#
# Environment (and experiments/lib.sh's): EXP_TRANSFER_N rows of the generated set (default
#   50000), EXP_OPENTSNE=0 (no openTSNE rows: smoke runs), PEERS_VENV (as fashion_mnist.sh).
# One seed; finished fits are kept in experiments/out/exp_*/transfer/ and not redone.
source "$(dirname "$0")/lib.sh"
exp_need_matplotlib
BN=${EXP_TRANSFER_N:-50000}
[[ $BN =~ ^[1-9][0-9]*$ ]] || { echo "$EXP_NAME: EXP_TRANSFER_N=$BN: expected a row count" >&2; exit 2; }
OPENTSNE=${EXP_OPENTSNE:-1}
out=$WORK/transfer$SET_TAG
mkdir -p "$out/data"

[[ $OPENTSNE != 0 ]] && exp_opentsne_venv

$PY experiments/exp_data.py digits "$out/data/digits"
blobs=$out/data/blobs_${BN}x32_s1
if [[ ! -f $blobs.npy || ! -f ${blobs}_labels.npy ]]; then
    $PY experiments/make_manifold_blobs.py "$BN" 32 "$blobs.f32.npy" --labels "${blobs}_labels.npy" --seed 1 \
        --clusters 20 --intrinsic 8 >&2
    $PY experiments/exp_data.py half "$blobs.f32.npy" "$blobs.npy"
    rm -f "$blobs.f32.npy"
fi
# name | data | labels | description
SETS_DATA=(
    "digits|$out/data/digits/digits.npy|$out/data/digits/labels.npy|scikit-learn digits, 1,797 x 64, float64"
    "blobs-f16|$blobs.npy|${blobs}_labels.npy|manifold blobs, $BN x 32, float16 (20 clusters, 8-d manifold)"
)
CONFIGS=(nomad infonce-tsne tsne)

csv=$RESULTS/transfer.csv
echo "data,description,method,fit_s,np,knn_acc" >"$csv.tmp"
for row in "${SETS_DATA[@]}"; do
    IFS='|' read -r name x y desc <<<"$row"
    for c in "${CONFIGS[@]}"; do
        echo "== $name: $c.yaml" >&2
        exp_run "$out/$name-$c" "configs/$c.yaml" --set "data.path=$x" --set "data.labels=$y" \
            --set eval.enabled=false --set output.plot=false ${SETS[@]+"${SETS[@]}"} || continue
        exp_score "$x" "$y" "$out/$name-$c" 42
    done
    if [[ $OPENTSNE != 0 ]]; then
        echo "== $name: openTSNE" >&2
        exp_opentsne "$out/$name-opentsne" "$x" "$y"
    fi
    $PY - "$out" "$name" "$desc" "${CONFIGS[@]}" opentsne >>"$csv.tmp" <<'PY'
import csv, json, os, sys
sys.path.insert(0, "experiments")
from exp_report import fit_seconds  # noqa: E402
out, name, desc, methods = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
w = csv.writer(sys.stdout)
for m in methods:
    d = os.path.join(out, f"{name}-{m}")
    if not os.path.exists(d + "/eval.json"):
        continue
    ev = json.load(open(d + "/eval.json"))
    w.writerow([name, desc, m, f"{fit_seconds(d):.2f}", f"{ev['np']:.4f}", f"{ev.get('knn_acc', 0):.4f}"])
PY
done
mv "$csv.tmp" "$csv"

$PY - "$csv" "$RESULTS" "$out" "Transfer: the t-SNE-class configs on data they were not tuned on ($(exp_stamp))" \
    "${SETS_DATA[@]}" <<'PY'
import csv, os, sys
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
sys.path.insert(0, "experiments")
from exp_report import layout_panel  # noqa: E402
src, results, out, title = sys.argv[1:5]
labels = {r.split("|")[0]: r.split("|")[2] for r in sys.argv[5:]}
rows = list(csv.DictReader(open(src)))
ref = {r["data"]: r for r in rows if r["method"] == "opentsne"}
name = lambda m: "openTSNE 1.0.4, defaults" if m == "opentsne" else f"configs/{m}.yaml"
md = [f"## {title}", "",
      "| data | method | fit s | NP@10 | NP@10 less openTSNE's | 10-NN acc | openTSNE's time / this |",
      "|---|---|---:|---:|---:|---:|---:|"]
for r in rows:
    o = ref.get(r["data"])
    gap = f"{float(r['np']) - float(o['np']):+.4f}" if o and r["method"] != "opentsne" else ""
    speed = f"{float(o['fit_s']) / float(r['fit_s']):.1f}x" if o and r["method"] != "opentsne" else ""
    md.append(f"| {r['description']} | {name(r['method'])} | {r['fit_s']} | {r['np']} | {gap} | {r['knn_acc']} | {speed} |")
md += ["", "One seed each, the configs as shipped (only data.path and data.labels set); every layout scored "
       "by `nomad eval` (NP@10 and 10-NN accuracy on up to 5,000 queries, seed 42). Fit s: every stage "
       "but loading, scoring and writing for nomad; openTSNE's fit() for openTSNE."]
open(os.path.join(results, "transfer.md"), "w").write("\n".join(md) + "\n")
data = sorted({r["data"] for r in rows}, key=[r["data"] for r in rows].index)
methods = sorted({r["method"] for r in rows}, key=[r["method"] for r in rows].index)
fig, axes = plt.subplots(len(data), len(methods), figsize=(3.6 * len(methods), 3.8 * len(data)), squeeze=False)
rng = np.random.default_rng(0)
for i, dname in enumerate(data):
    y = np.load(labels[dname])
    for j, m in enumerate(methods):
        ax = axes[i][j]
        ax.set_xticks([]), ax.set_yticks([])
        r = next((r for r in rows if r["data"] == dname and r["method"] == m), None)
        if r is None:
            continue
        e = np.load(os.path.join(out, f"{dname}-{m}", "embedding.npy"))
        layout_panel(ax, e, y, f"{dname}: {name(m)}\nNP@10 {r['np']}", rng)
fig.tight_layout()
fig.savefig(os.path.join(results, "transfer.png"), dpi=90)
PY
exp_publish transfer
