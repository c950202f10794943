//! The daily digest through the whole platform: settings over REST, the
//! notify service asking the task service (gRPC, service credential) for
//! the due tasks and the user service for the address, one digest in the
//! inbox and one e-mail, on SQLite and MariaDB.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Db, TestSystem, decoded, eventually};
use todo_common::clock::now_micros;

const DAY_SECONDS: i64 = 86_400;

/// The civil date of a day count since 1970-01-01 (proleptic Gregorian).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Today in UTC, `offset` days on, as the API's date.
fn date_in(offset: i64) -> Value {
    let (y, m, d) = civil(now_micros() / 1_000_000 / DAY_SECONDS + offset);
    json!({"year": y, "month": m, "day": d})
}

fn date_key(offset: i64) -> String {
    let (y, m, d) = civil(now_micros() / 1_000_000 / DAY_SECONDS + offset);
    format!("{y:04}-{m:02}-{d:02}")
}

async fn create(sys: &TestSystem, token: &str, task: Value) -> Value {
    let (status, task) = sys.call("POST", "/v1/tasks", Some(token), Some(task)).await;
    assert_eq!(status, 200, "{task}");
    task
}

both_databases!(a_digest_lists_the_due_and_overdue_tasks_once);
async fn a_digest_lists_the_due_and_overdue_tasks_once(sys: &TestSystem) {
    let (user_id, token) = sys.signup("digest@example.com").await;
    sys.verify_welcome_address().await;
    create(
        sys,
        &token,
        json!({"title": "Overdue since yesterday", "dueDate": date_in(-1)}),
    )
    .await;
    create(
        sys,
        &token,
        json!({"title": "Due today", "dueDate": date_in(0)}),
    )
    .await;
    create(
        sys,
        &token,
        json!({"title": "Due in two days", "dueDate": date_in(2)}),
    )
    .await;
    let done = create(
        sys,
        &token,
        json!({"title": "Done already", "dueDate": date_in(-1)}),
    )
    .await;
    let path = format!("/v1/tasks/{}", done["id"].as_str().unwrap());
    let (status, _) = sys
        .call("PATCH", &path, Some(&token), Some(json!({"done": true})))
        .await;
    assert_eq!(status, 200);

    // Settings over REST: off at 08:00 at first; a malformed time is a
    // 400 naming the field, and nothing is written.
    let (status, settings) = sys
        .call("GET", "/v1/notificationSettings", Some(&token), None)
        .await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["dailyDigest"]["localTime"], "08:00");
    assert_ne!(settings["dailyDigest"]["enabled"], true);
    let (status, err) = sys
        .call(
            "PATCH",
            "/v1/notificationSettings",
            Some(&token),
            Some(json!({"emailReminders": false, "dailyDigest": {"enabled": true, "localTime": "7:00"}})),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(
        err["error"]["details"][0]["fieldViolations"][0]["field"],
        "dailyDigest.localTime"
    );
    let (_, unchanged) = sys
        .call("GET", "/v1/notificationSettings", Some(&token), None)
        .await;
    assert_eq!(unchanged, settings);
    let (status, on) = sys
        .call(
            "PATCH",
            "/v1/notificationSettings",
            Some(&token),
            Some(json!({"dailyDigest": {"enabled": true, "localTime": "06:45"}})),
        )
        .await;
    assert_eq!(status, 200, "{on}");
    assert_eq!(
        on["dailyDigest"],
        json!({"enabled": true, "localTime": "06:45"})
    );

    // Rather than wait for 06:45: today's digest comes due now.
    let mut notify = sys.db_of("notify").await;
    sqlx::query("UPDATE digests SET run_date = ?, next_run = ? WHERE user_id = ?")
        .bind(date_key(0))
        .bind(now_micros())
        .bind(&user_id)
        .execute(&mut notify)
        .await
        .unwrap();
    let mail = sys
        .smtp
        .next_containing("Your ToDo tasks for", Duration::from_secs(30))
        .await;
    assert_eq!(mail.to, ["<digest@example.com>"]);
    let text = decoded(&mail.data);
    assert!(
        text.contains(&format!("- Overdue since yesterday (due {})", date_key(-1))),
        "{text}"
    );
    assert!(
        text.contains(&format!("- Due today (due {})", date_key(0))),
        "{text}"
    );
    assert!(!text.contains("Due in two days"), "{text}");
    assert!(!text.contains("Done already"), "{text}");

    let inbox = || async {
        let (status, page) = sys
            .call("GET", "/v1/notifications", Some(&token), None)
            .await;
        assert_eq!(status, 200, "{page}");
        page["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "DIGEST")
            .cloned()
            .collect::<Vec<Value>>()
    };
    eventually("the digest in the inbox", || async {
        !inbox().await.is_empty()
    })
    .await;
    let digests = inbox().await;
    assert_eq!(digests.len(), 1, "{digests:?}");
    assert_eq!(
        digests[0]["title"],
        format!("Your tasks for {}", date_key(0))
    );
    // Done for the day: the next is tomorrow's, at 06:45 UTC.
    let (run_date, last_date): (String, String) =
        sqlx::query_as("SELECT run_date, last_date FROM digests WHERE user_id = ?")
            .bind(&user_id)
            .fetch_one(&mut notify)
            .await
            .unwrap();
    assert_eq!((run_date, last_date), (date_key(1), date_key(0)));
}
