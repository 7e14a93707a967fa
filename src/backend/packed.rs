//! The packed engine: tensorblas' own BLIS-style GEMM for every size above the tiny ones.
//!
//! Five loops around a register-blocked microkernel (block sizes from [`super::tuning`]):
//!
//! ```text
//! for jc in columns, step nc:          B panel kc x nc packed into nr-wide micro-panels (L3)
//!   for pc in depth, step kc:
//!     for ic in rows, step mc:         A block mc x kc packed into mr-tall micro-panels (L2)
//!       for jr in the panel, step nr:  one kc x nr micro-panel of B stays in L1 ...
//!         for ir in the block, step mr:   ... while the A micro-panels stream past it
//!           microkernel: an mr x nr tile of C in registers over kc
//! ```
//!
//! Packing absorbs every layout: any row/column/batch strides (negative and zero included),
//! transposition, conjugation and `alpha` (folded into A as it is packed), so one microkernel
//! serves `gemm`, the strided and pointer-array batched forms and the general-stride form.
//! Complex types use the real microkernel by the 1m method (Van Zee & Smith, "Implementing
//! high-performance complex matrix multiplication via the 1m method", 2017): each complex
//! element `a` of A becomes the real 2x2 block `[re -im; im re]` and each element of B the real
//! column `[re; im]`, so the real product of the packed operands is exactly the complex product,
//! laid out as C's real view (re and im of one element in consecutive rows). The flop count is
//! that of the complex product.
//!
//! Small blocks skip packing where it cannot pay (BLIS's "sup" idea, and the `gemm` crate's):
//! with at most `tuning::DIRECT_B_MAX_ROWS` rows a real B is read in place (the microkernel
//! broadcasts its elements through B's own strides; a packed B micro-panel would serve at most a
//! couple of A micro-panels), and with at most `tuning::DIRECT_A_MAX_COLS` columns a real A with
//! unit row stride is loaded in place (its partial last micro-panel still packed; `alpha` then
//! scales the packed B, and must be 1 when B is in place too), its micro-panels prefetched
//! `tuning::DIRECT_A_AHEAD` depth steps ahead into L1 and, one block ahead, into L2 (`Ahead`:
//! while a block's tiles run, each prefetches a band of the next block's rows, about a line per
//! depth step, the next entry's first block after an entry's last; depth and row blocks are cut
//! into equal parts, `balanced`, so that no short block has too little work to hide it). Single
//! thread on the Xeon (`examples/engine_probe`), both in place: f32 64x64x4096 123 -> 164
//! GFLOP/s, 32x32x2048 98 -> 184, 20x300x90000 67 -> 95; A alone in place on the Zen 4: see
//! `DIRECT_A_MAX_COLS`.
//! A complex A of few columns with unit row stride is read in place too, not by 1m but by
//! splitting B (`entry_complex_a_in_place`): A's real view times B's real and imaginary parts
//! as separate real columns, each column pair combined into complex C in the epilogue.
//!
//! A job restricted to a triangle of C (`syrk`) skips the blocks of A and the micro-tiles of C
//! that lie outside it (about half of the multiply-adds for a square C); a micro-tile the
//! diagonal crosses is computed whole and stores only its elements in the triangle.
//!
//! On a CPU that runs AVX-512 on 256-bit units (Zen 4, `tuning::half_tail`), a tile whose last
//! vector of rows is at most half full computes those rows with the 256-bit kernels
//! (`Simd::Half`), at half the cost of a 512-bit vector: a 20-row f32 tile is 16 + 4 rows.
//!
//! C is never packed: a tile whose rows are contiguous (the real view's rows, for complex types
//! when `beta` is real) is written with vector (masked at the edge) stores, any other through a
//! small array and scalar stores. `beta` applies on the first depth block only; `beta == 0`
//! never reads C.
//!
//! Each thread owns its packing buffers (thread-local, grown once, never freed), so nothing is
//! allocated per entry; an operand shared by consecutive entries (batch stride 0) and packed
//! whole is packed once per call. The threads' rectangles are fixed by the thread count, so
//! results are bit-for-bit reproducible for a given thread count (the C API's promise). Where
//! every thread count takes the same paths the bits agree across thread counts too (tested);
//! but a thread's rectangle decides which operands are read in place, and with them how deep
//! the depth blocks go (`tuning::DIRECT_B_KC`) and whether alpha scales A or B, so another
//! thread count can change the last bits.

use super::small::simd::{prefetch, Portable, Real, Simd};
#[cfg(target_arch = "x86_64")]
use super::small::simd::{Avx2, Avx512};
use super::small::{Arith, Desc, Isa, Ptrs};
use super::tuning::Blocking;
use std::cell::RefCell;

/// One rectangle of every entry in a range: rows `r0..r1` and columns `c0..c1` of C (element
/// units).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rect {
    pub r0: usize,
    pub r1: usize,
    pub c0: usize,
    pub c1: usize,
}

/// Per-thread packing buffers and what they hold.
pub(crate) struct Bufs<R> {
    a: Vec<R>,
    b: Vec<R>,
    /// The entry pointer whose A (resp. B) is packed whole in `a` (resp. `b`) during the current
    /// call (null: none): an operand shared by the next entry is not packed again.
    a_key: *const R,
    b_key: *const R,
    /// The current call's B, over this thread's entries, is large enough to stream from memory
    /// (`tuning::STREAM_BYTES`): the in-place microkernel prefetches it.
    stream_b: bool,
    /// Likewise for A: this thread's A streams from memory (where `Blocking::a_in_place` is
    /// false, an A of few columns is read in place only then).
    stream_a: bool,
    /// The entry pointer whose A's first block an A read in place had prefetched into L2 during
    /// the previous entry's last block (null: none; see `Ahead`).
    a_ahead: *const R,
}

impl<R> Bufs<R> {
    const fn new() -> Self {
        Bufs {
            a: Vec::new(),
            b: Vec::new(),
            a_key: std::ptr::null(),
            b_key: std::ptr::null(),
            stream_b: false,
            stream_a: false,
            a_ahead: std::ptr::null(),
        }
    }
}

thread_local! {
    static BUFS_F32: RefCell<Bufs<f32>> = const { RefCell::new(Bufs::new()) };
    static BUFS_F64: RefCell<Bufs<f64>> = const { RefCell::new(Bufs::new()) };
}

/// Runs the rectangle `rect` of every entry in `range` on the calling thread.
///
/// # Safety
/// `isa` is supported by this CPU; `d` describes entries whose pointers `ptrs(p)` returns for
/// every `p` in `range`, each validated (every addressed element of A, B and C in bounds, C's
/// elements pairwise distinct and disjoint from A and B, `m, n, k > 0`, alpha != 0); `rect`
/// lies inside `d.m x d.n`; `R` is the real type of the entries (complex when `CPLX`).
#[allow(private_bounds)]
pub(crate) unsafe fn run<R: Arith, const CPLX: bool, F: Fn(usize) -> Ptrs<R>>(
    isa: Isa,
    d: &Desc<R>,
    range: std::ops::Range<usize>,
    rect: Rect,
    ptrs: &F,
) where
    Portable<R>: Simd<R = R>,
    Entries<R>: X86<R>,
{
    let bl = Blocking {
        half_tail: super::tuning::half_tail(isa),
        ..super::tuning::blocking(isa, std::mem::size_of::<R>())
    };
    <Entries<R> as X86<R>>::with_bufs(|bufs| {
        bufs.a_key = std::ptr::null();
        bufs.b_key = std::ptr::null();
        bufs.a_ahead = std::ptr::null();
        // B's bytes this thread reads: one entry's columns of `rect`, times the entries that
        // own a B (one when the batch shares it); A's likewise.
        let w = if CPLX { 2 } else { 1 };
        let size = d.k * w * std::mem::size_of::<R>();
        let owners = |shared: bool| if shared { 1 } else { range.len() };
        let shared_a = range.len() > 1 && ptrs(range.start).0 == ptrs(range.start + 1).0;
        let shared_b = range.len() > 1 && ptrs(range.start).1 == ptrs(range.start + 1).1;
        let streams = |bytes: usize, shared| bytes.saturating_mul(owners(shared)) >= super::tuning::STREAM_BYTES;
        bufs.stream_a = streams(size * (rect.r1 - rect.r0), shared_a);
        bufs.stream_b = streams(size * (rect.c1 - rect.c0), shared_b);
        // SAFETY: forwarded (this function's contract); the ISA is supported.
        unsafe {
            match isa {
                // The crate's own unit tests (`cfg(test)`) run no kernel: they compile the portable ones
                // only, which halves that extra build of the crate (the kernels are most of its code;
                // the integration tests, built against the real library, run every instruction set).
                #[cfg(all(target_arch = "x86_64", not(test)))]
                Isa::Avx512 => <Entries<R> as X86<R>>::avx512::<CPLX, F>(&bl, d, range, rect, ptrs, bufs),
                #[cfg(all(target_arch = "x86_64", not(test)))]
                Isa::Avx2 => <Entries<R> as X86<R>>::avx2::<CPLX, F>(&bl, d, range, rect, ptrs, bufs),
                _ => {
                    for p in range.clone() {
                        entry::<Portable<R>, CPLX>(&bl, d, ptrs(p), next_a(ptrs, p, range.end), rect, bufs);
                    }
                }
            }
        }
    })
}

/// The A of entry `p + 1` when it is still before `end` (null otherwise): what `entry` prefetches
/// after entry `p`'s last block (`Ahead`).
#[inline(always)]
fn next_a<R, F: Fn(usize) -> Ptrs<R>>(ptrs: &F, p: usize, end: usize) -> *const R {
    if p + 1 < end {
        ptrs(p + 1).0
    } else {
        std::ptr::null()
    }
}

/// Per real type: its thread-local buffers and its `#[target_feature]` entry points (a trait so
/// that `run` stays generic over f32/f64).
pub(crate) struct Entries<R>(std::marker::PhantomData<R>);

#[cfg_attr(test, allow(dead_code))] // unit-test builds call no kernel (see `run`)
pub(crate) trait X86<R> {
    fn with_bufs<O>(f: impl FnOnce(&mut Bufs<R>) -> O) -> O;
    unsafe fn avx2<const CPLX: bool, F: Fn(usize) -> Ptrs<R>>(
        bl: &Blocking,
        d: &Desc<R>,
        range: std::ops::Range<usize>,
        rect: Rect,
        ptrs: &F,
        bufs: &mut Bufs<R>,
    );
    unsafe fn avx512<const CPLX: bool, F: Fn(usize) -> Ptrs<R>>(
        bl: &Blocking,
        d: &Desc<R>,
        range: std::ops::Range<usize>,
        rect: Rect,
        ptrs: &F,
        bufs: &mut Bufs<R>,
    );
}

macro_rules! x86_entries {
    ($r:ty, $bufs:ident, $avx2:ident, $avx512:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[cfg_attr(test, allow(dead_code))]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx2<const CPLX: bool, F: Fn(usize) -> Ptrs<$r>>(
            bl: &Blocking,
            d: &Desc<$r>,
            range: std::ops::Range<usize>,
            rect: Rect,
            ptrs: &F,
            bufs: &mut Bufs<$r>,
        ) {
            for p in range.clone() {
                // SAFETY: AVX2+FMA enabled here; the rest is `run`'s contract.
                unsafe { entry::<Avx2<$r>, CPLX>(bl, d, ptrs(p), next_a(ptrs, p, range.end), rect, bufs) }
            }
        }

        #[cfg(target_arch = "x86_64")]
        #[cfg_attr(test, allow(dead_code))]
        #[target_feature(enable = "avx512f")]
        unsafe fn $avx512<const CPLX: bool, F: Fn(usize) -> Ptrs<$r>>(
            bl: &Blocking,
            d: &Desc<$r>,
            range: std::ops::Range<usize>,
            rect: Rect,
            ptrs: &F,
            bufs: &mut Bufs<$r>,
        ) {
            for p in range.clone() {
                // SAFETY: AVX-512F enabled here; the rest is `run`'s contract.
                unsafe { entry::<Avx512<$r>, CPLX>(bl, d, ptrs(p), next_a(ptrs, p, range.end), rect, bufs) }
            }
        }

        impl X86<$r> for Entries<$r> {
            fn with_bufs<O>(f: impl FnOnce(&mut Bufs<$r>) -> O) -> O {
                $bufs.with(|b| f(&mut b.borrow_mut()))
            }
            #[cfg(target_arch = "x86_64")]
            unsafe fn avx2<const CPLX: bool, F: Fn(usize) -> Ptrs<$r>>(
                bl: &Blocking,
                d: &Desc<$r>,
                range: std::ops::Range<usize>,
                rect: Rect,
                ptrs: &F,
                bufs: &mut Bufs<$r>,
            ) {
                // SAFETY: forwarded.
                unsafe { $avx2::<CPLX, F>(bl, d, range, rect, ptrs, bufs) }
            }
            #[cfg(target_arch = "x86_64")]
            unsafe fn avx512<const CPLX: bool, F: Fn(usize) -> Ptrs<$r>>(
                bl: &Blocking,
                d: &Desc<$r>,
                range: std::ops::Range<usize>,
                rect: Rect,
                ptrs: &F,
                bufs: &mut Bufs<$r>,
            ) {
                // SAFETY: forwarded.
                unsafe { $avx512::<CPLX, F>(bl, d, range, rect, ptrs, bufs) }
            }
            #[cfg(not(target_arch = "x86_64"))]
            unsafe fn avx2<const CPLX: bool, F: Fn(usize) -> Ptrs<$r>>(
                _: &Blocking,
                _: &Desc<$r>,
                _: std::ops::Range<usize>,
                _: Rect,
                _: &F,
                _: &mut Bufs<$r>,
            ) {
                unreachable!("AVX2 is never supported off x86_64")
            }
            #[cfg(not(target_arch = "x86_64"))]
            unsafe fn avx512<const CPLX: bool, F: Fn(usize) -> Ptrs<$r>>(
                _: &Blocking,
                _: &Desc<$r>,
                _: std::ops::Range<usize>,
                _: Rect,
                _: &F,
                _: &mut Bufs<$r>,
            ) {
                unreachable!("AVX-512 is never supported off x86_64")
            }
        }
    };
}
x86_entries!(f32, BUFS_F32, avx2_f32, avx512_f32);
x86_entries!(f64, BUFS_F64, avx2_f64, avx512_f64);

/// Grows `v` to at least `len` elements (never shrinks; the contents are overwritten by packing).
#[inline(always)]
fn room<R: Real>(v: &mut Vec<R>, len: usize) -> *mut R {
    if v.len() < len {
        v.resize(len, R::ZERO);
    }
    v.as_mut_ptr()
}

/// The rectangle `rect` of one entry through the five loops.
///
/// `next_a`: the next entry's A (null: none), whose first block an A read in place prefetches
/// during this entry's last block (`Ahead`).
///
/// # Safety
/// As `run`, for one entry; `S`'s instruction set is enabled.
#[inline(always)]
unsafe fn entry<S: Simd, const CPLX: bool>(
    bl: &Blocking,
    d: &Desc<S::R>,
    (a, b, c): Ptrs<S::R>,
    next_a: *const S::R,
    rect: Rect,
    bufs: &mut Bufs<S::R>,
) where
    S::R: Arith,
{
    if CPLX
        && d.a_rs == 1
        && d.tri.is_none()
        && rect.c1 - rect.c0 <= super::tuning::DIRECT_A_MAX_COLS
        && (bl.a_in_place || bufs.stream_a)
    {
        // SAFETY: forwarded.
        unsafe { entry_complex_a_in_place::<S>(bl, d, (a, b, c), rect, bufs) };
        return;
    }
    let w = if CPLX { 2 } else { 1 };
    let (mr, nr) = (bl.mr(), bl.nr);
    // Few rows: each B micro-panel would serve at most a couple of A micro-panels, so packing
    // it costs more than it saves; the microkernel broadcasts B's elements where they are.
    // `tile` tells a B in place from a packed one by its strides (packed: `nr` per depth step,
    // 1 per column), so a B whose own strides are exactly those is packed: read in place it
    // would take the packed kernels, which read up to `nr` columns, past its last one.
    let direct_b =
        !CPLX && rect.r1 - rect.r0 <= super::tuning::DIRECT_B_MAX_ROWS && !(d.b_rs == nr as isize && d.b_cs == 1);
    // Block sizes in elements (a complex element is w real rows and w real depth steps). With
    // B in place the depth block only bounds A's packed block (at most DIRECT_B_MAX_ROWS rows),
    // so it may be deeper: one block for k up to `DIRECT_B_KC`, whose micro-panels of B are
    // then whole columns (prefetched as one range, `kloop`), and C is read and written once.
    // Depth and row blocks of about equal size (rows in whole micro-panels): no short last
    // block, whose multiply-adds could not cover the look-ahead for the next one (`Ahead`).
    let kc = if direct_b {
        (bl.kc / w).max(d.k.min(super::tuning::DIRECT_B_KC))
    } else {
        balanced(d.k, bl.kc / w, 1)
    };
    let mc = balanced(rect.r1 - rect.r0, bl.mc / w, mr / w);
    let nc = bl.nc;
    let whole_a = rect.r1 - rect.r0 <= mc && d.k <= kc;
    let whole_b = rect.c1 - rect.c0 <= nc && d.k <= kc;
    // Few columns: each A micro-panel serves few B micro-panels, too few to repay its copy
    // (with n <= 64 packing A took as long as the multiply-adds). The microkernel then loads
    // A's columns in place when they are contiguous (a partial last micro-panel is still packed,
    // padded with zeros, as the kernel's full vector loads need), prefetching them ahead. alpha,
    // which packing A applies, goes to the packed B; with B in place too it must be 1.
    let alpha_one = d.alpha == [S::R::ONE, S::R::ZERO];
    let direct_a = !CPLX
        && d.a_rs == 1
        && (alpha_one || !direct_b)
        && (direct_b || bl.a_in_place || bufs.stream_a)
        && rect.c1 - rect.c0 <= super::tuning::DIRECT_A_MAX_COLS;
    // With A in place and B packed, alpha is applied to B's packed block instead.
    let alpha_on_b = direct_a && !direct_b && !alpha_one;
    // A in place, B packed: whether the previous block (of this entry or the previous one)
    // prefetched the current one into L2 (`Ahead`).
    let a_ahead = direct_a && !direct_b;
    let mut prefetched = a_ahead && bufs.a_ahead == a;
    bufs.a_ahead = std::ptr::null();
    let esize = std::mem::size_of::<S::R>();
    let mut jc = rect.c0;
    while jc < rect.c1 {
        let ncur = nc.min(rect.c1 - jc);
        let mut pc = 0;
        while pc < d.k {
            let kcur = kc.min(d.k - pc);
            let kr = kcur * w;
            let npan = ncur.div_ceil(nr);
            let bp = if direct_b {
                std::ptr::null_mut()
            } else {
                room(&mut bufs.b, npan * kr * nr)
            };
            if !(direct_b || whole_b && bufs.b_key == b) {
                // SAFETY: the block (pc.., jc..) lies in this entry's B; the buffer holds npan
                // micro-panels of kr x nr.
                unsafe { pack_b::<S, CPLX>(d, b, pc, kcur, jc, ncur, nr, bp) };
                if alpha_on_b {
                    // SAFETY: the buffer holds npan * kr * nr packed elements.
                    unsafe { scale(bp, npan * kr * nr, d.alpha[0]) };
                }
                bufs.b_key = if whole_b { b } else { std::ptr::null() };
            }
            let first = pc == 0;
            // B in place with whole columns back to back (unit row stride, column stride k, all
            // of k in this block) and streaming: the next micro-panel's `nr` columns are one
            // range starting `nr` columns on, which the first A micro-panel's depth loop of each
            // B micro-panel prefetches (the hardware prefetchers do not follow its `nr` short
            // column streams from DRAM; see `kloop`; the last one, with a half-width tail, had
            // too little time left to cover it).
            let pf_block = direct_b && bufs.stream_b && d.b_rs == 1 && d.b_cs == d.k as isize && kcur == d.k;
            let mut ic = rect.r0;
            while ic < rect.r1 {
                let mcur = mc.min(rect.r1 - ic);
                if d.tri
                    .is_some_and(|tri| place(tri, (ic, ic + mcur), (jc, jc + ncur)) == Place::Out)
                {
                    // A block of C outside the triangle: not even packed.
                    ic += mc;
                    prefetched = false;
                    continue;
                }
                let rows_real = mcur * w;
                let mpan = rows_real.div_ceil(mr);
                // Direct A: the full micro-panels stay in A; only a partial last one is packed,
                // into the buffer's first panel.
                let full = if direct_a { rows_real / mr } else { 0 };
                // A in place: the block computed next (the next rows, else the next depth, else
                // the next entry's first block), spread over this block's tiles.
                let ahead = if a_ahead {
                    let next = if ic + mc < rect.r1 {
                        Some((a, pc, ic + mc))
                    } else if pc + kc < d.k {
                        Some((a, pc + kc, rect.r0))
                    } else if !next_a.is_null() && next_a != a {
                        bufs.a_ahead = next_a;
                        Some((next_a, 0, rect.r0))
                    } else {
                        None
                    };
                    next.map(|(na, npc, nic)| Ahead {
                        base: na.wrapping_offset(nic as isize * d.a_rs + npc as isize * d.a_cs).cast(),
                        lines: span_lines(mc.min(rect.r1 - nic) * esize),
                        tiles: npan * mpan,
                        step: d.a_cs * esize as isize,
                    })
                } else {
                    None
                };
                let was_prefetched = std::mem::replace(&mut prefetched, ahead.is_some());
                let ap = room(&mut bufs.a, (mpan - full) * kr * mr);
                if direct_a {
                    if full < mpan {
                        // alpha is B's (`alpha_on_b`) or 1.
                        let d1 = Desc {
                            alpha: [S::R::ONE, S::R::ZERO],
                            ..*d
                        };
                        // SAFETY: rows ic + full*mr .. ic + mcur of the block lie in this
                        // entry's A (real: w = 1); the buffer holds one micro-panel.
                        unsafe { pack_a::<S, CPLX>(&d1, a, ic + full * mr, mcur - full * mr, pc, kcur, mr, ap) };
                    }
                    bufs.a_key = std::ptr::null();
                } else if !(whole_a && bufs.a_key == a) {
                    // SAFETY: the block (ic.., pc..) lies in this entry's A; the buffer holds
                    // mpan micro-panels of kr x mr.
                    unsafe { pack_a::<S, CPLX>(d, a, ic, mcur, pc, kcur, mr, ap) };
                    bufs.a_key = if whole_a { a } else { std::ptr::null() };
                }
                for q in 0..npan {
                    let jr = q * nr;
                    let cols = nr.min(ncur - jr);
                    for r in 0..mpan {
                        let ir = r * mr;
                        let (row, rows) = (ic * w + ir, mr.min(rows_real - ir));
                        let diag = match d.tri {
                            None => None,
                            Some(tri) => {
                                match place(tri, (row / w, (row + rows).div_ceil(w)), (jc + jr, jc + jr + cols)) {
                                    Place::Out => continue,
                                    Place::In => None,
                                    Place::Across => Some(tri),
                                }
                            }
                        };
                        let (tb, b_step, b_col) = if direct_b {
                            let at = (pc as isize) * d.b_rs + ((jc + jr) as isize) * d.b_cs;
                            (b.wrapping_offset(at), d.b_rs, d.b_cs)
                        } else {
                            (bp.wrapping_add(q * kr * nr) as *const S::R, nr as isize, 1)
                        };
                        let (ta, a_step) = if r < full {
                            let at = ((ic + ir) as isize) * d.a_rs + (pc as isize) * d.a_cs;
                            (a.wrapping_offset(at), d.a_cs)
                        } else {
                            (ap.wrapping_add((r - full) * kr * mr) as *const S::R, mr as isize)
                        };
                        // B in place: the next micro-panel of B when it streams (above). A in
                        // place, B packed: A's micro-panel, `tuning::DIRECT_A_AHEAD` depth steps
                        // ahead, into L1 on the first pass over it (the later micro-panels of B
                        // find it in L1 or L2), and into L2 the tile's band of the next block's
                        // rows (`Ahead`); where no block prefetched this one, the first tile
                        // brings in all its rows instead (`first_tile_lines`).
                        let (pf_on, pf, pf_l2) = if direct_b {
                            (
                                pf_block && r == 0,
                                tb.wrapping_offset(nr as isize * d.b_cs),
                                L2Ahead::NONE,
                            )
                        } else if !was_prefetched && r == 0 && q == 0 {
                            let l2 = first_tile_lines::<S::R>((ta, a_step), full, mr);
                            (r < full, std::ptr::null(), l2)
                        } else {
                            let l2 = ahead.map_or(L2Ahead::NONE, |ah| ah.band(q * mpan + r));
                            (r < full && q == 0 || l2.lines > 0, std::ptr::null(), l2)
                        };
                        let pf_l1 = !direct_b && r < full && q == 0;
                        let t = Tile {
                            kr,
                            a: ta,
                            a_step,
                            b: tb,
                            b_step,
                            b_col,
                            pf,
                            pf_on,
                            pf_l1,
                            pf_l2,
                            row,
                            col: jc + jr,
                            rows,
                            cols,
                            first,
                            diag,
                        };
                        // SAFETY: the tile lies inside the packed buffers and inside this
                        // entry's C (rect is inside m x n).
                        unsafe { tile::<S, CPLX>(bl, d, &t, c) };
                    }
                }
                ic += mc;
            }
            pc += kc;
        }
        jc += nc;
    }
}

/// A complex entry with A in place (few columns, unit row stride; no triangle): instead of the
/// 1m method, which packs each element of A as a 2x2 real block, A's real view (re and im of an
/// element in consecutive rows, `2 m x k`) is read where it lies and each element `b` of B is
/// packed as two real columns, `re(alpha b)` and `im(alpha b)` (conjugated first when B is).
/// The real microkernel then accumulates, per complex column, `X = A_view re(b)` and
/// `Y = A_view im(b)`, and the tile's epilogue combines them: `re c = X_re - Y_im`, `im c =
/// X_im + Y_re` (`X_re + Y_im` and `Y_re - X_im` when A is conjugated). Same flops as 1m, no
/// copy of A.
///
/// # Safety
/// As `entry`, with `CPLX`, `d.a_rs == 1` and no triangle.
#[inline(always)]
unsafe fn entry_complex_a_in_place<S: Simd>(
    bl: &Blocking,
    d: &Desc<S::R>,
    (a, b, c): Ptrs<S::R>,
    rect: Rect,
    bufs: &mut Bufs<S::R>,
) where
    S::R: Arith,
{
    let (mr, nr) = (bl.mr(), bl.nr);
    // A's real view as a real A: element (i, l) of A is real rows 2i, 2i+1 of column l, so
    // unit row stride and twice A's column stride (alpha goes to B).
    let view_d = Desc {
        a_cs: 2 * d.a_cs,
        alpha: [S::R::ONE, S::R::ZERO],
        ..*d
    };
    let per_panel = nr / 2; // complex columns of B per micro-panel
    let (kc, mc) = (bl.kc, bl.mc / 2);
    let mut jc = rect.c0;
    while jc < rect.c1 {
        let ncur = bl.nc.min(rect.c1 - jc);
        let npan = ncur.div_ceil(per_panel);
        let mut pc = 0;
        while pc < d.k {
            let kcur = kc.min(d.k - pc);
            let bp = room(&mut bufs.b, npan * kcur * nr);
            // SAFETY: the block lies in this entry's B; the buffer holds npan panels.
            unsafe { pack_b_split::<S::R>(d, b, pc, kcur, jc, ncur, nr, bp) };
            let first = pc == 0;
            let mut ic = rect.r0;
            while ic < rect.r1 {
                let mcur = mc.min(rect.r1 - ic);
                let rows_real = 2 * mcur;
                let (mpan, full) = (rows_real.div_ceil(mr), rows_real / mr);
                let ap = room(&mut bufs.a, kcur * mr);
                if full < mpan {
                    // The partial last micro-panel, zero-padded to mr real rows.
                    // SAFETY: real rows 2 ic + full mr .. 2 (ic + mcur) of the view lie in this
                    // entry's A; the buffer holds one micro-panel of kcur x mr.
                    unsafe {
                        pack_a::<S, false>(&view_d, a, 2 * ic + full * mr, rows_real - full * mr, pc, kcur, mr, ap)
                    };
                }
                for q in 0..npan {
                    let col = jc + q * per_panel;
                    let cols = per_panel.min(jc + ncur - col);
                    for r in 0..mpan {
                        let ir = r * mr;
                        let (ta, a_step) = if r < full {
                            let at = (2 * ic + ir) as isize + pc as isize * view_d.a_cs;
                            (a.wrapping_offset(at), view_d.a_cs)
                        } else {
                            (ap as *const S::R, mr as isize)
                        };
                        let t = Tile {
                            kr: kcur,
                            a: ta,
                            a_step,
                            b: bp.wrapping_add(q * kcur * nr),
                            b_step: nr as isize,
                            b_col: 1,
                            pf: std::ptr::null(),
                            pf_on: r < full && q == 0,
                            pf_l1: r < full && q == 0,
                            pf_l2: if r == 0 && q == 0 {
                                first_tile_lines::<S::R>((ta, a_step), full, mr)
                            } else {
                                L2Ahead::NONE
                            },
                            row: 2 * ic + ir,
                            col,
                            rows: mr.min(rows_real - ir),
                            cols,
                            first,
                            diag: None,
                        };
                        // SAFETY: the tile lies in A's view, the packed buffers and this
                        // entry's C (rect is inside m x n).
                        unsafe { split_tile::<S>(bl, d, &t, c) };
                    }
                }
                ic += mcur;
            }
            pc += kcur;
        }
        jc += ncur;
    }
}

/// Packs B's block of depth `p0..p0+kc`, complex columns `j0..j0+nc` for
/// `entry_complex_a_in_place`: panel `q` holds complex columns `q*nr/2..`, depth step `l`, the
/// real columns `re(alpha b)`, `im(alpha b)` of each at `q*kc*nr + l*nr + 2*(j mod nr/2)` (+1);
/// columns past the block are zero.
///
/// # Safety
/// The block lies in the entry's B (validated); `dst` holds `ceil(2*nc/nr) * kc * nr` elements.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pack_b_split<R: Arith>(
    d: &Desc<R>,
    b: *const R,
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    nr: usize,
    dst: *mut R,
) {
    let per_panel = nr / 2;
    let [ar, ai] = d.alpha;
    // SAFETY: reads address elements (p0+l, j0+j) of this entry's B; writes stay inside the
    // panels.
    unsafe {
        for j in 0..nc.div_ceil(per_panel) * per_panel {
            let (q, jj) = (j / per_panel, j % per_panel);
            let mut o = dst.add(q * kc * nr + 2 * jj);
            if j >= nc {
                for _ in 0..kc {
                    *o = R::ZERO;
                    *o.add(1) = R::ZERO;
                    o = o.add(nr);
                }
                continue;
            }
            let col = b.wrapping_offset(2 * (j0 + j) as isize * d.b_cs);
            for l in 0..kc {
                let src = col.wrapping_offset(2 * (p0 + l) as isize * d.b_rs);
                let (xr, xi) = (*src, *src.add(1));
                let xi = if d.b_conj { -xi } else { xi };
                *o = ar * xr - ai * xi;
                *o.add(1) = ar * xi + ai * xr;
                o = o.add(nr);
            }
        }
    }
}

/// One tile of `entry_complex_a_in_place`: the real microkernel over `2 * t.cols` real columns,
/// then the combination of each column pair into complex C (`beta` on the first depth block).
///
/// # Safety
/// As `tile`; `t.cols <= nr / 2`, `t.rows` even.
#[inline(always)]
unsafe fn split_tile<S: Simd>(bl: &Blocking, d: &Desc<S::R>, t: &Tile<S::R>, c: *mut S::R)
where
    S::R: Arith,
{
    macro_rules! arms {
        ($mv:literal) => {
            // SAFETY: forwarded; every width is at most nr (12 or 6, even).
            unsafe {
                match (2 * t.cols, t.pf_on) {
                    (..=4, true) => split_micro::<S, $mv, 4, true>(d, t, c),
                    (..=8, true) => split_micro::<S, $mv, 8, true>(d, t, c),
                    (_, true) => split_micro::<S, $mv, 12, true>(d, t, c),
                    (..=4, false) => split_micro::<S, $mv, 4, false>(d, t, c),
                    (..=8, false) => split_micro::<S, $mv, 8, false>(d, t, c),
                    (_, false) => split_micro::<S, $mv, 12, false>(d, t, c),
                }
            }
        };
    }
    if t.rows > S::LANES && bl.mv >= 2 {
        arms!(2)
    } else {
        arms!(1)
    }
}

/// The microkernel of `split_tile` for `NR` real columns (`NR / 2` complex ones).
///
/// # Safety
/// As `split_tile`; `2 * t.cols <= NR <= nr`, `MV * LANES >= t.rows`.
#[inline(always)]
unsafe fn split_micro<S: Simd, const MV: usize, const NR: usize, const PF: bool>(
    d: &Desc<S::R>,
    t: &Tile<S::R>,
    c: *mut S::R,
) where
    S::R: Arith,
{
    let lanes = S::LANES;
    // SAFETY: loads stay inside A's view / the packed buffers (as `micro`); C accesses address
    // this tile's elements of the entry's C.
    unsafe {
        let regs =
            kloop::<S, MV, NR, false, PF>(t.kr, (t.a, t.a_step), t.b, (t.b_step, 1, NR), (t.pf, t.pf_l1, t.pf_l2));
        let tile = spill::<S, MV, NR>(&regs);
        let (br, bi) = beta_of(d, t.first);
        let beta_zero = t.first && d.beta_zero;
        for jj in 0..t.cols {
            for q in (0..t.rows).step_by(2) {
                let (v, lane) = (q / lanes, q % lanes);
                let (x, y) = (&tile[2 * jj * MV + v], &tile[(2 * jj + 1) * MV + v]);
                let (mut re, mut im) = if d.a_conj {
                    (x[lane] + y[lane + 1], y[lane] - x[lane + 1])
                } else {
                    (x[lane] - y[lane + 1], x[lane + 1] + y[lane])
                };
                let p = c.wrapping_offset(2 * (((t.row + q) / 2) as isize * d.c_rs + (t.col + jj) as isize * d.c_cs));
                if !beta_zero {
                    let (or, oi) = (*p, *p.add(1));
                    re = re + br * or - bi * oi;
                    im = im + br * oi + bi * or;
                }
                *p = re;
                *p.add(1) = im;
            }
        }
    }
}

/// The accumulators as arrays for the scalar epilogues: column `j`, vector `v` at `j * MV + v`.
///
/// # Safety
/// `S`'s instruction set is enabled; `MV * NR <= 32`.
#[inline(always)]
unsafe fn spill<S: Simd, const MV: usize, const NR: usize>(regs: &[[S::V; MV]; NR]) -> [[S::R; 16]; 32] {
    let mut tile = [[S::R::ZERO; 16]; 32];
    for (j, row) in regs.iter().enumerate() {
        for (v, &x) in row.iter().enumerate() {
            // SAFETY: this function's contract.
            unsafe { S::to_array(x, &mut tile[j * MV + v]) };
        }
    }
    tile
}

/// The factor (re, im) of C's old value in a tile's update: beta on the first depth block, 1
/// after (the later blocks accumulate).
#[inline(always)]
fn beta_of<R: Arith>(d: &Desc<R>, first: bool) -> (R, R) {
    if first {
        (d.beta[0], d.beta[1])
    } else {
        (R::ONE, R::ZERO)
    }
}

/// Lines of A the in-place depth loop prefetches into L2 per depth step: `lines` 64-byte lines
/// from `at` (bytes), `at` advancing `step` bytes per step.
#[derive(Clone, Copy)]
struct L2Ahead {
    at: *const u8,
    lines: usize,
    step: isize,
}

impl L2Ahead {
    const NONE: L2Ahead = L2Ahead {
        at: std::ptr::null(),
        lines: 0,
        step: 0,
    };
}

/// The block of an A read in place that the packed engine computes after the current one,
/// prefetched into L2 while the current block's tiles run, so that its first pass (B's first
/// micro-panel) reads L2 and not, one short run per column, memory: its rows (`lines` per
/// column from `base`, columns `step` bytes apart) are cut into one band per tile of the current
/// block, each tile's depth loop prefetching its band of one column per step (about a line per
/// step). The next block has as many columns as the current one has depth steps (`balanced`
/// blocks) and the same column stride (the same A, or the next entry's).
#[derive(Clone, Copy)]
struct Ahead {
    base: *const u8,
    lines: usize,
    tiles: usize,
    step: isize,
}

impl Ahead {
    /// The band of tile `t` of the current block.
    #[inline(always)]
    fn band(&self, t: usize) -> L2Ahead {
        let (lo, hi) = (t * self.lines / self.tiles, (t + 1) * self.lines / self.tiles);
        L2Ahead {
            at: self.base.wrapping_add(lo * 64),
            lines: hi - lo,
            step: self.step,
        }
    }
}

/// The L2 prefetch of the first tile of a block of A read in place that no earlier block
/// prefetched (A's micro-panel at `a`, `a_step` elements per depth step; the block's first `full`
/// micro-panels of `mr` rows in place): the 64-byte lines that cover all of them (one more for an
/// unaligned start), `tuning::DIRECT_A_AHEAD` steps ahead, past the lines the tile prefetches
/// into L1.
#[inline(always)]
fn first_tile_lines<R>((a, a_step): (*const R, isize), full: usize, mr: usize) -> L2Ahead {
    if full <= 1 {
        return L2Ahead::NONE;
    }
    let size = std::mem::size_of::<R>();
    let (l1, lines) = (span_lines(mr * size), span_lines(full * mr * size));
    L2Ahead {
        at: a
            .wrapping_offset(a_step * super::tuning::DIRECT_A_AHEAD)
            .cast::<u8>()
            .wrapping_add(l1 * 64),
        lines: lines - l1,
        step: a_step * size as isize,
    }
}

/// The 64-byte lines that `bytes` contiguous bytes from any start touch at most (one more than
/// from an aligned one).
#[inline(always)]
const fn span_lines(bytes: usize) -> usize {
    bytes.div_ceil(64) + 1
}

/// `total` cut into blocks of at most `max` (a multiple of `unit`) of about equal size: the
/// block size, a multiple of `unit`.
#[inline(always)]
fn balanced(total: usize, max: usize, unit: usize) -> usize {
    let blocks = total.div_ceil(max).max(1);
    total.div_ceil(blocks).div_ceil(unit) * unit
}

/// Where a block of C lies with respect to a triangle.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// No element in the triangle.
    Out,
    /// Every element in it.
    In,
    /// Some elements in it: the diagonal crosses the block.
    Across,
}

/// Where the block of element rows `r0..r1` and columns `c0..c1` (both non-empty) lies.
#[inline(always)]
fn place(tri: crate::job::Uplo, (r0, r1): (usize, usize), (c0, c1): (usize, usize)) -> Place {
    // A triangle holds the whole block iff it holds both off-diagonal corners (top-right and
    // bottom-left: one is the block's element furthest inside it, the other the furthest
    // outside), and some of it iff it holds either.
    let (top_right, bottom_left) = (tri.keeps(r0, c1 - 1), tri.keeps(r1 - 1, c0));
    if !(top_right || bottom_left) {
        Place::Out
    } else if top_right && bottom_left {
        Place::In
    } else {
        Place::Across
    }
}

/// Packs A's block of rows `i0..i0+mc`, depth `p0..p0+kc` (elements) into `mr`-tall
/// micro-panels: panel `r`, depth step `l` (real), row `i` (real) at `r*kr*mr + l*mr + i`; rows
/// past the block are zero. `alpha` and A's conjugation are applied here; complex elements
/// become 2x2 real blocks (1m).
///
/// # Safety
/// The block lies in the entry's A (validated); `dst` holds `ceil(mc*w/mr) * kc*w * mr` elements.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pack_a<S: Simd, const CPLX: bool>(
    d: &Desc<S::R>,
    a: *const S::R,
    i0: usize,
    mc: usize,
    p0: usize,
    kc: usize,
    mr: usize,
    dst: *mut S::R,
) where
    S::R: Arith,
{
    let w = if CPLX { 2 } else { 1 };
    let wi = w as isize;
    let kr = kc * w;
    let rows_real = mc * w;
    let panels = rows_real.div_ceil(mr);
    let [ar, ai] = d.alpha;
    // SAFETY: reads address elements (i0+i, p0+l) of this entry's A; writes stay inside
    // panels * kr * mr elements of dst.
    unsafe {
        for r in 0..panels {
            let base = dst.add(r * kr * mr);
            let ir0 = r * mr; // first real row of the panel
            let ihi = mr.min(rows_real - ir0); // real rows present
            let e0 = ir0 / w; // first element row
            let ecount = ihi / w;
            let col = |l: usize| a.wrapping_offset((p0 + l) as isize * d.a_cs * wi);
            if CPLX {
                for l in 0..kc {
                    let (o0, o1) = (base.add(2 * l * mr), base.add((2 * l + 1) * mr));
                    for e in 0..ecount {
                        let src = col(l).wrapping_offset((i0 + e0 + e) as isize * d.a_rs * wi);
                        let (xr, xi) = (*src, *src.add(1));
                        let xi = if d.a_conj { -xi } else { xi };
                        // alpha * x
                        let (yr, yi) = (ar * xr - ai * xi, ar * xi + ai * xr);
                        *o0.add(2 * e) = yr;
                        *o0.add(2 * e + 1) = yi;
                        *o1.add(2 * e) = -yi;
                        *o1.add(2 * e + 1) = yr;
                    }
                    for i in ihi..mr {
                        *o0.add(i) = <S::R as Real>::ZERO;
                        *o1.add(i) = <S::R as Real>::ZERO;
                    }
                }
            } else if d.a_rs == 1 {
                // A's columns are contiguous: each depth step of the panel is one run of `ihi`
                // elements, copied (and scaled) a vector at a time.
                let al = S::splat(ar);
                for l in 0..kc {
                    let (src, o) = (col(l).add(i0 + e0), base.add(l * mr));
                    let mut i = 0;
                    while i < ihi {
                        let n = S::LANES.min(ihi - i);
                        let v = S::load(src.add(i), n);
                        S::store(o.add(i), if ar == <S::R as Real>::ONE { v } else { S::mul(al, v) }, n);
                        i += S::LANES;
                    }
                    for i in ihi..mr {
                        *o.add(i) = <S::R as Real>::ZERO;
                    }
                }
            } else {
                // A by rows (the rows of a row-major A, the tensor unfoldings of a Gram): four
                // rows at a time transposed in registers when they are contiguous, else one
                // element at a time; alpha applied to the packed panel.
                let mut i = 0;
                if d.a_cs == 1 {
                    while i + 4 <= ihi {
                        let rows = [0, 1, 2, 3].map(|q| a.wrapping_offset((i0 + e0 + i + q) as isize * d.a_rs).add(p0));
                        S::pack_cols4(rows, kc, base.add(i), mr);
                        i += 4;
                    }
                }
                for l in 0..kc {
                    let o = base.add(l * mr);
                    for q in i..ihi {
                        *o.add(q) = *col(l).wrapping_offset((i0 + e0 + q) as isize * d.a_rs);
                    }
                    for q in ihi..mr {
                        *o.add(q) = <S::R as Real>::ZERO;
                    }
                }
                if ar != <S::R as Real>::ONE {
                    scale(base, kc * mr, ar);
                }
            }
        }
    }
}

/// Multiplies the `len` elements at `p` by `x`.
///
/// # Safety
/// `p` holds `len` elements.
#[inline(always)]
unsafe fn scale<R: Arith>(p: *mut R, len: usize, x: R) {
    // SAFETY: this function's contract.
    unsafe {
        for i in 0..len {
            *p.add(i) = x * *p.add(i);
        }
    }
}

/// Packs B's block of depth `p0..p0+kc`, columns `j0..j0+nc` (elements) into `nr`-wide
/// micro-panels: panel `q`, depth step `l` (real), column `j` at `q*kr*nr + l*nr + j`; columns
/// past the block are zero. Conjugation is applied here; a complex element becomes the real
/// column `[re; im]` (1m).
///
/// # Safety
/// The block lies in the entry's B (validated); `dst` holds `ceil(nc/nr) * kc*w * nr` elements.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pack_b<S: Simd, const CPLX: bool>(
    d: &Desc<S::R>,
    b: *const S::R,
    p0: usize,
    kc: usize,
    j0: usize,
    nc: usize,
    nr: usize,
    dst: *mut S::R,
) where
    S::R: Arith,
{
    let w = if CPLX { 2 } else { 1 };
    let wi = w as isize;
    let kr = kc * w;
    let panels = nc.div_ceil(nr);
    // A real B stored by rows: each depth step of the block is one run of `nc` elements, read
    // in address order (a vector at a time) and spread over the panels.
    let by_rows = !CPLX && d.b_rs != 1 && d.b_cs == 1;
    // SAFETY: reads address elements (p0+l, j0+j) of this entry's B; writes stay inside
    // panels * kr * nr elements of dst.
    unsafe {
        if by_rows {
            for l in 0..kc {
                let src = b.wrapping_offset((p0 + l) as isize * d.b_rs).wrapping_add(j0);
                for q in 0..panels {
                    let (cols, o) = (nr.min(nc - q * nr), dst.add(q * kr * nr + l * nr));
                    let mut j = 0;
                    while j < cols {
                        let n = S::LANES.min(cols - j);
                        S::store(o.add(j), S::load(src.add(q * nr + j), n), n);
                        j += S::LANES;
                    }
                }
            }
        }
        for q in 0..panels {
            let base = dst.add(q * kr * nr);
            let cols = nr.min(nc - q * nr);
            let col_ptr = |j: usize| b.wrapping_offset((j0 + q * nr + j) as isize * d.b_cs * wi);
            // A real B stored by columns (unit row stride): the panel is a transpose, four
            // columns at a time in registers (`Simd::pack_cols4`), the rest one by one.
            let mut j4 = 0;
            if !CPLX && d.b_rs == 1 {
                while j4 + 4 <= cols {
                    let src = [0, 1, 2, 3].map(|i| col_ptr(j4 + i).add(p0));
                    // The next four columns' runs into L2 while these are transposed: a run of
                    // a few hundred elements is too short for the hardware prefetchers to
                    // follow from memory (a Gram of a tensor unfolding: every column is a
                    // separate run of the tensor).
                    for j in j4 + 4..(j4 + 8).min(nc - q * nr) {
                        let run = col_ptr(j).wrapping_add(p0);
                        for e in (0..kc).step_by(64 / std::mem::size_of::<S::R>()) {
                            prefetch::<true, _>(run.wrapping_add(e));
                        }
                    }
                    S::pack_cols4(src, kc, base.add(j4), nr);
                    j4 += 4;
                }
            } else if by_rows {
                j4 = cols; // copied above
            }
            for j in j4..cols {
                let col = col_ptr(j);
                let mut o = base.add(j);
                for l in 0..kc {
                    let src = col.wrapping_offset((p0 + l) as isize * d.b_rs * wi);
                    *o = *src;
                    o = o.add(nr);
                    if CPLX {
                        let im = *src.add(1);
                        *o = if d.b_conj { -im } else { im };
                        o = o.add(nr);
                    }
                }
            }
            for j in cols..nr {
                for l in 0..kr {
                    *base.add(l * nr + j) = <S::R as Real>::ZERO;
                }
            }
        }
    }
}

/// One microkernel call: packed A micro-panel (`kr x mr`), packed B micro-panel (`kr x nr`),
/// and where its `rows x cols` result goes in C (real row index of C's real view, column).
#[derive(Clone, Copy)]
struct Tile<R> {
    kr: usize,
    /// A's micro-panel: packed (`a_step = mr`) or A's own full-height columns (`a_step` = its
    /// column stride; unit row stride).
    a: *const R,
    a_step: isize,
    /// B's micro-panel: packed (`b_step = nr`, `b_col = 1`) or, for a real B the engine does not
    /// pack, B's own elements (`b_step`, `b_col` = its row and column strides).
    b: *const R,
    b_step: isize,
    b_col: isize,
    /// B in place: where the depth loop prefetches, `pf_bytes` per step, the B elements the
    /// next tile reads (`pf_on`: when B streams from memory and that range is contiguous). B
    /// packed (`pf` unused): `pf_on` when A is in place and the depth loop prefetches it.
    pf: *const R,
    pf_on: bool,
    /// A in place (`pf_on`, B packed): whether the depth loop prefetches the tile's own A rows
    /// `tuning::DIRECT_A_AHEAD` steps ahead into L1 (on the first pass over them) ...
    pf_l1: bool,
    /// ... and which lines of A it prefetches into L2 per step (`Ahead`, `first_tile_lines`).
    pf_l2: L2Ahead,
    row: usize,
    col: usize,
    rows: usize,
    cols: usize,
    /// The first depth block: `beta` applies (later blocks accumulate).
    first: bool,
    /// `Some`: the triangle's diagonal crosses the tile; only its elements in the triangle are
    /// stored (through the scattered-store path).
    diag: Option<crate::job::Uplo>,
}

/// Dispatches a tile to the const-generic microkernel: `MV` vectors of rows, and a width of
/// `1, 2, 4, 6, 8` or `12` columns, the smallest that covers the tile's columns (B's
/// micro-panel is zero-padded to `nr`, so the extra columns compute zeros that are not stored;
/// a few widths keep the number of compiled kernels small).
///
/// # Safety
/// As `entry`; `t` lies inside the packed buffers and the entry's C.
#[inline(always)]
unsafe fn tile<S: Simd, const CPLX: bool>(bl: &Blocking, d: &Desc<S::R>, t: &Tile<S::R>, c: *mut S::R)
where
    S::R: Arith,
{
    let rem = t.rows % S::LANES;
    if bl.half_tail && <S::Half as Simd>::LANES < S::LANES && rem != 0 && rem <= <S::Half as Simd>::LANES {
        let head = t.rows - rem;
        // SAFETY: forwarded; the head's rows are whole vectors of the tile's, the tail's the
        // rest, in the same micro-panel (each of its depth steps holds mr >= rows elements).
        unsafe {
            if head == 0 {
                tile_k::<S::Half, CPLX, true>(bl, d, t, c);
            } else {
                tile_k::<S, CPLX, false>(bl, d, &Tile { rows: head, ..*t }, c);
                let tail = Tile {
                    a: t.a.wrapping_add(head),
                    row: t.row + head,
                    rows: rem,
                    pf_on: false,
                    pf_l1: false,
                    pf_l2: L2Ahead::NONE,
                    ..*t
                };
                tile_k::<S::Half, CPLX, true>(bl, d, &tail, c);
            }
        }
    } else {
        // SAFETY: forwarded.
        unsafe { tile_k::<S, CPLX, false>(bl, d, t, c) }
    }
}

/// `tile` on the kernels of `S` (`S::LANES` rows per vector; `TAIL`: at most one vector of
/// rows, the half-width tail of a split tile, whose kernels are compiled for one vector only).
///
/// # Safety
/// As `tile`; with `TAIL`, `t.rows <= S::LANES`.
#[inline(always)]
unsafe fn tile_k<S: Simd, const CPLX: bool, const TAIL: bool>(
    bl: &Blocking,
    d: &Desc<S::R>,
    t: &Tile<S::R>,
    c: *mut S::R,
) where
    S::R: Arith,
{
    macro_rules! arms {
        ($mv:literal) => {
            // SAFETY: forwarded contract; every width is at most nr (the widths below nr are
            // chosen only when t.cols fits them, and nr itself is one of them).
            unsafe {
                match (t.cols, t.b_col != 1 || t.b_step != bl.nr as isize) {
                    (1..=4, false) if t.pf_on => micro::<S, CPLX, $mv, 4, false, true>(bl, d, t, c),
                    (5 | 6, false) if t.pf_on => micro::<S, CPLX, $mv, 6, false, true>(bl, d, t, c),
                    (7 | 8, false) if t.pf_on => micro::<S, CPLX, $mv, 8, false, true>(bl, d, t, c),
                    (9..=12, false) if t.pf_on => micro::<S, CPLX, $mv, 12, false, true>(bl, d, t, c),
                    (1, false) => micro::<S, CPLX, $mv, 1, false, false>(bl, d, t, c),
                    (2, false) => micro::<S, CPLX, $mv, 2, false, false>(bl, d, t, c),
                    (3 | 4, false) => micro::<S, CPLX, $mv, 4, false, false>(bl, d, t, c),
                    (5 | 6, false) => micro::<S, CPLX, $mv, 6, false, false>(bl, d, t, c),
                    (7 | 8, false) => micro::<S, CPLX, $mv, 8, false, false>(bl, d, t, c),
                    (9..=12, false) => micro::<S, CPLX, $mv, 12, false, false>(bl, d, t, c),
                    // B in place: two widths only (its columns past t.cols repeat the last
                    // one), which keeps the engine's code, and the packed kernels' speed, as
                    // they were (six more instances cost the DRAM-bound packed 300x20x90000 f32
                    // 15% on one thread).
                    (1..=4, true) if t.pf_on => micro::<S, CPLX, $mv, 4, true, true>(bl, d, t, c),
                    (5..=12, true) if t.pf_on => micro::<S, CPLX, $mv, 12, true, true>(bl, d, t, c),
                    (1..=4, true) => micro::<S, CPLX, $mv, 4, true, false>(bl, d, t, c),
                    (5..=12, true) => micro::<S, CPLX, $mv, 12, true, false>(bl, d, t, c),
                    _ => unreachable!("the tuning table's nr is at most 12"),
                }
            }
        };
    }
    if !TAIL && t.rows > S::LANES && bl.mv >= 2 {
        arms!(2)
    } else {
        arms!(1)
    }
}

/// Bytes of the next B micro-panel the in-place depth loop prefetches per step: whole lines,
/// at least the `NR` elements one step reads.
const fn pf_bytes<R>(nr: usize) -> usize {
    (nr * std::mem::size_of::<R>()).div_ceil(64) * 64
}

/// The microkernel's depth loop: `kr` steps of `MV` vectors of A (`a_step` apart: `mr` packed,
/// A's column stride in place) times `NR` broadcast elements of B (`b_step` apart; packed:
/// `nr` apart and column `j` at `j`; in place (`DB`): column `j` at `j * b_col`, columns past
/// `cols` reading column `cols - 1`), accumulated in registers. `PF`: with B in place, prefetch
/// the range at `pf` into L2 (the next micro-panel of B); with B packed (A in place), prefetch
/// A's rows `tuning::DIRECT_A_AHEAD` steps ahead into L1 (`pf_l1`) and the lines `pf_l2` into L2.
///
/// # Safety
/// Each of the `kr` steps of `a` holds `MV * LANES` readable elements; `b` holds `kr` steps of
/// `nr >= NR` elements (packed) or of `cols >= 1` columns (in place); `S`'s instruction set is
/// enabled.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // const-length arrays indexed in step: kept in registers
unsafe fn kloop<S: Simd, const MV: usize, const NR: usize, const DB: bool, const PF: bool>(
    kr: usize,
    (a, a_step): (*const S::R, isize),
    b: *const S::R,
    (b_step, b_col, cols): (isize, isize, usize),
    (pf, pf_l1, pf_l2): (*const S::R, bool, L2Ahead),
) -> [[S::V; MV]; NR] {
    let lanes = S::LANES;
    // SAFETY: this function's contract.
    unsafe {
        let mut acc = [[S::zero(); MV]; NR];
        // Direct B: column j's offset, columns past `cols` reading the last one (in bounds;
        // their sums are not stored). Packed B: j.
        let mut off = [0isize; NR];
        for j in 0..NR {
            off[j] = if DB {
                j.min(cols - 1) as isize * b_col
            } else {
                j as isize
            };
        }
        let (mut ap, mut bp) = (a, b);
        // `PF` (B in place, streaming): `pf` walks the next micro-panel's range, `pf_bytes`
        // per depth step (at least the NR elements of B one step reads).
        let pf_bytes = const { pf_bytes::<S::R>(NR) };
        let mut pfp = pf.cast::<u8>();
        let mut l2p = pf_l2.at;
        for _ in 0..kr {
            if PF && !DB {
                // A in place: its rows `DIRECT_A_AHEAD` steps on (whole lines, which an
                // unaligned micro-panel column straddles one more of), and the L2 lines.
                if pf_l1 {
                    let p = ap.wrapping_offset(a_step * super::tuning::DIRECT_A_AHEAD).cast::<u8>();
                    for line in 0..const { span_lines(MV * S::LANES * std::mem::size_of::<S::R>()) } {
                        prefetch::<false, _>(p.wrapping_add(line * 64));
                    }
                }
                for line in 0..pf_l2.lines {
                    prefetch::<true, _>(l2p.wrapping_add(line * 64));
                }
                l2p = l2p.wrapping_offset(pf_l2.step);
            }
            if PF && DB {
                for line in 0..pf_bytes / 64 {
                    prefetch::<true, _>(pfp.wrapping_add(line * 64));
                }
                pfp = pfp.wrapping_add(pf_bytes);
            }
            let mut av = [S::zero(); MV];
            for v in 0..MV {
                av[v] = S::load(ap.add(v * lanes), lanes);
            }
            for j in 0..NR {
                // Packed: `add(j)`, a constant offset the compiler folds into the load.
                let bj = S::splat(if DB { *bp.wrapping_offset(off[j]) } else { *bp.add(j) });
                for v in 0..MV {
                    acc[j][v] = S::fma(av[v], bj, acc[j][v]);
                }
            }
            ap = ap.wrapping_offset(a_step);
            bp = bp.wrapping_offset(b_step);
        }
        acc
    }
}

/// The microkernel: an `MV*LANES x NR` tile accumulated in registers over the packed depth,
/// then written to C (`C = acc + beta*C` on the first depth block, `C += acc` after).
///
/// # Safety
/// As `tile`; `t.cols <= NR <= nr`, `MV*LANES >= t.rows`, `S`'s instruction set enabled.
#[inline(always)]
unsafe fn micro<S: Simd, const CPLX: bool, const MV: usize, const NR: usize, const DB: bool, const PF: bool>(
    _bl: &Blocking,
    d: &Desc<S::R>,
    t: &Tile<S::R>,
    c: *mut S::R,
) where
    S::R: Arith,
{
    let lanes = S::LANES;
    let wi: isize = if CPLX { 2 } else { 1 };
    // C's real view: real row q of element row q/w; columns 2*c_cs apart for complex.
    let (c_rs, c_cs) = (d.c_rs * wi, d.c_cs * wi);
    let contiguous = d.c_rs == 1 && (!CPLX || d.beta[1] == S::R::ZERO || !t.first) && t.diag.is_none();
    let elem = |q: usize, j: usize| -> *mut S::R {
        let (i, part) = if CPLX { (q / 2, q % 2) } else { (q, 0) };
        c.wrapping_offset(i as isize * c_rs + part as isize + (t.col + j) as isize * c_cs)
    };
    // SAFETY: loads of A and B stay inside their micro-panels: packed (`mr` and `nr` apart per
    // depth step, MV*LANES <= mr, NR <= nr) or in place (a full-height A micro-panel, its
    // MV*LANES = mr rows inside the entry's A; B's `t.cols` columns, clamped, inside the entry's
    // B); C accesses address this tile's elements of the entry's C (rows masked to t.rows).
    unsafe {
        if contiguous {
            for j in 0..t.cols {
                prefetch::<false, _>(elem(t.row, j));
            }
        }
        let regs = kloop::<S, MV, NR, DB, PF>(
            t.kr,
            (t.a, t.a_step),
            t.b,
            (t.b_step, t.b_col, t.cols),
            (t.pf, t.pf_l1, t.pf_l2),
        );
        // The accumulators leave the registers here, once: the stores below index them with
        // values the compiler does not unroll, and when those indexed the depth loop's own array
        // it kept that array in memory and stored every accumulator on every depth step (half
        // the f64 microkernel's speed on AVX-512). `black_box` keeps this copy a separate array.
        let mut acc = [[S::zero(); MV]; NR];
        #[allow(clippy::needless_range_loop)]
        for j in 0..NR {
            for v in 0..MV {
                acc[j][v] = regs[j][v];
            }
        }
        let acc = std::hint::black_box(acc);
        let beta_zero = t.first && d.beta_zero;
        if contiguous {
            let beta = if t.first {
                S::splat(d.beta[0])
            } else {
                S::splat(S::R::ONE)
            };
            for (j, row) in acc.iter().enumerate().take(t.cols) {
                let cp = elem(t.row, j);
                for (v, &x) in row.iter().enumerate() {
                    let n = if v + 1 < MV { lanes } else { t.rows - v * lanes };
                    let p = cp.add(v * lanes);
                    let y = if beta_zero { x } else { S::fma(S::load(p, n), beta, x) };
                    S::store(p, y, n);
                }
            }
        } else {
            let tile = spill::<S, MV, NR>(&acc);
            let (br, bi) = beta_of(d, t.first);
            let step = if CPLX { 2 } else { 1 };
            for j in 0..t.cols {
                for q in (0..t.rows).step_by(step) {
                    if t.diag.is_some_and(|tri| !tri.keeps((t.row + q) / step, t.col + j)) {
                        continue;
                    }
                    let (v, lane) = (q / lanes, q % lanes);
                    let x = &tile[j * MV + v];
                    let p = elem(t.row + q, j);
                    if CPLX {
                        let (mut re, mut im) = (x[lane], x[lane + 1]);
                        if !beta_zero {
                            let (or, oi) = (*p, *p.add(1));
                            re = re + br * or - bi * oi;
                            im = im + br * oi + bi * or;
                        }
                        *p = re;
                        *p.add(1) = im;
                    } else {
                        *p = if beta_zero { x[lane] } else { x[lane] + br * *p };
                    }
                }
            }
        }
    }
}
