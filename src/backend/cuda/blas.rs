//! cuBLAS: the BLAS form of a job and the `cublas?gemm*` calls.

use super::context::*;
use crate::error::Result;
use crate::job::{BlasForm, Entries, Job, Op};
use crate::scalar::{DataType, Scalar};
use cudarc::cublas::sys as bsys;

/// cuBLAS's operation for an operand of the BLAS form.
fn cu_op(op: Op) -> bsys::cublasOperation_t {
    use bsys::cublasOperation_t::*;
    match op {
        Op::N => CUBLAS_OP_N,
        Op::T => CUBLAS_OP_T,
        Op::C => CUBLAS_OP_C,
    }
}

/// How cuBLAS can run `job`, if it can: the job's BLAS form ([`Job::blas_form`]: C column- or
/// row-major, A and B each N/T/C with a legal leading dimension) with non-negative batch
/// strides.
pub(crate) fn blas_form<T: Scalar>(job: &Job<'_, T>) -> Option<BlasForm> {
    if let Entries::Strided { bs_a, bs_b, bs_c, .. } = job.entries() {
        if bs_a < 0 || bs_b < 0 || bs_c < 0 {
            return None;
        }
    }
    job.blas_form()
}

/// `cublas?gemm` / `cublas?gemmStridedBatched` (or their `_64` forms when a size exceeds int32).
///
/// # Safety
/// Every pointer must be a device address cuBLAS may access as described; `alpha`/`beta` host.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_strided<T: Scalar>(
    h: bsys::cublasHandle_t,
    small: bool,
    (ta, tb): (bsys::cublasOperation_t, bsys::cublasOperation_t),
    (m, n, k): (i64, i64, i64),
    alpha: &T,
    (a, lda, sa): (*const T, i64, i64),
    (b, ldb, sb): (*const T, i64, i64),
    beta: &T,
    (c, ldc, sc): (*mut T, i64, i64),
    batch: i64,
) -> bsys::cublasStatus_t {
    macro_rules! call {
        ($one:ident, $one64:ident, $many:ident, $many64:ident, $t:ty) => {{
            let (al, be) = (alpha as *const T as *const $t, beta as *const T as *const $t);
            let (a, b, c) = (a as *const $t, b as *const $t, c as *mut $t);
            // SAFETY: forwarded from the caller.
            unsafe {
                match (batch == 1, small) {
                    (true, true) => bsys::$one(
                        h, ta, tb, m as i32, n as i32, k as i32, al, a, lda as i32, b, ldb as i32, be, c, ldc as i32,
                    ),
                    (true, false) => bsys::$one64(h, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc),
                    (false, true) => bsys::$many(
                        h,
                        ta,
                        tb,
                        m as i32,
                        n as i32,
                        k as i32,
                        al,
                        a,
                        lda as i32,
                        sa,
                        b,
                        ldb as i32,
                        sb,
                        be,
                        c,
                        ldc as i32,
                        sc,
                        batch as i32,
                    ),
                    (false, false) => {
                        bsys::$many64(h, ta, tb, m, n, k, al, a, lda, sa, b, ldb, sb, be, c, ldc, sc, batch)
                    }
                }
            }
        }};
    }
    match T::DATATYPE {
        DataType::R32F => call!(
            cublasSgemm_v2,
            cublasSgemm_v2_64,
            cublasSgemmStridedBatched,
            cublasSgemmStridedBatched_64,
            f32
        ),
        DataType::R64F => call!(
            cublasDgemm_v2,
            cublasDgemm_v2_64,
            cublasDgemmStridedBatched,
            cublasDgemmStridedBatched_64,
            f64
        ),
        DataType::C32F => call!(
            cublasCgemm_v2,
            cublasCgemm_v2_64,
            cublasCgemmStridedBatched,
            cublasCgemmStridedBatched_64,
            bsys::cuComplex
        ),
        DataType::C64F => call!(
            cublasZgemm_v2,
            cublasZgemm_v2_64,
            cublasZgemmStridedBatched,
            cublasZgemmStridedBatched_64,
            bsys::cuDoubleComplex
        ),
    }
}

/// `cublas?gemmBatched` (or `_64`) on device arrays of device pointers.
///
/// # Safety
/// As for [`gemm_strided`]; `a`, `b`, `c` are device addresses of `batch` device pointers.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_batched<T: Scalar>(
    h: bsys::cublasHandle_t,
    small: bool,
    (ta, tb): (bsys::cublasOperation_t, bsys::cublasOperation_t),
    (m, n, k): (i64, i64, i64),
    alpha: &T,
    (a, lda): (u64, i64),
    (b, ldb): (u64, i64),
    beta: &T,
    (c, ldc): (u64, i64),
    batch: i64,
) -> bsys::cublasStatus_t {
    macro_rules! call {
        ($f:ident, $f64:ident, $t:ty) => {{
            let (al, be) = (alpha as *const T as *const $t, beta as *const T as *const $t);
            let (a, b, c) = (a as *const *const $t, b as *const *const $t, c as *const *mut $t);
            // SAFETY: forwarded from the caller.
            unsafe {
                if small {
                    bsys::$f(
                        h,
                        ta,
                        tb,
                        m as i32,
                        n as i32,
                        k as i32,
                        al,
                        a,
                        lda as i32,
                        b,
                        ldb as i32,
                        be,
                        c,
                        ldc as i32,
                        batch as i32,
                    )
                } else {
                    bsys::$f64(h, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc, batch)
                }
            }
        }};
    }
    match T::DATATYPE {
        DataType::R32F => call!(cublasSgemmBatched, cublasSgemmBatched_64, f32),
        DataType::R64F => call!(cublasDgemmBatched, cublasDgemmBatched_64, f64),
        DataType::C32F => call!(cublasCgemmBatched, cublasCgemmBatched_64, bsys::cuComplex),
        DataType::C64F => call!(cublasZgemmBatched, cublasZgemmBatched_64, bsys::cuDoubleComplex),
    }
}

impl Gpu {
    pub(super) fn cublas<T: Scalar>(&self, st: &State, job: &Job<'_, T>, f: &BlasForm) -> Result<()> {
        let h = st.blas;
        let (alpha, beta) = (job.alpha(), job.beta());
        let (m, n, k) = (f.m as i64, f.n as i64, job.k() as i64);
        match job.entries() {
            Entries::Strided {
                a,
                b,
                c,
                bs_a,
                bs_b,
                bs_c,
                count,
                ..
            } => {
                let (x, y) = if f.swap { (b, a) } else { (a, b) };
                let (sx, sy) = if f.swap { (bs_b, bs_a) } else { (bs_a, bs_b) };
                let (ldx, ldy, ldc) = (f.x.ld as i64, f.y.ld as i64, f.ldc as i64);
                let dims = [m, n, k, ldx, ldy, ldc, count as i64];
                let small = dims.iter().all(|&d| d <= i32::MAX as i64);
                // SAFETY: the job was validated (addresses in bounds, C injective and disjoint
                // from A and B); `blas_form` established cuBLAS's ld rules (ld >= rows, >= 1),
                // unit element strides and non-negative batch strides; alpha/beta are host
                // values on this stack frame (pointer mode host).
                let r = unsafe {
                    gemm_strided::<T>(
                        h,
                        small,
                        (cu_op(f.x.op), cu_op(f.y.op)),
                        (m, n, k),
                        &alpha,
                        (x, ldx, sx as i64),
                        (y, ldy, sy as i64),
                        &beta,
                        (c, ldc, bs_c as i64),
                        count as i64,
                    )
                };
                blas("cuBLAS gemm (strided batched)", r)
            }
            Entries::Array { a, b, c } => {
                let d = PointerArrays::upload(st.stream, self.pools, a, b, c)?;
                let (x, y) = if f.swap { (d.b(), d.a()) } else { (d.a(), d.b()) };
                let (ldx, ldy, ldc) = (f.x.ld as i64, f.y.ld as i64, f.ldc as i64);
                let dims = [m, n, k, ldx, ldy, ldc, c.len() as i64];
                let small = dims.iter().all(|&v| v <= i32::MAX as i64);
                // SAFETY: as for the strided case; the pointer arrays were copied to device
                // memory on this stream and are freed in stream order after the call.
                let r = unsafe {
                    gemm_batched::<T>(
                        h,
                        small,
                        (cu_op(f.x.op), cu_op(f.y.op)),
                        (m, n, k),
                        &alpha,
                        (x, ldx),
                        (y, ldy),
                        &beta,
                        (d.c(), ldc),
                        c.len() as i64,
                    )
                };
                d.release(st.stream);
                blas("cuBLAS gemm (pointer-array batched)", r)
            }
        }
    }
}
