//! Device memory for CUDA handles: [`DeviceBuffer`], [`Rows`], and the kernel compiler check.
//!
//! A CUDA [`Handle`](crate::Handle) (from [`Handle::cuda`](crate::Handle::cuda)) takes device memory: allocate a [`DeviceBuffer`],
//! copy host data in and out, and pass views of it ([`StridedRef::device`](crate::StridedRef::device),
//! [`TensorRef::device`](crate::TensorRef::device), ...) to the same methods the CPU uses. Host slices given to a CUDA
//! handle (and device views given to a CPU handle) are rejected with an error naming the
//! argument. Calls on a CUDA handle are queued on its stream and return before the GPU is done;
//! copies back to the host ([`DeviceBuffer::download`], [`DeviceBuffer::to_vec`]) and
//! [`Handle::synchronize`](crate::Handle::synchronize) wait for them.
//!
//! ```
//! use tensorblas::{Handle, Op, StridedMut, StridedRef};
//! // Without a GPU (or without CUDA's libraries) this is BackendUnavailable, never a panic.
//! let h = match Handle::cuda(0) {
//!     Ok(h) => h,
//!     Err(e) => { println!("no GPU: {e}"); return Ok(()); }
//! };
//! let a = h.to_device(&[1.0f32, 2.0, 3.0, 4.0])?; // [[1, 3], [2, 4]], column-major
//! let mut c = h.device_zeros::<f32>(4)?;
//! h.gemm_strided_batched_ex(Op::T, Op::N, 2, 2, 2, 1.0,
//!     StridedRef::device(&a, 0, 1, 2, 0), StridedRef::device(&a, 0, 1, 2, 0),
//!     0.0, StridedMut::device(&mut c, 0, 1, 2, 0), 1)?;
//! assert_eq!(c.to_vec()?, [5.0, 11.0, 11.0, 25.0]);
//! # Ok::<(), tensorblas::Error>(())
//! ```

use crate::backend::cuda::{self, End, Gpu};
pub use crate::backend::GpuEngine;
use crate::error::{Error, Result};
use crate::scalar::{DataType, Scalar};
use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::Arc;

/// `len` elements of device memory on a CUDA handle's GPU, freed on drop.
pub struct DeviceBuffer<T: Scalar> {
    gpu: Arc<Gpu>,
    ptr: u64,
    len: usize,
    _t: PhantomData<T>,
}

// SAFETY: the buffer is an owned device allocation; `Gpu` is Send + Sync.
unsafe impl<T: Scalar> Send for DeviceBuffer<T> {}
// SAFETY: shared references only read the device address and length.
unsafe impl<T: Scalar> Sync for DeviceBuffer<T> {}

impl<T: Scalar> std::fmt::Debug for DeviceBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DeviceBuffer<{:?}>({:#x}, {} elements)",
            T::DATATYPE,
            self.ptr,
            self.len
        )
    }
}

impl<T: Scalar> DeviceBuffer<T> {
    /// Takes ownership of `len` elements at device address `ptr`, allocated on `gpu` (freed on
    /// drop).
    pub(crate) fn from_alloc(gpu: Arc<Gpu>, ptr: u64, len: usize) -> Self {
        DeviceBuffer {
            gpu,
            ptr,
            len,
            _t: PhantomData,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device address of element 0 (for passing to CUDA code or the C ABI).
    pub fn as_ptr(&self) -> *const T {
        self.ptr as *const T
    }

    /// The device address of element 0, writable.
    pub fn as_mut_ptr(&mut self) -> *mut T {
        self.ptr as *mut T
    }

    fn check_len(&self, n: usize, what: &'static str) -> Result<()> {
        if n != self.len {
            return Err(Error::invalid(
                what,
                2,
                "host",
                format!("must have the buffer's length {}, got {n}", self.len),
            ));
        }
        Ok(())
    }

    /// Copies `host` (of exactly `len()` elements) into the buffer, after the work queued on the
    /// handle's stream; returns when done.
    pub fn upload(&mut self, host: &[T]) -> Result<()> {
        self.check_len(host.len(), "DeviceBuffer::upload")?;
        if self.len == 0 {
            return Ok(());
        }
        // SAFETY: `host` is a live slice of exactly the copied size.
        unsafe {
            self.gpu.htod(
                self.ptr,
                host.as_ptr() as *const c_void,
                std::mem::size_of_val(host),
                "DeviceBuffer::upload",
            )
        }
    }

    /// Copies the buffer into `host` (of exactly `len()` elements) once the work queued on the
    /// handle's stream is done.
    pub fn download(&self, host: &mut [T]) -> Result<()> {
        self.check_len(host.len(), "DeviceBuffer::download")?;
        if self.len == 0 {
            return Ok(());
        }
        // SAFETY: `host` is a live, exclusively borrowed slice of exactly the copied size.
        unsafe {
            self.gpu.dtoh(
                host.as_mut_ptr() as *mut c_void,
                self.ptr,
                std::mem::size_of_val(host),
                "DeviceBuffer::download",
            )
        }
    }

    /// The buffer's contents as a host vector (waits for queued work).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        let mut v = vec![T::zero(); self.len];
        self.download(&mut v)?;
        Ok(v)
    }
}

/// Where a block of rows lies in a buffer: row `r` (of `rows`) is the `width` elements from
/// `offset + r * pitch`. The rectangular copies of [`DeviceBuffer`] take one per end (in
/// elements; `cuMemcpy2D` underneath).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    /// Element index of row 0's first element.
    pub offset: usize,
    /// Elements between the starts of consecutive rows (at least `width` when there are two
    /// rows or more).
    pub pitch: usize,
}

impl Rows {
    /// Rows starting at `offset`, `pitch` elements apart.
    pub fn new(offset: usize, pitch: usize) -> Rows {
        Rows { offset, pitch }
    }

    /// Checks that `rows` rows of `width` elements fit in `len` elements and do not overlap.
    pub(crate) fn check(
        self,
        len: usize,
        width: usize,
        rows: usize,
        f: &'static str,
        pos: i32,
        name: &'static str,
    ) -> Result<()> {
        if rows == 0 || width == 0 {
            return Ok(());
        }
        if rows > 1 && self.pitch < width {
            return Err(Error::invalid(
                f,
                pos,
                name,
                format!(
                    "pitch {} is less than the width {width}: rows would overlap",
                    self.pitch
                ),
            ));
        }
        let end = (rows - 1)
            .checked_mul(self.pitch)
            .and_then(|v| v.checked_add(self.offset))
            .and_then(|v| v.checked_add(width));
        match end {
            Some(e) if e <= len => Ok(()),
            _ => Err(Error::invalid(
                f,
                pos,
                name,
                format!(
                    "{rows} rows of {width} from offset {} with pitch {} run past the buffer's {len} elements",
                    self.offset, self.pitch
                ),
            )),
        }
    }

    /// Whether two row blocks of the same shape may share an element: exact when the pitches
    /// are equal, else whether their spans intersect.
    pub(crate) fn overlaps(self, other: Rows, width: usize, rows: usize) -> bool {
        if rows == 0 || width == 0 {
            return false;
        }
        let span = |r: Rows| (r.offset, r.offset + (rows - 1) * r.pitch + width);
        let ((a0, a1), (b0, b1)) = (span(self), span(other));
        if a1 <= b0 || b1 <= a0 {
            return false;
        }
        if self.pitch != other.pitch || rows == 1 || self.pitch == 0 {
            return true;
        }
        // Row i of self meets row j of other iff |diff - k·pitch| < width for k = j - i, |k| < rows.
        let (p, diff) = (self.pitch as i128, self.offset as i128 - other.offset as i128);
        let lim = rows as i128 - 1;
        let k0 = diff.div_euclid(p);
        (k0 - 1..=k0 + 1)
            .filter(|k| k.abs() <= lim)
            .any(|k| (diff - k * p).abs() < width as i128)
    }
}

/// A host slice of `len` elements must hold `rows` packed rows of `width` (argument 4, `host`).
fn check_packed(f: &'static str, len: usize, width: usize, rows: usize) -> Result<()> {
    if Some(len) == width.checked_mul(rows) {
        Ok(())
    } else {
        Err(Error::invalid(
            f,
            4,
            "host",
            format!("must hold {rows} x {width} elements, got {len}"),
        ))
    }
}

impl<T: Scalar> DeviceBuffer<T> {
    fn end(&self, r: Rows) -> End {
        let sz = std::mem::size_of::<T>();
        End::Device(self.ptr + (r.offset * sz) as u64, r.pitch * sz)
    }

    /// Copies `rows` rows of `width` elements of `src` (at `s`) into this buffer (at `d`),
    /// queued on the handle's stream. Both buffers must belong to the same GPU.
    pub fn copy_rows_from(&mut self, d: Rows, src: &DeviceBuffer<T>, s: Rows, width: usize, rows: usize) -> Result<()> {
        const F: &str = "DeviceBuffer::copy_rows_from";
        d.check(self.len, width, rows, F, 1, "d")?;
        s.check(src.len, width, rows, F, 3, "s")?;
        if self.gpu.ordinal() != src.gpu.ordinal() {
            return Err(Error::invalid(F, 2, "src", "must be a buffer of the same GPU"));
        }
        let sz = std::mem::size_of::<T>();
        // SAFETY: both ends were checked against their buffers; no host memory is involved.
        unsafe { self.gpu.copy_2d(self.end(d), src.end(s), width * sz, rows, F) }
    }

    /// Copies rows within this buffer (from `s` to `d`), queued on the handle's stream; the two
    /// blocks must not overlap.
    pub fn copy_rows_within(&mut self, d: Rows, s: Rows, width: usize, rows: usize) -> Result<()> {
        const F: &str = "DeviceBuffer::copy_rows_within";
        d.check(self.len, width, rows, F, 1, "d")?;
        s.check(self.len, width, rows, F, 2, "s")?;
        if d.overlaps(s, width, rows) {
            return Err(Error::invalid(F, 2, "s", "must not overlap the destination rows"));
        }
        let sz = std::mem::size_of::<T>();
        // SAFETY: both ends were checked against this buffer and do not overlap.
        unsafe { self.gpu.copy_2d(self.end(d), self.end(s), width * sz, rows, F) }
    }

    /// Writes `host` (`rows` rows of `width` elements, packed) into the rows `d` of this buffer;
    /// returns when done.
    pub fn upload_rows(&mut self, d: Rows, width: usize, rows: usize, host: &[T]) -> Result<()> {
        const F: &str = "DeviceBuffer::upload_rows";
        d.check(self.len, width, rows, F, 1, "d")?;
        check_packed(F, host.len(), width, rows)?;
        let sz = std::mem::size_of::<T>();
        let src = End::Host(host.as_ptr() as *const c_void, width * sz);
        // SAFETY: `host` is a live slice of exactly the rows read; the device end was checked.
        unsafe { self.gpu.copy_2d(self.end(d), src, width * sz, rows, F) }
    }

    /// Reads the rows `s` of this buffer into `host` (`rows` rows of `width` elements, packed)
    /// once the work queued on the handle's stream is done.
    pub fn download_rows(&self, s: Rows, width: usize, rows: usize, host: &mut [T]) -> Result<()> {
        const F: &str = "DeviceBuffer::download_rows";
        s.check(self.len, width, rows, F, 1, "s")?;
        check_packed(F, host.len(), width, rows)?;
        let sz = std::mem::size_of::<T>();
        let dst = End::Host(host.as_mut_ptr() as *const c_void, width * sz);
        // SAFETY: `host` is a live, exclusively borrowed slice of exactly the rows written.
        unsafe { self.gpu.copy_2d(dst, self.end(s), width * sz, rows, F) }
    }

    /// Sets every element to zero (all bits clear), queued on the handle's stream.
    pub fn fill_zero(&mut self) -> Result<()> {
        self.gpu.zero(self.ptr, self.len * std::mem::size_of::<T>())
    }
}

impl<T: Scalar> Drop for DeviceBuffer<T> {
    fn drop(&mut self) {
        let _ = self.gpu.free(self.ptr, "DeviceBuffer::drop", 1);
    }
}

/// The CUDA library files (libcuda, libcublas, libnvrtc, libcufft, libnccl) mapped into this
/// process, from `/proc/self/maps` (empty before any is loaded, and on systems without that
/// file). cudarc tries unversioned names (`libcublas.so`) before versioned ones, so on a machine
/// with two CUDA installs this is how to see which one a run used.
pub fn loaded_cuda_libraries() -> Vec<String> {
    cuda::loaded_cuda_libraries()
}

/// Compiles tensorblas' CUDA kernels (`kernels/gemm.cu`) for element type `dt` to PTX for the
/// virtual architecture `compute_<cc>` (`cc` = 75, 80, 90, ...) with NVRTC. Needs libnvrtc (no
/// GPU): `BackendUnavailable` when it cannot be loaded, `Execution` with the NVRTC log when the
/// source does not compile.
pub fn compile_kernels_ptx(dt: DataType, cc: u32) -> Result<String> {
    cuda::compile_ptx(dt, cc)
}

/// Compiles tensorblas' CUDA kernels for `dt` to a CUBIN for the real architecture `sm_<cc>`
/// (what a CUDA handle loads: no PTX JIT in the driver). Errors as [`compile_kernels_ptx`].
pub fn compile_kernels_cubin(dt: DataType, cc: u32) -> Result<Vec<u8>> {
    cuda::compile_cubin(dt, cc)
}

/// Names of the kernels every compiled module exports.
pub const KERNEL_NAMES: [&str; 2] = ["tblas_gemm_general", "tblas_gemm_small"];

#[cfg(test)]
mod rows_tests {
    use super::Rows;

    #[test]
    fn extents_are_checked() {
        let f = "t";
        assert!(Rows::new(2, 10).check(42, 10, 4, f, 1, "d").is_ok()); // last row ends at 42
        let e = Rows::new(3, 10).check(42, 10, 4, f, 1, "d").unwrap_err().to_string();
        assert!(e.contains("run past the buffer's 42 elements"), "{e}");
        let e = Rows::new(0, 5).check(100, 6, 2, f, 1, "d").unwrap_err().to_string();
        assert!(e.contains("pitch 5 is less than the width 6"), "{e}");
        assert!(Rows::new(0, 0).check(6, 6, 1, f, 1, "d").is_ok()); // one row: pitch unused
        assert!(Rows::new(usize::MAX - 1, 1).check(10, 1, 3, f, 1, "d").is_err()); // overflow
        assert!(Rows::new(50, 1).check(10, 0, 3, f, 1, "d").is_ok()); // nothing copied
    }

    #[test]
    fn overlap_matches_brute_force() {
        let brute = |a: Rows, b: Rows, w: usize, rows: usize| {
            let cells = |r: Rows| (0..rows).flat_map(move |i| (0..w).map(move |j| r.offset + i * r.pitch + j));
            let sa: std::collections::HashSet<usize> = cells(a).collect();
            cells(b).any(|c| sa.contains(&c))
        };
        for pitch in 1..7 {
            for w in 1..=pitch {
                for rows in 1..5 {
                    for ao in 0..20 {
                        for bo in 0..20 {
                            let (a, b) = (Rows::new(ao, pitch), Rows::new(bo, pitch));
                            assert_eq!(
                                a.overlaps(b, w, rows),
                                brute(a, b, w, rows),
                                "{a:?} {b:?} w={w} rows={rows}"
                            );
                        }
                    }
                }
            }
        }
        // Different pitches: disjoint spans never overlap; intersecting spans are refused.
        assert!(!Rows::new(0, 4).overlaps(Rows::new(20, 5), 2, 3));
        assert!(Rows::new(0, 4).overlaps(Rows::new(2, 5), 2, 3));
    }
}
