//! The write turn of an SQLite database, and the group commit of the
//! inline writer's transactions.
//!
//! Every write of a process takes the turn first, pooled or inline, in the
//! order they asked ([`crate::db::Db::write_turn`]). The turn holds the
//! inline writer's connection (see [`crate::inline`]): whoever has the
//! turn may use it, and nobody else.
//!
//! A commit writes every page the transaction changed into the WAL,
//! whole: a new task changes some 15 pages of 4 KB (its row in ten
//! B-trees, the list's count, the outbox), about 80 KB a create, and the
//! one writer spent much of its turn copying them (BENCHMARKS.md, "What
//! stands in the way of POST"). Consecutive creates change mostly the same
//! pages, the ends of the same indexes. So the inline writes that queue
//! behind each other share one transaction, each in a savepoint of its
//! own, and commit together: the shared pages are written once per group.
//!
//! - The first inline write to find no transaction open begins one
//!   (`BEGIN IMMEDIATE`); the next ones join it while it lasts.
//! - A write that ends well releases its savepoint and gives the turn up
//!   without committing. It then waits for the turn again, behind the
//!   writes that were queued meanwhile: they join the group first. When
//!   its turn comes, the group is committed, by itself or by an earlier
//!   member, and it answers with the group's outcome. No write answers
//!   before its group is committed.
//! - A write that fails rolls back to its savepoint: its own work goes,
//!   the group's stays.
//! - Any other writer (a pooled transaction, a single statement, the
//!   checkpoint worker) commits an open group when it takes the turn, so
//!   SQLite's lock is free for it; so does a group that has
//!   [`MAX_MEMBERS`].
//! - If SQLite ends the whole transaction (a failed commit, a full disk),
//!   every member of the group fails, those that did nothing wrong too.
//! - A group that no write has joined yet (its first failed) is rolled
//!   back at once: it would keep SQLite's lock from writers outside the
//!   turn (the outbox relay, another process).
//!
//! Waiting for the turn to begin a write gives up after `timeout`, as
//! waiting for a pooled connection does. Waiting for the group's commit
//! does not: the write is in the group by then, and an error would say it
//! failed when it may yet be committed.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rusqlite::Connection;

use crate::inline::error;

/// The most writes one group holds: bounds how much one failed commit
/// takes with it, and how long a group keeps its pages from readers.
pub const MAX_MEMBERS: usize = 64;

/// SQLite's `SQLITE_ABORT`: what the members of a group fail with when
/// SQLite ended its transaction in another member's statement.
const SQLITE_ABORT: i32 = 4;

/// A process's write turn on one SQLite database.
#[derive(Debug, Clone)]
pub struct Turns {
    state: Arc<tokio::sync::Mutex<TurnState>>,
    timeout: Duration,
}

/// What the holder of the turn holds.
#[derive(Default)]
pub struct TurnState {
    /// The inline writer's connection, once opened and until closed.
    writer: Option<Connection>,
    /// The transaction the inline writer has open, if any.
    group: Option<Group>,
    /// Groups committed so far, and the most members one held.
    committed: (u64, usize),
}

impl std::fmt::Debug for TurnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnState")
            .field("writer", &self.writer.is_some())
            .field("group", &self.group.as_ref().map(|g| g.members))
            .finish()
    }
}

/// An open transaction of the inline writer and the writes it holds.
struct Group {
    /// Writes whose savepoint was released into it.
    members: usize,
    /// Set once, when the transaction ends: committed, or the SQLite code
    /// it failed with.
    outcome: Arc<OnceLock<Result<(), i32>>>,
}

/// The turn, held: the other writers wait until it is dropped.
pub type WriteTurn = tokio::sync::OwnedMutexGuard<TurnState>;

impl Turns {
    /// A turn with no inline writer; waiting for it gives up after
    /// `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            state: Arc::default(),
            timeout,
        }
    }

    /// Hands the inline writer's connection to the turn.
    ///
    /// # Errors
    /// When a writer holds the turn: this is for start-up, before any write.
    pub fn set_writer(&self, conn: Connection) -> anyhow::Result<()> {
        let mut state = self
            .state
            .try_lock()
            .map_err(|_| anyhow::anyhow!("the inline writer is set before any write"))?;
        anyhow::ensure!(state.writer.is_none(), "the inline writer is set once");
        state.writer = Some(conn);
        Ok(())
    }

    /// The turn, once the writers before have had theirs, for a write that
    /// is not an inline one: an open group is committed first.
    ///
    /// # Errors
    /// [`sqlx::Error::PoolTimedOut`] after the timeout (a writer that asks
    /// while it holds the turn fails instead of waiting forever).
    pub async fn take(&self) -> Result<WriteTurn, sqlx::Error> {
        let mut turn = self.wait().await?;
        settle(&mut turn);
        Ok(turn)
    }

    /// The turn without settling an open group.
    async fn wait(&self) -> Result<WriteTurn, sqlx::Error> {
        let taken = tokio::time::timeout(self.timeout, Arc::clone(&self.state).lock_owned()).await;
        taken.map_err(|_| sqlx::Error::PoolTimedOut)
    }

    /// Starts an inline write: it joins the open group, or begins one.
    ///
    /// # Errors
    /// [`sqlx::Error::PoolClosed`] without a writer (never set, or
    /// closed); the timeout's; SQLite's, when the lock is not granted
    /// within the busy handler's time.
    pub async fn begin_inline(&self) -> Result<InlineWrite, sqlx::Error> {
        let mut turn = self.wait().await?;
        if turn
            .group
            .as_ref()
            .is_some_and(|g| g.members >= MAX_MEMBERS)
        {
            settle(&mut turn);
        }
        let state = &mut *turn;
        let Some(writer) = state.writer.as_ref() else {
            return Err(sqlx::Error::PoolClosed);
        };
        if writer.is_autocommit()
            && let Some(gone) = state.group.take()
        {
            // SQLite ended the group's transaction outside any member.
            let _ = gone.outcome.set(Err(SQLITE_ABORT));
        }
        if state.group.is_none() {
            writer.execute_batch("BEGIN IMMEDIATE").map_err(error)?;
            state.group = Some(Group {
                members: 0,
                outcome: Arc::default(),
            });
        }
        writer.execute_batch("SAVEPOINT member").map_err(error)?;
        Ok(InlineWrite {
            turn,
            finished: false,
        })
    }

    /// How many groups of inline writes were committed, and the most
    /// writes one held: what shows the grouping at work.
    pub async fn groups_committed(&self) -> (u64, usize) {
        self.state.lock().await.committed
    }

    /// Commits an open group and closes the inline writer's connection;
    /// inline writes fail after this.
    pub async fn close(&self) {
        let mut turn = self.state.lock().await;
        settle(&mut turn);
        turn.writer = None;
    }
}

/// Ends the open group, if any: commits it, or rolls it back when the
/// commit fails, and tells its members which.
fn settle(state: &mut TurnState) {
    let Some(group) = state.group.take() else {
        return;
    };
    let Some(writer) = state.writer.as_ref() else {
        return;
    };
    let outcome = match writer.execute_batch("COMMIT") {
        Ok(()) => {
            let (groups, largest) = state.committed;
            state.committed = (groups + 1, largest.max(group.members));
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, members = group.members, "committing a group of inline writes failed");
            if !writer.is_autocommit()
                && let Err(e) = writer.execute_batch("ROLLBACK")
            {
                tracing::error!(error = %e, "rolling back a group of inline writes failed");
            }
            Err(code_of(&e))
        }
    };
    let _ = group.outcome.set(outcome);
}

/// SQLite's extended code of `e`, or `SQLITE_ABORT`.
fn code_of(e: &rusqlite::Error) -> i32 {
    match e {
        rusqlite::Error::SqliteFailure(failure, _) => failure.extended_code,
        _ => SQLITE_ABORT,
    }
}

/// One write of the inline writer, in a savepoint of the open group: it
/// holds the turn until [`Self::commit`] or its drop, which rolls its own
/// work back. Its statements run where they are called, through
/// [`crate::exec::Exec`].
pub struct InlineWrite {
    turn: WriteTurn,
    /// Released into the group, or rolled back already.
    finished: bool,
}

impl std::fmt::Debug for InlineWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineWrite")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl InlineWrite {
    /// The connection, for one statement at a time: not held across an
    /// `.await` (a `Connection` is not `Sync`).
    pub(crate) fn conn(&self) -> Result<&Connection, sqlx::Error> {
        self.turn.writer.as_ref().ok_or(sqlx::Error::PoolClosed)
    }

    /// Releases this write into its group and returns once the group has
    /// been committed.
    ///
    /// # Errors
    /// SQLite's, when the release or the group's commit fails: then none
    /// of this write is kept.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let conn = self.conn()?;
        if conn.is_autocommit() {
            // SQLite ended the transaction in one of this write's statements.
            return Err(error(failure(SQLITE_ABORT)));
        }
        conn.execute_batch("RELEASE member").map_err(error)?;
        let Some(group) = self.turn.group.as_mut() else {
            // Released, yet no group: SQLite's transaction cannot have
            // ended without this write's statements failing.
            return Err(error(failure(SQLITE_ABORT)));
        };
        group.members += 1;
        let outcome = Arc::clone(&group.outcome);
        self.finished = true;
        let turns = Arc::clone(tokio::sync::OwnedMutexGuard::mutex(&self.turn));
        // Give the turn to the writes queued behind: they join the group.
        drop(self);
        if outcome.get().is_none() {
            let mut turn = turns.lock_owned().await;
            if outcome.get().is_none() {
                // The open group is this one: no writer settled it since.
                settle(&mut turn);
            }
        }
        match outcome.get() {
            Some(Ok(())) => Ok(()),
            Some(Err(code)) => Err(error(failure(*code))),
            None => Err(error(failure(SQLITE_ABORT))),
        }
    }
}

/// A failure of SQLite with the extended code `code`.
fn failure(code: i32) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(code),
        Some("the group of writes this one was in was not committed".to_owned()),
    )
}

impl Drop for InlineWrite {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let state = &mut *self.turn;
        let Some(writer) = state.writer.as_ref() else {
            return;
        };
        // Some errors make SQLite end the whole transaction; then the
        // group is gone with it. A group no write has joined holds nothing
        // worth SQLite's lock.
        let joined = state.group.as_ref().is_some_and(|g| g.members > 0);
        let undone = joined
            && !writer.is_autocommit()
            && writer
                .execute_batch("ROLLBACK TO member; RELEASE member")
                .inspect_err(|e| tracing::error!(error = %e, "rolling back an inline write failed"))
                .is_ok();
        if !undone {
            if !writer.is_autocommit() {
                let _ = writer.execute_batch("ROLLBACK");
            }
            if let Some(group) = state.group.take() {
                let _ = group.outcome.set(Err(SQLITE_ABORT));
            }
        }
    }
}

#[cfg(test)]
mod tests;
