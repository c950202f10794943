//! Moving a task: one place up or down among the siblings the page shows
//! (the buttons), after a given sibling (a drag and drop, through
//! static/app.js), or into another list.

use axum::extract::Path;
use axum::response::Response;
use serde::Deserialize;
use todo_proto::todo::task::v1::{GetTaskRequest, MoveTaskRequest};

use crate::page::{Ctx, Form};
use crate::pages::tasks::Filter;
use crate::schedule::{self, Now, Tz};

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MoveForm {
    /// `up` or `down`; ignored when `list_id` or `after` is set.
    direction: String,
    /// The sibling to place the task after, or `first`: where a drop put
    /// it. Ignored when `list_id` is set.
    after: String,
    /// The list to move the task into (to its top level, first).
    list_id: String,
    /// The page's filter, so that "up" passes the sibling the page shows
    /// above, not one it hides (a done task in the open view, say).
    show: String,
    label: String,
    due: String,
    back: String,
}

pub async fn move_task(Path(id): Path<String>, Form { mut ctx, form }: Form<MoveForm>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = if form.list_id.is_empty() && !form.after.is_empty() {
        match placed(&ctx, &id, &form.after).await {
            Ok(request) => request,
            Err(status) => return ctx.failed(&status).await,
        }
    } else if form.list_id.is_empty() {
        match step(&ctx, &id, &form).await {
            Ok(Some(request)) => request,
            // Already first or last: nothing to do.
            Ok(None) => return ctx.redirect_back(&form.back, "/tasks"),
            Err(status) => return ctx.failed(&status).await,
        }
    } else {
        MoveTaskRequest {
            id,
            list_id: form.list_id.clone(),
            ..MoveTaskRequest::default()
        }
    };
    let request = ctx.request(request);
    match ctx.services().task.clone().move_task(request).await {
        Ok(_) => ctx.redirect_back(&form.back, "/tasks"),
        Err(status) => ctx.failed(&status).await,
    }
}

/// The move to just after `after` (`first`: to the top), under the same
/// parent; the task service checks that `after` is a sibling.
async fn placed(ctx: &Ctx, id: &str, after: &str) -> Result<MoveTaskRequest, tonic::Status> {
    let request = ctx.request(GetTaskRequest { id: id.to_owned() });
    let task = ctx.services().task.clone().get_task(request).await?;
    Ok(MoveTaskRequest {
        id: id.to_owned(),
        list_id: String::new(),
        parent_id: task.into_inner().parent_id,
        after_id: if after == "first" {
            String::new()
        } else {
            after.to_owned()
        },
    })
}

/// The move one place up or down among the task's siblings as the page
/// lists them; `None` when there is no place to go.
async fn step(
    ctx: &Ctx,
    id: &str,
    form: &MoveForm,
) -> Result<Option<MoveTaskRequest>, tonic::Status> {
    let request = ctx.request(GetTaskRequest { id: id.to_owned() });
    let task = ctx.services().task.clone().get_task(request).await?;
    let task = task.into_inner();
    let filter = Filter {
        show: form.show.clone(),
        label: form.label.clone(),
        due: form.due.clone(),
    };
    // The user's days only matter to a due filter.
    let tz = if filter.due().needs_zone() {
        schedule::user_zone(ctx).await?
    } else {
        Tz::UTC
    };
    let now = Now::in_zone(tz);
    let parent = if task.parent_id.is_empty() {
        "root"
    } else {
        task.parent_id.as_str()
    };
    let request = ctx.request(filter.request(&task.list_id, parent, &now));
    let siblings: Vec<String> = ctx
        .services()
        .task
        .clone()
        .list_tasks(request)
        .await?
        .into_inner()
        .tasks
        .into_iter()
        .filter(|t| filter.keeps(t, &now))
        .map(|t| t.id)
        .collect();
    let Some(at) = siblings.iter().position(|s| s == id) else {
        return Ok(None);
    };
    // MoveTask places a task after a sibling (or first): up is after the
    // one before the previous, down is after the next.
    let after = match form.direction.as_str() {
        "up" if at == 0 => return Ok(None),
        "up" => at.checked_sub(2).map(|i| siblings[i].clone()),
        "down" => match siblings.get(at + 1) {
            Some(next) => Some(next.clone()),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(Some(MoveTaskRequest {
        id: id.to_owned(),
        // The same list and parent: an empty parent would mean the top.
        list_id: String::new(),
        parent_id: task.parent_id,
        after_id: after.unwrap_or_default(),
    }))
}
