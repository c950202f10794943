//! The worker that drains the e-mail queue: claims due e-mails with a
//! lease, sends several at a time, and records each outcome with its
//! retry policy.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use todo_common::CancellationToken;
use todo_common::clock::{new_id, now_micros};
use todo_store::db::Db;
use todo_store::outbox::backoff;
use todo_store::poll::{self, Pass, Schedule, Wake};

use crate::error::Error;
use crate::mail::{Mailer, SendError};
use crate::store::emails::{self, Failure};
use crate::workers::micros_after;

/// How long a claimed row belongs to its worker.
const LEASE: Duration = Duration::from_secs(60);
/// Attempts before a temporarily failing e-mail is declared dead. With
/// [`MAX_BACKOFF`], the attempts span about three hours, so a mail server
/// down for a few hours loses nothing; past that an operator
/// finds the e-mail among the dead and can requeue it.
pub const MAX_ATTEMPTS: i64 = 25;
/// The longest wait between two attempts of one e-mail.
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// Rows claimed per pass.
const BATCH: i64 = 50;
/// E-mails one worker sends at once. Each SMTP transaction waits mostly
/// on round trips, so throughput grows with sends in flight (measured in
/// `benches/outbox_drain.rs`: 8 gave about 270 e-mails/s; 32 gives 600 to
/// 700 on SQLite and about 800 on MariaDB, with two workers).
pub const SENDS_IN_FLIGHT: usize = 32;
/// How often the worker looks for due rows when nobody pokes it.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Drains the queue until cancelled.
#[derive(Clone, Debug)]
pub struct Worker {
    db: Db,
    mailer: Mailer,
    wake: Wake,
    /// Identifies this worker's leases.
    id: String,
}

impl Worker {
    pub fn new(db: Db, mailer: Mailer) -> Self {
        Self {
            db,
            mailer,
            wake: Wake::default(),
            id: new_id(),
        }
    }

    /// Another worker on the same queue, woken by the same pokes, with
    /// leases of its own.
    #[must_use]
    pub fn sibling(&self) -> Self {
        Self {
            id: new_id(),
            ..self.clone()
        }
    }

    /// Asks the worker to look at the queue now.
    pub fn poke(&self) {
        self.wake.poke();
    }

    /// Sends e-mails until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let schedule = Schedule {
            worker: "e-mail worker",
            idle: IDLE_POLL,
            wake: Some(self.wake.clone()),
        };
        let worker = &self;
        poll::run(schedule, shutdown, move || worker.pass()).await;
    }

    /// Claims and sends what is due, several at a time.
    async fn pass(&self) -> Result<Pass, Error> {
        let now = now_micros();
        let claimed =
            emails::claim(&self.db, &self.id, now, micros_after(now, LEASE), BATCH).await?;
        let found = Pass::after_batch(claimed.len(), BATCH);
        futures::stream::iter(claimed)
            .map(|id| async move { self.deliver(&id).await })
            .buffer_unordered(SENDS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(found)
    }

    async fn deliver(&self, id: &str) -> Result<(), Error> {
        let pool = &self.db.pool;
        let (mail, attempts) = emails::load(pool, id).await?;
        let now = now_micros();
        match self.mailer.send(&mail).await {
            Ok(()) => {
                emails::mark_sent(self.db.writer(), id, &self.id, now).await?;
                tracing::info!(email_id = %id, "e-mail sent");
            }
            Err(e) => {
                let failure = Failure {
                    dead: matches!(e, SendError::Permanent(_)) || attempts + 1 >= MAX_ATTEMPTS,
                    next_attempt_at: micros_after(now, backoff(attempts, MAX_BACKOFF)),
                    reason: e.to_string().chars().take(500).collect(),
                };
                tracing::warn!(email_id = %id, attempts = attempts + 1, dead = failure.dead, reason = %failure.reason, "e-mail not sent");
                emails::mark_failed(self.db.writer(), id, &self.id, &failure).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use todo_store::outbox::base_backoff;

    use super::*;

    #[test]
    fn a_failing_email_is_retried_for_hours_before_it_is_dead() {
        // The shortest possible schedule: jitter only lengthens it.
        let span: Duration = (0..MAX_ATTEMPTS - 1)
            .map(|a| base_backoff(a, MAX_BACKOFF))
            .sum();
        assert!(span >= Duration::from_secs(3 * 3600), "{span:?}");
    }
}
