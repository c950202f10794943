//! Due dates as people mean them, end to end against SQLite and MariaDB:
//! all-day dues in the creator's time zone, recurring tasks completed over
//! a year of occurrences across DST, several absolute and relative
//! reminders firing once each on the real clock, and a time-zone change
//! moving what depends on it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::{Db, TestSystem, error_status, eventually, now_secs, rfc3339_at, rfc3339_in};

async fn create(sys: &TestSystem, token: &str, task: Value) -> Value {
    let (status, task) = sys.call("POST", "/v1/tasks", Some(token), Some(task)).await;
    assert_eq!(status, 200, "{task}");
    task
}

async fn patch(sys: &TestSystem, token: &str, task: &Value, body: Value) -> Value {
    let path = format!("/v1/tasks/{}", task["id"].as_str().unwrap());
    let (status, task) = sys.call("PATCH", &path, Some(token), Some(body)).await;
    assert_eq!(status, 200, "{task}");
    task
}

async fn get(sys: &TestSystem, token: &str, task: &Value) -> Value {
    let path = format!("/v1/tasks/{}", task["id"].as_str().unwrap());
    let (status, task) = sys.call("GET", &path, Some(token), None).await;
    assert_eq!(status, 200, "{task}");
    task
}

async fn set_zone(sys: &TestSystem, token: &str, zone: &str) {
    let (status, me) = sys
        .call(
            "PATCH",
            "/v1/users/me",
            Some(token),
            Some(json!({"timeZone": zone})),
        )
        .await;
    assert_eq!((status, &me["timeZone"]), (200, &json!(zone)), "{me}");
}

/// The ids of the caller's tasks that a list request with `query` returns.
async fn ids(sys: &TestSystem, token: &str, query: &str) -> Vec<String> {
    let (status, page) = sys
        .call("GET", &format!("/v1/tasks?{query}"), Some(token), None)
        .await;
    assert_eq!(status, 200, "{page}");
    page["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

fn id(task: &Value) -> String {
    task["id"].as_str().unwrap().to_owned()
}

both_databases!(an_all_day_due_is_the_local_midnight_that_starts_it);
async fn an_all_day_due_is_the_local_midnight_that_starts_it(sys: &TestSystem) {
    let (_, token) = sys.signup("allday@example.com").await;
    set_zone(sys, &token, "Europe/Berlin").await;
    let day = create(
        sys,
        &token,
        json!({"title": "all day", "dueDate": {"year": 2030, "month": 1, "day": 15}}),
    )
    .await;
    assert_eq!(day["dueDate"], json!({"year": 2030, "month": 1, "day": 15}));
    assert!(day.get("dueTime").is_none(), "{day}");
    // Midnight in Berlin in January is 23:00 UTC the day before.
    let at_midnight = "dueAfter=2030-01-14T23:00:00Z&dueBefore=2030-01-14T23:00:01Z";
    assert_eq!(ids(sys, &token, at_midnight).await, [id(&day)]);
    assert!(
        ids(sys, &token, "dueBefore=2030-01-14T23:00:00Z")
            .await
            .is_empty()
    );
    // It sorts among timed dues by that instant.
    let before = create(
        sys,
        &token,
        json!({"title": "late evening", "dueTime": "2030-01-14T22:30:00Z"}),
    )
    .await;
    let after = create(
        sys,
        &token,
        json!({"title": "early", "dueTime": "2030-01-14T23:30:00Z"}),
    )
    .await;
    assert_eq!(
        ids(sys, &token, "orderBy=dueTime").await,
        [id(&before), id(&day), id(&after)]
    );
    // Setting one kind of due clears the other.
    let timed = patch(
        sys,
        &token,
        &day,
        json!({"dueTime": "2030-01-15T10:00:00Z"}),
    )
    .await;
    assert_eq!(timed["dueTime"], "2030-01-15T10:00:00Z");
    assert!(timed.get("dueDate").is_none(), "{timed}");
    let dated = patch(
        sys,
        &token,
        &day,
        json!({"dueDate": {"year": 2030, "month": 2, "day": 1}}),
    )
    .await;
    assert!(dated.get("dueTime").is_none(), "{dated}");
    // Both at once is refused.
    let path = format!("/v1/tasks/{}", id(&day));
    let (status, body) = sys
        .call(
            "PATCH",
            &path,
            Some(&token),
            Some(json!({"dueTime": "2030-01-15T10:00:00Z", "dueDate": {"year": 2030, "month": 1, "day": 15}})),
        )
        .await;
    assert_eq!(
        (status, error_status(&body)),
        (400, "INVALID_ARGUMENT"),
        "{body}"
    );
}

both_databases!(has_due_lists_the_tasks_with_or_without_a_due_across_pages);
async fn has_due_lists_the_tasks_with_or_without_a_due_across_pages(sys: &TestSystem) {
    let (_, token) = sys.signup("hasdue@example.com").await;
    let timed = create(
        sys,
        &token,
        json!({"title": "timed", "dueTime": "2030-01-15T10:00:00Z"}),
    )
    .await;
    let day = create(
        sys,
        &token,
        json!({"title": "all day", "dueDate": {"year": 2030, "month": 1, "day": 16}}),
    )
    .await;
    let mut undated = Vec::new();
    for title in ["a", "b", "c"] {
        undated.push(id(&create(sys, &token, json!({ "title": title })).await));
    }
    // Undated again: the filter follows the current due.
    let cleared = create(
        sys,
        &token,
        json!({"title": "cleared", "dueTime": "2030-01-17T10:00:00Z"}),
    )
    .await;
    let path = format!("/v1/tasks/{}?updateMask=dueTime", id(&cleared));
    let (status, body) = sys
        .call("PATCH", &path, Some(&token), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    undated.push(id(&cleared));

    assert_eq!(
        ids(sys, &token, "hasDue=true").await,
        [id(&timed), id(&day)]
    );
    assert_eq!(ids(sys, &token, "hasDue=false").await, undated);
    assert_eq!(ids(sys, &token, "").await.len(), 6);

    // Page by page, in the web's order (a list's top level by position):
    // every undated task once, none of the others.
    let list = timed["listId"].as_str().unwrap();
    let query = format!("hasDue=false&listId={list}&parentId=root&orderBy=position&pageSize=3");
    let (status, first) = sys
        .call("GET", &format!("/v1/tasks?{query}"), Some(&token), None)
        .await;
    assert_eq!(status, 200, "{first}");
    let page_token = first["nextPageToken"].as_str().unwrap().to_owned();
    assert!(!page_token.is_empty(), "{first}");
    let mut seen: Vec<String> = first["tasks"].as_array().unwrap().iter().map(id).collect();
    seen.extend(ids(sys, &token, &format!("{query}&pageToken={page_token}")).await);
    seen.sort();
    let mut expected = undated.clone();
    expected.sort();
    assert_eq!(seen, expected);

    // The token is bound to the filter: not valid without it or with
    // the other value.
    for other in ["hasDue=true&", "hasDue=false&label=x&", ""] {
        let query = format!(
            "{other}listId={list}&parentId=root&orderBy=position&pageSize=3&pageToken={page_token}"
        );
        let (status, body) = sys
            .call("GET", &format!("/v1/tasks?{query}"), Some(&token), None)
            .await;
        assert_eq!(
            (
                status,
                body["error"]["details"][0]["fieldViolations"][0]["field"].as_str()
            ),
            (400, Some("pageToken")),
            "{other}: {body}"
        );
    }
    // Not a boolean: refused, naming the parameter.
    let (status, body) = sys
        .call("GET", "/v1/tasks?hasDue=maybe", Some(&token), None)
        .await;
    assert_eq!(
        (status, error_status(&body)),
        (400, "INVALID_ARGUMENT"),
        "{body}"
    );
    assert!(body.to_string().contains("hasDue"), "{body}");
}

both_databases!(bad_schedules_are_refused_naming_the_field_and_write_nothing);
async fn bad_schedules_are_refused_naming_the_field_and_write_nothing(sys: &TestSystem) {
    let (_, token) = sys.signup("bad-due@example.com").await;
    let (status, body) = sys
        .call(
            "PATCH",
            "/v1/users/me",
            Some(&token),
            Some(json!({"timeZone": "Mars/Olympus_Mons"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let due = "2030-03-04T09:00:00Z";
    let six: Vec<Value> = (1..=6)
        .map(|i| json!({"beforeDue": format!("{i}s")}))
        .collect();
    let cases = [
        (
            json!({"title": "x", "dueTime": due, "recurrence": "FREQ=SOMETIMES"}),
            "task.recurrence",
        ),
        (
            json!({"title": "x", "dueTime": due, "recurrence": "RRULE:FREQ=DAILY"}),
            "task.recurrence",
        ),
        (
            json!({"title": "x", "dueTime": due, "recurrence": "FREQ=MINUTELY"}),
            "task.recurrence",
        ),
        (
            json!({"title": "x", "recurrence": "FREQ=DAILY"}),
            "task.recurrence",
        ),
        (
            json!({"title": "x", "dueTime": due, "reminders": six}),
            "task.reminders",
        ),
        (
            json!({"title": "x", "dueTime": due, "reminders": [{"beforeDue": "-60s"}]}),
            "task.reminders[0].beforeDue",
        ),
        (
            json!({"title": "x", "dueTime": due, "reminders": [{"beforeDue": "31536001s"}]}),
            "task.reminders[0].beforeDue",
        ),
        (
            json!({"title": "x", "reminders": [{"beforeDue": "60s"}]}),
            "task.reminders[0].beforeDue",
        ),
        (
            json!({"title": "x", "reminders": [{"remindTime": "2001-01-01T00:00:00Z"}]}),
            "task.reminders[0].remindTime",
        ),
        (
            json!({"title": "x", "dueDate": {"year": 2030, "month": 2, "day": 30}}),
            "task.dueDate",
        ),
        (
            json!({"title": "x", "dueDate": {"year": 2030, "month": 13, "day": 1}}),
            "task.dueDate",
        ),
    ];
    for (task, field) in cases {
        let (status, body) = sys
            .call("POST", "/v1/tasks", Some(&token), Some(task.clone()))
            .await;
        assert_eq!(status, 400, "{task}: {body}");
        // The edge names a field within the body, without `task.`.
        let field = field.trim_start_matches("task.");
        let named = body["error"]["details"][0]["fieldViolations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["field"] == field);
        assert!(named, "{task}: {body}");
    }
    assert!(ids(sys, &token, "").await.is_empty());
    // Clearing the due of a recurring task is refused, and changes nothing.
    let weekly = create(
        sys,
        &token,
        json!({"title": "weekly", "dueTime": due, "recurrence": "FREQ=WEEKLY"}),
    )
    .await;
    let path = format!("/v1/tasks/{}?updateMask=dueTime", id(&weekly));
    let (status, body) = sys
        .call("PATCH", &path, Some(&token), Some(json!({})))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(get(sys, &token, &weekly).await["dueTime"], due);
}

/// Whether 2030-MM-DD falls in Berlin's summer time (2030-03-31 to
/// 2030-10-27).
fn berlin_summer(date: &str) -> bool {
    ("2030-03-31".."2030-10-27").contains(&date)
}

both_databases!(a_weekly_task_stays_at_09_00_berlin_over_a_year_of_completions);
async fn a_weekly_task_stays_at_09_00_berlin_over_a_year_of_completions(sys: &TestSystem) {
    let (_, token) = sys.signup("weekly@example.com").await;
    set_zone(sys, &token, "Europe/Berlin").await;
    // Monday 7 January 2030, 09:00 in Berlin (CET, UTC+1).
    let mut task = create(
        sys,
        &token,
        json!({"title": "team meeting", "dueTime": "2030-01-07T08:00:00Z", "recurrence": "FREQ=WEEKLY;BYDAY=MO"}),
    )
    .await;
    let mut dues = vec![task["dueTime"].as_str().unwrap().to_owned()];
    for _ in 0..52 {
        task = patch(sys, &token, &task, json!({"done": true})).await;
        assert_eq!(task["done"], json!(false), "{task}");
        assert!(task["completeTime"].is_string(), "{task}");
        dues.push(task["dueTime"].as_str().unwrap().to_owned());
    }
    for (week, due) in dues.iter().enumerate() {
        let (date, time) = due.split_once('T').unwrap();
        let expected = if berlin_summer(date) {
            "07:00:00Z"
        } else {
            "08:00:00Z"
        };
        assert_eq!(time, expected, "week {week}: {due}");
    }
    // 53 Mondays: 7 January 2030 to 6 January 2031, one a week.
    assert_eq!(dues[52], "2031-01-06T08:00:00Z");
    let distinct: std::collections::HashSet<_> = dues.iter().collect();
    assert_eq!(distinct.len(), 53);
}

both_databases!(an_exhausted_rule_leaves_the_task_done);
async fn an_exhausted_rule_leaves_the_task_done(sys: &TestSystem) {
    let (_, token) = sys.signup("count@example.com").await;
    let task = create(
        sys,
        &token,
        json!({"title": "twice", "dueDate": {"year": 2030, "month": 1, "day": 31}, "recurrence": "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=2"}),
    )
    .await;
    let second = patch(sys, &token, &task, json!({"done": true})).await;
    assert_eq!(
        (&second["done"], &second["dueDate"]),
        (&json!(false), &json!({"year": 2030, "month": 2, "day": 28}))
    );
    let last = patch(sys, &token, &task, json!({"done": true})).await;
    assert_eq!(
        (&last["done"], &last["dueDate"]),
        (&json!(true), &json!({"year": 2030, "month": 2, "day": 28}))
    );
    // Un-completing is a plain change.
    let path = format!("/v1/tasks/{}?updateMask=done", id(&task));
    let (status, reopened) = sys
        .call("PATCH", &path, Some(&token), Some(json!({"done": false})))
        .await;
    assert_eq!(
        (status, &reopened["done"]),
        (200, &json!(false)),
        "{reopened}"
    );
    assert!(reopened.get("completeTime").is_none(), "{reopened}");
}

/// The REMINDER notifications of the caller about `task`.
async fn reminders_of(sys: &TestSystem, token: &str, task: &Value) -> usize {
    let (_, inbox) = sys
        .call("GET", "/v1/notifications?pageSize=100", Some(token), None)
        .await;
    inbox["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "REMINDER" && n["taskId"] == task["id"])
        .count()
}

both_databases!(absolute_and_relative_reminders_each_fire_once);
async fn absolute_and_relative_reminders_each_fire_once(sys: &TestSystem) {
    let (_, token) = sys.signup("several@example.com").await;
    let now = now_secs();
    let task = create(
        sys,
        &token,
        json!({
            "title": "two reminders",
            "dueTime": rfc3339_at(now + 63),
            "reminders": [{"remindTime": rfc3339_at(now + 2)}, {"beforeDue": "60s"}],
        }),
    )
    .await;
    // The relative one fires 60 s before the due.
    assert_eq!(
        task["reminders"][1]["fireTime"],
        rfc3339_at(now + 3),
        "{task}"
    );
    assert_eq!(task["reminders"][0]["remindTime"], task["remindTime"]);
    // A later task's reminder marks the time by which both must have fired.
    let later = create(
        sys,
        &token,
        json!({"title": "later", "remindTime": rfc3339_in(6)}),
    )
    .await;
    eventually("the later reminder", || async {
        reminders_of(sys, &token, &later).await == 1
    })
    .await;
    assert_eq!(reminders_of(sys, &token, &task).await, 2);
    // Moving the due moves the relative reminder; the fired absolute one
    // is not fired again.
    let moved = patch(sys, &token, &task, json!({"dueTime": rfc3339_in(64)})).await;
    assert_ne!(
        moved["reminders"][1]["fireTime"],
        task["reminders"][1]["fireTime"]
    );
    let marker = create(
        sys,
        &token,
        json!({"title": "marker", "remindTime": rfc3339_in(8)}),
    )
    .await;
    eventually("the marker reminder", || async {
        reminders_of(sys, &token, &marker).await == 1
    })
    .await;
    assert_eq!(reminders_of(sys, &token, &task).await, 3);
}

both_databases!(a_time_zone_change_moves_all_day_dues_and_their_reminders);
async fn a_time_zone_change_moves_all_day_dues_and_their_reminders(sys: &TestSystem) {
    let (_, token) = sys.signup("mover@example.com").await;
    let task = create(
        sys,
        &token,
        json!({
            "title": "dentist",
            "dueDate": {"year": 2030, "month": 6, "day": 10},
            "reminders": [{"beforeDue": "3600s"}],
        }),
    )
    .await;
    // UTC: the day's 09:00 less an hour.
    assert_eq!(task["reminders"][0]["fireTime"], "2030-06-10T08:00:00Z");
    set_zone(sys, &token, "Europe/Berlin").await;
    // Berlin in June is UTC+2: 09:00 there is 07:00 UTC.
    eventually("the reminder placed in Berlin", || async {
        get(sys, &token, &task).await["reminders"][0]["fireTime"] == "2030-06-10T06:00:00Z"
    })
    .await;
    let midnight = "dueAfter=2030-06-09T22:00:00Z&dueBefore=2030-06-09T22:00:01Z";
    assert_eq!(ids(sys, &token, midnight).await, [id(&task)]);
    // The old single field and the list agree through a round trip.
    let current = get(sys, &token, &task).await;
    let path = format!("/v1/tasks/{}", id(&task));
    let (status, replaced) = sys
        .call("PUT", &path, Some(&token), Some(current.clone()))
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["reminders"], current["reminders"]);
}
