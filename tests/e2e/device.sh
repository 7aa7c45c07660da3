#!/usr/bin/env bash
# device: cuda from the outside, on any machine: a build without CUDA, a plugin without a
# CUDA entry (named, with the plugins of its kind that have one), a distributed run and a
# machine without a GPU are each one line, exit 2, before anything is written. The fit on a
# GPU itself is tests/e2e/cuda_run.sh (skipped without one).
set -u
source "$(dirname "$0")/common.bash"
cd "$SCRATCH"

$PY -c "
import numpy as np
rng = np.random.default_rng(0)
np.save('small.npy', (rng.normal(0, 8, (3, 20))[np.repeat(np.arange(3), 200)] + rng.normal(0, 1, (600, 20))).astype(np.float32))"
cat > cuda.yaml <<'YAML'
data: { path: small.npy }
device: cuda
partitioner: { plugin: kmeans, cells: 3 }
ann: { plugin: exact_cell, k: 10 }
negatives: { plugin: cluster_mean }
optimizer: { epochs: 5, batch: 128 }
YAML

version=$("$NOMAD" --version)
list=$("$NOMAD" plugins 2>/dev/null)
if grep -q "cuda yes" <<<"$version"; then
  for p in "partitioner  kmeans" "ann          exact_cell" "affinity     rank_exp" "affinity     binary" \
           "init         pca" "negatives    cluster_mean" "negatives    uniform" "loss         infonce" \
           "loss         neg " "loss         umap"; do
    grep "^$p" <<<"$list" | grep -q " cuda " && ok "$p has a CUDA entry" || bad "$p lacks a CUDA entry: $list"
  done
  grep "^ann          nndescent" <<<"$list" | grep -q " - " && ok "nndescent: none" || bad "nndescent listed with one"
  "$NOMAD" plugins --describe exact_cell | grep -q "CUDA entry: yes" && ok "--describe says so" || bad "--describe"
  expect_fail 2 "device: cuda: ann plugin nndescent (" "$NOMAD" run cuda.yaml --set ann.plugin=nndescent --out out/e1
  expect_fail 2 "ann plugins with one: exact_cell" "$NOMAD" run cuda.yaml --set ann.plugin=nndescent --out out/e2
  expect_fail 2 "negatives plugin in_batch" "$NOMAD" run cuda.yaml --set negatives.plugin=in_batch --out out/e3
  expect_fail 2 "loss plugin nce" "$NOMAD" run cuda.yaml --set loss.plugin=nce --out out/e4
  if grep -q "mpi yes" <<<"$version"; then
    # (the MPI back end logs its start first, so this error is not the only line)
    rc=0; err=$("$NOMAD" run cuda.yaml --set distributed.backend=mpi --out out/e5 2>&1 >/dev/null) || rc=$?
    [ "$rc" -eq 2 ] && grep -q "distributed.backend must be local" <<<"$err" && ok "mpi + cuda refused" \
      || bad "mpi + cuda: exit $rc: $err"
  fi
  if ! nvidia-smi -L >/dev/null 2>&1; then
    expect_fail 2 "device: cuda: no usable CUDA device here" "$NOMAD" run cuda.yaml --out out/e6
  fi
else
  grep "^ann          exact_cell" <<<"$list" | grep -q " - " && ok "no CUDA entries in a CPU build" || bad "$list"
  expect_fail 2 "built without CUDA (configure with -DNOMAD_CUDA=ON" "$NOMAD" run cuda.yaml --out out/e1
fi
for d in out/e1 out/e2 out/e3 out/e4 out/e5 out/e6; do
  [ ! -e "$d" ] && ok "nothing left in $d" || bad "$d left behind"
done
finish
