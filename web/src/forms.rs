//! What a form shows after a failed submission: each field's error next to
//! the field (from the `google.rpc.BadRequest` the services attach to
//! INVALID_ARGUMENT), and one message for the form as a whole otherwise.

use std::collections::HashMap;

use tonic::Code;
use tonic_types::StatusExt;

use crate::i18n::Lang;
use crate::violation_texts;

/// The errors of one submission. Field names are the API's lowerCamelCase
/// ones without the message prefix (`task.title` is `title`).
#[derive(Debug, Default, Clone)]
pub struct Errors {
    fields: HashMap<String, String>,
    /// A catalog key for an error that belongs to no single field.
    pub form: Option<&'static str>,
}

impl Errors {
    /// No errors: a form shown for the first time.
    pub fn none() -> Self {
        Self::default()
    }

    /// One error for the form as a whole, by catalog key.
    pub fn form(key: &'static str) -> Self {
        Self {
            fields: HashMap::new(),
            form: Some(key),
        }
    }

    /// The errors a failed call means. Field violations keep the service's
    /// description, in `lang`; everything else becomes one form-level
    /// message by code, never the status message itself (which may say
    /// more than a visitor should read).
    pub fn from_status(status: &tonic::Status, lang: Lang) -> Self {
        Self::from_status_named(status, lang, |path| {
            path.rsplit('.').next().unwrap_or_default().to_owned()
        })
    }

    /// As [`Self::from_status`], with `name` giving the form's field of
    /// each violation's path (`task.reminders[1].beforeDue`), for forms
    /// whose fields are not simply the paths' last parts.
    pub fn from_status_named(
        status: &tonic::Status,
        lang: Lang,
        name: impl Fn(&str) -> String,
    ) -> Self {
        let mut errors = Self::default();
        if let Some(bad_request) = status.get_details_bad_request() {
            for violation in bad_request.field_violations {
                let field = name(&violation.field);
                errors
                    .fields
                    .entry(field)
                    .or_insert_with(|| violation_texts::render(&violation.description, lang));
            }
        }
        if errors.fields.is_empty() {
            errors.form = Some(form_key(status.code()));
        }
        errors
    }

    /// Adds an error of `field` found before any call was made.
    pub fn add(&mut self, field: &str, text: &str) {
        self.fields.insert(field.to_owned(), text.to_owned());
    }

    /// Whether there are no errors.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.form.is_none()
    }

    /// Whether `field` has an error.
    pub fn has(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }

    /// Whether a field whose name starts with `prefix` has an error.
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.fields.keys().any(|field| field.starts_with(prefix))
    }

    /// The error of `field`, or an empty string.
    pub fn get(&self, field: &str) -> &str {
        self.fields.get(field).map_or("", String::as_str)
    }
}

/// The catalog key of the form-level message for a status code.
fn form_key(code: Code) -> &'static str {
    match code {
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => "err_invalid",
        Code::Unauthenticated => "err_credentials",
        Code::PermissionDenied => "err_forbidden",
        Code::NotFound => "err_not_found",
        Code::ResourceExhausted => "err_throttled",
        Code::AlreadyExists | Code::Aborted => "err_conflict",
        Code::Unavailable | Code::DeadlineExceeded => "err_unavailable",
        Code::Ok
        | Code::Cancelled
        | Code::Unknown
        | Code::Unimplemented
        | Code::Internal
        | Code::DataLoss => "err_internal",
    }
}
