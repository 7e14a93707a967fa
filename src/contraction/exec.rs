//! The executor: validates a contraction, plans it, and runs the plan through the backends.

use super::memory::Addrs;
use super::plan::{strides, CostModel};
use super::rules::{normalize, Api, TensorDesc, MAX_MODES, W_EXTENT, W_PTR, W_STRIDE};
use super::spec::parse as parse_spec;
use super::{Plan, PlanKind, Shape, TensorMut, TensorRef};
use crate::error::{Error, Result};
use crate::handle::Handle;
use crate::job::{Entries, Job, Parts};
use crate::scalar::Scalar;
use crate::views::Space;

/// One operand as it reaches the executor: origin pointer, the slice length behind it when known
/// (Rust slices; `None` for raw C pointers), extents and strides.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawTensor<'s, T> {
    pub ptr: *const T,
    pub len: Option<usize>,
    /// Where the memory lives (host slice, device buffer, raw pointer).
    pub space: Space,
    pub desc: TensorDesc<'s>,
}

/// Which candidate to run.
#[derive(Clone, Copy)]
enum Choice<'p> {
    /// The cost model's choice.
    Best,
    /// A plan from [`Handle::einsum_candidates`] for the same shapes.
    Given(&'p Plan),
}

/// Validates, plans and runs one contraction (`c_ptr` is C's origin, also in `c.ptr`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn contract_raw<T: Scalar>(
    h: &Handle,
    api: Api,
    alpha: Option<T>,
    a: RawTensor<'_, T>,
    b: RawTensor<'_, T>,
    beta: Option<T>,
    c: RawTensor<'_, T>,
    c_ptr: *mut T,
) -> Result<()> {
    run(h, api, alpha, a, b, beta, c, c_ptr, Choice::Best)
}

#[allow(clippy::too_many_arguments)]
fn run<T: Scalar>(
    h: &Handle,
    api: Api,
    alpha: Option<T>,
    a: RawTensor<'_, T>,
    b: RawTensor<'_, T>,
    beta: Option<T>,
    c: RawTensor<'_, T>,
    c_ptr: *mut T,
    choice: Choice<'_>,
) -> Result<()> {
    for (t, x) in [a, b, c].iter().enumerate() {
        if let Some(rule) = x.space.mismatch(h.is_cuda()) {
            return Err(api.fail_t(t, W_PTR, rule));
        }
    }
    let (alpha_pos, beta_pos) = api.scalars();
    let alpha = alpha.ok_or_else(|| api.fail(alpha_pos, "alpha", "must not be NULL"))?;
    let mut p = normalize(api, [a.desc, b.desc, c.desc])?;
    let beta = beta.ok_or_else(|| api.fail(beta_pos, "beta", "must not be NULL"))?;
    let r = p.referenced(alpha.is_zero());
    let addrs = Addrs {
        a: a.ptr as usize,
        b: b.ptr as usize,
        c: c.ptr as usize,
        elem: std::mem::size_of::<T>(),
        align: std::mem::align_of::<T>(),
        lens: [a.len, b.len, c.len],
    };
    p.check_memory(api, addrs, r)?;
    if !r.c {
        return Ok(());
    }
    // Nothing is summed when alpha == 0: C = beta*C, A and B unread.
    p.k_empty |= alpha.is_zero();
    let plan = match choice {
        Choice::Best => p.plan(h.cost_model()),
        Choice::Given(want) => p
            .plan_candidates(h.cost_model(), true)
            .into_iter()
            .find(|x| x == want)
            .ok_or_else(|| {
                Error::NotSupported(format!(
                    "{}: the given plan is not a candidate for these shapes",
                    api.name()
                ))
            })?,
    };
    execute(h, &plan, alpha, a.ptr, b.ptr, beta, c_ptr)
}

/// Runs a plan: one validated job per loop iteration.
fn execute<T: Scalar>(h: &Handle, plan: &Plan, alpha: T, a: *const T, b: *const T, beta: T, c: *mut T) -> Result<()> {
    if plan.kind == PlanKind::Empty {
        return Ok(());
    }
    let g = plan.gemm_strides();
    let (m, n, k, batch) = plan.gemm_dims();
    let loops = &plan.loops;
    let mut idx = [0i64; MAX_MODES];
    for _ in 0..plan.calls() {
        let mut off = [0isize; 3];
        let mut first = true;
        for (l, i) in loops.iter().zip(&idx) {
            for (o, s) in off.iter_mut().zip(l.strides) {
                *o += (*i * s) as isize;
            }
            first &= !l.contracted || *i == 0;
        }
        // A job whose addresses are a sub-box of each tensor's validated box: `check_memory`
        // proved every address of the whole tensors representable, C injective over all its
        // modes (so one call's C elements are distinct, and calls of distinct free-loop indices
        // write disjoint elements) and C's span disjoint from A's and B's. Calls that share C
        // elements (contracted loops) run one after the other.
        // SAFETY: as said above: a sub-box of the validated tensors, C's elements distinct
        // within the call and disjoint from A's and B's.
        let job = unsafe {
            Job::assume_valid(Parts {
                m,
                n,
                k,
                alpha,
                beta: if first { beta } else { T::one() },
                a: strides(g.a.0, g.a.1),
                b: strides(g.b.0, g.b.1),
                c: strides(g.c.0, g.c.1),
                entries: Entries::Strided {
                    a: a.wrapping_offset(off[0]),
                    b: b.wrapping_offset(off[1]),
                    c: c.wrapping_offset(off[2]),
                    bs_a: g.a.2 as isize,
                    bs_b: g.b.2 as isize,
                    bs_c: g.c.2 as isize,
                    count: batch,
                },
                tri: None,
            })
        }
        .tidy();
        h.run_job(&job)?;
        // Odometer, innermost (last) loop fastest.
        for l in (0..loops.len()).rev() {
            idx[l] += 1;
            if idx[l] < loops[l].extent {
                break;
            }
            idx[l] = 0;
        }
    }
    Ok(())
}

/// Plans a contraction from shapes alone (`tblas_einsum_explain`, `Handle::*_plan`).
/// `model` is the handle's ([`Handle::cost_model`]).
pub(crate) fn explain_raw(api: Api, descs: [TensorDesc<'_>; 3], all: bool, model: &CostModel) -> Result<Vec<Plan>> {
    let p = normalize(api, descs)?;
    p.check_layout(api)?;
    Ok(if all {
        p.plan_candidates(model, true)
    } else {
        vec![p.plan(model)]
    })
}

/// i64 copies of a shape's extents and strides (in stack buffers).
struct Conv {
    ext: [i64; MAX_MODES],
    st: [i64; MAX_MODES],
    n: usize,
    strided: bool,
}

fn conv(api: Api, t: usize, s: &Shape) -> Result<Conv> {
    let mut c = Conv {
        ext: [0; MAX_MODES],
        st: [0; MAX_MODES],
        n: s.extents().len(),
        strided: s.strides().is_some(),
    };
    if c.n > MAX_MODES {
        return Err(Error::NotSupported(format!(
            "{}: a tensor has {} modes; at most {MAX_MODES} are supported",
            api.name(),
            c.n
        )));
    }
    for (i, &e) in s.extents().iter().enumerate() {
        c.ext[i] = i64::try_from(e).map_err(|_| api.fail_t(t, W_EXTENT, format!("[{i}] = {e} exceeds i64")))?;
    }
    if let Some(st) = s.strides() {
        if st.len() != c.n {
            return Err(api.fail_t(
                t,
                W_STRIDE,
                format!("has {} entries but the shape has {} extents", st.len(), c.n),
            ));
        }
        for (i, &v) in st.iter().enumerate() {
            c.st[i] = i64::try_from(v).map_err(|_| api.fail_t(t, W_STRIDE, format!("[{i}] = {v} exceeds i64")))?;
        }
    }
    Ok(c)
}

impl Conv {
    fn desc<'s>(&'s self, modes: &'s [i32]) -> TensorDesc<'s> {
        TensorDesc {
            modes,
            extents: &self.ext[..self.n],
            strides: self.strided.then(|| &self.st[..self.n]),
        }
    }

    /// The operand at `ptr` (a slice of `len` elements when known) with this shape and `modes`.
    fn raw<'s, T>(&'s self, ptr: *const T, len: Option<usize>, space: Space, modes: &'s [i32]) -> RawTensor<'s, T> {
        RawTensor {
            ptr,
            len,
            space,
            desc: self.desc(modes),
        }
    }
}

impl Handle {
    /// Tensor contraction with integer mode labels, as `tblas_contract`:
    /// `C[modes_c] = alpha * sum A[modes_a] * B[modes_b] + beta * C[modes_c]` (see the
    /// [`contraction`](crate::contraction) module for the rules). Errors name the argument by its
    /// position in `tblas_contract`. C is untouched on any error.
    #[allow(clippy::too_many_arguments)]
    pub fn contract<T: Scalar>(
        &self,
        alpha: T,
        a: &TensorRef<'_, T>,
        modes_a: &[i32],
        b: &TensorRef<'_, T>,
        modes_b: &[i32],
        beta: T,
        c: &mut TensorMut<'_, T>,
        modes_c: &[i32],
    ) -> Result<()> {
        let api = Api::Contract;
        let (ca, cb, cc) = (
            conv(api, 0, &a.shape)?,
            conv(api, 1, &b.shape)?,
            conv(api, 2, &c.shape)?,
        );
        contract_raw(
            self,
            api,
            Some(alpha),
            ca.raw(a.ptr, a.len, a.space, modes_a),
            cb.raw(b.ptr, b.len, b.space, modes_b),
            Some(beta),
            cc.raw(c.ptr, c.len, c.space, modes_c),
            c.ptr,
        )
    }

    /// Tensor contraction from an einsum spec such as `"mk,knp->mnp"` (letters, explicit
    /// output), as `tblas_einsum`. See [`Handle::contract`].
    pub fn einsum<T: Scalar>(
        &self,
        spec: &str,
        alpha: T,
        a: &TensorRef<'_, T>,
        b: &TensorRef<'_, T>,
        beta: T,
        c: &mut TensorMut<'_, T>,
    ) -> Result<()> {
        self.einsum_choice(spec, alpha, a, b, beta, c, Choice::Best)
    }

    /// Like [`Handle::einsum`], but runs `plan`, one of [`Handle::einsum_candidates`] for the
    /// same spec and shapes (for benchmarking the alternatives the cost model weighs).
    #[allow(clippy::too_many_arguments)]
    pub fn einsum_with_plan<T: Scalar>(
        &self,
        spec: &str,
        plan: &Plan,
        alpha: T,
        a: &TensorRef<'_, T>,
        b: &TensorRef<'_, T>,
        beta: T,
        c: &mut TensorMut<'_, T>,
    ) -> Result<()> {
        self.einsum_choice(spec, alpha, a, b, beta, c, Choice::Given(plan))
    }

    #[allow(clippy::too_many_arguments)]
    fn einsum_choice<T: Scalar>(
        &self,
        spec_str: &str,
        alpha: T,
        a: &TensorRef<'_, T>,
        b: &TensorRef<'_, T>,
        beta: T,
        c: &mut TensorMut<'_, T>,
        choice: Choice<'_>,
    ) -> Result<()> {
        let api = Api::Einsum;
        let s = parse_spec(api, spec_str)?;
        let (ca, cb, cc) = (
            conv(api, 0, &a.shape)?,
            conv(api, 1, &b.shape)?,
            conv(api, 2, &c.shape)?,
        );
        run(
            self,
            api,
            Some(alpha),
            ca.raw(a.ptr, a.len, a.space, s.modes(0)),
            cb.raw(b.ptr, b.len, b.space, s.modes(1)),
            Some(beta),
            cc.raw(c.ptr, c.len, c.space, s.modes(2)),
            c.ptr,
            choice,
        )
    }

    /// The plan [`Handle::contract`] would run for these shapes (no data needed).
    #[allow(clippy::too_many_arguments)]
    pub fn contract_plan<T: Scalar>(
        &self,
        a: &Shape,
        modes_a: &[i32],
        b: &Shape,
        modes_b: &[i32],
        c: &Shape,
        modes_c: &[i32],
    ) -> Result<Plan> {
        let api = Api::Contract;
        let (ca, cb, cc) = (conv(api, 0, a)?, conv(api, 1, b)?, conv(api, 2, c)?);
        let mut v = explain_raw(
            api,
            [ca.desc(modes_a), cb.desc(modes_b), cc.desc(modes_c)],
            false,
            self.cost_model(),
        )?;
        Ok(v.swap_remove(0))
    }

    /// The plan [`Handle::einsum`] would run for these shapes (as `tblas_einsum_explain`).
    pub fn einsum_plan<T: Scalar>(&self, spec: &str, a: &Shape, b: &Shape, c: &Shape) -> Result<Plan> {
        let mut v = self.einsum_plans(spec, a, b, c, false)?;
        Ok(v.swap_remove(0))
    }

    /// Every plan the cost model weighed for these shapes, cheapest first (the first is
    /// [`Handle::einsum_plan`]'s).
    pub fn einsum_candidates<T: Scalar>(&self, spec: &str, a: &Shape, b: &Shape, c: &Shape) -> Result<Vec<Plan>> {
        self.einsum_plans(spec, a, b, c, true)
    }

    fn einsum_plans(&self, spec_str: &str, a: &Shape, b: &Shape, c: &Shape, all: bool) -> Result<Vec<Plan>> {
        let api = Api::Explain;
        let s = parse_spec(api, spec_str)?;
        let (ca, cb, cc) = (conv(api, 0, a)?, conv(api, 1, b)?, conv(api, 2, c)?);
        explain_raw(
            api,
            [ca.desc(s.modes(0)), cb.desc(s.modes(1)), cc.desc(s.modes(2))],
            all,
            self.cost_model(),
        )
    }

    /// The cost model this handle's contractions are planned with: [`CostModel::GPU`] (few
    /// large launches) on a CUDA handle, [`CostModel::CPU`] otherwise.
    pub fn cost_model(&self) -> &'static CostModel {
        if self.is_cuda() {
            &CostModel::GPU
        } else {
            &CostModel::CPU
        }
    }
}
