//! Every backend against the oracle: random and edge shapes, all 4 types, all 9 op pairs,
//! column-major and general-stride layouts, stride 0, negative strides, interleaved C batches,
//! pointer arrays; guard cells around C, A and B unchanged.

mod common;
use common::*;
use rand::Rng;
use tensorblas::{Complex32, Complex64, CpuBackend, CpuEngine, Handle, Isa, Op, Scalar, StridedMut, StridedRef};

#[derive(Clone, Copy, Debug)]
enum Style {
    Gemm,
    Strided,
    Ex,
    Batched,
}

#[derive(Clone, Debug)]
struct Case<T> {
    style: Style,
    ta: Op,
    tb: Op,
    m: usize,
    n: usize,
    k: usize,
    batch: usize,
    alpha: T,
    beta: T,
}

const PAD: usize = 3;

fn stored(op: Op, r: usize, c: usize) -> (usize, usize) {
    if op == Op::N {
        (r, c)
    } else {
        (c, r)
    }
}

/// Random strides for an input operand (`rows x cols` stored): any layout, zero and negative
/// strides included.
fn input_layout(r: &mut rand::rngs::SmallRng, rows: usize, cols: usize, batch: usize) -> (isize, isize, isize) {
    let (ri, ci) = (rows as isize, cols as isize);
    let (rs, cs) = match r.random_range(0..5) {
        0 => (1, ri + r.random_range(0..3i64) as isize),
        1 => (ci + r.random_range(0..3i64) as isize, 1),
        2 => (-1, -(ri + 1)),
        3 => (0, 1),                                                                 // broadcast along rows
        _ => (r.random_range(-3..4i64) as isize, r.random_range(-3..4i64) as isize), // anything, even aliasing reads
    };
    let span = rs.abs() * (ri - 1).max(0) + cs.abs() * (ci - 1).max(0) + 1;
    let bs = match r.random_range(0..3) {
        0 => 0,
        1 => span + r.random_range(0..2i64) as isize,
        _ => -span,
    };
    let _ = batch;
    (rs, cs, bs)
}

/// Random non-aliasing strides for C (`m x n x batch`).
fn output_layout(r: &mut rand::rngs::SmallRng, m: usize, n: usize, batch: usize) -> (isize, isize, isize) {
    let (mi, ni, bi) = (m as isize, n as isize, batch as isize);
    match r.random_range(0..5) {
        0 => (1, mi + 1, (mi + 1) * ni + 2), // column-major, stacked
        1 => (ni, 1, mi * ni),               // row-major
        2 => (-1, -mi, -(mi * ni)),          // everything reversed
        3 => (1, mi * bi.max(1), mi),        // interleaved batch (contraction layout)
        _ => (bi.max(1), bi.max(1) * mi, 1), // batch fastest
    }
}

fn run_case<T: Scalar>(h: &Handle, case: &Case<T>, r: &mut rand::rngs::SmallRng, what: &str) {
    let Case {
        style,
        ta,
        tb,
        m,
        n,
        k,
        batch,
        alpha,
        beta,
    } = case.clone();
    let (ra, ca) = stored(ta, m, k);
    let (rb, cb) = stored(tb, k, n);
    // Layouts.
    let (la, lb, lc) = match style {
        Style::Gemm | Style::Strided | Style::Batched => {
            let lda = ra.max(1) + r.random_range(0..3);
            let ldb = rb.max(1) + r.random_range(0..3);
            let (ldc, sc) = if matches!(style, Style::Strided) && r.random_bool(0.4) {
                (m.max(1) * batch.max(1), m as isize) // interleaved C entries
            } else {
                let ldc = m.max(1) + r.random_range(0..3);
                (ldc, (ldc * n + r.random_range(0..3)) as isize)
            };
            let sa = if r.random_bool(0.3) { 0 } else { (lda * ca + 1) as isize };
            let sb = if r.random_bool(0.3) { 0 } else { (ldb * cb) as isize };
            ((1, lda as isize, sa), (1, ldb as isize, sb), (1, ldc as isize, sc))
        }
        Style::Ex => (
            input_layout(r, ra, ca, batch),
            input_layout(r, rb, cb, batch),
            output_layout(r, m, n, batch),
        ),
    };
    let (na, oa) = extent(ra, ca, batch, la.0, la.1, la.2, PAD);
    let (nb, ob) = extent(rb, cb, batch, lb.0, lb.1, lb.2, PAD);
    let (nc, oc) = extent(m, n, batch, lc.0, lc.1, lc.2, PAD);
    let a: Vec<T> = rand_vec(r, na);
    let b: Vec<T> = rand_vec(r, nb);
    let mut c: Vec<T> = rand_vec(r, nc);
    let lay = |o: usize, l: (isize, isize, isize)| Layout {
        origin: o,
        rs: l.0,
        cs: l.1,
        bs: l.2,
    };
    let (lya, lyb, lyc) = (lay(oa, la), lay(ob, lb), lay(oc, lc));
    let addr = addressed(nc, lyc, m, n, batch);
    for (i, v) in c.iter_mut().enumerate() {
        if !addr[i] {
            *v = sentinel();
        }
    }
    let (a0, b0, c0) = (a.clone(), b.clone(), c.clone());
    let (expect, gauge) = oracle(ta, tb, m, n, k, alpha, &a, lya, &b, lyb, beta, &c, lyc, batch);

    let res = match style {
        Style::Gemm => h.gemm(
            ta,
            tb,
            m,
            n,
            k,
            alpha,
            &a[oa..],
            la.1 as usize,
            &b[ob..],
            lb.1 as usize,
            beta,
            &mut c[oc..],
            lc.1 as usize,
        ),
        Style::Strided => h.gemm_strided_batched(
            ta,
            tb,
            m,
            n,
            k,
            alpha,
            &a[oa..],
            la.1 as usize,
            la.2,
            &b[ob..],
            lb.1 as usize,
            lb.2,
            beta,
            &mut c[oc..],
            lc.1 as usize,
            lc.2,
            batch,
        ),
        Style::Ex => h.gemm_strided_batched_ex(
            ta,
            tb,
            m,
            n,
            k,
            alpha,
            StridedRef::new(&a, oa, la.0, la.1, la.2),
            StridedRef::new(&b, ob, lb.0, lb.1, lb.2),
            beta,
            StridedMut::new(&mut c, oc, lc.0, lc.1, lc.2),
            batch,
        ),
        Style::Batched => {
            // Entry p of X is the sub-slice starting at its strided origin.
            let aps: Vec<&[T]> = (0..batch).map(|p| &a[lya.at(0, 0, p).min(a.len())..]).collect();
            let bps: Vec<&[T]> = (0..batch).map(|p| &b[lyb.at(0, 0, p).min(b.len())..]).collect();
            // Disjoint mutable entries: split C at each entry's origin (stacked layout).
            let mut rest: &mut [T] = &mut c[oc..];
            let mut cps: Vec<&mut [T]> = Vec::new();
            for _ in 0..batch {
                let (head, tail) = rest.split_at_mut((lc.2 as usize).min(rest.len()));
                cps.push(head);
                rest = tail;
            }
            h.gemm_batched(
                ta,
                tb,
                m,
                n,
                k,
                alpha,
                &aps,
                la.1 as usize,
                &bps,
                lb.1 as usize,
                beta,
                &mut cps,
                lc.1 as usize,
            )
        }
    };
    res.unwrap_or_else(|e| panic!("{what}: {case:?} failed: {e}"));
    assert!(all_bits_eq(&a, &a0) && all_bits_eq(&b, &b0), "{what}: A or B changed");
    check(
        &format!("{what} {case:?} la={la:?} lb={lb:?} lc={lc:?}"),
        &c,
        &c0,
        &expect,
        &gauge,
        &addr,
        k,
    );
}

fn random_cases<T: Scalar>(backend: CpuBackend, seed: u64, count: usize) {
    let mut r = rng(seed);
    let h = Handle::with_backend(backend).unwrap();
    let sizes = [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17];
    let isas = Isa::all_supported();
    for i in 0..count {
        h.set_num_threads(1 + i % 3);
        // Every instruction set of the native kernels gets every style and op pair.
        h.set_isa(isas[(i / 36) % isas.len()]).unwrap();
        // And every engine of the native backend (vendor backends ignore it).
        h.set_cpu_engine(CpuEngine::all()[(i / 5) % CpuEngine::all().len()]);
        let style = [Style::Gemm, Style::Strided, Style::Ex, Style::Batched][i % 4];
        let pick = |r: &mut rand::rngs::SmallRng| sizes[r.random_range(0..sizes.len())];
        let scal = |r: &mut rand::rngs::SmallRng, zero_ok: bool| -> T {
            match r.random_range(0..5) {
                0 if zero_ok => T::zero(),
                1 => T::one(),
                _ => rand_val(r),
            }
        };
        let case = Case {
            style,
            ta: OPS[(i / 4) % 3],
            tb: OPS[(i / 12) % 3],
            m: pick(&mut r),
            n: pick(&mut r),
            k: pick(&mut r),
            batch: if matches!(style, Style::Gemm) {
                1
            } else {
                r.random_range(0..5)
            },
            alpha: scal(&mut r, true),
            beta: scal(&mut r, true),
        };
        run_case(
            &h,
            &case,
            &mut r,
            &format!("{backend} {} #{i}", std::any::type_name::<T>()),
        );
    }
}

fn edge_cases<T: Scalar>(backend: CpuBackend) {
    let mut r = rng(7);
    let h = Handle::with_backend(backend).unwrap();
    h.set_num_threads(2);
    // 0 and 1 in every dimension, k = 0, batch 0 and 1, block sizes +-1, a few large entries
    // (which take the inner-threaded paths).
    let mut shapes = vec![];
    for &(m, n, k) in &[
        (0, 3, 3),
        (3, 0, 3),
        (3, 3, 0),
        (1, 1, 1),
        (1, 5, 1),
        (5, 1, 7),
        (1, 1, 9),
    ] {
        for batch in [0, 1, 3] {
            shapes.push((m, n, k, batch));
        }
    }
    for s in [3usize, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33] {
        shapes.push((s, s, s, 2));
        shapes.push((s, s + 1, s - 1, 1));
    }
    shapes.push((64, 70, 66, 1));
    shapes.push((97, 65, 80, 2));
    for (idx, &(m, n, k, batch)) in shapes.iter().enumerate() {
        for (ta, tb) in [(Op::N, Op::N), (Op::T, Op::C), (Op::C, Op::N)] {
            for style in [Style::Strided, Style::Ex] {
                let case = Case::<T> {
                    style,
                    ta,
                    tb,
                    m,
                    n,
                    k,
                    batch,
                    alpha: rand_val(&mut r),
                    beta: rand_val(&mut r),
                };
                run_case(&h, &case, &mut r, &format!("{backend} edge #{idx}"));
            }
        }
    }
}

macro_rules! per_type {
    ($name:ident, $f:ident, $($arg:expr),*) => {
        #[test]
        fn $name() {
            for backend in CpuBackend::all_available() {
                $f::<f32>(backend, $($arg),*);
                $f::<f64>(backend, $($arg),*);
                $f::<Complex32>(backend, $($arg),*);
                $f::<Complex64>(backend, $($arg),*);
            }
        }
    };
}

per_type!(random_shapes_layouts_ops_all_backends, random_cases, 11, 720);
per_type!(random_shapes_second_seed, random_cases, 12345, 360);

#[test]
fn edge_shapes_all_backends() {
    for backend in CpuBackend::all_available() {
        edge_cases::<f32>(backend);
        edge_cases::<f64>(backend);
        edge_cases::<Complex32>(backend);
        edge_cases::<Complex64>(backend);
    }
}

/// beta = 0 never reads C: NaN-filled C gives no NaN; alpha = 0 never reads A/B (NaN there).
fn nan_poisoning<T: Scalar>(backend: CpuBackend) {
    for isa in Isa::all_supported() {
        for engine in CpuEngine::all() {
            nan_poisoning_isa::<T>(backend, isa, engine);
        }
    }
}

fn nan_poisoning_isa<T: Scalar>(backend: CpuBackend, isa: Isa, engine: CpuEngine) {
    let h = Handle::with_backend(backend).unwrap();
    h.set_isa(isa).unwrap();
    h.set_cpu_engine(engine);
    let nan = T::from_c64(Complex64::new(f64::NAN, f64::NAN));
    let (m, n, k, batch) = (5, 4, 3, 3);
    let mut r = rng(3);
    let a: Vec<T> = rand_vec(&mut r, m * k * batch);
    let b: Vec<T> = rand_vec(&mut r, k * n * batch);
    for threads in [1, 2] {
        h.set_num_threads(threads);
        let mut c = vec![nan; m * n * batch];
        h.gemm_strided_batched(
            Op::N,
            Op::T,
            m,
            n,
            k,
            T::one(),
            &a,
            m,
            (m * k) as isize,
            &b,
            n,
            (k * n) as isize,
            T::zero(),
            &mut c,
            m,
            (m * n) as isize,
            batch,
        )
        .unwrap();
        assert!(
            c.iter().all(|v| !v.to_c64().re.is_nan() && !v.to_c64().im.is_nan()),
            "{backend}: beta = 0 read C"
        );
        // alpha = 0: C := beta*C without reading A or B (poisoned); beta = 0 then writes zeros.
        let pa = vec![nan; m * k * batch];
        let mut c2: Vec<T> = rand_vec(&mut r, m * n * batch);
        let c2_0 = c2.clone();
        let two = T::one() + T::one();
        h.gemm_strided_batched(
            Op::N,
            Op::N,
            m,
            n,
            k,
            T::zero(),
            &pa,
            m,
            (m * k) as isize,
            &pa,
            k,
            0,
            two,
            &mut c2,
            m,
            (m * n) as isize,
            batch,
        )
        .unwrap();
        for (x, y) in c2.iter().zip(&c2_0) {
            assert!(bits_eq(*x, two * *y), "{backend}: alpha = 0 must give C = beta*C");
        }
        let mut c3 = vec![nan; m * n * batch];
        h.gemm_strided_batched(
            Op::N,
            Op::N,
            m,
            n,
            k,
            T::zero(),
            &pa,
            m,
            0,
            &pa,
            k,
            0,
            T::zero(),
            &mut c3,
            m,
            (m * n) as isize,
            batch,
        )
        .unwrap();
        assert!(
            c3.iter().all(|v| bits_eq(*v, T::zero())),
            "{backend}: alpha = beta = 0 must zero C"
        );
        // NaN in A propagates (no zero-skipping): entry 1 column 0 of op(A) poisoned.
        let mut pa = a.clone();
        pa[m * k] = nan;
        let mut c4 = vec![T::zero(); m * n * batch];
        h.gemm_strided_batched(
            Op::N,
            Op::N,
            m,
            n,
            k,
            T::one(),
            &pa,
            m,
            (m * k) as isize,
            &b,
            k,
            (k * n) as isize,
            T::zero(),
            &mut c4,
            m,
            (m * n) as isize,
            batch,
        )
        .unwrap();
        let v = c4[m * n].to_c64();
        assert!(v.re.is_nan() || v.im.is_nan(), "{backend}: NaN in A must propagate");
        let v = c4[0].to_c64();
        assert!(!v.re.is_nan(), "{backend}: NaN leaked into another entry");
    }
}
per_type!(nan_poisoning_and_quick_paths, nan_poisoning,);

/// Many threads sharing one handle get results bitwise equal to serial calls.
fn shared_handle<T: Scalar>(backend: CpuBackend) {
    let h = Handle::with_backend(backend).unwrap();
    h.set_num_threads(2);
    let mut r = rng(99);
    let (m, n, k, batch) = (24, 20, 28, 16);
    let a: Vec<T> = rand_vec(&mut r, m * k * batch);
    let b: Vec<T> = rand_vec(&mut r, k * n * batch);
    let c0: Vec<T> = rand_vec(&mut r, m * n * batch);
    let (alpha, beta): (T, T) = (rand_val(&mut r), rand_val(&mut r));
    let run = |c: &mut Vec<T>| {
        h.gemm_strided_batched(
            Op::T,
            Op::N,
            m,
            n,
            k,
            alpha,
            &a,
            k,
            (m * k) as isize,
            &b,
            k,
            (k * n) as isize,
            beta,
            c,
            m,
            (m * n) as isize,
            batch,
        )
        .unwrap()
    };
    let mut serial = c0.clone();
    run(&mut serial);
    let results: Vec<Vec<T>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    for _ in 0..5 {
                        let mut c = c0.clone();
                        run(&mut c);
                        out.push(c);
                    }
                    out
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    for c in &results {
        assert!(
            all_bits_eq(c, &serial),
            "{backend}: concurrent result differs from serial"
        );
    }
}
per_type!(eight_threads_share_one_handle_bitwise, shared_handle,);

#[test]
fn backends_agree_with_each_other_on_large_entries() {
    // Cross-check of the inner-threaded paths: one large entry, 1 vs 2 threads, every backend,
    // against the reference backend.
    let mut r = rng(5);
    let (m, n, k) = (130, 129, 131);
    let a: Vec<f64> = rand_vec(&mut r, m * k);
    let b: Vec<f64> = rand_vec(&mut r, k * n);
    let want = {
        let h = Handle::with_backend(CpuBackend::Reference).unwrap();
        let mut c = vec![0.0; m * n];
        h.gemm(Op::N, Op::N, m, n, k, 1.0, &a, m, &b, k, 0.0, &mut c, m)
            .unwrap();
        c
    };
    for backend in CpuBackend::all_available() {
        for threads in [1, 2, 3] {
            let h = Handle::with_backend(backend).unwrap();
            h.set_num_threads(threads);
            let mut c = vec![f64::NAN; m * n];
            h.gemm(Op::N, Op::N, m, n, k, 1.0, &a, m, &b, k, 0.0, &mut c, m)
                .unwrap();
            for (x, y) in c.iter().zip(&want) {
                assert!(
                    (x - y).abs() <= 1e-12 * k as f64,
                    "{backend} threads={threads}: {x} vs {y}"
                );
            }
        }
    }
}

#[test]
fn complex_conjugation_is_applied() {
    // op = C conjugates; op = T does not. A = [i], B = [i]: T,T -> -1; C,N -> 1; C,C -> -1.
    let h = Handle::new().unwrap();
    let i = Complex32::new(0.0, 1.0);
    for (ta, tb, want) in [
        (Op::T, Op::T, -1.0f32),
        (Op::C, Op::N, 1.0),
        (Op::C, Op::C, -1.0),
        (Op::N, Op::C, 1.0),
    ] {
        let mut c = [Complex32::new(0.0, 0.0)];
        h.gemm(
            ta,
            tb,
            1,
            1,
            1,
            Complex32::new(1.0, 0.0),
            &[i],
            1,
            &[i],
            1,
            Complex32::new(0.0, 0.0),
            &mut c,
            1,
        )
        .unwrap();
        assert_eq!(c[0], Complex32::new(want, 0.0), "{ta:?} {tb:?}");
    }
}

/// Packed entries of the shapes tensor contractions and tiny batches produce (`ldb = k`,
/// `ldc = m`), which take the dedicated tiny-matrix kernels where the CPU has them (AVX-512,
/// real and complex, `small/tiny.rs`) and the column path (rows of one vector: real, and complex
/// on AVX-512, `small/column.rs`): every m in 1..=9 against n, k in 1..=17, both betas, every
/// instruction set.
fn packed_tiny<T: Scalar>(backend: CpuBackend) {
    let mut r = rng(21);
    let h = Handle::with_backend(backend).unwrap();
    h.set_num_threads(1);
    for isa in Isa::all_supported() {
        h.set_isa(isa).unwrap();
        for m in 1..=9usize {
            for n in 1..=17usize {
                for k in [1usize, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17] {
                    let beta = if (m + n + k) % 2 == 0 {
                        T::zero()
                    } else {
                        rand_val(&mut r)
                    };
                    let lda = if (n + k) % 3 == 0 { m + 1 } else { m };
                    let case = Case::<T> {
                        style: Style::Strided,
                        ta: Op::N,
                        tb: Op::N,
                        m,
                        n,
                        k,
                        batch: 3,
                        alpha: rand_val(&mut r),
                        beta,
                    };
                    let batch = 3;
                    let a: Vec<T> = rand_vec(&mut r, lda * k * batch);
                    let b: Vec<T> = rand_vec(&mut r, k * n * batch);
                    let c0: Vec<T> = rand_vec(&mut r, m * n * batch + 5);
                    let mut c = c0.clone();
                    let l = |o, rs, cs, bs| Layout { origin: o, rs, cs, bs };
                    let (la, lb, lc) = (
                        l(0, 1, lda as isize, (lda * k) as isize),
                        l(0, 1, k as isize, (k * n) as isize),
                        l(0, 1, m as isize, (m * n) as isize),
                    );
                    let (expect, gauge) =
                        oracle(Op::N, Op::N, m, n, k, case.alpha, &a, la, &b, lb, beta, &c, lc, batch);
                    h.gemm_strided_batched(
                        Op::N,
                        Op::N,
                        m,
                        n,
                        k,
                        case.alpha,
                        &a,
                        lda,
                        la.bs,
                        &b,
                        k,
                        lb.bs,
                        beta,
                        &mut c,
                        m,
                        lc.bs,
                        batch,
                    )
                    .unwrap();
                    let addr = addressed(c.len(), lc, m, n, batch);
                    check(
                        &format!("{backend} {} packed {m}x{n}x{k} lda={lda}", isa.name()),
                        &c,
                        &c0,
                        &expect,
                        &gauge,
                        &addr,
                        k,
                    );
                }
            }
        }
    }
}
per_type!(packed_tiny_shapes_all_isas, packed_tiny,);

/// A packed, column-major strided call of `m x n x k x batch` (alpha 0.5, beta 2) on `engine` of
/// the native backend with 1, 2 and 3 threads: each run gives the oracle's answer, and all runs
/// give the same bits (every entry is computed one way only, whatever the split).
fn split_is_reproducible<T: Scalar>(
    r: &mut rand::rngs::SmallRng,
    engine: CpuEngine,
    shape: (usize, usize, usize, usize),
) {
    split_is_reproducible_on::<T>(r, engine, None, &[1, 2, 3], shape);
}

/// `split_is_reproducible` with the own kernels' instruction set forced (`Some`) or detected, on
/// these thread counts.
fn split_is_reproducible_on<T: Scalar>(
    r: &mut rand::rngs::SmallRng,
    engine: CpuEngine,
    isa: Option<Isa>,
    thread_counts: &[usize],
    (m, n, k, batch): (usize, usize, usize, usize),
) {
    let a: Vec<T> = rand_vec(r, m * k * batch);
    let b: Vec<T> = rand_vec(r, k * n * batch);
    let c0: Vec<T> = rand_vec(r, m * n * batch);
    let l = |rows: usize, cols: usize| Layout {
        origin: 0,
        rs: 1,
        cs: rows as isize,
        bs: (rows * cols) as isize,
    };
    let (alpha, beta) = (T::from_c64(Complex64::new(0.5, 0.0)), T::one() + T::one());
    let (expect, gauge) = oracle(
        Op::N,
        Op::N,
        m,
        n,
        k,
        alpha,
        &a,
        l(m, k),
        &b,
        l(k, n),
        beta,
        &c0,
        l(m, n),
        batch,
    );
    let mut first: Option<Vec<T>> = None;
    for &threads in thread_counts {
        let h = Handle::with_backend(CpuBackend::Native).unwrap();
        h.set_cpu_engine(engine);
        h.set_num_threads(threads);
        if let Some(isa) = isa {
            h.set_isa(isa).unwrap();
        }
        let mut c = c0.clone();
        h.gemm_strided_batched(
            Op::N,
            Op::N,
            m,
            n,
            k,
            alpha,
            &a,
            m,
            (m * k) as isize,
            &b,
            k,
            (k * n) as isize,
            beta,
            &mut c,
            m,
            (m * n) as isize,
            batch,
        )
        .unwrap();
        let what = format!("{} {isa:?} {m}x{n}x{k}x{batch} threads={threads}", engine.name());
        check(&what, &c, &c0, &expect, &gauge, &vec![true; c.len()], k);
        match &first {
            None => first = Some(c),
            Some(f) => assert!(all_bits_eq(f, &c), "{what}: differs bitwise from 1 thread"),
        }
    }
}

/// Calls large enough to be split across the pool (batch * m * n * k >= the parallel threshold)
/// on the default engine choice (the small kernels here).
#[test]
fn pool_split_small_kernel_path() {
    split_is_reproducible::<f32>(&mut rng(77), CpuEngine::Auto, (32, 24, 40, 300));
}

/// The packed engine on the shapes `shapes(blocking)` gives on every instruction set, with every
/// op pair and call style (general and negative strides, stride-0 operands, pointer arrays),
/// complex alpha/beta (alpha 1 in three cases of four with `alpha_one`), beta 0 in one case of
/// five, and 1-3 threads.
fn packed_on_shapes<T: Scalar>(
    seed: u64,
    label: &str,
    alpha_one: bool,
    shapes: impl Fn(tensorblas::PackedBlocking) -> Vec<(usize, usize, usize, usize)>,
) {
    let mut r = rng(seed);
    let h = Handle::with_backend(CpuBackend::Native).unwrap();
    h.set_cpu_engine(CpuEngine::Packed);
    for isa in Isa::all_supported() {
        h.set_isa(isa).unwrap();
        for (idx, &(m, n, k, batch)) in shapes(isa.packed_blocking(T::DATATYPE)).iter().enumerate() {
            h.set_num_threads(1 + idx % 3);
            let style = [Style::Strided, Style::Ex, Style::Batched, Style::Gemm][idx % 4];
            let case = Case::<T> {
                style,
                ta: OPS[idx % 3],
                tb: OPS[(idx / 3) % 3],
                m,
                n,
                k,
                batch: if matches!(style, Style::Gemm) { 1 } else { batch },
                alpha: if alpha_one && idx % 4 != 3 {
                    T::one()
                } else {
                    rand_val(&mut r)
                },
                beta: if idx % 5 == 0 { T::zero() } else { rand_val(&mut r) },
            };
            run_case(
                &h,
                &case,
                &mut r,
                &format!("packed {label} {} #{idx} {m}x{n}x{k}", isa.name()),
            );
        }
    }
}

/// The packed engine at the edges of every block: sizes one below, at and one above the
/// microkernel tile (`mr`, `nr`), the packed depth `kc` (and twice it), the A block rows `mc`
/// and the B panel columns `nc`.
fn packed_block_edges<T: Scalar>(seed: u64) {
    packed_on_shapes::<T>(seed, "edge", false, |bl| {
        let around = |x: usize| [x - 1, x, x + 1];
        let mut shapes = vec![];
        for m in around(bl.mr) {
            for n in around(bl.nr) {
                shapes.push((m, n, 3, 2));
            }
        }
        for k in around(bl.kc).into_iter().chain([2 * bl.kc + 1]) {
            shapes.push((bl.mr + 3, bl.nr + 1, k, 1));
        }
        for m in around(bl.mc) {
            shapes.push((m, 5, 4, 1));
        }
        for n in around(bl.nc) {
            shapes.push((3, n, 2, 1));
        }
        shapes.push((2 * bl.mc + bl.mr + 1, 2 * bl.nr + 1, bl.kc + 2, 1));
        shapes
    });
}

#[test]
fn packed_engine_block_edges() {
    packed_block_edges::<f32>(31);
    packed_block_edges::<f64>(32);
    packed_block_edges::<Complex32>(33);
    packed_block_edges::<Complex64>(34);
}

/// The packed engine's in-place paths: with at most 64 rows it broadcasts B's elements where
/// they are (any strides), and with at most 64 columns and a unit row stride it loads A's full
/// micro-panels in place (a partial last one packed; alpha then scales the packed B, and must
/// be 1 when B is in place too; complex A by splitting B into real and imaginary columns).
/// Shapes on both sides of both limits, across the depth blocks and the micro-tile edges,
/// mostly with alpha 1.
fn packed_in_place<T: Scalar>(seed: u64) {
    packed_on_shapes::<T>(seed, "in place", true, |bl| {
        let mut shapes = vec![];
        for m in [1, bl.mr - 1, bl.mr, bl.mr + 1, 2 * bl.mr, 63, 64, 65] {
            for n in [1, bl.nr + 1, 64, 65] {
                shapes.push((m, n, 2 * bl.kc + 3, 1 + shapes.len() % 2));
            }
        }
        shapes.extend([(64, 300, 9, 2), (20, 64, bl.kc - 1, 1), (64, 64, 1, 2)]);
        shapes
    });
}

#[test]
fn packed_engine_in_place_operands() {
    packed_in_place::<f32>(41);
    packed_in_place::<f64>(42);
    packed_in_place::<Complex32>(43);
    // Complex A in place (B split into real and imaginary columns) blocks the depth at twice
    // the 1m depth `kc` reported: 2 kc + 3 crosses one of its blocks.
    packed_in_place::<Complex64>(44);
}

/// The packed engine's half-width tails (`tuning::half_tail`, forced on here: by default only
/// CPUs that run AVX-512 on 256-bit units take them): a tile whose last vector of rows is at most
/// half full computes those rows with the 256-bit kernels. Rows at every such tail (one row, half
/// a vector, a head of one and of two vectors, a tile of the tail alone), with A and B packed or
/// in place, across depth blocks.
fn packed_half_tails<T: Scalar>(seed: u64) {
    packed_on_shapes::<T>(seed, "half tail", true, |bl| {
        let lanes = bl.mr / 2;
        let mut shapes = vec![];
        for m in [
            1,
            lanes / 2,
            lanes + 1,
            lanes + lanes / 2,
            2 * lanes + 1,
            3 * lanes + lanes / 2 - 1,
        ] {
            for (n, k) in [(1, 7), (20, 2 * bl.kc + 3), (bl.nr + 1, 5), (70, 33)] {
                shapes.push((m.max(1), n, k, 1 + shapes.len() % 3));
            }
        }
        shapes.push((100, 70, 40, 2));
        shapes
    });
}

#[test]
fn packed_engine_half_width_tails() {
    tensorblas::set_half_tail(Some(true));
    packed_half_tails::<f32>(51);
    packed_half_tails::<f64>(52);
    packed_half_tails::<Complex32>(53);
    packed_half_tails::<Complex64>(54);
    tensorblas::set_half_tail(None);
}

/// The packed engine's two thread splits (the batch over the threads; each entry's C in one
/// rectangle per thread, by columns or by rows) give the oracle's answer and the same bits for
/// every thread count.
#[test]
fn packed_engine_splits_are_bitwise_reproducible() {
    let mut r = rng(78);
    // (m, n, k, batch): a batch split; a few wide entries (columns); a few tall ones (rows).
    for shape in [(40usize, 36, 48, 200), (70, 300, 140, 3), (300, 20, 700, 1)] {
        split_is_reproducible::<f64>(&mut r, CpuEngine::Packed, shape);
    }
}

/// The packed engine's streaming path: a real B of at least 16 MiB read in place (20 or 8
/// rows), which the microkernel prefetches one micro-panel ahead, over one depth block deeper
/// than the tuning table's `kc` for f64 (300). On one thread the prefetch runs; on two each
/// thread's half is below the threshold and it does not: both give the oracle's answer and the
/// same bits. Ragged widths (not a multiple of any `nr`) end the last micro-panel early.
#[test]
fn packed_engine_streams_a_large_b_in_place() {
    let mut r = rng(79);
    // f32: 64 x 65_541 x 4 bytes = 16.8 MB of B; f64: 300 x 7_003 x 8 = 16.8 MB.
    split_is_reproducible::<f32>(&mut r, CpuEngine::Packed, (20, 65_541, 64, 1));
    split_is_reproducible::<f64>(&mut r, CpuEngine::Packed, (8, 7_003, 300, 1));
    // And what `auto` picks for such a product.
    split_is_reproducible::<f32>(&mut r, CpuEngine::Auto, (20, 65_541, 64, 1));
}

/// The packed engine's streaming A read in place (`tuning::STREAM_BYTES` per thread), which
/// `auto` picks for thin, deep products on AVX-512 and, when A streams, on AVX2
/// (`tuning::pick`), on every vector instruction set this CPU has: the packed engine forced, with
/// A of 16.8 MB (streams on one thread, not on two or three, whose row ranges are below the
/// threshold), on 1-3 threads; and `auto` with A of 33.6 MB, which streams on one and two
/// threads (on three the AVX2 rule gives the product to the `gemm` crate: results are
/// reproducible per thread count, not across counts). Against the oracle, the same bits on every
/// thread count tried (real types; complex ones per thread count, where the threads' row ranges
/// decide between A in place and the 1m method). Ragged rows (300, not a multiple of any
/// `mr`), a depth over several `kc` blocks.
#[test]
fn packed_streaming_a_in_place_every_isa() {
    let mut r = rng(81);
    for isa in Isa::all_supported().into_iter().filter(|&i| i != Isa::Portable) {
        let isa = Some(isa);
        // f64: 300 x 7_000 x 8 bytes = 16.8 MB of A; f32 300 x 14_000 x 4 the same.
        split_is_reproducible_on::<f64>(&mut r, CpuEngine::Packed, isa, &[1, 2, 3], (300, 20, 7_000, 1));
        split_is_reproducible_on::<f32>(&mut r, CpuEngine::Packed, isa, &[1, 2, 3], (300, 13, 14_000, 1));
        // Twice that: `auto` takes the packed engine on one and two threads.
        split_is_reproducible_on::<f64>(&mut r, CpuEngine::Auto, isa, &[1, 2], (300, 20, 14_000, 1));
        split_is_reproducible_on::<f32>(&mut r, CpuEngine::Auto, isa, &[1, 2], (300, 20, 28_000, 1));
        // Complex A in place (B split into real and imaginary columns): c32 300 x 7_000 x 8 bytes.
        // On AVX2 only one thread streams it; two and three pack A (the 1m method, other bits).
        split_is_reproducible_on::<Complex32>(&mut r, CpuEngine::Packed, isa, &[1], (300, 13, 7_000, 1));
        split_is_reproducible_on::<Complex32>(&mut r, CpuEngine::Packed, isa, &[2, 3], (300, 13, 7_000, 1));
        for threads in [1, 2] {
            split_is_reproducible_on::<Complex32>(&mut r, CpuEngine::Auto, isa, &[threads], (300, 20, 14_000, 1));
        }
    }
}

/// The products `auto` gives the packed engine on AVX2 since run 8 (`tuning::AVX2_NARROW_ROWS`,
/// `AVX2_COMPLEX_STREAM_COLS`, the AVX2 slab rule): f32 entries of 8 rows whose B streams (39 MB),
/// f32 slabs of 128 rows whose A streams, complex entries of 8 columns whose A streams (144 MB), on
/// every vector instruction set (on AVX-512 other rules pick other engines for some of them),
/// through `auto` on one and two threads: against the oracle, the same bits per thread count.
#[test]
fn avx2_streaming_rules_through_auto_every_isa() {
    let mut r = rng(84);
    for isa in Isa::all_supported().into_iter().filter(|&i| i != Isa::Portable) {
        let isa = Some(isa);
        for threads in [1, 2] {
            split_is_reproducible_on::<f32>(&mut r, CpuEngine::Auto, isa, &[threads], (8, 128, 128, 600));
            split_is_reproducible_on::<f32>(&mut r, CpuEngine::Auto, isa, &[threads], (128, 8, 128, 600));
            split_is_reproducible_on::<Complex32>(&mut r, CpuEngine::Auto, isa, &[threads], (128, 8, 128, 1100));
            split_is_reproducible_on::<Complex64>(&mut r, CpuEngine::Auto, isa, &[threads], (128, 7, 128, 560));
        }
    }
}

/// A call of fewer complex entries than threads on the small kernels, which split the entry's
/// columns (or rows) over the threads, and what `auto` picks for it on two threads (the small
/// kernels for complex on AVX-512 and for complex double on AVX2, `tuning::pick`), on every
/// vector instruction set: against the oracle, the same bits on every thread count tried.
#[test]
fn small_kernels_split_one_complex_entry_every_isa() {
    let mut r = rng(83);
    for isa in Isa::all_supported().into_iter().filter(|&i| i != Isa::Portable) {
        let isa = Some(isa);
        for shape in [(8usize, 128, 128, 1), (128, 8, 128, 1), (64, 16, 64, 1)] {
            split_is_reproducible_on::<Complex64>(&mut r, CpuEngine::Small, isa, &[1, 2, 3], shape);
            split_is_reproducible_on::<Complex32>(&mut r, CpuEngine::Small, isa, &[1, 2, 3], shape);
            split_is_reproducible_on::<Complex64>(&mut r, CpuEngine::Auto, isa, &[2], shape);
        }
    }
}

/// Entries whose rows fill exactly one vector (f32 m = 8 or 16, f64 m = 4 or 8; complex c m = 4
/// or 8, z m = 2 or 4) with A and C column-contiguous take the small kernels'
/// one-vector-column path (`small/column.rs`): every width up to its limit and past it, B in
/// every op (any strides, conjugated), alpha 1 and not, beta 0 and not, on every instruction
/// set, against the oracle (m = 2 and the other widths: the neighbours that do not take it).
fn column_path<T: Scalar>(seed: u64) {
    let mut r = rng(seed);
    let h = Handle::new().unwrap();
    h.set_cpu_engine(CpuEngine::Small);
    let mut i = 0usize;
    for isa in Isa::all_supported() {
        h.set_isa(isa).unwrap();
        for m in [2usize, 4, 8, 16] {
            for n in [1usize, 3, 4, 5, 8, 9, 12, 13, 16, 17] {
                for k in [1usize, 3, 8] {
                    for tb in OPS {
                        i += 1;
                        h.set_num_threads(1 + i % 2);
                        let case = Case::<T> {
                            style: if i.is_multiple_of(3) {
                                Style::Gemm
                            } else {
                                Style::Strided
                            },
                            ta: Op::N,
                            tb,
                            m,
                            n,
                            k,
                            batch: if i.is_multiple_of(3) { 1 } else { 1 + i % 4 },
                            alpha: if i.is_multiple_of(2) {
                                T::one()
                            } else {
                                rand_val(&mut r)
                            },
                            beta: if i % 4 < 2 { T::zero() } else { rand_val(&mut r) },
                        };
                        run_case(&h, &case, &mut r, &format!("column path {isa:?} #{i}"));
                    }
                }
            }
        }
    }
}

#[test]
fn small_kernels_column_path() {
    column_path::<f32>(31);
    column_path::<f64>(32);
    // Complex entries of one vector of real rows (AVX-512 c m = 8, z m = 4, up to 12 columns;
    // AVX2 c m = 4, z m = 2, up to 6; wider ones take the general blocks).
    column_path::<Complex32>(33);
    column_path::<Complex64>(34);
}

/// The AVX-512 small kernels' whole-column block (real entries of exactly four 512-bit vectors
/// of rows: f64 32, f32 64) and its neighbours (one row fewer or more take the usual blocks),
/// on the small engine forced, every instruction set this CPU has (the block runs on AVX-512
/// only; elsewhere the same cases check the other kernels), against the oracle: every column
/// count around the block's width of 6, depths 1 to 33, transposed and conjugated operands,
/// strided, general-stride and pointer-array calls with their random layouts (padding, stride
/// 0, interleaved C), alpha and beta zero or not, unaddressed C checked untouched.
#[test]
fn whole_column_blocks_match_the_oracle() {
    fn go<T: Scalar>(rows: usize, seed: u64) {
        let mut r = rng(seed);
        let h = Handle::with_backend(CpuBackend::Native).unwrap();
        h.set_cpu_engine(CpuEngine::Small);
        let mut i = 0;
        for isa in Isa::all_supported() {
            h.set_isa(isa).unwrap();
            for m in [rows - 1, rows, rows + 1] {
                for n in [1usize, 5, 6, 7, 12, 13] {
                    for k in [1usize, 8, 33] {
                        i += 1;
                        h.set_num_threads(1 + i % 2);
                        let (ta, tb) = [(Op::N, Op::N), (Op::T, Op::C), (Op::C, Op::N)][i % 3];
                        let style = [Style::Strided, Style::Ex, Style::Batched][(i / 3) % 3];
                        let beta = if i % 4 == 0 { T::zero() } else { rand_val(&mut r) };
                        let case = Case::<T> {
                            style,
                            ta,
                            tb,
                            m,
                            n,
                            k,
                            batch: 1 + i % 3,
                            alpha: rand_val(&mut r),
                            beta,
                        };
                        run_case(&h, &case, &mut r, &format!("whole columns {isa:?} #{i}"));
                    }
                }
            }
        }
    }
    go::<f64>(32, 41);
    go::<f32>(64, 42);
}

/// The small kernels' non-temporal C (`tuning::STREAM_C_BYTES`; forced on here at every size,
/// and off for the reference bits): runs of adjacent entries computed into a scratch and copied
/// to C with non-temporal stores. On the small engine forced, every instruction set this CPU
/// has, real and complex, shapes of the column path (rows of one vector; up to 8 columns and
/// more, which it computes in two passes), the AVX-512 tiny path
/// (4 x 4; complex 4 x 4 and 2 x 4), blocks of one vector of rows and of more (through the scratch when shallow), the
/// whole-column block: C column-major packed (batch stride m n) from element offsets 0-9 (so
/// entries and runs start anywhere in a cache line) or row-major packed (the flipped kernel's
/// C), and pointer arrays over C's entries in order (one run), reversed (A, B and C alike) and
/// with gaps (runs of one entry); alpha random, beta zero (streamed) or not (not streamed); one and two threads.
/// The oracle's answer, guard cells untouched, and the same bits as without streaming.
#[test]
fn streamed_c_matches_the_oracle() {
    fn go<T: Scalar>(shapes: &[(usize, usize, usize, usize)], seed: u64) {
        let mut r = rng(seed);
        let h = Handle::with_backend(CpuBackend::Native).unwrap();
        h.set_cpu_engine(CpuEngine::Small);
        let mut i = 0usize;
        for isa in Isa::all_supported() {
            h.set_isa(isa).unwrap();
            for &(m, n, k, batch) in shapes {
                for form in 0..5 {
                    i += 1;
                    h.set_num_threads(1 + i % 2);
                    let (len, off) = (m * n, i % 10);
                    // Row-major (form 1): element (i, j) of entry p at p m n + i n + j.
                    let lc = match form {
                        1 => Layout {
                            origin: off,
                            rs: n as isize,
                            cs: 1,
                            bs: len as isize,
                        },
                        _ => Layout {
                            origin: off,
                            rs: 1,
                            cs: m as isize,
                            bs: len as isize,
                        },
                    };
                    // Gaps between entries of the pointer-array form 4.
                    let gap = if form == 4 { 3 } else { 0 };
                    let total = off + batch * (len + gap) + PAD;
                    let a: Vec<T> = rand_vec(&mut r, m * k * batch);
                    let b: Vec<T> = rand_vec(&mut r, k * n * batch);
                    let c0: Vec<T> = (0..total).map(|_| sentinel()).collect();
                    let la = Layout {
                        origin: 0,
                        rs: 1,
                        cs: m as isize,
                        bs: (m * k) as isize,
                    };
                    let lb = Layout {
                        origin: 0,
                        rs: 1,
                        cs: k as isize,
                        bs: (k * n) as isize,
                    };
                    let alpha = rand_val(&mut r);
                    let beta = if i % 5 == 4 { rand_val::<T>(&mut r) } else { T::zero() };
                    let entry_c = Layout {
                        bs: (len + gap) as isize,
                        ..lc
                    };
                    let (expect, gauge) =
                        oracle(Op::N, Op::N, m, n, k, alpha, &a, la, &b, lb, beta, &c0, entry_c, batch);
                    let addr = addressed(total, entry_c, m, n, batch);
                    let mut bits = Vec::new();
                    for stream in [false, true] {
                        tensorblas::set_stream_c(Some(stream));
                        let mut c = c0.clone();
                        let res = if form < 2 {
                            h.gemm_strided_batched_ex(
                                Op::N,
                                Op::N,
                                m,
                                n,
                                k,
                                alpha,
                                StridedRef::new(&a, 0, 1, m as isize, (m * k) as isize),
                                StridedRef::new(&b, 0, 1, k as isize, (k * n) as isize),
                                beta,
                                StridedMut::new(&mut c, off, lc.rs, lc.cs, lc.bs),
                                batch,
                            )
                        } else {
                            let mut aps: Vec<&[T]> = a.chunks(m * k).collect();
                            let mut bps: Vec<&[T]> = b.chunks(k * n).collect();
                            let mut cps: Vec<&mut [T]> = c[off..].chunks_mut(len + gap).take(batch).collect();
                            if form == 3 {
                                aps.reverse();
                                bps.reverse();
                                cps.reverse();
                            }
                            h.gemm_batched(Op::N, Op::N, m, n, k, alpha, &aps, m, &bps, k, beta, &mut cps, m)
                        };
                        tensorblas::set_stream_c(None);
                        let what = format!("streamed C {isa:?} #{i} {m}x{n}x{k} x {batch} form {form} stream {stream}");
                        res.unwrap_or_else(|e| panic!("{what}: {e}"));
                        check(&what, &c, &c0, &expect, &gauge, &addr, k);
                        bits.push(c);
                    }
                    assert!(
                        all_bits_eq(&bits[0], &bits[1]),
                        "streamed C #{i}: other bits than without streaming"
                    );
                }
            }
        }
    }
    // (41, 37, 2): columns of several blocks of rows, shallow (the scratch), C not a whole
    // number of vectors.
    let shapes = [
        (4, 4, 4, 700),
        (8, 8, 3, 300),
        (16, 5, 7, 200),
        (41, 37, 2, 40),
        (7, 5, 3, 500),
        (33, 9, 17, 30),
        (32, 6, 9, 60),
        (64, 13, 4, 24),
        (20, 3, 2, 5),
        // The column path over more than `tuning::STREAM_C_COLUMNS` columns (two passes of
        // half the columns each): rows of one 512-bit f32 vector / two f64 ones, of one 256-bit
        // f32 vector / one 512-bit f64 one, of one 256-bit f64 vector.
        (16, 16, 5, 100),
        (8, 13, 4, 120),
        (4, 11, 3, 200),
        // Blocks of all of C's rows in two or more vectors, at most 8 vectors in all: f32 rows
        // in two 512-bit vectors; f64 rows in two 512-bit vectors, f32 rows in two 256-bit ones.
        (32, 3, 5, 50),
        (16, 4, 6, 80),
    ];
    go::<f32>(&shapes, 91);
    go::<f64>(&shapes, 92);
    // The complex tiny path (AVX-512): c 4 x 4 (two columns per register), c and z 2 x 4; the
    // complex column path over more than `STREAM_C_COLUMNS` columns (two passes): c 8 x 11, z
    // 4 x 11 (and c 8 x 8, z 4 x 4 above, one pass).
    let complex = [&shapes[..6], &[(2, 4, 3, 300), (8, 11, 4, 120), (4, 11, 3, 200)]].concat();
    go::<Complex32>(&complex, 93);
    go::<Complex64>(&complex, 94);
}

/// The small kernels' prefetching (`tuning::PREFETCH_BYTES`, forced on here for every size):
/// entries of several blocks of rows and columns, every op, style, layout (broadcast, reversed
/// and general strides, the pointer-array form) and instruction set, against the oracle with
/// the unwritten parts of C checked. Prefetches never change results; this guards the block
/// loop that plans them (which block of rows and columns, which next entry).
#[test]
fn prefetching_small_kernels_match_the_oracle() {
    fn go<T: Scalar>(seed: u64, count: usize) {
        let mut r = rng(seed);
        let h = Handle::with_backend(CpuBackend::Native).unwrap();
        h.set_cpu_engine(CpuEngine::Small);
        let isas = Isa::all_supported();
        let (ms, ns, ks) = ([9usize, 17, 33, 40, 64, 65], [1usize, 5, 13, 25], [1usize, 7, 32]);
        for i in 0..count {
            h.set_num_threads(1 + i % 2);
            h.set_isa(isas[i % isas.len()]).unwrap();
            let style = [Style::Strided, Style::Ex, Style::Batched, Style::Gemm][i % 4];
            let case = Case {
                style,
                ta: OPS[(i / 4) % 3],
                tb: OPS[(i / 12) % 3],
                m: ms[r.random_range(0..ms.len())],
                n: ns[r.random_range(0..ns.len())],
                k: ks[r.random_range(0..ks.len())],
                batch: if matches!(style, Style::Gemm) {
                    1
                } else {
                    r.random_range(2..6)
                },
                alpha: rand_val(&mut r),
                beta: if i % 3 == 0 { T::zero() } else { rand_val(&mut r) },
            };
            tensorblas::set_prefetch(Some(true));
            run_case(
                &h,
                &case,
                &mut r,
                &format!("prefetch {} #{i}", std::any::type_name::<T>()),
            );
            tensorblas::set_prefetch(None);
        }
    }
    go::<f32>(101, 72);
    go::<f64>(102, 72);
    go::<Complex32>(103, 72);
    go::<Complex64>(104, 72);
}
