//! One engine of the native backend on one size (square, or `MxNxK`), single- or multi-threaded: the quick
//! probe behind the tuning table's notes (`src/backend/tuning.rs`). The sweep
//! (`tensorblas-bench sweep`) is the full measurement.
//!
//! ```sh
//! cargo run --release --example engine_probe -- SIZE BATCH THREADS ENGINE [s|d|c|z] [avx512|avx2|portable]
//! cargo run --release --example engine_probe -- 64 64 1 packed s avx2
//! cargo run --release --example engine_probe -- 64x64x4096 1 1 packed s
//! ```
use std::time::Instant;
use tensorblas::{CpuBackend, CpuEngine, Handle, Isa, Op, Scalar};

const USAGE: &str = "usage: engine_probe SIZE BATCH THREADS ENGINE [s|d|c|z] [avx512|avx2|portable]
  SIZE: S (S x S x S) or MxNxK; ENGINE: auto, small, packed or gemm-crate;
  prints the best GFLOP/s of 20 samples of >= 50 ms;
  TBLAS_STREAM_C=on|off forces the small kernels' non-temporal C on or off (default: by size)";

fn run<T: Scalar>(h: &Handle, (m, n, k): (usize, usize, usize), batch: usize) -> Result<f64, String> {
    let a: Vec<T> = (0..m * k * batch)
        .map(|i| T::from_c64(tensorblas::Complex64::new((i % 7) as f64 * 0.1, 0.0)))
        .collect();
    let b: Vec<T> = (0..k * n * batch)
        .map(|i| T::from_c64(tensorblas::Complex64::new((i % 5) as f64 * 0.1, 0.0)))
        .collect();
    let mut c = vec![T::zero(); m * n * batch];
    let mut best = f64::MAX;
    for _ in 0..20 {
        let t = Instant::now();
        let mut reps = 0;
        while t.elapsed().as_secs_f64() < 0.05 {
            h.gemm_strided_batched(
                Op::N,
                Op::N,
                m,
                n,
                k,
                T::one(),
                &a,
                m,
                (m * k) as isize,
                &b,
                k,
                (k * n) as isize,
                T::zero(),
                &mut c,
                m,
                (m * n) as isize,
                batch,
            )
            .map_err(|e| e.to_string())?;
            reps += 1;
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    Ok(2.0 * (m * n * k * batch) as f64 / best / 1e9)
}

/// `S` or `MxNxK`.
fn shape(s: &str) -> Option<(usize, usize, usize)> {
    let v: Vec<usize> = s
        .split('x')
        .map(|t| t.parse().ok().filter(|&x| x > 0))
        .collect::<Option<_>>()?;
    match v[..] {
        [s] => Some((s, s, s)),
        [m, n, k] => Some((m, n, k)),
        _ => None,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    type Parsed = ((usize, usize, usize), usize, usize, CpuEngine, String, Option<Isa>);
    let parsed = (|| -> Option<Parsed> {
        let num = |i: usize| args.get(i)?.parse::<usize>().ok().filter(|&v| v > 0);
        let ty = args.get(4).cloned().unwrap_or_else(|| "s".into());
        let isa = match args.get(5) {
            Some(s) => Some(Isa::parse(s)?),
            None => None,
        };
        Some((
            shape(args.first()?)?,
            num(1)?,
            num(2)?,
            CpuEngine::parse(args.get(3)?)?,
            ty,
            isa,
        ))
    })();
    let Some((s, batch, threads, engine, ty, isa)) = parsed.filter(|p| ["s", "d", "c", "z"].contains(&p.4.as_str()))
    else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let result = (|| -> Result<f64, String> {
        match std::env::var("TBLAS_STREAM_C").as_deref() {
            Ok("on") => tensorblas::set_stream_c(Some(true)),
            Ok("off") => tensorblas::set_stream_c(Some(false)),
            _ => {}
        }
        let h = Handle::with_backend(CpuBackend::Native).map_err(|e| e.to_string())?;
        h.set_num_threads(threads);
        h.set_cpu_engine(engine);
        if let Some(isa) = isa {
            h.set_isa(isa).map_err(|e| e.to_string())?;
        }
        match ty.as_str() {
            "s" => run::<f32>(&h, s, batch),
            "d" => run::<f64>(&h, s, batch),
            "c" => run::<tensorblas::Complex32>(&h, s, batch).map(|g| 4.0 * g),
            _ => run::<tensorblas::Complex64>(&h, s, batch).map(|g| 4.0 * g),
        }
    })();
    match result {
        Ok(g) => println!(
            "{ty} {}x{}x{} x {batch}, {threads} threads, {}: {g:.1} GFLOP/s",
            s.0,
            s.1,
            s.2,
            engine.name()
        ),
        Err(e) => {
            eprintln!("engine_probe: {e}");
            std::process::exit(1);
        }
    }
}
