//! Link previews wired into tasks: the links a create or change records
//! (PENDING, in its transaction), the worker that fetches them in the
//! background, the shared 24-hour cache, the per-user fetch limit, the
//! links a read returns, and `CreateTaskFromUrl`.
//!
//! The PENDING rows of `link_previews` are this work's outbox: written in
//! the transaction of the change that causes them, picked up by the worker
//! (poked after the commit, and polling in case another replica wrote
//! them), and leased while fetched so two replicas do not fetch one URL.
//! A fetch takes up to 5 s, so it does not go through the outbox relay,
//! which delivers one message at a time and would hold reminders back.

use std::collections::HashMap;
use std::time::Duration;

use prost::Message as _;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use tokio::task::JoinSet;
use url::Url;

use todo_common::CancellationToken;
use todo_common::clock::now_micros;
use todo_common::status::FieldViolation;
use todo_proto::todo::task::v1::{CreateTaskFromUrlRequest, CreateTaskRequest, Link, Task};
use todo_store::db::Db;
use todo_store::exec::Exec;
use todo_store::poll::{self, Pass, Schedule, Wake};

use crate::State;
use crate::access::Action;
use crate::domain::{DESCRIPTION_MAX, TITLE_MAX, optional_id};
use crate::error::{Error, LIST, TASK};
use crate::ids::{ListId, TaskId, UserId};
use crate::preview::{self, Preview, Previewer, links};
use crate::store;
use crate::store::links::{Fetched, Recorded};
use crate::store::tasks::TaskRow;

/// How long a fetched page's preview is reused, for any task.
const CACHE_MICROS: i64 = 24 * 3600 * 1_000_000;
/// The window of the per-user fetch limit.
const MINUTE_MICROS: i64 = 60 * 1_000_000;
/// How long a worker holds a URL it fetches; past it another may try.
const LEASE_MICROS: i64 = 60 * 1_000_000;
/// Previews one worker pass fetches (at most `max_concurrent` at once).
const BATCH: i64 = 32;
/// How often the worker looks for work nobody poked it about: links
/// written by another replica, or held back by the per-user limit.
const IDLE: Duration = Duration::from_secs(2);
/// The longest `CreateTaskFromUrl` waits for a fetch slot and the fetch.
const FROM_URL_WAIT: Duration = Duration::from_secs(8);

/// What link previews need at run time: the fetcher, the worker's wake-up
/// and the per-user limit.
#[derive(Debug, Clone)]
pub struct Previews {
    pub previewer: Previewer,
    pub wake: Wake,
    pub per_user_per_minute: i64,
}

impl Previews {
    /// # Errors
    /// When the HTTP client cannot be set up.
    pub fn new(settings: &preview::Settings) -> anyhow::Result<Self> {
        Ok(Self {
            previewer: Previewer::new(settings)?,
            wake: Wake::default(),
            per_user_per_minute: i64::from(settings.per_user_per_minute),
        })
    }
}

/// The links of a task with this text: the first five http(s) URLs,
/// title first.
pub fn found_in(title: &str, description: &str) -> Vec<Recorded> {
    links::find([title, description])
        .into_iter()
        // Parsing may lengthen a URL (punycode, escapes); the column holds
        // what the finder takes.
        .filter(|f| f.url.as_str().len() <= links::URL_MAX)
        .map(|f| Recorded {
            url: f.url.into(),
            key: hex::encode(Sha256::digest(f.key.as_bytes())),
        })
        .collect()
}

/// Records the links of a task created or changed by `user`, inside the
/// write's transaction. Links that were already there are left alone (not
/// fetched again); a new one reuses a preview fetched in the last 24
/// hours, or is PENDING for the worker. Whether one became PENDING: only
/// then has the worker something to fetch.
pub async fn record(
    conn: &mut impl Exec,
    task_id: &TaskId,
    user: &UserId,
    title: &str,
    description: &str,
    now: i64,
) -> Result<bool, Error> {
    let found = found_in(title, description);
    let before = store::links::of_task(conn, task_id).await?;
    if found == before {
        return Ok(false);
    }
    store::links::replace(conn, task_id, user, &found).await?;
    let mut fetch_due = false;
    for link in found.iter().filter(|l| !before.contains(l)) {
        fetch_due |= store::links::request(conn, link, user, now, now - CACHE_MICROS).await?;
    }
    Ok(fetch_due)
}

/// Fetches what is PENDING until `stop`, woken by [`Previews::wake`].
pub async fn run_until_stopped(db: Db, previews: Previews, stop: CancellationToken) {
    let schedule = Schedule {
        worker: "link previews",
        idle: IDLE,
        wake: Some(previews.wake.clone()),
    };
    poll::run(schedule, stop, || pass(&db, &previews)).await;
}

/// One pass: claims what is pending (within each user's limit), fetches
/// it concurrently and stores the outcomes.
async fn pass(db: &Db, previews: &Previews) -> Result<Pass, Error> {
    let now = now_micros();
    let since = now - MINUTE_MICROS;
    {
        let _turn = db.write_turn().await?;
        store::links::prune_fetches(db.writer(), since).await?;
        store::links::prune_unlinked(db.writer(), now - CACHE_MICROS).await?;
    }
    let limit = previews.per_user_per_minute;
    let pending = store::links::pending(&db.pool, now, since, limit, BATCH).await?;
    let mut fetches = JoinSet::new();
    let mut claimed = 0;
    for item in pending {
        let mut tx = db.begin_write().await?;
        // The limit again: this pass's own claims count too, and so do
        // other replicas'.
        let ok = store::links::claim(&mut tx, &item, now, since, limit, now + LEASE_MICROS).await?;
        tx.commit().await?;
        if !ok {
            // Over its user's limit (or another replica's): a later pass.
            continue;
        }
        claimed += 1;
        let previewer = previews.previewer.clone();
        fetches.spawn(async move {
            let fetched = fetch(&previewer, &item.url).await;
            (item.key, fetched)
        });
    }
    while let Some(done) = fetches.join_next().await {
        let Ok((key, fetched)) = done else {
            // A panicked fetch: its lease runs out and it is tried again.
            continue;
        };
        if let Fetched::Failed(code) = &fetched {
            tracing::info!(code, "link preview failed");
        }
        let _turn = db.write_turn().await?;
        store::links::finish(db.writer(), &key, &fetched, now_micros()).await?;
    }
    Ok(Pass::after_batch(claimed, BATCH))
}

/// [`State::with_links`] on an SQLite connection of [`todo_store::inline`].
pub(crate) fn with_links_inline(
    conn: &rusqlite::Connection,
    caller: &UserId,
    rows: &[TaskRow],
) -> Result<Vec<Task>, Error> {
    let ids: Vec<&TaskId> = rows.iter().map(|r| &r.id).collect();
    let links = store::links::for_tasks_inline(conn, caller, &ids)?;
    Ok(attach(rows, links))
}

/// `rows` as messages, each with its links from `links`.
fn attach(rows: &[TaskRow], links: Vec<(TaskId, Link)>) -> Vec<Task> {
    let mut by_task: HashMap<TaskId, Vec<Link>> = HashMap::new();
    for (id, link) in links {
        by_task.entry(id).or_default().push(link);
    }
    rows.iter()
        .map(|row| {
            let mut task = row.to_proto();
            task.links = by_task.remove(&row.id).unwrap_or_default();
            task
        })
        .collect()
}

/// The preview of `url`, or why there is none.
async fn fetch(previewer: &Previewer, url: &str) -> Fetched {
    let Ok(url) = Url::parse(url) else {
        return Fetched::Failed("INVALID_URL");
    };
    match previewer.preview(&url).await {
        Ok(preview) => Fetched::Ready(Box::new(preview)),
        Err(failure) => Fetched::Failed(failure.code()),
    }
}

impl State {
    /// `rows` as the caller sees them, with their links: one query for
    /// all of them.
    pub(crate) async fn with_links(
        &self,
        conn: &mut AnyConnection,
        caller: &UserId,
        rows: &[TaskRow],
    ) -> Result<Vec<Task>, Error> {
        let ids: Vec<&TaskId> = rows.iter().map(|r| &r.id).collect();
        let links = store::links::for_tasks(conn, caller, &ids).await?;
        Ok(attach(rows, links))
    }

    /// One task with its links, as [`Self::with_links`]; on SQLite read on
    /// this thread ([`todo_store::inline`]).
    pub(crate) async fn task_with_links(
        &self,
        caller: &UserId,
        row: &TaskRow,
    ) -> Result<Task, Error> {
        let ids = [&row.id];
        let inline = self
            .db
            .inline_reads()
            .map(|reads| reads.read(|conn| store::links::for_tasks_inline(conn, caller, &ids)));
        let links = match inline {
            Some(Ok(links)) => links,
            Some(Err(e)) if !matches!(e, Error::DatabaseBusy) => return Err(e),
            // The write before this read has committed: a file still busy
            // after the busy timeout is read through the pool, which waits
            // its turn, rather than failing a write that succeeded.
            _ => {
                let mut conn = self.db.pool.acquire().await?;
                store::links::for_tasks(&mut conn, caller, &ids).await?
            }
        };
        let mut tasks = attach(std::slice::from_ref(row), links);
        Ok(tasks.pop().unwrap_or_else(|| row.to_proto()))
    }

    /// Creates a task from the page at the request's URL, fetched now.
    /// The list is checked before anything is fetched; the fetch counts
    /// against the caller's per-user limit.
    pub(crate) async fn create_task_from_url(
        &self,
        caller: &UserId,
        req: &CreateTaskFromUrlRequest,
        key: Option<String>,
    ) -> Result<TaskRow, Error> {
        let mut errs = Vec::new();
        let link = page_url(&req.url).map_err(|v| errs.push(v)).ok();
        let list_id: Option<ListId> = optional_id(&req.list_id, "listId", &mut errs);
        let (Some(link), true) = (link, errs.is_empty()) else {
            return Err(Error::Invalid(errs));
        };
        let now = now_micros();
        // A retry with the same idempotency key is the same request even if
        // the page changed since.
        let hash = hex::encode(Sha256::digest(
            [b"fromUrl:".as_slice(), &req.encode_to_vec()].concat(),
        ));
        {
            let mut conn = self.db.pool.acquire().await?;
            if let Some(list_id) = &list_id {
                let list = store::lists::get(&mut conn, caller, list_id)
                    .await?
                    .ok_or(Error::NotFound(LIST))?;
                list.role.require(Action::Write)?;
            }
            // A retry answers with the task made before, without fetching
            // the page again or counting against the limit.
            if let Some(key) = key.as_deref() {
                let not_before = now - crate::idempotency::TTL_MICROS;
                if let Some(earlier) =
                    store::tasks::idempotency_key_use(&mut conn, caller, key, not_before).await?
                {
                    if earlier.request_hash != hash {
                        return Err(Error::IdempotencyKeyReused);
                    }
                    let found = store::tasks::get(&mut conn, caller, &earlier.task_id).await?;
                    return found.map(|v| v.task).ok_or(Error::NotFound(TASK));
                }
            }
        }
        // Counted first and checked after, so concurrent requests cannot
        // all pass one check: each sees every fetch counted before its own,
        // and the one past the limit takes its back. On one connection of
        // the writer, taken after the read connection above went back: on
        // MySQL both come from one pool, which two held at once could
        // drain.
        {
            let _turn = self.db.write_turn().await?;
            let mut conn = self.db.writer().acquire().await?;
            store::links::count_fetch(&mut conn, caller.as_str(), now).await?;
            let recent =
                store::links::fetches_since(&mut conn, caller.as_str(), now - MINUTE_MICROS)
                    .await?;
            if recent > self.previews.per_user_per_minute {
                store::links::uncount_fetch(&mut conn, caller.as_str(), now).await?;
                return Err(Error::TooMany(
                    "too many pages fetched in the last minute",
                    Duration::from_secs(60),
                ));
            }
        }
        let url = Url::parse(&link.url).map_err(|_| FieldViolation::new("url", "must be a URL"))?;
        let preview =
            tokio::time::timeout(FROM_URL_WAIT, self.previews.previewer.preview(&url)).await;
        let failed = |failure: &preview::Failure| {
            let (code, why) = failure.public();
            Error::LinkFetchFailed(code, why.to_owned())
        };
        let preview = match preview {
            Ok(Ok(preview)) => preview,
            Ok(Err(failure)) => return Err(failed(&failure)),
            Err(_) => return Err(failed(&preview::Failure::Timeout)),
        };
        // The fetch took seconds: an account erased meanwhile gets nothing
        // written for it.
        if todo_store::erased::contains(&self.db.pool, caller).await? {
            return Err(Error::Forbidden("the account is gone"));
        }
        // The page was just fetched: the task's link shares the result
        // instead of fetching it again, and the result replaces whatever
        // was stored for the URL (a failure of a minute ago among them).
        {
            let _turn = self.db.write_turn().await?;
            let mut conn = self.db.writer().acquire().await?;
            store::links::request(&mut conn, &link, caller, now, now).await?;
            drop(conn);
            store::links::finish(
                self.db.writer(),
                &link.key,
                &Fetched::Ready(Box::new(preview.clone())),
                now_micros(),
            )
            .await?;
        }
        let task = Task {
            title: page_title(&preview, &link.url),
            description: page_description(&preview, &link.url),
            list_id: req.list_id.trim().to_owned(),
            ..Task::default()
        };
        self.create_task_hashed(caller, CreateTaskRequest { task: Some(task) }, key, hash)
            .await
    }
}

/// The URL of a `CreateTaskFromUrl` request, as a link.
fn page_url(raw: &str) -> Result<Recorded, FieldViolation> {
    let raw = raw.trim();
    if raw.len() > links::URL_MAX {
        return Err(FieldViolation::new(
            "url",
            format!("must be at most {} bytes long", links::URL_MAX),
        ));
    }
    let mut found = found_in(raw, "");
    match found.len() {
        1 if !raw.contains(char::is_whitespace) => Ok(found.remove(0)),
        _ => Err(FieldViolation::new(
            "url",
            "must be an http or https URL, without a user name or password",
        )),
    }
}

/// The task title for a page: its title, or else its URL, within the
/// task's title limit.
fn page_title(preview: &Preview, url: &str) -> String {
    let title = preview.title.as_deref().unwrap_or(url);
    title.chars().take(TITLE_MAX).collect()
}

/// The task description for a page: its summary, then its URL.
fn page_description(preview: &Preview, url: &str) -> String {
    let text = match &preview.description {
        Some(summary) => format!("{summary}\n\n{url}"),
        None => url.to_owned(),
    };
    text.chars().take(DESCRIPTION_MAX).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_records_its_first_five_links_title_first() {
        let found = found_in(
            "see https://b.example/ and",
            "https://a.example/ https://B.example/#x http://c.example http://d.example http://e.example http://f.example",
        );
        let urls: Vec<&str> = found.iter().map(|l| l.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://b.example/",
                "https://a.example/",
                "http://c.example/",
                "http://d.example/",
                "http://e.example/"
            ]
        );
        assert!(found.iter().all(|l| l.key.len() == 64));
    }

    #[test]
    fn a_page_url_must_be_one_http_url() {
        assert_eq!(
            page_url(" https://example.com/a ").unwrap().url,
            "https://example.com/a"
        );
        for bad in [
            "ftp://example.com/",
            "example.com",
            "https://user:pw@example.com/",
            "https://a.example/ https://b.example/",
            "",
        ] {
            assert_eq!(page_url(bad).unwrap_err().field, "url", "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(links::URL_MAX));
        assert!(page_url(&long).is_err());
    }

    #[test]
    fn a_page_becomes_a_title_and_a_description() {
        let preview = Preview {
            title: Some("t".repeat(600)),
            description: Some("Summary".to_owned()),
            ..Preview::default()
        };
        assert_eq!(page_title(&preview, "u").chars().count(), TITLE_MAX);
        assert_eq!(
            page_description(&preview, "https://x.example/"),
            "Summary\n\nhttps://x.example/"
        );
        assert_eq!(
            page_title(&Preview::default(), "https://x.example/"),
            "https://x.example/"
        );
    }
}
