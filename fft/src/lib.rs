//! # tensorblas-fft
//!
//! A low-communication, FMM-accelerated distributed 1-D FFT (Edelman–McCorquodale–Toledo; in the
//! GEMM-centred form of Cecka, SC'17) on tensorblas: one all-to-all instead of the three of a
//! standard distributed FFT, paid for by a fast multipole method whose every heavy step is a
//! strided-batched GEMM. `docs/fmm-fft.md` is the specification; its notation is used
//! throughout (N = P·M, M = B·2^L, G devices, Q Chebyshev nodes).
//!
//! ```
//! use tensorblas_fft::{transform, Algorithm, Plan, PlanSpec, Precision};
//! use num_complex::Complex64;
//! // N = 4096 on G = 2 simulated devices, f64 defaults (Q = 16).
//! let plan = Plan::new(&PlanSpec::new(4096, 2, Precision::F64)?)?;
//! let x: Vec<Complex64> = (0..4096).map(|n| Complex64::new((n % 7) as f64, 0.0)).collect();
//! let (big_x, report) = transform(&plan, Algorithm::Fmm, &x, false)?;
//! assert_eq!(big_x.len(), 4096);
//! assert_eq!(report.traffic, plan.expected_bytes()); // bytes equal the closed form exactly
//! # Ok::<(), tensorblas_fft::FftError>(())
//! ```
//!
//! Each device's part is [`transform_on`] over any [`Fabric`]: [`transform`] (or
//! [`transform_into`], into the caller's array) runs G devices as threads over the in-process
//! fabric; with the cargo feature `mpi`, `mpi::transform_root` runs one device per MPI rank.
//!
//! [`transform_into_with`] takes the handle: on a CUDA handle the G devices are partitions of
//! that GPU (level arrays in device memory, GEMMs on cuBLAS, final FFTs on cuFFT, messages staged
//! through host memory).
//!
//! Status (issue #8): planner, executor (f32/f64, forward/inverse, natural order), the
//! in-process and MPI fabrics with byte counters, the six-step baseline, the CLI and
//! `tensorblas-bench fft` are implemented and tested. The GPU path passes its tests on an NVIDIA
//! H200 (they skip without a GPU). Not built: the NCCL fabric and the six-step on the GPU.
#![deny(unsafe_code)] // allowed in gpu.rs only (cuFFT)

pub mod fabric;
mod fmm;
mod gpu;
mod mem;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod npy;
mod plan;
pub mod sixstep;
mod work;

pub use fabric::{Counters, Fabric, InProcess, Phase, Traffic, Wire};
pub use plan::{Plan, PlanSpec, Precision};
pub use work::Workspace;

use num_complex::Complex;
use std::collections::BTreeMap;

/// Errors of planning and executing a transform.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FftError {
    /// The sizes break a rule of docs/fmm-fft.md §3.6 (the message names it).
    #[error("invalid FMM-FFT plan: {0}")]
    InvalidPlan(String),
    /// The input does not match the plan.
    #[error("{0}")]
    InvalidInput(String),
    /// A tensorblas call failed.
    #[error("tensorblas: {0}")]
    Blas(#[from] tensorblas::Error),
    /// A device thread failed.
    #[error("device {0} failed: {1}")]
    Device(usize, String),
}

/// The element types: f32 and f64.
pub trait Real: tensorblas::Scalar + rustfft::FftNum + bytemuck::Pod {
    /// The precision this type is.
    const PRECISION: Precision;
    /// rustfft's forward plan of length `len` in this precision (planned by
    /// `tensorblas-fft-plans`, where the planner is compiled once).
    fn forward_plan(len: usize) -> std::sync::Arc<dyn rustfft::Fft<Self>>;
}

impl Real for f32 {
    const PRECISION: Precision = Precision::F32;
    fn forward_plan(len: usize) -> std::sync::Arc<dyn rustfft::Fft<Self>> {
        tensorblas_fft_plans::forward_f32(len)
    }
}

impl Real for f64 {
    const PRECISION: Precision = Precision::F64;
    fn forward_plan(len: usize) -> std::sync::Arc<dyn rustfft::Fft<Self>> {
        tensorblas_fft_plans::forward_f64(len)
    }
}

/// rustfft plans compiled once, for callers that need a plain FFT beside the distributed one (the
/// CLI's single-device fallback, oracles, benchmarks): `plans::forward_f64(n)` etc.
pub use tensorblas_fft_plans as plans;

/// Which distributed algorithm runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// The FMM-FFT: one all-to-all.
    Fmm,
    /// The six-step baseline: three all-to-alls.
    SixStep,
}

/// The steps a device times, in the order they run (the FMM-FFT uses all; six-step only
/// `alltoall` and `fft`).
pub const STEPS: [&str; 9] = [
    "reshuffle",
    "upward",
    "halo",
    "allgather",
    "top",
    "downward",
    "combine",
    "alltoall",
    "fft",
];

/// What one device measured.
#[derive(Clone, Debug, Default)]
pub struct DeviceStats {
    /// Seconds per step (the names of [`STEPS`]).
    pub seconds: BTreeMap<&'static str, f64>,
    /// Bytes this device sent to other devices, per phase.
    pub traffic: Traffic,
    /// Messages this device sent to other devices: (all-to-all, halo, all-gather).
    pub messages: [u64; 3],
    /// Real flops done by GEMMs.
    pub gemm_flops: f64,
    /// Seconds inside GEMM calls.
    pub gemm_secs: f64,
    /// Seconds inside the local FFTs.
    pub fft_secs: f64,
    /// Wall seconds of the device's whole part.
    pub total_secs: f64,
    /// Every GEMM call in order (shape, layout, seconds): for the bench's same-shape comparison.
    pub gemm_log: Vec<GemmCall>,
}

/// One strided-batched GEMM call of the FMM-FFT (column-major, cuBLAS argument order; B is
/// never transposed).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GemmCall {
    /// op(A).
    pub transa: tensorblas::Op,
    /// Rows of C.
    pub m: usize,
    /// Columns of C.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// Leading dimension of A.
    pub lda: usize,
    /// Batch stride of A (0: shared operator).
    pub stride_a: usize,
    /// Leading dimension of B.
    pub ldb: usize,
    /// Batch stride of B.
    pub stride_b: usize,
    /// Leading dimension of C.
    pub ldc: usize,
    /// Batch stride of C.
    pub stride_c: usize,
    /// Batch count.
    pub batch: usize,
    /// Whether beta was 0 (C not read).
    pub beta_zero: bool,
    /// Seconds the call took.
    pub secs: f64,
}

impl GemmCall {
    /// Real flops of the call.
    pub fn flops(&self) -> f64 {
        2.0 * (self.m * self.n * self.k * self.batch) as f64
    }
}

impl DeviceStats {
    fn add(&mut self, step: &'static str, secs: f64) {
        *self.seconds.entry(step).or_insert(0.0) += secs;
    }
}

/// What a transform measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// Bytes between distinct devices per phase, summed over devices.
    pub traffic: Traffic,
    /// Messages between distinct devices: (all-to-all, halo, all-gather).
    pub messages: [u64; 3],
    /// Per device.
    pub devices: Vec<DeviceStats>,
    /// Wall seconds of the whole transform.
    pub seconds: f64,
}

impl Report {
    /// The report of a transform from its devices' statistics: traffic and messages summed.
    pub(crate) fn from_devices(devices: Vec<DeviceStats>, seconds: f64) -> Report {
        let traffic = devices.iter().fold(Traffic::default(), |a, d| a.plus(&d.traffic));
        let messages = devices
            .iter()
            .fold([0; 3], |a, d| [0, 1, 2].map(|i| a[i] + d.messages[i]));
        Report {
            traffic,
            messages,
            devices,
            seconds,
        }
    }

    /// GEMM flops summed over devices.
    pub fn gemm_flops(&self) -> f64 {
        self.devices.iter().map(|d| d.gemm_flops).sum()
    }

    /// Fraction of the compute time (total minus communication steps) spent in GEMMs, over all
    /// devices.
    pub fn gemm_share(&self) -> f64 {
        let comm: f64 = self
            .devices
            .iter()
            .map(|d| {
                ["halo", "allgather", "alltoall"]
                    .iter()
                    .map(|k| d.seconds.get(k).copied().unwrap_or(0.0))
                    .sum::<f64>()
            })
            .sum();
        let total: f64 = self.devices.iter().map(|d| d.total_secs).sum();
        let gemm: f64 = self.devices.iter().map(|d| d.gemm_secs).sum();
        if total - comm > 0.0 {
            gemm / (total - comm)
        } else {
            0.0
        }
    }
}

/// Transforms `x` (natural order, length N) with `plan` on G in-process devices (threads): the
/// forward DFT `X_k = Σ x_n e^{-2πi nk/N}`, or with `inverse` the inverse scaled by 1/N (numpy
/// conventions). `T` must match the plan's precision.
pub fn transform<T: Real>(
    plan: &Plan,
    algo: Algorithm,
    x: &[Complex<T>],
    inverse: bool,
) -> Result<(Vec<Complex<T>>, Report), FftError> {
    transform_with_threads(plan, algo, x, inverse, threads_per_device(plan))
}

/// The tensorblas threads each in-process device gets by default: an equal share of the cores
/// (at least one).
pub fn threads_per_device(plan: &Plan) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / plan.spec().devices).max(1)
}

/// [`transform`] with `threads` tensorblas threads per device (the default gives each device an
/// equal share of the cores).
pub fn transform_with_threads<T: Real>(
    plan: &Plan,
    algo: Algorithm,
    x: &[Complex<T>],
    inverse: bool,
    threads: usize,
) -> Result<(Vec<Complex<T>>, Report), FftError> {
    let zero = <T as tensorblas::Scalar>::zero();
    let mut out = vec![Complex::new(zero, zero); x.len()];
    let report = transform_into(plan, algo, x, &mut out, inverse, threads, &mut Workspace::new())?;
    Ok((out, report))
}

/// [`transform`] into a caller's array `out` (length N), with `threads` tensorblas threads per
/// device and the work arrays of `ws`: a program that transforms repeatedly reuses `out` and its
/// [`Workspace`], and nothing is allocated afresh. On an error `out` may hold partial results.
pub fn transform_into<T: Real>(
    plan: &Plan,
    algo: Algorithm,
    x: &[Complex<T>],
    out: &mut [Complex<T>],
    inverse: bool,
    threads: usize,
    ws: &mut Workspace,
) -> Result<Report, FftError> {
    let handle = tensorblas::Handle::new()?;
    handle.set_num_threads(threads.max(1));
    transform_into_with(plan, algo, x, out, inverse, &handle, ws)
}

/// [`transform_into`] with the G in-process devices sharing `handle`: a CPU handle (with its
/// thread count), or a CUDA handle from `tensorblas::Handle::cuda`, when the G devices are G
/// partitions of that GPU: each device's level arrays live in device memory, its GEMMs run on
/// cuBLAS and its M-point FFTs on cuFFT, all queued on the handle's stream, and the messages
/// between devices are staged through host memory. `x` and `out` are host arrays. On a CUDA
/// handle only [`Algorithm::Fmm`] runs (the six-step is `NotSupported` there); checked on an
/// NVIDIA H200 (the README's status table).
pub fn transform_into_with<T: Real>(
    plan: &Plan,
    algo: Algorithm,
    x: &[Complex<T>],
    out: &mut [Complex<T>],
    inverse: bool,
    handle: &tensorblas::Handle,
    ws: &mut Workspace,
) -> Result<Report, FftError> {
    // The generic API stops here: each precision continues in a non-generic, never-inlined
    // function, so the transforms (and the rustfft code under them) are compiled once, in this
    // crate, not again in every crate that calls them (release builds do not share generic
    // instances across crates).
    fn same<T: Real, U: Real>(x: &[Complex<T>]) -> &[Complex<U>] {
        let y: &[Complex<U>] = bytemuck::cast_slice(x);
        assert_eq!(y.len(), x.len(), "the precision dispatch met a type of another size");
        y
    }
    fn same_mut<T: Real, U: Real>(x: &mut [Complex<T>]) -> &mut [Complex<U>] {
        let n = x.len();
        let y: &mut [Complex<U>] = bytemuck::cast_slice_mut(x);
        assert_eq!(y.len(), n, "the precision dispatch met a type of another size");
        y
    }
    // `Real` is implemented for f32 and f64 only (its `tensorblas::Scalar` bound is sealed, so
    // no other crate can add a type), each with its own PRECISION: in each branch T is that type.
    if const { matches!(T::PRECISION, Precision::F32) } {
        into_with_f32(plan, algo, same(x), same_mut(out), inverse, handle, ws)
    } else {
        into_with_f64(plan, algo, same(x), same_mut(out), inverse, handle, ws)
    }
}

#[inline(never)]
fn into_with_f32(
    plan: &Plan,
    algo: Algorithm,
    x: &[Complex<f32>],
    out: &mut [Complex<f32>],
    inverse: bool,
    handle: &tensorblas::Handle,
    ws: &mut Workspace,
) -> Result<Report, FftError> {
    into_with_typed(plan, algo, x, out, inverse, handle, ws)
}

#[inline(never)]
fn into_with_f64(
    plan: &Plan,
    algo: Algorithm,
    x: &[Complex<f64>],
    out: &mut [Complex<f64>],
    inverse: bool,
    handle: &tensorblas::Handle,
    ws: &mut Workspace,
) -> Result<Report, FftError> {
    into_with_typed(plan, algo, x, out, inverse, handle, ws)
}

fn into_with_typed<T: Real>(
    plan: &Plan,
    algo: Algorithm,
    x: &[Complex<T>],
    out: &mut [Complex<T>],
    inverse: bool,
    handle: &tensorblas::Handle,
    ws: &mut Workspace,
) -> Result<Report, FftError> {
    let spec = plan.spec();
    check_precision::<T>(plan)?;
    for (name, len) in [("x", x.len()), ("out", out.len())] {
        if len != spec.n {
            return Err(FftError::InvalidInput(format!(
                "{name} has {len} points, the plan is for N = {}",
                spec.n
            )));
        }
    }
    let g = spec.devices;
    let chunk = spec.n / g;
    let ends = InProcess::new(g);
    let t = std::time::Instant::now();
    let results: Vec<Result<DeviceStats, FftError>> = std::thread::scope(|s| {
        let hs: Vec<_> = ends
            .into_iter()
            .zip(x.chunks(chunk).zip(out.chunks_mut(chunk)))
            .zip(ws.devices_for(plan).iter_mut())
            .map(|((fab, (part, dst)), slot)| {
                s.spawn(move || {
                    let r = device_transform(plan, algo, &fab, handle, (part, inverse), dst, slot);
                    if r.is_err() {
                        fab.abandon(); // the other devices must not wait for it forever
                    }
                    r
                })
            })
            .collect();
        hs.into_iter()
            .enumerate()
            .map(|(d, h)| h.join().unwrap_or_else(|_| Err(FftError::Device(d, "panicked".into()))))
            .collect()
    });
    let seconds = t.elapsed().as_secs_f64();
    let devices = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(Report::from_devices(devices, seconds))
}

/// One device's part of a transform over the fabric `fab` (device g = `fab.rank()`, G =
/// `fab.size()`, which must equal the plan's): `block` is this device's natural-order block of
/// the input, points g·N/G .. (g+1)·N/G; `out` receives its block of the result (same points,
/// natural order); returns what the device measured. Every device of the fabric must call it with the same plan,
/// algorithm and direction. `handle` runs the GEMMs: a CPU handle, or (FMM only) a CUDA handle,
/// on which the device's arrays live in GPU memory (see [`transform_into_with`]). The device's
/// work arrays come from (and go back to) its slot of `ws`.
#[allow(clippy::too_many_arguments)]
pub fn transform_on<T: Real, F: Fabric>(
    plan: &Plan,
    algo: Algorithm,
    fab: &F,
    handle: &tensorblas::Handle,
    block: &[Complex<T>],
    out: &mut [Complex<T>],
    inverse: bool,
    ws: &mut Workspace,
) -> Result<DeviceStats, FftError> {
    check_precision::<T>(plan)?;
    let spec = plan.spec();
    if fab.size() != spec.devices {
        return Err(FftError::InvalidPlan(format!(
            "the plan is for G = {} devices but the fabric has {}",
            spec.devices,
            fab.size()
        )));
    }
    let rank = fab.rank();
    let Some(slot) = ws.devices_for(plan).get_mut(rank) else {
        return Err(FftError::InvalidPlan(format!(
            "the fabric's rank {rank} is not below its size {}",
            spec.devices
        )));
    };
    device_transform(plan, algo, fab, handle, (block, inverse), out, slot)
}

/// [`transform_on`] with the device's workspace slot, once the data's precision and the fabric's
/// size are known to be the plan's (checked by `transform_on`; the in-process transform makes
/// its fabric for the plan).
fn device_transform<T: Real, F: Fabric>(
    plan: &Plan,
    algo: Algorithm,
    fab: &F,
    handle: &tensorblas::Handle,
    (block, inverse): (&[Complex<T>], bool),
    out: &mut [Complex<T>],
    slot: &mut work::DeviceWork,
) -> Result<DeviceStats, FftError> {
    let spec = plan.spec();
    for (name, len) in [("block", block.len()), ("out", out.len())] {
        if len * spec.devices != spec.n {
            return Err(FftError::InvalidInput(format!(
                "device {}: {name} has {len} points, its block of N = {} over G = {} devices is {}",
                fab.rank(),
                spec.n,
                spec.devices,
                spec.n / spec.devices
            )));
        }
    }
    if algo == Algorithm::SixStep {
        sixstep::factor(spec.n, spec.devices)?;
    }
    let (t0, m0) = (fab.counters().traffic(), fab.counters().messages());
    // The inverse is conj(forward(conj(x)))/N; the first conjugation happens as the device reads
    // its block.
    let mut st = DeviceStats::default();
    match algo {
        Algorithm::Fmm if handle.is_cuda() => {
            let mem = gpu::DevMem::<T, _>::new(gpu::Cuda(handle), slot);
            fmm_in(mem, plan, fab, handle, (block, inverse), out, &mut st, slot)
        }
        Algorithm::Fmm => {
            let mem = mem::HostMem::<T>::new(slot);
            fmm_in(mem, plan, fab, handle, (block, inverse), out, &mut st, slot)
        }
        Algorithm::SixStep if handle.is_cuda() => Err(FftError::Blas(tensorblas::Error::NotSupported(
            "the six-step baseline runs on CPU handles only (its GPU path is not built)".into(),
        ))),
        Algorithm::SixStep => sixstep::device(plan, (block, inverse), fab, out, &mut st, slot),
    }?;
    if inverse {
        let scale = T::from_c64(num_complex::Complex64::new(1.0 / spec.n as f64, 0.0));
        for v in out.iter_mut() {
            *v = v.conj() * scale;
        }
    }
    let (t1, m1) = (fab.counters().traffic(), fab.counters().messages());
    st.traffic = t1.minus(&t0);
    st.messages = [0, 1, 2].map(|i| m1[i] - m0[i]);
    Ok(st)
}

/// The FMM-FFT of one device with its arrays in `mem`, whose work arrays go back to the
/// device's workspace slot whatever the outcome.
#[allow(clippy::too_many_arguments)]
fn fmm_in<T: Real, F: Fabric, M: mem::Mem<T>>(
    mut mem: M,
    plan: &Plan,
    fab: &F,
    handle: &tensorblas::Handle,
    block: (&[Complex<T>], bool),
    out: &mut [Complex<T>],
    st: &mut DeviceStats,
    slot: &mut work::DeviceWork,
) -> Result<(), FftError> {
    let r = fmm::device(plan, fab, handle, &mut mem, block, out, st);
    mem.done(slot);
    r
}

/// The data's precision must be the plan's.
fn check_precision<T: Real>(plan: &Plan) -> Result<(), FftError> {
    let p = plan.spec().precision;
    if T::PRECISION == p {
        Ok(())
    } else {
        Err(FftError::InvalidInput(format!(
            "the plan is for {p:?} but the data is {:?}",
            T::PRECISION
        )))
    }
}
