"""The Python package against the library it installs: fits, transform, save/load, errors,
the GIL and Ctrl-C. Three well separated blobs make quality checks that cannot pass by luck."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import nomad


def blobs(n_per=600, d=24, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(3, d))
    X = np.concatenate([rng.normal(size=(n_per, d)) + c for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(3), n_per)
    order = rng.permutation(len(y))
    return np.ascontiguousarray(X[order]), y[order]


def knn_accuracy(train_y2, train_lab, query_y2, query_lab, k=10):
    d = ((query_y2[:, None, :] - train_y2[None, :, :]) ** 2).sum(-1)
    nn = np.argsort(d, axis=1)[:, :k]
    votes = train_lab[nn]
    pred = np.array([np.bincount(v, minlength=3).argmax() for v in votes])
    return (pred == query_lab).mean()


FAST = dict(optimizer__epochs=80, threads=2, seed=3)


@pytest.fixture(scope="module")
def fitted():
    X, y = blobs()
    m = nomad.NOMAD(**FAST)
    Y = m.fit_transform(X, y)
    return m, X, y, Y


def test_fit_transform_maps_the_blobs(fitted):
    m, X, y, Y = fitted
    assert Y.shape == (len(X), 2) and Y.dtype == np.float32 and np.isfinite(Y).all()
    assert Y is m.embedding_
    assert m.run_info_["status"] == "ok"
    assert m.run_info_["data"]["path"] == "X" and m.run_info_["data"]["labels"] == "y"
    assert m.run_info_["metrics"]["knn_acc"] > 0.97
    assert knn_accuracy(Y, y, Y, y) > 0.97
    assert m.n_features_in_ == X.shape[1]
    assert os.path.isfile(os.path.join(m.run_dir_, "embedding.npy"))


def test_float32_rows_are_read_in_place(fitted):
    m, X, _, _ = fitted
    assert np.shares_memory(m._X, X)


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.uint8, np.int16])
def test_other_dtypes(dtype):
    X, y = blobs(n_per=300)
    if np.dtype(dtype).kind in "ui":
        X = np.clip(X * 8 + 128, 0, 255)
    Y = nomad.NOMAD(**FAST).fit_transform(X.astype(dtype), y)
    assert Y.shape == (len(X), 2) and knn_accuracy(Y, y, Y, y) > 0.95


def test_same_seed_same_map():
    X, _ = blobs(n_per=200)
    a = nomad.NOMAD(**FAST).fit_transform(X)
    b = nomad.NOMAD(**FAST).fit_transform(X)
    c = nomad.NOMAD(**{**FAST, "seed": 4}).fit_transform(X)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_sklearn_conventions():
    m = nomad.NOMAD(config="tsne", optimizer__epochs=50, negatives__exact=64)
    p = m.get_params()
    assert p == {"config": "tsne", "verbose": False, "output_dir": None, "optimizer__epochs": 50,
                 "negatives__exact": 64}
    assert m.set_params(optimizer__epochs=60, verbose=True) is m
    assert m.get_params()["optimizer__epochs"] == 60 and m.verbose is True
    sklearn_base = pytest.importorskip("sklearn.base")  # Debian's python3-sklearn: installed by tests/install_deps.sh
    c = sklearn_base.clone(m)
    assert c is not m and c.get_params() == m.get_params()
    X, _ = blobs(n_per=100)
    assert nomad.NOMAD(**FAST).fit(X) is not None


def test_config_keys_reach_the_run():
    X, _ = blobs(n_per=100)
    m = nomad.NOMAD(dims=3, optimizer__epochs=40, output__name="keys", threads=1).fit(X)
    assert m.embedding_.shape == (300, 3)
    cfg = m.run_info_["config"]
    assert cfg["dims"] == 3 and cfg["optimizer"]["epochs"] == 40 and cfg["threads"] == 1


def test_transform_places_new_points_near_their_blob():
    X, y = blobs(n_per=700)
    train, new = slice(0, 1600), slice(1600, None)
    m = nomad.NOMAD(**FAST).fit(X[train], y[train])
    Z = m.transform(X[new])
    assert Z.shape == (len(y[new]), 2) and Z.dtype == np.float32
    assert knn_accuracy(m.embedding_, y[train], Z, y[new]) > 0.97
    assert np.array_equal(Z, m.transform(X[new]))  # the map does not move


def test_save_load_round_trip(tmp_path, fitted):
    m, X, y, _ = fitted
    out = m.save(tmp_path / "saved")
    assert sorted(f for f in os.listdir(out) if f in ("data.npy", "labels.npy", "nomad.json", "config.yaml",
                                                       "run.json", "embedding.npy")) == \
        ["config.yaml", "data.npy", "embedding.npy", "labels.npy", "nomad.json", "run.json"]
    assert "data.npy" in open(os.path.join(out, "config.yaml")).read()
    k = nomad.load(out)
    assert k.get_params() == {**m.get_params(), "output_dir": None}
    assert np.array_equal(k.embedding_, m.embedding_) and k.run_info_ == m.run_info_
    assert np.array_equal(k.transform(X[:50]), m.transform(X[:50]))
    with pytest.raises(nomad.NomadInputError, match="not an empty folder"):
        m.save(out)


def test_saved_folder_serves_the_command_line(tmp_path, fitted):
    exe = os.environ.get("NOMAD_EXE")
    if not exe:
        pytest.skip("NOMAD_EXE (the build's nomad program) not set")
    m, X, _, _ = fitted
    out = m.save(tmp_path / "cli")
    np.save(tmp_path / "new.npy", X[:40])
    subprocess.run([exe, "transform", out, str(tmp_path / "new.npy"), "-o", str(tmp_path / "z.npy"), "--quiet"],
                   check=True)
    assert np.array_equal(np.load(tmp_path / "z.npy"), m.transform(X[:40]))


def test_same_map_as_the_command_line(tmp_path):
    exe = os.environ.get("NOMAD_EXE")
    if not exe:
        pytest.skip("NOMAD_EXE (the build's nomad program) not set")
    X, _ = blobs(n_per=200)
    np.save(tmp_path / "x.npy", X)
    keys = ["optimizer.epochs=80", "threads=2", "seed=3", "output.plot=false"]
    cmd = [exe, "run", nomad.config_path("nomad"), "--out", str(tmp_path / "cli"), "--quiet",
           "--set", f"data.path={tmp_path / 'x.npy'}"]
    subprocess.run(cmd + [a for k in keys for a in ("--set", k)], check=True)
    m = nomad.NOMAD(**FAST)
    assert np.array_equal(np.load(tmp_path / "cli" / "embedding.npy"), m.fit_transform(X))
    # a command-line run loaded in Python: transform reads the training rows its config names
    k = nomad.load(tmp_path / "cli")
    assert k._X is None and np.array_equal(k.transform(X[:30]), m.transform(X[:30]))


def test_errors_are_exceptions_with_the_message(tmp_path):
    X, y = blobs(n_per=50)
    cases = [
        (dict(optimizer__epochs="abc"), X, None, "optimizer.epochs"),
        (dict(no_such__key=1), X, None, "no_such"),
        (dict(config="no-such-config"), X, None, "no such shipped config"),
        (dict(), X[:, 0], None, "expected (n_samples, n_features)"),
        (dict(), X, y[:10], "integer labels, one per row"),
        (dict(ann__k=500), X[:20], None, "ann.k"),
    ]
    for params, data, labels, text in cases:
        with pytest.raises(nomad.NomadInputError, match=text.replace("(", r"\(").replace(")", r"\)")) as e:
            nomad.NOMAD(**params).fit(data, labels)
        assert e.value.code == 2 and "\n" not in str(e.value)
    bad = X.copy()
    bad[7, 3] = np.nan
    with pytest.raises(nomad.NomadInputError, match="row 7"):
        nomad.NOMAD().fit(bad)
    with pytest.raises(nomad.NomadInputError, match="not fitted"):
        nomad.NOMAD().transform(X)
    m = nomad.NOMAD(**FAST).fit(X)
    with pytest.raises(nomad.NomadInputError, match="rows of 5 values"):
        m.transform(X[:, :5])


def test_awkward_arrays():
    X, _ = blobs(n_per=100)
    ref = nomad.NOMAD(**FAST).fit_transform(X)
    fortran = np.asfortranarray(X)
    assert np.array_equal(nomad.NOMAD(**FAST).fit_transform(fortran), ref)  # copied to C order, same map
    frozen = X.copy()
    frozen.flags.writeable = False
    assert np.array_equal(nomad.NOMAD(**FAST).fit_transform(frozen), ref)
    assert np.array_equal(nomad.NOMAD(**FAST).fit_transform(X.tolist()), ref)  # any array-like
    m = nomad.NOMAD(**FAST).fit(X)
    assert m.transform(np.clip(X[:5] * 8 + 128, 0, 255).astype(np.uint8)).shape == (5, 2)  # another dtype than fit's
    bad = [(np.empty((0, 24), np.float32), "at least one"), (X[None], "3 dimensions"),
           (X.astype(np.complex64), "expected numbers"), (np.where(np.arange(24) == 2, np.inf, X), "row 0")]
    for data, text in bad:
        with pytest.raises(nomad.NomadInputError, match=text):
            nomad.NOMAD(**FAST).fit(data)


def test_a_failed_fit_leaves_nothing(tmp_path):
    X, _ = blobs(n_per=50)
    out = tmp_path / "run"
    with pytest.raises(nomad.NomadInputError):
        nomad.NOMAD(output_dir=str(out), ann__k=1000).fit(X)
    assert not out.exists()
    m = nomad.NOMAD(output_dir=str(out), **FAST).fit(X)
    assert m.run_dir_ == str(out) and (out / "run.json").exists()
    with pytest.raises(nomad.NomadInputError, match="not empty|holds"):
        nomad.NOMAD(output_dir=str(out), **FAST).fit(X)  # runs never mix


def test_temporary_run_folder_goes_with_the_estimator():
    X, _ = blobs(n_per=50)
    m = nomad.NOMAD(**FAST).fit(X)
    first = m.run_dir_
    m.fit(X)
    assert not os.path.exists(first) and os.path.exists(m.run_dir_)
    second = m.run_dir_
    del m
    import gc
    gc.collect()
    assert not os.path.exists(second)


def test_quiet_unless_verbose(capfd):
    X, _ = blobs(n_per=100)
    nomad.NOMAD(**FAST).fit(X)
    assert capfd.readouterr().err == ""
    nomad.NOMAD(verbose=True, **FAST).fit(X)
    assert "data: X: 300 x 24" in capfd.readouterr().err


def test_the_gil_is_released_during_a_fit():
    X, _ = blobs(n_per=1500)
    done, gaps = threading.Event(), []
    worker = threading.Thread(target=lambda: (nomad.NOMAD(optimizer__epochs=400, threads=1).fit(X), done.set()))
    t0 = time.perf_counter()
    worker.start()
    last = time.perf_counter()
    while not done.is_set() and worker.is_alive():
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
        time.sleep(0.001)
    worker.join()
    took = time.perf_counter() - t0
    assert done.is_set() and took > 0.3  # long enough that a held GIL would show
    assert max(gaps) < took / 3, f"the main thread waited {max(gaps):.2f} s of a {took:.2f} s fit"


def test_fits_from_two_threads_take_turns():
    X, _ = blobs(n_per=200)
    alone = nomad.NOMAD(**FAST).fit_transform(X)
    results = [None, None]

    def fit(i):
        results[i] = nomad.NOMAD(**FAST).fit_transform(X)

    workers = [threading.Thread(target=fit, args=(i,)) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert all(r is not None and np.array_equal(r, alone) for r in results)


def test_ctrl_c_stops_the_fit_and_leaves_python_as_it_was(tmp_path):
    X, _ = blobs(n_per=1500)
    out = tmp_path / "stopped"
    before = signal.getsignal(signal.SIGINT)
    timer = threading.Timer(0.4, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        nomad.NOMAD(output_dir=str(out), optimizer__epochs=100000, threads=1).fit(X)
    timer.join()
    assert time.perf_counter() - t0 < 30 and not out.exists()
    assert signal.getsignal(signal.SIGINT) is before
    assert nomad.NOMAD(**FAST).fit(X[:300]).embedding_.shape == (300, 2)  # the next fit runs


def test_version_and_configs():
    assert nomad.version().startswith(nomad.__version__)
    assert {"nomad", "tsne", "umap-forces"} <= set(nomad.configs())
    assert nomad.config_path("tsne").endswith("tsne.yaml")
