//! Build script: links Intel oneMKL for the `mkl` feature (nothing to do otherwise).
//!
//! MKL comes from PyPI (`pip install mkl-devel`), which puts `libmkl_rt.so.3` in `<prefix>/lib`.
//! The prefix is `MKLROOT`, or, when that is unset, `sys.prefix` of `python3`. The library is
//! linked by its versioned file name (pip ships no unversioned `libmkl_rt.so`) with an rpath, so
//! this crate's tests and examples find it at run time; other binaries need the directory on
//! `LD_LIBRARY_PATH` or their own rpath (the README says how).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MKLROOT");
    if std::env::var_os("CARGO_FEATURE_MKL").is_none() {
        return;
    }
    let root = std::env::var("MKLROOT").ok().filter(|s| !s.is_empty()).or_else(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.prefix)"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    let lib = root.as_ref().map(|r| PathBuf::from(r).join("lib"));
    match lib.filter(|l| l.join("libmkl_rt.so.3").exists()) {
        Some(lib) => {
            println!("cargo:rustc-link-search=native={}", lib.display());
            println!("cargo:rustc-link-lib=dylib:+verbatim=libmkl_rt.so.3");
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
            println!("cargo:rustc-env=TBLAS_MKL_LIB_DIR={}", lib.display());
        }
        None => panic!(
            "feature `mkl`: libmkl_rt.so.3 not found under {:?}/lib. Install MKL with \
             `pip install mkl-devel` and set MKLROOT to the prefix it installed into \
             (python3 -c 'import sys; print(sys.prefix)').",
            root.unwrap_or_else(|| "$MKLROOT".into())
        ),
    }
}
