//! Writing C past the caches: when a call's C is too large to stay in them and is not read
//! (`beta == 0`), the small kernels write it with non-temporal stores (`Simd::store_nt`).
//!
//! An ordinary store to a line that is not in the caches first reads the line from memory (read
//! for ownership), so a C written with them costs twice its size in DRAM traffic; a
//! non-temporal store writes the line without reading it. Non-temporal stores must come in
//! address order, interleaved with the loads, to pay: written as the kernels produce the
//! columns, not gathered and copied in bursts. On the 2-vCPU Zen 4, two threads reading two
//! bytes per byte written at 16 bytes past a line boundary (where `malloc` and NumPy put large
//! buffers) moved 33-35 GB/s with ordinary stores, 43-45 with 128-bit non-temporal ones, and
//! 32-40 computing runs of 0.5-16 KiB into a scratch then copying each with whole-line
//! non-temporal stores (`benches/results/zen4/run11/bw3.c`).
//!
//! So a block that spans whole columns of C (one block of rows per entry: the column path, the
//! tiny path, blocks of as many rows as C) stores its registers non-temporally as it goes, at most
//! 8 vectors at a time (`tuning::STREAM_C_COLUMNS`: the column path takes an entry of more
//! columns in two passes over A, a block of more vectors writes C as usual); a
//! block that covers part of each column writes several columns' lines at once, which the
//! write-combining buffers do not hold (`bw4.c`: 11-13 GB/s against 13.4 ordinary, for six
//! 128-byte column pieces 1 KiB apart), so such an entry is computed into a scratch and copied
//! out in address order with [`copy`] (`engine_probe 64x64x8 2457 2 small z`: 40.7-46.4 ->
//! 49.1-51.0 GFLOP/s). See `tuning::STREAM_C_BYTES` for when C streams and the measurements,
//! `benches/results/cpu-zen4.md` run 11 for the probes.

use super::simd::Simd;

/// Copies `len` elements from `src` to `dst` with `S`'s non-temporal vector stores (the last
/// partial vector with an ordinary one). The caller issues [`fence`] before another thread may
/// read `dst`.
///
/// # Safety
/// `src` readable and `dst` writable for `len` elements, not overlapping; `S`'s instruction set
/// enabled.
#[inline(always)]
pub(super) unsafe fn copy<S: Simd>(src: *const S::R, dst: *mut S::R, len: usize) {
    let lanes = S::LANES;
    let full = len / lanes * lanes;
    // SAFETY: every vector lies inside the caller's ranges.
    unsafe {
        let mut i = 0;
        while i < full {
            S::store_nt(dst.add(i), S::load(src.add(i), lanes));
            i += lanes;
        }
        if full < len {
            S::store(dst.add(full), S::load(src.add(full), len - full), len - full);
        }
    }
}

/// Orders this thread's non-temporal stores before its later stores (they are weakly ordered):
/// issued once a thread's part of a call is done, before it reports it finished.
pub(super) fn fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of x86_64.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    }
}
