#!/usr/bin/python3
"""Tables (Markdown, CSV) and figures (PNG) of the experiment scripts in experiments/.

  exp_report.py methods WORKDIR --csv F --md F --png F [--maps F] [--title T]
  exp_report.py cells RESULTS.csv --md F --png F [--title T]
  exp_report.py approx RTILDE.csv EXACT.csv --md F --png F [--title T]
  exp_report.py ranks WORKDIR --csv F --md F --png F [--title T]
  exp_report.py quality-time METHODS.csv --md F --png F [--title T]
  exp_report.py fill-doc DOC.md NAME TABLE.md     copy TABLE.md into DOC.md between NAME's markers

Every file is written under a temporary name and renamed. A metric is shown as mean ± std
over the seeds when a setting ran with more than one seed; with one seed, as the value ±
nomad eval's 95% confidence interval where the table has it, else the value alone.
"""
import argparse
import csv
import json
import math
import os
import re
import sys

STAGES = ["plugins", "load", "partition", "ann", "affinity", "init", "optimize", "eval", "output"]
# Stages that fit the layout (a peer's fit_transform): all but reading, scoring and writing.
FIT_STAGES = ["plugins", "partition", "ann", "affinity", "init", "optimize"]
METHODS = [  # key, name in tables, nomad config or None for a peer
    ("nomad", "NOMAD (cluster means)", "configs/nomad.yaml"),
    ("infonce-tsne", "exact InfoNC-t-SNE", "configs/infonce-tsne.yaml"),
    ("neg-tsne", "Neg-t-SNE", "configs/neg-tsne.yaml"),
    ("umap-forces", "UMAP forces", "configs/umap-forces.yaml"),
    ("umap-learn", "umap-learn", None),
    ("sklearn-tsne", "sklearn TSNE", None),
]
METHOD_NAME = {k: n for k, n, _ in METHODS}
METHOD_ORDER = [k for k, _, _ in METHODS]
REFERENCE = "infonce-tsne"  # what the approximation is measured against


# ---------------------------------------------------------------- small helpers

def load_json(path):
    with open(path) as f:
        return json.load(f)


def write_text(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_csv(path, fields, rows):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 9, "axes.grid": True, "grid.alpha": 0.3, "axes.axisbelow": True})
    return plt


def save_fig(fig, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight")
    os.replace(tmp, path)


def num(v):
    """A float from a CSV/JSON field, None when empty or missing."""
    if v is None or v == "":
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def stats(values):
    """(mean, std over values (n - 1), n) of the non-None values; (None, None, 0) if none."""
    v = [x for x in values if x is not None]
    if not v:
        return None, None, 0
    m = sum(v) / len(v)
    s = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else None
    return m, s, len(v)


def fmt(m, spread=None, digits=4):
    if m is None:
        return "–"
    s = f"{m:.{digits}f}"
    return s if spread is None else f"{s} ± {spread:.{digits}f}"


def fmt_time(v):
    if v is None:
        return "–"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def agg(rows, key, ci_key=None):
    """Mean ± std over seeds; with one seed the value ± its CI (when ci_key is given)."""
    m, s, n = stats([num(r.get(key)) for r in rows])
    if n == 1 and ci_key:
        s = num(next(r for r in rows if num(r.get(key)) is not None).get(ci_key))
    return m, s, n


def md_table(head, rows, align=None):
    align = align or ["---"] + ["---:"] * (len(head) - 1)
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def spread_note(n_seeds):
    if n_seeds > 1:
        return f"± = std over {n_seeds} seeds (42, 43, ...)"
    return "one seed (42)"


def seeds_of(rows):
    return len({r["seed"] for r in rows}) if rows else 0


# ---------------------------------------------------------------- sweep results.csv

def sweep_rows(path):
    """Rows of a `nomad sweep` results.csv, with the grid columns (between run and seed)."""
    rows = read_csv(path)
    with open(path, newline="") as f:
        head = next(csv.reader(f))
    grid = head[head.index("run") + 1:head.index("seed")]
    return rows, grid


def group(rows, keys):
    """{tuple of the keys' values: [rows]} in first-seen order."""
    out = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def ok_rows(rows):
    return [r for r in rows if r.get("status") == "ok"]


def runs_cell(rows):
    good = len(ok_rows(rows))
    return f"{good}/{len(rows)}"


def failures_note(rows):
    bad = [r for r in rows if r.get("status") != "ok"]
    return [f"- run `{r['run']}`: {r.get('status')}: {r.get('error', '')}" for r in bad]


# ---------------------------------------------------------------- experiment 1: methods

def methods_collect(workdir, seeds=None):
    """Every run under WORKDIR/<data set>/<method>/seed<S>/ (only the given seeds, if any)."""
    rows = []
    known = ["fmnist", "blobs"]
    for ds in sorted(os.listdir(workdir), key=lambda n: (known.index(n) if n in known else len(known), n)):
        meta_path = os.path.join(workdir, ds, "dataset.json")
        if not os.path.exists(meta_path):
            continue
        meta = load_json(meta_path)
        for key in METHOD_ORDER:
            mdir = os.path.join(workdir, ds, key)
            if not os.path.isdir(mdir):
                continue
            for sd in sorted(os.listdir(mdir)):
                if not re.fullmatch(r"seed\d+", sd) or (seeds and int(sd[4:]) not in seeds):
                    continue
                rows.append(methods_row(meta, key, int(sd[4:]), os.path.join(mdir, sd)))
    return rows


def methods_row(meta, key, seed, d):
    row = {"dataset": meta["name"], "dataset_title": meta["title"], "n": meta["n"], "d": meta["d"],
           "method": key, "method_name": METHOD_NAME[key], "seed": seed, "status": "ok", "note": ""}
    for name, status in (("skipped.txt", "skipped"), ("error.txt", "failed")):
        if os.path.exists(os.path.join(d, name)):
            with open(os.path.join(d, name)) as f:
                row.update(status=status, note=f.read().strip())
            return row
    ev_path = os.path.join(d, "eval.json")
    if not os.path.exists(ev_path):
        row.update(status="not run", note="no eval.json")
        return row
    ev = load_json(ev_path)
    for k in ("np", "triplet", "knn_acc"):
        row[k], row[k + "_ci95"] = ev.get(k), ev.get(k + "_ci95")
    if os.path.exists(os.path.join(d, "run.json")):
        r = load_json(os.path.join(d, "run.json"))
        st = r["stage_seconds"]
        row["fit_s"] = sum(st.get(s, 0.0) for s in FIT_STAGES)
        row["total_s"] = r["total_seconds"]
        row["peak_rss_mib"] = r["peak_rss_bytes"] / 2 ** 20
        row["knn_recall"] = r.get("ann", {}).get("recall")
        row["edges_kept"] = r.get("ann", {}).get("edges_kept")
        for s in STAGES:
            row[s + "_s"] = st.get(s)
    else:
        p = load_json(os.path.join(d, "peer.json"))
        row["fit_s"] = row["total_s"] = p["seconds"]
        row["peak_rss_mib"] = p["peak_rss_bytes"] / 2 ** 20
        bits = [f"version {p.get('version')}"]
        if "threads" in p:
            bits.append(f"{p['threads']} numba threads")
        if "warmup_seconds" in p:
            bits.append(f"untimed JIT warm-up fit on {p.get('warmup_rows', 0):,} rows first ({p['warmup_seconds']:.1f} s)")
        row["note"] = ", ".join(bits)
    return row


METHODS_FIELDS = (["dataset", "dataset_title", "n", "d", "method", "method_name", "seed", "status", "np", "np_ci95",
                   "triplet", "triplet_ci95", "knn_acc", "knn_acc_ci95", "fit_s", "total_s", "peak_rss_mib",
                   "knn_recall", "edges_kept"] + [s + "_s" for s in STAGES] + ["note"])


def methods_summary(rows):
    """[(dataset, title, n, d, [(method, [rows])])] in table order."""
    out = []
    for (ds,), drows in group(rows, ["dataset"]).items():
        by = group(drows, ["method"])
        ms = [(k, by[(k,)]) for k in METHOD_ORDER if (k,) in by]
        out.append((ds, drows[0]["dataset_title"], drows[0]["n"], drows[0]["d"], ms))
    return out


def cmd_methods(a):
    rows = methods_collect(a.workdir, a.seeds)
    if not rows:
        sys.exit(f"exp_report.py methods: no runs under {a.workdir}")
    write_csv(a.csv, METHODS_FIELDS, rows)
    out = [f"**{a.title}**", ""] if a.title else []
    notes = []
    for ds, title, n, d, ms in methods_summary(rows):
        out.append(f"*{title}*")
        out.append("")
        body = []
        for key, mr in ms:
            good = [r for r in mr if r["status"] == "ok"]
            if not good:
                st = mr[0]["status"]
                body.append([METHOD_NAME[key]] + [st] + ["–"] * 5)
                notes.append(f"- {title}, {METHOD_NAME[key]}: {st}: {mr[0]['note']}")
                continue
            cells = [METHOD_NAME[key]]
            for k in ("np", "triplet", "knn_acc"):
                cells.append(fmt(*agg(good, k, k + "_ci95")[:2]))
            fit_m, fit_s, _ = stats([num(r.get("fit_s")) for r in good])
            cells.append(fmt_time(fit_m) + (f" ± {fmt_time(fit_s)}" if fit_s is not None else ""))
            cells.append(fmt(stats([num(r.get("peak_rss_mib")) for r in good])[0], digits=0))
            cells.append(fmt(stats([num(r.get("knn_recall")) for r in good])[0], digits=3))
            body.append(cells)
            if good[0]["note"]:
                notes.append(f"- {title}, {METHOD_NAME[key]}: {good[0]['note']}")
        out += md_table(["method", "NP@10", "triplet", "10-NN acc", "fit s", "peak RSS MiB", "kNN recall"], body)
        out.append("")
    n_seeds = seeds_of(rows)
    out.append("Every layout is scored by the same `nomad eval DATA EMBEDDING --labels L --k 10 --queries 5000 "
               "--triplets 5000 --seed S` (NP@10 and 10-NN accuracy on 5,000 query points, 5,000 random triplets); "
               + ("± = std over %d seeds." % n_seeds if n_seeds > 1 else "± = 95% confidence interval (one seed).")
               + " **fit s**: nomad's stages less reading the data, scoring and writing (`run.json` → "
               "`stage_seconds`); a peer's wall time of `fit_transform`. kNN recall: nomad's kNN graph against "
               "the exact kNN (a sample of 1,000 points). Peer RSS is the whole Python process.")
    out += notes
    text = "\n".join(out) + "\n"
    write_text(a.md, text)
    methods_figure(rows, a.png)
    if a.maps:
        methods_maps(a.workdir, rows, a.maps)


def bar_groups(ax, labels, series, ylabel, log=False):
    """Grouped bars: series = [(name, [(value, err) per label])]."""
    width = 0.8 / max(1, len(series))
    for i, (name, vals) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(labels))]
        ys = [v[0] if v[0] is not None else 0 for v in vals]
        es = [v[1] if v[1] is not None else 0 for v in vals]
        ax.bar(xs, ys, width, yerr=es if any(es) else None, label=name, capsize=2)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")


def methods_figure(rows, path):
    plt = pyplot()
    summary = methods_summary(rows)
    keys = [k for k in METHOD_ORDER if any(r["method"] == k for r in rows)]
    labels = [METHOD_NAME[k] for k in keys]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
    panels = [("np", "NP@10", False), ("triplet", "triplet accuracy", False), ("knn_acc", "10-NN accuracy", False),
              ("fit_s", "fit time (s, log)", True)]
    for ax, (k, ylabel, log) in zip(axes, panels):
        series = []
        for ds, title, n, d, ms in summary:
            by = dict(ms)
            vals = []
            for key in keys:
                good = [r for r in by.get(key, []) if r["status"] == "ok"]
                m, s, _ = agg(good, k, None if k == "fit_s" else k + "_ci95") if good else (None, None, 0)
                vals.append((m, s))
            series.append((title, vals))
        bar_groups(ax, labels, series, ylabel, log)
        ax.set_title(ylabel)
    handles, names = axes[0].get_legend_handles_labels()
    fig.suptitle("Methods: quality and fit time (missing bar: skipped or failed)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    save_fig(fig, path)


def methods_maps(workdir, rows, path):
    """One layout per method and data set (the first seed), coloured by label."""
    import numpy as np
    plt = pyplot()
    summary = methods_summary(rows)
    keys = [k for k in METHOD_ORDER if any(r["method"] == k for r in rows)]
    fig, axes = plt.subplots(len(summary), len(keys), figsize=(2.6 * len(keys), 2.6 * len(summary)), squeeze=False)
    for i, (ds, title, n, d, ms) in enumerate(summary):
        lab_path = load_json(os.path.join(workdir, ds, "dataset.json")).get("labels")
        labels = np.load(lab_path, mmap_mode="r") if lab_path and os.path.exists(lab_path) else None
        by = dict(ms)
        for j, key in enumerate(keys):
            ax = axes[i][j]
            ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
            good = [r for r in by.get(key, []) if r["status"] == "ok"]
            if i == 0:
                ax.set_title(METHOD_NAME[key])
            if j == 0:
                ax.set_ylabel(title)
            if not good:
                ax.text(0.5, 0.5, by[key][0]["status"] if key in by else "not run", ha="center", va="center",
                        transform=ax.transAxes)
                continue
            y = np.load(os.path.join(workdir, ds, key, f"seed{good[0]['seed']}", "embedding.npy"))
            c = labels[:len(y)] if labels is not None else None
            ax.scatter(y[:, 0], y[:, 1], c=c, s=0.3 if len(y) > 20000 else 1.5, cmap="tab20" if c is not None and
                       c.max() >= 10 else "tab10", linewidths=0, rasterized=True, alpha=0.6)
            ax.set_xlabel(f"NP@10 {good[0]['np']:.3f}", fontsize=8)
            lo, hi = np.quantile(y, [0.002, 0.998], axis=0)  # a few far outliers would shrink the map
            pad = 0.05 * (hi - lo)
            ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
            ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
    fig.tight_layout()
    save_fig(fig, path)


def fit_seconds(d):
    """A layout's fit seconds: a peer's (d/peer.json), or nomad's fitting stages (d/run.json)."""
    if os.path.exists(os.path.join(d, "peer.json")):
        return load_json(os.path.join(d, "peer.json"))["seconds"]
    st = load_json(os.path.join(d, "run.json"))["stage_seconds"]
    return sum(st.get(k, 0.0) for k in FIT_STAGES)


def layout_panel(ax, e, labels, title, rng, sample=60000):
    """A layout's map on ax: at most `sample` of its points (drawn by rng), coloured by label."""
    import numpy as np
    pick = rng.choice(len(e), size=min(len(e), sample), replace=False)
    ax.scatter(e[pick, 0], e[pick, 1], c=labels[pick] % 20, cmap="tab20", s=0.3 if len(pick) > 5000 else 3,
               linewidths=0, rasterized=True)
    ax.set_title(title, fontsize=8)
    ax.set_xticks([]), ax.set_yticks([])
    lo, hi = np.quantile(e[pick], [0.002, 0.998], axis=0)  # a few far outliers would shrink the map
    pad = 0.05 * (hi - lo)
    ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
    ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])


# ---------------------------------------------------------------- experiment 2: cells

def cmd_cells(a):
    rows, grid = sweep_rows(a.csv)
    key = "partitioner.cells"
    groups = sorted(group(rows, [key]).items(), key=lambda kv: int(kv[0][0]))
    stages = ["partition", "ann", "affinity", "init", "optimize"]
    body = []
    for (cells,), gr in groups:
        good = ok_rows(gr)
        c = [cells, runs_cell(gr)]
        for k in ("edges_kept", "knn_recall"):
            c.append(fmt(*stats([num(r[k]) for r in good])[:2], digits=3))
        for k in ("np@10", "triplet", "knn_acc"):
            c.append(fmt(*stats([num(r[k]) for r in good])[:2]))
        for s in stages + ["total"]:
            c.append(fmt_time(stats([num(r[s + "_s"]) for r in good])[0]))
        body.append(c)
    out = [f"**{a.title}**", ""] if a.title else []
    out += md_table(["\\|R\\|", "runs ok", "edges kept", "kNN recall", "NP@10", "triplet", "10-NN acc"]
                    + [f"{s} s" for s in stages] + ["total s"], body)
    out.append("")
    out.append(f"configs/nomad.yaml with `partitioner.cells` = \\|R\\|; {spread_note(seeds_of(rows))}; times are "
               "means over seeds (`run.json` → `stage_seconds`). Edges kept: the share of each point's k "
               "nearest neighbours that fall in its own cell (the others are lost); kNN recall: the kept graph "
               "against the exact kNN on a 1,000-point sample.")
    out += failures_note(rows)
    write_text(a.md, "\n".join(out) + "\n")

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    xs = [int(g[0][0]) for g in groups]

    def line(ax, k, label, marker="o"):
        ms = [stats([num(r[k]) for r in ok_rows(g[1])]) for g in groups]
        ax.errorbar(xs, [m[0] if m[0] is not None else float("nan") for m in ms],
                    yerr=[m[1] or 0 for m in ms], marker=marker, capsize=2, label=label)

    line(axes[0], "np@10", "NP@10")
    line(axes[0], "knn_acc", "10-NN accuracy", "s")
    axes[0].set_title("quality vs |R|")
    line(axes[1], "edges_kept", "edges kept")
    line(axes[1], "knn_recall", "kNN recall", "s")
    axes[1].set_title("kNN graph vs |R|")
    bottom = [0.0] * len(groups)
    for s in stages:
        v = [stats([num(r[s + "_s"]) for r in ok_rows(g[1])])[0] or 0.0 for g in groups]
        axes[2].bar(range(len(xs)), v, bottom=bottom, label=s)
        bottom = [b + x for b, x in zip(bottom, v)]
    axes[2].set_xticks(range(len(xs)))
    axes[2].set_xticklabels([str(x) for x in xs])
    axes[2].set_title("time per stage vs |R|")
    axes[2].set_ylabel("seconds")
    for ax in axes[:2]:
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs)
        ax.set_xticklabels([str(x) for x in xs])
        ax.legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel("|R| (cells)")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    save_fig(fig, a.png)


# ---------------------------------------------------------------- experiment 3: approx (R~)

def approx_table(rows, keys, labels):
    body = []
    for vals, gr in group(rows, keys).items():
        good = ok_rows(gr)
        c = list(f"`{v}`" for v in vals) + [runs_cell(gr)]
        for k in ("np@10", "triplet", "knn_acc"):
            c.append(fmt(*stats([num(r[k]) for r in good])[:2]))
        for k in ("optimize_s", "total_s"):
            c.append(fmt_time(stats([num(r[k]) for r in good])[0]))
        body.append(c)
    return md_table(labels + ["runs ok", "NP@10", "triplet", "10-NN acc", "optimize s", "total s"], body,
                    ["---"] * len(labels) + ["---:"] * 6)


def cmd_approx(a):
    rt, _ = sweep_rows(a.rtilde)
    ex, _ = sweep_rows(a.exact)
    out = [f"**{a.title}**", ""] if a.title else []
    out += ["*R~ (`negatives.approx_cells`) and the weighting of the means*", ""]
    out += approx_table(rt, ["negatives.approx_cells", "negatives.weighting"], ["approx_cells", "weighting"])
    out += ["", f"*Exact negatives per target (`negatives.exact`), approx_cells `{a.exact_approx}`*", ""]
    out += approx_table(ex, ["negatives.exact", "negatives.weighting"], ["exact", "weighting"])
    out.append("")
    out.append(f"configs/nomad.yaml with the settings shown; {spread_note(seeds_of(rt))}. On one rank `remote` "
               "(R~ = the cells of other ranks) has no remote cell: it is `none`, every negative exact. "
               "`none` puts every cell in E, so the weighting does not apply. `all`: no exact negatives, "
               "only the means.")
    out += failures_note(rt) + failures_note(ex)
    write_text(a.md, "\n".join(out) + "\n")

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    settings = list(dict.fromkeys(r["negatives.approx_cells"] for r in rt))
    weights = list(dict.fromkeys(r["negatives.weighting"] for r in rt))
    g = group(rt, ["negatives.approx_cells", "negatives.weighting"])
    series = []
    for w in weights:
        vals = []
        for s in settings:
            m, sd, _ = stats([num(r["np@10"]) for r in ok_rows(g.get((s, w), []))])
            vals.append((m, sd))
        series.append((w, vals))
    bar_groups(axes[0], settings, series, "NP@10")
    axes[0].set_title("NP@10 per R~ (approx_cells) and weighting")
    top = max((m for _, vals in series for m, _ in vals if m is not None), default=1.0)
    axes[0].set_ylim(0, 1.2 * top)  # room for the legend above the bars
    axes[0].legend(fontsize=8, title="weighting", loc="upper center", ncol=2)
    g = group(ex, ["negatives.exact", "negatives.weighting"])
    exacts = sorted({int(r["negatives.exact"]) for r in ex})
    for w in list(dict.fromkeys(r["negatives.weighting"] for r in ex)):
        ms = [stats([num(r["np@10"]) for r in ok_rows(g.get((str(e), w), []))]) for e in exacts]
        axes[1].errorbar(exacts, [m[0] if m[0] is not None else float("nan") for m in ms],
                         yerr=[m[1] or 0 for m in ms], marker="o", capsize=2, label=w)
    axes[1].set_xscale("log", base=2)
    axes[1].set_xticks(exacts)
    axes[1].set_xticklabels([str(e) for e in exacts])
    axes[1].set_xlabel("exact negatives per target")
    axes[1].set_ylabel("NP@10")
    axes[1].set_title(f"NP@10 vs exact negatives (approx_cells {a.exact_approx})")
    axes[1].legend(fontsize=8, title="weighting")
    fig.tight_layout()
    save_fig(fig, a.png)


# ---------------------------------------------------------------- experiment 4: ranks

RANKS_FIELDS = ["variant", "ranks", "threads", "seed", "status", "np", "np_ci95", "triplet", "triplet_ci95",
                "knn_acc", "knn_acc_ci95", "edges_kept", "load_imbalance", "steps", "optimize_s", "total_s", "error"]


def ranks_collect(workdir, seeds=None, ranks=None, variants=None):
    """Every run under WORKDIR/<variant>/np<R>/seed<S>/ (only the given seeds, ranks, variants)."""
    rows = []
    for variant in sorted(os.listdir(workdir)):
        vdir = os.path.join(workdir, variant)
        if not os.path.isdir(vdir) or (variants and variant not in variants):
            continue
        for rd in sorted(os.listdir(vdir)):
            m = re.fullmatch(r"np(\d+)", rd)
            if not m or (ranks and int(m.group(1)) not in ranks):
                continue
            for sd in sorted(os.listdir(os.path.join(vdir, rd))):
                if not re.fullmatch(r"seed\d+", sd) or (seeds and int(sd[4:]) not in seeds):
                    continue
                d = os.path.join(vdir, rd, sd)
                row = {"variant": variant, "ranks": int(m.group(1)), "seed": int(sd[4:]), "status": "ok"}
                if os.path.exists(os.path.join(d, "error.txt")):
                    with open(os.path.join(d, "error.txt")) as f:
                        row.update(status="failed", error=f.read().strip())
                elif not os.path.exists(os.path.join(d, "run.json")):
                    row.update(status="not run")
                else:
                    r = load_json(os.path.join(d, "run.json"))
                    met = r.get("metrics", {})
                    for k in ("np", "triplet", "knn_acc"):
                        row[k], row[k + "_ci95"] = met.get(k), met.get(k + "_ci95")
                    row["threads"] = r.get("host", {}).get("threads")
                    row["edges_kept"] = r.get("ann", {}).get("edges_kept")
                    row["load_imbalance"] = r.get("distributed", {}).get("load_imbalance_points")
                    row["steps"] = r.get("optimizer", {}).get("steps")
                    row["optimize_s"] = r["stage_seconds"].get("optimize")
                    row["total_s"] = r["total_seconds"]
                rows.append(row)
    return rows


def cmd_ranks(a):
    rows = ranks_collect(a.workdir, a.seeds, a.ranks, a.variants)
    if not rows:
        sys.exit(f"exp_report.py ranks: no runs under {a.workdir}")
    write_csv(a.csv, RANKS_FIELDS, rows)
    variants = dict(a.variant or [])
    body = []
    groups = sorted(group(rows, ["variant", "ranks"]).items(), key=lambda kv: (kv[0][0], kv[0][1]))
    for (variant, ranks), gr in groups:
        good = [r for r in gr if r["status"] == "ok"]
        c = [variants.get(variant, variant), str(ranks), str(good[0]["threads"]) if good else "–",
             f"{len(good)}/{len(gr)}"]
        for k in ("np", "triplet", "knn_acc"):
            c.append(fmt(*agg(good, k, k + "_ci95")[:2]))
        c.append(fmt(stats([num(r.get("load_imbalance")) for r in good])[0], digits=2))
        c.append(fmt(stats([num(r.get("steps")) for r in good])[0], digits=0))
        for k in ("optimize_s", "total_s"):
            c.append(fmt_time(stats([num(r.get(k)) for r in good])[0]))
        body.append(c)
    out = [f"**{a.title}**", ""] if a.title else []
    out += md_table(["variant", "ranks", "threads/rank", "runs ok", "NP@10", "triplet", "10-NN acc",
                     "load imbalance", "steps per rank", "optimize s", "total s"], body,
                    ["---"] + ["---:"] * 10)
    out.append("")
    n_seeds = seeds_of(rows)
    out.append("`mpirun -np R nomad run` with `distributed.backend: mpi` (every rank count, 1 included, runs the "
               "distributed K-Means, so the cells do not depend on R); metrics from rank 0's `run.json` "
               "(the paper's protocol on the gathered layout); "
               + (f"± = std over {n_seeds} seeds." if n_seeds > 1 else "± = 95% confidence interval (one seed).")
               + " Load imbalance = the largest rank's points × R / N; steps per rank = epochs × N / (batch × R). With more ranks than cores the "
               "times measure oversubscription, not scaling.")
    for r in rows:
        if r["status"] != "ok":
            out.append(f"- {r['variant']}, {r['ranks']} ranks, seed {r['seed']}: {r['status']}: {r.get('error', '')}")
    write_text(a.md, "\n".join(out) + "\n")

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (k, title) in zip(axes, (("np", "NP@10"), ("triplet", "triplet accuracy"))):
        for variant in dict.fromkeys(r["variant"] for r in rows):
            vg = [(rk, gr) for (v, rk), gr in groups if v == variant]
            ms = [agg([r for r in gr if r["status"] == "ok"], k, k + "_ci95") for rk, gr in vg]
            ax.errorbar([rk for rk, _ in vg], [m[0] if m[0] is not None else float("nan") for m in ms],
                        yerr=[m[1] or 0 for m in ms], marker="o", capsize=3, label=variants.get(variant, variant))
        rks = sorted({r["ranks"] for r in rows})
        ax.set_xscale("log", base=2)
        ax.set_xticks(rks)
        ax.set_xticklabels([str(x) for x in rks])
        ax.set_xlabel("MPI ranks")
        ax.set_title(f"{title} vs ranks")
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_fig(fig, a.png)


# ---------------------------------------------------------------- experiment 5: quality vs time

def cmd_quality_time(a):
    rows = [r for r in read_csv(a.csv) if r["status"] == "ok"]
    if not rows:
        sys.exit(f"exp_report.py quality-time: no finished runs in {a.csv}")
    out = [f"**{a.title}**", ""] if a.title else []
    points = []  # (dataset title, method, fit mean, fit std, np mean, np std)
    for (ds,), drows in group(rows, ["dataset"]).items():
        title = drows[0]["dataset_title"]
        by = group(drows, ["method"])
        ref = by.get((REFERENCE,))
        ref_np = stats([num(r["np"]) for r in ref])[0] if ref else None
        ref_fit = stats([num(r["fit_s"]) for r in ref])[0] if ref else None
        body = []
        for key in METHOD_ORDER:
            if (key,) not in by:
                continue
            mr = by[(key,)]
            fm, fs, _ = stats([num(r["fit_s"]) for r in mr])
            nm, ns, _ = agg(mr, "np", "np_ci95")
            points.append((title, key, fm, fs, nm, ns))
            body.append([METHOD_NAME[key], fmt_time(fm), fmt(nm, ns),
                         f"{nm / ref_np:.2f}" if ref_np and nm is not None else "–",
                         f"{ref_fit / fm:.2f}x" if ref_fit and fm else "–"])
        out += [f"*{title}*", ""]
        out += md_table(["method", "fit s", "NP@10", f"NP@10 / {METHOD_NAME[REFERENCE]}'s",
                         f"speed-up over {METHOD_NAME[REFERENCE]}"], body)
        out.append("")
    out.append(f"From {os.path.basename(a.csv)} (experiments/methods.sh; not re-run). Speed-up = the exact "
               "InfoNC-t-SNE fit time / the method's (> 1x: faster). Methods skipped or failed there are absent.")
    write_text(a.md, "\n".join(out) + "\n")

    plt = pyplot()
    titles = list(dict.fromkeys(p[0] for p in points))
    fig, axes = plt.subplots(1, len(titles), figsize=(5.5 * len(titles), 4.2), squeeze=False)
    colours = {k: f"C{i}" for i, k in enumerate(METHOD_ORDER)}
    markers = {k: ("o" if cfg else "s") for k, _, cfg in METHODS}
    for ax, title in zip(axes[0], titles):
        for t, key, fm, fs, nm, ns in points:
            if t != title or fm is None or nm is None:
                continue
            ax.errorbar([fm], [nm], xerr=[fs or 0], yerr=[ns or 0], fmt=markers[key], color=colours[key],
                        capsize=2, markersize=7, label=METHOD_NAME[key])
        ax.set_xscale("log")
        ax.set_xlabel("fit wall time (s, log scale)")
        ax.set_ylabel("NP@10")
        ax.set_title(title)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Quality against fit time (circles: nomad's loop; squares: Python peers)")
    fig.tight_layout()
    save_fig(fig, a.png)


# ---------------------------------------------------------------- docs/results.md

def cmd_fill_doc(a):
    with open(a.doc) as f:
        doc = f.read()
    begin, end = f"<!-- results:{a.name} begin -->", f"<!-- results:{a.name} end -->"
    i, j = doc.find(begin), doc.find(end)
    if i < 0 or j < i:
        sys.exit(f"exp_report.py fill-doc: {a.doc}: no '{begin}' ... '{end}' markers")
    with open(a.table) as f:
        table = f.read().strip()
    png = os.path.join("results", a.name + ".png")
    block = f"{begin}\n{table}\n\n![{a.name}]({png})\n"
    if a.name == "methods" and os.path.exists(os.path.join(os.path.dirname(a.doc), "results", "methods_maps.png")):
        block += "\n![methods: the layouts](results/methods_maps.png)\n"
    write_text(a.doc, doc[:i] + block + doc[j:])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("methods")
    s.add_argument("workdir")
    s.add_argument("--csv", required=True)
    s.add_argument("--maps")
    s.add_argument("--seeds", type=int, nargs="*", help="only these seeds' runs (default: all found)")
    s.set_defaults(fn=cmd_methods)
    s = sub.add_parser("cells")
    s.add_argument("csv")
    s.set_defaults(fn=cmd_cells)
    s = sub.add_parser("approx")
    s.add_argument("rtilde")
    s.add_argument("exact")
    s.add_argument("--exact-approx", default="as in the config", help="approx_cells of the exact sweep")
    s.set_defaults(fn=cmd_approx)
    s = sub.add_parser("ranks")
    s.add_argument("workdir")
    s.add_argument("--csv", required=True)
    s.add_argument("--seeds", type=int, nargs="*", help="only these seeds' runs (default: all found)")
    s.add_argument("--ranks", type=int, nargs="*", help="only these rank counts (default: all found)")
    s.add_argument("--variants", nargs="*", help="only these variants (default: all found)")
    s.add_argument("--variant", nargs=2, action="append", metavar=("KEY", "NAME"), help="a variant's name in the table")
    s.set_defaults(fn=cmd_ranks)
    s = sub.add_parser("quality-time")
    s.add_argument("csv")
    s.set_defaults(fn=cmd_quality_time)
    for name in ("methods", "cells", "approx", "ranks", "quality-time"):
        sp = sub.choices[name]
        sp.add_argument("--md", required=True)
        sp.add_argument("--png", required=True)
        sp.add_argument("--title")
    s = sub.add_parser("fill-doc")
    s.add_argument("doc")
    s.add_argument("name")
    s.add_argument("table")
    s.set_defaults(fn=cmd_fill_doc)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
