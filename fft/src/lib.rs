//! Low-communication FMM-accelerated distributed FFT on the tensorblas safe API.
//!
//! Not implemented yet (issue #8): this crate is an empty placeholder so that the workspace has
//! its final shape. It exports nothing.
#![forbid(unsafe_code)]
