//! Device memory for the FMM executor on a CUDA handle: the level arrays are tensorblas
//! [`DeviceBuffer`]s, the GEMMs run on the handle (cuBLAS), the rectangular copies are 2-D
//! device copies ([`DeviceBuffer::copy_rows_from`] and friends), the final M-point FFTs are one
//! batched cuFFT plan (cudarc, loaded at run time) on the handle's stream, and the fabric's
//! messages are staged through host memory (so every fabric, in-process or MPI, carries them).
//!
//! The executor is the same code as on the CPU (`fmm.rs` over [`Mem`]); what is GPU-specific
//! is only this file, and within it only [`Cuda`] and `cufft_forward` touch CUDA: [`DevMem`]
//! (pooling, staging, the final FFTs' row layout) is generic over [`Device`], and its unit test
//! runs the whole executor on a host emulation of a device, bit for bit equal to host memory.
//! `tests/gpu.rs` compares it with the CPU run (and skips without a GPU); it passes on an NVIDIA
//! H200 (`benches/results/gpu-nvidia-h200.md`).
#![allow(unsafe_code)]

use crate::mem::{At, HostWork, Mem};
use crate::plan::{OpsOn, Plan};
use crate::work::{DeviceWork, Pool};
use crate::{DeviceStats, FftError, Precision, Real};
use num_complex::Complex;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;
use tensorblas::{DeviceBuffer, Handle, Rows, StridedMut, StridedRef};

/// What [`DevMem`] needs from a GPU: buffers, rectangular copies, GEMM views and batched FFTs.
/// [`Cuda`] is the real one; the unit tests below run [`DevMem`] on a host emulation of it, so
/// that everything in this file but the thin CUDA calls is exercised on every machine.
pub(crate) trait Device<T: Real> {
    /// A device array of `T`.
    type Buf: Send + Sync + 'static;
    /// Names the GPU (arrays kept for one GPU are not reused on another).
    fn name(&self) -> String;
    /// A new array of `len` elements (contents arbitrary).
    fn alloc(&self, len: usize) -> Result<Self::Buf, FftError>;
    /// A new array holding `v`.
    fn to_device(&self, v: &[T]) -> Result<Self::Buf, FftError>;
    fn len(b: &Self::Buf) -> usize;
    fn fill_zero(b: &mut Self::Buf) -> Result<(), FftError>;
    fn view(b: &Self::Buf, off: usize, ld: usize, bs: usize) -> StridedRef<'_, T>;
    fn view_mut(b: &mut Self::Buf, off: usize, ld: usize, bs: usize) -> StridedMut<'_, T>;
    fn copy(dst: &mut Self::Buf, d: At, src: &Self::Buf, s: At, width: usize, rows: usize) -> Result<(), FftError>;
    fn copy_within(b: &mut Self::Buf, d: At, s: At, width: usize, rows: usize) -> Result<(), FftError>;
    /// `src` (`rows` packed rows of `width`) into the rows `d` of `dst`.
    fn upload(dst: &mut Self::Buf, d: At, width: usize, rows: usize, src: &[T]) -> Result<(), FftError>;
    /// The rows `s` of `src` into `out` (`rows` packed rows of `width`).
    fn download(src: &Self::Buf, s: At, width: usize, rows: usize, out: &mut [T]) -> Result<(), FftError>;
    /// `batch` forward FFTs of length `m` in place on `b` (interleaved complex, rows of m points
    /// one after another), finished before returning.
    fn fft_forward(&self, b: &mut Self::Buf, m: usize, batch: usize) -> Result<(), FftError>;
}

/// The GPU of a CUDA handle.
pub(crate) struct Cuda<'h>(pub(crate) &'h Handle);

fn rows((offset, pitch): At) -> Rows {
    Rows::new(offset, pitch)
}

impl<T: Real> Device<T> for Cuda<'_> {
    type Buf = DeviceBuffer<T>;
    fn name(&self) -> String {
        self.0.device_name().unwrap_or_default()
    }
    fn alloc(&self, len: usize) -> Result<DeviceBuffer<T>, FftError> {
        Ok(self.0.device_zeros(len)?)
    }
    fn to_device(&self, v: &[T]) -> Result<DeviceBuffer<T>, FftError> {
        Ok(self.0.to_device(v)?)
    }
    fn len(b: &DeviceBuffer<T>) -> usize {
        b.len()
    }
    fn fill_zero(b: &mut DeviceBuffer<T>) -> Result<(), FftError> {
        Ok(b.fill_zero()?)
    }
    fn view(b: &DeviceBuffer<T>, off: usize, ld: usize, bs: usize) -> StridedRef<'_, T> {
        StridedRef::device(b, off, 1, ld as isize, bs as isize)
    }
    fn view_mut(b: &mut DeviceBuffer<T>, off: usize, ld: usize, bs: usize) -> StridedMut<'_, T> {
        StridedMut::device(b, off, 1, ld as isize, bs as isize)
    }
    fn copy(
        dst: &mut DeviceBuffer<T>,
        d: At,
        src: &DeviceBuffer<T>,
        s: At,
        w: usize,
        n: usize,
    ) -> Result<(), FftError> {
        Ok(dst.copy_rows_from(rows(d), src, rows(s), w, n)?)
    }
    fn copy_within(b: &mut DeviceBuffer<T>, d: At, s: At, w: usize, n: usize) -> Result<(), FftError> {
        Ok(b.copy_rows_within(rows(d), rows(s), w, n)?)
    }
    fn upload(dst: &mut DeviceBuffer<T>, d: At, w: usize, n: usize, src: &[T]) -> Result<(), FftError> {
        Ok(dst.upload_rows(rows(d), w, n, src)?)
    }
    fn download(src: &DeviceBuffer<T>, s: At, w: usize, n: usize, out: &mut [T]) -> Result<(), FftError> {
        Ok(src.download_rows(rows(s), w, n, out)?)
    }
    fn fft_forward(&self, b: &mut DeviceBuffer<T>, m: usize, batch: usize) -> Result<(), FftError> {
        cufft_forward::<T>(self.0, b, m, batch)
    }
}

/// One device's work arrays on a GPU, kept in the caller's [`crate::Workspace`] between transforms.
pub(crate) struct DevWork<T: Real, B> {
    /// The GPU they live on ([`Device::name`]); a transform on another GPU drops them.
    gpu: String,
    bufs: Vec<B>,
    ops: Option<Arc<OpsOn<B>>>,
    /// Host arrays for staging and messages.
    host: HostWork<T>,
}

impl<T: Real, B> Default for DevWork<T, B> {
    fn default() -> Self {
        DevWork {
            gpu: String::new(),
            bufs: Vec::new(),
            ops: None,
            host: HostWork::default(),
        }
    }
}

/// Device memory: the FMM executor's arrays on a [`Device`].
pub(crate) struct DevMem<T: Real, D: Device<T>> {
    dev: D,
    wk: DevWork<T, D::Buf>,
}

impl<T: Real, D: Device<T>> DevMem<T, D> {
    /// A device's memory on `dev`, with its work arrays from its workspace slot `slot` when
    /// they are on that GPU (given back by [`Mem::done`]).
    pub(crate) fn new(dev: D, slot: &mut DeviceWork) -> Self {
        let gpu = dev.name();
        let mut wk: DevWork<T, D::Buf> = slot.take();
        if wk.gpu != gpu {
            wk = DevWork {
                gpu,
                ..DevWork::default()
            };
        }
        DevMem { dev, wk }
    }
}

impl<T: Real, D: Device<T>> Mem<T> for DevMem<T, D> {
    type Arr = D::Buf;

    fn take(&mut self, len: usize) -> Result<D::Buf, FftError> {
        let best = (0..self.wk.bufs.len())
            .filter(|&i| D::len(&self.wk.bufs[i]) >= len)
            .min_by_key(|&i| D::len(&self.wk.bufs[i]));
        match best {
            Some(i) => Ok(self.wk.bufs.swap_remove(i)),
            None => self.dev.alloc(len.max(1)),
        }
    }

    fn take_zeroed(&mut self, len: usize) -> Result<D::Buf, FftError> {
        let mut b = self.take(len)?;
        D::fill_zero(&mut b)?;
        Ok(b)
    }

    fn give(&mut self, a: D::Buf) {
        self.wk.bufs.push(a);
    }

    fn ops(&mut self, plan: &Plan) -> Result<Arc<OpsOn<D::Buf>>, FftError> {
        if let Some(o) = &self.wk.ops {
            return Ok(o.clone());
        }
        let o = Arc::new(plan.ops::<T>().map(|v| self.dev.to_device(v))?);
        self.wk.ops = Some(o.clone());
        Ok(o)
    }

    fn view(a: &D::Buf, off: usize, ld: usize, bs: usize) -> StridedRef<'_, T> {
        D::view(a, off, ld, bs)
    }

    fn view_mut(a: &mut D::Buf, off: usize, ld: usize, bs: usize) -> StridedMut<'_, T> {
        D::view_mut(a, off, ld, bs)
    }

    fn copy(&mut self, dst: &mut D::Buf, d: At, src: &D::Buf, s: At, width: usize, n: usize) -> Result<(), FftError> {
        D::copy(dst, d, src, s, width, n)
    }

    fn copy_within(&mut self, a: &mut D::Buf, d: At, s: At, width: usize, n: usize) -> Result<(), FftError> {
        D::copy_within(a, d, s, width, n)
    }

    fn download(&mut self, src: &D::Buf, s: At, width: usize, n: usize, out: &mut Vec<T>) -> Result<(), FftError> {
        let start = out.len();
        out.resize(start + width * n, <T as tensorblas::Scalar>::zero());
        D::download(src, s, width, n, &mut out[start..])
    }

    fn upload(&mut self, dst: &mut D::Buf, d: At, width: usize, n: usize, src: &[T]) -> Result<(), FftError> {
        D::upload(dst, d, width, n, src)
    }

    fn read<R>(&mut self, a: &D::Buf, range: Range<usize>, f: impl FnOnce(&[T]) -> R) -> Result<R, FftError> {
        let mut host = self.wk.host.pools().0.take_empty(range.len());
        let r = self
            .download(a, (range.start, range.len()), range.len(), 1, &mut host)
            .map(|()| f(&host));
        self.wk.host.pools().0.give(host);
        r
    }

    fn write(&mut self, a: &mut D::Buf, range: Range<usize>, f: impl FnOnce(&mut [T])) -> Result<(), FftError> {
        let zero = <T as tensorblas::Scalar>::zero();
        let (re, _) = self.wk.host.pools();
        let mut host = re.take(range.len(), zero, zero);
        f(&mut host);
        let r = D::upload(a, (range.start, range.len()), range.len(), 1, &host);
        re.give(host);
        r
    }

    fn host_pools(&mut self) -> (&mut Pool<T>, &mut Pool<Complex<T>>) {
        self.wk.host.pools()
    }

    fn done(self, slot: &mut DeviceWork) {
        slot.put(self.wk);
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
        let mut r = Ok(());
        for (d, chunk) in recv.into_iter().enumerate() {
            if r.is_ok() {
                r = D::upload(
                    &mut blk,
                    (2 * d * mloc, 2 * m),
                    2 * mloc,
                    pg,
                    bytemuck::cast_slice(&chunk),
                );
            }
            self.wk.host.pools().1.give(chunk);
        }
        let r = r.and_then(|()| {
            let t = Instant::now();
            self.dev.fft_forward(&mut blk, m, pg)?;
            st.fft_secs += t.elapsed().as_secs_f64();
            let host: &mut [T] = bytemuck::cast_slice_mut(out);
            D::download(&blk, (0, host.len()), host.len(), 1, host)
        });
        self.give(blk);
        r
    }
}

/// `batch` forward FFTs of length `m` in place on `data` (interleaved complex, rows of m points
/// one after another), with cuFFT on `h`'s context and stream; returns when they are done. The
/// plan is made per call.
fn cufft_forward<T: Real>(h: &Handle, data: &mut DeviceBuffer<T>, m: usize, batch: usize) -> Result<(), FftError> {
    use cudarc::cufft::{result, sys};
    let fail = |what: &str, e: result::CufftError| {
        FftError::Blas(tensorblas::Error::Execution(format!("cuFFT {what} failed: {e:?}")))
    };
    // SAFETY: only tries to dlopen libcufft by its candidate names (once per process).
    static PRESENT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*PRESENT.get_or_init(|| unsafe { sys::is_culib_present() }) {
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
        // stream is waited for below; the plan is destroyed on every path.
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

#[cfg(test)]
mod tests {
    //! [`DevMem`] on a host emulation of a GPU: fresh buffers hold NaN (as device memory holds
    //! garbage), every rectangular copy is checked as `Rows::check` and the driver would check
    //! it, and the FFT is the plan's rustfft. The FMM executor over it must give bit for bit what
    //! it gives over host memory.
    use super::*;
    use crate::fabric::InProcess;
    use crate::fmm;
    use crate::mem::{copy_rows, copy_rows_within, HostMem};
    use crate::{PlanSpec, Precision, Workspace};
    use num_complex::Complex64;

    struct Emu<T: Real>(Arc<dyn rustfft::Fft<T>>);

    fn check(len: usize, (off, pitch): At, w: usize, n: usize, what: &str) -> Result<(), FftError> {
        let ok = n == 0 || w == 0 || ((n == 1 || pitch >= w) && off + (n - 1) * pitch + w <= len);
        if ok {
            Ok(())
        } else {
            Err(FftError::InvalidInput(format!(
                "{what}: {n} rows of {w} at {off} pitch {pitch} do not fit {len}"
            )))
        }
    }

    impl<T: Real> Device<T> for Emu<T> {
        type Buf = Vec<T>;
        fn name(&self) -> String {
            "emulated GPU".into()
        }
        fn alloc(&self, len: usize) -> Result<Vec<T>, FftError> {
            Ok(vec![crate::work::nan(); len])
        }
        fn to_device(&self, v: &[T]) -> Result<Vec<T>, FftError> {
            Ok(v.to_vec())
        }
        fn len(b: &Vec<T>) -> usize {
            b.len()
        }
        fn fill_zero(b: &mut Vec<T>) -> Result<(), FftError> {
            b.fill(<T as tensorblas::Scalar>::zero());
            Ok(())
        }
        fn view(b: &Vec<T>, off: usize, ld: usize, bs: usize) -> StridedRef<'_, T> {
            StridedRef::new(b, off, 1, ld as isize, bs as isize)
        }
        fn view_mut(b: &mut Vec<T>, off: usize, ld: usize, bs: usize) -> StridedMut<'_, T> {
            StridedMut::new(b, off, 1, ld as isize, bs as isize)
        }
        fn copy(dst: &mut Vec<T>, d: At, src: &Vec<T>, s: At, w: usize, n: usize) -> Result<(), FftError> {
            check(dst.len(), d, w, n, "copy dst")?;
            check(src.len(), s, w, n, "copy src")?;
            copy_rows(dst, d, src, s, w, n);
            Ok(())
        }
        fn copy_within(b: &mut Vec<T>, d: At, s: At, w: usize, n: usize) -> Result<(), FftError> {
            check(b.len(), d, w, n, "copy_within dst")?;
            check(b.len(), s, w, n, "copy_within src")?;
            let cells = |(o, p): At| (0..n).flat_map(move |r| o + r * p..o + r * p + w);
            let src: std::collections::HashSet<usize> = cells(s).collect();
            if cells(d).any(|c| src.contains(&c)) {
                return Err(FftError::InvalidInput("copy_within: overlapping rows".into()));
            }
            copy_rows_within(b, d, s, w, n);
            Ok(())
        }
        fn upload(dst: &mut Vec<T>, d: At, w: usize, n: usize, src: &[T]) -> Result<(), FftError> {
            check(dst.len(), d, w, n, "upload")?;
            assert_eq!(src.len(), w * n, "upload: host slice");
            copy_rows(dst, d, src, (0, w), w, n);
            Ok(())
        }
        fn download(src: &Vec<T>, s: At, w: usize, n: usize, out: &mut [T]) -> Result<(), FftError> {
            check(src.len(), s, w, n, "download")?;
            assert_eq!(out.len(), w * n, "download: host slice");
            copy_rows(out, (0, w), src, s, w, n);
            Ok(())
        }
        fn fft_forward(&self, b: &mut Vec<T>, m: usize, batch: usize) -> Result<(), FftError> {
            check(b.len(), (0, 2 * m), 2 * m, batch, "fft")?;
            let cx: &mut [Complex<T>] = bytemuck::cast_slice_mut(&mut b[..2 * m * batch]);
            assert_eq!(self.0.len(), m);
            self.0.process(cx);
            Ok(())
        }
    }

    /// Every device's output of the FMM executor over `mem(g)`, concatenated.
    fn run<T: Real, M: Mem<T>>(
        plan: &Plan,
        x: &[Complex<T>],
        conj_in: bool,
        ws: &mut Workspace,
        mem: impl Fn(&mut DeviceWork) -> M + Sync,
    ) -> Vec<Complex<T>> {
        let g = plan.spec.devices;
        let chunk = x.len() / g;
        let zero = <T as tensorblas::Scalar>::zero();
        let mut out = vec![Complex::new(zero, zero); x.len()];
        let handle = Handle::new().unwrap();
        handle.set_num_threads(1);
        std::thread::scope(|s| {
            for (((fab, part), dst), slot) in InProcess::new(g)
                .into_iter()
                .zip(x.chunks(chunk))
                .zip(out.chunks_mut(chunk))
                .zip(ws.devices_for(plan).iter_mut())
            {
                let (handle, mem) = (&handle, &mem);
                s.spawn(move || {
                    let mut m = mem(slot);
                    let mut st = DeviceStats::default();
                    fmm::device(plan, &fab, handle, &mut m, (part, conj_in), dst, &mut st).unwrap();
                    m.done(slot);
                });
            }
        });
        out
    }

    fn signal<T: Real>(n: usize) -> Vec<Complex<T>> {
        (0..n)
            .map(|i| {
                let v = Complex64::new(
                    ((i * 7919) % 1009) as f64 / 504.5 - 1.0,
                    ((i * 104729) % 997) as f64 / 498.5 - 1.0,
                );
                Complex::new(
                    T::from_c64(Complex64::new(v.re, 0.0)),
                    T::from_c64(Complex64::new(v.im, 0.0)),
                )
            })
            .collect()
    }

    fn same_on_emulated_device<T: Real>(n: usize, p: usize, g: usize, b: usize, q: usize, precision: Precision) {
        let spec = PlanSpec {
            n,
            sections: p,
            devices: g,
            order: q,
            leaf: b,
            precision,
        };
        let plan = Plan::new(&spec).unwrap();
        let x = signal::<T>(n);
        for conj_in in [false, true] {
            let host = run::<T, _>(&plan, &x, conj_in, &mut Workspace::new(), |w| HostMem::<T>::new(w));
            // Twice: the second run reuses the device arrays the first one left in the workspace.
            let mut ws = Workspace::new();
            for pass in 0..2 {
                let dev = run::<T, _>(&plan, &x, conj_in, &mut ws, |w| {
                    DevMem::<T, _>::new(Emu(plan.ffts.forward::<T>(plan.m)), w)
                });
                let same = host
                    .iter()
                    .zip(&dev)
                    .all(|(a, b)| same_bits(a.re, b.re) && same_bits(a.im, b.im));
                assert!(
                    same,
                    "{spec:?} conj_in={conj_in} pass {pass}: device memory differs from host memory"
                );
            }
        }
    }

    /// Bitwise equality of two reals (NaN equal to NaN), for the comparisons above.
    fn same_bits<T: Real>(a: T, b: T) -> bool {
        bytemuck::bytes_of(&a) == bytemuck::bytes_of(&b)
    }

    #[test]
    fn device_memory_gives_bit_for_bit_the_host_result() {
        same_on_emulated_device::<f64>(4096, 4, 1, 16, 16, Precision::F64);
        same_on_emulated_device::<f64>(4096, 4, 2, 16, 16, Precision::F64);
        same_on_emulated_device::<f64>(16384, 8, 8, 16, 16, Precision::F64);
        same_on_emulated_device::<f64>(9216, 6, 2, 24, 16, Precision::F64);
        same_on_emulated_device::<f64>(65536, 16, 4, 32, 16, Precision::F64);
        same_on_emulated_device::<f32>(3 * 4096, 6, 2, 16, 8, Precision::F32);
    }
}
