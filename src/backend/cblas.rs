//! The vendor-BLAS backends (cargo features `openblas` and `mkl`): CBLAS `?gemm` per entry, and
//! MKL's `cblas_?gemm_batch_strided` where it applies and wins.
//!
//! The vendor library runs single-threaded inside tensorblas: at first use this backend sets its
//! thread count to 1 (`openblas_set_num_threads(1)` / `MKL_Set_Num_Threads(1)`, process-wide
//! settings) and does its own threading, deterministic for a given thread count: rayon over the
//! batch for many entries, or the columns of C split into one block per thread for a few large
//! entries. The exception is MKL's batch call, which runs with `threads` MKL threads set
//! thread-locally (`MKL_Set_Num_Threads_Local`) for the duration of the call.
//!
//! Layouts CBLAS cannot express (general, zero or negative strides, conjugation without
//! transposition, extents beyond `i32`) run on the native backend: never a wrong answer.

use super::{native::Native, Backend, Config};
use crate::error::Result;
use crate::job::{Job, Op};
use crate::scalar::{DataType, Scalar};
use cblas_sys::{
    cblas_cgemm, cblas_dgemm, cblas_sgemm, cblas_zgemm, CblasColMajor, CblasConjTrans, CblasNoTrans, CblasTrans,
    CBLAS_TRANSPOSE,
};
use rayon::prelude::*;
use std::ffi::c_int;
use std::sync::Once;

#[cfg(feature = "openblas")]
extern "C" {
    fn openblas_set_num_threads(num_threads: c_int);
}

#[cfg(feature = "mkl")]
extern "C" {
    fn MKL_Set_Num_Threads(nt: c_int);
    fn MKL_Set_Num_Threads_Local(nt: c_int) -> c_int;
    fn cblas_sgemm_batch_strided(
        layout: cblas_sys::CBLAS_LAYOUT,
        ta: CBLAS_TRANSPOSE,
        tb: CBLAS_TRANSPOSE,
        m: c_int,
        n: c_int,
        k: c_int,
        alpha: f32,
        a: *const f32,
        lda: c_int,
        sa: c_int,
        b: *const f32,
        ldb: c_int,
        sb: c_int,
        beta: f32,
        c: *mut f32,
        ldc: c_int,
        sc: c_int,
        batch: c_int,
    );
    fn cblas_dgemm_batch_strided(
        layout: cblas_sys::CBLAS_LAYOUT,
        ta: CBLAS_TRANSPOSE,
        tb: CBLAS_TRANSPOSE,
        m: c_int,
        n: c_int,
        k: c_int,
        alpha: f64,
        a: *const f64,
        lda: c_int,
        sa: c_int,
        b: *const f64,
        ldb: c_int,
        sb: c_int,
        beta: f64,
        c: *mut f64,
        ldc: c_int,
        sc: c_int,
        batch: c_int,
    );
    fn cblas_cgemm_batch_strided(
        layout: cblas_sys::CBLAS_LAYOUT,
        ta: CBLAS_TRANSPOSE,
        tb: CBLAS_TRANSPOSE,
        m: c_int,
        n: c_int,
        k: c_int,
        alpha: *const std::ffi::c_void,
        a: *const std::ffi::c_void,
        lda: c_int,
        sa: c_int,
        b: *const std::ffi::c_void,
        ldb: c_int,
        sb: c_int,
        beta: *const std::ffi::c_void,
        c: *mut std::ffi::c_void,
        ldc: c_int,
        sc: c_int,
        batch: c_int,
    );
    fn cblas_zgemm_batch_strided(
        layout: cblas_sys::CBLAS_LAYOUT,
        ta: CBLAS_TRANSPOSE,
        tb: CBLAS_TRANSPOSE,
        m: c_int,
        n: c_int,
        k: c_int,
        alpha: *const std::ffi::c_void,
        a: *const std::ffi::c_void,
        lda: c_int,
        sa: c_int,
        b: *const std::ffi::c_void,
        ldb: c_int,
        sb: c_int,
        beta: *const std::ffi::c_void,
        c: *mut std::ffi::c_void,
        ldc: c_int,
        sc: c_int,
        batch: c_int,
    );
}

/// The CBLAS backend over whichever vendor library this build links (OpenBLAS or MKL).
pub(crate) struct Cblas;

/// Sets the vendor library to one thread, once per process.
fn single_threaded_vendor() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: plain setters of the vendor's global thread count, called once, before any
        // tensorblas call into the vendor library.
        #[cfg(feature = "openblas")]
        unsafe {
            openblas_set_num_threads(1)
        };
        // SAFETY: as above.
        #[cfg(feature = "mkl")]
        unsafe {
            MKL_Set_Num_Threads(1)
        };
    });
}

/// Entries this small or smaller (every extent) go to MKL's batch call: it beat MKL's own
/// per-entry loop by 15-35% up to 32 in performance.md's measurements.
#[cfg(feature = "mkl")]
const MKL_BATCH_MAX: usize = 32;

/// One `cblas_?gemm_batch_strided` call for a strided job CBLAS can express; `false` when the
/// job does not qualify (pointer arrays, swapped orientation, strides beyond i32, large entries).
#[cfg(feature = "mkl")]
fn mkl_batch<T: Scalar>(job: &Job<'_, T>, g: &Geometry, threads: usize) -> bool {
    let crate::job::Entries::Strided {
        a,
        b,
        c,
        bs_a,
        bs_b,
        bs_c,
        count,
    } = job.entries()
    else {
        return false;
    };
    if g.swap || count < 2 || job.m().max(job.n()).max(job.k()) > MKL_BATCH_MAX {
        return false;
    }
    // MKL's batch call rejects (through xerbla, leaving C unwritten) strides below one matrix's
    // span, which tensorblas allows (interleaved and negative layouts; the oracle tests caught
    // it): hand it only entries stacked one after the other, A and B possibly broadcast with
    // stride 0, and let the per-entry loop take everything else.
    let span = |ld: c_int, cols: c_int| ld as isize * cols as isize;
    let (cols_a, cols_b) = (
        if matches!(g.ta, CblasNoTrans) { g.k } else { g.m },
        if matches!(g.tb, CblasNoTrans) { g.n } else { g.k },
    );
    if !(bs_a == 0 || bs_a >= span(g.lda, cols_a))
        || !(bs_b == 0 || bs_b >= span(g.ldb, cols_b))
        || bs_c < span(g.ldc, g.n)
    {
        return false;
    }
    let (Some(sa), Some(sb), Some(sc), Ok(cnt)) = (int(bs_a), int(bs_b), int(bs_c), c_int::try_from(count)) else {
        return false;
    };
    let (alpha, beta) = (&job.alpha(), &job.beta());
    // SAFETY: T::DATATYPE names T; the geometry and strides describe the validated job exactly
    // (same layout CBLAS reads per entry); MKL's thread count is restored afterwards.
    unsafe {
        let prev = MKL_Set_Num_Threads_Local(threads as c_int);
        match T::DATATYPE {
            DataType::R32F => cblas_sgemm_batch_strided(
                CblasColMajor,
                g.ta,
                g.tb,
                g.m,
                g.n,
                g.k,
                as_::<T, f32>(alpha),
                a.cast(),
                g.lda,
                sa,
                b.cast(),
                g.ldb,
                sb,
                as_::<T, f32>(beta),
                c.cast(),
                g.ldc,
                sc,
                cnt,
            ),
            DataType::R64F => cblas_dgemm_batch_strided(
                CblasColMajor,
                g.ta,
                g.tb,
                g.m,
                g.n,
                g.k,
                as_::<T, f64>(alpha),
                a.cast(),
                g.lda,
                sa,
                b.cast(),
                g.ldb,
                sb,
                as_::<T, f64>(beta),
                c.cast(),
                g.ldc,
                sc,
                cnt,
            ),
            DataType::C32F => cblas_cgemm_batch_strided(
                CblasColMajor,
                g.ta,
                g.tb,
                g.m,
                g.n,
                g.k,
                (alpha as *const T).cast(),
                a.cast(),
                g.lda,
                sa,
                b.cast(),
                g.ldb,
                sb,
                (beta as *const T).cast(),
                c.cast(),
                g.ldc,
                sc,
                cnt,
            ),
            DataType::C64F => cblas_zgemm_batch_strided(
                CblasColMajor,
                g.ta,
                g.tb,
                g.m,
                g.n,
                g.k,
                (alpha as *const T).cast(),
                a.cast(),
                g.lda,
                sa,
                b.cast(),
                g.ldb,
                sb,
                (beta as *const T).cast(),
                c.cast(),
                g.ldc,
                sc,
                cnt,
            ),
        }
        MKL_Set_Num_Threads_Local(prev);
    }
    true
}

/// Entries at least this large (m*n*k) are split by columns across threads when the batch
/// alone cannot occupy them.
const INNER_THREADING_WORK: usize = 64 * 64 * 64;

/// A job expressed in CBLAS column-major terms.
#[derive(Clone, Copy)]
struct Geometry {
    /// C^T = op(B)^T op(A)^T is computed instead of C (row-major C): A and B swap roles.
    swap: bool,
    m: c_int,
    n: c_int,
    k: c_int,
    ta: CBLAS_TRANSPOSE,
    lda: c_int,
    tb: CBLAS_TRANSPOSE,
    ldb: c_int,
    ldc: c_int,
    /// Element stride between columns of op(B) and of C (to split C by columns).
    b_col: isize,
    c_col: isize,
}

fn int(v: isize) -> Option<c_int> {
    c_int::try_from(v).ok()
}

/// The CBLAS transposition of an operand of the BLAS form.
fn trans(op: Op) -> CBLAS_TRANSPOSE {
    match op {
        Op::N => CblasNoTrans,
        Op::T => CblasTrans,
        Op::C => CblasConjTrans,
    }
}

/// The job in CBLAS terms: its BLAS form (`Job::blas_form`) with every size fitting a C `int`.
fn geometry<T: Scalar>(job: &Job<'_, T>) -> Option<Geometry> {
    let f = job.blas_form()?;
    Some(Geometry {
        swap: f.swap,
        m: int(f.m as isize)?,
        n: int(f.n as isize)?,
        k: int(job.k() as isize)?,
        ta: trans(f.x.op),
        lda: int(f.x.ld)?,
        tb: trans(f.y.op),
        ldb: int(f.y.ld)?,
        ldc: int(f.ldc)?,
        b_col: f.y_col,
        c_col: f.c_col,
    })
}

/// Reinterprets a scalar of the type `T::DATATYPE` names.
///
/// # Safety
/// `U` must be the type `T` is (checked by the caller through `T::DATATYPE`).
unsafe fn as_<T: Scalar, U: Copy>(v: &T) -> U {
    // SAFETY: same type per the caller's contract.
    unsafe { *(v as *const T as *const U) }
}

/// One CBLAS call on columns `[0, n)` of the entry whose (possibly swapped) A, B, C start at the
/// given pointers.
///
/// # Safety
/// The pointers and `g` must describe a validated entry (or a column block of one).
unsafe fn call<T: Scalar>(g: &Geometry, n: c_int, a: *const T, b: *const T, c: *mut T, alpha: &T, beta: &T) {
    // SAFETY: T::DATATYPE names T exactly (Scalar is sealed); the geometry was derived from a
    // validated job, so every element CBLAS addresses is in bounds, and C is disjoint from A, B.
    unsafe {
        match T::DATATYPE {
            DataType::R32F => cblas_sgemm(
                CblasColMajor,
                g.ta,
                g.tb,
                g.m,
                n,
                g.k,
                as_::<T, f32>(alpha),
                a.cast(),
                g.lda,
                b.cast(),
                g.ldb,
                as_::<T, f32>(beta),
                c.cast(),
                g.ldc,
            ),
            DataType::R64F => cblas_dgemm(
                CblasColMajor,
                g.ta,
                g.tb,
                g.m,
                n,
                g.k,
                as_::<T, f64>(alpha),
                a.cast(),
                g.lda,
                b.cast(),
                g.ldb,
                as_::<T, f64>(beta),
                c.cast(),
                g.ldc,
            ),
            DataType::C32F => cblas_cgemm(
                CblasColMajor,
                g.ta,
                g.tb,
                g.m,
                n,
                g.k,
                (alpha as *const T).cast(),
                a.cast(),
                g.lda,
                b.cast(),
                g.ldb,
                (beta as *const T).cast(),
                c.cast(),
                g.ldc,
            ),
            DataType::C64F => cblas_zgemm(
                CblasColMajor,
                g.ta,
                g.tb,
                g.m,
                n,
                g.k,
                (alpha as *const T).cast(),
                a.cast(),
                g.lda,
                b.cast(),
                g.ldb,
                (beta as *const T).cast(),
                c.cast(),
                g.ldc,
            ),
        }
    }
}

impl Backend for Cblas {
    fn execute<T: Scalar>(&self, job: &Job<'_, T>, cfg: &Config) -> Result<()> {
        cfg.install(|| self.execute_in_pool(job, cfg))
    }
}

impl Cblas {
    fn execute_in_pool<T: Scalar>(&self, job: &Job<'_, T>, cfg: &Config) -> Result<()> {
        let threads = cfg.threads;
        let Some(g) = geometry(job) else {
            return Native.execute(job, cfg);
        };
        single_threaded_vendor();
        #[cfg(feature = "mkl")]
        if mkl_batch(job, &g, threads) {
            return Ok(());
        }

        let entry = |p: usize| {
            let e = job.entry(p);
            let (a, b) = if g.swap { (e.b, e.a) } else { (e.a, e.b) };
            (a, b, e.c)
        };
        let batch = job.batch();
        let work = job.entry_work();
        if threads > 1 && batch < 2 * threads && work >= INNER_THREADING_WORK {
            // Few large entries: split C (and op(B)) into one column block per thread.
            let nb = threads.min(g.n as usize);
            let cols = |t: usize| (t * g.n as usize / nb, (t + 1) * g.n as usize / nb);
            for p in 0..batch {
                (0..nb).into_par_iter().for_each(|t| {
                    let (a, b, c) = entry(p);
                    let (j0, j1) = cols(t);
                    let (bj, cj) = (
                        b.wrapping_offset(j0 as isize * g.b_col),
                        c.wrapping_offset(j0 as isize * g.c_col),
                    );
                    // SAFETY: columns [j0, j1) of a validated entry; blocks are disjoint in C.
                    unsafe { call(&g, (j1 - j0) as c_int, a, bj, cj, &job.alpha(), &job.beta()) };
                });
            }
        } else if threads > 1 {
            (0..batch)
                .into_par_iter()
                .with_min_len(min_entries_per_task(work))
                .for_each(|p| {
                    let (a, b, c) = entry(p);
                    // SAFETY: a validated entry; distinct entries of C are disjoint.
                    unsafe { call(&g, g.n, a, b, c, &job.alpha(), &job.beta()) };
                });
        } else {
            for p in 0..batch {
                let (a, b, c) = entry(p);
                // SAFETY: a validated entry.
                unsafe { call(&g, g.n, a, b, c, &job.alpha(), &job.beta()) };
            }
        }
        Ok(())
    }
}

/// Minimum number of batch entries per rayon task so that each task carries enough work to
/// amortise scheduling (about 32k multiply-adds).
fn min_entries_per_task(entry_work: usize) -> usize {
    (32 * 1024 / entry_work.max(1)).max(1)
}
