# Helpers for the MPI shell tests (sourced): the launch command, a tally, and checks that
# a failed job printed one error line and left no run directory. $1 = nomad, $2 = scratch.
NOMAD=${1:?nomad binary}
SCRATCH=${2:?scratch folder}
read -ra LAUNCH <<<"${MPIEXEC:?launch command (set by ctest)}"
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "FAIL - $*"; }
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# mpi NP ARGS...: nomad under the launcher with NP ranks, at most MPI_TIMEOUT seconds (120; a
# guard against a hung job, not a speed test).
mpi() {
  local np=$1; shift
  timeout "${MPI_TIMEOUT:-120}" "${LAUNCH[@]}" -np "$np" "$NOMAD" "$@"
}

# expect_job_fail WHAT CODE WORDS DIR -- cmd...: the job exits CODE (or any non-zero code when
# CODE is "any"), prints exactly one "nomad: error:" line containing WORDS, and DIR is absent.
expect_job_fail() {
  local what=$1 code=$2 words=$3 dir=$4; shift 5
  local out rc=0 start=$SECONDS
  out=$("$@" 2>&1) || rc=$?
  local lines
  lines=$(grep -c '^nomad: error:' <<<"$out")
  if [ "$rc" -eq 124 ]; then bad "$what: hung, killed after $((SECONDS - start)) s"; return; fi
  if [ "$rc" -eq 0 ] || { [ "$code" != any ] && [ "$rc" -ne "$code" ]; }; then bad "$what: exit $rc, expected $code: $out"; return; fi
  if [ "$lines" -ne 1 ]; then bad "$what: $lines error lines, expected 1: $out"; return; fi
  if ! grep '^nomad: error:' <<<"$out" | grep -qF -- "$words"; then bad "$what: error lacks '$words': $out"; return; fi
  if [ -e "$dir" ]; then bad "$what: left $dir behind"; return; fi
  ok "$what: exit $rc in $((SECONDS - start)) s: $(grep '^nomad: error:' <<<"$out")"
}
