//! The in-app inbox: a notification to add, one as listed, and a page of
//! the inbox asked for.

use todo_common::clock::to_timestamp;
use todo_common::paging::page_size;
use todo_proto::todo::notify::v1 as proto;
use todo_proto::todo::notify::v1::{
    ListNotificationsRequest, ListNotificationsResponse, NotificationKind,
};

use crate::error::Error;

/// A notification to add to a user's inbox.
#[derive(Debug)]
pub struct NewNotification<'a> {
    pub user_id: &'a str,
    pub kind: NotificationKind,
    pub title: &'a str,
    pub body: &'a str,
    /// The task a reminder is about; empty otherwise.
    pub task_id: &'a str,
    /// The same key twice is one notification.
    pub dedup_key: &'a str,
}

/// A notification in a user's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    /// The kind's proto number, which proto never reuses: old rows keep
    /// their meaning, and a new kind needs no mapping.
    pub kind: i32,
    pub title: String,
    pub body: String,
    pub task_id: String,
    pub create_time: i64,
    pub read_time: Option<i64>,
}

impl From<Notification> for proto::Notification {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id,
            kind: n.kind,
            title: n.title,
            body: n.body,
            task_id: n.task_id,
            create_time: Some(to_timestamp(n.create_time)),
            read_time: n.read_time.map(to_timestamp),
        }
    }
}

/// A page of a user's inbox, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxQuery {
    pub size: usize,
    pub unread_only: bool,
    /// Opaque; decoded against the caller and the filter.
    pub page_token: String,
}

impl TryFrom<ListNotificationsRequest> for InboxQuery {
    type Error = Error;

    fn try_from(req: ListNotificationsRequest) -> Result<Self, Error> {
        Ok(Self {
            size: page_size(req.page_size)?,
            unread_only: req.unread_only,
            page_token: req.page_token,
        })
    }
}

impl InboxQuery {
    /// What a page token is good for: the caller and the filter it was
    /// made with (newest first is the only order).
    pub fn token_scope(&self, user_id: &str) -> String {
        format!("{user_id}|{}", self.unread_only)
    }
}

/// One page of a user's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxPage {
    pub notifications: Vec<Notification>,
    /// Empty on the last page.
    pub next_page_token: String,
    /// Across the whole inbox, not just this page.
    pub unread_count: i64,
}

impl From<InboxPage> for ListNotificationsResponse {
    fn from(page: InboxPage) -> Self {
        Self {
            notifications: page.notifications.into_iter().map(Into::into).collect(),
            next_page_token: page.next_page_token,
            unread_count: page.unread_count,
        }
    }
}
