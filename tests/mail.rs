//! E-mail delivery under failure: the mail server down, answering with
//! temporary and permanent errors; dead e-mails listed and requeued by an
//! operator. Against SQLite and MariaDB.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::{Db, TestSystem, smtp};
use todo_proto::todo::notify::v1::{ListDeadEmailsRequest, RequeueEmailRequest};

const WAIT: Duration = Duration::from_secs(30);

async fn register(sys: &TestSystem, email: &str) {
    let (status, body) = sys
        .call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"email": email, "password": "a long enough secret", "displayName": "M"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

fn addressed_to(mail: &smtp::Received, email: &str) -> bool {
    mail.to.iter().any(|t| t.contains(email))
}

macro_rules! both {
    ($name:ident, $smtp:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let sys = TestSystem::start_with_smtp(Db::Sqlite, $smtp)
                    .await
                    .unwrap();
                super::$name(&sys).await;
                sys.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() {
                let Some(sys) = TestSystem::start_with_smtp(Db::MariaDb, $smtp).await else {
                    eprintln!("skipped: TODO_TEST_MYSQL_URL is unset");
                    return;
                };
                super::$name(&sys).await;
                sys.stop().await;
            }
        }
    };
}

both!(
    mail_server_down_at_registration_delivers_once_it_is_up,
    smtp::Listener::down().await
);
async fn mail_server_down_at_registration_delivers_once_it_is_up(sys: &TestSystem) {
    register(sys, "late@example.com").await;
    let registered = tokio::time::Instant::now();
    // Registration succeeded although the mail server is down. Delivery is
    // tried, the connection refused, again and again while it stays down.
    // (The row appears once the user service's outbox has relayed it.)
    let attempts = || async {
        let attempts: Option<i64> = sqlx::query_scalar(
            "SELECT attempts FROM emails WHERE to_email = 'late@example.com' AND state = 'pending'",
        )
        .fetch_optional(&mut sys.db_of("notify").await)
        .await
        .unwrap();
        attempts.unwrap_or(0)
    };
    support::eventually("refused delivery attempts", || async {
        attempts().await >= 3
    })
    .await;
    // The outage lasts 30 seconds.
    tokio::time::sleep_until(registered + Duration::from_secs(30)).await;
    sys.smtp.open().await;
    // The next attempt is due within the backoff reached by then (at most
    // about 35 s).
    let first = sys.smtp.next(Duration::from_secs(60)).await;
    assert!(addressed_to(&first, "late@example.com"), "{:?}", first.to);
    // Exactly once: the next message is the next user's, not a repeat.
    register(sys, "next@example.com").await;
    let second = sys.smtp.next(WAIT).await;
    assert!(
        addressed_to(&second, "next@example.com"),
        "a second copy arrived: {:?}",
        second.to
    );
}

both!(
    temporary_failures_are_retried_until_delivered,
    smtp::Listener::start().await
);
async fn temporary_failures_are_retried_until_delivered(sys: &TestSystem) {
    sys.smtp.fail_next(&[451, 451]);
    register(sys, "retry@example.com").await;
    let mail = sys.smtp.next(WAIT).await;
    assert!(addressed_to(&mail, "retry@example.com"));
    register(sys, "after@example.com").await;
    let next = sys.smtp.next(WAIT).await;
    assert!(
        addressed_to(&next, "after@example.com"),
        "delivered twice: {:?}",
        next.to
    );
}

both!(
    permanent_failures_are_dead_until_requeued,
    smtp::Listener::start().await
);
async fn permanent_failures_are_dead_until_requeued(sys: &TestSystem) {
    sys.smtp.fail_next(&[550]);
    register(sys, "dead@example.com").await;
    // The 550 is not retried: the next message through is another user's.
    register(sys, "alive@example.com").await;
    let mail = sys.smtp.next(WAIT).await;
    assert!(addressed_to(&mail, "alive@example.com"), "{:?}", mail.to);

    let mut notify = sys.notify_internal(sys.addr.notify);
    let dead = notify
        .list_dead_emails(ListDeadEmailsRequest { page_size: 10 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dead.emails.len(), 1, "{dead:?}");
    assert!(dead.emails[0].last_error.contains("550"), "{dead:?}");
    assert_eq!(dead.emails[0].attempts, 1);

    notify
        .requeue_email(RequeueEmailRequest {
            id: dead.emails[0].id.clone(),
        })
        .await
        .unwrap();
    let mail = sys.smtp.next(WAIT).await;
    assert!(addressed_to(&mail, "dead@example.com"), "{:?}", mail.to);
    let dead = notify
        .list_dead_emails(ListDeadEmailsRequest { page_size: 10 })
        .await
        .unwrap()
        .into_inner();
    assert!(dead.emails.is_empty());
    let err = notify
        .requeue_email(RequeueEmailRequest {
            id: dead_id_unknown(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
}

fn dead_id_unknown() -> String {
    todo_common::clock::new_id()
}

both!(
    two_notify_replicas_send_each_message_once,
    smtp::Listener::start().await
);
async fn two_notify_replicas_send_each_message_once(sys: &TestSystem) {
    // A second notify service on the same database, as a second replica.
    let listener = todo_common::grpc::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let second_addr = listener.local_addr().unwrap();
    let mut config = sys.config.notify.clone();
    config.user_url = format!("http://{}", sys.addr.user);
    config.task_url = format!("http://{}", sys.addr.task);
    let second = todo_notify::build(config, listener).await.unwrap();
    let stop = todo_common::CancellationToken::new();
    let replica = tokio::spawn(second.run_until_stopped(stop.clone()));

    let replicas = [
        sys.notify_internal(sys.addr.notify),
        sys.notify_internal(second_addr),
    ];
    const N: usize = 1000;
    support::queue_emails(&replicas, N).await;

    let mut seen = std::collections::HashSet::new();
    while seen.len() < N {
        let mail = sys.smtp.next(WAIT).await;
        let to = mail.to.join(",");
        assert!(seen.insert(to.clone()), "sent twice: {to}");
    }
    // Nothing more is on its way: the next message is a fresh one.
    register(sys, "sentinel@example.com").await;
    let next = sys.smtp.next(WAIT).await;
    assert!(
        addressed_to(&next, "sentinel@example.com"),
        "a duplicate arrived: {:?}",
        next.to
    );
    stop.cancel();
    replica.await.unwrap().unwrap();
}
