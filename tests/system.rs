//! The platform end to end: every service and the edge in-process on free
//! ports, driven over REST (and gRPC where that is the contract), against
//! SQLite and MariaDB.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Db, TestSystem, decoded, error_status, link_token};

both_databases!(register_login_and_task_lifecycle);
async fn register_login_and_task_lifecycle(sys: &TestSystem) {
    let (status, user) = sys
        .call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"email": "Ada@Example.COM", "password": "a long enough secret", "displayName": "Ada"})),
        )
        .await;
    // The same answer for any address (see accounts.rs).
    assert_eq!((status, &user), (200, &json!({})));

    // The welcome e-mail travels user -> notify (gRPC) -> lettre -> SMTP.
    let mail = sys.smtp.next(Duration::from_secs(30)).await;
    assert!(
        mail.to.iter().any(|t| t.contains("Ada@example.com")),
        "{:?}",
        mail.to
    );
    assert!(
        mail.data.contains("Subject: Welcome to ToDo"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("Message-ID:") && mail.data.contains("text/html"));
    let token = link_token(&decoded(&mail.data));
    let (status, verified) = sys
        .call(
            "POST",
            "/v1/auth:verifyEmail",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["emailVerified"], true);
    assert_eq!(verified["email"], "Ada@example.com");
    assert!(verified.get("password").is_none() && verified.get("passwordHash").is_none());
    let (status, again) = sys
        .call(
            "POST",
            "/v1/auth:verifyEmail",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(status, 401, "a verification token is single use: {again}");

    let token = sys.login("ada@example.com", "a long enough secret").await;
    let (status, me) = sys.call("GET", "/v1/users/me", Some(&token), None).await;
    assert_eq!((status, me["id"].clone()), (200, verified["id"].clone()));

    let (status, task) = sys
        .call(
            "POST",
            "/v1/tasks",
            Some(&token),
            Some(json!({"title": "Write tests", "priority": "HIGH", "labels": ["dev", "dev", "ops"], "dueTime": "2030-01-02T03:04:05Z"})),
        )
        .await;
    assert_eq!(status, 200, "{task}");
    assert_eq!(task["priority"], "HIGH");
    assert_eq!(task["labels"], json!(["dev", "ops"]));
    assert_eq!(task["dueTime"], "2030-01-02T03:04:05Z");
    let id = task["id"].as_str().unwrap().to_owned();

    let (status, got) = sys
        .call("GET", &format!("/v1/tasks/{id}"), Some(&token), None)
        .await;
    assert_eq!((status, &got), (200, &task));

    for title in ["second", "third"] {
        let (status, _) = sys
            .call(
                "POST",
                "/v1/tasks",
                Some(&token),
                Some(json!({"title": title})),
            )
            .await;
        assert_eq!(status, 200);
    }
    let (status, page1) = sys
        .call("GET", "/v1/tasks?pageSize=2", Some(&token), None)
        .await;
    assert_eq!(status, 200, "{page1}");
    assert_eq!(page1["tasks"].as_array().unwrap().len(), 2);
    let next = page1["nextPageToken"].as_str().unwrap();
    let (_, page2) = sys
        .call(
            "GET",
            &format!("/v1/tasks?pageSize=2&pageToken={next}"),
            Some(&token),
            None,
        )
        .await;
    let titles: Vec<_> = page1["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["tasks"].as_array().unwrap())
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(titles, ["Write tests", "second", "third"]);
    assert_eq!(page2["nextPageToken"].as_str().unwrap_or_default(), "");

    let (status, filtered) = sys
        .call("GET", "/v1/tasks?label=ops&q=WRITE", Some(&token), None)
        .await;
    assert_eq!(status, 200, "{filtered}");
    assert_eq!(filtered["tasks"].as_array().unwrap().len(), 1);

    let (status, _) = sys
        .call("DELETE", &format!("/v1/tasks/{id}"), Some(&token), None)
        .await;
    assert_eq!(status, 200);
    let (status, gone) = sys
        .call("GET", &format!("/v1/tasks/{id}"), Some(&token), None)
        .await;
    assert_eq!((status, error_status(&gone)), (404, "NOT_FOUND"));
}

both_databases!(another_users_task_is_not_found);
async fn another_users_task_is_not_found(sys: &TestSystem) {
    let (_, alice) = sys.signup("alice@example.com").await;
    let (_, bob) = sys.signup("bob@example.com").await;
    let (_, task) = sys
        .call(
            "POST",
            "/v1/tasks",
            Some(&alice),
            Some(json!({"title": "private"})),
        )
        .await;
    let path = format!("/v1/tasks/{}", task["id"].as_str().unwrap());

    let (status, body) = sys.call("GET", &path, Some(&bob), None).await;
    assert_eq!(
        (status, body["error"]["message"].as_str().unwrap()),
        (404, "task not found")
    );
    let (status, _) = sys.call("DELETE", &path, Some(&bob), None).await;
    assert_eq!(status, 404);
    let (_, list) = sys.call("GET", "/v1/tasks", Some(&bob), None).await;
    assert_eq!(list["tasks"].as_array().map_or(0, Vec::len), 0);
    // Still there for its owner.
    let (status, _) = sys.call("GET", &path, Some(&alice), None).await;
    assert_eq!(status, 200);
}

both_databases!(bad_input_gets_json_errors_and_changes_nothing);
async fn bad_input_gets_json_errors_and_changes_nothing(sys: &TestSystem) {
    // Malformed JSON.
    let resp = sys
        .http
        .post(sys.url("/v1/users"))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");

    // A wrong type and an unknown field.
    let (status, _) = sys
        .call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"email": 5, "password": "x", "displayName": "x"})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = sys
        .call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"email": "a@b.co", "isAdmin": true})),
        )
        .await;
    assert_eq!(status, 400);

    // Missing and invalid fields are each named in a BadRequest detail.
    let (status, body) = sys
        .call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"email": "not-an-address", "password": "short"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let fields: Vec<_> = body["error"]["details"][0]["fieldViolations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["email", "password", "displayName"], "{body}");
    // A valid address with an invalid password writes nothing: the same
    // address registers afterwards instead of being taken.
    let (status, _) = sys
        .call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"email": "carol@example.com", "password": "short", "displayName": "C"})),
        )
        .await;
    assert_eq!(status, 400);

    // A registered address, in any case, gets the same answer as a new one
    // (accounts.rs shows the e-mails that tell them apart).
    sys.signup("carol@example.com").await;
    let (status, body) = sys.call("POST", "/v1/users", None, Some(json!({"email": "CAROL@example.com", "password": "a long enough secret", "displayName": "C"}))).await;
    assert_eq!((status, body), (200, json!({})));

    // Wrong password and unknown address look the same.
    let (s1, b1) = sys
        .call(
            "POST",
            "/v1/auth:login",
            None,
            Some(json!({"email": "carol@example.com", "password": "wrong password!!"})),
        )
        .await;
    let (s2, b2) = sys
        .call(
            "POST",
            "/v1/auth:login",
            None,
            Some(json!({"email": "nobody@example.com", "password": "wrong password!!"})),
        )
        .await;
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(s1, 401);

    // Missing, malformed and forged tokens.
    let (status, body) = sys.call("GET", "/v1/tasks", None, None).await;
    assert_eq!((status, error_status(&body)), (401, "UNAUTHENTICATED"));
    let (status, _) = sys.call("GET", "/v1/tasks", Some("garbage"), None).await;
    assert_eq!(status, 401);
    let none_alg = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0.";
    let (status, _) = sys.call("GET", "/v1/tasks", Some(none_alg), None).await;
    assert_eq!(status, 401);

    // Task limits.
    let token = sys.login("carol@example.com", "a long enough secret").await;
    let (status, body) = sys
        .call(
            "POST",
            "/v1/tasks",
            Some(&token),
            Some(json!({"title": "x".repeat(501)})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["details"][0]["fieldViolations"][0]["field"],
        "title"
    );
    let (status, _) = sys
        .call("GET", "/v1/tasks/not-a-uuid", Some(&token), None)
        .await;
    assert_eq!(status, 400);
    let (status, _) = sys
        .call("GET", "/v1/tasks?pageSize=-1", Some(&token), None)
        .await;
    assert_eq!(status, 400);
    let (status, _) = sys
        .call("GET", "/v1/tasks?pageToken=forged", Some(&token), None)
        .await;
    assert_eq!(status, 400);
    let (_, list) = sys.call("GET", "/v1/tasks", Some(&token), None).await;
    assert_eq!(
        list["tasks"].as_array().map_or(0, Vec::len),
        0,
        "rejected creates wrote nothing"
    );

    // Unknown route and wrong method.
    let (status, body) = sys.call("GET", "/v1/nothing-here", None, None).await;
    assert_eq!((status, error_status(&body)), (404, "NOT_FOUND"));
    let (status, _) = sys.call("DELETE", "/v1/users", None, None).await;
    assert_eq!(status, 405);
}

both_databases!(internal_rpcs_need_the_service_credential);
async fn internal_rpcs_need_the_service_credential(sys: &TestSystem) {
    use todo_proto::todo::task::v1::EraseUserTasksRequest;
    use todo_proto::todo::task::v1::ListTasksRequest;
    use todo_proto::todo::task::v1::task_internal_service_client::TaskInternalServiceClient;
    use todo_proto::todo::task::v1::task_service_client::TaskServiceClient;

    let (user_id, token) = sys.signup("dave@example.com").await;
    let (status, _) = sys
        .call(
            "POST",
            "/v1/tasks",
            Some(&token),
            Some(json!({"title": "keep me"})),
        )
        .await;
    assert_eq!(status, 200);
    let url = format!("http://{}", sys.addr.task);

    // A user's bearer token does not open an internal RPC.
    let mut internal = TaskInternalServiceClient::connect(url.clone())
        .await
        .unwrap();
    let mut req = tonic::Request::new(EraseUserTasksRequest {
        user_id: user_id.clone(),
    });
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let err = internal.erase_user_tasks(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);

    // The public RPC over gRPC, with the token as metadata.
    let mut tasks = TaskServiceClient::connect(url).await.unwrap();
    let mut req = tonic::Request::new(ListTasksRequest::default());
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let list = tasks.list_tasks(req).await.unwrap().into_inner();
    assert_eq!(list.tasks.len(), 1, "nothing was erased");
}

both_databases!(refresh_tokens_rotate_and_reuse_revokes_the_login);
async fn refresh_tokens_rotate_and_reuse_revokes_the_login(sys: &TestSystem) {
    sys.signup("erin@example.com").await;
    let login = json!({"email": "erin@example.com", "password": "a long enough secret"});
    let (_, first) = sys
        .call("POST", "/v1/auth:login", None, Some(login.clone()))
        .await;
    assert_eq!(first["tokenType"], "Bearer");
    assert_eq!(
        first["expiresIn"], "900",
        "int64 is a string in proto3 JSON"
    );
    let old = first["refreshToken"].as_str().unwrap();

    let (status, second) = sys
        .call(
            "POST",
            "/v1/auth:refresh",
            None,
            Some(json!({"refreshToken": old})),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    let new = second["refreshToken"].as_str().unwrap();
    assert_ne!(old, new);
    let (status, _) = sys
        .call(
            "GET",
            "/v1/users/me",
            Some(second["accessToken"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200);

    // The spent token presented again revokes the whole login, so the
    // token issued after it is dead too.
    let (status, _) = sys
        .call(
            "POST",
            "/v1/auth:refresh",
            None,
            Some(json!({"refreshToken": old})),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = sys
        .call(
            "POST",
            "/v1/auth:refresh",
            None,
            Some(json!({"refreshToken": new})),
        )
        .await;
    assert_eq!(status, 401);

    // Logout revokes a fresh login's token.
    let (_, third) = sys.call("POST", "/v1/auth:login", None, Some(login)).await;
    let token = third["refreshToken"].as_str().unwrap();
    let (status, _) = sys
        .call(
            "POST",
            "/v1/auth:logout",
            None,
            Some(json!({"refreshToken": token})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = sys
        .call(
            "POST",
            "/v1/auth:refresh",
            None,
            Some(json!({"refreshToken": token})),
        )
        .await;
    assert_eq!(status, 401);
}

both_databases!(profile_inbox_and_settings_belong_to_the_caller);
async fn profile_inbox_and_settings_belong_to_the_caller(sys: &TestSystem) {
    let (_, token) = sys.signup("fay@example.com").await;
    let (status, me) = sys
        .call(
            "PATCH",
            "/v1/users/me",
            Some(&token),
            Some(json!({"timeZone": "Europe/Berlin"})),
        )
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["timeZone"].as_str(), me["displayName"].as_str()),
        (Some("Europe/Berlin"), Some("Tess"))
    );
    let (status, _) = sys
        .call(
            "PATCH",
            "/v1/users/me",
            Some(&token),
            Some(json!({"timeZone": "not a zone"})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = sys
        .call(
            "PATCH",
            "/v1/users/me",
            Some(&token),
            Some(json!({"displayName": ""})),
        )
        .await;
    assert_eq!(status, 400);

    // The welcome notification is in the inbox, unread, and only there.
    let (status, inbox) = sys
        .call("GET", "/v1/notifications", Some(&token), None)
        .await;
    assert_eq!(status, 200, "{inbox}");
    assert_eq!(inbox["unreadCount"], "1");
    assert_eq!(inbox["notifications"][0]["kind"], "WELCOME");
    let id = inbox["notifications"][0]["id"].as_str().unwrap();
    let (_, other) = sys.signup("gus@example.com").await;
    let (status, _) = sys
        .call(
            "POST",
            &format!("/v1/notifications/{id}:markRead"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, read) = sys
        .call(
            "POST",
            &format!("/v1/notifications/{id}:markRead"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{read}");
    assert!(read["readTime"].is_string());
    let (_, inbox) = sys
        .call(
            "GET",
            "/v1/notifications?unreadOnly=true",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(inbox["unreadCount"], "0");

    let (_, settings) = sys
        .call("GET", "/v1/notificationSettings", Some(&token), None)
        .await;
    assert_eq!(settings["emailReminders"], true);
    let (_, settings) = sys
        .call(
            "PATCH",
            "/v1/notificationSettings",
            Some(&token),
            Some(json!({"emailReminders": false})),
        )
        .await;
    assert_eq!(settings["emailReminders"], false);
    let (_, theirs) = sys
        .call("GET", "/v1/notificationSettings", Some(&other), None)
        .await;
    assert_eq!(theirs["emailReminders"], true);
}

both_databases!(the_inbox_pages_newest_first_with_tokens_bound_to_the_query);
async fn the_inbox_pages_newest_first_with_tokens_bound_to_the_query(sys: &TestSystem) {
    use todo_proto::todo::notify::v1::{EmailTemplate, SendEmailRequest};

    let (user_id, token) = sys.signup("hana@example.com").await;
    let (_, other) = sys.signup("ivo@example.com").await;
    // Four more welcome notifications beside the first, through the RPC
    // the user service sends them with.
    let mut notify = sys.notify_internal(sys.addr.notify);
    for i in 0..4 {
        notify
            .send_email(SendEmailRequest {
                dedup_key: format!("inbox-paging:{i}"),
                user_id: user_id.clone(),
                template: EmailTemplate::Welcome.into(),
                to_email: "hana@example.com".to_owned(),
                display_name: "Hana".to_owned(),
                ..SendEmailRequest::default()
            })
            .await
            .unwrap();
    }
    let list = |query: String, who: String| async move {
        sys.call(
            "GET",
            &format!("/v1/notifications{query}"),
            Some(&who),
            None,
        )
        .await
    };

    support::eventually("five notifications", || async {
        list(String::new(), token.clone()).await.1["notifications"]
            .as_array()
            .map_or(0, Vec::len)
            == 5
    })
    .await;
    let (_, whole) = list(String::new(), token.clone()).await;
    let newest_first: Vec<String> = whole["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(newest_first.len(), 5, "{whole}");
    // Ids are UUIDv7, so newest first is descending id order.
    assert!(
        newest_first.windows(2).all(|w| w[0] > w[1]),
        "{newest_first:?}"
    );

    let mut paged = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let (status, page) =
            list(format!("?pageSize=2&pageToken={page_token}"), token.clone()).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for n in page["notifications"].as_array().unwrap() {
            paged.push(n["id"].as_str().unwrap().to_owned());
        }
        match page["nextPageToken"].as_str() {
            Some(next) if !next.is_empty() => page_token = next.to_owned(),
            _ => break,
        }
    }
    assert_eq!((pages, &paged), (3, &newest_first));

    // A token works only for its own caller and filter; a forged one never.
    let (_, first) = list("?pageSize=2".to_owned(), token.clone()).await;
    let next = first["nextPageToken"].as_str().unwrap().to_owned();
    for (query, who) in [
        (format!("?pageSize=2&pageToken={next}"), other.clone()),
        (
            format!("?pageSize=2&unreadOnly=true&pageToken={next}"),
            token.clone(),
        ),
        ("?pageToken=bm90LWEtdG9rZW4".to_owned(), token.clone()),
        ("?pageSize=-1".to_owned(), token.clone()),
    ] {
        let (status, body) = list(query.clone(), who).await;
        assert_eq!(
            (status, error_status(&body)),
            (400, "INVALID_ARGUMENT"),
            "{query}: {body}"
        );
    }
}
