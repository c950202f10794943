//! `todo.user.v1.UserService` and `UserInternalService`: each RPC parses
//! its request into domain types, runs the use case, maps the outcome.

use prost::Message;
use tonic::{Request, Response, Status};

use todo_common::auth::AccessClaims;
use todo_common::clock::{new_id, now_micros};
use todo_common::outbox;
use todo_proto::todo::notify::v1::{EmailTemplate, SendEmailRequest};
use todo_proto::todo::user::v1::{
    ChangePasswordRequest, CreateUserRequest, DeleteMeRequest, GetJwksRequest, GetMeRequest, Jwks,
    LoginRequest, LogoutRequest, LookupUserRequest, RefreshTokenRequest,
    RequestPasswordResetRequest, ResetPasswordRequest, TokenPair, UpdateMeRequest, User,
    UserContact, VerifyEmailRequest, user_internal_service_server::UserInternalService,
    user_service_server::UserService,
};

use crate::State;
use crate::domain::{DisplayName, Email, Password};
use crate::error::Error;
use crate::store::{self, Purpose, UserRow};
use crate::tokens::{self, ACCESS_TTL_SECONDS, REFRESH_TTL_MICROS, VERIFY_TTL_MICROS};

/// The outbox kind of an e-mail for the notify service.
pub const SEND_EMAIL: &str = "notify.SendEmail";

/// Collects every field violation of a request before answering, so a
/// client learns about all of them at once.
fn collect<A, B, C>(
    a: Result<A, todo_common::status::FieldViolation>,
    b: Result<B, todo_common::status::FieldViolation>,
    c: Result<C, todo_common::status::FieldViolation>,
) -> Result<(A, B, C), Error> {
    match (a, b, c) {
        (Ok(a), Ok(b), Ok(c)) => Ok((a, b, c)),
        (a, b, c) => Err(Error::Invalid(
            [a.err(), b.err(), c.err()].into_iter().flatten().collect(),
        )),
    }
}

impl State {
    async fn create_user(&self, req: CreateUserRequest) -> Result<User, Error> {
        let (email, password, name) = collect(
            Email::parse(&req.email, "email"),
            Password::new(&req.password, "password"),
            DisplayName::parse(&req.display_name, "displayName"),
        )?;
        let hash = self.hasher.hash(&password).await?;
        let now = now_micros();
        let user = UserRow {
            id: new_id(),
            email: email.as_str().to_owned(),
            display_name: name.as_str().to_owned(),
            password_hash: hash,
            email_verified: false,
            time_zone: "UTC".to_owned(),
            create_time: now,
            update_time: now,
        };
        let verify_token = tokens::new_secret();
        let welcome = SendEmailRequest {
            dedup_key: format!("welcome:{}", user.id),
            user_id: user.id.clone(),
            template: EmailTemplate::Welcome.into(),
            to_email: user.email.clone(),
            display_name: user.display_name.clone(),
            token: verify_token.clone(),
        };
        // The account, its verification token and the welcome e-mail commit
        // together: no account without its e-mail, no e-mail without it.
        let mut tx = self.db.pool.begin().await?;
        store::insert_user(&mut tx, &user, &email.key()).await?;
        store::insert_email_token(
            &mut tx,
            &tokens::digest(&verify_token),
            &user.id,
            Purpose::VerifyEmail,
            now + VERIFY_TTL_MICROS,
            now,
        )
        .await?;
        outbox::enqueue(&mut tx, SEND_EMAIL, welcome.encode_to_vec()).await?;
        tx.commit().await?;
        self.relay.poke();
        tracing::info!(user_id = %user.id, "user registered");
        Ok(user.to_proto())
    }

    async fn login(&self, req: LoginRequest) -> Result<TokenPair, Error> {
        // A malformed address cannot have an account: same answer as a wrong
        // password, after the same work.
        let email = Email::parse(&req.email, "email").ok();
        let password = Password::offered(&req.password, "password")?;
        let user = match &email {
            Some(e) => store::user_by_email_key(&self.db.pool, &e.key()).await?,
            None => None,
        };
        let ok = self
            .hasher
            .verify(&password, user.as_ref().map(|u| u.password_hash.as_str()))
            .await?;
        match user {
            Some(user) if ok => {
                let mut tx = self.db.pool.begin().await?;
                let pair = self.issue_pair(&mut tx, &user.id, &new_id()).await?;
                tx.commit().await?;
                tracing::info!(user_id = %user.id, "login");
                Ok(pair)
            }
            _ => Err(Error::BadCredentials),
        }
    }

    async fn refresh(&self, req: RefreshTokenRequest) -> Result<TokenPair, Error> {
        let hash = tokens::digest(&req.refresh_token);
        let now = now_micros();
        let mut tx = self.db.pool.begin().await?;
        let Some(row) = store::refresh_token(&mut tx, &hash).await? else {
            return Err(Error::BadToken);
        };
        if row.revoked || row.expire_time <= now {
            return Err(Error::BadToken);
        }
        if row.spent || !store::spend_refresh_token(&mut tx, &hash, now).await? {
            // A spent token presented again: it was stolen or replayed.
            // Revoke the whole login so neither holder can continue.
            store::revoke_family(&mut tx, &row.family_id, now).await?;
            tx.commit().await?;
            tracing::warn!(user_id = %row.user_id, "refresh token reuse; login revoked");
            return Err(Error::BadToken);
        }
        if store::user_by_id(&self.db.pool, &row.user_id)
            .await?
            .is_none()
        {
            return Err(Error::BadToken);
        }
        let pair = self
            .issue_pair(&mut tx, &row.user_id, &row.family_id)
            .await?;
        tx.commit().await?;
        Ok(pair)
    }

    async fn logout(&self, req: LogoutRequest) -> Result<(), Error> {
        let hash = tokens::digest(&req.refresh_token);
        let mut tx = self.db.pool.begin().await?;
        if let Some(row) = store::refresh_token(&mut tx, &hash).await? {
            store::revoke_family(&mut tx, &row.family_id, now_micros()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn verify_email(&self, req: VerifyEmailRequest) -> Result<User, Error> {
        let now = now_micros();
        let mut tx = self.db.pool.begin().await?;
        let user_id = store::spend_email_token(
            &mut tx,
            &tokens::digest(&req.token),
            Purpose::VerifyEmail,
            now,
        )
        .await?
        .ok_or(Error::BadToken)?;
        store::mark_verified(&mut tx, &user_id, now).await?;
        tx.commit().await?;
        let user = store::user_by_id(&self.db.pool, &user_id)
            .await?
            .ok_or(Error::BadToken)?;
        Ok(user.to_proto())
    }

    async fn me(&self, user_id: &str) -> Result<UserRow, Error> {
        store::user_by_id(&self.db.pool, user_id)
            .await?
            .ok_or(Error::NotFound)
    }

    async fn update_me(&self, user_id: &str, req: UpdateMeRequest) -> Result<User, Error> {
        let name = req
            .display_name
            .as_deref()
            .map(|n| DisplayName::parse(n, "displayName"))
            .transpose();
        let zone = req.time_zone.as_deref().map(parse_time_zone).transpose();
        let (name, zone, ()) = collect(name, zone, Ok(()))?;
        let found = store::update_profile(
            &self.db.pool,
            user_id,
            name.as_ref().map(DisplayName::as_str),
            zone.as_deref(),
            now_micros(),
        )
        .await?;
        if !found {
            return Err(Error::NotFound);
        }
        Ok(self.me(user_id).await?.to_proto())
    }

    /// A new access token and the next refresh token of `family_id`.
    async fn issue_pair(
        &self,
        conn: &mut sqlx::AnyConnection,
        user_id: &str,
        family_id: &str,
    ) -> Result<TokenPair, Error> {
        let now = now_micros();
        let now_s = now / 1_000_000;
        let claims = AccessClaims {
            iss: self.tokens.issuer.clone(),
            aud: self.tokens.audience.clone(),
            sub: user_id.to_owned(),
            iat: now_s,
            nbf: now_s,
            exp: now_s + ACCESS_TTL_SECONDS,
            jti: new_id(),
        };
        let access = self.keys.sign(&claims)?;
        let refresh = tokens::new_secret();
        store::insert_refresh_token(
            conn,
            &tokens::digest(&refresh),
            user_id,
            family_id,
            now + REFRESH_TTL_MICROS,
            now,
        )
        .await?;
        Ok(TokenPair {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer".to_owned(),
            expires_in: ACCESS_TTL_SECONDS,
        })
    }
}

/// An IANA time zone name in its canonical shape (`Area/Location` or
/// `UTC`). Full validation against the tz database comes with the tz data.
fn parse_time_zone(raw: &str) -> Result<String, todo_common::status::FieldViolation> {
    let ok = raw == "UTC"
        || (raw.len() <= 64
            && raw.contains('/')
            && raw.split('/').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
            }));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(todo_common::status::FieldViolation::new(
            "timeZone",
            "must be an IANA time zone name such as Europe/Berlin",
        ))
    }
}

type Rpc<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl UserService for State {
    async fn create_user(&self, request: Request<CreateUserRequest>) -> Rpc<User> {
        Ok(Response::new(
            State::create_user(self, request.into_inner()).await?,
        ))
    }

    async fn login(&self, request: Request<LoginRequest>) -> Rpc<TokenPair> {
        Ok(Response::new(
            State::login(self, request.into_inner()).await?,
        ))
    }

    async fn refresh_token(&self, request: Request<RefreshTokenRequest>) -> Rpc<TokenPair> {
        Ok(Response::new(self.refresh(request.into_inner()).await?))
    }

    async fn logout(&self, request: Request<LogoutRequest>) -> Rpc<()> {
        State::logout(self, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn verify_email(&self, request: Request<VerifyEmailRequest>) -> Rpc<User> {
        Ok(Response::new(
            State::verify_email(self, request.into_inner()).await?,
        ))
    }

    async fn request_password_reset(
        &self,
        _request: Request<RequestPasswordResetRequest>,
    ) -> Rpc<()> {
        Err(Status::unimplemented("password reset is not available yet"))
    }

    async fn reset_password(&self, _request: Request<ResetPasswordRequest>) -> Rpc<()> {
        Err(Status::unimplemented("password reset is not available yet"))
    }

    async fn get_me(&self, request: Request<GetMeRequest>) -> Rpc<User> {
        let caller = self.verifier.authenticate(&request).await?;
        Ok(Response::new(self.me(&caller.user_id).await?.to_proto()))
    }

    async fn update_me(&self, request: Request<UpdateMeRequest>) -> Rpc<User> {
        let caller = self.verifier.authenticate(&request).await?;
        Ok(Response::new(
            State::update_me(self, &caller.user_id, request.into_inner()).await?,
        ))
    }

    async fn change_password(&self, request: Request<ChangePasswordRequest>) -> Rpc<()> {
        self.verifier.authenticate(&request).await?;
        Err(Status::unimplemented(
            "changing the password is not available yet",
        ))
    }

    async fn delete_me(&self, request: Request<DeleteMeRequest>) -> Rpc<()> {
        self.verifier.authenticate(&request).await?;
        Err(Status::unimplemented(
            "deleting the account is not available yet",
        ))
    }

    async fn get_jwks(&self, _request: Request<GetJwksRequest>) -> Rpc<Jwks> {
        Ok(Response::new(self.keys.jwks()))
    }
}

#[tonic::async_trait]
impl UserInternalService for State {
    async fn lookup_user(&self, request: Request<LookupUserRequest>) -> Rpc<UserContact> {
        let id = request.into_inner().user_id;
        Ok(Response::new(self.me(&id).await?.to_contact()))
    }
}
