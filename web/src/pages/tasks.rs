//! A list's tasks (and a task's subtasks) in the order users arranged
//! them, with their filters; creating, editing, ticking off and deleting.
//! Dues, recurrences and reminders are read and shown in the user's time
//! zone (one GetMe per page), with the parts in [`crate::schedule`].
//! Moving is in [`crate::pages::moves`].

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;
use todo_proto::todo::task::v1::{
    CreateTaskRequest, DeleteTaskRequest, GetTaskRequest, Link, LinkState, ListTasksRequest,
    Priority, Task, UpdateTaskRequest,
};

use crate::forms::Errors;
use crate::i18n::Lang;
use crate::page::{Chrome, Ctx, Form};
use crate::pages::lists::{ListView, all_lists, get_list};
use crate::schedule::{
    self, DUE_FILTERS, DueFilter, Now, REPEATS, ReminderRow, RepeatForm, Tz, UNITS, WEEKDAYS,
};

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

/// The reminder rows the form offers: as many as a task may have.
pub const REMINDER_ROWS: usize = 5;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Filter {
    /// `open` (the default), `done` or `all`.
    pub show: String,
    pub label: String,
    /// One of [`DUE_FILTERS`]' values; empty for any.
    pub due: String,
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

    pub fn due(&self) -> DueFilter {
        DueFilter::from_query(&self.due)
    }

    /// The tasks under `parent` (a task id, or `root`) of list `list_id`
    /// that the filter lets through, in the order users arranged them,
    /// with the due filter's bounds in the user's days of `now`. What the
    /// service returns still goes through [`Self::keeps`].
    pub fn request(&self, list_id: &str, parent: &str, now: &Now) -> ListTasksRequest {
        let (due_after, due_before) = self.due().bounds(now);
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
            due_after,
            due_before,
            has_due: self.due().has_due(),
            ..ListTasksRequest::default()
        }
    }

    /// Whether the page shows `task`, one the request returned.
    pub fn keeps(&self, task: &Task, now: &Now) -> bool {
        self.due().keeps(task, now)
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
    /// The due in the user's zone: a date for an all-day due, else date
    /// and time; empty for none.
    pub due: String,
    /// The due for `<time datetime>`: the date, or the instant in UTC.
    pub due_machine: String,
    /// The recurrence in words; empty for none.
    pub repeats: String,
    /// How many reminders, in words; empty for none.
    pub reminders: String,
    pub parent_id: String,
    pub subtask_count: i32,
    pub links: Vec<LinkView>,
}

/// A link in a task's text with what its page says. Its image is not
/// shown: the page would load it from a third party.
pub struct LinkView {
    /// http or https only: the task service records no other.
    pub url: String,
    pub title: String,
    pub site_name: String,
    pub description: String,
    /// Not fetched yet.
    pub pending: bool,
}

impl LinkView {
    fn from(link: Link) -> Self {
        Self {
            pending: link.state() == LinkState::Pending,
            url: link.url,
            title: link.title,
            site_name: link.site_name,
            description: link.description,
        }
    }
}

impl TaskView {
    fn from(task: Task, tz: Tz, lang: Lang) -> Self {
        let (due, due_machine) = match (&task.due_date, &task.due_time) {
            (Some(day), _) => (schedule::date_text(day), schedule::date_text(day)),
            (None, Some(at)) => (schedule::local_text(at, tz), schedule::rfc3339(at)),
            (None, None) => (String::new(), String::new()),
        };
        let repeats = if task.recurrence.is_empty() {
            String::new()
        } else {
            schedule::describe(&task.recurrence, lang)
        };
        Self {
            priority: priority_key(task.priority),
            due,
            due_machine,
            repeats,
            reminders: schedule::reminders_text(task.reminders.len(), lang),
            id: task.id,
            title: task.title,
            description: task.description,
            done: task.done,
            labels: task.labels,
            parent_id: task.parent_id,
            subtask_count: task.subtask_count,
            links: task.links.into_iter().map(LinkView::from).collect(),
        }
    }
}

/// The fields of the create and edit forms, as typed; named as the API
/// names them where there is one field for one of the API's, so that the
/// services' field errors find their fields. Read from the raw pairs, as
/// the weekday checkboxes share one name.
#[derive(Debug, Default, Deserialize)]
#[serde(from = "Vec<(String, String)>")]
pub struct TaskForm {
    pub title: String,
    pub description: String,
    pub priority: String,
    /// Comma-separated.
    pub labels: String,
    /// `date`: due all day.
    pub due_date: String,
    /// `datetime-local`, in the user's zone.
    pub due_time: String,
    pub repeat: RepeatForm,
    /// Rows `reminder{i}Before`, `reminder{i}Unit`, `reminder{i}At`.
    pub reminders: [ReminderRow; REMINDER_ROWS],
    /// The edit form's way back: the page it was opened from.
    pub back: String,
}

impl From<Vec<(String, String)>> for TaskForm {
    fn from(pairs: Vec<(String, String)>) -> Self {
        let mut form = Self::default();
        for (name, value) in pairs {
            match name.as_str() {
                "title" => form.title = value,
                "description" => form.description = value,
                "priority" => form.priority = value,
                "labels" => form.labels = value,
                "dueDate" => form.due_date = value,
                "dueTime" => form.due_time = value,
                "repeat" => form.repeat.choice = value,
                "byday" => form.repeat.tick(&value),
                "recurrence" => form.repeat.rule = value,
                "repeatCount" => form.repeat.count = value,
                "repeatUntil" => form.repeat.until = value,
                "back" => form.back = value,
                other => {
                    let Some((i, part)) = reminder_field(other) else {
                        continue;
                    };
                    let row = &mut form.reminders[i];
                    match part {
                        "Before" => row.before = value,
                        "Unit" => row.unit = value,
                        "At" => row.at = value,
                        _ => {}
                    }
                }
            }
        }
        form
    }
}

/// The row and part of a reminder field's name (`reminder2At`).
fn reminder_field(name: &str) -> Option<(usize, &str)> {
    let rest = name.strip_prefix("reminder")?;
    let digits = rest.find(|c: char| !c.is_ascii_digit())?;
    let row: usize = rest[..digits].parse().ok()?;
    (row < REMINDER_ROWS).then_some((row, &rest[digits..]))
}

/// The error key of reminder row `i`.
fn row_key(i: usize) -> String {
    format!("reminder{i}")
}

impl TaskForm {
    /// The form showing `task`, its times in `tz`.
    fn of(task: &Task, back: String, tz: Tz) -> Self {
        let mut reminders: [ReminderRow; REMINDER_ROWS] = Default::default();
        for (row, reminder) in reminders.iter_mut().zip(&task.reminders) {
            *row = ReminderRow::of(reminder, tz);
        }
        Self {
            title: task.title.clone(),
            description: task.description.clone(),
            priority: task.priority.to_string(),
            labels: task.labels.join(", "),
            due_date: task
                .due_date
                .as_ref()
                .map(schedule::date_text)
                .unwrap_or_default(),
            due_time: task
                .due_time
                .as_ref()
                .map(|at| schedule::local_input(at, tz))
                .unwrap_or_default(),
            repeat: RepeatForm::of(&task.recurrence),
            reminders,
            back,
        }
    }

    /// The task the form describes, its local times read in `tz`, or the
    /// errors of the fields this side parses (the services check
    /// everything else).
    fn task(&self, lang: Lang, tz: Tz) -> Result<Task, Errors> {
        let mut errors = Errors::none();
        let priority = match self.priority.trim() {
            "" => 0,
            raw => match raw.parse::<i32>() {
                Ok(p) if PRIORITIES.iter().any(|(value, _)| *value == p) => p,
                _ => {
                    errors.add("priority", lang.t("err_priority"));
                    0
                }
            },
        };
        let due_date = match self.due_date.trim() {
            "" => None,
            raw => {
                let day = schedule::read_date(raw);
                if day.is_none() {
                    errors.add("dueDate", lang.t("err_date"));
                }
                day
            }
        };
        let due_time = match self.due_time.trim() {
            "" => None,
            raw => {
                let at = schedule::read_local(raw, tz);
                if at.is_none() {
                    errors.add("dueTime", lang.t("err_due"));
                }
                at
            }
        };
        if !self.due_date.trim().is_empty() && !self.due_time.trim().is_empty() {
            errors.add("dueTime", lang.t("err_due_both"));
        }
        let recurrence = self.repeat.rule(lang, &mut errors);
        let mut reminders = Vec::new();
        for (i, row) in self.reminders.iter().enumerate() {
            if row.is_empty() {
                continue;
            }
            match row.reminder(tz) {
                Ok(reminder) => reminders.push(reminder),
                Err(key) => errors.add(&row_key(i), lang.t(key)),
            }
        }
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
            due_date,
            due_time,
            recurrence,
            reminders,
            ..Task::default()
        })
    }

    /// The errors of a refused write, each at the form's field: a
    /// reminder's at its row (the request listed the filled rows only, so
    /// `reminders[1]` is the second filled row), the rest by the path's
    /// last part.
    fn errors(&self, status: &tonic::Status, lang: Lang) -> Errors {
        Errors::from_status_named(status, lang, |path| {
            let path = path.strip_prefix("task.").unwrap_or(path);
            if let Some(rest) = path.strip_prefix("reminders[") {
                let sent = rest.split(']').next().and_then(|i| i.parse::<usize>().ok());
                let row = sent.and_then(|sent| {
                    self.reminders
                        .iter()
                        .enumerate()
                        .filter(|(_, row)| !row.is_empty())
                        .nth(sent)
                        .map(|(i, _)| i)
                });
                return row.map_or_else(|| "reminders".to_owned(), row_key);
            }
            match path {
                // The old single field is the first absolute reminder.
                "remindTime" => "reminders".to_owned(),
                _ => path.rsplit('.').next().unwrap_or_default().to_owned(),
            }
        })
    }

    /// Whether the reminders fieldset has anything to show open.
    pub fn has_reminders(&self) -> bool {
        self.reminders.iter().any(|row| !row.is_empty())
    }

    /// The error key of reminder row `i`, for the template.
    pub fn row_key(&self, i: &usize) -> String {
        row_key(*i)
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
    pub fn here(&self) -> String {
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

    /// Where the page's "new task from a web page" form posts; a subtasks
    /// page has none.
    fn page_form_action(&self) -> String {
        match self {
            Self::Default | Self::Subtasks(_) => "/tasks/from-url".to_owned(),
            Self::List(id) => format!("/lists/{id}/from-url"),
        }
    }
}

/// What a page shows around its tasks: the list (with the caller's role),
/// the parent task of a subtasks page, and the lists a task could move to.
struct Place {
    list: ListView,
    parent: Option<Task>,
    targets: Vec<ListView>,
}

/// The page's list, its parent task and the move targets, in as few
/// task-service round trips in sequence as the page allows: one for a
/// list's page and the default list, two for a subtasks page (the task
/// first, for its list).
async fn place(ctx: &Ctx, at: &At) -> Result<Place, tonic::Status> {
    let (list, parent, lists) = match at {
        At::Default => {
            let mut lists = all_lists(ctx).await?;
            let Some(at) = lists.iter().position(|l| l.is_default) else {
                return Err(tonic::Status::not_found("no default list"));
            };
            let list = lists.remove(at);
            (list, None, Ok(lists))
        }
        At::List(id) => {
            let (list, lists) = list_and_lists(ctx, id).await?;
            (list, None, lists)
        }
        At::Subtasks(id) => {
            let request = ctx.request(GetTaskRequest { id: id.clone() });
            let task = ctx.services().task.clone().get_task(request).await?;
            let task = task.into_inner();
            let (list, lists) = list_and_lists(ctx, &task.list_id).await?;
            (list, Some(task), lists)
        }
    };
    // A VIEWER moves nothing, so needs no targets (nor the lists they
    // come from, which may then have failed unseen).
    let targets = if list.can_write() {
        lists?
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

/// List `id` and, side by side, all the caller's lists; only the first
/// is needed for certain, so only its failure fails here.
async fn list_and_lists(
    ctx: &Ctx,
    id: &str,
) -> Result<(ListView, Result<Vec<ListView>, tonic::Status>), tonic::Status> {
    let (list, lists) = tokio::join!(get_list(ctx, id), all_lists(ctx));
    Ok((list?, lists))
}

/// What the task form offers, the same wherever it is shown.
pub struct Choices {
    pub priorities: &'static [(i32, &'static str)],
    pub repeats: &'static [(&'static str, &'static str)],
    pub weekdays: &'static [(&'static str, &'static str, &'static str)],
    pub units: &'static [(&'static str, &'static str, i64)],
    /// The user's zone, which the form's dates and times are read in.
    pub zone: &'static str,
}

impl Choices {
    fn in_zone(tz: Tz) -> Self {
        Self {
            priorities: &PRIORITIES,
            repeats: &REPEATS,
            weekdays: &WEEKDAYS,
            units: &UNITS,
            zone: tz.name(),
        }
    }
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
    from_url_action: String,
    from_url: FromUrlForm,
    show: &'static str,
    label: String,
    due: &'static str,
    due_filters: &'static [(&'static str, &'static str)],
    form: TaskForm,
    errors: Errors,
    choices: Choices,
}

impl TasksPage {
    fn is_due(&self, value: &&str) -> bool {
        self.due == *value
    }

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
    let (form, from_url) = (TaskForm::default(), FromUrlForm::default());
    render(ctx, at, filter, None, form, Errors::none(), from_url).await
}

/// The page `at` in the user's zone `tz`, with the create form holding
/// `form` and its `errors`.
async fn show(
    ctx: Ctx,
    at: At,
    filter: Filter,
    tz: Tz,
    form: TaskForm,
    errors: Errors,
) -> Response {
    show_with(ctx, at, filter, tz, form, errors, FromUrlForm::default()).await
}

/// As [`show`], with the "new task from a web page" form holding
/// `from_url`.
pub async fn show_with(
    ctx: Ctx,
    at: At,
    filter: Filter,
    tz: Tz,
    form: TaskForm,
    errors: Errors,
    from_url: FromUrlForm,
) -> Response {
    render(ctx, at, filter, Some(tz), form, errors, from_url).await
}

/// As [`show_with`], in the zone `known`, or else the user's, asked for
/// alongside the rest. The calls that need no other's answer go out side
/// by side: the zone, the place, the header's counts and, where the list
/// is in the address and no due filter needs the zone, the tasks; else the
/// tasks follow. A failure ends on the error page of the first of the
/// zone, the place and the tasks that failed, as one after another would.
async fn render(
    ctx: Ctx,
    at: At,
    filter: Filter,
    known: Option<Tz>,
    form: TaskForm,
    errors: Errors,
    from_url: FromUrlForm,
) -> Response {
    let zone = async {
        match known {
            Some(tz) => Ok(tz),
            None => schedule::user_zone(&ctx).await,
        }
    };
    // Without a due filter the request is the same in every zone.
    let early = match &at {
        At::List(id) if filter.due() == DueFilter::Any => Some(id.as_str()),
        _ => None,
    };
    let tasks_early = async {
        match early {
            Some(id) => Some(list_tasks(&ctx, &filter, id, "root", &Now::in_zone(Tz::UTC)).await),
            None => None,
        }
    };
    let (tz, place, c, tasks_early) = tokio::join!(
        zone,
        place(&ctx, &at),
        ctx.chrome("tasks_title"),
        tasks_early
    );
    let tz = match tz {
        Ok(tz) => tz,
        Err(status) => return ctx.failed(&status).await,
    };
    let place = match place {
        Ok(place) => place,
        Err(status) => return ctx.failed(&status).await,
    };
    let now = Now::in_zone(tz);
    let tasks = match tasks_early {
        Some(tasks) => tasks,
        None => {
            let parent = place.parent.as_ref().map_or("root", |p| p.id.as_str());
            list_tasks(&ctx, &filter, &place.list.id, parent, &now).await
        }
    };
    let tasks = match tasks {
        Ok(tasks) => tasks,
        Err(status) => return ctx.failed(&status).await,
    };
    let status = if errors.is_empty() && from_url.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let parent = place.parent.map(|task| TaskView::from(task, tz, ctx.lang));
    let mut c = c;
    c.heading = match &parent {
        Some(parent) => parent.title.clone(),
        None => place.list.title.clone(),
    };
    let page = TasksPage {
        c,
        list: place.list,
        parent,
        targets: place.targets,
        tasks: tasks
            .into_iter()
            .filter(|task| filter.keeps(task, &now))
            .map(|task| TaskView::from(task, tz, ctx.lang))
            .collect(),
        here: at.here(),
        create_action: at.create_action(),
        from_url_action: at.page_form_action(),
        from_url,
        show: filter.show(),
        due: filter.due().as_str(),
        due_filters: &DUE_FILTERS,
        label: filter.label,
        form,
        errors,
        choices: Choices::in_zone(tz),
    };
    ctx.page_with_status(status, &page)
}

/// The tasks under `parent` of list `list_id` that `filter` asks for.
async fn list_tasks(
    ctx: &Ctx,
    filter: &Filter,
    list_id: &str,
    parent: &str,
    now: &Now,
) -> Result<Vec<Task>, tonic::Status> {
    let request = ctx.request(filter.request(list_id, parent, now));
    let list = ctx.services().task.clone().list_tasks(request).await?;
    Ok(list.into_inner().tasks)
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
    let tz = match schedule::user_zone(&ctx).await {
        Ok(tz) => tz,
        Err(status) => return ctx.failed(&status).await,
    };
    let task = match form.task(ctx.lang, tz) {
        Ok(task) => task,
        Err(errors) => return show(ctx, at, Filter::default(), tz, form, errors).await,
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
            let errors = form.errors(&status, ctx.lang);
            on_write_error(ctx, &status, errors, |ctx, errors| {
                show(ctx, at, Filter::default(), tz, form, errors)
            })
            .await
        }
    }
}

/// A refused write (a VIEWER's forged form, a list that is gone) ends on
/// the error page, as no form on the page could show it; anything else
/// goes back to the form through `reshow`, with `errors`.
async fn on_write_error<F, Fut>(
    ctx: Ctx,
    status: &tonic::Status,
    errors: Errors,
    reshow: F,
) -> Response
where
    F: FnOnce(Ctx, Errors) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    match status.code() {
        tonic::Code::PermissionDenied | tonic::Code::NotFound => ctx.failed(status).await,
        _ => reshow(ctx, errors).await,
    }
}

#[derive(Template)]
#[template(path = "task_edit.html")]
struct EditPage {
    c: Chrome,
    id: String,
    form: TaskForm,
    errors: Errors,
    choices: Choices,
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
    let tz = match schedule::user_zone(&ctx).await {
        Ok(tz) => tz,
        Err(status) => return ctx.failed(&status).await,
    };
    let request = ctx.request(GetTaskRequest { id: id.clone() });
    match ctx.services().task.clone().get_task(request).await {
        Ok(task) => {
            let form = TaskForm::of(&task.into_inner(), back.back, tz);
            let c = ctx.chrome("edit_task").await;
            ctx.page(&EditPage {
                c,
                id,
                form,
                errors: Errors::none(),
                choices: Choices::in_zone(tz),
            })
        }
        Err(status) => ctx.failed(&status).await,
    }
}

pub async fn edit(Path(id): Path<String>, Form { mut ctx, form }: Form<TaskForm>) -> Response {
    if let Err(to_sign_in) = ctx.require_session().await {
        return to_sign_in;
    }
    let tz = match schedule::user_zone(&ctx).await {
        Ok(tz) => tz,
        Err(status) => return ctx.failed(&status).await,
    };
    let task = match form.task(ctx.lang, tz) {
        Ok(task) => task,
        Err(errors) => return edit_again(ctx, id, form, errors, tz).await,
    };
    let request = ctx.request(UpdateTaskRequest {
        task: Some(Task {
            id: id.clone(),
            ..task
        }),
        // Exactly the form's fields: an emptied one is cleared. Of the two
        // dues at most one is set, and setting it clears the other.
        update_mask: Some(prost_types::FieldMask {
            paths: [
                "title",
                "description",
                "priority",
                "labels",
                "due_time",
                "due_date",
                "recurrence",
                "reminders",
            ]
            .map(str::to_owned)
            .to_vec(),
        }),
    });
    match ctx.services().task.clone().update_task(request).await {
        Ok(_) => ctx.redirect_back(&form.back, "/tasks"),
        Err(status) => {
            let errors = form.errors(&status, ctx.lang);
            on_write_error(ctx, &status, errors, |ctx, errors| {
                edit_again(ctx, id, form, errors, tz)
            })
            .await
        }
    }
}

/// The edit form again, with the input kept and its errors.
async fn edit_again(ctx: Ctx, id: String, form: TaskForm, errors: Errors, tz: Tz) -> Response {
    let c = ctx.chrome("edit_task").await;
    ctx.page_with_status(
        StatusCode::BAD_REQUEST,
        &EditPage {
            c,
            id,
            form,
            errors,
            choices: Choices::in_zone(tz),
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

/// The form "New task from a web page" (handled in `from_url`) as
/// typed, and its errors when shown again.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FromUrlForm {
    pub url: String,
    #[serde(rename = "listId")]
    pub list_id: String,
    #[serde(skip)]
    pub errors: Errors,
}

impl FromUrlForm {
    /// Whether `list_id` is the list the form had chosen.
    pub fn chose(&self, list_id: &str) -> bool {
        self.list_id == list_id
    }
}
