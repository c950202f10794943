//! Users whose accounts are gone, and access tokens issued before a user's
//! last credential change.
//!
//! Access tokens are verified locally, so a token issued before its
//! account was deleted, or before its password was changed or reset,
//! would stay good for the rest of its 15 minutes. A service that holds
//! user data therefore records, in its own database, each user it is told
//! to erase and each credential change it is told of (both relayed through
//! the user service's outbox); [`todo_common::auth::TokenVerifier`] then refuses
//! those tokens on every replica. A record is needed only while such
//! tokens can live, and is kept a day.
//!
//! Each such service's migrations create [`ERASED_USERS_TABLE`] and
//! [`TOKEN_CUTOFFS_TABLE`] (sqlx migrations are per service, so each keeps
//! a copy; a test holds every copy to these).

use sqlx::AnyConnection;
use todo_common::auth::RevokedTokens;

use crate::db::{Pool, is_unique_violation};

/// The records in one service's database, as the token verifier consults
/// them ([`todo_common::auth::TokenVerifier::refusing_revoked_tokens`]).
#[derive(Debug, Clone)]
pub struct Records(pub Pool);

#[tonic::async_trait]
impl RevokedTokens for Records {
    async fn refuses(&self, user_id: &str, issued_at: i64) -> anyhow::Result<bool> {
        Ok(refuses(&self.0, user_id, issued_at).await?)
    }
}

/// The table of erased users, as every service that refuses their tokens
/// creates it.
pub const ERASED_USERS_TABLE: &str = "\
CREATE TABLE erased_users (
    user_id    VARCHAR(36) NOT NULL PRIMARY KEY,
    erase_time BIGINT      NOT NULL
);
CREATE INDEX erased_users_time ON erased_users (erase_time);";

/// The table of token cut-offs, as every service that refuses tokens
/// issued before a credential change creates it.
pub const TOKEN_CUTOFFS_TABLE: &str = "\
CREATE TABLE token_cutoffs (
    user_id       VARCHAR(36) NOT NULL PRIMARY KEY,
    issued_before BIGINT      NOT NULL,
    record_time   BIGINT      NOT NULL
);
CREATE INDEX token_cutoffs_time ON token_cutoffs (record_time);";

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

/// Records that `user_id`'s access tokens issued (`iat`, Unix seconds)
/// before `issued_before` are refused. Idempotent, and the latest cut-off
/// wins whatever order the records arrive in.
///
/// # Errors
/// On database failure.
pub async fn revoke_tokens_before(
    conn: &mut AnyConnection,
    user_id: &str,
    issued_before: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    // Portable upsert: raise an older cut-off, else insert; a unique
    // violation then means a row with a later (or the same) cut-off exists.
    let raised = sqlx::query(
        "UPDATE token_cutoffs SET issued_before = ?, record_time = ? WHERE user_id = ? AND issued_before < ?",
    )
    .bind(issued_before)
    .bind(now)
    .bind(user_id)
    .bind(issued_before)
    .execute(&mut *conn)
    .await?;
    if raised.rows_affected() > 0 {
        return Ok(());
    }
    let inserted = sqlx::query(
        "INSERT INTO token_cutoffs (user_id, issued_before, record_time) VALUES (?, ?, ?)",
    )
    .bind(user_id)
    .bind(issued_before)
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
    forget_before(pool, Kept::ErasedUsers, now - RETENTION_MICROS).await;
}

/// Forgets token cut-offs recorded longer than [`RETENTION_MICROS`] before
/// `now`: every token they refuse has expired. Best effort, like [`prune`].
pub async fn prune_cutoffs(pool: &Pool, now: i64) {
    forget_before(pool, Kept::TokenCutoffs, now - RETENTION_MICROS).await;
}

/// The records kept for [`RETENTION_MICROS`].
#[derive(Debug, Clone, Copy)]
enum Kept {
    ErasedUsers,
    TokenCutoffs,
}

/// Deletes the `kept` records made before `cutoff`; a failure is logged.
async fn forget_before(pool: &Pool, kept: Kept, cutoff: i64) {
    let (sql, what) = match kept {
        Kept::ErasedUsers => (
            "DELETE FROM erased_users WHERE erase_time < ?",
            "cannot forget long-erased users",
        ),
        Kept::TokenCutoffs => (
            "DELETE FROM token_cutoffs WHERE record_time < ?",
            "cannot forget old token cut-offs",
        ),
    };
    if let Err(e) = sqlx::query(sql).bind(cutoff).execute(pool).await {
        tracing::warn!(error = %e, "{what}");
    }
}

/// Whether an access token of `user_id` issued at `iat` (Unix seconds) is
/// refused: its user was erased, or it predates the user's last credential
/// change. One query, since it runs for every authenticated request.
///
/// # Errors
/// On database failure.
pub async fn refuses(pool: &Pool, user_id: &str, iat: i64) -> Result<bool, sqlx::Error> {
    let found: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM erased_users WHERE user_id = ?) \
              + (SELECT COUNT(*) FROM token_cutoffs WHERE user_id = ? AND issued_before > ?)",
    )
    .bind(user_id)
    .bind(user_id)
    .bind(iat)
    .fetch_one(pool)
    .await?;
    Ok(found > 0)
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
