//! SQL for tasks. Every statement names the owner: a task of another user
//! is never read, changed or deleted, and looks exactly like a missing one.

use sqlx::Row;
use sqlx::any::AnyRow;
use todo_common::clock::to_timestamp;
use todo_common::db::Pool;
use todo_proto::todo::task::v1::Task;

use crate::domain::TaskFields;
use crate::error::Error;

/// A task as stored.
#[derive(Debug, Clone)]
pub struct TaskRow {
    pub id: String,
    pub fields: TaskFields,
    pub complete_time: Option<i64>,
    pub create_time: i64,
    pub update_time: i64,
    pub revision: i64,
}

const COLUMNS: &str = "id, title, description, done, complete_time, due_time, remind_time, priority, labels, \
                       create_time, update_time, revision";

impl TaskRow {
    fn from_row(r: &AnyRow) -> Result<Self, Error> {
        let labels: String = r.try_get("labels")?;
        Ok(Self {
            id: r.try_get("id")?,
            fields: TaskFields {
                title: r.try_get("title")?,
                description: r.try_get("description")?,
                done: r.try_get::<i64, _>("done")? != 0,
                due_time: r.try_get("due_time")?,
                remind_time: r.try_get("remind_time")?,
                priority: i32::try_from(r.try_get::<i64, _>("priority")?).unwrap_or_default(),
                labels: serde_json::from_str(&labels).map_err(|e| Error::Internal(e.into()))?,
            },
            complete_time: r.try_get("complete_time")?,
            create_time: r.try_get("create_time")?,
            update_time: r.try_get("update_time")?,
            revision: r.try_get("revision")?,
        })
    }

    /// The entity tag of this revision of the task.
    pub fn etag(&self) -> String {
        format!("{}-{}", self.revision, self.update_time)
    }

    pub fn to_proto(&self) -> Task {
        let f = &self.fields;
        Task {
            id: self.id.clone(),
            title: f.title.clone(),
            description: f.description.clone(),
            done: f.done,
            complete_time: self.complete_time.map(to_timestamp),
            due_time: f.due_time.map(to_timestamp),
            remind_time: f.remind_time.map(to_timestamp),
            priority: f.priority,
            labels: f.labels.clone(),
            create_time: Some(to_timestamp(self.create_time)),
            update_time: Some(to_timestamp(self.update_time)),
            etag: self.etag(),
        }
    }
}

pub async fn insert(pool: &Pool, owner: &str, t: &TaskRow) -> Result<(), Error> {
    let f = &t.fields;
    let labels = serde_json::to_string(&f.labels).map_err(|e| Error::Internal(e.into()))?;
    sqlx::query(&format!(
        "INSERT INTO tasks (owner_id, {COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(owner)
    .bind(&t.id)
    .bind(&f.title)
    .bind(&f.description)
    .bind(i64::from(f.done))
    .bind(t.complete_time)
    .bind(f.due_time)
    .bind(f.remind_time)
    .bind(i64::from(f.priority))
    .bind(labels)
    .bind(t.create_time)
    .bind(t.update_time)
    .bind(t.revision)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn get(pool: &Pool, owner: &str, id: &str) -> Result<Option<TaskRow>, Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE owner_id = ? AND id = ?"
    ))
    .bind(owner)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(TaskRow::from_row).transpose()
}

pub async fn delete(pool: &Pool, owner: &str, id: &str) -> Result<bool, Error> {
    let done = sqlx::query("DELETE FROM tasks WHERE owner_id = ? AND id = ?")
        .bind(owner)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_all(pool: &Pool, owner: &str) -> Result<u64, Error> {
    let done = sqlx::query("DELETE FROM tasks WHERE owner_id = ?")
        .bind(owner)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// Filters of a list request, already validated.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub done: Option<bool>,
    pub label: Option<String>,
    pub due_before: Option<i64>,
    pub due_after: Option<i64>,
    /// Lower-cased substring of title or description.
    pub q: Option<String>,
}

/// Escapes `%`, `_` and the escape character itself for `LIKE ... ESCAPE '!'`
/// (`!` rather than a backslash, which MySQL and SQLite quote differently).
fn like_literal(s: &str) -> String {
    s.replace('!', "!!").replace('%', "!%").replace('_', "!_")
}

/// One page in id order (ids are time-ordered, so this is creation order),
/// after `after` (keyset paging: the cost does not grow with the depth).
pub async fn list(
    pool: &Pool,
    owner: &str,
    filter: &Filter,
    descending: bool,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<TaskRow>, Error> {
    let mut sql = format!("SELECT {COLUMNS} FROM tasks WHERE owner_id = ?");
    if filter.done.is_some() {
        sql.push_str(" AND done = ?");
    }
    if filter.label.is_some() {
        sql.push_str(" AND labels LIKE ? ESCAPE '!'");
    }
    if filter.due_before.is_some() {
        sql.push_str(" AND due_time < ?");
    }
    if filter.due_after.is_some() {
        sql.push_str(" AND due_time >= ?");
    }
    if filter.q.is_some() {
        sql.push_str(
            " AND (LOWER(title) LIKE ? ESCAPE '!' OR LOWER(description) LIKE ? ESCAPE '!')",
        );
    }
    if after.is_some() {
        sql.push_str(if descending {
            " AND id < ?"
        } else {
            " AND id > ?"
        });
    }
    sql.push_str(if descending {
        " ORDER BY id DESC LIMIT ?"
    } else {
        " ORDER BY id LIMIT ?"
    });

    let mut query = sqlx::query(&sql).bind(owner);
    if let Some(done) = filter.done {
        query = query.bind(i64::from(done));
    }
    if let Some(label) = &filter.label {
        // Labels are stored as a JSON array; match the exact JSON string.
        let json = serde_json::to_string(label).map_err(|e| Error::Internal(e.into()))?;
        query = query.bind(format!("%{}%", like_literal(&json)));
    }
    if let Some(t) = filter.due_before {
        query = query.bind(t);
    }
    if let Some(t) = filter.due_after {
        query = query.bind(t);
    }
    if let Some(q) = &filter.q {
        let pattern = format!("%{}%", like_literal(q));
        query = query.bind(pattern.clone()).bind(pattern);
    }
    if let Some(after) = after {
        query = query.bind(after.to_owned());
    }
    let rows = query.bind(limit).fetch_all(pool).await?;
    rows.iter().map(TaskRow::from_row).collect()
}
