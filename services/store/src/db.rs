//! The database: one sqlx code path for SQLite (embedded default, one file
//! per service) and MySQL 8 / MariaDB 10.6+ (production), through sqlx's
//! `Any` driver. Queries use `?` placeholders and portable SQL; the few
//! statements that differ by backend branch on [`Backend`]. On SQLite a
//! service may also run short reads and write transactions on its own
//! thread, with the same SQL ([`Db::with_inline`], [`crate::inline`],
//! [`crate::exec`]); every writer of a process takes one write turn
//! ([`Db::write_turn`]).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;

pub use sqlx::AnyPool as Pool;

use crate::exec::WriteTx;
use crate::inline::{self, InlineReads};
use crate::poll::{self, Pass, Schedule};
use crate::turn::{Turns, WriteTurn};

/// Which database server a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
}

impl Backend {
    /// The backend named by a connection URL's scheme.
    ///
    /// # Errors
    /// When the scheme is neither `sqlite:` nor `mysql:`/`mariadb:`.
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Ok(Self::MySql)
        } else {
            anyhow::bail!("unsupported database URL scheme (use sqlite: or mysql:)")
        }
    }
}

/// How a service reaches its database.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// `sqlite://path/to/file.db` or `mysql://user:pass@host:3306/schema`.
    pub url: String,
    /// Upper bound of open connections in the pool (on SQLite, of the read
    /// pool beside its one writer, and of the connections of
    /// [`Db::with_inline`]).
    pub max_connections: u32,
}

impl DbConfig {
    /// The default of the database called `name`: `sqlite://data/{name}.db`
    /// with [`default_max_connections`] of it.
    pub fn named(name: &str) -> Self {
        let url = format!("sqlite://data/{name}.db");
        Self {
            max_connections: default_max_connections(&url),
            url,
        }
    }

    /// Reads `{prefix}_DATABASE_URL` and `{prefix}_DB_MAX_CONNECTIONS`,
    /// each unset one at its default: the URL of [`Self::named`], the pool
    /// size [`default_max_connections`] of the URL.
    ///
    /// # Errors
    /// When a variable is set but invalid.
    pub fn from_lookup(
        lookup: todo_common::config::Lookup<'_>,
        prefix: &str,
        name: &str,
    ) -> Result<Self, todo_common::config::ConfigError> {
        let d = Self::named(name);
        let url = todo_common::config::var_or(lookup, &format!("{prefix}_DATABASE_URL"), d.url)?;
        Ok(Self {
            max_connections: todo_common::config::var_or(
                lookup,
                &format!("{prefix}_DB_MAX_CONNECTIONS"),
                default_max_connections(&url),
            )?,
            url,
        })
    }
}

/// The pool size when none is set. SQLite: one connection per core, at
/// least 2 and at most 16. Its reads are CPU work on a local file, so more
/// connections than cores only queue for them, while each holds a thread
/// and a page cache of its own (measured on 2 cores, 2 against 10: GET
/// +11%, the deep page +35%, 20 MB less; BENCHMARKS.md). MySQL: 10, whose
/// queries mostly wait on the server and the network.
pub fn default_max_connections(url: &str) -> u32 {
    match Backend::of_url(url) {
        Ok(Backend::Sqlite) => std::thread::available_parallelism()
            .map_or(2, |cores| u32::try_from(cores.get()).unwrap_or(u32::MAX))
            .clamp(2, 16),
        _ => 10,
    }
}

/// The connected pools and their backend.
#[derive(Clone, Debug)]
pub struct Db {
    /// Reads.
    pub pool: Pool,
    pub backend: Backend,
    /// Where [`Db::begin_write`] takes its connection: on SQLite a pool of
    /// one, on MySQL the same pool as reads.
    writer: Pool,
    /// The SQLite file behind the pools; `None` on MySQL and for an
    /// in-memory database.
    sqlite_file: Option<PathBuf>,
    /// Connections for the short reads that run on the caller's thread,
    /// once [`Db::with_inline`] opened them.
    inline: Option<Arc<InlineReads>>,
    /// Whether [`Db::with_inline`] opened a connection for write
    /// transactions on the caller's thread (the turn holds it).
    inline_writes: bool,
    /// What every write transaction on SQLite takes first, pooled or
    /// inline; `None` on MySQL.
    turn: Option<Turns>,
}

/// How long a writer waits for a connection or the write turn.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often [`Db::checkpoint_until_stopped`] checkpoints: at some 2,000
/// creates a second, a tenth of a second of WAL is about 3,000 pages
/// (12 MB), mostly the same few pages written again and again, which a
/// checkpoint writes once.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// A write transaction of [`Db::begin_write`]: sqlx's, on the pool's
/// connection, and on SQLite the process's write turn until it ends.
#[derive(Debug)]
pub struct Transaction {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<WriteTurn>,
}

impl Transaction {
    /// Commits; the turn goes to the next writer.
    ///
    /// # Errors
    /// The driver's, when the commit fails.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for Transaction {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for Transaction {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl Db {
    /// Starts a transaction that is going to write; every writing
    /// transaction starts here rather than at `pool.begin()`.
    ///
    /// On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`). A
    /// deferred transaction that reads first and writes later cannot turn
    /// into the writer once another connection has committed since its read:
    /// SQLite fails it at once with `SQLITE_BUSY_SNAPSHOT`, which no busy
    /// timeout waits out. Taking the lock up front makes such writers queue
    /// behind each other instead. MySQL's row locks need no such help.
    ///
    /// # Errors
    /// When no connection is available or the lock is not granted within the
    /// busy timeout.
    pub async fn begin_write(&self) -> Result<Transaction, sqlx::Error> {
        let turn = self.write_turn().await?;
        let tx = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::MySql => self.writer.begin().await?,
        };
        Ok(Transaction { tx, _turn: turn })
    }

    /// The write turn on SQLite, once the writers before have ended; `None`
    /// on MySQL. Every write transaction takes it; a write outside a
    /// transaction on [`Self::writer`] takes it too in a service with an
    /// inline writer, which would otherwise meet it at SQLite's lock.
    ///
    /// The pool's one writer connection would queue the transactions too,
    /// but sqlx tests a connection on its return to the pool (a round trip
    /// to its thread, in a task of its own) before the next one gets it:
    /// between two writers the database stood idle for that (POST 1,572 ->
    /// 2,173 req/s without it, BENCHMARKS.md).
    ///
    /// # Errors
    /// [`sqlx::Error::PoolTimedOut`] after the pool's acquire timeout, as
    /// the pool's connection was given up on before: a writer that asks
    /// while holding the turn (from inside a transaction) fails instead of
    /// waiting forever.
    pub async fn write_turn(&self) -> Result<Option<WriteTurn>, sqlx::Error> {
        match &self.turn {
            Some(turns) => turns.take().await.map(Some),
            None => Ok(None),
        }
    }

    /// Where a write outside a transaction runs (one statement in
    /// autocommit): on SQLite the one writer connection, so it queues
    /// behind the writing transactions instead of polling for SQLite's lock
    /// in the busy handler, which sleeps up to 100 ms between tries; on
    /// MySQL the one pool. In a service with an inline writer (see
    /// [`Self::with_inline`]), after [`Self::write_turn`]. Never from
    /// inside a transaction of [`Db::begin_write`]: on SQLite that waits
    /// for the connection the transaction holds.
    pub fn writer(&self) -> &Pool {
        &self.writer
    }

    /// Opens connections for short reads on the caller's thread (see
    /// [`crate::inline`]), as many as the read pool has, and one for the
    /// writes of [`Self::begin_inline_write`], on an SQLite file; on MySQL
    /// or an in-memory database it does nothing. Only for a service that
    /// makes such reads and writes: each connection keeps a file handle
    /// and a page cache of its own.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn with_inline(mut self) -> anyhow::Result<Self> {
        if let Some(file) = &self.sqlite_file {
            let reads = InlineReads::open(file, self.pool.options().get_max_connections())
                .context("cannot open the database for inline reads")?;
            let writer =
                inline::open_writer(file).context("cannot open the database for inline writes")?;
            let turns = self
                .turn
                .as_ref()
                .context("an SQLite database has a write turn")?;
            turns.set_writer(writer)?;
            self.inline = Some(Arc::new(reads));
            self.inline_writes = true;
        }
        Ok(self)
    }

    /// Starts a write transaction for code written against
    /// [`crate::exec::Exec`]. With an inline writer (SQLite, after
    /// [`Self::with_inline`]) its statements run on the caller's thread,
    /// one after another without a hand-off each; else it is
    /// [`Self::begin_write`]'s.
    ///
    /// Transactions of both kinds take the same write turn first, so they
    /// queue in order instead of meeting at SQLite's lock. A transaction
    /// blocks its thread while its statements run, as the inline reads do:
    /// it reads and writes the rows an index leads to.
    ///
    /// # Errors
    /// As [`Self::begin_write`].
    pub async fn begin_inline_write(&self) -> Result<WriteTx, sqlx::Error> {
        match &self.turn {
            Some(turns) if self.inline_writes => Ok(WriteTx::Inline(turns.begin_inline().await?)),
            _ => self.begin_write().await.map(WriteTx::Pooled),
        }
    }

    /// Copies the WAL's pages into the database file in the background,
    /// every [`CHECKPOINT_INTERVAL`], until `stop`; on a database without
    /// an inline writer it returns at once.
    ///
    /// The inline writer checkpoints by itself only past a long WAL
    /// (`inline::WRITER_AUTOCHECKPOINT_PAGES`): a checkpoint in a write
    /// would hold up every writer queued behind it (POST p99 42 -> 70-82 ms
    /// when it did). Here it runs on a pooled connection's own thread, in
    /// `PASSIVE` mode, which waits for no reader and no writer.
    ///
    /// Before each, it takes the write turn for a moment: that commits a
    /// group of inline writes left open because every member still to
    /// commit it went away (their requests were dropped) and no writer came
    /// after them ([`crate::turn`]).
    pub async fn checkpoint_until_stopped(self, stop: CancellationToken) {
        if !self.inline_writes {
            return;
        }
        let schedule = Schedule {
            worker: "WAL checkpoints",
            idle: CHECKPOINT_INTERVAL,
            wake: None,
        };
        poll::run(schedule, stop, || async {
            drop(self.write_turn().await?);
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.pool)
                .await?;
            Ok::<_, sqlx::Error>(Pass::Idle)
        })
        .await;
    }

    /// The write turn, on SQLite.
    pub fn turns(&self) -> Option<&Turns> {
        self.turn.as_ref()
    }

    /// The read connections of [`Self::with_inline`], if it opened any;
    /// else `None`, and reads go through [`Self::pool`].
    pub fn inline_reads(&self) -> Option<&InlineReads> {
        self.inline.as_deref()
    }

    /// Closes both pools and the inline connections (tests that remove the
    /// database's files).
    pub async fn close(&self) {
        if let Some(inline) = &self.inline {
            inline.close();
        }
        if let Some(turns) = &self.turn
            && self.inline_writes
        {
            turns.close().await;
        }
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// Connects to the database, creating an SQLite file (and its folder) when
/// missing, then applies `migrator`'s pending migrations.
///
/// # Errors
/// When the database cannot be reached or a migration fails. The URL is not
/// part of the error: it may carry a password.
pub async fn connect(config: &DbConfig, migrator: &Migrator) -> anyhow::Result<Db> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of_url(&config.url)?;
    let url = match backend {
        Backend::Sqlite => sqlite_url(&config.url)?,
        Backend::MySql => config.url.clone(),
    };
    let pool = pool_options(backend, config.max_connections.max(1))
        .connect(&url)
        .await
        .context("cannot connect to the database")?;
    migrator
        .run(&pool)
        .await
        .context("database migration failed")?;
    let writer = match backend {
        Backend::Sqlite => pool_options(backend, 1)
            .connect(&url)
            .await
            .context("cannot connect to the database")?,
        Backend::MySql => pool.clone(),
    };
    let sqlite_file = match backend {
        Backend::Sqlite => sqlite_file(&url)?,
        Backend::MySql => None,
    };
    Ok(Db {
        pool,
        backend,
        writer,
        sqlite_file,
        inline: None,
        inline_writes: false,
        turn: (backend == Backend::Sqlite).then(|| Turns::new(ACQUIRE_TIMEOUT)),
    })
}

/// A pool of at most `max_connections`, each set up for `backend`.
fn pool_options(backend: Backend, max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A pooled MySQL connection may have been closed by the server or
        // the network since its last use, so it is pinged before it is
        // handed out. An SQLite connection is a file handle on a thread of
        // its own that nothing outside can close: its ping would be a
        // round trip to that thread on every acquire for nothing.
        .test_before_acquire(backend == Backend::MySql)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    // WAL lets readers run beside the one writer; the busy
                    // timeout queues writers instead of failing them.
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                    // In WAL mode NORMAL syncs at checkpoints, not at every
                    // commit: a crash of the process loses nothing, a power
                    // cut can lose the last commits but never corrupts the
                    // file. FULL made every write wait for an fsync.
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                } else {
                    sqlx::query("SET time_zone = '+00:00'")
                        .execute(&mut *conn)
                        .await?;
                    use_database_collation(conn).await?;
                }
                Ok(())
            })
        })
}

/// Makes a MySQL session read its parameters in the collation of its
/// database, the one the migrations' tables got.
///
/// sqlx opens every session with `SET NAMES utf8mb4 COLLATE
/// utf8mb4_unicode_ci`, whatever the tables use (the server's default:
/// utf8mb4_general_ci on MariaDB, utf8mb4_0900_ai_ci on MySQL 8). A bound
/// string in another collation than its column's no longer counts as a
/// constant for the order of an index, so MariaDB sorted a whole list to
/// serve one page of it (a page of 200 of 10,000 tasks read all 10,000).
/// The parameters take the collation of `character_set_client`, which only
/// `SET NAMES` sets; `collation_connection` alone does not reach them.
/// The database's collation also wins over a `collation` in the URL. A
/// database in another character set than utf8mb4 keeps sqlx's setting,
/// with a warning: its indexes lose their order to bound strings.
async fn use_database_collation(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    let (charset, collation): (String, String) =
        sqlx::query_as("SELECT @@character_set_database, @@collation_database")
            .fetch_one(&mut *conn)
            .await?;
    // A collation name goes into the statement as it is: only one made of
    // the characters such names have.
    let plain = collation
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if charset == "utf8mb4" && plain {
        // Run once per connection: not kept as a prepared statement.
        sqlx::query(&format!("SET NAMES utf8mb4 COLLATE {collation}"))
            .persistent(false)
            .execute(&mut *conn)
            .await?;
    } else {
        tracing::warn!(
            charset = %charset,
            "the database is not utf8mb4: bound strings compare in another collation than its columns"
        );
    }
    Ok(())
}

/// The file an SQLite URL names, as sqlx reads it (escapes decoded);
/// `None` for an in-memory database, which no other connection can open.
fn sqlite_file(url: &str) -> anyhow::Result<Option<PathBuf>> {
    let options =
        sqlx::sqlite::SqliteConnectOptions::from_str(url).context("invalid sqlite URL")?;
    let file = options.get_filename();
    let query = url.split_once('?').map_or("", |(_, query)| query);
    // sqlx names an in-memory database `file:sqlx-in-memory-N`; SQLite
    // makes an empty name a private temporary database.
    let in_memory = file.as_os_str().is_empty()
        || query.split('&').any(|option| option == "mode=memory")
        || file
            .to_str()
            .is_some_and(|f| f == ":memory:" || f.starts_with("file:"));
    Ok((!in_memory).then(|| file.to_owned()))
}

/// Adds `mode=rwc` (create if missing) and makes the file's folder.
fn sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .context("not an sqlite URL")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let folder = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = folder.filter(|_| path != ":memory:") {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    // Validate now, so a bad URL fails at start-up with a clear message.
    let full = format!("sqlite://{path}?{query}");
    sqlx::sqlite::SqliteConnectOptions::from_str(&full).context("invalid sqlite URL")?;
    Ok(full)
}

/// Whether an error is a transient conflict between concurrent
/// transactions that a retry resolves: SQLite's busy or locked database,
/// MySQL's deadlock or serialization failure (SQLSTATE 40001) and lock wait
/// timeout (1205).
pub fn is_contention(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    let code = db.code();
    let code = code.as_deref().unwrap_or_default();
    // SQLite reports its (extended) result code: 5 BUSY, 6 LOCKED and
    // their extended forms (517 BUSY_SNAPSHOT, 261 BUSY_RECOVERY, ...).
    let sqlite_busy = code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
    sqlite_busy || code == "40001" || db.message().contains("Lock wait timeout")
}

/// How many times [`retry_contended`] tries.
const CONTENDED_ATTEMPTS: u64 = 8;

/// Runs `attempt` again while it fails with an error that `contended` calls
/// a lost race with a concurrent transaction (see [`is_contention`]), up to
/// a bound, with a short random pause between tries so the contenders
/// spread out. For attempts that are whole transactions or single
/// statements, which a lost race rolls back entirely.
///
/// # Errors
/// The attempt's own error: any that is not contention, or the last one.
pub async fn retry_contended<T, E, F, Fut>(
    contended: fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut n = 1;
    loop {
        match attempt().await {
            Err(e) if contended(&e) && n < CONTENDED_ATTEMPTS => {
                let pause = rand::random::<u64>() % (5 * n) + 1;
                tokio::time::sleep(Duration::from_millis(pause)).await;
                n += 1;
            }
            other => return other,
        }
    }
}

/// Whether an error is a unique-key violation, which callers turn into a
/// domain error such as "already exists".
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        inline => inline::sqlite_code(inline).is_some_and(|c| {
            c == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || c == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_pool_size_is_one_per_core_on_sqlite_and_ten_on_mysql() {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let cores = u32::try_from(cores).unwrap().clamp(2, 16);
        let config = |vars: &[(&str, &str)]| {
            let lookup = |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            };
            DbConfig::from_lookup(&lookup, "X", "x").unwrap()
        };
        assert_eq!(config(&[]).max_connections, cores);
        assert_eq!(DbConfig::named("x").max_connections, cores);
        let mysql = [("X_DATABASE_URL", "mysql://u@h:3306/x")];
        assert_eq!(config(&mysql).max_connections, 10);
        let set = [
            ("X_DATABASE_URL", "mysql://u@h:3306/x"),
            ("X_DB_MAX_CONNECTIONS", "3"),
        ];
        assert_eq!(config(&set).max_connections, 3);
    }

    #[test]
    fn sqlite_urls_gain_create_mode() {
        let dir = std::env::temp_dir().join(format!("todo-db-test-{}", std::process::id()));
        let url = format!("sqlite://{}/x.db", dir.display());
        let out = sqlite_url(&url).unwrap_or_default();
        assert!(out.ends_with("x.db?mode=rwc"), "{out}");
        assert!(dir.is_dir());
        let _ = std::fs::remove_dir_all(dir);
    }

    /// An SQLite database in a folder of its own holding one counter at 0,
    /// read through a pool of `max_connections`.
    async fn counter(name: &str, max_connections: u32) -> (std::path::PathBuf, Db) {
        let dir = std::env::temp_dir().join(format!("todo-db-{name}-{}", std::process::id()));
        let config = DbConfig {
            url: format!("sqlite://{}/{name}.db", dir.display()),
            max_connections,
        };
        let db = connect(&config, &Migrator::DEFAULT).await.unwrap();
        sqlx::query("CREATE TABLE counter (n BIGINT NOT NULL)")
            .execute(&db.pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO counter (n) VALUES (0)")
            .execute(&db.pool)
            .await
            .unwrap();
        (dir, db)
    }

    /// Without `BEGIN IMMEDIATE` the other connection's write would commit
    /// while the transaction only holds a read snapshot, and the
    /// transaction's own write would then fail with `SQLITE_BUSY_SNAPSHOT`.
    #[tokio::test]
    async fn a_write_transaction_holds_the_sqlite_write_lock_from_its_start() {
        let (dir, db) = counter("lock", 2).await;
        let mut other = db.pool.acquire().await.unwrap();
        sqlx::query("PRAGMA busy_timeout = 0")
            .execute(&mut *other)
            .await
            .unwrap();
        let bump = "UPDATE counter SET n = n + 10";

        let mut tx = db.begin_write().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT n FROM counter")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let refused = sqlx::query(bump).execute(&mut *other).await.unwrap_err();
        assert!(is_contention(&refused), "{refused}");
        sqlx::query("UPDATE counter SET n = ?")
            .bind(n + 1)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        sqlx::query(bump).execute(&mut *other).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT n FROM counter")
            .fetch_one(&mut *other)
            .await
            .unwrap();
        assert_eq!(n, 11, "both writes applied, neither lost");
        drop(other);
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The counter, read through the pool.
    async fn count(db: &Db) -> i64 {
        sqlx::query_scalar("SELECT n FROM counter")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    }

    /// Adds one to the counter in a transaction of `begin_write` that
    /// lets other tasks run between its read and its write.
    async fn add_one_pooled(db: &Db) {
        let mut tx = db.begin_write().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT n FROM counter")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tokio::task::yield_now().await;
        sqlx::query("UPDATE counter SET n = ?")
            .bind(n + 1)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn sqlite_writers_queue_for_one_connection_and_none_is_lost() {
        let (dir, db) = counter("writers", 8).await;
        let writers = (0..32).map(|_| {
            let db = db.clone();
            tokio::spawn(async move { add_one_pooled(&db).await })
        });
        for writer in writers.collect::<Vec<_>>() {
            writer.await.unwrap();
        }
        let n = count(&db).await;
        assert_eq!(n, 32);
        assert_eq!(db.writer.size(), 1, "every writer used the one connection");
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn inline_reads_see_what_the_writer_committed_and_stop_at_close() {
        let (dir, db) = counter("inline", 2).await;
        assert!(db.inline_reads().is_none(), "opened only when asked for");
        let db = db.with_inline().unwrap();
        let n = |db: &Db| {
            db.inline_reads()
                .expect("an SQLite file has inline reads")
                .read(|conn| {
                    conn.query_row("SELECT n FROM counter", [], |row| row.get::<_, i64>(0))
                        .map_err(crate::inline::error)
                })
        };
        assert_eq!(n(&db).unwrap(), 0);
        sqlx::query("UPDATE counter SET n = 7")
            .execute(db.writer())
            .await
            .unwrap();
        assert_eq!(n(&db).unwrap(), 7);
        db.close().await;
        assert!(n(&db).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Whether `future` is still waiting after its first poll.
    async fn first_poll_waits<F: std::future::Future>(future: F) -> bool {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx).is_pending()))
            .await
    }

    /// The counter as a transaction of `begin_inline_write` reads it.
    async fn counted(tx: &mut WriteTx) -> i64 {
        use crate::exec::Exec;
        let n = |r: &dyn crate::inline::Columns| r.required_int("n");
        let found = tx.fetch_optional("SELECT n FROM counter", &[], n).await;
        found.unwrap().unwrap()
    }

    async fn set_counter(tx: &mut WriteTx, n: i64) {
        use crate::exec::Exec;
        let changed = tx.execute("UPDATE counter SET n = ?", &[n.into()]).await;
        assert_eq!(changed.unwrap(), 1);
    }

    #[tokio::test]
    async fn inline_writes_and_pooled_writes_take_turns_and_none_is_lost() {
        let (dir, db) = counter("inline-writers", 4).await;
        let db = db.with_inline().unwrap();
        let writers = (0..32).map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    let mut tx = db.begin_inline_write().await.unwrap();
                    assert!(matches!(tx, WriteTx::Inline(_)), "{tx:?}");
                    let n = counted(&mut tx).await;
                    tokio::task::yield_now().await;
                    set_counter(&mut tx, n + 1).await;
                    tx.commit().await.unwrap();
                } else {
                    add_one_pooled(&db).await;
                }
            })
        });
        for writer in writers.collect::<Vec<_>>() {
            writer.await.unwrap();
        }
        let n = count(&db).await;
        assert_eq!(n, 32);
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn an_inline_write_dropped_uncommitted_changes_nothing_and_frees_the_writer() {
        let (dir, db) = counter("inline-rollback", 2).await;
        let db = db.with_inline().unwrap();
        let mut tx = db.begin_inline_write().await.unwrap();
        set_counter(&mut tx, 5).await;
        assert!(first_poll_waits(db.write_turn()).await, "the turn is held");
        drop(tx);
        assert!(!first_poll_waits(db.write_turn()).await, "and given back");
        let mut tx = db.begin_inline_write().await.unwrap();
        assert_eq!(counted(&mut tx).await, 0, "rolled back");
        set_counter(&mut tx, 6).await;
        tx.commit().await.unwrap();
        // A write outside a transaction, in its turn as well.
        let turn = db.write_turn().await.unwrap();
        sqlx::query("UPDATE counter SET n = n + 1")
            .execute(db.writer())
            .await
            .unwrap();
        drop(turn);
        let n = count(&db).await;
        assert_eq!(n, 7);
        db.close().await;
        assert!(matches!(
            db.begin_inline_write().await,
            Err(sqlx::Error::PoolClosed)
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_duplicate_key_is_a_unique_violation_on_either_writer() {
        let (dir, db) = counter("inline-unique", 2).await;
        sqlx::query("CREATE TABLE named (name TEXT PRIMARY KEY)")
            .execute(db.writer())
            .await
            .unwrap();
        let db = db.with_inline().unwrap();
        let insert = "INSERT INTO named (name) VALUES (?)";
        let mut tx = db.begin_inline_write().await.unwrap();
        use crate::exec::Exec;
        tx.execute(insert, &["a".into()]).await.unwrap();
        let twice = tx.execute(insert, &["a".into()]).await.unwrap_err();
        assert!(is_unique_violation(&twice), "{twice}");
        let other = tx.execute("INSERT INTO missing VALUES (1)", &[]).await;
        assert!(!is_unique_violation(&other.unwrap_err()));
        tx.commit().await.unwrap();
        let pooled = sqlx::query(insert).bind("a").execute(db.writer()).await;
        assert!(is_unique_violation(&pooled.unwrap_err()));
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn without_an_inline_writer_a_write_is_a_pooled_transaction() {
        let (dir, db) = counter("pooled", 2).await;
        let mut tx = db.begin_inline_write().await.unwrap();
        assert!(matches!(tx, WriteTx::Pooled(_)), "{tx:?}");
        set_counter(&mut tx, 3).await;
        tx.commit().await.unwrap();
        let n = count(&db).await;
        assert_eq!(n, 3);
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_sqlite_file_is_the_one_sqlx_opens_and_none_in_memory() {
        let file = |url: &str| sqlite_file(url).unwrap();
        let path = |p: &str| Some(PathBuf::from(p));
        assert_eq!(file("sqlite://data/x.db?mode=rwc"), path("data/x.db"));
        assert_eq!(file("sqlite:///abs/my%20x.db"), path("/abs/my x.db"));
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(file("sqlite://x.db?mode=memory"), None);
        assert_eq!(file("sqlite://"), None);
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(Backend::of_url("postgres://x").is_err());
        assert_eq!(
            Backend::of_url("mysql://root@h/db").ok(),
            Some(Backend::MySql)
        );
    }
}
