//! The `tensorblas-fft` CLI: .npy in, .npy out, numpy conventions, report, clear errors.

use num_complex::Complex64;
use std::process::Command;
use tensorblas_fft::npy;

mod common;
use common::reference;

fn exe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tensorblas-fft"))
}

/// Runs the CLI: exit status and stderr.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let o = exe().args(args).output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tblas-fft-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn forward_inverse_and_report() {
    let d = dir();
    let n = 8192;
    let x: Vec<Complex64> = (0..n)
        .map(|i| Complex64::new(((i * 37) % 101) as f64 - 50.0, ((i * 53) % 97) as f64 / 7.0))
        .collect();
    let input = d.join("x.npy");
    std::fs::write(&input, npy::to_bytes(&x, false)).unwrap();
    let (out, rep) = (d.join("X.npy"), d.join("r.json"));
    let st = exe()
        .args([
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--devices",
            "4",
            "--report",
            rep.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let got = npy::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert!(!got.single && !got.real);
    let want = reference(&x);
    let err = got
        .data
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).norm())
        .fold(0.0, f64::max)
        / want.iter().map(|v| v.norm()).fold(0.0, f64::max);
    assert!(err < 1e-13, "{err:e}");
    let json = std::fs::read_to_string(&rep).unwrap();
    for key in [
        "\"alltoall\"",
        "\"halo\"",
        "\"allgather\"",
        "\"gemm_flops\"",
        "\"gemm_share\"",
        "\"devices\": 4",
    ] {
        assert!(json.contains(key), "{key} missing in {json}");
    }
    // --inverse undoes it (scaled by 1/N), in f32 as well.
    let back = d.join("back.npy");
    let st = exe()
        .args([
            out.to_str().unwrap(),
            "--out",
            back.to_str().unwrap(),
            "--inverse",
            "--precision",
            "f32",
            "--devices",
            "2",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let b = npy::parse(&std::fs::read(&back).unwrap()).unwrap();
    assert!(b.single);
    let err = b.data.iter().zip(&x).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max) / 60.0;
    assert!(err < 1e-5, "{err:e}");
    // six-step gives the same.
    let six = d.join("six.npy");
    let st = exe()
        .args([
            input.to_str().unwrap(),
            "--out",
            six.to_str().unwrap(),
            "--algorithm",
            "six-step",
            "--devices",
            "4",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let s = npy::parse(&std::fs::read(&six).unwrap()).unwrap();
    assert!(s
        .data
        .iter()
        .zip(&want)
        .all(|(a, b)| (a - b).norm() < 1e-9 * (1.0 + b.norm())));
}

#[test]
fn errors_are_clear() {
    let d = dir();
    let input = d.join("odd.npy");
    std::fs::write(&input, npy::to_bytes(&vec![Complex64::new(1.0, 0.0); 97], false)).unwrap();
    let out = d.join("o.npy");
    // N = 97 with a plan option given: the FMM's rule, as an error (no fallback).
    let (code, err) = run(&[
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--sections",
        "2",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("invalid FMM-FFT plan"), "{err}");
    let (_, err) = run(&[input.to_str().unwrap(), "--bogus"]);
    assert!(err.contains("unknown option"), "{err}");
    let (_, err) = run(&["/nonexistent.npy", "--out", out.to_str().unwrap()]);
    assert!(err.contains("/nonexistent.npy"), "{err}");
    let big = d.join("big.npy");
    std::fs::write(&big, npy::to_bytes(&vec![Complex64::new(1.0, 0.0); 4096], false)).unwrap();
    let (code, err) = run(&[big.to_str().unwrap(), "--out", out.to_str().unwrap(), "--devices", "3"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("power of two"), "{err}");
    let (code, err) = run(&[
        big.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cuda",
        "--algorithm",
        "six-step",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("only --algorithm fmm runs on the GPU"), "{err}");
    // Without a GPU (this machine, CI) --backend cuda names what is missing; with one it runs.
    let o = exe()
        .args([
            big.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--backend",
            "cuda",
        ])
        .output()
        .unwrap();
    if tensorblas::Handle::cuda(0).is_err() {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("--backend cuda: "), "{err}");
    } else {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn crafted_headers_and_missing_folders_are_errors_with_nothing_written() {
    let d = dir().join("crafted");
    std::fs::create_dir_all(&d).unwrap();
    // 2^61 complex128 values: the size product would wrap; once it panicked (capacity overflow).
    let huge = d.join("huge.npy");
    std::fs::write(
        &huge,
        tensorblas_npy::with_raw_header(
            "{'descr': '<c16', 'fortran_order': False, 'shape': (2305843009213693952,), }",
            &[0; 16],
        ),
    )
    .unwrap();
    let out = d.join("o.npy");
    let (code, err) = run(&[huge.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("huge.npy") && err.contains("more bytes than"), "{err}");
    // --report into a missing folder: refused before the transform, OUTPUT not written.
    let x = d.join("x.npy");
    std::fs::write(&x, npy::to_bytes(&vec![Complex64::new(1.0, 0.5); 4096], false)).unwrap();
    let with_report = |rep: &std::path::Path| {
        run(&[
            x.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--report",
            rep.to_str().unwrap(),
        ])
    };
    let (code, err) = with_report(&d.join("no-such-folder").join("r.json"));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no-such-folder") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!out.exists(), "OUTPUT written although the run failed");
    // And with both writable, both appear (and no temporary is left).
    let rep = d.join("r.json");
    let (code, err) = with_report(&rep);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.exists() && rep.exists());
    let left: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn lengths_the_fmm_cannot_plan_fall_back_to_one_device_and_say_so() {
    let d = dir().join("any-n");
    std::fs::create_dir_all(&d).unwrap();
    for (n, inverse) in [(97usize, false), (1000, true), (8, false), (65537, false)] {
        let x: Vec<Complex64> = (0..n)
            .map(|i| Complex64::new(((i * 29) % 31) as f64 - 15.0, ((i * 7) % 13) as f64 * 0.25))
            .collect();
        let (input, out, rep) = (d.join("x.npy"), d.join("y.npy"), d.join("r.json"));
        std::fs::write(&input, npy::to_bytes(&x, false)).unwrap();
        let mut args = vec![
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--report",
            rep.to_str().unwrap(),
        ];
        if inverse {
            args.push("--inverse");
        }
        let (code, err) = run(&args);
        assert_eq!(code, Some(0), "N = {n}: {err}");
        assert!(err.contains("ran rustfft on one device"), "N = {n}: {err}");
        let report = std::fs::read_to_string(&rep).unwrap();
        assert!(
            report.contains("\"algorithm\": \"rustfft\"") && report.contains("\"fallback\""),
            "{report}"
        );
        let got = npy::parse(&std::fs::read(&out).unwrap()).unwrap().data;
        let want = if inverse {
            // numpy.fft.ifft: conj(DFT(conj(x))) / N
            let c: Vec<Complex64> = x.iter().map(|v| v.conj()).collect();
            reference(&c).iter().map(|v| v.conj() / n as f64).collect()
        } else {
            reference(&x)
        };
        let scale = want.iter().map(|v| v.norm()).fold(0.0, f64::max).max(1.0);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).norm() <= 1e-9 * scale, "N = {n}, X[{i}] = {g}, want {w}");
        }
    }
}

#[test]
fn repeat_runs_the_same_plan_again_and_reports_the_last() {
    let d = dir();
    let n = 4096;
    let x: Vec<Complex64> = (0..n)
        .map(|i| Complex64::new((i % 13) as f64 - 6.0, ((i * 7) % 11) as f64))
        .collect();
    let input = d.join("rep.npy");
    std::fs::write(&input, npy::to_bytes(&x, false)).unwrap();
    let (out, rep) = (d.join("rep_out.npy"), d.join("rep.json"));
    let args = [
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--devices",
        "2",
        "--report",
        rep.to_str().unwrap(),
    ];
    let (code, err) = run(&[&args[..], &["--repeat", "3"]].concat());
    assert_eq!(code, Some(0), "{err}");
    for i in 1..=3 {
        assert!(err.contains(&format!("run {i}/3: ")), "{err}");
    }
    // The output is the transform's (running it again into the same arrays changes nothing).
    let got = npy::parse(&std::fs::read(&out).unwrap()).unwrap();
    let want = reference(&x);
    let scale = want.iter().map(|v| v.norm()).fold(0.0, f64::max);
    let err_max = got
        .data
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).norm())
        .fold(0.0, f64::max)
        / scale;
    assert!(err_max < 1e-13, "{err_max:e}");
    assert!(std::fs::read_to_string(&rep).unwrap().contains("\"total\""));
    for bad in ["0", "1001", "x", "-1"] {
        let (code, err) = run(&[&args[..], &["--repeat", bad]].concat());
        assert_eq!(code, Some(2), "--repeat {bad}: {err}");
        assert!(err.contains("--repeat: ") && err.contains("from 1 to 1000"), "{err}");
    }
}
