use std::time::{Duration, Instant};

use super::*;

fn rule(text: &str) -> Recurrence {
    Recurrence::parse(text).unwrap()
}

fn zone(name: &str) -> Tz {
    time_zone::parse(name).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// An instant written as its UTC wall time, so the expected values do not
/// go through the zone arithmetic under test.
fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Due {
    let time = NaiveTime::from_hms_opt(h, mi, 0).unwrap();
    Due::At(date(y, mo, d).and_time(time).and_utc().timestamp_micros())
}

fn day(y: i32, m: u32, d: u32) -> Due {
    Due::Day(date(y, m, d))
}

/// The occurrences after `due`, following the series the way the service
/// does: each found occurrence becomes the next due.
fn series(rule: &Recurrence, due: Due, tz: Tz, steps: usize) -> Vec<Due> {
    let mut found = Vec::new();
    let mut due = due;
    for n in 1..=steps {
        let Some(next) = rule.next_after(&due, u32::try_from(n).unwrap(), tz) else {
            break;
        };
        found.push(next);
        due = next;
    }
    found
}

#[test]
fn weekly_monday_nine_stays_nine_local_across_berlin_dst_changes() {
    let weekly = rule("FREQ=WEEKLY;BYDAY=MO");
    let berlin = zone("Europe/Berlin");
    // 2025-03-30 and 2025-10-26 are the change nights.
    assert_eq!(
        series(&weekly, utc(2025, 3, 24, 8, 0), berlin, 2),
        [utc(2025, 3, 31, 7, 0), utc(2025, 4, 7, 7, 0)]
    );
    assert_eq!(
        series(&weekly, utc(2025, 10, 20, 7, 0), berlin, 2),
        [utc(2025, 10, 27, 8, 0), utc(2025, 11, 3, 8, 0)]
    );
}

#[test]
fn weekly_monday_nine_stays_nine_local_across_new_york_dst_changes() {
    let weekly = rule("FREQ=WEEKLY;BYDAY=MO");
    let new_york = zone("America/New_York");
    // 2025-03-09 and 2025-11-02 are the change nights.
    assert_eq!(
        weekly.next_after(&utc(2025, 3, 3, 14, 0), 1, new_york),
        Some(utc(2025, 3, 10, 13, 0))
    );
    assert_eq!(
        weekly.next_after(&utc(2025, 10, 27, 13, 0), 1, new_york),
        Some(utc(2025, 11, 3, 14, 0))
    );
}

#[test]
fn weekly_monday_nine_follows_lord_howe_thirty_minute_shifts() {
    let weekly = rule("FREQ=WEEKLY;BYDAY=MO");
    let lord_howe = zone("Australia/Lord_Howe");
    // +11:00 until 2025-04-06, +10:30 until 2025-10-05, +11:00 again.
    assert_eq!(
        weekly.next_after(&utc(2025, 3, 30, 22, 0), 1, lord_howe),
        Some(utc(2025, 4, 6, 22, 30))
    );
    assert_eq!(
        weekly.next_after(&utc(2025, 9, 28, 22, 30), 1, lord_howe),
        Some(utc(2025, 10, 5, 22, 0))
    );
}

#[test]
fn a_wall_time_skipped_by_dst_moves_to_the_end_of_the_gap() {
    // rrule alone would give 03:30 CEST (01:30 UTC) on 2025-03-30.
    let sundays = rule("FREQ=WEEKLY;BYDAY=SU");
    let berlin = zone("Europe/Berlin");
    assert_eq!(
        sundays.next_after(&utc(2025, 3, 23, 1, 30), 1, berlin),
        Some(utc(2025, 3, 30, 1, 0))
    );
}

#[test]
fn a_wall_time_repeated_by_dst_takes_the_earlier_instant() {
    let sundays = rule("FREQ=WEEKLY;BYDAY=SU");
    let berlin = zone("Europe/Berlin");
    // 02:30 on 2025-10-26 is 00:30 UTC (CEST) and 01:30 UTC (CET).
    assert_eq!(
        sundays.next_after(&utc(2025, 10, 19, 0, 30), 1, berlin),
        Some(utc(2025, 10, 26, 0, 30))
    );
}

#[test]
fn hourly_crosses_the_spring_gap_at_its_end_and_keeps_the_minute() {
    let berlin = zone("Europe/Berlin");
    // 01:00 CET, then 02:00 does not exist: 03:00 CEST, then 04:00 CEST.
    assert_eq!(
        series(&rule("FREQ=HOURLY"), utc(2025, 3, 30, 0, 0), berlin, 2),
        [utc(2025, 3, 30, 1, 0), utc(2025, 3, 30, 2, 0)]
    );
    // 01:30 CET, then 02:30 (skipped) at the gap's end, then 03:30 CEST.
    assert_eq!(
        series(
            &rule("FREQ=HOURLY;BYMINUTE=30"),
            utc(2025, 3, 30, 0, 30),
            berlin,
            2
        ),
        [utc(2025, 3, 30, 1, 0), utc(2025, 3, 30, 1, 30)]
    );
}

#[test]
fn hourly_counts_wall_hours_through_the_autumn_overlap() {
    let berlin = zone("Europe/Berlin");
    // 01:00 CEST, 02:00 CEST (the earlier 02:00), then 03:00 CET: the
    // repeated hour is one wall hour, so two hours pass before 03:00.
    assert_eq!(
        series(&rule("FREQ=HOURLY"), utc(2025, 10, 25, 23, 0), berlin, 2),
        [utc(2025, 10, 26, 0, 0), utc(2025, 10, 26, 2, 0)]
    );
    // A due in the second pass (02:00 CET) moves on to 03:00 CET, not back.
    assert_eq!(
        rule("FREQ=HOURLY").next_after(&utc(2025, 10, 26, 1, 0), 1, berlin),
        Some(utc(2025, 10, 26, 2, 0))
    );
}

#[test]
fn the_last_day_of_the_month_follows_month_lengths() {
    let last = rule("FREQ=MONTHLY;BYMONTHDAY=-1");
    let berlin = zone("Europe/Berlin");
    assert_eq!(
        series(&last, utc(2025, 1, 31, 8, 0), berlin, 2),
        [utc(2025, 2, 28, 8, 0), utc(2025, 3, 31, 7, 0)]
    );
    assert_eq!(
        series(&last, day(2024, 1, 31), berlin, 2),
        [day(2024, 2, 29), day(2024, 3, 31)]
    );
}

#[test]
fn the_thirty_first_skips_shorter_months() {
    let thirty_first = rule("FREQ=MONTHLY;BYMONTHDAY=31");
    assert_eq!(
        series(&thirty_first, day(2025, 1, 31), zone("UTC"), 4),
        [
            day(2025, 3, 31),
            day(2025, 5, 31),
            day(2025, 7, 31),
            day(2025, 8, 31)
        ]
    );
}

#[test]
fn february_twenty_ninth_waits_for_the_next_leap_year() {
    let yearly = rule("FREQ=YEARLY");
    let utc_zone = zone("UTC");
    assert_eq!(
        yearly.next_after(&day(2024, 2, 29), 1, utc_zone),
        Some(day(2028, 2, 29))
    );
    // 2100 is no leap year: eight years, still inside the window.
    assert_eq!(
        yearly.next_after(&utc(2096, 2, 29, 9, 0), 1, utc_zone),
        Some(utc(2104, 2, 29, 9, 0))
    );
}

#[test]
fn until_in_utc_is_compared_with_the_instant_in_the_users_zone() {
    // 20:00 in Tokyo is 11:00 UTC; read as UTC, 20:00 on the 10th would
    // already be past 15:00Z and end the series a day early.
    let daily = rule("FREQ=DAILY;UNTIL=20250310T150000Z");
    let tokyo = zone("Asia/Tokyo");
    assert_eq!(
        daily.next_after(&utc(2025, 3, 9, 11, 0), 1, tokyo),
        Some(utc(2025, 3, 10, 11, 0))
    );
    assert_eq!(daily.next_after(&utc(2025, 3, 10, 11, 0), 2, tokyo), None);
    // An all-day due ends when its local day starts after UNTIL: the 11th
    // starts at 15:00Z on the 10th, which UNTIL still includes.
    assert_eq!(
        daily.next_after(&day(2025, 3, 10), 1, tokyo),
        Some(day(2025, 3, 11))
    );
    assert_eq!(daily.next_after(&day(2025, 3, 11), 2, tokyo), None);
}

#[test]
fn until_as_a_date_includes_that_local_day() {
    let daily = rule("FREQ=DAILY;UNTIL=20250310");
    let tokyo = zone("Asia/Tokyo");
    // 23:30 on the 10th in Tokyo is 14:30 UTC: still the 10th locally.
    assert_eq!(
        daily.next_after(&utc(2025, 3, 9, 14, 30), 1, tokyo),
        Some(utc(2025, 3, 10, 14, 30))
    );
    assert_eq!(daily.next_after(&utc(2025, 3, 10, 14, 30), 2, tokyo), None);
    assert_eq!(
        daily.next_after(&day(2025, 3, 9), 1, tokyo),
        Some(day(2025, 3, 10))
    );
    assert_eq!(daily.next_after(&day(2025, 3, 10), 2, tokyo), None);
}

#[test]
fn count_ends_the_series_after_that_many_occurrences() {
    let three = rule("FREQ=DAILY;COUNT=3");
    let utc_zone = zone("UTC");
    assert_eq!(
        three.next_after(&day(2025, 1, 1), 1, utc_zone),
        Some(day(2025, 1, 2))
    );
    assert_eq!(
        three.next_after(&day(2025, 1, 2), 2, utc_zone),
        Some(day(2025, 1, 3))
    );
    assert_eq!(three.next_after(&day(2025, 1, 3), 3, utc_zone), None);
    assert_eq!(series(&three, day(2025, 1, 1), utc_zone, 10).len(), 2);
}

#[test]
fn every_other_week_keeps_its_weeks_when_restarted_mid_week() {
    let fortnightly = rule("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE");
    // Monday 2025-01-06, its Wednesday, then the Monday two weeks on.
    assert_eq!(
        series(&fortnightly, day(2025, 1, 6), zone("Europe/Berlin"), 4),
        [
            day(2025, 1, 8),
            day(2025, 1, 20),
            day(2025, 1, 22),
            day(2025, 2, 3)
        ]
    );
}

#[test]
fn bysetpos_counts_the_whole_period_when_restarted_inside_it() {
    // The first and the last weekday of each month.
    let edges = rule("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1,-1");
    assert_eq!(
        series(&edges, day(2025, 1, 1), zone("UTC"), 3),
        [day(2025, 1, 31), day(2025, 2, 3), day(2025, 2, 28)]
    );
}

#[test]
fn all_day_dues_repeat_by_local_date() {
    let berlin = zone("Europe/Berlin");
    assert_eq!(
        series(&rule("FREQ=DAILY"), day(2025, 12, 30), berlin, 2),
        [day(2025, 12, 31), day(2026, 1, 1)]
    );
    assert_eq!(
        rule("FREQ=WEEKLY;BYDAY=FR").next_after(&day(2025, 3, 24), 1, berlin),
        Some(day(2025, 3, 28))
    );
    // Without BYMONTHDAY the day of the due is the day of every month.
    assert_eq!(
        series(&rule("FREQ=MONTHLY"), day(2025, 1, 15), berlin, 2),
        [day(2025, 2, 15), day(2025, 3, 15)]
    );
}

#[test]
fn an_all_day_series_keeps_a_day_whose_midnight_is_skipped() {
    // America/Santiago jumps from 00:00 to 01:00 on 2025-09-07; rrule in
    // that zone drops the day.
    let santiago = zone("America/Santiago");
    assert_eq!(
        rule("FREQ=DAILY").next_after(&day(2025, 9, 6), 1, santiago),
        Some(day(2025, 9, 7))
    );
}

#[test]
fn a_rule_that_never_matches_gives_up_quickly() {
    // rrule looks past the window (UNTIL or not) until year 10000 or
    // 100,000 periods without an occurrence; hourly is the costliest, and
    // would run for millions of days without that limit.
    for (text, due) in [
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", day(2025, 1, 1)),
        ("FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30", utc(2025, 1, 1, 9, 0)),
    ] {
        let started = Instant::now();
        assert_eq!(rule(text).next_after(&due, 1, zone("UTC")), None, "{text}");
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "{text}: {took:?}");
    }
}

#[test]
fn an_occurrence_beyond_the_window_ends_the_series() {
    // February 29 on a Monday: 2016, then 2044.
    let leap_monday = rule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO");
    assert_eq!(
        leap_monday.next_after(&day(2016, 2, 29), 1, zone("UTC")),
        None
    );
}

#[test]
fn lower_case_is_accepted_and_stored_upper_case() {
    let weekly = rule(" freq=weekly;byday=mo,we;; ");
    assert_eq!(weekly.as_str(), "FREQ=WEEKLY;BYDAY=MO,WE");
    assert_eq!(weekly, rule("FREQ=WEEKLY;BYDAY=MO,WE"));
    assert_eq!(
        rule("FREQ=DAILY;until=20251231t000000z").as_str(),
        "FREQ=DAILY;UNTIL=20251231T000000Z"
    );
}

#[test]
fn parse_refuses_what_is_not_a_bounded_rrule() {
    let cases = [
        ("", NOT_A_RULE),
        ("  ", NOT_A_RULE),
        (";", NOT_A_RULE),
        ("WEEKLY", NOT_A_RULE),
        ("BYDAY=MO", NOT_A_RULE),
        ("FREQ=FORTNIGHTLY", NOT_A_RULE),
        ("FREQ=WEEKLY;BYDAY=XX", NOT_A_RULE),
        ("FREQ=WEEKLY;BYMONTHDAY=1", NOT_A_RULE),
        ("FREQ=MONTHLY;BYWEEKNO=1", NOT_A_RULE),
        ("FREQ=MONTHLY;BYSETPOS=1", NOT_A_RULE),
        ("FREQ=MONTHLY;BYMONTHDAY=0", NOT_A_RULE),
        ("FREQ=MONTHLY;BYMONTHDAY=32", NOT_A_RULE),
        ("RRULE:FREQ=DAILY", PREFIX),
        ("rrule:FREQ=DAILY", PREFIX),
        ("DTSTART:20250101T090000Z\nRRULE:FREQ=DAILY", OTHER_PROPERTY),
        ("FREQ=DAILY\nEXDATE:20250102T090000Z", OTHER_PROPERTY),
        ("FREQ=DAILY;DTSTART=20250101T090000Z", OTHER_PROPERTY),
        ("FREQ=DAILY;EXDATE=20250102", OTHER_PROPERTY),
        ("FREQ=DAILY;BYWEEKDAY=MO", OTHER_PROPERTY),
        ("FREQ=DAILY;FREQ=WEEKLY", REPEATED_PART),
        ("FREQ=DAILY;COUNT=2;COUNT=3", REPEATED_PART),
        ("FREQ=DAILY;UNTIL=20251231;UNTIL=20261231", REPEATED_PART),
        ("FREQ=MINUTELY", TOO_OFTEN),
        ("FREQ=SECONDLY", TOO_OFTEN),
        ("FREQ=DAILY;COUNT=2;UNTIL=20251231", COUNT_AND_UNTIL),
        ("FREQ=DAILY;COUNT=1001", COUNT_RANGE),
        ("FREQ=DAILY;COUNT=0", COUNT_RANGE),
        ("FREQ=DAILY;COUNT=-1", COUNT_RANGE),
        ("FREQ=DAILY;COUNT=+5", COUNT_RANGE),
        ("FREQ=DAILY;INTERVAL=1001", INTERVAL_RANGE),
        ("FREQ=DAILY;INTERVAL=0", INTERVAL_RANGE),
        ("FREQ=DAILY;UNTIL=20251231T235959", UNTIL_FORM),
        ("FREQ=DAILY;UNTIL=2025-12-31", UNTIL_FORM),
        ("FREQ=DAILY;UNTIL=20250230", UNTIL_FORM),
        ("FREQ=DAILY;UNTIL=20251231X235959Z", UNTIL_FORM),
    ];
    for (text, reason) in cases {
        assert_eq!(Recurrence::parse(text), Err(reason), "{text:?}");
    }
    assert!(Recurrence::parse("FREQ=DAILY;COUNT=1000").is_ok());
    assert!(Recurrence::parse("FREQ=DAILY;INTERVAL=1000").is_ok());
}

#[test]
fn an_all_day_due_refuses_rules_with_a_time_of_day() {
    let all_day = day(2025, 1, 1);
    let timed = utc(2025, 1, 1, 9, 0);
    for (text, reason) in [
        ("FREQ=HOURLY", ALL_DAY_FREQ),
        ("FREQ=DAILY;BYHOUR=9", ALL_DAY_TIME),
        ("FREQ=DAILY;BYMINUTE=30", ALL_DAY_TIME),
        ("FREQ=DAILY;BYSECOND=0", ALL_DAY_TIME),
    ] {
        assert_eq!(rule(text).fits(&all_day), Err(reason), "{text}");
        assert_eq!(rule(text).fits(&timed), Ok(()), "{text}");
    }
    assert_eq!(rule("FREQ=DAILY").fits(&all_day), Ok(()));
}
