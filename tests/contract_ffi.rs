//! The contraction entry points of the C ABI: a success path per type, the error table (every
//! argument position of tblas_contract, tblas_einsum and tblas_einsum_explain, one bad value
//! each, exact status and position, C untouched), and the explain buffer rules.

// These tests drive the C ABI with buffers and handles they own; every unsafe call's
// preconditions are the surrounding setup, so per-block SAFETY comments would only repeat it.
#![allow(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, c_void, CStr};
use std::ptr::{null, null_mut};
use tensorblas::ffi::*;
use tensorblas::{Complex32, Complex64, Handle, Shape};

fn last() -> (i32, String) {
    let msg = unsafe { CStr::from_ptr(tblas_get_last_error_message()) };
    (tblas_get_last_error_position(), msg.to_string_lossy().into_owned())
}

fn handle() -> *mut tblas_handle {
    let mut h = null_mut();
    assert_eq!(unsafe { tblas_create(&mut h) }, TBLAS_STATUS_SUCCESS);
    h
}

/// C_mn = A_mk B_kn with m = 2, k = 3, n = 2 through tblas_contract, every type.
#[test]
fn contract_and_einsum_compute_through_the_c_abi() {
    let h = handle();
    let a: Vec<f64> = (1..=6).map(f64::from).collect(); // 2x3 column-major
    let b: Vec<f64> = (1..=6).map(f64::from).collect(); // 3x2
    let expect = [22.0, 28.0, 49.0, 64.0];
    let (ma, mb, mc) = ([0i32, 2], [2i32, 1], [0i32, 1]);
    let (ea, eb, ec) = ([2i64, 3], [3i64, 2], [2i64, 2]);
    macro_rules! each {
        ($t:ty, $dt:expr, $mk:expr) => {{
            let conv = |v: &[f64]| -> Vec<$t> { v.iter().map(|&x| $mk(x)).collect() };
            let (a, b) = (conv(&a), conv(&b));
            let (one, zero): ($t, $t) = ($mk(1.0), $mk(0.0));
            let mut c: Vec<$t> = conv(&[9.0; 4]);
            let s = unsafe {
                tblas_contract(
                    h,
                    $dt,
                    &one as *const $t as *const c_void,
                    a.as_ptr() as *const c_void,
                    2,
                    ma.as_ptr(),
                    ea.as_ptr(),
                    null(),
                    b.as_ptr() as *const c_void,
                    2,
                    mb.as_ptr(),
                    eb.as_ptr(),
                    null(),
                    &zero as *const $t as *const c_void,
                    c.as_mut_ptr() as *mut c_void,
                    2,
                    mc.as_ptr(),
                    ec.as_ptr(),
                    null(),
                )
            };
            assert_eq!(s, TBLAS_STATUS_SUCCESS, "{:?}", last());
            assert_eq!(c, conv(&expect));
            // The same through einsum with explicit row-major strides for C (C^T stored).
            let mut c2: Vec<$t> = conv(&[9.0; 4]);
            let st_c = [2i64, 1];
            let s = unsafe {
                tblas_einsum(
                    h,
                    $dt,
                    c"mk, kn -> mn".as_ptr(),
                    &one as *const $t as *const c_void,
                    a.as_ptr() as *const c_void,
                    ea.as_ptr(),
                    null(),
                    b.as_ptr() as *const c_void,
                    eb.as_ptr(),
                    null(),
                    &zero as *const $t as *const c_void,
                    c2.as_mut_ptr() as *mut c_void,
                    ec.as_ptr(),
                    st_c.as_ptr(),
                )
            };
            assert_eq!(s, TBLAS_STATUS_SUCCESS, "{:?}", last());
            assert_eq!(c2, conv(&[22.0, 49.0, 28.0, 64.0]));
        }};
    }
    each!(f32, TBLAS_R_32F, |x: f64| x as f32);
    each!(f64, TBLAS_R_64F, |x: f64| x);
    each!(Complex32, TBLAS_C_32F, |x: f64| Complex32::new(x as f32, 0.0));
    each!(Complex64, TBLAS_C_64F, |x: f64| Complex64::new(x, 0.0));
    unsafe { tblas_destroy(h) };
}

/// Every argument of tblas_contract as the table mutates it.
#[derive(Clone, Copy)]
struct Args {
    h: *mut tblas_handle,
    ty: i32,
    alpha: *const c_void,
    a: *const c_void,
    na: i32,
    ma: *const i32,
    ea: *const i64,
    sa: *const i64,
    b: *const c_void,
    nb: i32,
    mb: *const i32,
    eb: *const i64,
    sb: *const i64,
    beta: *const c_void,
    c: *mut c_void,
    nc: i32,
    mc: *const i32,
    ec: *const i64,
    sc: *const i64,
}

#[test]
fn contract_error_table_every_position() {
    let h = handle();
    let a = [1.0f64; 6];
    let b = [1.0f64; 6];
    let mut c = [7.0f64; 8];
    let (one, zero) = (1.0f64, 0.0f64);
    let (ma, mb, mc) = ([0i32, 2], [2i32, 1], [0i32, 1]);
    let (ea, eb, ec) = ([2i64, 3], [3i64, 2], [2i64, 2]);
    let (neg, bad_eb, mc_only, alias) = ([1i64, -2], [4i64, 2], [0i32, 9], [1i64, 1]);
    let good = Args {
        h,
        ty: TBLAS_R_64F,
        alpha: &one as *const f64 as _,
        a: a.as_ptr() as _,
        na: 2,
        ma: ma.as_ptr(),
        ea: ea.as_ptr(),
        sa: null(),
        b: b.as_ptr() as _,
        nb: 2,
        mb: mb.as_ptr(),
        eb: eb.as_ptr(),
        sb: null(),
        beta: &zero as *const f64 as _,
        c: c.as_mut_ptr() as _,
        nc: 2,
        mc: mc.as_ptr(),
        ec: ec.as_ptr(),
        sc: null(),
    };
    let overlap = unsafe { (a.as_ptr() as *mut f64).add(1) } as *mut c_void;
    type Edit = Box<dyn Fn(&mut Args)>;
    let table: Vec<(i32, i32, Edit)> = vec![
        (1, TBLAS_STATUS_NOT_INITIALIZED, Box::new(|x| x.h = null_mut())),
        (2, 7, Box::new(|x| x.ty = 9)),
        (3, 7, Box::new(|x| x.alpha = null())),
        (4, 7, Box::new(|x| x.a = null())),
        (5, 7, Box::new(|x| x.na = -1)),
        (6, 7, Box::new(|x| x.ma = null())),
        (7, 7, Box::new(|x| x.ea = null())),
        (8, 7, Box::new(move |x| x.sa = neg.as_ptr())),
        (9, 7, Box::new(|x| x.b = null())),
        (10, 7, Box::new(|x| x.nb = -3)),
        (11, 7, Box::new(|x| x.mb = null())),
        (12, 7, Box::new(move |x| x.eb = bad_eb.as_ptr())),
        (13, 7, Box::new(move |x| x.sb = neg.as_ptr())),
        (14, 7, Box::new(|x| x.beta = null())),
        (15, 7, Box::new(|x| x.c = null_mut())),
        (15, 7, Box::new(move |x| x.c = overlap)),
        (16, 7, Box::new(|x| x.nc = -1)),
        (17, 7, Box::new(move |x| x.mc = mc_only.as_ptr())),
        (18, 7, Box::new(|x| x.ec = null())),
        (19, 7, Box::new(move |x| x.sc = alias.as_ptr())),
        (19, 7, Box::new(move |x| x.sc = neg.as_ptr())),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (pos, status, edit) in &table {
        let mut x = good;
        edit(&mut x);
        let before = c;
        let s = unsafe {
            tblas_contract(
                x.h, x.ty, x.alpha, x.a, x.na, x.ma, x.ea, x.sa, x.b, x.nb, x.mb, x.eb, x.sb, x.beta, x.c, x.nc, x.mc,
                x.ec, x.sc,
            )
        };
        let (p, msg) = last();
        assert_eq!((s, p), (*status, *pos), "position {pos}: {msg}");
        assert!(msg.starts_with(&format!("tblas_contract: argument {pos} (")), "{msg}");
        assert_eq!(c, before, "position {pos}: C changed");
        assert!(a.iter().all(|&v| v == 1.0), "A changed");
        seen.insert(*pos);
    }
    assert_eq!(seen.len(), 19, "every argument position of tblas_contract");
    // The good call succeeds (the table's base is valid).
    let x = good;
    let s = unsafe {
        tblas_contract(
            x.h, x.ty, x.alpha, x.a, x.na, x.ma, x.ea, x.sa, x.b, x.nb, x.mb, x.eb, x.sb, x.beta, x.c, x.nc, x.mc,
            x.ec, x.sc,
        )
    };
    assert_eq!(s, TBLAS_STATUS_SUCCESS);
    assert_eq!(&c[..4], &[3.0; 4]);
    // Too many modes: NOT_SUPPORTED, naming the argument.
    let s = unsafe {
        tblas_contract(
            h, x.ty, x.alpha, x.a, 99, x.ma, x.ea, x.sa, x.b, x.nb, x.mb, x.eb, x.sb, x.beta, x.c, x.nc, x.mc, x.ec,
            x.sc,
        )
    };
    assert_eq!(s, TBLAS_STATUS_NOT_SUPPORTED);
    assert!(last().1.contains("nmode_a"), "{}", last().1);
    unsafe { tblas_destroy(h) };
}

#[test]
fn einsum_error_table_every_position() {
    let h = handle();
    let a = [1.0f32; 6];
    let b = [1.0f32; 6];
    let mut c = [7.0f32; 4];
    let (one, zero) = (1.0f32, 0.0f32);
    let (ea, eb, ec) = ([2i64, 3], [3i64, 2], [2i64, 2]);
    let (neg, bad, alias) = ([1i64, -2], [4i64, 2], [1i64, 1]);
    let spec = c"mk,kn->mn";
    #[derive(Clone, Copy)]
    struct E {
        h: *mut tblas_handle,
        ty: i32,
        spec: *const c_char,
        alpha: *const c_void,
        a: *const c_void,
        ea: *const i64,
        sa: *const i64,
        b: *const c_void,
        eb: *const i64,
        sb: *const i64,
        beta: *const c_void,
        c: *mut c_void,
        ec: *const i64,
        sc: *const i64,
    }
    let good = E {
        h,
        ty: TBLAS_R_32F,
        spec: spec.as_ptr(),
        alpha: &one as *const f32 as _,
        a: a.as_ptr() as _,
        ea: ea.as_ptr(),
        sa: null(),
        b: b.as_ptr() as _,
        eb: eb.as_ptr(),
        sb: null(),
        beta: &zero as *const f32 as _,
        c: c.as_mut_ptr() as _,
        ec: ec.as_ptr(),
        sc: null(),
    };
    let bad_spec = c"mk,kn=>mn";
    type Edit = Box<dyn Fn(&mut E)>;
    let table: Vec<(i32, i32, Edit)> = vec![
        (1, TBLAS_STATUS_NOT_INITIALIZED, Box::new(|x| x.h = null_mut())),
        (2, 7, Box::new(|x| x.ty = -1)),
        (3, 7, Box::new(|x| x.spec = null())),
        (3, 7, Box::new(move |x| x.spec = bad_spec.as_ptr())),
        (4, 7, Box::new(|x| x.alpha = null())),
        (5, 7, Box::new(|x| x.a = null())),
        (6, 7, Box::new(|x| x.ea = null())),
        (7, 7, Box::new(move |x| x.sa = neg.as_ptr())),
        (8, 7, Box::new(|x| x.b = null())),
        (9, 7, Box::new(move |x| x.eb = bad.as_ptr())),
        (10, 7, Box::new(move |x| x.sb = neg.as_ptr())),
        (11, 7, Box::new(|x| x.beta = null())),
        (12, 7, Box::new(|x| x.c = null_mut())),
        (13, 7, Box::new(|x| x.ec = null())),
        (14, 7, Box::new(move |x| x.sc = alias.as_ptr())),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (pos, status, edit) in &table {
        let mut x = good;
        edit(&mut x);
        let before = c;
        let s = unsafe {
            tblas_einsum(
                x.h, x.ty, x.spec, x.alpha, x.a, x.ea, x.sa, x.b, x.eb, x.sb, x.beta, x.c, x.ec, x.sc,
            )
        };
        let (p, msg) = last();
        assert_eq!((s, p), (*status, *pos), "position {pos}: {msg}");
        assert!(msg.starts_with(&format!("tblas_einsum: argument {pos} (")), "{msg}");
        assert_eq!(c, before, "position {pos}: C changed");
        seen.insert(*pos);
    }
    assert_eq!(seen.len(), 14, "every argument position of tblas_einsum");
    unsafe { tblas_destroy(h) };
}

#[test]
fn explain_writes_the_plan_or_fails_cleanly() {
    let h = handle();
    let (ea, eb, ec) = ([4i64, 3], [3i64, 5, 6], [4i64, 5, 6]);
    let spec = c"mk,knp->mnp";
    let mut buf = [0x55 as c_char; 256];
    let call = |h: *mut tblas_handle,
                ty: i32,
                spec: *const c_char,
                e: [*const i64; 3],
                s: [*const i64; 3],
                buf: *mut c_char,
                len: usize| {
        let st = unsafe { tblas_einsum_explain(h, ty, spec, e[0], s[0], e[1], s[1], e[2], s[2], buf, len) };
        (st, last())
    };
    let e = [ea.as_ptr(), eb.as_ptr(), ec.as_ptr()];
    let no = [null(); 3];
    assert_eq!(
        call(h, TBLAS_R_32F, spec.as_ptr(), e, no, buf.as_mut_ptr(), buf.len()).0,
        TBLAS_STATUS_SUCCESS
    );
    let text = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap().to_string();
    let rust = Handle::new()
        .unwrap()
        .einsum_plan::<f32>(
            "mk,knp->mnp",
            &Shape::col_major(&[4, 3]),
            &Shape::col_major(&[3, 5, 6]),
            &Shape::col_major(&[4, 5, 6]),
        )
        .unwrap()
        .to_string();
    assert_eq!(text, rust);
    assert!(text.starts_with("gemm: "), "{text}");
    // Too small by one byte (the NUL): INVALID_VALUE at buf_len, nothing written.
    let mut small = [0x55 as c_char; 256];
    let (s, (p, msg)) = call(h, TBLAS_R_32F, spec.as_ptr(), e, no, small.as_mut_ptr(), text.len());
    assert_eq!((s, p), (7, 11), "{msg}");
    assert!(small.iter().all(|&x| x == 0x55));
    // The other positions.
    let neg = [1i64, -1, 1];
    let alias = [1i64, 1, 1];
    let bad = [4i64, 4];
    type Outcome = (i32, (i32, String));
    let cases: Vec<(i32, Outcome)> = vec![
        (
            1,
            call(null_mut(), TBLAS_R_32F, spec.as_ptr(), e, no, buf.as_mut_ptr(), 256),
        ),
        (2, call(h, 4, spec.as_ptr(), e, no, buf.as_mut_ptr(), 256)),
        (
            3,
            call(h, TBLAS_R_32F, c"mk,knp".as_ptr(), e, no, buf.as_mut_ptr(), 256),
        ),
        (
            4,
            call(
                h,
                TBLAS_R_32F,
                spec.as_ptr(),
                [null(), e[1], e[2]],
                no,
                buf.as_mut_ptr(),
                256,
            ),
        ),
        (
            5,
            call(
                h,
                TBLAS_R_32F,
                spec.as_ptr(),
                e,
                [neg.as_ptr(), null(), null()],
                buf.as_mut_ptr(),
                256,
            ),
        ),
        (
            6,
            call(
                h,
                TBLAS_R_32F,
                spec.as_ptr(),
                [e[0], bad.as_ptr(), e[2]],
                no,
                buf.as_mut_ptr(),
                256,
            ),
        ),
        (
            7,
            call(
                h,
                TBLAS_R_32F,
                spec.as_ptr(),
                e,
                [null(), neg.as_ptr(), null()],
                buf.as_mut_ptr(),
                256,
            ),
        ),
        (
            8,
            call(
                h,
                TBLAS_R_32F,
                spec.as_ptr(),
                [e[0], e[1], null()],
                no,
                buf.as_mut_ptr(),
                256,
            ),
        ),
        (
            9,
            call(
                h,
                TBLAS_R_32F,
                spec.as_ptr(),
                e,
                [null(), null(), alias.as_ptr()],
                buf.as_mut_ptr(),
                256,
            ),
        ),
        (10, call(h, TBLAS_R_32F, spec.as_ptr(), e, no, null_mut(), 256)),
        (11, call(h, TBLAS_R_32F, spec.as_ptr(), e, no, buf.as_mut_ptr(), 0)),
    ];
    for (pos, (s, (p, msg))) in cases {
        let want = if pos == 1 { TBLAS_STATUS_NOT_INITIALIZED } else { 7 };
        assert_eq!((s, p), (want, pos), "position {pos}: {msg}");
        assert!(msg.starts_with("tblas_einsum_explain: argument"), "{msg}");
    }
    unsafe { tblas_destroy(h) };
}
