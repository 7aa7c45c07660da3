#!/usr/bin/env bash
# device: cuda from the outside, on any machine: a build without CUDA, a negatives or loss
# plugin without a CUDA entry (named, with the plugins of its kind that have one), a distributed
# run and a machine without a GPU are each one line, exit 2, before anything is written. Graph
# stages without a CUDA entry are accepted and run their CPU ops (on a GPU: logged, and
# run.json says where each plugin ran). The fit on a GPU itself is tests/e2e/cuda_run.sh.
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
           "loss         neg " "loss         tsne" "loss         umap"; do
    grep "^$p" <<<"$list" | grep -q " cuda " && ok "$p has a CUDA entry" || bad "$p lacks a CUDA entry: $list"
  done
  # single, random (partitioner and init) once gave their CPU ops as a CUDA entry; now none does
  for p in "partitioner  single" "partitioner  random" "init         random" "ann          nndescent"; do
    grep "^$p" <<<"$list" | grep -q " - " && ok "$p: no CUDA entry" || bad "$p listed with one: $list"
  done
  "$NOMAD" plugins --describe exact_cell | grep -q "CUDA entry: yes" && ok "--describe says so" || bad "--describe"
  "$NOMAD" plugins --describe nndescent | grep -q "CUDA entry: no (on device: cuda it runs on the CPU)" \
    && ok "--describe: a graph stage falls back" || bad "--describe nndescent"
  "$NOMAD" plugins --describe in_batch | grep -q "CUDA entry: no (device: cpu only)" \
    && ok "--describe: negatives without one are cpu only" || bad "--describe in_batch"
  # Every graph stage without a CUDA entry, and only the fit's plugins named as missing one.
  cpu_graph=(--set 'partitioner={plugin: single}' --set ann.plugin=nndescent --set affinity.plugin=perplexity
             --set init.plugin=random)
  expect_fail 2 "device: cuda: negatives plugin in_batch (" "$NOMAD" run cuda.yaml "${cpu_graph[@]}" \
    --set negatives.plugin=in_batch --out out/e1
  expect_fail 2 "negatives plugins with one: cluster_mean, uniform" "$NOMAD" run cuda.yaml --set negatives.plugin=in_batch \
    --out out/e2
  expect_fail 2 "device: cuda: loss plugin nce (" "$NOMAD" run cuda.yaml "${cpu_graph[@]}" --set loss.plugin=nce --out out/e3
  expect_fail 2 "loss plugins with one: infonce, neg, tsne, umap" "$NOMAD" run cuda.yaml --set loss.plugin=nce --out out/e4
  if nvidia-smi -L >/dev/null 2>&1; then
    log=$("$NOMAD" run cuda.yaml "${cpu_graph[@]}" --out out/g 2>&1) \
      && grep -q "on the CPU (no CUDA entry): partitioner single, ann nndescent, affinity perplexity, init random" <<<"$log" \
      && ok "graph stages without a CUDA entry run on the CPU, said once" || bad "graph stages on the CPU: $log"
    $PY -c "import json, sys; d = {p['kind']: p['device'] for p in json.load(open('out/g/run.json'))['plugins']}
assert d == dict(partitioner='cpu', ann='cpu', affinity='cpu', init='cpu', negatives='cuda', loss='cuda'), d" \
      && ok "run.json: where each plugin ran" || bad "run.json plugins' device"
    # spread means have no term in the fused kernel: refused at the fit's first step
    expect_fail 2 "spread means (approximate points with a spread" "$NOMAD" run cuda.yaml \
      --set negatives.spread=1 --out out/e8
  else # the entries are checked before the GPU: the graph stages passed when only the GPU is missing
    expect_fail 2 "device: cuda: no usable CUDA device here" "$NOMAD" run cuda.yaml "${cpu_graph[@]}" --out out/e7
  fi
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
for d in out/e1 out/e2 out/e3 out/e4 out/e5 out/e6 out/e7; do
  [ ! -e "$d" ] && ok "nothing left in $d" || bad "$d left behind"
done
finish
