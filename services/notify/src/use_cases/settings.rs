//! A user's notification settings, and the time zone their daily digest
//! runs in.

use todo_common::clock::now_micros;
use todo_proto::todo::user::v1::LookupUserRequest;
use todo_store::db::{is_contention, retry_contended};

use crate::State;
use crate::calls::call;
use crate::domain::{NotificationSettings, SettingsChange, ZoneChange};
use crate::error::{Error, USER_SERVICE};
use crate::store::{digests, settings, zones};
use todo_common::time_zone::{self as zone, Tz};

impl State {
    /// The user's settings, or the defaults.
    pub(crate) async fn settings(&self, user_id: &str) -> Result<NotificationSettings, Error> {
        Ok(settings::get(&self.db.pool, user_id).await?)
    }

    /// Applies a change of the user's settings and returns them all. A
    /// digest setting reschedules the digest in the same transaction, in
    /// the user's zone, which is looked up first when none was recorded.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the digest is turned on, no zone was
    /// recorded and the user service does not answer: nothing is written.
    pub(crate) async fn update_settings(
        &self,
        user_id: &str,
        change: &SettingsChange,
    ) -> Result<NotificationSettings, Error> {
        if change.digest.is_some_and(|d| d.enabled) {
            self.ensure_zone(user_id).await?;
        }
        let now = now_micros();
        let settings = retry_contended(is_contention, || async {
            let mut tx = self.db.begin_write().await?;
            let settings = settings::update(&mut tx, user_id, change, now).await?;
            if change.digest.is_some() {
                digests::reschedule(&mut tx, user_id, now).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(settings)
        })
        .await?;
        if change.digest.is_some() {
            self.digester.poke();
        }
        Ok(settings)
    }

    /// Records a user's zone from the user service, unless the user was
    /// erased; the highest revision wins.
    pub(crate) async fn record_time_zone(&self, change: &ZoneChange) -> Result<(), Error> {
        if self.erased(&change.user_id).await? {
            return Ok(());
        }
        self.record_zone(&change.user_id, change.zone, change.revision)
            .await
    }

    /// Records `zone` at `revision` if it is the highest, and reschedules
    /// the user's digest in it in the same transaction.
    async fn record_zone(&self, user_id: &str, zone: Tz, revision: i64) -> Result<(), Error> {
        let now = now_micros();
        let recorded = retry_contended(is_contention, || async {
            let mut tx = self.db.begin_write().await?;
            let recorded = zones::record(&mut tx, user_id, zone, revision, now).await?;
            if recorded {
                digests::reschedule(&mut tx, user_id, now).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(recorded)
        })
        .await?;
        if recorded {
            tracing::info!(user_id = %user_id, "time zone recorded");
            self.digester.poke();
        }
        Ok(())
    }

    /// Looks the user's zone up from the user service once, when none was
    /// recorded: users who set their zone before notify was told of
    /// changes. A user the user service does not know is in UTC.
    async fn ensure_zone(&self, user_id: &str) -> Result<(), Error> {
        if zones::get(&self.db.pool, user_id).await?.is_some() {
            return Ok(());
        }
        // Taken before the lookup: a change the user makes meanwhile has a
        // higher revision, so it wins when it arrives.
        let revision = now_micros();
        let lookup = LookupUserRequest {
            user_id: user_id.to_owned(),
        };
        let zone = match call("user service", self.users.clone().lookup_user(lookup)).await {
            Ok(Some(contact)) => zone::parse(&contact.time_zone).unwrap_or(Tz::UTC),
            Ok(None) => Tz::UTC,
            Err(e) => {
                tracing::warn!(user_id = %user_id, error = %e, "time zone not looked up");
                return Err(Error::Unavailable(USER_SERVICE));
            }
        };
        self.record_zone(user_id, zone, revision).await
    }
}
