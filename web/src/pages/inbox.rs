//! The inbox: notifications, newest first, with marking read.

use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use todo_proto::todo::notify::v1::{ListNotificationsRequest, MarkAllReadRequest, MarkReadRequest};

use crate::page::{Chrome, Ctx, Form};
use crate::pages::auth::Empty;

/// How many notifications the page lists; paging is for a later version.
const PAGE_SIZE: i32 = 100;

pub struct NotificationView {
    pub id: String,
    pub title: String,
    pub body: String,
    pub read: bool,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    c: Chrome,
    notifications: Vec<NotificationView>,
}

pub async fn list(mut ctx: Ctx) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(ListNotificationsRequest {
        page_size: PAGE_SIZE,
        ..ListNotificationsRequest::default()
    });
    let notifications = match ctx
        .services()
        .notify
        .clone()
        .list_notifications(request)
        .await
    {
        Ok(list) => list.into_inner().notifications,
        Err(status) => return ctx.failed(&status).await,
    };
    let c = ctx.chrome("inbox_title").await;
    let notifications = notifications
        .into_iter()
        .map(|n| NotificationView {
            read: n.read_time.is_some(),
            id: n.id,
            title: n.title,
            body: n.body,
        })
        .collect();
    ctx.page(&InboxPage { c, notifications })
}

pub async fn mark_read(Path(id): Path<String>, Form { mut ctx, .. }: Form<Empty>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(MarkReadRequest { id });
    match ctx.services().notify.clone().mark_read(request).await {
        Ok(_) => ctx.redirect("/inbox"),
        Err(status) => ctx.failed(&status).await,
    }
}

pub async fn mark_all_read(Form { mut ctx, .. }: Form<Empty>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(MarkAllReadRequest {});
    match ctx.services().notify.clone().mark_all_read(request).await {
        Ok(_) => ctx.redirect("/inbox"),
        Err(status) => ctx.failed(&status).await,
    }
}
