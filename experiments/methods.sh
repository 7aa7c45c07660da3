#!/usr/bin/env bash
# Experiment 1, methods: NOMAD (configs/nomad.yaml: K-Means cells, cluster-mean negatives)
# against exact InfoNC-t-SNE, Neg-t-SNE and UMAP forces (the same optimizer loop, one cell, no
# approximation) and the peers umap-learn and scikit-learn TSNE, on Fashion-MNIST and on a
# larger generated set (manifold blobs, 200,000 x 128). Every layout is scored by the same
# `nomad eval` (NP@10, triplet, 10-NN accuracy); fit time is measured per method.
#
#   bash experiments/methods.sh                        # writes docs/results/methods.{md,csv,png}
#   EXP_LIMIT=5000 EXP_SET="optimizer.epochs=20" bash experiments/methods.sh   # smoke test
#
# Environment (and the shared knobs of experiments/lib.sh: EXP_LIMIT, EXP_SEEDS, EXP_SET, ...):
#   EXP_SEEDS=1         runs per method (default 1: sklearn TSNE takes ~16 min on Fashion-MNIST)
#   EXP_METHODS="..."   a subset of: nomad infonce-tsne neg-tsne umap-forces umap-learn sklearn-tsne
#   EXP_DATASETS="..."  a subset of: fmnist blobs (default both)
#   EXP_TSNE_MAX_N=N    skip sklearn TSNE on data sets of more than N rows (default 100000; 0 = never skip)
# Runs are kept in experiments/out/exp_*/methods/ and not run again when their command is the
# same (delete the folder to start over). Tables: methods.md (printed), methods.csv (read by
# quality_time.sh); figures: methods.png (bars), methods_maps.png (the layouts).
source "$(dirname "$0")/lib.sh"
METHODS=${EXP_METHODS:-"nomad infonce-tsne neg-tsne umap-forces umap-learn sklearn-tsne"}
DATASETS=${EXP_DATASETS:-"fmnist blobs"}
TSNE_MAX_N=${EXP_TSNE_MAX_N:-100000}
SEEDS=$(exp_seeds 1)
for m in $METHODS; do
    case $m in nomad | infonce-tsne | neg-tsne | umap-forces | umap-learn | sklearn-tsne) ;;
        *) echo "methods.sh: unknown method '$m' in EXP_METHODS" >&2; exit 2 ;;
    esac
done
if [[ " $METHODS " == *" umap-learn "* || " $METHODS " == *" sklearn-tsne "* ]] \
    && ! $PY -c 'import umap, sklearn' 2>/dev/null; then
    echo "installing Debian's umap-learn (needs root)" >&2
    apt-get install -y umap-learn >&2
fi
exp_need_matplotlib

# Why sklearn TSNE is skipped on large sets (the rule is N > EXP_TSNE_MAX_N).
TSNE_SKIP="more than $TSNE_MAX_N rows (EXP_TSNE_MAX_N). sklearn TSNE (Barnes-Hut, 1,000 iterations) \
took 953 s on the 70,000 Fashion-MNIST rows on 2 cores (experiments/bench/results/fashion_mnist.md) and its \
cost grows about as N log N, so 200,000 rows would take about 50 minutes, more than the 30 allowed here; \
EXP_TSNE_MAX_N=0 runs it anyway."

failed=0
for ds in $DATASETS; do
    exp_data "$ds"
    out=$WORK/methods/$ds
    mkdir -p "$out"
    $PY - "$out/dataset.json" "$ds" "$DATA_TITLE" "$DATA_N" "$DATA_D" "$DATA" "$LABELS" <<'PY'
import json, os, sys
path, name, title, n, d, data, labels = sys.argv[1:]
with open(path + ".tmp", "w") as f:
    json.dump({"name": name, "title": title, "n": int(n), "d": int(d), "data": data, "labels": labels}, f, indent=1)
os.replace(path + ".tmp", path)
PY
    for m in $METHODS; do
        for seed in $SEEDS; do
            d=$out/$m/seed$seed
            echo "== $DATA_TITLE: $m, seed $seed" >&2
            case $m in
                umap-learn | sklearn-tsne)
                    if [[ $m == sklearn-tsne && $TSNE_MAX_N -gt 0 && $DATA_N -gt $TSNE_MAX_N ]]; then
                        rm -rf "$d" && mkdir -p "$d" && echo "$TSNE_SKIP" >"$d/skipped.txt"
                        echo "   skipped: $TSNE_SKIP" >&2
                        continue
                    fi
                    peer=${m%%-*}
                    [[ $peer == sklearn ]] && peer=tsne
                    cmd="exp_peers.py $peer $DATA --seed $seed"
                    if [[ ! -f $d/peer.json || ! -f $d/cmd.txt || $(cat "$d/cmd.txt") != "$cmd" ]]; then
                        rm -rf "$d" "$d.tmp" && mkdir -p "$d.tmp"
                        rc=0
                        $PY experiments/exp_peers.py "$peer" "$DATA" "$d.tmp/embedding.npy" "$d.tmp/peer.json" \
                            --seed "$seed" || rc=$?
                        [[ $rc -eq 0 ]] && echo "$cmd" >"$d.tmp/cmd.txt"
                        mv "$d.tmp" "$d"
                        [[ $rc -eq 0 ]] || echo "$m failed (exit status $rc; see the log above)" >"$d/error.txt"
                    else
                        echo "   (done before: ${d#$ROOT/})" >&2
                    fi ;;
                *)
                    # eval.enabled=false: every layout is scored below by the same `nomad eval`.
                    exp_run "$d" "configs/$m.yaml" --set "data.path=$DATA" --set "data.labels=$LABELS" \
                        --set "seed=$seed" --set threads=0 --set eval.enabled=false --set output.plot=false \
                        ${SETS[@]+"${SETS[@]}"} || true ;;  # a failure is recorded in $d/error.txt
            esac
            if [[ -f $d/error.txt ]]; then
                failed=$((failed + 1))
            else
                exp_score "$DATA" "$LABELS" "$d" "$seed"
            fi
        done
    done
done

$PY experiments/exp_report.py methods "$WORK/methods" --csv "$RESULTS/methods.csv" --md "$RESULTS/methods.md" \
    --png "$RESULTS/methods.png" --maps "$RESULTS/methods_maps.png" --seeds $SEEDS \
    --title "Methods: quality and fit time ($(exp_stamp))"
exp_publish methods
[[ $failed -eq 0 ]] || { echo "methods.sh: $failed run(s) failed" >&2; exit 1; }
