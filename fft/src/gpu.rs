//! Device memory for the FMM executor on a CUDA handle: the level arrays are tensorblas
//! [`DeviceBuffer`]s, the GEMMs run on the handle (cuBLAS), the rectangular copies are 2-D
//! device copies ([`DeviceBuffer::copy_rows_from`] and friends), the final M-point FFTs are one
//! batched cuFFT plan (cudarc, loaded at run time) on the handle's stream, and the fabric's
//! messages are staged through host memory (so every fabric, in-process or MPI, carries them).
//!
//! The executor is the same code as on the CPU (`fmm.rs` over [`Mem`]); what is GPU-specific
//! is only this file. Not yet run on a GPU (none was lent to the sessions that wrote it): the
//! tests in `tests/gpu.rs` compare it with the CPU run and skip without a GPU.
#![allow(unsafe_code)]

use crate::fmm::Pool;
use crate::mem::{At, Mem};
use crate::plan::{OpsOn, Plan};
use crate::{DeviceStats, FftError, Precision, Real};
use num_complex::Complex;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;
use tensorblas::{DeviceBuffer, Handle, Rows, StridedMut, StridedRef};

/// One device's work arrays on a GPU, kept in the plan between transforms (see `Plan::work`).
#[derive(Default)]
pub(crate) struct DevWork<T: Real> {
    /// The GPU they live on (`Handle::device_name`); a transform on another GPU drops them.
    gpu: String,
    bufs: Vec<DeviceBuffer<T>>,
    ops: Option<Arc<OpsOn<DeviceBuffer<T>>>>,
    re: Pool<T>,
    cx: Pool<Complex<T>>,
}

/// Device memory of a CUDA handle.
pub(crate) struct DevMem<'h, T: Real> {
    h: &'h Handle,
    wk: DevWork<T>,
}

impl<'h, T: Real> DevMem<'h, T> {
    /// Device `g`'s memory on `h`'s GPU, with its work arrays from `plan` when they are on that
    /// GPU (given back by [`DevMem::done`]).
    pub(crate) fn new(h: &'h Handle, plan: &Plan, g: usize) -> Self {
        let gpu = h.device_name().unwrap_or_default();
        let mut wk: DevWork<T> = plan.work.take(g);
        if wk.gpu != gpu {
            wk = DevWork {
                gpu,
                ..DevWork::default()
            };
        }
        DevMem { h, wk }
    }

    /// Puts the work arrays back into `plan` for the next transform.
    pub(crate) fn done(self, plan: &Plan, g: usize) {
        plan.work.put(g, self.wk);
    }
}

fn rows((offset, pitch): At) -> Rows {
    Rows::new(offset, pitch)
}

impl<T: Real> Mem<T> for DevMem<'_, T> {
    type Arr = DeviceBuffer<T>;

    fn take(&mut self, len: usize) -> Result<DeviceBuffer<T>, FftError> {
        let best = (0..self.wk.bufs.len())
            .filter(|&i| self.wk.bufs[i].len() >= len)
            .min_by_key(|&i| self.wk.bufs[i].len());
        match best {
            Some(i) => Ok(self.wk.bufs.swap_remove(i)),
            None => Ok(self.h.device_zeros(len.max(1))?),
        }
    }

    fn take_zeroed(&mut self, len: usize) -> Result<DeviceBuffer<T>, FftError> {
        let mut b = self.take(len)?;
        b.fill_zero()?;
        Ok(b)
    }

    fn give(&mut self, a: DeviceBuffer<T>) {
        self.wk.bufs.push(a);
    }

    fn ops(&mut self, plan: &Plan) -> Result<Arc<OpsOn<DeviceBuffer<T>>>, FftError> {
        if let Some(o) = &self.wk.ops {
            return Ok(o.clone());
        }
        let o = Arc::new(plan.ops::<T>().map(|v| self.h.to_device(v))?);
        self.wk.ops = Some(o.clone());
        Ok(o)
    }

    fn view(a: &DeviceBuffer<T>, off: usize, ld: usize, bs: usize) -> StridedRef<'_, T> {
        StridedRef::device(a, off, 1, ld as isize, bs as isize)
    }

    fn view_mut(a: &mut DeviceBuffer<T>, off: usize, ld: usize, bs: usize) -> StridedMut<'_, T> {
        StridedMut::device(a, off, 1, ld as isize, bs as isize)
    }

    fn copy(
        &mut self,
        dst: &mut DeviceBuffer<T>,
        d: At,
        src: &DeviceBuffer<T>,
        s: At,
        width: usize,
        n: usize,
    ) -> Result<(), FftError> {
        Ok(dst.copy_rows_from(rows(d), src, rows(s), width, n)?)
    }

    fn copy_within(&mut self, a: &mut DeviceBuffer<T>, d: At, s: At, width: usize, n: usize) -> Result<(), FftError> {
        Ok(a.copy_rows_within(rows(d), rows(s), width, n)?)
    }

    fn download(
        &mut self,
        src: &DeviceBuffer<T>,
        s: At,
        width: usize,
        n: usize,
        out: &mut Vec<T>,
    ) -> Result<(), FftError> {
        let start = out.len();
        out.resize(start + width * n, <T as tensorblas::Scalar>::zero());
        Ok(src.download_rows(rows(s), width, n, &mut out[start..])?)
    }

    fn upload(&mut self, dst: &mut DeviceBuffer<T>, d: At, width: usize, n: usize, src: &[T]) -> Result<(), FftError> {
        Ok(dst.upload_rows(rows(d), width, n, src)?)
    }

    fn read<R>(&mut self, a: &DeviceBuffer<T>, range: Range<usize>, f: impl FnOnce(&[T]) -> R) -> Result<R, FftError> {
        let mut host = self.wk.re.take_empty(range.len());
        self.download(a, (range.start, range.len()), range.len(), 1, &mut host)?;
        let r = f(&host);
        self.wk.re.give(host);
        Ok(r)
    }

    fn write(
        &mut self,
        a: &mut DeviceBuffer<T>,
        range: Range<usize>,
        f: impl FnOnce(&mut [T]),
    ) -> Result<(), FftError> {
        let zero = <T as tensorblas::Scalar>::zero();
        let mut host = self.wk.re.take(range.len(), zero, zero);
        f(&mut host);
        let r = a.upload_rows(Rows::new(range.start, range.len()), range.len(), 1, &host);
        self.wk.re.give(host);
        Ok(r?)
    }

    fn host_pools(&mut self) -> (&mut Pool<T>, &mut Pool<Complex<T>>) {
        (&mut self.wk.re, &mut self.wk.cx)
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
        // The complex block as interleaved reals: row q_loc is 2M reals; device d's part of it
        // starts at 2·d·Mloc.
        let mut blk = self.take(2 * out.len())?;
        for (d, chunk) in recv.into_iter().enumerate() {
            blk.upload_rows(
                Rows::new(2 * d * mloc, 2 * m),
                2 * mloc,
                pg,
                bytemuck::cast_slice(&chunk),
            )?;
            self.wk.cx.give(chunk);
        }
        let t = Instant::now();
        cufft_forward::<T>(self.h, &mut blk, m, pg)?;
        self.h.synchronize()?;
        st.fft_secs += t.elapsed().as_secs_f64();
        let host: &mut [T] = bytemuck::cast_slice_mut(out);
        blk.download_rows(Rows::new(0, host.len()), host.len(), 1, host)?;
        self.give(blk);
        Ok(())
    }
}

/// `batch` forward FFTs of length `m` in place on `data` (interleaved complex, rows of m points
/// one after another), with cuFFT on `h`'s context and stream. The plan is made per call.
fn cufft_forward<T: Real>(h: &Handle, data: &mut DeviceBuffer<T>, m: usize, batch: usize) -> Result<(), FftError> {
    use cudarc::cufft::{result, sys};
    let fail = |what: &str, e: result::CufftError| {
        FftError::Blas(tensorblas::Error::Execution(format!("cuFFT {what} failed: {e:?}")))
    };
    // SAFETY: only tries to dlopen libcufft by its candidate names.
    if !unsafe { sys::is_culib_present() } {
        return Err(FftError::Blas(tensorblas::Error::BackendUnavailable(
            "cuFFT (libcufft.so.12) was not found: install CUDA's cuFFT (e.g. pip install nvidia-cufft) and put its \
             lib directory on LD_LIBRARY_PATH"
                .into(),
        )));
    }
    let too_big =
        |v: usize| FftError::InvalidInput(format!("cuFFT: {v} exceeds the 32-bit sizes of cufftMakePlanMany"));
    let n32 = i32::try_from(m).map_err(|_| too_big(m))?;
    let b32 = i32::try_from(batch).map_err(|_| too_big(batch))?;
    if data.len() < 2 * m * batch {
        return Err(FftError::InvalidInput(format!(
            "cuFFT: buffer of {} reals is smaller than {batch} x {m} complex points",
            data.len()
        )));
    }
    let ptr = data.as_mut_ptr();
    h.with_cuda_context(|stream| -> Result<(), FftError> {
        let plan = result::create().map_err(|e| fail("cufftCreate", e))?;
        let ty = match T::PRECISION {
            Precision::F32 => sys::cufftType::CUFFT_C2C,
            Precision::F64 => sys::cufftType::CUFFT_Z2Z,
        };
        let mut n = [n32];
        // SAFETY: `plan` is live; n is readable; the embeds are NULL (contiguous rows of m
        // points, batch of them); the stream is the handle's (its context is current); the
        // buffer holds batch·m complex points (checked above) and stays borrowed until the
        // caller synchronises; the plan is destroyed on every path.
        let run = unsafe {
            (|| {
                result::make_plan_many(
                    plan,
                    1,
                    n.as_mut_ptr(),
                    std::ptr::null_mut(),
                    1,
                    n32,
                    std::ptr::null_mut(),
                    1,
                    n32,
                    ty,
                    b32,
                )
                .map_err(|e| fail("cufftMakePlanMany", e))?;
                result::set_stream(plan, stream as sys::cudaStream_t).map_err(|e| fail("cufftSetStream", e))?;
                match T::PRECISION {
                    Precision::F32 => {
                        result::exec_c2c(plan, ptr as *mut sys::cufftComplex, ptr as *mut sys::cufftComplex, -1)
                    }
                    Precision::F64 => result::exec_z2z(
                        plan,
                        ptr as *mut sys::cufftDoubleComplex,
                        ptr as *mut sys::cufftDoubleComplex,
                        -1,
                    ),
                }
                .map_err(|e| fail("cufftExec", e))
            })()
        };
        // SAFETY: waits for the queued FFT on the handle's stream (its context is current), then
        // destroys the plan made above, once.
        let waited = unsafe { cudarc::driver::sys::cuStreamSynchronize(stream as cudarc::driver::sys::CUstream) };
        let destroyed = unsafe { result::destroy(plan) }.map_err(|e| fail("cufftDestroy", e));
        run?;
        if waited != cudarc::driver::sys::CUresult::CUDA_SUCCESS {
            return Err(FftError::Blas(tensorblas::Error::Execution(format!(
                "cuFFT execution failed: {waited:?}"
            ))));
        }
        destroyed
    })?
}
