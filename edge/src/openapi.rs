//! The OpenAPI 3.1 document of the API, generated from the same route
//! table and descriptors that drive the transcoding, so that it cannot
//! drift from what the edge serves. It is built once, at start-up.
//!
//! - Every binding is an operation named after its RPC (`x-rpc` holds the
//!   fully qualified name), tagged with its service, described by the
//!   RPC's `.proto` comment.
//! - Path variables and, for routes whose body is not the whole message,
//!   the remaining fields become parameters, exactly as the transcoder
//!   reads them; bodies and responses refer to message schemas
//!   (module `schema`) in their proto3 JSON form.
//! - Every error has the one JSON error shape (`#/components/schemas/Error`).
//! - Operations need a bearer token unless [`needs_token`] says otherwise.

mod comments;
mod schema;

use std::collections::BTreeMap;

use anyhow::Context;
use bytes::Bytes;
use http::Method;
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value as Json, json};

use crate::error::{ALL_CODES, code_name};
use crate::routes::{Binding, BodyRule, RouteTable};
use crate::transcode::is_query_scalar_message;
use comments::Comments;
use schema::Schemas;

/// The name of the bearer security scheme.
const BEARER: &str = "bearerAuth";

/// How deep query parameters reach into nested request messages.
const MAX_QUERY_DEPTH: usize = 4;

/// The document for the platform's own descriptors, without starting
/// anything: what `todo openapi` prints.
///
/// # Errors
/// When the embedded descriptors or their annotations are invalid.
pub fn embedded() -> anyhow::Result<Json> {
    let pool = DescriptorPool::decode(todo_proto::FILE_DESCRIPTOR_SET)
        .context("cannot decode the embedded descriptors")?;
    let routes = RouteTable::from_pool(&pool).context("invalid google.api.http annotations")?;
    Ok(document(&pool, &routes))
}

/// [`document`] encoded once, ready to serve.
///
/// # Errors
/// When the document cannot be encoded.
pub fn encoded(pool: &DescriptorPool, routes: &RouteTable) -> anyhow::Result<Bytes> {
    let json = serde_json::to_vec(&document(pool, routes)).context("cannot encode OpenAPI")?;
    Ok(Bytes::from(json))
}

/// The document for `routes`, with descriptions from `pool`'s comments.
pub fn document(pool: &DescriptorPool, routes: &RouteTable) -> Json {
    let comments = Comments::from_pool(pool);
    let mut schemas = Schemas::new(&comments, pool);
    let mut paths: BTreeMap<String, Map<String, Json>> = BTreeMap::new();
    let mut services: Vec<String> = Vec::new();
    let mut seen_ids: BTreeMap<String, usize> = BTreeMap::new();
    let mut names_by_shape: BTreeMap<String, Vec<String>> = BTreeMap::new();

    for binding in routes.bindings() {
        // Templates that differ only in their variables' names are one
        // OpenAPI path and must name their parameters alike.
        let variables = binding.template.variables().len();
        let shape = binding
            .template
            .openapi_path(&vec![String::new(); variables]);
        let names = names_by_shape
            .entry(shape)
            .or_insert_with(|| parameter_names(binding))
            .clone();
        let service = short_name(&binding.rpc.service).to_owned();
        if !services.contains(&service) {
            services.push(service.clone());
        }
        let base_id = format!("{service}_{}", short_name(&binding.rpc.name));
        let uses = seen_ids.entry(base_id.clone()).or_default();
        *uses += 1;
        let operation_id = match *uses {
            1 => base_id,
            n => format!("{base_id}_{n}"),
        };
        let operation = operation(binding, &operation_id, &names, &comments, &mut schemas);
        paths
            .entry(binding.template.openapi_path(&names))
            .or_default()
            .insert(binding.method.as_str().to_ascii_lowercase(), operation);
    }
    for (path, item) in operational_paths() {
        paths.insert(path.to_owned(), item);
    }

    let tags: Vec<Json> = services
        .iter()
        .map(|name| {
            let description = routes
                .bindings()
                .iter()
                .map(|b| b.rpc.descriptor.parent_service())
                .find(|s| s.name() == name)
                .map(|s| comments.doc(&s.parent_file(), s.path()).text)
                .unwrap_or_default();
            json!({"name": name, "description": description})
        })
        .chain([json!({"name": OPERATIONS_TAG, "description": "Served by the edge itself."})])
        .collect();

    let mut components = schemas.into_components();
    components.insert("Error".into(), error_schema());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ToDo API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "JSON over HTTP, transcoded to the platform's gRPC services. \
                JSON follows the proto3 JSON mapping: lowerCamelCase names, RFC 3339 \
                timestamps, enums as names, 64-bit integers as strings.",
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {
                "Error": {
                    "description": "Any error, in the one error shape.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The accessToken from POST /v1/auth:login or /v1/auth:refresh.",
                },
            },
        },
    })
}

/// Whether a route needs `Authorization: Bearer`. Every route does except
/// the ones a client calls before it holds a token:
/// - discovery documents under `/.well-known/`,
/// - the custom methods of the `auth` collection (`/v1/auth:login`, ...),
/// - registration: `POST` on the `users` collection (`/v1/users`).
pub fn needs_token(method: &Method, template: &str) -> bool {
    if template.starts_with("/.well-known/") {
        return false;
    }
    // Past the version segment: `/v1/auth:login` -> `auth:login`.
    let resource = template
        .trim_start_matches('/')
        .split_once('/')
        .map_or("", |(_, rest)| rest);
    let anonymous =
        resource.starts_with("auth:") || (resource == "users" && method == Method::POST);
    !anonymous
}

fn operation(
    binding: &Binding,
    operation_id: &str,
    names: &[String],
    comments: &Comments,
    schemas: &mut Schemas<'_>,
) -> Json {
    let rpc = &binding.rpc;
    let doc = comments.doc(&rpc.descriptor.parent_file(), rpc.descriptor.path());

    let service = binding.rpc.descriptor.parent_service();
    let mut parameters = path_parameters(binding, names, schemas);
    if !matches!(binding.body, BodyRule::Whole) {
        let mut walk = QueryWalk {
            binding,
            schemas,
            parameters: &mut parameters,
        };
        walk.message(&rpc.input, "", &[], 0);
    }

    let mut operation = json!({
        "operationId": operation_id,
        "tags": [service.name()],
        "summary": doc.summary(),
        "description": doc.text,
        "x-rpc": rpc.name,
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": response_schema(binding, schemas)}},
            },
            "default": {"$ref": "#/components/responses/Error"},
        },
    });
    let Json::Object(map) = &mut operation else {
        return operation;
    };
    let body = match &binding.body {
        BodyRule::None => None,
        BodyRule::Whole => {
            let bound: Vec<String> = binding
                .path_fields
                .iter()
                .filter_map(|fields| fields.first())
                .map(|field| field.json_name().to_owned())
                .collect();
            Some(schemas.message_without(&rpc.input, &bound))
        }
        BodyRule::Field(field) => Some(schemas.field(field)),
    };
    if let Some(schema) = body {
        // A body that must carry fields cannot be left out either: an empty
        // body is the empty message, which the service refuses.
        let required = schemas.requires_fields(&schema);
        map.insert(
            "requestBody".into(),
            json!({"required": required, "content": {"application/json": {"schema": schema}}}),
        );
    }
    if needs_token(&binding.method, binding.template.as_str()) {
        map.insert("security".into(), json!([{ BEARER: [] }]));
    }
    operation
}

/// The parameter name of each path variable: its field's JSON name, or
/// the dotted JSON path where two variables end in equally named fields.
fn parameter_names(binding: &Binding) -> Vec<String> {
    let leaf = |fields: &Vec<FieldDescriptor>| fields.last().map(|f| f.json_name().to_owned());
    binding
        .path_fields
        .iter()
        .map(|fields| {
            let name = leaf(fields).unwrap_or_default();
            let clashes = binding
                .path_fields
                .iter()
                .filter(|other| leaf(other).as_deref() == Some(name.as_str()))
                .count()
                > 1;
            if clashes {
                let path: Vec<&str> = fields.iter().map(FieldDescriptor::json_name).collect();
                path.join(".")
            } else {
                name
            }
        })
        .collect()
}

fn path_parameters(binding: &Binding, names: &[String], schemas: &mut Schemas<'_>) -> Vec<Json> {
    names
        .iter()
        .zip(&binding.path_fields)
        .filter_map(|(name, fields)| {
            let leaf = fields.last()?;
            let mut schema = schemas.field(leaf);
            let bound: Vec<&str> = fields.iter().map(FieldDescriptor::json_name).collect();
            let bound = bound.join(".");
            if let Json::Object(map) = &mut schema {
                // Whether the server sets the field does not matter in a URL.
                map.remove("readOnly");
            }
            if &bound != name
                && let Json::Object(map) = &mut schema
            {
                let text = format!("Sets `{bound}`.");
                map.entry("description")
                    .and_modify(|d| {
                        *d = Json::String(format!("{text} {}", d.as_str().unwrap_or_default()))
                    })
                    .or_insert(Json::String(text));
            }
            Some(json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": schema,
            }))
        })
        .collect()
}

/// The query parameters of a binding: every field the body and the path
/// leave unset, as the transcoder accepts them (see
/// [`crate::transcode::request_message`]).
struct QueryWalk<'a, 's, 'c> {
    binding: &'a Binding,
    schemas: &'s mut Schemas<'c>,
    parameters: &'a mut Vec<Json>,
}

impl QueryWalk<'_, '_, '_> {
    fn message(
        &mut self,
        message: &MessageDescriptor,
        prefix: &str,
        parents: &[FieldDescriptor],
        depth: usize,
    ) {
        for field in message.fields() {
            let mut path = parents.to_vec();
            path.push(field.clone());
            if self.set_elsewhere(&path) || field.is_map() {
                continue;
            }
            let name = format!("{prefix}{}", field.json_name());
            match field.kind() {
                Kind::Message(inner) if !is_query_scalar_message(&inner) => {
                    if !field.is_list() && depth < MAX_QUERY_DEPTH {
                        self.message(&inner, &format!("{name}."), &path, depth + 1);
                    }
                }
                _ => {
                    let mut schema = self.schemas.field(&field);
                    if let (Some(target), Json::Object(map)) =
                        (self.mask_target(&field), &mut schema)
                    {
                        let pattern = self.schemas.field_mask_pattern(&target);
                        map.insert("pattern".into(), Json::String(pattern));
                    }
                    self.parameters.push(json!({
                        "name": name,
                        "in": "query",
                        "required": false,
                        "schema": schema,
                    }));
                }
            }
        }
    }

    /// The message whose fields a field mask parameter names: the body's,
    /// when the body is one message field (a PATCH of a resource, as
    /// grpc-gateway reads it).
    fn mask_target(&self, field: &FieldDescriptor) -> Option<MessageDescriptor> {
        let is_mask = matches!(field.kind(), Kind::Message(m) if m.full_name() == "google.protobuf.FieldMask");
        let BodyRule::Field(body) = &self.binding.body else {
            return None;
        };
        match body.kind() {
            Kind::Message(message) if is_mask && !field.is_list() => Some(message),
            _ => None,
        }
    }

    /// Whether the body or the path sets the field at `path`.
    fn set_elsewhere(&self, path: &[FieldDescriptor]) -> bool {
        let in_body = match &self.binding.body {
            BodyRule::None => false,
            BodyRule::Whole => true,
            BodyRule::Field(body) => path.first() == Some(body),
        };
        in_body || self.binding.path_fields.iter().any(|bound| bound == path)
    }
}

fn response_schema(binding: &Binding, schemas: &mut Schemas<'_>) -> Json {
    match &binding.response_body {
        Some(field) => schemas.field(field),
        None => schemas.message(&binding.rpc.output),
    }
}

/// The tag of the routes the edge answers itself.
const OPERATIONS_TAG: &str = "Operations";

fn operational_paths() -> [(&'static str, Map<String, Json>); 4] {
    let status = json!({
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["SERVING"]}},
    });
    let get = |id: &str, summary: &str, media: &str, schema: &Json| {
        let mut item = Map::new();
        item.insert(
            "get".into(),
            json!({
                "operationId": id,
                "tags": [OPERATIONS_TAG],
                "summary": summary,
                "responses": {
                    "200": {"description": "OK", "content": {media: {"schema": schema}}},
                    "default": {"$ref": "#/components/responses/Error"},
                },
            }),
        );
        item
    };
    [
        (
            "/healthz",
            get(
                "healthz",
                "The edge process is up.",
                "application/json",
                &status,
            ),
        ),
        (
            "/readyz",
            get(
                "readyz",
                "Every upstream service is serving and shutdown has not begun; 503 otherwise.",
                "application/json",
                &status,
            ),
        ),
        (
            "/metrics",
            get(
                "metrics",
                "Request and upstream metrics in the Prometheus text format.",
                "text/plain",
                &json!({"type": "string"}),
            ),
        ),
        (
            "/openapi.json",
            get(
                "openapi",
                "This document.",
                "application/json",
                &json!({"type": "object"}),
            ),
        ),
    ]
}

/// The one JSON error shape.
fn error_schema() -> Json {
    let codes: Vec<&str> = ALL_CODES
        .iter()
        .filter(|code| **code != tonic::Code::Ok)
        .map(|code| code_name(*code))
        .collect();
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "status", "message", "details"],
                "properties": {
                    "code": {"type": "integer", "description": "The HTTP status."},
                    "status": {
                        "type": "string",
                        "enum": codes,
                        "description": "The canonical gRPC code name.",
                    },
                    "message": {"type": "string"},
                    "details": {
                        "type": "array",
                        "description": "google.rpc error details, such as BadRequest with one violation per offending field.",
                        "items": {
                            "type": "object",
                            "required": ["@type"],
                            "properties": {"@type": {"type": "string"}},
                        },
                    },
                },
            },
        },
    })
}

/// The last component of a dotted name.
fn short_name(full: &str) -> &str {
    full.rsplit('.').next().unwrap_or(full)
}

#[cfg(test)]
mod tests;
