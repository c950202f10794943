//! A user's time zone as the user service reports a change of it.

use todo_common::status::FieldViolation;
use todo_proto::todo::notify::v1::SetTimeZoneRequest;

use crate::domain::id;
use crate::error::Error;
use todo_common::time_zone::{self as zone, Tz};

/// A user's zone from `SetTimeZone`, valid by construction; the highest
/// revision is the zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneChange {
    pub user_id: String,
    pub zone: Tz,
    pub revision: i64,
}

impl TryFrom<SetTimeZoneRequest> for ZoneChange {
    type Error = Error;

    fn try_from(req: SetTimeZoneRequest) -> Result<Self, Error> {
        let mut errs = Vec::new();
        let user_id = id(req.user_id, "userId", "must be a user id")
            .map_err(|v| errs.push(v))
            .ok();
        let zone = zone::parse(&req.time_zone);
        if zone.is_none() {
            errs.push(FieldViolation::new(
                "timeZone",
                "must be an IANA time zone name",
            ));
        }
        if req.revision < 1 {
            errs.push(FieldViolation::new("revision", "must be positive"));
        }
        match (user_id, zone) {
            (Some(user_id), Some(zone)) if errs.is_empty() => Ok(Self {
                user_id,
                zone,
                revision: req.revision,
            }),
            _ => Err(Error::Invalid(errs)),
        }
    }
}

#[cfg(test)]
mod tests {
    use todo_common::clock::new_id;

    use super::*;

    fn fields(req: SetTimeZoneRequest) -> Vec<String> {
        match ZoneChange::try_from(req) {
            Err(Error::Invalid(v)) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_zone_change_names_a_user_a_known_zone_and_a_revision() {
        let user_id = new_id();
        let change = ZoneChange::try_from(SetTimeZoneRequest {
            user_id: user_id.clone(),
            time_zone: "Europe/Berlin".into(),
            revision: 5,
        })
        .unwrap();
        assert_eq!(change.zone, Tz::Europe__Berlin);
        assert_eq!((change.user_id, change.revision), (user_id, 5));
        let bad = SetTimeZoneRequest {
            user_id: "ada".into(),
            time_zone: "Mars/Olympus_Mons".into(),
            revision: 0,
        };
        assert_eq!(fields(bad), ["userId", "timeZone", "revision"]);
        let empty = SetTimeZoneRequest {
            user_id: new_id(),
            time_zone: String::new(),
            revision: 1,
        };
        assert_eq!(fields(empty), ["timeZone"]);
    }
}
