#!/usr/bin/env bash
# The experiment scripts of docs/results.md (experiments/*.sh) at toy scale: 1,500 rows of
# generated blobs, a few epochs, small grids. Each writes its table, CSV and figure; the
# tables have the expected rows; remote = none on one rank (same NP@10); a second start runs
# nothing again; docs/results.md is left alone by smoke runs and fill-doc replaces one
# marked block. Skipped (77) without python3-matplotlib (the scripts would install it).
set -u
source "$(dirname "$0")/common.bash"
if ! $PY -c 'import matplotlib' 2>/dev/null; then
  echo "python3-matplotlib is not installed: skipped"
  exit 77
fi
export NOMAD EXP_LIMIT=1500 EXP_SEEDS=1 EXP_SET="optimizer.epochs=4 optimizer.batch=256"
export EXP_DATA=blobs EXP_DATASETS=blobs EXP_BLOBS_N=3000 EXP_BLOBS_D=16 EXP_BLOBS_CACHE=$SCRATCH/blobs
export EXP_RESULTS=$SCRATCH/results EXP_WORK=$SCRATCH/work
R=$SCRATCH/results
doc_before=$(cksum <docs/results.md)

is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }
run() {  # run NAME [ENV=VALUE...]: experiments/NAME.sh, its log in $SCRATCH/NAME.log
  local name=$1; shift
  env "$@" bash "experiments/$name.sh" >"$SCRATCH/$name.out" 2>"$SCRATCH/$name.log"
}
outputs() {  # outputs NAME: table printed, .md and .png written
  [ -s "$R/$1.md" ] && is_png "$R/$1.png" && grep -qF "$(head -1 "$R/$1.md")" "$SCRATCH/$1.out"
}

# ---- experiment 1: methods (nomad's loop only; the peers take minutes)
if run methods EXP_METHODS="nomad infonce-tsne"; then ok "methods.sh ran"; else bad "methods.sh: $(tail -3 "$SCRATCH/methods.log")"; fi
outputs methods && is_png "$R/methods_maps.png" && ok "methods: table printed, md and png written" || bad "methods outputs"
$PY - "$R/methods.csv" <<'PY' && ok "methods.csv: both methods scored" || bad "methods.csv: $(cat "$R/methods.csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [(r["dataset"], r["method"], r["status"]) for r in rows] == [("blobs", "nomad", "ok"), ("blobs", "infonce-tsne", "ok")], rows
for r in rows:
    assert 0 < float(r["np"]) <= 1 and 0 < float(r["triplet"]) <= 1 and float(r["fit_s"]) > 0 and r["n"] == "1500", r
PY
grep -q '^| NOMAD (cluster means) | 0\.[0-9]* ± 0\.[0-9]* |' "$R/methods.md" && ok "methods.md row" || bad "methods.md: $(cat "$R/methods.md")"

# ---- experiment 5 needs 1's CSV
if run quality_time; then ok "quality_time.sh ran"; else bad "quality_time.sh: $(tail -3 "$SCRATCH/quality_time.log")"; fi
outputs quality_time && grep -q '^| exact InfoNC-t-SNE | [0-9.]* | 0\.[0-9]* ± 0\.[0-9]* | 1\.00 | 1\.00x |$' "$R/quality_time.md" \
  && ok "quality_time: relative to exact InfoNC-t-SNE" || bad "quality_time.md: $(cat "$R/quality_time.md")"
rc=0; run quality_time EXP_RESULTS="$SCRATCH/empty" || rc=$?
[ "$rc" -eq 2 ] && grep -q "run experiments/methods.sh first" "$SCRATCH/quality_time.log" \
  && ok "quality_time.sh without methods.csv: exit 2" || bad "quality_time without csv: exit $rc"

# ---- experiment 2: |R|
if run cells EXP_CELLS=1,4; then ok "cells.sh ran"; else bad "cells.sh: $(tail -3 "$SCRATCH/cells.log")"; fi
outputs cells && grep -q '^| 1 | 1/1 | 1\.000 |' "$R/cells.md" && grep -q '^| 4 | 1/1 | 0\.[0-9]* |' "$R/cells.md" \
  && ok "cells: one row per |R|, all edges kept with one cell" || bad "cells.md: $(cat "$R/cells.md")"
stat -c '%n %y' "$SCRATCH"/work/cells/blobs-set-*/*/run.json >"$SCRATCH/before.txt"
run cells EXP_CELLS=1,4 && stat -c '%n %y' "$SCRATCH"/work/cells/blobs-set-*/*/run.json | cmp -s - "$SCRATCH/before.txt" \
  && [ "$(grep -c '\.\.\. done before' "$SCRATCH/cells.log")" -eq 2 ] && ok "cells.sh again: nothing re-run" \
  || bad "cells.sh resume: $(cat "$SCRATCH/cells.log")"

# ---- experiment 3: R~
if run approx EXP_APPROX=remote,none EXP_EXACT=16,32 EXP_APPROX_CELLS=4; then ok "approx.sh ran"
else bad "approx.sh: $(tail -3 "$SCRATCH/approx.log")"; fi
outputs approx && [ "$(grep -c '^| `' "$R/approx.md")" -eq 8 ] && ok "approx: 4 + 4 rows" || bad "approx.md: $(cat "$R/approx.md")"
$PY - "$R/approx_rtilde.csv" <<'PY' && ok "approx: remote = none on one rank" || bad "approx: remote differs from none"
import csv, sys
np10 = {(r["negatives.approx_cells"], r["negatives.weighting"]): r["np@10"] for r in csv.DictReader(open(sys.argv[1]))}
assert len(np10) == 4 and np10[("remote", "mass")] == np10[("none", "mass")] != "", np10
PY

# ---- experiment 4: ranks (77 without MPI)
rc=0; run ranks EXP_RANKS="1 2" EXP_RANKS_VARIANTS=nomad || rc=$?
if [ "$rc" -eq 77 ]; then
  grep -q "needs the MPI back end" "$SCRATCH/ranks.log" && ok "ranks.sh: skipped, no MPI back end" || bad "ranks 77 message"
elif [ "$rc" -eq 0 ]; then
  outputs ranks && [ "$(grep -c '^| NOMAD (configs/nomad.yaml' "$R/ranks.md")" -eq 2 ] && ok "ranks: 1 and 2 ranks" \
    || bad "ranks.md: $(cat "$R/ranks.md")"
else
  bad "ranks.sh: exit $rc: $(tail -3 "$SCRATCH/ranks.log")"
fi

# ---- experiment 6: tsne_levers (every lever is a row; a second start runs nothing again)
if run tsne_levers; then ok "tsne_levers.sh ran"; else bad "tsne_levers.sh: $(tail -3 "$SCRATCH/tsne_levers.log")"; fi
levers=$(grep -c '^| [a-z0-9].* | [0-9.]* | 0\.[0-9]* ± 0\.[0-9]* | 0\.[0-9]* |$' "$R/tsne_levers.md")
[ "$levers" -eq 16 ] && [ "$(($(wc -l <"$R/tsne_levers.csv") - 1))" -eq 16 ] && ok "tsne_levers: 16 rows" \
  || bad "tsne_levers.md: $levers rows: $(cat "$R/tsne_levers.md")"
run tsne_levers && [ "$(grep -c 'done before' "$SCRATCH/tsne_levers.log")" -eq 16 ] \
  && ok "tsne_levers.sh again: nothing re-run" || bad "tsne_levers resume: $(tail -5 "$SCRATCH/tsne_levers.log")"

# ---- experiment 7: cell_artifact (six variants, each fitted small and large and scored three ways)
if run cell_artifact EXP_ARTIFACT_CELLS=8; then ok "cell_artifact.sh ran"; else bad "cell_artifact.sh: $(tail -3 "$SCRATCH/cell_artifact.log")"; fi
outputs cell_artifact && [ "$(grep -c '^| [a-z0-9].* | 0\.[0-9]* | 0\.[0-9]* | 0\.[0-9]* | 0\.[0-9]* | [0-9.]* |$' "$R/cell_artifact.md")" -eq 6 ] \
  && ok "cell_artifact: 6 rows, md and png written" || bad "cell_artifact.md: $(cat "$R/cell_artifact.md")"
rc=0; run cell_artifact EXP_ARTIFACT_CELLS=none || rc=$?
[ "$rc" -eq 2 ] && grep -q "EXP_ARTIFACT_CELLS=none: expected a count" "$SCRATCH/cell_artifact.log" \
  && ok "cell_artifact.sh with a bad cell count: exit 2" || bad "cell_artifact bad count: exit $rc"

# ---- transfer and the scale control (openTSNE's rows left out: it comes from PyPI)
if run transfer EXP_OPENTSNE=0 EXP_TRANSFER_N=2000; then ok "transfer.sh ran"; else bad "transfer.sh: $(tail -3 "$SCRATCH/transfer.log")"; fi
outputs transfer && [ "$(grep -c '^| .* | configs/[a-z-]*\.yaml | [0-9.]* | 0\.[0-9]* |  | 0\.[0-9]* |  |$' "$R/transfer.md")" -eq 6 ] \
  && ok "transfer: 2 data sets x 3 configs" || bad "transfer.md: $(cat "$R/transfer.md")"
rc=0; run transfer EXP_TRANSFER_N=many || rc=$?
[ "$rc" -eq 2 ] && grep -q "EXP_TRANSFER_N=many: expected a row count" "$SCRATCH/transfer.log" \
  && ok "transfer.sh with a bad row count: exit 2" || bad "transfer bad count: exit $rc"
if run scale_control EXP_OPENTSNE=0 LARGE_SET=partitioner.cells=4; then ok "scale_control.sh ran"
else bad "scale_control.sh: $(tail -3 "$SCRATCH/scale_control.log")"; fi
outputs scale_control && [ "$(grep -c '^| nomad.yaml \(+ partitioner.cells=4 (large.sh)\|as shipped\) | [0-9.]* | 0\.[0-9]* | [0-9.]* | 0\.[0-9]* | 0\.[0-9]* | -*0\.[0-9]* | ' \
  "$R/scale_control.md")" -eq 2 ] && ok "scale_control: nomad scaled and as shipped, fitted at 300 and 1,500 rows" \
  || bad "scale_control.md: $(cat "$R/scale_control.md")"

# ---- docs/results.md: untouched by smoke runs; fill-doc replaces one block
[ "$(cksum <docs/results.md)" = "$doc_before" ] && ok "docs/results.md untouched" || bad "a smoke run changed docs/results.md"
cp docs/results.md "$SCRATCH/doc.md"
outside_cells() { awk '/<!-- results:cells begin -->/ {skip = 1} !skip; /<!-- results:cells end -->/ {skip = 0}' "$1"; }
$PY experiments/exp_report.py fill-doc "$SCRATCH/doc.md" cells "$R/cells.md" \
  && grep -qF "$(head -1 "$R/cells.md")" "$SCRATCH/doc.md" && grep -q '^!\[cells\](results/cells.png)$' "$SCRATCH/doc.md" \
  && [ "$(outside_cells "$SCRATCH/doc.md")" = "$(outside_cells docs/results.md)" ] \
  && grep -q '<!-- results:cells end -->' "$SCRATCH/doc.md" && ok "fill-doc: the cells block filled, the rest and the markers kept" \
  || bad "fill-doc"
finish
