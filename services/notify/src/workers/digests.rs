//! The worker that sends daily digests: one per user and local date.
//!
//! A due digest is claimed with a lease (compare-and-set). The worker then
//! asks the task service for the user's due tasks and the user service for
//! the address, and sends the digest in the transaction that records the
//! date as done, only if its lease still stands (`store::digests`). A
//! digest that cannot be made yet (a service down) keeps its lease until
//! it expires and is tried again then, until it is more than
//! [`LATE_LIMIT_MICROS`] late.

use std::time::Duration;

use todo_common::CancellationToken;
use todo_common::auth::ServiceChannel;
use todo_common::clock::{new_id, now_micros, to_timestamp};
use todo_proto::todo::notify::v1::{EmailTemplate, NotificationKind};
use todo_proto::todo::task::v1::ListDueTasksRequest;
use todo_proto::todo::task::v1::task_internal_service_client::TaskInternalServiceClient;
use todo_proto::todo::user::v1::user_internal_service_client::UserInternalServiceClient;
use todo_proto::todo::user::v1::{LookupUserRequest, UserContact};
use todo_store::db::{Db, is_contention, retry_contended};
use todo_store::poll::{self, Pass, Schedule, Wake};

use crate::calls::call;
use crate::domain::digest::{LATE_LIMIT_MICROS, LINES_MAX, date_key};
use crate::domain::{Digest, NewEmail, NewNotification, Outgoing};
use crate::error::Error;
use crate::store::digests::{self, DueDigest};
use crate::store::{emails, inbox, zones};
use crate::workers::{self, micros_after};
use todo_common::time_zone::{self as zone, Tz};

/// How long a claimed digest belongs to its worker; also how long a
/// digest that could not be made waits before it is tried again.
const LEASE: Duration = Duration::from_secs(60);
/// How often due digests are looked for.
const POLL: Duration = Duration::from_secs(1);
const BATCH: i64 = 50;

/// Sends due digests until cancelled.
#[derive(Clone, Debug)]
pub struct Digester {
    db: Db,
    users: UserInternalServiceClient<ServiceChannel>,
    tasks: TaskInternalServiceClient<ServiceChannel>,
    mail: workers::emails::Worker,
    wake: Wake,
    /// Identifies this worker's leases.
    id: String,
}

/// What a due digest comes to.
enum Outcome {
    /// Sent to the user's address and inbox.
    Sent(Box<(UserContact, Digest)>),
    /// Nothing to send: no due task, no verified address, no account, or
    /// too late.
    Nothing(&'static str),
}

impl Digester {
    pub fn new(
        db: Db,
        users: UserInternalServiceClient<ServiceChannel>,
        tasks: TaskInternalServiceClient<ServiceChannel>,
        mail: workers::emails::Worker,
    ) -> Self {
        Self {
            db,
            users,
            tasks,
            mail,
            wake: Wake::default(),
            id: new_id(),
        }
    }

    /// Another worker on the same schedules, with leases of its own (as
    /// another replica's).
    #[cfg(test)]
    #[must_use]
    pub fn sibling(&self) -> Self {
        Self {
            id: new_id(),
            ..self.clone()
        }
    }

    /// Asks the worker to look now (a schedule changed).
    pub fn poke(&self) {
        self.wake.poke();
    }

    /// Sends digests until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let schedule = Schedule {
            worker: "digest worker",
            idle: POLL,
            wake: Some(self.wake.clone()),
        };
        let digester = &self;
        poll::run(schedule, shutdown, move || digester.pass(now_micros())).await;
    }

    /// Sends the digests due at `now` that no other worker holds. A
    /// digest that cannot be made now is tried again when its lease ends.
    pub async fn pass(&self, now: i64) -> Result<Pass, Error> {
        let due = digests::due(&self.db.pool, now, BATCH).await?;
        for d in &due {
            let until = micros_after(now, LEASE);
            if !digests::claim(self.db.writer(), &self.id, d, now, until).await? {
                continue;
            }
            let date = date_key(d.date);
            match self.make(d, now).await {
                Ok(outcome) => self.finish(d, outcome, now).await?,
                Err(e) => {
                    tracing::warn!(user_id = %d.user_id, date = %date, error = %e, "digest not made yet");
                }
            }
        }
        Ok(Pass::after_batch(due.len(), BATCH))
    }

    /// What `d` comes to: the user's tasks due before the next local day
    /// starts, earliest first, for a verified address.
    async fn make(&self, d: &DueDigest, now: i64) -> Result<Outcome, Error> {
        if now - d.at > LATE_LIMIT_MICROS {
            return Ok(Outcome::Nothing("too late"));
        }
        let tz = zones::get(&self.db.pool, &d.user_id)
            .await?
            .unwrap_or(Tz::UTC);
        let next_day = d.date.succ_opt().unwrap_or(d.date);
        let request = ListDueTasksRequest {
            user_id: d.user_id.clone(),
            due_before: Some(to_timestamp(zone::start_of_day(next_day, tz))),
            page_size: i32::try_from(LINES_MAX).unwrap_or(i32::MAX),
        };
        let listed = call("task service", self.tasks.clone().list_due_tasks(request))
            .await
            .map_err(anyhow::Error::from)?;
        let Some(listed) = listed else {
            return Ok(Outcome::Nothing("no such user"));
        };
        if listed.tasks.is_empty() {
            return Ok(Outcome::Nothing("no task due"));
        }
        let lookup = LookupUserRequest {
            user_id: d.user_id.clone(),
        };
        let contact = call("user service", self.users.clone().lookup_user(lookup))
            .await
            .map_err(anyhow::Error::from)?;
        let Some(contact) = contact else {
            return Ok(Outcome::Nothing("no such user"));
        };
        if !contact.email_verified {
            return Ok(Outcome::Nothing("address not verified"));
        }
        let digest = Digest::of(d.date, tz, &listed.tasks, listed.total_count);
        Ok(Outcome::Sent(Box::new((contact, digest))))
    }

    /// Records `d` as done and, if there is one, sends the digest in the
    /// same transaction, unless the lease was lost meanwhile (then another
    /// worker has it, or it was rescheduled, and nothing is sent).
    async fn finish(&self, d: &DueDigest, outcome: Outcome, now: i64) -> Result<(), Error> {
        let date = date_key(d.date);
        let user_id = &d.user_id;
        let in_app_key = format!("digest:{user_id}:{date}");
        let (notification, email) = match &outcome {
            Outcome::Sent(sent) => {
                let (contact, digest) = sent.as_ref();
                let email = NewEmail {
                    dedup_key: format!("digest-email:{user_id}:{date}"),
                    user_id: user_id.clone(),
                    mail: Outgoing {
                        template: EmailTemplate::Digest,
                        to_email: contact.email.clone(),
                        display_name: contact.display_name.clone(),
                        token: None,
                        task_title: None,
                        invitation: None,
                        digest: Some(digest.clone()),
                    },
                };
                (Some((digest.title(), digest.in_app_body())), Some(email))
            }
            Outcome::Nothing(_) => (None, None),
        };
        let done = retry_contended(is_contention, || async {
            let mut tx = self.db.begin_write().await?;
            if !digests::complete(&mut tx, &self.id, d, now).await? {
                return Ok(false);
            }
            if let (Some((title, body)), Some(email)) = (&notification, &email) {
                let n = NewNotification {
                    user_id,
                    kind: NotificationKind::Digest,
                    title,
                    body,
                    task_id: "",
                    dedup_key: &in_app_key,
                };
                inbox::add_in(&mut tx, &n, now).await?;
                emails::enqueue_in(&mut tx, email, now).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        })
        .await?;
        match outcome {
            _ if !done => {
                tracing::info!(user_id = %user_id, date = %date, "digest left to whoever holds it now");
            }
            Outcome::Sent(_) => {
                self.mail.poke();
                tracing::info!(user_id = %user_id, date = %date, "digest sent");
            }
            Outcome::Nothing(why) => {
                tracing::info!(user_id = %user_id, date = %date, reason = why, "no digest to send");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
