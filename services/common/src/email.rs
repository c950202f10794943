//! E-mail addresses as the platform accepts them: one parser, used by the
//! user service for accounts and by the task service for invitations, so
//! an address that can be invited is an address that can register.

use std::str::FromStr;

use crate::status::FieldViolation;

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
}
