//! The library context: [`Handle`] (a CPU backend with its thread count, instruction set and
//! engine, or a GPU), its constructors and settings, and `run_job`, where every validated job
//! of the GEMM family and the contraction layer goes.

use crate::backend::cuda::Gpu;
use crate::backend::small::Isa;
use crate::backend::{self, CpuBackend, CpuEngine, GpuEngine, Target};
use crate::device::DeviceBuffer;
use crate::error::{Error, Result};
use crate::job::Job;
use crate::scalar::{per_type, Scalar};
use num_complex::{Complex32, Complex64};
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Environment variable choosing the CPU backend of [`Handle::new`] / `tblas_create`.
pub const ENV_CPU_BACKEND: &str = "TBLAS_CPU_BACKEND";
/// Environment variable setting the default thread count of new handles.
pub const ENV_NUM_THREADS: &str = "TBLAS_NUM_THREADS";

/// A library context: which backend runs the calls and on how many threads.
///
/// A handle may be shared between threads (`&Handle` is `Sync`); calls through it are
/// independent. Results for the same inputs, backend and thread count are bitwise reproducible.
///
/// ```
/// use tensorblas::{Handle, Op};
/// let h = Handle::new()?;
/// // Two 2x2 products at once: C[p] = A[p] * B (B broadcast with stride 0).
/// let a = [1.0f64, 0.0, 0.0, 1.0, /* p = 1 */ 2.0, 0.0, 0.0, 2.0];
/// let b = [1.0f64, 2.0, 3.0, 4.0];
/// let mut c = [0.0f64; 8];
/// h.gemm_strided_batched(Op::N, Op::N, 2, 2, 2, 1.0, &a, 2, 4, &b, 2, 0, 0.0, &mut c, 2, 4, 2)?;
/// assert_eq!(c, [1.0, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0]);
/// # Ok::<(), tensorblas::Error>(())
/// ```
#[derive(Debug)]
pub struct Handle {
    backend: CpuBackend,
    /// 0 = the default.
    threads: AtomicUsize,
    /// The default thread count, read from the environment when the handle was created.
    default_threads: usize,
    /// Instruction set of tensorblas' own kernels (as an `Isa` index).
    isa: AtomicUsize,
    /// Engine of the native backend (as a `CpuEngine::all()` index).
    engine: AtomicUsize,
    /// The GPU of a CUDA handle (`None`: a CPU handle).
    gpu: Option<Arc<Gpu>>,
}

const ISAS: [Isa; 3] = [Isa::Avx512, Isa::Avx2, Isa::Portable];

/// The thread count new handles use: `TBLAS_NUM_THREADS` if set, else the available cores.
pub fn default_num_threads() -> Result<usize> {
    match std::env::var(ENV_NUM_THREADS) {
        Ok(s) => match s.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(Error::NotSupported(format!(
                "{ENV_NUM_THREADS} must be a positive integer, got '{s}'"
            ))),
        },
        Err(_) => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

impl Handle {
    /// A handle on the best available CPU backend, or on the one named by `TBLAS_CPU_BACKEND`
    /// (`native`, `openblas`, `mkl`, `reference`). Fails with [`Error::NotSupported`] when that
    /// variable names an unknown backend or one not compiled in, or when `TBLAS_NUM_THREADS` is
    /// not a positive integer.
    pub fn new() -> Result<Handle> {
        let backend = match std::env::var(ENV_CPU_BACKEND) {
            Ok(s) if !s.trim().is_empty() => {
                CpuBackend::parse(&s).map_err(|e| Error::NotSupported(format!("{ENV_CPU_BACKEND}: {e}")))?
            }
            _ => CpuBackend::best_available(),
        };
        Handle::with_backend(backend)
    }

    /// A handle on an explicit CPU backend.
    pub fn with_backend(backend: CpuBackend) -> Result<Handle> {
        if !backend.is_available() {
            return Err(Error::NotSupported(format!(
                "CPU backend '{backend}' is not compiled into this build (rebuild with --features {backend})"
            )));
        }
        Ok(Handle {
            backend,
            threads: AtomicUsize::new(0),
            default_threads: default_num_threads()?,
            isa: AtomicUsize::new(ISAS.iter().position(|&i| i == Isa::detect()).unwrap_or(2)),
            engine: AtomicUsize::new(0),
            gpu: None,
        })
    }

    /// A CUDA handle on `gpu` (CPU settings at their defaults; they do not apply).
    pub(crate) fn with_gpu(gpu: Arc<Gpu>) -> Handle {
        Handle {
            backend: CpuBackend::Auto,
            threads: AtomicUsize::new(0),
            default_threads: 1,
            isa: AtomicUsize::new(2),
            engine: AtomicUsize::new(0),
            gpu: Some(gpu),
        }
    }

    /// The GPU of a CUDA handle.
    pub(crate) fn gpu(&self) -> Option<&Arc<Gpu>> {
        self.gpu.as_ref()
    }

    /// Runs a validated job on this handle's GPU or CPU backend.
    ///
    /// The generic API stops here: each type continues in a non-generic, never-inlined
    /// function, so the backends and their kernels are compiled once, in this crate. Without
    /// it every crate calling a generic method compiled its own copy of all of them in release
    /// builds, which do not share generic instances across crates (the sweep's binary spent
    /// 72 s of a fresh 4-minute build on them).
    pub(crate) fn run_job<T: Scalar>(&self, job: &Job<'_, T>) -> Result<()> {
        macro_rules! as_type {
            ($t:ty, $run:ident) => {{
                // SAFETY: `Scalar` is sealed and each of its four types has its own DATATYPE,
                // so in this branch T is $t: the cast changes nothing but the type's name.
                let job = unsafe { &*(job as *const Job<'_, T>).cast::<Job<'_, $t>>() };
                self.$run(job)
            }};
        }
        per_type!(
            T,
            as_type!(f32, run_s),
            as_type!(f64, run_d),
            as_type!(Complex32, run_c),
            as_type!(Complex64, run_z),
        )
    }

    #[inline(never)]
    fn run_s(&self, job: &Job<'_, f32>) -> Result<()> {
        self.run_typed(job)
    }

    #[inline(never)]
    fn run_d(&self, job: &Job<'_, f64>) -> Result<()> {
        self.run_typed(job)
    }

    #[inline(never)]
    fn run_c(&self, job: &Job<'_, Complex32>) -> Result<()> {
        self.run_typed(job)
    }

    #[inline(never)]
    fn run_z(&self, job: &Job<'_, Complex64>) -> Result<()> {
        self.run_typed(job)
    }

    fn run_typed<T: Scalar>(&self, job: &Job<'_, T>) -> Result<()> {
        if self.gpu.is_some() && job.tri().is_some() {
            return Err(Error::NotSupported(
                "a triangle-only (syrk) job runs on CPU handles only".into(),
            ));
        }
        // The quick returns of every backend, decided once here: nothing to compute (an extent
        // or the batch is 0), or C = beta*C with beta = 1.
        let ab_unread = job.ab_unread();
        if job.m() == 0 || job.n() == 0 || job.batch() == 0 || (ab_unread && job.beta() == T::one()) {
            return Ok(());
        }
        // One path for every target (the CPU with this handle's settings, or its GPU).
        fn dispatch<B: Target, T: Scalar>(target: &B, job: &Job<'_, T>, ab_unread: bool) -> Result<()> {
            if ab_unread {
                target.scale_c(job) // C = beta*C: A and B are not read
            } else {
                target.run(job)
            }
        }
        match &self.gpu {
            Some(g) => dispatch(&**g, job, ab_unread),
            None => dispatch(&self.cpu(), job, ab_unread),
        }
    }

    /// This handle's CPU target: its backend and settings.
    fn cpu(&self) -> backend::Cpu {
        backend::Cpu {
            backend: self.backend,
            threads: self.num_threads(),
            isa: self.isa(),
            engine: self.cpu_engine(),
        }
    }

    /// The backend this handle runs on.
    pub fn backend(&self) -> CpuBackend {
        self.backend
    }

    /// Threads used per call (the default when none was set).
    pub fn num_threads(&self) -> usize {
        match self.threads.load(Ordering::Relaxed) {
            0 => self.default_threads,
            n => n,
        }
    }

    /// Instruction set of tensorblas' own small-matrix kernels on this handle.
    pub fn isa(&self) -> Isa {
        ISAS[self.isa.load(Ordering::Relaxed)]
    }

    /// Chooses the instruction set of tensorblas' own kernels (default: [`Isa::detect`]);
    /// [`Error::NotSupported`] when this CPU lacks it. For testing and benchmarking each path.
    pub fn set_isa(&self, isa: Isa) -> Result<()> {
        if !isa.is_supported() {
            return Err(Error::NotSupported(format!(
                "instruction set {} is not supported by this CPU",
                isa.name()
            )));
        }
        let idx = ISAS.iter().position(|&i| i == isa).unwrap_or(2);
        self.isa.store(idx, Ordering::Relaxed);
        Ok(())
    }

    /// The native backend's engine on this handle (default [`CpuEngine::Auto`]).
    pub fn cpu_engine(&self) -> CpuEngine {
        CpuEngine::all()[self.engine.load(Ordering::Relaxed)]
    }

    /// Forces an engine of the native backend (the `native` backend, and `auto` where it runs
    /// native): for testing and benchmarking each path. `Auto` restores the tuning table's
    /// choice. Vendor backends ignore it.
    pub fn set_cpu_engine(&self, engine: CpuEngine) {
        let idx = CpuEngine::all().iter().position(|&e| e == engine).unwrap_or(0);
        self.engine.store(idx, Ordering::Relaxed);
    }

    /// Sets the threads used per call; `0` restores the default (`TBLAS_NUM_THREADS` or the
    /// available cores, as they were when the handle was created).
    pub fn set_num_threads(&self, n: usize) {
        self.threads.store(n, Ordering::Relaxed);
    }
}

impl Handle {
    /// A handle on CUDA device `device` (cuBLAS + tensorblas' NVRTC kernels). Fails with
    /// [`Error::BackendUnavailable`] (naming what is missing) when the driver, cuBLAS, NVRTC or
    /// the device is not there, or the crate was built without the `cuda` feature.
    pub fn cuda(device: usize) -> Result<Handle> {
        let ordinal = i32::try_from(device)
            .map_err(|_| Error::BackendUnavailable(format!("CUDA device {device} does not exist")))?;
        Ok(Handle::with_gpu(Arc::new(Gpu::new(ordinal)?)))
    }

    /// Whether this handle runs on a GPU.
    pub fn is_cuda(&self) -> bool {
        self.gpu().is_some()
    }

    /// The GPU of a CUDA handle, e.g. `NVIDIA H100 80GB HBM3 (device 0, sm_90)`.
    pub fn device_name(&self) -> Option<String> {
        self.gpu().map(|g| g.describe())
    }

    /// For logs: the driver, cuBLAS and NVRTC versions of a CUDA handle, whether the device has
    /// memory pools, and the CUDA library files loaded into this process (`None` on CPU
    /// handles), e.g. `driver 13.0, cuBLAS 13.0.2, NVRTC 13.0; memory pools yes; files:
    /// /usr/lib/x86_64-linux-gnu/libcuda.so.580.65.06, ...`.
    pub fn cuda_runtime(&self) -> Option<String> {
        self.gpu().map(|g| g.runtime())
    }

    /// The GPU code path of a CUDA handle (`None` on CPU handles).
    pub fn gpu_engine(&self) -> Option<GpuEngine> {
        self.gpu().map(|g| g.engine())
    }

    /// Forces a GPU code path (for tests and benchmarks; the default is [`GpuEngine::Auto`]).
    /// `NotSupported` on CPU handles.
    pub fn set_gpu_engine(&self, engine: GpuEngine) -> Result<()> {
        self.require_gpu("Handle::set_gpu_engine")?.set_engine(engine);
        Ok(())
    }

    /// Waits for the work queued on a CUDA handle's stream (a no-op on CPU handles, whose calls
    /// are synchronous). Reports errors of kernels that already ran.
    pub fn synchronize(&self) -> Result<()> {
        match self.gpu() {
            Some(g) => g.synchronize(),
            None => Ok(()),
        }
    }

    /// Binds a CUDA stream (`cudaStream_t` / `CUstream`; NULL = the CUDA default stream) to a
    /// CUDA handle.
    ///
    /// # Safety
    /// `stream` must stay alive while work is queued on it through this handle.
    pub unsafe fn set_stream(&self, stream: *mut c_void) -> Result<()> {
        self.require_gpu("Handle::set_stream")?
            .set_stream(stream, "tblas_set_stream", 2)
    }

    /// `len` zero-filled elements of device memory on this handle's GPU.
    pub fn device_zeros<T: Scalar>(&self, len: usize) -> Result<DeviceBuffer<T>> {
        let mut b = self.device_alloc::<T>(len)?;
        b.upload(&vec![T::zero(); len])?;
        Ok(b)
    }

    /// A device buffer holding a copy of `host`.
    pub fn to_device<T: Scalar>(&self, host: &[T]) -> Result<DeviceBuffer<T>> {
        let mut b = self.device_alloc::<T>(host.len())?;
        b.upload(host)?;
        Ok(b)
    }

    fn device_alloc<T: Scalar>(&self, len: usize) -> Result<DeviceBuffer<T>> {
        const F: &str = "Handle::device_alloc";
        let gpu = self.require_gpu(F)?;
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| Error::invalid(F, 2, "len", format!("({len} elements) overflows the byte count")))?;
        let ptr = gpu.malloc(bytes)?;
        Ok(DeviceBuffer::from_alloc(gpu.clone(), ptr, len))
    }

    /// `tblas_device_malloc`: `bytes` of device memory (NULL for 0).
    pub fn device_malloc(&self, bytes: usize) -> Result<*mut c_void> {
        Ok(self.require_gpu("tblas_device_malloc")?.malloc(bytes)? as *mut c_void)
    }

    /// `tblas_device_free`: frees memory from [`Handle::device_malloc`] (NULL: no-op).
    ///
    /// # Safety
    /// No queued or later work may use the memory (work queued on this handle's stream is
    /// waited for first).
    pub unsafe fn device_free(&self, ptr: *mut c_void) -> Result<()> {
        self.require_gpu("tblas_device_free")?
            .free(ptr as u64, "tblas_device_free", 2)
    }

    /// `tblas_memcpy_htod`: copies `bytes` from host `src` to device `dst`.
    ///
    /// # Safety
    /// `src` must be readable for `bytes` bytes and `dst` device memory writable for them.
    pub unsafe fn memcpy_htod(&self, dst: *mut c_void, src: *const c_void, bytes: usize) -> Result<()> {
        const F: &str = "tblas_memcpy_htod";
        let gpu = self.require_gpu(F)?;
        check_copy(F, dst as usize, src as usize, bytes)?;
        if bytes == 0 {
            return Ok(());
        }
        // SAFETY: forwarded from the caller.
        unsafe { gpu.htod(dst as u64, src, bytes, F) }
    }

    /// `tblas_memcpy_dtoh`: copies `bytes` from device `src` to host `dst`.
    ///
    /// # Safety
    /// `dst` must be writable for `bytes` bytes and `src` device memory readable for them.
    pub unsafe fn memcpy_dtoh(&self, dst: *mut c_void, src: *const c_void, bytes: usize) -> Result<()> {
        const F: &str = "tblas_memcpy_dtoh";
        let gpu = self.require_gpu(F)?;
        check_copy(F, dst as usize, src as usize, bytes)?;
        if bytes == 0 {
            return Ok(());
        }
        // SAFETY: forwarded from the caller.
        unsafe { gpu.dtoh(dst, src as u64, bytes, F) }
    }

    /// Runs `f` with a CUDA handle's context current on the calling thread and its bound stream
    /// as argument (NULL = the default stream), for calling other CUDA libraries (cuFFT, ...) on
    /// the same device and stream. `NotSupported` on CPU handles.
    pub fn with_cuda_context<R>(&self, f: impl FnOnce(*mut c_void) -> R) -> Result<R> {
        self.require_gpu("Handle::with_cuda_context")?.with_context(f)
    }

    fn require_gpu(&self, function: &'static str) -> Result<&Arc<Gpu>> {
        self.gpu().ok_or_else(|| {
            Error::NotSupported(format!(
                "{function}: this is a CPU handle (device memory needs a TBLAS_BACKEND_CUDA handle)"
            ))
        })
    }
}

fn check_copy(f: &'static str, dst: usize, src: usize, bytes: usize) -> Result<()> {
    if bytes > 0 && dst == 0 {
        return Err(Error::invalid(f, 2, "dst", "must not be NULL when bytes > 0"));
    }
    if bytes > 0 && src == 0 {
        return Err(Error::invalid(f, 3, "src", "must not be NULL when bytes > 0"));
    }
    Ok(())
}
