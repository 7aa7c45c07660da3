#!/usr/bin/env bash
# Scale-out on one machine: the same Fashion-MNIST fit with 1 and 2 MPI ranks (one thread each,
# so ranks are the only parallelism), and what the ranks exchange: bytes per optimiser step and
# per run, time inside collectives, load imbalance. Prints a Markdown table and writes it to
# experiments/bench/results/scaling.md. docs/scaling.md turns the per-step numbers into a model
# of time per epoch for 8-128 GPUs.
#
#   bash experiments/bench/scaling.sh [--set key=value]...   # extra args go to every `nomad run`
#
# Environment:
#   BENCH_RANKS="1 2"   rank counts to run (mpirun -np; more ranks than cores oversubscribes)
#   BENCH_LIMIT=N       first N rows only (smoke test; the table then goes to experiments/out/)
#   BENCH_EPOCHS=50     epochs of every fit
#   BENCH_MD=FILE       where the table goes
#   NOMAD=path          the nomad binary (default build/nomad, built with MPI if missing)
#   MPIEXEC="mpirun"    the launch command (Open MPI as root also needs --allow-run-as-root)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=/usr/bin/python3
RANKS=${BENCH_RANKS:-"1 2"}
LIMIT=${BENCH_LIMIT:-0}
EPOCHS=${BENCH_EPOCHS:-50}
NOMAD=${NOMAD:-build/nomad}
if [[ ! -x $NOMAD && $NOMAD == build/nomad ]]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOMAD_MPI=ON
    cmake --build build -j"$(nproc)"
fi
[[ -x $NOMAD ]] || { echo "scaling.sh: $NOMAD: no such program" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "scaling.sh: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 2; }
if [[ -z ${MPIEXEC:-} ]]; then
    MPIEXEC="mpirun --oversubscribe"
    [[ $(id -u) -eq 0 ]] && MPIEXEC+=" --allow-run-as-root"
fi
read -ra LAUNCH <<<"$MPIEXEC"
if [[ $LIMIT -gt 0 ]]; then
    TAG=limit$LIMIT MD=${BENCH_MD:-$ROOT/experiments/out/bench/scaling_$TAG.md}
else
    TAG=full MD=${BENCH_MD:-$ROOT/experiments/bench/results/scaling.md}
fi
OUT=$ROOT/experiments/out/bench/scaling_$TAG
mkdir -p "$OUT" "$(dirname "$MD")"

for np in $RANKS; do
    rm -rf "$OUT/np$np"
    echo "scaling.sh: $np rank(s)" >&2
    "${LAUNCH[@]}" -np "$np" "$NOMAD" run configs/nomad-paper.yaml --quiet --out "$OUT/np$np" \
        --set distributed.backend=mpi --set threads=1 --set data.limit="$LIMIT" \
        --set optimizer.epochs="$EPOCHS" --set output.plot=false "$@"
done

$PY - "$OUT" "$RANKS" "$*" <<'PY' | tee "$MD"
import json, sys
out, ranks, extra = sys.argv[1], sys.argv[2].split(), sys.argv[3]
print("# Scale-out on one machine (nomad under mpirun, one thread per rank)\n")
print(f"configs/nomad-paper.yaml with `distributed.backend: mpi`, `threads: 1`{', ' + extra if extra else ''}; "
      "written by experiments/bench/scaling.sh.\n")
print("| ranks | points per rank | imbalance | partition s | ann s | optimize s | s / epoch | steps | "
      "busy ms / step | comm ms / step | bytes / step | optimize bytes (all ranks) | run bytes (all ranks) | NP@10 |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for np_ in ranks:
    r = json.load(open(f"{out}/np{np_}/run.json"))
    d, st, steps = r["distributed"], r["stage_seconds"], r["optimizer"]["steps"]
    per = d["per_rank"]
    epochs = len(r["optimizer"]["loss"])
    busy = max(p["stage_seconds"]["optimize"] - p["stage_comm_seconds"]["optimize"] for p in per)
    comm = max(p["stage_comm_seconds"]["optimize"] for p in per)
    opt_bytes = sum(p["stage_bytes"]["optimize"] for p in per) / 2  # sent + received: count each byte once
    run_bytes = sum(p["bytes_sent"] for p in per)
    m = r.get("metrics", {})
    print(f"| {np_} | {'/'.join(str(p['points']) for p in per)} | {d['load_imbalance_points']:.3f} | "
          f"{st['partition']:.2f} | {st['ann']:.2f} | {st['optimize']:.2f} | {st['optimize'] / epochs:.3f} | {steps} | "
          f"{1e3 * busy / steps:.2f} | {1e3 * comm / steps:.3f} | {d['bytes_per_step']} | {opt_bytes:.0f} | "
          f"{run_bytes:.0f} | {m.get('np', float('nan')):.4f} |")
print("\nbusy = the slowest rank's optimize time less its time inside collectives; comm = the most "
      "time a rank spent in collectives during the fit (waits for slower ranks included); bytes / step = "
      "the all-reduce of the cell sums (cells x dims doubles); optimize bytes also hold the final "
      "gather of the layout on rank 0; run bytes = every byte a rank handed to a collective "
      "(sample, centroids, Lloyd sums, row exchange, fit, gather).")
PY
