//! The public JSON REST edge of the ToDo platform.
//!
//! It serves every RPC that carries a `google.api.http` annotation by
//! transcoding: the route table, the JSON mapping and the upstream call
//! all come from the embedded descriptors ([`todo_proto::FILE_DESCRIPTOR_SET`]),
//! so annotating an RPC in a `.proto` file is all it takes to publish it.
//! There is no handler per route.
//!
//! # Layout
//! - [`config`]: [`EdgeConfig`], read from the environment.
//! - [`state`]: [`EdgeState`], what every handler shares, built once.
//! - [`server`]: [`Edge`] (bind, then run until stopped) and
//!   [`router`]; [`serve`]: the HTTP server under it (connection cap,
//!   header read timeout).
//! - [`template`]: path template parser and segment-trie matcher.
//! - [`routes`]: the route table built from the annotations at start-up.
//! - [`transcode`]: request parts to request message, response to JSON.
//! - [`upstream`]: channels, the raw-bytes gRPC call, health checks.
//! - [`metadata`]: the headers that travel upstream.
//! - [`error`]: the gRPC-code-to-HTTP table and the JSON error body;
//!   [`details`] renders `google.rpc.Status` details.
//! - [`observe`]: request id, span, access log and request metrics;
//!   [`metrics`]: the series and their Prometheus rendering.
//! - [`headers`]: `nosniff`, `no-store` and HSTS on every response.
//! - [`limits`]: URL and header size limits, the concurrency limit, and
//!   the HTTP server's own limits above them.
//! - [`openapi`]: the OpenAPI 3.1 document, from the same descriptors.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`;
//!   [`proxy`]: the one transcoding handler.

pub mod config;
pub mod details;
pub mod error;
pub mod headers;
pub mod limits;
pub mod metadata;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod ops;
pub mod proxy;
pub mod routes;
pub mod serve;
pub mod server;
pub mod state;
pub mod template;
pub mod transcode;
pub mod upstream;

#[cfg(test)]
mod testing;

pub use config::{EdgeConfig, Upstream};
pub use server::{Edge, router, router_with};
pub use state::EdgeState;
pub use todo_common::CancellationToken;
