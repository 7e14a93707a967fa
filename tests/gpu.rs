//! The CUDA backend against the oracle. Every test that needs a GPU is `#[ignore]`d with the
//! reason, so that `cargo test` on a machine without one reports it as ignored rather than
//! passed; run them with `cargo test --test gpu -- --include-ignored`. Then a test that finds no
//! usable GPU (driver, cuBLAS 13, NVRTC, device) prints `skipping <test>: <why>`, unless
//! TBLAS_REQUIRE_GPU=1 (set by `benches/gpu/device-run.sh`), which makes it fail. The tests at
//! the end run everywhere: what a machine without a GPU must answer.

// These tests drive the C ABI with buffers and handles they own; every unsafe call's
// preconditions are the surrounding setup, so per-block SAFETY comments would only repeat it.
#![allow(clippy::undocumented_unsafe_blocks)]

mod common;
use common::*;
use std::ffi::{c_void, CStr};
use std::ptr::{null, null_mut};
use tensorblas::ffi::*;
use tensorblas::{
    Complex32, Complex64, CpuBackend, DeviceBuffer, Error, GpuEngine, Handle, Op, Scalar, Shape, StridedMut,
    StridedRef, TensorMut, TensorRef,
};

fn require_gpu() -> bool {
    std::env::var("TBLAS_REQUIRE_GPU").is_ok_and(|v| v == "1")
}

/// A CUDA handle on device 0, or `None` after printing why the test is skipped.
fn gpu_or_skip(test: &str) -> Option<Handle> {
    match Handle::cuda(0) {
        Ok(h) => Some(h),
        Err(e) => {
            assert!(!require_gpu(), "{test}: TBLAS_REQUIRE_GPU=1 but no usable GPU: {e}");
            eprintln!("skipping {test}: {e}");
            None
        }
    }
}

const ENGINES: [GpuEngine; 4] = [GpuEngine::Auto, GpuEngine::Cublas, GpuEngine::General, GpuEngine::Small];

/// One general-stride case: stored layouts of A, B and C (strides may be anything the API
/// accepts), run on the GPU with `engine` and compared with the oracle. Returns false when the
/// engine declined the case (NotSupported), which is only legal for Cublas (inexpressible
/// layouts) and Small (too large).
#[allow(clippy::too_many_arguments)]
fn ex_case<T: Scalar>(
    h: &Handle,
    engine: GpuEngine,
    (ta, tb): (Op, Op),
    (m, n, k, batch): (usize, usize, usize, usize),
    (alpha, beta): (T, T),
    sa: (isize, isize, isize),
    sb: (isize, isize, isize),
    sc: (isize, isize, isize),
    seed: u64,
) -> bool {
    let mut r = rng(seed);
    let (ra, ca) = if ta == Op::N { (m, k) } else { (k, m) };
    let (rb, cb) = if tb == Op::N { (k, n) } else { (n, k) };
    let (la_len, la_org) = extent(ra, ca, batch, sa.0, sa.1, sa.2, 0);
    let (lb_len, lb_org) = extent(rb, cb, batch, sb.0, sb.1, sb.2, 0);
    let (lc_len, lc_org) = extent(m, n, batch, sc.0, sc.1, sc.2, 3);
    let la = Layout {
        origin: la_org,
        rs: sa.0,
        cs: sa.1,
        bs: sa.2,
    };
    let lb = Layout {
        origin: lb_org,
        rs: sb.0,
        cs: sb.1,
        bs: sb.2,
    };
    let lc = Layout {
        origin: lc_org,
        rs: sc.0,
        cs: sc.1,
        bs: sc.2,
    };
    let a: Vec<T> = rand_vec(&mut r, la_len);
    let b: Vec<T> = rand_vec(&mut r, lb_len);
    let mut c: Vec<T> = vec![sentinel::<T>(); lc_len];
    let addr = addressed(lc_len, lc, m, n, batch);
    for (i, x) in c.iter_mut().enumerate() {
        if addr[i] {
            *x = if beta.is_zero() {
                T::from_c64(Complex64::new(f64::NAN, f64::NAN))
            } else {
                rand_val(&mut r)
            };
        }
    }
    let (expect, gauge) = oracle(ta, tb, m, n, k, alpha, &a, la, &b, lb, beta, &c, lc, batch);
    let (da, db) = (h.to_device(&a).unwrap(), h.to_device(&b).unwrap());
    let mut dc = h.to_device(&c).unwrap();
    h.set_gpu_engine(engine).unwrap();
    let res = h.gemm_strided_batched_ex(
        ta,
        tb,
        m,
        n,
        k,
        alpha,
        StridedRef::device(&da, la_org, sa.0, sa.1, sa.2),
        StridedRef::device(&db, lb_org, sb.0, sb.1, sb.2),
        beta,
        StridedMut::device(&mut dc, lc_org, sc.0, sc.1, sc.2),
        batch,
    );
    let what = format!(
        "{:?} {engine:?} {ta:?}{tb:?} {m}x{n}x{k} batch {batch} A{sa:?} B{sb:?} C{sc:?}",
        T::DATATYPE
    );
    match res {
        Ok(()) => {}
        Err(Error::NotSupported(why)) if matches!(engine, GpuEngine::Cublas | GpuEngine::Small) => {
            let _ = why;
            return false;
        }
        Err(e) => panic!("{what}: {e}"),
    }
    let got = dc.to_vec().unwrap();
    check(&what, &got, &c, &expect, &gauge, &addr, k);
    true
}

fn ex_suite<T: Scalar>(h: &Handle) {
    let alpha = T::from_c64(Complex64::new(1.5, -0.5));
    let beta = T::from_c64(Complex64::new(-0.75, 0.25));
    let mut seed = 0;
    let mut ran = [0usize; 4];
    for (e, engine) in ENGINES.into_iter().enumerate() {
        for &(m, n, k, batch) in &[
            (1, 1, 1, 1),
            (4, 4, 4, 64),
            (7, 5, 3, 9),
            (16, 16, 16, 33),
            (33, 65, 17, 3),
            (130, 70, 96, 2),
        ] {
            for ta in OPS {
                for tb in OPS {
                    let (ra, ca) = if ta == Op::N { (m, k) } else { (k, m) };
                    let (rb, cb) = if tb == Op::N { (k, n) } else { (n, k) };
                    let (ea, eb, ec) = ((ra * ca) as isize, (rb * cb) as isize, (m * n) as isize);
                    // column-major, packed batch
                    let layouts = [
                        ((1, ra as isize, ea), (1, rb as isize, eb), (1, m as isize, ec)),
                        // row-major C, padded ld, B broadcast (stride 0)
                        (
                            (1, ra as isize + 3, ea + 3 * ca as isize),
                            (1, rb as isize, 0),
                            (n as isize + 1, 1, (m * (n + 1)) as isize),
                        ),
                        // interleaved C (ldc = m*batch, stride_c = m), A batch-innermost
                        (
                            (batch as isize, (ra * batch) as isize, 1),
                            (1, rb as isize, eb),
                            (1, (m * batch) as isize, m as isize),
                        ),
                        // general strides, negative batch stride for A
                        (
                            (2, 2 * ra as isize + 1, -(2 * ea + 2 * ca as isize)),
                            (cb as isize, 1, eb),
                            (2, 2 * m as isize, 2 * ec),
                        ),
                    ];
                    for (sa, sb, sc) in layouts {
                        seed += 1;
                        let betas = if seed % 3 == 0 { T::zero() } else { beta };
                        let alphas = if seed % 7 == 0 { T::zero() } else { alpha };
                        if ex_case(h, engine, (ta, tb), (m, n, k, batch), (alphas, betas), sa, sb, sc, seed) {
                            ran[e] += 1;
                        }
                    }
                }
            }
        }
    }
    h.set_gpu_engine(GpuEngine::Auto).unwrap();
    eprintln!(
        "{:?}: cases run per engine (auto, cublas, general, small): {ran:?}",
        T::DATATYPE
    );
    assert!(ran.iter().all(|&r| r > 0), "every engine must run some cases: {ran:?}");
}

#[test]
#[ignore = "needs an NVIDIA GPU (driver, cuBLAS 13, NVRTC): cargo test -- --include-ignored; TBLAS_REQUIRE_GPU=1 fails if none"]
fn gpu_general_stride_gemm_matches_the_oracle_on_every_engine() {
    let Some(h) = gpu_or_skip("gpu_general_stride_gemm_matches_the_oracle_on_every_engine") else {
        return;
    };
    eprintln!("device: {}", h.device_name().unwrap());
    ex_suite::<f32>(&h);
    ex_suite::<f64>(&h);
    ex_suite::<Complex32>(&h);
    ex_suite::<Complex64>(&h);
}

// ---- the C ABI on a CUDA handle: all 16 functions, device pointers --------------------------

struct CudaC {
    h: *mut tblas_handle,
}

impl CudaC {
    fn new(test: &str) -> Option<CudaC> {
        let mut h = null_mut();
        let st = unsafe { tblas_create_with_backend(&mut h, TBLAS_BACKEND_CUDA, 0) };
        if st != TBLAS_STATUS_SUCCESS {
            let msg = unsafe { CStr::from_ptr(tblas_get_last_error_message()) }
                .to_string_lossy()
                .into_owned();
            assert!(
                !require_gpu(),
                "{test}: TBLAS_REQUIRE_GPU=1 but tblas_create_with_backend failed ({st}): {msg}"
            );
            eprintln!("skipping {test}: {msg}");
            return None;
        }
        Some(CudaC { h })
    }
    fn upload<T: Scalar>(&self, host: &[T]) -> *mut T {
        let bytes = std::mem::size_of_val(host).max(1);
        let mut p = null_mut();
        assert_eq!(
            unsafe { tblas_device_malloc(self.h, &mut p, bytes) },
            TBLAS_STATUS_SUCCESS
        );
        assert_eq!(
            unsafe { tblas_memcpy_htod(self.h, p, host.as_ptr() as *const c_void, std::mem::size_of_val(host)) },
            0
        );
        p as *mut T
    }
    fn download<T: Scalar>(&self, d: *const T, host: &mut [T]) {
        let st = unsafe {
            tblas_memcpy_dtoh(
                self.h,
                host.as_mut_ptr() as *mut c_void,
                d as *const c_void,
                std::mem::size_of_val(host),
            )
        };
        assert_eq!(st, TBLAS_STATUS_SUCCESS);
    }
    fn free<T>(&self, d: *mut T) {
        assert_eq!(
            unsafe { tblas_device_free(self.h, d as *mut c_void) },
            TBLAS_STATUS_SUCCESS
        );
    }
}

impl Drop for CudaC {
    fn drop(&mut self) {
        unsafe { tblas_destroy(self.h) };
    }
}

trait CFfi: Scalar {
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        h: *mut tblas_handle,
        ta: i32,
        tb: i32,
        m: i64,
        n: i64,
        k: i64,
        al: &Self,
        a: *const Self,
        lda: i64,
        b: *const Self,
        ldb: i64,
        be: &Self,
        c: *mut Self,
        ldc: i64,
    ) -> i32;
    #[allow(clippy::too_many_arguments)]
    unsafe fn strided(
        h: *mut tblas_handle,
        ta: i32,
        tb: i32,
        m: i64,
        n: i64,
        k: i64,
        al: &Self,
        a: *const Self,
        lda: i64,
        sa: i64,
        b: *const Self,
        ldb: i64,
        sb: i64,
        be: &Self,
        c: *mut Self,
        ldc: i64,
        sc: i64,
        batch: i64,
    ) -> i32;
    #[allow(clippy::too_many_arguments)]
    unsafe fn batched(
        h: *mut tblas_handle,
        ta: i32,
        tb: i32,
        m: i64,
        n: i64,
        k: i64,
        al: &Self,
        a: *const *const Self,
        lda: i64,
        b: *const *const Self,
        ldb: i64,
        be: &Self,
        c: *const *mut Self,
        ldc: i64,
        batch: i64,
    ) -> i32;
}

macro_rules! cffi {
    ($t:ty, $ct:ty, $g:ident, $gs:ident, $gb:ident) => {
        impl CFfi for $t {
            unsafe fn gemm(
                h: *mut tblas_handle,
                ta: i32,
                tb: i32,
                m: i64,
                n: i64,
                k: i64,
                al: &Self,
                a: *const Self,
                lda: i64,
                b: *const Self,
                ldb: i64,
                be: &Self,
                c: *mut Self,
                ldc: i64,
            ) -> i32 {
                unsafe {
                    $g(
                        h,
                        ta,
                        tb,
                        m,
                        n,
                        k,
                        al as *const _ as *const $ct,
                        a as *const $ct,
                        lda,
                        b as *const $ct,
                        ldb,
                        be as *const _ as *const $ct,
                        c as *mut $ct,
                        ldc,
                    )
                }
            }
            unsafe fn strided(
                h: *mut tblas_handle,
                ta: i32,
                tb: i32,
                m: i64,
                n: i64,
                k: i64,
                al: &Self,
                a: *const Self,
                lda: i64,
                sa: i64,
                b: *const Self,
                ldb: i64,
                sb: i64,
                be: &Self,
                c: *mut Self,
                ldc: i64,
                sc: i64,
                batch: i64,
            ) -> i32 {
                unsafe {
                    $gs(
                        h,
                        ta,
                        tb,
                        m,
                        n,
                        k,
                        al as *const _ as *const $ct,
                        a as *const $ct,
                        lda,
                        sa,
                        b as *const $ct,
                        ldb,
                        sb,
                        be as *const _ as *const $ct,
                        c as *mut $ct,
                        ldc,
                        sc,
                        batch,
                    )
                }
            }
            unsafe fn batched(
                h: *mut tblas_handle,
                ta: i32,
                tb: i32,
                m: i64,
                n: i64,
                k: i64,
                al: &Self,
                a: *const *const Self,
                lda: i64,
                b: *const *const Self,
                ldb: i64,
                be: &Self,
                c: *const *mut Self,
                ldc: i64,
                batch: i64,
            ) -> i32 {
                unsafe {
                    $gb(
                        h,
                        ta,
                        tb,
                        m,
                        n,
                        k,
                        al as *const _ as *const $ct,
                        a as *const *const $ct,
                        lda,
                        b as *const *const $ct,
                        ldb,
                        be as *const _ as *const $ct,
                        c as *const *mut $ct,
                        ldc,
                        batch,
                    )
                }
            }
        }
    };
}
cffi!(f32, f32, tblas_sgemm, tblas_sgemm_strided_batched, tblas_sgemm_batched);
cffi!(f64, f64, tblas_dgemm, tblas_dgemm_strided_batched, tblas_dgemm_batched);
cffi!(
    Complex32,
    tblas_complex_float,
    tblas_cgemm,
    tblas_cgemm_strided_batched,
    tblas_cgemm_batched
);
cffi!(
    Complex64,
    tblas_complex_double,
    tblas_zgemm,
    tblas_zgemm_strided_batched,
    tblas_zgemm_batched
);

fn c_abi_suite<T: CFfi>(g: &CudaC) {
    let alpha = T::from_c64(Complex64::new(0.5, 1.0));
    let beta = T::from_c64(Complex64::new(2.0, -1.0));
    let mut seed = 1000;
    for &(m, n, k, batch) in &[(3, 4, 5, 7), (64, 64, 64, 4), (100, 1, 37, 3)] {
        for ta in OPS {
            for tb in OPS {
                seed += 1;
                let mut r = rng(seed);
                let (ra, ca) = if ta == Op::N { (m, k) } else { (k, m) };
                let (rb, cb) = if tb == Op::N { (k, n) } else { (n, k) };
                let (lda, ldb, ldc) = (ra + 1, rb + 2, m + 3);
                let (sa, sb, sc) = (lda * ca, 0usize, ldc * n + 5); // B broadcast
                let a: Vec<T> = rand_vec(&mut r, sa * batch);
                let b: Vec<T> = rand_vec(&mut r, ldb * cb);
                let c: Vec<T> = rand_vec(&mut r, sc * batch);
                let la = Layout {
                    origin: 0,
                    rs: 1,
                    cs: lda as isize,
                    bs: sa as isize,
                };
                let lb = Layout {
                    origin: 0,
                    rs: 1,
                    cs: ldb as isize,
                    bs: sb as isize,
                };
                let lc = Layout {
                    origin: 0,
                    rs: 1,
                    cs: ldc as isize,
                    bs: sc as isize,
                };
                let addr = addressed(c.len(), lc, m, n, batch);
                let addr1 = addressed(c.len(), lc, m, n, 1);
                let (da, db, dc) = (g.upload(&a), g.upload(&b), g.upload(&c));
                let what = format!("{:?} {ta:?}{tb:?} {m}x{n}x{k}x{batch}", T::DATATYPE);
                // strided batched
                let st = unsafe {
                    T::strided(
                        g.h,
                        ta as i32,
                        tb as i32,
                        m as i64,
                        n as i64,
                        k as i64,
                        &alpha,
                        da,
                        lda as i64,
                        sa as i64,
                        db,
                        ldb as i64,
                        0,
                        &beta,
                        dc,
                        ldc as i64,
                        sc as i64,
                        batch as i64,
                    )
                };
                assert_eq!(st, 0, "{what}: strided");
                let mut got = c.clone();
                g.download(dc, &mut got);
                let (e, ga) = oracle(ta, tb, m, n, k, alpha, &a, la, &b, lb, beta, &c, lc, batch);
                check(&format!("{what} strided"), &got, &c, &e, &ga, &addr, k);
                // gemm on entry 0 (restore C first)
                g.free(dc);
                let dc = g.upload(&c);
                let st = unsafe {
                    T::gemm(
                        g.h, ta as i32, tb as i32, m as i64, n as i64, k as i64, &alpha, da, lda as i64, db,
                        ldb as i64, &beta, dc, ldc as i64,
                    )
                };
                assert_eq!(st, 0, "{what}: gemm");
                g.download(dc, &mut got);
                let (e, ga) = oracle(ta, tb, m, n, k, alpha, &a, la, &b, lb, beta, &c, lc, 1);
                check(&format!("{what} gemm"), &got, &c, &e, &ga, &addr1, k);
                // pointer-array batched, entries in reverse order (host arrays of device pointers)
                g.free(dc);
                let dc = g.upload(&c);
                let ap: Vec<*const T> = (0..batch)
                    .map(|p| da.wrapping_add((batch - 1 - p) * sa) as *const T)
                    .collect();
                let bp: Vec<*const T> = (0..batch).map(|_| db as *const T).collect();
                let cp: Vec<*mut T> = (0..batch).map(|p| dc.wrapping_add(p * sc)).collect();
                let st = unsafe {
                    T::batched(
                        g.h,
                        ta as i32,
                        tb as i32,
                        m as i64,
                        n as i64,
                        k as i64,
                        &alpha,
                        ap.as_ptr(),
                        lda as i64,
                        bp.as_ptr(),
                        ldb as i64,
                        &beta,
                        cp.as_ptr(),
                        ldc as i64,
                        batch as i64,
                    )
                };
                assert_eq!(st, 0, "{what}: batched");
                g.download(dc, &mut got);
                let la_rev = Layout {
                    origin: (batch - 1) * sa,
                    rs: 1,
                    cs: lda as isize,
                    bs: -(sa as isize),
                };
                let (e, ga) = oracle(ta, tb, m, n, k, alpha, &a, la_rev, &b, lb, beta, &c, lc, batch);
                check(&format!("{what} batched"), &got, &c, &e, &ga, &addr, k);
                for d in [da, db, dc] {
                    g.free(d);
                }
            }
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU (driver, cuBLAS 13, NVRTC): cargo test -- --include-ignored; TBLAS_REQUIRE_GPU=1 fails if none"]
fn gpu_c_abi_gemm_family_matches_the_oracle() {
    let Some(g) = CudaC::new("gpu_c_abi_gemm_family_matches_the_oracle") else {
        return;
    };
    c_abi_suite::<f32>(&g);
    c_abi_suite::<f64>(&g);
    c_abi_suite::<Complex32>(&g);
    c_abi_suite::<Complex64>(&g);
    assert_eq!(unsafe { tblas_synchronize(g.h) }, TBLAS_STATUS_SUCCESS);
}

#[test]
#[ignore = "needs an NVIDIA GPU (driver, cuBLAS 13, NVRTC): cargo test -- --include-ignored; TBLAS_REQUIRE_GPU=1 fails if none"]
fn gpu_errors_equal_the_cpu_errors_and_leave_c_untouched() {
    let Some(g) = CudaC::new("gpu_errors_equal_the_cpu_errors_and_leave_c_untouched") else {
        return;
    };
    let mut cpu = null_mut();
    assert_eq!(unsafe { tblas_create(&mut cpu) }, 0);
    let host_c = vec![7.0f64; 64];
    let (da, dc) = (g.upload(&vec![1.0f64; 64]), g.upload(&host_c));
    let one = 1.0f64;
    // (m, n, k, lda, ldc, stride_c, batch) with one rule broken each.
    let bad: [(i64, i64, i64, i64, i64, i64, i64); 5] = [
        (-1, 2, 2, 2, 2, 4, 2), // m < 0
        (2, 2, 2, 1, 2, 4, 2),  // lda < m
        (2, 2, 2, 2, 1, 4, 2),  // ldc < m
        (2, 2, 2, 2, 2, 1, 2),  // C entries overlap
        (2, 2, 2, 2, 2, 4, -1), // batch < 0
    ];
    for (m, n, k, lda, ldc, sc, batch) in bad {
        let st_gpu = unsafe {
            f64::strided(
                g.h, 0, 0, m, n, k, &one, da, lda, 4, da, lda, 4, &one, dc, ldc, sc, batch,
            )
        };
        let pos_gpu = tblas_get_last_error_position();
        let st_cpu = unsafe {
            f64::strided(
                cpu, 0, 0, m, n, k, &one, da, lda, 4, da, lda, 4, &one, dc, ldc, sc, batch,
            )
        };
        let pos_cpu = tblas_get_last_error_position();
        assert_eq!(
            (st_gpu, pos_gpu),
            (st_cpu, pos_cpu),
            "case {:?}",
            (m, n, k, lda, ldc, sc, batch)
        );
        assert_eq!(st_gpu, TBLAS_STATUS_INVALID_VALUE);
    }
    let mut got = vec![0.0f64; 64];
    g.download(dc, &mut got);
    assert_eq!(got, host_c, "C changed by rejected calls");
    // C overlapping A (same device buffer) is rejected on the GPU too.
    let st = unsafe { f64::strided(g.h, 0, 0, 2, 2, 2, &one, dc, 2, 4, da, 2, 4, &one, dc, 2, 4, 2) };
    assert_eq!((st, tblas_get_last_error_position()), (TBLAS_STATUS_INVALID_VALUE, 15));
    unsafe { tblas_destroy(cpu) };
    g.free(da);
    g.free(dc);
}

#[test]
#[ignore = "needs an NVIDIA GPU (driver, cuBLAS 13, NVRTC): cargo test -- --include-ignored; TBLAS_REQUIRE_GPU=1 fails if none"]
fn gpu_device_memory_helpers_check_their_arguments() {
    let Some(g) = CudaC::new("gpu_device_memory_helpers_check_their_arguments") else {
        return;
    };
    let mut p = null_mut();
    assert_eq!(unsafe { tblas_device_malloc(g.h, &mut p, 0) }, TBLAS_STATUS_SUCCESS);
    assert!(p.is_null(), "0 bytes gives NULL");
    assert_eq!(
        unsafe { tblas_device_malloc(g.h, null_mut(), 8) },
        TBLAS_STATUS_INVALID_VALUE
    );
    assert_eq!(tblas_get_last_error_position(), 2);
    assert_eq!(unsafe { tblas_device_malloc(g.h, &mut p, 64) }, TBLAS_STATUS_SUCCESS);
    let host = [3u8; 80];
    // Past the end of the 64-byte block.
    assert_eq!(
        unsafe { tblas_memcpy_htod(g.h, p, host.as_ptr() as *const c_void, 80) },
        TBLAS_STATUS_INVALID_VALUE
    );
    assert_eq!(tblas_get_last_error_position(), 4);
    let inner = (p as *mut u8).wrapping_add(60) as *mut c_void;
    assert_eq!(
        unsafe { tblas_memcpy_htod(g.h, inner, host.as_ptr() as *const c_void, 8) },
        TBLAS_STATUS_INVALID_VALUE
    );
    assert_eq!(
        unsafe { tblas_memcpy_htod(g.h, null_mut(), host.as_ptr() as *const c_void, 8) },
        TBLAS_STATUS_INVALID_VALUE
    );
    assert_eq!(tblas_get_last_error_position(), 2);
    assert_eq!(
        unsafe { tblas_memcpy_dtoh(g.h, null_mut(), p, 8) },
        TBLAS_STATUS_INVALID_VALUE
    );
    assert_eq!(
        unsafe { tblas_memcpy_htod(g.h, p, host.as_ptr() as *const c_void, 64) },
        TBLAS_STATUS_SUCCESS
    );
    let mut back = [0u8; 64];
    assert_eq!(
        unsafe { tblas_memcpy_dtoh(g.h, back.as_mut_ptr() as *mut c_void, p, 64) },
        TBLAS_STATUS_SUCCESS
    );
    assert_eq!(back, [3u8; 64]);
    // Free: once, then an unknown pointer.
    assert_eq!(unsafe { tblas_device_free(g.h, p) }, TBLAS_STATUS_SUCCESS);
    assert_eq!(unsafe { tblas_device_free(g.h, p) }, TBLAS_STATUS_INVALID_VALUE);
    assert_eq!(tblas_get_last_error_position(), 2);
    assert_eq!(unsafe { tblas_device_free(g.h, null_mut()) }, TBLAS_STATUS_SUCCESS);
    // NULL (the default stream) is always a valid stream; real streams: gpu_streams_*.
    assert_eq!(unsafe { tblas_set_stream(g.h, null_mut()) }, TBLAS_STATUS_SUCCESS);
}

/// The 128x128-tile kernel (`tblas_gemm_general_wide`: f32 with m and n above 64 and at least
/// 128 tiles over the batch) on ragged tiles, every op pair and a general-stride layout, forced
/// (`general`) and chosen by `auto` for a layout cuBLAS cannot express; f64 runs the same shapes
/// on the 64x64 kernel.
#[test]
#[ignore = "needs an NVIDIA GPU (driver, cuBLAS 13, NVRTC): cargo test -- --include-ignored; TBLAS_REQUIRE_GPU=1 fails if none"]
fn gpu_wide_tiles_match_the_oracle() {
    let Some(h) = gpu_or_skip("gpu_wide_tiles_match_the_oracle") else {
        return;
    };
    fn suite<T: Scalar>(h: &Handle) {
        let (alpha, beta) = (
            T::from_c64(Complex64::new(1.25, 0.0)),
            T::from_c64(Complex64::new(-0.5, 0.0)),
        );
        let (m, n, k, batch) = (129usize, 67usize, 21usize, 128usize);
        let mut seed = 900;
        for ta in [Op::N, Op::T] {
            for tb in [Op::N, Op::T] {
                let (ra, ca) = if ta == Op::N { (m, k) } else { (k, m) };
                let (rb, cb) = if tb == Op::N { (k, n) } else { (n, k) };
                let (ea, eb, ec) = ((ra * ca) as isize, (rb * cb) as isize, (m * n) as isize);
                let packed = ((1, ra as isize, ea), (1, rb as isize, eb), (1, m as isize, ec));
                // General strides (no unit stride in A, C interleaved by 2): only the own kernel.
                let general = (
                    (2, 2 * ra as isize + 1, 2 * ea + 2 * ca as isize),
                    (cb as isize, 1, eb),
                    (2, 2 * m as isize, 2 * ec),
                );
                for (engine, (sa, sb, sc)) in [
                    (GpuEngine::General, packed),
                    (GpuEngine::General, general),
                    (GpuEngine::Auto, general),
                ] {
                    seed += 1;
                    assert!(
                        ex_case(h, engine, (ta, tb), (m, n, k, batch), (alpha, beta), sa, sb, sc, seed),
                        "{engine:?} declined {ta:?}{tb:?}"
                    );
                }
            }
        }
        h.set_gpu_engine(GpuEngine::Auto).unwrap();
    }
    suite::<f32>(&h);
    suite::<f64>(&h);
}

/// The pitched row copies (`cuMemcpy2D`, used by the FMM-FFT on the GPU) against the same copies
/// done on the host: upload, device-to-device between buffers and within one, download, with
/// pitches wider than the rows, a single row, and the argument checks. (The first H200 run
/// aborted in the first of these: the descriptor was built with `mem::zeroed`.)
#[test]
#[ignore = "needs an NVIDIA GPU (driver, cuBLAS 13, NVRTC): cargo test -- --include-ignored; TBLAS_REQUIRE_GPU=1 fails if none"]
fn gpu_pitched_row_copies_match_the_host() {
    let Some(h) = gpu_or_skip("gpu_pitched_row_copies_match_the_host") else {
        return;
    };
    use tensorblas::Rows;
    let (width, rows, pitch) = (5usize, 7usize, 9usize);
    let len = 80usize;
    let host: Vec<f64> = (0..width * rows).map(|i| i as f64 + 0.5).collect();
    // Upload into rows at offset 3, pitch 9 of a buffer of -1s.
    let mut a = h.to_device(&vec![-1.0f64; len]).unwrap();
    a.upload_rows(Rows::new(3, pitch), width, rows, &host).unwrap();
    let mut want = vec![-1.0f64; len];
    for r in 0..rows {
        want[3 + r * pitch..3 + r * pitch + width].copy_from_slice(&host[r * width..(r + 1) * width]);
    }
    assert_eq!(a.to_vec().unwrap(), want, "upload_rows");
    // Download the same rows back, packed.
    let mut back = vec![0.0f64; width * rows];
    a.download_rows(Rows::new(3, pitch), width, rows, &mut back).unwrap();
    assert_eq!(back, host, "download_rows");
    // Device to device: rows of `a` (pitch 9) into `b` at offset 1, pitch 6.
    let mut b = h.to_device(&vec![-2.0f64; 50]).unwrap();
    b.copy_rows_from(Rows::new(1, 6), &a, Rows::new(3, pitch), width, rows)
        .unwrap();
    let mut want_b = vec![-2.0f64; 50];
    for r in 0..rows {
        want_b[1 + r * 6..1 + r * 6 + width].copy_from_slice(&host[r * width..(r + 1) * width]);
    }
    assert_eq!(b.to_vec().unwrap(), want_b, "copy_rows_from");
    // Within one buffer: two rows of 4 from offset 1 (pitch 6) to offset 40 (pitch 5).
    b.copy_rows_within(Rows::new(40, 5), Rows::new(1, 6), 4, 2).unwrap();
    for r in 0..2 {
        let (d, s) = (40 + r * 5, 1 + r * 6);
        want_b.copy_within(s..s + 4, d);
    }
    assert_eq!(b.to_vec().unwrap(), want_b, "copy_rows_within");
    // One row: its pitch is never used (0 is accepted).
    let one = [7.0f64, 8.0];
    b.upload_rows(Rows::new(48, 0), 2, 1, &one).unwrap();
    want_b[48..50].copy_from_slice(&one);
    assert_eq!(b.to_vec().unwrap(), want_b, "one row");
    // Argument checks leave the buffer as it was.
    assert!(matches!(
        b.upload_rows(Rows::new(45, 6), 5, 2, &host[..10]),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        b.copy_rows_within(Rows::new(2, 6), Rows::new(1, 6), 4, 2),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        b.download_rows(Rows::new(0, 3), 4, 2, &mut back[..8]),
        Err(Error::InvalidArgument { .. })
    ));
    assert_eq!(b.to_vec().unwrap(), want_b, "refused copies wrote nothing");
}

/// Streams made through the CUDA driver, as a caller's own `cudaStreamCreate` would make them.
/// (Never a made-up handle: the driver dereferences stream handles, so a fake one can crash the
/// process instead of returning an error.)
mod streams {
    use cudarc::driver::sys as d;
    use std::ptr::null_mut;

    fn ok(what: &str, r: d::CUresult) {
        assert_eq!(r, d::CUresult::CUDA_SUCCESS, "{what}");
    }

    pub struct Stream {
        pub s: d::CUstream,
        ctx: d::CUcontext,
        own_ctx: bool,
        dev: d::CUdevice,
    }

    impl Stream {
        /// A non-blocking stream in device 0's primary context (the context of a tensorblas
        /// CUDA handle, and of the CUDA runtime), or, with `foreign`, in a context of its own.
        pub fn new(foreign: bool) -> Stream {
            unsafe {
                let mut dev = 0;
                ok("cuDeviceGet", d::cuDeviceGet(&mut dev, 0));
                let mut ctx = null_mut();
                if foreign {
                    // Creates the context and makes it current.
                    ok("cuCtxCreate", d::cuCtxCreate_v4(&mut ctx, null_mut(), 0, dev));
                } else {
                    ok("cuDevicePrimaryCtxRetain", d::cuDevicePrimaryCtxRetain(&mut ctx, dev));
                    ok("cuCtxPushCurrent", d::cuCtxPushCurrent_v2(ctx));
                }
                let mut s = null_mut();
                ok(
                    "cuStreamCreate",
                    d::cuStreamCreate(&mut s, 1 /* CU_STREAM_NON_BLOCKING */),
                );
                let mut old = null_mut();
                ok("cuCtxPopCurrent", d::cuCtxPopCurrent_v2(&mut old));
                Stream {
                    s,
                    ctx,
                    own_ctx: foreign,
                    dev,
                }
            }
        }
        pub fn ptr(&self) -> *mut std::ffi::c_void {
            self.s as *mut std::ffi::c_void
        }
    }

    impl Drop for Stream {
        fn drop(&mut self) {
            unsafe {
                let mut old = null_mut();
                d::cuCtxPushCurrent_v2(self.ctx);
                d::cuStreamSynchronize(self.s);
                d::cuStreamDestroy_v2(self.s);
                d::cuCtxPopCurrent_v2(&mut old);
                if self.own_ctx {
                    d::cuCtxDestroy_v2(self.ctx);
                } else {
                    d::cuDevicePrimaryCtxRelease_v2(self.dev);
                }
            }
        }
    }
}

/// `C[p] = alpha A[p] B[p] + beta C[p]` through the C ABI's strided batched call, every operand
/// packed column-major (ld = rows, entries back to back); the status.
#[allow(clippy::too_many_arguments)]
fn packed_nn_strided<T: CFfi>(
    g: &CudaC,
    (m, n, k, batch): (usize, usize, usize, usize),
    alpha: T,
    da: *const T,
    db: *const T,
    beta: T,
    dc: *mut T,
) -> i32 {
    let i = |x: usize| x as i64;
    unsafe {
        T::strided(
            g.h,
            0,
            0,
            i(m),
            i(n),
            i(k),
            &alpha,
            da,
            i(m),
            i(m * k),
            db,
            i(k),
            i(k * n),
            &beta,
            dc,
            i(m),
            i(m * n),
            i(batch),
        )
    }
}

/// A strided batched DGEMM through the C ABI on the bound stream, checked against the oracle.
fn strided_on_stream(g: &CudaC, seed: u64) {
    let (m, n, k, batch) = (9usize, 7usize, 5usize, 3usize);
    let mut r = rng(seed);
    let a: Vec<f64> = rand_vec(&mut r, m * k * batch);
    let b: Vec<f64> = rand_vec(&mut r, k * n * batch);
    let c: Vec<f64> = rand_vec(&mut r, m * n * batch);
    let (da, db, dc) = (g.upload(&a), g.upload(&b), g.upload(&c));
    let (alpha, beta) = (0.5f64, 2.0f64);
    let st = packed_nn_strided(g, (m, n, k, batch), alpha, da, db, beta, dc);
    assert_eq!(st, TBLAS_STATUS_SUCCESS);
    let mut got = c.clone();
    g.download(dc, &mut got); // ordered after the GEMM on the bound stream
    let col = Layout::col_major;
    let (la, lb, lc) = (col(m, m * k), col(k, k * n), col(m, m * n));
    let (e, ga) = oracle(Op::N, Op::N, m, n, k, alpha, &a, la, &b, lb, beta, &c, lc, batch);
    check(
        "strided on a bound stream",
        &got,
        &c,
        &e,
        &ga,
        &addressed(c.len(), lc, m, n, batch),
        k,
    );
    for d in [da, db, dc] {
        g.free(d);
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU (driver, cuBLAS 13, NVRTC): cargo test -- --include-ignored; TBLAS_REQUIRE_GPU=1 fails if none"]
fn gpu_streams_bind_real_streams_and_refuse_foreign_ones() {
    let Some(g) = CudaC::new("gpu_streams_bind_real_streams_and_refuse_foreign_ones") else {
        return;
    };
    let own = streams::Stream::new(false);
    assert_eq!(unsafe { tblas_set_stream(g.h, own.ptr()) }, TBLAS_STATUS_SUCCESS);
    strided_on_stream(&g, 31);
    assert_eq!(unsafe { tblas_synchronize(g.h) }, TBLAS_STATUS_SUCCESS);
    // A stream of another context on the same device: refused, naming the argument; the bound
    // stream stays bound and usable.
    let foreign = streams::Stream::new(true);
    assert_eq!(
        unsafe { tblas_set_stream(g.h, foreign.ptr()) },
        TBLAS_STATUS_INVALID_VALUE
    );
    assert_eq!(tblas_get_last_error_position(), 2);
    let msg = unsafe { CStr::from_ptr(tblas_get_last_error_message()) }
        .to_string_lossy()
        .into_owned();
    assert!(msg.contains("cuda_stream"), "{msg}");
    strided_on_stream(&g, 32);
    // Back to the default stream before the streams are destroyed.
    assert_eq!(unsafe { tblas_set_stream(g.h, null_mut()) }, TBLAS_STATUS_SUCCESS);
    strided_on_stream(&g, 33);
    drop(foreign);
    drop(own);
}

/// Sets the GPU engine of a C handle.
fn set_engine(g: &CudaC, e: GpuEngine) {
    with_handle(g.h, |h| h.set_gpu_engine(e).unwrap()).expect("live handle");
}

#[test]
#[ignore = "needs an NVIDIA GPU (driver, cuBLAS 13, NVRTC): cargo test -- --include-ignored; TBLAS_REQUIRE_GPU=1 fails if none"]
fn gpu_pointer_array_with_alpha_zero_or_k_zero_scales_c_on_every_engine() {
    // The validator passes empty A and B pointer arrays when alpha == 0 or k == 0; the device
    // block of pointers must then hold C's array at its start (it once sat past the block's end).
    let Some(g) = CudaC::new("gpu_pointer_array_with_alpha_zero_or_k_zero_scales_c_on_every_engine") else {
        return;
    };
    let (m, n, batch) = (3usize, 4usize, 5usize);
    let a = vec![f64::NAN; 64];
    let da = g.upload(&a);
    for engine in ENGINES {
        set_engine(&g, engine);
        for (alpha, k) in [(0.0f64, 2usize), (1.0, 0)] {
            let c: Vec<f64> = (0..m * n * batch).map(|i| i as f64).collect();
            let dc = g.upload(&c);
            let ap: Vec<*const f64> = (0..batch).map(|_| da as *const f64).collect();
            let cp: Vec<*mut f64> = (0..batch).map(|p| dc.wrapping_add(p * m * n)).collect();
            let beta = 2.0f64;
            let st = unsafe {
                f64::batched(
                    g.h,
                    0,
                    0,
                    m as i64,
                    n as i64,
                    k as i64,
                    &alpha,
                    ap.as_ptr(),
                    m as i64,
                    ap.as_ptr(),
                    k.max(1) as i64,
                    &beta,
                    cp.as_ptr(),
                    m as i64,
                    batch as i64,
                )
            };
            if engine == GpuEngine::Cublas {
                assert_eq!(st, TBLAS_STATUS_NOT_SUPPORTED, "{engine:?}: C = beta*C is not cuBLAS's");
            } else {
                assert_eq!(st, TBLAS_STATUS_SUCCESS, "{engine:?} alpha {alpha} k {k}");
                let mut got = vec![0.0f64; c.len()];
                g.download(dc, &mut got);
                let want: Vec<f64> = c.iter().map(|x| 2.0 * x).collect();
                assert_eq!(got, want, "{engine:?} alpha {alpha} k {k}");
            }
            g.free(dc);
        }
    }
    set_engine(&g, GpuEngine::Auto);
    assert_eq!(unsafe { tblas_synchronize(g.h) }, TBLAS_STATUS_SUCCESS);
    g.free(da);
}

#[test]
#[ignore = "needs an NVIDIA GPU (driver, cuBLAS 13, NVRTC): cargo test -- --include-ignored; TBLAS_REQUIRE_GPU=1 fails if none"]
fn gpu_batches_beyond_65535_entries_run_every_entry() {
    // The general kernel's grid is capped at 65535 in y and strides over the rest; the small
    // kernel groups entries in x (also under auto at this size); cuBLAS takes the whole batch.
    let Some(g) = CudaC::new("gpu_batches_beyond_65535_entries_run_every_entry") else {
        return;
    };
    let (m, n, k, batch) = (2usize, 3usize, 2usize, 70_001usize);
    let mut r = rng(5);
    let a: Vec<f32> = rand_vec(&mut r, m * k * batch);
    let b: Vec<f32> = rand_vec(&mut r, k * n * batch);
    let c: Vec<f32> = rand_vec(&mut r, m * n * batch);
    let (da, db) = (g.upload(&a), g.upload(&b));
    let col = Layout::col_major;
    let (la, lb, lc) = (col(m, m * k), col(k, k * n), col(m, m * n));
    let (alpha, beta) = (1.5f32, -0.5f32);
    let (e, ga) = oracle(Op::N, Op::N, m, n, k, alpha, &a, la, &b, lb, beta, &c, lc, batch);
    let addr = addressed(c.len(), lc, m, n, batch);
    for engine in ENGINES {
        set_engine(&g, engine);
        let dc = g.upload(&c);
        let st = packed_nn_strided(&g, (m, n, k, batch), alpha, da, db, beta, dc);
        assert_eq!(st, TBLAS_STATUS_SUCCESS, "{engine:?}");
        let mut got = c.clone();
        g.download(dc, &mut got);
        check(&format!("{engine:?} batch {batch}"), &got, &c, &e, &ga, &addr, k);
        g.free(dc);
        // The pointer-array form over the same entries.
        let dc = g.upload(&c);
        let ap: Vec<*const f32> = (0..batch).map(|p| da.wrapping_add(p * m * k) as *const f32).collect();
        let bp: Vec<*const f32> = (0..batch).map(|p| db.wrapping_add(p * k * n) as *const f32).collect();
        let cp: Vec<*mut f32> = (0..batch).map(|p| dc.wrapping_add(p * m * n)).collect();
        let st = unsafe {
            f32::batched(
                g.h,
                0,
                0,
                m as i64,
                n as i64,
                k as i64,
                &alpha,
                ap.as_ptr(),
                m as i64,
                bp.as_ptr(),
                k as i64,
                &beta,
                cp.as_ptr(),
                m as i64,
                batch as i64,
            )
        };
        assert_eq!(st, TBLAS_STATUS_SUCCESS, "{engine:?} batched");
        g.download(dc, &mut got);
        check(
            &format!("{engine:?} batched, batch {batch}"),
            &got,
            &c,
            &e,
            &ga,
            &addr,
            k,
        );
        g.free(dc);
    }
    set_engine(&g, GpuEngine::Auto);
    g.free(da);
    g.free(db);
}

#[test]
#[ignore = "needs an NVIDIA GPU (driver, cuBLAS 13, NVRTC): cargo test -- --include-ignored; TBLAS_REQUIRE_GPU=1 fails if none"]
fn gpu_leading_dimensions_beyond_int32_use_the_64_bit_entry_points() {
    // ldc = 2^31 does not fit cuBLAS's int API: the call must go to cublasSgemm_v2_64 /
    // cublasSgemmStridedBatched_64 (engine cublas; auto takes the small kernel at this size),
    // and the own kernels must index with 64-bit offsets. C is 1 x 2 per entry, 2^31 + 1 floats apart: two entries need 16 GiB + 8 bytes.
    let Some(g) = CudaC::new("gpu_leading_dimensions_beyond_int32_use_the_64_bit_entry_points") else {
        return;
    };
    let ldc: usize = 1 << 31;
    let sc = ldc + 1;
    let len = sc * 2;
    let bytes = len * 4;
    let mut dc = null_mut();
    let st = unsafe { tblas_device_malloc(g.h, &mut dc, bytes) };
    assert_eq!(st, TBLAS_STATUS_SUCCESS, "16 GiB of device memory for C");
    let dc = dc as *mut f32;
    let (da, db) = (g.upload(&[3.0f32, 5.0]), g.upload(&[2.0f32, 7.0, 11.0, 13.0]));
    // The four elements of C that the calls touch: C[p](0, j) at p*sc + j*ldc.
    let at = |p: usize, j: usize| p * sc + j * ldc;
    let put = |i: usize, v: f32| unsafe {
        assert_eq!(
            tblas_memcpy_htod(
                g.h,
                dc.wrapping_add(i) as *mut c_void,
                &v as *const f32 as *const c_void,
                4
            ),
            0
        );
    };
    let get = |i: usize| -> f32 {
        let mut v = 0.0f32;
        unsafe {
            assert_eq!(
                tblas_memcpy_dtoh(
                    g.h,
                    &mut v as *mut f32 as *mut c_void,
                    dc.wrapping_add(i) as *const c_void,
                    4
                ),
                0
            );
        }
        v
    };
    for engine in ENGINES {
        set_engine(&g, engine);
        for p in 0..2 {
            for j in 0..2 {
                put(at(p, j), 1.0);
            }
        }
        // gemm (batch 1): C[0] = 1 * A[0] B[0] + 1 * C[0], A 1x1, B 1x2 (ldb = 1).
        let (one, beta) = (1.0f32, 1.0f32);
        let st = unsafe { f32::gemm(g.h, 0, 0, 1, 2, 1, &one, da, 1, db, 1, &beta, dc, ldc as i64) };
        assert_eq!(st, TBLAS_STATUS_SUCCESS, "{engine:?} gemm");
        assert_eq!((get(at(0, 0)), get(at(0, 1))), (7.0, 22.0), "{engine:?} gemm");
        // strided batched over both entries: A[p] = [3 or 5], B[p] = [2 7] or [11 13].
        let st = unsafe {
            f32::strided(
                g.h, 0, 0, 1, 2, 1, &one, da, 1, 1, db, 1, 2, &beta, dc, ldc as i64, sc as i64, 2,
            )
        };
        assert_eq!(st, TBLAS_STATUS_SUCCESS, "{engine:?} strided");
        assert_eq!(
            [get(at(0, 0)), get(at(0, 1)), get(at(1, 0)), get(at(1, 1))],
            [13.0, 43.0, 56.0, 66.0],
            "{engine:?} strided"
        );
    }
    set_engine(&g, GpuEngine::Auto);
    for d in [da, db, dc] {
        g.free(d);
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU (driver, cuBLAS 13, NVRTC): cargo test -- --include-ignored; TBLAS_REQUIRE_GPU=1 fails if none"]
fn gpu_contractions_match_the_cpu() {
    let Some(h) = gpu_or_skip("gpu_contractions_match_the_cpu") else {
        return;
    };
    let cpu = Handle::with_backend(CpuBackend::Reference).unwrap();
    let mut r = rng(77);
    // (spec, A extents, B extents, C extents): GEMM-shaped, batched, and cases needing the
    // general-stride kernel (C modes interleaved with contracted ones).
    type Case<'a> = (&'a str, &'a [usize], &'a [usize], &'a [usize]);
    let cases: [Case; 6] = [
        ("mk,kn->mn", &[33, 17], &[17, 9], &[33, 9]),
        ("mk,knp->mnp", &[8, 6], &[6, 5, 7], &[8, 5, 7]),
        ("km,knp->mnp", &[6, 8], &[6, 5, 7], &[8, 5, 7]),
        ("mk,pkn->mnp", &[8, 6], &[7, 6, 5], &[8, 5, 7]),
        ("pmk,pkn->npm", &[4, 8, 6], &[4, 6, 5], &[5, 4, 8]),
        ("kpm,nkp->pmn", &[6, 4, 8], &[5, 6, 4], &[4, 8, 5]),
    ];
    for (spec, ea, eb, ec) in cases {
        let len = |e: &[usize]| e.iter().product::<usize>();
        let a: Vec<f64> = rand_vec(&mut r, len(ea));
        let b: Vec<f64> = rand_vec(&mut r, len(eb));
        let c0: Vec<f64> = rand_vec(&mut r, len(ec));
        let mut want = c0.clone();
        cpu.einsum(
            spec,
            0.5,
            &TensorRef::new(&a, Shape::col_major(ea)),
            &TensorRef::new(&b, Shape::col_major(eb)),
            2.0,
            &mut TensorMut::new(&mut want, Shape::col_major(ec)),
        )
        .unwrap();
        let (da, db) = (h.to_device(&a).unwrap(), h.to_device(&b).unwrap());
        let mut dc: DeviceBuffer<f64> = h.to_device(&c0).unwrap();
        h.einsum(
            spec,
            0.5,
            &TensorRef::device(&da, Shape::col_major(ea)),
            &TensorRef::device(&db, Shape::col_major(eb)),
            2.0,
            &mut TensorMut::device(&mut dc, Shape::col_major(ec)),
        )
        .unwrap_or_else(|e| panic!("{spec}: {e}"));
        let got = dc.to_vec().unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-12 * (1.0 + w.abs()),
                "{spec}: C[{i}] = {g}, want {w}"
            );
        }
    }
    // Host slices on a GPU handle are refused, naming the argument.
    let a = [1.0f64; 4];
    let mut c = [0.0f64; 4];
    let e = h
        .einsum(
            "mk,kn->mn",
            1.0,
            &TensorRef::new(&a, Shape::col_major(&[2, 2])),
            &TensorRef::new(&a, Shape::col_major(&[2, 2])),
            0.0,
            &mut TensorMut::new(&mut c, Shape::col_major(&[2, 2])),
        )
        .unwrap_err();
    assert!(e.to_string().contains("host memory"), "{e}");
    let e = h
        .gemm(Op::N, Op::N, 2, 2, 2, 1.0, &a, 2, &a, 2, 0.0, &mut c, 2)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { position: 8, .. }), "{e}");
}

// ---- what every machine must answer -----------------------------------------------------------

#[test]
fn cuda_handle_creation_succeeds_or_reports_backend_unavailable() {
    let mut h = null_mut();
    let st = unsafe { tblas_create_with_backend(&mut h, TBLAS_BACKEND_CUDA, 0) };
    let msg = unsafe { CStr::from_ptr(tblas_get_last_error_message()) }
        .to_string_lossy()
        .into_owned();
    match st {
        TBLAS_STATUS_SUCCESS => {
            assert!(!h.is_null());
            assert_eq!(unsafe { tblas_synchronize(h) }, 0);
            assert_eq!(unsafe { tblas_destroy(h) }, 0);
        }
        TBLAS_STATUS_BACKEND_UNAVAILABLE => {
            assert!(h.is_null(), "*handle must not be written on failure");
            assert!(msg.starts_with("tblas_create_with_backend: "), "{msg}");
            assert!(msg.len() > 40, "the message must say what is missing: {msg}");
            assert!(!require_gpu(), "TBLAS_REQUIRE_GPU=1 but: {msg}");
            eprintln!("CUDA handle unavailable here, as expected without a GPU: {msg}");
        }
        other => panic!("unexpected status {other}: {msg}"),
    }
    // A device ordinal no machine has.
    let st = unsafe { tblas_create_with_backend(&mut h, TBLAS_BACKEND_CUDA, 1 << 20) };
    assert_eq!(st, TBLAS_STATUS_BACKEND_UNAVAILABLE);
    // The Rust API agrees.
    match Handle::cuda(0) {
        Ok(g) => assert!(g.is_cuda() && g.device_name().is_some()),
        Err(e) => assert!(matches!(e, Error::BackendUnavailable(_)), "{e}"),
    }
}

#[test]
fn device_functions_are_not_supported_on_cpu_handles() {
    let mut h = null_mut();
    assert_eq!(unsafe { tblas_create(&mut h) }, 0);
    let mut p = 0x99usize as *mut c_void;
    assert_eq!(
        unsafe { tblas_device_malloc(h, &mut p, 64) },
        TBLAS_STATUS_NOT_SUPPORTED
    );
    assert_eq!(p as usize, 0x99, "*ptr written on failure");
    let x = [0u8; 8];
    let mut y = [0u8; 8];
    assert_eq!(unsafe { tblas_device_free(h, p) }, TBLAS_STATUS_NOT_SUPPORTED);
    assert_eq!(
        unsafe { tblas_memcpy_htod(h, p, x.as_ptr() as *const c_void, 8) },
        TBLAS_STATUS_NOT_SUPPORTED
    );
    assert_eq!(
        unsafe { tblas_memcpy_dtoh(h, y.as_mut_ptr() as *mut c_void, p, 8) },
        TBLAS_STATUS_NOT_SUPPORTED
    );
    let msg = unsafe { CStr::from_ptr(tblas_get_last_error_message()) }
        .to_string_lossy()
        .into_owned();
    assert!(msg.contains("tblas_memcpy_dtoh") && msg.contains("CPU handle"), "{msg}");
    assert_eq!(unsafe { tblas_set_stream(h, p) }, TBLAS_STATUS_NOT_SUPPORTED);
    assert_eq!(unsafe { tblas_set_stream(h, null_mut()) }, TBLAS_STATUS_SUCCESS);
    // Destroyed / NULL handles.
    assert_eq!(unsafe { tblas_destroy(h) }, 0);
    assert_eq!(
        unsafe { tblas_device_malloc(h, &mut p, 8) },
        TBLAS_STATUS_NOT_INITIALIZED
    );
    assert_eq!(
        unsafe { tblas_memcpy_htod(null_mut(), p, null(), 0) },
        TBLAS_STATUS_NOT_INITIALIZED
    );
    let cpu = Handle::new().unwrap();
    assert!(matches!(cpu.device_malloc(8), Err(Error::NotSupported(_))));
    assert!(matches!(
        cpu.set_gpu_engine(GpuEngine::General),
        Err(Error::NotSupported(_))
    ));
    assert_eq!(cpu.gpu_engine(), None);
    assert!(cpu.synchronize().is_ok());
}

#[test]
fn engine_names_are_stable() {
    let names: Vec<_> = ENGINES.iter().map(|e| e.name()).collect();
    assert_eq!(names, ["auto", "cublas", "general", "small"]);
}
