use std::collections::BTreeSet;

use serde_json::Value as Json;

use super::*;
use crate::testing::{pool_from, real_pool, real_table};

fn real_document() -> Json {
    document(&real_pool(), &real_table())
}

/// Every operation of the document as `(METHOD, path, operation)`.
fn operations(document: &Json) -> Vec<(String, String, &Json)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            found.push((method.to_ascii_uppercase(), path.clone(), operation));
        }
    }
    found
}

fn schema<'d>(document: &'d Json, name: &str) -> &'d Json {
    &document["components"]["schemas"][name]
}

/// Every `$ref` anywhere in `value`.
fn references(value: &Json, found: &mut BTreeSet<String>) {
    match value {
        Json::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Json::String(target)) => {
                        found.insert(target.clone());
                    }
                    _ => references(inner, found),
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

#[test]
fn every_annotated_rpc_is_an_operation_at_its_route() {
    let document = real_document();
    let operations = operations(&document);
    let table = real_table();
    for binding in table.bindings() {
        let names = parameter_names(binding);
        let path = binding.template.openapi_path(&names);
        let found = operations.iter().any(|(method, at, operation)| {
            *method == binding.method.as_str()
                && *at == path
                && operation["x-rpc"] == binding.rpc.name.as_str()
        });
        assert!(found, "{} {path} ({})", binding.method, binding.rpc.name);
    }
    let transcoded = operations
        .iter()
        .filter(|(_, _, operation)| operation.get("x-rpc").is_some())
        .count();
    assert_eq!(transcoded, table.bindings().len());
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert!(document["paths"][path]["get"].is_object(), "{path}");
    }
}

#[test]
fn operation_ids_are_unique_and_every_reference_resolves() {
    let document = real_document();
    let ids: Vec<&str> = operations(&document)
        .iter()
        .map(|(_, _, operation)| operation["operationId"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");

    let mut targets = BTreeSet::new();
    references(&document, &mut targets);
    assert!(targets.contains("#/components/schemas/todo.task.v1.Task"));
    for target in targets {
        let pointer = target.trim_start_matches('#');
        let resolved = document.pointer(pointer).unwrap_or(&Json::Null);
        assert!(resolved.is_object(), "dangling {target}");
    }
}

#[test]
fn only_the_routes_before_sign_in_are_anonymous() {
    let document = real_document();
    let anonymous: BTreeSet<String> = operations(&document)
        .into_iter()
        .filter(|(_, _, operation)| operation.get("x-rpc").is_some())
        .filter(|(_, _, operation)| operation.get("security").is_none())
        .map(|(method, path, _)| format!("{method} {path}"))
        .collect();
    let expected: BTreeSet<String> = [
        "POST /v1/users",
        "POST /v1/auth:login",
        "POST /v1/auth:refresh",
        "POST /v1/auth:logout",
        "POST /v1/auth:verifyEmail",
        "POST /v1/auth:requestPasswordReset",
        "POST /v1/auth:resetPassword",
        "GET /.well-known/jwks.json",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(anonymous, expected);
    let get_me = &document["paths"]["/v1/users/me"]["get"];
    assert_eq!(
        get_me["security"],
        serde_json::json!([{ "bearerAuth": [] }])
    );
}

#[test]
fn schemas_follow_the_proto3_json_mapping() {
    let document = real_document();
    let task = &schema(&document, "todo.task.v1.Task")["properties"];
    assert_eq!(task["dueTime"]["type"], "string");
    assert_eq!(task["dueTime"]["format"], "date-time");
    assert_eq!(task["labels"]["type"], "array");
    assert_eq!(task["labels"]["items"]["type"], "string");
    assert_eq!(
        task["priority"]["$ref"],
        "#/components/schemas/todo.task.v1.Priority"
    );
    assert_eq!(task["id"]["readOnly"], true);
    assert!(task.get("due_time").is_none());
    let priority = schema(&document, "todo.task.v1.Priority");
    // By name, or by number as proto3 JSON also reads it.
    assert_eq!(
        priority["anyOf"],
        serde_json::json!([
            {"type": "string", "enum": ["PRIORITY_UNSPECIFIED", "LOW", "MEDIUM", "HIGH", "URGENT"]},
            {"type": "integer", "enum": [0, 1, 2, 3, 4]},
        ])
    );

    let tokens = &schema(&document, "todo.user.v1.TokenPair")["properties"];
    assert_eq!(tokens["expiresIn"]["type"], "string");
    assert_eq!(tokens["expiresIn"]["format"], "int64");

    let update = &document["paths"]["/v1/tasks/{id}"]["patch"];
    let parameters = update["parameters"].as_array().unwrap();
    let names: Vec<&str> = parameters
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["id", "updateMask"]);
    assert_eq!(parameters[1]["in"], "query");
    assert_eq!(parameters[1]["schema"]["type"], "string");
    assert!(
        parameters[0]["schema"]["description"]
            .as_str()
            .unwrap()
            .starts_with("Sets `task.id`."),
        "{}",
        parameters[0]
    );
    assert_eq!(
        update["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/todo.task.v1.Task"
    );
}

#[test]
fn field_constraints_come_from_the_field_schema_option() {
    let document = real_document();
    let create_user = schema(&document, "todo.user.v1.CreateUserRequest");
    assert_eq!(
        create_user["required"],
        serde_json::json!(["email", "password", "displayName"])
    );
    assert_eq!(create_user["properties"]["password"]["minLength"], 12);
    assert_eq!(create_user["properties"]["password"]["maxLength"], 128);
    // No option, no constraint.
    assert!(
        schema(&document, "todo.user.v1.UpdateMeRequest")
            .get("required")
            .is_none()
    );
    let task = &schema(&document, "todo.task.v1.Task")["properties"];
    assert_eq!(task["title"]["maxLength"], 500);
    assert_eq!(task["labels"]["maxItems"], 20);
    assert_eq!(task["labels"]["items"]["maxLength"], 50);
    let get = &document["paths"]["/v1/tasks/{id}"]["get"]["parameters"][0];
    assert!(
        get["schema"]["pattern"]
            .as_str()
            .is_some_and(|p| p.starts_with("^[0-9a-f]{8}-")),
        "{get}"
    );
    let list = document["paths"]["/v1/tasks"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let page_size = list.iter().find(|p| p["name"] == "pageSize").unwrap();
    assert_eq!(page_size["schema"]["minimum"], 0);
}

/// The body schema of the operation at `method` `path`.
fn body<'d>(document: &'d Json, method: &str, path: &str) -> &'d Json {
    &document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
}

#[test]
fn a_body_that_must_carry_fields_says_so_for_its_operation_only() {
    let document = real_document();
    let task_ref = serde_json::json!({"$ref": "#/components/schemas/todo.task.v1.Task"});
    for (method, path) in [("post", "/v1/tasks"), ("put", "/v1/tasks/{id}")] {
        let schema = body(&document, method, path);
        assert_eq!(
            schema["allOf"],
            serde_json::json!([task_ref, {"required": ["title"]}]),
            "{method} {path}: {schema}"
        );
    }
    // A change carries only the fields it changes.
    assert_eq!(
        body(&document, "patch", "/v1/tasks/{id}")["$ref"],
        task_ref["$ref"]
    );
    let required =
        |method: &str, path: &str| &document["paths"][path][method]["requestBody"]["required"];
    assert_eq!(required("post", "/v1/tasks"), true);
    assert_eq!(required("post", "/v1/auth:requestPasswordReset"), true);
    assert_eq!(required("patch", "/v1/tasks/{id}"), false);
    assert_eq!(required("patch", "/v1/users/me"), false);
    assert!(
        schema(&document, "todo.task.v1.Task")
            .get("required")
            .is_none()
    );
}

#[test]
fn accepted_values_patterns_and_formats_are_stated() {
    let document = real_document();
    let list = document["paths"]["/v1/tasks"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let order_by = &list.iter().find(|p| p["name"] == "orderBy").unwrap()["schema"];
    let values = order_by["enum"].as_array().unwrap();
    assert!(values.contains(&Json::from("priority desc")), "{order_by}");
    assert!(values.contains(&Json::from("")), "{order_by}");

    let time_zone = &schema(&document, "todo.user.v1.UpdateMeRequest")["properties"]["timeZone"];
    let zones = time_zone["enum"].as_array().unwrap();
    assert!(zones.contains(&Json::from("Europe/Berlin")), "{time_zone}");
    assert_eq!(zones.len(), todo_common::time_zone::names().count());

    let email = &schema(&document, "todo.user.v1.CreateUserRequest")["properties"]["email"];
    assert_eq!(email["maxLength"], 254);
    let login = &schema(&document, "todo.user.v1.LoginRequest")["properties"];
    assert_eq!(login["email"]["minLength"], 1);
    assert_eq!(login["password"]["minLength"], 1);

    let task = &schema(&document, "todo.task.v1.Task")["properties"];
    assert_eq!(
        task["remindTime"]["examples"],
        serde_json::json!(["2999-12-31T09:00:00Z"])
    );
    assert!(task["title"]["pattern"].is_string(), "{}", task["title"]);
    assert!(
        task["labels"]["items"]["pattern"].is_string(),
        "{}",
        task["labels"]
    );
}

#[test]
fn a_field_mask_names_the_writable_fields_of_the_body() {
    let document = real_document();
    let parameters = document["paths"]["/v1/tasks/{id}"]["patch"]["parameters"]
        .as_array()
        .unwrap();
    let mask = &parameters
        .iter()
        .find(|p| p["name"] == "updateMask")
        .unwrap()["schema"];
    let pattern = mask["pattern"].as_str().unwrap();
    let names = "(?:title|description|done|dueTime|due_time|remindTime|remind_time|priority|labels\
                 |dueDate|due_date|recurrence|reminders)";
    assert_eq!(pattern, format!("^(?:{names}(?:,{names})*)?$"));
}

#[test]
fn no_schema_admits_null() {
    let text = real_document().to_string();
    assert!(
        !text.contains("\"null\""),
        "the edge refuses null for every field"
    );
}

#[test]
fn descriptions_come_from_the_proto_comments() {
    let document = real_document();
    let get = &document["paths"]["/v1/tasks/{id}"]["get"];
    assert_eq!(
        get["summary"],
        "One task; a task of a list the caller is not a member of is NOT_FOUND."
    );
    let task = &schema(&document, "todo.task.v1.Task")["properties"];
    assert_eq!(
        task["title"]["description"],
        "1..500 characters, not only white space (it is trimmed)."
    );
    assert_eq!(
        task["id"]["description"],
        "UUIDv7, assigned by the service."
    );
    let tag = document["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "TaskService")
        .unwrap();
    assert!(
        tag["description"]
            .as_str()
            .unwrap()
            .starts_with("Tasks in lists, and the lists with their members.")
    );
}

#[test]
fn the_error_schema_is_the_one_of_the_api() {
    let document = real_document();
    let error = &schema(&document, "Error")["properties"]["error"];
    assert_eq!(
        error["required"],
        serde_json::json!(["code", "status", "message", "details"])
    );
    let codes = error["properties"]["status"]["enum"].as_array().unwrap();
    assert!(codes.contains(&Json::from("NOT_FOUND")));
    assert!(!codes.contains(&Json::from("OK")));
    for (_, _, operation) in operations(&document) {
        assert_eq!(
            operation["responses"]["default"]["$ref"],
            "#/components/responses/Error"
        );
    }
}

#[test]
fn other_shapes_map_too() {
    let pool = pool_from(
        r#"
        syntax = "proto3";
        package test.v1;
        import "google/api/annotations.proto";
        service Things {
          rpc Get(GetRequest) returns (Thing) {
            option (google.api.http) = {
              get: "/v1/{parent.name=shelves/*}/things/{id}"
              additional_bindings { get: "/v1/things/{id}" }
            };
          }
        }
        message Parent { string name = 1; }
        message Filter { uint64 min_size = 1; repeated string tags = 2; }
        message GetRequest {
          Parent parent = 1;
          string id = 2;
          Filter filter = 3;
          map<string, int32> counts = 4;
        }
        message Thing {
          map<string, Thing> children = 1;
          bytes blob = 2;
          double weight = 3;
        }
        "#,
    );
    let table = RouteTable::from_pool(&pool).unwrap();
    let document = document(&pool, &table);
    let get = &document["paths"]["/v1/{name}/things/{id}"]["get"];
    let names: Vec<&str> = get["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["name", "id", "filter.minSize", "filter.tags"]);
    assert_eq!(get["operationId"], "Things_Get");
    let extra = &document["paths"]["/v1/things/{id}"]["get"];
    assert_eq!(extra["operationId"], "Things_Get_2");
    let extra_names: Vec<&str> = extra["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        extra_names,
        ["id", "parent.name", "filter.minSize", "filter.tags"]
    );

    let thing = &schema(&document, "test.v1.Thing")["properties"];
    assert_eq!(thing["children"]["type"], "object");
    assert_eq!(
        thing["children"]["additionalProperties"]["$ref"],
        "#/components/schemas/test.v1.Thing"
    );
    assert_eq!(thing["blob"]["contentEncoding"], "base64");
    assert_eq!(thing["weight"]["type"], "number");
    let min_size = &get["parameters"][2]["schema"];
    assert_eq!(
        (&min_size["type"], &min_size["format"]),
        (&Json::from("string"), &Json::from("uint64"))
    );
    assert_eq!(get["parameters"][3]["schema"]["type"], "array");
}

#[test]
fn the_token_rule_is_about_sign_in_and_discovery() {
    assert!(!needs_token(&Method::POST, "/v1/users"));
    assert!(needs_token(&Method::GET, "/v1/users"));
    assert!(!needs_token(&Method::POST, "/v2/auth:login"));
    assert!(!needs_token(&Method::GET, "/.well-known/jwks.json"));
    assert!(needs_token(&Method::POST, "/v1/users/me:delete"));
    assert!(needs_token(&Method::POST, "/v1/tasks"));
}

#[test]
fn a_whole_body_leaves_out_the_fields_its_path_binds() {
    let document = real_document();
    let body = &document["paths"]["/v1/tasks/{id}:move"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let properties = body["properties"].as_object().unwrap();
    let names: Vec<&str> = properties.keys().map(String::as_str).collect();
    assert_eq!(names, ["afterId", "listId", "parentId"]);
    let invite = &document["paths"]["/v1/lists/{listId}/members:invite"]["post"]["requestBody"];
    assert_eq!(invite["required"], true, "{invite}");
    let fields = invite["content"]["application/json"]["schema"]["properties"]
        .as_object()
        .unwrap();
    assert!(!fields.contains_key("listId"));
}
