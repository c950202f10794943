//! gRPC straight to the services with the generated clients: the same
//! reads and writes as through the edge, without the edge.
//!
//! The workers of one run share one channel per service, one HTTP/2
//! connection carrying every worker's calls, as the edge's own channel to
//! each service does: the service sees the same connection either way.

use anyhow::Context;
use todo_proto::todo::task::v1::task_service_client::TaskServiceClient;
use todo_proto::todo::task::v1::{
    CreateTaskRequest, GetTaskRequest, ListTasksRequest, UpdateTaskRequest,
};
use todo_proto::todo::user::v1::LoginRequest;
use todo_proto::todo::user::v1::user_service_client::UserServiceClient;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use crate::measure::Worker;

/// A connected channel to `url` (`http://host:port`).
///
/// # Errors
/// When the URL is invalid or nothing answers there.
pub async fn channel(url: &str) -> anyhow::Result<Channel> {
    Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("invalid URL {url}"))?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("cannot connect to {url}"))
}

/// `Bearer <token>` as call metadata.
///
/// # Errors
/// When the token is not ASCII.
pub fn bearer(token: &str) -> anyhow::Result<AsciiMetadataValue> {
    MetadataValue::try_from(format!("Bearer {token}")).context("the token is not ASCII")
}

/// `message` with `authorization` attached.
pub fn authed<T>(message: T, authorization: &AsciiMetadataValue) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", authorization.clone());
    request
}

/// One gRPC call, as a worker's call maker describes it.
#[derive(Debug)]
pub enum GrpcCall {
    Get(GetTaskRequest),
    List(ListTasksRequest),
    Create(CreateTaskRequest),
    Update(UpdateTaskRequest),
    Login(LoginRequest),
}

/// Makes a worker's `n`-th call.
pub type MakeGrpcCall = Box<dyn FnMut(u64) -> GrpcCall + Send>;

/// A worker calling the task and user services.
pub struct GrpcWorker {
    task: TaskServiceClient<Channel>,
    user: UserServiceClient<Channel>,
    authorization: AsciiMetadataValue,
    make: MakeGrpcCall,
}

impl GrpcWorker {
    pub fn new(
        task: Channel,
        user: Channel,
        authorization: AsciiMetadataValue,
        make: MakeGrpcCall,
    ) -> Self {
        Self {
            task: TaskServiceClient::new(task),
            user: UserServiceClient::new(user),
            authorization,
            make,
        }
    }
}

impl Worker for GrpcWorker {
    async fn call(&mut self, n: u64) -> Result<(), String> {
        let auth = &self.authorization;
        let answer = match (self.make)(n) {
            GrpcCall::Get(m) => self.task.get_task(authed(m, auth)).await.map(drop),
            GrpcCall::List(m) => self.task.list_tasks(authed(m, auth)).await.map(drop),
            GrpcCall::Create(m) => self.task.create_task(authed(m, auth)).await.map(drop),
            GrpcCall::Update(m) => self.task.update_task(authed(m, auth)).await.map(drop),
            GrpcCall::Login(m) => self.user.login(m).await.map(drop),
        };
        answer.map_err(|status| format!("{:?}: {}", status.code(), status.message()))
    }
}
