//! The communication layer: what the devices of one transform say to each other, with bytes
//! counted per phase. [`InProcess`] runs the G devices as threads of this process (what tests and
//! the bench use); an MPI or NCCL fabric implements the same trait (not built yet: issue #8).

use crate::plan::Traffic;
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

/// Message tags that keep two messages between the same pair of devices apart (with G = 2 the
/// left and the right neighbour are the same device).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Tag {
    Leftward,
    Rightward,
    Collective,
}

/// One device's end of a communication fabric.
pub trait Fabric: Send + Sync {
    /// This device's index, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of devices G.
    fn size(&self) -> usize;
    /// Sends `data` to `peer` without waiting for it to be received; counted in `phase` unless
    /// `peer` is this device.
    fn send_tagged<T: Copy + Send + 'static>(&self, phase: Phase, tag: u32, peer: usize, data: Vec<T>);
    /// Receives the next message with `tag` from `peer` (waits for it).
    fn recv_tagged<T: Copy + Send + 'static>(&self, tag: u32, peer: usize) -> Vec<T>;
}

/// All-to-all: `chunks[h]` goes to device h; returns what each device sent here, by source.
/// G − 1 rounds, round r sending to (g + r) mod G and receiving from (g − r) mod G (the
/// schedule of NCCL's and MPI's pairwise all-to-all).
pub fn all_to_all<F: Fabric, T: Copy + Send + 'static>(f: &F, mut chunks: Vec<Vec<T>>) -> Vec<Vec<T>> {
    let (g, n) = (f.rank(), f.size());
    assert_eq!(chunks.len(), n, "all_to_all needs one chunk per device");
    let mut out: Vec<Vec<T>> = (0..n).map(|_| Vec::new()).collect();
    out[g] = std::mem::take(&mut chunks[g]);
    for r in 1..n {
        let to = (g + r) % n;
        f.send_tagged(
            Phase::AllToAll,
            Tag::Collective as u32,
            to,
            std::mem::take(&mut chunks[to]),
        );
        let from = (g + n - r) % n;
        out[from] = f.recv_tagged(Tag::Collective as u32, from);
    }
    out
}

/// All-gather: every device's `part`, by source (this device's own included).
pub fn all_gather<F: Fabric, T: Copy + Send + 'static>(f: &F, part: Vec<T>) -> Vec<Vec<T>> {
    let (g, n) = (f.rank(), f.size());
    for r in 1..n {
        f.send_tagged(Phase::AllGather, Tag::Collective as u32 + 1, (g + r) % n, part.clone());
    }
    let mut out: Vec<Vec<T>> = (0..n).map(|_| Vec::new()).collect();
    for r in 1..n {
        let from = (g + n - r) % n;
        out[from] = f.recv_tagged(Tag::Collective as u32 + 1, from);
    }
    out[g] = part;
    out
}

/// Ring neighbour exchange: sends `to_left` to (g − 1) mod G and `to_right` to (g + 1) mod G,
/// returns (what the left neighbour sent rightwards, what the right neighbour sent leftwards).
/// With G = 1 the device is its own neighbour (periodic wrap, no bytes counted).
pub fn exchange_neighbours<F: Fabric, T: Copy + Send + 'static>(
    f: &F,
    to_left: Vec<T>,
    to_right: Vec<T>,
) -> (Vec<T>, Vec<T>) {
    let (g, n) = (f.rank(), f.size());
    let (left, right) = ((g + n - 1) % n, (g + 1) % n);
    f.send_tagged(Phase::Halo, Tag::Leftward as u32, left, to_left);
    f.send_tagged(Phase::Halo, Tag::Rightward as u32, right, to_right);
    let from_left = f.recv_tagged(Tag::Rightward as u32, left);
    let from_right = f.recv_tagged(Tag::Leftward as u32, right);
    (from_left, from_right)
}

/// Byte and message counters of a fabric, per phase, summed over devices.
#[derive(Debug, Default)]
pub struct Counters {
    bytes: [AtomicU64; 3],
    messages: [AtomicU64; 3],
}

impl Counters {
    fn add(&self, phase: Phase, bytes: u64) {
        let i = phase as usize;
        self.bytes[i].fetch_add(bytes, Ordering::Relaxed);
        self.messages[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes moved between distinct devices so far.
    pub fn traffic(&self) -> Traffic {
        let b = |i: usize| self.bytes[i].load(Ordering::Relaxed);
        Traffic {
            alltoall: b(0),
            halo: b(1),
            allgather: b(2),
        }
    }

    /// Messages between distinct devices so far: (all-to-all, halo, all-gather).
    pub fn messages(&self) -> [u64; 3] {
        [0, 1, 2].map(|i| self.messages[i].load(Ordering::Relaxed))
    }
}

type Queues = HashMap<(usize, usize, u32), VecDeque<Box<dyn Any + Send>>>;

struct Shared {
    size: usize,
    queues: Mutex<Queues>,
    arrived: Condvar,
    counters: Arc<Counters>,
}

/// G devices as threads of one process: per-(source, destination, tag) mailboxes.
pub struct InProcess {
    rank: usize,
    shared: Arc<Shared>,
}

impl InProcess {
    /// The G endpoints of one fabric (give endpoint g to device thread g) and its counters.
    pub fn new(devices: usize) -> (Vec<InProcess>, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        let shared = Arc::new(Shared {
            size: devices,
            queues: Mutex::new(HashMap::new()),
            arrived: Condvar::new(),
            counters: counters.clone(),
        });
        let ends = (0..devices)
            .map(|rank| InProcess {
                rank,
                shared: shared.clone(),
            })
            .collect();
        (ends, counters)
    }
}

impl Fabric for InProcess {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn send_tagged<T: Copy + Send + 'static>(&self, phase: Phase, tag: u32, peer: usize, data: Vec<T>) {
        if peer != self.rank {
            self.shared
                .counters
                .add(phase, (data.len() * std::mem::size_of::<T>()) as u64);
        }
        let mut q = self.shared.queues.lock().unwrap_or_else(|e| e.into_inner());
        q.entry((self.rank, peer, tag)).or_default().push_back(Box::new(data));
        self.shared.arrived.notify_all();
    }

    fn recv_tagged<T: Copy + Send + 'static>(&self, tag: u32, peer: usize) -> Vec<T> {
        let mut q = self.shared.queues.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(msg) = q.get_mut(&(peer, self.rank, tag)).and_then(|d| d.pop_front()) {
                return *msg
                    .downcast::<Vec<T>>()
                    .unwrap_or_else(|_| panic!("fabric: message type mismatch from device {peer} (tag {tag})"));
            }
            q = self.shared.arrived.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }
}
