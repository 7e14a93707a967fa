//! HOOI against the oracles of docs/tucker.md ("Oracles"): TensorLy fixtures, exact recovery, monotone
//! errors, Eckart–Young, layout invariance, TensorLy's API semantics and edge cases.

use serde_json::Value;
use tensorblas::Handle;
use tensorblas_tucker::{
    c_strides, partial_tucker, relative_error, singular_values, st_hosvd_for_error, tucker, Init, Matrix, Options,
    Solver, TensorView, TuckerError,
};

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn fixtures() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    assert_eq!(v.len(), 5, "the five TensorLy fixtures");
    v.iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// max |a - s*b| over columns, with the sign s per column chosen to match.
fn max_diff_up_to_sign(a: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
    assert_eq!((a.rows, a.cols), (b.rows, b.cols));
    let mut worst = 0.0f64;
    for j in 0..a.cols {
        let d = |s: f64| {
            (0..a.rows)
                .map(|i| (a.at(i, j) - s * b.at(i, j)).abs())
                .fold(0.0, f64::max)
        };
        worst = worst.max(d(1.0).min(d(-1.0)));
    }
    worst
}

fn orthonormality_error(u: &Matrix<f64>) -> f64 {
    let mut worst = 0.0f64;
    for p in 0..u.cols {
        for q in 0..u.cols {
            let dot: f64 = (0..u.rows).map(|i| u.at(i, p) * u.at(i, q)).sum();
            worst = worst.max((dot - if p == q { 1.0 } else { 0.0 }).abs());
        }
    }
    worst
}

#[test]
fn agrees_with_tensorly_fixtures() {
    let h = Handle::new().unwrap();
    for fx in fixtures() {
        let name = fx["name"].as_str().unwrap().to_string();
        let shape = usizes(&fx["shape"]);
        let ranks = usizes(&fx["ranks"]);
        let x = f64s(&fx["x"]);
        let n_iter = fx["n_iter"].as_u64().unwrap() as usize;
        let xv = TensorView::c_order(&x, &shape).unwrap();
        // HOSVD init (n_iter_max = 0 returns the initial factors) = TensorLy's init factors.
        let init = tucker(
            &h,
            &xv,
            &ranks,
            &Options {
                n_iter_max: 0,
                tol: 0.0,
                ..Options::default()
            },
        )
        .unwrap();
        for (n, f) in init.tucker.factors.iter().enumerate() {
            let want = Matrix::from_row_major(shape[n], ranks[n], &f64s(&fx["init_factors"][n])).unwrap();
            let d = max_diff_up_to_sign(f, &want);
            assert!(d <= 1e-9, "{name}: init factor {n} differs by {d:e}");
        }
        let res = tucker(
            &h,
            &xv,
            &ranks,
            &Options {
                n_iter_max: n_iter,
                tol: 0.0,
                // The default is TensorLy's Gauss–Seidel order (ascending modes): the per-sweep
                // history depends on the order until convergence.
                ..Options::default()
            },
        )
        .unwrap();
        let tl = &fx["tensorly"];
        let want_errs = f64s(&tl["rec_errors"]);
        assert_eq!(
            res.rec_errors.len(),
            want_errs.len(),
            "{name}: tol = 0 runs n_iter_max sweeps"
        );
        // The sqrt(|‖X‖²−‖G‖²|) history of a noiseless tensor sits at the sqrt(eps) floor, where
        // two correct implementations differ by ~1e-8 (docs/tucker.md, "Oracles"): compare it loosely there.
        let noiseless = fx["noise"].as_f64().unwrap() == 0.0;
        let tol_err = if noiseless { 1e-7 } else { 1e-10 };
        for (k, (a, b)) in res.rec_errors.iter().zip(&want_errs).enumerate() {
            assert!((a - b).abs() <= tol_err, "{name}: rec_errors[{k}] {a} vs TensorLy {b}");
        }
        let explicit = relative_error(&h, &xv, &res.tucker, &(0..shape.len()).collect::<Vec<_>>()).unwrap();
        let want_explicit = tl["explicit_rel_err"].as_f64().unwrap();
        assert!(
            (explicit - want_explicit).abs() <= 1e-10,
            "{name}: explicit error {explicit} vs {want_explicit}"
        );
        for (n, f) in res.tucker.factors.iter().enumerate() {
            let want = Matrix::from_row_major(shape[n], ranks[n], &f64s(&tl["factors"][n])).unwrap();
            let d = max_diff_up_to_sign(f, &want);
            assert!(
                d <= 1e-9,
                "{name}: factor {n} differs from TensorLy's by {d:e} (up to sign)"
            );
            assert!(orthonormality_error(f) <= 1e-13 * (shape[n] as f64).sqrt() * 10.0);
        }
        assert_eq!(res.tucker.core.shape, ranks);
        // Errors never increase (up to rounding; the noiseless history is at the sqrt(eps) floor).
        for w in res.rec_errors.windows(2).filter(|_| !noiseless) {
            assert!(w[1] <= w[0] + 1e-12, "{name}: rec_errors increased: {w:?}");
        }
        if shape.len() == 2 {
            // Eckart–Young: the best rank-R error of a matrix.
            let mut colmajor = vec![0.0; x.len()];
            for i in 0..shape[0] {
                for j in 0..shape[1] {
                    colmajor[i + j * shape[0]] = x[i * shape[1] + j];
                }
            }
            let s = singular_values(&colmajor, shape[0], shape[1]).unwrap();
            let tail: f64 = s[ranks[0]..].iter().map(|v| v * v).sum();
            let total: f64 = s.iter().map(|v| v * v).sum();
            let bound = (tail / total).sqrt();
            assert!(
                (explicit - bound).abs() <= 1e-12,
                "{name}: {explicit} vs Eckart–Young {bound}"
            );
        }
    }
}

/// A deterministic pseudo-random generator (tests only).
struct Lcg(u64);
impl Lcg {
    fn normalish(&mut self) -> f64 {
        // Sum of uniforms: bell-shaped, enough for test data.
        (0..4)
            .map(|_| {
                self.0 = self
                    .0
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .sum()
    }
}

/// An orthonormal `n x r` matrix (Gram–Schmidt of random columns).
fn orthonormal(g: &mut Lcg, n: usize, r: usize) -> Matrix<f64> {
    let mut d = vec![0.0; n * r];
    for j in 0..r {
        let mut c: Vec<f64> = (0..n).map(|_| g.normalish()).collect();
        for _ in 0..2 {
            for p in 0..j {
                let dot: f64 = (0..n).map(|i| c[i] * d[i + p * n]).sum();
                for i in 0..n {
                    c[i] -= dot * d[i + p * n];
                }
            }
        }
        let norm = c.iter().map(|v| v * v).sum::<f64>().sqrt();
        for i in 0..n {
            d[i + j * n] = c[i] / norm;
        }
    }
    Matrix::from_col_major(n, r, d).unwrap()
}

/// `[[G; U]]` for a random core and orthonormal factors, C order.
fn low_rank(seed: u64, shape: &[usize], ranks: &[usize]) -> Vec<f64> {
    let h = Handle::new().unwrap();
    let mut g = Lcg(seed);
    let core: Vec<f64> = (0..ranks.iter().product::<usize>()).map(|_| g.normalish()).collect();
    let factors: Vec<Matrix<f64>> = shape
        .iter()
        .zip(ranks)
        .map(|(&n, &r)| orthonormal(&mut g, n, r))
        .collect();
    let t = tensorblas_tucker::TuckerTensor {
        core: tensorblas_tucker::Tensor {
            shape: ranks.to_vec(),
            data: core,
        },
        factors,
    };
    tensorblas_tucker::tucker_to_tensor(&h, &t, &(0..shape.len()).collect::<Vec<_>>())
        .unwrap()
        .data
}

#[test]
fn exact_recovery_of_noiseless_low_rank_tensors() {
    let h = Handle::new().unwrap();
    for (shape, ranks) in [
        (vec![20usize, 18, 16], vec![4usize, 3, 5]),
        (vec![9, 8, 7, 6], vec![3, 2, 2, 3]),
        (vec![6, 5, 4, 3, 4], vec![2, 2, 2, 2, 2]),
        (vec![12, 1, 10], vec![3, 1, 2]),
    ] {
        let x = low_rank(7, &shape, &ranks);
        let xv = TensorView::c_order(&x, &shape).unwrap();
        let modes: Vec<usize> = (0..shape.len()).collect();
        for init in [Init::Svd, Init::StHosvd] {
            let res = tucker(
                &h,
                &xv,
                &ranks,
                &Options {
                    n_iter_max: 2,
                    tol: 0.0,
                    init,
                    ..Options::default()
                },
            )
            .unwrap();
            let e = relative_error(&h, &xv, &res.tucker, &modes).unwrap();
            assert!(e <= 1e-12, "{shape:?} {ranks:?}: explicit error {e:e}");
        }
        // f32 too, at f32 accuracy.
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let xv32 = TensorView::c_order(&x32, &shape).unwrap();
        let res = tucker(
            &h,
            &xv32,
            &ranks,
            &Options {
                n_iter_max: 2,
                tol: 0.0,
                ..Options::default()
            },
        )
        .unwrap();
        let e = relative_error(&h, &xv32, &res.tucker, &modes).unwrap();
        assert!(e <= 1e-5, "f32 {shape:?}: {e:e}");
    }
}

#[test]
fn random_init_and_svd_solver_reach_the_same_fit() {
    let h = Handle::new().unwrap();
    let (shape, ranks) = ([15usize, 14, 13], [3usize, 4, 2]);
    let mut x = low_rank(3, &shape, &ranks);
    let mut g = Lcg(99);
    let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
    let noise: Vec<f64> = (0..x.len()).map(|_| g.normalish()).collect();
    let nn = noise.iter().map(|v| v * v).sum::<f64>().sqrt();
    for (v, e) in x.iter_mut().zip(&noise) {
        *v += 0.1 * norm * e / nn;
    }
    let xv = TensorView::c_order(&x, &shape).unwrap();
    let run = |init: Init<f64>, solver: Solver| {
        tucker(
            &h,
            &xv,
            &ranks,
            &Options {
                n_iter_max: 30,
                tol: 0.0,
                init,
                solver,
                ..Options::default()
            },
        )
        .unwrap()
    };
    let base = run(Init::Svd, Solver::GramEigh);
    for (init, solver) in [
        (Init::Random { seed: 5 }, Solver::GramEigh),
        (Init::Svd, Solver::Svd),
        (Init::StHosvd, Solver::GramEigh),
    ] {
        let r = run(init, solver);
        let (a, b) = (*r.rec_errors.last().unwrap(), *base.rec_errors.last().unwrap());
        assert!((a - b).abs() <= 1e-8, "{solver:?}: {a} vs {b}");
        for w in r.rec_errors.windows(2) {
            assert!(w[1] <= w[0] + 1e-12, "errors increased: {w:?}");
        }
    }
}

#[test]
fn layout_invariance() {
    let h = Handle::new().unwrap();
    let shape = [7usize, 6, 5];
    let ranks = [3usize, 2, 4];
    let x = low_rank(11, &shape, &ranks);
    let mut g = Lcg(5);
    let x: Vec<f64> = x.iter().map(|v| v + 0.05 * g.normalish()).collect();
    let opts = Options {
        n_iter_max: 5,
        tol: 0.0,
        ..Options::default()
    };
    let c = tucker(&h, &TensorView::c_order(&x, &shape).unwrap(), &ranks, &opts).unwrap();
    // Fortran order: the same tensor stored column-major.
    let mut xf = vec![0.0; x.len()];
    let cs = c_strides(&shape);
    let fs = tensorblas_tucker::f_strides(&shape);
    for i in 0..shape[0] {
        for j in 0..shape[1] {
            for k in 0..shape[2] {
                xf[i * fs[0] + j * fs[1] + k * fs[2]] = x[i * cs[0] + j * cs[1] + k * cs[2]];
            }
        }
    }
    let f = tucker(&h, &TensorView::f_order(&xf, &shape).unwrap(), &ranks, &opts).unwrap();
    // A permuted view of a bigger, padded buffer: strides (2, 7*6*2+1, ...).
    let strides = [1usize, 9, 9 * 6 + 3];
    let mut xp = vec![f64::NAN; strides[2] * shape[2]];
    for i in 0..shape[0] {
        for j in 0..shape[1] {
            for k in 0..shape[2] {
                xp[i * strides[0] + j * strides[1] + k * strides[2]] = x[i * cs[0] + j * cs[1] + k * cs[2]];
            }
        }
    }
    let p = tucker(&h, &TensorView::strided(&xp, &shape, &strides).unwrap(), &ranks, &opts).unwrap();
    for other in [&f, &p] {
        for (a, b) in other.rec_errors.iter().zip(&c.rec_errors) {
            assert!((a - b).abs() <= 1e-13, "{a} vs {b}");
        }
        for (u, v) in other.tucker.factors.iter().zip(&c.tucker.factors) {
            assert!(max_diff_up_to_sign(u, v) <= 1e-10);
        }
    }
}

#[test]
fn tensorly_api_semantics() {
    let h = Handle::new().unwrap();
    let shape = [10usize, 9, 8];
    let ranks = [3usize, 3, 2];
    let x = low_rank(21, &shape, &ranks);
    let mut g = Lcg(1);
    let x: Vec<f64> = x.iter().map(|v| v + 0.01 * g.normalish()).collect();
    let xv = TensorView::c_order(&x, &shape).unwrap();
    // tol = 0: exactly n_iter_max sweeps; default tol stops no earlier than sweep 3.
    let r = tucker(
        &h,
        &xv,
        &ranks,
        &Options {
            n_iter_max: 7,
            tol: 0.0,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!((r.n_iter, r.converged), (7, false));
    let r = tucker(&h, &xv, &ranks, &Options::default()).unwrap();
    assert!(r.n_iter >= 3 && r.converged, "{} sweeps", r.n_iter);
    // fixed_factors: given factors come back bit-identical; needs a factor init.
    let fixed = orthonormal(&mut g, 9, 3);
    let init_f = vec![orthonormal(&mut g, 10, 3), fixed.clone(), orthonormal(&mut g, 8, 2)];
    let r = tucker(
        &h,
        &xv,
        &ranks,
        &Options {
            n_iter_max: 4,
            tol: 0.0,
            init: Init::Factors(init_f),
            fixed_factors: vec![1],
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(r.tucker.factors[1], fixed);
    let e = tucker(
        &h,
        &xv,
        &ranks,
        &Options {
            fixed_factors: vec![1],
            ..Options::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, TuckerError::Options(_)), "{e}");
    // partial_tucker: mode 1 stays at full size.
    let r = partial_tucker(
        &h,
        &xv,
        &[3, 2],
        &[0, 2],
        &Options {
            n_iter_max: 3,
            tol: 0.0,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(r.tucker.core.shape, vec![3, 9, 2]);
    assert_eq!(r.tucker.factors.len(), 2);
    let e = relative_error(&h, &xv, &r.tucker, &[0, 2]).unwrap();
    assert!(
        (e - r.rec_errors.last().unwrap()).abs() <= 1e-7,
        "{e} vs {:?}",
        r.rec_errors
    );
    // Errors.
    for (ranks, what) in [
        (vec![3usize, 3], "rank count"),
        (vec![0, 3, 2], "rank 0"),
        (vec![11, 3, 2], "rank > dimension"),
    ] {
        let e = tucker(&h, &xv, &ranks, &Options::default()).unwrap_err();
        assert!(matches!(e, TuckerError::Rank(_)), "{what}: {e}");
    }
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut bad = x.clone();
        bad[5] = v;
        let e = tucker(
            &h,
            &TensorView::c_order(&bad, &shape).unwrap(),
            &ranks,
            &Options::default(),
        )
        .unwrap_err();
        assert!(matches!(e, TuckerError::NonFinite), "{v}: {e}");
    }
    // Finite values whose squares overflow are not refused as non-finite (the norm's second
    // look at the elements finds them all finite).
    let mut huge = x.clone();
    huge[5] = 1e300;
    let r = tucker(
        &h,
        &TensorView::c_order(&huge, &shape).unwrap(),
        &ranks,
        &Options::default(),
    );
    assert!(!matches!(r, Err(TuckerError::NonFinite)));
}

#[test]
fn edge_cases() {
    let h = Handle::new().unwrap();
    let opts = Options {
        n_iter_max: 3,
        tol: 0.0,
        ..Options::default()
    };
    // Rank = dimension everywhere: exact.
    let shape = [4usize, 3, 5];
    let mut g = Lcg(8);
    let x: Vec<f64> = (0..60).map(|_| g.normalish()).collect();
    let xv = TensorView::c_order(&x, &shape).unwrap();
    let r = tucker(&h, &xv, &shape, &opts).unwrap();
    assert!(relative_error(&h, &xv, &r.tucker, &[0, 1, 2]).unwrap() <= 1e-13);
    // Rank 1.
    let r = tucker(&h, &xv, &[1, 1, 1], &opts).unwrap();
    assert_eq!(r.tucker.core.data.len(), 1);
    let e = relative_error(&h, &xv, &r.tucker, &[0, 1, 2]).unwrap();
    assert!((e - r.rec_errors.last().unwrap()).abs() <= 1e-9);
    // All-zero tensor: errors 0, no NaN.
    let z = vec![0.0f64; 60];
    let r = tucker(&h, &TensorView::c_order(&z, &shape).unwrap(), &[2, 2, 2], &opts).unwrap();
    assert!(r.rec_errors.iter().all(|&e| e == 0.0));
    assert!(r.tucker.factors.iter().all(|f| f.data.iter().all(|v| v.is_finite())));
    // Order 1 is rejected.
    let e = tucker(&h, &TensorView::c_order(&x[..4], &[4]).unwrap(), &[2], &opts).unwrap_err();
    assert!(matches!(e, TuckerError::Shape(_)));
}

/// `st_hosvd_for_error` (TuckerMPI's rank selection): the true multilinear ranks of a
/// low-rank tensor under tiny noise, the error bound on a full-rank tensor, the smallest first
/// rank against the singular values of the unfolding (an independent oracle), HOOI refinement
/// that never raises the error, and refusal of a bad target.
#[test]
fn target_error_chooses_ranks() {
    let h = Handle::new().unwrap();
    let modes = |n: usize| (0..n).collect::<Vec<usize>>();
    // Low rank + noise 1e-9 of its size: eps = 1e-6 finds the ranks.
    for (shape, ranks) in [
        (vec![20usize, 18, 16], vec![4usize, 3, 5]),
        (vec![9, 8, 7, 6], vec![3, 2, 2, 3]),
    ] {
        let mut x = low_rank(11, &shape, &ranks);
        let scale = (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt();
        let mut g = Lcg(5);
        x.iter_mut().for_each(|v| *v += 1e-9 * scale * g.normalish());
        let xv = TensorView::c_order(&x, &shape).unwrap();
        let (got, t) = st_hosvd_for_error(&h, &xv, 1e-6).unwrap();
        assert_eq!(got, ranks, "{shape:?}");
        let e = relative_error(&h, &xv, &t, &modes(shape.len())).unwrap();
        assert!(e <= 1e-6, "{shape:?}: error {e:e}");
    }
    // A full-rank tensor: the bound holds, ranks shrink as eps grows, eps = 0 keeps everything.
    let shape = [12usize, 10, 8];
    let mut g = Lcg(3);
    let x: Vec<f64> = (0..shape.iter().product::<usize>()).map(|_| g.normalish()).collect();
    let xv = TensorView::c_order(&x, &shape).unwrap();
    assert_eq!(st_hosvd_for_error(&h, &xv, 0.0).unwrap().0, shape.to_vec());
    let norm2: f64 = x.iter().map(|v| v * v).sum();
    let mut prev = shape.to_vec();
    for eps in [0.05, 0.2, 0.5, 0.8] {
        let (ranks, t) = st_hosvd_for_error(&h, &xv, eps).unwrap();
        let e = relative_error(&h, &xv, &t, &modes(3)).unwrap();
        assert!(e <= eps, "eps {eps}: error {e}");
        assert!(
            ranks.iter().zip(&prev).all(|(r, p)| r <= p),
            "eps {eps}: {ranks:?} after {prev:?}"
        );
        // Mode 0 sees X itself: its rank is the smallest whose discarded squared singular values
        // of the unfolding X_(0) (12 x 80, column-major from C order) fit eps² ‖X‖² / 3.
        let rest = 80;
        let mut u = vec![0.0; 12 * rest];
        for i in 0..12 {
            for c in 0..rest {
                u[i + c * 12] = x[i * rest + c];
            }
        }
        let s = singular_values(&u, 12, rest).unwrap();
        let budget = eps * eps * norm2 / 3.0;
        let tail = |r: usize| s[r..].iter().map(|v| v * v).sum::<f64>();
        let r0 = ranks[0];
        assert!(
            tail(r0) <= budget * (1.0 + 1e-12),
            "eps {eps}: rank {r0} leaves {}",
            tail(r0)
        );
        assert!(r0 == 1 || tail(r0 - 1) > budget, "eps {eps}: rank {} would do", r0 - 1);
        // HOOI from this ST-HOSVD keeps or lowers the error.
        let res = tucker(
            &h,
            &xv,
            &ranks,
            &Options {
                n_iter_max: 5,
                tol: 0.0,
                init: Init::Tucker(t),
                ..Options::default()
            },
        )
        .unwrap();
        let e2 = relative_error(&h, &xv, &res.tucker, &modes(3)).unwrap();
        assert!(e2 <= e + 1e-12, "eps {eps}: HOOI {e2} > ST-HOSVD {e}");
        prev = ranks;
    }
    assert!(prev.iter().any(|&r| r < 8), "eps 0.8 truncated nothing: {prev:?}");
    for bad in [-0.1, f64::NAN, f64::INFINITY] {
        match st_hosvd_for_error(&h, &xv, bad) {
            Err(TuckerError::Options(msg)) => assert!(msg.contains("target error"), "{msg}"),
            other => panic!("eps {bad}: {:?}", other.map(|r| r.0)),
        }
    }
}

/// `‖U Uᵀ − V Vᵀ‖_max`: whether two orthonormal factors span the same subspace.
fn projector_diff(u: &Matrix<f64>, v: &Matrix<f64>) -> f64 {
    let mut worst = 0.0f64;
    for i in 0..u.rows {
        for j in 0..u.rows {
            let pu: f64 = (0..u.cols).map(|k| u.at(i, k) * u.at(j, k)).sum();
            let pv: f64 = (0..v.cols).map(|k| v.at(i, k) * v.at(j, k)).sum();
            worst = worst.max((pu - pv).abs());
        }
    }
    worst
}

#[test]
fn subspace_solver_matches_the_dense_one() {
    // The default solver (subspace iteration from the previous factor, dense fallback) against
    // the dense eigensolver: per-sweep errors within 1e-10, the same factor subspaces. Noisy
    // low-rank tensors (a clear gap below each rank: the subspace path runs), and tensors that
    // are mostly noise (small gaps: the fallback decides).
    let h = Handle::new().unwrap();
    let cases: [(u64, &[usize], &[usize], f64); 4] = [
        (31, &[40, 36, 30], &[5, 4, 3], 0.02),
        (32, &[34, 30, 28, 26], &[3, 2, 2, 3], 0.05),
        (33, &[60, 50, 4], &[12, 9, 2], 0.01),
        (34, &[40, 36, 30], &[5, 4, 3], 5.0),
    ];
    for (seed, shape, ranks, noise) in cases {
        let mut x = low_rank(seed, shape, ranks);
        let scale = (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt();
        let mut g = Lcg(seed + 100);
        x.iter_mut().for_each(|v| *v += noise * scale * g.normalish());
        let xv = TensorView::c_order(&x, shape).unwrap();
        let run = |solver| {
            tucker(
                &h,
                &xv,
                ranks,
                &Options {
                    n_iter_max: 12,
                    tol: 0.0,
                    solver,
                    ..Options::default()
                },
            )
            .unwrap()
        };
        let (dense, sub) = (run(Solver::GramEigh), run(Solver::GramSubspace));
        assert_eq!(dense.rec_errors.len(), sub.rec_errors.len());
        for (k, (a, b)) in dense.rec_errors.iter().zip(&sub.rec_errors).enumerate() {
            assert!((a - b).abs() <= 1e-10, "{shape:?} noise {noise}: sweep {k}: {a} vs {b}");
        }
        if noise < 1.0 {
            for (n, (u, v)) in dense.tucker.factors.iter().zip(&sub.tucker.factors).enumerate() {
                let d = projector_diff(u, v);
                assert!(d <= 1e-9, "{shape:?}: factor {n} subspaces differ by {d}");
                assert!(orthonormality_error(v) <= 1e-12);
            }
        }
    }
}
