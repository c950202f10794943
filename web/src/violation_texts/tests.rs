#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::Path;

use super::source_scan::{literals_outside_tests, normalised};
use super::*;

#[test]
fn the_matcher_takes_the_parts_between_the_fixed_pieces() {
    assert_eq!(
        captures(
            "must be {} to {} characters long",
            "must be 1 to 200 characters long"
        ),
        Some(vec!["1", "200"])
    );
    assert_eq!(captures("is required", "is required"), Some(vec![]));
    // Fixed text must match all of it, and a part is never empty.
    assert_eq!(captures("is required", "is required!"), None);
    assert_eq!(captures("at most {} labels", "at most  labels"), None);
    assert_eq!(captures("at most {} labels", "at most 20 reminders"), None);
    assert_eq!(captures("must be {} to {}", "must be 0 to "), None);
    // A part is a number or a name, not a sentence...
    assert_eq!(
        captures(
            "must be {} to {}",
            "must be a time of day as HH:MM (00:00 to 23:59)"
        ),
        None
    );
    // ... unless it ends the pattern after a colon.
    assert_eq!(
        captures("must be one of: {}", "must be one of: a, b"),
        Some(vec!["a, b"])
    );
    // Multi-byte text around and inside the parts.
    assert_eq!(captures("{} ä {}", "ö ä ü"), Some(vec!["ö", "ü"]));
}

#[test]
fn fill_puts_the_parts_in_order_and_may_leave_some_out() {
    assert_eq!(fill("{} bis {}", &["1", "2"]), "1 bis 2");
    assert_eq!(fill("fest", &["advice"]), "fest");
}

#[test]
fn real_descriptions_read_german() {
    let de = |text| render(text, Lang::De);
    assert_eq!(
        de("must be 1 to 200 characters long"),
        "muss 1 bis 200 Zeichen lang sein"
    );
    assert_eq!(
        de("must be 1 to 100 printable characters long"),
        "muss 1 bis 100 druckbare Zeichen lang sein"
    );
    assert_eq!(
        de("must be at most 4000 characters long"),
        "darf höchstens 4000 Zeichen lang sein"
    );
    assert_eq!(
        de("must be an IANA time zone name such as Europe/Berlin"),
        "muss der Name einer IANA-Zeitzone sein, etwa Europe/Berlin"
    );
    assert_eq!(
        de("unknown or read-only field \"owner\""),
        "unbekanntes oder nur lesbares Feld \"owner\""
    );
    assert_eq!(
        de("COUNT must be from 1 to 1000"),
        "COUNT muss zwischen 1 und 1000 liegen"
    );
    assert_eq!(
        de("subtasks nest at most 4 levels deep"),
        "Unteraufgaben reichen höchstens 4 Ebenen tief"
    );
}

#[test]
fn the_password_advice_becomes_one_fixed_german_sentence() {
    let advice = "is too easy to guess: This is a top-10 common password. Add another word or two.";
    let german = render(advice, Lang::De);
    assert_eq!(
        german,
        "ist zu leicht zu erraten. Nimm mehrere Wörter oder ein längeres Passwort."
    );
    assert!(!german.contains("top-10"));
}

#[test]
fn english_pages_keep_the_services_text_and_unknown_texts_stay_english() {
    let text = "must be 1 to 200 characters long";
    assert_eq!(render(text, Lang::En), text);
    let unknown = "must rhyme with orange";
    assert_eq!(render(unknown, Lang::De), unknown);
}

#[test]
fn the_table_is_consistent() {
    let mut seen = HashSet::new();
    for (english, german) in TEXTS {
        assert!(seen.insert(*english), "{english:?} is listed twice");
        assert!(
            !english.contains("{}{}"),
            "{english:?}: parts must be apart"
        );
        assert!(
            german.matches("{}").count() <= english.matches("{}").count(),
            "{german:?} has a part {english:?} lacks"
        );
        // Each pattern reads as itself, and as nothing more specific.
        let sample = english.replace("{}", "7");
        assert_eq!(
            german_of(&sample),
            Some(*german),
            "{english:?} is taken by another pattern"
        );
    }
}

/// The German form chosen for `text`, before its parts are filled in.
fn german_of(text: &str) -> Option<&'static str> {
    TEXTS
        .iter()
        .filter(|(english, _)| captures(english, text).is_some())
        .max_by_key(|(english, _)| fixed_len(english))
        .map(|(_, german)| *german)
}

/// The beginnings of the services' field-error descriptions.
const PREFIXES: &[&str] = &[
    "must ",
    "is ",
    "at most ",
    "give ",
    "needs ",
    "each ",
    "subtasks ",
    // Recurrence rules name the part at fault first.
    "FREQ ",
    "COUNT ",
    "INTERVAL ",
    "UNTIL ",
    "an all-day ",
    "a task ",
    "unknown ",
    "was ",
];

/// Literals with those beginnings that are no field-error description.
const NOT_VIOLATIONS: &[&str] = &[
    // PERMISSION_DENIED messages: a page shows its own 403 instead.
    "needs the EDITOR or OWNER role in this list",
    "needs the OWNER role in this list",
    // A RESOURCE_EXHAUSTED message: a page says "too many attempts".
    "at most 100 invitations a day",
    // The outbox relay's error about a row it cannot read.
    "unknown outbox kind {}",
];

/// Every description the services can give has a German form: the string
/// literals of their sources (tests left out) that begin as descriptions
/// do, with their `{...}` placeholders as `{}`.
#[test]
fn every_description_in_the_services_sources_has_a_german_form() {
    let services = Path::new(env!("CARGO_MANIFEST_DIR")).join("../services");
    let mut literals = Vec::new();
    for crate_dir in std::fs::read_dir(&services).unwrap() {
        let src = crate_dir.unwrap().path().join("src");
        if src.is_dir() {
            literals.extend(literals_outside_tests(&src));
        }
    }
    let described: Vec<_> = literals
        .iter()
        .map(|(file, literal)| (file, normalised(literal)))
        .filter(|(_, text)| PREFIXES.iter().any(|p| text.starts_with(p)))
        .collect();
    // The scan found the services' texts at all.
    assert!(
        described
            .iter()
            .any(|(_, text)| text == "must be 1 to {} characters long"),
        "{described:?}"
    );
    for excluded in NOT_VIOLATIONS {
        assert!(
            described.iter().any(|(_, text)| text == excluded),
            "{excluded:?} is no longer in the sources; drop it from the list"
        );
    }
    let missing: Vec<_> = described
        .iter()
        .filter(|(_, text)| !NOT_VIOLATIONS.contains(&text.as_str()))
        .filter(|(_, text)| german(text).is_none())
        .collect();
    assert!(missing.is_empty(), "no German form for {missing:#?}");
}
