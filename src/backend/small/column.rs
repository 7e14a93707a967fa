//! The one-vector-column path: real entries whose `m` rows are exactly one vector of the
//! instruction set (f32 m = 8 with 256-bit vectors, 16 with 512-bit; f64 m = 4 or 8), with A's
//! columns and C's columns contiguous (`rs == 1`) and at most 16 columns; complex entries of one
//! vector of real rows (AVX-512: c m = 8, z m = 4, at most 12 columns; AVX2: c m = 4, z m = 2,
//! at most 6), two registers per column (the general kernel's two sums). Each column of C is one
//! register for the whole sum; every depth step loads one column of A and multiplies it by one
//! broadcast element of B per column of C (B may have any strides). Nothing else runs per
//! entry: no blocking of C, no packing, no dispatch on the block shape, which is what an 8^3 f32
//! entry of 1024 flops cannot afford (the general kernel and the tiny path spent ~80 cycles on
//! one of them on a Zen 4, of which ~40 were multiply-adds). The complex entries gained as
//! much (`engine_probe SIZE BATCH 2 small T`, AMD EPYC Zen 4, builds alternated, GFLOP/s in
//! cache: c 8^3 x 512 153.2-163.8 -> 210.3-212.0, z 4^3 x 1024 38.5-39.5 -> 74.3-75.0, c 8x12x32
//! 193.4 -> 226.2, z 4x12x64 42.0 -> 46.6; from memory c 8^3 x 131072 95.8-97.2 -> 113.6-124.1,
//! z 4^3 x 262144 26.1-28.8 -> 26.5-31.9); the AVX2 kernels on the same CPU (`... small T
//! avx2`): c 4^3 x 2048 44.7-45.9 -> 76.6-89.5, c 4x6x16 78.5-101.2 -> 153.5-155.8, z 2x6x8 x
//! 4096 36.4-36.5 -> 36.9-54.7.

use super::simd::{Real, Simd};
use super::tuning;
use super::{cmul, combine, Arith, BCols, Desc, Ptrs};

/// The most columns of a complex entry on the column path: two accumulators per column, 24 of
/// the 32 AVX-512 registers (the generic one-vector block's width, `NR = 12`), 12 of AVX2's 16.
pub(super) const COMPLEX_MAX_COLUMNS: usize = 12;
pub(super) const COMPLEX_MAX_COLUMNS_AVX2: usize = 6;

/// Whether the column path takes entries described by `d` with vectors of `lanes` real
/// elements: real entries of `lanes` rows and up to 16 columns, or (`cplx`) complex entries of
/// `lanes / 2` rows and up to `complex_cols` columns.
pub(super) fn applies<R>(d: &Desc<R>, lanes: usize, cplx: bool, complex_cols: usize) -> bool {
    let (rows, cols) = if cplx { (2 * d.m, complex_cols) } else { (d.m, 16) };
    rows == lanes && (1..=cols).contains(&d.n) && d.a_rs == 1 && !d.a_conj && d.c_rs == 1 && d.tri.is_none()
}

/// Runs entries `range` (which `applies` accepted) through the column kernel of `S`.
///
/// # Safety
/// `S`'s instruction set is enabled; every entry of `range` is a validated entry of `d` (all
/// addressed elements in bounds, C disjoint from A and B).
#[inline(always)]
pub(super) unsafe fn run<S: Simd, const CPLX: bool, F: Fn(usize) -> Ptrs<S::R>>(
    d: &Desc<S::R>,
    range: std::ops::Range<usize>,
    ptrs: &F,
) where
    S::R: Arith,
{
    macro_rules! arms {
        ($($n:literal)*) => {
            match d.n {
                // (`if const`: complex entries wider than `COMPLEX_MAX_COLUMNS` are not
                // instantiated.)
                $($n => if const { !CPLX || $n <= COMPLEX_MAX_COLUMNS } {
                    // A streamed C is its own instance: with the test inside one, 16^3 f32 on
                    // one thread ran at 40 GFLOP/s with C not streamed, against 105. Up to
                    // `tuning::STREAM_C_COLUMNS` columns in one pass; wider entries in two passes
                    // over A of half the columns each, so that no pass stores more lines at once
                    // than the write-combining buffers take (see `STREAM_C_COLUMNS`).
                    if d.stream_c && $n <= tuning::STREAM_C_COLUMNS {
                        for p in range.clone() {
                            let (a, b, c) = ptrs(p);
                            // SAFETY: forwarded (a validated entry of `d`, n = $n columns).
                            unsafe { entry::<S, CPLX, $n, true>(d, a, b, c) }
                        }
                    } else if const { $n > tuning::STREAM_C_COLUMNS } && d.stream_c {
                        const LEFT: usize = ($n as usize).div_ceil(2);
                        const RIGHT: usize = $n as usize / 2;
                        for p in range.clone() {
                            let (a, b, c) = ptrs(p);
                            // SAFETY: forwarded: columns 0..LEFT, then LEFT..$n of a validated
                            // entry of `d` (B's and C's column LEFT addressed by their column
                            // strides).
                            unsafe {
                                entry::<S, CPLX, LEFT, true>(d, a, b, c);
                                let l = LEFT as isize * if CPLX { 2 } else { 1 };
                                entry::<S, CPLX, RIGHT, true>(
                                    d,
                                    a,
                                    b.wrapping_offset(l * d.b_cs),
                                    c.wrapping_offset(l * d.c_cs),
                                );
                            }
                        }
                    } else {
                        for p in range.clone() {
                            let (a, b, c) = ptrs(p);
                            // SAFETY: as above.
                            unsafe { entry::<S, CPLX, $n, false>(d, a, b, c) }
                        }
                    }
                } else {
                    unreachable!("complex column path with n = {}", $n)
                },)*
                n => unreachable!("column path with n = {n}"),
            }
        };
    }
    arms!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
}

/// One entry: `C = alpha * A * B + beta * C` with `N` columns, one register each (complex: two
/// sums per column, `sum a * re(b)` and `sum a * im(b)`, combined at the end as in the general
/// kernel); `NT`: C is streamed (`d.stream_c`). Strides are in elements of the entry's type
/// (`Desc`), addresses in real units.
///
/// # Safety
/// As `run`.
#[inline(always)]
unsafe fn entry<S: Simd, const CPLX: bool, const N: usize, const NT: bool>(
    d: &Desc<S::R>,
    a: *const S::R,
    b: *const S::R,
    c: *mut S::R,
) where
    S::R: Arith,
{
    let lanes = S::LANES;
    let wi: isize = if CPLX { 2 } else { 1 };
    // SAFETY: every load and store addresses an element of this entry (m rows of A's and C's
    // contiguous columns, `lanes` real elements each; B's (l, j) for l < k, j < N).
    unsafe {
        let mut acc1 = [S::zero(); N];
        let mut acc2 = [S::zero(); N];
        let mut ap = a;
        // B's columns addressed as in `kloop` (LLVM otherwise chained the column addresses
        // with one serial add each per depth step: 8x8x16 f32 61 -> 74 GFLOP/s with `BCols`).
        let mut bc = BCols::new(b, d.b_cs * wi);
        for _ in 0..d.k {
            let av = S::load(ap, lanes);
            for j in 0..N {
                let bj = bc.col(j);
                acc1[j] = S::fma(av, S::splat(*bj), acc1[j]);
                if CPLX {
                    acc2[j] = S::fma(av, S::splat(*bj.add(1)), acc2[j]);
                }
            }
            // wrapping: past the last step the addresses may leave the entry; never read.
            ap = ap.wrapping_offset(d.a_cs * wi);
            bc.advance(d.b_rs * wi, N);
        }
        let mut r = acc1;
        if CPLX {
            // sum a * im(conj b) = -(sum a * im(b)).
            let minus = S::splat(-S::R::ONE);
            for (x, &y) in r.iter_mut().zip(&acc2) {
                *x = combine::<S>(*x, if d.b_conj { S::mul(y, minus) } else { y });
            }
            if d.alpha != [S::R::ONE, S::R::ZERO] {
                let (ar, ai) = (S::splat(d.alpha[0]), S::splat(d.alpha[1]));
                for x in r.iter_mut() {
                    *x = cmul::<S>(*x, ar, ai);
                }
            }
        } else if d.alpha[0] != S::R::ONE {
            let al = S::splat(d.alpha[0]);
            for x in r.iter_mut() {
                *x = S::mul(*x, al);
            }
        }
        let col = |j: usize| c.wrapping_offset(j as isize * d.c_cs * wi);
        if NT {
            // C streamed (`d.stream_c`, `stream.rs`): its columns are contiguous, written in
            // address order.
            for (j, &x) in r.iter().enumerate() {
                S::store_nt(col(j), x);
            }
        } else if d.beta_zero {
            for (j, &x) in r.iter().enumerate() {
                S::store(col(j), x, lanes);
            }
        } else if CPLX {
            let (br, bi) = (S::splat(d.beta[0]), S::splat(d.beta[1]));
            for (j, &x) in r.iter().enumerate() {
                S::store(col(j), S::add(x, cmul::<S>(S::load(col(j), lanes), br, bi)), lanes);
            }
        } else {
            let be = S::splat(d.beta[0]);
            for (j, &x) in r.iter().enumerate() {
                S::store(col(j), S::fma(S::load(col(j), lanes), be, x), lanes);
            }
        }
    }
}
