//! What the tests of this crate share: a [`State`] on its own SQLite file
//! and mail folder, wired as `build` wires it, with no worker running.

use todo_store::db::DbConfig;

use crate::{Config, MailConfig, State};

/// Where links in test e-mails start.
pub const LINK_BASE_URL: &str = "https://todo.test";

/// A fresh service in `dir`: nothing is sent (the workers are not
/// started), so a test sees each queued e-mail as it was queued.
pub async fn state(dir: &tempfile::TempDir) -> State {
    let config = Config {
        db: DbConfig {
            url: format!("sqlite://{}/notify.db", dir.path().display()),
            ..DbConfig::named("notify")
        },
        mail: MailConfig {
            dir: dir.path().join("mail"),
            link_base_url: LINK_BASE_URL.to_owned(),
            ..MailConfig::default()
        },
        ..Config::default()
    };
    State::new(&config).await.unwrap()
}
