//! Checks that the fields of several internal requests share, so a
//! deduplication key or a line of text means the same in each.

use todo_common::status::FieldViolation;

/// The longest deduplication key a caller may send, in bytes: the unique
/// indexes that hold the keys are 200 bytes wide.
pub const DEDUP_KEY_MAX: usize = 200;

/// A violation of `dedupKey` unless it is 1 to `max` bytes long.
pub fn dedup_key(raw: &str, max: usize) -> Option<FieldViolation> {
    (raw.is_empty() || raw.len() > max)
        .then(|| FieldViolation::new("dedupKey", format!("must be 1 to {max} bytes")))
}

/// One line of text for people to read, trimmed: 1 to `max` characters,
/// not blank, without control characters (which could break an e-mail
/// header or hide text).
///
/// # Errors
/// A violation of `field` saying which rule it breaks.
pub fn line(raw: &str, field: &str, max: usize) -> Result<String, FieldViolation> {
    let text = raw.trim();
    // Zero-width and other format characters alone show as a blank.
    if todo_common::text::is_blank(text) || text.chars().count() > max {
        return Err(FieldViolation::new(
            field,
            format!("must be 1 to {max} characters long"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(FieldViolation::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_trimmed_bounded_and_printable() {
        assert_eq!(line("  Groceries ", "f", 9).unwrap(), "Groceries");
        assert_eq!(line(&"ä".repeat(9), "f", 9).unwrap(), "ä".repeat(9));
        for bad in [
            "",
            "   ",
            "\u{200B}",
            "0123456789",
            "a\u{0}b",
            "a\nb",
            "a\u{1b}b",
        ] {
            let err = line(bad, "f", 9).unwrap_err();
            assert_eq!(err.field, "f", "{bad:?}");
        }
    }

    #[test]
    fn a_dedup_key_is_bounded_in_bytes() {
        assert!(dedup_key("k", 3).is_none());
        assert!(dedup_key("äb", 3).is_none());
        assert_eq!(dedup_key("", 3).unwrap().field, "dedupKey");
        assert!(dedup_key("äbc", 3).is_some());
    }
}
