//! How a MySQL / MariaDB session is set up, on the server that
//! `TODO_TEST_MYSQL_URL` names (skipped when it is unset).

#![allow(clippy::unwrap_used)]

use sqlx::migrate::Migrator;
use sqlx::{Connection as _, Row as _};
use todo_store::db::{DbConfig, connect};

/// Runs one statement on `server` outside any pool.
async fn admin(server: &str, sql: &str) {
    let mut conn = sqlx::AnyConnection::connect(server).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// A bound string compares in the collation of the database's tables,
/// not in the one sqlx picks for every session (utf8mb4_unicode_ci):
/// with another collation than the column's, MariaDB stops walking an
/// index in order past that column and sorts the whole range instead (a
/// page of a list read the whole list). Every connection of the pool also
/// reads and writes times in UTC.
#[tokio::test]
async fn bound_strings_compare_in_the_database_collation_and_times_are_utc() {
    let Some(server) = std::env::var("TODO_TEST_MYSQL_URL")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        eprintln!("skipped: TODO_TEST_MYSQL_URL is unset");
        return;
    };
    sqlx::any::install_default_drivers();
    let server = server.trim_end_matches('/');
    for collation in ["utf8mb4_bin", "utf8mb4_general_ci"] {
        let schema = format!(
            "todo_store_t_{}",
            todo_common::clock::new_id().replace('-', "")
        );
        admin(
            server,
            &format!("CREATE DATABASE `{schema}` CHARACTER SET utf8mb4 COLLATE {collation}"),
        )
        .await;
        let config = DbConfig {
            url: format!("{server}/{schema}"),
            max_connections: 2,
        };
        let db = connect(&config, &Migrator::DEFAULT).await.unwrap();
        // Both connections of the pool, held at once.
        let mut first = db.pool.acquire().await.unwrap();
        let mut second = db.pool.acquire().await.unwrap();
        for conn in [&mut first, &mut second] {
            let (session, zone): (String, String) =
                sqlx::query_as("SELECT @@collation_connection, @@time_zone")
                    .fetch_one(&mut **conn)
                    .await
                    .unwrap();
            assert_eq!(session, collation);
            assert_eq!(zone, "+00:00");
        }
        // The shape of a page of one list: the leading columns fixed by
        // bound strings, the rest of the index in order, no sort.
        sqlx::query(
            "CREATE TABLE items (list VARCHAR(36) NOT NULL, parent VARCHAR(36) NOT NULL, \
             position VARCHAR(255) NOT NULL, UNIQUE (list, parent, position))",
        )
        .execute(&mut *first)
        .await
        .unwrap();
        for i in 0..50 {
            sqlx::query("INSERT INTO items VALUES ('l', '', ?), ('l', 'p', ?), ('m', '', ?)")
                .bind(format!("a{i:02}"))
                .bind(format!("a{i:02}"))
                .bind(format!("a{i:02}"))
                .execute(&mut *first)
                .await
                .unwrap();
        }
        let plan = sqlx::query(
            "EXPLAIN SELECT position FROM items WHERE list = ? AND parent = ? \
             ORDER BY list, parent, position LIMIT 10",
        )
        .bind("l")
        .bind("")
        .fetch_one(&mut *second)
        .await
        .unwrap();
        let extra: Option<String> = plan.try_get("Extra").unwrap();
        let extra = extra.unwrap_or_default();
        assert!(!extra.contains("filesort"), "{collation}: {extra}");
        drop((first, second));
        db.close().await;
        admin(server, &format!("DROP DATABASE `{schema}`")).await;
    }
}
