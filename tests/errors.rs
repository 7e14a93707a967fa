//! The error table of the C ABI: every argument position of every GEMM function, one bad value
//! each, exact status and position, a message naming function and argument, C untouched.
//! Plus the quick-return rules (NULL allowed where nothing is referenced) and handle functions.

// These tests drive the C ABI with buffers and handles they own; every unsafe call's
// preconditions are the surrounding setup, so per-block SAFETY comments would only repeat it.
#![allow(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use std::ffi::CStr;
use std::ptr::{null, null_mut};
use tensorblas::ffi::*;
use tensorblas::{Complex32, Complex64, Scalar};

/// Every argument any GEMM-family function takes. Ld-form functions read `rs`/`cs` as
/// (unused, ld) and `bs` as the stride.
#[derive(Clone, Copy)]
struct Args<T> {
    h: *mut tblas_handle,
    ta: i32,
    tb: i32,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const T,
    a: *const T,
    a_rs: i64,
    a_cs: i64,
    a_bs: i64,
    b: *const T,
    b_rs: i64,
    b_cs: i64,
    b_bs: i64,
    beta: *const T,
    c: *mut T,
    c_rs: i64,
    c_cs: i64,
    c_bs: i64,
    batch: i64,
    a_arr: *const *const T,
    b_arr: *const *const T,
    c_arr: *const *mut T,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fam {
    Gemm,
    Batched,
    Strided,
    Ex,
}

trait Ffi: Scalar {
    unsafe fn call(f: Fam, x: &Args<Self>) -> i32;
}

macro_rules! ffi_impl {
    ($t:ty, $ct:ty, $g:ident, $gb:ident, $gs:ident, $gx:ident) => {
        impl Ffi for $t {
            unsafe fn call(f: Fam, x: &Args<Self>) -> i32 {
                let (al, be) = (x.alpha as *const $ct, x.beta as *const $ct);
                let (a, b, c) = (x.a as *const $ct, x.b as *const $ct, x.c as *mut $ct);
                unsafe {
                    match f {
                        Fam::Gemm => $g(
                            x.h, x.ta, x.tb, x.m, x.n, x.k, al, a, x.a_cs, b, x.b_cs, be, c, x.c_cs,
                        ),
                        Fam::Batched => $gb(
                            x.h,
                            x.ta,
                            x.tb,
                            x.m,
                            x.n,
                            x.k,
                            al,
                            x.a_arr as _,
                            x.a_cs,
                            x.b_arr as _,
                            x.b_cs,
                            be,
                            x.c_arr as _,
                            x.c_cs,
                            x.batch,
                        ),
                        Fam::Strided => $gs(
                            x.h, x.ta, x.tb, x.m, x.n, x.k, al, a, x.a_cs, x.a_bs, b, x.b_cs, x.b_bs, be, c, x.c_cs,
                            x.c_bs, x.batch,
                        ),
                        Fam::Ex => $gx(
                            x.h, x.ta, x.tb, x.m, x.n, x.k, al, a, x.a_rs, x.a_cs, x.a_bs, b, x.b_rs, x.b_cs, x.b_bs,
                            be, c, x.c_rs, x.c_cs, x.c_bs, x.batch,
                        ),
                    }
                }
            }
        }
    };
}
ffi_impl!(
    f32,
    f32,
    tblas_sgemm,
    tblas_sgemm_batched,
    tblas_sgemm_strided_batched,
    tblas_sgemm_strided_batched_ex
);
ffi_impl!(
    f64,
    f64,
    tblas_dgemm,
    tblas_dgemm_batched,
    tblas_dgemm_strided_batched,
    tblas_dgemm_strided_batched_ex
);
ffi_impl!(
    Complex32,
    tblas_complex_float,
    tblas_cgemm,
    tblas_cgemm_batched,
    tblas_cgemm_strided_batched,
    tblas_cgemm_strided_batched_ex
);
ffi_impl!(
    Complex64,
    tblas_complex_double,
    tblas_zgemm,
    tblas_zgemm_batched,
    tblas_zgemm_strided_batched,
    tblas_zgemm_strided_batched_ex
);

type Mutation<T> = Box<dyn Fn(&mut Args<T>)>;

/// (position, argument name, expected status, mutation) for every argument of `fam`.
fn table<T: Ffi>(
    fam: Fam,
    dead: *mut tblas_handle,
    c_alias_a: *mut T,
    dup_c: *const *mut T,
    c_into_a: *const *mut T,
    null_entry: *const *const T,
) -> Vec<(i32, &'static str, i32, Mutation<T>)> {
    const IV: i32 = TBLAS_STATUS_INVALID_VALUE;
    let mut t: Vec<(i32, &'static str, i32, Mutation<T>)> = vec![
        (
            1,
            "handle",
            TBLAS_STATUS_NOT_INITIALIZED,
            Box::new(|x| x.h = null_mut()),
        ),
        (1, "handle", TBLAS_STATUS_NOT_INITIALIZED, Box::new(move |x| x.h = dead)),
        (2, "transa", IV, Box::new(|x| x.ta = 3)),
        (2, "transa", IV, Box::new(|x| x.ta = -1)),
        (3, "transb", IV, Box::new(|x| x.tb = 7)),
        (4, "m", IV, Box::new(|x| x.m = -1)),
        (5, "n", IV, Box::new(|x| x.n = -2)),
        (6, "k", IV, Box::new(|x| x.k = -3)),
        (7, "alpha", IV, Box::new(|x| x.alpha = null())),
    ];
    let p = |g: i32, b: i32, s: i32, e: i32| match fam {
        Fam::Gemm => g,
        Fam::Batched => b,
        Fam::Strided => s,
        Fam::Ex => e,
    };
    // A
    if fam == Fam::Batched {
        t.push((8, "A", IV, Box::new(|x| x.a_arr = null())));
        t.push((8, "A", IV, Box::new(move |x| x.a_arr = null_entry)));
    } else {
        t.push((8, "A", IV, Box::new(|x| x.a = null())));
        // Misaligned element pointer.
        t.push((
            8,
            "A",
            IV,
            Box::new(|x| x.a = (x.a as *const u8).wrapping_add(1) as *const T),
        ));
    }
    if fam == Fam::Ex {
        t.push((9, "rs_a", IV, Box::new(|x| x.a_rs = i64::MAX / 2)));
        t.push((10, "cs_a", IV, Box::new(|x| x.a_cs = i64::MIN / 2)));
        t.push((11, "bs_a", IV, Box::new(|x| x.a_bs = i64::MAX)));
    } else {
        t.push((9, "lda", IV, Box::new(|x| x.a_cs = x.m - 1)));
        t.push((9, "lda", IV, Box::new(|x| x.a_cs = i64::MAX / 2)));
        if fam == Fam::Strided {
            t.push((10, "stride_a", IV, Box::new(|x| x.a_bs = i64::MAX / 3)));
        }
    }
    // B
    let bp = p(10, 10, 11, 12);
    if fam == Fam::Batched {
        t.push((bp, "B", IV, Box::new(|x| x.b_arr = null())));
    } else {
        t.push((bp, "B", IV, Box::new(|x| x.b = null())));
    }
    if fam == Fam::Ex {
        t.push((13, "rs_b", IV, Box::new(|x| x.b_rs = i64::MIN / 2)));
        t.push((14, "cs_b", IV, Box::new(|x| x.b_cs = i64::MAX / 2)));
        t.push((15, "bs_b", IV, Box::new(|x| x.b_bs = i64::MIN / 2)));
    } else {
        t.push((bp + 1, "ldb", IV, Box::new(|x| x.b_cs = x.k - 1)));
        if fam == Fam::Strided {
            t.push((13, "stride_b", IV, Box::new(|x| x.b_bs = i64::MIN / 3)));
        }
    }
    t.push((p(12, 12, 14, 16), "beta", IV, Box::new(|x| x.beta = null())));
    // C
    let cp = p(13, 13, 15, 17);
    if fam == Fam::Batched {
        t.push((cp, "C", IV, Box::new(|x| x.c_arr = null())));
        t.push((cp, "C", IV, Box::new(move |x| x.c_arr = dup_c)));
        t.push((cp, "C", IV, Box::new(move |x| x.c_arr = c_into_a)));
    } else {
        t.push((cp, "C", IV, Box::new(|x| x.c = null_mut())));
        t.push((cp, "C", IV, Box::new(move |x| x.c = c_alias_a)));
    }
    if fam == Fam::Ex {
        t.push((18, "rs_c", IV, Box::new(|x| x.c_rs = 0)));
        t.push((19, "cs_c", IV, Box::new(|x| x.c_cs = 0)));
        t.push((19, "cs_c", IV, Box::new(|x| x.c_cs = 2))); // rows of 4 with cs 2 alias
        t.push((20, "bs_c", IV, Box::new(|x| x.c_bs = 0)));
        t.push((20, "bs_c", IV, Box::new(|x| x.c_bs = 5))); // entries overlap
        t.push((21, "batch_count", IV, Box::new(|x| x.batch = -1)));
    } else {
        t.push((cp + 1, "ldc", IV, Box::new(|x| x.c_cs = x.m - 1)));
        if fam == Fam::Strided {
            t.push((17, "stride_c", IV, Box::new(|x| x.c_bs = 0)));
            t.push((17, "stride_c", IV, Box::new(|x| x.c_bs = x.m * x.n - 1)));
            t.push((17, "stride_c", IV, Box::new(|x| x.c_bs = i64::MAX / 2)));
            t.push((18, "batch_count", IV, Box::new(|x| x.batch = -1)));
        }
        if fam == Fam::Batched {
            t.push((15, "batch_count", IV, Box::new(|x| x.batch = -5)));
        }
    }
    // The first bad argument decides: two errors at once report the earlier one.
    t.push((
        4,
        "m",
        IV,
        Box::new(|x| {
            x.m = -1;
            x.beta = null();
            x.batch = -1;
        }),
    ));
    t
}

fn error_table_for<T: Ffi>() {
    let mut h = null_mut();
    let mut dead = null_mut();
    unsafe {
        assert_eq!(tblas_create(&mut h), TBLAS_STATUS_SUCCESS);
        assert_eq!(tblas_create(&mut dead), TBLAS_STATUS_SUCCESS);
        assert_eq!(tblas_destroy(dead), TBLAS_STATUS_SUCCESS);
    }
    let mut r = rng(1);
    let (m, n, k, batch) = (4i64, 3i64, 2i64, 2i64);
    let (a, b): (Vec<T>, Vec<T>) = (rand_vec(&mut r, 64), rand_vec(&mut r, 64));
    let mut cbuf: Vec<T> = rand_vec(&mut r, 64);
    let (alpha, beta) = (T::one(), rand_val::<T>(&mut r));
    let a_ptrs = [a.as_ptr(), a.as_ptr().wrapping_add(8)];
    let b_ptrs = [b.as_ptr(), b.as_ptr().wrapping_add(6)];
    let a_null_entry = [a.as_ptr(), null()];
    let c_ptrs = [cbuf.as_mut_ptr(), cbuf.as_mut_ptr().wrapping_add(12)];
    let c_dup = [c_ptrs[0], c_ptrs[0].wrapping_add(1)]; // overlaps entry 0
    let c_into_a = [c_ptrs[0], a.as_ptr().wrapping_add(4) as *mut T]; // entry 1 overlaps A[0] and A[1]
    let c_alias_a = a.as_ptr().wrapping_add(1) as *mut T;
    let good = Args {
        h,
        ta: TBLAS_OP_N,
        tb: TBLAS_OP_N,
        m,
        n,
        k,
        alpha: &alpha,
        a: a.as_ptr(),
        a_rs: 1,
        a_cs: m,
        a_bs: m * k,
        b: b.as_ptr(),
        b_rs: 1,
        b_cs: k,
        b_bs: k * n,
        beta: &beta,
        c: cbuf.as_mut_ptr(),
        c_rs: 1,
        c_cs: m,
        c_bs: m * n,
        batch,
        a_arr: a_ptrs.as_ptr(),
        b_arr: b_ptrs.as_ptr(),
        c_arr: c_ptrs.as_ptr(),
    };
    let before = cbuf.clone();
    for fam in [Fam::Gemm, Fam::Batched, Fam::Strided, Fam::Ex] {
        let fname = T::GEMM_NAMES[fam as usize];
        // The unmodified call succeeds and clears the last error.
        let st = unsafe { T::call(fam, &good) };
        assert_eq!(
            st,
            TBLAS_STATUS_SUCCESS,
            "{fname}: valid call failed: {}",
            last_message()
        );
        assert_eq!(tblas_get_last_error_position(), 0);
        assert_eq!(last_message(), "");
        let reference = cbuf.clone();
        for (i, (pos, name, status, mutate)) in table::<T>(
            fam,
            dead,
            c_alias_a,
            c_dup.as_ptr(),
            c_into_a.as_ptr(),
            a_null_entry.as_ptr(),
        )
        .into_iter()
        .enumerate()
        {
            let mut x = good;
            mutate(&mut x);
            let st = unsafe { T::call(fam, &x) };
            let msg = last_message();
            assert_eq!(st, status, "{fname} row {i} ({name}): status; message: {msg}");
            assert_eq!(
                tblas_get_last_error_position(),
                pos,
                "{fname} row {i} ({name}): position; message: {msg}"
            );
            assert!(
                msg.starts_with(fname),
                "{fname} row {i}: message must name the function: {msg}"
            );
            assert!(
                msg.contains(&format!("({name})")) || msg.contains("(handle)"),
                "{fname} row {i}: message must name {name}: {msg}"
            );
            assert!(
                all_bits_eq(&cbuf, &reference),
                "{fname} row {i} ({name}): C changed on error"
            );
        }
    }
    assert!(!all_bits_eq(&cbuf, &before), "the valid calls must have written C");
    unsafe { tblas_destroy(h) };
}

fn last_message() -> String {
    unsafe { CStr::from_ptr(tblas_get_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn error_table_every_position_every_function() {
    error_table_for::<f32>();
    error_table_for::<f64>();
    error_table_for::<Complex32>();
    error_table_for::<Complex64>();
}

#[test]
fn message_format_matches_the_contract() {
    let mut h = null_mut();
    unsafe { tblas_create(&mut h) };
    let (a, b, mut c) = ([0f32; 16], [0f32; 16], [0f32; 16]);
    let (al, be) = (1f32, 0f32);
    let st = unsafe {
        tblas_sgemm_strided_batched(
            h,
            0,
            0,
            4,
            2,
            2,
            &al,
            a.as_ptr(),
            3,
            0,
            b.as_ptr(),
            2,
            0,
            &be,
            c.as_mut_ptr(),
            4,
            8,
            1,
        )
    };
    assert_eq!(st, TBLAS_STATUS_INVALID_VALUE);
    assert_eq!(tblas_get_last_error_position(), 9);
    assert_eq!(
        last_message(),
        "tblas_sgemm_strided_batched: argument 9 (lda) must be >= max(1, m) = 4, got 3"
    );
    unsafe { tblas_destroy(h) };
}

/// Nothing referenced, nothing required: NULL A/B with alpha = 0 or k = 0, NULL C with m, n or
/// batch_count = 0; beta = 0 then writes zeros without reading C.
#[test]
fn null_allowed_where_not_referenced() {
    let mut h = null_mut();
    unsafe { tblas_create(&mut h) };
    let (zero, one, two) = (0f64, 1f64, 2f64);
    let mut c = [f64::NAN, 1.0, 2.0, 3.0];
    unsafe {
        // alpha = 0, beta = 0: C := 0 (the NaN is not read).
        assert_eq!(
            tblas_dgemm(h, 0, 0, 2, 2, 3, &zero, null(), 2, null(), 3, &zero, c.as_mut_ptr(), 2),
            0
        );
        assert_eq!(c, [0.0; 4]);
        let mut c = [1.0, 2.0, 3.0, 4.0];
        // k = 0: C := beta*C.
        assert_eq!(
            tblas_dgemm(h, 1, 2, 2, 2, 0, &one, null(), 1, null(), 2, &two, c.as_mut_ptr(), 2),
            0
        );
        assert_eq!(c, [2.0, 4.0, 6.0, 8.0]);
        // m = 0, n = 0, batch_count = 0: quick return, all pointers may be NULL.
        assert_eq!(
            tblas_dgemm(h, 0, 0, 0, 2, 2, &one, null(), 1, null(), 2, &one, null_mut(), 1),
            0
        );
        assert_eq!(
            tblas_dgemm_strided_batched(
                h,
                0,
                0,
                2,
                2,
                2,
                &one,
                null(),
                2,
                0,
                null(),
                2,
                0,
                &one,
                null_mut(),
                2,
                4,
                0
            ),
            0
        );
        assert_eq!(
            tblas_dgemm_batched(h, 0, 0, 2, 2, 2, &one, null(), 2, null(), 2, &one, null(), 2, 0),
            0
        );
        assert_eq!(
            tblas_dgemm_strided_batched_ex(
                h,
                0,
                0,
                2,
                0,
                2,
                &one,
                null(),
                1,
                2,
                4,
                null(),
                1,
                2,
                4,
                &one,
                null_mut(),
                0,
                0,
                0,
                3
            ),
            0
        );
        // alpha = 0 with pointer arrays: A/B arrays not read.
        let mut c0 = [5.0f64];
        let cp = [c0.as_mut_ptr()];
        assert_eq!(
            tblas_dgemm_batched(h, 0, 0, 1, 1, 1, &zero, null(), 1, null(), 1, &two, cp.as_ptr(), 1, 1),
            0
        );
        assert_eq!(c0, [10.0]);
        tblas_destroy(h);
    }
}

/// The pointer-array scans are one pass over each array (no branch per entry); these cases
/// reach the entry-by-entry fallbacks behind them. A C array whose addresses differ by the
/// same amount modulo 2^64 but wrap around the address space is not a strided batch: entries
/// 0 and 2 below are the same element and must be refused before anything is written.
#[test]
fn pointer_array_scans_fall_back_exactly() {
    let mut h = null_mut();
    let (zero, one) = (0.0f32, 1.0f32);
    let mut c = vec![7f32; 64];
    // SAFETY: every call is refused by the validator before it dereferences a pointer.
    unsafe {
        assert_eq!(tblas_create(&mut h), 0);
        let base = 16usize;
        let wrap = [base as *mut f32, (base + (1usize << 63)) as *mut f32, base as *mut f32];
        let st = tblas_sgemm_batched(h, 0, 0, 1, 1, 0, &one, null(), 1, null(), 1, &zero, wrap.as_ptr(), 1, 3);
        assert_eq!(st, TBLAS_STATUS_INVALID_VALUE);
        assert!(
            last_message().contains("entries C[0] and C[2] overlap"),
            "{}",
            last_message()
        );
        // The first bad entry of a long array is named, whatever the scan found first.
        let mut ptrs: Vec<*mut f32> = (0..64).map(|i| c.as_mut_ptr().wrapping_add(i)).collect();
        ptrs[40] = (ptrs[40] as usize + 2) as *mut f32;
        ptrs[50] = null_mut();
        let st = tblas_sgemm_batched(
            h,
            0,
            0,
            1,
            1,
            0,
            &one,
            null(),
            1,
            null(),
            1,
            &zero,
            ptrs.as_ptr(),
            1,
            64,
        );
        assert_eq!(st, TBLAS_STATUS_INVALID_VALUE);
        assert!(
            last_message().contains("entry C[40] must be aligned to 4 bytes"),
            "{}",
            last_message()
        );
        // An entry whose matrix leaves the address space, among valid ones.
        let mut ptrs: Vec<*mut f32> = (0..8).map(|i| c.as_mut_ptr().wrapping_add(i)).collect();
        ptrs[5] = (usize::MAX - 3) as *mut f32;
        let st = tblas_sgemm_batched(h, 0, 0, 2, 1, 0, &one, null(), 2, null(), 1, &zero, ptrs.as_ptr(), 2, 8);
        assert_eq!(st, TBLAS_STATUS_INVALID_VALUE);
        assert!(
            last_message().contains("overflow the address space"),
            "{}",
            last_message()
        );
        tblas_destroy(h);
    }
    assert!(c.iter().all(|&x| x == 7.0), "a refused call wrote C");
}

#[test]
fn interleaved_c_batches_are_valid() {
    // C_mnp with entries batched over n: ldc = M*N, stride_c = M (docs/c-api.md's example).
    let (mm, nn, pp, kk) = (3i64, 4i64, 2i64, 2i64);
    let mut h = null_mut();
    unsafe { tblas_create(&mut h) };
    let a: Vec<f64> = (0..mm * kk).map(|v| v as f64).collect();
    let b: Vec<f64> = (0..kk * nn * pp).map(|v| v as f64 * 0.5).collect();
    let mut c = vec![0.0; (mm * nn * pp) as usize];
    let (one, zero) = (1.0, 0.0);
    // For each n: C[:, n, :] (m x p, ldc = M*N) = A (m x k) * B[:, n, :] (k x p, ldb = K*N).
    let st = unsafe {
        tblas_dgemm_strided_batched(
            h,
            0,
            0,
            mm,
            pp,
            kk,
            &one,
            a.as_ptr(),
            mm,
            0,
            b.as_ptr(),
            kk * nn,
            kk,
            &zero,
            c.as_mut_ptr(),
            mm * nn,
            mm,
            nn,
        )
    };
    assert_eq!(st, 0, "{}", last_message());
    for p in 0..pp {
        for n in 0..nn {
            for m in 0..mm {
                let want: f64 = (0..kk)
                    .map(|l| a[(m + l * mm) as usize] * b[(l + n * kk + p * kk * nn) as usize])
                    .sum();
                assert_eq!(c[(m + n * mm + p * mm * nn) as usize], want);
            }
        }
    }
    unsafe { tblas_destroy(h) };
}

#[test]
fn handle_functions() {
    unsafe {
        assert_eq!(tblas_create(null_mut()), TBLAS_STATUS_INVALID_VALUE);
        assert_eq!(tblas_get_last_error_position(), 1);
        assert_eq!(
            tblas_create_with_backend(null_mut(), TBLAS_BACKEND_CPU, 0),
            TBLAS_STATUS_INVALID_VALUE
        );
        assert_eq!(tblas_get_last_error_position(), 1);
        let mut h = null_mut();
        // A device ordinal no machine has: unavailable with or without a GPU.
        assert_eq!(
            tblas_create_with_backend(&mut h, TBLAS_BACKEND_CUDA, 1 << 20),
            TBLAS_STATUS_BACKEND_UNAVAILABLE
        );
        assert!(h.is_null(), "*handle is written only on success");
        assert!(last_message().contains("CUDA"));
        assert_eq!(tblas_create_with_backend(&mut h, 9, 0), TBLAS_STATUS_INVALID_VALUE);
        assert_eq!(tblas_get_last_error_position(), 2);
        assert_eq!(
            tblas_create_with_backend(&mut h, TBLAS_BACKEND_CPU, 1),
            TBLAS_STATUS_INVALID_VALUE
        );
        assert_eq!(tblas_get_last_error_position(), 3);
        assert_eq!(
            tblas_create_with_backend(&mut h, TBLAS_BACKEND_CPU, 0),
            TBLAS_STATUS_SUCCESS
        );
        assert!(!h.is_null());
        let mut n = 0;
        assert_eq!(tblas_set_num_threads(h, 3), 0);
        assert_eq!(tblas_get_num_threads(h, &mut n), 0);
        assert_eq!(n, 3);
        assert_eq!(tblas_set_num_threads(h, 0), 0);
        assert_eq!(tblas_get_num_threads(h, &mut n), 0);
        assert!(n >= 1);
        assert_eq!(tblas_set_num_threads(h, -1), TBLAS_STATUS_INVALID_VALUE);
        assert_eq!(tblas_get_last_error_position(), 2);
        assert_eq!(tblas_get_num_threads(h, null_mut()), TBLAS_STATUS_INVALID_VALUE);
        assert_eq!(tblas_get_last_error_position(), 2);
        assert_eq!(tblas_set_stream(h, null_mut()), 0);
        assert_eq!(tblas_set_stream(h, 0x1000 as *mut _), TBLAS_STATUS_NOT_SUPPORTED);
        assert_eq!(tblas_synchronize(h), 0);
        assert_eq!(tblas_destroy(h), 0);
        // Destroyed handles are detected, never dereferenced.
        assert_eq!(tblas_destroy(h), TBLAS_STATUS_NOT_INITIALIZED);
        assert_eq!(tblas_synchronize(h), TBLAS_STATUS_NOT_INITIALIZED);
        assert_eq!(tblas_set_num_threads(h, 1), TBLAS_STATUS_NOT_INITIALIZED);
        assert_eq!(tblas_set_stream(h, null_mut()), TBLAS_STATUS_NOT_INITIALIZED);
        assert_eq!(tblas_get_last_error_position(), 1);
        assert_eq!(
            tblas_get_num_threads(0x40 as *const _, &mut n),
            TBLAS_STATUS_NOT_INITIALIZED
        );
        assert_eq!(tblas_get_last_error_position(), 1);
        assert_eq!(tblas_destroy(null_mut()), TBLAS_STATUS_SUCCESS);
        for s in [0, 1, 3, 7, 8, 13, 14, 15, 100, -4, 12345] {
            let text = CStr::from_ptr(tblas_status_string(s)).to_str().unwrap();
            assert!(!text.is_empty());
        }
        assert!(CStr::from_ptr(tblas_status_string(7))
            .to_str()
            .unwrap()
            .starts_with("TBLAS_STATUS_INVALID_VALUE"));
        let (mut ma, mut mi, mut pa) = (-1, -1, -1);
        tblas_get_version(&mut ma, &mut mi, &mut pa);
        assert_eq!(
            format!("{ma}.{mi}.{pa}"),
            env!("CARGO_PKG_VERSION"),
            "C version must match the crate version"
        );
        tblas_get_version(null_mut(), null_mut(), null_mut());
    }
}

#[test]
fn last_error_is_thread_local() {
    unsafe { tblas_create(null_mut()) };
    assert_eq!(tblas_get_last_error_position(), 1);
    std::thread::spawn(|| assert_eq!(tblas_get_last_error_position(), 0))
        .join()
        .unwrap();
    assert_eq!(tblas_get_last_error_position(), 1);
}

#[test]
fn c_complex_types_interoperate() {
    let mut h = null_mut();
    unsafe { tblas_create(&mut h) };
    let a = [tblas_complex_float { re: 1.0, im: 2.0 }];
    let b = [tblas_complex_float { re: 3.0, im: -1.0 }];
    let mut c = [tblas_complex_float::default()];
    let (one, zero) = (tblas_complex_float { re: 1.0, im: 0.0 }, tblas_complex_float::default());
    // conj(1+2i) * (3-i) = (1-2i)(3-i) = 1 - 7i
    let st = unsafe {
        tblas_cgemm(
            h,
            TBLAS_OP_C,
            TBLAS_OP_N,
            1,
            1,
            1,
            &one,
            a.as_ptr(),
            1,
            b.as_ptr(),
            1,
            &zero,
            c.as_mut_ptr(),
            1,
        )
    };
    assert_eq!(st, 0);
    assert_eq!(c[0], tblas_complex_float { re: 1.0, im: -7.0 });
    let _ = c32(0.0, 0.0);
    unsafe { tblas_destroy(h) };
}
