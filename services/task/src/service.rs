//! `todo.task.v1.TaskService` and `TaskInternalService`: each RPC
//! authenticates the caller, reads its request and hands over to the use
//! case (`tasks`, `lists`, `sharing`, `erasure`, `time_zones`).

use tonic::{Request, Response, Status};

use todo_common::clock::now_micros;
use todo_common::status::FieldViolation;
use todo_proto::todo::task::v1::{
    AcceptInvitationRequest, AnnounceInvitationsRequest, CreateListRequest,
    CreateTaskFromUrlRequest, CreateTaskRequest, DeclineInvitationRequest, DeleteListRequest,
    DeleteTaskRequest, EraseUserTasksRequest, GetListRequest, GetTaskRequest, InviteMemberRequest,
    ListDueTasksRequest, ListDueTasksResponse, ListInvitationsRequest, ListInvitationsResponse,
    ListListsRequest, ListListsResponse, ListMembersRequest, ListMembersResponse, ListTasksRequest,
    ListTasksResponse, Member, MoveTaskRequest, RemoveMemberRequest, ReplaceTaskRequest,
    RevokeAccessTokensRequest, SetTimeZoneRequest, Task, TaskList, UpdateListRequest,
    UpdateMemberRequest, UpdateTaskRequest, task_internal_service_server::TaskInternalService,
    task_service_server::TaskService,
};
use todo_store::erased;

use crate::State;
use crate::domain::Edit;
use crate::error::{Error, TASK};
use crate::ids::{Id, ListId, TaskId, UserId};
use crate::links::with_links_inline;
use crate::request::{idempotency_key, if_match, retry};
use crate::store::tasks;

type Rpc<T> = Result<Response<T>, Status>;

impl State {
    /// The authenticated caller of `request`.
    async fn caller<T>(&self, request: &Request<T>) -> Result<UserId, Status> {
        let caller = self.verifier.authenticate(request).await?;
        Ok(UserId::trusted(caller.user_id))
    }
}

/// The user an internal request is about.
fn internal_user(raw: &str) -> Result<UserId, Error> {
    Ok(UserId::parse(raw, "userId")
        .map_err(|_| FieldViolation::new("userId", "must be a user id"))?)
}

#[tonic::async_trait]
impl TaskService for State {
    async fn create_task(&self, request: Request<CreateTaskRequest>) -> Rpc<Task> {
        let caller = self.caller(&request).await?;
        let key = idempotency_key(request.metadata())?;
        let row = self.create_task(&caller, request.into_inner(), key).await?;
        Ok(Response::new(self.task_with_links(&caller, &row).await?))
    }

    async fn list_tasks(&self, request: Request<ListTasksRequest>) -> Rpc<ListTasksResponse> {
        let caller = self.caller(&request).await?;
        Ok(Response::new(
            self.list_tasks(&caller, request.get_ref()).await?,
        ))
    }

    async fn get_task(&self, request: Request<GetTaskRequest>) -> Rpc<Task> {
        let caller = self.caller(&request).await?;
        let id = TaskId::parse(&request.get_ref().id, "id").map_err(Error::from)?;
        // Two statements: the task with the membership joined, not looked
        // up first, then its links.
        let task = match self.db.inline_reads() {
            Some(reads) => reads.read(|conn| {
                let found = tasks::get_inline(conn, &caller, &id)?.ok_or(Error::NotFound(TASK))?;
                with_links_inline(conn, &caller, std::slice::from_ref(&found.task))
            })?,
            None => {
                let mut conn = self.db.pool.acquire().await.map_err(Error::from)?;
                let found = tasks::get(&mut conn, &caller, &id)
                    .await?
                    .ok_or(Error::NotFound(TASK))?;
                self.with_links(&mut conn, &caller, std::slice::from_ref(&found.task))
                    .await?
            }
        };
        // One task in, one out.
        Ok(Response::new(
            task.into_iter().next().ok_or(Error::NotFound(TASK))?,
        ))
    }

    async fn replace_task(&self, request: Request<ReplaceTaskRequest>) -> Rpc<Task> {
        let caller = self.caller(&request).await?;
        let expected = if_match(request.metadata());
        let task = request.into_inner().task.unwrap_or_default();
        let row = self
            .change_task(&caller, Edit::Replace(&task), expected.as_deref())
            .await?;
        Ok(Response::new(self.task_with_links(&caller, &row).await?))
    }

    async fn update_task(&self, request: Request<UpdateTaskRequest>) -> Rpc<Task> {
        let caller = self.caller(&request).await?;
        let expected = if_match(request.metadata());
        let req = request.into_inner();
        let mask = req.update_mask.map(|m| m.paths);
        let task = req.task.unwrap_or_default();
        let edit = Edit::Update {
            patch: &task,
            mask: mask.as_deref(),
        };
        let row = self.change_task(&caller, edit, expected.as_deref()).await?;
        Ok(Response::new(self.task_with_links(&caller, &row).await?))
    }

    async fn delete_task(&self, request: Request<DeleteTaskRequest>) -> Rpc<()> {
        let caller = self.caller(&request).await?;
        let id = TaskId::parse(&request.get_ref().id, "id").map_err(Error::from)?;
        let expected = if_match(request.metadata());
        self.delete_task(&caller, &id, expected.as_deref()).await?;
        Ok(Response::new(()))
    }

    async fn move_task(&self, request: Request<MoveTaskRequest>) -> Rpc<Task> {
        let caller = self.caller(&request).await?;
        let row = self.move_task(&caller, request.get_ref()).await?;
        Ok(Response::new(self.task_with_links(&caller, &row).await?))
    }

    async fn create_task_from_url(&self, request: Request<CreateTaskFromUrlRequest>) -> Rpc<Task> {
        let caller = self.caller(&request).await?;
        let key = idempotency_key(request.metadata())?;
        let row = self
            .create_task_from_url(&caller, request.get_ref(), key)
            .await?;
        Ok(Response::new(self.task_with_links(&caller, &row).await?))
    }

    async fn create_list(&self, request: Request<CreateListRequest>) -> Rpc<TaskList> {
        let caller = self.caller(&request).await?;
        let list = request.into_inner().list.unwrap_or_default();
        let made = self.create_list(&caller, &list).await?;
        Ok(Response::new(made.to_proto()))
    }

    async fn list_lists(&self, request: Request<ListListsRequest>) -> Rpc<ListListsResponse> {
        let caller = self.caller(&request).await?;
        Ok(Response::new(
            self.list_lists(&caller, request.get_ref()).await?,
        ))
    }

    async fn get_list(&self, request: Request<GetListRequest>) -> Rpc<TaskList> {
        let caller = self.caller(&request).await?;
        let id = ListId::parse(&request.get_ref().id, "id").map_err(Error::from)?;
        let found = self.membership(&caller, &id).await?;
        Ok(Response::new(found.to_proto()))
    }

    async fn update_list(&self, request: Request<UpdateListRequest>) -> Rpc<TaskList> {
        let caller = self.caller(&request).await?;
        let expected = if_match(request.metadata());
        let changed = self
            .update_list(&caller, request.get_ref(), expected.as_deref())
            .await?;
        Ok(Response::new(changed.to_proto()))
    }

    async fn delete_list(&self, request: Request<DeleteListRequest>) -> Rpc<()> {
        let caller = self.caller(&request).await?;
        let id = ListId::parse(&request.get_ref().id, "id").map_err(Error::from)?;
        let expected = if_match(request.metadata());
        self.delete_list(&caller, &id, expected.as_deref()).await?;
        Ok(Response::new(()))
    }

    async fn invite_member(&self, request: Request<InviteMemberRequest>) -> Rpc<()> {
        let caller = self.caller(&request).await?;
        self.invite(&caller, request.get_ref()).await?;
        Ok(Response::new(()))
    }

    async fn list_invitations(
        &self,
        request: Request<ListInvitationsRequest>,
    ) -> Rpc<ListInvitationsResponse> {
        let caller = self.caller(&request).await?;
        Ok(Response::new(self.list_invitations(&caller).await?))
    }

    async fn accept_invitation(&self, request: Request<AcceptInvitationRequest>) -> Rpc<TaskList> {
        let caller = self.caller(&request).await?;
        let joined = self.accept(&caller, &request.get_ref().id).await?;
        Ok(Response::new(joined.to_proto()))
    }

    async fn decline_invitation(&self, request: Request<DeclineInvitationRequest>) -> Rpc<()> {
        let caller = self.caller(&request).await?;
        self.decline(&caller, &request.get_ref().id).await?;
        Ok(Response::new(()))
    }

    async fn list_members(&self, request: Request<ListMembersRequest>) -> Rpc<ListMembersResponse> {
        let caller = self.caller(&request).await?;
        Ok(Response::new(
            self.list_members(&caller, &request.get_ref().list_id)
                .await?,
        ))
    }

    async fn update_member(&self, request: Request<UpdateMemberRequest>) -> Rpc<Member> {
        let caller = self.caller(&request).await?;
        Ok(Response::new(
            self.update_member(&caller, request.get_ref()).await?,
        ))
    }

    async fn remove_member(&self, request: Request<RemoveMemberRequest>) -> Rpc<()> {
        let caller = self.caller(&request).await?;
        self.remove_member(&caller, request.get_ref()).await?;
        Ok(Response::new(()))
    }
}

#[tonic::async_trait]
impl TaskInternalService for State {
    async fn erase_user_tasks(&self, request: Request<EraseUserTasksRequest>) -> Rpc<()> {
        let user_id = internal_user(&request.into_inner().user_id)?;
        self.erase(&user_id).await?;
        Ok(Response::new(()))
    }

    async fn announce_invitations(&self, request: Request<AnnounceInvitationsRequest>) -> Rpc<()> {
        let user_id = internal_user(&request.into_inner().user_id)?;
        self.announce_invitations(&user_id).await?;
        Ok(Response::new(()))
    }

    async fn revoke_access_tokens(&self, request: Request<RevokeAccessTokensRequest>) -> Rpc<()> {
        let req = request.into_inner();
        internal_user(&req.user_id)?;
        let now = now_micros();
        retry(|| async {
            let mut tx = self.db.begin_write().await?;
            erased::revoke_tokens_before(&mut tx, &req.user_id, req.issued_before, now).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.revocations.changed();
        tracing::info!(user_id = %req.user_id, "access tokens before a credential change refused");
        // Best effort, as the prune itself: without the turn it still runs.
        let _turn = self.db.write_turn().await;
        erased::prune_cutoffs(self.db.writer(), now).await;
        Ok(Response::new(()))
    }

    async fn set_time_zone(&self, request: Request<SetTimeZoneRequest>) -> Rpc<()> {
        self.set_time_zone(request.get_ref()).await?;
        Ok(Response::new(()))
    }

    async fn list_due_tasks(
        &self,
        request: Request<ListDueTasksRequest>,
    ) -> Rpc<ListDueTasksResponse> {
        Ok(Response::new(self.list_due_tasks(request.get_ref()).await?))
    }
}
