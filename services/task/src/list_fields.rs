//! A list's writable fields, and the other inputs of list and sharing
//! requests, parsed and checked at the boundary.

use todo_common::status::FieldViolation;
use todo_proto::todo::task::v1::{Role as ProtoRole, TaskList};

use crate::access::Role;

pub const TITLE_MAX: usize = 200;

/// Lists one user may be a member of.
pub const LISTS_PER_USER: i64 = 1_000;
/// Members of one list, the owner included.
pub const MEMBERS_PER_LIST: i64 = 100;
/// Tasks in one list, subtasks included.
pub const TASKS_PER_LIST: i64 = 10_000;
/// Pending invitations of one list.
pub const PENDING_INVITATIONS_PER_LIST: i64 = 50;
/// Invitations one user may send in a day.
pub const INVITATIONS_PER_DAY: i64 = 100;
/// How long an invitation can be accepted, in microseconds (14 days).
pub const INVITATION_TTL_MICROS: i64 = 14 * 24 * 3600 * 1_000_000;

/// The fields a client may write, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFields {
    pub title: String,
    /// `#rrggbb` in lower case, or empty.
    pub color: String,
}

impl ListFields {
    /// Parses the writable fields of `list`, collecting all violations.
    ///
    /// # Errors
    /// Every invalid field, named by its JSON path under `list.`.
    pub fn parse(list: &TaskList) -> Result<Self, Vec<FieldViolation>> {
        let mut errs = Vec::new();
        let title = list.title.trim().to_owned();
        if todo_common::text::is_blank(&title)
            || title.chars().count() > TITLE_MAX
            || title.chars().any(char::is_control)
        {
            errs.push(FieldViolation::new(
                "list.title",
                format!("must be 1 to {TITLE_MAX} printable characters long"),
            ));
        }
        let color = list.color.trim().to_ascii_lowercase();
        let hex = color.strip_prefix('#').unwrap_or("");
        if !color.is_empty() && (hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit())) {
            errs.push(FieldViolation::new(
                "list.color",
                "must be #rrggbb or empty",
            ));
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Self { title, color })
    }
}

/// The role an invitation or a role change asks for: a known role, and
/// OWNER only where `owner_allowed`.
///
/// # Errors
/// A violation of `role`.
pub fn requested_role(raw: i32, owner_allowed: bool) -> Result<Role, FieldViolation> {
    let role = ProtoRole::try_from(raw).ok().and_then(Role::from_proto);
    match role {
        Some(Role::Owner) if !owner_allowed => {
            Err(FieldViolation::new("role", "must be EDITOR or VIEWER"))
        }
        Some(role) => Ok(role),
        None if owner_allowed => Err(FieldViolation::new(
            "role",
            "must be OWNER, EDITOR or VIEWER",
        )),
        None => Err(FieldViolation::new("role", "must be EDITOR or VIEWER")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(title: &str, color: &str) -> TaskList {
        TaskList {
            title: title.to_owned(),
            color: color.to_owned(),
            ..TaskList::default()
        }
    }

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(
            ListFields::parse(&list(" Groceries ", "")).unwrap().title,
            "Groceries"
        );
        assert!(ListFields::parse(&list(" \u{200B} ", "")).is_err());
        assert!(ListFields::parse(&list(&"é".repeat(200), "")).is_ok());
        assert!(ListFields::parse(&list(&"é".repeat(201), "")).is_err());
        assert!(ListFields::parse(&list("a\u{7}b", "")).is_err());
    }

    #[test]
    fn colours_are_hex_triplets_or_empty() {
        assert_eq!(
            ListFields::parse(&list("x", "#A0b1C2")).unwrap().color,
            "#a0b1c2"
        );
        assert_eq!(ListFields::parse(&list("x", "")).unwrap().color, "");
        for bad in ["red", "#fff", "#gggggg", "a0b1c2", "#a0b1c2 x"] {
            let errs = ListFields::parse(&list("x", bad)).unwrap_err();
            assert_eq!(errs[0].field, "list.color", "{bad}");
        }
    }

    #[test]
    fn invitations_offer_editor_or_viewer_and_role_changes_also_owner() {
        assert_eq!(requested_role(2, false).unwrap(), Role::Editor);
        assert_eq!(requested_role(3, false).unwrap(), Role::Viewer);
        assert_eq!(requested_role(1, true).unwrap(), Role::Owner);
        let why = |raw, owner_allowed| requested_role(raw, owner_allowed).unwrap_err().description;
        assert_eq!(why(1, false), "must be EDITOR or VIEWER");
        assert_eq!(why(0, false), "must be EDITOR or VIEWER");
        assert_eq!(why(7, true), "must be OWNER, EDITOR or VIEWER");
        assert_eq!(why(0, true), "must be OWNER, EDITOR or VIEWER");
    }

    #[test]
    fn invitations_last_fourteen_days() {
        assert_eq!(INVITATION_TTL_MICROS, 14 * 86_400 * 1_000_000);
        assert_eq!(INVITATION_TTL_MICROS, 1_209_600_000_000);
    }
}
