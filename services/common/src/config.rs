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

/// Where settings are read from: the process environment in binaries
/// ([`env`]), a map in tests, so parsing is tested without touching the
/// process environment.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as a [`Lookup`].
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The value of `name`, if set and not empty.
pub fn var_opt(lookup: Lookup<'_>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

/// `name` parsed as `T`, or `default` when unset.
///
/// # Errors
/// [`ConfigError::Invalid`] when the variable is set but does not parse.
pub fn var_or<T>(lookup: Lookup<'_>, name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    match var_opt(lookup, name) {
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
