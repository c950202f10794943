//! `todo.user.v1.UserService`: each RPC parses its request into domain
//! types, runs the use case, maps the outcome.

use tonic::{Request, Response, Status};

use todo_common::auth::AccessClaims;
use todo_common::clock::{new_id, now_micros};
use todo_common::status::FieldViolation;
use todo_proto::todo::notify::v1::RevokeAccessTokensRequest as NotifyRevoke;
use todo_proto::todo::notify::v1::{EmailTemplate, EraseUserDataRequest, SendEmailRequest};
use todo_proto::todo::task::v1::EraseUserTasksRequest;
use todo_proto::todo::task::v1::RevokeAccessTokensRequest as TaskRevoke;
use todo_proto::todo::user::v1::{
    ChangeEmailRequest, ChangePasswordRequest, CreateUserRequest, DeleteMeRequest, GetJwksRequest,
    GetMeRequest, Jwks, LoginRequest, LogoutRequest, RefreshTokenRequest,
    RequestPasswordResetRequest, ResendVerificationRequest, ResetPasswordRequest, TokenPair,
    UpdateMeRequest, User, VerifyEmailRequest, user_service_server::UserService,
};
use todo_store::db::Db;
use todo_store::outbox;

use crate::State;
use crate::domain::{DisplayName, Email, NewPassword, Password, TimeZone, user_inputs};
use crate::error::Error;
use crate::outbox::Outbox;
use crate::password;
use crate::store::{self, NewRefreshToken, Purpose, UserRow};
use crate::throttle::{
    self, Bucket, ClientAddress, SIGNUP_NOTICE_WINDOW, SIGNUP_NOTICES_PER_HOUR, Subject,
};
use crate::tokens::{
    self, ACCESS_MAX_REACH_MICROS, ACCESS_TTL_SECONDS, REFRESH_TTL_MICROS, VERIFY_TTL_MICROS,
};

/// Reset e-mails one account gets per hour at most, however many clients
/// ask: the address-based throttle alone would let many clients flood one
/// mailbox. Extra requests are dropped silently, as for unknown addresses.
const RESET_MAILS_PER_HOUR: i64 = 3;

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

/// A security alert for `user`, deduplicated per event.
fn security_alert(user: &UserRow) -> SendEmailRequest {
    SendEmailRequest {
        dedup_key: format!("security:{}:{}", user.id, new_id()),
        user_id: user.id.clone(),
        template: EmailTemplate::SecurityAlert.into(),
        to_email: user.email.clone(),
        display_name: user.display_name.clone(),
        ..SendEmailRequest::default()
    }
}

/// The token cut-off of a credential change at `now` (micros): access
/// tokens carry `iat` in whole seconds, so tokens issued earlier in the
/// same second as the change still pass. Rounding up instead would refuse
/// the tokens issued right after the change, the caller's next one among
/// them.
fn token_cutoff(now: i64) -> i64 {
    now.div_euclid(1_000_000)
}

/// Tells the task service, through the outbox in the caller's transaction,
/// that `user_id`'s address is now verified, so the invitations waiting for
/// it are announced to them.
async fn announce_invitations(tx: &mut sqlx::AnyConnection, user_id: &str) -> Result<(), Error> {
    let req = todo_proto::todo::task::v1::AnnounceInvitationsRequest {
        user_id: user_id.to_owned(),
    };
    outbox::enqueue(tx, &Outbox::AnnounceInvitations(req)).await?;
    Ok(())
}

/// Tells the task and notify services, through the outbox in the caller's
/// transaction, the user's new time zone: the task service places all-day
/// dues and recurrences in it, the notify service times the digest by it.
/// The change's time orders the announcements.
async fn announce_time_zone(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    zone: &str,
    now: i64,
) -> Result<(), Error> {
    let task = todo_proto::todo::task::v1::SetTimeZoneRequest {
        user_id: user_id.to_owned(),
        time_zone: zone.to_owned(),
        revision: now,
    };
    let notify = todo_proto::todo::notify::v1::SetTimeZoneRequest {
        user_id: user_id.to_owned(),
        time_zone: zone.to_owned(),
        revision: now,
    };
    outbox::enqueue(tx, &Outbox::TaskTimeZone(task)).await?;
    outbox::enqueue(tx, &Outbox::NotifyTimeZone(notify)).await?;
    Ok(())
}

/// Tells the task and notify services, through the outbox in the caller's
/// transaction, to refuse `user_id`'s access tokens issued before
/// `issued_before`, as this service does from its own table.
async fn revoke_access_tokens_elsewhere(
    tx: &mut sqlx::AnyConnection,
    user_id: &str,
    issued_before: i64,
) -> Result<(), Error> {
    let tasks = TaskRevoke {
        user_id: user_id.to_owned(),
        issued_before,
    };
    let notify = NotifyRevoke {
        user_id: user_id.to_owned(),
        issued_before,
    };
    outbox::enqueue(tx, &Outbox::RevokeTaskTokens(tasks)).await?;
    outbox::enqueue(tx, &Outbox::RevokeNotifyTokens(notify)).await?;
    Ok(())
}

impl State {
    /// A new password checked off the runtime threads: the strength
    /// estimate of a long password takes milliseconds of CPU.
    async fn new_password(
        &self,
        raw: &str,
        field: &'static str,
        inputs: &[&str],
    ) -> Result<Result<NewPassword, FieldViolation>, Error> {
        let raw = raw.to_owned();
        let inputs: Vec<String> = inputs.iter().map(|s| (*s).to_owned()).collect();
        Ok(self
            .hasher
            .run(move || {
                let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                Ok(NewPassword::parse(&raw, field, &inputs))
            })
            .await?)
    }

    /// Registers an account, or, when the address has one already, tells
    /// its owner that someone tried. The caller gets the same answer either
    /// way, after the same work (the strength estimate and the hash are
    /// done for both), so registration does not reveal which addresses
    /// have accounts (OWASP ASVS 6.3.8).
    async fn create_user(
        &self,
        client: &ClientAddress,
        req: CreateUserRequest,
    ) -> Result<(), Error> {
        let now = now_micros();
        let address = Subject::address(client);
        let limit = self.limits.registrations;
        throttle::check(&self.db.pool, Bucket::Registration, &address, limit, now).await?;
        // Every attempt counts, valid or not, before any costly work: a
        // script probing addresses or burning hashes hits the limit alike.
        throttle::record(
            &mut *self.db.writer().acquire().await?,
            Bucket::Registration,
            &address,
            now,
        )
        .await?;
        let inputs = user_inputs(&req.email, &req.display_name);
        let password = self
            .new_password(&req.password, "password", &inputs)
            .await?;
        let (email, password, name) = collect(
            Email::parse(&req.email, "email"),
            password,
            DisplayName::parse(&req.display_name, "displayName"),
        )?;
        let hash = self.hasher.hash(&password).await?;
        let mut tx = self.db.begin_write().await?;
        if let Some(owner) = store::user_by_email_key(&mut *tx, &email.key()).await? {
            let subject = Subject::user(&owner.id);
            let hour_ago = now - i64::try_from(SIGNUP_NOTICE_WINDOW.as_micros()).unwrap_or(0);
            if throttle::count_since(&mut tx, Bucket::SignupNotice, &subject, hour_ago).await?
                >= SIGNUP_NOTICES_PER_HOUR
            {
                tracing::info!(user_id = %owner.id, "sign-up notice limit reached; none sent");
                return Ok(());
            }
            throttle::record(&mut tx, Bucket::SignupNotice, &subject, now).await?;
            let notice = SendEmailRequest {
                dedup_key: format!("signup-attempt:{}:{}", owner.id, new_id()),
                user_id: owner.id.clone(),
                template: EmailTemplate::SignupAttempt.into(),
                to_email: owner.email.clone(),
                // The owner's name, never the one the stranger typed.
                display_name: owner.display_name.clone(),
                ..SendEmailRequest::default()
            };
            outbox::enqueue(&mut tx, &Outbox::SendEmail(notice)).await?;
            tx.commit().await?;
            self.relay.poke();
            tracing::info!(user_id = %owner.id, "sign-up with a registered address; owner told");
            return Ok(());
        }
        let user = UserRow {
            id: new_id(),
            email: email.as_str().to_owned(),
            display_name: name.as_str().to_owned(),
            password_hash: hash,
            email_verified: false,
            time_zone: "UTC".to_owned(),
            create_time: now,
            update_time: now,
            token_cutoff: None,
        };
        let verify_token = tokens::new_secret();
        let welcome = SendEmailRequest {
            dedup_key: format!("welcome:{}", user.id),
            user_id: user.id.clone(),
            template: EmailTemplate::Welcome.into(),
            to_email: user.email.clone(),
            display_name: user.display_name.clone(),
            token: verify_token.clone(),
            ..SendEmailRequest::default()
        };
        // The account, its verification token and the welcome e-mail commit
        // together: no account without its e-mail, no e-mail without it.
        match store::insert_user(&mut tx, &user, &email.key()).await {
            Ok(()) => {}
            // A concurrent registration of the same address won between the
            // lookup and the insert; that one sends the welcome e-mail.
            Err(Error::EmailTaken) => return Ok(()),
            Err(e) => return Err(e),
        }
        store::insert_email_token(
            &mut tx,
            &tokens::digest(&verify_token),
            &user.id,
            Purpose::VerifyEmail,
            None,
            now + VERIFY_TTL_MICROS,
            now,
        )
        .await?;
        outbox::enqueue(&mut tx, &Outbox::SendEmail(welcome)).await?;
        tx.commit().await?;
        self.relay.poke();
        tracing::info!(user_id = %user.id, "user registered");
        Ok(())
    }

    async fn login(&self, client: &ClientAddress, req: LoginRequest) -> Result<TokenPair, Error> {
        let password = Password::offered(&req.password, "password")?;
        // A malformed address cannot have an account: same answer as a wrong
        // password, after the same work.
        let email = Email::parse(&req.email, "email").ok();
        let account_key = email
            .as_ref()
            .map_or_else(|| req.email.trim().to_lowercase(), Email::key);
        let user = match &email {
            Some(e) => store::user_by_email_key(&self.db.pool, &e.key()).await?,
            None => None,
        };
        self.check_password(client, &account_key, user.as_ref(), &password)
            .await
            .map_err(|e| match e {
                Error::WrongPassword => Error::BadCredentials,
                other => other,
            })?;
        let Some(user) = user else {
            return Err(Error::BadCredentials);
        };
        // The one moment the password is known: a hash of a former setting
        // is made again with the current one.
        let rehashed = if password::is_current(&user.password_hash) {
            None
        } else {
            Some(self.hasher.rehash(&password).await?)
        };
        let mut tx = self.db.begin_write().await?;
        if let Some(hash) = &rehashed {
            store::upgrade_password_hash(&mut tx, &user.id, &user.password_hash, hash).await?;
        }
        let pair = self.issue_pair(&mut tx, &user.id, &new_id()).await?;
        tx.commit().await?;
        tracing::info!(user_id = %user.id, "login");
        Ok(pair)
    }

    /// Checks a password against an account (or against nothing, at the
    /// same cost, when `user` is `None`), under the failed-login throttle of
    /// the account and of the client address. Past either limit it refuses
    /// without looking at the password, so a guesser learns nothing more,
    /// not even from the right one.
    async fn check_password(
        &self,
        client: &ClientAddress,
        account_key: &str,
        user: Option<&UserRow>,
        password: &Password,
    ) -> Result<(), Error> {
        let now = now_micros();
        let limit = self.limits.login_failures;
        let account = Subject::account(account_key);
        let address = Subject::address(client);
        throttle::check(&self.db.pool, Bucket::LoginAccount, &account, limit, now).await?;
        throttle::check(&self.db.pool, Bucket::LoginAddress, &address, limit, now).await?;
        let ok = self
            .hasher
            .verify(password, user.map(|u| u.password_hash.as_str()))
            .await?;
        if ok {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        throttle::record(&mut tx, Bucket::LoginAccount, &account, now).await?;
        throttle::record(&mut tx, Bucket::LoginAddress, &address, now).await?;
        tx.commit().await?;
        Err(Error::WrongPassword)
    }

    async fn refresh(&self, req: RefreshTokenRequest) -> Result<TokenPair, Error> {
        let hash = tokens::digest(&req.refresh_token);
        let now = now_micros();
        let mut tx = self.db.begin_write().await?;
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
        // On the transaction's own connection: while it holds SQLite's
        // write lock, waiting for a second one from a pool that the queued
        // writers have emptied would stall them all.
        if store::user_by_id(&mut *tx, &row.user_id).await?.is_none() {
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
        let mut tx = self.db.begin_write().await?;
        if let Some(row) = store::refresh_token(&mut tx, &hash).await? {
            store::revoke_family(&mut tx, &row.family_id, now_micros()).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Spends a verification token: one for the current address marks it
    /// verified; one sent for an address change makes that address the
    /// account's, unless another account has taken it in the meantime.
    async fn verify_email(&self, req: VerifyEmailRequest) -> Result<User, Error> {
        let now = now_micros();
        let hash = tokens::digest(&req.token);
        let mut tx = self.db.begin_write().await?;
        let user_id = match store::spend_email_token(&mut tx, &hash, Purpose::VerifyEmail, now)
            .await?
        {
            Some(spent) => {
                store::mark_verified(&mut tx, &spent.user_id, now).await?;
                spent.user_id
            }
            None => {
                let spent = store::spend_email_token(&mut tx, &hash, Purpose::ChangeEmail, now)
                    .await?
                    .ok_or(Error::BadToken)?;
                let new_email = spent.new_email.as_deref().ok_or(Error::BadToken)?;
                let email = Email::parse(new_email, "token").map_err(|_| Error::BadToken)?;
                // Refused here, not when the change was asked for: only the
                // owner of the new address learns that it has an account.
                if !store::change_email(&mut tx, &spent.user_id, email.as_str(), &email.key(), now)
                    .await?
                {
                    return Err(Error::BadToken);
                }
                // Reset links went to the old address, which no longer
                // speaks for the account.
                store::spend_user_email_tokens(
                    &mut tx,
                    &spent.user_id,
                    Purpose::ResetPassword,
                    now,
                )
                .await?;
                tracing::info!(user_id = %spent.user_id, "e-mail address changed");
                spent.user_id
            }
        };
        announce_invitations(&mut tx, &user_id).await?;
        tx.commit().await?;
        self.relay.poke();
        let user = store::user_by_id(&self.db.pool, &user_id)
            .await?
            .ok_or(Error::BadToken)?;
        Ok(user.to_proto())
    }

    /// Sends a new verification e-mail for the current address; the links
    /// sent before stop working, so only the newest one counts.
    async fn resend_verification(&self, user: &UserRow) -> Result<(), Error> {
        if user.email_verified {
            return Err(Error::AlreadyVerified);
        }
        let now = now_micros();
        let subject = Subject::user(&user.id);
        let limit = self.limits.account_mails;
        throttle::check(&self.db.pool, Bucket::AccountMail, &subject, limit, now).await?;
        self.issue_email_token(user, Purpose::VerifyEmail, None, None, now)
            .await
    }

    /// Sends a fresh link of `purpose` in a verification e-mail to the
    /// address it proves: `pending`, the address an address change asks
    /// for, or else the account's own. Links of that purpose sent before
    /// stop working. `also` is queued in the same transaction, which
    /// counts against the account-mail limit (the caller checked it).
    async fn issue_email_token(
        &self,
        user: &UserRow,
        purpose: Purpose,
        pending: Option<&str>,
        also: Option<Outbox>,
        now: i64,
    ) -> Result<(), Error> {
        let subject = Subject::user(&user.id);
        let token = tokens::new_secret();
        let dedup = match purpose {
            Purpose::VerifyEmail => "verify",
            Purpose::ChangeEmail => "email-change",
            Purpose::ResetPassword => "reset",
        };
        let mail = SendEmailRequest {
            dedup_key: format!("{dedup}:{}:{}", user.id, new_id()),
            user_id: user.id.clone(),
            template: EmailTemplate::VerifyEmail.into(),
            to_email: pending.unwrap_or(&user.email).to_owned(),
            display_name: user.display_name.clone(),
            token: token.clone(),
            ..SendEmailRequest::default()
        };
        let mut tx = self.db.begin_write().await?;
        throttle::record(&mut tx, Bucket::AccountMail, &subject, now).await?;
        // One at a time: a newer request replaces a pending one.
        store::spend_user_email_tokens(&mut tx, &user.id, purpose, now).await?;
        store::insert_email_token(
            &mut tx,
            &tokens::digest(&token),
            &user.id,
            purpose,
            pending,
            now + VERIFY_TTL_MICROS,
            now,
        )
        .await?;
        outbox::enqueue(&mut tx, &Outbox::SendEmail(mail)).await?;
        if let Some(also) = also {
            outbox::enqueue(&mut tx, &also).await?;
        }
        tx.commit().await?;
        self.relay.poke();
        Ok(())
    }

    /// Starts an address change after checking the password: a token bound
    /// to the new address goes there, a security notice to the old one. The
    /// account keeps its address, logins and tokens until the new address
    /// is verified; whether the new address has an account is not looked
    /// at here, so the answer cannot tell.
    async fn change_email(
        &self,
        client: &ClientAddress,
        user: &UserRow,
        req: ChangeEmailRequest,
    ) -> Result<(), Error> {
        let (new_email, password, ()) = collect(
            Email::parse(&req.new_email, "newEmail"),
            Password::offered(&req.password, "password"),
            Ok(()),
        )?;
        if new_email.key() == user.email.to_lowercase() {
            return Err(FieldViolation::new("newEmail", "is the account's address already").into());
        }
        let now = now_micros();
        let subject = Subject::user(&user.id);
        let limit = self.limits.account_mails;
        throttle::check(&self.db.pool, Bucket::AccountMail, &subject, limit, now).await?;
        self.check_password(client, &user.email.to_lowercase(), Some(user), &password)
            .await?;
        let alert = SendEmailRequest {
            dedup_key: format!("security:{}:{}", user.id, new_id()),
            user_id: user.id.clone(),
            template: EmailTemplate::EmailChangeAlert.into(),
            to_email: user.email.clone(),
            display_name: user.display_name.clone(),
            ..SendEmailRequest::default()
        };
        self.issue_email_token(
            user,
            Purpose::ChangeEmail,
            Some(new_email.as_str()),
            Some(Outbox::SendEmail(alert)),
            now,
        )
        .await?;
        tracing::info!(user_id = %user.id, "e-mail address change asked for");
        Ok(())
    }

    /// The account with this id; [`Error::NotFound`] when there is none.
    pub(crate) async fn me(&self, user_id: &str) -> Result<UserRow, Error> {
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
        let zone = req
            .time_zone
            .as_deref()
            .map(|z| TimeZone::parse(z, "timeZone"))
            .transpose();
        let (name, zone, ()) = collect(name, zone, Ok(()))?;
        let now = now_micros();
        let mut tx = self.db.begin_write().await?;
        let before = store::update_profile(
            &mut tx,
            user_id,
            name.as_ref().map(DisplayName::as_str),
            zone.as_ref().map(TimeZone::as_str),
            now,
        )
        .await?
        .ok_or(Error::NotFound)?;
        let moved = zone.as_ref().filter(|z| z.as_str() != before);
        if let Some(zone) = moved {
            announce_time_zone(&mut tx, user_id, zone.as_str(), now).await?;
        }
        tx.commit().await?;
        if moved.is_some() {
            self.relay.poke();
        }
        Ok(self.me(user_id).await?.to_proto())
    }

    /// Queues a reset for whatever account the address has. The answer,
    /// and the work done before it (a throttle check, two inserts), are the
    /// same whether or not the address has an account: the lookup happens
    /// later, in the relay ([`issue_password_reset`]), where no client can time it.
    async fn request_password_reset(
        &self,
        client: &ClientAddress,
        req: RequestPasswordResetRequest,
    ) -> Result<(), Error> {
        let now = now_micros();
        let address = Subject::address(client);
        let limit = self.limits.reset_requests;
        throttle::check(&self.db.pool, Bucket::ResetRequest, &address, limit, now).await?;
        let email = Email::parse(&req.email, "email")?;
        let pending = SendEmailRequest {
            dedup_key: format!("reset:{}", new_id()),
            user_id: String::new(),
            template: EmailTemplate::PasswordReset.into(),
            to_email: email.key(),
            ..SendEmailRequest::default()
        };
        let mut tx = self.db.begin_write().await?;
        throttle::record(&mut tx, Bucket::ResetRequest, &address, now).await?;
        outbox::enqueue(&mut tx, &Outbox::IssuePasswordReset(pending)).await?;
        tx.commit().await?;
        self.relay.poke();
        Ok(())
    }

    /// Sets a new password with a reset token and ends every login of the
    /// account: whoever knew the old password is out.
    async fn reset_password(&self, req: ResetPasswordRequest) -> Result<(), Error> {
        let token_hash = tokens::digest(&req.token);
        let now = now_micros();
        let user_id =
            store::live_email_token_user(&self.db.pool, &token_hash, Purpose::ResetPassword, now)
                .await?
                .ok_or(Error::BadToken)?;
        let user = store::user_by_id(&self.db.pool, &user_id)
            .await?
            .ok_or(Error::BadToken)?;
        let password = self
            .new_password(
                &req.new_password,
                "newPassword",
                &user_inputs(&user.email, &user.display_name),
            )
            .await??;
        let hash = self.hasher.hash(&password).await?;
        let now = now_micros();
        let mut tx = self.db.begin_write().await?;
        // Spent conditionally inside the transaction: of two concurrent
        // resets with one token, exactly one commits.
        if store::spend_email_token(&mut tx, &token_hash, Purpose::ResetPassword, now)
            .await?
            .is_none()
            || !store::set_password(&mut tx, &user.id, &hash, token_cutoff(now), now).await?
        {
            return Err(Error::BadToken);
        }
        revoke_access_tokens_elsewhere(&mut tx, &user.id, token_cutoff(now)).await?;
        store::spend_user_email_tokens(&mut tx, &user.id, Purpose::ResetPassword, now).await?;
        store::revoke_user_tokens(&mut tx, &user.id, None, now).await?;
        // The link reached the mailbox, which proves the address as well as
        // the welcome link does.
        store::mark_verified(&mut tx, &user.id, now).await?;
        announce_invitations(&mut tx, &user.id).await?;
        outbox::enqueue(&mut tx, &Outbox::SendEmail(security_alert(&user))).await?;
        tx.commit().await?;
        self.relay.poke();
        tracing::info!(user_id = %user.id, "password reset; every login revoked");
        Ok(())
    }

    /// Changes the password after checking the current one; every other
    /// login of the account ends, the caller's own stays.
    async fn change_password(
        &self,
        client: &ClientAddress,
        claims: &AccessClaims,
        user: &UserRow,
        req: ChangePasswordRequest,
    ) -> Result<(), Error> {
        let new = self
            .new_password(
                &req.new_password,
                "newPassword",
                &user_inputs(&user.email, &user.display_name),
            )
            .await?;
        let (current, new, ()) = collect(
            Password::offered(&req.current_password, "currentPassword"),
            new,
            Ok(()),
        )?;
        self.check_password(client, &user.email.to_lowercase(), Some(user), &current)
            .await?;
        let hash = self.hasher.hash(&new).await?;
        let now = now_micros();
        let mut tx = self.db.begin_write().await?;
        if !store::set_password(&mut tx, &user.id, &hash, token_cutoff(now), now).await? {
            return Err(Error::NotFound);
        }
        // Every access token issued before now is refused, the caller's own
        // too: its login (refresh token family) is kept below, so the
        // client gets a fresh access token with its refresh token. Sparing
        // the caller's access token would need a per-login claim that the
        // tokens out there do not carry.
        revoke_access_tokens_elsewhere(&mut tx, &user.id, token_cutoff(now)).await?;
        let own = store::family_of_access_token(&mut tx, &claims.jti).await?;
        store::revoke_user_tokens(&mut tx, &user.id, own.as_deref(), now).await?;
        store::spend_user_email_tokens(&mut tx, &user.id, Purpose::ResetPassword, now).await?;
        outbox::enqueue(&mut tx, &Outbox::SendEmail(security_alert(user))).await?;
        tx.commit().await?;
        self.relay.poke();
        tracing::info!(user_id = %user.id, "password changed; other logins revoked");
        Ok(())
    }

    /// Deletes the account after checking its password, and has the other
    /// services erase what they hold of it. The erasures go through the
    /// outbox in the same transaction as the deletion, so they happen even
    /// if a service is down right now. Each is sent twice: at once, and
    /// again once every access token the user may still hold has expired,
    /// to sweep anything written with one in between.
    async fn delete_me(
        &self,
        client: &ClientAddress,
        user: &UserRow,
        req: DeleteMeRequest,
    ) -> Result<(), Error> {
        let password = Password::offered(&req.password, "password")?;
        self.check_password(client, &user.email.to_lowercase(), Some(user), &password)
            .await?;
        let tasks = Outbox::EraseTasks(EraseUserTasksRequest {
            user_id: user.id.clone(),
        });
        let notifications = Outbox::EraseNotifications(EraseUserDataRequest {
            user_id: user.id.clone(),
        });
        let now = now_micros();
        let sweep = now + ACCESS_MAX_REACH_MICROS;
        let mut tx = self.db.begin_write().await?;
        if !store::delete_user(&mut tx, &user.id).await? {
            return Err(Error::NotFound);
        }
        outbox::enqueue(&mut tx, &tasks).await?;
        outbox::enqueue(&mut tx, &notifications).await?;
        // The second erasure pass waits until every access token the user
        // could still hold has expired.
        outbox::enqueue_at(&mut tx, &tasks, sweep).await?;
        outbox::enqueue_at(&mut tx, &notifications, sweep).await?;
        tx.commit().await?;
        self.relay.poke();
        tracing::info!(user_id = %user.id, "account deleted; erasure queued");
        Ok(())
    }

    /// The caller's access token claims and account. The token must be
    /// valid, its account must exist, and it must not predate the account's
    /// last password change or reset: this service refuses such tokens from
    /// its own table, the others from the records relayed to them (see
    /// `todo_store::erased`). The claims are returned because the password
    /// change needs the token's id (`jti`) to tell the caller's own login
    /// from the others.
    ///
    /// # Errors
    /// UNAUTHENTICATED for a missing, invalid or revoked token, or one of a
    /// deleted account: like every other call, not NOT_FOUND.
    async fn caller<T>(&self, request: &Request<T>) -> Result<(AccessClaims, UserRow), Status> {
        let claims = self.session(request).await?;
        let user = store::user_by_id(&self.db.pool, &claims.sub).await?;
        match user {
            Some(user) if user.token_cutoff.is_none_or(|cutoff| claims.iat >= cutoff) => {
                Ok((claims, user))
            }
            _ => Err(Status::unauthenticated("invalid access token")),
        }
    }

    /// The claims of the caller's access token, checked by signature and
    /// claims only.
    async fn session<T>(&self, request: &Request<T>) -> Result<AccessClaims, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
        self.verifier.verify(token).await
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
        let row = NewRefreshToken {
            token_hash: &tokens::digest(&refresh),
            user_id,
            family_id,
            access_jti: &claims.jti,
            expire_time: now + REFRESH_TTL_MICROS,
        };
        store::insert_refresh_token(conn, &row, now).await?;
        Ok(TokenPair {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer".to_owned(),
            expires_in: ACCESS_TTL_SECONDS,
        })
    }
}

pub(crate) type Rpc<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl UserService for State {
    async fn create_user(&self, request: Request<CreateUserRequest>) -> Rpc<()> {
        let client = ClientAddress::of(&request, &self.service_credential);
        State::create_user(self, &client, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn login(&self, request: Request<LoginRequest>) -> Rpc<TokenPair> {
        let client = ClientAddress::of(&request, &self.service_credential);
        Ok(Response::new(
            State::login(self, &client, request.into_inner()).await?,
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
        request: Request<RequestPasswordResetRequest>,
    ) -> Rpc<()> {
        let client = ClientAddress::of(&request, &self.service_credential);
        State::request_password_reset(self, &client, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn reset_password(&self, request: Request<ResetPasswordRequest>) -> Rpc<()> {
        State::reset_password(self, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn get_me(&self, request: Request<GetMeRequest>) -> Rpc<User> {
        let (_, user) = self.caller(&request).await?;
        Ok(Response::new(user.to_proto()))
    }

    async fn update_me(&self, request: Request<UpdateMeRequest>) -> Rpc<User> {
        let (_, user) = self.caller(&request).await?;
        Ok(Response::new(
            State::update_me(self, &user.id, request.into_inner()).await?,
        ))
    }

    async fn change_password(&self, request: Request<ChangePasswordRequest>) -> Rpc<()> {
        let (claims, user) = self.caller(&request).await?;
        let client = ClientAddress::of(&request, &self.service_credential);
        State::change_password(self, &client, &claims, &user, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn delete_me(&self, request: Request<DeleteMeRequest>) -> Rpc<()> {
        let (_, user) = self.caller(&request).await?;
        let client = ClientAddress::of(&request, &self.service_credential);
        State::delete_me(self, &client, &user, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn resend_verification(&self, request: Request<ResendVerificationRequest>) -> Rpc<()> {
        let (_, user) = self.caller(&request).await?;
        State::resend_verification(self, &user).await?;
        Ok(Response::new(()))
    }

    async fn change_email(&self, request: Request<ChangeEmailRequest>) -> Rpc<()> {
        let (_, user) = self.caller(&request).await?;
        let client = ClientAddress::of(&request, &self.service_credential);
        State::change_email(self, &client, &user, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn get_jwks(&self, _request: Request<GetJwksRequest>) -> Rpc<Jwks> {
        Ok(Response::new(self.keys.jwks()))
    }
}

/// Turns a queued reset request into a reset token and its e-mail, in one
/// transaction; an address without an account gets nothing, and an
/// account past [`RESET_MAILS_PER_HOUR`] gets nothing more. Runs in the
/// relay, not in the RPC, so no client can time the lookup. `true` when an
/// e-mail was queued.
///
/// # Errors
/// When the database fails; the relay then retries the request.
pub async fn issue_password_reset(db: &Db, mut mail: SendEmailRequest) -> Result<bool, Error> {
    let Some(user) = store::user_by_email_key(&db.pool, &mail.to_email).await? else {
        return Ok(false);
    };
    let now = now_micros();
    let mut tx = db.begin_write().await?;
    let hour_ago = now - 3600 * 1_000_000;
    if store::email_tokens_since(&mut tx, &user.id, Purpose::ResetPassword, hour_ago).await?
        >= RESET_MAILS_PER_HOUR
    {
        tracing::info!(user_id = %user.id, "reset e-mail limit reached; request dropped");
        return Ok(false);
    }
    let token = tokens::new_secret();
    store::insert_email_token(
        &mut tx,
        &tokens::digest(&token),
        &user.id,
        Purpose::ResetPassword,
        None,
        now + tokens::RESET_TTL_MICROS,
        now,
    )
    .await?;
    mail.user_id.clone_from(&user.id);
    mail.to_email.clone_from(&user.email);
    mail.display_name.clone_from(&user.display_name);
    mail.token = token;
    outbox::enqueue(&mut tx, &Outbox::SendEmail(mail)).await?;
    tx.commit().await?;
    Ok(true)
}
