//! The background workers, each run by `todo_store::poll` until shutdown:
//! `emails` drains the e-mail queue, `reminders` fires due reminders,
//! `digests` sends daily digests.

pub mod digests;
pub mod emails;
pub mod reminders;

use std::time::Duration;

/// `span` after `now`, in micros: when a lease ends, when an e-mail is
/// next tried.
fn micros_after(now: i64, span: Duration) -> i64 {
    now + i64::try_from(span.as_micros()).unwrap_or(i64::MAX / 2)
}
