//! Distributed HOOI over MPI (cargo feature `mpi`; an MPI as for the FFT's fabric, Debian's
//! `libopenmpi-dev openmpi-bin libclang-dev`).
//!
//! The tensor is block-distributed along mode 0: member `p` of the communicator holds the rows
//! `start_p .. start_p + len_p` of mode 0 (consecutive blocks in rank order, at least one row
//! each, any layout), and every member gets the same core and factors as the single-process
//! [`crate::tucker`] on the whole tensor (equal up to rounding: the sums over members run in
//! another order). It is the same HOOI code (`crate::hooi_in`); what crosses the network:
//!
//! - HOSVD init: the Gram matrix of mode 0 split over its depth (each member sends each other
//!   member that member's share of the other modes' indices of its block, `(members - 1) /
//!   members` of the block in all, in chunks; each forms the whole Gram of its share by SYRK;
//!   then `MPI_Allreduce`), the Grams of the other modes summed (`MPI_Allreduce` of `I_n x I_n`);
//!   none of this for the first mode to be updated when sweeps follow (its initial factor is
//!   never read: in the natural order mode 0's Gram runs only with `n_iter_max = 0`);
//! - per sweep and mode `n`: the tensor `W = X ×_{m≠n} U_mᵀ` the factor comes from — summed
//!   over members (`MPI_Allreduce` of `I_n ∏_{m≠n} R_m` elements) for `n ≠ 0`, gathered
//!   (`MPI_Allgatherv`, `len_p ∏_{m≠0} R_m` elements from each member) for `n = 0` — and the new
//!   factor from member 0 (`MPI_Bcast` of `I_n R_n`). The tensor-times-matrix products (the
//!   flops) are local. [`sweep_payload`] is that closed form; [`MpiTucker::bytes_per_sweep`]
//!   the measured count;
//! - within each factor update that runs its subspace iteration on `W`'s unfolding `M` (`I_n x
//!   c`, HOOI's small `W`s), each member multiplies only its share of `M`'s columns,
//!   `M_p (M_pᵀ V)`, and the shares are summed (`MPI_Allreduce` of `I_n b_n` f64 per iteration,
//!   `b_n = R_n + max(R_n, 8)` vectors, and of the iteration's two-number verdict, so that the
//!   members stop together): [`MpiTucker::bytes_solver`].
//!
//! Not available distributed: `Init::StHosvd` (its first truncation of mode 0 would need the
//! whole tensor on one member; use `Init::Svd`, `Random` or `Factors`), `Solver::Svd` with
//! `Init::Svd`, and [`crate::partial_tucker`] / [`crate::st_hosvd_for_error`]. An error found
//! before the first collective (shapes, ranks, options) is returned on every member alike; a
//! failure inside MPI ends the job (MPI's default error handler).

use crate::group::Group;
use crate::tensor::gram;
use crate::{hooi_in, Options, Real, TensorView, TuckerError, TuckerResult};
use ::mpi::collective::SystemOperation;
use ::mpi::datatype::{Equivalence, PartitionMut};
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::*;
use ::mpi::Count;
use std::cell::{Cell, RefCell};
use tensorblas::Handle;

/// The result of [`tucker_mpi`] on one member.
#[derive(Clone, Debug)]
pub struct MpiTucker<T> {
    /// Core, factors, errors and timings (the same core and factors on every member).
    pub result: TuckerResult<T>,
    /// This member's rows of mode 0: first row and count.
    pub rows: (usize, usize),
    /// The extents of the whole tensor.
    pub shape: Vec<usize>,
    /// Number of members.
    pub members: usize,
    /// Payload bytes this member sent during the initialisation.
    pub bytes_init: u64,
    /// Payload bytes this member sent per sweep (all sweeps / sweeps run).
    pub bytes_per_sweep: u64,
    /// The closed form of `bytes_per_sweep` ([`sweep_payload`]).
    pub bytes_per_sweep_closed_form: u64,
    /// Payload bytes this member sent in all sweeps in the factor updates' split eigensolver
    /// (not in `bytes_per_sweep`): per subspace iteration through a mode `n`'s unfolding the sum
    /// of `M_p (M_pᵀ V)`, `I_n b_n` f64 (`b_n = R_n + max(R_n, 8)`), and two f64 of the decision;
    /// it follows the iterations the updates take (one or two each once warm).
    pub bytes_solver: u64,
    /// `‖X‖²` of the whole tensor.
    pub norm2: f64,
}

/// Payload bytes member `rank` (of a group, holding `len` rows of mode 0) sends in one HOOI
/// sweep over every mode of a tensor of `shape` with `ranks`, elements of `elem` bytes: for
/// each mode `n ≠ 0` its share of the sum of `W` (`I_n ∏_{m≠n} R_m` elements), for mode 0 its
/// rows of `W` (`len ∏_{m≠0} R_m`), and on member 0 the new factors (`Σ I_n R_n`).
pub fn sweep_payload(shape: &[usize], ranks: &[usize], len: usize, rank: usize, elem: usize) -> u64 {
    let prod_except = |n: usize| -> usize { (0..ranks.len()).filter(|&m| m != n).map(|m| ranks[m]).product() };
    let mut e: usize = len * prod_except(0);
    for (n, &i) in shape.iter().enumerate().skip(1) {
        e += i * prod_except(n);
    }
    if rank == 0 {
        e += shape.iter().zip(ranks).map(|(i, r)| i * r).sum::<usize>();
    }
    (e * elem) as u64
}

/// Bytes of the assembled `I_0 x w` matrix per chunk of the distributed init's Gram of mode 0
/// (its columns exchanged and multiplied chunk by chunk through reused buffers).
pub const GRAM_CHUNK_BYTES: usize = 8 << 20;
/// Environment variable that overrides [`GRAM_CHUNK_BYTES`] (a positive byte count; the tests
/// use a small one to run many chunks of uneven widths).
pub const GRAM_CHUNK_ENV: &str = "TBLAS_TUCKER_GRAM_CHUNK_BYTES";

/// A communicator and this member's block of rows.
struct MpiGroup<'c, T> {
    comm: &'c SimpleCommunicator,
    /// Rows of mode 0 per member, in rank order.
    counts: Vec<usize>,
    /// Extents of modes 1.. (the same on every member).
    rest: Vec<usize>,
    sent: Cell<u64>,
    /// Payload bytes of the split eigensolver's sums and decisions (`eig::Members`), kept
    /// apart from `sent`: their count follows the iterations each update takes.
    solver_sent: Cell<u64>,
    /// The send buffers of the sums, reused from call to call (a fresh `W`-sized one each time
    /// took 0.4-0.5 ms of page faults per sum of a 960 KB `W` at 300³ R20, as long as the
    /// `MPI_Allreduce` itself).
    send: RefCell<Vec<T>>,
    send64: RefCell<Vec<f64>>,
}

/// `v` summed (or reduced by `op`) over the members in place, through the reused send buffer
/// `buf`.
fn all_reduce<U: Equivalence + Copy>(
    comm: &SimpleCommunicator,
    buf: &RefCell<Vec<U>>,
    v: &mut [U],
    op: SystemOperation,
) {
    let mut send = buf.borrow_mut();
    send.clear();
    send.extend_from_slice(v);
    comm.all_reduce_into(&send[..], v, op);
}

impl<T> MpiGroup<'_, T> {
    fn me(&self) -> usize {
        self.comm.rank() as usize
    }
    fn start(&self, p: usize) -> usize {
        self.counts[..p].iter().sum()
    }
    fn add<U>(&self, elems: usize) {
        self.sent
            .set(self.sent.get() + (elems * std::mem::size_of::<U>()) as u64);
    }
}

impl<T> crate::eig::Members for MpiGroup<'_, T> {
    fn member(&self) -> (usize, usize) {
        (self.me(), self.counts.len())
    }

    fn sum_parts(&self, v: &mut [f64]) {
        all_reduce(self.comm, &self.send64, v, SystemOperation::sum());
        self.solver_sent.set(self.solver_sent.get() + 8 * v.len() as u64);
    }

    fn agree_max(&self, v: &mut [f64]) {
        all_reduce(self.comm, &self.send64, v, SystemOperation::max());
        self.solver_sent.set(self.solver_sent.get() + 8 * v.len() as u64);
    }
}

impl<T: Real + Equivalence> Group<T> for MpiGroup<'_, T> {
    fn members(&self) -> &dyn crate::eig::Members {
        self
    }

    fn rows(&self) -> (usize, usize, usize) {
        let me = self.me();
        (self.start(me), self.counts[me], self.counts.iter().sum())
    }

    fn sum_f64(&self, v: &mut [f64]) {
        all_reduce(self.comm, &self.send64, v, SystemOperation::sum());
        self.add::<f64>(v.len());
    }

    fn sum(&self, v: &mut [T]) {
        all_reduce(self.comm, &self.send, v, SystemOperation::sum());
        self.add::<T>(v.len());
    }

    fn gather_rows(&self, local: &[T], mut out: Vec<T>) -> Vec<T> {
        let per_row = local.len() / self.counts[self.me()].max(1);
        let counts: Vec<Count> = self.counts.iter().map(|&c| (c * per_row) as Count).collect();
        let displs: Vec<Count> = counts
            .iter()
            .scan(0, |acc, &c| {
                let d = *acc;
                *acc += c;
                Some(d)
            })
            .collect();
        out.resize(self.counts.iter().sum::<usize>() * per_row, T::zero());
        {
            let mut part = PartitionMut::new(&mut out[..], &counts[..], &displs[..]);
            self.comm.all_gather_varcount_into(local, &mut part);
        }
        self.add::<T>(local.len());
        out
    }

    fn share(&self, v: &mut [T]) {
        self.comm.process_at_rank(0).broadcast_into(v);
        if self.me() == 0 {
            self.add::<T>(v.len());
        }
    }

    fn gram_rows(&self, h: &Handle, x: &TensorView<'_, T>) -> Result<Vec<f64>, TuckerError> {
        // The Gram split over its depth (the other modes, flattened: the `per_row` columns of
        // the `I_0 x per_row` unfolding), as the engine splits one deep SYRK over threads:
        // member p forms the whole `I_0 x I_0` SYRK of its own range `D_p` of columns, from its
        // rows of them and every other member's (each member sends each other member that
        // member's columns of its block), and the members' Grams are summed (`MPI_Allreduce`).
        // Each member does `1/members` of the single-process SYRK's multiply-adds, on a triangle
        // as wide as the whole Gram. The columns go in chunks of about `GRAM_CHUNK_BYTES` (or
        // `GRAM_CHUNK_ENV`'s) of the assembled `I_0 x w` matrix, through buffers reused from
        // chunk to chunk: no copy of the block, and no fresh memory as large as it (whose first
        // touch alone, 4 KiB page faults, took longer than the exchange on a KVM guest: a
        // version receiving whole blocks spent 0.13 s of its init in them at 300³, 2 ranks).
        let chunk_bytes = std::env::var(GRAM_CHUNK_ENV)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&b| b > 0)
            .unwrap_or(GRAM_CHUNK_BYTES);
        let (me, members) = (self.me(), self.counts.len());
        let i0: usize = self.counts.iter().sum();
        let per_row: usize = self.rest.iter().product();
        let (r0, len) = (self.start(me), self.counts[me]);
        // This member's block as `len x per_row` row-major: its own memory when in C order.
        let copy;
        let mine: &[T] = if x.strides == crate::tensor::c_strides(&x.shape) {
            &x.data[..len * per_row]
        } else {
            copy = x.to_c_order();
            &copy
        };
        let cut = |p: usize| p * per_row / members;
        let widest = (0..members).map(|p| cut(p + 1) - cut(p)).max().unwrap_or(0);
        let cw = (chunk_bytes / (i0 * std::mem::size_of::<T>()).max(1)).clamp(1, widest.max(1));
        // Chunk c of member p's columns: `cut(p) + c * cw ..`, at most `cw` wide, within D_p.
        let chunk = |p: usize, c: usize| {
            let a = (cut(p) + c * cw).min(cut(p + 1));
            (a, (a + cw).min(cut(p + 1)))
        };
        let mut s = vec![0.0f64; i0 * i0];
        let (mut asm, mut send) = (Vec::<T>::new(), Vec::<T>::new());
        for c in 0..widest.div_ceil(cw) {
            let (a, b) = chunk(me, c);
            let w = b - a;
            // Every member's rows (in global order) of this chunk of D_me, row-major `I_0 x w`.
            asm.resize(i0 * w, T::zero());
            for i in 0..len {
                asm[(r0 + i) * w..(r0 + i + 1) * w].copy_from_slice(&mine[i * per_row + a..i * per_row + b]);
            }
            // Step k: member me + k gets its chunk of this block, member me - k's rows arrive.
            for step in 1..members {
                let (to, from) = ((me + step) % members, (me + members - step) % members);
                let (ta, tb) = chunk(to, c);
                send.clear();
                for i in 0..len {
                    send.extend_from_slice(&mine[i * per_row + ta..i * per_row + tb]);
                }
                let (f0, flen) = (self.start(from), self.counts[from]);
                ::mpi::point_to_point::send_receive_into(
                    &send[..],
                    &self.comm.process_at_rank(to as i32),
                    &mut asm[f0 * w..(f0 + flen) * w],
                    &self.comm.process_at_rank(from as i32),
                );
                self.add::<T>(send.len());
            }
            if w > 0 {
                let g = gram(h, &TensorView::c_order(&asm, &[i0, w])?, 0)?;
                s.iter_mut().zip(&g).for_each(|(s, g)| *s += g);
            }
        }
        <Self as Group<T>>::sum_f64(self, &mut s);
        Ok(s)
    }

    fn bytes_sent(&self) -> u64 {
        self.sent.get()
    }

    fn distributed(&self) -> bool {
        self.counts.len() > 1
    }
}

/// Tucker decomposition of a tensor distributed over the members of `comm` along mode 0:
/// `local` is this member's block of rows (see the module documentation), `ranks` and `opts` as
/// for [`crate::tucker`] and the same on every member. Collective: every member calls it.
pub fn tucker_mpi<T: Real + Equivalence>(
    h: &Handle,
    comm: &SimpleCommunicator,
    local: &TensorView<'_, T>,
    ranks: &[usize],
    opts: &Options<T>,
) -> Result<MpiTucker<T>, TuckerError> {
    // Every member's order and extents (order first, so that the second exchange has one size).
    let order = local.shape.len() as u64;
    let mut orders = vec![0u64; comm.size() as usize];
    comm.all_gather_into(&order, &mut orders[..]);
    if orders.iter().any(|&o| o != order) {
        return Err(TuckerError::Shape(format!(
            "the members' blocks have different orders: {orders:?}"
        )));
    }
    let mine: Vec<u64> = local.shape.iter().map(|&e| e as u64).collect();
    let mut all = vec![0u64; mine.len() * orders.len()];
    comm.all_gather_into(&mine[..], &mut all[..]);
    let n = mine.len();
    if n < 2 {
        return Err(TuckerError::Shape(format!(
            "Tucker needs a tensor of order >= 2, got {n}"
        )));
    }
    let blocks: Vec<&[u64]> = all.chunks(n).collect();
    if blocks.iter().any(|b| b[1..] != blocks[0][1..] || b[0] == 0) {
        return Err(TuckerError::Shape(format!(
            "the members' blocks must share the extents of modes 1.. and hold at least one row of mode 0 each: {blocks:?}"
        )));
    }
    let counts: Vec<usize> = blocks.iter().map(|b| b[0] as usize).collect();
    let rest: Vec<usize> = blocks[0][1..].iter().map(|&e| e as usize).collect();
    let largest = counts.iter().max().copied().unwrap_or(0) * rest.iter().product::<usize>();
    if Count::try_from(largest).is_err() {
        return Err(TuckerError::Shape(format!(
            "a block of {largest} elements is above MPI's count limit of 2^31 - 1 elements: use more members"
        )));
    }
    let mut shape = vec![counts.iter().sum()];
    shape.extend(&rest);
    if ranks.len() != n {
        return Err(TuckerError::Rank(format!(
            "{} ranks given for a tensor of order {n}",
            ranks.len()
        )));
    }
    let g = MpiGroup {
        comm,
        counts,
        rest,
        sent: Cell::new(0),
        solver_sent: Cell::new(0),
        send: RefCell::new(Vec::new()),
        send64: RefCell::new(Vec::new()),
    };
    let modes: Vec<usize> = (0..n).collect();
    let mut bytes = [0u64; 2];
    let (result, norm2) = hooi_in(h, &g, local, ranks, &modes, opts, &mut bytes)?;
    let me = g.me();
    let sweeps = result.n_iter.max(1) as u64;
    Ok(MpiTucker {
        rows: (g.start(me), g.counts[me]),
        members: g.counts.len(),
        bytes_per_sweep_closed_form: sweep_payload(&shape, ranks, g.counts[me], me, std::mem::size_of::<T>()),
        shape,
        bytes_init: bytes[0],
        bytes_per_sweep: bytes[1] / sweeps,
        bytes_solver: g.solver_sent.get(),
        norm2,
        result,
    })
}

/// The explicit relative error `‖X − [[G; U]]‖ / ‖X‖` of a distributed tensor: each member
/// reconstructs its rows (its rows of the mode-0 factor), the sums of squares are summed over
/// the members. Collective.
pub fn relative_error_mpi<T: Real + Equivalence>(
    h: &Handle,
    comm: &SimpleCommunicator,
    local: &TensorView<'_, T>,
    t: &MpiTucker<T>,
) -> Result<f64, TuckerError> {
    let tt = &t.result.tucker;
    let mut mine = tt.clone();
    mine.factors[0] = crate::factor_rows(&tt.factors[0], t.rows.0, t.rows.1);
    let modes: Vec<usize> = (0..t.shape.len()).collect();
    let mut v = crate::error_sums(h, local, &mine, &modes)?;
    let send = v;
    comm.all_reduce_into(&send[..], &mut v[..], SystemOperation::sum());
    Ok(crate::error_ratio(v))
}

/// Member 0's whole tensor (`whole`: `Some` on member 0, `None` on the others; any layout)
/// split along mode 0 into one block of consecutive rows per member — member `p` of `P` gets
/// rows `p I_0 / P .. (p+1) I_0 / P` — returned on each member as its block in C order with the
/// block's shape. Collective (what the CLI does with a `.npy` read by member 0).
pub fn scatter_rows<T: Real + Equivalence>(
    comm: &SimpleCommunicator,
    whole: Option<&TensorView<'_, T>>,
) -> Result<(Vec<T>, Vec<usize>), TuckerError> {
    let root = comm.process_at_rank(0);
    let members = comm.size() as usize;
    let me = comm.rank() as usize;
    let mut order = [whole.map_or(0, |w| w.shape.len() as u64)];
    root.broadcast_into(&mut order[..]);
    let mut shape64 = vec![0u64; order[0] as usize];
    if let Some(w) = whole {
        shape64 = w.shape.iter().map(|&e| e as u64).collect();
    }
    root.broadcast_into(&mut shape64[..]);
    let shape: Vec<usize> = shape64.iter().map(|&e| e as usize).collect();
    let i0 = shape.first().copied().unwrap_or(0);
    if shape.len() < 2 || i0 < members {
        return Err(TuckerError::Shape(format!(
            "a tensor of shape {shape:?} cannot give each of {members} members a row of mode 0 (order >= 2 and I_0 >= members needed)"
        )));
    }
    let per_row: usize = shape[1..].iter().product();
    let rows = |p: usize| (p + 1) * i0 / members - p * i0 / members;
    if Count::try_from(rows(0).max(rows(members - 1)) * per_row).is_err() {
        return Err(TuckerError::Shape(format!(
            "a block of {} elements is above MPI's count limit of 2^31 - 1 elements: use more members",
            rows(0) * per_row
        )));
    }
    let counts: Vec<Count> = (0..members).map(|p| (rows(p) * per_row) as Count).collect();
    let mut mine = vec![T::zero(); rows(me) * per_row];
    match whole {
        Some(w) => {
            let all = w.to_c_order();
            let displs: Vec<Count> = (0..members).map(|p| (p * i0 / members * per_row) as Count).collect();
            let part = ::mpi::datatype::Partition::new(&all[..], &counts[..], &displs[..]);
            root.scatter_varcount_into_root(&part, &mut mine[..]);
        }
        None => root.scatter_varcount_into(&mut mine[..]),
    }
    let mut local_shape = shape;
    local_shape[0] = rows(me);
    Ok((mine, local_shape))
}
