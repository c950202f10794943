//! Link previews end to end, against SQLite and MariaDB: the links a task
//! records, the background worker taking them from PENDING to READY or
//! FAILED, the shared cache, the per-user limit, `POST /v1/tasks:fromUrl`,
//! and who may read links. Pages are served on loopback, which the task
//! service is allowed to reach here (`TODO_PREVIEW_ALLOW_LOOPBACK`).
//!
//! What one fetch does with a page (charsets, size, redirects, the guard)
//! is proven by the preview module's unit tests; these prove the wiring.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Row;
use support::{Db, TestSystem, error_status, smtp};
use todo_task::preview::testing::{Reply, Server, html, page, redirect};

/// How long a test waits for the worker: a stalled page takes 5 s.
const SETTLE: Duration = Duration::from_secs(30);

/// The pages the tests link to.
fn pages(request: &todo_task::preview::testing::Request) -> Reply {
    let path = request.path.as_str();
    if let Some(n) = path.strip_prefix("/hop/") {
        // `/hop/N` is N redirects away from a page.
        return match n.parse::<u32>().unwrap() {
            0 => html("<title>After the hops</title>"),
            n => redirect(&format!("/hop/{}", n - 1), ""),
        };
    }
    match path {
        "/plain" => html("<html><head><title> Plain title </title></head></html>"),
        // "Café" in Latin-1: one byte that is not UTF-8.
        "/latin" => page(
            "text/html; charset=iso-8859-1",
            b"<title>Caf\xe9</title>".to_vec(),
        ),
        "/big" => {
            let mut body = b"<html><head><title>Big page</title></head><body>".to_vec();
            body.resize(2 * 1024 * 1024, b'x');
            page("text/html", body)
        }
        "/stall" => Reply::Stall(b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n\r\n<ti".to_vec()),
        "/image" => page("image/png", b"\x89PNG\r\n\x1a\n".to_vec()),
        "/private" => redirect("http://10.0.0.1/", ""),
        // Every other path is an OpenGraph page named after it.
        _ => html(&format!(
            r#"<html><head><title>Fallback</title>
            <meta property="og:title" content="Page {path}">
            <meta property="og:description" content="About {path}">
            <meta property="og:site_name" content="Test site">
            <meta property="og:image" content="/cover.png">
            </head></html>"#
        )),
    }
}

/// Starts the platform with previews allowed to reach `server` (and port
/// 80, so a redirect to a private address is refused for its address).
/// The task service gets one database connection (per pool): on MySQL,
/// where reads and writes share the pool, a path that held two at once
/// would wait for itself.
async fn start(db: Db, server: &Server, per_minute: u32) -> Option<TestSystem> {
    let port = server.addr.port();
    TestSystem::start_configured(db, smtp::Listener::start().await, |config| {
        config.task.db.max_connections = 1;
        config.task.preview.allow_loopback = true;
        config.task.preview.ports = vec![port, 80];
        config.task.preview.per_user_per_minute = per_minute;
    })
    .await
}

macro_rules! on_both_databases {
    ($name:ident, $per_minute:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let server = Server::start(pages).await;
                let sys = start(Db::Sqlite, &server, $per_minute).await.unwrap();
                super::$name(&sys, &server).await;
                sys.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() {
                let server = Server::start(pages).await;
                let Some(sys) = start(Db::MariaDb, &server, $per_minute).await else {
                    eprintln!("skipped: TODO_TEST_MYSQL_URL is unset");
                    return;
                };
                super::$name(&sys, &server).await;
                sys.stop().await;
            }
        }
    };
}

/// Signs up `email`; returns its access token.
async fn user(sys: &TestSystem, email: &str) -> String {
    sys.signup(email).await.1
}

/// Creates a task; returns it.
async fn create(sys: &TestSystem, token: &str, title: &str, description: &str) -> Value {
    let (status, task) = sys
        .call(
            "POST",
            "/v1/tasks",
            Some(token),
            Some(json!({"title": title, "description": description})),
        )
        .await;
    assert_eq!(status, 200, "{task}");
    task
}

/// Sends `POST /v1/tasks:fromUrl` with `body`.
async fn from_url(sys: &TestSystem, token: &str, body: Value) -> (u16, Value) {
    sys.call("POST", "/v1/tasks:fromUrl", Some(token), Some(body))
        .await
}

/// Reads a task until none of its links is PENDING, within [`SETTLE`].
async fn settled(sys: &TestSystem, token: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let (status, task) = sys
            .call("GET", &format!("/v1/tasks/{id}"), Some(token), None)
            .await;
        assert_eq!(status, 200, "{task}");
        let links = task["links"].as_array().unwrap();
        if links.iter().all(|l| l["state"] != "PENDING") {
            return task;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "links still pending: {task}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The link of `task` to `path` on `server`.
fn link<'a>(task: &'a Value, server: &Server, path: &str) -> &'a Value {
    let url = server.url(path).to_string();
    task["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["url"] == url.as_str())
        .unwrap_or_else(|| panic!("no link to {url} in {task}"))
}

/// How many requests `server` has had for `path`.
/// Moves every counted fetch `seconds` into the past: the limit's minute
/// passes without waiting for it.
async fn age_fetches(sys: &TestSystem, seconds: i64) {
    let mut conn = sys.db_of("task").await;
    sqlx::query("UPDATE link_fetches SET fetched_at = fetched_at - ?")
        .bind(seconds * 1_000_000)
        .execute(&mut conn)
        .await
        .unwrap();
}

fn requests_for(server: &Server, path: &str) -> usize {
    server.requests().iter().filter(|r| r.path == path).count()
}

/// The stored failure code of the preview of `path`: kept for operators,
/// never in the API.
async fn stored_reason(sys: &TestSystem, server: &Server, path: &str) -> Option<String> {
    let mut conn = sys.db_of("task").await;
    let row = sqlx::query("SELECT reason FROM link_previews WHERE url = ?")
        .bind(server.url(path).to_string())
        .fetch_one(&mut conn)
        .await
        .unwrap();
    row.try_get("reason").unwrap()
}

on_both_databases!(links_are_fetched_in_the_background_to_ready_or_failed, 60);
async fn links_are_fetched_in_the_background_to_ready_or_failed(sys: &TestSystem, server: &Server) {
    let token = user(sys, "pages@example.com").await;
    let url = |path: &str| server.url(path).to_string();

    // The title's link comes first, then the description's in order.
    let good = create(
        sys,
        &token,
        &format!("Read {}", url("/og")),
        &format!(
            "{} and {}, {} {}",
            url("/plain"),
            url("/latin"),
            url("/hop/5"),
            url("/hop/6")
        ),
    )
    .await;
    let order: Vec<&str> = good["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            url("/og"),
            url("/plain"),
            url("/latin"),
            url("/hop/5"),
            url("/hop/6")
        ]
    );

    let bad = create(
        sys,
        &token,
        "Odd pages",
        &format!(
            "{} {} {} {}",
            url("/big"),
            url("/stall"),
            url("/image"),
            url("/private")
        ),
    )
    .await;
    // The create answered while the stalled page was still being fetched:
    // fetching is never on the request path.
    assert_eq!(link(&bad, server, "/stall")["state"], "PENDING");

    let good = settled(sys, &token, good["id"].as_str().unwrap()).await;
    assert_eq!(
        link(&good, server, "/og"),
        &json!({
            "url": url("/og"),
            "state": "READY",
            "title": "Page /og",
            "description": "About /og",
            "siteName": "Test site",
            "imageUrl": url("/cover.png"),
        })
    );
    assert_eq!(link(&good, server, "/plain")["title"], "Plain title");
    assert_eq!(link(&good, server, "/latin")["title"], "Café");
    assert_eq!(link(&good, server, "/hop/5")["title"], "After the hops");
    assert_eq!(link(&good, server, "/hop/6")["state"], "FAILED");
    assert_eq!(
        stored_reason(sys, server, "/hop/6").await.as_deref(),
        Some("TOO_MANY_REDIRECTS")
    );

    let bad = settled(sys, &token, bad["id"].as_str().unwrap()).await;
    // Over 1 MiB: the page is read no further, and what was read has a
    // title.
    assert_eq!(link(&bad, server, "/big")["title"], "Big page");
    for (path, reason) in [
        ("/stall", "TIMEOUT"),
        ("/image", "NOT_HTML"),
        ("/private", "ADDRESS_NOT_ALLOWED"),
    ] {
        let failed = link(&bad, server, path);
        // Only the state: the reason is not shown.
        assert_eq!(
            failed,
            &json!({"url": url(path), "state": "FAILED", "title": "", "description": "",
                    "siteName": "", "imageUrl": ""}),
            "{path}"
        );
        assert_eq!(
            stored_reason(sys, server, path).await.as_deref(),
            Some(reason),
            "{path}"
        );
    }

    // Deleting a task deletes its links.
    let id = bad["id"].as_str().unwrap();
    let (status, _) = sys
        .call("DELETE", &format!("/v1/tasks/{id}"), Some(&token), None)
        .await;
    assert_eq!(status, 200);
    let mut conn = sys.db_of("task").await;
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM task_links WHERE task_id = ?")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

on_both_databases!(
    unchanged_links_are_not_fetched_again_and_results_are_shared,
    60
);
async fn unchanged_links_are_not_fetched_again_and_results_are_shared(
    sys: &TestSystem,
    server: &Server,
) {
    let ada = user(sys, "ada@example.com").await;
    let bob = user(sys, "bob@example.com").await;
    let url = |path: &str| server.url(path).to_string();

    let task = create(sys, &ada, "Kept", &url("/kept")).await;
    let id = task["id"].as_str().unwrap().to_owned();
    settled(sys, &ada, &id).await;
    assert_eq!(requests_for(server, "/kept"), 1);

    // Another user's task with the same page (its URL spelt differently)
    // is READY at once, from the shared result, without a fetch.
    let shared = url("/kept").replace("http://", "HTTP://") + "#top";
    let theirs = create(sys, &bob, "Mine too", &shared).await;
    assert_eq!(theirs["links"][0]["state"], "READY", "{theirs}");
    assert_eq!(theirs["links"][0]["title"], "Page /kept");
    assert_eq!(requests_for(server, "/kept"), 1);

    // A day later (the result aged instead of waiting), a change that
    // keeps the link and adds one fetches only the new one; the kept one
    // comes first, as in the text.
    let mut conn = sys.db_of("task").await;
    sqlx::query("UPDATE link_previews SET fetched_at = fetched_at - 90000000000 WHERE url = ?")
        .bind(url("/kept"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (status, changed) = sys
        .call(
            "PATCH",
            &format!("/v1/tasks/{id}"),
            Some(&ada),
            Some(json!({"title": "Kept, renamed", "description": format!("{} {}", url("/kept"), url("/added"))})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    let changed = settled(sys, &ada, &id).await;
    assert_eq!(link(&changed, server, "/added")["state"], "READY");
    assert_eq!(changed["links"][0]["url"], url("/kept"));
    assert_eq!(requests_for(server, "/added"), 1);
    assert_eq!(requests_for(server, "/kept"), 1);

    // A change that drops a link drops it from the task.
    let (status, dropped) = sys
        .call(
            "PATCH",
            &format!("/v1/tasks/{id}"),
            Some(&ada),
            Some(json!({"description": url("/added")})),
        )
        .await;
    assert_eq!(status, 200, "{dropped}");
    assert_eq!(dropped["links"].as_array().unwrap().len(), 1);
    assert_eq!(dropped["links"][0]["url"], url("/added"));

    // Bob cannot read Ada's task, nor find its links in his list.
    let (status, body) = sys
        .call("GET", &format!("/v1/tasks/{id}"), Some(&bob), None)
        .await;
    assert_eq!((status, error_status(&body)), (404, "NOT_FOUND"));
    let (status, page) = sys.call("GET", "/v1/tasks", Some(&bob), None).await;
    assert_eq!(status, 200);
    let tasks = page["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["links"][0]["url"], url("/kept") + "#top");
}

on_both_databases!(from_url_fetches_up_to_its_limit_per_minute, 2);
/// The limit is "at most N fetches in the last minute": the Nth passes,
/// the next is refused, and fetches over a minute old count no more. The
/// task goes to the list the request names.
async fn from_url_fetches_up_to_its_limit_per_minute(sys: &TestSystem, server: &Server) {
    let ada = user(sys, "pages@example.com").await;
    let fetch = |path: &str| from_url(sys, &ada, json!({"url": server.url(path).to_string()}));
    for path in ["/f1", "/f2"] {
        let (status, body) = fetch(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, body) = fetch("/f3").await;
    assert_eq!((status, error_status(&body)), (429, "RESOURCE_EXHAUSTED"));
    assert_eq!(requests_for(server, "/f3"), 0);

    age_fetches(sys, 61).await;
    let (status, list) = sys
        .call(
            "POST",
            "/v1/lists",
            Some(&ada),
            Some(json!({"title": "Reading"})),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let list_id = list["id"].as_str().unwrap();
    let body = json!({"url": server.url("/f3").to_string(), "listId": list_id});
    let (status, task) = from_url(sys, &ada, body).await;
    assert_eq!(status, 200, "{task}");
    assert_eq!(task["listId"], list_id);
    assert_eq!(requests_for(server, "/f3"), 1);
}

on_both_databases!(a_user_over_the_fetch_limit_waits_and_is_never_dropped, 2);
async fn a_user_over_the_fetch_limit_waits_and_is_never_dropped(sys: &TestSystem, server: &Server) {
    let ada = user(sys, "eager@example.com").await;
    let bob = user(sys, "calm@example.com").await;
    let url = |path: &str| server.url(path).to_string();
    let text = ["/l1", "/l2", "/l3", "/l4"].map(url).join(" ");
    let task = create(sys, &ada, "Many links", &text).await;
    let id = task["id"].as_str().unwrap().to_owned();

    // Another user's link is fetched after Ada's were all considered (the
    // worker takes the oldest first), so once it is READY, Ada's limit of
    // two has held the other two back.
    let other = create(sys, &bob, "One link", &url("/b1")).await;
    settled(sys, &bob, other["id"].as_str().unwrap()).await;
    let (_, held) = sys
        .call("GET", &format!("/v1/tasks/{id}"), Some(&ada), None)
        .await;
    let states: Vec<&str> = held["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["state"].as_str().unwrap())
        .collect();
    let ready = states.iter().filter(|s| **s == "READY").count();
    let pending = states.iter().filter(|s| **s == "PENDING").count();
    assert_eq!((ready, pending), (2, 2), "{held}");
    let fetched: usize = ["/l1", "/l2", "/l3", "/l4"]
        .iter()
        .map(|p| requests_for(server, p))
        .sum();
    assert_eq!(fetched, 2);

    // fromUrl counts against the same limit.
    let (status, body) = from_url(sys, &ada, json!({"url": url("/from")})).await;
    assert_eq!((status, error_status(&body)), (429, "RESOURCE_EXHAUSTED"));
    assert_eq!(requests_for(server, "/from"), 0);

    // A minute later (the counted fetches aged instead of waiting), the
    // held links are fetched.
    let mut conn = sys.db_of("task").await;
    age_fetches(sys, 120).await;
    let done = settled(sys, &ada, &id).await;
    assert!(
        done["links"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["state"] == "READY"),
        "{done}"
    );

    // Deleting the account removes the links Ada wrote and the fetches
    // counted against her.
    let (ada_id,): (String,) =
        sqlx::query_as("SELECT user_id FROM task_links WHERE task_id = ? LIMIT 1")
            .bind(&id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    let (status, body) = sys
        .call(
            "POST",
            "/v1/users/me:delete",
            Some(&ada),
            Some(json!({"password": "a long enough secret"})),
        )
        .await;
    assert_eq!((status, body), (200, json!({})));
    support::eventually("the erased user's links are gone", || {
        let sys = &sys;
        let ada_id = ada_id.clone();
        async move {
            let mut conn = sys.db_of("task").await;
            let mut left = 0;
            for table in ["task_links", "link_fetches"] {
                let (n,): (i64,) =
                    sqlx::query_as(&format!("SELECT COUNT(*) FROM {table} WHERE user_id = ?"))
                        .bind(&ada_id)
                        .fetch_one(&mut conn)
                        .await
                        .unwrap();
                left += n;
            }
            left == 0
        }
    })
    .await;
}

on_both_databases!(
    a_task_from_a_page_is_made_only_when_the_page_can_be_read,
    60
);
async fn a_task_from_a_page_is_made_only_when_the_page_can_be_read(
    sys: &TestSystem,
    server: &Server,
) {
    let ada = user(sys, "reader@example.com").await;
    let bob = user(sys, "other@example.com").await;
    let url = |path: &str| server.url(path).to_string();

    let (status, task) = from_url(sys, &ada, json!({"url": url("/article")})).await;
    assert_eq!(status, 200, "{task}");
    assert_eq!(task["title"], "Page /article");
    assert_eq!(
        task["description"],
        format!("About /article\n\n{}", url("/article"))
    );
    // The page read for the task is its link's preview: no second fetch.
    assert_eq!(task["links"][0]["state"], "READY");
    assert_eq!(task["links"][0]["siteName"], "Test site");
    assert_eq!(requests_for(server, "/article"), 1);

    // An Idempotency-Key makes a retry answer with the same task.
    let mut made = Vec::new();
    for _ in 0..2 {
        let reply = sys
            .http
            .post(sys.url("/v1/tasks:fromUrl"))
            .bearer_auth(&ada)
            .header("idempotency-key", "read-later-1")
            .json(&json!({"url": url("/again")}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        made.push(reply.json::<Value>().await.unwrap()["id"].clone());
    }
    assert_eq!(made[0], made[1]);
    assert_eq!(
        requests_for(server, "/again"),
        1,
        "a retry answers without fetching the page again"
    );
    // After 24 h the key is free for another page: age it in the
    // database, not by waiting.
    let aged = sqlx::query(
        "UPDATE idempotency_keys SET create_time = create_time - 86400000001 WHERE idem_key = 'read-later-1'",
    )
    .execute(&mut sys.db_of("task").await)
    .await
    .unwrap();
    assert_eq!(aged.rows_affected(), 1);
    let reply = sys
        .http
        .post(sys.url("/v1/tasks:fromUrl"))
        .bearer_auth(&ada)
        .header("idempotency-key", "read-later-1")
        .json(&json!({"url": url("/later")}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let later = reply.json::<Value>().await.unwrap();
    assert_eq!(later["title"], "Page /later");
    assert_ne!(later["id"], made[0]);

    // Plain <title> pages work too; the list is the one named.
    let (status, lists) = sys.call("GET", "/v1/lists", Some(&ada), None).await;
    assert_eq!(status, 200);
    let list_id = lists["lists"][0]["id"].as_str().unwrap().to_owned();
    let (status, plain) =
        from_url(sys, &ada, json!({"url": url("/plain"), "listId": list_id})).await;
    assert_eq!(status, 200, "{plain}");
    assert_eq!(plain["title"], "Plain title");
    assert_eq!(plain["listId"], list_id.as_str());

    let count = |token: String| async move {
        let (_, page) = sys.call("GET", "/v1/tasks", Some(&token), None).await;
        page["tasks"].as_array().unwrap().len()
    };
    let before = count(ada.clone()).await;

    // A page that is not HTML: 422 with the reason, and no task.
    let (status, body) = from_url(sys, &ada, json!({"url": url("/image")})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"][0]["reason"], "LINK_FETCH_FAILED");
    assert_eq!(
        body["error"]["details"][0]["metadata"]["reason"],
        "NOT_HTML"
    );
    assert_eq!(
        body["error"]["details"][1]["fieldViolations"][0]["field"],
        "url"
    );

    // An internal address reads "unreachable", as a name that does not
    // resolve would, and the answer names no address.
    let (status, body) = from_url(sys, &ada, json!({"url": "http://10.0.0.1/admin"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"]["details"][0]["metadata"]["reason"],
        "UNREACHABLE"
    );
    assert!(!body.to_string().contains("10.0.0"), "{body}");

    // A URL that is no http(s) URL: 400 naming it, nothing fetched.
    for bad in ["ftp://example.com/", "not a url", ""] {
        let (status, body) = from_url(sys, &ada, json!({"url": bad})).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(
            body["error"]["details"][0]["fieldViolations"][0]["field"],
            "url"
        );
    }
    assert_eq!(count(ada.clone()).await, before);

    // Someone else's list is not found, and nothing is fetched for it.
    let (status, body) = from_url(
        sys,
        &bob,
        json!({"url": url("/for-bob"), "listId": list_id}),
    )
    .await;
    assert_eq!((status, error_status(&body)), (404, "NOT_FOUND"));
    assert_eq!(requests_for(server, "/for-bob"), 0);
    assert_eq!(count(bob).await, 0);
}

on_both_databases!(previews_no_task_links_to_are_forgotten_after_a_day, 60);
async fn previews_no_task_links_to_are_forgotten_after_a_day(sys: &TestSystem, server: &Server) {
    let ada = user(sys, "keeper@example.com").await;
    let url = |path: &str| server.url(path).to_string();
    let dropped = create(sys, &ada, "Dropped", &url("/unlinked")).await;
    let dropped_id = dropped["id"].as_str().unwrap().to_owned();
    settled(sys, &ada, &dropped_id).await;
    let kept = create(sys, &ada, "Kept", &url("/linked")).await;
    settled(sys, &ada, kept["id"].as_str().unwrap()).await;

    // One task drops its link; both results age past a day.
    let (status, body) = sys
        .call(
            "PATCH",
            &format!("/v1/tasks/{dropped_id}"),
            Some(&ada),
            Some(json!({"description": "no link any more"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut conn = sys.db_of("task").await;
    sqlx::query("UPDATE link_previews SET fetched_at = fetched_at - 90000000000")
        .execute(&mut conn)
        .await
        .unwrap();

    // The worker's next pass (woken by a new link) forgets the result no
    // task links to, and keeps the one a task still shows.
    let next = create(sys, &ada, "Next", &url("/next")).await;
    settled(sys, &ada, next["id"].as_str().unwrap()).await;
    for (path, expected) in [("/unlinked", 0), ("/linked", 1)] {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM link_previews WHERE url = ?")
            .bind(url(path))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, expected, "{path}");
    }
}
