//! tensorblas' own CUDA kernels (`kernels/gemm.cu`): NVRTC compilation (PTX or CUBIN), the
//! per-process cache and what the host shares with the CUDA source (argument block, blocking).

use super::context::*;
use crate::error::{Error, Result};
use crate::job::{Entries, Job};
use crate::scalar::DataType;
use crate::scalar::Scalar;
use cudarc::driver::sys as dsys;
use cudarc::nvrtc::{result, sys};
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Arc, Mutex, OnceLock};

/// The CUDA source of every kernel, embedded at build time.
pub(crate) const GEMM_CU: &str = include_str!("../../../kernels/gemm.cu");

/// Largest m, n and k the small-matrix kernel takes.
pub(crate) const SMALL_MAX: usize = 16;

/// Largest m, n and k for which `GpuEngine::Auto` picks the small-matrix kernel over cuBLAS, per
/// type. H200 sweep (`benches/results/gpu-nvidia-h200.md`, run 2, square, batch moving 256 MiB):
/// small over cuBLAS strided batched 12.2 / 19.9 / 19.5 / 9.9x at 4, 2.9 / 4.6 / 4.4 / 1.7x at 8
/// and 0.80 / 1.03 / 1.28 / 0.77x at 16 (s / d / c / z): 16 for complex float, 8 for the rest
/// (d's 1.03 at 16 is within the run-to-run spread).
pub(crate) fn auto_small_max(dt: DataType) -> usize {
    match dt {
        DataType::C32F => 16,
        _ => 8,
    }
}

/// Whether the wide kernel may run: `TBLAS_GPU_WIDE=0` turns it off, so that one process can
/// time the general-stride path with 64x64 tiles only (`benches/gpu/device-run.sh` compares the
/// two); read once per process.
fn wide_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("TBLAS_GPU_WIDE").map_or(true, |v| v != "0"))
}

/// Batch entries per block of the small kernel: `tblas_small_per` of `kernels/gemm.cu` (up to
/// 1024 / (m*n), four C elements per thread, capped so that their A and B fit in 48 KiB of
/// shared memory).
pub(crate) fn small_per(m: usize, n: usize, k: usize, elem: usize) -> usize {
    let (mn, ab) = (m * n, (m + n) * k);
    let mut per = if mn >= 1024 { 1 } else { 1024 / mn };
    if ab > 0 {
        per = per.min((49152 / (ab * elem)).max(1));
    }
    per
}

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

/// NVRTC's version, e.g. `13.0` (`?` when it cannot be loaded).
pub(crate) fn nvrtc_version() -> String {
    if nvrtc_present().is_err() {
        return "?".into();
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: NVRTC is present; writes two ints.
    match unsafe { sys::nvrtcVersion(&mut major, &mut minor) } {
        sys::nvrtcResult::NVRTC_SUCCESS => format!("{major}.{minor}"),
        _ => "?".into(),
    }
}

/// What NVRTC produces: PTX for a virtual architecture (`compute_<cc>`, JIT-compiled by the
/// driver) or a CUBIN for a real one (`sm_<cc>`, loaded as is: immune to a driver older than
/// NVRTC, which rejects newer PTX).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    Ptx(u32),
    Cubin(u32),
}

/// Compiles `kernels/gemm.cu` for one element type. Cached per process; the NVRTC log is in
/// the error. PTX comes back as text, a CUBIN as its bytes.
pub(crate) fn compile(dt: DataType, target: Target) -> Result<Arc<[u8]>> {
    type Cache = Mutex<HashMap<(u32, Target), Arc<[u8]>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let key = (dtype_code(dt), target);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(p) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(p.clone());
    }
    nvrtc_present()?;
    let what = format!("NVRTC could not compile kernels/gemm.cu for {dt:?} ({target:?})");
    let out = compile_source(GEMM_CU, key.0, target, &what)?;
    let out: Arc<[u8]> = Arc::from(out);
    cache.lock().unwrap_or_else(|e| e.into_inner()).insert(key, out.clone());
    Ok(out)
}

/// NVRTC on `src` with `TBLAS_DTYPE = code` for `target`; errors start with `what`.
fn compile_source(src: &str, code: u32, target: Target, what: &str) -> Result<Vec<u8>> {
    let arch = match target {
        Target::Ptx(cc) => format!("--gpu-architecture=compute_{cc}"),
        Target::Cubin(cc) => format!("--gpu-architecture=sm_{cc}"),
    };
    let options = [arch, format!("-DTBLAS_DTYPE={code}"), "--fmad=true".to_string()];
    let src = std::ffi::CString::new(src).map_err(|_| Error::Internal("kernel source holds a NUL byte".into()))?;
    let prog =
        result::create_program(&src, Some(c"gemm.cu")).map_err(|e| Error::Execution(format!("{what}: {e:?}")))?;
    // SAFETY: `prog` was just created from `src` (alive until the end of this function) and is
    // destroyed exactly once below; the size queries precede the copies into buffers of that size.
    unsafe {
        let r = (|| -> Result<Vec<u8>> {
            if let Err(e) = result::compile_program(prog, &options) {
                let log = result::get_program_log(prog)
                    .map(|l| std::ffi::CStr::from_ptr(l.as_ptr()).to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Err(Error::Execution(format!(
                    "{what}: {e:?} with options {options:?}; log:\n{log}"
                )));
            }
            match target {
                Target::Ptx(_) => {
                    let ptx = result::get_ptx(prog).map_err(|e| Error::Execution(format!("{what}: {e:?}")))?;
                    Ok(ptx.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect())
                }
                Target::Cubin(_) => {
                    let mut size = 0usize;
                    sys::nvrtcGetCUBINSize(prog, &mut size)
                        .result()
                        .map_err(|e| Error::Execution(format!("{what}: {e:?}")))?;
                    let mut bin = vec![0u8; size];
                    sys::nvrtcGetCUBIN(prog, bin.as_mut_ptr() as *mut std::ffi::c_char)
                        .result()
                        .map_err(|e| Error::Execution(format!("{what}: {e:?}")))?;
                    Ok(bin)
                }
            }
        })();
        let _ = result::destroy_program(prog);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "needs libnvrtc.so.13 (pip install nvidia-cuda-nvrtc==13.0.*): -- --include-ignored; TBLAS_REQUIRE_NVRTC=1 fails if missing"]
    fn a_compile_error_carries_the_nvrtc_log() {
        if let Err(e) = nvrtc_present() {
            assert!(
                !std::env::var("TBLAS_REQUIRE_NVRTC").is_ok_and(|v| v == "1"),
                "TBLAS_REQUIRE_NVRTC=1 but {e}"
            );
            eprintln!("skipping a_compile_error_carries_the_nvrtc_log: {e}");
            return;
        }
        // The real source with a type code it rejects (#error): the log must come back.
        let e = compile_source(GEMM_CU, 7, Target::Ptx(90), "test").unwrap_err();
        let m = e.to_string();
        assert!(matches!(e, Error::Execution(_)), "{m}");
        assert!(m.starts_with("test: ") && m.contains("TBLAS_DTYPE must be 0..3"), "{m}");
    }

    #[test]
    fn wide_tiles_only_for_f32_above_64_with_enough_tiles() {
        let f = DataType::R32F;
        assert!(wide_tiles(f, 128, 128, 128));
        assert!(wide_tiles(f, 65, 65, 128), "one 128x128 tile per entry, 128 entries");
        assert!(!wide_tiles(f, 65, 65, 127), "too few tiles to fill a large GPU");
        assert!(wide_tiles(f, 1024, 2048, 1), "128 tiles in one product");
        assert!(!wide_tiles(f, 64, 4096, 1000), "m = 64 fits the 64x64 kernel exactly");
        assert!(!wide_tiles(f, 4096, 64, 1000));
        for other in [DataType::R64F, DataType::C32F, DataType::C64F] {
            assert!(!wide_tiles(other, 1024, 1024, 100), "{other:?}: never");
        }
        assert!(wide_tiles(f, usize::MAX, usize::MAX, usize::MAX), "no overflow");
        assert_eq!(auto_small_max(DataType::R32F), 8);
        assert_eq!(auto_small_max(DataType::C32F), 16);
        assert!(auto_small_max(DataType::C64F) <= SMALL_MAX);
    }

    #[test]
    fn small_kernel_blocking_fits_shared_memory() {
        for elem in [4, 8, 16] {
            for m in 1..=16 {
                for n in 1..=16 {
                    for k in 0..=16 {
                        let per = small_per(m, n, k, elem);
                        assert!(per >= 1 && per * m * n <= 1024.max(m * n));
                        assert!(per * (m + n) * k * elem <= 49152, "{m}x{n}x{k} elem {elem}: per {per}");
                    }
                }
            }
        }
        assert_eq!(small_per(4, 4, 4, 4), 64);
        assert_eq!(small_per(8, 8, 8, 8), 16);
        assert_eq!(small_per(16, 16, 16, 16), 4);
        assert_eq!(small_per(1, 1, 16, 16), 96);
    }
}

// ---------------------------------------------------------------------------------------------
// Launches on a GPU handle.

#[derive(Clone, Copy)]
pub(crate) enum Kernel {
    /// Any strides: `tblas_gemm_general` (64x64 tiles), or `tblas_gemm_general_wide` (128x128
    /// tiles, f32) where [`wide_tiles`] says so.
    General,
    Small,
}

/// Whether the general-stride kernel runs as `tblas_gemm_general_wide` (128x128 tiles, 8x8
/// results per thread): f32 with m and n both above 64 (where 128-row tiles waste no more than
/// 64-row ones), and enough tiles over the batch to give every multiprocessor of a large GPU work
/// (128). H200 (`benches/results/gpu-nvidia-h200.md`, run 3, square, one process): 1.34-1.55x
/// the 64x64 kernel for f32 at 128-1024; for f64 a double-precision build of it ran 0.73-1.03x,
/// so f64 (and complex, whose 8x8 accumulators would not fit in registers) stays at 64x64.
pub(crate) fn wide_tiles(dt: DataType, m: usize, n: usize, batch: usize) -> bool {
    dt == DataType::R32F
        && m > 64
        && n > 64
        && m.div_ceil(128).saturating_mul(n.div_ceil(128)).saturating_mul(batch) >= 128
}

impl Gpu {
    pub(super) fn module(&self, st: &mut State, dt: DataType) -> Result<Module> {
        let slot = self::dtype_code(dt) as usize;
        if let Some(m) = st.modules[slot] {
            return Ok(m);
        }
        let cc = (self.cc.0 * 10 + self.cc.1) as u32;
        // A CUBIN for this exact architecture: the driver loads it without a PTX JIT, so an
        // NVRTC newer than the driver still works.
        let image = self::compile(dt, self::Target::Cubin(cc))?;
        let mut module = std::ptr::null_mut();
        // SAFETY: `image` is a complete CUBIN from NVRTC; the context is current (pushed by the
        // caller).
        drv("cuModuleLoadData (CUBIN of kernels/gemm.cu)", unsafe {
            dsys::cuModuleLoadData(&mut module, image.as_ptr() as *const c_void)
        })?;
        let get = |name: &std::ffi::CStr| -> Result<dsys::CUfunction> {
            let mut f = std::ptr::null_mut();
            // SAFETY: `module` was just loaded; `name` is NUL-terminated.
            drv("cuModuleGetFunction", unsafe {
                dsys::cuModuleGetFunction(&mut f, module, name.as_ptr())
            })?;
            Ok(f)
        };
        let m = Module {
            _module: module,
            general: get(c"tblas_gemm_general")?,
            // Float only (kernels/README.md).
            general_wide: if dt == DataType::R32F {
                Some(get(c"tblas_gemm_general_wide")?)
            } else {
                None
            },
            small: get(c"tblas_gemm_small")?,
        };
        st.modules[slot] = Some(m);
        Ok(m)
    }

    pub(super) fn kernel<T: Scalar>(&self, st: &mut State, job: &Job<'_, T>, which: Kernel) -> Result<()> {
        let module = self.module(st, T::DATATYPE)?;
        let ab_unread = job.ab_unread();
        let (alpha, beta) = (job.alpha().to_c64(), job.beta().to_c64());
        let mut args = KernelArgs {
            m: job.m() as i64,
            n: job.n() as i64,
            k: job.k() as i64,
            batch: job.batch() as i64,
            a: 0,
            a_rs: job.a().rs as i64,
            a_cs: job.a().cs as i64,
            a_bs: 0,
            a_arr: 0,
            b: 0,
            b_rs: job.b().rs as i64,
            b_cs: job.b().cs as i64,
            b_bs: 0,
            b_arr: 0,
            c: 0,
            c_rs: job.c().rs as i64,
            c_cs: job.c().cs as i64,
            c_bs: 0,
            c_arr: 0,
            alpha_re: alpha.re,
            alpha_im: alpha.im,
            beta_re: beta.re,
            beta_im: beta.im,
            conj_a: job.a().conj as i32,
            conj_b: job.b().conj as i32,
            ab_unread: ab_unread as i32,
            beta_zero: job.beta().is_zero() as i32,
        };
        let mut arrays = None;
        match job.entries() {
            Entries::Strided {
                a,
                b,
                c,
                bs_a,
                bs_b,
                bs_c,
                ..
            } => {
                (args.a, args.b, args.c) = (a as u64, b as u64, c as u64);
                (args.a_bs, args.b_bs, args.c_bs) = (bs_a as i64, bs_b as i64, bs_c as i64);
            }
            Entries::Array { a, b, c } => {
                let d = PointerArrays::upload(st.stream, self.pools, a, b, c)?;
                (args.a_arr, args.b_arr, args.c_arr) = (d.a(), d.b(), d.c());
                arrays = Some(d);
            }
        }
        let batch = job.batch() as u64;
        let (f, grid, block, shmem) = match which {
            Kernel::General => {
                let wide = module
                    .general_wide
                    .filter(|_| wide_enabled() && wide_tiles(T::DATATYPE, job.m(), job.n(), job.batch()));
                let (f, tile) = match wide {
                    Some(f) => (f, 128),
                    None => (module.general, 64),
                };
                let tiles = (job.m() as u64).div_ceil(tile) * (job.n() as u64).div_ceil(tile);
                let gx = tiles.min(1 << 20) as u32;
                let gy = batch.min(65535) as u32;
                (f, (gx, gy, 1), (16, 16, 1), 0u32)
            }
            Kernel::Small => {
                let per = self::small_per(job.m(), job.n(), job.k(), std::mem::size_of::<T>());
                let groups = batch.div_ceil(per as u64);
                let shmem = per * (job.m() * job.k() + job.k() * job.n()) * std::mem::size_of::<T>();
                (
                    module.small,
                    (groups.min(1 << 30) as u32, 1, 1),
                    (256, 1, 1),
                    shmem as u32,
                )
            }
        };
        let mut params = [&mut args as *mut KernelArgs as *mut c_void];
        // SAFETY: the function belongs to a loaded module of this context; the single parameter
        // is the `Args` struct the kernel declares (same layout, `KernelArgs`), read at launch;
        // every address it describes was validated (or, for raw C pointers, is the caller's
        // device memory as the API contract requires); the small kernel's dynamic shared memory
        // is `small_per` entries of A and B, capped at 48 KiB exactly as the kernel computes it.
        let r = unsafe {
            dsys::cuLaunchKernel(
                f,
                grid.0,
                grid.1,
                grid.2,
                block.0,
                block.1,
                block.2,
                shmem,
                st.stream,
                params.as_mut_ptr(),
                std::ptr::null_mut(),
            )
        };
        if let Some(d) = arrays {
            d.release(st.stream);
        }
        drv("cuLaunchKernel", r)
    }
}

/// Compiles the own kernels for `dt` to PTX for `compute_<cc>` (public through `tensorblas::device`).
pub(crate) fn compile_ptx(dt: DataType, cc: u32) -> Result<String> {
    self::compile(dt, self::Target::Ptx(cc)).map(|p| String::from_utf8_lossy(&p).into_owned())
}

/// Compiles the own kernels for `dt` to a CUBIN for `sm_<cc>` (what a CUDA handle loads).
pub(crate) fn compile_cubin(dt: DataType, cc: u32) -> Result<Vec<u8>> {
    self::compile(dt, self::Target::Cubin(cc)).map(|p| p.to_vec())
}
