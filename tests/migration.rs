//! The task database's migration to lists under a rolling deploy: data
//! written by the previous migration set survives, moves into its
//! creator's default list in creation order, and tasks the previous
//! release keeps writing meanwhile are adopted the same way.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sqlx::{Connection, Row};
use todo_common::clock::{new_id, now_micros};
use todo_store::db::DbConfig;

/// The migrations the previous release shipped.
const PREVIOUS: [&str; 4] = [
    "0001_init.sql",
    "0002_orders_idempotency.sql",
    "0003_erased_users.sql",
    "0004_token_cutoffs.sql",
];

/// A task as the previous release inserted it (no list, parent or
/// position).
async fn insert_previous(conn: &mut sqlx::AnyConnection, owner: &str, title: &str) -> String {
    let id = new_id();
    let now = now_micros();
    sqlx::query(
        "INSERT INTO tasks (owner_id, due_key, id, title, description, done, complete_time, due_time, \
         remind_time, priority, labels, create_time, update_time, revision) \
         VALUES (?, ?, ?, ?, '', 0, NULL, NULL, NULL, 0, '[]', ?, ?, 1)",
    )
    .bind(owner)
    .bind(i64::MAX)
    .bind(&id)
    .bind(title)
    .bind(now)
    .bind(now)
    .execute(conn)
    .await
    .unwrap();
    id
}

/// The ids of `list_id`'s top-level tasks in position order.
async fn in_position_order(conn: &mut sqlx::AnyConnection, list_id: &str) -> Vec<String> {
    sqlx::query("SELECT id FROM tasks WHERE list_id = ? AND parent_id = '' ORDER BY position")
        .bind(list_id)
        .fetch_all(conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("id"))
        .collect()
}

async fn count(conn: &mut sqlx::AnyConnection, sql: &str, bind: &str) -> i64 {
    sqlx::query(sql)
        .bind(bind)
        .fetch_one(conn)
        .await
        .unwrap()
        .get::<i64, _>(0)
}

async fn previous_data_survives_the_migration_to_lists(url: String) {
    sqlx::any::install_default_drivers();
    // The previous release's migration set, from the same files.
    let dir = tempfile::tempdir().unwrap();
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/task");
    for file in PREVIOUS {
        std::fs::copy(here.join(file), dir.path().join(file)).unwrap();
    }
    let previous = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    let config = DbConfig {
        url: url.clone(),
        max_connections: 2,
    };
    {
        // SQLite: let the store create the file the way it does.
        let mut conn = sqlx::AnyConnection::connect(&sqlite_create(&url))
            .await
            .unwrap();
        previous.run_direct(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    let mut conn = sqlx::AnyConnection::connect(&sqlite_create(&url))
        .await
        .unwrap();
    let (ada, bob) = (new_id(), new_id());
    let mut ada_tasks = Vec::new();
    for title in ["first", "second", "third"] {
        ada_tasks.push(insert_previous(&mut conn, &ada, title).await);
    }
    insert_previous(&mut conn, &bob, "bob's").await;

    // This release starts: the rest of the migrations run.
    let db = todo_store::db::connect(&config, &todo_task::MIGRATOR)
        .await
        .unwrap();
    assert_eq!(in_position_order(&mut conn, &ada).await, ada_tasks);
    let list = sqlx::query(
        "SELECT title, owner_id, is_default, task_count, member_count FROM lists WHERE id = ?",
    )
    .bind(&ada)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(list.get::<String, _>("title"), "Inbox");
    assert_eq!(list.get::<String, _>("owner_id"), ada);
    assert_eq!(list.get::<i64, _>("is_default"), 1);
    assert_eq!(list.get::<i64, _>("task_count"), 3);
    assert_eq!(list.get::<i64, _>("member_count"), 1);
    let role = "SELECT role FROM list_members WHERE list_id = ? AND user_id = list_id";
    assert_eq!(count(&mut conn, role, &ada).await, 1, "OWNER");
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) FROM tasks WHERE list_id = ?",
            &bob
        )
        .await,
        1
    );

    // The previous release, still running beside this one, writes a task
    // without a list; the upkeep pass adopts it at the end of the list.
    let late = insert_previous(&mut conn, &ada, "written by the previous release").await;
    let carol = new_id();
    insert_previous(&mut conn, &carol, "a user new to this release").await;
    assert_eq!(todo_task::adopt_unlisted_tasks(&db).await.unwrap(), 2);
    let mut expected = ada_tasks.clone();
    expected.push(late);
    assert_eq!(in_position_order(&mut conn, &ada).await, expected);
    let tasks = "SELECT task_count FROM lists WHERE id = ?";
    assert_eq!(count(&mut conn, tasks, &ada).await, 4);
    assert_eq!(
        count(&mut conn, tasks, &carol).await,
        1,
        "default list made for the adoption"
    );
    assert_eq!(todo_task::adopt_unlisted_tasks(&db).await.unwrap(), 0);
    db.pool.close().await;
}

/// The URL sqlx connects with directly: SQLite files must be allowed to
/// be created.
fn sqlite_create(url: &str) -> String {
    if url.starts_with("sqlite:") {
        format!("{url}?mode=rwc")
    } else {
        url.to_owned()
    }
}

#[tokio::test]
async fn previous_data_survives_the_migration_to_lists_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    previous_data_survives_the_migration_to_lists(format!(
        "sqlite://{}/task.db",
        dir.path().display()
    ))
    .await;
}

#[tokio::test]
async fn previous_data_survives_the_migration_to_lists_on_mariadb() {
    let Some(server) = support::mysql_server() else {
        eprintln!("skipped: TODO_TEST_MYSQL_URL is not set");
        return;
    };
    let schema = format!("todo_migration_{}", new_id().replace('-', ""));
    support::create_schemas(std::slice::from_ref(&schema)).await;
    previous_data_survives_the_migration_to_lists(format!("{server}/{schema}")).await;
    support::drop_schemas(&[schema]).await;
}
