//! What the tests of this crate share: a [`State`] on its own SQLite file
//! and mail folder, wired as `build` wires it, with no worker running.

use crate::{Config, State};

/// Where links in test e-mails start.
pub const LINK_BASE_URL: &str = "https://todo.test";

/// A fresh service in `dir`: nothing is sent (the workers are not
/// started), so a test sees each queued e-mail as it was queued.
pub async fn state(dir: &tempfile::TempDir) -> State {
    let root = dir.path().display().to_string();
    let config = Config::from_lookup(|name| match name {
        "TODO_NOTIFY_DATABASE_URL" => Some(format!("sqlite://{root}/notify.db")),
        "TODO_MAIL_DIR" => Some(format!("{root}/mail")),
        "TODO_LINK_BASE_URL" => Some(LINK_BASE_URL.to_owned()),
        _ => None,
    })
    .unwrap();
    State::new(&config).await.unwrap()
}
