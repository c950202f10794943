//! What the whole path costs: GET one task through the edge (REST ->
//! transcoding -> gRPC -> token check -> SQLite or MariaDB -> back) against
//! a bare axum route on the same machine that returns the same JSON, each
//! driven by the same in-process load generator (keep-alive connections,
//! `CONCURRENCY` requests in flight, `SECONDS` per measurement after a
//! warm-up).
//!
//! Run: `cargo bench --bench edge_get` (SQLite), or with
//! `TODO_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306` for MariaDB.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Db, TestSystem};

const CONCURRENCY: usize = 32;
const WARM_UP: Duration = Duration::from_secs(1);
const SECONDS: u64 = 5;

/// Requests per second that `CONCURRENCY` clients get from `url`, every
/// answer checked to be a 200.
async fn rate(url: &str, token: &str) -> f64 {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let run = |until: Instant, count: bool| {
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (client, url, token, done) = (
                    client.clone(),
                    url.to_owned(),
                    token.to_owned(),
                    done.clone(),
                );
                tokio::spawn(async move {
                    while Instant::now() < until {
                        let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
                        assert_eq!(response.status(), 200);
                        response.bytes().await.unwrap();
                        if count {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        futures::future::join_all(workers)
    };
    run(Instant::now() + WARM_UP, false).await;
    let started = Instant::now();
    run(started + Duration::from_secs(SECONDS), true).await;
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let db = Db::from_env();
    let sys = TestSystem::start(db).await.unwrap();
    let (_, token) = sys.signup("bench@example.com").await;
    let (status, task) = sys
        .call(
            "POST",
            "/v1/tasks",
            Some(&token),
            Some(json!({"title": "Buy milk", "labels": ["home"], "priority": "HIGH"})),
        )
        .await;
    assert_eq!(status, 200);
    let id = task["id"].as_str().unwrap().to_owned();

    // The same body from a route that does nothing else.
    let body = serde_json::to_string(&task).unwrap();
    let bare = axum::Router::new().route(
        "/bare",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, bare).await });

    let bare = rate(&format!("http://{bare_addr}/bare"), &token).await;
    let edge = rate(&sys.url(&format!("/v1/tasks/{id}")), &token).await;
    println!(
        "edge_get ({db:?}): bare axum route {bare:.0} req/s, GET /v1/tasks/{{id}} through the edge {edge:.0} req/s: {:.2} of bare",
        edge / bare
    );
    sys.stop().await;
}
