//! The gRPC side: one long-lived channel per upstream service (direct
//! calls when the service runs in this process, see
//! [`todo_common::upstream`]), raw-bytes unary calls, and health checks
//! for readiness.
//!
//! The edge never needs generated client types: it already holds the
//! encoded request, so a pass-through codec hands the bytes to tonic and
//! takes the response bytes back for decoding with the descriptors.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use http::uri::PathAndQuery;
use todo_common::upstream::Upstream;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataMap;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::config;

/// A codec that passes already-encoded protobuf bytes through unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BytesCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesCodec
    }
}

impl Encoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// The channel of every upstream service, by fully qualified service name.
/// Cloning is cheap; clones share the channels and their connections.
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    channels: Arc<HashMap<String, Upstream>>,
    /// Service names in configuration order, for readiness reports.
    order: Arc<Vec<String>>,
}

impl Upstreams {
    /// Lazily connecting channels to `upstreams`: an upstream that is down
    /// at start-up is reached once it comes up. Needs a Tokio runtime.
    ///
    /// # Errors
    /// When a URL is invalid.
    pub fn connect(upstreams: &[config::Upstream]) -> anyhow::Result<Self> {
        let mut channels = HashMap::new();
        let mut order = Vec::new();
        for upstream in upstreams {
            let channel = todo_common::upstream::channel(&upstream.url)?;
            channels.insert(upstream.service.clone(), channel);
            order.push(upstream.service.clone());
        }
        Ok(Self {
            channels: Arc::new(channels),
            order: Arc::new(order),
        })
    }

    /// Whether `service` has a channel.
    pub fn serves(&self, service: &str) -> bool {
        self.channels.contains_key(service)
    }

    /// The channel of `service`.
    pub fn channel(&self, service: &str) -> Option<Upstream> {
        self.channels.get(service).cloned()
    }

    /// The first upstream, in configuration order, whose health check
    /// does not answer SERVING for its service within `timeout`, with what
    /// it answered instead.
    pub async fn first_not_serving(&self, timeout: Duration) -> Option<(String, String)> {
        let checks = self.order.iter().filter_map(|service| {
            let channel = self.channels.get(service)?.clone();
            Some(async move {
                let verdict = check(channel, service, timeout).await;
                (service.clone(), verdict)
            })
        });
        futures::future::join_all(checks)
            .await
            .into_iter()
            .find_map(|(service, verdict)| verdict.err().map(|why| (service, why)))
    }
}

/// One `grpc.health.v1.Health/Check` for `service`.
async fn check(channel: Upstream, service: &str, timeout: Duration) -> Result<(), String> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    request.set_timeout(timeout);
    let mut client = HealthClient::new(channel);
    match tokio::time::timeout(timeout, client.check(request)).await {
        Err(_) => Err("health check timed out".to_owned()),
        Ok(Err(status)) => Err(format!("health check failed: {:?}", status.code())),
        Ok(Ok(response)) => match response.into_inner().status() {
            ServingStatus::Serving => Ok(()),
            other => Err(other.as_str_name().to_owned()),
        },
    }
}

/// A unary call of `path` with the encoded `request`, bounded by `timeout`
/// both on the wire (`grpc-timeout`) and locally, so that an upstream that
/// ignores its deadline cannot hold the request open.
///
/// # Errors
/// The upstream's status, or DEADLINE_EXCEEDED / UNAVAILABLE from the
/// channel.
pub async fn unary(
    channel: Upstream,
    path: PathAndQuery,
    request: Bytes,
    metadata: MetadataMap,
    timeout: Duration,
) -> Result<Bytes, Status> {
    let call = async move {
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.map_err(|e| {
            let mut status = Status::unavailable("upstream service unavailable");
            status.set_source(Arc::from(e));
            status
        })?;
        let mut request =
            tonic::Request::from_parts(metadata, tonic::Extensions::default(), request);
        request.set_timeout(timeout);
        grpc.unary(request, path, BytesCodec).await
    };
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result.map(tonic::Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded(
            "the upstream service did not answer in time",
        )),
    }
}
