#!/usr/bin/env bash
# Installs tensorblas into a prefix, as a C, C++ or Fortran user expects to find it:
#   PREFIX/include/tensorblas.h, PREFIX/include/tensorblas.f90 (the Fortran module source: compile
#     it with your Fortran compiler, `gfortran -c tensorblas.f90`)
#   PREFIX/lib/libtensorblas.a, PREFIX/lib/libtensorblas.so.X.Y.Z with its soname
#     libtensorblas.so.X and the link libtensorblas.so -> libtensorblas.so.X
#   PREFIX/lib/pkgconfig/tensorblas.pc (Libs.private: what the static library needs)
#   PREFIX/lib/cmake/tensorblas/ (find_package(tensorblas CONFIG REQUIRED) gives tensorblas::tensorblas,
#     the shared library, and tensorblas::tensorblas_static)
#
# Usage: scripts/install.sh --prefix DIR [--features openblas|mkl]
# (cargo-c's `cargo cinstall` is the ecosystem's tool for this; Debian's cargo-c 0.9.14 embeds a
# cargo too old for this workspace's manifest, and building a current one compiles all of cargo,
# so this script writes the same files.)
set -euo pipefail
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
prefix="" features=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:-}"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --features) features="${2:-}"; shift 2 ;;
    --features=*) features="${1#*=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$prefix" ] || { echo "install.sh: --prefix DIR is required (see --help)" >&2; exit 2; }
case "$features" in ""|openblas|mkl) ;; *) echo "install.sh: --features must be openblas or mkl, got '$features'" >&2; exit 2 ;; esac
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
cd "$(dirname "$0")/.."

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
major="${version%%.*}"
feat=()
[ -n "$features" ] && feat=(--features "$features")

# One release build of the library, in its own target directory (target/install): the shared
# library gets the soname libtensorblas.so.MAJOR there, while target/release keeps the plain
# libtensorblas.so the README's uninstalled link line uses. rustc also prints the native
# libraries the static library needs.
export CARGO_TARGET_DIR="$PWD/target/install"
log="$(mktemp)"
cargo rustc --release -p tensorblas --lib "${feat[@]}" -- --print native-static-libs \
  -C "link-arg=-Wl,-soname,libtensorblas.so.$major" 2>&1 | tee "$log" >&2
native="$(sed -n 's/.*native-static-libs: //p' "$log" | tail -n 1)"
rm -f "$log"
[ -n "$native" ] || { echo "install.sh: rustc did not print the native static libraries" >&2; exit 1; }
if [ "$features" = mkl ]; then
  mkl_lib="${MKLROOT:-$(python3 -c 'import sys; print(sys.prefix)')}/lib"
  native="-L$mkl_lib -Wl,-rpath,$mkl_lib $native"
fi

inc="$prefix/include" lib="$prefix/lib"
install -d "$inc" "$lib/pkgconfig" "$lib/cmake/tensorblas"
install -m 644 include/tensorblas.h include/tensorblas.f90 "$inc/"
install -m 644 "$CARGO_TARGET_DIR/release/libtensorblas.a" "$lib/"
install -m 755 "$CARGO_TARGET_DIR/release/libtensorblas.so" "$lib/libtensorblas.so.$version"
ln -sfn "libtensorblas.so.$version" "$lib/libtensorblas.so.$major"
ln -sfn "libtensorblas.so.$major" "$lib/libtensorblas.so"

cat > "$lib/pkgconfig/tensorblas.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: tensorblas
Description: Strided-batched GEMM and tensor contractions for CPU and GPU, C ABI${features:+ (built with $features)}
Version: $version
Libs: -L\${libdir} -ltensorblas
Libs.private: $native
Cflags: -I\${includedir}
PC

# The static library's link interface as a CMake list (the -l flags without -l; other flags kept).
cm_native=""
for f in $native; do
  case "$f" in -l:*) cm_native+="${f#-l};" ;; -l*) cm_native+="${f#-l};" ;; *) cm_native+="$f;" ;; esac
done
cat > "$lib/cmake/tensorblas/tensorblasConfig.cmake" <<CM
# tensorblas $version (written by scripts/install.sh). Targets:
#   tensorblas::tensorblas         the shared library (libtensorblas.so.$major)
#   tensorblas::tensorblas_static  the static library and the system libraries it needs
get_filename_component(_tblas_prefix "\${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET tensorblas::tensorblas)
  add_library(tensorblas::tensorblas SHARED IMPORTED)
  set_target_properties(tensorblas::tensorblas PROPERTIES
    IMPORTED_LOCATION "\${_tblas_prefix}/lib/libtensorblas.so.$version"
    IMPORTED_SONAME "libtensorblas.so.$major"
    INTERFACE_INCLUDE_DIRECTORIES "\${_tblas_prefix}/include")
  add_library(tensorblas::tensorblas_static STATIC IMPORTED)
  set_target_properties(tensorblas::tensorblas_static PROPERTIES
    IMPORTED_LOCATION "\${_tblas_prefix}/lib/libtensorblas.a"
    INTERFACE_INCLUDE_DIRECTORIES "\${_tblas_prefix}/include"
    INTERFACE_LINK_LIBRARIES "${cm_native%;}")
endif()
set(tensorblas_VERSION "$version")
unset(_tblas_prefix)
CM
cat > "$lib/cmake/tensorblas/tensorblasConfigVersion.cmake" <<CM
# Compatible: the same major version (for 0.x, the same minor too) and not older than requested.
set(PACKAGE_VERSION "$version")
if(NOT PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
elseif(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif(NOT PACKAGE_FIND_VERSION_MAJOR STREQUAL "$major")
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif("$major" STREQUAL "0" AND NOT PACKAGE_FIND_VERSION_MINOR STREQUAL "$(echo "$version" | cut -d. -f2)")
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
CM
echo "installed tensorblas $version into $prefix${features:+ (features: $features)}"
