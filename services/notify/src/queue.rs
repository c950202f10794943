//! The durable e-mail queue and the worker that drains it.
//!
//! A row is written before `SendEmail` returns. The worker claims due rows
//! with a lease: on MySQL/MariaDB it picks them with `FOR UPDATE SKIP
//! LOCKED`, on SQLite by one conditional update. Two workers or two
//! replicas never send one row at the same time, and a worker that dies
//! mid-send leaves a lease that simply expires.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use sqlx::Row;
use todo_common::CancellationToken;
use todo_common::clock::{new_id, now_micros};
use todo_proto::todo::notify::v1::{EmailTemplate, SendEmailRequest};
use todo_store::db::{Backend, Db, Pool, is_contention, is_unique_violation, retry_contended};
use todo_store::outbox::backoff;
use todo_store::poll::{self, Pass, Schedule, Wake};

use crate::invitation::Invitation;
use crate::mail::{Mailer, Outgoing, SendError};

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
const SENDS_IN_FLIGHT: usize = 32;
/// How often the worker looks for due rows when nobody pokes it.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Queues an e-mail, with the invitation it carries if it is one; `false`
/// when its dedup key was queued before.
///
/// # Errors
/// When the database fails.
pub async fn enqueue(
    pool: &Pool,
    req: &SendEmailRequest,
    invitation: Option<&Invitation>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    // On MySQL an insert can lose a deadlock to a worker's locking claim
    // of the same index range; it is then rolled back whole and retried.
    let id = new_id();
    let result = retry_contended(is_contention, || {
        sqlx::query(
            "INSERT INTO emails (id, dedup_key, user_id, template, to_email, display_name, token, task_title, \
             list_title, inviter_name, invite_role, state, attempts, next_attempt_at, create_time) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
        )
        .bind(&id)
        .bind(&req.dedup_key)
        .bind(&req.user_id)
        .bind(i64::from(req.template))
        .bind(&req.to_email)
        .bind(&req.display_name)
        .bind(Some(req.token.clone()).filter(|t| !t.is_empty()))
        .bind(Some(req.task_title.clone()).filter(|t| !t.is_empty()))
        .bind(invitation.map(|i| i.list_title.clone()))
        .bind(invitation.map(|i| i.inviter_name.clone()))
        .bind(invitation.map(|i| i.role.as_str()))
        .bind(now)
        .bind(now)
        .execute(pool)
    })
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
    async fn pass(&self) -> Result<Pass, sqlx::Error> {
        let claimed = self.claim_batch(now_micros()).await?;
        let found = Pass::after_batch(claimed.len(), BATCH);
        futures::stream::iter(claimed)
            .map(|id| async move { self.deliver(&id).await })
            .buffer_unordered(SENDS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(found)
    }

    /// Takes the lease on a batch of due e-mails. On MySQL/MariaDB the rows
    /// are locked with `SKIP LOCKED`, so concurrent workers of any replica
    /// claim disjoint batches without waiting on each other; SQLite has a
    /// single writer, so one conditional update claims the batch.
    async fn claim_batch(&self, now: i64) -> Result<Vec<String>, sqlx::Error> {
        let lease_until = now + i64::try_from(LEASE.as_micros()).unwrap_or(i64::MAX / 2);
        const DUE: &str = "state = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)";
        match self.db.backend {
            Backend::MySql => {
                let mut tx = self.db.begin_write().await?;
                let ids: Vec<String> = sqlx::query_scalar(&format!(
                    "SELECT id FROM emails WHERE {DUE} ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED"
                ))
                .bind(now)
                .bind(now)
                .bind(BATCH)
                .fetch_all(&mut *tx)
                .await?;
                if !ids.is_empty() {
                    let marks = vec!["?"; ids.len()].join(", ");
                    let sql = format!(
                        "UPDATE emails SET lease_owner = ?, lease_until = ? WHERE id IN ({marks})"
                    );
                    let mut update = sqlx::query(&sql).bind(&self.id).bind(lease_until);
                    for id in &ids {
                        update = update.bind(id);
                    }
                    update.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(ids)
            }
            Backend::Sqlite => {
                sqlx::query(&format!(
                    "UPDATE emails SET lease_owner = ?, lease_until = ? WHERE id IN \
                     (SELECT id FROM emails WHERE {DUE} ORDER BY next_attempt_at, id LIMIT ?)"
                ))
                .bind(&self.id)
                .bind(lease_until)
                .bind(now)
                .bind(now)
                .bind(BATCH)
                .execute(&self.db.pool)
                .await?;
                sqlx::query_scalar("SELECT id FROM emails WHERE lease_owner = ? AND lease_until = ? AND state = 'pending'")
                    .bind(&self.id)
                    .bind(lease_until)
                    .fetch_all(&self.db.pool)
                    .await
            }
        }
    }

    async fn deliver(&self, id: &str) -> Result<(), sqlx::Error> {
        let (mail, attempts) = load(&self.db.pool, id).await?;
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
                .execute(&self.db.pool)
                .await?;
                tracing::info!(email_id = %id, "e-mail sent");
            }
            Err(e) => {
                let dead = matches!(e, SendError::Permanent(_)) || attempts + 1 >= MAX_ATTEMPTS;
                let next = now
                    + i64::try_from(backoff(attempts, MAX_BACKOFF).as_micros())
                        .unwrap_or(i64::MAX / 2);
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
                .execute(&self.db.pool)
                .await?;
            }
        }
        Ok(())
    }
}

/// A queued e-mail as the mailer takes it, and how often it was tried.
async fn load(pool: &Pool, id: &str) -> Result<(Outgoing, i64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT template, to_email, display_name, token, task_title, list_title, inviter_name, invite_role, attempts \
         FROM emails WHERE id = ?",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    let mail = Outgoing {
        template: EmailTemplate::try_from(
            i32::try_from(row.try_get::<i64, _>("template")?).unwrap_or(0),
        )
        .unwrap_or(EmailTemplate::Unspecified),
        to_email: row.try_get("to_email")?,
        display_name: row.try_get("display_name")?,
        token: row.try_get("token")?,
        task_title: row.try_get("task_title")?,
        invitation: Invitation::from_stored(
            row.try_get("list_title")?,
            row.try_get("inviter_name")?,
            row.try_get("invite_role")?,
        ),
    };
    Ok((mail, row.try_get("attempts")?))
}

/// E-mails that will not be tried again, newest first.
///
/// # Errors
/// When the database fails.
pub async fn dead(
    pool: &Pool,
    limit: i64,
) -> Result<Vec<todo_proto::todo::notify::v1::DeadEmail>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, user_id, template, attempts, last_error, create_time FROM emails WHERE state = 'dead' \
         ORDER BY create_time DESC, id DESC LIMIT ?",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(todo_proto::todo::notify::v1::DeadEmail {
                id: r.try_get("id")?,
                user_id: r.try_get("user_id")?,
                template: i32::try_from(r.try_get::<i64, _>("template")?).unwrap_or_default(),
                attempts: r.try_get("attempts")?,
                last_error: r
                    .try_get::<Option<String>, _>("last_error")?
                    .unwrap_or_default(),
                create_time: Some(todo_common::clock::to_timestamp(r.try_get("create_time")?)),
            })
        })
        .collect()
}

/// Gives a dead e-mail a fresh round of attempts; `false` when there is no
/// dead e-mail with that id.
///
/// # Errors
/// When the database fails.
pub async fn requeue(pool: &Pool, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE emails SET state = 'pending', attempts = 0, next_attempt_at = ?, last_error = NULL \
         WHERE id = ? AND state = 'dead'",
    )
    .bind(now)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use todo_store::outbox::base_backoff;

    use super::*;
    use crate::invitation::Role;

    #[tokio::test]
    async fn an_invitation_comes_out_of_the_queue_as_it_went_in() {
        let dir = tempfile::tempdir().unwrap();
        let state = crate::testing::state(&dir).await;
        let pool = &state.db.pool;
        let req = SendEmailRequest {
            dedup_key: "invite-mail:1".into(),
            template: EmailTemplate::Invitation.into(),
            to_email: "grace@example.com".into(),
            ..SendEmailRequest::default()
        };
        let invitation = Invitation {
            list_title: "Groceries".into(),
            inviter_name: "Ada".into(),
            role: Role::Editor,
        };
        assert!(enqueue(pool, &req, Some(&invitation), 1).await.unwrap());
        let id: String = sqlx::query_scalar("SELECT id FROM emails")
            .fetch_one(pool)
            .await
            .unwrap();
        let (mail, attempts) = load(pool, &id).await.unwrap();
        assert_eq!(mail.template, EmailTemplate::Invitation);
        assert_eq!(mail.display_name, "");
        assert_eq!(mail.invitation, Some(invitation));
        assert_eq!(attempts, 0);
    }

    #[test]
    fn a_failing_email_is_retried_for_hours_before_it_is_dead() {
        // The shortest possible schedule: jitter only lengthens it.
        let span: Duration = (0..MAX_ATTEMPTS - 1)
            .map(|a| base_backoff(a, MAX_BACKOFF))
            .sum();
        assert!(span >= Duration::from_secs(3 * 3600), "{span:?}");
    }
}
