//! `tensorblas-bench fft`: the FMM-FFT against the six-step baseline (same simulated G, same
//! in-process fabric) and a single-node rustfft, for N = 2^16 .. 2^24 and G in {2, 4, 8}: time,
//! error, bytes between devices, GEMM share; and docs/fmm-fft.md §7's model turning the measured GEMM
//! rate and a link bandwidth into a predicted multi-device speedup.

use num_complex::{Complex, Complex64};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;
use tensorblas::{Handle, Op, StridedMut, StridedRef};
use tensorblas_fft::{transform_into, Algorithm, GemmCall, Plan, PlanSpec, Precision, Workspace};

pub const HELP: &str = "\
tensorblas-bench fft [--log2n 16,18,20,22,24] [--devices 2,4,8] [--precision f64|f32]
                     [--sections-per-device K]
                     [--link-gbs GBS] [--gemm-gflops R] [--fft-gflops F] [--mem-gbs M]
                     [--out DIR] [--quick]
    (FMM-FFT vs six-step (same simulated G) vs single-node rustfft: seconds, rel l2 error, bytes
     between devices, GEMM share of the FMM compute; then docs/fmm-fft.md §7's model: per device
     T_six = 3 T_a2a + T_fft(N/G, log2 N) + T_twiddle and T_fmm = T_a2a + T_extra + T_gemm +
     T_fft(N/G, log2 M) + T_reshuffle, with T_a2a = s(G-1)N/(G^2 GBS), T_gemm = the FMM's GEMM
     flops per device / R, FFTs at 5 n log2 len flops / F, twiddle and reshuffle 2 s N/G bytes / M.
     Defaults: GBS 25, R = the GEMM rate measured in the solo FMM run, F = the rate measured for
     rustfft, M 20 GB/s. P = K·G sections (default K = 1: the smallest valid P; a K·G that
     breaks a plan rule falls back to the default). Every transform is timed on its second
     execution of the plan into the same output array and workspace (transform_into; the first
     run warms the work arrays); rustfft likewise (planned outside the timing). Writes DIR/fft.csv and prints the table; default DIR
     benches/results/fft; --quick: 2^16..2^20)";

pub struct Opts {
    pub log2n: Vec<u32>,
    pub devices: Vec<usize>,
    pub precision: Precision,
    pub sections_per_device: usize,
    pub link_gbs: f64,
    pub gemm_gflops: Option<f64>,
    pub fft_gflops: Option<f64>,
    pub mem_gbs: f64,
    pub out: PathBuf,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            log2n: vec![16, 18, 20, 22, 24],
            devices: vec![2, 4, 8],
            precision: Precision::F64,
            sections_per_device: 1,
            link_gbs: 25.0,
            gemm_gflops: None,
            fft_gflops: None,
            mem_gbs: 20.0,
            out: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/results/fft")),
        }
    }
}

fn signal(n: usize) -> Vec<Complex64> {
    // A deterministic pseudo-random signal (LCG), no allocation of an RNG crate here.
    let mut s = 0x9e3779b97f4a7c15u64;
    (0..n)
        .map(|_| {
            let mut u = || {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            };
            Complex64::new(u(), u())
        })
        .collect()
}

fn rel_l2(a: &[Complex64], b: &[Complex64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).norm_sqr()).sum();
    let den: f64 = b.iter().map(|y| y.norm_sqr()).sum();
    (num / den).sqrt()
}

struct Run {
    secs: f64,
    err: f64,
    bytes: u64,
    gemm_flops: f64,
    gemm_secs: f64,
    gemm_share: f64,
    /// Device 0's GEMM calls.
    log: Vec<GemmCall>,
}

fn run(plan: &Plan, algo: Algorithm, x: &[Complex64], want: &[Complex64], threads: Option<usize>) -> Run {
    let threads = threads
        .unwrap_or_else(|| (std::thread::available_parallelism().map_or(1, |n| n.get()) / plan.spec().devices).max(1));
    // Like an application transforming repeatedly: the same plan, workspace and output array
    // each time.
    let mut ws = Workspace::new();
    let (y, secs, rep) = if plan.spec().precision == Precision::F32 {
        let x32: Vec<Complex<f32>> = x.iter().map(|v| Complex::new(v.re as f32, v.im as f32)).collect();
        let mut out = vec![Complex::new(0.0f32, 0.0); x.len()];
        let _ = transform_into(plan, algo, &x32, &mut out, false, threads, &mut ws).expect("transform"); // warm-up
        let t = Instant::now();
        let rep = transform_into(plan, algo, &x32, &mut out, false, threads, &mut ws).expect("transform");
        let secs = t.elapsed().as_secs_f64();
        (
            out.iter().map(|v| Complex64::new(v.re as f64, v.im as f64)).collect(),
            secs,
            rep,
        )
    } else {
        let mut out = vec![Complex64::new(0.0, 0.0); x.len()];
        let _ = transform_into(plan, algo, x, &mut out, false, threads, &mut ws).expect("transform"); // warm-up
        let t = Instant::now();
        let rep = transform_into(plan, algo, x, &mut out, false, threads, &mut ws).expect("transform");
        (out, t.elapsed().as_secs_f64(), rep)
    };
    Run {
        secs,
        err: rel_l2(&y, want),
        bytes: rep.traffic.total(),
        gemm_flops: rep.gemm_flops(),
        gemm_secs: rep.devices.iter().map(|d| d.gemm_secs).sum(),
        gemm_share: rep.gemm_share(),
        log: rep.devices.first().map(|d| d.gemm_log.clone()).unwrap_or_default(),
    }
}

pub fn main(o: &Opts) -> String {
    let mut csv = String::from(
        "log2n,devices,precision,sections,order,leaf,fmm_s,sixstep_s,rustfft_s,fmm_err,sixstep_err,fmm_bytes,sixstep_bytes,bytes_ratio,gemm_share,gemm_gflops,pred_speedup\n",
    );
    let mut table = String::new();
    let _ = writeln!(
        table,
        "| log2 N | G | P | Q | B | FMM s | six-step s | rustfft s (1 node) | FMM err | six-step err | bytes FMM / six-step | GEMM share | model R GFLOP/s | model speedup @ {} GB/s |",
        o.link_gbs
    );
    let _ = writeln!(
        table,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let s_bytes = o.precision.complex_bytes() as f64;
    let mut same = String::from(
        "\nFMM GEMMs inside the transform vs the same calls run alone (solo run, one thread):\n\n\
         | log2 N | GEMM calls | inside GFLOP/s | alone GFLOP/s | inside / alone |\n|---:|---:|---:|---:|---:|\n",
    );
    for &e in &o.log2n {
        let n = 1usize << e;
        let x = signal(n);
        let whole = tensorblas_fft::plans::forward_f64(n);
        let mut want = x.clone();
        whole.process(&mut want);
        let mut again = x.clone();
        let t = Instant::now();
        whole.process(&mut again);
        let rustfft_s = t.elapsed().as_secs_f64();
        // The docs/fmm-fft.md §7 model's per-point costs come from one device running alone on one core (G = 1,
        // no communication): FMM compute, six-step compute, and the GEMM rate R.
        let solo = |algo: Algorithm| {
            let plan = Plan::new(&PlanSpec::new(n, 1, o.precision).expect("plan")).expect("plan");
            run(&plan, algo, &x, &want, Some(1))
        };
        let (fmm1, six1) = (solo(Algorithm::Fmm), solo(Algorithm::SixStep));
        for &g in &o.devices {
            let Ok(mut spec) = PlanSpec::new(n, g, o.precision) else {
                eprintln!("2^{e} on G = {g}: no valid plan, skipped");
                continue;
            };
            let more = PlanSpec {
                sections: o.sections_per_device * g,
                ..spec.clone()
            };
            if more.check().is_ok() {
                spec = more;
            }
            let plan = Plan::new(&spec).expect("plan");
            let fmm = run(&plan, Algorithm::Fmm, &x, &want, None);
            let six = run(&plan, Algorithm::SixStep, &x, &want, None);
            // docs/fmm-fft.md §7 per device (see HELP): rates from the options or this run's measurements.
            let r = o
                .gemm_gflops
                .unwrap_or(fmm1.gemm_flops / fmm1.gemm_secs.max(1e-12) / 1e9)
                * 1e9;
            let f = o
                .fft_gflops
                .unwrap_or(5.0 * n as f64 * (n as f64).log2() / rustfft_s / 1e9)
                * 1e9;
            let (beta, mem) = (o.link_gbs * 1e9, o.mem_gbs * 1e9);
            let (gf, nf) = (g as f64, n as f64);
            let a2a_bytes = s_bytes * (gf - 1.0) * nf / (gf * gf);
            let t_a2a = a2a_bytes / beta;
            let t_extra = (fmm.bytes as f64 / gf - a2a_bytes) / beta;
            let t_gemm = fmm.gemm_flops / gf / r;
            let m_len = (n / spec.sections) as f64;
            let t_fft_f = 5.0 * nf / gf * m_len.log2() / f;
            let t_fft_6 = 5.0 * nf / gf * nf.log2() / f;
            let t_mem = 2.0 * s_bytes * nf / gf / mem;
            let pred = (3.0 * t_a2a + t_fft_6 + t_mem) / (t_a2a + t_extra + t_gemm + t_fft_f + t_mem);
            let rate = r / 1e9;
            let ratio = fmm.bytes as f64 / six.bytes as f64;
            let _ = writeln!(
                csv,
                "{e},{g},{:?},{},{},{},{:.6},{:.6},{:.6},{:.3e},{:.3e},{},{},{:.4},{:.3},{:.2},{:.3}",
                o.precision,
                spec.sections,
                spec.order,
                spec.leaf,
                fmm.secs,
                six.secs,
                rustfft_s,
                fmm.err,
                six.err,
                fmm.bytes,
                six.bytes,
                ratio,
                fmm.gemm_share,
                rate,
                pred
            );
            let _ = writeln!(
                table,
                "| {e} | {g} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.1e} | {:.1e} | {:.3} | {:.2} | {:.1} | {:.2} |",
                spec.sections, spec.order, spec.leaf, fmm.secs, six.secs, rustfft_s, fmm.err, six.err, ratio, fmm.gemm_share, rate, pred
            );
            eprintln!("2^{e} G={g}: done");
        }
        let (inside, alone_rate) = same_shapes(&fmm1.log, o.precision);
        let _ = writeln!(
            same,
            "| {e} | {} | {:.1} | {:.1} | {:.2} |",
            fmm1.log.len(),
            inside,
            alone_rate,
            inside / alone_rate
        );
        let _ = writeln!(
            table,
            "|  | solo (G = 1, one core) |  |  |  | {:.4} | {:.4} |  | {:.1e} | {:.1e} |  | {:.2} | {:.1} |  |",
            fmm1.secs,
            six1.secs,
            fmm1.err,
            six1.err,
            fmm1.gemm_share,
            fmm1.gemm_flops / fmm1.gemm_secs.max(1e-12) / 1e9
        );
    }
    if let Err(e) = std::fs::create_dir_all(&o.out).and_then(|_| std::fs::write(o.out.join("fft.csv"), &csv)) {
        eprintln!("warning: cannot write {}: {e}", o.out.display());
    } else {
        eprintln!("wrote {}", o.out.join("fft.csv").display());
    }
    table + &same
}

/// Seconds per call of one FMM GEMM shape run alone (fresh buffers, one thread): median of 3
/// samples of >= 10 ms.
fn alone<T: tensorblas::Scalar>(h: &Handle, c: &GemmCall) -> f64 {
    let span = |rows: usize, cols: usize, ld: usize, bs: usize| (rows - 1) + (cols - 1) * ld + (c.batch - 1) * bs + 1;
    let (ra, ca) = if c.transa == Op::N { (c.m, c.k) } else { (c.k, c.m) };
    let half = T::from_c64(Complex64::new(0.5, 0.0));
    let a = vec![half; span(ra, ca, c.lda, c.stride_a)];
    let b = vec![half; span(c.k, c.n, c.ldb, c.stride_b)];
    let mut cc = vec![half; span(c.m, c.n, c.ldc, c.stride_c)];
    let beta = if c.beta_zero { T::zero() } else { T::one() };
    let mut call = || {
        h.gemm_strided_batched_ex(
            c.transa,
            Op::N,
            c.m,
            c.n,
            c.k,
            T::one(),
            StridedRef::new(&a, 0, 1, c.lda as isize, c.stride_a as isize),
            StridedRef::new(&b, 0, 1, c.ldb as isize, c.stride_b as isize),
            beta,
            StridedMut::new(&mut cc, 0, 1, c.ldc as isize, c.stride_c as isize),
            c.batch,
        )
        .expect("standalone GEMM");
    };
    call();
    let t = Instant::now();
    call();
    let reps = ((0.01 / t.elapsed().as_secs_f64().max(1e-7)).ceil() as usize).clamp(1, 100_000);
    let mut v: Vec<f64> = (0..3)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                call();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[1]
}

/// (FMM GEMM rate inside the transform, rate of the same calls run alone), GFLOP/s, one thread.
fn same_shapes(log: &[GemmCall], precision: Precision) -> (f64, f64) {
    let h = Handle::new().expect("handle");
    h.set_num_threads(1);
    let flops: f64 = log.iter().map(|c| c.flops()).sum();
    let inside: f64 = log.iter().map(|c| c.secs).sum();
    let mut alone_secs = 0.0;
    let mut seen: Vec<(GemmCall, f64)> = Vec::new();
    for c in log {
        let key = GemmCall { secs: 0.0, ..*c };
        let t = match seen.iter().find(|(k, _)| *k == key) {
            Some((_, t)) => *t,
            None => {
                let t = match precision {
                    Precision::F64 => alone::<f64>(&h, c),
                    Precision::F32 => alone::<f32>(&h, c),
                };
                seen.push((key, t));
                t
            }
        };
        alone_secs += t;
    }
    (flops / inside / 1e9, flops / alone_secs / 1e9)
}
