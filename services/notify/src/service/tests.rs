//! The internal RPCs that other services call for shared lists: `Notify`
//! and the invitation e-mail, on a fresh database each.

use todo_common::clock::{new_id, now_micros};
use todo_proto::todo::notify::v1::{EmailTemplate, NotificationKind};
use todo_store::erased;
use tonic::Code;

use super::*;
use crate::domain::Notification;
use crate::store::inbox;
use crate::testing;

fn notify_request(user_id: &str, dedup_key: &str, title: &str) -> NotifyRequest {
    NotifyRequest {
        dedup_key: dedup_key.into(),
        user_id: user_id.into(),
        kind: NotificationKind::Invitation.into(),
        title: title.into(),
        body: "Accept it under Invitations.".into(),
        task_id: String::new(),
    }
}

fn invitation_email(user_id: &str, dedup_key: &str) -> SendEmailRequest {
    SendEmailRequest {
        dedup_key: dedup_key.into(),
        user_id: user_id.into(),
        template: EmailTemplate::Invitation.into(),
        to_email: "grace@example.com".into(),
        list_title: "Groceries".into(),
        inviter_name: "Ada".into(),
        role: "viewer".into(),
        ..SendEmailRequest::default()
    }
}

async fn inbox_of(state: &State, user_id: &str) -> Vec<Notification> {
    inbox::list(&state.db.pool, user_id, false, None, 100)
        .await
        .unwrap()
}

/// The queued e-mail's user id and invitation fields, if it was queued.
async fn queued(state: &State, dedup_key: &str) -> Option<(String, String, String, String)> {
    sqlx::query_as(
        "SELECT user_id, list_title, inviter_name, invite_role FROM emails WHERE dedup_key = ?",
    )
    .bind(dedup_key)
    .fetch_optional(&state.db.pool)
    .await
    .unwrap()
}

async fn erase(state: &State, user_id: &str) {
    let mut conn = state.db.pool.acquire().await.unwrap();
    erased::record(&mut conn, user_id, now_micros())
        .await
        .unwrap();
}

#[tokio::test]
async fn notify_adds_one_notification_per_dedup_key() {
    let dir = tempfile::tempdir().unwrap();
    let state = testing::state(&dir).await;
    let user = new_id();
    for title in ["Ada invited you", "Ada invited you again"] {
        state
            .notify(Request::new(notify_request(&user, "invite:1", title)))
            .await
            .unwrap();
    }
    let inbox = inbox_of(&state, &user).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0].kind, i32::from(NotificationKind::Invitation));
    assert_eq!(inbox[0].title, "Ada invited you");

    let other = NotifyRequest {
        kind: NotificationKind::Sharing.into(),
        ..notify_request(&user, "removed:1", "You were removed from Groceries")
    };
    state.notify(Request::new(other)).await.unwrap();
    let kinds: Vec<i32> = inbox_of(&state, &user)
        .await
        .iter()
        .map(|n| n.kind)
        .collect();
    assert_eq!(
        kinds,
        [NotificationKind::Sharing, NotificationKind::Invitation].map(i32::from)
    );
}

#[tokio::test]
async fn notify_drops_the_notification_of_an_erased_user() {
    let dir = tempfile::tempdir().unwrap();
    let state = testing::state(&dir).await;
    let user = new_id();
    erase(&state, &user).await;
    state
        .notify(Request::new(notify_request(
            &user,
            "invite:1",
            "Ada invited you",
        )))
        .await
        .unwrap();
    assert!(inbox_of(&state, &user).await.is_empty());
}

#[tokio::test]
async fn notify_refuses_an_invalid_request_and_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = testing::state(&dir).await;
    let user = new_id();
    let reminder = NotifyRequest {
        kind: NotificationKind::Reminder.into(),
        ..notify_request(&user, "invite:1", "Reminder: pay rent")
    };
    let status = state.notify(Request::new(reminder)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("kind:"), "{status:?}");
    assert!(inbox_of(&state, &user).await.is_empty());
}

#[tokio::test]
async fn an_invitation_to_an_address_without_an_account_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let state = testing::state(&dir).await;
    state
        .send_email(Request::new(invitation_email("", "invite-mail:1")))
        .await
        .unwrap();
    let row = queued(&state, "invite-mail:1").await;
    assert_eq!(
        row,
        Some((
            String::new(),
            "Groceries".to_owned(),
            "Ada".to_owned(),
            "viewer".to_owned()
        ))
    );
}

#[tokio::test]
async fn only_an_invitation_may_leave_out_the_user_id() {
    let dir = tempfile::tempdir().unwrap();
    let state = testing::state(&dir).await;
    let welcome = SendEmailRequest {
        template: EmailTemplate::Welcome.into(),
        ..invitation_email("", "welcome:1")
    };
    let status = state.send_email(Request::new(welcome)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("userId:"), "{status:?}");
    assert_eq!(queued(&state, "welcome:1").await, None);
}

#[tokio::test]
async fn an_invitation_for_an_erased_user_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let state = testing::state(&dir).await;
    let user = new_id();
    erase(&state, &user).await;
    state
        .send_email(Request::new(invitation_email(&user, "invite-mail:1")))
        .await
        .unwrap();
    assert_eq!(queued(&state, "invite-mail:1").await, None);
}

#[tokio::test]
async fn an_invitation_with_an_unknown_role_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = testing::state(&dir).await;
    let owner = SendEmailRequest {
        role: "owner".into(),
        ..invitation_email("", "invite-mail:1")
    };
    let status = state.send_email(Request::new(owner)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("role:"), "{status:?}");
    assert_eq!(queued(&state, "invite-mail:1").await, None);
}
