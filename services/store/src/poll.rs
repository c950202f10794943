//! The one loop every background worker runs: a work pass, then a pause
//! that a poke, the idle interval or shutdown ends.
//!
//! A worker writes only its pass; the loop decides when the next one runs.
//! A pass that found a full batch runs again at once, so a backlog drains
//! without waiting; otherwise the worker sleeps for its idle interval, so
//! work written by another replica, or left by a crash, is not stranded.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What a work pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// A full batch: more may be waiting, so the next pass runs at once.
    More,
    /// Nothing more for now: the worker waits for a poke or its interval.
    Idle,
}

impl Pass {
    /// [`Pass::More`] when a pass read a whole batch of `limit` rows.
    pub fn after_batch(read: usize, limit: i64) -> Self {
        if i64::try_from(read).unwrap_or(i64::MAX) >= limit {
            Self::More
        } else {
            Self::Idle
        }
    }
}

/// Wakes a worker before its idle interval is over, e.g. after a commit
/// that gave it work. Clones wake the same worker(s).
#[derive(Debug, Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Asks the worker to run a pass now. A poke while a pass runs is kept,
    /// so work committed during that pass is not left for the interval.
    pub fn poke(&self) {
        self.0.notify_one();
    }

    async fn poked(&self) {
        self.0.notified().await;
    }
}

/// How a worker is woken and how long it rests.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Named in the warning logged when a pass fails.
    pub worker: &'static str,
    /// The pause after a pass that found no more work, or failed.
    pub idle: Duration,
    /// `None` for workers that nothing pokes (periodic clean-ups).
    pub wake: Option<Wake>,
}

/// Runs `pass` until `shutdown` is cancelled. A failed pass is logged with
/// its cause chain and retried after the idle interval; it never ends the
/// worker.
pub async fn run<F, Fut, E>(schedule: Schedule, shutdown: CancellationToken, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Pass, E>>,
    E: Into<anyhow::Error>,
{
    loop {
        let pause = match pass().await {
            Ok(Pass::More) => Duration::ZERO,
            Ok(Pass::Idle) => schedule.idle,
            Err(e) => {
                let e: anyhow::Error = e.into();
                tracing::warn!(worker = schedule.worker, error = %format!("{e:#}"), "background pass failed");
                schedule.idle
            }
        };
        let poked = async {
            match &schedule.wake {
                Some(wake) => wake.poked().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = poked => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_full_batch_means_more() {
        assert_eq!(Pass::after_batch(100, 100), Pass::More);
        assert_eq!(Pass::after_batch(99, 100), Pass::Idle);
        assert_eq!(Pass::after_batch(0, 100), Pass::Idle);
    }

    #[tokio::test]
    async fn a_poke_runs_a_pass_before_the_interval_and_shutdown_ends_the_loop() {
        let passes = Arc::new(AtomicUsize::new(0));
        let wake = Wake::default();
        let shutdown = CancellationToken::new();
        let schedule = Schedule {
            worker: "test",
            idle: Duration::from_secs(3600),
            wake: Some(wake.clone()),
        };
        let counted = Arc::clone(&passes);
        let worker = tokio::spawn(run(schedule, shutdown.clone(), move || {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(Pass::Idle)
            }
        }));
        while passes.load(Ordering::SeqCst) < 1 {
            tokio::task::yield_now().await;
        }
        wake.poke();
        while passes.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        shutdown.cancel();
        assert!(worker.await.is_ok());
        assert_eq!(passes.load(Ordering::SeqCst), 2);
    }
}
