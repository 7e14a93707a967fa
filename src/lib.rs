//! # tensorblas
//!
//! Strided-batched GEMM — `C[p] = alpha*op(A + p*stride_a)*op(B + p*stride_b) + beta*C[p]` —
//! and the tensor contractions it evaluates without copies, for `f32`, `f64`, `Complex32` and
//! `Complex64`, with a C ABI (`include/tensorblas.h`) for C, C++ and Fortran callers.
//!
//! Start with a [`Handle`]; it picks the CPU backend and the thread count:
//!
//! ```
//! use tensorblas::{Handle, Op};
//! let h = Handle::new()?;
//! let (m, n, k, batch) = (2, 2, 3, 4);
//! let a = vec![1.0f32; m * k * batch];
//! let b = vec![2.0f32; k * n]; // one B shared by every entry (stride 0)
//! let mut c = vec![0.0f32; m * n * batch];
//! h.gemm_strided_batched(Op::N, Op::N, m, n, k, 1.0, &a, m, (m * k) as isize,
//!                        &b, k, 0, 0.0, &mut c, m, (m * n) as isize, batch)?;
//! assert!(c.iter().all(|&x| x == 6.0));
//! # Ok::<(), tensorblas::Error>(())
//! ```
//!
//! Errors are values ([`Error`]): a bad argument names its position in the C signature, its name
//! and the rule broken, and leaves C untouched.
#![deny(missing_docs)]

#[cfg(not(target_pointer_width = "64"))]
compile_error!("tensorblas supports 64-bit targets only");

#[cfg(all(feature = "openblas", feature = "mkl"))]
compile_error!("features `openblas` and `mkl` are mutually exclusive (both define cblas_*)");

// Links the system OpenBLAS (openblas-src with `system`).
#[cfg(feature = "openblas")]
extern crate openblas_src as _;

mod backend;
pub mod contraction;
pub mod device;
mod error;
pub mod ffi;
mod gemm;
mod handle;
mod job;
// The validator is a child of `job` (the only module that can make a `Job`); `crate::validate` is
// its path everywhere else.
use job::validate;
mod layout;
mod scalar;
mod views;

pub use backend::small::Isa;
pub use backend::tuning::PackedBlocking;
#[doc(hidden)]
pub use backend::tuning::{set_half_tail, set_prefetch, set_stream_c};
pub use backend::{CpuBackend, CpuEngine};
pub use contraction::{Plan, PlanKind, Shape, TensorMut, TensorRef};
pub use device::{compile_kernels_cubin, compile_kernels_ptx, loaded_cuda_libraries, DeviceBuffer, GpuEngine, Rows};
pub use error::{Error, Result};
pub use handle::{default_num_threads, Handle, ENV_CPU_BACKEND, ENV_NUM_THREADS};
pub use job::{Op, Uplo};
pub use num_complex::{Complex32, Complex64};
pub use scalar::{DataType, Scalar};
pub use views::{StridedMut, StridedRef};

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
