//! `tensorblas-bench gpu`: the GPU sweep. On one CUDA device, same buffers, same stream:
//!
//! - `ours`: tensorblas' strided batched on a CUDA handle (engine auto: the small-matrix kernel
//!   at m, n, k <= 8 (16 for complex float), cuBLAS above), the whole public path (validation,
//!   dispatch) included;
//! - `cublas`: `cublas<T>gemmStridedBatched` called directly (its own handle, default math);
//! - `small`: tensorblas' small-matrix kernel (sizes <= 16);
//! - `general`: tensorblas' general-stride kernel (128x128 tiles for f32 above 64, 64x64
//!   otherwise; `TBLAS_GPU_WIDE=0` keeps it at 64x64);
//!
//! for square sizes (default 4..1024) with the batch chosen to move about `--mb` MiB per call,
//! and the 8 contraction cases cuBLAS cannot express (`contraction-cases.txt`: 3.4, 3.6, 4.4,
//! 4.6, 5.4, 5.6, 6.4, 6.6) run through `einsum` (general-stride kernel) against cuBLAS on a
//! strided batched GEMM of the same m, n, k and batch, and a device-to-device copy of `--mb`
//! MiB (the bandwidth roofline of the same run). Writes `gpu.csv` and `gpu-<device>.md`.
//!
//! Made for a short window on a GPU machine: `gpu.csv` is written row by row (a failure or a
//! hang loses only the row in progress); a failed call is recorded as an `error` row and the
//! sweep goes on, unless the CUDA context is lost (then it stops and writes what it has); a
//! step that runs longer than `--step-timeout` seconds ends the process with status 124 after
//! recording a `timeout` row. Nothing here panics on a GPU error.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tensorblas::{
    Complex32, Complex64, GpuEngine, Handle, Op, Scalar, Shape, StridedMut, StridedRef, TensorMut, TensorRef,
};

pub const HELP: &str = "\
tensorblas-bench gpu [--types s,d,c,z] [--sizes 4,8,...,1024] [--mb MB] [--contract-size S]
                     [--device D] [--out DIR] [--step-timeout S] [--quick]
    (GPU sweep on CUDA device D: tensorblas strided batched (auto) vs cuBLAS called
     directly vs tensorblas' small-matrix kernel (sizes <= 16) vs its general-stride kernel,
     batch sized to move about MB MiB per call (default 256); then the 8 contraction cases
     cuBLAS cannot express, einsum (general-stride kernel) vs cuBLAS on the same flops, extents
     S (default 128), and a device-to-device copy of MB MiB (bandwidth roofline); writes
     DIR/gpu.csv (row by row) and DIR/gpu-<device>.md; default DIR benches/results. A step
     running longer than S seconds (default 60) ends the run with status 124)";

pub struct Opts {
    pub types: Vec<char>,
    pub sizes: Vec<usize>,
    pub mb: usize,
    pub contract_size: usize,
    pub device: usize,
    pub out: PathBuf,
    pub step_timeout: u64,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            types: vec!['s', 'd', 'c', 'z'],
            sizes: vec![4, 8, 16, 32, 64, 128, 256, 512, 1024],
            mb: 256,
            contract_size: 128,
            device: 0,
            out: PathBuf::from("benches/results"),
            step_timeout: 60,
        }
    }
}

/// cuBLAS called directly, through cudarc, on the CUDA default stream.
mod direct {
    use cudarc::cublas::sys as b;
    use cudarc::driver::sys as d;
    use tensorblas::{DataType, Scalar};

    pub struct Cublas(b::cublasHandle_t);

    impl Cublas {
        /// Makes device `dev`'s primary context current on this thread and creates a handle.
        pub fn new(dev: usize) -> Result<Cublas, String> {
            // SAFETY: tensorblas' CUDA handle on this device already initialised the driver and
            // found cuBLAS; each call writes only its out-parameter.
            unsafe {
                let mut device = 0;
                let mut ctx = std::ptr::null_mut();
                if d::cuDeviceGet(&mut device, dev as i32) != d::CUresult::CUDA_SUCCESS
                    || d::cuDevicePrimaryCtxRetain(&mut ctx, device) != d::CUresult::CUDA_SUCCESS
                    || d::cuCtxSetCurrent(ctx) != d::CUresult::CUDA_SUCCESS
                {
                    return Err("cannot make the device's primary context current".into());
                }
                let mut h = std::ptr::null_mut();
                if b::cublasCreate_v2(&mut h) != b::cublasStatus_t::CUBLAS_STATUS_SUCCESS
                    || b::cublasSetMathMode(h, b::cublasMath_t::CUBLAS_DEFAULT_MATH)
                        != b::cublasStatus_t::CUBLAS_STATUS_SUCCESS
                {
                    return Err("cublasCreate failed".into());
                }
                Ok(Cublas(h))
            }
        }

        /// `C[p] = A[p] B[p]` (NN, column-major, packed, alpha 1, beta 0), queued; a cuBLAS
        /// status other than success is the error.
        ///
        /// # Safety
        /// `a`, `b`, `c` are device buffers of at least `m*k*batch`, `k*n*batch`, `m*n*batch`.
        pub unsafe fn strided<T: Scalar>(
            &self,
            (m, n, k, batch): (i32, i32, i32, i32),
            a: *const T,
            bb: *const T,
            c: *mut T,
        ) -> Result<(), String> {
            let (one, zero) = (T::one(), T::zero());
            let (sa, sb, sc) = ((m * k) as i64, (k * n) as i64, (m * n) as i64);
            let op = b::cublasOperation_t::CUBLAS_OP_N;
            macro_rules! go {
                ($f:ident, $t:ty) => {
                    // SAFETY: forwarded from the caller; scalars are host values.
                    unsafe {
                        b::$f(
                            self.0,
                            op,
                            op,
                            m,
                            n,
                            k,
                            &one as *const T as *const $t,
                            a as *const $t,
                            m,
                            sa,
                            bb as *const $t,
                            k,
                            sb,
                            &zero as *const T as *const $t,
                            c as *mut $t,
                            m,
                            sc,
                            batch,
                        )
                    }
                };
            }
            let r = match T::DATATYPE {
                DataType::R32F => go!(cublasSgemmStridedBatched, f32),
                DataType::R64F => go!(cublasDgemmStridedBatched, f64),
                DataType::C32F => go!(cublasCgemmStridedBatched, b::cuComplex),
                DataType::C64F => go!(cublasZgemmStridedBatched, b::cuDoubleComplex),
            };
            match r {
                b::cublasStatus_t::CUBLAS_STATUS_SUCCESS => Ok(()),
                e => Err(format!("cublas<T>gemmStridedBatched: {e:?}")),
            }
        }

        /// Waits for the current context's work.
        pub fn sync() -> Result<(), String> {
            // SAFETY: waits for the current context's work.
            match unsafe { d::cuCtxSynchronize() } {
                d::CUresult::CUDA_SUCCESS => Ok(()),
                e => Err(format!("cuCtxSynchronize: {e:?}")),
            }
        }

        /// Queues a device-to-device copy of `bytes` on the default stream.
        pub fn copy(dst: u64, src: u64, bytes: usize) -> Result<(), String> {
            // SAFETY: both are device buffers of at least `bytes` (the caller's), context current.
            match unsafe { d::cuMemcpyDtoDAsync_v2(dst, src, bytes, std::ptr::null_mut()) } {
                d::CUresult::CUDA_SUCCESS => Ok(()),
                e => Err(format!("cuMemcpyDtoDAsync: {e:?}")),
            }
        }
    }

    impl Drop for Cublas {
        fn drop(&mut self) {
            // SAFETY: the handle is ours and idle after a synchronize.
            unsafe { b::cublasDestroy_v2(self.0) };
        }
    }
}

/// Median seconds per call of `f` (each sample: enough calls for ~20 ms, then a synchronize).
/// The first error of `f` or of the synchronize ends the measurement.
fn time(mut f: impl FnMut() -> Result<(), String>, sync: &dyn Fn() -> Result<(), String>) -> Result<f64, String> {
    f()?;
    sync()?;
    let t = Instant::now();
    f()?;
    sync()?;
    let one = t.elapsed().as_secs_f64().max(1e-7);
    let reps = ((0.02 / one).ceil() as usize).clamp(1, 10_000);
    let mut samples = Vec::with_capacity(7);
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..reps {
            f()?;
        }
        sync()?;
        samples.push(t.elapsed().as_secs_f64() / reps as f64);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[3])
}

struct Row {
    ty: char,
    size: usize,
    batch: usize,
    variant: String,
    secs: f64,
    gflops: f64,
    gbs: f64,
}

/// The sweep's output as it goes: `gpu.csv` appended and flushed row by row, the rows kept for
/// the table, errors counted, and a watchdog over the step in progress.
struct Out {
    csv: std::fs::File,
    rows: Vec<Row>,
    crows: Vec<ContractRow>,
    errors: Vec<String>,
    /// The CUDA context is lost (a later call would only repeat the error): stop.
    lost: bool,
    step: Arc<Mutex<Option<(String, Instant)>>>,
}

impl Out {
    fn new(dir: &std::path::Path, limit: u64) -> Result<Out, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("gpu.csv");
        let mut csv = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        writeln!(csv, "type,size,batch,variant,seconds,gflops,gbs,note").map_err(|e| e.to_string())?;
        let step: Arc<Mutex<Option<(String, Instant)>>> = Arc::new(Mutex::new(None));
        let watched = step.clone();
        let mut late = csv.try_clone().map_err(|e| e.to_string())?;
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(250));
            let g = watched.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((name, t)) = g.as_ref() {
                if t.elapsed() > Duration::from_secs(limit) {
                    let _ = writeln!(late, ",,,timeout,,,,\"step '{name}' ran past {limit} s\"");
                    let _ = late.flush();
                    eprintln!("tensorblas-bench gpu: step '{name}' ran past {limit} s (--step-timeout): stopping");
                    std::process::exit(124);
                }
            }
        });
        Ok(Out {
            csv,
            rows: Vec::new(),
            crows: Vec::new(),
            errors: Vec::new(),
            lost: false,
            step,
        })
    }

    /// Runs one step under the watchdog.
    fn step<R>(&mut self, name: String, f: impl FnOnce(&mut Out) -> R) -> R {
        *self.step.lock().unwrap_or_else(|e| e.into_inner()) = Some((name, Instant::now()));
        let r = f(self);
        *self.step.lock().unwrap_or_else(|e| e.into_inner()) = None;
        r
    }

    fn row(&mut self, r: Row) {
        let _ = writeln!(
            self.csv,
            "{},{},{},{},{:.6e},{:.3},{:.3},",
            r.ty, r.size, r.batch, r.variant, r.secs, r.gflops, r.gbs
        );
        let _ = self.csv.flush();
        self.rows.push(r);
    }

    /// Records a failed step; checks whether the context survived it.
    fn error(&mut self, h: &Handle, what: String, e: String) {
        let e = e.replace(['"', '\n'], " ");
        eprintln!("tensorblas-bench gpu: {what}: {e}");
        let _ = writeln!(self.csv, ",,,error,,,,\"{what}: {e}\"");
        let _ = self.csv.flush();
        self.errors.push(format!("{what}: {e}"));
        if let Err(s) = h.synchronize() {
            eprintln!("tensorblas-bench gpu: the CUDA context is lost ({s}): stopping");
            self.lost = true;
        }
    }
}

fn flops_per_fma<T: Scalar>() -> f64 {
    if T::IS_COMPLEX {
        8.0
    } else {
        2.0
    }
}

fn sweep_type<T: Scalar>(h: &Handle, cb: &direct::Cublas, ty: char, o: &Opts, out: &mut Out) {
    let es = std::mem::size_of::<T>();
    for &n in &o.sizes {
        if out.lost {
            return;
        }
        let per = 3 * n * n * es;
        let batch = ((o.mb << 20) / per).clamp(1, 1 << 20);
        let len = n * n * batch;
        let init: Vec<T> = (0..len)
            .map(|i| T::from_c64(Complex64::new((i % 7) as f64 * 0.25, (i % 3) as f64 * 0.5)))
            .collect();
        let bufs = (|| -> tensorblas::Result<_> {
            Ok((h.to_device(&init)?, h.to_device(&init)?, h.device_zeros::<T>(len)?))
        })();
        let (a, b, mut c) = match bufs {
            Ok(x) => x,
            Err(e) => {
                out.error(h, format!("{ty} {n}: device buffers"), e.to_string());
                continue;
            }
        };
        let flops = flops_per_fma::<T>() * (n * n * n * batch) as f64;
        let bytes = (3 * len * es) as f64;
        let row = |variant: &str, secs: f64| Row {
            ty,
            size: n,
            batch,
            variant: variant.into(),
            secs,
            gflops: flops / secs * 1e-9,
            gbs: bytes / secs * 1e-9,
        };
        let ni = n as isize;
        let st = (n * n) as isize;
        let sync = || h.synchronize().map_err(|e| e.to_string());
        for (variant, engine) in [
            ("ours", GpuEngine::Auto),
            ("small", GpuEngine::Small),
            ("general", GpuEngine::General),
        ] {
            if out.lost || (engine == GpuEngine::Small && n > 16) {
                continue;
            }
            let _ = h.set_gpu_engine(engine);
            let cptr = c.as_mut_ptr();
            let r = out.step(format!("{ty} {n} {variant}"), |_| {
                time(
                    || {
                        // SAFETY: a view of C's whole buffer; nothing else uses it meanwhile.
                        let cv = unsafe { StridedMut::from_raw_parts(cptr, 1, ni, st) };
                        h.gemm_strided_batched_ex(
                            Op::N,
                            Op::N,
                            n,
                            n,
                            n,
                            T::one(),
                            StridedRef::device(&a, 0, 1, ni, st),
                            StridedRef::device(&b, 0, 1, ni, st),
                            T::zero(),
                            cv,
                            batch,
                        )
                        .map_err(|e| e.to_string())
                    },
                    &sync,
                )
            });
            match r {
                Ok(secs) => out.row(row(variant, secs)),
                Err(e) => out.error(h, format!("{ty} {n} batch {batch} {variant}"), e),
            }
        }
        let _ = h.set_gpu_engine(GpuEngine::Auto);
        if out.lost {
            return;
        }
        let cptr = c.as_mut_ptr();
        let dims = (n as i32, n as i32, n as i32, batch as i32);
        let r = out.step(format!("{ty} {n} cublas"), |_| {
            time(
                || {
                    // SAFETY: device buffers of len elements each.
                    unsafe { cb.strided::<T>(dims, a.as_ptr(), b.as_ptr(), cptr) }
                },
                &direct::Cublas::sync,
            )
        });
        match r {
            Ok(secs) => out.row(row("cublas", secs)),
            Err(e) => out.error(h, format!("{ty} {n} batch {batch} cublas"), e),
        }
        eprintln!("{ty} {n:>5} batch {batch:>7}: done");
    }
}

/// The 8 contraction cases with no BLAS-legal mapping: (name, A modes, B modes), C = mnp.
const NONE_CASES: [(&str, &str, &str); 8] = [
    ("3.4", "nk", "pkm"),
    ("3.6", "nk", "pmk"),
    ("4.4", "kn", "pkm"),
    ("4.6", "kn", "pmk"),
    ("5.4", "pk", "nkm"),
    ("5.6", "pk", "nmk"),
    ("6.4", "kp", "nkm"),
    ("6.6", "kp", "nmk"),
];

struct ContractRow {
    case: &'static str,
    ty: char,
    ours_s: f64,
    cublas_s: f64,
}

fn contract_type<T: Scalar>(h: &Handle, cb: &direct::Cublas, ty: char, s: usize, out: &mut Out) {
    let n3 = s * s * s;
    let init: Vec<T> = (0..n3)
        .map(|i| T::from_c64(Complex64::new((i % 5) as f64 * 0.5, 0.0)))
        .collect();
    let bufs = (|| -> tensorblas::Result<_> {
        Ok((
            h.to_device(&init[..s * s])?,
            h.to_device(&init)?,
            h.device_zeros::<T>(n3)?,
            h.to_device(&init)?,
            h.to_device(&init)?,
        ))
    })();
    let (a, b, mut c, a2, b2) = match bufs {
        Ok(x) => x,
        Err(e) => return out.error(h, format!("contractions {ty} s={s}: device buffers"), e.to_string()),
    };
    let sync = || h.synchronize().map_err(|e| e.to_string());
    for (case, am, bm) in NONE_CASES {
        if out.lost {
            return;
        }
        let spec = format!("{am},{bm}->mnp");
        let (sa, sb, sc) = (
            Shape::col_major(&[s, s]),
            Shape::col_major(&[s, s, s]),
            Shape::col_major(&[s, s, s]),
        );
        let cptr = c.as_mut_ptr();
        let ours = out.step(format!("contraction {case} {ty} ours"), |_| {
            time(
                || {
                    // SAFETY: C's whole buffer; nothing else uses it meanwhile.
                    let mut cv = unsafe { TensorMut::from_raw_parts(cptr, sc.clone()) };
                    h.einsum(
                        &spec,
                        T::one(),
                        &TensorRef::device(&a, sa.clone()),
                        &TensorRef::device(&b, sb.clone()),
                        T::zero(),
                        &mut cv,
                    )
                    .map(|_| ())
                    .map_err(|e| e.to_string())
                },
                &sync,
            )
        });
        let ours = match ours {
            Ok(t) => t,
            Err(e) => {
                out.error(h, format!("contraction {case} {ty} s={s} (einsum)"), e);
                continue;
            }
        };
        // Same flops through cuBLAS: m = n = k = s, batch s, packed column-major.
        let dims = (s as i32, s as i32, s as i32, s as i32);
        let cublas = out.step(format!("contraction {case} {ty} cublas"), |_| {
            time(
                || {
                    // SAFETY: device buffers of s^3 elements each.
                    unsafe { cb.strided::<T>(dims, a2.as_ptr(), b2.as_ptr(), cptr) }
                },
                &direct::Cublas::sync,
            )
        });
        let cublas = match cublas {
            Ok(t) => t,
            Err(e) => {
                out.error(h, format!("contraction {case} {ty} s={s} (cuBLAS)"), e);
                continue;
            }
        };
        for (v, secs) in [("ours", ours), ("cublas", cublas)] {
            let _ = writeln!(out.csv, "{ty},{s},{s},contract-{case}-{v},{secs:.6e},,,");
        }
        let _ = out.csv.flush();
        out.crows.push(ContractRow {
            case,
            ty,
            ours_s: ours,
            cublas_s: cublas,
        });
        eprintln!("contraction {case} {ty} s={s}: done");
    }
}

/// Device-to-device copy of `mb` MiB (cuMemcpyDtoD): the bandwidth roofline of this run, in GB/s
/// counting the bytes read and written.
fn copy_bandwidth(h: &Handle, mb: usize, out: &mut Out) -> Option<f64> {
    let len = (mb << 20) / 4;
    let bufs = (|| -> tensorblas::Result<_> { Ok((h.device_zeros::<f32>(len)?, h.device_zeros::<f32>(len)?)) })();
    let (src, mut dst) = match bufs {
        Ok(x) => x,
        Err(e) => {
            out.error(h, "copy bandwidth: device buffers".into(), e.to_string());
            return None;
        }
    };
    let (s, d) = (src.as_ptr() as u64, dst.as_mut_ptr() as u64);
    let bytes = len * 4;
    let r = out.step("copy bandwidth".into(), |_| {
        time(|| direct::Cublas::copy(d, s, bytes), &direct::Cublas::sync)
    });
    match r {
        Ok(secs) => {
            let gbs = 2.0 * bytes as f64 / secs * 1e-9;
            out.row(Row {
                ty: '-',
                size: bytes,
                batch: 1,
                variant: "copy".into(),
                secs,
                gflops: 0.0,
                gbs,
            });
            Some(gbs)
        }
        Err(e) => {
            out.error(h, "copy bandwidth".into(), e);
            None
        }
    }
}

/// Runs the sweep. `Ok((table, errors))` once anything was measured, with the number of steps
/// that failed (the caller's exit status); `Err` when nothing could start.
pub fn run(o: &Opts) -> Result<(String, usize), String> {
    let h = Handle::cuda(o.device).map_err(|e| format!("no GPU: {e}"))?;
    let device = h.device_name().unwrap_or_default();
    let runtime = h.cuda_runtime().unwrap_or_default();
    eprintln!("GPU: {device}\nCUDA: {runtime}");
    let cb = direct::Cublas::new(o.device)?;
    let mut out = Out::new(&o.out, o.step_timeout)?;
    let bw = copy_bandwidth(&h, o.mb, &mut out);
    for &t in &o.types {
        match t {
            's' => sweep_type::<f32>(&h, &cb, t, o, &mut out),
            'd' => sweep_type::<f64>(&h, &cb, t, o, &mut out),
            'c' => sweep_type::<Complex32>(&h, &cb, t, o, &mut out),
            _ => sweep_type::<Complex64>(&h, &cb, t, o, &mut out),
        }
    }
    for &t in &o.types {
        let s = o.contract_size;
        match t {
            's' => contract_type::<f32>(&h, &cb, t, s, &mut out),
            'd' => contract_type::<f64>(&h, &cb, t, s, &mut out),
            'c' => contract_type::<Complex32>(&h, &cb, t, s, &mut out),
            _ => contract_type::<Complex64>(&h, &cb, t, s, &mut out),
        }
    }
    let md = table(&device, &runtime, o, bw, &out);
    let slug: String = device
        .split(" (")
        .next()
        .unwrap_or("gpu")
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let path = o.out.join(format!("gpu-{slug}.md"));
    std::fs::write(&path, &md).map_err(|e| e.to_string())?;
    eprintln!("wrote {} and {}", o.out.join("gpu.csv").display(), path.display());
    Ok((md, out.errors.len()))
}

fn table(device: &str, runtime: &str, o: &Opts, bw: Option<f64>, out: &Out) -> String {
    let (rows, crows) = (&out.rows, &out.crows);
    let mut s = String::new();
    let _ = writeln!(s, "# GPU sweep on {device}\n");
    let _ = writeln!(s, "CUDA: {runtime}\n");
    let _ = writeln!(
        s,
        "Command: `tensorblas-bench gpu --types {} --sizes {} --mb {} --contract-size {}` \
         (via `benches/gpu/device-run.sh`). Square NN column-major, alpha 1, beta 0, batch sized to \
         move about {} MiB per call; median of 7 samples, each >= 20 ms of back-to-back calls then a \
         synchronize. GB/s counts A, B and C once; % roof = GB/s over the device-to-device copy \
         bandwidth of the same run ({}).\n",
        o.types.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(","),
        o.sizes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(","),
        o.mb,
        o.contract_size,
        o.mb,
        bw.map_or("not measured".into(), |b| format!("{b:.0} GB/s, read + write"))
    );
    if !out.errors.is_empty() {
        let _ = writeln!(s, "**{} step(s) failed** (rows missing below):\n", out.errors.len());
        for e in &out.errors {
            let _ = writeln!(s, "- {e}");
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "| type | size | batch | cuBLAS GFLOP/s | ours GFLOP/s | ours/cuBLAS | ours % roof | small GFLOP/s | small/cuBLAS | small % roof | general/cuBLAS |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let find = |ty: char, n: usize, v: &str| rows.iter().find(|r| r.ty == ty && r.size == n && r.variant == v);
    let mut keys: Vec<(char, usize, usize)> = rows
        .iter()
        .filter(|r| r.variant != "copy")
        .map(|r| (r.ty, r.size, r.batch))
        .collect();
    keys.dedup();
    let roof = |r: &Row| bw.map_or("-".into(), |b| format!("{:.0}%", 100.0 * r.gbs / b));
    let ratio = |cu: Option<&Row>, r: Option<&Row>| match (cu, r) {
        (Some(cu), Some(r)) => format!("{:.3}", cu.secs / r.secs),
        _ => "-".into(),
    };
    let gf = |r: Option<&Row>| r.map_or("-".into(), |r| format!("{:.1}", r.gflops));
    for (ty, n, batch) in keys {
        let (cu, ours) = (find(ty, n, "cublas"), find(ty, n, "ours"));
        let (small, general) = (find(ty, n, "small"), find(ty, n, "general"));
        let _ = writeln!(
            s,
            "| {ty} | {n} | {batch} | {} | {} | {} | {} | {} | {} | {} | {} |",
            gf(cu),
            gf(ours),
            ratio(cu, ours),
            ours.map_or("-".into(), roof),
            gf(small),
            ratio(cu, small),
            small.map_or("-".into(), roof),
            ratio(cu, general),
        );
    }
    let _ = writeln!(
        s,
        "\n## The 8 contraction cases cuBLAS cannot express (C_mnp, all extents {})\n\n\
         `einsum` on the GPU handle (plan: general-stride kernel) vs cuBLAS strided batched on the \
         same m = n = k = batch = {}.\n",
        o.contract_size, o.contract_size
    );
    let _ = writeln!(
        s,
        "| case | type | ours ms | cuBLAS ms (same flops) | ours/cuBLAS rate |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|");
    for r in crows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} | {:.3} | {:.2} |",
            r.case,
            r.ty,
            r.ours_s * 1e3,
            r.cublas_s * 1e3,
            r.cublas_s / r.ours_s
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_errors_reach_the_csv_as_they_happen() {
        let dir = std::env::temp_dir().join(format!("tblas-gpu-csv-{}", std::process::id()));
        let mut out = Out::new(&dir, 60).unwrap();
        let read = || std::fs::read_to_string(dir.join("gpu.csv")).unwrap();
        assert_eq!(read(), "type,size,batch,variant,seconds,gflops,gbs,note\n");
        let r = out.step("one row".into(), |_| 1.5e-3);
        out.row(Row {
            ty: 's',
            size: 4,
            batch: 1024,
            variant: "ours".into(),
            secs: r,
            gflops: 2.0,
            gbs: 3.0,
        });
        // On disk before the sweep ends (a later crash or hang loses nothing already measured).
        assert_eq!(read().lines().nth(1), Some("s,4,1024,ours,1.500000e-3,2.000,3.000,"));
        // A failed step is a row too; a CPU handle's synchronize succeeds, so the run goes on.
        let h = Handle::new().unwrap();
        out.error(&h, "s 8 small".into(), "cuLaunchKernel failed:\n\"x\"".into());
        assert!(!out.lost);
        assert_eq!(out.errors.len(), 1);
        assert_eq!(
            read().lines().nth(2),
            Some(",,,error,,,,\"s 8 small: cuLaunchKernel failed:  x \"")
        );
        let md = table("test GPU", "driver ?", &Opts::default(), Some(1000.0), &out);
        assert!(
            md.contains("**1 step(s) failed**") && md.contains("| s | 4 | 1024 | - | 2.0 | - | 0% | - | - | - | - |"),
            "{md}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
