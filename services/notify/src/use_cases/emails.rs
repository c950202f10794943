//! The e-mail queue: what goes in, and what an operator does with the
//! dead.

use todo_common::clock::now_micros;

use crate::State;
use crate::domain::{DeadEmail, NewEmail, NewNotification};
use crate::error::{DEAD_EMAIL, Error};
use crate::store::{emails, inbox};

impl State {
    /// Queues an e-mail and adds the notification that goes with it, if
    /// any, unless its user was erased; wakes the e-mail worker.
    pub(crate) async fn queue_email(&self, email: &NewEmail) -> Result<(), Error> {
        // An invitation to an address without an account names no user,
        // so there is no erased one to drop it for.
        if !email.user_id.is_empty() && self.erased(&email.user_id).await? {
            return Ok(());
        }
        let now = now_micros();
        let queued = emails::enqueue(self.db.writer(), email, now).await?;
        if let Some((kind, title, body)) = email.in_app() {
            let dedup_key = format!("inbox:{}", email.dedup_key);
            let notification = NewNotification {
                user_id: &email.user_id,
                kind,
                title,
                body,
                task_id: "",
                dedup_key: &dedup_key,
            };
            inbox::add(self.db.writer(), &notification, now).await?;
        }
        if queued {
            self.mail_worker.poke();
        }
        Ok(())
    }

    /// Up to `size` dead e-mails, newest first.
    pub(crate) async fn dead_emails(&self, size: usize) -> Result<Vec<DeadEmail>, Error> {
        emails::dead(&self.db.pool, i64::try_from(size).unwrap_or(i64::MAX)).await
    }

    /// Gives a dead e-mail a fresh round of attempts.
    ///
    /// # Errors
    /// [`Error::NotFound`] when no dead e-mail has this id.
    pub(crate) async fn requeue_dead_email(&self, id: &str) -> Result<(), Error> {
        if !emails::requeue(self.db.writer(), id, now_micros()).await? {
            return Err(Error::NotFound(DEAD_EMAIL));
        }
        tracing::info!(email_id = %id, "dead e-mail requeued");
        self.mail_worker.poke();
        Ok(())
    }
}
