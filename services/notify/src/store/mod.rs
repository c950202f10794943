//! The notify database: SQL only, returning domain types and the crate's
//! [`Error`](crate::error::Error). Every statement about a user's data is
//! scoped to that user.
//!
//! - `emails`: the durable e-mail queue, its leases and its dead letters.
//! - `inbox`: in-app notifications.
//! - `settings`: a user's notification settings.
//! - `reminders`: reminders by task, their revisions, times and leases.
//! - `zones`: each user's time zone.
//! - `digests`: each user's daily digest schedule and its leases.

pub mod digests;
pub mod emails;
pub mod inbox;
pub mod reminders;
pub mod settings;
pub mod zones;

use sqlx::AnyConnection;

/// The tables that hold a user's data, by `user_id`.
const USER_TABLES: [&str; 7] = [
    "notifications",
    "settings",
    "emails",
    "reminders",
    "reminder_times",
    "time_zones",
    "digests",
];

/// Erases everything held of a user: notifications, settings, e-mails,
/// reminders, time zone and digest schedule. Runs in the caller's transaction, whose retry on contention
/// wants the driver's error.
///
/// # Errors
/// When the database fails.
pub async fn erase_user(conn: &mut AnyConnection, user_id: &str) -> Result<(), sqlx::Error> {
    for table in USER_TABLES {
        sqlx::query(&format!("DELETE FROM {table} WHERE user_id = ?"))
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
