//! The 16 exported GEMM functions: one short line per type, each calling the one generic body.
//! (cbindgen cannot see macro-generated functions, so they are written out.)
#![allow(non_snake_case)]

use super::{guard, handle_of, tblas_complex_double, tblas_complex_float, tblas_handle, tblas_operation, tblas_status};
use crate::scalar::Scalar;
use crate::validate::{Base, Bounds, Call, Family, Operand, Refs};
use num_complex::{Complex32, Complex64};

/// Reads a host scalar passed by pointer (NULL gives `None`).
///
/// # Safety
/// `p` must be NULL or valid for reading one `T`.
unsafe fn scalar<T: Scalar>(p: *const T) -> Option<T> {
    // SAFETY: non-NULL checked; the caller guarantees readability. Unaligned reads are fine.
    (!p.is_null()).then(|| unsafe { p.read_unaligned() })
}

/// Copies a caller's pointer array (`None` for a NULL array). Only called for arrays that are
/// referenced, with `count > 0`.
///
/// # Safety
/// `arr` must be NULL or valid for reading `count` pointers.
unsafe fn pointer_array<P: Copy>(arr: *const P, count: i64, referenced: bool) -> Option<Vec<P>> {
    if arr.is_null() {
        return None;
    }
    if !referenced || count <= 0 {
        return Some(Vec::new());
    }
    // SAFETY: non-NULL; the caller guarantees `count` readable entries (read unaligned).
    Some(
        (0..count as usize)
            .map(|i| unsafe { arr.add(i).read_unaligned() })
            .collect(),
    )
}

/// One matrix operand as a C caller passes it: origin, row stride, column stride, batch stride.
type View<P> = (P, i64, i64, i64);

/// The one body of `tblas_Tgemm`, `tblas_Tgemm_strided_batched` and
/// `tblas_Tgemm_strided_batched_ex` (`family` names the function and fixes the argument
/// positions its errors report); the first two are the general-stride form with `rs = 1`.
///
/// # Safety
/// `alpha`, `beta` and the operands' origins are what the exported function received (NULL or
/// valid for what the call addresses).
#[allow(clippy::too_many_arguments)]
unsafe fn general<T: Scalar>(
    h: *mut tblas_handle,
    family: Family,
    transa: i32,
    transb: i32,
    (m, n, k): (i64, i64, i64),
    alpha: *const T,
    a: View<*const T>,
    b: View<*const T>,
    beta: *const T,
    c: View<*mut T>,
    batch: i64,
) -> tblas_status {
    let f = T::GEMM_NAMES[family as usize];
    guard(f, || {
        let handle = handle_of(h, f)?;
        fn operand<P>((base, rs, cs, bs): View<P>) -> Operand<'static, P> {
            Operand {
                base: Base::Ptr(base),
                rs,
                cs,
                bs,
                bounds: Bounds::None,
            }
        }
        let call = Call {
            family,
            transa,
            transb,
            m,
            n,
            k,
            // SAFETY: the caller passes NULL or a readable scalar.
            alpha: unsafe { scalar(alpha) },
            a: operand(a),
            b: operand(b),
            // SAFETY: as for alpha.
            beta: unsafe { scalar(beta) },
            c: operand(c),
            batch,
        };
        handle.run_call(&call)
    })
}

/// Body of `tblas_Tgemm`.
///
/// # Safety
/// As for [`general`].
#[allow(clippy::too_many_arguments)]
unsafe fn gemm<T: Scalar>(
    h: *mut tblas_handle,
    transa: i32,
    transb: i32,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const T,
    a: *const T,
    lda: i64,
    b: *const T,
    ldb: i64,
    beta: *const T,
    c: *mut T,
    ldc: i64,
) -> tblas_status {
    let (va, vb, vc) = ((a, 1, lda, 0), (b, 1, ldb, 0), (c, 1, ldc, 0));
    // SAFETY: the caller's contract, forwarded.
    unsafe { general(h, Family::Gemm, transa, transb, (m, n, k), alpha, va, vb, beta, vc, 1) }
}

/// Body of `tblas_Tgemm_strided_batched`.
///
/// # Safety
/// As for [`general`].
#[allow(clippy::too_many_arguments)]
unsafe fn strided<T: Scalar>(
    h: *mut tblas_handle,
    transa: i32,
    transb: i32,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const T,
    a: *const T,
    lda: i64,
    sa: i64,
    b: *const T,
    ldb: i64,
    sb: i64,
    beta: *const T,
    c: *mut T,
    ldc: i64,
    sc: i64,
    batch: i64,
) -> tblas_status {
    let (va, vb, vc) = ((a, 1, lda, sa), (b, 1, ldb, sb), (c, 1, ldc, sc));
    // SAFETY: the caller's contract, forwarded.
    unsafe {
        general(
            h,
            Family::Strided,
            transa,
            transb,
            (m, n, k),
            alpha,
            va,
            vb,
            beta,
            vc,
            batch,
        )
    }
}

/// Body of `tblas_Tgemm_strided_batched_ex`.
///
/// # Safety
/// As for [`general`].
#[allow(clippy::too_many_arguments)]
unsafe fn strided_ex<T: Scalar>(
    h: *mut tblas_handle,
    transa: i32,
    transb: i32,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const T,
    a: *const T,
    rs_a: i64,
    cs_a: i64,
    bs_a: i64,
    b: *const T,
    rs_b: i64,
    cs_b: i64,
    bs_b: i64,
    beta: *const T,
    c: *mut T,
    rs_c: i64,
    cs_c: i64,
    bs_c: i64,
    batch: i64,
) -> tblas_status {
    let (va, vb, vc) = ((a, rs_a, cs_a, bs_a), (b, rs_b, cs_b, bs_b), (c, rs_c, cs_c, bs_c));
    // SAFETY: the caller's contract, forwarded.
    unsafe { general(h, Family::Ex, transa, transb, (m, n, k), alpha, va, vb, beta, vc, batch) }
}

/// Body of `tblas_Tgemm_batched`.
#[allow(clippy::too_many_arguments)]
unsafe fn batched<T: Scalar>(
    h: *mut tblas_handle,
    transa: i32,
    transb: i32,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const T,
    a: *const *const T,
    lda: i64,
    b: *const *const T,
    ldb: i64,
    beta: *const T,
    c: *const *mut T,
    ldc: i64,
    batch: i64,
) -> tblas_status {
    let f = T::GEMM_NAMES[1];
    guard(f, || {
        let handle = handle_of(h, f)?;
        // SAFETY: the caller passes NULL or a readable scalar.
        let (alpha, beta) = unsafe { (scalar(alpha), scalar(beta)) };
        // Arrays are read only when referenced (the validator's rule).
        let Refs { ab: ref_ab, c: ref_c } = Refs::of(m, n, k, alpha, batch);
        // SAFETY: the caller passes NULL or arrays of batch_count readable pointers.
        let (av, bv, cv) = unsafe {
            (
                pointer_array(a, batch, ref_ab),
                pointer_array(b, batch, ref_ab),
                pointer_array(c, batch, ref_c),
            )
        };
        let call = Call {
            family: Family::Batched,
            transa,
            transb,
            m,
            n,
            k,
            alpha,
            a: Operand {
                base: Base::Array(av.as_deref()),
                rs: 1,
                cs: lda,
                bs: 0,
                bounds: Bounds::None,
            },
            b: Operand {
                base: Base::Array(bv.as_deref()),
                rs: 1,
                cs: ldb,
                bs: 0,
                bounds: Bounds::None,
            },
            beta,
            c: Operand {
                base: Base::Array(cv.as_deref()),
                rs: 1,
                cs: ldc,
                bs: 0,
                bounds: Bounds::None,
            },
            batch,
        };
        handle.run_call(&call)
    })
}

// ---- exported functions: one line per type ----

/// C = alpha*op(A)*op(B) + beta*C (float, column-major).
///
/// # Safety
/// Pointers must be NULL or valid for the elements the call addresses (docs/c-api.md).
#[no_mangle]
pub unsafe extern "C" fn tblas_sgemm(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const f32,
    A: *const f32,
    lda: i64,
    B: *const f32,
    ldb: i64,
    beta: *const f32,
    C: *mut f32,
    ldc: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; f32 has the layout of f32.
    unsafe { gemm::<f32>(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc) }
}

/// Pointer-array batched GEMM: `C[i] = alpha*op(A[i])*op(B[i]) + beta*C[i]` (float).
///
/// # Safety
/// Arrays and the matrices they point to must be NULL or valid for what the call addresses.
#[no_mangle]
pub unsafe extern "C" fn tblas_sgemm_batched(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const f32,
    A: *const *const f32,
    lda: i64,
    B: *const *const f32,
    ldb: i64,
    beta: *const f32,
    C: *const *mut f32,
    ldc: i64,
    batch_count: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; f32 has the layout of f32.
    unsafe {
        batched::<f32>(
            handle,
            transa,
            transb,
            m,
            n,
            k,
            alpha,
            A,
            lda,
            B,
            ldb,
            beta,
            C,
            ldc,
            batch_count,
        )
    }
}

/// Strided batched GEMM: C + i*stride_c = alpha*op(A + i*stride_a)*op(B + i*stride_b) + beta*(C + i*stride_c) (float).
///
/// # Safety
/// Pointers must be NULL or valid for the elements the call addresses (docs/c-api.md).
#[no_mangle]
pub unsafe extern "C" fn tblas_sgemm_strided_batched(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const f32,
    A: *const f32,
    lda: i64,
    stride_a: i64,
    B: *const f32,
    ldb: i64,
    stride_b: i64,
    beta: *const f32,
    C: *mut f32,
    ldc: i64,
    stride_c: i64,
    batch_count: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; f32 has the layout of f32.
    unsafe {
        strided::<f32>(
            handle,
            transa,
            transb,
            m,
            n,
            k,
            alpha,
            A,
            lda,
            stride_a,
            B,
            ldb,
            stride_b,
            beta,
            C,
            ldc,
            stride_c,
            batch_count,
        )
    }
}

/// General-stride batched GEMM: element (i,j) of entry p of X is `X[p*bs + i*rs + j*cs]` (float).
///
/// # Safety
/// Pointers must be NULL or valid for the elements the call addresses (docs/c-api.md).
#[no_mangle]
pub unsafe extern "C" fn tblas_sgemm_strided_batched_ex(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const f32,
    A: *const f32,
    rs_a: i64,
    cs_a: i64,
    bs_a: i64,
    B: *const f32,
    rs_b: i64,
    cs_b: i64,
    bs_b: i64,
    beta: *const f32,
    C: *mut f32,
    rs_c: i64,
    cs_c: i64,
    bs_c: i64,
    batch_count: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; f32 has the layout of f32.
    unsafe {
        strided_ex::<f32>(
            handle,
            transa,
            transb,
            m,
            n,
            k,
            alpha,
            A,
            rs_a,
            cs_a,
            bs_a,
            B,
            rs_b,
            cs_b,
            bs_b,
            beta,
            C,
            rs_c,
            cs_c,
            bs_c,
            batch_count,
        )
    }
}

/// C = alpha*op(A)*op(B) + beta*C (double, column-major).
///
/// # Safety
/// Pointers must be NULL or valid for the elements the call addresses (docs/c-api.md).
#[no_mangle]
pub unsafe extern "C" fn tblas_dgemm(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const f64,
    A: *const f64,
    lda: i64,
    B: *const f64,
    ldb: i64,
    beta: *const f64,
    C: *mut f64,
    ldc: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; f64 has the layout of f64.
    unsafe { gemm::<f64>(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc) }
}

/// Pointer-array batched GEMM: `C[i] = alpha*op(A[i])*op(B[i]) + beta*C[i]` (double).
///
/// # Safety
/// Arrays and the matrices they point to must be NULL or valid for what the call addresses.
#[no_mangle]
pub unsafe extern "C" fn tblas_dgemm_batched(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const f64,
    A: *const *const f64,
    lda: i64,
    B: *const *const f64,
    ldb: i64,
    beta: *const f64,
    C: *const *mut f64,
    ldc: i64,
    batch_count: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; f64 has the layout of f64.
    unsafe {
        batched::<f64>(
            handle,
            transa,
            transb,
            m,
            n,
            k,
            alpha,
            A,
            lda,
            B,
            ldb,
            beta,
            C,
            ldc,
            batch_count,
        )
    }
}

/// Strided batched GEMM: C + i*stride_c = alpha*op(A + i*stride_a)*op(B + i*stride_b) + beta*(C + i*stride_c) (double).
///
/// # Safety
/// Pointers must be NULL or valid for the elements the call addresses (docs/c-api.md).
#[no_mangle]
pub unsafe extern "C" fn tblas_dgemm_strided_batched(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const f64,
    A: *const f64,
    lda: i64,
    stride_a: i64,
    B: *const f64,
    ldb: i64,
    stride_b: i64,
    beta: *const f64,
    C: *mut f64,
    ldc: i64,
    stride_c: i64,
    batch_count: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; f64 has the layout of f64.
    unsafe {
        strided::<f64>(
            handle,
            transa,
            transb,
            m,
            n,
            k,
            alpha,
            A,
            lda,
            stride_a,
            B,
            ldb,
            stride_b,
            beta,
            C,
            ldc,
            stride_c,
            batch_count,
        )
    }
}

/// General-stride batched GEMM: element (i,j) of entry p of X is `X[p*bs + i*rs + j*cs]` (double).
///
/// # Safety
/// Pointers must be NULL or valid for the elements the call addresses (docs/c-api.md).
#[no_mangle]
pub unsafe extern "C" fn tblas_dgemm_strided_batched_ex(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const f64,
    A: *const f64,
    rs_a: i64,
    cs_a: i64,
    bs_a: i64,
    B: *const f64,
    rs_b: i64,
    cs_b: i64,
    bs_b: i64,
    beta: *const f64,
    C: *mut f64,
    rs_c: i64,
    cs_c: i64,
    bs_c: i64,
    batch_count: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; f64 has the layout of f64.
    unsafe {
        strided_ex::<f64>(
            handle,
            transa,
            transb,
            m,
            n,
            k,
            alpha,
            A,
            rs_a,
            cs_a,
            bs_a,
            B,
            rs_b,
            cs_b,
            bs_b,
            beta,
            C,
            rs_c,
            cs_c,
            bs_c,
            batch_count,
        )
    }
}

/// C = alpha*op(A)*op(B) + beta*C (tblas_complex_float, column-major).
///
/// # Safety
/// Pointers must be NULL or valid for the elements the call addresses (docs/c-api.md).
#[no_mangle]
pub unsafe extern "C" fn tblas_cgemm(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const tblas_complex_float,
    A: *const tblas_complex_float,
    lda: i64,
    B: *const tblas_complex_float,
    ldb: i64,
    beta: *const tblas_complex_float,
    C: *mut tblas_complex_float,
    ldc: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; tblas_complex_float has the layout of Complex32.
    unsafe {
        gemm::<Complex32>(
            handle,
            transa,
            transb,
            m,
            n,
            k,
            alpha.cast(),
            A.cast(),
            lda,
            B.cast(),
            ldb,
            beta.cast(),
            C.cast(),
            ldc,
        )
    }
}

/// Pointer-array batched GEMM: `C[i] = alpha*op(A[i])*op(B[i]) + beta*C[i]` (tblas_complex_float).
///
/// # Safety
/// Arrays and the matrices they point to must be NULL or valid for what the call addresses.
#[no_mangle]
pub unsafe extern "C" fn tblas_cgemm_batched(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const tblas_complex_float,
    A: *const *const tblas_complex_float,
    lda: i64,
    B: *const *const tblas_complex_float,
    ldb: i64,
    beta: *const tblas_complex_float,
    C: *const *mut tblas_complex_float,
    ldc: i64,
    batch_count: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; tblas_complex_float has the layout of Complex32.
    unsafe {
        batched::<Complex32>(
            handle,
            transa,
            transb,
            m,
            n,
            k,
            alpha.cast(),
            A.cast(),
            lda,
            B.cast(),
            ldb,
            beta.cast(),
            C.cast(),
            ldc,
            batch_count,
        )
    }
}

/// Strided batched GEMM: C + i*stride_c = alpha*op(A + i*stride_a)*op(B + i*stride_b) + beta*(C + i*stride_c) (tblas_complex_float).
///
/// # Safety
/// Pointers must be NULL or valid for the elements the call addresses (docs/c-api.md).
#[no_mangle]
pub unsafe extern "C" fn tblas_cgemm_strided_batched(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const tblas_complex_float,
    A: *const tblas_complex_float,
    lda: i64,
    stride_a: i64,
    B: *const tblas_complex_float,
    ldb: i64,
    stride_b: i64,
    beta: *const tblas_complex_float,
    C: *mut tblas_complex_float,
    ldc: i64,
    stride_c: i64,
    batch_count: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; tblas_complex_float has the layout of Complex32.
    unsafe {
        strided::<Complex32>(
            handle,
            transa,
            transb,
            m,
            n,
            k,
            alpha.cast(),
            A.cast(),
            lda,
            stride_a,
            B.cast(),
            ldb,
            stride_b,
            beta.cast(),
            C.cast(),
            ldc,
            stride_c,
            batch_count,
        )
    }
}

/// General-stride batched GEMM: element (i,j) of entry p of X is `X[p*bs + i*rs + j*cs]` (tblas_complex_float).
///
/// # Safety
/// Pointers must be NULL or valid for the elements the call addresses (docs/c-api.md).
#[no_mangle]
pub unsafe extern "C" fn tblas_cgemm_strided_batched_ex(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const tblas_complex_float,
    A: *const tblas_complex_float,
    rs_a: i64,
    cs_a: i64,
    bs_a: i64,
    B: *const tblas_complex_float,
    rs_b: i64,
    cs_b: i64,
    bs_b: i64,
    beta: *const tblas_complex_float,
    C: *mut tblas_complex_float,
    rs_c: i64,
    cs_c: i64,
    bs_c: i64,
    batch_count: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; tblas_complex_float has the layout of Complex32.
    unsafe {
        strided_ex::<Complex32>(
            handle,
            transa,
            transb,
            m,
            n,
            k,
            alpha.cast(),
            A.cast(),
            rs_a,
            cs_a,
            bs_a,
            B.cast(),
            rs_b,
            cs_b,
            bs_b,
            beta.cast(),
            C.cast(),
            rs_c,
            cs_c,
            bs_c,
            batch_count,
        )
    }
}

/// C = alpha*op(A)*op(B) + beta*C (tblas_complex_double, column-major).
///
/// # Safety
/// Pointers must be NULL or valid for the elements the call addresses (docs/c-api.md).
#[no_mangle]
pub unsafe extern "C" fn tblas_zgemm(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const tblas_complex_double,
    A: *const tblas_complex_double,
    lda: i64,
    B: *const tblas_complex_double,
    ldb: i64,
    beta: *const tblas_complex_double,
    C: *mut tblas_complex_double,
    ldc: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; tblas_complex_double has the layout of Complex64.
    unsafe {
        gemm::<Complex64>(
            handle,
            transa,
            transb,
            m,
            n,
            k,
            alpha.cast(),
            A.cast(),
            lda,
            B.cast(),
            ldb,
            beta.cast(),
            C.cast(),
            ldc,
        )
    }
}

/// Pointer-array batched GEMM: `C[i] = alpha*op(A[i])*op(B[i]) + beta*C[i]` (tblas_complex_double).
///
/// # Safety
/// Arrays and the matrices they point to must be NULL or valid for what the call addresses.
#[no_mangle]
pub unsafe extern "C" fn tblas_zgemm_batched(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const tblas_complex_double,
    A: *const *const tblas_complex_double,
    lda: i64,
    B: *const *const tblas_complex_double,
    ldb: i64,
    beta: *const tblas_complex_double,
    C: *const *mut tblas_complex_double,
    ldc: i64,
    batch_count: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; tblas_complex_double has the layout of Complex64.
    unsafe {
        batched::<Complex64>(
            handle,
            transa,
            transb,
            m,
            n,
            k,
            alpha.cast(),
            A.cast(),
            lda,
            B.cast(),
            ldb,
            beta.cast(),
            C.cast(),
            ldc,
            batch_count,
        )
    }
}

/// Strided batched GEMM: C + i*stride_c = alpha*op(A + i*stride_a)*op(B + i*stride_b) + beta*(C + i*stride_c) (tblas_complex_double).
///
/// # Safety
/// Pointers must be NULL or valid for the elements the call addresses (docs/c-api.md).
#[no_mangle]
pub unsafe extern "C" fn tblas_zgemm_strided_batched(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const tblas_complex_double,
    A: *const tblas_complex_double,
    lda: i64,
    stride_a: i64,
    B: *const tblas_complex_double,
    ldb: i64,
    stride_b: i64,
    beta: *const tblas_complex_double,
    C: *mut tblas_complex_double,
    ldc: i64,
    stride_c: i64,
    batch_count: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; tblas_complex_double has the layout of Complex64.
    unsafe {
        strided::<Complex64>(
            handle,
            transa,
            transb,
            m,
            n,
            k,
            alpha.cast(),
            A.cast(),
            lda,
            stride_a,
            B.cast(),
            ldb,
            stride_b,
            beta.cast(),
            C.cast(),
            ldc,
            stride_c,
            batch_count,
        )
    }
}

/// General-stride batched GEMM: element (i,j) of entry p of X is `X[p*bs + i*rs + j*cs]` (tblas_complex_double).
///
/// # Safety
/// Pointers must be NULL or valid for the elements the call addresses (docs/c-api.md).
#[no_mangle]
pub unsafe extern "C" fn tblas_zgemm_strided_batched_ex(
    handle: *mut tblas_handle,
    transa: tblas_operation,
    transb: tblas_operation,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const tblas_complex_double,
    A: *const tblas_complex_double,
    rs_a: i64,
    cs_a: i64,
    bs_a: i64,
    B: *const tblas_complex_double,
    rs_b: i64,
    cs_b: i64,
    bs_b: i64,
    beta: *const tblas_complex_double,
    C: *mut tblas_complex_double,
    rs_c: i64,
    cs_c: i64,
    bs_c: i64,
    batch_count: i64,
) -> tblas_status {
    // SAFETY: forwarded contract; tblas_complex_double has the layout of Complex64.
    unsafe {
        strided_ex::<Complex64>(
            handle,
            transa,
            transb,
            m,
            n,
            k,
            alpha.cast(),
            A.cast(),
            rs_a,
            cs_a,
            bs_a,
            B.cast(),
            rs_b,
            cs_b,
            bs_b,
            beta.cast(),
            C.cast(),
            rs_c,
            cs_c,
            bs_c,
            batch_count,
        )
    }
}

// The C complex structs must have the layout of num_complex's.
const _: () = {
    assert!(std::mem::size_of::<tblas_complex_float>() == std::mem::size_of::<Complex32>());
    assert!(std::mem::align_of::<tblas_complex_float>() == std::mem::align_of::<Complex32>());
    assert!(std::mem::size_of::<tblas_complex_double>() == std::mem::size_of::<Complex64>());
    assert!(std::mem::align_of::<tblas_complex_double>() == std::mem::align_of::<Complex64>());
};
