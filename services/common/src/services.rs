//! The table of the platform's services: each one's gRPC names, the prefix
//! of its environment variables and its default port. Configurations, the
//! launcher, the edge's upstreams and health registration all read it, so
//! a port or a name is written once.

use std::net::SocketAddr;

use todo_proto::todo::notify::v1::{notify_internal_service_server, notify_service_server};
use todo_proto::todo::task::v1::{task_internal_service_server, task_service_server};
use todo_proto::todo::user::v1::{user_internal_service_server, user_service_server};

/// One service of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The public gRPC service (tonic's `NamedService::NAME`): what the edge
    /// routes to.
    pub public: &'static str,
    /// The internal gRPC service served on the same port.
    pub internal: &'static str,
    /// The prefix of its variables: `{prefix}_LISTEN` where it listens,
    /// `{prefix}_URL` where its clients find it.
    pub env_prefix: &'static str,
    /// Its port when nothing is configured.
    pub default_port: u16,
}

pub const USER: ServiceSpec = ServiceSpec {
    public: user_service_server::SERVICE_NAME,
    internal: user_internal_service_server::SERVICE_NAME,
    env_prefix: "TODO_USER",
    default_port: 50051,
};

pub const TASK: ServiceSpec = ServiceSpec {
    public: task_service_server::SERVICE_NAME,
    internal: task_internal_service_server::SERVICE_NAME,
    env_prefix: "TODO_TASK",
    default_port: 50052,
};

pub const NOTIFY: ServiceSpec = ServiceSpec {
    public: notify_service_server::SERVICE_NAME,
    internal: notify_internal_service_server::SERVICE_NAME,
    env_prefix: "TODO_NOTIFY",
    default_port: 50053,
};

/// Every service, in start-up order.
pub const ALL: [ServiceSpec; 3] = [USER, TASK, NOTIFY];

impl ServiceSpec {
    /// The services its port serves, for health registration.
    pub const fn names(&self) -> [&'static str; 2] {
        [self.public, self.internal]
    }

    /// The variable of its listen address.
    pub fn listen_var(&self) -> String {
        format!("{}_LISTEN", self.env_prefix)
    }

    /// The variable of its URL, read by its clients.
    pub fn url_var(&self) -> String {
        format!("{}_URL", self.env_prefix)
    }

    /// Where it listens by default: loopback, its default port.
    pub fn default_listen(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.default_port))
    }

    /// Where its clients find it by default.
    pub fn default_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.default_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_distinct_services_and_ports() {
        assert_eq!(USER.public, "todo.user.v1.UserService");
        assert_eq!(NOTIFY.internal, "todo.notify.v1.NotifyInternalService");
        assert_eq!(TASK.listen_var(), "TODO_TASK_LISTEN");
        assert_eq!(TASK.url_var(), "TODO_TASK_URL");
        assert_eq!(USER.default_url(), "http://127.0.0.1:50051");
        let mut ports: Vec<_> = ALL.iter().map(|s| s.default_port).collect();
        ports.dedup();
        assert_eq!(ports.len(), ALL.len());
    }
}
