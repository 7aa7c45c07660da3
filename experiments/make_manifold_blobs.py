#!/usr/bin/python3
"""Synthetic benchmark data: Gaussian clusters on a low-dimensional manifold, embedded in D dims.

  make_manifold_blobs.py N D OUT.npy [--labels L.npy] [--seed S] [--clusters 50] [--intrinsic 5]

How a point is made:
  1. Cluster centres c_1..c_K lie on a random smooth closed curve in R^m (m = --intrinsic,
     default 5): a sum of four random Fourier modes with 1/f amplitudes, sampled at K sorted
     random parameters, then scaled so the median distance between a centre and its nearest
     other centre is --separation (default 5) within-cluster standard deviations. Neighbouring
     clusters along the curve are therefore close, distant ones far: there is global structure
     for a map to keep, not only K isolated blobs.
  2. Each cluster k has a weight (Dirichlet(4): cluster sizes differ up to ~15x) and its own
     anisotropic covariance: a random rotation times per-axis standard deviations in [0.5, 1.5].
     A point of cluster k is z = c_k + R_k diag(s_k) e, e ~ N(0, I_m).
  3. z is mapped into R^D by a random linear map plus a mild nonlinearity,
     x = z A + beta * |z| * tanh(z C + b) B, with tanh-part amplitude --beta (default 0.3)
     relative to the linear part, plus isotropic noise of std --noise (default 0.3) per
     coordinate (the linear part gives ~1 per coordinate within a cluster).
Labels are the cluster ids (int32). Rows are written in chunks of 65,536 straight to the file
(written under a temporary name, then renamed), so Python's memory stays at a few hundred MiB
whatever N is; 1,000,000 x 128 float32 is 488 MiB on disk. The output depends only on
(N, D, seed and the shape options), not on the machine.
"""
import argparse
import os
import resource
import sys
import time

import numpy as np

CHUNK = 65536


def curve_centres(rng, k, m, modes=4):
    t = np.sort(rng.uniform(0.0, 1.0, k))
    f = np.arange(1, modes + 1)
    a = rng.standard_normal((modes, m)) / f[:, None]
    b = rng.standard_normal((modes, m)) / f[:, None]
    ang = 2.0 * np.pi * t[:, None] * f[None, :]
    return np.sin(ang) @ a + np.cos(ang) @ b  # k x m


def random_rotation(rng, m):
    q, r = np.linalg.qr(rng.standard_normal((m, m)))
    return q * np.sign(np.diag(r))


def make_model(n_dims, seed, k, m, separation, hidden=64):
    rng = np.random.default_rng([seed, 0])
    c = curve_centres(rng, k, m)
    d = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    c *= separation / np.median(d.min(1))
    weights = rng.dirichlet(np.full(k, 4.0))
    rot = np.stack([random_rotation(rng, m) * rng.uniform(0.5, 1.5, m)[None, :] for _ in range(k)])  # k x m x m
    zscale = float(np.sqrt((c ** 2).sum(1).mean() + m))  # typical |z|
    return {
        "centres": c, "weights": weights, "rot": rot, "zscale": zscale,
        "A": rng.standard_normal((m, n_dims)) / np.sqrt(m),
        "C": rng.standard_normal((m, hidden)) / zscale,
        "b": rng.uniform(-1.0, 1.0, hidden),
        "B": rng.standard_normal((hidden, n_dims)) / np.sqrt(hidden),
    }


def make_chunk(model, seed, index, rows, beta, noise):
    rng = np.random.default_rng([seed, 1, index])
    k, m = model["centres"].shape
    lab = rng.choice(k, size=rows, p=model["weights"]).astype(np.int32)
    e = rng.standard_normal((rows, m))
    z = model["centres"][lab] + np.einsum("rij,rj->ri", model["rot"][lab], e)
    x = z @ model["A"]
    x += (beta * model["zscale"]) * (np.tanh(z @ model["C"] + model["b"]) @ model["B"])
    x += noise * rng.standard_normal(x.shape)
    return x.astype("<f4"), lab


def open_npy(path, shape, descr):
    tmp = path + ".tmp"
    f = open(tmp, "wb")
    np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
    return f, tmp


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("n", type=int)
    p.add_argument("d", type=int)
    p.add_argument("out")
    p.add_argument("--labels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clusters", type=int, default=50)
    p.add_argument("--intrinsic", type=int, default=5)
    p.add_argument("--separation", type=float, default=5.0)
    p.add_argument("--beta", type=float, default=0.3)
    p.add_argument("--noise", type=float, default=0.3)
    a = p.parse_args()
    if a.n < 1 or a.d < 1 or a.clusters < 2 or a.intrinsic < 1:
        p.error("need N >= 1, D >= 1, --clusters >= 2, --intrinsic >= 1")

    t0 = time.perf_counter()
    model = make_model(a.d, a.seed, a.clusters, a.intrinsic, a.separation)
    fx, tx = open_npy(a.out, (a.n, a.d), "<f4")
    fl, tl = open_npy(a.labels, (a.n,), "<i4") if a.labels else (None, None)
    try:
        for i, start in enumerate(range(0, a.n, CHUNK)):
            x, lab = make_chunk(model, a.seed, i, min(CHUNK, a.n - start), a.beta, a.noise)
            fx.write(x.tobytes())
            if fl:
                fl.write(lab.tobytes())
    finally:
        fx.close()
        if fl:
            fl.close()
    os.replace(tx, a.out)
    if tl:
        os.replace(tl, a.labels)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{a.out}: {a.n} x {a.d} float32, {a.clusters} clusters on a {a.intrinsic}-d manifold, seed {a.seed}; "
          f"{time.perf_counter() - t0:.1f} s, peak RSS {rss:.0f} MiB", file=sys.stderr)


if __name__ == "__main__":
    main()
