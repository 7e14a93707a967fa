//! What every transform step shares: the free-array pools kept between transforms, the NaN a
//! debug build poisons fresh arrays with, and the timed in-place FFT.

use crate::{DeviceStats, Real};
use num_complex::{Complex, Complex64};
use std::time::Instant;

/// Free arrays of one element type, kept between transforms (see `Plan::work`).
pub(crate) struct Pool<E>(Vec<Vec<E>>);

impl<E> Default for Pool<E> {
    fn default() -> Self {
        Pool(Vec::new())
    }
}

impl<E: Copy> Pool<E> {
    /// An array of `len` elements from the smallest free array large enough (else new). Its
    /// contents are whatever the array held last (`fill` where it grew): every caller writes
    /// before it reads. Builds with debug assertions (the tests) fill all of it with `poison`
    /// (NaN), so a read before a write shows in the results.
    pub(crate) fn take(&mut self, len: usize, fill: E, poison: E) -> Vec<E> {
        let mut v = self.best_fit(len);
        v.truncate(len);
        v.resize(len, fill);
        if cfg!(debug_assertions) {
            v.fill(poison);
        }
        v
    }

    /// An empty array with room for `cap` elements.
    pub(crate) fn take_empty(&mut self, cap: usize) -> Vec<E> {
        let mut v = self.best_fit(cap);
        v.clear();
        v
    }

    /// The smallest free array with room for `cap` elements (contents as left), else a new one.
    fn best_fit(&mut self, cap: usize) -> Vec<E> {
        let best = (0..self.0.len())
            .filter(|&i| self.0[i].capacity() >= cap)
            .min_by_key(|&i| self.0[i].capacity());
        best.map_or_else(|| Vec::with_capacity(cap), |i| self.0.swap_remove(i))
    }

    /// Returns an array for reuse.
    pub(crate) fn give(&mut self, v: Vec<E>) {
        if v.capacity() > 0 {
            self.0.push(v);
        }
    }
}

pub(crate) fn nan<T: Real>() -> T {
    T::from_c64(Complex64::new(f64::NAN, 0.0))
}

/// In-place FFT `f` of `a` with scratch from `pool`, the call timed into `st.fft_secs`.
pub(crate) fn fft_in_place<T: Real>(
    f: &dyn rustfft::Fft<T>,
    a: &mut [Complex<T>],
    pool: &mut Pool<Complex<T>>,
    st: &mut DeviceStats,
) {
    let zero = <T as tensorblas::Scalar>::zero();
    let mut scratch = pool.take(
        f.get_inplace_scratch_len(),
        Complex::new(zero, zero),
        Complex::new(nan(), nan()),
    );
    let t = Instant::now();
    f.process_with_scratch(a, &mut scratch);
    st.fft_secs += t.elapsed().as_secs_f64();
    pool.give(scratch);
}
