//! Reminders by task: the last change applied (by revision), and the
//! lease of the worker firing one.

use sqlx::Row;
use todo_store::db::{Pool, is_unique_violation};

use crate::domain::{DueReminder, ReminderChange};
use crate::error::Error;

/// Applies a schedule, move or cancel unless a newer change was applied.
///
/// # Errors
/// When the database fails.
pub async fn apply(pool: &Pool, c: &ReminderChange, now: i64) -> Result<(), Error> {
    let state = if c.remind_time.is_some() {
        "scheduled"
    } else {
        "cancelled"
    };
    let updated = sqlx::query(
        "UPDATE reminders SET user_id = ?, task_title = ?, remind_time = ?, revision = ?, state = ?, \
         lease_owner = NULL, lease_until = NULL, update_time = ? WHERE task_id = ? AND revision < ?",
    )
    .bind(&c.user_id)
    .bind(&c.task_title)
    .bind(c.remind_time)
    .bind(c.revision)
    .bind(state)
    .bind(now)
    .bind(&c.task_id)
    .bind(c.revision)
    .execute(pool)
    .await?;
    if updated.rows_affected() == 1 {
        return Ok(());
    }
    let inserted = sqlx::query(
        "INSERT INTO reminders (task_id, user_id, task_title, remind_time, revision, state, update_time) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&c.task_id)
    .bind(&c.user_id)
    .bind(&c.task_title)
    .bind(c.remind_time)
    .bind(c.revision)
    .bind(state)
    .bind(now)
    .execute(pool)
    .await;
    match inserted {
        // The row exists at this revision or a newer one: nothing to do.
        Err(e) if is_unique_violation(&e) => Ok(()),
        other => other.map(drop).map_err(Error::from),
    }
}

/// Up to `limit` scheduled reminders due at `now` that nobody holds,
/// earliest first.
///
/// # Errors
/// When the database fails.
pub async fn due(pool: &Pool, now: i64, limit: i64) -> Result<Vec<DueReminder>, Error> {
    let rows = sqlx::query(
        "SELECT task_id, user_id, task_title, remind_time, revision FROM reminders \
         WHERE state = 'scheduled' AND remind_time <= ? AND (lease_until IS NULL OR lease_until < ?) \
         ORDER BY remind_time LIMIT ?",
    )
    .bind(now)
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let due = rows
        .iter()
        .map(|row| {
            Ok(DueReminder {
                task_id: row.try_get("task_id")?,
                user_id: row.try_get("user_id")?,
                task_title: row.try_get("task_title")?,
                remind_time: row.try_get::<Option<i64>, _>("remind_time")?.unwrap_or(now),
                revision: row.try_get("revision")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(due)
}

/// Takes the lease on a due reminder for `owner` until `until`
/// (compare-and-set); `false` when another worker holds it or it changed.
///
/// # Errors
/// When the database fails.
pub async fn claim(
    pool: &Pool,
    owner: &str,
    r: &DueReminder,
    now: i64,
    until: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE reminders SET lease_owner = ?, lease_until = ? WHERE task_id = ? AND revision = ? \
         AND state = 'scheduled' AND (lease_until IS NULL OR lease_until < ?)",
    )
    .bind(owner)
    .bind(until)
    .bind(&r.task_id)
    .bind(r.revision)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that `owner` fired the reminder, releasing the lease.
///
/// # Errors
/// When the database fails.
pub async fn mark_fired(pool: &Pool, owner: &str, r: &DueReminder, now: i64) -> Result<(), Error> {
    sqlx::query(
        "UPDATE reminders SET state = 'fired', fire_time = ?, lease_owner = NULL, lease_until = NULL \
         WHERE task_id = ? AND revision = ? AND lease_owner = ?",
    )
    .bind(now)
    .bind(&r.task_id)
    .bind(r.revision)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(())
}
