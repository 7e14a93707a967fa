#!/usr/bin/env bash
# Builds what benches/gpu/check.sh runs on a GPU machine that has no Rust toolchain: the GPU test
# binaries (tests/gpu.rs, tests/gpu_kernels.rs, fft/tests/gpu.rs), the library's unit tests and tensorblas-bench,
# release mode, copied to benches/gpu/prebuilt/ (git-ignored). Carry that directory to the GPU
# machine (about 15 MB after stripping debug info) and run `TBLAS_PREBUILT=benches/gpu/prebuilt benches/gpu/check.sh` there.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=benches/gpu/prebuilt
rm -rf "$dest" && mkdir -p "$dest/tests"
copy_tests() { # $1 = name prefix, rest = cargo test arguments
    local prefix="$1"; shift
    cargo test --release "$@" --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys, shutil
for line in sys.stdin:
    try: m = json.loads(line)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        name = sys.argv[2] + m["target"]["name"]
        shutil.copy(m["executable"], sys.argv[1] + "/tests/" + name)
        print("copied", name)
' "$dest" "$prefix"
}
copy_tests "" -p tensorblas --lib --test gpu --test gpu_kernels
# The FMM-FFT's GPU path (fft/tests/gpu.rs), as tests/fft_gpu.
copy_tests fft_ -p tensorblas-fft --test gpu
cargo build --release -p tensorblas-bench
cp target/release/tensorblas-bench "$dest/"
# Debug info would take the binaries past the 64 MiB a device call can carry.
strip --strip-debug "$dest"/tensorblas-bench "$dest"/tests/*
du -sh "$dest"
