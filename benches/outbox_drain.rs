//! How fast the notify service drains its e-mail queue to a local SMTP
//! server: queues `N` e-mails through the internal RPC, then times how long
//! until the SMTP listener has accepted all of them. Two mail workers (the
//! default), one notify instance.
//!
//! Run: `cargo bench --bench outbox_drain` (SQLite), or with
//! `TODO_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306` for MariaDB.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{Db, TestSystem};

const N: usize = 2000;

#[tokio::main]
async fn main() {
    let db = Db::from_env();
    let sys = TestSystem::start(db).await.unwrap();
    let notify = sys.notify_internal(sys.addr.notify);

    let started = Instant::now();
    support::queue_emails(&[notify], N).await;
    let queued = started.elapsed();
    for _ in 0..N {
        sys.smtp.next(Duration::from_secs(60)).await;
    }
    let drained = started.elapsed();
    println!(
        "outbox_drain ({db:?}): {N} e-mails queued in {:.2} s, all delivered after {:.2} s: {:.0} e-mails/s",
        queued.as_secs_f64(),
        drained.as_secs_f64(),
        N as f64 / drained.as_secs_f64()
    );
    sys.stop().await;
}
