#!/usr/bin/env bash
# Builds, on a machine with Rust (no GPU needed), everything benches/gpu/device-run.sh runs on a
# GPU machine that has no Rust toolchain and no network, into benches/gpu/prebuilt/ (git-ignored:
# name it in the device call's `carry`):
#
#   tests/lib            the library's unit tests          (cargo test --lib)
#   tests/gpu            tests/gpu.rs                      (the GPU suite)
#   tests/gpu_kernels    tests/gpu_kernels.rs              (NVRTC compiles every kernel)
#   tests/fft_gpu        fft/tests/gpu.rs                  (the FMM-FFT on the GPU)
#   tensorblas-bench     the GPU sweep (`tensorblas-bench gpu`)
#   tensorblas-fft       the FFT CLI (`--backend cuda`)
#   example_gpu          ffi-tests/example_gpu.c linked to the static library (the README's C example)
#   MANIFEST             commit, sizes, and the newest GLIBC symbol version each file needs
#
# Release mode without debug info (the whole folder must travel in the 64 MiB a device call
# carries). Usage: benches/gpu/prebuild.sh   (then see benches/gpu/README.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=benches/gpu/prebuilt
rm -rf "$dest" && mkdir -p "$dest/tests"
export CARGO_PROFILE_RELEASE_DEBUG=0
copy_tests() { # $1 = name prefix, rest = cargo test arguments
    local prefix="$1"; shift
    cargo test --release "$@" --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys, shutil
for line in sys.stdin:
    try: m = json.loads(line)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        kind = m["target"]["kind"]
        name = sys.argv[2] + ("lib" if any(k in kind for k in ("lib", "rlib")) else m["target"]["name"])
        shutil.copy(m["executable"], sys.argv[1] + "/tests/" + name)
        print("copied tests/" + name)
' "$dest" "$prefix"
}
copy_tests "" -p tensorblas --lib --test gpu --test gpu_kernels
copy_tests fft_ -p tensorblas-fft --test gpu
# One build for the CLIs and the static library (one feature set: no second build of the core).
cargo build --release -p tensorblas -p tensorblas-bench -p tensorblas-fft
cp target/release/tensorblas-bench target/release/tensorblas-fft "$dest/"
# The README's GPU example in C, against the static library of this build.
cc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude ffi-tests/example_gpu.c target/release/libtensorblas.a \
    -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o "$dest/example_gpu"
strip --strip-debug "$dest"/tensorblas-bench "$dest"/tensorblas-fft "$dest"/example_gpu "$dest"/tests/*
chmod +x "$dest"/tensorblas-bench "$dest"/tensorblas-fft "$dest"/example_gpu "$dest"/tests/*
{
    echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src kernels benches fft tests || echo ' (with uncommitted changes)')"
    echo "built $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -m), $(ldd --version | head -1)"
    for f in "$dest"/tensorblas-bench "$dest"/tensorblas-fft "$dest"/example_gpu "$dest"/tests/*; do
        glibc=$(objdump -T "$f" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
        printf '%-28s %8s KiB  needs %s\n' "${f#"$dest"/}" "$(( $(stat -c %s "$f") / 1024 ))" "$glibc"
    done
    echo "total $(du -sk "$dest" | cut -f1) KiB"
} >"$dest/MANIFEST"
cat "$dest/MANIFEST"
