//! What every transform step shares: the caller's [`Workspace`] (each device's work arrays, kept
//! between transforms), the free-array pools inside it, the NaN a debug build poisons fresh
//! arrays with, and the timed in-place FFT.

use crate::plan::Plan;
use crate::{DeviceStats, Real};
use num_complex::{Complex, Complex64};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::time::Instant;

/// The mutable state of transforms, kept apart from the [`Plan`] (the recipe), as RustFFT keeps
/// the caller's scratch apart from its `Fft`: each device's work arrays (host pools; on a GPU
/// its buffers and the plan's operators uploaded there; the six-step's twiddles). A program
/// that transforms repeatedly keeps one workspace next to its plan and passes it to
/// [`crate::transform_into`], [`crate::transform_into_with`] or [`crate::transform_on`]: the
/// arrays the first transform allocates are reused warm by the next ones, so nothing is
/// allocated afresh. [`crate::transform`] makes a fresh workspace per call.
///
/// It starts empty ([`Workspace::new`]) and serves one plan at a time: used with another plan
/// (not a clone of the same), it drops what it holds first. Dropping it frees the arrays. It is
/// `Send`; a transform borrows it mutably, so two transforms at once need two workspaces.
///
/// ```
/// use tensorblas_fft::{transform_into, Algorithm, Plan, PlanSpec, Precision, Workspace};
/// use num_complex::Complex64;
/// let plan = Plan::new(&PlanSpec::new(4096, 2, Precision::F64)?)?;
/// let mut ws = Workspace::new();
/// let x = vec![Complex64::new(1.0, 0.0); 4096];
/// let mut out = vec![Complex64::new(0.0, 0.0); 4096];
/// for _ in 0..3 {
///     transform_into(&plan, Algorithm::Fmm, &x, &mut out, false, 1, &mut ws)?;
/// }
/// assert!((out[0].re - 4096.0).abs() < 1e-9 && out[1].norm() < 1e-9);
/// # Ok::<(), tensorblas_fft::FftError>(())
/// ```
#[derive(Default)]
pub struct Workspace {
    /// The plan (`Plan::id`) the arrays belong to.
    plan: Option<u64>,
    devices: Vec<DeviceWork>,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held: usize = self.devices.iter().map(|d| d.0.len()).sum();
        write!(f, "Workspace({} devices, {held} sets of arrays)", self.devices.len())
    }
}

impl Workspace {
    /// An empty workspace (the first transform fills it).
    pub fn new() -> Workspace {
        Workspace::default()
    }

    /// The G device slots for `plan`, emptied first if they belonged to another plan.
    pub(crate) fn devices_for(&mut self, plan: &Plan) -> &mut [DeviceWork] {
        let g = plan.spec().devices;
        if self.plan != Some(plan.id) || self.devices.len() != g {
            self.plan = Some(plan.id);
            self.devices = (0..g).map(|_| DeviceWork::default()).collect();
        }
        &mut self.devices
    }
}

/// One device's work arrays, by their type (host pools of f32 or f64, GPU buffers, the
/// six-step's set): a transform takes its set out and puts it back.
#[derive(Default)]
pub(crate) struct DeviceWork(HashMap<TypeId, Box<dyn Any + Send>>);

impl DeviceWork {
    /// The arrays of type `W` (empty the first time).
    pub(crate) fn take<W: Default + Send + 'static>(&mut self) -> W {
        self.0
            .remove(&TypeId::of::<W>())
            .and_then(|b| b.downcast::<W>().ok())
            .map_or_else(W::default, |b| *b)
    }

    /// Gives the arrays back for the next transform.
    pub(crate) fn put<W: Send + 'static>(&mut self, w: W) {
        self.0.insert(TypeId::of::<W>(), Box::new(w));
    }
}

/// Free arrays of one element type, kept between transforms (in a [`Workspace`]).
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
