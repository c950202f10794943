//! The erased-user record that makes every service refuse a deleted
//! account's unexpired access tokens: recorded once, found, forgotten only
//! after its retention, and enforced by the token verifier.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use sqlx::migrate::Migrator;
use todo_store::db::{Db, DbConfig, connect};
use todo_store::erased::{self, RETENTION_MICROS};

const DDL: &str = include_str!("../../../migrations/task/0003_erased_users.sql");

async fn database(dir: &tempfile::TempDir, with_table: bool) -> Db {
    let config = DbConfig {
        url: format!("sqlite://{}/erased.db", dir.path().display()),
        max_connections: 2,
    };
    let db = connect(&config, &Migrator::DEFAULT).await.unwrap();
    if with_table {
        sqlx::raw_sql(DDL).execute(&db.pool).await.unwrap();
    }
    db
}

#[tokio::test]
async fn a_recorded_user_is_found_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir, true).await;
    assert!(!erased::contains(&db.pool, "u1").await.unwrap());

    let mut conn = db.pool.acquire().await.unwrap();
    erased::record(&mut conn, "u1", 1_000).await.unwrap();
    // Delivered twice: still one record, no error.
    erased::record(&mut conn, "u1", 2_000).await.unwrap();
    drop(conn);

    assert!(erased::contains(&db.pool, "u1").await.unwrap());
    assert!(!erased::contains(&db.pool, "u2").await.unwrap());
}

#[tokio::test]
async fn a_failure_to_record_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir, false).await;
    let mut conn = db.pool.acquire().await.unwrap();
    assert!(erased::record(&mut conn, "u1", 1_000).await.is_err());
}

#[tokio::test]
async fn records_are_forgotten_only_after_their_retention() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir, true).await;
    let first = 10 * RETENTION_MICROS;
    let mut conn = db.pool.acquire().await.unwrap();
    erased::record(&mut conn, "old", first).await.unwrap();
    // A second delivery later must not extend the first record's life.
    erased::record(&mut conn, "old", first + RETENTION_MICROS)
        .await
        .unwrap();
    erased::record(&mut conn, "new", first + 1).await.unwrap();
    drop(conn);

    // Exactly at the retention the record is still kept.
    erased::prune(&db.pool, first + RETENTION_MICROS).await;
    assert!(erased::contains(&db.pool, "old").await.unwrap());

    erased::prune(&db.pool, first + RETENTION_MICROS + 1).await;
    assert!(!erased::contains(&db.pool, "old").await.unwrap());
    assert!(erased::contains(&db.pool, "new").await.unwrap());
}

/// A day: far beyond an access token's 15 minutes plus clock leeway, and
/// what the README promises.
#[test]
fn erased_users_are_remembered_for_a_day() {
    assert_eq!(RETENTION_MICROS, 24 * 60 * 60 * 1_000_000);
}

const CUTOFF_DDL: &str = include_str!("../../../migrations/task/0004_token_cutoffs.sql");

async fn with_cutoffs(dir: &tempfile::TempDir) -> Db {
    let db = database(dir, true).await;
    sqlx::raw_sql(CUTOFF_DDL).execute(&db.pool).await.unwrap();
    db
}

#[tokio::test]
async fn tokens_issued_before_the_cutoff_are_refused_and_later_ones_pass() {
    let dir = tempfile::tempdir().unwrap();
    let db = with_cutoffs(&dir).await;
    assert!(
        !erased::refuses(&db.pool, "u1", 100).await.unwrap(),
        "no record, no refusal"
    );

    let mut conn = db.pool.acquire().await.unwrap();
    erased::revoke_tokens_before(&mut conn, "u1", 1_000, 5)
        .await
        .unwrap();
    drop(conn);
    assert!(erased::refuses(&db.pool, "u1", 999).await.unwrap());
    assert!(
        !erased::refuses(&db.pool, "u1", 1_000).await.unwrap(),
        "issued at the cut-off"
    );
    assert!(!erased::refuses(&db.pool, "u1", 1_001).await.unwrap());
    assert!(
        !erased::refuses(&db.pool, "u2", 999).await.unwrap(),
        "another user"
    );

    let mut conn = db.pool.acquire().await.unwrap();
    erased::record(&mut conn, "u3", 5).await.unwrap();
    drop(conn);
    assert!(
        erased::refuses(&db.pool, "u3", i64::MAX).await.unwrap(),
        "erased"
    );
}

#[tokio::test]
async fn the_latest_cutoff_wins_whatever_order_the_records_arrive_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = with_cutoffs(&dir).await;
    let mut conn = db.pool.acquire().await.unwrap();
    erased::revoke_tokens_before(&mut conn, "u1", 1_000, 5)
        .await
        .unwrap();
    erased::revoke_tokens_before(&mut conn, "u1", 2_000, 6)
        .await
        .unwrap();
    // Delivered late: must not lower the cut-off.
    erased::revoke_tokens_before(&mut conn, "u1", 1_500, 7)
        .await
        .unwrap();
    // Delivered twice.
    erased::revoke_tokens_before(&mut conn, "u1", 2_000, 8)
        .await
        .unwrap();
    drop(conn);
    assert!(erased::refuses(&db.pool, "u1", 1_999).await.unwrap());
    assert!(!erased::refuses(&db.pool, "u1", 2_000).await.unwrap());
}

#[tokio::test]
async fn cutoffs_are_forgotten_only_after_their_retention() {
    let dir = tempfile::tempdir().unwrap();
    let db = with_cutoffs(&dir).await;
    let recorded = 10 * RETENTION_MICROS;
    let mut conn = db.pool.acquire().await.unwrap();
    erased::revoke_tokens_before(&mut conn, "old", 1_000, recorded)
        .await
        .unwrap();
    erased::revoke_tokens_before(&mut conn, "new", 1_000, recorded + 1)
        .await
        .unwrap();
    drop(conn);

    erased::prune_cutoffs(&db.pool, recorded + RETENTION_MICROS).await;
    assert!(
        erased::refuses(&db.pool, "old", 999).await.unwrap(),
        "kept at the retention"
    );
    erased::prune_cutoffs(&db.pool, recorded + RETENTION_MICROS + 1).await;
    assert!(!erased::refuses(&db.pool, "old", 999).await.unwrap());
    assert!(erased::refuses(&db.pool, "new", 999).await.unwrap());
}

/// What the token verifier consults: the same answers through the trait.
#[tokio::test]
async fn the_verifier_sees_the_records_through_its_trait() {
    use todo_common::auth::RevokedTokens;
    let dir = tempfile::tempdir().unwrap();
    let db = with_cutoffs(&dir).await;
    let mut conn = db.pool.acquire().await.unwrap();
    erased::revoke_tokens_before(&mut conn, "u1", 1_000, 5)
        .await
        .unwrap();
    drop(conn);
    let records = erased::Records::new(db.pool.clone());
    assert!(records.refuses("u1", 999).await.unwrap());
    assert!(!records.refuses("u1", 1_000).await.unwrap());
}

/// The copy in memory answers without a query: the tables can go away and
/// a fresh copy still answers.
#[tokio::test]
async fn a_fresh_copy_answers_without_asking_the_tables() {
    use todo_common::auth::RevokedTokens;
    let dir = tempfile::tempdir().unwrap();
    let db = with_cutoffs(&dir).await;
    let mut conn = db.pool.acquire().await.unwrap();
    erased::record(&mut conn, "gone", 5).await.unwrap();
    erased::revoke_tokens_before(&mut conn, "u1", 1_000, 5)
        .await
        .unwrap();
    let records = erased::Records::with_max_lag(db.pool.clone(), Duration::from_secs(3600));
    assert!(records.refuses("gone", 0).await.unwrap());
    sqlx::raw_sql("DROP TABLE erased_users; DROP TABLE token_cutoffs")
        .execute(&mut *conn)
        .await
        .unwrap();
    assert!(records.refuses("gone", 2_000).await.unwrap());
    assert!(records.refuses("u1", 999).await.unwrap());
    assert!(!records.refuses("u1", 1_000).await.unwrap());
    assert!(!records.refuses("other", 0).await.unwrap());
    // Told of a change, it reads the tables again (gone now: an error,
    // which the verifier turns into UNAVAILABLE, never a pass).
    records.changed();
    assert!(records.refuses("gone", 0).await.is_err());
}

/// A record this process writes counts at once once it says so; one that
/// another replica writes, when the copy is older than its lag.
#[tokio::test]
async fn a_new_record_counts_when_changed_or_when_the_copy_ages() {
    use todo_common::auth::RevokedTokens;
    let dir = tempfile::tempdir().unwrap();
    let db = with_cutoffs(&dir).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let held = erased::Records::with_max_lag(db.pool.clone(), Duration::from_secs(3600));
    let fresh = erased::Records::with_max_lag(db.pool.clone(), Duration::ZERO);
    assert!(!held.refuses("u2", 5).await.unwrap());
    assert!(!fresh.refuses("u2", 5).await.unwrap());

    erased::record(&mut conn, "u2", 10).await.unwrap();
    assert!(
        !held.refuses("u2", 5).await.unwrap(),
        "within the lag, the copy may not know yet"
    );
    assert!(
        fresh.refuses("u2", 5).await.unwrap(),
        "an aged copy reloads"
    );
    held.changed();
    assert!(
        held.refuses("u2", 5).await.unwrap(),
        "a change is seen at once"
    );
}

/// With more records than it holds, every request asks the tables, so a
/// new record counts at once and memory stays bounded. Up to the limit,
/// erased users and cut-offs together, the copy is held.
#[tokio::test]
async fn too_many_records_are_asked_for_one_by_one() {
    use todo_common::auth::RevokedTokens;
    let dir = tempfile::tempdir().unwrap();
    let db = with_cutoffs(&dir).await;
    let bulk = |n: usize| {
        let pool = db.pool.clone();
        async move {
            sqlx::query(
                "INSERT INTO erased_users (user_id, erase_time) \
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
                 SELECT 'bulk' || (SELECT COUNT(*) FROM erased_users) || '-' || i, 0 FROM n",
            )
            .bind(i64::try_from(n).unwrap())
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    let mut conn = db.pool.acquire().await.unwrap();
    erased::revoke_tokens_before(&mut conn, "cut", 1_000, 5)
        .await
        .unwrap();
    bulk(erased::HELD_MAX - 1).await;
    let records = erased::Records::with_max_lag(db.pool.clone(), Duration::from_secs(3600));
    assert!(records.refuses("cut", 0).await.unwrap());
    erased::record(&mut conn, "late", 10).await.unwrap();
    assert!(
        !records.refuses("late", 0).await.unwrap(),
        "at the limit the copy is held, and does not know yet"
    );

    bulk(1).await;
    records.changed();
    assert!(records.refuses("late", 0).await.unwrap());
    erased::record(&mut conn, "later", 10).await.unwrap();
    assert!(
        records.refuses("later", 0).await.unwrap(),
        "past the limit every request asks"
    );
}

/// One table alone past the limit is not held either: a copy cut short at
/// the limit would let the users beyond it through.
#[tokio::test]
async fn erased_users_alone_past_the_limit_are_asked_for_one_by_one() {
    use todo_common::auth::RevokedTokens;
    let dir = tempfile::tempdir().unwrap();
    let db = with_cutoffs(&dir).await;
    sqlx::query(
        "INSERT INTO erased_users (user_id, erase_time) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
         SELECT 'bulk' || i, 0 FROM n",
    )
    .bind(i64::try_from(erased::HELD_MAX + 1).unwrap())
    .execute(&db.pool)
    .await
    .unwrap();
    let records = erased::Records::with_max_lag(db.pool.clone(), Duration::from_secs(3600));
    assert!(!records.refuses("late", 0).await.unwrap());
    let mut conn = db.pool.acquire().await.unwrap();
    erased::record(&mut conn, "late", 10).await.unwrap();
    assert!(records.refuses("late", 0).await.unwrap());
}
