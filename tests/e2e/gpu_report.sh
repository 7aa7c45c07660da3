#!/usr/bin/env bash
# experiments/bench/report_gpu.py (gpu.sh's end-to-end table) without a GPU: two real runs of
# nomad with device: cpu on small data, one relabelled device: cuda with its stage times
# quartered, then the table: every stage a column, CPU/GPU 4.0x, goal met or not, skipped,
# failed and missing runs shown as such, the .md written with GPU, date and commit.
set -u
source "$(dirname "$0")/common.bash"
ROOT=$(pwd)
REPORT=$ROOT/experiments/bench/report_gpu.py
cd "$SCRATCH"

tiny_run 5
for dev in cuda cpu; do
  expect_ok "$NOMAD" run tiny.yaml --set device=cpu --out "tiny-$dev" --quiet
done
# The "cuda" run: device field edited, every stage 4x faster than the cpu run's.
$PY - <<'PY' && ok "run.json relabelled cuda" || bad "relabel run.json"
import json
cpu = json.load(open("tiny-cpu/run.json"))
r = json.load(open("tiny-cuda/run.json"))
assert r["config"]["device"] == "cpu"
r["config"]["device"] = "cuda"
r["stage_seconds"] = {k: v / 4 for k, v in cpu["stage_seconds"].items()}
r["total_seconds"] = cpu["total_seconds"] / 4
json.dump(r, open("tiny-cuda/run.json", "w"), indent=2)
PY
mkdir -p skipped-cpu failed-cuda
printf '%s\n' status=skipped device=cpu n=1000 d=128 "reason=CPU_10M=0 (hours)" >skipped-cpu/bench.txt
printf '%s\n' status=failed device=cuda exit=2 n=1000 d=128 "reason=device: cuda: out of memory" >failed-cuda/bench.txt
echo wall=1.5 >>tiny-cpu/bench.txt

run_report() {  # run_report GOAL_S [args...]: the table on stdout, report.md
  local goal=$1; shift
  "$PY" "$REPORT" --run tiny "$goal" tiny-cuda --run tiny "$goal" tiny-cpu \
    --run big 600 failed-cuda --run big 600 skipped-cpu --run absent - nowhere \
    --md report.md --gpu "NVIDIA H100 80GB HBM3, 81559 MiB" --cpu "test cpu, 1 cores" "$@"
}
if run_report 1000 >table.md 2>report.err; then ok "report_gpu.py ran"; else bad "report_gpu.py: $(cat report.err)"; fi
cmp -s table.md <(sed -n '/^| data set/,/^$/p' report.md | sed '/^$/d') && ok "table printed = table in report.md" \
  || bad "printed table differs from report.md: $(cat table.md)"
header=$(grep '^| data set' table.md)
for col in "n × d" device "load s" "partition s" "ann s" "affinity s" "init s" "optimize s" "eval s" "output s" \
           "total s" "wall s" "NP@10" goal "met?" CPU/GPU; do
  grep -qF "| $col |" <<<"$header" && ok "column $col" || bad "no column $col: $header"
done
cuda_row=$(grep '^| tiny | 300 × 8 | cuda |' table.md)
cpu_row=$(grep '^| tiny | 300 × 8 | cpu |' table.md)
[ -n "$cuda_row" ] && [ -n "$cpu_row" ] && ok "cuda and cpu rows" || bad "rows: $(cat table.md)"
grep -qE '\| < 1000 s \| yes \| 4\.0x \|' <<<"$cuda_row" && ok "cuda row: goal met, CPU/GPU 4.0x" || bad "cuda row: $cuda_row"
grep -qE '\| 0\.[0-9]{4} ± 0\.[0-9]{4} \|' <<<"$cuda_row" && ok "NP@10 with CI" || bad "NP@10: $cuda_row"
grep -qE '\| 1\.50 \|' <<<"$cpu_row" && ok "wall from bench.txt" || bad "wall: $cpu_row"
ratio_row=$(grep '^| \*tiny\* |' table.md)
[ "$(grep -o '4\.0x' <<<"$ratio_row" | wc -l)" -ge 2 ] && ok "per-stage CPU/GPU row" || bad "ratio row: $ratio_row"
grep -qF '| big | 1,000 × 128 | cuda |' table.md && grep -qF 'failed: device: cuda: out of memory (exit 2)' table.md \
  && ok "failed run shown" || bad "failed row: $(cat table.md)"
grep -qF '| big | 1,000 × 128 | cpu |' table.md && grep -qF 'skipped: CPU_10M=0 (hours)' table.md \
  && ok "skipped run shown" || bad "skipped row: $(cat table.md)"
grep -qE '^\| absent \| \? \| \? \|.*\| not run \|$' table.md && ok "missing run: not run" || bad "absent row: $(cat table.md)"
commit=$($PY -c 'import json; print(json.load(open("tiny-cpu/run.json"))["git"])')
grep -qF -- "- GPU: NVIDIA H100 80GB HBM3, 81559 MiB" report.md && grep -qE -- '^- date: [0-9]{4}-[0-9]{2}-[0-9]{2}$' report.md \
  && grep -qF -- "- commit: nomad $commit" report.md && ok "report.md: GPU, date, commit" || bad "report.md head: $(head -6 report.md)"

run_report 0.000001 >table2.md 2>report.err
grep -qE '^\| tiny \| 300 × 8 \| cuda \|.*\| < 1e-06 s \| \*\*no\*\* \| 4\.0x \|' table2.md && ok "goal missed: no" \
  || bad "goal missed: $(cat table2.md report.err)"
run_report - --goal-on no-eval >table3.md 2>report.err
grep -qE '^\| tiny \| 300 × 8 \| cuda \|.*\| — \| — \| 4\.0x \|' table3.md && ok "no goal; no-eval basis" \
  || bad "no goal: $(cat table3.md report.err)"
finish
