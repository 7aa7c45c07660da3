#!/usr/bin/env python3
# Recomputes nomad's eval metrics with numpy + scikit-learn on the files test_metrics.c wrote
# and fails (exit 1) when any differs by more than 0.005. Usage: metrics_agreement.py DIR
import sys

import numpy as np
from sklearn.manifold import trustworthiness
from sklearn.neighbors import NearestNeighbors

TOL = 0.005


def knn(data, queries, k):
    """Exact k nearest neighbours of the query rows among all rows, self excluded."""
    nn = NearestNeighbors(n_neighbors=k + 1).fit(data)
    idx = nn.kneighbors(data[queries], return_distance=False)
    return np.array([[j for j in row if j != q][:k] for row, q in zip(idx, queries)])


def np_at_k(x, y, queries, k):
    a, b = knn(x, queries, k), knn(y, queries, k)
    return np.mean([len(set(r) & set(s)) / k for r, s in zip(a, b)])


def sampled_trust(x, y, queries, k):
    """Trustworthiness with the sum over points restricted to `queries` and scaled by
    n / len(queries): sklearn's formula, per-query terms averaged (see eval/metrics.h)."""
    n = len(x)
    nbr_y = knn(y, queries, k)
    nbr_x = knn(x, queries, k)
    total = 0.0
    for q, ny, nx in zip(queries, nbr_y, nbr_x):
        d = ((x - x[q]) ** 2).sum(axis=1)
        d[q] = np.inf
        order = np.argsort(d, kind="stable")
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(1, n + 1)
        total += sum(rank[j] - k for j in ny if j not in set(nx))
    return 1.0 - 2.0 * total * (n / len(queries)) / (n * k * (2.0 * n - 3.0 * k - 1.0))


def triplet_accuracy(x, y, triplets):
    i, j, l = triplets[:, 0], triplets[:, 1], triplets[:, 2]
    dx_ij, dx_il = ((x[i] - x[j]) ** 2).sum(1), ((x[i] - x[l]) ** 2).sum(1)
    dy_ij, dy_il = ((y[i] - y[j]) ** 2).sum(1), ((y[i] - y[l]) ** 2).sum(1)
    ok = ((dx_ij < dx_il) == (dy_ij < dy_il)) & (dx_ij != dx_il) & (dy_ij != dy_il)
    return ok.mean()


def main(folder):
    x = np.load(f"{folder}/x.npy").astype(np.float64)
    y = np.load(f"{folder}/y.npy").astype(np.float64)
    triplets = np.load(f"{folder}/triplets.npy")
    nomad = {}
    with open(f"{folder}/results.txt") as f:
        for line in f:
            key, value = line.split()
            nomad[key] = float(value)
    k = int(nomad["k"])
    everyone = np.arange(len(x))
    sample = np.load(f"{folder}/queries_sample.npy")
    ours = {
        "np_all": np_at_k(x, y, everyone, k),
        "trust_all": trustworthiness(x, y, n_neighbors=k),
        "cont_all": trustworthiness(y, x, n_neighbors=k),
        "triplet": triplet_accuracy(x, y, triplets),
        "np_sample": np_at_k(x, y, sample, k),
        "trust_sample": sampled_trust(x, y, sample, k),
        "cont_sample": sampled_trust(y, x, sample, k),
    }
    failed = False
    for key, value in ours.items():
        diff = abs(value - nomad[key])
        status = "ok" if diff <= TOL else "MISMATCH"
        failed |= diff > TOL
        print(f"{key:13s} nomad {nomad[key]:.6f} sklearn/numpy {value:.6f} diff {diff:.2e} {status}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
