//! The small dense eigenproblems and SVDs, through faer (no hand-written LAPACK).

use crate::TuckerError;
use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::{Mat, MatMut, MatRef, Par, Side};
use tensorblas::{Handle, Op};

/// Sign convention of TensorLy's `svd_flip` (and Tensor Toolbox's `nvecs`): the entry of
/// largest magnitude of each column is made positive.
fn flip(col: &mut [f64]) {
    let mut best = 0usize;
    for (i, v) in col.iter().enumerate() {
        if v.abs() > col[best].abs() {
            best = i;
        }
    }
    if col[best] < 0.0 {
        col.iter_mut().for_each(|v| *v = -*v);
    }
}

/// `n x r` column-major columns `col(i, k)`, each signed by [`flip`].
fn flipped_columns(n: usize, r: usize, col: impl Fn(usize, usize) -> f64) -> Vec<f64> {
    let mut out = vec![0.0; n * r];
    for k in 0..r {
        let c = &mut out[k * n..(k + 1) * n];
        for (i, v) in c.iter_mut().enumerate() {
            *v = col(i, k);
        }
        flip(c);
    }
    out
}

/// The eigenvectors of the `r` largest eigenvalues of the symmetric `n x n` matrix `s`
/// (column-major), largest first, as an `n x r` column-major matrix. Only the lower triangle is
/// read. Eigenvalues below 0 (rounding in a Gram matrix) are harmless here: only vectors are used.
pub(crate) fn leading_eigenvectors(s: &[f64], n: usize, r: usize) -> Result<Vec<f64>, TuckerError> {
    Ok(eigh_descending(s, n, r)?.1)
}

/// All eigenvalues of the symmetric `n x n` matrix `s` (column-major, lower triangle read),
/// descending, with the eigenvectors of the `r` largest (`n x r` column-major, each column's
/// largest-magnitude entry positive: TensorLy's `svd_flip`).
pub(crate) fn eigh_descending(s: &[f64], n: usize, r: usize) -> Result<(Vec<f64>, Vec<f64>), TuckerError> {
    let m = Mat::from_fn(n, n, |i, j| s[i + j * n]);
    let e = m
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| TuckerError::Solver(format!("symmetric eigensolver failed on a {n}x{n} Gram matrix: {e:?}")))?;
    let (u, vals) = (e.U(), e.S());
    // faer's eigenvalues ascend: read them, and the last r vectors, from the end.
    let values = (0..n).map(|k| vals[n - 1 - k]).collect();
    let vectors = flipped_columns(n, r, |i, k| u[(i, n - 1 - k)]);
    Ok((values, vectors))
}

/// The `r` leading left singular vectors of the `rows x cols` column-major matrix `a`.
pub(crate) fn leading_left_singular_vectors(
    a: &[f64],
    rows: usize,
    cols: usize,
    r: usize,
) -> Result<Vec<f64>, TuckerError> {
    let m = Mat::from_fn(rows, cols, |i, j| a[i + j * rows]);
    let svd = m
        .thin_svd()
        .map_err(|e| TuckerError::Solver(format!("SVD failed on a {rows}x{cols} unfolding: {e:?}")))?;
    let u = svd.U();
    if u.ncols() < r {
        return Err(TuckerError::Rank(format!(
            "rank {r} exceeds the {} singular vectors of a {rows}x{cols} unfolding",
            u.ncols()
        )));
    }
    let out = flipped_columns(rows, r, |i, k| u[(i, k)]);
    Ok(out)
}

/// Singular values of a `rows x cols` column-major matrix, descending (tests: Eckart–Young).
pub fn singular_values(a: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>, TuckerError> {
    let m = Mat::from_fn(rows, cols, |i, j| a[i + j * rows]);
    m.singular_values()
        .map_err(|e| TuckerError::Solver(format!("SVD failed on a {rows}x{cols} matrix: {e:?}")))
}

/// How [`leading_eigenvectors_warm`] ended.
#[derive(Debug)]
pub(crate) enum Warm {
    /// Converged: the `n x r` eigenvectors (as [`leading_eigenvectors`] orders and signs them).
    Vectors(Vec<f64>),
    /// Not converging fast enough (a small gap between eigenvalue `r` and those below it, or a
    /// block as large as the matrix): the caller runs the dense solver.
    Dense,
}

/// What the warm subspace iteration of one mode keeps from one HOOI sweep to the next.
#[derive(Debug, Default)]
pub(crate) struct WarmState {
    /// The dense solver took over (the iteration did not converge fast enough once): it keeps
    /// the mode from then on.
    pub dense: bool,
    /// The last converged block (`n x b` orthonormal Ritz vectors, column-major, largest Ritz
    /// value first): the next sweep starts from all of it, its extra vectors already close to
    /// the eigenvectors below the leading `r`, instead of the factor and fresh random vectors.
    block: Vec<f64>,
}

/// Subspace iterations before giving up on [`leading_eigenvectors_warm`].
const WARM_MAX_IT: usize = 40;

/// Residual at which a Ritz pair counts as converged, relative to the largest eigenvalue: a few
/// hundred times the rounding of one product with the matrix.
const WARM_TOL: f64 = 1e-12;

/// The convergence threshold of [`leading_eigenvectors_warm`] for a Gram matrix computed in a
/// type of machine epsilon `eps`: [`WARM_TOL`], or four ulps of that type where they are larger
/// (f32: 4.8e-7). A Gram computed in f32 carries rounding of about its epsilon times the top
/// eigenvalue (the previous sweep's converged block starts each sweep at a residual of 4-5e-8
/// at 300³ R20, against 1e-14-5e-13 in f64), so vectors converged past it are not more accurate,
/// only one more product slower; the errors stay within 1e-10 of f64's.
pub(crate) fn warm_tol(eps: f64) -> f64 {
    WARM_TOL.max(4.0 * eps)
}

/// `C = op(A) B` for column-major f64 matrices (`C` is `m x n`, `B` is `k x n`; `A` is `m x k`,
/// or `k x m` with `at`), on the tensorblas engine.
fn mul(h: &Handle, at: bool, (m, n, k): (usize, usize, usize), a: &[f64], b: &[f64], c: &mut [f64]) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum (a member without columns of a split `Sym::Factor`).
        c[..m * n].iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    let (op, lda) = if at { (Op::T, k) } else { (Op::N, m) };
    h.gemm(op, Op::N, m, n, k, 1.0, a, lda, b, k, 0.0, c, m)
        .expect("in-bounds f64 GEMM of the eigensolver's own buffers");
}

/// The members one subspace iteration through [`Sym::Factor`] is split over: each holds the
/// whole `W` but multiplies only its share of the unfolding's columns ([`Members::member`] and
/// `crate::tensor::unfolding_f64`'s range), and the products `M_p (M_pᵀ V)` are summed. Alone
/// ([`One`]) nothing is split. (`crate::group::Group::members` gives a group's.)
pub(crate) trait Members {
    /// This member's index and the number of members.
    fn member(&self) -> (usize, usize);
    /// Element-wise sum over the members, in place (`MPI_Allreduce`).
    fn sum_parts(&self, v: &mut [f64]);
    /// Element-wise maximum over the members, in place: every member gets the same values
    /// (the iteration's decisions, which must agree for the members to make the same calls).
    fn agree_max(&self, v: &mut [f64]);
}

/// A single process: the unfolding's columns are all its own.
pub(crate) struct One;

impl Members for One {
    fn member(&self) -> (usize, usize) {
        (0, 1)
    }
    fn sum_parts(&self, _: &mut [f64]) {}
    fn agree_max(&self, _: &mut [f64]) {}
}

/// Member `p`'s columns of `c`, split over `members`: `c p / members .. c (p + 1) / members`.
pub(crate) fn member_columns(c: usize, (p, members): (usize, usize)) -> (usize, usize) {
    (c * p / members, c * (p + 1) / members)
}

/// Orthonormalizes the `n x b` column-major block `z` in place (its columns scaled near unit
/// length by the caller): CholeskyQR twice (`G = ZᵀZ = LLᵀ`, `Z ← Z L⁻ᵀ`, repeated once for
/// orthogonality to rounding), four small products instead of a Householder QR; a Householder
/// QR where the Cholesky factorization fails (`z` numerically rank-deficient).
fn orthonormalize(h: &Handle, z: &mut [f64], n: usize, b: usize) {
    let mut g = vec![0.0; b * b];
    for _ in 0..2 {
        mul(h, true, (b, b, n), z, z, &mut g);
        let gm = MatRef::from_column_major_slice(&g, b, b);
        let Ok(llt) = gm.llt(Side::Lower) else {
            let q = MatRef::from_column_major_slice(z, n, b).qr().compute_thin_Q();
            for j in 0..b {
                for i in 0..n {
                    z[i + j * n] = q[(i, j)];
                }
            }
            return;
        };
        // Z L⁻ᵀ: (Z L⁻ᵀ)ᵀ = L⁻¹ Zᵀ, solved in place on the transposed view of z.
        let zt = MatMut::from_column_major_slice_mut(z, n, b).transpose_mut();
        solve_lower_triangular_in_place(llt.L(), zt, Par::Seq);
    }
}

/// The symmetric positive semidefinite `n x n` matrix whose leading eigenvectors
/// [`leading_eigenvectors_warm`] finds.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sym<'a> {
    /// `S` itself, column-major, both triangles (`tensor::gram` mirrors its SYRK's).
    Gram(&'a [f64]),
    /// `S = M Mᵀ` for an `n x c` matrix `M`, `m` column-major `n x c` or, with `transposed`,
    /// `Mᵀ` column-major `c x n`: each product `S V` is `Mᵀ V` then `M (Mᵀ V)`, `4 n c b` flops
    /// for `b` vectors, and `S` is never formed (its `n² c` flops saved where an update takes an
    /// iteration or two and `c` is not much larger than `n`; see [`factor_pays`]).
    ///
    /// Split over [`Members`] (more than one), `m` holds this member's columns of `M` only
    /// (`c` of them) and each product is summed over the members.
    Factor { m: &'a [f64], c: usize, transposed: bool },
}

impl Sym<'_> {
    /// Whether the products run split over `members` (and their sums and the iteration's
    /// decisions are collective).
    fn split(&self, members: &dyn Members) -> bool {
        matches!(self, Sym::Factor { .. }) && members.member().1 > 1
    }

    /// `y = S v` for the `n x b` column-major block `v` (`tmp`: scratch of `c * b` for
    /// [`Sym::Factor`]).
    /// ([`Sym::Factor`] split: this member's share, which the caller sums.)
    fn apply(&self, h: &Handle, n: usize, b: usize, v: &[f64], y: &mut [f64], tmp: &mut Vec<f64>) {
        match *self {
            Sym::Gram(s) => mul(h, false, (n, b, n), &s[..n * n], v, y),
            Sym::Factor { m, c, transposed } => {
                tmp.resize(c * b, 0.0);
                let m = &m[..n * c];
                mul(h, !transposed, (c, b, n), m, v, tmp);
                mul(h, transposed, (n, b, c), m, tmp, y);
            }
        }
    }
}

/// Whether a subspace iteration on `S = M Mᵀ` (`M` is `n x c`) costs less through `M`
/// ([`Sym::Factor`], `4 n c b` flops per iteration) than by forming `S` first (`n² c` for the
/// SYRK, then `2 n² b` per iteration), counting two iterations (a warm HOOI update takes one or
/// two): `8 c b <= n c + 4 n b`. HOOI's updates at 300³ R20 (`n = 300`, `c = 400`, `b = 40`):
/// yes; the HOSVD init on the whole tensor (`c = 90000`): no.
pub(crate) fn factor_pays(n: usize, c: usize, b: usize) -> bool {
    8 * c * b <= n * c + 4 * n * b
}

/// The block size of [`leading_eigenvectors_warm`] for `r` wanted vectors.
pub(crate) fn warm_block(r: usize) -> usize {
    r + r.max(8)
}

/// The eigenvectors of the `r` largest eigenvalues of the symmetric `n x n` matrix `s`
/// ([`Sym`]: given whole or as `M Mᵀ`) by subspace iteration with Rayleigh–Ritz, started from
/// `state`'s block of the previous call when it has one, else from `start` (`n x r`, e.g. the
/// factor of the previous HOOI sweep; need not be orthonormal) and seeded extra vectors.
///
/// The block holds `b = r + max(r, 8)` vectors, so the rate per iteration is `λ_{b+1} / λ_r`
/// rather than `λ_{r+1} / λ_r`. Each iteration costs one `n x n x b` product (two `n x c x b`
/// ones through [`Sym::Factor`]) and a few `n x b x b` ones (on the tensorblas engine) and a
/// `b x b` eigenproblem, against the dense solver's `O(n³)` with all `n` vectors. Converged when
/// every one of the `r` leading Ritz pairs has a residual `‖S x − θ x‖ <= tol · |θ_1|`
/// ([`warm_tol`]: 1e-12 for f64 data; then the vectors agree with the dense solver's to about
/// `1e-12 · θ_1 / gap`); [`Warm::Dense`] when the residuals shrink by less than a factor 0.6 per
/// iteration after the fourth (a gap too small to pay) or after 40 iterations. The next block is
/// `S X` with each Ritz vector's image divided by its Ritz value (close to `X`, whose columns are
/// orthonormal), orthonormalized by CholeskyQR2.
#[allow(clippy::too_many_arguments)]
pub(crate) fn leading_eigenvectors_warm(
    h: &Handle,
    s: Sym<'_>,
    n: usize,
    r: usize,
    start: &[f64],
    tol: f64,
    state: &mut WarmState,
    members: &dyn Members,
) -> Warm {
    let b = warm_block(r);
    if b * 2 > n || start.len() != n * r {
        return Warm::Dense;
    }
    let mut tmp = Vec::new();
    let mut v = if state.block.len() == n * b {
        std::mem::take(&mut state.block)
    } else {
        let extra = crate::uniform(0x9E37_79B9_7F4A_7C15, (b - r) * n);
        let v0 = Mat::from_fn(n, b, |i, j| {
            if j < r {
                start[i + j * n]
            } else {
                extra[i + (j - r) * n] - 0.5
            }
        });
        let q = v0.qr().compute_thin_Q();
        (0..n * b).map(|o| q[(o % n, o / n)]).collect()
    };
    let (mut y, mut x, mut sx) = (vec![0.0; n * b], vec![0.0; n * b], vec![0.0; n * b]);
    let (mut hm, mut wd) = (vec![0.0; b * b], vec![0.0; b * b]);
    let mut last = f64::INFINITY;
    let split = s.split(members);
    let mut theta = vec![0.0; b];
    for it in 0..WARM_MAX_IT {
        s.apply(h, n, b, &v, &mut y, &mut tmp);
        if split {
            members.sum_parts(&mut y);
        }
        mul(h, true, (b, b, n), &v, &y, &mut hm);
        let hs = Mat::from_fn(b, b, |i, j| 0.5 * (hm[i + j * b] + hm[j + i * b]));
        // [eigensolver failed, worst relative residual of the r leading Ritz pairs]
        let mut verdict = [1.0, f64::INFINITY];
        // The largest Ritz value's magnitude, the scale of the residuals and Ritz values.
        let mut top = f64::MIN_POSITIVE;
        if let Ok(e) = hs.self_adjoint_eigen(Side::Lower) {
            let w = e.U();
            // Ritz values and vectors and their images, largest Ritz value first.
            for k in 0..b {
                theta[k] = e.S()[b - 1 - k];
                for i in 0..b {
                    wd[i + k * b] = w[(i, b - 1 - k)];
                }
            }
            mul(h, false, (n, b, b), &v, &wd, &mut x);
            mul(h, false, (n, b, b), &y, &wd, &mut sx);
            top = theta[0].abs().max(f64::MIN_POSITIVE);
            let mut worst = 0.0f64;
            for (k, &t) in theta.iter().enumerate().take(r) {
                let (xk, sk) = (&x[k * n..(k + 1) * n], &sx[k * n..(k + 1) * n]);
                let res: f64 = xk
                    .iter()
                    .zip(sk)
                    .map(|(&xi, &si)| (si - t * xi).powi(2))
                    .sum::<f64>()
                    .sqrt();
                // (A NaN residual counts as no convergence, which every member sees alike.)
                worst = if res.is_nan() {
                    f64::INFINITY
                } else {
                    worst.max(res / top)
                };
            }
            verdict = [0.0, worst];
        }
        if split {
            // Split, the members decide together (their sums' bits may differ a little).
            members.agree_max(&mut verdict);
        }
        let [failed, worst] = verdict;
        if failed > 0.0 {
            return Warm::Dense;
        }
        if worst <= tol {
            let out = flipped_columns(n, r, |i, k| x[i + k * n]);
            state.block = x;
            return Warm::Vectors(out);
        }
        if it >= 4 && worst > 0.6 * last {
            return Warm::Dense;
        }
        last = worst;
        // S X with each column divided by its Ritz value: nearly X, so nearly orthonormal, which
        // CholeskyQR keeps accurate (a Ritz value near zero leaves its column as it is).
        for (k, &t) in theta.iter().enumerate() {
            if t.abs() > 1e-8 * top {
                sx[k * n..(k + 1) * n].iter_mut().for_each(|c| *c /= t);
            }
        }
        orthonormalize(h, &mut sx, n, b);
        std::mem::swap(&mut v, &mut sx);
    }
    Warm::Dense
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Q diag(values) Qᵀ` for an orthogonal `Q` from a seeded QR, column-major, and `Q`.
    fn with_spectrum(values: &[f64], seed: u64) -> (Vec<f64>, Mat<f64>) {
        let n = values.len();
        let mut s = seed;
        let g = Mat::from_fn(n, n, |_, _| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        });
        let q = g.qr().compute_Q();
        let d = Mat::from_fn(n, n, |i, j| if i == j { values[i] } else { 0.0 });
        let a = &q * &d * q.transpose();
        ((0..n * n).map(|o| a[(o % n, o / n)]).collect(), q)
    }

    /// `len` eigenvalues: 100, 99, ... for the leading `r`, then a gap down to 5 and below.
    fn gapped(len: usize, r: usize) -> Vec<f64> {
        (0..len)
            .map(|i| {
                if i < r {
                    100.0 - i as f64
                } else {
                    5.0 * (len - i) as f64 / len as f64
                }
            })
            .collect()
    }

    #[test]
    fn warm_subspace_iteration_matches_the_dense_solver() {
        // Eigenvalues 100, 99, ..., 91 above a gap, then 5 and below: from a start that is the
        // true subspace rotated and perturbed by 1e-2, the iteration converges and gives the dense
        // solver's vectors (same order and signs).
        let (n, r) = (60, 10);
        let values = gapped(n, r);
        let (s, q) = with_spectrum(&values, 7);
        let start: Vec<f64> = (0..n * r)
            .map(|o| {
                let (i, j) = (o % n, o / n);
                q[(i, (j + 3) % r)] + 1e-2 * ((o * 37 % 11) as f64 - 5.0) / 5.0
            })
            .collect();
        let dense = leading_eigenvectors(&s, n, r).unwrap();
        let h = Handle::new().unwrap();
        match leading_eigenvectors_warm(
            &h,
            Sym::Gram(&s),
            n,
            r,
            &start,
            WARM_TOL,
            &mut WarmState::default(),
            &One,
        ) {
            Warm::Vectors(v) => {
                let d = v.iter().zip(&dense).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                assert!(d <= 1e-10, "vectors differ by {d}");
            }
            Warm::Dense => panic!("a clear gap must converge"),
        }
    }

    #[test]
    fn warm_iteration_on_the_unfolding_matches_the_gram_and_the_dense_solver() {
        // S = M Mᵀ with M = Q diag(sqrt(values)) Pᵀ (n x c): the iteration through M, given as M
        // or as Mᵀ, gives the dense solver's vectors of the explicit S (same order and signs),
        // as the iteration on S does; from a start 1e-2 off the true subspace.
        let (n, c, r) = (60, 40, 10);
        let values: Vec<f64> = (0..n)
            .map(|i| match i {
                _ if i < r => 100.0 - i as f64,
                _ if i < c => 5.0 * (c - i) as f64 / c as f64,
                _ => 0.0,
            })
            .collect();
        let (_, q) = with_spectrum(&values, 11);
        let (_, p) = with_spectrum(&vec![1.0; c], 13);
        let m = Mat::from_fn(n, c, |i, j| {
            (0..c).map(|k| q[(i, k)] * values[k].sqrt() * p[(j, k)]).sum::<f64>()
        });
        let s: Vec<f64> = (0..n * n)
            .map(|o| (0..c).map(|k| m[(o % n, k)] * m[(o / n, k)]).sum())
            .collect();
        let m_cm: Vec<f64> = (0..n * c).map(|o| m[(o % n, o / n)]).collect();
        let mt_cm: Vec<f64> = (0..n * c).map(|o| m[(o / c, o % c)]).collect();
        let start: Vec<f64> = (0..n * r)
            .map(|o| q[(o % n, o / n)] + 1e-2 * ((o * 37 % 11) as f64 - 5.0) / 5.0)
            .collect();
        let dense = leading_eigenvectors(&s, n, r).unwrap();
        let h = Handle::new().unwrap();
        for sym in [
            Sym::Gram(&s),
            Sym::Factor {
                m: &m_cm,
                c,
                transposed: false,
            },
            Sym::Factor {
                m: &mt_cm,
                c,
                transposed: true,
            },
        ] {
            match leading_eigenvectors_warm(&h, sym, n, r, &start, WARM_TOL, &mut WarmState::default(), &One) {
                Warm::Vectors(v) => {
                    let d = v.iter().zip(&dense).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
                    assert!(d <= 1e-10, "{sym:?}: vectors differ by {d}");
                }
                Warm::Dense => panic!("{sym:?}: a clear gap must converge"),
            }
        }
        // The cost rule: HOOI's updates at 300³ R20 through the unfolding, the init's Gram not.
        assert!(factor_pays(300, 400, warm_block(20)));
        assert!(!factor_pays(300, 90_000, warm_block(20)));
    }

    /// Members that are threads of one process: each sum and maximum through a shared slot per
    /// member, added in member order.
    struct Threads {
        p: usize,
        slots: std::sync::Arc<std::sync::Mutex<Vec<Vec<f64>>>>,
        barrier: std::sync::Arc<std::sync::Barrier>,
        calls: std::cell::Cell<usize>,
    }

    impl Threads {
        fn combine(&self, v: &mut [f64], f: fn(f64, f64) -> f64) {
            self.calls.set(self.calls.get() + 1);
            self.slots.lock().unwrap()[self.p] = v.to_vec();
            self.barrier.wait();
            {
                let slots = self.slots.lock().unwrap();
                for (k, out) in v.iter_mut().enumerate() {
                    *out = slots.iter().map(|s| s[k]).reduce(f).unwrap();
                }
            }
            self.barrier.wait();
        }
    }

    impl Members for Threads {
        fn member(&self) -> (usize, usize) {
            (self.p, self.slots.lock().unwrap().len())
        }
        fn sum_parts(&self, v: &mut [f64]) {
            self.combine(v, |a, b| a + b)
        }
        fn agree_max(&self, v: &mut [f64]) {
            self.combine(v, f64::max)
        }
    }

    #[test]
    fn warm_iteration_split_over_members_by_columns_matches_the_whole() {
        // S = M Mᵀ (n x c, a clear gap below r): 1, 2 and 3 members (threads), each with its
        // columns of M (as M or as Mᵀ), give the single solve's vectors within rounding (and so
        // the dense solver's), every member making the same collective calls; a member may hold
        // no columns (3 members over the 2 columns of a rank-2 M, r = 1: member 0's sum is empty).
        let (n, c, r) = (60, 40, 10);
        let values = gapped(c, r);
        let (_, q) = with_spectrum(&vec![1.0; n], 17);
        let (_, pm) = with_spectrum(&vec![1.0; c], 19);
        let m = Mat::from_fn(n, c, |i, j| {
            (0..c).map(|k| q[(i, k)] * values[k].sqrt() * pm[(j, k)]).sum::<f64>()
        });
        let s: Vec<f64> = (0..n * n)
            .map(|o| (0..c).map(|k| m[(o % n, k)] * m[(o / n, k)]).sum())
            .collect();
        let dense = leading_eigenvectors(&s, n, r).unwrap();
        let start: Vec<f64> = (0..n * r)
            .map(|o| q[(o % n, o / n)] + 1e-2 * ((o * 37 % 11) as f64 - 5.0) / 5.0)
            .collect();
        let solve = |members: usize,
                     transposed: bool,
                     m: &Mat<f64>,
                     c: usize,
                     r: usize,
                     start: &[f64]|
         -> Vec<(Vec<f64>, usize)> {
            let slots = std::sync::Arc::new(std::sync::Mutex::new(vec![Vec::new(); members]));
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(members));
            std::thread::scope(|sc| {
                let hs: Vec<_> = (0..members)
                    .map(|p| {
                        let (slots, barrier) = (slots.clone(), barrier.clone());
                        sc.spawn(move || {
                            let (c0, c1) = member_columns(c, (p, members));
                            let part: Vec<f64> = if transposed {
                                (0..(c1 - c0) * n)
                                    .map(|o| m[(o / (c1 - c0), c0 + o % (c1 - c0))])
                                    .collect()
                            } else {
                                (0..n * (c1 - c0)).map(|o| m[(o % n, c0 + o / n)]).collect()
                            };
                            let t = Threads {
                                p,
                                slots,
                                barrier,
                                calls: std::cell::Cell::new(0),
                            };
                            let h = Handle::new().unwrap();
                            let sym = Sym::Factor {
                                m: &part,
                                c: c1 - c0,
                                transposed,
                            };
                            match leading_eigenvectors_warm(
                                &h,
                                sym,
                                n,
                                r,
                                start,
                                WARM_TOL,
                                &mut WarmState::default(),
                                &t,
                            ) {
                                Warm::Vectors(v) => (v, t.calls.get()),
                                Warm::Dense => panic!("{members} members: a clear gap must converge"),
                            }
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).collect()
            })
        };
        let diff = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        let whole = solve(1, false, &m, c, r, &start);
        assert_eq!(whole[0].1, 0, "alone, no collective");
        assert!(diff(&whole[0].0, &dense) <= 1e-10);
        for members in [2, 3] {
            for transposed in [false, true] {
                let got = solve(members, transposed, &m, c, r, &start);
                for (p, (v, calls)) in got.iter().enumerate() {
                    assert!(
                        diff(v, &whole[0].0) <= 1e-12,
                        "{members} members, member {p}: {}",
                        diff(v, &whole[0].0)
                    );
                    // Two collectives (the sum and the verdict) per iteration, the same on all.
                    assert!(
                        *calls >= 2 && calls % 2 == 0 && *calls == got[0].1,
                        "{members}: {calls}"
                    );
                }
            }
        }
        // Three members over two columns: member 0 holds none (an empty sum).
        assert_eq!(member_columns(2, (0, 3)), (0, 0));
        let m2 = Mat::from_fn(n, 2, |i, j| if j == 0 { q[(i, 0)] * 3.0 } else { q[(i, 1)] * 0.1 });
        let s2: Vec<f64> = (0..n * n)
            .map(|o| (0..2).map(|k| m2[(o % n, k)] * m2[(o / n, k)]).sum())
            .collect();
        let start2: Vec<f64> = (0..n).map(|i| q[(i, 0)] + 1e-3 * q[(i, 2)]).collect();
        let want = leading_eigenvectors(&s2, n, 1).unwrap();
        for (v, _) in solve(3, false, &m2, 2, 1, &start2) {
            assert!(diff(&v, &want) <= 1e-10, "{}", diff(&v, &want));
        }
    }

    #[test]
    fn warm_subspace_iteration_gives_up_without_a_gap() {
        // Eigenvalues 1 - i/1000: no gap below r, the residual barely shrinks: the dense solver.
        let (n, r) = (60, 10);
        let values: Vec<f64> = (0..n).map(|i| 1.0 - i as f64 / 1000.0).collect();
        let (s, _) = with_spectrum(&values, 9);
        let start: Vec<f64> = (0..n * r).map(|o| ((o * 13 % 7) as f64 - 3.0) / 3.0).collect();
        let h = Handle::new().unwrap();
        assert!(matches!(
            leading_eigenvectors_warm(
                &h,
                Sym::Gram(&s),
                n,
                r,
                &start,
                WARM_TOL,
                &mut WarmState::default(),
                &One
            ),
            Warm::Dense
        ));
        // A block as large as half the matrix: the dense solver directly.
        assert!(matches!(
            leading_eigenvectors_warm(
                &h,
                Sym::Gram(&s),
                20,
                8,
                &start[..160],
                WARM_TOL,
                &mut WarmState::default(),
                &One
            ),
            Warm::Dense
        ));
    }
}
