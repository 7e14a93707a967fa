//! The alternatives a user would pick instead of tensorblas, called directly (not through
//! tensorblas): vendor CBLAS `?gemm` (OpenBLAS when built with `--features openblas`) and the
//! pure-Rust `gemm` crate.

#[cfg(any(feature = "openblas", feature = "mkl"))]
use tensorblas::DataType;
use tensorblas::Scalar;

/// A vendor BLAS compiled into this binary, if any.
pub fn vendor_name() -> Option<&'static str> {
    if cfg!(feature = "openblas") {
        Some("openblas")
    } else if cfg!(feature = "mkl") {
        Some("mkl")
    } else {
        None
    }
}

/// Sets the vendor BLAS's own thread count (no-op without a vendor).
pub fn set_vendor_threads(n: usize) {
    #[cfg(feature = "openblas")]
    {
        extern "C" {
            fn openblas_set_num_threads(n: std::ffi::c_int);
        }
        // SAFETY: a plain setter of OpenBLAS' global thread count; the sweep calls it only
        // between measurements, never while a BLAS call runs.
        unsafe { openblas_set_num_threads(n as std::ffi::c_int) };
    }
    #[cfg(feature = "mkl")]
    {
        extern "C" {
            fn MKL_Set_Num_Threads(n: std::ffi::c_int);
        }
        // SAFETY: a plain setter of MKL's global thread count, called between measurements.
        unsafe { MKL_Set_Num_Threads(n as std::ffi::c_int) };
    }
    let _ = n;
}

/// MKL's own `cblas_?gemm_batch_strided` on packed column-major NN entries (alpha 1, beta 0),
/// with MKL's global thread count as set by [`set_vendor_threads`]. `false` without MKL.
///
/// # Safety
/// `a`, `b`, `c` hold `batch` packed entries (m x k, k x n, m x n); c disjoint from a and b.
#[allow(unused_variables)]
pub unsafe fn mkl_batch_strided<T: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    a: *const T,
    b: *const T,
    c: *mut T,
    batch: usize,
) -> bool {
    #[cfg(feature = "mkl")]
    {
        use cblas_sys::{CblasColMajor, CblasNoTrans, CBLAS_LAYOUT, CBLAS_TRANSPOSE};
        use std::ffi::{c_int, c_void};
        extern "C" {
            fn cblas_sgemm_batch_strided(
                l: CBLAS_LAYOUT,
                ta: CBLAS_TRANSPOSE,
                tb: CBLAS_TRANSPOSE,
                m: c_int,
                n: c_int,
                k: c_int,
                al: f32,
                a: *const f32,
                lda: c_int,
                sa: c_int,
                b: *const f32,
                ldb: c_int,
                sb: c_int,
                be: f32,
                c: *mut f32,
                ldc: c_int,
                sc: c_int,
                batch: c_int,
            );
            fn cblas_dgemm_batch_strided(
                l: CBLAS_LAYOUT,
                ta: CBLAS_TRANSPOSE,
                tb: CBLAS_TRANSPOSE,
                m: c_int,
                n: c_int,
                k: c_int,
                al: f64,
                a: *const f64,
                lda: c_int,
                sa: c_int,
                b: *const f64,
                ldb: c_int,
                sb: c_int,
                be: f64,
                c: *mut f64,
                ldc: c_int,
                sc: c_int,
                batch: c_int,
            );
            fn cblas_cgemm_batch_strided(
                l: CBLAS_LAYOUT,
                ta: CBLAS_TRANSPOSE,
                tb: CBLAS_TRANSPOSE,
                m: c_int,
                n: c_int,
                k: c_int,
                al: *const c_void,
                a: *const c_void,
                lda: c_int,
                sa: c_int,
                b: *const c_void,
                ldb: c_int,
                sb: c_int,
                be: *const c_void,
                c: *mut c_void,
                ldc: c_int,
                sc: c_int,
                batch: c_int,
            );
            fn cblas_zgemm_batch_strided(
                l: CBLAS_LAYOUT,
                ta: CBLAS_TRANSPOSE,
                tb: CBLAS_TRANSPOSE,
                m: c_int,
                n: c_int,
                k: c_int,
                al: *const c_void,
                a: *const c_void,
                lda: c_int,
                sa: c_int,
                b: *const c_void,
                ldb: c_int,
                sb: c_int,
                be: *const c_void,
                c: *mut c_void,
                ldc: c_int,
                sc: c_int,
                batch: c_int,
            );
        }
        let (mi, ni, ki, bi) = (m as c_int, n as c_int, k as c_int, batch as c_int);
        let (sa, sb, sc) = ((m * k) as c_int, (k * n) as c_int, (m * n) as c_int);
        let (one, zero) = (T::one(), T::zero());
        let (o, z) = (
            (&one as *const T).cast::<c_void>(),
            (&zero as *const T).cast::<c_void>(),
        );
        let (nt, l) = (CblasNoTrans, CblasColMajor);
        // SAFETY: the caller's contract; T::DATATYPE names T exactly.
        unsafe {
            match T::DATATYPE {
                DataType::R32F => cblas_sgemm_batch_strided(
                    l,
                    nt,
                    nt,
                    mi,
                    ni,
                    ki,
                    1.0,
                    a.cast(),
                    mi,
                    sa,
                    b.cast(),
                    ki,
                    sb,
                    0.0,
                    c.cast(),
                    mi,
                    sc,
                    bi,
                ),
                DataType::R64F => cblas_dgemm_batch_strided(
                    l,
                    nt,
                    nt,
                    mi,
                    ni,
                    ki,
                    1.0,
                    a.cast(),
                    mi,
                    sa,
                    b.cast(),
                    ki,
                    sb,
                    0.0,
                    c.cast(),
                    mi,
                    sc,
                    bi,
                ),
                DataType::C32F => cblas_cgemm_batch_strided(
                    l,
                    nt,
                    nt,
                    mi,
                    ni,
                    ki,
                    o,
                    a.cast(),
                    mi,
                    sa,
                    b.cast(),
                    ki,
                    sb,
                    z,
                    c.cast(),
                    mi,
                    sc,
                    bi,
                ),
                DataType::C64F => cblas_zgemm_batch_strided(
                    l,
                    nt,
                    nt,
                    mi,
                    ni,
                    ki,
                    o,
                    a.cast(),
                    mi,
                    sa,
                    b.cast(),
                    ki,
                    sb,
                    z,
                    c.cast(),
                    mi,
                    sc,
                    bi,
                ),
            }
        }
        true
    }
    #[cfg(not(feature = "mkl"))]
    false
}

/// Column-major NN `C = A*B` (alpha 1, beta 0) through the vendor's CBLAS.
///
/// # Safety
/// `a` (m x k, ld m), `b` (k x n, ld k), `c` (m x n, ld m) valid; c disjoint from a and b.
#[allow(unused_variables)]
pub unsafe fn vendor_gemm<T: Scalar>(m: usize, n: usize, k: usize, a: *const T, b: *const T, c: *mut T) {
    #[cfg(any(feature = "openblas", feature = "mkl"))]
    // SAFETY: the caller's contract; T::DATATYPE names T exactly.
    unsafe {
        use cblas_sys::*;
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);
        let one = T::one();
        let zero = T::zero();
        match T::DATATYPE {
            DataType::R32F => cblas_sgemm(
                CblasColMajor,
                CblasNoTrans,
                CblasNoTrans,
                mi,
                ni,
                ki,
                1.0,
                a.cast(),
                mi,
                b.cast(),
                ki,
                0.0,
                c.cast(),
                mi,
            ),
            DataType::R64F => cblas_dgemm(
                CblasColMajor,
                CblasNoTrans,
                CblasNoTrans,
                mi,
                ni,
                ki,
                1.0,
                a.cast(),
                mi,
                b.cast(),
                ki,
                0.0,
                c.cast(),
                mi,
            ),
            DataType::C32F => cblas_cgemm(
                CblasColMajor,
                CblasNoTrans,
                CblasNoTrans,
                mi,
                ni,
                ki,
                (&one as *const T).cast(),
                a.cast(),
                mi,
                b.cast(),
                ki,
                (&zero as *const T).cast(),
                c.cast(),
                mi,
            ),
            DataType::C64F => cblas_zgemm(
                CblasColMajor,
                CblasNoTrans,
                CblasNoTrans,
                mi,
                ni,
                ki,
                (&one as *const T).cast(),
                a.cast(),
                mi,
                b.cast(),
                ki,
                (&zero as *const T).cast(),
                c.cast(),
                mi,
            ),
        }
    }
    #[cfg(not(any(feature = "openblas", feature = "mkl")))]
    unreachable!("no vendor BLAS compiled in");
}

/// Column-major NN `C = A*B` through the `gemm` crate (single-threaded).
///
/// # Safety
/// As [`vendor_gemm`].
pub unsafe fn gemm_crate<T: Scalar>(m: usize, n: usize, k: usize, a: *const T, b: *const T, c: *mut T) {
    // SAFETY: the caller's contract; read_dst = false never reads C.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            m as isize,
            1,
            false,
            a,
            m as isize,
            1,
            b,
            k as isize,
            1,
            T::zero(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}
