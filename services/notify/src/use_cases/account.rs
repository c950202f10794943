//! What a deleted account or a credential change leaves here.

use todo_common::clock::now_micros;
use todo_store::db::{is_contention, retry_contended};
use todo_store::erased;

use crate::State;
use crate::domain::{TokenRevocation, UserErasure};
use crate::error::Error;
use crate::store;

impl State {
    /// Erases everything held of a user. The record refuses the user's
    /// unexpired access tokens from now on, and drops mail and reminders
    /// that arrive for the user afterwards.
    pub(crate) async fn erase_user(&self, erasure: &UserErasure) -> Result<(), Error> {
        let user_id = &erasure.user_id;
        let now = now_micros();
        retry_contended(is_contention, || async {
            let mut tx = self.db.begin_write().await?;
            erased::record(&mut tx, user_id, now).await?;
            store::erase_user(&mut tx, user_id).await?;
            tx.commit().await
        })
        .await?;
        self.revocations.changed();
        tracing::info!(user_id = %user_id, "user's notifications erased");
        erased::prune(self.db.writer(), now).await;
        Ok(())
    }

    /// Refuses the user's access tokens issued before the cut-off.
    pub(crate) async fn revoke_tokens(&self, revocation: &TokenRevocation) -> Result<(), Error> {
        let TokenRevocation {
            user_id,
            issued_before,
        } = revocation;
        let now = now_micros();
        retry_contended(is_contention, || async {
            let mut tx = self.db.begin_write().await?;
            erased::revoke_tokens_before(&mut tx, user_id, *issued_before, now).await?;
            tx.commit().await
        })
        .await?;
        self.revocations.changed();
        tracing::info!(user_id = %user_id, "access tokens before a credential change refused");
        erased::prune_cutoffs(self.db.writer(), now).await;
        Ok(())
    }
}
