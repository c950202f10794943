//! The transactional outbox: a call to another service that must not be
//! lost (an e-mail, a reminder, an erasure) is written to the caller's own
//! `outbox` table in the same transaction as the change that causes it, and
//! relayed from there until the callee acknowledges it. The callee
//! deduplicates by the key inside the message, so relaying twice (a crash
//! after the call, two replicas) is harmless.
//!
//! Every service with an outbox has this table (see its migrations):
//! `outbox(id, kind, payload, attempts, next_attempt_at, created_at)`.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::clock::{new_id, now_micros};
use crate::db::Pool;
use crate::poll::{self, Pass, Schedule, Wake};

/// Delivers one outbox message to the service it is for.
#[tonic::async_trait]
pub trait Deliver: Send + Sync + 'static {
    /// # Errors
    /// Any error leaves the message in the outbox for a later attempt.
    async fn deliver(&self, kind: &str, payload: &[u8]) -> Result<(), Status>;
}

/// Writes a message to the outbox inside the caller's transaction.
///
/// # Errors
/// When the insert fails; the caller's transaction then rolls back.
pub async fn enqueue(
    conn: &mut sqlx::AnyConnection,
    kind: &str,
    payload: Vec<u8>,
) -> Result<(), sqlx::Error> {
    let now = now_micros();
    sqlx::query("INSERT INTO outbox (id, kind, payload, attempts, next_attempt_at, created_at) VALUES (?, ?, ?, 0, ?, ?)")
        .bind(new_id())
        .bind(kind)
        .bind(payload)
        .bind(now)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// How many messages one pass of the relay reads.
const BATCH: i64 = 100;
/// The longest wait between two attempts of one message.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often the relay looks at the table when nobody pokes it, so messages
/// written by another replica, or left by a crash, are not stranded.
const IDLE_POLL: Duration = Duration::from_secs(2);

/// Relays the outbox to its callee until cancelled.
#[derive(Clone)]
pub struct Relay {
    pool: Pool,
    deliver: Arc<dyn Deliver>,
    wake: Wake,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

impl Relay {
    pub fn new(pool: Pool, deliver: Arc<dyn Deliver>) -> Self {
        Self {
            pool,
            deliver,
            wake: Wake::default(),
        }
    }

    /// Asks the relay to look at the outbox now; call it after committing a
    /// transaction that enqueued something.
    pub fn poke(&self) {
        self.wake.poke();
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let schedule = Schedule {
            worker: "outbox relay",
            idle: IDLE_POLL,
            wake: Some(self.wake.clone()),
        };
        let relay = &self;
        poll::run(schedule, shutdown, move || relay.pass()).await;
    }

    /// Delivers what is due.
    async fn pass(&self) -> Result<Pass, sqlx::Error> {
        let now = now_micros();
        let rows = sqlx::query(
            "SELECT id, kind, payload, attempts FROM outbox WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
        )
        .bind(now)
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        let found = Pass::after_batch(rows.len(), BATCH);
        for row in rows {
            let id: String = row.try_get("id")?;
            let kind: String = row.try_get("kind")?;
            let payload: Vec<u8> = row.try_get("payload")?;
            let attempts: i64 = row.try_get("attempts")?;
            match self.deliver.deliver(&kind, &payload).await {
                Ok(()) => {
                    sqlx::query("DELETE FROM outbox WHERE id = ?")
                        .bind(&id)
                        .execute(&self.pool)
                        .await?;
                }
                Err(status) => {
                    let delay = backoff(attempts, MAX_BACKOFF);
                    tracing::warn!(outbox_id = %id, kind = %kind, code = ?status.code(), retry_in_ms = delay.as_millis() as u64, "outbox delivery failed");
                    let next =
                        now_micros() + i64::try_from(delay.as_micros()).unwrap_or(i64::MAX / 2);
                    sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?")
                        .bind(next)
                        .bind(&id)
                        .execute(&self.pool)
                        .await?;
                }
            }
        }
        Ok(found)
    }
}

/// Exponential backoff from 200 ms, capped, with up to 25% jitter so that
/// replicas do not retry in lockstep.
pub fn backoff(attempts: i64, cap: Duration) -> Duration {
    let jitter = rand::random::<f64>() * 0.25;
    base_backoff(attempts, cap).mul_f64(1.0 + jitter).min(cap)
}

/// [`backoff`] without its jitter: the shortest wait it can give.
pub fn base_backoff(attempts: i64, cap: Duration) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    Duration::from_millis(200).saturating_mul(1 << exp).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0, MAX_BACKOFF) < Duration::from_millis(300));
        assert!(backoff(3, MAX_BACKOFF) >= Duration::from_millis(1600));
        assert_eq!(backoff(40, MAX_BACKOFF), MAX_BACKOFF);
    }
}
