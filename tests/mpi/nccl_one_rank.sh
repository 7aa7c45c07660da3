#!/usr/bin/env bash
# The NCCL back end (one GPU per rank) on one rank gives the same bytes as the MPI back end on
# one rank (same distributed pipeline; host buffers go through the GPU). Skips (77) where this
# build has no NCCL or the machine no GPU: run it on a GPU machine.
set -u
source "$(dirname "$0")/common.bash"
$PY - "$SCRATCH/x.npy" <<'PY'
import sys, numpy as np
np.save(sys.argv[1], np.random.default_rng(9).normal(size=(3000, 32)).astype("<f4"))
PY
cat >"$SCRATCH/run.yaml" <<YAML
data: { path: $SCRATCH/x.npy }
threads: 2
distributed: { backend: mpi }
partitioner: { cells: 4 }
ann: { k: 10 }
optimizer: { epochs: 6, batch: 256 }
eval: { enabled: false }
output: { dir: "$SCRATCH/{name}", plot: false }
YAML
out=$(mpi 1 run "$SCRATCH/run.yaml" --quiet --set distributed.backend=nccl --set output.name=nccl 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -qE "built without NCCL|no CUDA device" <<<"$out"; then
  echo "skipped: $(grep -m1 '^nomad: error:' <<<"$out")"; exit 77
fi
if [ $rc -eq 0 ]; then ok "nccl, 1 rank"; else bad "nccl, 1 rank: exit $rc: $out"; fi
if mpi 1 run "$SCRATCH/run.yaml" --quiet --set output.name=mpi; then ok "mpi, 1 rank"; else bad "mpi, 1 rank failed"; fi
if cmp -s "$SCRATCH/nccl/embedding.npy" "$SCRATCH/mpi/embedding.npy"; then ok "nccl and mpi give the same bytes"
else bad "nccl and mpi layouts differ"; fi
finish
