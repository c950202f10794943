//! The all-in-one binary as a child process, for tests that need a real
//! process: killed without warning, or its log read.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The all-in-one binary as a child process, killed when dropped.
pub struct Platform {
    child: Child,
    pub edge: SocketAddr,
    /// Where its standard output (the log) and error go.
    pub log: PathBuf,
}

/// The settings of a platform in `dir` on the given databases (`user`,
/// `task`, `notify`), sending mail to `smtp`, logging at `level`.
pub fn settings(databases: [&str; 3], smtp: SocketAddr, level: &str) -> Vec<(String, String)> {
    let [user, task, notify] = databases;
    [
        ("TODO_USER_DATABASE_URL", user),
        ("TODO_TASK_DATABASE_URL", task),
        ("TODO_NOTIFY_DATABASE_URL", notify),
        ("TODO_SMTP_URL", &format!("smtp://{smtp}")),
        (
            "TODO_INTERNAL_TOKEN",
            "internal-secret-0123456789-abcdefghij",
        ),
        // 32 bytes in base64: the signing key sealed at rest, as in
        // production (and required on MariaDB).
        (
            "TODO_KEY_ENCRYPTION_KEY",
            "a2VrLWZvci10aGUtcHJvY2Vzcy10ZXN0cy0wMTIzNDU=",
        ),
        ("TODO_LOG", level),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl Platform {
    /// Starts `todo serve` in `dir` with `env`, every part on a port the
    /// system picks, and waits until `/readyz` answers 200. The edge's
    /// address is read from the start-up line of the (JSON) log.
    pub async fn launch(env: &[(String, String)], dir: &Path) -> Self {
        let log_path = dir.join("todo.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let skip = log.metadata().unwrap().len();
        let listen = ["EDGE", "USER", "TASK", "NOTIFY"]
            .map(|part| (format!("TODO_{part}_LISTEN"), "127.0.0.1:0".to_owned()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_todo"))
            .arg("serve")
            .current_dir(dir)
            .envs(env.iter().cloned().chain(listen))
            .env("TODO_LOG_FORMAT", "json")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        let mut edge = None;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the platform exited ({status}); see {}", log_path.display());
            }
            if edge.is_none() {
                edge = started_edge(&log_path, skip);
            }
            if let Some(edge) = edge {
                let ready = client
                    .get(format!("http://{edge}/readyz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200);
                if ready {
                    return Self {
                        child,
                        edge,
                        log: log_path,
                    };
                }
            }
            assert!(
                Instant::now() < deadline,
                "the platform never became ready; see {}",
                log_path.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no shutdown of any kind.
    pub fn crash(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// A JSON request to the edge: status and body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("http://{}{path}", self.edge);
        super::call_json(&reqwest::Client::new(), &url, method, token, body).await
    }

    pub async fn register(&self, email: &str) {
        let body = json!({"email": email, "password": "a long enough secret", "displayName": "C"});
        let (status, body) = self.call("POST", "/v1/users", None, Some(body)).await;
        assert_eq!(status, 200, "{body}");
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The edge address of the start-up line, in the log after byte `skip`.
fn started_edge(log: &Path, skip: u64) -> Option<SocketAddr> {
    let text = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(text.get(usize::try_from(skip).ok()?..)?).into_owned();
    text.lines().find_map(|line| {
        let entry: Value = serde_json::from_str(line).ok()?;
        let fields = &entry["fields"];
        if fields["message"] != "ToDo platform started" {
            return None;
        }
        fields["edge"].as_str()?.parse().ok()
    })
}
