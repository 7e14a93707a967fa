//! The contraction entry points: `tblas_contract`, `tblas_einsum`, `tblas_einsum_explain`.
#![allow(non_snake_case)]

use super::{guard, handle_of, tblas_datatype, tblas_handle, tblas_status};
use crate::contraction::rules::{Api, TensorDesc, MAX_MODES, W_EXTENT, W_MODES, W_NMODE, W_STRIDE};
use crate::contraction::{contract_raw, explain_raw, parse_spec, RawTensor, Spec};
use crate::error::{Error, Result};
use crate::scalar::Scalar;
use num_complex::{Complex32, Complex64};
use std::ffi::{c_char, c_void, CStr};

/// Reads a host scalar of type `T` (NULL gives `None`).
///
/// # Safety
/// `p` must be NULL or valid for reading one `T`.
unsafe fn scalar<T: Scalar>(p: *const c_void) -> Option<T> {
    // SAFETY: non-NULL checked; the caller guarantees one readable T (read unaligned).
    (!p.is_null()).then(|| unsafe { (p as *const T).read_unaligned() })
}

/// A caller's array of `n` values as a slice (empty for `n == 0`); `None` when NULL with `n > 0`.
///
/// # Safety
/// `p` must be NULL or valid for reading `n` aligned values for `'a`.
unsafe fn array<'a, V>(p: *const V, n: usize) -> Option<&'a [V]> {
    if n == 0 {
        return Some(&[]);
    }
    if p.is_null() || !(p as usize).is_multiple_of(std::mem::align_of::<V>()) {
        return None;
    }
    // SAFETY: non-NULL and aligned; the caller guarantees `n` readable values.
    Some(unsafe { std::slice::from_raw_parts(p, n) })
}

/// Builds one tensor description from C arrays (`modes` = None: labels come from the spec).
///
/// # Safety
/// Each non-NULL array must be readable for the number of modes.
unsafe fn desc<'a>(
    api: Api,
    t: usize,
    nmode: i64,
    modes: Option<*const i32>,
    extent: *const i64,
    stride: *const i64,
    spec_modes: &'a [i32],
) -> Result<TensorDesc<'a>> {
    if nmode < 0 {
        return Err(api.fail_t(t, W_NMODE, format!("must be >= 0, got {nmode}")));
    }
    if nmode as usize > MAX_MODES {
        let (pos, name) = api.arg(t, W_NMODE);
        return Err(Error::NotSupported(format!(
            "{}: argument {pos} ({name}) = {nmode} exceeds the supported maximum of {MAX_MODES} modes",
            api.name(),
        )));
    }
    let n = nmode as usize;
    let modes = match modes {
        // SAFETY: the caller guarantees `n` readable labels when non-NULL.
        Some(p) => unsafe { array(p, n) }
            .ok_or_else(|| api.fail_t(t, W_MODES, format!("must be a non-NULL, aligned array of {n} labels")))?,
        None => spec_modes,
    };
    // SAFETY: as above.
    let extents = unsafe { array(extent, n) }
        .ok_or_else(|| api.fail_t(t, W_EXTENT, format!("must be a non-NULL, aligned array of {n} extents")))?;
    let strides = if stride.is_null() {
        None
    } else {
        // SAFETY: as above (non-NULL here).
        Some(
            unsafe { array(stride, n) }
                .ok_or_else(|| api.fail_t(t, W_STRIDE, "must be NULL or an aligned array (misaligned pointer)"))?,
        )
    };
    Ok(TensorDesc {
        modes,
        extents,
        strides,
    })
}

/// The spec string, parsed.
///
/// # Safety
/// `spec` must be NULL or a NUL-terminated string.
unsafe fn spec_of(api: Api, spec: *const c_char) -> Result<Spec> {
    if spec.is_null() {
        return Err(api.fail(3, "spec", "must not be NULL"));
    }
    // SAFETY: non-NULL, NUL-terminated per the caller's contract.
    let s = unsafe { CStr::from_ptr(spec) };
    let s = s.to_str().map_err(|_| api.fail(3, "spec", "is not valid UTF-8"))?;
    parse_spec(api, s)
}

/// The three tensor descriptions of an einsum-style call: modes from the spec, one extent (and
/// stride, unless NULL) per letter.
///
/// # Safety
/// Each non-NULL array must hold one entry per letter of its tensor in the spec.
unsafe fn spec_descs<'a>(
    api: Api,
    s: &'a Spec,
    ext: [*const i64; 3],
    st: [*const i64; 3],
) -> Result<[TensorDesc<'a>; 3]> {
    let mut descs = [TensorDesc {
        modes: &[],
        extents: &[],
        strides: None,
    }; 3];
    for t in 0..3 {
        let m = s.modes(t);
        // SAFETY: forwarded caller contract.
        descs[t] = unsafe { desc(api, t, m.len() as i64, None, ext[t], st[t], m) }?;
    }
    Ok(descs)
}

fn datatype(api: Api, t: tblas_datatype) -> Result<crate::scalar::DataType> {
    use crate::scalar::DataType::*;
    Ok(match t {
        0 => R32F,
        1 => R64F,
        2 => C32F,
        3 => C64F,
        _ => {
            return Err(api.fail(
                2,
                "type",
                format!("must be TBLAS_R_32F (0), TBLAS_R_64F (1), TBLAS_C_32F (2) or TBLAS_C_64F (3), got {t}"),
            ))
        }
    })
}

/// Body of `tblas_contract` / `tblas_einsum` for one type.
///
/// # Safety
/// As the exported functions.
#[allow(clippy::too_many_arguments)]
unsafe fn contract_t<T: Scalar>(
    h: &crate::Handle,
    api: Api,
    alpha: *const c_void,
    ptrs: [*const c_void; 3],
    descs: [TensorDesc<'_>; 3],
    beta: *const c_void,
) -> Result<()> {
    let t = |i: usize| RawTensor {
        ptr: ptrs[i] as *const T,
        len: None,
        space: crate::views::Space::Raw,
        desc: descs[i],
    };
    contract_raw::<T>(
        h,
        api,
        // SAFETY: the caller passes NULL or a readable scalar of the declared type.
        unsafe { scalar(alpha) },
        t(0),
        t(1),
        // SAFETY: as for alpha.
        unsafe { scalar(beta) },
        t(2),
        ptrs[2] as *mut T,
    )
}

/// Dispatches on the data type.
///
/// # Safety
/// As the exported functions.
unsafe fn contract_any(
    h: &crate::Handle,
    api: Api,
    ty: crate::scalar::DataType,
    alpha: *const c_void,
    ptrs: [*const c_void; 3],
    descs: [TensorDesc<'_>; 3],
    beta: *const c_void,
) -> Result<()> {
    use crate::scalar::DataType::*;
    // SAFETY: forwarded contract; T matches the declared type.
    unsafe {
        match ty {
            R32F => contract_t::<f32>(h, api, alpha, ptrs, descs, beta),
            R64F => contract_t::<f64>(h, api, alpha, ptrs, descs, beta),
            C32F => contract_t::<Complex32>(h, api, alpha, ptrs, descs, beta),
            C64F => contract_t::<Complex64>(h, api, alpha, ptrs, descs, beta),
        }
    }
}

/// Tensor contraction with int32 mode labels (cuTENSOR style):
/// `C[modes_c] = alpha * sum A[modes_a] * B[modes_b] + beta * C[modes_c]`, summing the modes in
/// A and B but not in C. `alpha`/`beta` point to one scalar of `type`. `stride_*` may be NULL
/// (packed column-major, first mode fastest). Planned as one GEMM, strided-batched or
/// general-stride batched call on the operands' memory (loops only for modes that fuse nowhere);
/// never copies. On any error C is untouched.
///
/// # Safety
/// Pointers must be NULL or valid for the described extents, strides and type.
#[no_mangle]
pub unsafe extern "C" fn tblas_contract(
    handle: *mut tblas_handle,
    r#type: tblas_datatype,
    alpha: *const c_void,
    A: *const c_void,
    nmode_a: i32,
    modes_a: *const i32,
    extent_a: *const i64,
    stride_a: *const i64,
    B: *const c_void,
    nmode_b: i32,
    modes_b: *const i32,
    extent_b: *const i64,
    stride_b: *const i64,
    beta: *const c_void,
    C: *mut c_void,
    nmode_c: i32,
    modes_c: *const i32,
    extent_c: *const i64,
    stride_c: *const i64,
) -> tblas_status {
    let api = Api::Contract;
    guard(api.name(), || {
        let h = handle_of(handle, api.name())?;
        let ty = datatype(api, r#type)?;
        if alpha.is_null() {
            return Err(api.fail(3, "alpha", "must not be NULL"));
        }
        // SAFETY: the caller guarantees each non-NULL array holds nmode entries.
        let descs = unsafe {
            [
                desc(api, 0, nmode_a as i64, Some(modes_a), extent_a, stride_a, &[])?,
                desc(api, 1, nmode_b as i64, Some(modes_b), extent_b, stride_b, &[])?,
                desc(api, 2, nmode_c as i64, Some(modes_c), extent_c, stride_c, &[])?,
            ]
        };
        // SAFETY: forwarded caller contract.
        unsafe { contract_any(&h, api, ty, alpha, [A, B, C as *const c_void], descs, beta) }
    })
}

/// Tensor contraction from an einsum spec, e.g. `"mk,knp->mnp"`: letters a-z A-Z, one per mode,
/// exactly two inputs, explicit `->` output (spaces ignored). The number of modes of each tensor
/// is its number of letters; `extent_*`/`stride_*` have that many entries (`stride_*` may be
/// NULL: packed column-major). Otherwise as `tblas_contract`.
///
/// # Safety
/// `spec` must be NULL or NUL-terminated; other pointers as for `tblas_contract`.
#[no_mangle]
pub unsafe extern "C" fn tblas_einsum(
    handle: *mut tblas_handle,
    r#type: tblas_datatype,
    spec: *const c_char,
    alpha: *const c_void,
    A: *const c_void,
    extent_a: *const i64,
    stride_a: *const i64,
    B: *const c_void,
    extent_b: *const i64,
    stride_b: *const i64,
    beta: *const c_void,
    C: *mut c_void,
    extent_c: *const i64,
    stride_c: *const i64,
) -> tblas_status {
    let api = Api::Einsum;
    guard(api.name(), || {
        let h = handle_of(handle, api.name())?;
        let ty = datatype(api, r#type)?;
        // SAFETY: the caller passes NULL or a NUL-terminated string.
        let s = unsafe { spec_of(api, spec) }?;
        if alpha.is_null() {
            return Err(api.fail(4, "alpha", "must not be NULL"));
        }
        // SAFETY: the caller guarantees arrays with one entry per letter of the spec.
        let descs = unsafe { spec_descs(api, &s, [extent_a, extent_b, extent_c], [stride_a, stride_b, stride_c]) }?;
        // SAFETY: forwarded caller contract.
        unsafe { contract_any(&h, api, ty, alpha, [A, B, C as *const c_void], descs, beta) }
    })
}

/// Writes the plan `tblas_einsum` would run for these shapes, as one NUL-terminated line, into
/// `buf` (`buf_len` bytes). `TBLAS_STATUS_INVALID_VALUE` (position 11) if it does not fit; then
/// nothing is written. Data pointers are not needed.
///
/// # Safety
/// `spec` must be NULL or NUL-terminated; the arrays as for `tblas_einsum`; `buf` NULL or
/// writable for `buf_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tblas_einsum_explain(
    handle: *mut tblas_handle,
    r#type: tblas_datatype,
    spec: *const c_char,
    extent_a: *const i64,
    stride_a: *const i64,
    extent_b: *const i64,
    stride_b: *const i64,
    extent_c: *const i64,
    stride_c: *const i64,
    buf: *mut c_char,
    buf_len: usize,
) -> tblas_status {
    let api = Api::Explain;
    guard(api.name(), || {
        let h = handle_of(handle, api.name())?;
        datatype(api, r#type)?;
        // SAFETY: the caller passes NULL or a NUL-terminated string.
        let s = unsafe { spec_of(api, spec) }?;
        // SAFETY: the caller guarantees arrays with one entry per letter of the spec.
        let descs = unsafe { spec_descs(api, &s, [extent_a, extent_b, extent_c], [stride_a, stride_b, stride_c]) }?;
        let plan = explain_raw(api, descs, false, h.cost_model())?.swap_remove(0);
        let text = plan.to_string();
        if buf.is_null() {
            return Err(api.fail(10, "buf", "must not be NULL"));
        }
        if text.len() + 1 > buf_len {
            return Err(api.fail(
                11,
                "buf_len",
                format!(
                    "= {buf_len} is too small: the plan needs {} bytes with its NUL",
                    text.len() + 1
                ),
            ));
        }
        // SAFETY: `buf` is non-NULL and writable for buf_len >= text.len() + 1 bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buf as *mut u8, text.len());
            *buf.add(text.len()) = 0;
        }
        Ok(())
    })
}
