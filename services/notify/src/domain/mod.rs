//! What the notify service works with, parsed once at the boundary
//! (`TryFrom` of each request) and valid by construction from then on.
//!
//! - `email`: an e-mail to queue (and the notification that goes with
//!   some), as the mailer takes it, and a dead one.
//! - `invitation`: what an invitation e-mail carries.
//! - `notification`: an inbox entry, and a page of the inbox asked for and
//!   given.
//! - `notice`: a notification another service adds with `Notify`.
//! - `reminder`: a reminder's change and a due reminder.
//! - `account`: erasing a user, refusing a user's older tokens.
//! - `fields`: checks that several requests' fields share.

pub mod account;
pub mod email;
pub mod fields;
pub mod invitation;
pub mod notice;
pub mod notification;
pub mod reminder;

use todo_common::clock::is_id;
use todo_common::status::FieldViolation;

pub use account::{TokenRevocation, UserErasure};
pub use email::{DeadEmail, NewEmail, Outgoing};
pub use invitation::Invitation;
pub use notice::Notice;
pub use notification::{InboxPage, InboxQuery, NewNotification, Notification};
pub use reminder::{DueReminder, ReminderChange};

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
