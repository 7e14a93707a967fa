//! One device's part of the FMM-FFT (docs/fmm-fft.md §4.2 steps 0–9). Every FMM step and the P-point
//! combination are strided-batched GEMMs on tensorblas (split forms of docs/fmm-fft.md §5.1, which cuBLAS
//! also accepts); the final M-point FFTs are rustfft.

use crate::fabric::Fabric;
use crate::mem::{At, Mem};
use crate::plan::Plan;
use crate::{DeviceStats, FftError, GemmCall, Real};
use num_complex::{Complex, Complex64};
use std::time::Instant;
use tensorblas::{Handle, Op};

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
    /// Box `b` of the 2(P−1) planes of sections 1..P−1 as a row block: plane (p, c) is row
    /// 2(p−1) + c, rows one plane apart.
    fn rows(&self, b: isize) -> At {
        (self.at(1, 0, b), self.plane())
    }
    /// Number of those planes.
    fn planes(&self) -> usize {
        2 * (self.p - 1)
    }
}

/// GEMMs through tensorblas, with flops and time accounted.
struct Gemm<'a> {
    h: &'a Handle,
    flops: f64,
    secs: f64,
    log: Vec<GemmCall>,
}

impl Gemm<'_> {
    /// `C[b] = alpha op(A[b]) B[b] + beta C[b]`, column-major, every operand given as (array,
    /// offset, ld, batch stride): the cuBLAS argument order of `gemm_strided_batched`. Waits for
    /// the call on a CUDA handle, so that its time is its own.
    #[allow(clippy::too_many_arguments)]
    fn sb<T: Real, M: Mem<T>>(
        &mut self,
        ta: Op,
        (m, n, k): (usize, usize, usize),
        alpha: T,
        (a, ao, lda, sa): (&M::Arr, usize, usize, usize),
        (b, bo, ldb, sb): (&M::Arr, usize, usize, usize),
        beta: T,
        (c, co, ldc, sc): (&mut M::Arr, usize, usize, usize),
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
            M::view(a, ao, lda, sa),
            M::view(b, bo, ldb, sb),
            beta,
            M::view_mut(c, co, ldc, sc),
            batch,
        )?;
        self.h.synchronize()?;
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
/// in when `conj_in`) into its block `out` of X (natural order), with the level arrays in `mem`
/// and the GEMMs on `handle` (whose memory `mem` is).
pub(crate) fn device<T: Real, F: Fabric, M: Mem<T>>(
    plan: &Plan,
    fab: &F,
    handle: &Handle,
    mem: &mut M,
    (x, conj_in): (&[Complex<T>], bool),
    out: &mut [Complex<T>],
    st: &mut DeviceStats,
) -> Result<(), FftError> {
    let spec = &plan.spec;
    let (n, pp, g_n, q, b) = (spec.n, spec.sections, spec.devices, spec.order, spec.leaf);
    let (m, l, la) = (plan.m, plan.l, plan.la);
    let g = fab.rank();
    let mloc = m / g_n;
    let ops = mem.ops(plan)?;
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
    let t_all = Instant::now();
    let mut mark = Instant::now();
    let mut lap = |name: &'static str, st: &mut DeviceStats| -> Result<(), FftError> {
        handle.synchronize()?;
        st.add(name, mark.elapsed().as_secs_f64());
        mark = Instant::now();
        Ok(())
    };

    // 0. reshuffle the natural block [m_loc][p] into planar S[p][c][leaf][i].
    debug_assert_eq!(x.len(), n / g_n);
    let mut s = mem.take(s_lv.len())?;
    mem.write(&mut s, 0..s_lv.len(), |s| {
        for ml in 0..mloc {
            for p in 0..pp {
                let v = if conj_in { x[ml * pp + p].conj() } else { x[ml * pp + p] };
                let (bx, i) = ((ml / b) as isize, ml % b);
                s[s_lv.at(p, 0, bx) + i] = v.re;
                s[s_lv.at(p, 1, bx) + i] = v.im;
            }
        }
    })?;
    lap("reshuffle", st)?;

    // 2. upward pass: S2M at the leaves, M2M up to level ℓ_A.
    // Built from the leaves up, then reversed: mlev[i] is level ℓ_A + i.
    let mut mlev: Vec<M::Arr> = Vec::with_capacity(l - la + 1);
    let lv_l = m_lv(nbl);
    let mut ml_l = mem.take(lv_l.len())?;
    gm.sb::<T, M>(
        Op::N,
        (q, nbl, b),
        one,
        (&ops.s2m, 0, q, 0),
        (&s, s_lv.at(1, 0, 0), b, s_lv.plane()),
        zero,
        (&mut ml_l, lv_l.at(1, 0, 0), q, lv_l.plane()),
        planes,
    )?;
    mlev.push(ml_l);
    for lev in (la..l).rev() {
        let child = mlev.last().expect("the leaf level is in");
        let parent = m2m(
            &mut gm,
            mem,
            &ops.m2m,
            child,
            m_lv(plan.nbox(lev + 1)),
            m_lv(plan.nbox(lev)),
        )?;
        mlev.push(parent);
    }
    mlev.reverse();
    lap("upward", st)?;

    // 1 + 3. one packed message per neighbour: the leaf box next to it and, for every level
    // ℓ_A+1..L, the two multipole boxes next to it (sections 1..P−1), each packed [p−1][c][box][w].
    let (mut to_left, mut to_right) = {
        let (re, _) = mem.host_pools();
        let cap = planes * (b + 2 * q * (l - la));
        (re.take_empty(cap), re.take_empty(cap))
    };
    mem.download(&s, s_lv.rows(0), b, planes, &mut to_left)?;
    mem.download(&s, s_lv.rows(nbl as isize - 1), b, planes, &mut to_right)?;
    for (i, ml) in mlev.iter().enumerate().skip(1) {
        let lv = m_lv(plan.nbox(la + i));
        mem.download(ml, lv.rows(0), 2 * q, planes, &mut to_left)?;
        mem.download(ml, lv.rows(lv.nb as isize - 2), 2 * q, planes, &mut to_right)?;
    }
    let (from_left, from_right) = fab.exchange_neighbours(to_left, to_right)?;
    let mut k = 0;
    let mut next = |len: usize| {
        k += len;
        k - len..k
    };
    let r = next(planes * b);
    mem.upload(&mut s, s_lv.rows(-1), b, planes, &from_left[r.clone()])?;
    mem.upload(&mut s, s_lv.rows(nbl as isize), b, planes, &from_right[r])?;
    for (i, ml) in mlev.iter_mut().enumerate().skip(1) {
        let lv = m_lv(plan.nbox(la + i));
        let r = next(planes * 2 * q);
        mem.upload(ml, lv.rows(-2), 2 * q, planes, &from_left[r.clone()])?;
        mem.upload(ml, lv.rows(lv.nb as isize), 2 * q, planes, &from_right[r])?;
    }
    debug_assert!(k == from_left.len() && k == from_right.len());
    let (re, _) = mem.host_pools();
    re.give(from_left);
    re.give(from_right);
    lap("halo", st)?;

    // 4. all-gather the level-ℓ_A multipoles (sections 1..P−1), packed [p−1][c][box][w].
    let nba = plan.nbox(la);
    let lv_a = m_lv(nba);
    let mut part = mem.host_pools().0.take_empty(planes * nba * q);
    mem.download(&mlev[0], lv_a.rows(0), nba * q, planes, &mut part)?;
    let parts = fab.all_gather(part)?;
    lap("allgather", st)?;

    // 5. the replicated top tree: levels 2..ℓ_A over the whole ring.
    let top = |lev: usize| m_lv(1 << lev);
    let mut mt = mem.take(top(la).len())?;
    for (d, pd) in parts.iter().enumerate() {
        mem.upload(&mut mt, top(la).rows((d * nba) as isize), nba * q, planes, pd)?;
    }
    // r_p = 1^T M at level ℓ_A (partition of unity: the sum of section p's sources), summed in
    // box order over the gathered parts.
    let mut r = vec![Complex64::new(0.0, 0.0); pp];
    for (p, rp) in r.iter_mut().enumerate().skip(1) {
        let sum = |c: usize| -> f64 {
            let row = 2 * (p - 1) + c;
            parts
                .iter()
                .flat_map(|pd| &pd[row * nba * q..(row + 1) * nba * q])
                .map(|v| v.to_c64().re)
                .sum()
        };
        *rp = Complex64::new(sum(0), sum(1));
    }
    for pd in parts {
        mem.host_pools().0.give(pd);
    }
    // Built from ℓ_A down, then reversed: mtop[i] is level 2 + i.
    let mut mtop: Vec<M::Arr> = vec![mt];
    for lev in (2..la).rev() {
        let child = mtop.last().expect("level ℓ_A is in");
        let parent = m2m(&mut gm, mem, &ops.m2m, child, top(lev + 1), top(lev))?;
        mtop.push(parent);
    }
    mtop.reverse();
    let mut ltop: Option<M::Arr> = None;
    for (i, mt) in mtop.iter_mut().enumerate() {
        let lev = 2 + i;
        let lv = top(lev);
        let mut ll = mem.take_zeroed(lv.len())?;
        if let Some(lp) = &ltop {
            l2l::<T, M>(&mut gm, &ops.m2m, lp, top(lev - 1), &mut ll, lv)?;
        }
        fill_periodic(mem, mt, lv)?;
        if lev == 2 {
            // L_b += K2 M_{(b+2) mod 4}: n = 12 columns (re boxes, 4 halo slots, im boxes).
            gm.sb::<T, M>(
                Op::N,
                (q, 12, q),
                one,
                (&ops.k2, 0, q, q * q),
                (mt, lv.at(1, 0, 2), q, 2 * lv.plane()),
                one,
                (&mut ll, lv.at(1, 0, 0), q, 2 * lv.plane()),
                pp - 1,
            )?;
        } else {
            m2l_pair::<T, M>(&mut gm, &ops.apair[lev - 3], mt, &mut ll, lv)?;
        }
        if let Some(old) = ltop.replace(ll) {
            mem.give(old);
        }
    }
    for a in mtop {
        mem.give(a);
    }
    let ltop = ltop.expect("ℓ_A >= 2");
    lap("top", st)?;

    // 6. downward pass over the local levels ℓ_A+1..L (halos filled in step 3).
    let mut lcur = mem.take(lv_a.len())?;
    mem.copy(
        &mut lcur,
        lv_a.rows(0),
        &ltop,
        top(la).rows((g * nba) as isize),
        nba * q,
        planes,
    )?;
    mem.give(ltop);
    let mut lcur_lv = lv_a;
    for (i, ml) in mlev.iter().enumerate().skip(1) {
        let lv = m_lv(plan.nbox(la + i));
        let mut ln = mem.take(lv.len())?;
        l2l::<T, M>(&mut gm, &ops.m2m, &lcur, lcur_lv, &mut ln, lv)?;
        m2l_pair::<T, M>(&mut gm, &ops.apair[la + i - 3], ml, &mut ln, lv)?;
        mem.give(std::mem::replace(&mut lcur, ln));
        lcur_lv = lv;
    }
    // L2T (β = 0), then the near field S2T (β = 1) onto it.
    let mut t = mem.take(s_lv.len())?;
    gm.sb::<T, M>(
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
        gm.sb::<T, M>(
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
    // Section 0 passes through (C_0 = I): its re and im planes.
    let sec0 = (s_lv.at(0, 0, 0), s_lv.plane());
    mem.copy(&mut t, sec0, &s, sec0, mloc, 2)?;
    mem.give(lcur);
    for a in mlev {
        mem.give(a);
    }
    mem.give(s);
    lap("downward", st)?;

    // 7. combine: [Y_re Y_im](Mloc x 2P) = [U_re U_im](Mloc x 2P) · comb (2P x 2P), one GEMM on
    // the planar data (the re and im planes of consecutive sections are one plane apart, so U is
    // a Mloc x 2P matrix with ld = one plane); then + c 1^T.
    let mut yp = mem.take(mloc * 2 * pp)?;
    gm.sb::<T, M>(
        Op::N,
        (mloc, 2 * pp, 2 * pp),
        one,
        (&t, s_lv.at(0, 0, 0), s_lv.plane(), 0),
        (&ops.comb, 0, 2 * pp, 0),
        zero,
        (&mut yp, 0, mloc, 0),
        1,
    )?;
    mem.give(t);
    // + c_q, straight into the all-to-all's chunks: rows Q_h = h·P/G .. (h+1)·P/G to device h.
    let pg = pp / g_n;
    let mut chunks: Vec<Vec<Complex<T>>> = {
        let (_, cx) = mem.host_pools();
        (0..g_n).map(|_| cx.take_empty(pg * mloc)).collect()
    };
    mem.read(&yp, 0..mloc * 2 * pp, |yp| {
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
    })?;
    mem.give(yp);
    lap("combine", st)?;

    // 8. the single all-to-all.
    let recv = fab.all_to_all(chunks)?;
    lap("alltoall", st)?;

    // 9. assemble [q_loc][j] and run P/G FFTs of length M.
    debug_assert_eq!(out.len(), pg * m);
    mem.final_ffts(plan, recv, out, st)?;
    lap("fft", st)?;
    st.gemm_flops += gm.flops;
    st.gemm_secs += gm.secs;
    st.gemm_log.append(&mut gm.log);
    st.total_secs += t_all.elapsed().as_secs_f64();
    Ok(())
}

/// Periodic halos of a whole level held by one device (top tree): box −h+k ← nb−h+k and
/// nb+k ← k for k < h, in every plane of sections 1..P−1.
fn fill_periodic<T: Real, M: Mem<T>>(mem: &mut M, a: &mut M::Arr, lv: Lv) -> Result<(), FftError> {
    let (nb, h) = (lv.nb as isize, lv.h as isize);
    for k in 0..h {
        mem.copy_within(a, lv.rows(-h + k), lv.rows(nb - h + k), lv.w, lv.planes())?;
        mem.copy_within(a, lv.rows(nb + k), lv.rows(k), lv.w, lv.planes())?;
    }
    Ok(())
}

/// M2M: the parent level (layout `plv`) from the child level `mc` (layout `clv`), pairs of
/// children as columns (ldb = 2Q).
fn m2m<T: Real, M: Mem<T>>(
    gm: &mut Gemm<'_>,
    mem: &mut M,
    m2m: &M::Arr,
    mc: &M::Arr,
    clv: Lv,
    plv: Lv,
) -> Result<M::Arr, FftError> {
    let q = plv.w;
    let mut mp = mem.take(plv.len())?;
    gm.sb::<T, M>(
        Op::N,
        (q, plv.nb, 2 * q),
        <T as tensorblas::Scalar>::one(),
        (m2m, 0, q, 0),
        (mc, clv.at(1, 0, 0), 2 * q, clv.plane()),
        <T as tensorblas::Scalar>::zero(),
        (&mut mp, plv.at(1, 0, 0), q, plv.plane()),
        plv.planes(),
    )?;
    Ok(mp)
}

/// L2L from level array `lp` (parent layout `plv`) into `lc` (child layout `clv`): pairs of child
/// boxes are columns (ldc = 2Q), A = M2M^T.
fn l2l<T: Real, M: Mem<T>>(
    gm: &mut Gemm<'_>,
    m2m: &M::Arr,
    lp: &M::Arr,
    plv: Lv,
    lc: &mut M::Arr,
    clv: Lv,
) -> Result<(), FftError> {
    let q = plv.w;
    gm.sb::<T, M>(
        Op::T,
        (2 * q, plv.nb, q),
        <T as tensorblas::Scalar>::one(),
        (m2m, 0, q, 0),
        (lp, plv.at(1, 0, 0), q, plv.plane()),
        <T as tensorblas::Scalar>::zero(),
        (lc, clv.at(1, 0, 0), 2 * q, clv.plane()),
        plv.planes(),
    )
}

/// Pair-form M2L at one level (two calls, δ = −1 and +1; batch over the P−1 sections, each call
/// covering the re and im planes of a section in one n = nb + 2 pair columns).
fn m2l_pair<T: Real, M: Mem<T>>(
    gm: &mut Gemm<'_>,
    (am1, ap1): &(M::Arr, M::Arr),
    ml: &M::Arr,
    ll: &mut M::Arr,
    lv: Lv,
) -> Result<(), FftError> {
    let q = lv.w;
    for (a, delta) in [(am1, -1isize), (ap1, 1)] {
        gm.sb::<T, M>(
            Op::N,
            (2 * q, lv.nb + 2, 2 * q),
            <T as tensorblas::Scalar>::one(),
            (a, 0, 2 * q, 4 * q * q),
            (ml, lv.at(1, 0, 2 * delta), 2 * q, 2 * lv.plane()),
            <T as tensorblas::Scalar>::one(),
            (ll, lv.at(1, 0, 0), 2 * q, 2 * lv.plane()),
            lv.p - 1,
        )?;
    }
    Ok(())
}
