//! Reminders as the task service describes them, and as they fall due.

use todo_common::clock::{from_timestamp, is_id};
use todo_common::status::FieldViolation;
use todo_proto::todo::notify::v1::{CancelReminderRequest, ScheduleReminderRequest};

use crate::error::Error;

/// As long as a task title may be (see the task service).
pub const TASK_TITLE_MAX: usize = 500;

/// A schedule, move or cancel of a task's reminder, valid by
/// construction. Every change carries the task's revision, so late or
/// repeated deliveries change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderChange {
    pub task_id: String,
    pub user_id: String,
    pub task_title: String,
    /// `None` cancels.
    pub remind_time: Option<i64>,
    pub revision: i64,
}

/// The checks every change shares.
fn ids(task_id: &str, user_id: &str, revision: i64) -> Vec<FieldViolation> {
    let mut errs = Vec::new();
    if !is_id(task_id) {
        errs.push(FieldViolation::new("taskId", "must be a task id"));
    }
    if !is_id(user_id) {
        errs.push(FieldViolation::new("userId", "must be a user id"));
    }
    if revision < 1 {
        errs.push(FieldViolation::new("revision", "must be positive"));
    }
    errs
}

impl TryFrom<ScheduleReminderRequest> for ReminderChange {
    type Error = Error;

    fn try_from(req: ScheduleReminderRequest) -> Result<Self, Error> {
        let at = req.remind_time.as_ref().and_then(from_timestamp);
        let mut errs = ids(&req.task_id, &req.user_id, req.revision);
        if at.is_none() {
            errs.push(FieldViolation::new("remindTime", "must be a valid time"));
        }
        if req.task_title.chars().count() > TASK_TITLE_MAX {
            errs.push(FieldViolation::new(
                "taskTitle",
                format!("must be at most {TASK_TITLE_MAX} characters long"),
            ));
        }
        if !errs.is_empty() {
            return Err(Error::Invalid(errs));
        }
        Ok(Self {
            task_id: req.task_id,
            user_id: req.user_id,
            task_title: req.task_title,
            remind_time: at,
            revision: req.revision,
        })
    }
}

impl TryFrom<CancelReminderRequest> for ReminderChange {
    type Error = Error;

    fn try_from(req: CancelReminderRequest) -> Result<Self, Error> {
        let errs = ids(&req.task_id, &req.user_id, req.revision);
        if !errs.is_empty() {
            return Err(Error::Invalid(errs));
        }
        Ok(Self {
            task_id: req.task_id,
            user_id: req.user_id,
            task_title: String::new(),
            remind_time: None,
            revision: req.revision,
        })
    }
}

/// A scheduled reminder whose time has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueReminder {
    pub task_id: String,
    pub user_id: String,
    pub task_title: String,
    pub remind_time: i64,
    pub revision: i64,
}
