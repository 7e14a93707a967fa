//! `tensorblas-bench gpu`: the GPU sweep. On one CUDA device, same buffers, same stream:
//!
//! - `ours`: tensorblas' strided batched on a CUDA handle (engine auto: cuBLAS underneath), the
//!   whole public path (validation, dispatch) included;
//! - `cublas`: `cublas<T>gemmStridedBatched` called directly (its own handle, default math);
//! - `small`: tensorblas' small-matrix kernel (sizes <= 16);
//! - `general`: tensorblas' general-stride kernel;
//!
//! for square sizes (default 4..1024) with the batch chosen to move about `--mb` MiB per call,
//! and the 8 contraction cases cuBLAS cannot express (`contraction-cases.txt`: 3.4, 3.6, 4.4,
//! 4.6, 5.4, 5.6, 6.4, 6.6) run through `einsum` (general-stride kernel) against cuBLAS on a
//! strided batched GEMM of the same m, n, k and batch. Writes `gpu.csv` and `gpu-<device>.md`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;
use tensorblas::{
    Complex32, Complex64, DeviceBuffer, GpuEngine, Handle, Op, Scalar, Shape, StridedMut, StridedRef, TensorMut,
    TensorRef,
};

pub const HELP: &str = "\
tensorblas-bench gpu [--types s,d,c,z] [--sizes 4,8,...,1024] [--mb MB] [--contract-size S]
                     [--device D] [--out DIR] [--quick]
    (GPU sweep on CUDA device D: tensorblas strided batched (auto = cuBLAS) vs cuBLAS called
     directly vs tensorblas' small-matrix kernel (sizes <= 16) vs its general-stride kernel,
     batch sized to move about MB MiB per call (default 256); then the 8 contraction cases
     cuBLAS cannot express, einsum (general-stride kernel) vs cuBLAS on the same flops, extents
     S (default 128); writes DIR/gpu.csv and DIR/gpu-<device>.md; default DIR benches/results)";

pub struct Opts {
    pub types: Vec<char>,
    pub sizes: Vec<usize>,
    pub mb: usize,
    pub contract_size: usize,
    pub device: usize,
    pub out: PathBuf,
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

        /// `C[p] = A[p] B[p]` (NN, column-major, packed, alpha 1, beta 0), queued.
        ///
        /// # Safety
        /// `a`, `b`, `c` are device buffers of at least `m*k*batch`, `k*n*batch`, `m*n*batch`.
        pub unsafe fn strided<T: Scalar>(
            &self,
            (m, n, k, batch): (i32, i32, i32, i32),
            a: *const T,
            bb: *const T,
            c: *mut T,
        ) -> b::cublasStatus_t {
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
            match T::DATATYPE {
                DataType::R32F => go!(cublasSgemmStridedBatched, f32),
                DataType::R64F => go!(cublasDgemmStridedBatched, f64),
                DataType::C32F => go!(cublasCgemmStridedBatched, b::cuComplex),
                DataType::C64F => go!(cublasZgemmStridedBatched, b::cuDoubleComplex),
            }
        }

        pub fn sync() {
            // SAFETY: waits for the current context's work.
            unsafe { d::cuCtxSynchronize() };
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
fn time(mut f: impl FnMut(), sync: &dyn Fn()) -> f64 {
    f();
    sync();
    let t = Instant::now();
    f();
    sync();
    let one = t.elapsed().as_secs_f64().max(1e-7);
    let reps = ((0.02 / one).ceil() as usize).clamp(1, 10_000);
    let mut samples: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            sync();
            t.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[3]
}

struct Row {
    ty: char,
    size: usize,
    batch: usize,
    variant: &'static str,
    secs: f64,
    gflops: f64,
    gbs: f64,
}

fn flops_per_fma<T: Scalar>() -> f64 {
    if T::IS_COMPLEX {
        8.0
    } else {
        2.0
    }
}

fn sweep_type<T: Scalar>(h: &Handle, cb: &direct::Cublas, ty: char, o: &Opts, rows: &mut Vec<Row>) {
    let es = std::mem::size_of::<T>();
    for &n in &o.sizes {
        let per = 3 * n * n * es;
        let batch = ((o.mb << 20) / per).clamp(1, 1 << 20);
        let len = n * n * batch;
        let init: Vec<T> = (0..len)
            .map(|i| T::from_c64(Complex64::new((i % 7) as f64 * 0.25, (i % 3) as f64 * 0.5)))
            .collect();
        let (a, b) = (
            h.to_device(&init).expect("alloc A"),
            h.to_device(&init).expect("alloc B"),
        );
        let mut c: DeviceBuffer<T> = h.device_zeros(len).expect("alloc C");
        let flops = flops_per_fma::<T>() * (n * n * n * batch) as f64;
        let bytes = (3 * len * es) as f64;
        let mut record = |variant: &'static str, secs: f64| {
            rows.push(Row {
                ty,
                size: n,
                batch,
                variant,
                secs,
                gflops: flops / secs * 1e-9,
                gbs: bytes / secs * 1e-9,
            })
        };
        let ni = n as isize;
        let st = (n * n) as isize;
        let sync = || h.synchronize().expect("synchronize");
        for (variant, engine) in [
            ("ours", GpuEngine::Auto),
            ("small", GpuEngine::Small),
            ("general", GpuEngine::General),
        ] {
            if engine == GpuEngine::Small && n > 16 {
                continue;
            }
            h.set_gpu_engine(engine).unwrap();
            let cptr = c.as_mut_ptr();
            let secs = time(
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
                    .expect("tensorblas GPU call")
                },
                &sync,
            );
            record(variant, secs);
        }
        h.set_gpu_engine(GpuEngine::Auto).unwrap();
        let cptr = c.as_mut_ptr();
        let dims = (n as i32, n as i32, n as i32, batch as i32);
        let secs = time(
            || {
                // SAFETY: device buffers of len elements each.
                let r = unsafe { cb.strided::<T>(dims, a.as_ptr(), b.as_ptr(), cptr) };
                assert_eq!(r, cudarc::cublas::sys::cublasStatus_t::CUBLAS_STATUS_SUCCESS);
            },
            &direct::Cublas::sync,
        );
        record("cublas", secs);
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
    s: usize,
    ours_s: f64,
    cublas_s: f64,
}

fn contract_type<T: Scalar>(h: &Handle, cb: &direct::Cublas, ty: char, s: usize, out: &mut Vec<ContractRow>) {
    let n3 = s * s * s;
    let init: Vec<T> = (0..n3)
        .map(|i| T::from_c64(Complex64::new((i % 5) as f64 * 0.5, 0.0)))
        .collect();
    let a = h.to_device(&init[..s * s]).expect("alloc");
    let b = h.to_device(&init).expect("alloc");
    let mut c: DeviceBuffer<T> = h.device_zeros(n3).expect("alloc");
    let sync = || h.synchronize().expect("synchronize");
    for (case, am, bm) in NONE_CASES {
        let spec = format!("{am},{bm}->mnp");
        let (sa, sb, sc) = (
            Shape::col_major(&[s, s]),
            Shape::col_major(&[s, s, s]),
            Shape::col_major(&[s, s, s]),
        );
        let cptr = c.as_mut_ptr();
        let ours = time(
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
                .expect("einsum on the GPU")
            },
            &sync,
        );
        // Same flops through cuBLAS: m = n = k = s, batch s, packed column-major.
        let dims = (s as i32, s as i32, s as i32, s as i32);
        let b2 = h.to_device(&init).expect("alloc");
        let a2 = h.to_device(&init).expect("alloc");
        let cublas = time(
            || {
                // SAFETY: device buffers of s^3 elements each.
                let r = unsafe { cb.strided::<T>(dims, a2.as_ptr(), b2.as_ptr(), cptr) };
                assert_eq!(r, cudarc::cublas::sys::cublasStatus_t::CUBLAS_STATUS_SUCCESS);
            },
            &direct::Cublas::sync,
        );
        out.push(ContractRow {
            case,
            ty,
            s,
            ours_s: ours,
            cublas_s: cublas,
        });
        eprintln!("contraction {case} {ty} s={s}: done");
    }
}

pub fn run(o: &Opts) -> Result<String, String> {
    let h = Handle::cuda(o.device).map_err(|e| format!("no GPU: {e}"))?;
    let device = h.device_name().unwrap_or_default();
    let cb = direct::Cublas::new(o.device)?;
    let mut rows = Vec::new();
    let mut crows = Vec::new();
    for &t in &o.types {
        match t {
            's' => sweep_type::<f32>(&h, &cb, t, o, &mut rows),
            'd' => sweep_type::<f64>(&h, &cb, t, o, &mut rows),
            'c' => sweep_type::<Complex32>(&h, &cb, t, o, &mut rows),
            _ => sweep_type::<Complex64>(&h, &cb, t, o, &mut rows),
        }
    }
    for &t in &o.types {
        let s = o.contract_size;
        match t {
            's' => contract_type::<f32>(&h, &cb, t, s, &mut crows),
            'd' => contract_type::<f64>(&h, &cb, t, s, &mut crows),
            'c' => contract_type::<Complex32>(&h, &cb, t, s, &mut crows),
            _ => contract_type::<Complex64>(&h, &cb, t, s, &mut crows),
        }
    }
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let mut csv = String::from("type,size,batch,variant,seconds,gflops,gbs\n");
    for r in &rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{:.6e},{:.3},{:.3}",
            r.ty, r.size, r.batch, r.variant, r.secs, r.gflops, r.gbs
        );
    }
    for r in &crows {
        let _ = writeln!(
            csv,
            "{},{},{},contract-{}-ours,{:.6e},,",
            r.ty, r.s, r.s, r.case, r.ours_s
        );
        let _ = writeln!(
            csv,
            "{},{},{},contract-{}-cublas,{:.6e},,",
            r.ty, r.s, r.s, r.case, r.cublas_s
        );
    }
    std::fs::write(o.out.join("gpu.csv"), csv).map_err(|e| e.to_string())?;
    let md = table(&device, o, &rows, &crows);
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
    Ok(md)
}

fn table(device: &str, o: &Opts, rows: &[Row], crows: &[ContractRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# GPU sweep on {device}\n");
    let _ = writeln!(
        s,
        "Command: `tensorblas-bench gpu --types {} --sizes {} --mb {} --contract-size {}` \
         (via `benches/gpu/check.sh`). Square NN column-major, alpha 1, beta 0, batch sized to move \
         about {} MiB per call; median of 7 samples, each >= 20 ms of back-to-back calls then a \
         synchronize. GB/s counts A, B and C once.\n",
        o.types.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(","),
        o.sizes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(","),
        o.mb,
        o.contract_size,
        o.mb
    );
    let _ = writeln!(
        s,
        "| type | size | batch | cuBLAS GFLOP/s | ours GFLOP/s | ours/cuBLAS | small GFLOP/s | small/cuBLAS | small GB/s | general/cuBLAS |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let find = |ty: char, n: usize, v: &str| rows.iter().find(|r| r.ty == ty && r.size == n && r.variant == v);
    let mut keys: Vec<(char, usize, usize)> = rows.iter().map(|r| (r.ty, r.size, r.batch)).collect();
    keys.dedup();
    for (ty, n, batch) in keys {
        let (Some(cu), Some(ours)) = (find(ty, n, "cublas"), find(ty, n, "ours")) else {
            continue;
        };
        let small = find(ty, n, "small");
        let general = find(ty, n, "general");
        let _ = writeln!(
            s,
            "| {ty} | {n} | {batch} | {:.1} | {:.1} | {:.3} | {} | {} | {} | {} |",
            cu.gflops,
            ours.gflops,
            cu.secs / ours.secs,
            small.map_or("-".into(), |r| format!("{:.1}", r.gflops)),
            small.map_or("-".into(), |r| format!("{:.2}", cu.secs / r.secs)),
            small.map_or("-".into(), |r| format!("{:.0}", r.gbs)),
            general.map_or("-".into(), |r| format!("{:.2}", cu.secs / r.secs)),
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
