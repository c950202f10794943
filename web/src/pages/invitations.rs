//! The invitations page, where the invitation e-mail points: the pending
//! invitations to the caller's verified address, accepted or declined.

use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use todo_proto::todo::task::v1::{
    AcceptInvitationRequest, DeclineInvitationRequest, ListInvitationsRequest, Role,
};

use crate::page::{Chrome, Ctx, Form};
use crate::pages::auth::Empty;
use crate::pages::lists::role_key;

pub struct InvitationView {
    pub id: String,
    pub list_title: String,
    pub inviter_name: String,
    pub role: &'static str,
}

#[derive(Template)]
#[template(path = "invitations.html")]
struct InvitationsPage {
    c: Chrome,
    invitations: Vec<InvitationView>,
}

pub async fn page(mut ctx: Ctx) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(ListInvitationsRequest {});
    let invitations = match ctx.services().task.clone().list_invitations(request).await {
        Ok(list) => list.into_inner().invitations,
        Err(status) => return ctx.failed(&status).await,
    };
    let c = ctx.chrome("invitations_title").await;
    let invitations = invitations
        .into_iter()
        .map(|i| InvitationView {
            role: role_key(Role::try_from(i.role).unwrap_or(Role::Unspecified)),
            id: i.id,
            list_title: i.list_title,
            inviter_name: i.inviter_name,
        })
        .collect();
    ctx.page(&InvitationsPage { c, invitations })
}

/// Joins the list and goes there.
pub async fn accept(Path(id): Path<String>, Form { mut ctx, .. }: Form<Empty>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(AcceptInvitationRequest { id });
    match ctx.services().task.clone().accept_invitation(request).await {
        Ok(list) => ctx.redirect(&format!("/lists/{}", list.into_inner().id)),
        Err(status) => ctx.failed(&status).await,
    }
}

pub async fn decline(Path(id): Path<String>, Form { mut ctx, .. }: Form<Empty>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(DeclineInvitationRequest { id });
    match ctx
        .services()
        .task
        .clone()
        .decline_invitation(request)
        .await
    {
        Ok(_) => ctx.redirect("/invitations"),
        Err(status) => ctx.failed(&status).await,
    }
}
