//! The edge end to end against a stub task service served over real gRPC
//! in the test process; the user and notify upstreams point at a closed
//! port.

// A failed unwrap is how a test fails; helpers outside `#[test]` fns too.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use prost::Message;
use serde_json::{Value, json};
use todo_edge::{CancellationToken, Edge, EdgeConfig, EdgeState, Upstream, router};
use todo_proto::google::rpc;
use todo_proto::todo::task::v1::task_service_server::{TaskService, TaskServiceServer};
use todo_proto::todo::task::v1::{
    AcceptInvitationRequest, CreateListRequest, CreateTaskFromUrlRequest, CreateTaskRequest,
    DeclineInvitationRequest, DeleteListRequest, DeleteTaskRequest, GetListRequest, GetTaskRequest,
    InviteMemberRequest, Link, LinkState, ListInvitationsRequest, ListInvitationsResponse,
    ListListsRequest, ListListsResponse, ListMembersRequest, ListMembersResponse, ListTasksRequest,
    ListTasksResponse, Member, MoveTaskRequest, RemoveMemberRequest, ReplaceTaskRequest, Task,
    TaskList, UpdateListRequest, UpdateMemberRequest, UpdateTaskRequest,
};
use tokio::sync::{Semaphore, mpsc};
use tonic::{Code, Status};
use tower::ServiceExt;

/// Answers by the task id it is asked for, so each test picks its case.
struct StubTasks {
    /// Told when a `held` request arrives.
    entered: mpsc::UnboundedSender<()>,
    /// A `held` request answers once it gets a permit.
    release: Arc<Semaphore>,
    /// A `hang` request's `grpc-timeout`, when it arrives, and `None` when
    /// its handler is dropped (the call was cancelled).
    hung: mpsc::UnboundedSender<Option<String>>,
}

/// Reports through its sender when dropped.
struct OnDrop(mpsc::UnboundedSender<Option<String>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(None);
    }
}

fn metadata_labels(metadata: &tonic::metadata::MetadataMap) -> Vec<String> {
    [
        "authorization",
        "idempotency-key",
        "if-match",
        "x-service-token",
        "cookie",
    ]
    .iter()
    .filter_map(|name| {
        let value = metadata.get(*name)?.to_str().ok()?;
        Some(format!("{name}={value}"))
    })
    .collect()
}

fn status_with_detail<M: Message>(
    code: Code,
    message: &str,
    type_name: &str,
    detail: &M,
) -> Status {
    let details = rpc::Status {
        code: code as i32,
        message: message.to_owned(),
        details: vec![prost_types::Any {
            type_url: format!("type.googleapis.com/{type_name}"),
            value: detail.encode_to_vec(),
        }],
    };
    Status::with_details(code, message, details.encode_to_vec().into())
}

#[tonic::async_trait]
impl TaskService for StubTasks {
    async fn create_task(
        &self,
        request: tonic::Request<CreateTaskRequest>,
    ) -> Result<tonic::Response<Task>, Status> {
        let request_id = request
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let labels = metadata_labels(request.metadata());
        let task = request.into_inner().task.unwrap_or_default();
        Ok(tonic::Response::new(Task {
            id: request_id,
            title: task.title,
            labels,
            etag: "e1".into(),
            ..Task::default()
        }))
    }

    async fn list_tasks(
        &self,
        request: tonic::Request<ListTasksRequest>,
    ) -> Result<tonic::Response<ListTasksResponse>, Status> {
        let request = request.into_inner();
        Ok(tonic::Response::new(ListTasksResponse {
            tasks: vec![Task {
                title: request.label,
                ..Task::default()
            }],
            next_page_token: request.page_size.to_string(),
        }))
    }

    async fn get_task(
        &self,
        request: tonic::Request<GetTaskRequest>,
    ) -> Result<tonic::Response<Task>, Status> {
        let budget = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match request.into_inner().id.as_str() {
            "missing" => Err(Status::not_found("task not found")),
            "boom" => Err(Status::internal("INSERT failed at /srv/task/db.rs:12")),
            "hang" => {
                let _ = self.hung.send(budget);
                let _cancelled = OnDrop(self.hung.clone());
                std::future::pending().await
            }
            "held" => {
                let _ = self.entered.send(());
                let _permit = self.release.acquire().await;
                Ok(tonic::Response::new(Task {
                    id: "held".into(),
                    ..Task::default()
                }))
            }
            "busy" => Err(status_with_detail(
                Code::ResourceExhausted,
                "slow down",
                "google.rpc.RetryInfo",
                &rpc::RetryInfo {
                    retry_delay: Some(prost_types::Duration {
                        seconds: 7,
                        nanos: 0,
                    }),
                },
            )),
            "bad" => Err(status_with_detail(
                Code::InvalidArgument,
                "title: must not be empty",
                "google.rpc.BadRequest",
                &rpc::BadRequest {
                    field_violations: vec![rpc::bad_request::FieldViolation {
                        field: "title".into(),
                        description: "must not be empty".into(),
                        reason: String::new(),
                    }],
                },
            )),
            id => Ok(tonic::Response::new(Task {
                id: id.into(),
                title: "Milk".into(),
                etag: "v1".into(),
                ..Task::default()
            })),
        }
    }

    async fn replace_task(
        &self,
        _: tonic::Request<ReplaceTaskRequest>,
    ) -> Result<tonic::Response<Task>, Status> {
        Err(Status::unimplemented("not in the stub"))
    }

    async fn update_task(
        &self,
        request: tonic::Request<UpdateTaskRequest>,
    ) -> Result<tonic::Response<Task>, Status> {
        let request = request.into_inner();
        let task = request.task.unwrap_or_default();
        Ok(tonic::Response::new(Task {
            id: task.id,
            labels: request.update_mask.map(|m| m.paths).unwrap_or_default(),
            ..Task::default()
        }))
    }

    async fn delete_task(
        &self,
        request: tonic::Request<DeleteTaskRequest>,
    ) -> Result<tonic::Response<()>, Status> {
        match request.metadata().get("if-match") {
            Some(_) => Err(Status::failed_precondition("etag mismatch")),
            None => Ok(tonic::Response::new(())),
        }
    }

    async fn create_task_from_url(
        &self,
        request: tonic::Request<CreateTaskFromUrlRequest>,
    ) -> Result<tonic::Response<Task>, Status> {
        let url = request.into_inner().url;
        if url.contains("broken") {
            return Err(todo_common::status::link_fetch_failed(
                "url",
                "NOT_HTML",
                "not an HTML page",
            ));
        }
        Ok(tonic::Response::new(Task {
            title: "Page".into(),
            links: vec![Link {
                url,
                state: LinkState::Ready.into(),
                site_name: "Site".into(),
                image_url: "https://img.example/a.png".into(),
                ..Link::default()
            }],
            ..Task::default()
        }))
    }

    // The sharing RPCs are not what these tests exercise.
    async fn move_task(
        &self,
        _: tonic::Request<MoveTaskRequest>,
    ) -> Result<tonic::Response<Task>, Status> {
        Err(Status::unimplemented("not stubbed"))
    }

    async fn create_list(
        &self,
        _: tonic::Request<CreateListRequest>,
    ) -> Result<tonic::Response<TaskList>, Status> {
        Err(Status::unimplemented("not stubbed"))
    }

    async fn list_lists(
        &self,
        _: tonic::Request<ListListsRequest>,
    ) -> Result<tonic::Response<ListListsResponse>, Status> {
        Err(Status::unimplemented("not stubbed"))
    }

    async fn get_list(
        &self,
        _: tonic::Request<GetListRequest>,
    ) -> Result<tonic::Response<TaskList>, Status> {
        Err(Status::unimplemented("not stubbed"))
    }

    async fn update_list(
        &self,
        _: tonic::Request<UpdateListRequest>,
    ) -> Result<tonic::Response<TaskList>, Status> {
        Err(Status::unimplemented("not stubbed"))
    }

    async fn delete_list(
        &self,
        _: tonic::Request<DeleteListRequest>,
    ) -> Result<tonic::Response<()>, Status> {
        Err(Status::unimplemented("not stubbed"))
    }

    async fn invite_member(
        &self,
        _: tonic::Request<InviteMemberRequest>,
    ) -> Result<tonic::Response<()>, Status> {
        Err(Status::unimplemented("not stubbed"))
    }

    async fn list_invitations(
        &self,
        _: tonic::Request<ListInvitationsRequest>,
    ) -> Result<tonic::Response<ListInvitationsResponse>, Status> {
        Err(Status::unimplemented("not stubbed"))
    }

    async fn accept_invitation(
        &self,
        _: tonic::Request<AcceptInvitationRequest>,
    ) -> Result<tonic::Response<TaskList>, Status> {
        Err(Status::unimplemented("not stubbed"))
    }

    async fn decline_invitation(
        &self,
        _: tonic::Request<DeclineInvitationRequest>,
    ) -> Result<tonic::Response<()>, Status> {
        Err(Status::unimplemented("not stubbed"))
    }

    async fn list_members(
        &self,
        _: tonic::Request<ListMembersRequest>,
    ) -> Result<tonic::Response<ListMembersResponse>, Status> {
        Err(Status::unimplemented("not stubbed"))
    }

    async fn update_member(
        &self,
        _: tonic::Request<UpdateMemberRequest>,
    ) -> Result<tonic::Response<Member>, Status> {
        Err(Status::unimplemented("not stubbed"))
    }

    async fn remove_member(
        &self,
        _: tonic::Request<RemoveMemberRequest>,
    ) -> Result<tonic::Response<()>, Status> {
        Err(Status::unimplemented("not stubbed"))
    }
}

/// A port nothing listens on.
const CLOSED: &str = "http://127.0.0.1:1";

struct Fixture {
    state: EdgeState,
    stop: CancellationToken,
    /// Yields once per `held` request that reached the upstream.
    entered: mpsc::UnboundedReceiver<()>,
    /// Add a permit to let one `held` request answer.
    release: Arc<Semaphore>,
    /// What the upstream saw of `hang` requests.
    hung: mpsc::UnboundedReceiver<Option<String>>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn fixture(timeout: Duration) -> Fixture {
    fixture_with(|config| config.request_timeout = timeout).await
}

/// The stub task service and an edge whose configuration `adjust` may
/// change.
async fn fixture_with(adjust: impl FnOnce(&mut EdgeConfig)) -> Fixture {
    let listener = todo_common::grpc::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let (entered_tx, entered) = mpsc::unbounded_channel();
    let release = Arc::new(Semaphore::new(0));
    let (hung_tx, hung) = mpsc::unbounded_channel();
    let stub = StubTasks {
        entered: entered_tx,
        release: Arc::clone(&release),
        hung: hung_tx,
    };
    let routes = tonic::service::Routes::new(TaskServiceServer::new(stub));
    tokio::spawn(todo_common::grpc::serve(
        listener,
        routes,
        &["todo.task.v1.TaskService"],
        todo_proto::port_descriptors::TASK,
        stop.clone(),
    ));
    let mut config = config(url, Duration::from_secs(5));
    adjust(&mut config);
    Fixture {
        state: EdgeState::new(&config).unwrap(),
        stop,
        entered,
        release,
        hung,
    }
}

fn config(task_url: String, timeout: Duration) -> EdgeConfig {
    let upstream = |service: &str, url: &str| Upstream {
        service: service.into(),
        url: url.into(),
    };
    EdgeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstreams: vec![
            upstream("todo.user.v1.UserService", CLOSED),
            upstream("todo.task.v1.TaskService", &task_url),
            upstream("todo.notify.v1.NotifyService", CLOSED),
        ],
        body_limit: 1024,
        request_timeout: timeout,
        ..EdgeConfig::default()
    }
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Value,
}

async fn call(fixture: &Fixture, request: Request<Body>) -> Reply {
    call_state(&fixture.state, request).await
}

async fn call_state(state: &EdgeState, request: Request<Body>) -> Reply {
    let (status, headers, bytes) = send(state, request).await;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

/// The raw answer, body undecoded.
async fn send(state: &EdgeState, request: Request<Body>) -> (StatusCode, http::HeaderMap, Bytes) {
    let response = router(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, bytes)
}

fn request(method: Method, uri: &str, body: &str) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if !body.is_empty() {
        builder = builder.header("content-type", "application/json");
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

async fn standard() -> Fixture {
    fixture(Duration::from_secs(5)).await
}

#[tokio::test]
async fn a_call_round_trips_with_headers_forwarded_and_etag_set() {
    let fixture = standard().await;
    let request = Request::post("/v1/tasks")
        .header("content-type", "application/json; charset=utf-8")
        .header("authorization", "Bearer t0k")
        .header("idempotency-key", "k1")
        .header("x-service-token", "forged")
        .header("cookie", "a=b")
        .header("x-request-id", "req-42")
        .body(Body::from(r#"{"title":"Buy milk"}"#))
        .unwrap();
    let reply = call(&fixture, request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["x-request-id"], "req-42");
    assert_eq!(reply.headers["etag"], "\"e1\"");
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(
        reply.body,
        json!({
            "id": "req-42",
            "title": "Buy milk",
            "description": "",
            "done": false,
            "priority": "PRIORITY_UNSPECIFIED",
            "labels": ["authorization=Bearer t0k", "idempotency-key=k1"],
            "etag": "e1",
            "listId": "",
            "parentId": "",
            "position": "",
            "subtaskCount": 0,
            "creatorId": "",
            "recurrence": "",
            "reminders": [],
            "links": [],
        })
    );
}

#[tokio::test]
async fn query_and_path_reach_the_upstream() {
    let fixture = standard().await;
    let reply = call(
        &fixture,
        request(Method::GET, "/v1/tasks?label=home&pageSize=5", ""),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["tasks"][0]["title"], "home");
    assert_eq!(reply.body["nextPageToken"], "5");

    let reply = call(
        &fixture,
        request(
            Method::PATCH,
            "/v1/tasks/t9",
            r#"{"title":"x","dueTime":"2030-01-01T00:00:00Z"}"#,
        ),
    )
    .await;
    assert_eq!(reply.body["id"], "t9");
    assert_eq!(reply.body["labels"], json!(["due_time", "title"]));
}

#[tokio::test]
async fn upstream_errors_become_json_errors() {
    let fixture = standard().await;
    let reply = call(&fixture, request(Method::GET, "/v1/tasks/missing", "")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.body,
        json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "task not found", "details": []}})
    );
    assert!(reply.headers.contains_key("x-request-id"));

    let reply = call(&fixture, request(Method::GET, "/v1/tasks/boom", "")).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body["error"]["message"], "internal error");

    let reply = call(&fixture, request(Method::GET, "/v1/tasks/busy", "")).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.headers["retry-after"], "7");

    let reply = call(&fixture, request(Method::GET, "/v1/tasks/bad", "")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body["error"]["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert_eq!(
        reply.body["error"]["details"][0]["fieldViolations"][0]["field"],
        "title"
    );

    let stale = Request::delete("/v1/tasks/t1")
        .header("if-match", "\"old\"")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        call(&fixture, stale).await.status,
        StatusCode::PRECONDITION_FAILED
    );
}

#[tokio::test]
async fn a_task_from_a_page_has_camel_case_links_and_a_failed_fetch_is_422() {
    let fixture = standard().await;
    let made = call(
        &fixture,
        request(
            Method::POST,
            "/v1/tasks:fromUrl",
            r#"{"url":"https://page.example/","listId":""}"#,
        ),
    )
    .await;
    assert_eq!(made.status, StatusCode::OK);
    assert_eq!(
        made.body["links"],
        json!([{
            "url": "https://page.example/",
            "state": "READY",
            "title": "",
            "description": "",
            "siteName": "Site",
            "imageUrl": "https://img.example/a.png",
        }])
    );

    let failed = call(
        &fixture,
        request(
            Method::POST,
            "/v1/tasks:fromUrl",
            r#"{"url":"https://broken.example/"}"#,
        ),
    )
    .await;
    assert_eq!(failed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(failed.body["error"]["status"], "FAILED_PRECONDITION");
    let details = &failed.body["error"]["details"];
    assert_eq!(details[0]["reason"], "LINK_FETCH_FAILED");
    assert_eq!(details[0]["metadata"]["reason"], "NOT_HTML");
    assert_eq!(details[1]["fieldViolations"][0]["field"], "url");
}

#[tokio::test]
async fn client_mistakes_are_4xx_json() {
    let fixture = standard().await;
    let cases = [
        (request(Method::GET, "/v1/nowhere", ""), 404, "NOT_FOUND"),
        (
            request(Method::POST, "/v1/tasks", "{"),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            request(Method::POST, "/v1/tasks", r#"{"bogus":1}"#),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            request(Method::GET, "/v1/tasks?bogus=1", ""),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            request(Method::GET, "/v1/tasks/%FF", ""),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            request(
                Method::POST,
                "/v1/tasks",
                &format!(r#"{{"title":"{}"}}"#, "x".repeat(2000)),
            ),
            413,
            "INVALID_ARGUMENT",
        ),
        (
            Request::post("/v1/tasks")
                .header("content-type", "text/plain")
                .body(Body::from("hi"))
                .unwrap(),
            415,
            "INVALID_ARGUMENT",
        ),
        (
            Request::post("/v1/tasks")
                .body(Body::from(r#"{"title":"t"}"#))
                .unwrap(),
            415,
            "INVALID_ARGUMENT",
        ),
    ];
    for (request, status, name) in cases {
        let uri = request.uri().clone();
        let reply = call(&fixture, request).await;
        assert_eq!(reply.status.as_u16(), status, "{uri}: {}", reply.body);
        assert_eq!(reply.body["error"]["status"], name, "{uri}");
        assert_eq!(reply.body["error"]["code"], status, "{uri}");
    }

    let reply = call(&fixture, request(Method::POST, "/v1/tasks/t1", "")).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers["allow"], "DELETE, GET, HEAD, PATCH, PUT");
    assert_eq!(reply.body["error"]["code"], 405);
}

#[tokio::test]
async fn every_decoding_failure_names_its_field_in_a_bad_request_detail() {
    let fixture = standard().await;
    let non_ascii = Request::get("/v1/tasks/t1")
        .header(
            "authorization",
            http::HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
        )
        .body(Body::empty())
        .unwrap();
    let cases = [
        (
            request(Method::POST, "/v1/tasks", r#"{"dueTime":"not-a-time"}"#),
            "dueTime",
        ),
        (
            request(Method::POST, "/v1/tasks", r#"{"done":"yes"}"#),
            "done",
        ),
        (
            request(Method::POST, "/v1/tasks", r#"{"priority":"SOMEDAY"}"#),
            "priority",
        ),
        (
            request(Method::POST, "/v1/tasks", r#"{"bogus":1}"#),
            "bogus",
        ),
        (
            request(Method::GET, "/v1/tasks?pageSize=ten", ""),
            "pageSize",
        ),
        (request(Method::GET, "/v1/tasks?bogus=1", ""), "bogus"),
        (
            request(Method::PATCH, "/v1/tasks/t1?updateMask=a%20b", "{}"),
            "updateMask",
        ),
        (request(Method::GET, "/v1/tasks/%FF", ""), "id"),
        (
            request(Method::PATCH, "/v1/tasks/t1", r#"{"remindTime":null}"#),
            "remindTime",
        ),
        (
            request(Method::POST, "/v1/auth:login", r#"{"email":null}"#),
            "email",
        ),
        (non_ascii, "Authorization"),
    ];
    for (request, field) in cases {
        let uri = request.uri().clone();
        let reply = call(&fixture, request).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        let error = &reply.body["error"];
        assert_eq!(error["status"], "INVALID_ARGUMENT", "{uri}");
        let detail = &error["details"][0];
        assert_eq!(
            detail["@type"], "type.googleapis.com/google.rpc.BadRequest",
            "{uri}: {error}"
        );
        let violation = &detail["fieldViolations"][0];
        assert_eq!(violation["field"], field, "{uri}: {error}");
        let description = violation["description"].as_str().unwrap();
        assert!(!description.is_empty(), "{uri}");
        assert_eq!(error["message"], format!("{field}: {description}"), "{uri}");
    }

    let malformed = call(&fixture, request(Method::POST, "/v1/tasks", "{")).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.body["error"]["details"], json!([]));
}

#[tokio::test]
async fn an_unreachable_upstream_is_503_without_detail() {
    let fixture = standard().await;
    let reply = call(
        &fixture,
        request(
            Method::POST,
            "/v1/auth:login",
            r#"{"email":"a@b.c","password":"p"}"#,
        ),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(
        reply.body["error"]["message"],
        "upstream service unavailable"
    );
    assert_eq!(reply.headers["retry-after"], "1");
}

/// A task upstream that accepts each connection, reads what the edge
/// sends first and drops the connection without answering.
async fn dying_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut first = [0; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut first).await;
            drop(stream);
        }
    });
    url
}

#[tokio::test]
async fn an_upstream_connection_that_breaks_mid_call_is_503_with_retry_after() {
    let state = EdgeState::new(&config(dying_upstream().await, Duration::from_secs(5))).unwrap();
    let reply = call_state(&state, request(Method::GET, "/v1/tasks/t1", "")).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(reply.body["error"]["status"], "UNAVAILABLE");
    assert_eq!(
        reply.body["error"]["message"],
        "upstream service unavailable"
    );
    assert_eq!(reply.headers["retry-after"], "1");
}

#[tokio::test]
async fn a_hanging_upstream_is_504_and_its_work_is_cancelled() {
    let mut fixture = fixture(Duration::from_millis(200)).await;
    let reply = call(&fixture, request(Method::GET, "/v1/tasks/hang", "")).await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.body["error"]["status"], "DEADLINE_EXCEEDED");
    // The upstream was told the budget, and its handler was dropped once
    // the edge gave up, so it does no work nobody waits for.
    let budget = fixture
        .hung
        .recv()
        .await
        .unwrap()
        .expect("grpc-timeout was sent");
    let (value, unit) = budget.split_at(budget.len() - 1);
    let value: u64 = value.parse().unwrap();
    let sent = match unit {
        "n" => Duration::from_nanos(value),
        "u" => Duration::from_micros(value),
        "m" => Duration::from_millis(value),
        "S" => Duration::from_secs(value),
        other => panic!("unexpected grpc-timeout unit {other}"),
    };
    assert!(
        !sent.is_zero() && sent <= Duration::from_millis(200),
        "{budget}"
    );
    let cancelled = tokio::time::timeout(Duration::from_secs(5), fixture.hung.recv()).await;
    assert_eq!(
        cancelled.unwrap(),
        Some(None),
        "the upstream handler was not cancelled"
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let fixture = standard().await;
    let reply = call(&fixture, request(Method::GET, "/healthz", "")).await;
    assert_eq!(
        (reply.status, reply.body),
        (StatusCode::OK, json!({"status": "SERVING"}))
    );

    let reply = call(&fixture, request(Method::GET, "/readyz", "")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("todo.user.v1.UserService is not serving"),
        "{message}"
    );

    let reply = call(&fixture, request(Method::POST, "/healthz", "")).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.body["error"]["code"], 405);
}

#[tokio::test]
async fn the_edge_serves_on_its_port_and_stops_gracefully() {
    let edge = Edge::build(config(CLOSED.into(), Duration::from_secs(1)))
        .await
        .unwrap();
    let addr = edge.local_addr();
    assert_ne!(addr.port(), 0);
    let stop = CancellationToken::new();
    let server = tokio::spawn(edge.run_until_stopped(stop.clone()));

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let raw = "GET /healthz HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n";
    tokio::io::AsyncWriteExt::write_all(&mut stream, raw.as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut response)
        .await
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("x-request-id: "), "{response}");

    stop.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_missing_upstream_stops_start_up() {
    let mut config = config(CLOSED.into(), Duration::from_secs(1));
    config
        .upstreams
        .retain(|u| u.service != "todo.notify.v1.NotifyService");
    let error = EdgeState::new(&config).unwrap_err().to_string();
    assert!(error.contains("todo.notify.v1.NotifyService"), "{error}");
}

#[tokio::test]
async fn metrics_count_requests_by_route_status_and_rpc() {
    let fixture = standard().await;
    for uri in [
        "/v1/tasks/t1",
        "/v1/tasks/t2",
        "/v1/tasks/missing",
        "/v1/nowhere",
    ] {
        call(&fixture, request(Method::GET, uri, "")).await;
    }
    call(&fixture, request(Method::GET, "/healthz", "")).await;

    let (status, headers, body) = send(&fixture.state, request(Method::GET, "/metrics", "")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(body.to_vec()).unwrap();
    let has = |line: &str| text.lines().any(|l| l == line);
    for line in [
        r#"todo_edge_http_requests_total{method="GET",route="/v1/tasks/{id}",status="200"} 2"#,
        r#"todo_edge_http_requests_total{method="GET",route="/v1/tasks/{id}",status="404"} 1"#,
        r#"todo_edge_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"todo_edge_http_requests_total{method="GET",route="/healthz",status="200"} 1"#,
        r#"todo_edge_http_request_duration_seconds_count{method="GET",route="/v1/tasks/{id}",status="200"} 2"#,
        r#"todo_edge_upstream_request_duration_seconds_count{rpc="todo.task.v1.TaskService.GetTask",code="OK"} 2"#,
        r#"todo_edge_upstream_request_duration_seconds_count{rpc="todo.task.v1.TaskService.GetTask",code="NOT_FOUND"} 1"#,
        "todo_edge_http_requests_in_flight 1",
        "# TYPE todo_edge_http_request_duration_seconds histogram",
    ] {
        assert!(has(line), "missing {line}\n{text}");
    }
    assert!(
        text.contains(r#"todo_edge_http_request_duration_seconds_bucket{method="GET",route="/v1/tasks/{id}",status="200",le="+Inf"} 2"#),
        "{text}"
    );
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_shed_with_retry_after() {
    let mut fixture = fixture_with(|config| config.max_concurrency = 1).await;
    let state = fixture.state.clone();
    let first = tokio::spawn(async move {
        call_state(&state, request(Method::GET, "/v1/tasks/held", "")).await
    });
    fixture.entered.recv().await.unwrap();

    let shed = call(&fixture, request(Method::GET, "/v1/tasks/t1", "")).await;
    assert_eq!(shed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers["retry-after"], "1");
    assert_eq!(shed.body["error"]["status"], "UNAVAILABLE");
    let health = call(&fixture, request(Method::GET, "/healthz", "")).await;
    assert_eq!(
        health.status,
        StatusCode::OK,
        "operational routes are never shed"
    );

    fixture.release.add_permits(1);
    let first = first.await.unwrap();
    assert_eq!(
        (first.status, &first.body["id"]),
        (StatusCode::OK, &json!("held"))
    );
    let admitted = call(&fixture, request(Method::GET, "/v1/tasks/t1", "")).await;
    assert_eq!(admitted.status, StatusCode::OK);

    let (_, _, metrics) = send(&fixture.state, request(Method::GET, "/metrics", "")).await;
    let metrics = String::from_utf8(metrics.to_vec()).unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "todo_edge_http_requests_shed_total 1"),
        "{metrics}"
    );
}

fn preflight(origin: &str) -> Request<Body> {
    Request::options("/v1/tasks")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn cors_answers_only_the_allowed_origins() {
    let fixture = fixture_with(|config| {
        config.cors_origins = vec![http::HeaderValue::from_static("https://app.example")];
    })
    .await;
    let allowed = call(&fixture, preflight("https://app.example")).await;
    assert!(allowed.status.is_success(), "{}", allowed.status);
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://app.example"
    );
    let methods = allowed.headers["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let headers = allowed.headers["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(headers.contains("authorization"), "{headers}");

    let refused = call(&fixture, preflight("https://evil.example")).await;
    assert!(!refused.headers.contains_key("access-control-allow-origin"));

    let simple = Request::get("/v1/tasks/t1")
        .header("origin", "https://app.example")
        .body(Body::empty())
        .unwrap();
    let simple = call(&fixture, simple).await;
    assert_eq!(simple.status, StatusCode::OK);
    assert_eq!(
        simple.headers["access-control-allow-origin"],
        "https://app.example"
    );
    let exposed = simple.headers["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("etag"), "{exposed}");
}

#[tokio::test]
async fn cors_is_off_without_an_allow_list() {
    let fixture = standard().await;
    let reply = call(&fixture, preflight("https://app.example")).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(!reply.headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn large_responses_are_gzipped_when_the_client_asks() {
    let fixture = standard().await;
    let gzip = |uri: &str| {
        Request::get(uri)
            .header("accept-encoding", "gzip")
            .body(Body::empty())
            .unwrap()
    };
    let (status, headers, body) = send(&fixture.state, gzip("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(body[..2], [0x1f, 0x8b], "gzip magic");

    let (_, headers, body) = send(&fixture.state, request(Method::GET, "/openapi.json", "")).await;
    assert!(!headers.contains_key("content-encoding"));
    assert!(body.len() >= 1024);
    serde_json::from_slice::<Value>(&body).unwrap();
}

#[tokio::test]
async fn responses_under_one_kib_are_never_gzipped() {
    let fixture = standard().await;
    for uri in ["/v1/tasks/t1", "/healthz", "/v1/nowhere"] {
        let asked = Request::get(uri)
            .header("accept-encoding", "gzip")
            .body(Body::empty())
            .unwrap();
        let (_, headers, body) = send(&fixture.state, asked).await;
        assert!(body.len() < 1024, "{uri}");
        assert!(!headers.contains_key("content-encoding"), "{uri}");
        serde_json::from_slice::<Value>(&body).unwrap();
    }
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let fixture = standard().await;
    let reply = call(&fixture, request(Method::GET, "/openapi.json", "")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["openapi"], "3.1.0");
    assert_eq!(
        reply.body["paths"]["/v1/tasks/{id}"]["get"]["x-rpc"],
        "todo.task.v1.TaskService.GetTask"
    );
}

#[tokio::test]
async fn readiness_fails_once_shutdown_began() {
    let fixture = standard().await;
    fixture.state.begin_shutdown();
    let reply = call(&fixture, request(Method::GET, "/readyz", "")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        reply.body["error"]["message"],
        "the server is shutting down"
    );
    let reply = call(&fixture, request(Method::GET, "/healthz", "")).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn long_urls_and_large_headers_are_refused() {
    let fixture = fixture_with(|config| {
        config.url_limit = 64;
        config.header_limit = 256;
    })
    .await;
    let long = format!("/v1/tasks?label={}", "x".repeat(64));
    let reply = call(&fixture, request(Method::GET, &long, "")).await;
    assert_eq!(reply.status, StatusCode::URI_TOO_LONG);
    assert_eq!(reply.body["error"]["code"], 414);

    let big = Request::get("/v1/tasks/t1")
        .header("x-filler", "y".repeat(300))
        .body(Body::empty())
        .unwrap();
    let reply = call(&fixture, big).await;
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(reply.body["error"]["code"], 431);

    let fits = call(&fixture, request(Method::GET, "/v1/tasks/t1", "")).await;
    assert_eq!(fits.status, StatusCode::OK);
}

/// Sends `raw` on a new connection to `addr` and reads until the edge
/// closes it.
async fn exchange(addr: std::net::SocketAddr, raw: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, raw.as_bytes())
        .await
        .unwrap();
    read_until_closed(&mut stream).await
}

/// Everything the edge sends on `stream` until it closes the connection
/// (a reset counts as closing); fails after 10 s.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    let mut received = Vec::new();
    let read = tokio::io::AsyncReadExt::read_to_end(stream, &mut received);
    match tokio::time::timeout(Duration::from_secs(10), read).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        Err(_) => panic!("the edge kept the connection open"),
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// An edge served on port 0 with `adjust`ed configuration; stops when the
/// token is cancelled.
async fn served(adjust: impl FnOnce(&mut EdgeConfig)) -> (Edge, CancellationToken) {
    let mut config = config(CLOSED.into(), Duration::from_secs(1));
    adjust(&mut config);
    (Edge::build(config).await.unwrap(), CancellationToken::new())
}

#[tokio::test]
async fn metrics_labels_stay_in_closed_sets_under_a_flood() {
    let fixture = standard().await;
    let random = std::collections::hash_map::RandomState::new();
    for i in 0..3_000_u64 {
        let noise = std::hash::BuildHasher::hash_one(&random, i);
        let method = format!("M{noise:016X}{}", "X".repeat((noise % 64) as usize));
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let uri = format!("/v1/{noise:x}/{i}");
        call(&fixture, request(method, &uri, "")).await;
        call(&fixture, request(Method::GET, &uri, "")).await;
    }
    let (_, _, body) = send(&fixture.state, request(Method::GET, "/metrics", "")).await;
    let text = String::from_utf8(body.to_vec()).unwrap();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("todo_edge_http_requests_total{"))
        .collect();
    assert!(series.len() <= 4, "{series:#?}");
    for line in &series {
        assert!(
            line.starts_with(r#"todo_edge_http_requests_total{method="other",route="unmatched","#)
                || line.starts_with(
                    r#"todo_edge_http_requests_total{method="GET",route="unmatched","#
                ),
            "{line}"
        );
    }
    assert!(text.len() < 16_384, "{} bytes of metrics", text.len());
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let (edge, stop) = served(|config| {
        config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (api, metrics) = (edge.local_addr(), edge.metrics_addr().unwrap());
    assert_ne!(api, metrics);
    let server = tokio::spawn(edge.run_until_stopped(stop.clone()));

    let get = "GET /metrics HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n";
    let reply = exchange(metrics, get).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("todo_edge_http_requests_total"), "{reply}");
    let reply = exchange(api, get).await;
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    let health = "GET /healthz HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n";
    assert!(exchange(api, health).await.starts_with("HTTP/1.1 200"));

    stop.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_connection_trickling_its_headers_is_closed_after_the_timeout() {
    let (edge, stop) = served(|config| {
        config.header_read_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = edge.local_addr();
    let server = tokio::spawn(edge.run_until_stopped(stop.clone()));

    let started = tokio::time::Instant::now();
    let reply = exchange(addr, "GET /healthz HTTP/1.1\r\nhost: edge\r\nx-slow: ").await;
    assert!(!reply.contains("200"), "{reply}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    // Nothing sent at all is closed too.
    exchange(addr, "").await;
    // A client that sends its head in time is served as before.
    let whole = "GET /healthz HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n";
    assert!(exchange(addr, whole).await.starts_with("HTTP/1.1 200"));

    stop.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let (edge, stop) = served(|config| config.max_connections = 1).await;
    let addr = edge.local_addr();
    let mut at_cap = edge.at_connection_cap();
    let server = tokio::spawn(edge.run_until_stopped(stop.clone()));

    let keep = "GET /healthz HTTP/1.1\r\nhost: edge\r\n\r\n";
    let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut first, keep.as_bytes())
        .await
        .unwrap();
    let mut head = [0; 12];
    tokio::io::AsyncReadExt::read_exact(&mut first, &mut head)
        .await
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    // The first connection holds the only slot: the edge stops accepting
    // until it closes, so the second waits in the kernel's backlog.
    let bound = Duration::from_secs(10);
    tokio::time::timeout(bound, at_cap.wait_for(|full| *full))
        .await
        .expect("the edge never reached its cap")
        .unwrap();
    let close = "GET /healthz HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n";
    let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut second, close.as_bytes())
        .await
        .unwrap();
    assert!(
        *at_cap.borrow(),
        "the second connection was accepted at once"
    );
    drop(first);
    // The slot freed, the edge accepts and serves the waiting connection.
    tokio::time::timeout(bound, at_cap.wait_for(|full| !*full))
        .await
        .expect("the edge never accepted again")
        .unwrap();
    assert!(
        read_until_closed(&mut second)
            .await
            .starts_with("HTTP/1.1 200")
    );

    stop.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_still_served() {
    let (edge, stop) = served(|_| {}).await;
    let addr = edge.local_addr();
    let server = tokio::spawn(edge.run_until_stopped(stop.clone()));

    // A gRPC client speaks HTTP/2 only: that it read the edge's 404 for a
    // path the edge does not route shows the connection worked.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap_err();
    assert!(status.message().contains("404"), "{status:?}");

    stop.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn every_response_says_nosniff_and_api_answers_are_not_stored() {
    let fixture = standard().await;
    for uri in [
        "/v1/tasks/t1",
        "/v1/tasks/missing",
        "/v1/nowhere",
        "/healthz",
    ] {
        let reply = call(&fixture, request(Method::GET, uri, "")).await;
        assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{uri}");
        assert_eq!(reply.headers["cache-control"], "no-store", "{uri}");
        assert!(!reply.headers.contains_key("strict-transport-security"));
    }
    let login = call(
        &fixture,
        request(
            Method::POST,
            "/v1/auth:login",
            r#"{"email":"a@b.c","password":"p"}"#,
        ),
    )
    .await;
    assert_eq!(login.headers["cache-control"], "no-store");
    let openapi = call(&fixture, request(Method::GET, "/openapi.json", "")).await;
    assert_eq!(openapi.headers["cache-control"], "public, max-age=300");
    assert_eq!(openapi.headers["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn hsts_only_when_a_trusted_proxy_saw_https() {
    let https = || {
        Request::get("/healthz")
            .header("x-forwarded-proto", "https")
            .body(Body::empty())
            .unwrap()
    };
    let direct = standard().await;
    let reply = call(&direct, https()).await;
    assert!(!reply.headers.contains_key("strict-transport-security"));

    let proxied = fixture_with(|config| config.trusted_proxy_hops = 1).await;
    let reply = call(&proxied, https()).await;
    assert_eq!(
        reply.headers["strict-transport-security"],
        "max-age=31536000"
    );
    let plain = call(&proxied, request(Method::GET, "/healthz", "")).await;
    assert!(!plain.headers.contains_key("strict-transport-security"));
}

#[tokio::test]
async fn a_weak_if_match_never_matches_and_the_upstream_is_not_called() {
    let fixture = standard().await;
    let patch = |tag: &str| {
        Request::patch("/v1/tasks/t1")
            .header("content-type", "application/json")
            .header("if-match", tag)
            .body(Body::from(r#"{"title":"x"}"#))
            .unwrap()
    };
    // The stub's update ignores If-Match and answers 200: a 412 can only
    // come from the edge.
    let reply = call(&fixture, patch(r#"W/"v1""#)).await;
    assert_eq!(
        reply.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        reply.body
    );
    assert_eq!(reply.body["error"]["status"], "FAILED_PRECONDITION");
    let reply = call(&fixture, patch(r#"W/"v0", "v1""#)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[tokio::test]
async fn head_is_get_without_the_body_on_every_get_route() {
    let fixture = standard().await;
    for uri in [
        "/v1/tasks/t1",
        "/v1/tasks?label=x",
        "/healthz",
        "/openapi.json",
    ] {
        let head = Request::head(uri).body(Body::empty()).unwrap();
        let (status, headers, body) = send(&fixture.state, head).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(body.is_empty(), "{uri}: {body:?}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{uri}"
        );
    }
    let head = Request::head("/v1/tasks/t1").body(Body::empty()).unwrap();
    let (_, headers, _) = send(&fixture.state, head).await;
    assert_eq!(headers["etag"], "\"v1\"");
    let (_, _, got) = send(&fixture.state, request(Method::GET, "/v1/tasks/t1", "")).await;
    assert_eq!(headers["content-length"], got.len().to_string().as_str());

    let reply = call(&fixture, request(Method::HEAD, "/v1/auth:login", "")).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_servers_own_limits_answer_in_json() {
    let (edge, stop) = served(|_| {}).await;
    let addr = edge.local_addr();
    let server = tokio::spawn(edge.run_until_stopped(stop.clone()));

    let headers: String = (0..150).map(|i| format!("x-h{i}: v\r\n")).collect();
    let many = format!("GET /healthz HTTP/1.1\r\nhost: edge\r\n{headers}connection: close\r\n\r\n");
    let reply = exchange(addr, &many).await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");
    assert!(reply.contains(r#""code":431"#), "{reply}");

    let long = format!(
        "GET /v1/tasks?label={} HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n",
        "x".repeat(60_000)
    );
    let reply = exchange(addr, &long).await;
    assert!(reply.starts_with("HTTP/1.1 414"), "{reply}");
    assert!(reply.contains(r#""code":414"#), "{reply}");

    stop.cancel();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_declared_oversize_body_is_413_with_connection_close() {
    let (edge, stop) = served(|_| {}).await;
    let addr = edge.local_addr();
    let server = tokio::spawn(edge.run_until_stopped(stop.clone()));

    // The body is never sent: the edge answers from Content-Length alone
    // and closes, which the answer must announce.
    let post = "POST /v1/tasks HTTP/1.1\r\nhost: edge\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n";
    let reply = exchange(addr, post).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("connection: close"),
        "{reply}"
    );
    assert!(reply.contains(r#""code":413"#), "{reply}");

    stop.cancel();
    server.await.unwrap().unwrap();
}
