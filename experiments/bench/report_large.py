#!/usr/bin/python3
"""Summarise a large.sh run: report_large.py RUN_DIR WALL_SECONDS GEN_SECONDS LIMIT_GIB [--md FILE] [--title T].

Prints per-stage wall time, total, peak RSS (from RUN_DIR/run.json) and PASS/FAIL for
peak RSS < LIMIT_GIB; writes the same Markdown to --md. Exit status 1 on FAIL."""
import argparse
import json
import os
import sys

STAGES = ["plugins", "load", "partition", "ann", "affinity", "init", "optimize", "eval", "output"]

p = argparse.ArgumentParser(description=__doc__)
p.add_argument("run_dir")
p.add_argument("wall", type=float)
p.add_argument("gen", type=float)
p.add_argument("limit_gib", type=float)
p.add_argument("--md")
p.add_argument("--title", default="nomad on synthetic manifold blobs")
a = p.parse_args()

with open(os.path.join(a.run_dir, "run.json")) as f:
    r = json.load(f)
st, m, ann = r["stage_seconds"], r.get("metrics", {}), r.get("ann", {})
rss = r["peak_rss_bytes"]
gib = rss / 2**30
ok = gib < a.limit_gib
d = r.get("data", {})
out = [f"## {a.title}", ""]
out.append("| stage | seconds |")
out.append("|---|---:|")
for s in STAGES:
    if s in st:
        out.append(f"| {s} | {st[s]:.2f} |")
out.append(f"| **total (run.json)** | **{r['total_seconds']:.2f}** |")
out.append(f"| total wall, as timed by large.sh | {a.wall:.2f} |")
out.append("")
out.append(f"- data: {json.dumps(d) if d else '?'}")
out.append(f"- data generation (cached, not in the totals): {a.gen:.1f} s" if a.gen >= 0 else
           "- data generation: cached from an earlier run")
out.append(f"- peak RSS: {rss:,} bytes = **{gib:.3f} GiB** (limit {a.limit_gib:g} GiB): **{'PASS' if ok else 'FAIL'}**")
if "memory_estimate_bytes" in r:
    out.append(f"- nomad's own memory estimate: {r['memory_estimate_bytes'] / 2**30:.3f} GiB")
if ann:
    out.append(f"- kNN graph: edges kept {ann.get('edges_kept', float('nan')):.3f}, "
               f"recall {ann.get('recall', float('nan')):.3f} (sample {ann.get('recall_sample', '?')})")
if m:
    bits = [f"NP@{m.get('k', 10)} {m['np']:.4f} ± {m['np_ci95']:.4f}",
            f"triplet {m['triplet']:.4f} ± {m['triplet_ci95']:.4f}"]
    if "knn_acc" in m:
        bits.append(f"{m.get('k', 10)}-NN acc {m['knn_acc']:.4f} ± {m['knn_acc_ci95']:.4f}")
    out.append(f"- quality ({m.get('queries', '?')} queries, {m.get('triplets', '?')} triplets): " + ", ".join(bits))
out.append(f"- host: {json.dumps(r.get('host', {}))}")
text = "\n".join(out) + "\n"
sys.stdout.write(text)
print(f"peak RSS {gib:.3f} GiB < {a.limit_gib:g} GiB: {'PASS' if ok else 'FAIL'}")
if a.md:
    os.makedirs(os.path.dirname(os.path.abspath(a.md)), exist_ok=True)
    with open(a.md, "w") as f:
        f.write(text)
sys.exit(0 if ok else 1)
