#!/usr/bin/env bash
# Every experiment of docs/results.md, in order: methods, cells (|R|), approx (R~), ranks,
# quality_time (from methods' table), tsne_levers, transfer, cell_artifact, scale_control. Each writes its table and
# figure under docs/results/ and its table into docs/results.md. Environment knobs (EXP_LIMIT,
# EXP_SEEDS, EXP_SET, ...) go to every script; see experiments/lib.sh.
#
#   bash experiments/run_all.sh                  # full scale (hours on 2 cores; see docs/results.md)
#   EXP_LIMIT=5000 EXP_SEEDS=1 EXP_SET="optimizer.epochs=20" bash experiments/run_all.sh   # smoke test
#
# A script that fails does not stop the others; the exit status is 1 if any failed. ranks.sh
# exits 77 (skipped) when nomad has no MPI back end.
set -euo pipefail
cd "$(dirname "$0")/.."
status=()
rc_all=0
for exp in methods cells approx ranks quality_time tsne_levers transfer cell_artifact scale_control; do
    echo "==== experiments/$exp.sh" >&2
    start=$SECONDS
    rc=0
    bash "experiments/$exp.sh" || rc=$?
    took=$((SECONDS - start))
    case $rc in
        0) status+=("$exp: ok (${took} s)") ;;
        77) status+=("$exp: skipped (${took} s)") ;;
        *) status+=("$exp: FAILED, exit $rc (${took} s)"); rc_all=1 ;;
    esac
done
printf '%s\n' "${status[@]}" >&2
exit $rc_all
