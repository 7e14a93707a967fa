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
  ENGINE X,Y alternates the two engines over 40 samples and prints the best and median of each;
  TBLAS_STREAM_C=on|off forces the small kernels' non-temporal C on or off (default: by size),
  TBLAS_PREFETCH=on|off their prefetching of the next block's and entry's lines (default: by size);
  either =ab alternates off and on over 40 samples and prints the best and median of each;
  TBLAS_PROBE_C_BYTE=B places C B bytes past a 64-byte line (default: where the allocator put it);
  TBLAS_PROBE_S0=a|b|ab gives A and/or B batch stride 0 (one operand shared by every entry)";

fn run<T: Scalar>(
    h: &Handle,
    (m, n, k): (usize, usize, usize),
    batch: usize,
    ab: Option<&dyn Fn(bool)>,
) -> Result<Vec<(f64, f64)>, String> {
    let a: Vec<T> = (0..m * k * batch)
        .map(|i| T::from_c64(tensorblas::Complex64::new((i % 7) as f64 * 0.1, 0.0)))
        .collect();
    let b: Vec<T> = (0..k * n * batch)
        .map(|i| T::from_c64(tensorblas::Complex64::new((i % 5) as f64 * 0.1, 0.0)))
        .collect();
    // TBLAS_PROBE_C_BYTE=B: C starts B bytes past a 64-byte line (default: where the allocator put it).
    let mut cbuf = vec![T::zero(); m * n * batch + 64];
    let sz = std::mem::size_of::<T>();
    let skip = match std::env::var("TBLAS_PROBE_C_BYTE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        Some(want) => {
            let at = cbuf.as_ptr() as usize % 64;
            ((want + 64 - at) % 64) / sz
        }
        None => 0,
    };
    let c = &mut cbuf[skip..skip + m * n * batch];
    // Per sample: the seconds per call, and which arm ran it (`ab`: the switch off, on, off, ...).
    let mut times = [Vec::new(), Vec::new()];
    // TBLAS_PROBE_S0=a|b|ab: A and/or B shared by every entry (batch stride 0).
    let s0 = std::env::var("TBLAS_PROBE_S0").unwrap_or_default();
    let sa = if s0.contains('a') { 0 } else { (m * k) as isize };
    let sb = if s0.contains('b') { 0 } else { (k * n) as isize };
    for i in 0..if ab.is_some() { 40 } else { 20 } {
        let arm = if ab.is_some() { i % 2 } else { 0 };
        if let Some(switch) = ab {
            switch(arm == 1);
        }
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
                sa,
                &b,
                k,
                sb,
                T::zero(),
                c,
                m,
                (m * n) as isize,
                batch,
            )
            .map_err(|e| e.to_string())?;
            reps += 1;
        }
        times[arm].push(t.elapsed().as_secs_f64() / reps as f64);
    }
    let flops = 2.0 * (m * n * k * batch) as f64;
    Ok(times
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            (flops / t[0] / 1e9, flops / t[t.len() / 2] / 1e9)
        })
        .collect())
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
    type Parsed = (
        (usize, usize, usize),
        usize,
        usize,
        (CpuEngine, Option<CpuEngine>),
        String,
        Option<Isa>,
    );
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
            match args.get(3)?.split_once(',') {
                Some((x, y)) => (CpuEngine::parse(x)?, Some(CpuEngine::parse(y)?)),
                None => (CpuEngine::parse(args.get(3)?)?, None),
            },
            ty,
            isa,
        ))
    })();
    let Some((s, batch, threads, (engine, other), ty, isa)) =
        parsed.filter(|p| ["s", "d", "c", "z"].contains(&p.4.as_str()))
    else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    // TBLAS_STREAM_C / TBLAS_PREFETCH: on, off, or ab (the one switch the A/B mode alternates;
    // not with two engines).
    let mut ab: Option<fn(Option<bool>)> = None;
    for (var, switch) in [
        ("TBLAS_STREAM_C", tensorblas::set_stream_c as fn(Option<bool>)),
        ("TBLAS_PREFETCH", tensorblas::set_prefetch),
    ] {
        match std::env::var(var).unwrap_or_default().as_str() {
            "on" => switch(Some(true)),
            "off" => switch(Some(false)),
            "ab" if ab.is_none() && other.is_none() => ab = Some(switch),
            "ab" => {
                eprintln!("engine_probe: only one of TBLAS_STREAM_C, TBLAS_PREFETCH and the engines can alternate");
                std::process::exit(2);
            }
            _ => {}
        }
    }
    let result = (|| -> Result<Vec<(f64, f64)>, String> {
        let h = Handle::with_backend(CpuBackend::Native).map_err(|e| e.to_string())?;
        h.set_num_threads(threads);
        h.set_cpu_engine(engine);
        if let Some(isa) = isa {
            h.set_isa(isa).map_err(|e| e.to_string())?;
        }
        // The arm of an A/B sample: the switch off or on, or the first or the second engine.
        let flip = |on: bool| match (ab, other) {
            (Some(switch), _) => switch(Some(on)),
            (None, Some(y)) => h.set_cpu_engine(if on { y } else { engine }),
            (None, None) => {}
        };
        let ab = (ab.is_some() || other.is_some()).then_some(&flip as &dyn Fn(bool));
        // Complex: 4 real flops per complex multiply-add counted as 1 by `run`.
        let scale = |r: Vec<(f64, f64)>, f: f64| r.into_iter().map(|(b, m)| (b * f, m * f)).collect();
        match ty.as_str() {
            "s" => run::<f32>(&h, s, batch, ab),
            "d" => run::<f64>(&h, s, batch, ab),
            "c" => run::<tensorblas::Complex32>(&h, s, batch, ab).map(|g| scale(g, 4.0)),
            _ => run::<tensorblas::Complex64>(&h, s, batch, ab).map(|g| scale(g, 4.0)),
        }
    })();
    let head = format!("{ty} {}x{}x{} x {batch}, {threads} threads", s.0, s.1, s.2);
    match result {
        Ok(g) if g.len() == 2 => {
            // Two arms: two engines, or one engine with the switch off and on.
            let (head, x, y) = match other {
                Some(y) => (head, engine.name(), y.name()),
                None => (format!("{head}, {}", engine.name()), "switch off", "on"),
            };
            println!(
                "{head}: {x} {:.1} (median {:.1}), {y} {:.1} (median {:.1}) GFLOP/s",
                g[0].0, g[0].1, g[1].0, g[1].1
            )
        }
        Ok(g) => println!("{head}, {}: {:.1} GFLOP/s", engine.name(), g[0].0),
        Err(e) => {
            eprintln!("engine_probe: {e}");
            std::process::exit(1);
        }
    }
}
