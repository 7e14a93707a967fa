//! tensorblas' own kernels for small and mid-sized GEMM entries (the native backend's fast path).
//!
//! One register-blocked microkernel, written once over the [`Simd`] vocabulary and compiled per
//! instruction set behind `#[target_feature]` entry points chosen at run time (AVX-512F,
//! AVX2+FMA, or a portable fallback; never a compile-time target-cpu requirement). Each block of
//! C is computed by a called function of its own per instruction set ([`Block`]), not inlined
//! into the loop over entries (see there for why). Two special paths come first: entries whose
//! rows fill exactly one 256- or 512-bit vector (f32 m = 8/16, f64 m = 4/8; complex c m = 4/8,
//! z m = 2/4, 512-bit ones on AVX-512) with A and C column-contiguous run one register per
//! column of C (two for complex) with nothing else per entry (`column.rs`); on AVX-512, smaller
//! ones with packed B and C, real or complex, hold several columns of C per register
//! (`tiny.rs`).
//!
//! Per entry: `C = alpha * opA * opB + beta * C` on strided operands. The microkernel keeps an
//! `MV*LANES x NR` block of C in registers (MV = 1 or 2 vectors of rows), streams the columns of
//! A as vectors and broadcasts elements of B. A must be column-contiguous (`rs == 1`, no
//! conjugation) to be streamed in place; otherwise it is packed once per entry into a
//! thread-local buffer (the only packing, and only where the layout demands it). B may have any
//! strides (it is only broadcast). C is written with vector (masked at the edge) stores when its
//! rows are contiguous, element by element otherwise.
//!
//! Complex types run on their real lanes: the kernel keeps two accumulators per block,
//! `sum a * re(b)` and `sum a * im(b)`, and combines them with one pair swap at the end.

mod isa;
pub(crate) mod simd;
mod stream;

pub(crate) use isa::avx512_on_256_bit_units;
pub use isa::Isa;

use super::tuning;
use crate::job::{EntryPtrs, Job};
use crate::scalar::{per_type, Scalar};
use simd::{prefetch, Portable, Real, Simd};
#[cfg(target_arch = "x86_64")]
use simd::{Avx2, Avx512};
use std::cell::RefCell;
use std::ops::{Add, Mul, Sub};

/// One entry's problem in element units (complex elements count once), with `alpha` and `beta`
/// as (re, im) of the kernels' real type.
#[derive(Clone, Copy)]
pub(crate) struct Desc<R> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub alpha: [R; 2],
    pub beta: [R; 2],
    pub beta_zero: bool,
    pub a_rs: isize,
    pub a_cs: isize,
    pub a_conj: bool,
    pub b_rs: isize,
    pub b_cs: isize,
    pub b_conj: bool,
    pub c_rs: isize,
    pub c_cs: isize,
    /// The triangle of C to compute (`None`: all of it); the packed engine honours it, the
    /// small kernels never see a job with one.
    pub tri: Option<crate::job::Uplo>,
    /// The small kernels write C with non-temporal stores (`stream.rs`): set by
    /// `run_entries_to` only where `beta_zero` and C's entries are contiguous (`c_rs == 1`,
    /// `c_cs == m`).
    pub stream_c: bool,
    /// The small kernels' general blocks prefetch, in their k loop, the lines the next block
    /// (or the next entry) reads first and their own C (`tuning::prefetch_entries`): set by
    /// `run_entries_to` for calls whose operands come from memory.
    pub prefetch: bool,
}

impl<R: Real> Desc<R> {
    /// The descriptor of `job` (already in the kernels' orientation).
    pub(crate) fn of<T: Scalar>(job: &Job<'_, T>) -> Desc<R> {
        let (al, be) = (job.alpha().to_c64(), job.beta().to_c64());
        Desc {
            m: job.m(),
            n: job.n(),
            k: job.k(),
            alpha: [R::from_f64(al.re), R::from_f64(al.im)],
            beta: [R::from_f64(be.re), R::from_f64(be.im)],
            beta_zero: job.beta().is_zero(),
            a_rs: job.a().rs,
            a_cs: job.a().cs,
            a_conj: job.a().conj,
            b_rs: job.b().rs,
            b_cs: job.b().cs,
            b_conj: job.b().conj,
            c_rs: job.c().rs,
            c_cs: job.c().cs,
            tri: job.tri(),
            stream_c: false,
            prefetch: false,
        }
    }
}

/// Entry `p`'s (A, B, C) pointers as real pointers, in the kernels' orientation (`flip`: the
/// kernel's A is the job's B).
#[inline(always)]
pub(crate) fn real_ptrs<T: Scalar, R>(job: &Job<'_, T>, flip: bool, p: usize) -> Ptrs<R> {
    let e: EntryPtrs<T> = job.entry(p);
    let (a, b) = if flip { (e.b, e.a) } else { (e.a, e.b) };
    (a.cast::<R>(), b.cast::<R>(), e.c.cast::<R>())
}

/// Arithmetic the scalar (scattered-store and packing) paths need.
pub(crate) trait Arith: Real + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> {}
impl Arith for f32 {}
impl Arith for f64 {}

thread_local! {
    static PACK_F32: RefCell<Pack<f32>> = const { RefCell::new(Pack { data: Vec::new(), key: std::ptr::null(), c: Vec::new() }) };
    static PACK_F64: RefCell<Pack<f64>> = const { RefCell::new(Pack { data: Vec::new(), key: std::ptr::null(), c: Vec::new() }) };
}

/// The packing buffer of A, with the entry pointer it holds (entries that share A, such as a
/// broadcast operand with batch stride 0, are packed once per call).
pub(crate) struct Pack<R> {
    data: Vec<R>,
    /// A pointer packed in `data` during the current call (null: none).
    key: *const R,
    /// The scratch C of an entry whose streamed C (`Desc::stream_c`) spans several blocks of
    /// rows (`entry`).
    c: Vec<R>,
}

/// Executes entries `range` of `job` with the small-matrix kernels of `isa` (which must be
/// supported). Everything that does not depend on the entry (the descriptor, the instruction-set
/// dispatch, the pack buffer) is set up once per range, so per-entry overhead is a few
/// instructions: this matters at 4x4x4, where one entry is 64 multiply-adds.
pub(crate) fn run_entries<T: Scalar>(isa: Isa, job: &Job<'_, T>, flip: bool, range: std::ops::Range<usize>) {
    run_entries_to(isa, job, flip, range, false, false)
}

/// `run_entries`, with `stream_c`: C is written with non-temporal stores where its entries allow
/// (`beta == 0`, each entry's C one contiguous block: rows and columns contiguous; see
/// `stream.rs`). The caller sets it where C is too large for the caches
/// (`tuning::STREAM_C_BYTES`).
pub(crate) fn run_entries_to<T: Scalar>(
    isa: Isa,
    job: &Job<'_, T>,
    flip: bool,
    range: std::ops::Range<usize>,
    stream_c: bool,
    prefetch: bool,
) {
    macro_rules! go {
        ($r:ty, $cplx:literal, $pack:ident) => {{
            let mut d = Desc::<$r>::of(job);
            d.stream_c = stream_c && d.beta_zero && d.c_rs == 1 && d.c_cs == d.m as isize && d.tri.is_none();
            d.prefetch = prefetch;
            let ptrs = |p: usize| real_ptrs::<T, $r>(job, flip, p);
            $pack.with(|buf| {
                let mut buf = buf.borrow_mut();
                // A packed by an earlier call may have changed since.
                buf.key = std::ptr::null();
                // SAFETY: every entry of the range belongs to a validated job (all addressed
                // elements in bounds, C disjoint from A and B; `job` already describes the
                // flipped problem when `flip`), T is $r or its complex form per T::DATATYPE, and
                // `isa` is supported (checked by the caller).
                unsafe { dispatch::<$r, $cplx, _>(isa, &d, range, &ptrs, &mut buf) }
            });
            if d.stream_c {
                stream::fence();
            }
        }};
    }
    per_type!(
        T,
        go!(f32, false, PACK_F32),
        go!(f64, false, PACK_F64),
        go!(f32, true, PACK_F32),
        go!(f64, true, PACK_F64),
    )
}

/// Entry pointers (A, B, C) of entry `p`, as real pointers.
pub(crate) type Ptrs<R> = (*const R, *const R, *mut R);

/// # Safety
/// See `run_entries`.
#[allow(private_bounds)]
unsafe fn dispatch<R: Arith, const CPLX: bool, F: Fn(usize) -> Ptrs<R>>(
    isa: Isa,
    d: &Desc<R>,
    range: std::ops::Range<usize>,
    ptrs: &F,
    buf: &mut Pack<R>,
) where
    Portable<R>: Block<R = R>,
    IsaTypes<R>: X86<R>,
{
    // SAFETY: forwarded; the ISA was checked by the caller.
    unsafe {
        match isa {
            // The crate's own unit tests (`cfg(test)`) run no kernel: they compile the portable ones
            // only, which halves that extra build of the crate (the kernels are most of its code;
            // the integration tests, built against the real library, run every instruction set).
            #[cfg(all(target_arch = "x86_64", not(test)))]
            Isa::Avx512 => <IsaTypes<R> as X86<R>>::avx512::<CPLX, F>(d, range, ptrs, buf),
            #[cfg(all(target_arch = "x86_64", not(test)))]
            Isa::Avx2 => <IsaTypes<R> as X86<R>>::avx2::<CPLX, F>(d, range, ptrs, buf),
            _ => entries::<Portable<R>, CPLX, 4, 2, F>(d, range, ptrs, buf),
        }
    }
}

/// Per real type, the `#[target_feature]` entry points (a trait so that `dispatch` stays
/// generic over f32/f64).
struct IsaTypes<R>(std::marker::PhantomData<R>);

#[cfg_attr(test, allow(dead_code))] // see `dispatch`/`run`: unit-test builds call no kernel
trait X86<R> {
    unsafe fn avx2<const CPLX: bool, F: Fn(usize) -> Ptrs<R>>(
        d: &Desc<R>,
        range: std::ops::Range<usize>,
        ptrs: &F,
        buf: &mut Pack<R>,
    );
    unsafe fn avx512<const CPLX: bool, F: Fn(usize) -> Ptrs<R>>(
        d: &Desc<R>,
        range: std::ops::Range<usize>,
        ptrs: &F,
        buf: &mut Pack<R>,
    );
}

macro_rules! x86_entries {
    ($r:ty, $avx2:ident, $avx512:ident, $tiny_run:ident, $ctiny_run:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[cfg_attr(test, allow(dead_code))]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx2<const CPLX: bool, F: Fn(usize) -> Ptrs<$r>>(
            d: &Desc<$r>,
            range: std::ops::Range<usize>,
            ptrs: &F,
            buf: &mut Pack<$r>,
        ) {
            if column::applies(
                d,
                <Avx2<$r> as Simd>::LANES,
                CPLX,
                column::COMPLEX_MAX_COLUMNS_AVX2,
            ) {
                // SAFETY: AVX2+FMA enabled here; the entries are validated (run_entries' contract).
                unsafe { column::run::<Avx2<$r>, CPLX, F>(d, range, ptrs) };
                return;
            }
            // Entries whose rows fit one vector use one vector of rows and twice the columns.
            let one_vector = d.m * if CPLX { 2 } else { 1 } <= <Avx2<$r> as Simd>::LANES;
            // SAFETY: AVX2+FMA enabled here; the rest is run_entries' contract.
            // Register budget (16 ymm): MV*NR accumulators (twice that for complex).
            // `if CPLX` (a constant after instantiation) keeps the other kind's kernels out
            // of this instance.
            unsafe {
                if CPLX {
                    if one_vector {
                        entries::<Avx2<$r>, CPLX, 4, 1, F>(d, range, ptrs, buf)
                    } else {
                        entries::<Avx2<$r>, CPLX, 3, 2, F>(d, range, ptrs, buf)
                    }
                } else if one_vector {
                    entries::<Avx2<$r>, CPLX, 8, 1, F>(d, range, ptrs, buf)
                } else {
                    entries::<Avx2<$r>, CPLX, 6, 2, F>(d, range, ptrs, buf)
                }
            }
        }

        #[cfg(target_arch = "x86_64")]
        #[cfg_attr(test, allow(dead_code))]
        #[target_feature(enable = "avx512f")]
        unsafe fn $avx512<const CPLX: bool, F: Fn(usize) -> Ptrs<$r>>(
            d: &Desc<$r>,
            range: std::ops::Range<usize>,
            ptrs: &F,
            buf: &mut Pack<$r>,
        ) {
            // Real entries of one 256-bit or one 512-bit vector of rows: the column path.
            if !CPLX && column::applies(d, <Avx2<$r> as Simd>::LANES, false, 0) {
                // SAFETY: AVX-512F (which implies AVX2 and FMA) enabled here; the entries are
                // validated (run_entries' contract).
                unsafe { column::run::<Avx2<$r>, false, F>(d, range, ptrs) };
                return;
            }
            // Real or complex entries of one 512-bit vector of (real) rows.
            if column::applies(d, <Avx512<$r> as Simd>::LANES, CPLX, column::COMPLEX_MAX_COLUMNS) {
                // SAFETY: as above.
                unsafe { column::run::<Avx512<$r>, CPLX, F>(d, range, ptrs) };
                return;
            }
            // Entries of fewer rows than a vector with packed B and C: several columns per
            // register (`tiny.rs`; real and complex).
            // SAFETY: as above.
            let tiny = unsafe {
                if CPLX {
                    tiny::$ctiny_run(d, range.clone(), ptrs)
                } else {
                    tiny::$tiny_run(d, range.clone(), ptrs)
                }
            };
            if tiny {
                return;
            }
            let one_vector = d.m * if CPLX { 2 } else { 1 } <= <Avx512<$r> as Simd>::LANES;
            // Real entries of exactly four vectors of rows: one block spans whole columns of A
            // and C (`tuning::WHOLE_COLUMN_VECTORS`).
            let whole_columns = !CPLX && d.m == tuning::whole_column_rows(std::mem::size_of::<$r>());
            // SAFETY: AVX-512F enabled here; the rest is run_entries' contract.
            // Register budget (32 zmm): MV*NR accumulators (twice that for complex).
            unsafe {
                if CPLX {
                    if one_vector {
                        entries::<Avx512<$r>, CPLX, 12, 1, F>(d, range, ptrs, buf)
                    } else {
                        entries::<Avx512<$r>, CPLX, 6, 2, F>(d, range, ptrs, buf)
                    }
                } else if one_vector {
                    entries::<Avx512<$r>, CPLX, 16, 1, F>(d, range, ptrs, buf)
                } else if whole_columns {
                    entries::<Avx512<$r>, CPLX, 6, 4, F>(d, range, ptrs, buf)
                } else {
                    entries::<Avx512<$r>, CPLX, 12, 2, F>(d, range, ptrs, buf)
                }
            }
        }

        impl X86<$r> for IsaTypes<$r> {
            unsafe fn avx2<const CPLX: bool, F: Fn(usize) -> Ptrs<$r>>(
                d: &Desc<$r>,
                range: std::ops::Range<usize>,
                ptrs: &F,
                buf: &mut Pack<$r>,
            ) {
                // SAFETY: forwarded.
                unsafe { $avx2::<CPLX, F>(d, range, ptrs, buf) }
            }
            unsafe fn avx512<const CPLX: bool, F: Fn(usize) -> Ptrs<$r>>(
                d: &Desc<$r>,
                range: std::ops::Range<usize>,
                ptrs: &F,
                buf: &mut Pack<$r>,
            ) {
                // SAFETY: forwarded.
                unsafe { $avx512::<CPLX, F>(d, range, ptrs, buf) }
            }
        }
    };
}
x86_entries!(f32, avx2_f32, avx512_f32, run_f32, run_c32);
x86_entries!(f64, avx2_f64, avx512_f64, run_f64, run_c64);

/// One entry: pack A if needed, then sweep C in `MV*LANES x NR` blocks.
///
/// # Safety
/// See `run_entry`; `S`'s instruction set must be enabled.
#[inline(always)]
unsafe fn entry<S: Block, const CPLX: bool, const NR: usize, const MV: usize, const PF: bool>(
    d: &Desc<S::R>,
    a: *const S::R,
    b: *const S::R,
    c: *mut S::R,
    next: (*const S::R, *const S::R),
    buf: &mut Pack<S::R>,
) where
    S::R: Arith,
{
    let w: usize = if CPLX { 2 } else { 1 };
    let wi = w as isize;
    // A as column-contiguous real rows: in place, or packed (conjugation applied while packing).
    let a_in_place = d.a_rs == 1 && !d.a_conj;
    let (ap, a_cs) = if a_in_place {
        (a, d.a_cs * wi)
    } else {
        if buf.key != a {
            let (m, k) = (d.m as isize, d.k as isize);
            buf.data.clear();
            buf.data.resize(d.m * d.k * w, S::R::default());
            let dst = buf.data.as_mut_ptr();
            let put = |i: isize, l: isize| {
                let src = a.wrapping_offset((i * d.a_rs + l * d.a_cs) * wi);
                let at = ((l * m + i) * wi) as usize;
                // SAFETY: (i, l) is an addressed element of this entry's A; `at` (+1 for the
                // imaginary part) is inside the m*k*w buffer.
                unsafe {
                    *dst.add(at) = *src;
                    if CPLX {
                        let im = *src.add(1);
                        *dst.add(at + 1) = if d.a_conj { -im } else { im };
                    }
                }
            };
            // Read A along its smaller stride (rows of a row-major A, not 4 KiB-apart gathers).
            if d.a_cs.unsigned_abs() < d.a_rs.unsigned_abs() {
                for i in 0..m {
                    for l in 0..k {
                        put(i, l);
                    }
                }
            } else {
                for l in 0..k {
                    for i in 0..m {
                        put(i, l);
                    }
                }
            }
            buf.key = a;
        }
        (buf.data.as_ptr(), (d.m * w) as isize)
    };
    let rows_real = d.m * w;
    let lanes = S::LANES;
    // Column blocks of balanced widths (n = 16 with NR = 12: 8 + 8, not 12 + 4): a narrow
    // last block runs its k loop at a worse ratio of FMAs to loads (perf at 16^3 f64: the
    // 4-column block took 30% of the time for 25% of the flops).
    let nb = d.n.div_ceil(NR);
    let (wide, extra) = if d.n % NR == 0 || 2 * (d.n % NR) >= NR {
        (NR, 0)
    } else {
        (d.n / nb, d.n % nb)
    };
    // A streamed C (`stream.rs`): a shallow entry whose columns take several blocks of rows
    // is computed into the scratch, then copied to C in address order; an entry of one block
    // of rows whose blocks are one vector of rows, or at most `tuning::STREAM_C_COLUMNS`
    // vectors each, has its blocks store it themselves (`block`); other entries write C as
    // usual. Never some blocks of an entry one way and some the other: a non-temporal store
    // to a line that an ordinary store has just brought into the cache (C's columns share
    // lines at their ends) evicts it first (c 16^3 and z 8x16x8 from memory, their last
    // column block alone streamed: 97-126 -> 64-66 and 52-54 -> 22-27 GFLOP/s).
    let (local, c_out);
    let (d, c) = if !d.stream_c {
        c_out = None;
        (d, c)
    } else if rows_real > MV * lanes && tuning::stream_c_scratch(d.m, d.n, d.k) {
        let len = rows_real * d.n;
        if buf.c.len() < len {
            buf.c.resize(len, S::R::default());
        }
        (local, c_out) = (Desc { stream_c: false, ..*d }, Some((c, len)));
        (&local, buf.c.as_mut_ptr())
    } else {
        c_out = None;
        let vectors = rows_real.div_ceil(lanes);
        let widest = wide + usize::from(extra > 0);
        if rows_real <= MV * lanes && (vectors == 1 || widest * vectors <= tuning::STREAM_C_COLUMNS) {
            (d, c)
        } else {
            local = Desc { stream_c: false, ..*d };
            (&local, c)
        }
    };
    let nrb = rows_real.div_ceil(MV * lanes);
    let es = std::mem::size_of::<S::R>();
    // Prefetch plan (`Desc::prefetch`, `tuning::PREFETCH_BYTES`): during column block 0, each
    // block of rows fetches the next one's strip of A, the last block the next entry's first
    // strip; the last block of rows of each column block fetches the next column block's B
    // (B's columns adjacent), that of the last column block the next entry's; every block its
    // own C where C is stored as usual (one run for whole adjacent columns, else the block's
    // strip of k columns from its first: a hint, never faulting, past C's end too).
    let b_linear = PF && d.b_rs == 1 && d.b_cs == d.k as isize;
    // C's block, unless stored non-temporally or into the scratch.
    let c_pf = PF && d.c_rs == 1 && !d.stream_c && c_out.is_none();
    let a_pf = PF && a_in_place;
    let strip = |p: *const S::R, rows: usize| {
        if rows == a_cs as usize {
            // Whole columns of a column-contiguous A: one run of memory.
            Pf::linear(p.cast(), rows * d.k * es, d.k)
        } else {
            Pf::strip(p.cast(), a_cs * es as isize, rows * es)
        }
    };
    let mut j0 = 0;
    for blk_j in 0..nb {
        let nr = (wide + usize::from(blk_j < extra)).min(d.n - j0);
        let bj = b.wrapping_offset(j0 as isize * d.b_cs * wi);
        let mut i0 = 0;
        while i0 < rows_real {
            let rows = (MV * lanes).min(rows_real - i0);
            let r = i0 / (MV * lanes);
            let mut pf = [Pf::NONE; 3];
            if const { PF } && a_pf {
                if blk_j == 0 && r + 1 < nrb {
                    let i1 = i0 + MV * lanes;
                    pf[0] = strip(ap.wrapping_add(i1), (MV * lanes).min(rows_real - i1));
                } else if blk_j + 1 == nb && r + 1 == nrb && !next.0.is_null() {
                    pf[0] = strip(next.0, (MV * lanes).min(rows_real));
                }
            }
            if const { PF } && b_linear && r + 1 == nrb {
                let nr1 = wide + usize::from(blk_j + 1 < extra);
                let col_bytes = d.k * w * es;
                if blk_j + 1 < nb {
                    let b1 = b.wrapping_offset((j0 + nr) as isize * d.b_cs * wi);
                    pf[1] = Pf::linear(b1.cast(), nr1.min(d.n - j0 - nr) * col_bytes, d.k);
                } else if !next.1.is_null() {
                    pf[1] = Pf::linear(next.1.cast(), (wide + usize::from(extra > 0)).min(d.n) * col_bytes, d.k);
                }
            }
            if const { PF } && c_pf {
                let cj = c.wrapping_offset(j0 as isize * d.c_cs * wi);
                pf[2] = if nrb == 1 && d.c_cs * wi == rows_real as isize {
                    Pf::linear(cj.cast(), nr * rows_real * es, d.k)
                } else {
                    Pf::strip(cj.wrapping_add(i0).cast(), d.c_cs * wi * es as isize, rows * es)
                };
            }
            let blk = Blk {
                a: ap.wrapping_add(i0),
                a_cs,
                b: bj,
                c,
                i0,
                j0,
                rows,
                pf: if PF && pf[0].n + pf[1].n + pf[2].n > 0 {
                    &pf
                } else {
                    std::ptr::null()
                },
            };
            // SAFETY: the block lies inside this entry; forwarded contract.
            // (`const`: a one-vector kernel, MV = 1, does not instantiate the MV = 2 blocks.)
            unsafe {
                if const { MV == 4 } {
                    // Whole columns (the caller's rule: rows_real == 4 * lanes).
                    debug_assert_eq!(rows, 4 * lanes);
                    block_nr::<S, CPLX, NR, 4, MV>(d, &blk, nr)
                } else if const { MV >= 2 } && rows > lanes {
                    block_nr::<S, CPLX, NR, 2, MV>(d, &blk, nr)
                } else {
                    block_nr::<S, CPLX, NR, 1, MV>(d, &blk, nr)
                }
            }
            i0 += MV * lanes;
        }
        j0 += nr;
    }
    if let Some((dst, len)) = c_out {
        // SAFETY: the entry's C is `len` contiguous elements (`stream_c`: rs 1, cs m), disjoint
        // from the scratch, which holds them.
        unsafe { stream::copy::<S>(c, dst, len) };
    }
}

/// The microkernel of one instruction set as a function of its own: `block` compiled once per
/// (type, width, rows) behind the instruction set's `#[target_feature]`, and called, not
/// inlined, from the entry loop. With the blocks inlined into the entry loop (one 24k-instruction
/// function per type), LLVM kept dozens of per-block induction variables on the stack and
/// recomputed masked-lane bounds per block: 32^3 f64 ran at 46.6 GFLOP/s on one Zen 4 thread,
/// where the same blocks as separate functions run at ~55 (engine_probe 32 16 1 small d).
pub(crate) trait Block: Simd
where
    Self::R: Arith,
{
    /// # Safety
    /// As `entry`; the instruction set of `Self` is available.
    unsafe fn block<const CPLX: bool, const NR: usize, const MV: usize>(d: &Desc<Self::R>, blk: &Blk<Self::R>);
}

macro_rules! block_fn {
    ($simd:ident, $r:ty, $name:ident, $($feat:literal)?) => {
        #[inline(never)]
        $(#[target_feature(enable = $feat)])?
        unsafe fn $name<const CPLX: bool, const NR: usize, const MV: usize>(d: &Desc<$r>, blk: &Blk<$r>) {
            // SAFETY: forwarded (`Block::block`'s contract).
            unsafe { block::<$simd<$r>, CPLX, NR, MV>(d, blk) }
        }
        impl Block for $simd<$r> {
            #[inline(always)]
            unsafe fn block<const CPLX: bool, const NR: usize, const MV: usize>(d: &Desc<$r>, blk: &Blk<$r>) {
                // SAFETY: forwarded.
                unsafe { $name::<CPLX, NR, MV>(d, blk) }
            }
        }
    };
}
block_fn!(Portable, f32, block_portable_f32,);
block_fn!(Portable, f64, block_portable_f64,);
#[cfg(target_arch = "x86_64")]
block_fn!(Avx2, f32, block_avx2_f32, "avx2,fma");
#[cfg(target_arch = "x86_64")]
block_fn!(Avx2, f64, block_avx2_f64, "avx2,fma");
#[cfg(target_arch = "x86_64")]
block_fn!(Avx512, f32, block_avx512_f32, "avx512f");
#[cfg(target_arch = "x86_64")]
block_fn!(Avx512, f64, block_avx512_f64, "avx512f");

/// A block of C: real rows `i0..i0+rows` (of the real-lane view), columns `j0..j0+nr`.
pub(crate) struct Blk<R> {
    a: *const R,
    a_cs: isize,
    b: *const R,
    c: *mut R,
    i0: usize,
    j0: usize,
    rows: usize,
    /// Lines to prefetch during the k loop (`Desc::prefetch`; null: none).
    pf: *const [Pf; 3],
}

/// A prefetch stream of a block's k loop: at step l, the lines at `p + l * step` plus the
/// offsets 0, `last` (n >= 2), 64 (n >= 3) and 128 (n = 4).
#[derive(Clone, Copy)]
pub(crate) struct Pf {
    p: *const u8,
    step: isize,
    last: isize,
    n: usize,
}

impl Pf {
    const NONE: Pf = Pf {
        p: std::ptr::null(),
        step: 0,
        last: 0,
        n: 0,
    };

    /// A strip of `bytes` per column of a matrix whose columns lie `step` bytes apart (all its
    /// lines where `bytes <= 128`; the first two and the last beyond).
    fn strip(p: *const u8, step: isize, bytes: usize) -> Pf {
        let n = if bytes <= 64 { 2 } else { 3 };
        Pf {
            p,
            step,
            last: bytes.max(1) as isize - 1,
            n,
        }
    }

    /// `bytes` from `p`, over `steps` steps of the k loop (all of them where they span at most
    /// 4 lines per step).
    fn linear(p: *const u8, bytes: usize, steps: usize) -> Pf {
        let lines = (p as usize % 64 + bytes).div_ceil(64);
        let n = lines.div_ceil(steps.max(1)).clamp(1, 4);
        Pf {
            p,
            step: 64 * n as isize,
            last: 64 * (n as isize - 1),
            n,
        }
    }

    /// The offsets of one step's lines.
    #[cfg(test)]
    fn offsets(&self) -> Vec<isize> {
        [0, self.last, 64, 128][..self.n].to_vec()
    }
}

/// The entries of `range`, with the prefetching blocks (`Desc::prefetch`, each entry given the
/// next one's A and B) or without (the blocks exactly as they are without prefetching: a plan
/// per block cost tiny complex entries up to 25% in cache, c 4^3 23.9 -> 17.7 GFLOP/s).
///
/// # Safety
/// As `entry`.
#[inline(always)]
unsafe fn entries<S: Block, const CPLX: bool, const NR: usize, const MV: usize, F: Fn(usize) -> Ptrs<S::R>>(
    d: &Desc<S::R>,
    range: std::ops::Range<usize>,
    ptrs: &F,
    buf: &mut Pack<S::R>,
) where
    S::R: Arith,
{
    let end = range.end;
    // SAFETY: forwarded.
    unsafe {
        if d.prefetch {
            for p in range {
                let (a, b, c) = ptrs(p);
                let next = if p + 1 < end {
                    let (a1, b1, _) = ptrs(p + 1);
                    (a1, b1)
                } else {
                    (std::ptr::null(), std::ptr::null())
                };
                entry::<S, CPLX, NR, MV, true>(d, a, b, c, next, buf)
            }
        } else {
            for p in range {
                let (a, b, c) = ptrs(p);
                entry::<S, CPLX, NR, MV, false>(d, a, b, c, (std::ptr::null(), std::ptr::null()), buf)
            }
        }
    }
}

/// One-vector blocks (entries whose rows fit one register) with fewer vector FMAs than this per
/// block (`k * nr`) are inlined into the entry loop, where the call's cost would show: 8^3 f64
/// ran at 38 GFLOP/s inlined and 33 called, 16^3 f32 (k * nr = 256) at 87 inlined and 92 called
/// (engine_probe 8 256 1 small d, 16 64 1 small s; one Zen 4 thread). Measured before the
/// column path (`column.rs`) took entries of exactly one vector of rows with A and C
/// column-contiguous; the one-vector entries that reach the blocks now are those of fewer rows
/// (or with a packed A or a C of strided rows), not re-measured since.
const INLINE_BLOCK_WORK: usize = 128;

/// Dispatches a runtime column count `nr <= NR` to the const-generic block kernel.
///
/// # Safety
/// As `entry`.
#[inline(always)]
unsafe fn block_nr<S: Block, const CPLX: bool, const NR: usize, const MV: usize, const MVE: usize>(
    d: &Desc<S::R>,
    blk: &Blk<S::R>,
    nr: usize,
) where
    S::R: Arith,
{
    macro_rules! arms {
        ($($n:literal)*) => {
            match nr {
                // (`if const`: widths above NR are not instantiated at all.)
                $($n => if const { $n <= NR } {
                    // SAFETY: forwarded contract (nr columns of a validated entry).
                    unsafe {
                        if MVE == 1 && d.k * $n < INLINE_BLOCK_WORK {
                            block::<S, CPLX, $n, MV>(d, blk)
                        } else {
                            S::block::<CPLX, $n, MV>(d, blk)
                        }
                    }
                } else {
                    unreachable!("nr = {nr} > NR = {NR}")
                },)*
                _ => unreachable!("nr = {nr} > NR = {NR}"),
            }
        };
    }
    arms!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
}

/// Accumulators of one block: `sum a * re(b)` and (complex only) `sum a * im(b)`.
type Acc<S, const NR: usize, const MV: usize> = ([[<S as Simd>::V; MV]; NR], [[<S as Simd>::V; MV]; NR]);

/// The k loop of the microkernel. `FULL`: every vector of the block has all its lanes (no
/// masked load), decided once per block so the loop body has no branch.
///
/// # Safety
/// As `entry`.
#[inline(always)]
unsafe fn kloop<S: Simd, const CPLX: bool, const NR: usize, const MV: usize, const FULL: bool, const PF: bool>(
    d: &Desc<S::R>,
    blk: &Blk<S::R>,
) -> Acc<S, NR, MV> {
    let lanes = S::LANES;
    let wi: isize = if CPLX { 2 } else { 1 };
    let last = blk.rows - (MV - 1) * lanes;
    // SAFETY: loads address elements of this entry's (possibly packed) A and of B; the last
    // vector is masked to the block's rows unless FULL.
    unsafe {
        let mut acc1 = [[S::zero(); MV]; NR];
        let mut acc2 = [[S::zero(); MV]; NR];
        let mut ap = blk.a;
        let step = d.b_rs.wrapping_mul(wi);
        let mut bc = BCols::new(blk.b, d.b_cs * wi);
        // (PF: `block` runs this loop only with a plan, which `entry` keeps alive over the call.)
        let pfs: &[Pf; 3] = if PF { &*blk.pf } else { &[Pf::NONE; 3] };
        let mut pfp = [pfs[0].p, pfs[1].p, pfs[2].p];
        for _ in 0..d.k {
            if PF {
                for (q, f) in pfp.iter_mut().zip(pfs) {
                    if f.n > 0 {
                        prefetch::<false, _>(*q);
                        if f.n > 1 {
                            prefetch::<false, _>(q.wrapping_offset(f.last));
                            if f.n > 2 {
                                prefetch::<false, _>(q.wrapping_offset(64));
                                if f.n > 3 {
                                    prefetch::<false, _>(q.wrapping_offset(128));
                                }
                            }
                        }
                    }
                    *q = q.wrapping_offset(f.step);
                }
            }
            let mut av = [S::zero(); MV];
            for (v, x) in av.iter_mut().enumerate() {
                let n = if FULL || v + 1 < MV { lanes } else { last };
                *x = S::load(ap.add(v * lanes), n);
            }
            for j in 0..NR {
                let bj = bc.col(j);
                let br = S::splat(*bj);
                for v in 0..MV {
                    acc1[j][v] = S::fma(av[v], br, acc1[j][v]);
                }
                if CPLX {
                    // Conjugation of B is applied to the sums after the loop: a select and a
                    // broadcast from a register here cost a shuffle per column on the FMA pipes
                    // (z 32^3 one Zen 4 thread 44 GFLOP/s with them).
                    let bi = S::splat(*bj.add(1));
                    for v in 0..MV {
                        acc2[j][v] = S::fma(av[v], bi, acc2[j][v]);
                    }
                }
            }
            ap = ap.wrapping_offset(blk.a_cs);
            // wrapping: after the last l the step may leave the address space (k = 1, huge stride); never dereferenced.
            bc.advance(step, NR);
        }
        if CPLX && d.b_conj {
            // sum a * im(conj b) = -(sum a * im(b)).
            let minus = S::splat(-S::R::ONE);
            for col in acc2.iter_mut() {
                for x in col.iter_mut() {
                    *x = S::mul(*x, minus);
                }
            }
        }
        (acc1, acc2)
    }
}

/// The addresses of one depth step's elements of B's columns in a block: a base pointer per
/// group of four columns, each element addressed as base + {0, 1, 2, 3} * cs (independent
/// address arithmetic). Addressing column j as b + j*cs let LLVM chain the twelve column
/// addresses through one register (an add each, serial), which bounded the 12-column loop at
/// ~13.5 cycles for 12 cycles of FMAs. The offsets, and the bases at every step, go through
/// `opaque` so that LLVM can neither rediscover cs2 = cs + cs and re-chain them nor rewrite the
/// bases as one base plus 12 offsets (three of them reloaded from the stack every step: s 16^3
/// 87 -> 98 GFLOP/s on a Zen 4 thread without that).
#[derive(Clone, Copy)]
struct BCols<R> {
    bq: [*const R; 4],
    cs: isize,
    cs2: isize,
    cs3: isize,
}

impl<R> BCols<R> {
    /// Columns `0, 1, ...` of `b`, `cs` elements apart.
    #[inline(always)]
    fn new(b: *const R, cs: isize) -> Self {
        let cs = opaque(cs);
        let (cs2, cs3) = (opaque(2 * cs), opaque(3 * cs));
        let mut bq = [b; 4];
        for (g, q) in bq.iter_mut().enumerate() {
            *q = b.wrapping_offset(opaque((4 * g) as isize * cs));
        }
        BCols { bq, cs, cs2, cs3 }
    }

    /// Column `j`'s element of the current step (j < 16).
    #[inline(always)]
    fn col(&self, j: usize) -> *const R {
        let base = self.bq[j / 4];
        match j % 4 {
            0 => base,
            1 => base.wrapping_offset(self.cs),
            2 => base.wrapping_offset(self.cs2),
            _ => base.wrapping_offset(self.cs3),
        }
    }

    /// The next step (`step` elements on) for the groups of the first `cols` columns.
    #[inline(always)]
    fn advance(&mut self, step: isize, cols: usize) {
        for q in self.bq.iter_mut().take(cols.div_ceil(4)) {
            *q = opaque_ptr(q.wrapping_offset(step));
        }
    }
}

/// `p`, through an empty `asm!` block (as `opaque`).
#[inline(always)]
fn opaque_ptr<R>(p: *const R) -> *const R {
    opaque(p as isize) as *const R
}

/// `x`, through an empty `asm!` block: the optimiser cannot see how the value was computed.
#[inline(always)]
fn opaque(mut x: isize) -> isize {
    // SAFETY: the asm block is empty; it only makes `x` opaque to the optimiser.
    unsafe { std::arch::asm!("/* {0} */", inout(reg) x, options(pure, nomem, nostack, preserves_flags)) };
    x
}

/// The microkernel: an `MV*LANES x NR` block of C accumulated in registers over all of k, then
/// scaled and written (vector stores when C's rows are contiguous, else through a tile).
///
/// # Safety
/// As `entry`.
#[inline(always)]
unsafe fn block<S: Simd, const CPLX: bool, const NR: usize, const MV: usize>(d: &Desc<S::R>, blk: &Blk<S::R>)
where
    S::R: Arith,
{
    let lanes = S::LANES;
    let wi: isize = if CPLX { 2 } else { 1 };
    // SAFETY: all loads/stores address elements of this entry (validated), masked to the rows
    // of the block; the instruction set is enabled by the caller.
    unsafe {
        let (acc1, acc2) = if blk.rows == MV * lanes {
            if !blk.pf.is_null() {
                kloop::<S, CPLX, NR, MV, true, true>(d, blk)
            } else {
                kloop::<S, CPLX, NR, MV, true, false>(d, blk)
            }
        } else {
            kloop::<S, CPLX, NR, MV, false, false>(d, blk)
        };
        let (ar, ai) = (S::splat(d.alpha[0]), S::splat(d.alpha[1]));
        // alpha * sums, with the multiply left out for alpha = 1 (the common case; a multiply
        // per register is an eighth of an 8^3 f64 entry's FMAs).
        let mut r = [[S::zero(); MV]; NR];
        if d.alpha == [S::R::ONE, S::R::ZERO] {
            for j in 0..NR {
                for v in 0..MV {
                    r[j][v] = if CPLX {
                        combine::<S>(acc1[j][v], acc2[j][v])
                    } else {
                        acc1[j][v]
                    };
                }
            }
        } else {
            for j in 0..NR {
                for v in 0..MV {
                    r[j][v] = scaled::<S, CPLX>(acc1[j][v], acc2[j][v], ar, ai);
                }
            }
        }
        let (br, bi) = (S::splat(d.beta[0]), S::splat(d.beta[1]));
        // `scaled` and `cmul` are functions, not closures: a closure does not inherit the
        // caller's target features, so the intrinsics in one became calls (the complex kernels
        // ran 8x slower that way).
        if d.c_rs == 1 && blk.rows == MV * lanes {
            // The common case, with the beta test outside the loops so that LLVM unrolls them
            // and writes straight from the accumulator registers (with the test inside, the
            // 12x2 block spilled its 24 accumulators and wrote C in a rolled loop from the stack).
            let cp = |j: usize, v: usize| {
                blk.c
                    .wrapping_offset((blk.j0 + j) as isize * d.c_cs * wi + (blk.i0 + v * lanes) as isize)
            };
            // Whole columns of a streamed C (`tuning::STREAM_C_BYTES`), in address order: `entry`
            // leaves `stream_c` set only where every block of the entry stores this way, which
            // only blocks of one vector of rows or of at most `tuning::STREAM_C_COLUMNS` vectors
            // in all do. The `const` test keeps the other blocks' instances free of this
            // branch: with it, the 12x2 block spilled its accumulators again (8798a6a made the
            // test a run-time one: s 32^3 and d 16^3 x 64 in cache, 2 threads, 203 -> 174 and
            // 84 -> 69 GFLOP/s, builds alternated).
            let may_stream = const { MV == 1 || NR * MV <= tuning::STREAM_C_COLUMNS };
            debug_assert!(
                may_stream || !d.stream_c,
                "entry streams a block of {NR} x {MV} vectors"
            );
            if may_stream && d.stream_c {
                for (j, rj) in r.iter().enumerate() {
                    for (v, &x) in rj.iter().enumerate() {
                        S::store_nt(cp(j, v), x);
                    }
                }
            } else if d.beta_zero {
                for (j, rj) in r.iter().enumerate() {
                    for (v, &x) in rj.iter().enumerate() {
                        S::store(cp(j, v), x, lanes);
                    }
                }
            } else {
                for (j, rj) in r.iter().enumerate() {
                    for (v, &x) in rj.iter().enumerate() {
                        let old = S::load(cp(j, v), lanes);
                        let t = if CPLX {
                            S::add(x, cmul::<S>(old, br, bi))
                        } else {
                            S::fma(old, br, x)
                        };
                        S::store(cp(j, v), t, lanes);
                    }
                }
            }
        } else if d.c_rs == 1 {
            for (j, rj) in r.iter().enumerate() {
                let col = (blk.j0 + j) as isize * d.c_cs * wi;
                for (v, &x) in rj.iter().enumerate() {
                    let nv = if v + 1 < MV { lanes } else { blk.rows - v * lanes };
                    let mut t = x;
                    let cp = blk.c.wrapping_offset(col + (blk.i0 + v * lanes) as isize);
                    if !d.beta_zero {
                        let old = S::load(cp, nv);
                        t = if CPLX {
                            S::add(t, cmul::<S>(old, br, bi))
                        } else {
                            S::fma(old, br, t)
                        };
                    }
                    S::store(cp, t, nv);
                }
            }
        } else {
            // The tile exists only on this path: zeroing 2 KiB of stack per block cost 5% of
            // a 32^3 f32 batch when it was declared for both (perf: memset).
            let mut tile = [[S::R::ZERO; 16]; 32];
            for (j, rj) in r.iter().enumerate() {
                for (v, &x) in rj.iter().enumerate() {
                    S::to_array(x, &mut tile[j * MV + v]);
                }
            }
            scatter::<S::R, CPLX>(d, blk, NR, MV, lanes, &tile);
        }
    }
}

/// `x * (sr + i si)` on complex lanes: `x*sr + neg_even(swap(x))*si`.
///
/// # Safety
/// `S`'s instruction set is enabled.
#[inline(always)]
unsafe fn cmul<S: Simd>(x: S::V, sr: S::V, si: S::V) -> S::V {
    // SAFETY: forwarded.
    unsafe { S::fma(S::neg_even(S::swap_pairs(x)), si, S::mul(x, sr)) }
}

/// `acc1 + i acc2` on complex lanes: re = sum a.re*b.re - a.im*b.im, im = sum a.im*b.re +
/// a.re*b.im.
///
/// # Safety
/// `S`'s instruction set is enabled.
#[inline(always)]
unsafe fn combine<S: Simd>(acc1: S::V, acc2: S::V) -> S::V {
    // SAFETY: forwarded.
    unsafe { S::add(acc1, S::neg_even(S::swap_pairs(acc2))) }
}

/// `alpha * (acc1 + i acc2)` for one register of a block (real types: `alpha * acc1`).
///
/// # Safety
/// `S`'s instruction set is enabled.
#[inline(always)]
unsafe fn scaled<S: Simd, const CPLX: bool>(acc1: S::V, acc2: S::V, ar: S::V, ai: S::V) -> S::V {
    // SAFETY: forwarded.
    unsafe {
        if CPLX {
            cmul::<S>(combine::<S>(acc1, acc2), ar, ai)
        } else {
            S::mul(acc1, ar)
        }
    }
}

/// Writes a block kept in `tile` to a C whose rows are not contiguous, element by element.
///
/// # Safety
/// As `entry`.
#[inline(always)]
unsafe fn scatter<R: Arith, const CPLX: bool>(
    d: &Desc<R>,
    blk: &Blk<R>,
    nr: usize,
    mv: usize,
    lanes: usize,
    tile: &[[R; 16]; 32],
) {
    let step = if CPLX { 2 } else { 1 };
    let wi = step as isize;
    for j in 0..nr {
        let col = (blk.j0 + j) as isize * d.c_cs * wi;
        for q in (0..blk.rows).step_by(step) {
            let (v, lane) = (q / lanes, q % lanes);
            let t = &tile[j * mv + v];
            let i = ((blk.i0 + q) / step) as isize;
            let cp = blk.c.wrapping_offset(col + i * d.c_rs * wi);
            // SAFETY: (i, j0 + j) is an addressed element of this entry's C.
            unsafe {
                if CPLX {
                    let (mut re, mut im) = (t[lane], t[lane + 1]);
                    if !d.beta_zero {
                        let (or, oi) = (*cp, *cp.add(1));
                        re = re + d.beta[0] * or - d.beta[1] * oi;
                        im = im + d.beta[0] * oi + d.beta[1] * or;
                    }
                    *cp = re;
                    *cp.add(1) = im;
                } else {
                    let mut x = t[lane];
                    if !d.beta_zero {
                        x = x + d.beta[0] * *cp;
                    }
                    *cp = x;
                }
            }
        }
    }
}

// The one-vector-column path (one register per column of C): column.rs.
mod column;

// The tiny-matrix path (AVX-512F, whole columns of C per register): tiny.rs.
#[cfg(target_arch = "x86_64")]
mod tiny;

#[cfg(test)]
mod tests {
    use super::Pf;
    use std::collections::BTreeSet;

    /// The lines `pf` prefetches over `steps` steps of a k loop.
    fn lines(pf: &Pf, steps: usize) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        for l in 0..steps {
            for off in pf.offsets() {
                out.insert((pf.p as isize + l as isize * pf.step + off) as usize / 64);
            }
        }
        out
    }

    #[test]
    fn linear_prefetch_covers_its_run() {
        for start in (0..64).step_by(8) {
            for bytes in [4usize, 64, 100, 512, 1536, 3072, 4096, 8192] {
                for steps in [1usize, 5, 8, 32] {
                    let p = (1 << 20) + start;
                    let want: BTreeSet<usize> = (p / 64..=(p + bytes - 1) / 64).collect();
                    let got = lines(&Pf::linear(p as *const u8, bytes, steps), steps);
                    if want.len() <= 4 * steps {
                        assert!(want.is_subset(&got), "start {start} bytes {bytes} steps {steps}");
                    }
                    // Less than one line per step past the run.
                    assert!(got.len() <= want.len() + steps, "{start} {bytes} {steps}");
                }
            }
        }
    }

    #[test]
    fn strip_prefetch_covers_its_columns() {
        for start in (0..64).step_by(4) {
            for bytes in [8usize, 32, 64, 100, 128] {
                for step in [128isize, 256, 520, -512] {
                    let p = (1 << 20) + start;
                    let steps = 9;
                    let got = lines(&Pf::strip(p as *const u8, step, bytes), steps);
                    for l in 0..steps as isize {
                        let col = (p as isize + l * step) as usize;
                        for line in col / 64..=(col + bytes - 1) / 64 {
                            assert!(
                                got.contains(&line),
                                "start {start} bytes {bytes} step {step} column {l}"
                            );
                        }
                    }
                }
            }
        }
    }
}
