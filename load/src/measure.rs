//! Fixed concurrency for a fixed time: every worker sends its next
//! request as soon as its previous one is answered (a closed loop, as oha
//! and wrk do), first for a warm-up whose answers are thrown away, then for
//! the measured window.
//!
//! Only answers that succeed count as throughput and enter the latency
//! figures; any other answer (a non-2xx status, a gRPC status other than
//! OK, a transport failure, no answer within the timeout) is an error.
//! A run is bounded in time (no request starts after the window, and none
//! is waited for beyond the timeout) and in count (`max_requests`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One client connection's worth of requests.
pub trait Worker: Send + 'static {
    /// Sends one request and reads its whole answer; `n` counts this
    /// worker's requests from 0. `Err` describes a failed request.
    fn call(&mut self, n: u64) -> impl Future<Output = Result<(), String>> + Send;
}

/// When and how long a run goes.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// When the warm-up begins; runs that share it share their windows.
    pub start: Instant,
    pub warmup: Duration,
    pub duration: Duration,
    /// How long one request may take before it counts as an error.
    pub timeout: Duration,
    /// Most requests counted in the window, over all workers.
    pub max_requests: u64,
}

impl Plan {
    fn window(&self) -> (Instant, Instant) {
        let from = self.start + self.warmup;
        (from, from + self.duration)
    }
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct Outcome {
    pub ok: u64,
    pub errors: u64,
    /// From the window's start to the last counted answer.
    pub window: Duration,
    /// Latencies of the successful requests in microseconds, sorted.
    latencies: Vec<u32>,
    /// The first failure seen, to tell what went wrong.
    pub first_error: Option<String>,
}

impl Outcome {
    /// Successful requests per second.
    pub fn rps(&self) -> f64 {
        let seconds = self.window.as_secs_f64();
        if seconds > 0.0 {
            self.ok as f64 / seconds
        } else {
            0.0
        }
    }

    /// The `q` quantile (0..=1) of the successful requests' latencies, in
    /// milliseconds (nearest rank); 0 without any.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let last = self.latencies.len() - 1;
        let rank = ((q * self.latencies.len() as f64).ceil() as usize).clamp(1, last + 1) - 1;
        f64::from(self.latencies[rank]) / 1000.0
    }
}

/// What one worker counted.
#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    errors: u64,
    latencies: Vec<u32>,
    last_answer: Option<Instant>,
    first_error: Option<String>,
}

/// Runs every worker on its own task under `plan` and merges what they
/// counted.
pub async fn measure<W: Worker>(workers: Vec<W>, plan: Plan) -> Outcome {
    let (from, until) = plan.window();
    let counted = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut n = 0;
                loop {
                    let started = Instant::now();
                    if started >= until {
                        break;
                    }
                    let in_window = started >= from;
                    if in_window && counted.fetch_add(1, Ordering::Relaxed) >= plan.max_requests {
                        break;
                    }
                    let result = tokio::time::timeout(plan.timeout, worker.call(n))
                        .await
                        .unwrap_or_else(|_| Err(format!("no answer within {:?}", plan.timeout)));
                    n += 1;
                    if !in_window {
                        continue;
                    }
                    let answered = Instant::now();
                    tally.last_answer = Some(answered);
                    match result {
                        Ok(()) => {
                            tally.ok += 1;
                            let micros = (answered - started).as_micros();
                            tally
                                .latencies
                                .push(u32::try_from(micros).unwrap_or(u32::MAX));
                        }
                        Err(why) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert(why);
                        }
                    }
                }
                tally
            })
        })
        .collect();

    let mut outcome = Outcome::default();
    let mut last = None;
    for handle in handles {
        let tally = match handle.await {
            Ok(tally) => tally,
            Err(e) => Tally {
                errors: 1,
                first_error: Some(format!("a worker failed: {e}")),
                ..Tally::default()
            },
        };
        outcome.ok += tally.ok;
        outcome.errors += tally.errors;
        outcome.latencies.extend(tally.latencies);
        last = last.max(tally.last_answer);
        if outcome.first_error.is_none() {
            outcome.first_error = tally.first_error;
        }
    }
    outcome.latencies.sort_unstable();
    outcome.window = last.map_or(plan.duration, |last| last.saturating_duration_since(from));
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers after `delay`; every `fail_every`-th request fails.
    struct Fake {
        delay: Duration,
        fail_every: u64,
    }

    impl Worker for Fake {
        async fn call(&mut self, n: u64) -> Result<(), String> {
            tokio::time::sleep(self.delay).await;
            if self.fail_every > 0 && n.is_multiple_of(self.fail_every) {
                Err(format!("request {n} failed"))
            } else {
                Ok(())
            }
        }
    }

    fn plan(max_requests: u64) -> Plan {
        Plan {
            start: Instant::now(),
            warmup: Duration::from_millis(20),
            duration: Duration::from_millis(200),
            timeout: Duration::from_secs(1),
            max_requests,
        }
    }

    #[tokio::test]
    async fn failures_are_errors_not_throughput() {
        let workers = (0..4)
            .map(|_| Fake {
                delay: Duration::from_millis(2),
                fail_every: 2,
            })
            .collect();
        let outcome = measure(workers, plan(u64::MAX)).await;
        assert!(outcome.ok > 0 && outcome.errors > 0);
        assert!(outcome.ok.abs_diff(outcome.errors) <= 8, "{outcome:?}");
        assert!(outcome.first_error.is_some());
        assert_eq!(outcome.latencies.len() as u64, outcome.ok);
        assert!(outcome.quantile_ms(0.5) >= 2.0);
        assert!(outcome.quantile_ms(0.5) <= outcome.quantile_ms(0.99));
    }

    #[tokio::test]
    async fn the_count_is_bounded() {
        let workers = (0..4)
            .map(|_| Fake {
                delay: Duration::from_millis(1),
                fail_every: 0,
            })
            .collect();
        let outcome = measure(workers, plan(10)).await;
        assert_eq!(outcome.ok, 10);
    }

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let outcome = Outcome {
            latencies: (1..=100).map(|ms| ms * 1000).collect(),
            ..Outcome::default()
        };
        assert_eq!(outcome.quantile_ms(0.5), 50.0);
        assert_eq!(outcome.quantile_ms(0.99), 99.0);
        assert_eq!(outcome.quantile_ms(1.0), 100.0);
        assert_eq!(Outcome::default().quantile_ms(0.5), 0.0);
    }
}
