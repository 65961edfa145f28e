//! Where FHE work runs: a rayon pool sized to the cores, behind a bounded admission queue.
//!
//! Tokio threads only move bytes. An evaluation is first *admitted* (at most `max_queue` at
//! once; beyond that the caller is told to come back later, so memory stays bounded), then
//! waits for one of `workers` running slots, then runs on the rayon pool. A job whose caller
//! went away (deadline passed, client disconnected) before it started is dropped unrun.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

/// Why a job did not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExecutionError {
    /// `max_queue` evaluations are already admitted.
    #[error("the evaluation queue is full ({0} admitted)")]
    QueueFull(usize),
    /// The executor is shutting down.
    #[error("the evaluator is shutting down")]
    ShuttingDown,
    /// The job panicked (a bug); the pool survives.
    #[error("the evaluation failed unexpectedly")]
    Panicked,
}

/// The rayon pool FHE work runs on: `threads` threads (at least one) named `fhe-N`.
pub(crate) fn fhe_pool(threads: usize) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("fhe-{i}"))
        .build()
}

/// The FHE executor.
#[derive(Debug)]
pub struct Executor {
    pool: rayon::ThreadPool,
    workers: usize,
    max_queue: usize,
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
    depth: Arc<AtomicUsize>,
}

/// An admitted job's place in the queue (released when dropped).
#[derive(Debug)]
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    depth: Arc<AtomicUsize>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.depth.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Executor {
    /// `workers` evaluations at once on a pool of `threads` rayon threads, at most
    /// `max_queue` admitted (at least `workers`).
    pub fn new(
        threads: usize,
        workers: usize,
        max_queue: usize,
    ) -> Result<Self, rayon::ThreadPoolBuildError> {
        let pool = fhe_pool(threads)?;
        let workers = workers.max(1);
        let max_queue = max_queue.max(workers);
        Ok(Executor {
            pool,
            workers,
            max_queue,
            admitted: Arc::new(Semaphore::new(max_queue)),
            running: Arc::new(Semaphore::new(workers)),
            depth: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Evaluations that run at once.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Evaluations admitted at once.
    pub fn max_queue(&self) -> usize {
        self.max_queue
    }

    /// Evaluations admitted now (waiting or running).
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Take a place in the queue now, or be told it is full.
    pub fn admit(&self) -> Result<Admission, ExecutionError> {
        let permit = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|e| match e {
                tokio::sync::TryAcquireError::Closed => ExecutionError::ShuttingDown,
                tokio::sync::TryAcquireError::NoPermits => {
                    ExecutionError::QueueFull(self.max_queue)
                }
            })?;
        self.depth.fetch_add(1, Ordering::Relaxed);
        Ok(Admission {
            _permit: permit,
            depth: Arc::clone(&self.depth),
        })
    }

    /// Run `job` on the pool once a running slot is free; the admission is held until the
    /// job ends. If the returned future is dropped before the job starts, the job never runs.
    pub async fn run<T, F>(&self, admission: Admission, job: F) -> Result<T, ExecutionError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let slot = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| ExecutionError::ShuttingDown)?;
        let (tx, rx) = oneshot::channel();
        self.pool.spawn(move || {
            if tx.is_closed() {
                return;
            }
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            // Free the slot and the queue place before answering, so a caller that sees the
            // result also sees the queue without this job.
            drop(slot);
            drop(admission);
            let _ = tx.send(outcome);
        });
        match rx.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) | Err(_) => Err(ExecutionError::Panicked),
        }
    }

    /// Refuse new admissions (graceful shutdown); running and waiting jobs go on.
    pub fn close(&self) {
        self.admitted.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admission_is_bounded_and_released() {
        let executor = Executor::new(1, 1, 2).expect("pool");
        let a = executor.admit().expect("first");
        let b = executor.admit().expect("second");
        assert_eq!(executor.depth(), 2);
        assert_eq!(
            executor.admit().expect_err("refused"),
            ExecutionError::QueueFull(2)
        );
        drop(a);
        let value = executor.run(b, || 6 * 7).await.expect("runs");
        assert_eq!(value, 42);
        assert_eq!(executor.depth(), 0);
        executor.close();
        assert_eq!(
            executor.admit().expect_err("refused"),
            ExecutionError::ShuttingDown
        );
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_pool_survives() {
        let executor = Executor::new(1, 1, 1).expect("pool");
        let admission = executor.admit().expect("admit");
        let failed = executor.run(admission, || -> u8 { panic!("boom") }).await;
        assert_eq!(failed.expect_err("panicked"), ExecutionError::Panicked);
        let admission = executor.admit().expect("admit again");
        assert_eq!(executor.run(admission, || 1).await, Ok(1));
    }
}
