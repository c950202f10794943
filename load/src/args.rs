//! `--name value` options and `--flag` switches, checked against what a
//! subcommand accepts so that a misspelt option fails instead of being
//! ignored.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use anyhow::{Context, bail};

/// The options of one subcommand.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, String>,
    flags: HashSet<String>,
}

impl Args {
    /// Reads `args`: each of `valued` takes the argument after it, each of
    /// `flags` stands alone.
    ///
    /// # Errors
    /// An unknown option, a positional argument, or an option without its
    /// value.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        valued: &[&str],
        flags: &[&str],
    ) -> anyhow::Result<Self> {
        let mut parsed = Self::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else {
                bail!("unexpected argument {arg:?}");
            };
            if flags.contains(&name) {
                parsed.flags.insert(name.to_owned());
            } else if valued.contains(&name) {
                let value = args
                    .next()
                    .with_context(|| format!("--{name} needs a value"))?;
                parsed.values.insert(name.to_owned(), value);
            } else {
                bail!("unknown option --{name}");
            }
        }
        Ok(parsed)
    }

    /// Whether `--name` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(name)
    }

    /// The value of `--name`, or `default`.
    pub fn text(&self, name: &str, default: &str) -> String {
        self.values
            .get(name)
            .map_or_else(|| default.to_owned(), Clone::clone)
    }

    /// The value of `--name`, which must be given.
    ///
    /// # Errors
    /// When it is missing.
    pub fn required(&self, name: &str) -> anyhow::Result<String> {
        self.values
            .get(name)
            .cloned()
            .with_context(|| format!("--{name} is required"))
    }

    /// The value of `--name` parsed, or `default`.
    ///
    /// # Errors
    /// When the value does not parse.
    pub fn parsed<T>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T: FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        match self.values.get(name) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .with_context(|| format!("--{name} {value:?} is not valid")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn values_flags_and_defaults() -> anyhow::Result<()> {
        let parsed = Args::parse(
            args(&["--duration", "2.5", "--strict"]),
            &["duration", "db"],
            &["strict"],
        )?;
        assert_eq!(parsed.parsed("duration", 10.0)?, 2.5);
        assert!(parsed.flag("strict"));
        assert_eq!(parsed.text("db", "sqlite"), "sqlite");
        assert!(parsed.required("db").is_err());
        Ok(())
    }

    #[test]
    fn unknown_options_and_missing_values_are_refused() {
        assert!(Args::parse(args(&["--nope", "1"]), &["duration"], &[]).is_err());
        assert!(Args::parse(args(&["--duration"]), &["duration"], &[]).is_err());
        assert!(Args::parse(args(&["stray"]), &["duration"], &[]).is_err());
    }
}
