//! The OpenBLAS backend (cargo feature `openblas`): CBLAS `?gemm` per entry.
//!
//! OpenBLAS runs single-threaded inside tensorblas: at first use this backend calls
//! `openblas_set_num_threads(1)` (a process-wide setting) and does its own threading, which is
//! deterministic for a given thread count: rayon over the batch for many entries, or the columns
//! of C split into one block per thread for a few large entries.
//!
//! Layouts CBLAS cannot express (general, zero or negative strides, conjugation without
//! transposition, extents beyond `i32`) run on the native backend: never a wrong answer.

use super::{min_entries_per_task, native::Native, Backend, Config};
use crate::error::Result;
use crate::job::{Job, Strides};
use crate::scalar::{DataType, Scalar};
use cblas_sys::{
    cblas_cgemm, cblas_dgemm, cblas_sgemm, cblas_zgemm, CblasColMajor, CblasConjTrans, CblasNoTrans, CblasTrans,
    CBLAS_TRANSPOSE,
};
use rayon::prelude::*;
use std::ffi::c_int;
use std::sync::Once;

extern "C" {
    fn openblas_set_num_threads(num_threads: c_int);
}

pub(crate) struct OpenBlas;

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

/// How CBLAS reads an effective `rows x cols` operand, if it can.
fn operand(s: Strides, rows: usize, cols: usize) -> Option<(CBLAS_TRANSPOSE, c_int)> {
    if s.rs == 1 && !s.conj && s.cs >= rows.max(1) as isize {
        Some((CblasNoTrans, int(s.cs)?))
    } else if s.cs == 1 && s.rs >= cols.max(1) as isize {
        Some((if s.conj { CblasConjTrans } else { CblasTrans }, int(s.rs)?))
    } else {
        None
    }
}

fn geometry<T: Scalar>(job: &Job<'_, T>) -> Option<Geometry> {
    let (m, n, k) = (job.m, job.n, job.k);
    let (swap, m, n, a, b, c) = if job.c.rs == 1 && job.c.cs >= m.max(1) as isize {
        (false, m, n, job.a, job.b, job.c)
    } else if job.c.cs == 1 && job.c.rs >= n.max(1) as isize {
        (true, n, m, job.b.t(), job.a.t(), job.c.t())
    } else {
        return None;
    };
    let (ta, lda) = operand(a, m, k)?;
    let (tb, ldb) = operand(b, k, n)?;
    Some(Geometry {
        swap,
        m: int(m as isize)?,
        n: int(n as isize)?,
        k: int(k as isize)?,
        ta,
        lda,
        tb,
        ldb,
        ldc: int(c.cs)?,
        b_col: b.cs,
        c_col: c.cs,
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

impl Backend for OpenBlas {
    fn execute<T: Scalar>(&self, job: &Job<'_, T>, cfg: Config) -> Result<()> {
        let threads = cfg.threads;
        let Some(g) = geometry(job) else {
            return Native.execute(job, cfg);
        };
        static SINGLE_THREADED: Once = Once::new();
        // SAFETY: a plain setter of OpenBLAS' global thread count, called once, before any
        // tensorblas call into OpenBLAS.
        SINGLE_THREADED.call_once(|| unsafe { openblas_set_num_threads(1) });

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
                    unsafe { call(&g, (j1 - j0) as c_int, a, bj, cj, &job.alpha, &job.beta) };
                });
            }
        } else if threads > 1 {
            (0..batch)
                .into_par_iter()
                .with_min_len(min_entries_per_task(work))
                .for_each(|p| {
                    let (a, b, c) = entry(p);
                    // SAFETY: a validated entry; distinct entries of C are disjoint.
                    unsafe { call(&g, g.n, a, b, c, &job.alpha, &job.beta) };
                });
        } else {
            for p in 0..batch {
                let (a, b, c) = entry(p);
                // SAFETY: a validated entry.
                unsafe { call(&g, g.n, a, b, c, &job.alpha, &job.beta) };
            }
        }
        Ok(())
    }
}
