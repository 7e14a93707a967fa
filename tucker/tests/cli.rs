//! The `tensorblas-tucker` binary end to end: .npy in (f64 C order, f32 Fortran order), the
//! documented files out, and clear errors for bad input.

use std::path::{Path, PathBuf};
use std::process::Command;
use tensorblas_tucker::npy::{self, Dtype};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tucker-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// x[i,j,k] = sum of two rank-1 terms plus a little structure-free noise.
fn tensor(shape: [usize; 3]) -> Vec<f64> {
    let mut v = Vec::new();
    let mut s = 1u64;
    for i in 0..shape[0] {
        for j in 0..shape[1] {
            for k in 0..shape[2] {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let noise = ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e-3;
                let (a, b, c) = (i as f64 + 1.0, (j as f64).sin() + 2.0, (k as f64 * 0.3).cos());
                v.push(a * b * c + 0.5 * (i as f64).cos() * (j as f64 + 1.0) * (k as f64).sqrt() + noise);
            }
        }
    }
    v
}

fn run(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_tensorblas-tucker"))
        .args(args)
        .output()
        .expect("run tensorblas-tucker");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

#[test]
fn decomposes_npy_files() {
    let d = tmp("ok");
    let shape = [12usize, 9, 7];
    let x = tensor(shape);
    let input = d.join("x.npy");
    npy::write(&input, Dtype::F64, &shape, &x).unwrap();
    let out = d.join("out");
    let (ok, stdout, stderr) = run(&[
        p(&input),
        "--ranks",
        "2,2,2",
        "--out",
        p(&out),
        "--tol",
        "0",
        "--n-iter-max",
        "4",
    ]);
    assert!(ok, "{stderr}");
    let core = npy::read(&out.join("core.npy")).unwrap();
    assert_eq!((core.dtype, core.shape.clone()), (Dtype::F64, vec![2, 2, 2]));
    for (n, &i) in shape.iter().enumerate() {
        let f = npy::read(&out.join(format!("factor_{n}.npy"))).unwrap();
        assert_eq!(f.shape, vec![i, 2]);
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["n_iter"].as_u64(), Some(4));
    assert_eq!(s["rec_errors"].as_array().unwrap().len(), 4);
    let rel = s["rel_error"].as_f64().unwrap();
    let last = s["rec_errors"][3].as_f64().unwrap();
    assert!(rel < 1e-3 && (rel - last).abs() < 1e-6, "{rel} vs {last}");
    for k in ["init", "sweeps", "total"] {
        assert!(s["seconds"][k].as_f64().unwrap() >= 0.0);
    }
    // The sweeps' phases: each timed, together within the sweeps' time.
    let part = |k: &str| s["sweep_seconds"][k].as_f64().unwrap();
    let parts = ["passes", "products", "exchange", "factors"].map(part);
    let sweeps = s["seconds"]["sweeps"].as_f64().unwrap();
    assert!(
        parts.iter().all(|&p| p >= 0.0) && parts[0] > 0.0 && parts[3] > 0.0,
        "{parts:?}"
    );
    assert!(parts.iter().sum::<f64>() <= sweeps + 1e-5, "{parts:?} against {sweeps}");
    assert!(stdout.contains("\"rel_error\""));

    // The same tensor as float32 in Fortran order: same fit at f32 accuracy, f32 outputs.
    let mut xf = vec![0.0; x.len()];
    for i in 0..shape[0] {
        for j in 0..shape[1] {
            for k in 0..shape[2] {
                xf[i + shape[0] * (j + shape[1] * k)] = x[(i * shape[1] + j) * shape[2] + k];
            }
        }
    }
    let input32 = d.join("x32.npy");
    npy::write_ordered(&input32, Dtype::F32, &shape, true, &xf).unwrap();
    let out32 = d.join("out32");
    let (ok, _, stderr) = run(&[
        p(&input32),
        "--ranks",
        "2,2,2",
        "--out",
        p(&out32),
        "--init",
        "st-hosvd",
    ]);
    assert!(ok, "{stderr}");
    let core = npy::read(&out32.join("core.npy")).unwrap();
    assert_eq!(core.dtype, Dtype::F32);
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out32.join("summary.json")).unwrap()).unwrap();
    assert!((s["rel_error"].as_f64().unwrap() - rel).abs() < 1e-4);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn clear_errors() {
    let d = tmp("err");
    let input = d.join("x.npy");
    npy::write(&input, Dtype::F64, &[4, 3, 2], &tensor([4, 3, 2])).unwrap();
    let out = d.join("o");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![p(&input), "--ranks", "5,2,2", "--out", p(&out)],
            "between 1 and the dimension 4",
        ),
        (
            vec![p(&input), "--ranks", "2,2", "--out", p(&out)],
            "--ranks has 2 entries",
        ),
        (
            vec![p(&input), "--out", p(&out)],
            "--ranks (or --target-error) is required",
        ),
        (
            vec![p(&input), "--ranks", "2,2,2", "--out", p(&out), "--init", "magic"],
            "--init",
        ),
        (
            vec![p(&input), "--ranks", "2,2,2", "--out", p(&out), "--backend", "cuda"],
            "--backend cuda: no usable GPU here",
        ),
        (
            vec![p(&input), "--ranks", "2,2,2", "--out", p(&out), "--mode-order", "up"],
            "--mode-order: 'up' is not natural, rank",
        ),
        (
            vec![p(&input), "--ranks", "2,2,2", "--out", p(&out), "--mode-order", "0,1"],
            "mode_order [0, 1] must list each free mode [0, 1, 2] once",
        ),
        (
            vec![p(&input), "--ranks", "2,2,2", "--out", p(&out), "--solver", "lanczos"],
            "--solver: 'lanczos' is not subspace, dense or svd",
        ),
        (
            vec![p(&input), "--ranks", "2,2,2", "--out", p(&out), "--slab"],
            "--slab applies under mpirun",
        ),
    ];
    for (args, want) in cases {
        let (ok, _, stderr) = run(&args);
        assert!(!ok && stderr.contains(want), "{args:?}: {stderr}");
    }
    // Not a .npy file; an integer .npy.
    let junk = d.join("junk.npy");
    std::fs::write(&junk, b"hello").unwrap();
    let (ok, _, stderr) = run(&[p(&junk), "--ranks", "1", "--out", p(&out)]);
    assert!(!ok && stderr.contains("not a .npy file"), "{stderr}");
    let ints = d.join("ints.npy");
    let dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }";
    std::fs::write(&ints, tensorblas_npy::with_raw_header(dict, &[0u8; 16])).unwrap();
    let (ok, _, stderr) = run(&[p(&ints), "--ranks", "1,1", "--out", p(&out)]);
    assert!(
        !ok && stderr.contains("dtype <i4 is not") && stderr.contains("float64"),
        "{stderr}"
    );
    // Crafted shapes whose size product wraps: a clear message naming the file, exit 2.
    for (shape, want) in [
        ("(4294967296, 4294967296)", "more elements than"),
        ("(2305843009213693952, 1)", "more bytes than"),
    ] {
        let f = d.join("crafted.npy");
        let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
        std::fs::write(&f, tensorblas_npy::with_raw_header(&dict, &[0u8; 8])).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_tensorblas-tucker"))
            .args([p(&f), "--ranks", "1,1", "--out", p(&out)])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{shape}: {stderr}");
        assert!(
            stderr.contains("crafted.npy") && stderr.contains(want),
            "{shape}: {stderr}"
        );
    }
    // A complex file: named as such.
    let c = d.join("complex.npy");
    let dict = "{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }";
    std::fs::write(&c, tensorblas_npy::with_raw_header(dict, &[0u8; 32])).unwrap();
    let (ok, _, stderr) = run(&[p(&c), "--ranks", "1", "--out", p(&out)]);
    assert!(
        !ok && stderr.contains("complex128") && stderr.contains("reads float32"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// `--target-error` instead of `--ranks`: the ranks of the two-term tensor, the error within
/// the target, both recorded in summary.json; clear refusals of the combinations that make no
/// sense.
#[test]
fn target_error_chooses_the_ranks() {
    let d = tmp("target");
    let shape = [12usize, 9, 7];
    let input = d.join("x.npy");
    npy::write(&input, Dtype::F64, &shape, &tensor(shape)).unwrap();
    let out = d.join("out");
    let (ok, _, stderr) = run(&[p(&input), "--target-error", "0.01", "--out", p(&out)]);
    assert!(ok, "{stderr}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["ranks"], serde_json::json!([2, 2, 2]), "{s}");
    assert_eq!(s["target_error"].as_f64(), Some(0.01));
    let rel = s["rel_error"].as_f64().unwrap();
    assert!(rel <= 0.01, "{rel}");
    assert_eq!(npy::read(&out.join("core.npy")).unwrap().shape, vec![2, 2, 2]);
    for (args, want) in [
        (vec!["--target-error", "0.01", "--ranks", "2,2,2"], "not both"),
        (vec!["--target-error", "-1"], "finite number >= 0"),
        (vec!["--target-error", "x"], "is not a number"),
        (vec!["--target-error", "0.1", "--init", "svd"], "--init does not apply"),
        (vec![], "--ranks (or --target-error) is required"),
    ] {
        let mut argv = vec![p(&input), "--out", p(&out)];
        argv.extend(args);
        let (ok, _, stderr) = run(&argv);
        assert!(!ok && stderr.contains(want), "{argv:?}: {stderr}");
    }
}
