//! The ids this service handles: a user's, a task's, a list's and an
//! invitation's, each its own type. Store functions take several of them side by side (the
//! caller, a list, a task), and distinct types make a swapped pair a
//! compile error instead of a query that quietly matches nothing, or the
//! wrong row.
//!
//! A request's string becomes an id only through `parse`, which checks it
//! is one this system could have made; ids read back from the service's
//! own tables, or taken from a verified token, are `trusted`. They bind and
//! decode in SQL as the text they are.

use std::fmt;
use std::ops::Deref;

use serde::Serialize;
use sqlx::any::{Any, AnyTypeInfo};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};
use todo_common::clock::is_id;
use todo_common::status::FieldViolation;

/// What every id type can do.
pub trait Id: Sized {
    /// An id this service stored itself, or a verified token's subject:
    /// it needs no check.
    fn trusted(raw: impl Into<String>) -> Self;

    /// The id a request names in `field`: a malformed one is a client
    /// mistake (400), not a miss.
    fn parse(raw: &str, field: &str) -> Result<Self, FieldViolation> {
        if is_id(raw) {
            Ok(Self::trusted(raw))
        } else {
            Err(FieldViolation::new(field, "must be an id"))
        }
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl Id for $name {
            fn trusted(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl Type<Any> for $name {
            fn type_info() -> AnyTypeInfo {
                <String as Type<Any>>::type_info()
            }
        }

        impl<'q> Encode<'q, Any> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <Any as Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                <String as Encode<'q, Any>>::encode_by_ref(&self.0, buf)
            }
        }

        impl<'r> Decode<'r, Any> for $name {
            fn decode(value: <Any as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                <String as Decode<'r, Any>>::decode(value).map(Self)
            }
        }
    };
}

id_type!(
    /// A user of the system: a caller, a list's member, a task's creator.
    UserId
);
id_type!(
    /// A task.
    TaskId
);
id_type!(
    /// A list of tasks.
    ListId
);
id_type!(
    /// An invitation to a list.
    InvitationId
);

impl ListId {
    /// A user's default list, whose id is the user's own.
    pub fn default_of(user: &UserId) -> Self {
        Self(user.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_id_parses_and_the_field_is_named() {
        let id = "0192e1a4-7b3c-7def-8a12-3456789abcde";
        assert_eq!(TaskId::parse(id, "id").unwrap().as_str(), id);
        for bad in ["", "x", &id.to_uppercase(), &format!("{id} "), "../etc"] {
            let err = TaskId::parse(bad, "task.id").unwrap_err();
            assert_eq!(err.field, "task.id", "{bad:?}");
        }
    }

    #[test]
    fn a_default_list_has_its_owner_id() {
        let user = UserId::trusted("0192e1a4-7b3c-7def-8a12-3456789abcde");
        assert_eq!(ListId::default_of(&user).as_str(), user.as_str());
    }
}
