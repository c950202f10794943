//! Health probes for container `HEALTHCHECK`s, so a runtime image needs no
//! curl or grpc_health_probe.

use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const TIMEOUT: Duration = Duration::from_secs(3);

/// Succeeds when the gRPC server at `addr` (`host:port`) reports SERVING.
///
/// # Errors
/// When it is unreachable or not serving.
pub async fn grpc(addr: &str) -> anyhow::Result<()> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(TIMEOUT)
        .timeout(TIMEOUT)
        .connect()
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?
        .into_inner()
        .status();
    anyhow::ensure!(status == ServingStatus::Serving, "{addr} is {status:?}");
    Ok(())
}

/// Succeeds when `GET url` (plain `http://host:port/path`) answers 200.
///
/// # Errors
/// When it is unreachable or answers anything else.
pub async fn http(url: &str) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("http://")
        .context("only http:// URLs are supported")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(host).await?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        anyhow::Ok(head)
    };
    let head = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .context("timed out")??;
    anyhow::ensure!(
        head.starts_with(b"HTTP/1.1 200"),
        "{url} answered {}",
        String::from_utf8_lossy(&head)
    );
    Ok(())
}
