//! SQL for tasks. Every statement that reads or writes a task joins the
//! caller's membership of its list: a task of a list the caller is not a
//! member of is never read, changed or deleted, and looks exactly like a
//! missing one; writes repeat the role check inside the statement.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use todo_common::clock::to_timestamp;
use todo_proto::todo::task::v1::Task;
use todo_store::db::Pool;
use todo_store::exec::Exec;
use todo_store::inline::{self, Columns, Value};

use crate::access::{Role, WRITER_CODES};
use crate::domain::{Filter, Order, Parent, TaskFields};
use crate::due::{self, Due, Placed, Recurrence, Schedule};
use crate::error::Error;
use crate::ids::{Id, ListId, TaskId, UserId};

/// A task as stored.
#[derive(Debug, Clone)]
pub struct TaskRow {
    pub id: TaskId,
    pub list_id: ListId,
    /// Empty at the top level.
    pub parent_id: String,
    pub position: String,
    pub subtask_count: i64,
    /// Who created it (the `owner_id` column, named before lists existed).
    pub creator_id: UserId,
    pub fields: TaskFields,
    /// The schedule placed in the creator's time zone.
    pub placed: Placed,
    /// The number of the current due in its recurrence (for COUNT).
    pub occurrence: i64,
    pub complete_time: Option<i64>,
    pub create_time: i64,
    pub update_time: i64,
    pub revision: i64,
}

/// A task with the caller's role in its list.
#[derive(Debug, Clone)]
pub struct Visible {
    pub task: TaskRow,
    pub role: Role,
}

/// A task's columns, in the order [`TaskRow::from_row`] reads them: an
/// inline read finds each column by name starting after the last one
/// (see `todo_store::inline::InlineRow`).
const COLUMNS: &str = "t.labels, t.due_time, t.due_date, t.recurrence, t.reminders, t.remind_time, \
                       t.id, t.list_id, t.parent_id, t.position, t.subtask_count, t.owner_id, \
                       t.title, t.description, t.done, t.priority, t.occurrence, t.complete_time, \
                       t.create_time, t.update_time, t.revision";

/// The membership join every read starts from: `t` the task, `m` the
/// caller's membership of its list (the first bind).
const VISIBLE: &str = "tasks t JOIN list_members m ON m.list_id = t.list_id AND m.user_id = ?";

impl TaskRow {
    /// The task in a row of [`COLUMNS`], read by either driver.
    fn from_row(r: &(impl Columns + ?Sized)) -> Result<Self, Error> {
        let labels = r.required_text("labels")?;
        let due_time = r.int("due_time")?;
        let due_date = r.text("due_date")?;
        let due = match (due_date.as_deref(), due_time) {
            (Some(text), _) => Some(Due::Day(due::decode_date(text).ok_or_else(|| {
                Error::Internal(anyhow::anyhow!("stored due date {text:?} is malformed"))
            })?)),
            (None, Some(t)) => Some(Due::At(t)),
            (None, None) => None,
        };
        let recurrence = r
            .text("recurrence")?
            .map(|text| {
                Recurrence::parse(&text).map_err(|reason| {
                    Error::Internal(anyhow::anyhow!("stored recurrence {text:?}: {reason}"))
                })
            })
            .transpose()?;
        let column = r.text("reminders")?;
        let (reminders, fires) = due::decode_reminders(column.as_deref(), r.int("remind_time")?)
            .map_err(|e| Error::Internal(e.into()))?;
        Ok(Self {
            id: TaskId::trusted(r.required_text("id")?),
            list_id: ListId::trusted(r.required_text("list_id")?),
            parent_id: r.required_text("parent_id")?,
            position: r.required_text("position")?,
            subtask_count: r.required_int("subtask_count")?,
            creator_id: UserId::trusted(r.required_text("owner_id")?),
            fields: TaskFields {
                title: r.required_text("title")?,
                description: r.required_text("description")?,
                done: r.required_int("done")? != 0,
                schedule: Schedule {
                    due,
                    recurrence,
                    reminders,
                },
                priority: i32::try_from(r.required_int("priority")?).unwrap_or_default(),
                labels: serde_json::from_str(&labels).map_err(|e| Error::Internal(e.into()))?,
            },
            placed: Placed {
                due_at: due_time,
                fires,
            },
            occurrence: r.required_int("occurrence")?,
            complete_time: r.int("complete_time")?,
            create_time: r.required_int("create_time")?,
            update_time: r.required_int("update_time")?,
            revision: r.required_int("revision")?,
        })
    }

    /// The entity tag of this revision of the task.
    pub fn etag(&self) -> String {
        format!("{}-{}", self.revision, self.update_time)
    }

    pub fn to_proto(&self) -> Task {
        let f = &self.fields;
        let mut task = Task {
            id: self.id.to_string(),
            title: f.title.clone(),
            description: f.description.clone(),
            done: f.done,
            complete_time: self.complete_time.map(to_timestamp),
            priority: f.priority,
            labels: f.labels.clone(),
            create_time: Some(to_timestamp(self.create_time)),
            update_time: Some(to_timestamp(self.update_time)),
            etag: self.etag(),
            list_id: self.list_id.to_string(),
            parent_id: self.parent_id.clone(),
            position: self.position.clone(),
            subtask_count: i32::try_from(self.subtask_count).unwrap_or(i32::MAX),
            creator_id: self.creator_id.to_string(),
            ..Task::default()
        };
        f.schedule.write_to(&self.placed, &mut task);
        task
    }
}

/// The columns a task's schedule is stored in.
struct ScheduleColumns {
    due_time: Option<i64>,
    due_key: i64,
    due_date: Option<String>,
    recurrence: Option<String>,
    remind_time: Option<i64>,
    reminders: String,
}

impl ScheduleColumns {
    fn of(t: &TaskRow) -> Result<Self, Error> {
        let s = &t.fields.schedule;
        Ok(Self {
            due_time: t.placed.due_at,
            due_key: due_key(t.placed.due_at),
            due_date: match s.due {
                Some(Due::Day(date)) => Some(due::encode_date(date)),
                _ => None,
            },
            recurrence: s.recurrence.as_ref().map(|r| r.as_str().to_owned()),
            // The previous release reads this column alone.
            remind_time: s.absolute().next(),
            reminders: due::encode_reminders(s, &t.placed)
                .map_err(|e| Error::Internal(e.into()))?,
        })
    }
}

/// The due key of a task without a due (the column's default, from
/// migration 0002): the largest BIGINT, so undated tasks sort last.
const NO_DUE: i64 = i64::MAX;

/// The sort key of the due time: undated tasks sort last.
fn due_key(due_time: Option<i64>) -> i64 {
    due_time.unwrap_or(NO_DUE)
}

fn labels_json(labels: &[String]) -> Result<String, Error> {
    serde_json::to_string(labels).map_err(|e| Error::Internal(e.into()))
}

/// Stores a new task. The caller has checked its role in the list in the
/// same transaction.
pub async fn insert(conn: &mut impl Exec, t: &TaskRow) -> Result<(), Error> {
    let f = &t.fields;
    let c = ScheduleColumns::of(t)?;
    let params = [
        t.id.as_str().into(),
        t.list_id.as_str().into(),
        t.parent_id.as_str().into(),
        t.position.as_str().into(),
        t.creator_id.as_str().into(),
        f.title.as_str().into(),
        f.description.as_str().into(),
        i64::from(f.done).into(),
        t.complete_time.into(),
        c.due_time.into(),
        c.due_key.into(),
        c.remind_time.into(),
        i64::from(f.priority).into(),
        labels_json(&f.labels)?.into(),
        t.create_time.into(),
        t.update_time.into(),
        t.revision.into(),
        c.due_date.into(),
        c.recurrence.into(),
        t.occurrence.into(),
        c.reminders.into(),
    ];
    conn.execute(
        "INSERT INTO tasks (id, list_id, parent_id, position, subtask_count, owner_id, title, description, \
         done, complete_time, due_time, due_key, remind_time, priority, labels, create_time, update_time, revision, \
         due_date, recurrence, occurrence, reminders) \
         VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &params,
    )
    .await?;
    Ok(())
}

/// The guard every write ends with: the writer is still an OWNER or
/// EDITOR of the task's list (its first bind is the writer's id).
fn writer_guard() -> String {
    format!(
        "EXISTS (SELECT 1 FROM list_members w WHERE w.list_id = tasks.list_id AND w.user_id = ? \
         AND w.role IN ({WRITER_CODES}))"
    )
}

/// Writes `t`'s fields over the stored task if that is still at
/// `expected_revision` and `writer` may still write its list; `false` when
/// a concurrent change got there first (or it is gone).
pub async fn update(
    conn: &mut AnyConnection,
    writer: &UserId,
    t: &TaskRow,
    expected_revision: i64,
) -> Result<bool, Error> {
    let f = &t.fields;
    let c = ScheduleColumns::of(t)?;
    let done = sqlx::query(&format!(
        "UPDATE tasks SET title = ?, description = ?, done = ?, complete_time = ?, due_time = ?, due_key = ?, \
         remind_time = ?, priority = ?, labels = ?, update_time = ?, revision = ?, due_date = ?, \
         recurrence = ?, occurrence = ?, reminders = ? \
         WHERE id = ? AND revision = ? AND {}",
        writer_guard()
    ))
    .bind(&f.title)
    .bind(&f.description)
    .bind(i64::from(f.done))
    .bind(t.complete_time)
    .bind(c.due_time)
    .bind(c.due_key)
    .bind(c.remind_time)
    .bind(i64::from(f.priority))
    .bind(labels_json(&f.labels)?)
    .bind(t.update_time)
    .bind(t.revision)
    .bind(c.due_date)
    .bind(c.recurrence)
    .bind(t.occurrence)
    .bind(c.reminders)
    .bind(&t.id)
    .bind(expected_revision)
    .bind(writer)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves a task: its list, parent and position, at `expected_revision`.
pub async fn relocate(
    conn: &mut AnyConnection,
    writer: &UserId,
    t: &TaskRow,
    expected_revision: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(&format!(
        "UPDATE tasks SET list_id = ?, parent_id = ?, position = ?, update_time = ?, revision = ? \
         WHERE id = ? AND revision = ? AND {}",
        writer_guard()
    ))
    .bind(&t.list_id)
    .bind(&t.parent_id)
    .bind(&t.position)
    .bind(t.update_time)
    .bind(t.revision)
    .bind(&t.id)
    .bind(expected_revision)
    .bind(writer)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One task the caller can see, with their role in its list: one round
/// trip, the membership joined.
pub async fn get(
    conn: &mut impl Exec,
    caller: &UserId,
    id: &TaskId,
) -> Result<Option<Visible>, Error> {
    let params = [caller.as_str().into(), id.as_str().into()];
    conn.fetch_optional(&get_sql(), &params, |r| Visible::from_row(r))
        .await
}

/// [`get`] on an SQLite connection of [`todo_store::inline`].
pub fn get_inline(
    conn: &rusqlite::Connection,
    caller: &UserId,
    id: &TaskId,
) -> Result<Option<Visible>, Error> {
    let params = [caller.as_str(), id.as_str()];
    inline::fetch_optional(conn, &get_sql(), params, |r| Visible::from_row(r))
}

/// The statement of [`get`]: binds the caller, then the task's id.
fn get_sql() -> String {
    format!("SELECT {COLUMNS}, m.role FROM {VISIBLE} WHERE t.id = ?")
}

impl Visible {
    fn from_row(r: &(impl Columns + ?Sized)) -> Result<Self, Error> {
        Ok(Self {
            task: TaskRow::from_row(r)?,
            role: Role::from_code(r.required_int("role")?)?,
        })
    }
}

/// The direct subtasks of `parents` (tasks of `list_id` the caller has
/// already been shown to see).
pub async fn children(
    conn: &mut AnyConnection,
    caller: &UserId,
    list_id: &ListId,
    parents: &[TaskId],
) -> Result<Vec<TaskRow>, Error> {
    if parents.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; parents.len()].join(", ");
    let sql = format!(
        "SELECT {COLUMNS} FROM {VISIBLE} WHERE t.list_id = ? AND t.parent_id IN ({marks}) ORDER BY t.position"
    );
    let mut query = sqlx::query(&sql).bind(caller).bind(list_id);
    for p in parents {
        query = query.bind(p);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter().map(TaskRow::from_row).collect()
}

/// Deletes the tasks `ids` of `list_id` if `writer` may write that list;
/// how many went.
pub async fn delete_ids(
    conn: &mut AnyConnection,
    writer: &UserId,
    list_id: &ListId,
    ids: &[TaskId],
) -> Result<u64, Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let marks = vec!["?"; ids.len()].join(", ");
    let sql = format!(
        "DELETE FROM tasks WHERE list_id = ? AND id IN ({marks}) AND {}",
        writer_guard()
    );
    let mut query = sqlx::query(&sql).bind(list_id);
    for id in ids {
        query = query.bind(id);
    }
    let done = query.bind(writer).execute(conn).await?;
    Ok(done.rows_affected())
}

/// The tasks of a list (made by `creator`, if given) whose reminder is
/// still to fire, so deleting the list or removing the member can cancel
/// them.
pub async fn with_pending_reminders(
    conn: &mut AnyConnection,
    list_id: &ListId,
    creator: Option<&UserId>,
) -> Result<Vec<TaskRow>, Error> {
    let by_creator = if creator.is_some() {
        " AND t.owner_id = ?"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM tasks t WHERE t.list_id = ? AND t.done = 0 \
         AND (t.remind_time IS NOT NULL OR t.reminders <> '[]'){by_creator}"
    );
    let mut query = sqlx::query(&sql).bind(list_id);
    if let Some(creator) = creator {
        query = query.bind(creator);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter().map(TaskRow::from_row).collect()
}

/// The tasks `creator` made with an all-day due: what a change of their
/// time zone places again.
pub async fn all_day_of(conn: &mut AnyConnection, creator: &UserId) -> Result<Vec<TaskRow>, Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM tasks t WHERE t.owner_id = ? AND t.due_date IS NOT NULL"
    ))
    .bind(creator)
    .fetch_all(conn)
    .await?;
    rows.iter().map(TaskRow::from_row).collect()
}

/// Writes a task's schedule placed anew (its creator's zone changed), at
/// `expected_revision`. Not a user's write: no role is checked.
pub async fn replace_placement(
    conn: &mut AnyConnection,
    t: &TaskRow,
    expected_revision: i64,
) -> Result<bool, Error> {
    let c = ScheduleColumns::of(t)?;
    let done = sqlx::query(
        "UPDATE tasks SET due_time = ?, due_key = ?, reminders = ?, update_time = ?, revision = ? \
         WHERE id = ? AND revision = ?",
    )
    .bind(c.due_time)
    .bind(c.due_key)
    .bind(c.reminders)
    .bind(t.update_time)
    .bind(t.revision)
    .bind(&t.id)
    .bind(expected_revision)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The not-done tasks `creator` made, in the lists they are still a
/// member of, due before `before`: up to `limit` of them, earliest due
/// first, and how many there are in all.
pub async fn due_of(
    pool: &Pool,
    creator: &UserId,
    before: i64,
    limit: i64,
) -> Result<(Vec<TaskRow>, i64), Error> {
    const WHERE: &str = "t.owner_id = ? AND t.done = 0 AND t.due_key < ?";
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM {VISIBLE} WHERE {WHERE} ORDER BY t.due_key, t.id LIMIT ?"
    ))
    .bind(creator)
    .bind(creator)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {VISIBLE} WHERE {WHERE}"))
        .bind(creator)
        .bind(creator)
        .bind(before)
        .fetch_one(pool)
        .await?;
    let tasks = rows
        .iter()
        .map(TaskRow::from_row)
        .collect::<Result<_, _>>()?;
    Ok((tasks, total))
}

/// Moves the tasks `ids` (a moved task's subtasks) from one list to
/// another; their parents and positions stay.
pub async fn set_list(
    conn: &mut AnyConnection,
    ids: &[TaskId],
    from: &ListId,
    to: &ListId,
) -> Result<(), Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; ids.len()].join(", ");
    let sql = format!("UPDATE tasks SET list_id = ? WHERE list_id = ? AND id IN ({marks})");
    let mut query = sqlx::query(&sql).bind(to).bind(from);
    for id in ids {
        query = query.bind(id);
    }
    query.execute(conn).await?;
    Ok(())
}

/// Adds `delta` to a task's count of direct subtasks, in the transaction
/// that adds or removes one (so the count is right under concurrency: the
/// increment is atomic and the row stays locked until commit).
pub async fn add_subtasks(conn: &mut impl Exec, parent_id: &str, delta: i64) -> Result<(), Error> {
    if parent_id.is_empty() || delta == 0 {
        return Ok(());
    }
    let params = [delta.into(), parent_id.into()];
    conn.execute(
        "UPDATE tasks SET subtask_count = subtask_count + ? WHERE id = ?",
        &params,
    )
    .await?;
    Ok(())
}

/// The positions next to a spot among the siblings under `parent_id` in
/// `list_id`: the last one (`after: None`), or the one right after
/// `after`.
pub async fn next_position(
    conn: &mut impl Exec,
    list_id: &ListId,
    parent_id: &str,
    after: Option<&str>,
) -> Result<Option<String>, Error> {
    let mut params = vec![list_id.as_str().into(), parent_id.into()];
    let sql = match after {
        None => {
            "SELECT position FROM tasks WHERE list_id = ? AND parent_id = ? ORDER BY position DESC LIMIT 1"
        }
        Some(after) => {
            params.push(after.into());
            "SELECT position FROM tasks WHERE list_id = ? AND parent_id = ? AND position > ? \
             ORDER BY position LIMIT 1"
        }
    };
    let position = |r: &dyn Columns| r.required_text("position").map_err(Error::from);
    conn.fetch_optional(sql, &params, position).await
}

/// The first position among the siblings, if any.
pub async fn first_position(
    conn: &mut AnyConnection,
    list_id: &ListId,
    parent_id: &str,
) -> Result<Option<String>, Error> {
    let row = sqlx::query(
        "SELECT position FROM tasks WHERE list_id = ? AND parent_id = ? ORDER BY position LIMIT 1",
    )
    .bind(list_id)
    .bind(parent_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.try_get("position")).transpose()?)
}

/// Gives the siblings under `parent_id` fresh short positions in their
/// current order, when a key has grown too long. Two passes, so no
/// intermediate state repeats a position.
pub async fn renumber(
    conn: &mut AnyConnection,
    list_id: &ListId,
    parent_id: &str,
) -> Result<(), Error> {
    let ids: Vec<TaskId> =
        sqlx::query("SELECT id FROM tasks WHERE list_id = ? AND parent_id = ? ORDER BY position")
            .bind(list_id)
            .bind(parent_id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
    // Temporary keys sort above every real one ('~' follows the letters).
    for id in &ids {
        sqlx::query("UPDATE tasks SET position = ? WHERE id = ?")
            .bind(format!("~{id}"))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    for (id, key) in ids.iter().zip(crate::position::renumbered(ids.len())) {
        sqlx::query("UPDATE tasks SET position = ? WHERE id = ?")
            .bind(key)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
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
            Self::DueTime | Self::DueTimeDesc => Some("t.due_key"),
            Self::PriorityDesc => Some("t.priority"),
            Self::UpdateTimeDesc => Some("t.update_time"),
            Self::Position => Some("t.list_id, t.parent_id, t.position"),
        }
    }

    fn descending(self) -> bool {
        !matches!(self, Self::CreateTime | Self::DueTime | Self::Position)
    }

    /// Where `row` stands in this order, for the next page's cursor.
    pub fn cursor(self, row: &TaskRow) -> Cursor {
        let key = match self {
            Self::CreateTime | Self::CreateTimeDesc => Key::Number(0),
            Self::DueTime | Self::DueTimeDesc => Key::Number(due_key(row.placed.due_at)),
            Self::PriorityDesc => Key::Number(i64::from(row.fields.priority)),
            Self::UpdateTimeDesc => Key::Number(row.update_time),
            Self::Position => Key::Place(vec![
                row.list_id.to_string(),
                row.parent_id.clone(),
                row.position.clone(),
            ]),
        };
        Cursor {
            key,
            id: row.id.to_string(),
        }
    }
}

/// A cursor's sort key: a number, or a task's place (list, parent,
/// position).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Key {
    Number(i64),
    Place(Vec<String>),
}

/// The position after which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "k")]
    pub key: Key,
    #[serde(rename = "i")]
    pub id: String,
}

/// The query of one list page; [`list_values`] gives its placeholders'
/// values.
fn list_sql(filter: &Filter, order: Order, paged: bool) -> String {
    let mut sql = format!("SELECT {COLUMNS} FROM {VISIBLE} WHERE 1 = 1");
    if filter.list_id.is_some() {
        sql.push_str(" AND t.list_id = ?");
    }
    if filter.parent.is_some() {
        sql.push_str(" AND t.parent_id = ?");
    }
    if filter.done.is_some() {
        sql.push_str(" AND t.done = ?");
    }
    if filter.label.is_some() {
        sql.push_str(" AND t.labels LIKE ? ESCAPE '!'");
    }
    if filter.due_before.is_some() {
        sql.push_str(" AND t.due_time < ?");
    }
    if filter.due_after.is_some() {
        sql.push_str(" AND t.due_time >= ?");
    }
    // On the indexed sort key, which holds NO_DUE for a task without one.
    match filter.has_due {
        Some(true) => sql.push_str(" AND t.due_key < ?"),
        Some(false) => sql.push_str(" AND t.due_key = ?"),
        None => {}
    }
    if filter.q.is_some() {
        sql.push_str(
            " AND (LOWER(t.title) LIKE ? ESCAPE '!' OR LOWER(t.description) LIKE ? ESCAPE '!')",
        );
    }
    let (cmp, dir) = if order.descending() {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    match order.key_column() {
        // Positions are unique among the siblings under one parent of one
        // list, so (list, parent, position) orders every task without a
        // tie-break: the siblings in their arranged order, the top level
        // (parent '') first. With `listId` (and `parentId`) given, the
        // leading columns are fixed and the index is walked as it is.
        _ if order == Order::Position => {
            if paged {
                sql.push_str(
                    " AND (t.list_id > ? OR (t.list_id = ? AND (t.parent_id > ? OR (t.parent_id = ? AND t.position > ?))))",
                );
            }
            sql.push_str(" ORDER BY t.list_id, t.parent_id, t.position LIMIT ?");
        }
        Some(k) => {
            if paged {
                sql.push_str(&format!(" AND ({k} {cmp} ? OR ({k} = ? AND t.id {cmp} ?))"));
            }
            sql.push_str(&format!(" ORDER BY {k} {dir}, t.id {dir} LIMIT ?"));
        }
        None => {
            if paged {
                sql.push_str(&format!(" AND t.id {cmp} ?"));
            }
            sql.push_str(&format!(" ORDER BY t.id {dir} LIMIT ?"));
        }
    }
    sql
}

/// The most rows of a page read on the calling thread
/// ([`todo_store::inline`]); a larger page goes through the pool.
pub const INLINE_PAGE_ROWS: i64 = 201;

/// Whether the rows of a page of [`list`] come straight from one of the
/// list-led indexes (migration 0005), which hold the list's tasks in every
/// order: with only the list (and, in position order, the parent) to match,
/// a page reads its own rows and no others. Any other filter may pass over
/// many rows for each one it keeps.
pub fn read_through_index(filter: &Filter, order: Order) -> bool {
    let Filter {
        list_id,
        parent,
        done,
        label,
        due_before,
        due_after,
        has_due,
        q,
    } = filter;
    list_id.is_some()
        && (parent.is_none() || order == Order::Position)
        && done.is_none()
        && label.is_none()
        && due_before.is_none()
        && due_after.is_none()
        && has_due.is_none()
        && q.is_none()
}

/// One page in `order`, after `after`, of the tasks `caller` can see
/// (keyset paging: within one list each order has an index led by the
/// list, so the cost does not grow with the depth).
pub async fn list(
    conn: &mut AnyConnection,
    caller: &UserId,
    filter: &Filter,
    order: Order,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<TaskRow>, Error> {
    let sql = list_sql(filter, order, after.is_some());
    let values = list_values(caller, filter, order, after, limit)?;
    let rows = inline::bind_all(&values, sqlx::query(&sql))
        .fetch_all(conn)
        .await?;
    rows.iter().map(TaskRow::from_row).collect()
}

/// [`list`] on an SQLite connection of [`todo_store::inline`].
pub fn list_inline(
    conn: &rusqlite::Connection,
    caller: &UserId,
    filter: &Filter,
    order: Order,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<TaskRow>, Error> {
    let sql = list_sql(filter, order, after.is_some());
    let values = list_values(caller, filter, order, after, limit)?;
    let params = rusqlite::params_from_iter(&values);
    inline::fetch_all(conn, &sql, params, |r| TaskRow::from_row(r))
}

/// The values of [`list_sql`]'s placeholders, in its order.
fn list_values(
    caller: &UserId,
    filter: &Filter,
    order: Order,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<Value>, Error> {
    let text = |s: &str| Value::Text(s.to_owned());
    let mut values = vec![text(caller)];
    if let Some(list_id) = &filter.list_id {
        values.push(text(list_id));
    }
    if let Some(parent) = &filter.parent {
        values.push(match parent {
            Parent::Root => text(""),
            Parent::Of(id) => text(id),
        });
    }
    if let Some(done) = filter.done {
        values.push(Value::Int(i64::from(done)));
    }
    if let Some(label) = &filter.label {
        // Labels are stored as a JSON array; match the exact JSON string.
        let json = serde_json::to_string(label).map_err(|e| Error::Internal(e.into()))?;
        values.push(Value::Text(format!("%{}%", like_literal(&json))));
    }
    if let Some(t) = filter.due_before {
        values.push(Value::Int(t));
    }
    if let Some(t) = filter.due_after {
        values.push(Value::Int(t));
    }
    if filter.has_due.is_some() {
        values.push(Value::Int(NO_DUE));
    }
    if let Some(q) = &filter.q {
        let pattern = format!("%{}%", like_literal(q));
        values.push(Value::Text(pattern.clone()));
        values.push(Value::Text(pattern));
    }
    if let Some(c) = after {
        match (&c.key, order.key_column()) {
            (Key::Place(place), _) if order == Order::Position => {
                let [list, parent, position] = place.as_slice() else {
                    return Err(Error::Internal(anyhow::anyhow!(
                        "malformed position cursor"
                    )));
                };
                for v in [list, list, parent, parent, position] {
                    values.push(text(v));
                }
            }
            (Key::Number(n), Some(_)) if order != Order::Position => {
                values.extend([Value::Int(*n), Value::Int(*n), text(&c.id)]);
            }
            (_, None) => values.push(text(&c.id)),
            // A signed token always matches its order (the order is part
            // of its scope); anything else is a bug.
            _ => {
                return Err(Error::Internal(anyhow::anyhow!(
                    "page cursor does not fit {order:?}"
                )));
            }
        }
    }
    values.push(Value::Int(limit));
    Ok(values)
}

/// Deletes what is left of a user whose account is gone: idempotency keys,
/// and tasks the previous release wrote that were never put in a list.
pub async fn delete_unlisted(conn: &mut AnyConnection, user: &UserId) -> Result<(), Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE owner_id = ?")
        .bind(user)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM tasks WHERE owner_id = ? AND list_id IS NULL")
        .bind(user)
        .execute(conn)
        .await?;
    Ok(())
}

/// What an `Idempotency-Key` already stands for.
#[derive(Debug)]
pub struct IdempotentCreate {
    pub request_hash: String,
    pub task_id: TaskId,
}

/// Claims `key` for a create inside the caller's transaction; when it is
/// taken (and younger than `not_before`), returns what it was used for.
/// Concurrent claims of one key serialize on its primary key: the second
/// waits for the first to commit and then sees its row.
pub async fn claim_idempotency_key(
    conn: &mut impl Exec,
    owner: &UserId,
    key: &str,
    request_hash: &str,
    task_id: &TaskId,
    now: i64,
    not_before: i64,
) -> Result<Option<IdempotentCreate>, Error> {
    let params = [
        owner.as_str().into(),
        key.into(),
        request_hash.into(),
        task_id.as_str().into(),
        now.into(),
    ];
    let inserted = conn
        .execute(
            "INSERT INTO idempotency_keys (owner_id, idem_key, request_hash, task_id, create_time) VALUES (?, ?, ?, ?, ?)",
            &params,
        )
        .await;
    match inserted {
        Ok(_) => return Ok(None),
        Err(e) if todo_store::db::is_unique_violation(&e) => {}
        Err(e) => return Err(e.into()),
    }
    // An expired use of the key no longer counts: take it over.
    let params = [
        request_hash.into(),
        task_id.as_str().into(),
        now.into(),
        owner.as_str().into(),
        key.into(),
        not_before.into(),
    ];
    let renewed = conn
        .execute(
            "UPDATE idempotency_keys SET request_hash = ?, task_id = ?, create_time = ? \
             WHERE owner_id = ? AND idem_key = ? AND create_time < ?",
            &params,
        )
        .await?;
    if renewed == 1 {
        return Ok(None);
    }
    let params = [owner.as_str().into(), key.into()];
    let earlier = conn
        .fetch_optional(
            "SELECT request_hash, task_id FROM idempotency_keys WHERE owner_id = ? AND idem_key = ?",
            &params,
            |r| {
                Ok::<_, Error>(IdempotentCreate {
                    request_hash: r.required_text("request_hash")?,
                    task_id: TaskId::trusted(r.required_text("task_id")?),
                })
            },
        )
        .await?;
    earlier.map(Some).ok_or_else(|| {
        Error::Internal(anyhow::anyhow!(
            "an idempotency key that could not be claimed is not there"
        ))
    })
}

/// What `key` of `owner` stands for, if it was used at or after
/// `not_before`: read before a create that costs something (a page
/// fetch), so a retry answers without doing it again.
pub async fn idempotency_key_use(
    conn: &mut AnyConnection,
    owner: &UserId,
    key: &str,
    not_before: i64,
) -> Result<Option<IdempotentCreate>, Error> {
    let row = sqlx::query(
        "SELECT request_hash, task_id FROM idempotency_keys \
         WHERE owner_id = ? AND idem_key = ? AND create_time >= ?",
    )
    .bind(owner)
    .bind(key)
    .bind(not_before)
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(IdempotentCreate {
            request_hash: row.try_get("request_hash")?,
            task_id: row.try_get("task_id")?,
        })
    })
    .transpose()
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
    use crate::ids::Id;

    #[test]
    fn a_task_shows_every_field_it_stores() {
        let row = TaskRow {
            id: TaskId::trusted("t1"),
            list_id: ListId::trusted("l1"),
            parent_id: "p1".to_owned(),
            position: "a5".to_owned(),
            subtask_count: 2,
            creator_id: UserId::trusted("u1"),
            fields: TaskFields {
                title: "title".to_owned(),
                description: "description".to_owned(),
                done: true,
                schedule: Schedule::default(),
                priority: 3,
                labels: vec!["home".to_owned()],
            },
            placed: due::Placed::default(),
            occurrence: 1,
            complete_time: Some(4_000_000),
            create_time: 1_000_000,
            update_time: 2_000_000,
            revision: 7,
        };
        let task = row.to_proto();
        let seconds = |t: Option<prost_types::Timestamp>| t.map(|t| t.seconds);
        assert_eq!(
            (
                task.id.as_str(),
                task.list_id.as_str(),
                task.parent_id.as_str()
            ),
            ("t1", "l1", "p1")
        );
        assert_eq!(
            (task.title.as_str(), task.description.as_str(), task.done),
            ("title", "description", true)
        );
        assert_eq!((task.priority, task.labels), (3, vec!["home".to_owned()]));
        assert_eq!(
            (
                seconds(task.complete_time),
                seconds(task.create_time),
                seconds(task.update_time)
            ),
            (Some(4), Some(1), Some(2))
        );
        assert_eq!(task.etag, "7-2000000");
        assert_eq!(
            (
                task.position.as_str(),
                task.subtask_count,
                task.creator_id.as_str()
            ),
            ("a5", 2, "u1")
        );
    }

    /// What a claim of `key` by `owner` at `now` finds: `None` when the
    /// claim is new, else the request hash and task it stands for.
    async fn claim(
        db: &todo_store::db::Db,
        owner: &str,
        key: &str,
        hash: &str,
        now: i64,
        not_before: i64,
    ) -> Option<(String, String)> {
        let mut conn = db.pool.acquire().await.unwrap();
        let task = TaskId::trusted(format!("task-of-{hash}"));
        claim_idempotency_key(
            &mut conn,
            &UserId::trusted(owner),
            key,
            hash,
            &task,
            now,
            not_before,
        )
        .await
        .unwrap()
        .map(|c| (c.request_hash, c.task_id.to_string()))
    }

    /// What `key` of `owner` stands for when read at `not_before`.
    async fn used(
        db: &todo_store::db::Db,
        owner: &str,
        not_before: i64,
    ) -> Option<(String, String)> {
        let mut conn = db.pool.acquire().await.unwrap();
        idempotency_key_use(&mut conn, &UserId::trusted(owner), "k", not_before)
            .await
            .unwrap()
            .map(|c| (c.request_hash, c.task_id.to_string()))
    }

    #[tokio::test]
    async fn an_idempotency_key_stands_for_its_first_request_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::tests::database(&dir).await;
        assert_eq!(claim(&db, "ada", "k", "h1", 100, 0).await, None);
        let first = Some(("h1".to_owned(), "task-of-h1".to_owned()));
        // A retry, or another request with the same key: the first one.
        assert_eq!(claim(&db, "ada", "k", "h1", 150, 50).await, first);
        assert_eq!(claim(&db, "ada", "k", "h2", 150, 100).await, first);
        // Another owner's key of the same name is theirs.
        assert_eq!(claim(&db, "bob", "k", "h3", 150, 50).await, None);
        // Used before `not_before`, it is expired: the next claim takes it
        // over and stands from then on.
        assert_eq!(claim(&db, "ada", "k", "h4", 200, 101).await, None);
        let renewed = Some(("h4".to_owned(), "task-of-h4".to_owned()));
        assert_eq!(claim(&db, "ada", "k", "h5", 250, 150).await, renewed);

        // Read without a claim: only a use at or after `not_before`.
        assert_eq!(used(&db, "ada", 200).await, renewed);
        assert_eq!(used(&db, "ada", 201).await, None);
        assert_eq!(used(&db, "carol", 0).await, None);

        // Expiry forgets the keys used before its bound, and only those.
        assert_eq!(expire_idempotency_keys(&db.pool, 151).await.unwrap(), 1);
        assert_eq!(claim(&db, "bob", "k", "h6", 300, 0).await, None);
        assert_eq!(claim(&db, "ada", "k", "h7", 300, 0).await, renewed);
        assert_eq!(expire_idempotency_keys(&db.pool, 200).await.unwrap(), 0);
        db.close().await;
    }

    #[test]
    fn cursors_of_earlier_releases_still_decode_and_positions_round_trip() {
        let earlier: Cursor = serde_json::from_str(r#"{"k":42,"i":"x"}"#).unwrap();
        assert_eq!(earlier.key, Key::Number(42));
        let position = Cursor {
            key: Key::Place(vec!["l".to_owned(), String::new(), "a0".to_owned()]),
            id: "y".to_owned(),
        };
        let text = serde_json::to_string(&position).unwrap();
        assert_eq!(serde_json::from_str::<Cursor>(&text).unwrap(), position);
    }

    /// Within one list, every sort order reads a page through its
    /// list-led index, with no sort of the whole result: the plan a
    /// 10,000-task list relies on to cost the same on its last page as on
    /// its first. The membership is one primary-key lookup beside it.
    #[tokio::test]
    async fn every_order_pages_a_list_through_an_index_without_sorting() {
        let dir = std::env::temp_dir().join(format!("todo-plan-{}", todo_common::clock::new_id()));
        let config = todo_store::db::DbConfig {
            url: format!("sqlite://{}/task.db", dir.display()),
            max_connections: 1,
        };
        let db = todo_store::db::connect(&config, &crate::MIGRATOR)
            .await
            .unwrap();
        let expected = [
            (Order::CreateTime, "tasks_list_id"),
            (Order::CreateTimeDesc, "tasks_list_id"),
            (Order::DueTime, "tasks_list_due"),
            (Order::DueTimeDesc, "tasks_list_due"),
            (Order::PriorityDesc, "tasks_list_priority"),
            (Order::UpdateTimeDesc, "tasks_list_updated"),
            (Order::Position, "tasks_list_position"),
        ];
        let list = Filter {
            list_id: Some(ListId::trusted("l")),
            ..Filter::default()
        };
        let under_parent = Filter {
            parent: Some(Parent::Root),
            ..list.clone()
        };
        for (order, index) in expected {
            // The filters a page may be read inline with.
            let filters = [&list, &under_parent]
                .into_iter()
                .filter(|filter| read_through_index(filter, order));
            for (filter, paged) in filters.flat_map(|f| [(f, false), (f, true)]) {
                let sql = format!("EXPLAIN QUERY PLAN {}", list_sql(filter, order, paged));
                let mut query = sqlx::query(&sql);
                for _ in 0..sql.matches('?').count() {
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
                assert!(
                    plan.contains("USING PRIMARY KEY")
                        || plan.contains("sqlite_autoindex_list_members"),
                    "{order:?} paged={paged}: membership not by key: {plan}"
                );
            }
        }
        // Any other filter is not one of them.
        let others = [
            Filter::default(),
            under_parent.clone(),
            Filter {
                done: Some(false),
                ..list.clone()
            },
            Filter {
                label: Some("x".to_owned()),
                ..list.clone()
            },
            Filter {
                due_before: Some(1),
                ..list.clone()
            },
            Filter {
                due_after: Some(1),
                ..list.clone()
            },
            Filter {
                has_due: Some(true),
                ..list.clone()
            },
            Filter {
                q: Some("x".to_owned()),
                ..list.clone()
            },
        ];
        for filter in &others {
            assert!(!read_through_index(filter, Order::CreateTime), "{filter:?}");
        }
        assert!(read_through_index(&list, Order::CreateTime));
        assert!(read_through_index(&under_parent, Order::Position));
        // One task by id: the task by its key, the membership by its key.
        let sql = "SELECT t.id, m.role FROM tasks t JOIN list_members m ON m.list_id = t.list_id AND m.user_id = ? WHERE t.id = ?";
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .bind("u")
            .bind("t")
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap())
            .collect();
        assert_eq!(plan.len(), 2, "{plan:?}");
        assert!(plan.iter().all(|p| p.starts_with("SEARCH")), "{plan:?}");
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
