//! The CUDA backend: cuBLAS through cudarc (loaded at run time) and tensorblas' own NVRTC
//! kernels (`kernels/gemm.cu`), executing the same validated [`Job`]s as the CPU backends.
//!
//! A [`Gpu`] is the device state of one `TBLAS_BACKEND_CUDA` handle: the device's primary
//! context, the bound stream (cuBLAS semantics: the CUDA default stream until `set_stream`), a
//! cuBLAS handle pinned to `CUBLAS_DEFAULT_MATH` (no TF32 for FP32), the kernels compiled for
//! the device, and the table of allocations made through it.
//!
//! Dispatch for a job (engine [`GpuEngine::Auto`]): the small-matrix kernel when m, n and k are
//! all at most [`kernels::auto_small_max`] (8; 16 for complex float: where the H200 sweep
//! measured it ahead of cuBLAS, `benches/results/gpu-nvidia-h200.md`), else cuBLAS when the
//! layout is one cuBLAS can express (see [`blas_form`]), else the general-stride kernel. The
//! other engines force one path for tests and benchmarks.
//!
//! Rooms: `context.rs` (driver, device, context, stream, memory, pointer-array uploads),
//! `blas.rs` (the cuBLAS calls), `kernels.rs` (NVRTC compilation and launches of the own
//! kernels); this file dispatches a job to one of them.

mod blas;
mod context;
pub(crate) mod kernels;

pub(crate) use super::GpuEngine;
use crate::error::{Error, Result};
use crate::job::Job;
use crate::scalar::Scalar;
pub(crate) use blas::blas_form;
use context::Current;
pub(crate) use context::{loaded_cuda_libraries, End, Gpu};
pub(crate) use kernels::{compile_cubin, compile_ptx, Kernel};

impl Gpu {
    /// Queues a validated job that reads A and B on the bound stream (asynchronous, like
    /// cuBLAS); `Handle::run_job` made the quick returns and sends C = beta*C to
    /// [`Gpu::scale_c`].
    pub(crate) fn run<T: Scalar>(&self, job: &Job<'_, T>) -> Result<()> {
        debug_assert!(job.m() > 0 && job.n() > 0 && job.batch() > 0 && !job.ab_unread());
        let _cur = Current::push(self.ctx)?;
        let mut st = self.state();
        match st.engine {
            GpuEngine::Auto if job.m().max(job.n()).max(job.k()) <= kernels::auto_small_max(T::DATATYPE) => {
                self.kernel(&mut st, job, Kernel::Small)
            }
            GpuEngine::Auto => match blas_form(job) {
                Some(f) => self.cublas(&st, job, &f),
                None => self.kernel(&mut st, job, Kernel::General),
            },
            GpuEngine::Cublas => match blas_form(job) {
                Some(f) => self.cublas(&st, job, &f),
                None => Err(Error::NotSupported(
                    "GPU engine 'cublas': cuBLAS cannot express this layout (general strides, negative batch \
                     strides or conjugation without transposition)"
                        .into(),
                )),
            },
            GpuEngine::General => self.kernel(&mut st, job, Kernel::General),
            GpuEngine::Small => self.small(&mut st, job),
        }
    }

    /// C = beta*C (alpha == 0 or k == 0, beta != 1) on the bound stream, by the own kernel of
    /// the handle's engine (`General` under `Auto`; the `cublas` engine declines: it is not
    /// cuBLAS's).
    pub(crate) fn scale_c<T: Scalar>(&self, job: &Job<'_, T>) -> Result<()> {
        debug_assert!(job.ab_unread());
        let _cur = Current::push(self.ctx)?;
        let mut st = self.state();
        match st.engine {
            GpuEngine::Auto | GpuEngine::General => self.kernel(&mut st, job, Kernel::General),
            GpuEngine::Cublas => Err(Error::NotSupported(
                "GPU engine 'cublas': alpha == 0 or k == 0 (C = beta*C) is done by tensorblas' kernel".into(),
            )),
            GpuEngine::Small => self.small(&mut st, job),
        }
    }

    /// The small-matrix kernel, where the job fits it.
    fn small<T: Scalar>(&self, st: &mut context::State, job: &Job<'_, T>) -> Result<()> {
        if job.m().max(job.n()).max(job.k()) <= kernels::SMALL_MAX {
            self.kernel(st, job, Kernel::Small)
        } else {
            Err(Error::NotSupported(format!(
                "GPU engine 'small' takes m, n, k <= {}, got {}x{}x{}",
                kernels::SMALL_MAX,
                job.m(),
                job.n(),
                job.k()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::context::ArrayLayout;
    use super::kernels::KernelArgs;
    use super::*;
    use crate::job::Strides;
    use crate::job::{Entries, Op, Parts};

    fn job(
        m: usize,
        n: usize,
        k: usize,
        a: (isize, isize, bool),
        b: (isize, isize, bool),
        c: (isize, isize),
    ) -> Job<'static, f64> {
        job_bs_a(m, n, k, a, b, c, 0)
    }

    /// As `job`, with A's batch stride `bs_a`.
    fn job_bs_a(
        m: usize,
        n: usize,
        k: usize,
        a: (isize, isize, bool),
        b: (isize, isize, bool),
        c: (isize, isize),
        bs_a: isize,
    ) -> Job<'static, f64> {
        let s = |(rs, cs, conj)| Strides { rs, cs, conj };
        // SAFETY: never executed: these tests only read the job's strides (blas_form).
        unsafe {
            Job::assume_valid(Parts {
                m,
                n,
                k,
                alpha: 1.0,
                beta: 0.0,
                a: s(a),
                b: s(b),
                c: s((c.0, c.1, false)),
                entries: Entries::Strided {
                    a: std::ptr::null(),
                    b: std::ptr::null(),
                    c: std::ptr::null_mut(),
                    bs_a,
                    bs_b: 0,
                    bs_c: (m * n) as isize,
                    count: 2,
                },
                tri: None,
            })
        }
    }

    #[test]
    fn blas_form_maps_column_major_and_transposed_operands() {
        // C = A*B, all column-major.
        let f = blas_form(&job(3, 4, 5, (1, 3, false), (1, 5, false), (1, 3))).unwrap();
        assert!(!f.swap);
        assert_eq!((f.x.op, f.x.ld, f.y.op, f.y.ld, f.ldc), (Op::N, 3, Op::N, 5, 3));
        // op(A) = A^H stored 5x3 (rs = lda, cs = 1, conj).
        let f = blas_form(&job(3, 4, 5, (7, 1, true), (1, 5, false), (1, 3))).unwrap();
        assert_eq!((f.x.op, f.x.ld), (Op::C, 7));
        // Row-major C (rs = 4, cs = 1): computed as C^T = B^T A^T with m and n exchanged.
        let f = blas_form(&job(3, 4, 5, (1, 3, false), (1, 5, false), (4, 1))).unwrap();
        assert!(f.swap);
        assert_eq!((f.m, f.n, f.ldc), (4, 3, 4));
        // B^T of a column-major B: rs = ldb... B (k x n) col-major -> B^T (n x k) has rs = 5, cs = 1.
        assert_eq!((f.x.op, f.x.ld, f.y.op, f.y.ld), (Op::T, 5, Op::T, 3));
    }

    #[test]
    fn blas_form_rejects_what_cublas_cannot_express() {
        // Conjugate without transposition.
        assert!(blas_form(&job(3, 4, 5, (1, 3, true), (1, 5, false), (1, 3))).is_none());
        // General strides.
        assert!(blas_form(&job(3, 4, 5, (2, 6, false), (1, 5, false), (1, 3))).is_none());
        // Leading dimension below the rows (e.g. a broadcast column, cs = 0).
        assert!(blas_form(&job(3, 4, 5, (1, 0, false), (1, 5, false), (1, 3))).is_none());
        // C with general strides.
        assert!(blas_form(&job(3, 4, 5, (1, 3, false), (1, 5, false), (2, 6))).is_none());
        // Negative batch stride.
        assert!(blas_form(&job_bs_a(3, 4, 5, (1, 3, false), (1, 5, false), (1, 3), -15)).is_none());
    }

    #[test]
    fn pointer_array_block_holds_every_array_it_points_to() {
        // Full batch: A, B, C back to back.
        let l = ArrayLayout::new(5, 5, 5);
        assert_eq!((l.a, l.b, l.c, l.bytes), (Some(0), Some(40), Some(80), 120));
        // alpha == 0 or k == 0: the validator passes empty A and B arrays. C's array must start
        // at the block's start, not at 16 * count (past the end of a 40-byte block).
        let l = ArrayLayout::new(0, 0, 5);
        assert_eq!((l.a, l.b, l.c, l.bytes), (None, None, Some(0), 40));
        for (a, b, c) in [(0, 0, 1), (0, 0, 70000), (3, 3, 3), (1, 1, 1), (7, 7, 7)] {
            let l = ArrayLayout::new(a, b, c);
            for (off, len) in [(l.a, a), (l.b, b), (l.c, c)] {
                match off {
                    Some(o) => assert!(len > 0 && o as usize + 8 * len <= l.bytes, "{l:?}"),
                    None => assert_eq!(len, 0),
                }
            }
            assert_eq!(l.bytes, 8 * (a + b + c));
        }
    }

    #[test]
    fn loaded_libraries_are_cuda_files_only() {
        for f in loaded_cuda_libraries() {
            let name = f.rsplit('/').next().unwrap();
            assert!(name.starts_with("lib") && name.contains(".so"), "{f}");
        }
    }

    #[test]
    fn kernel_args_layout_matches_the_cuda_struct() {
        // 19 eight-byte fields + 4 doubles + 4 ints, no padding.
        assert_eq!(std::mem::size_of::<KernelArgs>(), 19 * 8 + 4 * 8 + 4 * 4);
        assert_eq!(std::mem::align_of::<KernelArgs>(), 8);
    }
}
