//! The CUDA backend when the crate is built without the `cuda` feature: every CUDA request is
//! `BackendUnavailable`. Same interface as `cuda/mod.rs`; `Gpu` has no values.

pub(crate) use super::GpuEngine;
use crate::error::{Error, Result};
use crate::job::Job;
use crate::scalar::{DataType, Scalar};
use std::ffi::c_void;

fn unavailable() -> Error {
    Error::BackendUnavailable("this build of tensorblas has no CUDA backend (rebuild with the `cuda` feature)".into())
}

/// One end of a rectangular copy (as in `cuda/mod.rs`; built by `device.rs`, never read here).
#[allow(dead_code)]
#[derive(Clone, Copy, Debug)]
pub(crate) enum End {
    Host(*const c_void, usize),
    Device(u64, usize),
}

/// Uninhabited: no CUDA handle can exist in this build.
#[derive(Debug)]
pub(crate) enum Gpu {}

#[allow(clippy::missing_safety_doc)]
impl Gpu {
    pub(crate) fn new(_ordinal: i32) -> Result<Gpu> {
        Err(unavailable())
    }
    pub(crate) fn describe(&self) -> String {
        match *self {}
    }
    pub(crate) fn runtime(&self) -> String {
        match *self {}
    }
    pub(crate) fn ordinal(&self) -> i32 {
        match *self {}
    }
    pub(crate) fn engine(&self) -> GpuEngine {
        match *self {}
    }
    pub(crate) fn set_engine(&self, _e: GpuEngine) {
        match *self {}
    }
    pub(crate) fn set_stream(&self, _s: *mut c_void, _f: &'static str, _p: i32) -> Result<()> {
        match *self {}
    }
    pub(crate) fn synchronize(&self) -> Result<()> {
        match *self {}
    }
    pub(crate) fn malloc(&self, _bytes: usize) -> Result<u64> {
        match *self {}
    }
    pub(crate) fn free(&self, _p: u64, _f: &'static str, _pos: i32) -> Result<()> {
        match *self {}
    }
    pub(crate) unsafe fn htod(&self, _d: u64, _s: *const c_void, _b: usize, _f: &'static str) -> Result<()> {
        match *self {}
    }
    pub(crate) unsafe fn dtoh(&self, _d: *mut c_void, _s: u64, _b: usize, _f: &'static str) -> Result<()> {
        match *self {}
    }
    pub(crate) fn run<T: Scalar>(&self, _job: &Job<'_, T>) -> Result<()> {
        match *self {}
    }
    pub(crate) fn scale_c<T: Scalar>(&self, _job: &Job<'_, T>) -> Result<()> {
        match *self {}
    }
    pub(crate) unsafe fn copy_2d(&self, _d: End, _s: End, _w: usize, _r: usize, _f: &'static str) -> Result<()> {
        match *self {}
    }
    pub(crate) fn zero(&self, _p: u64, _b: usize) -> Result<()> {
        match *self {}
    }
    pub(crate) fn with_context<R>(&self, _f: impl FnOnce(*mut c_void) -> R) -> Result<R> {
        match *self {}
    }
}

pub(crate) fn compile_ptx(_dt: DataType, _cc: u32) -> Result<String> {
    Err(unavailable())
}

pub(crate) fn compile_cubin(_dt: DataType, _cc: u32) -> Result<Vec<u8>> {
    Err(unavailable())
}

/// No CUDA library is loaded by this build.
pub(crate) fn loaded_cuda_libraries() -> Vec<String> {
    Vec::new()
}
