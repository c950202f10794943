//! The `google.rpc.Status` an upstream sends in `grpc-status-details-bin`,
//! rendered for the JSON error body.
//!
//! Details are decoded with the descriptor pool rather than generated
//! types, so any detail message the contract defines renders as proto3
//! JSON with its `@type`, without code here knowing it.

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions, Value};

/// Detail messages as they go into the error body, plus the retry hint.
#[derive(Debug, Default)]
pub struct Details {
    /// Each `google.protobuf.Any` as proto3 JSON with `@type`.
    pub details: Vec<serde_json::Value>,
    /// From a `google.rpc.RetryInfo`, rounded up to whole seconds.
    pub retry_after_secs: Option<u64>,
    /// The `reason` of a `google.rpc.ErrorInfo`.
    pub reason: Option<String>,
}

const STATUS: &str = "google.rpc.Status";
const RETRY_INFO: &str = "google.rpc.RetryInfo";
const ERROR_INFO: &str = "google.rpc.ErrorInfo";
const BAD_REQUEST: &str = "google.rpc.BadRequest";

/// Decodes `bytes`, the serialized `google.rpc.Status`. Anything that does
/// not decode is dropped: an error response must never fail itself.
pub fn decode(pool: &DescriptorPool, bytes: &[u8]) -> Details {
    if bytes.is_empty() {
        return Details::default();
    }
    let Some(status) = pool
        .get_message_by_name(STATUS)
        .and_then(|desc| DynamicMessage::decode(desc, bytes).ok())
    else {
        tracing::warn!("upstream sent undecodable status details");
        return Details::default();
    };
    let mut out = Details::default();
    let details = status.get_field_by_name("details");
    for any in details
        .as_deref()
        .and_then(Value::as_list)
        .unwrap_or_default()
    {
        let Some(any) = any.as_message() else {
            continue;
        };
        out.details.push(render_any(any));
        if out.retry_after_secs.is_none() {
            out.retry_after_secs = retry_after_secs(pool, any);
        }
        if out.reason.is_none() {
            out.reason = unpack(pool, any, ERROR_INFO).map(|info| string_field(&info, "reason"));
        }
    }
    out
}

/// A `google.rpc.BadRequest` naming one field, rendered as [`decode`]
/// renders the ones upstreams send, so that a client reads a violation
/// the edge found exactly like one a service found.
pub fn bad_request(field: &str, description: &str) -> serde_json::Value {
    serde_json::json!({
        "@type": format!("type.googleapis.com/{BAD_REQUEST}"),
        "fieldViolations": [
            {"field": field, "description": description, "reason": ""}
        ]
    })
}

/// One `Any` as proto3 JSON; only its `@type` when its type is unknown.
fn render_any(any: &DynamicMessage) -> serde_json::Value {
    let options = SerializeOptions::new().skip_default_fields(false);
    any.serialize_with_options(serde_json::value::Serializer, &options)
        .unwrap_or_else(|_| serde_json::json!({ "@type": string_field(any, "type_url") }))
}

fn string_field(message: &DynamicMessage, name: &str) -> String {
    message
        .get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The message packed in `any` if it is a `type_name`.
fn unpack(pool: &DescriptorPool, any: &DynamicMessage, type_name: &str) -> Option<DynamicMessage> {
    let type_url = string_field(any, "type_url");
    if type_url.rsplit('/').next()? != type_name {
        return None;
    }
    let value = any.get_field_by_name("value")?;
    DynamicMessage::decode(
        pool.get_message_by_name(type_name)?,
        value.as_bytes()?.clone(),
    )
    .ok()
}

/// The delay of a `google.rpc.RetryInfo` packed in `any`, if it is one.
fn retry_after_secs(pool: &DescriptorPool, any: &DynamicMessage) -> Option<u64> {
    let info = unpack(pool, any, RETRY_INFO)?;
    let delay = info.get_field_by_name("retry_delay")?;
    let delay = delay.as_message()?;
    let seconds = delay.get_field_by_name("seconds")?.as_i64()?;
    let nanos = delay.get_field_by_name("nanos")?.as_i32()?;
    let rounded_up = seconds.saturating_add(i64::from(nanos > 0));
    u64::try_from(rounded_up).ok()
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use prost_types::Any;
    use todo_proto::google::rpc;

    use super::*;

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(todo_proto::FILE_DESCRIPTOR_SET).unwrap()
    }

    fn any<M: Message>(type_name: &str, message: &M) -> Any {
        Any {
            type_url: format!("type.googleapis.com/{type_name}"),
            value: message.encode_to_vec(),
        }
    }

    fn status_bytes(details: Vec<Any>) -> Vec<u8> {
        rpc::Status {
            code: 3,
            message: "invalid".into(),
            details,
        }
        .encode_to_vec()
    }

    #[test]
    fn bad_request_details_render_as_json_with_their_type() {
        let bad_request = rpc::BadRequest {
            field_violations: vec![rpc::bad_request::FieldViolation {
                field: "title".into(),
                description: "must not be empty".into(),
                reason: String::new(),
            }],
        };
        let bytes = status_bytes(vec![any("google.rpc.BadRequest", &bad_request)]);
        let details = decode(&pool(), &bytes);
        assert_eq!(
            details.details,
            [serde_json::json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [
                    {"field": "title", "description": "must not be empty", "reason": ""}
                ]
            })]
        );
        assert_eq!(details.retry_after_secs, None);
    }

    #[test]
    fn the_edge_renders_its_own_violations_like_upstream_ones() {
        let upstream = rpc::BadRequest {
            field_violations: vec![rpc::bad_request::FieldViolation {
                field: "dueTime".into(),
                description: "not a timestamp".into(),
                ..Default::default()
            }],
        };
        let bytes = status_bytes(vec![any(BAD_REQUEST, &upstream)]);
        assert_eq!(
            decode(&pool(), &bytes).details,
            [bad_request("dueTime", "not a timestamp")]
        );
    }

    #[test]
    fn retry_info_gives_retry_after_rounded_up() {
        let info = rpc::RetryInfo {
            retry_delay: Some(prost_types::Duration {
                seconds: 2,
                nanos: 500_000_000,
            }),
        };
        let details = decode(
            &pool(),
            &status_bytes(vec![any("google.rpc.RetryInfo", &info)]),
        );
        assert_eq!(details.retry_after_secs, Some(3));
        assert_eq!(details.details[0]["retryDelay"], "2.500s");
    }

    #[test]
    fn unknown_and_broken_details_do_not_fail_the_error() {
        let unknown = Any {
            type_url: "type.googleapis.com/acme.Secret".into(),
            value: vec![1, 2, 3],
        };
        let details = decode(&pool(), &status_bytes(vec![unknown]));
        assert_eq!(
            details.details,
            [serde_json::json!({"@type": "type.googleapis.com/acme.Secret"})]
        );
        assert!(decode(&pool(), b"\xff\xff").details.is_empty());
        assert!(decode(&pool(), b"").details.is_empty());
    }
}
