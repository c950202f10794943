//! The daily digest: when a user's next one is due, and what it lists.
//!
//! A digest belongs to a local date in the user's zone, and each date has
//! at most one: its run is `time` on that date (`zone::at_local`: a time
//! that a spring-forward gap skips runs when the gap ends, one that a
//! fall-back overlap repeats runs at the first of the two).

use serde::{Deserialize, Serialize};
use todo_common::clock::from_timestamp;
use todo_proto::todo::task::v1::Task;

use todo_common::time_zone::{self as zone, NaiveDate, NaiveTime, Tz};

/// The most tasks a digest lists; it counts the rest.
pub const LINES_MAX: usize = 50;
/// How late a digest may still be sent: a digest held up longer (the
/// task service down all morning) is skipped, its day over.
pub const LATE_LIMIT_MICROS: i64 = 12 * 3600 * 1_000_000;

/// A digest's local date and the instant it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub date: NaiveDate,
    pub at: i64,
}

/// The run of `date` at `time` in `tz`.
pub fn run_on(date: NaiveDate, time: NaiveTime, tz: Tz) -> Run {
    Run {
        date,
        at: zone::at_local(date, time, tz),
    }
}

/// The next run for a schedule made at `now` (the digest turned on, its
/// time or the user's zone changed): the first local date, from today in
/// `tz` and after `last` (the last date that had its digest), whose run
/// is not before `now`.
pub fn next_run(now: i64, tz: Tz, time: NaiveTime, last: Option<NaiveDate>) -> Run {
    let today = zone::local_date(now, tz);
    let mut date = match last.and_then(|l| l.succ_opt()) {
        Some(after_last) if after_last > today => after_last,
        _ => today,
    };
    loop {
        let run = run_on(date, time, tz);
        match date.succ_opt() {
            Some(next) if run.at < now => date = next,
            _ => return run,
        }
    }
}

/// The run after the one of `date`: the next local date at `time`.
pub fn run_after(date: NaiveDate, time: NaiveTime, tz: Tz) -> Run {
    run_on(date.succ_opt().unwrap_or(date), time, tz)
}

/// A date as stored and in keys: `YYYY-MM-DD`.
pub fn date_key(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// A stored `YYYY-MM-DD` date.
pub fn parse_date_key(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()
}

/// What one digest lists: a line per task, at most [`LINES_MAX`], and
/// how many more tasks there are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// `YYYY-MM-DD`, the local date it is for.
    pub date: String,
    /// Each task's title and when it is due, in the user's zone.
    pub lines: Vec<String>,
    pub more: i64,
}

/// The longest in-app body (the inbox's column).
const BODY_MAX: usize = 4000;

impl Digest {
    /// The digest of `date` listing `tasks` (earliest due first) out of
    /// `total` due, their dues read in `tz`.
    pub fn of(date: NaiveDate, tz: Tz, tasks: &[Task], total: i64) -> Self {
        let lines: Vec<String> = tasks
            .iter()
            .take(LINES_MAX)
            .map(|task| line(task, tz))
            .collect();
        let listed = i64::try_from(lines.len()).unwrap_or(i64::MAX);
        Self {
            date: date_key(date),
            lines,
            more: total.saturating_sub(listed).max(0),
        }
    }

    /// The in-app notification's title.
    pub fn title(&self) -> String {
        format!("Your tasks for {}", self.date)
    }

    /// The line after the listed tasks, if some are left out.
    pub fn more_line(&self) -> Option<String> {
        (self.more > 0).then(|| format!("and {} more", self.more))
    }

    /// The in-app notification's body: the lines that fit the inbox, then
    /// how many more there are.
    pub fn in_app_body(&self) -> String {
        let mut body = String::new();
        let mut shown = 0;
        // Room for the last line, "and N more".
        let room = BODY_MAX - 40;
        for line in &self.lines {
            let len = body.chars().count() + line.chars().count() + 1;
            if len > room {
                break;
            }
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(line);
            shown += 1;
        }
        let left = self.more + i64::try_from(self.lines.len() - shown).unwrap_or(0);
        if left > 0 {
            body.push_str(&format!("\nand {left} more"));
        }
        body
    }
}

/// A task's title and when it is due: its local date when it is due on a
/// day, its local date and time when at an instant.
fn line(task: &Task, tz: Tz) -> String {
    let due_date = task
        .due_date
        .as_ref()
        .and_then(|d| {
            NaiveDate::from_ymd_opt(
                d.year,
                u32::try_from(d.month).ok()?,
                u32::try_from(d.day).ok()?,
            )
        })
        .map(date_key);
    let due_time = task.due_time.as_ref().and_then(from_timestamp).map(|at| {
        let utc = chrono::DateTime::from_timestamp_micros(at).unwrap_or_default();
        utc.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
    });
    match due_date.or(due_time) {
        Some(due) => format!("{} (due {due})", task.title),
        None => task.title.clone(),
    }
}

#[cfg(test)]
mod tests;
