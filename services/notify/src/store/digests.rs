//! Each user's daily digest schedule: the local date and instant of the
//! next digest, the last date that had one, and the lease of the worker
//! running it.
//!
//! A digest is sent in the transaction that moves `last_date` to its
//! date, and only by the worker whose lease that transaction still
//! finds: however many workers and replicas look, and whatever restarts
//! between, each local date has at most one digest.

use sqlx::{AnyConnection, Row};
use todo_store::db::{Pool, is_unique_violation};

use crate::domain::digest::{self, Run, date_key, parse_date_key};
use crate::error::Error;
use crate::store::{settings, zones};
use todo_common::time_zone::{NaiveDate, Tz};

/// A digest whose time has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDigest {
    pub user_id: String,
    /// The local date it is for.
    pub date: NaiveDate,
    /// When it was due.
    pub at: i64,
}

/// The user's zone for digests: as recorded, UTC until one is.
///
/// # Errors
/// When the database fails.
pub async fn zone_of(conn: &mut AnyConnection, user_id: &str) -> Result<Tz, sqlx::Error> {
    Ok(zones::get(conn, user_id).await?.unwrap_or(Tz::UTC))
}

/// Computes the user's next digest afresh at `now`, from their settings
/// and zone: none while the digest is off, else the first run to come on
/// a date after the last one that had its digest (`digest::next_run`).
/// A worker's lease on the previous run ends, so that run is not sent.
/// Runs in the caller's transaction.
///
/// # Errors
/// When the database fails.
pub async fn reschedule(
    conn: &mut AnyConnection,
    user_id: &str,
    now: i64,
) -> Result<Option<Run>, sqlx::Error> {
    let setting = settings::get(&mut *conn, user_id).await?.digest;
    let tz = zone_of(conn, user_id).await?;
    let last: Option<Option<String>> =
        sqlx::query_scalar("SELECT last_date FROM digests WHERE user_id = ?")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
    let run = setting.enabled.then(|| {
        let last = last.clone().flatten();
        digest::next_run(
            now,
            tz,
            setting.time,
            last.as_deref().and_then(parse_date_key),
        )
    });
    if last.is_none() && run.is_none() {
        // Never on: nothing to schedule or stop.
        return Ok(None);
    }
    let update = async |conn: &mut AnyConnection| {
        sqlx::query(
            "UPDATE digests SET run_date = ?, next_run = ?, lease_owner = NULL, lease_until = NULL, \
             update_time = ? WHERE user_id = ?",
        )
        .bind(run.map(|r| date_key(r.date)))
        .bind(run.map(|r| r.at))
        .bind(now)
        .bind(user_id)
        .execute(conn)
        .await
    };
    if update(&mut *conn).await?.rows_affected() == 0 {
        let inserted = sqlx::query(
            "INSERT INTO digests (user_id, run_date, next_run, last_date, update_time) \
             VALUES (?, ?, ?, NULL, ?)",
        )
        .bind(user_id)
        .bind(run.map(|r| date_key(r.date)))
        .bind(run.map(|r| r.at))
        .bind(now)
        .execute(&mut *conn)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                update(&mut *conn).await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(run)
}

/// Up to `limit` digests due at `now` that nobody holds, earliest first.
///
/// # Errors
/// When the database fails.
pub async fn due(pool: &Pool, now: i64, limit: i64) -> Result<Vec<DueDigest>, Error> {
    let rows = sqlx::query(
        "SELECT user_id, run_date, next_run FROM digests \
         WHERE next_run <= ? AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_run LIMIT ?",
    )
    .bind(now)
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut due = Vec::with_capacity(rows.len());
    for row in &rows {
        let run_date: Option<String> = row.try_get("run_date")?;
        // Written with its instant, always: a row without is not due.
        if let Some(date) = run_date.as_deref().and_then(parse_date_key) {
            due.push(DueDigest {
                user_id: row.try_get("user_id")?,
                date,
                at: row.try_get("next_run")?,
            });
        }
    }
    Ok(due)
}

/// Takes the lease on a due digest for `owner` until `until`
/// (compare-and-set); `false` when another worker holds it or it was
/// rescheduled.
///
/// # Errors
/// When the database fails.
pub async fn claim(
    pool: &Pool,
    owner: &str,
    d: &DueDigest,
    now: i64,
    until: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE digests SET lease_owner = ?, lease_until = ? WHERE user_id = ? AND run_date = ? \
         AND next_run = ? AND (lease_until IS NULL OR lease_until < ?)",
    )
    .bind(owner)
    .bind(until)
    .bind(&d.user_id)
    .bind(date_key(d.date))
    .bind(d.at)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records `d`'s date as done and schedules the next local day's digest,
/// if `owner` still holds the lease; `false` when it does not, and then
/// the caller must send nothing (roll back). Runs in the caller's
/// transaction, which sends the digest if there is one.
///
/// # Errors
/// When the database fails.
pub async fn complete(
    conn: &mut AnyConnection,
    owner: &str,
    d: &DueDigest,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let setting = settings::get(&mut *conn, &d.user_id).await?.digest;
    let tz = zone_of(conn, &d.user_id).await?;
    let next = setting
        .enabled
        .then(|| digest::run_after(d.date, setting.time, tz));
    let done = sqlx::query(
        "UPDATE digests SET last_date = ?, run_date = ?, next_run = ?, lease_owner = NULL, \
         lease_until = NULL, update_time = ? WHERE user_id = ? AND lease_owner = ? AND run_date = ? \
         AND next_run = ?",
    )
    .bind(date_key(d.date))
    .bind(next.map(|r| date_key(r.date)))
    .bind(next.map(|r| r.at))
    .bind(now)
    .bind(&d.user_id)
    .bind(owner)
    .bind(date_key(d.date))
    .bind(d.at)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests;
