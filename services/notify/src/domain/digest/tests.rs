//! When digests run across DST changes, and what they list.

use todo_common::clock::to_timestamp;
use todo_proto::google::r#type::Date;

use super::*;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

/// An instant given in UTC.
fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    date(y, m, d)
        .and_hms_opt(h, min, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

/// The runs of the days from `from` (its run included) on, as
/// `run_after` chains them: one per local date, in order.
fn runs(from: Run, time: NaiveTime, tz: Tz, days: usize) -> Vec<Run> {
    std::iter::successors(Some(from), |r| Some(run_after(r.date, time, tz)))
        .take(days)
        .collect()
}

#[test]
fn a_time_in_the_spring_forward_gap_runs_once_when_the_gap_ends() {
    let berlin = Tz::Europe__Berlin;
    // 2030-03-31: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
    let run = next_run(
        utc(2030, 3, 30, 12, 0),
        berlin,
        time(2, 30),
        Some(date(2030, 3, 30)),
    );
    assert_eq!(run.date, date(2030, 3, 31));
    assert_eq!(run.at, utc(2030, 3, 31, 1, 0), "03:00 CEST");
    let days = runs(
        run_on(date(2030, 3, 30), time(2, 30), berlin),
        time(2, 30),
        berlin,
        3,
    );
    let at: Vec<i64> = days.iter().map(|r| r.at).collect();
    assert_eq!(
        at,
        [
            utc(2030, 3, 30, 1, 30),
            utc(2030, 3, 31, 1, 0),
            utc(2030, 4, 1, 0, 30)
        ]
    );
}

#[test]
fn a_time_in_the_fall_back_overlap_runs_once_at_its_first_occurrence() {
    let berlin = Tz::Europe__Berlin;
    // 2030-10-27: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice,
    // at 00:30 and 01:30 UTC.
    let run = next_run(utc(2030, 10, 26, 12, 0), berlin, time(2, 30), None);
    assert_eq!(run, run_on(date(2030, 10, 27), time(2, 30), berlin));
    assert_eq!(run.at, utc(2030, 10, 27, 0, 30));
    // Between the two: the day's run has passed; the second 02:30 is not
    // another one.
    let between = utc(2030, 10, 27, 1, 0);
    assert_eq!(
        next_run(between, berlin, time(2, 30), None).date,
        date(2030, 10, 28)
    );
    assert_eq!(
        next_run(between, berlin, time(2, 30), Some(date(2030, 10, 27))).date,
        date(2030, 10, 28)
    );
    assert_eq!(
        run_after(run.date, time(2, 30), berlin).at,
        utc(2030, 10, 28, 1, 30)
    );
}

#[test]
fn lord_howe_s_half_hour_shifts_are_handled_alike() {
    let lord_howe = Tz::Australia__Lord_Howe;
    // 2030-10-06: 02:00 (+10:30) jumps to 02:30 (+11).
    let run = run_on(date(2030, 10, 6), time(2, 15), lord_howe);
    assert_eq!(run.at, utc(2030, 10, 5, 15, 30), "02:30 +11");
    // 2030-04-07: 02:00 (+11) goes back to 01:30 (+10:30); 01:45 happens
    // at 14:45 and 15:15 UTC.
    let run = run_on(date(2030, 4, 7), time(1, 45), lord_howe);
    assert_eq!(run.at, utc(2030, 4, 6, 14, 45));
    let after = next_run(utc(2030, 4, 6, 15, 0), lord_howe, time(1, 45), None);
    assert_eq!(after.date, date(2030, 4, 8));
}

#[test]
fn a_year_of_runs_has_one_per_local_date_in_order() {
    for tz in [
        Tz::Europe__Berlin,
        Tz::Australia__Lord_Howe,
        Tz::America__New_York,
    ] {
        for t in [time(0, 0), time(1, 45), time(2, 30), time(23, 59)] {
            let first = next_run(utc(2030, 1, 1, 0, 0), tz, t, None);
            let year = runs(first, t, tz, 366);
            for pair in year.windows(2) {
                assert_eq!(pair[0].date.succ_opt(), Some(pair[1].date), "{tz} {t}");
                assert!(pair[0].at < pair[1].at, "{tz} {t} {:?}", pair[1]);
                assert_eq!(zone::local_date(pair[1].at, tz), pair[1].date, "{tz} {t}");
            }
        }
    }
}

#[test]
fn the_next_run_is_today_s_unless_it_passed_or_today_had_its_digest() {
    let tz = Tz::UTC;
    let now = utc(2030, 5, 1, 7, 0);
    assert_eq!(
        next_run(now, tz, time(8, 0), None).at,
        utc(2030, 5, 1, 8, 0)
    );
    assert_eq!(next_run(now, tz, time(7, 0), None).at, now, "due now");
    assert_eq!(next_run(now, tz, time(6, 59), None).date, date(2030, 5, 2));
    let done_today = Some(date(2030, 5, 1));
    assert_eq!(
        next_run(now, tz, time(8, 0), done_today).date,
        date(2030, 5, 2)
    );
    // A zone change can leave the last digest's date ahead of today.
    let ahead = Some(date(2030, 5, 3));
    assert_eq!(next_run(now, tz, time(8, 0), ahead).date, date(2030, 5, 4));
}

fn task(title: &str) -> Task {
    Task {
        title: title.into(),
        ..Task::default()
    }
}

#[test]
fn a_digest_lists_fifty_tasks_with_their_local_dues_and_counts_the_rest() {
    let berlin = Tz::Europe__Berlin;
    let mut tasks: Vec<Task> = (0..60).map(|i| task(&format!("task {i}"))).collect();
    tasks[0].due_date = Some(Date {
        year: 2030,
        month: 1,
        day: 14,
    });
    tasks[1].due_time = Some(to_timestamp(utc(2030, 1, 15, 8, 0)));
    let digest = Digest::of(date(2030, 1, 15), berlin, &tasks, 75);
    assert_eq!(digest.date, "2030-01-15");
    assert_eq!(digest.lines.len(), LINES_MAX);
    assert_eq!(digest.lines[0], "task 0 (due 2030-01-14)");
    assert_eq!(digest.lines[1], "task 1 (due 2030-01-15 09:00)");
    assert_eq!(digest.lines[2], "task 2");
    assert_eq!(digest.more, 25);
    assert_eq!(digest.more_line().as_deref(), Some("and 25 more"));
    assert_eq!(digest.title(), "Your tasks for 2030-01-15");
    let body = digest.in_app_body();
    assert!(
        body.starts_with("task 0 (due 2030-01-14)\ntask 1"),
        "{body}"
    );
    assert!(body.ends_with("\ntask 49\nand 25 more"), "{body}");
    let few = Digest::of(date(2030, 1, 15), berlin, &tasks[2..4], 2);
    assert_eq!(few.more_line(), None);
    assert_eq!(few.in_app_body(), "task 2\ntask 3");
}

#[test]
fn the_in_app_body_fits_the_inbox_and_counts_what_it_leaves_out() {
    let long = "x".repeat(500);
    let tasks: Vec<Task> = (0..50).map(|_| task(&long)).collect();
    let digest = Digest::of(date(2030, 1, 15), Tz::UTC, &tasks, 50);
    let body = digest.in_app_body();
    assert!(body.chars().count() <= BODY_MAX, "{}", body.len());
    let shown = body.lines().filter(|l| l.starts_with('x')).count();
    assert_eq!(
        body.lines().last(),
        Some(format!("and {} more", 50 - shown).as_str())
    );
}

#[test]
fn dues_at_the_ends_of_time_are_shown_without_failing() {
    let mut first = task("first");
    first.due_time = Some(to_timestamp(utc(1, 1, 1, 0, 0)));
    let mut last = task("last");
    last.due_time = Some(to_timestamp(utc(9999, 12, 31, 23, 59)));
    for tz in [Tz::Pacific__Kiritimati, Tz::Pacific__Pago_Pago] {
        let digest = Digest::of(date(2030, 1, 15), tz, &[first.clone(), last.clone()], 2);
        assert_eq!(digest.lines.len(), 2);
    }
}
