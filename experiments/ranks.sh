#!/usr/bin/env bash
# Experiment 4, ranks: the paper's claim that quality is kept as the data are split. The same
# data and configs/nomad.yaml under `mpirun -np R nomad run` (distributed.backend: mpi) for
# R = 1, 2, 4 ranks: NP@10, triplet and 10-NN accuracy. Two negative schemes: the config's
# own (approx_cells: all_but_own, weighting: mass; its meaning does not depend on R) and the
# reference code's (approx_cells: remote, unweighted: cells on other ranks become means, so
# the approximation grows with R).
#
#   bash experiments/ranks.sh                          # writes docs/results/ranks.{md,csv,png}
#   EXP_LIMIT=5000 EXP_SEEDS=1 EXP_SET="optimizer.epochs=20" bash experiments/ranks.sh    # smoke test
#
# Exit status 77 (skipped) with a "needs the MPI back end" message when mpirun is missing or
# this nomad cannot run `distributed.backend: mpi` (built without MPI).
#
# Environment (and the shared knobs of experiments/lib.sh: EXP_LIMIT, EXP_SET, EXP_DATA, ...):
#   EXP_SEEDS=3                 runs per setting (seeds 42, 43, 44)
#   EXP_RANKS="1 2 4"           the rank counts; each rank runs max(1, cores / R) threads
#   EXP_RANKS_VARIANTS="nomad reference"   which negative schemes
#   EXP_MPIRUN="mpirun --allow-run-as-root --oversubscribe"   the launcher (Open MPI)
# Runs are kept in experiments/out/exp_*/ranks/ and not run again when their command is the same.
source "$(dirname "$0")/lib.sh"
RANKS=${EXP_RANKS:-"1 2 4"}
VARIANTS=${EXP_RANKS_VARIANTS:-"nomad reference"}
SEEDS=$(exp_seeds 3)
read -ra MPIRUN <<<"${EXP_MPIRUN:-mpirun --allow-run-as-root --oversubscribe}"
CORES=$(nproc)

needs_mpi() {
    echo "ranks.sh: needs the MPI back end (distributed.backend: mpi): $1; skipped" >&2
    exit 77
}
command -v "${MPIRUN[0]}" >/dev/null ||
    needs_mpi "no ${MPIRUN[0]} on PATH (apt-get install openmpi-bin libopenmpi-dev, then rebuild nomad)"
exp_need_matplotlib
exp_data "${EXP_DATA:-fmnist}"
out=$WORK/ranks/${EXP_DATA:-fmnist}
mkdir -p "$out"

# Does this nomad run on 2 MPI ranks at all? (A tiny run: 1,000 rows, one epoch.)
probe=$out/.probe
rm -rf "$probe" "$probe.err"
probe_rc=0
timeout 300 "${MPIRUN[@]}" -np 2 "$NOMAD" run configs/nomad.yaml --set distributed.backend=mpi \
    --set "data.path=$DATA" --set "data.labels=$LABELS" --set data.limit=1000 --set optimizer.epochs=1 \
    --set threads=1 --set eval.enabled=false --set output.plot=false --out "$probe" --quiet 2>"$probe.err" || probe_rc=$?
if [[ $probe_rc -ne 0 ]]; then
    why=$(grep -m1 '^nomad: error' "$probe.err" || true)
    rm -rf "$probe"
    # nomad's own error that is not about MPI (a config this binary does not know, ...) is a failure.
    if [[ -n $why && $why != *distributed.backend* && $why != *MPI* ]]; then
        echo "ranks.sh: a 2-rank test run failed: $why" >&2
        exit 1
    fi
    last=$(tail -n1 "$probe.err")
    needs_mpi "a 2-rank test run failed: ${why:-${last:-${MPIRUN[0]} exited with status $probe_rc and no message}}"
fi
rm -rf "$probe" "$probe.err"

failed=0
for v in $VARIANTS; do
    case $v in
        nomad) VSETS=() ;;
        reference) VSETS=(--set negatives.approx_cells=remote --set negatives.weighting=unweighted) ;;
        *) echo "ranks.sh: unknown variant '$v' in EXP_RANKS_VARIANTS (nomad, reference)" >&2; exit 2 ;;
    esac
    for r in $RANKS; do
        threads=$((CORES / r > 1 ? CORES / r : 1))
        for seed in $SEEDS; do
            d=$out/$v/np$r/seed$seed
            echo "== $DATA_TITLE: $v, $r rank(s) x $threads thread(s), seed $seed" >&2
            if ! exp_run "$d" "${MPIRUN[@]}" -np "$r" -- configs/nomad.yaml --set distributed.backend=mpi \
                --set "threads=$threads" --set "seed=$seed" --set "data.path=$DATA" --set "data.labels=$LABELS" \
                --set output.plot=false ${VSETS[@]+"${VSETS[@]}"} ${SETS[@]+"${SETS[@]}"}; then
                failed=$((failed + 1))  # recorded in $d/error.txt
            fi
        done
    done
done

$PY experiments/exp_report.py ranks "$out" --csv "$RESULTS/ranks.csv" --md "$RESULTS/ranks.md" \
    --png "$RESULTS/ranks.png" --seeds $SEEDS --ranks $RANKS --variants $VARIANTS \
    --variant nomad "NOMAD (configs/nomad.yaml: all_but_own, mass)" \
    --variant reference "reference R~ (remote, unweighted)" \
    --title "Ranks: the same data split over MPI ranks, on $DATA_TITLE ($(exp_stamp))"
exp_publish ranks
[[ $failed -eq 0 ]] || { echo "ranks.sh: $failed run(s) failed" >&2; exit 1; }
