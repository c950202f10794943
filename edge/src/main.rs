//! The edge as its own process: configuration from the environment,
//! SIGINT/SIGTERM for a graceful stop.
//!
//! `todo-edge --print-openapi` prints the OpenAPI document and exits,
//! without reading the configuration or opening any socket.

use std::io::Write;

use anyhow::Context;
use todo_edge::{Edge, EdgeConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match std::env::args().nth(1).as_deref() {
        None => serve().await,
        Some("--print-openapi") => print_openapi(),
        Some(other) => {
            anyhow::bail!("unknown argument {other:?}; usage: todo-edge [--print-openapi]")
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    todo_common::telemetry::init();
    let config = EdgeConfig::from_env()?;
    let edge = Edge::build(config).await?;
    edge.run_until_stopped(todo_common::shutdown::on_signal())
        .await
}

fn print_openapi() -> anyhow::Result<()> {
    let document = todo_edge::openapi::embedded()?;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &document).context("cannot write the document")?;
    writeln!(stdout).context("cannot write the document")
}
