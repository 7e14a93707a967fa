//! The reference backend: a naive strided triple loop accumulating in `Complex64`.
//!
//! Deliberately simple and serial; it is what the other backends are compared with. A job with a
//! triangle (`syrk`) skips C's elements outside it.

use super::{Backend, Config};
use crate::error::Result;
use crate::job::Job;
use crate::scalar::Scalar;
use num_complex::Complex64;

pub(crate) struct Reference;

impl Backend for Reference {
    fn execute<T: Scalar>(&self, job: &Job<'_, T>, _cfg: &Config) -> Result<()> {
        let (alpha, beta) = (job.alpha().to_c64(), job.beta().to_c64());
        let read_c = !job.beta().is_zero();
        let load = |ptr: *const T, conj: bool| {
            // SAFETY: only called on addresses the validator proved readable (see below).
            let v = unsafe { *ptr };
            if conj { v.conj() } else { v }.to_c64()
        };
        for p in 0..job.batch() {
            let e = job.entry(p);
            for j in 0..job.n() as isize {
                for i in 0..job.m() as isize {
                    if job.tri().is_some_and(|t| !t.keeps(i as usize, j as usize)) {
                        continue;
                    }
                    let mut acc = Complex64::new(0.0, 0.0);
                    for l in 0..job.k() as isize {
                        let a = e.a.wrapping_offset(i * job.a().rs + l * job.a().cs);
                        let b = e.b.wrapping_offset(l * job.b().rs + j * job.b().cs);
                        acc += load(a, job.a().conj) * load(b, job.b().conj);
                    }
                    let c = e.c.wrapping_offset(i * job.c().rs + j * job.c().cs);
                    let mut v = alpha * acc;
                    if read_c {
                        v += beta * load(c, false);
                    }
                    // SAFETY: (i, j) of entry p of C is addressable and writable (validator).
                    unsafe { *c = T::from_c64(v) };
                }
            }
        }
        Ok(())
    }
}
