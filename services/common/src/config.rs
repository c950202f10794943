//! Typed settings from environment variables. Each binary has one config
//! struct that documents its fields; this module only reads and parses.

use std::fmt::Display;
use std::str::FromStr;

/// A setting that is present but cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The variable holds a value that does not parse.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: String, reason: String },
    /// A variable without a default is unset.
    #[error("environment variable {name} must be set: {why}")]
    Missing { name: String, why: String },
}

/// The value of `name`, if set and not empty.
pub fn var_opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `name` parsed as `T`, or `default` when unset.
///
/// # Errors
/// [`ConfigError::Invalid`] when the variable is set but does not parse.
pub fn var_or<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match var_opt(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid {
                name: name.to_owned(),
                reason: e.to_string(),
            }),
    }
}
