//! Property tests (proptest) of the layout, overlap and overflow rules and of the contraction
//! planner (issue #6): no false acceptance (an accepted call writes exactly the elements of C's
//! extent, each with the right value, and nothing else) and no false rejection (every layout
//! whose elements are distinct, the interleaved ones included, is accepted). The oracle for
//! "distinct" is brute force over the (small) index set, independent of the library's exact
//! gcd-based test in `src/layout.rs`.

use proptest::prelude::*;
use std::collections::HashSet;
use tensorblas::ffi::{tblas_create, tblas_destroy, tblas_dgemm_strided_batched, tblas_get_last_error_position};
use tensorblas::{Handle, Op, Shape, StridedMut, StridedRef, TensorMut, TensorRef};

const SENTINEL: f64 = -777.0;

/// Offsets of every element of a box, in index order; None if an extent is 0.
fn offsets(dims: &[(usize, isize)]) -> Vec<isize> {
    let total: usize = dims.iter().map(|d| d.0).product();
    (0..total)
        .map(|mut i| {
            let mut o = 0isize;
            for &(e, s) in dims {
                o += (i % e) as isize * s;
                i /= e;
            }
            o
        })
        .collect()
}

fn distinct(offs: &[isize]) -> bool {
    let mut seen = HashSet::new();
    offs.iter().all(|o| seen.insert(*o))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// gemm_strided_batched_ex with arbitrary small C strides (negative, zero, interleaved).
    #[test]
    fn c_layout_accepted_iff_distinct(
        m in 0usize..5, n in 0usize..5, k in 1usize..4, batch in 0usize..4,
        rs in -7isize..8, cs in -7isize..8, bs in -13isize..14,
    ) {
        let h = Handle::new().unwrap();
        let dims = [(m, rs), (n, cs), (batch, bs)];
        let offs = offsets(&dims);
        let lo = offs.iter().copied().min().unwrap_or(0);
        let hi = offs.iter().copied().max().unwrap_or(0);
        let guard = 3usize;
        let len = (hi - lo) as usize + 1 + 2 * guard;
        let origin = guard + (-lo) as usize;
        let mut c = vec![SENTINEL; len];
        let a = vec![1.0f64; m.max(1) * k];
        let b = vec![2.0f64; k * n.max(1)];
        let r = h.gemm_strided_batched_ex(
            Op::N, Op::N, m, n, k, 1.0,
            StridedRef::new(&a, 0, 1, m.max(1) as isize, 0),
            StridedRef::new(&b, 0, 1, k as isize, 0),
            0.0,
            StridedMut::new(&mut c, origin, rs, cs, bs),
            batch,
        );
        let referenced = m > 0 && n > 0 && batch > 0;
        let valid = !referenced || distinct(&offs);
        prop_assert_eq!(r.is_ok(), valid, "m {} n {} batch {} strides ({}, {}, {}): {:?}", m, n, batch, rs, cs, bs, r);
        let touched: HashSet<isize> = if r.is_ok() && referenced { offs.iter().copied().collect() } else { HashSet::new() };
        for (i, &v) in c.iter().enumerate() {
            let o = i as isize - origin as isize;
            let want = if touched.contains(&o) { 2.0 * k as f64 } else { SENTINEL };
            prop_assert_eq!(v, want, "element {} (offset {})", i, o);
        }
    }

    /// gemm_strided_batched (ld form): A and C placed in one buffer at arbitrary offsets.
    /// Accepted iff C's byte range is disjoint from A's (docs/c-api.md: an address-range check),
    /// and then C is right and A untouched.
    #[test]
    fn c_a_overlap_accepted_iff_disjoint(
        m in 1i64..4, n in 1i64..4, k in 1i64..3, batch in 1i64..3,
        a_off in 0usize..40, c_off in 0usize..40, pad in 0i64..2,
    ) {
        let (lda, ldc) = (m + pad, m + pad);
        let (sa, sc) = (lda * k, ldc * n);
        let span = |ld: i64, cols: i64, st: i64| (ld * (cols - 1) + (m - 1) + st * (batch - 1)) as usize;
        let (a_span, c_span) = (span(lda, k, sa), span(ldc, n, sc));
        let mut buf = vec![SENTINEL; 100];
        for i in 0..=a_span {
            buf[a_off + i] = 1.0;
        }
        let b = vec![3.0f64; (k * n) as usize];
        let disjoint = a_off + a_span < c_off || c_off + c_span < a_off;
        let before = buf.clone();
        let mut hp = std::ptr::null_mut();
        // SAFETY: out-pointer; every pointer below stays inside `buf`/`b` for the described
        // layouts (spans fit: offsets < 40, spans < 40).
        let (st, pos) = unsafe {
            assert_eq!(tblas_create(&mut hp), 0);
            let base = buf.as_mut_ptr();
            let st = tblas_dgemm_strided_batched(
                hp, 0, 0, m, n, k, &1.0, base.add(a_off), lda, sa, b.as_ptr(), k, 0,
                &0.0, base.add(c_off), ldc, sc, batch,
            );
            let pos = tblas_get_last_error_position();
            tblas_destroy(hp);
            (st, pos)
        };
        prop_assert_eq!(st == 0, disjoint, "A at {} (span {}), C at {} (span {})", a_off, a_span, c_off, c_span);
        if st != 0 {
            prop_assert_eq!(pos, 15);
            prop_assert!(buf.iter().zip(&before).all(|(x, y)| x.to_bits() == y.to_bits()));
        } else {
            for p in 0..batch {
                for j in 0..n {
                    for i in 0..m {
                        let o = c_off + (i + j * ldc + p * sc) as usize;
                        prop_assert_eq!(buf[o], 3.0 * k as f64);
                    }
                }
            }
            for i in 0..=a_span {
                prop_assert_eq!(buf[a_off + i], before[a_off + i], "A changed");
            }
        }
    }

    /// The contraction planner: C = sum over contracted modes of A * B with C stored under a
    /// random permutation of padded strides (always injective: must be accepted and correct)
    /// or under arbitrary small strides (accepted iff its elements are distinct).
    #[test]
    fn contraction_accepted_iff_c_distinct(
        exts in proptest::collection::vec(1usize..4, 5),
        a_modes in proptest::sample::subsequence(vec![0usize, 1, 2, 3, 4], 1..=4),
        b_modes in proptest::sample::subsequence(vec![0usize, 1, 2, 3, 4], 1..=4),
        perm_seed in 0usize..24, pads in proptest::collection::vec(0usize..2, 3),
        free_strides in proptest::collection::vec(0isize..6, 3), permuted in any::<bool>(),
    ) {
        let h = Handle::new().unwrap();
        // C holds the modes in exactly one input (at most 3 of them), in a shuffled order.
        let mut c_modes: Vec<usize> = (0..5)
            .filter(|x| a_modes.contains(x) != b_modes.contains(x))
            .collect();
        c_modes.truncate(3);
        let nc = c_modes.len();
        if nc > 1 {
            let r = perm_seed % nc;
            c_modes.rotate_left(r);
            if perm_seed / nc % 2 == 1 { c_modes.swap(0, nc - 1); }
        }
        // The modes summed: in both inputs, or in one only and not kept in C.
        let ext_of = |ms: &[usize]| -> Vec<usize> { ms.iter().map(|&x| exts[x]).collect() };
        let packed = |ms: &[usize]| -> Vec<isize> {
            let mut acc = 1isize;
            ms.iter().map(|&x| { let s = acc; acc *= exts[x] as isize; s }).collect()
        };
        let c_strides: Vec<isize> = if permuted {
            // Packed strides with padding, assigned to C's modes in a different order.
            let mut order: Vec<usize> = (0..nc).collect();
            order.reverse();
            let mut acc = 1isize;
            let mut s = vec![0isize; nc];
            for (q, &d) in order.iter().enumerate() {
                s[d] = acc;
                acc *= (exts[c_modes[d]] + pads[q]) as isize;
            }
            s
        } else {
            free_strides[..nc].to_vec()
        };
        let c_dims: Vec<(usize, isize)> = c_modes.iter().zip(&c_strides).map(|(&x, &s)| (exts[x], s)).collect();
        let offs = offsets(&c_dims);
        let lo = offs.iter().copied().min().unwrap_or(0);
        let hi = offs.iter().copied().max().unwrap_or(0);
        let origin = (-lo) as usize + 2;
        let mut c = vec![SENTINEL; (hi - lo) as usize + 5];
        let (ea, eb) = (ext_of(&a_modes), ext_of(&b_modes));
        let (sa, sb) = (packed(&a_modes), packed(&b_modes));
        let na: usize = ea.iter().product();
        let nb: usize = eb.iter().product();
        let a: Vec<f64> = (0..na).map(|i| (i % 5) as f64 - 2.0).collect();
        let b: Vec<f64> = (0..nb).map(|i| (i % 3) as f64 + 1.0).collect();
        let lab = |ms: &[usize]| -> Vec<i32> { ms.iter().map(|&x| x as i32).collect() };
        let to_shape = |e: &[usize], s: &[isize]| Shape::strided(e, &s.iter().map(|&v| v as usize).collect::<Vec<_>>());
        let ec = ext_of(&c_modes);
        let r = h.contract(
            1.0,
            &TensorRef::new(&a, to_shape(&ea, &sa)),
            &lab(&a_modes),
            &TensorRef::new(&b, to_shape(&eb, &sb)),
            &lab(&b_modes),
            0.0,
            &mut TensorMut::new(&mut c[origin..], to_shape(&ec, &c_strides)),
            &lab(&c_modes),
        );
        let valid = distinct(&offs);
        prop_assert_eq!(r.is_ok(), valid, "C modes {:?} strides {:?}: {:?}", c_modes, c_strides, r.err());
        // Oracle: naive sum over all five modes' indices (modes in neither input have extent
        // 1 in effect).
        let used: Vec<usize> = (0..5).filter(|x| a_modes.contains(x) || b_modes.contains(x)).collect();
        let mut want = vec![SENTINEL; c.len()];
        if r.is_ok() {
            for &o in &offs { want[(origin as isize + o) as usize] = 0.0; }
            let total: usize = used.iter().map(|&x| exts[x]).product();
            for mut i in 0..total {
                let mut v = [0usize; 5];
                for &x in &used { v[x] = i % exts[x]; i /= exts[x]; }
                let off = |ms: &[usize], s: &[isize]| -> isize { ms.iter().zip(s).map(|(&x, &st)| v[x] as isize * st).sum() };
                let co = (origin as isize + off(&c_modes, &c_strides)) as usize;
                want[co] += a[off(&a_modes, &sa) as usize] * b[off(&b_modes, &sb) as usize];
            }
        }
        for (i, (&w, &g)) in want.iter().zip(&c).enumerate() {
            prop_assert_eq!(w, g, "C[{}]", i);
        }
    }
}
