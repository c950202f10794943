//! A user's notification settings: one row, written on the first change.

use todo_store::db::{Pool, is_unique_violation};

use crate::error::Error;

/// Whether reminders are also e-mailed; on until the user turns them off.
///
/// # Errors
/// When the database fails.
pub async fn email_reminders(pool: &Pool, user_id: &str) -> Result<bool, Error> {
    let v: Option<i64> =
        sqlx::query_scalar("SELECT email_reminders FROM settings WHERE user_id = ?")
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
    Ok(v.is_none_or(|v| v != 0))
}

/// Turns reminder e-mails on or off.
///
/// # Errors
/// When the database fails.
pub async fn set_email_reminders(
    pool: &Pool,
    user_id: &str,
    on: bool,
    now: i64,
) -> Result<(), Error> {
    const UPDATE: &str =
        "UPDATE settings SET email_reminders = ?, update_time = ? WHERE user_id = ?";
    let update = || {
        sqlx::query(UPDATE)
            .bind(i64::from(on))
            .bind(now)
            .bind(user_id)
            .execute(pool)
    };
    if update().await?.rows_affected() > 0 {
        return Ok(());
    }
    let inserted = sqlx::query(
        "INSERT INTO settings (user_id, email_reminders, update_time) VALUES (?, ?, ?)",
    )
    .bind(user_id)
    .bind(i64::from(on))
    .bind(now)
    .execute(pool)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        // A concurrent first write won; apply ours on top.
        Err(e) if is_unique_violation(&e) => update().await.map(drop).map_err(Error::from),
        Err(e) => Err(e.into()),
    }
}
