//! Tucker decomposition by HOOI on tensorblas contractions.
//!
//! `X ≈ [[G; U_1, ..., U_N]] = G ×_1 U_1 ×_2 ... ×_N U_N`, with orthonormal factors `U_n`
//! (`I_n x R_n`) and a core `G` (`R_1 x ... x R_N`), computed by higher-order orthogonal
//! iteration (De Lathauwer, De Moor, Vandewalle 2000) with TensorLy's names and semantics where
//! they exist (`tucker`, `partial_tucker`, `n_iter_max`, `tol`, `init`, `fixed_factors`,
//! `modes`, `rec_errors`).
//!
//! What makes it fast (the algorithm in full: `docs/tucker.md`):
//! - every tensor-times-matrix product and every Gram matrix is **one tensorblas contraction on
//!   the tensor's own memory** — a GEMM or a strided-batched GEMM, never an unfolding copy — for
//!   any input layout (C order, Fortran order, permuted or sliced views);
//! - factor updates from the Gram matrix, not an SVD of the unfolding (`Solver::Svd` is the
//!   option): its leading eigenvectors by subspace iteration started from the previous sweep's
//!   factor (in a sweep on the unfolding itself where that is cheaper than forming the Gram),
//!   with faer's dense symmetric eigensolver as the fallback (`Solver::GramSubspace`, the
//!   default; `Solver::GramEigh` always dense);
//! - **two passes over X per sweep** for any order N (dimension-tree memoisation: the modes are
//!   split in two halves, each half updated from X contracted with the other half's factors),
//!   and the core reused from the last factor update (Tensor Toolbox);
//! - HOSVD init from Grams, or sequentially truncated HOSVD (`Init::StHosvd`).
//!
//! ```
//! use tensorblas::Handle;
//! use tensorblas_tucker::{tucker, Options, TensorView};
//! let h = Handle::new()?;
//! // A rank-(1,1,1) tensor x[i,j,k] = (i+1)(j+1)(k+1), C order.
//! let x: Vec<f64> = (0..24).map(|o| ((o / 12 + 1) * (o / 4 % 3 + 1) * (o % 4 + 1)) as f64).collect();
//! let res = tucker(&h, &TensorView::c_order(&x, &[2, 3, 4])?, &[1, 1, 1], &Options::default())?;
//! assert!(res.rec_errors.last().unwrap() < &1e-7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod eig;
mod group;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod npy;
mod tensor;

pub use eig::singular_values;
pub use tensor::{c_strides, f_strides, Matrix, Tensor, TensorView};

use std::time::Instant;
use tensor::{gram, ttm, ttm_in, Dense, Pool};
use tensorblas::Handle;

/// The real types Tucker runs on: `f32` and `f64`.
pub trait Real: tensorblas::Scalar + PartialOrd {
    /// To f64.
    fn to_f64(self) -> f64;
    /// From f64 (rounded).
    fn from_f64(v: f64) -> Self;
    /// Machine epsilon of the type, as f64.
    const EPSILON: f64;
}

impl Real for f32 {
    const EPSILON: f64 = f32::EPSILON as f64;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Real for f64 {
    const EPSILON: f64 = f64::EPSILON;
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
}

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TuckerError {
    /// A rank list, rank value, mode list or factor does not fit the tensor.
    #[error("{0}")]
    Rank(String),
    /// A shape or stride problem with an input.
    #[error("{0}")]
    Shape(String),
    /// The tensor holds NaN or infinity.
    #[error("the tensor holds a non-finite value (NaN or infinity)")]
    NonFinite,
    /// An option combination TensorLy also rejects (e.g. `fixed_factors` without a factor init).
    #[error("{0}")]
    Options(String),
    /// The eigensolver or SVD did not converge.
    #[error("{0}")]
    Solver(String),
    /// A tensorblas call failed.
    #[error(transparent)]
    Blas(#[from] tensorblas::Error),
}

/// How the factors start.
#[derive(Clone, Debug)]
pub enum Init<T> {
    /// HOSVD: the leading `R_n` left singular vectors of each unfolding `X_(n)`, computed as
    /// eigenvectors of its Gram matrix (TensorLy `'svd'`, Tensor Toolbox `'nvecs'`). When sweeps
    /// follow, the first mode to be updated is left out: HOOI never reads its initial factor
    /// (the result is the same), and its Gram over the whole tensor is not formed.
    Svd,
    /// Sequentially truncated HOSVD (Vannieuwenhoven et al. 2012): each Gram of the already
    /// truncated tensor; cheaper than `Svd`.
    StHosvd,
    /// TensorLy `'random'`: factor entries uniform in [0, 1) (not orthonormal), seeded.
    Random {
        /// Seed.
        seed: u64,
    },
    /// Warm start from factors (`I_n x R_n` each).
    Factors(Vec<Matrix<T>>),
    /// Warm start from a Tucker tensor (its factors; the core is recomputed).
    Tucker(TuckerTensor<T>),
}

/// How a factor is computed from `W_(n)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Solver {
    /// Leading eigenvectors of the Gram matrix `W_(n) W_(n)ᵀ` by faer's dense symmetric
    /// eigensolver (one contraction plus an `I_n x I_n` eigenproblem with all `I_n` vectors).
    GramEigh,
    /// The default: the same Gram matrix, its `R_n` leading eigenvectors by subspace iteration
    /// started from the mode's current factor (a block of `R_n + max(R_n, 8)` vectors,
    /// Rayleigh–Ritz, each Ritz residual down to `1e-12` of the largest eigenvalue), and the
    /// dense solver of [`Solver::GramEigh`] where that does not converge quickly (a small gap
    /// below eigenvalue `R_n`; that mode then stays on the dense solver for the rest of the
    /// call) or where `2 (R_n + max(R_n, 8)) > I_n`. In a sweep, where the unfolding has few
    /// columns (`W_(n)` is `I_n x C`, `8 C b <= I_n C + 4 I_n b` for the block of `b` vectors:
    /// 300³ R20's `300 x 400`), the iteration multiplies by `W_(n)` and `W_(n)ᵀ` instead of
    /// forming the Gram (which is then formed only for the fallback). The HOSVD init starts
    /// from seeded random vectors; the ST-HOSVD init runs the dense solver. Per-sweep errors equal
    /// [`Solver::GramEigh`]'s within 1e-10 on the test fixtures
    /// (`tests/tucker.rs::subspace_solver_matches_the_dense_one`).
    GramSubspace,
    /// Leading left singular vectors of the unfolding `W_(n)` (faer's thin SVD; copies the
    /// unfolding, most accurate for tiny singular value gaps).
    Svd,
}

/// Options (TensorLy defaults).
#[derive(Clone, Debug)]
pub struct Options<T> {
    /// Most sweeps (default 100).
    pub n_iter_max: usize,
    /// TensorLy's stopping rule: stop after sweep `k >= 3` when `|e[k-1] - e[k]| < tol`
    /// (absolute, on the relative error); `0` runs exactly `n_iter_max` sweeps. Default 1e-4.
    pub tol: f64,
    /// Initial factors (default HOSVD).
    pub init: Init<T>,
    /// Factor solver (default Gram + eigensolver).
    pub solver: Solver,
    /// Modes whose factors stay as given by the init (which must then be `Factors` or `Tucker`).
    pub fixed_factors: Vec<usize>,
    /// Order in which the free modes are updated. Default (`None`): ascending modes, TensorLy's
    /// Gauss–Seidel order, so that the per-sweep errors equal TensorLy's on any data.
    /// [`rank_descending_order`] gives the order that applies the smallest rank first in each
    /// pass (a little less work per sweep; different sweep histories on unstructured data).
    pub mode_order: Option<Vec<usize>>,
}

impl<T> Default for Options<T> {
    fn default() -> Self {
        Options {
            n_iter_max: 100,
            tol: 1e-4,
            init: Init::Svd,
            solver: Solver::GramSubspace,
            fixed_factors: Vec::new(),
            mode_order: None,
        }
    }
}

/// The modes of a tensor of `shape` ordered by descending `ranks[m] / shape[m]`, so that the
/// smallest relative rank is applied first in each pass of a sweep (`Options::mode_order`; the
/// CLI's `--mode-order rank`).
pub fn rank_descending_order(shape: &[usize], ranks: &[usize]) -> Vec<usize> {
    let mut f: Vec<usize> = (0..shape.len().min(ranks.len())).collect();
    f.sort_by_key(|&m| std::cmp::Reverse((ranks[m] * 1_000_000) / shape[m].max(1)));
    f
}

/// A Tucker tensor: core and factors.
#[derive(Clone, Debug, PartialEq)]
pub struct TuckerTensor<T> {
    /// The core, shape `R_1 x ... x R_N` (C order); a mode left out of `partial_tucker` keeps
    /// its full extent.
    pub core: Tensor<T>,
    /// One factor per decomposed mode (`I_n x R_n`, orthonormal columns); `partial_tucker`
    /// returns only the factors of its modes.
    pub factors: Vec<Matrix<T>>,
}

/// Seconds spent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timings {
    /// Initialisation (HOSVD etc.).
    pub init: f64,
    /// All sweeps.
    pub sweeps: f64,
    /// The whole call.
    pub total: f64,
    /// Of `sweeps`, by phase: the passes over `X` (the products with the whole tensor, shared
    /// by the updates after them).
    pub passes: f64,
    /// Of `sweeps`: the products that take a pass to each update's `W`, and the core's.
    pub products: f64,
    /// Of `sweeps`: making `W` whole and sharing the new factors over the members
    /// (distributed, waits for the slower member included; next to nothing alone).
    pub exchange: f64,
    /// Of `sweeps`: the factor updates (the leading eigenvectors of each `W`'s Gram).
    pub factors: f64,
}

/// The result of [`tucker`] / [`partial_tucker`].
#[derive(Clone, Debug)]
pub struct TuckerResult<T> {
    /// Core and factors.
    pub tucker: TuckerTensor<T>,
    /// Per sweep, `sqrt(|‖X‖² − ‖G‖²|) / ‖X‖` (TensorLy's `rec_errors`; 0 for an all-zero X).
    pub rec_errors: Vec<f64>,
    /// Sweeps run.
    pub n_iter: usize,
    /// Whether the tolerance stopped the iteration (false with `tol = 0`).
    pub converged: bool,
    /// Timings.
    pub timings: Timings,
}

/// Tucker decomposition of every mode, ranks `ranks[n]` (`1 <= R_n <= I_n`).
pub fn tucker<T: Real>(
    h: &Handle,
    x: &TensorView<'_, T>,
    ranks: &[usize],
    opts: &Options<T>,
) -> Result<TuckerResult<T>, TuckerError> {
    if ranks.len() != x.shape.len() {
        return Err(TuckerError::Rank(format!(
            "{} ranks given for a tensor of order {}",
            ranks.len(),
            x.shape.len()
        )));
    }
    let modes: Vec<usize> = (0..x.shape.len()).collect();
    hooi(h, x, ranks, &modes, opts)
}

/// Tucker decomposition of the listed `modes` only (TensorLy `partial_tucker`): `ranks[i]` is the
/// rank of `modes[i]`; the other modes keep their full extent in the core.
pub fn partial_tucker<T: Real>(
    h: &Handle,
    x: &TensorView<'_, T>,
    ranks: &[usize],
    modes: &[usize],
    opts: &Options<T>,
) -> Result<TuckerResult<T>, TuckerError> {
    if ranks.len() != modes.len() {
        return Err(TuckerError::Rank(format!(
            "{} ranks given for {} modes",
            ranks.len(),
            modes.len()
        )));
    }
    let mut full = x.shape.clone();
    for (i, &m) in modes.iter().enumerate() {
        if m >= x.shape.len() || modes[..i].contains(&m) {
            return Err(TuckerError::Rank(format!(
                "modes {modes:?}: each must be distinct and < {}",
                x.shape.len()
            )));
        }
        full[m] = ranks[i];
    }
    hooi(h, x, &full, modes, opts)
}

/// The tensor's order, which Tucker needs to be at least 2.
fn check_order<T>(x: &TensorView<'_, T>) -> Result<usize, TuckerError> {
    let n = x.shape.len();
    if n < 2 {
        return Err(TuckerError::Shape(format!(
            "Tucker needs a tensor of order >= 2, got {n}"
        )));
    }
    Ok(n)
}

/// The smallest rank `R` whose discarded eigenvalues (`values[R..]`, descending; negative ones,
/// rounding in a Gram matrix, count as 0) sum to at most `budget`; at least 1.
fn rank_for_tail(values: &[f64], budget: f64) -> usize {
    let mut tail = 0.0;
    let mut r = values.len();
    while r > 1 {
        let next = tail + values[r - 1].max(0.0);
        if next > budget {
            break;
        }
        tail = next;
        r -= 1;
    }
    r
}

/// Ranks chosen by a target relative error `eps`: the sequentially truncated HOSVD with
/// TuckerMPI's rule. Mode by mode (0, 1, ..., N-1) the Gram matrix of the partly truncated
/// tensor's unfolding is eigen-decomposed and the smallest rank kept whose discarded
/// eigenvalues sum to at most `eps² ‖X‖² / N`. The squared error of an ST-HOSVD is the sum of
/// the discarded eigenvalues of all modes, so the result has relative error at most `eps`.
/// Returns the ranks and that ST-HOSVD (core and factors); [`tucker`] with these ranks and
/// `Init::Tucker` of it refines it (HOOI never raises the error of its initial factors).
pub fn st_hosvd_for_error<T: Real>(
    h: &Handle,
    x: &TensorView<'_, T>,
    eps: f64,
) -> Result<(Vec<usize>, TuckerTensor<T>), TuckerError> {
    let n = check_order(x)?;
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(TuckerError::Options(format!(
            "target error must be a finite number >= 0, got {eps}"
        )));
    }
    let budget = eps * eps * x.finite_norm2(h.num_threads())? / n as f64;
    let mut ranks = Vec::with_capacity(n);
    let mut factors = Vec::with_capacity(n);
    let mut cur: Option<Dense<T>> = None;
    for m in 0..n {
        let view = cur.as_ref().map_or_else(|| x.clone(), |d| d.view());
        let i = view.shape[m];
        let (values, vectors) = eig::eigh_descending(&gram(h, &view, m)?, i, i)?;
        let r = rank_for_tail(&values, budget);
        let f = Matrix {
            rows: i,
            cols: r,
            data: vectors[..i * r].iter().map(|&v| T::from_f64(v)).collect(),
        };
        let next = ttm(h, &view, &f, m, true)?;
        ranks.push(r);
        factors.push(f);
        cur = Some(next);
    }
    let core = cur.expect("order >= 2");
    Ok((
        ranks,
        TuckerTensor {
            core: Tensor {
                shape: core.shape.clone(),
                data: core.view().to_c_order(),
            },
            factors,
        },
    ))
}

/// `[[G; U_1, ..., U_N]]` as a dense C-order tensor (factors applied to the modes they belong
/// to: all modes, or `modes` for a partial decomposition).
pub fn tucker_to_tensor<T: Real>(h: &Handle, t: &TuckerTensor<T>, modes: &[usize]) -> Result<Tensor<T>, TuckerError> {
    let mut cur: Option<Dense<T>> = None;
    for (f, &m) in t.factors.iter().zip(modes) {
        let next = match &cur {
            None => ttm(h, &t.core.view(), f, m, false)?,
            Some(d) => ttm(h, &d.view(), f, m, false)?,
        };
        cur = Some(next);
    }
    Ok(match cur {
        None => t.core.clone(),
        Some(d) => Tensor {
            shape: d.shape.clone(),
            data: d.view().to_c_order(),
        },
    })
}

/// The explicit relative error `‖X − [[G; U]]‖ / ‖X‖` (0 when both are zero).
pub fn relative_error<T: Real>(
    h: &Handle,
    x: &TensorView<'_, T>,
    t: &TuckerTensor<T>,
    modes: &[usize],
) -> Result<f64, TuckerError> {
    Ok(error_ratio(error_sums(h, x, t, modes)?))
}

/// `[‖X − [[G; U]]‖², ‖X‖²]` of `x` (C order compared with the reconstruction).
fn error_sums<T: Real>(
    h: &Handle,
    x: &TensorView<'_, T>,
    t: &TuckerTensor<T>,
    modes: &[usize],
) -> Result<[f64; 2], TuckerError> {
    let xh = tucker_to_tensor(h, t, modes)?;
    let mut v = [0.0f64; 2];
    for (a, b) in x.to_c_order().iter().zip(&xh.data) {
        let d = a.to_f64() - b.to_f64();
        v[0] += d * d;
        v[1] += a.to_f64() * a.to_f64();
    }
    Ok(v)
}

/// `sqrt(num / den)` of [`error_sums`] (`sqrt(num)` when `den` is 0).
fn error_ratio([num, den]: [f64; 2]) -> f64 {
    if den == 0.0 {
        num.sqrt()
    } else {
        (num / den).sqrt()
    }
}

/// The leading `r` eigenvectors of the `i x i` Gram `s` (column-major, both triangles) for the
/// HOSVD init: with [`Solver::GramSubspace`] by the subspace iteration from seeded random vectors
/// (its converged block kept in `state` for the mode's first sweep; the dense solver where it
/// does not converge, and the init's Gram — the whole tensor's, whose gap may be smaller than
/// its projections' — leaves the sweeps to try it), else by the dense solver.
fn gram_vectors<T: Real>(
    h: &Handle,
    s: &[f64],
    i: usize,
    r: usize,
    solver: Solver,
    state: &mut eig::WarmState,
) -> Result<Vec<f64>, TuckerError> {
    if solver == Solver::GramSubspace && !state.dense {
        let v: Vec<f64> = uniform(0x005E_ED0F_1A17, i * r).into_iter().map(|v| v - 0.5).collect();
        let tol = eig::warm_tol(<T as Real>::EPSILON);
        if let eig::Warm::Vectors(u) =
            eig::leading_eigenvectors_warm(h, eig::Sym::Gram(s), i, r, &v, tol, state, &eig::One)
        {
            return Ok(u);
        }
    }
    eig::leading_eigenvectors(s, i, r)
}

/// Factor from `W`: leading `r` left singular vectors of `W_(mode)`, signs so that each column's
/// largest-magnitude entry is positive (TensorLy's `svd_flip`).
///
/// `warm`: with [`Solver::GramSubspace`], the mode's current factor to start the subspace
/// iteration from (`None`: seeded random vectors, the HOSVD init) and the iteration's state kept
/// across sweeps (its last block, and whether a sweep's update fell back to the dense solver,
/// which the mode then keeps); `None` runs the dense solver.
fn factor<T: Real>(
    h: &Handle,
    w: &TensorView<'_, T>,
    mode: usize,
    r: usize,
    solver: Solver,
    warm: Option<(Option<&Matrix<T>>, &mut eig::WarmState)>,
    members: &dyn eig::Members,
) -> Result<Matrix<T>, TuckerError> {
    let i = w.shape[mode];
    let cols = match solver {
        Solver::GramEigh => {
            let s = gram(h, w, mode)?;
            eig::leading_eigenvectors(&s, i, r)?
        }
        Solver::GramSubspace => match warm {
            // No factor yet (the HOSVD init).
            Some((None, state)) => gram_vectors::<T>(h, &gram(h, w, mode)?, i, r, solver, state)?,
            Some((Some(f), state)) if !state.dense => {
                // A sweep's update: from the mode's current factor (and the block kept).
                let v: Vec<f64> = f.data.iter().map(|v| v.to_f64()).collect();
                // A sweep's update on a W of few columns: the iteration runs on the unfolding
                // itself (`S = W_(m) W_(m)ᵀ` not formed; the Gram only if it falls back), its
                // products split over the members by the unfolding's columns (each member holds
                // the whole W).
                let c = w.shape.iter().product::<usize>() / i.max(1);
                let unfolding = if i > 0 && eig::factor_pays(i, c, eig::warm_block(r)) {
                    tensor::unfolding_f64(w, mode, eig::member_columns(c, members.member()))
                } else {
                    None
                };
                let s = if unfolding.is_none() {
                    gram(h, w, mode)?
                } else {
                    Vec::new()
                };
                let sym = match &unfolding {
                    Some((m, c, transposed)) => eig::Sym::Factor {
                        m,
                        c: *c,
                        transposed: *transposed,
                    },
                    None => eig::Sym::Gram(&s),
                };
                let tol = eig::warm_tol(<T as Real>::EPSILON);
                match eig::leading_eigenvectors_warm(h, sym, i, r, &v, tol, state, members) {
                    eig::Warm::Vectors(u) => u,
                    eig::Warm::Dense => {
                        // A sweep's update that does not converge keeps its mode on the dense
                        // solver.
                        state.dense = true;
                        let s = if unfolding.is_some() { gram(h, w, mode)? } else { s };
                        eig::leading_eigenvectors(&s, i, r)?
                    }
                }
            }
            _ => eig::leading_eigenvectors(&gram(h, w, mode)?, i, r)?,
        },
        Solver::Svd => {
            // The unfolding W_(mode), column-major I x (rest).
            let rest: usize = w
                .shape
                .iter()
                .enumerate()
                .filter(|(d, _)| *d != mode)
                .map(|(_, e)| e)
                .product();
            let mut u = vec![0.0f64; i * rest];
            let mut other: Vec<usize> = (0..w.shape.len()).filter(|&d| d != mode).collect();
            other.reverse();
            let mut col = 0usize;
            let oshape: Vec<usize> = other.iter().map(|&d| w.shape[d]).collect();
            let ostr: Vec<usize> = other.iter().map(|&d| w.strides[d]).collect();
            tensor::for_each_offset(&oshape, &ostr, |o| {
                for row in 0..i {
                    u[row + col * i] = w.data[o + row * w.strides[mode]].to_f64();
                }
                col += 1;
            });
            eig::leading_left_singular_vectors(&u, i, rest, r)?
        }
    };
    Ok(Matrix {
        rows: i,
        cols: r,
        data: cols.into_iter().map(T::from_f64).collect(),
    })
}

/// `X ×_{m in ms} U_mᵀ`, the mode with the largest reduction (`R_m / I_m` smallest) first; among
/// equal reductions the mode with the smaller stride in `x` first. (The product over the mode
/// with the largest stride reads `X` in runs of the other modes' extent, `I_m` runs far apart:
/// at 300³ R20 f64 it takes 31 ms against 15-16 ms for the other two modes,
/// `examples/ttm_probe.rs`; after the first product the tensor is `R/I` as large.)
fn multi_ttm<T: Real>(
    h: &Handle,
    x: &TensorView<'_, T>,
    factors: &[Option<Matrix<T>>],
    ms: &[usize],
) -> Result<Option<Dense<T>>, TuckerError> {
    multi_ttm_in(h, x, factors, ms, &mut Pool::default())
}

/// `multi_ttm` with its intermediates and result in buffers from `pool` (the intermediates go
/// back to it).
fn multi_ttm_in<T: Real>(
    h: &Handle,
    x: &TensorView<'_, T>,
    factors: &[Option<Matrix<T>>],
    ms: &[usize],
    pool: &mut Pool<T>,
) -> Result<Option<Dense<T>>, TuckerError> {
    let mut order: Vec<usize> = ms.to_vec();
    order.sort_by(|&a, &b| {
        let ra = factors[a].as_ref().map_or(1.0, |f| f.cols as f64 / f.rows as f64);
        let rb = factors[b].as_ref().map_or(1.0, |f| f.cols as f64 / f.rows as f64);
        ra.total_cmp(&rb).then(x.strides[a].cmp(&x.strides[b]))
    });
    let mut cur: Option<Dense<T>> = None;
    for m in order {
        let f = factors[m].as_ref().expect("factor of an applied mode");
        let next = match &cur {
            None => ttm_in(h, x, f, m, true, pool)?,
            Some(d) => ttm_in(h, &d.view(), f, m, true, pool)?,
        };
        if let Some(d) = cur.replace(next) {
            pool.put(d.data);
        }
    }
    Ok(cur)
}

fn check_factor<T>(f: &Matrix<T>, mode: usize, dim: usize, r: usize) -> Result<(), TuckerError> {
    if f.rows != dim || f.cols != r {
        return Err(TuckerError::Rank(format!(
            "init factor {mode} is {}x{}, expected {dim}x{r}",
            f.rows, f.cols
        )));
    }
    Ok(())
}

/// Uniform [0, 1) from a seeded SplitMix64.
fn uniform(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E3779B97F4A7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// HOOI over `modes` (each with `ranks[m]`; other modes are left at full size).
fn hooi<T: Real>(
    h: &Handle,
    x: &TensorView<'_, T>,
    ranks: &[usize],
    modes: &[usize],
    opts: &Options<T>,
) -> Result<TuckerResult<T>, TuckerError> {
    check_order(x)?;
    let alone = group::Alone { rows: x.shape[0] };
    hooi_in(h, &alone, x, ranks, modes, opts, &mut [0; 2]).map(|(r, _)| r)
}

/// Rows `r0..r0 + len` of a factor.
fn factor_rows<T: Real>(f: &Matrix<T>, r0: usize, len: usize) -> Matrix<T> {
    if r0 == 0 && len == f.rows {
        return f.clone();
    }
    let mut data = Vec::with_capacity(len * f.cols);
    for j in 0..f.cols {
        data.extend_from_slice(&f.data[r0 + j * f.rows..r0 + len + j * f.rows]);
    }
    Matrix {
        rows: len,
        cols: f.cols,
        data,
    }
}

/// HOOI on the members of `g`: `x` is this member's block of rows of mode 0 (alone, the whole
/// tensor). Every contraction runs on the member's own block, with the block's rows of the
/// mode-0 factor; each `W` a factor is computed from is made whole by `group::combine` (a sum
/// over the members where mode 0 was contracted, a gather of the rows where it was not), and
/// each new factor is member 0's (`Group::share`), so that every member holds the same factors
/// and core. `bytes` receives the payload bytes this member sent during the initialisation and
/// during the sweeps. Also returns the norm² of the whole tensor.
pub(crate) fn hooi_in<T: Real>(
    h: &Handle,
    g: &dyn group::Group<T>,
    x: &TensorView<'_, T>,
    ranks: &[usize],
    modes: &[usize],
    opts: &Options<T>,
    bytes: &mut [u64; 2],
) -> Result<(TuckerResult<T>, f64), TuckerError> {
    let t0 = Instant::now();
    let n = check_order(x)?;
    let (row0, nrows, grows) = g.rows();
    let mut gshape = x.shape.clone();
    gshape[0] = grows;
    let sent0 = g.bytes_sent();
    for &m in modes {
        let (r, i) = (ranks[m], gshape[m]);
        if r == 0 || r > i {
            return Err(TuckerError::Rank(format!(
                "rank {r} of mode {m} must be between 1 and the dimension {i}"
            )));
        }
    }
    for &m in &opts.fixed_factors {
        if !modes.contains(&m) {
            return Err(TuckerError::Options(format!(
                "fixed_factors: mode {m} is not among the decomposed modes {modes:?}"
            )));
        }
    }
    // The norm and the finiteness of the whole tensor (one pass over each block).
    let mut nv = match x.finite_norm2(h.num_threads()) {
        Ok(s) => [s, 0.0],
        Err(_) => [0.0, 1.0],
    };
    g.sum_f64(&mut nv);
    if nv[1] > 0.0 {
        return Err(TuckerError::NonFinite);
    }
    let norm2 = nv[0];

    // Update order of the free modes: ascending (TensorLy's), unless given.
    let mut ascending: Vec<usize> = modes
        .iter()
        .copied()
        .filter(|m| !opts.fixed_factors.contains(m))
        .collect();
    ascending.sort_unstable();
    let free: Vec<usize> = match &opts.mode_order {
        Some(o) => {
            let mut got = o.clone();
            got.sort_unstable();
            if ascending != got {
                return Err(TuckerError::Options(format!(
                    "mode_order {o:?} must list each free mode {ascending:?} once"
                )));
            }
            o.clone()
        }
        None => ascending,
    };
    // The HOSVD init skips the first free mode when a sweep follows: exact HOOI never reads
    // that mode's initial factor (its first update contracts X with the other modes' factors,
    // and the passes before it contract only modes updated after it), so its Gram — a third of
    // the init for three modes, and the distributed one's only exchange of X's columns when it
    // is mode 0 — is not formed; the update starts its eigensolver cold instead of warm.
    let unread = if opts.n_iter_max > 0 {
        free.first().copied()
    } else {
        None
    };
    // Per mode: the warm subspace iteration's state across sweeps (Solver::GramSubspace), seeded
    // by the HOSVD init's solve.
    let mut warm: Vec<eig::WarmState> = (0..n).map(|_| eig::WarmState::default()).collect();
    // Initial factors (None = mode not decomposed).
    let mut factors: Vec<Option<Matrix<T>>> = vec![None; n];
    let given = |fs: &[Matrix<T>], factors: &mut Vec<Option<Matrix<T>>>| -> Result<(), TuckerError> {
        if fs.len() != modes.len() {
            return Err(TuckerError::Rank(format!(
                "init has {} factors for {} decomposed modes",
                fs.len(),
                modes.len()
            )));
        }
        for (f, &m) in fs.iter().zip(modes) {
            check_factor(f, m, gshape[m], ranks[m])?;
            factors[m] = Some(f.clone());
        }
        Ok(())
    };
    match &opts.init {
        Init::Factors(fs) => given(fs, &mut factors)?,
        Init::Tucker(t) => given(&t.factors, &mut factors)?,
        _ if !opts.fixed_factors.is_empty() => {
            return Err(TuckerError::Options(
                "fixed_factors needs an init with factors (Init::Factors or Init::Tucker)".into(),
            ))
        }
        Init::Svd if g.distributed() => {
            if opts.solver == Solver::Svd {
                return Err(TuckerError::Options(
                    "Solver::Svd with Init::Svd needs the whole tensor in one process: use a Gram solver".into(),
                ));
            }
            for &m in modes.iter().filter(|&&m| Some(m) != unread) {
                // The Gram of the whole tensor: across the members' rows for mode 0, else the
                // sum of the members' Grams.
                let s = if m == 0 {
                    g.gram_rows(h, x)?
                } else {
                    let mut s = gram(h, x, m)?;
                    g.sum_f64(&mut s);
                    s
                };
                let v = gram_vectors::<T>(h, &s, gshape[m], ranks[m], opts.solver, &mut warm[m])?;
                let mut f = Matrix {
                    rows: gshape[m],
                    cols: ranks[m],
                    data: v.into_iter().map(T::from_f64).collect(),
                };
                g.share(&mut f.data);
                factors[m] = Some(f);
            }
        }
        Init::Svd => {
            for &m in modes.iter().filter(|&&m| Some(m) != unread) {
                factors[m] = Some(factor(
                    h,
                    x,
                    m,
                    ranks[m],
                    opts.solver,
                    Some((None, &mut warm[m])),
                    &eig::One,
                )?);
            }
        }
        Init::StHosvd if g.distributed() => {
            return Err(TuckerError::Options(
                "Init::StHosvd is not available for a distributed tensor: use Init::Svd, Random or Factors".into(),
            ))
        }
        Init::StHosvd => {
            let mut cur: Option<Dense<T>> = None;
            for &m in modes {
                let f = match &cur {
                    None => factor(h, x, m, ranks[m], opts.solver, None, &eig::One)?,
                    Some(d) => factor(h, &d.view(), m, ranks[m], opts.solver, None, &eig::One)?,
                };
                let next = match &cur {
                    None => ttm(h, x, &f, m, true)?,
                    Some(d) => ttm(h, &d.view(), &f, m, true)?,
                };
                factors[m] = Some(f);
                cur = Some(next);
            }
        }
        Init::Random { seed } => {
            for (k, &m) in modes.iter().enumerate() {
                let (i, r) = (gshape[m], ranks[m]);
                let v = uniform(seed.wrapping_add(k as u64 * 0x1000_0000), i * r);
                factors[m] = Some(Matrix {
                    rows: i,
                    cols: r,
                    data: v.into_iter().map(T::from_f64).collect(),
                });
            }
        }
    }
    let t_init = t0.elapsed().as_secs_f64();
    bytes[0] = g.bytes_sent() - sent0;
    // The factors as this member's block sees them: mode 0 restricted to its rows.
    let local = |m: usize, f: &Matrix<T>| if m == 0 { factor_rows(f, row0, nrows) } else { f.clone() };
    let mut lf: Vec<Option<Matrix<T>>> = factors
        .iter()
        .enumerate()
        .map(|(m, f)| f.as_ref().map(|f| local(m, f)))
        .collect();
    // Whether mode 0 is contracted in the W of a mode m (then W is a partial sum over members).
    let sums_rows = |m: usize| m != 0 && modes.contains(&0);

    let fixed: Vec<usize> = opts.fixed_factors.clone();
    // The pass over X: `P = X` contracted with the fixed factors and those of the `h = ⌊N/2⌋`
    // free modes updated last, kept while none of those modes is updated. Each update `W`
    // contracts `P` with the free modes `P` lacks but its own, whose factors are current. The
    // `N - h` updates after a pass share it, across sweep boundaries: with 3 free modes the
    // passes contract mode 2, then 1, then 0, ..., 1.5 per sweep (two per sweep if each sweep
    // started its own: `X ×_2 U_2` for modes 0 and 1, `X ×_0 U_0 ×_1 U_1` for mode 2).
    let (nf, h_pass) = (free.len(), free.len() / 2);
    let mut pass: Option<(Option<Dense<T>>, Vec<usize>)> = None;
    // The buffers of the sweeps' intermediates, reused from sweep to sweep.
    let mut pool = Pool::default();

    let t1 = Instant::now();
    // Seconds by phase: passes, products, exchange, factors (`Timings`).
    let mut phase = [0.0f64; 4];
    let mut lap = Instant::now();
    let mut mark = |k: usize| {
        let now = Instant::now();
        phase[k] += (now - lap).as_secs_f64();
        lap = now;
    };
    let mut rec_errors = Vec::new();
    let mut converged = false;
    let mut core: Option<Dense<T>> = None;
    for it in 0..opts.n_iter_max {
        for (k, &m) in free.iter().enumerate() {
            if pass.as_ref().is_none_or(|(_, cm)| cm.contains(&m)) {
                // One P at a time: the old one's buffer takes the new one.
                if let Some((Some(old), _)) = pass.take() {
                    pool.put(old.data);
                }
                // The `h` free modes updated last (in the cyclic order, oldest first).
                let recent: Vec<usize> = (1..=h_pass).rev().map(|j| free[(k + nf - j) % nf]).collect();
                let mut outer = recent.clone();
                outer.extend(&fixed);
                mark(1);
                pass = Some((multi_ttm_in(h, x, &lf, &outer, &mut pool)?, recent));
                mark(0);
            }
            let (z, cm) = pass.as_ref().expect("the pass over X");
            let rest: Vec<usize> = free.iter().copied().filter(|&q| q != m && !cm.contains(&q)).collect();
            let w = match z {
                None => multi_ttm_in(h, x, &lf, &rest, &mut pool)?,
                Some(zd) => multi_ttm_in(h, &zd.view(), &lf, &rest, &mut pool)?,
            };
            mark(1);
            // Distributed: W made whole (the same on every member).
            let w = if g.distributed() {
                let d = match (w, z) {
                    (Some(wd), _) => wd,
                    (None, Some(zd)) => zd.clone(),
                    (None, None) => whole_block(x),
                };
                Some(group::combine(g, d, sums_rows(m), &mut pool))
            } else {
                w
            };
            let wv = match (&w, z) {
                (Some(wd), _) => wd.view(),
                (None, Some(zd)) => zd.view(),
                (None, None) => x.clone(),
            };
            // No factor yet: the mode whose init was skipped (`unread`), solved cold.
            let start = factors[m].as_ref();
            mark(2);
            let mut f = factor(
                h,
                &wv,
                m,
                ranks[m],
                opts.solver,
                Some((start, &mut warm[m])),
                g.members(),
            )?;
            mark(3);
            g.share(&mut f.data);
            mark(2);
            // The core from the last update of the sweep: W ×_m U_mᵀ (no extra pass).
            if k + 1 == free.len() {
                core = Some(ttm(h, &wv, &f, m, true)?);
            }
            lf[m] = Some(local(m, &f));
            factors[m] = Some(f);
            if let Some(wd) = w {
                pool.put(wd.data);
            }
        }
        if free.is_empty() {
            core = multi_ttm(h, x, &lf, modes)?.map(|d| group::combine(g, d, modes.contains(&0), &mut pool));
        }
        let g2 = core.as_ref().map_or(norm2, |c| c.view().norm2());
        let err = if norm2 == 0.0 {
            0.0
        } else {
            (norm2 - g2).abs().sqrt() / norm2.sqrt()
        };
        rec_errors.push(err);
        if it >= 2 && opts.tol > 0.0 && (rec_errors[it - 1] - rec_errors[it]).abs() < opts.tol {
            converged = true;
            break;
        }
    }
    let t_sweeps = t1.elapsed().as_secs_f64();
    bytes[1] = g.bytes_sent() - sent0 - bytes[0];
    // No sweep (n_iter_max = 0): the core of the initial factors.
    let core = match core {
        Some(c) => c,
        None => match multi_ttm(h, x, &lf, modes)? {
            Some(d) => group::combine(g, d, modes.contains(&0), &mut pool),
            None => group::combine(g, whole_block(x), false, &mut pool),
        },
    };
    let core = Tensor {
        shape: core.shape.clone(),
        data: core.view().to_c_order(),
    };
    let n_iter = rec_errors.len();
    let res = TuckerResult {
        tucker: TuckerTensor {
            core,
            factors: modes.iter().map(|&m| factors[m].clone().expect("factor")).collect(),
        },
        rec_errors,
        n_iter,
        converged,
        timings: Timings {
            init: t_init,
            sweeps: t_sweeps,
            total: t0.elapsed().as_secs_f64(),
            passes: phase[0],
            products: phase[1],
            exchange: phase[2],
            factors: phase[3],
        },
    };
    Ok((res, norm2))
}

/// A block (or the whole tensor) as an owned C-order tensor.
fn whole_block<T: Real>(x: &TensorView<'_, T>) -> Dense<T> {
    Dense {
        shape: x.shape.clone(),
        strides: c_strides(&x.shape),
        data: x.to_c_order(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Textbook HOOI with the dense solver: each update contracts `X` itself with every other
    /// factor (current values), the core from the last update's `W`.
    fn textbook(
        h: &Handle,
        x: &TensorView<'_, f64>,
        ranks: &[usize],
        init: &[Matrix<f64>],
        fixed: &[usize],
        sweeps: usize,
    ) -> (Vec<f64>, Vec<Matrix<f64>>) {
        let n = x.shape.len();
        let mut lf: Vec<Option<Matrix<f64>>> = init.iter().cloned().map(Some).collect();
        let norm2 = x.norm2();
        let mut errs = Vec::new();
        for _ in 0..sweeps {
            let mut core = None;
            let free: Vec<usize> = (0..n).filter(|m| !fixed.contains(m)).collect();
            for (k, &m) in free.iter().enumerate() {
                let others: Vec<usize> = (0..n).filter(|&q| q != m).collect();
                let w = multi_ttm(h, x, &lf, &others).unwrap().unwrap();
                let f = factor(h, &w.view(), m, ranks[m], Solver::GramEigh, None, &eig::One).unwrap();
                if k + 1 == free.len() {
                    core = Some(ttm(h, &w.view(), &f, m, true).unwrap());
                }
                lf[m] = Some(f);
            }
            let g2 = core.unwrap().view().norm2();
            errs.push((norm2 - g2).abs().sqrt() / norm2.sqrt());
        }
        (errs, lf.into_iter().map(Option::unwrap).collect())
    }

    /// The largest entry-wise difference of two factors (both signed by `svd_flip`).
    fn max_abs_diff(a: &Matrix<f64>, b: &Matrix<f64>) -> f64 {
        a.data
            .iter()
            .zip(&b.data)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f64::max)
    }

    /// The pass over X shared by the updates after it (across sweeps: with 3 free modes a pass
    /// serves the next two updates, whichever sweep they belong to) gives the textbook HOOI's
    /// per-sweep errors and factors, for 1 to 5 free modes, with and without fixed modes.
    #[test]
    fn shared_passes_equal_the_textbook_hooi() {
        let h = Handle::new().unwrap();
        for (shape, ranks, fixed) in [
            (vec![9usize, 8, 7], vec![3usize, 2, 4], vec![]),
            (vec![9, 8, 7], vec![3, 2, 4], vec![1usize]),
            (vec![9, 8, 7], vec![3, 2, 4], vec![0, 2]),
            (vec![7, 6, 5, 4], vec![3, 2, 2, 3], vec![]),
            (vec![7, 6, 5, 4], vec![3, 2, 2, 3], vec![2]),
            (vec![6, 5, 4, 3, 4], vec![2, 3, 2, 2, 3], vec![]),
        ] {
            let len: usize = shape.iter().product();
            // Not of low rank: the updates move the factors for several sweeps.
            let x: Vec<f64> = uniform(11, len).into_iter().map(|v| v - 0.5).collect();
            let xv = TensorView::c_order(&x, &shape).unwrap();
            let init: Vec<Matrix<f64>> = shape
                .iter()
                .zip(&ranks)
                .enumerate()
                .map(|(m, (&i, &r))| {
                    // A random orthonormal start: the leading left singular vectors of a random
                    // i x (r + 2) matrix.
                    let g = uniform(100 + m as u64, i * (r + 2));
                    let gv = TensorView::c_order(&g, &[i, r + 2]).unwrap();
                    factor(&h, &gv, 0, r, Solver::GramEigh, None, &eig::One).unwrap()
                })
                .collect();
            let sweeps = 6;
            let (want_e, want_f) = textbook(&h, &xv, &ranks, &init, &fixed, sweeps);
            let res = tucker(
                &h,
                &xv,
                &ranks,
                &Options {
                    n_iter_max: sweeps,
                    tol: 0.0,
                    init: Init::Factors(init.clone()),
                    solver: Solver::GramEigh,
                    fixed_factors: fixed.clone(),
                    ..Options::default()
                },
            )
            .unwrap();
            assert_eq!(res.rec_errors.len(), sweeps);
            for (s, (a, b)) in res.rec_errors.iter().zip(&want_e).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-12,
                    "{shape:?} fixed {fixed:?} sweep {s}: {a} vs {b}"
                );
            }
            // The errors move (else a stale factor could go unseen).
            assert!(
                want_e[0] - want_e[sweeps - 1] > 1e-6 || fixed.len() + 1 >= shape.len(),
                "{want_e:?}"
            );
            // Entry by entry.
            for (m, (a, b)) in res.tucker.factors.iter().zip(&want_f).enumerate() {
                let d = max_abs_diff(a, b);
                assert!(d <= 1e-9, "{shape:?} fixed {fixed:?} mode {m}: {d:e}");
            }
        }
    }

    /// The HOSVD init skips the first updated mode's Gram when sweeps follow: the result equals
    /// the sweeps from the whole HOSVD init (`n_iter_max = 0` returns it), in the natural order
    /// and in others, for 3 and 4 modes, with the dense and the subspace solver.
    #[test]
    fn svd_init_without_the_first_updated_mode_equals_the_whole_init() {
        let h = Handle::new().unwrap();
        for (shape, ranks, order) in [
            (vec![9usize, 8, 7], vec![3usize, 2, 4], None),
            (vec![9, 8, 7], vec![3, 2, 4], Some(vec![2usize, 0, 1])),
            (vec![7, 6, 5, 4], vec![3, 2, 2, 3], None),
            (vec![7, 6, 5, 4], vec![3, 2, 2, 3], Some(vec![1, 3, 0, 2])),
        ] {
            let len: usize = shape.iter().product();
            let x: Vec<f64> = uniform(23, len).into_iter().map(|v| v - 0.5).collect();
            let xv = TensorView::c_order(&x, &shape).unwrap();
            for solver in [Solver::GramEigh, Solver::GramSubspace] {
                let opts = |n_iter_max, init| Options {
                    n_iter_max,
                    tol: 0.0,
                    init,
                    solver,
                    mode_order: order.clone(),
                    ..Options::default()
                };
                let whole = tucker(&h, &xv, &ranks, &opts(0, Init::Svd)).unwrap();
                assert_eq!(whole.tucker.factors.len(), shape.len());
                let sweeps = 5;
                let want = tucker(&h, &xv, &ranks, &opts(sweeps, Init::Factors(whole.tucker.factors))).unwrap();
                let got = tucker(&h, &xv, &ranks, &opts(sweeps, Init::Svd)).unwrap();
                let tol = if solver == Solver::GramEigh { 1e-12 } else { 1e-10 };
                for (s, (a, b)) in got.rec_errors.iter().zip(&want.rec_errors).enumerate() {
                    assert!(
                        (a - b).abs() <= tol,
                        "{shape:?} {order:?} {solver:?} sweep {s}: {a} vs {b}"
                    );
                }
                assert!(
                    want.rec_errors[0] - want.rec_errors[sweeps - 1] > 1e-6,
                    "{:?}",
                    want.rec_errors
                );
                for (m, (a, b)) in got.tucker.factors.iter().zip(&want.tucker.factors).enumerate() {
                    let d = max_abs_diff(a, b);
                    assert!(d <= 1e3 * tol, "{shape:?} {order:?} {solver:?} mode {m}: {d:e}");
                }
            }
        }
    }
}
