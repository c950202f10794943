//! SQL for tasks. Every statement names the owner: a task of another user
//! is never read, changed or deleted, and looks exactly like a missing one.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use todo_common::clock::to_timestamp;
use todo_proto::todo::task::v1::Task;
use todo_store::db::Pool;

use crate::domain::{Filter, Order, TaskFields};
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

/// The sort key of the due time: undated tasks sort last.
fn due_key(due_time: Option<i64>) -> i64 {
    due_time.unwrap_or(i64::MAX)
}

fn labels_json(labels: &[String]) -> Result<String, Error> {
    serde_json::to_string(labels).map_err(|e| Error::Internal(e.into()))
}

pub async fn insert(conn: &mut AnyConnection, owner: &str, t: &TaskRow) -> Result<(), Error> {
    let f = &t.fields;
    sqlx::query(&format!(
        "INSERT INTO tasks (owner_id, due_key, {COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(owner)
    .bind(due_key(f.due_time))
    .bind(&t.id)
    .bind(&f.title)
    .bind(&f.description)
    .bind(i64::from(f.done))
    .bind(t.complete_time)
    .bind(f.due_time)
    .bind(f.remind_time)
    .bind(i64::from(f.priority))
    .bind(labels_json(&f.labels)?)
    .bind(t.create_time)
    .bind(t.update_time)
    .bind(t.revision)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes `t` over the stored task if that is still at `expected_revision`;
/// `false` when a concurrent change got there first (or it is gone).
pub async fn update(
    conn: &mut AnyConnection,
    owner: &str,
    t: &TaskRow,
    expected_revision: i64,
) -> Result<bool, Error> {
    let f = &t.fields;
    let done = sqlx::query(
        "UPDATE tasks SET title = ?, description = ?, done = ?, complete_time = ?, due_time = ?, due_key = ?, \
         remind_time = ?, priority = ?, labels = ?, update_time = ?, revision = ? \
         WHERE owner_id = ? AND id = ? AND revision = ?",
    )
    .bind(&f.title)
    .bind(&f.description)
    .bind(i64::from(f.done))
    .bind(t.complete_time)
    .bind(f.due_time)
    .bind(due_key(f.due_time))
    .bind(f.remind_time)
    .bind(i64::from(f.priority))
    .bind(labels_json(&f.labels)?)
    .bind(t.update_time)
    .bind(t.revision)
    .bind(owner)
    .bind(&t.id)
    .bind(expected_revision)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(
    conn: &mut AnyConnection,
    owner: &str,
    id: &str,
) -> Result<Option<TaskRow>, Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE owner_id = ? AND id = ?"
    ))
    .bind(owner)
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(TaskRow::from_row).transpose()
}

/// Deletes the task if it is still at `expected_revision`.
pub async fn delete(
    conn: &mut AnyConnection,
    owner: &str,
    id: &str,
    expected_revision: i64,
) -> Result<bool, Error> {
    let done = sqlx::query("DELETE FROM tasks WHERE owner_id = ? AND id = ? AND revision = ?")
        .bind(owner)
        .bind(id)
        .bind(expected_revision)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete_all(conn: &mut AnyConnection, owner: &str) -> Result<u64, Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE owner_id = ?")
        .bind(owner)
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query("DELETE FROM tasks WHERE owner_id = ?")
        .bind(owner)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

/// Escapes `%`, `_` and the escape character itself for `LIKE ... ESCAPE '!'`
/// (`!` rather than a backslash, which MySQL and SQLite quote differently).
fn like_literal(s: &str) -> String {
    s.replace('!', "!!").replace('%', "!%").replace('_', "!_")
}

/// How the store sorts by an [`Order`].
impl Order {
    /// The column sorted on before the id (ids are time-ordered, so the id
    /// alone is creation order).
    fn key_column(self) -> Option<&'static str> {
        match self {
            Self::CreateTime | Self::CreateTimeDesc => None,
            Self::DueTime | Self::DueTimeDesc => Some("due_key"),
            Self::PriorityDesc => Some("priority"),
            Self::UpdateTimeDesc => Some("update_time"),
        }
    }

    fn descending(self) -> bool {
        !matches!(self, Self::CreateTime | Self::DueTime)
    }

    /// Where `row` stands in this order, for the next page's cursor.
    pub fn cursor(self, row: &TaskRow) -> Cursor {
        let key = match self {
            Self::CreateTime | Self::CreateTimeDesc => 0,
            Self::DueTime | Self::DueTimeDesc => due_key(row.fields.due_time),
            Self::PriorityDesc => i64::from(row.fields.priority),
            Self::UpdateTimeDesc => row.update_time,
        };
        Cursor {
            key,
            id: row.id.clone(),
        }
    }
}

/// The position after which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "k")]
    pub key: i64,
    #[serde(rename = "i")]
    pub id: String,
}

/// The query of one list page; the binds follow in [`list`]'s order.
fn list_sql(filter: &Filter, order: Order, paged: bool) -> String {
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
    let (cmp, dir) = if order.descending() {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if paged {
        match order.key_column() {
            Some(k) => sql.push_str(&format!(" AND ({k} {cmp} ? OR ({k} = ? AND id {cmp} ?))")),
            None => sql.push_str(&format!(" AND id {cmp} ?")),
        }
    }
    match order.key_column() {
        Some(k) => sql.push_str(&format!(" ORDER BY {k} {dir}, id {dir} LIMIT ?")),
        None => sql.push_str(&format!(" ORDER BY id {dir} LIMIT ?")),
    }

    sql
}

/// One page in `order`, after `after` (keyset paging: each order has an
/// index led by the owner, so the cost does not grow with the depth).
pub async fn list(
    pool: &Pool,
    owner: &str,
    filter: &Filter,
    order: Order,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<TaskRow>, Error> {
    let sql = list_sql(filter, order, after.is_some());
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
    if let Some(c) = after {
        if order.key_column().is_some() {
            query = query.bind(c.key).bind(c.key);
        }
        query = query.bind(c.id.clone());
    }
    let rows = query.bind(limit).fetch_all(pool).await?;
    rows.iter().map(TaskRow::from_row).collect()
}

/// What an `Idempotency-Key` already stands for.
#[derive(Debug)]
pub struct IdempotentCreate {
    pub request_hash: String,
    pub task_id: String,
}

/// Claims `key` for a create inside the caller's transaction; when it is
/// taken (and younger than `not_before`), returns what it was used for.
/// Concurrent claims of one key serialize on its primary key: the second
/// waits for the first to commit and then sees its row.
pub async fn claim_idempotency_key(
    conn: &mut AnyConnection,
    owner: &str,
    key: &str,
    request_hash: &str,
    task_id: &str,
    now: i64,
    not_before: i64,
) -> Result<Option<IdempotentCreate>, Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (owner_id, idem_key, request_hash, task_id, create_time) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(owner)
    .bind(key)
    .bind(request_hash)
    .bind(task_id)
    .bind(now)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => return Ok(None),
        Err(e) if todo_store::db::is_unique_violation(&e) => {}
        Err(e) => return Err(e.into()),
    }
    // An expired use of the key no longer counts: take it over.
    let renewed = sqlx::query(
        "UPDATE idempotency_keys SET request_hash = ?, task_id = ?, create_time = ? \
         WHERE owner_id = ? AND idem_key = ? AND create_time < ?",
    )
    .bind(request_hash)
    .bind(task_id)
    .bind(now)
    .bind(owner)
    .bind(key)
    .bind(not_before)
    .execute(&mut *conn)
    .await?;
    if renewed.rows_affected() == 1 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT request_hash, task_id FROM idempotency_keys WHERE owner_id = ? AND idem_key = ?",
    )
    .bind(owner)
    .bind(key)
    .fetch_one(conn)
    .await?;
    Ok(Some(IdempotentCreate {
        request_hash: row.try_get("request_hash")?,
        task_id: row.try_get("task_id")?,
    }))
}

/// Forgets idempotency keys older than `before`.
pub async fn expire_idempotency_keys(pool: &Pool, before: i64) -> Result<u64, Error> {
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE create_time < ?")
        .bind(before)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sort order reads a page through its owner-led index, with no
    /// sort of the whole result: the plan a 100,000-task list relies on to
    /// cost the same on its last page as on its first.
    #[tokio::test]
    async fn every_order_pages_through_an_index_without_sorting() {
        let dir = std::env::temp_dir().join(format!("todo-plan-{}", todo_common::clock::new_id()));
        let config = todo_store::db::DbConfig {
            url: format!("sqlite://{}/task.db", dir.display()),
            max_connections: 1,
        };
        let db = todo_store::db::connect(&config, &crate::MIGRATOR)
            .await
            .unwrap();
        let expected = [
            (Order::CreateTime, "tasks_owner_id"),
            (Order::CreateTimeDesc, "tasks_owner_id"),
            (Order::DueTime, "tasks_owner_due"),
            (Order::DueTimeDesc, "tasks_owner_due"),
            (Order::PriorityDesc, "tasks_owner_priority"),
            (Order::UpdateTimeDesc, "tasks_owner_updated"),
        ];
        for (order, index) in expected {
            for paged in [false, true] {
                let sql = format!(
                    "EXPLAIN QUERY PLAN {}",
                    list_sql(&Filter::default(), order, paged)
                );
                let binds = if paged {
                    if order.key_column().is_some() { 5 } else { 3 }
                } else {
                    2
                };
                let mut query = sqlx::query(&sql);
                for _ in 0..binds {
                    query = query.bind(1_i64);
                }
                let plan: Vec<String> = query
                    .fetch_all(&db.pool)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.try_get::<String, _>("detail").unwrap())
                    .collect();
                let plan = plan.join(" | ");
                assert!(plan.contains(index), "{order:?} paged={paged}: {plan}");
                assert!(
                    !plan.contains("TEMP B-TREE"),
                    "{order:?} paged={paged} sorts: {plan}"
                );
            }
        }
        db.pool.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
