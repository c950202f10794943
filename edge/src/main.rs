//! The edge as its own process: configuration from the environment,
//! SIGINT/SIGTERM for a graceful stop.

use todo_edge::{Edge, EdgeConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    todo_common::telemetry::init();
    let config = EdgeConfig::from_env()?;
    let edge = Edge::build(config).await?;
    edge.run_until_stopped(todo_common::shutdown::on_signal())
        .await
}
