//! A strided-batched GEMM end to end: build a batch, run it on every compiled CPU backend,
//! check it against the reference backend, print a result and the timing.
//!
//! `cargo run --release --example strided_batched [-- M N K BATCH]` (default 16 16 16 20000).

use std::time::Instant;
use tensorblas::{CpuBackend, Handle, Op};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("usage: strided_batched [M N K BATCH] (positive integers): {e}"))?;
    let (m, n, k, batch) = match args[..] {
        [] => (16, 16, 16, 20_000),
        [m, n, k, b] => (m, n, k, b),
        _ => return Err("usage: strided_batched [M N K BATCH]".into()),
    };
    // Deterministic data: A[p](i, l) and B[p](l, j) from a small LCG.
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) as f32
    };
    let a: Vec<f32> = (0..m * k * batch).map(|_| next()).collect();
    let b: Vec<f32> = (0..k * n * batch).map(|_| next()).collect();
    let (sa, sb, sc) = ((m * k) as isize, (k * n) as isize, (m * n) as isize);

    // The oracle on a prefix of the batch (the reference backend is slow by design).
    let check = batch.min(64);
    let mut want = vec![0f32; m * n * check];
    Handle::with_backend(CpuBackend::Reference)?.gemm_strided_batched(
        Op::N,
        Op::N,
        m,
        n,
        k,
        1.0,
        &a,
        m,
        sa,
        &b,
        k,
        sb,
        0.0,
        &mut want,
        m,
        sc,
        check,
    )?;

    println!("C[p] = A[p] * B[p], f32, m = {m}, n = {n}, k = {k}, batch = {batch}");
    let flops = 2.0 * (m * n * k * batch) as f64;
    for backend in CpuBackend::all_available() {
        if backend == CpuBackend::Reference {
            continue;
        }
        let h = Handle::with_backend(backend)?;
        let mut c = vec![0f32; m * n * batch];
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            h.gemm_strided_batched(
                Op::N,
                Op::N,
                m,
                n,
                k,
                1.0,
                &a,
                m,
                sa,
                &b,
                k,
                sb,
                0.0,
                &mut c,
                m,
                sc,
                batch,
            )?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        let err = c.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        println!(
            "{:>9}: {} threads, best of 5 {:8.3} ms = {:7.1} GFLOP/s; C[0](0,0) = {:+.6}; max |C - reference| on {check} entries = {err:.1e}",
            backend.name(),
            h.num_threads(),
            best * 1e3,
            flops / best / 1e9,
            c[0],
        );
        if err > 1e-4 * k as f32 {
            return Err(format!("{backend} disagrees with the reference backend").into());
        }
    }
    Ok(())
}
