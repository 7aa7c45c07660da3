#!/usr/bin/python3
"""The peers of experiments/methods.sh, fitted as experiments/bench/fashion_mnist.sh fits them.

  exp_peers.py umap DATA.npy OUT.npy OUT.json [--seed S]   umap-learn, n_neighbors=15
  exp_peers.py tsne DATA.npy OUT.npy OUT.json [--seed S]   scikit-learn TSNE (Barnes-Hut)
  exp_peers.py opentsne DATA.npy OUT.npy OUT.json         openTSNE's defaults (FFT gradients, all cores);
                                                          run by a Python that has openTSNE (the peers' venv)

OUT.json: {"seconds" (wall time of fit_transform), "peak_rss_bytes", "n", "version", "seed", ...}.
umap-learn runs with random_state=None, as in the benchmark: a fixed random_state turns off
numba's parallel loops, so on a multi-core machine it would be timed on one core. Its first
fit compiles numba code; an untimed warm-up fit on 5,000 rows comes first (peers._fit).
t-SNE uses random_state=SEED.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
import peers  # noqa: E402  (experiments/bench/peers.py)


def _annotate(path, **extra):
    with open(path) as f:
        rec = json.load(f)
    rec.update(extra)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f, indent=1)
    os.replace(tmp, path)


def cmd_umap(a):
    peers.cmd_umap(a)
    _annotate(a.json, seed=None, random_state="None (parallel; a fixed seed would run on one core)")


def cmd_tsne(a):
    import sklearn
    from sklearn.manifold import TSNE

    def make():
        return TSNE(n_components=2, method="barnes_hut", n_jobs=-1, init="pca", learning_rate="auto",
                    random_state=a.seed)
    peers._fit(a, make, warmup=False)
    _annotate(a.json, version=sklearn.__version__, seed=a.seed)


def cmd_opentsne(a):
    peers.cmd_opentsne(a)
    _annotate(a.json, seed=0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, fn in (("umap", cmd_umap), ("tsne", cmd_tsne), ("opentsne", cmd_opentsne)):
        s = sub.add_parser(name)
        s.add_argument("data")
        s.add_argument("out")
        s.add_argument("json")
        s.add_argument("--seed", type=int, default=42)
        s.add_argument("--no-warmup", action="store_true")
        s.set_defaults(fn=fn)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
