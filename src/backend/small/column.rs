//! The one-vector-column path: real entries whose `m` rows are exactly one vector of the
//! instruction set (f32 m = 8 with 256-bit vectors, 16 with 512-bit; f64 m = 4 or 8), with A's
//! columns and C's columns contiguous (`rs == 1`) and at most 16 columns. Each column of C is one
//! register for the whole sum; every depth step loads one column of A and multiplies it by one
//! broadcast element of B per column of C (B may have any strides). Nothing else runs per
//! entry: no blocking of C, no packing, no dispatch on the block shape, which is what an 8^3 f32
//! entry of 1024 flops cannot afford (the general kernel and the tiny path spent ~80 cycles on
//! one of them on a Zen 4, of which ~40 were multiply-adds).

use super::simd::{Real, Simd};
use super::tuning;
use super::{Arith, BCols, Desc, Ptrs};

/// Whether the column path takes entries described by `d` with vectors of `lanes` elements.
pub(super) fn applies<R>(d: &Desc<R>, lanes: usize) -> bool {
    d.m == lanes && (1..=16).contains(&d.n) && d.a_rs == 1 && !d.a_conj && d.c_rs == 1 && d.tri.is_none()
}

/// Runs entries `range` (which `applies` accepted) through the column kernel of `S`.
///
/// # Safety
/// `S`'s instruction set is enabled; every entry of `range` is a validated entry of `d` (all
/// addressed elements in bounds, C disjoint from A and B).
#[inline(always)]
pub(super) unsafe fn run<S: Simd, F: Fn(usize) -> Ptrs<S::R>>(d: &Desc<S::R>, range: std::ops::Range<usize>, ptrs: &F)
where
    S::R: Arith,
{
    macro_rules! arms {
        ($($n:literal)*) => {
            match d.n {
                $($n => {
                    // A streamed C is its own instance: with the test inside one, 16^3 f32 on
                    // one thread ran at 40 GFLOP/s with C not streamed, against 105. Up to
                    // `tuning::STREAM_C_COLUMNS` columns in one pass; wider entries in two passes
                    // over A of half the columns each, so that no pass stores more lines at once
                    // than the write-combining buffers take (see `STREAM_C_COLUMNS`).
                    if d.stream_c && $n <= tuning::STREAM_C_COLUMNS {
                        for p in range.clone() {
                            let (a, b, c) = ptrs(p);
                            // SAFETY: forwarded (a validated entry of `d`, n = $n columns).
                            unsafe { entry::<S, $n, true>(d, a, b, c) }
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
                                entry::<S, LEFT, true>(d, a, b, c);
                                let l = LEFT as isize;
                                entry::<S, RIGHT, true>(d, a, b.wrapping_offset(l * d.b_cs), c.wrapping_offset(l * d.c_cs));
                            }
                        }
                    } else {
                        for p in range.clone() {
                            let (a, b, c) = ptrs(p);
                            // SAFETY: as above.
                            unsafe { entry::<S, $n, false>(d, a, b, c) }
                        }
                    }
                })*
                n => unreachable!("column path with n = {n}"),
            }
        };
    }
    arms!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
}

/// One entry: `C = alpha * A * B + beta * C` with `N` columns, one register each; `NT`: C is
/// streamed (`d.stream_c`).
///
/// # Safety
/// As `run`.
#[inline(always)]
unsafe fn entry<S: Simd, const N: usize, const NT: bool>(d: &Desc<S::R>, a: *const S::R, b: *const S::R, c: *mut S::R)
where
    S::R: Arith,
{
    let lanes = S::LANES;
    // SAFETY: every load and store addresses an element of this entry (m = lanes rows of A's
    // and C's contiguous columns; B's (l, j) for l < k, j < N).
    unsafe {
        let mut acc = [S::zero(); N];
        let mut ap = a;
        // B's columns addressed as in `kloop` (LLVM otherwise chained the column addresses
        // with one serial add each per depth step: 8x8x16 f32 61 -> 74 GFLOP/s with `BCols`).
        let mut bc = BCols::new(b, d.b_cs);
        for _ in 0..d.k {
            let av = S::load(ap, lanes);
            for (j, x) in acc.iter_mut().enumerate() {
                *x = S::fma(av, S::splat(*bc.col(j)), *x);
            }
            // wrapping: past the last step the addresses may leave the entry; never read.
            ap = ap.wrapping_offset(d.a_cs);
            bc.advance(d.b_rs, N);
        }
        if d.alpha[0] != S::R::ONE {
            let al = S::splat(d.alpha[0]);
            for x in acc.iter_mut() {
                *x = S::mul(*x, al);
            }
        }
        if NT {
            // C streamed (`d.stream_c`, `stream.rs`): its columns are contiguous, written in
            // address order.
            for (j, &x) in acc.iter().enumerate() {
                S::store_nt(c.wrapping_offset(j as isize * d.c_cs), x);
            }
        } else if d.beta_zero {
            for (j, &x) in acc.iter().enumerate() {
                S::store(c.wrapping_offset(j as isize * d.c_cs), x, lanes);
            }
        } else {
            let be = S::splat(d.beta[0]);
            for (j, &x) in acc.iter().enumerate() {
                let cj = c.wrapping_offset(j as isize * d.c_cs);
                S::store(cj, S::fma(S::load(cj, lanes), be, x), lanes);
            }
        }
    }
}
