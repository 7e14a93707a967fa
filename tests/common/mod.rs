//! Shared test helpers: an independent naive oracle, gauge-scaled comparison, random data.
#![allow(dead_code)]

use num_complex::Complex64;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tensorblas::{Complex32, Op, Scalar};

pub fn rng(seed: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed)
}

/// A random value with both parts in [-1, 1] (imaginary part dropped for real types).
pub fn rand_val<T: Scalar>(r: &mut SmallRng) -> T {
    T::from_c64(Complex64::new(r.random_range(-1.0..1.0), r.random_range(-1.0..1.0)))
}

pub fn rand_vec<T: Scalar>(r: &mut SmallRng, len: usize) -> Vec<T> {
    (0..len).map(|_| rand_val(r)).collect()
}

/// A strided batch of stored matrices: element (i, j) of entry p at `origin + p*bs + i*rs + j*cs`.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub origin: usize,
    pub rs: isize,
    pub cs: isize,
    pub bs: isize,
}

impl Layout {
    /// Column-major entries with leading dimension `ld`, `bs` elements apart, from offset 0.
    pub fn col_major(ld: usize, bs: usize) -> Layout {
        Layout {
            origin: 0,
            rs: 1,
            cs: ld as isize,
            bs: bs as isize,
        }
    }

    pub fn at(&self, i: usize, j: usize, p: usize) -> usize {
        (self.origin as isize + p as isize * self.bs + i as isize * self.rs + j as isize * self.cs) as usize
    }
}

/// The oracle: `C[p] = alpha*op(A[p])*op(B[p]) + beta*C[p]` by definition, in Complex64, from the
/// stored layouts (independent of the library's stride folding). Returns the expected C buffer
/// (unaddressed elements copied from `c`) and the per-element gauge
/// `|alpha|*sum|a||b| + |beta||c|` (0 elsewhere).
#[allow(clippy::too_many_arguments)]
pub fn oracle<T: Scalar>(
    ta: Op,
    tb: Op,
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: &[T],
    la: Layout,
    b: &[T],
    lb: Layout,
    beta: T,
    c: &[T],
    lc: Layout,
    batch: usize,
) -> (Vec<Complex64>, Vec<f64>) {
    let mut out: Vec<Complex64> = c.iter().map(|v| v.to_c64()).collect();
    let mut gauge = vec![0.0; c.len()];
    let get = |x: &[T], l: Layout, op: Op, r: usize, col: usize, p: usize| -> Complex64 {
        let v = if op == Op::N {
            x[l.at(r, col, p)]
        } else {
            x[l.at(col, r, p)]
        };
        let v = v.to_c64();
        if op == Op::C {
            v.conj()
        } else {
            v
        }
    };
    let (al, be) = (alpha.to_c64(), beta.to_c64());
    for p in 0..batch {
        for j in 0..n {
            for i in 0..m {
                let mut acc = Complex64::new(0.0, 0.0);
                let mut g = 0.0;
                if !alpha.is_zero() {
                    for l in 0..k {
                        let (x, y) = (get(a, la, ta, i, l, p), get(b, lb, tb, l, j, p));
                        acc += x * y;
                        g += (x.re.abs() + x.im.abs()) * (y.re.abs() + y.im.abs());
                    }
                }
                let idx = lc.at(i, j, p);
                let mut v = al * acc;
                g *= al.re.abs() + al.im.abs();
                if !beta.is_zero() {
                    let cv = c[idx].to_c64();
                    v += be * cv;
                    g += (be.re.abs() + be.im.abs()) * (cv.re.abs() + cv.im.abs());
                }
                out[idx] = v;
                gauge[idx] = g;
            }
        }
    }
    (out, gauge)
}

/// Compares `got` with the oracle: addressed elements within `(k + 4) * 4 * eps * gauge`
/// (exact when the gauge is 0), every other element bit-identical to `before`.
pub fn check<T: Scalar>(
    what: &str,
    got: &[T],
    before: &[T],
    expect: &[Complex64],
    gauge: &[f64],
    addressed: &[bool],
    k: usize,
) {
    let tol_scale = (k as f64 + 4.0) * 4.0 * T::EPSILON;
    for idx in 0..got.len() {
        if addressed[idx] {
            let g = got[idx].to_c64();
            let e = expect[idx];
            let err = (g - e).norm();
            let ok = if e.re.is_nan() || e.im.is_nan() {
                g.re.is_nan() || g.im.is_nan()
            } else if e.re.is_infinite() || e.im.is_infinite() {
                g == e
            } else {
                err <= tol_scale * gauge[idx] || err == 0.0
            };
            assert!(
                ok,
                "{what}: first difference at C[{idx}]: got {g}, expected {e} (|diff| = {err:e}, tolerance {:e})",
                tol_scale * gauge[idx]
            );
        } else {
            assert!(
                bits_eq(got[idx], before[idx]),
                "{what}: C[{idx}] is not addressed but changed from {:?} to {:?}",
                before[idx],
                got[idx]
            );
        }
    }
}

/// Bitwise equality (NaN-safe).
pub fn bits_eq<T: Scalar>(x: T, y: T) -> bool {
    let (x, y) = (x.to_c64(), y.to_c64());
    x.re.to_bits() == y.re.to_bits() && x.im.to_bits() == y.im.to_bits()
}

pub fn all_bits_eq<T: Scalar>(x: &[T], y: &[T]) -> bool {
    x.len() == y.len() && x.iter().zip(y).all(|(a, b)| bits_eq(*a, *b))
}

/// Marks the elements of a `rows x cols x batch` layout within a buffer of `len`.
pub fn addressed(len: usize, l: Layout, rows: usize, cols: usize, batch: usize) -> Vec<bool> {
    let mut v = vec![false; len];
    for p in 0..batch {
        for j in 0..cols {
            for i in 0..rows {
                v[l.at(i, j, p)] = true;
            }
        }
    }
    v
}

/// Buffer length and origin needed for a layout (strides may be negative), plus `pad` guard
/// elements on each side.
pub fn extent(rows: usize, cols: usize, batch: usize, rs: isize, cs: isize, bs: isize, pad: usize) -> (usize, usize) {
    if rows == 0 || cols == 0 || batch == 0 {
        return (2 * pad, pad);
    }
    let mut lo = 0isize;
    let mut hi = 0isize;
    for (e, s) in [(rows, rs), (cols, cs), (batch, bs)] {
        let span = (e as isize - 1) * s;
        if span < 0 {
            lo += span
        } else {
            hi += span
        }
    }
    ((hi - lo + 1) as usize + 2 * pad, (pad as isize - lo) as usize)
}

pub const OPS: [Op; 3] = [Op::N, Op::T, Op::C];

/// Sentinel used to fill guard cells: a value no GEMM produces from our random data.
pub fn sentinel<T: Scalar>() -> T {
    T::from_c64(Complex64::new(1234.5, -6789.25))
}

pub fn c32(re: f32, im: f32) -> Complex32 {
    Complex32::new(re, im)
}
