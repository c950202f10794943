//! The internal RPCs that other services call for shared lists: `Notify`
//! and the invitation e-mail, on a fresh database each.

use todo_common::clock::{new_id, now_micros};
use todo_common::time_zone::{self as zone, Tz};
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

fn zone_request(user_id: &str, zone: &str, revision: i64) -> SetTimeZoneRequest {
    SetTimeZoneRequest {
        user_id: user_id.into(),
        time_zone: zone.into(),
        revision,
    }
}

async fn zone_of(state: &State, user_id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT time_zone FROM time_zones WHERE user_id = ?")
        .bind(user_id)
        .fetch_optional(&state.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn set_time_zone_keeps_the_highest_revision_and_refuses_unknown_zones() {
    let dir = tempfile::tempdir().unwrap();
    let state = testing::state(&dir).await;
    let user = new_id();
    for (zone, revision) in [("Europe/Berlin", 20), ("Asia/Tokyo", 10), ("UTC", 20)] {
        state
            .set_time_zone(Request::new(zone_request(&user, zone, revision)))
            .await
            .unwrap();
    }
    assert_eq!(
        zone_of(&state, &user).await.as_deref(),
        Some("Europe/Berlin")
    );
    let status = state
        .set_time_zone(Request::new(zone_request(&user, "Europe/Atlantis", 30)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("timeZone:"), "{status:?}");
    let status = state
        .set_time_zone(Request::new(zone_request("ada", "UTC", 0)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        zone_of(&state, &user).await.as_deref(),
        Some("Europe/Berlin")
    );
    // An erased user's zone is not recorded.
    let erased_user = new_id();
    erase(&state, &erased_user).await;
    state
        .set_time_zone(Request::new(zone_request(&erased_user, "UTC", 1)))
        .await
        .unwrap();
    assert_eq!(zone_of(&state, &erased_user).await, None);
}

fn digest_change(enabled: bool, time: &str) -> crate::domain::SettingsChange {
    crate::domain::SettingsChange::try_from(UpdateNotificationSettingsRequest {
        email_reminders: None,
        daily_digest: Some(todo_proto::todo::notify::v1::DailyDigest {
            enabled,
            local_time: time.into(),
        }),
    })
    .unwrap()
}

async fn next_run(state: &State, user_id: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT next_run FROM digests WHERE user_id = ?")
        .bind(user_id)
        .fetch_optional(&state.db.pool)
        .await
        .unwrap()
        .flatten()
}

#[tokio::test]
async fn turning_the_digest_on_looks_the_zone_up_once() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = testing::Fakes::start().await;
    let state = testing::state_with(&dir, &fakes).await;
    let (ada, ghost) = (new_id(), new_id());
    fakes.add_user(&ada, "Asia/Tokyo");

    let settings = state
        .update_settings(&ada, &digest_change(true, "07:15"))
        .await
        .unwrap();
    assert!(settings.digest.enabled);
    assert_eq!(zone_of(&state, &ada).await.as_deref(), Some("Asia/Tokyo"));
    let run = next_run(&state, &ada).await.unwrap();
    let local = zone::local_date(run, Tz::Asia__Tokyo);
    assert_eq!(
        run,
        zone::at_local(local, settings.digest.time, Tz::Asia__Tokyo)
    );
    // Known from now on; a change the user service reports later wins.
    state
        .update_settings(&ada, &digest_change(true, ""))
        .await
        .unwrap();
    assert_eq!(fakes.data().lookups, 1);
    state
        .set_time_zone(Request::new(zone_request(
            &ada,
            "Europe/Berlin",
            now_micros(),
        )))
        .await
        .unwrap();
    let moved = next_run(&state, &ada).await.unwrap();
    let local = zone::local_date(moved, Tz::Europe__Berlin);
    assert_eq!(
        moved,
        zone::at_local(local, settings.digest.time, Tz::Europe__Berlin)
    );
    // Off: nothing scheduled, and no lookup needed.
    let off = state
        .update_settings(&ada, &digest_change(false, ""))
        .await
        .unwrap();
    assert!(!off.digest.enabled);
    assert_eq!(next_run(&state, &ada).await, None);
    assert_eq!(fakes.data().lookups, 1);

    // A user the user service does not know is in UTC.
    state
        .update_settings(&ghost, &digest_change(true, ""))
        .await
        .unwrap();
    assert_eq!(zone_of(&state, &ghost).await.as_deref(), Some("UTC"));
}

#[tokio::test]
async fn without_the_user_service_the_digest_is_not_turned_on() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = testing::Fakes::start().await;
    let state = testing::state_with(&dir, &fakes).await;
    let user = new_id();
    drop(fakes);
    let status = Status::from(
        state
            .update_settings(&user, &digest_change(true, "09:00"))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code(), Code::Unavailable);
    let settings = state.settings(&user).await.unwrap();
    assert_eq!(settings, crate::domain::NotificationSettings::default());
    assert_eq!(next_run(&state, &user).await, None);
}
