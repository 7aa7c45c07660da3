#!/usr/bin/env bash
# nomad view: a run's map as one HTML file, opened in headless Chromium and used as a person
# would (tests/e2e/view_page.py: the browser's own wheel, drag, mouse and keys): it draws the
# labels' colours with no console error, zooms around the cursor, pans, names the hovered point
# with its label and text, searches, fits; 3-D and one-point maps draw; without WebGL it says
# so; a page that throws is caught. Bad input is refused in one line (exit 2), nothing left.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$(dirname "$0")/common.bash"
cd "$SCRATCH"
BROWSER=${NOMAD_BROWSER:-$(command -v chromium-headless-shell || command -v chromium || true)}

blobs "$SCRATCH"
fit() { "$NOMAD" run "$ROOT/configs/${CONFIG:-nomad-paper}.yaml" --set data.path=x.npy --set threads=2 \
  --set eval.enabled=false --set output.plot=false --quiet "$@"; }
fit --set data.labels=y.npy --out map || bad "fit"
# the default config's 3-D layout: eight tight clusters, so the zoom and pan leave empty space in view
CONFIG=nomad fit --set data.labels=y.npy --set dims=3 --out map3 || bad "fit in 3-D"
# texts that try to end the script, open a comment, break a line, and are not all UTF-8
$PY - <<'PY'
import numpy as np
with open("texts.txt", "wb") as f:
    for i in range(1200):
        f.write(f'p{i}: </script><script>alert(1)</script> <!-- "q" \\ & é 🙂 \u2028 '.encode() + b"\xff end\n")
np.save("short_y.npy", np.load("y.npy")[:1199]); np.save("two.npy", np.load("y.npy") % 2)
np.save("wide.npy", np.zeros((4, 5), np.float32))
PY
head -n 1199 texts.txt >short.txt

expect_ok "$NOMAD" view map --text texts.txt
[ -s map/map.html ] && ok "map/map.html written ($(wc -c <map/map.html) bytes)" || bad "no map/map.html"
grep -q '"labels": \[0,1,2,3,4,5,6,7\]' map/map.html && ok "the run's labels" || bad "the run's labels are not in the page"
expect_ok "$NOMAD" view map --labels two.npy -o two.html
grep -q '"labels": \[0,1\]' two.html && ok "--labels replaces the run's" || bad "--labels ignored"
expect_ok "$NOMAD" view map3 -o three.html
if [ -d "${NOMAD_DATASETS_DIR:-/usr/share/datasets}/fashion-mnist" ]; then # the alias's labels, cut at data.limit
  "$NOMAD" run "$ROOT/configs/nomad.yaml" --set data.limit=2000 --set optimizer.epochs=20 --set eval.enabled=false \
    --set output.plot=false --set threads=2 --quiet --out fmnist || bad "fit on fashion-mnist"
  expect_ok "$NOMAD" view fmnist
  grep -q '"n": 2000,.*"labels": \[0,1,2,3,4,5,6,7,8,9\]' fmnist/map.html && ok "fashion-mnist's labels, the first 2000" ||
    bad "fashion-mnist's labels are not in the page"
fi
mkdir -p one && cp map/run.json one/ && $PY - <<'PY'
import json, numpy as np
np.save("one/embedding.npy", np.array([[0.5, -2.0]], np.float32))
r = json.load(open("one/run.json")); r["data"]["labels"] = None; json.dump(r, open("one/run.json", "w"))
PY
expect_ok "$NOMAD" view one

# bad input: one line, exit 2, nothing written
expect_fail 2 "usage: nomad view RUN_DIR" "$NOMAD" view
expect_fail 2 "nowhere: no run.json: not the folder of a finished nomad run" "$NOMAD" view nowhere -o o.html
expect_fail 2 "short.txt: 1199 lines, but the map has 1200 points" "$NOMAD" view map --text short.txt -o o.html
expect_fail 2 "missing.txt" "$NOMAD" view map --text missing.txt -o o.html
expect_fail 2 "short_y.npy: 1199 labels, but the data has 1200 rows" "$NOMAD" view map --labels short_y.npy -o o.html
expect_fail 2 "-o given twice" "$NOMAD" view map -o o.html -o p.html
expect_fail 2 "unknown option --colour" "$NOMAD" view map --colour -o o.html
mkdir -p folder.html && expect_fail 2 "folder.html: is a directory" "$NOMAD" view map -o folder.html
mkdir -p failed && echo '{"status": "failed", "error": "x"}' >failed/run.json
expect_fail 2 'failed/run.json: status is "failed", not "ok"' "$NOMAD" view failed
mkdir -p torn && printf '{"status": "ok", ' >torn/run.json
expect_fail 2 "torn/run.json: not a complete run record" "$NOMAD" view torn
mkdir -p wide && cp map/run.json wide/ && cp wide.npy wide/embedding.npy
expect_fail 2 "a layout has 2 or 3 columns, this has 5" "$NOMAD" view wide
cp y.npy gone.npy && fit --set data.labels=gone.npy --out gone >/dev/null && rm gone.npy
expect_fail 2 "the labels the run used; --labels names others" "$NOMAD" view gone
[ ! -e o.html ] && [ ! -e p.html ] && [ ! -e failed/map.html ] && [ ! -e wide/map.html ] && [ ! -e gone/map.html ] &&
  [ -z "$(find . -name '*.tmp.*')" ] && ok "no output left by a refused view" || bad "a refused view left a file"

if [ -z "$BROWSER" ]; then
  echo "skip: no chromium-headless-shell or chromium (tests/install_deps.sh installs one); the page is not checked"
  finish || exit 1
  exit 77
fi

# page NAME HTML [driver args]: drives the page, then the checks in the heredoc that follows
page() {
  local name=$1 html=$2; shift 2
  $PY "$ROOT/tests/e2e/view_page.py" "$BROWSER" "$html" --shot "$name.png" "$@" >"$name.json" 2>"$name.err" ||
    bad "$name: the driver failed: $(tail -3 "$name.err")"
}
# verdict NAME: runs the Python on stdin with `r` (the driver's JSON) and `problems` (appended
# to), after the checks every page gets (the driver ran, no console error); judge NAME says so
verdict() {
  $PY -c "
import json, sys
import numpy as np
r, problems = json.load(open('$1.json')), []
if r.get('driver_error'): problems.append('driver: ' + r['driver_error'])
errors = [c for c in r.get('console', []) if c['level'] == 'error']
if errors: problems.append('console errors: ' + json.dumps(errors, ensure_ascii=False))
exec(sys.stdin.read())
print('; '.join(problems))
sys.exit(1 if problems else 0)
" 2>&1
}
judge() {
  local out
  if out=$(verdict "$1"); then ok "$1: $(head -c 300 "$1.json")"; else bad "$1: $out"; fi
}

page map map/map.html --search 3 --search '"p17:"' --search '</script>'
judge map <<'PY'
y, texts = np.load("y.npy"), open("texts.txt", "rb").read().split(b"\n")
if not (r.get("first_frame_ms") or 0) > 0: problems.append("no first frame")
else:
    if r["screenshot"]["painted"] < 0.01 or r["screenshot"]["hues"] < 4: problems.append(f"screenshot {r['screenshot']}")
    z = r["zoom"]
    if not (z["factor"] > 1.5 and z["anchor_px"] < 0.5 and z["size_after"] > z["size_before"]): problems.append(f"zoom {z}")
    if max(abs(r["pan_px"][0] - 60), abs(r["pan_px"][1] - 40)) > 1e-6: problems.append(f"pan {r['pan_px']}")
    h = r.get("hover") or {}
    i = h.get("index", -1)
    if not h.get("shown") or i is None or i < 0 or h["dist_px"] > h["point_dist_px"] + 1e-9: problems.append(f"hover {h}")
    elif h["head"] != f"#{i} · label {y[i]}" or h["text"] != texts[i].decode("utf-8", "replace"):
        problems.append(f"hover box {h!r}, want #{i}, label {y[i]}, {texts[i]!r}")
    if r["grid_mismatches"] != 0: problems.append(f"{r['grid_mismatches']} of 300 nearest points differ from a scan")
    want = {"3": "150 of 1,200 points match", '"p17:"': "1 of 1,200 points match", "</script>": "1,200 of 1,200 points match"}
    if r["search"] != want: problems.append(f"search {r['search']}, want {want}")
    if r["fit_key"] != 1: problems.append(f"f left the zoom at {r['fit_key']}")
PY

page three three.html
judge three <<'PY'
h = r.get("hover") or {}
if not (r.get("first_frame_ms") or 0) > 0 or r["screenshot"]["hues"] < 4 or not h.get("shown") or \
        h["dist_px"] > h["point_dist_px"] + 1e-9:
    problems.append(f"the 3-D map is not drawn or hovered: {h}")
if r.get("fit_key") != 1: problems.append(f"f left the zoom at {r.get('fit_key')}")
PY

page one one/map.html
judge one <<'PY'
h = r.get("hover") or {}
if not (r.get("first_frame_ms") or 0) > 0 or h.get("index") != 0 or h.get("head") != "#0":
    problems.append(f"one point, no labels: {h}")
PY

page nogl map/map.html --browser-arg --disable-webgl
judge nogl <<'PY'
if r.get("first_frame_ms") is not None or "no WebGL" not in r.get("message", ""):
    problems.append(f"without WebGL the page does not say so: {r.get('message')}")
PY

# the checks can fail: the same page with a throw in it must be caught
sed 's/^  setUpGL();$/  setUpGL(); throw new Error("broken on purpose");/' map/map.html >broken.html
grep -q "broken on purpose" broken.html || bad "could not break the page"
page broken broken.html
if out=$(verdict broken </dev/null); then bad "a page that throws passed the checks"; else ok "a page that throws is caught: $out"; fi
finish
