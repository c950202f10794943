//! What deleting an account does here: the lists the user owns are
//! deleted for everyone (the members are told), their memberships
//! elsewhere end, and the tasks they made in other people's lists stay
//! (their `creatorId` names an erased user), without the links the user
//! wrote into them. The user is recorded as
//! erased in the same transaction, which refuses their unexpired access
//! tokens from then on, so nothing new is written after.

use todo_common::clock::now_micros;
use todo_store::erased;

use crate::State;
use crate::error::Error;
use crate::ids::UserId;
use crate::request::retry;
use crate::store::{invitations, links, lists, tasks, zones};

impl State {
    pub(crate) async fn erase(&self, user_id: &UserId) -> Result<(), Error> {
        let now = now_micros();
        let owned = retry(|| async {
            let mut tx = self.db.begin_write().await?;
            erased::record(&mut tx, user_id, now).await?;
            let owned = lists::owned_by(&mut tx, user_id).await?;
            for list in &owned {
                self.delete_list_in(&mut tx, list, user_id).await?;
            }
            for list_id in lists::joined_by(&mut tx, user_id).await? {
                lists::remove_member(&mut tx, &list_id, user_id).await?;
            }
            invitations::delete_sent_by(&mut tx, user_id).await?;
            tasks::delete_unlisted(&mut tx, user_id).await?;
            zones::delete(&mut tx, user_id).await?;
            links::erase_user(&mut tx, user_id).await?;
            tx.commit().await?;
            Ok(owned.len())
        })
        .await?;
        self.revocations.changed();
        self.relay.poke();
        tracing::info!(user_id = %user_id, lists = owned, "user's lists erased");
        let _turn = self.db.write_turn().await?;
        erased::prune(self.db.writer(), now).await;
        Ok(())
    }
}
