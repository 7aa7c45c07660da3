#!/usr/bin/env bash
# A rank that fails stops every rank with one error line, never a hang: once at a stage
# boundary (all exit 2) and once while the others wait in a collective it skipped (it
# aborts them after distributed.abort_timeout). Runs the comm_fail helper with 2 and 4 ranks.
set -u
read -ra LAUNCH <<<"${MPIEXEC:?launch command}"
HELPER=${NOMAD_TEST_BIN:?helpers folder}/comm_fail
failed=0
for np in 2 4; do
  for mode in clean stuck; do
    start=$(date +%s)
    out=$(timeout 60 "${LAUNCH[@]}" -np $np "$HELPER" $mode 2 2>&1)
    rc=$? took=$(($(date +%s) - start))
    lines=$(grep -c '^nomad: error:' <<<"$out")
    if [ $rc -eq 124 ]; then
      echo "FAIL - np $np $mode: hung (killed by timeout after ${took}s)"; failed=1
    elif [ $rc -eq 0 ] || { [ $mode = clean ] && [ $rc -ne 2 ]; }; then
      echo "FAIL - np $np $mode: exit $rc: $out"; failed=1
    elif [ "$lines" -ne 1 ] || ! grep -q '^nomad: error: rank 1: data.npy: row 7' <<<"$out"; then
      echo "FAIL - np $np $mode: expected one 'nomad: error: rank 1: ...' line, got $lines: $out"; failed=1
    elif [ $mode = stuck ] && ! grep -q 'abort_timeout = 2 s; aborting all' <<<"$out"; then
      echo "FAIL - np $np stuck: no abort reason: $out"; failed=1
    else
      echo "ok - np $np $mode: exit $rc after ${took}s: $(grep '^nomad: error:' <<<"$out")"
    fi
  done
done
exit $failed
