//! Backends: who executes a validated [`Job`].
//!
//! The dispatch ladder for every GEMM call is
//! validate everything (in `validate`) -> quick return -> `alpha == 0 || k == 0` scaling ->
//! backend fast path -> backend general path. Backends only ever see `m, n, k, batch > 0` and
//! `alpha != 0`. A job restricted to a triangle of C (`Job::tri`, from `syrk`) runs on the
//! reference backend when that is the handle's, else on the native one (its packed engine skips
//! the micro-tiles outside the triangle).

use crate::error::{Error, Result};
use crate::job::Job;
use crate::scalar::Scalar;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

#[cfg(any(feature = "openblas", feature = "mkl"))]
pub(crate) mod cblas;
#[cfg(feature = "cuda")]
pub(crate) mod cuda;
#[cfg(not(feature = "cuda"))]
#[path = "cuda_off.rs"]
pub(crate) mod cuda;
pub(crate) mod native;
pub(crate) mod packed;
pub(crate) mod reference;
pub(crate) mod small;
pub(crate) mod team;
pub(crate) mod tuning;

/// Which GPU code path runs a call on a CUDA handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum GpuEngine {
    /// cuBLAS whenever it can express the layout, else the general-stride kernel (the default).
    #[default]
    Auto,
    /// cuBLAS only; layouts it cannot express give `NotSupported`.
    Cublas,
    /// tensorblas' general-stride kernel for everything.
    General,
    /// tensorblas' small-matrix kernel (m, n, k <= 16); larger calls give `NotSupported`.
    Small,
}

impl GpuEngine {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            GpuEngine::Auto => "auto",
            GpuEngine::Cublas => "cublas",
            GpuEngine::General => "general",
            GpuEngine::Small => "small",
        }
    }
}

/// Which engine of the native backend runs a call (tests and benchmarks force one; the default
/// `Auto` picks per type, shape and instruction set from the tuning table, `src/backend/tuning.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CpuEngine {
    /// The tuning table's choice (the default).
    #[default]
    Auto,
    /// The register-blocked small-matrix kernels (no packing of B; AVX-512 tiny path). A job
    /// they do not take (`min(m, n) > 64` or `k > 512`) runs on `Packed`.
    Small,
    /// The BLIS-style packed engine (packed A and B, `mr x nr` microkernel, cache blocking).
    Packed,
    /// The `gemm` crate per entry.
    GemmCrate,
}

impl CpuEngine {
    /// Every engine, `Auto` first.
    pub const fn all() -> [CpuEngine; 4] {
        [
            CpuEngine::Auto,
            CpuEngine::Small,
            CpuEngine::Packed,
            CpuEngine::GemmCrate,
        ]
    }

    /// Lower-case name, as accepted by [`CpuEngine::parse`].
    pub fn name(self) -> &'static str {
        match self {
            CpuEngine::Auto => "auto",
            CpuEngine::Small => "small",
            CpuEngine::Packed => "packed",
            CpuEngine::GemmCrate => "gemm-crate",
        }
    }

    /// Parses `auto`, `small`, `packed` or `gemm-crate`.
    pub fn parse(s: &str) -> Option<CpuEngine> {
        CpuEngine::all()
            .into_iter()
            .find(|e| e.name() == s.trim().to_ascii_lowercase())
    }
}

/// How a handle wants a job run.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Threads to use.
    pub threads: usize,
    /// Instruction set of tensorblas' own kernels.
    pub isa: small::Isa,
    /// The native backend's engine (`Auto`: the tuning table's choice).
    pub engine: CpuEngine,
    /// The pool of `threads` threads (None when `threads == 1`). Backends enter it themselves,
    /// so that they can also run small jobs on the calling thread alone.
    pub pool: Option<Arc<rayon::ThreadPool>>,
    /// The spinning team of `threads` threads for the native engines' static splits (None
    /// when `threads == 1`, for other backends, or when its threads could not start).
    pub team: Option<Arc<team::Team>>,
}

impl Config {
    /// Runs `f` inside the pool (so rayon parallel iterators use it), or here without one.
    pub(crate) fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(p) => p.install(f),
            None => f(),
        }
    }
}

/// A CPU backend: one way of executing a validated batched GEMM.
pub(crate) trait Backend {
    /// Executes `job` (all extents > 0, `alpha != 0`), on `cfg.pool` where it pays.
    fn execute<T: Scalar>(&self, job: &Job<'_, T>, cfg: &Config) -> Result<()>;
}

/// Where a handle's jobs run, behind one interface: the CPU (a backend with the handle's
/// settings, [`Cpu`]) or a GPU (`cuda::Gpu`). `Handle::run_job` makes the quick returns and then
/// calls one of these two methods, whichever the target.
pub(crate) trait Target {
    /// A job that reads A and B (m, n, k, batch > 0, alpha != 0).
    fn run<T: Scalar>(&self, job: &Job<'_, T>) -> Result<()>;
    /// `C = beta*C` (alpha == 0 or k == 0, so A and B are not read; beta != 1).
    fn scale_c<T: Scalar>(&self, job: &Job<'_, T>) -> Result<()>;
}

/// The CPU as a [`Target`]: a backend and the handle's thread count, instruction set and engine.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cpu {
    pub backend: CpuBackend,
    pub threads: usize,
    pub isa: small::Isa,
    pub engine: CpuEngine,
}

impl Target for Cpu {
    fn run<T: Scalar>(&self, job: &Job<'_, T>) -> Result<()> {
        run(self.backend, job, self.threads, self.isa, self.engine)
    }

    fn scale_c<T: Scalar>(&self, job: &Job<'_, T>) -> Result<()> {
        scale_c(job);
        Ok(())
    }
}

impl Target for cuda::Gpu {
    fn run<T: Scalar>(&self, job: &Job<'_, T>) -> Result<()> {
        cuda::Gpu::run(self, job)
    }

    fn scale_c<T: Scalar>(&self, job: &Job<'_, T>) -> Result<()> {
        cuda::Gpu::scale_c(self, job)
    }
}

/// The CPU backends a handle can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CpuBackend {
    /// tensorblas' dispatch (the default), from the tuning table (`src/backend/tuning.rs`):
    /// `Native`, or the vendor BLAS when one is compiled in and the table gives it the shape
    /// (never on AVX-512; on AVX2 with OpenBLAS products whose three extents all exceed 128;
    /// otherwise products with an extent over the old per-type limits, see `tuning::vendor_runs`).
    Auto,
    /// The naive strided triple loop accumulating in `f64`/`Complex64`: the oracle. Slow; always
    /// compiled.
    Reference,
    /// Pure Rust: tensorblas' own small-matrix kernels and packed GEMM, and the `gemm` crate,
    /// chosen per call by the tuning table ([`CpuEngine`]). Needs no system library; always
    /// compiled.
    Native,
    /// OpenBLAS through CBLAS (cargo feature `openblas`); layouts CBLAS cannot express
    /// (general or negative strides, conjugation without transposition) run on `Native`.
    OpenBlas,
    /// Intel oneMKL through CBLAS and `cblas_?gemm_batch_strided` (cargo feature `mkl`); same
    /// fallback rule as `OpenBlas`.
    Mkl,
}

impl CpuBackend {
    /// Lower-case name, as accepted by `TBLAS_CPU_BACKEND`.
    pub fn name(self) -> &'static str {
        match self {
            CpuBackend::Auto => "auto",
            CpuBackend::Reference => "reference",
            CpuBackend::Native => "native",
            CpuBackend::OpenBlas => "openblas",
            CpuBackend::Mkl => "mkl",
        }
    }

    /// Whether this backend is compiled into this build.
    pub fn is_available(self) -> bool {
        match self {
            CpuBackend::Auto | CpuBackend::Reference | CpuBackend::Native => true,
            CpuBackend::OpenBlas => cfg!(feature = "openblas"),
            CpuBackend::Mkl => cfg!(feature = "mkl"),
        }
    }

    /// The default backend: [`CpuBackend::Auto`].
    pub fn best_available() -> CpuBackend {
        CpuBackend::Auto
    }

    /// The vendor BLAS backend compiled into this build, if any.
    pub fn vendor() -> Option<CpuBackend> {
        [CpuBackend::OpenBlas, CpuBackend::Mkl]
            .into_iter()
            .find(|b| b.is_available())
    }

    /// Every backend compiled into this build.
    pub fn all_available() -> Vec<CpuBackend> {
        [
            CpuBackend::Auto,
            CpuBackend::Reference,
            CpuBackend::Native,
            CpuBackend::OpenBlas,
            CpuBackend::Mkl,
        ]
        .into_iter()
        .filter(|b| b.is_available())
        .collect()
    }

    /// Parses a `TBLAS_CPU_BACKEND` value (`auto`, `native`, `openblas`, `mkl`, `reference`).
    pub fn parse(s: &str) -> Result<CpuBackend> {
        let b = match s.trim().to_ascii_lowercase().as_str() {
            "auto" => CpuBackend::Auto,
            "reference" => CpuBackend::Reference,
            "native" => CpuBackend::Native,
            "openblas" => CpuBackend::OpenBlas,
            "mkl" => CpuBackend::Mkl,
            other => {
                return Err(Error::NotSupported(format!(
                    "unknown CPU backend '{other}': expected auto, native, openblas, mkl or reference"
                )))
            }
        };
        if !b.is_available() {
            return Err(Error::NotSupported(format!(
                "CPU backend '{}' is not compiled into this build (rebuild with --features {})",
                b.name(),
                b.name()
            )));
        }
        Ok(b)
    }
}

impl std::fmt::Display for CpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs a validated job that reads A and B (m, n, k, batch > 0 and alpha != 0: `Handle::run_job`
/// made the quick returns) on `backend` with `threads` threads.
pub(crate) fn run<T: Scalar>(
    backend: CpuBackend,
    job: &Job<'_, T>,
    threads: usize,
    isa: small::Isa,
    engine: CpuEngine,
) -> Result<()> {
    // Handle::run_job made the quick returns and scaled C where A and B go unread.
    debug_assert!(job.m() > 0 && job.n() > 0 && job.batch() > 0 && !job.ab_unread());
    let backend = match backend {
        // A triangle-only job (syrk): the vendor BLASes have no strided-batched form of it.
        _ if job.tri().is_some() && backend != CpuBackend::Reference => CpuBackend::Native,
        CpuBackend::Auto => auto(job, isa),
        b => b,
    };
    let cfg = Config {
        threads,
        isa,
        engine,
        pool: if threads > 1 { Some(pool(threads)?) } else { None },
        team: if threads > 1 && backend == CpuBackend::Native {
            team::team(threads)
        } else {
            None
        },
    };
    match backend {
        CpuBackend::Reference => reference::Reference.execute(job, &cfg),
        CpuBackend::Native => native::Native.execute(job, &cfg),
        #[cfg(feature = "openblas")]
        CpuBackend::OpenBlas => cblas::Cblas.execute(job, &cfg),
        #[cfg(feature = "mkl")]
        CpuBackend::Mkl => cblas::Cblas.execute(job, &cfg),
        #[allow(unreachable_patterns)]
        other => Err(Error::NotSupported(format!(
            "CPU backend '{other}' is not compiled into this build"
        ))),
    }
}

/// The backend `Auto` picks for a job: the vendor BLAS when one is compiled in and the tuning
/// table gives it the job's shape (`tuning::vendor_runs`), else `Native` (whose own engine choice
/// is the tuning table's too).
fn auto<T: Scalar>(job: &Job<'_, T>, isa: small::Isa) -> CpuBackend {
    let Some(vendor) = CpuBackend::vendor() else {
        return CpuBackend::Native;
    };
    if tuning::vendor_runs(vendor, T::DATATYPE, isa, (job.m(), job.n(), job.k())) {
        vendor
    } else {
        CpuBackend::Native
    }
}

/// `C := beta * C` for every addressed element (`beta == 0` writes zeros without reading C);
/// only the job's triangle of C when it has one.
pub(crate) fn scale_c<T: Scalar>(job: &Job<'_, T>) {
    if job.beta() == T::one() {
        return;
    }
    for p in 0..job.batch() {
        let c = job.entry(p).c;
        for j in 0..job.n() {
            for i in 0..job.m() {
                if job.tri().is_some_and(|t| !t.keeps(i, j)) {
                    continue;
                }
                let (i, j) = (i as isize, j as isize);
                let ptr = c.wrapping_offset(i * job.c().rs + j * job.c().cs);
                // SAFETY: the validator proved every (i, j, p) of C addressable and writable.
                unsafe {
                    *ptr = if job.beta().is_zero() {
                        T::zero()
                    } else {
                        job.beta() * *ptr
                    };
                }
            }
        }
    }
}

/// One rayon pool per thread count, shared by all handles and created on first use.
fn pool(threads: usize) -> Result<Arc<rayon::ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let pools = POOLS.get_or_init(Default::default);
    let mut map = pools.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = map.get(&threads) {
        return Ok(p.clone());
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(move |i| format!("tensorblas-{threads}-{i}"))
        .build()
        .map_err(|e| Error::Internal(format!("cannot start a pool of {threads} threads: {e}")))?;
    let p = Arc::new(p);
    map.insert(threads, p.clone());
    Ok(p)
}
