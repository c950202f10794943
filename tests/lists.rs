//! Shared lists end to end: the default list, who may do what in a shared
//! list (and that a stranger cannot tell a list exists), invitations,
//! roles, account deletion, subtasks and manual order, against SQLite and
//! MariaDB, over REST and (for the access rules) gRPC.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Db, TestSystem, decoded, error_status, eventually, link_token};

const PASSWORD: &str = "a long enough secret";
const MAIL_WAIT: Duration = Duration::from_secs(30);

/// A signed-up user and their access token.
struct User {
    id: String,
    token: String,
    email: String,
}

/// Signs `email` up as `name` and logs in; the address stays unverified.
async fn unverified(sys: &TestSystem, email: &str, name: &str) -> User {
    let (status, body) = sys
        .call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"email": email, "password": PASSWORD, "displayName": name})),
        )
        .await;
    assert_eq!((status, &body), (200, &json!({})));
    login(sys, email).await
}

async fn login(sys: &TestSystem, email: &str) -> User {
    let token = sys.login(email, PASSWORD).await;
    let (status, me) = sys.call("GET", "/v1/users/me", Some(&token), None).await;
    assert_eq!(status, 200, "{me}");
    User {
        id: str_of(&me["id"]),
        token,
        email: email.to_owned(),
    }
}

/// The next e-mail to `email` whose text contains `needle` (other e-mails
/// are skipped and dropped).
async fn mail_to(sys: &TestSystem, email: &str, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + MAIL_WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let mail = sys.smtp.next(left).await;
        let text = decoded(&mail.data);
        if mail.to.iter().any(|t| t.contains(email)) && text.contains(needle) {
            return text;
        }
    }
}

/// Verifies `email` with the link of its welcome e-mail.
async fn verify(sys: &TestSystem, email: &str) {
    let token = link_token(&mail_to(sys, email, "/verify-email?token=").await);
    let (status, user) = sys
        .call(
            "POST",
            "/v1/auth:verifyEmail",
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(
        (status, &user["emailVerified"]),
        (200, &json!(true)),
        "{user}"
    );
}

/// Signs `email` up as `name`, verifies the address, and logs in.
async fn user(sys: &TestSystem, email: &str, name: &str) -> User {
    unverified(sys, email, name).await;
    verify(sys, email).await;
    login(sys, email).await
}

fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

fn id(v: &Value) -> String {
    str_of(&v["id"])
}

/// A request that must succeed; its body.
async fn ok(sys: &TestSystem, who: &User, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = sys.call(method, path, Some(&who.token), body).await;
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer
}

async fn create_list(sys: &TestSystem, who: &User, title: &str) -> Value {
    ok(sys, who, "POST", "/v1/lists", Some(json!({"title": title}))).await
}

/// Creates a task in `list` (empty: the default list).
async fn create_task(sys: &TestSystem, who: &User, list: &str, title: &str) -> Value {
    ok(
        sys,
        who,
        "POST",
        "/v1/tasks",
        Some(json!({"title": title, "listId": list})),
    )
    .await
}

async fn create_subtask(sys: &TestSystem, who: &User, parent: &str, title: &str) -> Value {
    ok(
        sys,
        who,
        "POST",
        "/v1/tasks",
        Some(json!({"title": title, "parentId": parent})),
    )
    .await
}

async fn get_task(sys: &TestSystem, who: &User, task: &str) -> (u16, Value) {
    sys.call("GET", &format!("/v1/tasks/{task}"), Some(&who.token), None)
        .await
}

async fn get_list(sys: &TestSystem, who: &User, list: &str) -> (u16, Value) {
    sys.call("GET", &format!("/v1/lists/{list}"), Some(&who.token), None)
        .await
}

async fn invite(sys: &TestSystem, who: &User, list: &str, email: &str, role: &str) -> (u16, Value) {
    sys.call(
        "POST",
        &format!("/v1/lists/{list}/members:invite"),
        Some(&who.token),
        Some(json!({"email": email, "role": role})),
    )
    .await
}

async fn invitations(sys: &TestSystem, who: &User) -> Vec<Value> {
    let page = ok(sys, who, "GET", "/v1/invitations", None).await;
    page["invitations"].as_array().cloned().unwrap_or_default()
}

/// The caller's pending invitations to `list`.
async fn invitations_to(sys: &TestSystem, who: &User, list: &str) -> Vec<Value> {
    invitations(sys, who)
        .await
        .into_iter()
        .filter(|i| i["listId"] == list)
        .collect()
}

async fn accept(sys: &TestSystem, who: &User, invitation: &str) -> (u16, Value) {
    sys.call(
        "POST",
        &format!("/v1/invitations/{invitation}:accept"),
        Some(&who.token),
        None,
    )
    .await
}

async fn decline(sys: &TestSystem, who: &User, invitation: &str) -> (u16, Value) {
    sys.call(
        "POST",
        &format!("/v1/invitations/{invitation}:decline"),
        Some(&who.token),
        None,
    )
    .await
}

/// Whether `who`'s in-app inbox holds an INVITATION notification.
async fn has_invitation_notice(sys: &TestSystem, who: &User) -> bool {
    let inbox = ok(sys, who, "GET", "/v1/notifications", None).await;
    inbox["notifications"]
        .as_array()
        .is_some_and(|n| n.iter().any(|n| n["kind"] == "INVITATION"))
}

/// `owner` invites `member` to `list` as `role`, and `member` accepts.
async fn join(sys: &TestSystem, owner: &User, list: &str, member: &User, role: &str) {
    assert_eq!(
        invite(sys, owner, list, &member.email, role).await,
        (200, json!({}))
    );
    let pending = invitations_to(sys, member, list).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    let (status, joined) = accept(sys, member, &id(&pending[0])).await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(
        (joined["id"].as_str(), joined["role"].as_str()),
        (Some(list), Some(role))
    );
}

async fn members(sys: &TestSystem, who: &User, list: &str) -> Vec<(String, String)> {
    let page = ok(sys, who, "GET", &format!("/v1/lists/{list}/members"), None).await;
    let mut members: Vec<_> = page["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (str_of(&m["userId"]), str_of(&m["role"])))
        .collect();
    members.sort();
    members
}

async fn set_role(
    sys: &TestSystem,
    who: &User,
    list: &str,
    member: &str,
    role: &str,
) -> (u16, Value) {
    sys.call(
        "PATCH",
        &format!("/v1/lists/{list}/members/{member}"),
        Some(&who.token),
        Some(json!({"role": role})),
    )
    .await
}

async fn remove(sys: &TestSystem, who: &User, list: &str, member: &str) -> (u16, Value) {
    sys.call(
        "DELETE",
        &format!("/v1/lists/{list}/members/{member}"),
        Some(&who.token),
        None,
    )
    .await
}

async fn move_task(sys: &TestSystem, who: &User, task: &str, to: Value) -> (u16, Value) {
    sys.call(
        "POST",
        &format!("/v1/tasks/{task}:move"),
        Some(&who.token),
        Some(to),
    )
    .await
}

/// One page of `GET /v1/tasks?{query}`.
async fn task_page(sys: &TestSystem, who: &User, query: &str) -> Value {
    ok(sys, who, "GET", &format!("/v1/tasks?{query}"), None).await
}

fn ids(page: &Value) -> Vec<String> {
    page["tasks"]
        .as_array()
        .map_or_else(Vec::new, |a| a.iter().map(id).collect())
}

/// The ids of the tasks `GET /v1/tasks?{query}` lists on its first page.
async fn task_ids(sys: &TestSystem, who: &User, query: &str) -> Vec<String> {
    ids(&task_page(sys, who, query).await)
}

/// A gRPC request carrying `who`'s access token, as the edge would send it.
fn authed<T>(who: &User, message: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", who.token).parse().unwrap(),
    );
    req
}

/// A well-formed id that names nothing.
fn missing() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The field a 400's first BadRequest violation names.
fn violated_field(body: &Value) -> &str {
    body["error"]["details"][0]["fieldViolations"][0]["field"]
        .as_str()
        .unwrap_or_default()
}

both_databases!(a_new_user_has_one_default_inbox_that_cannot_be_deleted);
async fn a_new_user_has_one_default_inbox_that_cannot_be_deleted(sys: &TestSystem) {
    let ann = user(sys, "ann@example.com", "Ann").await;
    let page = ok(sys, &ann, "GET", "/v1/lists", None).await;
    let lists = page["lists"].as_array().unwrap();
    assert_eq!(lists.len(), 1, "{page}");
    let inbox = &lists[0];
    assert_eq!(
        (
            inbox["title"].as_str(),
            &inbox["isDefault"],
            inbox["role"].as_str(),
            &inbox["memberCount"]
        ),
        (Some("Inbox"), &json!(true), Some("OWNER"), &json!(1)),
        "{inbox}"
    );
    let inbox_id = id(inbox);

    // A task created without a list lands in the inbox, by its creator.
    let task = ok(
        sys,
        &ann,
        "POST",
        "/v1/tasks",
        Some(json!({"title": "loose"})),
    )
    .await;
    assert_eq!(task["listId"].as_str(), Some(inbox_id.as_str()), "{task}");
    assert_eq!(task["creatorId"].as_str(), Some(ann.id.as_str()), "{task}");
    assert_eq!(task["parentId"], "", "{task}");
    assert_eq!(
        task_ids(sys, &ann, &format!("listId={inbox_id}")).await,
        [id(&task)]
    );

    // The default list stays, with its task.
    let (status, body) = sys
        .call(
            "DELETE",
            &format!("/v1/lists/{inbox_id}"),
            Some(&ann.token),
            None,
        )
        .await;
    assert_eq!(
        (status, error_status(&body)),
        (400, "FAILED_PRECONDITION"),
        "{body}"
    );
    assert_eq!(get_list(sys, &ann, &inbox_id).await.0, 200);
    assert_eq!(get_task(sys, &ann, &id(&task)).await.0, 200);

    // A user whose first act is making a list still sees the inbox first.
    let bea = user(sys, "bea@example.com", "Bea").await;
    let made = ok(
        sys,
        &bea,
        "POST",
        "/v1/lists",
        Some(json!({"title": "Aardvarks", "color": "#aa00ff"})),
    )
    .await;
    assert_eq!(
        (
            &made["isDefault"],
            made["role"].as_str(),
            &made["memberCount"],
            made["color"].as_str()
        ),
        (&json!(false), Some("OWNER"), &json!(1), Some("#aa00ff")),
        "{made}"
    );
    let page = ok(sys, &bea, "GET", "/v1/lists", None).await;
    let titles: Vec<_> = page["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (str_of(&l["title"]), l["isDefault"].clone()))
        .collect();
    assert_eq!(
        titles,
        [
            ("Inbox".to_owned(), json!(true)),
            ("Aardvarks".to_owned(), json!(false))
        ]
    );
    // Each user's inbox is their own.
    assert_eq!(get_list(sys, &bea, &inbox_id).await.0, 404);

    // Paged two at a time, each list comes once, the inbox first.
    for title in ["B", "C", "D"] {
        create_list(sys, &bea, title).await;
    }
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = ok(
            sys,
            &bea,
            "GET",
            &format!("/v1/lists?pageSize=2&pageToken={token}"),
            None,
        )
        .await;
        let lists = page["lists"].as_array().unwrap();
        assert!(lists.len() <= 2, "{page}");
        paged.extend(lists.iter().map(|l| str_of(&l["title"])));
        token = page["nextPageToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if token.is_empty() || paged.len() > 5 {
            break;
        }
    }
    assert_eq!(paged.len(), 5, "{paged:?}");
    assert_eq!(paged[0], "Inbox");
    let unique: HashSet<_> = paged.iter().collect();
    assert_eq!(unique.len(), 5, "{paged:?}");
}

both_databases!(a_list_patch_changes_what_it_names_and_honours_if_match);
async fn a_list_patch_changes_what_it_names_and_honours_if_match(sys: &TestSystem) {
    let lou = user(sys, "lou@example.com", "Lou").await;
    let made = ok(
        sys,
        &lou,
        "POST",
        "/v1/lists",
        Some(json!({"title": "Chores", "color": "#112233"})),
    )
    .await;
    let path = format!("/v1/lists/{}", id(&made));
    let resp = sys
        .http
        .get(sys.url(&path))
        .bearer_auth(&lou.token)
        .send()
        .await
        .unwrap();
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.contains(made["etag"].as_str().unwrap()), "{etag}");

    // Only the title changes; the colour stays.
    let renamed = ok(sys, &lou, "PATCH", &path, Some(json!({"title": "Errands"}))).await;
    assert_eq!(
        (renamed["title"].as_str(), renamed["color"].as_str()),
        (Some("Errands"), Some("#112233")),
        "{renamed}"
    );
    assert_ne!(renamed["etag"], made["etag"]);
    // A stale etag changes nothing.
    let resp = sys
        .http
        .patch(sys.url(&path))
        .bearer_auth(&lou.token)
        .header("if-match", &etag)
        .json(&json!({"title": "Stale"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 412);
    assert_eq!(get_list(sys, &lou, &id(&made)).await.1["title"], "Errands");
    // An empty colour clears it; a malformed one is refused.
    let cleared = ok(sys, &lou, "PATCH", &path, Some(json!({"color": ""}))).await;
    assert_eq!(
        (cleared["title"].as_str(), cleared["color"].as_str()),
        (Some("Errands"), Some("")),
        "{cleared}"
    );
    for bad in [
        json!({"color": "red"}),
        json!({"title": ""}),
        json!({"title": "x".repeat(201)}),
    ] {
        let (status, body) = sys
            .call("PATCH", &path, Some(&lou.token), Some(bad.clone()))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

/// Who asks, in the access matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Owner,
    Editor,
    Viewer,
    Stranger,
    Removed,
}

/// The operations of the access matrix, each as (method, path, body) on
/// `task` and `list`; `victim` is a task that may be deleted.
fn operation(
    op: &str,
    task: &str,
    victim: &str,
    list: &str,
) -> (&'static str, String, Option<Value>) {
    match op {
        "get task" => ("GET", format!("/v1/tasks/{task}"), None),
        "list tasks" => ("GET", format!("/v1/tasks?listId={list}"), None),
        "move task" => (
            "POST",
            format!("/v1/tasks/{task}:move"),
            Some(json!({"afterId": ""})),
        ),
        "get list" => ("GET", format!("/v1/lists/{list}"), None),
        "patch task" => (
            "PATCH",
            format!("/v1/tasks/{task}"),
            Some(json!({"description": "touched"})),
        ),
        "delete task" => ("DELETE", format!("/v1/tasks/{victim}"), None),
        "create task" => (
            "POST",
            "/v1/tasks".to_owned(),
            Some(json!({"title": "added", "listId": list})),
        ),
        "patch list" => (
            "PATCH",
            format!("/v1/lists/{list}"),
            Some(json!({"title": "Renamed"})),
        ),
        "invite" => (
            "POST",
            format!("/v1/lists/{list}/members:invite"),
            Some(json!({"email": "guest@example.com", "role": "VIEWER"})),
        ),
        "list members" => ("GET", format!("/v1/lists/{list}/members"), None),
        "delete list" => ("DELETE", format!("/v1/lists/{list}"), None),
        other => panic!("no operation {other}"),
    }
}

both_databases!(each_role_may_do_what_it_grants_and_outsiders_see_nothing);
async fn each_role_may_do_what_it_grants_and_outsiders_see_nothing(sys: &TestSystem) {
    let owner = user(sys, "owner@example.com", "Olive").await;
    let editor = user(sys, "editor@example.com", "Ed").await;
    let viewer = user(sys, "viewer@example.com", "Vi").await;
    let stranger = user(sys, "stranger@example.com", "Stan").await;
    let removed = user(sys, "removed@example.com", "Rem").await;
    let list = id(&create_list(sys, &owner, "Shared").await);
    let task = id(&create_task(sys, &owner, &list, "common").await);
    join(sys, &owner, &list, &editor, "EDITOR").await;
    join(sys, &owner, &list, &viewer, "VIEWER").await;
    join(sys, &owner, &list, &removed, "EDITOR").await;
    // While a member, they could read; then the owner removes them.
    assert_eq!(get_task(sys, &removed, &task).await.0, 200);
    assert_eq!(
        remove(sys, &owner, &list, &removed.id).await,
        (200, json!({}))
    );

    const OPS: [&str; 11] = [
        "get task",
        "list tasks",
        "move task",
        "get list",
        "patch task",
        "delete task",
        "create task",
        "patch list",
        "invite",
        "list members",
        "delete list",
    ];
    // Expected statuses, in the order of OPS.
    let expected = |who: Who| -> [u16; 11] {
        match who {
            Who::Owner => [200; 11],
            Who::Editor => [200, 200, 200, 200, 200, 200, 200, 200, 403, 200, 403],
            Who::Viewer => [200, 200, 403, 200, 403, 403, 403, 403, 403, 200, 403],
            Who::Stranger | Who::Removed => [404; 11],
        }
    };
    // The owner last: their "delete list" ends the list.
    let cast = [
        (Who::Stranger, &stranger),
        (Who::Removed, &removed),
        (Who::Viewer, &viewer),
        (Who::Editor, &editor),
        (Who::Owner, &owner),
    ];
    // Without a filter, a member's task list takes in the shared list's
    // tasks, and an outsider's does not.
    for (who, caller) in cast {
        let all = task_ids(sys, caller, "pageSize=1000").await;
        let member = matches!(who, Who::Owner | Who::Editor | Who::Viewer);
        assert_eq!(all.contains(&task), member, "{who:?}: {all:?}");
    }
    for (who, caller) in cast {
        let victim = id(&create_task(sys, &owner, &list, "victim").await);
        for (op, want) in OPS.iter().zip(expected(who)) {
            let (method, path, body) = operation(op, &task, &victim, &list);
            let (status, answer) = sys
                .call(method, &path, Some(&caller.token), body.clone())
                .await;
            assert_eq!(status, want, "{who:?} {op}: {answer}");
            match want {
                403 => assert_eq!(
                    error_status(&answer),
                    "PERMISSION_DENIED",
                    "{who:?} {op}: {answer}"
                ),
                404 => {
                    // Exactly what the same request about nothing gets.
                    let (method, path, body) = operation(op, &missing(), &missing(), &missing());
                    let nothing = sys.call(method, &path, Some(&caller.token), body).await;
                    assert_eq!((status, &answer), (nothing.0, &nothing.1), "{who:?} {op}");
                    assert_eq!(error_status(&answer), "NOT_FOUND", "{who:?} {op}: {answer}");
                }
                _ => {}
            }
        }
        if who != Who::Owner && who != Who::Editor {
            // A refused write changed nothing.
            let (status, kept) = get_task(sys, &owner, &task).await;
            assert_eq!(status, 200, "{kept}");
            assert_ne!(kept["description"], "touched", "{who:?}: {kept}");
            assert_eq!(get_task(sys, &owner, &victim).await.0, 200, "{who:?}");
            let (_, kept) = get_list(sys, &owner, &list).await;
            assert_eq!(kept["title"], "Shared", "{who:?}: {kept}");
        }
        if who == Who::Editor {
            // The editor renamed the list and deleted the victim.
            let (_, renamed) = get_list(sys, &owner, &list).await;
            assert_eq!(renamed["title"], "Renamed", "{renamed}");
            assert_eq!(get_task(sys, &owner, &victim).await.0, 404);
        }
    }
    // The owner deleted the list: it and its tasks are gone for everyone.
    for member in [&owner, &editor, &viewer] {
        assert_eq!(get_list(sys, member, &list).await.0, 404);
        assert_eq!(get_task(sys, member, &task).await.0, 404);
    }
}

both_databases!(invitations_reach_verified_addresses_and_join_with_their_role);
async fn invitations_reach_verified_addresses_and_join_with_their_role(sys: &TestSystem) {
    let owner = user(sys, "olivia@example.com", "Olivia Owner").await;
    let ivan = user(sys, "ivan@example.com", "Ivan").await;
    let list = create_list(sys, &owner, "Groceries").await;
    let list_id = id(&list);

    assert_eq!(
        invite(sys, &owner, &list_id, "ivan@example.com", "EDITOR").await,
        (200, json!({}))
    );
    let pending = invitations(sys, &ivan).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    let invitation = &pending[0];
    assert_eq!(
        (
            invitation["listId"].as_str(),
            invitation["listTitle"].as_str(),
            invitation["inviterName"].as_str(),
            invitation["role"].as_str()
        ),
        (
            Some(list_id.as_str()),
            Some("Groceries"),
            Some("Olivia Owner"),
            Some("EDITOR")
        ),
        "{invitation}"
    );
    assert!(invitation["createTime"].is_string(), "{invitation}");
    // The invitee hears of it by e-mail and in the app.
    mail_to(sys, &ivan.email, "Groceries").await;
    eventually("the INVITATION notification", || {
        has_invitation_notice(sys, &ivan)
    })
    .await;

    // Someone else cannot use Ivan's invitation, nor turn it down.
    let jo = user(sys, "jo@example.com", "Jo").await;
    let invitation_id = id(invitation);
    let (status, body) = accept(sys, &jo, &invitation_id).await;
    assert_eq!((status, error_status(&body)), (404, "NOT_FOUND"), "{body}");
    let (status, body) = decline(sys, &jo, &invitation_id).await;
    assert_eq!((status, error_status(&body)), (404, "NOT_FOUND"), "{body}");
    assert_eq!(get_list(sys, &jo, &list_id).await.0, 404);

    // Accepting joins with the role offered, once.
    let (status, joined) = accept(sys, &ivan, &invitation_id).await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(
        (
            joined["id"].as_str(),
            joined["role"].as_str(),
            &joined["memberCount"],
            &joined["isDefault"]
        ),
        (
            Some(list_id.as_str()),
            Some("EDITOR"),
            &json!(2),
            &json!(false)
        ),
        "{joined}"
    );
    assert!(invitations(sys, &ivan).await.is_empty());
    assert_eq!(accept(sys, &ivan, &invitation_id).await.0, 404, "spent");
    let (_, lists) = sys.call("GET", "/v1/lists", Some(&ivan.token), None).await;
    let listed: Vec<_> = lists["lists"].as_array().unwrap().iter().map(id).collect();
    assert!(listed.contains(&list_id), "{lists}");
    let mut expected = vec![
        (owner.id.clone(), "OWNER".to_owned()),
        (ivan.id.clone(), "EDITOR".to_owned()),
    ];
    expected.sort();
    assert_eq!(members(sys, &owner, &list_id).await, expected);

    // Declining removes the invitation and joins nothing.
    let other = id(&create_list(sys, &owner, "Holiday").await);
    assert_eq!(
        invite(sys, &owner, &other, "ivan@example.com", "VIEWER").await,
        (200, json!({}))
    );
    let pending = invitations_to(sys, &ivan, &other).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(
        decline(sys, &ivan, &id(&pending[0])).await,
        (200, json!({}))
    );
    assert!(invitations(sys, &ivan).await.is_empty());
    assert_eq!(get_list(sys, &ivan, &other).await.0, 404);
    assert_eq!(
        accept(sys, &ivan, &id(&pending[0])).await.0,
        404,
        "declined"
    );

    // Inviting again replaces the pending invitation: one, the latest.
    let third = id(&create_list(sys, &owner, "Books").await);
    invite(sys, &owner, &third, "ivan@example.com", "VIEWER").await;
    let first = invitations_to(sys, &ivan, &third).await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        invite(sys, &owner, &third, "IVAN@example.com", "EDITOR").await,
        (200, json!({}))
    );
    let second = invitations_to(sys, &ivan, &third).await;
    assert_eq!(second.len(), 1, "one pending: {second:?}");
    assert_eq!(second[0]["role"], "EDITOR", "{second:?}");
    let (status, _) = accept(sys, &ivan, &id(&first[0])).await;
    assert_eq!(status, 404, "the replaced invitation is spent");
    assert_eq!(get_list(sys, &ivan, &third).await.0, 404);

    // An invitation to a list that is deleted goes with it.
    ok(sys, &owner, "DELETE", &format!("/v1/lists/{third}"), None).await;
    assert!(invitations(sys, &ivan).await.is_empty());
    let (status, body) = accept(sys, &ivan, &id(&second[0])).await;
    assert_eq!(status, 404, "{body}");
}

both_databases!(an_invitation_to_an_unregistered_address_waits_for_its_verification);
async fn an_invitation_to_an_unregistered_address_waits_for_its_verification(sys: &TestSystem) {
    let owner = user(sys, "olga@example.com", "Olga").await;
    let list = id(&create_list(sys, &owner, "Club").await);
    let known = user(sys, "known@example.com", "Known").await;

    // The same answer whether or not the address has an account.
    let to_known = invite(sys, &owner, &list, &known.email, "VIEWER").await;
    let to_nobody = invite(sys, &owner, &list, "newcomer@example.com", "VIEWER").await;
    assert_eq!(to_known, (200, json!({})));
    assert_eq!(to_nobody, to_known);

    // Signed up but unverified: nothing to see, nothing to accept.
    let newcomer = unverified(sys, "newcomer@example.com", "Newcomer").await;
    assert!(invitations(sys, &newcomer).await.is_empty());
    // Its id, as the invitee would see it once verified.
    let invitation_id = {
        use sqlx::Row;
        let mut db = sys.db_of("task").await;
        let rows = sqlx::query("SELECT id, email FROM invitations WHERE list_id = ? AND state = 1")
            .bind(&list)
            .fetch_all(&mut db)
            .await
            .unwrap();
        let row = rows
            .iter()
            .find(|r| r.get::<String, _>("email").contains("newcomer"))
            .expect("the pending invitation to the newcomer");
        row.get::<String, _>("id")
    };
    let (status, body) = accept(sys, &newcomer, &invitation_id).await;
    assert!(
        (400..500).contains(&status),
        "an unverified account accepted: {body}"
    );
    assert_eq!(get_list(sys, &newcomer, &list).await.0, 404);

    // Verified, the account sees it and can join.
    verify(sys, &newcomer.email).await;
    let newcomer = login(sys, &newcomer.email).await;
    eventually("the newcomer sees the invitation", || async {
        !invitations(sys, &newcomer).await.is_empty()
    })
    .await;
    let pending = invitations(sys, &newcomer).await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(
        (
            pending[0]["listTitle"].as_str(),
            pending[0]["inviterName"].as_str(),
            pending[0]["role"].as_str()
        ),
        (Some("Club"), Some("Olga"), Some("VIEWER")),
        "{pending:?}"
    );
    let (status, joined) = accept(sys, &newcomer, &id(&pending[0])).await;
    assert_eq!(
        (status, joined["role"].as_str()),
        (200, Some("VIEWER")),
        "{joined}"
    );
    assert_eq!(get_list(sys, &newcomer, &list).await.0, 200);
    // Registered, the invitee is told in the app too.
    eventually("the newcomer's INVITATION notification", || {
        has_invitation_notice(sys, &newcomer)
    })
    .await;
}

both_databases!(a_malformed_invitation_is_refused_naming_the_field);
async fn a_malformed_invitation_is_refused_naming_the_field(sys: &TestSystem) {
    let owner = user(sys, "oscar@example.com", "Oscar").await;
    let list = id(&create_list(sys, &owner, "Team").await);
    let cases = [
        (
            json!({"email": "not-an-address", "role": "EDITOR"}),
            "email",
        ),
        (json!({"email": "", "role": "EDITOR"}), "email"),
        (json!({"email": "pia@example.com", "role": "OWNER"}), "role"),
        (
            json!({"email": "pia@example.com", "role": "ROLE_UNSPECIFIED"}),
            "role",
        ),
        (json!({"email": "pia@example.com"}), "role"),
    ];
    for (body, field) in cases {
        let (status, answer) = sys
            .call(
                "POST",
                &format!("/v1/lists/{list}/members:invite"),
                Some(&owner.token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (status, error_status(&answer), violated_field(&answer)),
            (400, "INVALID_ARGUMENT", field),
            "{body}: {answer}"
        );
    }
    // An enum name that does not exist is refused too.
    let (status, answer) = invite(sys, &owner, &list, "pia@example.com", "BOSS").await;
    assert_eq!(status, 400, "{answer}");
    // Nothing was sent: a valid invitation afterwards is the only one.
    let pia = user(sys, "pia@example.com", "Pia").await;
    assert!(invitations(sys, &pia).await.is_empty());
}

both_databases!(roles_change_hand_over_and_removal_takes_access_at_once);
async fn roles_change_hand_over_and_removal_takes_access_at_once(sys: &TestSystem) {
    let owner = user(sys, "otto@example.com", "Otto").await;
    let mia = user(sys, "mia@example.com", "Mia").await;
    let xan = user(sys, "xan@example.com", "Xan").await;
    let yul = user(sys, "yul@example.com", "Yul").await;
    let list = id(&create_list(sys, &owner, "Project").await);
    let task = id(&create_task(sys, &owner, &list, "milestone").await);
    join(sys, &owner, &list, &mia, "EDITOR").await;
    join(sys, &owner, &list, &xan, "EDITOR").await;
    join(sys, &owner, &list, &yul, "VIEWER").await;
    let (_, shown) = get_list(sys, &owner, &list).await;
    assert_eq!(shown["memberCount"], 4, "{shown}");
    let (_, page) = sys
        .call(
            "GET",
            &format!("/v1/lists/{list}/members"),
            Some(&yul.token),
            None,
        )
        .await;
    let otto = page["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["userId"] == owner.id.as_str())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (otto["displayName"].as_str(), otto["role"].as_str()),
        (Some("Otto"), Some("OWNER")),
        "{page}"
    );

    // The owner cannot leave without handing over.
    let (status, body) = remove(sys, &owner, &list, &owner.id).await;
    assert_eq!(
        (status, error_status(&body)),
        (400, "FAILED_PRECONDITION"),
        "{body}"
    );

    // A member leaves by removing themself.
    assert_eq!(remove(sys, &xan, &list, &xan.id).await, (200, json!({})));
    assert_eq!(get_list(sys, &xan, &list).await.0, 404);
    assert_eq!(get_task(sys, &xan, &task).await.0, 404);
    let (_, shown) = get_list(sys, &owner, &list).await;
    assert_eq!(shown["memberCount"], 3, "{shown}");

    // Only the owner removes others.
    let (status, body) = remove(sys, &yul, &list, &mia.id).await;
    assert_eq!(
        (status, error_status(&body)),
        (403, "PERMISSION_DENIED"),
        "{body}"
    );
    assert_eq!(get_task(sys, &mia, &task).await.0, 200);

    // Removal takes access at once.
    assert_eq!(get_task(sys, &yul, &task).await.0, 200);
    assert_eq!(remove(sys, &owner, &list, &yul.id).await, (200, json!({})));
    assert_eq!(get_task(sys, &yul, &task).await.0, 404);
    let (_, lists) = sys.call("GET", "/v1/lists", Some(&yul.token), None).await;
    assert!(
        !lists["lists"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["id"] == list.as_str()),
        "{lists}"
    );

    // Made a viewer, Mia reads but no longer writes.
    let (status, member) = set_role(sys, &owner, &list, &mia.id, "VIEWER").await;
    assert_eq!(
        (status, member["userId"].as_str(), member["role"].as_str()),
        (200, Some(mia.id.as_str()), Some("VIEWER")),
        "{member}"
    );
    assert_eq!(get_task(sys, &mia, &task).await.0, 200);
    let (status, body) = sys
        .call(
            "PATCH",
            &format!("/v1/tasks/{task}"),
            Some(&mia.token),
            Some(json!({"done": true})),
        )
        .await;
    assert_eq!(
        (status, error_status(&body)),
        (403, "PERMISSION_DENIED"),
        "{body}"
    );
    let (status, _) = sys
        .call(
            "POST",
            "/v1/tasks",
            Some(&mia.token),
            Some(json!({"title": "sneaky", "listId": list})),
        )
        .await;
    assert_eq!(status, 403);
    // And a member cannot change roles, their own included.
    let (status, _) = set_role(sys, &mia, &list, &mia.id, "EDITOR").await;
    assert_eq!(status, 403);

    // Ownership goes only to a member, and a role must be named.
    let (status, body) = set_role(sys, &owner, &list, &xan.id, "OWNER").await;
    assert_eq!((status, error_status(&body)), (404, "NOT_FOUND"), "{body}");
    let (status, body) = set_role(sys, &owner, &list, &mia.id, "ROLE_UNSPECIFIED").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(get_list(sys, &owner, &list).await.1["role"], "OWNER");

    // Handing ownership over: Mia owns, Otto edits.
    let (status, member) = set_role(sys, &owner, &list, &mia.id, "OWNER").await;
    assert_eq!(
        (status, member["role"].as_str()),
        (200, Some("OWNER")),
        "{member}"
    );
    let mut expected = vec![
        (owner.id.clone(), "EDITOR".to_owned()),
        (mia.id.clone(), "OWNER".to_owned()),
    ];
    expected.sort();
    assert_eq!(members(sys, &owner, &list).await, expected);
    assert_eq!(get_list(sys, &owner, &list).await.1["role"], "EDITOR");
    assert_eq!(get_list(sys, &mia, &list).await.1["role"], "OWNER");
    // The old owner now writes tasks but no longer deletes or shares.
    ok(
        sys,
        &owner,
        "PATCH",
        &format!("/v1/tasks/{task}"),
        Some(json!({"done": true})),
    )
    .await;
    let (status, _) = sys
        .call(
            "DELETE",
            &format!("/v1/lists/{list}"),
            Some(&owner.token),
            None,
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(set_role(sys, &owner, &list, &mia.id, "EDITOR").await.0, 403);
    assert_eq!(
        invite(sys, &owner, &list, "zed@example.com", "VIEWER")
            .await
            .0,
        403
    );
    // Handed over, the old owner may leave.
    assert_eq!(
        remove(sys, &owner, &list, &owner.id).await,
        (200, json!({}))
    );
    assert_eq!(get_list(sys, &owner, &list).await.0, 404);
    assert_eq!(
        members(sys, &mia, &list).await,
        [(mia.id.clone(), "OWNER".to_owned())]
    );
    // The new owner may delete it.
    assert_eq!(
        sys.call(
            "DELETE",
            &format!("/v1/lists/{list}"),
            Some(&mia.token),
            None
        )
        .await,
        (200, json!({}))
    );
    assert_eq!(get_list(sys, &mia, &list).await.0, 404);
    assert_eq!(get_task(sys, &mia, &task).await.0, 404);
}

both_databases!(a_deleted_account_takes_its_lists_and_leaves_its_tasks_in_others);
async fn a_deleted_account_takes_its_lists_and_leaves_its_tasks_in_others(sys: &TestSystem) {
    let leaver = user(sys, "leaver@example.com", "Leaver").await;
    let stayer = user(sys, "stayer@example.com", "Stayer").await;
    let theirs = id(&create_list(sys, &leaver, "Leaver's").await);
    let their_task = id(&create_task(sys, &leaver, &theirs, "goes").await);
    join(sys, &leaver, &theirs, &stayer, "EDITOR").await;
    let mine = id(&create_list(sys, &stayer, "Stayer's").await);
    join(sys, &stayer, &mine, &leaver, "EDITOR").await;
    let left_behind = id(&create_task(sys, &leaver, &mine, "stays").await);
    assert_eq!(get_task(sys, &stayer, &their_task).await.0, 200);

    assert_eq!(
        sys.call(
            "POST",
            "/v1/users/me:delete",
            Some(&leaver.token),
            Some(json!({"password": PASSWORD})),
        )
        .await,
        (200, json!({}))
    );

    eventually("the deleted user's list is gone", || async {
        get_list(sys, &stayer, &theirs).await.0 == 404
    })
    .await;
    assert_eq!(get_task(sys, &stayer, &their_task).await.0, 404);
    let (status, nothing) = sys
        .call(
            "GET",
            &format!("/v1/tasks?listId={theirs}"),
            Some(&stayer.token),
            None,
        )
        .await;
    assert_eq!(status, 404, "{nothing}");
    eventually("the deleted user left the other list", || async {
        members(sys, &stayer, &mine).await == [(stayer.id.clone(), "OWNER".to_owned())]
    })
    .await;
    assert_eq!(get_list(sys, &stayer, &mine).await.1["memberCount"], 1);
    let (status, kept) = get_task(sys, &stayer, &left_behind).await;
    assert_eq!(status, 200, "{kept}");
    assert_eq!(
        (kept["creatorId"].as_str(), kept["listId"].as_str()),
        (Some(leaver.id.as_str()), Some(mine.as_str())),
        "{kept}"
    );
}

both_databases!(subtasks_nest_four_deep_stay_in_their_list_and_go_with_their_parent);
async fn subtasks_nest_four_deep_stay_in_their_list_and_go_with_their_parent(sys: &TestSystem) {
    let sam = user(sys, "sam@example.com", "Sam").await;
    let list = id(&create_list(sys, &sam, "Plans").await);
    let top = create_task(sys, &sam, &list, "level 1").await;
    let top_id = id(&top);
    assert_eq!(top["subtaskCount"], 0, "{top}");
    let second = create_subtask(sys, &sam, &top_id, "level 2").await;
    assert_eq!(
        (second["parentId"].as_str(), second["listId"].as_str()),
        (Some(top_id.as_str()), Some(list.as_str())),
        "a subtask goes to its parent's list: {second}"
    );
    assert_eq!(get_task(sys, &sam, &top_id).await.1["subtaskCount"], 1);
    let sibling = create_subtask(sys, &sam, &top_id, "level 2 too").await;
    assert_eq!(get_task(sys, &sam, &top_id).await.1["subtaskCount"], 2);
    ok(
        sys,
        &sam,
        "DELETE",
        &format!("/v1/tasks/{}", id(&sibling)),
        None,
    )
    .await;
    assert_eq!(get_task(sys, &sam, &top_id).await.1["subtaskCount"], 1);
    let third = create_subtask(sys, &sam, &id(&second), "level 3").await;
    let fourth = create_subtask(sys, &sam, &id(&third), "level 4").await;

    // Filters: top level only, and the children of one task.
    assert_eq!(
        task_ids(sys, &sam, &format!("listId={list}&parentId=root")).await,
        std::slice::from_ref(&top_id)
    );
    assert_eq!(
        task_ids(sys, &sam, &format!("parentId={}", id(&second))).await,
        [id(&third)]
    );

    // A fifth level is refused.
    let (status, body) = sys
        .call(
            "POST",
            "/v1/tasks",
            Some(&sam.token),
            Some(json!({"title": "level 5", "parentId": id(&fourth)})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(get_task(sys, &sam, &id(&fourth)).await.1["subtaskCount"], 0);

    // A parent of another list is refused.
    let elsewhere = id(&create_list(sys, &sam, "Elsewhere").await);
    let (status, body) = sys
        .call(
            "POST",
            "/v1/tasks",
            Some(&sam.token),
            Some(json!({"title": "astray", "listId": elsewhere, "parentId": top_id})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        task_ids(sys, &sam, &format!("listId={elsewhere}"))
            .await
            .is_empty()
    );

    // A move that would make a fifth level is refused too: a two-level
    // task under the third level.
    let other = create_task(sys, &sam, &list, "other").await;
    let other_child = create_subtask(sys, &sam, &id(&other), "other's child").await;
    let (status, body) = move_task(sys, &sam, &id(&other), json!({"parentId": id(&third)})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(get_task(sys, &sam, &id(&other)).await.1["parentId"], "");
    // Under the second level it fits (levels 3 and 4).
    let (status, body) = move_task(sys, &sam, &id(&other), json!({"parentId": id(&second)})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get_task(sys, &sam, &id(&second)).await.1["subtaskCount"], 2);
    assert_eq!(
        get_task(sys, &sam, &id(&other_child)).await.1["parentId"],
        id(&other).as_str()
    );

    // A move that would put a task under itself or its own subtask is a cycle.
    for under in [id(&third), top_id.clone()] {
        let (status, body) = move_task(sys, &sam, &top_id, json!({"parentId": under})).await;
        assert_eq!(status, 400, "under {under}: {body}");
    }
    assert_eq!(get_task(sys, &sam, &top_id).await.1["parentId"], "");

    // Deleting a task deletes its subtasks, all the way down.
    ok(sys, &sam, "DELETE", &format!("/v1/tasks/{top_id}"), None).await;
    for gone in [&second, &third, &fourth, &other, &other_child] {
        let (status, body) = get_task(sys, &sam, &id(gone)).await;
        assert_eq!(status, 404, "{body}");
    }
    assert!(
        task_ids(sys, &sam, &format!("listId={list}"))
            .await
            .is_empty()
    );
}

both_databases!(moves_reorder_and_carry_subtasks_into_lists_the_caller_edits);
async fn moves_reorder_and_carry_subtasks_into_lists_the_caller_edits(sys: &TestSystem) {
    let cal = user(sys, "cal@example.com", "Cal").await;
    let list = id(&create_list(sys, &cal, "Ordered").await);
    let first = create_task(sys, &cal, &list, "a").await;
    let [a, b, c] = [
        id(&first),
        id(&create_task(sys, &cal, &list, "b").await),
        id(&create_task(sys, &cal, &list, "c").await),
    ];
    let order = format!("listId={list}&parentId=root&orderBy=position");
    assert_eq!(
        task_ids(sys, &cal, &order).await,
        [a.clone(), b.clone(), c.clone()]
    );

    let (status, moved) = move_task(sys, &cal, &a, json!({"afterId": c})).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        task_ids(sys, &cal, &order).await,
        [b.clone(), c.clone(), a.clone()]
    );
    // A move is a change: an If-Match of before no longer matches, and
    // the revision that concurrent writers compare and set moves on.
    assert_ne!(moved["etag"], first["etag"]);
    assert_ne!(moved["updateTime"], first["updateTime"]);
    let mut db = sys.db_of("task").await;
    let (revision,): (i64,) = sqlx::query_as("SELECT revision FROM tasks WHERE id = ?")
        .bind(&a)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(revision, 2);
    let (status, moved) = move_task(sys, &cal, &c, json!({"afterId": ""})).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        task_ids(sys, &cal, &order).await,
        [c.clone(), b.clone(), a.clone()]
    );
    let (status, moved) = move_task(sys, &cal, &a, json!({"afterId": c})).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        task_ids(sys, &cal, &order).await,
        [c.clone(), a.clone(), b.clone()]
    );

    // Into a list Cal edits: the task and its subtask move along.
    let dora = user(sys, "dora@example.com", "Dora").await;
    let shared = id(&create_list(sys, &dora, "Dora's").await);
    join(sys, &dora, &shared, &cal, "EDITOR").await;
    let sub = id(&create_subtask(sys, &cal, &b, "b.1").await);
    let (status, moved) = move_task(sys, &cal, &b, json!({"listId": shared})).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        (
            moved["listId"].as_str(),
            moved["parentId"].as_str(),
            &moved["subtaskCount"]
        ),
        (Some(shared.as_str()), Some(""), &json!(1)),
        "{moved}"
    );
    let (status, child) = get_task(sys, &dora, &sub).await;
    assert_eq!(status, 200, "{child}");
    assert_eq!(
        (child["listId"].as_str(), child["parentId"].as_str()),
        (Some(shared.as_str()), Some(b.as_str())),
        "{child}"
    );
    assert_eq!(get_task(sys, &dora, &b).await.0, 200);
    assert_eq!(task_ids(sys, &cal, &order).await, [c.clone(), a.clone()]);
    assert_eq!(
        task_ids(sys, &cal, &format!("listId={shared}&parentId={b}")).await,
        std::slice::from_ref(&sub)
    );

    // Into a list Cal only views: refused, and nothing moved.
    let vera = user(sys, "vera@example.com", "Vera").await;
    let viewed = id(&create_list(sys, &vera, "Vera's").await);
    join(sys, &vera, &viewed, &cal, "VIEWER").await;
    let (status, body) = move_task(sys, &cal, &a, json!({"listId": viewed})).await;
    assert_eq!(
        (status, error_status(&body)),
        (403, "PERMISSION_DENIED"),
        "{body}"
    );
    // Into a list Cal is not in: as if it did not exist.
    let secret = id(&create_list(sys, &vera, "Secret").await);
    let hidden = move_task(sys, &cal, &a, json!({"listId": secret})).await;
    let nowhere = move_task(sys, &cal, &a, json!({"listId": missing()})).await;
    assert_eq!(hidden.0, 404, "{}", hidden.1);
    assert_eq!(hidden, nowhere);
    assert_eq!(task_ids(sys, &cal, &order).await, [c.clone(), a.clone()]);
    assert!(
        task_ids(sys, &vera, &format!("listId={secret}"))
            .await
            .is_empty()
    );
    assert!(
        task_ids(sys, &vera, &format!("listId={viewed}"))
            .await
            .is_empty()
    );
    // Nor may a viewer move a task out of the list they only view.
    let theirs = id(&create_task(sys, &vera, &viewed, "Vera's own").await);
    let (status, body) = move_task(sys, &cal, &theirs, json!({"listId": list})).await;
    assert_eq!(
        (status, error_status(&body)),
        (403, "PERMISSION_DENIED"),
        "{body}"
    );
    assert_eq!(
        get_task(sys, &vera, &theirs).await.1["listId"],
        viewed.as_str()
    );

    // Moving the subtask to the top level leaves its old parent without it.
    let (status, body) = move_task(sys, &cal, &sub, json!({"parentId": ""})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["parentId"], "", "{body}");
    assert_eq!(get_task(sys, &cal, &b).await.1["subtaskCount"], 0);
    // A parent in another list than the one moved into is refused.
    let (status, body) = move_task(sys, &cal, &sub, json!({"listId": list, "parentId": b})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(get_task(sys, &cal, &sub).await.1["listId"], shared.as_str());

    // Only a move moves: PUT (which resets what it leaves out) and PATCH
    // keep the task's list and parent.
    let (status, body) = sys
        .call(
            "PUT",
            &format!("/v1/tasks/{sub}"),
            Some(&cal.token),
            Some(json!({"title": "b.1 again"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = sys
        .call(
            "PATCH",
            &format!("/v1/tasks/{a}"),
            Some(&cal.token),
            Some(json!({"title": "a again", "listId": shared, "parentId": b})),
        )
        .await;
    assert!(status == 200 || status == 400, "{body}");
    let (_, kept) = get_task(sys, &cal, &sub).await;
    assert_eq!(
        (kept["listId"].as_str(), kept["parentId"].as_str()),
        (Some(shared.as_str()), Some("")),
        "{kept}"
    );
    let (_, kept) = get_task(sys, &cal, &a).await;
    assert_eq!(
        (kept["listId"].as_str(), kept["parentId"].as_str()),
        (Some(list.as_str()), Some("")),
        "{kept}"
    );
}

both_databases!(concurrent_moves_leave_distinct_positions_and_pages_see_each_task_once);
async fn concurrent_moves_leave_distinct_positions_and_pages_see_each_task_once(sys: &TestSystem) {
    let rae = user(sys, "rae@example.com", "Rae").await;
    let list = id(&create_list(sys, &rae, "Race").await);
    let mut movers = Vec::new();
    for i in 0..20 {
        movers.push(id(
            &create_task(sys, &rae, &list, &format!("mover {i}")).await
        ));
    }
    let anchor = id(&create_task(sys, &rae, &list, "anchor").await);

    // Every mover, at once, to just after the anchor (which is last).
    let moves = movers
        .iter()
        .map(|task| move_task(sys, &rae, task, json!({"afterId": anchor})));
    for (status, body) in futures::future::join_all(moves).await {
        assert_eq!(status, 200, "{body}");
    }

    let all = task_page(
        sys,
        &rae,
        &format!("listId={list}&parentId=root&orderBy=position&pageSize=100"),
    )
    .await;
    let tasks = all["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 21, "{all}");
    assert_eq!(id(&tasks[0]), anchor, "every mover went after the anchor");
    let positions: HashSet<_> = tasks.iter().map(|t| str_of(&t["position"])).collect();
    assert_eq!(positions.len(), 21, "positions collide: {all}");
    let order = ids(&all);

    // Paging three at a time sees each task once, in the same order.
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let page = task_page(
            sys,
            &rae,
            &format!("listId={list}&parentId=root&orderBy=position&pageSize=3&pageToken={token}"),
        )
        .await;
        let got = ids(&page);
        assert!(got.len() <= 3, "{page}");
        paged.extend(got);
        token = page["nextPageToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if token.is_empty() {
            break;
        }
        assert!(paged.len() <= 21, "paging does not end: {paged:?}");
    }
    assert_eq!(paged, order);
}

both_databases!(over_grpc_a_viewer_is_denied_writes_and_a_stranger_finds_nothing);
async fn over_grpc_a_viewer_is_denied_writes_and_a_stranger_finds_nothing(sys: &TestSystem) {
    use todo_proto::todo::task::v1::task_service_client::TaskServiceClient;
    use todo_proto::todo::task::v1::{
        CreateTaskRequest, DeleteTaskRequest, GetListRequest, GetTaskRequest, Task,
    };

    let owner = user(sys, "gina@example.com", "Gina").await;
    let viewer = user(sys, "vic@example.com", "Vic").await;
    let stranger = user(sys, "nell@example.com", "Nell").await;
    let list = id(&create_list(sys, &owner, "Over gRPC").await);
    let task = id(&create_task(sys, &owner, &list, "wire").await);
    join(sys, &owner, &list, &viewer, "VIEWER").await;

    let mut grpc = TaskServiceClient::connect(format!("http://{}", sys.addr.task))
        .await
        .unwrap();

    // The viewer reads…
    let seen = grpc
        .get_task(authed(&viewer, GetTaskRequest { id: task.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.list_id, list);
    // …and may not write.
    let err = grpc
        .delete_task(authed(&viewer, DeleteTaskRequest { id: task.clone() }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    let err = grpc
        .create_task(authed(
            &viewer,
            CreateTaskRequest {
                task: Some(Task {
                    title: "not mine to add".into(),
                    list_id: list.clone(),
                    ..Task::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");

    // The stranger gets NOT_FOUND, as for an id that names nothing.
    let err = grpc
        .get_task(authed(&stranger, GetTaskRequest { id: task.clone() }))
        .await
        .unwrap_err();
    let none = grpc
        .get_task(authed(&stranger, GetTaskRequest { id: missing() }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert_eq!(err.message(), none.message());
    let err = grpc
        .get_list(authed(&stranger, GetListRequest { id: list.clone() }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    let err = grpc
        .delete_task(authed(&stranger, DeleteTaskRequest { id: task.clone() }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    assert_eq!(
        get_task(sys, &owner, &task).await.0,
        200,
        "nothing was deleted"
    );
}
