//! The in-app inbox, every statement scoped to the owner.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use todo_common::clock::new_id;
use todo_store::db::{Pool, is_unique_violation};

use crate::domain::{NewNotification, Notification};
use crate::error::{Error, NOTIFICATION};

/// Adds a notification; a repeated `dedup_key` adds nothing.
///
/// # Errors
/// When the database fails.
pub async fn add(pool: &Pool, n: &NewNotification<'_>, now: i64) -> Result<(), Error> {
    insert(pool, n, now).await.map_err(Error::from)
}

/// [`add`] in the caller's transaction, whose retry on contention wants
/// the driver's error.
///
/// # Errors
/// When the database fails.
pub async fn add_in(
    conn: &mut AnyConnection,
    n: &NewNotification<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    insert(conn, n, now).await
}

async fn insert<'e, E>(exec: E, n: &NewNotification<'_>, now: i64) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let NewNotification {
        user_id,
        kind,
        title,
        body,
        task_id,
        dedup_key,
    } = *n;
    let result = sqlx::query(
        "INSERT INTO notifications (id, user_id, kind, title, body, task_id, dedup_key, create_time, read_time) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
    )
    .bind(new_id())
    .bind(user_id.to_owned())
    // Stored as its proto number, which proto never reuses: old rows keep
    // their meaning, and a new kind (INVITATION, DIGEST, SHARING) needs no
    // mapping here or in `from_row`.
    .bind(i64::from(i32::from(kind)))
    .bind(title.to_owned())
    .bind(body.to_owned())
    .bind(task_id.to_owned())
    .bind(dedup_key.to_owned())
    .bind(now)
    .execute(exec)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

const COLUMNS: &str = "id, kind, title, body, task_id, create_time, read_time";

fn from_row(r: &AnyRow) -> Result<Notification, Error> {
    Ok(Notification {
        id: r.try_get("id")?,
        kind: i32::try_from(r.try_get::<i64, _>("kind")?).unwrap_or_default(),
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        task_id: r.try_get("task_id")?,
        create_time: r.try_get("create_time")?,
        read_time: r.try_get("read_time")?,
    })
}

/// Newest first, before `before` (keyset paging on the time-ordered id).
///
/// # Errors
/// When the database fails.
pub async fn list(
    pool: &Pool,
    user_id: &str,
    unread_only: bool,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Notification>, Error> {
    let mut sql = format!("SELECT {COLUMNS} FROM notifications WHERE user_id = ?");
    if unread_only {
        sql.push_str(" AND read_time IS NULL");
    }
    if before.is_some() {
        sql.push_str(" AND id < ?");
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    let mut q = sqlx::query(&sql).bind(user_id);
    if let Some(b) = before {
        q = q.bind(b.to_owned());
    }
    let rows = q.bind(limit).fetch_all(pool).await?;
    rows.iter().map(from_row).collect()
}

/// # Errors
/// When the database fails.
pub async fn unread_count(pool: &Pool, user_id: &str) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read_time IS NULL",
    )
    .bind(user_id)
    .fetch_one(pool)
    .await?)
}

/// Marks one read (keeping the first read time) and returns it.
///
/// # Errors
/// [`Error::NotFound`] when the user has no such notification.
pub async fn mark_read(
    pool: &Pool,
    user_id: &str,
    id: &str,
    now: i64,
) -> Result<Notification, Error> {
    sqlx::query(
        "UPDATE notifications SET read_time = ? WHERE user_id = ? AND id = ? AND read_time IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(id)
    .execute(pool)
    .await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM notifications WHERE user_id = ? AND id = ?"
    ))
    .bind(user_id)
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(Error::NotFound(NOTIFICATION))?;
    from_row(&row)
}

/// # Errors
/// When the database fails.
pub async fn mark_all_read(pool: &Pool, user_id: &str, now: i64) -> Result<(), Error> {
    sqlx::query("UPDATE notifications SET read_time = ? WHERE user_id = ? AND read_time IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use todo_proto::todo::notify::v1::NotificationKind;

    use super::*;

    #[tokio::test]
    async fn every_kind_is_listed_as_it_was_added() {
        let dir = tempfile::tempdir().unwrap();
        let state = crate::testing::state(&dir).await;
        let pool = &state.db.pool;
        let kinds = [
            NotificationKind::Welcome,
            NotificationKind::Reminder,
            NotificationKind::Security,
            NotificationKind::Invitation,
            NotificationKind::Digest,
            NotificationKind::Sharing,
        ];
        for (i, kind) in kinds.into_iter().enumerate() {
            let key = format!("k{i}");
            let n = NewNotification {
                user_id: "u1",
                kind,
                title: "t",
                body: "b",
                task_id: "",
                dedup_key: &key,
            };
            add(pool, &n, 1).await.unwrap();
        }
        let listed: Vec<i32> = list(pool, "u1", false, None, 10)
            .await
            .unwrap()
            .into_iter()
            .rev()
            .map(|n| n.kind)
            .collect();
        let expected: Vec<i32> = kinds.into_iter().map(i32::from).collect();
        assert_eq!(listed, expected);
        // The numbers old rows hold keep their meaning.
        assert_eq!(&expected[..3], [1, 2, 3]);
    }
}
