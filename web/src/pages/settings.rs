//! Settings: display name, time zone, e-mail reminders, the daily
//! digest, password change, e-mail verification and account deletion.

use askama::Template;
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;
use todo_proto::todo::notify::v1::{
    DailyDigest, GetNotificationSettingsRequest, UpdateNotificationSettingsRequest,
};
use todo_proto::todo::user::v1::{
    ChangePasswordRequest, DeleteMeRequest, GetMeRequest, UpdateMeRequest,
};

use crate::forms::Errors;
use crate::page::{Chrome, Ctx, Form};

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Profile {
    display_name: String,
    time_zone: String,
    /// A checkbox: present ("on") when ticked, absent otherwise.
    email_reminders: Option<String>,
    /// A checkbox, as `email_reminders`.
    daily_digest: Option<String>,
    /// The digest's local time, `HH:MM`.
    local_time: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Deletion {
    password: String,
}

/// Which of the page's forms the errors belong to.
#[derive(Debug, Default, PartialEq, Eq)]
enum Section {
    #[default]
    None,
    Profile,
    Password,
    Delete,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    c: Chrome,
    email: String,
    email_verified: bool,
    display_name: String,
    time_zone: String,
    email_reminders: bool,
    daily_digest: bool,
    local_time: String,
    zones: Vec<&'static str>,
    section: Section,
    errors: Errors,
}

impl SettingsPage {
    fn is_zone(&self, zone: &str) -> bool {
        zone == self.time_zone
    }
}

pub async fn page(mut ctx: Ctx) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    show(ctx, None, Section::None, Errors::none()).await
}

/// The page; `profile` keeps what was typed into the profile form.
async fn show(ctx: Ctx, profile: Option<Profile>, section: Section, errors: Errors) -> Response {
    let me = match ctx
        .services()
        .user
        .clone()
        .get_me(ctx.request(GetMeRequest {}))
        .await
    {
        Ok(me) => me.into_inner(),
        Err(status) => return ctx.failed(&status).await,
    };
    let settings = ctx
        .services()
        .notify
        .clone()
        .get_notification_settings(ctx.request(GetNotificationSettingsRequest {}))
        .await;
    let settings = match settings {
        Ok(settings) => settings.into_inner(),
        Err(status) => return ctx.failed(&status).await,
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let (display_name, time_zone, email_reminders, daily_digest, local_time) = match profile {
        Some(p) => (
            p.display_name,
            p.time_zone,
            p.email_reminders.is_some(),
            p.daily_digest.is_some(),
            p.local_time,
        ),
        None => {
            let digest = settings.daily_digest.unwrap_or_default();
            (
                me.display_name,
                me.time_zone,
                settings.email_reminders,
                digest.enabled,
                digest.local_time,
            )
        }
    };
    let c = ctx.chrome("settings_title").await;
    let page = SettingsPage {
        c,
        email: me.email,
        email_verified: me.email_verified,
        display_name,
        time_zone,
        email_reminders,
        daily_digest,
        local_time,
        zones: time_zones(),
        section,
        errors,
    };
    ctx.page_with_status(status, &page)
}

pub async fn save(Form { mut ctx, form }: Form<Profile>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(UpdateMeRequest {
        display_name: Some(form.display_name.clone()),
        time_zone: Some(form.time_zone.clone()),
    });
    if let Err(status) = ctx.services().user.clone().update_me(request).await {
        let errors = Errors::from_status(&status, ctx.lang);
        return show(ctx, Some(form), Section::Profile, errors).await;
    }
    // After the profile, so a digest turned on with a new time zone is
    // timed in the new one. A malformed time leaves the notification
    // settings as they were and is shown at its field.
    let request = ctx.request(UpdateNotificationSettingsRequest {
        email_reminders: Some(form.email_reminders.is_some()),
        daily_digest: Some(DailyDigest {
            enabled: form.daily_digest.is_some(),
            local_time: form.local_time.clone(),
        }),
    });
    match ctx
        .services()
        .notify
        .clone()
        .update_notification_settings(request)
        .await
    {
        Ok(_) => ctx.redirect("/settings"),
        Err(status) => {
            let errors = Errors::from_status(&status, ctx.lang);
            show(ctx, Some(form), Section::Profile, errors).await
        }
    }
}

pub async fn change_password(Form { mut ctx, form }: Form<PasswordChange>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(ChangePasswordRequest {
        current_password: form.current_password,
        new_password: form.new_password,
    });
    match ctx.services().user.clone().change_password(request).await {
        Ok(_) => {
            // The service ends every session of the account on a password
            // change, this one included.
            ctx.sign_out();
            ctx.message(StatusCode::OK, "settings_title", "reset_done_text")
                .await
        }
        Err(status) => refused(ctx, Section::Password, &status).await,
    }
}

pub async fn delete_account(Form { mut ctx, form }: Form<Deletion>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(DeleteMeRequest {
        password: form.password,
    });
    match ctx.services().user.clone().delete_me(request).await {
        Ok(_) => {
            ctx.sign_out();
            ctx.message(StatusCode::OK, "app_name", "account_deleted_text")
                .await
        }
        Err(status) => refused(ctx, Section::Delete, &status).await,
    }
}

/// The page after a refused password-confirmed change: PERMISSION_DENIED
/// is a wrong password, shown on the form; UNAUTHENTICATED an ended
/// session, which leads to the sign-in page.
async fn refused(ctx: Ctx, section: Section, status: &tonic::Status) -> Response {
    match status.code() {
        tonic::Code::PermissionDenied => {
            show(ctx, None, section, Errors::form("err_password")).await
        }
        tonic::Code::Unauthenticated => ctx.failed(status).await,
        _ => {
            let errors = Errors::from_status(status, ctx.lang);
            show(ctx, None, section, errors).await
        }
    }
}

/// The IANA zones a user can pick, as the user service accepts them.
fn time_zones() -> Vec<&'static str> {
    let mut zones: Vec<&'static str> = todo_common::time_zone::names().collect();
    zones.sort_unstable();
    zones
}
