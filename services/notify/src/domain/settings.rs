//! A user's notification settings, and a change of them, parsed from
//! `UpdateNotificationSettings`.

use todo_common::status::FieldViolation;
use todo_proto::todo::notify::v1 as proto;
use todo_proto::todo::notify::v1::UpdateNotificationSettingsRequest;

use crate::error::Error;
use todo_common::time_zone::NaiveTime;

/// The daily digest: off, or on at a local time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyDigest {
    pub enabled: bool,
    /// In the user's zone.
    pub time: NaiveTime,
}

impl Default for DailyDigest {
    /// Off, at 08:00.
    fn default() -> Self {
        Self {
            enabled: false,
            time: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

/// Everything a user set, or the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationSettings {
    pub email_reminders: bool,
    pub digest: DailyDigest,
}

impl Default for NotificationSettings {
    /// Reminder e-mails on, the digest off.
    fn default() -> Self {
        Self {
            email_reminders: true,
            digest: DailyDigest::default(),
        }
    }
}

impl From<NotificationSettings> for proto::Settings {
    fn from(s: NotificationSettings) -> Self {
        Self {
            email_reminders: s.email_reminders,
            daily_digest: Some(proto::DailyDigest {
                enabled: s.digest.enabled,
                local_time: format_time(s.digest.time),
            }),
        }
    }
}

/// What an update changes; `None` keeps the current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SettingsChange {
    pub email_reminders: Option<bool>,
    pub digest: Option<DigestChange>,
}

/// A new digest setting; `time: None` keeps the current time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestChange {
    pub enabled: bool,
    pub time: Option<NaiveTime>,
}

impl TryFrom<UpdateNotificationSettingsRequest> for SettingsChange {
    type Error = Error;

    fn try_from(req: UpdateNotificationSettingsRequest) -> Result<Self, Error> {
        let digest = match req.daily_digest {
            None => None,
            Some(d) if d.local_time.is_empty() => Some(DigestChange {
                enabled: d.enabled,
                time: None,
            }),
            Some(d) => Some(DigestChange {
                enabled: d.enabled,
                time: Some(parse_time(&d.local_time).ok_or_else(|| {
                    FieldViolation::new(
                        "dailyDigest.localTime",
                        "must be a time of day as HH:MM (00:00 to 23:59)",
                    )
                })?),
            }),
        };
        Ok(Self {
            email_reminders: req.email_reminders,
            digest,
        })
    }
}

/// A time of day written `HH:MM`, 24-hour, two digits each; nothing else.
pub fn parse_time(raw: &str) -> Option<NaiveTime> {
    let (hours, minutes) = raw.split_once(':')?;
    let two_digits = |s: &str| {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    NaiveTime::from_hms_opt(two_digits(hours)?, two_digits(minutes)?, 0)
}

/// `time` as `HH:MM`.
pub fn format_time(time: NaiveTime) -> String {
    time.format("%H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(enabled: bool, local_time: &str) -> UpdateNotificationSettingsRequest {
        UpdateNotificationSettingsRequest {
            email_reminders: None,
            daily_digest: Some(proto::DailyDigest {
                enabled,
                local_time: local_time.into(),
            }),
        }
    }

    #[test]
    fn times_of_day_are_hh_mm_and_nothing_else() {
        for (raw, hm) in [("00:00", (0, 0)), ("08:05", (8, 5)), ("23:59", (23, 59))] {
            let time = parse_time(raw).unwrap();
            assert_eq!(time, NaiveTime::from_hms_opt(hm.0, hm.1, 0).unwrap());
            assert_eq!(format_time(time), raw);
        }
        for bad in [
            "",
            "8:00",
            "08:0",
            "24:00",
            "12:60",
            "08:00:00",
            "0800",
            "+8:00",
            " 08:00",
            "08:00 ",
            "a8:00",
            "٠٨:٠٠",
        ] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_update_keeps_what_it_leaves_out() {
        let change =
            SettingsChange::try_from(UpdateNotificationSettingsRequest::default()).unwrap();
        assert_eq!(change, SettingsChange::default());
        let change = SettingsChange::try_from(update(true, "")).unwrap();
        assert_eq!(
            change.digest,
            Some(DigestChange {
                enabled: true,
                time: None
            })
        );
        let change = SettingsChange::try_from(update(false, "06:30")).unwrap();
        assert_eq!(
            change.digest.and_then(|d| d.time),
            NaiveTime::from_hms_opt(6, 30, 0)
        );
    }

    #[test]
    fn a_malformed_digest_time_names_its_field() {
        match SettingsChange::try_from(update(true, "25:00")) {
            Err(Error::Invalid(v)) => {
                assert_eq!(v.len(), 1);
                assert_eq!(v[0].field, "dailyDigest.localTime");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_new_user_has_reminder_e_mails_and_no_digest_at_eight() {
        let settings = proto::Settings::from(NotificationSettings::default());
        assert!(settings.email_reminders);
        let digest = settings.daily_digest.unwrap();
        assert!(!digest.enabled);
        assert_eq!(digest.local_time, "08:00");
    }
}
