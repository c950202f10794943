//! The digest schedule on SQLite and MariaDB: computed from the settings
//! and the zone, claimed by one worker, and done once per local date.

use todo_common::clock::new_id;

use super::*;
use crate::domain::SettingsChange;
use crate::domain::settings::{DigestChange, parse_time};
use crate::testing::both_databases;
use todo_store::db::Db;

const MINUTE: i64 = 60 * 1_000_000;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    date(y, m, d)
        .and_hms_opt(h, min, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

/// Turns the user's digest on (at `time`) or off, as a settings change
/// does, in `zone`.
async fn set_digest(db: &Db, user: &str, zone: Tz, on: bool, time: &str, now: i64) -> Option<Run> {
    let mut tx = db.begin_write().await.unwrap();
    zones::record(&mut tx, user, zone, now, now).await.unwrap();
    let change = SettingsChange {
        email_reminders: None,
        digest: Some(DigestChange {
            enabled: on,
            time: parse_time(time),
        }),
    };
    settings::update(&mut tx, user, &change, now).await.unwrap();
    let run = reschedule(&mut tx, user, now).await.unwrap();
    tx.commit().await.unwrap();
    run
}

async fn complete_as(db: &Db, owner: &str, d: &DueDigest, now: i64) -> bool {
    let mut tx = db.begin_write().await.unwrap();
    let done = complete(&mut tx, owner, d, now).await.unwrap();
    tx.commit().await.unwrap();
    done
}

both_databases!(two_workers_do_each_local_day_once_across_a_year);
async fn two_workers_do_each_local_day_once_across_a_year(db: &Db) {
    let pool = &db.pool;
    let user = new_id();
    let berlin = Tz::Europe__Berlin;
    set_digest(db, &user, berlin, true, "02:30", utc(2030, 1, 1, 0, 0)).await;
    let mut done = Vec::new();
    for day in 0..365 {
        let found = due(pool, i64::MAX / 2, 10).await.unwrap();
        assert_eq!(found.len(), 1);
        let run = found[0].clone();
        assert!(
            due(pool, run.at - 1, 10).await.unwrap().is_empty(),
            "not before its time"
        );
        // Both workers see it due; one claims it.
        let (a, b) = (
            due(pool, run.at, 10).await.unwrap(),
            due(pool, run.at, 10).await.unwrap(),
        );
        assert_eq!((a[0].clone(), b[0].clone()), (run.clone(), run.clone()));
        assert!(
            claim(pool, "a", &run, run.at, run.at + MINUTE)
                .await
                .unwrap()
        );
        assert!(
            !claim(pool, "b", &run, run.at, run.at + MINUTE)
                .await
                .unwrap()
        );
        assert!(!complete_as(db, "b", &run, run.at).await, "not its lease");
        if day % 50 == 7 {
            // "a" dies holding the lease: "b" takes over once it ends, and
            // what "a" reports afterwards changes nothing.
            let later = run.at + 30 * 1_000_000;
            assert!(due(pool, later, 10).await.unwrap().is_empty());
            let after = run.at + MINUTE + 1;
            assert!(claim(pool, "b", &run, after, after + MINUTE).await.unwrap());
            assert!(complete_as(db, "b", &run, after).await);
            assert!(!complete_as(db, "a", &run, after).await);
        } else {
            assert!(complete_as(db, "a", &run, run.at).await);
            assert!(!complete_as(db, "a", &run, run.at).await, "done already");
        }
        done.push((run.date, run.at));
    }
    for pair in done.windows(2) {
        assert_eq!(pair[0].0.succ_opt(), Some(pair[1].0));
    }
    assert_eq!(done[0].0, date(2030, 1, 1));
    // The spring-forward day's 02:30 is 03:00 CEST; the fall-back day's
    // is the first 02:30, CEST, and there is no second.
    assert!(done.contains(&(date(2030, 3, 31), utc(2030, 3, 31, 1, 0))));
    assert!(done.contains(&(date(2030, 10, 27), utc(2030, 10, 27, 0, 30))));
    assert!(done.contains(&(date(2030, 10, 28), utc(2030, 10, 28, 1, 30))));
}

both_databases!(a_change_of_setting_or_zone_reschedules_and_ends_a_claim);
async fn a_change_of_setting_or_zone_reschedules_and_ends_a_claim(db: &Db) {
    let pool = &db.pool;
    let user = new_id();
    let now = utc(2030, 6, 1, 5, 0);
    // Off and never on: no schedule at all.
    assert_eq!(set_digest(db, &user, Tz::UTC, false, "", now).await, None);
    assert!(due(pool, i64::MAX / 2, 10).await.unwrap().is_empty());
    let run = set_digest(db, &user, Tz::UTC, true, "08:00", now)
        .await
        .unwrap();
    assert_eq!(run.at, utc(2030, 6, 1, 8, 0));
    // Claimed, then the user moves to Tokyo (UTC+9), where it is 17:00:
    // the claim ends, and the next digest is Tokyo's tomorrow at 08:00.
    let d = due(pool, run.at, 10).await.unwrap().remove(0);
    assert!(claim(pool, "a", &d, run.at, run.at + MINUTE).await.unwrap());
    let later = run.at + 1;
    let mut tx = db.begin_write().await.unwrap();
    assert!(
        zones::record(&mut tx, &user, Tz::Asia__Tokyo, later, later)
            .await
            .unwrap()
    );
    let moved = reschedule(&mut tx, &user, later).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    assert_eq!(moved.date, date(2030, 6, 2));
    assert_eq!(moved.at, utc(2030, 6, 1, 23, 0));
    assert!(!complete_as(db, "a", &d, later).await);
    // An older zone change is not recorded.
    let mut tx = db.begin_write().await.unwrap();
    assert!(
        !zones::record(&mut tx, &user, Tz::UTC, 5, later)
            .await
            .unwrap()
    );
    assert_eq!(zone_of(&mut tx, &user).await.unwrap(), Tz::Asia__Tokyo);
    tx.commit().await.unwrap();

    // Done for Tokyo's June 2nd; turned off and on again that day: next
    // is June 3rd, even at an earlier time.
    let d = due(pool, moved.at, 10).await.unwrap().remove(0);
    assert!(
        claim(pool, "a", &d, moved.at, moved.at + MINUTE)
            .await
            .unwrap()
    );
    assert!(complete_as(db, "a", &d, moved.at).await);
    let noon = utc(2030, 6, 2, 3, 0);
    assert_eq!(
        set_digest(db, &user, Tz::Asia__Tokyo, false, "", noon).await,
        None
    );
    assert!(due(pool, i64::MAX / 2, 10).await.unwrap().is_empty());
    let again = set_digest(db, &user, Tz::Asia__Tokyo, true, "07:00", noon)
        .await
        .unwrap();
    assert_eq!(again.date, date(2030, 6, 3));
    // An empty time keeps the current one.
    let kept = set_digest(db, &user, Tz::Asia__Tokyo, true, "", noon)
        .await
        .unwrap();
    assert_eq!(kept, again);
}
