#!/usr/bin/env bash
# The installed library as its users find it (CI runs this): scripts/install.sh into a temporary
# prefix, then ffi-tests/example.c built three ways — the README's link line against the prefix,
# pkg-config, and a CMake project (ffi-tests/cmake: the shared and the static target) — and the
# Fortran example through pkg-config; every program runs and must print the expected result.
# Needs cc, gfortran, pkg-config and cmake. Usage: ffi-tests/install-test.sh [--features F]
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
scripts/install.sh --prefix "$prefix" "$@"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
want="$(printf 'C[0] = [0 4; 1 6]\nC[1] = [4 12; 5 14]\nC[2] = [8 20; 9 22]')"
check() { # name, program
  local got
  got="$("$2")" || { echo "install-test: $1: the program failed" >&2; exit 1; }
  [ "$got" = "$want" ] || { echo "install-test: $1 printed" >&2; echo "$got" >&2; echo "expected" >&2; echo "$want" >&2; exit 1; }
  echo "install-test: $1 ok"
}

# The soname and its links.
soname="$(readelf -d "$prefix/lib/libtensorblas.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
[ "$soname" = "libtensorblas.so.0" ] || { echo "install-test: soname is '$soname', expected libtensorblas.so.0" >&2; exit 1; }
echo "install-test: soname $soname ok"
# The header's version macros agree with the installed package's version.
pcver="$(pkg-config --modversion tensorblas)"
hver="$(printf '#include "tensorblas.h"\nTBLAS_VERSION_MAJOR.TBLAS_VERSION_MINOR.TBLAS_VERSION_PATCH\n' | cc -E -P -I"$prefix/include" - | tail -n 1 | tr -d ' ')"
[ "$pcver" = "$hver" ] || { echo "install-test: pkg-config says $pcver, the header $hver" >&2; exit 1; }
echo "install-test: version $pcver ok"

# 1. The README's link line for an installed library (shared, with an rpath).
cc -std=c11 -I"$prefix/include" ffi-tests/example.c -L"$prefix/lib" -ltensorblas -Wl,-rpath,"$prefix/lib" -o "$work/ex_readme"
check "README link line" "$work/ex_readme"
# 2. pkg-config: shared (the loader finds it through LD_LIBRARY_PATH) and static.
cc -std=c11 $(pkg-config --cflags tensorblas) ffi-tests/example.c $(pkg-config --libs tensorblas) -o "$work/ex_pc"
LD_LIBRARY_PATH="$prefix/lib" check "pkg-config (shared)" "$work/ex_pc"
cc -std=c11 $(pkg-config --cflags tensorblas) ffi-tests/example.c "$prefix/lib/libtensorblas.a" \
  $(pkg-config --static --libs tensorblas | sed 's/-ltensorblas / /') -o "$work/ex_pc_static"
check "pkg-config (static)" "$work/ex_pc_static"
# 3. CMake: find_package(tensorblas CONFIG REQUIRED).
cmake -S ffi-tests/cmake -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
check "CMake tensorblas::tensorblas" "$work/cmake/example"
check "CMake tensorblas::tensorblas_static" "$work/cmake/example_static"
# 4. Fortran: the installed module source, linked through pkg-config.
(cd "$work" && gfortran -c "$prefix/include/tensorblas.f90" -o tensorblas_mod.o)
gfortran -I"$work" ffi-tests/example.f90 "$work/tensorblas_mod.o" $(pkg-config --libs tensorblas) -Wl,-rpath,"$prefix/lib" -o "$work/ex_f90"
out="$("$work/ex_f90")" || { echo "install-test: Fortran example failed" >&2; exit 1; }
echo "$out" | grep -qF 'C(:,:,3) =    8.0   9.0  20.0  22.0' || { echo "install-test: Fortran example printed" >&2; echo "$out" >&2; exit 1; }
echo "install-test: Fortran through pkg-config ok"
echo "install-test: all ok"
