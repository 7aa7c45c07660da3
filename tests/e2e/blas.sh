#!/usr/bin/env bash
# The BLAS kernel: a run on an AVX2 CPU uses an AVX2 one; when OpenBLAS falls back to a generic
# kernel (simulated with OPENBLAS_CORETYPE=Prescott) nomad restarts itself with a fast one, once,
# and says so in the log, run.json and --version; NOMAD_BLAS_CORE=keep keeps the slow one, warning.
set -u
source "$(dirname "$0")/common.bash"
cd "$SCRATCH"
unset OPENBLAS_CORETYPE NOMAD_BLAS_CORE NOMAD_BLAS_REEXEC # each check sets its own

# The kernels OpenBLAS 0.3.21 has for CPUs without AVX2+FMA (as core/plugin_host/blas.c lists them).
OLD="unknown katmai coppermine northwood prescott banias atom core2 penryn dunnington nehalem athlon opteron \
opteron_sse3 barcelona nano bobcat sandybridge bulldozer piledriver steamroller"
is_old() { grep -qiw -- "$1" <<<"$OLD"; }
flags=$(grep -m1 '^flags' /proc/cpuinfo)
avx2=0
grep -qw avx2 <<<"$flags" && grep -qw fma <<<"$flags" && avx2=1

$PY - <<'PY'
import numpy as np
rng = np.random.default_rng(1)
c = rng.normal(0, 8, (2, 16))
np.save("tiny.npy", (c[np.arange(500) % 2] + rng.normal(0, 1, (500, 16))).astype(np.float32))
PY
cat > tiny.yaml <<'YAML'
data: { path: tiny.npy }
threads: 2
partitioner: { plugin: kmeans, cells: 2 }
ann: { plugin: exact_cell, k: 8 }
optimizer: { epochs: 3, batch: 128 }
eval: { enabled: false }
output:
  dir: out/{name}
  plot: false
YAML

# run NAME [ENV=VALUE...]: a tiny run with that environment; its stderr in NAME.log.
run() {
  local name=$1; shift
  env "$@" "$NOMAD" run tiny.yaml --out "out/$name" 2>"$name.log" && ok "run $name" \
    || bad "run $name: $(cat "$name.log")"
}
# blas NAME KEY: run.json's blas.KEY ("null" for null).
blas() {
  $PY -c "import json; v = json.load(open('out/$1/run.json'))['blas'].get('$2'); print('null' if v is None else v)"
}

# (a) As OpenBLAS chooses: one info line, a kernel, and no fallback on an AVX2 CPU.
run plain
grep -q '^nomad: blas: OpenBLAS [0-9.]*, kernel [A-Za-z0-9_]*, 2 threads$' plain.log && ok "log names the kernel" \
  || bad "no blas line: $(cat plain.log)"
[ "$(blas plain library)" = OpenBLAS ] && [ -n "$(blas plain version)" ] && [ "$(blas plain threads)" = 2 ] \
  && ok "run.json blas: library, version, threads" || bad "run.json blas: $(blas plain library) $(blas plain threads)"
kernel=$(blas plain kernel)
if [ "$avx2" = 1 ]; then
  ! is_old "$kernel" && [ "$(blas plain fallback)" = null ] && [ "$(blas plain fixed_by)" = null ] \
    && ok "AVX2 CPU, kernel $kernel" || bad "AVX2 CPU but kernel $kernel, fallback $(blas plain fallback)"
else
  echo "skip: this CPU has no AVX2+FMA, so OpenBLAS's $kernel is the right kernel and nomad keeps it"
  finish
  exit $?
fi
"$NOMAD" --version | grep -q "; blas OpenBLAS [0-9.]* $kernel)$" \
  && ok "--version names the kernel" || bad "--version: $("$NOMAD" --version)"

# (b) A generic fallback: restarted once with OPENBLAS_CORETYPE, recorded in the log and run.json.
run fallback OPENBLAS_CORETYPE=Prescott
want='^nomad: blas: OpenBLAS [0-9.]*, kernel [A-Za-z]* (OpenBLAS chose Prescott on a CPU with AVX2; '
want+='restarted with OPENBLAS_CORETYPE=[A-Za-z]*), 2 threads$'
grep -q "$want" fallback.log && ok "log: restarted" || bad "log lacks the restart: $(cat fallback.log)"
fixed=$(blas fallback kernel)
! is_old "$fixed" && [ "$(blas fallback fallback)" = Prescott ] \
  && [ "$(blas fallback fixed_by)" = "OPENBLAS_CORETYPE=$fixed (re-exec)" ] \
  && [ "$(blas fallback kept_because)" = null ] \
  && ok "run.json: fallback Prescott, fixed by $fixed" \
  || bad "run.json: kernel $fixed, fallback $(blas fallback fallback), fixed_by $(blas fallback fixed_by)"
cmp -s out/plain/embedding.npy out/fallback/embedding.npy && ok "same layout after the restart" \
  || echo "note: the layouts differ (another GEMM kernel rounds differently): $kernel vs $fixed"
OPENBLAS_CORETYPE=Prescott "$NOMAD" --version | grep -q "; blas OpenBLAS [0-9.]* $fixed, restarted from Prescott)$" \
  && ok "--version: restarted" || bad "--version: $(OPENBLAS_CORETYPE=Prescott "$NOMAD" --version)"
# Other subcommands restart too, with their arguments intact.
OPENBLAS_CORETYPE=Prescott "$NOMAD" eval tiny.npy out/fallback/embedding.npy --queries 50 --triplets 100 --json \
  >eval.json 2>eval.log && $PY -c "import json; json.load(open('eval.json'))" && ok "eval after a restart" \
  || bad "eval after a restart: $(cat eval.log)"
# Never twice: a process that is already the restart keeps what it got, and says so.
run loop OPENBLAS_CORETYPE=Prescott NOMAD_BLAS_REEXEC=Prescott
[ "$(blas loop kernel)" = Prescott ] && grep -q "did not change the kernel; GEMM stages will be slow" loop.log \
  && ok "no second restart" || bad "second restart: $(blas loop kernel): $(cat loop.log)"
# A restart that fails (no /proc, in a mount namespace of its own where root can make one) goes on,
# warned. Not under ASan, whose options and leak check need /proc.
if ldd "$NOMAD" | grep -q libasan; then
  echo "skip: failed restart: a sanitizer build cannot run without /proc"
elif unshare -m true 2>/dev/null; then
  out=$(OPENBLAS_CORETYPE=Prescott unshare -m sh -c 'umount -l /proc && exec "$0" --version' "$NOMAD" 2>&1)
  grep -q "^nomad: warning: blas: the restart with OPENBLAS_CORETYPE=[A-Za-z]* failed" <<<"$out" \
    && grep -q "^nomad [0-9].*; blas OpenBLAS [0-9.]* Prescott, slow: pre-AVX2 kernel kept (the restart" <<<"$out" \
    && ok "failed restart: goes on, warned" || bad "failed restart: $out"
else
  echo "skip: no mount namespace (unshare -m) to make the restart fail"
fi

# (c) NOMAD_BLAS_CORE=keep: the slow kernel stays, with a warning (printed even with --quiet).
run keep OPENBLAS_CORETYPE=Prescott NOMAD_BLAS_CORE=keep
grep -q '^nomad: warning: blas: .*kernel Prescott.*kept because NOMAD_BLAS_CORE=keep; GEMM stages will be slow' \
  keep.log \
  && ok "keep: warned" || bad "keep: no warning: $(cat keep.log)"
[ "$(blas keep kernel)" = Prescott ] && [ "$(blas keep fallback)" = Prescott ] && [ "$(blas keep fixed_by)" = null ] \
  && [ "$(blas keep kept_because)" = NOMAD_BLAS_CORE=keep ] && ok "keep: run.json" \
  || bad "keep: kernel $(blas keep kernel), fixed_by $(blas keep fixed_by)"
env OPENBLAS_CORETYPE=Prescott NOMAD_BLAS_CORE=keep "$NOMAD" run tiny.yaml --out out/quiet --quiet 2>quiet.log
grep -q "GEMM stages will be slow" quiet.log && ok "keep: warned under --quiet" || bad "keep --quiet: $(cat quiet.log)"
expect_ok env NOMAD_BLAS_CORE=sometimes "$NOMAD" --version
NOMAD_BLAS_CORE=sometimes "$NOMAD" --version 2>&1 >/dev/null \
  | grep -q "NOMAD_BLAS_CORE=sometimes: expected keep or auto" \
  && ok "unknown NOMAD_BLAS_CORE value: warned" || bad "unknown NOMAD_BLAS_CORE value: no warning"
finish
