//! The pure contraction planner: the cost model and the choice of one GEMM-family call (plus
//! loops) that evaluates a normalized contraction on the operands' own memory.
//!
//! Nothing here touches tensor data or calls a backend; addresses are plain integers.
#![forbid(unsafe_code)]

use super::rules::*;
use super::{Group, Plan, PlanKind};
use crate::job::{blas_operand, Strides};

// ---------------------------------------------------------------------------------------------
// Planning.

/// The planner's cost model: predicted time of a plan, in nanoseconds.
///
/// `time = calls*call_ns + entries*entry_ns + flops / rate`, with
/// `rate = peak * f(m) f(n) f(k) * penalties`, `f(x) = x / (x + half)`: small matrix dimensions
/// run below peak, so a bigger fused dimension is worth at least as much as a batch, and loops
/// (one call each) are the last resort. Penalties: `general` per operand with unit stride in
/// neither matrix dimension (vendor BLAS cannot take it, our kernels gather or pack it; strong
/// enough that a BLAS-legal plan always wins over a general-stride one of similar shape) and
/// `interleaved` for C batches closer than C's column stride (neighbouring entries share cache
/// lines).
///
/// Measured on the project machine (`tensorblas-bench contract --candidates --overhead`,
/// `benches/results/contract-cpu-zen5.md`, f32/f64, t = 16..128): one call through the
/// contraction layer costs about a microsecond of validation, planning and dispatch; flattening
/// was level with or faster than batching over the last mode in almost every case, and the
/// model's choice was within 5% of the fastest candidate in 271 of 288 (case, type, size)
/// triples (the exceptions: at t = 64-128 f32, case 1.1 ran fastest batched over its middle
/// mode, up to 1.9x, contrary to the original study's CPU finding).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostModel {
    /// Fixed cost of one GEMM-family call (dispatch, thread wake-up), ns.
    pub call_ns: f64,
    /// Cost per batch entry, ns.
    pub entry_ns: f64,
    /// Peak rate, flops per ns.
    pub peak: f64,
    /// Matrix dimension at which a kernel reaches half its peak.
    pub half: f64,
    /// Rate factor for a general-stride operand.
    pub general: f64,
    /// Rate factor for interleaved C batches.
    pub interleaved: f64,
}

impl CostModel {
    /// The model for the CPU backends.
    pub const CPU: CostModel = CostModel {
        call_ns: 1000.0,
        entry_ns: 20.0,
        peak: 100.0,
        half: 8.0,
        general: 0.5,
        interleaved: 0.85,
    };

    /// The model for CUDA handles: few large launches. A call costs a kernel launch plus the
    /// host-side validation and dispatch (about 8 µs), batch entries run in parallel (0.05 ns
    /// each), the device's rate is about 500× a CPU's (50 TFLOP/s) and needs larger matrices to
    /// reach it (half at 32); the general-stride kernel runs at about a third of cuBLAS. So a
    /// single batched launch, even on the general-stride kernel, beats a loop of BLAS-legal
    /// launches unless the matrices are very large. Not yet calibrated on a GPU (none has been
    /// lent to this project): `tensorblas-bench gpu`'s contraction rows are what would set it.
    pub const GPU: CostModel = CostModel {
        call_ns: 8000.0,
        entry_ns: 0.05,
        peak: 50_000.0,
        half: 32.0,
        general: 0.33,
        interleaved: 0.9,
    };
}

/// Chains: contiguous runs of `order` (mode indices), each a fusable group of one category.
#[derive(Clone, Copy)]
struct Chain {
    start: u8,
    len: u8,
    cat: Cat,
}

/// A candidate: which chain plays m, n, k and batch (u8::MAX = none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Roles {
    m: u8,
    n: u8,
    k: u8,
    batch: u8,
}

const NONE: u8 = u8::MAX;

/// Extent and strides of a group of modes fused into one index.
#[derive(Clone, Copy, Debug, Default)]
struct Fused {
    extent: i64,
    s: [i64; 3],
}

impl Problem {
    /// Mode indices sorted into categories, fusable neighbours adjacent, and the chains.
    fn chains(&self, order: &mut [u8; MAX_MODES], chains: &mut [Chain; MAX_MODES]) -> usize {
        let ms = self.modes();
        for (i, o) in order.iter_mut().enumerate().take(ms.len()) {
            *o = i as u8;
        }
        let key = |i: u8| {
            let m = &ms[i as usize];
            (m.cat(), m.s[TC], m.s[TA], m.s[TB])
        };
        order[..ms.len()].sort_unstable_by_key(|&i| key(i));
        let mut nc = 0usize;
        let mut i = 0usize;
        while i < ms.len() {
            let cat = ms[order[i] as usize].cat();
            let start = i;
            i += 1;
            while i < ms.len() {
                let (x, y) = (&ms[order[i - 1] as usize], &ms[order[i] as usize]);
                if y.cat() != cat || !(0..3).all(|t| y.s[t] == x.extent.saturating_mul(x.s[t])) {
                    break;
                }
                i += 1;
            }
            chains[nc] = Chain {
                start: start as u8,
                len: (i - start) as u8,
                cat,
            };
            nc += 1;
        }
        nc
    }

    fn fuse(&self, order: &[u8], c: Option<&Chain>) -> Fused {
        match c {
            None => Fused { extent: 1, s: [0; 3] },
            Some(c) => {
                let ms = self.modes();
                let first = &ms[order[c.start as usize] as usize];
                let extent = order[c.start as usize..(c.start + c.len) as usize]
                    .iter()
                    .map(|&i| ms[i as usize].extent)
                    // Saturating: `explain` plans extents no memory bounds (no data is given).
                    .fold(1i64, |acc, e| acc.saturating_mul(e));
                Fused { extent, s: first.s }
            }
        }
    }

    /// The plan the cost model prefers.
    pub(crate) fn plan(&self, model: &CostModel) -> Plan {
        self.plan_candidates(model, false).swap_remove(0)
    }

    /// Every candidate plan (one per chain split and role assignment), cheapest first when
    /// `all`, else only the cheapest.
    pub(crate) fn plan_candidates(&self, model: &CostModel, all: bool) -> Vec<Plan> {
        if self.c_empty {
            return vec![Plan::empty(self.letters)];
        }
        let mut order = [0u8; MAX_MODES];
        let mut chains = [Chain {
            start: 0,
            len: 0,
            cat: Cat::Batch,
        }; MAX_MODES];
        let nc = self.chains(&mut order, &mut chains);
        let mut found: Vec<(f64, [Chain; MAX_MODES], usize, Roles)> = Vec::new();
        let mut best: Option<(f64, [Chain; MAX_MODES], usize, Roles)> = None;
        // Split configurations: none, or one free/batch chain cut in two at one point.
        let mut splits: Vec<(usize, u8)> = vec![(usize::MAX, 0)];
        for (ci, c) in chains[..nc].iter().enumerate() {
            if c.cat != Cat::Contracted {
                for q in 1..c.len {
                    splits.push((ci, q));
                }
            }
        }
        for &(ci, q) in &splits {
            let mut cs = chains;
            let mut n = nc;
            if ci != usize::MAX {
                let c = cs[ci];
                cs[ci].len = q;
                cs[n] = Chain {
                    start: c.start + q,
                    len: c.len - q,
                    cat: c.cat,
                };
                n += 1;
            }
            self.each_roles(&cs[..n], |roles| {
                let cost = self.cost(model, &order, &cs[..n], roles);
                if all {
                    found.push((cost, cs, n, roles));
                } else if best.as_ref().is_none_or(|b| cost < b.0) {
                    best = Some((cost, cs, n, roles));
                }
            });
        }
        if !all {
            found.extend(best);
        }
        found.sort_by(|x, y| x.0.total_cmp(&y.0));
        found
            .iter()
            .map(|(cost, cs, n, roles)| self.build(&order, &cs[..*n], *roles, *cost))
            .collect()
    }

    /// Calls `f` for every role assignment: m, n, k each take a chain of their category when
    /// one exists; the batch takes one of the remaining free or batch chains when one exists.
    fn each_roles(&self, cs: &[Chain], mut f: impl FnMut(Roles)) {
        let pick = |cat: Cat| -> Vec<u8> {
            let v: Vec<u8> = (0..cs.len() as u8).filter(|&i| cs[i as usize].cat == cat).collect();
            if v.is_empty() {
                vec![NONE]
            } else {
                v
            }
        };
        let (ms, ns, ks) = (pick(Cat::FreeA), pick(Cat::FreeB), pick(Cat::Contracted));
        for &m in &ms {
            for &n in &ns {
                for &k in &ks {
                    let mut any = false;
                    for b in 0..cs.len() as u8 {
                        if b != m && b != n && cs[b as usize].cat != Cat::Contracted {
                            any = true;
                            f(Roles { m, n, k, batch: b });
                        }
                    }
                    if !any {
                        f(Roles { m, n, k, batch: NONE });
                    }
                }
            }
        }
    }

    fn get(cs: &[Chain], i: u8) -> Option<&Chain> {
        (i != NONE).then(|| &cs[i as usize])
    }

    fn cost(&self, model: &CostModel, order: &[u8], cs: &[Chain], r: Roles) -> f64 {
        let (m, n, k, b) = (
            self.fuse(order, Self::get(cs, r.m)),
            self.fuse(order, Self::get(cs, r.n)),
            self.fuse(order, Self::get(cs, r.k)),
            self.fuse(order, Self::get(cs, r.batch)),
        );
        let mut calls = 1f64;
        for (i, c) in cs.iter().enumerate() {
            let i = i as u8;
            if i != r.m && i != r.n && i != r.k && i != r.batch {
                calls *= self.fuse(order, Some(c)).extent as f64;
            }
        }
        let k_ext = if self.k_empty { 0 } else { k.extent };
        let (mf, nf, kf) = (m.extent as f64, n.extent as f64, k_ext as f64);
        let entries = calls * b.extent as f64;
        let flops = 2.0 * mf * nf * kf * entries;
        let f = |x: f64| x / (x + model.half);
        let mut rate = model.peak * f(mf) * f(nf) * f(kf.max(1.0));
        let g = gemm_strides(&m, &n, &k, &b);
        let (ok_a, ok_b, ok_c) = legal_parts(&g, m.extent, n.extent, k.extent);
        for ok in [ok_a, ok_b, ok_c] {
            if !ok {
                rate *= model.general;
            }
        }
        if b.extent > 1 && g.c.2 < g.c.1.max(g.c.0) {
            rate *= model.interleaved;
        }
        calls * model.call_ns + entries * model.entry_ns + flops / rate
    }

    fn build(&self, order: &[u8], cs: &[Chain], r: Roles, cost: f64) -> Plan {
        let ms = self.modes();
        let group = |c: Option<&Chain>, contracted: bool| -> Group {
            let f = self.fuse(order, c);
            Group {
                labels: c.map_or(Vec::new(), |c| {
                    order[c.start as usize..(c.start + c.len) as usize]
                        .iter()
                        .map(|&i| ms[i as usize].label)
                        .collect()
                }),
                extent: f.extent,
                strides: f.s,
                contracted,
            }
        };
        let mut k = group(Self::get(cs, r.k), true);
        if self.k_empty {
            k = Group {
                labels: Vec::new(),
                extent: 0,
                strides: [0; 3],
                contracted: true,
            };
        }
        let (m, n, b) = (
            group(Self::get(cs, r.m), false),
            group(Self::get(cs, r.n), false),
            group(Self::get(cs, r.batch), false),
        );
        let mut loops: Vec<Group> = cs
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                let i = *i as u8;
                i != r.m && i != r.n && i != r.k && i != r.batch
            })
            .filter(|(_, c)| !(self.k_empty && c.cat == Cat::Contracted))
            .map(|(_, c)| group(Some(c), c.cat == Cat::Contracted))
            .collect();
        // Outermost loop first: the largest C stride outside.
        loops.sort_by_key(|g| std::cmp::Reverse((g.strides[TC], g.strides[TA], g.strides[TB])));
        let fm = Fused {
            extent: m.extent,
            s: m.strides,
        };
        let fnn = Fused {
            extent: n.extent,
            s: n.strides,
        };
        let fk = Fused {
            extent: k.extent,
            s: k.strides,
        };
        let fb = Fused {
            extent: b.extent,
            s: b.strides,
        };
        let g = gemm_strides(&fm, &fnn, &fk, &fb);
        let (oa, ob, oc) = legal_parts(&g, m.extent, n.extent, k.extent);
        let legal = oa && ob && oc;
        let kind = if !loops.is_empty() {
            PlanKind::Looped
        } else if !legal {
            PlanKind::GeneralStrided
        } else if b.extent > 1 {
            PlanKind::StridedBatched
        } else {
            PlanKind::Gemm
        };
        Plan {
            kind,
            m,
            n,
            k,
            batch: b,
            loops,
            letters: self.letters,
            legal,
            cost_ns: cost,
        }
    }
}

/// Strides of the GEMM operands `(rs, cs, bs)`: A is `m x k`, B is `k x n`, C is `m x n`; the
/// stride of an extent-1 dimension is chosen to look column-major (it is never used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GemmStrides {
    pub a: (i64, i64, i64),
    pub b: (i64, i64, i64),
    pub c: (i64, i64, i64),
}

fn tidy(rows: i64, cols: i64, rs: i64, cs: i64) -> (i64, i64) {
    match (rows <= 1, cols <= 1) {
        (true, true) => (1, 1),
        (true, false) => {
            if cs == 1 {
                (cols, 1)
            } else {
                (1, cs)
            }
        }
        (false, true) => {
            if rs == 1 {
                (1, rows)
            } else {
                (rs, 1)
            }
        }
        (false, false) => (rs, cs),
    }
}

fn gemm_strides(m: &Fused, n: &Fused, k: &Fused, b: &Fused) -> GemmStrides {
    let a = tidy(m.extent, k.extent, m.s[TA], k.s[TA]);
    let bb = tidy(k.extent, n.extent, k.s[TB], n.s[TB]);
    let c = tidy(m.extent, n.extent, m.s[TC], n.s[TC]);
    let bs = |t: usize| if b.extent > 1 { b.s[t] } else { 0 };
    GemmStrides {
        a: (a.0, a.1, bs(TA)),
        b: (bb.0, bb.1, bs(TB)),
        c: (c.0, c.1, bs(TC)),
    }
}

/// Whether a `rows x cols` operand is BLAS-legal: unit stride in one dimension and the other
/// stride at least the extent of that one.
fn legal(rows: i64, cols: i64, rs: i64, cs: i64) -> bool {
    blas_operand(strides(rs, cs), rows as usize, cols as usize).is_some()
}

/// A GEMM operand's `(rs, cs)` as the job's strides (the planner has no conjugation).
pub(crate) fn strides(rs: i64, cs: i64) -> Strides {
    Strides {
        rs: rs as isize,
        cs: cs as isize,
        conj: false,
    }
}

fn legal_parts(g: &GemmStrides, m: i64, n: i64, k: i64) -> (bool, bool, bool) {
    (
        legal(m, k, g.a.0, g.a.1),
        legal(k, n, g.b.0, g.b.1),
        legal(m, n, g.c.0, g.c.1),
    )
}

impl Plan {
    /// The strides of the plan's one GEMM-family call.
    pub(crate) fn gemm_strides(&self) -> GemmStrides {
        let f = |g: &Group| Fused {
            extent: g.extent,
            s: g.strides,
        };
        gemm_strides(&f(&self.m), &f(&self.n), &f(&self.k), &f(&self.batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contraction::memory::{Addrs, Referenced};

    fn desc<'s>(modes: &'s [i32], ext: &'s [i64], st: Option<&'s [i64]>) -> TensorDesc<'s> {
        TensorDesc {
            modes,
            extents: ext,
            strides: st,
        }
    }

    fn l(s: &str) -> Vec<i32> {
        s.bytes().map(i32::from).collect()
    }

    #[test]
    fn classification_and_flattening() {
        // C_mnp = A_mk B_knp, packed: one flat GEMM m x (n*p) x k.
        let (a, b, c) = (l("mk"), l("knp"), l("mnp"));
        let p = normalize(
            Api::Contract,
            [
                desc(&a, &[4, 3], None),
                desc(&b, &[3, 5, 5], None),
                desc(&c, &[4, 5, 5], None),
            ],
        )
        .unwrap();
        let plan = p.plan(&CostModel::CPU);
        assert_eq!(plan.kind, PlanKind::Gemm, "{plan}");
        assert_eq!((plan.m.extent, plan.n.extent, plan.k.extent), (4, 25, 3));
        let all = p.plan_candidates(&CostModel::CPU, true);
        assert_eq!(all.len(), 3, "flatten, batch over n, batch over p");
        assert!(all.iter().all(|x| x.cost_ns >= plan.cost_ns));
        // Batch over the last mode ranks before batch over the middle one.
        assert_eq!(all[1].batch.labels, l("p"));
        assert_eq!(all[2].batch.labels, l("n"));
    }

    #[test]
    fn the_gpu_model_prefers_fewer_launches() {
        // C_mqnp = A_mkpq B_knpq, m = n = k = 64, p = 4, q = 16: one of p, q is batched, the other
        // looped. The CPU model batches p (C's entries 64 KiB apart, not interleaved) and loops
        // 16 calls; on a GPU a launch costs more than interleaving, so it batches q and loops 4.
        let (a, b, c) = (l("mkpq"), l("knpq"), l("mqnp"));
        let p = normalize(
            Api::Contract,
            [
                desc(&a, &[64, 64, 4, 16], None),
                desc(&b, &[64, 64, 4, 16], None),
                desc(&c, &[64, 16, 64, 4], None),
            ],
        )
        .unwrap();
        let (cpu, gpu) = (p.plan(&CostModel::CPU), p.plan(&CostModel::GPU));
        assert_eq!((cpu.calls(), cpu.batch.labels.clone()), (16, l("p")), "{cpu}");
        assert_eq!((gpu.calls(), gpu.batch.labels.clone()), (4, l("q")), "{gpu}");
        // Both are candidates under either model; each model ranks its own choice first.
        for model in [CostModel::CPU, CostModel::GPU] {
            let all = p.plan_candidates(&model, true);
            assert!(all.iter().any(|x| x.to_string() == cpu.to_string()));
            assert!(all.iter().any(|x| x.to_string() == gpu.to_string()));
        }
    }

    #[test]
    fn rules() {
        let (a, b, c) = (l("mk"), l("kn"), l("mn"));
        // Extent mismatch: reported at extent_b (position 12 of tblas_contract).
        let e = normalize(
            Api::Contract,
            [
                desc(&a, &[2, 3], None),
                desc(&b, &[4, 2], None),
                desc(&c, &[2, 2], None),
            ],
        )
        .unwrap_err();
        assert_eq!(e.position(), 12, "{e}");
        // Output-only mode: modes_c (17).
        let cx = l("mnx");
        let e = normalize(
            Api::Contract,
            [
                desc(&a, &[2, 3], None),
                desc(&b, &[3, 2], None),
                desc(&cx, &[2, 2, 2], None),
            ],
        )
        .unwrap_err();
        assert_eq!(e.position(), 17, "{e}");
        // Repeated output mode.
        let cr = l("mm");
        let e = normalize(
            Api::Einsum,
            [
                desc(&a, &[2, 3], None),
                desc(&b, &[3, 2], None),
                desc(&cr, &[2, 2], None),
            ],
        )
        .unwrap_err();
        assert_eq!(e.position(), 3, "{e}");
        // Negative stride / extent.
        let e = normalize(
            Api::Einsum,
            [
                desc(&a, &[2, -3], None),
                desc(&b, &[3, 2], None),
                desc(&c, &[2, 2], None),
            ],
        )
        .unwrap_err();
        assert_eq!(e.position(), 6, "{e}");
        let e = normalize(
            Api::Einsum,
            [
                desc(&a, &[2, 3], None),
                desc(&b, &[3, 2], Some(&[1, -3])),
                desc(&c, &[2, 2], None),
            ],
        )
        .unwrap_err();
        assert_eq!(e.position(), 10, "{e}");
    }

    #[test]
    fn c_aliasing_is_exact() {
        let (a, b, c) = (l("mk"), l("kn"), l("mn"));
        let mk = |cs: &[i64]| {
            normalize(
                Api::Contract,
                [
                    desc(&a, &[3, 2], None),
                    desc(&b, &[2, 2], None),
                    desc(&c, &[3, 2], Some(cs)),
                ],
            )
            .unwrap()
        };
        let at = Addrs {
            a: 0x1000,
            b: 0x2000,
            c: 0x3000,
            elem: 8,
            align: 8,
            lens: [None; 3],
        };
        let r = Referenced { ab: true, c: true };
        assert!(mk(&[1, 3]).check_memory(Api::Contract, at, r).is_ok());
        assert!(
            mk(&[2, 3]).check_memory(Api::Contract, at, r).is_ok(),
            "interleaved but injective"
        );
        assert_eq!(
            mk(&[1, 2]).check_memory(Api::Contract, at, r).unwrap_err().position(),
            19
        );
        assert_eq!(
            mk(&[1, 0]).check_memory(Api::Contract, at, r).unwrap_err().position(),
            19
        );
        // C overlapping A.
        let at2 = Addrs { c: 0x1008, ..at };
        assert_eq!(
            mk(&[1, 3]).check_memory(Api::Contract, at2, r).unwrap_err().position(),
            15
        );
    }
}
