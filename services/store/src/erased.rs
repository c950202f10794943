//! Users whose accounts are gone, and access tokens issued before a user's
//! last credential change.
//!
//! Access tokens are verified locally, so a token issued before its
//! account was deleted, or before its password was changed or reset,
//! would stay good for the rest of its 15 minutes. A service that holds
//! user data therefore records, in its own database, each user it is told
//! to erase and each credential change it is told of (both relayed through
//! the user service's outbox); [`todo_common::auth::TokenVerifier`] then refuses
//! those tokens: at once on the replica that recorded it, within
//! [`MAX_LAG`] on the others ([`Records`]). A record is needed only while
//! such tokens can live, and is kept a day.
//!
//! Each such service's migrations create [`ERASED_USERS_TABLE`] and
//! [`TOKEN_CUTOFFS_TABLE`] (sqlx migrations are per service, so each keeps
//! a copy; a test holds every copy to these).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use sqlx::AnyConnection;
use todo_common::auth::RevokedTokens;

use crate::db::{Pool, is_unique_violation};

/// How stale the records held in memory may be: a record written by
/// another replica refuses its tokens here within this long.
pub const MAX_LAG: Duration = Duration::from_secs(1);

/// The most records held in memory; with more (a day of mass erasures),
/// each request asks the tables instead.
pub const HELD_MAX: usize = 20_000;

/// The records of one service's database as the token verifier consults
/// them ([`todo_common::auth::TokenVerifier::refusing_revoked_tokens`]),
/// on every authenticated request. They are held in memory and read again
/// when older than [`MAX_LAG`], so a request costs no query. A record this
/// process writes counts at once: the writer calls [`Records::changed`]
/// after its commit. The tables hold a day of records; past [`HELD_MAX`]
/// rows the requests query them one by one, so memory stays bounded.
#[derive(Debug)]
pub struct Records {
    pool: Pool,
    max_lag: Duration,
    /// Bumped by [`Records::changed`]: a copy loaded under an older
    /// generation may miss a record and is not used.
    generation: AtomicU64,
    held: RwLock<Option<Held>>,
    /// One reload at a time; the others wait for its result.
    reloading: tokio::sync::Mutex<()>,
}

/// A copy of the tables.
#[derive(Debug)]
struct Held {
    /// When the reload began (so the age bound includes the reload).
    loaded_at: Instant,
    generation: u64,
    /// `None`: more than [`HELD_MAX`] records, asked for one by one.
    rows: Option<Rows>,
}

#[derive(Debug, Default)]
struct Rows {
    erased: HashSet<String>,
    /// A user's tokens issued (`iat`) before this are refused.
    cutoffs: HashMap<String, i64>,
}

impl Rows {
    /// The answer of [`refuses`], from memory.
    fn refuse(&self, user_id: &str, iat: i64) -> bool {
        self.erased.contains(user_id) || self.cutoffs.get(user_id).is_some_and(|b| *b > iat)
    }
}

/// What the held copy says of a token.
enum Verdict {
    Known(bool),
    /// Too many records to hold: ask the tables.
    Ask,
}

impl Records {
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self::with_max_lag(pool, MAX_LAG)
    }

    #[must_use]
    pub fn with_max_lag(pool: Pool, max_lag: Duration) -> Self {
        Self {
            pool,
            max_lag,
            generation: AtomicU64::new(0),
            held: RwLock::new(None),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// Tells the copy in memory that this process has just committed a
    /// record: the next request reads the tables again.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The held copy's verdict, if it is fresh.
    fn verdict(&self, user_id: &str, iat: i64) -> Option<Verdict> {
        let held = self.held.read().unwrap_or_else(PoisonError::into_inner);
        let held = held.as_ref()?;
        if held.generation != self.generation.load(Ordering::SeqCst)
            || held.loaded_at.elapsed() >= self.max_lag
        {
            return None;
        }
        Some(match &held.rows {
            Some(rows) => Verdict::Known(rows.refuse(user_id, iat)),
            None => Verdict::Ask,
        })
    }

    async fn answer(&self, verdict: Verdict, user_id: &str, iat: i64) -> Result<bool, sqlx::Error> {
        match verdict {
            Verdict::Known(refused) => Ok(refused),
            Verdict::Ask => refuses(&self.pool, user_id, iat).await,
        }
    }

    async fn check(&self, user_id: &str, iat: i64) -> Result<bool, sqlx::Error> {
        if let Some(v) = self.verdict(user_id, iat) {
            return self.answer(v, user_id, iat).await;
        }
        let _one = self.reloading.lock().await;
        // Another request may have reloaded while this one waited.
        if let Some(v) = self.verdict(user_id, iat) {
            return self.answer(v, user_id, iat).await;
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let loaded_at = Instant::now();
        let rows = load(&self.pool).await?;
        let verdict = match &rows {
            Some(rows) => Verdict::Known(rows.refuse(user_id, iat)),
            None => Verdict::Ask,
        };
        *self.held.write().unwrap_or_else(PoisonError::into_inner) = Some(Held {
            loaded_at,
            generation,
            rows,
        });
        self.answer(verdict, user_id, iat).await
    }
}

#[tonic::async_trait]
impl RevokedTokens for Records {
    async fn refuses(&self, user_id: &str, issued_at: i64) -> anyhow::Result<bool> {
        Ok(self.check(user_id, issued_at).await?)
    }
}

/// Both tables, or `None` when they hold more than [`HELD_MAX`] records.
async fn load(pool: &Pool) -> Result<Option<Rows>, sqlx::Error> {
    let over = i64::try_from(HELD_MAX + 1).unwrap_or(i64::MAX);
    let erased: Vec<String> = sqlx::query_scalar("SELECT user_id FROM erased_users LIMIT ?")
        .bind(over)
        .fetch_all(pool)
        .await?;
    let cutoffs: Vec<(String, i64)> =
        sqlx::query_as("SELECT user_id, issued_before FROM token_cutoffs LIMIT ?")
            .bind(over)
            .fetch_all(pool)
            .await?;
    if erased.len() + cutoffs.len() > HELD_MAX {
        return Ok(None);
    }
    Ok(Some(Rows {
        erased: erased.into_iter().collect(),
        cutoffs: cutoffs.into_iter().collect(),
    }))
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
/// change, asked of the tables directly (see [`Records`] for the copy in
/// memory that requests consult).
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
