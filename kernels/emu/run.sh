#!/usr/bin/env bash
# Runs both CUDA kernels of kernels/gemm.cu on the CPU emulator (emulate.cpp) for all four
# element types. Needs only g++ (C++20). Exit status 0 = every case of every type matched.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${TMPDIR:-/tmp}/tblas-emu"
mkdir -p "$out"
status=0
for t in 0 1 2 3; do
    g++ -std=c++20 -O1 -pthread -Wall -Wno-unknown-pragmas -Wno-unused-function -DTBLAS_DTYPE=$t \
        "$here/emulate.cpp" -o "$out/emu$t"
    "$out/emu$t" || status=1
done
exit $status
