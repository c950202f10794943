//! E-mails: one to queue, parsed from `SendEmail`; one as the mailer takes
//! it; one that will not be tried again.

use todo_common::clock::{is_id, to_timestamp};
use todo_common::status::FieldViolation;
use todo_proto::todo::notify::v1 as proto;
use todo_proto::todo::notify::v1::{EmailTemplate, NotificationKind, SendEmailRequest};

use crate::domain::digest::Digest;
use crate::domain::fields;
use crate::domain::invitation::Invitation;
use crate::error::Error;

/// The longest address a caller may send, in bytes.
const ADDRESS_MAX: usize = 320;

/// One e-mail, as much as a template needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub template: EmailTemplate,
    pub to_email: String,
    pub display_name: String,
    /// The token of a link; `None` when the template has none.
    pub token: Option<String>,
    /// The task a reminder is about.
    pub task_title: Option<String>,
    /// What an invitation is to.
    pub invitation: Option<Invitation>,
    /// What a digest lists.
    pub digest: Option<Digest>,
}

/// An e-mail to queue, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmail {
    /// The same key twice is one e-mail.
    pub dedup_key: String,
    /// Empty only for an invitation to an address without an account.
    pub user_id: String,
    pub mail: Outgoing,
}

impl TryFrom<SendEmailRequest> for NewEmail {
    type Error = Error;

    /// # Errors
    /// Every invalid field: the dedup key, the user id (which only an
    /// invitation may leave out), the template, the address, and an
    /// invitation's own fields.
    fn try_from(req: SendEmailRequest) -> Result<Self, Error> {
        let mut errs = Vec::new();
        errs.extend(fields::dedup_key(&req.dedup_key, fields::DEDUP_KEY_MAX));
        let template = EmailTemplate::try_from(req.template).unwrap_or(EmailTemplate::Unspecified);
        // An invitation may go to an address that has no account yet.
        let user_optional = template == EmailTemplate::Invitation && req.user_id.is_empty();
        if !user_optional && !is_id(&req.user_id) {
            errs.push(FieldViolation::new("userId", "must be a user id"));
        }
        match template {
            EmailTemplate::Unspecified => {
                errs.push(FieldViolation::new("template", "must name a template"));
            }
            // Made here from the user's tasks, never sent by a caller.
            EmailTemplate::Digest => {
                errs.push(FieldViolation::new(
                    "template",
                    "must not be DIGEST: this service makes digests itself",
                ));
            }
            EmailTemplate::Welcome
            | EmailTemplate::PasswordReset
            | EmailTemplate::Reminder
            | EmailTemplate::VerifyEmail
            | EmailTemplate::SecurityAlert
            | EmailTemplate::EmailChangeAlert
            | EmailTemplate::SignupAttempt
            | EmailTemplate::Invitation => {}
        }
        if req.to_email.is_empty() || req.to_email.len() > ADDRESS_MAX {
            errs.push(FieldViolation::new("toEmail", "must be an address"));
        }
        let invitation = if template == EmailTemplate::Invitation {
            Invitation::parse(&req).map_err(|v| errs.extend(v)).ok()
        } else {
            None
        };
        if !errs.is_empty() {
            return Err(Error::Invalid(errs));
        }
        Ok(Self {
            dedup_key: req.dedup_key,
            user_id: req.user_id,
            mail: Outgoing {
                template,
                to_email: req.to_email,
                display_name: req.display_name,
                token: Some(req.token).filter(|t| !t.is_empty()),
                task_title: Some(req.task_title).filter(|t| !t.is_empty()),
                invitation,
                digest: None,
            },
        })
    }
}

impl NewEmail {
    /// The in-app notification that goes with this e-mail, if any (kind,
    /// title, body): the welcome, and every notice about the account's
    /// security, so the owner sees it even when the mailbox is no longer
    /// theirs.
    pub fn in_app(&self) -> Option<(NotificationKind, &'static str, &'static str)> {
        match self.mail.template {
            EmailTemplate::Welcome => Some((
                NotificationKind::Welcome,
                "Welcome to ToDo",
                "Your account is ready. Confirm your e-mail address with the link we sent you.",
            )),
            EmailTemplate::SecurityAlert => Some((
                NotificationKind::Security,
                "Your password was changed",
                "The password of your account was changed. If this was not you, reset your password at once.",
            )),
            EmailTemplate::EmailChangeAlert => Some((
                NotificationKind::Security,
                "Your e-mail address is being changed",
                "A change of your account's e-mail address was asked for; it takes effect when the new address is confirmed. If this was not you, change your password at once.",
            )),
            EmailTemplate::SignupAttempt => Some((
                NotificationKind::Security,
                "Someone tried to sign up with your address",
                "Someone tried to create an account with your e-mail address. Nothing was changed.",
            )),
            // The task service adds an invitation's notification itself,
            // with `Notify`, and only for an account: the e-mail may go to
            // an address that has none.
            EmailTemplate::Unspecified
            | EmailTemplate::PasswordReset
            | EmailTemplate::Reminder
            | EmailTemplate::VerifyEmail
            | EmailTemplate::Invitation
            // The digest worker adds the digest's notification itself.
            | EmailTemplate::Digest => None,
        }
    }
}

/// An e-mail that will not be tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadEmail {
    pub id: String,
    pub user_id: String,
    /// The template's proto number, as stored.
    pub template: i32,
    pub attempts: i64,
    /// Empty when none was recorded.
    pub last_error: String,
    pub create_time: i64,
}

impl From<DeadEmail> for proto::DeadEmail {
    fn from(e: DeadEmail) -> Self {
        Self {
            id: e.id,
            user_id: e.user_id,
            template: e.template,
            attempts: e.attempts,
            last_error: e.last_error,
            create_time: Some(to_timestamp(e.create_time)),
        }
    }
}
