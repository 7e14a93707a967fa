//! The FMM-FFT on a CUDA handle (G partitions of GPU 0) against the same plan on the CPU and
//! against rustfft. The tests that need a GPU are `#[ignore]`d with the reason (run them with
//! `-- --include-ignored`); without a usable GPU (driver, cuBLAS, NVRTC, cuFFT, device) such a
//! test prints `skipping <test>: <why>`, unless TBLAS_REQUIRE_GPU=1 makes that a failure.

use num_complex::{Complex, Complex64};
use tensorblas::Handle;
use tensorblas_fft::{transform, transform_into_with, Algorithm, FftError, Plan, PlanSpec, Precision, Workspace};

mod common;
use common::{reference, rel_l2, signal};

fn gpu_or_skip(test: &str) -> Option<Handle> {
    match Handle::cuda(0) {
        Ok(h) => Some(h),
        Err(e) => {
            let required = std::env::var("TBLAS_REQUIRE_GPU").is_ok_and(|v| v == "1");
            assert!(!required, "{test}: TBLAS_REQUIRE_GPU=1 but no usable GPU: {e}");
            eprintln!("skipping {test}: {e}");
            None
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU (driver, cuBLAS 13, NVRTC): cargo test -- --include-ignored; TBLAS_REQUIRE_GPU=1 fails if none"]
fn gpu_fmm_matches_the_cpu_run_and_rustfft() {
    // (N, P, G, B, Q): powers of two and not, several partitions. The plans and the CPU runs
    // are made first, so that they are checked on every machine.
    let mut cases = Vec::new();
    for (n, p, g, b, q) in [
        (4096, 4, 2, 16, 16),
        (65536, 16, 4, 32, 16),
        (9216, 6, 2, 24, 16),
        (16384, 8, 8, 16, 18),
    ] {
        let spec = PlanSpec {
            n,
            sections: p,
            devices: g,
            order: q,
            leaf: b,
            precision: Precision::F64,
        };
        let plan = Plan::new(&spec).unwrap();
        let x = signal(n);
        let (cpu, cpu_report) = transform(&plan, Algorithm::Fmm, &x, false).unwrap();
        assert!(rel_l2(&cpu, &reference(&x)) < 5e-14);
        cases.push((plan, x, cpu, cpu_report));
    }
    let Some(h) = gpu_or_skip("gpu_fmm_matches_the_cpu_run_and_rustfft") else {
        return;
    };
    for (plan, x, cpu, cpu_report) in cases {
        let PlanSpec {
            n,
            sections: p,
            devices: g,
            ..
        } = *plan.spec();
        let mut ws = Workspace::new();
        for run in 0..2 {
            // The second run reuses the device arrays the first left in the workspace.
            let mut out = vec![Complex64::new(f64::NAN, 0.0); n];
            let rep = transform_into_with(&plan, Algorithm::Fmm, &x, &mut out, false, &h, &mut ws).unwrap();
            let (vs_cpu, vs_fft) = (rel_l2(&out, &cpu), rel_l2(&out, &reference(&x)));
            assert!(vs_cpu < 1e-13, "N={n} P={p} G={g} run {run}: GPU vs CPU {vs_cpu:e}");
            assert!(vs_fft < 5e-14, "N={n} P={p} G={g} run {run}: GPU vs rustfft {vs_fft:e}");
            assert_eq!(
                rep.traffic, cpu_report.traffic,
                "bytes are the algorithm's, not the memory's"
            );
            assert_eq!(rep.traffic, plan.expected_bytes());
        }
        // Inverse: back to x.
        let mut back = vec![Complex64::new(0.0, 0.0); n];
        transform_into_with(&plan, Algorithm::Fmm, &cpu, &mut back, true, &h, &mut Workspace::new()).unwrap();
        assert!(rel_l2(&back, &x) < 5e-14, "N={n}: round trip {:e}", rel_l2(&back, &x));
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU (driver, cuBLAS 13, NVRTC): cargo test -- --include-ignored; TBLAS_REQUIRE_GPU=1 fails if none"]
fn gpu_fmm_f32_meets_the_f32_tolerance() {
    let n = 3 * 4096;
    let plan = Plan::new(&PlanSpec::new(n, 2, Precision::F32).unwrap()).unwrap();
    let Some(h) = gpu_or_skip("gpu_fmm_f32_meets_the_f32_tolerance") else {
        return;
    };
    let x = signal(n);
    let x32: Vec<Complex<f32>> = x.iter().map(|v| Complex::new(v.re as f32, v.im as f32)).collect();
    let mut out = vec![Complex::new(0.0f32, 0.0); n];
    transform_into_with(&plan, Algorithm::Fmm, &x32, &mut out, false, &h, &mut Workspace::new()).unwrap();
    let got: Vec<Complex64> = out.iter().map(|v| Complex64::new(v.re as f64, v.im as f64)).collect();
    let err = rel_l2(&got, &reference(&x));
    assert!(err < 5e-7, "f32 GPU error {err:e}");
}

#[test]
#[ignore = "needs an NVIDIA GPU (driver, cuBLAS 13, NVRTC): cargo test -- --include-ignored; TBLAS_REQUIRE_GPU=1 fails if none"]
fn gpu_six_step_is_not_supported_and_says_so() {
    let Some(h) = gpu_or_skip("gpu_six_step_is_not_supported_and_says_so") else {
        return;
    };
    let plan = Plan::new(&PlanSpec::new(4096, 2, Precision::F64).unwrap()).unwrap();
    let x = signal(4096);
    let mut out = x.clone();
    let e = transform_into_with(
        &plan,
        Algorithm::SixStep,
        &x,
        &mut out,
        false,
        &h,
        &mut Workspace::new(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            FftError::Device(..) | FftError::Blas(tensorblas::Error::NotSupported(_))
        ),
        "{e}"
    );
    assert!(e.to_string().contains("six-step"), "{e}");
}

#[test]
fn cuda_handle_without_a_gpu_is_an_error_not_a_panic() {
    // Here (no GPU) this checks the error path of the public API; on a GPU machine it is moot.
    if let Err(e) = Handle::cuda(0) {
        assert!(matches!(e, tensorblas::Error::BackendUnavailable(_)), "{e}");
    }
}
