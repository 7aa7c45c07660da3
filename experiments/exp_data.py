#!/usr/bin/python3
"""Data for the experiment scripts (experiments/lib.sh calls it).

  exp_data.py fmnist OUTDIR [--limit N]             -> OUTDIR/fmnist.npy (u8), OUTDIR/labels.npy (int32)
  exp_data.py slice X.npy Y.npy OUTDIR --limit N    -> OUTDIR/blobs.npy, OUTDIR/labels.npy: the first N rows
  exp_data.py digits OUTDIR                         -> OUTDIR/digits.npy (f8, 1,797 x 64), OUTDIR/labels.npy:
                                                       scikit-learn's digits, as its load_digits() gives them
  exp_data.py half X.npy OUT.npy                    -> X as float16 (a dtype the settings never saw)
  exp_data.py rows X.npy | cols X.npy               -> prints the row / column count

Fashion-MNIST is prepared by experiments/bench/peers.py (the same rows, in the same order, as
nomad's `fashion-mnist` alias). Files are written under a temporary name and renamed.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
import peers  # noqa: E402  (experiments/bench/peers.py)


def cmd_slice(a):
    os.makedirs(a.outdir, exist_ok=True)
    xp, yp = os.path.join(a.outdir, "blobs.npy"), os.path.join(a.outdir, "labels.npy")
    x = np.load(a.x, mmap_mode="r")
    if os.path.exists(xp) and os.path.exists(yp) and np.load(xp, mmap_mode="r").shape[0] == min(a.limit, len(x)):
        return
    peers._atomic_save(xp, np.ascontiguousarray(x[:a.limit]))
    peers._atomic_save(yp, np.ascontiguousarray(np.load(a.y, mmap_mode="r")[:a.limit]))


def cmd_digits(a):
    from sklearn.datasets import load_digits  # Debian's python3-sklearn; the data ship with it
    os.makedirs(a.outdir, exist_ok=True)
    xp, yp = os.path.join(a.outdir, "digits.npy"), os.path.join(a.outdir, "labels.npy")
    if os.path.exists(xp) and os.path.exists(yp):
        return
    d = load_digits()
    peers._atomic_save(xp, np.ascontiguousarray(d.data, dtype=np.float64))
    peers._atomic_save(yp, d.target.astype(np.int32))


def cmd_half(a):
    if os.path.exists(a.out) and os.path.getmtime(a.out) >= os.path.getmtime(a.x):
        return
    peers._atomic_save(a.out, np.load(a.x).astype(np.float16))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    peers.add_prep(sub, "fmnist")
    # (name, function, positional arguments, required integer options)
    for name, fn, args, ints in (("slice", cmd_slice, ("x", "y", "outdir"), ("--limit",)),
                                 ("digits", cmd_digits, ("outdir",), ()), ("half", cmd_half, ("x", "out"), ())):
        s = sub.add_parser(name)
        for arg in args:
            s.add_argument(arg)
        for opt in ints:
            s.add_argument(opt, type=int, required=True)
        s.set_defaults(fn=fn)
    for name, axis in (("rows", 0), ("cols", 1)):
        s = sub.add_parser(name)
        s.add_argument("x")
        s.set_defaults(fn=lambda a, axis=axis: print(np.load(a.x, mmap_mode="r").shape[axis]))
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
