"""nomad.NOMAD: a scikit-learn style estimator over the C API (_lib.py)."""
import json
import os
import shutil
import tempfile
import threading
import weakref

import numpy as np

from . import _lib
from ._lib import NomadError, NomadInputError

_OWN = ("config", "verbose", "output_dir")  # the estimator's own parameters; the rest are config keys
_SAVED = "nomad.json"  # what save() adds to a run folder: the estimator's parameters


def _value(v):
    """A Python value as --set writes it (YAML)."""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


class NOMAD:
    """A NOMAD Projection map (or any of its relatives: the config decides).

    Parameters
    ----------
    config : str
        A shipped config by name ("nomad", "nomad-paper", "tsne", "infonce-tsne", "neg-tsne",
        "umap-forces"; nomad.configs() lists them) or the path of a YAML config.
    verbose : bool
        Progress and stage lines on stderr (default: warnings and errors only).
    output_dir : str or None
        The run folder the fit writes (embedding.npy, run.json, report.md, config.yaml): absent
        or empty. None: a temporary folder, removed with the estimator (save() keeps a run).
    **params
        Config keys, dots written as "__": optimizer__epochs=150, negatives__exact=256,
        seed=1, threads=4, dims=3 (docs/config-reference.md lists them all).

    Attributes after fit: embedding_ (n, dims) float32, run_info_ (run.json as a dict),
    run_dir_, n_features_in_.
    """

    def __init__(self, config="nomad", *, verbose=False, output_dir=None, **params):
        self.config = config
        self.verbose = verbose
        self.output_dir = output_dir
        self._params = dict(params)

    # -- scikit-learn conventions
    def get_params(self, deep=True):
        return {"config": self.config, "verbose": self.verbose, "output_dir": self.output_dir, **self._params}

    def set_params(self, **params):
        for k, v in params.items():
            if k in _OWN:
                setattr(self, k, v)
            else:
                self._params[k] = v
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                         if k not in _OWN or v != {"config": "nomad", "verbose": False, "output_dir": None}[k])
        return f"NOMAD({args})"

    def __getattr__(self, name):  # config keys read back as attributes, as sklearn's clone() expects
        params = self.__dict__.get("_params", {})
        if name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def _sets(self):
        return [f"{k.replace('__', '.')}={_value(v)}" for k, v in self._params.items()]

    def _flags(self):
        flags = _lib.VERBOSE if self.verbose else 0
        if threading.current_thread() is threading.main_thread():
            flags |= _lib.SIGNALS  # Ctrl-C stops the fit at its next epoch: KeyboardInterrupt
        return flags

    # -- fitting
    def fit(self, X, y=None):
        """Fits the map to the rows of X (n_samples, n_features); y: optional integer labels,
        used for the run's label metrics (run_info_["metrics"]) and map colours. Returns self.

        X is read in place when it is C-contiguous float32 and kept by reference (transform
        needs the training rows): do not change it afterwards."""
        X = _lib.rows(X, "X")
        labels = None
        if y is not None:
            labels = np.ascontiguousarray(np.asarray(y).reshape(-1))
            if labels.shape[0] != X.shape[0] or labels.dtype.kind not in "iub":
                raise NomadInputError(f"y: {labels.shape[0]} values of type {labels.dtype}; expected "
                                      f"{X.shape[0]} integer labels, one per row of X", 2)
            if labels.size and (labels.min() < -2**31 or labels.max() >= 2**31):
                raise NomadInputError("y: labels must fit in 32-bit integers", 2)
            labels = labels.astype(np.int32, copy=False)
        config = _lib.config_path(self.config)
        if getattr(self, "_cleanup", None):
            self._cleanup()  # the previous fit's temporary run folder
        cleanup = None
        if self.output_dir is None:
            run_dir = tempfile.mkdtemp(prefix="nomad-run-")
            cleanup = weakref.finalize(self, shutil.rmtree, run_dir, True)
        else:
            run_dir = os.path.abspath(os.fspath(self.output_dir))
        # map.png costs a few seconds nobody asked for from Python: off unless set; the rows
        # are named X and y in messages and in the record
        sets = ["output.plot=false"] + self._sets() + \
            ["data.path=X", "data.labels=" + ("y" if labels is not None else "null"), "data.format=auto"]
        try:
            _lib.fit(config, sets, X, labels, run_dir, self._flags())
            embedding = np.load(os.path.join(run_dir, "embedding.npy"))
            with open(os.path.join(run_dir, "run.json")) as f:
                info = json.load(f)
        except BaseException:
            if cleanup:
                cleanup()
            raise
        self._cleanup = cleanup
        self.run_dir_, self.embedding_, self.run_info_ = run_dir, embedding, info
        self._X, self._y = X, labels
        self.n_features_in_ = X.shape[1]
        return self

    def fit_transform(self, X, y=None):
        """fit(X, y), then the layout of X: embedding_."""
        return self.fit(X, y).embedding_

    def transform(self, X_new):
        """Places the rows of X_new on the fitted map without moving it (transform.* keys of
        the config); returns their layout, (n, dims) float32."""
        if not hasattr(self, "embedding_"):
            raise NomadInputError("this NOMAD is not fitted yet: call fit(X) first", 2)
        X_new = _lib.rows(X_new, "X_new")
        return _lib.transform(self.run_dir_, [], self._X, self.embedding_, X_new, self._flags() & _lib.VERBOSE)

    # -- keeping a map
    def save(self, path):
        """Writes the fitted run to the folder `path` (absent or empty): the run folder's files,
        the training rows (data.npy) and labels (labels.npy), its config.yaml pointing at them,
        and these parameters. Also a run folder for the command line: `nomad transform path ...`.
        Written next to `path` first and moved into place, so a failure leaves nothing."""
        if not hasattr(self, "embedding_"):
            raise NomadInputError("this NOMAD is not fitted yet: nothing to save", 2)
        path = os.path.abspath(os.fspath(path))
        if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
            raise NomadInputError(f"{path}: exists and is not an empty folder", 2)
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".nomad-save-", dir=parent)
        try:
            for name in os.listdir(self.run_dir_):
                src = os.path.join(self.run_dir_, name)
                if os.path.isfile(src) and not name.startswith(".nomad"):
                    shutil.copy2(src, os.path.join(tmp, name))
                elif os.path.isdir(src):
                    shutil.copytree(src, os.path.join(tmp, name))
            sets = []
            if self._X is not None:
                np.save(os.path.join(tmp, "data.npy"), self._X)
                sets += [f"data.path={os.path.join(path, 'data.npy')}", "data.format=npy"]
            if self._y is not None:
                np.save(os.path.join(tmp, "labels.npy"), self._y)
                sets.append(f"data.labels={os.path.join(path, 'labels.npy')}")
            if sets and os.path.exists(os.path.join(tmp, "config.yaml")):
                _lib.config_set(os.path.join(tmp, "config.yaml"), sets)
            params = {k: v for k, v in self.get_params().items() if k != "output_dir"}
            with open(os.path.join(tmp, _SAVED), "w") as f:
                json.dump(params, f, indent=1, default=_value)
            if os.path.isdir(path):
                os.rmdir(path)
            os.rename(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path


def load(path):
    """A fitted NOMAD from a folder written by save(), or by `nomad run` (whose transform then
    reads the training rows from the config's data.path)."""
    path = os.path.abspath(os.fspath(path))
    for need in ("run.json", "embedding.npy"):
        if not os.path.isfile(os.path.join(path, need)):
            raise NomadInputError(f"{path}: no {need}: not the folder of a finished nomad run", 2)
    params = {}
    if os.path.isfile(os.path.join(path, _SAVED)):
        with open(os.path.join(path, _SAVED)) as f:
            params = json.load(f)
    m = NOMAD(**params)
    with open(os.path.join(path, "run.json")) as f:
        m.run_info_ = json.load(f)
    m.embedding_ = np.load(os.path.join(path, "embedding.npy"))
    m.run_dir_, m._cleanup = path, None
    data, labels = os.path.join(path, "data.npy"), os.path.join(path, "labels.npy")
    m._X = np.load(data, mmap_mode="r") if os.path.exists(data) else None
    m._y = np.load(labels) if os.path.exists(labels) else None
    m.n_features_in_ = m._X.shape[1] if m._X is not None else m.run_info_.get("data", {}).get("d")
    return m


__all__ = ["NOMAD", "load", "NomadError", "NomadInputError"]
