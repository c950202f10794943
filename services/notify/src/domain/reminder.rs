//! Reminders as the task service describes them, and as they fall due.

use todo_common::clock::{from_timestamp, is_id};
use todo_common::status::FieldViolation;
use todo_proto::todo::notify::v1::{CancelReminderRequest, ScheduleReminderRequest};

use crate::error::Error;

/// As long as a task title may be (see the task service).
pub const TASK_TITLE_MAX: usize = 500;
/// The most reminders a task has (see the task service).
pub const TIMES_MAX: usize = 5;

/// A change of a task's reminders, valid by construction: the whole set
/// of its pending reminder times, empty when it has none left. Every
/// change carries the task's revision, so late or repeated deliveries
/// change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderChange {
    pub task_id: String,
    pub user_id: String,
    pub task_title: String,
    /// Ascending, each once.
    pub times: Vec<i64>,
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

/// The set a request names: `remind_times`, or for a sender that knows
/// only one reminder per task, `remind_time` (unset: none).
fn times(req: &ScheduleReminderRequest, errs: &mut Vec<FieldViolation>) -> Vec<i64> {
    let mut times = Vec::new();
    if req.remind_times.is_empty() {
        if let Some(ts) = &req.remind_time {
            match from_timestamp(ts) {
                Some(at) => times.push(at),
                None => errs.push(FieldViolation::new("remindTime", "must be a valid time")),
            }
        }
    } else if req.remind_times.len() > TIMES_MAX {
        errs.push(FieldViolation::new(
            "remindTimes",
            format!("must hold at most {TIMES_MAX} times"),
        ));
    } else {
        for (i, ts) in req.remind_times.iter().enumerate() {
            match from_timestamp(ts) {
                Some(at) => times.push(at),
                None => errs.push(FieldViolation::new(
                    format!("remindTimes[{i}]"),
                    "must be a valid time",
                )),
            }
        }
    }
    times.sort_unstable();
    times.dedup();
    times
}

impl TryFrom<ScheduleReminderRequest> for ReminderChange {
    type Error = Error;

    fn try_from(req: ScheduleReminderRequest) -> Result<Self, Error> {
        let mut errs = ids(&req.task_id, &req.user_id, req.revision);
        let times = times(&req, &mut errs);
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
            times,
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
            times: Vec::new(),
            revision: req.revision,
        })
    }
}

/// A reminder time of a task that has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueReminder {
    pub task_id: String,
    pub user_id: String,
    pub task_title: String,
    pub remind_time: i64,
}

#[cfg(test)]
mod tests {
    use prost_types::Timestamp;
    use todo_common::clock::{new_id, to_timestamp};

    use super::*;

    fn request(times: &[i64]) -> ScheduleReminderRequest {
        ScheduleReminderRequest {
            dedup_key: "schedule:1".into(),
            user_id: new_id(),
            task_id: new_id(),
            task_title: "Pay rent".into(),
            remind_time: None,
            revision: 3,
            remind_times: times.iter().copied().map(to_timestamp).collect(),
        }
    }

    fn fields(req: ScheduleReminderRequest) -> Vec<String> {
        match ReminderChange::try_from(req) {
            Err(Error::Invalid(v)) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_set_is_sorted_without_repeats() {
        let change = ReminderChange::try_from(request(&[30, 10, 20, 10])).unwrap();
        assert_eq!(change.times, [10, 20, 30]);
    }

    #[test]
    fn an_older_sender_s_single_time_is_the_set() {
        let req = ScheduleReminderRequest {
            remind_time: Some(to_timestamp(7)),
            ..request(&[])
        };
        assert_eq!(ReminderChange::try_from(req).unwrap().times, [7]);
        // Ignored beside a set.
        let req = ScheduleReminderRequest {
            remind_time: Some(to_timestamp(7)),
            ..request(&[8])
        };
        assert_eq!(ReminderChange::try_from(req).unwrap().times, [8]);
        // Neither: no reminder left.
        assert!(
            ReminderChange::try_from(request(&[]))
                .unwrap()
                .times
                .is_empty()
        );
    }

    #[test]
    fn more_than_five_times_or_an_invalid_one_is_refused_naming_the_field() {
        assert_eq!(fields(request(&[1, 2, 3, 4, 5, 6])), ["remindTimes"]);
        assert!(ReminderChange::try_from(request(&[1, 2, 3, 4, 5])).is_ok());
        let mut req = request(&[1, 2]);
        req.remind_times[1] = Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(fields(req), ["remindTimes[1]"]);
        let req = ScheduleReminderRequest {
            remind_time: Some(Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            }),
            ..request(&[])
        };
        assert_eq!(fields(req), ["remindTime"]);
    }
}
