//! The membership join of every read, straight from the SQL: a member of
//! a list reads its tasks and their links with their role, anyone else
//! reads nothing of it, exactly as if it did not exist.

use todo_store::db::{Db, DbConfig, connect};

use super::links::{self, Recorded};
use super::lists::{self, ListRow};
use super::tasks::{self, Cursor, Key, TaskRow};
use crate::access::Role;
use crate::domain::{Filter, Order, Parent, TaskFields};
use crate::due::{Placed, Schedule};
use crate::ids::{Id, ListId, TaskId, UserId};

/// A fresh, migrated task database in `dir` (the tests of other modules
/// use it too).
pub(crate) async fn database(dir: &tempfile::TempDir) -> Db {
    let config = DbConfig {
        url: format!("sqlite://{}/task.db", dir.path().display()),
        max_connections: 2,
    };
    connect(&config, &crate::MIGRATOR).await.unwrap()
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
async fn task(db: &Db, id: &str, list: &ListId, parent: &str, at: i64, priority: i32) -> TaskId {
    let row = TaskRow {
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
    };
    let mut conn = db.pool.acquire().await.unwrap();
    tasks::insert(&mut conn, &row).await.unwrap();
    row.id
}

/// Ada owns the list `shared` with Bob in it as a viewer; Eve owns
/// `private` and is in nothing else. `shared` holds `t1` with its subtask
/// `t1a`, and `t2`; `private` holds `e1`.
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
    task(&db, "t2", &shared, "", 12, 2).await;
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

#[tokio::test]
async fn a_list_is_read_only_through_a_membership_of_it() {
    let f = fixture().await;
    let mut conn = f.db.pool.acquire().await.unwrap();
    let role = |m: Option<lists::Membership>| m.map(|m| (m.list.id.to_string(), m.role));
    assert_eq!(
        role(
            lists::get(&mut conn, &user("ada"), &f.shared)
                .await
                .unwrap()
        ),
        Some(("shared".to_owned(), Role::Owner))
    );
    assert_eq!(
        role(
            lists::get(&mut conn, &user("bob"), &f.shared)
                .await
                .unwrap()
        ),
        Some(("shared".to_owned(), Role::Viewer))
    );
    assert_eq!(
        role(
            lists::get(&mut conn, &user("eve"), &f.shared)
                .await
                .unwrap()
        ),
        None
    );

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
    let mut conn = f.db.pool.acquire().await.unwrap();
    let seen = |v: Option<tasks::Visible>| v.map(|v| (v.task.id.to_string(), v.role));
    let t1 = TaskId::trusted("t1");
    assert_eq!(
        seen(tasks::get(&mut conn, &user("bob"), &t1).await.unwrap()),
        Some(("t1".to_owned(), Role::Viewer))
    );
    assert_eq!(
        seen(tasks::get(&mut conn, &user("eve"), &t1).await.unwrap()),
        None
    );
    let e1 = TaskId::trusted("e1");
    assert_eq!(
        seen(tasks::get(&mut conn, &user("ada"), &e1).await.unwrap()),
        None
    );

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
    let page = |caller: &str, filter: Filter, order: Order, after: Option<Cursor>| {
        let pool = f.db.pool.clone();
        let caller = user(caller);
        async move {
            tasks::list(&pool, &caller, &filter, order, after.as_ref(), 10)
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
        let found = tasks::list(
            &f.db.pool,
            &user("ada"),
            &Filter::default(),
            order,
            Some(cursor),
            10,
        )
        .await;
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
    let seen = links::for_tasks(&mut conn, &user("bob"), &[&t1])
        .await
        .unwrap();
    let urls: Vec<(&str, &str)> = seen
        .iter()
        .map(|(id, l)| (id.as_str(), l.url.as_str()))
        .collect();
    assert_eq!(urls, [("t1", "https://example.com/")]);
    let seen = links::for_tasks(&mut conn, &user("eve"), &[&t1])
        .await
        .unwrap();
    assert!(seen.is_empty(), "{seen:?}");
}
