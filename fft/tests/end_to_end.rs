//! End to end against rustfft (spec §8.2), invariants (§8.3) and the byte counters.

use num_complex::{Complex, Complex64};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tensorblas_fft::{transform, Algorithm, Plan, PlanSpec, Precision};

fn reference(x: &[Complex64]) -> Vec<Complex64> {
    let mut v = x.to_vec();
    rustfft::FftPlanner::<f64>::new()
        .plan_fft_forward(v.len())
        .process(&mut v);
    v
}

fn rel_l2(got: &[Complex64], want: &[Complex64]) -> f64 {
    let num: f64 = got.iter().zip(want).map(|(a, b)| (a - b).norm_sqr()).sum();
    let den: f64 = want.iter().map(|b| b.norm_sqr()).sum();
    (num / den).sqrt()
}

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
    // (N, P, G, B) from spec §8.2 (the larger ones are in the bench), tolerances for Q = 16.
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
