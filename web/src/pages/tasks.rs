//! The tasks page: the list with its filters, creating, editing, ticking
//! off and deleting.

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
    show: String,
    label: String,
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
}

impl TaskForm {
    fn of(task: &Task) -> Self {
        Self {
            title: task.title.clone(),
            description: task.description.clone(),
            priority: task.priority.to_string(),
            labels: task.labels.join(", "),
            due_time: task.due_time.as_ref().map(format_input).unwrap_or_default(),
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

    pub fn priority_selected(&self, value: &i32) -> bool {
        self.priority.trim().parse::<i32>().unwrap_or(0) == *value
    }
}

#[derive(Template)]
#[template(path = "tasks.html")]
struct TasksPage {
    c: Chrome,
    tasks: Vec<TaskView>,
    show: String,
    label: String,
    form: TaskForm,
    errors: Errors,
    priorities: &'static [(i32, &'static str)],
}

pub async fn list(mut ctx: Ctx, Query(filter): Query<Filter>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    list_with(ctx, filter, TaskForm::default(), Errors::none()).await
}

/// The list page, with the create form holding `form` and its `errors`.
async fn list_with(ctx: Ctx, filter: Filter, form: TaskForm, errors: Errors) -> Response {
    let show = match filter.show.as_str() {
        "done" | "all" => filter.show,
        _ => "open".to_owned(),
    };
    let request = ctx.request(ListTasksRequest {
        page_size: PAGE_SIZE,
        done: match show.as_str() {
            "done" => Some(true),
            "all" => None,
            _ => Some(false),
        },
        label: filter.label.trim().to_owned(),
        order_by: "createTime desc".to_owned(),
        ..ListTasksRequest::default()
    });
    let tasks = match ctx.services().task.clone().list_tasks(request).await {
        Ok(list) => list.into_inner().tasks,
        Err(status) => return ctx.failed(&status).await,
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let c = ctx.chrome("tasks_title").await;
    let page = TasksPage {
        c,
        tasks: tasks.into_iter().map(TaskView::from).collect(),
        show,
        label: filter.label,
        form,
        errors,
        priorities: &PRIORITIES,
    };
    ctx.page_with_status(status, &page)
}

pub async fn create(Form { mut ctx, form }: Form<TaskForm>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let task = match form.task(&ctx) {
        Ok(task) => task,
        Err(errors) => return list_with(ctx, Filter::default(), form, errors).await,
    };
    let request = ctx.request(CreateTaskRequest { task: Some(task) });
    match ctx.services().task.clone().create_task(request).await {
        Ok(_) => ctx.redirect("/tasks"),
        Err(status) => {
            let errors = Errors::from_status(&status);
            list_with(ctx, Filter::default(), form, errors).await
        }
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

pub async fn edit_page(mut ctx: Ctx, Path(id): Path<String>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(GetTaskRequest { id: id.clone() });
    match ctx.services().task.clone().get_task(request).await {
        Ok(task) => {
            let form = TaskForm::of(&task.into_inner());
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
    let result = match form.task(&ctx) {
        Err(errors) => Err(errors),
        Ok(task) => {
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
            ctx.services()
                .task
                .clone()
                .update_task(request)
                .await
                .map_err(|status| Errors::from_status(&status))
        }
    };
    match result {
        Ok(_) => ctx.redirect("/tasks"),
        Err(errors) => {
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
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Done {
    /// `true` ticks the task off, anything else un-ticks it.
    done: String,
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
        Ok(_) => ctx.redirect("/tasks"),
        Err(status) => ctx.failed(&status).await,
    }
}

pub async fn delete(
    Path(id): Path<String>,
    Form { mut ctx, .. }: Form<crate::pages::auth::Empty>,
) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let request = ctx.request(DeleteTaskRequest { id });
    match ctx.services().task.clone().delete_task(request).await {
        Ok(_) => ctx.redirect("/tasks"),
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
