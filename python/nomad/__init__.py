"""nomad from Python: NOMAD Projection maps of numpy arrays, in-process.

    import nomad
    m = nomad.NOMAD(config="nomad", optimizer__epochs=150)   # any config key, dots as __
    Y = m.fit_transform(X)          # X: (n, d) float32 / float16 / float64 / uint8
    Z = m.transform(X_new)          # new points on the fixed map
    m.save("my-map"); m2 = nomad.load("my-map")

The config keys are those of `nomad run` (docs/config-reference.md); configs are the files of
configs/ by name ("nomad", "tsne", "umap-forces", ...) or a path to a YAML file.
"""
from ._estimator import NOMAD, load
from ._lib import NomadError, NomadInputError, config_path, configs, version

__all__ = ["NOMAD", "load", "NomadError", "NomadInputError", "config_path", "configs", "version"]
__version__ = "0.1.0"
