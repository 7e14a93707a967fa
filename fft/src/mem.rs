//! Where one device's FMM arrays live, and the few ways the executor moves them.
//!
//! The FMM executor (`fmm.rs`) is written once against [`Mem`]: it allocates level arrays,
//! multiplies them with tensorblas strided-batched GEMMs on the memory's [`Handle`], and moves
//! them only by the rectangular copies below (`rows` rows of `width` elements, consecutive rows
//! `pitch` elements apart: exactly what `cuMemcpy2D` does). [`HostMem`] keeps everything in host
//! vectors on a CPU handle. A device memory keeps the level arrays on the GPU of a CUDA handle
//! and runs the same code: the rectangular copies become 2-D device copies, the GEMMs run on
//! cuBLAS through tensorblas, and the messages for the fabric are staged through host memory
//! (what [`Mem::download`] / [`Mem::upload`] express).

use crate::plan::{Ops, OpsOn, Plan};
use crate::work::{fft_in_place, nan, DeviceWork, Pool};
use crate::{DeviceStats, FftError, Real};
use num_complex::Complex;
use std::ops::Range;
use std::sync::Arc;
use tensorblas::{StridedMut, StridedRef};

/// Position of a row block in an array: (offset of row 0's element 0, pitch between rows).
pub(crate) type At = (usize, usize);

/// One device's memory for the FMM executor (see the module doc).
pub(crate) trait Mem<T: Real> {
    /// A real array.
    type Arr;

    /// An array of `len` elements whose contents are arbitrary: every caller writes each element
    /// before reading it.
    fn take(&mut self, len: usize) -> Result<Self::Arr, FftError>;

    /// An array of `len` zeros (for one accumulated into with beta = 1).
    fn take_zeroed(&mut self, len: usize) -> Result<Self::Arr, FftError>;

    /// Returns an array for reuse.
    fn give(&mut self, a: Self::Arr);

    /// The operators, as arrays of this memory.
    fn ops(&mut self, plan: &Plan) -> Result<Arc<OpsOn<Self::Arr>>, FftError>;

    /// A column-major view for GEMM: element (i, j) of matrix b at `off + i + j·ld + b·bs`.
    fn view(a: &Self::Arr, off: usize, ld: usize, bs: usize) -> StridedRef<'_, T>;

    /// The writable view of [`Mem::view`].
    fn view_mut(a: &mut Self::Arr, off: usize, ld: usize, bs: usize) -> StridedMut<'_, T>;

    /// `rows` rows of `width` elements from `src` at `s` to `dst` at `d`.
    fn copy(
        &mut self,
        dst: &mut Self::Arr,
        d: At,
        src: &Self::Arr,
        s: At,
        width: usize,
        rows: usize,
    ) -> Result<(), FftError>;

    /// The same within one array; source and destination rows do not overlap.
    fn copy_within(&mut self, a: &mut Self::Arr, d: At, s: At, width: usize, rows: usize) -> Result<(), FftError>;

    /// Appends `rows` rows of `width` elements of `src` at `s` to the host vector `out`.
    fn download(&mut self, src: &Self::Arr, s: At, width: usize, rows: usize, out: &mut Vec<T>)
        -> Result<(), FftError>;

    /// Writes the host elements `src` (`rows` rows of `width`) into `dst` at `d`.
    fn upload(&mut self, dst: &mut Self::Arr, d: At, width: usize, rows: usize, src: &[T]) -> Result<(), FftError>;

    /// Calls `f` on the elements `range` of `a` as a host slice.
    fn read<R>(&mut self, a: &Self::Arr, range: Range<usize>, f: impl FnOnce(&[T]) -> R) -> Result<R, FftError>;

    /// Lets `f` write the elements `range` of `a` through a host slice (`f` must write all of
    /// them that are read later: on a device, the whole range is copied back).
    fn write(&mut self, a: &mut Self::Arr, range: Range<usize>, f: impl FnOnce(&mut [T])) -> Result<(), FftError>;

    /// Host arrays for messages: reals (halos, all-gather) and complex (all-to-all chunks).
    fn host_pools(&mut self) -> (&mut Pool<T>, &mut Pool<Complex<T>>);

    /// Puts the device's work arrays back into its workspace slot for the next transform.
    fn done(self, wk: &mut DeviceWork);

    /// Step 9: `recv[d]` holds rows q_loc = 0..P/G of `mloc` points from device d; assembles
    /// row q_loc of `out` (M points) from them and runs the P/G M-point FFTs in place.
    fn final_ffts(
        &mut self,
        plan: &Plan,
        recv: Vec<Vec<Complex<T>>>,
        out: &mut [Complex<T>],
        st: &mut DeviceStats,
    ) -> Result<(), FftError>;
}

/// One device's work arrays in host memory, kept in the caller's workspace between transforms.
#[derive(Default)]
pub(crate) struct HostWork<T> {
    re: Pool<T>,
    cx: Pool<Complex<T>>,
}

impl<T> HostWork<T> {
    /// The real and the complex pool.
    pub(crate) fn pools(&mut self) -> (&mut Pool<T>, &mut Pool<Complex<T>>) {
        (&mut self.re, &mut self.cx)
    }
}

/// `rows` rows of `width` elements from `src` at `s` to `dst` at `d` (host slices).
pub(crate) fn copy_rows<T: Copy>(dst: &mut [T], (d, dp): At, src: &[T], (s, sp): At, width: usize, rows: usize) {
    for r in 0..rows {
        dst[d + r * dp..d + r * dp + width].copy_from_slice(&src[s + r * sp..s + r * sp + width]);
    }
}

/// [`copy_rows`] within one slice; source and destination rows do not overlap.
pub(crate) fn copy_rows_within<T: Copy>(a: &mut [T], (d, dp): At, (s, sp): At, width: usize, rows: usize) {
    for r in 0..rows {
        a.copy_within(s + r * sp..s + r * sp + width, d + r * dp);
    }
}

/// Host memory (for a CPU handle).
pub(crate) struct HostMem<T> {
    wk: HostWork<T>,
}

impl<T: Real> HostMem<T> {
    /// A device's memory, with its work arrays from its workspace slot `wk` (given back by
    /// [`Mem::done`]).
    pub(crate) fn new(wk: &mut DeviceWork) -> Self {
        HostMem { wk: wk.take() }
    }
}

impl<T: Real> Mem<T> for HostMem<T> {
    type Arr = Vec<T>;

    fn take(&mut self, len: usize) -> Result<Vec<T>, FftError> {
        Ok(self.wk.re.take(len, <T as tensorblas::Scalar>::zero(), nan()))
    }

    fn take_zeroed(&mut self, len: usize) -> Result<Vec<T>, FftError> {
        let z = <T as tensorblas::Scalar>::zero();
        let mut v = self.wk.re.take(len, z, z);
        v.fill(z);
        Ok(v)
    }

    fn give(&mut self, a: Vec<T>) {
        self.wk.re.give(a);
    }

    fn ops(&mut self, plan: &Plan) -> Result<Arc<Ops<T>>, FftError> {
        Ok(plan.ops::<T>().clone())
    }

    fn view(a: &Vec<T>, off: usize, ld: usize, bs: usize) -> StridedRef<'_, T> {
        StridedRef::new(a, off, 1, ld as isize, bs as isize)
    }

    fn view_mut(a: &mut Vec<T>, off: usize, ld: usize, bs: usize) -> StridedMut<'_, T> {
        StridedMut::new(a, off, 1, ld as isize, bs as isize)
    }

    fn copy(
        &mut self,
        dst: &mut Vec<T>,
        d: At,
        src: &Vec<T>,
        s: At,
        width: usize,
        rows: usize,
    ) -> Result<(), FftError> {
        copy_rows(dst, d, src, s, width, rows);
        Ok(())
    }

    fn copy_within(&mut self, a: &mut Vec<T>, d: At, s: At, width: usize, rows: usize) -> Result<(), FftError> {
        copy_rows_within(a, d, s, width, rows);
        Ok(())
    }

    fn download(
        &mut self,
        src: &Vec<T>,
        (s, sp): At,
        width: usize,
        rows: usize,
        out: &mut Vec<T>,
    ) -> Result<(), FftError> {
        for r in 0..rows {
            out.extend_from_slice(&src[s + r * sp..s + r * sp + width]);
        }
        Ok(())
    }

    fn upload(&mut self, dst: &mut Vec<T>, d: At, width: usize, rows: usize, src: &[T]) -> Result<(), FftError> {
        copy_rows(dst, d, src, (0, width), width, rows);
        Ok(())
    }

    fn read<R>(&mut self, a: &Vec<T>, range: Range<usize>, f: impl FnOnce(&[T]) -> R) -> Result<R, FftError> {
        Ok(f(&a[range]))
    }

    fn write(&mut self, a: &mut Vec<T>, range: Range<usize>, f: impl FnOnce(&mut [T])) -> Result<(), FftError> {
        f(&mut a[range]);
        Ok(())
    }

    fn host_pools(&mut self) -> (&mut Pool<T>, &mut Pool<Complex<T>>) {
        self.wk.pools()
    }

    fn done(self, wk: &mut DeviceWork) {
        wk.put(self.wk);
    }

    fn final_ffts(
        &mut self,
        plan: &Plan,
        recv: Vec<Vec<Complex<T>>>,
        out: &mut [Complex<T>],
        st: &mut DeviceStats,
    ) -> Result<(), FftError> {
        let m = plan.m;
        let mloc = m / recv.len();
        let pg = out.len() / m;
        for (d, chunk) in recv.into_iter().enumerate() {
            // Row q_loc of device d's chunk is points d·Mloc.. of row q_loc of the block.
            copy_rows(out, (d * mloc, m), &chunk, (0, mloc), mloc, pg);
            self.wk.cx.give(chunk);
        }
        fft_in_place(&*plan.ffts.forward::<T>(m), out, &mut self.wk.cx, st);
        Ok(())
    }
}
