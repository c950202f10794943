use std::future::Future;
use std::pin::Pin;

use sqlx::migrate::Migrator;

use super::MAX_MEMBERS;
use crate::db::{Db, DbConfig, connect};
use crate::exec::{Exec, WriteTx};

/// A database of one table of names, with an inline writer.
async fn names(name: &str) -> (std::path::PathBuf, Db) {
    let dir = std::env::temp_dir().join(format!("todo-turn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = DbConfig {
        url: format!("sqlite://{}/{name}.db", dir.display()),
        max_connections: 2,
    };
    let db = connect(&config, &Migrator::DEFAULT).await.unwrap();
    for sql in [
        "CREATE TABLE named (name TEXT PRIMARY KEY)",
        "CREATE TABLE parent (id TEXT PRIMARY KEY)",
        // Checked at the commit, not at the insert.
        "CREATE TABLE child (parent_id TEXT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)",
    ] {
        sqlx::query(sql).execute(db.writer()).await.unwrap();
    }
    (dir, db.with_inline().unwrap())
}

/// The names committed, as another connection reads them.
async fn committed(db: &Db) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM named ORDER BY name")
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

async fn inline_write(db: &Db) -> WriteTx {
    let tx = db.begin_inline_write().await.unwrap();
    assert!(matches!(tx, WriteTx::Inline(_)), "{tx:?}");
    tx
}

async fn add(tx: &mut WriteTx, name: &str) {
    let params = [name.into()];
    let added = tx.execute("INSERT INTO named (name) VALUES (?)", &params);
    assert_eq!(added.await.unwrap(), 1);
}

/// Polls `future` once: whether it is still waiting.
async fn waits<F: Future>(future: &mut Pin<&mut F>) -> bool {
    std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx).is_pending())).await
}

/// Runs `future` to its end, within a bound: a regression fails the test
/// instead of hanging it.
async fn finish<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(10), future)
        .await
        .expect("finished in time")
}

/// A group of two: the first write, which added "a", has given the turn to
/// the second and waits for the group's commit (the future returned); the
/// second holds the turn.
async fn second_in_a_group(
    db: &Db,
) -> (
    Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + '_>>,
    WriteTx,
) {
    let mut first = inline_write(db).await;
    add(&mut first, "a").await;
    let mut second = Box::pin(db.begin_inline_write());
    assert!(
        waits(&mut second.as_mut()).await,
        "the first holds the turn"
    );
    let mut first_commit = Box::pin(first.commit());
    assert!(waits(&mut first_commit.as_mut()).await, "not committed yet");
    let second = finish(second).await.unwrap();
    (first_commit, second)
}

#[tokio::test]
async fn a_write_queued_behind_another_joins_its_group_and_neither_answers_before_the_commit() {
    let (dir, db) = names("group").await;
    // The first ends well while a second waits for the turn: it gives the
    // turn to the second and waits.
    let (first_commit, mut second) = second_in_a_group(&db).await;
    assert!(committed(&db).await.is_empty(), "the group is still open");
    add(&mut second, "b").await;
    let second_commit = second.commit();
    let mut second_commit = std::pin::pin!(second_commit);
    assert!(waits(&mut second_commit).await, "behind the first");
    assert!(committed(&db).await.is_empty());

    // The first's turn comes again: it commits both.
    finish(first_commit).await.unwrap();
    assert_eq!(committed(&db).await, ["a", "b"]);
    finish(second_commit).await.unwrap();
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_write_that_fails_in_a_group_takes_only_its_own_work_back() {
    let (dir, db) = names("member-fails").await;
    let (first_commit, mut second) = second_in_a_group(&db).await;
    add(&mut second, "b").await;
    // "a" is the first's, in the same transaction: a duplicate.
    let twice = second.execute("INSERT INTO named (name) VALUES ('a')", &[]);
    assert!(crate::db::is_unique_violation(&twice.await.unwrap_err()));
    drop(second);

    finish(first_commit).await.unwrap();
    assert_eq!(committed(&db).await, ["a"], "b rolled back, a kept");
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

type Waiting<'a, T> = Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'a>>;

/// A write, which added "a", waits for its group's commit behind another
/// writer (not an inline one) that asked for the turn while it held it:
/// that writer's turn, then the write's commit, both still waiting.
async fn behind_another_writer(
    db: &Db,
) -> (Waiting<'_, Option<super::WriteTurn>>, Waiting<'_, ()>) {
    let mut first = inline_write(db).await;
    add(&mut first, "a").await;
    let mut turn = Box::pin(db.write_turn());
    assert!(waits(&mut turn.as_mut()).await, "the write holds the turn");
    let mut first_commit = Box::pin(first.commit());
    assert!(waits(&mut first_commit.as_mut()).await, "not committed yet");
    (turn, first_commit)
}

#[tokio::test]
async fn another_writer_commits_an_open_group_before_its_own_write() {
    let (dir, db) = names("pooled-after").await;
    let (turn, first_commit) = behind_another_writer(&db).await;
    let turn = finish(turn).await.unwrap();
    assert_eq!(committed(&db).await, ["a"], "committed as the turn passed");
    // SQLite's lock is free: a pooled write goes through at once.
    sqlx::query("INSERT INTO named (name) VALUES ('p')")
        .execute(db.writer())
        .await
        .unwrap();
    drop(turn);
    finish(first_commit).await.unwrap();
    assert_eq!(committed(&db).await, ["a", "p"]);
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn when_a_group_fails_to_commit_every_member_fails_and_nothing_is_kept() {
    let (dir, db) = names("commit-fails").await;
    let (first_commit, mut second) = second_in_a_group(&db).await;
    add(&mut second, "b").await;
    // A child of no parent: the foreign key fails the commit.
    let orphan = second.execute("INSERT INTO child (parent_id) VALUES ('none')", &[]);
    assert_eq!(orphan.await.unwrap(), 1);
    let second_commit = second.commit();
    let mut second_commit = std::pin::pin!(second_commit);
    assert!(waits(&mut second_commit).await, "behind the first");

    let first_failed = finish(first_commit).await.unwrap_err();
    let second_failed = finish(second_commit).await.unwrap_err();
    for failed in [first_failed, second_failed] {
        assert_eq!(
            crate::inline::sqlite_code(&failed),
            Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
            "{failed}"
        );
    }
    assert!(committed(&db).await.is_empty());
    // The writer goes on.
    let mut third = inline_write(&db).await;
    add(&mut third, "c").await;
    finish(third.commit()).await.unwrap();
    assert_eq!(committed(&db).await, ["c"]);
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn many_writes_at_once_are_all_kept_in_groups_of_at_most_the_bound() {
    let (dir, db) = names("many").await;
    let n = MAX_MEMBERS * 2 + 1;
    // All of them queue for the turn while it is held.
    let turn = db.write_turn().await.unwrap();
    let writers = (0..n).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            let mut tx = inline_write(&db).await;
            add(&mut tx, &format!("{i:04}")).await;
            tx.commit().await.unwrap();
        })
    });
    let writers = writers.collect::<Vec<_>>();
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    drop(turn);
    for writer in writers {
        finish(writer).await.unwrap();
    }
    assert_eq!(committed(&db).await.len(), n);
    let (groups, largest) = db.turns().unwrap().groups_committed().await;
    assert_eq!(largest, MAX_MEMBERS, "no group holds more");
    assert!((3..10).contains(&groups), "{groups} groups for {n} writes");
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_group_whose_members_went_away_is_committed_by_the_next_turn() {
    let (dir, db) = names("abandoned").await;
    let (turn, first_commit) = behind_another_writer(&db).await;
    // The request is dropped while its write waits for the group.
    drop(first_commit);
    let turn = finish(turn).await.unwrap();
    assert_eq!(committed(&db).await, ["a"]);
    drop(turn);
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_first_write_that_fails_alone_leaves_no_transaction_open() {
    let (dir, db) = names("first-fails").await;
    let mut first = inline_write(&db).await;
    add(&mut first, "a").await;
    drop(first);
    // Another connection, outside the turn, gets SQLite's lock at once.
    let file = dir.join("first-fails.db");
    let other = rusqlite::Connection::open(&file).unwrap();
    other.execute_batch("BEGIN IMMEDIATE; ROLLBACK").unwrap();
    assert!(committed(&db).await.is_empty());
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn when_sqlite_ends_the_transaction_in_a_member_the_whole_group_fails() {
    let (dir, db) = names("ended").await;
    let (first_commit, mut second) = second_in_a_group(&db).await;
    add(&mut second, "b").await;
    // As SQLite does on some errors (a full disk, an I/O error).
    second.execute("ROLLBACK", &[]).await.unwrap();
    drop(second);
    let failed = finish(first_commit).await.unwrap_err();
    assert_eq!(crate::inline::sqlite_code(&failed), Some(4), "{failed}");
    assert!(committed(&db).await.is_empty());
    let mut third = inline_write(&db).await;
    add(&mut third, "c").await;
    finish(third.commit()).await.unwrap();
    assert_eq!(committed(&db).await, ["c"]);
    db.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
