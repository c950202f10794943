//! The transactional outbox: a call to another service that must not be
//! lost (an e-mail, a reminder, an erasure) is written to the caller's own
//! `outbox` table in the same transaction as the change that causes it, and
//! relayed from there until the callee acknowledges it. The callee
//! deduplicates by the key inside the message, so relaying twice (a crash
//! after the call, two replicas) is harmless.
//!
//! Each service declares its messages as one `enum` implementing
//! [`Message`]: the enum names each variant's stored kind and encodes its
//! payload, and decodes both back, so a relay matches messages
//! exhaustively instead of comparing strings.
//!
//! Every service with an outbox creates [`TABLE`] in its migrations (sqlx
//! migrations are per service, so each keeps a copy; a test holds every
//! copy to this one).

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::db::{Db, Pool};
use crate::exec::Exec;
use crate::poll::{self, Pass, Schedule, Wake};
use todo_common::clock::{new_id, now_micros};

/// The outbox table, as every service that has one creates it.
pub const TABLE: &str = "\
CREATE TABLE outbox (
    id              VARCHAR(36) NOT NULL PRIMARY KEY,
    kind            VARCHAR(64) NOT NULL,
    payload         BLOB        NOT NULL,
    attempts        BIGINT      NOT NULL DEFAULT 0,
    next_attempt_at BIGINT      NOT NULL,
    created_at      BIGINT      NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at);";

/// One service's outbox messages, stored as a kind and a payload.
pub trait Message: Sized + Send + 'static {
    /// The stored kind (stable: rows written by an older release must
    /// still decode) and the encoded payload.
    fn encode(&self) -> (&'static str, Vec<u8>);

    /// The message a stored row holds.
    ///
    /// # Errors
    /// An unknown kind, or a payload that is not the kind's message.
    fn decode(kind: &str, payload: &[u8]) -> Result<Self, Undecodable>;
}

/// A stored row that is no message of this service.
#[derive(Debug, thiserror::Error)]
pub enum Undecodable {
    /// Written by a release that knew a kind this one does not.
    #[error("unknown outbox kind {0}")]
    UnknownKind(String),
    #[error("corrupt outbox payload")]
    Corrupt(#[from] prost::DecodeError),
}

/// Delivers one outbox message to the service it is for.
#[tonic::async_trait]
pub trait Deliver: Send + Sync + 'static {
    type Message: Message;

    /// # Errors
    /// Any error leaves the message in the outbox for a later attempt.
    async fn deliver(&self, message: Self::Message) -> Result<(), Status>;
}

/// A [`Deliver`] that takes a stored row: the relay is the same for every
/// service's message type.
#[tonic::async_trait]
trait DeliverStored: Send + Sync + 'static {
    async fn deliver_stored(&self, kind: &str, payload: &[u8]) -> Result<(), Status>;
}

#[tonic::async_trait]
impl<D: Deliver> DeliverStored for D {
    async fn deliver_stored(&self, kind: &str, payload: &[u8]) -> Result<(), Status> {
        let message = match D::Message::decode(kind, payload) {
            Ok(message) => message,
            Err(e @ Undecodable::UnknownKind(_)) => return Err(Status::internal(e.to_string())),
            Err(e @ Undecodable::Corrupt(_)) => return Err(Status::data_loss(e.to_string())),
        };
        self.deliver(message).await
    }
}

/// Writes a message to the outbox inside the caller's transaction, due
/// now.
///
/// # Errors
/// When the insert fails; the caller's transaction then rolls back.
pub async fn enqueue<M: Message>(conn: &mut impl Exec, message: &M) -> Result<(), sqlx::Error> {
    enqueue_at(conn, message, now_micros()).await
}

/// Writes a message to the outbox inside the caller's transaction, first
/// due at `due` (micros) rather than now.
///
/// # Errors
/// When the insert fails; the caller's transaction then rolls back.
pub async fn enqueue_at<M: Message>(
    conn: &mut impl Exec,
    message: &M,
    due: i64,
) -> Result<(), sqlx::Error> {
    let (kind, payload) = message.encode();
    let params = [
        new_id().into(),
        kind.into(),
        payload.into(),
        due.into(),
        now_micros().into(),
    ];
    conn.execute(
        "INSERT INTO outbox (id, kind, payload, attempts, next_attempt_at, created_at) VALUES (?, ?, ?, 0, ?, ?)",
        &params,
    )
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
    /// Where the due messages are read.
    reads: Pool,
    /// Where delivered ones are deleted and failed ones rescheduled.
    writes: Pool,
    deliver: Arc<dyn DeliverStored>,
    wake: Wake,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

impl Relay {
    pub fn new<D: Deliver>(db: &Db, deliver: Arc<D>) -> Self {
        Self {
            reads: db.pool.clone(),
            writes: db.writer().clone(),
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
        .fetch_all(&self.reads)
        .await?;
        let found = Pass::after_batch(rows.len(), BATCH);
        for row in rows {
            let id: String = row.try_get("id")?;
            let kind: String = row.try_get("kind")?;
            let payload: Vec<u8> = row.try_get("payload")?;
            let attempts: i64 = row.try_get("attempts")?;
            match self.deliver.deliver_stored(&kind, &payload).await {
                Ok(()) => {
                    sqlx::query("DELETE FROM outbox WHERE id = ?")
                        .bind(&id)
                        .execute(&self.writes)
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
                        .execute(&self.writes)
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
