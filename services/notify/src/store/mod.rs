//! The notify database: SQL only, returning domain types and the crate's
//! [`Error`](crate::error::Error). Every statement about a user's data is
//! scoped to that user.
//!
//! - `emails`: the durable e-mail queue, its leases and its dead letters.
//! - `inbox`: in-app notifications.
//! - `settings`: a user's notification settings.
//! - `reminders`: reminders by task, their revisions and leases.

pub mod emails;
pub mod inbox;
pub mod reminders;
pub mod settings;
