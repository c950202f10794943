//! Request fields parsed into types that can only hold valid values, so
//! the code behind the boundary never sees an unchecked string.

pub use todo_common::email::Email;
use todo_common::status::FieldViolation;

/// A password as offered by a client (to log in, or to confirm an
/// account change). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Shortest and longest new password, counted in Unicode characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 12..=128;

/// The longest password offered to log in, in bytes: room for the longest
/// new password in four-byte characters, and a bound on hashing work.
pub const OFFERED_PASSWORD_MAX_BYTES: usize = 4 * *PASSWORD_CHARS.end();

impl Password {
    /// A password offered to log in: only bounded, so hashing stays cheap;
    /// whether it is right is for the hash to say.
    ///
    /// # Errors
    /// A violation of `field` when it is empty or longer than
    /// [`OFFERED_PASSWORD_MAX_BYTES`], each with its own reason.
    pub fn offered(raw: &str, field: &str) -> Result<Self, FieldViolation> {
        if raw.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        if raw.len() > OFFERED_PASSWORD_MAX_BYTES {
            return Err(FieldViolation::new(
                field,
                format!("must be at most {OFFERED_PASSWORD_MAX_BYTES} bytes long"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The least zxcvbn score a new password needs: about 10^10 guesses, far
/// beyond what an online attacker gets through the login throttle, and
/// costly offline against argon2id.
const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

/// A password fit to be set: within the length limits, never truncated or
/// altered, and not easy to guess. Only this type can be hashed, so no
/// path stores a password that skipped these checks.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(Password);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

impl NewPassword {
    /// `user_inputs` are what an attacker knows about the account (its
    /// address, its name): a password built from them is weak however long.
    ///
    /// # Errors
    /// A violation of `field` that says why: too short, too long, or too
    /// easy to guess (with the estimator's advice).
    pub fn parse(raw: &str, field: &str, user_inputs: &[&str]) -> Result<Self, FieldViolation> {
        let n = raw.chars().count();
        if !PASSWORD_CHARS.contains(&n) {
            return Err(FieldViolation::new(
                field,
                format!(
                    "must be {} to {} characters long",
                    PASSWORD_CHARS.start(),
                    PASSWORD_CHARS.end()
                ),
            ));
        }
        let estimate = zxcvbn::zxcvbn(raw, user_inputs);
        if estimate.score() < MIN_SCORE {
            let advice = estimate
                .feedback()
                .map(ToString::to_string)
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| "Add another word or two.".to_owned());
            return Err(FieldViolation::new(
                field,
                format!("is too easy to guess: {advice}"),
            ));
        }
        Ok(Self(Password(raw.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

/// What an attacker may know about an account and try as its password.
pub fn user_inputs<'a>(email: &'a str, display_name: &'a str) -> Vec<&'a str> {
    let local = email.split_once('@').map_or(email, |(l, _)| l);
    let mut inputs = vec![email, local, display_name];
    inputs.extend(display_name.split_whitespace());
    inputs
}

/// An IANA time zone name from the bundled tz database, in its canonical
/// spelling (`europe/berlin` is stored as `Europe/Berlin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone(&'static str);

impl TimeZone {
    /// # Errors
    /// A violation of `field` when the name is not in the tz database.
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldViolation> {
        let raw = raw.trim();
        todo_common::time_zone::names()
            .find(|name| name.eq_ignore_ascii_case(raw))
            .map(Self)
            .ok_or_else(|| {
                FieldViolation::new(
                    field,
                    "must be an IANA time zone name such as Europe/Berlin",
                )
            })
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

/// A display name of 1..=100 characters, trimmed, without control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// # Errors
    /// A violation of `field` when empty, too long or with control
    /// characters.
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldViolation> {
        let name = raw.trim();
        let n = name.chars().count();
        // Zero-width and other format characters alone are no name.
        if todo_common::text::is_blank(name) || n > 100 {
            return Err(FieldViolation::new(
                field,
                "must be 1 to 100 characters long",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldViolation::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_length_counts_characters_not_bytes() {
        let new = |p: &str| NewPassword::parse(p, "p", &[]);
        assert!(new("ÄÖÜßÄÖÜßÄÖÜ").is_err()); // 11 chars, 22 bytes
        assert!(new("ÄÖÜßäöü ÅØÆ ñ").is_ok());
        assert!(new(&"x".repeat(129)).is_err());
        assert!(new("correct horse 🐴 battery").is_ok());
    }

    #[test]
    fn an_offered_password_says_why_it_is_refused() {
        assert_eq!(
            Password::offered("", "password").unwrap_err().description,
            "is required"
        );
        assert_eq!(
            Password::offered(&"x".repeat(513), "password")
                .unwrap_err()
                .description,
            "must be at most 512 bytes long"
        );
        assert!(Password::offered(&"x".repeat(512), "password").is_ok());
    }

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        for weak in [
            "password1234",
            "qwertyuiop123",
            "aaaaaaaaaaaaaaaa",
            "123456789012",
        ] {
            let err = NewPassword::parse(weak, "password", &[]).unwrap_err();
            assert!(
                err.description.starts_with("is too easy to guess: "),
                "{weak}: {}",
                err.description
            );
        }
        // Built from what is known about the account.
        let inputs = user_inputs("ada.lovelace@example.com", "Ada Lovelace");
        assert!(NewPassword::parse("ada.lovelace@example.com", "p", &inputs).is_err());
        assert!(NewPassword::parse("a long enough secret", "p", &[]).is_ok());
        // The estimator's own advice, when it has some.
        assert_eq!(
            NewPassword::parse("password1234", "p", &[])
                .unwrap_err()
                .description,
            "is too easy to guess: This is a very common password. \
             Add another word or two. Uncommon words are better."
        );
        // Exactly the least score is enough.
        assert_eq!(zxcvbn::zxcvbn("sunflower garden", &[]).score(), MIN_SCORE);
        assert!(NewPassword::parse("sunflower garden", "p", &[]).is_ok());
        // The README walk-through registers with this one.
        assert!(NewPassword::parse("correct horse battery", "p", &[]).is_ok());
    }

    #[test]
    fn the_longest_passwords_are_estimated_quickly() {
        // zxcvbn's matching grows faster than linearly with the length;
        // the 128-character cap keeps it cheap (a few ms in release).
        let samples = [
            "Tr0ub4dor&3 correct horse battery staple ".repeat(4)[..128].to_owned(),
            "a".repeat(128),
            "1qaz2wsx3edc".repeat(11)[..128].to_owned(),
            "password".repeat(16),
        ];
        for sample in samples {
            let start = std::time::Instant::now();
            let _ = NewPassword::parse(&sample, "p", &["someone@example.com", "Someone"]);
            let took = start.elapsed();
            eprintln!("zxcvbn on {} characters: {took:?}", sample.chars().count());
            assert!(took < std::time::Duration::from_secs(2), "{took:?}");
        }
    }

    #[test]
    fn time_zones_come_from_the_tz_database_in_canonical_spelling() {
        assert_eq!(
            TimeZone::parse("Europe/Berlin", "t").unwrap().as_str(),
            "Europe/Berlin"
        );
        assert_eq!(
            TimeZone::parse("america/new_york", "t").unwrap().as_str(),
            "America/New_York"
        );
        assert_eq!(TimeZone::parse("UTC", "t").unwrap().as_str(), "UTC");
        for bad in [
            "Europe/Atlantis",
            "Mars/Olympus_Mons",
            "",
            "Factory",
            "Europe/Berlin/x",
            "../etc/passwd",
        ] {
            assert!(TimeZone::parse(bad, "t").is_err(), "{bad}");
        }
    }

    #[test]
    fn display_names_are_bounded() {
        assert!(DisplayName::parse("  ", "n").is_err());
        assert!(DisplayName::parse("\u{200B}\u{2060} \u{200E}", "n").is_err());
        assert!(DisplayName::parse(&"x".repeat(101), "n").is_err());
        assert!(DisplayName::parse(&"ü".repeat(100), "n").is_ok());
        assert!(DisplayName::parse("a\u{0}b", "n").is_err());
        assert_eq!(DisplayName::parse(" Ada ", "n").unwrap().as_str(), "Ada");
    }
}
