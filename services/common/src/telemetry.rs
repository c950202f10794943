//! Structured logs through `tracing`.
//!
//! `TODO_LOG` is the filter (default `info`), `TODO_LOG_FORMAT` is `text`
//! (default) or `json`. Request data is never logged wholesale: it carries
//! passwords and tokens.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init() {
    let filter = EnvFilter::try_from_env("TODO_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("TODO_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
