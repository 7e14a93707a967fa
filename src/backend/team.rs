//! A team of spinning worker threads for the native engines' static splits (OpenMP's
//! "active wait policy").
//!
//! Handing a part of a call to a sleeping thread costs a futex wake and, for the caller that
//! waits, a second one: measured in these VM guests, a rayon `install` + `scope` of two empty
//! parts costs 13-19 us per call (AMD EPYC Zen 4, 2 vCPU), as much as a whole 32^3 x 64 f32
//! batch. A team worker instead spins on an atomic for a while after each part
//! (`tuning::TEAM_SPIN_US`, yielding its core after the first few microseconds) before it
//! parks, and the caller computes a part itself and spins until the others are done: 0.25-0.6 us
//! per call when calls come back to back.
//!
//! The parts are fixed ranges of work (so results do not depend on who runs them), but whoever
//! is free claims the next one: the caller takes part 0 and then any part no worker has claimed
//! yet. A worker that is parked, or whose core another process's spinning thread holds (a
//! vendor BLAS's or OpenMP's), therefore delays a call by at most the parts it has already
//! started, never by a scheduler time slice.
//!
//! The same claiming lets a `fork()`ed child split: it has none of the parent's worker threads,
//! so its splits run every part on the calling thread (`python/tests/test_settings.py` forks a
//! child that calls after the parent did). The rayon-pool paths (the `gemm` crate threading a
//! few large entries) still wait for pool threads a child does not have, as before.
//!
//! One team per thread count, shared by all handles and created on first use (as the rayon
//! pools are). A call that finds its team busy (another thread's call, or a call made from a
//! part) runs on the rayon pool instead, so correctness never depends on the team.

use super::tuning::TEAM_SPIN_US;
use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The part function of the current call, its lifetime erased (the caller waits for every
/// part before it returns, so the borrow outlives every use).
type PartFn = *const (dyn Fn(usize) + Sync);

/// Bits of a part number (or part count) in `Shared::state` and `Shared::claim`.
const PART_BITS: u32 = 16;
const PART_MASK: u64 = (1 << PART_BITS) - 1;

/// `threads - 1` workers that, with the caller, run the parts of one call at a time.
pub(crate) struct Team {
    shared: Arc<Shared>,
    workers: usize,
    /// Held by the call using the team.
    busy: AtomicBool,
}

struct Shared {
    /// `call << PART_BITS | parts` of the latest call: one word, so that a worker reads a
    /// call's number and part count together.
    state: AtomicU64,
    /// `call << PART_BITS | next unclaimed part` of the latest call: a part is claimed by the
    /// compare-exchange that moves it on, which fails for a worker still looking at an earlier
    /// call.
    claim: AtomicU64,
    /// The part function of the latest call; written before `state` publishes the call.
    job: UnsafeCell<Option<PartFn>>,
    /// Parts finished in the current call (the caller's included).
    done: AtomicUsize,
    /// Whether a worker's part panicked in the current call.
    panicked: AtomicBool,
    /// Workers parked (or about to park) on `cv`.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

// SAFETY: `job` is written only by the caller that holds `Team::busy`, before it publishes the
// call through `state` and `claim` (SeqCst), and read only by a worker that has claimed a part
// of that call (so the call is still running: its caller waits for every claimed part before it
// returns or writes `job` again).
unsafe impl Sync for Shared {}
// SAFETY: as above; the raw pointer is only dereferenced under that protocol.
unsafe impl Send for Shared {}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Team({} threads)", self.workers + 1)
    }
}

impl Shared {
    /// Claims the next part of `call` (`parts` in all), if one is left.
    fn claim(&self, call: u64, parts: usize) -> Option<usize> {
        let mut cur = self.claim.load(Acquire);
        loop {
            let part = (cur & PART_MASK) as usize;
            if cur >> PART_BITS != call || part >= parts {
                return None;
            }
            match self.claim.compare_exchange_weak(cur, cur + 1, AcqRel, Acquire) {
                Ok(_) => return Some(part),
                Err(now) => cur = now,
            }
        }
    }

    /// Runs part `part` of the current call (claimed by this thread) and counts it done.
    fn run_part(&self, part: usize) {
        // SAFETY: the part was claimed, so its call is published (`job` written before the
        // claim word was reset, both read with Acquire) and its caller waits for it.
        let f = unsafe { &*(*self.job.get()).expect("a published call has a part function") };
        if catch_unwind(AssertUnwindSafe(|| f(part))).is_err() {
            self.panicked.store(true, Relaxed);
        }
        self.done.fetch_add(1, Release);
    }
}

impl Team {
    fn new(threads: usize) -> std::io::Result<Team> {
        Team::build(threads, threads - 1)
    }

    /// A team of `threads` threads of which `spawned` workers are started (tests leave some
    /// out to stand for workers that never come).
    fn build(threads: usize, spawned: usize) -> std::io::Result<Team> {
        let shared = Arc::new(Shared {
            state: AtomicU64::new(0),
            claim: AtomicU64::new(0),
            job: UnsafeCell::new(None),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        });
        for t in 1..=spawned {
            let s = shared.clone();
            std::thread::Builder::new()
                .name(format!("tensorblas-team-{threads}-{t}"))
                .spawn(move || worker(&s))?;
        }
        Ok(Team {
            shared,
            workers: threads - 1,
            busy: AtomicBool::new(false),
        })
    }

    /// Runs `f(0), ..., f(parts - 1)` (`parts <= threads`) on the caller and the workers, and
    /// returns when all are done; `None` (nothing run) when the team is in use.
    pub(crate) fn run(&self, parts: usize, f: &(dyn Fn(usize) + Sync)) -> Option<()> {
        debug_assert!(parts <= self.workers + 1 && (parts as u64) < PART_MASK);
        if parts <= 1 {
            (0..parts).for_each(f);
            return Some(());
        }
        if self.busy.compare_exchange(false, true, Acquire, Relaxed).is_err() {
            return None;
        }
        let s = &*self.shared;
        // SAFETY: this thread holds `busy`, and every claimed part of the previous call has
        // finished (its caller waited for them), so no worker reads `job` now.
        unsafe {
            // Erases the borrow's lifetime: the wait below outlives every worker's use.
            let f: &'static (dyn Fn(usize) + Sync) = std::mem::transmute(f);
            *s.job.get() = Some(f as PartFn);
        }
        s.done.store(0, Relaxed);
        s.panicked.store(false, Relaxed);
        let call = (s.state.load(Relaxed) >> PART_BITS) + 1;
        // Part 0 is the caller's from the start.
        s.claim.store(call << PART_BITS | 1, SeqCst);
        s.state.store(call << PART_BITS | parts as u64, SeqCst);
        if s.sleepers.load(SeqCst) > 0 {
            let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.cv.notify_all();
        }
        let mine = catch_unwind(AssertUnwindSafe(|| f(0)));
        s.done.fetch_add(1, Relaxed);
        // Then every part no worker has started.
        while let Some(part) = s.claim(call, parts) {
            s.run_part(part);
        }
        // Wait for the workers' parts even if part 0 panicked: they borrow `f`.
        wait_until(|| s.done.load(Acquire) >= parts);
        self.busy.store(false, Release);
        if let Err(p) = mine {
            resume_unwind(p);
        }
        if s.panicked.load(Relaxed) {
            panic!("a tensorblas team worker panicked");
        }
        Some(())
    }
}

/// Spins until `ready()`, yielding the core after the first few microseconds.
fn wait_until(ready: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !ready() {
        if spins < 1 << 10 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

fn worker(s: &Shared) {
    let mut seen = 0u64;
    loop {
        // Spin for a new call (pausing, then yielding the core to any other runnable thread),
        // then park.
        let start = Instant::now();
        let mut spins = 0u32;
        let mut state = s.state.load(Acquire);
        while state >> PART_BITS == seen >> PART_BITS {
            spins = spins.wrapping_add(1);
            if spins < 1 << 10 {
                std::hint::spin_loop();
            } else if start.elapsed() < Duration::from_micros(TEAM_SPIN_US) {
                std::thread::yield_now();
            } else {
                s.sleepers.fetch_add(1, SeqCst);
                let mut g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                while s.state.load(SeqCst) >> PART_BITS == seen >> PART_BITS {
                    g = s.cv.wait(g).unwrap_or_else(|e| e.into_inner());
                }
                drop(g);
                s.sleepers.fetch_sub(1, SeqCst);
            }
            state = s.state.load(Acquire);
        }
        seen = state;
        let (call, parts) = (state >> PART_BITS, (state & PART_MASK) as usize);
        while let Some(part) = s.claim(call, parts) {
            s.run_part(part);
        }
    }
}

/// The team of `threads` threads (`threads >= 2`), shared by all handles; `None` if its
/// threads cannot be started (the caller then uses the rayon pool).
pub(crate) fn team(threads: usize) -> Option<Arc<Team>> {
    static TEAMS: OnceLock<Mutex<HashMap<usize, Option<Arc<Team>>>>> = OnceLock::new();
    if !(2..256).contains(&threads) {
        return None;
    }
    let teams = TEAMS.get_or_init(Default::default);
    let mut map = teams.lock().unwrap_or_else(|e| e.into_inner());
    map.entry(threads)
        .or_insert_with(|| Team::new(threads).ok().map(Arc::new))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each test has its own team (the shared ones would be busy with the other tests' calls).
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_part_runs_once_and_the_workers_take_the_parts_the_caller_leaves() {
        let team = Team::new(3).expect("a team of 3 threads starts");
        for parts in [1, 2, 3, 3, 2, 1, 3] {
            let hits: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
            let names = Mutex::new(Vec::new());
            team.run(parts, &|t| {
                hits[t].fetch_add(1, Relaxed);
                let name = std::thread::current().name().unwrap_or_default().to_owned();
                names.lock().unwrap().push((t, name));
                if t == 0 {
                    // The caller holds part 0 until the workers have claimed the others.
                    let start = Instant::now();
                    while (1..parts).any(|u| hits[u].load(Relaxed) == 0) {
                        assert!(start.elapsed() < Duration::from_secs(10), "no worker took a part");
                        std::thread::yield_now();
                    }
                }
            })
            .expect("the team is free");
            let got: Vec<usize> = hits.iter().map(|h| h.load(Relaxed)).collect();
            let want: Vec<usize> = (0..3).map(|t| usize::from(t < parts)).collect();
            assert_eq!(got, want, "parts = {parts}");
            for (t, name) in names.into_inner().unwrap() {
                assert_eq!(t > 0, name.starts_with("tensorblas-team-3-"), "part {t} ran on {name}");
            }
        }
    }

    #[test]
    fn the_caller_runs_the_parts_of_workers_that_do_not_come() {
        // A team of 3 whose workers never start (a stand-in for parked or descheduled ones):
        // every call still completes, all its parts on the caller.
        let team = Team::build(3, 0).expect("a team without workers");
        let me = std::thread::current().id();
        for parts in [2, 3, 1, 3] {
            let runs = Mutex::new(Vec::new());
            team.run(parts, &|t| runs.lock().unwrap().push((t, std::thread::current().id())))
                .expect("the team is free");
            let mut runs = runs.into_inner().unwrap();
            runs.sort_by_key(|r| r.0);
            assert_eq!(runs, (0..parts).map(|t| (t, me)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_parked_team_wakes_for_the_next_call() {
        let team = Team::new(2).expect("a team of 2 threads starts");
        for _ in 0..3 {
            // Longer than the spin: the worker parks and must be woken.
            std::thread::sleep(Duration::from_micros(3 * TEAM_SPIN_US));
            let sum = AtomicUsize::new(0);
            team.run(2, &|t| {
                sum.fetch_add(t + 10, Relaxed);
            })
            .expect("the team is free");
            assert_eq!(sum.load(Relaxed), 21);
        }
    }

    #[test]
    fn a_busy_team_declines_and_concurrent_callers_all_finish() {
        let team = Team::new(2).expect("a team of 2 threads starts");
        // A call from inside a part finds the team busy.
        let inner = Mutex::new(Vec::new());
        team.run(2, &|_| inner.lock().unwrap().push(team.run(2, &|_| {}).is_none()))
            .expect("the team is free");
        assert_eq!(*inner.lock().unwrap(), vec![true, true]);
        // Four threads share the team; a declined call runs its parts itself.
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..500 {
                        let f = |t: usize| {
                            total.fetch_add(t + 1, Relaxed);
                        };
                        if team.run(2, &f).is_none() {
                            f(0);
                            f(1);
                        }
                    }
                });
            }
        });
        assert_eq!(total.load(Relaxed), 4 * 500 * 3);
    }

    #[test]
    fn a_panicking_part_reaches_the_caller_and_the_team_stays_usable() {
        let team = Team::new(2).expect("a team of 2 threads starts");
        for bad in [0, 1] {
            let r = catch_unwind(AssertUnwindSafe(|| {
                team.run(2, &|t| {
                    if t == bad {
                        panic!("part {t} fails");
                    }
                })
            }));
            assert!(r.is_err(), "part {bad}'s panic reaches the caller");
            let sum = AtomicUsize::new(0);
            team.run(2, &|t| {
                sum.fetch_add(t + 1, Relaxed);
            })
            .expect("the team is free again");
            assert_eq!(sum.load(Relaxed), 3);
        }
    }
}
