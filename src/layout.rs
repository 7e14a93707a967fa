//! Pure layout arithmetic: address ranges of strided operands and the exact
//! self-aliasing test for the output of a batched GEMM.
//!
//! An operand of a batched GEMM is a map from the index box
//! `0 <= i < rows, 0 <= j < cols, 0 <= p < batch` to element offsets
//! `i*rs + j*cs + p*bs`. Nothing here touches memory.
#![forbid(unsafe_code)]

/// One dimension of a strided index box: `extent` indices, `stride` elements apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dim {
    pub extent: i64,
    pub stride: i64,
}

impl Dim {
    pub(crate) const fn new(extent: i64, stride: i64) -> Self {
        Dim { extent, stride }
    }
}

/// Lowest and highest element offset addressed by `dims` (in elements, as i128; each term is
/// below 2^126, and the sums saturate, so that any number of dimensions with extreme extents and
/// strides gives an out-of-range answer rather than a wrapped one that looks small).
/// Dimensions of extent 0 make the box empty: `None`.
pub(crate) fn offset_range(dims: &[Dim]) -> Option<(i128, i128)> {
    let mut lo = 0i128;
    let mut hi = 0i128;
    for d in dims {
        if d.extent <= 0 {
            return None;
        }
        let span = (d.extent as i128 - 1) * d.stride as i128;
        if span < 0 {
            lo = lo.saturating_add(span);
        } else {
            hi = hi.saturating_add(span);
        }
    }
    Some((lo, hi))
}

/// Byte range `[first, last]` (inclusive of the last element's final byte) of the elements
/// addressed by `dims` starting at `base`, or `None` when it does not fit the address space
/// (or the box is empty).
pub(crate) fn byte_range(base: usize, elem: usize, dims: &[Dim]) -> Option<(usize, usize)> {
    ByteBox::of(elem, offset_range(dims)?)?.at(base)
}

/// The bytes of an element-offset range relative to its origin: they depend on the dims only,
/// so many bases with the same dims (a pointer array's entries) share one, and placing it at a
/// base ([`ByteBox::at`]) is two checked additions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ByteBox {
    /// Offset of the first byte from the origin (<= 0).
    pub lo: isize,
    /// `last - first` in bytes.
    pub len: usize,
}

impl ByteBox {
    /// The box of the element offsets `(lo, hi)` (`lo <= 0 <= hi`, as `offset_range` gives) of
    /// elements of `elem` bytes, or `None` when it spans more than `isize::MAX` bytes.
    pub(crate) fn of(elem: usize, (lo, hi): (i128, i128)) -> Option<ByteBox> {
        let elem = elem as i128;
        // Saturating: lo and hi may be at the ends of i128 (see offset_range).
        let span = hi.saturating_sub(lo).saturating_mul(elem);
        if span > isize::MAX as i128 {
            return None;
        }
        // |lo * elem| <= span and span + elem - 1 < usize::MAX: both fit.
        Some(ByteBox {
            lo: isize::try_from(lo * elem).ok()?,
            len: usize::try_from(span + elem - 1).ok()?,
        })
    }

    /// The byte range `[first, last]` of the box at `base`, or `None` when it leaves the
    /// address space.
    #[inline]
    pub(crate) fn at(self, base: usize) -> Option<(usize, usize)> {
        let first = base.checked_add_signed(self.lo)?;
        Some((first, first.checked_add(self.len)?))
    }
}

/// Whether two inclusive byte ranges intersect.
pub(crate) fn ranges_intersect(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

fn ext_gcd(a: i128, b: i128) -> (i128, i128, i128) {
    // Returns (g, x, y) with a*x + b*y = g = gcd(a, b) >= 0.
    let (mut old_r, mut r) = (a, b);
    let (mut old_s, mut s) = (1i128, 0i128);
    let (mut old_t, mut t) = (0i128, 1i128);
    while r != 0 {
        let q = old_r.div_euclid(r);
        (old_r, r) = (r, old_r - q * r);
        (old_s, s) = (s, old_s - q * s);
        (old_t, t) = (t, old_t - q * t);
    }
    if old_r < 0 {
        (-old_r, -old_s, -old_t)
    } else {
        (old_r, old_s, old_t)
    }
}

/// Integer interval `[lo, hi]` of `t` with `|x0 + t*step| <= bound` (step != 0).
fn t_interval(x0: i128, step: i128, bound: i128) -> (i128, i128) {
    // -bound - x0 <= t*step <= bound - x0; dividing by a negative step flips the bounds.
    let (a, b) = (-bound - x0, bound - x0);
    if step > 0 {
        (ceil_div(a, step), floor_div(b, step))
    } else {
        (ceil_div(b, step), floor_div(a, step))
    }
}

fn floor_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b != 0 && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b != 0 && ((a < 0) == (b < 0)) {
        q + 1
    } else {
        q
    }
}

/// Whether some `(x, y) != (0, 0)` with `|x| < e0`, `|y| < e1` solves `x*s0 + y*s1 = rhs`
/// (with `rhs != 0`, or `rhs == 0` excluding the trivial solution). `s0`, `s1` nonzero.
fn solvable_2d(s0: i128, e0: i128, s1: i128, e1: i128, rhs: i128) -> bool {
    let (g, u, v) = ext_gcd(s0, s1);
    if rhs % g != 0 {
        return false;
    }
    let q = rhs / g;
    // Particular solution and the direction of the solution lattice.
    let (x0, y0) = (u * q, v * q);
    let (dx, dy) = (s1 / g, -s0 / g);
    let (lx, hx) = t_interval(x0, dx, e0 - 1);
    let (ly, hy) = t_interval(y0, dy, e1 - 1);
    let (lo, hi) = (lx.max(ly), hx.min(hy));
    if lo > hi {
        return false;
    }
    if rhs != 0 {
        return true;
    }
    // rhs == 0: t == 0 is the trivial solution (x0 = y0 = 0); any other t in range counts.
    lo != 0 || hi != 0
}

/// Exact test of whether the map `(i0, i1, ...) -> sum i_d * stride_d` over the box
/// `0 <= i_d < extent_d` is injective, i.e. whether distinct indices address distinct elements.
/// Handles up to three dimensions of extent > 1 (the output of a batched GEMM); dimensions of
/// extent <= 1 are ignored.
///
/// Two indices collide iff a nonzero difference vector `d` with `|d_i| < extent_i` has
/// `sum d_i * stride_i = 0`. For two dimensions that is a closed form; for three, each value of
/// the difference along the smallest-extent dimension leaves a two-variable linear Diophantine
/// equation, solved exactly with the extended Euclidean algorithm. A cheap sufficient test (each
/// stride, sorted by magnitude, exceeds the span of all smaller ones) settles the usual layouts
/// first.
pub(crate) fn is_injective(dims: &[Dim]) -> bool {
    let mut ds: Vec<(i128, i128)> = dims
        .iter()
        .filter(|d| d.extent > 1)
        .map(|d| (d.stride.unsigned_abs() as i128, d.extent as i128))
        .collect();
    assert!(ds.len() <= 3, "is_injective handles at most three dimensions");
    if ds.iter().any(|&(s, _)| s == 0) {
        return false;
    }
    ds.sort_unstable();
    // Sufficient: nested strides (column-major-like layouts, interleaved batches).
    let mut span = 0i128;
    let mut nested = true;
    for &(s, e) in &ds {
        if s <= span {
            nested = false;
            break;
        }
        span = span.saturating_add(s * (e - 1));
    }
    if nested {
        return true;
    }
    match ds.len() {
        0 | 1 => true,
        2 => !solvable_2d(ds[0].0, ds[0].1, ds[1].0, ds[1].1, 0),
        _ => {
            // Loop over the difference along the smallest-extent dimension.
            ds.sort_unstable_by_key(|&(_, e)| e);
            let (sz, ez) = ds[0];
            let (s0, e0) = ds[1];
            let (s1, e1) = ds[2];
            if solvable_2d(s0, e0, s1, e1, 0) {
                return false;
            }
            // d_z > 0 suffices: a solution with d_z < 0 negates to one with d_z > 0.
            !(1..ez).any(|dz| solvable_2d(s0, e0, s1, e1, -dz * sz))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn brute(dims: &[Dim]) -> bool {
        let mut seen = HashSet::new();
        let e: Vec<i64> = dims.iter().map(|d| d.extent.max(1)).collect();
        for i in 0..e[0] {
            for j in 0..e[1] {
                for p in 0..e[2] {
                    let off = i * dims[0].stride + j * dims[1].stride + p * dims[2].stride;
                    if !seen.insert(off) {
                        return false;
                    }
                }
            }
        }
        true
    }

    #[test]
    fn injectivity_matches_brute_force() {
        // Deterministic pseudo-random sweep over small boxes, strides in [-9, 9].
        let mut state = 0x2545F4914F6CDD1Du64;
        let mut next = |n: i64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as i64
        };
        let mut both = [0usize; 2];
        for case in 0..40_000 {
            // Half the cases with small strides (many collisions), half with wide ones and
            // larger boxes (the Diophantine path).
            let (e, s) = if case % 2 == 0 { (6, 19) } else { (9, 81) };
            let dims: Vec<Dim> = (0..3).map(|_| Dim::new(next(e) + 1, next(s) - s / 2)).collect();
            let expect = brute(&dims);
            assert_eq!(is_injective(&dims), expect, "{dims:?}");
            both[expect as usize] += 1;
        }
        // The sweep exercised both outcomes.
        assert!(both[0] > 1000 && both[1] > 1000, "{both:?}");
    }

    #[test]
    fn contraction_layouts_are_accepted() {
        // C_mnp batched over n: ldc = M*N, stride_c = M.
        let (m, n, p) = (5i64, 4, 3);
        let dims = [Dim::new(m, 1), Dim::new(p, m * n), Dim::new(n, m)];
        assert!(is_injective(&dims));
        // Non-nested but injective: strides 2 (x3) and 3 (x2).
        assert!(is_injective(&[Dim::new(3, 2), Dim::new(2, 3), Dim::new(1, 0)]));
        // stride_c = 0 with batch > 1 aliases; stride smaller than the matrix aliases.
        assert!(!is_injective(&[Dim::new(4, 1), Dim::new(4, 4), Dim::new(2, 0)]));
        assert!(!is_injective(&[Dim::new(4, 1), Dim::new(4, 4), Dim::new(2, 15)]));
        assert!(is_injective(&[Dim::new(4, 1), Dim::new(4, 4), Dim::new(2, 16)]));
        // Large extents are decided without enumeration.
        let big = 1i64 << 40;
        assert!(is_injective(&[
            Dim::new(big, 1),
            Dim::new(3, big),
            Dim::new(1 << 20, 3 * big)
        ]));
    }

    #[test]
    fn rounding_division() {
        for a in -20i128..=20 {
            for b in [-7i128, -3, -1, 1, 2, 5] {
                let exact = a as f64 / b as f64;
                assert_eq!(floor_div(a, b), exact.floor() as i128, "{a}/{b}");
                assert_eq!(ceil_div(a, b), exact.ceil() as i128, "{a}/{b}");
            }
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(offset_range(&[Dim::new(3, -2), Dim::new(2, 5)]), Some((-4, 5)));
        assert_eq!(offset_range(&[Dim::new(0, 1)]), None);
        assert_eq!(byte_range(100, 4, &[Dim::new(3, 1)]), Some((100, 111)));
        assert_eq!(byte_range(4, 4, &[Dim::new(3, -1)]), None);
        assert_eq!(byte_range(usize::MAX - 8, 8, &[Dim::new(2, 1)]), None);
        assert!(ranges_intersect((0, 10), (10, 20)));
        assert!(!ranges_intersect((0, 9), (10, 20)));
    }
}
