//! The web app through a browser's eyes: plain HTTP with a cookie store
//! against the whole platform in-process, e-mail through a real SMTP
//! listener.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::json;
use sqlx::Row;
use support::{Db, TestSystem, decoded, eventually};

const PASSWORD: &str = "a long enough secret";

/// A browser: a cookie store, no JavaScript, and the CSRF token of the
/// last page that had forms.
struct Browser {
    http: reqwest::Client,
    base: String,
    csrf: String,
}

/// What a request ended on (after redirects).
struct Page {
    status: u16,
    path: String,
    html: String,
}

impl Browser {
    fn new(system: &TestSystem) -> Self {
        Self::with_language(system, "en")
    }

    fn with_language(system: &TestSystem, accept_language: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT_LANGUAGE,
            accept_language.parse().unwrap(),
        );
        Self {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .default_headers(headers)
                .build()
                .unwrap(),
            base: system.url(""),
            csrf: String::new(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        self.page(response).await
    }

    /// Submits a form with this browser's CSRF token.
    async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut fields = fields.to_vec();
        let csrf = self.csrf.clone();
        fields.push(("csrf", &csrf));
        self.post_raw(path, &fields).await
    }

    /// Posts exactly `fields`, token or not.
    async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap();
        self.page(response).await
    }

    async fn page(&mut self, response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let path = response.url().path().to_owned();
        let html = response.text().await.unwrap();
        if let Some(token) = attribute_after(&html, "name=\"csrf\" value=\"") {
            self.csrf = token;
        }
        Page { status, path, html }
    }
}

/// The text after `marker` up to the next quote.
fn attribute_after(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    Some(html[start..].chars().take_while(|c| *c != '"').collect())
}

/// The ids of the tasks listed on a tasks page, in order.
fn task_ids(html: &str) -> Vec<String> {
    html.match_indices("action=\"/tasks/")
        .filter_map(|(at, m)| {
            let rest = &html[at + m.len()..];
            let id: String = rest.chars().take_while(|c| *c != '/').collect();
            rest[id.len()..].starts_with("/done").then_some(id)
        })
        .collect()
}

/// The unread count in the page header.
fn unread_badge(html: &str) -> String {
    let start = html
        .find("id=\"unread\"")
        .expect("no unread count in the header");
    let rest = &html[start..];
    let open = rest.find('>').unwrap() + 1;
    rest[open..].chars().take_while(|c| *c != '<').collect()
}

/// Signs up through the pages and follows the real e-mail's link to
/// verify the address; the browser is signed in at the end.
async fn sign_up_verified(system: &TestSystem, browser: &mut Browser, email: &str) {
    browser.get("/sign-up").await;
    let page = browser
        .submit(
            "/sign-up",
            &[
                ("displayName", "Tess"),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("Check your e-mail"), "{}", page.html);

    let mail = system
        .smtp
        .next_containing(email, Duration::from_secs(30))
        .await;
    let text = decoded(&mail.data);
    let link_start = text
        .find("http://todo.test/")
        .expect("no link in the e-mail");
    let link: String = text[link_start + "http://todo.test".len()..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(link.starts_with("/verify-email?token="), "{link}");
    // Following the link changes nothing by itself: it shows a button.
    let page = browser.get(&link).await;
    assert_eq!(page.status, 200);
    let token = attribute_after(&page.html, "name=\"token\" value=\"").unwrap();
    let page = browser.submit("/verify-email", &[("token", &token)]).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("is confirmed"), "{}", page.html);

    browser.get("/sign-in").await;
    let page = browser
        .submit("/sign-in", &[("email", email), ("password", PASSWORD)])
        .await;
    assert_eq!(
        (page.status, page.path.as_str()),
        (200, "/tasks"),
        "{}",
        page.html
    );
}

#[tokio::test]
async fn a_person_signs_up_verifies_signs_in_and_manages_tasks() {
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let mut browser = Browser::new(&system);
    sign_up_verified(&system, &mut browser, "tess@example.com").await;

    let page = browser.get("/settings").await;
    assert!(page.html.contains("(confirmed)"), "{}", page.html);

    // Create.
    browser.get("/tasks").await;
    let page = browser
        .submit(
            "/tasks",
            &[
                ("title", "Water the plants"),
                ("description", "The ones on the balcony"),
                ("priority", "3"),
                ("labels", "home, garden"),
                ("dueTime", "2030-01-15T09:00"),
            ],
        )
        .await;
    assert_eq!((page.status, page.path.as_str()), (200, "/tasks"));
    assert!(page.html.contains("Water the plants"));
    // No time zone set: UTC.
    assert!(
        page.html
            .contains("<time datetime=\"2030-01-15T09:00:00Z\">2030-01-15 09:00</time>"),
        "{}",
        page.html
    );
    assert!(page.html.contains(">garden</a>"));
    let ids = task_ids(&page.html);
    assert_eq!(ids.len(), 1, "{}", page.html);
    let id = &ids[0];

    // Edit: the form holds the task's values; saving changes them.
    let page = browser.get(&format!("/tasks/{id}/edit")).await;
    assert!(page.html.contains("value=\"Water the plants\""));
    assert!(page.html.contains("value=\"home, garden\""));
    let page = browser
        .submit(
            &format!("/tasks/{id}/edit"),
            &[
                ("title", "Water the herbs"),
                ("description", ""),
                ("priority", "4"),
                ("labels", "home"),
                ("dueTime", ""),
            ],
        )
        .await;
    assert_eq!((page.status, page.path.as_str()), (200, "/tasks"));
    assert!(page.html.contains("Water the herbs"));
    assert!(!page.html.contains("Water the plants"));
    assert!(page.html.contains("Urgent"));

    // Tick off: gone from the open tasks, among the done ones; and back.
    let page = browser
        .submit(&format!("/tasks/{id}/done"), &[("done", "true")])
        .await;
    assert!(task_ids(&page.html).is_empty(), "{}", page.html);
    let page = browser.get("/tasks?show=done").await;
    assert_eq!(task_ids(&page.html), vec![id.clone()]);
    browser
        .submit(&format!("/tasks/{id}/done"), &[("done", "false")])
        .await;
    let page = browser.get("/tasks").await;
    assert_eq!(task_ids(&page.html), vec![id.clone()]);

    // The label filter.
    let page = browser.get("/tasks?show=all&label=garden").await;
    assert!(task_ids(&page.html).is_empty());

    // Delete.
    let page = browser.submit(&format!("/tasks/{id}/delete"), &[]).await;
    assert_eq!(page.path, "/tasks");
    let page = browser.get("/tasks?show=all").await;
    assert!(task_ids(&page.html).is_empty());
    system.stop().await;
}

#[tokio::test]
async fn the_inbox_shows_the_unread_count_and_marks_read() {
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let mut browser = Browser::new(&system);
    sign_up_verified(&system, &mut browser, "ina@example.com").await;

    // The welcome notification is written in the background.
    let http = browser.http.clone();
    let url = system.url("/inbox");
    eventually("the welcome notification", || {
        let http = http.clone();
        let url = url.clone();
        async move {
            let html = http.get(&url).send().await.unwrap().text().await.unwrap();
            unread_badge(&html) == "1"
        }
    })
    .await;
    let page = browser.get("/inbox").await;
    assert!(page.html.contains("Mark as read"));
    let page = browser.submit("/inbox/read-all", &[]).await;
    assert_eq!(page.path, "/inbox");
    assert_eq!(unread_badge(&page.html), "0");
    assert!(!page.html.contains("Mark as read"));
    system.stop().await;
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused_and_writes_nothing() {
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let mut browser = Browser::new(&system);
    sign_up_verified(&system, &mut browser, "cat@example.com").await;

    let page = browser.post_raw("/tasks", &[("title", "Forged")]).await;
    assert_eq!(page.status, 403, "{}", page.html);
    let page = browser
        .post_raw("/tasks", &[("title", "Forged"), ("csrf", "00ff")])
        .await;
    assert_eq!(page.status, 403);
    // Nor may an anonymous browser sign up without one.
    let mut stranger = Browser::new(&system);
    let page = stranger
        .post_raw(
            "/sign-up",
            &[
                ("displayName", "X"),
                ("email", "x@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 403);

    let page = browser.get("/tasks?show=all").await;
    assert!(task_ids(&page.html).is_empty(), "{}", page.html);
    let mut db = system.db_of("task").await;
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM tasks")
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get("n");
    assert_eq!(count, 0);
    let mut db = system.user_db().await;
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get("n");
    assert_eq!(count, 1);
    system.stop().await;
}

#[tokio::test]
async fn a_field_error_appears_next_to_the_field_with_the_input_kept() {
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let mut browser = Browser::new(&system);
    browser.get("/sign-up").await;
    let page = browser
        .submit(
            "/sign-up",
            &[
                ("displayName", "Fred"),
                ("email", "fred@example.com"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.html);
    let field = page.html.find("id=\"password\"").unwrap();
    let error = page
        .html
        .find("id=\"password-error\"")
        .expect("no error for the password");
    let next_field = page.html[field..]
        .find("<label")
        .map_or(usize::MAX, |at| at + field);
    assert!(
        field < error && error < next_field,
        "the error is not next to its field"
    );
    assert!(page.html.contains("aria-describedby=\"password-error\""));
    assert!(page.html.contains("value=\"fred@example.com\""));
    assert!(page.html.contains("value=\"Fred\""));
    // The password typed is never sent back.
    assert!(!page.html.contains("value=\"short\""));

    sign_up_verified(&system, &mut browser, "fred@example.com").await;
    let page = browser
        .submit(
            "/tasks",
            &[
                ("title", ""),
                ("description", "kept"),
                ("dueTime", "tomorrow"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.html.contains("id=\"dueTime-error\""), "{}", page.html);
    assert!(page.html.contains(">kept</textarea>"));
    assert!(page.html.contains("value=\"tomorrow\""));
    system.stop().await;
}

#[tokio::test]
async fn pages_are_german_for_german_browsers() {
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let mut browser = Browser::with_language(&system, "de-DE,de;q=0.9,en;q=0.8");
    let page = browser.get("/").await;
    assert!(page.html.contains("<html lang=\"de\">"));
    assert!(page.html.contains("Anmelden"));
    assert!(page.html.contains("Registrieren"));
    // A service's field errors are German too.
    browser.get("/sign-up").await;
    let page = browser
        .submit(
            "/sign-up",
            &[
                ("displayName", &"G".repeat(101)),
                ("email", "greta@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.html.contains(">muss 1 bis 100 Zeichen lang sein</p>"),
        "{}",
        page.html
    );
    assert!(!page.html.contains("characters long"), "{}", page.html);
    let page = browser
        .submit(
            "/sign-up",
            &[
                ("displayName", "Greta"),
                ("email", "greta@example.com"),
                ("password", "passwortpasswort"),
            ],
        )
        .await;
    assert!(
        page.html.contains(
            ">ist zu leicht zu erraten. Nimm mehrere Wörter oder ein längeres Passwort.</p>"
        ),
        "{}",
        page.html
    );
    // The footer's switch outranks the header.
    let page = browser
        .submit("/language", &[("lang", "en"), ("back", "/sign-in")])
        .await;
    assert_eq!(page.path, "/sign-in");
    assert!(page.html.contains("<html lang=\"en\">"));
    system.stop().await;
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_the_api_still_answers() {
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let response = system
        .http
        .get(system.url("/sign-in"))
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(
        header("content-security-policy"),
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "same-origin");
    let cookie = header("set-cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    for (path, kind) in [
        ("/static/app.css", "text/css"),
        ("/static/app.js", "text/javascript"),
    ] {
        let asset = system.http.get(system.url(path)).send().await.unwrap();
        assert_eq!(asset.status(), 200, "{path}");
        let header = |name: &str| asset.headers()[name].to_str().unwrap().to_owned();
        assert!(header("content-type").starts_with(kind), "{path}");
        assert_eq!(header("cache-control"), "public, max-age=3600", "{path}");
    }
    for path in ["/healthz", "/openapi.json", "/.well-known/jwks.json"] {
        let status = system
            .http
            .get(system.url(path))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{path}");
    }
    let (status, _) = system.call("GET", "/v1/tasks", None, None).await;
    assert_eq!(status, 401);
    system.stop().await;
}

#[tokio::test]
async fn signing_out_revokes_the_refresh_token() {
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let mut browser = Browser::new(&system);
    sign_up_verified(&system, &mut browser, "otto@example.com").await;
    let live = || async {
        let mut db = system.user_db().await;
        sqlx::query(
            "SELECT COUNT(*) AS n FROM refresh_tokens \
             WHERE revoke_time IS NULL AND spent_time IS NULL",
        )
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get::<i64, _>("n")
    };
    assert_eq!(live().await, 1);
    let page = browser.submit("/sign-out", &[]).await;
    assert_eq!(page.path, "/");
    assert_eq!(live().await, 0);
    let page = browser.get("/tasks").await;
    assert_eq!(page.path, "/sign-in");
    system.stop().await;
}

#[tokio::test]
async fn settings_change_the_profile_the_password_and_delete_the_account() {
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let mut browser = Browser::new(&system);
    sign_up_verified(&system, &mut browser, "sam@example.com").await;

    let page = browser.get("/settings").await;
    assert!(page.html.contains("<option>Europe/Berlin</option>"));
    let page = browser
        .submit(
            "/settings",
            &[("displayName", "Samira"), ("timeZone", "Europe/Berlin")],
        )
        .await;
    assert_eq!((page.status, page.path.as_str()), (200, "/settings"));
    assert!(page.html.contains("value=\"Samira\""));
    assert!(
        page.html
            .contains("<option selected>Europe/Berlin</option>")
    );
    // The reminders checkbox was left unticked.
    assert!(!page.html.contains("checked"));

    // The daily digest: off, at 08:00, for a new user. A malformed time is
    // shown at its field, as typed, and turns nothing on.
    assert!(
        page.html
            .contains("id=\"localTime\" name=\"localTime\" type=\"time\" value=\"08:00\""),
        "{}",
        page.html
    );
    let digest = |time: &'static str| {
        [
            ("displayName", "Samira"),
            ("timeZone", "Europe/Berlin"),
            ("dailyDigest", "on"),
            ("localTime", time),
        ]
    };
    let page = browser.submit("/settings", &digest("25:00")).await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(
        page.html.contains(
            "value=\"25:00\" autocomplete=\"off\" aria-invalid=\"true\" aria-describedby=\"localTime-error\""
        ),
        "{}",
        page.html
    );
    assert!(page.html.contains("id=\"localTime-error\""));
    let page = browser.get("/settings").await;
    assert!(!page.html.contains("checked"), "{}", page.html);
    assert!(page.html.contains("value=\"08:00\""));
    let page = browser.submit("/settings", &digest("07:30")).await;
    assert_eq!((page.status, page.path.as_str()), (200, "/settings"));
    assert!(
        page.html
            .contains("name=\"dailyDigest\" type=\"checkbox\" checked")
    );
    assert!(page.html.contains("value=\"07:30\""));

    // A wrong current password is shown on the form and changes nothing.
    let page = browser
        .submit(
            "/settings/password",
            &[
                ("currentPassword", "not the password"),
                ("newPassword", "another long secret"),
            ],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.html.contains("The password is wrong."),
        "{}",
        page.html
    );
    let page = browser
        .submit(
            "/settings/password",
            &[
                ("currentPassword", PASSWORD),
                ("newPassword", "another long secret"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    // The change ends the session; the new password signs in.
    assert_eq!(browser.get("/tasks").await.path, "/sign-in");
    let page = browser
        .submit(
            "/sign-in",
            &[
                ("email", "sam@example.com"),
                ("password", "another long secret"),
            ],
        )
        .await;
    assert_eq!(page.path, "/tasks");

    browser.get("/settings").await;
    let page = browser
        .submit("/settings/delete", &[("password", "another long secret")])
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("Your account is deleted."));
    let mut db = system.user_db().await;
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get("n");
    assert_eq!(count, 0);
    system.stop().await;
}

#[tokio::test]
async fn a_forgotten_password_is_reset_from_the_e_mail_link() {
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let mut browser = Browser::new(&system);
    sign_up_verified(&system, &mut browser, "rita@example.com").await;
    browser.submit("/sign-out", &[]).await;

    browser.get("/forgot-password").await;
    let page = browser
        .submit("/forgot-password", &[("email", "rita@example.com")])
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    let mail = system
        .smtp
        .next_containing("/reset-password?token=", Duration::from_secs(30))
        .await;
    let text = decoded(&mail.data);
    let start = text.find("/reset-password?token=").unwrap();
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let page = browser.get(&link).await;
    assert_eq!(page.status, 200);
    let token = attribute_after(&page.html, "name=\"token\" value=\"").unwrap();
    let page = browser
        .submit(
            "/reset-password",
            &[("token", &token), ("newPassword", "short")],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(
        page.html.contains("id=\"newPassword-error\""),
        "{}",
        page.html
    );
    let page = browser
        .submit(
            "/reset-password",
            &[("token", &token), ("newPassword", "a brand new secret")],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    browser.get("/sign-in").await;
    let page = browser
        .submit(
            "/sign-in",
            &[
                ("email", "rita@example.com"),
                ("password", "a brand new secret"),
            ],
        )
        .await;
    assert_eq!(page.path, "/tasks");
    system.stop().await;
}

/// The id in a path of the form `/lists/{id}`.
fn list_id_of(path: &str) -> String {
    path.strip_prefix("/lists/")
        .expect("not a list's page")
        .to_owned()
}

/// The ids the forms of `prefix…/{id}/{action}` name, in page order.
fn form_ids(html: &str, prefix: &str, action: &str) -> Vec<String> {
    let marker = format!("action=\"{prefix}");
    html.match_indices(&marker)
        .filter_map(|(at, m)| {
            let rest = &html[at + m.len()..];
            let id: String = rest.chars().take_while(|c| *c != '/').collect();
            rest[id.len()..]
                .starts_with(&format!("/{action}\""))
                .then_some(id)
        })
        .collect()
}

/// Signs up `email` in a fresh browser, verified and signed in.
async fn person(system: &TestSystem, email: &str) -> Browser {
    let mut browser = Browser::new(system);
    sign_up_verified(system, &mut browser, email).await;
    browser
}

/// A new list made through the lists page; its id.
async fn new_list(browser: &mut Browser, title: &str) -> String {
    browser.get("/lists").await;
    let page = browser
        .submit("/lists", &[("title", title), ("color", "#00aa00")])
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    list_id_of(&page.path)
}

/// A system with one person, signed in, who has made list `title`.
async fn with_a_list(email: &str, title: &str) -> (TestSystem, Browser, String) {
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let mut browser = person(&system, email).await;
    let list = new_list(&mut browser, title).await;
    (system, browser, list)
}

/// A new task in list `list`; its id.
async fn new_task(browser: &mut Browser, list: &str, title: &str) -> String {
    let page = browser
        .submit(&format!("/lists/{list}/tasks"), &[("title", title)])
        .await;
    assert_eq!(
        (page.status, page.path.clone()),
        (200, format!("/lists/{list}")),
        "{}",
        page.html
    );
    task_ids(&page.html)
        .pop()
        .expect("the new task is not listed")
}

/// `owner` invites `email` to `list` as `role`, and the invitee accepts on
/// the invitations page.
async fn share(owner: &mut Browser, invitee: &mut Browser, list: &str, email: &str, role: &str) {
    let page = invitee.get("/lists").await;
    assert!(!page.html.contains(&format!("href=\"/lists/{list}\"")));
    owner.get(&format!("/lists/{list}/members")).await;
    let page = owner
        .submit(
            &format!("/lists/{list}/members/invite"),
            &[("email", email), ("role", role)],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("The invitation is on its way"));

    let page = invitee.get("/invitations").await;
    let invitations = form_ids(&page.html, "/invitations/", "accept");
    assert_eq!(invitations.len(), 1, "{}", page.html);
    // Every page's header counts the pending invitation.
    assert!(
        page.html
            .contains("id=\"pending-invitations\" aria-label=\"Pending invitations\">1</span>"),
        "{}",
        page.html
    );
    let page = invitee
        .submit(&format!("/invitations/{}/accept", invitations[0]), &[])
        .await;
    assert_eq!(
        (page.status, page.path.clone()),
        (200, format!("/lists/{list}")),
        "{}",
        page.html
    );
    assert!(!page.html.contains("pending-invitations"), "{}", page.html);
}

/// An owner's list with one task ("Look only"), shared with a second
/// person as `role`, who has accepted.
struct Shared {
    system: TestSystem,
    owner: Browser,
    guest: Browser,
    list: String,
    task: String,
}

impl Shared {
    async fn start(title: &str, role: &str) -> Self {
        let system = TestSystem::start(Db::Sqlite).await.unwrap();
        let mut owner = person(&system, "olga@example.com").await;
        let mut guest = person(&system, "gus@example.com").await;
        let list = new_list(&mut owner, title).await;
        let task = new_task(&mut owner, &list, "Look only").await;
        share(&mut owner, &mut guest, &list, "gus@example.com", role).await;
        Self {
            system,
            owner,
            guest,
            list,
            task,
        }
    }
}

#[tokio::test]
async fn a_list_is_created_on_the_lists_page_and_holds_its_own_tasks() {
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let mut browser = person(&system, "lena@example.com").await;

    let page = browser.get("/lists").await;
    assert!(page.html.contains(">Inbox</a>"), "{}", page.html);
    // A bad colour is shown next to its field, the title kept.
    let page = browser
        .submit("/lists", &[("title", "Groceries"), ("color", "green")])
        .await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(page.html.contains("id=\"color-error\""), "{}", page.html);
    assert!(page.html.contains("value=\"Groceries\""));

    let list = new_list(&mut browser, "Groceries").await;
    let page = browser.get("/lists").await;
    let inbox = page.html.find(">Inbox</a>").unwrap();
    let groceries = page.html.find(">Groceries</a>").unwrap();
    assert!(inbox < groceries, "the default list is not first");
    assert!(page.html.contains("Owner"));

    let milk = new_task(&mut browser, &list, "Milk").await;
    let page = browser.get(&format!("/lists/{list}")).await;
    assert_eq!(task_ids(&page.html), vec![milk]);
    assert!(page.html.contains("<h1>Groceries</h1>"));
    // Not in the default list, which `/tasks` shows.
    let page = browser.get("/tasks").await;
    assert!(task_ids(&page.html).is_empty(), "{}", page.html);
    system.stop().await;
}

#[tokio::test]
async fn an_invited_person_accepts_on_the_invitations_page_and_sees_the_list() {
    let Shared {
        system,
        mut owner,
        mut guest,
        list,
        task,
    } = Shared::start("Trip", "EDITOR").await;

    let page = guest.get(&format!("/lists/{list}")).await;
    assert_eq!(task_ids(&page.html), vec![task]);
    let page = guest.get("/lists").await;
    assert!(page.html.contains(">Trip</a>"), "{}", page.html);
    assert!(page.html.contains("Editor"));
    let page = guest.get("/invitations").await;
    assert!(page.html.contains("No pending invitations."));
    let page = owner.get(&format!("/lists/{list}")).await;
    assert!(page.html.contains("2 members"), "{}", page.html);
    system.stop().await;
}

#[tokio::test]
async fn a_viewer_gets_no_write_controls_and_a_forged_post_changes_nothing() {
    let Shared {
        system,
        mut owner,
        guest: mut viewer,
        list,
        task,
    } = Shared::start("Read only", "VIEWER").await;

    let page = viewer.get(&format!("/lists/{list}")).await;
    assert!(page.html.contains("Look only"), "{}", page.html);
    assert!(page.html.contains("You can read this list"));
    assert!(!page.html.contains("action=\"/tasks/"), "{}", page.html);
    assert!(
        !page
            .html
            .contains(&format!("action=\"/lists/{list}/tasks\""))
    );

    // The forms a viewer does not get, posted anyway.
    let page = viewer
        .submit(&format!("/lists/{list}/tasks"), &[("title", "Forged")])
        .await;
    assert_eq!(page.status, 403, "{}", page.html);
    assert!(page.html.contains("You may not do that."));
    let page = viewer
        .submit(&format!("/tasks/{task}/done"), &[("done", "true")])
        .await;
    assert_eq!(page.status, 403, "{}", page.html);
    let page = viewer.submit(&format!("/tasks/{task}/delete"), &[]).await;
    assert_eq!(page.status, 403, "{}", page.html);
    let page = viewer
        .submit(&format!("/lists/{list}/settings"), &[("title", "Mine now")])
        .await;
    assert_eq!(page.status, 403, "{}", page.html);

    let page = owner.get(&format!("/lists/{list}")).await;
    assert_eq!(task_ids(&page.html), vec![task]);
    assert!(page.html.contains("<h1>Read only</h1>"));
    assert!(!page.html.contains("Forged"));
    system.stop().await;
}

#[tokio::test]
async fn up_and_down_buttons_reorder_the_tasks() {
    let (system, mut browser, list) = with_a_list("ora@example.com", "Order").await;
    let a = new_task(&mut browser, &list, "A").await;
    let b = new_task(&mut browser, &list, "B").await;
    let c = new_task(&mut browser, &list, "C").await;
    let back = format!("/lists/{list}");
    let mut press = async |id: &str, direction: &str| {
        let page = browser
            .submit(
                &format!("/tasks/{id}/move"),
                &[("direction", direction), ("back", &back)],
            )
            .await;
        assert_eq!(page.path, back, "{}", page.html);
        task_ids(&page.html)
    };
    assert_eq!(press(&c, "up").await, vec![a.clone(), c.clone(), b.clone()]);
    assert_eq!(press(&c, "up").await, vec![c.clone(), a.clone(), b.clone()]);
    // The first stays first.
    assert_eq!(press(&c, "up").await, vec![c.clone(), a.clone(), b.clone()]);
    assert_eq!(
        press(&c, "down").await,
        vec![a.clone(), c.clone(), b.clone()]
    );
    assert_eq!(
        press(&a, "down").await,
        vec![c.clone(), a.clone(), b.clone()]
    );
    // The last stays last.
    assert_eq!(press(&b, "down").await, vec![c, a, b]);
    system.stop().await;
}

#[tokio::test]
async fn a_drop_places_the_task_after_the_sibling_it_names() {
    let (system, mut browser, list) = with_a_list("dora@example.com", "Drops").await;
    let a = new_task(&mut browser, &list, "A").await;
    let b = new_task(&mut browser, &list, "B").await;
    let c = new_task(&mut browser, &list, "C").await;
    let back = format!("/lists/{list}");
    // What static/app.js posts: the row's order form with `after`.
    let mut drop = async |id: &str, after: &str| {
        let page = browser
            .submit(
                &format!("/tasks/{id}/move"),
                &[("after", after), ("back", &back)],
            )
            .await;
        assert_eq!((page.status, &page.path), (200, &back), "{}", page.html);
        task_ids(&page.html)
    };
    assert_eq!(drop(&c, &a).await, vec![a.clone(), c.clone(), b.clone()]);
    assert_eq!(
        drop(&b, "first").await,
        vec![b.clone(), a.clone(), c.clone()]
    );
    assert_eq!(drop(&b, &c).await, vec![a.clone(), c.clone(), b.clone()]);
    // A task that is no sibling is refused, and the order stays.
    let other = new_list(&mut browser, "Elsewhere").await;
    let stranger = new_task(&mut browser, &other, "Elsewhere").await;
    let page = browser
        .submit(
            &format!("/tasks/{a}/move"),
            &[("after", &stranger), ("back", &back)],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.html);
    let page = browser.get(&back).await;
    assert_eq!(task_ids(&page.html), vec![a, c, b]);
    system.stop().await;
}

#[tokio::test]
async fn subtasks_are_added_on_their_page_and_tasks_move_between_lists() {
    let (system, mut browser, list) = with_a_list("sue@example.com", "Projects").await;
    let parent = new_task(&mut browser, &list, "Move house").await;

    let page = browser.get(&format!("/tasks/{parent}/subtasks")).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("<h1>Move house</h1>"));
    let page = browser
        .submit(
            &format!("/tasks/{parent}/subtasks"),
            &[("title", "Pack the books")],
        )
        .await;
    assert_eq!(page.path, format!("/tasks/{parent}/subtasks"));
    assert_eq!(task_ids(&page.html).len(), 1, "{}", page.html);
    let page = browser.get(&format!("/lists/{list}")).await;
    // Only the top level, with the count of subtasks.
    assert_eq!(task_ids(&page.html), vec![parent.clone()]);
    assert!(page.html.contains("Subtasks (1)"), "{}", page.html);

    // Into the default list, whose page `/tasks` is.
    let page = browser.get("/tasks").await;
    let inbox = attribute_after(&page.html, "<a href=\"/lists/").unwrap();
    let page = browser
        .submit(
            &format!("/tasks/{parent}/move"),
            &[("listId", &inbox), ("back", &format!("/lists/{list}"))],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(task_ids(&page.html).is_empty(), "{}", page.html);
    let page = browser.get("/tasks").await;
    assert_eq!(task_ids(&page.html), vec![parent]);
    assert!(page.html.contains("Subtasks (1)"));
    system.stop().await;
}

#[tokio::test]
async fn list_forms_without_the_csrf_token_are_refused_and_write_nothing() {
    let (system, mut browser, list) = with_a_list("cora@example.com", "Guarded").await;
    let task = new_task(&mut browser, &list, "First").await;
    new_task(&mut browser, &list, "Second").await;

    for (path, fields) in [
        ("/lists".to_owned(), vec![("title", "Forged")]),
        (format!("/lists/{list}/tasks"), vec![("title", "Forged")]),
        (format!("/tasks/{task}/move"), vec![("direction", "down")]),
        (format!("/lists/{list}/delete"), vec![]),
        (
            format!("/lists/{list}/members/invite"),
            vec![("email", "x@example.com"), ("role", "EDITOR")],
        ),
    ] {
        let page = browser.post_raw(&path, &fields).await;
        assert_eq!(page.status, 403, "{path}: {}", page.html);
    }

    let page = browser.get(&format!("/lists/{list}")).await;
    assert_eq!(task_ids(&page.html)[0], task, "the order changed");
    assert_eq!(task_ids(&page.html).len(), 2);
    let mut db = system.db_of("task").await;
    for (sql, expected) in [
        // The default list and this one.
        ("SELECT COUNT(*) AS n FROM lists", 2),
        ("SELECT COUNT(*) AS n FROM invitations", 0),
    ] {
        let count: i64 = sqlx::query(sql).fetch_one(&mut db).await.unwrap().get("n");
        assert_eq!(count, expected, "{sql}");
    }
    system.stop().await;
}

/// A person in Berlin: signed up through the pages, the time zone chosen
/// on the settings page.
async fn berliner(system: &TestSystem, email: &str) -> Browser {
    let mut browser = person(system, email).await;
    browser.get("/settings").await;
    let page = browser
        .submit(
            "/settings",
            &[("displayName", "Ada"), ("timeZone", "Europe/Berlin")],
        )
        .await;
    assert_eq!((page.status, page.path.as_str()), (200, "/settings"));
    browser
}

/// The team meeting as the create form sends it: Monday 25 March 2030 at
/// 09:00 on the wall clock, every Monday, a reminder 15 minutes before;
/// the other reminder rows are left empty.
const MEETING: [(&str, &str); 10] = [
    ("title", "Team meeting"),
    ("dueDate", ""),
    ("dueTime", "2030-03-25T09:00"),
    ("repeat", "weekly"),
    ("byday", "MO"),
    ("recurrence", ""),
    ("reminder0Before", "15"),
    ("reminder0Unit", "minutes"),
    ("reminder1Before", ""),
    ("reminder1At", ""),
];

/// The caller's tasks as the API returns them.
async fn api_tasks(system: &TestSystem, email: &str) -> Vec<serde_json::Value> {
    let token = system.login(email, PASSWORD).await;
    let (status, list) = system.call("GET", "/v1/tasks", Some(&token), None).await;
    assert_eq!(status, 200, "{list}");
    list["tasks"].as_array().cloned().unwrap_or_default()
}

both_databases!(a_weekly_task_with_a_reminder_is_entered_in_the_users_time_zone);
async fn a_weekly_task_with_a_reminder_is_entered_in_the_users_time_zone(system: &TestSystem) {
    let mut browser = berliner(system, "ada@example.com").await;
    let page = browser.get("/tasks").await;
    assert!(page.html.contains("Europe/Berlin"), "{}", page.html);
    let page = browser.submit("/tasks", &MEETING).await;
    assert_eq!(
        (page.status, page.path.as_str()),
        (200, "/tasks"),
        "{}",
        page.html
    );
    let ids = task_ids(&page.html);
    assert_eq!(ids.len(), 1, "{}", page.html);

    // 09:00 in Berlin in March (before the clocks go forward) is 08:00 UTC;
    // the reminder is relative, firing at 08:45 Berlin time.
    let tasks = api_tasks(system, "ada@example.com").await;
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!(task["dueTime"], "2030-03-25T08:00:00Z", "{task}");
    assert!(task.get("dueDate").is_none(), "{task}");
    assert_eq!(task["recurrence"], "FREQ=WEEKLY;BYDAY=MO");
    assert_eq!(
        task["reminders"],
        json!([{"beforeDue": "900s", "fireTime": "2030-03-25T07:45:00Z"}])
    );

    // The list shows it on Berlin's wall clock, with the rule in words.
    assert!(
        page.html
            .contains("<time datetime=\"2030-03-25T08:00:00Z\">2030-03-25 09:00</time>"),
        "{}",
        page.html
    );
    assert!(page.html.contains("every week on Monday"), "{}", page.html);
    assert!(page.html.contains("1 reminder"));

    // The edit form holds what was entered.
    let page = browser.get(&format!("/tasks/{}/edit", ids[0])).await;
    assert!(
        page.html.contains("value=\"2030-03-25T09:00\""),
        "{}",
        page.html
    );
    assert!(page.html.contains("<option value=\"weekly\" selected>"));
    assert!(page.html.contains("value=\"MO\" checked"));
    assert!(
        page.html
            .contains("name=\"reminder0Before\" type=\"number\" min=\"0\" value=\"15\"")
    );

    // And in German.
    let page = browser
        .submit("/language", &[("lang", "de"), ("back", "/tasks")])
        .await;
    assert!(page.html.contains("jede Woche am Montag"), "{}", page.html);
    assert!(page.html.contains("1 Erinnerung"));

    // Edited into an all-day due on the last day of each month, reminded a
    // day before: the day replaces the time.
    let page = browser
        .submit(
            &format!("/tasks/{}/edit", ids[0]),
            &[
                ("title", "Pay rent"),
                ("dueDate", "2030-03-31"),
                ("dueTime", ""),
                ("repeat", "monthlyLast"),
                ("reminder0Before", "1"),
                ("reminder0Unit", "days"),
                ("back", "/tasks"),
            ],
        )
        .await;
    assert_eq!(
        (page.status, page.path.as_str()),
        (200, "/tasks"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("jeden Monat am letzten Tag"),
        "{}",
        page.html
    );
    assert!(
        page.html
            .contains("<time datetime=\"2030-03-31\">2030-03-31</time>")
    );
    let task = &api_tasks(system, "ada@example.com").await[0];
    assert_eq!(
        task["dueDate"],
        json!({"year": 2030, "month": 3, "day": 31})
    );
    assert!(task.get("dueTime").is_none(), "{task}");
    assert_eq!(task["recurrence"], "FREQ=MONTHLY;BYMONTHDAY=-1");
    assert_eq!(task["reminders"][0]["beforeDue"], "86400s", "{task}");
}

both_databases!(a_bad_rule_or_reminder_is_shown_at_its_field_and_nothing_is_written);
async fn a_bad_rule_or_reminder_is_shown_at_its_field_and_nothing_is_written(system: &TestSystem) {
    let mut browser = berliner(system, "bea@example.com").await;
    browser.get("/tasks").await;
    let page = browser
        .submit(
            "/tasks",
            &[
                ("title", "Odd one"),
                ("dueDate", "2030-03-25"),
                ("repeat", "custom"),
                ("recurrence", "FREQ=SOMETIMES;BYDAY=MO"),
                ("reminder1Before", "1"),
                ("reminder1Unit", "days"),
            ],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.html);
    let field = page.html.find("id=\"recurrence\"").unwrap();
    let error = page
        .html
        .find("id=\"recurrence-error\"")
        .expect("no error for the rule");
    let next_field = page.html[field..]
        .find("<label")
        .map_or(usize::MAX, |at| at + field);
    assert!(
        field < error && error < next_field,
        "the error is not next to the rule"
    );
    assert!(page.html.contains("aria-describedby=\"recurrence-error\""));
    assert!(page.html.contains("value=\"FREQ=SOMETIMES;BYDAY=MO\""));
    assert!(page.html.contains("<option value=\"custom\" selected>"));
    assert!(page.html.contains("value=\"Odd one\""));
    assert!(page.html.contains("value=\"2030-03-25\""));
    assert!(page.html.contains("<option value=\"days\" selected>"));

    // A reminder in the past, in the third row with the first two empty:
    // the service names the first reminder it got, which is that row.
    let page = browser
        .submit(
            "/tasks",
            &[
                ("title", "Odd one"),
                ("dueDate", "2030-03-25"),
                ("repeat", "daily"),
                ("reminder2At", "2020-01-01T09:00"),
            ],
        )
        .await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(
        page.html.contains("id=\"reminder2-error\""),
        "{}",
        page.html
    );
    assert!(page.html.contains("aria-describedby=\"reminder2-error\""));
    assert!(page.html.contains("value=\"2020-01-01T09:00\""));

    assert!(api_tasks(system, "bea@example.com").await.is_empty());
    let mut db = system.db_of("task").await;
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM tasks")
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get("n");
    assert_eq!(count, 0);
}

both_databases!(ticking_off_a_recurring_task_shows_it_again_with_its_next_due);
async fn ticking_off_a_recurring_task_shows_it_again_with_its_next_due(system: &TestSystem) {
    let mut browser = berliner(system, "cal@example.com").await;
    browser.get("/tasks").await;
    let page = browser.submit("/tasks", &MEETING).await;
    let ids = task_ids(&page.html);
    assert_eq!(ids.len(), 1, "{}", page.html);
    assert!(page.html.contains(">2030-03-25 09:00</time>"));

    let page = browser
        .submit(
            &format!("/tasks/{}/done", ids[0]),
            &[("done", "true"), ("back", "/tasks")],
        )
        .await;
    assert_eq!(page.path, "/tasks");
    // Still open, a week later; the clocks went forward on 31 March, and
    // the meeting stays at 09:00 in Berlin (07:00 UTC).
    assert_eq!(task_ids(&page.html), ids, "{}", page.html);
    assert!(
        page.html
            .contains("<time datetime=\"2030-04-01T07:00:00Z\">2030-04-01 09:00</time>"),
        "{}",
        page.html
    );
    assert!(!page.html.contains("2030-03-25"), "{}", page.html);
}

both_databases!(the_due_filters_count_the_users_days);
async fn the_due_filters_count_the_users_days(system: &TestSystem) {
    use todo_common::time_zone;
    let mut browser = berliner(system, "dan@example.com").await;
    let berlin = time_zone::parse("Europe/Berlin").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let today = time_zone::local_date(i64::try_from(now.as_micros()).unwrap(), berlin);
    let day = |offset: i32| {
        let mut day = today;
        for _ in 0..offset.abs() {
            day = if offset > 0 {
                day.succ_opt()
            } else {
                day.pred_opt()
            }
            .unwrap();
        }
        day.to_string()
    };
    browser.get("/tasks").await;
    for (title, due) in [
        ("Yesterday", day(-1)),
        ("Today", day(0)),
        ("In three days", day(3)),
        ("Next month", day(30)),
        ("Some day", String::new()),
    ] {
        let page = browser
            .submit("/tasks", &[("title", title), ("dueDate", &due)])
            .await;
        assert_eq!(page.status, 200, "{}", page.html);
    }
    let titles = |html: &str| -> Vec<String> {
        html.match_indices("<p class=\"title\">")
            .map(|(at, m)| {
                html[at + m.len()..]
                    .chars()
                    .take_while(|c| *c != '<')
                    .collect()
            })
            .collect()
    };
    for (filter, expected) in [
        ("overdue", vec!["Yesterday"]),
        ("today", vec!["Today"]),
        ("week", vec!["Today", "In three days"]),
        ("none", vec!["Some day"]),
        (
            "",
            vec![
                "Yesterday",
                "Today",
                "In three days",
                "Next month",
                "Some day",
            ],
        ),
    ] {
        let page = browser.get(&format!("/tasks?due={filter}")).await;
        assert_eq!(titles(&page.html), expected, "{filter}");
        if !filter.is_empty() {
            assert!(
                page.html
                    .contains(&format!("<option value=\"{filter}\" selected>")),
                "{filter}"
            );
        }
    }
}

#[tokio::test]
async fn a_task_from_a_web_page_shows_its_preview_and_an_unreadable_page_its_error() {
    use todo_task::preview::testing::{Server, html, page};
    let server = Server::start(|request| match request.path.as_str() {
        "/image" => page("image/png", b"\x89PNG".to_vec()),
        _ => html(
            r#"<head><meta property="og:title" content="A good read">
            <meta property="og:site_name" content="Test site">
            <meta property="og:image" content="/cover.png"></head>"#,
        ),
    })
    .await;
    let port = server.addr.port();
    let system =
        TestSystem::start_configured(Db::Sqlite, support::smtp::Listener::start().await, |c| {
            c.task.preview.allow_loopback = true;
            c.task.preview.ports = vec![port];
        })
        .await
        .unwrap();
    let mut browser = person(&system, "reader@example.com").await;
    let list = new_list(&mut browser, "Reading").await;
    let here = format!("/lists/{list}");
    browser.get(&here).await;

    let good = server.url("/article").to_string();
    let done = browser
        .submit(
            &format!("{here}/from-url"),
            &[("url", &good), ("listId", &list)],
        )
        .await;
    assert_eq!((done.status, done.path.as_str()), (200, here.as_str()));
    assert!(
        done.html.contains("<p class=\"title\">A good read</p>"),
        "{}",
        done.html
    );
    // The preview under the task links its page; its image is not shown.
    assert!(done.html.contains(&format!(
        "<a href=\"{good}\" rel=\"noopener noreferrer nofollow\">A good read</a>"
    )));
    assert!(done.html.contains("Test site"));
    assert!(!done.html.contains("cover.png"));

    let bad = server.url("/image").to_string();
    let refused = browser
        .submit(
            &format!("{here}/from-url"),
            &[("url", &bad), ("listId", &list)],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.html.contains("id=\"url-error\""),
        "{}",
        refused.html
    );
    assert!(refused.html.contains("This page could not be read"));
    assert_eq!(task_ids(&refused.html).len(), 1, "no task was made");
    system.stop().await;
}
