//! End to end against rustfft (docs/fmm-fft.md §8.2), invariants (§8.3) and the byte counters.

use num_complex::{Complex, Complex64};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tensorblas_fft::{transform, transform_into, Algorithm, Plan, PlanSpec, Precision, Workspace};

mod common;
use common::{reference, rel_l2};

fn rel_max(got: &[Complex64], want: &[Complex64]) -> f64 {
    let num = got.iter().zip(want).map(|(a, b)| (a - b).norm()).fold(0.0, f64::max);
    let den = want.iter().map(|b| b.norm()).fold(0.0, f64::max);
    num / den
}

fn gaussian(n: usize, seed: u64) -> Vec<Complex64> {
    let mut r = SmallRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            // Box-Muller
            let (u1, u2): (f64, f64) = (r.random::<f64>().max(1e-300), r.random());
            let (a, b) = ((-2.0 * u1.ln()).sqrt(), 2.0 * std::f64::consts::PI * u2);
            Complex64::new(a * b.cos(), a * b.sin())
        })
        .collect()
}

fn spec(n: usize, p: usize, g: usize, b: usize, q: usize, precision: Precision) -> PlanSpec {
    PlanSpec {
        n,
        sections: p,
        devices: g,
        order: q,
        leaf: b,
        precision,
    }
}

#[test]
fn f64_matches_rustfft_over_the_spec_configurations() {
    // (N, P, G, B) from docs/fmm-fft.md §8.2 (the larger ones are in the bench), tolerances for Q = 16.
    let configs = [
        (4096, 4, 1, 16),
        (4096, 4, 2, 16),
        (16384, 8, 8, 16),
        (65536, 2, 2, 32),
        (65536, 16, 4, 32),
        (9216, 6, 2, 24),
        (30720, 12, 4, 20),
        (6144, 3, 1, 16),
        (1024, 8, 8, 16),
        (256, 4, 4, 16),
        (2048, 16, 16, 8),
        (128, 2, 2, 16),
    ];
    for (i, &(n, p, g, b)) in configs.iter().enumerate() {
        let plan = Plan::new(&spec(n, p, g, b, 16, Precision::F64)).unwrap();
        let x = gaussian(n, i as u64);
        let (got, rep) = transform(&plan, Algorithm::Fmm, &x, false).unwrap();
        let want = reference(&x);
        let (e2, emax) = (rel_l2(&got, &want), rel_max(&got, &want));
        let loosen = if b < 16 { 10.0 } else { 1.0 };
        eprintln!("N={n} P={p} G={g} B={b} Q=16: rel l2 {e2:.2e}, rel max {emax:.2e}");
        assert!(
            e2 <= 5e-14 * loosen && emax <= 1e-13 * loosen,
            "N={n} P={p} G={g} B={b}: {e2:e} {emax:e}"
        );
        assert_eq!(rep.traffic, plan.expected_bytes(), "N={n} P={p} G={g} B={b}: bytes");
    }
}

fn to32(x: &[Complex64]) -> Vec<Complex<f32>> {
    x.iter().map(|v| Complex::new(v.re as f32, v.im as f32)).collect()
}

fn to64(x: &[Complex<f32>]) -> Vec<Complex64> {
    x.iter().map(|v| Complex64::new(v.re as f64, v.im as f64)).collect()
}

#[test]
fn accuracy_by_order_meets_the_spec_table() {
    // (precision, Q, rel l2 <=, rel max <=) from docs/fmm-fft.md §8.2; N = 2^16, P = 16, G = 4, B = 32.
    let rows = [
        (Precision::F64, 8, 1e-7, 3e-7),
        (Precision::F64, 12, 1e-10, 2e-10),
        (Precision::F64, 16, 5e-14, 1e-13),
        (Precision::F64, 18, 5e-15, 1e-14),
        (Precision::F32, 6, 5e-6, 2e-5),
        (Precision::F32, 8, 5e-7, 3e-6),
        (Precision::F32, 12, 5e-7, 3e-6),
    ];
    let n = 1 << 16;
    let x = gaussian(n, 99);
    let want = reference(&x);
    for (prec, q, l2, mx) in rows {
        let plan = Plan::new(&spec(n, 16, 4, 32, q, prec)).unwrap();
        let got = match prec {
            Precision::F64 => transform(&plan, Algorithm::Fmm, &x, false).unwrap().0,
            Precision::F32 => to64(&transform(&plan, Algorithm::Fmm, &to32(&x), false).unwrap().0),
        };
        let (e2, emax) = (rel_l2(&got, &want), rel_max(&got, &want));
        eprintln!("{prec:?} Q={q}: rel l2 {e2:.2e}, rel max {emax:.2e}");
        assert!(
            e2 <= l2 && emax <= mx,
            "{prec:?} Q={q}: {e2:e} > {l2:e} or {emax:e} > {mx:e}"
        );
    }
}

/// docs/fmm-fft.md §10: N = 128, P = 4, G = 2, B = 4 with the exact rational input; X values and the error
/// per Q (docs/fmm-fft.md's B < 16 case).
#[test]
fn worked_example_end_to_end() {
    let x: Vec<Complex64> = (0..128i64)
        .map(|n| Complex64::new(((37 * n) % 101 - 50) as f64 / 50.0, ((53 * n) % 97 - 48) as f64 / 48.0))
        .collect();
    let want = reference(&x);
    for (k, re, im) in [
        (0, -1.58, -2.5625),
        (1, -1.971903, -6.234065),
        (2, -0.291406, -0.624551),
        (3, -2.503079, 0.352694),
        (64, 314.0 / 100.0, 0.0625),
    ] {
        assert!(
            (want[k].re - re).abs() < 1e-6 && (want[k].im - im).abs() < 1e-6,
            "reference X[{k}]"
        );
    }
    // (Q, docs/fmm-fft.md §10's rel l2): ours must be within 2x (same algorithm, other summation order).
    for (q, spec_l2) in [(4, 1.229e-4), (8, 7.662e-8), (12, 7.807e-11), (16, 5.602e-14)] {
        let plan = Plan::new(&spec(128, 4, 2, 4, q, Precision::F64)).unwrap();
        let (got, _) = transform(&plan, Algorithm::Fmm, &x, false).unwrap();
        let e2 = rel_l2(&got, &want);
        eprintln!("worked example Q={q}: rel l2 {e2:.3e} (spec {spec_l2:.3e})");
        assert!(
            e2 <= 2.0 * spec_l2 && e2 >= spec_l2 / 2.0 || e2 < 1e-13,
            "Q={q}: {e2:e} vs {spec_l2:e}"
        );
    }
}

#[test]
fn invariants_hold() {
    let (n, p, g, b) = (4096usize, 8, 4, 16);
    let plan = Plan::new(&spec(n, p, g, b, 18, Precision::F64)).unwrap();
    let run = |x: &[Complex64]| transform(&plan, Algorithm::Fmm, x, false).unwrap().0;
    // Impulse at n0: e^{-2πi n0 k/N}, phase reduced in integers.
    let n0 = 1234usize;
    let mut x = vec![Complex64::new(0.0, 0.0); n];
    x[n0] = Complex64::new(1.0, 0.0);
    let got = run(&x);
    for (k, v) in got.iter().enumerate() {
        let a = -2.0 * std::f64::consts::PI * ((n0 * k) % n) as f64 / n as f64;
        assert!(
            (v - Complex64::new(a.cos(), a.sin())).norm() < 1e-14,
            "impulse k={k}: {v}"
        );
    }
    // Constant -> N δ_0; pure tone -> N δ_77.
    let got = run(&vec![Complex64::new(1.0, 0.0); n]);
    assert!((got[0] - n as f64).norm() < 1e-12 * n as f64);
    assert!(got[1..].iter().all(|v| v.norm() < 1e-13 * n as f64));
    let tone: Vec<Complex64> = (0..n)
        .map(|j| {
            let a = 2.0 * std::f64::consts::PI * ((77 * j) % n) as f64 / n as f64;
            Complex64::new(a.cos(), a.sin())
        })
        .collect();
    let got = run(&tone);
    for (k, v) in got.iter().enumerate() {
        let want = if k == 77 { n as f64 } else { 0.0 };
        assert!((v - want).norm() < 1e-13 * n as f64, "tone k={k}: {v}");
    }
    // Linearity and Parseval.
    let (a, bb) = (gaussian(n, 1), gaussian(n, 2));
    let (al, be) = (Complex64::new(0.3, -1.1), Complex64::new(-2.0, 0.5));
    let comb: Vec<Complex64> = a.iter().zip(&bb).map(|(x, y)| al * x + be * y).collect();
    let (fa, fb, fc) = (run(&a), run(&bb), run(&comb));
    let lin: Vec<Complex64> = fa.iter().zip(&fb).map(|(x, y)| al * x + be * y).collect();
    assert!(rel_l2(&fc, &lin) < 1e-14);
    let ex: f64 = a.iter().map(|v| v.norm_sqr()).sum();
    let ey: f64 = fa.iter().map(|v| v.norm_sqr()).sum::<f64>() / n as f64;
    assert!(((ex - ey) / ex).abs() < 1e-14, "Parseval {ex} vs {ey}");
    // Inverse round trip.
    let (back, _) = transform(&plan, Algorithm::Fmm, &fa, true).unwrap();
    assert!(rel_l2(&back, &a) < 1e-14);
}

#[test]
fn results_do_not_depend_on_the_device_count() {
    let n = 16384;
    let x = gaussian(n, 5);
    let base = transform(
        &Plan::new(&spec(n, 8, 1, 16, 16, Precision::F64)).unwrap(),
        Algorithm::Fmm,
        &x,
        false,
    )
    .unwrap()
    .0;
    for g in [2, 4, 8] {
        let plan = Plan::new(&spec(n, 8, g, 16, 16, Precision::F64)).unwrap();
        let (got, rep) = transform(&plan, Algorithm::Fmm, &x, false).unwrap();
        assert!(rel_max(&got, &base) < 1e-14, "G={g}");
        assert_eq!(rep.traffic, plan.expected_bytes());
        // Messages: G-1 all-to-all sends per device, 2 packed halo messages, G-1 all-gather sends.
        let gg = g as u64;
        assert_eq!(rep.messages, [gg * (gg - 1), 2 * gg, gg * (gg - 1)], "G={g}");
    }
}

#[test]
fn f32_is_within_its_tolerance_of_f64() {
    let n = 1 << 14;
    let x = gaussian(n, 8);
    let want = reference(&x);
    let plan = Plan::new(&PlanSpec::new(n, 4, Precision::F32).unwrap()).unwrap();
    let (got, rep) = transform(&plan, Algorithm::Fmm, &to32(&x), false).unwrap();
    let e2 = rel_l2(&to64(&got), &want);
    assert!(e2 < 5e-7, "{e2:e}");
    assert_eq!(rep.traffic, plan.expected_bytes());
    // f64 data with an f32 plan is refused.
    assert!(transform(&plan, Algorithm::Fmm, &x, false).is_err());
}

#[test]
fn six_step_matches_and_moves_three_all_to_alls() {
    for (n, g) in [(4096usize, 4usize), (1 << 16, 8), (9216, 2)] {
        let x = gaussian(n, n as u64);
        let want = reference(&x);
        let plan = Plan::new(&PlanSpec::new(n, g, Precision::F64).unwrap()).unwrap();
        let (got, rep) = transform(&plan, Algorithm::SixStep, &x, false).unwrap();
        assert!(rel_l2(&got, &want) < 1e-14, "six-step N={n} G={g}");
        let one = plan.expected_bytes().alltoall;
        assert_eq!(rep.traffic.alltoall, 3 * one, "three all-to-alls");
        assert_eq!(rep.traffic.halo + rep.traffic.allgather, 0);
        let (fmm, _) = transform(&plan, Algorithm::Fmm, &x, false).unwrap();
        assert!(rel_l2(&fmm, &got) < 1e-13);
        let (back, _) = transform(&plan, Algorithm::SixStep, &got, true).unwrap();
        assert!(rel_l2(&back, &x) < 1e-14);
    }
}

#[test]
fn random_valid_plans_are_accurate() {
    let mut r = SmallRng::seed_from_u64(2024);
    for _ in 0..12 {
        let g = 1usize << r.random_range(0..4);
        let p = g * r.random_range(1..5usize).max(if g == 1 { 2 } else { 1 });
        let b = [8usize, 12, 16, 20, 32][r.random_range(0..5)];
        let la = 2.max(g.trailing_zeros() as usize);
        let l = la + r.random_range(0..4usize);
        let n = p * b * (1 << l);
        let q = [12usize, 16][r.random_range(0..2)];
        let s = spec(n, p, g, b, q, Precision::F64);
        let plan = Plan::new(&s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        let x = gaussian(n, n as u64 + 1);
        let (got, rep) = transform(&plan, Algorithm::Fmm, &x, false).unwrap();
        let e2 = rel_l2(&got, &reference(&x));
        let tol = if q == 12 { 1e-10 } else { 5e-14 } * if b < 16 { 10.0 } else { 1.0 };
        assert!(e2 <= tol, "{s:?}: {e2:e}");
        assert_eq!(rep.traffic, plan.expected_bytes(), "{s:?}");
    }
}

#[test]
fn bad_input_is_refused() {
    let plan = Plan::new(&spec(4096, 4, 2, 16, 16, Precision::F64)).unwrap();
    let e = transform(&plan, Algorithm::Fmm, &vec![Complex64::new(0.0, 0.0); 100], false).unwrap_err();
    assert!(e.to_string().contains("4096"), "{e}");
}

/// A workspace keeps each device's work arrays between transforms: running a plan again with it,
/// on other data, with the other algorithm, or after another plan used it, must give exactly
/// what a fresh workspace gives (nothing stale survives in the reused arrays).
#[test]
fn reused_work_arrays_leave_no_trace() {
    let n = 1 << 14;
    let spec = PlanSpec::new(n, 4, Precision::F64).unwrap();
    let plan = Plan::new(&spec).unwrap();
    let x1: Vec<Complex64> = (0..n)
        .map(|i| Complex64::new((i % 13) as f64, -((i % 7) as f64)))
        .collect();
    let x2: Vec<Complex64> = (0..n)
        .map(|i| Complex64::new(((i * 31) % 17) as f64 - 8.0, ((i * 7) % 5) as f64))
        .collect();
    let mut ws = Workspace::new();
    let run = |plan: &Plan, algo, x: &[Complex64], inverse, ws: &mut Workspace| {
        let mut out = vec![Complex64::new(f64::NAN, 0.0); x.len()];
        transform_into(plan, algo, x, &mut out, inverse, 1, ws).unwrap();
        out
    };
    let first = run(&plan, Algorithm::Fmm, &x1, false, &mut ws);
    assert_eq!(first, transform(&plan, Algorithm::Fmm, &x1, false).unwrap().0);
    let six = run(&plan, Algorithm::SixStep, &x1, false, &mut ws);
    assert_eq!(six, transform(&plan, Algorithm::SixStep, &x1, false).unwrap().0);
    let again = run(&plan, Algorithm::Fmm, &x2, true, &mut ws);
    let fresh = run(&plan, Algorithm::Fmm, &x2, true, &mut Workspace::new());
    assert_eq!(again, fresh, "a reused workspace differs from a fresh one");
    assert_eq!(first, run(&plan, Algorithm::Fmm, &x1, false, &mut ws));
    // Another plan (other N, other G) with the same workspace, then the first plan again: the
    // workspace starts afresh for each (the six-step's twiddles depend on the plan).
    let n2 = 1 << 13;
    let other = Plan::new(&PlanSpec::new(n2, 2, Precision::F64).unwrap()).unwrap();
    let y = &x2[..n2];
    for algo in [Algorithm::SixStep, Algorithm::Fmm] {
        let want = transform(&other, algo, y, false).unwrap().0;
        assert_eq!(run(&other, algo, y, false, &mut ws), want);
    }
    assert_eq!(six, run(&plan, Algorithm::SixStep, &x1, false, &mut ws));
    // A clone is the same recipe; two transforms at once with one plan, each with its own
    // workspace, stay correct.
    let clone = plan.clone();
    std::thread::scope(|s| {
        let a = s.spawn(|| run(&plan, Algorithm::Fmm, &x1, false, &mut Workspace::new()));
        let b = s.spawn(|| run(&clone, Algorithm::Fmm, &x2, true, &mut ws));
        assert_eq!(a.join().unwrap(), first);
        assert_eq!(b.join().unwrap(), fresh);
    });
}

/// `transform_into` writes into the caller's array, equals `transform`, and refuses a wrong
/// length without touching it.
#[test]
fn transform_into_reuses_the_callers_array() {
    let n = 1 << 13;
    let plan = Plan::new(&PlanSpec::new(n, 2, Precision::F64).unwrap()).unwrap();
    let x: Vec<Complex64> = (0..n)
        .map(|i| Complex64::new((i % 11) as f64, (i % 5) as f64))
        .collect();
    let (want, _) = transform(&plan, Algorithm::Fmm, &x, true).unwrap();
    let mut out = vec![Complex64::new(f64::NAN, 0.0); n];
    let mut ws = Workspace::new();
    for _ in 0..2 {
        let rep = tensorblas_fft::transform_into(&plan, Algorithm::Fmm, &x, &mut out, true, 1, &mut ws).unwrap();
        assert_eq!(out, want);
        assert_eq!(rep.traffic, plan.expected_bytes());
    }
    let mut short = vec![Complex64::new(7.0, 7.0); n - 1];
    let e = tensorblas_fft::transform_into(&plan, Algorithm::Fmm, &x, &mut short, false, 1, &mut ws).unwrap_err();
    assert!(
        e.to_string().contains("out has 8191 points, the plan is for N = 8192"),
        "{e}"
    );
    assert!(short.iter().all(|v| *v == Complex64::new(7.0, 7.0)));
}

/// `transform_on` refuses a fabric whose size is not the plan's G, and data of the other
/// precision, before it touches the workspace or `out`.
#[test]
fn transform_on_checks_the_fabric_and_precision_first() {
    let n = 1 << 12;
    let plan = Plan::new(&PlanSpec::new(n, 4, Precision::F64).unwrap()).unwrap();
    let h = tensorblas::Handle::new().unwrap();
    let fab = tensorblas_fft::InProcess::new(2).remove(0);
    let block = vec![Complex64::new(1.0, 0.0); n / 4];
    let mut out = vec![Complex64::new(7.0, 7.0); n / 4];
    let mut ws = Workspace::new();
    let e =
        tensorblas_fft::transform_on(&plan, Algorithm::Fmm, &fab, &h, &block, &mut out, false, &mut ws).unwrap_err();
    assert!(
        e.to_string()
            .contains("the plan is for G = 4 devices but the fabric has 2"),
        "{e}"
    );
    let block32 = vec![Complex::new(1.0f32, 0.0); n / 4];
    let mut out32 = vec![Complex::new(7.0f32, 7.0); n / 4];
    let e = tensorblas_fft::transform_on(&plan, Algorithm::Fmm, &fab, &h, &block32, &mut out32, false, &mut ws)
        .unwrap_err();
    assert!(e.to_string().contains("the plan is for F64 but the data is F32"), "{e}");
    assert!(out.iter().all(|v| *v == Complex64::new(7.0, 7.0)));
    assert!(out32.iter().all(|v| *v == Complex::new(7.0f32, 7.0)));
}
