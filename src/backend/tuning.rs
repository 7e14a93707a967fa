//! The one tuning table of the native backend (BLIS's `config/` room): every block size of the
//! packed engine and every dispatch threshold, per instruction set and real type, each with the
//! measurement that justifies it. Nothing else in the backends holds a machine constant.
//!
//! Sizes are in *real* units: the packed engine runs complex types on the real kernel by the
//! 1m method (each complex element of A becomes a 2x2 real block, each of B a 2x1 column), so a
//! complex problem is a real one with twice the rows and twice the depth.

use super::small::Isa;
use super::{CpuBackend, CpuEngine};
use crate::scalar::DataType;

/// Cache and register blocking of the packed engine for one (instruction set, real type).
///
/// Loop nest (BLIS): `jc` over columns in steps of `nc` (B panel `kc x nc` packed, L3), `pc`
/// over the depth in steps of `kc`, `ic` over rows in steps of `mc` (A block `mc x kc` packed,
/// L2), `jr` over `nr`-wide micro-panels of B (one `kc x nr` micro-panel in L1 while the A
/// micro-panels stream past it), `ir` over `mr`-tall micro-panels of A; the microkernel keeps
/// an `mr x nr` tile of C in registers (`mr = mv * lanes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Blocking {
    /// Lanes of one vector register.
    pub lanes: usize,
    /// Vectors of rows in the microkernel's tile (`mr = mv * lanes`).
    pub mv: usize,
    /// Columns of the microkernel's tile (broadcast elements of B).
    pub nr: usize,
    /// Depth of one packed block (real units; a multiple of 2 for the complex 1m packing).
    pub kc: usize,
    /// Rows of one packed A block (real units; a multiple of `mr`).
    pub mc: usize,
    /// Columns of one packed B panel (a multiple of `nr`).
    pub nc: usize,
    /// Whether an A of at most [`DIRECT_A_MAX_COLS`] columns is read in place also when it
    /// stays in the caches (else only when it streams, [`STREAM_BYTES`], or B is in place too).
    pub a_in_place: bool,
    /// Whether a tile whose last vector of rows is at most half full computes that part with
    /// the half-width kernels (`Simd::Half`): a property of the CPU, not of the instruction set,
    /// so the table says false and the packed engine sets it from [`half_tail`].
    pub half_tail: bool,
}

impl Blocking {
    /// Rows of the microkernel's tile.
    pub const fn mr(&self) -> usize {
        self.mv * self.lanes
    }
}

/// The blocking for `isa` and a real type of `bytes` bytes (4 or 8).
///
/// Register tiles (accumulators + A vectors + one broadcast must fit the register file):
/// AVX-512 (32 zmm): 2 x 12 = 24 accumulators, as BLIS's `skx` sgemm (32 x 12); AVX2 (16 ymm):
/// 2 x 6 = 12 accumulators, as BLIS's `haswell` (6 x 16 / 6 x 8 with the roles of rows and
/// columns exchanged). Cache blocks: `kc x nr` of B is at most 18 KiB (a 32 KiB L1 of Zen 2-5
/// keeps it with room for the streaming A micro-panel), `mc x kc` of A at most 288 KiB (half of
/// Zen 2's 512 KiB L2), `kc x nc` of B a few MiB of L3.
pub(crate) const fn blocking(isa: Isa, bytes: usize) -> Blocking {
    match (isa, bytes) {
        (Isa::Avx512, 4) => Blocking {
            lanes: 16,
            mv: 2,
            nr: 12,
            kc: 384,
            mc: 192,
            nc: 3072,
            a_in_place: true,
            half_tail: false,
        },
        (Isa::Avx512, _) => Blocking {
            lanes: 8,
            mv: 2,
            nr: 12,
            kc: 192,
            mc: 144,
            nc: 3072,
            a_in_place: true,
            half_tail: false,
        },
        (Isa::Avx2, 4) => Blocking {
            lanes: 8,
            mv: 2,
            nr: 6,
            kc: 256,
            mc: 144,
            nc: 3072,
            a_in_place: false,
            half_tail: false,
        },
        (Isa::Avx2, _) => Blocking {
            lanes: 4,
            mv: 2,
            nr: 6,
            kc: 256,
            mc: 72,
            nc: 3072,
            a_in_place: false,
            half_tail: false,
        },
        (_, _) => Blocking {
            lanes: 4,
            mv: 2,
            nr: 4,
            kc: 256,
            mc: 64,
            nc: 2048,
            a_in_place: false,
            half_tail: false,
        },
    }
}

/// Whether the packed engine computes the last rows of a tile with the half-width kernels when
/// they fill at most half a vector (`Blocking::half_tail`): on AVX-512 on a CPU that runs it on
/// 256-bit units (`small::avx512_on_256_bit_units`, AMD Zen 4), where a 256-bit FMA costs half a
/// 512-bit one, e.g. a 20-row tile in f32 is 16 rows of 512-bit FMAs plus 4 of 256-bit ones (1.5
/// instead of 2 vectors' time per column), in f64 a 4-row tile half the time. On CPUs with
/// full-width 512-bit units both cost the same and the split would only add B's broadcasts.
/// `engine_probe MxNxK BATCH 2 packed {s,d}` and `ttm_probe 300 20` (Tucker's mode-2 product, B
/// in place), AMD EPYC Zen 4, GFLOP/s without / with: f32 20x90000x300 129-133 / 158-165,
/// 20x300x300 x 300 121-124 / 148-153, 36^3 x 4096 96-109 / 115-117, 100^3 x 64 168 / 175-176, f64
/// 100^3 x 64 90 / 92; the mode-2 product f32 8.3 / 6.8-7.0 ms, f64 12.1-13.7 / 11.2-12.1 ms
/// (with B's next micro-panel prefetched during the first A micro-panel of each B micro-panel
/// rather than the last, which the cheaper tail left too little time for).
pub(crate) fn half_tail(isa: Isa) -> bool {
    isa == Isa::Avx512 && HALF_TAIL.get().unwrap_or_else(super::small::avx512_on_256_bit_units)
}

/// [`half_tail`]'s override.
static HALF_TAIL: Override = Override::new();

/// A process-wide override of one tuning rule (`set_half_tail`, `set_stream_c`): forced on
/// (`Some(true)`), off (`Some(false)`), or the rule's own choice (`None`).
struct Override(std::sync::atomic::AtomicU8);

impl Override {
    const fn new() -> Override {
        Override(std::sync::atomic::AtomicU8::new(0))
    }

    fn get(&self) -> Option<bool> {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            1 => Some(false),
            2 => Some(true),
            _ => None,
        }
    }

    fn set(&self, v: Option<bool>) {
        let code = match v {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        };
        self.0.store(code, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Forces the packed engine's half-width tail tiles on (`Some(true)`, AVX-512 only) or off
/// (`Some(false)`) for the whole process, or back to the CPU's choice (`None`): for tests and
/// measurements on CPUs of either kind. Results are correct either way.
#[doc(hidden)]
pub fn set_half_tail(v: Option<bool>) {
    HALF_TAIL.set(v);
}

/// Below this many multiply-adds in a whole call (batch * m * n * k, about 5-15 us on one
/// thread), the native backend runs on the calling thread alone: waking the pool costs several
/// microseconds in these VMs. Measured with the split run inside the pool (`native::split`;
/// `examples/engine_probe`, 2 threads against 1, Xeon AVX-512): 2^19 (f32 8^3 x 1024) 46 vs 62
/// GFLOP/s, 2^20 (f32 16^3 x 256) 82 vs 75-83, f64 32^3 x 32 77 vs 65, 2^21 (f32 32^3 x 64)
/// 157 vs 131, 2^22 (f32 64^3 x 16) 202 vs 150. (The former 2^23 was measured on the Zen 5
/// with the caller computing a part beside both pool threads.)
pub(crate) const PARALLEL_MIN_WORK: usize = 1 << 20;

/// Below this cost (multiply-adds weighted by [`split_cost`]: f32 multiply-adds of equal time)
/// a call the native engines split over the spinning team (`super::team`) runs on the calling
/// thread alone. With the team a split costs about half a microsecond, not the several of a
/// rayon wake (`PARALLEL_MIN_WORK`, which still gates the rayon paths). Measured with
/// `examples/engine_probe SIZE BATCH {1,2} auto T`, 2 threads against 1 (AMD EPYC Zen 4,
/// AVX-512, GFLOP/s): cost 2^16: s 4^3 x 1024 26.5 vs 24.9; 2^17: s 8^3 x 256 52.0 vs 48.2,
/// d 8^3 x 128 34.4 vs 41.2 (slower), c 8^3 x 64 99 vs 64; 2^18: s 4^3 x 4096 48.0 vs 25.6,
/// s 16^3 x 64 95.2 vs 85.9, d 8^3 x 512 57.7 vs 36.3, d 16^3 x 32 46.8 vs 38.0; 2^19: s 8^3 x
/// 1024 80.4 vs 49.4, z 4^3 x 1024 50.4 vs 25.7; 2^20: d 16^3 x 128 66.5 vs 38.0 (below the
/// rayon threshold, that row ran on one thread).
pub(crate) const TEAM_MIN_COST: usize = 1 << 18;

/// `work` multiply-adds of type `dt` in f32 multiply-adds of about the same time: twice for a
/// double (half the lanes), four times for a complex type (four real products each).
pub(crate) fn split_cost(dt: DataType, work: usize) -> usize {
    let (bytes, cplx) = real_of(dt);
    work.saturating_mul(bytes / 4).saturating_mul(if cplx { 4 } else { 1 })
}

/// Whether a call of `work` multiply-adds of `dt` is worth splitting over the threads: on the
/// spinning team (`team`) from [`TEAM_MIN_COST`], on the rayon pool from [`PARALLEL_MIN_WORK`].
pub(crate) fn split_pays(dt: DataType, work: usize, team: bool) -> bool {
    if team {
        split_cost(dt, work) >= TEAM_MIN_COST
    } else {
        work >= PARALLEL_MIN_WORK
    }
}

/// How long a team worker (`super::team`) spins for the next call before it parks, in
/// microseconds. Long enough to bridge the caller's serial work between the GEMMs of a loop
/// (a batch of small calls, a Tucker sweep's solver steps), short enough that an idle process
/// gives its cores back within a millisecond (OpenMP runtimes spin for 0.2-200 ms).
pub(crate) const TEAM_SPIN_US: u64 = 500;

/// The `gemm` crate engine threads inside each entry (instead of over the batch) when the batch
/// cannot occupy the threads and entries are at least this large (m*n*k multiply-adds; 64^3:
/// below it `gemm` does not thread anyway).
pub(crate) const INNER_THREADING_WORK: usize = 64 * 64 * 64;

/// A batch is split entry by entry over the threads when it has at least this many entries per
/// thread (or divides evenly); smaller batches split each entry's tiles instead, so that three
/// entries on two threads do not leave one thread idle a third of the time.
pub(crate) const ENTRIES_PER_THREAD: usize = 8;

/// Largest `min(m, n)` the small kernels take: they keep the kernel's `m x k` operand resident
/// and stream the columns, so one of `m`, `n` must be small (a tall kernel `m` runs in row slabs
/// of this many rows).
pub(crate) const SMALL_MAX: usize = 64;

/// Largest `k` the small kernels take: the resident `SMALL_MAX x k` slab of the kernel's A stays
/// in L2 (256 KiB in f64).
pub(crate) const THIN_K_MAX: usize = 512;

/// A single real triangle (`syrk`) at least this many times deeper than wide is split over its
/// depth, one range per thread (`native::packed_depth_split`), instead of over its columns:
/// each thread then packs only its own depth range of the operand, where the column split had
/// every thread pack most of A's rows again and the thread with the diagonal's short columns
/// pack more. `WAYS=syrk MODES=02 cargo run --release --example gram_probe -- 300` (the SYRKs
/// of a 300³ f64 tensor's mode-0 and mode-2 unfoldings, 300 x 90000, 2 threads, AMD EPYC
/// Zen 4, four alternated runs, ms): column split 106.8-110.9 / 107.8-118.6, depth split
/// 103.3-105.9 / 99.9-107.5.
pub(crate) const SYRK_SPLIT_DEPTH: usize = 4;

/// From this many bytes of the slabbed operand (the small kernels' resident `m x k` operand
/// with `m > SMALL_MAX`, times the entries that own one), `auto` sends a thin real product to the
/// `gemm` crate instead of the small kernels' row slabs. A slab reads `k` runs of `SMALL_MAX`
/// elements, one per column, which the hardware prefetchers do not follow once the operand
/// streams from DRAM; the `gemm` crate packs longer runs. Measured with the three mode products
/// of a C-order `I^3` tensor and an `I x R` factor (`cargo run --release -p tensorblas-tucker
/// --example ttm_probe -- I R` with `ENG=small|gemm`, Intel Xeon AVX-512, 2 threads, ms; mode 0
/// is one `I^2 x R x I` product with A's columns `I^2` apart, mode 1 a batch of `I` products
/// `I x R x I`):
///
/// | I, R, type (operand) | mode 0 small / gemm | mode 1 small / gemm |
/// |---|---|---|
/// | 100, 10, f64 (8 MB) | 0.42 / 0.57 | 0.26 / 0.68 |
/// | 160, 16, f32 (16 MB) | 0.96 / 0.85 | 0.69 / 0.67 |
/// | 160, 16, f64 (33 MB) | 1.87 / 1.62 | 1.48 / 1.32 |
/// | 200, 16, f32 (32 MB) | 2.15 / 1.92 | 1.54 / 1.62 |
/// | 200, 16, f64 (64 MB) | 9.33 / 7.65 | 9.04 / 3.06 |
/// | 300, 20, f32 (108 MB) | 22.6 / 13.5 | 17.8 / 6.71 |
/// | 300, 20, f64 (216 MB) | 41.5 / 30.9 | 35.7 / 15.4 |
///
/// Below 32 MiB the two are level or the small kernels lead (their batches of small entries);
/// above, the slabs fall to a third of the `gemm` crate. The products whose thin side is the
/// slab's width (mode 2 above: `R x I^2 x I`, no slabs) stay with the small kernels.
pub(crate) const SLAB_STREAM_BYTES: usize = 32 << 20;

/// From this many bytes of the slabbed operand (see [`SLAB_STREAM_BYTES`]) `auto` sends a thin
/// real product the small kernels would run as row slabs to the packed engine on AVX-512, when
/// that reads A in place: level with the small kernels at `I = 100` of the table in [`pick`]'s
/// documentation (f64, 8 MB), ahead from 160 (f32, 16 MB).
pub(crate) const SLAB_PACKED_BYTES: usize = 8 << 20;

/// f32 products go to the packed engine by [`SLAB_PACKED_BYTES`] only with at least this many
/// rows (in its orientation): with fewer, the `gemm` crate leads a batch of them (80x8x80 x 6000
/// below). `engine_probe SHAPE BATCH 2 gemm-crate,packed s` (alternated in one process, best
/// (median) GFLOP/s, Zen 4, 2026-12-07, after the packed engine's prefetching and team of runs
/// 10-13): 80x8x80 x 6000 100.5 (95.0) / 92.8 (88.0); 96x8x96 x 4000 100.3 (84.6) / 108.9 (89.0);
/// 96x16x96 x 2048 107.4 (99.9) / 108.6 (95.9) and 121.2 (115.3) / 120.2 (113.9); 100x10x100 x
/// 2000 64.0 (58.4) / 89.8 (81.8); 112x8x112 x 3000 88.4 (76.7) / 89.4 (82.1); 128x8x128 x 2730
/// 83.3 (75.7) / 89.1 (84.9) and, `auto` then the `gemm` crate, 96.3 (92.1) / 109.8 (103.3);
/// 128x12x128 x 2000 104.7 (96.9) / 127.6 (114.2); 128x16x128 x 1365 132.0 (125.8) / 133.8
/// (129.4); 128x32x128 x 500 150.0 (143.0) / 159.4 (151.9); the sweep (`zen4/run15/`, s
/// 128x8x128 x 2730 from memory): packed 89.6, `gemm` crate 73.2. (Before those runs, with 128
/// rows the bound: 128x8x128 x 2730 59.2/84.0, 128x16x128 x 2730 108.0/117.1, 96x16x96 x 256
/// 172.4/205.0 packed / `gemm` crate.) f64 the packed engine leads in all of them (then
/// 128x8x128 30.2/24.0, 128x16x128 54.4/39.1, 96x16x96 75.3/44.6). AVX-512 only: on AVX2
/// (where the slab rule also needs A to stream, `Traits::packed_a_streams`) the packed engine
/// leads the `gemm` crate's AVX2 build at every row count from 65 (the Zen 4 running the AVX2
/// kernels, `cpu-zen4.md` run 8, two runs, GFLOP/s packed / `gemm` crate / small): f32 128x8x128
/// x 2730 72.2-73.0/45.6/43.7-44.1, 96x8x96 x 4000 78.3-78.6/49.9-51.1/51.5-53.0, 128x12x128 x
/// 2000 94.6/51.3/55.2, 128x16x128 x 1365 86.3/69.2/58.1; level at 32 columns (128x32x128 x 500
/// 90.8-91.8/91.3-92.7/89.2-90.3).
pub(crate) const SLAB_PACKED_F32_MIN_ROWS: usize = 96;

/// From this many bytes of the slabbed operand per thread (see [`SLAB_STREAM_BYTES`]) `auto`
/// sends a thin f64 product the small kernels would run as row slabs to the packed engine on
/// AVX-512 when that reads A in place, below [`SLAB_PACKED_BYTES`] over the call: a slab of
/// `SMALL_MAX` f64 rows reads its `k` runs of 512 B far apart (the operand's leading dimension),
/// which the small kernels' blocks wait for once the operand has left L2, where the packed
/// engine prefetches A's runs ahead ([`DIRECT_A_AHEAD`]). HOOI's mode-0 products on one rank's
/// half of a 300³ tensor under MPI (one thread) ran at 10-20 GFLOP/s there. `REPS=40 SHAPE=I,J,K
/// MODES=0 TY=d ENG=small|packed|gemm TBLAS_NUM_THREADS=T ttm_probe 300 20` (`I x 20` factor,
/// `6000 x I` slabbed operand), AMD EPYC Zen 4, GFLOP/s small / packed / `gemm` crate, two to
/// three alternated runs:
///
/// | shape, threads (per-thread slab bytes) | small | packed | `gemm` crate |
/// |---|---|---|---|
/// | 30,300,20, 1 (1.4 MB) | 39.5-47.5 | 34.3-45.7 | 43.4-49.4 |
/// | 50,300,20, 1 (2.4 MB) | 39.8-50.9 | 40.1-49.7 | 44.8-45.1 |
/// | 100,300,20, 1 (4.8 MB) | 9.9-11.9 (41 once) | 42.3-48.3 | 30.0-46.5 |
/// | 150,300,20, 1 (7.2 MB) | 10.4-20.7 | 37.1-53.7 | 22.7-40.2 |
/// | 150,20,300, 1 (7.2 MB) | 10.2-15.8 | 39.2-41.3 | 23.3-33.0 |
/// | 100,20,300, 1 (4.8 MB) | 9.9-10.0 | 52.1-52.5 | 33.2-44.6 |
/// | 100,300,20, 2 (2.4 MB) | 83.0-83.1 | 81.8-83.5 | 84.0-87.9 |
/// | 100,20,300, 2 (2.4 MB) | 15.2-63.2 | 53.2-61.3 | 42.9-61.7 |
/// | 150,300,20, 2 (3.6 MB) | 20.8-23.5 | 84.6-88.4 | 52.7-80.6 |
///
/// And the `100³ R10` mode products (`REPS=40 MODES=01 TY=d ttm_probe 100 10`, 8 MB, ms, modes
/// 0/1, three runs): one thread small 1.77-2.15/0.43-1.94 against packed 0.46/0.53-0.55; two
/// threads 0.26-0.91/0.20-0.26 against 0.23-0.28/0.28-0.34. f32 keeps the rule above (the
/// same 100³ R10 in f32, 4 MB: small 0.19-0.20/0.21 against packed 0.23-0.27/0.32-0.41 on one
/// thread).
pub(crate) const SLAB_PACKED_F64_THREAD_BYTES: usize = 2 << 20;

/// [`SLAB_PACKED_F64_THREAD_BYTES`] applies only to slabs whose runs lie at least this far
/// apart (the slabbed operand's larger stride, in bytes: one 4 KiB page per run), as in the
/// Tucker products above (48-80 KB apart). Slabs of entries stored whole, runs 1-2 KiB apart,
/// stay with the small kernels, which lead there: `tensorblas-bench sweep --types d --sizes 64
/// --shapes 128:8:128,256:16:256 --regime cache --cache-kb 4096` (4 MB per call, 2 threads,
/// Zen 4): with the rule on bytes alone (`benches/results/zen4/slab-f64-bytes-rule/`) `auto`
/// 93.6 / 81.0 GFLOP/s (packed) against the small kernels' 108.6 / 109.7; with this bound
/// (`zen4/slab-f64/`) `auto` 108.7 / 110.2, auto/best 1.00 / 0.99.
pub(crate) const SLAB_FAR_RUN_BYTES: usize = 4096;

/// The packed engine leaves a real B unpacked (its microkernel broadcasts B's elements in place)
/// when the rows it computes are at most this many: a packed B micro-panel would serve at most a
/// few A micro-panels, too few to repay the copy.
pub(crate) const DIRECT_B_MAX_ROWS: usize = 64;

/// Deepest depth block of the packed engine when it reads B in place (`DIRECT_B_MAX_ROWS`):
/// the block then bounds only A's packed block (at most 64 x 512 f64, 256 KiB, in L2), and one
/// block over all of k lets the depth loop prefetch the next micro-panel of B as one range of
/// whole columns. f64 (one thread, `engine_probe MxNxK 1 1 packed d`, Zen 4), kc 192 (two
/// blocks, no prefetch) against one block of 300 with the prefetch: 20x90000x300 32.7 -> 39.8
/// GFLOP/s, 8x90000x300 22.8 -> 40.9 (`cpu-zen4.md`, run 2).
pub(crate) const DIRECT_B_KC: usize = 512;

/// From this many bytes of an operand (one thread's share of a call, counting an operand shared
/// by the batch once) the packed engine takes it to stream from memory: the in-place
/// microkernel then prefetches the next micro-panel of a B in place as it goes
/// (`packed::kloop`; below, B stays in the caches and the prefetch only takes load slots), and
/// an A of few columns is read in place also where the tuning table packs a cached one
/// (`Blocking::a_in_place`).
pub(crate) const STREAM_BYTES: usize = 1 << 24;

/// The packed engine reads a real A with unit row stride in place (no packed copy) when the
/// columns it computes are at most this many: an A micro-panel then serves at most a few B
/// micro-panels, and with `n <= 64` packing A took as long as the multiply-adds (62% of the
/// samples of `engine_probe 300x20x90000 1 1 packed s` in `pack_a`'s loads). With the look-ahead
/// of [`DIRECT_A_AHEAD`]; `engine_probe MxNxK BATCH THREADS packed`, AMD EPYC Zen 4, GFLOP/s
/// packing A / A in place:
///
/// | shape x batch, threads | f32 | f64 |
/// |---|---|---|
/// | 300x20x90000, 1 | 34.1 / 56.5 | 16.7 / 30.7 |
/// | 300x20x90000, 2 | 65.7 / 109.3 | 32.5 / 58.1 |
/// | 2000x8x20000, 2 | 34.7 / 59.8 | |
/// | 1024x64x1024, 2 | 187 / 209 | |
/// | 300x20x300 x 16, 2 | 153 / 200 | 70.0 / 99.2 |
/// | 128x32x128 x 64, 2 | 168 / 195 | 82.3 / 101 |
/// | 96x16x96 x 256, 2 | 131 / 162 | 30.6 / 84.2 |
/// | 1024x64x256, 2 | | 90.8 / 97.5 |
/// | 512x48x512 x 4, 2 | | 86.4 / 105 |
///
/// That is on AVX-512 (`Blocking::a_in_place`). The AVX2 kernels (on the same Zen 4,
/// `engine_probe ... avx2`) lose with a cached A in place, whose micro-panels are half as tall
/// and serve twice as many B micro-panels (`nr` = 6), each pass a page per depth step: f32
/// 1024x24x256 142.7 / 105.6, 1024x64x1024 164.5 / 113.3, 2048x16x2048 (16 MiB) 115.8 / 78.9;
/// and win once A streams from memory: 300x20x90000 f32 50.8 / 83.2, f64 25.6 / 38.1, 2048x16x2048
/// f64 (32 MiB) 26.2 / 36.0. So on AVX2 A is read in place only from [`STREAM_BYTES`] per thread
/// (or with B in place too). (Before the look-ahead the Xeon kept A packed for tall blocks: f64
/// 1024x64x256 one thread packed 70 against 65 in place.)
///
/// Since each block of A in place is prefetched into L2 during the block before it
/// (`packed::Ahead`; the table above was measured with the first tile of each block bringing it
/// in), A in place streams faster still: `engine_probe ... packed`, 2 threads, Zen 4, GFLOP/s
/// before / after, AVX-512 and the AVX2 kernels: f64 300x20x300 x 300 72 / 87 and 48 / 67, f32
/// 138 / 177 and 104 / 142; f64 90000x20x300 65 / 85 and 46 / 62, f32 163 / 187 and 96 / 137;
/// f64 300x20x90000 61-68 / 85-86; f64 1024x64x1024 x 8 81 / 95; in the caches level (f64
/// 300x20x300 x 8 98.5 / 99; 96x16x96 x 256 85 / 83, f32 173 / 168).
pub(crate) const DIRECT_A_MAX_COLS: usize = 64;

/// How many depth steps ahead the packed engine's microkernel prefetches an A read in place
/// (`DIRECT_A_MAX_COLS`), on its first pass over each micro-panel. `engine_probe 300x20x90000 1
/// 2 packed s`, Zen 4, GFLOP/s at 0/8/16/32/64 steps: 58.4/106.6/107.6/108.1/103.0 (f64
/// 30.2/55.1/58.1/57.4/56.1).
pub(crate) const DIRECT_A_AHEAD: isize = 16;

/// On AVX-512, a call of real products whose operands stream from memory (at least
/// [`STREAM_CALL_BYTES`] of A, B and C) and this shallow (`k <=`), with a C of at least
/// [`SHALLOW_MIN`] rows and columns, one side of at least [`SHALLOW_SIDE_BYTES`], goes to the
/// `gemm` crate: the small kernels' C traffic (a 4 KiB page per few depth steps, write-allocated
/// block by block) is what they wait for there, where the `gemm` crate streams. In the caches the
/// small kernels lead. `engine_probe MxNxK BATCH 2 {small,gemm-crate} {s,d}` (AMD EPYC Zen 4,
/// since the small kernels' blocks are called functions), GFLOP/s small / `gemm` crate, cache
/// (256 KiB largest operand) and dram (192 MiB) batches: s 64x64x8 122.6/112.9 and 65.1/109.1,
/// 48x48x8 123.2/110.6 and 78.6/108.3, 64x64x16 161.4/148.7 and 110.8/146.8, 64x32x8
/// 118.4/106.3 and 66.7/113.8, but 32x32x8 122.0/93.5 and 140.4/79.3 (one register block of
/// rows: left to the small kernels); d 32x32x8 74.2/61.0 and 32.2/46.0, 48x48x8 73.5/67.4 and
/// 29.2/36.1, 64x32x8 72.4/68.4 and 27.0/31.4, 64x64x16 88.0/86.8 and 45.3/49.1. Except f64
/// products whose C the small kernels stream through their scratch (`Traits::streams_c`,
/// [`stream_c_scratch`]), which lead from memory (same probe, dram, C written non-temporally):
/// d 64x64x8 x 4915 44.4/31.6, 64x32x8 x 16000 41.5/30.8, 64x64x4 x 6000 31.6/19.7, 48x48x8 x
/// 8000 36.2/35.4, 64x64x16 x 4915 48.6/46.3; not f32 (s 48x48x8 x 14000 71.9/96.9) nor
/// deeper ones (d 40x40x16 x 12000, not streamed: 24.3/57.0).
pub(crate) const SHALLOW_K: usize = 16;

/// See [`SHALLOW_K`].
pub(crate) const SHALLOW_MIN: usize = 32;

/// See [`SHALLOW_K`]: 48 f32 or 24 f64 elements.
pub(crate) const SHALLOW_SIDE_BYTES: usize = 192;

/// On AVX-512, a call of f64 products whose operands stream from memory (at least
/// [`STREAM_CALL_BYTES`]) with every extent in this range goes to the `gemm` crate. `engine_probe
/// SIZE BATCH 2 {small,gemm-crate} d` (Zen 4, GFLOP/s): 24^3 dram 56.2/71.0, 32^3 43.2/61.4,
/// 48^3 48.7/47.4; in the caches the small kernels lead (24^3 87.9/81.3, 32^3 102.6/94.3, 48^3
/// 106.3/104.4). Before the small kernels' blocks became called functions the `gemm` crate led
/// also in the caches (sweep runs 2 and 3, `cpu-zen4.md`: d 32^3 cache 89.4/95.3).
pub(crate) const MID_F64: std::ops::RangeInclusive<usize> = 24..=48;

/// On AVX2, a call of f64 products that streams from memory (at least [`STREAM_CALL_BYTES`])
/// with every extent above this goes to the `gemm` crate (from 65 it would anyway, unless a
/// rule above takes it). `sweep --types d --sizes 32,48,64 --regime both`, Zen 4 running the
/// AVX2 kernels and the `gemm` crate's AVX2 kernels (`cpu-zen4.md` run 7), two runs, GFLOP/s
/// small / `gemm` crate: 64^3 dram 42-43 / 52-54 (rayon + 1-thread OpenBLAS 55-56); 48^3 dram
/// 42-43 / 39-40 and 32^3 35-37 / 34-35 stay with the small kernels, as every cache row (64^3
/// 93-100 / 70-95).
pub(crate) const AVX2_STREAM_F64_MIN: usize = 48;

/// On AVX2, a call of f32 products of at most this many rows (in the packed engine's
/// orientation) over a depth in [`AVX2_NARROW_K`] and at least 64 columns, whose B streams from
/// memory (`Traits::packed_b_streams`), goes to the packed engine, which reads B in place and
/// prefetches it. The small kernels' one-vector blocks read eight columns of B side by side, a
/// line of each per 16 depth steps, and from a depth of about 128 the hardware prefetchers no
/// longer keep those eight streams ahead of them in DRAM (`perf record`: the FMAs wait on the
/// broadcasts of B). `engine_probe MxNxK BATCH 2 {small,packed,gemm-crate} s` on the Zen 4
/// running the AVX2 kernels and the `gemm` crate's AVX2 build (`cpu-zen4.md` run 8), GFLOP/s,
/// two runs: 8x128x128 x 2730 41.7/66.7-68.0/41.0-42.9, 8x64x128 x 5000 40.6/63.5/39.3, 8x256x256
/// x 700 51.6/67.8/48.2, 4x128x128 x 4000 19.6-19.7/29.1-30.1/20.9-21.4, 8x4096x300 x 50
/// 64.3-65.4/72.9-73.0/56.3-57.6, 8x90000x300 63.4-68.6/70.6-74.2/54.5-57.7; not at a depth of 64
/// (8x128x64 x 5000 105.2/64.8/72.8, 8x64x64 x 10000 94.3/64.6/62.7) or 512 (8x128x512 x 700
/// 71.5-73.8/65.6-71.6/67.2-68.2), nor with more rows (12x128x128 x 2000 49.8/39.7/52.0, 16x128x128
/// x 1500 70.9/52.5/69.9), nor for f64 (8x128x128 x 1365 29.7/23.2/28.1), nor while B stays in the
/// L3 (8x128x128 x 300, 460: 45.7/32.7, 44.9/35.1; from 600, 39 MB: 42.3/68.0).
pub(crate) const AVX2_NARROW_ROWS: usize = 8;

/// See [`AVX2_NARROW_ROWS`].
pub(crate) const AVX2_NARROW_K: std::ops::RangeInclusive<usize> = 128..=384;

/// On AVX2, complex products whose A the packed engine reads in place, streaming (at least
/// [`COMPLEX_STREAM_A_BYTES`] over the call and [`STREAM_BYTES`] per thread), with at most this
/// many columns go to the packed engine also when they are not deep (as on AVX-512 at any width).
/// `engine_probe MxNxK BATCH 2 {small,packed,gemm-crate} {c,z}`, the Zen 4 running the AVX2
/// kernels (`cpu-zen4.md` run 8), GFLOP/s, two runs: c 128x8x128 x 1365 64.7-65.6/70.3-72.6/
/// 58.9-60.4, z x 682 28.8-28.9/35.0-36.0/29.0-29.9, c 256x8x256 x 256 52.7-60.1/76.5-77.6/
/// 58.2-59.5; with 16 columns the packed engine trails (c 128x16x128 x 512 95-96/75/93-94, z
/// 42.5/35.6/40.6-46.6, z 96x16x96 x 512 46/34/57).
pub(crate) const AVX2_COMPLEX_STREAM_COLS: usize = 8;

/// Bytes of A, B and C over a call (a shared operand once) from which the shallow and mid-size
/// rules above send real products to the `gemm` crate: the L3 of the Zen 4 (32 MiB). d 32^3,
/// `engine_probe 32 BATCH 2 {small,gemm-crate} d`: 768 KiB 95.4/89.8, 3 MiB 101.7/92.8, 12 MiB
/// 103.4/94.2, 48 MiB 76.5/77.0, 192 MiB 44.9/59.7.
pub(crate) const STREAM_CALL_BYTES: usize = 32 << 20;

/// From this many bytes of C over a call (`beta == 0`, each entry's C contiguous) the small
/// kernels write C with non-temporal stores (`small/stream.rs`): a C this large does not stay in
/// the caches anyway (the L3 of the Zen 4 is 32 MiB), and an ordinary store first reads its line
/// from memory. Where: the column path and the tiny path (real rows of one vector or less) and
/// blocks of one vector of rows store their registers non-temporally; shallow entries whose
/// columns take several blocks of rows ([`stream_c_scratch`]) go through a scratch; other blocks
/// write as before (streaming from them measured level or worse). `engine_probe SHAPE BATCH 2
/// small T` with `TBLAS_STREAM_C=off`/`on` alternated, AMD EPYC Zen 4, GFLOP/s, two runs each:
/// d 8^3 x 131072 (column path) 39.5-41.2 / 51.6-55.0 and 24.9-25.4 / 32.1-33.7; s 4^3 x 2^20
/// (tiny path) 31.0-35.2 / 39.6-42.2; c 8^3 x 65536 (one vector) 123-128 / 141-166; through the
/// scratch: z 64x64x8 x 2457 40.7-41.2 / 49.7-50.0 and 46.4 / 49.1-51.0, c 64x64x8 x 4915
/// 73.1-73.7 / 98.7-99.6, d 64x64x8 x 4915 29.2-30.5 / 48.1-48.5; not streamed (measured with
/// streaming on everywhere): s 32^3 x 16384 132-160 / 121-155, s 64x64x8 x 9830 95-100 /
/// 82-93, d 32^3 x 8192 57-60 / 53-60, z 16^3 x 16384 65-66 / 54-58 (scratch), z 8^3 (two
/// vectors) 59-63 / 56-59. The AVX2 kernels on the same CPU (`... avx2`, the proxy for an AVX2
/// machine): s 8^3 (column path) 65.9-72.0 / 80.0-80.3, d 4^3 18.0-18.3 / 23.7-25.0, d 64x64x8
/// (scratch) 25.8-26.1 / 37.3-37.4.
pub(crate) const STREAM_C_BYTES: usize = 32 << 20;

/// Whether the small kernels stream C for a call of `c_bytes` of C (each entry's C at most
/// [`STREAM_C_MAX_ENTRY_BYTES`], `beta == 0`: the caller's conditions), with
/// [`set_stream_c`]'s override.
pub(crate) fn stream_c(c_bytes: usize) -> bool {
    STREAM_C.get().unwrap_or(c_bytes >= STREAM_C_BYTES)
}

/// [`stream_c`]'s override.
static STREAM_C: Override = Override::new();

/// Forces the small kernels' non-temporal C (`tuning::STREAM_C_BYTES`) on for every call whose
/// entries allow it (`Some(true)`), off (`Some(false)`), or back to the size rule (`None`), for
/// the whole process: for tests and measurements. Results are the same bits either way.
#[doc(hidden)]
pub fn set_stream_c(v: Option<bool>) {
    STREAM_C.set(v);
}

/// The small kernels' general blocks prefetch, during each block's k loop, the lines that the
/// next block or the next entry reads first and the block's own C (`small::entry`: during an
/// entry's first column block, the next block of rows' strip of A; during each column block,
/// the next column block's B, or the next entry's B; during the last block, the next entry's
/// first strip of A; C where it is stored as usual, not streamed), in calls whose A, B and C
/// together span at least this many bytes (from memory: the same bound as [`STREAM_C_BYTES`])
/// and whose entries' A, B and C span at least [`PREFETCH_ENTRY_BYTES`], on AVX-512
/// ([`prefetch_entries`]). The hardware prefetchers follow a small entry's few runs of
/// memory but not a large entry's strips of A (its columns' rows read block by block) nor the
/// jump to the next column block's B.
///
/// `TBLAS_PREFETCH=ab target/release/examples/engine_probe SHAPE BATCH 2 small T` (off and on
/// alternated over 40 samples of one process), AMD EPYC Zen 4, GFLOP/s, best (median), off /
/// on: z 32^3 x 4096 48.5 (46.4) / 60.1 (57.3) and 47.1 (45.6) / 57.6 (55.6); c 32^3 x 8192
/// 132.0 (125.7) / 140.9 (137.8); z 48^3 x 2048 57.7 (53.0) / 70.5 (64.5); d 48^3 x 4096 45.2
/// (34.9) / 50.3 (42.7); c 48^3 x 4096 146.2 (123.1) / 165.6 (136.9); 64^3: s x 4096 103.9
/// (98.2) / 132.9 (124.8), d x 2048 45.2 (43.2) / 58.2 (54.4), c x 2048 127.9 (119.4) / 153.7
/// (145.4), z x 1024 67.1 (65.2) / 78.2 (75.9) (without the strips of A: z 68.7, d 53.3); z
/// 64x64x8 x 4915 44.1 (40.6) / 48.1 (43.2), d 26.3 (21.8) / 28.3 (23.6), c 96.4 (87.8) / 98.0
/// (89.6); level: d 32^3 x 8192 55.0 (49.0) / 54.5 (50.8), s 40^3 x 8192 118.5 (108.5) / 119.9
/// (112.7). Smaller entries lose, which sets [`PREFETCH_ENTRY_BYTES`]: s 32^3 x 16384 (12 KiB)
/// 126.9 (119.1) / 112.8 (108.5) and 148.9 (145.7) / 113.1 (109.8), c 16^3 x 32768 147.3
/// (143.5) / 128.4 (121.2), z 16^3 49.1 (44.9) / 46.2 (42.6), z 16x12x16 67.8 (64.2) / 58.7
/// (54.8), s 64x64x8 x 9830 (20 KiB) 82.8 (77.3) / 79.3 (72.4). The next entry's A alone or
/// the blocks' B alone on s 32^3 lost 10-15%; `prefetcht1`, `t2` and `nta` measured as `t0`.
/// In cache (forced on, z/d/s 32^3 x 32-128) the prefetching costs 1-3%. The block's own C
/// added to the above (a C of ordinary stores is read for ownership at the block's end),
/// `TBLAS_PREFETCH_C=ab` (a switch of that build), A and B prefetched in both arms: d 32^3 x
/// 8192 53.6 (40.2) / 62.5 (49.8) and 41.0 (36.3) / 50.4 (45.6), z 32^3 x 4096 63.6 (46.6) /
/// 66.8 (55.5) and 49.0 (45.8) / 55.7 (52.6), c 32^3 144.4 (111.4) / 153.7 (125.8), d 48^3 x
/// 4096 45.4 (40.2) / 53.7 (45.4), d 64^3 x 2048 55.3 (47.5) / 60.2 (50.7); with it, smaller
/// entries still lose (best): s 32^3 138.2 / 128.1, c 16^3 132.0 / 123.7, s 64x64x8 76.3 / 70.9
/// (z 16^3 60.9 / 62.6). Without prefetching the blocks are the code they were before (a
/// const generic: a per-block plan had cost c 4^3 25% in cache). With the default rule,
/// `engine_probe 32 BATCH 2 auto T`, the previous build / this one alternated: z 32^3 x 4096
/// 50.7, 49.6 / 65.3, 63.7; c 32^3 x 8192 133.7, 133.3 / 157.8, 160.8.
pub(crate) const PREFETCH_BYTES: usize = 32 << 20;

/// See [`PREFETCH_BYTES`]: the smallest entry (A, B and C) the small kernels prefetch for.
pub(crate) const PREFETCH_ENTRY_BYTES: usize = 24 << 10;

/// Whether the small kernels of `isa` prefetch ([`PREFETCH_BYTES`]) for a call of `batch`
/// entries of `entry_bytes` each, with [`set_prefetch`]'s override. Only the AVX-512 kernels:
/// the AVX2 kernels (narrower blocks, so more prefetches per FMA; measured on the Zen 4 with
/// `... small T avx2`, `TBLAS_PREFETCH=ab`, off / on) lost, s 48^3 x 4096 159.7 (141.5) / 110.6
/// (105.0) and 162.6 (145.9) / 116.3 (103.6), c 32^3 x 8192 141.5 (125.5) / 109.5 (98.9) and
/// 117.4 (113.0) / 108.9 (103.8), z 32^3 level (46.8 / 47.8), d 64^3 x 2048 38.9 / 47.3.
pub(crate) fn prefetch_entries(isa: Isa, entry_bytes: usize, batch: usize) -> bool {
    PREFETCH.get().unwrap_or(prefetch_rule(isa, entry_bytes, batch))
}

/// [`prefetch_entries`] by its size rules alone, without [`set_prefetch`]'s override: what
/// [`pick`] weighs (`Traits::prefetches`), so that the override never changes the engine, and
/// with it the bits of the result.
pub(crate) fn prefetch_rule(isa: Isa, entry_bytes: usize, batch: usize) -> bool {
    isa == Isa::Avx512 && entry_bytes >= PREFETCH_ENTRY_BYTES && entry_bytes.saturating_mul(batch) >= PREFETCH_BYTES
}

/// [`prefetch_entries`]'s override.
static PREFETCH: Override = Override::new();

/// Forces the small kernels' prefetching ([`PREFETCH_BYTES`]) on for every call and entry
/// size (`Some(true)`), off (`Some(false)`), or back to the size rules (`None`), for the whole
/// process: for tests and measurements. Results are the same bits either way.
#[doc(hidden)]
pub fn set_prefetch(v: Option<bool>) {
    PREFETCH.set(v);
}

/// The small kernels' column path streams C ([`STREAM_C_BYTES`]) of at most this many columns
/// in one pass over an entry's A; an entry of more (up to 16) takes two passes of half its
/// columns each, each storing its own. `engine_probe SHAPE BATCH 2 small T`,
/// `TBLAS_STREAM_C=off`/`on`, Zen 4, GFLOP/s, two runs: s 8^3 x 262144 49.3-63.4 / 63.6-79.9, s
/// 16x8x16 x 131072 74.1-77.7 / 88.2-91.4, d 8^3 (above); all 16 columns in one pass lost (s
/// 16^3 x 65536 97.4-103.4 / 61.3-67.3, also with C on 64-byte lines, 512-bit stores: 77 / 51,
/// 57 / 46), in two passes they win: `TBLAS_STREAM_C=ab` (off and on alternated over 40 samples
/// in one process; best (median); the same code in both arms differed by up to 8%), s 16^3 x
/// 65536 94.9 (79.0) / 99.3 (88.3) and 102.8 (63.5) / 93.0 (64.1), s 16x12x16 93.3 (73.7) /
/// 106.1 (86.4), s 16x10x16 82.7 (52.4) / 90.9 (55.1), d 8x16x8 x 65536 28.6 (25.2) / 39.8
/// (35.1) and 27.4 (20.2) / 33.3 (28.0), s 8x16x8 x 131072 53.9 (40.3) / 74.3 (60.7), d 4x16x4 x
/// 262144 13.7 (11.9) / 19.8 (16.0); the AVX2 kernels (`... avx2`): s 8x16x8 42.7 (28.3) / 50.6
/// (37.8), d 4x16x4 14.2 (12.2) / 19.5 (17.6), s 8x12x8 53.6 (46.3) / 56.3 (51.5).
///
/// The same bound holds for the general kernels' blocks of all of C's rows in two or more
/// vectors (columns x vectors <= 8 lines at once; before, only blocks of one vector of rows
/// streamed), for entries all of whose blocks are such (`small::entry`: an entry whose last
/// column block alone streamed ran at half speed, c 16^3 and z 8x16x8): `TBLAS_STREAM_C=ab`,
/// z 8^3 x 65536 (blocks of 4 columns x 2 vectors) 58.2 (34.9) / 55.1 (36.7) and 47.7 (28.4) /
/// 51.2 (29.5), d 16x4x16 x 131072 23.3 (16.9) / 24.4 (20.0), c 16x4x16 62.5 (53.7) / 71.7
/// (60.8), s 32x4x32 x 65536 83.2 (58.2) / 88.8 (63.4); one thread in
/// cache, the blocks before / after this branch (C not streamed), level within the host's noise
/// (z 8^3 x 512 30.9-32.1 / 29.9-40.3, s 32x4x32 x 1024 74.7-82.6 / 78.5-93.8).
pub(crate) const STREAM_C_COLUMNS: usize = 8;
const _: () = assert!(
    16usize.div_ceil(2) <= STREAM_C_COLUMNS,
    "a pass of the column path streams at most STREAM_C_COLUMNS"
);

/// Whether an entry of a streamed C whose columns take several blocks of rows of the small
/// kernels is computed into a scratch and copied out (`small/stream.rs`): when it is shallow,
/// C at least twice A and B together (`2 k (m + n) <= m n`); else it writes C as usual. Measured
/// (see [`STREAM_C_BYTES`]): 64x64x8 z/c/d 1.1-1.6x without; z 16^3 (C half of A and B) 0.85x,
/// z 32^3 1.1x, c 32^3 level.
pub(crate) fn stream_c_scratch(m: usize, n: usize, k: usize) -> bool {
    2 * k * (m + n) <= m * n
}

/// Entries whose C exceeds this many bytes are not streamed (the scratch of one whose columns
/// take several blocks of rows would leave L2).
pub(crate) const STREAM_C_MAX_ENTRY_BYTES: usize = 256 << 10;

/// From this many bytes of a complex A that the packed engine would read in place (over the
/// call, in its orientation; more than `SMALL_MAX` rows, at most `DIRECT_A_MAX_COLS` columns),
/// `auto` gives the product to the packed engine on AVX-512 also when it is not deep: A streams
/// from memory, and reading it in place with the block prefetch beats the `gemm` crate's packing.
/// `engine_probe MxNxK BATCH 2 {packed,gemm-crate} {c,z}`, Zen 4, GFLOP/s: c 128x8x128 x 1365
/// (179 MB) 114 / 70, z 59 / 44; c 128x16x128 x 512 (67 MB) 147 / 105, z 74 / 60; c 256x8x256 x
/// 256 126 / 67; c 200x20x200 x 256 153 / 109; z 96x16x96 x 512 (75 MB) 70.5 / 61.6; below it,
/// c 96x16x96 x 512 (38 MB) 134 / 129, c 128x8x128 x 128 (17 MB) 167 / 183, z (34 MB) 79 / 84
/// (sweep run 4: c/z 128x8x128 dram packed 111.6 / 57.0 against `auto`'s 68.5 / 43.8).
pub(crate) const COMPLEX_STREAM_A_BYTES: usize = 64 << 20;

/// The multiply-adds (`m*n*k`) of a complex entry from which, up to [`COMPLEX_SPLIT_MAX`], a
/// call of fewer entries than threads goes to the small kernels when the product is thin
/// (`min(m, n) <= SMALL_MAX`, `k <= THIN_K_MAX`): they split one entry's columns over the
/// threads, where the `gemm` crate runs a single entry below `INNER_THREADING_WORK` on one
/// thread. `engine_probe MxNxK 1 2 {small,gemm-crate} {z,c}`, AMD EPYC Zen 4, GFLOP/s, three runs
/// each: z/c 64x8x64 (2^15) 44.9/51.3 and 84/91 (below: the split does not pay); 64x16x64
/// (2^16) 83.5/54.2 and 150/101; 48^3 87.6/55.1 and 165/106; 128x8x128 90/55 and 132-170/108;
/// 8x128x128 82-92/52-54 and 128-154/107; 64^3 87-93/67-82 and 179/127; 128x32x128 (2^19)
/// 89-95/81-88 and 153-180/135-163; 256x8x256 (2^19) 89/78-85 and 186/125; above, 20x300x300
/// (1.8 * 2^20) 94/106 and 150/160. On AVX2 for complex double only (the Zen 4 running the
/// AVX2 kernels, `... avx2`, two runs, small / the `gemm` crate, which ran its AVX-512 kernels
/// there): z 8x128x128 x 1 90.8-91.6 / 51.8-53.8, 128x8x128 x 1 63.1-64.8 / 55.4-55.5, but c
/// 128x8x128 x 2 155.8-181.3 / 173.0-206.6 (and the sweeps of run 7, z 8x128x128 cache, small
/// 75-104 against `auto`'s 43-52).
pub(crate) const COMPLEX_SPLIT_MIN: usize = 1 << 16;

/// See [`COMPLEX_SPLIT_MIN`].
pub(crate) const COMPLEX_SPLIT_MAX: usize = 1 << 19;

/// The packed-B exception of [`pick`] (`Traits::packed_b_streams`) leaves to the small kernels
/// the real products they prefetch for (`Traits::prefetches`) whose rows (in the packed
/// engine's orientation) are a multiple of this many and whose depth is at most `SMALL_MAX`:
/// since they prefetch, they lead there. `engine_probe SHAPE BATCH 2 packed,small T` (the two
/// engines alternated over 40 samples of one process), AMD EPYC Zen 4, best GFLOP/s packed /
/// small, two runs: s 64^3 x 4096 131.6/144.4, 137.8/145.8, d 54.1/61.9, 54.7/62.5; 32x64x64 x
/// 8192 s 146.1/153.2, 149.1/157.3, d 63.4/73.5, 61.1/72.4; 32x128x64 x 4096 s 149.0/170.1,
/// 148.7/169.0, d 70.4/82.4, 66.6/77.8; 64x128x64 x 2048 s 136.6/164.7, 141.9/163.3, d
/// 57.2/61.6, 62.5/68.2; 64x256x64 x 1024 s 135.1/154.9, 145.1/173.4, d 53.0/57.9, 57.1/59.9;
/// 32x256x64 x 2048 s 156.6/159.0, 147.9/164.4, d 68.3/83.2, 74.3/86.7. Other row counts keep the
/// packed engine: 48x64x64 x 4096 s 109.0/98.8, 113.9/107.6, d 58.7/54.4, 58.9/54.8; 40x64x64 s
/// 127.6/102.4, 129.4/103.3, d 63.6/54.7, 64.8/54.8; 24x64x64 x 8192 d 59.9/49.7, 58.8/46.0;
/// 48x128x64 x 2730 s 123.9/116.5, 118.4/115.9; 16x64x64 and 16x128x64 level; 8x128x128 x 2730
/// s 64.2/33.3, d 49.1/30.5. So do deeper ones, level or the packed engine ahead: 64x64x128 x
/// 2048 s 165.2/155.3, 156.9/149.0, d 71.3/70.4; 32x64x128 x 4096 s 148.8/142.3, 159.9/156.2;
/// 48x128x128 x 1024 s 157.0/142.3, d 77.5/70.0 (but 32x128x128 x 1024 s 157.1/181.7, d
/// 70.0/76.3).
pub(crate) const PREFETCH_SMALL_ROWS: usize = 32;

/// The deepest complex double product that [`pick`] gives the prefetching small kernels from
/// memory (see there): deeper, the `gemm` crate leads or is level (z 16x512x256 x 256 95.6
/// against 88.7, 32x64x512 x 512 94.1 against 84.8, 8x256x256 level).
pub(crate) const COMPLEX_PREFETCH_Z_MAX_K: usize = 128;

/// Largest extent for which `auto` gives complex entries to the small kernels. 32 since B's
/// conjugation left their k loop and the AVX-512 blocks grew to 6 columns (`engine_probe SIZE
/// BATCH 2 {small,gemm-crate} {c,z}`, AMD EPYC Zen 4, GFLOP/s small / `gemm` crate, cache and dram
/// batches): c 24^3 198/191 and 196/174, 32^3 213/207 and 174/170; z 24^3 96/92 and 56/53, 32^3
/// 101/98 and 60/49. Above it the two are level or the `gemm` crate leads (c 48^3 220/219 and
/// 143/147, 64^3 216/210 and 150/161; z 48^3 92.5/94; z 64x64x8 cache 69/78). It was 16 since
/// the Xeon's run 3 (`benches/results/xeon-avx512/run3/`: c 32 cache 180 vs 136 then).
pub(crate) const COMPLEX_SMALL_MAX: usize = 32;

/// What [`pick`] weighs of a call besides its type and shape (the native backend computes it).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Traits {
    /// Bytes, over the batch (an operand shared by it once), of the operand the small kernels
    /// would run as tall row slabs (`SMALL_MAX`-row slabs of an operand with more rows); 0 when
    /// they would not.
    pub slab_bytes: usize,
    /// `slab_bytes` per thread of the call.
    pub slab_thread_bytes: usize,
    /// The larger stride of the slabbed operand, in bytes (0 without slabs): how far apart the
    /// runs a slab reads lie.
    pub slab_run_stride_bytes: usize,
    /// `m x n x k` of the product the packed engine computes (C, or C^T when only C's columns
    /// are contiguous).
    pub packed_mnk: (usize, usize, usize),
    /// The packed engine would read A in place on one thread (unit row stride in its
    /// orientation, at most [`DIRECT_A_MAX_COLS`] columns).
    pub packed_a_in_place: bool,
    /// Bytes of A in the packed engine's orientation, over the call (a shared A once).
    pub packed_a_bytes: usize,
    /// A in the packed engine's orientation, over the call, is at least [`STREAM_BYTES`] per
    /// thread (the AVX2 kernels read an A in place only then; see [`DIRECT_A_MAX_COLS`]).
    pub packed_a_streams: bool,
    /// B in the packed engine's orientation, over the call, is at least [`STREAM_BYTES`] per
    /// thread (the packed engine then prefetches a B read in place as it streams).
    pub packed_b_streams: bool,
    /// The type is double precision (f64 or complex f64).
    pub double: bool,
    /// The call has fewer entries than threads (one thread per entry leaves some idle).
    pub few_entries: bool,
    /// Bytes of A, B and C over the call (an operand shared by the batch once).
    pub call_bytes: usize,
    /// Rows of the product in the small kernels' orientation (C, or C^T; 0 where they do not
    /// take it): [`whole_column_rows`] of them make a whole-column block.
    pub small_rows: usize,
    /// The small kernels would write C with non-temporal stores (`beta == 0`, C's entries
    /// contiguous, [`STREAM_C_BYTES`] of C over the call).
    pub streams_c: bool,
    /// The small kernels would prefetch for the call's entries ([`prefetch_rule`]: AVX-512,
    /// entries of at least [`PREFETCH_ENTRY_BYTES`], [`PREFETCH_BYTES`] over the call; not with
    /// fewer entries than threads, which they split by columns without prefetching).
    pub prefetches: bool,
}

/// Vectors of rows in the AVX-512 small kernels' whole-column block: real entries of exactly
/// this many 512-bit vectors of rows (f64 32, f32 64) run one `4 vectors x 6` block per six
/// columns, which reads each column of A, B and C whole and in address order, where the usual
/// `2 vectors x 12` blocks read half-columns of A and C side by side in twelve columns of B.
/// The caches do not tell them apart; memory does (one thread's reads stream at ~20 GB/s on
/// this guest, and the half-column pattern keeps fewer lines in flight). `engine_probe SHAPE
/// BATCH T small TYPE` before -> after, AMD EPYC Zen 4, GFLOP/s, alternated runs:
///
/// | entries | before | after | `auto` before (the `gemm` crate) |
/// |---|---|---|---|
/// | d 32^3 x 8192 (DRAM), 1 thread | 21.3-23.3 (6 runs) | 32.7-36.1 | - |
/// | d 32^3 x 8192 (DRAM), 2 threads | 29.1-46.6 (9 runs) | 35.4-70.2 | 59.4-62.4 |
/// | s 64x64x8 x 9830 (DRAM), 2 threads | 57.1-60.7 | 81.6-123.4 | 64.9-101.7 |
/// | s 64^3 x 4096 (DRAM), 2 threads | 106.9-120.4 (5 runs) | 120.1-144.3 | 121.0-144.0 |
/// | d 32x32x8 x 32768 (DRAM), 2 threads | 23.8-27.1 | 27.3-34.4 | 30.4-37.5 |
/// | d 32^3 x 32 (cache), 2 threads | 91.0 / 102.2 | 95.2 / 100.8 | - |
/// | s 64^3 x 16 (cache), 2 threads | 209.2 / 208.7 | 208.6 / 208.4 | - |
///
/// (rayon + one-thread OpenBLAS ran d 32^3 x 8192 at 64.7-65.6 the same hour.) Not at 64 f64
/// rows (two whole-column blocks per column: d 64^3 x 2048 DRAM 51.2 / 43.2 -> 50.1 / 51.8,
/// `auto` 51-65) or on AVX2 (four vectors and their accumulators do not fit 16 registers).
/// [`pick`] keeps these entries on the small kernels where its streaming rules would give
/// them to the `gemm` crate.
pub(crate) const WHOLE_COLUMN_VECTORS: usize = 4;

/// The row count of a whole-column block of `elem`-byte real elements on AVX-512
/// ([`WHOLE_COLUMN_VECTORS`] 512-bit vectors).
pub(crate) const fn whole_column_rows(elem: usize) -> usize {
    WHOLE_COLUMN_VECTORS * 64 / elem
}

/// Which of the native backend's engines `auto` gives an entry of `m x n x k` of a type of
/// either precision (complex: `cplx`) on `isa`. Every number below is from one run of
/// `tensorblas-bench sweep` on 2 threads, each engine forced on the same buffers (rows
/// `strided:native-<engine>` of `benches/results/xeon-avx512/sweep.csv`, Intel Xeon, AVX-512;
/// summary in `benches/results/cpu-xeon-avx512.md`), GFLOP/s:
///
/// - Real types, square up to 64 and thin products (`min(m, n) <= SMALL_MAX`,
///   `k <= THIN_K_MAX`): the small kernels (no packing). f32 cache 4/8/16/32: 23.6/57.6/88.6/158.6
///   (the best engine in each row), 64: 220 against the `gemm` crate's 229; thin 20x90000x300:
///   124 against 114-126. Single-thread probes (`examples/engine_probe`) agree: f32 16/32/64 small
///   76/110/137 against packed 27/62/86 and the `gemm` crate 42/64/83.
/// - Real, thin and deep (`min(m, n) <= SMALL_MAX`, `k > THIN_K_MAX`) on AVX-512: the packed
///   engine. 300x20x90000 f32 83-86 against the `gemm` crate's 33, f64 36 against 18; run 8
///   (`benches/results/xeon-avx512/run8-in-place/`): 300x20x90000 f32 139 against 43,
///   20x300x90000 175 against 87. Except when both `m` and `n` are at most `SMALL_MAX` (a small
///   C over a deep sum, which the two threads split in two small halves that each read all of
///   A and B): the `gemm` crate, f32 64x64x4096 322 against packed 223 (run 8; 323 against 143
///   and 317 against 215 in two more runs that day), f64 147 against 115 (143 against 82; one
///   run 83 against 103), 32x32x2048 f64 68 against 46 (67 against 46).
/// - Everything else: the `gemm` crate, built with its AVX-512 kernels (`x86-v4`; dispatched at
///   run time, AVX2 kernels on AVX2 machines). f32 128/256/512 cache 258/303/313 against packed
///   184/235/~238; f64 121/148/163 against 77/109/~124; one GEMM of 1024/2048 (`--sizes
///   1024,2048 --regime cache`): f32 317/327 against packed 265/256 and one OpenBLAS call
///   306/309.
/// - Complex, thin and deep on AVX-512 with A in place for the packed engine (more than
///   `SMALL_MAX` rows and at most `DIRECT_A_MAX_COLS` columns in its orientation, `k >
///   THIN_K_MAX`): the packed engine, which then reads A in place
///   (`packed::entry_complex_a_in_place`). `engine_probe ... 2 {packed,gemm-crate}`, Zen 4,
///   GFLOP/s: 300x20x90000 c 124.1 against 87.4 (1m with A packed: 44.1), z 68.3 against 63.8
///   (28.7). (Not taken for k <= THIN_K_MAX: 300x20x300 x 16 c 197 against 190 but z 90 against
///   108; 128x16x128 x 256 c 160 against 134, z 73 against 64.)
/// - Real on AVX-512, a call of at least `STREAM_CALL_BYTES`, shallow (`k <= SHALLOW_K`) with
///   a C of at least `SHALLOW_MIN` on each side (and `SHALLOW_SIDE_BYTES` on one), or f64 with
///   every extent in `MID_F64`: the `gemm` crate (see there).
/// - Complex on AVX-512 with A in place for the packed engine and at least
///   `COMPLEX_STREAM_A_BYTES` of it: the packed engine (see there).
/// - Complex on AVX-512 (on AVX2 complex double only), thin, a call of fewer entries than threads,
///   `COMPLEX_SPLIT_MIN..=COMPLEX_SPLIT_MAX` multiply-adds per entry: the small kernels, which
///   split the entry over the threads (not c32 on AVX2: its complex kernels, run on the Zen 4 as
///   `engine_probe ... avx2`, were slower than the `gemm` crate there, c 128x8x128 64 against
///   109 before run 5's complex k loop, 156-181 against 173-207 in run 7; see
///   `COMPLEX_SPLIT_MIN`; the sweep's z 128x8x128 and 8x128x128 cache rows, one entry each, had
///   `auto` at 0.64 and 0.59 of the small kernels in `cpu-zen4.md` run 3).
/// - Complex: the small kernels up to `COMPLEX_SMALL_MAX` (32) in every extent, and complex
///   double with `k <= SHALLOW_K` up to `SMALL_MAX` rows and columns (run 3: c 4/8
///   cache 18.9/59.3 against the `gemm` crate's 1.5/26.8; 16 and 32: see `COMPLEX_SMALL_MAX`),
///   the `gemm` crate above (thin 20x90000x300 c 189 against 112 in run 2). Our packed
///   engine's 1m path (A packed) trails it everywhere; its A-in-place path leads in the thin, deep case above.
/// - Complex on AVX-512 when the small kernels prefetch (`Traits::prefetches`, entries from
///   memory) and take the product without row slabs (at most `SMALL_MAX` rows in their
///   orientation, `Traits::small_rows`), `k > SHALLOW_K` (complex double: at most
///   [`COMPLEX_PREFETCH_Z_MAX_K`]): the small kernels, which since they prefetch lead the `gemm`
///   crate there. Square ones, `engine_probe SHAPE BATCH 2 {small,gemm-crate} T` (separate
///   processes, alternated), AMD EPYC Zen 4, GFLOP/s small / `gemm` crate: z 64^3 x
///   2048 68.6/63.6, 71.7/66.0, 85.7/71.8, 85.1/69.8 (1 thread 41.3/37.3, 42.4/35.2); z 64^3 x
///   200 (39 MB, the smallest call) 92.1/77.8, 94.2/73.8; z 56^3 x 2048 82.0/63.9, 80.3/66.2; z
///   48^3 x 4096 68.3/60.5, 66.1/55.0; z 64x64x32 x 3000 66.3/56.6, 67.7/38.1; z 32x64x64 x 4096
///   76.6/69.6, 74.7/67.9; z 64x32x64 76.7/64.1, 74.9/64.8; c 64^3 x 2048 133.1/121.7,
///   126.4/124.3, 150.2/136.1, 151.3/143.2; c 56^3 154.7/142.9, 158.3/143.9; c 32x64x64
///   164.1/143.2, 165.5/137.9; c 64x64x32 123.3/114.2, 125.2/113.7; level: c 48^3 x 4096
///   133.2/120.4, 145.9/144.6, c 40^3 141.7/135.1, 119.8/142.5, c 64x32x64 154.3/148.1,
///   151.2/152.1, z 40^3 71.7/59.9, 62.9/63.4. Not complex float at `k <= SHALLOW_K` (c 64x64x8
///   x 9830 73.6/70.3, 77.5/124.9; 64x64x16 x 6000 132.6/153.3, 126.6/149.4; complex double
///   there is the small kernels' already, z 64x64x16 58.6/46.3). Thin ones, `engine_probe
///   SHAPE BATCH 2 gemm-crate,small T` (the two alternated in one process), best GFLOP/s `gemm`
///   crate / small: c 8x128x128 x 1365 97.9/126.9 (sweep run 14: `auto`, the `gemm` crate then,
///   89.7 against the small kernels' 124.2), z 60.9/73.3; 16x128x128 x 1024 c 87.3/109.4, z
///   78.6/81.2; 32x128x128 x 512 c 173.2/199.5, z 86.5/86.5; 64x128x128 x 512 c 187.5/199.1, z
///   90.1/97.0; 32x256x64 x 1024 c 161.0/198.1, z 78.8/87.8; 64x512x64 x 512 c 181.2/195.3, z
///   81.9/95.9; 8x256x256 x 256 c 136.4/153.7, 129.8/149.7, z 80.9/77.6, 82.3/82.3; 16x512x256 x
///   256 c 161.6/207.7, z 95.6/88.7; 32x64x512 x 512 c 192.7/196.9, z 94.1/84.8. Not with row
///   slabs (128x8x128 x 1365 c 72.8/69.3, z 44.4/32.2; 128x32x128 x 512 c 137.2/129.6, z
///   66.0/62.0).
///
/// AVX2 machines: the small kernels up to 64 (with AVX2 on the Xeon, one thread: f32 16/32/64
/// small 49/62/86 against the `gemm` crate 36/67/85), the `gemm` crate above (f32 128/256
/// 94/104 against packed 85/96), f64 calls that stream from memory from 49 in every extent too
/// ([`AVX2_STREAM_F64_MIN`]); the packed engine for the slabs below and for thin, deep products
/// (as on AVX-512) when it reads A in place and A streams (`Traits::packed_a_streams`):
/// `engine_probe 300x20x90000 1 2 {auto,packed} {s,d} avx2` before this rule, Zen 4, GFLOP/s,
/// the `gemm` crate / packed: s 42.6-42.7 / 85.9-93.8, d 21.5-25.6 / 40.8-60.0 (20x300x90000,
/// A not in place: the `gemm` crate 66.8-68.3 against packed 20.9-41.9, left to it). Complex on
/// AVX2 follows the rules above that are not AVX-512's alone, and c32 thin, deep products whose
/// A streams go to the packed engine (see the code); measured on the Zen 4 running the AVX2
/// kernels (`cpu-zen4.md` run 7), not yet on an AVX2-only machine. Since run 8, on AVX2 also:
/// f32 products of at most [`AVX2_NARROW_ROWS`] rows whose B streams, and complex products of at
/// most [`AVX2_COMPLEX_STREAM_COLS`] columns whose A streams, to the packed engine (see there).
///
/// Exception (`Traits::slab_bytes`): a thin product the small kernels would run as tall row
/// slabs whose slabbed operand, over the whole batch, is at least [`SLAB_STREAM_BYTES`] goes to
/// the `gemm` crate (see there); on AVX-512, from [`SLAB_PACKED_BYTES`] (f64: from
/// [`SLAB_PACKED_F64_THREAD_BYTES`] per thread), to the packed engine
/// when it reads A in place (`Traits::packed_a_in_place`; f32 only from
/// [`SLAB_PACKED_F32_MIN_ROWS`] rows); on AVX2 likewise (any f32 rows) when A is also at least
/// [`STREAM_BYTES`] per thread (`Traits::packed_a_streams`: below, the AVX2 kernels pack A and
/// trail the `gemm` crate). Zen 4 running the AVX2 kernels (`TBLAS_ISA=avx2 ENG=auto|packed
/// MODES=01 ttm_probe`, 2 threads, two runs, ms, modes 0/1, `auto` being the `gemm` crate there): 300, 20, f32
/// 11.4/10.4 against 7.6-9.8/7.4; f64 23.1-23.2/20.8-21.0 against 16.8-17.0/15.4-15.8; 200, 16,
/// f64 (64 MB) 7.5-7.7/6.8-6.9 against 5.6/5.1; but 200, 16, f32 (32 MB, 16 MB per thread: A
/// packed) 3.6-4.3/3.0-5.1 against 5.7-5.9/7.2-7.4, and 160, 16, f64 (33 MB) level (4.5-5.1/3.6-4.4
/// against 4.2-5.4/3.5-3.8). Sweep row 300x20x90000 (one slab of 108 MB): s 125 against 62, d 56
/// against 22-24. The three mode products of a C-order
/// `I^3` tensor with an `I x R` factor (`ENG=small|packed|gemm ttm_probe I R`, Zen 4, 2 threads,
/// ms, modes 0/1/2):
///
/// | I, R, type (operand) | small | packed | `gemm` crate |
/// |---|---|---|---|
/// | 100, 10, f64 (8 MB) | 0.21/0.20/0.33 | 0.25/0.27/0.32 | 0.25/0.61/0.34 |
/// | 160, 16, f32 (16 MB) | 0.76/0.78/0.67 | 0.91/0.62/0.66 | 0.71/0.61/0.69 |
/// | 160, 16, f64 (33 MB) | 3.65/3.00/1.96 | 1.98/1.59/2.14 | 2.79/2.57/2.47 |
/// | 200, 16, f32 (32 MB) | 3.68/2.89/2.02 | 1.93/1.53/1.77 | 2.52/2.56/2.19 |
/// | 200, 16, f64 (64 MB) | 9.70/8.10/4.70 | 4.28/4.42/2.78 | 6.06/5.53/5.41 |
/// | 300, 20, f32 (108 MB) | 19.0/18.4/12.0 | 9.40/9.61/8.95 | 13.6/11.2/13.7 |
/// | 300, 20, f64 (216 MB) | 40.1/38.2/16.2 | 19.5/17.7/14.2 | 26.7/22.5/17.3 |
///
/// A second run (best of three interleaved runs of each engine, the host slower that hour): 100
/// f32 small 0.14/0.13/0.17, packed 0.13/0.19/0.15; f64 0.27/0.26/0.33 and 0.26/0.28/0.30; 160
/// f32 2.15/1.47/1.01 and 0.88/0.62/0.69; f64 6.82/4.46/2.61 and 2.70/2.25/2.47.
///
/// Exception (`Traits::packed_b_streams`, AVX-512): a real product whose B is at least
/// [`STREAM_BYTES`] per thread (the packed engine's own test for prefetching a B in place; until
/// run 8 over the call, which sent B of 16-32 MiB on two threads to the packed engine without its
/// prefetch: f32 8x128x128 x 450, 29.5 MB, packed 34-37 against the small kernels' 49-51
/// GFLOP/s, f64 x 200 38-52 against 44-61), with at most `DIRECT_B_MAX_ROWS` rows and `n, k >=
/// 64` (in the packed engine's orientation: mode 2 above, `R x I^2 x I` as C^T), goes to the
/// packed engine, whose in-place microkernel prefetches B as it streams. `engine_probe`,
/// 2 threads, AMD EPYC Zen 4, GFLOP/s small / packed / `gemm` crate: f32 20x90000x300
/// 84.6/130.8/57.3, f64 67.2/72.9/61.1; 8x128x128 x 2730 f32 34.7/66.2/39.3, f64
/// 18.0/48.3/28.6; 64^3 x 4096 f32 81.3/101.1/80.3, f64 42.3/44.6/47.1. (Left to the rules
/// above: 64x64x8 x 9830, k = 8: f32 49.7/73.7/81.3; 128x8x128: m = 128, `gemm` leads.) Since
/// the small kernels prefetch, not when they do for rows that are a multiple of
/// [`PREFETCH_SMALL_ROWS`] and a depth of at most `SMALL_MAX` (see there): those stay with
/// the rules above (64^3 x 4096 now: the small kernels, s 144-146 and d 62 against packed
/// 132-138 and 54).
pub(crate) fn pick(isa: Isa, cplx: bool, (m, n, k): (usize, usize, usize), t: Traits) -> CpuEngine {
    let avx512_real = isa == Isa::Avx512 && !cplx;
    let avx2_real = isa == Isa::Avx2 && !cplx;
    let (pm, pn, pk) = t.packed_mnk;
    if (avx512_real || (avx2_real && t.packed_a_streams))
        && t.packed_a_in_place
        && t.slab_bytes >= SLAB_PACKED_BYTES
        && (t.double || avx2_real || pm >= SLAB_PACKED_F32_MIN_ROWS)
    {
        return CpuEngine::Packed;
    }
    if avx512_real
        && t.double
        && t.packed_a_in_place
        && t.slab_thread_bytes >= SLAB_PACKED_F64_THREAD_BYTES
        && t.slab_run_stride_bytes >= SLAB_FAR_RUN_BYTES
    {
        return CpuEngine::Packed;
    }
    if !cplx && t.slab_bytes >= SLAB_STREAM_BYTES {
        return CpuEngine::GemmCrate;
    }
    let small_prefetch_leads = t.prefetches && pm % PREFETCH_SMALL_ROWS == 0 && pk <= SMALL_MAX;
    if avx512_real && t.packed_b_streams && pm <= DIRECT_B_MAX_ROWS && pn >= 64 && pk >= 64 && !small_prefetch_leads {
        return CpuEngine::Packed;
    }
    if avx2_real && !t.double && t.packed_b_streams && pm <= AVX2_NARROW_ROWS && pn >= 64 && AVX2_NARROW_K.contains(&pk)
    {
        return CpuEngine::Packed;
    }
    let thin = m.min(n) <= SMALL_MAX;
    // On AVX2 only when A streams (the AVX2 kernels read A in place only then), and either c32
    // thin and deep (300x20x90000 c, Zen 4 running the AVX2 kernels, three sweeps, `cpu-zen4.md`
    // run 7: packed 65-81 against the `gemm` crate's 56-60 GFLOP/s; not c64, packed 31-40 against
    // 42-53) or at most AVX2_COMPLEX_STREAM_COLS columns of a large A (c and z, run 8).
    let complex_a_in_place = match isa {
        Isa::Avx512 => pk > THIN_K_MAX || t.packed_a_bytes >= COMPLEX_STREAM_A_BYTES,
        Isa::Avx2 => {
            t.packed_a_streams
                && ((!t.double && pk > THIN_K_MAX)
                    || (pn <= AVX2_COMPLEX_STREAM_COLS && t.packed_a_bytes >= COMPLEX_STREAM_A_BYTES))
        }
        _ => false,
    };
    if cplx && complex_a_in_place && t.packed_a_in_place && pm > SMALL_MAX {
        return CpuEngine::Packed;
    }
    let work = m.saturating_mul(n).saturating_mul(k);
    if cplx
        && (isa == Isa::Avx512 || (isa == Isa::Avx2 && t.double))
        && t.few_entries
        && thin
        && k <= THIN_K_MAX
        && (COMPLEX_SPLIT_MIN..=COMPLEX_SPLIT_MAX).contains(&work)
    {
        return CpuEngine::Small;
    }
    if cplx {
        // Complex double entries with k <= SHALLOW_K and at most SMALL_MAX rows and columns go
        // to the small kernels in every regime: `engine_probe MxNxK BATCH 2
        // {small,gemm-crate} z`, cache and dram batches as for SHALLOW_K: 64x64x8 88.9/85.3
        // and 47.3/37.0, 64x64x16 100.3/96.9 and 56.8/51.8, 48x48x8 79.5/74.4 and 42.5/39.8,
        // 64x32x8 86.8/83.9 and 42.7/35.0 (sweep run 5: z 64x64x8 dram small 47.8, `gemm`
        // crate 39.0, (b) 46.5). Not complex float: c 64x64x8 179.2/173.3 and 101.4/135.4.
        if isa == Isa::Avx512
            && t.prefetches
            && (1..=SMALL_MAX).contains(&t.small_rows)
            && k > SHALLOW_K
            && (!t.double || k <= COMPLEX_PREFETCH_Z_MAX_K)
        {
            // From memory, the prefetching small kernels lead (see the doc above).
            return CpuEngine::Small;
        }
        return if m.max(n).max(k) <= COMPLEX_SMALL_MAX || (t.double && k <= SHALLOW_K && m.max(n) <= SMALL_MAX) {
            CpuEngine::Small
        } else {
            CpuEngine::GemmCrate
        };
    }
    let elem = if t.double { 8 } else { 4 };
    // The small kernels' whole-column block streams these better than the `gemm` crate.
    let whole_columns = avx512_real && t.small_rows == whole_column_rows(elem);
    let streams = avx512_real && t.call_bytes >= STREAM_CALL_BYTES && !whole_columns;
    // f64 entries whose C the small kernels stream through the scratch lead the `gemm` crate
    // (see SHALLOW_K).
    let small_streams = t.streams_c && t.double && stream_c_scratch(m, n, k);
    if streams && !small_streams && k <= SHALLOW_K && m.min(n) >= SHALLOW_MIN && m.max(n) * elem >= SHALLOW_SIDE_BYTES {
        return CpuEngine::GemmCrate;
    }
    if streams && t.double && [m, n, k].iter().all(|x| MID_F64.contains(x)) {
        return CpuEngine::GemmCrate;
    }
    if avx2_real && t.double && t.call_bytes >= STREAM_CALL_BYTES && m.min(n).min(k) > AVX2_STREAM_F64_MIN {
        return CpuEngine::GemmCrate;
    }
    match (thin, k <= THIN_K_MAX, isa) {
        (true, true, _) => CpuEngine::Small,
        (true, false, Isa::Avx512) if m.max(n) > SMALL_MAX => CpuEngine::Packed,
        (true, false, Isa::Avx2) if m.max(n) > SMALL_MAX && t.packed_a_in_place && t.packed_a_streams => {
            CpuEngine::Packed
        }
        _ => CpuEngine::GemmCrate,
    }
}

/// With a vendor BLAS compiled in, whether `auto` gives an entry of `m x n x k` to the vendor
/// (else to the native backend).
///
/// AVX-512: the native backend at every size. With the spinning team (`super::team`) it leads
/// rayon + single-threaded OpenBLAS per entry (what the vendor backend runs) in every cache row
/// of `tensorblas-bench sweep --sizes 8,16,32,64,128 --shapes 128:8:128 --regime cache` (AMD
/// EPYC Zen 4, 2 threads, GFLOP/s native / vendor): s 16/32/64/128 130/145, 167/145, 195/178,
/// 216/176; d 74/55, 90/79, 102/88, 95/80; c 64 217/161, 128 207/177; z 32 105/68, 64 107/71,
/// 128 101/82; 128x8x128 s 183/82, d 94/41. One GEMM of 256-2048 (`cpu-zen4.md`, `large/`):
/// native 0.97-1.21x one multithreaded OpenBLAS call; on the Xeon (`cpu-xeon-avx512.md`) 1.15-2.4x.
/// (The vendor leads some DRAM rows at 32-64, e.g. d 32^3 81 against 52: memory-bound rows
/// where the engines' difference is their prefetching, not tuned here.)
///
/// AVX2 with OpenBLAS: the native backend while some extent is at most
/// [`AVX2_VENDOR_MIN_EXTENT`] (every square size up to 128 and every thin product), OpenBLAS
/// when all three are larger. Measured on the Zen 4 running the AVX2 kernels (`TBLAS_ISA=avx2`),
/// OpenBLAS on its Haswell kernels (`OPENBLAS_CORETYPE=Haswell`, which its Zen 2 target runs)
/// and the `gemm` crate built without `x86-v4` (its AVX2 kernels, as on an AVX2 machine): `sweep`
/// of `cpu-zen4.md`'s run 7, 2 threads, GFLOP/s native / the OpenBLAS backend: cache s 16/32/64
/// 109/26, 148/71, 152/125, d 76/24, 73/49, 71/63, c 64 162/137, z 32 67/61; 300x20x90000 s
/// 125/62 (with the slab rule of [`pick`]), 20x90000x300 d 55/28; at 128 level (s cache 150/155,
/// d dram 75/77), from 256 the vendor (d 256^3 cache 56-65/77, 2048^3 56-72/94-99, s 256^3
/// 149-173/176-199). Complex thin, deep products (a side over `SMALL_MAX`, the other at most,
/// `k > THIN_K_MAX`) go to OpenBLAS too: 300x20x90000 c 101-115 against the native 59-61 (the
/// packed engine, which the default build takes there for c32, 65-81), z 58-63 against 50-52.
/// (The limit before, 8 for f32/f64 from the first Zen 2 measurement with the small kernels
/// alone, sent these products to OpenBLAS at 0.2-0.6x the native backend.)
///
/// MKL on AVX2, and any vendor with the portable kernels: not re-measured since the packed
/// engine and the team; the limits measured on the Zen 5 with the small kernels alone stay (own
/// kernels 2-5x OpenBLAS at 4-8 for f32/f64 and level at 16, c32 ahead up to 32, c64 up to 16;
/// MKL slower than the own kernels up to 64 for every type there): the native backend while
/// every extent is at most 8 (f32, f64), 32 (c32), 16 (c64) with OpenBLAS, 64 with MKL.
pub(crate) fn vendor_runs(vendor: CpuBackend, dt: DataType, isa: Isa, (m, n, k): (usize, usize, usize)) -> bool {
    if isa == Isa::Avx2 && vendor == CpuBackend::OpenBlas {
        let thin_deep_complex = real_of(dt).1 && k > THIN_K_MAX && m.min(n) <= SMALL_MAX && m.max(n) > SMALL_MAX;
        return m.min(n).min(k) > AVX2_VENDOR_MIN_EXTENT || thin_deep_complex;
    }
    let limit = match (isa, vendor, dt) {
        (Isa::Avx512, _, _) => usize::MAX,
        (_, CpuBackend::OpenBlas, DataType::R32F | DataType::R64F) => 8,
        (_, CpuBackend::OpenBlas, DataType::C32F) => 32,
        (_, CpuBackend::OpenBlas, DataType::C64F) => 16,
        _ => SMALL_MAX,
    };
    m.max(n).max(k) > limit
}

/// See [`vendor_runs`]: on AVX2 with OpenBLAS, products with an extent at most this stay native.
pub(crate) const AVX2_VENDOR_MIN_EXTENT: usize = 128;

/// The real type's size in bytes and whether the type is complex.
pub(crate) const fn real_of(dt: DataType) -> (usize, bool) {
    match dt {
        DataType::R32F => (4, false),
        DataType::R64F => (8, false),
        DataType::C32F => (4, true),
        DataType::C64F => (8, true),
    }
}

/// The packed engine's block sizes for one instruction set and type, in elements of that type
/// (a complex element counts once): the microkernel's `mr x nr` tile, the depth `kc` of a packed
/// block, the rows `mc` of a packed A block and the columns `nc` of a packed B panel. Tests use
/// them to probe the edges of every block; the sweep records them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedBlocking {
    /// Rows of the microkernel's tile.
    pub mr: usize,
    /// Columns of the microkernel's tile.
    pub nr: usize,
    /// Depth of one packed block.
    pub kc: usize,
    /// Rows of one packed block of A.
    pub mc: usize,
    /// Columns of one packed panel of B.
    pub nc: usize,
}

impl Isa {
    /// The packed engine's block sizes on this instruction set for `dt`.
    pub fn packed_blocking(self, dt: DataType) -> PackedBlocking {
        let (bytes, cplx) = real_of(dt);
        let bl = blocking(self, bytes);
        let w = if cplx { 2 } else { 1 };
        PackedBlocking {
            mr: bl.mr() / w,
            nr: bl.nr,
            kc: bl.kc / w,
            mc: bl.mc / w,
            nc: bl.nc,
        }
    }
}
