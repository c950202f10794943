//! A user's notification settings: one row, written on the first change.

use sqlx::{AnyConnection, Row};
use todo_store::db::{Pool, is_unique_violation};

use crate::domain::settings::{format_time, parse_time};
use crate::domain::{DailyDigest, NotificationSettings, SettingsChange};
use crate::error::Error;

/// The user's settings: the defaults until the first change.
///
/// # Errors
/// When the database fails.
pub async fn get<'e, E>(exec: E, user_id: &str) -> Result<NotificationSettings, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query(
        "SELECT email_reminders, digest_enabled, digest_time FROM settings WHERE user_id = ?",
    )
    .bind(user_id.to_owned())
    .fetch_optional(exec)
    .await?;
    let Some(row) = row else {
        return Ok(NotificationSettings::default());
    };
    let time: String = row.try_get("digest_time")?;
    Ok(NotificationSettings {
        email_reminders: row.try_get::<i64, _>("email_reminders")? != 0,
        digest: DailyDigest {
            enabled: row.try_get::<i64, _>("digest_enabled")? != 0,
            time: parse_time(&time).unwrap_or(DailyDigest::default().time),
        },
    })
}

/// Whether reminders are also e-mailed; on until the user turns them off.
///
/// # Errors
/// When the database fails.
pub async fn email_reminders(pool: &Pool, user_id: &str) -> Result<bool, Error> {
    Ok(get(pool, user_id).await?.email_reminders)
}

/// Writes what `change` sets, and only that, so concurrent changes of
/// different settings keep each other; returns the settings after it.
/// Runs in the caller's transaction.
///
/// # Errors
/// When the database fails.
pub async fn update(
    conn: &mut AnyConnection,
    user_id: &str,
    change: &SettingsChange,
    now: i64,
) -> Result<NotificationSettings, sqlx::Error> {
    let mut sets: Vec<(&str, Value)> = Vec::new();
    if let Some(on) = change.email_reminders {
        sets.push(("email_reminders", Value::Int(i64::from(on))));
    }
    if let Some(digest) = change.digest {
        sets.push(("digest_enabled", Value::Int(i64::from(digest.enabled))));
        if let Some(time) = digest.time {
            sets.push(("digest_time", Value::Text(format_time(time))));
        }
    }
    if sets.is_empty() {
        return get(&mut *conn, user_id).await;
    }
    let assignments: Vec<String> = sets.iter().map(|(c, _)| format!("{c} = ?")).collect();
    let sql = format!(
        "UPDATE settings SET {}, update_time = ? WHERE user_id = ?",
        assignments.join(", ")
    );
    let update = async |conn: &mut AnyConnection| {
        let mut q = sqlx::query(&sql);
        for (_, v) in &sets {
            q = v.bind_to(q);
        }
        q.bind(now).bind(user_id).execute(conn).await
    };
    if update(&mut *conn).await?.rows_affected() == 0 {
        let d = NotificationSettings::default();
        let inserted = sqlx::query(
            "INSERT INTO settings (user_id, email_reminders, digest_enabled, digest_time, update_time) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(user_id)
        .bind(i64::from(d.email_reminders))
        .bind(i64::from(d.digest.enabled))
        .bind(format_time(d.digest.time))
        .bind(now)
        .execute(&mut *conn)
        .await;
        match inserted {
            Ok(_) => {}
            // A concurrent first write won; ours goes on top.
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e),
        }
        update(&mut *conn).await?;
    }
    get(&mut *conn, user_id).await
}

/// A value of a setting's column.
enum Value {
    Int(i64),
    Text(String),
}

impl Value {
    fn bind_to<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        match self {
            Self::Int(v) => q.bind(*v),
            Self::Text(v) => q.bind(v.clone()),
        }
    }
}
