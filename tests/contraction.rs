//! The contraction layer against an einsum-by-loops oracle: the 36 single-index cases of
//! `contraction-cases.txt` with their plans, random contractions up to order 6, and every error.

mod common;

use common::{rand_val, rand_vec, rng, sentinel};
use num_complex::Complex64;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::HashMap;
use tensorblas::{Complex32, CpuBackend, Handle, PlanKind, Scalar, Shape, TensorMut, TensorRef};

/// One tensor for the oracle: labels, extents, strides.
#[derive(Clone, Debug)]
struct T3 {
    labels: Vec<i32>,
    ext: Vec<usize>,
    st: Vec<usize>,
}

impl T3 {
    fn span(&self) -> usize {
        if self.ext.contains(&0) {
            return 0;
        }
        self.ext.iter().zip(&self.st).map(|(e, s)| (e - 1) * s).sum::<usize>() + 1
    }
    fn shape(&self) -> Shape {
        Shape::strided(&self.ext, &self.st)
    }
}

/// Expected C (every element; unaddressed ones copied) and the per-element gauge
/// `|alpha| sum |a||b| + |beta||c|`, by looping over every index of every distinct mode.
fn oracle<T: Scalar>(
    alpha: T,
    a: (&T3, &[T]),
    b: (&T3, &[T]),
    beta: T,
    c: (&T3, &[T]),
) -> (Vec<Complex64>, Vec<f64>, Vec<bool>) {
    let mut labels: Vec<(i32, usize)> = Vec::new();
    for t in [a.0, b.0, c.0] {
        for (l, e) in t.labels.iter().zip(&t.ext) {
            if !labels.iter().any(|x| x.0 == *l) {
                labels.push((*l, *e));
            }
        }
    }
    let pos: HashMap<i32, usize> = labels.iter().enumerate().map(|(i, x)| (x.0, i)).collect();
    let off = |t: &T3, idx: &[usize]| -> usize { t.labels.iter().zip(&t.st).map(|(l, s)| idx[pos[l]] * s).sum() };
    let n = c.1.len();
    let mut acc = vec![Complex64::new(0.0, 0.0); n];
    let mut g = vec![0.0f64; n];
    let mut addressed = vec![false; n];
    let total: usize = labels.iter().map(|x| x.1).product();
    let mut idx = vec![0usize; labels.len()];
    for _ in 0..total {
        let co = off(c.0, &idx);
        addressed[co] = true;
        let av = a.1[off(a.0, &idx)].to_c64();
        let bv = b.1[off(b.0, &idx)].to_c64();
        acc[co] += av * bv;
        g[co] += av.norm() * bv.norm();
        for d in 0..idx.len() {
            idx[d] += 1;
            if idx[d] < labels[d].1 {
                break;
            }
            idx[d] = 0;
        }
    }
    // C elements whose summed range is empty are still addressed (C = beta*C).
    if !c.0.ext.contains(&0) {
        let ct: usize = c.0.ext.iter().product();
        let mut ci = vec![0usize; c.0.ext.len()];
        for _ in 0..ct {
            let o: usize = ci.iter().zip(&c.0.st).map(|(i, s)| i * s).sum();
            addressed[o] = true;
            for (x, e) in ci.iter_mut().zip(&c.0.ext) {
                *x += 1;
                if *x < *e {
                    break;
                }
                *x = 0;
            }
        }
    }
    let (al, be) = (alpha.to_c64(), beta.to_c64());
    let mut out: Vec<Complex64> = c.1.iter().map(|v| v.to_c64()).collect();
    let mut gauge = vec![0.0; n];
    for i in 0..n {
        if addressed[i] {
            let old = c.1[i].to_c64();
            let bc = if beta.is_zero() {
                Complex64::new(0.0, 0.0)
            } else {
                be * old
            };
            out[i] = al * acc[i] + bc;
            gauge[i] = al.norm() * g[i] + if beta.is_zero() { 0.0 } else { be.norm() * old.norm() };
        }
    }
    (out, gauge, addressed)
}

#[derive(Clone, Copy)]
enum Via {
    Einsum,
    Contract,
}

/// Runs one contraction through the library and checks it against the oracle, with guard cells
/// around C, NaN-filled C when beta == 0, and A and B bit-identical afterwards.
#[allow(clippy::too_many_arguments)]
fn run_check<T: Scalar>(
    h: &Handle,
    what: &str,
    via: Via,
    alpha: T,
    ta: &T3,
    tb: &T3,
    beta: T,
    tc: &T3,
    r: &mut SmallRng,
) {
    let pad = 3;
    let a = rand_vec::<T>(r, ta.span() + pad);
    let b = rand_vec::<T>(r, tb.span() + pad);
    let mut c: Vec<T> = if beta.is_zero() {
        vec![T::from_c64(Complex64::new(f64::NAN, f64::NAN)); tc.span() + pad]
    } else {
        rand_vec::<T>(r, tc.span() + pad)
    };
    // Guard cells after C's span keep the sentinel unless addressed.
    for v in c.iter_mut().skip(tc.span()) {
        *v = sentinel();
    }
    let before = c.clone();
    let (a0, b0) = (a.clone(), b.clone());
    let (expect, gauge, addressed) = oracle(alpha, (ta, &a), (tb, &b), beta, (tc, &c));
    let k: usize = ta
        .labels
        .iter()
        .zip(&ta.ext)
        .filter(|(l, _)| !tc.labels.contains(l))
        .map(|(_, e)| *e)
        .product::<usize>()
        .max(1)
        * tb.labels
            .iter()
            .zip(&tb.ext)
            .filter(|(l, _)| !tc.labels.contains(l) && !ta.labels.contains(l))
            .map(|(_, e)| *e)
            .product::<usize>()
            .max(1);
    let res = match via {
        Via::Einsum => {
            let s = |t: &T3| t.labels.iter().map(|&l| l as u8 as char).collect::<String>();
            let spec = format!("{},{}->{}", s(ta), s(tb), s(tc));
            h.einsum(
                &spec,
                alpha,
                &TensorRef::new(&a, ta.shape()),
                &TensorRef::new(&b, tb.shape()),
                beta,
                &mut TensorMut::new(&mut c, tc.shape()),
            )
        }
        Via::Contract => h.contract(
            alpha,
            &TensorRef::new(&a, ta.shape()),
            &ta.labels,
            &TensorRef::new(&b, tb.shape()),
            &tb.labels,
            beta,
            &mut TensorMut::new(&mut c, tc.shape()),
            &tc.labels,
        ),
    };
    res.unwrap_or_else(|e| panic!("{what}: {e}"));
    common::check(what, &c, &before, &expect, &gauge, &addressed, k);
    assert!(
        common::all_bits_eq(&a, &a0) && common::all_bits_eq(&b, &b0),
        "{what}: an input changed"
    );
}

fn packed(labels: &str, ext: &HashMap<char, usize>) -> T3 {
    let e: Vec<usize> = labels.chars().map(|ch| ext[&ch]).collect();
    let mut st = Vec::new();
    let mut s = 1;
    for x in &e {
        st.push(s);
        s *= x;
    }
    T3 {
        labels: labels.bytes().map(i32::from).collect(),
        ext: e,
        st,
    }
}

/// The 36 cases: (name, A modes, B modes, BLAS mappings listed, a flat GEMM listed).
fn cases() -> Vec<(String, String, String, bool, bool)> {
    let text = include_str!("data/contraction-cases.txt");
    let mut out: Vec<(String, String, String, bool, bool)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("### ") {
            let mut it = rest.split_whitespace();
            let name = it.next().unwrap().to_string();
            let eq = it.next().unwrap(); // C_mnp=A_mk*B_knp
            let (_, rhs) = eq.split_once('=').unwrap();
            let (a, b) = rhs.split_once('*').unwrap();
            out.push((name, a[2..].to_string(), b[2..].to_string(), false, false));
        } else if let Some(last) = out.last_mut() {
            let l = line.trim();
            if l.starts_with("- GEMM") || l.starts_with("- SB[") {
                last.3 = true;
            }
            if l.starts_with("- GEMM") {
                last.4 = true;
            }
        }
    }
    out
}

fn the_36_cases_for<T: Scalar>(seed: u64) {
    let h = Handle::new().unwrap();
    let mut r = rng(seed);
    let cs = cases();
    assert_eq!(cs.len(), 36);
    assert_eq!(cs.iter().filter(|c| c.3).count(), 28, "28 BLAS-mappable cases");
    let mut kinds = HashMap::new();
    for (name, am, bm, mapped, flat) in &cs {
        for &(m, n, p, k) in &[
            (3usize, 4usize, 5usize, 2usize),
            (8, 8, 8, 8),
            (17, 5, 3, 9),
            (1, 6, 2, 3),
        ] {
            let ext: HashMap<char, usize> = [('m', m), ('n', n), ('p', p), ('k', k)].into_iter().collect();
            let (ta, tb, tc) = (packed(am, &ext), packed(bm, &ext), packed("mnp", &ext));
            let spec = format!("{am},{bm}->mnp");
            let plan = h
                .einsum_plan::<T>(&spec, &ta.shape(), &tb.shape(), &tc.shape())
                .unwrap();
            if m > 1 && n > 1 && p > 1 && k > 1 {
                // The plan the case list predicts, never a copy or a loop.
                let want_kind = match (mapped, flat) {
                    (true, true) => PlanKind::Gemm,
                    (true, false) => PlanKind::StridedBatched,
                    _ => PlanKind::GeneralStrided,
                };
                assert_eq!(plan.kind(), want_kind, "{name} {spec} ({m},{n},{p},{k}): {plan}");
                assert_eq!(plan.calls(), 1, "{name}: one call");
                assert_eq!(plan.is_blas_legal(), *mapped, "{name}: {plan}");
                *kinds.entry(want_kind).or_insert(0) += 1;
            }
            let alpha: T = rand_val(&mut r);
            let beta = if m == 8 { T::zero() } else { rand_val(&mut r) };
            let via = if p == 5 { Via::Contract } else { Via::Einsum };
            run_check(
                &h,
                &format!("{name} {spec} {m}x{n}x{p}x{k}"),
                via,
                alpha,
                &ta,
                &tb,
                beta,
                &tc,
                &mut r,
            );
        }
    }
    assert_eq!(kinds[&PlanKind::GeneralStrided], 8 * 3, "3 sizes have every extent > 1");
}

#[test]
fn the_36_cases_f32() {
    the_36_cases_for::<f32>(1);
}
#[test]
fn the_36_cases_f64() {
    the_36_cases_for::<f64>(2);
}
#[test]
fn the_36_cases_c32() {
    the_36_cases_for::<Complex32>(3);
}
#[test]
fn the_36_cases_c64() {
    the_36_cases_for::<Complex64>(4);
}

/// A random contraction: up to 7 distinct modes of extents 0..4 (mostly >= 1), each free, contracted,
/// batch or summed in one input; random mode orders, padded strides, broadcast (stride-0) inputs,
/// repeated input labels (diagonals) now and then; order of each tensor at most 6.
fn random_case(r: &mut SmallRng) -> (T3, T3, T3) {
    loop {
        let nl = r.random_range(1..=7);
        let letters: Vec<i32> = "abcdefghijklmnopqrstuvwxyzABCDEFGH".bytes().map(i32::from).collect();
        let mut pool = letters.clone();
        pool.shuffle(r);
        let mut a = Vec::new();
        let mut b = Vec::new();
        let mut c = Vec::new();
        let mut ext = HashMap::new();
        for &l in pool.iter().take(nl) {
            let e = if r.random_bool(0.03) { 0 } else { r.random_range(1..=4) };
            ext.insert(l, e);
            match r.random_range(0..10) {
                0..=1 => {
                    a.push(l);
                    c.push(l)
                }
                2..=3 => {
                    b.push(l);
                    c.push(l)
                }
                4..=6 => {
                    a.push(l);
                    b.push(l)
                }
                7..=8 => {
                    a.push(l);
                    b.push(l);
                    c.push(l)
                }
                _ => {
                    if r.random_bool(0.5) {
                        a.push(l)
                    } else {
                        b.push(l)
                    }
                }
            }
        }
        // A diagonal now and then: a label repeated in an input.
        if r.random_bool(0.1) && !a.is_empty() {
            let l = a[r.random_range(0..a.len())];
            a.push(l);
        }
        if a.len() > 6 || b.len() > 6 || c.len() > 6 {
            continue;
        }
        for v in [&mut a, &mut b, &mut c] {
            v.shuffle(r);
        }
        let mk = |labels: Vec<i32>, r: &mut SmallRng, input: bool| -> T3 {
            let e: Vec<usize> = labels.iter().map(|l| ext[l]).collect();
            // Storage order: a random permutation, each stride padded a little.
            let mut order: Vec<usize> = (0..labels.len()).collect();
            order.shuffle(r);
            let mut st = vec![0usize; labels.len()];
            let mut s = 1usize;
            for &d in &order {
                st[d] = s;
                s *= e[d].max(1) + if r.random_bool(0.3) { r.random_range(1..3) } else { 0 };
            }
            if input {
                for x in st.iter_mut() {
                    if r.random_bool(0.08) {
                        *x = 0;
                    }
                }
            }
            T3 { labels, ext: e, st }
        };
        return (mk(a, r, true), mk(b, r, true), mk(c, r, false));
    }
}

fn random_for<T: Scalar>(seed: u64, count: usize) {
    let h = Handle::new().unwrap();
    let mut r = rng(seed);
    let mut looped = 0;
    for i in 0..count {
        let (ta, tb, tc) = random_case(&mut r);
        let alpha = if r.random_bool(0.05) {
            T::zero()
        } else {
            rand_val(&mut r)
        };
        let beta = if r.random_bool(0.3) {
            T::zero()
        } else {
            rand_val(&mut r)
        };
        let via = if i % 2 == 0 { Via::Einsum } else { Via::Contract };
        let plan = h
            .contract_plan::<T>(
                &ta.shape(),
                &ta.labels,
                &tb.shape(),
                &tb.labels,
                &tc.shape(),
                &tc.labels,
            )
            .unwrap();
        looped += (plan.kind() == PlanKind::Looped) as usize;
        let what = format!("random #{i}: {:?} {:?} {:?} plan {plan}", ta, tb, tc);
        run_check(&h, &what, via, alpha, &ta, &tb, beta, &tc, &mut r);
    }
    assert!(looped > 0, "the random cases exercised looped plans");
}

#[test]
fn random_contractions_f32() {
    random_for::<f32>(11, 400);
}
#[test]
fn random_contractions_f64() {
    random_for::<f64>(12, 400);
}
#[test]
fn random_contractions_c32() {
    random_for::<Complex32>(13, 200);
}
#[test]
fn random_contractions_c64() {
    random_for::<Complex64>(14, 200);
}

#[test]
fn every_backend_runs_every_plan_kind() {
    let mut r = rng(21);
    for backend in CpuBackend::all_available() {
        let h = Handle::with_backend(backend).unwrap();
        for _ in 0..100 {
            let (ta, tb, tc) = random_case(&mut r);
            let (alpha, beta) = (rand_val::<f64>(&mut r), rand_val::<f64>(&mut r));
            run_check(
                &h,
                &format!("{backend}"),
                Via::Contract,
                alpha,
                &ta,
                &tb,
                beta,
                &tc,
                &mut r,
            );
        }
    }
}

#[test]
fn row_major_views_and_broadcasts() {
    // numpy-style row-major operands, C a strided sub-view of a bigger buffer.
    let h = Handle::new().unwrap();
    let mut r = rng(5);
    let (m, k, n, p) = (5usize, 4usize, 3usize, 6usize);
    let ta = T3 {
        labels: vec!['m' as i32, 'k' as i32],
        ext: vec![m, k],
        st: vec![k, 1],
    };
    let tb = T3 {
        labels: vec!['k' as i32, 'n' as i32, 'p' as i32],
        ext: vec![k, n, p],
        st: vec![n * p, p, 1],
    };
    // C is every other column of a (m, 2n, p) row-major array.
    let tc = T3 {
        labels: vec!['m' as i32, 'n' as i32, 'p' as i32],
        ext: vec![m, n, p],
        st: vec![2 * n * p, 2 * p, 1],
    };
    run_check(&h, "row-major", Via::Einsum, 1.5f64, &ta, &tb, 0.5, &tc, &mut r);
    // B broadcast along p (stride 0): every p slice of C is the same product.
    let tb0 = T3 {
        st: vec![n, 1, 0],
        ..tb.clone()
    };
    run_check(&h, "broadcast", Via::Einsum, 1.0f64, &ta, &tb0, 0.0, &tc, &mut r);
}

#[test]
fn plans_explain_themselves() {
    let h = Handle::new().unwrap();
    let s = |e: &[usize]| Shape::col_major(e);
    // Flattened GEMM.
    let p = h
        .einsum_plan::<f32>("mk,knp->mnp", &s(&[4, 3]), &s(&[3, 5, 6]), &s(&[4, 5, 6]))
        .unwrap();
    assert_eq!(
        p.to_string(),
        "gemm: m=m(4) n=np(30) k=k(3) | X=A:N ldX=4 | Y=B:N ldY=3 | ldc=4 | no copy"
    );
    assert_eq!(p.gemm_dims(), (4, 30, 3, 1));
    // Case 1.2: batched over one mode with the 2-way operand broadcast.
    let p = h
        .einsum_plan::<f32>("mk,kpn->mnp", &s(&[4, 3]), &s(&[3, 6, 5]), &s(&[4, 5, 6]))
        .unwrap();
    assert_eq!(p.kind(), PlanKind::StridedBatched, "{p}");
    assert!(p.to_string().contains("strideX=0"), "{p}");
    // Case 3.4: general-stride, still one call.
    let p = h
        .einsum_plan::<f32>("nk,pkm->mnp", &s(&[5, 3]), &s(&[6, 3, 4]), &s(&[4, 5, 6]))
        .unwrap();
    assert_eq!(p.kind(), PlanKind::GeneralStrided, "{p}");
    assert!(p.to_string().starts_with("general-stride batched over "), "{p}");
    // Two contracted modes that fuse in neither operand: a loop over one, accumulating.
    let sa = Shape::strided(&[3, 4, 5], &[1, 15, 3]); // m, k, l: l inside k
    let sb = Shape::strided(&[4, 5, 2], &[1, 4, 20]); // k, l, n: k inside l
    let p = h.einsum_plan::<f64>("mkl,kln->mn", &sa, &sb, &s(&[3, 2])).unwrap();
    assert_eq!(p.kind(), PlanKind::Looped, "{p}");
    assert!(p.to_string().contains("summed, accumulating"), "{p}");
    // The candidates: the chosen plan first, every one predicted no cheaper.
    let all = h
        .einsum_candidates::<f32>("mk,knp->mnp", &s(&[4, 3]), &s(&[3, 5, 6]), &s(&[4, 5, 6]))
        .unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.windows(2).all(|w| w[0].predicted_ns() <= w[1].predicted_ns()));
    // Running any candidate gives the same result.
    let mut r = rng(9);
    let a = rand_vec::<f64>(&mut r, 12);
    let b = rand_vec::<f64>(&mut r, 90);
    let mut outs = Vec::new();
    for plan in h
        .einsum_candidates::<f64>("mk,knp->mnp", &s(&[4, 3]), &s(&[3, 5, 6]), &s(&[4, 5, 6]))
        .unwrap()
    {
        let mut c = vec![0.0f64; 120];
        h.einsum_with_plan(
            "mk,knp->mnp",
            &plan,
            1.0,
            &TensorRef::new(&a, s(&[4, 3])),
            &TensorRef::new(&b, s(&[3, 5, 6])),
            0.0,
            &mut TensorMut::new(&mut c, s(&[4, 5, 6])),
        )
        .unwrap();
        outs.push(c);
    }
    for o in &outs[1..] {
        for (x, y) in o.iter().zip(&outs[0]) {
            assert!((x - y).abs() <= 1e-13 * (1.0 + y.abs()));
        }
    }
}

/// Runs an einsum on fixed buffers and returns the error (C must be untouched).
fn err_of(spec: &str, sa: Shape, sb: Shape, sc: Shape, c_len: usize) -> tensorblas::Error {
    let h = Handle::new().unwrap();
    let a = vec![1.0f64; 64];
    let b = vec![1.0f64; 64];
    let mut c = vec![7.0f64; c_len];
    let e = h
        .einsum(
            spec,
            1.0,
            &TensorRef::new(&a, sa),
            &TensorRef::new(&b, sb),
            0.0,
            &mut TensorMut::new(&mut c, sc),
        )
        .unwrap_err();
    assert!(c.iter().all(|&x| x == 7.0), "C changed on error: {e}");
    e
}

#[test]
fn every_error_leaves_c_untouched() {
    let s = |e: &[usize]| Shape::col_major(e);
    let cases: Vec<(&str, tensorblas::Error, i32)> = vec![
        (
            "extent mismatch",
            err_of("mk,kn->mn", s(&[2, 3]), s(&[4, 2]), s(&[2, 2]), 4),
            9,
        ),
        (
            "output-only mode",
            err_of("mk,kn->mnx", s(&[2, 3]), s(&[3, 2]), s(&[2, 2, 2]), 8),
            3,
        ),
        (
            "repeated output mode",
            err_of("mk,kn->mm", s(&[2, 3]), s(&[3, 2]), s(&[2, 2]), 4),
            3,
        ),
        (
            "malformed spec",
            err_of("mk,kn", s(&[2, 3]), s(&[3, 2]), s(&[2, 2]), 4),
            3,
        ),
        (
            "bad letter",
            err_of("m1,1n->mn", s(&[2, 3]), s(&[3, 2]), s(&[2, 2]), 4),
            3,
        ),
        (
            "wrong extent count",
            err_of("mk,kn->mn", s(&[2, 3, 1]), s(&[3, 2]), s(&[2, 2]), 4),
            6,
        ),
        (
            "wrong stride count",
            err_of("mk,kn->mn", Shape::strided(&[2, 3], &[1]), s(&[3, 2]), s(&[2, 2]), 4),
            7,
        ),
        (
            "C aliases itself",
            err_of("mk,kn->mn", s(&[2, 3]), s(&[3, 2]), Shape::strided(&[2, 2], &[1, 1]), 4),
            14,
        ),
        (
            "C stride 0",
            err_of("mk,kn->mn", s(&[2, 3]), s(&[3, 2]), Shape::strided(&[2, 2], &[0, 2]), 4),
            14,
        ),
        (
            "C slice too short",
            err_of("mk,kn->mn", s(&[2, 3]), s(&[3, 2]), s(&[2, 2]), 3),
            12,
        ),
        (
            "A slice too short",
            err_of("mk,kn->mn", s(&[8, 9]), s(&[9, 2]), s(&[8, 2]), 16),
            5,
        ),
    ];
    for (what, e, pos) in cases {
        assert_eq!(e.status(), 7, "{what}: {e}");
        assert_eq!(e.position(), pos, "{what}: {e}");
        let text = e.to_string();
        assert!(text.starts_with("tblas_einsum: argument"), "{what}: {text}");
    }
    // C overlapping A (one buffer): rejected, nothing written.
    let h = Handle::new().unwrap();
    let mut buf = vec![1.0f64; 16];
    let ptr = buf.as_mut_ptr();
    // SAFETY: both views lie inside `buf`; the call must reject the overlap before touching it.
    let e = unsafe {
        h.einsum(
            "mk,kn->mn",
            1.0,
            &TensorRef::from_raw_parts(ptr as *const f64, s(&[2, 2])),
            &TensorRef::from_raw_parts(ptr.add(8) as *const f64, s(&[2, 2])),
            0.0,
            &mut TensorMut::from_raw_parts(ptr.add(2), s(&[2, 2])),
        )
    }
    .unwrap_err();
    assert_eq!((e.status(), e.position()), (7, 12), "{e}");
    assert!(buf.iter().all(|&x| x == 1.0));
    // contract(): positions of tblas_contract.
    let a = [1.0f32; 4];
    let mut c = [5.0f32; 4];
    let e = h
        .contract(
            1.0,
            &TensorRef::new(&a, s(&[2, 2])),
            &[1, 2],
            &TensorRef::new(&a, s(&[2, 2])),
            &[2, 3],
            0.0,
            &mut TensorMut::new(&mut c, s(&[2, 2])),
            &[1, 4],
        )
        .unwrap_err();
    assert_eq!((e.status(), e.position()), (7, 17), "{e}");
    assert!(e.to_string().contains("appears only in C"), "{e}");
    assert_eq!(c, [5.0; 4]);
}

#[test]
fn empty_and_degenerate_extents() {
    let h = Handle::new().unwrap();
    let s = |e: &[usize]| Shape::col_major(e);
    // k = 0: C = beta*C, A and B never read (empty slices are fine).
    let mut c = vec![2.0f64; 4];
    h.einsum(
        "mk,kn->mn",
        1.0,
        &TensorRef::new(&[], s(&[2, 0])),
        &TensorRef::new(&[], s(&[0, 2])),
        3.0,
        &mut TensorMut::new(&mut c, s(&[2, 2])),
    )
    .unwrap();
    assert_eq!(c, vec![6.0; 4]);
    // C empty: nothing happens, even with NULL-like empty inputs.
    let mut c2: Vec<f64> = vec![];
    h.einsum(
        "mk,kn->mn",
        1.0,
        &TensorRef::new(&[], s(&[0, 3])),
        &TensorRef::new(&[1.0; 6], s(&[3, 2])),
        0.0,
        &mut TensorMut::new(&mut c2, s(&[0, 2])),
    )
    .unwrap();
    // Dot product into a scalar, and a full sum of one input ("mk,->" style via a 0-order B).
    let a = [1.0f64, 2.0, 3.0];
    let mut d = [0.0f64];
    h.einsum(
        "k,k->",
        1.0,
        &TensorRef::new(&a, s(&[3])),
        &TensorRef::new(&a, s(&[3])),
        0.0,
        &mut TensorMut::new(&mut d, s(&[])),
    )
    .unwrap();
    assert_eq!(d[0], 14.0);
    h.einsum(
        "k,->",
        2.0,
        &TensorRef::new(&a, s(&[3])),
        &TensorRef::new(&[0.5], s(&[])),
        0.0,
        &mut TensorMut::new(&mut d, s(&[])),
    )
    .unwrap();
    assert_eq!(d[0], 6.0);
}
