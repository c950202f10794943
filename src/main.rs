//! `todo`: the whole platform in one process.
//!
//! - `todo` (or `todo serve`): edge on 127.0.0.1:8080, user, task and notify
//!   services on :50051, :50052, :50053, SQLite files and `.eml` mail under
//!   `./data` unless configured otherwise (see README).
//! - `todo migrate`: apply every service's database migrations and exit.
//! - `todo probe grpc HOST:PORT` / `todo probe http URL`: exit 0 when
//!   healthy, for container health checks.

use std::process::ExitCode;

use todo::{System, SystemConfig};

const USAGE: &str = "usage: todo [serve | migrate | probe grpc HOST:PORT | probe http URL]";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] | ["serve"] => serve().await,
        ["migrate"] => migrate().await,
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

async fn migrate() -> anyhow::Result<()> {
    todo_common::telemetry::init();
    todo::migrate(&SystemConfig::from_env()?).await?;
    tracing::info!("migrations applied");
    Ok(())
}
