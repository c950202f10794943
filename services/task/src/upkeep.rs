//! Background upkeep of the task database: tasks the previous release
//! wrote during a rolling deploy (without a list) are put in their
//! creator's default list, and invitations long expired are forgotten.

use std::time::Duration;

use todo_common::CancellationToken;
use todo_common::clock::now_micros;
use todo_store::db::Db;
use todo_store::poll::{self, Pass, Schedule};

use crate::error::Error;
use crate::list_fields::INVITATION_TTL_MICROS;
use crate::request::retry;
use crate::store::{invitations, lists};

/// How often a pass runs. Tasks from the previous release are adopted
/// within this time; only the release that still writes them is affected.
const INTERVAL: Duration = Duration::from_secs(30);
/// Creators whose orphaned tasks one transaction adopts.
const BATCH: i64 = 100;

/// Runs one pass at start-up, then every [`INTERVAL`].
pub async fn run_until_stopped(db: Db, stop: CancellationToken) {
    let schedule = Schedule {
        worker: "task upkeep",
        idle: INTERVAL,
        wake: None,
    };
    poll::run(schedule, stop, || async {
        let now = now_micros();
        let adopted = adopt(&db, now).await?;
        {
            let _turn = db.write_turn().await?;
            let mut conn = db.writer().acquire().await?;
            invitations::prune(&mut conn, now - INVITATION_TTL_MICROS).await?;
        }
        if adopted > 0 {
            tracing::info!(
                tasks = adopted,
                "tasks without a list put in their default lists"
            );
            return Ok::<_, Error>(Pass::More);
        }
        Ok(Pass::Idle)
    })
    .await;
}

pub async fn adopt(db: &Db, now: i64) -> Result<u64, Error> {
    retry(|| async {
        let mut tx = db.begin_write().await?;
        let n = lists::adopt_orphans(&mut tx, now, BATCH).await?;
        tx.commit().await?;
        Ok(n)
    })
    .await
}
