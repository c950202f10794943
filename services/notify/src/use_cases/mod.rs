//! What the notify service does, one method of [`State`] per use case,
//! over domain types: the handlers in `service` call these, and these
//! call `store`.
//!
//! - `inbox`: list and mark notifications, notices from other services.
//! - `settings`: the notification settings, and the time zone a user's
//!   digest runs in.
//! - `emails`: queue an e-mail, list and requeue dead ones.
//! - `reminders`: schedule, move and cancel reminders.
//! - `account`: erase a user's data, refuse a user's older tokens.

mod account;
mod emails;
mod inbox;
mod reminders;
mod settings;

use todo_store::erased;

use crate::State;
use crate::error::Error;

impl State {
    /// Whether the user's account was deleted and its data erased here:
    /// mail, notices and reminders still on their way for it are dropped.
    async fn erased(&self, user_id: &str) -> Result<bool, Error> {
        let gone = erased::contains(&self.db.pool, user_id).await?;
        if gone {
            tracing::info!(user_id = %user_id, "request for an erased user dropped");
        }
        Ok(gone)
    }
}
