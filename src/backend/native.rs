//! The native backend: pure Rust, no system library.
//!
//! Each entry is one call of the `gemm` crate (arbitrary, also negative and zero, input strides;
//! conjugation flags; `read_dst = false` when `beta == 0`, so C is never read then).
//! Threading: rayon over the batch, each entry single-threaded, unless the batch is too small
//! to occupy the threads and the entries are large, in which case the entries run one after the
//! other, each multithreaded inside `gemm`.
//!
//! This is the slot where tensorblas' own small-matrix kernels plug in (see `select_kernel`).

use super::{min_entries_per_task, Backend};
use crate::error::Result;
use crate::job::{EntryPtrs, Job};
use crate::scalar::Scalar;
use gemm::Parallelism;
use rayon::prelude::*;

pub(crate) struct Native;

/// Entries at least this large (m*n*k multiply-adds) are worth threading internally when the
/// batch alone cannot occupy the threads (64^3: below it `gemm` does not thread anyway).
const INNER_THREADING_WORK: usize = 64 * 64 * 64;

impl Backend for Native {
    fn execute<T: Scalar>(&self, job: &Job<'_, T>, threads: usize) -> Result<()> {
        let batch = job.batch();
        let work = job.entry_work();
        if threads <= 1 {
            (0..batch).for_each(|p| entry(job, job.entry(p), Parallelism::None));
        } else if batch < 2 * threads && work >= INNER_THREADING_WORK {
            (0..batch).for_each(|p| entry(job, job.entry(p), Parallelism::Rayon(threads)));
        } else {
            (0..batch)
                .into_par_iter()
                .with_min_len(min_entries_per_task(work))
                .for_each(|p| entry(job, job.entry(p), Parallelism::None));
        }
        Ok(())
    }
}

/// One entry through the `gemm` crate.
fn entry<T: Scalar>(job: &Job<'_, T>, e: EntryPtrs<T>, par: Parallelism) {
    // SAFETY: the validator proved all addressed elements of this entry in bounds, C's elements
    // pairwise distinct and disjoint from A and B, and m, n, k > 0. `gemm` computes
    // dst := alpha_g*dst + beta_g*lhs*rhs, reading dst only when read_dst is true, so our
    // (alpha, beta) are passed swapped and beta == 0 never reads C.
    unsafe {
        gemm::gemm(
            job.m,
            job.n,
            job.k,
            e.c,
            job.c.cs,
            job.c.rs,
            !job.beta.is_zero(),
            e.a,
            job.a.cs,
            job.a.rs,
            e.b,
            job.b.cs,
            job.b.rs,
            job.beta,
            job.alpha,
            false,
            job.a.conj,
            job.b.conj,
            par,
        )
    }
}
