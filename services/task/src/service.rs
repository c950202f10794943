//! `todo.task.v1.TaskService` and `TaskInternalService`.

use prost::Message;
use sha2::{Digest, Sha256};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use todo_common::clock::{is_id, new_id, now_micros, to_timestamp};
use todo_common::status::FieldViolation;
use todo_proto::todo::notify::v1::{CancelReminderRequest, ScheduleReminderRequest};
use todo_proto::todo::task::v1::{
    CreateTaskRequest, DeleteTaskRequest, EraseUserTasksRequest, GetTaskRequest, ListTasksRequest,
    ListTasksResponse, ReplaceTaskRequest, RevokeAccessTokensRequest, Task, UpdateTaskRequest,
    task_internal_service_server::TaskInternalService, task_service_server::TaskService,
};
use todo_store::erased;
use todo_store::outbox;

use crate::State;
use crate::domain::{Edit, ListQuery, TaskFields};
use crate::error::Error;
use crate::idempotency;
use crate::outbox::Outbox;
use crate::store::{self, Cursor, TaskRow};

/// The task id of a request, which must be one this service could have made.
fn task_id(raw: &str, field: &str) -> Result<String, Error> {
    if is_id(raw) {
        Ok(raw.to_owned())
    } else {
        Err(FieldViolation::new(field, "must be a task id").into())
    }
}

/// The `idempotency-key` metadata, if any: 1..=200 visible ASCII characters.
fn idempotency_key(metadata: &MetadataMap) -> Result<Option<String>, Error> {
    let Some(v) = metadata.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        Error::from(FieldViolation::new(
            "Idempotency-Key",
            "must be 1 to 200 visible ASCII characters",
        ))
    };
    let key = v.to_str().map_err(|_| bad())?.trim();
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(key.to_owned()))
}

/// The etags an `if-match` header accepts; `None` without the header,
/// `Some(vec!["*"])` for any current version.
fn if_match(metadata: &MetadataMap) -> Option<Vec<String>> {
    let raw = metadata.get("if-match")?.to_str().unwrap_or("\u{0}");
    Some(
        raw.split(',')
            .map(|t| {
                t.trim()
                    .trim_start_matches("W/")
                    .trim_matches('"')
                    .to_owned()
            })
            .filter(|t| !t.is_empty())
            .collect(),
    )
}

fn check_etag(expected: Option<&[String]>, row: &TaskRow) -> Result<(), Error> {
    match expected {
        Some(tags) if !tags.iter().any(|t| t == "*" || *t == row.etag()) => Err(Error::StaleEtag),
        _ => Ok(()),
    }
}

/// Runs `attempt` again while it loses to a concurrent transaction.
async fn retry<T, F, Fut>(attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    todo_store::db::retry_contended(|e| matches!(e, Error::Contended), attempt).await
}

impl State {
    async fn create(
        &self,
        owner: &str,
        req: CreateTaskRequest,
        key: Option<String>,
    ) -> Result<TaskRow, Error> {
        let task = req.task.clone().unwrap_or_default();
        let fields = TaskFields::parse(&task).map_err(Error::Invalid)?;
        let now = now_micros();
        if fields.remind_time.is_some_and(|t| t < now) {
            return Err(FieldViolation::new("task.remindTime", "must not be in the past").into());
        }
        let row = TaskRow {
            id: new_id(),
            complete_time: fields.done.then_some(now),
            fields,
            create_time: now,
            update_time: now,
            revision: 1,
        };
        let hash = hex::encode(Sha256::digest(req.encode_to_vec()));
        let made = retry(|| self.insert(owner, &row, key.as_deref(), &hash, now)).await?;
        if made.id == row.id {
            self.relay.poke();
            tracing::info!(task_id = %row.id, "task created");
        }
        Ok(made)
    }

    /// One attempt at a create: the idempotency key, the row and its
    /// reminder in one transaction. Answers with the task a retry of the
    /// same request made earlier, if any.
    async fn insert(
        &self,
        owner: &str,
        row: &TaskRow,
        key: Option<&str>,
        request_hash: &str,
        now: i64,
    ) -> Result<TaskRow, Error> {
        let mut tx = self.db.begin_write().await?;
        if let Some(key) = key {
            let not_before = now - idempotency::TTL_MICROS;
            let earlier = store::claim_idempotency_key(
                &mut tx,
                owner,
                key,
                request_hash,
                &row.id,
                now,
                not_before,
            )
            .await?;
            if let Some(earlier) = earlier {
                if earlier.request_hash != request_hash {
                    return Err(Error::IdempotencyKeyReused);
                }
                return store::get(&mut tx, owner, &earlier.task_id)
                    .await?
                    .ok_or(Error::NotFound);
            }
        }
        store::insert(&mut tx, owner, row).await?;
        self.sync_reminder(&mut tx, owner, None, Some(row)).await?;
        tx.commit().await?;
        Ok(row.clone())
    }

    /// Replaces (`replace`) or patches a task. A concurrent write makes the
    /// attempt start over from the newer version, so no other writer's
    /// fields are lost.
    async fn change(
        &self,
        owner: &str,
        edit: Edit<'_>,
        expected: Option<&[String]>,
    ) -> Result<TaskRow, Error> {
        let id = task_id(edit.task_id(), "task.id")?;
        let row = retry(|| self.change_once(owner, &id, edit, expected)).await?;
        self.relay.poke();
        Ok(row)
    }

    async fn change_once(
        &self,
        owner: &str,
        id: &str,
        edit: Edit<'_>,
        expected: Option<&[String]>,
    ) -> Result<TaskRow, Error> {
        let mut tx = self.db.begin_write().await?;
        let current = store::get(&mut tx, owner, id)
            .await?
            .ok_or(Error::NotFound)?;
        check_etag(expected, &current)?;
        let next = edit
            .apply(id, &current.to_proto())
            .map_err(Error::Invalid)?;
        let fields = TaskFields::parse(&next).map_err(Error::Invalid)?;
        let now = now_micros();
        if fields.remind_time != current.fields.remind_time
            && fields.remind_time.is_some_and(|t| t < now)
        {
            return Err(FieldViolation::new("task.remindTime", "must not be in the past").into());
        }
        let complete_time = match (current.fields.done, fields.done) {
            (false, true) => Some(now),
            (true, true) => current.complete_time,
            (_, false) => None,
        };
        let row = TaskRow {
            id: id.to_owned(),
            fields,
            complete_time,
            create_time: current.create_time,
            // Strictly increasing, so the etag changes even within one
            // clock tick.
            update_time: now.max(current.update_time + 1),
            revision: current.revision + 1,
        };
        if !store::update(&mut tx, owner, &row, current.revision).await? {
            return Err(Error::Contended);
        }
        self.sync_reminder(&mut tx, owner, Some(&current), Some(&row))
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Deletes every task of a user whose account is gone. The user is
    /// recorded as erased in the same transaction, which refuses their
    /// unexpired access tokens from now on, so nothing new is written after
    /// the tasks are gone.
    async fn erase(&self, user_id: &str) -> Result<(), Error> {
        let now = now_micros();
        let n = retry(|| async {
            let mut tx = self.db.begin_write().await?;
            erased::record(&mut tx, user_id, now).await?;
            let n = store::delete_all(&mut tx, user_id).await?;
            tx.commit().await?;
            Ok(n)
        })
        .await?;
        tracing::info!(user_id = %user_id, tasks = n, "user's tasks erased");
        erased::prune(&self.db.pool, now).await;
        Ok(())
    }

    async fn delete(
        &self,
        owner: &str,
        id: &str,
        expected: Option<&[String]>,
    ) -> Result<(), Error> {
        retry(|| async {
            let mut tx = self.db.begin_write().await?;
            let current = store::get(&mut tx, owner, id)
                .await?
                .ok_or(Error::NotFound)?;
            check_etag(expected, &current)?;
            if !store::delete(&mut tx, owner, id, current.revision).await? {
                return Err(Error::Contended);
            }
            self.sync_reminder(&mut tx, owner, Some(&current), None)
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.relay.poke();
        tracing::info!(task_id = %id, "task deleted");
        Ok(())
    }

    /// Queues the notify call that makes the task's reminder match its new
    /// state (`after: None` when deleted), in the caller's transaction.
    async fn sync_reminder(
        &self,
        conn: &mut sqlx::AnyConnection,
        owner: &str,
        before: Option<&TaskRow>,
        after: Option<&TaskRow>,
    ) -> Result<(), Error> {
        let pending = |r: &TaskRow| {
            if r.fields.done {
                None
            } else {
                r.fields.remind_time
            }
        };
        let was = before.and_then(pending);
        let will = after.and_then(pending);
        let title_changed =
            matches!((before, after), (Some(b), Some(a)) if b.fields.title != a.fields.title);
        let revision = after.map_or_else(|| before.map_or(1, |b| b.revision + 1), |a| a.revision);
        let task_id = after.or(before).map(|r| r.id.clone()).unwrap_or_default();
        match (was, will) {
            (_, Some(at)) if was != will || title_changed => {
                let req = ScheduleReminderRequest {
                    dedup_key: format!("schedule:{task_id}:{revision}"),
                    user_id: owner.to_owned(),
                    task_id,
                    task_title: after.map(|a| a.fields.title.clone()).unwrap_or_default(),
                    remind_time: Some(to_timestamp(at)),
                    revision,
                };
                outbox::enqueue(conn, &Outbox::ScheduleReminder(req)).await?;
            }
            (Some(_), None) => {
                let req = CancelReminderRequest {
                    dedup_key: format!("cancel:{task_id}:{revision}"),
                    user_id: owner.to_owned(),
                    task_id,
                    revision,
                };
                outbox::enqueue(conn, &Outbox::CancelReminder(req)).await?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn list(&self, owner: &str, req: &ListTasksRequest) -> Result<ListTasksResponse, Error> {
        let query = ListQuery::try_from(req).map_err(Error::Invalid)?;
        let ListQuery {
            size,
            filter,
            order,
            page_token,
        } = &query;
        let (size, order) = (*size, *order);
        // The token is valid only for this caller, order and filter set.
        let scope = query.scope(owner);
        let after: Option<Cursor> = self
            .page_tokens
            .decode(&scope, page_token)
            .map_err(|v| Error::Invalid(vec![v]))?;
        // One row more than asked tells whether another page exists.
        let limit = i64::try_from(size).unwrap_or(i64::MAX).saturating_add(1);
        let mut rows =
            store::list(&self.db.pool, owner, filter, order, after.as_ref(), limit).await?;
        let more = rows.len() > size;
        rows.truncate(size);
        let next_page_token = match rows.last() {
            Some(last) if more => self.page_tokens.encode(&scope, &order.cursor(last)),
            _ => String::new(),
        };
        Ok(ListTasksResponse {
            tasks: rows.iter().map(TaskRow::to_proto).collect(),
            next_page_token,
        })
    }
}

type Rpc<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl TaskService for State {
    async fn create_task(&self, request: Request<CreateTaskRequest>) -> Rpc<Task> {
        let caller = self.verifier.authenticate(&request).await?;
        let key = idempotency_key(request.metadata())?;
        let row = self
            .create(&caller.user_id, request.into_inner(), key)
            .await?;
        Ok(Response::new(row.to_proto()))
    }

    async fn list_tasks(&self, request: Request<ListTasksRequest>) -> Rpc<ListTasksResponse> {
        let caller = self.verifier.authenticate(&request).await?;
        Ok(Response::new(
            self.list(&caller.user_id, &request.into_inner()).await?,
        ))
    }

    async fn get_task(&self, request: Request<GetTaskRequest>) -> Rpc<Task> {
        let caller = self.verifier.authenticate(&request).await?;
        let id = task_id(&request.get_ref().id, "id")?;
        let mut conn = self.db.pool.acquire().await.map_err(Error::from)?;
        let row = store::get(&mut conn, &caller.user_id, &id)
            .await?
            .ok_or(Error::NotFound)?;
        Ok(Response::new(row.to_proto()))
    }

    async fn replace_task(&self, request: Request<ReplaceTaskRequest>) -> Rpc<Task> {
        let caller = self.verifier.authenticate(&request).await?;
        let expected = if_match(request.metadata());
        let task = request.into_inner().task.unwrap_or_default();
        let row = self
            .change(&caller.user_id, Edit::Replace(&task), expected.as_deref())
            .await?;
        Ok(Response::new(row.to_proto()))
    }

    async fn update_task(&self, request: Request<UpdateTaskRequest>) -> Rpc<Task> {
        let caller = self.verifier.authenticate(&request).await?;
        let expected = if_match(request.metadata());
        let req = request.into_inner();
        let mask = req.update_mask.map(|m| m.paths);
        let task = req.task.unwrap_or_default();
        let row = self
            .change(
                &caller.user_id,
                Edit::Update {
                    patch: &task,
                    mask: mask.as_deref(),
                },
                expected.as_deref(),
            )
            .await?;
        Ok(Response::new(row.to_proto()))
    }

    async fn delete_task(&self, request: Request<DeleteTaskRequest>) -> Rpc<()> {
        let caller = self.verifier.authenticate(&request).await?;
        let id = task_id(&request.get_ref().id, "id")?;
        let expected = if_match(request.metadata());
        self.delete(&caller.user_id, &id, expected.as_deref())
            .await?;
        Ok(Response::new(()))
    }
}

#[tonic::async_trait]
impl TaskInternalService for State {
    async fn erase_user_tasks(&self, request: Request<EraseUserTasksRequest>) -> Rpc<()> {
        let user_id = request.into_inner().user_id;
        if !is_id(&user_id) {
            return Err(Error::from(FieldViolation::new("userId", "must be a user id")).into());
        }
        self.erase(&user_id).await?;
        Ok(Response::new(()))
    }

    async fn revoke_access_tokens(&self, request: Request<RevokeAccessTokensRequest>) -> Rpc<()> {
        let req = request.into_inner();
        if !is_id(&req.user_id) {
            return Err(Error::from(FieldViolation::new("userId", "must be a user id")).into());
        }
        let now = now_micros();
        retry(|| async {
            let mut tx = self.db.begin_write().await?;
            erased::revoke_tokens_before(&mut tx, &req.user_id, req.issued_before, now).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        tracing::info!(user_id = %req.user_id, "access tokens before a credential change refused");
        erased::prune_cutoffs(&self.db.pool, now).await;
        Ok(Response::new(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_quoted_weak_and_listed_etags() {
        let mut md = MetadataMap::new();
        assert_eq!(if_match(&md), None);
        md.insert("if-match", "W/\"1-2\", \"3-4\"".parse().unwrap());
        assert_eq!(
            if_match(&md),
            Some(vec!["1-2".to_owned(), "3-4".to_owned()])
        );
    }

    #[test]
    fn idempotency_keys_are_bounded() {
        let mut md = MetadataMap::new();
        md.insert("idempotency-key", "x".repeat(201).parse().unwrap());
        assert!(idempotency_key(&md).is_err());
        md.insert("idempotency-key", "abc-123".parse().unwrap());
        assert_eq!(idempotency_key(&md).unwrap().as_deref(), Some("abc-123"));
    }
}
