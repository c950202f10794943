//! Accounts end to end: password strength, reset, change, deletion, abuse
//! throttling and every way an access token can be forged or misused,
//! against SQLite and MariaDB.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sqlx::Row;
use support::{Db, TestSystem, decoded, error_status, eventually, link_token};
use todo_proto::todo::notify::v1::{EmailTemplate, SendEmailRequest};
use todo_proto::todo::user::v1::user_service_client::UserServiceClient;
use todo_proto::todo::user::v1::{CreateUserRequest, LoginRequest, RequestPasswordResetRequest};

const PASSWORD: &str = "a long enough secret";
const NEW_PASSWORD: &str = "violet tractor sings at dawn";
const MAIL_WAIT: Duration = Duration::from_secs(30);

/// The body of an e-mail with quoted-printable soft breaks undone.
/// The next e-mail whose decoded text contains `needle`.
async fn mail_containing(sys: &TestSystem, needle: &str) -> String {
    decoded(&sys.smtp.next_containing(needle, MAIL_WAIT).await.data)
}

/// Logs in and returns the whole token pair.
async fn login_pair(sys: &TestSystem, email: &str, password: &str) -> (u16, Value) {
    sys.call(
        "POST",
        "/v1/auth:login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

async fn refresh(sys: &TestSystem, refresh_token: &Value) -> u16 {
    sys.call(
        "POST",
        "/v1/auth:refresh",
        None,
        Some(json!({"refreshToken": refresh_token})),
    )
    .await
    .0
}

/// A gRPC client of the user service that claims to come from `client`.
async fn user_grpc(sys: &TestSystem) -> UserServiceClient<tonic::transport::Channel> {
    UserServiceClient::connect(format!("http://{}", sys.addr.user))
        .await
        .unwrap()
}

/// A request that says it comes from `client`, as the edge would send it:
/// with the service credential, without which the address is ignored.
fn from_address<T>(sys: &TestSystem, message: T, client: &str) -> tonic::Request<T> {
    let mut req = spoofed(message, client);
    sys.credential.attach(req.metadata_mut()).unwrap();
    req
}

/// A request that claims to come from `client`, without the credential.
fn spoofed<T>(message: T, client: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut()
        .insert("x-forwarded-for", client.parse().unwrap());
    req
}

both_databases!(weak_passwords_are_refused_with_the_reason);
async fn weak_passwords_are_refused_with_the_reason(sys: &TestSystem) {
    for weak in ["password1234", "qwertyuiop12", "ada.lovelace@example.com"] {
        let (status, body) = sys
            .call(
                "POST",
                "/v1/users",
                None,
                Some(json!({"email": "ada.lovelace@example.com", "password": weak, "displayName": "Ada Lovelace"})),
            )
            .await;
        assert_eq!(
            (status, error_status(&body)),
            (400, "INVALID_ARGUMENT"),
            "{weak}: {body}"
        );
        let violation = &body["error"]["details"][0]["fieldViolations"][0];
        assert_eq!(violation["field"], "password", "{body}");
        let reason = violation["description"].as_str().unwrap();
        assert!(
            reason.starts_with("is too easy to guess: ") && reason.len() > 30,
            "{reason}"
        );
    }
    // Nothing was written: the address is still free.
    let (status, _) = sys
        .call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"email": "ada.lovelace@example.com", "password": PASSWORD, "displayName": "Ada"})),
        )
        .await;
    assert_eq!(status, 200);
}

both_databases!(password_reset_by_email);
async fn password_reset_by_email(sys: &TestSystem) {
    sys.signup("hana@example.com").await;
    let (_, first) = login_pair(sys, "hana@example.com", PASSWORD).await;
    let (_, second) = login_pair(sys, "hana@example.com", PASSWORD).await;

    // Known and unknown addresses get the very same answer.
    let ask = |email: &str| {
        sys.call(
            "POST",
            "/v1/auth:requestPasswordReset",
            None,
            Some(json!({"email": email})),
        )
    };
    let known = ask("hana@example.com").await;
    let unknown = ask("nobody@example.com").await;
    assert_eq!(known, unknown);
    assert_eq!(known, (200, json!({})));

    let mail = mail_containing(sys, "/reset-password?token=").await;
    assert!(mail.contains("hana@example.com"));
    let token = link_token(&mail);

    // A weak new password is refused and leaves the token usable.
    let reset = |token: &str, password: &str| {
        sys.call(
            "POST",
            "/v1/auth:resetPassword",
            None,
            Some(json!({"token": token, "newPassword": password})),
        )
    };
    let (status, body) = reset(&token, "password1234").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["details"][0]["fieldViolations"][0]["field"],
        "newPassword"
    );
    let (status, body) = reset(&token, NEW_PASSWORD).await;
    assert_eq!((status, &body), (200, &json!({})));

    // Single use.
    let (status, body) = reset(&token, "another fine passphrase here").await;
    assert_eq!((status, error_status(&body)), (401, "UNAUTHENTICATED"));

    // Every login of the account has ended; only the new password works.
    assert_eq!(refresh(sys, &first["refreshToken"]).await, 401);
    assert_eq!(refresh(sys, &second["refreshToken"]).await, 401);
    assert_eq!(login_pair(sys, "hana@example.com", PASSWORD).await.0, 401);
    assert_eq!(
        login_pair(sys, "hana@example.com", NEW_PASSWORD).await.0,
        200
    );
    mail_containing(sys, "password of your ToDo account was just changed").await;

    // An expired token is refused: age it in the database, not by waiting.
    assert_eq!(ask("hana@example.com").await.0, 200);
    let token = link_token(&mail_containing(sys, "/reset-password?token=").await);
    let mut db = sys.user_db().await;
    let aged = sqlx::query(
        "UPDATE email_tokens SET expire_time = expire_time - 1800000001 WHERE purpose = 'reset' AND used_time IS NULL",
    )
    .execute(&mut db)
    .await
    .unwrap();
    assert_eq!(aged.rows_affected(), 1);
    let (status, _) = reset(&token, "another fine passphrase here").await;
    assert_eq!(status, 401);

    // Tokens are stored as digests only.
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM email_tokens")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert!(stored.iter().all(|h| h.len() == 64 && *h != token));
}

/// The stored password hash of the account `id`, and its update time and
/// token cutoff.
async fn password_hash_of(db: &mut sqlx::AnyConnection, id: &str) -> (String, (i64, Option<i64>)) {
    let row =
        sqlx::query("SELECT password_hash, update_time, token_cutoff FROM users WHERE id = ?")
            .bind(id)
            .fetch_one(db)
            .await
            .unwrap();
    (
        row.get("password_hash"),
        (row.get("update_time"), row.get("token_cutoff")),
    )
}

/// `PASSWORD` hashed with the former setting (argon2id, 19 MiB, two passes).
const FORMER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$CvhNkxAOU71BqGpSDNdV2g$Zf4k7mxIEotw33MHlUlApJZi6fcLpi0sdW6yaIl8Kvk";

both_databases!(a_login_rehashes_a_password_of_a_former_setting_and_nothing_else_changes);
async fn a_login_rehashes_a_password_of_a_former_setting_and_nothing_else_changes(
    sys: &TestSystem,
) {
    let (id, token) = sys.signup("uwe@example.com").await;
    let (_, pair) = login_pair(sys, "uwe@example.com", PASSWORD).await;
    let mut db = sys.user_db().await;
    let (current, _) = password_hash_of(&mut db, &id).await;
    assert!(
        current.starts_with("$argon2id$v=19$m=9216,t=4,p=1$"),
        "{current}"
    );
    sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
        .bind(FORMER_HASH)
        .bind(&id)
        .execute(&mut db)
        .await
        .unwrap();
    let (_, before) = password_hash_of(&mut db, &id).await;

    // A wrong password leaves the former hash as it is.
    assert_eq!(
        login_pair(sys, "uwe@example.com", NEW_PASSWORD).await.0,
        401
    );
    assert_eq!(password_hash_of(&mut db, &id).await.0, FORMER_HASH);

    // The right one logs in and replaces it with the current setting.
    assert_eq!(login_pair(sys, "uwe@example.com", PASSWORD).await.0, 200);
    let (rehashed, after) = password_hash_of(&mut db, &id).await;
    assert!(
        rehashed.starts_with("$argon2id$v=19$m=9216,t=4,p=1$"),
        "{rehashed}"
    );
    assert_ne!(rehashed, current);
    assert_eq!(after, before);
    assert_eq!(after.1, None, "no cutoff: not a change of password");
    assert_eq!(login_pair(sys, "uwe@example.com", PASSWORD).await.0, 200);
    // The logins made before go on.
    let (status, me) = sys.call("GET", "/v1/users/me", Some(&token), None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(refresh(sys, &pair["refreshToken"]).await, 200);
}

both_databases!(changing_the_password_ends_the_other_logins);
async fn changing_the_password_ends_the_other_logins(sys: &TestSystem) {
    sys.signup("ivan@example.com").await;
    let (_, mine) = login_pair(sys, "ivan@example.com", PASSWORD).await;
    let (_, other) = login_pair(sys, "ivan@example.com", PASSWORD).await;
    let access = mine["accessToken"].as_str().unwrap();
    let change = |current: &str, new: &str| {
        sys.call(
            "POST",
            "/v1/users/me:changePassword",
            Some(access),
            Some(json!({"currentPassword": current, "newPassword": new})),
        )
    };

    let (status, body) = change("not my password", NEW_PASSWORD).await;
    assert_eq!(
        (status, error_status(&body)),
        (403, "PERMISSION_DENIED"),
        "{body}"
    );
    let (status, body) = change(PASSWORD, "password1234").await;
    assert_eq!(status, 400, "{body}");
    // Both refusals changed nothing.
    assert_eq!(refresh(sys, &other["refreshToken"]).await, 200);
    let (_, other) = login_pair(sys, "ivan@example.com", PASSWORD).await;

    let (status, body) = change(PASSWORD, NEW_PASSWORD).await;
    assert_eq!((status, &body), (200, &json!({})));
    assert_eq!(
        refresh(sys, &other["refreshToken"]).await,
        401,
        "another login is revoked"
    );
    assert_eq!(
        refresh(sys, &mine["refreshToken"]).await,
        200,
        "the caller's own login stays"
    );
    assert_eq!(login_pair(sys, "ivan@example.com", PASSWORD).await.0, 401);
    assert_eq!(
        login_pair(sys, "ivan@example.com", NEW_PASSWORD).await.0,
        200
    );
    let alert = mail_containing(sys, "password of your ToDo account was just changed").await;
    assert!(alert.contains("ivan@example.com"));
    assert!(!alert.contains(NEW_PASSWORD));
}

both_databases!(deleting_the_account_erases_it_everywhere);
async fn deleting_the_account_erases_it_everywhere(sys: &TestSystem) {
    let (_, _) = sys.signup("jade@example.com").await;
    let (_, pair) = login_pair(sys, "jade@example.com", PASSWORD).await;
    let token = pair["accessToken"].as_str().unwrap().to_owned();
    let (_, me) = sys.call("GET", "/v1/users/me", Some(&token), None).await;
    let jade_id = me["id"].as_str().unwrap().to_owned();
    let (_, bob) = sys.signup("kim@example.com").await;
    for (who, title) in [(&token, "jade's"), (&bob, "kim's")] {
        let (status, _) = sys
            .call(
                "POST",
                "/v1/tasks",
                Some(who),
                Some(json!({"title": title})),
            )
            .await;
        assert_eq!(status, 200);
    }
    let count = |token: String, path: &'static str, key: &'static str| async move {
        let (status, body) = sys.call("GET", path, Some(&token), None).await;
        assert_eq!(status, 200, "{body}");
        body[key].as_array().map_or(0, Vec::len)
    };
    // The welcome notification is there to be erased.
    eventually("welcome notification", || async {
        count(token.clone(), "/v1/notifications", "notifications").await == 1
    })
    .await;

    let delete = |password: &str| {
        sys.call(
            "POST",
            "/v1/users/me:delete",
            Some(&token),
            Some(json!({"password": password})),
        )
    };
    let (status, body) = delete("not my password").await;
    assert_eq!(
        (status, error_status(&body)),
        (403, "PERMISSION_DENIED"),
        "{body}"
    );
    assert_eq!(count(token.clone(), "/v1/tasks", "tasks").await, 1);

    let (status, body) = delete(PASSWORD).await;
    assert_eq!((status, &body), (200, &json!({})));

    // The account is gone for the user service...
    assert_eq!(login_pair(sys, "jade@example.com", PASSWORD).await.0, 401);
    assert_eq!(refresh(sys, &pair["refreshToken"]).await, 401);
    // The old access token is refused like everywhere else: 401, not 404.
    let (status, body) = sys.call("GET", "/v1/users/me", Some(&token), None).await;
    assert_eq!((status, error_status(&body)), (401, "UNAUTHENTICATED"));
    let (status, _) = delete(PASSWORD).await;
    assert_eq!(status, 401);
    // ...and for the others: once they have erased the user's data, they
    // refuse the old access token too, though it has not expired.
    for path in ["/v1/tasks", "/v1/notifications"] {
        eventually("the old token refused", || async {
            sys.call("GET", path, Some(&token), None).await.0 == 401
        })
        .await;
    }
    let (status, body) = sys
        .call(
            "POST",
            "/v1/tasks",
            Some(&token),
            Some(json!({"title": "after the end"})),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    // Mail that reaches notify for the user after that is dropped.
    let mut notify = sys.notify_internal(sys.addr.notify);
    notify
        .send_email(SendEmailRequest {
            dedup_key: "after-erasure".to_owned(),
            user_id: jade_id.clone(),
            template: EmailTemplate::Welcome.into(),
            to_email: "jade@example.com".to_owned(),
            display_name: "Jade".to_owned(),
            ..SendEmailRequest::default()
        })
        .await
        .unwrap();
    for (service, table) in [
        ("task", "tasks"),
        ("notify", "notifications"),
        ("notify", "emails"),
    ] {
        let owner = if service == "task" {
            "owner_id"
        } else {
            "user_id"
        };
        let mut db = sys.db_of(service).await;
        let left: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {owner} = ?"))
                .bind(&jade_id)
                .fetch_one(&mut db)
                .await
                .unwrap();
        assert_eq!(left, 0, "{table} erased");
    }
    // Nothing of another user went with it.
    assert_eq!(count(bob.clone(), "/v1/tasks", "tasks").await, 1);
    // A second erasure pass waits for the old access tokens to expire.
    let mut db = sys.user_db().await;
    let later: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE kind IN ('task.EraseUserTasks', 'notify.EraseUserData') AND attempts = 0",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(later, 2);
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email_key = 'jade@example.com'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(left, 0);
}

both_databases!(failed_logins_are_throttled_per_account_and_per_address);
async fn failed_logins_are_throttled_per_account_and_per_address(sys: &TestSystem) {
    sys.signup("lena@example.com").await;
    sys.signup("milo@example.com").await;
    for _ in 0..10 {
        let (status, _) = login_pair(sys, "lena@example.com", "wrong password!!").await;
        assert_eq!(status, 401);
    }
    // Past the limit even the right password is refused, with a hint.
    let resp = sys
        .http
        .post(sys.url("/v1/auth:login"))
        .json(&json!({"email": "lena@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_status(&body), "RESOURCE_EXHAUSTED");

    // The account is throttled from any address...
    let mut grpc = user_grpc(sys).await;
    let login = |email: &str, password: &str| LoginRequest {
        email: email.into(),
        password: password.into(),
    };
    let err = grpc
        .login(from_address(
            sys,
            login("lena@example.com", PASSWORD),
            "203.0.113.9",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    // ...and the address for any account (the edge is one address to the
    // service until it forwards the client's).
    let (status, _) = login_pair(sys, "milo@example.com", PASSWORD).await;
    assert_eq!(status, 429);
    // Another account from another address is not affected.
    let ok = grpc
        .login(from_address(
            sys,
            login("milo@example.com", PASSWORD),
            "198.51.100.7",
        ))
        .await;
    assert!(ok.is_ok(), "{ok:?}");

    // Once the window has passed (aged in the database, not slept), the
    // right password works again.
    let mut db = sys.user_db().await;
    sqlx::query("UPDATE throttle_events SET create_time = create_time - 900000001")
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(login_pair(sys, "lena@example.com", PASSWORD).await.0, 200);
}

both_databases!(registrations_and_reset_requests_are_throttled_per_address);
async fn registrations_and_reset_requests_are_throttled_per_address(sys: &TestSystem) {
    let mut grpc = user_grpc(sys).await;
    // Invalid attempts count too, and cost nothing to make.
    for _ in 0..20 {
        let bad = CreateUserRequest {
            email: "not an address".into(),
            ..CreateUserRequest::default()
        };
        let err = grpc
            .create_user(from_address(sys, bad, "192.0.2.50"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }
    let good = CreateUserRequest {
        email: "nina@example.com".into(),
        password: PASSWORD.into(),
        display_name: "Nina".into(),
    };
    let err = grpc
        .create_user(from_address(sys, good.clone(), "192.0.2.50"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert!(
        grpc.create_user(from_address(sys, good, "192.0.2.51"))
            .await
            .is_ok()
    );

    for i in 0..10 {
        let ask = RequestPasswordResetRequest {
            email: format!("someone{i}@example.com"),
        };
        grpc.request_password_reset(from_address(sys, ask, "192.0.2.60"))
            .await
            .unwrap();
    }
    let ask = RequestPasswordResetRequest {
        email: "nina@example.com".into(),
    };
    let err = grpc
        .request_password_reset(from_address(sys, ask.clone(), "192.0.2.60"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert!(
        grpc.request_password_reset(from_address(sys, ask, "192.0.2.61"))
            .await
            .is_ok()
    );
}

/// An Ed25519 key of the test's own, known to no service.
const FOREIGN_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIGoxf87Y71Qf8beD/E41FhLZBDQ1jr27aW23hS9reP/K
-----END PRIVATE KEY-----
";

fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).unwrap()
}

fn header(alg: Algorithm, kid: &str, typ: Option<&str>) -> Header {
    let mut h = Header::new(alg);
    h.kid = Some(kid.to_owned());
    h.typ = typ.map(str::to_owned);
    h
}

both_databases!(forged_and_misused_access_tokens_are_refused);
async fn forged_and_misused_access_tokens_are_refused(sys: &TestSystem) {
    let (user_id, _) = sys.signup("olga@example.com").await;
    let (_, pair) = login_pair(sys, "olga@example.com", PASSWORD).await;
    let mut db = sys.user_db().await;
    let row = sqlx::query("SELECT kid, private_pem, public_x FROM signing_keys")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let kid: String = row.get("kid");
    // Sealed at rest: opened with the system's key-encryption key.
    let kek = sys.config.user.key_encryption_key.as_ref().unwrap();
    let pem = kek
        .open(&kid, &row.get::<String, _>("private_pem"))
        .unwrap();
    let real = EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
    let public = URL_SAFE_NO_PAD
        .decode(row.get::<String, _>("public_x"))
        .unwrap();
    let foreign = EncodingKey::from_ed_pem(FOREIGN_KEY.as_bytes()).unwrap();

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = |change: &dyn Fn(&mut Value)| {
        let mut c = json!({
            "iss": "todo-user", "aud": "todo", "sub": user_id,
            "iat": now, "nbf": now, "exp": now + 600, "jti": uuid::Uuid::now_v7().to_string(),
        });
        change(&mut c);
        c
    };
    let good = claims(&|_| {});
    let at = Some("at+jwt");

    // The control: a token made here the way the service makes them passes,
    // so each refusal below is for the one thing that differs.
    let control = sign(&header(Algorithm::EdDSA, &kid, at), &good, &real);
    for path in ["/v1/users/me", "/v1/tasks"] {
        let (status, body) = sys.call("GET", path, Some(&control), None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }

    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "at+jwt", "kid": kid}).to_string()),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let variants = [
        ("alg none", unsigned),
        (
            "HS256 keyed with the public key",
            sign(
                &header(Algorithm::HS256, &kid, at),
                &good,
                &EncodingKey::from_secret(&public),
            ),
        ),
        (
            "wrong signature",
            sign(&header(Algorithm::EdDSA, &kid, at), &good, &foreign),
        ),
        (
            "unknown kid",
            sign(
                &header(Algorithm::EdDSA, "not-a-known-kid", at),
                &good,
                &foreign,
            ),
        ),
        (
            "expired",
            sign(
                &header(Algorithm::EdDSA, &kid, at),
                &claims(&|c| {
                    c["iat"] = json!(now - 1000);
                    c["nbf"] = json!(now - 1000);
                    c["exp"] = json!(now - 100);
                }),
                &real,
            ),
        ),
        (
            "nbf in the future",
            sign(
                &header(Algorithm::EdDSA, &kid, at),
                &claims(&|c| c["nbf"] = json!(now + 300)),
                &real,
            ),
        ),
        (
            "wrong iss",
            sign(
                &header(Algorithm::EdDSA, &kid, at),
                &claims(&|c| c["iss"] = json!("evil")),
                &real,
            ),
        ),
        (
            "wrong aud",
            sign(
                &header(Algorithm::EdDSA, &kid, at),
                &claims(&|c| c["aud"] = json!("other")),
                &real,
            ),
        ),
        (
            "missing typ",
            sign(&header(Algorithm::EdDSA, &kid, None), &good, &real),
        ),
        (
            "typ JWT",
            sign(&header(Algorithm::EdDSA, &kid, Some("JWT")), &good, &real),
        ),
        (
            "refresh token as access token",
            pair["refreshToken"].as_str().unwrap().to_owned(),
        ),
    ];
    for (what, token) in &variants {
        for path in ["/v1/users/me", "/v1/tasks", "/v1/notifications"] {
            let (status, body) = sys.call("GET", path, Some(token), None).await;
            assert_eq!(
                (status, error_status(&body)),
                (401, "UNAUTHENTICATED"),
                "{what} at {path}: {body}"
            );
        }
    }
}

/// Verifies an address with a token; status and body.
async fn verify(sys: &TestSystem, token: &str) -> (u16, Value) {
    sys.call(
        "POST",
        "/v1/auth:verifyEmail",
        None,
        Some(json!({"token": token})),
    )
    .await
}

/// The next `n` e-mails, as (recipients, decoded text), in whatever order
/// the mail workers sent them.
async fn next_mails(sys: &TestSystem, n: usize) -> Vec<(Vec<String>, String)> {
    let mut mails = Vec::new();
    for _ in 0..n {
        let mail = sys.smtp.next(MAIL_WAIT).await;
        mails.push((mail.to, decoded(&mail.data)));
    }
    mails
}

/// The one of `mails` addressed to `email`.
fn mail_to<'a>(mails: &'a [(Vec<String>, String)], email: &str) -> &'a str {
    let found: Vec<_> = mails
        .iter()
        .filter(|(to, _)| to.iter().any(|t| t.contains(email)))
        .collect();
    assert_eq!(found.len(), 1, "mails to {email}: {mails:?}");
    &found[0].1
}

both_databases!(a_new_verification_email_replaces_the_earlier_link);
async fn a_new_verification_email_replaces_the_earlier_link(sys: &TestSystem) {
    let (_, token) = sys.signup("rosa@example.com").await;
    let first = link_token(&mail_containing(sys, "welcome to ToDo").await);
    let resend = || {
        sys.call(
            "POST",
            "/v1/users/me:resendVerification",
            Some(&token),
            Some(json!({})),
        )
    };
    assert_eq!(resend().await, (200, json!({})));
    let mails = next_mails(sys, 1).await;
    let mail = mail_to(&mails, "rosa@example.com");
    assert!(
        mail.contains("confirm that this is the e-mail address"),
        "{mail}"
    );
    let second = link_token(mail);
    assert_ne!(first, second);

    let (status, body) = verify(sys, &first).await;
    assert_eq!(status, 401, "the earlier link stopped working: {body}");
    let (status, body) = verify(sys, &second).await;
    assert_eq!(
        (status, &body["emailVerified"]),
        (200, &json!(true)),
        "{body}"
    );

    // Verified already: a clear refusal, and no e-mail.
    let (status, body) = resend().await;
    assert_eq!(
        (status, error_status(&body)),
        (400, "FAILED_PRECONDITION"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already verified")
    );
}

both_databases!(verification_and_address_change_emails_are_throttled_per_account);
async fn verification_and_address_change_emails_are_throttled_per_account(sys: &TestSystem) {
    let (_, token) = sys.signup("sam@example.com").await;
    let call = |path: &'static str, body: Value| sys.call("POST", path, Some(&token), Some(body));
    for _ in 0..5 {
        let (status, body) = call("/v1/users/me:resendVerification", json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = call("/v1/users/me:resendVerification", json!({})).await;
    assert_eq!(
        (status, error_status(&body)),
        (429, "RESOURCE_EXHAUSTED"),
        "{body}"
    );
    // One budget for both kinds of e-mail.
    let (status, body) = call(
        "/v1/users/me:changeEmail",
        json!({"newEmail": "sam.new@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, error_status(&body)),
        (429, "RESOURCE_EXHAUSTED"),
        "{body}"
    );
}

both_databases!(an_address_change_takes_effect_when_the_new_address_is_verified);
async fn an_address_change_takes_effect_when_the_new_address_is_verified(sys: &TestSystem) {
    let (_, token) = sys.signup("olga@example.com").await;
    mail_containing(sys, "welcome to ToDo").await;
    let (_, pair) = login_pair(sys, "olga@example.com", PASSWORD).await;
    let change = |token: &str, email: &str, password: &str| {
        let token = token.to_owned();
        let body = json!({"newEmail": email, "password": password});
        async move {
            sys.call("POST", "/v1/users/me:changeEmail", Some(&token), Some(body))
                .await
        }
    };
    let email_of = |token: &str| {
        let token = token.to_owned();
        async move {
            let (status, me) = sys.call("GET", "/v1/users/me", Some(&token), None).await;
            assert_eq!(status, 200, "{me}");
            me["email"].as_str().unwrap().to_owned()
        }
    };

    // A wrong password: refused as by the password change, nothing changed.
    let (status, body) = change(&token, "olga.new@example.com", "not my password").await;
    assert_eq!(
        (status, error_status(&body)),
        (403, "PERMISSION_DENIED"),
        "{body}"
    );
    let (status, body) = change(&token, "not an address", PASSWORD).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(email_of(&token).await, "olga@example.com");

    assert_eq!(
        change(&token, "Olga.New@Example.com", PASSWORD).await,
        (200, json!({}))
    );
    let mails = next_mails(sys, 2).await;
    let verification = mail_to(&mails, "Olga.New@example.com");
    let alert = mail_to(&mails, "olga@example.com");
    assert!(
        alert.contains("asked to change its e-mail address"),
        "{alert}"
    );
    assert!(!alert.contains("token="), "{alert}");
    let change_token = link_token(verification);
    // In the inbox too.
    eventually("the in-app security notice", || async {
        let (_, inbox) = sys
            .call("GET", "/v1/notifications", Some(&token), None)
            .await;
        inbox["notifications"].as_array().is_some_and(|all| {
            all.iter().any(|n| {
                n["kind"] == "SECURITY" && n["title"] == "Your e-mail address is being changed"
            })
        })
    })
    .await;
    // Nothing changes until the new address is verified.
    assert_eq!(email_of(&token).await, "olga@example.com");
    assert_eq!(login_pair(sys, "olga@example.com", PASSWORD).await.0, 200);

    let (status, user) = verify(sys, &change_token).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["email"], "Olga.New@example.com");
    assert_eq!(user["emailVerified"], true);
    assert_eq!(verify(sys, &change_token).await.0, 401, "single use");
    assert_eq!(email_of(&token).await, "Olga.New@example.com");
    assert_eq!(login_pair(sys, "olga@example.com", PASSWORD).await.0, 401);
    assert_eq!(
        login_pair(sys, "olga.new@example.com", PASSWORD).await.0,
        200
    );
    // Logins from before the change go on.
    assert_eq!(refresh(sys, &pair["refreshToken"]).await, 200);

    // An address in use is not revealed when the change is asked for, and
    // refused when its token is used.
    let (_, pat) = sys.signup("pat@example.com").await;
    mail_containing(sys, "welcome to ToDo").await;
    assert_eq!(
        change(&pat, "olga.new@example.com", PASSWORD).await,
        (200, json!({}))
    );
    let mails = next_mails(sys, 2).await;
    let taken = link_token(mail_to(&mails, "olga.new@example.com"));
    let (status, body) = verify(sys, &taken).await;
    assert_eq!(
        (status, error_status(&body)),
        (409, "ALREADY_EXISTS"),
        "{body}"
    );
    assert_eq!(email_of(&pat).await, "pat@example.com");
    assert_eq!(email_of(&token).await, "Olga.New@example.com");
}

both_databases!(registration_answers_the_same_for_new_and_registered_addresses);
async fn registration_answers_the_same_for_new_and_registered_addresses(sys: &TestSystem) {
    let register = |email: &str, password: &str, name: &str| {
        let body = json!({"email": email, "password": password, "displayName": name});
        async move { sys.call("POST", "/v1/users", None, Some(body)).await }
    };
    let new = register("uma@example.com", PASSWORD, "Uma").await;
    let mails = next_mails(sys, 1).await;
    let welcome = mail_to(&mails, "uma@example.com");
    assert!(welcome.contains("/verify-email?token="), "{welcome}");

    let again = register("UMA@example.com", NEW_PASSWORD, "<b>Mallory</b>").await;
    assert_eq!(new, again);
    assert_eq!(new, (200, json!({})));
    let mails = next_mails(sys, 1).await;
    let notice = mail_to(&mails, "uma@example.com");
    assert!(
        notice.contains("someone just tried to create a ToDo account with this e-mail address"),
        "{notice}"
    );
    assert!(!notice.contains("token="), "{notice}");
    assert!(!notice.contains("Mallory"), "{notice}");
    // However many try, the owner gets a few notices an hour, no more.
    for _ in 0..3 {
        assert_eq!(register("uma@example.com", PASSWORD, "Uma").await, new);
    }
    let mut user_db = sys.user_db().await;
    let counted: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM throttle_events WHERE bucket = 'signup_notice'")
            .fetch_one(&mut user_db)
            .await
            .unwrap();
    assert_eq!(counted, 3);
    eventually("the outbox relayed", || async {
        let mut db = sys.user_db().await;
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(&mut db)
            .await
            .unwrap();
        left == 0
    })
    .await;
    let mut notify_db = sys.db_of("notify").await;
    let notices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM emails WHERE template = ?")
        .bind(i64::from(i32::from(EmailTemplate::SignupAttempt)))
        .fetch_one(&mut notify_db)
        .await
        .unwrap();
    assert_eq!(notices, 3);
    // The account is untouched: the first password still logs in.
    assert_eq!(
        login_pair(sys, "uma@example.com", NEW_PASSWORD).await.0,
        401
    );
    assert_eq!(login_pair(sys, "uma@example.com", PASSWORD).await.0, 200);
    // Invalid input is still 400.
    let (status, body) = register("uma@example.com", "password1234", "Uma").await;
    assert_eq!((status, error_status(&body)), (400, "INVALID_ARGUMENT"));
    let (status, body) = register("not an address", PASSWORD, "Uma").await;
    assert_eq!((status, error_status(&body)), (400, "INVALID_ARGUMENT"));
}

both_databases!(a_spoofed_client_address_does_not_escape_the_throttle);
async fn a_spoofed_client_address_does_not_escape_the_throttle(sys: &TestSystem) {
    let mut grpc = user_grpc(sys).await;
    let bad = CreateUserRequest {
        email: "not an address".into(),
        ..CreateUserRequest::default()
    };
    // Straight to the user service, without the service credential: a new
    // address in `x-forwarded-for` each time counts as the same peer.
    for i in 0..20 {
        let err = grpc
            .create_user(spoofed(bad.clone(), &format!("198.51.100.{i}")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }
    let err = grpc
        .create_user(spoofed(bad.clone(), "198.51.100.200"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    // Through the edge, which presents the credential, the address it
    // settled on counts: another client is not throttled with this one.
    assert!(
        grpc.create_user(from_address(sys, bad, "198.51.100.201"))
            .await
            .is_err_and(|e| e.code() == tonic::Code::InvalidArgument)
    );
}

both_databases!(overlong_passwords_and_invisible_titles_say_why);
async fn overlong_passwords_and_invisible_titles_say_why(sys: &TestSystem) {
    let (status, body) = login_pair(sys, "vera@example.com", &"x".repeat(513)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["message"], "password: must be at most 512 bytes long",
        "{body}"
    );
    let (_, token) = sys.signup("vera@example.com").await;
    let (status, body) = sys
        .call(
            "POST",
            "/v1/tasks",
            Some(&token),
            Some(json!({"title": "\u{200B}\u{200D} \u{FEFF}"})),
        )
        .await;
    assert_eq!(
        (status, error_status(&body)),
        (400, "INVALID_ARGUMENT"),
        "{body}"
    );
    assert_eq!(
        body["error"]["details"][0]["fieldViolations"][0]["field"],
        "title"
    );
    let (status, body) = sys
        .call(
            "PATCH",
            "/v1/users/me",
            Some(&token),
            Some(json!({"displayName": "\u{200B}\u{2060}"})),
        )
        .await;
    assert_eq!(
        (status, error_status(&body)),
        (400, "INVALID_ARGUMENT"),
        "{body}"
    );
}

/// Waits until the clock has moved into the next whole second: access
/// tokens carry their issue time in seconds, and a token issued in the
/// same second as a credential change is not older than it.
async fn next_second() {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let start = now();
    eventually("the next second", || async move { now() > start }).await;
}

/// Whether every service answers `token` with `status`, waiting for the
/// task and notify services, which learn of a change through the outbox.
async fn everywhere(sys: &TestSystem, token: &str, status: u16) {
    for path in ["/v1/users/me", "/v1/tasks", "/v1/notifications"] {
        eventually(&format!("{path} answers {status}"), || async {
            sys.call("GET", path, Some(token), None).await.0 == status
        })
        .await;
    }
}

both_databases!(a_password_change_or_reset_refuses_older_access_tokens_at_once);
async fn a_password_change_or_reset_refuses_older_access_tokens_at_once(sys: &TestSystem) {
    sys.signup("wes@example.com").await;
    let (_, mine) = login_pair(sys, "wes@example.com", PASSWORD).await;
    let (_, other) = login_pair(sys, "wes@example.com", PASSWORD).await;
    let access = |pair: &Value| pair["accessToken"].as_str().unwrap().to_owned();
    everywhere(sys, &access(&other), 200).await;
    next_second().await;

    let (status, body) = sys
        .call(
            "POST",
            "/v1/users/me:changePassword",
            Some(&access(&mine)),
            Some(json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The user service refuses at once, from its own table.
    let (status, _) = sys
        .call("GET", "/v1/users/me", Some(&access(&other)), None)
        .await;
    assert_eq!(status, 401);
    everywhere(sys, &access(&other), 401).await;
    // The caller's own access token predates the change as well; its
    // login stays, so a refresh gives a token that works everywhere.
    everywhere(sys, &access(&mine), 401).await;
    let (status, renewed) = sys
        .call(
            "POST",
            "/v1/auth:refresh",
            None,
            Some(json!({"refreshToken": mine["refreshToken"]})),
        )
        .await;
    assert_eq!(status, 200, "{renewed}");
    everywhere(sys, &access(&renewed), 200).await;

    // A reset does the same, and keeps no login at all.
    let (_, before_reset) = login_pair(sys, "wes@example.com", NEW_PASSWORD).await;
    everywhere(sys, &access(&before_reset), 200).await;
    next_second().await;
    let (status, _) = sys
        .call(
            "POST",
            "/v1/auth:requestPasswordReset",
            None,
            Some(json!({"email": "wes@example.com"})),
        )
        .await;
    assert_eq!(status, 200);
    let reset = link_token(&mail_containing(sys, "/reset-password?token=").await);
    let (status, body) = sys
        .call(
            "POST",
            "/v1/auth:resetPassword",
            None,
            Some(json!({"token": reset, "newPassword": "amber falcon drifts over hills"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    everywhere(sys, &access(&before_reset), 401).await;
    everywhere(sys, &access(&renewed), 401).await;
    let (status, after) =
        login_pair(sys, "wes@example.com", "amber falcon drifts over hills").await;
    assert_eq!(status, 200);
    everywhere(sys, &access(&after), 200).await;
}

/// Builds (and drops) a user service with `config`: what a start-up does to
/// the database and the keys.
async fn start_user(config: todo_user::Config) -> anyhow::Result<()> {
    let listener = todo_common::grpc::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    todo_user::build(config, listener).await.map(drop)
}

both_databases!(the_signing_key_is_encrypted_at_rest);
async fn the_signing_key_is_encrypted_at_rest(sys: &TestSystem) {
    // The running system's key is sealed, and signs tokens that verify.
    let mut db = sys.user_db().await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT private_pem FROM signing_keys")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].starts_with("enc:v1:"), "{}", stored[0]);
    assert!(!stored[0].contains("PRIVATE KEY"));
    sys.signup("xena@example.com").await;

    let mut config = sys.config.user.clone();
    config.notify_url = format!("http://{}", sys.addr.notify);
    config.task_url = format!("http://{}", sys.addr.task);
    // A wrong key-encryption key stops the start, saying why.
    let mut wrong = config.clone();
    wrong.key_encryption_key = Some(support::random_kek());
    let err = format!("{:#}", start_user(wrong).await.unwrap_err());
    assert!(
        err.contains("is not the one it was encrypted with"),
        "{err}"
    );
    // So does none: the key is sealed (and MySQL wants one anyway).
    let mut none = config.clone();
    none.key_encryption_key = None;
    let err = format!("{:#}", start_user(none).await.unwrap_err());
    assert!(err.contains("TODO_KEY_ENCRYPTION_KEY"), "{err}");

    // A database whose key was stored in plain text (without a KEK: on
    // MySQL only when explicitly allowed) gets it sealed at the next start.
    let dir = tempfile::tempdir().unwrap();
    let (url, schema) = if config.db.url.starts_with("sqlite:") {
        (format!("sqlite://{}/legacy.db", dir.path().display()), None)
    } else {
        let schema = format!("todo_t_{}_legacy", uuid::Uuid::new_v4().simple());
        support::create_schemas(std::slice::from_ref(&schema)).await;
        let server = support::mysql_server().unwrap();
        (
            format!("{}/{schema}", server.trim_end_matches('/')),
            Some(schema),
        )
    };
    let mut legacy = config.clone();
    legacy.db.url.clone_from(&url);
    legacy.key_encryption_key = None;
    if schema.is_some() {
        let err = format!("{:#}", start_user(legacy.clone()).await.unwrap_err());
        assert!(
            err.contains("refusing to store the token signing key in plain text"),
            "{err}"
        );
        legacy.allow_plaintext_keys = true;
    }
    start_user(legacy.clone()).await.unwrap();
    let key = |url: String| async move {
        let mut db = support::connect(&url).await;
        let row = sqlx::query("SELECT kid, private_pem FROM signing_keys")
            .fetch_one(&mut db)
            .await
            .unwrap();
        let kid: String = row.try_get("kid").unwrap();
        let pem: String = row.try_get("private_pem").unwrap();
        (kid, pem)
    };
    let (kid, plain) = key(url.clone()).await;
    assert!(plain.starts_with("-----BEGIN PRIVATE KEY-----"));
    legacy
        .key_encryption_key
        .clone_from(&config.key_encryption_key);
    legacy.allow_plaintext_keys = false;
    start_user(legacy.clone()).await.unwrap();
    let (same_kid, sealed) = key(url.clone()).await;
    assert_eq!(same_kid, kid);
    assert!(sealed.starts_with("enc:v1:") && !sealed.contains("PRIVATE KEY"));
    // And it opens on every later start.
    start_user(legacy).await.unwrap();
    if let Some(schema) = schema {
        support::drop_schemas(&[schema]).await;
    }
}
