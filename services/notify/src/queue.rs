//! The durable e-mail queue and the worker that drains it.
//!
//! A row is written before `SendEmail` returns. The worker claims due rows
//! with a lease by compare-and-set (`UPDATE ... WHERE lease is free`), so
//! two workers or two replicas never send one row at the same time, and a
//! worker that dies mid-send leaves a lease that simply expires.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
use todo_common::CancellationToken;
use todo_common::clock::{new_id, now_micros};
use todo_common::db::{Pool, is_unique_violation};
use todo_common::outbox::backoff;
use todo_proto::todo::notify::v1::{EmailTemplate, SendEmailRequest};
use tokio::sync::Notify;

use crate::mail::{Mailer, Outgoing, SendError};

/// How long a claimed row belongs to its worker.
const LEASE: Duration = Duration::from_secs(60);
/// Attempts before a temporarily failing e-mail is declared dead.
pub const MAX_ATTEMPTS: i64 = 12;
/// Rows claimed per pass.
const BATCH: i64 = 50;
/// How often the worker looks for due rows when nobody pokes it.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Queues an e-mail; `false` when its dedup key was queued before.
///
/// # Errors
/// When the database fails.
pub async fn enqueue(pool: &Pool, req: &SendEmailRequest, now: i64) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO emails (id, dedup_key, user_id, template, to_email, display_name, token, state, attempts, next_attempt_at, create_time) \
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
    )
    .bind(new_id())
    .bind(&req.dedup_key)
    .bind(&req.user_id)
    .bind(i64::from(req.template))
    .bind(&req.to_email)
    .bind(&req.display_name)
    .bind(Some(req.token.clone()).filter(|t| !t.is_empty()))
    .bind(now)
    .bind(now)
    .execute(pool)
    .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Drains the queue until cancelled.
#[derive(Clone, Debug)]
pub struct Worker {
    pool: Pool,
    mailer: Mailer,
    wake: Arc<Notify>,
    /// Identifies this worker's leases.
    id: String,
}

impl Worker {
    pub fn new(pool: Pool, mailer: Mailer) -> Self {
        Self {
            pool,
            mailer,
            wake: Arc::new(Notify::new()),
            id: new_id(),
        }
    }

    /// Asks the worker to look at the queue now.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let pause = match self.pass().await {
                Ok(true) => Duration::ZERO,
                Ok(false) => IDLE_POLL,
                Err(e) => {
                    tracing::warn!(error = %e, "e-mail worker cannot read the queue");
                    IDLE_POLL
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Claims and sends what is due; `true` when a full batch was seen.
    async fn pass(&self) -> Result<bool, sqlx::Error> {
        let now = now_micros();
        let candidates: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM emails WHERE state = 'pending' AND next_attempt_at <= ? \
             AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_attempt_at, id LIMIT ?",
        )
        .bind(now)
        .bind(now)
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        let full = i64::try_from(candidates.len()).unwrap_or(i64::MAX) == BATCH;
        for id in candidates {
            if self.claim(&id, now).await? {
                self.deliver(&id).await?;
            }
        }
        Ok(full)
    }

    /// Takes the lease on one row unless another worker holds it.
    async fn claim(&self, id: &str, now: i64) -> Result<bool, sqlx::Error> {
        let lease_until = now + i64::try_from(LEASE.as_micros()).unwrap_or(i64::MAX / 2);
        let done = sqlx::query(
            "UPDATE emails SET lease_owner = ?, lease_until = ? WHERE id = ? AND state = 'pending' \
             AND (lease_until IS NULL OR lease_until < ?)",
        )
        .bind(&self.id)
        .bind(lease_until)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn deliver(&self, id: &str) -> Result<(), sqlx::Error> {
        let row = sqlx::query(
            "SELECT template, to_email, display_name, token, attempts FROM emails WHERE id = ?",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let attempts: i64 = row.try_get("attempts")?;
        let mail = Outgoing {
            template: EmailTemplate::try_from(
                i32::try_from(row.try_get::<i64, _>("template")?).unwrap_or(0),
            )
            .unwrap_or(EmailTemplate::Unspecified),
            to_email: row.try_get("to_email")?,
            display_name: row.try_get("display_name")?,
            token: row.try_get("token")?,
        };
        let now = now_micros();
        match self.mailer.send(&mail).await {
            Ok(()) => {
                // The link token is no longer needed once sent.
                sqlx::query(
                    "UPDATE emails SET state = 'sent', sent_time = ?, token = NULL, attempts = attempts + 1, \
                     lease_owner = NULL, lease_until = NULL, last_error = NULL WHERE id = ? AND lease_owner = ?",
                )
                .bind(now)
                .bind(id)
                .bind(&self.id)
                .execute(&self.pool)
                .await?;
                tracing::info!(email_id = %id, "e-mail sent");
            }
            Err(e) => {
                let dead = matches!(e, SendError::Permanent(_)) || attempts + 1 >= MAX_ATTEMPTS;
                let next =
                    now + i64::try_from(backoff(attempts).as_micros()).unwrap_or(i64::MAX / 2);
                let reason: String = e.to_string().chars().take(500).collect();
                tracing::warn!(email_id = %id, attempts = attempts + 1, dead, reason = %reason, "e-mail not sent");
                sqlx::query(
                    "UPDATE emails SET state = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ?, \
                     lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
                )
                .bind(if dead { "dead" } else { "pending" })
                .bind(next)
                .bind(reason)
                .bind(id)
                .bind(&self.id)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }
}
