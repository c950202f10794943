//! HTTP request parts to the request message, and response bytes to JSON,
//! following the proto3 JSON mapping and the `google.api.http` rules.
//!
//! The request is assembled as one JSON document first (body, then query
//! parameters, then path variables) and decoded once with prost-reflect, so
//! that every field, wherever it came from, gets the same proto3 JSON
//! parsing: enums by name or number, RFC 3339 timestamps, field masks,
//! 64-bit integers as strings.

use bytes::Bytes;
use http::{HeaderValue, Method};
use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage,
    SerializeOptions, Value,
};
use serde_json::{Map, Value as Json};

use crate::error::EdgeError;
use crate::routes::{Binding, BodyRule};
pub use violation::invalid_path_variable;
use violation::{Step, field_error, query_error, refused_field, unknown_enum_number, violation};

/// Longest error text taken from a parser, so that a huge bad value in a
/// request is not echoed back in full.
const MAX_ERROR_LEN: usize = 200;

/// The field grpc-gateway fills from the body's keys on PATCH.
const UPDATE_MASK: &str = "update_mask";
const FIELD_MASK: &str = "google.protobuf.FieldMask";

/// Builds the request message of `binding` from the decoded path
/// `variables` (in template order), the raw query string and the body.
///
/// # Errors
/// [`EdgeError::InvalidArgument`] when the body is not JSON or not an
/// object; [`EdgeError::InvalidField`], naming the field as the client
/// wrote it, when a query parameter names no settable field, a key names
/// no field, or any value has the wrong type or syntax.
pub fn request_message(
    binding: &Binding,
    variables: &[String],
    query: Option<&str>,
    body: &[u8],
) -> Result<DynamicMessage, EdgeError> {
    let body = parse_body(body)?;
    let body_keys = body_keys(binding, body.as_ref());
    let mut root = Map::new();
    match (&binding.body, body) {
        (_, None) => {}
        (BodyRule::None, Some(Json::Object(map))) if map.is_empty() => {}
        (BodyRule::None, Some(_)) => return Err(invalid("this route takes no request body")),
        (BodyRule::Whole, Some(Json::Object(map))) => root = map,
        (BodyRule::Whole, Some(_)) => {
            return Err(invalid("the request body must be a JSON object"));
        }
        (BodyRule::Field(field), Some(json)) => {
            root.insert(field.name().to_owned(), json);
        }
    }
    // The body alone can hold unknown keys and nulls: the query's keys are
    // resolved one by one below, and no query or path text becomes null.
    // Checked before the path fills in the message it sets.
    let mut at = Vec::new();
    if let Some(refusal) = refused_field(&binding.rpc.input, &root, &mut at) {
        return Err(violation(binding, &at, refusal.description().to_owned()));
    }
    if let Some(key) = path_field_in_body(binding, &root) {
        return Err(violation(
            binding,
            &[Step::Key(key)],
            "is given by the path, not the body".to_owned(),
        ));
    }
    let mut mask_in_query = false;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let fields = query_fields(binding, &key)?;
        mask_in_query |= fields.len() == 1 && fields[0].name() == UPDATE_MASK;
        set_query_value(binding, &mut root, &fields, &value)?;
    }
    for (fields, value) in binding.path_fields.iter().zip(variables) {
        let json = text_to_json(last(fields)?, value)
            .map_err(|reason| field_error(binding, fields, reason))?;
        let (leaf, parents) = fields
            .split_last()
            .ok_or_else(|| invalid("empty path variable"))?;
        let object = descend(binding, &mut root, parents)?;
        remove_aliases(object, leaf);
        object.insert(leaf.name().to_owned(), json);
    }

    let root = Json::Object(root);
    let mut message = decode(binding, root)?;
    let mut at = Vec::new();
    if unknown_enum_number(&message, &mut at) {
        return Err(violation(
            binding,
            &at,
            "names no value of its enum".to_owned(),
        ));
    }
    if !mask_in_query
        && binding.method == Method::PATCH
        && let Some(paths) = body_keys
    {
        set_update_mask(&mut message, paths);
    }
    Ok(message)
}

/// The body as JSON; `None` for an empty body.
fn parse_body(body: &[u8]) -> Result<Option<Json>, EdgeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| invalid(format!("malformed JSON body: {}", clip(&e.to_string()))))
}

/// For a PATCH whose body is a message field: the proto names of the
/// body's top-level keys, from which grpc-gateway derives `update_mask`.
fn body_keys(binding: &Binding, body: Option<&Json>) -> Option<Vec<String>> {
    let BodyRule::Field(field) = &binding.body else {
        return None;
    };
    let Kind::Message(body_message) = field.kind() else {
        return None;
    };
    let mask = binding.rpc.input.get_field_by_name(UPDATE_MASK)?;
    if !matches!(mask.kind(), Kind::Message(m) if m.full_name() == FIELD_MASK) || mask.is_list() {
        return None;
    }
    let object = body?.as_object().filter(|o| !o.is_empty())?;
    // Unknown keys fail decoding later; only known ones can reach the mask.
    let paths = object
        .keys()
        .filter_map(|key| field_by_any_name(&body_message, key))
        .map(|f| f.name().to_owned())
        .collect();
    Some(paths)
}

fn set_update_mask(message: &mut DynamicMessage, paths: Vec<String>) {
    let Some(field) = message.descriptor().get_field_by_name(UPDATE_MASK) else {
        return;
    };
    let Kind::Message(mask_descriptor) = field.kind() else {
        return;
    };
    let mut mask = DynamicMessage::new(mask_descriptor);
    let paths = paths.into_iter().map(Value::String).collect();
    mask.set_field_by_name("paths", Value::List(paths));
    message.set_field(&field, Value::Message(mask));
}

/// Resolves query parameter `key` (`a.b`, proto or JSON names) to the
/// fields it sets, refusing fields that the path or the body set.
fn query_fields(binding: &Binding, key: &str) -> Result<Vec<FieldDescriptor>, EdgeError> {
    let unknown = || query_error(key, "is not a query parameter of this route");
    let mut message = binding.rpc.input.clone();
    let mut fields = Vec::new();
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let field = field_by_any_name(&message, part).ok_or_else(unknown)?;
        let is_last = parts.peek().is_none();
        match field.kind() {
            _ if field.is_map() => return Err(unknown()),
            Kind::Message(inner) if !is_last => {
                if field.is_list() || is_query_scalar_message(&inner) {
                    return Err(unknown());
                }
                message = inner;
            }
            Kind::Message(inner) if !is_query_scalar_message(&inner) => return Err(unknown()),
            _ if !is_last => return Err(unknown()),
            _ => {}
        }
        fields.push(field);
    }
    let from_body = match &binding.body {
        BodyRule::None => false,
        BodyRule::Whole => true,
        BodyRule::Field(body) => fields.first() == Some(body),
    };
    if from_body {
        return Err(query_error(
            key,
            "cannot be a query parameter: the request body sets it",
        ));
    }
    let from_path = binding
        .path_fields
        .iter()
        .any(|path| path.starts_with(&fields) || fields.starts_with(path));
    if from_path {
        return Err(query_error(
            key,
            "cannot be a query parameter: the URL path sets it",
        ));
    }
    Ok(fields)
}

/// Puts one query value into the JSON document: repeated fields collect
/// every occurrence, singular ones may occur once.
fn set_query_value(
    binding: &Binding,
    root: &mut Map<String, Json>,
    fields: &[FieldDescriptor],
    value: &str,
) -> Result<(), EdgeError> {
    let (leaf, parents) = fields
        .split_last()
        .ok_or_else(|| invalid("empty query parameter"))?;
    let json = text_to_json(leaf, value).map_err(|reason| field_error(binding, fields, reason))?;
    let object = descend(binding, root, parents)?;
    if leaf.is_list() {
        let slot = object
            .entry(leaf.name().to_owned())
            .or_insert_with(|| Json::Array(Vec::new()));
        if let Json::Array(items) = slot {
            items.push(json);
        }
        return Ok(());
    }
    if object.contains_key(leaf.name()) || object.contains_key(leaf.json_name()) {
        return Err(field_error(
            binding,
            fields,
            "is given more than once".to_owned(),
        ));
    }
    object.insert(leaf.name().to_owned(), json);
    Ok(())
}

/// The JSON object for the message at `parents`, created where missing.
fn descend<'m>(
    binding: &Binding,
    mut object: &'m mut Map<String, Json>,
    parents: &[FieldDescriptor],
) -> Result<&'m mut Map<String, Json>, EdgeError> {
    for (depth, field) in parents.iter().enumerate() {
        let not_object = || {
            let at = parents.get(..=depth).unwrap_or(parents);
            field_error(binding, at, "must be a JSON object".to_owned())
        };
        let existing = remove_aliases(object, field);
        let child = existing.unwrap_or_else(|| Json::Object(Map::new()));
        if !child.is_object() {
            return Err(not_object());
        }
        object = match object.entry(field.name().to_owned()).or_insert(child) {
            Json::Object(map) => map,
            _ => return Err(not_object()),
        };
    }
    Ok(object)
}

/// Removes `field` under both its proto and its JSON name, so that a value
/// set from the path cannot be shadowed by the body's spelling of the key.
fn remove_aliases(object: &mut Map<String, Json>, field: &FieldDescriptor) -> Option<Json> {
    let by_json = object.remove(field.json_name());
    object.remove(field.name()).or(by_json)
}

/// A path or query text as the JSON value proto3 JSON expects for `field`.
/// Numbers stay strings (proto3 JSON accepts them), so range and syntax
/// errors come from the one decoder.
fn text_to_json(field: &FieldDescriptor, text: &str) -> Result<Json, String> {
    match field.kind() {
        Kind::Bool => parse_bool(text).map(Json::Bool),
        Kind::Enum(_) => Ok(text
            .parse::<i32>()
            .map_or_else(|_| Json::String(text.to_owned()), Json::from)),
        Kind::Message(message) => match message.full_name() {
            FIELD_MASK if is_field_mask(text) => Ok(Json::String(field_mask_to_json(text))),
            FIELD_MASK => {
                Err("expected comma-separated field paths such as title,dueTime".to_owned())
            }
            "google.protobuf.BoolValue" => parse_bool(text).map(Json::Bool),
            _ => Ok(Json::String(text.to_owned())),
        },
        _ => Ok(Json::String(text.to_owned())),
    }
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

/// Whether `text` is a comma list of dotted field paths, or empty (the
/// mask that changes nothing). The conversion to lowerCamelCase below
/// would make anything pass, so the syntax is checked before it. No
/// white space anywhere, as the published pattern says: a mask of only a
/// line break is a mistake, not the empty mask.
fn is_field_mask(text: &str) -> bool {
    let is_name = |name: &str| {
        name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    text.is_empty() || text.split(',').all(|path| path.split('.').all(is_name))
}

/// A comma list of field paths, proto (`due_time`) or JSON (`dueTime`)
/// spelling, as the JSON form of a `FieldMask` (lowerCamelCase).
fn field_mask_to_json(text: &str) -> String {
    let camel = |path: &str| {
        let mut out = String::with_capacity(path.len());
        let mut upper = false;
        for c in path.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                out.push(c.to_ascii_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
        out
    };
    text.split(',').map(camel).collect::<Vec<_>>().join(",")
}

/// Message types a single query or path text can set, as proto3 JSON
/// writes them as one string or scalar.
pub(crate) fn is_query_scalar_message(message: &MessageDescriptor) -> bool {
    matches!(
        message.full_name(),
        "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.DoubleValue"
            | "google.protobuf.FloatValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
    )
}

fn field_by_any_name(message: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    message
        .get_field_by_name(name)
        .or_else(|| message.get_field_by_json_name(name))
}

/// Decodes the assembled document; errors name the field at fault.
fn decode(binding: &Binding, document: Json) -> Result<DynamicMessage, EdgeError> {
    let mut track = serde_path_to_error::Track::new();
    let deserializer = serde_path_to_error::Deserializer::new(document, &mut track);
    // Unknown fields were reported by `refused_field` already; refusing
    // them here too keeps any the walk does not reach (inside maps) out.
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    let descriptor = binding.rpc.input.clone();
    DynamicMessage::deserialize_with_options(descriptor, deserializer, &options).map_err(|e| {
        let steps: Vec<Step> = track
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => Some(Step::Index(*index)),
                serde_path_to_error::Segment::Map { key } => Some(Step::Key(key.clone())),
                serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        violation(binding, &steps, clip(&e.to_string()))
    })
}

/// The JSON response of `binding` for the upstream's response bytes, and
/// the message's `etag` field as an `ETag` header value.
///
/// # Errors
/// [`EdgeError::BadUpstreamResponse`] when the bytes are not the declared
/// response message.
pub fn response_json(
    binding: &Binding,
    bytes: Bytes,
) -> Result<(Vec<u8>, Option<HeaderValue>), EdgeError> {
    // JSON spells out the field names and the defaults that protobuf
    // leaves out: room for about that at once, rather than a buffer grown
    // and copied from a few bytes up.
    let capacity = 512 + 2 * bytes.len();
    let message = DynamicMessage::decode(binding.rpc.output.clone(), bytes).map_err(|e| {
        tracing::error!(rpc = %binding.rpc.name, error = %e, "undecodable upstream response");
        EdgeError::BadUpstreamResponse
    })?;
    let options = SerializeOptions::new().skip_default_fields(false);
    let serialized = match &binding.response_body {
        None => {
            let mut serializer = serde_json::Serializer::new(Vec::with_capacity(capacity));
            message
                .serialize_with_options(&mut serializer, &options)
                .map(|()| serializer.into_inner())
        }
        Some(field) => message
            .serialize_with_options(serde_json::value::Serializer, &options)
            .and_then(|mut json| serde_json::to_vec(&json[field.json_name()].take())),
    };
    let body = serialized.map_err(|e| {
        tracing::error!(rpc = %binding.rpc.name, error = %e, "unserializable upstream response");
        EdgeError::BadUpstreamResponse
    })?;
    Ok((body, etag(&message)))
}

/// The message's string `etag` field, quoted as RFC 9110 requires.
fn etag(message: &DynamicMessage) -> Option<HeaderValue> {
    let field = message.descriptor().get_field_by_name("etag")?;
    if field.kind() != Kind::String || field.is_list() {
        return None;
    }
    let value = message.get_field(&field);
    let raw = value.as_str().filter(|s| !s.is_empty())?;
    let quoted = raw.strip_prefix("W/").unwrap_or(raw);
    if quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"') {
        HeaderValue::from_str(raw).ok()
    } else if raw.contains('"') {
        None
    } else {
        HeaderValue::from_str(&format!("\"{raw}\"")).ok()
    }
}

fn last(fields: &[FieldDescriptor]) -> Result<&FieldDescriptor, EdgeError> {
    fields.last().ok_or_else(|| invalid("empty field path"))
}

/// A key of a whole-message body that a path variable binds: with
/// `body: "*"` every field the path does not bind is the body's
/// (google.api.http), so such a key is a client mistake, not something the
/// path silently overrides.
fn path_field_in_body(binding: &Binding, root: &Map<String, Json>) -> Option<String> {
    if !matches!(binding.body, BodyRule::Whole) {
        return None;
    }
    binding
        .path_fields
        .iter()
        .filter_map(|fields| fields.first())
        .flat_map(|field| [field.name(), field.json_name()])
        .find(|name| root.contains_key(*name))
        .map(str::to_owned)
}

fn invalid(message: impl Into<String>) -> EdgeError {
    EdgeError::InvalidArgument(message.into())
}

/// `text` cut to [`MAX_ERROR_LEN`] characters.
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_LEN) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

mod violation;

#[cfg(test)]
mod tests;
