#!/usr/bin/env bash
# A rank that fails stops every rank with one error line naming it, never a hang, and no run
# directory is left: a NaN in one rank's slice of the input, a file missing on one rank, ranks
# that read different inputs, a NaN that appears in one rank's layout mid-fit (all ranks stop
# at the same step through the all-reduced cell sums), a plugin that fails on one rank while
# the others wait in a collective (abort after distributed.abort_timeout), and the local back
# end started by mpirun. Every job runs under a timeout.
set -u
source "$(dirname "$0")/common.bash"
FAULT=${NOMAD_TEST_BIN:?helpers folder}/mpi_plugins/rank_fault.so
$PY - "$SCRATCH" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(5)
x = rng.normal(size=(2000, 16)).astype("<f4")
np.save(f"{sys.argv[1]}/good.npy", x)
x[1500, 3] = np.nan  # in rank 1's half of the rows
np.save(f"{sys.argv[1]}/nan.npy", x)
PY
cat >"$SCRATCH/run.yaml" <<YAML
data: { path: $SCRATCH/good.npy }
seed: 3
threads: 1
distributed: { backend: mpi, abort_timeout: 4 }
partitioner: { plugin: kmeans, cells: 4 }
ann: { plugin: exact_cell, k: 8 }
optimizer: { epochs: 4, batch: 128 }
eval: { enabled: false }
output: { dir: "$SCRATCH/{name}", plot: false }
YAML
cfg=$SCRATCH/run.yaml
expect_job_fail "NaN in rank 1's rows" 2 "rank 1: $SCRATCH/nan.npy: row 1500, column 3 (from 0): value is NaN" "$SCRATCH/nan" -- \
  mpi 2 run "$cfg" --quiet --set data.path="$SCRATCH/nan.npy" --set output.name=nan
expect_job_fail "file missing on rank 1" 2 "rank 1: $SCRATCH/missing.npy: cannot open" "$SCRATCH/missing" -- \
  timeout 120 "${LAUNCH[@]}" -np 1 "$NOMAD" run "$cfg" --quiet --set output.name=missing : \
  -np 1 "$NOMAD" run "$cfg" --quiet --set output.name=missing --set data.path="$SCRATCH/missing.npy"
expect_job_fail "ranks read different inputs" 2 "rank 0 read 2000 x 16 but rank 2 read 1000 x 16" "$SCRATCH/differ" -- \
  timeout 120 "${LAUNCH[@]}" -np 2 "$NOMAD" run "$cfg" --quiet --set output.name=differ : \
  -np 1 "$NOMAD" run "$cfg" --quiet --set output.name=differ --set data.limit=1000
for np in 2 4; do
  expect_job_fail "NaN in rank 1's layout at step 3, $np ranks" 1 "rank 1: optimize: the layout became NaN or Inf" \
    "$SCRATCH/nan$np" -- mpi $np run "$cfg" --quiet --set loss.plugin="$FAULT" --set loss.mode=nan --set output.name=nan$np
  expect_job_fail "rank 1's loss fails at step 3, $np ranks" any \
    "rank 1: loss plugin rank_fault ($FAULT): begin_step: rank_fault: failing on purpose at step 3 (the other ranks did not reach the end of the stage within distributed.abort_timeout = 4 s; aborting all $np ranks)" \
    "$SCRATCH/fail$np" -- mpi $np run "$cfg" --quiet --set loss.plugin="$FAULT" --set loss.mode=fail --set output.name=fail$np
done
expect_job_fail "a partitioner that is not K-Means, across ranks" 2 "partitioner.plugin: random cannot be used across ranks" \
  "$SCRATCH/random" -- mpi 2 run "$cfg" --quiet --set partitioner.plugin=random --set output.name=random
expect_job_fail "local back end under mpirun" 2 "distributed.backend: local, but mpirun started 2 copies of nomad" \
  "$SCRATCH/local" -- mpi 2 run "$cfg" --quiet --set distributed.backend=local --set output.name=local
if mpi 2 run "$cfg" --quiet --set output.name=fine && [ -s "$SCRATCH/fine/run.json" ]; then ok "the same config without faults runs"
else bad "the same config without faults failed"; fi
finish
