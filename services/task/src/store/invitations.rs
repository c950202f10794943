//! SQL for invitations to lists. An invitation is addressed to an e-mail
//! address's key; only the account whose verified address has that key
//! sees or accepts it (the service checks the address with the user
//! service before it calls these).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::access::Role;
use crate::error::Error;
use crate::ids::{InvitationId, ListId, UserId};

/// The stored states of an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending = 1,
    Accepted = 2,
    Declined = 3,
    Replaced = 4,
}

/// An invitation as stored, with its list's title.
#[derive(Debug, Clone)]
pub struct InvitationRow {
    pub id: InvitationId,
    pub list_id: ListId,
    pub list_title: String,
    pub email: String,
    pub role: Role,
    pub inviter_id: UserId,
    pub create_time: i64,
    pub expire_time: i64,
}

const COLUMNS: &str =
    "i.id, i.list_id, l.title, i.email, i.role, i.inviter_id, i.create_time, i.expire_time";

impl InvitationRow {
    fn from_row(r: &AnyRow) -> Result<Self, Error> {
        Ok(Self {
            id: r.try_get("id")?,
            list_id: r.try_get("list_id")?,
            list_title: r.try_get("title")?,
            email: r.try_get("email")?,
            role: Role::from_code(r.try_get("role")?)?,
            inviter_id: r.try_get("inviter_id")?,
            create_time: r.try_get("create_time")?,
            expire_time: r.try_get("expire_time")?,
        })
    }
}

/// Stores a pending invitation, replacing a pending one of the same list
/// and address.
pub async fn insert(conn: &mut AnyConnection, i: &InvitationRow) -> Result<(), Error> {
    sqlx::query("UPDATE invitations SET state = ? WHERE list_id = ? AND email = ? AND state = ?")
        .bind(State::Replaced as i64)
        .bind(&i.list_id)
        .bind(&i.email)
        .bind(State::Pending as i64)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO invitations (id, list_id, email, role, inviter_id, state, create_time, expire_time) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&i.id)
    .bind(&i.list_id)
    .bind(&i.email)
    .bind(i.role.code())
    .bind(&i.inviter_id)
    .bind(State::Pending as i64)
    .bind(i.create_time)
    .bind(i.expire_time)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many invitations of a list are pending and unexpired.
pub async fn pending_of_list(
    conn: &mut AnyConnection,
    list_id: &ListId,
    now: i64,
) -> Result<i64, Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM invitations WHERE list_id = ? AND state = ? AND expire_time > ?",
    )
    .bind(list_id)
    .bind(State::Pending as i64)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("n")?)
}

/// How many invitations `inviter` sent since `since`, whatever became of
/// them.
pub async fn sent_since(
    conn: &mut AnyConnection,
    inviter: &UserId,
    since: i64,
) -> Result<i64, Error> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM invitations WHERE inviter_id = ? AND create_time >= ?",
    )
    .bind(inviter)
    .bind(since)
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("n")?)
}

/// The pending, unexpired invitations to the address `email`.
pub async fn pending_for(
    conn: &mut AnyConnection,
    email: &str,
    now: i64,
) -> Result<Vec<InvitationRow>, Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM invitations i JOIN lists l ON l.id = i.list_id \
         WHERE i.email = ? AND i.state = ? AND i.expire_time > ? ORDER BY i.create_time DESC LIMIT 100"
    ))
    .bind(email)
    .bind(State::Pending as i64)
    .bind(now)
    .fetch_all(conn)
    .await?;
    rows.iter().map(InvitationRow::from_row).collect()
}

/// One pending, unexpired invitation to the address `email`.
pub async fn get_pending(
    conn: &mut AnyConnection,
    id: &InvitationId,
    email: &str,
    now: i64,
) -> Result<Option<InvitationRow>, Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM invitations i JOIN lists l ON l.id = i.list_id \
         WHERE i.id = ? AND i.email = ? AND i.state = ? AND i.expire_time > ?"
    ))
    .bind(id)
    .bind(email)
    .bind(State::Pending as i64)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(InvitationRow::from_row).transpose()
}

/// Settles a pending invitation; `false` when it was no longer pending.
pub async fn settle(
    conn: &mut AnyConnection,
    id: &InvitationId,
    state: State,
) -> Result<bool, Error> {
    let done = sqlx::query("UPDATE invitations SET state = ? WHERE id = ? AND state = ?")
        .bind(state as i64)
        .bind(id)
        .bind(State::Pending as i64)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets invitations sent by `inviter` (their account is gone).
pub async fn delete_sent_by(conn: &mut AnyConnection, inviter: &UserId) -> Result<(), Error> {
    sqlx::query("DELETE FROM invitations WHERE inviter_id = ?")
        .bind(inviter)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets invitations that expired before `before`.
pub async fn prune(conn: &mut AnyConnection, before: i64) -> Result<u64, Error> {
    let done = sqlx::query("DELETE FROM invitations WHERE expire_time < ?")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}
