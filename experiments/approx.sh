#!/usr/bin/env bash
# Experiment 3, R~: which cells configs/nomad.yaml replaces by their means
# (negatives.approx_cells = remote / all_but_own / all / none / nearest_exact:2 / nearest_exact:4),
# how the means are weighted (unweighted / mass), and how many exact negatives each target
# gets (32, 64, 128, 256), on 16 K-Means cells: NP@10, triplet, 10-NN accuracy, time.
#
#   bash experiments/approx.sh                         # writes docs/results/approx.{md,png} (+ 2 CSVs)
#   EXP_LIMIT=5000 EXP_SEEDS=1 EXP_SET="optimizer.epochs=20" bash experiments/approx.sh  # smoke test
#
# Environment (and the shared knobs of experiments/lib.sh: EXP_LIMIT, EXP_SET, EXP_DATA, ...):
#   EXP_SEEDS=3             runs per setting (seeds 42, 43, 44)
#   EXP_APPROX_CELLS=16     |R| (partitioner.cells)
#   EXP_APPROX=remote,...   the approx_cells values
#   EXP_EXACT=32,64,128,256 the exact-negative counts (run with the config's approx_cells)
# Two sweeps (R~ x weighting, exact x weighting), kept in experiments/out/exp_*/approx/<data>/
# (<data>-set-<hash> with EXP_SET) and resumed when started again.
source "$(dirname "$0")/lib.sh"
NCELLS=${EXP_APPROX_CELLS:-16}
APPROX=${EXP_APPROX:-remote,all_but_own,all,none,nearest_exact:2,nearest_exact:4}
EXACT=${EXP_EXACT:-32,64,128,256}
SEEDS=$(exp_seeds 3 | wc -l)
exp_need_matplotlib
exp_data "${EXP_DATA:-fmnist}"

out=$WORK/approx/${EXP_DATA:-fmnist}$SET_TAG
common=(--seeds "$SEEDS" --set "data.path=$DATA" --set "data.labels=$LABELS" --set "partitioner.cells=$NCELLS"
    --set threads=0 --set output.plot=false ${SETS[@]+"${SETS[@]}"})
echo "== $DATA_TITLE, $NCELLS cells: approx_cells x weighting, $SEEDS seed(s), in ${out#$ROOT/}/rtilde" >&2
exp_sweep "$out/rtilde" configs/nomad.yaml --grid "negatives.approx_cells=$APPROX" \
    --grid negatives.weighting=unweighted,mass "${common[@]}"
echo "== $DATA_TITLE, $NCELLS cells: exact x weighting, $SEEDS seed(s), in ${out#$ROOT/}/exact" >&2
exp_sweep "$out/exact" configs/nomad.yaml --grid "negatives.exact=$EXACT" \
    --grid negatives.weighting=unweighted,mass "${common[@]}"

for s in rtilde exact; do
    cp "$out/$s/results.csv" "$RESULTS/approx_$s.csv.tmp" && mv "$RESULTS/approx_$s.csv.tmp" "$RESULTS/approx_$s.csv"
done
# approx_cells of the exact sweep, as its runs resolved it (the config's value)
exact_approx=$($PY -c 'import glob, json, sys
runs = sorted(glob.glob(sys.argv[1] + "/*/run.json"))
print(json.load(open(runs[0]))["config"]["negatives"]["approx_cells"] if runs else "as in configs/nomad.yaml")' "$out/exact")
$PY experiments/exp_report.py approx "$RESULTS/approx_rtilde.csv" "$RESULTS/approx_exact.csv" --exact-approx "$exact_approx" \
    --md "$RESULTS/approx.md" --png "$RESULTS/approx.png" \
    --title "R~: approximated cells, weighting and exact negatives, on $DATA_TITLE with $NCELLS cells ($(exp_stamp))"
exp_publish approx
