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
