//! Helpers shared by the integration tests (each test file includes this module; not every file
//! uses every helper).
#![allow(dead_code)]

use num_complex::Complex64;

/// The DFT of `x` by rustfft (the oracle).
pub fn reference(x: &[Complex64]) -> Vec<Complex64> {
    let mut v = x.to_vec();
    tensorblas_fft::plans::forward_f64(v.len()).process(&mut v);
    v
}

/// Relative ℓ2 error of `got` against `want`.
pub fn rel_l2(got: &[Complex64], want: &[Complex64]) -> f64 {
    let num: f64 = got.iter().zip(want).map(|(a, b)| (a - b).norm_sqr()).sum();
    let den: f64 = want.iter().map(|b| b.norm_sqr()).sum();
    (num / den).sqrt()
}

/// A deterministic signal in [-1, 1]² with energy at every frequency.
pub fn signal(n: usize) -> Vec<Complex64> {
    (0..n)
        .map(|i| {
            Complex64::new(
                ((i * 37) % 101) as f64 / 50.0 - 1.0,
                ((i * 53) % 97) as f64 / 48.0 - 1.0,
            )
        })
        .collect()
}
