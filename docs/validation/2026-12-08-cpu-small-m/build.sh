#!/usr/bin/env bash
# Builds and runs compare_libraries.cpp with the small-m kernels of kernels/cpu, against the
# libraries Debian ships, unpacked into a private folder (nothing installed system-wide):
#   mkdir -p /tmp/cpu-libs && cd /tmp/cpu-libs
#   apt-get download libblis4-serial libdnnl2 libxsmm-dev && for f in *.deb; do dpkg -x $f root; done
# then: docs/validation/2026-12-08-cpu-small-m/build.sh  (LIBS=<folder>/root, OUT=<build folder>)
# libxsmm comes only as a static library: it is wrapped into a shared one here, with OpenBLAS
# as the BLAS it falls back to beyond its small sizes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
libs=${LIBS:-/tmp/cpu-libs/root}
out=${OUT:-/tmp/compare_libraries}
mkdir -p "$out"
k=$repo/kernels/cpu
cxx() { g++ -O3 -std=c++20 -I"$repo" -ffp-contract=fast -DLLMT_SMALL_GEMM_X86 "$@"; }
cxx -c "$k/small_gemm.cpp" -o "$out/dispatch.o"
cxx -c "$k/small_gemm_portable.cpp" -o "$out/portable.o"
cxx -mavx2 -mfma -c "$k/small_gemm_avx2.cpp" -o "$out/avx2.o"
cxx -mavx512f -mavx512vl -mfma -c "$k/small_gemm_avx512.cpp" -o "$out/avx512.o"
cxx "$here/compare_libraries.cpp" "$out"/{dispatch,portable,avx2,avx512}.o -ldl -o "$out/compare_libraries"
if [ -f "$libs/usr/lib/libxsmm.a" ]; then
  g++ -shared -o "$out/libxsmm_shared.so" -Wl,--whole-archive "$libs/usr/lib/libxsmm.a" -Wl,--no-whole-archive \
    -lopenblas -lpthread -ldl || echo "libxsmm: not wrapped (its static library is not position-independent)"
fi
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1
BLIS_LIB=$libs/usr/lib/x86_64-linux-gnu/blis-serial/libblis.so.4 DNNL_LIB=$libs/usr/lib/x86_64-linux-gnu/libdnnl.so.2 \
  XSMM_LIB=$out/libxsmm_shared.so "$out/compare_libraries"
