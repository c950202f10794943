//! Dues, recurrences and reminders as the task pages read and show them.
//!
//! Everything a person types or reads is wall-clock time in their own time
//! zone (the `timeZone` of GetMe, UTC until set): the form's dates and
//! times are placed in it with [`time_zone::at_local`], the same rule the
//! task service places all-day dues and recurrences by, and the list shows
//! each due in it. The recurrence choices of the form become an RFC 5545
//! RRULE and a stored rule becomes choices again; a rule is summed up in
//! words for the list; and the list's due filters become the service's
//! `dueAfter`/`dueBefore` bounds of the user's days.

use chrono::{DateTime, Datelike as _, Days, NaiveDateTime, Timelike as _};
use prost_types::{Duration, Timestamp};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
pub use todo_common::time_zone::Tz;
use todo_common::time_zone::{self, NaiveDate, NaiveTime};
use todo_proto::google::r#type::Date;
use todo_proto::todo::task::v1::{Reminder, Task};
use todo_proto::todo::user::v1::GetMeRequest;

use crate::forms::Errors;
use crate::i18n::Lang;
use crate::page::Ctx;

/// `<input type="datetime-local">` as browsers send it.
const DATE_TIME_INPUT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]");
/// The same with seconds, which a browser sends when the value had them.
const DATE_TIME_SECONDS_INPUT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
/// `<input type="date">`.
const DATE_INPUT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// The signed-in user's time zone, from GetMe.
///
/// # Errors
/// The failed call's status.
pub async fn user_zone(ctx: &Ctx) -> Result<Tz, tonic::Status> {
    let request = ctx.request(GetMeRequest {});
    let me = ctx.services().user.clone().get_me(request).await?;
    Ok(zone_named(&me.into_inner().time_zone))
}

/// The zone of a stored name; UTC for an unset one (and for a name this
/// binary's tz database does not know, which the user service would not
/// have stored).
pub fn zone_named(name: &str) -> Tz {
    time_zone::parse(name).unwrap_or(Tz::UTC)
}

/// A zone and the current instant: what "today" and "overdue" mean.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub tz: Tz,
    /// Micros since the Unix epoch.
    pub micros: i64,
}

impl Now {
    pub fn in_zone(tz: Tz) -> Self {
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        Self {
            tz,
            micros: i64::try_from(nanos / 1_000).unwrap_or(i64::MAX),
        }
    }

    fn today(&self) -> NaiveDate {
        time_zone::local_date(self.micros, self.tz)
    }

    /// The instant the local day `days` after today starts.
    fn day_start(&self, days: u64) -> Option<Timestamp> {
        let day = self.today().checked_add_days(Days::new(days))?;
        Some(timestamp(time_zone::start_of_day(day, self.tz)))
    }
}

fn timestamp(micros: i64) -> Timestamp {
    Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: 0,
    }
}

/// A `datetime-local` value read as wall time in `tz`. A time a DST change
/// skips is the instant the gap ends, a repeated one the earlier instant.
pub fn read_local(raw: &str, tz: Tz) -> Option<Timestamp> {
    let at = time::PrimitiveDateTime::parse(raw, DATE_TIME_INPUT)
        .or_else(|_| time::PrimitiveDateTime::parse(raw, DATE_TIME_SECONDS_INPUT))
        .ok()?;
    let date = NaiveDate::from_ymd_opt(
        at.year(),
        u32::from(u8::from(at.month())),
        u32::from(at.day()),
    )?;
    let time = NaiveTime::from_hms_opt(
        u32::from(at.hour()),
        u32::from(at.minute()),
        u32::from(at.second()),
    )?;
    Some(timestamp(time_zone::at_local(date, time, tz)))
}

/// A `date` value as the API's calendar day.
pub fn read_date(raw: &str) -> Option<Date> {
    let date = time::Date::parse(raw, DATE_INPUT).ok()?;
    Some(Date {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    })
}

fn naive_date(date: &Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        date.year,
        u32::try_from(date.month).ok()?,
        u32::try_from(date.day).ok()?,
    )
}

fn wall(at: &Timestamp, tz: Tz) -> Option<NaiveDateTime> {
    DateTime::from_timestamp(at.seconds, 0).map(|at| at.with_timezone(&tz).naive_local())
}

/// An instant as a `datetime-local` value in `tz`.
pub fn local_input(at: &Timestamp, tz: Tz) -> String {
    wall(at, tz).map_or_else(String::new, |w| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}",
            w.year(),
            w.month(),
            w.day(),
            w.hour(),
            w.minute()
        )
    })
}

/// An instant as the list shows it: date and time in `tz`.
pub fn local_text(at: &Timestamp, tz: Tz) -> String {
    local_input(at, tz).replacen('T', " ", 1)
}

/// A calendar day as a `date` value (and as the list shows it).
pub fn date_text(date: &Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
}

/// An instant in RFC 3339, UTC, for a `<time datetime>` attribute.
pub fn rfc3339(at: &Timestamp) -> String {
    DateTime::from_timestamp(at.seconds, 0).map_or_else(String::new, |at| {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            at.year(),
            at.month(),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        )
    })
}

// ---------------------------------------------------------------- filters

/// The list's due filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueFilter {
    Any,
    /// Due before now; an all-day due only once its day is over.
    Overdue,
    /// Due on the user's today.
    Today,
    /// Due from the start of today to the end of the sixth day after.
    Week,
    /// No due at all.
    NoDue,
}

/// The filter's choices, by query value, with their catalog keys.
pub const DUE_FILTERS: [(&str, &str); 5] = [
    ("", "due_any"),
    ("overdue", "due_overdue"),
    ("today", "due_today"),
    ("week", "due_week"),
    ("none", "due_none"),
];

impl DueFilter {
    pub fn from_query(value: &str) -> Self {
        match value {
            "overdue" => Self::Overdue,
            "today" => Self::Today,
            "week" => Self::Week,
            "none" => Self::NoDue,
            _ => Self::Any,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "",
            Self::Overdue => "overdue",
            Self::Today => "today",
            Self::Week => "week",
            Self::NoDue => "none",
        }
    }

    /// Whether the filter depends on the user's zone and the time.
    pub fn needs_zone(self) -> bool {
        matches!(self, Self::Overdue | Self::Today | Self::Week)
    }

    /// `(due_after, due_before)` for the service. An all-day due counts
    /// there as the local midnight that starts its day, so the day bounds
    /// are local midnights too.
    pub fn bounds(self, now: &Now) -> (Option<Timestamp>, Option<Timestamp>) {
        match self {
            Self::Any | Self::NoDue => (None, None),
            Self::Overdue => (None, Some(timestamp(now.micros))),
            Self::Today => (now.day_start(0), now.day_start(1)),
            Self::Week => (now.day_start(0), now.day_start(7)),
        }
    }

    /// `has_due` for the service: "no due" is its filter too.
    pub fn has_due(self) -> Option<bool> {
        match self {
            Self::NoDue => Some(false),
            Self::Any | Self::Overdue | Self::Today | Self::Week => None,
        }
    }

    /// Whether `task`, which the service let through the bounds, is shown:
    /// an all-day due of today starts before now without being overdue.
    pub fn keeps(self, task: &Task, now: &Now) -> bool {
        match self {
            Self::Overdue => match task.due_date.as_ref().and_then(naive_date) {
                Some(day) => day < now.today(),
                None => true,
            },
            Self::Any | Self::Today | Self::Week | Self::NoDue => true,
        }
    }
}

// ------------------------------------------------------------- recurrence

/// The form's recurrence choices, by value, with their catalog keys.
pub const REPEATS: [(&str, &str); 8] = [
    ("", "repeat_none"),
    ("daily", "repeat_daily"),
    ("weekdays", "repeat_weekdays"),
    ("weekly", "repeat_weekly"),
    ("monthly", "repeat_monthly"),
    ("monthlyLast", "repeat_monthly_last"),
    ("yearly", "repeat_yearly"),
    ("custom", "repeat_custom"),
];

/// The days of the week: RRULE code, short and long catalog keys.
pub const WEEKDAYS: [(&str, &str, &str); 7] = [
    ("MO", "wd_mo", "day_mo"),
    ("TU", "wd_tu", "day_tu"),
    ("WE", "wd_we", "day_we"),
    ("TH", "wd_th", "day_th"),
    ("FR", "wd_fr", "day_fr"),
    ("SA", "wd_sa", "day_sa"),
    ("SU", "wd_su", "day_su"),
];

const WORKING_DAYS: &str = "MO,TU,WE,TH,FR";

/// The recurrence part of the task form, as typed.
#[derive(Debug, Default, Clone)]
pub struct RepeatForm {
    /// One of [`REPEATS`]' values.
    pub choice: String,
    /// The days ticked for "weekly", in [`WEEKDAYS`]' order.
    pub days: [bool; 7],
    /// The rule typed for "custom" (the field `recurrence`, named as the
    /// API names it so that the service's error finds it).
    pub rule: String,
    /// Ends after this many occurrences.
    pub count: String,
    /// Ends on this day (`date`).
    pub until: String,
}

impl RepeatForm {
    /// Ticks the day of an RRULE code; other values are ignored.
    pub fn tick(&mut self, code: &str) {
        if let Some(i) = WEEKDAYS.iter().position(|(c, _, _)| *c == code) {
            self.days[i] = true;
        }
    }

    pub fn is_ticked(&self, code: &&str) -> bool {
        WEEKDAYS
            .iter()
            .position(|(c, _, _)| c == code)
            .is_some_and(|i| self.days[i])
    }

    pub fn is_choice(&self, value: &&str) -> bool {
        self.choice == *value
    }

    /// Whether the fieldset has anything to show open.
    pub fn is_set(&self) -> bool {
        !self.choice.is_empty()
    }

    /// The choices that say `rule` (a stored, canonical rule): a preset
    /// with its end when there is one, else "custom" with the rule as is.
    pub fn of(rule: &str) -> Self {
        if rule.is_empty() {
            return Self::default();
        }
        let custom = || Self {
            choice: "custom".to_owned(),
            rule: rule.to_owned(),
            ..Self::default()
        };
        let mut form = Self::default();
        let mut rest = Vec::new();
        for part in rule.split(';').filter(|p| !p.is_empty()) {
            if let Some(count) = part.strip_prefix("COUNT=") {
                count.clone_into(&mut form.count);
            } else if let Some(day) = part.strip_prefix("UNTIL=").and_then(until_day) {
                form.until = day;
            } else {
                rest.push(part);
            }
        }
        form.choice = match rest.as_slice() {
            ["FREQ=DAILY"] => "daily",
            ["FREQ=WEEKLY", by] if *by == format!("BYDAY={WORKING_DAYS}") => "weekdays",
            ["FREQ=WEEKLY"] => "weekly",
            ["FREQ=WEEKLY", by] => {
                let Some(days) = by.strip_prefix("BYDAY=") else {
                    return custom();
                };
                for code in days.split(',') {
                    if !WEEKDAYS.iter().any(|(c, _, _)| *c == code) {
                        return custom();
                    }
                    form.tick(code);
                }
                "weekly"
            }
            ["FREQ=MONTHLY"] => "monthly",
            ["FREQ=MONTHLY", "BYMONTHDAY=-1"] => "monthlyLast",
            ["FREQ=YEARLY"] => "yearly",
            _ => return custom(),
        }
        .to_owned();
        form
    }

    /// The RRULE the choices make (empty for none), or the errors of the
    /// fields this side reads, added to `errors`. The rule itself is the
    /// service's to check.
    pub fn rule(&self, lang: Lang, errors: &mut Errors) -> String {
        let base = match self.choice.as_str() {
            "" => return String::new(),
            "daily" => "FREQ=DAILY".to_owned(),
            "weekdays" => format!("FREQ=WEEKLY;BYDAY={WORKING_DAYS}"),
            "weekly" => {
                let days: Vec<&str> = WEEKDAYS
                    .iter()
                    .zip(self.days)
                    .filter(|(_, on)| *on)
                    .map(|((code, _, _), _)| *code)
                    .collect();
                if days.is_empty() {
                    // On the due's own weekday.
                    "FREQ=WEEKLY".to_owned()
                } else {
                    format!("FREQ=WEEKLY;BYDAY={}", days.join(","))
                }
            }
            "monthly" => "FREQ=MONTHLY".to_owned(),
            "monthlyLast" => "FREQ=MONTHLY;BYMONTHDAY=-1".to_owned(),
            "yearly" => "FREQ=YEARLY".to_owned(),
            "custom" => match self.rule.trim() {
                "" => {
                    errors.add("recurrence", lang.t("err_rule_empty"));
                    return String::new();
                }
                rule => rule.to_owned(),
            },
            _ => {
                errors.add("recurrence", lang.t("err_repeat"));
                return String::new();
            }
        };
        let count = match self.count.trim() {
            "" => None,
            raw => match raw.parse::<u32>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    errors.add("repeatCount", lang.t("err_count"));
                    None
                }
            },
        };
        let until = match self.until.trim() {
            "" => None,
            raw => match read_date(raw) {
                Some(day) => Some(day),
                None => {
                    errors.add("repeatUntil", lang.t("err_date"));
                    None
                }
            },
        };
        match (count, until) {
            (Some(_), Some(_)) => {
                errors.add("repeatUntil", lang.t("err_count_or_until"));
                String::new()
            }
            (Some(n), None) => format!("{base};COUNT={n}"),
            // A DATE: the last local day an occurrence may fall on.
            (None, Some(d)) => format!("{base};UNTIL={:04}{:02}{:02}", d.year, d.month, d.day),
            (None, None) => base,
        }
    }
}

/// An UNTIL that is a DATE (`20301231`) as a `date` value; `None` for a
/// UTC time, which only the custom rule can hold.
fn until_day(value: &str) -> Option<String> {
    let all_digits = value.len() == 8 && value.bytes().all(|b| b.is_ascii_digit());
    all_digits.then(|| format!("{}-{}-{}", &value[..4], &value[4..6], &value[6..]))
}

/// A rule in words ("every week on Monday"), in `lang`; a rule the words
/// do not cover is shown as it is.
pub fn describe(rule: &str, lang: Lang) -> String {
    let as_is = || fill(lang.t("rec_custom"), &[("rule", rule)]);
    let (mut freq, mut interval, mut by_day, mut by_month_day) = (None, 1u32, None, None);
    let mut end = Vec::new();
    for part in rule.split(';').filter(|p| !p.is_empty()) {
        let Some((name, value)) = part.split_once('=') else {
            return as_is();
        };
        match name {
            "FREQ" => freq = Some(value),
            "INTERVAL" => match value.parse() {
                Ok(n) => interval = n,
                Err(_) => return as_is(),
            },
            "BYDAY" => by_day = Some(value),
            "BYMONTHDAY" => by_month_day = Some(value),
            "WKST" => {}
            "COUNT" => end.push(fill(lang.t("rec_count"), &[("n", value)])),
            "UNTIL" => {
                let date = until_day(value).unwrap_or_else(|| value.to_owned());
                end.push(fill(lang.t("rec_until"), &[("date", &date)]));
            }
            _ => return as_is(),
        }
    }
    let n = interval.to_string();
    let every = |one: &str, many: &str| {
        if interval == 1 {
            lang.t(one).to_owned()
        } else {
            fill(lang.t(many), &[("n", &n)])
        }
    };
    let words = match (freq, by_day, by_month_day) {
        (Some("HOURLY"), None, None) => every("rec_hourly", "rec_hourly_n"),
        (Some("DAILY"), None, None) => every("rec_daily", "rec_daily_n"),
        (Some("WEEKLY"), None, None) => every("rec_weekly", "rec_weekly_n"),
        (Some("WEEKLY"), Some(WORKING_DAYS), None) if interval == 1 => {
            lang.t("rec_weekdays").to_owned()
        }
        (Some("WEEKLY"), Some(days), None) => {
            let mut names = Vec::new();
            for code in days.split(',') {
                match WEEKDAYS.iter().find(|(c, _, _)| *c == code) {
                    Some((_, _, long)) => names.push(lang.t(long)),
                    None => return as_is(),
                }
            }
            let days = listed(&names, lang);
            let one = lang.t("rec_weekly_on");
            let many = lang.t("rec_weekly_n_on");
            fill(
                if interval == 1 { one } else { many },
                &[("n", &n), ("days", &days)],
            )
        }
        (Some("MONTHLY"), None, None) => every("rec_monthly", "rec_monthly_n"),
        (Some("MONTHLY"), None, Some("-1")) => every("rec_monthly_last", "rec_monthly_n_last"),
        (Some("MONTHLY"), None, Some(day))
            if day.parse::<u8>().is_ok_and(|d| (1..=31).contains(&d)) =>
        {
            let key = if interval == 1 {
                "rec_monthly_day"
            } else {
                "rec_monthly_n_day"
            };
            fill(lang.t(key), &[("n", &n), ("day", day)])
        }
        (Some("YEARLY"), None, None) => every("rec_yearly", "rec_yearly_n"),
        _ => return as_is(),
    };
    std::iter::once(words)
        .chain(end)
        .collect::<Vec<_>>()
        .join(", ")
}

/// "a", "a and b", "a, b and c".
fn listed(names: &[&str], lang: Lang) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{}{}{last}", init.join(", "), lang.t("rec_and")),
    }
}

/// A catalog text with its `{name}` placeholders filled in.
fn fill(text: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(text.to_owned(), |text, (name, value)| {
        text.replace(&format!("{{{name}}}"), value)
    })
}

// -------------------------------------------------------------- reminders

/// The units a relative reminder is typed in: value, catalog key, seconds.
pub const UNITS: [(&str, &str, i64); 3] = [
    ("minutes", "unit_minutes", 60),
    ("hours", "unit_hours", 60 * 60),
    ("days", "unit_days", 24 * 60 * 60),
];

/// One reminder row of the form: "N units before the due" or "at a date
/// and time"; a row with neither is no reminder.
#[derive(Debug, Default, Clone)]
pub struct ReminderRow {
    /// A whole number of `unit`s.
    pub before: String,
    /// One of [`UNITS`]' values; minutes when unknown.
    pub unit: String,
    /// `datetime-local`, in the user's zone.
    pub at: String,
}

impl ReminderRow {
    pub fn is_empty(&self) -> bool {
        self.before.trim().is_empty() && self.at.trim().is_empty()
    }

    pub fn is_unit(&self, value: &&str) -> bool {
        let unit = if UNITS.iter().any(|(v, _, _)| *v == self.unit) {
            self.unit.as_str()
        } else {
            UNITS[0].0
        };
        unit == *value
    }

    /// The row a reminder shows as: a relative one in the largest unit
    /// that divides it.
    pub fn of(reminder: &Reminder, tz: Tz) -> Self {
        if let Some(before) = &reminder.before_due {
            let seconds = before.seconds;
            let (unit, size) = UNITS
                .iter()
                .rev()
                .find(|(_, _, size)| seconds > 0 && seconds % size == 0)
                .map_or((UNITS[0].0, UNITS[0].2), |(unit, _, size)| (*unit, *size));
            return Self {
                before: (seconds / size).to_string(),
                unit: unit.to_owned(),
                at: String::new(),
            };
        }
        Self {
            at: reminder
                .remind_time
                .as_ref()
                .map(|at| local_input(at, tz))
                .unwrap_or_default(),
            ..Self::default()
        }
    }

    /// The reminder the row says, or the catalog key of its error. Not to
    /// be called on an empty row.
    pub fn reminder(&self, tz: Tz) -> Result<Reminder, &'static str> {
        match (self.before.trim(), self.at.trim()) {
            (before, "") => {
                let size = UNITS
                    .iter()
                    .find(|(v, _, _)| *v == self.unit)
                    .map_or(UNITS[0].2, |(_, _, size)| *size);
                let seconds = before
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .and_then(|n| n.checked_mul(size))
                    .ok_or("err_reminder_amount")?;
                Ok(Reminder {
                    before_due: Some(Duration { seconds, nanos: 0 }),
                    ..Reminder::default()
                })
            }
            ("", at) => Ok(Reminder {
                remind_time: Some(read_local(at, tz).ok_or("err_due")?),
                ..Reminder::default()
            }),
            _ => Err("err_reminder_both"),
        }
    }
}

/// A task's reminders in words for the list ("2 reminders"); empty when
/// it has none.
pub fn reminders_text(count: usize, lang: Lang) -> String {
    match count {
        0 => String::new(),
        1 => lang.t("reminders_one").to_owned(),
        n => fill(lang.t("reminders_many"), &[("n", &n.to_string())]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> Tz {
        zone_named("Europe/Berlin")
    }

    #[test]
    fn a_local_time_is_read_and_shown_in_the_zone() {
        // 09:00 in Berlin is 08:00 UTC in winter and 07:00 in summer.
        let winter = read_local("2030-03-25T09:00", berlin()).unwrap();
        assert_eq!(rfc3339(&winter), "2030-03-25T08:00:00Z");
        let summer = read_local("2030-04-01T09:00:00", berlin()).unwrap();
        assert_eq!(rfc3339(&summer), "2030-04-01T07:00:00Z");
        assert_eq!(local_input(&summer, berlin()), "2030-04-01T09:00");
        assert_eq!(local_text(&summer, berlin()), "2030-04-01 09:00");
        assert_eq!(local_text(&summer, Tz::UTC), "2030-04-01 07:00");
        // A time the clocks skip is the end of the gap.
        let gap = read_local("2030-03-31T02:30", berlin()).unwrap();
        assert_eq!(rfc3339(&gap), "2030-03-31T01:00:00Z");
        assert!(read_local("tomorrow", berlin()).is_none());
        assert!(read_local("2030-02-30T09:00", berlin()).is_none());
        assert_eq!(zone_named(""), Tz::UTC);
    }

    #[test]
    fn dates_are_read_as_calendar_days() {
        let day = read_date("2030-03-31").unwrap();
        assert_eq!((day.year, day.month, day.day), (2030, 3, 31));
        assert_eq!(date_text(&day), "2030-03-31");
        assert!(read_date("2030-02-30").is_none());
        assert!(read_date("31.03.2030").is_none());
    }

    #[test]
    fn the_due_filters_are_the_users_days() {
        // 2030-03-30 23:30 UTC is already the 31st in Berlin, the day the
        // clocks go forward: it starts at 22:00 UTC the day before, and
        // the next one 22:00 UTC on the 31st.
        let now = Now {
            tz: berlin(),
            micros: read_local("2030-03-31T00:30", berlin()).unwrap().seconds * 1_000_000,
        };
        let (after, before) = DueFilter::Today.bounds(&now);
        assert_eq!(rfc3339(&after.unwrap()), "2030-03-30T23:00:00Z");
        assert_eq!(rfc3339(&before.unwrap()), "2030-03-31T22:00:00Z");
        let (after, before) = DueFilter::Week.bounds(&now);
        assert_eq!(rfc3339(&after.unwrap()), "2030-03-30T23:00:00Z");
        assert_eq!(rfc3339(&before.unwrap()), "2030-04-06T22:00:00Z");
        assert_eq!(
            DueFilter::Overdue.bounds(&now),
            (None, Some(timestamp(now.micros)))
        );
        let all_day = |day: i32| Task {
            due_date: Some(Date {
                year: 2030,
                month: 3,
                day,
            }),
            ..Task::default()
        };
        assert!(DueFilter::Overdue.keeps(&all_day(30), &now));
        assert!(!DueFilter::Overdue.keeps(&all_day(31), &now));
        assert_eq!(DueFilter::NoDue.has_due(), Some(false));
        assert_eq!(DueFilter::NoDue.bounds(&now), (None, None));
        assert_eq!(DueFilter::Overdue.has_due(), None);
        for (value, _) in DUE_FILTERS {
            assert_eq!(DueFilter::from_query(value).as_str(), value);
        }
    }

    fn rule_of(form: &RepeatForm) -> (String, Errors) {
        let mut errors = Errors::none();
        let rule = form.rule(Lang::En, &mut errors);
        (rule, errors)
    }

    #[test]
    fn choices_make_rules_and_rules_make_the_same_choices() {
        for rule in [
            "",
            "FREQ=DAILY",
            "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
            "FREQ=WEEKLY",
            "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10",
            "FREQ=MONTHLY;UNTIL=20301231",
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            "FREQ=YEARLY",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR",
            "FREQ=DAILY;UNTIL=20301231T235959Z",
        ] {
            let form = RepeatForm::of(rule);
            let (again, errors) = rule_of(&form);
            assert!(errors.is_empty(), "{rule}");
            assert_eq!(again, rule);
        }
        assert_eq!(RepeatForm::of("FREQ=WEEKLY;BYDAY=MO").choice, "weekly");
        assert!(RepeatForm::of("FREQ=WEEKLY;BYDAY=MO").is_ticked(&"MO"));
        assert_eq!(RepeatForm::of("FREQ=WEEKLY;BYDAY=1MO").choice, "custom");
        assert_eq!(RepeatForm::of("FREQ=MONTHLY;COUNT=3").count, "3");
    }

    #[test]
    fn what_the_form_cannot_mean_is_shown_at_its_field() {
        let form = |choice: &str, count: &str, until: &str| RepeatForm {
            choice: choice.to_owned(),
            count: count.to_owned(),
            until: until.to_owned(),
            ..RepeatForm::default()
        };
        assert!(rule_of(&form("custom", "", "")).1.has("recurrence"));
        assert!(rule_of(&form("hourly", "", "")).1.has("recurrence"));
        assert!(rule_of(&form("daily", "0", "")).1.has("repeatCount"));
        assert!(rule_of(&form("daily", "", "soon")).1.has("repeatUntil"));
        assert!(
            rule_of(&form("daily", "3", "2030-01-01"))
                .1
                .has("repeatUntil")
        );
        assert_eq!(
            rule_of(&form("daily", "", "2030-01-01")).0,
            "FREQ=DAILY;UNTIL=20300101"
        );
        // No repeat: the end fields mean nothing.
        assert_eq!(rule_of(&form("", "3", "")).0, "");
    }

    #[test]
    fn rules_read_as_words_in_both_languages() {
        let en = |rule| describe(rule, Lang::En);
        let de = |rule| describe(rule, Lang::De);
        assert_eq!(en("FREQ=WEEKLY;BYDAY=MO"), "every week on Monday");
        assert_eq!(de("FREQ=WEEKLY;BYDAY=MO"), "jede Woche am Montag");
        assert_eq!(
            en("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR"),
            "every 2 weeks on Monday, Wednesday and Friday"
        );
        assert_eq!(
            de("FREQ=WEEKLY;BYDAY=MO,WE"),
            "jede Woche am Montag und Mittwoch"
        );
        assert_eq!(en("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"), "every weekday");
        assert_eq!(en("FREQ=DAILY;COUNT=5"), "every day, 5 times");
        assert_eq!(de("FREQ=DAILY;INTERVAL=3"), "alle 3 Tage");
        assert_eq!(
            en("FREQ=MONTHLY;BYMONTHDAY=-1;UNTIL=20301231"),
            "every month on the last day, until 2030-12-31"
        );
        assert_eq!(de("FREQ=MONTHLY;BYMONTHDAY=15"), "jeden Monat am 15.");
        assert_eq!(en("FREQ=YEARLY"), "every year");
        assert_eq!(
            en("FREQ=MONTHLY;BYDAY=1MO"),
            "repeats: FREQ=MONTHLY;BYDAY=1MO"
        );
        assert_eq!(reminders_text(0, Lang::En), "");
        assert_eq!(reminders_text(1, Lang::De), "1 Erinnerung");
        assert_eq!(reminders_text(3, Lang::En), "3 reminders");
    }

    #[test]
    fn reminder_rows_read_both_kinds_and_refuse_a_row_with_both() {
        let row = |before: &str, unit: &str, at: &str| ReminderRow {
            before: before.to_owned(),
            unit: unit.to_owned(),
            at: at.to_owned(),
        };
        let fifteen = row("15", "minutes", "").reminder(berlin()).unwrap();
        assert_eq!(fifteen.before_due.unwrap().seconds, 900);
        let day = row("1", "days", "").reminder(berlin()).unwrap();
        assert_eq!(day.before_due.unwrap().seconds, 86_400);
        let at = row("", "minutes", "2030-03-25T08:45")
            .reminder(berlin())
            .unwrap();
        assert_eq!(rfc3339(&at.remind_time.unwrap()), "2030-03-25T07:45:00Z");
        assert_eq!(
            row("15", "minutes", "2030-03-25T08:45").reminder(berlin()),
            Err("err_reminder_both")
        );
        assert_eq!(
            row("-1", "hours", "").reminder(berlin()),
            Err("err_reminder_amount")
        );
        assert!(row(" ", "days", "").is_empty());
        // Back to rows, in the largest unit that divides.
        let shown = ReminderRow::of(&day, berlin());
        assert_eq!((shown.before.as_str(), shown.unit.as_str()), ("1", "days"));
        let shown = ReminderRow::of(&fifteen, berlin());
        assert_eq!(
            (shown.before.as_str(), shown.unit.as_str()),
            ("15", "minutes")
        );
        assert_eq!(ReminderRow::of(&at, berlin()).at, "2030-03-25T08:45");
    }
}
