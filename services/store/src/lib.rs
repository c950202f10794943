//! Database plumbing the services share. Like `todo-common`, no business
//! logic lives here; it is a crate of its own so that the edge, which
//! holds no data, links no database driver.
//!
//! # Layout
//! - [`db`]: the sqlx pool (SQLite or MySQL/MariaDB behind one code path)
//!   and migrations.
//! - [`inline`]: SQLite reads on the calling thread, without sqlx's
//!   hand-off to a connection thread, and the row access both drivers share.
//! - [`turn`]: the write turn every SQLite writer of a process takes, and
//!   the group commit of the inline writer's transactions.
//! - [`exec`]: statements that run on a pooled connection or on the
//!   SQLite inline writer alike, so a write path is written once.
//! - [`outbox`]: calls to other services that must not be lost: the
//!   message trait, enqueueing, and the relay.
//! - [`erased`]: users whose accounts are gone, and credential changes:
//!   the records behind [`todo_common::auth::RevokedTokens`].
//! - [`poll`]: the loop every background worker runs (pass, wake, idle
//!   interval, shutdown).

pub mod db;
pub mod erased;
pub mod exec;
pub mod inline;
pub mod outbox;
pub mod poll;
pub mod turn;
