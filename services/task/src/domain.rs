//! A task's writable fields, parsed and checked at the boundary.

use prost_types::Timestamp;
use todo_common::clock::from_timestamp;
use todo_common::status::FieldViolation;
use todo_proto::todo::task::v1::{Priority, Task};

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
    pub due_time: Option<i64>,
    pub remind_time: Option<i64>,
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
        if labels.len() > LABELS_MAX {
            errs.push(FieldViolation::new(
                "task.labels",
                format!("at most {LABELS_MAX} labels"),
            ));
        }
        if Priority::try_from(task.priority).is_err() {
            errs.push(FieldViolation::new("task.priority", "unknown priority"));
        }
        let due_time = time_field(task.due_time.as_ref(), "task.dueTime", &mut errs);
        let remind_time = time_field(task.remind_time.as_ref(), "task.remindTime", &mut errs);
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Self {
            title,
            description: task.description.clone(),
            done: task.done,
            due_time,
            remind_time,
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
    RemindTime,
    Priority,
    Labels,
}

const OUTPUT_ONLY: &[&str] = &["id", "complete_time", "create_time", "update_time", "etag"];

fn writable(path: &str) -> Option<Writable> {
    Some(match path {
        "title" => Writable::Title,
        "description" => Writable::Description,
        "done" => Writable::Done,
        "due_time" => Writable::DueTime,
        "remind_time" => Writable::RemindTime,
        "priority" => Writable::Priority,
        "labels" => Writable::Labels,
        _ => return None,
    })
}

/// `lowerCamelCase` to `snake_case`, so masks in either spelling work.
fn snake(path: &str) -> String {
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
    for f in fields {
        match f {
            Writable::Title => next.title.clone_from(&patch.title),
            Writable::Description => next.description.clone_from(&patch.description),
            Writable::Done => next.done = patch.done,
            Writable::DueTime => next.due_time = patch.due_time,
            Writable::RemindTime => next.remind_time = patch.remind_time,
            Writable::Priority => next.priority = patch.priority,
            Writable::Labels => next.labels.clone_from(&patch.labels),
        }
    }
    Ok(next)
}

fn time_field(ts: Option<&Timestamp>, field: &str, errs: &mut Vec<FieldViolation>) -> Option<i64> {
    let ts = ts?;
    let micros = from_timestamp(ts);
    if micros.is_none() {
        errs.push(FieldViolation::new(
            field,
            "must be a time between years 0001 and 9999",
        ));
    }
    micros
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
}
