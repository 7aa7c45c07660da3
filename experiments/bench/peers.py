#!/usr/bin/python3
"""Helpers for experiments/bench/fashion_mnist.sh: the data subset, the peer fits, the table.

  peers.py prep  OUTDIR [--limit N]          -> OUTDIR/fmnist.npy (u8, N x 784), OUTDIR/labels.npy (int32)
  peers.py umap  DATA.npy OUT.npy OUT.json   -> umap-learn layout + {"seconds", "peak_rss_bytes", ...}
  peers.py tsne  DATA.npy OUT.npy OUT.json   -> scikit-learn TSNE layout + the same JSON
  peers.py opentsne DATA.npy OUT.npy OUT.json -> openTSNE layout (defaults: FFT gradients, all cores)
  peers.py pacmap DATA.npy OUT.npy OUT.json  -> PaCMAP layout (defaults)
  peers.py table OUTDIR [--md FILE] [--title T] -> Markdown table of every method under OUTDIR

The data are Debian's dataset-fashion-mnist (train then t10k, the same order as nomad's
`fashion-mnist` alias), pixel values 0..255 as given; the peers see them as float32, which is
what nomad's loader makes of them, so every method fits the same matrix.
"""
import argparse
import gzip
import json
import os
import resource
import sys
import time

import numpy as np

FMNIST = "/usr/share/datasets/fashion-mnist"
STAGES = ["plugins", "load", "partition", "ann", "affinity", "init", "optimize", "eval", "output"]
# Stages that are part of fitting the layout (what a peer's fit_transform does): everything
# but reading the file, the quality metrics and writing the outputs.
WARMUP_ROWS = 5000
FIT_STAGES = ["plugins", "partition", "ann", "affinity", "init", "optimize"]


def _idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _atomic_save(path, arr):
    tmp = path + ".tmp.npy"
    np.save(tmp, arr)
    os.replace(tmp, path)


def cmd_prep(a):
    os.makedirs(a.outdir, exist_ok=True)
    xp, yp = os.path.join(a.outdir, "fmnist.npy"), os.path.join(a.outdir, "labels.npy")
    if os.path.exists(xp) and os.path.exists(yp):
        return
    x = np.concatenate([_idx(f"{FMNIST}/train-images-idx3-ubyte.gz"), _idx(f"{FMNIST}/t10k-images-idx3-ubyte.gz")])
    y = np.concatenate([_idx(f"{FMNIST}/train-labels-idx1-ubyte.gz"), _idx(f"{FMNIST}/t10k-labels-idx1-ubyte.gz")])
    x = x.reshape(len(x), -1)
    if a.limit and a.limit > 0:
        x, y = x[:a.limit], y[:a.limit]
    _atomic_save(xp, np.ascontiguousarray(x, dtype=np.uint8))
    _atomic_save(yp, y.astype(np.int32))


def _peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _fit(a, make, warmup):
    x = np.load(a.data).astype(np.float32)
    extra = {}
    if warmup:
        # Compile the JIT (numba) code paths on a sample first so the timed fit measures the
        # algorithm, not the one-off compilation (reported separately as warmup_seconds). The
        # sample has more than 4,096 rows: below that umap-learn skips NN-descent (pynndescent)
        # and computes exact neighbours, so NN-descent's code would still compile in the fit.
        t = time.perf_counter()
        m = min(len(x), WARMUP_ROWS)
        make().fit_transform(x[np.sort(np.random.default_rng(0).choice(len(x), m, replace=False))])
        extra["warmup_rows"] = m
        extra["warmup_seconds"] = time.perf_counter() - t
    model = make()
    t = time.perf_counter()
    y = model.fit_transform(x)
    seconds = time.perf_counter() - t
    _atomic_save(a.out, np.ascontiguousarray(y, dtype=np.float32))
    rec = {"seconds": seconds, "peak_rss_bytes": _peak_rss_bytes(), "n": int(len(x)), **extra}
    with open(a.json, "w") as f:
        json.dump(rec, f, indent=1)
    print(f"{a.cmd}: {len(x)} points in {seconds:.2f} s", file=sys.stderr)


def cmd_umap(a):
    import umap  # Debian's umap-learn
    import numba
    def make():
        return umap.UMAP(n_neighbors=15, random_state=None)  # None: parallel (numba threads)
    _fit(a, make, warmup=not a.no_warmup)
    _record(a, version=umap.__version__, threads=numba.get_num_threads())


def cmd_tsne(a):
    import sklearn
    from sklearn.manifold import TSNE
    def make():
        return TSNE(n_components=2, method="barnes_hut", n_jobs=-1, init="pca", learning_rate="auto",
                    random_state=0)
    _fit(a, make, warmup=False)  # compiled ahead of time: nothing to warm up
    _record(a, version=sklearn.__version__)


def _record(a, **fields):
    with open(a.json) as f:
        rec = json.load(f)
    rec.update(fields)
    with open(a.json, "w") as f:
        json.dump(rec, f, indent=1)


def cmd_opentsne(a):
    import openTSNE  # PyPI (fashion_mnist.sh installs it into its own venv)
    def make():
        # The library's defaults (perplexity 30, PCA init, 250 early-exaggeration iterations
        # then 500, FFT-interpolated gradients), on every core.
        return openTSNE.TSNE(n_jobs=os.cpu_count(), random_state=0)
    class Fit:  # openTSNE's TSNE has fit(), which returns the embedding, not fit_transform()
        def __init__(self):
            self.m = make()
        def fit_transform(self, x):
            return np.asarray(self.m.fit(x))
    _fit(a, Fit, warmup=False)  # compiled ahead of time (Cython): nothing to warm up
    _record(a, version=openTSNE.__version__, threads=os.cpu_count())


def cmd_pacmap(a):
    import pacmap  # PyPI, as openTSNE
    import numba
    def make():
        return pacmap.PaCMAP(n_components=2, random_state=None)  # None: numba's parallel paths
    _fit(a, make, warmup=not a.no_warmup)
    _record(a, version=pacmap.__version__, threads=numba.get_num_threads())


def _load(path):
    with open(path) as f:
        return json.load(f)


def _f(v, fmt="{:.2f}"):
    return "–" if v is None else fmt.format(v)


def cmd_table(a):
    rows = []
    order = ["nomad-nomad", "nomad-nomad-paper", "nomad-tsne", "nomad-infonce-tsne", "nomad-neg-tsne", "nomad-umap-forces", "opentsne", "umap-learn",
             "pacmap", "sklearn-tsne"]
    names = sorted(os.listdir(a.outdir), key=lambda n: (order.index(n) if n in order else len(order), n))
    for name in [n for n in names if n.startswith("nomad-") or n in order]:
        d = os.path.join(a.outdir, name)
        ev = os.path.join(d, "eval.json")
        if not os.path.exists(ev):
            continue
        m = _load(ev)
        row = {"method": name, "metrics": m, "stages": None}
        if name.startswith("nomad-"):
            r = _load(os.path.join(d, "run.json"))
            st = r["stage_seconds"]
            row["stages"] = st
            row["total"] = r["total_seconds"]
            row["fit"] = sum(st.get(s, 0.0) for s in FIT_STAGES)
            row["rss"] = r.get("peak_rss_bytes")
            row["recall"] = r.get("ann", {}).get("recall")
        else:
            p = _load(os.path.join(d, "peer.json"))
            row["total"] = row["fit"] = p["seconds"]
            row["rss"] = p.get("peak_rss_bytes")
            row["recall"] = None
            row["peer"] = p
        rows.append(row)
    umap_s = next((r["fit"] for r in rows if r["method"] == "umap-learn"), None)
    tsne_s = next((r["fit"] for r in rows if r["method"] == "opentsne"), None)

    out = []
    if a.title:
        out.append(f"## {a.title}\n")
    head = ["method"] + [f"{s} s" for s in STAGES] + ["total s", "fit s", "NP@10", "10-NN acc", "triplet",
                                                      "kNN recall", "peak RSS MiB", "umap / method"]
    if tsne_s:
        head.append("openTSNE / method")
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for r in rows:
        m = r["metrics"]
        st = [_f(r["stages"].get(s)) if r["stages"] else "" for s in STAGES]
        ratio = _f(umap_s / r["fit"], "{:.2f}x") if umap_s and r["fit"] > 0 else "–"
        cells = [r["method"]] + st + [
            _f(r["total"]), _f(r["fit"]),
            f"{m['np']:.4f} ± {m['np_ci95']:.4f}",
            f"{m['knn_acc']:.4f} ± {m['knn_acc_ci95']:.4f}" if "knn_acc" in m else "–",
            f"{m['triplet']:.4f} ± {m['triplet_ci95']:.4f}",
            _f(r["recall"], "{:.3f}"),
            _f(r["rss"] / 2**20 if r["rss"] else None, "{:.0f}"),
            ratio]
        if tsne_s:
            cells.append(_f(tsne_s / r["fit"], "{:.2f}x") if r["fit"] > 0 else "–")
        out.append("| " + " | ".join(cells) + " |")
    q = ", ".join(sorted({f"{r['metrics'].get('queries', 0):,}" for r in rows}))
    t = ", ".join(sorted({f"{r['metrics'].get('triplets', 0):,}" for r in rows}))
    out.append("")
    out.append("Stage times are nomad's (`run.json` → `stage_seconds`); peers report one figure, the wall "
               "time of `fit_transform`. **fit s** = nomad's total less `load`, `eval` and `output` "
               "(the work a peer's `fit_transform` does) and is what **umap / method** divides "
               "(> 1x: faster than umap-learn; **openTSNE / method** likewise). Every layout, nomad's included, is scored by the same "
               "`nomad eval DATA EMBEDDING --labels L --json` (seed 42: NP@10 and 10-NN accuracy on "
               f"the same {q} query points, {t} random triplets; ± = 95% CI). Peer RSS is the whole "
               "Python process.")
    for r in rows:
        if "peer" in r:
            p = r["peer"]
            bits = [f"version {p.get('version')}"]
            if "threads" in p:
                bits.append(f"{p['threads']} threads")
            if "warmup_seconds" in p:
                bits.append(f"untimed JIT warm-up fit on {p.get('warmup_rows', 0):,} points first: "
                            f"{p['warmup_seconds']:.1f} s")
            out.append(f"- {r['method']}: " + ", ".join(bits))
    if a.footer:
        out.append(a.footer)
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if a.md:
        os.makedirs(os.path.dirname(os.path.abspath(a.md)), exist_ok=True)
        with open(a.md, "w") as f:
            f.write(text)


def add_prep(sub, name):
    """The data subset's subcommand, OUTDIR [--limit N], as `name` (exp_data.py calls it fmnist)."""
    s = sub.add_parser(name)
    s.add_argument("outdir")
    s.add_argument("--limit", type=int, default=0)
    s.set_defaults(fn=cmd_prep)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    add_prep(sub, "prep")
    for name, fn in (("umap", cmd_umap), ("tsne", cmd_tsne), ("opentsne", cmd_opentsne), ("pacmap", cmd_pacmap)):
        s = sub.add_parser(name)
        s.add_argument("data")
        s.add_argument("out")
        s.add_argument("json")
        s.add_argument("--no-warmup", action="store_true")
        s.set_defaults(fn=fn)
    s = sub.add_parser("table")
    s.add_argument("outdir")
    for flag in ("--md", "--title", "--footer"):  # all optional strings
        s.add_argument(flag)
    s.set_defaults(fn=cmd_table)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
