//! What the notify service works with, parsed once at the boundary
//! (`TryFrom` of each request) and valid by construction from then on.
//!
//! - `email`: an e-mail to queue (and the notification that goes with
//!   some), as the mailer takes it, and a dead one.
//! - `invitation`: what an invitation e-mail carries.
//! - `notification`: an inbox entry, and a page of the inbox asked for and
//!   given.
//! - `notice`: a notification another service adds with `Notify`.
//! - `reminder`: a change of a task's reminder times, and a due one.
//! - `settings`: a user's notification settings and a change of them.
//! - `zone`: a user's time zone as the user service reports it.
//! - `digest`: when a user's daily digest runs, and what it lists.
//! - `account`: erasing a user, refusing a user's older tokens.
//! - `fields`: checks that several requests' fields share.

pub mod account;
pub mod digest;
pub mod email;
pub mod fields;
pub mod invitation;
pub mod notice;
pub mod notification;
pub mod reminder;
pub mod settings;
pub mod zone;

use todo_common::clock::is_id;
use todo_common::status::FieldViolation;

pub use account::{TokenRevocation, UserErasure};
pub use digest::Digest;
pub use email::{DeadEmail, NewEmail, Outgoing};
pub use invitation::Invitation;
pub use notice::Notice;
pub use notification::{InboxPage, InboxQuery, NewNotification, Notification};
pub use reminder::{DueReminder, ReminderChange};
pub use settings::{DailyDigest, NotificationSettings, SettingsChange};
pub use zone::ZoneChange;

/// `raw` when it is an id; otherwise a violation of `field` saying
/// `message`.
///
/// # Errors
/// The violation.
pub fn id(raw: String, field: &str, message: &str) -> Result<String, FieldViolation> {
    if is_id(&raw) {
        Ok(raw)
    } else {
        Err(FieldViolation::new(field, message))
    }
}
