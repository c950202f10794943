//! SQL for lists and their members. A list is read only through the
//! caller's membership, so a list the caller is not in is never returned.

use sqlx::{AnyConnection, Row};
use todo_common::clock::to_timestamp;
use todo_proto::todo::task::v1::TaskList;
use todo_store::exec::Exec;
use todo_store::inline::{self, Columns};

use crate::access::Role;
use crate::error::Error;
use crate::ids::{Id, ListId, UserId};

/// The title of every user's default list.
pub const DEFAULT_TITLE: &str = "Inbox";

/// A list as stored.
#[derive(Debug, Clone)]
pub struct ListRow {
    pub id: ListId,
    pub title: String,
    pub color: String,
    pub owner_id: UserId,
    pub is_default: bool,
    pub task_count: i64,
    pub member_count: i64,
    pub create_time: i64,
    pub update_time: i64,
    pub revision: i64,
}

/// A list with the caller's role in it.
#[derive(Debug, Clone)]
pub struct Membership {
    pub list: ListRow,
    pub role: Role,
}

const COLUMNS: &str = "l.id, l.title, l.color, l.owner_id, l.is_default, l.task_count, l.member_count, \
                       l.create_time, l.update_time, l.revision";

impl ListRow {
    /// The list in a row of [`COLUMNS`], read by either driver.
    fn from_row(r: &(impl Columns + ?Sized)) -> Result<Self, Error> {
        Ok(Self {
            id: ListId::trusted(r.required_text("id")?),
            title: r.required_text("title")?,
            color: r.required_text("color")?,
            owner_id: UserId::trusted(r.required_text("owner_id")?),
            is_default: r.required_int("is_default")? != 0,
            task_count: r.required_int("task_count")?,
            member_count: r.required_int("member_count")?,
            create_time: r.required_int("create_time")?,
            update_time: r.required_int("update_time")?,
            revision: r.required_int("revision")?,
        })
    }

    pub fn etag(&self) -> String {
        format!("{}-{}", self.revision, self.update_time)
    }
}

impl Membership {
    fn from_row(r: &(impl Columns + ?Sized)) -> Result<Self, Error> {
        Ok(Self {
            list: ListRow::from_row(r)?,
            role: Role::from_code(r.required_int("role")?)?,
        })
    }

    /// The list as the caller sees it.
    pub fn to_proto(&self) -> TaskList {
        let l = &self.list;
        TaskList {
            id: l.id.to_string(),
            title: l.title.clone(),
            color: l.color.clone(),
            is_default: l.is_default,
            role: self.role.to_proto().into(),
            member_count: i32::try_from(l.member_count).unwrap_or(i32::MAX),
            create_time: Some(to_timestamp(l.create_time)),
            update_time: Some(to_timestamp(l.update_time)),
            etag: l.etag(),
        }
    }
}

/// The caller's membership of one list, with the list: one round trip.
pub async fn get(
    conn: &mut impl Exec,
    caller: &UserId,
    list_id: &ListId,
) -> Result<Option<Membership>, Error> {
    let params = [caller.as_str().into(), list_id.as_str().into()];
    conn.fetch_optional(&get_sql(), &params, |r| Membership::from_row(r))
        .await
}

/// [`get`] on an SQLite connection of [`todo_store::inline`].
pub fn get_inline(
    conn: &rusqlite::Connection,
    caller: &UserId,
    list_id: &ListId,
) -> Result<Option<Membership>, Error> {
    let params = [caller.as_str(), list_id.as_str()];
    inline::fetch_optional(conn, &get_sql(), params, |r| Membership::from_row(r))
}

/// The statement of [`get`]: binds the caller, then the list's id.
fn get_sql() -> String {
    format!(
        "SELECT {COLUMNS}, m.role FROM lists l JOIN list_members m ON m.list_id = l.id AND m.user_id = ? \
         WHERE l.id = ?"
    )
}

/// A page of the caller's lists other than the default one, by id.
pub async fn page(
    conn: &mut AnyConnection,
    caller: &UserId,
    after: Option<&ListId>,
    limit: i64,
) -> Result<Vec<Membership>, Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS}, m.role FROM list_members m JOIN lists l ON l.id = m.list_id \
         WHERE m.user_id = ? AND l.is_default = 0 AND m.list_id > ? ORDER BY m.list_id LIMIT ?"
    ))
    .bind(caller)
    .bind(after.map_or("", |a| a.as_str()))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(Membership::from_row).collect()
}

/// Makes `user`'s default list unless it exists (its id is the user's).
/// Safe to race: the second insert hits the primary key, and its
/// transaction is retried.
pub async fn ensure_default(conn: &mut impl Exec, user: &UserId, now: i64) -> Result<(), Error> {
    let params = [user.as_str().into()];
    let exists = conn
        .fetch_optional("SELECT 1 AS one FROM lists WHERE id = ?", &params, |_| {
            Ok::<_, Error>(())
        })
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    let params = [
        user.as_str().into(),
        DEFAULT_TITLE.into(),
        user.as_str().into(),
        now.into(),
        now.into(),
    ];
    let made = conn
        .execute(
            "INSERT INTO lists (id, title, color, owner_id, is_default, task_count, member_count, create_time, \
             update_time, revision) VALUES (?, ?, '', ?, 1, 0, 1, ?, ?, 1)",
            &params,
        )
        .await;
    match made {
        Ok(_) => add_member(conn, &ListId::default_of(user), user, Role::Owner, now).await,
        // A concurrent first use made it: start over in a transaction
        // that sees it (MariaDB's snapshot predates it).
        Err(e) if todo_store::db::is_unique_violation(&e) => Err(Error::Contended),
        Err(e) => Err(e.into()),
    }
}

/// Stores a new list with its owner as the only member.
pub async fn insert(conn: &mut AnyConnection, l: &ListRow) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO lists (id, title, color, owner_id, is_default, task_count, member_count, create_time, \
         update_time, revision) VALUES (?, ?, ?, ?, ?, 0, 1, ?, ?, 1)",
    )
    .bind(&l.id)
    .bind(&l.title)
    .bind(&l.color)
    .bind(&l.owner_id)
    .bind(i64::from(l.is_default))
    .bind(l.create_time)
    .bind(l.update_time)
    .execute(&mut *conn)
    .await?;
    add_member(conn, &l.id, &l.owner_id, Role::Owner, l.create_time).await
}

/// Writes a list's title and colour if it is still at `expected_revision`.
pub async fn update(
    conn: &mut AnyConnection,
    l: &ListRow,
    expected_revision: i64,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE lists SET title = ?, color = ?, update_time = ?, revision = ? WHERE id = ? AND revision = ?",
    )
    .bind(&l.title)
    .bind(&l.color)
    .bind(l.update_time)
    .bind(l.revision)
    .bind(&l.id)
    .bind(expected_revision)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes a list with its tasks, members and invitations.
pub async fn delete(conn: &mut AnyConnection, list_id: &ListId) -> Result<(), Error> {
    for sql in [
        // The tasks' links first, while the tasks still say which they are.
        "DELETE FROM task_links WHERE task_id IN (SELECT id FROM tasks WHERE list_id = ?)",
        "DELETE FROM tasks WHERE list_id = ?",
        "DELETE FROM list_members WHERE list_id = ?",
        "DELETE FROM invitations WHERE list_id = ?",
        "DELETE FROM lists WHERE id = ?",
    ] {
        sqlx::query(sql).bind(list_id).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Adds `delta` to a list's task count, and bumps nothing else: the
/// count is not part of the list's etag.
pub async fn add_tasks(conn: &mut impl Exec, list_id: &ListId, delta: i64) -> Result<(), Error> {
    if delta != 0 {
        let params = [delta.into(), list_id.as_str().into()];
        conn.execute(
            "UPDATE lists SET task_count = task_count + ? WHERE id = ?",
            &params,
        )
        .await?;
    }
    Ok(())
}

/// The lists `user` owns.
pub async fn owned_by(conn: &mut AnyConnection, user: &UserId) -> Result<Vec<ListRow>, Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM lists l WHERE l.owner_id = ?"
    ))
    .bind(user)
    .fetch_all(conn)
    .await?;
    rows.iter().map(ListRow::from_row).collect()
}

/// How many members a list has. For a caller authorised otherwise (by an
/// invitation): it reads the list without a membership.
pub async fn member_count(conn: &mut AnyConnection, list_id: &ListId) -> Result<i64, Error> {
    let row = sqlx::query("SELECT member_count FROM lists WHERE id = ?")
        .bind(list_id)
        .fetch_optional(conn)
        .await?;
    Ok(row
        .map(|r| r.try_get("member_count"))
        .transpose()?
        .unwrap_or(0))
}

/// How many lists `user` is a member of.
pub async fn count_of(conn: &mut AnyConnection, user: &UserId) -> Result<i64, Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM list_members WHERE user_id = ?")
        .bind(user)
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("n")?)
}

/// One member of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub user_id: UserId,
    pub role: Role,
}

/// Every member of a list, the owner first.
pub async fn members(conn: &mut AnyConnection, list_id: &ListId) -> Result<Vec<MemberRow>, Error> {
    let rows = sqlx::query(
        "SELECT user_id, role FROM list_members WHERE list_id = ? ORDER BY role, join_time, user_id",
    )
    .bind(list_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(MemberRow {
                user_id: r.try_get("user_id")?,
                role: Role::from_code(r.try_get("role")?)?,
            })
        })
        .collect()
}

/// Adds a member and counts them in.
pub async fn add_member(
    conn: &mut impl Exec,
    list_id: &ListId,
    user: &UserId,
    role: Role,
    now: i64,
) -> Result<(), Error> {
    let params = [
        list_id.as_str().into(),
        user.as_str().into(),
        role.code().into(),
        now.into(),
    ];
    conn.execute(
        "INSERT INTO list_members (list_id, user_id, role, join_time) VALUES (?, ?, ?, ?)",
        &params,
    )
    .await?;
    if role != Role::Owner {
        let params = [list_id.as_str().into()];
        conn.execute(
            "UPDATE lists SET member_count = member_count + 1 WHERE id = ?",
            &params,
        )
        .await?;
    }
    Ok(())
}

/// Changes a member's role; `false` when they are not a member.
pub async fn set_role(
    conn: &mut AnyConnection,
    list_id: &ListId,
    user: &UserId,
    role: Role,
) -> Result<bool, Error> {
    let done = sqlx::query("UPDATE list_members SET role = ? WHERE list_id = ? AND user_id = ?")
        .bind(role.code())
        .bind(list_id)
        .bind(user)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a new owner on the list row.
pub async fn set_owner(
    conn: &mut AnyConnection,
    list_id: &ListId,
    owner: &UserId,
) -> Result<(), Error> {
    sqlx::query("UPDATE lists SET owner_id = ? WHERE id = ?")
        .bind(owner)
        .bind(list_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes a member; `false` when they were not one.
pub async fn remove_member(
    conn: &mut AnyConnection,
    list_id: &ListId,
    user: &UserId,
) -> Result<bool, Error> {
    let done = sqlx::query("DELETE FROM list_members WHERE list_id = ? AND user_id = ?")
        .bind(list_id)
        .bind(user)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("UPDATE lists SET member_count = member_count - 1 WHERE id = ?")
        .bind(list_id)
        .execute(conn)
        .await?;
    Ok(true)
}

/// The lists `user` is a member of without owning them.
pub async fn joined_by(conn: &mut AnyConnection, user: &UserId) -> Result<Vec<ListId>, Error> {
    let rows = sqlx::query("SELECT list_id FROM list_members WHERE user_id = ? AND role <> ?")
        .bind(user)
        .bind(Role::Owner.code())
        .fetch_all(conn)
        .await?;
    rows.iter().map(|r| Ok(r.try_get("list_id")?)).collect()
}

/// Tasks written by the previous release (before lists) have no list:
/// each goes into its creator's default list, made if need be. Returns
/// how many were adopted; a pass handles at most `batch` creators.
pub async fn adopt_orphans(conn: &mut AnyConnection, now: i64, batch: i64) -> Result<u64, Error> {
    let owners: Vec<UserId> =
        sqlx::query("SELECT DISTINCT owner_id FROM tasks WHERE list_id IS NULL LIMIT ?")
            .bind(batch)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("owner_id"))
            .collect::<Result<_, _>>()?;
    let mut adopted = 0;
    for owner in owners {
        ensure_default(conn, &owner, now).await?;
        let done = sqlx::query(
            "UPDATE tasks SET list_id = ?, position = REPLACE(id, '-', '') WHERE owner_id = ? AND list_id IS NULL",
        )
        .bind(&owner)
        .bind(&owner)
        .execute(&mut *conn)
        .await?;
        let n = done.rows_affected();
        add_tasks(
            conn,
            &ListId::default_of(&owner),
            i64::try_from(n).unwrap_or(i64::MAX),
        )
        .await?;
        adopted += n;
    }
    Ok(adopted)
}
