//! Argument validation for the GEMM family, shared by the C ABI and the safe Rust API.
//!
//! The rules are those of `docs/c-api.md`: checked in argument order, the first bad argument decides
//! the status and the reported position, and nothing is read or written before validation has
//! passed. A successful validation yields a [`Job`] that backends may execute.
#![forbid(unsafe_code)]

use crate::error::{Error, Result};
use crate::job::{Entries, Job, Op, Strides};
use crate::layout::{byte_range, is_injective, offset_range, ranges_intersect, ByteBox, Dim};
use crate::scalar::Scalar;
use std::mem::{align_of, size_of};

/// Which member of the GEMM family a call belongs to (it fixes the argument positions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// `tblas_Tgemm`.
    Gemm,
    /// `tblas_Tgemm_batched` (pointer arrays).
    Batched,
    /// `tblas_Tgemm_strided_batched`.
    Strided,
    /// `tblas_Tgemm_strided_batched_ex` (general strides).
    Ex,
    /// `Handle::syrk_strided_batched_ex` (Rust API): a GEMM `op(A) op(A)^T` whose B is A read
    /// transposed, positions those of the Rust method (`uplo` 1, `trans` 2, `n` 3, `k` 4,
    /// `alpha` 5, `a` 6, `beta` 7, `c` 8, `batch_count` 9).
    Syrk,
}

/// A positional argument: 1-based position in the C signature (0 = implicit) and its name.
#[derive(Clone, Copy, Debug)]
struct ArgPos {
    pos: i32,
    name: &'static str,
}

const fn ap(pos: i32, name: &'static str) -> ArgPos {
    ArgPos { pos, name }
}

const NONE: ArgPos = ap(0, "");

/// Positions of one operand's arguments.
#[derive(Clone, Copy, Debug)]
struct OperandPos {
    ptr: ArgPos,
    rs: ArgPos,
    cs: ArgPos,
    bs: ArgPos,
}

#[derive(Clone, Copy, Debug)]
struct Positions {
    transa: ArgPos,
    transb: ArgPos,
    m: ArgPos,
    n: ArgPos,
    k: ArgPos,
    alpha: ArgPos,
    a: OperandPos,
    b: OperandPos,
    beta: ArgPos,
    c: OperandPos,
    batch: ArgPos,
}

const fn ld_operand(ptr: ArgPos, ld: ArgPos, bs: ArgPos) -> OperandPos {
    OperandPos {
        ptr,
        rs: NONE,
        cs: ld,
        bs,
    }
}

/// The first five positions of every C function of the family.
const GEMM_HEAD: (ArgPos, ArgPos, ArgPos, ArgPos, ArgPos) =
    (ap(2, "transa"), ap(3, "transb"), ap(4, "m"), ap(5, "n"), ap(6, "k"));

impl Family {
    fn positions(self) -> Positions {
        let (transa, transb, m, n, k) = GEMM_HEAD;
        match self {
            Family::Gemm => Positions {
                transa,
                transb,
                m,
                n,
                k,
                alpha: ap(7, "alpha"),
                a: ld_operand(ap(8, "A"), ap(9, "lda"), NONE),
                b: ld_operand(ap(10, "B"), ap(11, "ldb"), NONE),
                beta: ap(12, "beta"),
                c: ld_operand(ap(13, "C"), ap(14, "ldc"), NONE),
                batch: NONE,
            },
            Family::Batched => Positions {
                transa,
                transb,
                m,
                n,
                k,
                alpha: ap(7, "alpha"),
                a: ld_operand(ap(8, "A"), ap(9, "lda"), NONE),
                b: ld_operand(ap(10, "B"), ap(11, "ldb"), NONE),
                beta: ap(12, "beta"),
                c: ld_operand(ap(13, "C"), ap(14, "ldc"), NONE),
                batch: ap(15, "batch_count"),
            },
            Family::Strided => Positions {
                transa,
                transb,
                m,
                n,
                k,
                alpha: ap(7, "alpha"),
                a: ld_operand(ap(8, "A"), ap(9, "lda"), ap(10, "stride_a")),
                b: ld_operand(ap(11, "B"), ap(12, "ldb"), ap(13, "stride_b")),
                beta: ap(14, "beta"),
                c: ld_operand(ap(15, "C"), ap(16, "ldc"), ap(17, "stride_c")),
                batch: ap(18, "batch_count"),
            },
            Family::Ex => Positions {
                transa,
                transb,
                m,
                n,
                k,
                alpha: ap(7, "alpha"),
                a: OperandPos {
                    ptr: ap(8, "A"),
                    rs: ap(9, "rs_a"),
                    cs: ap(10, "cs_a"),
                    bs: ap(11, "bs_a"),
                },
                b: OperandPos {
                    ptr: ap(12, "B"),
                    rs: ap(13, "rs_b"),
                    cs: ap(14, "cs_b"),
                    bs: ap(15, "bs_b"),
                },
                beta: ap(16, "beta"),
                c: OperandPos {
                    ptr: ap(17, "C"),
                    rs: ap(18, "rs_c"),
                    cs: ap(19, "cs_c"),
                    bs: ap(20, "bs_c"),
                },
                batch: ap(21, "batch_count"),
            },
            Family::Syrk => {
                // B is A read transposed: its checks are A's and report A's arguments.
                let a = OperandPos {
                    ptr: ap(6, "A"),
                    rs: ap(6, "rs_a"),
                    cs: ap(6, "cs_a"),
                    bs: ap(6, "bs_a"),
                };
                Positions {
                    transa: ap(2, "trans"),
                    transb: ap(2, "trans"),
                    m: ap(3, "n"),
                    n: ap(3, "n"),
                    k: ap(4, "k"),
                    alpha: ap(5, "alpha"),
                    a,
                    b: a,
                    beta: ap(7, "beta"),
                    c: OperandPos {
                        ptr: ap(8, "C"),
                        rs: ap(8, "rs_c"),
                        cs: ap(8, "cs_c"),
                        bs: ap(8, "bs_c"),
                    },
                    batch: ap(9, "batch_count"),
                }
            }
        }
    }

    fn is_ld_form(self) -> bool {
        !matches!(self, Family::Ex | Family::Syrk)
    }
}

/// Where an operand's batch entries start: one base pointer (strided families) or a pointer
/// array (`gemm_batched`; `None` = the array pointer itself is NULL).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Base<'a, P> {
    Ptr(P),
    Array(Option<&'a [P]>),
}

/// One operand as passed by the caller: for the ld-form families `rs = 1`, `cs = ld`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Operand<'a, P> {
    pub base: Base<'a, P>,
    pub rs: i64,
    pub cs: i64,
    pub bs: i64,
    /// The memory the operand may address (the safe API's slices), checked last.
    pub bounds: Bounds<'a>,
}

/// The memory a safe-API operand may address, checked at the end of validation at the operand's
/// own argument position (the C ABI has no slices: `Bounds::None`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Bounds<'a> {
    /// Nothing to check (C ABI pointers, raw views, device views).
    None,
    /// One slice holding the offsets `first..=last` from the operand's origin (every entry).
    Span(i128, i128),
    /// Pointer arrays: entry `p`'s slice holds `lens.len_of(p)` elements from its origin.
    PerEntry(&'a dyn EntryLens),
}

/// The slice lengths of a pointer array's entries (the safe API's `&[&[T]]` and `&[&mut [T]]`),
/// read in place: no per-call array of lengths.
pub(crate) trait EntryLens {
    fn len_of(&self, p: usize) -> usize;
    /// The shortest of the first `n` entries (`usize::MAX` when `n = 0`): one pass, no call
    /// per entry.
    fn min_len(&self, n: usize) -> usize;
}

impl<T> EntryLens for &[&[T]] {
    fn len_of(&self, p: usize) -> usize {
        self[p].len()
    }
    fn min_len(&self, n: usize) -> usize {
        self[..n].iter().fold(usize::MAX, |m, s| m.min(s.len()))
    }
}

impl<T> EntryLens for &mut [&mut [T]] {
    fn len_of(&self, p: usize) -> usize {
        self[p].len()
    }
    fn min_len(&self, n: usize) -> usize {
        self[..n].iter().fold(usize::MAX, |m, s| m.min(s.len()))
    }
}

impl std::fmt::Debug for dyn EntryLens + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EntryLens")
    }
}

/// The rule a slice bound breaks (`prefix`: the entry, for pointer arrays).
fn outside(ck: &Checker, at: ArgPos, prefix: &str, (lo, hi): (i128, i128), (first, last): (i128, i128)) -> Error {
    ck.fail(
        at,
        format!(
            "{prefix}addresses elements at offsets {lo}..={hi} from its origin, but its slice holds offsets {first}..={last}"
        ),
    )
}

/// Checks that every element a referenced operand addresses (`rows x cols` with strides
/// `(rs, cs)`, `batch` entries `bs` apart) lies in its one slice (`Bounds::Span`).
fn check_span(
    ck: &Checker,
    at: ArgPos,
    bounds: Bounds<'_>,
    (rows, cols): (i64, i64),
    (rs, cs, bs): (i64, i64, i64),
    batch: i64,
) -> Result<()> {
    if let Bounds::Span(first, last) = bounds {
        if let Some((lo, hi)) = offset_range(&[Dim::new(rows, rs), Dim::new(cols, cs), Dim::new(batch, bs)]) {
            if lo < first || hi > last {
                return Err(outside(ck, at, "", (lo, hi), (first, last)));
            }
        }
    }
    Ok(())
}

/// The slice bounds of pointer-array operands (`Bounds::PerEntry` each; `dims[i]` and
/// `strides[i]` of A, B, C): entry by entry, A and B (when referenced) before C. Every entry has
/// the same dims, so each range is computed once (a range per entry cost ~100 ns at 4x4x4) and
/// an entry costs one length compare per operand.
#[allow(clippy::too_many_arguments)]
fn check_entries(
    ck: &Checker,
    at: [ArgPos; 3],
    lens: [&dyn EntryLens; 3],
    dims: [(i64, i64); 3],
    strides: [(i64, i64); 3],
    batch: usize,
    (ref_ab, ref_c): (bool, bool),
) -> Result<()> {
    let ranges: [Option<(i128, i128)>; 3] =
        std::array::from_fn(|i| offset_range(&[Dim::new(dims[i].0, strides[i].0), Dim::new(dims[i].1, strides[i].1)]));
    // Offsets start at 0 from an entry's origin: the slice length an entry needs.
    let need = ranges.map(|r| {
        r.map_or(0, |(lo, hi)| {
            if lo < 0 {
                usize::MAX
            } else {
                usize::try_from(hi + 1).unwrap_or(usize::MAX)
            }
        })
    });
    let fail = |i: usize, p: usize| {
        let len = lens[i].len_of(p);
        let r = ranges[i].expect("a short entry addresses elements");
        Err(outside(ck, at[i], &format!("entry {p}: "), r, (0, len as i128 - 1)))
    };
    let [na, nb, nc] = need;
    // Fast path: the shortest entry of each referenced operand is long enough. Otherwise the
    // entry-by-entry loop finds the first short one, in the order the contract reports.
    let long_enough = |i: usize, n: usize| lens[i].min_len(batch) >= n;
    if (!ref_ab || (long_enough(0, na) && long_enough(1, nb))) && (!ref_c || long_enough(2, nc)) {
        return Ok(());
    }
    for p in 0..batch {
        if ref_ab {
            if lens[0].len_of(p) < na {
                return fail(0, p);
            }
            if lens[1].len_of(p) < nb {
                return fail(1, p);
            }
        }
        if ref_c && lens[2].len_of(p) < nc {
            return fail(2, p);
        }
    }
    Ok(())
}

/// Raw pointers whose address the validator inspects.
pub(crate) trait Addr: Copy {
    fn addr(self) -> usize;
}
impl<T> Addr for *const T {
    fn addr(self) -> usize {
        self as usize
    }
}
impl<T> Addr for *mut T {
    fn addr(self) -> usize {
        self as usize
    }
}

/// Which operands a GEMM-family call references (docs/c-api.md): C when m, n and batch_count
/// are all positive; A and B when, besides, k > 0 and alpha is non-zero. A NULL alpha (an error
/// of its own) references neither A nor B, so nothing reads them before that error is reported.
/// The one statement of the rule: the validator (its checks, slice bounds included) and the C
/// ABI's pointer-array reads ask it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refs {
    pub ab: bool,
    pub c: bool,
}

impl Refs {
    pub(crate) fn of<T: Scalar>(m: i64, n: i64, k: i64, alpha: Option<T>, batch: i64) -> Refs {
        let c = m > 0 && n > 0 && batch > 0;
        Refs {
            c,
            ab: c && k > 0 && alpha.is_some_and(|a| !a.is_zero()),
        }
    }
}

/// A GEMM-family call exactly as the caller made it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call<'a, T> {
    pub family: Family,
    pub transa: i32,
    pub transb: i32,
    pub m: i64,
    pub n: i64,
    pub k: i64,
    pub alpha: Option<T>,
    pub a: Operand<'a, *const T>,
    pub b: Operand<'a, *const T>,
    pub beta: Option<T>,
    pub c: Operand<'a, *mut T>,
    /// 1 for `gemm`.
    pub batch: i64,
}

struct Checker {
    func: &'static str,
}

impl Checker {
    fn fail(&self, at: ArgPos, rule: impl std::fmt::Display) -> Error {
        Error::invalid(self.func, at.pos, at.name, rule)
    }
}

/// Above this many candidate pairs, the pointer-array overlap test switches from pairwise exact
/// tests to sorting every element address.
const PAIR_BUDGET: usize = 1 << 22;

/// Validates `call` for `T`'s function of `call.family` and returns the job to execute.
pub(crate) fn validate<'a, T: Scalar>(call: &Call<'a, T>) -> Result<Job<'a, T>> {
    let fam = call.family;
    let func = T::GEMM_NAMES[fam as usize];
    let ck = Checker { func };
    let pos = fam.positions();
    let sz = size_of::<T>();

    let transa = Op::from_raw(call.transa).ok_or_else(|| {
        ck.fail(
            pos.transa,
            format!("must be 0 (N), 1 (T) or 2 (C), got {}", call.transa),
        )
    })?;
    let transb = Op::from_raw(call.transb).ok_or_else(|| {
        ck.fail(
            pos.transb,
            format!("must be 0 (N), 1 (T) or 2 (C), got {}", call.transb),
        )
    })?;
    for (v, at) in [(call.m, pos.m), (call.n, pos.n), (call.k, pos.k)] {
        if v < 0 {
            return Err(ck.fail(at, format!("must be >= 0, got {v}")));
        }
    }
    let (m, n, k) = (call.m, call.n, call.k);
    // Batch count as used by later checks: a negative one references nothing (it fails at its
    // own, last, position).
    let batch = call.batch.max(0);
    let alpha = call.alpha.ok_or_else(|| ck.fail(pos.alpha, "must not be NULL"))?;
    let Refs { ab: ref_ab, c: ref_c } = Refs::of(m, n, k, Some(alpha), batch);

    // Stored shapes of A and B.
    let (ra, ca) = if transa == Op::N { (m, k) } else { (k, m) };
    let (rb, cb) = if transb == Op::N { (k, n) } else { (n, k) };
    let a_range = check_input(
        &ck,
        fam,
        &call.a,
        pos.a,
        (ra, ca),
        batch,
        ref_ab,
        sz,
        align_of::<T>(),
        transa,
        'A',
    )?;
    let b_range = check_input(
        &ck,
        fam,
        &call.b,
        pos.b,
        (rb, cb),
        batch,
        ref_ab,
        sz,
        align_of::<T>(),
        transb,
        'B',
    )?;

    let beta = call.beta.ok_or_else(|| ck.fail(pos.beta, "must not be NULL"))?;

    // C: pointer(s), layout, addressability.
    let c = &call.c;
    check_pointers(&ck, &c.base, pos.c.ptr, batch, ref_c, align_of::<T>())?;
    if fam.is_ld_form() {
        check_ld(&ck, c.cs, pos.c.cs, m, "m")?;
    } else if ref_c {
        if m > 1 && c.rs == 0 {
            return Err(ck.fail(pos.c.rs, "must be nonzero when m > 1 (rows of C would alias)"));
        }
        if n > 1 && c.cs == 0 {
            return Err(ck.fail(pos.c.cs, "must be nonzero when n > 1 (columns of C would alias)"));
        }
        if !is_injective(&[Dim::new(m, c.rs), Dim::new(n, c.cs)]) {
            return Err(ck.fail(
                pos.c.cs,
                format!(
                    "with rs_c = {} makes distinct elements of the {m}x{n} matrix C alias, got cs_c = {}",
                    c.rs, c.cs
                ),
            ));
        }
    }
    let c_ranges = addressable(&ck, &c.base, pos.c, (m, n), (c.rs, c.cs, c.bs), batch, ref_c, sz)?;

    if call.batch < 0 {
        return Err(ck.fail(pos.batch, format!("must be >= 0, got {}", call.batch)));
    }

    // Distinct batch entries of C must not share an element.
    if ref_c && batch > 1 {
        match c.base {
            Base::Ptr(_) => {
                if !is_injective(&[Dim::new(m, c.rs), Dim::new(n, c.cs), Dim::new(batch, c.bs)]) {
                    return Err(ck.fail(
                        pos.c.bs,
                        format!(
                            "makes batch entries of C overlap (m = {m}, n = {n}, C strides ({}, {}), batch_count = {batch}), got {}",
                            c.rs, c.cs, c.bs
                        ),
                    ));
                }
            }
            Base::Array(Some(ptrs)) => {
                if let Some((p, q)) = array_entries_overlap(ptrs, &c_ranges, m, n, c.cs, sz) {
                    return Err(ck.fail(
                        pos.c.ptr,
                        format!(
                            "entries C[{p}] and C[{q}] overlap; distinct batch entries of C must not share elements"
                        ),
                    ));
                }
            }
            Base::Array(None) => unreachable!("checked by check_pointers"),
        }
    }
    // C must not share memory with the A and B it is computed from. Fast path: the bounding
    // ranges of all C entries and of all A and B entries are disjoint (separate buffers).
    if ref_ab && !bounding_disjoint(&c_ranges, &[&a_range, &b_range]) {
        let mut inputs: Vec<(usize, usize, char)> = Vec::with_capacity(a_range.len() + b_range.len());
        inputs.extend(a_range.iter().map(|r| (r.0, r.1, 'A')));
        inputs.extend(b_range.iter().map(|r| (r.0, r.1, 'B')));
        inputs.sort_unstable();
        // Prefix maximum of the ends, so that one binary search finds any intersecting input.
        let mut max_end = Vec::with_capacity(inputs.len());
        let mut acc = (0usize, ' ');
        for &(_, e, w) in &inputs {
            if e >= acc.0 {
                acc = (e, w);
            }
            max_end.push(acc);
        }
        for cr in c_ranges.iter() {
            // Inputs starting at or before the end of C's range.
            let idx = inputs.partition_point(|r| r.0 <= cr.1);
            if idx > 0 && max_end[idx - 1].0 >= cr.0 {
                // Find the witness for the message.
                let w = inputs[..idx]
                    .iter()
                    .find(|r| ranges_intersect((r.0, r.1), cr))
                    .map_or(max_end[idx - 1].1, |r| r.2);
                return Err(ck.fail(pos.c.ptr, format!("must not share memory with {w}")));
            }
        }
    }

    // Slice bounds (the safe API's operands): after every rule of the C contract, in operand
    // order; for pointer arrays entry by entry.
    match (call.a.bounds, call.b.bounds, call.c.bounds) {
        (Bounds::PerEntry(la), Bounds::PerEntry(lb), Bounds::PerEntry(lc)) => check_entries(
            &ck,
            [pos.a.ptr, pos.b.ptr, pos.c.ptr],
            [la, lb, lc],
            [(ra, ca), (rb, cb), (m, n)],
            [(call.a.rs, call.a.cs), (call.b.rs, call.b.cs), (call.c.rs, call.c.cs)],
            batch as usize,
            (ref_ab, ref_c),
        )?,
        (ba, bb, bc) => {
            if ref_ab {
                check_span(&ck, pos.a.ptr, ba, (ra, ca), (call.a.rs, call.a.cs, call.a.bs), batch)?;
                check_span(&ck, pos.b.ptr, bb, (rb, cb), (call.b.rs, call.b.cs, call.b.bs), batch)?;
            }
            if ref_c {
                check_span(&ck, pos.c.ptr, bc, (m, n), (call.c.rs, call.c.cs, call.c.bs), batch)?;
            }
        }
    }

    // Build the job: fold op() into the strides.
    let (a_rs, a_cs) = (call.a.rs as isize, call.a.cs as isize);
    let (b_rs, b_cs) = (call.b.rs as isize, call.b.cs as isize);
    let entries = match (call.a.base, call.b.base, call.c.base) {
        (Base::Ptr(a), Base::Ptr(b), Base::Ptr(cp)) => Entries::Strided {
            a,
            b,
            c: cp,
            bs_a: call.a.bs as isize,
            bs_b: call.b.bs as isize,
            bs_c: call.c.bs as isize,
            count: batch as usize,
        },
        (Base::Array(a), Base::Array(b), Base::Array(cp)) => {
            // Unreferenced operands may be NULL arrays: they are passed on empty and never read.
            let bu = batch as usize;
            Entries::Array {
                a: a.filter(|_| ref_ab).map_or(&[][..], |s| &s[..bu]),
                b: b.filter(|_| ref_ab).map_or(&[][..], |s| &s[..bu]),
                c: cp.filter(|_| ref_c).map_or(&[][..], |s| &s[..bu]),
            }
        }
        _ => unreachable!("operands of one call share a family"),
    };
    // Every rule above holds: each addressed element of A, B and C lies in addressable,
    // non-NULL, aligned memory of the caller's operands (and in its slice, for the safe API), and
    // C's entries share no element with each other or with A and B. That is what a `Job` states.
    let job = Job {
        m: m as usize,
        n: n as usize,
        k: k as usize,
        alpha,
        beta,
        a: Strides::with_op::<T>(transa, a_rs, a_cs),
        b: Strides::with_op::<T>(transb, b_rs, b_cs),
        c: Strides {
            rs: c.rs as isize,
            cs: c.cs as isize,
            conj: false,
        },
        entries,
        tri: None,
        _proof: super::Proof,
    };
    Ok(job.tidy())
}

fn check_ld(ck: &Checker, ld: i64, at: ArgPos, rows: i64, rows_name: &str) -> Result<()> {
    let need = rows.max(1);
    if ld < need {
        return Err(ck.fail(at, format!("must be >= max(1, {rows_name}) = {need}, got {ld}")));
    }
    Ok(())
}

/// NULL and alignment checks of a pointer or pointer array that is referenced.
fn check_pointers<P: Addr>(
    ck: &Checker,
    base: &Base<'_, P>,
    at: ArgPos,
    batch: i64,
    referenced: bool,
    align: usize,
) -> Result<()> {
    if !referenced {
        return Ok(());
    }
    let when = "when it is referenced (m, n, batch_count > 0, and for A/B also k > 0 and alpha != 0)";
    match base {
        Base::Ptr(p) => {
            if p.addr() == 0 {
                return Err(ck.fail(at, format!("must not be NULL {when}")));
            }
            if p.addr() % align != 0 {
                return Err(ck.fail(
                    at,
                    format!("must be aligned to {align} bytes, got address {:#x}", p.addr()),
                ));
            }
        }
        Base::Array(None) => {
            return Err(ck.fail(at, format!("(the pointer array) must not be NULL {when}")));
        }
        Base::Array(Some(ptrs)) => {
            let ptrs = &ptrs[..batch as usize];
            // One branch-free pass over the array (it vectorises); the entry-by-entry loop
            // below runs only to name the first bad entry.
            let mask = align - 1;
            if !ptrs
                .iter()
                .fold(false, |bad, p| bad | (p.addr() == 0) | (p.addr() & mask != 0))
            {
                return Ok(());
            }
            for (i, p) in ptrs.iter().enumerate() {
                if p.addr() == 0 {
                    return Err(ck.fail(at, format!("entry {}[{i}] must not be NULL {when}", at.name)));
                }
                if p.addr() % align != 0 {
                    return Err(ck.fail(
                        at,
                        format!(
                            "entry {}[{i}] must be aligned to {align} bytes, got address {:#x}",
                            at.name,
                            p.addr()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Byte ranges of a referenced operand's batch entries. A pointer array's entries share their
/// dims, so entry `i` spans `ptrs[i] + [lo, hi]` and nothing is stored per entry (a per-entry
/// `Vec` of ranges cost more than the 4x4x4 GEMM it guarded).
pub(crate) enum Ranges<'a, P> {
    /// Not referenced: no range.
    Empty,
    /// One range covering every entry (the strided families).
    One((usize, usize)),
    /// Entry `i` spans `bytes` placed at `ptrs[i]` (each checked to fit the address space);
    /// `span` is the smallest range holding all of them.
    Array {
        ptrs: &'a [P],
        bytes: ByteBox,
        span: (usize, usize),
    },
}

impl<P: Addr> Ranges<'_, P> {
    fn len(&self) -> usize {
        match self {
            Ranges::Empty => 0,
            Ranges::One(_) => 1,
            Ranges::Array { ptrs, .. } => ptrs.len(),
        }
    }

    /// Range `i` (`i < len()`).
    fn get(&self, i: usize) -> (usize, usize) {
        match self {
            Ranges::Empty => unreachable!("no range in an unreferenced operand"),
            Ranges::One(r) => *r,
            // Checked when the ranges were built: both ends fit the address space.
            Ranges::Array { ptrs, bytes, .. } => {
                let first = ptrs[i].addr().wrapping_add_signed(bytes.lo);
                (first, first.wrapping_add(bytes.len))
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The smallest range holding every range (None when there is none).
    fn span(&self) -> Option<(usize, usize)> {
        match self {
            Ranges::Empty => None,
            Ranges::One(r) => Some(*r),
            Ranges::Array { span, .. } => Some(*span),
        }
    }
}

/// Checks that every element of a referenced operand has an address; returns the byte ranges of
/// its batch entries (one range covering all entries for the strided families).
#[allow(clippy::too_many_arguments)]
fn addressable<'a, P: Addr>(
    ck: &Checker,
    base: &Base<'a, P>,
    at: OperandPos,
    (rows, cols): (i64, i64),
    (rs, cs, bs): (i64, i64, i64),
    batch: i64,
    referenced: bool,
    sz: usize,
) -> Result<Ranges<'a, P>> {
    if !referenced {
        return Ok(Ranges::Empty);
    }
    // For the ld-form, the implicit unit row stride is attributed to the ld argument.
    let rs_at = if at.rs.pos == 0 { at.cs } else { at.rs };
    let overflow = "makes element addresses overflow the address space";
    let matrix = [Dim::new(rows, rs), Dim::new(cols, cs)];
    let check_matrix = |addr: usize| -> Result<(usize, usize)> {
        byte_range(addr, sz, &matrix[..1]).ok_or_else(|| ck.fail(rs_at, format!("= {rs} {overflow}")))?;
        byte_range(addr, sz, &matrix).ok_or_else(|| ck.fail(at.cs, format!("= {cs} {overflow}")))
    };
    match base {
        Base::Ptr(p) => {
            check_matrix(p.addr())?;
            let all = [matrix[0], matrix[1], Dim::new(batch, bs)];
            let r = byte_range(p.addr(), sz, &all).ok_or_else(|| ck.fail(at.bs, format!("= {bs} {overflow}")))?;
            Ok(Ranges::One(r))
        }
        Base::Array(Some(ptrs)) => {
            let ptrs = &ptrs[..batch as usize];
            // The entries share their dims: their byte box is computed once (`byte_range`'s own
            // rule, split in two); an entry then costs two checked additions. One that fails is
            // checked again in full for the precise error.
            let bytes = offset_range(&matrix).and_then(|o| ByteBox::of(sz, o));
            // Every entry's box fits the address space iff the boxes at the lowest and the
            // highest entry address do (`at` is monotonic in the base): one min/max pass that
            // vectorises, and the entry-by-entry loop only to report a failure.
            let (lo, hi) = ptrs
                .iter()
                .fold((usize::MAX, 0usize), |(lo, hi), p| (lo.min(p.addr()), hi.max(p.addr())));
            let fast = bytes.and_then(|b| Some((b.at(lo)?.0, b.at(hi)?.1)));
            let span = match fast {
                Some(span) => span,
                None => {
                    let mut span = (usize::MAX, 0usize);
                    for p in ptrs {
                        let r = match bytes.and_then(|b| b.at(p.addr())) {
                            Some(r) => r,
                            None => check_matrix(p.addr())?,
                        };
                        span = (span.0.min(r.0), span.1.max(r.1));
                    }
                    span
                }
            };
            // `bytes` is None only when check_matrix (the same rule) has failed on entry 0
            // (referenced: batch >= 1), so this is never taken; it refuses rather than assumes.
            let Some(bytes) = bytes else {
                return Err(ck.fail(at.cs, format!("= {cs} {overflow}")));
            };
            Ok(Ranges::Array { ptrs, bytes, span })
        }
        Base::Array(None) => unreachable!("checked by check_pointers"),
    }
}

/// Pointer, ld and address checks of input operand A or B; returns its byte ranges.
#[allow(clippy::too_many_arguments)]
fn check_input<'a, T: Scalar>(
    ck: &Checker,
    fam: Family,
    x: &Operand<'a, *const T>,
    at: OperandPos,
    (rows, cols): (i64, i64),
    batch: i64,
    referenced: bool,
    sz: usize,
    align: usize,
    op: Op,
    which: char,
) -> Result<Ranges<'a, *const T>> {
    check_pointers(ck, &x.base, at.ptr, batch, referenced, align)?;
    if fam.is_ld_form() {
        // lda >= max(1, rows of the stored matrix): m for A with N, k otherwise; B likewise.
        let rows_name = match (which, op == Op::N) {
            ('A', true) => "m",
            ('A', false) => "k",
            (_, true) => "k",
            (_, false) => "n",
        };
        check_ld(ck, x.cs, at.cs, rows, rows_name)?;
    }
    addressable(ck, &x.base, at, (rows, cols), (x.rs, x.cs, x.bs), batch, referenced, sz)
}

/// Whether the byte range spanned by all of `c` is disjoint from the one spanned by each of
/// `inputs` (a sufficient condition for no overlap, checked in O(1)).
fn bounding_disjoint<P: Addr, Q: Addr>(c: &Ranges<'_, P>, inputs: &[&Ranges<'_, Q>]) -> bool {
    let Some(cs) = c.span() else { return true };
    inputs.iter().all(|v| v.span().is_none_or(|s| !ranges_intersect(cs, s)))
}

/// Exact overlap test for the entries of a pointer-array C (`m x n`, leading dimension `ldc`):
/// returns two overlapping entry indices, if any.
fn array_entries_overlap<P: Addr>(
    ptrs: &[P],
    ranges: &Ranges<'_, P>,
    m: i64,
    n: i64,
    ldc: i64,
    sz: usize,
) -> Option<(usize, usize)> {
    // Fast path: entries in arithmetic progression (the usual case) are a strided batch, decided
    // exactly by the strided test without sorting.
    if ptrs.len() >= 2 {
        let d = ptrs[1].addr() as i128 - ptrs[0].addr() as i128;
        // Equal differences mod 2^64 (branch-free, it vectorises) make entry i sit at
        // (ptrs[0] + i*d) mod 2^64; with no wrap at the last entry (the sequence is linear in
        // i, so none in between either) that is ptrs[0] + i*d exactly.
        let dw = ptrs[1].addr().wrapping_sub(ptrs[0].addr());
        let last = ptrs.len() - 1;
        let progression = ptrs
            .windows(2)
            .fold(true, |ok, w| ok & (w[1].addr().wrapping_sub(w[0].addr()) == dw))
            && ptrs[last].addr() as i128 == ptrs[0].addr() as i128 + last as i128 * d;
        if progression && d % sz as i128 == 0 {
            let stride = (d / sz as i128) as i64;
            let dims = [Dim::new(m, 1), Dim::new(n, ldc), Dim::new(ptrs.len() as i64, stride)];
            if is_injective(&dims) {
                return None;
            }
        }
    }
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_unstable_by_key(|&i| ranges.get(i).0);
    // Do two entries whose byte ranges intersect share an element?
    let share = |p: usize, q: usize| -> bool {
        let (x, y) = (ptrs[p].addr() as i128, ptrs[q].addr() as i128);
        let delta = y - x;
        if delta % sz as i128 != 0 {
            return true; // misaligned relative offset with intersecting ranges: bytes are shared
        }
        // Same element iff d = dx + dy*ldc with |dx| < m, |dy| < n.
        let d = delta / sz as i128;
        let (m, n, ld) = (m as i128, n as i128, ldc as i128);
        let lo = (d - (m - 1)).div_euclid(ld);
        let hi = (d + (m - 1)).div_euclid(ld);
        (lo..=hi).any(|dy| dy.abs() < n && (d - dy * ld).abs() < m)
    };
    let mut pairs = 0usize;
    for (oi, &p) in order.iter().enumerate() {
        for &q in &order[oi + 1..] {
            if ranges.get(q).0 > ranges.get(p).1 {
                break;
            }
            pairs += 1;
            if pairs > PAIR_BUDGET {
                return sorted_element_overlap(ptrs, m, n, ldc, sz);
            }
            if share(p, q) {
                return Some((p.min(q), p.max(q)));
            }
        }
    }
    None
}

/// Fallback for heavily interleaved pointer arrays: sort the byte address of every element.
fn sorted_element_overlap<P: Addr>(ptrs: &[P], m: i64, n: i64, ldc: i64, sz: usize) -> Option<(usize, usize)> {
    let mut addrs: Vec<(usize, usize)> = Vec::with_capacity(ptrs.len() * (m * n) as usize);
    for (e, p) in ptrs.iter().enumerate() {
        for j in 0..n {
            for i in 0..m {
                addrs.push((p.addr() + ((i + j * ldc) as usize) * sz, e));
            }
        }
    }
    addrs.sort_unstable();
    addrs
        .windows(2)
        .find(|w| w[1].0 < w[0].0 + sz)
        .map(|w| (w[0].1.min(w[1].1), w[0].1.max(w[1].1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-entry ranges of a pointer array (two checked additions each) equal the full
    /// computation for every entry, with positive, negative and zero strides, and an entry
    /// whose range leaves the address space is refused at the stride that causes it.
    #[test]
    fn pointer_array_ranges_match_the_full_computation() {
        let ck = Checker {
            func: "tblas_dgemm_batched",
        };
        let at = OperandPos {
            ptr: ap(13, "C"),
            rs: NONE,
            cs: ap(14, "ldc"),
            bs: NONE,
        };
        let ptrs: Vec<*const f64> = [0x1000usize, 0x9_0008, 0x2000, 0x7fff_0000]
            .iter()
            .map(|&a| a as *const f64)
            .collect();
        for (rows, cols, rs, cs) in [(3, 4, 1, 5), (1, 1, 1, 1), (5, 2, -1, 7), (4, 3, 2, -9), (2, 6, 0, 3)] {
            let r = addressable(
                &ck,
                &Base::Array(Some(&ptrs[..])),
                at,
                (rows, cols),
                (rs, cs, 0),
                4,
                true,
                8,
            )
            .unwrap_or_else(|e| panic!("{rows}x{cols} ({rs}, {cs}): {e}"));
            let dims = [Dim::new(rows, rs), Dim::new(cols, cs)];
            let want: Vec<_> = ptrs
                .iter()
                .map(|p| byte_range(*p as usize, 8, &dims).unwrap())
                .collect();
            assert_eq!(r.iter().collect::<Vec<_>>(), want, "{rows}x{cols} ({rs}, {cs})");
            let lo = want.iter().map(|w| w.0).min().unwrap();
            let hi = want.iter().map(|w| w.1).max().unwrap();
            assert_eq!(r.span(), Some((lo, hi)));
        }
        // Negative column stride reaching below address 0 from an entry at 0x40.
        let low: Vec<*const f64> = vec![0x1000 as *const f64, 0x40 as *const f64];
        let e = addressable(&ck, &Base::Array(Some(&low[..])), at, (2, 3), (1, -100, 0), 2, true, 8)
            .err()
            .expect("an entry below address 0 must be refused");
        assert_eq!(e.position(), 14, "{e}");
        // An unreferenced operand has no range.
        let none = addressable(&ck, &Base::Array(Some(&ptrs[..])), at, (2, 3), (1, 2, 0), 4, false, 8).unwrap();
        assert_eq!((none.len(), none.span()), (0, None));
    }
}
