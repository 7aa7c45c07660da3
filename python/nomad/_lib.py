"""The C library (libnomad.so, core/api/nomad_api.h) through ctypes.

ctypes.CDLL releases the GIL for the length of every call, so other Python threads run while
a fit does. The library sits next to this file in an installed package; NOMAD_LIBRARY names
another one (a build tree's build/libnomad.so, whose plugins are build/plugins)."""
import ctypes
import os
import threading

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
_ABI = 1  # NOMAD_API_ABI this module speaks
VERBOSE, SIGNALS = 1, 2  # NOMAD_API_VERBOSE, NOMAD_API_SIGNALS


class NomadError(RuntimeError):
    """A fit or transform that failed; str() is nomad's one-line message, .code its exit code
    (1: the machine's fault, e.g. out of memory; 2: bad input, see NomadInputError)."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


class NomadInputError(NomadError, ValueError):
    """Bad input: a config key or value, data nomad cannot map, a missing or wrong run folder
    (exit code 2 of the command line)."""


def _library_path():
    env = os.environ.get("NOMAD_LIBRARY")
    if env:
        return env
    here = os.path.join(_HERE, "libnomad.so")
    if os.path.exists(here):
        return here
    raise ImportError(f"nomad: no libnomad.so in {_HERE}: install the package with `pip install .` at the "
                      "repository root, or set NOMAD_LIBRARY to a build's build/libnomad.so")


_lib = ctypes.CDLL(_library_path())
_lib.nomad_api_abi.restype = ctypes.c_int
if _lib.nomad_api_abi() != _ABI:
    raise ImportError(f"nomad: {_library_path()} speaks C API {_lib.nomad_api_abi()}, this package {_ABI}: "
                      "reinstall the package")
_lib.nomad_api_version.restype = ctypes.c_char_p
_i64, _ptr, _str = ctypes.c_int64, ctypes.c_void_p, ctypes.c_char_p
_strs = ctypes.POINTER(ctypes.c_char_p)
_lib.nomad_api_fit.argtypes = [_str, _strs, ctypes.c_int, _ptr, _str, _i64, _i64, _ptr, _str, ctypes.c_int,
                               ctypes.c_char_p, ctypes.c_size_t]
_lib.nomad_api_transform.argtypes = [_str, _strs, ctypes.c_int, _ptr, _str, _i64, _i64, _ptr, _ptr, _str, _i64, _i64,
                                     _ptr, _i64, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
_lib.nomad_api_config_set.argtypes = [_str, _strs, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
for _f in (_lib.nomad_api_fit, _lib.nomad_api_transform, _lib.nomad_api_config_set):
    _f.restype = ctypes.c_int

# The library's calls share the process's host settings (threads, seed, log level): one at a
# time, as nomad_api.h says; a second thread's fit waits here (without the GIL).
_one_call = threading.Lock()

# numpy dtype -> the C API's name for it; other types are converted to float32 first
_DTYPES = {np.dtype(np.float32): b"f4", np.dtype(np.float16): b"f2", np.dtype(np.float64): b"f8",
           np.dtype(np.uint8): b"u1"}


def version():
    """The library's version and git hash."""
    return _lib.nomad_api_version().decode()


def _configs_dir():
    for d in (os.path.join(_HERE, "configs"), os.path.join(_HERE, "..", "..", "configs")):
        if os.path.isdir(d):
            return os.path.abspath(d)
    raise NomadInputError(f"nomad: no configs folder next to {_HERE}", 2)


def configs():
    """The names of the shipped configs (configs/*.yaml)."""
    return sorted(f[:-5] for f in os.listdir(_configs_dir()) if f.endswith(".yaml"))


def config_path(config):
    """A shipped config's file ("nomad" -> .../configs/nomad.yaml), or config itself when it is a path."""
    config = os.fspath(config)
    if os.sep in config or config.endswith((".yaml", ".yml")):
        if not os.path.exists(config):
            raise NomadInputError(f"{config}: no such config file", 2)
        return os.path.abspath(config)
    path = os.path.join(_configs_dir(), config + ".yaml")
    if not os.path.exists(path):
        raise NomadInputError(f"config \"{config}\": no such shipped config; expected one of "
                              f"{', '.join(configs())} or a path to a YAML file", 2)
    return path


def rows(X, name):
    """X as the C API reads it: 2-D, C-contiguous, one of its dtypes; no copy when it already is."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise NomadInputError(f"{name}: an array of {X.ndim} dimensions {X.shape}; expected (n_samples, n_features)",
                              2)
    if X.dtype not in _DTYPES:
        if X.dtype.kind not in "biuf":
            raise NomadInputError(f"{name}: values of type {X.dtype}; expected numbers", 2)
        X = X.astype(np.float32)
    return np.ascontiguousarray(X)


def _argv(sets):
    arr = (ctypes.c_char_p * max(len(sets), 1))(*[s.encode() for s in sets])
    return arr, len(sets)


def _check(code, msg):
    if code == 0:
        return
    text = msg.value.decode(errors="replace")
    if code >= 128:  # stopped by a signal: Ctrl-C in the session
        raise KeyboardInterrupt(text or f"nomad: stopped by signal {code - 128}")
    raise (NomadInputError if code == 2 else NomadError)(text, code)


def fit(config, sets, X, labels, out_dir, flags):
    msg = ctypes.create_string_buffer(4096)
    argv, argc = _argv(sets)
    lab = None if labels is None else labels.ctypes.data_as(ctypes.c_void_p)
    with _one_call:
        code = _lib.nomad_api_fit(os.fsencode(config), argv, argc, X.ctypes.data_as(ctypes.c_void_p), _DTYPES[X.dtype],
                                  X.shape[0], X.shape[1], lab, os.fsencode(out_dir), flags, msg, len(msg))
    _check(code, msg)


def transform(run_dir, sets, X, Y, X_new, flags):
    msg = ctypes.create_string_buffer(4096)
    argv, argc = _argv(sets)
    dims = Y.shape[1]
    out = np.empty((X_new.shape[0], dims), dtype=np.float32)
    x_ptr = None if X is None else X.ctypes.data_as(ctypes.c_void_p)
    n, d = (0, 0) if X is None else X.shape
    dtype = None if X is None else _DTYPES[X.dtype]
    with _one_call:
        code = _lib.nomad_api_transform(os.fsencode(run_dir), argv, argc, x_ptr, dtype, n, d,
                                        Y.ctypes.data_as(ctypes.c_void_p), X_new.ctypes.data_as(ctypes.c_void_p),
                                        _DTYPES[X_new.dtype], X_new.shape[0], X_new.shape[1],
                                        out.ctypes.data_as(ctypes.c_void_p), dims, flags, msg, len(msg))
    _check(code, msg)
    return out


def config_set(path, sets):
    msg = ctypes.create_string_buffer(4096)
    argv, argc = _argv(sets)
    with _one_call:
        code = _lib.nomad_api_config_set(os.fsencode(path), argv, argc, msg, len(msg))
    _check(code, msg)
