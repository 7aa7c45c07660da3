#!/usr/bin/python3
"""The end-to-end table of gpu.sh: the same data set mapped with `device: cuda` and `device: cpu`.

  report_gpu.py --run LABEL GOAL_S DIR [--run ...] [--md FILE] [--gpu DESC] [--cpu DESC]
                [--title T] [--goal-on total|wall|no-eval] [--date YYYY-MM-DD]

Each --run names one run: LABEL (the data set; runs with the same LABEL are compared), GOAL_S
(the goal in seconds for the cuda run, "-" for none) and DIR, the folder `nomad run --out DIR`
wrote. The device of a row is run.json's config.device. DIR/bench.txt (optional, key=value
lines, written by gpu.sh) adds: status=ok|failed|skipped, device=..., reason=..., exit=...,
wall=SECONDS (the process's wall time), n=..., d=... (the data's size, for runs
without run.json), args=... (the `nomad run` arguments). A DIR without
run.json shows as skipped or failed (from bench.txt) or "not run".

Prints one Markdown table: data set, n x d, device, every stage's seconds in
run.json's `stage_seconds` (in its order; stages of every run), total (run.json
`total_seconds`, the sum of the stages), wall, NP@k (run.json `metrics`), goal, met? (cuda rows
only, judged on --goal-on), CPU/GPU (the cpu run's time / the cuda run's, on the same basis)
and a note; under each data set with both runs, a row of per-stage CPU/GPU ratios. --md also
writes it, headed by the title, GPU and CPU descriptions, date and the commits of the runs.
Standard library only."""
import argparse
import datetime
import json
import os
import re
import sys

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--run", nargs=3, action="append", default=[], metavar=("LABEL", "GOAL_S", "DIR"))
p.add_argument("--md", help="also write the table here")
p.add_argument("--gpu", default="", help="the GPU, e.g. nvidia-smi's name and memory")
p.add_argument("--cpu", default="", help="the host's processor and cores")
p.add_argument("--title", default="nomad end to end: GPU (device: cuda) vs CPU (device: cpu)")
p.add_argument("--goal-on", choices=["total", "wall", "no-eval"], default="total",
               help="the time the goal and CPU/GPU use: run.json's total (default), the process's "
                    "wall time, or the total less the eval stage")
p.add_argument("--date", default=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"))
a = p.parse_args()
if not a.run:
    p.error("no --run given")


def read_meta(d):
    meta = {}
    try:
        with open(os.path.join(d, "bench.txt")) as f:
            for line in f:
                k, sep, v = line.rstrip("\n").partition("=")
                if sep:
                    meta[k.strip()] = v.strip()
    except OSError:
        pass
    return meta


def device_of(r, meta):
    dev = r.get("device") if r else None
    if not isinstance(dev, str):
        dev = (r or {}).get("config", {}).get("device")
    return dev or meta.get("device", "?")


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


runs = []
for label, goal, d in a.run:
    meta = read_meta(d)
    r = None
    path = os.path.join(d, "run.json")
    if os.path.exists(path):
        with open(path) as f:
            r = json.load(f)
        if r.get("status", "ok") != "ok":
            meta.setdefault("reason", f"run.json status {r.get('status')}")
    status = "ok" if r is not None and r.get("status", "ok") == "ok" else meta.get("status", "not run")
    if status == "ok" and r is None:
        status = "failed"
    runs.append({"label": label, "goal": num(goal) if goal not in ("-", "") else None, "dir": d,
                 "r": r, "meta": meta, "status": status, "device": device_of(r, meta)})

stages = []
for x in runs:
    for s in (x["r"] or {}).get("stage_seconds", {}):
        if s not in stages:
            stages.append(s)


def basis(x):
    """The time the goal and the ratio use, or None."""
    r = x["r"]
    if r is None or x["status"] != "ok":
        return None
    if a.goal_on == "wall":
        return num(x["meta"].get("wall"))
    t = num(r.get("total_seconds"))
    if a.goal_on == "no-eval" and t is not None:
        t -= num(r.get("stage_seconds", {}).get("eval")) or 0.0
    return t


def fmt(v, digits=2):
    return "—" if v is None else f"{v:.{digits}f}"


def ratio(c, g):
    return "—" if c is None or g is None or g <= 0 else f"{c / g:.1f}x"


k = next((x["r"].get("metrics", {}).get("k") for x in runs if x["r"] and x["r"].get("metrics")), 10)
basis_name = {"total": "total", "wall": "wall", "no-eval": "total less eval"}[a.goal_on]
head = ["data set", "n × d", "device"] + [f"{s} s" for s in stages] + \
       ["total s", "wall s", f"NP@{k}", "goal", "met?", "CPU/GPU", "note"]
lines = ["| " + " | ".join(head) + " |",
         "|" + "|".join(["---", "---:", "---"] + ["---:"] * (len(stages) + 3) + ["---", "---", "---:", "---"]) + "|"]
commits = {}
for x in runs:
    if x["r"] and x["r"].get("git"):
        commits.setdefault(x["r"]["git"], []).append(f"{x['label']} {x['device']}")

labels = []
for x in runs:
    if x["label"] not in labels:
        labels.append(x["label"])
for label in labels:
    group = [x for x in runs if x["label"] == label]
    gpu = next((x for x in group if x["device"] == "cuda"), None)
    cpu = next((x for x in group if x["device"] == "cpu"), None)
    for x in group:
        r, meta = x["r"], x["meta"]
        dat = (r or {}).get("data", {})
        n, d = num(dat.get("n", meta.get("n"))), num(dat.get("d", meta.get("d")))
        cells = [label, f"{n:,.0f} × {d:.0f}" if n and d else "?", x["device"]]
        st = (r or {}).get("stage_seconds", {})
        cells += [fmt(num(st.get(s))) for s in stages]
        cells.append(fmt(num((r or {}).get("total_seconds"))))
        cells.append(fmt(num(meta.get("wall"))))
        m = (r or {}).get("metrics", {})
        cells.append(f"{m['np']:.4f} ± {m.get('np_ci95', float('nan')):.4f}" if "np" in m else "—")
        t = basis(x)
        if x["device"] == "cuda" and x["goal"] is not None:
            cells.append(f"< {x['goal']:g} s")
            cells.append("—" if t is None else ("yes" if t < x["goal"] else "**no**"))
        else:
            cells += ["—", "—"]
        if x is gpu:
            cells.append(ratio(basis(cpu) if cpu else None, t))
        else:
            cells.append("")
        note = []
        if x["status"] != "ok":
            note.append(x["status"] + (f": {meta['reason']}" if meta.get("reason") else "") +
                        (f" (exit {meta['exit']})" if meta.get("exit") else ""))
        if r and len(commits) > 1:
            note.append(f"nomad {r.get('git', '?')}")
        cells.append("; ".join(note))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if gpu and cpu and gpu["status"] == "ok" and cpu["status"] == "ok":
        gs, cs = gpu["r"].get("stage_seconds", {}), cpu["r"].get("stage_seconds", {})
        cells = [f"*{label}*", "", "*CPU/GPU*"]
        cells += [ratio(num(cs.get(s)), num(gs.get(s))) if (num(gs.get(s)) or 0) >= 0.001 else "—" for s in stages]
        cells.append(ratio(num(cpu["r"].get("total_seconds")), num(gpu["r"].get("total_seconds"))))
        cells.append(ratio(num(cpu["meta"].get("wall")), num(gpu["meta"].get("wall"))))
        cells += ["", "", "", ratio(basis(cpu), basis(gpu)), "per stage"]
        lines.append("| " + " | ".join(cells) + " |")

table = "\n".join(lines) + "\n"
sys.stdout.write(table)
if a.md:
    out = [f"## {a.title}", ""]
    out.append(f"- GPU: {a.gpu or 'none found (nvidia-smi missing)'}")
    cores = next((x["r"].get("host", {}).get("cores") for x in runs if x["r"]), None)
    out.append(f"- CPU: {a.cpu or '?'}" + (f" (run.json: {cores} cores)" if cores and not a.cpu else ""))
    out.append(f"- date: {a.date}")
    if len(commits) == 1:
        out.append(f"- commit: nomad {next(iter(commits))}")
    elif commits:
        out.append("- commits: " + "; ".join(f"nomad {c} ({', '.join(w)})" for c, w in commits.items()))
    out.append("")
    out.append(table)
    out.append(f"Seconds per stage from each run's `run.json` (`stage_seconds`); **total** = `total_seconds` "
               f"(their sum, eval included); **wall** = the `nomad run` process as the script timed it (start "
               f"and exit included). **goal** applies to the cuda run and **met?** and **CPU/GPU** use the "
               f"{basis_name}. NP@{k} ± 95% CI from the run's own eval (`metrics`). The *CPU/GPU* rows divide "
               f"each stage's seconds (— where the GPU's is under 1 ms).")
    # The runs' arguments (bench.txt args=), one line per data set when they differ only in device.
    args = {}
    for x in runs:
        v = x["meta"].get("args")
        if v:
            args.setdefault(x["label"], {}).setdefault(re.sub(r"\s*--set device=\S+", "", v), []).append(x["device"])
    if args:
        out.append("")
        for label, byargs in args.items():
            for v, devs in byargs.items():
                out.append(f"- {label}: `nomad run {v} --set device={'|'.join(devs)}`")
    os.makedirs(os.path.dirname(os.path.abspath(a.md)), exist_ok=True)
    with open(a.md, "w") as f:
        f.write("\n".join(out) + "\n")
