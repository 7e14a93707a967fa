//! Times the three mode Grams of a C-order `I x I x I` tensor (f64, or f32 with `s`) the ways
//! tensorblas can form them: the GEMM `X_(m) X_(m)^T` (`auto` engine and the packed engine
//! forced) and the SYRK (`Handle::syrk_strided_batched_ex`, lower triangle). Mode 1 is `I`
//! accumulated updates of depth `I`. Best of 5 per row; `MODES=02` and `WAYS=syrk` (or `gemm`)
//! restrict the rows.
//!
//! `cargo run --release --example gram_probe [-- I [s|d]]` (default 300 d).
use std::time::Instant;
use tensorblas::{Complex64, CpuEngine, Handle, Op, Scalar, StridedMut, StridedRef, Uplo};

fn run<T: Scalar>(i: usize) -> Result<(), tensorblas::Error> {
    let val = |v: f64| T::from_c64(Complex64::new(v, 0.0));
    let x: Vec<T> = (0..i * i * i)
        .map(|v| val(((v * 7919) % 1000) as f64 / 1000.0 - 0.5))
        .collect();
    let h = Handle::new()?;
    let mut c = vec![T::zero(); i * i];
    let ii = i as isize;
    // (mode, row stride, depth stride, depth, loop count, loop stride)
    let modes = [
        (0usize, ii * ii, 1isize, i * i, 1usize, 0usize),
        (1, ii, 1, i, i, i * i),
        (2, 1, ii, i * i, 1, 0),
    ];
    // MODES=02 and WAYS=syrk (or "gemm") restrict the rows (for `perf record` on one of them).
    let want_modes = std::env::var("MODES").unwrap_or_else(|_| "012".into());
    let ways = std::env::var("WAYS").unwrap_or_default();
    for (mode, rs, ks, k, loops, lstride) in modes {
        if !want_modes.contains(&mode.to_string()) {
            continue;
        }
        for (name, engine, syrk) in [
            ("gemm auto", CpuEngine::Auto, false),
            ("gemm packed", CpuEngine::Packed, false),
            ("syrk", CpuEngine::Auto, true),
        ] {
            if !name.contains(ways.as_str()) {
                continue;
            }
            h.set_cpu_engine(engine);
            let mut best = f64::MAX;
            for _ in 0..5 {
                let t = Instant::now();
                for l in 0..loops {
                    let a = StridedRef::new(&x, l * lstride, rs, ks, 0);
                    let beta = if l == 0 { T::zero() } else { T::one() };
                    let cm = StridedMut::new(&mut c, 0, 1, ii, 0);
                    if syrk {
                        h.syrk_strided_batched_ex(Uplo::Lower, Op::N, i, k, T::one(), a, beta, cm, 1)?;
                    } else {
                        let b = StridedRef::new(&x, l * lstride, ks, rs, 0);
                        h.gemm_strided_batched_ex(Op::N, Op::N, i, i, k, T::one(), a, b, beta, cm, 1)?;
                    }
                }
                best = best.min(t.elapsed().as_secs_f64());
            }
            let flops = 2.0 * (i * i * i * i) as f64 / if syrk { 2.0 } else { 1.0 };
            println!(
                "{:?} mode {mode} {name:<12} {:8.2} ms  {:6.1} GFLOP/s (useful)",
                T::DATATYPE,
                best * 1e3,
                flops / best / 1e9
            );
        }
    }
    Ok(())
}

fn main() -> Result<(), tensorblas::Error> {
    let i: usize = std::env::args().nth(1).map_or(300, |s| s.parse().expect("I"));
    match std::env::args().nth(2).as_deref() {
        Some("s") => run::<f32>(i),
        None | Some("d") => run::<f64>(i),
        Some(t) => panic!("type {t}: s or d"),
    }
}
