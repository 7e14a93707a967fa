//! A validated batched GEMM, in the form every backend executes.
//!
//! `op(A)` and `op(B)` are folded into strides: a transposed operand swaps its row and column
//! strides, a conjugate-transposed one also sets `conj`. A backend therefore sees
//! `C[p] = alpha * opA[p] * opB[p] + beta * C[p]` with `opA[p]` an `m x k` strided matrix,
//! `opB[p]` a `k x n` one and `C[p]` an `m x n` one, for `p < batch`.

use crate::scalar::Scalar;

pub(crate) mod validate;

/// Transposition of a GEMM operand (values as `cublasOperation_t` / `TBLAS_OP_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Op {
    /// `op(X) = X`.
    N = 0,
    /// `op(X) = X^T`.
    T = 1,
    /// `op(X) = X^H` (conjugate transpose; the same as `T` for real types).
    C = 2,
}

impl Op {
    /// The operation for a C value, `None` when out of range.
    pub fn from_raw(v: i32) -> Option<Op> {
        match v {
            0 => Some(Op::N),
            1 => Some(Op::T),
            2 => Some(Op::C),
            _ => None,
        }
    }

    /// Whether the stored matrix is read transposed.
    pub fn is_trans(self) -> bool {
        self != Op::N
    }
}

/// Which triangle of a square C a symmetric rank-k update (`syrk`) computes (values as
/// `cublasFillMode_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Uplo {
    /// Elements `(i, j)` with `i >= j` (the diagonal and below).
    Lower = 0,
    /// Elements `(i, j)` with `i <= j` (the diagonal and above).
    Upper = 1,
}

impl Uplo {
    /// The same elements seen in the transposed matrix.
    pub(crate) fn t(self) -> Uplo {
        match self {
            Uplo::Lower => Uplo::Upper,
            Uplo::Upper => Uplo::Lower,
        }
    }

    /// Whether element `(i, j)` is in this triangle.
    #[inline]
    pub(crate) fn keeps(self, i: usize, j: usize) -> bool {
        match self {
            Uplo::Lower => i >= j,
            Uplo::Upper => i <= j,
        }
    }
}

/// Strides of one effective operand (after `op`): element `(i, j)` at `i*rs + j*cs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Strides {
    pub rs: isize,
    pub cs: isize,
    /// Read the operand conjugated (complex types only).
    pub conj: bool,
}

impl Strides {
    /// Effective strides of `op(X)` for a stored matrix with strides `(rs, cs)`.
    pub(crate) fn with_op<T: Scalar>(op: Op, rs: isize, cs: isize) -> Self {
        match op {
            Op::N => Strides { rs, cs, conj: false },
            Op::T => Strides {
                rs: cs,
                cs: rs,
                conj: false,
            },
            Op::C => Strides {
                rs: cs,
                cs: rs,
                conj: T::IS_COMPLEX,
            },
        }
    }

    /// The transpose of this operand.
    pub(crate) fn t(self) -> Self {
        Strides {
            rs: self.cs,
            cs: self.rs,
            conj: self.conj,
        }
    }
}

/// One operand in column-major BLAS terms: read as stored (`N`), transposed (`T`) or
/// conjugate-transposed (`C`), with its leading dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlasOperand {
    pub op: Op,
    pub ld: isize,
}

/// The one mapping of a GEMM `C = op(A) op(B)` (effective strides, `op` folded in) to the
/// column-major BLAS call that computes it, used by the CBLAS and cuBLAS backends and the
/// contraction planner's legality test and plan line: `C' = op(X) op(Y)` with `C' = C`
/// (`swap == false`: X = A, Y = B) or, for a C with unit column stride, `C' = C^T = op(B)^T
/// op(A)^T` (`swap`: X = B, Y = A, m and n exchanged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlasForm {
    pub swap: bool,
    /// Rows and columns of `C'` (`m` and `n` exchanged when `swap`).
    pub m: usize,
    pub n: usize,
    pub x: BlasOperand,
    pub y: BlasOperand,
    pub ldc: isize,
    /// Element distance between columns of `op(Y)` and of `C'` (to split `C'` by columns).
    pub y_col: isize,
    pub c_col: isize,
}

/// How BLAS reads an effective `rows x cols` operand with strides `s`, if it can: unit row
/// stride and no conjugation (`N`), or unit column stride (`T`, `C` when conjugated), the other
/// stride at least the stored leading extent.
pub(crate) fn blas_operand(s: Strides, rows: usize, cols: usize) -> Option<BlasOperand> {
    if s.rs == 1 && !s.conj && s.cs >= rows.max(1) as isize {
        Some(BlasOperand { op: Op::N, ld: s.cs })
    } else if s.cs == 1 && s.rs >= cols.max(1) as isize {
        Some(BlasOperand {
            op: if s.conj { Op::C } else { Op::T },
            ld: s.rs,
        })
    } else {
        None
    }
}

/// The BLAS form of `C (m x n) = op(A) (m x k) * op(B) (k x n)`, if BLAS can express it: C with
/// unit row stride (computed as is) or unit column stride (computed as `C^T`), each of A and B
/// as [`blas_operand`] allows. Batch strides and integer widths are the caller's to check.
pub(crate) fn blas_form(m: usize, n: usize, k: usize, a: Strides, b: Strides, c: Strides) -> Option<BlasForm> {
    let (swap, m, n, a, b, c) = if c.rs == 1 && c.cs >= m.max(1) as isize {
        (false, m, n, a, b, c)
    } else if c.cs == 1 && c.rs >= n.max(1) as isize {
        (true, n, m, b.t(), a.t(), c.t())
    } else {
        return None;
    };
    Some(BlasForm {
        swap,
        m,
        n,
        x: blas_operand(a, m, k)?,
        y: blas_operand(b, k, n)?,
        ldc: c.cs,
        y_col: b.cs,
        c_col: c.cs,
    })
}

/// Where the batch entries live.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Entries<'a, T> {
    /// Entry `p` of X starts at `x + p*bs_x`.
    Strided {
        a: *const T,
        b: *const T,
        c: *mut T,
        bs_a: isize,
        bs_b: isize,
        bs_c: isize,
        count: usize,
    },
    /// Entry `p` of X starts at `x[p]` (pointer-array batched).
    Array {
        a: &'a [*const T],
        b: &'a [*const T],
        c: &'a [*mut T],
    },
}

/// A validated batched GEMM. Constructed only by the validator, so holding one proves that every
/// address it describes is in bounds for the call's lifetime, that distinct `(i, j, p)` of C are
/// distinct elements, and that C shares no memory with the A and B it references.
#[derive(Clone, Copy, Debug)]
///
/// Every field is private and read through its getter: code outside this module (and the
/// validator, its child) cannot build a job, nor copy one and change a field, so a `Job` in hand
/// is always one somebody vouched for.
pub(crate) struct Job<'a, T> {
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    beta: T,
    a: Strides,
    b: Strides,
    c: Strides,
    entries: Entries<'a, T>,
    /// `Some`: only this triangle of each (square) C entry is computed; C's other elements are
    /// neither read nor written (`syrk`). `None`: all of C (GEMM).
    tri: Option<Uplo>,
    /// Only this module makes a `Job` ([`Job::assume_valid`] and the derivations below), so
    /// holding one means someone proved its memory rules.
    _proof: Proof,
}

/// The private field that makes [`Job`] impossible to build (or copy-and-modify with `..`)
/// outside this module.
#[derive(Clone, Copy, Debug)]
struct Proof;

/// The parts of a [`Job`] before anyone vouches for them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parts<'a, T> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub alpha: T,
    pub beta: T,
    pub a: Strides,
    pub b: Strides,
    pub c: Strides,
    pub entries: Entries<'a, T>,
    pub tri: Option<Uplo>,
}

impl<'a, T: Copy> Job<'a, T> {
    /// The job of `parts`: the one way to make a job (the validator, the contraction executor's
    /// sub-calls, and tests that never execute theirs).
    ///
    /// # Safety
    /// For every entry `p < batch` and every `i < m`, `l < k`, `j < n`: element `(i, l)` of
    /// `opA[p]` and `(l, j)` of `opB[p]` are valid for reads for `'a`, and element `(i, j)` of
    /// `C[p]` (within `tri`, if set) for reads and writes; the C elements of all entries are
    /// pairwise distinct and none is an element of A or B; nothing else accesses them while the
    /// job runs. The validator proves this for every GEMM-family call, the contraction executor
    /// for each call on a sub-box of a validated contraction.
    pub(crate) unsafe fn assume_valid(p: Parts<'a, T>) -> Self {
        Job {
            m: p.m,
            n: p.n,
            k: p.k,
            alpha: p.alpha,
            beta: p.beta,
            a: p.a,
            b: p.b,
            c: p.c,
            entries: p.entries,
            tri: p.tri,
            _proof: Proof,
        }
    }

    /// Rows of C (and of op(A)).
    #[inline]
    pub(crate) fn m(&self) -> usize {
        self.m
    }
    /// Columns of C (and of op(B)).
    #[inline]
    pub(crate) fn n(&self) -> usize {
        self.n
    }
    /// The inner dimension.
    #[inline]
    pub(crate) fn k(&self) -> usize {
        self.k
    }
    #[inline]
    pub(crate) fn alpha(&self) -> T {
        self.alpha
    }
    #[inline]
    pub(crate) fn beta(&self) -> T {
        self.beta
    }
    /// Element strides of op(A) (m x k), with op folded in.
    #[inline]
    pub(crate) fn a(&self) -> Strides {
        self.a
    }
    /// Element strides of op(B) (k x n), with op folded in.
    #[inline]
    pub(crate) fn b(&self) -> Strides {
        self.b
    }
    /// Element strides of C (m x n).
    #[inline]
    pub(crate) fn c(&self) -> Strides {
        self.c
    }
    /// Where the batch entries live.
    #[inline]
    pub(crate) fn entries(&self) -> Entries<'a, T> {
        self.entries
    }
    /// The triangle of C computed, if only one is (`syrk`).
    #[inline]
    pub(crate) fn tri(&self) -> Option<Uplo> {
        self.tri
    }

    /// The same job on one triangle of each (square) C: it writes a subset of the elements the
    /// job may write.
    pub(crate) fn on_triangle(self, uplo: Uplo) -> Self {
        Job {
            tri: Some(uplo),
            ..self
        }
    }

    /// The problem `C^T = opB^T opA^T` in the native kernels' orientation: strides, extents and
    /// triangle transposed, the entry pointers unchanged (the kernels then take A's pointer from
    /// the entries' B and vice versa: their `flip`).
    pub(crate) fn kernel_transposed(&self) -> Self {
        Job {
            m: self.n,
            n: self.m,
            a: self.b.t(),
            b: self.a.t(),
            c: self.c.t(),
            tri: self.tri.map(|t| t.t()),
            ..*self
        }
    }
}

impl<'a, T: Scalar> Job<'a, T> {
    /// Rows `r0..r1` and kernel columns `c0..c1` of entry `p` as a one-entry job (`self` in the
    /// kernel's orientation; with `flip` the kernel's A is the entries' B pointer and vice
    /// versa, as [`Job::kernel_transposed`] leaves them): a sub-block of the job's elements.
    pub(crate) fn tile(&self, flip: bool, p: usize, (r0, r1): (usize, usize), (c0, c1): (usize, usize)) -> Self {
        let e = self.entry(p);
        let (r, c) = (r0 as isize, c0 as isize);
        // Kernel A moves with the rows, kernel B with the columns.
        let (ka, kb) = if flip { (e.b, e.a) } else { (e.a, e.b) };
        let (ka, kb) = (ka.wrapping_offset(r * self.a.rs), kb.wrapping_offset(c * self.b.cs));
        let (a, b) = if flip { (kb, ka) } else { (ka, kb) };
        Job {
            m: r1 - r0,
            n: c1 - c0,
            entries: Entries::Strided {
                a,
                b,
                c: e.c.wrapping_offset(r * self.c.rs + c * self.c.cs),
                bs_a: 0,
                bs_b: 0,
                bs_c: 0,
                count: 1,
            },
            ..*self
        }
    }
}

// SAFETY: a Job is only built by the validator or `Job::assume_valid`, whose callers established
// that the C entries are disjoint and disjoint from A and B; executors write each C entry (or each disjoint block of
// one) from exactly one thread and only read A and B, so sharing the pointers is race-free.
unsafe impl<T: Send> Send for Job<'_, T> {}
// SAFETY: as for Send above.
unsafe impl<T: Sync> Sync for Job<'_, T> {}

/// The three base pointers of one batch entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EntryPtrs<T> {
    pub a: *const T,
    pub b: *const T,
    pub c: *mut T,
}

impl<T: Scalar> Job<'_, T> {
    /// This job's entries in BLAS form ([`blas_form`]), if BLAS can express them (the vendor
    /// and cuBLAS backends' test).
    #[cfg_attr(not(any(feature = "cuda", feature = "openblas", feature = "mkl")), allow(dead_code))]
    pub(crate) fn blas_form(&self) -> Option<BlasForm> {
        blas_form(self.m, self.n, self.k, self.a, self.b, self.c)
    }

    /// Replaces the strides of extent-1 (or empty) dimensions, which address nothing, by small
    /// natural ones (row stride 1; column stride `m` or 1; batch stride 0), so that no backend
    /// ever scales a huge but legal stride (e.g. `lda = 2^62` with `k = 1`) into an overflowing
    /// pointer step. Every value chosen is one a caller could have passed for that extent.
    pub(crate) fn tidy(mut self) -> Self {
        let fix = |s: &mut Strides, rows: usize, cols: usize| {
            if rows <= 1 {
                s.rs = 1;
            }
            if cols <= 1 {
                s.cs = if s.rs == 1 { rows.max(1) as isize } else { 1 };
            }
        };
        let (m, n, k) = (self.m, self.n, self.k);
        fix(&mut self.a, m, k);
        fix(&mut self.b, k, n);
        fix(&mut self.c, m, n);
        if let Entries::Strided {
            count,
            bs_a,
            bs_b,
            bs_c,
            ..
        } = &mut self.entries
        {
            if *count <= 1 {
                (*bs_a, *bs_b, *bs_c) = (0, 0, 0);
            }
        }
        self
    }

    /// Whether A and B go unread (`alpha == 0` or `k == 0`: C = beta*C).
    pub(crate) fn ab_unread(&self) -> bool {
        self.k == 0 || self.alpha.is_zero()
    }

    /// Number of batch entries.
    pub(crate) fn batch(&self) -> usize {
        match self.entries {
            Entries::Strided { count, .. } => count,
            Entries::Array { c, .. } => c.len(),
        }
    }

    /// Base pointers of entry `p < batch()`. Pointer arithmetic is `wrapping_offset`, so calling
    /// this is always safe; dereferencing is justified by the validator.
    pub(crate) fn entry(&self, p: usize) -> EntryPtrs<T> {
        match self.entries {
            Entries::Strided {
                a,
                b,
                c,
                bs_a,
                bs_b,
                bs_c,
                ..
            } => {
                let p = p as isize;
                EntryPtrs {
                    a: a.wrapping_offset(p.wrapping_mul(bs_a)),
                    b: b.wrapping_offset(p.wrapping_mul(bs_b)),
                    c: c.wrapping_offset(p.wrapping_mul(bs_c)),
                }
            }
            // A and B arrays are empty when they are not referenced (alpha == 0 or k == 0).
            Entries::Array { a, b, c } => EntryPtrs {
                a: a.get(p).copied().unwrap_or(std::ptr::null()),
                b: b.get(p).copied().unwrap_or(std::ptr::null()),
                c: c[p],
            },
        }
    }

    /// Bytes of one entry's A, B and C, saturating: for the choices that depend on whether
    /// the operands fit the caches.
    pub(crate) fn entry_bytes(&self) -> usize {
        let elems = (self.m.saturating_mul(self.k))
            .saturating_add(self.k.saturating_mul(self.n))
            .saturating_add(self.m.saturating_mul(self.n));
        elems.saturating_mul(std::mem::size_of::<T>())
    }

    /// Multiply-adds per entry, saturating (for threading decisions).
    pub(crate) fn entry_work(&self) -> usize {
        self.m.saturating_mul(self.n).saturating_mul(self.k)
    }
}
