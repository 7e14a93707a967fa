//! A minimal SIMD vocabulary for the small-matrix kernels: one trait, one implementation per
//! (instruction set, real type). Every method is `#[inline(always)]` so that the generic kernel
//! is compiled into each `#[target_feature]` entry point with that entry point's instructions.
//!
//! Complex data is handled on its real lanes (re, im interleaved); `swap_pairs` and
//! `neg_even` are the two extra shuffles complex arithmetic needs.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Real element type of a kernel.
pub(crate) trait Real:
    Copy + Default + PartialEq + Send + Sync + std::ops::Neg<Output = Self> + 'static
{
    const ZERO: Self;
    const ONE: Self;
    /// The nearest value of this type.
    fn from_f64(x: f64) -> Self;
}
impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
}
impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn from_f64(x: f64) -> Self {
        x
    }
}

/// Vector operations on `LANES` lanes of `R`. All methods are unsafe: the caller guarantees the
/// instruction set is available and that pointers are valid for the lanes touched.
pub(crate) trait Simd: Copy {
    type R: Real;
    type V: Copy;
    /// The instruction set's kernels at half the vector width where that halves their cost
    /// (AVX-512: the AVX2 ones), else the same kernels (see `tuning::half_tail`).
    type Half: Simd<R = Self::R>;
    const LANES: usize;
    unsafe fn zero() -> Self::V;
    unsafe fn splat(x: Self::R) -> Self::V;
    /// Loads the first `n <= LANES` lanes from `p` (others zero); touches no memory past them.
    unsafe fn load(p: *const Self::R, n: usize) -> Self::V;
    /// Stores the first `n <= LANES` lanes to `p`; touches no memory past them.
    unsafe fn store(p: *mut Self::R, v: Self::V, n: usize);
    /// Stores all lanes to `p` with non-temporal stores (past the caches, without reading the
    /// line first) where `p` is 16-byte aligned: one store of the whole vector where it is
    /// aligned to its width, else one per 16 bytes (lines written in address order combine in
    /// the write-combining buffers); an ordinary store otherwise. See `stream.rs`.
    #[inline(always)]
    unsafe fn store_nt(p: *mut Self::R, v: Self::V) {
        // SAFETY: the caller guarantees LANES writable elements.
        unsafe { Self::store(p, v, Self::LANES) }
    }
    /// `a * b + c`.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// Swaps lanes 2i and 2i+1.
    unsafe fn swap_pairs(v: Self::V) -> Self::V;
    /// Negates the even lanes (the real parts of complex pairs).
    unsafe fn neg_even(v: Self::V) -> Self::V;
    /// Lane `i` of `v` written to an array (for scattered stores).
    unsafe fn to_array(v: Self::V, out: &mut [Self::R; 16]);
    /// Transposes four unit-stride columns of `len` elements into rows of a packed panel:
    /// `dst[l*ld + j] = cols[j][l]` for `j < 4`, `l < len` (the packed engine's B micro-panels
    /// from a column-major B). Reads `len` elements of each column; writes four elements of each
    /// of `len` rows. The x86 implementations transpose 4x8 (f32) or 4x4 (f64) blocks in
    /// registers; this default moves one element at a time.
    #[inline(always)]
    unsafe fn pack_cols4(cols: [*const Self::R; 4], len: usize, dst: *mut Self::R, ld: usize) {
        // SAFETY: the caller guarantees `len` readable elements per column and the rows of dst.
        unsafe { pack_cols4_scalar(cols, 0, len, dst, ld) }
    }
}

/// Hints the cache to fetch the line holding `p`: into L1, or into L2 only (`L2`; the packed
/// engine's in-place depth loop's look-ahead, while the L1 holds the tile's A and B). No effect
/// on correctness; never faults. Used by both engines (the small kernels' blocks: into L1).
#[inline(always)]
pub(crate) fn prefetch<const L2: bool, R>(p: *const R) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint; it never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0, _MM_HINT_T1};
        if L2 {
            _mm_prefetch::<_MM_HINT_T1>(p.cast())
        } else {
            _mm_prefetch::<_MM_HINT_T0>(p.cast())
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// `pack_cols4` for the rows `l0..len`, one element at a time.
#[inline(always)]
unsafe fn pack_cols4_scalar<R: Copy>(cols: [*const R; 4], l0: usize, len: usize, dst: *mut R, ld: usize) {
    // SAFETY: as `Simd::pack_cols4`.
    unsafe {
        for l in l0..len {
            let row = dst.add(l * ld);
            for (j, c) in cols.iter().enumerate() {
                *row.add(j) = *c.add(l);
            }
        }
    }
}

/// Portable fallback: 4 lanes in an array (LLVM vectorises it with the baseline SSE2).
#[derive(Clone, Copy)]
pub(crate) struct Portable<R>(std::marker::PhantomData<R>);

macro_rules! portable {
    ($r:ty) => {
        impl Simd for Portable<$r> {
            type R = $r;
            type V = [$r; 4];
            type Half = Self;
            const LANES: usize = 4;
            #[inline(always)]
            unsafe fn zero() -> Self::V {
                [0.0; 4]
            }
            #[inline(always)]
            unsafe fn splat(x: $r) -> Self::V {
                [x; 4]
            }
            #[inline(always)]
            unsafe fn load(p: *const $r, n: usize) -> Self::V {
                let mut v = [0.0; 4];
                for (i, x) in v.iter_mut().enumerate().take(n) {
                    // SAFETY: the caller guarantees lanes 0..n are readable.
                    *x = unsafe { *p.add(i) };
                }
                v
            }
            #[inline(always)]
            unsafe fn store(p: *mut $r, v: Self::V, n: usize) {
                for (i, x) in v.iter().enumerate().take(n) {
                    // SAFETY: the caller guarantees lanes 0..n are writable.
                    unsafe { *p.add(i) = *x };
                }
            }
            #[inline(always)]
            unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
                [
                    a[0] * b[0] + c[0],
                    a[1] * b[1] + c[1],
                    a[2] * b[2] + c[2],
                    a[3] * b[3] + c[3],
                ]
            }
            #[inline(always)]
            unsafe fn mul(a: Self::V, b: Self::V) -> Self::V {
                [a[0] * b[0], a[1] * b[1], a[2] * b[2], a[3] * b[3]]
            }
            #[inline(always)]
            unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
                [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
            }
            #[inline(always)]
            unsafe fn swap_pairs(v: Self::V) -> Self::V {
                [v[1], v[0], v[3], v[2]]
            }
            #[inline(always)]
            unsafe fn neg_even(v: Self::V) -> Self::V {
                [-v[0], v[1], -v[2], v[3]]
            }
            #[inline(always)]
            unsafe fn to_array(v: Self::V, out: &mut [$r; 16]) {
                out[..4].copy_from_slice(&v);
            }
        }
    };
}
portable!(f32);
portable!(f64);

/// AVX2 + FMA, 256-bit.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx2<R>(std::marker::PhantomData<R>);

/// AVX-512F, 512-bit.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx512<R>(std::marker::PhantomData<R>);

// SAFETY (for every unsafe block in the x86 implementations below): the trait contract makes the
// caller guarantee the instruction set and the validity of the lanes touched; masked loads and
// stores do not touch masked-off lanes.
#[cfg(target_arch = "x86_64")]
mod x86 {
    #![allow(clippy::undocumented_unsafe_blocks)]
    use super::*;

    #[inline(always)]
    unsafe fn mask8_32(n: usize) -> __m256i {
        const M: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
        unsafe { _mm256_loadu_si256(M.as_ptr().add(8 - n) as *const __m256i) }
    }

    #[inline(always)]
    unsafe fn mask4_64(n: usize) -> __m256i {
        const M: [i64; 8] = [-1, -1, -1, -1, 0, 0, 0, 0];
        unsafe { _mm256_loadu_si256(M.as_ptr().add(4 - n) as *const __m256i) }
    }

    /// `Simd::pack_cols4` for f32 with AVX: eight rows at a time, two 4x4 transposes in the
    /// two 128-bit lanes (unpack, then shuffle), stored as eight 16-byte rows.
    #[inline(always)]
    unsafe fn pack_cols4_f32(cols: [*const f32; 4], len: usize, dst: *mut f32, ld: usize) {
        unsafe {
            let mut l = 0;
            while l + 8 <= len {
                let r0 = _mm256_loadu_ps(cols[0].add(l));
                let r1 = _mm256_loadu_ps(cols[1].add(l));
                let r2 = _mm256_loadu_ps(cols[2].add(l));
                let r3 = _mm256_loadu_ps(cols[3].add(l));
                let t0 = _mm256_unpacklo_ps(r0, r1); // a0 b0 a1 b1 | a4 b4 a5 b5
                let t1 = _mm256_unpackhi_ps(r0, r1); // a2 b2 a3 b3 | a6 b6 a7 b7
                let t2 = _mm256_unpacklo_ps(r2, r3); // c0 d0 c1 d1 | c4 d4 c5 d5
                let t3 = _mm256_unpackhi_ps(r2, r3); // c2 d2 c3 d3 | c6 d6 c7 d7
                let u = [
                    _mm256_shuffle_ps::<0x44>(t0, t2), // row 0 | row 4
                    _mm256_shuffle_ps::<0xEE>(t0, t2), // row 1 | row 5
                    _mm256_shuffle_ps::<0x44>(t1, t3), // row 2 | row 6
                    _mm256_shuffle_ps::<0xEE>(t1, t3), // row 3 | row 7
                ];
                for (i, v) in u.into_iter().enumerate() {
                    _mm_storeu_ps(dst.add((l + i) * ld), _mm256_castps256_ps128(v));
                    _mm_storeu_ps(dst.add((l + 4 + i) * ld), _mm256_extractf128_ps::<1>(v));
                }
                l += 8;
            }
            pack_cols4_scalar(cols, l, len, dst, ld);
        }
    }

    /// `Simd::pack_cols4` for f64 with AVX: four rows at a time, a 4x4 transpose (unpack, then
    /// exchange 128-bit halves), stored as four 32-byte rows.
    #[inline(always)]
    unsafe fn pack_cols4_f64(cols: [*const f64; 4], len: usize, dst: *mut f64, ld: usize) {
        unsafe {
            let mut l = 0;
            while l + 4 <= len {
                let r0 = _mm256_loadu_pd(cols[0].add(l));
                let r1 = _mm256_loadu_pd(cols[1].add(l));
                let r2 = _mm256_loadu_pd(cols[2].add(l));
                let r3 = _mm256_loadu_pd(cols[3].add(l));
                let t0 = _mm256_unpacklo_pd(r0, r1); // a0 b0 | a2 b2
                let t1 = _mm256_unpackhi_pd(r0, r1); // a1 b1 | a3 b3
                let t2 = _mm256_unpacklo_pd(r2, r3); // c0 d0 | c2 d2
                let t3 = _mm256_unpackhi_pd(r2, r3); // c1 d1 | c3 d3
                _mm256_storeu_pd(dst.add(l * ld), _mm256_permute2f128_pd::<0x20>(t0, t2));
                _mm256_storeu_pd(dst.add((l + 1) * ld), _mm256_permute2f128_pd::<0x20>(t1, t3));
                _mm256_storeu_pd(dst.add((l + 2) * ld), _mm256_permute2f128_pd::<0x31>(t0, t2));
                _mm256_storeu_pd(dst.add((l + 3) * ld), _mm256_permute2f128_pd::<0x31>(t1, t3));
                l += 4;
            }
            pack_cols4_scalar(cols, l, len, dst, ld);
        }
    }

    impl Simd for Avx2<f32> {
        type R = f32;
        type V = __m256;
        type Half = Self;
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn zero() -> __m256 {
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m256 {
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32, n: usize) -> __m256 {
            unsafe {
                if n == 8 {
                    _mm256_loadu_ps(p)
                } else {
                    _mm256_maskload_ps(p, mask8_32(n))
                }
            }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m256, n: usize) {
            unsafe {
                if n == 8 {
                    _mm256_storeu_ps(p, v)
                } else {
                    _mm256_maskstore_ps(p, mask8_32(n), v)
                }
            }
        }
        #[inline(always)]
        unsafe fn store_nt(p: *mut f32, v: __m256) {
            unsafe {
                match p as usize % 32 {
                    0 => _mm256_stream_ps(p, v),
                    16 => {
                        _mm_stream_ps(p, _mm256_castps256_ps128(v));
                        _mm_stream_ps(p.add(4), _mm256_extractf128_ps::<1>(v));
                    }
                    _ => _mm256_storeu_ps(p, v),
                }
            }
        }
        #[inline(always)]
        unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn mul(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_mul_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn add(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn swap_pairs(v: __m256) -> __m256 {
            unsafe { _mm256_permute_ps::<0b1011_0001>(v) }
        }
        #[inline(always)]
        unsafe fn neg_even(v: __m256) -> __m256 {
            unsafe { _mm256_xor_ps(v, _mm256_setr_ps(-0.0, 0.0, -0.0, 0.0, -0.0, 0.0, -0.0, 0.0)) }
        }
        #[inline(always)]
        unsafe fn to_array(v: __m256, out: &mut [f32; 16]) {
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) }
        }
        #[inline(always)]
        unsafe fn pack_cols4(cols: [*const Self::R; 4], len: usize, dst: *mut Self::R, ld: usize) {
            unsafe { pack_cols4_f32(cols, len, dst, ld) }
        }
    }

    impl Simd for Avx2<f64> {
        type R = f64;
        type V = __m256d;
        type Half = Self;
        const LANES: usize = 4;
        #[inline(always)]
        unsafe fn zero() -> __m256d {
            unsafe { _mm256_setzero_pd() }
        }
        #[inline(always)]
        unsafe fn splat(x: f64) -> __m256d {
            unsafe { _mm256_set1_pd(x) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f64, n: usize) -> __m256d {
            unsafe {
                if n == 4 {
                    _mm256_loadu_pd(p)
                } else {
                    _mm256_maskload_pd(p, mask4_64(n))
                }
            }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f64, v: __m256d, n: usize) {
            unsafe {
                if n == 4 {
                    _mm256_storeu_pd(p, v)
                } else {
                    _mm256_maskstore_pd(p, mask4_64(n), v)
                }
            }
        }
        #[inline(always)]
        unsafe fn store_nt(p: *mut f64, v: __m256d) {
            unsafe {
                match p as usize % 32 {
                    0 => _mm256_stream_pd(p, v),
                    16 => {
                        _mm_stream_pd(p, _mm256_castpd256_pd128(v));
                        _mm_stream_pd(p.add(2), _mm256_extractf128_pd::<1>(v));
                    }
                    _ => _mm256_storeu_pd(p, v),
                }
            }
        }
        #[inline(always)]
        unsafe fn fma(a: __m256d, b: __m256d, c: __m256d) -> __m256d {
            unsafe { _mm256_fmadd_pd(a, b, c) }
        }
        #[inline(always)]
        unsafe fn mul(a: __m256d, b: __m256d) -> __m256d {
            unsafe { _mm256_mul_pd(a, b) }
        }
        #[inline(always)]
        unsafe fn add(a: __m256d, b: __m256d) -> __m256d {
            unsafe { _mm256_add_pd(a, b) }
        }
        #[inline(always)]
        unsafe fn swap_pairs(v: __m256d) -> __m256d {
            unsafe { _mm256_permute_pd::<0b0101>(v) }
        }
        #[inline(always)]
        unsafe fn neg_even(v: __m256d) -> __m256d {
            unsafe { _mm256_xor_pd(v, _mm256_setr_pd(-0.0, 0.0, -0.0, 0.0)) }
        }
        #[inline(always)]
        unsafe fn to_array(v: __m256d, out: &mut [f64; 16]) {
            unsafe { _mm256_storeu_pd(out.as_mut_ptr(), v) }
        }
        #[inline(always)]
        unsafe fn pack_cols4(cols: [*const Self::R; 4], len: usize, dst: *mut Self::R, ld: usize) {
            unsafe { pack_cols4_f64(cols, len, dst, ld) }
        }
    }

    #[inline(always)]
    fn kmask(n: usize, lanes: usize) -> u16 {
        if n >= lanes {
            (((1u32 << lanes) - 1) & 0xffff) as u16
        } else {
            ((1u32 << n) - 1) as u16
        }
    }

    impl Simd for Avx512<f32> {
        type R = f32;
        type V = __m512;
        type Half = Avx2<f32>;
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn zero() -> __m512 {
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m512 {
            unsafe { _mm512_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32, n: usize) -> __m512 {
            unsafe {
                if n == 16 {
                    _mm512_loadu_ps(p)
                } else {
                    _mm512_maskz_loadu_ps(kmask(n, 16), p)
                }
            }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m512, n: usize) {
            unsafe {
                if n == 16 {
                    _mm512_storeu_ps(p, v)
                } else {
                    _mm512_mask_storeu_ps(p, kmask(n, 16), v)
                }
            }
        }
        #[inline(always)]
        unsafe fn store_nt(p: *mut f32, v: __m512) {
            unsafe {
                let a = p as usize;
                if a.is_multiple_of(64) {
                    _mm512_stream_ps(p, v)
                } else if a.is_multiple_of(16) {
                    _mm_stream_ps(p, _mm512_castps512_ps128(v));
                    _mm_stream_ps(p.add(4), _mm512_extractf32x4_ps::<1>(v));
                    _mm_stream_ps(p.add(8), _mm512_extractf32x4_ps::<2>(v));
                    _mm_stream_ps(p.add(12), _mm512_extractf32x4_ps::<3>(v));
                } else {
                    _mm512_storeu_ps(p, v)
                }
            }
        }
        #[inline(always)]
        unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn mul(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_mul_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn add(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn swap_pairs(v: __m512) -> __m512 {
            unsafe { _mm512_permute_ps::<0b1011_0001>(v) }
        }
        #[inline(always)]
        unsafe fn neg_even(v: __m512) -> __m512 {
            // Flip the sign bit of even lanes (AVX-512F has no float xor: use the integer one).
            unsafe {
                _mm512_castsi512_ps(_mm512_xor_si512(
                    _mm512_castps_si512(v),
                    _mm512_set1_epi64(0x0000_0000_8000_0000u64 as i64),
                ))
            }
        }
        #[inline(always)]
        unsafe fn to_array(v: __m512, out: &mut [f32; 16]) {
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), v) }
        }
        #[inline(always)]
        unsafe fn pack_cols4(cols: [*const Self::R; 4], len: usize, dst: *mut Self::R, ld: usize) {
            unsafe { pack_cols4_f32(cols, len, dst, ld) }
        }
    }

    impl Simd for Avx512<f64> {
        type R = f64;
        type V = __m512d;
        type Half = Avx2<f64>;
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn zero() -> __m512d {
            unsafe { _mm512_setzero_pd() }
        }
        #[inline(always)]
        unsafe fn splat(x: f64) -> __m512d {
            unsafe { _mm512_set1_pd(x) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f64, n: usize) -> __m512d {
            unsafe {
                if n == 8 {
                    _mm512_loadu_pd(p)
                } else {
                    _mm512_maskz_loadu_pd(kmask(n, 8) as u8, p)
                }
            }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f64, v: __m512d, n: usize) {
            unsafe {
                if n == 8 {
                    _mm512_storeu_pd(p, v)
                } else {
                    _mm512_mask_storeu_pd(p, kmask(n, 8) as u8, v)
                }
            }
        }
        #[inline(always)]
        unsafe fn store_nt(p: *mut f64, v: __m512d) {
            unsafe {
                let a = p as usize;
                if a.is_multiple_of(64) {
                    _mm512_stream_pd(p, v)
                } else if a.is_multiple_of(16) {
                    // The f32 view's 128-bit extracts (AVX-512F; the f64 ones need DQ).
                    let (q, w) = (p.cast::<f32>(), _mm512_castpd_ps(v));
                    _mm_stream_ps(q, _mm512_castps512_ps128(w));
                    _mm_stream_ps(q.add(4), _mm512_extractf32x4_ps::<1>(w));
                    _mm_stream_ps(q.add(8), _mm512_extractf32x4_ps::<2>(w));
                    _mm_stream_ps(q.add(12), _mm512_extractf32x4_ps::<3>(w));
                } else {
                    _mm512_storeu_pd(p, v)
                }
            }
        }
        #[inline(always)]
        unsafe fn fma(a: __m512d, b: __m512d, c: __m512d) -> __m512d {
            unsafe { _mm512_fmadd_pd(a, b, c) }
        }
        #[inline(always)]
        unsafe fn mul(a: __m512d, b: __m512d) -> __m512d {
            unsafe { _mm512_mul_pd(a, b) }
        }
        #[inline(always)]
        unsafe fn add(a: __m512d, b: __m512d) -> __m512d {
            unsafe { _mm512_add_pd(a, b) }
        }
        #[inline(always)]
        unsafe fn swap_pairs(v: __m512d) -> __m512d {
            unsafe { _mm512_permute_pd::<0b0101_0101>(v) }
        }
        #[inline(always)]
        unsafe fn neg_even(v: __m512d) -> __m512d {
            unsafe {
                _mm512_castsi512_pd(_mm512_xor_si512(
                    _mm512_castpd_si512(v),
                    _mm512_setr_epi64(i64::MIN, 0, i64::MIN, 0, i64::MIN, 0, i64::MIN, 0),
                ))
            }
        }
        #[inline(always)]
        unsafe fn to_array(v: __m512d, out: &mut [f64; 16]) {
            unsafe { _mm512_storeu_pd(out.as_mut_ptr(), v) }
        }
        #[inline(always)]
        unsafe fn pack_cols4(cols: [*const Self::R; 4], len: usize, dst: *mut Self::R, ld: usize) {
            unsafe { pack_cols4_f64(cols, len, dst, ld) }
        }
    }
}
