//! The durable e-mail queue: a row is written before `SendEmail` returns,
//! claimed with a lease by a worker, then marked sent, pending again or
//! dead.
//!
//! A claim on MySQL/MariaDB picks rows with `FOR UPDATE SKIP LOCKED`, on
//! SQLite by one conditional update. Two workers or two replicas never
//! hold one row at the same time, and a worker that dies mid-send leaves
//! a lease that simply expires.

use sqlx::{AnyConnection, Row};
use todo_common::clock::new_id;
use todo_proto::todo::notify::v1::EmailTemplate;
use todo_store::db::{Backend, Db, Pool, is_contention, is_unique_violation, retry_contended};

use crate::domain::{DeadEmail, Invitation, NewEmail, Outgoing};
use crate::error::Error;

/// Queues an e-mail, with the invitation or digest it carries; `false`
/// when its dedup key was queued before.
///
/// # Errors
/// When the database fails.
pub async fn enqueue(pool: &Pool, email: &NewEmail, now: i64) -> Result<bool, Error> {
    // On MySQL an insert can lose a deadlock to a worker's locking claim
    // of the same index range; it is then rolled back whole and retried.
    let id = new_id();
    let result = retry_contended(is_contention, || insert(pool, &id, email, now)).await;
    match result {
        Ok(()) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// [`enqueue`] in the caller's transaction, whose retry on contention
/// wants the driver's error.
///
/// # Errors
/// When the database fails.
pub async fn enqueue_in(
    conn: &mut AnyConnection,
    email: &NewEmail,
    now: i64,
) -> Result<bool, sqlx::Error> {
    match insert(conn, &new_id(), email, now).await {
        Ok(()) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

async fn insert<'e, E>(exec: E, id: &str, email: &NewEmail, now: i64) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let NewEmail {
        dedup_key,
        user_id,
        mail,
    } = email;
    let invitation = mail.invitation.as_ref();
    let digest = match &mail.digest {
        Some(d) => Some(serde_json::to_vec(d).map_err(|e| sqlx::Error::Encode(e.into()))?),
        None => None,
    };
    sqlx::query(
        "INSERT INTO emails (id, dedup_key, user_id, template, to_email, display_name, token, task_title, \
         list_title, inviter_name, invite_role, digest, state, attempts, next_attempt_at, create_time) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
    )
    .bind(id.to_owned())
    .bind(dedup_key.clone())
    .bind(user_id.clone())
    .bind(i64::from(i32::from(mail.template)))
    .bind(mail.to_email.clone())
    .bind(mail.display_name.clone())
    .bind(mail.token.clone())
    .bind(mail.task_title.clone())
    .bind(invitation.map(|i| i.list_title.clone()))
    .bind(invitation.map(|i| i.inviter_name.clone()))
    .bind(invitation.map(|i| i.role.as_str()))
    .bind(digest)
    .bind(now)
    .bind(now)
    .execute(exec)
    .await
    .map(drop)
}

/// Takes the lease on up to `batch` due e-mails for `owner`, until
/// `lease_until`, and returns their ids. On MySQL/MariaDB the rows are
/// locked with `SKIP LOCKED`, so concurrent workers of any replica claim
/// disjoint batches without waiting on each other; SQLite has a single
/// writer, so one conditional update claims the batch.
///
/// # Errors
/// When the database fails.
pub async fn claim(
    db: &Db,
    owner: &str,
    now: i64,
    lease_until: i64,
    batch: i64,
) -> Result<Vec<String>, Error> {
    const DUE: &str =
        "state = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)";
    match db.backend {
        Backend::MySql => {
            let mut tx = db.begin_write().await?;
            let ids: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT id FROM emails WHERE {DUE} ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED"
            ))
            .bind(now)
            .bind(now)
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?;
            if !ids.is_empty() {
                let marks = vec!["?"; ids.len()].join(", ");
                let sql = format!(
                    "UPDATE emails SET lease_owner = ?, lease_until = ? WHERE id IN ({marks})"
                );
                let mut update = sqlx::query(&sql).bind(owner).bind(lease_until);
                for id in &ids {
                    update = update.bind(id);
                }
                update.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(ids)
        }
        Backend::Sqlite => {
            sqlx::query(&format!(
                "UPDATE emails SET lease_owner = ?, lease_until = ? WHERE id IN \
                 (SELECT id FROM emails WHERE {DUE} ORDER BY next_attempt_at, id LIMIT ?)"
            ))
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .bind(now)
            .bind(batch)
            .execute(db.writer())
            .await?;
            Ok(sqlx::query_scalar(
                "SELECT id FROM emails WHERE lease_owner = ? AND lease_until = ? AND state = 'pending'",
            )
            .bind(owner)
            .bind(lease_until)
            .fetch_all(&db.pool)
            .await?)
        }
    }
}

/// A queued e-mail as the mailer takes it, and how often it was tried.
///
/// # Errors
/// When the database fails or there is no such e-mail.
pub async fn load(pool: &Pool, id: &str) -> Result<(Outgoing, i64), Error> {
    let row = sqlx::query(
        "SELECT template, to_email, display_name, token, task_title, list_title, inviter_name, invite_role, \
         digest, attempts FROM emails WHERE id = ?",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    let mail = Outgoing {
        template: EmailTemplate::try_from(
            i32::try_from(row.try_get::<i64, _>("template")?).unwrap_or(0),
        )
        .unwrap_or(EmailTemplate::Unspecified),
        to_email: row.try_get("to_email")?,
        display_name: row.try_get("display_name")?,
        token: row.try_get("token")?,
        task_title: row.try_get("task_title")?,
        invitation: Invitation::from_stored(
            row.try_get("list_title")?,
            row.try_get("inviter_name")?,
            row.try_get("invite_role")?,
        ),
        // Unreadable, the e-mail fails to render and is declared dead.
        digest: row
            .try_get::<Option<Vec<u8>>, _>("digest")?
            .and_then(|json| serde_json::from_slice(&json).ok()),
    };
    Ok((mail, row.try_get("attempts")?))
}

/// Records that `owner` sent the e-mail: the link token is no longer
/// needed once sent.
///
/// # Errors
/// When the database fails.
pub async fn mark_sent(pool: &Pool, id: &str, owner: &str, now: i64) -> Result<(), Error> {
    sqlx::query(
        "UPDATE emails SET state = 'sent', sent_time = ?, token = NULL, attempts = attempts + 1, \
         lease_owner = NULL, lease_until = NULL, last_error = NULL WHERE id = ? AND lease_owner = ?",
    )
    .bind(now)
    .bind(id)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(())
}

/// What a failed attempt leaves behind.
#[derive(Debug)]
pub struct Failure {
    /// Never tried again (until an operator requeues it).
    pub dead: bool,
    pub next_attempt_at: i64,
    pub reason: String,
}

/// Records that `owner`'s attempt failed, releasing the lease.
///
/// # Errors
/// When the database fails.
pub async fn mark_failed(pool: &Pool, id: &str, owner: &str, f: &Failure) -> Result<(), Error> {
    sqlx::query(
        "UPDATE emails SET state = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ?, \
         lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
    )
    .bind(if f.dead { "dead" } else { "pending" })
    .bind(f.next_attempt_at)
    .bind(&f.reason)
    .bind(id)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(())
}

/// E-mails that will not be tried again, newest first.
///
/// # Errors
/// When the database fails.
pub async fn dead(pool: &Pool, limit: i64) -> Result<Vec<DeadEmail>, Error> {
    let rows = sqlx::query(
        "SELECT id, user_id, template, attempts, last_error, create_time FROM emails WHERE state = 'dead' \
         ORDER BY create_time DESC, id DESC LIMIT ?",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let dead = rows
        .iter()
        .map(|r| {
            Ok(DeadEmail {
                id: r.try_get("id")?,
                user_id: r.try_get("user_id")?,
                template: i32::try_from(r.try_get::<i64, _>("template")?).unwrap_or_default(),
                attempts: r.try_get("attempts")?,
                last_error: r
                    .try_get::<Option<String>, _>("last_error")?
                    .unwrap_or_default(),
                create_time: r.try_get("create_time")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(dead)
}

/// Gives a dead e-mail a fresh round of attempts; `false` when there is no
/// dead e-mail with that id.
///
/// # Errors
/// When the database fails.
pub async fn requeue(pool: &Pool, id: &str, now: i64) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE emails SET state = 'pending', attempts = 0, next_attempt_at = ?, last_error = NULL \
         WHERE id = ? AND state = 'dead'",
    )
    .bind(now)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::invitation::Role;

    #[tokio::test]
    async fn an_invitation_comes_out_of_the_queue_as_it_went_in() {
        let dir = tempfile::tempdir().unwrap();
        let state = crate::testing::state(&dir).await;
        let pool = &state.db.pool;
        let invitation = Invitation {
            list_title: "Groceries".into(),
            inviter_name: "Ada".into(),
            role: Role::Editor,
        };
        let email = NewEmail {
            dedup_key: "invite-mail:1".into(),
            user_id: String::new(),
            mail: Outgoing {
                template: EmailTemplate::Invitation,
                to_email: "grace@example.com".into(),
                display_name: String::new(),
                token: None,
                task_title: None,
                invitation: Some(invitation.clone()),
                digest: None,
            },
        };
        assert!(enqueue(pool, &email, 1).await.unwrap());
        assert!(!enqueue(pool, &email, 2).await.unwrap());
        let id: String = sqlx::query_scalar("SELECT id FROM emails")
            .fetch_one(pool)
            .await
            .unwrap();
        let (mail, attempts) = load(pool, &id).await.unwrap();
        assert_eq!(mail, email.mail);
        assert_eq!(mail.invitation, Some(invitation));
        assert_eq!(attempts, 0);
    }

    crate::testing::both_databases!(a_digest_comes_out_of_the_queue_as_it_went_in);
    async fn a_digest_comes_out_of_the_queue_as_it_went_in(db: &Db) {
        let pool = &db.pool;
        let email = NewEmail {
            dedup_key: "digest-email:u:2030-01-15".into(),
            user_id: "u".into(),
            mail: Outgoing {
                template: EmailTemplate::Digest,
                to_email: "ada@example.com".into(),
                display_name: "Ada".into(),
                token: None,
                task_title: None,
                invitation: None,
                digest: Some(crate::domain::Digest {
                    date: "2030-01-15".into(),
                    lines: vec![
                        "Pay rent (due 2030-01-14)".into(),
                        "ä\"'<>".into(),
                        "x".repeat(500),
                    ],
                    more: 2,
                }),
            },
        };
        let mut conn = pool.acquire().await.unwrap();
        assert!(enqueue_in(&mut conn, &email, 1).await.unwrap());
        assert!(!enqueue_in(&mut conn, &email, 2).await.unwrap());
        drop(conn);
        let id: String = sqlx::query_scalar("SELECT id FROM emails")
            .fetch_one(pool)
            .await
            .unwrap();
        let (mail, _) = load(pool, &id).await.unwrap();
        assert_eq!(mail, email.mail);
    }
}
