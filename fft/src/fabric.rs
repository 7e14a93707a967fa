//! The communication layer: what the devices of one transform say to each other, with bytes
//! counted per phase. The required operations are the three collectives the FMM-FFT and the
//! six-step baseline use — all-to-all, all-gather and the ring-neighbour exchange — so that each
//! fabric maps them onto its own primitives: [`InProcess`] runs the G devices as threads of this
//! process (what tests and the bench use; pairwise mailboxes), `mpi::Mpi` (cargo feature `mpi`)
//! is one MPI rank per device (MPI_Alltoallv, MPI_Allgatherv, MPI_Sendrecv). On a CUDA handle the
//! executor stages its messages through host memory, so these fabrics carry the GPU path too. An
//! NCCL fabric (device-to-device messages) is not built: NCCL refuses two ranks on one GPU, and
//! no machine with two GPUs was available to test one (issue #8).
//!
//! Every endpoint counts what *it* sends to other devices; the report of a transform sums the
//! endpoints' counts, which equal the closed forms of `Plan::expected_bytes` exactly.

use crate::FftError;
use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// What a message belongs to (for the byte counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// All-to-all.
    AllToAll,
    /// Neighbour halos.
    Halo,
    /// All-gather.
    AllGather,
}

/// Element types a fabric carries: plain bytes with no padding (f32, f64, their complex forms).
pub trait Wire: bytemuck::Pod + Send {}
impl<T: bytemuck::Pod + Send> Wire for T {}

/// One device's end of a communication fabric. Every device of a transform calls the same
/// collectives in the same order (they are collective: each waits for its peers).
pub trait Fabric {
    /// This device's index, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of devices G.
    fn size(&self) -> usize;
    /// What this endpoint has sent to other devices so far.
    fn counters(&self) -> &Counters;
    /// All-to-all: `chunks[h]` goes to device h (any lengths); returns what each device sent
    /// here, by source (this device's own chunk included, not counted).
    fn all_to_all<T: Wire>(&self, chunks: Vec<Vec<T>>) -> Result<Vec<Vec<T>>, FftError>;
    /// All-gather: every device's `part` (any lengths), by source, this device's own included.
    fn all_gather<T: Wire>(&self, part: Vec<T>) -> Result<Vec<Vec<T>>, FftError>;
    /// Ring neighbour exchange: sends `to_left` to (g − 1) mod G and `to_right` to (g + 1) mod G,
    /// returns (what the left neighbour sent rightwards, what the right neighbour sent
    /// leftwards). With G = 1 the device is its own neighbour (periodic wrap, nothing counted);
    /// with G = 2 both neighbours are the same device and the two messages stay apart.
    fn exchange_neighbours<T: Wire>(&self, to_left: Vec<T>, to_right: Vec<T>) -> Result<(Vec<T>, Vec<T>), FftError>;
}

/// Byte and message counters of one endpoint, per phase (messages to other devices only).
#[derive(Debug, Default)]
pub struct Counters {
    bytes: [AtomicU64; 3],
    messages: [AtomicU64; 3],
}

impl Counters {
    /// Records one message of `bytes` to another device in `phase` (for fabric implementations).
    pub fn add(&self, phase: Phase, bytes: u64) {
        let i = phase as usize;
        self.bytes[i].fetch_add(bytes, Ordering::Relaxed);
        self.messages[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes sent to other devices so far.
    pub fn traffic(&self) -> Traffic {
        let b = |i: usize| self.bytes[i].load(Ordering::Relaxed);
        Traffic {
            alltoall: b(0),
            halo: b(1),
            allgather: b(2),
        }
    }

    /// Messages sent to other devices so far: (all-to-all, halo, all-gather).
    pub fn messages(&self) -> [u64; 3] {
        [0, 1, 2].map(|i| self.messages[i].load(Ordering::Relaxed))
    }
}

/// Message tags of the in-process fabric (with G = 2 the left and the right neighbour are the
/// same device, so the two halo messages need different tags).
#[derive(Clone, Copy)]
enum Tag {
    Leftward,
    Rightward,
    AllToAll,
    AllGather,
}

type Queues = HashMap<(usize, usize, u8), VecDeque<Box<dyn Any + Send>>>;

struct Shared {
    size: usize,
    queues: Mutex<Queues>,
    arrived: Condvar,
    /// The device that gave up (an error or a panic), if any: every wait ends with an error.
    failed: Mutex<Option<usize>>,
}

/// G devices as threads of one process: per-(source, destination, tag) mailboxes; a send never
/// waits, a receive waits for its message.
pub struct InProcess {
    rank: usize,
    shared: Arc<Shared>,
    counters: Counters,
}

impl InProcess {
    /// The G endpoints of one fabric: give endpoint g to device thread g.
    pub fn new(devices: usize) -> Vec<InProcess> {
        let shared = Arc::new(Shared {
            size: devices,
            queues: Mutex::new(HashMap::new()),
            arrived: Condvar::new(),
            failed: Mutex::new(None),
        });
        (0..devices)
            .map(|rank| InProcess {
                rank,
                shared: shared.clone(),
                counters: Counters::default(),
            })
            .collect()
    }

    fn send<T: Wire>(&self, phase: Phase, tag: Tag, peer: usize, data: Vec<T>) {
        if peer != self.rank {
            self.counters.add(phase, std::mem::size_of_val(&data[..]) as u64);
        }
        let mut q = self.shared.queues.lock().unwrap_or_else(|e| e.into_inner());
        q.entry((self.rank, peer, tag as u8))
            .or_default()
            .push_back(Box::new(data));
        self.shared.arrived.notify_all();
    }

    /// Marks this device as failed: its peers' waits (now and later) end with an error instead
    /// of waiting forever for messages it will not send. [`crate::transform`] calls it when a
    /// device returns an error; a panicking device thread does it when its endpoint drops.
    pub fn abandon(&self) {
        let mut f = self.shared.failed.lock().unwrap_or_else(|e| e.into_inner());
        f.get_or_insert(self.rank);
        drop(f);
        // Take the queue lock so that no waiter misses the wake-up between its check and wait.
        let _q = self.shared.queues.lock().unwrap_or_else(|e| e.into_inner());
        self.shared.arrived.notify_all();
    }

    fn recv<T: Wire>(&self, tag: Tag, peer: usize) -> Result<Vec<T>, FftError> {
        let mut q = self.shared.queues.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let failed = *self.shared.failed.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(d) = failed.filter(|&d| d != self.rank) {
                return Err(FftError::Device(
                    self.rank,
                    format!("device {d} failed, so the message from device {peer} will not come"),
                ));
            }
            if let Some(msg) = q.get_mut(&(peer, self.rank, tag as u8)).and_then(|d| d.pop_front()) {
                return msg.downcast::<Vec<T>>().map(|v| *v).map_err(|_| {
                    FftError::Device(
                        self.rank,
                        format!("fabric: message from device {peer} has another element type"),
                    )
                });
            }
            q = self.shared.arrived.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Fabric for InProcess {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }

    /// G − 1 rounds, round r sending to (g + r) mod G and receiving from (g − r) mod G (the
    /// schedule of NCCL's and MPI's pairwise all-to-all).
    fn all_to_all<T: Wire>(&self, mut chunks: Vec<Vec<T>>) -> Result<Vec<Vec<T>>, FftError> {
        let (g, n) = (self.rank, self.size());
        check_chunks(g, n, chunks.len())?;
        let mut out: Vec<Vec<T>> = (0..n).map(|_| Vec::new()).collect();
        out[g] = std::mem::take(&mut chunks[g]);
        for r in 1..n {
            let to = (g + r) % n;
            self.send(Phase::AllToAll, Tag::AllToAll, to, std::mem::take(&mut chunks[to]));
            let from = (g + n - r) % n;
            out[from] = self.recv(Tag::AllToAll, from)?;
        }
        Ok(out)
    }

    fn all_gather<T: Wire>(&self, part: Vec<T>) -> Result<Vec<Vec<T>>, FftError> {
        let (g, n) = (self.rank, self.size());
        for r in 1..n {
            self.send(Phase::AllGather, Tag::AllGather, (g + r) % n, part.clone());
        }
        let mut out: Vec<Vec<T>> = (0..n).map(|_| Vec::new()).collect();
        for r in 1..n {
            let from = (g + n - r) % n;
            out[from] = self.recv(Tag::AllGather, from)?;
        }
        out[g] = part;
        Ok(out)
    }

    fn exchange_neighbours<T: Wire>(&self, to_left: Vec<T>, to_right: Vec<T>) -> Result<(Vec<T>, Vec<T>), FftError> {
        let (left, right) = neighbours(self.rank, self.size());
        self.send(Phase::Halo, Tag::Leftward, left, to_left);
        self.send(Phase::Halo, Tag::Rightward, right, to_right);
        let from_left = self.recv(Tag::Rightward, left)?;
        let from_right = self.recv(Tag::Leftward, right)?;
        Ok((from_left, from_right))
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.abandon();
        }
    }
}

/// (left, right) ring neighbours of device g of n.
pub(crate) fn neighbours(g: usize, n: usize) -> (usize, usize) {
    ((g + n - 1) % n, (g + 1) % n)
}

/// An all-to-all needs one chunk per device.
pub(crate) fn check_chunks(g: usize, n: usize, got: usize) -> Result<(), FftError> {
    if got == n {
        Ok(())
    } else {
        Err(FftError::Device(
            g,
            format!("all_to_all: {got} chunks given, the fabric has {n} devices (one chunk per device)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on every endpoint, each on its own thread; the results in rank order.
    fn on_each<R: Send>(ends: &[InProcess], f: impl Fn(&InProcess) -> R + Sync) -> Vec<R> {
        std::thread::scope(|s| {
            let hs: Vec<_> = ends.iter().map(|e| s.spawn(|| f(e))).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn collectives_move_and_count() {
        let out = on_each(&InProcess::new(3), |f| {
            let g = f.rank() as u32;
            let a2a = f.all_to_all((0..3).map(|h| vec![10 * g + h; 2]).collect()).unwrap();
            let ag = f.all_gather(vec![g; 1 + g as usize]).unwrap();
            let (l, r) = f.exchange_neighbours(vec![100 + g], vec![200 + g]).unwrap();
            (a2a, ag, l, r, f.counters().traffic(), f.counters().messages())
        });
        for (g, (a2a, ag, l, r, t, m)) in out.into_iter().enumerate() {
            let g = g as u32;
            assert_eq!(a2a, (0..3).map(|h| vec![10 * h + g; 2]).collect::<Vec<_>>());
            assert_eq!(ag, (0..3).map(|h| vec![h; 1 + h as usize]).collect::<Vec<_>>());
            // From the left neighbour its rightward message, from the right one its leftward.
            assert_eq!((l, r), (vec![200 + (g + 2) % 3], vec![100 + (g + 1) % 3]));
            let ag_bytes = 2 * 4 * (1 + g as u64);
            assert_eq!(
                t,
                Traffic {
                    alltoall: 2 * 8,
                    halo: 8,
                    allgather: ag_bytes
                }
            );
            assert_eq!(m, [2, 2, 2]);
        }
    }

    #[test]
    fn a_failed_device_ends_its_peers_waits() {
        let errs = on_each(&InProcess::new(3), |f| {
            if f.rank() == 1 {
                f.abandon();
                return String::new();
            }
            match f.all_to_all(vec![vec![0u8; 4]; 3]) {
                Err(e) => e.to_string(),
                Ok(_) => "no error".into(),
            }
        });
        for g in [0, 2] {
            assert!(errs[g].contains("device 1 failed"), "{}", errs[g]);
        }
    }

    #[test]
    fn a_panicking_device_ends_its_peers_waits() {
        let mut ends = InProcess::new(2).into_iter();
        let (e0, e1) = (ends.next().unwrap(), ends.next().unwrap());
        let r = std::thread::scope(|s| {
            let h = s.spawn(move || {
                let _mine = e1;
                panic!("device 1 panics before sending");
            });
            let r = e0.all_gather(vec![1.0f64]);
            assert!(h.join().is_err());
            r
        });
        assert!(r.unwrap_err().to_string().contains("device 1 failed"));
    }
}

/// Bytes moved between distinct devices, by phase (summed over devices).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// The all-to-all(s): one for the FMM-FFT, three for six-step.
    pub alltoall: u64,
    /// Neighbour halos (leaf boxes and multipoles), packed into one message per neighbour.
    pub halo: u64,
    /// The all-gather of the level-ℓ_A multipoles.
    pub allgather: u64,
}

impl Traffic {
    /// All phases together.
    pub fn total(&self) -> u64 {
        self.alltoall + self.halo + self.allgather
    }

    /// Phase by phase sum.
    pub fn plus(&self, o: &Traffic) -> Traffic {
        Traffic {
            alltoall: self.alltoall + o.alltoall,
            halo: self.halo + o.halo,
            allgather: self.allgather + o.allgather,
        }
    }

    /// Phase by phase difference (what was moved between two readings of a counter).
    pub fn minus(&self, o: &Traffic) -> Traffic {
        Traffic {
            alltoall: self.alltoall - o.alltoall,
            halo: self.halo - o.halo,
            allgather: self.allgather - o.allgather,
        }
    }
}
