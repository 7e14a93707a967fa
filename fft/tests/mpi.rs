//! The MPI fabric (feature `mpi`): the CLI under `mpirun -np G` gives results bit-for-bit equal
//! to the in-process run of the same plan, and its byte counters equal the closed form.
//! Without `mpirun` on PATH each test prints `skipping ...` and passes, unless
//! `TBLAS_REQUIRE_MPI=1` (CI sets it), which makes a missing MPI a failure.
#![cfg(feature = "mpi")]

use num_complex::{Complex, Complex64};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tensorblas_fft::{npy, transform, Algorithm, Plan, PlanSpec, Precision};

mod common;
use common::signal;

#[path = "common/mpirun.rs"]
mod mpirun;
use mpirun::mpirun;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tblas-fft-mpi-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(mut c: Command, ranks: usize, args: &[&str]) -> Output {
    c.args(["-np", &ranks.to_string(), env!("CARGO_BIN_EXE_tensorblas-fft")])
        .args(args)
        .output()
        .unwrap()
}

fn json_u64(json: &str, section: &str, key: &str) -> u64 {
    let s = &json[json.find(&format!("\"{section}\"")).unwrap()..];
    let s = &s[s.find(&format!("\"{key}\": ")).unwrap() + key.len() + 4..];
    s[..s.find([',', '}']).unwrap()].trim().parse().unwrap()
}

/// Runs the CLI on `ranks` MPI ranks and checks output and report against the in-process
/// transform of the same plan.
#[allow(clippy::too_many_arguments)]
fn check(test: &str, ranks: usize, n: usize, precision: Precision, algo: Algorithm, inverse: bool) {
    let Some(c) = mpirun(test) else { return };
    let d = dir(test);
    let x = signal(n);
    let (input, out, rep) = (d.join("x.npy"), d.join("y.npy"), d.join("r.json"));
    std::fs::write(&input, npy::to_bytes(&x, precision == Precision::F32)).unwrap();
    let p = |p: &Path| p.to_str().unwrap().to_string();
    let mut args = vec![p(&input), "--out".into(), p(&out), "--report".into(), p(&rep)];
    if inverse {
        args.push("--inverse".into());
    }
    if algo == Algorithm::SixStep {
        args.extend(["--algorithm".into(), "six-step".into()]);
    }
    let o = run(c, ranks, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        o.status.success(),
        "{test}: mpirun failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got = npy::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(got.single, precision == Precision::F32);
    // The in-process run of the plan the CLI picks (its defaults are PlanSpec::new's).
    let plan = Plan::new(&PlanSpec::new(n, ranks, precision).unwrap()).unwrap();
    let want: Vec<Complex64> = match precision {
        Precision::F64 => transform(&plan, algo, &x, inverse).unwrap().0,
        Precision::F32 => {
            let x32: Vec<Complex<f32>> = x.iter().map(|v| Complex::new(v.re as f32, v.im as f32)).collect();
            let y = transform(&plan, algo, &x32, inverse).unwrap().0;
            y.iter().map(|v| Complex64::new(v.re as f64, v.im as f64)).collect()
        }
    };
    assert_eq!(got.data.len(), n);
    let differ = got.data.iter().zip(&want).filter(|(a, b)| a != b).count();
    assert_eq!(
        differ, 0,
        "{test}: {differ} of {n} points differ from the in-process run"
    );
    let json = std::fs::read_to_string(&rep).unwrap();
    assert!(json.contains("\"fabric\": \"MPI\""), "{json}");
    let want_bytes = if algo == Algorithm::Fmm {
        plan.expected_bytes()
    } else {
        // Three all-to-alls, each sending (G-1)/G of every device's block.
        let s = precision.complex_bytes();
        tensorblas_fft::Traffic {
            alltoall: 3 * (ranks as u64 - 1) * (n / ranks) as u64 * s,
            ..Default::default()
        }
    };
    assert_eq!(json_u64(&json, "bytes", "alltoall"), want_bytes.alltoall, "{json}");
    assert_eq!(json_u64(&json, "bytes", "halo"), want_bytes.halo, "{json}");
    assert_eq!(json_u64(&json, "bytes", "allgather"), want_bytes.allgather, "{json}");
    let msgs = (ranks * (ranks - 1)) as u64;
    let want_msgs = if algo == Algorithm::Fmm { msgs } else { 3 * msgs };
    assert_eq!(json_u64(&json, "messages", "alltoall"), want_msgs, "{json}");
}

#[test]
fn fmm_f64_forward_on_4_ranks_equals_in_process() {
    check("fmm_f64_4", 4, 1 << 16, Precision::F64, Algorithm::Fmm, false);
}

#[test]
fn fmm_f32_inverse_on_2_ranks_equals_in_process() {
    check("fmm_f32_inv_2", 2, 3 * (1 << 12), Precision::F32, Algorithm::Fmm, true);
}

#[test]
fn six_step_on_4_ranks_equals_in_process() {
    check("sixstep_4", 4, 1 << 14, Precision::F64, Algorithm::SixStep, false);
}

#[test]
fn wrong_device_count_and_bad_plan_fail_cleanly_on_every_rank() {
    let Some(c) = mpirun("errors") else { return };
    let d = dir("errors");
    let input = d.join("x.npy");
    std::fs::write(&input, npy::to_bytes(&signal(4096), false)).unwrap();
    let out = d.join("y.npy");
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    let r = run(c, 4, &[i, "--out", o, "--devices", "2"]);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("--devices 2: under mpirun each rank is one device, and there are 4 ranks"),
        "{err}"
    );
    // Printed once (by rank 0), not by every rank.
    assert_eq!(err.matches("under mpirun").count(), 1, "{err}");
    let r = run(mpirun("errors").unwrap(), 3, &[i, "--out", o]);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("devices G = 3 must be a power of two"), "{err}");
    let r = run(
        mpirun("errors").unwrap(),
        2,
        &[d.join("missing.npy").to_str().unwrap(), "--out", o],
    );
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("missing.npy"));
    assert!(!out.exists(), "no output may be written on failure");
    // --help: printed once, every rank ends cleanly (MPI finalised), status 0.
    let r = run(mpirun("errors").unwrap(), 3, &["--help"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(
        String::from_utf8_lossy(&r.stdout)
            .matches("tensorblas-fft INPUT.npy")
            .count(),
        1
    );
}
