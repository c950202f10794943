//! The lists page (the caller's lists, the default one first, with their
//! role and member count; creating one) and a list's settings: renaming,
//! recolouring, and deleting it after a confirmation step.

use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;
use todo_proto::todo::task::v1::{
    CreateListRequest, DeleteListRequest, GetListRequest, ListListsRequest, Role, TaskList,
};

use crate::forms::Errors;
use crate::page::{Chrome, Ctx, Form};
use crate::pages::auth::Empty;

/// The most lists one page asks for: a user is a member of at most 1,000,
/// so one call is all of them.
const ALL_LISTS: i32 = 1000;

/// A list as the pages show it.
pub struct ListView {
    pub id: String,
    pub title: String,
    pub color: String,
    pub is_default: bool,
    pub role: Role,
    pub member_count: i32,
}

impl ListView {
    pub fn from(list: TaskList) -> Self {
        Self {
            role: Role::try_from(list.role).unwrap_or(Role::Unspecified),
            id: list.id,
            title: list.title,
            color: list.color,
            is_default: list.is_default,
            member_count: list.member_count,
        }
    }

    /// Whether the caller may change the list's tasks and name.
    pub fn can_write(&self) -> bool {
        matches!(self.role, Role::Owner | Role::Editor)
    }

    pub fn is_owner(&self) -> bool {
        self.role == Role::Owner
    }

    pub fn role_key(&self) -> &'static str {
        role_key(self.role)
    }
}

/// The catalog key of a role's name.
pub fn role_key(role: Role) -> &'static str {
    match role {
        Role::Owner => "role_owner",
        Role::Editor => "role_editor",
        Role::Viewer | Role::Unspecified => "role_viewer",
    }
}

/// The caller's lists, the default one first.
pub async fn all_lists(ctx: &Ctx) -> Result<Vec<ListView>, tonic::Status> {
    let request = ctx.request(ListListsRequest {
        page_size: ALL_LISTS,
        page_token: String::new(),
    });
    let lists = ctx.services().task.clone().list_lists(request).await?;
    Ok(lists
        .into_inner()
        .lists
        .into_iter()
        .map(ListView::from)
        .collect())
}

/// One list of the caller's, with their role in it.
pub async fn get_list(ctx: &Ctx, id: &str) -> Result<ListView, tonic::Status> {
    let request = ctx.request(GetListRequest { id: id.to_owned() });
    let list = ctx.services().task.clone().get_list(request).await?;
    Ok(ListView::from(list.into_inner()))
}

/// The fields of the create and settings forms, named as the API names
/// them so that the service's field errors find their fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListForm {
    pub title: String,
    pub color: String,
}

impl ListForm {
    pub fn of(list: &ListView) -> Self {
        Self {
            title: list.title.clone(),
            color: list.color.clone(),
        }
    }

    pub fn list(&self, id: String) -> TaskList {
        TaskList {
            id,
            title: self.title.trim().to_owned(),
            color: self.color.trim().to_owned(),
            ..TaskList::default()
        }
    }
}

#[derive(Template)]
#[template(path = "lists.html")]
struct ListsPage {
    c: Chrome,
    lists: Vec<ListView>,
    invitations: usize,
    form: ListForm,
    errors: Errors,
}

pub async fn page(mut ctx: Ctx) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    page_with(ctx, ListForm::default(), Errors::none()).await
}

/// The lists page, with the create form holding `form` and its `errors`.
async fn page_with(ctx: Ctx, form: ListForm, errors: Errors) -> Response {
    let lists = match all_lists(&ctx).await {
        Ok(lists) => lists,
        Err(status) => return ctx.failed(&status).await,
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let c = ctx.chrome("lists_title").await;
    // The header's count, so the page asks only once.
    let invitations = c.invitations;
    let page = ListsPage {
        c,
        lists,
        invitations,
        form,
        errors,
    };
    ctx.page_with_status(status, &page)
}

pub async fn create(Form { mut ctx, form }: Form<ListForm>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(CreateListRequest {
        list: Some(form.list(String::new())),
    });
    match ctx.services().task.clone().create_list(request).await {
        Ok(list) => ctx.redirect(&format!("/lists/{}", list.into_inner().id)),
        Err(status) => {
            let errors = Errors::from_status(&status, ctx.lang);
            page_with(ctx, form, errors).await
        }
    }
}

#[derive(Template)]
#[template(path = "list_delete.html")]
struct DeletePage {
    c: Chrome,
    list: ListView,
}

/// The confirmation step before a list and its tasks are gone.
pub async fn delete_page(mut ctx: Ctx, Path(id): Path<String>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    match get_list(&ctx, &id).await {
        Ok(list) => {
            let mut c = ctx.chrome("delete_list").await;
            c.heading = format!("{}: {}", c.t("delete_list"), list.title);
            ctx.page(&DeletePage { c, list })
        }
        Err(status) => ctx.failed(&status).await,
    }
}

pub async fn delete(Path(id): Path<String>, Form { mut ctx, .. }: Form<Empty>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(DeleteListRequest { id });
    match ctx.services().task.clone().delete_list(request).await {
        Ok(_) => ctx.redirect("/lists"),
        Err(status) => ctx.failed(&status).await,
    }
}
