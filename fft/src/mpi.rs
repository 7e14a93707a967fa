//! The MPI fabric (cargo feature `mpi`): one MPI rank per device, so the same transform runs
//! across machines. The collectives map onto MPI's: all-to-all → `MPI_Alltoallv`, all-gather →
//! `MPI_Allgatherv`, the neighbour exchange → two `MPI_Sendrecv` (leftwards, then rightwards).
//! Lengths travel first (one `MPI_Alltoall` / `MPI_Allgather` / `MPI_Sendrecv` of counts), so
//! the chunks may have any size; the byte counters count payload only, as the in-process fabric
//! does, and equal `Plan::expected_bytes` exactly.
//!
//! Data moves as bytes (any [`Wire`] type); MPI counts are `int`, so one message is at most
//! 2^31 − 1 bytes and one rank's all-to-all buffer as well (N = 2^27 complex128 on G = 2 is
//! 1 GiB per message): beyond that the call is an error naming the limit, before any MPI call.
//! MPI's default error handler aborts the job on a communication failure.
//!
//! [`transform_root`] is what the CLI runs under `mpirun`: rank 0 holds the whole signal,
//! scatters the natural-order blocks, every rank runs its device, rank 0 gathers the blocks of
//! the result and the per-device statistics.
//!
//! ```no_run
//! use tensorblas_fft::{mpi::{transform_root, Mpi}, Algorithm, Plan, PlanSpec, Precision};
//! use num_complex::Complex64;
//! let universe = mpi::initialize().expect("MPI already initialised");
//! let fab = Mpi::new(universe.world());
//! let n = 1 << 16;
//! let plan = Plan::new(&PlanSpec::new(n, fab.size_of_world(), Precision::F64)?)?;
//! let x: Option<Vec<Complex64>> = (fab.is_root()).then(|| (0..n).map(|i| Complex64::new(i as f64, 0.0)).collect());
//! if let Some((big_x, report)) = transform_root(&fab, &plan, Algorithm::Fmm, x.as_deref(), false, 1)? {
//!     assert_eq!(big_x.len(), n);
//!     assert_eq!(report.traffic, plan.expected_bytes());
//! }
//! # Ok::<(), tensorblas_fft::FftError>(())
//! ```

use crate::fabric::{check_chunks, neighbours, Counters, Fabric, Phase, Wire};
use crate::{transform_on, Algorithm, DeviceStats, FftError, Plan, Real, Report, Traffic, STEPS};
use ::mpi::datatype::{Partition, PartitionMut};
use ::mpi::point_to_point::send_receive_into_with_tags;
use ::mpi::topology::SimpleCommunicator;
use ::mpi::traits::*;
use ::mpi::Count;
use num_complex::Complex;

/// One rank's end of an MPI fabric over a communicator (device g = rank g).
pub struct Mpi {
    comm: SimpleCommunicator,
    counters: Counters,
}

const TAG_LEFTWARD: i32 = 0x7b10;
const TAG_RIGHTWARD: i32 = 0x7b11;

impl Mpi {
    /// The fabric over `comm` (usually `universe.world()`): G = its size.
    pub fn new(comm: SimpleCommunicator) -> Mpi {
        Mpi {
            comm,
            counters: Counters::default(),
        }
    }

    /// The communicator.
    pub fn comm(&self) -> &SimpleCommunicator {
        &self.comm
    }

    /// Number of ranks (= devices G).
    pub fn size_of_world(&self) -> usize {
        self.comm.size() as usize
    }

    /// Whether this is rank 0 (which reads and writes in [`transform_root`]).
    pub fn is_root(&self) -> bool {
        self.comm.rank() == 0
    }

    /// Ends the whole MPI job with `code` (for a rank that failed after the others may have
    /// entered a collective).
    pub fn abort(&self, code: i32) -> ! {
        self.comm.abort(code)
    }

    fn all_min(&self, v: u64) -> u64 {
        let mut out = 0u64;
        self.comm
            .all_reduce_into(&v, &mut out, ::mpi::collective::SystemOperation::min());
        out
    }
}

fn count(g: usize, what: &str, bytes: usize) -> Result<Count, FftError> {
    Count::try_from(bytes).map_err(|_| {
        FftError::Device(
            g,
            format!("MPI fabric: {what} is {bytes} bytes, above MPI's int count limit of 2^31 - 1 bytes"),
        )
    })
}

fn displs(counts: &[Count]) -> Vec<Count> {
    counts
        .iter()
        .scan(0, |acc, &c| {
            let d = *acc;
            *acc += c;
            Some(d)
        })
        .collect()
}

fn split<T: Wire>(bytes: &[u8], counts: &[Count]) -> Vec<Vec<T>> {
    let mut at = 0;
    counts
        .iter()
        .map(|&c| {
            let part = &bytes[at..at + c as usize];
            at += c as usize;
            bytemuck::pod_collect_to_vec(part)
        })
        .collect()
}

impl Fabric for Mpi {
    fn rank(&self) -> usize {
        self.comm.rank() as usize
    }

    fn size(&self) -> usize {
        self.comm.size() as usize
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    fn all_to_all<T: Wire>(&self, chunks: Vec<Vec<T>>) -> Result<Vec<Vec<T>>, FftError> {
        let (g, n) = (self.rank(), self.size());
        check_chunks(g, n, chunks.len())?;
        let total: usize = chunks.iter().map(|c| std::mem::size_of_val(&c[..])).sum();
        count(g, "this rank's all-to-all send buffer", total)?;
        let send_counts = chunks
            .iter()
            .map(|c| count(g, "an all-to-all chunk", std::mem::size_of_val(&c[..])))
            .collect::<Result<Vec<_>, _>>()?;
        let mut recv_counts = vec![0 as Count; n];
        self.comm.all_to_all_into(&send_counts[..], &mut recv_counts[..]);
        let recv_total: usize = recv_counts.iter().map(|&c| c as usize).sum();
        count(g, "this rank's all-to-all receive buffer", recv_total)?;
        let mut send = Vec::with_capacity(total);
        for c in &chunks {
            send.extend_from_slice(bytemuck::cast_slice::<T, u8>(c));
        }
        let mut recv = vec![0u8; recv_total];
        {
            let sp = Partition::new(&send[..], &send_counts[..], displs(&send_counts));
            let rd = displs(&recv_counts);
            let mut rp = PartitionMut::new(&mut recv[..], &recv_counts[..], rd);
            self.comm.all_to_all_varcount_into(&sp, &mut rp);
        }
        for (h, &c) in send_counts.iter().enumerate() {
            if h != g {
                self.counters.add(Phase::AllToAll, c as u64);
            }
        }
        Ok(split(&recv, &recv_counts))
    }

    fn all_gather<T: Wire>(&self, part: Vec<T>) -> Result<Vec<Vec<T>>, FftError> {
        let (g, n) = (self.rank(), self.size());
        let mine = count(g, "an all-gather part", std::mem::size_of_val(&part[..]))?;
        let mut counts = vec![0 as Count; n];
        self.comm.all_gather_into(&mine, &mut counts[..]);
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        count(g, "this rank's all-gather receive buffer", total)?;
        let mut recv = vec![0u8; total];
        {
            let d = displs(&counts);
            let mut rp = PartitionMut::new(&mut recv[..], &counts[..], d);
            self.comm
                .all_gather_varcount_into(bytemuck::cast_slice::<T, u8>(&part), &mut rp);
        }
        for _ in 1..n {
            self.counters.add(Phase::AllGather, mine as u64);
        }
        Ok(split(&recv, &counts))
    }

    fn exchange_neighbours<T: Wire>(&self, to_left: Vec<T>, to_right: Vec<T>) -> Result<(Vec<T>, Vec<T>), FftError> {
        let (g, n) = (self.rank(), self.size());
        let (left, right) = neighbours(g, n);
        let (lp, rp) = (
            self.comm.process_at_rank(left as i32),
            self.comm.process_at_rank(right as i32),
        );
        // Leftwards: to the left neighbour, from the right one; then rightwards.
        let mut got = [Vec::new(), Vec::new()];
        for (k, (msg, to, from, tag)) in [(&to_left, &lp, &rp, TAG_LEFTWARD), (&to_right, &rp, &lp, TAG_RIGHTWARD)]
            .into_iter()
            .enumerate()
        {
            let bytes = bytemuck::cast_slice::<T, u8>(msg);
            let len = count(g, "a halo message", bytes.len())?;
            let mut their = 0 as Count;
            send_receive_into_with_tags(&len, to, tag, &mut their, from, tag);
            let mut buf = vec![0u8; their as usize];
            send_receive_into_with_tags(bytes, to, tag, &mut buf[..], from, tag);
            if n > 1 {
                self.counters.add(Phase::Halo, bytes.len() as u64);
            }
            got[k] = bytemuck::pod_collect_to_vec(&buf);
        }
        let [from_right, from_left] = got;
        Ok((from_left, from_right))
    }
}

/// The result on rank 0: the whole transform (natural order) and the report.
pub type Gathered<T> = (Vec<Complex<T>>, Report);

/// Runs `plan` across the ranks of `fab` (G = the number of ranks): rank 0 passes the whole
/// natural-order signal `x` (the others pass `None`), receives `Some((X, report))`; the other
/// ranks receive `None`. Each rank uses a tensorblas handle with `threads` threads. The report's
/// per-device statistics come from every rank; their GEMM call logs are not gathered (empty).
///
/// Errors found before the transform starts (a plan for another G, a missing or wrongly sized
/// `x` on rank 0, a precision mismatch) are returned on every rank; an error inside a rank's
/// device is returned on that rank, and the others may then wait in a collective — a program
/// should [`Mpi::abort`] on it (the CLI does).
pub fn transform_root<T: Real>(
    fab: &Mpi,
    plan: &Plan,
    algo: Algorithm,
    x: Option<&[Complex<T>]>,
    inverse: bool,
    threads: usize,
) -> Result<Option<Gathered<T>>, FftError> {
    let spec = plan.spec();
    let (g, n) = (fab.rank(), fab.size());
    if spec.devices != n {
        return Err(FftError::InvalidPlan(format!(
            "the plan is for G = {} devices but the MPI communicator has {n} ranks (one rank per device)",
            spec.devices
        )));
    }
    let bad = if fab.is_root() {
        match x {
            None => Some("rank 0 must pass the signal".to_string()),
            Some(x) if x.len() != spec.n => Some(format!("x has {} points, the plan is for N = {}", x.len(), spec.n)),
            Some(_) => None,
        }
    } else {
        None
    };
    if fab.all_min(u64::from(bad.is_none())) == 0 {
        return Err(FftError::InvalidInput(
            bad.unwrap_or_else(|| "rank 0 rejected the input (see its error)".to_string()),
        ));
    }
    let block = spec.n / n;
    let zero = <T as tensorblas::Scalar>::zero();
    let block_bytes = count(g, "a block of the signal", block * std::mem::size_of::<Complex<T>>())?;
    let root = fab.comm.process_at_rank(0);
    let mut mine = vec![0u8; block_bytes as usize];
    match x {
        Some(x) if fab.is_root() => root.scatter_into_root(bytemuck::cast_slice::<Complex<T>, u8>(x), &mut mine[..]),
        _ => root.scatter_into(&mut mine[..]),
    }
    let mine: Vec<Complex<T>> = bytemuck::pod_collect_to_vec(&mine);
    let handle = tensorblas::Handle::new()?;
    handle.set_num_threads(threads.max(1));
    fab.comm.barrier();
    let t = std::time::Instant::now();
    let mut out = vec![Complex::new(zero, zero); block];
    let st = transform_on(
        plan,
        algo,
        fab,
        &handle,
        &mine,
        &mut out,
        inverse,
        &mut crate::Workspace::new(),
    )?;
    fab.comm.barrier();
    let seconds = t.elapsed().as_secs_f64();
    let stats = encode(&st);
    let out_bytes = bytemuck::cast_slice::<Complex<T>, u8>(&out);
    if fab.is_root() {
        let mut all = vec![0u8; out_bytes.len() * n];
        root.gather_into_root(out_bytes, &mut all[..]);
        let mut flat = vec![0f64; stats.len() * n];
        root.gather_into_root(&stats[..], &mut flat[..]);
        let devices: Vec<DeviceStats> = flat.chunks(stats.len()).map(decode).collect();
        Ok(Some((
            bytemuck::pod_collect_to_vec(&all),
            Report::from_devices(devices, seconds),
        )))
    } else {
        root.gather_into(out_bytes);
        root.gather_into(&stats[..]);
        Ok(None)
    }
}

/// DeviceStats as a fixed-length f64 record (the call log is left out).
fn encode(st: &DeviceStats) -> Vec<f64> {
    let mut v = vec![
        st.total_secs,
        st.gemm_flops,
        st.gemm_secs,
        st.fft_secs,
        st.traffic.alltoall as f64,
        st.traffic.halo as f64,
        st.traffic.allgather as f64,
    ];
    v.extend(st.messages.iter().map(|&m| m as f64));
    v.extend(STEPS.iter().map(|k| st.seconds.get(k).copied().unwrap_or(f64::NAN)));
    v
}

fn decode(v: &[f64]) -> DeviceStats {
    let mut st = DeviceStats {
        total_secs: v[0],
        gemm_flops: v[1],
        gemm_secs: v[2],
        fft_secs: v[3],
        traffic: Traffic {
            alltoall: v[4] as u64,
            halo: v[5] as u64,
            allgather: v[6] as u64,
        },
        messages: [v[7] as u64, v[8] as u64, v[9] as u64],
        ..DeviceStats::default()
    };
    for (k, &s) in STEPS.iter().zip(&v[10..]) {
        if !s.is_nan() {
            st.seconds.insert(k, s);
        }
    }
    st
}
