//! Request fields parsed into types that can only hold valid values, so
//! the code behind the boundary never sees an unchecked string.

use std::str::FromStr;

use todo_common::status::FieldViolation;

/// A syntactically valid e-mail address with its domain lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// # Errors
    /// A violation of `field` when the address is not valid.
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldViolation> {
        let raw = raw.trim();
        let invalid = || FieldViolation::new(field, "must be a valid e-mail address");
        if raw.is_empty() || raw.len() > 254 {
            return Err(invalid());
        }
        let parsed = email_address::EmailAddress::from_str(raw).map_err(|_| invalid())?;
        let (local, domain) = (parsed.local_part(), parsed.domain());
        // Addresses must be deliverable over the public Internet: a dotted
        // domain name, not an IP literal or a bare host.
        let domain_ok = domain.contains('.')
            && !domain.starts_with('[')
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !domain_ok || local.len() > 64 {
            return Err(invalid());
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key that makes addresses unique regardless of case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A password within the length limits, never truncated or altered.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Shortest and longest password, counted in Unicode characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 12..=128;

impl Password {
    /// A new password: length checked.
    ///
    /// # Errors
    /// A violation of `field` when it is too short or too long.
    pub fn new(raw: &str, field: &str) -> Result<Self, FieldViolation> {
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
        Ok(Self(raw.to_owned()))
    }

    /// A password offered to log in: only bounded, so hashing stays cheap;
    /// whether it is right is for the hash to say.
    ///
    /// # Errors
    /// A violation of `field` when it is empty or absurdly long.
    pub fn offered(raw: &str, field: &str) -> Result<Self, FieldViolation> {
        if raw.is_empty() || raw.len() > 4 * PASSWORD_CHARS.end() {
            return Err(FieldViolation::new(field, "is required"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
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
        if n == 0 || n > 100 {
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
    fn email_domain_is_lower_cased_and_key_is_case_insensitive() {
        let e = Email::parse(" Alice.Smith@Example.COM ", "email").unwrap();
        assert_eq!(e.as_str(), "Alice.Smith@example.com");
        assert_eq!(e.key(), "alice.smith@example.com");
    }

    #[test]
    fn invalid_emails_are_rejected() {
        for bad in [
            "",
            "plain",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@[127.0.0.1]",
            "a@-x.com",
            "@x.com",
        ] {
            assert!(Email::parse(bad, "email").is_err(), "{bad}");
        }
    }

    #[test]
    fn password_length_counts_characters_not_bytes() {
        assert!(Password::new("ÄÄÄÄÄÄÄÄÄÄÄ", "p").is_err()); // 11 chars, 22 bytes
        assert!(Password::new("ÄÄÄÄÄÄÄÄÄÄÄÄ", "p").is_ok());
        assert!(Password::new(&"x".repeat(129), "p").is_err());
        assert!(Password::new("correct horse 🐴 battery", "p").is_ok());
    }

    #[test]
    fn display_names_are_bounded() {
        assert!(DisplayName::parse("  ", "n").is_err());
        assert!(DisplayName::parse(&"x".repeat(101), "n").is_err());
        assert!(DisplayName::parse("a\u{0}b", "n").is_err());
        assert_eq!(DisplayName::parse(" Ada ", "n").unwrap().as_str(), "Ada");
    }
}
