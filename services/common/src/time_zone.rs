//! The platform's one tz database (chrono-tz) and the local-time arithmetic
//! built on it. The user service checks a user's `timeZone` against
//! [`names`], the edge and the web app list them, and the task service
//! places dues and recurrences in local time with the same rules, so no two
//! parts can disagree about a zone.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone as _};

use crate::clock::{MAX_SECONDS, MIN_SECONDS};

pub use chrono::{NaiveDate, NaiveTime};
pub use chrono_tz::Tz;

/// Every IANA time zone name of the bundled tz database, in its canonical
/// spelling, except "Factory": the database's placeholder for "unset", not
/// a place anyone lives. What the user service validates against and the
/// web app lists.
pub fn names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .filter(|name| *name != "Factory")
}

/// The zone of a name in [`names`], spelled exactly so; `None` otherwise.
/// Callers that accept other spellings map them onto [`names`] first, so a
/// stored name always parses.
pub fn parse(name: &str) -> Option<Tz> {
    if name == "Factory" {
        return None;
    }
    name.parse().ok()
}

/// The local calendar day of an instant (micros since the Unix epoch, UTC).
pub fn local_date(micros: i64, tz: Tz) -> NaiveDate {
    // chrono panics when a local time leaves its range, which i64 micros
    // can; clamp to the years a timestamp may hold (0001..=9999), which
    // every stored instant is within anyway.
    let micros = micros.clamp(MIN_SECONDS * 1_000_000, MAX_SECONDS * 1_000_000 + 999_999);
    DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive()
}

/// The first instant of the local day: its midnight, or, on a day whose
/// midnight falls in a DST gap (clocks jumping from 00:00 to 01:00), the
/// instant the gap ends.
pub fn start_of_day(date: NaiveDate, tz: Tz) -> i64 {
    at_local(date, NaiveTime::MIN, tz)
}

/// That local wall time on that day, as micros since the epoch. A time that
/// does not exist (a DST gap) is the instant the gap ends: 02:30 on a
/// 02:00 -> 03:00 spring-forward day is 03:00 local. A time that exists
/// twice (a fall-back overlap) is the earlier instant, so a reminder is
/// never late.
pub fn at_local(date: NaiveDate, time: NaiveTime, tz: Tz) -> i64 {
    let wall = date.and_time(time);
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at.timestamp_micros(),
        LocalResult::None => gap_end(wall, tz),
    }
}

/// The instant a DST gap containing `wall` ends, in micros.
///
/// chrono-tz does not expose its transitions, so bisect for the one second
/// at which the local clock jumps over `wall`. Every UTC offset is under a
/// day, so a day either side of `wall` read as UTC brackets it: the local
/// time is below `wall` a day earlier and above it a day later.
fn gap_end(wall: NaiveDateTime, tz: Tz) -> i64 {
    const DAY: i64 = 86_400;
    let local = |seconds: i64| {
        DateTime::from_timestamp(seconds, 0).map(|at| at.with_timezone(&tz).naive_local())
    };
    let centre = wall.and_utc().timestamp();
    let (mut before, mut after) = (centre - DAY, centre + DAY);
    // Invariant: local(before) < wall < local(after). Transitions fall on
    // whole seconds, so second resolution finds the exact instant.
    while after - before > 1 {
        let mid = before + (after - before) / 2;
        match local(mid) {
            Some(at) if at > wall => after = mid,
            _ => before = mid,
        }
    }
    after * 1_000_000
}

#[cfg(test)]
mod tests {
    use chrono::Datelike as _;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn time(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    /// Micros of a UTC wall time, written out so the tests do not share
    /// the arithmetic under test.
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        date(y, mo, d)
            .and_time(time(h, mi))
            .and_utc()
            .timestamp_micros()
    }

    fn zone(name: &str) -> Tz {
        parse(name).unwrap()
    }

    #[test]
    fn the_list_holds_real_zones_and_no_placeholder() {
        let names: Vec<&str> = names().collect();
        for zone in ["UTC", "Europe/Berlin", "America/New_York"] {
            assert!(names.contains(&zone), "{zone}");
        }
        assert!(!names.contains(&"Factory"));
    }

    #[test]
    fn every_listed_name_parses_and_only_in_its_exact_spelling() {
        for name in names() {
            assert_eq!(parse(name).map(Tz::name), Some(name));
        }
        for bad in ["europe/berlin", "Mars/Base", "Factory", "", " UTC"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn berlin_spring_forward_moves_a_time_in_the_gap_to_three_o_clock() {
        let berlin = zone("Europe/Berlin");
        // 2025-03-30: 02:00 CET -> 03:00 CEST, at 01:00 UTC.
        assert_eq!(
            at_local(date(2025, 3, 30), time(2, 30), berlin),
            utc(2025, 3, 30, 1, 0)
        );
        assert_eq!(
            at_local(date(2025, 3, 30), time(3, 0), berlin),
            utc(2025, 3, 30, 1, 0)
        );
        assert_eq!(
            at_local(date(2025, 3, 30), time(1, 59), berlin),
            utc(2025, 3, 30, 0, 59)
        );
        assert_eq!(
            at_local(date(2025, 3, 30), time(9, 0), berlin),
            utc(2025, 3, 30, 7, 0)
        );
        assert_eq!(
            start_of_day(date(2025, 3, 30), berlin),
            utc(2025, 3, 29, 23, 0)
        );
    }

    #[test]
    fn berlin_fall_back_takes_the_earlier_of_a_repeated_time() {
        let berlin = zone("Europe/Berlin");
        // 2025-10-26: 03:00 CEST -> 02:00 CET, at 01:00 UTC; 02:30 is twice.
        assert_eq!(
            at_local(date(2025, 10, 26), time(2, 30), berlin),
            utc(2025, 10, 26, 0, 30)
        );
        assert_eq!(
            at_local(date(2025, 10, 26), time(9, 0), berlin),
            utc(2025, 10, 26, 8, 0)
        );
        // The second 02:30 is still the 26th locally.
        assert_eq!(
            local_date(utc(2025, 10, 26, 1, 30), berlin),
            date(2025, 10, 26)
        );
        assert_eq!(
            local_date(utc(2025, 10, 26, 22, 59), berlin),
            date(2025, 10, 26)
        );
        assert_eq!(
            local_date(utc(2025, 10, 26, 23, 0), berlin),
            date(2025, 10, 27)
        );
    }

    #[test]
    fn new_york_shifts_at_two_in_the_morning_both_ways() {
        let new_york = zone("America/New_York");
        // 2025-03-09: 02:00 EST -> 03:00 EDT at 07:00 UTC.
        assert_eq!(
            at_local(date(2025, 3, 9), time(2, 15), new_york),
            utc(2025, 3, 9, 7, 0)
        );
        // 2025-11-02: 02:00 EDT -> 01:00 EST at 06:00 UTC; 01:30 is twice.
        assert_eq!(
            at_local(date(2025, 11, 2), time(1, 30), new_york),
            utc(2025, 11, 2, 5, 30)
        );
        assert_eq!(
            start_of_day(date(2025, 11, 2), new_york),
            utc(2025, 11, 2, 4, 0)
        );
        assert_eq!(
            start_of_day(date(2025, 11, 3), new_york),
            utc(2025, 11, 3, 5, 0)
        );
        // 23:30 local on the 1st is already the 2nd in UTC.
        assert_eq!(
            local_date(utc(2025, 11, 2, 3, 30), new_york),
            date(2025, 11, 1)
        );
    }

    #[test]
    fn lord_howe_shifts_by_thirty_minutes() {
        let lord_howe = zone("Australia/Lord_Howe");
        // 2025-10-05: 02:00 +10:30 -> 02:30 +11:00, at 15:30 UTC on the 4th.
        assert_eq!(
            at_local(date(2025, 10, 5), time(2, 10), lord_howe),
            utc(2025, 10, 4, 15, 30)
        );
        assert_eq!(
            at_local(date(2025, 10, 5), time(2, 30), lord_howe),
            utc(2025, 10, 4, 15, 30)
        );
        // 2025-04-06: 02:00 +11:00 -> 01:30 +10:30, at 15:00 UTC on the 5th;
        // 01:45 is twice, the earlier at +11:00.
        assert_eq!(
            at_local(date(2025, 4, 6), time(1, 45), lord_howe),
            utc(2025, 4, 5, 14, 45)
        );
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_when_the_gap_ends() {
        // Chile moves its clocks at 24:00: on 2025-09-07 America/Santiago
        // went from 00:00 -04 to 01:00 -03, at 04:00 UTC.
        let santiago = zone("America/Santiago");
        assert_eq!(
            start_of_day(date(2025, 9, 7), santiago),
            utc(2025, 9, 7, 4, 0)
        );
        assert_eq!(
            local_date(utc(2025, 9, 7, 4, 0), santiago),
            date(2025, 9, 7)
        );
        assert_eq!(
            local_date(utc(2025, 9, 7, 3, 59), santiago),
            date(2025, 9, 6)
        );
        // Sao Paulo did the same until 2019: 2018-11-04 00:00 -03 -> 01:00 -02.
        let sao_paulo = zone("America/Sao_Paulo");
        assert_eq!(
            start_of_day(date(2018, 11, 4), sao_paulo),
            utc(2018, 11, 4, 3, 0)
        );
        assert_eq!(
            at_local(date(2018, 11, 4), time(0, 30), sao_paulo),
            utc(2018, 11, 4, 3, 0)
        );
    }

    #[test]
    fn utc_has_no_gaps_and_extreme_instants_do_not_panic() {
        let utc_zone = zone("UTC");
        assert_eq!(
            start_of_day(date(2025, 3, 30), utc_zone),
            utc(2025, 3, 30, 0, 0)
        );
        assert_eq!(local_date(-1, utc_zone), date(1969, 12, 31));
        assert_eq!(
            local_date(i64::MAX, zone("Pacific/Kiritimati")),
            date(10_000, 1, 1)
        );
        assert_eq!(local_date(i64::MIN, zone("Pacific/Niue")).year(), 0);
        let _ = start_of_day(NaiveDate::MAX, zone("Pacific/Kiritimati"));
        let _ = start_of_day(NaiveDate::MIN, zone("Pacific/Niue"));
    }
}
