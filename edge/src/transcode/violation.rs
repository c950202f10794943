//! Naming the field at fault when a request cannot be decoded, as the
//! client wrote it: JSON names, dotted, array indexes in brackets, and
//! without the body field when the body is one field (a client posting a
//! task writes `dueTime`, not `task.dueTime`), which is how the services
//! name the fields of their own violations.

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};
use serde_json::{Map, Value as Json};

use super::{clip, field_by_any_name, invalid};
use crate::error::EdgeError;
use crate::routes::{Binding, BodyRule};

/// One step of a path into the JSON document: an object key (proto or
/// JSON name) or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    Key(String),
    Index(usize),
}

/// Why a key of the request document is refused before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The key names no field of its message.
    Unknown,
    /// The value is JSON `null`. Proto3 JSON reads it as "the default",
    /// which would make `{"timeZone": null}` in a PATCH an unrequested
    /// change that looks like a clear; clearing is what `updateMask` says,
    /// so a field is either given a value or left out.
    Null,
}

impl Refusal {
    pub(super) fn description(self) -> &'static str {
        match self {
            Self::Unknown => "unknown field",
            Self::Null => "must not be null; leave the field out",
        }
    }
}

/// Finds the first object key, depth first in key order, that names no
/// field of its message or holds `null`, leaving its path in `path`.
/// Well-known types (`google.protobuf.*`) have JSON forms of their own and
/// are left to the decoder, as are map values.
pub(super) fn refused_field(
    message: &MessageDescriptor,
    object: &Map<String, Json>,
    path: &mut Vec<Step>,
) -> Option<Refusal> {
    if message.package_name() == "google.protobuf" {
        return None;
    }
    for (key, value) in object {
        path.push(Step::Key(key.clone()));
        let Some(field) = field_by_any_name(message, key) else {
            return Some(Refusal::Unknown);
        };
        if value.is_null() && !holds_null(&field) {
            return Some(Refusal::Null);
        }
        let found = match field.kind() {
            Kind::Message(_) if field.is_map() => None,
            Kind::Message(inner) if field.is_list() => match value {
                Json::Array(items) => items.iter().enumerate().find_map(|(index, item)| {
                    let Json::Object(item) = item else {
                        return None;
                    };
                    path.push(Step::Index(index));
                    let found = refused_field(&inner, item, path);
                    if found.is_none() {
                        path.pop();
                    }
                    found
                }),
                _ => None,
            },
            Kind::Message(inner) => match value {
                Json::Object(value) => refused_field(&inner, value, path),
                _ => None,
            },
            _ => None,
        };
        if found.is_some() {
            return found;
        }
        path.pop();
    }
    None
}

/// Finds the first enum field, depth first, whose number names no value of
/// its enum, leaving its path in `path`. Proto3 JSON reads enums by number
/// as well as by name and keeps unknown numbers, so `"priority": -5` would
/// otherwise reach the service, which may not look at a field outside a
/// PATCH's mask.
pub(super) fn unknown_enum_number(message: &DynamicMessage, path: &mut Vec<Step>) -> bool {
    for (field, value) in message.fields() {
        path.push(Step::Key(field.name().to_owned()));
        let found = match value {
            Value::List(items) => items.iter().enumerate().any(|(index, item)| {
                path.push(Step::Index(index));
                let found = unknown_in_value(&field, item, path);
                if !found {
                    path.pop();
                }
                found
            }),
            Value::Map(_) => false,
            single => unknown_in_value(&field, single, path),
        };
        if found {
            return true;
        }
        path.pop();
    }
    false
}

fn unknown_in_value(field: &FieldDescriptor, value: &Value, path: &mut Vec<Step>) -> bool {
    match (field.kind(), value) {
        (Kind::Enum(enumeration), Value::EnumNumber(number)) => {
            enumeration.get_value(*number).is_none()
        }
        (Kind::Message(_), Value::Message(inner)) => unknown_enum_number(inner, path),
        _ => false,
    }
}

/// Whether `null` is a value of the field rather than an absence:
/// `google.protobuf.Value` and `NullValue` carry JSON `null` itself.
fn holds_null(field: &FieldDescriptor) -> bool {
    match field.kind() {
        Kind::Message(message) => message.full_name() == "google.protobuf.Value",
        Kind::Enum(enumeration) => enumeration.full_name() == "google.protobuf.NullValue",
        _ => false,
    }
}

/// The field at `steps` named as the client wrote it: JSON names, dotted,
/// array indexes in brackets, and without the body field when the body is
/// one field (a client posting a task writes `dueTime`, not
/// `task.dueTime`). Keys that name no field are kept as they are.
fn client_path(binding: &Binding, steps: &[Step]) -> String {
    let mut message = Some(binding.rpc.input.clone());
    let mut out = String::new();
    for (at, step) in steps.iter().enumerate() {
        let key = match step {
            Step::Index(index) => {
                out.push_str(&format!("[{index}]"));
                continue;
            }
            Step::Key(key) => key,
        };
        let field = message.as_ref().and_then(|m| field_by_any_name(m, key));
        message = field.as_ref().and_then(|f| match f.kind() {
            Kind::Message(inner) if !f.is_map() => Some(inner),
            _ => None,
        });
        let is_body = matches!((&binding.body, &field), (BodyRule::Field(body), Some(f)) if at == 0 && body == f);
        if is_body {
            continue;
        }
        if !out.is_empty() {
            out.push('.');
        }
        match &field {
            Some(field) => out.push_str(field.json_name()),
            None => out.push_str(&clip(key)),
        }
    }
    out
}

/// The error for the field at `steps`; the body as a whole (an empty
/// path) has no field name, so it gets a message only.
pub(super) fn violation(binding: &Binding, steps: &[Step], description: String) -> EdgeError {
    let field = client_path(binding, steps);
    if field.is_empty() {
        return invalid(format!("invalid request body: {description}"));
    }
    EdgeError::InvalidField { field, description }
}

/// [`violation`] for the field reached through `fields`.
pub(super) fn field_error(
    binding: &Binding,
    fields: &[FieldDescriptor],
    description: String,
) -> EdgeError {
    let steps: Vec<Step> = fields
        .iter()
        .map(|f| Step::Key(f.name().to_owned()))
        .collect();
    violation(binding, &steps, description)
}

/// The error for a query parameter that names no settable field: the key
/// is named as written, since it names no field to spell otherwise.
pub(super) fn query_error(key: &str, description: &str) -> EdgeError {
    EdgeError::InvalidField {
        field: clip(key),
        description: description.to_owned(),
    }
}

/// The error for the path variable at `index` of `binding`'s template
/// whose value is not valid percent-encoded UTF-8.
pub fn invalid_path_variable(binding: &Binding, index: usize) -> EdgeError {
    let description = "is not valid percent-encoded UTF-8".to_owned();
    match binding.path_fields.get(index) {
        Some(fields) => field_error(binding, fields, description),
        None => invalid(format!("the URL path {description}")),
    }
}
