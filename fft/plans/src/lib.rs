//! rustfft plans for `tensorblas-fft`, compiled once.
//!
//! A rustfft planner is generic over the element type, and every crate that calls
//! `FftPlanner::<T>::new()` compiles the whole planner and every algorithm it can choose
//! (butterflies, mixed radix, Rader, Bluestein; the SSE and AVX variants) for that `T`. When
//! `tensorblas-fft` planned its FFTs itself, its library, its unit-test build, its CLI and the
//! bench each compiled them again: ~45 s of CPU for each of the library and its unit tests in
//! a fresh `cargo test --workspace`. Here they are compiled once, behind non-generic functions,
//! in a crate that does not depend on tensorblas (so it also builds beside the core crate
//! instead of after it); callers get `Arc<dyn Fft<T>>` trait objects.
#![forbid(unsafe_code)]

use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

pub use rustfft;

/// The forward FFT of length `len` in f32.
#[inline(never)]
pub fn forward_f32(len: usize) -> Arc<dyn Fft<f32>> {
    FftPlanner::<f32>::new().plan_fft_forward(len)
}

/// The forward FFT of length `len` in f64.
#[inline(never)]
pub fn forward_f64(len: usize) -> Arc<dyn Fft<f64>> {
    FftPlanner::<f64>::new().plan_fft_forward(len)
}

/// The inverse (unnormalised) FFT of length `len` in f64.
#[inline(never)]
pub fn inverse_f64(len: usize) -> Arc<dyn Fft<f64>> {
    FftPlanner::<f64>::new().plan_fft_inverse(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustfft::num_complex::Complex;

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
}
