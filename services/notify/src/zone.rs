//! Dates and times in a user's zone, with the names and rules of the
//! bundled tz database.

pub use chrono::{NaiveDate, NaiveTime};
pub use chrono_tz::Tz;

use chrono::{LocalResult, TimeZone, Timelike};

/// The zone of an IANA name, or `None` when the tz database has none.
pub fn parse(name: &str) -> Option<Tz> {
    name.parse().ok()
}

/// The date in `tz` at the instant `micros` (UTC microseconds).
pub fn local_date(micros: i64, tz: Tz) -> NaiveDate {
    let utc = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default();
    utc.with_timezone(&tz).date_naive()
}

/// The instant `date` starts in `tz`.
pub fn start_of_day(date: NaiveDate, tz: Tz) -> i64 {
    at_local(date, NaiveTime::MIN, tz)
}

/// The instant it is `time` on `date` in `tz`: in a gap (clocks jumped
/// forward over it) the instant the gap ends, in an overlap (clocks went
/// back) the earlier of the two.
pub fn at_local(date: NaiveDate, time: NaiveTime, tz: Tz) -> i64 {
    let mut local = date.and_time(time);
    // Gaps are whole minutes long and at most a day (Samoa, 2011).
    for _ in 0..=24 * 60 {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => {
                return at.timestamp_micros();
            }
            LocalResult::None => {
                let next = local + chrono::Duration::minutes(1);
                local = next.with_second(0).unwrap_or(next);
            }
        }
    }
    local.and_utc().timestamp_micros()
}
