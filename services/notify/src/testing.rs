//! What the tests of this crate share: a [`State`] on its own SQLite file
//! and mail folder, wired as `build` wires it, with no worker running; a
//! fresh database on SQLite or MariaDB for store tests; and stand-ins for
//! the user and task services.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use todo_common::CancellationToken;
use todo_common::auth::{RequireServiceCredential, ServiceCredential};
use todo_common::clock::new_id;
use todo_proto::todo::task::v1::task_internal_service_server::{
    TaskInternalService, TaskInternalServiceServer,
};
use todo_proto::todo::task::v1::{
    AnnounceInvitationsRequest, EraseUserTasksRequest, ListDueTasksRequest, ListDueTasksResponse,
    RevokeAccessTokensRequest, SetTimeZoneRequest, Task,
};
use todo_proto::todo::user::v1::user_internal_service_server::{
    UserInternalService, UserInternalServiceServer,
};
use todo_proto::todo::user::v1::{
    FindUserByEmailRequest, LookupUserRequest, LookupUsersRequest, LookupUsersResponse, UserContact,
};
use todo_store::db::{Db, DbConfig};
use tonic::{Request, Response, Status};

use crate::{Config, MIGRATOR, MailConfig, State};

/// Where links in test e-mails start.
pub const LINK_BASE_URL: &str = "https://todo.test";

/// A fresh service in `dir`: nothing is sent (the workers are not
/// started), so a test sees each queued e-mail as it was queued.
pub async fn state(dir: &tempfile::TempDir) -> State {
    State::new(&config(dir)).await.unwrap()
}

/// [`state`] whose user and task services are `fakes`.
pub async fn state_with(dir: &tempfile::TempDir, fakes: &Fakes) -> State {
    let config = Config {
        user_url: fakes.url(),
        task_url: fakes.url(),
        service_credential: fakes.credential.clone(),
        ..config(dir)
    };
    State::new(&config).await.unwrap()
}

fn config(dir: &tempfile::TempDir) -> Config {
    Config {
        db: DbConfig {
            url: format!("sqlite://{}/notify.db", dir.path().display()),
            ..DbConfig::named("notify")
        },
        mail: MailConfig {
            dir: dir.path().join("mail"),
            link_base_url: LINK_BASE_URL.to_owned(),
            ..MailConfig::default()
        },
        ..Config::default()
    }
}

/// Which database a store test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MariaDb,
}

/// A migrated notify database of its own: an SQLite file in a temporary
/// folder, or a uniquely named MariaDB schema on the server that
/// `TODO_TEST_MYSQL_URL` names, dropped by [`TestDb::close`].
pub struct TestDb {
    pub db: Db,
    /// The server and schema, on MariaDB.
    schema: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    /// `None` for MariaDB when `TODO_TEST_MYSQL_URL` is unset.
    pub async fn open(backend: Backend) -> Option<Self> {
        let (url, dir, schema) = Self::empty(backend).await?;
        let db = todo_store::db::connect(
            &DbConfig {
                url,
                max_connections: 5,
            },
            &MIGRATOR,
        )
        .await
        .unwrap();
        Some(Self {
            db,
            schema,
            _dir: dir,
        })
    }

    /// The URL of a fresh empty database, its folder, and its schema on
    /// MariaDB (created here).
    pub async fn empty(
        backend: Backend,
    ) -> Option<(String, tempfile::TempDir, Option<(String, String)>)> {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => Some((
                format!("sqlite://{}/notify.db", dir.path().display()),
                dir,
                None,
            )),
            Backend::MariaDb => {
                let server = std::env::var("TODO_TEST_MYSQL_URL")
                    .ok()
                    .filter(|s| !s.is_empty())?;
                let server = server.trim_end_matches('/').to_owned();
                let schema = format!("todo_notify_t_{}", new_id().replace('-', ""));
                admin(
                    &server,
                    &format!(
                        "CREATE DATABASE `{schema}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                    ),
                )
                .await;
                Some((format!("{server}/{schema}"), dir, Some((server, schema))))
            }
        }
    }

    /// Closes the pool and drops the MariaDB schema.
    pub async fn close(self) {
        self.db.pool.close().await;
        if let Some((server, schema)) = &self.schema {
            drop_schema(server, schema).await;
        }
    }
}

/// Drops a schema [`TestDb::empty`] made.
pub async fn drop_schema(server: &str, schema: &str) {
    admin(server, &format!("DROP DATABASE IF EXISTS `{schema}`")).await;
}

async fn admin(server: &str, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(server).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// Runs `async fn $name(db: &Db)` on SQLite and, when
/// `TODO_TEST_MYSQL_URL` is set, on MariaDB, each on a fresh database.
macro_rules! both_databases {
    ($name:ident) => {
        mod $name {
            use $crate::testing::{Backend, TestDb};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = TestDb::open(Backend::Sqlite).await.unwrap();
                super::$name(&db.db).await;
                db.close().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() {
                let Some(db) = TestDb::open(Backend::MariaDb).await else {
                    eprintln!("skipped: TODO_TEST_MYSQL_URL is unset");
                    return;
                };
                super::$name(&db.db).await;
                db.close().await;
            }
        }
    };
}
pub(crate) use both_databases;

/// What the stand-ins for the user and task services answer.
#[derive(Debug, Default)]
pub struct FakeData {
    /// By user id; a user not here is NOT_FOUND.
    pub contacts: HashMap<String, UserContact>,
    /// Each user's due tasks, earliest first, whatever the bound asked.
    pub due_tasks: HashMap<String, Vec<Task>>,
    /// While set, ListDueTasks fails with UNAVAILABLE.
    pub tasks_down: bool,
    /// Every ListDueTasks call, in order.
    pub due_calls: Vec<ListDueTasksRequest>,
    /// How many LookupUser calls came.
    pub lookups: usize,
}

/// The user and task services' internal RPCs on one port, answering from
/// [`FakeData`], refusing calls without the service credential.
pub struct Fakes {
    pub addr: SocketAddr,
    pub data: Arc<Mutex<FakeData>>,
    pub credential: ServiceCredential,
    stop: CancellationToken,
}

impl Fakes {
    pub async fn start() -> Self {
        let listener = todo_common::grpc::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let credential = ServiceCredential::random();
        let data = Arc::new(Mutex::new(FakeData::default()));
        let fake = Fake(Arc::clone(&data));
        let routes =
            tonic::service::Routes::new(tonic::service::interceptor::InterceptedService::new(
                UserInternalServiceServer::new(fake.clone()),
                RequireServiceCredential(credential.clone()),
            ))
            .add_service(tonic::service::interceptor::InterceptedService::new(
                TaskInternalServiceServer::new(fake),
                RequireServiceCredential(credential.clone()),
            ));
        let stop = CancellationToken::new();
        tokio::spawn(todo_common::grpc::serve(
            listener,
            routes,
            &[],
            todo_proto::port_descriptors::TASK,
            stop.clone(),
        ));
        Self {
            addr,
            data,
            credential,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn data(&self) -> std::sync::MutexGuard<'_, FakeData> {
        self.data.lock().unwrap()
    }

    /// A user with a verified address in `zone`.
    pub fn add_user(&self, user_id: &str, zone: &str) {
        self.data().contacts.insert(
            user_id.to_owned(),
            UserContact {
                user_id: user_id.to_owned(),
                email: "ada@example.com".into(),
                display_name: "Ada".into(),
                email_verified: true,
                time_zone: zone.into(),
            },
        );
    }
}

impl Drop for Fakes {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[derive(Clone)]
struct Fake(Arc<Mutex<FakeData>>);

impl Fake {
    fn data(&self) -> std::sync::MutexGuard<'_, FakeData> {
        self.0.lock().unwrap()
    }
}

#[tonic::async_trait]
impl UserInternalService for Fake {
    async fn lookup_user(
        &self,
        request: Request<LookupUserRequest>,
    ) -> Result<Response<UserContact>, Status> {
        let mut data = self.data();
        data.lookups += 1;
        data.contacts
            .get(&request.get_ref().user_id)
            .cloned()
            .map(Response::new)
            .ok_or_else(|| Status::not_found("user not found"))
    }

    async fn find_user_by_email(
        &self,
        _: Request<FindUserByEmailRequest>,
    ) -> Result<Response<UserContact>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn lookup_users(
        &self,
        _: Request<LookupUsersRequest>,
    ) -> Result<Response<LookupUsersResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

#[tonic::async_trait]
impl TaskInternalService for Fake {
    async fn list_due_tasks(
        &self,
        request: Request<ListDueTasksRequest>,
    ) -> Result<Response<ListDueTasksResponse>, Status> {
        let mut data = self.data();
        let req = request.into_inner();
        data.due_calls.push(req.clone());
        if data.tasks_down {
            return Err(Status::unavailable("task service down"));
        }
        let all = data
            .due_tasks
            .get(&req.user_id)
            .cloned()
            .unwrap_or_default();
        let size = usize::try_from(req.page_size).unwrap_or(0);
        Ok(Response::new(ListDueTasksResponse {
            total_count: i64::try_from(all.len()).unwrap(),
            tasks: all.into_iter().take(size).collect(),
        }))
    }

    async fn erase_user_tasks(
        &self,
        _: Request<EraseUserTasksRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn revoke_access_tokens(
        &self,
        _: Request<RevokeAccessTokensRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn set_time_zone(&self, _: Request<SetTimeZoneRequest>) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn announce_invitations(
        &self,
        _: Request<AnnounceInvitationsRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}
