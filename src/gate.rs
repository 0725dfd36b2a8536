//! `Gate`: the operations in flight against a database, and the close that waits for
//! them.
//!
//! Contract: every operation that may touch the database's files (a get, a write, an
//! iterator step, a flush, a compaction on request, a checkpoint, a verification, the
//! deletion of an obsolete table) runs inside an [`OpGuard`] taken with
//! [`Gate::enter`]. [`Gate::close`] makes every later `enter` fail and then waits until
//! every guard taken before it is dropped. So once `close` has returned, no operation of
//! this database can still be working on its directory, and a new instance may open it.
//!
//! The protocol is Dekker's: `enter` increments a counter and then reads the closing
//! flag; `close` sets the flag and then reads the counters. With sequentially
//! consistent accesses on both sides, at least one of them sees the other: either the
//! operation sees the flag and backs out, or `close` sees the operation and waits.
//!
//! The counter is striped by thread, each stripe on its own cache line, so concurrent
//! readers on different cores do not contend on one line; `close`, which is rare, sums
//! the stripes.

use crate::error::{LsmError, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const STRIPES: usize = 16;

/// One counter on its own cache line (128 bytes covers adjacent-line prefetching).
#[repr(align(128))]
#[derive(Default)]
struct Stripe(AtomicUsize);

/// Operations in flight, and whether the database is closing.
#[derive(Default)]
pub struct Gate {
    closing: AtomicBool,
    stripes: [Stripe; STRIPES],
}

/// An operation in flight; dropping it ends the operation.
#[must_use = "the operation ends when the guard is dropped"]
pub struct OpGuard<'a> {
    gate: &'a Gate,
    stripe: usize,
}

fn stripe_index() -> usize {
    use std::cell::Cell;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|i| {
        if i.get() == usize::MAX {
            i.set(NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES);
        }
        i.get()
    })
}

impl Gate {
    /// A gate that admits operations.
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Starts an operation: `Closed` once [`Gate::close`] has begun.
    #[inline]
    pub fn enter(&self) -> Result<OpGuard<'_>> {
        let stripe = stripe_index();
        self.stripes[stripe].0.fetch_add(1, Ordering::SeqCst);
        if self.closing.load(Ordering::SeqCst) {
            self.stripes[stripe].0.fetch_sub(1, Ordering::SeqCst);
            return Err(LsmError::Closed);
        }
        Ok(OpGuard { gate: self, stripe })
    }

    /// True once [`Gate::close`] has begun.
    #[inline]
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Refuses every later operation; returns false if the gate was already closing.
    /// Does not wait: see [`Gate::wait_idle`].
    pub fn close(&self) -> bool {
        !self.closing.swap(true, Ordering::SeqCst)
    }

    /// Operations in flight now.
    pub fn in_flight(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| s.0.load(Ordering::SeqCst))
            .sum()
    }

    /// Waits until no operation is in flight, calling `nudge` between looks (to wake
    /// operations that wait for something the closing database will not do any more).
    ///
    /// REQUIRES: [`Gate::close`] was called, and the calling thread holds no guard.
    pub fn wait_idle(&self, mut nudge: impl FnMut()) {
        let mut pause = Duration::from_micros(20);
        while self.in_flight() > 0 {
            nudge();
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }
}

impl Drop for OpGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.gate.stripes[self.stripe]
            .0
            .fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    #[test]
    fn enter_fails_after_close_and_close_waits_for_guards() {
        let gate = Arc::new(Gate::new());
        let g = gate.enter().unwrap();
        assert_eq!(gate.in_flight(), 1);
        assert!(gate.close());
        assert!(!gate.close(), "a second close reports it was closing");
        assert!(matches!(gate.enter(), Err(LsmError::Closed)));
        let released = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (gate, released) = (gate.clone(), released.clone());
            std::thread::spawn(move || {
                gate.wait_idle(|| {});
                assert!(
                    released.load(Ordering::SeqCst),
                    "returned before the guard went"
                );
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        released.store(true, Ordering::SeqCst);
        drop(g);
        waiter.join().unwrap();
        assert_eq!(gate.in_flight(), 0);
    }

    /// Many threads enter and leave while another closes: after `wait_idle` returns,
    /// no thread is inside (each marks its presence in a counter while inside).
    #[test]
    fn no_operation_is_inside_after_wait_idle() {
        for _ in 0..50 {
            let gate = Arc::new(Gate::new());
            let inside = Arc::new(AtomicU64::new(0));
            let started = Arc::new(AtomicU64::new(0));
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let (gate, inside, started) = (gate.clone(), inside.clone(), started.clone());
                    std::thread::spawn(move || {
                        let mut entered = 0u64;
                        while let Ok(g) = gate.enter() {
                            inside.fetch_add(1, Ordering::SeqCst);
                            if entered == 0 {
                                started.fetch_add(1, Ordering::SeqCst);
                            }
                            entered += 1;
                            std::hint::spin_loop();
                            inside.fetch_sub(1, Ordering::SeqCst);
                            drop(g);
                        }
                        entered
                    })
                })
                .collect();
            while started.load(Ordering::SeqCst) < 4 {
                std::thread::yield_now();
            }
            gate.close();
            gate.wait_idle(|| {});
            assert_eq!(inside.load(Ordering::SeqCst), 0);
            for w in workers {
                assert!(w.join().unwrap() > 0);
            }
        }
    }
}
