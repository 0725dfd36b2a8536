//! The gate of a handle that many threads may use at once (`lsm_db`, `lsm_snapshot`):
//! every call on the handle holds a [`Pass`] while it runs, and the function that frees
//! the handle first [`Gate::close`]s the gate, which refuses new passes
//! (`LSM_CLOSED`) and waits until the passes already given out are returned. Only then
//! is the handle's memory released, so a call that was running when `lsm_close` (or
//! `lsm_snapshot_free`) began never touches freed memory.
//!
//! What no gate can do: a call that starts after the handle was freed reads freed
//! memory before it reaches the gate. The header states that race as the caller's.
//!
//! It is the engine's own [`crate::gate::Gate`] (a striped in-flight counter; the
//! same protocol `Lsm::close` uses), with C's status and the handle's contents.

use super::boundary::lsm_status::LSM_CLOSED;
use super::boundary::{guard, handle, Failure, Outcome};
use crate::gate::OpGuard;
use std::ops::Deref;

#[derive(Default)]
pub(crate) struct Gate(crate::gate::Gate);

/// Permission to use the handle behind a [`Gate`] until dropped. Derefs to what the
/// handle holds.
pub(crate) struct Pass<'a, T> {
    _op: OpGuard<'a>,
    value: &'a T,
}

impl Gate {
    /// A pass for a call on `value`, the handle's contents; `LSM_CLOSED` once closing
    /// began.
    pub fn enter<'a, T>(&'a self, value: &'a T, what: &str) -> Outcome<Pass<'a, T>> {
        match self.0.enter() {
            Ok(op) => Ok(Pass { _op: op, value }),
            Err(_) => Err(Failure::new(
                LSM_CLOSED,
                format!("the {what} is being closed"),
            )),
        }
    }

    /// Refuses new passes and waits until every pass out is returned. False when
    /// another thread already began closing (it frees the handle, not this caller).
    pub fn close(&self) -> bool {
        if !self.0.close() {
            return false;
        }
        self.0.wait_idle(|| {});
        true
    }
}

/// Frees the boxed handle `p` (NULL is a no-op) once its gate, `gate(&*p)`, is
/// closed and the calls running on it are done; `what` names it in messages. When
/// another thread is already freeing it, that thread frees it.
///
/// # Safety
/// `p` is NULL or came from `Box::into_raw` and is not freed yet; no call on it starts
/// at the same time as or after this one (the module's contract).
pub(crate) unsafe fn free_gated<T>(p: *mut T, what: &str, gate: impl FnOnce(&T) -> &Gate) {
    let _ = guard(|| {
        if p.is_null() {
            return Ok(());
        }
        // SAFETY: p is live (the caller's contract).
        if gate(unsafe { handle(p, what) }?).close() {
            // SAFETY: the gate is closed and drained, so no running call uses p; only
            // the caller that closed the gate frees the Box.
            drop(unsafe { Box::from_raw(p) });
        }
        Ok(())
    });
}

impl<T> Deref for Pass<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn close_refuses_new_passes() {
        let g = Gate::default();
        drop(g.enter(&1, "db").unwrap());
        assert!(g.close());
        let e = g.enter(&1, "db").err().unwrap();
        assert_eq!(e.status, LSM_CLOSED);
        assert!(!g.close(), "a second close does not own the handle");
    }

    #[test]
    fn close_waits_for_the_passes_out() {
        let g = Arc::new(Gate::default());
        let released = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let holders: Vec<_> = (0..4)
            .map(|_| {
                let (g, released, tx) = (g.clone(), released.clone(), tx.clone());
                std::thread::spawn(move || {
                    let pass = g.enter(&(), "db").unwrap();
                    tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(50));
                    released.store(true, Ordering::SeqCst);
                    drop(pass);
                })
            })
            .collect();
        for _ in 0..4 {
            rx.recv().unwrap();
        }
        assert!(g.close());
        assert!(
            released.load(Ordering::SeqCst),
            "close returned with passes out"
        );
        for h in holders {
            h.join().unwrap();
        }
    }
}
