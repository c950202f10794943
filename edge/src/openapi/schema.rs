//! JSON Schemas of messages and enums in their proto3 JSON form:
//! lowerCamelCase names, enums as their value names, 64-bit integers and
//! well-known types as strings, repeated fields as arrays, maps as
//! objects, and every other message as a `$ref` to `components/schemas`.
//! A field's `todo.api.v1.field_schema` option adds its constraints
//! (required, pattern, lengths, bounds, item count, accepted values, format,
//! and the fields a request body must carry).
//!
//! No schema admits `null`: the edge refuses it for every field (see
//! `crate::transcode`), so a field is either given a value or left out.

use std::collections::BTreeMap;

use prost_reflect::{
    DescriptorPool, DynamicMessage, EnumDescriptor, ExtensionDescriptor, FieldDescriptor, Kind,
    MessageDescriptor, Value,
};
use serde_json::{Value as Json, json};

use super::comments::Comments;

/// The components a document refers to, collected while its operations
/// are written: each message or enum is described once, under its fully
/// qualified proto name.
#[derive(Debug)]
pub struct Schemas<'c> {
    comments: &'c Comments,
    components: BTreeMap<String, Json>,
    /// The `todo.api.v1.field_schema` option, when the pool has it.
    constraints: Option<ExtensionDescriptor>,
}

/// The field option that states a field's constraints.
const FIELD_SCHEMA: &str = "todo.api.v1.field_schema";

impl<'c> Schemas<'c> {
    pub fn new(comments: &'c Comments, pool: &DescriptorPool) -> Self {
        Self {
            comments,
            components: BTreeMap::new(),
            constraints: pool.get_extension_by_name(FIELD_SCHEMA),
        }
    }

    /// Every component referred to so far.
    pub fn into_components(self) -> BTreeMap<String, Json> {
        self.components
    }

    /// The schema of `message` as a whole: a well-known type inline, any
    /// other message as a reference.
    pub fn message(&mut self, message: &MessageDescriptor) -> Json {
        if let Some(schema) = well_known(message.full_name()) {
            return schema;
        }
        let name = message.full_name();
        if !self.components.contains_key(name) {
            // Reserve the name first: a message may contain itself.
            self.components.insert(name.to_owned(), Json::Null);
            let schema = self.message_component(message);
            self.components.insert(name.to_owned(), schema);
        }
        reference(name)
    }

    /// The schema of `message` without the top-level fields named in
    /// `left_out` (by JSON name), inline: a `body: "*"` body, whose
    /// path-bound fields come from the path.
    pub fn message_without(&mut self, message: &MessageDescriptor, left_out: &[String]) -> Json {
        let whole = self.message(message);
        if left_out.is_empty() {
            return whole;
        }
        let Some(mut schema) = self.components.get(message.full_name()).cloned() else {
            return whole;
        };
        if let Some(Json::Object(properties)) = schema.get_mut("properties") {
            properties.retain(|name, _| !left_out.contains(name));
        }
        if let Some(Json::Array(required)) = schema.get_mut("required") {
            required.retain(|name| {
                !name
                    .as_str()
                    .is_some_and(|n| left_out.iter().any(|l| l == n))
            });
        }
        schema
    }

    /// The schema of one field's value, repeated and map fields included,
    /// with the field's comment as description.
    pub fn field(&mut self, field: &FieldDescriptor) -> Json {
        let constraints = self.constraints(field);
        let mut schema = if field.is_map() {
            let value = match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field(),
                _ => field.clone(),
            };
            json!({"type": "object", "additionalProperties": self.singular(&value)})
        } else if field.is_list() {
            let mut items = self.singular(field);
            constrain_value(&mut items, constraints.as_ref());
            let mut array = json!({"type": "array", "items": items});
            if let (Some(max), Json::Object(map)) = (
                constraints.as_ref().and_then(|c| number(c, "max_items")),
                &mut array,
            ) {
                map.insert("maxItems".into(), max);
            }
            array
        } else {
            let mut value = self.singular(field);
            constrain_value(&mut value, constraints.as_ref());
            require_fields(value, constraints.as_ref())
        };
        let doc = self.comments.doc(&field.parent_file(), field.path());
        if let Json::Object(map) = &mut schema {
            if !doc.text.is_empty() {
                map.insert("description".into(), Json::String(doc.text));
            }
            if doc.output_only {
                map.insert("readOnly".into(), Json::Bool(true));
            }
        }
        schema
    }

    /// The schema of one value of `field`, ignoring whether it repeats.
    pub fn singular(&mut self, field: &FieldDescriptor) -> Json {
        match field.kind() {
            Kind::Double => json!({"type": "number", "format": "double"}),
            Kind::Float => json!({"type": "number", "format": "float"}),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                json!({"type": "integer", "format": "int32"})
            }
            Kind::Uint32 | Kind::Fixed32 => {
                json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": u32::MAX})
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                json!({"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"})
            }
            Kind::Uint64 | Kind::Fixed64 => {
                json!({"type": "string", "format": "uint64", "pattern": "^[0-9]+$"})
            }
            Kind::Bool => json!({"type": "boolean"}),
            Kind::String => json!({"type": "string"}),
            Kind::Bytes => json!({"type": "string", "contentEncoding": "base64"}),
            Kind::Enum(descriptor) => self.enumeration(&descriptor),
            Kind::Message(message) => self.message(&message),
        }
    }

    fn enumeration(&mut self, descriptor: &EnumDescriptor) -> Json {
        let name = descriptor.full_name();
        if !self.components.contains_key(name) {
            // Proto3 JSON parsers take an enum value by its number too;
            // responses always carry the name.
            let names: Vec<String> = descriptor.values().map(|v| v.name().to_owned()).collect();
            let numbers: Vec<i32> = descriptor.values().map(|v| v.number()).collect();
            let mut schema = json!({"anyOf": [
                {"type": "string", "enum": names},
                {"type": "integer", "enum": numbers},
            ]});
            let doc = self
                .comments
                .doc(&descriptor.parent_file(), descriptor.path());
            describe(&mut schema, &doc.text);
            self.components.insert(name.to_owned(), schema);
        }
        reference(name)
    }

    fn message_component(&mut self, message: &MessageDescriptor) -> Json {
        let mut properties = serde_json::Map::new();
        let mut required = Vec::new();
        for field in message.fields() {
            let schema = self.field(&field);
            properties.insert(field.json_name().to_owned(), schema);
            let flag = self
                .constraints(&field)
                .and_then(|c| c.get_field_by_name("required").and_then(|v| v.as_bool()));
            if flag == Some(true) {
                required.push(field.json_name().to_owned());
            }
        }
        let mut schema = json!({
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        });
        if let (false, Json::Object(map)) = (required.is_empty(), &mut schema) {
            map.insert("required".into(), json!(required));
        }
        let doc = self.comments.doc(&message.parent_file(), message.path());
        describe(&mut schema, &doc.text);
        schema
    }
}

impl Schemas<'_> {
    /// The pattern of a field mask over `message`: a comma-separated list
    /// of the fields a client may change (not output-only, not immutable),
    /// each in its JSON or its proto spelling; the empty mask changes
    /// nothing.
    pub fn field_mask_pattern(&self, message: &MessageDescriptor) -> String {
        let mut names: Vec<String> = Vec::new();
        for field in message.fields() {
            let doc = self.comments.doc(&field.parent_file(), field.path());
            if doc.output_only || doc.immutable {
                continue;
            }
            names.push(field.json_name().to_owned());
            if field.name() != field.json_name() {
                names.push(field.name().to_owned());
            }
        }
        // Field names need no escaping: they are letters, digits and `_`.
        let name = format!("(?:{})", names.join("|"));
        format!("^(?:{name}(?:,{name})*)?$")
    }

    /// Whether a value of `schema` must carry some field: a message
    /// component with `required` fields, or a body narrowed by
    /// `required_fields` (see [`require_fields`]).
    pub fn requires_fields(&self, schema: &Json) -> bool {
        if schema.get("allOf").is_some() {
            return true;
        }
        let inline = schema.get("required").and_then(Json::as_array);
        if inline.is_some_and(|required| !required.is_empty()) {
            return true;
        }
        let component = schema
            .get("$ref")
            .and_then(Json::as_str)
            .and_then(|target| target.strip_prefix("#/components/schemas/"))
            .and_then(|name| self.components.get(name));
        component
            .and_then(|c| c.get("required"))
            .and_then(Json::as_array)
            .is_some_and(|required| !required.is_empty())
    }

    /// The `todo.api.v1.FieldSchema` set on `field`, if any.
    fn constraints(&self, field: &FieldDescriptor) -> Option<DynamicMessage> {
        let extension = self.constraints.as_ref()?;
        let options = field.options();
        if !options.has_extension(extension) {
            return None;
        }
        match options.get_extension(extension).into_owned() {
            Value::Message(message) => Some(message),
            _ => None,
        }
    }
}

/// An optional numeric field of a `FieldSchema` when it is set.
fn number(constraints: &DynamicMessage, name: &str) -> Option<Json> {
    if !constraints.has_field_by_name(name) {
        return None;
    }
    match constraints.get_field_by_name(name)?.into_owned() {
        Value::U32(n) => Some(n.into()),
        Value::I64(n) => Some(n.into()),
        _ => None,
    }
}

/// Adds the constraints on one value (a string's pattern and length, a
/// number's bounds) to its schema.
fn constrain_value(schema: &mut Json, constraints: Option<&DynamicMessage>) {
    let (Some(constraints), Json::Object(map)) = (constraints, schema) else {
        return;
    };
    for (option, keyword) in [
        ("min_length", "minLength"),
        ("max_length", "maxLength"),
        ("minimum", "minimum"),
        ("maximum", "maximum"),
    ] {
        if let Some(n) = number(constraints, option) {
            map.insert(keyword.into(), n);
        }
    }
    for (option, keyword) in [("pattern", "pattern"), ("format", "format")] {
        let text = text(constraints, option);
        if !text.is_empty() {
            map.insert(keyword.into(), Json::String(text));
        }
    }
    let examples = strings(constraints, "examples");
    if !examples.is_empty() {
        map.insert("examples".into(), json!(examples));
    }
    let mut values = strings(constraints, "values");
    values.extend(value_set(constraints).map(str::to_owned));
    if !values.is_empty() {
        map.insert("enum".into(), json!(values));
    }
}

/// The values of a `ValueSet` option, read from the code the service
/// checks with; none when unset.
fn value_set(constraints: &DynamicMessage) -> impl Iterator<Item = &'static str> {
    let set = constraints
        .get_field_by_name("value_set")
        .and_then(|v| v.as_enum_number())
        .unwrap_or_default();
    // The numbers of `todo.api.v1.ValueSet`.
    const IANA_TIME_ZONES: i32 = 1;
    todo_common::time_zone::names().filter(move |_| set == IANA_TIME_ZONES)
}

/// A message schema (a `$ref`) narrowed to a request that must carry some
/// of its fields, which the message itself leaves optional:
/// `allOf: [{$ref}, {required: [...]}]`. Other schemas are returned as
/// they are.
fn require_fields(schema: Json, constraints: Option<&DynamicMessage>) -> Json {
    let required = constraints
        .map(|c| strings(c, "required_fields"))
        .unwrap_or_default();
    if required.is_empty() || schema.get("$ref").is_none() {
        return schema;
    }
    json!({"allOf": [schema, {"required": required}]})
}

/// A string field of a `FieldSchema`; empty when unset.
fn text(constraints: &DynamicMessage, name: &str) -> String {
    constraints
        .get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A repeated string field of a `FieldSchema`.
fn strings(constraints: &DynamicMessage, name: &str) -> Vec<String> {
    let Some(value) = constraints.get_field_by_name(name) else {
        return Vec::new();
    };
    value
        .as_list()
        .unwrap_or_default()
        .iter()
        .filter_map(|item| item.as_str().map(str::to_owned))
        .collect()
}

fn reference(name: &str) -> Json {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn describe(schema: &mut Json, text: &str) {
    if let (Json::Object(map), false) = (schema, text.is_empty()) {
        map.insert("description".into(), Json::String(text.to_owned()));
    }
}

/// The proto3 JSON form of the well-known types the API can carry.
fn well_known(full_name: &str) -> Option<Json> {
    let scalar = |kind: &str, format: Option<&str>| {
        let mut schema = json!({"type": kind});
        if let (Some(format), Json::Object(map)) = (format, &mut schema) {
            map.insert("format".into(), Json::String(format.to_owned()));
        }
        schema
    };
    Some(match full_name {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => {
            json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$", "examples": ["1.5s"]})
        }
        "google.protobuf.FieldMask" => json!({
            "type": "string",
            "description": "Comma-separated lowerCamelCase field paths.",
            "examples": ["title,dueTime"],
        }),
        "google.protobuf.Empty" => json!({"type": "object", "additionalProperties": false}),
        "google.protobuf.Struct" => json!({"type": "object"}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.ListValue" => json!({"type": "array"}),
        "google.protobuf.Any" => json!({
            "type": "object",
            "required": ["@type"],
            "properties": {"@type": {"type": "string"}},
        }),
        "google.protobuf.DoubleValue" => scalar("number", Some("double")),
        "google.protobuf.FloatValue" => scalar("number", Some("float")),
        "google.protobuf.Int32Value" => scalar("integer", Some("int32")),
        "google.protobuf.UInt32Value" => scalar("integer", None),
        "google.protobuf.Int64Value" | "google.protobuf.UInt64Value" => scalar("string", None),
        "google.protobuf.BoolValue" => scalar("boolean", None),
        "google.protobuf.StringValue" => scalar("string", None),
        "google.protobuf.BytesValue" => scalar("string", Some("byte")),
        _ => return None,
    })
}
