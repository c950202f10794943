//! Ids and time. Ids are UUIDv7 strings made by the service that owns the
//! row; times are UTC microseconds since the Unix epoch in the database and
//! `google.protobuf.Timestamp` on the wire.

use std::time::{SystemTime, UNIX_EPOCH};

use prost_types::Timestamp;

/// A new time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `s` is a UUID in its canonical hyphenated lowercase form, the
/// only form this platform hands out.
pub fn is_id(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

/// Now, in microseconds since the epoch.
pub fn now_micros() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Microseconds since the epoch as a protobuf timestamp.
pub fn to_timestamp(micros: i64) -> Timestamp {
    Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1_000).unwrap_or(0),
    }
}

/// Earliest and latest instants a timestamp may hold (RFC 3339 years
/// 0001..=9999), in seconds.
pub(crate) const MIN_SECONDS: i64 = -62_135_596_800;
pub(crate) const MAX_SECONDS: i64 = 253_402_300_799;

/// A protobuf timestamp as microseconds since the epoch, or `None` when it
/// is outside the RFC 3339 range or its nanos are out of range.
pub fn from_timestamp(ts: &Timestamp) -> Option<i64> {
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&ts.seconds) || !(0..1_000_000_000).contains(&ts.nanos)
    {
        return None;
    }
    Some(ts.seconds * 1_000_000 + i64::from(ts.nanos) / 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_at_microsecond_precision() {
        for micros in [0, 1, -1, 1_700_000_000_123_456, -62_135_596_800_000_000] {
            assert_eq!(from_timestamp(&to_timestamp(micros)), Some(micros));
        }
    }

    #[test]
    fn out_of_range_timestamps_are_refused() {
        assert_eq!(
            from_timestamp(&Timestamp {
                seconds: MAX_SECONDS + 1,
                nanos: 0
            }),
            None
        );
        assert_eq!(
            from_timestamp(&Timestamp {
                seconds: 0,
                nanos: -1
            }),
            None
        );
    }

    #[test]
    fn ids_are_canonical_uuids() {
        assert!(is_id(&new_id()));
        assert!(!is_id("not-a-uuid"));
        assert!(!is_id(&new_id().to_uppercase()));
    }
}
