//! The platform's protobuf contract, generated at build time from `proto/`.
//!
//! - [`todo::user::v1`], [`todo::task::v1`], [`todo::notify::v1`]: messages,
//!   tonic clients and servers of the three services. Public services carry
//!   `google.api.http` annotations; the `*InternalService`s carry none and
//!   are called only between services.
//! - [`google::rpc`]: the error-detail messages sent in
//!   `grpc-status-details-bin`; [`google::type`]: `Date`.
//! - `todo/api/v1/schema.proto`: the `todo.api.v1.field_schema` field
//!   option, constraints of request fields that the edge publishes in its
//!   OpenAPI document (read from the descriptors, so no Rust code for it).
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors of all of it, options
//!   included, for the edge's transcoding; [`port_descriptors`]: one
//!   service's part of it, for gRPC reflection on that service's port.

#![allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]

/// Encoded `google.protobuf.FileDescriptorSet` of every `.proto` file here
/// and its imports, with source info (comments) and custom options intact.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/descriptor_set.bin"));

/// The descriptors each service port serves by reflection: the service's
/// own file (its public and internal service) and that file's imports,
/// nothing of the other services.
pub mod port_descriptors {
    /// `todo/user/v1/user.proto` and its imports.
    pub const USER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/user_descriptor_set.bin"));
    /// `todo/task/v1/task.proto` and its imports.
    pub const TASK: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/task_descriptor_set.bin"));
    /// `todo/notify/v1/notify.proto` and its imports.
    pub const NOTIFY: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/notify_descriptor_set.bin"));
}

pub mod todo {
    pub mod user {
        pub mod v1 {
            tonic::include_proto!("todo.user.v1");
        }
    }
    pub mod task {
        pub mod v1 {
            tonic::include_proto!("todo.task.v1");
        }
    }
    pub mod notify {
        pub mod v1 {
            tonic::include_proto!("todo.notify.v1");
        }
    }
}

pub mod google {
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
    /// `google.type.Date`: a task's all-day due.
    pub mod r#type {
        include!(concat!(env!("OUT_DIR"), "/google.r#type.rs"));
    }
}
