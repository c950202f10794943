//! The in-app inbox: its pages, marking read, and notices other services
//! add.

use todo_common::clock::now_micros;

use crate::State;
use crate::domain::{InboxPage, InboxQuery, Notice, Notification};
use crate::error::Error;
use crate::store::inbox;

impl State {
    /// A page of `user_id`'s inbox, newest first, with the unread count.
    pub(crate) async fn inbox_page(
        &self,
        user_id: &str,
        query: &InboxQuery,
    ) -> Result<InboxPage, Error> {
        let size = query.size;
        let scope = query.token_scope(user_id);
        let before: Option<String> = self.page_tokens.decode(&scope, &query.page_token)?;
        let mut notifications = inbox::list(
            &self.db.pool,
            user_id,
            query.unread_only,
            before.as_deref(),
            i64::try_from(size + 1).unwrap_or(i64::MAX),
        )
        .await?;
        let more = notifications.len() > size;
        notifications.truncate(size);
        let next_page_token = match notifications.last() {
            Some(last) if more => self.page_tokens.encode(&scope, &last.id),
            _ => String::new(),
        };
        let unread_count = inbox::unread_count(&self.db.pool, user_id).await?;
        Ok(InboxPage {
            notifications,
            next_page_token,
            unread_count,
        })
    }

    /// Marks one of `user_id`'s notifications read and returns it.
    pub(crate) async fn read_one(&self, user_id: &str, id: &str) -> Result<Notification, Error> {
        inbox::mark_read(self.db.writer(), user_id, id, now_micros()).await
    }

    pub(crate) async fn read_all(&self, user_id: &str) -> Result<(), Error> {
        inbox::mark_all_read(self.db.writer(), user_id, now_micros()).await
    }

    /// Adds a notice from another service, unless its user was erased.
    pub(crate) async fn add_notice(&self, notice: &Notice) -> Result<(), Error> {
        let new = notice.as_new();
        if self.erased(new.user_id).await? {
            return Ok(());
        }
        inbox::add(self.db.writer(), &new, now_micros()).await
    }
}
