//! Statements that run on whichever connection a write has: one body of
//! code for sqlx's `Any` driver and for the SQLite inline writer.
//!
//! A function that takes `conn: &mut impl Exec` builds its SQL and lists
//! its values ([`Value`]) once; on a pooled connection or transaction the
//! statement goes through sqlx as before, on an [`InlineWrite`] it runs at
//! once on the calling thread. Rows come back as [`Columns`], read by name
//! the same way from either.

use std::future::Future;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};

use crate::inline::{self, AnyQuery, Columns, InlineRow, Value, bind_all, error};
use crate::turn::InlineWrite;

/// A connection statements can run on.
pub trait Exec: Send {
    /// Runs `sql` with `params` bound; how many rows it changed.
    fn execute(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;

    /// Every row of `sql`, each made into a value by `map`.
    fn fetch_all<T: Send, E: From<sqlx::Error> + Send>(
        &mut self,
        sql: &str,
        params: &[Value],
        map: impl FnMut(&dyn Columns) -> Result<T, E> + Send,
    ) -> impl Future<Output = Result<Vec<T>, E>> + Send;

    /// The first row of `sql`, if any, made into a value by `map`.
    fn fetch_optional<T: Send, E: From<sqlx::Error> + Send>(
        &mut self,
        sql: &str,
        params: &[Value],
        map: impl FnOnce(&dyn Columns) -> Result<T, E> + Send,
    ) -> impl Future<Output = Result<Option<T>, E>> + Send;
}

fn query<'q>(sql: &'q str, params: &'q [Value]) -> AnyQuery<'q> {
    bind_all(params, sqlx::query(sql))
}

impl Exec for AnyConnection {
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, sqlx::Error> {
        Ok(query(sql, params).execute(self).await?.rows_affected())
    }

    async fn fetch_all<T: Send, E: From<sqlx::Error> + Send>(
        &mut self,
        sql: &str,
        params: &[Value],
        mut map: impl FnMut(&dyn Columns) -> Result<T, E> + Send,
    ) -> Result<Vec<T>, E> {
        let rows = query(sql, params).fetch_all(self).await?;
        rows.iter().map(|r| map(r)).collect()
    }

    async fn fetch_optional<T: Send, E: From<sqlx::Error> + Send>(
        &mut self,
        sql: &str,
        params: &[Value],
        map: impl FnOnce(&dyn Columns) -> Result<T, E> + Send,
    ) -> Result<Option<T>, E> {
        let row = query(sql, params).fetch_optional(self).await?;
        row.as_ref().map(|r| map(r)).transpose()
    }
}

/// `Exec` for a type that derefs to the connection it runs on.
macro_rules! exec_through_deref {
    ($ty:ty) => {
        impl Exec for $ty {
            fn execute(
                &mut self,
                sql: &str,
                params: &[Value],
            ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send {
                (**self).execute(sql, params)
            }

            fn fetch_all<T: Send, E: From<sqlx::Error> + Send>(
                &mut self,
                sql: &str,
                params: &[Value],
                map: impl FnMut(&dyn Columns) -> Result<T, E> + Send,
            ) -> impl Future<Output = Result<Vec<T>, E>> + Send {
                (**self).fetch_all(sql, params, map)
            }

            fn fetch_optional<T: Send, E: From<sqlx::Error> + Send>(
                &mut self,
                sql: &str,
                params: &[Value],
                map: impl FnOnce(&dyn Columns) -> Result<T, E> + Send,
            ) -> impl Future<Output = Result<Option<T>, E>> + Send {
                (**self).fetch_optional(sql, params, map)
            }
        }
    };
}

// A transaction of `Db::begin_write`, and a connection of a pool.
exec_through_deref!(crate::db::Transaction);
exec_through_deref!(PoolConnection<Any>);

/// Each statement runs to its end before the call returns: the futures
/// are ready at their first poll, so a transaction's statements follow
/// each other on the one thread.
impl Exec for InlineWrite {
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, sqlx::Error> {
        let mut statement = self.conn()?.prepare_cached(sql).map_err(error)?;
        let changed = statement
            .execute(rusqlite::params_from_iter(params))
            .map_err(error)?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }

    async fn fetch_all<T: Send, E: From<sqlx::Error> + Send>(
        &mut self,
        sql: &str,
        params: &[Value],
        mut map: impl FnMut(&dyn Columns) -> Result<T, E> + Send,
    ) -> Result<Vec<T>, E> {
        let params = rusqlite::params_from_iter(params);
        inline::fetch_all(self.conn()?, sql, params, |r: &InlineRow<'_, '_>| map(r))
    }

    async fn fetch_optional<T: Send, E: From<sqlx::Error> + Send>(
        &mut self,
        sql: &str,
        params: &[Value],
        map: impl FnOnce(&dyn Columns) -> Result<T, E> + Send,
    ) -> Result<Option<T>, E> {
        let params = rusqlite::params_from_iter(params);
        inline::fetch_optional(self.conn()?, sql, params, |r: &InlineRow<'_, '_>| map(r))
    }
}

/// A write transaction of [`crate::db::Db::begin_inline_write`]: on the
/// inline writer where there is one, else a transaction of the pool.
#[derive(Debug)]
pub enum WriteTx {
    Pooled(crate::db::Transaction),
    Inline(InlineWrite),
}

impl WriteTx {
    /// Commits: an inline write returns once its group is committed
    /// ([`crate::turn`]).
    ///
    /// # Errors
    /// The driver's, when the commit fails; the transaction is then rolled
    /// back.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Pooled(tx) => tx.commit().await,
            Self::Inline(tx) => tx.commit().await,
        }
    }
}

impl Exec for WriteTx {
    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, sqlx::Error> {
        match self {
            Self::Pooled(tx) => tx.execute(sql, params).await,
            Self::Inline(tx) => tx.execute(sql, params).await,
        }
    }

    async fn fetch_all<T: Send, E: From<sqlx::Error> + Send>(
        &mut self,
        sql: &str,
        params: &[Value],
        map: impl FnMut(&dyn Columns) -> Result<T, E> + Send,
    ) -> Result<Vec<T>, E> {
        match self {
            Self::Pooled(tx) => tx.fetch_all(sql, params, map).await,
            Self::Inline(tx) => tx.fetch_all(sql, params, map).await,
        }
    }

    async fn fetch_optional<T: Send, E: From<sqlx::Error> + Send>(
        &mut self,
        sql: &str,
        params: &[Value],
        map: impl FnOnce(&dyn Columns) -> Result<T, E> + Send,
    ) -> Result<Option<T>, E> {
        match self {
            Self::Pooled(tx) => tx.fetch_optional(sql, params, map).await,
            Self::Inline(tx) => tx.fetch_optional(sql, params, map).await,
        }
    }
}
