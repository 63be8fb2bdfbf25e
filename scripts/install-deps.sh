#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages llmthreads needs to build and test, only those missing.
# Uses sudo when not root. The CUDA toolkit is not a Debian package: it is used when present.
set -euo pipefail

packages=(
  g++ cmake make git pkg-config
  libcli11-dev nlohmann-json3-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas-dev
  libxml2-utils
  # Process mode (mpirun/srun launch, docs/multi-node.md) and its CTests under mpiexec.
  openmpi-bin libopenmpi-dev
  # `make asan|tsan|fuzz`: clang 16 (Debian 12's clang 14 cannot capture structured bindings in
  # lambdas, which reports/svg.cpp does), libFuzzer and the sanitizer runtimes (only recommended
  # by clang-16, so named here), and llvm-16 for llvm-symbolizer (readable sanitizer stacks).
  clang-16 libclang-rt-16-dev llvm-16
)

# With a CUDA toolkit that has cuDNN, the fused attention needs the cudnn-frontend headers, which
# come from PyPI: pip is needed to fetch them.
cuda_include=""
for dir in "${CUDA_HOME:-}" /usr/local/cuda "$(dirname "$(dirname "$(command -v nvcc 2>/dev/null || echo /x/x)")")"; do
  if [ -n "$dir" ] && [ -f "$dir/include/cudnn_version.h" ]; then cuda_include="$dir/include"; break; fi
done
if [ -n "$cuda_include" ]; then
  packages+=(python3 python3-pip)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

# Not fatal: without the headers the CUDA backend is built with its own attention kernel
# (LLMT_CUDNN=AUTO says so at configure time; LLMT_CUDNN=ON refuses to configure).
fetch_frontend() {
  if [ -n "$cuda_include" ] && ! "$(dirname "$0")/fetch-cudnn-frontend"; then
    echo "install-deps: WARNING: could not fetch cudnn-frontend from PyPI: cuDNN attention will not be built" >&2
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all build dependencies present"
  fetch_frontend
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "install-deps: missing packages (${missing[*]}) and no apt-get; install them by hand" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fetch_frontend
