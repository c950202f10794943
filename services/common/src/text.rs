//! Text that looks empty.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Whether `s` shows nothing: only white space and format characters
/// (Unicode general category Cf: zero-width spaces and joiners, direction
/// marks, the byte order mark, soft hyphens). `str::trim` keeps the
/// latter, so a name or title of zero-width spaces would pass as text and
/// show as a blank.
pub fn is_blank(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_whitespace() || c.general_category() == GeneralCategory::Format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_characters_and_white_space_are_blank() {
        for blank in [
            "",
            " \t\n",
            "\u{200B}",
            "\u{200D}\u{FEFF} \u{2060}",
            "\u{00AD}\u{202E}",
        ] {
            assert!(is_blank(blank), "{blank:?}");
        }
        for text in ["a", "\u{200B}a", "\u{1F600}", "\u{0301}"] {
            assert!(!is_blank(text), "{text:?}");
        }
    }
}
