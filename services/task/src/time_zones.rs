//! The creators' time zones: learned from the user service, and what a
//! change of zone does to the tasks a user created (all-day dues and their
//! reminders are placed again).

use std::future::Future;

use todo_common::clock::now_micros;
use todo_common::status::FieldViolation;
use todo_common::time_zone::{self, Tz};
use todo_proto::todo::task::v1::SetTimeZoneRequest;
use todo_proto::todo::user::v1::LookupUserRequest;
use todo_store::exec::Exec;
use tonic::Code;

use crate::State;
use crate::due::Schedule;
use crate::error::Error;
use crate::ids::{Id, UserId};
use crate::reminders;
use crate::request::retry;
use crate::store::{tasks, zones};

/// The zone a schedule is placed in: its creator's when it needs one (an
/// all-day due or a recurrence), as recorded here. `Error::ZoneUnknown`
/// when no zone is recorded yet, which [`State::with_zones`] resolves.
pub async fn zone_for(
    conn: &mut impl Exec,
    creator: &UserId,
    schedule: &Schedule,
) -> Result<Tz, Error> {
    if !schedule.needs_zone() {
        return Ok(Tz::UTC);
    }
    let name = zones::get(conn, creator)
        .await?
        .ok_or_else(|| Error::ZoneUnknown(creator.clone()))?;
    // A recorded name was checked when it was recorded.
    time_zone::parse(&name)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("recorded time zone {name:?} is unknown")))
}

impl State {
    /// Runs a write that may need a creator's time zone. The first time a
    /// user's zone is needed (they have not changed it since this service
    /// started recording zones), it is looked up from the user service,
    /// outside any transaction, and the write runs again.
    pub(crate) async fn with_zones<T, F, Fut>(&self, mut attempt: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        match attempt().await {
            Err(Error::ZoneUnknown(user_id)) => {
                self.learn_zone(&user_id).await?;
                attempt().await
            }
            other => other,
        }
    }

    /// Records the zone the user service holds for `user_id` (UTC for an
    /// account that is gone). A change announced meanwhile has a later
    /// revision and wins.
    async fn learn_zone(&self, user_id: &UserId) -> Result<(), Error> {
        let looked_up = self
            .users
            .clone()
            .lookup_user(LookupUserRequest {
                user_id: user_id.to_string(),
            })
            .await;
        let name = match looked_up {
            Ok(contact) => contact.into_inner().time_zone,
            Err(s) if s.code() == Code::NotFound => String::new(),
            Err(s) => {
                tracing::warn!(code = ?s.code(), "time zone lookup failed");
                return Err(Error::Unavailable("user service"));
            }
        };
        let zone = time_zone::parse(&name).map_or("UTC", |_| name.as_str());
        let revision = now_micros();
        retry(|| async {
            let mut tx = self.db.begin_write().await?;
            zones::set(&mut tx, user_id, zone, revision).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Records a user's new time zone and places the all-day dues of the
    /// tasks they created, with their reminders, in it.
    pub(crate) async fn set_time_zone(&self, req: &SetTimeZoneRequest) -> Result<(), Error> {
        let mut errs = Vec::new();
        let user_id = UserId::parse(&req.user_id, "userId")
            .map_err(|_| errs.push(FieldViolation::new("userId", "must be a user id")))
            .ok();
        let tz = time_zone::parse(&req.time_zone);
        if tz.is_none() {
            errs.push(FieldViolation::new(
                "timeZone",
                "must be an IANA time zone name",
            ));
        }
        if req.revision < 1 {
            errs.push(FieldViolation::new("revision", "must be positive"));
        }
        let (Some(tz), Some(user_id), true) = (tz, user_id, errs.is_empty()) else {
            return Err(Error::Invalid(errs));
        };
        let moved = retry(|| async {
            let mut tx = self.db.begin_write().await?;
            if !zones::set(&mut tx, &user_id, &req.time_zone, req.revision).await? {
                return Ok(0);
            }
            let now = now_micros();
            let mut moved = 0;
            for current in tasks::all_day_of(&mut tx, &user_id).await? {
                let placed = current.fields.schedule.place(tz);
                if placed == current.placed {
                    continue;
                }
                let row = tasks::TaskRow {
                    placed,
                    update_time: now.max(current.update_time + 1),
                    revision: current.revision + 1,
                    ..current.clone()
                };
                if !tasks::replace_placement(&mut tx, &row, current.revision).await? {
                    return Err(Error::Contended);
                }
                reminders::sync(&mut tx, Some(&current), Some(&row), now).await?;
                moved += 1;
            }
            tx.commit().await?;
            Ok(moved)
        })
        .await?;
        if moved > 0 {
            self.relay.poke();
        }
        tracing::info!(user_id = %req.user_id, tasks = moved, "time zone recorded");
        Ok(())
    }
}
