//! A crash in the middle of sending an e-mail: the platform runs as its
//! real binary and is killed with SIGKILL while the notify service waits
//! for the mail server's answer, then started again on the same databases.
//! The e-mail is not lost: once the dead worker's lease on it has run out
//! (aged in the database here rather than waited for), it goes out, once.
//! Against SQLite and MariaDB.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::process::{self, Platform};
use support::{Db, smtp};
use todo_common::clock::now_micros;

const WAIT: Duration = Duration::from_secs(30);

async fn a_crash_mid_send_loses_no_email(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let mut schemas = Vec::new();
    let mut url = |service: &str| match db {
        Db::Sqlite => format!("sqlite://{}/{service}.db", dir.path().display()),
        Db::MariaDb => {
            let schema = format!("todo_t_{}_{service}", uuid::Uuid::new_v4().simple());
            let server = support::mysql_server().unwrap();
            schemas.push(schema.clone());
            format!("{}/{schema}", server.trim_end_matches('/'))
        }
    };
    let (user_db, task_db, notify_url) = (url("user"), url("task"), url("notify"));
    support::create_schemas(&schemas).await;
    let smtp = smtp::Listener::start().await;
    smtp.fail_next(&[smtp::HANG]);
    let env = process::settings([&user_db, &task_db, &notify_url], smtp.addr, "info");

    let first = Platform::launch(&env, dir.path()).await;
    first.register("crash@example.com").await;
    // The welcome e-mail is on the wire, its answer never comes; the
    // process dies while it waits.
    smtp.hung(WAIT).await;
    first.crash();

    let mut notify = support::connect(&notify_url).await;
    let (state, lease_until): (String, Option<i64>) = sqlx::query_as(
        "SELECT state, lease_until FROM emails WHERE to_email = 'crash@example.com'",
    )
    .fetch_one(&mut notify)
    .await
    .unwrap();
    assert_eq!(state, "pending", "the e-mail is still to be sent");
    assert!(
        lease_until.is_some_and(|t| t > now_micros()),
        "and still leased to the dead worker"
    );
    let aged =
        sqlx::query("UPDATE emails SET lease_until = ? WHERE to_email = 'crash@example.com'")
            .bind(now_micros() - 1)
            .execute(&mut notify)
            .await
            .unwrap();
    assert_eq!(aged.rows_affected(), 1);

    let second = Platform::launch(&env, dir.path()).await;
    let mail = smtp.next(WAIT).await;
    assert!(
        mail.to.iter().any(|t| t.contains("crash@example.com")),
        "{:?}",
        mail.to
    );
    // Once: the next message is the next user's, not a second copy.
    second.register("after@example.com").await;
    let next = smtp.next(WAIT).await;
    assert!(
        next.to.iter().any(|t| t.contains("after@example.com")),
        "a second copy arrived: {:?}",
        next.to
    );
    second.crash();
    support::drop_schemas(&schemas).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_send_loses_no_email_sqlite() {
    a_crash_mid_send_loses_no_email(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_send_loses_no_email_mariadb() {
    if support::mysql_server().is_none() {
        eprintln!("skipped: TODO_TEST_MYSQL_URL is unset");
        return;
    }
    a_crash_mid_send_loses_no_email(Db::MariaDb).await;
}
