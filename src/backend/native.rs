//! The native backend: pure Rust, no system library.
//!
//! Three engines, chosen per call by the tuning table ([`super::tuning::pick`]) unless the
//! handle forces one ([`crate::CpuEngine`]):
//! - **small**: tensorblas' register-blocked kernels ([`super::small`]), no packing, where they
//!   apply (`min(m, n) <= SMALL_MAX`, `k <= THIN_K_MAX`: square entries up to 64 and thin ones);
//!   forced on a job they do not apply to, the packed engine runs it;
//! - **packed**: tensorblas' BLIS-style packed GEMM ([`super::packed`]), any shape;
//! - **gemm-crate**: the `gemm` crate per entry.
//!
//! Threading: the calling thread alone below `tuning::split_pays`' threshold; else a static
//! split of the batch over the threads when it is large (or divides evenly), otherwise (packed
//! and small) every entry's C split into one rectangle per thread (columns, or rows when C is
//! taller than wide), or (`gemm` crate, large entries) each entry threaded inside `gemm`; a
//! single real triangle (`syrk`) much deeper than wide is split over its depth instead
//! (`packed_depth_split`: the threads' partial triangles summed into C in thread order, so its
//! last bits depend on the thread count, as they are fixed for a given one). The parts run on
//! the spinning team ([`super::team`]; the rayon pool when it is busy). Otherwise each element
//! of C is computed identically whatever the split.

use super::packed::{self, Rect};
use super::small::{real_ptrs, run_entries, run_entries_to, Desc, Isa};
use super::tuning::{self, ENTRIES_PER_THREAD, INNER_THREADING_WORK, SMALL_MAX, THIN_K_MAX};
use super::{Backend, Config, CpuEngine};
use crate::error::Result;
use crate::job::{Entries, EntryPtrs, Job};
use crate::scalar::{per_type, Scalar};
use gemm::Parallelism;

pub(crate) struct Native;

impl Backend for Native {
    fn execute<T: Scalar>(&self, job: &Job<'_, T>, cfg: &Config) -> Result<()> {
        let engine = match cfg.engine {
            // Only the packed engine computes a triangle (syrk).
            _ if job.tri().is_some() => CpuEngine::Packed,
            CpuEngine::Auto => auto_engine(job, cfg.isa, cfg.threads),
            e => e,
        };
        match engine {
            CpuEngine::Small => small(job, cfg),
            CpuEngine::GemmCrate => gemm_crate(job, cfg),
            _ => run_packed(job, cfg),
        }
        Ok(())
    }
}

/// The packed engine, threaded as the module documentation says.
fn run_packed<T: Scalar>(job: &Job<'_, T>, cfg: &Config) {
    let (flip, j) = packed_orientation(job);
    let batch = j.batch();
    let parallel = tuning::split_pays(T::DATATYPE, batch.saturating_mul(j.entry_work()), cfg.team.is_some());
    let full = Rect {
        r0: 0,
        r1: j.m(),
        c0: 0,
        c1: j.n(),
    };
    let go = |range: std::ops::Range<usize>, rect: Rect| packed_entries(cfg, &j, flip, range, rect);
    let threads = cfg.threads;
    match &cfg.pool {
        Some(pool) if parallel && (batch >= threads * ENTRIES_PER_THREAD || batch % threads == 0) => {
            // A static split into one contiguous part of the batch per thread.
            let part = |t: usize| t * batch / threads..(t + 1) * batch / threads;
            split(cfg, pool, threads, |t| go(part(t), full));
        }
        Some(pool) if parallel && batch == 1 && depth_split(&j) => {
            // Every thread a non-empty range of the depth.
            packed_depth_split(cfg, pool, &j, flip, threads.min(j.k()))
        }
        Some(pool) if parallel => {
            // Few entries: each entry's C in one rectangle per thread, along its longer side, in
            // whole micro-tiles.
            let (bytes, cplx) = tuning::real_of(T::DATATYPE);
            let bl = tuning::blocking(cfg.isa, bytes);
            let w = if cplx { 2 } else { 1 };
            let (len, unit) = if j.n() >= j.m() {
                (j.n(), bl.nr)
            } else {
                (j.m(), bl.mr() / w)
            };
            let units = len.div_ceil(unit);
            let parts = threads.min(units);
            let cuts = match j.tri() {
                None => (0..=parts).map(|t| (t * units / parts * unit).min(len)).collect(),
                Some(tri) => tri_cuts(&j, tri, j.n() >= j.m(), unit, parts),
            };
            let cut = |t: usize| cuts[t];
            let rect = |t: usize| {
                let (lo, hi) = (cut(t), cut(t + 1));
                if j.n() >= j.m() {
                    Rect { c0: lo, c1: hi, ..full }
                } else {
                    Rect { r0: lo, r1: hi, ..full }
                }
            };
            split(cfg, pool, parts, |t| go(0..batch, rect(t)));
        }
        _ => go(0..batch, full),
    }
}

/// Whether a single triangle (`syrk`) is split over its depth rather than its columns: a real
/// one at least `tuning::SYRK_SPLIT_DEPTH` times deeper than it is wide (see there).
fn depth_split<T: Scalar>(j: &Job<'_, T>) -> bool {
    j.tri().is_some() && !tuning::real_of(T::DATATYPE).1 && j.k() >= tuning::SYRK_SPLIT_DEPTH * j.m().max(j.n())
}

/// One real triangle (`depth_split`), its depth cut into `parts` equal ranges, one per thread:
/// each thread computes the whole triangle of its range, thread 0 into C (with beta), the
/// others into their own `m x n` scratch (beta 0, so nothing there is read), then the scratches
/// are added to C's triangle in thread order (bit-for-bit reproducible per thread count). Every
/// thread packs its own rows of A and columns of B once, and none packs what another does.
fn packed_depth_split<T: Scalar>(cfg: &Config, pool: &rayon::ThreadPool, j: &Job<'_, T>, flip: bool, parts: usize) {
    macro_rules! go {
        ($r:ty) => {{
            let d = Desc::<$r>::of(j);
            let (m, n, k) = (d.m, d.n, d.k);
            let tri = d.tri.expect("depth_split: a triangle");
            let mut scratch: Vec<$r> = vec![0.0; (parts - 1) * m * n];
            // The scratch's address (a raw pointer is not Sync); each thread writes its own part.
            let sp = scratch.as_mut_ptr() as usize;
            let full = Rect {
                r0: 0,
                r1: m,
                c0: 0,
                c1: n,
            };
            split(cfg, pool, parts, |t| {
                let (k0, k1) = (t * k / parts, (t + 1) * k / parts);
                let (a, b, c) = real_ptrs::<T, $r>(j, flip, 0);
                let (a, b) = (
                    a.wrapping_offset(k0 as isize * d.a_cs),
                    b.wrapping_offset(k0 as isize * d.b_rs),
                );
                let (dt, c) = if t == 0 {
                    (Desc { k: k1 - k0, ..d }, c)
                } else {
                    let own = (sp as *mut $r).wrapping_add((t - 1) * m * n);
                    let dt = Desc {
                        k: k1 - k0,
                        beta: [0.0, 0.0],
                        beta_zero: true,
                        c_rs: 1,
                        c_cs: m as isize,
                        ..d
                    };
                    (dt, own)
                };
                // SAFETY: `j` is a validated job (as `packed_entries`); the depth range k0..k1 is
                // a non-empty part of its depth (k >= parts), so A's columns and B's rows there
                // are in bounds; thread 0 writes the entry's C, the others disjoint `m x n`
                // column-major parts of the scratch, which is disjoint from A and B.
                unsafe { packed::run::<$r, false, _>(cfg.isa, &dt, 0..1, full, &|_| (a, b, c)) };
            });
            let (_, _, c) = real_ptrs::<T, $r>(j, flip, 0);
            for t in 1..parts {
                let own = &scratch[(t - 1) * m * n..t * m * n];
                for col in 0..n {
                    for row in (0..m).filter(|&row| tri.keeps(row, col)) {
                        // SAFETY: (row, col) is an element of the validated C.
                        unsafe {
                            let p = c.offset(row as isize * d.c_rs + col as isize * d.c_cs);
                            *p += own[row + col * m];
                        }
                    }
                }
            }
        }};
    }
    per_type!(
        T,
        go!(f32),
        go!(f64),
        unreachable!("depth_split: real types only"),
        unreachable!("depth_split: real types only")
    )
}

/// Cuts of `j`'s columns (`by_cols`) or rows into `parts` ranges of whole `unit`s that hold
/// about equal numbers of elements of the triangle `tri` (the packed engine's work there):
/// `parts + 1` ascending offsets from 0 to the extent.
fn tri_cuts<T: Scalar>(j: &Job<'_, T>, tri: crate::job::Uplo, by_cols: bool, unit: usize, parts: usize) -> Vec<usize> {
    let (len, other) = if by_cols { (j.n(), j.m()) } else { (j.m(), j.n()) };
    // Elements of the triangle in line `x` (a column when by_cols, else a row): the lines
    // shrink along the split (columns of the lower triangle, rows of the upper one) or grow.
    let shrinking = by_cols == (tri == crate::job::Uplo::Lower);
    let line = |x: usize| -> usize {
        if shrinking {
            other.saturating_sub(x)
        } else {
            (x + 1).min(other)
        }
    };
    let units = len.div_ceil(unit);
    let weight: Vec<usize> = (0..units)
        .map(|u| (u * unit..((u + 1) * unit).min(len)).map(line).sum())
        .collect();
    let total: usize = weight.iter().sum();
    let mut cuts = vec![0usize];
    let mut acc = 0usize;
    for (u, w) in weight.iter().enumerate() {
        acc += w;
        let t = cuts.len();
        // Close part t - 1 once its share of the work is reached.
        if t < parts && acc * parts >= total * t {
            cuts.push(((u + 1) * unit).min(len));
        }
    }
    while cuts.len() <= parts {
        cuts.push(len);
    }
    cuts
}

/// Runs `f(0), ..., f(parts - 1)` (`parts <= cfg.threads`), one part per thread, and returns
/// when all are done: on the handle's spinning team when it is free (`super::team`: 0.3-0.6 us
/// per call against 13-19 us for a rayon `install` in these VMs), else on the rayon pool.
fn split(cfg: &Config, pool: &rayon::ThreadPool, parts: usize, f: impl Fn(usize) + Sync) {
    if parts <= 1 {
        return f(0);
    }
    // (From inside a rayon pool, e.g. a caller's parallel loop, the team would add threads to
    // busy cores: the pool runs it there.)
    if rayon::current_thread_index().is_none() {
        if let Some(team) = &cfg.team {
            if team.run(parts, &f).is_some() {
                return;
            }
        }
    }
    // Inside the pool (the caller waits): with `in_place_scope` the caller computed part 0 while
    // both pool threads woke, three threads on two cores; measured (engine_probe, 2 threads,
    // Xeon AVX-512) install vs in-place at 2^18 multiply-adds and up: f32 64^3 x 16 202 vs 135
    // GFLOP/s, f64 32^3 x 32 77 vs 44.
    let f = &f;
    pool.install(|| {
        rayon::scope(|s| {
            for t in 1..parts {
                s.spawn(move |_| f(t));
            }
            f(0);
        })
    });
}

/// Entries `range` of `j` (in the kernels' orientation) through the packed engine, `rect` of
/// each, on the calling thread.
fn packed_entries<T: Scalar>(cfg: &Config, j: &Job<'_, T>, flip: bool, range: std::ops::Range<usize>, rect: Rect) {
    macro_rules! go {
        ($r:ty, $cplx:literal) => {{
            let d = Desc::<$r>::of(j);
            // SAFETY: `j` is a validated job (every addressed element in bounds, C disjoint from
            // A and B and its elements distinct, m, n, k > 0, alpha != 0), already in the
            // kernels' orientation when `flip` (real_ptrs swaps the A and B pointers to match);
            // `rect` lies inside m x n; the handle only holds supported instruction sets.
            unsafe { packed::run::<$r, $cplx, _>(cfg.isa, &d, range, rect, &|p| real_ptrs::<T, $r>(j, flip, p)) }
        }};
    }
    per_type!(T, go!(f32, false), go!(f64, false), go!(f32, true), go!(f64, true))
}

/// The small-matrix kernels (the job fits them: `small_orientation` is `Some`).
fn small<T: Scalar>(job: &Job<'_, T>, cfg: &Config) {
    let Some(flip) = small_orientation(job) else {
        return run_packed(job, cfg);
    };
    let (threads, batch) = (cfg.threads, job.batch());
    let parallel = tuning::split_pays(T::DATATYPE, batch.saturating_mul(job.entry_work()), cfg.team.is_some());
    let j = if flip { job.kernel_transposed() } else { *job };
    if j.m() > SMALL_MAX {
        // A tall kernel problem (a flattened contraction whose C rows are contiguous): row slabs
        // of SMALL_MAX rows, each with its slab of A resident.
        let slabs = j.m().div_ceil(SMALL_MAX);
        let tiles = batch * slabs;
        let run = |range: std::ops::Range<usize>| {
            for t in range {
                let (p, r0) = (t / slabs, (t % slabs) * SMALL_MAX);
                let sub = j.tile(flip, p, (r0, (r0 + SMALL_MAX).min(j.m())), (0, j.n()));
                run_entries(cfg.isa, &sub, flip, 0..1);
            }
        };
        match &cfg.pool {
            Some(pool) if parallel => {
                let parts = threads.min(tiles);
                let part = |t: usize| t * tiles / parts..(t + 1) * tiles / parts;
                split(cfg, pool, parts, |t| run(part(t)));
            }
            _ => run(0..tiles),
        }
        return;
    }
    let stream = streams_c(job);
    let prefetch = tuning::prefetch_entries(cfg.isa, job.entry_bytes(), batch);
    match &cfg.pool {
        Some(pool) if parallel && batch >= threads => {
            // A static split into one contiguous part per thread (deterministic).
            let parts = threads.min(batch);
            let part = |t: usize| t * batch / parts..(t + 1) * batch / parts;
            split(cfg, pool, parts, |t| {
                run_entries_to(cfg.isa, &j, flip, part(t), stream, prefetch)
            });
        }
        Some(pool) if parallel => {
            // Fewer entries than threads, each large (a wide flattened GEMM): split the columns
            // of each entry into one contiguous block per thread.
            let parts = threads.min(j.n().div_ceil(8)).max(1);
            let cols = |t: usize| (t * j.n() / parts, (t + 1) * j.n() / parts);
            split(cfg, pool, parts, |t| {
                for p in 0..batch {
                    run_entries(cfg.isa, &j.tile(flip, p, (0, j.m()), cols(t)), flip, 0..1);
                }
            });
        }
        _ => run_entries_to(cfg.isa, &j, flip, 0..batch, stream, prefetch),
    }
}

/// Whether the small kernels write `job`'s C with non-temporal stores: C is not read (`beta ==
/// 0`), each entry's C one contiguous block (column- or row-major: the small kernels' C in one
/// orientation or the other; `run_entries_to` checks it again in theirs) small enough for the
/// scratch (`tuning::STREAM_C_MAX_ENTRY_BYTES`), and, over the call, too large for the caches
/// (`tuning::STREAM_C_BYTES`).
fn streams_c<T: Scalar>(job: &Job<'_, T>) -> bool {
    let (c, m, n) = (job.c(), job.m() as isize, job.n() as isize);
    let entry = job.m().saturating_mul(job.n()).saturating_mul(std::mem::size_of::<T>());
    job.beta().is_zero()
        && ((c.rs == 1 && c.cs == m) || (c.cs == 1 && c.rs == n))
        && entry <= tuning::STREAM_C_MAX_ENTRY_BYTES
        && tuning::stream_c(entry.saturating_mul(job.batch()))
}

/// The `gemm` crate per entry: a static split of the batch over the threads, or each entry
/// threaded inside `gemm` (on the rayon pool) when the batch is too small to occupy the threads.
fn gemm_crate<T: Scalar>(job: &Job<'_, T>, cfg: &Config) {
    let (threads, batch, work) = (cfg.threads, job.batch(), job.entry_work());
    let serial = |range: std::ops::Range<usize>| range.for_each(|p| entry(job, job.entry(p), Parallelism::None));
    let parallel = tuning::split_pays(T::DATATYPE, batch.saturating_mul(work), cfg.team.is_some());
    match &cfg.pool {
        Some(_) if batch < 2 * threads && work >= INNER_THREADING_WORK => {
            cfg.install(|| (0..batch).for_each(|p| entry(job, job.entry(p), Parallelism::Rayon(threads))))
        }
        Some(pool) if parallel && batch >= 2 => {
            let parts = threads.min(batch);
            split(cfg, pool, parts, |t| serial(t * batch / parts..(t + 1) * batch / parts));
        }
        // Small total work: the calling thread alone (waking the threads costs more).
        _ => serial(0..batch),
    }
}

/// Whether the small kernels take this job, and in which orientation (`Some(flip)`): they keep
/// the kernel's `m x k` operand resident and stream the columns, so they need `k <= SMALL_MAX`
/// and one of `m`, `n` at most `SMALL_MAX` (a thin GEMM, such as a flattened contraction); a
/// kernel `m` above it runs in row slabs. The orientation is `flip_pays`' choice.
fn small_orientation<T: Scalar>(job: &Job<'_, T>) -> Option<bool> {
    (job.k() <= THIN_K_MAX && job.m().min(job.n()) <= SMALL_MAX).then(|| flip_pays(job))
}

/// The product the packed engine computes for `job`: `job` itself, or (`true`) when C's columns
/// are contiguous but not its rows, C^T = opB^T opA^T, whose rows are.
fn packed_orientation<'a, T: Scalar>(job: &Job<'a, T>) -> (bool, Job<'a, T>) {
    let flip = job.c().rs != 1 && job.c().cs == 1;
    (flip, if flip { job.kernel_transposed() } else { *job })
}

/// The engine `auto` gives `job` on `isa` with `threads` threads: the tuning table's pick for
/// its shape and [`traits`].
fn auto_engine<T: Scalar>(job: &Job<'_, T>, isa: Isa, threads: usize) -> CpuEngine {
    let cplx = tuning::real_of(T::DATATYPE).1;
    tuning::pick(isa, cplx, (job.m(), job.n(), job.k()), traits(job, isa, threads))
}

/// What `tuning::pick` weighs of `job` (see `tuning::Traits`).
fn traits<T: Scalar>(job: &Job<'_, T>, isa: Isa, threads: usize) -> tuning::Traits {
    let size = std::mem::size_of::<T>();
    // The small kernels' slabs: the kernel's `m x k` operand when its `m` exceeds SMALL_MAX.
    // The slabbed operand's larger stride, in bytes: how far apart its runs lie.
    let mut slab_run_stride_bytes = 0;
    let small = small_orientation(job);
    let small_rows = small.map_or(0, |flip| if flip { job.n() } else { job.m() });
    let slab_bytes = match small {
        Some(flip) if small_rows > SMALL_MAX => {
            let op = if flip { job.b() } else { job.a() };
            slab_run_stride_bytes = op.rs.unsigned_abs().max(op.cs.unsigned_abs()).saturating_mul(size);
            owners(job, flip)
                .saturating_mul(small_rows)
                .saturating_mul(job.k())
                .saturating_mul(size)
        }
        _ => 0,
    };
    // The packed engine's orientation (a transposed job keeps the entries' pointers, so its B
    // is the entries' A).
    let (flip, j) = packed_orientation(job);
    // A and B in that orientation are the entries' B and A (or A and B): together, the bytes of
    // the call's inputs.
    let packed_b_bytes = owners(job, !flip)
        .saturating_mul(j.k())
        .saturating_mul(j.n())
        .saturating_mul(size);
    let packed_a_bytes = owners(job, flip)
        .saturating_mul(j.m())
        .saturating_mul(j.k())
        .saturating_mul(size);
    // An operand of this many bytes over the call streams from memory on `threads` threads.
    let streams = |bytes: usize| bytes / threads.max(1) >= tuning::STREAM_BYTES;
    let c_bytes = job
        .batch()
        .saturating_mul(job.m())
        .saturating_mul(job.n())
        .saturating_mul(size);
    let few_entries = job.batch() < threads;
    tuning::Traits {
        slab_bytes,
        slab_thread_bytes: slab_bytes / threads.max(1),
        slab_run_stride_bytes,
        packed_mnk: (j.m(), j.n(), j.k()),
        packed_a_in_place: j.a().rs == 1 && j.n() <= tuning::DIRECT_A_MAX_COLS,
        packed_a_bytes,
        packed_a_streams: streams(packed_a_bytes),
        packed_b_streams: streams(packed_b_bytes),
        double: tuning::real_of(T::DATATYPE).0 == 8,
        few_entries,
        call_bytes: packed_a_bytes.saturating_add(packed_b_bytes).saturating_add(c_bytes),
        small_rows,
        streams_c: streams_c(job),
        // Fewer entries than threads: split by columns (`small`), without prefetching.
        prefetches: !few_entries && tuning::prefetch_rule(isa, job.entry_bytes(), job.batch()),
    }
}

/// Entries that own their own B (`of_b`) or A: one when the operand is broadcast (batch
/// stride 0), else every entry.
fn owners<T: Scalar>(job: &Job<'_, T>, of_b: bool) -> usize {
    match job.entries() {
        Entries::Strided { bs_a, bs_b, count, .. } => {
            if (if of_b { bs_b } else { bs_a }) == 0 {
                1
            } else {
                count
            }
        }
        Entries::Array { c, .. } => c.len(),
    }
}

/// Whether computing `C^T = opB^T opA^T` suits the small kernels better: C's rows contiguous
/// first (vector stores instead of scattered ones), then A streamed in place instead of packed.
fn flip_pays<T: Scalar>(job: &Job<'_, T>) -> bool {
    let score = |a: crate::job::Strides, c: crate::job::Strides| 2 * (c.rs == 1) as u8 + (a.rs == 1 && !a.conj) as u8;
    score(job.b().t(), job.c().t()) > score(job.a(), job.c())
}

/// One entry through the `gemm` crate.
fn entry<T: Scalar>(job: &Job<'_, T>, e: EntryPtrs<T>, par: Parallelism) {
    // SAFETY: the validator proved all addressed elements of this entry in bounds, C's elements
    // pairwise distinct and disjoint from A and B, and m, n, k > 0. `gemm` computes
    // dst := alpha_g*dst + beta_g*lhs*rhs, reading dst only when read_dst is true, so our
    // (alpha, beta) are passed swapped and beta == 0 never reads C.
    unsafe {
        gemm::gemm(
            job.m(),
            job.n(),
            job.k(),
            e.c,
            job.c().cs,
            job.c().rs,
            !job.beta().is_zero(),
            e.a,
            job.a().cs,
            job.a().rs,
            e.b,
            job.b().cs,
            job.b().rs,
            job.beta(),
            job.alpha(),
            false,
            job.a().conj,
            job.b().conj,
            par,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Parts, Strides};
    use num_complex::{Complex32, Complex64};

    /// The engine `auto` picks ([`auto_engine`], on two threads) for a strided batch of packed
    /// column-major NN entries of `T`, `(m, n, k, batch)`. The job is only inspected, never
    /// executed: its pointers are null.
    fn pick_for<T: Scalar>(isa: Isa, shape: (usize, usize, usize, usize)) -> CpuEngine {
        pick_beta::<T>(isa, shape, T::zero())
    }

    /// `pick_for` with this beta.
    fn pick_beta<T: Scalar>(isa: Isa, (m, n, k, batch): (usize, usize, usize, usize), beta: T) -> CpuEngine {
        let col = |rows: usize| Strides {
            rs: 1,
            cs: rows as isize,
            conj: false,
        };
        // SAFETY: the job is never executed, so no element is ever addressed.
        let job = unsafe {
            Job::<T>::assume_valid(Parts {
                m,
                n,
                k,
                alpha: T::one(),
                beta,
                a: col(m),
                b: col(k),
                c: col(m),
                entries: Entries::Strided {
                    a: std::ptr::null(),
                    b: std::ptr::null(),
                    c: std::ptr::null_mut(),
                    bs_a: (m * k) as isize,
                    bs_b: (k * n) as isize,
                    bs_c: (m * n) as isize,
                    count: batch,
                },
                tri: None,
            })
        };
        auto_engine(&job, isa, 2)
    }

    /// AVX2, f32, at most `AVX2_NARROW_ROWS` rows over a depth in `AVX2_NARROW_K`, B streaming:
    /// the packed engine; not in the L3, not at depth 64 or 512, not with 12 rows, not for f64.
    #[test]
    fn avx2_narrow_f32_products_with_b_streaming_go_packed() {
        assert_eq!(pick_for::<f32>(Isa::Avx2, (8, 128, 128, 600)), CpuEngine::Packed);
        assert_eq!(pick_for::<f32>(Isa::Avx2, (4, 128, 128, 4000)), CpuEngine::Packed);
        assert_eq!(
            pick_for::<f32>(Isa::Avx2, (8, 128, 128, 300)),
            CpuEngine::Small,
            "B in the L3"
        );
        assert_eq!(
            pick_for::<f32>(Isa::Avx2, (8, 128, 64, 5000)),
            CpuEngine::Small,
            "depth 64"
        );
        assert_eq!(
            pick_for::<f32>(Isa::Avx2, (8, 128, 512, 700)),
            CpuEngine::Small,
            "depth 512"
        );
        assert_eq!(
            pick_for::<f32>(Isa::Avx2, (12, 128, 128, 2000)),
            CpuEngine::Small,
            "12 rows"
        );
        assert_eq!(pick_for::<f64>(Isa::Avx2, (8, 128, 128, 1365)), CpuEngine::Small, "f64");
        // Tucker's mode-2 product keeps the small kernels on AVX2 (20 rows).
        assert_eq!(pick_for::<f32>(Isa::Avx2, (20, 90_000, 300, 1)), CpuEngine::Small);
    }

    /// AVX-512: few rows with B streaming per thread (`Traits::packed_b_streams`) go to the
    /// packed engine; a B of 16-32 MiB on two threads (not streaming per thread) does not.
    #[test]
    fn avx512_b_streaming_counts_per_thread() {
        assert_eq!(pick_for::<f32>(Isa::Avx512, (8, 128, 128, 700)), CpuEngine::Packed);
        assert_eq!(pick_for::<f32>(Isa::Avx512, (8, 128, 128, 450)), CpuEngine::Small);
        assert_eq!(pick_for::<f64>(Isa::Avx512, (8, 128, 128, 200)), CpuEngine::Small);
        assert_eq!(pick_for::<f32>(Isa::Avx512, (20, 90_000, 300, 1)), CpuEngine::Packed);
    }

    /// AVX-512, B streaming per thread, rows a multiple of `PREFETCH_SMALL_ROWS`, depth at most
    /// `SMALL_MAX`, the small kernels prefetching: they keep the product; other row counts,
    /// deeper products and entries too small to prefetch for keep the packed engine.
    #[test]
    fn prefetching_small_kernels_keep_whole_block_rows() {
        assert_eq!(pick_for::<f32>(Isa::Avx512, (64, 64, 64, 4096)), CpuEngine::Small);
        assert_eq!(pick_for::<f64>(Isa::Avx512, (64, 64, 64, 4096)), CpuEngine::Small);
        assert_eq!(pick_for::<f64>(Isa::Avx512, (32, 128, 64, 4096)), CpuEngine::Small);
        assert_eq!(
            pick_for::<f32>(Isa::Avx512, (48, 64, 64, 4096)),
            CpuEngine::Packed,
            "48 rows"
        );
        assert_eq!(
            pick_for::<f32>(Isa::Avx512, (64, 64, 128, 2048)),
            CpuEngine::Packed,
            "depth 128"
        );
        assert_eq!(
            pick_for::<f32>(Isa::Avx512, (8, 128, 128, 2730)),
            CpuEngine::Packed,
            "8 rows"
        );
    }

    /// AVX-512, real entries of exactly four vectors of rows (f64 32, f32 64) stay on the small
    /// kernels' whole-column block where the streaming rules give the others to the `gemm`
    /// crate; 64 f64 rows and AVX2 keep those rules.
    #[test]
    fn whole_column_rows_stay_small_when_they_stream() {
        assert_eq!(pick_for::<f64>(Isa::Avx512, (32, 32, 32, 8192)), CpuEngine::Small);
        assert_eq!(pick_for::<f32>(Isa::Avx512, (64, 64, 8, 9830)), CpuEngine::Small);
        assert_eq!(pick_for::<f64>(Isa::Avx512, (48, 48, 48, 4096)), CpuEngine::GemmCrate);
        assert_eq!(
            pick_beta::<f64>(Isa::Avx512, (64, 64, 8, 9830), 1.0),
            CpuEngine::GemmCrate
        );
        assert_eq!(pick_for::<f32>(Isa::Avx512, (32, 64, 8, 19660)), CpuEngine::GemmCrate);
        assert_eq!(pick_for::<f64>(Isa::Avx2, (32, 32, 32, 8192)), CpuEngine::Small);
    }

    /// AVX-512, shallow f64 products whose C the small kernels stream through their scratch
    /// (`beta == 0`, C contiguous, at least `STREAM_C_BYTES`, `tuning::stream_c_scratch`): the
    /// small kernels; with beta != 0, C in the caches, or not shallow enough, the `gemm` crate
    /// as before; f32 keeps the `gemm` crate.
    #[test]
    fn shallow_f64_products_that_stream_c_stay_small() {
        assert_eq!(pick_for::<f64>(Isa::Avx512, (64, 64, 8, 4915)), CpuEngine::Small);
        assert_eq!(pick_for::<f64>(Isa::Avx512, (64, 32, 8, 16000)), CpuEngine::Small);
        assert_eq!(
            pick_beta::<f64>(Isa::Avx512, (64, 64, 8, 4915), 2.0),
            CpuEngine::GemmCrate
        );
        // 1000 entries: 31 MiB of C, below STREAM_C_BYTES (the call, 39 MiB, streams).
        assert_eq!(pick_for::<f64>(Isa::Avx512, (64, 64, 8, 1000)), CpuEngine::GemmCrate);
        assert_eq!(pick_for::<f64>(Isa::Avx512, (40, 40, 16, 12000)), CpuEngine::GemmCrate);
        assert_eq!(pick_for::<f32>(Isa::Avx512, (48, 48, 8, 14000)), CpuEngine::GemmCrate);
    }

    /// AVX2, f32 slabs whose A streams: the packed engine at any row count above `SMALL_MAX`
    /// (on AVX-512 only from `SLAB_PACKED_F32_MIN_ROWS`, 96); not while A stays in the L3.
    #[test]
    fn avx2_f32_slabs_with_a_streaming_go_packed() {
        assert_eq!(pick_for::<f32>(Isa::Avx2, (128, 8, 128, 2730)), CpuEngine::Packed);
        assert_eq!(pick_for::<f32>(Isa::Avx2, (96, 8, 96, 4000)), CpuEngine::Packed);
        assert_eq!(
            pick_for::<f32>(Isa::Avx2, (128, 8, 128, 200)),
            CpuEngine::Small,
            "A in the L3"
        );
        assert_eq!(pick_for::<f32>(Isa::Avx512, (128, 8, 128, 2730)), CpuEngine::Packed);
        assert_eq!(pick_for::<f32>(Isa::Avx512, (96, 8, 96, 4000)), CpuEngine::Packed);
        assert_eq!(pick_for::<f32>(Isa::Avx512, (80, 8, 80, 6000)), CpuEngine::GemmCrate);
        assert_eq!(
            pick_for::<f32>(Isa::Avx512, (128, 8, 128, 100)),
            CpuEngine::Small,
            "slabs under SLAB_PACKED_BYTES"
        );
    }

    /// AVX-512, complex entries that the small kernels prefetch for (from memory) and take
    /// without row slabs, `k > SHALLOW_K` (complex double at most `COMPLEX_PREFETCH_Z_MAX_K`):
    /// the small kernels; in the caches, at `k <= SHALLOW_K` for complex float, deeper complex
    /// double, with row slabs, one entry, or on AVX2, the rules before.
    #[test]
    fn complex_entries_the_small_kernels_prefetch_stay_small() {
        assert_eq!(pick_for::<Complex64>(Isa::Avx512, (64, 64, 64, 2048)), CpuEngine::Small);
        assert_eq!(pick_for::<Complex64>(Isa::Avx512, (64, 64, 64, 200)), CpuEngine::Small);
        assert_eq!(pick_for::<Complex32>(Isa::Avx512, (48, 48, 48, 4096)), CpuEngine::Small);
        assert_eq!(pick_for::<Complex32>(Isa::Avx512, (32, 64, 64, 4096)), CpuEngine::Small);
        assert_eq!(
            pick_for::<Complex64>(Isa::Avx512, (64, 64, 64, 16)),
            CpuEngine::GemmCrate,
            "in the caches"
        );
        assert_eq!(
            pick_for::<Complex32>(Isa::Avx512, (64, 64, 16, 6000)),
            CpuEngine::GemmCrate,
            "complex float, shallow"
        );
        assert_eq!(pick_for::<Complex64>(Isa::Avx512, (64, 64, 65, 2048)), CpuEngine::Small);
        // More rows than SMALL_MAX: A (64 MiB and more, in place) to the packed engine, as before.
        assert_eq!(
            pick_for::<Complex64>(Isa::Avx512, (65, 64, 64, 2048)),
            CpuEngine::Packed
        );
        assert_eq!(
            pick_for::<Complex64>(Isa::Avx2, (64, 64, 64, 2048)),
            CpuEngine::GemmCrate,
            "AVX2"
        );
        // Thin, no row slabs; complex double at most COMPLEX_PREFETCH_Z_MAX_K deep.
        assert_eq!(
            pick_for::<Complex32>(Isa::Avx512, (8, 128, 128, 1365)),
            CpuEngine::Small
        );
        assert_eq!(
            pick_for::<Complex32>(Isa::Avx512, (16, 512, 256, 256)),
            CpuEngine::Small
        );
        assert_eq!(pick_for::<Complex64>(Isa::Avx512, (8, 128, 128, 682)), CpuEngine::Small);
        assert_eq!(
            pick_for::<Complex64>(Isa::Avx512, (16, 512, 256, 256)),
            CpuEngine::GemmCrate,
            "complex double, deep"
        );
        // Row slabs: the rules before (A in place and 64 MiB: the packed engine).
        assert_eq!(
            pick_for::<Complex32>(Isa::Avx512, (128, 32, 128, 512)),
            CpuEngine::Packed
        );
        assert_eq!(
            pick_for::<Complex32>(Isa::Avx512, (128, 32, 128, 256)),
            CpuEngine::GemmCrate
        );
        // One entry (fewer than threads): split by columns without prefetching, as before.
        assert_eq!(
            pick_for::<Complex32>(Isa::Avx512, (20, 90_000, 300, 1)),
            CpuEngine::GemmCrate
        );
    }

    /// AVX2, complex, A read in place and streaming, at most `AVX2_COMPLEX_STREAM_COLS` columns:
    /// the packed engine (c32 and c64); 16 columns stay with the `gemm` crate.
    #[test]
    fn avx2_narrow_complex_products_with_a_streaming_go_packed() {
        assert_eq!(pick_for::<Complex32>(Isa::Avx2, (128, 8, 128, 1365)), CpuEngine::Packed);
        assert_eq!(pick_for::<Complex64>(Isa::Avx2, (128, 8, 128, 682)), CpuEngine::Packed);
        assert_eq!(pick_for::<Complex32>(Isa::Avx2, (256, 8, 256, 256)), CpuEngine::Packed);
        assert_eq!(
            pick_for::<Complex32>(Isa::Avx2, (128, 16, 128, 512)),
            CpuEngine::GemmCrate,
            "16 columns"
        );
        assert_eq!(
            pick_for::<Complex32>(Isa::Avx2, (128, 8, 128, 128)),
            CpuEngine::GemmCrate,
            "A in the L3"
        );
    }
}
