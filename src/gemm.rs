//! The GEMM family of the safe Rust API (`gemm`, `gemm_strided_batched`, `gemm_batched`,
//! `gemm_strided_batched_ex`, `syrk_strided_batched_ex`) on slices and strided views: each
//! builds the validator's `Call`, checks the views against their slices, and runs the job.

use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::job::Op;
use crate::scalar::Scalar;
use crate::validate::{validate, Base, Bounds, Call, Family, Operand};
use crate::views::{Space, StridedMut, StridedRef};

impl Handle {
    /// `C = alpha*op(A)*op(B) + beta*C`, column-major, as `tblas_Tgemm`.
    ///
    /// `A` holds the stored matrix (`m x k` for `Op::N`, else `k x m`) with leading dimension
    /// `lda`, likewise `B` (`k x n` or `n x k`) and `C` (`m x n`). The slices must contain every
    /// addressed element. Errors name the argument by its position in the C signature.
    ///
    /// ```
    /// use tensorblas::{Handle, Op};
    /// let h = Handle::new()?;
    /// let a = [1.0f32, 2.0, 3.0, 4.0]; // [[1, 3], [2, 4]]
    /// let mut c = [0.0f32; 4];
    /// h.gemm(Op::T, Op::N, 2, 2, 2, 1.0, &a, 2, &a, 2, 0.0, &mut c, 2)?; // C = A^T A
    /// assert_eq!(c, [5.0, 11.0, 11.0, 25.0]);
    /// # Ok::<(), tensorblas::Error>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn gemm<T: Scalar>(
        &self,
        transa: Op,
        transb: Op,
        m: usize,
        n: usize,
        k: usize,
        alpha: T,
        a: &[T],
        lda: usize,
        b: &[T],
        ldb: usize,
        beta: T,
        c: &mut [T],
        ldc: usize,
    ) -> Result<()> {
        self.gemm_ld(
            Family::Gemm,
            (transa, transb),
            (m, n, k),
            alpha,
            (a, lda, 0),
            (b, ldb, 0),
            beta,
            (c, ldc, 0),
            1,
        )
    }

    /// Strided batched GEMM, as `tblas_Tgemm_strided_batched`:
    /// `C[p] = alpha*op(A[p])*op(B[p]) + beta*C[p]` for `p < batch_count`, where entry `p` of X
    /// starts `p*stride_x` elements into its slice.
    ///
    /// Strides may be 0 for A and B (one matrix broadcast to every entry). Batch entries of C may
    /// interleave (e.g. `ldc = M*N`, `stride_c = M`) as long as no two share an element. Negative
    /// strides need a base offset: use [`Handle::gemm_strided_batched_ex`] with views.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_strided_batched<T: Scalar>(
        &self,
        transa: Op,
        transb: Op,
        m: usize,
        n: usize,
        k: usize,
        alpha: T,
        a: &[T],
        lda: usize,
        stride_a: isize,
        b: &[T],
        ldb: usize,
        stride_b: isize,
        beta: T,
        c: &mut [T],
        ldc: usize,
        stride_c: isize,
        batch_count: usize,
    ) -> Result<()> {
        self.gemm_ld(
            Family::Strided,
            (transa, transb),
            (m, n, k),
            alpha,
            (a, lda, stride_a),
            (b, ldb, stride_b),
            beta,
            (c, ldc, stride_c),
            batch_count,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn gemm_ld<T: Scalar>(
        &self,
        fam: Family,
        (transa, transb): (Op, Op),
        (m, n, k): (usize, usize, usize),
        alpha: T,
        (a, lda, sa): (&[T], usize, isize),
        (b, ldb, sb): (&[T], usize, isize),
        beta: T,
        (c, ldc, sc): (&mut [T], usize, isize),
        batch: usize,
    ) -> Result<()> {
        let f = T::GEMM_NAMES[fam as usize];
        let pos = |gemm: i32, strided: i32| if fam == Family::Gemm { gemm } else { strided };
        Space::Host.check(self.is_cuda(), f, 8, "A")?;
        let (m, n, k) = (i64c(f, 4, "m", m)?, i64c(f, 5, "n", n)?, i64c(f, 6, "k", k)?);
        let lda = i64c(f, 9, "lda", lda)?;
        let ldb = i64c(f, pos(11, 12), "ldb", ldb)?;
        let ldc = i64c(f, pos(14, 16), "ldc", ldc)?;
        let batch = i64c(f, 18, "batch_count", batch)?;
        let call = Call {
            family: fam,
            transa: transa as i32,
            transb: transb as i32,
            m,
            n,
            k,
            alpha: Some(alpha),
            a: Operand {
                base: Base::Ptr(a.as_ptr()),
                rs: 1,
                cs: lda,
                bs: sa as i64,
                bounds: Bounds::Span(0, a.len() as i128 - 1),
            },
            b: Operand {
                base: Base::Ptr(b.as_ptr()),
                rs: 1,
                cs: ldb,
                bs: sb as i64,
                bounds: Bounds::Span(0, b.len() as i128 - 1),
            },
            beta: Some(beta),
            c: Operand {
                base: Base::Ptr(c.as_mut_ptr()),
                rs: 1,
                cs: ldc,
                bs: sc as i64,
                bounds: Bounds::Span(0, c.len() as i128 - 1),
            },
            batch,
        };
        // Validation checks the slice bounds last, after every rule of the C contract.
        let job = validate(&call)?;
        self.run_job(&job)
    }

    /// Pointer-array batched GEMM, as `tblas_Tgemm_batched`: `C[p] = alpha*op(A[p])*op(B[p]) +
    /// beta*C[p]` for `p < c.len()`. `a` and `b` must have as many entries as `c`; the entries of
    /// C must not share elements (distinct slices guarantee that in safe Rust).
    ///
    /// ```
    /// use tensorblas::{Handle, Op};
    /// let h = Handle::new()?;
    /// let (a0, a1) = ([2.0f64], [3.0f64]);
    /// let b = [5.0f64];
    /// let (mut c0, mut c1) = ([1.0f64], [1.0f64]);
    /// h.gemm_batched(Op::N, Op::N, 1, 1, 1, 1.0, &[&a0[..], &a1[..]], 1, &[&b[..], &b[..]], 1,
    ///                1.0, &mut [&mut c0[..], &mut c1[..]], 1)?;
    /// assert_eq!((c0[0], c1[0]), (11.0, 16.0));
    /// # Ok::<(), tensorblas::Error>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_batched<T: Scalar>(
        &self,
        transa: Op,
        transb: Op,
        m: usize,
        n: usize,
        k: usize,
        alpha: T,
        a: &[&[T]],
        lda: usize,
        b: &[&[T]],
        ldb: usize,
        beta: T,
        c: &mut [&mut [T]],
        ldc: usize,
    ) -> Result<()> {
        let f = T::GEMM_NAMES[1];
        Space::Host.check(self.is_cuda(), f, 8, "A")?;
        let batch = c.len();
        if a.len() != batch {
            return Err(Error::invalid(
                f,
                8,
                "A",
                format!(
                    "must have batch_count = {batch} entries (one per C entry), got {}",
                    a.len()
                ),
            ));
        }
        if b.len() != batch {
            return Err(Error::invalid(
                f,
                10,
                "B",
                format!(
                    "must have batch_count = {batch} entries (one per C entry), got {}",
                    b.len()
                ),
            ));
        }
        let (mi, ni, ki) = (i64c(f, 4, "m", m)?, i64c(f, 5, "n", n)?, i64c(f, 6, "k", k)?);
        let (ldai, ldbi, ldci) = (
            i64c(f, 9, "lda", lda)?,
            i64c(f, 11, "ldb", ldb)?,
            i64c(f, 14, "ldc", ldc)?,
        );
        let ap: Vec<*const T> = a.iter().map(|s| s.as_ptr()).collect();
        let bp: Vec<*const T> = b.iter().map(|s| s.as_ptr()).collect();
        let cp: Vec<*mut T> = c.iter_mut().map(|s| s.as_mut_ptr()).collect();
        let call = Call {
            family: Family::Batched,
            transa: transa as i32,
            transb: transb as i32,
            m: mi,
            n: ni,
            k: ki,
            alpha: Some(alpha),
            a: Operand {
                base: Base::Array(Some(&ap)),
                rs: 1,
                cs: ldai,
                bs: 0,
                bounds: Bounds::PerEntry(&a),
            },
            b: Operand {
                base: Base::Array(Some(&bp)),
                rs: 1,
                cs: ldbi,
                bs: 0,
                bounds: Bounds::PerEntry(&b),
            },
            beta: Some(beta),
            c: Operand {
                base: Base::Array(Some(&cp)),
                rs: 1,
                cs: ldci,
                bs: 0,
                bounds: Bounds::PerEntry(&c),
            },
            batch: batch as i64,
        };
        // Validation checks each entry's slice last, after every rule of the C contract.
        let job = validate(&call)?;
        self.run_job(&job)
    }

    /// General-stride batched GEMM (BLIS style), as `tblas_Tgemm_strided_batched_ex`: element
    /// `(i, j)` of entry `p` of X is at `p*bs + i*rs + j*cs` from the view's origin. Any layout
    /// (row-major: `rs = ld, cs = 1`), negative strides, and zero strides for A and B.
    ///
    /// ```
    /// use tensorblas::{Handle, Op, StridedMut, StridedRef};
    /// let h = Handle::new()?;
    /// // Row-major 2x2 product C = A*B.
    /// let a = [1.0f64, 2.0, 3.0, 4.0];
    /// let b = [5.0f64, 6.0, 7.0, 8.0];
    /// let mut c = [0.0f64; 4];
    /// h.gemm_strided_batched_ex(Op::N, Op::N, 2, 2, 2, 1.0,
    ///     StridedRef::new(&a, 0, 2, 1, 0), StridedRef::new(&b, 0, 2, 1, 0),
    ///     0.0, StridedMut::new(&mut c, 0, 2, 1, 0), 1)?;
    /// assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
    /// # Ok::<(), tensorblas::Error>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_strided_batched_ex<T: Scalar>(
        &self,
        transa: Op,
        transb: Op,
        m: usize,
        n: usize,
        k: usize,
        alpha: T,
        a: StridedRef<'_, T>,
        b: StridedRef<'_, T>,
        beta: T,
        c: StridedMut<'_, T>,
        batch_count: usize,
    ) -> Result<()> {
        let f = T::GEMM_NAMES[3];
        let gpu = self.is_cuda();
        a.space.check(gpu, f, 8, "A")?;
        b.space.check(gpu, f, 12, "B")?;
        c.space.check(gpu, f, 17, "C")?;
        let (m, n, k) = (i64c(f, 4, "m", m)?, i64c(f, 5, "n", n)?, i64c(f, 6, "k", k)?);
        let batch = i64c(f, 21, "batch_count", batch_count)?;
        let call = Call {
            family: Family::Ex,
            transa: transa as i32,
            transb: transb as i32,
            m,
            n,
            k,
            alpha: Some(alpha),
            a: a.operand(),
            b: b.operand(),
            beta: Some(beta),
            c: c.operand(),
            batch,
        };
        // Validation checks the views' slice bounds last, after every rule of the C contract.
        let job = validate(&call)?;
        self.run_job(&job)
    }

    /// Symmetric rank-k update, strided batched with general strides (BLAS `?syrk`, one call for
    /// a batch): `C[p] = alpha * op(A[p]) * op(A[p])^T + beta * C[p]` on the `uplo` triangle of
    /// each `n x n` entry of C, with `op(A)` `n x k` (`trans = Op::N`: A is `n x k`; `Op::T`:
    /// A is `k x n`). The other strict triangle of C is neither read nor written. Views as in
    /// [`Handle::gemm_strided_batched_ex`]: element `(i, j)` of entry `p` at
    /// `p*bs + i*rs + j*cs` (of the stored A). It costs half the multiply-adds of the GEMM
    /// `op(A) op(A)^T`: the native engine skips the micro-tiles outside the triangle, which
    /// makes it the fast way to form Gram matrices (`X X^T` of a tensor unfolding read in
    /// place, as Tucker's HOSVD does).
    ///
    /// Runs on CPU handles, on the native engine for every CPU backend but `reference` (the
    /// vendor backends have no strided-batched SYRK); on a CUDA handle it returns
    /// [`Error::NotSupported`]. `Op::C` is accepted for real types (where it is `Op::T`); for
    /// complex types it is an error (`A A^H` is HERK, not this). Errors name the argument by its
    /// position in this method (`uplo` 1, `trans` 2, `n` 3, `k` 4, `alpha` 5, `a` 6, `beta` 7,
    /// `c` 8, `batch_count` 9) and otherwise follow the GEMM family's rules; C's whole `n x n`
    /// box must lie in its slice.
    ///
    /// ```
    /// use tensorblas::{Handle, Op, StridedMut, StridedRef, Uplo};
    /// let h = Handle::new()?;
    /// // The Gram matrix of the rows of a row-major 2x3 A: C = A A^T (lower triangle).
    /// let a = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
    /// let mut c = [-1.0f64; 4];
    /// h.syrk_strided_batched_ex(Uplo::Lower, Op::N, 2, 3, 1.0, StridedRef::new(&a, 0, 3, 1, 0),
    ///     0.0, StridedMut::new(&mut c, 0, 1, 2, 0), 1)?;
    /// assert_eq!(c, [14.0, 32.0, -1.0, 77.0]); // column-major; c[2] (upper) untouched
    /// # Ok::<(), tensorblas::Error>(())
    /// ```
    #[allow(clippy::too_many_arguments)]
    pub fn syrk_strided_batched_ex<T: Scalar>(
        &self,
        uplo: crate::job::Uplo,
        trans: Op,
        n: usize,
        k: usize,
        alpha: T,
        a: StridedRef<'_, T>,
        beta: T,
        c: StridedMut<'_, T>,
        batch_count: usize,
    ) -> Result<()> {
        let f = T::GEMM_NAMES[Family::Syrk as usize];
        if self.is_cuda() {
            return Err(Error::NotSupported(format!(
                "{f}: runs on CPU handles only (no strided-batched SYRK on the GPU yet)"
            )));
        }
        a.space.check(false, f, 6, "A")?;
        c.space.check(false, f, 8, "C")?;
        if T::IS_COMPLEX && trans == Op::C {
            return Err(Error::invalid(
                f,
                2,
                "trans",
                "must be N or T for complex types (C = A A^H is a Hermitian update, not provided)",
            ));
        }
        let trans = if trans == Op::C { Op::T } else { trans };
        let (n, k) = (i64c(f, 3, "n", n)?, i64c(f, 4, "k", k)?);
        let batch = i64c(f, 9, "batch_count", batch_count)?;
        let op = a.operand();
        let call = Call {
            family: Family::Syrk,
            transa: trans as i32,
            transb: if trans == Op::N { Op::T } else { Op::N } as i32,
            m: n,
            n,
            k,
            alpha: Some(alpha),
            a: op,
            b: op,
            beta: Some(beta),
            c: c.operand(),
            batch,
        };
        // Validation checks the views' slice bounds last (A also as the B it reads transposed:
        // the same elements, so B's check never fails where A's passed).
        let job = validate(&call)?.on_triangle(uplo);
        self.run_job(&job)
    }

    /// Validates and runs a call that arrived through the C ABI (raw pointers, no slices).
    pub(crate) fn run_call<T: Scalar>(&self, call: &Call<'_, T>) -> Result<()> {
        let job = validate(call)?;
        self.run_job(&job)
    }
}

/// A usize argument as the C API's `int64_t`, or the error naming it.
fn i64c(f: &'static str, pos: i32, name: &'static str, v: usize) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::invalid(f, pos, name, format!("must be <= {}, got {v}", i64::MAX)))
}
