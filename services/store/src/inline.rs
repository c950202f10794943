//! SQLite reads and writes on the calling thread.
//!
//! sqlx runs every SQLite connection on a thread of its own and hands each
//! statement to it, and the rows back: two thread wake-ups a statement. A
//! point read costs 47-58 µs that way and 1.5 µs on the caller's thread
//! (`todo-load sqlite-handoff`, BENCHMARKS.md). The task service's
//! hottest reads therefore run here, on connections of their own, their
//! statements prepared and kept: one task by id, a page of one list (at
//! most 201 rows, read through an index that holds them in order) and the
//! links of the tasks it returns.
//!
//! They block the async runtime's thread while they run, which is right for
//! short reads only: rows an index leads to, never a scan. In WAL mode a
//! reader does not wait for the writer; the short busy timeout covers the
//! rare moments SQLite makes a reader wait (another connection recovering
//! the WAL index), and a read that runs out of it fails like any other
//! database error.
//!
//! The same holds for the inline writer ([`open_writer`]): one connection
//! whose write transactions run their statements here, through
//! [`crate::exec::Exec`] (the creation of a task: some ten statements,
//! each a hand-off before). Writes queue for it one at a time, in the
//! process's write turn, and commit in groups ([`crate::turn`]).
//!
//! MySQL has no such path: its statements wait on the network, which async
//! I/O does well.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use rusqlite::{Connection, OpenFlags};

/// How long an inline read waits for a lock before it fails: it holds a
/// runtime thread meanwhile.
const BUSY_TIMEOUT_MS: u32 = 1000;

/// Prepared statements kept per connection, least recently used out
/// first. A page's statement differs by filter and order and the links'
/// by the page's length; rusqlite's default of 16 would drop hot ones.
const STATEMENTS_KEPT: usize = 64;

/// A fixed set of read-only connections to one SQLite file.
pub struct InlineReads {
    /// `None` once closed.
    slots: Box<[Mutex<Option<Connection>>]>,
    /// Where the next read starts looking for a free connection.
    next: AtomicUsize,
}

impl std::fmt::Debug for InlineReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InlineReads")
            .field("connections", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl InlineReads {
    /// Opens `connections` connections (at least one) to the database file
    /// at `path`, which must exist: the pool's connect made it.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: &Path, connections: u32) -> Result<Self, sqlx::Error> {
        let slots = (0..connections.max(1))
            .map(|_| open(path).map(|c| Mutex::new(Some(c))))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            slots,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `read` on a free connection. It must not wait on anything
    /// else: the connection stays taken, and the thread blocked, until it
    /// returns.
    ///
    /// # Errors
    /// `read`'s own, and [`sqlx::Error::PoolClosed`] after [`Self::close`].
    pub fn read<T, E: From<sqlx::Error>>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let guard = self.take();
        let conn = guard.as_ref().ok_or(sqlx::Error::PoolClosed)?;
        read(conn)
    }

    /// A free connection: the first one unlocked from a starting point that
    /// moves on with every read, else (every one busy, when more threads
    /// read than there are connections) a wait for the starting one. A
    /// read holds it for microseconds.
    fn take(&self) -> MutexGuard<'_, Option<Connection>> {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        // A read that panicked left its connection as it was: usable.
        (0..n)
            .find_map(|i| match self.slots[(start + i) % n].try_lock() {
                Ok(free) => Some(free),
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            })
            .unwrap_or_else(|| {
                self.slots[start]
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
            })
    }

    /// Closes every connection; reads after this fail.
    pub fn close(&self) {
        for slot in &self.slots {
            slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        }
    }
}

/// One connection that can only read.
fn open(path: &Path) -> Result<Connection, sqlx::Error> {
    // Opened read-write and then limited to queries, rather than opened
    // read-only: a read-only connection to a WAL database needs the -shm
    // file to exist already and cannot recover it.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(error)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(error)?;
    conn.pragma_update(None, "busy_timeout", BUSY_TIMEOUT_MS)
        .map_err(error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
    Ok(conn)
}

/// How long the inline writer waits for SQLite's write lock, in pauses of
/// [`WRITER_BUSY_PAUSE`]. The writers of this process take their turn
/// first (see [`crate::db::Db::write_turn`]); what the inline writer can
/// still meet at the lock is the outbox relay's single statements (it
/// writes through a pool of its own), the rollback sqlx finishes on its
/// thread after a pooled transaction was dropped, or a writer outside the
/// process. SQLite's own busy handler would sleep up to 100 ms a try, on a
/// runtime thread; past this the write fails as busy (UNAVAILABLE).
const WRITER_BUSY_TRIES: i32 = 2_000;
const WRITER_BUSY_PAUSE: std::time::Duration = std::time::Duration::from_micros(50);

/// The busy handler of the inline writer: a short pause per try, some
/// 100-200 ms in all (a pause sleeps at least as long as asked).
fn brief_wait(tries: i32) -> bool {
    if tries >= WRITER_BUSY_TRIES {
        return false;
    }
    std::thread::sleep(WRITER_BUSY_PAUSE);
    true
}

/// Pages of WAL after which the inline writer checkpoints by itself,
/// rather than at SQLite's default of 1,000: each checkpoint writes every
/// page changed since the last one back into the database file (and syncs
/// it), and the pages a create changes are mostly the same ones (the ends
/// of the indexes), so fewer checkpoints write far fewer pages (POST
/// 1,305 -> 1,572 req/s, BENCHMARKS.md). [`crate::db::Db::checkpoint_until_stopped`]
/// checkpoints long before, in the background; this is the safety net.
const WRITER_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// Opens the connection that runs write transactions on the caller's
/// thread: every statement of a transaction without a hand-off to another
/// thread and back (BENCHMARKS.md, "What stands in the way of POST"). It
/// is set up as the pool's connections are (WAL was set on the file by
/// them; `synchronous` and `foreign_keys` are per connection); the
/// process's write turn holds it ([`crate::turn`]).
///
/// # Errors
/// When the file, which must exist, cannot be opened.
pub fn open_writer(path: &Path) -> Result<Connection, sqlx::Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(error)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(error)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(error)?;
    conn.busy_handler(Some(brief_wait)).map_err(error)?;
    // A write in a group keeps a copy of each page before its first change
    // (the savepoint's sub-journal), so that it can roll back alone. Past
    // 64 KiB SQLite spills that copy to a temporary file, which a group of
    // creates passes: a page write to a file for every page changed, 14%
    // of POST's samples. In memory it is a copy, given back at the commit.
    conn.pragma_update(None, "temp_store", "MEMORY")
        .map_err(error)?;
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)
        .map_err(error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
    Ok(conn)
}

/// Every row of `sql` with `params` bound, each made into a value by
/// `map`; the statement is prepared once per connection and kept.
///
/// # Errors
/// When the statement fails, or `map` does.
pub fn fetch_all<T, E: From<sqlx::Error>>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    mut map: impl FnMut(&InlineRow<'_, '_>) -> Result<T, E>,
) -> Result<Vec<T>, E> {
    let mut statement = conn.prepare_cached(sql).map_err(error)?;
    let mut rows = statement.query(params).map_err(error)?;
    let mut values = Vec::new();
    while let Some(row) = rows.next().map_err(error)? {
        values.push(map(&InlineRow::new(row))?);
    }
    Ok(values)
}

/// The first row of `sql`, if any, as [`fetch_all`] makes it.
///
/// # Errors
/// When the statement fails, or `map` does.
pub fn fetch_optional<T, E: From<sqlx::Error>>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl FnOnce(&InlineRow<'_, '_>) -> Result<T, E>,
) -> Result<Option<T>, E> {
    let mut statement = conn.prepare_cached(sql).map_err(error)?;
    let mut rows = statement.query(params).map_err(error)?;
    rows.next()
        .map_err(error)?
        .map(|row| map(&InlineRow::new(row)))
        .transpose()
}

/// A row of an inline read, its columns found by name.
///
/// rusqlite finds a column by name by asking SQLite for every column's name
/// in turn until one matches: for a task's 22 columns some 250 calls a
/// row, a sixth of a task read in the GET profile (BENCHMARKS.md). Here
/// the search starts after the column found last, and the statements list
/// their columns in the order their rows are read: one call a column.
pub struct InlineRow<'a, 'stmt> {
    row: &'a rusqlite::Row<'stmt>,
    /// Where the search for the next name starts.
    next: std::cell::Cell<usize>,
}

impl<'a, 'stmt> InlineRow<'a, 'stmt> {
    fn new(row: &'a rusqlite::Row<'stmt>) -> Self {
        Self {
            row,
            next: std::cell::Cell::new(0),
        }
    }

    /// The index of the column `name`, matched exactly against the name
    /// SQLite reports: the alias, else the table's spelling of the column.
    fn index(&self, name: &str) -> Result<usize, sqlx::Error> {
        let statement: &rusqlite::Statement<'_> = self.row.as_ref();
        let count = statement.column_count();
        let start = self.next.get().min(count);
        let found = (start..count)
            .chain(0..start)
            .find(|&i| statement.column_name(i).is_ok_and(|n| n == name))
            .ok_or_else(|| sqlx::Error::ColumnNotFound(name.to_owned()))?;
        self.next.set(found + 1);
        Ok(found)
    }
}

/// A failure of an inline read, as the rest of the code meets database
/// failures.
pub fn error(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::AnyDriverError(Box::new(e))
}

/// Whether an inline read failed because SQLite's database stayed busy or
/// locked past the busy timeout (a read in WAL meets it only while another
/// connection recovers the WAL index). The read is not part of a
/// transaction that is retried, so it is for the caller to try again
/// later: the service is briefly unavailable, not in conflict.
pub fn is_busy(err: &sqlx::Error) -> bool {
    let sqlx::Error::AnyDriverError(e) = err else {
        return false;
    };
    matches!(
        e.downcast_ref::<rusqlite::Error>(),
        Some(rusqlite::Error::SqliteFailure(failure, _))
            if matches!(
                failure.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            )
    )
}

/// SQLite's extended result code of an inline statement's failure.
pub(crate) fn sqlite_code(err: &sqlx::Error) -> Option<i32> {
    let sqlx::Error::AnyDriverError(e) = err else {
        return None;
    };
    match e.downcast_ref::<rusqlite::Error>() {
        Some(rusqlite::Error::SqliteFailure(failure, _)) => Some(failure.extended_code),
        _ => None,
    }
}

/// A value bound to a statement that either driver runs: a statement built
/// once, its values listed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Null,
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl From<Option<i64>> for Value {
    fn from(n: Option<i64>) -> Self {
        n.map_or(Self::Null, Self::Int)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Self::Text(s.clone())
    }
}

impl From<Option<String>> for Value {
    fn from(s: Option<String>) -> Self {
        s.map_or(Self::Null, Self::Text)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Self::Bytes(b)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Self::Int(n) => n.to_sql(),
            Self::Text(s) => s.to_sql(),
            Self::Bytes(b) => b.to_sql(),
            Self::Null => rusqlite::types::Null.to_sql(),
        }
    }
}

/// A statement of sqlx's `Any` driver.
pub type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// `query` with `values` bound in order.
pub fn bind_all<'q>(values: &'q [Value], mut query: AnyQuery<'q>) -> AnyQuery<'q> {
    for value in values {
        query = match value {
            Value::Int(n) => query.bind(*n),
            Value::Text(s) => query.bind(s.as_str()),
            Value::Bytes(b) => query.bind(b.as_slice()),
            Value::Null => query.bind(None::<i64>),
        };
    }
    query
}

/// A row of either driver, read by column name: what lets one function
/// turn a row into a value whichever way it was read.
pub trait Columns {
    /// An integer column; `None` when NULL.
    ///
    /// # Errors
    /// When there is no such column or it holds no integer.
    fn int(&self, name: &str) -> Result<Option<i64>, sqlx::Error>;

    /// A text column; `None` when NULL.
    ///
    /// # Errors
    /// When there is no such column or it holds no text.
    fn text(&self, name: &str) -> Result<Option<String>, sqlx::Error>;

    /// An integer column that is never NULL.
    ///
    /// # Errors
    /// As [`Self::int`], and when the value is NULL.
    fn required_int(&self, name: &str) -> Result<i64, sqlx::Error> {
        self.int(name)?.ok_or_else(|| null(name))
    }

    /// A text column that is never NULL.
    ///
    /// # Errors
    /// As [`Self::text`], and when the value is NULL.
    fn required_text(&self, name: &str) -> Result<String, sqlx::Error> {
        self.text(name)?.ok_or_else(|| null(name))
    }
}

fn null(column: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("column {column} is NULL").into())
}

impl Columns for sqlx::any::AnyRow {
    fn int(&self, name: &str) -> Result<Option<i64>, sqlx::Error> {
        sqlx::Row::try_get(self, name)
    }

    fn text(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::Row::try_get(self, name)
    }
}

impl Columns for InlineRow<'_, '_> {
    fn int(&self, name: &str) -> Result<Option<i64>, sqlx::Error> {
        self.row.get(self.index(name)?).map_err(error)
    }

    fn text(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        self.row.get(self.index(name)?).map_err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database file with one table of `(n, name)` rows, the connection
    /// that wrote them, and `connections` inline connections to read it.
    struct Seeded {
        reads: InlineReads,
        writer: Connection,
        _dir: tempfile::TempDir,
    }

    fn seeded(connections: u32) -> Seeded {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inline.db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE t (n BIGINT NOT NULL, name TEXT);
                 INSERT INTO t VALUES (1, 'one'), (2, NULL);",
            )
            .unwrap();
        let reads = InlineReads::open(&path, connections).unwrap();
        Seeded {
            reads,
            writer,
            _dir: dir,
        }
    }

    fn name_of(reads: &InlineReads, n: i64) -> Result<Option<String>, sqlx::Error> {
        reads.read(|conn| {
            let sql = "SELECT n, name FROM t WHERE n = ?";
            fetch_optional(conn, sql, [n], |row| {
                assert_eq!(row.required_int("n")?, n);
                row.text("name")
            })?
            .ok_or(sqlx::Error::RowNotFound)
        })
    }

    #[test]
    fn fetch_all_reads_every_row_in_order() {
        let db = seeded(1);
        let sql = "SELECT n FROM t WHERE n >= ? ORDER BY n DESC";
        let all = db
            .reads
            .read(|conn| fetch_all(conn, sql, [1], |row| row.required_int("n")));
        assert_eq!(all.unwrap(), [2, 1]);
    }

    #[test]
    fn reads_see_what_another_connection_committed() {
        let db = seeded(2);
        assert_eq!(name_of(&db.reads, 1).unwrap().as_deref(), Some("one"));
        assert_eq!(name_of(&db.reads, 2).unwrap(), None);
        db.writer
            .execute("UPDATE t SET name = 'two' WHERE n = 2", [])
            .unwrap();
        // Every connection of the set, in turn, sees the commit.
        for _ in 0..3 {
            assert_eq!(name_of(&db.reads, 2).unwrap().as_deref(), Some("two"));
        }
    }

    #[test]
    fn a_read_of_a_locked_database_fails_as_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locked.db");
        let writer = Connection::open(&path).unwrap();
        // A rollback journal, where a writer's exclusive lock keeps readers
        // out (in WAL a reader is refused only during WAL recovery).
        writer
            .execute_batch("CREATE TABLE t (n BIGINT NOT NULL, name TEXT); BEGIN EXCLUSIVE;")
            .unwrap();
        let reads = InlineReads::open(&path, 1).unwrap();
        let refused = name_of(&reads, 1).unwrap_err();
        assert!(is_busy(&refused), "{refused}");
        writer.execute_batch("COMMIT").unwrap();
        assert!(matches!(name_of(&reads, 1), Err(sqlx::Error::RowNotFound)));
        assert!(!is_busy(&error(rusqlite::Error::QueryReturnedNoRows)));
        assert!(!is_busy(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn a_required_column_that_is_null_is_an_error() {
        let db = seeded(1);
        let got = db.reads.read(|conn| {
            fetch_optional(conn, "SELECT name FROM t WHERE n = 2", [], |row| {
                row.required_text("name")
            })
        });
        assert!(matches!(got, Err(sqlx::Error::Decode(_))), "{got:?}");
    }

    #[test]
    fn columns_are_found_by_name_in_any_order_and_a_missing_one_is_an_error() {
        let db = seeded(1);
        let sql = "SELECT n, name, n * 10 AS tens FROM t WHERE n = 1";
        let got = db.reads.read(|conn| -> Result<_, sqlx::Error> {
            fetch_optional(conn, sql, [], |row| {
                // Backwards, twice over, and past the end.
                let tens = row.required_int("tens")?;
                let name = row.required_text("name")?;
                let n = row.required_int("n")?;
                let again = row.required_int("tens")?;
                Ok((tens, name, n, again, row.int("missing").unwrap_err()))
            })
        });
        let (tens, name, n, again, missing) = got.unwrap().unwrap();
        assert_eq!((tens, name.as_str(), n, again), (10, "one", 1, 10));
        assert!(
            matches!(&missing, sqlx::Error::ColumnNotFound(c) if c == "missing"),
            "{missing:?}"
        );
    }

    #[test]
    fn the_connections_cannot_write() {
        let db = seeded(1);
        let written = db
            .reads
            .read(|conn| conn.execute("DELETE FROM t", []).map_err(error));
        assert!(written.is_err());
        assert_eq!(name_of(&db.reads, 1).unwrap().as_deref(), Some("one"));
    }

    #[test]
    fn reads_after_close_fail() {
        let db = seeded(2);
        db.reads.close();
        assert!(matches!(
            name_of(&db.reads, 1),
            Err(sqlx::Error::PoolClosed)
        ));
    }

    #[test]
    fn reads_from_more_threads_than_connections_all_finish() {
        let db = seeded(2);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..200 {
                        assert_eq!(name_of(&db.reads, 1).unwrap().as_deref(), Some("one"));
                    }
                });
            }
        });
    }
}
