//! Repeating tasks: an RFC 5545 RRULE, checked at the boundary, and the one
//! step the service needs from it: the occurrence after the current due.
//!
//! Expansion always restarts at the current due (the due is an occurrence
//! of the series, so the later occurrences are the same), which keeps the
//! work per step proportional to the gap to the next occurrence however old
//! the series is, and means the count of occurrences so far is the caller's
//! to keep (`occurrence`), not a replay of the series.
//!
//! Expansion is on the wall clock of the user's zone, but rrule is handed
//! wall-clock times labelled UTC and each result is placed in the zone here,
//! with [`time_zone::at_local`]. Given the zone itself, rrule places a wall
//! time a DST change skips or repeats at local midnight plus the time since
//! midnight: 02:30 on a 02:00 -> 03:00 night becomes 03:30, where the
//! platform uses the gap's end, 03:00; and when that day's midnight is
//! itself skipped or repeated (America/Santiago, America/Havana) it drops
//! the occurrence, so a daily all-day series in Santiago loses 2025-09-07.
//! rrule also reads an UNTIL without `Z` (a DATE included) in the machine's
//! zone and then refuses it beside a zoned start, so UNTIL is read and
//! applied here, as is COUNT.
//!
//! A due moved to a gap's end restarts the series at that wall time: a
//! weekly 02:30 is 03:00 after the spring-forward night, and stays 03:00.
//! The due alone cannot say it was meant for 02:30; only a stored series
//! time (or BYHOUR/BYMINUTE in the rule) would keep it.

use std::ops::Range;

use chrono::{DateTime, Months, NaiveDateTime, Offset as _, TimeZone as _};
use rrule::{Frequency, RRule, Unvalidated};
use todo_common::time_zone::{self, NaiveDate, NaiveTime, Tz};

/// How far after a due [`Recurrence::next_after`] looks for the next
/// occurrence: a yearly rule on February 29 waits up to 8 years (2096 to
/// 2104), and a rule with nothing in ten years is as good as over.
pub const SEARCH_WINDOW: Months = Months::new(12 * 10);

/// Occurrences looked at per step, whatever the rule. Only a due in the
/// second pass of a repeated hour has occurrences at or before it to skip
/// (their wall times map to the first pass), at most 3,600 an hour; rrule
/// separately stops after 100,000 periods without an occurrence.
const MAX_CANDIDATES: usize = 10_000;

/// The largest COUNT and INTERVAL accepted: more than any real schedule
/// needs, and a bound on what one rule can ask of the expansion.
const MAX_COUNT: u32 = 1_000;
const MAX_INTERVAL: u32 = 1_000;

const NOT_A_RULE: &str = "must be an RFC 5545 RRULE such as FREQ=WEEKLY;BYDAY=MO";
const PREFIX: &str = "must be the rule alone, without the RRULE: prefix";
const OTHER_PROPERTY: &str =
    "must hold only RRULE parts such as FREQ and BYDAY, no DTSTART, EXDATE or other property";
const REPEATED_PART: &str = "must name each RRULE part once";
const TOO_OFTEN: &str = "FREQ must be HOURLY or slower";
const COUNT_RANGE: &str = "COUNT must be from 1 to 1000";
const INTERVAL_RANGE: &str = "INTERVAL must be from 1 to 1000";
const COUNT_AND_UNTIL: &str = "must not have both COUNT and UNTIL";
const UNTIL_FORM: &str =
    "UNTIL must be a date such as 20261231 or a UTC time such as 20261231T235959Z";
const ALL_DAY_FREQ: &str = "an all-day task repeats daily or slower";
const ALL_DAY_TIME: &str = "an all-day task's rule cannot have BYHOUR, BYMINUTE or BYSECOND";

/// A task's due: an instant (micros) or an all-day local date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    At(i64),
    Day(NaiveDate),
}

/// The end of a series as UNTIL gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// `...Z`: the last instant an occurrence may fall on.
    Instant(i64),
    /// A DATE: the last local day an occurrence may fall on, in the
    /// user's zone.
    Day(NaiveDate),
}

/// A validated RFC 5545 RRULE (no `RRULE:` prefix, no DTSTART).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence {
    /// The canonical text: upper case, empty parts dropped.
    text: String,
    /// The rule without COUNT and UNTIL, which `next_after` applies itself:
    /// COUNT from the caller's occurrence number, UNTIL against the instant
    /// in the user's zone.
    rule: RRule<Unvalidated>,
    count: Option<u32>,
    until: Option<Until>,
}

impl Recurrence {
    /// # Errors
    /// A short sentence for the client when `text` is not a rule the
    /// platform repeats tasks by.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        // RFC 5545 names and values are case-insensitive; one spelling is
        // stored so equal rules compare equal.
        let text = text.trim().to_ascii_uppercase();
        if text.starts_with("RRULE:") {
            return Err(PREFIX);
        }
        // A colon or a line break means a content line (DTSTART:..,
        // EXDATE:..) beside or instead of the rule's value.
        if text.contains([':', '\n', '\r']) {
            return Err(OTHER_PROPERTY);
        }
        let parts: Vec<&str> = text.split(';').filter(|part| !part.is_empty()).collect();
        if parts.is_empty() {
            return Err(NOT_A_RULE);
        }
        let mut kept = Vec::with_capacity(parts.len());
        let (mut count, mut until) = (None, None);
        for part in &parts {
            let (name, value) = part.split_once('=').ok_or(NOT_A_RULE)?;
            match name {
                "COUNT" if count.is_some() => return Err(REPEATED_PART),
                "COUNT" => count = Some(bounded(value, MAX_COUNT).ok_or(COUNT_RANGE)?),
                "UNTIL" if until.is_some() => return Err(REPEATED_PART),
                "UNTIL" => until = Some(parse_until(value).ok_or(UNTIL_FORM)?),
                "FREQ" if matches!(value, "MINUTELY" | "SECONDLY") => return Err(TOO_OFTEN),
                "INTERVAL" if bounded(value, MAX_INTERVAL).is_none() => {
                    return Err(INTERVAL_RANGE);
                }
                "FREQ" | "INTERVAL" | "BYSECOND" | "BYMINUTE" | "BYHOUR" | "BYDAY"
                | "BYMONTHDAY" | "BYYEARDAY" | "BYWEEKNO" | "BYMONTH" | "BYSETPOS" | "WKST" => {
                    kept.push(*part);
                }
                _ => return Err(OTHER_PROPERTY),
            }
        }
        if count.is_some() && until.is_some() {
            return Err(COUNT_AND_UNTIL);
        }
        // RFC 5545 allows BYSETPOS only beside another BY part; rrule, having
        // filled in BYHOUR and the like from the start, no longer notices.
        let by_parts = kept.iter().filter(|part| part.starts_with("BY")).count();
        if kept.iter().any(|part| part.starts_with("BYSETPOS=")) && by_parts < 2 {
            return Err(NOT_A_RULE);
        }
        let rule: RRule<Unvalidated> = kept.join(";").parse().map_err(|err| match err {
            rrule::RRuleError::ParserError(rrule::ParseError::DuplicateProperty(_)) => {
                REPEATED_PART
            }
            _ => NOT_A_RULE,
        })?;
        // rrule drops BYMONTHDAY=0 and falls back to the start's day of the
        // month instead of refusing a day no month has.
        if rule.get_by_month_day().contains(&0) {
            return Err(NOT_A_RULE);
        }
        // rrule checks ranges and combinations (BYWEEKNO only with YEARLY,
        // no BYMONTHDAY with WEEKLY, ...) when given a start; without UNTIL
        // no check depends on which start.
        let probe = rrule::Tz::UTC.from_utc_datetime(&NaiveDateTime::default());
        rule.clone().validate(probe).map_err(|_| NOT_A_RULE)?;
        Ok(Self {
            text: parts.join(";"),
            rule,
            count,
            until,
        })
    }

    /// The canonical text stored and returned to clients.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the rule can apply to this kind of due.
    ///
    /// # Errors
    /// An all-day due has no time of day, so it refuses an hourly rule and
    /// one that picks hours, minutes or seconds.
    pub fn fits(&self, due: &Due) -> Result<(), &'static str> {
        let Due::Day(_) = due else {
            return Ok(());
        };
        if self.rule.get_freq() == Frequency::Hourly {
            return Err(ALL_DAY_FREQ);
        }
        if !(self.rule.get_by_hour().is_empty()
            && self.rule.get_by_minute().is_empty()
            && self.rule.get_by_second().is_empty())
        {
            return Err(ALL_DAY_TIME);
        }
        Ok(())
    }

    /// The first occurrence strictly after `due`, `occurrence` being the
    /// 1-based number of `due` within the series; `None` when the series
    /// is over (COUNT reached, past UNTIL, or nothing within
    /// [`SEARCH_WINDOW`]).
    ///
    /// The series restarts at `due`, read on the wall clock of `tz`: a
    /// `Due::Day` at its local midnight, yielding local dates; a `Due::At`
    /// at its local time, yielding instants. Wall time is kept across DST
    /// (09:00 stays 09:00 local); a wall time a DST change skips becomes the
    /// instant the gap ends, one it repeats the earlier instant.
    ///
    /// Bounded: occurrences past [`SEARCH_WINDOW`] are not looked at, at
    /// most `MAX_CANDIDATES` are, and rrule gives up after 100,000 periods
    /// without one (a rule that never matches costs about 20 ms, optimised).
    pub fn next_after(&self, due: &Due, occurrence: u32, tz: Tz) -> Option<Due> {
        if self.count.is_some_and(|count| occurrence >= count) {
            return None;
        }
        let start = match *due {
            Due::At(micros) => wall_clock(micros, tz)?,
            Due::Day(date) => date.and_time(NaiveTime::MIN),
        };
        let end = start.checked_add_months(SEARCH_WINDOW)?;
        let series = self
            .rule
            .clone()
            .build(rrule::Tz::UTC.from_utc_datetime(&start))
            .ok()?
            .limit();
        let walls = series
            .into_iter()
            .take(MAX_CANDIDATES)
            .map(|wall| wall.naive_utc())
            .take_while(|wall| *wall <= end);
        let next = match *due {
            Due::At(micros) => walls
                .map(|wall| time_zone::at_local(wall.date(), wall.time(), tz))
                .find(|&at| at > micros)
                .map(Due::At),
            Due::Day(date) => walls
                .map(|wall| wall.date())
                .find(|&day| day > date)
                .map(Due::Day),
        }?;
        // Occurrences only grow, so the first one past UNTIL ends the series.
        self.allows(next, tz).then_some(next)
    }

    fn allows(&self, next: Due, tz: Tz) -> bool {
        match (self.until, next) {
            (None, _) => true,
            (Some(Until::Instant(until)), Due::At(at)) => at <= until,
            (Some(Until::Instant(until)), Due::Day(day)) => {
                time_zone::start_of_day(day, tz) <= until
            }
            (Some(Until::Day(until)), Due::At(at)) => time_zone::local_date(at, tz) <= until,
            (Some(Until::Day(until)), Due::Day(day)) => day <= until,
        }
    }
}

/// The local wall-clock time of an instant; `None` outside chrono's range
/// (chrono's own conversion panics there).
fn wall_clock(micros: i64, tz: Tz) -> Option<NaiveDateTime> {
    let utc = DateTime::from_timestamp_micros(micros)?.naive_utc();
    utc.checked_add_offset(tz.offset_from_utc_datetime(&utc).fix())
}

/// `value` as a whole number from 1 to `max`, digits only (Rust would also
/// take "+5", which is then stored).
fn bounded(value: &str, max: u32) -> Option<u32> {
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|n| (1..=max).contains(n))
}

/// UNTIL as RFC 5545 allows it beside a zoned start: a DATE (`20261231`)
/// or a UTC DATE-TIME (`20261231T235959Z`).
fn parse_until(value: &str) -> Option<Until> {
    let number = |at: Range<usize>| -> Option<u32> {
        let digits = value
            .get(at)
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))?;
        digits.parse().ok()
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, number(4..6)?, number(6..8)?)?;
    match value.len() {
        8 => Some(Until::Day(date)),
        16 if value.get(8..9) == Some("T") && value.ends_with('Z') => {
            let time = NaiveTime::from_hms_opt(number(9..11)?, number(11..13)?, number(13..15)?)?;
            Some(Until::Instant(
                date.and_time(time).and_utc().timestamp_micros(),
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
