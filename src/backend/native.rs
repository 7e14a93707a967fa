//! The native backend: pure Rust, no system library.
//!
//! Per entry it picks one of two engines:
//! - **small**: tensorblas' own register-blocked kernels ([`super::small`]) when the entry is
//!   small enough that its operands stay in L1/L2 (`m, n, k <= SMALL_MAX`);
//! - **gemm**: the `gemm` crate (cache-blocked, packed; any strides, conjugation flags,
//!   `read_dst = false` when `beta == 0`, so C is never read then) for larger entries.
//!
//! Threading: rayon over the batch, each entry single-threaded, unless the batch is too small to
//! occupy the threads and the entries are large, in which case the entries run one after the
//! other, each multithreaded inside `gemm`.

use super::small::run_entries;
use super::{min_entries_per_task, Backend, Config};
use crate::error::Result;
use crate::job::{EntryPtrs, Job};
use crate::scalar::Scalar;
use gemm::Parallelism;
use rayon::prelude::*;

pub(crate) struct Native;

/// Entries at least this large (m*n*k multiply-adds) are worth threading internally when the
/// batch alone cannot occupy the threads (64^3: below it `gemm` does not thread anyway).
const INNER_THREADING_WORK: usize = 64 * 64 * 64;

/// Largest m, n and k the small kernels take (above, the packed `gemm` crate wins).
pub(crate) const SMALL_MAX: usize = 64;

/// Below this many multiply-adds in a whole call (batch * m * n * k, about 40-80 us on one
/// thread), the small-kernel path runs on the calling thread alone: waking the pool costs tens
/// of microseconds on the project machine (a VM). Measured (f32, 2 threads, one call of 2^21
/// multiply-adds at 32^3): 178 GFLOP/s on the caller alone, 91 split over the pool.
const PARALLEL_MIN_WORK: usize = 1 << 23;

impl Backend for Native {
    fn execute<T: Scalar>(&self, job: &Job<'_, T>, cfg: &Config) -> Result<()> {
        let threads = cfg.threads;
        let batch = job.batch();
        let work = job.entry_work();
        if job.m.max(job.n).max(job.k) <= SMALL_MAX {
            // Prefer the orientation in which A is streamed in place (C^T = B^T A^T).
            let flip = flip_pays(job);
            let j = if flip { transposed(job) } else { *job };
            match &cfg.pool {
                Some(pool) if batch.saturating_mul(work) >= PARALLEL_MIN_WORK && batch >= 2 => {
                    // A static split into one contiguous part per thread (deterministic). The
                    // calling thread computes part 0 while the pool wakes up for the others.
                    let parts = threads.min(batch);
                    let part = |t: usize| t * batch / parts..(t + 1) * batch / parts;
                    pool.in_place_scope(|s| {
                        for t in 1..parts {
                            let j = &j;
                            s.spawn(move |_| run_entries(cfg.isa, j, flip, part(t)));
                        }
                        run_entries(cfg.isa, &j, flip, part(0));
                    });
                }
                _ => run_entries(cfg.isa, &j, flip, 0..batch),
            }
            return Ok(());
        }
        cfg.install(|| {
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
        });
        Ok(())
    }
}

/// Whether computing `C^T = opB^T opA^T` lets the small kernels stream A in place (and keep C's
/// rows contiguous) where the original orientation would need packing.
fn flip_pays<T: Scalar>(job: &Job<'_, T>) -> bool {
    let direct = job.a.rs == 1 && !job.a.conj;
    let flipped = job.b.cs == 1 && !job.b.conj;
    !direct && flipped && (job.c.cs == 1 || job.c.rs != 1)
}

/// The same job computing `C^T = opB^T opA^T` (entry pointers of A and B swap).
fn transposed<'a, T: Scalar>(job: &Job<'a, T>) -> Job<'a, T> {
    Job {
        m: job.n,
        n: job.m,
        a: job.b.t(),
        b: job.a.t(),
        c: job.c.t(),
        ..*job
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
