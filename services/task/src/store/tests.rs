//! The membership join of every read, straight from the SQL: a member of
//! a list reads its tasks and their links with their role, anyone else
//! reads nothing of it, exactly as if it did not exist. Each read is made
//! both ways it can run, through the pool and inline on SQLite
//! (`todo_store::inline`), and the two must agree.

use todo_store::db::{Db, DbConfig, connect};

use super::links::{self, Recorded};
use super::lists::{self, ListRow};
use super::tasks::{self, Cursor, Key, TaskRow};
use crate::access::Role;
use crate::domain::{Filter, Order, Parent, TaskFields};
use crate::due::{Due, Placed, Recurrence, Reminder, Schedule};
use crate::error::Error;
use crate::ids::{Id, ListId, TaskId, UserId};

/// A fresh, migrated task database in `dir` (the tests of other modules
/// use it too).
pub(crate) async fn database(dir: &tempfile::TempDir) -> Db {
    let config = DbConfig {
        url: format!("sqlite://{}/task.db", dir.path().display()),
        max_connections: 2,
    };
    connect(&config, &crate::MIGRATOR)
        .await
        .unwrap()
        .with_inline()
        .unwrap()
}

fn user(name: &str) -> UserId {
    UserId::trusted(name)
}

async fn list(db: &Db, id: &str, owner: &UserId) -> ListId {
    let row = ListRow {
        id: ListId::trusted(id),
        title: id.to_owned(),
        color: String::new(),
        owner_id: owner.clone(),
        is_default: false,
        task_count: 0,
        member_count: 1,
        create_time: 1,
        update_time: 1,
        revision: 1,
    };
    let mut conn = db.pool.acquire().await.unwrap();
    lists::insert(&mut conn, &row).await.unwrap();
    row.id
}

/// A task of `list` under `parent` (empty: the top level), created at
/// `at` with `priority`.
fn row(id: &str, list: &ListId, parent: &str, at: i64, priority: i32) -> TaskRow {
    TaskRow {
        id: TaskId::trusted(id),
        list_id: list.clone(),
        parent_id: parent.to_owned(),
        position: format!("a{at}"),
        subtask_count: 0,
        creator_id: user("ada"),
        fields: TaskFields {
            title: id.to_owned(),
            description: String::new(),
            done: false,
            schedule: Schedule::default(),
            priority,
            labels: Vec::new(),
        },
        placed: Placed::default(),
        occurrence: 1,
        complete_time: None,
        create_time: at,
        update_time: at,
        revision: 1,
    }
}

async fn insert(db: &Db, row: &TaskRow) {
    let mut conn = db.pool.acquire().await.unwrap();
    tasks::insert(&mut conn, row).await.unwrap();
}

/// Stores the task of [`row`].
async fn task(db: &Db, id: &str, list: &ListId, parent: &str, at: i64, priority: i32) -> TaskId {
    let row = row(id, list, parent, at, priority);
    insert(db, &row).await;
    row.id
}

/// When `t2` is due (micros, in 2027).
const T2_DUE: i64 = 1_800_000_000_000_000;

/// Ada owns the list `shared` with Bob in it as a viewer; Eve owns
/// `private` and is in nothing else. `shared` holds `t1` with its subtask
/// `t1a`, and `t2`; `private` holds `e1`. `t2` has labels, a due time,
/// a recurrence, reminders and a completion time, so the two ways of
/// reading compare those columns with values in them.
struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    shared: ListId,
    private: ListId,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = database(&dir).await;
    let shared = list(&db, "shared", &user("ada")).await;
    let private = list(&db, "private", &user("eve")).await;
    let mut conn = db.pool.acquire().await.unwrap();
    lists::add_member(&mut conn, &shared, &user("bob"), Role::Viewer, 2)
        .await
        .unwrap();
    drop(conn);
    task(&db, "t1", &shared, "", 10, 1).await;
    task(&db, "t1a", &shared, "t1", 11, 3).await;
    let mut t2 = row("t2", &shared, "", 12, 2);
    t2.fields.labels = vec!["x".to_owned()];
    t2.fields.schedule = Schedule {
        due: Some(Due::At(T2_DUE)),
        recurrence: Some(Recurrence::parse("FREQ=DAILY").unwrap()),
        reminders: vec![Reminder::Before(60), Reminder::At(T2_DUE - 3_600_000_000)],
    };
    t2.placed = Placed {
        due_at: Some(T2_DUE),
        fires: vec![Some(T2_DUE - 60_000_000), Some(T2_DUE - 3_600_000_000)],
    };
    t2.occurrence = 3;
    t2.complete_time = Some(20);
    insert(&db, &t2).await;
    task(&db, "e1", &private, "", 13, 0).await;
    Fixture {
        _dir: dir,
        db,
        shared,
        private,
    }
}

fn ids(rows: &[TaskRow]) -> Vec<&str> {
    rows.iter().map(|t| t.id.as_str()).collect()
}

/// `read` on an inline connection of `db`.
fn inline<T>(db: &Db, read: impl FnOnce(&rusqlite::Connection) -> Result<T, Error>) -> T {
    db.inline_reads()
        .expect("an SQLite file reads inline")
        .read(read)
        .unwrap()
}

/// The caller's membership of a list (its id and their role), read both
/// ways.
async fn membership(db: &Db, caller: &str, list_id: &ListId) -> Option<(String, Role)> {
    let caller = user(caller);
    let role = |m: Option<lists::Membership>| m.map(|m| (m.list.id.to_string(), m.role));
    let mut conn = db.pool.acquire().await.unwrap();
    let pooled = lists::get(&mut conn, &caller, list_id).await.unwrap();
    let inline = inline(db, |c| lists::get_inline(c, &caller, list_id));
    // Every column, by the rows' Debug form.
    let (a, b) = (format!("{pooled:?}"), format!("{inline:?}"));
    assert_eq!(a, b, "the two reads of list {list_id:?} disagree");
    role(pooled)
}

/// A task the caller sees (its id and their role), read both ways.
async fn visible(db: &Db, caller: &str, id: &str) -> Option<(String, Role)> {
    let (caller, id) = (user(caller), TaskId::trusted(id));
    let seen = |v: Option<tasks::Visible>| v.map(|v| (v.task.id.to_string(), v.role));
    let mut conn = db.pool.acquire().await.unwrap();
    let pooled = tasks::get(&mut conn, &caller, &id).await.unwrap();
    let inline = inline(db, |c| tasks::get_inline(c, &caller, &id));
    // Every column, by the rows' Debug form.
    let (a, b) = (format!("{pooled:?}"), format!("{inline:?}"));
    assert_eq!(a, b, "the two reads of task {id:?} disagree");
    seen(pooled)
}

/// A page of at most 10 tasks, read both ways.
async fn page(
    db: &Db,
    caller: &str,
    filter: &Filter,
    order: Order,
    after: Option<&Cursor>,
) -> Result<Vec<TaskRow>, Error> {
    let caller = user(caller);
    let mut conn = db.pool.acquire().await.unwrap();
    let pooled = tasks::list(&mut conn, &caller, filter, order, after, 10).await;
    let inline = db
        .inline_reads()
        .expect("an SQLite file reads inline")
        .read(|c| tasks::list_inline(c, &caller, filter, order, after, 10));
    // Rows by their Debug form, errors by their message.
    let seen =
        |r: &Result<Vec<TaskRow>, Error>| format!("{:?}", r.as_ref().map_err(ToString::to_string));
    assert_eq!(
        seen(&pooled),
        seen(&inline),
        "the two reads of a page disagree"
    );
    pooled
}

/// The urls of the links of `task_ids` the caller sees, by task, read
/// both ways.
async fn links_of(db: &Db, caller: &str, task_ids: &[&TaskId]) -> Vec<(String, String)> {
    let caller = user(caller);
    let mut conn = db.pool.acquire().await.unwrap();
    let pooled = links::for_tasks(&mut conn, &caller, task_ids)
        .await
        .unwrap();
    let inline = inline(db, |c| links::for_tasks_inline(c, &caller, task_ids));
    assert_eq!(pooled, inline, "the two reads of links disagree");
    pooled
        .into_iter()
        .map(|(id, link)| (id.to_string(), link.url))
        .collect()
}

#[tokio::test]
async fn a_list_is_read_only_through_a_membership_of_it() {
    let f = fixture().await;
    let shared = Some(("shared".to_owned(), Role::Owner));
    assert_eq!(membership(&f.db, "ada", &f.shared).await, shared);
    let viewer = Some(("shared".to_owned(), Role::Viewer));
    assert_eq!(membership(&f.db, "bob", &f.shared).await, viewer);
    assert_eq!(membership(&f.db, "eve", &f.shared).await, None);

    let mut conn = f.db.pool.acquire().await.unwrap();
    let page = |lists: Vec<lists::Membership>| -> Vec<String> {
        lists.iter().map(|m| m.list.id.to_string()).collect()
    };
    assert_eq!(
        page(
            lists::page(&mut conn, &user("bob"), None, 10)
                .await
                .unwrap()
        ),
        ["shared"]
    );
    assert_eq!(
        page(
            lists::page(&mut conn, &user("eve"), None, 10)
                .await
                .unwrap()
        ),
        ["private"]
    );
    assert_eq!(
        page(
            lists::page(&mut conn, &user("nobody"), None, 10)
                .await
                .unwrap()
        ),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_task_is_read_only_through_a_membership_of_its_list() {
    let f = fixture().await;
    let viewer = Some(("t1".to_owned(), Role::Viewer));
    assert_eq!(visible(&f.db, "bob", "t1").await, viewer);
    assert_eq!(visible(&f.db, "eve", "t1").await, None);
    assert_eq!(visible(&f.db, "ada", "e1").await, None);

    let mut conn = f.db.pool.acquire().await.unwrap();
    let t1 = TaskId::trusted("t1");
    let parents = [t1.clone()];
    let children = tasks::children(&mut conn, &user("bob"), &f.shared, &parents)
        .await
        .unwrap();
    assert_eq!(ids(&children), ["t1a"]);
    let children = tasks::children(&mut conn, &user("eve"), &f.shared, &parents)
        .await
        .unwrap();
    assert_eq!(ids(&children), Vec::<&str>::new());
}

#[tokio::test]
async fn a_task_list_holds_only_the_tasks_of_the_callers_lists() {
    let f = fixture().await;
    let all = Filter::default();
    let page = |caller: &'static str, filter: Filter, order: Order, after: Option<Cursor>| {
        let db = f.db.clone();
        async move {
            page(&db, caller, &filter, order, after.as_ref())
                .await
                .unwrap()
        }
    };
    let rows = page("bob", all.clone(), Order::CreateTime, None).await;
    assert_eq!(ids(&rows), ["t1", "t1a", "t2"]);
    let rows = page("eve", all.clone(), Order::CreateTime, None).await;
    assert_eq!(ids(&rows), ["e1"]);
    let in_shared = Filter {
        list_id: Some(f.shared.clone()),
        ..Filter::default()
    };
    let rows = page("eve", in_shared.clone(), Order::CreateTime, None).await;
    assert_eq!(ids(&rows), Vec::<&str>::new());
    let in_private = Filter {
        list_id: Some(f.private.clone()),
        parent: Some(Parent::Root),
        ..Filter::default()
    };
    let rows = page("ada", in_private, Order::CreateTime, None).await;
    assert_eq!(ids(&rows), Vec::<&str>::new());

    // The next page, in each kind of order, starts after its cursor.
    let first = page("bob", in_shared.clone(), Order::Position, None).await;
    assert_eq!(ids(&first), ["t1", "t2", "t1a"]);
    let after = Order::Position.cursor(&first[0]);
    let rows = page("bob", in_shared.clone(), Order::Position, Some(after)).await;
    assert_eq!(ids(&rows), ["t2", "t1a"]);
    let first = page("bob", in_shared.clone(), Order::PriorityDesc, None).await;
    assert_eq!(ids(&first), ["t1a", "t2", "t1"]);
    let after = Order::PriorityDesc.cursor(&first[0]);
    let rows = page("bob", in_shared.clone(), Order::PriorityDesc, Some(after)).await;
    assert_eq!(ids(&rows), ["t2", "t1"]);
    let after = Order::CreateTime.cursor(&first[2]);
    let rows = page("bob", in_shared.clone(), Order::CreateTime, Some(after)).await;
    assert_eq!(ids(&rows), ["t1a", "t2"]);
    // Every filter binds its values in the statement's order, both ways.
    let filtered = Filter {
        list_id: Some(f.shared.clone()),
        parent: Some(Parent::Root),
        done: Some(false),
        label: Some("x".to_owned()),
        due_before: Some(T2_DUE + 1),
        due_after: Some(T2_DUE),
        has_due: Some(true),
        q: Some("t".to_owned()),
    };
    let rows = page("bob", filtered.clone(), Order::DueTime, None).await;
    assert_eq!(ids(&rows), ["t2"]);
    let later = Filter {
        due_after: Some(T2_DUE + 1),
        ..filtered
    };
    let rows = page("bob", later, Order::DueTime, None).await;
    assert_eq!(ids(&rows), Vec::<&str>::new());
    let titled = Filter {
        list_id: Some(f.shared.clone()),
        parent: Some(Parent::Of(TaskId::trusted("t1"))),
        done: Some(false),
        has_due: Some(false),
        q: Some("t1".to_owned()),
        ..Filter::default()
    };
    let rows = page("bob", titled, Order::DueTimeDesc, None).await;
    assert_eq!(ids(&rows), ["t1a"]);
}

/// Refused by the cursor's own check, before any SQL runs: a cursor whose
/// binds merely failed to fit the statement would be refused by luck.
#[tokio::test]
async fn a_cursor_of_another_order_is_refused() {
    let f = fixture().await;
    let place = Cursor {
        key: Key::Place(vec!["shared".to_owned(), String::new(), "a10".to_owned()]),
        id: "t1".to_owned(),
    };
    let number = Cursor {
        key: Key::Number(1),
        id: "t1".to_owned(),
    };
    for (order, cursor) in [(Order::PriorityDesc, &place), (Order::Position, &number)] {
        let found = page(&f.db, "ada", &Filter::default(), order, Some(cursor)).await;
        assert!(
            matches!(&found, Err(crate::error::Error::Internal(e)) if e.to_string().contains("cursor")),
            "{order:?} after {cursor:?}: {found:?}"
        );
    }
}

#[tokio::test]
async fn the_links_of_a_task_are_read_only_through_a_membership_of_its_list() {
    let f = fixture().await;
    let mut conn = f.db.pool.acquire().await.unwrap();
    let t1 = TaskId::trusted("t1");
    let link = Recorded {
        url: "https://example.com/".to_owned(),
        key: "k".repeat(64),
    };
    links::replace(&mut conn, &t1, &user("ada"), std::slice::from_ref(&link))
        .await
        .unwrap();
    drop(conn);
    let seen = links_of(&f.db, "bob", &[&t1]).await;
    let url = "https://example.com/".to_owned();
    assert_eq!(seen, [("t1".to_owned(), url)]);
    let seen = links_of(&f.db, "eve", &[&t1]).await;
    assert!(seen.is_empty(), "{seen:?}");
}
