//! Users whose accounts are gone.
//!
//! Access tokens are verified locally, so a token issued before its
//! account was deleted would stay good for the rest of its 15 minutes. A
//! service that holds user data therefore records, in its own database, each
//! user it is told to erase; [`crate::auth::TokenVerifier`] then refuses
//! that user's tokens on every replica. The record is needed only while
//! such tokens can live, and is kept a day.
//!
//! Each such service's migrations create the table:
//! `erased_users (user_id VARCHAR(36) PRIMARY KEY, erase_time BIGINT)`.

use sqlx::AnyConnection;

use crate::db::{Pool, is_unique_violation};

/// How long an erased user is remembered: far beyond an access token's
/// lifetime plus clock leeway.
pub const RETENTION_MICROS: i64 = 24 * 3600 * 1_000_000;

/// Records that `user_id` was erased at `now` (micros). Idempotent: an
/// erasure delivered twice keeps its first time.
///
/// # Errors
/// On database failure.
pub async fn record(conn: &mut AnyConnection, user_id: &str, now: i64) -> Result<(), sqlx::Error> {
    let inserted = sqlx::query("INSERT INTO erased_users (user_id, erase_time) VALUES (?, ?)")
        .bind(user_id)
        .bind(now)
        .execute(&mut *conn)
        .await;
    match inserted {
        Err(e) if !is_unique_violation(&e) => Err(e),
        _ => Ok(()),
    }
}

/// Forgets users erased longer than [`RETENTION_MICROS`] before `now`, on
/// a best-effort basis: a failure is logged, and the next erasure tries
/// again. Kept out of [`record`]'s transaction: on MySQL the range delete
/// locks the index gaps it scans, which concurrent erasures would deadlock
/// on.
pub async fn prune(pool: &Pool, now: i64) {
    let done = sqlx::query("DELETE FROM erased_users WHERE erase_time < ?")
        .bind(now - RETENTION_MICROS)
        .execute(pool)
        .await;
    if let Err(e) = done {
        tracing::warn!(error = %e, "cannot forget long-erased users");
    }
}

/// Whether `user_id` was erased.
///
/// # Errors
/// On database failure.
pub async fn contains(pool: &Pool, user_id: &str) -> Result<bool, sqlx::Error> {
    let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM erased_users WHERE user_id = ?")
        .bind(user_id)
        .fetch_one(pool)
        .await?;
    Ok(found > 0)
}
