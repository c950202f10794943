//! The gRPC clients of the services and the metadata every call carries.

use std::net::IpAddr;

use todo_common::auth::ServiceCredential;
use todo_common::upstream::Upstream;
use todo_proto::todo::notify::v1::notify_service_client::NotifyServiceClient;
use todo_proto::todo::task::v1::task_service_client::TaskServiceClient;
use todo_proto::todo::user::v1::user_service_client::UserServiceClient;
use tonic::metadata::AsciiMetadataValue;

/// The metadata key that carries the client's address upstream, as the
/// edge sends it.
const CLIENT_ADDRESS: &str = todo_edge::metadata::CLIENT_ADDRESS;

/// Lazy channels to the three services (direct calls when they run in
/// this process); cloning a client is cheap.
pub struct Services {
    pub user: UserServiceClient<Upstream>,
    pub task: TaskServiceClient<Upstream>,
    pub notify: NotifyServiceClient<Upstream>,
    credential: Option<ServiceCredential>,
}

impl Services {
    /// # Errors
    /// When a URL is invalid. Nothing is dialled yet.
    pub fn connect(
        user: &str,
        task: &str,
        notify: &str,
        credential: Option<ServiceCredential>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            user: UserServiceClient::new(todo_common::upstream::channel(user)?),
            task: TaskServiceClient::new(todo_common::upstream::channel(task)?),
            notify: NotifyServiceClient::new(todo_common::upstream::channel(notify)?),
            credential,
        })
    }

    /// A request carrying `message`, the client's address with the service
    /// credential that makes the services trust it (so that their throttles
    /// count per person, not per web server), and the access token if any.
    pub fn request<T>(
        &self,
        message: T,
        client: Option<IpAddr>,
        access_token: Option<&str>,
    ) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        if let Some(ip) = client.and_then(|ip| AsciiMetadataValue::try_from(ip.to_string()).ok()) {
            metadata.insert(CLIENT_ADDRESS, ip);
        }
        if let Some(token) =
            access_token.and_then(|t| AsciiMetadataValue::try_from(format!("Bearer {t}")).ok())
        {
            metadata.insert("authorization", token);
        }
        if let Some(credential) = &self.credential {
            // A secret that is not valid metadata was refused at start-up
            // by the services already; the call then goes without it.
            let _ = credential.attach(metadata);
        }
        request
    }
}
