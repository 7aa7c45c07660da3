#!/usr/bin/env bash
# Experiment 5, the paper's headline figure: quality (NP@10) against fit wall time for every
# method of experiments/methods.sh, per data set, from its methods.csv (nothing is re-run).
#
#   bash experiments/quality_time.sh          # reads docs/results/methods.csv, writes quality_time.{md,png}
#   EXP_LIMIT=5000 bash experiments/quality_time.sh   # reads and writes experiments/out/results_limit5000/
#
# Environment: the shared knobs of experiments/lib.sh (EXP_LIMIT and EXP_RESULTS choose the folder).
source "$(dirname "$0")/lib.sh"
CSV=$RESULTS/methods.csv
if [[ ! -f $CSV ]]; then
    echo "quality_time.sh: ${CSV#$ROOT/}: not found; run experiments/methods.sh first (with the same EXP_LIMIT)" >&2
    exit 2
fi
exp_need_matplotlib
# the day methods.sh ran, from its table's title (a clone's file times are its checkout's)
RAN=$(grep -om1 '20[0-9][0-9]-[01][0-9]-[0-3][0-9]' "$RESULTS/methods.md" 2>/dev/null || date -u -r "$CSV" +%Y-%m-%d)
$PY experiments/exp_report.py quality-time "$CSV" --md "$RESULTS/quality_time.md" --png "$RESULTS/quality_time.png" \
    --title "Quality against fit time (from methods.csv of $RAN)"
exp_publish quality_time
