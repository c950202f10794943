//! The SQL of link previews: the links of each task (`task_links`), the
//! shared fetch results (`link_previews`) and the fetches each user caused
//! (`link_fetches`).

use sqlx::{AnyConnection, Row};

use todo_store::db::Pool;
use todo_store::exec::Exec;
use todo_store::inline::{self, Columns, Value};

use todo_proto::todo::task::v1::{Link, LinkState};

use crate::error::Error;
use crate::ids::{Id, TaskId, UserId};
use crate::preview::Preview;

/// A link as a task records it: the URL as found, and the key of its
/// shared preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub url: String,
    /// SHA-256 (hex) of the normalised URL ([`crate::preview::links::cache_key`]).
    pub key: String,
}

/// A preview waiting for its fetch.
#[derive(Debug, Clone)]
pub struct Pending {
    pub key: String,
    pub url: String,
    /// The user whose link asked for it (empty once they are erased).
    pub user: String,
}

/// The outcome of a fetch, as stored.
#[derive(Debug, Clone)]
pub enum Fetched {
    Ready(Box<Preview>),
    /// The failure's code: kept, never shown.
    Failed(&'static str),
}

/// The links of `task_id` as stored, in order.
pub async fn of_task(conn: &mut impl Exec, task_id: &TaskId) -> Result<Vec<Recorded>, Error> {
    let params = [task_id.as_str().into()];
    conn.fetch_all(
        "SELECT url, url_key FROM task_links WHERE task_id = ? ORDER BY ordinal",
        &params,
        |r| {
            Ok(Recorded {
                url: r.required_text("url")?,
                key: r.required_text("url_key")?,
            })
        },
    )
    .await
}

/// Replaces the links of `task_id` with `links`, written by `user`.
pub async fn replace(
    conn: &mut impl Exec,
    task_id: &TaskId,
    user: &UserId,
    links: &[Recorded],
) -> Result<(), Error> {
    delete_of(conn, std::slice::from_ref(task_id)).await?;
    for (ordinal, link) in links.iter().enumerate() {
        let params = [
            task_id.as_str().into(),
            i64::try_from(ordinal).unwrap_or(i64::MAX).into(),
            link.url.as_str().into(),
            link.key.as_str().into(),
            user.as_str().into(),
        ];
        conn.execute(
            "INSERT INTO task_links (task_id, ordinal, url, url_key, user_id) VALUES (?, ?, ?, ?, ?)",
            &params,
        )
        .await?;
    }
    Ok(())
}

/// Makes sure `link` has a preview that is fresh or on its way: a new
/// one is PENDING; one fetched before `stale_before` is PENDING again;
/// any other is kept (the shared cache). Returns whether a fetch is due.
pub async fn request(
    conn: &mut impl Exec,
    link: &Recorded,
    user: &UserId,
    now: i64,
    stale_before: i64,
) -> Result<bool, Error> {
    let pending = LinkState::Pending as i64;
    let params = [
        link.key.as_str().into(),
        link.url.as_str().into(),
        pending.into(),
        user.as_str().into(),
        now.into(),
    ];
    let inserted = conn
        .execute(
            "INSERT INTO link_previews (url_key, url, state, requested_by, requested_at, lease_until) \
             VALUES (?, ?, ?, ?, ?, 0)",
            &params,
        )
        .await;
    match inserted {
        Ok(_) => return Ok(true),
        Err(e) if todo_store::db::is_unique_violation(&e) => {}
        Err(e) => return Err(e.into()),
    }
    let params = [
        pending.into(),
        link.url.as_str().into(),
        user.as_str().into(),
        now.into(),
        link.key.as_str().into(),
        pending.into(),
        stale_before.into(),
    ];
    let renewed = conn
        .execute(
            "UPDATE link_previews SET state = ?, url = ?, requested_by = ?, requested_at = ?, lease_until = 0 \
             WHERE url_key = ? AND state <> ? AND fetched_at < ?",
            &params,
        )
        .await?;
    Ok(renewed == 1)
}

/// The links of `task_ids` that `caller` can see, with their previews,
/// in order: one query for a whole page. A task of a list the caller is
/// not a member of has none here, as it has no row elsewhere.
pub async fn for_tasks(
    conn: &mut AnyConnection,
    caller: &UserId,
    task_ids: &[&TaskId],
) -> Result<Vec<(TaskId, Link)>, Error> {
    if task_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = for_tasks_sql(task_ids.len());
    let mut query = sqlx::query(&sql).bind(caller);
    for id in task_ids {
        query = query.bind(*id);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter().map(link_of).collect()
}

/// [`for_tasks`] on an SQLite connection of [`todo_store::inline`].
pub fn for_tasks_inline(
    conn: &rusqlite::Connection,
    caller: &UserId,
    task_ids: &[&TaskId],
) -> Result<Vec<(TaskId, Link)>, Error> {
    if task_ids.is_empty() {
        return Ok(Vec::new());
    }
    let binds = std::iter::once(caller.as_str()).chain(task_ids.iter().map(|id| id.as_str()));
    let params = rusqlite::params_from_iter(binds);
    inline::fetch_all(conn, &for_tasks_sql(task_ids.len()), params, |r| link_of(r))
}

/// The statement of [`for_tasks`] for `n` tasks: binds the caller, then
/// the tasks' ids.
fn for_tasks_sql(n: usize) -> String {
    let marks = vec!["?"; n].join(", ");
    format!(
        "SELECT p.state, l.task_id, l.url, p.title, p.description, p.site_name, p.image_url \
         FROM task_links l \
         JOIN tasks t ON t.id = l.task_id \
         JOIN list_members m ON m.list_id = t.list_id AND m.user_id = ? \
         LEFT JOIN link_previews p ON p.url_key = l.url_key \
         WHERE l.task_id IN ({marks}) ORDER BY l.task_id, l.ordinal"
    )
}

/// A link and its task's id from a row of [`for_tasks_sql`], read by
/// either driver in the order of the statement's columns.
fn link_of(r: &impl Columns) -> Result<(TaskId, Link), Error> {
    let text =
        |column: &str| -> Result<String, sqlx::Error> { Ok(r.text(column)?.unwrap_or_default()) };
    // A link whose preview row is missing waits for it.
    let state = r
        .int("state")?
        .and_then(|s| i32::try_from(s).ok())
        .and_then(|s| LinkState::try_from(s).ok())
        .unwrap_or(LinkState::Pending);
    Ok((
        TaskId::trusted(r.required_text("task_id")?),
        Link {
            url: r.required_text("url")?,
            state: state.into(),
            title: text("title")?,
            description: text("description")?,
            site_name: text("site_name")?,
            image_url: text("image_url")?,
        },
    ))
}

/// Deletes the links of `task_ids`.
pub async fn delete_of(conn: &mut impl Exec, task_ids: &[TaskId]) -> Result<(), Error> {
    if task_ids.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; task_ids.len()].join(", ");
    let sql = format!("DELETE FROM task_links WHERE task_id IN ({marks})");
    let params: Vec<Value> = task_ids.iter().map(|id| id.as_str().into()).collect();
    conn.execute(&sql, &params).await?;
    Ok(())
}

/// Forgets what ties `user` to links: the links they wrote (the tasks
/// that stay keep their text, and get links again on their next change),
/// the fetches they caused and the previews they asked for (which stay,
/// as the public pages' say, unattributed).
pub async fn erase_user(conn: &mut AnyConnection, user: &UserId) -> Result<(), Error> {
    for sql in [
        "DELETE FROM task_links WHERE user_id = ?",
        "DELETE FROM link_fetches WHERE user_id = ?",
        "UPDATE link_previews SET requested_by = '' WHERE requested_by = ?",
    ] {
        sqlx::query(sql).bind(user).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Up to `limit` previews waiting for a fetch, oldest request first,
/// whose lease (if any) is over, and whose user has made fewer than
/// `per_user` fetches since `since`: one user's backlog beyond their
/// limit does not hold back everyone else's links.
pub async fn pending(
    pool: &Pool,
    now: i64,
    since: i64,
    per_user: i64,
    limit: i64,
) -> Result<Vec<Pending>, Error> {
    let rows = sqlx::query(
        "SELECT p.url_key, p.url, p.requested_by FROM link_previews p \
         WHERE p.state = ? AND p.lease_until <= ? \
         AND (SELECT COUNT(*) FROM link_fetches f WHERE f.user_id = p.requested_by AND f.fetched_at > ?) < ? \
         ORDER BY p.requested_at, p.url_key LIMIT ?",
    )
    .bind(LinkState::Pending as i64)
    .bind(now)
    .bind(since)
    .bind(per_user)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Pending {
                key: r.try_get("url_key")?,
                url: r.try_get("url")?,
                user: r.try_get("requested_by")?,
            })
        })
        .collect()
}

/// Counts a fetch against `user`'s limit and takes the lease of `key`,
/// unless the user has made `limit` fetches since `since` or another
/// replica holds the lease. Returns whether the caller may fetch.
pub async fn claim(
    conn: &mut AnyConnection,
    pending: &Pending,
    now: i64,
    since: i64,
    limit: i64,
    lease_until: i64,
) -> Result<bool, Error> {
    if fetches_since(conn, &pending.user, since).await? >= limit {
        return Ok(false);
    }
    let leased = sqlx::query(
        "UPDATE link_previews SET lease_until = ? WHERE url_key = ? AND state = ? AND lease_until <= ?",
    )
    .bind(lease_until)
    .bind(&pending.key)
    .bind(LinkState::Pending as i64)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if leased.rows_affected() != 1 {
        return Ok(false);
    }
    count_fetch(conn, &pending.user, now).await?;
    Ok(true)
}

/// Records a fetch `user` caused at `now`.
pub async fn count_fetch(conn: &mut AnyConnection, user: &str, now: i64) -> Result<(), Error> {
    sqlx::query("INSERT INTO link_fetches (user_id, fetched_at) VALUES (?, ?)")
        .bind(user)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes back a fetch counted by [`count_fetch`] that the limit refused.
pub async fn uncount_fetch(conn: &mut AnyConnection, user: &str, at: i64) -> Result<(), Error> {
    sqlx::query("DELETE FROM link_fetches WHERE user_id = ? AND fetched_at = ?")
        .bind(user)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The fetches `user` caused after `since`.
pub async fn fetches_since(conn: &mut AnyConnection, user: &str, since: i64) -> Result<i64, Error> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM link_fetches WHERE user_id = ? AND fetched_at > ?")
            .bind(user)
            .bind(since)
            .fetch_one(conn)
            .await?;
    Ok(n)
}

/// Stores the result of a fetch of `key`, READY or FAILED.
pub async fn finish(pool: &Pool, key: &str, fetched: &Fetched, now: i64) -> Result<(), Error> {
    let (state, preview, reason) = match fetched {
        Fetched::Ready(preview) => (LinkState::Ready, Some(preview.as_ref()), None),
        Fetched::Failed(code) => (LinkState::Failed, None, Some(*code)),
    };
    sqlx::query(
        "UPDATE link_previews SET state = ?, title = ?, description = ?, site_name = ?, image_url = ?, \
         reason = ?, fetched_at = ?, lease_until = 0 WHERE url_key = ? AND state = ?",
    )
    .bind(state as i64)
    .bind(preview.and_then(|p| p.title.clone()))
    .bind(preview.and_then(|p| p.description.clone()))
    .bind(preview.and_then(|p| p.site_name.clone()))
    .bind(preview.and_then(|p| p.image_url.as_ref().map(ToString::to_string)))
    .bind(reason)
    .bind(now)
    .bind(key)
    .bind(LinkState::Pending as i64)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets the previews fetched before `before` that no task links to any
/// more (the task changed or went, or its writer's account did): a page's
/// address can carry a secret, and is kept no longer than the cache needs
/// it.
pub async fn prune_unlinked(pool: &Pool, before: i64) -> Result<(), Error> {
    sqlx::query(
        "DELETE FROM link_previews WHERE fetched_at < ? AND state <> ? \
         AND NOT EXISTS (SELECT 1 FROM task_links l WHERE l.url_key = link_previews.url_key)",
    )
    .bind(before)
    .bind(LinkState::Pending as i64)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets fetches counted before `before`: only the last minute matters.
pub async fn prune_fetches(pool: &Pool, before: i64) -> Result<(), Error> {
    sqlx::query("DELETE FROM link_fetches WHERE fetched_at < ?")
        .bind(before)
        .execute(pool)
        .await?;
    Ok(())
}
