//! `todo`: the one binary of the platform, every role a subcommand.
//!
//! - `todo` (or `todo serve`): the whole platform in one process: edge on
//!   127.0.0.1:8080, user, task and notify services on :50051, :50052,
//!   :50053, SQLite files and `.eml` mail under `./data` unless configured
//!   otherwise (see README).
//! - `todo user`, `todo task`, `todo notify`, `todo edge`: one part alone,
//!   for one-per-container deployments, configured by the environment.
//! - `todo migrate`: apply every service's database migrations and exit.
//! - `todo openapi`: print the OpenAPI document and exit, without reading
//!   the configuration or opening any socket.
//! - `todo probe grpc HOST:PORT` / `todo probe http URL`: exit 0 when
//!   healthy, for container health checks.
//!
//! One binary rather than one per role: the roles share nearly all their
//! dependencies, so an image with five binaries carried five copies of them.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use todo::{System, SystemConfig};
use todo_common::grpc::Server;

const USAGE: &str = "usage: todo [serve | user | task | notify | edge | migrate | openapi | \
                     probe grpc HOST:PORT | probe http URL]";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] | ["serve"] => serve().await,
        ["user"] => service(todo_user::Config::from_env, todo_user::build).await,
        ["task"] => service(todo_task::Config::from_env, todo_task::build).await,
        ["notify"] => service(todo_notify::Config::from_env, todo_notify::build).await,
        ["edge"] => edge().await,
        ["migrate"] => migrate().await,
        ["openapi"] => print_openapi(),
        ["probe", "grpc", addr] => todo::probe::grpc(addr).await,
        ["probe", "http", url] => todo::probe::http(url).await,
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("todo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    todo_common::telemetry::init();
    let system = System::build(SystemConfig::from_env()?).await?;
    let a = system.addresses()?;
    tracing::info!(edge = %a.edge, user = %a.user, task = %a.task, notify = %a.notify, "ToDo platform started");
    system
        .run_until_stopped(todo_common::shutdown::on_signal())
        .await
}

/// One service alone: its settings from the environment, its port bound,
/// served until SIGINT/SIGTERM.
async fn service<C, E, B, F>(config: impl FnOnce() -> Result<C, E>, build: B) -> anyhow::Result<()>
where
    C: HasListen,
    E: Into<anyhow::Error>,
    B: FnOnce(C, tokio::net::TcpListener) -> F,
    F: std::future::Future<Output = anyhow::Result<Server>>,
{
    todo_common::telemetry::init();
    let config = config().map_err(Into::into)?;
    let listener = todo_common::grpc::bind(config.listen()).await?;
    let server = build(config, listener).await?;
    server
        .run_until_stopped(todo_common::shutdown::on_signal())
        .await
}

/// The address a service's configuration says it listens on.
trait HasListen {
    fn listen(&self) -> std::net::SocketAddr;
}

impl HasListen for todo_user::Config {
    fn listen(&self) -> std::net::SocketAddr {
        self.listen
    }
}

impl HasListen for todo_task::Config {
    fn listen(&self) -> std::net::SocketAddr {
        self.listen
    }
}

impl HasListen for todo_notify::Config {
    fn listen(&self) -> std::net::SocketAddr {
        self.listen
    }
}

async fn edge() -> anyhow::Result<()> {
    todo_common::telemetry::init();
    let edge = todo::edge(
        todo_edge::EdgeConfig::from_env()?,
        &todo_web::WebConfig::from_env()?,
    )
    .await?;
    edge.run_until_stopped(todo_common::shutdown::on_signal())
        .await
}

async fn migrate() -> anyhow::Result<()> {
    todo_common::telemetry::init();
    todo::migrate(&SystemConfig::from_env()?).await?;
    tracing::info!("migrations applied");
    Ok(())
}

fn print_openapi() -> anyhow::Result<()> {
    let document = todo_edge::openapi::embedded()?;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &document).context("cannot write the document")?;
    writeln!(stdout).context("cannot write the document")
}
