#!/usr/bin/env bash
# One-call GPU verification (issue #7): on a machine with an NVIDIA GPU, driver and CUDA 13
# libraries (cuBLAS, NVRTC; cuFFT for the FMM-FFT's GPU tests), builds tensorblas, runs the whole test suite with
# TBLAS_REQUIRE_GPU=1 (every GPU test must run: a skip is a failure), runs the GPU sweep
# (`tensorblas-bench gpu`) and writes benches/results/gpu-<device>.md and gpu.csv.
#
#   benches/gpu/check.sh                 # cargo on the GPU machine: build + whole suite + sweep
#   TBLAS_PREBUILT=DIR benches/gpu/check.sh
#                                        # no Rust there: run binaries built elsewhere by
#                                        # benches/gpu/prebuild.sh (the GPU test binaries, the
#                                        # library's unit tests and tensorblas-bench)
#
# Environment: OUT_DIR (default benches/results), SWEEP_ARGS (extra tensorblas-bench gpu
# options, e.g. "--quick"). CUDA libraries are looked up in pip's nvidia/cu13/lib directories
# and /usr/local/cuda*/lib64 and put on LD_LIBRARY_PATH.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT_DIR:-benches/results}"
mkdir -p "$out"
log="$out/gpu-check.log"
: >"$log"
say() { echo "== $*" | tee -a "$log"; }

libdirs=$(python3 - <<'PY' 2>/dev/null || true
import glob, os, sys
dirs = set()
for p in sys.path:
    for pat in ("nvidia/cu13/lib", "nvidia/*/lib"):
        for d in glob.glob(os.path.join(p, pat)):
            if any(glob.glob(os.path.join(d, lib + ".so*")) for lib in ("libcublas", "libnvrtc", "libcufft")):
                dirs.add(d)
print(":".join(sorted(dirs)))
PY
)
for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64; do
    [ -d "$d" ] && libdirs="${libdirs:+$libdirs:}$d"
done
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export TBLAS_REQUIRE_GPU=1 TBLAS_REQUIRE_NVRTC=1
say "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi not found") | tee -a "$log"

status=0
if [ -n "${TBLAS_PREBUILT:-}" ]; then
    say "prebuilt binaries from $TBLAS_PREBUILT"
    for t in "$TBLAS_PREBUILT"/tests/*; do
        say "test binary $(basename "$t")"
        "$t" --test-threads=1 2>&1 | tee -a "$log" || status=1
    done
    bench="$TBLAS_PREBUILT/tensorblas-bench"
else
    say "cargo test --workspace --release (TBLAS_REQUIRE_GPU=1)"
    cargo test --workspace --release 2>&1 | tee -a "$log" || status=1
    cargo build --release -p tensorblas-bench 2>&1 | tail -n 2 | tee -a "$log"
    bench=target/release/tensorblas-bench
fi
say "GPU sweep: tensorblas-bench gpu ${SWEEP_ARGS:-}"
# shellcheck disable=SC2086
"$bench" gpu --out "$out" ${SWEEP_ARGS:-} 2>&1 | tee -a "$log" || status=1
say "check.sh finished with status $status (log: $log)"
exit $status
