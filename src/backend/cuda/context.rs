//! The CUDA driver side of a GPU handle: library probing, the device and its primary context,
//! the bound stream and cuBLAS handle, device memory (allocation table, copies) and the device
//! copies of pointer arrays.

use super::kernels;
use super::GpuEngine;
use crate::error::{Error, Result};
use cudarc::cublas::sys as bsys;
use cudarc::driver::sys as dsys;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::{Mutex, MutexGuard};

pub(super) fn drv(what: &str, r: dsys::CUresult) -> Result<()> {
    match r {
        dsys::CUresult::CUDA_SUCCESS => Ok(()),
        dsys::CUresult::CUDA_ERROR_OUT_OF_MEMORY => Err(Error::Alloc(format!("{what}: out of device memory"))),
        e => Err(Error::Execution(format!(
            "{what} failed: {}",
            cudarc::driver::result::DriverError(e)
        ))),
    }
}

pub(super) fn blas(what: &str, r: bsys::cublasStatus_t) -> Result<()> {
    match r {
        bsys::cublasStatus_t::CUBLAS_STATUS_SUCCESS => Ok(()),
        bsys::cublasStatus_t::CUBLAS_STATUS_ALLOC_FAILED => {
            Err(Error::Alloc(format!("{what}: cuBLAS could not allocate")))
        }
        e => Err(Error::Execution(format!("{what} failed: {e:?}"))),
    }
}

/// Checks that the driver and cuBLAS libraries can be loaded; NVRTC is checked when a kernel is
/// first needed and again by [`Gpu::new`].
pub(super) fn probe_libraries() -> Result<()> {
    // SAFETY: only tries to dlopen libcuda by its candidate names.
    if !unsafe { dsys::is_culib_present() } {
        return Err(Error::BackendUnavailable(
            "the CUDA driver library (libcuda.so.1) was not found: no NVIDIA driver on this machine".into(),
        ));
    }
    // SAFETY: only tries to dlopen libcublas by its candidate names.
    if !unsafe { bsys::is_culib_present() } {
        return Err(Error::BackendUnavailable(
            "cuBLAS (libcublas.so.13) was not found: install CUDA 13's cuBLAS (e.g. pip install nvidia-cublas) \
             and put its lib directory on LD_LIBRARY_PATH"
                .into(),
        ));
    }
    kernels::nvrtc_present()
}

/// The cuBLAS this build's bindings were generated for is CUDA 13's: an older cuBLAS found first
/// on the library path (cudarc tries `libcublas.so` before `libcublas.so.13`) is refused, naming
/// the file, instead of being called through mismatched declarations.
pub(super) fn check_cublas_version(version: i32) -> Result<()> {
    if version / 10000 >= 13 {
        return Ok(());
    }
    let file = loaded_cuda_libraries()
        .into_iter()
        .find(|f| f.contains("libcublas.") || f.contains("libcublas-"))
        .unwrap_or_else(|| "libcublas".into());
    Err(Error::BackendUnavailable(format!(
        "the cuBLAS loaded ({file}) is version {}.{}, but this build needs CUDA 13's cuBLAS (libcublas.so.13): put \
         its directory first on LD_LIBRARY_PATH",
        version / 10000,
        version / 100 % 100
    )))
}

/// `13.0` for the installed driver's CUDA version (`?` when the driver does not say).
pub(super) fn driver_version() -> String {
    let mut v = 0;
    // SAFETY: writes one int; the driver library is loaded.
    match unsafe { dsys::cuDriverGetVersion(&mut v) } {
        dsys::CUresult::CUDA_SUCCESS => format!("{}.{}", v / 1000, v % 1000 / 10),
        _ => "?".into(),
    }
}

/// The CUDA library files mapped into this process (libcuda, libcublas, libcublasLt, libnvrtc,
/// libcufft, libnccl), from `/proc/self/maps`; empty where that file does not exist.
pub(crate) fn loaded_cuda_libraries() -> Vec<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut files: Vec<String> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| {
            let name = p.rsplit('/').next().unwrap_or("");
            [
                "libcuda.",
                "libcublas",
                "libnvrtc",
                "libcufft",
                "libnccl",
                "libnvJitLink",
            ]
            .iter()
            .any(|l| name.starts_with(l))
        })
        .map(String::from)
        .collect();
    files.sort();
    files.dedup();
    files
}

/// One end of a rectangular copy ([`Gpu::copy_2d`]): an address and the pitch between rows, in
/// bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum End {
    /// Host memory.
    Host(*const c_void, usize),
    /// Device memory.
    Device(u64, usize),
}

/// A loaded module of the own kernels for one element type.
#[derive(Clone, Copy)]
pub(super) struct Module {
    pub(super) _module: dsys::CUmodule,
    pub(super) general: dsys::CUfunction,
    /// `tblas_gemm_general_wide`: present for f32 only.
    pub(super) general_wide: Option<dsys::CUfunction>,
    pub(super) small: dsys::CUfunction,
}

pub(super) struct State {
    pub(super) stream: dsys::CUstream,
    pub(super) blas: bsys::cublasHandle_t,
    pub(super) engine: GpuEngine,
    pub(super) modules: [Option<Module>; 4],
}

/// The device state of one CUDA handle.
pub(crate) struct Gpu {
    pub(super) ordinal: i32,
    pub(super) dev: dsys::CUdevice,
    pub(super) ctx: dsys::CUcontext,
    pub(super) name: String,
    pub(super) cc: (i32, i32),
    /// Whether the device supports stream-ordered allocation (`cuMemAllocAsync`).
    pub(super) pools: bool,
    /// Driver, cuBLAS and NVRTC versions, e.g. `driver 13.0, cuBLAS 13.0.2, NVRTC 13.0`.
    pub(super) versions: String,
    pub(super) state: Mutex<State>,
    /// Allocations made through this handle: device address -> bytes.
    pub(super) allocs: Mutex<BTreeMap<u64, usize>>,
}

// SAFETY: the raw CUDA handles are plain identifiers usable from any thread once the context is
// current (every entry point pushes it); the cuBLAS handle, the stream and the modules are only
// used with `state` locked, and the allocation table has its own lock.
unsafe impl Send for Gpu {}
// SAFETY: as for Send above.
unsafe impl Sync for Gpu {}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu({} {}, sm_{}{})", self.ordinal, self.name, self.cc.0, self.cc.1)
    }
}

/// Makes a context current for a scope and restores the caller's afterwards.
pub(super) struct Current;

impl Current {
    pub(super) fn push(ctx: dsys::CUcontext) -> Result<Current> {
        // SAFETY: `ctx` is the retained primary context of a live `Gpu`.
        drv("cuCtxPushCurrent", unsafe { dsys::cuCtxPushCurrent_v2(ctx) })?;
        Ok(Current)
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        let mut old = std::ptr::null_mut();
        // SAFETY: pops the context pushed by `Current::push` on this thread.
        let _ = unsafe { dsys::cuCtxPopCurrent_v2(&mut old) };
    }
}

impl Gpu {
    /// Opens device `ordinal`: `BackendUnavailable` when a library, the driver or the device is
    /// missing.
    pub(crate) fn new(ordinal: i32) -> Result<Gpu> {
        probe_libraries()?;
        // SAFETY: the driver library is present (probed above).
        let r = unsafe { dsys::cuInit(0) };
        if r != dsys::CUresult::CUDA_SUCCESS {
            return Err(Error::BackendUnavailable(format!(
                "the CUDA driver did not initialise ({}): no usable GPU",
                cudarc::driver::result::DriverError(r)
            )));
        }
        let mut count = 0;
        // SAFETY: writes one int.
        drv("cuDeviceGetCount", unsafe { dsys::cuDeviceGetCount(&mut count) })?;
        if count == 0 {
            return Err(Error::BackendUnavailable("no CUDA device is present".into()));
        }
        if ordinal >= count {
            return Err(Error::BackendUnavailable(format!(
                "CUDA device {ordinal} does not exist ({count} device(s) present)"
            )));
        }
        let mut dev = 0;
        // SAFETY: writes one CUdevice; ordinal < count.
        drv("cuDeviceGet", unsafe { dsys::cuDeviceGet(&mut dev, ordinal) })?;
        let attr = |a| -> Result<i32> {
            let mut v = 0;
            // SAFETY: writes one int for a valid device.
            drv("cuDeviceGetAttribute", unsafe {
                dsys::cuDeviceGetAttribute(&mut v, a, dev)
            })?;
            Ok(v)
        };
        let cc = (
            attr(dsys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
            attr(dsys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
        );
        let pools = attr(dsys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED)? != 0;
        let name = cudarc::driver::result::device::get_name(dev).unwrap_or_else(|_| "unknown GPU".into());
        let mut ctx = std::ptr::null_mut();
        // SAFETY: retains the primary context of a valid device (released in Drop).
        drv("cuDevicePrimaryCtxRetain", unsafe {
            dsys::cuDevicePrimaryCtxRetain(&mut ctx, dev)
        })?;
        let gpu_ctx = ctx;
        let release = || {
            // SAFETY: balances the retain above.
            let _ = unsafe { dsys::cuDevicePrimaryCtxRelease_v2(dev) };
        };
        let made = (|| {
            let _cur = Current::push(gpu_ctx)?;
            let mut h = std::ptr::null_mut();
            // SAFETY: cuBLAS is present (probed); writes one handle.
            blas("cublasCreate", unsafe { bsys::cublasCreate_v2(&mut h) })?;
            // SAFETY: `h` was just created.
            let pinned = blas("cublasSetMathMode", unsafe {
                bsys::cublasSetMathMode(h, bsys::cublasMath_t::CUBLAS_DEFAULT_MATH)
            });
            let mut version = 0;
            let checked = pinned
                .and_then(|()| {
                    // SAFETY: `h` was just created; writes one int.
                    blas("cublasGetVersion", unsafe {
                        bsys::cublasGetVersion_v2(h, &mut version)
                    })
                })
                .and_then(|()| check_cublas_version(version));
            if let Err(e) = checked {
                // SAFETY: `h` is live and not shared.
                unsafe { bsys::cublasDestroy_v2(h) };
                return Err(e);
            }
            Ok((h, version))
        })();
        let (blas_h, blas_version) = match made {
            Ok(h) => h,
            Err(e) => {
                release();
                return Err(match e {
                    Error::Execution(m) => Error::BackendUnavailable(m),
                    other => other,
                });
            }
        };
        Ok(Gpu {
            ordinal,
            dev,
            ctx: gpu_ctx,
            name,
            cc,
            pools,
            versions: format!(
                "driver {}, cuBLAS {}.{}.{}, NVRTC {}",
                driver_version(),
                blas_version / 10000,
                blas_version / 100 % 100,
                blas_version % 100,
                kernels::nvrtc_version()
            ),
            state: Mutex::new(State {
                stream: std::ptr::null_mut(),
                blas: blas_h,
                engine: GpuEngine::Auto,
                modules: [None; 4],
            }),
            allocs: Mutex::new(BTreeMap::new()),
        })
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Driver, cuBLAS and NVRTC versions and the files they were loaded from (for logs: two
    /// CUDA installs on one machine can otherwise mix unnoticed).
    pub(crate) fn runtime(&self) -> String {
        let files = loaded_cuda_libraries();
        format!(
            "{}; memory pools {}; files: {}",
            self.versions,
            if self.pools {
                "yes"
            } else {
                "no (pointer arrays use cuMemAlloc)"
            },
            if files.is_empty() {
                "(unknown)".into()
            } else {
                files.join(", ")
            }
        )
    }

    /// The CUDA device ordinal.
    pub(crate) fn ordinal(&self) -> i32 {
        self.ordinal
    }

    /// Device name and compute capability, e.g. `NVIDIA H100 80GB HBM3 (sm_90)`.
    pub(crate) fn describe(&self) -> String {
        format!("{} (device {}, sm_{}{})", self.name, self.ordinal, self.cc.0, self.cc.1)
    }

    pub(crate) fn engine(&self) -> GpuEngine {
        self.state().engine
    }

    pub(crate) fn set_engine(&self, e: GpuEngine) {
        self.state().engine = e;
    }

    /// Binds `stream` (a `CUstream` / `cudaStream_t`; NULL = the CUDA default stream). A stream
    /// of another device or context is an `InvalidArgument` at `position`.
    pub(crate) fn set_stream(&self, stream: *mut c_void, function: &'static str, position: i32) -> Result<()> {
        let _cur = Current::push(self.ctx)?;
        let stream = stream as dsys::CUstream;
        if !stream.is_null() {
            let mut sctx = std::ptr::null_mut();
            // SAFETY: the driver validates the stream handle and writes one context.
            let r = unsafe { dsys::cuStreamGetCtx(stream, &mut sctx) };
            if r != dsys::CUresult::CUDA_SUCCESS || sctx != self.ctx {
                return Err(Error::invalid(
                    function,
                    position,
                    "cuda_stream",
                    format!("must be a live stream of this handle's device ({})", self.describe()),
                ));
            }
        }
        let mut st = self.state();
        // SAFETY: the cuBLAS handle is live; the stream was checked above (or is NULL).
        blas("cublasSetStream", unsafe {
            bsys::cublasSetStream_v2(st.blas, stream as bsys::cudaStream_t)
        })?;
        st.stream = stream;
        Ok(())
    }

    /// Waits for everything queued on the bound stream; reports asynchronous kernel errors.
    pub(crate) fn synchronize(&self) -> Result<()> {
        let _cur = Current::push(self.ctx)?;
        let stream = self.state().stream;
        // SAFETY: the bound stream is live (checked when bound) or the default stream.
        drv("cuStreamSynchronize", unsafe { dsys::cuStreamSynchronize(stream) })
    }

    // ---- memory --------------------------------------------------------------------------------

    /// Allocates `bytes` of device memory (NULL for 0 bytes).
    pub(crate) fn malloc(&self, bytes: usize) -> Result<u64> {
        if bytes == 0 {
            return Ok(0);
        }
        let _cur = Current::push(self.ctx)?;
        let mut p = 0;
        // SAFETY: writes one device pointer.
        drv(&format!("cuMemAlloc of {bytes} bytes"), unsafe {
            dsys::cuMemAlloc_v2(&mut p, bytes)
        })?;
        self.allocs.lock().unwrap_or_else(|e| e.into_inner()).insert(p, bytes);
        Ok(p)
    }

    /// Frees an allocation made by [`Gpu::malloc`] (0 is a no-op). Anything else is an
    /// `InvalidArgument` at `position`.
    pub(crate) fn free(&self, p: u64, function: &'static str, position: i32) -> Result<()> {
        if p == 0 {
            return Ok(());
        }
        let known = self
            .allocs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&p)
            .is_some();
        if !known {
            return Err(Error::invalid(
                function,
                position,
                "ptr",
                format!("({p:#x}) was not returned by tblas_device_malloc on this handle, or was already freed"),
            ));
        }
        let _cur = Current::push(self.ctx)?;
        let stream = self.state().stream;
        // SAFETY: work queued on the bound stream may still use the block: wait for it, then
        // free an allocation this handle made and has not freed (removed from the table above).
        unsafe {
            drv("cuStreamSynchronize", dsys::cuStreamSynchronize(stream))?;
            drv("cuMemFree", dsys::cuMemFree_v2(p))
        }
    }

    /// When `p` lies inside an allocation of this handle, checks that `bytes` from `p` stay
    /// inside it (other device pointers are checked by the driver).
    pub(super) fn check_extent(
        &self,
        p: u64,
        bytes: usize,
        function: &'static str,
        position: i32,
        name: &'static str,
    ) -> Result<()> {
        let allocs = self.allocs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((&base, &len)) = allocs.range(..=p).next_back() {
            let end = base + len as u64;
            if p < end && (p - base).saturating_add(bytes as u64) > len as u64 {
                return Err(Error::invalid(
                    function,
                    position,
                    "bytes",
                    format!(
                        "({bytes}) runs past the end of the {len}-byte allocation at {base:#x} that {name} ({p:#x}) points into"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Copies `bytes` from host `src` to device `dst`, ordered after the work on the bound
    /// stream; returns when the copy is done.
    ///
    /// # Safety
    /// `src` must be valid for reading `bytes` bytes.
    pub(crate) unsafe fn htod(&self, dst: u64, src: *const c_void, bytes: usize, f: &'static str) -> Result<()> {
        self.check_extent(dst, bytes, f, 4, "dst")?;
        let _cur = Current::push(self.ctx)?;
        let stream = self.state().stream;
        // SAFETY: the caller guarantees `src`; the driver checks `dst`; we wait for completion.
        unsafe {
            drv("cuMemcpyHtoDAsync", dsys::cuMemcpyHtoDAsync_v2(dst, src, bytes, stream))?;
            drv("cuStreamSynchronize", dsys::cuStreamSynchronize(stream))
        }
    }

    /// Copies `bytes` from device `src` to host `dst`, ordered after the work on the bound
    /// stream; returns when the copy is done.
    ///
    /// # Safety
    /// `dst` must be valid for writing `bytes` bytes.
    pub(crate) unsafe fn dtoh(&self, dst: *mut c_void, src: u64, bytes: usize, f: &'static str) -> Result<()> {
        self.check_extent(src, bytes, f, 4, "src")?;
        let _cur = Current::push(self.ctx)?;
        let stream = self.state().stream;
        // SAFETY: the caller guarantees `dst`; the driver checks `src`; we wait for completion.
        unsafe {
            drv("cuMemcpyDtoHAsync", dsys::cuMemcpyDtoHAsync_v2(dst, src, bytes, stream))?;
            drv("cuStreamSynchronize", dsys::cuStreamSynchronize(stream))
        }
    }

    /// Copies `rows` rows of `width` bytes from `src` to `dst` (cuMemcpy2D), ordered after the
    /// work on the bound stream; waits for it when either end is host memory.
    ///
    /// # Safety
    /// Every addressed byte of a host end must be valid (readable for `src`, writable for `dst`);
    /// device ends are checked by the caller against their buffers.
    pub(crate) unsafe fn copy_2d(&self, dst: End, src: End, width: usize, rows: usize, f: &'static str) -> Result<()> {
        if width == 0 || rows == 0 {
            return Ok(());
        }
        let _cur = Current::push(self.ctx)?;
        let stream = self.state().stream;
        // A single row's pitch is never used, but the driver requires pitch >= width.
        let pitch = |p: usize| if rows == 1 { p.max(width) } else { p };
        // (memory type, host address, device address, pitch) of one end.
        let parts = |e: End| match e {
            End::Host(ptr, p) => (dsys::CUmemorytype::CU_MEMORYTYPE_HOST, ptr, 0, pitch(p)),
            End::Device(ptr, p) => (
                dsys::CUmemorytype::CU_MEMORYTYPE_DEVICE,
                std::ptr::null(),
                ptr,
                pitch(p),
            ),
        };
        let (src_type, src_host, src_device, src_pitch) = parts(src);
        let (dst_type, dst_host, dst_device, dst_pitch) = parts(dst);
        // Every field spelled out: `mem::zeroed` is not a valid CUDA_MEMCPY2D (its memory-type
        // enums have no zero variant; Rust aborts the process on it, as the first H200 run
        // showed).
        let d = dsys::CUDA_MEMCPY2D {
            srcXInBytes: 0,
            srcY: 0,
            srcMemoryType: src_type,
            srcHost: src_host,
            srcDevice: src_device,
            srcArray: std::ptr::null_mut(),
            srcPitch: src_pitch,
            dstXInBytes: 0,
            dstY: 0,
            dstMemoryType: dst_type,
            dstHost: dst_host as *mut c_void,
            dstDevice: dst_device,
            dstArray: std::ptr::null_mut(),
            dstPitch: dst_pitch,
            WidthInBytes: width,
            Height: rows,
        };
        let host = matches!(src, End::Host(..)) || matches!(dst, End::Host(..));
        // SAFETY: the descriptor is complete; the caller vouches for host ends and checked the
        // device ends; host copies are waited for before returning.
        unsafe {
            drv(f, dsys::cuMemcpy2DAsync_v2(&d, stream))?;
            if host {
                drv("cuStreamSynchronize", dsys::cuStreamSynchronize(stream))?;
            }
        }
        Ok(())
    }

    /// Zeroes `bytes` at device address `p` (asynchronous, on the bound stream).
    pub(crate) fn zero(&self, p: u64, bytes: usize) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        let _cur = Current::push(self.ctx)?;
        let stream = self.state().stream;
        // SAFETY: the caller passes a range inside one of its buffers.
        drv("cuMemsetD8Async", unsafe { dsys::cuMemsetD8Async(p, 0, bytes, stream) })
    }

    /// Runs `f` with this handle's context current on the calling thread, passing the bound
    /// stream (NULL = the default stream).
    pub(crate) fn with_context<R>(&self, f: impl FnOnce(*mut c_void) -> R) -> Result<R> {
        let _cur = Current::push(self.ctx)?;
        let stream = self.state().stream;
        Ok(f(stream as *mut c_void))
    }

    // ---- execution -----------------------------------------------------------------------------
}

impl Drop for Gpu {
    fn drop(&mut self) {
        if let Ok(_cur) = Current::push(self.ctx) {
            let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
            // SAFETY: the handle is being dropped: nothing else uses its cuBLAS handle or modules.
            unsafe {
                let _ = dsys::cuStreamSynchronize(st.stream);
                let _ = bsys::cublasDestroy_v2(st.blas);
                for m in st.modules.iter().flatten() {
                    let _ = dsys::cuModuleUnload(m._module);
                }
            }
            let allocs = std::mem::take(self.allocs.get_mut().unwrap_or_else(|e| e.into_inner()));
            for p in allocs.keys() {
                // SAFETY: allocations of this handle that the caller never freed; the handle is
                // gone, so nothing can use them through it any more.
                let _ = unsafe { dsys::cuMemFree_v2(*p) };
            }
        }
        // SAFETY: balances the retain in `Gpu::new`.
        let _ = unsafe { dsys::cuDevicePrimaryCtxRelease_v2(self.dev) };
    }
}

/// Where the A, B and C pointer arrays of a pointer-array batch lie in their device block, in
/// bytes from its start: back to back, each as long as the caller's array. A and B are empty
/// when the job never reads them (alpha == 0 or k == 0: the validator passes empty arrays), and
/// an empty array's offset is 0, which the kernel never dereferences (it reads A and B only when
/// `ab_unread` is false, and then they hold `count` pointers each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ArrayLayout {
    /// Byte offsets of the A, B and C arrays (`None` for an empty array: passed as NULL).
    pub a: Option<u64>,
    pub b: Option<u64>,
    pub c: Option<u64>,
    /// Bytes of the whole block.
    pub bytes: usize,
}

impl ArrayLayout {
    pub(crate) fn new(a_len: usize, b_len: usize, c_len: usize) -> ArrayLayout {
        let at = |before: usize, len: usize| (len > 0).then_some(8 * before as u64);
        ArrayLayout {
            a: at(0, a_len),
            b: at(a_len, b_len),
            c: at(a_len + b_len, c_len),
            bytes: 8 * (a_len + b_len + c_len),
        }
    }
}

/// Device copies of a pointer-array batch (A, B and C arrays back to back, [`ArrayLayout`]).
/// Allocated and freed in stream order where the device supports memory pools
/// (`cuMemAllocAsync`); elsewhere with `cuMemAlloc`, freed after the stream has finished with
/// them.
pub(super) struct PointerArrays {
    pub(super) base: u64,
    pub(super) layout: ArrayLayout,
    pub(super) pooled: bool,
}

impl PointerArrays {
    pub(super) fn upload<T>(
        stream: dsys::CUstream,
        pooled: bool,
        a: &[*const T],
        b: &[*const T],
        c: &[*mut T],
    ) -> Result<PointerArrays> {
        let layout = ArrayLayout::new(a.len(), b.len(), c.len());
        let host: Vec<u64> = a
            .iter()
            .map(|p| *p as u64)
            .chain(b.iter().map(|p| *p as u64))
            .chain(c.iter().map(|p| *p as u64))
            .collect();
        debug_assert_eq!(host.len() * 8, layout.bytes);
        let mut base = 0;
        if pooled {
            // SAFETY: stream-ordered allocation of `bytes` on the bound stream (context current).
            drv("cuMemAllocAsync (pointer arrays)", unsafe {
                dsys::cuMemAllocAsync(&mut base, layout.bytes, stream)
            })?;
        } else {
            // SAFETY: writes one device pointer (context current).
            drv("cuMemAlloc (pointer arrays)", unsafe {
                dsys::cuMemAlloc_v2(&mut base, layout.bytes)
            })?;
        }
        let arrays = PointerArrays { base, layout, pooled };
        // SAFETY: copies `bytes` from a live host Vec into the block just allocated; for pageable
        // memory the call returns once the data has been staged, so `host` may be dropped
        // afterwards.
        let r = unsafe { dsys::cuMemcpyHtoDAsync_v2(base, host.as_ptr() as *const c_void, layout.bytes, stream) };
        if let Err(e) = drv("cuMemcpyHtoDAsync (pointer arrays)", r) {
            arrays.release(stream);
            return Err(e);
        }
        Ok(arrays)
    }

    pub(super) fn addr(&self, offset: Option<u64>) -> u64 {
        offset.map_or(0, |o| self.base + o)
    }
    pub(super) fn a(&self) -> u64 {
        self.addr(self.layout.a)
    }
    pub(super) fn b(&self) -> u64 {
        self.addr(self.layout.b)
    }
    pub(super) fn c(&self) -> u64 {
        self.addr(self.layout.c)
    }

    pub(super) fn release(self, stream: dsys::CUstream) {
        if self.pooled {
            // SAFETY: frees the block in stream order, after the work that reads it.
            let _ = unsafe { dsys::cuMemFreeAsync(self.base, stream) };
        } else {
            // SAFETY: waits for the work that reads the block, then frees it (nothing else holds
            // its address).
            unsafe {
                let _ = dsys::cuStreamSynchronize(stream);
                let _ = dsys::cuMemFree_v2(self.base);
            }
        }
    }
}
