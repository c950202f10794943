//! The digest worker against stand-ins of the user and task services, on
//! SQLite and MariaDB, its clock driven by the test: a year of days in
//! seconds, two workers side by side.

use sqlx::Row;
use todo_common::auth::AttachServiceCredential;
use todo_common::clock::{from_timestamp, new_id};
use todo_proto::todo::task::v1::Task;
use todo_store::db::Db;

use super::*;
use crate::domain::SettingsChange;
use crate::domain::settings::{DigestChange, parse_time};
use crate::mail::Mailer;
use crate::store::settings;
use crate::testing::{Fakes, both_databases};
use crate::{MailConfig, workers};
use todo_common::time_zone::NaiveDate;

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(h, min, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

const SECOND: i64 = 1_000_000;
const DAY: i64 = 24 * 3600 * SECOND;

/// A worker on `db` that asks `fakes`, as `State::new` wires one.
fn digester(db: &Db, fakes: &Fakes, mail: &tempfile::TempDir) -> Digester {
    let channel = || todo_common::upstream::channel(&fakes.url()).unwrap();
    let credential = AttachServiceCredential(fakes.credential.clone());
    let mailer = Mailer::new(&MailConfig {
        dir: mail.path().to_owned(),
        ..MailConfig::default()
    })
    .unwrap();
    Digester::new(
        db.clone(),
        UserInternalServiceClient::with_interceptor(channel(), credential.clone()),
        TaskInternalServiceClient::with_interceptor(channel(), credential),
        workers::emails::Worker::new(db.clone(), mailer),
    )
}

/// Turns `user`'s digest on at `time` in `zone`, at `now`.
async fn digest_on(db: &Db, user: &str, zone: Tz, time: &str, now: i64) {
    let mut tx = db.begin_write().await.unwrap();
    zones::record(&mut tx, user, zone, now, now).await.unwrap();
    let change = SettingsChange {
        email_reminders: None,
        digest: Some(DigestChange {
            enabled: true,
            time: parse_time(time),
        }),
    };
    settings::update(&mut tx, user, &change, now).await.unwrap();
    digests::reschedule(&mut tx, user, now).await.unwrap();
    tx.commit().await.unwrap();
}

fn due_task(title: &str) -> Task {
    Task {
        id: new_id(),
        title: title.into(),
        due_time: Some(to_timestamp(utc(2030, 1, 1, 9, 0))),
        ..Task::default()
    }
}

/// The user's digest notifications: (dedup key, create time, body).
async fn digests_in_inbox(db: &Db, user: &str) -> Vec<(String, i64, String)> {
    sqlx::query(
        "SELECT dedup_key, create_time, body FROM notifications WHERE user_id = ? AND kind = ? \
         ORDER BY create_time",
    )
    .bind(user)
    .bind(i64::from(i32::from(NotificationKind::Digest)))
    .fetch_all(&db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get("dedup_key"), r.get("create_time"), r.get("body")))
    .collect()
}

async fn digest_emails(db: &Db, user: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT dedup_key FROM emails WHERE user_id = ? AND template = ? ORDER BY create_time",
    )
    .bind(user)
    .bind(i64::from(i32::from(EmailTemplate::Digest)))
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

both_databases!(two_workers_send_one_digest_per_local_day_for_a_year);
async fn two_workers_send_one_digest_per_local_day_for_a_year(db: &Db) {
    let fakes = Fakes::start().await;
    let mail = tempfile::tempdir().unwrap();
    let a = digester(db, &fakes, &mail);
    let b = a.sibling();
    let user = new_id();
    fakes.add_user(&user, "Europe/Berlin");
    fakes.data().due_tasks.insert(
        user.clone(),
        vec![due_task("Pay rent"), due_task("Call Bob")],
    );
    digest_on(
        db,
        &user,
        Tz::Europe__Berlin,
        "02:30",
        utc(2030, 1, 1, 0, 0),
    )
    .await;
    // 02:30 in Berlin is 01:30 UTC in winter, 00:30 in summer, and 01:00
    // on the spring-forward day; both workers look at these times and
    // around them, in turn, every day.
    let looks = [0, 30, 60, 90, 120, 720].map(|min| min * 60 * SECOND);
    for day in 0..365 {
        let midnight = utc(2030, 1, 1, 0, 0) + day * DAY;
        for look in looks {
            let (first, second) = if day % 2 == 0 { (&a, &b) } else { (&b, &a) };
            first.pass(midnight + look).await.unwrap();
            second.pass(midnight + look).await.unwrap();
        }
    }
    let calls = fakes.data().due_calls.clone();
    assert_eq!(calls.len(), 365, "one digest made per day, by one worker");
    assert_eq!(calls[0].user_id, user);
    assert_eq!(calls[0].page_size, 50);
    // Due before the next local day begins: midnight in Berlin.
    let bound = |i: usize| from_timestamp(calls[i].due_before.as_ref().unwrap()).unwrap();
    assert_eq!(bound(0), utc(2030, 1, 1, 23, 0));
    assert_eq!(bound(200), utc(2030, 7, 20, 22, 0));

    let inbox = digests_in_inbox(db, &user).await;
    assert_eq!(inbox.len(), 365);
    assert_eq!(inbox[0].0, format!("digest:{user}:2030-01-01"));
    assert_eq!(inbox[364].0, format!("digest:{user}:2030-12-31"));
    assert_eq!(
        inbox[0].2,
        "Pay rent (due 2030-01-01 10:00)\nCall Bob (due 2030-01-01 10:00)"
    );
    let sent = |key: &str| {
        inbox
            .iter()
            .find(|n| n.0 == format!("digest:{user}:{key}"))
            .unwrap()
            .1
    };
    assert_eq!(sent("2030-03-31"), utc(2030, 3, 31, 1, 0), "03:00 CEST");
    assert_eq!(
        sent("2030-10-27"),
        utc(2030, 10, 27, 0, 30),
        "the first 02:30"
    );
    assert_eq!(sent("2030-10-28"), utc(2030, 10, 28, 1, 30));
    let emails = digest_emails(db, &user).await;
    assert_eq!(emails.len(), 365);
    assert_eq!(emails[0], format!("digest-email:{user}:2030-01-01"));
}

both_databases!(a_digest_waits_for_the_task_service_and_is_skipped_when_too_late);
async fn a_digest_waits_for_the_task_service_and_is_skipped_when_too_late(db: &Db) {
    let fakes = Fakes::start().await;
    let mail = tempfile::tempdir().unwrap();
    let a = digester(db, &fakes, &mail);
    let b = a.sibling();
    let user = new_id();
    fakes.add_user(&user, "UTC");
    fakes
        .data()
        .due_tasks
        .insert(user.clone(), vec![due_task("Pay rent")]);
    digest_on(db, &user, Tz::UTC, "08:00", utc(2030, 5, 1, 6, 0)).await;
    let at = utc(2030, 5, 1, 8, 0);

    fakes.data().tasks_down = true;
    a.pass(at).await.unwrap();
    assert_eq!(fakes.data().due_calls.len(), 1);
    // Held by the worker that failed: nobody tries before its lease ends.
    b.pass(at + 30 * SECOND).await.unwrap();
    a.pass(at + 30 * SECOND).await.unwrap();
    assert_eq!(fakes.data().due_calls.len(), 1);
    assert!(digests_in_inbox(db, &user).await.is_empty());
    // Back up: the next look after the lease sends it.
    fakes.data().tasks_down = false;
    b.pass(at + 61 * SECOND).await.unwrap();
    assert_eq!(fakes.data().due_calls.len(), 2);
    assert_eq!(digests_in_inbox(db, &user).await.len(), 1);
    assert_eq!(digest_emails(db, &user).await.len(), 1);

    // The next day the task service is down all morning and longer:
    // retried every lease, then the day is skipped.
    fakes.data().tasks_down = true;
    let next = at + DAY;
    let mut now = next;
    while now - next <= LATE_LIMIT_MICROS {
        a.pass(now).await.unwrap();
        now += 61 * SECOND;
    }
    let tries = fakes.data().due_calls.len();
    assert!(tries > 600, "{tries}");
    fakes.data().tasks_down = false;
    a.pass(now).await.unwrap();
    b.pass(now).await.unwrap();
    assert_eq!(fakes.data().due_calls.len(), tries, "too late to ask");
    assert_eq!(digests_in_inbox(db, &user).await.len(), 1);
    // The day after is sent as usual.
    a.pass(next + DAY).await.unwrap();
    let inbox = digests_in_inbox(db, &user).await;
    assert_eq!(inbox.len(), 2);
    assert_eq!(inbox[1].0, format!("digest:{user}:2030-05-03"));
}

both_databases!(no_digest_without_a_due_task_a_verified_address_or_an_account);
async fn no_digest_without_a_due_task_a_verified_address_or_an_account(db: &Db) {
    let fakes = Fakes::start().await;
    let mail = tempfile::tempdir().unwrap();
    let a = digester(db, &fakes, &mail);
    let (idle, unverified, gone) = (new_id(), new_id(), new_id());
    fakes.add_user(&idle, "UTC");
    fakes.add_user(&unverified, "UTC");
    fakes
        .data()
        .contacts
        .get_mut(&unverified)
        .unwrap()
        .email_verified = false;
    for user in [&unverified, &gone] {
        fakes
            .data()
            .due_tasks
            .insert(user.clone(), vec![due_task("Pay rent")]);
    }
    let start = utc(2030, 5, 1, 6, 0);
    for user in [&idle, &unverified, &gone] {
        digest_on(db, user, Tz::UTC, "08:00", start).await;
    }
    a.pass(utc(2030, 5, 1, 8, 0)).await.unwrap();
    assert_eq!(fakes.data().due_calls.len(), 3);
    // Only those with tasks were looked up.
    assert_eq!(fakes.data().lookups, 2);
    for user in [&idle, &unverified, &gone] {
        assert!(digests_in_inbox(db, user).await.is_empty());
        assert!(digest_emails(db, user).await.is_empty());
    }
    // Each day is done all the same: the next is tomorrow's.
    let next = digests::due(&db.pool, i64::MAX / 2, 10).await.unwrap();
    assert_eq!(next.len(), 3);
    assert!(next.iter().all(|d| d.at == utc(2030, 5, 2, 8, 0)));
}
