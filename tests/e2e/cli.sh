#!/usr/bin/env bash
# The CLI from the outside: help, version, plugins from any directory, config and input
# errors (one line, exit 2, nothing written), --dry-run, and a small real run.
set -u
source "$(dirname "$0")/common.bash"
ROOT=$(pwd)
cd "$SCRATCH"   # not the repository: nomad must find its plugins by itself

expect_ok "$NOMAD" --help
"$NOMAD" --version | grep -q '^nomad [0-9]' && ok "--version" || bad "--version"
# ... naming the commit it was built from (written at build time, not when CMake configured)
if head=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null); then
  "$NOMAD" --version | grep -qE "\(git $head(-dirty)?;" && ok "--version names HEAD $head" \
    || bad "--version: $("$NOMAD" --version), HEAD is $head (a build older than the last commit?)"
fi
expect_fail 2 "unknown command" "$NOMAD" frobnicate
list=$("$NOMAD" plugins 2>/dev/null)
for want in "partitioner  kmeans" "ann          exact_cell" "affinity     rank_exp" "init         pca" \
            "negatives    cluster_mean" "loss         infonce"; do
  grep -qF "$want" <<<"$list" && ok "plugins lists $want" || bad "plugins lacks $want"
done
"$NOMAD" plugins --describe cluster_mean | grep -q "approx_cells" && ok "--describe" || bad "--describe"
expect_fail 2 "no plugin named" "$NOMAD" plugins --describe nope

# Small data written by python/numpy: 600 points in 3 blobs, 20 dims, with labels.
$PY - <<'PY'
import numpy as np
rng = np.random.default_rng(0)
c = rng.normal(0, 8, (3, 20))
lab = np.repeat(np.arange(3), 200)
x = (c[lab] + rng.normal(0, 1, (600, 20))).astype(np.float32)
np.save("small.npy", x); np.save("labels.npy", lab.astype(np.int64))
np.save("nan.npy", np.where(np.arange(600)[:, None] == 7, np.nan, x).astype(np.float32))
np.save("huge.npy", (x * 1e18).astype(np.float32))   # finite, but squared distances overflow
np.save("same.npy", np.ones((600, 20), np.float32))
PY
cat > small.yaml <<'YAML'
data: { path: small.npy, labels: labels.npy }
threads: 2
partitioner: { plugin: kmeans, cells: 3 }
ann: { plugin: exact_cell, k: 10 }
negatives: { plugin: cluster_mean, exact: 16, approx_cells: all_but_own, weighting: mass }
optimizer: { epochs: 30, batch: 128 }
eval: { k: 10, queries: 300, triplets: 1000 }
output:
  dir: out/{name}
YAML
expect_ok "$NOMAD" run small.yaml --quiet
for f in embedding.npy run.json map.png loss.csv report.md; do
  [ -s "out/small/$f" ] && ok "wrote $f" || bad "missing out/small/$f"
done
$PY - <<'PY' && ok "run.json content" || bad "run.json content"
import json, numpy as np
r = json.load(open("out/small/run.json"))
y = np.load("out/small/embedding.npy")
assert y.shape == (600, 2) and y.dtype == np.float32, y.shape
assert r["status"] == "ok" and r["data"]["n"] == 600
assert [p["kind"] for p in r["plugins"]] == ["partitioner", "ann", "affinity", "init", "negatives", "loss"]
assert r["metrics"]["knn_acc"] > 0.95, r["metrics"]   # three far-apart blobs
assert r["config"]["negatives"]["approx_cells"] == "all_but_own"
assert all(s >= 0 for s in r["stage_seconds"].values()) and r["peak_rss_bytes"] > 0
PY
grep -q "| NP@10 |" out/small/report.md && grep -q "!\[map\](map.png)" out/small/report.md \
  && grep -q "| negatives | \`cluster_mean\`" out/small/report.md && ok "report.md content" || bad "report.md content"
expect_fail 2 "not empty" "$NOMAD" run small.yaml --quiet   # never mixes two runs

# Determinism: same config and seed -> same bytes.
"$NOMAD" run small.yaml --quiet --out out/again --set eval.enabled=false
cmp -s out/small/embedding.npy out/again/embedding.npy && ok "same seed, same layout" || bad "not deterministic"

# partitioner.cells 0: cells_root x sqrt(n) cells (0.242 x sqrt(600) = 5.9: 6; 0.1: 2), logged.
"$NOMAD" run small.yaml --out out/auto --set partitioner.cells=0 --set eval.enabled=false 2> auto.log
"$NOMAD" run small.yaml --quiet --out out/auto2 --set partitioner.cells=0 --set partitioner.cells_root=0.1 \
  --set eval.enabled=false
$PY -c "
import json
assert json.load(open('out/auto/run.json'))['partition']['cells'] == 6
assert json.load(open('out/auto2/run.json'))['partition']['cells'] == 2" && grep -q "partitioner: 6 cells for 600 points" auto.log \
  && ok "partitioner.cells 0 scales with n" || bad "partitioner.cells 0: $(grep -h cells auto.log | head -2)"

# negatives.spread: the means as clouds of their cells' spread; a different layout, as finite.
"$NOMAD" run small.yaml --quiet --out out/spread --set negatives.spread=1 --set eval.enabled=false \
  && ! cmp -s out/small/embedding.npy out/spread/embedding.npy \
  && $PY -c "import numpy as np, sys; sys.exit(not np.isfinite(np.load('out/spread/embedding.npy')).all())" \
  && ok "negatives.spread reaches the fit" || bad "negatives.spread"

# Swapping one plugin name changes the result, and nothing else needs editing.
"$NOMAD" run small.yaml --quiet --out out/neg --set loss.plugin=neg --set eval.enabled=false \
  && ! cmp -s out/small/embedding.npy out/neg/embedding.npy && ok "loss swapped by name" || bad "loss swap"
"$NOMAD" run small.yaml --quiet --out out/rnd --set init.plugin=random --set eval.enabled=false \
  && ! cmp -s out/small/embedding.npy out/rnd/embedding.npy && ok "init swapped by name" || bad "init swap"

# 3-D layouts: three columns, and map.png with three projections side by side.
"$NOMAD" run small.yaml --quiet --out out/3d --set dims=3 --set eval.enabled=false \
  && $PY -c "
import numpy as np, struct
assert np.load('out/3d/embedding.npy').shape == (600, 3)
w, h = struct.unpack('>II', open('out/3d/map.png', 'rb').read()[16:24]); assert w == 3 * h, (w, h)" \
  && ok "dims: 3" || bad "dims: 3"
# Snapshots every 10 epochs.
"$NOMAD" run small.yaml --quiet --out out/snap --set output.snapshot_every=10 --set output.snapshot_png=true \
  --set eval.enabled=false && [ -s out/snap/snapshots/epoch_0010.npy ] && [ -s out/snap/snapshots/epoch_0030.npy ] \
  && [ -s out/snap/snapshots/epoch_0030.png ] \
  && ok "snapshots" || bad "snapshots"

# --dry-run prints the resolved config with plugin defaults filled in.
dry=$("$NOMAD" run small.yaml --dry-run)
grep -q "lr_scale: 0.1" <<<"$dry" && grep -q "hyperplanes: 16" <<<"$dry" && ok "--dry-run" || bad "--dry-run: $dry"

# Config errors: file:line:col and the key path, exit 2, no output directory left.
printf 'optimizer:\n  lr_scale: fast\n' > bad_type.yaml
expect_fail 2 "bad_type.yaml:2:13: optimizer.lr_scale" "$NOMAD" run bad_type.yaml --out out/bad1
printf 'negatives:\n  plugin: cluster_mean\n  exactt: 3\n' > bad_key.yaml
expect_fail 2 "negatives.exactt" "$NOMAD" run bad_key.yaml --out out/bad2
expect_fail 2 "no loss plugin named \"nope\"" "$NOMAD" run small.yaml --set loss.plugin=nope --out out/bad3
expect_fail 2 "--set optimizer.epochs" "$NOMAD" run small.yaml --set optimizer.epochs=many --out out/bad4
expect_fail 2 "missing.npy" "$NOMAD" run small.yaml --set data.path=missing.npy --out out/bad5
expect_fail 2 "nan.npy" "$NOMAD" run small.yaml --set data.path=nan.npy --out out/bad6
expect_fail 2 "ann.k = 700" "$NOMAD" run small.yaml --set ann.k=700 --out out/bad7
expect_fail 2 "nan.npy: header: expected dtype" "$NOMAD" run small.yaml --set data.limit=100 --set data.labels=nan.npy --out out/bad8
expect_fail 2 "no-such.yaml" "$NOMAD" run no-such.yaml
# an empty value is not the default (--set data.path= ran the whole of Fashion-MNIST)
expect_fail 2 "--set data.path: is empty; expected a value" "$NOMAD" run small.yaml --set data.path= --out out/bad19
expect_fail 2 "--set optimizer.epochs: expected an integer, got \"\"" "$NOMAD" run small.yaml --set optimizer.epochs= --out out/bad19
expect_fail 2 "--set loss.plugin: is empty; expected a value (default infonce)" "$NOMAD" run small.yaml --set loss.plugin= --out out/bad19
printf 'data: { path: small.npy }\noptimizer:\n  epochs:\n' > noval.yaml
expect_fail 2 "noval.yaml:3:10: optimizer.epochs: no value" "$NOMAD" run noval.yaml --out out/bad19
expect_fail 2 "--set sweep.grid=x: sweep keys are read by nomad sweep" "$NOMAD" run small.yaml --set sweep.grid=x --out out/bad19
# plugin files: naming a .so runs its code, so only what the config names is ever opened
printf '#include <stdio.h>\n__attribute__((constructor)) static void f(void) { fclose(fopen("pwned", "w")); }\n' > evil.c
cc -shared -fPIC evil.c -o evil.so || bad "evil.so fixture"
expect_fail 2 "a file path needs a '/'" "$NOMAD" run small.yaml --set loss.plugin=evil.so --dry-run
NOMAD_PLUGIN_PATH=. "$NOMAD" plugins >/dev/null 2>&1   # evil.so is not <kind>_<name>.so: never opened
[ ! -e pwned ] && ok "a bare .so name and a plugin-path scan run no stray library" || bad "evil.so was loaded"
mkdir -p sub && cp "$(dirname "$NOMAD")/plugins/loss_infonce.so" sub/loss_mine.so
printf 'data: { path: ../small.npy }\nloss: { plugin: ./loss_mine.so }\n' > sub/rel.yaml
"$NOMAD" run sub/rel.yaml --dry-run 2>/dev/null | grep -q 'plugin: "./loss_mine.so"' \
  && ok "a relative .so in a config is taken from the config's folder" || bad "relative plugin path"
expect_fail 2 "--set output.name: \"../../escape\" is not a name" "$NOMAD" run small.yaml --set output.name=../../escape --out out/bad19
# small things said plainly: one point, a data.dim the .npy header contradicts, cells smaller than k
$PY -c "import numpy as np; np.save('one.npy', np.ones((1, 4), np.float32))"
expect_fail 2 "one.npy: 1 point, but ann.k = 10 needs at least 11" "$NOMAD" run small.yaml --set data.path=one.npy --set data.labels= --out out/bad19
expect_fail 2 "small.npy: data.dim = 7, but the file's header says 20 columns" "$NOMAD" run small.yaml --set data.dim=7 --out out/bad19
"$NOMAD" run small.yaml --set partitioner.cells=100 --set optimizer.epochs=1 --out out/tiny_cells 2>&1 \
  | grep -q "warning: ann: .* of 600 points have fewer than ann.k = 10 neighbours" \
  && ok "cells smaller than ann.k: said once" || bad "no warning for cells smaller than ann.k"
# data a map cannot be made of is an input error naming the problem (it failed inside PCA, exit 1)
expect_fail 2 "is beyond 1.46e+18, where squared distances over 20 columns overflow float32" "$NOMAD" run small.yaml --set data.path=huge.npy --set data.labels= --out out/bad17
expect_fail 2 "same.npy: all 600 rows are identical" "$NOMAD" run small.yaml --set data.path=same.npy --out out/bad18
expect_ok "$NOMAD" run small.yaml --set data.path=huge.npy --set data.scale=1e-18 --set optimizer.epochs=2 --quiet --out out/scaled
# `nomad CMD --help` is help (exit 0, on stdout), not an error
for c in run sweep eval plot plugins config; do
  out=$("$NOMAD" $c --help 2>/dev/null) && grep -q "usage: nomad" <<<"$out" && ok "$c --help: usage, exit 0" || bad "$c --help"
done
expect_fail 2 "unknown command" "$NOMAD" frobnicate --help
# inputs must be regular files: a FIFO hung in open() for ever, a directory read as "empty"
mkfifo fifo.npy fifo.yaml && mkdir -p adir
expect_fail 2 "fifo.yaml: config is a FIFO; expected a regular file" timeout 20 "$NOMAD" run fifo.yaml --out out/bad10
expect_fail 2 "adir: config is a directory" timeout 20 "$NOMAD" run adir --out out/bad11
expect_fail 2 "fifo.npy: is a FIFO" timeout 20 "$NOMAD" run small.yaml --set data.path=fifo.npy --out out/bad12
expect_fail 2 "fifo.npy: labels: is a FIFO" timeout 20 "$NOMAD" run small.yaml --set data.labels=fifo.npy --out out/bad13
expect_fail 2 "adir: labels: is a directory" timeout 20 "$NOMAD" run small.yaml --set data.labels=adir --out out/bad14
expect_fail 2 "fifo.npy: is a FIFO" timeout 20 "$NOMAD" eval small.npy fifo.npy
expect_fail 2 "fifo.npy: is a FIFO" timeout 20 "$NOMAD" plot fifo.npy -o fifo.png
# an option given twice is refused, not silently the last one
expect_fail 2 'run: --out given twice ("out/bad15" and "out/bad16")' "$NOMAD" run small.yaml --out out/bad15 --out out/bad16
expect_fail 2 "plot: -o given twice" "$NOMAD" plot small.npy -o a.png -o b.png
# a thread count no machine has: refused up front (it crashed inside libgomp, exit 139)
expect_fail 2 "--set threads: must be in [0, 1024], got 100000" "$NOMAD" run small.yaml --set threads=100000 --out out/bad9
for d in out/bad1 out/bad2 out/bad3 out/bad4 out/bad5 out/bad6 out/bad7 out/bad8 out/bad9 out/bad1[0-9] fifo.png a.png b.png; do
  [ ! -e "$d" ] && ok "nothing left in $d" || bad "$d left behind"
done

# One writer per run folder; SIGINT/SIGTERM stop the run and remove what it wrote; a run killed
# outright is named as such. A long run: 600 points, many epochs (stopped well before its end).
long_run=("$NOMAD" run small.yaml --quiet --set optimizer.epochs=1000000 --set eval.enabled=false)
wait_lock() { for _ in $(seq 200); do [ -e "$1/.nomad.lock" ] && return 0; sleep 0.05; done; return 1; }
"${long_run[@]}" --out out/busy 2>sig.err & pid=$!
wait_lock out/busy && ok "a run locks its folder" || bad "no lock in out/busy"
expect_fail 2 "out/busy: another nomad run (pid $pid) is writing this folder" "$NOMAD" run small.yaml --quiet --out out/busy
kill -TERM $pid; rc=0; wait $pid || rc=$?
[ $rc -eq 143 ] && grep -q "interrupted by SIGTERM during " sig.err && [ ! -e out/busy ] \
  && ok "SIGTERM: exit 143, folder removed" || bad "SIGTERM: exit $rc, $(cat sig.err), $(ls -a out/busy 2>&1)"
"${long_run[@]}" --out out/int 2>sig.err & pid=$!
wait_lock out/int; kill -INT $pid; rc=0; wait $pid || rc=$?
[ $rc -eq 130 ] && [ ! -e out/int ] && ok "SIGINT: exit 130, folder removed" || bad "SIGINT: exit $rc, $(cat sig.err)"
"${long_run[@]}" --out out/killed 2>/dev/null & pid=$!
wait_lock out/killed; kill -KILL $pid; wait $pid 2>/dev/null
expect_fail 2 "out/killed: holds a run that was killed before it finished" "$NOMAD" run small.yaml --quiet --out out/killed
long=$(printf 'd%.0s' $(seq 250)); deep="out/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long"
expect_fail 2 "output folder path is" "$NOMAD" run small.yaml --quiet --out "$deep"
[ ! -e "out/$long" ] && ok "an --out beyond PATH_MAX is refused before anything is made" || bad "out/$long left behind"

# eval and plot on the run's output.
"$NOMAD" eval small.npy out/small/embedding.npy --labels labels.npy --queries 300 --json > ev.json \
  && $PY -c "import json; assert json.load(open('ev.json'))['np'] > 0.2" && ok "eval --json" || bad "eval"
expect_ok "$NOMAD" plot out/small/embedding.npy --labels labels.npy -o map2.png --size 300 --alpha 0.8 --margin 0.1
# an output the machine cannot hold (disk full, file size limit: here RLIMIT_FSIZE, with
# SIGXFSZ ignored so write() fails with EFBIG) is the machine's fault: exit 1, not 2, and
# nothing half-written is left (it gave exit 2 and libpng's own extra line before)
(f0=$failed; trap '' XFSZ; ulimit -f 4; expect_fail 1 "embedding.npy: write failed: File too large" "$NOMAD" run small.yaml --quiet --out out/full1
 expect_fail 1 "full.png: PNG encoding failed: Write Error (File too large)" "$NOMAD" plot out/small/embedding.npy -o full.png
 [ "$failed" -eq "$f0" ]) && ok "outputs beyond the file size limit: exit 1" || bad "outputs beyond the file size limit"
for d in out/full1 full.png full.png.tmp.*; do [ ! -e "$d" ] && ok "nothing left in $d" || bad "$d left behind"; done
expect_fail 2 "--alpha expects a number in [0.001, 1]" "$NOMAD" plot out/small/embedding.npy --alpha 2
# an output never replaces a FIFO, a symlink, a directory or a device (-o /dev/null made it a file)
mkfifo out_fifo && ln -s labels.npy out_link.png && mkdir out_dir.png
for o in out_fifo out_link.png out_dir.png; do
  expect_fail 2 "$o: is a" timeout 20 "$NOMAD" plot out/small/embedding.npy -o "$o"
done
[ -p out_fifo ] && [ -L out_link.png ] && [ -d out_dir.png ] && ok "FIFO, symlink and directory left as they were" \
  || bad "an output replaced a FIFO, symlink or directory"
if mknod out_null c 1 3 2>/dev/null; then  # root only
  expect_fail 2 "out_null: is a device" "$NOMAD" plot out/small/embedding.npy -o out_null
  [ -c out_null ] && ok "device left as it was" || bad "plot replaced a device"
fi
[ -s map2.png ] && ok "plot wrote map2.png" || bad "plot"
$PY -c "import numpy as np; np.save('short.npy', np.zeros((100, 2), np.float32))"
expect_fail 2 "short.npy: 100 rows, but the data small.npy has 600" "$NOMAD" eval small.npy short.npy
# docs/config-reference.md is the generated reference (core schema + every shipped plugin's
# parameters), current with the code; `config --reference` prints the same text.
ref=$(env -u NOMAD_PLUGIN_PATH "$NOMAD" plugins --describe --markdown)
diff -q <(echo "$ref") "$ROOT/docs/config-reference.md" >/dev/null && ok "docs/config-reference.md is current" \
  || bad "docs/config-reference.md is stale: regenerate with nomad plugins --describe --markdown > docs/config-reference.md"
grep -q '^| `approx_cells` | enum | `[a-z_]*` | `remote`, .*`nearest_exact:K` |' <<<"$ref" \
  && grep -q '^| `optimizer.epochs` | int | `200` | >= 1 |' <<<"$ref" && ok "reference has core keys and plugin parameters" \
  || bad "reference content"
env -u NOMAD_PLUGIN_PATH "$NOMAD" config --reference | diff -q - <(echo "$ref") >/dev/null \
  && ok "config --reference = plugins --describe --markdown" || bad "config --reference differs"
"$NOMAD" plugins --describe cluster_mean --markdown | grep -q '^#### `cluster_mean`' \
  && ok "plugins --describe NAME --markdown" || bad "describe one plugin as markdown"
# The default plugin folder named on NOMAD_PLUGIN_PATH too shadows nothing; a copy elsewhere does.
plugdir=$(cd "$(dirname "$NOMAD")/plugins" && pwd)
out=$(NOMAD_PLUGIN_PATH=$plugdir "$NOMAD" plugins 2>&1 >/dev/null)
[ -z "$out" ] && ok "the plugin folder twice on the path: no warning" || bad "the plugin folder twice: $out"
mkdir -p shadow && cp "$plugdir/loss_tsne.so" shadow/
out=$(NOMAD_PLUGIN_PATH=$PWD/shadow "$NOMAD" plugins 2>&1 >/dev/null)
grep -q "loss plugin tsne in $plugdir/loss_tsne.so is shadowed by $PWD/shadow/loss_tsne.so" <<<"$out" \
  && ok "a copy earlier on the path shadows, with a warning" || bad "shadowing: $out"
finish
