//! Who may do what in a list: the one place that decides.
//!
//! A caller's role in a list comes from the same query that reads the list
//! or task (a join on `list_members`), so a caller who is not a member
//! never gets a row and sees NOT_FOUND, exactly as for a missing id. A
//! member whose role does not allow the action gets PERMISSION_DENIED.

use todo_proto::todo::task::v1::Role as ProtoRole;

use crate::error::Error;

/// A member's role, as stored in `list_members.role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Editor,
    Viewer,
}

/// What a caller may try to do in a list beyond reading it, which every
/// member may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create, change, move and delete the list's tasks; rename the list.
    Write,
    /// Invite, change roles, remove others, delete the list.
    Administer,
}

impl Role {
    /// The stored number of the role (the proto enum's value).
    pub fn code(self) -> i64 {
        i64::from(self.to_proto() as i32)
    }

    /// The role a stored number stands for.
    ///
    /// # Errors
    /// A number no release writes: the row is corrupt.
    pub fn from_code(code: i64) -> Result<Self, Error> {
        i32::try_from(code)
            .ok()
            .and_then(|c| ProtoRole::try_from(c).ok())
            .and_then(Self::from_proto)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("stored role {code} is unknown")))
    }

    pub fn to_proto(self) -> ProtoRole {
        match self {
            Self::Owner => ProtoRole::Owner,
            Self::Editor => ProtoRole::Editor,
            Self::Viewer => ProtoRole::Viewer,
        }
    }

    pub fn from_proto(role: ProtoRole) -> Option<Self> {
        match role {
            ProtoRole::Owner => Some(Self::Owner),
            ProtoRole::Editor => Some(Self::Editor),
            ProtoRole::Viewer => Some(Self::Viewer),
            ProtoRole::Unspecified => None,
        }
    }

    /// The role as a message to people words it ("owner", "editor",
    /// "viewer"); an unknown stored number reads as "editor", the role
    /// invitations default to.
    pub fn word_of(code: i32) -> &'static str {
        match ProtoRole::try_from(code).ok().and_then(Self::from_proto) {
            Some(Self::Owner) => "owner",
            Some(Self::Viewer) => "viewer",
            _ => "editor",
        }
    }

    /// Whether this role allows `action`.
    pub fn allows(self, action: Action) -> bool {
        match action {
            Action::Write => matches!(self, Self::Owner | Self::Editor),
            Action::Administer => self == Self::Owner,
        }
    }

    /// `Ok` when this role allows `action`, else PERMISSION_DENIED.
    ///
    /// # Errors
    /// [`Error::Forbidden`] naming the role the action needs.
    pub fn require(self, action: Action) -> Result<(), Error> {
        if self.allows(action) {
            return Ok(());
        }
        Err(Error::Forbidden(match action {
            Action::Write => "needs the EDITOR or OWNER role in this list",
            Action::Administer => "needs the OWNER role in this list",
        }))
    }
}

/// The stored role codes that allow writing tasks, for the SQL guards
/// that repeat the check inside each write statement.
pub const WRITER_CODES: &str = "1, 2";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editors_write_and_only_owners_administer() {
        use Action::{Administer, Write};
        let table = [
            (Role::Owner, [true, true]),
            (Role::Editor, [true, false]),
            (Role::Viewer, [false, false]),
        ];
        for (role, expected) in table {
            let got = [Write, Administer].map(|a| role.allows(a));
            assert_eq!(got, expected, "{role:?}");
            assert_eq!(role.require(Write).is_ok(), expected[0]);
            assert_eq!(role.require(Administer).is_ok(), expected[1]);
        }
        assert!(matches!(
            Role::Viewer.require(Write),
            Err(Error::Forbidden(_))
        ));
    }

    #[test]
    fn messages_word_each_role_and_read_an_unknown_one_as_editor() {
        let word = |role: Role| Role::word_of(role.to_proto() as i32);
        assert_eq!(word(Role::Owner), "owner");
        assert_eq!(word(Role::Editor), "editor");
        assert_eq!(word(Role::Viewer), "viewer");
        assert_eq!(Role::word_of(0), "editor");
        assert_eq!(Role::word_of(42), "editor");
    }

    #[test]
    fn stored_codes_round_trip_and_unknown_ones_are_refused() {
        for role in [Role::Owner, Role::Editor, Role::Viewer] {
            assert_eq!(Role::from_code(role.code()).unwrap(), role);
        }
        assert!(Role::from_code(0).is_err());
        assert!(Role::from_code(9).is_err());
        assert_eq!(
            WRITER_CODES,
            format!("{}, {}", Role::Owner.code(), Role::Editor.code())
        );
    }
}
