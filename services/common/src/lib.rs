//! Plumbing that every binary of the platform shares. No business logic
//! lives here: each service owns its rules, this crate only wires them up.
//!
//! # Layout
//! - [`config`]: reading typed settings from the environment.
//! - [`telemetry`]: the tracing subscriber.
//! - [`shutdown`]: SIGINT/SIGTERM as a future.
//! - [`db`]: the sqlx pool (SQLite or MySQL/MariaDB behind one code path)
//!   and migrations.
//! - [`auth`]: local verification of access tokens with keys fetched from
//!   the user service, and the service credential for internal RPCs.
//! - [`erased`]: users whose accounts are gone, and credential changes:
//!   the access tokens they refuse.
//! - [`grpc`]: a tonic server with health, reflection and request spans, and
//!   client channels balanced over comma-separated replicas; [`dial`]: how
//!   a channel dials, pausing after failures.
//! - [`outbox`]: calls to other services that must not be lost.
//! - [`paging`]: page sizes and tamper-evident page tokens.
//! - [`poll`]: the loop every background worker runs (pass, wake, idle
//!   interval, shutdown).
//! - [`status`]: building `tonic::Status` values clients can act on.
//! - [`clock`]: ids and time conversions.
//! - [`text`]: text that looks empty.

pub mod auth;
pub mod clock;
pub mod config;
pub mod db;
pub mod dial;
pub mod erased;
pub mod grpc;
pub mod outbox;
pub mod paging;
pub mod poll;
pub mod shutdown;
pub mod status;
pub mod telemetry;
pub mod text;

pub use tokio_util::sync::CancellationToken;
