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
        store::tasks::expire_idempotency_keys(&db.pool, before).await?;
        Ok::<_, Error>(Pass::Idle)
    })
    .await;
}
