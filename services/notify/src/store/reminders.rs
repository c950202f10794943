//! Reminders by task: the last change applied (by revision) in
//! `reminders`, and the task's reminder times in `reminder_times`, each
//! pending or fired, with the lease of the worker firing one.
//!
//! The previous release kept one time per task in `reminders` itself
//! (`scheduled`, `cancelled`, `fired`); this one marks the row `set` and
//! keeps the times apart. [`adopt_previous`] takes over rows the previous
//! release writes while both run.

use std::collections::HashMap;

use sqlx::{AnyConnection, Row};
use todo_store::db::{Db, Pool, is_contention, is_unique_violation, retry_contended};

use crate::domain::{DueReminder, ReminderChange};
use crate::error::Error;

/// Applies a change of a task's reminders unless a change at the same or
/// a newer revision was applied: its pending times become the change's,
/// and a time that fired for the task stays fired. `false` when the
/// change was too old to apply.
///
/// # Errors
/// When the database fails.
pub async fn apply(db: &Db, c: &ReminderChange, now: i64) -> Result<bool, Error> {
    let applied = retry_contended(is_contention, || async {
        let mut tx = db.begin_write().await?;
        if !take_revision(&mut tx, c, now).await? {
            return Ok(false);
        }
        replace_times(&mut tx, &c.task_id, &c.user_id, &c.times).await?;
        tx.commit().await?;
        Ok(true)
    })
    .await?;
    Ok(applied)
}

/// Records the change's revision and title on the task's row, if it is
/// newer than the one there (or there is none). The row stays locked
/// until the transaction ends, so changes of one task apply one at a
/// time.
async fn take_revision(
    conn: &mut AnyConnection,
    c: &ReminderChange,
    now: i64,
) -> Result<bool, sqlx::Error> {
    const UPDATE: &str = "UPDATE reminders SET user_id = ?, task_title = ?, remind_time = NULL, \
         revision = ?, state = 'set', lease_owner = NULL, lease_until = NULL, update_time = ? \
         WHERE task_id = ? AND revision < ?";
    let update = async |conn: &mut AnyConnection| {
        sqlx::query(UPDATE)
            .bind(&c.user_id)
            .bind(&c.task_title)
            .bind(c.revision)
            .bind(now)
            .bind(&c.task_id)
            .bind(c.revision)
            .execute(conn)
            .await
    };
    if update(&mut *conn).await?.rows_affected() == 1 {
        return Ok(true);
    }
    let inserted = sqlx::query(
        "INSERT INTO reminders (task_id, user_id, task_title, remind_time, revision, state, update_time) \
         VALUES (?, ?, ?, NULL, ?, 'set', ?)",
    )
    .bind(&c.task_id)
    .bind(&c.user_id)
    .bind(&c.task_title)
    .bind(c.revision)
    .bind(now)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        // The row exists: either at this revision or a newer one, or
        // written by a concurrent first change that this one may follow.
        Err(e) if is_unique_violation(&e) => Ok(update(&mut *conn).await?.rows_affected() == 1),
        Err(e) => Err(e),
    }
}

/// Makes `times` the task's pending reminder times: pending times not
/// among them go, new ones are added, fired ones stay as they are (and
/// so are not fired again). Rows that stay are not touched, so a worker
/// firing one keeps its lease.
async fn replace_times(
    conn: &mut AnyConnection,
    task_id: &str,
    user_id: &str,
    times: &[i64],
) -> Result<(), sqlx::Error> {
    let held: HashMap<i64, String> =
        sqlx::query("SELECT remind_time, state FROM reminder_times WHERE task_id = ?")
            .bind(task_id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("remind_time")?, r.try_get("state")?)))
            .collect::<Result<_, sqlx::Error>>()?;
    for (at, state) in &held {
        if state == "scheduled" && !times.contains(at) {
            sqlx::query(
                "DELETE FROM reminder_times WHERE task_id = ? AND remind_time = ? AND state = 'scheduled'",
            )
            .bind(task_id)
            .bind(*at)
            .execute(&mut *conn)
            .await?;
        }
    }
    for at in times.iter().filter(|at| !held.contains_key(at)) {
        sqlx::query(
            "INSERT INTO reminder_times (task_id, remind_time, user_id, state) VALUES (?, ?, ?, 'scheduled')",
        )
        .bind(task_id)
        .bind(*at)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Takes over up to `limit` rows that the previous release wrote while
/// both ran (or that the migration left): a `scheduled` row's one time,
/// or a `cancelled` row's none, becomes the task's set, as if the change
/// had come here. Returns how many rows were read.
///
/// # Errors
/// When the database fails.
pub async fn adopt_previous(db: &Db, now: i64, limit: i64) -> Result<usize, Error> {
    let rows = sqlx::query(
        "SELECT task_id, user_id, task_title, remind_time, revision, state FROM reminders \
         WHERE state IN ('scheduled', 'cancelled') LIMIT ?",
    )
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    for row in &rows {
        let state: String = row.try_get("state")?;
        let at: Option<i64> = row.try_get("remind_time")?;
        let change = ReminderChange {
            task_id: row.try_get("task_id")?,
            user_id: row.try_get("user_id")?,
            task_title: row.try_get("task_title")?,
            times: at.filter(|_| state == "scheduled").into_iter().collect(),
            revision: row.try_get("revision")?,
        };
        retry_contended(is_contention, || async {
            let mut tx = db.begin_write().await?;
            // Only as read: a newer change since then is the one that counts.
            let taken = sqlx::query(
                "UPDATE reminders SET state = 'set', update_time = ? \
                 WHERE task_id = ? AND revision = ? AND state = ?",
            )
            .bind(now)
            .bind(&change.task_id)
            .bind(change.revision)
            .bind(&state)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() == 1 {
                replace_times(&mut tx, &change.task_id, &change.user_id, &change.times).await?;
            }
            tx.commit().await
        })
        .await?;
    }
    Ok(rows.len())
}

/// Up to `limit` pending reminder times due at `now` that nobody holds,
/// earliest first, with their task's current title.
///
/// # Errors
/// When the database fails.
pub async fn due(pool: &Pool, now: i64, limit: i64) -> Result<Vec<DueReminder>, Error> {
    let rows = sqlx::query(
        "SELECT t.task_id, t.user_id, r.task_title, t.remind_time FROM reminder_times t \
         JOIN reminders r ON r.task_id = t.task_id \
         WHERE t.state = 'scheduled' AND t.remind_time <= ? AND (t.lease_until IS NULL OR t.lease_until < ?) \
         ORDER BY t.remind_time LIMIT ?",
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
                remind_time: row.try_get("remind_time")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(due)
}

/// Takes the lease on a due reminder time for `owner` until `until`
/// (compare-and-set); `false` when another worker holds it, it fired, or
/// a change took it away.
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
        "UPDATE reminder_times SET lease_owner = ?, lease_until = ? WHERE task_id = ? AND remind_time = ? \
         AND state = 'scheduled' AND (lease_until IS NULL OR lease_until < ?)",
    )
    .bind(owner)
    .bind(until)
    .bind(&r.task_id)
    .bind(r.remind_time)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that `owner` fired the reminder time, releasing the lease.
///
/// # Errors
/// When the database fails.
pub async fn mark_fired(pool: &Pool, owner: &str, r: &DueReminder, now: i64) -> Result<(), Error> {
    sqlx::query(
        "UPDATE reminder_times SET state = 'fired', fire_time = ?, lease_owner = NULL, lease_until = NULL \
         WHERE task_id = ? AND remind_time = ? AND lease_owner = ?",
    )
    .bind(now)
    .bind(&r.task_id)
    .bind(r.remind_time)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
