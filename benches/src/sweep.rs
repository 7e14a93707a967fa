//! `tensorblas-bench sweep`: every variant a user could pick for a batch of small GEMMs, measured
//! in one run on the same buffers, in two regimes:
//! - `cache`: each operand of the whole batch <= 256 KiB, the same buffers repeated;
//! - `dram`: operands far larger than L3 (about 3 x 64 MiB), so each call streams from memory.
//!
//! Also measured in the same run: the FMA peak (2 x 256-bit FMA loop on every thread) and the
//! STREAM-like copy bandwidth, which set the roofline `min(peak, bandwidth * flops / bytes)`.

use crate::vendor;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tensorblas::{Complex32, Complex64, CpuBackend, CpuEngine, Handle, Op, Scalar};

/// Operand-size regime of a measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Regime {
    Cache,
    Dram,
}

impl Regime {
    pub fn name(self) -> &'static str {
        match self {
            Regime::Cache => "cache",
            Regime::Dram => "dram",
        }
    }
}

/// Sweep options (see `tensorblas-bench sweep --help`).
#[derive(Clone, Debug)]
pub struct Opts {
    pub types: Vec<char>,
    pub shapes: Vec<(usize, usize, usize)>,
    pub regimes: Vec<Regime>,
    pub threads: usize,
    pub backends: Vec<CpuBackend>,
    /// Engines of the native backend measured on their own (`strided:native-<engine>` rows).
    pub engines: Vec<CpuEngine>,
    pub samples: usize,
    pub min_sample: Duration,
    /// Bytes of A+B+C per call in the dram regime.
    pub dram_bytes: usize,
    /// Largest operand (A, B or C of the whole batch) in the cache regime.
    pub cache_bytes: usize,
    pub out: PathBuf,
}

/// One CSV row.
#[derive(Clone, Debug)]
pub struct Row {
    pub op: String,
    pub ty: char,
    pub backend: String,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub batch: usize,
    pub layout: String,
    pub threads: usize,
    pub median_ns: f64,
    pub min_ns: f64,
    pub samples: usize,
    pub gflops: f64,
}

pub const CSV_HEADER: &str = "op,type,backend,m,n,k,batch,layout,threads,median_ns,min_ns,samples,gflops";

impl Row {
    fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{},{},{:.0},{:.0},{},{:.3}",
            self.op,
            self.ty,
            self.backend,
            self.m,
            self.n,
            self.k,
            self.batch,
            self.layout,
            self.threads,
            self.median_ns,
            self.min_ns,
            self.samples,
            self.gflops
        )
    }

    /// Whether this row is one of tensorblas' own strided-batched variants.
    pub fn is_ours(&self) -> bool {
        self.op == "strided" || self.op == "batched"
    }
}

/// Machine limits measured in the same run.
#[derive(Clone, Copy, Debug)]
pub struct Machine {
    /// f32 FMA peak, GFLOP/s, on `threads` threads (f64: half).
    pub peak_f32: f64,
    /// STREAM-like copy bandwidth, GB/s (read + write bytes).
    pub bandwidth: f64,
}

impl Machine {
    pub fn peak(&self, ty: char) -> f64 {
        match ty {
            's' | 'c' => self.peak_f32,
            _ => self.peak_f32 / 2.0,
        }
    }

    /// Roofline GFLOP/s of an m x n x k GEMM whose A, B, C stream from memory once.
    pub fn roofline(&self, ty: char, m: usize, n: usize, k: usize) -> f64 {
        let (flops, sz) = flops_and_size(ty, m, n, k);
        let bytes = ((m * k + k * n + m * n) * sz) as f64;
        self.peak(ty).min(self.bandwidth * flops / bytes)
    }
}

/// Flops of one m x n x k GEMM and the element size for a type letter.
pub fn flops_and_size(ty: char, m: usize, n: usize, k: usize) -> (f64, usize) {
    let mnk = (m * n * k) as f64;
    match ty {
        's' => (2.0 * mnk, 4),
        'd' => (2.0 * mnk, 8),
        'c' => (8.0 * mnk, 8),
        _ => (8.0 * mnk, 16),
    }
}

/// Lets the threads of a multithreaded vendor call go to sleep before the next measurement.
/// OpenBLAS's workers spin for about 2^28 cycles (0.1 s) after a call; the variant timed next
/// (the next row's `strided:auto`, first in each row) shared the cores with them and measured
/// 0.5-0.7x its own rate a moment later (AMD EPYC Zen 4, 2 threads: s 4^3 x 4096 auto 32 against
/// native 48, the same code).
fn settle() {
    std::thread::sleep(Duration::from_millis(250));
}

/// Times `f`: one warm-up call, calibrates repetitions so that a sample lasts `min_sample`, then
/// `samples` samples. Returns (median, min) nanoseconds per call.
pub(crate) fn time(samples: usize, min_sample: Duration, mut f: impl FnMut()) -> (f64, f64) {
    let reps = calibrate(min_sample, &mut f);
    let v: Vec<f64> = (0..samples.max(1)).map(|_| per_call_ns(reps, &mut f)).collect();
    median_min(v)
}

/// One warm-up call and one timed call of `f`: the repetitions that make a sample last
/// `min_sample` (at least one).
fn calibrate(min_sample: Duration, f: &mut impl FnMut()) -> usize {
    f();
    let t = Instant::now();
    f();
    let once = t.elapsed().max(Duration::from_nanos(50));
    (min_sample.as_secs_f64() / once.as_secs_f64()).ceil().max(1.0) as usize
}

/// Nanoseconds per call of `reps` calls of `f` timed together.
fn per_call_ns(reps: usize, f: &mut impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed().as_nanos() as f64 / reps as f64
}

/// (median, min) of samples (at least one).
fn median_min(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0])
}

/// Interleaved timing of one row's variants. Round r takes sample r of every variant in turn, so
/// a slow spell of the host (on the shared 2-vCPU guests this project runs on, the memory
/// bandwidth moves between ~25 and ~55 GB/s over seconds) lands on every variant of the row,
/// not on whichever variant was being timed through it: with the variants timed one after the
/// other, two variants running the same code measured 1.2-1.9x apart in the same row (AMD EPYC
/// Zen 4, run 10 of `benches/results/cpu-zen4.md`: s 32^3 DRAM `strided:auto` 80 against
/// `strided:native` 118 GFLOP/s, z 256^3 cache 57 against 107).
pub(crate) struct Rounds {
    min_sample: Duration,
    vars: Vec<Var>,
    /// The next sample follows a pause ([`settle`]): warm up for [`AFTER_PAUSE`].
    paused: bool,
}

/// How long the first sample after a pause warms up. After a pause the first calls run up to 2x
/// slower for some 50 ms (`python/bench.py`'s finding on the Xeon guest), and the variant timed
/// first in each round paid for it: on the Zen 4, d 32^3 DRAM `strided:auto` (first) measured
/// 43.2, 54.1, 62.7, 59.6, 50.6 GFLOP/s against `strided:native` (the same code, third) 59.2,
/// 58.2, 63.9, 64.5, 65.2 in five runs with a quarter-sample warm-up.
const AFTER_PAUSE: Duration = Duration::from_millis(100);

/// One variant's calibration and samples.
struct Var {
    op: String,
    backend: String,
    reps: usize,
    /// Nanoseconds per call, one per round.
    ns: Vec<f64>,
}

impl Rounds {
    pub(crate) fn new(min_sample: Duration) -> Self {
        Rounds {
            min_sample,
            vars: Vec::new(),
            paused: true,
        }
    }

    /// Lets the vendor's threads go to sleep ([`settle`]); the next sample warms up longer.
    pub(crate) fn pause(&mut self) {
        settle();
        self.paused = true;
    }

    /// Takes one sample of variant (`op`, `backend`): warm-up calls for a quarter of a sample
    /// (at least one: the variants before it ran other code; [`AFTER_PAUSE`] after a pause and
    /// at a row's start), then `reps` calls timed together. `reps` is calibrated at the
    /// variant's first sample so that a sample lasts `min_sample`.
    pub(crate) fn sample(&mut self, op: &str, backend: &str, mut f: impl FnMut()) {
        let i = match self.vars.iter().position(|v| v.op == op && v.backend == backend) {
            Some(i) => i,
            None => {
                let reps = calibrate(self.min_sample, &mut f);
                self.vars.push(Var {
                    op: op.into(),
                    backend: backend.into(),
                    reps,
                    ns: Vec::new(),
                });
                self.vars.len() - 1
            }
        };
        let warm = if std::mem::take(&mut self.paused) {
            AFTER_PAUSE
        } else {
            self.min_sample / 4
        };
        let t = Instant::now();
        f();
        while t.elapsed() < warm {
            f();
        }
        let v = &mut self.vars[i];
        v.ns.push(per_call_ns(v.reps, &mut f));
    }

    /// (op, backend, (median, min) nanoseconds per call) of every variant, in the order of
    /// their first samples.
    pub(crate) fn finish(self) -> Vec<(String, String, (f64, f64))> {
        self.vars
            .into_iter()
            .map(|v| (v.op, v.backend, median_min(v.ns)))
            .collect()
    }
}

/// FMA peak of the pool's threads (f32 GFLOP/s): the best of a 256-bit (AVX2+FMA) and, where
/// available, a 512-bit (AVX-512F) FMA loop with 12 independent accumulators per thread, best
/// of 5 after half a second of warm-up.
pub fn measure_peak(pool: &rayon::ThreadPool) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        macro_rules! fma_loop {
            ($name:ident, $feat:literal, $v:ty, $set1:ident, $fma:ident, $lanes:expr) => {
                #[target_feature(enable = $feat)]
                fn $name(iters: usize) -> f32 {
                    let x = $set1(0.999_999);
                    let y = $set1(1e-7);
                    let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5) = (
                        $set1(0.0),
                        $set1(0.1),
                        $set1(0.2),
                        $set1(0.3),
                        $set1(0.4),
                        $set1(0.5),
                    );
                    let (mut a6, mut a7, mut a8, mut a9, mut a10, mut a11) = (
                        $set1(0.6),
                        $set1(0.7),
                        $set1(0.8),
                        $set1(0.9),
                        $set1(1.0),
                        $set1(1.1),
                    );
                    for _ in 0..iters {
                        a0 = $fma(a0, x, y);
                        a1 = $fma(a1, x, y);
                        a2 = $fma(a2, x, y);
                        a3 = $fma(a3, x, y);
                        a4 = $fma(a4, x, y);
                        a5 = $fma(a5, x, y);
                        a6 = $fma(a6, x, y);
                        a7 = $fma(a7, x, y);
                        a8 = $fma(a8, x, y);
                        a9 = $fma(a9, x, y);
                        a10 = $fma(a10, x, y);
                        a11 = $fma(a11, x, y);
                    }
                    let all = [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11];
                    all.iter()
                        .map(|v| {
                            // SAFETY: $v is $lanes f32 lanes of plain data.
                            let lanes: [f32; $lanes] = unsafe { std::mem::transmute_copy(v) };
                            lanes.iter().sum::<f32>()
                        })
                        .sum()
                }
            };
        }
        fma_loop!(fma256, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, 8);
        fma_loop!(fma512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, 16);
        let run = |f: fn(usize) -> f32, lanes: usize| {
            let iters = 10_000_000;
            // Warm-up of about half a second first: on a Zen 4 guest the first 3 x 20 ms
            // measured 140 GFLOP/s where the next runs of the same binary measured 251 (clock
            // ramp-up or a busy host at start), and every row's % of peak was off by that.
            let warm = Instant::now();
            while warm.elapsed() < Duration::from_millis(500) {
                std::hint::black_box(pool.install(|| rayon::broadcast(|_| f(iters / 4)).into_iter().sum::<f32>()));
            }
            let mut best = 0.0f64;
            for _ in 0..5 {
                let t = Instant::now();
                let sum: f32 = pool.install(|| rayon::broadcast(|_| f(iters)).into_iter().sum());
                std::hint::black_box(sum);
                let flops = (pool.current_num_threads() * iters * 12 * lanes * 2) as f64;
                best = best.max(flops / t.elapsed().as_secs_f64() / 1e9);
            }
            best
        };
        let mut peak = f64::NAN;
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA detected.
            peak = run(|n| unsafe { fma256(n) }, 8);
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F detected.
            peak = peak.max(run(|n| unsafe { fma512(n) }, 16));
        }
        peak
    }
    #[cfg(not(target_arch = "x86_64"))]
    f64::NAN
}

/// STREAM-like copy bandwidth of `threads` threads, GB/s (bytes read + written), best of 5.
pub fn measure_bandwidth(pool: &rayon::ThreadPool, bytes: usize) -> f64 {
    let n = bytes / 8;
    let src = vec![1.0f64; n];
    let mut dst = vec![0.0f64; n];
    let mut best = 0.0f64;
    for _ in 0..5 {
        let t = Instant::now();
        pool.install(|| {
            dst.par_chunks_mut(1 << 15)
                .zip(src.par_chunks(1 << 15))
                .for_each(|(d, s)| d.copy_from_slice(s))
        });
        best = best.max(2.0 * (n * 8) as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    std::hint::black_box(&dst);
    best
}

fn fill<T: Scalar>(len: usize, seed: u64) -> Vec<T> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let v = (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            T::from_c64(Complex64::new(v, -v))
        })
        .collect()
}

/// Batch count for a shape in a regime.
fn batch_for(regime: Regime, opts: &Opts, m: usize, n: usize, k: usize, sz: usize) -> usize {
    match regime {
        Regime::Cache => (opts.cache_bytes / ((m * k).max(k * n).max(m * n) * sz)).max(1),
        Regime::Dram => (opts.dram_bytes / ((m * k + k * n + m * n) * sz)).max(1),
    }
}

struct SendPtr<T>(*mut T);
// SAFETY: used only to hand disjoint C entries to rayon workers in the alternatives below.
unsafe impl<T> Sync for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Send for SendPtr<T> {}

/// Measures every variant for one type, shape and regime, on the same buffers, in interleaved
/// rounds ([`Rounds`]): each round takes one sample of every variant, the multithreaded vendor
/// calls last, then lets their threads sleep ([`Rounds::pause`]) before the next round.
#[allow(clippy::too_many_arguments)]
fn measure_shape<T: Scalar>(
    ty: char,
    (m, n, k): (usize, usize, usize),
    regime: Regime,
    opts: &Opts,
    pool: &rayon::ThreadPool,
    handles: &[(String, CpuBackend, Handle)],
    rows: &mut Vec<Row>,
) {
    let (flops1, sz) = flops_and_size(ty, m, n, k);
    let batch = batch_for(regime, opts, m, n, k, sz);
    let (sa, sb, sc) = (m * k, k * n, m * n);
    let a: Vec<T> = fill(sa * batch, 1);
    let b: Vec<T> = fill(sb * batch, 2);
    let mut c: Vec<T> = vec![T::zero(); sc * batch];
    let total = flops1 * batch as f64;
    let t = opts.threads;
    // One flat GEMM with the same flops (a reference: its own buffers).
    let nf = ((m * n * k * batch) as f64).cbrt().round().max(1.0) as usize;
    let fa: Vec<T> = fill(nf * nf, 3);
    let fb: Vec<T> = fill(nf * nf, 4);
    let mut fc: Vec<T> = vec![T::zero(); nf * nf];
    // Without a vendor BLAS, the flat GEMM runs on the native backend's default handle.
    let flat_native = handles
        .iter()
        .find(|(_, b, h)| *b == CpuBackend::Native && h.cpu_engine() == CpuEngine::Auto);
    let ap: Vec<&[T]> = a.chunks(sa).collect();
    let bp: Vec<&[T]> = b.chunks(sb).collect();
    let mut rounds = Rounds::new(opts.min_sample);
    let mut batch_strided_ok = true;
    for _ in 0..opts.samples.max(1) {
        for (label, _, h) in handles {
            rounds.sample("strided", label, || {
                h.gemm_strided_batched(
                    Op::N,
                    Op::N,
                    m,
                    n,
                    k,
                    T::one(),
                    &a,
                    m,
                    sa as isize,
                    &b,
                    k,
                    sb as isize,
                    T::zero(),
                    &mut c,
                    m,
                    sc as isize,
                    batch,
                )
                .expect("strided batched GEMM failed")
            });
            if h.cpu_engine() != CpuEngine::Auto {
                // An engine measured on its own: the strided form is enough.
                continue;
            }
            let mut cp: Vec<&mut [T]> = c.chunks_mut(sc).collect();
            rounds.sample("batched", label, || {
                h.gemm_batched(Op::N, Op::N, m, n, k, T::one(), &ap, m, &bp, k, T::zero(), &mut cp, m)
                    .expect("batched GEMM failed")
            });
        }
        // Alternatives: rayon over the batch with a single-threaded GEMM per entry.
        let cptr = SendPtr(c.as_mut_ptr());
        let per_entry = |f: unsafe fn(usize, usize, usize, *const T, *const T, *mut T)| {
            let cptr = &cptr;
            let (a, b) = (&a, &b);
            move || {
                pool.install(|| {
                    (0..batch).into_par_iter().for_each(|p| {
                        // SAFETY: entry p of A, B, C lies inside the buffers; C entries are disjoint.
                        unsafe {
                            f(
                                m,
                                n,
                                k,
                                a.as_ptr().add(p * sa),
                                b.as_ptr().add(p * sb),
                                cptr.0.add(p * sc),
                            )
                        }
                    })
                })
            }
        };
        rounds.sample("rayon_loop", "gemm-crate", per_entry(vendor::gemm_crate::<T>));
        let Some(v) = vendor::vendor_name() else {
            if let Some((label, _, h)) = flat_native {
                rounds.sample("flat_gemm", label, || {
                    h.gemm(
                        Op::N,
                        Op::N,
                        nf,
                        nf,
                        nf,
                        T::one(),
                        &fa,
                        nf,
                        &fb,
                        nf,
                        T::zero(),
                        &mut fc,
                        nf,
                    )
                    .unwrap()
                });
            }
            continue;
        };
        vendor::set_vendor_threads(1);
        rounds.sample("rayon_loop", v, per_entry(vendor::vendor_gemm::<T>));
        // The vendor's own threads from here to the end of the round.
        vendor::set_vendor_threads(t);
        rounds.sample("loop", v, || {
            for p in 0..batch {
                // SAFETY: as above, serially.
                unsafe {
                    vendor::vendor_gemm::<T>(
                        m,
                        n,
                        k,
                        a.as_ptr().add(p * sa),
                        b.as_ptr().add(p * sb),
                        cptr.0.add(p * sc),
                    )
                }
            }
        });
        if batch_strided_ok {
            rounds.sample("batch_strided", v, || {
                // SAFETY: packed entries in the buffers; C disjoint from A and B.
                batch_strided_ok =
                    unsafe { vendor::mkl_batch_strided::<T>(m, n, k, a.as_ptr(), b.as_ptr(), cptr.0, batch) };
            });
        }
        rounds.sample("flat_gemm", v, || {
            // SAFETY: nf x nf buffers.
            unsafe { vendor::vendor_gemm::<T>(nf, nf, nf, fa.as_ptr(), fb.as_ptr(), fc.as_mut_ptr()) }
        });
        vendor::set_vendor_threads(1);
        rounds.pause();
    }
    let scale = total / flops_and_size(ty, nf, nf, nf).0;
    for (op, backend, (med, min)) in rounds.finish() {
        if op == "batch_strided" && !batch_strided_ok {
            continue;
        }
        // The flat GEMM's time scaled to the row's flops.
        let (med, min) = if op == "flat_gemm" {
            (med * scale, min * scale)
        } else {
            (med, min)
        };
        rows.push(Row {
            op,
            ty,
            backend,
            m,
            n,
            k,
            batch,
            layout: format!("{}-NN", regime.name()),
            threads: t,
            median_ns: med,
            min_ns: min,
            samples: opts.samples,
            gflops: total / min,
        })
    }
}

/// Runs the sweep, writes `sweep.csv`, the plots, and returns the rows and machine limits.
pub fn run(opts: &Opts) -> (Vec<Row>, Machine) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .expect("thread pool");
    eprintln!(
        "measuring the FMA peak and the copy bandwidth on {} threads ...",
        opts.threads
    );
    let machine = Machine {
        peak_f32: measure_peak(&pool),
        bandwidth: measure_bandwidth(&pool, opts.dram_bytes.max(64 << 20)),
    };
    eprintln!(
        "peak {:.1} GFLOP/s f32 ({:.1} f64), copy bandwidth {:.1} GB/s",
        machine.peak_f32,
        machine.peak_f32 / 2.0,
        machine.bandwidth
    );
    let mut handles: Vec<(String, CpuBackend, Handle)> = opts
        .backends
        .iter()
        .map(|&b| {
            let h = Handle::with_backend(b).expect("backend");
            h.set_num_threads(opts.threads);
            (b.name().to_string(), b, h)
        })
        .collect();
    for &e in opts.engines.iter().filter(|e| **e != CpuEngine::Auto) {
        let h = Handle::with_backend(CpuBackend::Native).expect("native backend");
        h.set_num_threads(opts.threads);
        h.set_cpu_engine(e);
        handles.push((format!("native-{}", e.name()), CpuBackend::Native, h));
    }
    let jobs: Vec<(char, (usize, usize, usize), Regime)> = opts
        .types
        .iter()
        .flat_map(|&t| {
            opts.shapes
                .iter()
                .flat_map(move |&s| opts.regimes.iter().map(move |&r| (t, s, r)))
        })
        .collect();
    let bar = ProgressBar::new(jobs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {msg}")
            .expect("template")
            .progress_chars("=> "),
    );
    let mut rows = Vec::new();
    for (ty, shape, regime) in jobs {
        bar.set_message(format!("{ty} {}x{}x{} {}", shape.0, shape.1, shape.2, regime.name()));
        match ty {
            's' => measure_shape::<f32>(ty, shape, regime, opts, &pool, &handles, &mut rows),
            'd' => measure_shape::<f64>(ty, shape, regime, opts, &pool, &handles, &mut rows),
            'c' => measure_shape::<Complex32>(ty, shape, regime, opts, &pool, &handles, &mut rows),
            _ => measure_shape::<Complex64>(ty, shape, regime, opts, &pool, &handles, &mut rows),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    std::fs::create_dir_all(&opts.out).expect("create the output directory");
    let mut csv = String::from(CSV_HEADER);
    csv.push('\n');
    for r in &rows {
        csv.push_str(&r.csv());
        csv.push('\n');
    }
    let path = opts.out.join("sweep.csv");
    std::fs::write(&path, csv).expect("write sweep.csv");
    eprintln!("wrote {}", path.display());
    let path = opts.out.join("machine.txt");
    std::fs::write(&path, machine_record(&machine, opts.threads)).expect("write machine.txt");
    eprintln!("wrote {}", path.display());
    (rows, machine)
}

/// What the sweep ran on, for `machine.txt` next to `sweep.csv`: the CPU model (`/proc/cpuinfo`
/// where there is one), the instruction set of tensorblas' own kernels (`TBLAS_ISA` or the
/// widest the CPU has), the threads, the FMA peak and copy bandwidth measured, and the
/// environment variables that change a library's kernels.
fn machine_record(machine: &Machine, threads: usize) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    let mut out = format!(
        "cpu: {} (family {}, model {})\nisa: {}\nthreads: {threads}\npeak: {:.1} GFLOP/s f32, {:.1} f64\ncopy bandwidth: {:.1} GB/s\n",
        field("model name"),
        field("cpu family"),
        field("model"),
        tensorblas::Isa::detect().name(),
        machine.peak('s'),
        machine.peak('d'),
        machine.bandwidth,
    );
    for var in [
        "TBLAS_ISA",
        "OPENBLAS_CORETYPE",
        "OPENBLAS_NUM_THREADS",
        "MKL_ENABLE_INSTRUCTIONS",
    ] {
        if let Ok(v) = std::env::var(var) {
            out.push_str(&format!("{var}={v}\n"));
        }
    }
    out
}

/// Reads a `sweep.csv` written by [`run`].
pub fn read_csv(path: &Path) -> Result<Vec<Row>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    if lines.next() != Some(CSV_HEADER) {
        return Err(format!("{}: not a sweep.csv (header differs)", path.display()));
    }
    lines
        .enumerate()
        .map(|(i, l)| {
            let f: Vec<&str> = l.split(',').collect();
            let bad = || format!("{}: line {}: malformed row", path.display(), i + 2);
            if f.len() != 13 {
                return Err(bad());
            }
            let u = |s: &str| s.parse::<usize>().map_err(|_| bad());
            let x = |s: &str| s.parse::<f64>().map_err(|_| bad());
            Ok(Row {
                op: f[0].into(),
                ty: f[1].chars().next().ok_or_else(bad)?,
                backend: f[2].into(),
                m: u(f[3])?,
                n: u(f[4])?,
                k: u(f[5])?,
                batch: u(f[6])?,
                layout: f[7].into(),
                threads: u(f[8])?,
                median_ns: x(f[9])?,
                min_ns: x(f[10])?,
                samples: u(f[11])?,
                gflops: x(f[12])?,
            })
        })
        .collect()
}

/// The table: per type, regime and shape, every variant's GFLOP/s (best sample), tensorblas'
/// best strided-batched variant, the best alternative, their ratio, % of peak and % of roofline.
pub fn table(rows: &[Row], machine: &Machine) -> String {
    let mut out = String::new();
    let mut keys: Vec<(char, String, usize, usize, usize)> = Vec::new();
    for r in rows {
        let key = (r.ty, r.layout.clone(), r.m, r.n, r.k);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    // Group by type and regime, sizes ascending within a group (stable: types keep run order).
    let type_order = |t: char| rows.iter().position(|r| r.ty == t).unwrap_or(0);
    keys.sort_by_key(|k| (type_order(k.0), k.1.clone(), k.2 * k.3 * k.4, k.2, k.3, k.4));
    let mut variants: Vec<String> = Vec::new();
    for r in rows {
        let v = format!("{}:{}", r.op, r.backend);
        if !variants.contains(&v) {
            variants.push(v);
        }
    }
    let mut last = (' ', String::new());
    for (ty, layout, m, n, k) in keys {
        if (ty, layout.clone()) != last {
            let _ = writeln!(
                out,
                "\n{ty} {layout} (GFLOP/s, best of {} samples; peak {:.0}, copy bandwidth {:.1} GB/s)",
                rows[0].samples,
                machine.peak(ty),
                machine.bandwidth
            );
            let _ = write!(out, "{:>13} {:>8}", "m x n x k", "batch");
            for v in &variants {
                let _ = write!(out, " {:>20}", v);
            }
            let _ = writeln!(
                out,
                " {:>8} {:>9} {:>6} {:>6}",
                "ours/alt", "auto/best", "%peak", "%roof"
            );
            last = (ty, layout.clone());
        }
        let sel: Vec<&Row> = rows
            .iter()
            .filter(|r| r.ty == ty && r.layout == layout && (r.m, r.n, r.k) == (m, n, k))
            .collect();
        let _ = write!(out, "{:>13} {:>8}", format!("{m}x{n}x{k}"), sel[0].batch);
        for v in &variants {
            match sel.iter().find(|r| format!("{}:{}", r.op, r.backend) == *v) {
                Some(r) => {
                    let _ = write!(out, " {:>20.1}", r.gflops);
                }
                None => {
                    let _ = write!(out, " {:>20}", "-");
                }
            }
        }
        let ours = sel
            .iter()
            .filter(|r| r.op == "strided")
            .map(|r| r.gflops)
            .fold(0.0, f64::max);
        let alt = sel
            .iter()
            .filter(|r| !r.is_ours() && r.op != "flat_gemm")
            .map(|r| r.gflops)
            .fold(0.0, f64::max);
        // The default (`auto`, or `native` in a sweep without it) against the best of
        // tensorblas' own strided variants (backends and forced engines).
        let auto = ["auto", "native"]
            .iter()
            .find_map(|b| sel.iter().find(|r| r.op == "strided" && r.backend == *b))
            .map_or(f64::NAN, |r| r.gflops);
        let roof = machine.roofline(ty, m, n, k);
        let _ = writeln!(
            out,
            " {:>8.2} {:>9.2} {:>5.0}% {:>5}",
            ours / alt,
            auto / ours,
            100.0 * ours / machine.peak(ty),
            if layout.starts_with("dram") {
                format!("{:.0}%", 100.0 * ours / roof)
            } else {
                "-".into()
            }
        );
    }
    out.push_str(TABLE_LEGEND);
    out
}

/// Printed under every sweep table.
pub const TABLE_LEGEND: &str = "
Columns: GFLOP/s of each variant, named op:backend. op = strided (tblas_?gemm_strided_batched),
batched (tblas_?gemm_batched, pointer arrays), rayon_loop (rayon over the batch, one
single-threaded GEMM per entry), loop (a serial loop of multithreaded GEMMs), flat_gemm (one GEMM
of the same flops: a reference, not an alternative); backend = auto (the handle's choice), native,
native-<engine> (one engine forced), openblas, mkl, gemm-crate. batch = entries per call.
  ours/alt   best strided:* (tensorblas) / best rayon_loop:* or loop:* (> 1: ours wins)
  auto/best  the default (strided:auto, else strided:native) / best strided:* (1.00: auto picks the best)
  %peak      best strided:* / the FMA peak measured in this run
  %roof      best strided:* / min(peak, copy bandwidth x flops per byte of A+B+C) (dram rows only)
";

/// One SVG per type: GFLOP/s against size, one line per variant, the peak as a line; cache and
/// dram regimes side by side. (SVG: text is drawn by the viewer, so no font file is needed and
/// the build carries no image codecs or font rasteriser.)
pub fn plot(rows: &[Row], machine: &Machine, out: &Path) -> Result<Vec<PathBuf>, String> {
    use plotters::prelude::*;
    let mut written = Vec::new();
    let mut types: Vec<char> = rows.iter().map(|r| r.ty).collect();
    types.dedup();
    for ty in types {
        let path = out.join(format!("sweep-{ty}.svg"));
        let root = SVGBackend::new(&path, (1600, 700)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let panels = root.split_evenly((1, 2));
        for (panel, regime) in panels.iter().zip(["cache", "dram"]) {
            let sel: Vec<&Row> = rows
                .iter()
                // Square shapes only: lines of GFLOP/s against the size (the extra --shapes rows
                // are in the table and the CSV).
                .filter(|r| r.ty == ty && r.layout.starts_with(regime) && r.m == r.n && r.n == r.k)
                .collect();
            if sel.is_empty() {
                continue;
            }
            // The swept sizes, evenly spaced (one tick each, labelled with the size and the batch).
            let mut sizes: Vec<(usize, usize)> = sel.iter().map(|r| (r.m, r.batch)).collect();
            sizes.sort_unstable();
            sizes.dedup_by_key(|s| s.0);
            let xi = |m: usize| sizes.iter().position(|s| s.0 == m).unwrap_or(0) as f64;
            let (x0, x1) = (-0.3, sizes.len() as f64 - 0.7);
            let peak = machine.peak(ty);
            let ymax = sel
                .iter()
                .map(|r| r.gflops)
                .fold(if peak.is_finite() { peak } else { 0.0 }, f64::max)
                * 1.1;
            let mut chart = ChartBuilder::on(panel)
                .caption(
                    format!("{ty}gemm, {regime}-resident, {} threads", sel[0].threads),
                    ("sans-serif", 24),
                )
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(60)
                .build_cartesian_2d(x0..x1, 0.0..ymax)
                .map_err(|e| e.to_string())?;
            let label = |x: &f64| -> String {
                let i = x.round();
                match sizes.get(i as usize) {
                    Some(&(m, b)) if (x - i).abs() < 1e-6 && i >= 0.0 => format!("{m} (x{b})"),
                    _ => String::new(),
                }
            };
            chart
                .configure_mesh()
                .x_desc("m = n = k (x batch)")
                .y_desc("GFLOP/s")
                .x_labels(sizes.len())
                .x_label_formatter(&label)
                .label_style(("sans-serif", 16))
                .draw()
                .map_err(|e| e.to_string())?;
            if peak.is_finite() {
                chart
                    .draw_series(LineSeries::new([(x0, peak), (x1, peak)], BLACK.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(format!("FMA peak {peak:.0}"))
                    .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
            }
            let mut variants: Vec<String> = sel.iter().map(|r| format!("{}:{}", r.op, r.backend)).collect();
            variants.sort();
            variants.dedup();
            let mut drawn: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
            for (i, v) in variants.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                let mut pts: Vec<(f64, f64)> = sel
                    .iter()
                    .filter(|r| format!("{}:{}", r.op, r.backend) == *v)
                    .map(|r| (xi(r.m), r.gflops))
                    .collect();
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                // A line that lies on an earlier one (within 2% at every size, e.g. strided:auto
                // on strided:native when auto picks the native backend) is said so in the legend
                // and drawn with hollow rings, so that it stays visible.
                let twin = drawn.iter().find(|(_, q)| {
                    q.len() == pts.len()
                        && q.iter()
                            .zip(&pts)
                            .all(|(a, b)| a.0 == b.0 && (a.1 - b.1).abs() <= 0.02 * a.1.abs().max(b.1.abs()))
                });
                let name = match twin {
                    Some((w, _)) => format!("{v} (= {w})"),
                    None => v.clone(),
                };
                let width = if v.starts_with("strided") { 3 } else { 1 };
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(width)))
                    .map_err(|e| e.to_string())?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)));
                if twin.is_some() {
                    chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 7, color.stroke_width(2))))
                        .map_err(|e| e.to_string())?;
                } else {
                    chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                        .map_err(|e| e.to_string())?;
                }
                drawn.push((v.clone(), pts));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .label_font(("sans-serif", 14))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
        written.push(path.clone());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Every round samples every variant once and in the same order, so the variants' samples
    /// interleave: variant B's round-r calls lie between A's round-r and round-(r+1) calls.
    /// `finish` gives one (median, min) per variant in the order of their first samples.
    #[test]
    fn rounds_interleave_the_variants_samples() {
        let log = RefCell::new(Vec::<char>::new());
        let call = |name: char| {
            let log = &log;
            move || {
                log.borrow_mut().push(name);
                std::thread::sleep(Duration::from_micros(100));
            }
        };
        let mut rounds = Rounds::new(Duration::from_millis(2));
        let rounds_n = 3;
        for _ in 0..rounds_n {
            rounds.sample("strided", "a", call('a'));
            rounds.sample("strided", "b", call('b'));
        }
        let log = log.into_inner();
        // The calls, grouped into runs of one variant: a b a b a b (calibration, warm-up and
        // timed calls of one sample form one run).
        let mut runs: Vec<char> = Vec::new();
        for &c in &log {
            if runs.last() != Some(&c) {
                runs.push(c);
            }
        }
        assert_eq!(runs, ['a', 'b'].repeat(rounds_n), "calls: {log:?}");
        let out = rounds.finish();
        assert_eq!(out.len(), 2);
        for ((op, backend, (med, min)), want) in out.iter().zip(["a", "b"]) {
            assert_eq!((op.as_str(), backend.as_str()), ("strided", want));
            // Each call sleeps 100 us: the per-call times are at least that, the median no
            // smaller than the minimum.
            assert!(
                *min >= 100e3 && med >= min,
                "{op} {backend}: median {med} ns, min {min} ns"
            );
        }
    }

    /// A pause makes the next sample warm up for [`AFTER_PAUSE`]; other samples for a quarter
    /// of a sample.
    #[test]
    fn the_sample_after_a_pause_warms_up_longer() {
        let mut rounds = Rounds::new(Duration::from_millis(4));
        let count = |n: &mut usize| {
            *n += 1;
            std::thread::sleep(Duration::from_micros(500));
        };
        let mut first = 0;
        // The first sample of a row counts as after a pause.
        rounds.sample("strided", "a", || count(&mut first));
        let mut second = 0;
        rounds.sample("strided", "a", || count(&mut second));
        // 4 ms of timed calls (8) in both; 100 ms of warm-up (~200 calls) against 1 ms (~2),
        // plus two calibration calls in the first.
        assert!(
            first >= 100 && second < 40,
            "calls: first sample {first}, second {second}"
        );
    }
}
