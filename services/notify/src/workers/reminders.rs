//! The worker that fires due reminders, once each.
//!
//! Firing claims a task's reminder time with a lease (compare-and-set),
//! and both the in-app notification and the e-mail are deduplicated by
//! task and reminder time, so several replicas fire a reminder exactly
//! once. Each pass first adopts the reminders the previous release wrote
//! while both run (`store::reminders::adopt_previous`).

use std::time::Duration;

use todo_common::CancellationToken;
use todo_common::auth::ServiceChannel;
use todo_common::clock::{new_id, now_micros};
use todo_proto::todo::notify::v1::{EmailTemplate, NotificationKind};
use todo_proto::todo::user::v1::LookupUserRequest;
use todo_proto::todo::user::v1::user_internal_service_client::UserInternalServiceClient;
use todo_store::db::Db;
use todo_store::poll::{self, Pass, Schedule, Wake};
use tonic::Code;

use crate::domain::{DueReminder, NewEmail, NewNotification, Outgoing};
use crate::error::Error;
use crate::store::{emails, inbox, reminders, settings};
use crate::workers::{self, micros_after};

/// How long a claimed reminder belongs to its worker.
const LEASE: Duration = Duration::from_secs(60);
/// How often due reminders are looked for: a reminder fires at most this
/// long after its time (plus the time to send).
const POLL: Duration = Duration::from_secs(1);
const BATCH: i64 = 100;

/// Fires due reminders until cancelled.
#[derive(Clone, Debug)]
pub struct Firer {
    db: Db,
    users: UserInternalServiceClient<ServiceChannel>,
    mail: workers::emails::Worker,
    wake: Wake,
    id: String,
}

impl Firer {
    pub fn new(
        db: Db,
        users: UserInternalServiceClient<ServiceChannel>,
        mail: workers::emails::Worker,
    ) -> Self {
        Self {
            db,
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

    /// Fires what is due. [`Pass::Idle`] unless a whole batch of the
    /// previous release's rows was adopted: reminders are due by the
    /// second, so the next look waits for the poll interval or a poke.
    async fn pass(&self) -> Result<Pass, Error> {
        let pool = &self.db.pool;
        let now = now_micros();
        let adopted = reminders::adopt_previous(&self.db, now, BATCH).await?;
        for due in reminders::due(pool, now, BATCH).await? {
            let until = micros_after(now, LEASE);
            if !reminders::claim(self.db.writer(), &self.id, &due, now, until).await? {
                continue;
            }
            match self.fire(&due).await {
                Ok(()) => {
                    reminders::mark_fired(self.db.writer(), &self.id, &due, now_micros()).await?;
                    tracing::info!(task_id = %due.task_id, "reminder fired");
                }
                Err(e) => {
                    // Leave the lease to expire: the reminder is retried then.
                    tracing::warn!(task_id = %due.task_id, error = %e, "reminder not fired yet");
                }
            }
        }
        Ok(Pass::after_batch(adopted, BATCH))
    }

    /// The in-app notification always; the e-mail when the address is
    /// verified and the user wants reminder e-mails. Contact data is looked
    /// up now, so a changed address is honoured.
    async fn fire(&self, due: &DueReminder) -> Result<(), Error> {
        let DueReminder {
            task_id,
            user_id,
            task_title: title,
            remind_time: at,
        } = due;
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
        inbox::add(self.db.writer(), &notification, now).await?;
        if !settings::email_reminders(&self.db.pool, user_id).await? {
            return Ok(());
        }
        let contact = match self
            .users
            .clone()
            .lookup_user(LookupUserRequest {
                user_id: user_id.clone(),
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
        let email = NewEmail {
            dedup_key: format!("reminder-email:{task_id}:{at}"),
            user_id: user_id.clone(),
            mail: Outgoing {
                template: EmailTemplate::Reminder,
                to_email: contact.email,
                display_name: contact.display_name,
                token: None,
                task_title: Some(title.clone()).filter(|t| !t.is_empty()),
                invitation: None,
                digest: None,
            },
        };
        if emails::enqueue(self.db.writer(), &email, now).await? {
            self.mail.poke();
        }
        Ok(())
    }
}
