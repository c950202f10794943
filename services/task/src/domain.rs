//! A task's writable fields, parsed and checked at the boundary.

use prost_types::Timestamp;
use todo_common::clock::from_timestamp;

use crate::due::Schedule;
use crate::ids::{Id, ListId, TaskId, UserId};
use todo_common::paging::page_size;
use todo_common::status::FieldViolation;
use todo_proto::todo::task::v1::{ListTasksRequest, Priority, Task};

pub const TITLE_MAX: usize = 500;
pub const DESCRIPTION_MAX: usize = 10_000;
pub const LABELS_MAX: usize = 20;
pub const LABEL_MAX: usize = 50;

/// The fields a client may write, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFields {
    pub title: String,
    pub description: String,
    pub done: bool,
    /// The due, recurrence and reminders.
    pub schedule: Schedule,
    pub priority: i32,
    pub labels: Vec<String>,
}

impl TaskFields {
    /// Parses every writable field of `task`, collecting all violations.
    /// Output-only fields are ignored.
    ///
    /// # Errors
    /// Every invalid field, named by its JSON path under `task.`.
    pub fn parse(task: &Task) -> Result<Self, Vec<FieldViolation>> {
        let mut errs = Vec::new();
        let title = task.title.trim().to_owned();
        let n = title.chars().count();
        // Zero-width and other format characters alone are no title.
        if todo_common::text::is_blank(&title) || n > TITLE_MAX {
            errs.push(FieldViolation::new(
                "task.title",
                format!("must be 1 to {TITLE_MAX} characters long"),
            ));
        }
        if task.description.chars().count() > DESCRIPTION_MAX {
            errs.push(FieldViolation::new(
                "task.description",
                format!("must be at most {DESCRIPTION_MAX} characters long"),
            ));
        }
        let mut labels: Vec<String> = Vec::new();
        for label in &task.labels {
            let label = label.trim();
            let n = label.chars().count();
            if n == 0 || n > LABEL_MAX || label.chars().any(char::is_control) {
                errs.push(FieldViolation::new(
                    "task.labels",
                    format!("each label must be 1 to {LABEL_MAX} printable characters"),
                ));
                break;
            }
            if !labels.iter().any(|l| l == label) {
                labels.push(label.to_owned());
            }
        }
        // Counted as sent: duplicates dropped afterwards still count
        // against the limit the document states.
        if task.labels.len() > LABELS_MAX {
            errs.push(FieldViolation::new(
                "task.labels",
                format!("at most {LABELS_MAX} labels"),
            ));
        }
        if Priority::try_from(task.priority).is_err() {
            errs.push(FieldViolation::new("task.priority", "unknown priority"));
        }
        // The list and parent are set on create and changed by a move
        // only; a malformed one is refused wherever it is sent.
        optional_id::<ListId>(&task.list_id, "task.listId", &mut errs);
        optional_id::<TaskId>(&task.parent_id, "task.parentId", &mut errs);
        let schedule = Schedule::parse(task, &mut errs);
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Self {
            title,
            description: task.description.clone(),
            done: task.done,
            schedule,
            priority: task.priority,
            labels,
        })
    }
}

/// The writable fields a field mask may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writable {
    Title,
    Description,
    Done,
    DueTime,
    DueDate,
    Recurrence,
    Reminders,
    RemindTime,
    Priority,
    Labels,
}

/// Fields a client may send back with the resource but not change here:
/// the list and parent change only by a move.
const OUTPUT_ONLY: &[&str] = &[
    "id",
    "complete_time",
    "create_time",
    "update_time",
    "etag",
    "list_id",
    "parent_id",
    "position",
    "subtask_count",
    "creator_id",
];

fn writable(path: &str) -> Option<Writable> {
    Some(match path {
        "title" => Writable::Title,
        "description" => Writable::Description,
        "done" => Writable::Done,
        "due_time" => Writable::DueTime,
        "due_date" => Writable::DueDate,
        "recurrence" => Writable::Recurrence,
        "reminders" => Writable::Reminders,
        "remind_time" => Writable::RemindTime,
        "priority" => Writable::Priority,
        "labels" => Writable::Labels,
        _ => return None,
    })
}

/// `lowerCamelCase` to `snake_case`, so masks in either spelling work.
pub fn snake(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The task that results from changing exactly the fields named by `paths`
/// of `current` to their values in `patch`; a named field that `patch`
/// leaves unset is cleared. Output-only paths are ignored (clients often
/// send back the whole resource); unknown paths are an error. Without a
/// mask, the fields `patch` sets to a non-default value are the mask.
///
/// # Errors
/// A violation of `updateMask` per unknown path.
pub fn apply_mask(
    current: &Task,
    patch: &Task,
    paths: Option<&[String]>,
) -> Result<Task, Vec<FieldViolation>> {
    let fields: Vec<Writable> = match paths {
        Some(paths) => {
            let mut fields = Vec::new();
            let mut errs = Vec::new();
            for raw in paths {
                let path = snake(raw.trim());
                match writable(&path) {
                    Some(f) => fields.push(f),
                    None if OUTPUT_ONLY.contains(&path.as_str()) => {}
                    None => errs.push(FieldViolation::new(
                        "updateMask",
                        format!("unknown or read-only field {raw:?}"),
                    )),
                }
            }
            if !errs.is_empty() {
                return Err(errs);
            }
            fields
        }
        None => {
            let d = Task::default();
            [
                (patch.title != d.title, Writable::Title),
                (patch.description != d.description, Writable::Description),
                (patch.done != d.done, Writable::Done),
                (patch.due_time.is_some(), Writable::DueTime),
                (patch.due_date.is_some(), Writable::DueDate),
                (!patch.recurrence.is_empty(), Writable::Recurrence),
                (!patch.reminders.is_empty(), Writable::Reminders),
                (patch.remind_time.is_some(), Writable::RemindTime),
                (patch.priority != d.priority, Writable::Priority),
                (!patch.labels.is_empty(), Writable::Labels),
            ]
            .into_iter()
            .filter_map(|(set, f)| set.then_some(f))
            .collect()
        }
    };
    let mut next = current.clone();
    // The list of reminders is applied before the single remindTime, which
    // stands for its first absolute reminder.
    let mut fields = fields;
    fields.sort_by_key(|f| *f == Writable::RemindTime);
    for f in fields {
        match f {
            Writable::Title => next.title.clone_from(&patch.title),
            Writable::Description => next.description.clone_from(&patch.description),
            Writable::Done => next.done = patch.done,
            // Setting one kind of due clears the other.
            Writable::DueTime => {
                next.due_time = patch.due_time;
                if next.due_time.is_some() {
                    next.due_date = None;
                }
            }
            Writable::DueDate => {
                next.due_date = patch.due_date;
                if next.due_date.is_some() {
                    next.due_time = None;
                }
            }
            Writable::Recurrence => next.recurrence.clone_from(&patch.recurrence),
            Writable::Reminders => {
                next.reminders.clone_from(&patch.reminders);
                // The list is complete: the old field no longer adds one.
                next.remind_time = None;
            }
            Writable::RemindTime => {
                replace_first_absolute(&mut next, patch.remind_time);
                next.remind_time = patch.remind_time;
            }
            Writable::Priority => next.priority = patch.priority,
            Writable::Labels => next.labels.clone_from(&patch.labels),
        }
    }
    Ok(next)
}

/// The old single `remindTime` written: it replaces the first absolute
/// reminder (or is added when there is none); `None` removes that one.
fn replace_first_absolute(task: &mut Task, at: Option<Timestamp>) {
    let first = task.reminders.iter().position(|r| r.remind_time.is_some());
    match (first, at) {
        (Some(i), Some(at)) => task.reminders[i].remind_time = Some(at),
        (Some(i), None) => {
            task.reminders.remove(i);
        }
        (None, Some(at)) if !task.reminders.is_empty() => {
            task.reminders.insert(
                0,
                todo_proto::todo::task::v1::Reminder {
                    remind_time: Some(at),
                    ..Default::default()
                },
            );
        }
        (None, _) => {}
    }
}

/// Which level of the tree a list request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parent {
    /// Top-level tasks only (`parentId=root`).
    Root,
    /// The direct subtasks of this task.
    Of(TaskId),
}

/// Filters of a list request, already validated.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Only this list (the caller must be a member).
    pub list_id: Option<ListId>,
    pub parent: Option<Parent>,
    pub done: Option<bool>,
    pub label: Option<String>,
    pub due_before: Option<i64>,
    pub due_after: Option<i64>,
    /// Only tasks with (true) or without (false) a due.
    pub has_due: Option<bool>,
    /// Lower-cased substring of title or description.
    pub q: Option<String>,
}

/// The sort orders a list may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    CreateTime,
    CreateTimeDesc,
    DueTime,
    DueTimeDesc,
    PriorityDesc,
    UpdateTimeDesc,
    /// The order users arranged the siblings in.
    Position,
}

impl Order {
    pub const NAMES: &'static str = "createTime, createTime desc, dueTime, dueTime desc, priority desc, updateTime desc, position";

    /// The order's stable name, as `orderBy` spells it (page-token scopes
    /// are built from it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateTime => "createTime",
            Self::CreateTimeDesc => "createTime desc",
            Self::DueTime => "dueTime",
            Self::DueTimeDesc => "dueTime desc",
            Self::PriorityDesc => "priority desc",
            Self::UpdateTimeDesc => "updateTime desc",
            Self::Position => "position",
        }
    }

    /// The order named by `orderBy`; empty is `createTime`.
    pub fn parse(raw: &str) -> Option<Self> {
        let words: Vec<&str> = raw.split_whitespace().collect();
        Some(match words.as_slice() {
            [] | ["createTime"] | ["createTime", "asc"] => Self::CreateTime,
            ["createTime", "desc"] => Self::CreateTimeDesc,
            ["dueTime"] | ["dueTime", "asc"] => Self::DueTime,
            ["dueTime", "desc"] => Self::DueTimeDesc,
            ["priority", "desc"] => Self::PriorityDesc,
            ["updateTime", "desc"] => Self::UpdateTimeDesc,
            ["position"] | ["position", "asc"] => Self::Position,
            _ => return None,
        })
    }
}

/// An id given as a filter or reference: empty is none; anything else
/// must look like an id (a malformed one is a client mistake, not a miss).
pub fn optional_id<I: Id>(raw: &str, field: &str, errs: &mut Vec<FieldViolation>) -> Option<I> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    required_id(raw, field, errs)
}

/// An id a request must name: a missing or malformed one is a violation
/// of `field`, added to `errs`, so every input's problems are reported
/// together.
pub fn required_id<I: Id>(raw: &str, field: &str, errs: &mut Vec<FieldViolation>) -> Option<I> {
    I::parse(raw, field).map_err(|v| errs.push(v)).ok()
}

/// The violation of a timestamp outside what the database stores.
fn bad_time(field: &str) -> FieldViolation {
    FieldViolation::new(field, "must be a time between years 0001 and 9999")
}

/// The longest search text a list accepts, in characters.
pub const QUERY_MAX: usize = 500;

/// A list request, parsed: the page size, the filters and the order. The
/// page token stays as sent: only the service holds its key.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub size: usize,
    pub filter: Filter,
    pub order: Order,
    pub page_token: String,
}

impl TryFrom<&ListTasksRequest> for ListQuery {
    type Error = Vec<FieldViolation>;

    /// Parses every input of `req`, collecting all violations.
    fn try_from(req: &ListTasksRequest) -> Result<Self, Self::Error> {
        let mut errs = Vec::new();
        let size = page_size(req.page_size).unwrap_or_else(|v| {
            errs.push(v);
            0
        });
        let list_id = optional_id(&req.list_id, "listId", &mut errs);
        let parent = match req.parent_id.trim() {
            "" => None,
            "root" => Some(Parent::Root),
            id => optional_id(id, "parentId", &mut errs).map(Parent::Of),
        };
        let mut time = |ts: Option<&Timestamp>, field: &str| {
            ts.and_then(|t| {
                let m = from_timestamp(t);
                if m.is_none() {
                    errs.push(bad_time(field));
                }
                m
            })
        };
        let filter = Filter {
            list_id,
            parent,
            done: req.done,
            label: Some(req.label.trim().to_owned()).filter(|l| !l.is_empty()),
            due_before: time(req.due_before.as_ref(), "dueBefore"),
            due_after: time(req.due_after.as_ref(), "dueAfter"),
            has_due: req.has_due,
            q: Some(req.q.trim().to_lowercase()).filter(|q| !q.is_empty()),
        };
        if filter
            .q
            .as_ref()
            .is_some_and(|q| q.chars().count() > QUERY_MAX)
        {
            errs.push(FieldViolation::new(
                "q",
                format!("must be at most {QUERY_MAX} characters long"),
            ));
        }
        if filter
            .label
            .as_ref()
            .is_some_and(|l| l.chars().count() > LABEL_MAX)
        {
            errs.push(FieldViolation::new(
                "label",
                format!("must be at most {LABEL_MAX} characters long"),
            ));
        }
        let order = Order::parse(&req.order_by).unwrap_or_else(|| {
            errs.push(FieldViolation::new(
                "orderBy",
                format!("must be one of: {}", Order::NAMES),
            ));
            Order::CreateTime
        });
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Self {
            size,
            filter,
            order,
            page_token: req.page_token.clone(),
        })
    }
}

impl ListQuery {
    /// What a page token is bound to: the caller, the order and every
    /// filter, so a token cannot be replayed by another user or on another
    /// query. Encoded as a JSON array of the values, not with `Debug`,
    /// so a change of a type's debug output cannot void the tokens in use.
    pub fn scope(&self, owner: &UserId) -> String {
        let Filter {
            list_id,
            parent,
            done,
            label,
            due_before,
            due_after,
            has_due,
            q,
        } = &self.filter;
        let mut scope = vec![
            serde_json::json!(owner.as_str()),
            serde_json::json!(self.order.as_str()),
            serde_json::json!(done),
            serde_json::json!(label),
            serde_json::json!(due_before),
            serde_json::json!(due_after),
            serde_json::json!(q),
            serde_json::json!(list_id.as_deref()),
            serde_json::json!(match parent {
                None => None,
                Some(Parent::Root) => Some("root"),
                Some(Parent::Of(id)) => Some(id.as_str()),
            }),
        ];
        // Filters added later go last and only when given, so that the
        // tokens of queries without them stay valid across the upgrade.
        if let Some(has_due) = has_due {
            scope.push(serde_json::json!({ "hasDue": has_due }));
        }
        serde_json::Value::Array(scope).to_string()
    }
}

/// A write to an existing task.
#[derive(Debug, Clone, Copy)]
pub enum Edit<'a> {
    /// The whole writable state (`ReplaceTask`).
    Replace(&'a Task),
    /// The fields named by the mask, or every field set (`UpdateTask`).
    Update {
        patch: &'a Task,
        mask: Option<&'a [String]>,
    },
}

impl Edit<'_> {
    /// The id of the task written, as the client sent it.
    pub fn task_id(&self) -> &str {
        match self {
            Self::Replace(task) | Self::Update { patch: task, .. } => &task.id,
        }
    }

    /// The task as the edit leaves `current` (before its fields are
    /// checked).
    ///
    /// # Errors
    /// A mask naming a field that cannot be written, or a value sent
    /// outside the mask that is not valid.
    pub fn apply(&self, id: &str, current: &Task) -> Result<Task, Vec<FieldViolation>> {
        match *self {
            Self::Replace(task) => Ok(Task {
                id: id.to_owned(),
                ..task.clone()
            }),
            Self::Update { patch, mask } => {
                // A value sent is a value checked, even outside the mask:
                // the mask says what changes, not what may be malformed.
                // The list and parent never change here, but a malformed
                // one is still refused.
                let mut errs = Vec::new();
                optional_id::<ListId>(&patch.list_id, "task.listId", &mut errs);
                optional_id::<TaskId>(&patch.parent_id, "task.parentId", &mut errs);
                // Applying would let the later one win; a request that
                // sends both is refused instead.
                if patch.due_time.is_some() && patch.due_date.is_some() {
                    errs.push(FieldViolation::new(
                        "task.dueDate",
                        "give dueTime or dueDate, not both",
                    ));
                }
                if !errs.is_empty() {
                    return Err(errs);
                }
                if mask.is_some() {
                    let sent = apply_mask(current, patch, None)?;
                    TaskFields::parse(&sent)?;
                }
                apply_mask(current, patch, mask)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(title: &str) -> Task {
        Task {
            title: title.to_owned(),
            ..Task::default()
        }
    }

    #[test]
    fn title_limits() {
        assert!(TaskFields::parse(&task("")).is_err());
        assert!(TaskFields::parse(&task(" \u{200B}\u{200D}\u{FEFF} ")).is_err());
        assert!(TaskFields::parse(&task("\u{200B}a")).is_ok());
        assert!(TaskFields::parse(&task(&"é".repeat(500))).is_ok());
        assert!(TaskFields::parse(&task(&"é".repeat(501))).is_err());
    }

    #[test]
    fn labels_are_deduplicated_in_order_and_bounded() {
        let mut t = task("x");
        t.labels = vec!["b".into(), "a".into(), "b".into()];
        assert_eq!(TaskFields::parse(&t).unwrap().labels, vec!["b", "a"]);
        t.labels = (0..21).map(|i| i.to_string()).collect();
        assert!(TaskFields::parse(&t).is_err());
        t.labels = vec!["same".to_owned(); 21];
        assert!(TaskFields::parse(&t).is_err());
        t.labels = vec!["x".repeat(51)];
        assert!(TaskFields::parse(&t).is_err());
    }

    #[test]
    fn a_mask_changes_exactly_the_named_fields() {
        let current = Task {
            title: "a".into(),
            description: "keep".into(),
            priority: 2,
            ..Task::default()
        };
        let patch = Task {
            title: "b".into(),
            priority: 0,
            ..Task::default()
        };
        let paths = vec!["title".to_owned(), "priority".to_owned(), "etag".to_owned()];
        let next = apply_mask(&current, &patch, Some(&paths)).unwrap();
        assert_eq!(
            (
                next.title.as_str(),
                next.description.as_str(),
                next.priority
            ),
            ("b", "keep", 0)
        );
        let camel = vec!["dueTime".to_owned()];
        assert!(apply_mask(&current, &patch, Some(&camel)).is_ok());
        assert!(apply_mask(&current, &patch, Some(&["owner_id".to_owned()])).is_err());
    }

    #[test]
    fn without_a_mask_only_set_fields_change() {
        let current = Task {
            title: "a".into(),
            description: "keep".into(),
            ..Task::default()
        };
        let patch = Task {
            done: true,
            ..Task::default()
        };
        let next = apply_mask(&current, &patch, None).unwrap();
        assert!(next.done);
        assert_eq!(
            (next.title.as_str(), next.description.as_str()),
            ("a", "keep")
        );
    }

    #[test]
    fn every_violation_is_reported() {
        let mut t = task("");
        t.description = "d".repeat(10_001);
        t.priority = 99;
        let errs = TaskFields::parse(&t).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["task.title", "task.description", "task.priority"]);
    }

    #[test]
    fn a_list_query_collects_every_violation() {
        let req = ListTasksRequest {
            page_size: -1,
            order_by: "title".to_owned(),
            label: "l".repeat(LABEL_MAX + 1),
            q: "q".repeat(QUERY_MAX + 1),
            due_before: Some(Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            }),
            ..ListTasksRequest::default()
        };
        let errs = ListQuery::try_from(&req).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["pageSize", "dueBefore", "q", "label", "orderBy"]);
    }

    #[test]
    fn a_list_query_trims_and_folds_its_filters() {
        let req = ListTasksRequest {
            label: "  home ".to_owned(),
            q: " Milk ".to_owned(),
            order_by: "dueTime desc".to_owned(),
            ..ListTasksRequest::default()
        };
        let query = ListQuery::try_from(&req).unwrap();
        assert_eq!(query.filter.label.as_deref(), Some("home"));
        assert_eq!(query.filter.q.as_deref(), Some("milk"));
        assert_eq!(query.order, Order::DueTimeDesc);
    }

    #[test]
    fn a_page_token_scope_names_the_owner_the_order_and_every_filter() {
        let query = ListQuery::try_from(&ListTasksRequest {
            done: Some(true),
            label: "a|b".to_owned(),
            ..ListTasksRequest::default()
        })
        .unwrap();
        let (u1, u2) = (UserId::trusted("u1"), UserId::trusted("u2"));
        assert_eq!(
            query.scope(&u1),
            r#"["u1","createTime",true,"a|b",null,null,null,null,null]"#
        );
        let other = ListQuery::try_from(&ListTasksRequest {
            done: Some(true),
            label: "a".to_owned(),
            q: "b".to_owned(),
            ..ListTasksRequest::default()
        })
        .unwrap();
        assert_ne!(query.scope(&u1), other.scope(&u1));
        assert_ne!(query.scope(&u1), query.scope(&u2));
        // `hasDue` binds the token when given, and only then, so the
        // scopes of queries without it are what they were before it.
        let scope_with = |has_due| {
            ListQuery::try_from(&ListTasksRequest {
                done: Some(true),
                label: "a|b".to_owned(),
                has_due,
                ..ListTasksRequest::default()
            })
            .unwrap()
            .scope(&u1)
        };
        assert_eq!(scope_with(None), query.scope(&u1));
        assert_eq!(
            scope_with(Some(false)),
            r#"["u1","createTime",true,"a|b",null,null,null,null,null,{"hasDue":false}]"#
        );
        assert_ne!(scope_with(Some(true)), scope_with(Some(false)));
    }

    #[test]
    fn position_order_parses_with_its_filters() {
        let id = "019ad2f4-c1e8-7b3a-9f0e-6d5c4b3a2910";
        let query = ListQuery::try_from(&ListTasksRequest {
            order_by: "position".to_owned(),
            list_id: id.to_owned(),
            parent_id: "root".to_owned(),
            ..ListTasksRequest::default()
        })
        .unwrap();
        assert_eq!(query.order, Order::Position);
        assert_eq!(query.filter.parent, Some(Parent::Root));
        let errs = ListQuery::try_from(&ListTasksRequest {
            list_id: "not-an-id".to_owned(),
            parent_id: "nor-this".to_owned(),
            ..ListTasksRequest::default()
        })
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["listId", "parentId"]);
    }

    #[test]
    fn a_patch_refuses_a_malformed_list_or_parent_it_does_not_apply() {
        let current = task("a");
        let patch = Task {
            list_id: "*".to_owned(),
            parent_id: "x".to_owned(),
            ..Task::default()
        };
        let edit = Edit::Update {
            patch: &patch,
            mask: Some(&["done".to_owned()]),
        };
        let errs = edit.apply("id-1", &current).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["task.listId", "task.parentId"]);
    }

    #[test]
    fn a_required_id_reports_a_missing_or_malformed_one() {
        let mut errs = Vec::new();
        let id = "019ad2f4-c1e8-7b3a-9f0e-6d5c4b3a2910";
        let list: Option<ListId> = required_id(id, "listId", &mut errs);
        assert_eq!(list.as_deref(), Some(id));
        assert_eq!(required_id::<ListId>("", "listId", &mut errs), None);
        assert_eq!(required_id::<UserId>("x", "userId", &mut errs), None);
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["listId", "userId"]);
    }

    #[test]
    fn setting_one_kind_of_due_clears_the_other_and_both_at_once_is_refused() {
        let date = Some(todo_proto::google::r#type::Date {
            year: 2030,
            month: 1,
            day: 2,
        });
        let time = Some(Timestamp {
            seconds: 2_000_000_000,
            nanos: 0,
        });
        let timed = Task {
            due_time: time,
            ..task("a")
        };
        let dated = apply_mask(
            &timed,
            &Task {
                due_date: date,
                ..Task::default()
            },
            None,
        )
        .unwrap();
        assert_eq!((dated.due_time, dated.due_date), (None, date));
        let back = apply_mask(
            &dated,
            &Task {
                due_time: time,
                ..Task::default()
            },
            None,
        )
        .unwrap();
        assert_eq!((back.due_time, back.due_date), (time, None));
        let both = Task {
            due_time: time,
            due_date: date,
            ..Task::default()
        };
        let edit = Edit::Update {
            patch: &both,
            mask: None,
        };
        let errs = edit.apply("id-1", &timed).unwrap_err();
        assert_eq!(errs[0].field, "task.dueDate");
    }

    #[test]
    fn remind_time_stands_for_the_first_absolute_reminder() {
        use todo_proto::todo::task::v1::Reminder;
        let at = |seconds| Some(Timestamp { seconds, nanos: 0 });
        let relative = Reminder {
            before_due: Some(prost_types::Duration {
                seconds: 60,
                nanos: 0,
            }),
            ..Reminder::default()
        };
        let absolute = Reminder {
            remind_time: at(10),
            ..Reminder::default()
        };
        let current = Task {
            remind_time: at(10),
            reminders: vec![relative, absolute],
            ..task("a")
        };
        // The old field alone moves the absolute one and keeps the other.
        let moved = apply_mask(
            &current,
            &Task {
                remind_time: at(20),
                ..Task::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(moved.reminders[0], relative);
        assert_eq!(moved.reminders[1].remind_time, at(20));
        // A new list is the whole set: the old field adds nothing to it.
        let replaced = apply_mask(
            &current,
            &Task {
                reminders: vec![relative],
                ..Task::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(
            (replaced.remind_time, replaced.reminders),
            (None, vec![relative])
        );
        // Clearing it by mask removes that reminder.
        let cleared =
            apply_mask(&current, &Task::default(), Some(&["remindTime".to_owned()])).unwrap();
        assert_eq!(cleared.reminders.len(), 1);
    }

    #[test]
    fn a_replace_keeps_the_id_and_takes_every_field() {
        let current = task("old");
        let new = task("new");
        let edited = Edit::Replace(&new).apply("id-1", &current).unwrap();
        assert_eq!(edited.id, "id-1");
        assert_eq!(edited.title, "new");
    }
}
