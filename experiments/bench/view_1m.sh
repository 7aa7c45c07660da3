#!/usr/bin/env bash
# nomad view at 1M points: a synthetic run folder (1,000,000 x 2 float32 in 10 Gaussian blobs,
# int32 labels in random order, a text per point), then (a) the page's size, (b) `nomad view`'s
# wall time and peak memory, (c) the page in headless Chromium (tests/e2e/view_page.py): load
# to first frame (the GPU fence after the first draw; WebGL on SwiftShader, Chromium's CPU
# renderer, where this machine has no GPU browser), the time the script took before its first
# draw, and one redraw of the 1M points. Median of BENCH_REPEAT (5) loads each.
#   bash experiments/bench/view_1m.sh [BUILD_DIR]     (default build; files in experiments/out/view_1m)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NOMAD=$(cd "${1:-$ROOT/build}" && pwd)/nomad
OUT=$ROOT/experiments/out/view_1m
REPEAT=${BENCH_REPEAT:-5}
BROWSER=$(command -v chromium-headless-shell || command -v chromium)
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
mkdir -p "$OUT" && cd "$OUT"
$PY - <<'PY'
import json, numpy as np
rng = np.random.default_rng(0)
n = 1_000_000
lab = rng.integers(0, 10, n)
y = rng.normal(0, 10, (10, 2))[lab] + rng.standard_normal((n, 2)) * rng.uniform(0.5, 2.5, (10, 1))[lab]
np.save("embedding.npy", y.astype(np.float32)); np.save("labels.npy", lab.astype(np.int32))
json.dump({"status": "ok", "data": {"labels": None}}, open("run.json", "w"))
with open("texts.txt", "w") as f:
    f.writelines(f"point {i} of blob {lab[i]}\n" for i in range(n))
PY
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
echo "| page | size | nomad view (wall, peak RSS) | load to first frame | script until its first draw | of which decode + grid | one frame |"
echo "|---|---|---|---|---|---|---|"
for variant in labels texts; do
  args=(--labels labels.npy -o "$variant.html")
  [ "$variant" = texts ] && args+=(--text texts.txt)
  for _ in 1 2 3; do /usr/bin/time -f "%e %M" "$NOMAD" view . "${args[@]}" 2>&1 >/dev/null | tail -1; done >time.txt
  secs=$(cut -d' ' -f1 time.txt | median) rss=$(cut -d' ' -f2 time.txt | median)
  for _ in $(seq "$REPEAT"); do
    $PY "$ROOT/tests/e2e/view_page.py" "$BROWSER" "$variant.html" --size 1200x800 --search 3
  done >loads.json
  $PY - "$variant" "$(stat -c %s "$variant.html")" "$secs" "$rss" <<'PY'
import json, statistics as st, sys
variant, size, secs, rss = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
runs = [json.loads(line) for line in open("loads.json")]
bad = [r for r in runs if r.get("driver_error") or any(c["level"] == "error" for c in r["console"])]
assert not bad, bad
med = lambda f: st.median(f(r) for r in runs)
print(f"| {variant} | {size / 1e6:.2f} MB | {secs:.2f} s, {rss / 1024:.0f} MB | "
      f"{med(lambda r: r['first_frame_ms']) / 1e3:.2f} s | {med(lambda r: r['timings']['firstDrawMs']) / 1e3:.2f} s | "
      f"{med(lambda r: r['timings']['decodeMs'] + r['timings']['indexMs']) / 1e3:.2f} s | "
      f"{med(lambda r: r['frame_ms']) / 1e3:.2f} s |")
PY
done
