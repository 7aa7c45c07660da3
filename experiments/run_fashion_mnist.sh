#!/usr/bin/env bash
# The README's run command: installs dependencies, builds, and maps Fashion-MNIST with
# configs/nomad.yaml (extra arguments go to `nomad run`, e.g. --set optimizer.epochs=50).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
build/nomad run configs/nomad.yaml "$@"
