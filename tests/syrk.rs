//! `Handle::syrk_strided_batched_ex` against the oracle: every type, both triangles, `N` and `T`,
//! any A layout (negative and zero strides included), C column-major, row-major (the engine then
//! computes the transpose, whose triangle is the other one) and general-stride, batches, every
//! engine forced, 1 and 2 threads, every backend; shapes across the packed engine's blocks and
//! thread splits. C's elements outside the triangle and its guard cells must stay bit-identical.

mod common;
use common::*;
use rand::Rng;
use tensorblas::{
    Complex32, Complex64, CpuBackend, CpuEngine, Error, Handle, Isa, Op, Scalar, StridedMut, StridedRef, Uplo,
};

const PAD: usize = 3;

fn a_layout(r: &mut rand::rngs::SmallRng, rows: usize, cols: usize) -> (isize, isize, isize) {
    let (ri, ci) = (rows as isize, cols as isize);
    let (rs, cs) = match r.random_range(0..4) {
        0 => (1, ri + r.random_range(0..3i64) as isize),
        1 => (ci + r.random_range(0..2i64) as isize, 1),
        2 => (-1, -ri),
        _ => (2, 2 * ri + 1),
    };
    let span = rs.abs() * (ri - 1) + cs.abs() * (ci - 1) + 1;
    let bs = match r.random_range(0..3) {
        0 => 0,
        1 => span,
        _ => -span,
    };
    (rs, cs, bs)
}

fn c_layout(r: &mut rand::rngs::SmallRng, n: usize) -> (isize, isize, isize) {
    let ni = n as isize;
    let (rs, cs) = match r.random_range(0..3) {
        0 => (1, ni + 1),
        1 => (ni, 1),
        _ => (-2, -2 * ni - 1),
    };
    let span = rs.abs() * (ni - 1) + cs.abs() * (ni - 1) + 1;
    (rs, cs, if r.random_bool(0.5) { span } else { -span - 1 })
}

#[allow(clippy::too_many_arguments)]
fn one<T: Scalar>(
    r: &mut rand::rngs::SmallRng,
    h: &Handle,
    what: &str,
    uplo: Uplo,
    trans: Op,
    n: usize,
    k: usize,
    batch: usize,
) {
    let (ra, ca) = if trans == Op::N { (n, k) } else { (k, n) };
    let (ars, acs, abs) = a_layout(r, ra, ca);
    let (alen, aorg) = extent(ra, ca, batch, ars, acs, abs, PAD);
    let mut a: Vec<T> = rand_vec(r, alen);
    a[..PAD].fill(sentinel());
    let (crs, ccs, cbs) = c_layout(r, n);
    let (clen, corg) = extent(n, n, batch, crs, ccs, cbs, PAD);
    let c0: Vec<T> = (0..clen).map(|_| rand_val(r)).collect();
    let alpha: T = rand_val(r);
    let beta: T = match r.random_range(0..3) {
        0 => T::zero(),
        1 => T::one(),
        _ => rand_val(r),
    };
    let la = Layout {
        origin: aorg,
        rs: ars,
        cs: acs,
        bs: abs,
    };
    let lc = Layout {
        origin: corg,
        rs: crs,
        cs: ccs,
        bs: cbs,
    };
    let tb = if trans == Op::N { Op::T } else { Op::N };
    let (expect, gauge) = oracle(trans, tb, n, n, k, alpha, &a, la, &a, la, beta, &c0, lc, batch);
    let mut addr = vec![false; clen];
    for p in 0..batch {
        for j in 0..n {
            for i in 0..n {
                let keep = match uplo {
                    Uplo::Lower => i >= j,
                    Uplo::Upper => i <= j,
                };
                addr[lc.at(i, j, p)] = keep;
            }
        }
    }
    let mut c = c0.clone();
    h.syrk_strided_batched_ex(
        uplo,
        trans,
        n,
        k,
        alpha,
        StridedRef::new(&a, aorg, ars, acs, abs),
        beta,
        StridedMut::new(&mut c, corg, crs, ccs, cbs),
        batch,
    )
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    check(what, &c, &c0, &expect, &gauge, &addr, k);
}

fn sweep<T: Scalar>(seed: u64, shapes: &[(usize, usize, usize)]) {
    let mut r = rng(seed);
    let engines = CpuEngine::all();
    let mut backends = vec![CpuBackend::Auto, CpuBackend::Native, CpuBackend::Reference];
    backends.extend(CpuBackend::vendor());
    for &(n, k, batch) in shapes {
        for uplo in [Uplo::Lower, Uplo::Upper] {
            for trans in [Op::N, Op::T] {
                let backend = backends[r.random_range(0..backends.len())];
                // The reference backend is the slow oracle-like loop: small shapes only.
                let backend = if backend == CpuBackend::Reference && n * n * k * batch > 1 << 20 {
                    CpuBackend::Native
                } else {
                    backend
                };
                let h = Handle::with_backend(backend).unwrap();
                let engine = engines[r.random_range(0..engines.len())];
                h.set_cpu_engine(engine);
                let threads = r.random_range(1..3);
                h.set_num_threads(threads);
                // Each instruction set of the kernels this CPU has (an unsupported one is refused
                // and the handle keeps its own).
                let _ = h.set_isa([Isa::Avx512, Isa::Avx2, Isa::Portable][r.random_range(0..3)]);
                let what = format!(
                    "{} syrk {uplo:?} {trans:?} n {n} k {k} batch {batch} on {backend}/{}/{:?} x{threads}",
                    std::any::type_name::<T>(),
                    engine.name(),
                    h.isa()
                );
                one::<T>(&mut r, &h, &what, uplo, trans, n, k, batch);
            }
        }
    }
}

const SHAPES: [(usize, usize, usize); 9] = [
    (1, 1, 1),
    (2, 3, 4),
    (7, 5, 3),
    (17, 1, 2),
    (33, 70, 2),
    (64, 64, 1),
    (100, 9, 5),
    (150, 40, 1),
    (257, 300, 1),
];

#[test]
fn syrk_matches_the_oracle_f32() {
    sweep::<f32>(1, &SHAPES);
}

#[test]
fn syrk_matches_the_oracle_f64() {
    // Beyond one depth block and one row block of the packed engine on both instruction sets.
    sweep::<f64>(2, &SHAPES);
    sweep::<f64>(3, &[(300, 600, 1), (90, 40, 40)]);
}

#[test]
fn syrk_matches_the_oracle_complex() {
    sweep::<Complex32>(4, &SHAPES[..8]);
    sweep::<Complex64>(5, &SHAPES[..8]);
}

#[test]
fn syrk_quick_returns_touch_only_the_triangle() {
    let h = Handle::new().unwrap();
    let a = [1.0f64; 4];
    for (k, alpha, beta) in [(0usize, 1.0, 2.0), (2, 0.0, 2.0), (2, 0.0, 0.0)] {
        let mut c = [3.0f64; 4];
        h.syrk_strided_batched_ex(
            Uplo::Upper,
            Op::N,
            2,
            k,
            alpha,
            StridedRef::new(&a, 0, 1, 2, 0),
            beta,
            StridedMut::new(&mut c, 0, 1, 2, 0),
            1,
        )
        .unwrap();
        // Column-major 2x2: c[1] is (1, 0), below the diagonal.
        assert_eq!(
            c,
            [3.0 * beta, 3.0, 3.0 * beta, 3.0 * beta],
            "k {k} alpha {alpha} beta {beta}"
        );
    }
}

#[test]
fn syrk_errors_name_the_argument() {
    let h = Handle::new().unwrap();
    let z = Complex64::new(1.0, 0.0);
    // A's 6 elements at the start of a larger buffer: a view past them stays away from C.
    let big = vec![z; 64];
    let a = &big[..6];
    let mut c = [z; 4];
    let pos = |e: Error| match e {
        Error::InvalidArgument { position, name, .. } => (position, name),
        other => panic!("expected InvalidArgument, got {other}"),
    };
    // One call with A = the 6 elements (column-major rows 1, columns 2 apart) and C 2x2; what
    // varies: trans, k, and C's row stride.
    let call = |trans: Op, k: usize, c_rs: isize, c: &mut [Complex64]| {
        h.syrk_strided_batched_ex(
            Uplo::Lower,
            trans,
            2,
            k,
            z,
            StridedRef::new(a, 0, 1, 2, 0),
            z,
            StridedMut::new(c, 0, c_rs, 2, 0),
            1,
        )
        .unwrap_err()
    };
    assert_eq!(pos(call(Op::C, 3, 1, &mut c)), (2, "trans"));
    // A's slice too short for n x k.
    assert_eq!(pos(call(Op::N, 4, 1, &mut c)), (6, "A"));
    // C's rows alias.
    assert_eq!(pos(call(Op::N, 3, 0, &mut c)).0, 8);
    // Real types take Op::C as Op::T.
    let ar = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    let (mut c1, mut c2) = ([0.0f32; 4], [0.0f32; 4]);
    for (op, c) in [(Op::C, &mut c1), (Op::T, &mut c2)] {
        h.syrk_strided_batched_ex(
            Uplo::Lower,
            op,
            2,
            3,
            1.0,
            StridedRef::new(&ar, 0, 1, 3, 0),
            0.0,
            StridedMut::new(c, 0, 1, 2, 0),
            1,
        )
        .unwrap();
    }
    assert_eq!(c1, c2);
    assert_eq!(c1, [14.0, 32.0, 0.0, 77.0]);
}

#[test]
fn syrk_is_the_lower_half_of_the_gemm_bit_for_bit_on_one_thread() {
    // Same engine, same blocking: each element of the triangle is the GEMM's (the skipped tiles
    // change nothing else).
    let mut r = rng(9);
    let (n, k) = (150usize, 333usize);
    let a: Vec<f64> = rand_vec(&mut r, n * k);
    // The native backend for both calls (with a vendor BLAS compiled in, `auto` would send the
    // GEMM to it).
    let h = Handle::with_backend(CpuBackend::Native).unwrap();
    h.set_num_threads(1);
    h.set_cpu_engine(CpuEngine::Packed);
    let mut g = vec![0.0f64; n * n];
    h.gemm(Op::N, Op::T, n, n, k, 1.0, &a, n, &a, n, 0.0, &mut g, n)
        .unwrap();
    let mut s = vec![f64::NAN; n * n];
    h.syrk_strided_batched_ex(
        Uplo::Lower,
        Op::N,
        n,
        k,
        1.0,
        StridedRef::new(&a, 0, 1, n as isize, 0),
        0.0,
        StridedMut::new(&mut s, 0, 1, n as isize, 0),
        1,
    )
    .unwrap();
    for j in 0..n {
        for i in 0..n {
            if i >= j {
                assert_eq!(s[i + j * n].to_bits(), g[i + j * n].to_bits(), "({i}, {j})");
            } else {
                assert!(s[i + j * n].is_nan(), "({i}, {j}) above the diagonal was written");
            }
        }
    }
}

#[test]
fn syrk_split_over_its_depth_matches_the_oracle() {
    // A triangle much deeper than wide, on two threads, is cut over its depth (each thread's
    // range into its own scratch, summed into C's triangle): every uplo, trans, instruction set,
    // beta (zero, one, other; C's other triangle and its gaps must stay untouched), odd depths
    // that do not split evenly, and a depth just under and at the split's threshold.
    let mut r = rng(6);
    let shapes = [
        (33usize, 1001usize),
        (64, 255),
        (64, 256),
        (100, 4003),
        (7, 150_001),
        (300, 1201),
    ];
    for (case, &(n, k)) in shapes.iter().enumerate() {
        for uplo in [Uplo::Lower, Uplo::Upper] {
            for trans in [Op::N, Op::T] {
                for isa in [Isa::Avx512, Isa::Avx2, Isa::Portable] {
                    let h = Handle::with_backend(CpuBackend::Native).unwrap();
                    h.set_num_threads(2);
                    if h.set_isa(isa).is_err() {
                        continue;
                    }
                    let what = format!("depth split {case}: syrk {uplo:?} {trans:?} n {n} k {k} on {isa:?} x2");
                    if case % 2 == 0 {
                        one::<f64>(&mut r, &h, &format!("f64 {what}"), uplo, trans, n, k, 1);
                    } else {
                        one::<f32>(&mut r, &h, &format!("f32 {what}"), uplo, trans, n, k, 1);
                    }
                }
            }
        }
    }
}
