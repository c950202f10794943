//! When a task is due and when it reminds: the due (an instant or an
//! all-day date), its recurrence and its reminders, parsed from the wire
//! and placed in the creator's time zone.
//!
//! Placing is what turns local meaning into instants: an all-day due
//! becomes the local midnight that starts its day (what filters and orders
//! compare), and a relative reminder becomes its fire time. Both are
//! stored with the task and placed again when the due moves or the
//! creator's time zone changes.

use prost_types::{Duration, Timestamp};
use serde::{Deserialize, Serialize};
use todo_common::clock::{from_timestamp, to_timestamp};
use todo_common::status::FieldViolation;
use todo_common::time_zone::{self, NaiveDate, NaiveTime, Tz};
use todo_proto::google::r#type::Date;
use todo_proto::todo::task::v1::{Reminder as ReminderProto, Task};

pub use crate::recurrence::{Due, Recurrence};

/// At most this many reminders per task.
pub const REMINDERS_MAX: usize = 5;
/// The furthest a relative reminder may fire before its due.
pub const BEFORE_DUE_MAX_SECONDS: i64 = 365 * 24 * 60 * 60;
/// The local hour a relative reminder of an all-day due counts back from.
pub const ALL_DAY_ANCHOR_HOUR: u32 = 9;

/// One reminder as the client gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reminder {
    /// At this instant (micros).
    At(i64),
    /// This many seconds before the due.
    Before(i64),
}

/// The due, recurrence and reminders of a task, valid by construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    pub due: Option<Due>,
    pub recurrence: Option<Recurrence>,
    pub reminders: Vec<Reminder>,
}

impl Schedule {
    /// Parses the schedule fields of `task`, adding every violation to
    /// `errs`. The old single `remindTime` is one absolute reminder: added
    /// when `reminders` is empty, and otherwise required to be one of them.
    pub fn parse(task: &Task, errs: &mut Vec<FieldViolation>) -> Self {
        let due = match (&task.due_time, &task.due_date) {
            (Some(_), Some(_)) => {
                errs.push(FieldViolation::new(
                    "task.dueDate",
                    "give dueTime or dueDate, not both",
                ));
                None
            }
            (Some(ts), None) => instant(ts, "task.dueTime", errs).map(Due::At),
            (None, Some(date)) => day(date, errs).map(Due::Day),
            (None, None) => None,
        };
        let recurrence = match task.recurrence.trim() {
            "" => None,
            text => match Recurrence::parse(text) {
                Ok(rule) => Some(rule),
                Err(reason) => {
                    errs.push(FieldViolation::new("task.recurrence", reason));
                    None
                }
            },
        };
        if let Some(rule) = &recurrence {
            match &due {
                Some(due) => {
                    if let Err(reason) = rule.fits(due) {
                        errs.push(FieldViolation::new("task.recurrence", reason));
                    }
                }
                None if task.due_time.is_none() && task.due_date.is_none() => {
                    errs.push(FieldViolation::new(
                        "task.recurrence",
                        "needs a dueTime or dueDate",
                    ));
                }
                None => {}
            }
        }
        let reminders = reminders(task, due.is_some(), errs);
        Self {
            due,
            recurrence,
            reminders,
        }
    }

    /// The instants of the absolute reminders.
    pub fn absolute(&self) -> impl Iterator<Item = i64> + '_ {
        self.reminders.iter().filter_map(|r| match r {
            Reminder::At(t) => Some(*t),
            Reminder::Before(_) => None,
        })
    }

    /// Whether placing it needs the creator's time zone: an all-day due,
    /// or a rule whose occurrences are local.
    pub fn needs_zone(&self) -> bool {
        matches!(self.due, Some(Due::Day(_))) || self.recurrence.is_some()
    }

    /// The schedule in `tz` (UTC when it needs none).
    pub fn place(&self, tz: Tz) -> Placed {
        let due_at = self.due.map(|due| match due {
            Due::At(t) => t,
            Due::Day(date) => time_zone::start_of_day(date, tz),
        });
        // A relative reminder counts back from the due's instant, or for
        // an all-day due from 09:00 local that day.
        let anchor = self.due.map(|due| match due {
            Due::At(t) => t,
            Due::Day(date) => time_zone::at_local(date, anchor_time(), tz),
        });
        let fires = self
            .reminders
            .iter()
            .map(|r| match *r {
                Reminder::At(t) => Some(t),
                Reminder::Before(s) => anchor.map(|a| a.saturating_sub(s * 1_000_000)),
            })
            .collect();
        Placed { due_at, fires }
    }

    /// The schedule's wire fields, written into `task`.
    pub fn write_to(&self, placed: &Placed, task: &mut Task) {
        match self.due {
            Some(Due::At(t)) => task.due_time = Some(to_timestamp(t)),
            Some(Due::Day(date)) => task.due_date = Some(date_proto(date)),
            None => {}
        }
        task.recurrence = self
            .recurrence
            .as_ref()
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default();
        task.remind_time = self.absolute().next().map(to_timestamp);
        task.reminders = self
            .reminders
            .iter()
            .zip(placed.fires.iter().chain(std::iter::repeat(&None)))
            .map(|(r, fire)| match *r {
                Reminder::At(t) => ReminderProto {
                    remind_time: Some(to_timestamp(t)),
                    before_due: None,
                    fire_time: Some(to_timestamp(t)),
                },
                Reminder::Before(s) => ReminderProto {
                    remind_time: None,
                    before_due: Some(Duration {
                        seconds: s,
                        nanos: 0,
                    }),
                    fire_time: fire.map(to_timestamp),
                },
            })
            .collect();
    }
}

/// A schedule placed in a time zone: the due as an instant (an all-day
/// due's local midnight) and each reminder's fire time, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placed {
    pub due_at: Option<i64>,
    pub fires: Vec<Option<i64>>,
}

impl Placed {
    /// The fire times still to come at `now`, earliest first, without
    /// repeats: what the notify service should hold for the task.
    pub fn pending(&self, now: i64) -> Vec<i64> {
        let mut times: Vec<i64> = self
            .fires
            .iter()
            .flatten()
            .copied()
            .filter(|t| *t >= now)
            .collect();
        times.sort_unstable();
        times.dedup();
        times
    }
}

/// 09:00, the anchor of an all-day due's relative reminders.
fn anchor_time() -> NaiveTime {
    NaiveTime::from_hms_opt(ALL_DAY_ANCHOR_HOUR, 0, 0).unwrap_or(NaiveTime::MIN)
}

fn instant(ts: &Timestamp, field: &str, errs: &mut Vec<FieldViolation>) -> Option<i64> {
    let micros = from_timestamp(ts);
    if micros.is_none() {
        errs.push(FieldViolation::new(
            field,
            "must be a time between years 0001 and 9999",
        ));
    }
    micros
}

fn day(date: &Date, errs: &mut Vec<FieldViolation>) -> Option<NaiveDate> {
    let valid = (1..=9999)
        .contains(&date.year)
        .then(|| {
            let month = u32::try_from(date.month).ok()?;
            let day = u32::try_from(date.day).ok()?;
            NaiveDate::from_ymd_opt(date.year, month, day)
        })
        .flatten();
    if valid.is_none() {
        errs.push(FieldViolation::new(
            "task.dueDate",
            "must be a calendar day: year 1..9999, month 1..12, a day the month has",
        ));
    }
    valid
}

/// The wire form of a calendar day.
pub fn date_proto(date: NaiveDate) -> Date {
    use chrono::Datelike as _;
    Date {
        year: date.year(),
        month: i32::try_from(date.month()).unwrap_or_default(),
        day: i32::try_from(date.day()).unwrap_or_default(),
    }
}

fn reminders(task: &Task, has_due: bool, errs: &mut Vec<FieldViolation>) -> Vec<Reminder> {
    let mut out = Vec::new();
    if task.reminders.len() > REMINDERS_MAX {
        errs.push(FieldViolation::new(
            "task.reminders",
            format!("at most {REMINDERS_MAX} reminders"),
        ));
        return out;
    }
    for (i, r) in task.reminders.iter().enumerate() {
        let field = |name: &str| format!("task.reminders[{i}].{name}");
        match (&r.remind_time, &r.before_due) {
            (Some(ts), None) => {
                if let Some(t) = instant(ts, &field("remindTime"), errs) {
                    out.push(Reminder::At(t));
                }
            }
            (None, Some(d)) => {
                let valid = d.nanos == 0 && (0..=BEFORE_DUE_MAX_SECONDS).contains(&d.seconds);
                if !valid {
                    errs.push(FieldViolation::new(
                        field("beforeDue"),
                        "must be whole seconds from 0s to 365 days",
                    ));
                } else if !has_due {
                    errs.push(FieldViolation::new(
                        field("beforeDue"),
                        "needs a dueTime or dueDate",
                    ));
                } else {
                    out.push(Reminder::Before(d.seconds));
                }
            }
            _ => errs.push(FieldViolation::new(
                format!("task.reminders[{i}]"),
                "give exactly one of remindTime and beforeDue",
            )),
        }
    }
    if let Some(t) = task
        .remind_time
        .as_ref()
        .and_then(|ts| instant(ts, "task.remindTime", errs))
    {
        if task.reminders.is_empty() {
            out.push(Reminder::At(t));
        } else if !out.contains(&Reminder::At(t)) {
            errs.push(FieldViolation::new(
                "task.remindTime",
                "must be one of reminders when both are given",
            ));
        }
    }
    let mut seen = Vec::new();
    out.retain(|r| {
        let new = !seen.contains(r);
        seen.push(*r);
        new
    });
    out
}

/// The stored form of the reminders with their fire times:
/// `[{"at": micros} | {"before": seconds, "fire": micros}]`.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    before: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    fire: Option<i64>,
}

/// The `reminders` column's text for `schedule` placed as `placed`.
///
/// # Errors
/// Never in practice: the values are plain numbers.
pub fn encode_reminders(schedule: &Schedule, placed: &Placed) -> Result<String, serde_json::Error> {
    let stored: Vec<Stored> = schedule
        .reminders
        .iter()
        .zip(placed.fires.iter())
        .map(|(r, fire)| match *r {
            Reminder::At(t) => Stored {
                at: Some(t),
                before: None,
                fire: None,
            },
            Reminder::Before(s) => Stored {
                at: None,
                before: Some(s),
                fire: *fire,
            },
        })
        .collect();
    serde_json::to_string(&stored)
}

/// The reminders and fire times stored in the `reminders` column; `None`
/// (a row the previous release wrote) is its single `remind_time`.
///
/// # Errors
/// Text this service did not write.
pub fn decode_reminders(
    column: Option<&str>,
    remind_time: Option<i64>,
) -> Result<(Vec<Reminder>, Vec<Option<i64>>), serde_json::Error> {
    let Some(text) = column else {
        return Ok(
            remind_time.map_or_else(Default::default, |t| (vec![Reminder::At(t)], vec![Some(t)]))
        );
    };
    let stored: Vec<Stored> = serde_json::from_str(text)?;
    Ok(stored
        .into_iter()
        .filter_map(|s| match (s.at, s.before) {
            (Some(t), _) => Some((Reminder::At(t), Some(t))),
            (None, Some(b)) => Some((Reminder::Before(b), s.fire)),
            (None, None) => None,
        })
        .unzip())
}

/// The stored text of an all-day due (`YYYY-MM-DD`), and back.
pub fn encode_date(date: NaiveDate) -> String {
    use chrono::Datelike as _;
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

/// See [`encode_date`].
pub fn decode_date(text: &str) -> Option<NaiveDate> {
    let mut parts = text.splitn(3, '-');
    let year = parts.next()?.parse().ok()?;
    let month = parts.next()?.parse().ok()?;
    let day = parts.next()?.parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(seconds: i64) -> Timestamp {
        Timestamp { seconds, nanos: 0 }
    }

    fn before(seconds: i64) -> ReminderProto {
        ReminderProto {
            before_due: Some(Duration { seconds, nanos: 0 }),
            ..ReminderProto::default()
        }
    }

    fn parse(task: &Task) -> Result<Schedule, Vec<FieldViolation>> {
        let mut errs = Vec::new();
        let schedule = Schedule::parse(task, &mut errs);
        if errs.is_empty() {
            Ok(schedule)
        } else {
            Err(errs)
        }
    }

    fn fields(errs: &[FieldViolation]) -> Vec<&str> {
        errs.iter().map(|e| e.field.as_str()).collect()
    }

    fn berlin() -> Tz {
        time_zone::parse("Europe/Berlin").unwrap()
    }

    /// A due at 2,000,000,000 s with a reminder 60 s before it and one at
    /// 1,999,000,000 s.
    fn timed_due_with_two_reminders() -> Task {
        Task {
            due_time: Some(ts(2_000_000_000)),
            reminders: vec![
                before(60),
                ReminderProto {
                    remind_time: Some(ts(1_999_000_000)),
                    ..ReminderProto::default()
                },
            ],
            ..Task::default()
        }
    }

    #[test]
    fn an_all_day_due_is_placed_at_local_midnight_and_counts_reminders_from_nine() {
        let task = Task {
            due_date: Some(Date {
                year: 2030,
                month: 1,
                day: 15,
            }),
            reminders: vec![before(900)],
            ..Task::default()
        };
        let placed = parse(&task).unwrap().place(berlin());
        // 2030-01-14T23:00:00Z: midnight in Berlin (UTC+1).
        assert_eq!(placed.due_at, Some(1_894_662_000_000_000));
        // 08:45 in Berlin is 07:45 UTC.
        assert_eq!(placed.fires, [Some(1_894_693_500_000_000)]);
    }

    #[test]
    fn a_timed_due_counts_its_reminders_back_from_the_instant() {
        let task = timed_due_with_two_reminders();
        let schedule = parse(&task).unwrap();
        assert!(!schedule.needs_zone());
        let placed = schedule.place(Tz::UTC);
        assert_eq!(
            placed.fires,
            [Some(1_999_999_940_000_000), Some(1_999_000_000_000_000)]
        );
        assert_eq!(
            placed.pending(1_999_500_000_000_000),
            [1_999_999_940_000_000]
        );
    }

    #[test]
    fn the_old_remind_time_is_one_absolute_reminder() {
        let alone = Task {
            remind_time: Some(ts(2_000_000_000)),
            ..Task::default()
        };
        assert_eq!(
            parse(&alone).unwrap().reminders,
            [Reminder::At(2_000_000_000_000_000)]
        );
        let listed = Task {
            remind_time: Some(ts(2_000_000_000)),
            reminders: vec![ReminderProto {
                remind_time: Some(ts(2_000_000_000)),
                ..ReminderProto::default()
            }],
            ..Task::default()
        };
        assert_eq!(parse(&listed).unwrap().reminders.len(), 1);
        let unlisted = Task {
            remind_time: Some(ts(2_000_000_001)),
            ..listed
        };
        assert_eq!(fields(&parse(&unlisted).unwrap_err()), ["task.remindTime"]);
    }

    #[test]
    fn bad_schedules_name_their_fields() {
        let due = Some(ts(2_000_000_000));
        let cases = [
            (
                Task {
                    due_time: due,
                    due_date: Some(Date {
                        year: 2030,
                        month: 1,
                        day: 1,
                    }),
                    ..Task::default()
                },
                "task.dueDate",
            ),
            (
                Task {
                    due_date: Some(Date {
                        year: 2030,
                        month: 2,
                        day: 30,
                    }),
                    ..Task::default()
                },
                "task.dueDate",
            ),
            (
                Task {
                    due_date: Some(Date {
                        year: 0,
                        month: 1,
                        day: 1,
                    }),
                    ..Task::default()
                },
                "task.dueDate",
            ),
            (
                Task {
                    reminders: vec![before(60); 6],
                    due_time: due,
                    ..Task::default()
                },
                "task.reminders",
            ),
            (
                Task {
                    reminders: vec![before(-1)],
                    due_time: due,
                    ..Task::default()
                },
                "task.reminders[0].beforeDue",
            ),
            (
                Task {
                    reminders: vec![before(BEFORE_DUE_MAX_SECONDS + 1)],
                    due_time: due,
                    ..Task::default()
                },
                "task.reminders[0].beforeDue",
            ),
            (
                Task {
                    reminders: vec![before(60)],
                    ..Task::default()
                },
                "task.reminders[0].beforeDue",
            ),
            (
                Task {
                    reminders: vec![ReminderProto::default()],
                    ..Task::default()
                },
                "task.reminders[0]",
            ),
            (
                Task {
                    recurrence: "FREQ=DAILY".to_owned(),
                    ..Task::default()
                },
                "task.recurrence",
            ),
        ];
        for (task, field) in cases {
            assert_eq!(fields(&parse(&task).unwrap_err()), [field], "{task:?}");
        }
        let at_most = Task {
            reminders: vec![before(BEFORE_DUE_MAX_SECONDS)],
            due_time: due,
            ..Task::default()
        };
        assert!(parse(&at_most).is_ok());
    }

    /// The limits as the contract states them, in literal figures: a
    /// relative reminder up to 365 days before its due, up to five
    /// reminders.
    #[test]
    fn reminders_reach_365_days_back_and_five_per_task() {
        let due = Some(ts(2_000_000_000));
        let with = |reminders| Task {
            reminders,
            due_time: due,
            ..Task::default()
        };
        assert!(parse(&with(vec![before(31_536_000)])).is_ok());
        assert_eq!(
            fields(&parse(&with(vec![before(31_536_001)])).unwrap_err()),
            ["task.reminders[0].beforeDue"]
        );
        let five = (1..=5).map(|i| before(60 * i)).collect();
        assert_eq!(parse(&with(five)).unwrap().reminders.len(), 5);
    }

    /// A rule beside a due that is itself refused is not blamed for
    /// lacking one: the client hears of the due alone.
    #[test]
    fn a_rule_beside_a_bad_due_names_only_the_due() {
        let task = Task {
            due_date: Some(Date {
                year: 2030,
                month: 2,
                day: 30,
            }),
            recurrence: "FREQ=DAILY".to_owned(),
            ..Task::default()
        };
        assert_eq!(fields(&parse(&task).unwrap_err()), ["task.dueDate"]);
    }

    #[test]
    fn absolute_gives_the_fixed_times_only() {
        let task = timed_due_with_two_reminders();
        let schedule = parse(&task).unwrap();
        assert_eq!(
            schedule.absolute().collect::<Vec<_>>(),
            [1_999_000_000_000_000]
        );
    }

    /// An all-day due is a local day and a rule repeats on the local wall
    /// clock: either needs the zone; a plain instant does not.
    #[test]
    fn a_local_day_or_a_rule_needs_the_zone() {
        let all_day = Task {
            due_date: Some(Date {
                year: 2030,
                month: 1,
                day: 15,
            }),
            ..Task::default()
        };
        assert!(parse(&all_day).unwrap().needs_zone());
        let repeating = Task {
            due_time: Some(ts(2_000_000_000)),
            recurrence: "FREQ=WEEKLY".to_owned(),
            ..Task::default()
        };
        assert!(parse(&repeating).unwrap().needs_zone());
        let instant = Task {
            due_time: Some(ts(2_000_000_000)),
            ..Task::default()
        };
        assert!(!parse(&instant).unwrap().needs_zone());
    }

    /// What the client sent comes back in the same fields.
    #[test]
    fn the_schedule_is_written_back_in_the_fields_it_came_in() {
        let timed = Task {
            due_time: Some(ts(2_000_000_000)),
            recurrence: "FREQ=WEEKLY".to_owned(),
            ..Task::default()
        };
        let schedule = parse(&timed).unwrap();
        let mut out = Task::default();
        schedule.write_to(&schedule.place(Tz::UTC), &mut out);
        assert_eq!(out.due_time, Some(ts(2_000_000_000)));
        assert_eq!(out.due_date, None);
        assert_eq!(out.recurrence, "FREQ=WEEKLY");
        let date = Date {
            year: 2030,
            month: 1,
            day: 15,
        };
        let all_day = Task {
            due_date: Some(date),
            ..Task::default()
        };
        let schedule = parse(&all_day).unwrap();
        let mut out = Task::default();
        schedule.write_to(&schedule.place(berlin()), &mut out);
        assert_eq!(out.due_date, Some(date));
        assert_eq!(out.due_time, None);
    }

    #[test]
    fn stored_reminders_round_trip_and_an_older_row_reads_its_single_time() {
        let task = timed_due_with_two_reminders();
        let schedule = parse(&task).unwrap();
        let placed = schedule.place(Tz::UTC);
        let text = encode_reminders(&schedule, &placed).unwrap();
        assert_eq!(
            decode_reminders(Some(&text), None).unwrap(),
            (schedule.reminders, placed.fires)
        );
        assert_eq!(
            decode_reminders(None, Some(7)).unwrap(),
            (vec![Reminder::At(7)], vec![Some(7)])
        );
        assert_eq!(decode_reminders(None, None).unwrap(), (vec![], vec![]));
    }

    #[test]
    fn dates_are_stored_as_iso_days() {
        let date = NaiveDate::from_ymd_opt(2030, 2, 3).unwrap();
        assert_eq!(encode_date(date), "2030-02-03");
        assert_eq!(decode_date("2030-02-03"), Some(date));
        assert_eq!(decode_date("2030-02-30"), None);
    }
}
