//! Tensor contractions evaluated by the GEMM family on the operands' own memory.
//!
//! `C[modes_c] = alpha * sum over the contracted modes of A[modes_a] * B[modes_b] + beta * C[modes_c]`
//!
//! A mode in A and B but not in C is **contracted** (summed); a mode in A, B and C is a **batch**
//! (Hadamard) mode; a mode in one input and C is **free**; a mode in one input only is summed
//! (as if the other input were broadcast along it). Extents of a mode must agree everywhere. A
//! label repeated inside an input takes the diagonal (numpy's `"ii->i"`); a label repeated in C
//! or present only in C is an error (`InvalidArgument`, at the modes/spec argument).
//!
//! Every tensor is extents plus strides in elements; strides are non-negative (0 = broadcast,
//! allowed for A and B), and packed column-major (first mode fastest) when not given. C must not
//! alias itself, and its address span must not intersect A's or B's.
//!
//! The [planner](Plan) fuses modes that are contiguous in every tensor holding them into the
//! m, n, k and batch dimensions of **one** GEMM-family call; modes that fuse nowhere become
//! loops around that call. No operand is ever copied: layouts BLAS cannot express run as one
//! general-stride batched call (tensorblas' own kernels take any strides).
//!
//! ```
//! use tensorblas::{Handle, Shape, TensorMut, TensorRef};
//! let h = Handle::new()?;
//! // C_mnp = A_mk B_knp, all column-major, m = 2, k = 3, n = 2, p = 2.
//! let a: Vec<f64> = (0..6).map(f64::from).collect();
//! let b: Vec<f64> = (0..12).map(f64::from).collect();
//! let mut c = vec![0.0f64; 8];
//! h.einsum("mk,knp->mnp", 1.0,
//!     &TensorRef::new(&a, Shape::col_major(&[2, 3])),
//!     &TensorRef::new(&b, Shape::col_major(&[3, 2, 2])),
//!     0.0, &mut TensorMut::new(&mut c, Shape::col_major(&[2, 2, 2])))?;
//! // C[1,0,1] = sum_k A[1,k] B[k,0,1] = 1*6 + 3*7 + 5*8
//! assert_eq!(c[1 + 2 * 0 + 4 * 1], 67.0);
//! // The plan: one flattened GEMM, m = 2, n = n*p = 4, k = 3, no copy.
//! let plan = h.einsum_plan::<f64>("mk,knp->mnp", &Shape::col_major(&[2, 3]),
//!     &Shape::col_major(&[3, 2, 2]), &Shape::col_major(&[2, 2, 2]))?;
//! assert_eq!(plan.kind(), tensorblas::PlanKind::Gemm);
//! println!("{plan}");
//! # Ok::<(), tensorblas::Error>(())
//! ```

mod exec;
mod memory;
pub(crate) mod plan;
pub(crate) mod rules;
mod spec;

pub use plan::CostModel;
pub use rules::MAX_MODES;

use std::fmt;

/// What kind of call a [`Plan`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PlanKind {
    /// C has no elements: nothing is read or written.
    Empty,
    /// One GEMM with BLAS-legal operands (unit stride in one dimension of each).
    Gemm,
    /// One strided-batched GEMM with BLAS-legal operands.
    StridedBatched,
    /// One general-stride (`_ex`) batched GEMM: some operand has unit stride in neither matrix
    /// dimension. Still no copy.
    GeneralStrided,
    /// Loops over modes that fuse into no GEMM dimension, around one of the calls above.
    Looped,
}

/// Modes fused into one index of a plan.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Group {
    /// Labels, innermost first (empty: an extent-1 dimension).
    pub labels: Vec<i32>,
    pub extent: i64,
    /// Strides in A, B, C of the fused index.
    pub strides: [i64; 3],
    /// Summed (a contracted loop accumulates into C).
    pub contracted: bool,
}

/// How a contraction is evaluated: one GEMM-family call on the operands' memory, possibly inside
/// loops. Plans are data; `Display` is the one-line explanation (also `tblas_einsum_explain`).
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub(crate) kind: PlanKind,
    pub(crate) m: Group,
    pub(crate) n: Group,
    pub(crate) k: Group,
    pub(crate) batch: Group,
    /// Outermost first.
    pub(crate) loops: Vec<Group>,
    pub(crate) letters: bool,
    pub(crate) legal: bool,
    pub(crate) cost_ns: f64,
}

impl Plan {
    fn empty(letters: bool) -> Plan {
        let g = Group {
            labels: Vec::new(),
            extent: 0,
            strides: [0; 3],
            contracted: false,
        };
        Plan {
            kind: PlanKind::Empty,
            m: g.clone(),
            n: g.clone(),
            k: g.clone(),
            batch: g,
            loops: Vec::new(),
            letters,
            legal: true,
            cost_ns: 0.0,
        }
    }

    /// The kind of call.
    pub fn kind(&self) -> PlanKind {
        self.kind
    }

    /// `(m, n, k, batch_count)` of the inner GEMM-family call (rows from A's free modes,
    /// columns from B's, k from the contracted ones).
    pub fn gemm_dims(&self) -> (usize, usize, usize, usize) {
        let u = |g: &Group| g.extent as usize;
        (u(&self.m), u(&self.n), u(&self.k), u(&self.batch))
    }

    /// Whether the inner call is BLAS-legal (a vendor BLAS could run it as is).
    pub fn is_blas_legal(&self) -> bool {
        self.legal
    }

    /// Number of GEMM-family calls (1 unless looped; 0 when empty).
    pub fn calls(&self) -> usize {
        if self.kind == PlanKind::Empty {
            return 0;
        }
        self.loops
            .iter()
            .fold(1usize, |acc, g| acc.saturating_mul(g.extent as usize))
    }

    /// The cost model's predicted time, in nanoseconds (for comparing candidates).
    pub fn predicted_ns(&self) -> f64 {
        self.cost_ns
    }

    /// Labels of the modes fused into the batch dimension (empty without one).
    pub fn batch_modes(&self) -> &[i32] {
        &self.batch.labels
    }

    fn label(&self, l: i32) -> String {
        if self.letters {
            (l as u8 as char).to_string()
        } else {
            format!("#{l}")
        }
    }

    fn group(&self, g: &Group) -> String {
        let names: String = if g.labels.is_empty() {
            "-".to_string()
        } else {
            g.labels.iter().map(|&l| self.label(l)).collect::<Vec<_>>().join("")
        };
        format!("{names}({})", g.extent)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == PlanKind::Empty {
            return f.write_str("empty: C has no elements, nothing to compute");
        }
        if !self.loops.is_empty() {
            let ls: Vec<String> = self
                .loops
                .iter()
                .map(|g| format!("{}{}", self.group(g), if g.contracted { "+" } else { "" }))
                .collect();
            write!(f, "looped over {} ({} calls", ls.join(" "), self.calls())?;
            if self.loops.iter().any(|g| g.contracted) {
                f.write_str("; + = summed, accumulating into C")?;
            }
            f.write_str(") of: ")?;
        }
        let g = self.gemm_strides();
        let batched = self.batch.extent > 1;
        let what = match (self.legal, batched) {
            (true, false) => "gemm".to_string(),
            (true, true) => format!("strided-batched over {}", self.group(&self.batch)),
            (false, false) => "general-stride gemm".to_string(),
            (false, true) => format!("general-stride batched over {}", self.group(&self.batch)),
        };
        // BLAS form, as in contraction-cases.txt: X owns C's unit-stride rows (the one mapping
        // of job.rs, as the backends use it; a legal plan always has one).
        let (m, n, k) = (self.m.extent, self.n.extent, self.k.extent);
        let st = |s: (i64, i64, i64)| plan::strides(s.0, s.1);
        let form = if self.legal {
            crate::job::blas_form(m as usize, n as usize, k as usize, st(g.a), st(g.b), st(g.c))
        } else {
            None
        };
        if let Some(form) = form {
            let (xm, xn, xname, yname, sx, sy) = if form.swap {
                (&self.n, &self.m, 'B', 'A', g.b.2, g.a.2)
            } else {
                (&self.m, &self.n, 'A', 'B', g.a.2, g.b.2)
            };
            let sc = g.c.2;
            // `Op`'s Debug form is its letter (N, T, C).
            let (ox, ldx, oy, ldy, ldc) = (form.x.op, form.x.ld, form.y.op, form.y.ld, form.ldc);
            write!(
                f,
                "{what}: m={} n={} k={} | X={xname}:{ox:?} ldX={ldx}",
                self.group(xm),
                self.group(xn),
                self.group(&self.k)
            )?;
            if batched {
                write!(f, " strideX={sx}")?;
            }
            write!(f, " | Y={yname}:{oy:?} ldY={ldy}")?;
            if batched {
                write!(f, " strideY={sy}")?;
            }
            write!(f, " | ldc={ldc}")?;
            if batched {
                write!(f, " strideC={sc}")?;
            }
        } else {
            write!(
                f,
                "{what}: m={} n={} k={} | A(rs={} cs={}",
                self.group(&self.m),
                self.group(&self.n),
                self.group(&self.k),
                g.a.0,
                g.a.1
            )?;
            if batched {
                write!(f, " bs={}", g.a.2)?;
            }
            write!(f, ") B(rs={} cs={}", g.b.0, g.b.1)?;
            if batched {
                write!(f, " bs={}", g.b.2)?;
            }
            write!(f, ") C(rs={} cs={}", g.c.0, g.c.1)?;
            if batched {
                write!(f, " bs={}", g.c.2)?;
            }
            f.write_str(")")?;
        }
        f.write_str(" | no copy")
    }
}

pub use crate::views::{Shape, TensorMut, TensorRef};
pub(crate) use exec::{contract_raw, explain_raw, RawTensor};
pub(crate) use spec::{parse as parse_spec, Spec};
