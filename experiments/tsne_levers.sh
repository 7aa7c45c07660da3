#!/usr/bin/env bash
# Experiment 6, closing the gap to t-SNE: configs/tsne.yaml on Fashion-MNIST, and the same with
# one lever changed at a time (the loss's normaliser, learning rate, negatives, epochs, batch,
# exaggeration, annealing, cell-mean negatives, the kNN refinement, perplexity): NP@10, 10-NN
# accuracy and the fit's seconds of each, beside openTSNE's from experiments/bench/fashion_mnist.sh.
#
#   bash experiments/tsne_levers.sh                    # writes docs/results/tsne_levers.{md,csv}
#   EXP_LIMIT=5000 EXP_SET="optimizer.epochs=20" bash experiments/tsne_levers.sh   # smoke test
#
# One seed (42) per row; the runs are kept in experiments/out/exp_*/tsne_levers/ and resumed.
source "$(dirname "$0")/lib.sh"
exp_data "${EXP_DATA:-fmnist}"

# name | what changes | --set assignments ("" = none)
LEVERS=(
    "tsne.yaml|as shipped: tsne loss, lr_scale 0.3, 2048 shared negatives, 200 epochs|"
    "infonce|loss: infonce (Z per target)|loss={plugin: infonce}"
    "lr 0.2|optimizer.lr_scale 0.2|optimizer.lr_scale=0.2"
    "lr 0.4|optimizer.lr_scale 0.4|optimizer.lr_scale=0.4"
    "m 512|negatives.m 512|negatives.m=512"
    "m 512, Z alone|negatives.m 512, lr_scale 0.2, and 1/Z for every target (no max with Z_i): the divergence the max prevents|negatives.m=512 optimizer.lr_scale=0.2 loss.z_max=false"
    "m 4096|negatives.m 4096|negatives.m=4096"
    "400 epochs|optimizer.epochs 400|optimizer.epochs=400"
    "batch 16384|optimizer.batch 16384|optimizer.batch=16384"
    "early x12|early exaggeration 12 for 50 epochs|optimizer.early_exaggeration=12 optimizer.early_epochs=50"
    "early x4|early exaggeration 4 for 50 epochs|optimizer.early_exaggeration=4 optimizer.early_epochs=50"
    "hold 0|optimizer.hold 0 (anneal from the start)|optimizer.hold=0"
    "hold 0.6|optimizer.hold 0.6|optimizer.hold=0.6"
    "cell means|8 K-Means cells, 512 exact negatives from the target's cell, the others as means|partitioner={plugin: kmeans, cells: 8, sample: 4096};negatives={plugin: cluster_mean, exact: 512, group: 32, approx_cells: all_but_own, weighting: mass}"
    "refine 1|ann.refine 1 (the 45 nearest in PCA-64 kept as they are)|ann.refine=1"
    "perplexity 30|affinity.perplexity 30 on 90 neighbours (openTSNE's default)|affinity.perplexity=30 ann.k=90"
)

out=$WORK/tsne_levers$SET_TAG
csv=$RESULTS/tsne_levers.csv
echo "name,change,fit_s,optimize_s,ann_s,np,np_ci95,knn_acc" >"$csv.tmp"
for row in "${LEVERS[@]}"; do
    IFS='|' read -r name change sets <<<"$row"
    dir=$out/$(tr ' .' '__' <<<"$name")
    args=(configs/tsne.yaml --set "data.path=$DATA" --set "data.labels=$LABELS" --set threads=0
          --set output.plot=false --set eval.enabled=false)
    if [[ $sets == *"{"* ]]; then  # plugin sections hold spaces: ';' separates them
        IFS=';' read -r -a kvs <<<"$sets"
    else
        read -r -a kvs <<<"$sets"
    fi
    for kv in ${kvs[@]+"${kvs[@]}"}; do args+=(--set "$kv"); done
    echo "== $name" >&2
    exp_run "$dir" "${args[@]}" ${SETS[@]+"${SETS[@]}"} || continue
    exp_score "$DATA" "$LABELS" "$dir" 42
    $PY - "$dir" "$name" "$change" >>"$csv.tmp" <<'PY'
import csv, json, sys
d, name, change = sys.argv[1:4]
r, m = json.load(open(d + "/run.json")), json.load(open(d + "/eval.json"))
st = r["stage_seconds"]
fit = sum(st.get(k, 0.0) for k in ("plugins", "partition", "ann", "affinity", "init", "optimize"))
csv.writer(sys.stdout).writerow([name, change, f"{fit:.1f}", f"{st['optimize']:.1f}", f"{st['ann']:.1f}",
                                 f"{m['np']:.4f}", f"{m['np_ci95']:.4f}", f"{m.get('knn_acc', 0):.4f}"])
PY
done
mv "$csv.tmp" "$csv"

# openTSNE's row, where experiments/bench/fashion_mnist.sh has measured it on this machine.
peer=$ROOT/experiments/out/bench/fashion_mnist_$([[ $EXP_LIMIT -gt 0 ]] && echo "limit$EXP_LIMIT" || echo full)/opentsne
$PY - "$csv" "$RESULTS/tsne_levers.md" "$peer" "Levers towards t-SNE on $DATA_TITLE ($(exp_stamp))" <<'PY'
import csv, json, os, sys
src, md, peer, title = sys.argv[1:5]
rows = list(csv.DictReader(open(src)))
out = [f"## {title}", "", "| lever | change from configs/tsne.yaml | fit s | NP@10 | 10-NN acc |", "|---|---|---:|---:|---:|"]
for r in rows:
    out.append(f"| {r['name']} | {r['change']} | {float(r['fit_s']):.1f} | {r['np']} ± {r['np_ci95']} | {r['knn_acc']} |")
if os.path.exists(peer + "/eval.json") and os.path.exists(peer + "/peer.json"):
    m, p = json.load(open(peer + "/eval.json")), json.load(open(peer + "/peer.json"))
    out.append(f"| openTSNE {p.get('version', '')} | its defaults (FFT gradients, 750 iterations), from "
               f"experiments/bench/fashion_mnist.sh | {p['seconds']:.1f} | {m['np']:.4f} ± {m['np_ci95']:.4f} | "
               f"{m.get('knn_acc', 0):.4f} |")
out += ["", "One seed per row; fit s = every stage but loading, scoring and writing (seconds vary by up "
        "to a third between runs on this VM). NP@10 and 10-NN accuracy as everywhere on this page."]
open(md, "w").write("\n".join(out) + "\n")
PY
cat "$RESULTS/tsne_levers.md"
[[ -n $DOC && -f $DOC ]] && $PY experiments/exp_report.py fill-doc "$DOC" tsne_levers "$RESULTS/tsne_levers.md"
echo "(written to ${RESULTS#$ROOT/}/tsne_levers.md)" >&2
