//! The CUDA backend: cuBLAS through cudarc (loaded at run time) and tensorblas' own NVRTC
//! kernels (`kernels/gemm.cu`), executing the same validated [`Job`]s as the CPU backends.
//!
//! A [`Gpu`] is the device state of one `TBLAS_BACKEND_CUDA` handle: the device's primary
//! context, the bound stream (cuBLAS semantics: the CUDA default stream until `set_stream`), a
//! cuBLAS handle pinned to `CUBLAS_DEFAULT_MATH` (no TF32 for FP32), the kernels compiled for
//! the device, and the table of allocations made through it.
//!
//! Dispatch for a job (engine [`GpuEngine::Auto`]): cuBLAS when the layout is one cuBLAS can
//! express (see [`blas_form`]), else the general-stride kernel. The small-matrix kernel is never
//! picked by `Auto` until a GPU sweep shows it ahead (kernels/README.md); the other engines
//! force one path for tests and benchmarks.

pub(crate) mod kernels;

pub(crate) use super::GpuEngine;
use crate::error::{Error, Result};
use crate::job::{BlasForm, Entries, Job, Op};
use crate::scalar::{DataType, Scalar};
use cudarc::cublas::sys as bsys;
use cudarc::driver::sys as dsys;
use kernels::KernelArgs;
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::sync::{Mutex, MutexGuard};

fn drv(what: &str, r: dsys::CUresult) -> Result<()> {
    match r {
        dsys::CUresult::CUDA_SUCCESS => Ok(()),
        dsys::CUresult::CUDA_ERROR_OUT_OF_MEMORY => Err(Error::Alloc(format!("{what}: out of device memory"))),
        e => Err(Error::Execution(format!(
            "{what} failed: {}",
            cudarc::driver::result::DriverError(e)
        ))),
    }
}

fn blas(what: &str, r: bsys::cublasStatus_t) -> Result<()> {
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
fn probe_libraries() -> Result<()> {
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
fn check_cublas_version(version: i32) -> Result<()> {
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
fn driver_version() -> String {
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
struct Module {
    _module: dsys::CUmodule,
    general: dsys::CUfunction,
    small: dsys::CUfunction,
}

struct State {
    stream: dsys::CUstream,
    blas: bsys::cublasHandle_t,
    engine: GpuEngine,
    modules: [Option<Module>; 4],
}

/// The device state of one CUDA handle.
pub(crate) struct Gpu {
    ordinal: i32,
    dev: dsys::CUdevice,
    ctx: dsys::CUcontext,
    name: String,
    cc: (i32, i32),
    /// Whether the device supports stream-ordered allocation (`cuMemAllocAsync`).
    pools: bool,
    /// Driver, cuBLAS and NVRTC versions, e.g. `driver 13.0, cuBLAS 13.0.2, NVRTC 13.0`.
    versions: String,
    state: Mutex<State>,
    /// Allocations made through this handle: device address -> bytes.
    allocs: Mutex<BTreeMap<u64, usize>>,
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
struct Current;

impl Current {
    fn push(ctx: dsys::CUcontext) -> Result<Current> {
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

    fn state(&self) -> MutexGuard<'_, State> {
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
    fn check_extent(
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
        // SAFETY: an all-zero CUDA_MEMCPY2D is a valid (empty) descriptor; filled in below.
        let mut d: dsys::CUDA_MEMCPY2D = unsafe { std::mem::zeroed() };
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
        (d.srcMemoryType, d.srcHost, d.srcDevice, d.srcPitch) = parts(src);
        let dst_host;
        (d.dstMemoryType, dst_host, d.dstDevice, d.dstPitch) = parts(dst);
        d.dstHost = dst_host as *mut c_void;
        d.WidthInBytes = width;
        d.Height = rows;
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

    /// Queues a validated job on the bound stream (asynchronous, like cuBLAS).
    pub(crate) fn run<T: Scalar>(&self, job: &Job<'_, T>) -> Result<()> {
        let batch = job.batch();
        if job.m == 0 || job.n == 0 || batch == 0 {
            return Ok(());
        }
        let ab_unread = job.ab_unread();
        if ab_unread && job.beta == T::one() {
            return Ok(());
        }
        let _cur = Current::push(self.ctx)?;
        let mut st = self.state();
        let small_fits = job.m.max(job.n).max(job.k) <= kernels::SMALL_MAX;
        match st.engine {
            GpuEngine::Auto => match (ab_unread, blas_form(job)) {
                (false, Some(f)) => self.cublas(&st, job, &f),
                _ => self.kernel(&mut st, job, Kernel::General),
            },
            GpuEngine::Cublas => match (ab_unread, blas_form(job)) {
                (false, Some(f)) => self.cublas(&st, job, &f),
                (true, _) => Err(Error::NotSupported(
                    "GPU engine 'cublas': alpha == 0 or k == 0 (C = beta*C) is done by tensorblas' kernel".into(),
                )),
                (false, None) => Err(Error::NotSupported(
                    "GPU engine 'cublas': cuBLAS cannot express this layout (general strides, negative batch \
                     strides or conjugation without transposition)"
                        .into(),
                )),
            },
            GpuEngine::General => self.kernel(&mut st, job, Kernel::General),
            GpuEngine::Small if small_fits => self.kernel(&mut st, job, Kernel::Small),
            GpuEngine::Small => Err(Error::NotSupported(format!(
                "GPU engine 'small' takes m, n, k <= {}, got {}x{}x{}",
                kernels::SMALL_MAX,
                job.m,
                job.n,
                job.k
            ))),
        }
    }

    fn module(&self, st: &mut State, dt: DataType) -> Result<Module> {
        let slot = kernels::dtype_code(dt) as usize;
        if let Some(m) = st.modules[slot] {
            return Ok(m);
        }
        let cc = (self.cc.0 * 10 + self.cc.1) as u32;
        // A CUBIN for this exact architecture: the driver loads it without a PTX JIT, so an
        // NVRTC newer than the driver still works.
        let image = kernels::compile(dt, kernels::Target::Cubin(cc))?;
        let mut module = std::ptr::null_mut();
        // SAFETY: `image` is a complete CUBIN from NVRTC; the context is current (pushed by the
        // caller).
        drv("cuModuleLoadData (CUBIN of kernels/gemm.cu)", unsafe {
            dsys::cuModuleLoadData(&mut module, image.as_ptr() as *const c_void)
        })?;
        let get = |name: &std::ffi::CStr| -> Result<dsys::CUfunction> {
            let mut f = std::ptr::null_mut();
            // SAFETY: `module` was just loaded; `name` is NUL-terminated.
            drv("cuModuleGetFunction", unsafe {
                dsys::cuModuleGetFunction(&mut f, module, name.as_ptr())
            })?;
            Ok(f)
        };
        let m = Module {
            _module: module,
            general: get(c"tblas_gemm_general")?,
            small: get(c"tblas_gemm_small")?,
        };
        st.modules[slot] = Some(m);
        Ok(m)
    }

    fn kernel<T: Scalar>(&self, st: &mut State, job: &Job<'_, T>, which: Kernel) -> Result<()> {
        let module = self.module(st, T::DATATYPE)?;
        let ab_unread = job.ab_unread();
        let (alpha, beta) = (job.alpha.to_c64(), job.beta.to_c64());
        let mut args = KernelArgs {
            m: job.m as i64,
            n: job.n as i64,
            k: job.k as i64,
            batch: job.batch() as i64,
            a: 0,
            a_rs: job.a.rs as i64,
            a_cs: job.a.cs as i64,
            a_bs: 0,
            a_arr: 0,
            b: 0,
            b_rs: job.b.rs as i64,
            b_cs: job.b.cs as i64,
            b_bs: 0,
            b_arr: 0,
            c: 0,
            c_rs: job.c.rs as i64,
            c_cs: job.c.cs as i64,
            c_bs: 0,
            c_arr: 0,
            alpha_re: alpha.re,
            alpha_im: alpha.im,
            beta_re: beta.re,
            beta_im: beta.im,
            conj_a: job.a.conj as i32,
            conj_b: job.b.conj as i32,
            ab_unread: ab_unread as i32,
            beta_zero: job.beta.is_zero() as i32,
        };
        let mut arrays = None;
        match job.entries {
            Entries::Strided {
                a,
                b,
                c,
                bs_a,
                bs_b,
                bs_c,
                ..
            } => {
                (args.a, args.b, args.c) = (a as u64, b as u64, c as u64);
                (args.a_bs, args.b_bs, args.c_bs) = (bs_a as i64, bs_b as i64, bs_c as i64);
            }
            Entries::Array { a, b, c } => {
                let d = PointerArrays::upload(st.stream, self.pools, a, b, c)?;
                (args.a_arr, args.b_arr, args.c_arr) = (d.a(), d.b(), d.c());
                arrays = Some(d);
            }
        }
        let batch = job.batch() as u64;
        let (f, grid, block, shmem) = match which {
            Kernel::General => {
                let tiles = (job.m as u64).div_ceil(64) * (job.n as u64).div_ceil(64);
                let gx = tiles.min(1 << 20) as u32;
                let gy = batch.min(65535) as u32;
                (module.general, (gx, gy, 1), (16, 16, 1), 0u32)
            }
            Kernel::Small => {
                let per = kernels::small_per(job.m, job.n, job.k, std::mem::size_of::<T>());
                let groups = batch.div_ceil(per as u64);
                let shmem = per * (job.m * job.k + job.k * job.n) * std::mem::size_of::<T>();
                (
                    module.small,
                    (groups.min(1 << 30) as u32, 1, 1),
                    (256, 1, 1),
                    shmem as u32,
                )
            }
        };
        let mut params = [&mut args as *mut KernelArgs as *mut c_void];
        // SAFETY: the function belongs to a loaded module of this context; the single parameter
        // is the `Args` struct the kernel declares (same layout, `KernelArgs`), read at launch;
        // every address it describes was validated (or, for raw C pointers, is the caller's
        // device memory as the API contract requires); the small kernel's dynamic shared memory
        // is `small_per` entries of A and B, capped at 48 KiB exactly as the kernel computes it.
        let r = unsafe {
            dsys::cuLaunchKernel(
                f,
                grid.0,
                grid.1,
                grid.2,
                block.0,
                block.1,
                block.2,
                shmem,
                st.stream,
                params.as_mut_ptr(),
                std::ptr::null_mut(),
            )
        };
        if let Some(d) = arrays {
            d.release(st.stream);
        }
        drv("cuLaunchKernel", r)
    }

    fn cublas<T: Scalar>(&self, st: &State, job: &Job<'_, T>, f: &BlasForm) -> Result<()> {
        let h = st.blas;
        let (alpha, beta) = (job.alpha, job.beta);
        let (m, n, k) = (f.m as i64, f.n as i64, job.k as i64);
        match job.entries {
            Entries::Strided {
                a,
                b,
                c,
                bs_a,
                bs_b,
                bs_c,
                count,
                ..
            } => {
                let (x, y) = if f.swap { (b, a) } else { (a, b) };
                let (sx, sy) = if f.swap { (bs_b, bs_a) } else { (bs_a, bs_b) };
                let (ldx, ldy, ldc) = (f.x.ld as i64, f.y.ld as i64, f.ldc as i64);
                let dims = [m, n, k, ldx, ldy, ldc, count as i64];
                let small = dims.iter().all(|&d| d <= i32::MAX as i64);
                // SAFETY: the job was validated (addresses in bounds, C injective and disjoint
                // from A and B); `blas_form` established cuBLAS's ld rules (ld >= rows, >= 1),
                // unit element strides and non-negative batch strides; alpha/beta are host
                // values on this stack frame (pointer mode host).
                let r = unsafe {
                    gemm_strided::<T>(
                        h,
                        small,
                        (cu_op(f.x.op), cu_op(f.y.op)),
                        (m, n, k),
                        &alpha,
                        (x, ldx, sx as i64),
                        (y, ldy, sy as i64),
                        &beta,
                        (c, ldc, bs_c as i64),
                        count as i64,
                    )
                };
                blas("cuBLAS gemm (strided batched)", r)
            }
            Entries::Array { a, b, c } => {
                let d = PointerArrays::upload(st.stream, self.pools, a, b, c)?;
                let (x, y) = if f.swap { (d.b(), d.a()) } else { (d.a(), d.b()) };
                let (ldx, ldy, ldc) = (f.x.ld as i64, f.y.ld as i64, f.ldc as i64);
                let dims = [m, n, k, ldx, ldy, ldc, c.len() as i64];
                let small = dims.iter().all(|&v| v <= i32::MAX as i64);
                // SAFETY: as for the strided case; the pointer arrays were copied to device
                // memory on this stream and are freed in stream order after the call.
                let r = unsafe {
                    gemm_batched::<T>(
                        h,
                        small,
                        (cu_op(f.x.op), cu_op(f.y.op)),
                        (m, n, k),
                        &alpha,
                        (x, ldx),
                        (y, ldy),
                        &beta,
                        (d.c(), ldc),
                        c.len() as i64,
                    )
                };
                d.release(st.stream);
                blas("cuBLAS gemm (pointer-array batched)", r)
            }
        }
    }
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

#[derive(Clone, Copy)]
enum Kernel {
    General,
    Small,
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
struct PointerArrays {
    base: u64,
    layout: ArrayLayout,
    pooled: bool,
}

impl PointerArrays {
    fn upload<T>(
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

    fn addr(&self, offset: Option<u64>) -> u64 {
        offset.map_or(0, |o| self.base + o)
    }
    fn a(&self) -> u64 {
        self.addr(self.layout.a)
    }
    fn b(&self) -> u64 {
        self.addr(self.layout.b)
    }
    fn c(&self) -> u64 {
        self.addr(self.layout.c)
    }

    fn release(self, stream: dsys::CUstream) {
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

/// cuBLAS's operation for an operand of the BLAS form.
fn cu_op(op: Op) -> bsys::cublasOperation_t {
    use bsys::cublasOperation_t::*;
    match op {
        Op::N => CUBLAS_OP_N,
        Op::T => CUBLAS_OP_T,
        Op::C => CUBLAS_OP_C,
    }
}

/// How cuBLAS can run `job`, if it can: the job's BLAS form ([`Job::blas_form`]: C column- or
/// row-major, A and B each N/T/C with a legal leading dimension) with non-negative batch
/// strides.
pub(crate) fn blas_form<T: Scalar>(job: &Job<'_, T>) -> Option<BlasForm> {
    if let Entries::Strided { bs_a, bs_b, bs_c, .. } = job.entries {
        if bs_a < 0 || bs_b < 0 || bs_c < 0 {
            return None;
        }
    }
    job.blas_form()
}

/// `cublas?gemm` / `cublas?gemmStridedBatched` (or their `_64` forms when a size exceeds int32).
///
/// # Safety
/// Every pointer must be a device address cuBLAS may access as described; `alpha`/`beta` host.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_strided<T: Scalar>(
    h: bsys::cublasHandle_t,
    small: bool,
    (ta, tb): (bsys::cublasOperation_t, bsys::cublasOperation_t),
    (m, n, k): (i64, i64, i64),
    alpha: &T,
    (a, lda, sa): (*const T, i64, i64),
    (b, ldb, sb): (*const T, i64, i64),
    beta: &T,
    (c, ldc, sc): (*mut T, i64, i64),
    batch: i64,
) -> bsys::cublasStatus_t {
    macro_rules! call {
        ($one:ident, $one64:ident, $many:ident, $many64:ident, $t:ty) => {{
            let (al, be) = (alpha as *const T as *const $t, beta as *const T as *const $t);
            let (a, b, c) = (a as *const $t, b as *const $t, c as *mut $t);
            // SAFETY: forwarded from the caller.
            unsafe {
                match (batch == 1, small) {
                    (true, true) => bsys::$one(
                        h, ta, tb, m as i32, n as i32, k as i32, al, a, lda as i32, b, ldb as i32, be, c, ldc as i32,
                    ),
                    (true, false) => bsys::$one64(h, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc),
                    (false, true) => bsys::$many(
                        h,
                        ta,
                        tb,
                        m as i32,
                        n as i32,
                        k as i32,
                        al,
                        a,
                        lda as i32,
                        sa,
                        b,
                        ldb as i32,
                        sb,
                        be,
                        c,
                        ldc as i32,
                        sc,
                        batch as i32,
                    ),
                    (false, false) => {
                        bsys::$many64(h, ta, tb, m, n, k, al, a, lda, sa, b, ldb, sb, be, c, ldc, sc, batch)
                    }
                }
            }
        }};
    }
    match T::DATATYPE {
        DataType::R32F => call!(
            cublasSgemm_v2,
            cublasSgemm_v2_64,
            cublasSgemmStridedBatched,
            cublasSgemmStridedBatched_64,
            f32
        ),
        DataType::R64F => call!(
            cublasDgemm_v2,
            cublasDgemm_v2_64,
            cublasDgemmStridedBatched,
            cublasDgemmStridedBatched_64,
            f64
        ),
        DataType::C32F => call!(
            cublasCgemm_v2,
            cublasCgemm_v2_64,
            cublasCgemmStridedBatched,
            cublasCgemmStridedBatched_64,
            bsys::cuComplex
        ),
        DataType::C64F => call!(
            cublasZgemm_v2,
            cublasZgemm_v2_64,
            cublasZgemmStridedBatched,
            cublasZgemmStridedBatched_64,
            bsys::cuDoubleComplex
        ),
    }
}

/// `cublas?gemmBatched` (or `_64`) on device arrays of device pointers.
///
/// # Safety
/// As for [`gemm_strided`]; `a`, `b`, `c` are device addresses of `batch` device pointers.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_batched<T: Scalar>(
    h: bsys::cublasHandle_t,
    small: bool,
    (ta, tb): (bsys::cublasOperation_t, bsys::cublasOperation_t),
    (m, n, k): (i64, i64, i64),
    alpha: &T,
    (a, lda): (u64, i64),
    (b, ldb): (u64, i64),
    beta: &T,
    (c, ldc): (u64, i64),
    batch: i64,
) -> bsys::cublasStatus_t {
    macro_rules! call {
        ($f:ident, $f64:ident, $t:ty) => {{
            let (al, be) = (alpha as *const T as *const $t, beta as *const T as *const $t);
            let (a, b, c) = (a as *const *const $t, b as *const *const $t, c as *const *mut $t);
            // SAFETY: forwarded from the caller.
            unsafe {
                if small {
                    bsys::$f(
                        h,
                        ta,
                        tb,
                        m as i32,
                        n as i32,
                        k as i32,
                        al,
                        a,
                        lda as i32,
                        b,
                        ldb as i32,
                        be,
                        c,
                        ldc as i32,
                        batch as i32,
                    )
                } else {
                    bsys::$f64(h, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc, batch)
                }
            }
        }};
    }
    match T::DATATYPE {
        DataType::R32F => call!(cublasSgemmBatched, cublasSgemmBatched_64, f32),
        DataType::R64F => call!(cublasDgemmBatched, cublasDgemmBatched_64, f64),
        DataType::C32F => call!(cublasCgemmBatched, cublasCgemmBatched_64, bsys::cuComplex),
        DataType::C64F => call!(cublasZgemmBatched, cublasZgemmBatched_64, bsys::cuDoubleComplex),
    }
}

/// Compiles the own kernels for `dt` to PTX for `compute_<cc>` (public through `tensorblas::device`).
pub(crate) fn compile_ptx(dt: DataType, cc: u32) -> Result<String> {
    kernels::compile(dt, kernels::Target::Ptx(cc)).map(|p| String::from_utf8_lossy(&p).into_owned())
}

/// Compiles the own kernels for `dt` to a CUBIN for `sm_<cc>` (what a CUDA handle loads).
pub(crate) fn compile_cubin(dt: DataType, cc: u32) -> Result<Vec<u8>> {
    kernels::compile(dt, kernels::Target::Cubin(cc)).map(|p| p.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Strides;

    fn job(
        m: usize,
        n: usize,
        k: usize,
        a: (isize, isize, bool),
        b: (isize, isize, bool),
        c: (isize, isize),
    ) -> Job<'static, f64> {
        let s = |(rs, cs, conj)| Strides { rs, cs, conj };
        Job {
            m,
            n,
            k,
            alpha: 1.0,
            beta: 0.0,
            a: s(a),
            b: s(b),
            c: s((c.0, c.1, false)),
            entries: Entries::Strided {
                a: std::ptr::null(),
                b: std::ptr::null(),
                c: std::ptr::null_mut(),
                bs_a: 0,
                bs_b: 0,
                bs_c: (m * n) as isize,
                count: 2,
            },
            tri: None,
        }
    }

    #[test]
    fn blas_form_maps_column_major_and_transposed_operands() {
        // C = A*B, all column-major.
        let f = blas_form(&job(3, 4, 5, (1, 3, false), (1, 5, false), (1, 3))).unwrap();
        assert!(!f.swap);
        assert_eq!((f.x.op, f.x.ld, f.y.op, f.y.ld, f.ldc), (Op::N, 3, Op::N, 5, 3));
        // op(A) = A^H stored 5x3 (rs = lda, cs = 1, conj).
        let f = blas_form(&job(3, 4, 5, (7, 1, true), (1, 5, false), (1, 3))).unwrap();
        assert_eq!((f.x.op, f.x.ld), (Op::C, 7));
        // Row-major C (rs = 4, cs = 1): computed as C^T = B^T A^T with m and n exchanged.
        let f = blas_form(&job(3, 4, 5, (1, 3, false), (1, 5, false), (4, 1))).unwrap();
        assert!(f.swap);
        assert_eq!((f.m, f.n, f.ldc), (4, 3, 4));
        // B^T of a column-major B: rs = ldb... B (k x n) col-major -> B^T (n x k) has rs = 5, cs = 1.
        assert_eq!((f.x.op, f.x.ld, f.y.op, f.y.ld), (Op::T, 5, Op::T, 3));
    }

    #[test]
    fn blas_form_rejects_what_cublas_cannot_express() {
        // Conjugate without transposition.
        assert!(blas_form(&job(3, 4, 5, (1, 3, true), (1, 5, false), (1, 3))).is_none());
        // General strides.
        assert!(blas_form(&job(3, 4, 5, (2, 6, false), (1, 5, false), (1, 3))).is_none());
        // Leading dimension below the rows (e.g. a broadcast column, cs = 0).
        assert!(blas_form(&job(3, 4, 5, (1, 0, false), (1, 5, false), (1, 3))).is_none());
        // C with general strides.
        assert!(blas_form(&job(3, 4, 5, (1, 3, false), (1, 5, false), (2, 6))).is_none());
        // Negative batch stride.
        let mut j = job(3, 4, 5, (1, 3, false), (1, 5, false), (1, 3));
        if let Entries::Strided { bs_a, .. } = &mut j.entries {
            *bs_a = -15;
        }
        assert!(blas_form(&j).is_none());
    }

    #[test]
    fn pointer_array_block_holds_every_array_it_points_to() {
        // Full batch: A, B, C back to back.
        let l = ArrayLayout::new(5, 5, 5);
        assert_eq!((l.a, l.b, l.c, l.bytes), (Some(0), Some(40), Some(80), 120));
        // alpha == 0 or k == 0: the validator passes empty A and B arrays. C's array must start
        // at the block's start, not at 16 * count (past the end of a 40-byte block).
        let l = ArrayLayout::new(0, 0, 5);
        assert_eq!((l.a, l.b, l.c, l.bytes), (None, None, Some(0), 40));
        for (a, b, c) in [(0, 0, 1), (0, 0, 70000), (3, 3, 3), (1, 1, 1), (7, 7, 7)] {
            let l = ArrayLayout::new(a, b, c);
            for (off, len) in [(l.a, a), (l.b, b), (l.c, c)] {
                match off {
                    Some(o) => assert!(len > 0 && o as usize + 8 * len <= l.bytes, "{l:?}"),
                    None => assert_eq!(len, 0),
                }
            }
            assert_eq!(l.bytes, 8 * (a + b + c));
        }
    }

    #[test]
    fn loaded_libraries_are_cuda_files_only() {
        for f in loaded_cuda_libraries() {
            let name = f.rsplit('/').next().unwrap();
            assert!(name.starts_with("lib") && name.contains(".so"), "{f}");
        }
    }

    #[test]
    fn kernel_args_layout_matches_the_cuda_struct() {
        // 19 eight-byte fields + 4 doubles + 4 ints, no padding.
        assert_eq!(std::mem::size_of::<KernelArgs>(), 19 * 8 + 4 * 8 + 4 * 4);
        assert_eq!(std::mem::align_of::<KernelArgs>(), 8);
    }
}
