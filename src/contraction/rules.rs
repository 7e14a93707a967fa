//! The contraction layer's argument rules: which arguments a call has and where (`Api`), the
//! tensor descriptors, and `normalize`, which checks every mode and extent and classifies the
//! modes (batch, free in A or B, contracted) into a `Problem`.
//!
//! Pure: nothing here touches tensor data or calls a backend; addresses are plain integers.
#![forbid(unsafe_code)]

use crate::error::{Error, Result};
use crate::layout::Dim;

/// Most modes one tensor may have, and most distinct modes in one contraction.
pub const MAX_MODES: usize = 32;

/// Tensor indices into the `[A, B, C]` arrays.
pub(super) const TA: usize = 0;
pub(super) const TB: usize = 1;
pub(super) const TC: usize = 2;
pub(super) const NAMES: [char; 3] = ['A', 'B', 'C'];

/// Which entry point a call came through: it fixes function name and argument positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    /// `tblas_contract` (modes as int32 labels).
    Contract,
    /// `tblas_einsum` (modes from the spec string).
    Einsum,
    /// `tblas_einsum_explain` (no data pointers, no scalars).
    Explain,
}

/// Argument positions of one tensor operand (0 = not an argument of this function).
#[derive(Clone, Copy, Debug)]
struct TensorPos {
    ptr: i32,
    nmode: i32,
    modes: i32,
    extent: i32,
    stride: i32,
}

/// Argument names of the three tensors, as `docs/contraction.md` spells them.
const ARG: [[&str; 5]; 3] = [
    ["A", "nmode_a", "modes_a", "extent_a", "stride_a"],
    ["B", "nmode_b", "modes_b", "extent_b", "stride_b"],
    ["C", "nmode_c", "modes_c", "extent_c", "stride_c"],
];

impl Api {
    /// The C function name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Api::Contract => "tblas_contract",
            Api::Einsum => "tblas_einsum",
            Api::Explain => "tblas_einsum_explain",
        }
    }

    fn tensor(self, t: usize) -> TensorPos {
        let t = t as i32;
        match self {
            // h, type, alpha, (A, nmode_a, modes_a, extent_a, stride_a), (B ...), beta, (C ...)
            Api::Contract => {
                let base = [4, 9, 15][t as usize];
                TensorPos {
                    ptr: base,
                    nmode: base + 1,
                    modes: base + 2,
                    extent: base + 3,
                    stride: base + 4,
                }
            }
            // h, type, spec, alpha, (A, extent_a, stride_a), (B ...), beta, (C ...)
            Api::Einsum => {
                let base = [5, 8, 12][t as usize];
                TensorPos {
                    ptr: base,
                    nmode: 3,
                    modes: 3,
                    extent: base + 1,
                    stride: base + 2,
                }
            }
            // h, type, spec, extent_a, stride_a, extent_b, stride_b, extent_c, stride_c, buf, len
            Api::Explain => TensorPos {
                ptr: 0,
                nmode: 3,
                modes: 3,
                extent: 4 + 2 * t,
                stride: 5 + 2 * t,
            },
        }
    }

    /// Positions of alpha and beta.
    pub(crate) fn scalars(self) -> (i32, i32) {
        match self {
            Api::Contract => (3, 14),
            Api::Einsum => (4, 11),
            Api::Explain => (0, 0),
        }
    }

    pub(crate) fn fail(self, pos: i32, name: &'static str, rule: impl std::fmt::Display) -> Error {
        Error::invalid(self.name(), pos, name, rule)
    }

    /// Position and name of argument `which` (`W_PTR` .. `W_STRIDE`) of tensor `t` (0 = A, 1 = B,
    /// 2 = C) in this function (position 0: not an argument of it).
    pub(crate) fn arg(self, t: usize, which: usize) -> (i32, &'static str) {
        let p = self.tensor(t);
        let pos = [p.ptr, p.nmode, p.modes, p.extent, p.stride][which];
        // With einsum the modes come from the spec.
        (pos, if pos == 3 { "spec" } else { ARG[t][which] })
    }

    /// An invalid-argument error at argument `which` of tensor `t`.
    pub(crate) fn fail_t(self, t: usize, which: usize, rule: impl std::fmt::Display) -> Error {
        let (pos, name) = self.arg(t, which);
        self.fail(pos, name, rule)
    }
}

/// The arguments of one tensor, for [`Api::arg`] / [`Api::fail_t`].
pub(crate) const W_PTR: usize = 0;
pub(crate) const W_NMODE: usize = 1;
pub(crate) const W_MODES: usize = 2;
pub(crate) const W_EXTENT: usize = 3;
pub(crate) const W_STRIDE: usize = 4;

/// One tensor as described by the caller: labels, extents and strides in elements (`None` =
/// packed column-major, first mode fastest).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TensorDesc<'s> {
    pub modes: &'s [i32],
    pub extents: &'s [i64],
    pub strides: Option<&'s [i64]>,
}

/// One distinct mode of a contraction after normalisation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mode {
    pub label: i32,
    pub extent: i64,
    /// Stride in A, B, C (0 where the mode is absent).
    pub s: [i64; 3],
    /// Which tensors hold it (bit t = tensor t).
    pub present: u8,
}

/// Role of a mode, from the tensors it appears in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Cat {
    /// In A and C: a row index of the GEMM.
    FreeA = 0,
    /// In B and C: a column index.
    FreeB = 1,
    /// In A and B (or one input only): summed.
    Contracted = 2,
    /// In A, B and C: a batch (Hadamard) index.
    Batch = 3,
}

impl Mode {
    pub(super) fn cat(&self) -> Cat {
        let c = self.present & 4 != 0;
        let (a, b) = (self.present & 1 != 0, self.present & 2 != 0);
        match (a, b, c) {
            (true, true, true) => Cat::Batch,
            (true, false, true) => Cat::FreeA,
            (false, true, true) => Cat::FreeB,
            _ => Cat::Contracted,
        }
    }
}

/// A contraction after the argument rules: its distinct modes with strides, ready to plan.
#[derive(Clone, Debug)]
pub(crate) struct Problem {
    /// Modes of extent > 1 (extent-1 modes address one element and are dropped).
    modes: [Mode; MAX_MODES],
    len: usize,
    /// Some extent of C is 0: nothing to compute.
    pub c_empty: bool,
    /// Some summed extent is 0 (or alpha is 0): C = beta*C, A and B are not read.
    pub k_empty: bool,
    /// Every input extent is > 0 (A and B are read when C is non-empty and alpha != 0).
    pub inputs_nonempty: bool,
    /// All labels print as letters.
    pub(super) letters: bool,
    /// Per tensor, the dims `(extent, stride)` it addresses (repeated labels merged).
    pub(super) dims: [[Dim; MAX_MODES]; 3],
    pub(super) ndims: [usize; 3],
}

impl Problem {
    pub(super) fn modes(&self) -> &[Mode] {
        &self.modes[..self.len]
    }

    /// The `(extent, stride)` dims tensor `t` addresses.
    pub(crate) fn dims(&self, t: usize) -> &[Dim] {
        &self.dims[t][..self.ndims[t]]
    }
}

/// Applies the argument rules of `docs/contraction.md` to three tensor descriptions.
///
/// Checked in this order: each tensor's own arguments (count, labels, non-negative extents and
/// strides) in argument order, then the rules across tensors (one extent per mode, no output-only
/// mode, no repeated output mode). Labels repeated inside an input take the diagonal, as
/// numpy's `"ii->i"` does: the strides add up.
pub(crate) fn normalize(api: Api, t: [TensorDesc<'_>; 3]) -> Result<Problem> {
    let mut all = [Mode::default(); MAX_MODES];
    let mut n_all = 0usize;
    let mut letters = true;
    let mut p = Problem {
        modes: [Mode::default(); MAX_MODES],
        len: 0,
        c_empty: false,
        k_empty: false,
        inputs_nonempty: true,
        letters: true,
        dims: [[Dim::new(0, 0); MAX_MODES]; 3],
        ndims: [0; 3],
    };
    for (ti, d) in t.iter().enumerate() {
        let n = d.modes.len();
        if n > MAX_MODES {
            return Err(Error::NotSupported(format!(
                "{}: {} has {n} modes; at most {MAX_MODES} are supported",
                api.name(),
                NAMES[ti]
            )));
        }
        if d.extents.len() != n {
            return Err(api.fail_t(
                ti,
                W_EXTENT,
                format!("has {} entries but {} has {n} modes", d.extents.len(), NAMES[ti]),
            ));
        }
        if let Some(s) = d.strides {
            if s.len() != n {
                return Err(api.fail_t(
                    ti,
                    W_STRIDE,
                    format!("has {} entries but {} has {n} modes", s.len(), NAMES[ti]),
                ));
            }
        }
        let arg = ARG[ti];
        let mut packed = 1i64;
        // Positions within this tensor of each label seen so far (for repeats).
        for i in 0..n {
            let (label, e) = (d.modes[i], d.extents[i]);
            if e < 0 {
                return Err(api.fail_t(ti, W_EXTENT, format!("{}[{i}] must be >= 0, got {e}", arg[3])));
            }
            let s = match d.strides {
                Some(s) => {
                    if s[i] < 0 {
                        return Err(api.fail_t(ti, W_STRIDE, format!("{}[{i}] must be >= 0, got {}", arg[4], s[i])));
                    }
                    s[i]
                }
                None => {
                    let s = packed;
                    packed = packed.checked_mul(e.max(1)).ok_or_else(|| {
                        api.fail_t(
                            ti,
                            W_EXTENT,
                            format!("the packed size of {} overflows 64 bits", NAMES[ti]),
                        )
                    })?;
                    s
                }
            };
            letters &= label >= 0 && (label as u8 as i32 == label) && (label as u8).is_ascii_alphabetic();
            let bit = 1u8 << ti;
            match all[..n_all].iter_mut().find(|m| m.label == label) {
                Some(m) => {
                    if m.present & bit != 0 {
                        // Repeated inside this tensor.
                        if ti == TC {
                            return Err(api.fail_t(
                                ti,
                                W_MODES,
                                format!(
                                    "mode {} appears twice in C; output modes must be distinct",
                                    show(label, letters)
                                ),
                            ));
                        }
                        if m.extent != e {
                            return Err(api.fail_t(
                                ti,
                                W_EXTENT,
                                format!(
                                    "{}[{i}] = {e} differs from {} = {} of the repeated mode {}",
                                    arg[3],
                                    "its first occurrence",
                                    m.extent,
                                    show(label, letters)
                                ),
                            ));
                        }
                        m.s[ti] = m.s[ti].checked_add(s).ok_or_else(|| {
                            api.fail_t(ti, W_STRIDE, "sums of strides of a repeated mode overflow 64 bits")
                        })?;
                    } else {
                        if m.extent != e {
                            let first = (0..3).find(|&u| m.present & (1 << u) != 0).unwrap_or(0);
                            return Err(api.fail_t(
                                ti,
                                W_EXTENT,
                                format!(
                                    "{}[{i}] = {e}, but mode {} has extent {} in {}; a mode's extent must agree everywhere",
                                    arg[3],
                                    show(label, letters),
                                    m.extent,
                                    NAMES[first]
                                ),
                            ));
                        }
                        m.present |= bit;
                        m.s[ti] = s;
                    }
                }
                None => {
                    if ti == TC {
                        return Err(api.fail_t(
                            ti,
                            W_MODES,
                            format!(
                                "mode {} appears only in C; every output mode must appear in A or B",
                                show(label, letters)
                            ),
                        ));
                    }
                    if n_all == MAX_MODES {
                        return Err(Error::NotSupported(format!(
                            "{}: more than {MAX_MODES} distinct modes",
                            api.name()
                        )));
                    }
                    let mut st = [0i64; 3];
                    st[ti] = s;
                    all[n_all] = Mode {
                        label,
                        extent: e,
                        s: st,
                        present: bit,
                    };
                    n_all += 1;
                }
            }
        }
    }
    p.letters = letters;
    for m in &all[..n_all] {
        for ti in 0..3 {
            if m.present & (1 << ti) != 0 {
                p.dims[ti][p.ndims[ti]] = Dim::new(m.extent, m.s[ti]);
                p.ndims[ti] += 1;
            }
        }
        let in_c = m.present & 4 != 0;
        if m.extent == 0 {
            p.inputs_nonempty = false;
            if in_c {
                p.c_empty = true;
            } else {
                p.k_empty = true;
            }
        }
        if m.extent > 1 {
            p.modes[p.len] = *m;
            p.len += 1;
        }
    }
    Ok(p)
}

/// A label for messages: `'k'` for letters, else the number.
fn show(label: i32, letters: bool) -> String {
    if letters {
        format!("'{}'", label as u8 as char)
    } else {
        label.to_string()
    }
}
