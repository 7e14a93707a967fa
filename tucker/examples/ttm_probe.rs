//! The three mode products of HOOI on a C-order `I x I x I` tensor with an `I x R` factor
//! (`X ×_m Uᵀ`, one tensorblas contraction each), f32 and f64: the probe behind the tuning
//! table's `SLAB_STREAM_BYTES` and Tucker's choice of which mode to contract first.
//!
//! ```sh
//! cargo run --release -p tensorblas-tucker --example ttm_probe -- I R
//! ENG=small cargo run --release -p tensorblas-tucker --example ttm_probe -- 300 20  # small|packed|gemm
//! ```
//! Prints the best of 10 calls (`REPS`) per mode, in ms and GFLOP/s; `MODES=02` and `TY=s|d`
//! restrict the modes and types (for `perf record` on one product), `SHAPE=300,20,300` takes a
//! tensor of that shape instead of `I^3` (HOOI's half-contracted tensors).
use std::time::Instant;
use tensorblas::{Complex64, CpuEngine, Handle, Scalar, Shape, TensorMut, TensorRef};

fn run<T: Scalar>(h: &Handle, i: usize, r: usize) -> Result<(), String> {
    let val = |v: f64| T::from_c64(Complex64::new(v, 0.0));
    // SHAPE=a,b,c: a non-cubic tensor (e.g. a half-contracted one, 300,20,300).
    let shape: [usize; 3] = match std::env::var("SHAPE") {
        Ok(v) => {
            let e: Vec<usize> = v.split(',').filter_map(|t| t.trim().parse().ok()).collect();
            e.try_into().map_err(|_| format!("SHAPE={v}: three extents"))?
        }
        Err(_) => [i, i, i],
    };
    let len: usize = shape.iter().product();
    let x: Vec<T> = (0..len).map(|o| val(((o * 7919) % 1000) as f64 * 1e-3 - 0.5)).collect();
    let umax = shape.iter().max().copied().unwrap_or(i);
    let u: Vec<T> = (0..umax * r).map(|o| val(((o * 31) % 97) as f64 * 1e-2)).collect();
    let modes = std::env::var("MODES").unwrap_or_else(|_| "012".into());
    let reps: usize = std::env::var("REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    for mode in (0..3).filter(|m| modes.contains(&m.to_string())) {
        let mut ys = shape;
        ys[mode] = r;
        let mut y = vec![T::zero(); ys.iter().product()];
        let mut ym = [0i32, 1, 2];
        ym[mode] = 3;
        let mut best = f64::MAX;
        for _ in 0..reps {
            let t = Instant::now();
            h.contract(
                T::one(),
                &TensorRef::new(&x, Shape::row_major(&shape)),
                &[0, 1, 2],
                &TensorRef::new(&u[..shape[mode] * r], Shape::col_major(&[shape[mode], r])),
                &[mode as i32, 3],
                T::zero(),
                &mut TensorMut::new(&mut y, Shape::row_major(&ys)),
                &ym,
            )
            .map_err(|e| e.to_string())?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        let gflops = 2.0 * (len * r) as f64 / best / 1e9;
        println!(
            "{:?} {shape:?} mode {mode}: {:.3} ms {gflops:.1} GFLOP/s",
            T::DATATYPE,
            best * 1e3
        );
    }
    Ok(())
}

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
    let [i, r] = a[..] else {
        eprintln!("usage: ttm_probe I R   (ENG=auto|small|packed|gemm)");
        std::process::exit(2);
    };
    let h = Handle::new().expect("handle");
    h.set_cpu_engine(match std::env::var("ENG").unwrap_or_default().as_str() {
        "small" => CpuEngine::Small,
        "packed" => CpuEngine::Packed,
        "gemm" => CpuEngine::GemmCrate,
        _ => CpuEngine::Auto,
    });
    let ty = std::env::var("TY").unwrap_or_else(|_| "sd".into());
    let res = (if ty.contains('s') { run::<f32>(&h, i, r) } else { Ok(()) }).and_then(|_| {
        if ty.contains('d') {
            run::<f64>(&h, i, r)
        } else {
            Ok(())
        }
    });
    if let Err(e) = res {
        eprintln!("ttm_probe: {e}");
        std::process::exit(1);
    }
}
