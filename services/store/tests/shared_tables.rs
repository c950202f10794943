//! Tables that several services create alike: sqlx migrations are per
//! service, so each service's migrations hold a copy of the statement.
//! This holds every copy to the one in this crate, byte for byte, so the
//! shared code (relay, erasure records) can trust their columns.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use todo_store::{erased, outbox};

/// Each shared table's statement and the services that create it.
const SHARED: &[(&str, &str, &[&str])] = &[
    ("outbox", outbox::TABLE, &["user", "task"]),
    (
        "erased_users",
        erased::ERASED_USERS_TABLE,
        &["task", "notify"],
    ),
    (
        "token_cutoffs",
        erased::TOKEN_CUTOFFS_TABLE,
        &["task", "notify"],
    ),
];

fn migrations_of(service: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(service);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect()
}

#[test]
fn every_copy_of_a_shared_table_is_the_one_in_common() {
    for (table, statement, services) in SHARED {
        for service in ["user", "task", "notify"] {
            let files = migrations_of(service);
            let creates = files
                .iter()
                .map(|sql| sql.matches(&format!("CREATE TABLE {table} (")).count())
                .sum::<usize>();
            let copies = files
                .iter()
                .map(|sql| sql.matches(statement).count())
                .sum::<usize>();
            let expected = usize::from(services.contains(&service));
            assert_eq!(
                (creates, copies),
                (expected, expected),
                "{service}'s migrations must create {table} {expected} time(s), exactly as common does"
            );
        }
    }
}
