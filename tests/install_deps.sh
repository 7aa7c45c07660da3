#!/usr/bin/env bash
# Installs what nomad needs to build, test and run on Debian (root, or sudo when present).
# Idempotent: does nothing when every package is already installed.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libyaml-dev libjson-c-dev libcmocka-dev libgsl-dev libopenblas-dev libpng-dev
      zlib1g-dev dataset-fashion-mnist python3 python3-numpy python3-sklearn python3-matplotlib openmpi-bin
      python3-venv python3-pip python3-pytest # the Python package's tests (tests/python.sh)
      libopenmpi-dev clang libclang-rt-14-dev # clang + its runtimes: the libFuzzer harnesses (tests/fuzz)
      chromium-headless-shell) # the browser tests/e2e/view.sh opens `nomad view`'s page in
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "nomad: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
