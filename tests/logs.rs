//! Nothing secret reaches the log, at any level: the platform runs as its
//! real binary with `TODO_LOG=trace`, goes through every flow that handles
//! a password or a token, and its whole log is then searched for each
//! password, token, stored hash and key it saw.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::process::{self, Platform};
use support::{decoded, link_token, smtp};

const WAIT: Duration = Duration::from_secs(30);

fn pair(body: &Value) -> (String, String) {
    let field = |k: &str| body[k].as_str().expect("a token pair").to_owned();
    (field("accessToken"), field("refreshToken"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_token_hash_or_key_is_ever_logged() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = smtp::Listener::start().await;
    let user_db = format!("sqlite://{}/user.db", dir.path().display());
    let task_db = format!("sqlite://{}/task.db", dir.path().display());
    let notify_db = format!("sqlite://{}/notify.db", dir.path().display());
    let env = process::settings([&user_db, &task_db, &notify_db], smtp.addr, "trace");
    let app = Platform::launch(&env, dir.path()).await;
    let internal_token = &env
        .iter()
        .find(|(k, _)| k == "TODO_INTERNAL_TOKEN")
        .unwrap()
        .1;
    let key_encryption_key = &env
        .iter()
        .find(|(k, _)| k == "TODO_KEY_ENCRYPTION_KEY")
        .unwrap()
        .1;
    let mut secrets: Vec<String> = vec![internal_token.clone(), key_encryption_key.clone()];
    let passwords = [
        "first passphrase of lena",
        "wrong passphrase of lena",
        "second passphrase of lena",
        "third passphrase of lena",
    ];
    secrets.extend(passwords.iter().map(|p| (*p).to_owned()));
    let [first, wrong, second, third] = passwords;

    let (status, body) = app
        .call(
            "POST",
            "/v1/users",
            None,
            Some(json!({"email": "lena@example.com", "password": first, "displayName": "Lena"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let verify = link_token(&decoded(&smtp.next_containing("token=", WAIT).await.data));
    let (status, _) = app
        .call(
            "POST",
            "/v1/auth:verifyEmail",
            None,
            Some(json!({"token": verify})),
        )
        .await;
    assert_eq!(status, 200);
    secrets.push(verify);

    let login = |password: &'static str| {
        app.call(
            "POST",
            "/v1/auth:login",
            None,
            Some(json!({"email": "lena@example.com", "password": password})),
        )
    };
    assert_eq!(login(wrong).await.0, 401);
    let (status, body) = login(first).await;
    assert_eq!(status, 200, "{body}");
    let (access, refresh) = pair(&body);
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth:refresh",
            None,
            Some(json!({"refreshToken": refresh})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (access2, refresh2) = pair(&body);
    secrets.extend([access, refresh, access2.clone(), refresh2]);
    let (status, body) = app
        .call(
            "POST",
            "/v1/tasks",
            Some(&access2),
            Some(json!({"title": "a task"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, _) = app
        .call(
            "POST",
            "/v1/auth:requestPasswordReset",
            None,
            Some(json!({"email": "lena@example.com"})),
        )
        .await;
    assert_eq!(status, 200);
    let reset = link_token(&decoded(
        &smtp
            .next_containing("/reset-password?token=", WAIT)
            .await
            .data,
    ));
    let (status, body) = app
        .call(
            "POST",
            "/v1/auth:resetPassword",
            None,
            Some(json!({"token": reset, "newPassword": second})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    secrets.push(reset);
    let (status, body) = login(second).await;
    assert_eq!(status, 200, "{body}");
    let (access3, refresh3) = pair(&body);
    let (status, body) = app
        .call(
            "POST",
            "/v1/users/me:changePassword",
            Some(&access3),
            Some(json!({"currentPassword": second, "newPassword": third})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app
        .call(
            "POST",
            "/v1/auth:logout",
            None,
            Some(json!({"refreshToken": refresh3})),
        )
        .await;
    assert_eq!(status, 200);
    secrets.extend([access3, refresh3]);

    // What the user service stored: password hashes, token digests and
    // the signing key.
    let mut db = support::connect(&user_db).await;
    for query in [
        "SELECT password_hash FROM users",
        "SELECT token_hash FROM refresh_tokens",
        "SELECT token_hash FROM email_tokens",
    ] {
        let stored: Vec<String> = sqlx::query_scalar(query).fetch_all(&mut db).await.unwrap();
        assert!(!stored.is_empty(), "{query}");
        secrets.extend(stored);
    }
    let pem: String = sqlx::query_scalar("SELECT private_pem FROM signing_keys")
        .fetch_one(&mut db)
        .await
        .unwrap();
    // Sealed at rest: one line, secret as a whole.
    assert!(
        pem.starts_with("enc:v1:"),
        "the signing key is stored in plain text"
    );
    secrets.push(pem);
    let log_path = app.log.clone();
    app.crash();

    let log = std::fs::read_to_string(&log_path).unwrap();
    // The log is there and detailed, so its silence on secrets means
    // something.
    assert!(log.contains("user registered"), "no application log");
    assert!(log.contains("TRACE"), "no trace-level log");
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret is in the log ({} characters, starting {:?})",
            secret.len(),
            secret.chars().take(6).collect::<String>()
        );
    }
}
