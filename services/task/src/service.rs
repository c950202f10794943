//! `todo.task.v1.TaskService` and `TaskInternalService`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tonic::{Request, Response, Status};

use todo_common::clock::{from_timestamp, is_id, new_id, now_micros};
use todo_common::status::FieldViolation;
use todo_proto::todo::task::v1::{
    CreateTaskRequest, DeleteTaskRequest, EraseUserTasksRequest, GetTaskRequest, ListTasksRequest,
    ListTasksResponse, ReplaceTaskRequest, Task, UpdateTaskRequest,
    task_internal_service_server::TaskInternalService, task_service_server::TaskService,
};

use crate::State;
use crate::domain::TaskFields;
use crate::error::Error;
use crate::store::{self, Filter, TaskRow};

pub const PAGE_SIZE_DEFAULT: i32 = 50;
pub const PAGE_SIZE_MAX: i32 = 1000;

/// The task id of a request, which must be one this service could have made.
fn task_id(raw: &str, field: &str) -> Result<String, Error> {
    if is_id(raw) {
        Ok(raw.to_owned())
    } else {
        Err(FieldViolation::new(field, "must be a task id").into())
    }
}

/// Sort orders that can be paged by id alone.
fn parse_order(raw: &str) -> Result<bool, Error> {
    match raw.trim() {
        "" | "createTime" => Ok(false),
        "createTime desc" => Ok(true),
        _ => Err(
            FieldViolation::new("orderBy", "must be one of: createTime, createTime desc").into(),
        ),
    }
}

/// Page tokens carry the sort order they were made for, so a token cannot
/// be replayed against another order.
fn encode_page_token(descending: bool, last_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1|{}|{last_id}", u8::from(descending)))
}

fn decode_page_token(raw: &str, descending: bool) -> Result<Option<String>, Error> {
    if raw.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Error::from(FieldViolation::new(
            "pageToken",
            "is not a page token of this query",
        ))
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(order), Some(id))
            if order == (if descending { "1" } else { "0" }) && is_id(id) =>
        {
            Ok(Some(id.to_owned()))
        }
        _ => Err(bad()),
    }
}

impl State {
    async fn create(&self, owner: &str, req: CreateTaskRequest) -> Result<TaskRow, Error> {
        let task = req.task.unwrap_or_default();
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
        store::insert(&self.db.pool, owner, &row).await?;
        tracing::info!(task_id = %row.id, "task created");
        Ok(row)
    }

    async fn list(&self, owner: &str, req: ListTasksRequest) -> Result<ListTasksResponse, Error> {
        let mut errs = Vec::new();
        let page_size = match req.page_size {
            0 => PAGE_SIZE_DEFAULT,
            n if n < 0 => {
                errs.push(FieldViolation::new("pageSize", "must not be negative"));
                PAGE_SIZE_DEFAULT
            }
            n => n.min(PAGE_SIZE_MAX),
        };
        let mut time = |ts: Option<&prost_types::Timestamp>, field: &str| {
            ts.and_then(|t| {
                let m = from_timestamp(t);
                if m.is_none() {
                    errs.push(FieldViolation::new(
                        field,
                        "must be a time between years 0001 and 9999",
                    ));
                }
                m
            })
        };
        let filter = Filter {
            done: req.done,
            label: Some(req.label.trim().to_owned()).filter(|l| !l.is_empty()),
            due_before: time(req.due_before.as_ref(), "dueBefore"),
            due_after: time(req.due_after.as_ref(), "dueAfter"),
            q: Some(req.q.trim().to_lowercase()).filter(|q| !q.is_empty()),
        };
        if filter.q.as_ref().is_some_and(|q| q.chars().count() > 500) {
            errs.push(FieldViolation::new(
                "q",
                "must be at most 500 characters long",
            ));
        }
        let descending = match parse_order(&req.order_by) {
            Ok(d) => d,
            Err(Error::Invalid(v)) => {
                errs.extend(v);
                false
            }
            Err(e) => return Err(e),
        };
        let after = match decode_page_token(&req.page_token, descending) {
            Ok(a) => a,
            Err(Error::Invalid(v)) => {
                errs.extend(v);
                None
            }
            Err(e) => return Err(e),
        };
        if !errs.is_empty() {
            return Err(Error::Invalid(errs));
        }
        // One row more than asked tells whether another page exists.
        let limit = i64::from(page_size) + 1;
        let mut rows = store::list(
            &self.db.pool,
            owner,
            &filter,
            descending,
            after.as_deref(),
            limit,
        )
        .await?;
        let more = rows.len() > usize::try_from(page_size).unwrap_or(usize::MAX);
        rows.truncate(usize::try_from(page_size).unwrap_or(usize::MAX));
        let next_page_token = match rows.last() {
            Some(last) if more => encode_page_token(descending, &last.id),
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
        let row = self.create(&caller.user_id, request.into_inner()).await?;
        Ok(Response::new(row.to_proto()))
    }

    async fn list_tasks(&self, request: Request<ListTasksRequest>) -> Rpc<ListTasksResponse> {
        let caller = self.verifier.authenticate(&request).await?;
        Ok(Response::new(
            self.list(&caller.user_id, request.into_inner()).await?,
        ))
    }

    async fn get_task(&self, request: Request<GetTaskRequest>) -> Rpc<Task> {
        let caller = self.verifier.authenticate(&request).await?;
        let id = task_id(&request.get_ref().id, "id")?;
        let row = store::get(&self.db.pool, &caller.user_id, &id)
            .await?
            .ok_or(Error::NotFound)?;
        Ok(Response::new(row.to_proto()))
    }

    async fn replace_task(&self, request: Request<ReplaceTaskRequest>) -> Rpc<Task> {
        self.verifier.authenticate(&request).await?;
        Err(Status::unimplemented(
            "replacing a task is not available yet",
        ))
    }

    async fn update_task(&self, request: Request<UpdateTaskRequest>) -> Rpc<Task> {
        self.verifier.authenticate(&request).await?;
        Err(Status::unimplemented(
            "updating a task is not available yet",
        ))
    }

    async fn delete_task(&self, request: Request<DeleteTaskRequest>) -> Rpc<()> {
        let caller = self.verifier.authenticate(&request).await?;
        let id = task_id(&request.get_ref().id, "id")?;
        if !store::delete(&self.db.pool, &caller.user_id, &id).await? {
            return Err(Error::NotFound.into());
        }
        tracing::info!(task_id = %id, "task deleted");
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
        let n = store::delete_all(&self.db.pool, &user_id).await?;
        tracing::info!(user_id = %user_id, tasks = n, "user's tasks erased");
        Ok(Response::new(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_are_bound_to_their_order() {
        let id = new_id();
        let token = encode_page_token(true, &id);
        assert_eq!(decode_page_token(&token, true).unwrap(), Some(id));
        assert!(decode_page_token(&token, false).is_err());
        assert!(decode_page_token("garbage!", false).is_err());
        assert!(decode_page_token(&URL_SAFE_NO_PAD.encode("v1|0|x' OR 1=1"), false).is_err());
    }
}
