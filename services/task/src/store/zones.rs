//! The time zone of each task creator, as the user service announced it
//! (or as it was looked up once). The highest revision wins, so a late or
//! repeated announcement cannot bring back an older zone.

use sqlx::AnyConnection;
use todo_store::exec::Exec;

use crate::error::Error;
use crate::ids::UserId;

/// The zone recorded for `user_id`, if any.
pub async fn get(conn: &mut impl Exec, user_id: &UserId) -> Result<Option<String>, Error> {
    let params = [user_id.as_str().into()];
    conn.fetch_optional(
        "SELECT time_zone FROM user_zones WHERE user_id = ?",
        &params,
        |r| Ok(r.required_text("time_zone")?),
    )
    .await
}

/// Records `zone` for `user_id` unless a change at `revision` or later was
/// recorded already; whether it was recorded.
pub async fn set(
    conn: &mut AnyConnection,
    user_id: &UserId,
    zone: &str,
    revision: i64,
) -> Result<bool, Error> {
    let updated = sqlx::query(
        "UPDATE user_zones SET time_zone = ?, revision = ? WHERE user_id = ? AND revision < ?",
    )
    .bind(zone)
    .bind(revision)
    .bind(user_id)
    .bind(revision)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 1 {
        return Ok(true);
    }
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT revision FROM user_zones WHERE user_id = ?")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
    if exists.is_some() {
        return Ok(false);
    }
    // A concurrent first record makes this a unique key hit, which starts
    // the caller's transaction over (`Error::Contended`).
    sqlx::query("INSERT INTO user_zones (user_id, time_zone, revision) VALUES (?, ?, ?)")
        .bind(user_id)
        .bind(zone)
        .bind(revision)
        .execute(conn)
        .await?;
    Ok(true)
}

/// Forgets an erased user's zone.
pub async fn delete(conn: &mut AnyConnection, user_id: &UserId) -> Result<(), Error> {
    sqlx::query("DELETE FROM user_zones WHERE user_id = ?")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}
