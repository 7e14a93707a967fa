//! The C-ABI fuzz harness: decodes arbitrary bytes into one call of an exported function
//! (`tblas_{s,d,c,z}gemm{,_batched,_strided_batched,_strided_batched_ex}`, `tblas_contract`,
//! `tblas_einsum`, `tblas_einsum_explain`) with arbitrary dimensions, leading dimensions, strides
//! (negative, zero, huge, overflowing), ops, batch counts, NULLs and aliasing, on buffers sized
//! exactly to what the call may touch (so AddressSanitizer sees any access beyond), and checks
//! the call against an independent oracle written from `docs/c-api.md` / `docs/contraction.md`:
//!
//! * GEMM family: the expected outcome (success, or the status and the argument positions that
//!   may be reported) is computed here; an accepted call must equal a naive loop bitwise (the
//!   values are small integers, so every order of summation is exact) and leave every element of
//!   C's buffer outside its extent untouched; a rejected call must leave C untouched and name
//!   the function in its message. A false acceptance and a false rejection are both findings.
//! * Contraction: a rejected call leaves C untouched; an accepted one equals a naive einsum
//!   over the same labels (which also catches an accepted aliasing C or inconsistent extents).
//! * Explain: never writes past `buf_len`, and NUL-terminates when it succeeds.
//!
//! A finding is a panic (libFuzzer reports it with the input). Used by the fuzz target
//! (`fuzz/fuzz_targets/c_abi.rs`) and, without instrumentation, by `tests/fuzz_corpus.rs`, which
//! replays the committed corpus in `cargo test`.

#![allow(clippy::too_many_arguments)]

use std::ffi::{c_void, CStr};
use std::ptr;
use std::sync::OnceLock;
use tensorblas::ffi::*;
use tensorblas::{Complex32, Complex64};

/// Outcome counters (for reports): GEMM rejected as expected, GEMM accepted and equal to the
/// oracle (with work), GEMM quick returns, skipped (valid but too large), contraction rejected,
/// contraction accepted and equal to the oracle, explain calls.
pub static STATS: [std::sync::atomic::AtomicUsize; 7] = [const { std::sync::atomic::AtomicUsize::new(0) }; 7];

fn count(i: usize) {
    STATS[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Largest operand span (elements) the harness allocates; a valid call needing more is skipped.
const CAP: i128 = 1 << 14;
/// Largest m*n*k*batch of a valid call that is run.
const WORK_CAP: i128 = 1 << 20;

/// Bytes of the fuzz input, read front to back; zeros once exhausted.
struct R<'a> {
    d: &'a [u8],
    i: usize,
}

impl R<'_> {
    fn u8(&mut self) -> u8 {
        let v = self.d.get(self.i).copied().unwrap_or(0);
        self.i += 1;
        v
    }
    fn below(&mut self, n: u32) -> u32 {
        self.u8() as u32 % n
    }
    fn chance(&mut self, in256: u8) -> bool {
        self.u8() < in256
    }
    /// Mostly small, sometimes one of the values that break naive arithmetic.
    fn special(&mut self) -> i64 {
        const S: [i64; 12] = [
            -1,
            -7,
            i32::MAX as i64,
            i32::MAX as i64 + 1,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
            1 << 31,
            1 << 40,
            1 << 62,
            (1 << 33) + 3,
            -(1 << 45),
        ];
        S[self.below(S.len() as u32) as usize]
    }
    /// A dimension: 0..=6 mostly, up to 40 sometimes, a special value rarely.
    fn dim(&mut self) -> i64 {
        match self.u8() {
            0..=219 => self.below(7) as i64,
            220..=244 => 7 + self.below(34) as i64,
            _ => self.special(),
        }
    }
    /// A small signed stride in -8..=8, or a special value rarely.
    fn stride(&mut self) -> i64 {
        match self.u8() {
            0..=239 => self.below(17) as i64 - 8,
            _ => self.special(),
        }
    }
    /// Small integer values (exact arithmetic in every type).
    fn val(&mut self) -> i32 {
        self.below(9) as i32 - 4
    }
}

/// Element types: arithmetic for the oracle and the four typed entry points.
trait El: Copy + PartialEq + std::fmt::Debug + 'static {
    const DT: tblas_datatype;
    fn from_i(re: i32, im: i32) -> Self;
    fn from_f(re: f64) -> Self;
    fn nan() -> Self;
    fn zero() -> Self {
        Self::from_i(0, 0)
    }
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn conj(self) -> Self;
    fn is_zero(self) -> bool;
    fn bits(self) -> (u64, u64);
    fn from_bits_of(b: (u64, u64)) -> Self;
    unsafe fn gemm(h: *mut tblas_handle, g: &G<Self>) -> tblas_status;
}

/// One GEMM-family call, all arguments raw.
struct G<T> {
    fam: u32,
    ta: i32,
    tb: i32,
    m: i64,
    n: i64,
    k: i64,
    alpha: *const T,
    beta: *const T,
    a: *const T,
    b: *const T,
    c: *mut T,
    pa: *const *const T,
    pb: *const *const T,
    pc: *const *mut T,
    /// (rs, cs, bs) per operand; in the ld forms rs = 1 and cs = ld.
    sa: [i64; 3],
    sb: [i64; 3],
    sc: [i64; 3],
    batch: i64,
}

macro_rules! real_el {
    ($t:ty, $dt:expr, $g:ident, $gb:ident, $gs:ident, $gx:ident) => {
        impl El for $t {
            const DT: tblas_datatype = $dt;
            fn from_i(re: i32, _: i32) -> Self {
                re as $t
            }
            fn from_f(re: f64) -> Self {
                re as $t
            }
            fn nan() -> Self {
                <$t>::NAN
            }
            fn add(self, o: Self) -> Self {
                self + o
            }
            fn mul(self, o: Self) -> Self {
                self * o
            }
            fn conj(self) -> Self {
                self
            }
            fn is_zero(self) -> bool {
                self == 0.0
            }
            fn bits(self) -> (u64, u64) {
                (self.to_bits() as u64, 0)
            }
            fn from_bits_of(b: (u64, u64)) -> Self {
                <$t>::from_bits(b.0 as _)
            }
            unsafe fn gemm(h: *mut tblas_handle, g: &G<Self>) -> tblas_status {
                // SAFETY: the harness passes pointers valid for what the oracle says the call
                // may touch (or dangling/NULL ones the call must reject or not reference).
                unsafe {
                    match g.fam {
                        0 => $g(
                            h, g.ta, g.tb, g.m, g.n, g.k, g.alpha, g.a, g.sa[1], g.b, g.sb[1], g.beta, g.c, g.sc[1],
                        ),
                        1 => $gb(
                            h, g.ta, g.tb, g.m, g.n, g.k, g.alpha, g.pa, g.sa[1], g.pb, g.sb[1], g.beta, g.pc, g.sc[1],
                            g.batch,
                        ),
                        2 => $gs(
                            h, g.ta, g.tb, g.m, g.n, g.k, g.alpha, g.a, g.sa[1], g.sa[2], g.b, g.sb[1], g.sb[2],
                            g.beta, g.c, g.sc[1], g.sc[2], g.batch,
                        ),
                        _ => $gx(
                            h, g.ta, g.tb, g.m, g.n, g.k, g.alpha, g.a, g.sa[0], g.sa[1], g.sa[2], g.b, g.sb[0],
                            g.sb[1], g.sb[2], g.beta, g.c, g.sc[0], g.sc[1], g.sc[2], g.batch,
                        ),
                    }
                }
            }
        }
    };
}
real_el!(
    f32,
    0,
    tblas_sgemm,
    tblas_sgemm_batched,
    tblas_sgemm_strided_batched,
    tblas_sgemm_strided_batched_ex
);
real_el!(
    f64,
    1,
    tblas_dgemm,
    tblas_dgemm_batched,
    tblas_dgemm_strided_batched,
    tblas_dgemm_strided_batched_ex
);

macro_rules! complex_el {
    ($t:ty, $r:ty, $ct:ty, $dt:expr, $g:ident, $gb:ident, $gs:ident, $gx:ident) => {
        impl El for $t {
            const DT: tblas_datatype = $dt;
            fn from_i(re: i32, im: i32) -> Self {
                <$t>::new(re as $r, im as $r)
            }
            fn from_f(re: f64) -> Self {
                <$t>::new(re as $r, 0.0)
            }
            fn nan() -> Self {
                <$t>::new(<$r>::NAN, <$r>::NAN)
            }
            fn add(self, o: Self) -> Self {
                self + o
            }
            fn mul(self, o: Self) -> Self {
                self * o
            }
            fn conj(self) -> Self {
                <$t>::conj(&self)
            }
            fn is_zero(self) -> bool {
                self.re == 0.0 && self.im == 0.0
            }
            fn bits(self) -> (u64, u64) {
                (self.re.to_bits() as u64, self.im.to_bits() as u64)
            }
            fn from_bits_of(b: (u64, u64)) -> Self {
                <$t>::new(<$r>::from_bits(b.0 as _), <$r>::from_bits(b.1 as _))
            }
            unsafe fn gemm(h: *mut tblas_handle, g: &G<Self>) -> tblas_status {
                let (al, be) = (g.alpha as *const $ct, g.beta as *const $ct);
                let (a, b, c) = (g.a as *const $ct, g.b as *const $ct, g.c as *mut $ct);
                let (pa, pb, pc) = (
                    g.pa as *const *const $ct,
                    g.pb as *const *const $ct,
                    g.pc as *const *mut $ct,
                );
                // SAFETY: as for the real types; num-complex's layout is the C struct's.
                unsafe {
                    match g.fam {
                        0 => $g(
                            h, g.ta, g.tb, g.m, g.n, g.k, al, a, g.sa[1], b, g.sb[1], be, c, g.sc[1],
                        ),
                        1 => $gb(
                            h, g.ta, g.tb, g.m, g.n, g.k, al, pa, g.sa[1], pb, g.sb[1], be, pc, g.sc[1], g.batch,
                        ),
                        2 => $gs(
                            h, g.ta, g.tb, g.m, g.n, g.k, al, a, g.sa[1], g.sa[2], b, g.sb[1], g.sb[2], be, c, g.sc[1],
                            g.sc[2], g.batch,
                        ),
                        _ => $gx(
                            h, g.ta, g.tb, g.m, g.n, g.k, al, a, g.sa[0], g.sa[1], g.sa[2], b, g.sb[0], g.sb[1],
                            g.sb[2], be, c, g.sc[0], g.sc[1], g.sc[2], g.batch,
                        ),
                    }
                }
            }
        }
    };
}
complex_el!(
    Complex32,
    f32,
    tblas_complex_float,
    2,
    tblas_cgemm,
    tblas_cgemm_batched,
    tblas_cgemm_strided_batched,
    tblas_cgemm_strided_batched_ex
);
complex_el!(
    Complex64,
    f64,
    tblas_complex_double,
    3,
    tblas_zgemm,
    tblas_zgemm_batched,
    tblas_zgemm_strided_batched,
    tblas_zgemm_strided_batched_ex
);

/// The shared CPU handle (handles may be shared between calls and threads).
fn handle() -> *mut tblas_handle {
    static H: OnceLock<usize> = OnceLock::new();
    *H.get_or_init(|| {
        let mut h = ptr::null_mut();
        // SAFETY: out-pointer to a local.
        let st = unsafe { tblas_create(&mut h) };
        assert_eq!(st, 0, "tblas_create failed");
        h as usize
    }) as *mut tblas_handle
}

/// Runs one decoded call and checks it; panics on a finding.
pub fn run(data: &[u8]) {
    let mut r = R { d: data, i: 0 };
    match r.below(8) {
        0..=1 => gemm_case::<f32>(&mut r),
        2 => gemm_case::<f64>(&mut r),
        3 => gemm_case::<Complex32>(&mut r),
        4 => gemm_case::<Complex64>(&mut r),
        5 => contraction_case::<f64>(&mut r),
        6 => contraction_case::<Complex32>(&mut r),
        _ => explain_case(&mut r),
    }
}

/// Offset range (inclusive, in elements) of `sum_d i_d * s_d` over `0 <= i_d < e_d`; None when
/// an extent is 0.
fn offsets(dims: &[(i64, i64)]) -> Option<(i128, i128)> {
    let (mut lo, mut hi) = (0i128, 0i128);
    for &(e, s) in dims {
        if e <= 0 {
            return None;
        }
        let t = (e as i128 - 1) * s as i128;
        if t < 0 {
            lo = lo.saturating_add(t)
        } else {
            hi = hi.saturating_add(t)
        }
    }
    Some((lo, hi))
}

/// The library's address rule (docs/c-api.md: element addresses must not overflow the address
/// space): first byte >= 0, last byte <= usize::MAX, span <= isize::MAX bytes.
fn addresses_ok(base: usize, sz: usize, lohi: (i128, i128)) -> bool {
    let (lo, hi) = lohi;
    let sz = sz as i128;
    let first = (base as i128).saturating_add(lo.saturating_mul(sz));
    let last = (base as i128)
        .saturating_add(hi.saturating_mul(sz))
        .saturating_add(sz - 1);
    first >= 0 && last <= usize::MAX as i128 && hi.saturating_sub(lo).saturating_mul(sz) <= isize::MAX as i128
}

/// Exactly-sized storage for one operand, with the logical origin at `origin`.
struct Buf<T> {
    v: Vec<T>,
    origin: usize,
}

impl<T: El> Buf<T> {
    fn ptr(&self) -> *const T {
        self.v[self.origin..].as_ptr()
    }
    fn mptr(&mut self) -> *mut T {
        self.v[self.origin..].as_mut_ptr()
    }
    fn at(&self, off: i128) -> T {
        self.v[(self.origin as i128 + off) as usize]
    }
}

/// What an operand's layout means for a call: allocated, or too large (overflowing or huge).
enum Lay {
    /// Not referenced, or referenced with no element.
    Empty,
    Fits(i128, i128),
    Overflows,
    Huge,
}

fn layout(dims: &[(i64, i64)], sz: usize) -> Lay {
    match offsets(dims) {
        None => Lay::Empty,
        Some((lo, hi)) if hi.saturating_sub(lo) < CAP => Lay::Fits(lo, hi),
        Some(lohi) => {
            // A referenced operand this large gets a dangling base: the call must reject it if
            // its addresses overflow, and is skipped (too large to run) if they do not.
            if addresses_ok(DANGLING, sz, lohi) {
                Lay::Huge
            } else {
                Lay::Overflows
            }
        }
    }
}

/// Address given to operands that must not be touched (aligned for every type, never mapped).
const DANGLING: usize = 0x1000;

/// Positions per family: (alpha, A, B, beta, C, batch, [rs, cs, bs] of A, B, C; 0 = none).
struct Pos {
    alpha: i32,
    ptr: [i32; 3],
    st: [[i32; 3]; 3],
    beta: i32,
    batch: i32,
}

fn positions(fam: u32) -> Pos {
    match fam {
        0 | 1 => Pos {
            alpha: 7,
            ptr: [8, 10, 13],
            st: [[0, 9, 0], [0, 11, 0], [0, 14, 0]],
            beta: 12,
            batch: if fam == 1 { 15 } else { 0 },
        },
        2 => Pos {
            alpha: 7,
            ptr: [8, 11, 15],
            st: [[0, 9, 10], [0, 12, 13], [0, 16, 17]],
            beta: 14,
            batch: 18,
        },
        _ => Pos {
            alpha: 7,
            ptr: [8, 12, 17],
            st: [[9, 10, 11], [13, 14, 15], [18, 19, 20]],
            beta: 16,
            batch: 21,
        },
    }
}

/// Expected outcome: Ok, or (status, the positions that may be reported).
type Expect = Result<(), (i32, Vec<i32>)>;

fn inj(dims: &[(i64, i64)]) -> bool {
    // Brute force over the (small, allocated) index set.
    let mut seen = std::collections::HashSet::new();
    let total: i64 = dims.iter().map(|d| d.0).product();
    for mut idx in 0..total {
        let mut off = 0i128;
        for &(e, s) in dims {
            off += (idx % e) as i128 * s as i128;
            idx /= e;
        }
        if !seen.insert(off) {
            return false;
        }
    }
    true
}

fn gemm_case<T: El>(r: &mut R) {
    let fam = r.below(4);
    let ta = if r.chance(8) {
        r.special() as i32
    } else {
        r.below(3) as i32
    };
    let tb = if r.chance(8) {
        [3, -1, i32::MIN][r.below(3) as usize]
    } else {
        r.below(3) as i32
    };
    let (m, n, k) = (r.dim(), r.dim(), r.dim());
    let batch = if fam == 0 {
        1
    } else if r.chance(12) {
        r.special()
    } else {
        r.below(5) as i64
    };
    let alpha_v = [T::from_i(1, 0), T::from_i(0, 0), T::from_i(-2, 1), T::from_f(0.5)][r.below(4) as usize];
    let beta_v = [T::from_i(0, 0), T::from_i(1, 0), T::from_i(-1, 2), T::from_f(0.5)][r.below(4) as usize];
    let alpha_null = r.chance(6);
    let beta_null = r.chance(6);
    let null_handle = r.chance(3);
    let op_rows = |op: i32, a: i64, b: i64| if op == 0 { (a, b) } else { (b, a) };
    let (ra, ca) = op_rows(ta, m, k);
    let (rb, cb) = op_rows(tb, k, n);
    // Strides per operand.
    let mut strides = |rows: i64, cols: i64| -> [i64; 3] {
        let mut s = if fam == 3 {
            match r.below(4) {
                0 => [1, rows.max(1).saturating_add(r.below(2) as i64), 0],
                1 => [cols.max(1).saturating_add(r.below(2) as i64), 1, 0],
                _ => [r.stride(), r.stride(), 0],
            }
        } else {
            let ld = match r.u8() {
                0..=199 => rows.max(1).saturating_add(r.below(3) as i64),
                200..=239 => rows.saturating_sub(1),
                _ => r.special(),
            };
            [1, ld, 0]
        };
        if fam >= 1 {
            let packed = s[1].saturating_mul(cols.max(1));
            s[2] = match r.below(6) {
                0 | 1 => packed,
                2 => 0,
                3 => rows.max(1),
                4 => r.stride(),
                _ => packed.saturating_add(r.below(4) as i64),
            };
        }
        s
    };
    let sa = strides(ra, ca);
    let sb = strides(rb, cb);
    let sc = strides(m, n);
    let pos = positions(fam);
    let nb = batch.max(0);
    let ref_c = m > 0 && n > 0 && nb > 0;
    let ref_ab = ref_c && k > 0 && !alpha_null && !alpha_v.is_zero();
    // Per-entry dims (the batch dimension only for the strided families).
    let dims_of = |rows: i64, cols: i64, s: [i64; 3], all: bool| -> Vec<(i64, i64)> {
        let mut d = vec![(rows, s[0]), (cols, s[1])];
        if all && fam >= 2 {
            d.push((nb, s[2]));
        }
        d
    };
    let whole = |rows, cols, s: [i64; 3]| -> Vec<(i64, i64)> {
        // Everything the call may touch: for the pointer-array family the entries sit at
        // multiples of bs inside one allocation (so they may overlap, as the fuzzer likes).
        let mut d = vec![(rows, s[0]), (cols, s[1])];
        if fam >= 1 {
            d.push((nb, s[2]));
        }
        d
    };
    let sz = std::mem::size_of::<T>();
    let lay_a = if ref_ab {
        layout(&whole(ra, ca, sa), sz)
    } else {
        Lay::Empty
    };
    let lay_b = if ref_ab {
        layout(&whole(rb, cb, sb), sz)
    } else {
        Lay::Empty
    };
    let lay_c = if ref_c {
        layout(&whole(m, n, sc), sz)
    } else {
        Lay::Empty
    };
    // NULL choices for referenced pointers / arrays / entries.
    let null_a = r.chance(6);
    let null_b = r.chance(6);
    let null_c = r.chance(6);
    let null_entry = if fam == 1 && r.chance(10) {
        Some((r.below(3), r.below(4) as i64))
    } else {
        None
    };
    let alias = fam != 1 && r.chance(30);
    let arr_null = fam == 1 && r.chance(8);
    if fam == 1
        && (nb > 64
            || [&lay_a, &lay_b, &lay_c]
                .iter()
                .any(|l| matches!(l, Lay::Huge | Lay::Overflows)))
    {
        count(3);
        return; // pointer arrays are built only for small, allocatable batches
    }
    let alias_shift = r.below(64) as i128 - 8;

    // ---- Expected outcome, in argument order (docs/c-api.md "Semantics" 1).
    let expect: Expect = (|| {
        let bad = |p: i32| Err((7, vec![p]));
        if null_handle {
            return Err((1, vec![1]));
        }
        if !(0..=2).contains(&ta) {
            return bad(2);
        }
        if !(0..=2).contains(&tb) {
            return bad(3);
        }
        for (v, p) in [(m, 4), (n, 5), (k, 6)] {
            if v < 0 {
                return bad(p);
            }
        }
        if alpha_null {
            return bad(pos.alpha);
        }
        let group = |o: usize| -> Vec<i32> { pos.st[o].iter().copied().filter(|&p| p != 0).collect() };
        for (o, (rows, s, nul, lay)) in [(ra, sa, null_a, &lay_a), (rb, sb, null_b, &lay_b)]
            .into_iter()
            .enumerate()
        {
            let entry_null = null_entry.is_some_and(|(w, i)| w as usize == o && i < nb);
            if ref_ab && (nul || entry_null || (o == 0 && arr_null)) {
                return bad(pos.ptr[o]);
            }
            if fam <= 2 && s[1] < rows.max(1) {
                return bad(pos.st[o][1]);
            }
            if let Lay::Overflows = lay {
                return Err((7, group(o)));
            }
        }
        if beta_null {
            return bad(pos.beta);
        }
        let entry_null = null_entry.is_some_and(|(w, i)| w == 2 && i < nb);
        if ref_c && (null_c || entry_null) {
            return bad(pos.ptr[2]);
        }
        if fam <= 2 && sc[1] < m.max(1) {
            return bad(pos.st[2][1]);
        }
        if fam == 3 && ref_c {
            if m > 1 && sc[0] == 0 {
                return bad(pos.st[2][0]);
            }
            if n > 1 && sc[1] == 0 {
                return bad(pos.st[2][1]);
            }
            // In-matrix aliasing: only decidable by brute force when small.
            if (m as i128).saturating_mul(n as i128) <= CAP && !inj(&[(m, sc[0]), (n, sc[1])]) {
                return bad(pos.st[2][1]);
            }
        }
        if let Lay::Overflows = lay_c {
            return Err((7, group(2)));
        }
        if batch < 0 {
            return bad(pos.batch);
        }
        Ok(())
    })();
    // Remaining rules need the layouts to be small (they are, whenever the call is runnable).
    if expect.is_ok() && [&lay_a, &lay_b, &lay_c].iter().any(|l| matches!(l, Lay::Huge)) {
        count(3);
        return; // a valid call too large to run here
    }
    if expect.is_ok()
        && [m, n, k.max(1), nb]
            .iter()
            .fold(1i128, |acc, &v| acc.saturating_mul(v as i128))
            > WORK_CAP
    {
        count(3);
        return;
    }

    // ---- Buffers: exactly the span each referenced operand may touch.
    let mut vals = |lay: &Lay| -> Option<Buf<T>> {
        match lay {
            Lay::Fits(lo, hi) => {
                let len = (hi - lo + 1) as usize;
                let v = (0..len).map(|_| T::from_i(r.val(), r.val())).collect();
                Some(Buf {
                    v,
                    origin: (-lo) as usize,
                })
            }
            _ => None,
        }
    };
    let a_buf = vals(&lay_a);
    let b_buf = vals(&lay_b);
    let mut c_buf = vals(&lay_c);
    let beta_zero = beta_v.is_zero();
    if let Some(c) = c_buf.as_mut() {
        if beta_zero {
            c.v.iter_mut().for_each(|x| *x = T::nan()); // rule 4: C is not read when beta == 0
        }
    }
    // Alias mode: C inside A's allocation (strided families only), shifted.
    let mut shared: Option<(Buf<T>, usize)> = None;
    if alias {
        if let (Some(a), Some(c)) = (&a_buf, &c_buf) {
            let a_lo = a.origin as i128;
            let c_start = (a_lo + alias_shift - c.origin as i128).max(0) as usize; // where C's v[0] lands
            let len = a.v.len().max(c_start + c.v.len());
            let mut v = vec![T::zero(); len];
            v[..a.v.len()].copy_from_slice(&a.v);
            v[c_start..c_start + c.v.len()].copy_from_slice(&c.v);
            shared = Some((Buf { v, origin: a.origin }, c_start + c.origin));
        }
    }
    let (a_ptr, c_ptr): (*const T, *mut T) = match shared.as_mut() {
        Some((s, c_origin)) => {
            let base = s.v.as_mut_ptr();
            // SAFETY: both origins lie inside `s.v`.
            unsafe { (base.add(s.origin) as *const T, base.add(*c_origin)) }
        }
        None => (
            a_buf.as_ref().map_or(DANGLING as *const T, |b| b.ptr()),
            c_buf.as_mut().map_or(DANGLING as *mut T, |b| b.mptr()),
        ),
    };
    let b_ptr = b_buf.as_ref().map_or(DANGLING as *const T, |b| b.ptr());
    let a_ptr = if null_a { ptr::null() } else { a_ptr };
    let b_ptr = if null_b { ptr::null() } else { b_ptr };
    let c_ptr = if null_c { ptr::null_mut() } else { c_ptr };

    // Overlap rules on real addresses (strided: whole bounding ranges; arrays: per entry).
    let mut expect = expect;
    if expect.is_ok() && ref_c && nb > 1 {
        let ok = if fam >= 2 {
            inj(&[(m, sc[0]), (n, sc[1]), (nb, sc[2])])
        } else {
            entries_disjoint(m, n, sc, nb)
        };
        if !ok {
            expect = Err((7, vec![if fam == 1 { pos.ptr[2] } else { pos.st[2][2] }]));
        }
    }
    if expect.is_ok() && ref_ab && shared.is_some() {
        let sz = sz as i128;
        let range = |p: usize, dims: &[(i64, i64)]| {
            let (lo, hi) = offsets(dims).expect("nonempty");
            (p as i128 + lo * sz, p as i128 + hi * sz + sz - 1)
        };
        let mut hit = false;
        if fam != 1 {
            let cr = range(c_ptr as usize, &dims_of(m, n, sc, true));
            let ar = range(a_ptr as usize, &dims_of(ra, ca, sa, true));
            hit = cr.0 <= ar.1 && ar.0 <= cr.1;
        }
        if hit {
            expect = Err((7, vec![pos.ptr[2]]));
        }
    }

    // Pointer arrays for the batched family: entries at multiples of bs.
    let sz_us = sz as isize;
    let mk_arr = |p: *const T, bs: i64, w: u32| -> Vec<*const T> {
        (0..nb.min(64))
            .map(|i| {
                if null_entry == Some((w, i)) || p.is_null() {
                    ptr::null()
                } else {
                    (p as isize).wrapping_add((i as isize).wrapping_mul(bs as isize).wrapping_mul(sz_us)) as *const T
                }
            })
            .collect()
    };
    let arr_a = mk_arr(a_ptr, sa[2], 0);
    let arr_b = mk_arr(b_ptr, sb[2], 1);
    let arr_c: Vec<*mut T> = mk_arr(c_ptr, sc[2], 2).into_iter().map(|p| p as *mut T).collect();
    let alpha_p: *const T = if alpha_null { ptr::null() } else { &alpha_v };
    let beta_p: *const T = if beta_null { ptr::null() } else { &beta_v };
    let g = G {
        fam,
        ta,
        tb,
        m,
        n,
        k,
        alpha: alpha_p,
        beta: beta_p,
        a: a_ptr,
        b: b_ptr,
        c: c_ptr,
        pa: if arr_null || null_a {
            ptr::null()
        } else {
            arr_a.as_ptr()
        },
        pb: if null_b { ptr::null() } else { arr_b.as_ptr() },
        pc: if null_c { ptr::null() } else { arr_c.as_ptr() },
        sa,
        sb,
        sc,
        batch,
    };
    let before: Vec<(u64, u64)> = match (&shared, &c_buf) {
        (Some((s, _)), _) => s.v.iter().map(|x| x.bits()).collect(),
        (None, Some(c)) => c.v.iter().map(|x| x.bits()).collect(),
        _ => Vec::new(),
    };
    let h = if null_handle { ptr::null_mut() } else { handle() };
    // SAFETY: see `El::gemm`.
    let st = unsafe { T::gemm(h, &g) };
    let after: Vec<(u64, u64)> = match (&shared, &c_buf) {
        (Some((s, _)), _) => s.v.iter().map(|x| x.bits()).collect(),
        (None, Some(c)) => c.v.iter().map(|x| x.bits()).collect(),
        _ => Vec::new(),
    };
    let ctx = || {
        format!(
            "fam {fam} type {} ta {ta} tb {tb} m {m} n {n} k {k} batch {batch} sa {sa:?} sb {sb:?} sc {sc:?} \
             alpha_null {alpha_null} beta_null {beta_null} nulls {null_a}/{null_b}/{null_c} entry {null_entry:?} \
             arr_null {arr_null} alias {alias}/{alias_shift}",
            T::DT
        )
    };
    match expect {
        Err((want, at)) => {
            assert_eq!(st, want, "expected status {want} at {at:?}, got {st}: {}", ctx());
            let got = tblas_get_last_error_position();
            assert!(
                at.contains(&got),
                "expected position in {at:?}, got {got} ({}): {}",
                last_message(),
                ctx()
            );
            assert!(
                last_message().contains("gemm"),
                "message lacks the function: {}",
                last_message()
            );
            assert!(before == after, "C changed on an error: {}", ctx());
            count(0);
        }
        Ok(()) => {
            assert_eq!(
                st,
                0,
                "false rejection: status {st} at {} ({}): {}",
                tblas_get_last_error_position(),
                last_message(),
                ctx()
            );
            if !ref_c {
                assert!(before == after, "C changed by a quick return: {}", ctx());
                count(2);
                return;
            }
            // Oracle on C's own buffer (separate from A here: alias calls that run do not overlap).
            let c_origin = match &shared {
                Some((_, co)) => *co,
                None => c_buf.as_ref().expect("C allocated").origin,
            };
            let mut want: Vec<(u64, u64)> = before.clone();
            let opv = |op: i32, x: T| if op == 2 { x.conj() } else { x };
            for p in 0..nb {
                for j in 0..n {
                    for i in 0..m {
                        let mut acc = T::zero();
                        if ref_ab {
                            let (a, b) = (a_buf.as_ref().expect("A"), b_buf.as_ref().expect("B"));
                            for l in 0..k {
                                let (ai, aj) = if ta == 0 { (i, l) } else { (l, i) };
                                let (bi, bj) = if tb == 0 { (l, j) } else { (j, l) };
                                let av = a.at(off(sa, ai, aj, p));
                                let bv = b.at(off(sb, bi, bj, p));
                                acc = acc.add(opv(ta, av).mul(opv(tb, bv)));
                            }
                        }
                        let co = off(sc, i, j, p);
                        let old = T::from_bits_of(before[(c_origin as i128 + co) as usize]);
                        let v = if beta_zero {
                            alpha_v.mul(acc)
                        } else {
                            alpha_v.mul(acc).add(beta_v.mul(old))
                        };
                        want[(c_origin as i128 + co) as usize] = v.bits();
                    }
                }
            }
            for (idx, (wb, gb)) in want.iter().zip(&after).enumerate() {
                let (w, g) = (T::from_bits_of(*wb), T::from_bits_of(*gb));
                assert!(wb == gb || w == g, "C[{idx}] = {g:?}, oracle {w:?}: {}", ctx());
            }
            count(1);
        }
    }
}

/// Element offset of (i, j) in batch entry p.
fn off(s: [i64; 3], i: i64, j: i64, p: i64) -> i128 {
    i as i128 * s[0] as i128 + j as i128 * s[1] as i128 + p as i128 * s[2] as i128
}

/// Whether the entries of a pointer-array C (entry p at p*bs, m x n, ld) are pairwise disjoint.
fn entries_disjoint(m: i64, n: i64, s: [i64; 3], nb: i64) -> bool {
    let mut seen = std::collections::HashMap::new();
    for p in 0..nb {
        for j in 0..n {
            for i in 0..m {
                let o = off(s, i, j, p);
                if let Some(&q) = seen.get(&o) {
                    if q != p {
                        return false;
                    }
                }
                seen.insert(o, p);
            }
        }
    }
    true
}

fn last_message() -> String {
    let p = tblas_get_last_error_message();
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the library returns a NUL-terminated thread-local string.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// A random einsum spec over the letters a..f with up to 4 modes per tensor, its extents and
/// strides; also used for the explain case.
struct Spec {
    text: String,
    modes: [Vec<u8>; 3],
    ext: [Vec<i64>; 3],
    st: [Vec<i64>; 3],
    packed: [bool; 3],
}

fn spec(r: &mut R) -> Spec {
    let mut modes: [Vec<u8>; 3] = Default::default();
    for m in modes.iter_mut() {
        let n = r.below(5) as usize;
        *m = (0..n).map(|_| b'a' + r.below(6) as u8).collect();
    }
    // Keep C mostly well formed: distinct letters drawn from A and B.
    if r.chance(200) {
        let mut pool: Vec<u8> = modes[0].iter().chain(&modes[1]).copied().collect();
        pool.sort_unstable();
        pool.dedup();
        modes[2] = pool.into_iter().filter(|_| r.chance(150)).collect();
    }
    let mut text = String::new();
    text.push_str(std::str::from_utf8(&modes[0]).expect("ascii"));
    text.push(',');
    text.push_str(std::str::from_utf8(&modes[1]).expect("ascii"));
    text.push_str("->");
    text.push_str(std::str::from_utf8(&modes[2]).expect("ascii"));
    if r.chance(6) {
        // Malformed specs only (the oracle below reads the modes, not the text).
        text = ["", "ab", "a,b->c", "a1,b->a", "ab,bc->ac->", "aa,a->aa", "a,b,c->a"][r.below(7) as usize].to_string();
    }
    // One extent per letter mostly; sometimes inconsistent.
    let mut letter_ext = [0i64; 6];
    for e in letter_ext.iter_mut() {
        *e = if r.chance(4) {
            r.special()
        } else {
            1 + r.below(4) as i64 - i64::from(r.chance(10))
        };
    }
    let mut ext: [Vec<i64>; 3] = Default::default();
    let mut st: [Vec<i64>; 3] = Default::default();
    let mut packed = [false; 3];
    for t in 0..3 {
        ext[t] = modes[t]
            .iter()
            .map(|&c| {
                let e = letter_ext[(c - b'a') as usize];
                if r.chance(6) {
                    e.saturating_add(1)
                } else {
                    e
                }
            })
            .collect();
        packed[t] = r.chance(128);
        let mut acc = 1i64;
        st[t] = ext[t]
            .iter()
            .map(|&e| match r.u8() {
                _ if packed[t] => {
                    let s = acc;
                    acc = acc.saturating_mul(e.max(1));
                    s
                }
                0..=209 => {
                    let s = acc;
                    acc = acc.saturating_mul(e.max(1));
                    s
                }
                210..=249 => r.stride(),
                _ => r.special(),
            })
            .collect();
    }
    Spec {
        text,
        modes,
        ext,
        st,
        packed,
    }
}

fn contraction_case<T: El>(r: &mut R) {
    let s = spec(r);
    let use_contract = r.chance(100);
    let alpha = [T::from_i(1, 0), T::from_i(-2, 1), T::from_i(0, 0)][r.below(3) as usize];
    let beta = [T::from_i(0, 0), T::from_i(1, 0), T::from_i(3, -1)][r.below(3) as usize];
    // Buffers: exact spans; tensors too large (or overflowing) get a dangling base.
    let mut bufs: Vec<Option<Buf<T>>> = Vec::new();
    let mut huge = false;
    for t in 0..3 {
        let dims: Vec<(i64, i64)> = s.ext[t].iter().zip(&s.st[t]).map(|(&e, &st)| (e, st)).collect();
        if s.ext[t].iter().any(|&e| e < 0) {
            bufs.push(None);
            continue;
        }
        match offsets(&dims) {
            None if s.ext[t].is_empty() => bufs.push(Some(Buf {
                v: vec![T::from_i(r.val(), 1)],
                origin: 0,
            })),
            None => bufs.push(None),
            Some((lo, hi)) if hi.saturating_sub(lo) < CAP => {
                let v = (0..(hi - lo + 1)).map(|_| T::from_i(r.val(), r.val())).collect();
                bufs.push(Some(Buf {
                    v,
                    origin: (-lo) as usize,
                }));
            }
            Some(_) => {
                huge = true;
                bufs.push(None);
            }
        }
    }
    let total: i128 = s
        .ext
        .iter()
        .flatten()
        .fold(1i128, |acc, &e| acc.saturating_mul(e.max(1) as i128));
    if huge || total > WORK_CAP {
        // Dimensions this large are valid or not by rules this harness does not model: skip.
        count(3);
        return;
    }
    let ptr_of = |b: &Option<Buf<T>>| b.as_ref().map_or(DANGLING as *const T, |b| b.ptr());
    let (a_ptr, b_ptr) = (ptr_of(&bufs[0]), ptr_of(&bufs[1]));
    let c_origin = bufs[2].as_ref().map(|b| b.origin);
    let c_ptr = bufs[2].as_mut().map_or(DANGLING as *mut T, |b| b.mptr());
    let before: Vec<(u64, u64)> = bufs[2]
        .as_ref()
        .map_or(Vec::new(), |b| b.v.iter().map(|x| x.bits()).collect());
    let (ea, eb, ec) = (pad(&s.ext[0]), pad(&s.ext[1]), pad(&s.ext[2]));
    let (sa_p, sb_p, sc_p) = (pad(&s.st[0]), pad(&s.st[1]), pad(&s.st[2]));
    let sp = |t: usize| -> *const i64 {
        if s.packed[t] {
            ptr::null()
        } else {
            [&sa_p, &sb_p, &sc_p][t].as_ptr()
        }
    };
    let h = handle();
    let st = if use_contract {
        let lab = |t: usize| -> Vec<i32> { s.modes[t].iter().map(|&c| c as i32).collect() };
        let (la, lb, lc) = (lab(0), lab(1), lab(2));
        // SAFETY: arrays have nmode entries; buffers span the described tensors.
        unsafe {
            tblas_contract(
                h,
                T::DT,
                &alpha as *const T as *const c_void,
                a_ptr as *const c_void,
                la.len() as i32,
                la.as_ptr(),
                ea.as_ptr(),
                sp(0),
                b_ptr as *const c_void,
                lb.len() as i32,
                lb.as_ptr(),
                eb.as_ptr(),
                sp(1),
                &beta as *const T as *const c_void,
                c_ptr as *mut c_void,
                lc.len() as i32,
                lc.as_ptr(),
                ec.as_ptr(),
                sp(2),
            )
        }
    } else {
        let text = std::ffi::CString::new(s.text.clone()).expect("no NUL");
        // SAFETY: as above; the spec is NUL-terminated.
        unsafe {
            tblas_einsum(
                h,
                T::DT,
                text.as_ptr(),
                &alpha as *const T as *const c_void,
                a_ptr as *const c_void,
                ea.as_ptr(),
                sp(0),
                b_ptr as *const c_void,
                eb.as_ptr(),
                sp(1),
                &beta as *const T as *const c_void,
                c_ptr as *mut c_void,
                ec.as_ptr(),
                sp(2),
            )
        }
    };
    let after: Vec<(u64, u64)> = bufs[2]
        .as_ref()
        .map_or(Vec::new(), |b| b.v.iter().map(|x| x.bits()).collect());
    let ctx = || {
        format!(
            "{} contract {use_contract} ext {:?} st {:?} packed {:?}",
            s.text, s.ext, s.st, s.packed
        )
    };
    if st != 0 {
        assert!(st == 7 || st == 15, "status {st} ({}): {}", last_message(), ctx());
        assert!(before == after, "C changed on an error ({}): {}", last_message(), ctx());
        count(4);
        return;
    }
    // Accepted: the spec must be one this oracle understands, with consistent extents.
    let expect_text = format!(
        "{},{}->{}",
        std::str::from_utf8(&s.modes[0]).expect("ascii"),
        std::str::from_utf8(&s.modes[1]).expect("ascii"),
        std::str::from_utf8(&s.modes[2]).expect("ascii")
    );
    assert!(
        use_contract || s.text == expect_text,
        "accepted the malformed spec {:?}",
        s.text
    );
    let mut ext_of = [None::<i64>; 6];
    for t in 0..3 {
        for (&c, &e) in s.modes[t].iter().zip(&s.ext[t]) {
            let slot = &mut ext_of[(c - b'a') as usize];
            assert!(slot.is_none_or(|x| x == e), "accepted inconsistent extents: {}", ctx());
            *slot = Some(e);
        }
    }
    for &c in &s.modes[2] {
        assert!(
            s.modes[0].contains(&c) || s.modes[1].contains(&c),
            "accepted a C mode in neither input: {}",
            ctx()
        );
    }
    let mut cm = s.modes[2].clone();
    cm.sort_unstable();
    assert!(
        cm.windows(2).all(|w| w[0] != w[1]),
        "accepted a repeated C mode: {}",
        ctx()
    );
    // Naive einsum over all letters used.
    let letters: Vec<u8> = (0..6u8).filter(|&i| ext_of[i as usize].is_some()).collect();
    let strides_of = |t: usize| -> Vec<i64> {
        if s.packed[t] {
            let mut acc = 1;
            s.ext[t]
                .iter()
                .map(|&e| {
                    let v = acc;
                    acc *= e.max(1);
                    v
                })
                .collect()
        } else {
            s.st[t].clone()
        }
    };
    let (sa, sb, sc) = (strides_of(0), strides_of(1), strides_of(2));
    let mut want = before.clone();
    let cn: i64 = s.ext[2].iter().fold(1i64, |acc, &e| acc.saturating_mul(e));
    let Some(c_origin) = c_origin.map(|o| o as i128) else {
        assert_eq!(cn, 0, "accepted with C unallocated: {}", ctx());
        return;
    };
    let mut c_done = std::collections::HashSet::new();
    let mut sums: std::collections::HashMap<i128, T> = std::collections::HashMap::new();
    let total: i64 = letters.iter().map(|&l| ext_of[l as usize].expect("ext")).product();
    for mut idx in 0..total {
        let mut v = [0i64; 6];
        for &l in &letters {
            let e = ext_of[l as usize].expect("ext");
            v[l as usize] = idx % e;
            idx /= e;
        }
        let o = |t: usize, st: &[i64]| -> i128 {
            s.modes[t]
                .iter()
                .zip(st)
                .map(|(&c, &x)| v[(c - b'a') as usize] as i128 * x as i128)
                .sum()
        };
        let av = bufs[0].as_ref().expect("A").at(o(0, &sa));
        let bv = bufs[1].as_ref().expect("B").at(o(1, &sb));
        let e = sums.entry(o(2, &sc)).or_insert(T::zero());
        *e = e.add(av.mul(bv));
    }
    // Every C element (even those no index reaches when an input has a zero extent).
    for mut idx in 0..cn {
        let mut co = 0i128;
        for (&e, &x) in s.ext[2].iter().zip(&sc) {
            co += (idx % e) as i128 * x as i128;
            idx /= e;
        }
        assert!(c_done.insert(co), "accepted an aliasing C: {}", ctx());
        let acc = sums.get(&co).copied().unwrap_or(T::zero());
        let old = T::from_bits_of(before[(c_origin + co) as usize]);
        let val = if beta.is_zero() {
            alpha.mul(acc)
        } else {
            alpha.mul(acc).add(beta.mul(old))
        };
        want[(c_origin + co) as usize] = val.bits();
    }
    for (i, (wb, gb)) in want.iter().zip(&after).enumerate() {
        let (w, g) = (T::from_bits_of(*wb), T::from_bits_of(*gb));
        assert!(wb == gb || w == g, "C[{i}] = {g:?}, oracle {w:?}: {}", ctx());
    }
    count(5);
}

/// Extents/strides arrays padded with 1s to at least 8 entries (a malformed spec may name more
/// modes than were generated, and the library reads as many as the spec names).
fn pad(v: &[i64]) -> Vec<i64> {
    v.iter()
        .copied()
        .chain(std::iter::repeat(1))
        .take(v.len().max(8))
        .collect()
}

fn explain_case(r: &mut R) {
    let s = spec(r);
    let len = r.below(160) as usize;
    let guard = 16;
    let mut buf = vec![0xA5u8; len + guard];
    let text = std::ffi::CString::new(s.text.clone()).expect("no NUL");
    let e: Vec<Vec<i64>> = s.ext.iter().map(|v| pad(v)).collect();
    let stp: Vec<Vec<i64>> = s.st.iter().map(|v| pad(v)).collect();
    let sp = |t: usize| if s.packed[t] { ptr::null() } else { stp[t].as_ptr() };
    let null_buf = r.chance(20);
    // SAFETY: extents/strides arrays have one entry per letter; buf has len bytes (+ guard).
    let st = unsafe {
        tblas_einsum_explain(
            handle(),
            1,
            text.as_ptr(),
            e[0].as_ptr(),
            sp(0),
            e[1].as_ptr(),
            sp(1),
            e[2].as_ptr(),
            sp(2),
            if null_buf {
                ptr::null_mut()
            } else {
                buf.as_mut_ptr() as *mut std::ffi::c_char
            },
            len,
        )
    };
    assert!(
        buf[len..].iter().all(|&b| b == 0xA5),
        "explain wrote past buf_len {len}: {}",
        s.text
    );
    if st == 0 && !null_buf && len > 0 {
        assert!(
            buf[..len].contains(&0),
            "explain succeeded without a NUL inside buf_len {len}"
        );
    }
    assert!(st == 0 || st == 7 || st == 15, "explain status {st}");
    count(6);
}
