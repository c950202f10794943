//! The web app in a real headless Chromium driven through WebDriver
//! (chromedriver), against the whole platform in-process, e-mail through a
//! real SMTP listener.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/ensure-chromium.sh
//! installs them). Without chromedriver the tests say they are skipped,
//! unless `TODO_TEST_BROWSER=required`, when they fail.
//!
//! With `TODO_SCREENSHOTS_DIR` set (scripts/screenshots.sh), the stories
//! also save PNGs of the pages they pass through into that folder.
//!
//! The accessibility check injects axe-core (scripts/ensure-axe.sh installs
//! the pinned version into .tools/axe/) into each main page; without it the
//! check says it is skipped, unless `TODO_TEST_BROWSER=required`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use sqlx::Row;
use support::{Db, TestSystem, decoded, eventually};

const PASSWORD: &str = "a long enough secret";
const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

/// One browser at a time: the machine is small, and a story's timing
/// should not depend on what the others do.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A chromedriver process on a free loopback port; killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where chromedriver is, if anywhere on the PATH.
fn chromedriver_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromedriver"))
        .find(|candidate| candidate.is_file())
}

/// Starts chromedriver, or `None` (after saying so) when it is not
/// installed and the browser tests are not required.
async fn driver() -> Option<Driver> {
    let Some(program) = chromedriver_path() else {
        if required() {
            panic!(
                "chromedriver not found but TODO_TEST_BROWSER=required; run scripts/ensure-chromium.sh"
            );
        }
        eprintln!("skipped: chromedriver not found; run scripts/ensure-chromium.sh");
        return None;
    };
    // A port the system just handed out; chromedriver binds it right after.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(program)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver does not start");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    // Ready when /status says so; bounded.
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = match http.get(format!("{}/status", driver.url)).send().await {
            Ok(response) => response
                .json::<Value>()
                .await
                .is_ok_and(|status| status["value"]["ready"] == json!(true)),
            Err(_) => false,
        };
        if ready {
            return Some(driver);
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not answer on {} within 20 s",
            driver.url
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the browser tests must run rather than be skipped.
fn required() -> bool {
    std::env::var("TODO_TEST_BROWSER").as_deref() == Ok("required")
}

/// The axe-core version scripts/ensure-axe.sh installs.
const AXE_VERSION: &str = "4.14.1";

/// axe-core's script, or `None` (after saying so) when it is not
/// installed and the browser tests are not required.
fn axe_script() -> Option<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/.tools/axe/node_modules/axe-core/axe.min.js"
    );
    match std::fs::read_to_string(path) {
        Ok(script) => Some(script),
        Err(e) if required() => {
            panic!(
                "axe-core not found at {path} ({e}) but TODO_TEST_BROWSER=required; run scripts/ensure-axe.sh"
            )
        }
        Err(_) => {
            eprintln!("skipped: axe-core not found; run scripts/ensure-axe.sh");
            None
        }
    }
}

/// How a browser is started.
#[derive(Clone, Copy)]
struct Options {
    /// Chromium's UI language, which sets Accept-Language.
    lang: &'static str,
    javascript: bool,
}

const ENGLISH: Options = Options {
    lang: "en-US",
    javascript: true,
};

/// A new headless Chromium session; each has its own cookies.
async fn browser(driver: &Driver, options: Options) -> Client {
    let mut prefs = json!({ "intl.accept_languages": options.lang });
    if !options.javascript {
        prefs["profile.managed_default_content_settings.javascript"] = json!(2);
    }
    let mut capabilities = serde_json::Map::new();
    let mut chrome = json!({
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            format!("--lang={}", options.lang),
        ],
        "prefs": prefs,
    });
    if std::path::Path::new("/usr/bin/chromium").is_file() {
        chrome["binary"] = json!("/usr/bin/chromium");
    }
    capabilities.insert("goog:chromeOptions".into(), chrome);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("no WebDriver session")
}

/// A browser session against `system`, with the steps a story takes.
struct Tab<'a> {
    client: Client,
    system: &'a TestSystem,
}

impl<'a> Tab<'a> {
    async fn open(driver: &Driver, system: &'a TestSystem, options: Options) -> Self {
        Self {
            client: browser(driver, options).await,
            system,
        }
    }

    async fn goto(&self, path: &str) {
        self.client.goto(&self.system.url(path)).await.unwrap();
    }

    async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    async fn find(&self, css: &str) -> Element {
        // Waits (bounded) in case a navigation is still under way.
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!("no {css} on {}: {e}", self.path().await),
        }
    }

    async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
    }

    /// Types `text` into the empty field `css`.
    async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks `css` and waits until the next page has come.
    async fn click(&self, css: &str) {
        let page = self.find("html").await;
        self.find(css).await.click().await.unwrap();
        self.left(page, css).await;
    }

    /// Waits (bounded) until `page`, the root of the page that was shown
    /// before `what`, is gone.
    async fn left(&self, page: Element, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        // An element of a page that was left can no longer be read.
        while page.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "{what} loaded no new page");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the page's script ran (it marks the root element).
    async fn script_ran(&self) -> bool {
        let class = self.find("html").await.attr("class").await.unwrap();
        class.is_some_and(|class| class.split(' ').any(|c| c == "js"))
    }

    /// Presses the submit button of the page's main form (the last form
    /// with a card: the one a page is about).
    async fn submit(&self) {
        self.click("main form.card button[type=submit]").await;
    }

    async fn text(&self) -> String {
        self.find("body").await.text().await.unwrap()
    }

    /// The visible titles of the tasks listed, in order.
    async fn task_titles(&self) -> Vec<String> {
        let mut titles = Vec::new();
        for title in self
            .client
            .find_all(Locator::Css("ul.tasks .title"))
            .await
            .unwrap()
        {
            titles.push(title.text().await.unwrap());
        }
        titles
    }

    /// Saves a PNG of the page as `name` when screenshots are asked for.
    async fn shot(&self, name: &str) {
        let Some(dir) = std::env::var_os("TODO_SCREENSHOTS_DIR") else {
            return;
        };
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// The same, at phone width.
    async fn phone_shot(&self, name: &str) {
        if std::env::var_os("TODO_SCREENSHOTS_DIR").is_none() {
            return;
        }
        self.client.set_window_size(PHONE.0, PHONE.1).await.unwrap();
        self.shot(name).await;
        self.client
            .set_window_size(DESKTOP.0, DESKTOP.1)
            .await
            .unwrap();
    }

    /// Opens the link of the next e-mail to `to` that contains `marker`,
    /// as it stands in the captured message, on this system.
    async fn follow_mail(&self, to: &str, marker: &str) {
        let mail = self
            .system
            .smtp
            .next_containing(marker, Duration::from_secs(30))
            .await;
        assert!(mail.data.contains(to), "the e-mail is not for {to}");
        let text = decoded(&mail.data);
        let start = text
            .find("http://todo.test/")
            .expect("no link in the e-mail");
        let link: String = text[start + "http://todo.test".len()..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        assert!(link.contains(marker), "{link}");
        self.goto(&link).await;
    }

    async fn sign_in(&self, email: &str, password: &str) {
        self.goto("/sign-in").await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.submit().await;
        assert_eq!(self.path().await, "/tasks", "{}", self.text().await);
    }

    async fn sign_out(&self) {
        self.click("header form[action='/sign-out'] button").await;
        assert!(self.exists("header a[href='/sign-in']").await);
    }

    /// Signs up through the pages and confirms the address from the real
    /// e-mail's link.
    async fn sign_up_verified(&self, name: &str, email: &str) {
        self.goto("/sign-up").await;
        self.shot("sign-up").await;
        self.fill("#displayName", name).await;
        self.fill("#email", email).await;
        self.fill("#password", PASSWORD).await;
        self.submit().await;
        assert!(self.text().await.contains("Check your e-mail"));
        self.follow_mail(email, "/verify-email?token=").await;
        // The link alone changes nothing: the page has a button.
        self.submit().await;
        assert!(
            self.text()
                .await
                .contains("your e-mail address is confirmed"),
            "{}",
            self.text().await
        );
    }

    /// Sets a field's value as a date picker would.
    async fn set_value(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        self.client
            .execute(
                "arguments[0].value = arguments[1];",
                vec![serde_json::to_value(field).unwrap(), json!(value)],
            )
            .await
            .unwrap();
    }

    /// A browser signed in to a verified account made through the API, for
    /// stories about the pages after sign-in.
    async fn signed_in(
        driver: &Driver,
        system: &'a TestSystem,
        options: Options,
        email: &str,
    ) -> Self {
        system.signup(email).await;
        system.verify_welcome_address().await;
        let tab = Self::open(driver, system, options).await;
        tab.sign_in(email, PASSWORD).await;
        tab
    }

    async fn close(self) {
        self.client.close().await.unwrap();
    }

    /// The serious and critical axe-core violations of the page shown, at
    /// the window's current size, one line each with its rule and the
    /// elements at fault. `axe` is axe-core's script: WebDriver runs it
    /// outside the page's CSP, which allows no script but the page's own.
    async fn axe_violations(&self, axe: &str) -> Vec<String> {
        let loaded = self
            .client
            .execute("return typeof axe !== 'undefined';", vec![])
            .await
            .unwrap();
        if loaded != json!(true) {
            self.client.execute(axe, vec![]).await.unwrap();
        }
        let version = self.client.execute("return axe.version;", vec![]).await;
        assert_eq!(
            version.unwrap(),
            json!(AXE_VERSION),
            "run scripts/ensure-axe.sh"
        );
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 axe.run(document, { resultTypes: ['violations'] }).then( \
                   (r) => done(r.violations.map((v) => ({ \
                     id: v.id, impact: v.impact, help: v.help, \
                     targets: v.nodes.map((n) => n.target.join(' ')) }))), \
                   (e) => done({ error: String(e) }));",
                vec![],
            )
            .await
            .unwrap();
        let Some(violations) = found.as_array() else {
            panic!("axe-core failed on {}: {found}", self.path().await);
        };
        violations
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .map(|v| {
                format!(
                    "{} ({}): {} at {}",
                    v["id"].as_str().unwrap_or_default(),
                    v["impact"].as_str().unwrap_or_default(),
                    v["help"].as_str().unwrap_or_default(),
                    v["targets"]
                )
            })
            .collect()
    }

    /// [`Self::axe_violations`] at desktop and at phone size, each line
    /// naming the page and the size.
    async fn axe_both_sizes(&self, axe: &str, page: &str) -> Vec<String> {
        let mut found = Vec::new();
        for (size, (width, height)) in [("desktop", DESKTOP), ("phone", PHONE)] {
            self.client.set_window_size(width, height).await.unwrap();
            for violation in self.axe_violations(axe).await {
                found.push(format!("{page} ({size}): {violation}"));
            }
        }
        self.client
            .set_window_size(DESKTOP.0, DESKTOP.1)
            .await
            .unwrap();
        found
    }
}

async fn count(system: &TestSystem, service: &str, table: &str) -> i64 {
    let mut db = system.db_of(service).await;
    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get("n")
}

#[tokio::test]
async fn a_person_signs_up_manages_and_shares_a_list_and_resets_the_password() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(driver) = driver().await else { return };
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let tab = Tab::open(&driver, &system, ENGLISH).await;

    tab.goto("/").await;
    tab.shot("landing").await;
    tab.phone_shot("landing-phone").await;
    tab.goto("/sign-in").await;
    tab.shot("sign-in").await;
    tab.sign_up_verified("Tess", "tess@example.com").await;
    tab.sign_in("tess@example.com", PASSWORD).await;

    // A list, and tasks in it.
    tab.goto("/lists").await;
    tab.fill("#title", "Groceries").await;
    tab.fill("#color", "#2a7ae2").await;
    tab.submit().await;
    let list = tab.path().await;
    assert!(list.starts_with("/lists/"), "{list}");
    tab.fill("#title", "Milk").await;
    tab.fill("#labels", "dairy").await;
    tab.submit().await;
    tab.fill("#title", "Bread").await;
    tab.set_value("#dueTime", "2030-01-15T09:00").await;
    tab.submit().await;
    tab.fill("#title", "Eggs").await;
    tab.set_value("#dueDate", "2030-01-17").await;
    tab.find("details.repeat summary")
        .await
        .click()
        .await
        .unwrap();
    tab.find("#repeat")
        .await
        .select_by_value("weekly")
        .await
        .unwrap();
    tab.submit().await;
    assert_eq!(tab.path().await, list);
    assert_eq!(tab.task_titles().await, ["Milk", "Bread", "Eggs"]);
    assert!(tab.text().await.contains("2030-01-15 09:00"));
    tab.goto("/lists").await;
    tab.shot("lists").await;
    tab.goto(&list).await;
    tab.shot("tasks").await;
    tab.phone_shot("tasks-phone").await;

    // Edit: the form holds the task; saving changes it.
    tab.click("ul.tasks li:first-child .actions a").await;
    assert_eq!(
        tab.find("#title")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap(),
        "Milk"
    );
    tab.shot("task-edit").await;
    tab.fill("#title", "Oat milk").await;
    tab.submit().await;
    assert_eq!(tab.path().await, list);
    assert_eq!(tab.task_titles().await, ["Oat milk", "Bread", "Eggs"]);

    // Tick one off: it leaves the open tasks.
    tab.click("button.tick[aria-label$=': Bread']").await;
    assert_eq!(tab.task_titles().await, ["Oat milk", "Eggs"]);

    // Reorder with the buttons.
    tab.click("button[value=up][aria-label$=': Eggs']").await;
    assert_eq!(tab.task_titles().await, ["Eggs", "Oat milk"]);
    tab.click("button[value=down][aria-label$=': Eggs']").await;
    assert_eq!(tab.task_titles().await, ["Oat milk", "Eggs"]);

    // Drag and drop (app.js). WebDriver's pointer actions do not start
    // an HTML5 drag in Chromium, so the test sends the drag events a
    // person's drag would: Eggs dropped on the upper half of Oat milk.
    assert!(tab.script_ran().await);
    let page = tab.find("html").await;
    tab.client
        .execute(
            "const [eggs, milk] = [...document.querySelectorAll('li[data-task]')].reverse(); \
             const data = new DataTransfer(); \
             const box = milk.getBoundingClientRect(); \
             const at = { bubbles: true, cancelable: true, dataTransfer: data, \
                          clientX: box.left + 10, clientY: box.top + 2 }; \
             eggs.dispatchEvent(new DragEvent('dragstart', at)); \
             milk.dispatchEvent(new DragEvent('dragover', at)); \
             milk.dispatchEvent(new DragEvent('drop', at));",
            vec![],
        )
        .await
        .unwrap();
    tab.left(page, "the drop").await;
    assert_eq!(tab.path().await, list);
    assert_eq!(tab.task_titles().await, ["Eggs", "Oat milk"]);

    // Share with a second person, who accepts in their own browser.
    let guest = Tab::open(&driver, &system, ENGLISH).await;
    guest.sign_up_verified("Gus", "gus@example.com").await;
    guest.sign_in("gus@example.com", PASSWORD).await;
    tab.goto(&format!("{list}/members")).await;
    tab.fill("#email", "gus@example.com").await;
    tab.find("#role")
        .await
        .select_by_value("EDITOR")
        .await
        .unwrap();
    tab.click("form[action$='/members/invite'] button[type=submit]")
        .await;
    assert!(tab.text().await.contains("The invitation is on its way"));
    guest.goto("/invitations").await;
    guest.shot("invitations").await;
    guest.click("form[action$='/accept'] button").await;
    assert_eq!(guest.path().await, list);
    assert_eq!(guest.task_titles().await, ["Eggs", "Oat milk"]);
    tab.goto(&format!("{list}/members")).await;
    assert!(tab.text().await.contains("Gus"));
    tab.shot("sharing").await;
    guest.close().await;

    tab.goto("/inbox").await;
    tab.shot("inbox").await;
    tab.goto("/settings").await;
    tab.shot("settings").await;

    // A forgotten password, reset from the e-mail's link.
    tab.sign_out().await;
    tab.goto("/forgot-password").await;
    tab.fill("#email", "tess@example.com").await;
    tab.submit().await;
    tab.follow_mail("tess@example.com", "/reset-password?token=")
        .await;
    tab.fill("#newPassword", "a brand new secret").await;
    tab.submit().await;
    assert!(tab.text().await.contains("Your password is changed"));
    tab.sign_in("tess@example.com", "a brand new secret").await;
    tab.sign_out().await;
    tab.goto("/tasks").await;
    assert_eq!(tab.path().await, "/sign-in");

    tab.close().await;
    system.stop().await;
}

#[tokio::test]
async fn without_javascript_a_person_signs_in_and_adds_a_task() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(driver) = driver().await else { return };
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let options = Options {
        javascript: false,
        ..ENGLISH
    };
    let tab = Tab::signed_in(&driver, &system, options, "nora@example.com").await;
    assert!(!tab.script_ran().await, "JavaScript is on");
    tab.fill("#title", "Plain forms work").await;
    tab.submit().await;
    assert_eq!(tab.path().await, "/tasks");
    assert_eq!(tab.task_titles().await, ["Plain forms work"]);

    tab.close().await;
    system.stop().await;
}

#[tokio::test]
async fn a_form_posted_without_its_csrf_token_is_refused_and_writes_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(driver) = driver().await else { return };
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let tab = Tab::signed_in(&driver, &system, ENGLISH, "cato@example.com").await;

    tab.fill("#title", "Forged").await;
    let token = tab.find("main form.card input[name=csrf]").await;
    tab.client
        .execute(
            "arguments[0].remove();",
            vec![serde_json::to_value(token).unwrap()],
        )
        .await
        .unwrap();
    tab.submit().await;
    let text = tab.text().await;
    assert!(text.contains("Not allowed"), "{text}");
    assert!(text.contains("This form has expired"), "{text}");
    assert_eq!(count(&system, "task", "tasks").await, 0);
    tab.goto("/tasks").await;
    assert!(tab.task_titles().await.is_empty());

    tab.close().await;
    system.stop().await;
}

#[tokio::test]
async fn a_field_error_is_shown_at_its_field_and_the_input_is_kept() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(driver) = driver().await else { return };
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let tab = Tab::signed_in(&driver, &system, ENGLISH, "fred@example.com").await;

    for title in ["", &"x".repeat(1000)] {
        tab.goto("/tasks").await;
        tab.fill("#title", title).await;
        tab.fill("#description", "kept as typed").await;
        tab.submit().await;
        let field = tab.find("#title").await;
        assert_eq!(
            field.attr("aria-invalid").await.unwrap().as_deref(),
            Some("true")
        );
        assert_eq!(
            field.attr("aria-describedby").await.unwrap().as_deref(),
            Some("title-error")
        );
        let error = tab.find("#title-error").await;
        assert!(error.is_displayed().await.unwrap());
        assert!(!error.text().await.unwrap().is_empty());
        // Next to the field: in the same field block.
        let together = tab
            .client
            .execute(
                "return document.getElementById('title-error').closest('.field') \
                 === document.getElementById('title').closest('.field');",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(together, json!(true));
        assert_eq!(field.prop("value").await.unwrap().as_deref(), Some(title));
        let description = tab.find("#description").await;
        assert_eq!(
            description.prop("value").await.unwrap().as_deref(),
            Some("kept as typed")
        );
    }
    assert_eq!(count(&system, "task", "tasks").await, 0);

    tab.close().await;
    system.stop().await;
}

#[tokio::test]
async fn a_german_browser_gets_german_pages_and_the_footer_switches_language() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(driver) = driver().await else { return };
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    let german = Options {
        lang: "de-DE",
        ..ENGLISH
    };
    let tab = Tab::open(&driver, &system, german).await;

    tab.goto("/sign-in").await;
    let lang = async || tab.find("html").await.attr("lang").await.unwrap();
    assert_eq!(lang().await.as_deref(), Some("de"));
    assert!(
        tab.find("h1")
            .await
            .text()
            .await
            .unwrap()
            .contains("Anmelden")
    );
    tab.click("footer button[value=en]").await;
    assert_eq!(tab.path().await, "/sign-in");
    assert_eq!(lang().await.as_deref(), Some("en"));
    assert!(
        tab.find("h1")
            .await
            .text()
            .await
            .unwrap()
            .contains("Sign in")
    );
    // The choice stays for the next page.
    tab.goto("/sign-up").await;
    assert_eq!(lang().await.as_deref(), Some("en"));
    tab.click("footer button[value=de]").await;
    assert_eq!(lang().await.as_deref(), Some("de"));

    // A service's field error, in German at its field.
    tab.fill("#displayName", "Greta").await;
    tab.fill("#email", "greta@example.com").await;
    tab.fill("#password", "passwortpasswort").await;
    tab.submit().await;
    let error = tab.find("#password-error").await.text().await.unwrap();
    assert!(error.starts_with("ist zu leicht zu erraten"), "{error}");
    tab.fill("#password", PASSWORD).await;
    tab.fill("#displayName", &"G".repeat(101)).await;
    tab.submit().await;
    let error = tab.find("#displayName-error").await.text().await.unwrap();
    assert_eq!(error, "muss 1 bis 100 Zeichen lang sein");

    tab.close().await;
    system.stop().await;
}

#[tokio::test]
async fn the_main_pages_have_no_serious_accessibility_violations() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(driver) = driver().await else { return };
    let Some(axe) = axe_script() else { return };
    let system = TestSystem::start(Db::Sqlite).await.unwrap();
    // Someone who invites the person checking, so that the invitation and
    // inbox pages have something to show.
    let (_, host) = system.signup("host@example.com").await;
    system.verify_welcome_address().await;
    system.signup("ada@example.com").await;
    system.verify_welcome_address().await;
    let (status, shared) = system
        .call(
            "POST",
            "/v1/lists",
            Some(&host),
            Some(json!({"title": "Household"})),
        )
        .await;
    assert_eq!(status, 200, "{shared}");
    let invite = format!(
        "/v1/lists/{}/members:invite",
        shared["id"].as_str().unwrap()
    );
    let body = json!({"email": "ada@example.com", "role": "EDITOR"});
    let (status, answer) = system.call("POST", &invite, Some(&host), Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    let ada = system.login("ada@example.com", PASSWORD).await;
    eventually("the invitation in the inbox", || async {
        let (_, inbox) = system
            .call("GET", "/v1/notifications", Some(&ada), None)
            .await;
        inbox["notifications"]
            .as_array()
            .is_some_and(|n| !n.is_empty())
    })
    .await;

    let tab = Tab::open(&driver, &system, ENGLISH).await;
    let mut found = Vec::new();
    for (path, page) in [
        ("/", "landing"),
        ("/sign-in", "sign-in"),
        ("/sign-up", "sign-up"),
        ("/forgot-password", "forgot password"),
    ] {
        tab.goto(path).await;
        found.extend(tab.axe_both_sizes(&axe, page).await);
    }
    // A form with field errors.
    tab.goto("/sign-up").await;
    tab.submit().await;
    assert!(tab.exists("[aria-invalid=true]").await);
    found.extend(tab.axe_both_sizes(&axe, "sign-up with errors").await);

    tab.sign_in("ada@example.com", PASSWORD).await;
    tab.goto("/lists").await;
    tab.fill("#title", "Groceries").await;
    tab.submit().await;
    let list = tab.path().await;
    tab.fill("#title", "Milk").await;
    tab.fill("#labels", "dairy").await;
    tab.set_value("#dueTime", "2030-01-15T09:00").await;
    tab.submit().await;
    let edit = tab
        .find("ul.tasks li:first-child .actions a")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let task = edit
        .split(['?', '#'])
        .next()
        .unwrap()
        .trim_end_matches("/edit")
        .to_owned();
    tab.goto(&format!("{list}/members")).await;
    tab.fill("#email", "gus@example.com").await;
    tab.click("form[action$='/members/invite'] button[type=submit]")
        .await;
    for (path, page) in [
        ("/tasks".to_owned(), "default list"),
        ("/lists".to_owned(), "lists"),
        (list.clone(), "a list's tasks"),
        (edit, "task edit"),
        (format!("{task}/subtasks"), "subtasks"),
        (format!("{list}/members"), "sharing"),
        (format!("{list}/delete"), "list deletion"),
        ("/invitations".to_owned(), "invitations"),
        ("/inbox".to_owned(), "inbox"),
        ("/settings".to_owned(), "settings"),
    ] {
        tab.goto(&path).await;
        assert_eq!(tab.path().await, path.split('?').next().unwrap(), "{page}");
        found.extend(tab.axe_both_sizes(&axe, page).await);
    }
    assert!(
        found.is_empty(),
        "serious or critical accessibility violations:\n{}",
        found.join("\n")
    );

    tab.close().await;
    system.stop().await;
}
