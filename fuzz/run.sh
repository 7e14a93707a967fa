#!/usr/bin/env bash
# Coverage-guided fuzzing of the whole C ABI (issue #6) with libFuzzer and AddressSanitizer.
#
#   fuzz/run.sh [SECONDS] [more libFuzzer flags]      (default 60 s; CI runs 100 s)
#   FUZZ_PROFILE=dev fuzz/run.sh 100                   (CI: unoptimised build, ~1.5 min instead
#                                                       of ~6; about 3x fewer executions/s)
#   FUZZ_TARGET=npy fuzz/run.sh 30                     (the CLIs' .npy reader, tensorblas-npy:
#                                                       fuzz_targets/npy.rs, corpus/npy)
#
# Builds fuzz_targets/c_abi.rs (harness and oracle: fuzz/src/lib.rs) with SanitizerCoverage,
# AddressSanitizer, debug assertions and overflow checks, on the stable toolchain
# (RUSTC_BOOTSTRAP=1 unlocks -Zsanitizer there; no nightly needed), then runs it on the
# committed seed corpus (fuzz/corpus/c_abi, read) plus a scratch corpus (fuzz/work, written;
# not committed). Any crash, sanitizer report, oracle mismatch (a panic) or hang (> 10 s per
# input) fails with the input saved in fuzz/artifacts/. Long run, e.g. one hour on 2 workers:
#   fuzz/run.sh 3600 -workers=2 -jobs=2
# Minimise new finds into the committed corpus:
#   fuzz/run.sh 0 -merge=1    (merges fuzz/work into fuzz/corpus/c_abi)
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
shift || true
target=x86_64-unknown-linux-gnu
export RUSTC_BOOTSTRAP=1
# (--target keeps these flags off build scripts; debug assertions and overflow checks for the
# library and the harness are set in Cargo.toml's profile.)
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Zsanitizer=address \
-Cforce-frame-pointers=yes"
profile="${FUZZ_PROFILE:-release}"
name="${FUZZ_TARGET:-c_abi}"
cargo build --profile "$profile" --features fuzz --bin "$name" --target "$target" --target-dir ../target/fuzz
dir="$profile"; [ "$profile" = dev ] && dir=debug
bin="../target/fuzz/$target/$dir/$name"
work="work/$name"
mkdir -p "corpus/$name" "$work" artifacts
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1"
if [[ " $* " == *" -merge=1 "* ]]; then
  exec "$bin" "$@" "corpus/$name" "$work"
fi
"$bin" -max_total_time="$secs" -max_len=256 -timeout=10 -rss_limit_mb=4096 \
  -artifact_prefix="artifacts/$name-" -print_final_stats=1 "$@" "$work" "corpus/$name"
