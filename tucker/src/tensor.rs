//! Dense tensors, views, matrices and the contractions HOOI needs, each one tensorblas
//! contraction on the operands' own memory (no unfolding copies).

use crate::{Real, TuckerError};
use tensorblas::{Handle, Op, Shape, StridedMut, StridedRef, TensorMut, TensorRef, Uplo};

/// A borrowed dense tensor with any non-negative element strides (C order, Fortran order, a
/// permuted or sliced view).
#[derive(Clone, Debug)]
pub struct TensorView<'a, T> {
    pub(crate) data: &'a [T],
    pub(crate) shape: Vec<usize>,
    pub(crate) strides: Vec<usize>,
}

impl<'a, T: Real> TensorView<'a, T> {
    /// A C-order (row-major, last mode fastest) tensor, as numpy's default.
    pub fn c_order(data: &'a [T], shape: &[usize]) -> Result<Self, TuckerError> {
        Self::strided(data, shape, &c_strides(shape))
    }

    /// A Fortran-order (column-major, first mode fastest) tensor.
    pub fn f_order(data: &'a [T], shape: &[usize]) -> Result<Self, TuckerError> {
        Self::strided(data, shape, &f_strides(shape))
    }

    /// Explicit element strides; every addressed element must lie in `data`.
    pub fn strided(data: &'a [T], shape: &[usize], strides: &[usize]) -> Result<Self, TuckerError> {
        if shape.len() != strides.len() {
            return Err(TuckerError::Shape(format!(
                "{} strides for a tensor of order {}",
                strides.len(),
                shape.len()
            )));
        }
        if !shape.contains(&0) {
            let last: usize = shape.iter().zip(strides).map(|(e, s)| (e - 1) * s).sum();
            if last >= data.len() {
                return Err(TuckerError::Shape(format!(
                    "shape {shape:?} with strides {strides:?} addresses element {last}, but the data has {}",
                    data.len()
                )));
            }
        }
        Ok(TensorView {
            data,
            shape: shape.to_vec(),
            strides: strides.to_vec(),
        })
    }

    /// The extents.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn tref(&self) -> TensorRef<'a, T> {
        TensorRef::new(self.data, Shape::strided(&self.shape, &self.strides))
    }

    /// Sum of squares, accumulated in f64 (one thread).
    pub(crate) fn norm2(&self) -> f64 {
        self.norm2_on(1)
    }

    /// Sum of squares, accumulated in f64. Where the view covers a dense range of memory (C or
    /// Fortran order, any permutation of them) it runs over that range in memory order: blocks
    /// of [`NORM_BLOCK`] elements, each summed in [`NORM_LANES`] partial sums (vectorized), the
    /// blocks' sums added in block order — the same bits on any number of threads — the blocks
    /// split over `threads` threads for large tensors. Otherwise element by element in C order
    /// of the indices.
    pub(crate) fn norm2_on(&self, threads: usize) -> f64 {
        let Some(len) = self.dense_len() else {
            let mut s = 0.0;
            for_each_offset(&self.shape, &self.strides, |o| {
                let v = self.data[o].to_f64();
                s += v * v;
            });
            return s;
        };
        let v = &self.data[..len];
        let blocks = len.div_ceil(NORM_BLOCK);
        let mut sums = vec![0.0f64; blocks];
        let threads = threads.clamp(1, blocks.max(1));
        if threads == 1 || len < NORM_THREADED {
            for (s, b) in sums.iter_mut().zip(v.chunks(NORM_BLOCK)) {
                *s = sum_squares(b);
            }
        } else {
            let per = blocks.div_ceil(threads);
            std::thread::scope(|sc| {
                for (ss, bs) in sums.chunks_mut(per).zip(v.chunks(per * NORM_BLOCK)) {
                    sc.spawn(move || {
                        for (s, b) in ss.iter_mut().zip(bs.chunks(NORM_BLOCK)) {
                            *s = sum_squares(b);
                        }
                    });
                }
            });
        }
        sums.iter().sum()
    }

    /// The number of elements when the view's elements are exactly `data[..len]` (strides a
    /// permutation of a dense layout's, extents of 1 ignored).
    fn dense_len(&self) -> Option<usize> {
        if self.shape.contains(&0) {
            return Some(0);
        }
        match fused_modes(&self.shape, &self.strides, None)[..] {
            [] => Some(1),
            [(e, 1)] => Some(e),
            _ => None,
        }
    }

    /// The sum of squares, or [`TuckerError::NonFinite`] when an element is NaN or infinite —
    /// in one pass over the tensor (on `threads` threads, [`Self::norm2_on`]): a non-finite
    /// element makes the sum non-finite, so only a non-finite sum (or an overflow of huge finite
    /// values) reads the tensor a second time.
    pub(crate) fn finite_norm2(&self, threads: usize) -> Result<f64, TuckerError> {
        let s = self.norm2_on(threads);
        if s.is_finite() || self.all_finite() {
            Ok(s)
        } else {
            Err(TuckerError::NonFinite)
        }
    }

    /// Whether every element is finite.
    fn all_finite(&self) -> bool {
        let mut ok = true;
        for_each_offset(&self.shape, &self.strides, |o| ok &= self.data[o].to_f64().is_finite());
        ok
    }

    /// The elements in C order.
    pub(crate) fn to_c_order(&self) -> Vec<T> {
        let mut v = Vec::with_capacity(self.shape.iter().product());
        for_each_offset(&self.shape, &self.strides, |o| v.push(self.data[o]));
        v
    }
}

/// Elements per block of [`TensorView::norm2_on`] (its result depends on this, not on the
/// threads).
const NORM_BLOCK: usize = 1 << 15;
/// Partial sums per block: wide enough for the vector units' add latency.
const NORM_LANES: usize = 32;
/// Tensors smaller than this are summed on one thread (a thread's start costs more).
const NORM_THREADED: usize = 1 << 21;

/// `Σ v²` in f64 with [`NORM_LANES`] partial sums, added pairwise at the end.
fn sum_squares<T: Real>(v: &[T]) -> f64 {
    let mut acc = [0.0f64; NORM_LANES];
    let mut chunks = v.chunks_exact(NORM_LANES);
    for c in &mut chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            let x = x.to_f64();
            *a += x * x;
        }
    }
    for (a, x) in acc.iter_mut().zip(chunks.remainder()) {
        let x = x.to_f64();
        *a += x * x;
    }
    let mut n = NORM_LANES;
    while n > 1 {
        n /= 2;
        for j in 0..n {
            acc[j] += acc[j + n];
        }
    }
    acc[0]
}

/// The modes of a view but `skip` and those of extent 1, as (extent, stride) in ascending
/// stride, each run of modes whose strides chain (a stride equal to the previous mode's stride
/// times its extent) fused into one.
fn fused_modes(shape: &[usize], strides: &[usize], skip: Option<usize>) -> Vec<(usize, usize)> {
    let mut modes: Vec<(usize, usize)> = (0..shape.len())
        .filter(|&d| Some(d) != skip && shape[d] != 1)
        .map(|d| (shape[d], strides[d]))
        .collect();
    modes.sort_by_key(|&(_, st)| st);
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for (e, st) in modes {
        match groups.last_mut() {
            Some((ge, gs)) if *gs * *ge == st => *ge *= e,
            _ => groups.push((e, st)),
        }
    }
    groups
}

/// Calls `f` with the offset of every element, in C order of the indices.
pub(crate) fn for_each_offset(shape: &[usize], strides: &[usize], mut f: impl FnMut(usize)) {
    if shape.contains(&0) {
        return;
    }
    let total: usize = shape.iter().product();
    let mut idx = vec![0usize; shape.len()];
    let mut off = 0usize;
    for _ in 0..total {
        f(off);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            off += strides[d];
            if idx[d] < shape[d] {
                break;
            }
            off -= strides[d] * shape[d];
            idx[d] = 0;
        }
    }
}

/// C-order strides of `shape`.
pub fn c_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![0; shape.len()];
    let mut acc = 1;
    for d in (0..shape.len()).rev() {
        s[d] = acc;
        acc *= shape[d].max(1);
    }
    s
}

/// Fortran-order strides of `shape`.
pub fn f_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![0; shape.len()];
    let mut acc = 1;
    for d in 0..shape.len() {
        s[d] = acc;
        acc *= shape[d].max(1);
    }
    s
}

/// An owned dense tensor in C order (the core, reconstructions).
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor<T> {
    /// Extents.
    pub shape: Vec<usize>,
    /// Elements in C order (last mode fastest).
    pub data: Vec<T>,
}

impl<T: Real> Tensor<T> {
    /// A view of this tensor.
    pub fn view(&self) -> TensorView<'_, T> {
        TensorView {
            data: &self.data,
            shape: self.shape.clone(),
            strides: c_strides(&self.shape),
        }
    }
}

/// An owned intermediate: packed, with its modes laid out in the order `strides` says (the
/// same relative order as the tensor it was computed from, so contiguous modes stay fusable).
#[derive(Clone, Debug)]
pub(crate) struct Dense<T> {
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
    pub data: Vec<T>,
}

impl<T: Real> Dense<T> {
    pub(crate) fn view(&self) -> TensorView<'_, T> {
        TensorView {
            data: &self.data,
            shape: self.shape.clone(),
            strides: self.strides.clone(),
        }
    }
}

/// A column-major matrix (a factor `I_n x R_n`).
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix<T> {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Column-major elements: `(i, j)` at `i + j*rows`.
    pub data: Vec<T>,
}

impl<T: Real> Matrix<T> {
    /// From column-major data.
    pub fn from_col_major(rows: usize, cols: usize, data: Vec<T>) -> Result<Self, TuckerError> {
        if data.len() != rows * cols {
            return Err(TuckerError::Shape(format!(
                "a {rows}x{cols} matrix needs {} elements, got {}",
                rows * cols,
                data.len()
            )));
        }
        Ok(Matrix { rows, cols, data })
    }

    /// From row-major data (numpy's default).
    pub fn from_row_major(rows: usize, cols: usize, data: &[T]) -> Result<Self, TuckerError> {
        if data.len() != rows * cols {
            return Err(TuckerError::Shape(format!(
                "a {rows}x{cols} matrix needs {} elements, got {}",
                rows * cols,
                data.len()
            )));
        }
        let mut d = vec![T::zero(); rows * cols];
        for i in 0..rows {
            for j in 0..cols {
                d[i + j * rows] = data[i * cols + j];
            }
        }
        Ok(Matrix { rows, cols, data: d })
    }

    /// Element `(i, j)`.
    pub fn at(&self, i: usize, j: usize) -> T {
        self.data[i + j * self.rows]
    }

    /// Row-major copy (for `.npy` output).
    pub fn to_row_major(&self) -> Vec<T> {
        let mut v = Vec::with_capacity(self.data.len());
        for i in 0..self.rows {
            for j in 0..self.cols {
                v.push(self.at(i, j));
            }
        }
        v
    }
}

/// Packed strides for `shape` laid out in the same mode order as `like_strides` (outermost =
/// largest stride first).
fn strides_like(shape: &[usize], like_strides: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..shape.len()).collect();
    // Fastest (smallest stride) first; ties keep C order (later mode faster).
    order.sort_by_key(|&d| (like_strides[d], std::cmp::Reverse(d)));
    let mut s = vec![0; shape.len()];
    let mut acc = 1;
    for &d in &order {
        s[d] = acc;
        acc *= shape[d].max(1);
    }
    s
}

fn labels(n: usize) -> Vec<i32> {
    (0..n as i32).collect()
}

/// Buffers of finished intermediates, reused by the next products of a decomposition: once the
/// sweeps' sizes have been seen, a product neither allocates nor zeroes its result (at 300³ R20
/// the pass's result is 14 MB in f64, whose fresh pages cost page faults and zeroing).
#[derive(Default)]
pub(crate) struct Pool<T>(Vec<Vec<T>>);

impl<T: Real> Pool<T> {
    /// A buffer of `len` elements with unspecified values (an earlier product's): every product
    /// writes all of its result with `beta = 0`, which never reads it.
    pub(crate) fn take(&mut self, len: usize) -> Vec<T> {
        // The smallest buffer that holds `len`, else the largest one (grown).
        let fits = (0..self.0.len())
            .filter(|&i| self.0[i].capacity() >= len)
            .min_by_key(|&i| self.0[i].capacity());
        let pick = fits.or_else(|| (0..self.0.len()).max_by_key(|&i| self.0[i].capacity()));
        match pick {
            Some(i) => {
                let mut v = self.0.swap_remove(i);
                if v.len() >= len {
                    v.truncate(len);
                } else {
                    v.resize(len, T::zero());
                }
                v
            }
            None => vec![T::zero(); len],
        }
    }

    /// Gives a finished intermediate's buffer back.
    pub(crate) fn put(&mut self, v: Vec<T>) {
        if v.capacity() > 0 {
            self.0.push(v);
        }
    }
}

/// `X ×_mode M` (`transpose = false`: `M` is `J x I_mode`, the result has extent `J` in `mode`)
/// or `X ×_mode Mᵀ` (`transpose = true`: `M` is `I_mode x J`). One contraction.
pub(crate) fn ttm<T: Real>(
    h: &Handle,
    x: &TensorView<'_, T>,
    m: &Matrix<T>,
    mode: usize,
    transpose: bool,
) -> Result<Dense<T>, TuckerError> {
    ttm_in(h, x, m, mode, transpose, &mut Pool::default())
}

/// `ttm` with its result in a buffer from `pool`.
pub(crate) fn ttm_in<T: Real>(
    h: &Handle,
    x: &TensorView<'_, T>,
    m: &Matrix<T>,
    mode: usize,
    transpose: bool,
    pool: &mut Pool<T>,
) -> Result<Dense<T>, TuckerError> {
    let n = x.shape.len();
    let xm = labels(n);
    let new = n as i32;
    let j = if transpose { m.cols } else { m.rows };
    let mut shape = x.shape.clone();
    shape[mode] = j;
    let strides = strides_like(&shape, &x.strides);
    let mut ym = xm.clone();
    ym[mode] = new;
    // M's labels: (row, col) as stored column-major.
    let mm = if transpose {
        [mode as i32, new]
    } else {
        [new, mode as i32]
    };
    let mut data = pool.take(shape.iter().product());
    {
        let ms = Shape::col_major(&[m.rows, m.cols]);
        let mut c = TensorMut::new(&mut data, Shape::strided(&shape, &strides));
        h.contract(
            T::from_f64(1.0),
            &x.tref(),
            &xm,
            &TensorRef::new(&m.data, ms),
            &mm,
            T::zero(),
            &mut c,
            &ym,
        )?;
    }
    Ok(Dense { shape, strides, data })
}

/// Columns `cols` (`c0 .. c1`) of the unfolding `W_(mode)` (`n x c`, `n = shape[mode]`, `c` the
/// product of the other extents, column `o · inner + t` for the index `o` of the modes before
/// `mode` and `t` of those after it) of a C-order view, in f64, as [`crate::eig::Sym::Factor`]
/// takes it: column-major `n x (c1 - c0)` when `mode` is the last mode (then a plain copy), else
/// transposed (`(c1 - c0) x n` column-major: runs of the trailing modes' extent copied whole).
/// `None` for a view that is not C-order (its Gram is then formed instead). A member of a split
/// solve takes its own columns ([`crate::eig::member_columns`]), alone all of them.
pub(crate) fn unfolding_f64<T: Real>(
    w: &TensorView<'_, T>,
    mode: usize,
    (c0, c1): (usize, usize),
) -> Option<(Vec<f64>, usize, bool)> {
    if w.strides != c_strides(&w.shape) {
        return None;
    }
    let n = w.shape[mode];
    let inner: usize = w.shape[mode + 1..].iter().product();
    let cp = c1 - c0;
    if inner == 1 {
        return Some((w.data[c0 * n..c1 * n].iter().map(|v| v.to_f64()).collect(), cp, false));
    }
    let mut mt = vec![0.0f64; n * cp];
    let mut col = c0;
    while col < c1 {
        // The run of column `col`'s outer index `o`: trailing indices `t0 .. t1`.
        let (o, t0) = (col / inner, col % inner);
        let t1 = inner.min(t0 + c1 - col);
        for i in 0..n {
            let from = &w.data[(o * n + i) * inner + t0..][..t1 - t0];
            let to = &mut mt[i * cp + col - c0..][..t1 - t0];
            for (t, f) in to.iter_mut().zip(from) {
                *t = f.to_f64();
            }
        }
        col += t1 - t0;
    }
    Some((mt, cp, true))
}

/// The Gram matrix `X_(mode) X_(mode)ᵀ` (`I_mode x I_mode`, column-major, f64), read in place
/// through tensorblas' SYRK (`Handle::syrk_strided_batched_ex`: the lower triangle only, half
/// the multiply-adds of the GEMM), then mirrored. The other modes, fused where their strides
/// allow, give the depth of the update: the one with the smallest stride (after fusing, the
/// longest contiguous run) is the SYRK's `k`, any others are looped over with accumulation (one
/// loop for a 3-way tensor's middle mode).
pub(crate) fn gram<T: Real>(h: &Handle, x: &TensorView<'_, T>, mode: usize) -> Result<Vec<f64>, TuckerError> {
    let i = x.shape[mode];
    let mut s = vec![T::zero(); i * i];
    if i == 0 {
        return Ok(Vec::new());
    }
    // The other modes as (extent, stride), ascending strides, fused where contiguous.
    let mut groups = fused_modes(&x.shape, &x.strides, Some(mode));
    let (k, ks) = if groups.is_empty() { (1, 1) } else { groups.remove(0) };
    let (oshape, ostr): (Vec<usize>, Vec<usize>) = groups.into_iter().unzip();
    let mut first = true;
    let mut res = Ok(());
    for_each_offset(&oshape, &ostr, |o| {
        if res.is_err() {
            return;
        }
        let beta = if first { T::zero() } else { T::one() };
        first = false;
        res = h.syrk_strided_batched_ex(
            Uplo::Lower,
            Op::N,
            i,
            k,
            T::one(),
            StridedRef::new(x.data, o, x.strides[mode] as isize, ks as isize, 0),
            beta,
            StridedMut::new(&mut s, 0, 1, i as isize, 0),
            1,
        );
    });
    res?;
    if first {
        // No element to sum (an other mode of extent 0): the Gram is zero.
        return Ok(vec![0.0; i * i]);
    }
    let mut g: Vec<f64> = s.iter().map(|v| v.to_f64()).collect();
    for c in 0..i {
        for r in c + 1..i {
            g[c + r * i] = g[r + c * i];
        }
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Column ranges of the unfolding (as a split solve's members take them) against the
    /// unfolding element by element, for every mode of a 4-way tensor (the last mode copied
    /// plainly, the others transposed), ranges that start and end inside the trailing modes'
    /// runs, empty ones, and the whole; a non-C-order view gives `None`.
    #[test]
    fn unfolding_column_ranges_are_the_unfolding_s_columns() {
        let shape = [3usize, 4, 5, 2];
        let data: Vec<f64> = (0..120).map(|k| k as f64 * 0.5 - 7.0).collect();
        let x = TensorView::c_order(&data, &shape).unwrap();
        for mode in 0..4 {
            let n = shape[mode];
            let c = 120 / n;
            let inner: usize = shape[mode + 1..].iter().product();
            // Column j = o * inner + t of W_(mode): element (o, i, t) of the (outer, n, inner) view.
            let want = |i: usize, j: usize| data[((j / inner) * n + i) * inner + j % inner];
            for (c0, c1) in [(0, c), (0, 0), (c, c), (1, c - 1), (3, 7), (c / 2, c), (0, 1)] {
                let (m, cp, transposed) = unfolding_f64(&x, mode, (c0, c1)).unwrap();
                assert_eq!((cp, transposed, m.len()), (c1 - c0, mode != 3, n * (c1 - c0)));
                for i in 0..n {
                    for j in c0..c1 {
                        let got = if transposed {
                            m[(j - c0) + i * cp]
                        } else {
                            m[i + (j - c0) * n]
                        };
                        assert_eq!(got, want(i, j), "mode {mode} cols {c0}..{c1}: ({i}, {j})");
                    }
                }
            }
        }
        let fortran = TensorView::f_order(&data, &shape).unwrap();
        assert!(unfolding_f64(&fortran, 1, (0, 30)).is_none());
    }

    /// The blocked, threaded sum of squares: the same bits on 1, 2 and 3 threads, within
    /// rounding of an exact (compensated) sum, for dense views in any order and strided ones.
    #[test]
    fn norm2_is_blocked_threaded_and_layout_free() {
        // Larger than the threaded cutoff and not a multiple of the block or the lanes.
        let shape = [131usize, 127, 129];
        let len: usize = shape.iter().product();
        assert!(len > NORM_THREADED && !len.is_multiple_of(NORM_BLOCK));
        let data: Vec<f64> = (0..len).map(|k| ((k * 7919 % 10007) as f64 - 5003.0) * 1e-3).collect();
        // Kahan-Babuska sum of the squares.
        let exact_sq = |vs: &mut dyn Iterator<Item = f64>| {
            let (mut s, mut c) = (0.0f64, 0.0f64);
            for v in vs {
                let y = v * v;
                let t = s + y;
                c += if s.abs() >= y.abs() { (s - t) + y } else { (y - t) + s };
                s = t;
            }
            s + c
        };
        let exact = exact_sq(&mut data.iter().copied());
        let views = [
            TensorView::c_order(&data, &shape).unwrap(),
            TensorView::f_order(&data, &shape).unwrap(),
            // A permutation of the C-order strides (still dense).
            TensorView::strided(&data, &[127, 131, 129], &[129, 127 * 129, 1]).unwrap(),
        ];
        for v in &views {
            assert_eq!(v.dense_len(), Some(len));
            let one = v.norm2_on(1);
            assert!((one - exact).abs() <= 1e-13 * exact, "{one} vs {exact}");
            for t in [2, 3] {
                assert_eq!(v.norm2_on(t).to_bits(), one.to_bits(), "{t} threads");
            }
            assert_eq!(v.finite_norm2(2).unwrap().to_bits(), one.to_bits());
        }
        // Not dense (every other element of the last mode): element by element.
        let half = TensorView::strided(&data, &[131, 127, 64], &[127 * 129, 129, 2]).unwrap();
        assert_eq!(half.dense_len(), None);
        let want = exact_sq(
            &mut (0..131)
                .flat_map(|i| (0..127).flat_map(move |j| (0..64).map(move |k| (i * 127 + j) * 129 + 2 * k)))
                .map(|o| data[o]),
        );
        assert!((half.norm2_on(2) - want).abs() <= 1e-10 * want);
        // f32 data accumulated in f64; a NaN anywhere is reported.
        let d32: Vec<f32> = data.iter().map(|&v| v as f32).collect();
        let v32 = TensorView::c_order(&d32, &shape).unwrap();
        let w32 = exact_sq(&mut d32.iter().map(|&v| v as f64));
        assert!((v32.norm2_on(2) - w32).abs() <= 1e-13 * w32);
        let mut bad = data.clone();
        bad[len - 3] = f64::NAN;
        assert!(matches!(
            TensorView::c_order(&bad, &shape).unwrap().finite_norm2(2),
            Err(TuckerError::NonFinite)
        ));
    }
}
