//! The tiny-matrix path (AVX-512F): one 512-bit register holds `cpv = LANES / m` whole columns
//! of C, so an entry of 4x4 (f32) is one register. For each `l`, the column `A(:, l)` is
//! broadcast to every column slot and `B(l, :)` is spread with one two-source permute from the
//! B entry held in two registers — full-width FMAs where the generic kernel would use a quarter
//! of the lanes, and no per-element broadcasts. Applies when `m` divides the lane count
//! (`m` in 2, 4, 8), `n` is a multiple of `cpv` with at most 4 registers of C, `cpv * k` fits two
//! registers, A is column-contiguous, and the B and C entries are packed (`ldb = k`, `ldc = m`).
//!
//! Complex entries run the same way on their real lanes (`plan`: c m = 1, 2, 4 and z m
//! = 1, 2, i.e. `2m` real rows of 2, 4 or 8 below a vector): two permutes per register and depth
//! step spread `re B(l, :)` and `im B(l, :)`, two FMAs keep the general kernel's two sums, one
//! pair swap combines them. The general kernel ran these at a quarter or half of the lanes with
//! two broadcasts per column (`engine_probe 4 2048 2 small c`, AMD EPYC Zen 4, builds
//! alternated: c 4^3 x 2048 40.0-43.2 -> 87.2 GFLOP/s in cache, x 524288 from memory 30.1-30.4
//! -> 50.8-53.2; c 2x4x3 17.7 -> 65.0, z 2x4x3 15.8 -> 40.0).

#![allow(clippy::undocumented_unsafe_blocks)] // SAFETY: see each function's contract.
use super::simd::Simd;
use super::Desc;
use std::arch::x86_64::*;

/// Whether the tiny path applies to entries described by `d`, with `lanes` 512-bit real lanes;
/// returns `(cpv, nq)`. Complex entries (`cplx`) run on their real lanes: `2 * m` real rows (c m
/// = 1, 2, 4; z m = 1, 2) and, as for real ones, at most two registers of B per register of C;
/// B not conjugated (A is read in place, and B's conjugate would need its own sign).
pub(super) fn plan<R>(d: &Desc<R>, lanes: usize, cplx: bool) -> Option<(usize, usize)> {
    let w = if cplx { 2 } else { 1 };
    let rows = w * d.m;
    // 2, 4 or 8 real rows with at least two columns per register (rows = lanes is the generic
    // kernel's best case already).
    if !matches!(rows, 2 | 4 | 8) || rows >= lanes {
        return None;
    }
    let cpv = lanes / rows;
    let ok = d.n.is_multiple_of(cpv)
        && (1..=4).contains(&(d.n / cpv))
        && w * cpv * d.k <= 2 * lanes
        && d.a_rs == 1
        && !d.a_conj
        && !(cplx && d.b_conj)
        && d.b_rs == 1
        && d.b_cs == d.k as isize
        && d.c_rs == 1
        && d.c_cs == d.m as isize;
    ok.then_some((cpv, d.n / cpv))
}

/// B's real elements feeding each of the `NQ` registers of C (`cnt` apart) in two registers,
/// loaded with the masks `m0`, `m1` (the second left zero when `m1 == 0`): the real and the
/// complex tiny kernels' first step.
macro_rules! load_b {
    ($b:expr, $cnt:expr, $m0:expr, $m1:expr, $zero:ident, $loadz:ident, $lanes:expr) => {{
        let mut b0 = [$zero(); NQ];
        let mut b1 = [$zero(); NQ];
        for q in 0..NQ {
            let bq = $b.add(q * $cnt);
            b0[q] = $loadz($m0, bq);
            if $m1 != 0 {
                b1[q] = $loadz($m1, bq.add($lanes));
            }
        }
        (b0, b1)
    }};
}

/// The tiny kernels' per-descriptor constants as plain integers, for entries of `rows` real rows
/// with `cpv` columns per register and `w` real elements per element (1 real, 2 complex): the
/// load masks of B's two registers (`w * cpv * k` real elements of B feed one register of C)
/// and, per lane, the permute index of the lane's column's first element, `w * c * k`.
fn consts(rows: usize, k: usize, cpv: usize, w: usize, lanes: usize) -> (u32, u32, [i64; 16]) {
    let cnt = w * cpv * k;
    let m0 = (1u32 << cnt.min(lanes)) - 1;
    let m1 = if cnt <= lanes { 0 } else { (1u32 << (cnt - lanes)) - 1 };
    let mut idx = [0i64; 16];
    for (lane, x) in idx.iter_mut().enumerate().take(lanes) {
        *x = (w * (lane / rows) * k) as i64;
    }
    (m0, m1, idx)
}

macro_rules! tiny_impl {
    ($name:ident, $setup:ident, $r:ty, $v:ty, $lanes:expr, $zero:ident, $set1:ident, $loadz:ident, $load:ident,
     $store:ident, $fma:ident, $mul:ident, $perm2:ident, $cast_idx:ident, $mask:ty, $bcast_col:expr) => {
        /// # Safety
        /// AVX-512F available; `plan` accepted `d`; `(a, b, c)` are a validated entry.
        /// Per-descriptor constants of the tiny kernel.
        #[inline(always)]
        pub(super) unsafe fn $setup(d: &Desc<$r>, cpv: usize) -> (__m512i, $mask, $mask) {
            // Lane (i + m*c) of the permute index picks B(l, c) = element l + c*k.
            let (m0, m1, idx) = consts(d.m, d.k, cpv, 1, $lanes);
            (unsafe { $cast_idx(&idx) }, m0 as $mask, m1 as $mask)
        }

        #[inline(always)]
        pub(super) unsafe fn $name<const NQ: usize>(
            d: &Desc<$r>,
            cpv: usize,
            (base, m0, m1): (__m512i, $mask, $mask),
            a: *const $r,
            b: *const $r,
            c: *mut $r,
        ) {
            unsafe {
                let k = d.k;
                let (b0, b1) = load_b!(b, cpv * k, m0, m1, $zero, $loadz, $lanes);
                let mut acc = [$zero(); NQ];
                for l in 0..k {
                    let x: $v = $bcast_col(a.wrapping_offset(l as isize * d.a_cs), d.m);
                    let il = if $lanes == 8 {
                        _mm512_add_epi64(base, _mm512_set1_epi64(l as i64))
                    } else {
                        _mm512_add_epi32(base, _mm512_set1_epi32(l as i32))
                    };
                    for q in 0..NQ {
                        acc[q] = $fma(x, $perm2(b0[q], il, b1[q]), acc[q]);
                    }
                }
                let alpha = $set1(d.alpha[0]);
                let beta = $set1(d.beta[0]);
                for q in 0..NQ {
                    let cq = c.add(q * $lanes);
                    let mut t = $mul(acc[q], alpha);
                    if !d.beta_zero {
                        t = $fma($load(cq), beta, t);
                    }
                    if d.stream_c {
                        // C streamed (`stream.rs`): the entry's registers in address order.
                        <super::simd::Avx512<$r> as super::simd::Simd>::store_nt(cq, t);
                    } else {
                        $store(cq, t);
                    }
                }
            }
        }
    };
}

/// The complex form of `tiny_impl`: one register holds `cpv` whole columns of C as (re, im)
/// lanes; per depth step the column `A(:, l)` is broadcast to every column slot and two permutes
/// spread `re B(l, :)` and `im B(l, :)` over the slots, into the two sums the general kernel
/// keeps (`sum a * re(b)`, `sum a * im(b)`), combined with one pair swap at the end.
macro_rules! ctiny_impl {
    ($name:ident, $setup:ident, $r:ty, $v:ty, $lanes:expr, $zero:ident, $loadz:ident, $fma:ident, $perm2:ident,
     $cast_idx:ident, $mask:ty, $bcast_col:expr) => {
        /// Per-descriptor constants of the complex tiny kernel: the permute index of `re B(0, :)`
        /// and the masks of B's two registers.
        ///
        /// # Safety
        /// AVX-512F available; `plan` accepted `d` as complex.
        #[inline(always)]
        pub(super) unsafe fn $setup(d: &Desc<$r>, cpv: usize) -> (__m512i, $mask, $mask) {
            // Lane (i + rows*c) of the permute index picks re B(l, c) = real element 2(l + c*k).
            let (m0, m1, idx) = consts(2 * d.m, d.k, cpv, 2, $lanes);
            (unsafe { $cast_idx(&idx) }, m0 as $mask, m1 as $mask)
        }

        /// # Safety
        /// AVX-512F available; `plan` accepted `d` as complex; `(a, b, c)` are a validated entry.
        #[inline(always)]
        pub(super) unsafe fn $name<const NQ: usize>(
            d: &Desc<$r>,
            cpv: usize,
            (base, m0, m1): (__m512i, $mask, $mask),
            a: *const $r,
            b: *const $r,
            c: *mut $r,
        ) {
            type S = super::simd::Avx512<$r>;
            unsafe {
                let k = d.k;
                let (b0, b1) = load_b!(b, 2 * cpv * k, m0, m1, $zero, $loadz, $lanes);
                let mut acc1 = [$zero(); NQ];
                let mut acc2 = [$zero(); NQ];
                for l in 0..k {
                    let x: $v = $bcast_col(a.wrapping_offset(2 * l as isize * d.a_cs), 2 * d.m);
                    let (ir, ii) = if $lanes == 8 {
                        let ir = _mm512_add_epi64(base, _mm512_set1_epi64(2 * l as i64));
                        (ir, _mm512_add_epi64(ir, _mm512_set1_epi64(1)))
                    } else {
                        let ir = _mm512_add_epi32(base, _mm512_set1_epi32(2 * l as i32));
                        (ir, _mm512_add_epi32(ir, _mm512_set1_epi32(1)))
                    };
                    for q in 0..NQ {
                        acc1[q] = $fma(x, $perm2(b0[q], ir, b1[q]), acc1[q]);
                        acc2[q] = $fma(x, $perm2(b0[q], ii, b1[q]), acc2[q]);
                    }
                }
                let unit_alpha = d.alpha == [1.0, 0.0];
                let (ar, ai) = (<S as Simd>::splat(d.alpha[0]), <S as Simd>::splat(d.alpha[1]));
                let (br, bi) = (<S as Simd>::splat(d.beta[0]), <S as Simd>::splat(d.beta[1]));
                for q in 0..NQ {
                    let cq = c.add(q * $lanes);
                    let mut t = super::combine::<S>(acc1[q], acc2[q]);
                    if !unit_alpha {
                        t = super::cmul::<S>(t, ar, ai);
                    }
                    if !d.beta_zero {
                        t = <S as Simd>::add(t, super::cmul::<S>(<S as Simd>::load(cq, $lanes), br, bi));
                    }
                    if d.stream_c {
                        // C streamed (`stream.rs`): the entry's registers in address order.
                        <S as Simd>::store_nt(cq, t);
                    } else {
                        <S as Simd>::store(cq, t, $lanes);
                    }
                }
            }
        }
    };
}

#[inline(always)]
unsafe fn idx32(idx: &[i64; 16]) -> __m512i {
    let v: [i32; 16] = std::array::from_fn(|i| idx[i] as i32);
    unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
}
#[inline(always)]
unsafe fn idx64(idx: &[i64; 16]) -> __m512i {
    // The first 8 lanes.
    unsafe { _mm512_loadu_si512(idx.as_ptr().cast()) }
}
#[inline(always)]
unsafe fn bcast_col_f32(p: *const f32, m: usize) -> __m512 {
    unsafe {
        match m {
            2 => _mm512_castpd_ps(_mm512_set1_pd((p as *const f64).read_unaligned())),
            4 => _mm512_broadcast_f32x4(_mm_loadu_ps(p)),
            _ => {
                let v = _mm512_castps256_ps512(_mm256_loadu_ps(p));
                _mm512_shuffle_f32x4::<0b0100_0100>(v, v)
            }
        }
    }
}
#[inline(always)]
unsafe fn bcast_col_f64(p: *const f64, m: usize) -> __m512d {
    unsafe {
        match m {
            2 => _mm512_castps_pd(_mm512_broadcast_f32x4(_mm_loadu_ps(p as *const f32))),
            4 => _mm512_broadcast_f64x4(_mm256_loadu_pd(p)),
            _ => _mm512_loadu_pd(p),
        }
    }
}
#[inline(always)]
unsafe fn loadz_f32(m: u16, p: *const f32) -> __m512 {
    unsafe { _mm512_maskz_loadu_ps(m, p) }
}
#[inline(always)]
unsafe fn loadz_f64(m: u8, p: *const f64) -> __m512d {
    unsafe { _mm512_maskz_loadu_pd(m, p) }
}

tiny_impl!(
    tiny_f32,
    tiny_f32_setup,
    f32,
    __m512,
    16,
    _mm512_setzero_ps,
    _mm512_set1_ps,
    loadz_f32,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_fmadd_ps,
    _mm512_mul_ps,
    _mm512_permutex2var_ps,
    idx32,
    u16,
    bcast_col_f32
);
tiny_impl!(
    tiny_f64,
    tiny_f64_setup,
    f64,
    __m512d,
    8,
    _mm512_setzero_pd,
    _mm512_set1_pd,
    loadz_f64,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_fmadd_pd,
    _mm512_mul_pd,
    _mm512_permutex2var_pd,
    idx64,
    u8,
    bcast_col_f64
);

ctiny_impl!(
    ctiny_f32,
    ctiny_f32_setup,
    f32,
    __m512,
    16,
    _mm512_setzero_ps,
    loadz_f32,
    _mm512_fmadd_ps,
    _mm512_permutex2var_ps,
    idx32,
    u16,
    bcast_col_f32
);
ctiny_impl!(
    ctiny_f64,
    ctiny_f64_setup,
    f64,
    __m512d,
    8,
    _mm512_setzero_pd,
    loadz_f64,
    _mm512_fmadd_pd,
    _mm512_permutex2var_pd,
    idx64,
    u8,
    bcast_col_f64
);

/// Runs `range` through the tiny path; `false` (nothing done) when `plan` rejects `d`.
///
/// # Safety
/// AVX-512F available; every entry of `range` is a validated entry.
macro_rules! runner {
    ($name:ident, $r:ty, $cplx:literal, $tiny:ident, $setup:ident, $lanes:expr) => {
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn $name<F: Fn(usize) -> super::Ptrs<$r>>(
            d: &Desc<$r>,
            range: std::ops::Range<usize>,
            ptrs: &F,
        ) -> bool {
            let Some((cpv, nq)) = plan(d, $lanes, $cplx) else {
                return false;
            };
            let consts = unsafe { $setup(d, cpv) };
            macro_rules! go {
                ($nq:literal) => {
                    for p in range {
                        let (a, b, c) = ptrs(p);
                        unsafe { $tiny::<$nq>(d, cpv, consts, a, b, c) }
                    }
                };
            }
            match nq {
                1 => go!(1),
                2 => go!(2),
                3 => go!(3),
                _ => go!(4),
            }
            true
        }
    };
}
runner!(run_f32, f32, false, tiny_f32, tiny_f32_setup, 16);
runner!(run_f64, f64, false, tiny_f64, tiny_f64_setup, 8);
runner!(run_c32, f32, true, ctiny_f32, ctiny_f32_setup, 16);
runner!(run_c64, f64, true, ctiny_f64, ctiny_f64_setup, 8);
