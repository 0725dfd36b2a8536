//! The engine's own Tokio runtime: a few named threads for flushes, compactions, the
//! WAL syncer and the blocking halves of `AsyncLsm` calls.
//!
//! Callers never need to be inside a runtime: synchronous calls run on the caller's
//! thread, and everything here is started and stopped by the engine. Background jobs
//! are blocking work (file I/O, merging), so they run on the runtime's blocking pool.
//! A job that panics poisons the database through `on_panic` instead of vanishing.

use crate::error::{LsmError, Result};
use parking_lot::{Condvar, Mutex};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts running jobs so shutdown can wait for them without blocking inside a runtime.
#[derive(Default)]
struct Jobs {
    running: Mutex<usize>,
    idle: Condvar,
}

/// The runtime and the jobs it runs.
pub(crate) struct Runtime {
    rt: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    jobs: Arc<Jobs>,
}

impl Runtime {
    /// A runtime with `workers` worker threads named `lsm-worker-N`.
    pub fn new(workers: usize) -> Result<Runtime> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.max(1))
            .max_blocking_threads(64)
            .thread_name_fn(|| format!("lsm-worker-{}", NEXT.fetch_add(1, Ordering::Relaxed)))
            .build()
            .map_err(|e| LsmError::io("start the background runtime", e))?;
        let handle = rt.handle().clone();
        Ok(Runtime {
            rt: Mutex::new(Some(rt)),
            handle,
            jobs: Arc::default(),
        })
    }

    /// Runs `job` in the background. A panic in it is caught and handed to
    /// `on_panic` (which poisons the database).
    pub fn spawn_job(
        &self,
        name: &'static str,
        job: impl FnOnce() + Send + 'static,
        on_panic: impl FnOnce(String) + Send + 'static,
    ) -> Result<()> {
        if self.rt.lock().is_none() {
            return Err(LsmError::Closed);
        }
        *self.jobs.running.lock() += 1;
        let jobs = self.jobs.clone();
        self.handle.spawn_blocking(move || {
            if let Err(p) = catch_unwind(AssertUnwindSafe(job)) {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                log::error!("background job {name} panicked: {msg}");
                on_panic(format!("background job {name} panicked: {msg}"));
            }
            let mut n = jobs.running.lock();
            *n -= 1;
            jobs.idle.notify_all();
        });
        Ok(())
    }

    /// Runs `job` on the runtime without counting it: shutdown does not wait for it.
    /// For calls made on behalf of bindings, which may themselves hold (and drop) the
    /// last handle and so start the shutdown that would otherwise wait for them.
    ///
    /// The job runs exactly once, even when the database closes before a thread
    /// picked it up and the runtime's shutdown drops it: it then runs where it is
    /// dropped, finds the database closed, and so still reports back (a binding's
    /// future is resolved with `Closed` instead of never).
    pub fn spawn_detached(&self, job: impl FnOnce() + Send + 'static) -> Result<()> {
        if self.rt.lock().is_none() {
            return Err(LsmError::Closed);
        }
        let mut once = RunOnce(Some(job));
        self.handle.spawn_blocking(move || once.run());
        Ok(())
    }

    /// Runs blocking `f` on the runtime and returns a future of its result, awaitable
    /// from any executor.
    pub fn run_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T>> + Send + 'static {
        let task = if self.rt.lock().is_some() {
            Some(self.handle.spawn_blocking(f))
        } else {
            None
        };
        async move {
            match task {
                None => Err(LsmError::Closed),
                Some(t) => match t.await {
                    Ok(r) => r,
                    // Queued when the database closed, and dropped by the runtime's
                    // shutdown before it ran: the call never happened.
                    Err(e) if e.is_cancelled() => Err(LsmError::Closed),
                    Err(e) => Err(LsmError::io(
                        "background task",
                        std::io::Error::other(e.to_string()),
                    )),
                },
            }
        }
    }

    /// Waits until every job has returned, then stops the runtime. Never blocks on the
    /// runtime itself, so it is safe to call from async code (a `Drop` inside a task).
    pub fn shutdown(&self) {
        {
            let mut n = self.jobs.running.lock();
            while *n > 0 {
                self.jobs.idle.wait(&mut n);
            }
        }
        if let Some(rt) = self.rt.lock().take() {
            rt.shutdown_background();
        }
    }
}

/// A job that runs when asked, or else when dropped: never zero times, never twice.
struct RunOnce<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> RunOnce<F> {
    fn run(&mut self) {
        if let Some(job) = self.0.take() {
            if catch_unwind(AssertUnwindSafe(job)).is_err() {
                log::error!("a binding call panicked");
            }
        }
    }
}

impl<F: FnOnce()> Drop for RunOnce<F> {
    fn drop(&mut self) {
        self.run();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Dropping a Tokio runtime blocks, which panics inside async code; this never
        // blocks (an open that failed part-way ends up here).
        if let Some(rt) = self.rt.get_mut().take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_detached_job_runs_once_whether_run_or_dropped() {
        let runs = Arc::new(AtomicUsize::new(0));
        let job = |runs: &Arc<AtomicUsize>| {
            let runs = runs.clone();
            move || {
                runs.fetch_add(1, Ordering::SeqCst);
            }
        };
        let mut ran = RunOnce(Some(job(&runs)));
        ran.run();
        drop(ran);
        assert_eq!(runs.load(Ordering::SeqCst), 1, "run, then dropped: once");
        drop(RunOnce(Some(job(&runs))));
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "dropped unrun (a cancelled task): runs"
        );
        drop(RunOnce(Some(|| panic!("a panicking job is caught"))));
    }

    #[test]
    fn run_blocking_after_shutdown_is_closed() {
        let rt = Runtime::new(1).unwrap();
        rt.shutdown();
        let fut = rt.run_blocking(|| Ok(()));
        let r = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(fut);
        assert!(matches!(r, Err(LsmError::Closed)));
        assert!(matches!(rt.spawn_detached(|| {}), Err(LsmError::Closed)));
    }
}
