//! The task use cases: create, change, delete, list and move, each in one
//! transaction that checks the caller's role in the task's list first.

use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use todo_common::clock::{from_timestamp, new_id, now_micros};
use todo_common::status::FieldViolation;
use todo_proto::todo::task::v1::{
    CreateTaskRequest, ListDueTasksRequest, ListDueTasksResponse, ListTasksRequest,
    ListTasksResponse, MoveTaskRequest, Task,
};

use crate::State;
use crate::access::Action;
use crate::domain::{Edit, ListQuery, TaskFields, optional_id};
use crate::due::Schedule;
use crate::error::{Error, LIST, TASK};
use crate::idempotency;
use crate::ids::{Id, ListId, TaskId, UserId};
use crate::links;
use crate::list_fields::TASKS_PER_LIST;
use crate::position;
use crate::reminders;
use crate::request::{check_etag, retry};
use crate::store::links as store_links;
use crate::store::lists;
use crate::store::tasks::{self, Cursor, TaskRow, Visible};
use crate::time_zones::zone_for;
use todo_common::time_zone::Tz;
use todo_store::exec::Exec;

/// The NOT_FOUND of a parent task the caller cannot see.
const PARENT: &str = "parent task";
/// The NOT_FOUND of the task a move names to follow.
const AFTER: &str = "task to move after";

/// The deepest a subtask may be: a top-level task is level 1.
pub const MAX_DEPTH: usize = 4;

/// Refuses an absolute reminder in the past that `schedule` adds to
/// `before` (one kept from before may have fired already). It is named as
/// the client sent it: the old `remindTime`, or its place in `reminders`.
fn check_new_reminders(
    schedule: &Schedule,
    before: Option<&Schedule>,
    sent: &Task,
    now: i64,
) -> Result<(), Error> {
    let kept = |t: i64| before.is_some_and(|b| b.absolute().any(|k| k == t));
    let Some(past) = schedule.absolute().find(|t| *t < now && !kept(*t)) else {
        return Ok(());
    };
    let listed = sent
        .reminders
        .iter()
        .position(|r| r.remind_time.as_ref().and_then(from_timestamp) == Some(past));
    let field = match listed {
        Some(i) => format!("task.reminders[{i}].remindTime"),
        None => "task.remindTime".to_owned(),
    };
    Err(FieldViolation::new(field, "must not be in the past").into())
}

/// Where a new task goes, as the request says.
struct Placement {
    list_id: Option<ListId>,
    parent_id: Option<TaskId>,
}

/// The background workers a committed write of a task has given work:
/// each is woken only then, so a write that queued no call and no link
/// does not cost a pass of either (a pass takes the writer's turn).
#[derive(Debug, Default, Clone, Copy)]
struct Wakes {
    /// A call to the notify service was queued in the outbox.
    relay: bool,
    /// A link preview became PENDING.
    previews: bool,
}

/// What every write of a task `row` by `caller` ends with, inside its
/// transaction: the reminders queued for the notify service, the links
/// recorded. `before` is the task as it was; `None` for a new one.
async fn follow_up(
    conn: &mut impl Exec,
    before: Option<&TaskRow>,
    row: &TaskRow,
    caller: &UserId,
    now: i64,
) -> Result<Wakes, Error> {
    let f = &row.fields;
    Ok(Wakes {
        relay: reminders::sync(conn, before, Some(row), now).await?,
        previews: links::record(conn, &row.id, caller, &f.title, &f.description, now).await?,
    })
}

impl State {
    fn wake(&self, wakes: Wakes) {
        if wakes.relay {
            self.relay.poke();
        }
        if wakes.previews {
            self.previews.wake.poke();
        }
    }

    pub(crate) async fn create_task(
        &self,
        caller: &UserId,
        req: CreateTaskRequest,
        key: Option<String>,
    ) -> Result<TaskRow, Error> {
        let hash = hex::encode(Sha256::digest(req.encode_to_vec()));
        self.create_task_hashed(caller, req, key, hash).await
    }

    /// Creates a task; `hash` stands for the request an idempotency key
    /// is remembered with.
    pub(crate) async fn create_task_hashed(
        &self,
        caller: &UserId,
        req: CreateTaskRequest,
        key: Option<String>,
        hash: String,
    ) -> Result<TaskRow, Error> {
        let task = req.task.clone().unwrap_or_default();
        // Checks the list and parent ids too.
        let fields = TaskFields::parse(&task).map_err(Error::Invalid)?;
        let mut unused = Vec::new();
        let placement = Placement {
            list_id: optional_id(&task.list_id, "task.listId", &mut unused),
            parent_id: optional_id(&task.parent_id, "task.parentId", &mut unused),
        };
        let now = now_micros();
        check_new_reminders(&fields.schedule, None, &task, now)?;
        let id = TaskId::trusted(new_id());
        let made = self
            .with_zones(|| {
                retry(|| async {
                    // Every statement below runs on the inline writer on
                    // SQLite: the one write of the hot path.
                    let mut tx = self.db.begin_inline_write().await?;
                    if let Some(key) = key.as_deref() {
                        let not_before = now - idempotency::TTL_MICROS;
                        let earlier = tasks::claim_idempotency_key(
                            &mut tx, caller, key, &hash, &id, now, not_before,
                        )
                        .await?;
                        if let Some(earlier) = earlier {
                            // The earlier create may be in this group,
                            // not committed yet: the answer waits for it.
                            let found = if earlier.request_hash == hash {
                                tasks::get(&mut tx, caller, &earlier.task_id).await?
                            } else {
                                None
                            };
                            tx.commit().await?;
                            if earlier.request_hash != hash {
                                return Err(Error::IdempotencyKeyReused);
                            }
                            let found = found.ok_or(Error::NotFound(TASK))?;
                            return Ok((found.task, Wakes::default()));
                        }
                    }
                    let (list_id, parent_id) = self.place(&mut tx, caller, &placement, now).await?;
                    let last = tasks::next_position(&mut tx, &list_id, &parent_id, None).await?;
                    let tz = zone_for(&mut tx, caller, &fields.schedule).await?;
                    let row = TaskRow {
                        id: id.clone(),
                        list_id,
                        parent_id,
                        position: next_key(last.as_deref(), None)?,
                        subtask_count: 0,
                        creator_id: caller.clone(),
                        complete_time: fields.done.then_some(now),
                        placed: fields.schedule.place(tz),
                        occurrence: 1,
                        fields: fields.clone(),
                        create_time: now,
                        update_time: now,
                        revision: 1,
                    };
                    tasks::insert(&mut tx, &row).await?;
                    tasks::add_subtasks(&mut tx, &row.parent_id, 1).await?;
                    lists::add_tasks(&mut tx, &row.list_id, 1).await?;
                    let wakes = follow_up(&mut tx, None, &row, caller, now).await?;
                    tx.commit().await?;
                    Ok((row, wakes))
                })
            })
            .await?;
        let (made, wakes) = made;
        self.wake(wakes);
        if made.id == id {
            tracing::info!(task_id = %id, "task created");
        }
        Ok(made)
    }

    /// The list and parent a new task goes to, checked: the caller may
    /// write the list, the parent is in it and not too deep, the list is
    /// not full. Without a list or parent, the caller's default list (made
    /// now if this is its first use).
    async fn place(
        &self,
        conn: &mut impl Exec,
        caller: &UserId,
        placement: &Placement,
        now: i64,
    ) -> Result<(ListId, String), Error> {
        let parent = match &placement.parent_id {
            Some(id) => Some(
                self.parent_in(conn, caller, id, placement.list_id.as_ref(), 1)
                    .await?,
            ),
            None => None,
        };
        let list_id = match (&parent, &placement.list_id) {
            (Some(p), _) => p.task.list_id.clone(),
            (None, Some(list_id)) => list_id.clone(),
            (None, None) => {
                lists::ensure_default(conn, caller, now).await?;
                ListId::default_of(caller)
            }
        };
        let list = lists::get(conn, caller, &list_id)
            .await?
            .ok_or(Error::NotFound(LIST))?;
        list.role.require(Action::Write)?;
        if list.list.task_count >= TASKS_PER_LIST {
            return Err(Error::Precondition("a list holds at most 10,000 tasks"));
        }
        Ok((
            list_id,
            parent.map(|p| p.task.id.into()).unwrap_or_default(),
        ))
    }

    /// The task `id` as a new parent of a subtree `height` levels high:
    /// visible to the caller, in `list_id` when one is given, and not so
    /// deep that the subtree would pass [`MAX_DEPTH`].
    async fn parent_in(
        &self,
        conn: &mut impl Exec,
        caller: &UserId,
        id: &TaskId,
        list_id: Option<&ListId>,
        height: usize,
    ) -> Result<Visible, Error> {
        let field = "task.parentId";
        // A parent the caller cannot see is missing, as any task is.
        let parent = tasks::get(conn, caller, id)
            .await?
            .ok_or(Error::NotFound(PARENT))?;
        if list_id.is_some_and(|l| *l != parent.task.list_id) {
            return Err(FieldViolation::new(field, "must be a task of the same list").into());
        }
        let depth = ancestors(conn, caller, &parent.task).await?.len() + 1;
        if depth + height > MAX_DEPTH {
            return Err(FieldViolation::new(
                field,
                format!("subtasks nest at most {MAX_DEPTH} levels deep"),
            )
            .into());
        }
        Ok(parent)
    }

    /// Replaces or patches a task. A concurrent write makes the attempt
    /// start over from the newer version, so no other writer's fields are
    /// lost.
    pub(crate) async fn change_task(
        &self,
        caller: &UserId,
        edit: Edit<'_>,
        expected: Option<&[String]>,
    ) -> Result<TaskRow, Error> {
        let id = TaskId::parse(edit.task_id(), "task.id")?;
        let row = self
            .with_zones(|| {
                retry(|| async {
                    let mut tx = self.db.begin_write().await?;
                    let current = writable(&mut tx, caller, &id).await?;
                    check_etag(expected, &current.etag())?;
                    let next = edit
                        .apply(&id, &current.to_proto())
                        .map_err(Error::Invalid)?;
                    let fields = TaskFields::parse(&next).map_err(Error::Invalid)?;
                    let now = now_micros();
                    check_new_reminders(
                        &fields.schedule,
                        Some(&current.fields.schedule),
                        &next,
                        now,
                    )?;
                    let tz = zone_for(&mut tx, &current.creator_id, &fields.schedule).await?;
                    let row = changed(&current, fields, tz, now);
                    if !tasks::update(&mut tx, caller, &row, current.revision).await? {
                        return Err(Error::Contended);
                    }
                    let wakes = follow_up(&mut tx, Some(&current), &row, caller, now).await?;
                    tx.commit().await?;
                    Ok((row, wakes))
                })
            })
            .await?;
        let (row, wakes) = row;
        self.wake(wakes);
        Ok(row)
    }

    /// The not-done tasks a user created, due before a time: the daily
    /// digest's content, asked for by the notify service.
    pub(crate) async fn list_due_tasks(
        &self,
        req: &ListDueTasksRequest,
    ) -> Result<ListDueTasksResponse, Error> {
        let mut errs = Vec::new();
        let user_id: Option<UserId> = crate::domain::required_id(&req.user_id, "userId", &mut errs);
        let before = req.due_before.as_ref().and_then(from_timestamp);
        if before.is_none() {
            errs.push(FieldViolation::new("dueBefore", "must be a valid time"));
        }
        if !(0..=DUE_TASKS_MAX).contains(&req.page_size) {
            errs.push(FieldViolation::new(
                "pageSize",
                format!("must be 0 to {DUE_TASKS_MAX}"),
            ));
        }
        let (Some(user_id), Some(before), true) = (user_id, before, errs.is_empty()) else {
            return Err(Error::Invalid(errs));
        };
        let limit = if req.page_size == 0 {
            DUE_TASKS_MAX
        } else {
            req.page_size
        };
        let (rows, total_count) =
            tasks::due_of(&self.db.pool, &user_id, before, i64::from(limit)).await?;
        Ok(ListDueTasksResponse {
            tasks: rows.iter().map(TaskRow::to_proto).collect(),
            total_count,
        })
    }

    /// Deletes a task with all its subtasks, and cancels their reminders.
    pub(crate) async fn delete_task(
        &self,
        caller: &UserId,
        id: &TaskId,
        expected: Option<&[String]>,
    ) -> Result<(), Error> {
        let gone = retry(|| async {
            let mut tx = self.db.begin_write().await?;
            let current = writable(&mut tx, caller, id).await?;
            check_etag(expected, &current.etag())?;
            let mut doomed = vec![current.clone()];
            doomed.extend(
                descendants(&mut tx, caller, &current)
                    .await?
                    .into_iter()
                    .flatten(),
            );
            let ids: Vec<TaskId> = doomed.iter().map(|t| t.id.clone()).collect();
            let n = tasks::delete_ids(&mut tx, caller, &current.list_id, &ids).await?;
            if n != ids.len() as u64 {
                return Err(Error::Contended);
            }
            store_links::delete_of(&mut tx, &ids).await?;
            tasks::add_subtasks(&mut tx, &current.parent_id, -1).await?;
            lists::add_tasks(&mut tx, &current.list_id, -i64::try_from(n).unwrap_or(0)).await?;
            let now = now_micros();
            for task in &doomed {
                reminders::sync(&mut tx, Some(task), None, now).await?;
            }
            tx.commit().await?;
            Ok(n)
        })
        .await?;
        self.relay.poke();
        tracing::info!(task_id = %id, tasks = gone, "task deleted");
        Ok(())
    }

    /// A page of the tasks the caller can see.
    pub(crate) async fn list_tasks(
        &self,
        caller: &UserId,
        req: &ListTasksRequest,
    ) -> Result<ListTasksResponse, Error> {
        let query = ListQuery::try_from(req).map_err(Error::Invalid)?;
        let ListQuery {
            size,
            filter,
            order,
            page_token,
        } = &query;
        let (size, order) = (*size, *order);
        // The token is valid only for this caller, order and filter set.
        // It is judged after the list: a list the caller is not in is a
        // 404 whatever the token.
        let scope = query.scope(caller);
        let after: Result<Option<Cursor>, Error> = self
            .page_tokens
            .decode(&scope, page_token)
            .map_err(|v| Error::Invalid(vec![v]));
        // One row more than asked tells whether another page exists.
        let limit = i64::try_from(size).unwrap_or(i64::MAX).saturating_add(1);
        let inline = self.db.inline_reads().filter(|_| {
            tasks::read_through_index(filter, order) && limit <= tasks::INLINE_PAGE_ROWS
        });
        // Three statements: a list the caller is not in is a 404, not an
        // empty page; then the page; then its links, by the page's ids.
        let (mut rows, tasks) = match inline {
            Some(reads) => reads.read(|conn| {
                if let Some(list_id) = &filter.list_id {
                    lists::get_inline(conn, caller, list_id)?.ok_or(Error::NotFound(LIST))?;
                }
                let after = after?;
                let rows = tasks::list_inline(conn, caller, filter, order, after.as_ref(), limit)?;
                let page = &rows[..rows.len().min(size)];
                let tasks = links::with_links_inline(conn, caller, page)?;
                Ok::<_, Error>((rows, tasks))
            })?,
            None => {
                let mut conn = self.db.pool.acquire().await?;
                if let Some(list_id) = &filter.list_id {
                    lists::get(&mut conn, caller, list_id)
                        .await?
                        .ok_or(Error::NotFound(LIST))?;
                }
                let after = after?;
                // One connection throughout: a request that held one
                // while it waited for a second from the same pool could
                // wait for itself.
                let rows =
                    tasks::list(&mut conn, caller, filter, order, after.as_ref(), limit).await?;
                let page = &rows[..rows.len().min(size)];
                let tasks = self.with_links(&mut conn, caller, page).await?;
                (rows, tasks)
            }
        };
        let more = rows.len() > size;
        rows.truncate(size);
        let next_page_token = match rows.last() {
            Some(last) if more => self.page_tokens.encode(&scope, &order.cursor(last)),
            _ => String::new(),
        };
        Ok(ListTasksResponse {
            tasks,
            next_page_token,
        })
    }

    /// Moves a task, with its subtasks, to another list, parent or spot
    /// among its siblings. Only the moved task's row changes its position,
    /// unless keys have grown so long that its siblings are renumbered.
    pub(crate) async fn move_task(
        &self,
        caller: &UserId,
        req: &MoveTaskRequest,
    ) -> Result<TaskRow, Error> {
        let mut errs = Vec::new();
        let id: Option<TaskId> = crate::domain::required_id(&req.id, "id", &mut errs);
        let to_list: Option<ListId> = optional_id(&req.list_id, "listId", &mut errs);
        let to_parent: Option<TaskId> = optional_id(&req.parent_id, "parentId", &mut errs);
        let after: Option<TaskId> = optional_id(&req.after_id, "afterId", &mut errs);
        let (Some(id), true) = (id, errs.is_empty()) else {
            return Err(Error::Invalid(errs));
        };
        let row = retry(|| async {
            let mut tx = self.db.begin_write().await?;
            let current = writable(&mut tx, caller, &id).await?;
            let list_id = to_list.clone().unwrap_or_else(|| current.list_id.clone());
            let subtree = descendants(&mut tx, caller, &current).await?;
            let moved = 1 + subtree.iter().map(Vec::len).sum::<usize>();
            if list_id != current.list_id {
                let target = lists::get(&mut tx, caller, &list_id)
                    .await?
                    .ok_or(Error::NotFound(LIST))?;
                target.role.require(Action::Write)?;
                if target.list.task_count + i64::try_from(moved).unwrap_or(i64::MAX)
                    > TASKS_PER_LIST
                {
                    return Err(Error::Precondition("a list holds at most 10,000 tasks"));
                }
            }
            let parent_id = match &to_parent {
                Some(p) => {
                    let in_subtree = *p == id || subtree.iter().flatten().any(|t| t.id == *p);
                    if in_subtree {
                        return Err(FieldViolation::new(
                            "parentId",
                            "a task cannot move under itself or its subtasks",
                        )
                        .into());
                    }
                    let height = 1 + subtree.len();
                    self.parent_in(&mut tx, caller, p, Some(&list_id), height)
                        .await
                        .map_err(|e| rename_field(e, "task.parentId", "parentId"))?
                        .task
                        .id
                        .into()
                }
                None => String::new(),
            };
            let position = sibling_key(
                &mut tx,
                caller,
                &current,
                &list_id,
                &parent_id,
                after.as_ref(),
            )
            .await?;
            let now = now_micros();
            let row = TaskRow {
                list_id: list_id.clone(),
                parent_id: parent_id.clone(),
                position,
                update_time: now.max(current.update_time + 1),
                revision: current.revision + 1,
                ..current.clone()
            };
            if !tasks::relocate(&mut tx, caller, &row, current.revision).await? {
                return Err(Error::Contended);
            }
            if parent_id != current.parent_id {
                tasks::add_subtasks(&mut tx, &current.parent_id, -1).await?;
                tasks::add_subtasks(&mut tx, &parent_id, 1).await?;
            }
            if list_id != current.list_id {
                let ids: Vec<TaskId> = subtree.iter().flatten().map(|t| t.id.clone()).collect();
                tasks::set_list(&mut tx, &ids, &current.list_id, &list_id).await?;
                let n = i64::try_from(moved).unwrap_or(i64::MAX);
                lists::add_tasks(&mut tx, &current.list_id, -n).await?;
                lists::add_tasks(&mut tx, &list_id, n).await?;
            }
            tx.commit().await?;
            Ok(row)
        })
        .await?;
        tracing::info!(task_id = %id, "task moved");
        Ok(row)
    }
}

/// The task `id` for a write by `caller`: NOT_FOUND unless they are a
/// member of its list, PERMISSION_DENIED unless their role may write it.
async fn writable(
    conn: &mut AnyConnection,
    caller: &UserId,
    id: &TaskId,
) -> Result<TaskRow, Error> {
    let found = tasks::get(conn, caller, id)
        .await?
        .ok_or(Error::NotFound(TASK))?;
    found.role.require(Action::Write)?;
    Ok(found.task)
}

/// A position for `task` among the siblings under `parent_id` in
/// `list_id`: right after the sibling `after`, or first.
async fn sibling_key(
    conn: &mut AnyConnection,
    caller: &UserId,
    task: &TaskRow,
    list_id: &ListId,
    parent_id: &str,
    after: Option<&TaskId>,
) -> Result<String, Error> {
    for attempt in 0..2 {
        let lo = match after {
            Some(after_id) => {
                let sibling = tasks::get(conn, caller, after_id)
                    .await?
                    .map(|v| v.task)
                    .ok_or(Error::NotFound(AFTER))?;
                if sibling.list_id != *list_id
                    || sibling.parent_id != parent_id
                    || sibling.id == task.id
                {
                    return Err(FieldViolation::new(
                        "afterId",
                        "must be another task under the new parent",
                    )
                    .into());
                }
                Some(sibling.position)
            }
            None => None,
        };
        let hi = match &lo {
            Some(lo) => tasks::next_position(conn, list_id, parent_id, Some(lo)).await?,
            None => tasks::first_position(conn, list_id, parent_id).await?,
        };
        // The task's own key as the upper bound is fine: it moves just
        // before where it was.
        let key = next_key(lo.as_deref(), hi.as_deref())?;
        if key.len() <= position::MAX_LEN || attempt > 0 {
            return Ok(key);
        }
        tasks::renumber(conn, list_id, parent_id).await?;
    }
    unreachable!("the loop returns on its second attempt")
}

/// A key between `lo` and `hi` (see [`position::between`]), as an error
/// when stored keys leave no room or are malformed.
fn next_key(lo: Option<&str>, hi: Option<&str>) -> Result<String, Error> {
    position::between(lo, hi)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("no position between {lo:?} and {hi:?}")))
}

/// A violation reported under `from` renamed to `to` (a move names its
/// fields without the `task.` prefix).
fn rename_field(e: Error, from: &str, to: &str) -> Error {
    match e {
        Error::Invalid(mut v) => {
            for f in &mut v {
                if f.field == from {
                    to.clone_into(&mut f.field);
                }
            }
            Error::Invalid(v)
        }
        other => other,
    }
}

/// The ancestors of `task`, nearest first; the tree is at most
/// [`MAX_DEPTH`] deep, so this is at most that many lookups.
async fn ancestors(
    conn: &mut impl Exec,
    caller: &UserId,
    task: &TaskRow,
) -> Result<Vec<TaskRow>, Error> {
    let mut chain: Vec<TaskRow> = Vec::new();
    let mut parent = task.parent_id.clone();
    while !parent.is_empty() && chain.len() < MAX_DEPTH {
        let Some(p) = tasks::get(conn, caller, &TaskId::trusted(parent.as_str())).await? else {
            break;
        };
        parent.clone_from(&p.task.parent_id);
        chain.push(p.task);
    }
    Ok(chain)
}

/// The subtasks of `task`, level by level (children first).
async fn descendants(
    conn: &mut AnyConnection,
    caller: &UserId,
    task: &TaskRow,
) -> Result<Vec<Vec<TaskRow>>, Error> {
    let mut levels = Vec::new();
    let mut frontier = vec![task.id.clone()];
    while levels.len() < MAX_DEPTH {
        let level = tasks::children(conn, caller, &task.list_id, &frontier).await?;
        if level.is_empty() {
            break;
        }
        frontier = level.iter().map(|t| t.id.clone()).collect();
        levels.push(level);
    }
    Ok(levels)
}

/// The most tasks one digest request returns.
const DUE_TASKS_MAX: i32 = 100;

/// `current` with the client's new `fields`, placed in `tz`. Completing a
/// recurring task moves its due to the next occurrence instead of closing
/// it (unless the rule is exhausted); either way `completeTime` records
/// the completion.
fn changed(current: &TaskRow, mut fields: TaskFields, tz: Tz, now: i64) -> TaskRow {
    let before = &current.fields.schedule;
    let restarted =
        fields.schedule.due != before.due || fields.schedule.recurrence != before.recurrence;
    let mut occurrence = if restarted { 1 } else { current.occurrence };
    let complete_time = match (current.fields.done, fields.done) {
        (false, true) => Some(now),
        (true, false) => None,
        _ => current.complete_time,
    };
    if !current.fields.done && fields.done {
        let schedule = &fields.schedule;
        let next = match (&schedule.recurrence, &schedule.due) {
            (Some(rule), Some(due)) => {
                rule.next_after(due, u32::try_from(occurrence).unwrap_or(u32::MAX), tz)
            }
            _ => None,
        };
        if let Some(next) = next {
            fields.schedule.due = Some(next);
            fields.done = false;
            occurrence += 1;
        }
    }
    TaskRow {
        placed: fields.schedule.place(tz),
        fields,
        occurrence,
        complete_time,
        // Strictly increasing, so the etag changes even within one clock
        // tick.
        update_time: now.max(current.update_time + 1),
        revision: current.revision + 1,
        ..current.clone()
    }
}
