//! Test fixtures: the real route table, and route tables built from small
//! `.proto` sources compiled in the test, for annotation shapes the
//! platform's own contract does not use.

use std::path::PathBuf;

use http::Method;
use prost_reflect::DescriptorPool;
use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};

use crate::error::EdgeError;
use crate::routes::{Lookup, RouteError, RouteTable};
use crate::transcode::request_message;

/// The name the test source is compiled under.
const TEST_FILE: &str = "test/v1/test.proto";

struct InlineFile(String);

impl FileResolver for InlineFile {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == TEST_FILE {
            File::from_source(name, &self.0)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

/// The default configuration with every upstream at a port nothing
/// listens on: calls fail at once with a refused connection.
pub fn closed_config() -> crate::EdgeConfig {
    let mut config = crate::EdgeConfig::default();
    for upstream in &mut config.upstreams {
        upstream.url = "http://127.0.0.1:1".to_owned();
    }
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config
}

/// The platform's descriptors.
pub fn real_pool() -> DescriptorPool {
    DescriptorPool::decode(todo_proto::FILE_DESCRIPTOR_SET).unwrap()
}

/// The platform's route table.
pub fn real_table() -> RouteTable {
    RouteTable::from_pool(&real_pool()).unwrap()
}

/// `source` compiled with the platform's `google/api` files importable.
pub fn pool_from(source: &str) -> DescriptorPool {
    let mut resolver = ChainFileResolver::new();
    resolver.add(InlineFile(source.to_owned()));
    resolver.add(IncludeFileResolver::new(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto"),
    ));
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    compiler.open_file(TEST_FILE).unwrap();
    DescriptorPool::decode(compiler.encode_file_descriptor_set().as_slice()).unwrap()
}

/// The route table of `source`, or why it was refused.
pub fn table_from(source: &str) -> Result<RouteTable, RouteError> {
    RouteTable::from_pool(&pool_from(source))
}

/// Transcodes a request through `table` and returns the request message
/// as proto3 JSON (defaults skipped), with the RPC's full name.
pub fn transcode(
    table: &RouteTable,
    method: Method,
    uri: &str,
    body: &str,
) -> Result<(String, serde_json::Value), EdgeError> {
    let (path, query) = match uri.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (uri, None),
    };
    let Lookup::Found(hit) = table.lookup(&method, path) else {
        panic!("no route for {method} {path}");
    };
    let variables = hit.variables().unwrap();
    let message = request_message(hit.value, &variables, query, body.as_bytes())?;
    Ok((
        hit.value.rpc.name.clone(),
        serde_json::to_value(&message).unwrap(),
    ))
}
