//! `todo.user.v1.UserInternalService`: the contact data other services need
//! of accounts, by id, by address or in batches. Only callers with the
//! service credential get here (see [`crate::grpc_service`]), which is why
//! it may tell whether an address has an account.

use tonic::{Request, Response};

use todo_common::clock::is_id;
use todo_common::status::FieldViolation;
use todo_proto::todo::user::v1::{
    FindUserByEmailRequest, LookupUserRequest, LookupUsersRequest, LookupUsersResponse,
    UserContact, user_internal_service_server::UserInternalService,
};
use todo_store::db::Pool;

use crate::State;
use crate::domain::Email;
use crate::error::Error;
use crate::service::Rpc;
use crate::store::{self, UserRow};

/// The most users one `LookupUsers` call may name: each is a bound
/// parameter of one query.
pub const LOOKUP_USERS_MAX: usize = 100;

/// The account whose current address is `raw`, whatever its case.
///
/// # Errors
/// [`Error::Invalid`] for a malformed address, [`Error::NotFound`] when no
/// account has it.
pub async fn by_email(pool: &Pool, raw: &str) -> Result<UserContact, Error> {
    let email = Email::parse(raw, "email")?;
    // Only the `users` row counts: an address change waits, unverified, in
    // `email_tokens`, and until it is verified the new address belongs to
    // whoever can prove it, not to this account.
    store::user_by_email_key(pool, &email.key())
        .await?
        .map(|user| user.to_contact())
        .ok_or(Error::NotFound)
}

/// The accounts among `ids`, in no particular order.
///
/// # Errors
/// [`Error::Invalid`] for more than [`LOOKUP_USERS_MAX`] ids.
pub async fn by_ids(pool: &Pool, ids: &[String]) -> Result<Vec<UserContact>, Error> {
    if ids.len() > LOOKUP_USERS_MAX {
        return Err(FieldViolation::new(
            "userIds",
            format!("must name at most {LOOKUP_USERS_MAX} users"),
        )
        .into());
    }
    // What is not an id names no account: left out, like an unknown id.
    let mut wanted: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|id| is_id(id))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let users = store::users_by_ids(pool, &wanted).await?;
    Ok(users.iter().map(UserRow::to_contact).collect())
}

#[tonic::async_trait]
impl UserInternalService for State {
    async fn lookup_user(&self, request: Request<LookupUserRequest>) -> Rpc<UserContact> {
        let id = request.into_inner().user_id;
        Ok(Response::new(self.me(&id).await?.to_contact()))
    }

    async fn find_user_by_email(
        &self,
        request: Request<FindUserByEmailRequest>,
    ) -> Rpc<UserContact> {
        let email = request.into_inner().email;
        Ok(Response::new(by_email(&self.db.pool, &email).await?))
    }

    async fn lookup_users(&self, request: Request<LookupUsersRequest>) -> Rpc<LookupUsersResponse> {
        let ids = request.into_inner().user_ids;
        let users = by_ids(&self.db.pool, &ids).await?;
        Ok(Response::new(LookupUsersResponse { users }))
    }
}

#[cfg(test)]
mod tests {
    use todo_common::clock::new_id;
    use todo_store::db::{Db, DbConfig, connect};
    use tonic::{Code, Status};

    use super::*;
    use crate::store::Purpose;

    async fn database(dir: &tempfile::TempDir) -> Db {
        let config = DbConfig {
            url: format!("sqlite://{}/user.db", dir.path().display()),
            max_connections: 2,
        };
        connect(&config, &crate::MIGRATOR).await.unwrap()
    }

    /// Stores an account as registration does: the parsed address, keyed
    /// by its lower-cased form.
    async fn account(db: &Db, address: &str) -> UserRow {
        let email = Email::parse(address, "email").unwrap();
        let user = UserRow {
            id: new_id(),
            email: email.as_str().to_owned(),
            display_name: "Ada".to_owned(),
            password_hash: "not a hash".to_owned(),
            email_verified: true,
            time_zone: "UTC".to_owned(),
            create_time: 1,
            update_time: 1,
            token_cutoff: None,
        };
        let mut conn = db.pool.acquire().await.unwrap();
        store::insert_user(&mut conn, &user, &email.key())
            .await
            .unwrap();
        user
    }

    #[tokio::test]
    async fn find_user_by_email_matches_the_address_whatever_its_case() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        let ada = account(&db, "Ada.Lovelace@Example.com").await;
        account(&db, "someone.else@example.com").await;

        let found = by_email(&db.pool, " ADA.LOVELACE@example.COM ")
            .await
            .unwrap();
        assert_eq!(found.user_id, ada.id);
        // The address as the account holds it, not as it was asked for.
        assert_eq!(found.email, "Ada.Lovelace@example.com");
        assert_eq!(found.display_name, "Ada");
        assert!(found.email_verified);
    }

    #[tokio::test]
    async fn find_user_by_email_refuses_a_malformed_address_naming_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        for bad in ["", "not an address", "ada@localhost"] {
            let err = by_email(&db.pool, bad).await.unwrap_err();
            let Error::Invalid(violations) = &err else {
                panic!("{bad:?}: {err:?}");
            };
            assert_eq!(violations.len(), 1);
            assert_eq!(violations[0].field, "email");
            assert_eq!(Status::from(err).code(), Code::InvalidArgument);
        }
    }

    #[tokio::test]
    async fn find_user_by_email_is_not_found_for_an_address_without_an_account() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        account(&db, "ada@example.com").await;
        let err = by_email(&db.pool, "grace@example.com").await.unwrap_err();
        assert!(matches!(err, Error::NotFound), "{err:?}");
        assert_eq!(Status::from(err).code(), Code::NotFound);
    }

    #[tokio::test]
    async fn find_user_by_email_ignores_a_pending_address_change() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        let ada = account(&db, "ada@example.com").await;
        let mut conn = db.pool.acquire().await.unwrap();
        store::insert_email_token(
            &mut conn,
            "digest",
            &ada.id,
            Purpose::ChangeEmail,
            Some("ada.new@example.com"),
            i64::MAX,
            1,
        )
        .await
        .unwrap();
        drop(conn);

        let err = by_email(&db.pool, "ada.new@example.com").await.unwrap_err();
        assert!(matches!(err, Error::NotFound), "{err:?}");
        let current = by_email(&db.pool, "ada@example.com").await.unwrap();
        assert_eq!(current.user_id, ada.id);
    }

    #[tokio::test]
    async fn lookup_users_answers_known_ids_and_leaves_out_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        let ada = account(&db, "ada@example.com").await;
        let grace = account(&db, "grace@example.com").await;
        account(&db, "not.asked@example.com").await;

        let ids = [
            grace.id.clone(),
            "not-an-id".to_owned(),
            new_id(),
            ada.id.clone(),
            ada.id.to_uppercase(),
            grace.id.clone(),
            String::new(),
        ];
        let mut found: Vec<String> = by_ids(&db.pool, &ids)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.user_id)
            .collect();
        found.sort();
        let mut expected = vec![ada.id, grace.id];
        expected.sort();
        assert_eq!(found, expected);

        assert!(by_ids(&db.pool, &[]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn lookup_users_refuses_more_than_100_ids() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        let ada = account(&db, "ada@example.com").await;
        let mut ids: Vec<String> = (1..LOOKUP_USERS_MAX).map(|_| new_id()).collect();
        ids.push(ada.id.clone());
        assert_eq!(ids.len(), 100);
        let found = by_ids(&db.pool, &ids).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].user_id, ada.id);

        ids.push(new_id());
        let err = by_ids(&db.pool, &ids).await.unwrap_err();
        let Error::Invalid(violations) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(violations[0].field, "userIds");
        assert_eq!(Status::from(err).code(), Code::InvalidArgument);
    }
}
