//! `todo-load sqlite-handoff --db FILE [--reads 50000]`: what one point
//! read costs on SQLite through sqlx's `Any` driver, which hands every
//! statement to the connection's own thread and its rows back over a
//! channel, against the same statement run inline on the calling thread
//! (rusqlite, a prepared statement kept). Sequential reads on one
//! connection each way, by id over the first 10,000 tasks of a task
//! database (one the harness kept with `--keep`, opened read-only). It
//! prints one line per way per round:
//! `handoff way= reads= us_per_read=`.

use std::time::Instant;

use anyhow::Context;
use sqlx::Row;

use crate::args::Args;

/// The read of one task by its key, as the service's GET reads it (the
/// columns the page shows; the membership join costs one more seek).
const READ: &str = "SELECT id, title, description, labels, revision FROM tasks WHERE id = ?";

pub fn command(args: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let args = Args::parse(args, &["db", "reads"], &[])?;
    let path = args.required("db")?;
    let reads: usize = args.parsed("reads", 50_000)?;
    let ids = ids(&path)?;
    anyhow::ensure!(!ids.is_empty(), "{path} holds no tasks");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    for _round in 0..2 {
        let through_sqlx = runtime.block_on(through_sqlx(&path, &ids, reads))?;
        print("sqlx-any", reads, through_sqlx);
        print("inline", reads, inline(&path, &ids, reads)?);
    }
    Ok(())
}

fn print(way: &str, reads: usize, seconds: f64) {
    #[allow(clippy::cast_precision_loss)] // a count far below 2^52
    let per_read = seconds * 1e6 / reads as f64;
    println!("handoff way={way} reads={reads} us_per_read={per_read:.1}");
}

fn ids(path: &str) -> anyhow::Result<Vec<String>> {
    let conn = open(path)?;
    let mut statement = conn.prepare("SELECT id FROM tasks LIMIT 10000")?;
    let ids = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

fn open(path: &str) -> anyhow::Result<rusqlite::Connection> {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {path}"))
}

/// Seconds for `reads` reads through a pool of one sqlx connection.
async fn through_sqlx(path: &str, ids: &[String], reads: usize) -> anyhow::Result<f64> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&format!("sqlite://{path}?mode=ro"))
        .await?;
    let started = Instant::now();
    for id in ids.iter().cycle().take(reads) {
        let row = sqlx::query(READ).bind(id).fetch_one(&pool).await?;
        std::hint::black_box(row.try_get::<String, _>("title")?);
    }
    let seconds = started.elapsed().as_secs_f64();
    pool.close().await;
    Ok(seconds)
}

/// Seconds for `reads` reads on one connection on this thread.
fn inline(path: &str, ids: &[String], reads: usize) -> anyhow::Result<f64> {
    let conn = open(path)?;
    let started = Instant::now();
    for id in ids.iter().cycle().take(reads) {
        let mut statement = conn.prepare_cached(READ)?;
        let title: String = statement.query_row([id], |row| row.get(1))?;
        std::hint::black_box(title);
    }
    Ok(started.elapsed().as_secs_f64())
}
