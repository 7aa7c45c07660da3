# Helpers for end-to-end tests: `expect_fail CODE WORDS -- cmd...` and a pass/fail tally.
# Sourced by tests/e2e/*.sh, which get the nomad binary as $1 and a scratch folder as $2.
NOMAD=${1:?nomad binary}
SCRATCH=${2:?scratch folder}
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
passed=0
# Debian's python3 has numpy and scikit-learn (tests/install_deps.sh); a python3 earlier on
# PATH (pyenv, venv) may not.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
failed=0

ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }

# expect_fail CODE "words in stderr" cmd args...
expect_fail() {
  local code=$1 words=$2; shift 2
  local err rc=0
  err=$("$@" 2>&1 >/dev/null) || rc=$?
  if [ "$rc" -ne "$code" ]; then bad "$* : exit $rc, expected $code ($err)"; return; fi
  if ! grep -qF -- "$words" <<<"$err"; then bad "$* : message lacks '$words': $err"; return; fi
  if [ "$(wc -l <<<"$err")" -ne 1 ]; then bad "$* : error is not one line: $err"; return; fi
  ok "$* -> $code: $err"
}

expect_ok() {
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ]; then bad "$* : exit $rc: $out"; else ok "$*"; fi
}

# blobs DIR: DIR/x.npy (8 Gaussian blobs of 150 points in 8-d) and DIR/y.npy (their labels),
# the small data the guide tests fit.
blobs() {
  $PY - "$1" <<'PY'
import numpy as np, sys
rng = np.random.default_rng(1)
x = np.concatenate([rng.normal(c, 1, (150, 8)) for c in rng.normal(0, 8, (8, 8))]).astype(np.float32)
np.save(sys.argv[1] + "/x.npy", x); np.save(sys.argv[1] + "/y.npy", np.repeat(np.arange(8), 150))
PY
}

# guide_yaml PLUGINS: $SCRATCH/guide.yaml, the plugin guide tests' run of blobs() (8 cells, 20
# epochs, no picture), with PLUGINS the YAML lines that name the plugins under test.
guide_yaml() {
  cat >"$SCRATCH/guide.yaml" <<YAML
data: { path: x.npy, labels: y.npy }
threads: 2
partitioner: { plugin: kmeans, cells: 8 }
$1
optimizer: { epochs: 20, batch: 128 }
eval: { queries: 300 }
output: { plot: false }
YAML
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# tiny_run SEED: x.npy (3 blobs of 100 points in 8-d, from SEED), y.npy (their labels) and
# tiny.yaml (2 cells, 2 epochs, no picture) in the current folder: a run of a second.
tiny_run() {
  $PY - "$1" <<'PY'
import numpy as np, sys
rng = np.random.default_rng(int(sys.argv[1]))
lab = np.repeat(np.arange(3), 100)
x = (rng.normal(0, 6, (3, 8))[lab] + rng.normal(0, 1, (300, 8))).astype(np.float32)
np.save("x.npy", x); np.save("y.npy", lab)
PY
  cat > tiny.yaml <<'YAML'
data: { path: x.npy, labels: y.npy }
threads: 1
partitioner: { plugin: kmeans, cells: 2 }
ann: { k: 5 }
negatives: { plugin: cluster_mean, exact: 8 }
optimizer: { epochs: 2, batch: 64 }
eval: { queries: 100, triplets: 200 }
output: { plot: false }
YAML
}
