//! `tensorblas-bench tucker`: HOOI (tensorblas-tucker) on the cases of docs/tucker.md ("Benchmark data") — 100³/R10,
//! 200³/R10, 300³/R20, 400×300×200/R(16,12,8) — with svd init and 25 sweeps (tol = 0): total
//! time, init, time per sweep, the floor of two GEMM passes over X, peak extra memory, error;
//! and, when Python with TensorLy is available, TensorLy 0.10 on the same data
//! (`benches/peers/tensorly_tucker.py`). Each case also runs in f32 on the same tensor (rounded):
//! its time against the f64 run and its error against the f64 error.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tensorblas::Handle;
use tensorblas_tucker::{relative_error, tucker, Matrix, Options, TensorView};

/// Heap bytes in use and their peak (the bench binary's global allocator counts them).
pub static CURRENT: AtomicUsize = AtomicUsize::new(0);
pub static PEAK: AtomicUsize = AtomicUsize::new(0);

/// A counting wrapper around the system allocator.
pub struct Counting;

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { std::alloc::System.alloc(l) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        // SAFETY: forwarded contract.
        unsafe { std::alloc::System.dealloc(p, l) };
        CURRENT.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

pub struct Opts {
    pub cases: Vec<usize>,
    pub n_iter: usize,
    pub peer: bool,
    pub python: String,
    pub out: PathBuf,
}

pub const CASES: [(&str, [usize; 3], [usize; 3]); 4] = [
    ("100^3 R10", [100, 100, 100], [10, 10, 10]),
    ("200^3 R10", [200, 200, 200], [10, 10, 10]),
    ("300^3 R20", [300, 300, 300], [20, 20, 20]),
    ("400x300x200 R(16,12,8)", [400, 300, 200], [16, 12, 8]),
];

/// Gaussian-ish values from a seeded generator (Box–Muller).
fn gaussians(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    let mut u = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (a, b) = (u(), u());
            (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
        })
        .collect()
}

/// X = [[G; U]] + E, G Gaussian, U orthonormal (Gram–Schmidt of Gaussians), ‖E‖ = 0.1‖X0‖,
/// C order (docs/tucker.md, "Benchmark data").
fn data(h: &Handle, shape: [usize; 3], ranks: [usize; 3]) -> Vec<f64> {
    let core = gaussians(1, ranks.iter().product());
    let mut factors = Vec::new();
    for (n, (&i, &r)) in shape.iter().zip(&ranks).enumerate() {
        let mut d = gaussians(10 + n as u64, i * r);
        for j in 0..r {
            for _ in 0..2 {
                for p in 0..j {
                    let dot: f64 = (0..i).map(|k| d[k + j * i] * d[k + p * i]).sum();
                    for k in 0..i {
                        d[k + j * i] -= dot * d[k + p * i];
                    }
                }
            }
            let nrm = (0..i).map(|k| d[k + j * i] * d[k + j * i]).sum::<f64>().sqrt();
            for k in 0..i {
                d[k + j * i] /= nrm;
            }
        }
        factors.push(Matrix::from_col_major(i, r, d).unwrap());
    }
    let t = tensorblas_tucker::TuckerTensor {
        core: tensorblas_tucker::Tensor {
            shape: ranks.to_vec(),
            data: core,
        },
        factors,
    };
    let mut x = tensorblas_tucker::tucker_to_tensor(h, &t, &[0, 1, 2]).unwrap().data;
    let e = gaussians(99, x.len());
    let (nx, ne) = (
        x.iter().map(|v| v * v).sum::<f64>().sqrt(),
        e.iter().map(|v| v * v).sum::<f64>().sqrt(),
    );
    for (v, n) in x.iter_mut().zip(&e) {
        *v += 0.1 * nx * n / ne;
    }
    x
}

/// One mode-0 and one mode-2 TTM of X (the two passes a sweep needs at least), seconds.
fn two_passes(h: &Handle, x: &[f64], shape: [usize; 3], ranks: [usize; 3]) -> f64 {
    let u0 = Matrix::from_col_major(shape[0], ranks[0], gaussians(5, shape[0] * ranks[0])).unwrap();
    let u2 = Matrix::from_col_major(shape[2], ranks[2], gaussians(6, shape[2] * ranks[2])).unwrap();
    let xs = tensorblas::Shape::row_major(&shape);
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for (u, mode) in [(&u0, 0usize), (&u2, 2usize)] {
            let mut ys = shape;
            ys[mode] = u.cols;
            let mut y = vec![0.0; ys.iter().product()];
            let (mut xm, mut ym) = (vec![0i32, 1, 2], vec![0i32, 1, 2]);
            ym[mode] = 3;
            xm[mode] = mode as i32;
            h.contract(
                1.0,
                &tensorblas::TensorRef::new(x, xs.clone()),
                &xm,
                &tensorblas::TensorRef::new(&u.data, tensorblas::Shape::col_major(&[u.rows, u.cols])),
                &[mode as i32, 3],
                0.0,
                &mut tensorblas::TensorMut::new(&mut y, tensorblas::Shape::row_major(&ys)),
                &ym,
            )
            .unwrap();
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

pub fn run(o: &Opts) -> String {
    let h = Handle::new().expect("handle");
    std::fs::create_dir_all(&o.out).ok();
    let mut csv = String::from(
        "case,impl,total_s,init_s,per_sweep_s,two_pass_floor_s,peak_extra_bytes,tensor_bytes,rel_error,n_iter\n",
    );
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<24} {:>9} {:>8} {:>10} {:>10} {:>8} {:>9} {:>12} | {:>10} {:>10} {:>8}",
        "case",
        "total s",
        "init s",
        "sweep ms",
        "floor ms",
        "sw/flr",
        "mem/|X|",
        "rel err",
        "TL total",
        "TL sweep",
        "speedup"
    );
    for &ci in &o.cases {
        let (name, shape, ranks) = CASES[ci - 1];
        let x = data(&h, shape, ranks);
        let bytes = x.len() * 8;
        let xv = TensorView::c_order(&x, &shape).unwrap();
        let opts = Options {
            n_iter_max: o.n_iter,
            tol: 0.0,
            ..Options::default()
        };
        // Warm-up (thread pools, page faults), then the measured run with the peak counted.
        let _ = tucker(
            &h,
            &xv,
            &ranks,
            &Options {
                n_iter_max: 1,
                ..opts.clone()
            },
        )
        .unwrap();
        let base = CURRENT.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let t = Instant::now();
        let res = tucker(&h, &xv, &ranks, &opts).unwrap();
        let total = t.elapsed().as_secs_f64();
        let peak_extra = PEAK.load(Ordering::Relaxed).saturating_sub(base);
        let rel = relative_error(&h, &xv, &res.tucker, &[0, 1, 2]).unwrap();
        let per_sweep = res.timings.sweeps / res.n_iter.max(1) as f64;
        let floor = two_passes(&h, &x, shape, ranks);
        // The same tensor in f32, end to end (TensorLy runs f64 only): time against the f64 run
        // above, error against its error. Measured before TensorLy runs: a TensorLy run between
        // the two left the f32 run 20-30% slower on the Zen 4 guest (`tucker-cpu-zen4.md` run
        // 10), which would measure the host, not the f32 path.
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let xv32 = TensorView::c_order(&x32, &shape).unwrap();
        let opts32 = Options::<f32> {
            n_iter_max: o.n_iter,
            tol: 0.0,
            ..Options::default()
        };
        let warm32 = Options {
            n_iter_max: 1,
            ..opts32.clone()
        };
        let _ = tucker(&h, &xv32, &ranks, &warm32).unwrap();
        let t = Instant::now();
        let r32 = tucker(&h, &xv32, &ranks, &opts32).unwrap();
        let total32 = t.elapsed().as_secs_f64();
        let rel32 = relative_error(&h, &xv32, &r32.tucker, &[0, 1, 2]).unwrap();
        let per_sweep32 = r32.timings.sweeps / r32.n_iter.max(1) as f64;
        drop(xv32);
        drop(x32);
        let _ = writeln!(
            csv,
            "{name},tensorblas,{total:.4},{:.4},{per_sweep:.5},{floor:.5},{peak_extra},{bytes},{rel:.9e},{}",
            res.timings.init, res.n_iter
        );
        let mut peer = String::from("        -          -        -");
        if o.peer {
            let path = std::env::temp_dir().join(format!("tblas-tucker-{}-{ci}.npy", std::process::id()));
            tensorblas_tucker::npy::write(&path, tensorblas_tucker::npy::Dtype::F64, &shape, &x).unwrap();
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/tensorly_tucker.py");
            let ranks_s = ranks.map(|r| r.to_string()).join(",");
            let out = std::process::Command::new(&o.python)
                .args([
                    script,
                    path.to_str().unwrap(),
                    "--ranks",
                    &ranks_s,
                    "--n-iter",
                    &o.n_iter.to_string(),
                ])
                .output();
            let _ = std::fs::remove_file(&path);
            match out {
                Ok(out) if out.status.success() => {
                    let line = String::from_utf8_lossy(&out.stdout);
                    let get = |k: &str| -> f64 {
                        line.split(&format!("\"{k}\": "))
                            .nth(1)
                            .and_then(|r| r.split([',', '}']).next())
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(f64::NAN)
                    };
                    let (tt, ti, ts, te) = (get("total"), get("init"), get("per_sweep"), get("rel_error"));
                    let _ = writeln!(
                        csv,
                        "{name},tensorly,{tt:.4},{ti:.4},{ts:.5},,,{bytes},{te:.9e},{}",
                        o.n_iter
                    );
                    peer = format!("{tt:>10.2} {:>10.1} {:>7.1}x", ts * 1e3, tt / total);
                    if (te - rel).abs() > 1e-10 {
                        peer.push_str(&format!("  (error differs: TensorLy {te:.9e})"));
                    }
                }
                Ok(out) => eprintln!(
                    "TensorLy peer failed (pip install tensorly numpy?): {}",
                    String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
                ),
                Err(e) => eprintln!("cannot run {}: {e}", o.python),
            }
        }
        let _ = writeln!(
            table,
            "{name:<24} {total:>9.3} {:>8.3} {:>10.1} {:>10.1} {:>8.2} {:>9.2} {rel:>12.6e} | {peer}",
            res.timings.init,
            per_sweep * 1e3,
            floor * 1e3,
            per_sweep / floor,
            peak_extra as f64 / bytes as f64,
        );
        let _ = writeln!(
            csv,
            "{name},tensorblas-f32,{total32:.4},{:.4},{per_sweep32:.5},,,{},{rel32:.9e},{}",
            r32.timings.init,
            x.len() * 4,
            r32.n_iter
        );
        let _ = writeln!(
            table,
            "{:<24} {total32:>9.3} {:>8.3} {:>10.1} {:>10} {:>8} {:>9} {rel32:>12.6e} | f64/f32 time {:.2}x, |err32 - err64| {:.1e}",
            "  same in f32",
            r32.timings.init,
            per_sweep32 * 1e3,
            "",
            "",
            "",
            total / total32,
            (rel32 - rel).abs()
        );
        eprintln!("{name} done");
    }
    let _ = std::fs::write(o.out.join("tucker.csv"), &csv);
    let _ = std::fs::write(o.out.join("table.txt"), &table);
    table
}
