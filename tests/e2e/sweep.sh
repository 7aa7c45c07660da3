#!/usr/bin/env bash
# nomad sweep from the outside: the grid product, the folder layout, the tables' columns,
# resuming (finished runs are not run again), failing and crashing runs recorded while the
# sweep goes on, bad grid keys refused before anything is written, and the config's sweep:
# section. Small data and 2 epochs, so the whole script takes seconds.
set -u
source "$(dirname "$0")/common.bash"
ROOT=$(pwd)
cd "$SCRATCH"

tiny_run 3

# ---- the grid product, layout and tables
GRID=(--grid partitioner.cells=1,2 --grid negatives.exact=4,8 --seeds 2)
"$NOMAD" sweep tiny.yaml "${GRID[@]}" --out s1 2>progress.txt && ok "sweep exits 0" || bad "sweep failed: $(cat progress.txt)"
runs=$(ls -d s1/*/ | grep -vc '/logs/$')
[ "$runs" -eq 8 ] && ok "2 x 2 cells x 2 seeds = 8 run folders" || bad "expected 8 run folders, got $runs"
[ -s "s1/partitioner.cells=2,negatives.exact=8,seed=43/run.json" ] \
  && [ -s "s1/partitioner.cells=2,negatives.exact=8,seed=43/embedding.npy" ] \
  && [ -s "s1/logs/partitioner.cells=2,negatives.exact=8,seed=43.log" ] && ok "run folder and log layout" \
  || bad "layout: $(ls s1)"
grep -qE '^\[3/8\] partitioner.cells=1 negatives.exact=8 seed=42 \.\.\. ok [0-9.]+ s NP@10 0\.[0-9]+$' progress.txt \
  && ok "progress line" || bad "progress: $(cat progress.txt)"
want="run,partitioner.cells,negatives.exact,seed,status,np@10,triplet,knn_acc,trust,edges_kept,knn_recall,peak_rss_mib"
want+=",plugins_s,load_s,partition_s,ann_s,affinity_s,init_s,optimize_s,eval_s,output_s,total_s,error"
[ "$(head -1 s1/results.csv)" = "$want" ] && ok "results.csv columns" || bad "csv header: $(head -1 s1/results.csv)"
$PY - <<'PY' && ok "results.csv rows" || bad "results.csv rows"
import csv, json
rows = list(csv.DictReader(open("s1/results.csv")))
assert len(rows) == 8, len(rows)
assert [(r["partitioner.cells"], r["negatives.exact"], r["seed"]) for r in rows[:3]] == \
    [("1", "4", "42"), ("1", "4", "43"), ("1", "8", "42")], rows[:3]
for r in rows:
    assert r["status"] == "ok" and r["error"] == "", r
    rec = json.load(open("s1/%s/run.json" % r["run"]))
    assert abs(float(r["np@10"]) - rec["metrics"]["np"]) < 1e-6 and rec["seed"] == int(r["seed"])
    assert rec["config"]["partitioner"]["cells"] == int(r["partitioner.cells"])
    assert 0 < float(r["knn_acc"]) <= 1 and float(r["peak_rss_mib"]) > 1 and float(r["total_s"]) > 0
    assert 0 < float(r["edges_kept"]) <= 1 and 0 < float(r["knn_recall"]) <= 1
PY
md_rows=$(grep -c '^| `[12]` | `[48]` | 2/2 | 0\.[0-9]* ± 0\.[0-9]* |' s1/results.md)
[ "$md_rows" -eq 4 ] && grep -q "8 runs (4 grid cells x 2 seeds): 8 ok, 0 failed, 0 not run yet" s1/results.md \
  && ok "results.md: mean ± std per grid cell" || bad "results.md: $md_rows summary rows: $(cat s1/results.md)"

# ---- resuming: finished runs are read back, not run again
stat -c '%n %y' s1/*/run.json >before.txt
"$NOMAD" sweep tiny.yaml "${GRID[@]}" --out s1 2>progress.txt && ok "resumed sweep exits 0" || bad "resume failed"
stat -c '%n %y' s1/*/run.json | cmp -s - before.txt && [ "$(grep -c 'done before NP@10' progress.txt)" -eq 8 ] \
  && ok "a finished sweep runs nothing again" || bad "resume re-ran runs: $(cat progress.txt)"
$PY -c "import csv; assert len(list(csv.DictReader(open('s1/results.csv')))) == 8" && ok "tables re-read from run.json" \
  || bad "tables after resume"
victim="s1/partitioner.cells=2,negatives.exact=4,seed=42"
rm "$victim/run.json"   # as if that run had been interrupted before it finished
"$NOMAD" sweep tiny.yaml "${GRID[@]}" --out s1 2>progress.txt
[ -s "$victim/run.json" ] && [ "$(grep -c '\.\.\. ok ' progress.txt)" -eq 1 ] \
  && stat -c '%n %y' s1/*/run.json | grep -v "cells=2,negatives.exact=4,seed=42" \
     | cmp -s - <(grep -v "cells=2,negatives.exact=4,seed=42" before.txt) \
  && ok "only the interrupted run runs again" || bad "partial resume: $(cat progress.txt)"
victim="s1/partitioner.cells=1,negatives.exact=8,seed=43"
$PY -c "import numpy as np; np.save('$victim/embedding.npy', np.zeros((299, 2), np.float32))"
"$NOMAD" sweep tiny.yaml "${GRID[@]}" --out s1 2>progress.txt
grep -q "embedding.npy: 299 x 2 f4, but run.json says 300 x 2 f4; running it again" progress.txt \
  && [ "$(grep -c '\.\.\. ok ' progress.txt)" -eq 1 ] \
  && $PY -c "import numpy as np; assert np.load('$victim/embedding.npy').shape == (300, 2)" \
  && ok "a run.json beside a wrong embedding is run again" || bad "embedding check on resume: $(cat progress.txt)"
expect_fail 2 "made with another config (optimizer.epochs differs)" \
  "$NOMAD" sweep tiny.yaml "${GRID[@]}" --out s1 --set optimizer.epochs=3
if command -v flock >/dev/null; then   # a second sweep into a folder another one is using
  flock s1/.lock "$NOMAD" sweep tiny.yaml "${GRID[@]}" --out s1 2>lock.txt && bad "sweep ran beside another" \
    || { grep -q "s1: another sweep is running in this folder" lock.txt && ok "one sweep per folder" \
         || bad "lock: $(cat lock.txt)"; }
fi

expect_fail 2 "sweep: grid key seed: seeds are the sweep's own axis; use --seeds N" \
  "$NOMAD" sweep tiny.yaml --grid seed=1,2 --out sseed
[ ! -e sseed ] && ok "a seed grid writes nothing" || bad "sseed left behind"

# ---- a sweep killed outright takes its running child with it (it kept writing before)
"$NOMAD" sweep tiny.yaml --set optimizer.epochs=10000000 --out skill --quiet 2>/dev/null & spid=$!
run=skill/seed=42
for _ in $(seq 200); do [ -s "$run/.nomad.lock" ] && break; sleep 0.05; done
child=$(cat "$run/.nomad.lock" 2>/dev/null)
kill -KILL $spid; wait $spid 2>/dev/null
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }   # a zombie has stopped
for _ in $(seq 100); do alive "${child:-0}" || break; sleep 0.1; done
[ -n "$child" ] && ! alive "$child" && [ ! -e "$run/embedding.npy" ] && [ ! -e "$run/.nomad.lock" ] \
  && ok "the child of a killed sweep stops and removes its folder" || bad "orphan $child ($(grep State /proc/$child/status 2>&1)), $(ls -a $run 2>&1), $(tail -3 skill/logs/* 2>&1)"

# ---- a failing run and a crashing run are recorded; the others still run
cat > crash.c <<'C'
#include <stdlib.h>
#include "nomad/plugin.h"
static nmp_status create(const nmp_host *h, const nmp_params *p, void **s) { (void)h, (void)p; *s = NULL; return NMP_OK; }
static void destroy(void *s) { (void)s; }
static nmp_status sample(void *s, const nmp_step *t, nmp_negatives *o) { (void)s, (void)t, (void)o; abort(); }
static const nmp_negatives_ops ops = {sizeof ops, NULL, sample};
NMP_PLUGIN_DEFINE(plugin, NMP_KIND_NEGATIVES, "crash", "0", "aborts in its first sample() call", NMP_NO_PARAMS, create,
                  destroy, &ops, NULL);
NMP_PLUGIN_EXPORT(&plugin);
C
cc -std=c11 -fPIC -shared -I "$ROOT/core/include" crash.c -o crash.so || bad "crash fixture build"
rc=0
"$NOMAD" sweep tiny.yaml --grid data.path=missing.npy,x.npy --grid 'negatives={plugin: ./crash.so},{plugin: cluster_mean}' \
  --out s2 2>progress.txt || rc=$?
[ "$rc" -eq 1 ] && ok "a sweep with failed runs exits 1" || bad "exit $rc: $(cat progress.txt)"
$PY - <<'PY' && ok "failed and crashed runs recorded, the rest ran" || bad "failure rows: $(cat s2/results.csv)"
import csv
rows = list(csv.DictReader(open("s2/results.csv")))
assert [r["status"] for r in rows] == ["error", "error", "error", "ok"], rows
assert "missing.npy: cannot open" in rows[0]["error"] and rows[0]["np@10"] == "", rows[0]
assert "crashed: killed by signal 6" in rows[2]["error"], rows[2]
assert float(rows[3]["np@10"]) > 0
PY
grep -q "| \`x.npy\` | \`{plugin: ./crash.so}\` | 42 | error: crashed: killed by signal 6" s2/results.md \
  && ok "results.md shows the crash" || bad "results.md crash row"

# ---- bad grid keys and values: exit 2, one line, before anything is written
expect_fail 2 "sweep: grid cell optimizer.bogus=1: --set optimizer.bogus: unknown key" \
  "$NOMAD" sweep tiny.yaml --grid optimizer.bogus=1,2 --out s3
expect_fail 2 "sweep: grid cell partitioner.cells=-1: --set partitioner.cells: must be >= 0, got -1" \
  "$NOMAD" sweep tiny.yaml --grid partitioner.cells=2,-1 --out s3
expect_fail 2 "has no parameter \"K\"" "$NOMAD" sweep tiny.yaml --grid negatives.K=1,2 --out s3
expect_fail 2 "expected key.path=value1,value2" "$NOMAD" sweep tiny.yaml --grid seeds --out s3
expect_fail 2 "no config given" "$NOMAD" sweep --grid ann.k=1
[ ! -e s3 ] && ok "nothing written for a bad grid" || bad "s3 exists after refused sweeps"

# ---- the config's sweep: section, and --grid / --seeds over it
cp tiny.yaml withgrid.yaml
cat >>withgrid.yaml <<'YAML'
sweep:
  grid: { partitioner.cells: [1, 2], negatives: { exact: [4] } }
  seeds: 2
YAML
"$NOMAD" sweep withgrid.yaml --dry-run >plan.txt
head -1 plan.txt | grep -q "^4 runs (2 grid cells x 2 seeds) in sweeps/withgrid/$" \
  && grep -q "^\[4/4\] partitioner.cells=2 negatives.exact=4 seed=43 -> partitioner.cells=2,negatives.exact=4,seed=43 (to run)$" plan.txt \
  && ok "sweep: section read (grid, seeds, sweep.dir)" || bad "plan: $(cat plan.txt)"
[ ! -e sweeps ] && ok "--dry-run writes nothing" || bad "--dry-run wrote sweeps/"
"$NOMAD" sweep withgrid.yaml --grid partitioner.cells=4 --grid ann.k=4,6 --seeds 1 --dry-run >plan.txt
head -1 plan.txt | grep -q "^2 runs (2 grid cells x 1 seeds)" \
  && grep -q "^\[2/2\] partitioner.cells=4 negatives.exact=4 ann.k=6 seed=42 " plan.txt \
  && ok "--grid overrides and adds axes, --seeds overrides" || bad "override plan: $(cat plan.txt)"
"$NOMAD" sweep withgrid.yaml --quiet 2>quiet.txt && [ ! -s quiet.txt ] && [ "$(ls -d sweeps/withgrid/*/ | wc -l)" -eq 5 ] \
  && ok "sweep: section run into sweeps/withgrid/" || bad "config grid run: $(cat quiet.txt)"
finish
