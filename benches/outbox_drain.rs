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

use futures::StreamExt;
use support::{Db, TestSystem};
use todo_proto::todo::notify::v1::notify_internal_service_client::NotifyInternalServiceClient;
use todo_proto::todo::notify::v1::{EmailTemplate, SendEmailRequest};

const N: usize = 2000;

#[tokio::main]
async fn main() {
    let db = if support::mysql_server().is_some() {
        Db::MariaDb
    } else {
        Db::Sqlite
    };
    let sys = TestSystem::start(db).await.unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", sys.addr.notify))
        .unwrap()
        .connect_lazy();
    let notify = NotifyInternalServiceClient::with_interceptor(
        channel,
        todo_common::auth::AttachServiceCredential(sys.credential.clone()),
    );

    let started = Instant::now();
    let sends = (0..N).map(|i| {
        let mut notify = notify.clone();
        async move {
            let req = SendEmailRequest {
                dedup_key: format!("bench:{i}"),
                user_id: todo_common::clock::new_id(),
                template: EmailTemplate::SecurityAlert.into(),
                to_email: format!("user{i}@example.com"),
                display_name: format!("User {i}"),
                token: String::new(),
                task_title: String::new(),
            };
            notify.send_email(req).await.unwrap();
        }
    });
    futures::stream::iter(sends)
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
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
