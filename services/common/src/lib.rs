//! Plumbing that every binary of the platform shares. No business logic
//! lives here: each service owns its rules, this crate only wires them up.
//! Nothing here touches a database (that is `todo-store`), so the edge
//! links no database driver.
//!
//! # Layout
//! - [`config`]: reading typed settings from the environment.
//! - [`telemetry`]: the tracing subscriber.
//! - [`shutdown`]: SIGINT/SIGTERM as a future.
//! - [`auth`]: local verification of access tokens with keys fetched from
//!   the user service, and the service credential for internal RPCs;
//!   [`verified_tokens`]: tokens verified once, remembered until `exp`.
//! - [`grpc`]: a tonic server with health, reflection and request spans;
//!   [`upstream`]: the channel to another part, balanced over
//!   comma-separated replicas; [`dial`]: how a channel dials, pausing after
//!   failures; [`in_process`]: calls between the parts of one process
//!   through memory instead of loopback TCP; [`direct`]: or without a
//!   connection at all.
//! - [`services`]: the table of services: gRPC names, variable prefix,
//!   default port.
//! - [`paging`]: page sizes and tamper-evident page tokens.
//! - [`status`]: building `tonic::Status` values clients can act on.
//! - [`clock`]: ids and time conversions; [`time_zone`]: the accepted
//!   time zone names.
//! - [`text`]: text that looks empty; [`email`]: the accepted e-mail
//!   addresses.

pub mod auth;
pub mod clock;
pub mod config;
pub mod dial;
pub mod direct;
pub mod email;
pub mod grpc;
pub mod in_process;
pub mod paging;
pub mod services;
pub mod shutdown;
pub mod status;
pub mod telemetry;
pub mod text;
pub mod time_zone;
pub mod upstream;
pub mod verified_tokens;

pub use tokio_util::sync::CancellationToken;
