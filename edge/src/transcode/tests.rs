//! Transcoding against the platform's real descriptors, plus a small test
//! contract for annotation shapes the platform does not use (yet).

use http::Method;
use serde_json::json;

use super::*;
use crate::routes::{Lookup, RouteTable};
use crate::testing::{real_table, table_from, transcode};

/// The request message of a call through the real route table.
fn real(method: Method, uri: &str, body: &str) -> Result<serde_json::Value, EdgeError> {
    transcode(&real_table(), method, uri, body).map(|(_, message)| message)
}

/// The message of an error that must be INVALID_ARGUMENT.
fn rejected(result: Result<serde_json::Value, EdgeError>) -> String {
    match result {
        Err(err @ (EdgeError::InvalidArgument(_) | EdgeError::InvalidField { .. })) => {
            err.to_string()
        }
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }
}

/// The field an error that must name one names.
fn violated<T: std::fmt::Debug>(result: Result<T, EdgeError>) -> String {
    match result {
        Err(EdgeError::InvalidField { field, .. }) => field,
        other => panic!("expected a field violation, got {other:?}"),
    }
}

#[test]
fn custom_verb_route_takes_the_whole_body() {
    let (rpc, message) = transcode(
        &real_table(),
        Method::POST,
        "/v1/auth:login",
        r#"{"email":"ada@example.com","password":"pw"}"#,
    )
    .unwrap();
    assert_eq!(rpc, "todo.user.v1.UserService.Login");
    assert_eq!(
        message,
        json!({"email": "ada@example.com", "password": "pw"})
    );
}

#[test]
fn path_variables_fill_their_fields_percent_decoded() {
    let message = real(Method::POST, "/v1/notifications/n%201:markRead", "").unwrap();
    assert_eq!(message, json!({"id": "n 1"}));
}

#[test]
fn nested_path_variable_fills_the_body_message_and_wins_over_it() {
    let message = real(
        Method::PUT,
        "/v1/tasks/t1",
        r#"{"title":"Buy milk","id":"other"}"#,
    )
    .unwrap();
    assert_eq!(message, json!({"task": {"id": "t1", "title": "Buy milk"}}));
}

#[test]
fn a_whole_body_may_not_carry_a_field_the_path_binds() {
    let message = real(Method::POST, "/v1/tasks/t1:move", r#"{"afterId":"t0"}"#).unwrap();
    assert_eq!(message, json!({"id": "t1", "afterId": "t0"}));
    let refused = real(Method::POST, "/v1/tasks/t1:move", r#"{"id":"t9"}"#);
    assert_eq!(violated(refused), "id");
    let refused = real(
        Method::PATCH,
        "/v1/lists/l1/members/u1",
        r#"{"role":"VIEWER","userId":{}}"#,
    );
    assert_eq!(violated(refused), "userId");
}

#[test]
fn query_parameters_fill_the_remaining_fields() {
    let message = real(
        Method::GET,
        "/v1/tasks?pageSize=10&done=false&label=home&due_before=2025-01-02T03:04:05Z&orderBy=dueTime%20desc&page_token=abc&q=milk+bread",
        "",
    )
    .unwrap();
    assert_eq!(
        message,
        json!({
            "pageSize": 10,
            "pageToken": "abc",
            "done": false,
            "label": "home",
            "dueBefore": "2025-01-02T03:04:05Z",
            "q": "milk bread",
            "orderBy": "dueTime desc",
        })
    );
}

#[test]
fn timestamps_and_enums_follow_proto3_json() {
    let body = r#"{"title":"t","dueTime":"2025-01-02T03:04:05.5+01:00","priority":"HIGH","labels":["a","b"]}"#;
    let message = real(Method::POST, "/v1/tasks", body).unwrap();
    assert_eq!(
        message,
        json!({"task": {
            "title": "t",
            "dueTime": "2025-01-02T02:04:05.500Z",
            "priority": "HIGH",
            "labels": ["a", "b"],
        }})
    );
    let by_number = real(Method::POST, "/v1/tasks", r#"{"priority":4}"#).unwrap();
    assert_eq!(by_number, json!({"task": {"priority": "URGENT"}}));
}

#[test]
fn unknown_json_fields_are_refused() {
    let message = rejected(real(
        Method::POST,
        "/v1/tasks",
        r#"{"title":"t","colour":"red"}"#,
    ));
    assert!(message.contains("colour"), "{message}");
    let message = rejected(real(
        Method::POST,
        "/v1/auth:login",
        r#"{"email":"a","admin":true}"#,
    ));
    assert!(message.contains("admin"), "{message}");
}

#[test]
fn malformed_json_is_refused() {
    for body in [
        "{",
        r#"{"title":}"#,
        "not json",
        r#"{"title":"t"} trailing"#,
    ] {
        let message = rejected(real(Method::POST, "/v1/tasks", body));
        assert!(message.starts_with("malformed JSON body"), "{message}");
    }
}

#[test]
fn wrong_json_types_are_refused_naming_the_field() {
    let message = rejected(real(Method::POST, "/v1/tasks", r#"{"title":5}"#));
    assert!(message.contains("title"), "{message}");
    let message = rejected(real(Method::POST, "/v1/tasks", r#"{"done":"yes"}"#));
    assert!(message.contains("done"), "{message}");
    let message = rejected(real(Method::POST, "/v1/tasks", r#"{"dueTime":"tomorrow"}"#));
    assert!(message.contains("dueTime"), "{message}");
    let message = rejected(real(Method::POST, "/v1/tasks", r#"{"priority":"SOMEDAY"}"#));
    assert!(message.contains("priority"), "{message}");
    rejected(real(Method::POST, "/v1/auth:login", "[1, 2]"));
    rejected(real(Method::PUT, "/v1/tasks/t1", "\"just a string\""));
}

#[test]
fn decoding_failures_name_the_field_as_the_client_wrote_it() {
    let post = |body: &str| violated(real(Method::POST, "/v1/tasks", body));
    assert_eq!(post(r#"{"dueTime":"not-a-time"}"#), "dueTime");
    assert_eq!(post(r#"{"due_time":"not-a-time"}"#), "dueTime");
    assert_eq!(post(r#"{"title":5}"#), "title");
    assert_eq!(post(r#"{"labels":["a",7]}"#), "labels[1]");
    assert_eq!(post(r#"{"priority":"SOMEDAY"}"#), "priority");
    assert_eq!(post(r#"{"title":"t","colour":"red"}"#), "colour");
    let login = violated(real(
        Method::POST,
        "/v1/auth:login",
        r#"{"email":"a","admin":true}"#,
    ));
    assert_eq!(login, "admin");

    let get = |uri: &str| violated(real(Method::GET, uri, ""));
    assert_eq!(get("/v1/tasks?pageSize=ten"), "pageSize");
    assert_eq!(get("/v1/tasks?page_size=ten"), "pageSize");
    assert_eq!(get("/v1/tasks?done=maybe"), "done");
    assert_eq!(get("/v1/tasks?dueBefore=yesterday"), "dueBefore");
    assert_eq!(get("/v1/tasks?label=a&label=b"), "label");
    assert_eq!(get("/v1/tasks?colour=red"), "colour");
    // White space is outside the published pattern, alone or around a
    // name: a mask of only a line break must not pass as the empty mask.
    for mask in ["a%20b", "%0D", "%20", "title,%20done", "title%0A"] {
        let uri = format!("/v1/tasks/t1?updateMask={mask}");
        let field = violated(real(Method::PATCH, &uri, r#"{"title":"x"}"#));
        assert_eq!(field, "updateMask", "{mask}");
    }

    // Malformed JSON and a body that is no object have no field to name.
    for (uri, body) in [("/v1/tasks", "{"), ("/v1/auth:login", "[1]")] {
        assert!(matches!(
            real(Method::POST, uri, body),
            Err(EdgeError::InvalidArgument(_))
        ));
    }
}

const FORM_PROTO: &str = r#"
syntax = "proto3";
package test.v1;
import "google/api/annotations.proto";
import "google/protobuf/duration.proto";

service Forms {
  rpc Put(PutRequest) returns (Form) {
    option (google.api.http) = {put: "/v1/forms/{form.name}" body: "form"};
  }
}

message Entry { int32 count = 1; }
message Form { string name = 1; google.protobuf.Duration ttl = 2; repeated Entry entries = 3; }
message PutRequest { Form form = 1; }
"#;

#[test]
fn nested_and_well_known_fields_are_named_by_their_json_path() {
    let table = table_from(FORM_PROTO).unwrap();
    let put = |body: &str| violated(transcode(&table, Method::PUT, "/v1/forms/f1", body));
    assert_eq!(put(r#"{"ttl":"soon"}"#), "ttl");
    assert_eq!(
        put(r#"{"entries":[{"count":1},{"count":"x"}]}"#),
        "entries[1].count"
    );
    assert_eq!(
        put(r#"{"entries":[{"count":1},{"cnt":2}]}"#),
        "entries[1].cnt"
    );
}

#[test]
fn a_bad_path_variable_is_named_by_its_field() {
    let table = real_table();
    let Lookup::Found(hit) = table.lookup(&Method::PATCH, "/v1/tasks/%FF") else {
        panic!("no route");
    };
    let index = hit.variables().unwrap_err().index;
    let err = invalid_path_variable(hit.value, index);
    assert!(
        matches!(&err, EdgeError::InvalidField { field, .. } if field == "id"),
        "{err:?}"
    );
}

#[test]
fn huge_bad_values_are_not_echoed() {
    let body = format!(r#"{{"priority":"{}"}}"#, "X".repeat(10_000));
    let message = rejected(real(Method::POST, "/v1/tasks", &body));
    assert!(message.len() < 400, "{} bytes", message.len());
}

#[test]
fn patch_derives_the_update_mask_from_the_body_keys() {
    let message = real(
        Method::PATCH,
        "/v1/tasks/t1",
        r#"{"title":"x","due_time":"2030-01-01T00:00:00Z","done":true}"#,
    )
    .unwrap();
    assert_eq!(
        message,
        json!({
            "task": {"id": "t1", "title": "x", "done": true, "dueTime": "2030-01-01T00:00:00Z"},
            "updateMask": "done,dueTime,title",
        })
    );
}

#[test]
fn enum_numbers_must_name_a_value() {
    let message = real(Method::POST, "/v1/tasks", r#"{"title":"t","priority":4}"#).unwrap();
    assert_eq!(message["task"]["priority"], "URGENT");
    let post = |body: &str| violated(real(Method::POST, "/v1/tasks", body));
    assert_eq!(post(r#"{"title":"t","priority":-58800}"#), "priority");
    assert_eq!(post(r#"{"title":"t","priority":5}"#), "priority");
    // Outside a PATCH's mask too: the service would not look at it.
    let patch = violated(real(
        Method::PATCH,
        "/v1/tasks/t1?updateMask=title",
        r#"{"title":"t","priority":9}"#,
    ));
    assert_eq!(patch, "priority");
}

#[test]
fn null_is_refused_wherever_a_field_could_hold_it() {
    let null = "must not be null; leave the field out";
    let refused = |method: Method, uri: &str, body: &str| match real(method, uri, body) {
        Err(EdgeError::InvalidField { field, description }) => {
            assert_eq!(description, null, "{uri} {body}");
            field
        }
        other => panic!("{uri} {body}: expected a field violation, got {other:?}"),
    };
    // A null clears nothing in a PATCH: `updateMask` does that.
    assert_eq!(
        refused(Method::PATCH, "/v1/tasks/t1", r#"{"remindTime":null}"#),
        "remindTime"
    );
    assert_eq!(
        refused(Method::PATCH, "/v1/users/me", r#"{"timeZone":null}"#),
        "timeZone"
    );
    assert_eq!(
        refused(
            Method::PATCH,
            "/v1/notificationSettings",
            r#"{"emailReminders":null}"#
        ),
        "emailReminders"
    );
    assert_eq!(
        refused(Method::POST, "/v1/tasks", r#"{"title":"t","labels":null}"#),
        "labels"
    );
    assert_eq!(
        refused(
            Method::POST,
            "/v1/auth:login",
            r#"{"email":null,"password":"p"}"#
        ),
        "email"
    );

    let table = table_from(FORM_PROTO).unwrap();
    let put = |body: &str| violated(transcode(&table, Method::PUT, "/v1/forms/f1", body));
    assert_eq!(
        put(r#"{"entries":[{"count":1},{"count":null}]}"#),
        "entries[1].count"
    );
    assert_eq!(put(r#"{"ttl":null}"#), "ttl");

    // A null body of a route whose body is one message field names no
    // field, whether or not the path fills that message too.
    for (method, uri) in [(Method::POST, "/v1/tasks"), (Method::PUT, "/v1/tasks/t1")] {
        let message = rejected(real(method, uri, "null"));
        assert!(message.contains(null), "{message}");
    }
}

#[test]
fn an_explicit_update_mask_is_kept() {
    let message = real(
        Method::PATCH,
        "/v1/tasks/t1?update_mask=title,due_time",
        r#"{"title":"x"}"#,
    )
    .unwrap();
    assert_eq!(message["updateMask"], "title,dueTime");
    let message = real(
        Method::PATCH,
        "/v1/tasks/t1?updateMask=description",
        r#"{"title":"x"}"#,
    )
    .unwrap();
    assert_eq!(message["updateMask"], "description");
    // The empty mask is a mask: it names no field, so nothing changes.
    let message = real(
        Method::PATCH,
        "/v1/tasks/t1?updateMask=",
        r#"{"title":"x"}"#,
    )
    .unwrap();
    assert_eq!(message["updateMask"], "");
}

#[test]
fn patch_without_a_mask_field_gets_none() {
    let message = real(Method::PATCH, "/v1/users/me", r#"{"displayName":"Ada"}"#).unwrap();
    assert_eq!(message, json!({"displayName": "Ada"}));
}

#[test]
fn bad_query_parameters_are_refused() {
    let cases = [
        "/v1/tasks?colour=red",
        "/v1/tasks?pageSize=ten",
        "/v1/tasks?done=maybe",
        "/v1/tasks?dueBefore=yesterday",
        "/v1/tasks?label=a&label=b",
        "/v1/tasks?pageSize.x=1",
        "/v1/tasks?=1",
    ];
    for uri in cases {
        rejected(real(Method::GET, uri, ""));
    }
    // Fields that the body or the path set cannot come from the query.
    rejected(real(Method::POST, "/v1/tasks?task.title=x", "{}"));
    rejected(real(Method::POST, "/v1/auth:login?email=a", "{}"));
    rejected(real(Method::GET, "/v1/tasks/t1?id=t2", ""));
}

#[test]
fn routes_without_a_body_accept_only_an_empty_one() {
    assert_eq!(real(Method::GET, "/v1/users/me", "").unwrap(), json!({}));
    assert_eq!(
        real(Method::POST, "/v1/notifications:markAllRead", " {} ").unwrap(),
        json!({})
    );
    rejected(real(
        Method::POST,
        "/v1/notifications:markAllRead",
        r#"{"all":true}"#,
    ));
}

const TEST_PROTO: &str = r#"
syntax = "proto3";
package test.v1;
import "google/api/annotations.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";

service Things {
  rpc Get(GetRequest) returns (Thing) {
    option (google.api.http) = {
      get: "/v1/{name=shelves/*/things/*}"
      additional_bindings { get: "/v1/things/{name=**}" }
    };
  }
  rpc Search(SearchRequest) returns (SearchResponse) {
    option (google.api.http) = {get: "/v1/things" response_body: "things"};
  }
  rpc Touch(GetRequest) returns (Thing) {
    option (google.api.http) = {custom: {kind: "HEAD" path: "/v1/touch/{name}"}};
  }
}

enum Colour { COLOUR_UNSPECIFIED = 0; RED = 1; GREEN = 2; }

message GetRequest { string name = 1; }

message Range { int64 min = 1; int64 max = 2; }

message SearchRequest {
  repeated string tags = 1;
  Colour colour = 2;
  repeated Colour colours = 3;
  Range range = 4;
  google.protobuf.Duration max_age = 5;
  google.protobuf.Int32Value limit = 6;
  uint64 big = 7;
}

message Thing { string name = 1; string etag = 2; bool shiny = 3; }

message SearchResponse { repeated Thing things = 1; string next = 2; }
"#;

fn test_table() -> RouteTable {
    table_from(TEST_PROTO).unwrap()
}

#[test]
fn additional_bindings_and_custom_methods_are_routed() {
    let table = test_table();
    let (rpc, message) = transcode(&table, Method::GET, "/v1/shelves/s1/things/t%2F1", "").unwrap();
    assert_eq!(rpc, "test.v1.Things.Get");
    assert_eq!(message, json!({"name": "shelves/s1/things/t%2F1"}));
    let (rpc, message) = transcode(&table, Method::GET, "/v1/things/a/b", "").unwrap();
    assert_eq!(rpc, "test.v1.Things.Get");
    assert_eq!(message, json!({"name": "a/b"}));
    let (rpc, message) = transcode(&table, Method::HEAD, "/v1/touch/x", "").unwrap();
    assert_eq!(rpc, "test.v1.Things.Touch");
    assert_eq!(message, json!({"name": "x"}));
}

#[test]
fn query_parameters_cover_repeated_enum_nested_and_wrapper_fields() {
    let uri = "/v1/things?tags=a&tags=b&colour=RED&colours=1&colours=GREEN&range.min=-5&range.max=9\
               &maxAge=1.5s&limit=3&big=18446744073709551615";
    let (_, message) = transcode(&test_table(), Method::GET, uri, "").unwrap();
    assert_eq!(
        message,
        json!({
            "tags": ["a", "b"],
            "colour": "RED",
            "colours": ["RED", "GREEN"],
            "range": {"min": "-5", "max": "9"},
            "maxAge": "1.500s",
            "limit": 3,
            "big": "18446744073709551615",
        })
    );
    for (bad, field) in [
        ("/v1/things?range=1", "range"),
        ("/v1/things?colour=BLUE", "colour"),
        ("/v1/things?big=-1", "big"),
        ("/v1/things?range.min=1.5", "range.min"),
        ("/v1/things?max_age=soon", "maxAge"),
    ] {
        let result = transcode(&test_table(), Method::GET, bad, "");
        assert_eq!(violated(result), field, "{bad}");
    }
}

fn binding(table: &RouteTable, method: Method, path: &str) -> std::sync::Arc<Binding> {
    match table.lookup(&method, path) {
        Lookup::Found(hit) => std::sync::Arc::clone(hit.value),
        other => panic!("no route: {other:?}"),
    }
}

fn encoded(table: &RouteTable, message: &str, json: &str) -> Bytes {
    let binding = binding(table, Method::GET, "/v1/things");
    let descriptor = binding
        .rpc
        .input
        .parent_pool()
        .get_message_by_name(message)
        .unwrap();
    let mut de = serde_json::Deserializer::from_str(json);
    let message = DynamicMessage::deserialize(descriptor, &mut de).unwrap();
    Bytes::from(prost::Message::encode_to_vec(&message))
}

#[test]
fn responses_keep_scalar_defaults_and_set_the_etag() {
    let table = test_table();
    let bytes = encoded(&table, "test.v1.Thing", r#"{"name":"n","etag":"v7"}"#);
    let (body, etag) = response_json(&binding(&table, Method::GET, "/v1/things/x"), bytes).unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, json!({"name": "n", "etag": "v7", "shiny": false}));
    assert_eq!(etag.unwrap(), "\"v7\"");
}

#[test]
fn response_body_selects_one_field() {
    let table = test_table();
    let bytes = encoded(
        &table,
        "test.v1.SearchResponse",
        r#"{"things":[{"name":"a"}],"next":"p2"}"#,
    );
    let (body, etag) = response_json(&binding(&table, Method::GET, "/v1/things"), bytes).unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, json!([{"name": "a", "etag": "", "shiny": false}]));
    assert!(etag.is_none());
}

#[test]
fn undecodable_responses_are_internal_errors() {
    let table = test_table();
    let result = response_json(
        &binding(&table, Method::GET, "/v1/things/x"),
        Bytes::from_static(b"\xff\xff"),
    );
    assert!(matches!(result, Err(EdgeError::BadUpstreamResponse)));
}

#[test]
fn etags_are_quoted_once() {
    let table = test_table();
    for (raw, header) in [
        ("v1", "\"v1\""),
        ("\"v1\"", "\"v1\""),
        ("W/\"v1\"", "W/\"v1\""),
    ] {
        let json = serde_json::to_string(&json!({"etag": raw})).unwrap();
        let bytes = encoded(&table, "test.v1.Thing", &json);
        let (_, etag) =
            response_json(&binding(&table, Method::GET, "/v1/things/x"), bytes).unwrap();
        assert_eq!(etag.unwrap(), header);
    }
}

#[test]
fn invalid_annotations_stop_start_up_naming_the_rpc() {
    let cases = [
        (r#"get: "/v1/{missing}""#, "no field"),
        (r#"post: "/v1/x" body: "nope""#, "body field"),
        (r#"get: "/v1/x" response_body: "nope""#, "response_body"),
        (r#"get: "v1/x""#, "must start with"),
        (
            r#"get: "/v1/{name}" additional_bindings { get: "/v2/{name}" additional_bindings { get: "/v3" } }"#,
            "nest",
        ),
        (r#"body: "*""#, "no method"),
        (r#"get: "/v1/{meta}""#, "is a message"),
    ];
    for (rule, expected) in cases {
        let source = format!(
            r#"syntax = "proto3"; package test.v1; import "google/api/annotations.proto";
            message Meta {{ string a = 1; }}
            message Req {{ string name = 1; Meta meta = 2; }}
            service S {{ rpc Broken(Req) returns (Req) {{ option (google.api.http) = {{ {rule} }}; }} }}"#
        );
        let error = table_from(&source).unwrap_err().to_string();
        assert!(error.contains("test.v1.S.Broken"), "{error}");
        assert!(error.contains(expected), "{rule}: {error}");
    }
}

#[test]
fn conflicting_routes_and_internal_annotations_are_refused() {
    let conflict = r#"syntax = "proto3"; package test.v1; import "google/api/annotations.proto";
        message Req { string id = 1; string name = 2; }
        service S {
          rpc A(Req) returns (Req) { option (google.api.http) = { get: "/v1/x/{id}" }; }
          rpc B(Req) returns (Req) { option (google.api.http) = { get: "/v1/x/{name}" }; }
        }"#;
    let error = table_from(conflict).unwrap_err().to_string();
    assert!(
        error.contains("test.v1.S.B") && error.contains("test.v1.S.A"),
        "{error}"
    );

    let internal = r#"syntax = "proto3"; package test.v1; import "google/api/annotations.proto";
        message Req { string id = 1; }
        service SInternalService {
          rpc A(Req) returns (Req) { option (google.api.http) = { get: "/v1/x" }; }
        }"#;
    let error = table_from(internal).unwrap_err().to_string();
    assert!(error.contains("internal"), "{error}");
}
