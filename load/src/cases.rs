//! The cases: what each one sends, through the edge or straight to a
//! service, and how its outcome is reported.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderValue, Method};
use prost_types::FieldMask;
use serde_json::json;
use todo_proto::todo::task::v1::{
    CreateTaskRequest, GetTaskRequest, ListTasksRequest, Task, UpdateTaskRequest,
};
use todo_proto::todo::user::v1::LoginRequest;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;

use crate::grpc::{GrpcCall, GrpcWorker, MakeGrpcCall};
use crate::http::{Call, HttpWorker, MakeCall};
use crate::measure::{Outcome, Plan, measure};
use crate::seed::{PAGE_SIZE, Seed};

/// What a case does, whichever way it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET /healthz`: answered by the edge itself, inside every layer
    /// the API routes have (request id, logs and metrics, security
    /// headers, CORS, compression, size limits); no upstream call.
    Floor,
    /// One task by id, the ids taken in turn across the list.
    GetTask,
    /// The list's first page of [`PAGE_SIZE`].
    ListFirstPage,
    /// A page from the middle of the list, by its page token.
    ListDeepPage,
    /// A new task, in one of the owner's lists for writes (one per
    /// worker; see [`crate::seed`]).
    PostTask,
    /// A new title for a task; each worker changes its own task.
    PatchTask,
    /// A successful login (one password hash).
    Login,
    /// The web app's page of the shared list (`/lists/{id}`), each worker
    /// signed in once through the sign-in form; its first page of tasks.
    WebTaskPage,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Floor => "floor",
            Op::GetTask => "get-task",
            Op::ListFirstPage => "list-first-page",
            Op::ListDeepPage => "list-deep-page",
            Op::PostTask => "post-task",
            Op::PatchTask => "patch-task",
            Op::Login => "login",
            Op::WebTaskPage => "web-task-page",
        }
    }
}

/// One measured case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Through the edge, JSON over HTTP/1.1.
    Edge(Op),
    /// Straight to the task service (the user service for login).
    Grpc(Op),
    /// [`Op::GetTask`] through the edge while many logins through the
    /// edge are in flight; reported as two lines, the GETs and the logins.
    GetTaskDuringLogins,
}

/// Every case, in the order they run: the floor, the reads, the writes
/// (which grow the list, after the reads), the logins.
pub const ALL: [Case; 15] = [
    Case::Edge(Op::Floor),
    Case::Edge(Op::GetTask),
    Case::Edge(Op::ListFirstPage),
    Case::Edge(Op::ListDeepPage),
    Case::Edge(Op::WebTaskPage),
    Case::Grpc(Op::GetTask),
    Case::Grpc(Op::ListFirstPage),
    Case::Grpc(Op::ListDeepPage),
    Case::Edge(Op::PostTask),
    Case::Edge(Op::PatchTask),
    Case::Grpc(Op::PostTask),
    Case::Grpc(Op::PatchTask),
    Case::Edge(Op::Login),
    Case::Grpc(Op::Login),
    Case::GetTaskDuringLogins,
];

/// The name of the logins' line of [`Case::GetTaskDuringLogins`].
pub const BACKGROUND_LOGINS: &str = "logins-beside-get-task";

impl Case {
    pub fn name(self) -> String {
        match self {
            Case::Edge(op) => op.name().to_owned(),
            Case::Grpc(op) => format!("grpc-{}", op.name()),
            Case::GetTaskDuringLogins => "get-task-during-logins".to_owned(),
        }
    }

    /// The case of [`ALL`] called `name`.
    pub fn by_name(name: &str) -> Option<Case> {
        ALL.into_iter().find(|case| case.name() == name)
    }
}

/// Where the system runs and who calls it.
#[derive(Debug, Clone)]
pub struct Target {
    pub edge: SocketAddr,
    pub task: Channel,
    pub user: Channel,
    /// The owner's access token.
    pub token: String,
    pub email: String,
    pub password: String,
    pub seed: Arc<Seed>,
}

/// How hard and how long.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub concurrency: usize,
    /// Logins in flight during [`Case::GetTaskDuringLogins`].
    pub logins: usize,
    pub plan: Plan,
}

/// Runs `case` and returns each line's name and outcome.
///
/// # Errors
/// When the token cannot be sent as a header.
pub async fn run(
    case: Case,
    target: &Target,
    load: Load,
) -> anyhow::Result<Vec<(String, Outcome)>> {
    let n = load.concurrency;
    // The web page's sign-ins come before the clock starts.
    let web = match case {
        Case::Edge(Op::WebTaskPage) => Some(web_workers(target, n).await?),
        _ => None,
    };
    let plan = Plan {
        start: std::time::Instant::now(),
        ..load.plan
    };
    Ok(match case {
        Case::Edge(op) => {
            let workers = match web {
                Some(workers) => workers,
                None => edge_workers(op, target, n)?,
            };
            vec![(case.name(), measure(workers, plan).await)]
        }
        Case::Grpc(op) => vec![(
            case.name(),
            measure(grpc_workers(op, target, n)?, plan).await,
        )],
        Case::GetTaskDuringLogins => {
            let gets = measure(edge_workers(Op::GetTask, target, n)?, plan);
            let logins = measure(edge_workers(Op::Login, target, load.logins)?, plan);
            let (gets, logins) = tokio::join!(gets, logins);
            vec![(case.name(), gets), (BACKGROUND_LOGINS.to_owned(), logins)]
        }
    })
}

/// Task `n` of worker `index` out of `workers`: together the workers take
/// the ids in turn.
fn pick(tasks: &[String], index: usize, n: u64, workers: usize) -> &str {
    let at = (n as usize).wrapping_mul(workers).wrapping_add(index) % tasks.len();
    &tasks[at]
}

/// Workers for [`Op::WebTaskPage`], each signed in through the web app's
/// form as the owner, one after another (each sign-in is a password hash).
async fn web_workers(target: &Target, workers: usize) -> anyhow::Result<Vec<HttpWorker>> {
    let mut signed_in = Vec::with_capacity(workers);
    for index in 0..workers {
        let cookies = crate::web::sign_in(target.edge, &target.email, &target.password)
            .await
            .map_err(|e| anyhow::anyhow!("web sign-in: {e}"))?;
        let call = edge_call(Op::WebTaskPage, target, index, workers);
        signed_in.push(HttpWorker::new(target.edge, None, call).with_cookies(cookies));
    }
    Ok(signed_in)
}

fn edge_workers(op: Op, target: &Target, workers: usize) -> anyhow::Result<Vec<HttpWorker>> {
    let bearer = HeaderValue::try_from(format!("Bearer {}", target.token))?;
    Ok((0..workers)
        .map(|index| {
            // Login carries no token; the floor carries one, as the API
            // requests do, although it reads none.
            let authorization = (op != Op::Login).then(|| bearer.clone());
            HttpWorker::new(
                target.edge,
                authorization,
                edge_call(op, target, index, workers),
            )
        })
        .collect())
}

fn edge_call(op: Op, target: &Target, index: usize, workers: usize) -> MakeCall {
    let seed = Arc::clone(&target.seed);
    let get = |target: String| Call {
        method: Method::GET,
        target,
        body: None,
    };
    match op {
        Op::Floor => Box::new(move |_| get("/healthz".to_owned())),
        Op::GetTask => Box::new(move |n| {
            get(format!(
                "/v1/tasks/{}",
                pick(&seed.tasks, index, n, workers)
            ))
        }),
        Op::ListFirstPage => {
            let page = format!("/v1/tasks?listId={}&pageSize={PAGE_SIZE}", seed.list_id);
            Box::new(move |_| get(page.clone()))
        }
        Op::ListDeepPage => {
            let page = format!(
                "/v1/tasks?listId={}&pageSize={PAGE_SIZE}&pageToken={}",
                seed.list_id,
                query_escape(&seed.deep_page_token)
            );
            Box::new(move |_| get(page.clone()))
        }
        Op::PostTask => {
            let list = seed.write_lists[index % seed.write_lists.len()].clone();
            Box::new(move |n| Call {
                method: Method::POST,
                target: "/v1/tasks".to_owned(),
                body: Some(
                    json!({"title": format!("Load task {index}-{n}"), "listId": list}).to_string(),
                ),
            })
        }
        Op::PatchTask => {
            let path = format!("/v1/tasks/{}", seed.tasks[index % seed.tasks.len()]);
            Box::new(move |n| Call {
                method: Method::PATCH,
                target: path.clone(),
                body: Some(json!({"title": format!("Patched {n}")}).to_string()),
            })
        }
        Op::WebTaskPage => {
            let page = format!("/lists/{}", seed.list_id);
            Box::new(move |_| get(page.clone()))
        }
        Op::Login => {
            let body = json!({"email": target.email, "password": target.password}).to_string();
            Box::new(move |_| Call {
                method: Method::POST,
                target: "/v1/auth:login".to_owned(),
                body: Some(body.clone()),
            })
        }
    }
}

fn grpc_workers(op: Op, target: &Target, workers: usize) -> anyhow::Result<Vec<GrpcWorker>> {
    let bearer: AsciiMetadataValue = crate::grpc::bearer(&target.token)?;
    (0..workers)
        .map(|index| {
            Ok(GrpcWorker::new(
                target.task.clone(),
                target.user.clone(),
                bearer.clone(),
                grpc_call(op, target, index, workers)?,
            ))
        })
        .collect()
}

fn grpc_call(
    op: Op,
    target: &Target,
    index: usize,
    workers: usize,
) -> anyhow::Result<MakeGrpcCall> {
    let seed = Arc::clone(&target.seed);
    let list = |page_token: String| ListTasksRequest {
        list_id: seed.list_id.clone(),
        page_size: PAGE_SIZE,
        page_token,
        ..ListTasksRequest::default()
    };
    Ok(match op {
        Op::Floor => anyhow::bail!("the floor is a route of the edge; it has no gRPC form"),
        Op::WebTaskPage => {
            anyhow::bail!("the web page is a route of the edge; it has no gRPC form")
        }
        Op::ListFirstPage => {
            let first = list(String::new());
            Box::new(move |_| GrpcCall::List(first.clone()))
        }
        Op::ListDeepPage => {
            let deep = list(seed.deep_page_token.clone());
            Box::new(move |_| GrpcCall::List(deep.clone()))
        }
        Op::GetTask => Box::new(move |n| {
            GrpcCall::Get(GetTaskRequest {
                id: pick(&seed.tasks, index, n, workers).to_owned(),
            })
        }),
        Op::PostTask => {
            let list = seed.write_lists[index % seed.write_lists.len()].clone();
            Box::new(move |n| {
                GrpcCall::Create(CreateTaskRequest {
                    task: Some(Task {
                        title: format!("Load task {index}-{n}"),
                        list_id: list.clone(),
                        ..Task::default()
                    }),
                })
            })
        }
        Op::PatchTask => {
            let id = seed.tasks[index % seed.tasks.len()].clone();
            Box::new(move |n| {
                GrpcCall::Update(UpdateTaskRequest {
                    task: Some(Task {
                        id: id.clone(),
                        title: format!("Patched {n}"),
                        ..Task::default()
                    }),
                    update_mask: Some(FieldMask {
                        paths: vec!["title".to_owned()],
                    }),
                })
            })
        }
        Op::Login => {
            let login = LoginRequest {
                email: target.email.clone(),
                password: target.password.clone(),
            };
            Box::new(move |_| GrpcCall::Login(login.clone()))
        }
    })
}

/// `text` escaped for a query string value (RFC 3986 unreserved kept).
pub fn query_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found_again() {
        for case in ALL {
            assert_eq!(Case::by_name(&case.name()), Some(case));
        }
        let mut names: Vec<_> = ALL.iter().map(|c| c.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert_eq!(Case::by_name("grpc-floor"), None);
    }

    #[test]
    fn workers_take_the_ids_in_turn() {
        let tasks: Vec<String> = (0..5).map(|i| i.to_string()).collect();
        let taken: Vec<&str> = (0..2u64)
            .flat_map(|n| (0..2).map(move |w| (w, n)))
            .map(|(w, n)| pick(&tasks, w, n, 2))
            .collect();
        assert_eq!(taken, ["0", "1", "2", "3"]);
        assert_eq!(pick(&tasks, 1, 2, 2), "0");
    }

    #[test]
    fn page_tokens_are_escaped() {
        assert_eq!(query_escape("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(query_escape("a+b/c="), "a%2Bb%2Fc%3D");
    }
}
