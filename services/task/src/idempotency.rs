//! Idempotency keys: how long one is remembered, and the worker that
//! forgets expired ones.

use std::time::Duration;

use todo_common::CancellationToken;
use todo_common::clock::now_micros;
use todo_store::db::Db;
use todo_store::poll::{self, Pass, Schedule};

use crate::error::Error;
use crate::store;

/// How long an `Idempotency-Key` is remembered.
pub const TTL_MICROS: i64 = 24 * 3600 * 1_000_000;

/// How often expired idempotency keys are deleted.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(3600);

/// Forgets expired idempotency keys once an hour.
pub async fn expire_until_stopped(db: Db, stop: CancellationToken) {
    let schedule = Schedule {
        worker: "idempotency key expiry",
        idle: EXPIRY_INTERVAL,
        wake: None,
    };
    poll::run(schedule, stop, || async {
        let before = now_micros() - TTL_MICROS;
        let _turn = db.write_turn().await?;
        store::tasks::expire_idempotency_keys(db.writer(), before).await?;
        Ok::<_, Error>(Pass::Idle)
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 24 h, as the README promises.
    #[test]
    fn a_key_is_remembered_for_a_day() {
        assert_eq!(TTL_MICROS, 86_400_000_000);
    }

    #[tokio::test]
    async fn the_expiry_worker_forgets_the_keys_older_than_a_day_and_no_others() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::tests::database(&dir).await;
        let now = now_micros();
        let hour = 3_600_000_000;
        for (key, used) in [("old", now - TTL_MICROS - hour), ("new", now - 23 * hour)] {
            sqlx::query(
                "INSERT INTO idempotency_keys (owner_id, idem_key, request_hash, task_id, create_time) \
                 VALUES ('u', ?, 'h', 't', ?)",
            )
            .bind(key)
            .bind(used)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        let keys = || async {
            sqlx::query_scalar::<_, String>(
                "SELECT idem_key FROM idempotency_keys ORDER BY idem_key",
            )
            .fetch_all(&db.pool)
            .await
            .unwrap()
        };
        let stop = CancellationToken::new();
        let worker = tokio::spawn(expire_until_stopped(db.clone(), stop.clone()));
        // The first pass runs at once; wait for its outcome, not a time.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while keys().await.len() == 2 {
            assert!(std::time::Instant::now() < deadline, "nothing expired");
            tokio::task::yield_now().await;
        }
        stop.cancel();
        worker.await.unwrap();
        assert_eq!(keys().await, ["new"]);
        db.close().await;
    }
}
