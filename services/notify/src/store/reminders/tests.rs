//! A task's reminder set on SQLite and MariaDB: replaced by newer
//! changes only, fired times never fired again, claimed once, and the
//! previous release's rows taken over.

use sqlx::Row;
use todo_common::clock::new_id;

use super::*;
use crate::testing::{Backend, TestDb, both_databases};

const SECOND: i64 = 1_000_000;

fn change(task_id: &str, user_id: &str, revision: i64, times: &[i64]) -> ReminderChange {
    ReminderChange {
        task_id: task_id.to_owned(),
        user_id: user_id.to_owned(),
        task_title: format!("rev {revision}"),
        times: times.to_vec(),
        revision,
    }
}

/// The task's pending times as the worker sees them when everything is
/// due.
async fn pending(db: &Db, task_id: &str) -> Vec<i64> {
    due(&db.pool, i64::MAX / 2, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.task_id == task_id)
        .map(|r| r.remind_time)
        .collect()
}

async fn fired(db: &Db, task_id: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT remind_time FROM reminder_times WHERE task_id = ? AND state = 'fired' ORDER BY remind_time",
    )
    .bind(task_id)
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

/// Fires `at` as a worker does: claim, then mark fired.
async fn fire(db: &Db, task_id: &str, at: i64) {
    let r = due(&db.pool, at, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.task_id == task_id && r.remind_time == at)
        .expect("the time is due");
    assert!(
        claim(&db.pool, "w", &r, at, at + 60 * SECOND)
            .await
            .unwrap()
    );
    mark_fired(&db.pool, "w", &r, at).await.unwrap();
}

both_databases!(a_change_replaces_the_pending_times_and_fired_ones_stay_fired);
async fn a_change_replaces_the_pending_times_and_fired_ones_stay_fired(db: &Db) {
    let (task, user) = (new_id(), new_id());
    assert!(
        apply(db, &change(&task, &user, 1, &[10, 20, 30]), 1)
            .await
            .unwrap()
    );
    assert_eq!(pending(db, &task).await, [10, 20, 30]);
    fire(db, &task, 10).await;
    assert_eq!(pending(db, &task).await, [20, 30]);

    // The task's new set still holds 10, which fired: it does not fire again.
    assert!(
        apply(db, &change(&task, &user, 2, &[10, 40]), 2)
            .await
            .unwrap()
    );
    assert_eq!(pending(db, &task).await, [40]);
    assert_eq!(fired(db, &task).await, [10]);
    let due_now = due(&db.pool, 40, 100).await.unwrap();
    assert_eq!(due_now.len(), 1);
    assert_eq!(
        due_now[0].task_title, "rev 2",
        "the title of the latest change"
    );
    assert_eq!(due_now[0].user_id, user);

    // Cancelled: nothing pending, the fired time still known.
    assert!(apply(db, &change(&task, &user, 3, &[]), 3).await.unwrap());
    assert!(pending(db, &task).await.is_empty());
    assert_eq!(fired(db, &task).await, [10]);
}

both_databases!(a_change_at_an_old_revision_is_ignored);
async fn a_change_at_an_old_revision_is_ignored(db: &Db) {
    let (task, user) = (new_id(), new_id());
    assert!(apply(db, &change(&task, &user, 5, &[50]), 1).await.unwrap());
    // Late deliveries: an older change, and the same revision again.
    assert!(
        !apply(db, &change(&task, &user, 4, &[40, 41]), 2)
            .await
            .unwrap()
    );
    assert!(!apply(db, &change(&task, &user, 5, &[55]), 3).await.unwrap());
    assert_eq!(pending(db, &task).await, [50]);
    // A cancel that arrives first keeps an older schedule from coming back.
    let other = new_id();
    assert!(apply(db, &change(&other, &user, 7, &[]), 4).await.unwrap());
    assert!(
        !apply(db, &change(&other, &user, 6, &[60]), 5)
            .await
            .unwrap()
    );
    assert!(pending(db, &other).await.is_empty());
    // Other tasks are left alone.
    assert_eq!(pending(db, &task).await, [50]);
}

both_databases!(a_time_is_claimed_by_one_worker_until_its_lease_ends);
async fn a_time_is_claimed_by_one_worker_until_its_lease_ends(db: &Db) {
    let (task, user) = (new_id(), new_id());
    apply(db, &change(&task, &user, 1, &[10, 20]), 1)
        .await
        .unwrap();
    let r = due(&db.pool, 10, 100).await.unwrap().remove(0);
    assert!(claim(&db.pool, "a", &r, 10, 70).await.unwrap());
    assert!(!claim(&db.pool, "b", &r, 11, 71).await.unwrap());
    // Held: not listed as due until the lease ends.
    let listed = due(&db.pool, 69, 100).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| r.remind_time).collect::<Vec<_>>(),
        [20]
    );
    // A change that keeps the time leaves the holder's lease alone.
    apply(db, &change(&task, &user, 2, &[10, 30]), 2)
        .await
        .unwrap();
    assert!(!claim(&db.pool, "b", &r, 12, 72).await.unwrap());
    // The holder crashed: after its lease another worker takes over.
    assert!(claim(&db.pool, "b", &r, 71, 131).await.unwrap());
    // The crashed one's late report changes nothing; the new holder's does.
    mark_fired(&db.pool, "a", &r, 100).await.unwrap();
    assert!(fired(db, &task).await.is_empty());
    mark_fired(&db.pool, "b", &r, 100).await.unwrap();
    assert_eq!(fired(db, &task).await, [10]);
    // A removed time cannot be claimed by a worker that read it before.
    let stale = due(&db.pool, 30, 100).await.unwrap().remove(0);
    apply(db, &change(&task, &user, 3, &[]), 3).await.unwrap();
    assert!(!claim(&db.pool, "a", &stale, 30, 90).await.unwrap());
}

/// The migrations the previous release shipped.
const PREVIOUS: [&str; 5] = [
    "0001_init.sql",
    "0002_reminders.sql",
    "0003_erased_users.sql",
    "0004_token_cutoffs.sql",
    "0005_invitation_emails.sql",
];

/// A reminder row as the previous release writes it.
async fn write_previous(db: &Db, task: &str, user: &str, at: i64, revision: i64, state: &str) {
    let updated = sqlx::query(
        "UPDATE reminders SET user_id = ?, task_title = 'old', remind_time = ?, revision = ?, state = ?, \
         lease_owner = NULL, lease_until = NULL, update_time = 1 WHERE task_id = ? AND revision < ?",
    )
    .bind(user)
    .bind(at)
    .bind(revision)
    .bind(state)
    .bind(task)
    .bind(revision)
    .execute(&db.pool)
    .await
    .unwrap();
    if updated.rows_affected() == 0 {
        let inserted = sqlx::query(
            "INSERT INTO reminders (task_id, user_id, task_title, remind_time, revision, state, update_time) \
             VALUES (?, ?, 'old', ?, ?, ?, 1)",
        )
        .bind(task)
        .bind(user)
        .bind(at)
        .bind(revision)
        .bind(state)
        .execute(&db.pool)
        .await;
        // Newer there: ignored, as the previous release ignores it.
        assert!(inserted.is_ok() || inserted.is_err_and(|e| is_unique_violation(&e)));
    }
}

async fn previous_reminders_move_over_and_keep_being_adopted(backend: Backend) {
    let Some((url, dir, schema)) = TestDb::empty(backend).await else {
        eprintln!("skipped: TODO_TEST_MYSQL_URL is unset");
        return;
    };
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/notify");
    let old = tempfile::tempdir().unwrap();
    for file in PREVIOUS {
        std::fs::copy(here.join(file), old.path().join(file)).unwrap();
    }
    let previous = sqlx::migrate::Migrator::new(old.path()).await.unwrap();
    let config = todo_store::db::DbConfig {
        url,
        max_connections: 2,
    };
    let db = todo_store::db::connect(&config, &previous).await.unwrap();
    let user = new_id();
    let (scheduled, fired_one, cancelled) = (new_id(), new_id(), new_id());
    write_previous(&db, &scheduled, &user, 100, 1, "scheduled").await;
    write_previous(&db, &fired_one, &user, 50, 1, "fired").await;
    write_previous(&db, &cancelled, &user, 70, 2, "cancelled").await;
    db.pool.close().await;

    // This release's migration.
    let db = todo_store::db::connect(&config, &crate::MIGRATOR)
        .await
        .unwrap();
    assert_eq!(pending(&db, &scheduled).await, [100]);
    assert_eq!(fired(&db, &fired_one).await, [50]);
    assert!(pending(&db, &cancelled).await.is_empty());
    // A fired time stays fired when a new set names it.
    apply(&db, &change(&fired_one, &user, 2, &[50, 60]), 1)
        .await
        .unwrap();
    assert_eq!(pending(&db, &fired_one).await, [60]);

    // The worker adopts what the previous release left or still writes.
    assert_eq!(adopt_previous(&db, 1, 100).await.unwrap(), 1);
    assert_eq!(adopt_previous(&db, 1, 100).await.unwrap(), 0);
    assert_eq!(pending(&db, &scheduled).await, [100]);
    write_previous(&db, &scheduled, &user, 200, 2, "scheduled").await;
    write_previous(&db, &cancelled, &user, 80, 3, "scheduled").await;
    assert_eq!(adopt_previous(&db, 2, 100).await.unwrap(), 2);
    assert_eq!(pending(&db, &scheduled).await, [200]);
    assert_eq!(pending(&db, &cancelled).await, [80]);
    write_previous(&db, &cancelled, &user, 80, 4, "cancelled").await;
    assert_eq!(adopt_previous(&db, 3, 100).await.unwrap(), 1);
    assert!(pending(&db, &cancelled).await.is_empty());
    // The previous release's worker no longer sees this release's rows.
    let previous_due: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM reminders WHERE state = 'scheduled'")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .get("n");
    assert_eq!(previous_due, 0);
    // Its late changes still count by revision.
    write_previous(&db, &scheduled, &user, 300, 1, "scheduled").await;
    assert_eq!(adopt_previous(&db, 4, 100).await.unwrap(), 0);
    assert_eq!(pending(&db, &scheduled).await, [200]);

    db.pool.close().await;
    if let Some((server, schema)) = schema {
        crate::testing::drop_schema(&server, &schema).await;
    }
    drop(dir);
}

#[tokio::test]
async fn previous_reminders_move_over_and_keep_being_adopted_on_sqlite() {
    previous_reminders_move_over_and_keep_being_adopted(Backend::Sqlite).await;
}

#[tokio::test]
async fn previous_reminders_move_over_and_keep_being_adopted_on_mariadb() {
    previous_reminders_move_over_and_keep_being_adopted(Backend::MariaDb).await;
}
