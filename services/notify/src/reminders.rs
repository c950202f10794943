//! Reminders: scheduled, moved and cancelled by the task service, fired
//! once at their time by a worker.
//!
//! Every change carries the task's revision and is applied only if newer
//! than the last one applied, so late or repeated deliveries change
//! nothing. Firing claims a row with a lease (compare-and-set), and both
//! the in-app notification and the e-mail are deduplicated by task and
//! reminder time, so several replicas fire a reminder exactly once.

use std::time::Duration;

use sqlx::{AnyConnection, Row};
use todo_common::CancellationToken;
use todo_common::auth::ServiceChannel;
use todo_common::clock::{new_id, now_micros};
use todo_proto::todo::notify::v1::{EmailTemplate, NotificationKind, SendEmailRequest};
use todo_proto::todo::user::v1::LookupUserRequest;
use todo_proto::todo::user::v1::user_internal_service_client::UserInternalServiceClient;
use todo_store::db::{Pool, is_unique_violation};
use todo_store::poll::{self, Pass, Schedule, Wake};
use tonic::Code;

use crate::error::Error;
use crate::inbox::{self, NewNotification};
use crate::queue;

/// A reminder as the task service last described it.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub task_id: &'a str,
    pub user_id: &'a str,
    pub task_title: &'a str,
    /// `None` cancels.
    pub remind_time: Option<i64>,
    pub revision: i64,
}

/// Applies a schedule, move or cancel unless a newer change was applied.
///
/// # Errors
/// When the database fails.
pub async fn apply(pool: &Pool, c: &Change<'_>, now: i64) -> Result<(), Error> {
    let state = if c.remind_time.is_some() {
        "scheduled"
    } else {
        "cancelled"
    };
    let updated = sqlx::query(
        "UPDATE reminders SET user_id = ?, task_title = ?, remind_time = ?, revision = ?, state = ?, \
         lease_owner = NULL, lease_until = NULL, update_time = ? WHERE task_id = ? AND revision < ?",
    )
    .bind(c.user_id)
    .bind(c.task_title)
    .bind(c.remind_time)
    .bind(c.revision)
    .bind(state)
    .bind(now)
    .bind(c.task_id)
    .bind(c.revision)
    .execute(pool)
    .await?;
    if updated.rows_affected() == 1 {
        return Ok(());
    }
    let inserted = sqlx::query(
        "INSERT INTO reminders (task_id, user_id, task_title, remind_time, revision, state, update_time) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(c.task_id)
    .bind(c.user_id)
    .bind(c.task_title)
    .bind(c.remind_time)
    .bind(c.revision)
    .bind(state)
    .bind(now)
    .execute(pool)
    .await;
    match inserted {
        // The row exists at this revision or a newer one: nothing to do.
        Err(e) if is_unique_violation(&e) => Ok(()),
        other => other.map(drop).map_err(Error::from),
    }
}

/// Erases a user's reminders.
///
/// # Errors
/// When the database fails.
pub async fn erase(conn: &mut AnyConnection, user_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM reminders WHERE user_id = ?")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// How long a claimed reminder belongs to its worker.
const LEASE: Duration = Duration::from_secs(60);
/// How often due reminders are looked for: a reminder fires at most this
/// long after its time (plus the time to send).
const POLL: Duration = Duration::from_secs(1);
const BATCH: i64 = 100;

/// Fires due reminders until cancelled.
#[derive(Clone, Debug)]
pub struct Firer {
    pool: Pool,
    users: UserInternalServiceClient<ServiceChannel>,
    mail: queue::Worker,
    wake: Wake,
    id: String,
}

impl Firer {
    pub fn new(
        pool: Pool,
        users: UserInternalServiceClient<ServiceChannel>,
        mail: queue::Worker,
    ) -> Self {
        Self {
            pool,
            users,
            mail,
            wake: Wake::default(),
            id: new_id(),
        }
    }

    /// Asks the worker to look now (a reminder was scheduled).
    pub fn poke(&self) {
        self.wake.poke();
    }

    /// Fires reminders until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let schedule = Schedule {
            worker: "reminder worker",
            idle: POLL,
            wake: Some(self.wake.clone()),
        };
        let firer = &self;
        poll::run(schedule, shutdown, move || firer.pass()).await;
    }

    /// Fires what is due. Always [`Pass::Idle`]: reminders are due by the
    /// second, so the next look waits for the poll interval or a poke.
    async fn pass(&self) -> Result<Pass, Error> {
        let now = now_micros();
        let due = sqlx::query(
            "SELECT task_id, user_id, task_title, remind_time, revision FROM reminders \
             WHERE state = 'scheduled' AND remind_time <= ? AND (lease_until IS NULL OR lease_until < ?) \
             ORDER BY remind_time LIMIT ?",
        )
        .bind(now)
        .bind(now)
        .bind(BATCH)
        .fetch_all(&self.pool)
        .await?;
        for row in due {
            let task_id: String = row.try_get("task_id")?;
            let revision: i64 = row.try_get("revision")?;
            if !self.claim(&task_id, revision, now).await? {
                continue;
            }
            let fired = self
                .fire(
                    &task_id,
                    &row.try_get::<String, _>("user_id")?,
                    &row.try_get::<String, _>("task_title")?,
                    row.try_get::<Option<i64>, _>("remind_time")?.unwrap_or(now),
                )
                .await;
            match fired {
                Ok(()) => {
                    sqlx::query(
                        "UPDATE reminders SET state = 'fired', fire_time = ?, lease_owner = NULL, lease_until = NULL \
                         WHERE task_id = ? AND revision = ? AND lease_owner = ?",
                    )
                    .bind(now_micros())
                    .bind(&task_id)
                    .bind(revision)
                    .bind(&self.id)
                    .execute(&self.pool)
                    .await?;
                    tracing::info!(task_id = %task_id, "reminder fired");
                }
                Err(e) => {
                    // Leave the lease to expire: the reminder is retried then.
                    tracing::warn!(task_id = %task_id, error = %e, "reminder not fired yet");
                }
            }
        }
        Ok(Pass::Idle)
    }

    async fn claim(&self, task_id: &str, revision: i64, now: i64) -> Result<bool, Error> {
        let until = now + i64::try_from(LEASE.as_micros()).unwrap_or(i64::MAX / 2);
        let done = sqlx::query(
            "UPDATE reminders SET lease_owner = ?, lease_until = ? WHERE task_id = ? AND revision = ? \
             AND state = 'scheduled' AND (lease_until IS NULL OR lease_until < ?)",
        )
        .bind(&self.id)
        .bind(until)
        .bind(task_id)
        .bind(revision)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The in-app notification always; the e-mail when the address is
    /// verified and the user wants reminder e-mails. Contact data is looked
    /// up now, so a changed address is honoured.
    async fn fire(&self, task_id: &str, user_id: &str, title: &str, at: i64) -> Result<(), Error> {
        let now = now_micros();
        let body = format!("\"{title}\" is due.");
        let key = format!("reminder:{task_id}:{at}");
        let notification = NewNotification {
            user_id,
            kind: NotificationKind::Reminder,
            title: &format!("Reminder: {title}"),
            body: &body,
            task_id,
            dedup_key: &key,
        };
        inbox::add(&self.pool, &notification, now).await?;
        if !inbox::email_reminders(&self.pool, user_id).await? {
            return Ok(());
        }
        let contact = match self
            .users
            .clone()
            .lookup_user(LookupUserRequest {
                user_id: user_id.to_owned(),
            })
            .await
        {
            Ok(c) => c.into_inner(),
            // The account is gone: nobody to e-mail.
            Err(s) if s.code() == Code::NotFound => return Ok(()),
            Err(s) => {
                return Err(Error::Internal(anyhow::anyhow!(
                    "user lookup failed: {}",
                    s.code()
                )));
            }
        };
        if !contact.email_verified {
            return Ok(());
        }
        let email = SendEmailRequest {
            dedup_key: format!("reminder-email:{task_id}:{at}"),
            user_id: user_id.to_owned(),
            template: EmailTemplate::Reminder.into(),
            to_email: contact.email,
            display_name: contact.display_name,
            task_title: title.to_owned(),
            ..SendEmailRequest::default()
        };
        if queue::enqueue(&self.pool, &email, None, now).await? {
            self.mail.poke();
        }
        Ok(())
    }
}
