//! A list's sharing page: its members and their roles; for the OWNER
//! inviting by address, changing roles (OWNER hands the list over) and
//! removing members; for everyone else leaving. The list's settings form
//! lives here too (its handler is in [`crate::pages::lists`]).

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;
use todo_proto::todo::task::v1::{
    InviteMemberRequest, ListMembersRequest, RemoveMemberRequest, Role, UpdateListRequest,
    UpdateMemberRequest,
};
use todo_proto::todo::user::v1::GetMeRequest;

use crate::forms::Errors;
use crate::page::{Chrome, Ctx, Form};
use crate::pages::auth::Empty;
use crate::pages::lists::{ListForm, ListView, get_list, role_key};

/// The roles a member can be given, by wire name, with catalog keys.
const ROLES: [(&str, &str); 3] = [
    ("OWNER", "role_owner"),
    ("EDITOR", "role_editor"),
    ("VIEWER", "role_viewer"),
];

pub struct MemberView {
    pub user_id: String,
    pub display_name: String,
    pub role: Role,
}

impl MemberView {
    pub fn role_key(&self) -> &'static str {
        role_key(self.role)
    }

    pub fn has_role(&self, name: &str) -> bool {
        self.role.as_str_name() == name
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InviteForm {
    pub email: String,
    /// `EDITOR` or `VIEWER`; anything else is left to the service to refuse.
    pub role: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RoleForm {
    role: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Sent {
    sent: String,
}

/// What the page's forms hold after a submission, and their errors.
#[derive(Default)]
pub struct Forms {
    /// `None`: the list's current title and colour.
    pub settings: Option<ListForm>,
    pub settings_errors: Errors,
    pub invite: InviteForm,
    pub invite_errors: Errors,
    /// Whether an invitation just went out.
    pub sent: bool,
}

#[derive(Template)]
#[template(path = "sharing.html")]
struct SharingPage {
    c: Chrome,
    list: ListView,
    members: Vec<MemberView>,
    /// The caller's user id, to mark their own row.
    me: String,
    /// The settings form (named so that `list_fields.html` finds it).
    form: ListForm,
    errors: Errors,
    invite: InviteForm,
    invite_errors: Errors,
    sent: bool,
    roles: &'static [(&'static str, &'static str)],
}

pub async fn page(mut ctx: Ctx, Path(id): Path<String>, Query(sent): Query<Sent>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let forms = Forms {
        sent: sent.sent == "1",
        ..Forms::default()
    };
    page_with(ctx, &id, forms).await
}

/// The sharing page of list `id`, with `forms` as submitted.
pub async fn page_with(ctx: Ctx, id: &str, forms: Forms) -> Response {
    let list = match get_list(&ctx, id).await {
        Ok(list) => list,
        Err(status) => return ctx.failed(&status).await,
    };
    let request = ctx.request(ListMembersRequest {
        list_id: id.to_owned(),
    });
    let members = match ctx.services().task.clone().list_members(request).await {
        Ok(list) => list.into_inner().members,
        Err(status) => return ctx.failed(&status).await,
    };
    let me = match my_id(&ctx).await {
        Ok(me) => me,
        Err(status) => return ctx.failed(&status).await,
    };
    let status = if forms.settings_errors.is_empty() && forms.invite_errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut c = ctx.chrome("sharing_title").await;
    c.heading = format!("{}: {}", c.t("sharing_title"), list.title);
    let page = SharingPage {
        c,
        form: forms.settings.unwrap_or_else(|| ListForm::of(&list)),
        errors: forms.settings_errors,
        invite: forms.invite,
        invite_errors: forms.invite_errors,
        sent: forms.sent,
        list,
        members: members
            .into_iter()
            .map(|m| MemberView {
                role: Role::try_from(m.role).unwrap_or(Role::Unspecified),
                user_id: m.user_id,
                display_name: m.display_name,
            })
            .collect(),
        me,
        roles: &ROLES,
    };
    ctx.page_with_status(status, &page)
}

async fn my_id(ctx: &Ctx) -> Result<String, tonic::Status> {
    let request = ctx.request(GetMeRequest {});
    let me = ctx.services().user.clone().get_me(request).await?;
    Ok(me.into_inner().id)
}

/// The role a form names, unspecified when it names none (the service
/// then says what is wrong).
fn role_of(name: &str) -> i32 {
    Role::from_str_name(name).unwrap_or(Role::Unspecified) as i32
}

pub async fn invite(Path(id): Path<String>, Form { mut ctx, form }: Form<InviteForm>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(InviteMemberRequest {
        list_id: id.clone(),
        email: form.email.trim().to_owned(),
        role: role_of(&form.role),
    });
    match ctx.services().task.clone().invite_member(request).await {
        Ok(_) => ctx.redirect(&format!("/lists/{id}/members?sent=1")),
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            let forms = Forms {
                invite: form,
                invite_errors: Errors::from_status(&status, ctx.lang),
                ..Forms::default()
            };
            page_with(ctx, &id, forms).await
        }
        Err(status) => ctx.failed(&status).await,
    }
}

pub async fn set_role(
    Path((id, user_id)): Path<(String, String)>,
    Form { mut ctx, form }: Form<RoleForm>,
) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(UpdateMemberRequest {
        list_id: id.clone(),
        user_id,
        role: role_of(&form.role),
    });
    match ctx.services().task.clone().update_member(request).await {
        Ok(_) => ctx.redirect(&format!("/lists/{id}/members")),
        Err(status) => ctx.failed(&status).await,
    }
}

pub async fn remove(
    Path((id, user_id)): Path<(String, String)>,
    Form { mut ctx, .. }: Form<Empty>,
) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(RemoveMemberRequest {
        list_id: id.clone(),
        user_id,
    });
    match ctx.services().task.clone().remove_member(request).await {
        Ok(_) => ctx.redirect(&format!("/lists/{id}/members")),
        Err(status) => ctx.failed(&status).await,
    }
}

/// The caller leaves the list; it is then gone from their lists.
pub async fn leave(Path(id): Path<String>, Form { mut ctx, .. }: Form<Empty>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let user_id = match my_id(&ctx).await {
        Ok(me) => me,
        Err(status) => return ctx.failed(&status).await,
    };
    let request = ctx.request(RemoveMemberRequest {
        list_id: id,
        user_id,
    });
    match ctx.services().task.clone().remove_member(request).await {
        Ok(_) => ctx.redirect("/lists"),
        Err(status) => ctx.failed(&status).await,
    }
}

/// Renames or recolours a list; errors show on the sharing page, where
/// the form is.
pub async fn update(Path(id): Path<String>, Form { mut ctx, form }: Form<ListForm>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(UpdateListRequest {
        list: Some(form.list(id.clone())),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".to_owned(), "color".to_owned()],
        }),
    });
    match ctx.services().task.clone().update_list(request).await {
        Ok(_) => ctx.redirect(&format!("/lists/{id}/members")),
        Err(status) if status.code() == tonic::Code::PermissionDenied => ctx.failed(&status).await,
        Err(status) => {
            let forms = Forms {
                settings: Some(form),
                settings_errors: Errors::from_status(&status, ctx.lang),
                ..Forms::default()
            };
            page_with(ctx, &id, forms).await
        }
    }
}
