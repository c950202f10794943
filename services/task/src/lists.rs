//! The list use cases: make, read, page, rename and delete lists.

use todo_common::clock::{new_id, now_micros};
use todo_common::paging::page_size;
use todo_proto::todo::task::v1::{
    ListListsRequest, ListListsResponse, TaskList, UpdateListRequest,
};
use todo_store::outbox;

use crate::State;
use crate::access::{Action, Role};
use crate::domain::snake;
use crate::error::{Error, LIST};
use crate::ids::{Id, ListId, UserId};
use crate::list_fields::{LISTS_PER_USER, ListFields};
use crate::outbox::Outbox;
use crate::request::{check_etag, retry};
use crate::store::lists::{self, ListRow, Membership};
use crate::store::tasks::{self, TaskRow};

/// The fields `UpdateList` may name in its mask.
const WRITABLE: [&str; 2] = ["title", "color"];
/// Fields clients send back with the resource; a mask naming them is not
/// an error, they just do not change.
const OUTPUT_ONLY: [&str; 7] = [
    "id",
    "is_default",
    "role",
    "member_count",
    "create_time",
    "update_time",
    "etag",
];

impl State {
    pub(crate) async fn create_list(
        &self,
        caller: &UserId,
        list: &TaskList,
    ) -> Result<Membership, Error> {
        let fields = ListFields::parse(list).map_err(Error::Invalid)?;
        let now = now_micros();
        let row = ListRow {
            id: ListId::trusted(new_id()),
            title: fields.title,
            color: fields.color,
            owner_id: caller.clone(),
            is_default: false,
            task_count: 0,
            member_count: 1,
            create_time: now,
            update_time: now,
            revision: 1,
        };
        retry(|| async {
            let mut tx = self.db.begin_write().await?;
            lists::ensure_default(&mut tx, caller, now).await?;
            if lists::count_of(&mut tx, caller).await? >= LISTS_PER_USER {
                return Err(Error::Precondition(
                    "a user is a member of at most 1,000 lists",
                ));
            }
            lists::insert(&mut tx, &row).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        tracing::info!(list_id = %row.id, "list created");
        Ok(Membership {
            list: row,
            role: Role::Owner,
        })
    }

    /// The caller's membership of `list_id`, or NOT_FOUND.
    pub(crate) async fn membership(
        &self,
        caller: &UserId,
        list_id: &ListId,
    ) -> Result<Membership, Error> {
        let mut conn = self.db.pool.acquire().await?;
        lists::get(&mut conn, caller, list_id)
            .await?
            .ok_or(Error::NotFound(LIST))
    }

    /// A page of the caller's lists: the default list first (made now if
    /// this is its first use), then the others in the order they were
    /// made.
    pub(crate) async fn list_lists(
        &self,
        caller: &UserId,
        req: &ListListsRequest,
    ) -> Result<ListListsResponse, Error> {
        let size = page_size(req.page_size).map_err(|v| Error::Invalid(vec![v]))?;
        let scope = serde_json::json!([caller, "lists"]).to_string();
        let after: Option<String> = self
            .page_tokens
            .decode(&scope, &req.page_token)
            .map_err(|v| Error::Invalid(vec![v]))?;
        let mut page = Vec::with_capacity(size.min(100));
        if after.is_none() {
            let default = self.default_list(caller).await?;
            page.push(default);
        }
        let limit = i64::try_from(size.saturating_sub(page.len()))
            .unwrap_or(i64::MAX)
            .saturating_add(1);
        let mut conn = self.db.pool.acquire().await?;
        // The token is signed by this service: its id needs no check.
        let after = after.filter(|a| !a.is_empty()).map(ListId::trusted);
        let mut rest = lists::page(&mut conn, caller, after.as_ref(), limit).await?;
        let room = size.saturating_sub(page.len());
        let more = rest.len() > room;
        rest.truncate(room);
        page.extend(rest);
        // The cursor is the last list of the other lists shown; after a
        // page of only the default list, the others start from the top.
        let next_page_token = match page.last() {
            Some(last) if more && last.list.is_default => {
                self.page_tokens.encode(&scope, &String::new())
            }
            Some(last) if more => self.page_tokens.encode(&scope, &last.list.id),
            _ => String::new(),
        };
        Ok(ListListsResponse {
            lists: page.iter().map(Membership::to_proto).collect(),
            next_page_token,
        })
    }

    /// The caller's default list, made if this is its first use.
    async fn default_list(&self, caller: &UserId) -> Result<Membership, Error> {
        let default = ListId::default_of(caller);
        if let Ok(found) = self.membership(caller, &default).await {
            return Ok(found);
        }
        let now = now_micros();
        retry(|| async {
            let mut tx = self.db.begin_write().await?;
            lists::ensure_default(&mut tx, caller, now).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.membership(caller, &default).await
    }

    /// Renames or recolours a list: OWNER or EDITOR.
    pub(crate) async fn update_list(
        &self,
        caller: &UserId,
        req: &UpdateListRequest,
        expected: Option<&[String]>,
    ) -> Result<Membership, Error> {
        let patch = req.list.clone().unwrap_or_default();
        let list_id = ListId::parse(&patch.id, "list.id")?;
        let mask: Vec<String> = match &req.update_mask {
            Some(m) => m.paths.iter().map(|p| snake(p.trim())).collect(),
            None => {
                let mut named = Vec::new();
                if !patch.title.is_empty() {
                    named.push("title".to_owned());
                }
                if !patch.color.is_empty() {
                    named.push("color".to_owned());
                }
                named
            }
        };
        let unknown: Vec<_> = mask
            .iter()
            .filter(|p| !WRITABLE.contains(&p.as_str()) && !OUTPUT_ONLY.contains(&p.as_str()))
            .map(|p| {
                todo_common::status::FieldViolation::new(
                    "updateMask",
                    format!("unknown or read-only field {p:?}"),
                )
            })
            .collect();
        if !unknown.is_empty() {
            return Err(Error::Invalid(unknown));
        }
        // A value sent is a value checked, even outside the mask: the mask
        // says what changes, not what may be malformed.
        let sent = TaskList {
            title: if patch.title.is_empty() {
                "sent".to_owned()
            } else {
                patch.title.clone()
            },
            color: patch.color.clone(),
            ..TaskList::default()
        };
        ListFields::parse(&sent).map_err(Error::Invalid)?;
        retry(|| async {
            let mut tx = self.db.begin_write().await?;
            let current = lists::get(&mut tx, caller, &list_id)
                .await?
                .ok_or(Error::NotFound(LIST))?;
            current.role.require(Action::Write)?;
            check_etag(expected, &current.list.etag())?;
            let mut next = TaskList {
                title: current.list.title.clone(),
                color: current.list.color.clone(),
                ..TaskList::default()
            };
            for path in &mask {
                match path.as_str() {
                    "title" => next.title.clone_from(&patch.title),
                    "color" => next.color.clone_from(&patch.color),
                    _ => {}
                }
            }
            let fields = ListFields::parse(&next).map_err(Error::Invalid)?;
            let now = now_micros();
            let row = ListRow {
                title: fields.title,
                color: fields.color,
                update_time: now.max(current.list.update_time + 1),
                revision: current.list.revision + 1,
                ..current.list.clone()
            };
            if !lists::update(&mut tx, &row, current.list.revision).await? {
                return Err(Error::Contended);
            }
            tx.commit().await?;
            Ok(Membership {
                list: row,
                role: current.role,
            })
        })
        .await
    }

    /// Deletes a list and its tasks: OWNER only; never a default list.
    /// The other members are told; the tasks' reminders are cancelled.
    pub(crate) async fn delete_list(
        &self,
        caller: &UserId,
        list_id: &ListId,
        expected: Option<&[String]>,
    ) -> Result<(), Error> {
        retry(|| async {
            let mut tx = self.db.begin_write().await?;
            let current = lists::get(&mut tx, caller, list_id)
                .await?
                .ok_or(Error::NotFound(LIST))?;
            current.role.require(Action::Administer)?;
            check_etag(expected, &current.list.etag())?;
            if current.list.is_default {
                return Err(Error::Precondition("the default list cannot be deleted"));
            }
            self.delete_list_in(&mut tx, &current.list, caller).await?;
            tx.commit().await?;
            Ok(())
        })
        .await?;
        self.relay.poke();
        tracing::info!(list_id = %list_id, "list deleted");
        Ok(())
    }

    /// Deletes `list` in the caller's transaction: its reminders are
    /// cancelled and every member but `by` gets a SHARING notification.
    pub(crate) async fn delete_list_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        list: &ListRow,
        by: &UserId,
    ) -> Result<(), Error> {
        for task in tasks::with_pending_reminders(conn, &list.id, None).await? {
            crate::reminders::sync(conn, Some(&task), None::<&TaskRow>, now_micros()).await?;
        }
        for member in lists::members(conn, &list.id).await? {
            if member.user_id != *by {
                let notice = crate::outbox::sharing_notice(
                    &member.user_id,
                    &format!("list-deleted:{}", list.id),
                    "A shared list was deleted",
                    &format!("The list “{}” was deleted by its owner.", list.title),
                );
                outbox::enqueue(conn, &Outbox::Notify(notice)).await?;
            }
        }
        lists::delete(conn, &list.id).await
    }
}
