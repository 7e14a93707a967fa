//! The plan: sizes, their constraints, and every FMM operator (built in f64, then rounded).
//!
//! Notation of `docs/fmm-fft.md`: N = P·M (P sections of length M), M = B·2^L (leaf size
//! B, leaf level L), G devices (a power of two dividing P), Q Chebyshev nodes per box, ℓ_A =
//! max(2, log2 G) the level whose multipoles are all-gathered.

use crate::fabric::Traffic;
use crate::{FftError, Real};
use num_complex::Complex64;
use std::any::Any;
use std::f64::consts::PI;
use std::sync::Arc;

/// Arithmetic precision of a transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// f32 data, operators and GEMMs (complex64 input/output).
    F32,
    /// f64 data, operators and GEMMs (complex128 input/output).
    F64,
}

impl Precision {
    /// The expansion order docs/fmm-fft.md recommends (§3.6): 8 for f32 (its floor), 16 for f64.
    pub fn default_order(self) -> usize {
        match self {
            Precision::F32 => 8,
            Precision::F64 => 16,
        }
    }

    /// The leaf size docs/fmm-fft.md recommends: about 2Q (16 for f32, 32 for f64).
    pub fn default_leaf(self) -> usize {
        2 * self.default_order()
    }

    /// Bytes of one complex element.
    pub fn complex_bytes(self) -> u64 {
        match self {
            Precision::F32 => 8,
            Precision::F64 => 16,
        }
    }
}

/// What to build a plan for. [`PlanSpec::new`] fills in the spec's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanSpec {
    /// Transform length N.
    pub n: usize,
    /// Sections P (N = P·M).
    pub sections: usize,
    /// Devices G (a power of two dividing P).
    pub devices: usize,
    /// Chebyshev nodes per box Q.
    pub order: usize,
    /// Leaf box size B (M/B must be a power of two).
    pub leaf: usize,
    /// Precision of the data and the GEMMs.
    pub precision: Precision,
}

impl PlanSpec {
    /// A spec for length `n` on `devices` devices with the defaults for `precision`: Q and B from
    /// [`Precision::default_order`] / [`Precision::default_leaf`] (then B/2 and 8 if N does not
    /// fit), and the smallest valid P = G·k (k <= 1024) (docs/fmm-fft.md §3.6: start with
    /// P in {G, 4G, 16G}; the FMM's extra communication grows with P, so the smallest wins on
    /// bytes: `tensorblas-bench fft`).
    pub fn new(n: usize, devices: usize, precision: Precision) -> Result<PlanSpec, FftError> {
        let order = precision.default_order();
        let mut last = None;
        for leaf in [precision.default_leaf(), precision.default_leaf() / 2, 8] {
            let mut best: Option<(f64, PlanSpec)> = None;
            for k in 1..=1024usize {
                let s = PlanSpec {
                    n,
                    sections: devices.saturating_mul(k),
                    devices,
                    order,
                    leaf,
                    precision,
                };
                match s.check() {
                    Ok(()) => {
                        let d = k as f64;
                        if best.as_ref().is_none_or(|(bd, _)| d < *bd) {
                            best = Some((d, s));
                        }
                    }
                    Err(e) => last = Some(e),
                }
            }
            if let Some((_, s)) = best {
                return Ok(s);
            }
        }
        Err(last.unwrap_or_else(|| FftError::InvalidPlan(format!("no valid plan for N = {n}"))))
    }

    /// Checks every constraint of docs/fmm-fft.md §3.6, naming the one broken.
    pub fn check(&self) -> Result<(), FftError> {
        let bad = |m: String| Err(FftError::InvalidPlan(m));
        let (n, p, g, q, b) = (self.n, self.sections, self.devices, self.order, self.leaf);
        if g == 0 || !g.is_power_of_two() {
            return bad(format!("devices G = {g} must be a power of two"));
        }
        if p < 2 {
            return bad(format!("sections P = {p} must be >= 2"));
        }
        if p % g != 0 {
            return bad(format!("devices G = {g} must divide sections P = {p}"));
        }
        if !(2..=32).contains(&q) {
            return bad(format!("order Q = {q} must be in 2..=32"));
        }
        if b == 0 {
            return bad("leaf B must be >= 1".into());
        }
        if n == 0 || n % p != 0 {
            return bad(format!("N = {n} must be a positive multiple of sections P = {p}"));
        }
        let m = n / p;
        if m % b != 0 || !(m / b).is_power_of_two() {
            return bad(format!("M = N/P = {m} must be leaf B = {b} times a power of two"));
        }
        let l = (m / b).trailing_zeros() as usize;
        let la = 2.max(g.trailing_zeros() as usize);
        if l < la {
            return bad(format!(
                "the tree is too shallow: M/B = {} leaves = 2^{l}, needs 2^{la} (>= 4 and >= G = {g}); \
                 use a smaller leaf B or fewer sections P",
                m / b
            ));
        }
        if (n as u128) * (p as u128) >= 1u128 << 62 {
            return bad(format!("N*P = {n}*{p} is too large for exact integer phases"));
        }
        Ok(())
    }
}

/// A plan's operators in one precision, column-major.
#[derive(Clone, Debug)]
pub(crate) struct OpsOn<A> {
    /// S2M, Q x B (ld Q).
    pub s2m: A,
    /// M2M, Q x 2Q (ld Q).
    pub m2m: A,
    /// S2T^{(p)}_{s'}, B x B each (ld B), p = 1..P-1 slowest, s' = -1, 0, +1.
    pub s2t: A,
    /// K^{(p,2)}_{+2}, Q x Q each (ld Q), p = 1..P-1.
    pub k2: A,
    /// Level l >= 3: (A_{-1}, A_{+1}), 2Q x 2Q each (ld 2Q), p = 1..P-1. Index l - 3.
    pub apair: Vec<(A, A)>,
    /// The P-point combination as one real 2P x 2P matrix (ld 2P) acting on planar data: row
    /// (p, c_in) = 2p + c_in, column (q, c_out) = 2q + c_out, so that
    /// `[Y_re(q) Y_im(q)] = Σ_p [U_re(p) U_im(p)] · block(p, q)` with block(p, q) =
    /// [[F_re, F_im], [−F_im, F_re]](q, p) and F = F^ of docs/fmm-fft.md §5.4.
    pub comb: A,
}

/// The operators as host arrays of `T`.
pub(crate) type Ops<T> = OpsOn<Vec<T>>;

impl<A> OpsOn<A> {
    /// The same operators, each array converted by `f` (rounded, or copied to a device).
    pub(crate) fn map<B, E>(&self, mut f: impl FnMut(&A) -> Result<B, E>) -> Result<OpsOn<B>, E> {
        let mut apair = Vec::with_capacity(self.apair.len());
        for (a, b) in &self.apair {
            apair.push((f(a)?, f(b)?));
        }
        Ok(OpsOn {
            s2m: f(&self.s2m)?,
            m2m: f(&self.m2m)?,
            s2t: f(&self.s2t)?,
            k2: f(&self.k2)?,
            apair,
            comb: f(&self.comb)?,
        })
    }
}

/// A validated FMM-FFT plan: sizes, operators and the local FFTs' rustfft plans. Executing it is
/// [`crate::transform`]'s (or [`crate::transform_on`]'s) job.
///
/// A plan is the recipe, made once and executed many times, and never changes after
/// [`Plan::new`] (as RustFFT separates its planner, the `Fft` recipe and the caller's scratch):
/// the mutable state of a transform — each device's work arrays — lives in a
/// [`crate::Workspace`] that the caller keeps next to the plan (the `*_into*` functions take one).
/// Clones share the operators and FFT plans; any number of threads may execute one plan at once,
/// each with its own workspace.
#[derive(Clone, Debug)]
pub struct Plan {
    pub(crate) spec: PlanSpec,
    /// Section length M.
    pub(crate) m: usize,
    /// Leaf level L.
    pub(crate) l: usize,
    /// All-gather level ℓ_A.
    pub(crate) la: usize,
    /// Chebyshev nodes.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) xi: Vec<f64>,
    /// Operators in f64 (the source of both roundings).
    pub(crate) ops64: Arc<Ops<f64>>,
    /// The same rounded to f32.
    pub(crate) ops32: Arc<Ops<f32>>,
    /// ρ_p (p = 0..P-1).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) rho: Vec<Complex64>,
    /// W[q][p] ρ_p i for p = 1..P-1: c_q = Σ_p wc[q][p-1] r_p.
    pub(crate) wc: Vec<Complex64>,
    /// The local FFTs (rustfft plans, twiddles included), made in `Plan::new` for every length
    /// a transform uses and shared by clones: executing a plan does not plan FFTs (as cuFFT
    /// plans are made up front).
    pub(crate) ffts: Arc<Ffts>,
    /// Identifies the recipe (shared by clones): a [`crate::Workspace`] holds state for one
    /// plan at a time (e.g. operators uploaded to a GPU) and starts afresh on another.
    pub(crate) id: u64,
}

type AnyFft = Box<dyn Any + Send + Sync>;

/// The plan's forward rustfft plans, by length, in the plan's precision: made once, then only
/// read (no lock).
#[derive(Default)]
pub(crate) struct Ffts(Vec<(usize, AnyFft)>);

impl std::fmt::Debug for Ffts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lens: Vec<usize> = self.0.iter().map(|e| e.0).collect();
        write!(f, "Ffts(lengths {lens:?})")
    }
}

impl Ffts {
    fn add<T: Real>(&mut self, len: usize) {
        if !self.0.iter().any(|e| e.0 == len) {
            self.0.push((len, Box::new(T::forward_plan(len))));
        }
    }

    /// The forward FFT of length `len` in precision `T`: the plan's own (every length and
    /// precision a transform of the plan uses is made in `Plan::new`), else planned now.
    pub(crate) fn forward<T: Real>(&self, len: usize) -> Arc<dyn rustfft::Fft<T>> {
        self.0
            .iter()
            .filter(|e| e.0 == len)
            .find_map(|e| e.1.downcast_ref::<Arc<dyn rustfft::Fft<T>>>())
            .map_or_else(|| T::forward_plan(len), Arc::clone)
    }
}

/// Lagrange basis on `nodes` at `x`: `l[a]` = ℓ_a(x).
pub(crate) fn lagrange(nodes: &[f64], x: f64) -> Vec<f64> {
    (0..nodes.len())
        .map(|a| {
            nodes
                .iter()
                .enumerate()
                .filter(|&(b, _)| b != a)
                .map(|(_, &nb)| (x - nb) / (nodes[a] - nb))
                .product()
        })
        .collect()
}

/// Chebyshev points of the first kind, ξ_a = cos((2a+1)π/(2Q)).
pub(crate) fn chebyshev(q: usize) -> Vec<f64> {
    (0..q)
        .map(|a| ((2 * a + 1) as f64 * PI / (2 * q) as f64).cos())
        .collect()
}

fn cot(x: f64) -> f64 {
    x.cos() / x.sin()
}

/// e^{-2πi k/n} with `k` already reduced mod `n` in integers (docs/fmm-fft.md §11, pitfall 1).
pub(crate) fn twiddle(k: u64, n: u64) -> Complex64 {
    let a = -2.0 * PI * (k % n) as f64 / n as f64;
    Complex64::new(a.cos(), a.sin())
}

impl Plan {
    /// Builds the plan for `spec` (validated first).
    pub fn new(spec: &PlanSpec) -> Result<Plan, FftError> {
        spec.check()?;
        let (n, p, g, q, b) = (spec.n, spec.sections, spec.devices, spec.order, spec.leaf);
        let m = n / p;
        let l = (m / b).trailing_zeros() as usize;
        let la = 2.max(g.trailing_zeros() as usize);
        let xi = chebyshev(q);
        // S2M[a, i] = ℓ_a((2i + 1 - B)/B), column-major (ld Q).
        let mut s2m = vec![0.0; q * b];
        for i in 0..b {
            let li = lagrange(&xi, (2 * i + 1) as f64 / b as f64 - 1.0);
            s2m[i * q..(i + 1) * q].copy_from_slice(&li);
        }
        // M2M[a, c*Q + a'] = ℓ_a((ξ_a' + 2c - 1)/2).
        let mut m2m = vec![0.0; q * 2 * q];
        for c in 0..2 {
            for a2 in 0..q {
                let col = c * q + a2;
                let la_ = lagrange(&xi, (xi[a2] + 2.0 * c as f64 - 1.0) / 2.0);
                m2m[col * q..(col + 1) * q].copy_from_slice(&la_);
            }
        }
        // S2T^{(p)}_{s'}[i, j] = cot(π (P(i - j - s'B) - p) / N), numerator in integers.
        let mut s2t = vec![0.0; (p - 1) * 3 * b * b];
        for pp in 1..p {
            for (si, s) in [-1i64, 0, 1].into_iter().enumerate() {
                let base = ((pp - 1) * 3 + si) * b * b;
                for j in 0..b {
                    for i in 0..b {
                        let num = p as i64 * (i as i64 - j as i64 - s * b as i64) - pp as i64;
                        s2t[base + j * b + i] = cot(PI * num as f64 / n as f64);
                    }
                }
            }
        }
        // K^{(p,ℓ)}_d[n', m'] = cot(π (d h + h/2 (ξ_n' - ξ_m') - p/P) / M), h = M / 2^ℓ.
        let kblock = |pp: usize, lev: usize, d: f64| -> Vec<f64> {
            let h = m as f64 / (1u64 << lev) as f64;
            let alpha = pp as f64 / p as f64;
            let mut k = vec![0.0; q * q];
            for mm in 0..q {
                for nn in 0..q {
                    k[mm * q + nn] = cot(PI * (d * h + 0.5 * h * (xi[nn] - xi[mm]) - alpha) / m as f64);
                }
            }
            k
        };
        let mut k2 = Vec::with_capacity((p - 1) * q * q);
        for pp in 1..p {
            k2.extend(kblock(pp, 2, 2.0));
        }
        // Pair blocks (rows = (target child, n), columns = (source child, m)), 2Q x 2Q, ld 2Q:
        // A_{-1} = [[K+2, 0], [K+3, K+2]], A_{+1} = [[K-2, K-3], [0, K-2]].
        let mut apair = Vec::new();
        for lev in 3..=l {
            let (mut am1, mut ap1) = (Vec::new(), Vec::new());
            for pp in 1..p {
                let (kp2, kp3, km2, km3) = (
                    kblock(pp, lev, 2.0),
                    kblock(pp, lev, 3.0),
                    kblock(pp, lev, -2.0),
                    kblock(pp, lev, -3.0),
                );
                let z = vec![0.0; q * q];
                am1.extend(pair(q, [&kp2, &z, &kp3, &kp2]));
                ap1.extend(pair(q, [&km2, &km3, &z, &km2]));
            }
            apair.push((am1, ap1));
        }
        // ρ_p = sin(πp/P) e^{-iπp/P} / M; F^[q, p] = ω_P^{qp mod P} (1 if p = 0 else -ρ_p).
        let rho: Vec<Complex64> = (0..p)
            .map(|pp| {
                let t = PI * pp as f64 / p as f64;
                Complex64::new(t.cos(), -t.sin()) * (t.sin() / m as f64)
            })
            .collect();
        let mut comb = vec![0.0; 4 * p * p];
        let mut wc = vec![Complex64::new(0.0, 0.0); p * (p - 1)];
        for qq in 0..p {
            for pp in 0..p {
                let w = twiddle((qq * pp) as u64, p as u64);
                let f = if pp == 0 { w } else { -w * rho[pp] };
                let at = |row: usize, col: usize| row + col * 2 * p;
                comb[at(2 * pp, 2 * qq)] = f.re;
                comb[at(2 * pp + 1, 2 * qq)] = -f.im;
                comb[at(2 * pp, 2 * qq + 1)] = f.im;
                comb[at(2 * pp + 1, 2 * qq + 1)] = f.re;
                if pp > 0 {
                    wc[qq * (p - 1) + pp - 1] = w * rho[pp] * Complex64::new(0.0, 1.0);
                }
            }
        }
        let ops64 = Ops {
            s2m,
            m2m,
            s2t,
            k2,
            apair,
            comb,
        };
        let ops32 = Arc::new(
            ops64
                .map(|v| Ok::<_, std::convert::Infallible>(v.iter().map(|&x| x as f32).collect::<Vec<f32>>()))
                .unwrap_or_else(|e| match e {}),
        );
        let ops64 = Arc::new(ops64);
        // The FFT lengths of the transforms: M (the FMM's final FFTs) and, where the six-step
        // baseline factors N, its N1 and N2.
        let mut lens = vec![m];
        if let Ok((n1, n2)) = factor(n, g) {
            lens.extend([n1, n2]);
        }
        let mut ffts = Ffts::default();
        for len in lens {
            match spec.precision {
                Precision::F64 => ffts.add::<f64>(len),
                Precision::F32 => ffts.add::<f32>(len),
            }
        }
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Plan {
            ffts: Arc::new(ffts),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            spec: spec.clone(),
            m,
            l,
            la,
            xi,
            ops64,
            ops32,
            rho,
            wc,
        })
    }

    /// The spec this plan was built from.
    pub fn spec(&self) -> &PlanSpec {
        &self.spec
    }

    /// Section length M = N/P.
    pub fn section_len(&self) -> usize {
        self.m
    }

    /// Leaf level L (M = B·2^L).
    pub fn leaf_level(&self) -> usize {
        self.l
    }

    /// The all-gather level ℓ_A = max(2, log2 G).
    pub fn gather_level(&self) -> usize {
        self.la
    }

    /// Boxes per device at level `lev` (>= ℓ_A).
    pub(crate) fn nbox(&self, lev: usize) -> usize {
        (1usize << lev) / self.spec.devices
    }

    /// The closed-form communication volumes of docs/fmm-fft.md §4.2, in bytes summed over all devices:
    /// (all-to-all, halo = leaf + multipole halos, all-gather).
    pub fn expected_bytes(&self) -> Traffic {
        let (n, p, g, q, b) = (
            self.spec.n as u64,
            self.spec.sections as u64,
            self.spec.devices as u64,
            self.spec.order as u64,
            self.spec.leaf as u64,
        );
        let s = self.spec.precision.complex_bytes();
        if g == 1 {
            return Traffic::default();
        }
        let (l, la) = (self.l as u64, self.la as u64);
        Traffic {
            alltoall: g * (g - 1) * n / (g * g) * s,
            halo: g * (p - 1) * (2 * b + 4 * q * (l - la)) * s,
            allgather: g * (g - 1) * ((1u64 << la) / g) * (p - 1) * q * s,
        }
    }
}

/// The factorisation N = N1·N2 the baseline uses: N1 the largest divisor of N not above √N with
/// G | N1 and G | N2.
pub fn factor(n: usize, g: usize) -> Result<(usize, usize), FftError> {
    let mut best = None;
    let mut n1 = 1;
    while n1 * n1 <= n {
        if n.is_multiple_of(n1) && n1.is_multiple_of(g) && (n / n1).is_multiple_of(g) {
            best = Some((n1, n / n1));
        }
        n1 += 1;
    }
    best.ok_or_else(|| {
        FftError::InvalidPlan(format!(
            "six-step needs N = N1*N2 with G = {g} dividing both; N = {n} has none"
        ))
    })
}

/// A 2Q x 2Q column-major block from four Q x Q column-major blocks [[tl, tr], [bl, br]].
fn pair(q: usize, [tl, tr, bl, br]: [&Vec<f64>; 4]) -> Vec<f64> {
    let mut out = vec![0.0; 4 * q * q];
    for c in 0..2 * q {
        for r in 0..2 * q {
            let blk = match (r < q, c < q) {
                (true, true) => tl,
                (true, false) => tr,
                (false, true) => bl,
                (false, false) => br,
            };
            out[c * 2 * q + r] = blk[(c % q) * q + r % q];
        }
    }
    out
}

impl Plan {
    /// The operators in precision `T`.
    pub(crate) fn ops<T: Real>(&self) -> &Arc<Ops<T>> {
        let any: &dyn std::any::Any = match T::PRECISION {
            crate::Precision::F32 => &self.ops32,
            crate::Precision::F64 => &self.ops64,
        };
        any.downcast_ref::<Arc<Ops<T>>>()
            .expect("Real::PRECISION matches the type")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// The worked example of docs/fmm-fft.md §10 (N = 128, P = 4, G = 2, B = 4, Q = 4): operator values.
    #[test]
    fn worked_example_operators() {
        let spec = PlanSpec {
            n: 128,
            sections: 4,
            devices: 2,
            order: 4,
            leaf: 4,
            precision: Precision::F64,
        };
        let p = Plan::new(&spec).unwrap();
        assert_eq!((p.m, p.l, p.la), (32, 3, 2));
        for (a, b) in p.xi.iter().zip([0.923880, 0.382683, -0.382683, -0.923880]) {
            assert!(close(*a, b, 1e-6));
        }
        let (q, b) = (4, 4);
        let s2m_row0: Vec<f64> = (0..b).map(|i| p.ops64.s2m[i * q]).collect();
        let s2m_row1: Vec<f64> = (0..b).map(|i| p.ops64.s2m[i * q + 1]).collect();
        for (x, y) in s2m_row0.iter().zip([0.055369, -0.043297, -0.075422, 0.533019]) {
            assert!(close(*x, y, 1e-6), "{s2m_row0:?}");
        }
        for (x, y) in s2m_row1.iter().zip([-0.197542, 0.193940, 0.924778, 0.609153]) {
            assert!(close(*x, y, 1e-6), "{s2m_row1:?}");
        }
        let m2m_row0: Vec<f64> = (0..2 * q).map(|c| p.ops64.m2m[c * q]).collect();
        for (x, y) in m2m_row0.iter().zip([
            -0.098305, -0.024098, 0.059000, -0.022689, 1.124194, 0.409821, -0.048277, -0.106753,
        ]) {
            assert!(close(*x, y, 1e-6), "{m2m_row0:?}");
        }
        let rho = [
            (0.0, 0.0),
            (0.015625, -0.015625),
            (0.0, -0.03125),
            (-0.015625, -0.015625),
        ];
        for (r, (re, im)) in p.rho.iter().zip(rho) {
            assert!(close(r.re, re, 1e-15) && close(r.im, im, 1e-15), "{:?}", p.rho);
        }
        // S2T^{(1)}_{0} row 0: s' = 0 is index 1 of the three.
        let base = b * b;
        let row0: Vec<f64> = (0..b).map(|j| p.ops64.s2t[base + j * b]).collect();
        for (x, y) in row0.iter().zip([-40.735484, -8.107786, -4.453202, -3.027043]) {
            assert!(close(*x, y, 1e-5), "{row0:?}");
        }
        assert!(close(p.ops64.k2[0], 0.02454862210892542, 1e-14));
        assert!(close(p.ops64.apair[0].0[0], 1.0503328462398602, 1e-13));
    }

    #[test]
    fn lagrange_is_a_partition_of_unity_and_exact_on_polynomials() {
        for q in [4, 8, 16, 24] {
            let xi = chebyshev(q);
            for x in [-1.0, -0.3, 0.0, 0.77, 1.0] {
                let l = lagrange(&xi, x);
                assert!((l.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                // x^(q-1) interpolated exactly
                let v: f64 = l.iter().zip(&xi).map(|(a, n)| a * n.powi(q as i32 - 1)).sum();
                assert!((v - x.powi(q as i32 - 1)).abs() < 1e-10, "q={q} x={x}");
            }
        }
        let spec = PlanSpec {
            n: 4096,
            sections: 4,
            devices: 1,
            order: 12,
            leaf: 16,
            precision: Precision::F64,
        };
        let p = Plan::new(&spec).unwrap();
        // Columns of S2M (Q x B) and M2M (Q x 2Q) sum to 1.
        for col in p.ops64.s2m.chunks(12).chain(p.ops64.m2m.chunks(12)) {
            assert!((col.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    /// C_p = F_M^{-1} D_p F_M equals ρ_p (i − cot(π(j − m − p/P)/M)) (docs/fmm-fft.md §2.2), M = 16, P = 8.
    #[test]
    fn fractional_shift_identity() {
        let (m, pp) = (16usize, 8usize);
        let n = m * pp;
        for p in 1..pp {
            let rho = Complex64::new((PI * p as f64 / pp as f64).cos(), -(PI * p as f64 / pp as f64).sin())
                * ((PI * p as f64 / pp as f64).sin() / m as f64);
            for j in 0..m {
                for mm in 0..m {
                    // (1/M) Σ_κ ω_M^{-jκ} ω_N^{pκ} ω_M^{mκ}
                    let dense: Complex64 = (0..m)
                        .map(|k| {
                            twiddle(
                                ((m - j % m) * k % m * pp + p * k + mm * k * pp) as u64 % n as u64,
                                n as u64,
                            )
                        })
                        .sum::<Complex64>()
                        / m as f64;
                    let t = PI * ((j as f64 - mm as f64) - p as f64 / pp as f64) / m as f64;
                    let closed = rho * Complex64::new(-t.cos() / t.sin(), 1.0);
                    assert!(
                        (dense - closed).norm() < 1e-14,
                        "p={p} j={j} m={mm}: {dense} vs {closed}"
                    );
                }
            }
        }
    }

    #[test]
    fn bad_specs_name_the_rule() {
        let ok = PlanSpec {
            n: 4096,
            sections: 4,
            devices: 2,
            order: 16,
            leaf: 16,
            precision: Precision::F64,
        };
        assert!(ok.check().is_ok());
        let cases: [(PlanSpec, &str); 7] = [
            (
                PlanSpec {
                    devices: 3,
                    ..ok.clone()
                },
                "power of two",
            ),
            (
                PlanSpec {
                    sections: 6,
                    devices: 4,
                    ..ok.clone()
                },
                "divide",
            ),
            (PlanSpec { n: 4098, ..ok.clone() }, "multiple"),
            (PlanSpec { leaf: 24, ..ok.clone() }, "power of two"),
            (PlanSpec { order: 1, ..ok.clone() }, "order"),
            (PlanSpec { n: 64, ..ok.clone() }, "shallow"),
            (
                PlanSpec {
                    sections: 1,
                    devices: 1,
                    ..ok.clone()
                },
                "sections",
            ),
        ];
        for (s, want) in cases {
            let e = s.check().unwrap_err().to_string();
            assert!(e.contains(want), "{s:?}: {e}");
        }
        // Defaults: a valid plan for common sizes.
        for (n, g) in [(1 << 16, 1), (1 << 20, 8), (9216, 2), (1 << 12, 4)] {
            let s = PlanSpec::new(n, g, Precision::F64).unwrap();
            assert!(s.check().is_ok(), "{s:?}");
        }
        assert!(PlanSpec::new(97, 1, Precision::F64).is_err());
    }
}
