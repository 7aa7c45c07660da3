#!/usr/bin/env bash
# Packs what the first GPU session needs into .gpu/ (git-ignored through .git/info/exclude), for
# the device tool's `carry`: the device machine has CUDA, CMake and Python but none of nomad's
# Debian libraries and no network, so it cannot build nomad. Here:
#   1. builds build-cuda (NOMAD_CUDA=ON, sm_90) if its binaries are missing;
#   2. copies the binaries a GPU check runs (nomad, libnomad.so, the plugins, the GPU tests,
#      nomad_gpu_bench), without debug info, into .gpu/build, keeping build-cuda's layout;
#   3. packs the shared libraries they load that are not glibc or CUDA's own (OpenBLAS, GSL,
#      libyaml, Open MPI, cmocka, libpng, ...) into .gpu/lib.tar.xz (about 8 MB);
#   4. records build-cuda's absolute path (.gpu/build_path): the tests name their plugin folder
#      by it, and tests/gpu/first_run.sh links it to .gpu/build there.
# Then, on the device: run(command="bash tests/gpu/first_run.sh", carry=[".gpu"], timeout_s=...).
#
#   bash tests/gpu/pack.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=$ROOT/build-cuda
DEST=$ROOT/.gpu
TESTS=(kernels_test_cuda_check kernels_test_kmeans kernels_test_knn kernels_test_affinity kernels_test_pca
       kernels_test_sgd_step unit_test_optimizer_cuda plugins_test_cuda_entries)

if [[ ! -x $BUILD/nomad || ! -x $BUILD/nomad_gpu_bench ]]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOMAD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" >/dev/null
fi
"$BUILD/nomad" --version | grep -q "cuda yes" || { echo "pack.sh: $BUILD/nomad was built without CUDA" >&2; exit 2; }

grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
rm -rf "$DEST"
mkdir -p "$DEST/build/plugins" "$DEST/build/tests" "$DEST/lib"
bins=("$BUILD/nomad" "$BUILD/nomad_gpu_bench" "$BUILD/libnomad.so")
for t in "${TESTS[@]}"; do bins+=("$BUILD/tests/$t"); done
for b in "${bins[@]}"; do
    [[ -f $b ]] || { echo "pack.sh: $b is missing (build it: cmake --build $BUILD)" >&2; exit 2; }
    rel=${b#"$BUILD"/}
    strip --strip-debug -o "$DEST/build/$rel" "$b"
done
for p in "$BUILD"/plugins/*.so; do strip --strip-debug -o "$DEST/build/plugins/$(basename "$p")" "$p"; done
echo "$BUILD" >"$DEST/build_path"

# The libraries the binaries load, but glibc's (every Linux has them, and a newer one must not be
# shadowed) and CUDA's (the device image has the matching toolkit).
for b in "$DEST"/build/nomad "$DEST"/build/nomad_gpu_bench "$DEST"/build/libnomad.so "$DEST"/build/tests/* \
         "$DEST"/build/plugins/*.so; do
    ldd "$b"
done | awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -v -E '/(libc|libm|libdl|libpthread|librt|libresolv|ld-linux[^/]*)\.so|/usr/local/|/libcuda\.so|libnomad\.so' |
    while read -r lib; do cp -L "$lib" "$DEST/lib/"; done
# Open MPI finds its plugins and help texts under its own prefix: none travel, so MPI runs there
# fail (tests/gpu/first_run.sh skips the NCCL check without an mpirun).
tar -C "$DEST/lib" -cJf "$DEST/lib.tar.xz" .
rm -rf "$DEST/lib"
du -sh "$DEST" | awk '{print "pack.sh: .gpu is " $1 " (the device carries at most 64 MiB with the tree)"}'
