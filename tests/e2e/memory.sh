#!/usr/bin/env bash
# The memory promise: a run's estimate (logged, and in run.json) comes from the headers alone
# and is within 25% of the peak resident memory the run then reaches, on three sizes; a
# header that promises more than the machine holds is refused before any value is read.
set -u
source "$(dirname "$0")/common.bash"
cd "$SCRATCH"
# Under ASan the resident size is the sanitizer's (shadow memory, quarantined frees), not the
# program's: the promise is checked in the plain build.
if ldd "$NOMAD" 2>/dev/null | grep -q libasan; then echo "skipped: an ASan build's RSS is not the program's"; exit 77; fi

$PY - <<'PY'
import numpy as np, os
rng = np.random.default_rng(5)
for n, d in [(20000, 64), (60000, 64), (120000, 96)]:
    lab = rng.integers(0, 20, n)
    np.save("b%d.npy" % n, (rng.normal(0, 5, (20, d))[lab] + rng.normal(0, 1, (n, d))).astype(np.float32))
with open("sparse.npy", "wb") as f:   # 10^8 x 1000 float32 (400 GB) promised over a sparse file
    np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (100000000, 1000)})
    off = f.tell()
os.truncate("sparse.npy", off + 100000000 * 1000 * 4)
PY

for n in 20000 60000 120000; do
  "$NOMAD" run --set data.path=b$n.npy --set optimizer.epochs=2 --out run$n --quiet || bad "run on b$n.npy"
  $PY - "run$n/run.json" <<'PY' && ok "b$n: estimate within 25% of the peak" || bad "b$n: estimate off"
import json, sys
r = json.load(open(sys.argv[1]))
peak, est = r["peak_rss_bytes"], r["memory_estimate_bytes"]
print("  peak %.0f MiB, estimate %.0f MiB, ratio %.3f" % (peak / 2**20, est / 2**20, peak / est))
assert 0.75 <= peak / est <= 1.25
PY
done

# each child's peak resident memory from getrusage (no /usr/bin/time needed): the refusal of
# the sparse header against a run that fails at the same point for a missing file (the
# program, its plugins and, in a CUDA build, the CUDA libraries: 10 MB or 200 MB)
peak_of() {
  $PY - "$NOMAD" "$1" <<'PY' 2>&1
import resource, subprocess, sys
p = subprocess.run([sys.argv[1], "run", "--set", "data.path=" + sys.argv[2], "--out", "sparse_run"], capture_output=True, text=True)
print(p.stderr.strip().splitlines()[-1])
print("rc %d maxrss %d" % (p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
PY
}
base=$(peak_of missing.npy | sed -n 's/^rc [0-9]* maxrss //p')
out=$(peak_of sparse.npy)
grep -q "sparse.npy: 100000000 x 1000: the run needs about" <<<"$out" && grep -q "^rc 2 " <<<"$out" && [ ! -e sparse_run ] \
  && ok "a 400 GB header is refused from the header: exit 2, nothing written" || bad "sparse header: $out"
rss=$(sed -n 's/^rc [0-9]* maxrss //p' <<<"$out")
[ -n "$rss" ] && [ -n "$base" ] && [ "$rss" -lt $((base + 65536)) ] \
  && ok "... before reading values (peak ${rss} KiB; a missing file: ${base} KiB)" || bad "refusal used ${rss:-?} KiB (base ${base:-?})"
rm -f sparse.npy

finish
