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

impl Platform {
    /// Starts `todo serve` in `dir` and waits until `/readyz` answers 200.
    pub async fn launch(env: &[(String, String)], edge: SocketAddr, dir: &Path) -> Self {
        let log_path = dir.join("todo.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_todo"))
            .arg("serve")
            .current_dir(dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let platform = Self {
            child,
            edge,
            log: log_path,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        loop {
            let ready = client
                .get(format!("http://{edge}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return platform;
            }
            assert!(
                Instant::now() < deadline,
                "the platform never became ready; see {}",
                platform.log.display()
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

pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

pub fn now_micros() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_micros()).unwrap()
}
