#!/usr/bin/env bash
# The Python package as a user gets it: `pip install .` into a fresh virtual environment (on
# Debian's python3, whose numpy, pytest and scikit-learn it sees), then its tests
# (python/tests) against the installed copy, never the source folder. The wheel is built
# without CUDA to keep CI short (the main build compiles the CUDA code); a user's gets it when
# nvcc is there. NOMAD_EXE lets a test run `nomad transform` on a folder the package saved.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
env=${NOMAD_PYENV:-$root/build/pyenv}
rm -rf "$env"
/usr/bin/python3 -m venv --system-site-packages "$env"
SKBUILD_CMAKE_DEFINE="NOMAD_CUDA=OFF" "$env/bin/pip" install --quiet --disable-pip-version-check "$root"
cd "$(mktemp -d)" # not the repository root: `import nomad` must find the installed package
NOMAD_EXE="${NOMAD_EXE:-$root/build/nomad}" "$env/bin/python" -m pytest -q -p no:cacheprovider "$root/python/tests"
