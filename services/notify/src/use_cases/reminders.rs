//! Reminders kept in step with the task service's changes.

use todo_common::clock::now_micros;

use crate::State;
use crate::domain::ReminderChange;
use crate::error::Error;
use crate::store::reminders;

impl State {
    /// Makes the change's times the task's pending reminders, unless its
    /// user was erased; wakes the reminder worker.
    pub(crate) async fn schedule_change(&self, change: &ReminderChange) -> Result<(), Error> {
        if self.erased(&change.user_id).await? {
            return Ok(());
        }
        reminders::apply(&self.db, change, now_micros()).await?;
        self.firer.poke();
        Ok(())
    }

    /// Cancels a task's pending reminders (at the change's revision).
    pub(crate) async fn cancel_change(&self, change: &ReminderChange) -> Result<(), Error> {
        reminders::apply(&self.db, change, now_micros())
            .await
            .map(drop)
    }
}
