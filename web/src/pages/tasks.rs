//! A list's tasks (and a task's subtasks) in the order users arranged
//! them, with their filters; creating, editing, ticking off and deleting.
//! Moving is in [`crate::pages::moves`].

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;
use todo_proto::todo::task::v1::{
    CreateTaskRequest, DeleteTaskRequest, GetTaskRequest, ListTasksRequest, Priority, Task,
    UpdateTaskRequest,
};

use crate::forms::Errors;
use crate::page::{Chrome, Ctx, Form};
use crate::pages::lists::{ListView, all_lists, get_list};

/// How many tasks the page lists; paging is for a later version.
const PAGE_SIZE: i32 = 200;

/// The priorities a form offers, by value, with their catalog keys.
pub const PRIORITIES: [(i32, &str); 5] = [
    (Priority::Unspecified as i32, "priority_none"),
    (Priority::Low as i32, "priority_low"),
    (Priority::Medium as i32, "priority_medium"),
    (Priority::High as i32, "priority_high"),
    (Priority::Urgent as i32, "priority_urgent"),
];

/// The format of `<input type="datetime-local">`; the time is taken as
/// UTC in this version, and the form says so.
const LOCAL_INPUT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Filter {
    /// `open` (the default), `done` or `all`.
    pub show: String,
    pub label: String,
}

impl Filter {
    /// `show` as one of the three choices.
    fn show(&self) -> &'static str {
        match self.show.as_str() {
            "done" => "done",
            "all" => "all",
            _ => "open",
        }
    }

    /// The tasks under `parent` (a task id, or `root`) of list `list_id`
    /// that the filter lets through, in the order users arranged them.
    pub fn request(&self, list_id: &str, parent: &str) -> ListTasksRequest {
        ListTasksRequest {
            page_size: PAGE_SIZE,
            done: match self.show() {
                "done" => Some(true),
                "all" => None,
                _ => Some(false),
            },
            label: self.label.trim().to_owned(),
            order_by: "position".to_owned(),
            list_id: list_id.to_owned(),
            parent_id: parent.to_owned(),
            ..ListTasksRequest::default()
        }
    }
}

/// A task as the page shows it.
pub struct TaskView {
    pub id: String,
    pub title: String,
    pub description: String,
    pub done: bool,
    pub priority: &'static str,
    pub labels: Vec<String>,
    pub due: String,
    pub parent_id: String,
    pub subtask_count: i32,
}

impl TaskView {
    fn from(task: Task) -> Self {
        Self {
            priority: priority_key(task.priority),
            due: task.due_time.as_ref().map(format_input).unwrap_or_default(),
            id: task.id,
            title: task.title,
            description: task.description,
            done: task.done,
            labels: task.labels,
            parent_id: task.parent_id,
            subtask_count: task.subtask_count,
        }
    }
}

/// The fields of the create and edit forms, as typed; named as the API
/// names them, so that the services' field errors find their fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TaskForm {
    pub title: String,
    pub description: String,
    pub priority: String,
    /// Comma-separated.
    pub labels: String,
    /// `datetime-local`, UTC.
    pub due_time: String,
    /// The edit form's way back: the page it was opened from.
    pub back: String,
}

impl TaskForm {
    fn of(task: &Task, back: String) -> Self {
        Self {
            title: task.title.clone(),
            description: task.description.clone(),
            priority: task.priority.to_string(),
            labels: task.labels.join(", "),
            due_time: task.due_time.as_ref().map(format_input).unwrap_or_default(),
            back,
        }
    }

    /// The task the form describes, or the errors of the fields this side
    /// parses (the services check everything else).
    fn task(&self, ctx: &Ctx) -> Result<Task, Errors> {
        let mut errors = Errors::none();
        let priority = match self.priority.trim() {
            "" => 0,
            raw => match raw.parse::<i32>() {
                Ok(p) if PRIORITIES.iter().any(|(value, _)| *value == p) => p,
                _ => {
                    errors.add("priority", ctx.lang.t("err_priority"));
                    0
                }
            },
        };
        let due_time = match self.due_time.trim() {
            "" => None,
            raw => match time::PrimitiveDateTime::parse(raw, LOCAL_INPUT) {
                Ok(at) => Some(prost_types::Timestamp {
                    seconds: at.assume_utc().unix_timestamp(),
                    nanos: 0,
                }),
                Err(_) => {
                    errors.add("dueTime", ctx.lang.t("err_due"));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Task {
            title: self.title.trim().to_owned(),
            description: self.description.clone(),
            priority,
            labels: self
                .labels
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            due_time,
            ..Task::default()
        })
    }

    /// Where the edit form's cancel link leads.
    pub fn back_or_tasks(&self) -> &str {
        if crate::page::is_local(&self.back) {
            &self.back
        } else {
            "/tasks"
        }
    }

    pub fn priority_selected(&self, value: &i32) -> bool {
        self.priority.trim().parse::<i32>().unwrap_or(0) == *value
    }
}

/// Which tasks a page shows.
pub enum At {
    /// `/tasks`: the top-level tasks of the caller's default list, the
    /// landing page after sign-in.
    Default,
    /// `/lists/{id}`: a list's top-level tasks.
    List(String),
    /// `/tasks/{id}/subtasks`: a task's subtasks.
    Subtasks(String),
}

impl At {
    /// The page's own address, where its forms come back to.
    fn here(&self) -> String {
        match self {
            Self::Default => "/tasks".to_owned(),
            Self::List(id) => format!("/lists/{id}"),
            Self::Subtasks(id) => format!("/tasks/{id}/subtasks"),
        }
    }

    /// Where the page's create form posts.
    fn create_action(&self) -> String {
        match self {
            Self::Default => "/tasks".to_owned(),
            Self::List(id) => format!("/lists/{id}/tasks"),
            Self::Subtasks(id) => format!("/tasks/{id}/subtasks"),
        }
    }
}

/// What a page shows around its tasks: the list (with the caller's role),
/// the parent task of a subtasks page, and the lists a task could move to.
struct Place {
    list: ListView,
    parent: Option<TaskView>,
    targets: Vec<ListView>,
}

async fn place(ctx: &Ctx, at: &At) -> Result<Place, tonic::Status> {
    let mut all = None;
    let (list, parent) = match at {
        At::Default => {
            let mut lists = all_lists(ctx).await?;
            let Some(at) = lists.iter().position(|l| l.is_default) else {
                return Err(tonic::Status::not_found("no default list"));
            };
            let list = lists.remove(at);
            all = Some(lists);
            (list, None)
        }
        At::List(id) => (get_list(ctx, id).await?, None),
        At::Subtasks(id) => {
            let request = ctx.request(GetTaskRequest { id: id.clone() });
            let task = ctx.services().task.clone().get_task(request).await?;
            let task = task.into_inner();
            (
                get_list(ctx, &task.list_id).await?,
                Some(TaskView::from(task)),
            )
        }
    };
    // A VIEWER moves nothing, so needs no targets.
    let targets = if list.can_write() {
        let lists = match all {
            Some(lists) => lists,
            None => all_lists(ctx).await?,
        };
        lists
            .into_iter()
            .filter(|l| l.can_write() && l.id != list.id)
            .collect()
    } else {
        Vec::new()
    };
    Ok(Place {
        list,
        parent,
        targets,
    })
}

#[derive(Template)]
#[template(path = "tasks.html")]
struct TasksPage {
    c: Chrome,
    list: ListView,
    parent: Option<TaskView>,
    targets: Vec<ListView>,
    tasks: Vec<TaskView>,
    here: String,
    create_action: String,
    show: &'static str,
    label: String,
    form: TaskForm,
    errors: Errors,
    priorities: &'static [(i32, &'static str)],
}

impl TasksPage {
    /// Where the link above a subtasks page leads: the parent's parent,
    /// or the list.
    fn up(&self) -> String {
        match &self.parent {
            Some(p) if !p.parent_id.is_empty() => format!("/tasks/{}/subtasks", p.parent_id),
            _ => format!("/lists/{}", self.list.id),
        }
    }
}

pub async fn default_list(ctx: Ctx, Query(filter): Query<Filter>) -> Response {
    view(ctx, At::Default, filter).await
}

pub async fn list(ctx: Ctx, Path(id): Path<String>, Query(filter): Query<Filter>) -> Response {
    view(ctx, At::List(id), filter).await
}

pub async fn subtasks(ctx: Ctx, Path(id): Path<String>, Query(filter): Query<Filter>) -> Response {
    view(ctx, At::Subtasks(id), filter).await
}

async fn view(mut ctx: Ctx, at: At, filter: Filter) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    show(ctx, at, filter, TaskForm::default(), Errors::none()).await
}

/// The page `at`, with the create form holding `form` and its `errors`.
async fn show(ctx: Ctx, at: At, filter: Filter, form: TaskForm, errors: Errors) -> Response {
    let place = match place(&ctx, &at).await {
        Ok(place) => place,
        Err(status) => return ctx.failed(&status).await,
    };
    let parent = place.parent.as_ref().map_or("root", |p| p.id.as_str());
    let request = ctx.request(filter.request(&place.list.id, parent));
    let tasks = match ctx.services().task.clone().list_tasks(request).await {
        Ok(list) => list.into_inner().tasks,
        Err(status) => return ctx.failed(&status).await,
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut c = ctx.chrome("tasks_title").await;
    c.heading = match &place.parent {
        Some(parent) => parent.title.clone(),
        None => place.list.title.clone(),
    };
    let page = TasksPage {
        c,
        list: place.list,
        parent: place.parent,
        targets: place.targets,
        tasks: tasks.into_iter().map(TaskView::from).collect(),
        here: at.here(),
        create_action: at.create_action(),
        show: filter.show(),
        label: filter.label,
        form,
        errors,
        priorities: &PRIORITIES,
    };
    ctx.page_with_status(status, &page)
}

pub async fn create_default(form: Form<TaskForm>) -> Response {
    create(At::Default, form).await
}

pub async fn create_in_list(Path(id): Path<String>, form: Form<TaskForm>) -> Response {
    create(At::List(id), form).await
}

pub async fn create_subtask(Path(id): Path<String>, form: Form<TaskForm>) -> Response {
    create(At::Subtasks(id), form).await
}

/// Creates a task in the list (or under the task) the page shows.
async fn create(at: At, Form { mut ctx, form }: Form<TaskForm>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let task = match form.task(&ctx) {
        Ok(task) => task,
        Err(errors) => return show(ctx, at, Filter::default(), form, errors).await,
    };
    // Without a list the service picks the default list, or the parent's.
    let task = match &at {
        At::Default => task,
        At::List(id) => Task {
            list_id: id.clone(),
            ..task
        },
        At::Subtasks(id) => Task {
            parent_id: id.clone(),
            ..task
        },
    };
    let request = ctx.request(CreateTaskRequest { task: Some(task) });
    match ctx.services().task.clone().create_task(request).await {
        Ok(_) => ctx.redirect(&at.here()),
        Err(status) => {
            on_write_error(ctx, status, |ctx, errors| {
                show(ctx, at, Filter::default(), form, errors)
            })
            .await
        }
    }
}

/// A refused write (a VIEWER's forged form, a list that is gone) ends on
/// the error page, as no form on the page could show it; anything else
/// goes back to the form through `reshow`.
async fn on_write_error<F, Fut>(ctx: Ctx, status: tonic::Status, reshow: F) -> Response
where
    F: FnOnce(Ctx, Errors) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    match status.code() {
        tonic::Code::PermissionDenied | tonic::Code::NotFound => ctx.failed(&status).await,
        _ => reshow(ctx, Errors::from_status(&status)).await,
    }
}

#[derive(Template)]
#[template(path = "task_edit.html")]
struct EditPage {
    c: Chrome,
    id: String,
    form: TaskForm,
    errors: Errors,
    priorities: &'static [(i32, &'static str)],
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Back {
    /// The page a form was sent from, to return to.
    back: String,
}

pub async fn edit_page(mut ctx: Ctx, Path(id): Path<String>, Query(back): Query<Back>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(GetTaskRequest { id: id.clone() });
    match ctx.services().task.clone().get_task(request).await {
        Ok(task) => {
            let form = TaskForm::of(&task.into_inner(), back.back);
            let c = ctx.chrome("edit_task").await;
            ctx.page(&EditPage {
                c,
                id,
                form,
                errors: Errors::none(),
                priorities: &PRIORITIES,
            })
        }
        Err(status) => ctx.failed(&status).await,
    }
}

pub async fn edit(Path(id): Path<String>, Form { mut ctx, form }: Form<TaskForm>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let task = match form.task(&ctx) {
        Ok(task) => task,
        Err(errors) => return edit_again(ctx, id, form, errors).await,
    };
    let request = ctx.request(UpdateTaskRequest {
        task: Some(Task {
            id: id.clone(),
            ..task
        }),
        // Exactly the form's fields: an emptied one is cleared.
        update_mask: Some(prost_types::FieldMask {
            paths: ["title", "description", "priority", "labels", "due_time"]
                .map(str::to_owned)
                .to_vec(),
        }),
    });
    match ctx.services().task.clone().update_task(request).await {
        Ok(_) => ctx.redirect_back(&form.back, "/tasks"),
        Err(status) => {
            on_write_error(ctx, status, |ctx, errors| edit_again(ctx, id, form, errors)).await
        }
    }
}

/// The edit form again, with the input kept and its errors.
async fn edit_again(ctx: Ctx, id: String, form: TaskForm, errors: Errors) -> Response {
    let c = ctx.chrome("edit_task").await;
    ctx.page_with_status(
        StatusCode::BAD_REQUEST,
        &EditPage {
            c,
            id,
            form,
            errors,
            priorities: &PRIORITIES,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Done {
    /// `true` ticks the task off, anything else un-ticks it.
    done: String,
    back: String,
}

pub async fn set_done(Path(id): Path<String>, Form { mut ctx, form }: Form<Done>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(UpdateTaskRequest {
        task: Some(Task {
            id,
            done: form.done == "true",
            ..Task::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["done".to_owned()],
        }),
    });
    match ctx.services().task.clone().update_task(request).await {
        Ok(_) => ctx.redirect_back(&form.back, "/tasks"),
        Err(status) => ctx.failed(&status).await,
    }
}

pub async fn delete(Path(id): Path<String>, Form { mut ctx, form }: Form<Back>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(DeleteTaskRequest { id });
    match ctx.services().task.clone().delete_task(request).await {
        Ok(_) => ctx.redirect_back(&form.back, "/tasks"),
        Err(status) => ctx.failed(&status).await,
    }
}

fn priority_key(value: i32) -> &'static str {
    PRIORITIES
        .iter()
        .find(|(v, _)| *v == value)
        .map_or("priority_none", |(_, key)| key)
}

fn format_input(at: &prost_types::Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(at.seconds)
        .ok()
        .and_then(|at| at.format(LOCAL_INPUT).ok())
        .unwrap_or_default()
}
