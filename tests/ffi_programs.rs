//! Builds `libtensorblas.a` and runs the C11, C++17 and Fortran callers in `ffi-tests/` against
//! it. A missing compiler is a loud skip (with the install command) unless `TBLAS_REQUIRE_FFI=1`
//! (set by CI), which turns it into a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The native libraries the static library needs, as `cargo rustc --crate-type staticlib --
/// --print native-static-libs` reports them (the README's link line).
fn link_libs() -> Vec<String> {
    let mut v: Vec<String> = vec![];
    if cfg!(feature = "openblas") {
        v.push("-lopenblas".into());
    }
    #[cfg(feature = "mkl")]
    {
        let dir = env!("TBLAS_MKL_LIB_DIR");
        v.extend([
            format!("-L{dir}"),
            "-l:libmkl_rt.so.3".into(),
            format!("-Wl,-rpath,{dir}"),
        ]);
    }
    // --gc-sections: only what the program calls (a 2x2 example: 41 MB instead of 66 in debug).
    v.extend(
        [
            "-Wl,--gc-sections",
            "-lgcc_s",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-lm",
            "-ldl",
            "-lc",
        ]
        .map(String::from),
    );
    v
}

/// The static library of this test build: cargo builds the library with all its crate types
/// (rlib, staticlib, cdylib) in one rustc run before the integration tests, next to this
/// executable. When that file is newer than this executable (a later build with other features
/// overwrote it: the crate types other than rlib carry no hash in their names), the library is
/// built once per test process in its own target directory instead (so that it does not
/// contend with the `cargo test` that runs us), with this build's features; that build took 35
/// s and 0.6 GB of a fresh `cargo test --workspace`, which is why it is only the fallback.
fn static_lib() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable's path");
        let dir = exe.parent().expect("the test executable's directory");
        let (lib, so) = (dir.join("libtensorblas.a"), dir.join("libtensorblas.so"));
        let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        match (mtime(&lib), mtime(&so), mtime(&exe)) {
            (Some(l), Some(s), Some(e)) if l <= e && s <= e => return lib,
            _ => eprintln!(
                "{} is missing or newer than this test: building the library in target/ffi-tests",
                lib.display()
            ),
        }
        let target = root().join("target").join("ffi-tests");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(root())
            .args(["build", "--lib", "--target-dir"])
            .arg(&target);
        if cfg!(feature = "openblas") {
            cmd.args(["--features", "openblas"]);
        }
        if cfg!(feature = "mkl") {
            cmd.args(["--features", "mkl"]);
        }
        let status = cmd.status().expect("cannot run cargo to build libtensorblas.a");
        assert!(status.success(), "building libtensorblas.a failed");
        let lib = target.join("debug").join("libtensorblas.a");
        assert!(lib.exists(), "{} was not produced", lib.display());
        lib
    })
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn skip_or_fail(tool: &str, package: &str) {
    let msg =
        format!("skipping: {tool} not found; install it with `sudo apt-get install -y {package}` to run this caller");
    if std::env::var_os("TBLAS_REQUIRE_FFI").is_some_and(|v| v == "1") {
        panic!("{msg} (TBLAS_REQUIRE_FFI=1 forbids skipping)");
    }
    eprintln!("\n*** {msg} ***\n");
}

/// Compiles `sources` against the static library and runs the program; returns its stdout.
fn build_and_run(tool: &str, args: &[&str], sources: &[&str], name: &str) -> String {
    let lib = static_lib();
    let out_dir = root().join("target").join("ffi-tests").join("bin");
    std::fs::create_dir_all(&out_dir).unwrap();
    let exe = out_dir.join(name);
    let mut cmd = Command::new(tool);
    cmd.current_dir(root()).args(args).arg("-Iinclude");
    if tool == "gfortran" {
        cmd.arg("-J").arg(&out_dir);
    }
    cmd.args(sources).arg(lib).args(link_libs()).arg("-o").arg(&exe);
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} failed to build {name}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().expect("cannot run the compiled caller");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(run.status.success(), "{name} reported failures:\n{stdout}{stderr}");
    stdout.into_owned()
}

/// Runs a test program and checks its closing "N passed, 0 failed" line.
fn compile_and_run(tool: &str, args: &[&str], sources: &[&str], name: &str) {
    let stdout = build_and_run(tool, args, sources, name);
    let summary = stdout.lines().last().unwrap_or("");
    assert!(
        summary.ends_with(" passed, 0 failed") && !summary.starts_with("0 passed"),
        "{name}: unexpected summary '{summary}'"
    );
}

#[test]
fn c11_caller() {
    if !have("cc") {
        return skip_or_fail("cc", "gcc");
    }
    compile_and_run(
        "cc",
        &["-std=c11", "-Wall", "-Wextra", "-Werror"],
        &["ffi-tests/test_c.c"],
        "test_c",
    );
}

#[test]
fn cpp17_caller() {
    if !have("c++") {
        return skip_or_fail("c++", "g++");
    }
    compile_and_run(
        "c++",
        &["-std=c++17", "-Wall", "-Wextra", "-Werror"],
        &["ffi-tests/test_cpp.cpp"],
        "test_cpp",
    );
}

#[test]
fn fortran_caller() {
    if !have("gfortran") {
        return skip_or_fail("gfortran", "gfortran");
    }
    compile_and_run(
        "gfortran",
        &["-std=f2008", "-Wall", "-Werror"],
        &["include/tensorblas.f90", "ffi-tests/test_fortran.f90"],
        "test_fortran",
    );
}

/// The README's C and Fortran examples compile, link with the documented line and print the
/// documented result (A[p] = p*4 + [0 1; 2 3] column-major, B = diag(1, 2)).
#[test]
fn readme_examples() {
    if !have("cc") {
        return skip_or_fail("cc", "gcc");
    }
    let out = build_and_run(
        "cc",
        &["-std=c11", "-Wall", "-Wextra", "-Werror"],
        &["ffi-tests/example.c"],
        "example_c",
    );
    assert!(out.contains("C[2] = [8 20; 9 22]"), "{out}");
    if !have("gfortran") {
        return skip_or_fail("gfortran", "gfortran");
    }
    let out = build_and_run(
        "gfortran",
        &["-Wall"],
        &["include/tensorblas.f90", "ffi-tests/example.f90"],
        "example_f",
    );
    assert!(out.contains("C(:,:,3) =    8.0   9.0  20.0  22.0"), "{out}");
}

/// The README's shared-library link line: `-L<dir> -ltensorblas -Wl,-rpath,<dir>` (the library
/// has no soname yet, so the program records the file name and finds it through the rpath);
/// without the rpath (or LD_LIBRARY_PATH) the program cannot start.
#[test]
fn readme_shared_library_link() {
    if !have("cc") {
        return skip_or_fail("cc", "gcc");
    }
    let dir = static_lib().parent().unwrap().to_path_buf();
    assert!(
        dir.join("libtensorblas.so").exists(),
        "no libtensorblas.so next to the static library"
    );
    let exe = root()
        .join("target")
        .join("ffi-tests")
        .join("bin")
        .join("example_shared");
    std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
    let build = |rpath: bool| {
        let mut cmd = Command::new("cc");
        cmd.current_dir(root())
            .args(["-std=c11", "-Wall", "-Werror", "-Iinclude", "ffi-tests/example.c"])
            .arg(format!("-L{}", dir.display()))
            .arg("-ltensorblas");
        if rpath {
            cmd.arg(format!("-Wl,-rpath,{}", dir.display()));
        }
        let out = cmd.arg("-o").arg(&exe).output().expect("cc");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    build(false);
    let run = Command::new(&exe).env_remove("LD_LIBRARY_PATH").output().unwrap();
    assert!(!run.status.success(), "started without the rpath");
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("libtensorblas.so"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    build(true);
    let run = Command::new(&exe).env_remove("LD_LIBRARY_PATH").output().unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success() && out.contains("C[2] = [8 20; 9 22]"), "{out}");
}

/// The README's GPU example (`ffi-tests/example_gpu.c`): on a GPU it computes the same C[2] as the
/// CPU example; without one it must say why (and TBLAS_REQUIRE_GPU=1 makes that a failure).
#[test]
fn readme_gpu_example() {
    if !have("cc") {
        return skip_or_fail("cc", "gcc");
    }
    let out = build_and_run(
        "cc",
        &["-std=c11", "-Wall", "-Wextra", "-Werror"],
        &["ffi-tests/example_gpu.c"],
        "example_gpu",
    );
    if let Some(why) = out.strip_prefix("no GPU: ") {
        assert!(
            !std::env::var("TBLAS_REQUIRE_GPU").is_ok_and(|v| v == "1"),
            "TBLAS_REQUIRE_GPU=1 but the example found no GPU: {why}"
        );
        assert!(why.contains("tblas_create_with_backend"), "{out}");
        eprintln!("skipping the GPU part of readme_gpu_example: {why}");
    } else {
        assert!(out.contains("C[2] = [8 20; 9 22]"), "{out}");
    }
}
