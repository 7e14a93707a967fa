//! Environment variables (own test binary: the environment is process-wide, so this file holds
//! a single test that changes it step by step).

// These tests drive the C ABI with buffers and handles they own; every unsafe call's
// preconditions are the surrounding setup, so per-block SAFETY comments would only repeat it.
#![allow(clippy::undocumented_unsafe_blocks)]

use std::ptr::null_mut;
use tensorblas::ffi::*;
use tensorblas::{CpuBackend, Error, Handle};

#[test]
fn backend_and_thread_environment() {
    // SAFETY (for set_var/remove_var): this is the only test in this binary, so no other thread
    // reads the environment concurrently.
    std::env::set_var("TBLAS_CPU_BACKEND", "reference");
    assert_eq!(Handle::new().unwrap().backend(), CpuBackend::Reference);
    let mut h = null_mut();
    unsafe {
        assert_eq!(tblas_create(&mut h), TBLAS_STATUS_SUCCESS);
        assert_eq!(handle_backend(h), Some(CpuBackend::Reference));
        tblas_destroy(h);
    }
    std::env::set_var("TBLAS_CPU_BACKEND", "Native");
    assert_eq!(Handle::new().unwrap().backend(), CpuBackend::Native);

    std::env::set_var("TBLAS_CPU_BACKEND", "cublas");
    let e = Handle::new().unwrap_err();
    assert!(matches!(e, Error::NotSupported(_)), "{e:?}");
    assert!(
        e.to_string().contains("TBLAS_CPU_BACKEND") && e.to_string().contains("cublas"),
        "{e}"
    );
    let mut h = null_mut();
    unsafe {
        assert_eq!(tblas_create(&mut h), TBLAS_STATUS_NOT_SUPPORTED);
        assert!(h.is_null());
    }
    let msg = unsafe { std::ffi::CStr::from_ptr(tblas_get_last_error_message()) }
        .to_string_lossy()
        .into_owned();
    assert!(msg.starts_with("tblas_create: TBLAS_CPU_BACKEND"), "{msg}");

    std::env::set_var("TBLAS_CPU_BACKEND", "openblas");
    assert_eq!(Handle::new().is_ok(), cfg!(feature = "openblas"));
    std::env::set_var("TBLAS_CPU_BACKEND", "mkl");
    assert_eq!(Handle::new().is_ok(), cfg!(feature = "mkl"));
    std::env::set_var("TBLAS_CPU_BACKEND", "auto");
    assert_eq!(Handle::new().unwrap().backend(), CpuBackend::Auto);
    std::env::remove_var("TBLAS_CPU_BACKEND");
    assert_eq!(Handle::new().unwrap().backend(), CpuBackend::best_available());

    std::env::set_var("TBLAS_NUM_THREADS", "3");
    let h = Handle::new().unwrap();
    assert_eq!(h.num_threads(), 3);
    h.set_num_threads(5);
    assert_eq!(h.num_threads(), 5);
    h.set_num_threads(0);
    assert_eq!(h.num_threads(), 3);
    std::env::set_var("TBLAS_NUM_THREADS", "zero");
    let e = Handle::new().unwrap_err();
    assert!(e.to_string().contains("TBLAS_NUM_THREADS"), "{e}");
    std::env::remove_var("TBLAS_NUM_THREADS");
    assert!(Handle::new().unwrap().num_threads() >= 1);
}
