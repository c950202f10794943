//! SQL for accounts and tokens. Every statement is portable between SQLite
//! and MySQL/MariaDB.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use todo_common::clock::to_timestamp;
use todo_proto::todo::user::v1::{User, UserContact};
use todo_store::db::{Pool, is_unique_violation};

use crate::error::Error;

/// An account as stored.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub email_verified: bool,
    pub time_zone: String,
    pub create_time: i64,
    pub update_time: i64,
    /// Access tokens issued (`iat`, Unix seconds) before this are refused:
    /// the time of the last password change or reset.
    pub token_cutoff: Option<i64>,
}

impl UserRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: r.try_get("id")?,
            email: r.try_get("email")?,
            display_name: r.try_get("display_name")?,
            password_hash: r.try_get("password_hash")?,
            email_verified: r.try_get::<i64, _>("email_verified")? != 0,
            time_zone: r.try_get("time_zone")?,
            create_time: r.try_get("create_time")?,
            update_time: r.try_get("update_time")?,
            token_cutoff: r.try_get("token_cutoff")?,
        })
    }

    /// The public view: never the hash.
    pub fn to_proto(&self) -> User {
        User {
            id: self.id.clone(),
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            email_verified: self.email_verified,
            time_zone: self.time_zone.clone(),
            create_time: Some(to_timestamp(self.create_time)),
            update_time: Some(to_timestamp(self.update_time)),
        }
    }

    pub fn to_contact(&self) -> UserContact {
        UserContact {
            user_id: self.id.clone(),
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            email_verified: self.email_verified,
            time_zone: self.time_zone.clone(),
        }
    }
}

const USER_COLUMNS: &str = "id, email, display_name, password_hash, email_verified, time_zone, create_time, update_time, token_cutoff";

/// Inserts a new account.
///
/// # Errors
/// [`Error::EmailTaken`] when the address has an account.
pub async fn insert_user(
    conn: &mut AnyConnection,
    u: &UserRow,
    email_key: &str,
) -> Result<(), Error> {
    let result = sqlx::query(
        "INSERT INTO users (id, email, email_key, display_name, password_hash, email_verified, time_zone, create_time, update_time) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&u.id)
    .bind(&u.email)
    .bind(email_key)
    .bind(&u.display_name)
    .bind(&u.password_hash)
    .bind(i64::from(u.email_verified))
    .bind(&u.time_zone)
    .bind(u.create_time)
    .bind(u.update_time)
    .execute(conn)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(Error::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

pub async fn user_by_email_key<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    email_key: &str,
) -> Result<Option<UserRow>, Error> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email_key = ?"
    ))
    .bind(email_key)
    .fetch_optional(db)
    .await?;
    Ok(row.as_ref().map(UserRow::from_row).transpose()?)
}

pub async fn user_by_id<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    id: &str,
) -> Result<Option<UserRow>, Error> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(row.as_ref().map(UserRow::from_row).transpose()?)
}

/// The accounts with these ids, in one query; ids without an account are
/// left out, in no particular order. Each id is a bound parameter, so the
/// caller bounds how many there are.
pub async fn users_by_ids(pool: &Pool, ids: &[&str]) -> Result<Vec<UserRow>, Error> {
    // `IN ()` is not SQL.
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; ids.len()].join(", ");
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id IN ({marks})");
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    let rows = query.fetch_all(pool).await?;
    Ok(rows
        .iter()
        .map(UserRow::from_row)
        .collect::<Result<_, _>>()?)
}

/// Changes the display name and time zone where given, in the caller's
/// transaction; the time zone it had before, or `None` when there is no
/// such account.
pub async fn update_profile(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    display_name: Option<&str>,
    time_zone: Option<&str>,
    now: i64,
) -> Result<Option<String>, Error> {
    let before: Option<String> = sqlx::query_scalar("SELECT time_zone FROM users WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    if before.is_none() {
        return Ok(None);
    }
    sqlx::query(
        "UPDATE users SET display_name = COALESCE(?, display_name), time_zone = COALESCE(?, time_zone), update_time = ? WHERE id = ?",
    )
    .bind(display_name)
    .bind(time_zone)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(before)
}

/// What an e-mailed token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Proves the account's current address.
    VerifyEmail,
    /// Proves a new address, stored with the token, and makes it the
    /// account's. A purpose of its own, not `VerifyEmail` with an address:
    /// a release that predates address changes must not take such a token
    /// for a plain verification of the old address.
    ChangeEmail,
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify",
            Self::ChangeEmail => "email_change",
            Self::ResetPassword => "reset",
        }
    }
}

/// Stores an e-mailed token; `new_email` is the address a
/// [`Purpose::ChangeEmail`] token proves, `None` for the others.
pub async fn insert_email_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    user_id: &str,
    purpose: Purpose,
    new_email: Option<&str>,
    expire_time: i64,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, new_email, expire_time, used_time, create_time) VALUES (?, ?, ?, ?, ?, NULL, ?)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(new_email)
    .bind(expire_time)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A spent e-mail token: whose it was, and the address it proves if it was
/// sent for an address change.
#[derive(Debug)]
pub struct SpentToken {
    pub user_id: String,
    pub new_email: Option<String>,
}

/// Spends an unexpired, unused e-mail token and returns its user. The
/// conditional update makes it single use even under concurrent attempts.
pub async fn spend_email_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<SpentToken>, Error> {
    let spent = sqlx::query(
        "UPDATE email_tokens SET used_time = ? WHERE token_hash = ? AND purpose = ? AND used_time IS NULL AND expire_time > ?",
    )
    .bind(now)
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if spent.rows_affected() != 1 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT user_id, new_email FROM email_tokens WHERE token_hash = ?")
        .bind(token_hash)
        .fetch_optional(conn)
        .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(SpentToken {
        user_id: r.try_get("user_id")?,
        new_email: r.try_get("new_email")?,
    }))
}

/// Makes `email` the account's verified address.
///
/// # Errors
/// [`Error::EmailTaken`] when another account has the address by now.
pub async fn change_email(
    conn: &mut AnyConnection,
    user_id: &str,
    email: &str,
    email_key: &str,
    now: i64,
) -> Result<bool, Error> {
    let result = sqlx::query(
        "UPDATE users SET email = ?, email_key = ?, email_verified = 1, update_time = ? WHERE id = ?",
    )
    .bind(email)
    .bind(email_key)
    .bind(now)
    .bind(user_id)
    .execute(conn)
    .await;
    match result {
        Ok(done) => Ok(done.rows_affected() == 1),
        Err(e) if is_unique_violation(&e) => Err(Error::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

pub async fn mark_verified(conn: &mut AnyConnection, user_id: &str, now: i64) -> Result<(), Error> {
    sqlx::query("UPDATE users SET email_verified = 1, update_time = ? WHERE id = ?")
        .bind(now)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A refresh token to store, with the id of the access token issued beside
/// it.
#[derive(Debug)]
pub struct NewRefreshToken<'a> {
    pub token_hash: &'a str,
    pub user_id: &'a str,
    pub family_id: &'a str,
    pub access_jti: &'a str,
    pub expire_time: i64,
}

pub async fn insert_refresh_token(
    conn: &mut AnyConnection,
    t: &NewRefreshToken<'_>,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, user_id, family_id, access_jti, expire_time, spent_time, revoke_time, create_time) \
         VALUES (?, ?, ?, ?, ?, NULL, NULL, ?)",
    )
    .bind(t.token_hash)
    .bind(t.user_id)
    .bind(t.family_id)
    .bind(t.access_jti)
    .bind(t.expire_time)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A refresh token as stored.
#[derive(Debug)]
pub struct RefreshRow {
    pub user_id: String,
    pub family_id: String,
    pub expire_time: i64,
    pub spent: bool,
    pub revoked: bool,
}

pub async fn refresh_token(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<RefreshRow>, Error> {
    let row = sqlx::query(
        "SELECT user_id, family_id, expire_time, spent_time, revoke_time FROM refresh_tokens WHERE token_hash = ?",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(RefreshRow {
        user_id: r.try_get("user_id")?,
        family_id: r.try_get("family_id")?,
        expire_time: r.try_get("expire_time")?,
        spent: r.try_get::<Option<i64>, _>("spent_time")?.is_some(),
        revoked: r.try_get::<Option<i64>, _>("revoke_time")?.is_some(),
    }))
}

/// Marks a live token spent; `false` when someone else spent it first.
pub async fn spend_refresh_token(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE refresh_tokens SET spent_time = ? WHERE token_hash = ? AND spent_time IS NULL AND revoke_time IS NULL",
    )
    .bind(now)
    .bind(token_hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every token of a login (reuse detected, or logout).
pub async fn revoke_family(
    conn: &mut AnyConnection,
    family_id: &str,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoke_time = ? WHERE family_id = ? AND revoke_time IS NULL",
    )
    .bind(now)
    .bind(family_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The user of an unexpired, unused e-mail token, without spending it: a
/// reset that fails validation leaves the token usable for a second try.
pub async fn live_email_token_user(
    pool: &Pool,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<String>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT user_id FROM email_tokens WHERE token_hash = ? AND purpose = ? AND used_time IS NULL AND expire_time > ?",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(pool)
    .await?)
}

/// Spends every open token of `purpose` of a user, so that after a
/// password change no older reset link works.
pub async fn spend_user_email_tokens(
    conn: &mut AnyConnection,
    user_id: &str,
    purpose: Purpose,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE email_tokens SET used_time = ? WHERE user_id = ? AND purpose = ? AND used_time IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(purpose.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// How many tokens of `purpose` a user was sent since `since`.
pub async fn email_tokens_since(
    conn: &mut AnyConnection,
    user_id: &str,
    purpose: Purpose,
    since: i64,
) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM email_tokens WHERE user_id = ? AND purpose = ? AND create_time > ?",
    )
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(since)
    .fetch_one(conn)
    .await?)
}

/// Sets a new password hash and refuses, from now on, the access tokens
/// issued before `token_cutoff` (Unix seconds).
pub async fn set_password(
    conn: &mut AnyConnection,
    user_id: &str,
    password_hash: &str,
    token_cutoff: i64,
    now: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE users SET password_hash = ?, token_cutoff = ?, update_time = ? WHERE id = ?",
    )
    .bind(password_hash)
    .bind(token_cutoff)
    .bind(now)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the account's password hash `former` with `rehashed`, a hash
/// of the same password with the current setting. Nothing else changes:
/// not the tokens issued, nor the account's update time. A password
/// changed in the meantime (the hash is no longer `former`) is left alone.
pub async fn upgrade_password_hash(
    conn: &mut AnyConnection,
    user_id: &str,
    former: &str,
    rehashed: &str,
) -> Result<(), Error> {
    sqlx::query("UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?")
        .bind(rehashed)
        .bind(user_id)
        .bind(former)
        .execute(conn)
        .await?;
    Ok(())
}

/// The login (refresh token family) that an access token was issued to.
pub async fn family_of_access_token(
    conn: &mut AnyConnection,
    jti: &str,
) -> Result<Option<String>, Error> {
    Ok(
        sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE access_jti = ?")
            .bind(jti)
            .fetch_optional(conn)
            .await?,
    )
}

/// Revokes every refresh token of a user, except those of `keep` (the
/// caller's own login) when given.
pub async fn revoke_user_tokens(
    conn: &mut AnyConnection,
    user_id: &str,
    keep: Option<&str>,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoke_time = ? WHERE user_id = ? AND revoke_time IS NULL AND family_id <> ?",
    )
    .bind(now)
    .bind(user_id)
    // No family has an empty id, so without `keep` nothing is spared.
    .bind(keep.unwrap_or(""))
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes an account with its tokens; `false` when it was already gone.
pub async fn delete_user(conn: &mut AnyConnection, user_id: &str) -> Result<bool, Error> {
    for table in ["refresh_tokens", "email_tokens"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE user_id = ?"))
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    }
    let done = sqlx::query("DELETE FROM users WHERE id = ?")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn user_exists(pool: &Pool, id: &str) -> Result<bool, Error> {
    // COUNT(*) is a BIGINT on every backend, which the Any driver decodes
    // as i64 everywhere.
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id = ?")
        .bind(id)
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}
