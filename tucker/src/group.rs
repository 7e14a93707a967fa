//! The processes one HOOI runs on. Alone ([`Alone`]) the tensor is whole and every operation
//! here is the identity; over MPI (`crate::mpi`) each member holds a block of consecutive
//! indices of mode 0 (its *rows*) and these operations combine the members' partial results.
//! HOOI (`crate::hooi`) is written once against this trait, so the single-process and the
//! distributed decompositions are the same code.

use crate::eig::Members;
use crate::tensor::{c_strides, gram, Dense, Pool, TensorView};
use crate::{Real, TuckerError};
use tensorblas::Handle;

/// What a member of the group can do with the others. Every method is collective: all members
/// call it in the same order with buffers of the same length.
pub(crate) trait Group<T: Real> {
    /// The members the factor updates' eigensolver is split over ([`crate::eig::One`] alone).
    fn members(&self) -> &dyn Members;
    /// This member's first row of mode 0, its number of rows, and the global extent of mode 0.
    fn rows(&self) -> (usize, usize, usize);
    /// Element-wise sum over the members, in place (every member gets the same values).
    fn sum_f64(&self, v: &mut [f64]);
    /// Element-wise sum over the members, in place.
    fn sum(&self, v: &mut [T]);
    /// The members' C-order blocks of a tensor distributed along mode 0, concatenated in rank
    /// order (the whole tensor in C order), written into `out` (resized; its values unread).
    fn gather_rows(&self, local: &[T], out: Vec<T>) -> Vec<T>;
    /// Every member gets member 0's values (so that factors are identical bits everywhere).
    fn share(&self, v: &mut [T]);
    /// The Gram matrix of mode 0 of the distributed tensor, `I_0 x I_0`, column-major, f64, on
    /// every member (`x` is this member's block).
    fn gram_rows(&self, h: &Handle, x: &TensorView<'_, T>) -> Result<Vec<f64>, TuckerError>;
    /// Payload bytes this member has handed to the others so far.
    fn bytes_sent(&self) -> u64;
    /// Whether there is more than one member.
    fn distributed(&self) -> bool;
}

/// One process holding the whole tensor.
pub(crate) struct Alone {
    /// The extent of mode 0.
    pub rows: usize,
}

impl<T: Real> Group<T> for Alone {
    fn members(&self) -> &dyn Members {
        &crate::eig::One
    }
    fn rows(&self) -> (usize, usize, usize) {
        (0, self.rows, self.rows)
    }
    fn sum_f64(&self, _: &mut [f64]) {}
    fn sum(&self, _: &mut [T]) {}
    fn gather_rows(&self, local: &[T], mut out: Vec<T>) -> Vec<T> {
        out.clear();
        out.extend_from_slice(local);
        out
    }
    fn share(&self, _: &mut [T]) {}
    fn gram_rows(&self, h: &Handle, x: &TensorView<'_, T>) -> Result<Vec<f64>, TuckerError> {
        gram(h, x, 0)
    }
    fn bytes_sent(&self) -> u64 {
        0
    }
    fn distributed(&self) -> bool {
        false
    }
}

/// A tensor computed from this member's block: `partial` when mode 0 was contracted (each
/// member holds a part of a sum over the rows), otherwise it is distributed along mode 0 like
/// the input. Returns the whole tensor (the same on every member); alone, `d` itself. A
/// gathered tensor takes its buffer from `pool` and gives `d`'s back (a fresh buffer per
/// gather, its pages first touched by MPI, cost more than the gather).
pub(crate) fn combine<T: Real>(g: &dyn Group<T>, d: Dense<T>, partial: bool, pool: &mut Pool<T>) -> Dense<T> {
    if !g.distributed() {
        return d;
    }
    if partial {
        // Every member holds its part in the same layout (the same code made it): summed as
        // it lies.
        let mut d = d;
        g.sum(&mut d.data);
        return d;
    }
    let mut shape = d.shape.clone();
    let data = if d.strides == c_strides(&d.shape) {
        d.data
    } else {
        d.view().to_c_order()
    };
    let out = pool.take(data.len() / g.rows().1.max(1) * g.rows().2);
    let whole = g.gather_rows(&data, out);
    pool.put(data);
    shape[0] = g.rows().2;
    let strides = c_strides(&shape);
    Dense {
        shape,
        strides,
        data: whole,
    }
}
