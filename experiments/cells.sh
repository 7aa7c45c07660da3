#!/usr/bin/env bash
# Experiment 2, |R|: configs/nomad.yaml with 1, 2, 4, ..., 128 K-Means cells, through
# `nomad sweep --grid partitioner.cells=...`: the share of kNN edges kept inside cells, the
# kNN graph's recall, NP@10, triplet and 10-NN accuracy, and the time of every stage.
#
#   bash experiments/cells.sh                          # writes docs/results/cells.{md,csv,png}
#   EXP_LIMIT=5000 EXP_SEEDS=1 EXP_SET="optimizer.epochs=20" bash experiments/cells.sh   # smoke test
#
# Environment (and the shared knobs of experiments/lib.sh: EXP_LIMIT, EXP_SET, EXP_DATA, ...):
#   EXP_SEEDS=3           runs per |R| (seeds 42, 43, 44)
#   EXP_CELLS=1,2,...,128 the |R| values
# The sweep (run folders, results.csv, results.md) is kept in experiments/out/exp_*/cells/<data>/
# (<data>-set-<hash> with EXP_SET) and resumed when started again.
source "$(dirname "$0")/lib.sh"
CELLS=${EXP_CELLS:-1,2,4,8,16,32,64,128}
SEEDS=$(exp_seeds 3 | wc -l)
exp_need_matplotlib
exp_data "${EXP_DATA:-fmnist}"

out=$WORK/cells/${EXP_DATA:-fmnist}$SET_TAG
echo "== $DATA_TITLE: |R| = $CELLS, $SEEDS seed(s), in ${out#$ROOT/}" >&2
exp_sweep "$out" configs/nomad.yaml --grid "partitioner.cells=$CELLS" --seeds "$SEEDS" \
    --set "data.path=$DATA" --set "data.labels=$LABELS" --set threads=0 --set output.plot=false \
    ${SETS[@]+"${SETS[@]}"}

cp "$out/results.csv" "$RESULTS/cells.csv.tmp" && mv "$RESULTS/cells.csv.tmp" "$RESULTS/cells.csv"
$PY experiments/exp_report.py cells "$RESULTS/cells.csv" --md "$RESULTS/cells.md" --png "$RESULTS/cells.png" \
    --title "|R|: the number of cells, on $DATA_TITLE ($(exp_stamp))"
exp_publish cells
