//! The alternatives a user would pick instead of tensorblas, called directly (not through
//! tensorblas): vendor CBLAS `?gemm` (OpenBLAS when built with `--features openblas`) and the
//! pure-Rust `gemm` crate.

#[cfg(feature = "openblas")]
use tensorblas::DataType;
use tensorblas::Scalar;

/// A vendor BLAS compiled into this binary, if any.
pub fn vendor_name() -> Option<&'static str> {
    if cfg!(feature = "openblas") {
        Some("openblas")
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
    let _ = n;
}

/// Column-major NN `C = A*B` (alpha 1, beta 0) through the vendor's CBLAS.
///
/// # Safety
/// `a` (m x k, ld m), `b` (k x n, ld k), `c` (m x n, ld m) valid; c disjoint from a and b.
#[allow(unused_variables)]
pub unsafe fn vendor_gemm<T: Scalar>(m: usize, n: usize, k: usize, a: *const T, b: *const T, c: *mut T) {
    #[cfg(feature = "openblas")]
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
    #[cfg(not(feature = "openblas"))]
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
