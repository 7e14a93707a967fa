//! One device's part of the FMM-FFT (spec §4.2 steps 0–9). Every FMM step and the P-point
//! combination are strided-batched GEMMs on tensorblas (split forms of spec §5.1, which cuBLAS
//! also accepts); the final M-point FFTs are rustfft.

use crate::fabric::Fabric;
use crate::plan::Plan;
use crate::{DeviceStats, FftError, GemmCall, Real};
use num_complex::{Complex, Complex64};
use std::time::Instant;
use tensorblas::{Handle, Op, StridedMut, StridedRef};

/// A planar level array [p][c ∈ {re, im}][box −h..nb+h−1][coefficient 0..w−1].
#[derive(Clone, Copy, Debug)]
struct Lv {
    p: usize,
    nb: usize,
    h: usize,
    w: usize,
}

impl Lv {
    fn len(&self) -> usize {
        self.p * 2 * (self.nb + 2 * self.h) * self.w
    }
    /// Offset of coefficient 0 of box `b` (may be a halo index) of plane (p, c).
    fn at(&self, p: usize, c: usize, b: isize) -> usize {
        (((2 * p + c) * (self.nb + 2 * self.h)) as isize + b + self.h as isize) as usize * self.w
    }
    /// Stride between consecutive planes.
    fn plane(&self) -> usize {
        (self.nb + 2 * self.h) * self.w
    }
    /// A level array whose every element is written before it is read (contents arbitrary).
    fn alloc<T: Real>(&self, pool: &mut Pool<T>) -> Vec<T> {
        pool.take(self.len(), <T as tensorblas::Scalar>::zero(), nan())
    }
    /// A zeroed level array (for one accumulated into with beta = 1).
    fn alloc_zeroed<T: Real>(&self, pool: &mut Pool<T>) -> Vec<T> {
        let z = <T as tensorblas::Scalar>::zero();
        let mut v = pool.take(self.len(), z, z);
        v.fill(z);
        v
    }
    /// Boxes `b0..b0+cnt` of planes of sections 1..P−1, packed [p−1][c][box][w].
    fn pack<T: Real>(&self, a: &[T], b0: isize, cnt: usize, out: &mut Vec<T>) {
        for p in 1..self.p {
            for c in 0..2 {
                let o = self.at(p, c, b0);
                out.extend_from_slice(&a[o..o + cnt * self.w]);
            }
        }
    }
    /// The inverse of [`Lv::pack`]; returns the number of elements consumed.
    fn unpack<T: Real>(&self, a: &mut [T], b0: isize, cnt: usize, src: &[T]) -> usize {
        let mut k = 0;
        for p in 1..self.p {
            for c in 0..2 {
                let o = self.at(p, c, b0);
                a[o..o + cnt * self.w].copy_from_slice(&src[k..k + cnt * self.w]);
                k += cnt * self.w;
            }
        }
        k
    }
    /// Periodic halos of a whole level held by one device (top tree).
    fn fill_periodic<T: Real>(&self, a: &mut [T]) {
        let (nb, h, w) = (self.nb as isize, self.h, self.w);
        for p in 1..self.p {
            for c in 0..2 {
                for k in 0..h as isize {
                    let (src_l, dst_l) = (self.at(p, c, nb - h as isize + k), self.at(p, c, -(h as isize) + k));
                    a.copy_within(src_l..src_l + w, dst_l);
                    let (src_r, dst_r) = (self.at(p, c, k), self.at(p, c, nb + k));
                    a.copy_within(src_r..src_r + w, dst_r);
                }
            }
        }
    }
}

/// Free arrays of one element type, kept between transforms (see `Plan::work`).
pub(crate) struct Pool<E>(Vec<Vec<E>>);

impl<E> Default for Pool<E> {
    fn default() -> Self {
        Pool(Vec::new())
    }
}

impl<E: Copy> Pool<E> {
    /// An array of `len` elements from the smallest free array large enough (else new). Its
    /// contents are whatever the array held last (`fill` where it grew): every caller writes
    /// before it reads. Builds with debug assertions (the tests) fill all of it with `poison`
    /// (NaN), so a read before a write shows in the results.
    pub(crate) fn take(&mut self, len: usize, fill: E, poison: E) -> Vec<E> {
        let mut v = self.best_fit(len);
        v.truncate(len);
        v.resize(len, fill);
        if cfg!(debug_assertions) {
            v.fill(poison);
        }
        v
    }

    /// An empty array with room for `cap` elements.
    pub(crate) fn take_empty(&mut self, cap: usize) -> Vec<E> {
        let mut v = self.best_fit(cap);
        v.clear();
        v
    }

    /// The smallest free array with room for `cap` elements (contents as left), else a new one.
    fn best_fit(&mut self, cap: usize) -> Vec<E> {
        let best = (0..self.0.len())
            .filter(|&i| self.0[i].capacity() >= cap)
            .min_by_key(|&i| self.0[i].capacity());
        best.map_or_else(|| Vec::with_capacity(cap), |i| self.0.swap_remove(i))
    }

    /// Returns an array for reuse.
    pub(crate) fn give(&mut self, v: Vec<E>) {
        if v.capacity() > 0 {
            self.0.push(v);
        }
    }
}

pub(crate) fn nan<T: Real>() -> T {
    T::from_c64(Complex64::new(f64::NAN, 0.0))
}

/// In-place FFT `f` of `a` with scratch from `pool`, the call timed into `st.fft_secs`.
pub(crate) fn fft_in_place<T: Real>(
    f: &dyn rustfft::Fft<T>,
    a: &mut [Complex<T>],
    pool: &mut Pool<Complex<T>>,
    st: &mut DeviceStats,
) {
    let zero = <T as tensorblas::Scalar>::zero();
    let mut scratch = pool.take(
        f.get_inplace_scratch_len(),
        Complex::new(zero, zero),
        Complex::new(nan(), nan()),
    );
    let t = Instant::now();
    f.process_with_scratch(a, &mut scratch);
    st.fft_secs += t.elapsed().as_secs_f64();
    pool.give(scratch);
}

/// One device's work arrays: reals (the planar level arrays) and complex (messages, scratch).
#[derive(Default)]
pub(crate) struct Work<T> {
    re: Pool<T>,
    cx: Pool<Complex<T>>,
}

/// GEMMs through tensorblas, with flops and time accounted.
struct Gemm<'a> {
    h: &'a Handle,
    flops: f64,
    secs: f64,
    log: Vec<GemmCall>,
}

impl Gemm<'_> {
    /// `C[b] = alpha op(A[b]) B[b] + beta C[b]`, column-major, every operand given as (slice,
    /// offset, ld, batch stride): the cuBLAS argument order of `gemm_strided_batched`.
    #[allow(clippy::too_many_arguments)]
    fn sb<T: Real>(
        &mut self,
        ta: Op,
        (m, n, k): (usize, usize, usize),
        alpha: T,
        (a, ao, lda, sa): (&[T], usize, usize, usize),
        (b, bo, ldb, sb): (&[T], usize, usize, usize),
        beta: T,
        (c, co, ldc, sc): (&mut [T], usize, usize, usize),
        batch: usize,
    ) -> Result<(), FftError> {
        let t = Instant::now();
        self.h.gemm_strided_batched_ex(
            ta,
            Op::N,
            m,
            n,
            k,
            alpha,
            StridedRef::new(a, ao, 1, lda as isize, sa as isize),
            StridedRef::new(b, bo, 1, ldb as isize, sb as isize),
            beta,
            StridedMut::new(c, co, 1, ldc as isize, sc as isize),
            batch,
        )?;
        let secs = t.elapsed().as_secs_f64();
        self.secs += secs;
        self.flops += 2.0 * (m * n * k * batch) as f64;
        self.log.push(GemmCall {
            transa: ta,
            m,
            n,
            k,
            lda,
            stride_a: sa,
            ldb,
            stride_b: sb,
            ldc,
            stride_c: sc,
            batch,
            beta_zero: <T as tensorblas::Scalar>::is_zero(beta),
            secs,
        });
        Ok(())
    }
}

/// Forward FMM-FFT of this device's block `x` (N/G points, natural order; conjugated on the way
/// in when `conj_in`) into its block `out` of X (natural order).
pub(crate) fn device<T: Real, F: Fabric>(
    plan: &Plan,
    fab: &F,
    handle: &Handle,
    (x, conj_in): (&[Complex<T>], bool),
    out: &mut [Complex<T>],
    st: &mut DeviceStats,
) -> Result<(), FftError> {
    let spec = &plan.spec;
    let (n, pp, g_n, q, b) = (spec.n, spec.sections, spec.devices, spec.order, spec.leaf);
    let (m, l, la) = (plan.m, plan.l, plan.la);
    let g = fab.rank();
    let mloc = m / g_n;
    let ops = plan.ops::<T>();
    let nbl = plan.nbox(l);
    let s_lv = Lv {
        p: pp,
        nb: nbl,
        h: 1,
        w: b,
    };
    let m_lv = |nb: usize| Lv { p: pp, nb, h: 2, w: q };
    let (one, zero) = (<T as tensorblas::Scalar>::one(), <T as tensorblas::Scalar>::zero());
    let planes = 2 * (pp - 1);
    let mut gm = Gemm {
        h: handle,
        flops: 0.0,
        secs: 0.0,
        log: Vec::new(),
    };
    let mut wk: Work<T> = plan.work.take(g);
    let t_all = Instant::now();
    let mut mark = Instant::now();
    let mut lap = |name: &'static str, st: &mut DeviceStats| {
        st.add(name, mark.elapsed().as_secs_f64());
        mark = Instant::now();
    };

    // 0. reshuffle the natural block [m_loc][p] into planar S[p][c][leaf][i].
    debug_assert_eq!(x.len(), n / g_n);
    let mut s = s_lv.alloc(&mut wk.re);
    for ml in 0..mloc {
        for p in 0..pp {
            let v = if conj_in { x[ml * pp + p].conj() } else { x[ml * pp + p] };
            let (bx, i) = ((ml / b) as isize, ml % b);
            s[s_lv.at(p, 0, bx) + i] = v.re;
            s[s_lv.at(p, 1, bx) + i] = v.im;
        }
    }
    lap("reshuffle", st);

    // 2. upward pass: S2M at the leaves, M2M up to level ℓ_A.
    let mut mlev: Vec<Vec<T>> = vec![Vec::new(); l + 1];
    let lv_l = m_lv(nbl);
    mlev[l] = lv_l.alloc(&mut wk.re);
    gm.sb(
        Op::N,
        (q, nbl, b),
        one,
        (&ops.s2m, 0, q, 0),
        (&s, s_lv.at(1, 0, 0), b, s_lv.plane()),
        zero,
        (&mut mlev[l], lv_l.at(1, 0, 0), q, lv_l.plane()),
        planes,
    )?;
    for lev in (la..l).rev() {
        mlev[lev] = m2m(
            &mut gm,
            &mut wk.re,
            &ops.m2m,
            &mlev[lev + 1],
            m_lv(plan.nbox(lev + 1)),
            m_lv(plan.nbox(lev)),
            planes,
        )?;
    }
    lap("upward", st);

    // 1 + 3. one packed message per neighbour: the leaf box next to it and, for every level
    // ℓ_A+1..L, the two multipole boxes next to it (sections 1..P−1).
    let (mut to_left, mut to_right) = (Vec::new(), Vec::new());
    s_lv.pack(&s, 0, 1, &mut to_left);
    s_lv.pack(&s, nbl as isize - 1, 1, &mut to_right);
    for (lev, ml) in mlev.iter().enumerate().skip(la + 1) {
        let lv = m_lv(plan.nbox(lev));
        lv.pack(ml, 0, 2, &mut to_left);
        lv.pack(ml, lv.nb as isize - 2, 2, &mut to_right);
    }
    let (from_left, from_right) = fab.exchange_neighbours(to_left, to_right)?;
    let (mut kl, mut kr) = (0, 0);
    kl += s_lv.unpack(&mut s, -1, 1, &from_left[kl..]);
    kr += s_lv.unpack(&mut s, nbl as isize, 1, &from_right[kr..]);
    for (lev, ml) in mlev.iter_mut().enumerate().skip(la + 1) {
        let lv = m_lv(plan.nbox(lev));
        kl += lv.unpack(ml, -2, 2, &from_left[kl..]);
        kr += lv.unpack(ml, lv.nb as isize, 2, &from_right[kr..]);
    }
    debug_assert!(kl == from_left.len() && kr == from_right.len());
    wk.re.give(from_left);
    wk.re.give(from_right);
    lap("halo", st);

    // 4. all-gather the level-ℓ_A multipoles (sections 1..P−1).
    let nba = plan.nbox(la);
    let lv_a = m_lv(nba);
    let mut part = Vec::new();
    lv_a.pack(&mlev[la], 0, nba, &mut part);
    let parts = fab.all_gather(part)?;
    lap("allgather", st);

    // 5. the replicated top tree: levels 2..ℓ_A over the whole ring.
    let top = |lev: usize| m_lv(1 << lev);
    let mut mtop: Vec<Vec<T>> = vec![Vec::new(); la + 1];
    mtop[la] = top(la).alloc(&mut wk.re);
    for (d, pd) in parts.into_iter().enumerate() {
        top(la).unpack_boxes(&mut mtop[la], (d * nba) as isize, nba, &pd);
        wk.re.give(pd);
    }
    // r_p = 1^T M at level ℓ_A (partition of unity: the sum of section p's sources).
    let mut r = vec![Complex64::new(0.0, 0.0); pp];
    for (p, rp) in r.iter_mut().enumerate().skip(1) {
        let (lv, a) = (top(la), &mtop[la]);
        let sum = |c: usize| -> f64 {
            let o = lv.at(p, c, 0);
            a[o..o + (1 << la) * q].iter().map(|v| v.to_c64().re).sum()
        };
        *rp = Complex64::new(sum(0), sum(1));
    }
    for lev in (2..la).rev() {
        mtop[lev] = m2m(
            &mut gm,
            &mut wk.re,
            &ops.m2m,
            &mtop[lev + 1],
            top(lev + 1),
            top(lev),
            planes,
        )?;
    }
    let mut ltop: Vec<T> = Vec::new();
    for lev in 2..=la {
        let lv = top(lev);
        let mut ll = lv.alloc_zeroed(&mut wk.re);
        if lev > 2 {
            l2l(&mut gm, ops.m2m.as_slice(), &ltop, top(lev - 1), &mut ll, lv, q, planes)?;
        }
        lv.fill_periodic(&mut mtop[lev]);
        if lev == 2 {
            // L_b += K2 M_{(b+2) mod 4}: n = 12 columns (re boxes, 4 halo slots, im boxes).
            gm.sb(
                Op::N,
                (q, 12, q),
                one,
                (&ops.k2, 0, q, q * q),
                (&mtop[2], lv.at(1, 0, 2), q, 2 * lv.plane()),
                one,
                (&mut ll, lv.at(1, 0, 0), q, 2 * lv.plane()),
                pp - 1,
            )?;
        } else {
            m2l_pair(&mut gm, &ops.apair[lev - 3], &mtop[lev], &mut ll, lv, q, pp)?;
        }
        wk.re.give(std::mem::replace(&mut ltop, ll));
    }
    for a in mtop {
        wk.re.give(a);
    }
    lap("top", st);

    // 6. downward pass over the local levels ℓ_A+1..L (halos filled in step 3).
    let mut lcur = lv_a.alloc(&mut wk.re);
    let own = (g * nba) as isize;
    for p in 1..pp {
        for c in 0..2 {
            let (src, dst) = (top(la).at(p, c, own), lv_a.at(p, c, 0));
            lcur[dst..dst + nba * q].copy_from_slice(&ltop[src..src + nba * q]);
        }
    }
    wk.re.give(ltop);
    let mut lcur_lv = lv_a;
    for (lev, ml) in mlev.iter().enumerate().skip(la + 1) {
        let lv = m_lv(plan.nbox(lev));
        let mut ln = lv.alloc(&mut wk.re);
        l2l(&mut gm, ops.m2m.as_slice(), &lcur, lcur_lv, &mut ln, lv, q, planes)?;
        m2l_pair(&mut gm, &ops.apair[lev - 3], ml, &mut ln, lv, q, pp)?;
        wk.re.give(std::mem::replace(&mut lcur, ln));
        lcur_lv = lv;
    }
    // L2T (β = 0), then the near field S2T (β = 1) onto it.
    let mut t = s_lv.alloc(&mut wk.re);
    gm.sb(
        Op::T,
        (b, nbl, q),
        one,
        (&ops.s2m, 0, q, 0),
        (&lcur, lcur_lv.at(1, 0, 0), q, lcur_lv.plane()),
        zero,
        (&mut t, s_lv.at(1, 0, 0), b, s_lv.plane()),
        planes,
    )?;
    for (si, sh) in [-1isize, 0, 1].into_iter().enumerate() {
        gm.sb(
            Op::N,
            (b, 2 * nbl + 2, b),
            one,
            (&ops.s2t, si * b * b, b, 3 * b * b),
            (&s, s_lv.at(1, 0, sh), b, 2 * s_lv.plane()),
            one,
            (&mut t, s_lv.at(1, 0, 0), b, 2 * s_lv.plane()),
            pp - 1,
        )?;
    }
    // Section 0 passes through (C_0 = I).
    for c in 0..2 {
        let o = s_lv.at(0, c, 0);
        t[o..o + mloc].copy_from_slice(&s[o..o + mloc]);
    }
    wk.re.give(lcur);
    for a in mlev {
        wk.re.give(a);
    }
    wk.re.give(s);
    lap("downward", st);

    // 7. combine: [Y_re Y_im](Mloc x 2P) = [U_re U_im](Mloc x 2P) · comb (2P x 2P), one GEMM on
    // the planar data (the re and im planes of consecutive sections are one plane apart, so U is
    // a Mloc x 2P matrix with ld = one plane); then + c 1^T.
    let mut yp = wk.re.take(mloc * 2 * pp, zero, nan());
    gm.sb(
        Op::N,
        (mloc, 2 * pp, 2 * pp),
        one,
        (&t, s_lv.at(0, 0, 0), s_lv.plane(), 0),
        (&ops.comb, 0, 2 * pp, 0),
        zero,
        (&mut yp, 0, mloc, 0),
        1,
    )?;
    wk.re.give(t);
    // + c_q, straight into the all-to-all's chunks: rows Q_h = h·P/G .. (h+1)·P/G to device h.
    let pg = pp / g_n;
    let mut chunks: Vec<Vec<Complex<T>>> = (0..g_n).map(|_| wk.cx.take_empty(pg * mloc)).collect();
    for qq in 0..pp {
        let cq: Complex64 = (1..pp).map(|p| plan.wc[qq * (pp - 1) + p - 1] * r[p]).sum();
        let (cr, ci) = (
            T::from_c64(Complex64::new(cq.re, 0.0)),
            T::from_c64(Complex64::new(cq.im, 0.0)),
        );
        let (re, im) = (
            &yp[2 * qq * mloc..(2 * qq + 1) * mloc],
            &yp[(2 * qq + 1) * mloc..(2 * qq + 2) * mloc],
        );
        chunks[qq / pg].extend(re.iter().zip(im).map(|(&a, &b)| Complex::new(a + cr, b + ci)));
    }
    wk.re.give(yp);
    lap("combine", st);

    // 8. the single all-to-all.
    let recv = fab.all_to_all(chunks)?;
    lap("alltoall", st);

    // 9. assemble [q_loc][j] and run P/G FFTs of length M.
    debug_assert_eq!(out.len(), pg * m);
    for (d, chunk) in recv.into_iter().enumerate() {
        for ql in 0..pg {
            out[ql * m + d * mloc..ql * m + (d + 1) * mloc].copy_from_slice(&chunk[ql * mloc..(ql + 1) * mloc]);
        }
        wk.cx.give(chunk);
    }
    fft_in_place(&*plan.ffts.forward::<T>(m), out, &mut wk.cx, st);
    lap("fft", st);
    st.gemm_flops += gm.flops;
    st.gemm_secs += gm.secs;
    st.gemm_log.append(&mut gm.log);
    st.total_secs += t_all.elapsed().as_secs_f64();
    plan.work.put(g, wk);
    Ok(())
}

impl Lv {
    /// Copies `cnt` boxes per plane (sections 1..P−1) packed as by [`Lv::pack`] into boxes
    /// `b0..b0+cnt`.
    fn unpack_boxes<T: Real>(&self, a: &mut [T], b0: isize, cnt: usize, src: &[T]) {
        let used = self.unpack(a, b0, cnt, src);
        debug_assert_eq!(used, src.len());
    }
}

/// M2M: the parent level (layout `plv`) from the child level `mc` (layout `clv`), pairs of
/// children as columns (ldb = 2Q).
fn m2m<T: Real>(
    gm: &mut Gemm<'_>,
    pool: &mut Pool<T>,
    m2m: &[T],
    mc: &[T],
    clv: Lv,
    plv: Lv,
    planes: usize,
) -> Result<Vec<T>, FftError> {
    let q = plv.w;
    let mut mp = plv.alloc(pool);
    gm.sb(
        Op::N,
        (q, plv.nb, 2 * q),
        <T as tensorblas::Scalar>::one(),
        (m2m, 0, q, 0),
        (mc, clv.at(1, 0, 0), 2 * q, clv.plane()),
        <T as tensorblas::Scalar>::zero(),
        (&mut mp, plv.at(1, 0, 0), q, plv.plane()),
        planes,
    )?;
    Ok(mp)
}

/// L2L from level array `lp` (parent layout `plv`) into `lc` (child layout `clv`): pairs of child
/// boxes are columns (ldc = 2Q), A = M2M^T.
#[allow(clippy::too_many_arguments)]
fn l2l<T: Real>(
    gm: &mut Gemm<'_>,
    m2m: &[T],
    lp: &[T],
    plv: Lv,
    lc: &mut [T],
    clv: Lv,
    q: usize,
    planes: usize,
) -> Result<(), FftError> {
    gm.sb(
        Op::T,
        (2 * q, plv.nb, q),
        <T as tensorblas::Scalar>::one(),
        (m2m, 0, q, 0),
        (lp, plv.at(1, 0, 0), q, plv.plane()),
        <T as tensorblas::Scalar>::zero(),
        (lc, clv.at(1, 0, 0), 2 * q, clv.plane()),
        planes,
    )
}

/// Pair-form M2L at one level (two calls, δ = −1 and +1; batch over the P−1 sections, each call
/// covering the re and im planes of a section in one n = nb + 2 pair columns).
fn m2l_pair<T: Real>(
    gm: &mut Gemm<'_>,
    (am1, ap1): &(Vec<T>, Vec<T>),
    ml: &[T],
    ll: &mut [T],
    lv: Lv,
    q: usize,
    pp: usize,
) -> Result<(), FftError> {
    for (a, delta) in [(am1, -1isize), (ap1, 1)] {
        gm.sb(
            Op::N,
            (2 * q, lv.nb + 2, 2 * q),
            <T as tensorblas::Scalar>::one(),
            (a, 0, 2 * q, 4 * q * q),
            (ml, lv.at(1, 0, 2 * delta), 2 * q, 2 * lv.plane()),
            <T as tensorblas::Scalar>::one(),
            (ll, lv.at(1, 0, 0), 2 * q, 2 * lv.plane()),
            pp - 1,
        )?;
    }
    Ok(())
}
