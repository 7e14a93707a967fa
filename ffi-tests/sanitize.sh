#!/usr/bin/env bash
# The C, C++ and Fortran callers of ffi-tests/ under AddressSanitizer + UndefinedBehaviorSanitizer
# and under valgrind (issue #6); any report fails.
#
#   ffi-tests/sanitize.sh [asan|valgrind|all]      (default all)
#
# asan:     libtensorblas.a built with -Zsanitizer=address (the stable toolchain, unlocked by
#           RUSTC_BOOTSTRAP=1), so the Rust side is instrumented too; the callers compiled by
#           gcc/g++/gfortran with -fsanitize=address,undefined -fno-sanitize-recover=all, which
#           also links the runtime. LeakSanitizer is on (detect_leaks=1).
# valgrind: the plain debug libtensorblas.a, callers compiled normally, each run under
#           valgrind --leak-check=full --error-exitcode=1 (memcheck; definite and possible leaks
#           count as errors, valgrind's default), with ffi-tests/valgrind.supp suppressing only
#           the "possibly lost" process-lifetime state (handle registry, thread pools, worker teams).
# Each mode first runs a canary with a planted fault (heap overflow, signed overflow, leak) and
# fails unless the tool reports it, so a silently inactive sanitizer cannot pass.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-all}"
target=x86_64-unknown-linux-gnu
libs=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)
out=target/ffi-sanitize
mkdir -p "$out"
# tool | flags | sources | name
progs=(
  "cc|-std=c11|ffi-tests/test_c.c|test_c"
  "c++|-std=c++17|ffi-tests/test_cpp.cpp|test_cpp"
  "gfortran|-std=f2008|include/tensorblas.f90 ffi-tests/test_fortran.f90|test_fortran"
  "cc|-std=c11|ffi-tests/example.c|example_c"
  "gfortran||include/tensorblas.f90 ffi-tests/example.f90|example_f90"
)

build_and_run() { # $1 = lib, $2 = extra compile flags, $3 = runner prefix, $4 = tag
  local lib="$1" flags="$2" runner="$3" tag="$4" fails=0
  for p in "${progs[@]}"; do
    IFS='|' read -r tool std src name <<<"$p"
    local exe="$out/$name-$tag"
    local extra=()
    [ "$tool" = gfortran ] && extra=(-J "$out")
    # shellcheck disable=SC2086
    $tool $std -g $flags -Iinclude "${extra[@]}" $src "$lib" "${libs[@]}" -o "$exe"
    echo "--- $name under $tag"
    # shellcheck disable=SC2086
    if ! $runner "$exe" > "$out/$name-$tag.log" 2>&1; then
      echo "FAILED: $name under $tag"; tail -40 "$out/$name-$tag.log"; fails=1
    else
      tail -1 "$out/$name-$tag.log"
      grep -E "ERROR SUMMARY|definitely lost|possibly lost" "$out/$name-$tag.log" || true
    fi
  done
  return $fails
}

canary() { # $1 = tag, $2 = expected text, $3 = C source, $4 = compile flags, $5 = runner
  local exe="$out/canary-$1"
  printf '%s\n' "$3" > "$exe.c"
  # shellcheck disable=SC2086
  cc -g $4 "$exe.c" -o "$exe"
  # shellcheck disable=SC2086
  if $5 "$exe" > "$exe.log" 2>&1; then
    echo "canary $1: the planted fault was NOT reported"; cat "$exe.log"; exit 1
  fi
  grep -q "$2" "$exe.log" || { echo "canary $1: no '$2' in the report"; cat "$exe.log"; exit 1; }
  echo "canary $1: reported ($2)"
}

rc=0
if [ "$mode" = asan ] || [ "$mode" = all ]; then
  echo "=== building libtensorblas.a with AddressSanitizer"
  RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes" \
    cargo build --lib --target "$target" --target-dir target/asan
  export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  san="-fsanitize=address,undefined -fno-sanitize-recover=all"
  canary asan heap-buffer-overflow '#include <stdlib.h>
int main(int c, char **v) { (void)v; int *p = malloc(4 * sizeof *p); p[3 + c] = 1; free(p); return 0; }' "$san" ""
  canary ubsan "signed integer overflow" '#include <limits.h>
int main(int c, char **v) { (void)v; int x = INT_MAX; x += c; return x == 0; }' "$san" ""
  # The Rust side is instrumented too (it calls the ASan runtime's checks).
  n=$(nm "target/asan/$target/debug/libtensorblas.a" 2>/dev/null | grep -c "U __asan_report_load" || true)
  [ "$n" -gt 0 ] || { echo "libtensorblas.a is not ASan-instrumented"; exit 1; }
  echo "libtensorblas.a: $n references to ASan checks"
  build_and_run "target/asan/$target/debug/libtensorblas.a" \
    "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" "" asan || rc=1
fi
if [ "$mode" = valgrind ] || [ "$mode" = all ]; then
  echo "=== building libtensorblas.a (plain) for valgrind"
  cargo build --lib --target-dir target/ffi-tests
  canary valgrind "definitely lost" '#include <stdlib.h>
int main(void) { void *volatile p = malloc(77); p = 0; return p != 0; }' "" \
    "valgrind -q --leak-check=full --error-exitcode=1 --suppressions=ffi-tests/valgrind.supp"
  build_and_run "target/ffi-tests/debug/libtensorblas.a" "" \
    "valgrind -q --leak-check=full --error-exitcode=1 --suppressions=ffi-tests/valgrind.supp" valgrind || rc=1
fi
[ $rc -eq 0 ] && echo "ffi-tests sanitize ($mode): clean" || echo "ffi-tests sanitize ($mode): FAILED"
exit $rc
