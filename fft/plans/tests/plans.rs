//! The plans against each other: forward then inverse is `len` times the identity, and f32
//! agrees with f64. (An integration test: a unit test would compile the planners a second time
//! in the crate's own test build, which is what this crate exists to avoid.)

use rustfft::num_complex::Complex;
use tensorblas_fft_plans::{forward_f32, forward_f64, inverse_f64, rustfft};

#[test]
fn forward_then_inverse_is_len_times_identity() {
    for len in [1usize, 8, 12, 97, 1000] {
        let x: Vec<Complex<f64>> = (0..len).map(|i| Complex::new(i as f64, -(i as f64) / 3.0)).collect();
        let mut y = x.clone();
        forward_f64(len).process(&mut y);
        inverse_f64(len).process(&mut y);
        for (a, b) in x.iter().zip(&y) {
            assert!(
                (a * len as f64 - b).norm() <= 1e-9 * len as f64 * len as f64,
                "len {len}"
            );
        }
        // f32 forward agrees with f64 forward.
        let mut y64 = x.clone();
        forward_f64(len).process(&mut y64);
        let mut y32: Vec<Complex<f32>> = x.iter().map(|v| Complex::new(v.re as f32, v.im as f32)).collect();
        forward_f32(len).process(&mut y32);
        let scale: f64 = y64.iter().map(|v| v.norm()).fold(1.0, f64::max);
        for (a, b) in y64.iter().zip(&y32) {
            let d = Complex::new(a.re - b.re as f64, a.im - b.im as f64).norm();
            assert!(d <= 1e-4 * scale, "len {len}: f32 {b} vs f64 {a}");
        }
    }
}
