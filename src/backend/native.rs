//! The native backend: pure Rust, no system library.
//!
//! Per entry it picks one of two engines:
//! - **small**: tensorblas' own register-blocked kernels ([`super::small`]) for thin entries
//!   (`min(m, n) <= SMALL_MAX`, `k <= THIN_K_MAX`), whose resident operand stays in L1/L2;
//! - **gemm**: the `gemm` crate (cache-blocked, packed; any strides, conjugation flags,
//!   `read_dst = false` when `beta == 0`, so C is never read then) for larger entries.
//!
//! Threading: rayon over the batch, each entry single-threaded, unless the batch is too small to
//! occupy the threads and the entries are large, in which case the entries run one after the
//! other, each multithreaded inside `gemm`.

use super::small::run_entries;
use super::{min_entries_per_task, Backend, Config};
use crate::error::Result;
use crate::job::{Entries, EntryPtrs, Job};
use crate::scalar::Scalar;
use gemm::Parallelism;
use rayon::prelude::*;

pub(crate) struct Native;

/// Entries at least this large (m*n*k multiply-adds) are worth threading internally when the
/// batch alone cannot occupy the threads (64^3: below it `gemm` does not thread anyway).
const INNER_THREADING_WORK: usize = 64 * 64 * 64;

/// Largest m, n and k the small kernels take (above, the packed `gemm` crate wins).
pub(crate) const SMALL_MAX: usize = 64;

/// Largest k of a thin product (one of m, n at most `SMALL_MAX`) the small kernels take: the
/// resident `SMALL_MAX x k` slab of the kernel's A stays in L2 (256 KiB in f64).
const THIN_K_MAX: usize = 512;

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
        let parallel = cfg.pool.is_some() && batch.saturating_mul(work) >= PARALLEL_MIN_WORK;
        if let Some(flip) = small_orientation(job) {
            let j = if flip { transposed(job) } else { *job };
            if j.m > SMALL_MAX {
                // A tall kernel problem (a flattened contraction whose C rows are contiguous):
                // row slabs of SMALL_MAX rows, each with its slab of A resident.
                let slabs = j.m.div_ceil(SMALL_MAX);
                let tiles = batch * slabs;
                let run = |range: std::ops::Range<usize>| {
                    for t in range {
                        let (p, r0) = (t / slabs, (t % slabs) * SMALL_MAX);
                        let sub = tile(&j, flip, p, (r0, (r0 + SMALL_MAX).min(j.m)), (0, j.n));
                        run_entries(cfg.isa, &sub, flip, 0..1);
                    }
                };
                match &cfg.pool {
                    Some(pool) if parallel => {
                        let parts = threads.min(tiles);
                        let part = |t: usize| t * tiles / parts..(t + 1) * tiles / parts;
                        pool.in_place_scope(|s| {
                            for t in 1..parts {
                                let run = &run;
                                s.spawn(move |_| run(part(t)));
                            }
                            run(part(0));
                        });
                    }
                    _ => run(0..tiles),
                }
                return Ok(());
            }
            match &cfg.pool {
                Some(pool) if parallel && batch >= threads => {
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
                Some(pool) if parallel => {
                    // Fewer entries than threads, each large (a wide flattened GEMM): split the
                    // columns of each entry into one contiguous block per thread.
                    let parts = threads.min(j.n.div_ceil(8)).max(1);
                    let cols = |t: usize| (t * j.n / parts, (t + 1) * j.n / parts);
                    for p in 0..batch {
                        pool.in_place_scope(|s| {
                            for t in 1..parts {
                                let sub = tile(&j, flip, p, (0, j.m), cols(t));
                                s.spawn(move |_| run_entries(cfg.isa, &sub, flip, 0..1));
                            }
                            run_entries(cfg.isa, &tile(&j, flip, p, (0, j.m), cols(0)), flip, 0..1);
                        });
                    }
                }
                _ => run_entries(cfg.isa, &j, flip, 0..batch),
            }
            return Ok(());
        }
        if threads <= 1 || (!parallel && work < INNER_THREADING_WORK) {
            // Small total work: the calling thread alone (waking the pool costs more).
            (0..batch).for_each(|p| entry(job, job.entry(p), Parallelism::None));
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

/// Whether the small kernels take this job, and in which orientation (`Some(flip)`): they keep
/// the kernel's `m x k` operand resident and stream the columns, so they need `k <= SMALL_MAX`
/// and one of `m`, `n` at most `SMALL_MAX` (a thin GEMM, such as a flattened contraction); a
/// kernel `m` above it runs in row slabs. The orientation is `flip_pays`' choice.
fn small_orientation<T: Scalar>(job: &Job<'_, T>) -> Option<bool> {
    (job.k <= THIN_K_MAX && job.m.min(job.n) <= SMALL_MAX).then(|| flip_pays(job))
}

/// Rows `r0..r1` and kernel columns `c0..c1` of entry `p` of `j` as a one-entry job (`j` is in
/// the kernel's orientation; with `flip` the kernel's A is the job's B pointer and vice versa).
fn tile<'a, T: Scalar>(
    j: &Job<'a, T>,
    flip: bool,
    p: usize,
    (r0, r1): (usize, usize),
    (c0, c1): (usize, usize),
) -> Job<'a, T> {
    let e = j.entry(p);
    let (r, c) = (r0 as isize, c0 as isize);
    // Kernel A moves with the rows, kernel B with the columns.
    let (ka, kb) = if flip { (e.b, e.a) } else { (e.a, e.b) };
    let (ka, kb) = (ka.wrapping_offset(r * j.a.rs), kb.wrapping_offset(c * j.b.cs));
    let (a, b) = if flip { (kb, ka) } else { (ka, kb) };
    Job {
        m: r1 - r0,
        n: c1 - c0,
        entries: Entries::Strided {
            a,
            b,
            c: e.c.wrapping_offset(r * j.c.rs + c * j.c.cs),
            bs_a: 0,
            bs_b: 0,
            bs_c: 0,
            count: 1,
        },
        ..*j
    }
}

/// Whether computing `C^T = opB^T opA^T` suits the small kernels better: C's rows contiguous
/// first (vector stores instead of scattered ones), then A streamed in place instead of packed.
fn flip_pays<T: Scalar>(job: &Job<'_, T>) -> bool {
    let score = |a: crate::job::Strides, c: crate::job::Strides| 2 * (c.rs == 1) as u8 + (a.rs == 1 && !a.conj) as u8;
    score(job.b.t(), job.c.t()) > score(job.a, job.c)
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
