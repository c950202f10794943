//! `todo-notify`: the notify service alone, for one-per-container deployments.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    todo_common::telemetry::init();
    let config = todo_notify::Config::from_env()?;
    let listener = todo_common::grpc::bind(config.listen).await?;
    let server = todo_notify::build(config, listener).await?;
    server
        .run_until_stopped(todo_common::shutdown::on_signal())
        .await
}
