#!/usr/bin/env bash
# Checkpoint and resume: a run killed (SIGKILL) or stopped (SIGINT) after a checkpoint goes on
# with `nomad run --resume DIR` to the same embedding bytes as a run never stopped, for a loss
# with no state between steps (nomad.yaml) and one with (tsne.yaml: its running Z); a sweep
# goes on the same way; what cannot be resumed is refused in one line.
set -u
source "$(dirname "$0")/common.bash"
cd "$SCRATCH"
blobs "$SCRATCH"
CFG_DIR=$(cd "$(dirname "$0")/../../configs" && pwd)
# Long enough that a run is stopped well before its end, in either build: the ASan build runs
# about ten times slower, so it needs fewer epochs (1500 there took over 10 minutes).
epochs=1500; ldd "$NOMAD" 2>/dev/null | grep -q libasan && epochs=400
common=(--set data.path=x.npy --set data.labels=y.npy --set threads=2 --set optimizer.epochs=$epochs
        --set output.checkpoint_every=20 --set eval.enabled=false --quiet)

# stop_after_checkpoint SIGNAL DIR args...: starts a run, signals it once checkpoint.bin exists
stop_after_checkpoint() {
  local sig=$1 dir=$2; shift 2
  "$NOMAD" run "$@" --out "$dir" 2>"$dir.err" & local pid=$!
  # up to 2 min: under ASan on loaded cores the first checkpoint took more than 10 s to come
  for _ in $(seq 2400); do [ -e "$dir/checkpoint.bin" ] && break; sleep 0.05; done
  sleep 0.3; kill -"$sig" $pid; wait $pid 2>/dev/null
}

for cfg in nomad tsne; do
  "$NOMAD" run "$CFG_DIR/$cfg.yaml" "${common[@]}" --out whole_$cfg || bad "$cfg: uninterrupted run"
  for sig in KILL INT; do
    stop_after_checkpoint $sig cut_${cfg}_$sig "$CFG_DIR/$cfg.yaml" "${common[@]}"
    [ -e cut_${cfg}_$sig/checkpoint.bin ] && [ ! -e cut_${cfg}_$sig/embedding.npy ] \
      || bad "$cfg SIG$sig: stopped before its checkpoint or after its end ($(ls -a cut_${cfg}_$sig 2>&1 | tr '\n' ' '))"
    [ $sig = KILL ] || grep -q "interrupted by SIGINT during optimize (epoch [0-9]*); kept its checkpoint (epoch [0-9]*): \`nomad run --resume cut_${cfg}_INT\` goes on" cut_${cfg}_INT.err \
      || bad "$cfg SIGINT: the message does not say how to go on: $(cat cut_${cfg}_INT.err)"
    expect_fail 2 "holds a stopped run with a checkpoint; go on with \`nomad run --resume" \
      "$NOMAD" run "$CFG_DIR/$cfg.yaml" "${common[@]}" --out cut_${cfg}_$sig
    "$NOMAD" run --resume cut_${cfg}_$sig --quiet || bad "$cfg SIG$sig: resume failed"
    cmp -s whole_$cfg/embedding.npy cut_${cfg}_$sig/embedding.npy \
      && cmp -s <(cut -d, -f1,2 whole_$cfg/loss.csv) <(cut -d, -f1,2 cut_${cfg}_$sig/loss.csv) \
      && [ ! -e cut_${cfg}_$sig/checkpoint.bin ] \
      && ok "$cfg: SIG$sig, then --resume: the same embedding bytes and loss curve" || bad "$cfg SIG$sig: resumed run differs"
  done
done

# what cannot be resumed
expect_fail 2 "holds a finished run (run.json); nothing to resume" "$NOMAD" run --resume whole_nomad
expect_fail 2 "takes no CONFIG, --set, --out or --dry-run" "$NOMAD" run --resume whole_nomad --set seed=1
"$NOMAD" run "$CFG_DIR/nomad.yaml" "${common[@]}" --set optimizer.epochs=3 --out nockpt || bad "short run"
rm nockpt/run.json nockpt/checkpoint.bin 2>/dev/null
expect_fail 2 "no checkpoint.bin: this run stopped before its first checkpoint" "$NOMAD" run --resume nockpt
stop_after_checkpoint KILL torn "$CFG_DIR/nomad.yaml" "${common[@]}"
cp -r torn edited
truncate -s -8 torn/checkpoint.bin
expect_fail 2 "torn/checkpoint.bin: of the wrong length; it cannot be resumed from" "$NOMAD" run --resume torn
sed -i 's/^seed: .*/seed: 7/' edited/config.yaml
expect_fail 2 "edited/checkpoint.bin: was written for another config.yaml" "$NOMAD" run --resume edited

# a sweep killed mid-run goes on from the checkpoint its child left
"$NOMAD" sweep "$CFG_DIR/nomad.yaml" "${common[@]}" --out sw 2>/dev/null & spid=$!
for _ in $(seq 2400); do [ -e sw/seed=42/checkpoint.bin ] && break; sleep 0.05; done
sleep 0.3; kill -KILL $spid; wait $spid 2>/dev/null
for _ in $(seq 100); do [ -e sw/seed=42/.nomad.lock ] || break; sleep 0.1; done   # the child stops (SIGHUP)
[ -e sw/seed=42/checkpoint.bin ] && ok "a killed sweep's child keeps its checkpoint" || bad "no checkpoint in sw/seed=42"
"$NOMAD" sweep "$CFG_DIR/nomad.yaml" "${common[@]}" --out sw 2>sweep.log || bad "sweep resume: $(cat sweep.log)"
cmp -s whole_nomad/embedding.npy sw/seed=42/embedding.npy \
  && ok "the sweep went on from the checkpoint: the same bytes" || bad "sweep resume differs: $(cat sweep.log)"

finish
