//! Starts the whole platform in-process on free ports, with fresh
//! databases (SQLite files in a temp folder, or uniquely named MariaDB
//! schemas that are dropped afterwards) and a real SMTP listener.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod process;
pub mod smtp;

use std::net::SocketAddr;

use futures::StreamExt;
use serde_json::Value;
use todo::{Addresses, System, SystemConfig};
use todo_common::CancellationToken;
use todo_common::auth::{AttachServiceCredential, ServiceChannel, ServiceCredential};
use todo_proto::todo::notify::v1::notify_internal_service_client::NotifyInternalServiceClient;
use todo_proto::todo::notify::v1::{EmailTemplate, SendEmailRequest};
use todo_store::db::DbConfig;

/// Which database the system under test uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    MariaDb,
}

impl Db {
    /// MariaDB when `TODO_TEST_MYSQL_URL` is set, else SQLite: what a
    /// benchmark runs on.
    pub fn from_env() -> Self {
        if mysql_server().is_some() {
            Self::MariaDb
        } else {
            Self::Sqlite
        }
    }
}

/// The server URL for MariaDB tests, e.g. `mysql://root@127.0.0.1:3306`;
/// the MariaDB variants are skipped (and say so) when it is unset.
pub fn mysql_server() -> Option<String> {
    std::env::var("TODO_TEST_MYSQL_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// A running platform and what a test needs to talk to it.
pub struct TestSystem {
    pub addr: Addresses,
    pub http: reqwest::Client,
    pub smtp: smtp::Listener,
    pub credential: ServiceCredential,
    /// What the system was started with (ports as asked, not as bound).
    pub config: SystemConfig,
    shutdown: CancellationToken,
    /// The user and task services and the edge.
    parts: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The notify service, which a test may stop and start again.
    notify: std::sync::Mutex<
        Option<(
            CancellationToken,
            tokio::task::JoinHandle<anyhow::Result<()>>,
        )>,
    >,
    _dir: tempfile::TempDir,
    schemas: Vec<String>,
}

impl TestSystem {
    /// Starts everything, or `None` for MariaDB when no server is configured.
    pub async fn start(db: Db) -> Option<Self> {
        Self::start_with_smtp(db, smtp::Listener::start().await).await
    }

    /// Starts everything with e-mail going to `smtp`.
    pub async fn start_with_smtp(db: Db, smtp: smtp::Listener) -> Option<Self> {
        Self::start_configured(db, smtp, |_| {}).await
    }

    /// Starts everything with e-mail going to `smtp` and the settings as
    /// `adjust` leaves them.
    pub async fn start_configured(
        db: Db,
        smtp: smtp::Listener,
        adjust: impl FnOnce(&mut SystemConfig),
    ) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mut schemas = Vec::new();
        let db_config = |name: &str, schemas: &mut Vec<String>| -> Option<DbConfig> {
            let url = match db {
                Db::Sqlite => format!("sqlite://{}/{name}.db", dir.path().display()),
                Db::MariaDb => {
                    let server = mysql_server()?;
                    let schema = format!("todo_t_{}_{name}", uuid::Uuid::new_v4().simple());
                    schemas.push(schema.clone());
                    format!("{}/{schema}", server.trim_end_matches('/'))
                }
            };
            Some(DbConfig {
                url,
                max_connections: 5,
            })
        };
        let user_db = db_config("user", &mut schemas)?;
        let task_db = db_config("task", &mut schemas)?;
        let notify_db = db_config("notify", &mut schemas)?;
        if db == Db::MariaDb {
            create_schemas(&schemas).await;
        }
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        // The services' addresses and the one credential are filled in
        // by `System::build` and `share_credential`.
        let credential = ServiceCredential::random();
        let mut config = SystemConfig {
            user: todo_user::Config {
                listen: any,
                db: user_db,
                // As in production: the signing key sealed at rest.
                key_encryption_key: Some(random_kek()),
                hash_concurrency: 2,
                ..todo_user::Config::default()
            },
            task: todo_task::Config {
                listen: any,
                db: task_db,
                ..todo_task::Config::default()
            },
            notify: todo_notify::Config {
                listen: any,
                db: notify_db,
                mail: todo_notify::MailConfig {
                    smtp_url: Some(format!("smtp://{}", smtp.addr)),
                    dir: dir.path().join("mail"),
                    from: "ToDo <no-reply@todo.test>".into(),
                    link_base_url: "http://todo.test".into(),
                },
                ..todo_notify::Config::default()
            },
            edge: todo_edge::EdgeConfig {
                listen: any,
                upstreams: Vec::new(),
                ..todo_edge::EdgeConfig::default()
            },
            web: todo_web::WebConfig::default(),
        };
        adjust(&mut config);
        config.share_credential(credential.clone());
        let system = System::build(config.clone()).await.unwrap();
        let addr = system.addresses().unwrap();
        let shutdown = CancellationToken::new();
        let parts = vec![
            tokio::spawn(system.user.run_until_stopped(shutdown.clone())),
            tokio::spawn(system.task.run_until_stopped(shutdown.clone())),
            tokio::spawn(system.edge.run_until_stopped(shutdown.clone())),
        ];
        let notify_stop = shutdown.child_token();
        let notify = tokio::spawn(system.notify.run_until_stopped(notify_stop.clone()));
        Some(Self {
            addr,
            http: reqwest::Client::new(),
            smtp,
            credential,
            config,
            shutdown,
            parts,
            notify: std::sync::Mutex::new(Some((notify_stop, notify))),
            _dir: dir,
            schemas,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr.edge)
    }

    /// A client of the notify service's internal RPCs at `addr` (this
    /// system's or a replica's), carrying the service credential.
    pub fn notify_internal(&self, addr: SocketAddr) -> NotifyInternalServiceClient<ServiceChannel> {
        let channel = todo_common::upstream::channel(&format!("http://{addr}")).unwrap();
        NotifyInternalServiceClient::with_interceptor(
            channel,
            AttachServiceCredential(self.credential.clone()),
        )
    }

    /// Sends a request through the edge; returns status and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        call_json(&self.http, &self.url(path), method, token, body).await
    }

    /// Registers a user and logs in; returns (user id, access token).
    pub async fn signup(&self, email: &str) -> (String, String) {
        let (status, answer) = self
            .call(
                "POST",
                "/v1/users",
                None,
                Some(serde_json::json!({"email": email, "password": "a long enough secret", "displayName": "Tess"})),
            )
            .await;
        // Registration answers `{}` whether or not the address was new.
        assert_eq!((status, &answer), (200, &serde_json::json!({})));
        let token = self.login(email, "a long enough secret").await;
        let (status, user) = self.call("GET", "/v1/users/me", Some(&token), None).await;
        assert_eq!(status, 200, "{user}");
        (user["id"].as_str().unwrap().to_owned(), token)
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let (status, pair) = self
            .call(
                "POST",
                "/v1/auth:login",
                None,
                Some(serde_json::json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "{pair}");
        pair["accessToken"].as_str().unwrap().to_owned()
    }

    /// Confirms the address of the user who signed up last, with the
    /// token of their welcome e-mail (other e-mails before it are dropped).
    pub async fn verify_welcome_address(&self) {
        let welcome = self
            .smtp
            .next_containing("Welcome", std::time::Duration::from_secs(30))
            .await;
        let token = link_token(&decoded(&welcome.data));
        let (status, body) = self
            .call(
                "POST",
                "/v1/auth:verifyEmail",
                None,
                Some(serde_json::json!({"token": token})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Stops the notify service, as if its process went down.
    pub async fn stop_notify(&self) {
        let running = self.notify.lock().unwrap().take();
        if let Some((stop, task)) = running {
            stop.cancel();
            task.await.unwrap().unwrap();
        }
    }

    /// Starts a fresh notify service on the same address and database.
    pub async fn start_notify(&self) {
        let listener = todo_common::grpc::bind(self.addr.notify).await.unwrap();
        let mut config = self.config.notify.clone();
        config.user_url = format!("http://{}", self.addr.user);
        config.task_url = format!("http://{}", self.addr.task);
        let server = todo_notify::build(config, listener).await.unwrap();
        let stop = self.shutdown.child_token();
        let task = tokio::spawn(server.run_until_stopped(stop.clone()));
        *self.notify.lock().unwrap() = Some((stop, task));
    }

    /// Stops the system and drops the test schemas.
    pub async fn stop(self) {
        self.stop_notify().await;
        self.shutdown.cancel();
        for part in self.parts {
            part.await.unwrap().unwrap();
        }
        drop_schemas(&self.schemas).await;
    }
}

async fn admin() -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(&mysql_server().unwrap())
        .await
        .unwrap()
}

pub async fn create_schemas(schemas: &[String]) {
    if schemas.is_empty() {
        return;
    }
    let mut conn = admin().await;
    for s in schemas {
        sqlx::query(&format!(
            "CREATE DATABASE `{s}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

pub async fn drop_schemas(schemas: &[String]) {
    if schemas.is_empty() {
        return;
    }
    let mut conn = admin().await;
    for s in schemas {
        sqlx::query(&format!("DROP DATABASE IF EXISTS `{s}`"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

/// Runs a test body against SQLite and, when configured, MariaDB.
#[macro_export]
macro_rules! both_databases {
    ($name:ident) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let sys = TestSystem::start(Db::Sqlite).await.unwrap();
                super::$name(&sys).await;
                sys.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() {
                let Some(sys) = TestSystem::start(Db::MariaDb).await else {
                    eprintln!("skipped: TODO_TEST_MYSQL_URL is unset");
                    return;
                };
                super::$name(&sys).await;
                sys.stop().await;
            }
        }
    };
}

impl TestSystem {
    /// A connection of the test's own to the user service's database, to
    /// read what only the database holds (the signing key) or to age rows
    /// (token expiry, throttle windows) instead of sleeping.
    pub async fn user_db(&self) -> sqlx::AnyConnection {
        self.db_of("user").await
    }

    /// A connection of the test's own to the database of `service`
    /// (`user`, `task` or `notify`).
    pub async fn db_of(&self, service: &str) -> sqlx::AnyConnection {
        let suffix = format!("_{service}");
        let url = match self.schemas.iter().find(|s| s.ends_with(&suffix)) {
            Some(schema) => format!("{}/{schema}", mysql_server().unwrap().trim_end_matches('/')),
            None => format!("sqlite://{}/{service}.db", self._dir.path().display()),
        };
        let mut conn = connect(&url).await;
        if self.schemas.is_empty() {
            // Wait for the service's writer rather than fail beside it.
            sqlx::query("PRAGMA busy_timeout = 10000")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        conn
    }
}

/// A fresh random key-encryption key for the user service.
pub fn random_kek() -> todo_user::KeyEncryptionKey {
    use base64::Engine;
    let bytes = [
        *uuid::Uuid::new_v4().as_bytes(),
        *uuid::Uuid::new_v4().as_bytes(),
    ]
    .concat();
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    todo_user::KeyEncryptionKey::from_base64(&encoded).unwrap()
}

/// Polls until `done` holds, for effects that travel through an outbox.
pub async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// An e-mail as it was sent, with quoted-printable undone in one pass:
/// soft line breaks dropped and each `=XX` turned back into its byte.
/// Decode once only: a second pass would read a token that begins with two
/// hex digits after its `=` as an escape (one in 4,096 tokens begins `3D`).
pub fn decoded(data: &str) -> String {
    let bytes = data.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i..i + 3) {
            Some(b"=\r\n") => i += 3,
            Some(&[b'=', hi, lo]) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                let hex = [hi, lo];
                let hex = std::str::from_utf8(&hex).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The token in the first link of an e-mail's decoded text (see
/// [`decoded`]); the text is taken as it is, not decoded again.
pub fn link_token(text: &str) -> String {
    let start = text.find("token=").expect("no token link in the e-mail") + "token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[test]
fn a_token_that_begins_like_an_escape_survives_decoding() {
    let sent = "<a href=3D\"https://todo.example/verify-email?token=3D3D41-x_=\r\nyz\">";
    let text = decoded(sent);
    assert_eq!(
        text,
        "<a href=\"https://todo.example/verify-email?token=3D41-x_yz\">"
    );
    assert_eq!(link_token(&text), "3D41-x_yz");
}

/// The `status` of a JSON error body (empty for anything else).
pub fn error_status(body: &Value) -> &str {
    body["error"]["status"].as_str().unwrap_or_default()
}

/// Sends a JSON request to `url`; returns status and JSON body, which
/// every answer of the edge must have.
pub async fn call_json(
    http: &reqwest::Client,
    url: &str,
    method: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let json =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body {status}: {text}"));
    (status, json)
}

/// A connection of the test's own to the database at `url`.
pub async fn connect(url: &str) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url).await.unwrap()
}

/// Queues `n` security alerts to `user0@example.com`, `user1@...` through
/// `SendEmail`, spread over `clients` in turn, 32 calls in flight.
pub async fn queue_emails(clients: &[NotifyInternalServiceClient<ServiceChannel>], n: usize) {
    let sends = (0..n).map(|i| {
        let mut notify = clients[i % clients.len()].clone();
        async move {
            let req = SendEmailRequest {
                dedup_key: format!("bulk:{i}"),
                user_id: todo_common::clock::new_id(),
                template: EmailTemplate::SecurityAlert.into(),
                to_email: format!("user{i}@example.com"),
                display_name: format!("User {i}"),
                ..SendEmailRequest::default()
            };
            notify.send_email(req).await.unwrap();
        }
    });
    futures::stream::iter(sends)
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
}

/// The time `seconds` from now, in RFC 3339 (UTC, whole seconds).
pub fn rfc3339_in(seconds: i64) -> String {
    rfc3339_at(now_secs() + u64::try_from(seconds).unwrap())
}

/// Now, in whole seconds since the epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `secs` since the epoch in RFC 3339 (UTC).
pub fn rfc3339_at(secs: u64) -> String {
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let days = i64::try_from(secs / 86_400).unwrap();
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
