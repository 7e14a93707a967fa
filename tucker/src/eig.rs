//! The small dense eigenproblems and SVDs, through faer (no hand-written LAPACK).

use crate::TuckerError;
use faer::{Mat, Side};

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
    let mut vectors = vec![0.0; n * r];
    for k in 0..r {
        let src = n - 1 - k;
        let col = &mut vectors[k * n..(k + 1) * n];
        for (i, v) in col.iter_mut().enumerate() {
            *v = u[(i, src)];
        }
        flip(col);
    }
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
    let mut out = vec![0.0; rows * r];
    for k in 0..r {
        let col = &mut out[k * rows..(k + 1) * rows];
        for (i, v) in col.iter_mut().enumerate() {
            *v = u[(i, k)];
        }
        flip(col);
    }
    Ok(out)
}

/// Singular values of a `rows x cols` column-major matrix, descending (tests: Eckart–Young).
pub fn singular_values(a: &[f64], rows: usize, cols: usize) -> Result<Vec<f64>, TuckerError> {
    let m = Mat::from_fn(rows, cols, |i, j| a[i + j * rows]);
    m.singular_values()
        .map_err(|e| TuckerError::Solver(format!("SVD failed on a {rows}x{cols} matrix: {e:?}")))
}
