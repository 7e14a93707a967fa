//! Distributed HOOI (feature `mpi`): the CLI under `mpirun -np 2` and `-np 4` gives the
//! single-process decomposition of the same tensor (per-sweep errors, core and factor subspaces
//! within 1e-10), for a tensor read by rank 0 (C and Fortran order, f64 and f32) and for
//! per-rank slabs (`--slab`), and each rank's bytes per sweep equal the closed form.
//! Without `mpirun` on PATH each test prints `skipping ...` and passes, unless
//! `TBLAS_REQUIRE_MPI=1` (CI sets it), which makes a missing MPI a failure.
#![cfg(feature = "mpi")]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tensorblas::Handle;
use tensorblas_tucker::npy::{self, Dtype};
use tensorblas_tucker::{tucker, Options, TensorView};

// The FFT's MPI tests find mpirun the same way: one helper for both.
#[path = "../../fft/tests/common/mpirun.rs"]
mod mpirun;
use mpirun::mpirun;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tblas-tucker-mpi-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(mut c: Command, ranks: usize, args: &[&str]) -> Output {
    c.args(["-np", &ranks.to_string(), env!("CARGO_BIN_EXE_tensorblas-tucker")])
        .args(args)
        .output()
        .unwrap()
}

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

/// A noisy tensor of multilinear rank `r` (C order), from a seeded generator.
fn tensor(shape: &[usize; 3], r: &[usize; 3], seed: u64) -> Vec<f64> {
    let mut s = seed;
    let mut u = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let f: Vec<Vec<f64>> = (0..3).map(|m| (0..shape[m] * r[m]).map(|_| u()).collect()).collect();
    let g: Vec<f64> = (0..r[0] * r[1] * r[2]).map(|_| u()).collect();
    let mut x = vec![0.0; shape.iter().product()];
    for i in 0..shape[0] {
        for j in 0..shape[1] {
            for k in 0..shape[2] {
                let mut v = 0.0;
                for a in 0..r[0] {
                    for b in 0..r[1] {
                        for c in 0..r[2] {
                            v += g[(a * r[1] + b) * r[2] + c]
                                * f[0][i * r[0] + a]
                                * f[1][j * r[1] + b]
                                * f[2][k * r[2] + c];
                        }
                    }
                }
                x[(i * shape[1] + j) * shape[2] + k] = v + 0.02 * u();
            }
        }
    }
    x
}

/// `(rows, cols, row-major data)` of a 2-D `.npy`.
fn matrix(path: &Path) -> (usize, usize, Vec<f64>) {
    let a = npy::read(path).unwrap();
    let d = if a.dtype == Dtype::F64 {
        a.f64
    } else {
        a.f32.iter().map(|&v| v as f64).collect()
    };
    (a.shape[0], a.shape[1], d)
}

/// Largest entry of `|U Uᵀ − V Vᵀ|` (row-major `n x r` factors): the same subspace.
fn projector_diff(n: usize, r: usize, u: &[f64], v: &[f64]) -> f64 {
    let mut worst = 0.0f64;
    for i in 0..n {
        for j in 0..n {
            let pu: f64 = (0..r).map(|k| u[i * r + k] * u[j * r + k]).sum();
            let pv: f64 = (0..r).map(|k| v[i * r + k] * v[j * r + k]).sum();
            worst = worst.max((pu - pv).abs());
        }
    }
    worst
}

/// Runs the CLI on `np` ranks over `inputs` (one file, or `{rank}` with `--slab`) and checks it
/// against the single-process decomposition of `x` (C order, `shape`).
/// `gram_chunk`: `TBLAS_TUCKER_GRAM_CHUNK_BYTES` for the ranks (the distributed init's Gram of
/// mode 0 in many chunks of uneven widths, where the default takes these small tensors in one);
/// `sweeps`: 0 compares the HOSVD init itself (which the sweeps would mostly correct); `order`:
/// the modes' update order (`--mode-order`; its first mode's init Gram is skipped when sweeps
/// follow, so an order not starting with 0 keeps mode 0's distributed Gram in a run with sweeps).
#[allow(clippy::too_many_arguments)]
fn check(
    test: &str,
    np: usize,
    x: &[f64],
    shape: &[usize; 3],
    ranks: &[usize; 3],
    input: &str,
    slab: bool,
    tol: f64,
    gram_chunk: Option<&str>,
    sweeps: usize,
    order: [usize; 3],
) {
    let Some(mut c) = mpirun(test) else { return };
    if let Some(b) = gram_chunk {
        c.env("TBLAS_TUCKER_GRAM_CHUNK_BYTES", b);
    }
    let d = dir(test);
    let out = d.join("out");
    let rs = format!("{},{},{}", ranks[0], ranks[1], ranks[2]);
    let its = sweeps.to_string();
    let ord = format!("{},{},{}", order[0], order[1], order[2]);
    let mut args = vec![
        input,
        "--ranks",
        &rs,
        "--out",
        p(&out),
        "--n-iter-max",
        &its,
        "--tol",
        "0",
        "--mode-order",
        &ord,
    ];
    if slab {
        args.push("--slab");
    }
    let o = run(c, np, &args);
    assert!(
        o.status.success(),
        "{test}: mpirun failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // The single-process decomposition of the whole tensor.
    let h = Handle::new().unwrap();
    let one = tucker(
        &h,
        &TensorView::c_order(x, shape).unwrap(),
        ranks,
        &Options {
            n_iter_max: sweeps,
            tol: 0.0,
            mode_order: Some(order.to_vec()),
            ..Options::default()
        },
    )
    .unwrap();
    let errs: Vec<f64> = summary["rec_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(errs.len(), one.rec_errors.len(), "{test}");
    for (k, (a, b)) in errs.iter().zip(&one.rec_errors).enumerate() {
        assert!((a - b).abs() <= tol * b.abs(), "{test}: sweep {k}: {a} (mpi) vs {b}");
    }
    for (n, f) in one.tucker.factors.iter().enumerate() {
        let (rows, cols, v) = matrix(&out.join(format!("factor_{n}.npy")));
        assert_eq!((rows, cols), (f.rows, f.cols), "{test}: factor {n}");
        let d = projector_diff(rows, cols, &f.to_row_major(), &v);
        assert!(d <= 1e3 * tol, "{test}: factor {n}: subspaces differ by {d}");
    }
    // ‖core‖ = ‖X‖ sqrt(1 - err²): the core's norm against the single-process one.
    let core = npy::read(&out.join("core.npy")).unwrap();
    assert_eq!(core.shape, ranks.to_vec());
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let cn = if core.dtype == Dtype::F64 {
        norm(&core.f64)
    } else {
        norm(&core.f32.iter().map(|&v| v as f64).collect::<Vec<_>>())
    };
    let on = norm(&one.tucker.core.data);
    assert!((cn - on).abs() <= tol * on, "{test}: core norm {cn} vs {on}");
    // Bytes per sweep: measured == closed form, for every rank.
    let m = &summary["mpi"];
    assert_eq!(m["ranks"].as_u64(), Some(np as u64));
    let elem = if core.dtype == Dtype::F64 { 8 } else { 4 };
    let rows: Vec<u64> = m["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(rows.iter().sum::<u64>(), shape[0] as u64);
    let (i, r) = (shape.map(|e| e as u64), ranks.map(|e| e as u64));
    for (q, &len) in rows.iter().enumerate() {
        let mut e = len * r[1] * r[2] + i[1] * r[0] * r[2] + i[2] * r[0] * r[1];
        if q == 0 {
            e += i[0] * r[0] + i[1] * r[1] + i[2] * r[2];
        }
        if sweeps > 0 {
            assert_eq!(m["bytes_per_sweep"][q].as_u64(), Some(e * elem), "{test}: rank {q}");
        }
        assert_eq!(
            m["bytes_per_sweep_closed_form"][q].as_u64(),
            Some(e * elem),
            "{test}: rank {q}"
        );
    }
    // Every rank's sweep time by phase.
    for k in ["passes", "products", "exchange", "factors"] {
        let v = m["sweep_seconds"][k].as_array().unwrap();
        assert_eq!(v.len(), np, "{test}: {k}");
        assert!(v.iter().all(|t| t.as_f64().unwrap() >= 0.0), "{test}: {k}: {v:?}");
    }
    // The factor updates' eigensolver split over the ranks by the columns of W's unfolding: at
    // these shapes only mode 0's W is solved through its unfolding (`eig::factor_pays`; the
    // other modes' blocks of R + max(R, 8) vectors are too wide for I_n, or their Gram pays), so
    // every rank sends, per iteration, I_0 b_0 f64 of the sum and two of the decision.
    if sweeps > 0 {
        let b0 = r[0] + r[0].max(8);
        let unit = (i[0] * b0 + 2) * 8;
        let first = m["bytes_solver"][0].as_u64().unwrap();
        assert!(
            first > 0 && first.is_multiple_of(unit),
            "{test}: solver bytes {first} against {unit} per iteration"
        );
        for q in 0..np {
            assert_eq!(
                m["bytes_solver"][q].as_u64(),
                Some(first),
                "{test}: solver bytes of rank {q}"
            );
        }
    }
    // Bytes of the init: the norm and finiteness (2 f64), each mode's Gram summed (I_n² f64),
    // for mode 0's Gram each rank's block but for its own share of the depth (the other modes'
    // indices split evenly over the ranks), and rank 0's factors; with sweeps, all but those of
    // the first mode updated (its initial factor is never read).
    let per_row = i[1] * i[2];
    let cut = |p: u64| p * per_row / np as u64;
    let inits: Vec<usize> = (0..3).filter(|&n| sweeps == 0 || n != order[0]).collect();
    for (q, &len) in rows.iter().enumerate() {
        let q = q as u64;
        let mut b = 16 + inits.iter().map(|&n| i[n] * i[n] * 8).sum::<u64>();
        if inits.contains(&0) {
            b += len * (per_row - (cut(q + 1) - cut(q))) * elem;
        }
        if q == 0 {
            b += inits.iter().map(|&n| i[n] * r[n]).sum::<u64>() * elem;
        }
        assert_eq!(
            m["bytes_init"][q as usize].as_u64(),
            Some(b),
            "{test}: init bytes of rank {q}"
        );
    }
}

#[test]
fn distributed_hooi_equals_the_single_process_one() {
    let (shape, ranks) = ([30usize, 26, 22], [4usize, 3, 5]);
    let x = tensor(&shape, &ranks, 7);
    let d = dir("inputs");
    let c = d.join("x.npy");
    npy::write(&c, Dtype::F64, &shape, &x).unwrap();
    // The same tensor in Fortran order (rank 0 converts while scattering).
    let f = d.join("xf.npy");
    let mut xf = vec![0.0; x.len()];
    for i in 0..shape[0] {
        for j in 0..shape[1] {
            for k in 0..shape[2] {
                xf[i + shape[0] * (j + shape[1] * k)] = x[(i * shape[1] + j) * shape[2] + k];
            }
        }
    }
    std::fs::write(&f, npy::to_bytes(Dtype::F64, &shape, true, &xf)).unwrap();
    check("np2_c", 2, &x, &shape, &ranks, p(&c), false, 1e-10, None, 6, [0, 1, 2]);
    check(
        "np3_c_chunks_init",
        3,
        &x,
        &shape,
        &ranks,
        p(&c),
        false,
        1e-10,
        Some("1000"),
        0,
        [0, 1, 2],
    );
    check("np4_c", 4, &x, &shape, &ranks, p(&c), false, 1e-10, None, 6, [0, 1, 2]);
    check(
        "np4_fortran",
        4,
        &x,
        &shape,
        &ranks,
        p(&f),
        false,
        1e-10,
        Some("4096"),
        6,
        [2, 1, 0],
    );
    // Uneven per-rank slabs (17 + 13 rows), read by each rank.
    let rows = shape[1] * shape[2];
    npy::write(
        &d.join("slab0.npy"),
        Dtype::F64,
        &[17, shape[1], shape[2]],
        &x[..17 * rows],
    )
    .unwrap();
    npy::write(
        &d.join("slab1.npy"),
        Dtype::F64,
        &[13, shape[1], shape[2]],
        &x[17 * rows..],
    )
    .unwrap();
    check(
        "np2_slab",
        2,
        &x,
        &shape,
        &ranks,
        p(&d.join("slab{rank}.npy")),
        true,
        1e-10,
        None,
        6,
        [0, 1, 2],
    );
}

#[test]
fn distributed_hooi_in_f32() {
    let (shape, ranks) = ([24usize, 20, 18], [3usize, 4, 2]);
    let x = tensor(&shape, &ranks, 11);
    let d = dir("inputs32");
    let c = d.join("x32.npy");
    npy::write(&c, Dtype::F32, &shape, &x).unwrap();
    // The single-process reference runs in f64 on the f32-rounded tensor: f32 agrees to ~1e-5.
    let x32: Vec<f64> = x.iter().map(|&v| v as f32 as f64).collect();
    check(
        "np2_f32",
        2,
        &x32,
        &shape,
        &ranks,
        p(&c),
        false,
        1e-4,
        Some("2000"),
        6,
        [1, 0, 2],
    );
}

#[test]
fn distributed_errors_are_reported_once() {
    let Some(c) = mpirun("errors") else { return };
    let d = dir("errors");
    let input = d.join("x.npy");
    npy::write(&input, Dtype::F64, &[6, 5, 4], &[1.0; 120]).unwrap();
    let out = d.join("out");
    // Exit status 2 and stderr of a failing run (mpirun started again for each).
    let fails = |c: Command, args: &[&str]| -> String {
        let o = run(c, 2, args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{err}");
        err
    };
    let err = fails(c, &[p(&input), "--ranks", "2,9,2", "--out", p(&out)]);
    assert_eq!(err.matches("rank 9 of mode 1").count(), 1, "{err}");
    let Some(c) = mpirun("errors") else { return };
    let err = fails(c, &[p(&input), "--ranks", "2,2", "--out", p(&out)]);
    assert_eq!(err.matches("2 ranks given for a tensor of order 3").count(), 1, "{err}");
    let Some(c) = mpirun("errors") else { return };
    let err = fails(c, &[p(&d.join("missing.npy")), "--ranks", "2,2,2", "--out", p(&out)]);
    assert!(err.contains("missing.npy"), "{err}");
    assert!(!out.join("summary.json").exists());
}
