//! Each user's time zone: the one with the highest revision.

use sqlx::AnyConnection;
use todo_store::db::is_unique_violation;

use todo_common::time_zone::{self as zone, Tz};

/// The user's recorded zone, if any.
///
/// # Errors
/// When the database fails.
pub async fn get<'e, E>(exec: E, user_id: &str) -> Result<Option<Tz>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let name: Option<String> =
        sqlx::query_scalar("SELECT time_zone FROM time_zones WHERE user_id = ?")
            .bind(user_id.to_owned())
            .fetch_optional(exec)
            .await?;
    // A name a later tz database dropped reads as none: looked up again.
    Ok(name.as_deref().and_then(zone::parse))
}

/// Records `zone` as the user's unless a zone of the same or a higher
/// revision is recorded; `true` when it was. Runs in the caller's
/// transaction, and the row stays locked until it ends.
///
/// # Errors
/// When the database fails.
pub async fn record(
    conn: &mut AnyConnection,
    user_id: &str,
    zone: Tz,
    revision: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let update = async |conn: &mut AnyConnection| {
        sqlx::query(
            "UPDATE time_zones SET time_zone = ?, revision = ?, update_time = ? \
             WHERE user_id = ? AND revision < ?",
        )
        .bind(zone.name())
        .bind(revision)
        .bind(now)
        .bind(user_id)
        .bind(revision)
        .execute(conn)
        .await
    };
    if update(&mut *conn).await?.rows_affected() == 1 {
        return Ok(true);
    }
    let inserted = sqlx::query(
        "INSERT INTO time_zones (user_id, time_zone, revision, update_time) VALUES (?, ?, ?, ?)",
    )
    .bind(user_id)
    .bind(zone.name())
    .bind(revision)
    .bind(now)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        // Recorded already: at this revision or a higher one, or by a
        // concurrent first record that this one may follow.
        Err(e) if is_unique_violation(&e) => Ok(update(&mut *conn).await?.rows_affected() == 1),
        Err(e) => Err(e),
    }
}
