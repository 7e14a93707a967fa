//! tensorblas' own CUDA kernels (`kernels/gemm.cu`): NVRTC compilation, the per-process PTX
//! cache and the argument block shared with the CUDA source.

use crate::error::{Error, Result};
use crate::scalar::DataType;
use cudarc::nvrtc::{self, CompileError, CompileOptions};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The CUDA source of every kernel, embedded at build time.
pub(crate) const GEMM_CU: &str = include_str!("../../../kernels/gemm.cu");

/// Largest m, n and k the small-matrix kernel takes.
pub(crate) const SMALL_MAX: usize = 16;

/// The `Args` struct of `kernels/gemm.cu`, passed by value as the kernel's only parameter.
/// Every field is 8 bytes except the four trailing ints, so the C and Rust layouts agree.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct KernelArgs {
    pub m: i64,
    pub n: i64,
    pub k: i64,
    pub batch: i64,
    pub a: u64,
    pub a_rs: i64,
    pub a_cs: i64,
    pub a_bs: i64,
    pub a_arr: u64,
    pub b: u64,
    pub b_rs: i64,
    pub b_cs: i64,
    pub b_bs: i64,
    pub b_arr: u64,
    pub c: u64,
    pub c_rs: i64,
    pub c_cs: i64,
    pub c_bs: i64,
    pub c_arr: u64,
    pub alpha_re: f64,
    pub alpha_im: f64,
    pub beta_re: f64,
    pub beta_im: f64,
    pub conj_a: i32,
    pub conj_b: i32,
    pub ab_unread: i32,
    pub beta_zero: i32,
}

/// `TBLAS_DTYPE` value of the CUDA source for a type.
pub(crate) fn dtype_code(dt: DataType) -> u32 {
    match dt {
        DataType::R32F => 0,
        DataType::R64F => 1,
        DataType::C32F => 2,
        DataType::C64F => 3,
    }
}

/// Whether libnvrtc can be loaded (`Err` says which library is missing and how to get it).
pub(crate) fn nvrtc_present() -> Result<()> {
    // SAFETY: only tries to dlopen the NVRTC library by its candidate names.
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(Error::BackendUnavailable(
            "NVRTC (libnvrtc.so.13) not found: install it (pip install \"nvidia-cuda-nvrtc==13.0.*\") and put \
             its lib directory (site-packages/nvidia/cu13/lib) on LD_LIBRARY_PATH"
                .into(),
        ))
    }
}

/// Compiles `kernels/gemm.cu` for one element type to PTX for the virtual architecture
/// `compute_<cc>` (e.g. `90` for Hopper). Cached per process; the NVRTC log is in the error.
pub(crate) fn ptx(dt: DataType, cc: u32) -> Result<Arc<str>> {
    type Cache = Mutex<HashMap<(u32, u32), Arc<str>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = (dtype_code(dt), cc);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(p.clone());
    }
    nvrtc_present()?;
    let opts = CompileOptions {
        name: Some("gemm.cu".into()),
        options: vec![
            format!("--gpu-architecture=compute_{cc}"),
            format!("-DTBLAS_DTYPE={}", key.0),
            "--fmad=true".into(),
        ],
        ..Default::default()
    };
    let ptx = nvrtc::compile_ptx_with_opts(GEMM_CU, opts).map_err(|e| compile_error(dt, cc, e))?;
    let src: Arc<str> = Arc::from(ptx.to_src());
    cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, src.clone());
    Ok(src)
}

fn compile_error(dt: DataType, cc: u32, e: CompileError) -> Error {
    let what = format!("NVRTC could not compile kernels/gemm.cu for {dt:?} (compute_{cc})");
    match e {
        CompileError::CompileError { nvrtc, options, log } => Error::Execution(format!(
            "{what}: {nvrtc:?} with options {options:?}; log:\n{}",
            log.to_string_lossy()
        )),
        other => Error::Execution(format!("{what}: {other:?}")),
    }
}
