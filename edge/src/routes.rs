//! The route table: every `google.api.http` binding in the descriptor pool,
//! resolved against its request and response messages once, at start-up.
//!
//! Everything a request needs to know about its route (which fields the path
//! fills, where the body goes, what the response is) is decided here, so
//! that a bad annotation stops the edge from starting instead of failing
//! some request later.

use std::collections::HashMap;
use std::sync::Arc;

use http::Method;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value,
};

use crate::template::{Match, Matcher, PathTemplate};

/// The full name of the `google.api.http` method option.
const HTTP_EXTENSION: &str = "google.api.http";

/// Services called only between services: they trust a service credential
/// that the edge must never let an end user reach, so an annotation on one
/// is a start-up error rather than a route.
const INTERNAL_SUFFIX: &str = "InternalService";

/// One RPC the edge can call.
#[derive(Debug)]
pub struct Rpc {
    /// Fully qualified service name, e.g. `todo.task.v1.TaskService`.
    pub service: String,
    /// Fully qualified method name, e.g. `todo.task.v1.TaskService.GetTask`.
    pub name: String,
    /// [`Rpc::name`] shared, the RPC's label in metrics.
    pub label: Arc<str>,
    /// The gRPC request path, `/{service}/{method}`.
    pub grpc_path: http::uri::PathAndQuery,
    /// The request message: the target of body, query and path.
    pub input: MessageDescriptor,
    /// The response message: decodes the upstream's answer.
    pub output: MessageDescriptor,
    /// The method itself, for its comments.
    pub descriptor: MethodDescriptor,
}

/// Where the HTTP request body goes in the request message.
#[derive(Debug, Clone)]
pub enum BodyRule {
    /// The route takes no body; every field not in the path is a query
    /// parameter.
    None,
    /// `body: "*"`: the body is the whole request message.
    Whole,
    /// `body: "<field>"`: the body is that top-level field.
    Field(FieldDescriptor),
}

/// One HTTP binding of an RPC.
#[derive(Debug)]
pub struct Binding {
    /// The RPC this binding calls; shared by all its bindings.
    pub rpc: Arc<Rpc>,
    /// The HTTP method.
    pub method: Method,
    /// The path template.
    pub template: PathTemplate,
    /// The template as written, the route's name in logs and metrics.
    pub route: Arc<str>,
    /// For each template variable, in order, the fields from the request
    /// message down to the one it sets.
    pub path_fields: Vec<Vec<FieldDescriptor>>,
    pub body: BodyRule,
    /// `response_body`: the response field sent instead of the whole
    /// response message.
    pub response_body: Option<FieldDescriptor>,
}

/// A start-up error in the annotations, naming the RPC.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The descriptor pool lacks the `google.api.http` extension.
    #[error("the descriptors do not define the {HTTP_EXTENSION} extension")]
    NoExtension,
    /// An annotation is invalid.
    #[error("{rpc}: {reason}")]
    Invalid { rpc: String, reason: String },
    /// Two bindings would answer the same requests.
    #[error("{rpc}: {method} {template} conflicts with the same route of {other}")]
    Conflict {
        rpc: String,
        other: String,
        method: Method,
        template: String,
    },
}

/// The outcome of looking a request up.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// A binding matched.
    Found(Match<'a, Arc<Binding>>),
    /// The path matches bindings of other methods only.
    MethodNotAllowed(Vec<Method>),
    /// No binding has this path.
    NotFound,
}

/// Every binding, one path trie per HTTP method.
#[derive(Debug, Default)]
pub struct RouteTable {
    by_method: HashMap<Method, Matcher<Arc<Binding>>>,
    bindings: Vec<Arc<Binding>>,
}

impl RouteTable {
    /// Builds the table from the `google.api.http` options in `pool`.
    ///
    /// # Errors
    /// When an annotation is malformed, names a field its message lacks,
    /// sits on a streaming or internal RPC, or clashes with another route.
    pub fn from_pool(pool: &DescriptorPool) -> Result<Self, RouteError> {
        let extension = pool
            .get_extension_by_name(HTTP_EXTENSION)
            .ok_or(RouteError::NoExtension)?;
        let mut table = Self::default();
        for service in pool.services() {
            for method in service.methods() {
                let options = method.options();
                if !options.has_extension(&extension) {
                    continue;
                }
                let invalid = |reason: String| RouteError::Invalid {
                    rpc: method.full_name().to_owned(),
                    reason,
                };
                if service.name().ends_with(INTERNAL_SUFFIX) {
                    return Err(invalid(
                        "internal services must not carry HTTP annotations".into(),
                    ));
                }
                if method.is_client_streaming() || method.is_server_streaming() {
                    return Err(invalid("only unary RPCs can be transcoded".into()));
                }
                let Value::Message(rule) = options.get_extension(&extension).into_owned() else {
                    return Err(invalid(format!("{HTTP_EXTENSION} is not a message")));
                };
                let rpc = Arc::new(Rpc {
                    service: service.full_name().to_owned(),
                    name: method.full_name().to_owned(),
                    label: Arc::from(method.full_name()),
                    grpc_path: grpc_path(&method).map_err(invalid)?,
                    input: method.input(),
                    output: method.output(),
                    descriptor: method.clone(),
                });
                table.add_rule(&rpc, &rule, true).map_err(|e| match e {
                    RuleError::Invalid(reason) => invalid(reason),
                    RuleError::Conflict {
                        other,
                        method,
                        template,
                    } => RouteError::Conflict {
                        rpc: rpc.name.clone(),
                        other,
                        method,
                        template,
                    },
                })?;
            }
        }
        Ok(table)
    }

    /// Every binding, in descriptor order.
    pub fn bindings(&self) -> &[Arc<Binding>] {
        &self.bindings
    }

    /// Finds the binding for `method` and `path`. HEAD finds a GET
    /// binding when the path has no HEAD binding of its own: HEAD is GET
    /// without the body (RFC 9110, 9.3.2), which the handler drops.
    ///
    /// A path whose trailing `:verb` is the custom verb of some route is
    /// that route's path for every method: `PUT /v1/tasks/{id}:move` is a
    /// 405, not a PUT of a task whose id ends in `:move`.
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_> {
        let verb_path = self.by_method.values().any(|m| m.find_verb(path).is_some());
        let find = |matcher| find_in(matcher, path, verb_path);
        if let Some(found) = self.by_method.get(method).and_then(find) {
            return Lookup::Found(found);
        }
        if *method == Method::HEAD
            && let Some(found) = self.by_method.get(&Method::GET).and_then(find)
        {
            return Lookup::Found(found);
        }
        let mut allowed: Vec<Method> = self
            .by_method
            .iter()
            .filter(|(m, matcher)| *m != method && find(matcher).is_some())
            .map(|(m, _)| m.clone())
            .collect();
        if allowed.is_empty() {
            return Lookup::NotFound;
        }
        if allowed.contains(&Method::GET) && !allowed.contains(&Method::HEAD) {
            allowed.push(Method::HEAD);
        }
        allowed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Lookup::MethodNotAllowed(allowed)
    }

    fn add_rule(
        &mut self,
        rpc: &Arc<Rpc>,
        rule: &DynamicMessage,
        top: bool,
    ) -> Result<(), RuleError> {
        let (method, path) = pattern(rule)?;
        let template = PathTemplate::parse(&path).map_err(|e| RuleError::Invalid(e.to_string()))?;
        let path_fields = template
            .variables()
            .iter()
            .map(|v| resolve_path_field(&rpc.input, v.field_path()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| RuleError::Invalid(format!("{template}: {reason}")))?;
        let body = match string_field(rule, "body").as_str() {
            "" => BodyRule::None,
            "*" => BodyRule::Whole,
            name => BodyRule::Field(rpc.input.get_field_by_name(name).ok_or_else(|| {
                RuleError::Invalid(format!(
                    "body field {name:?} is not in {}",
                    rpc.input.full_name()
                ))
            })?),
        };
        let response_body = match string_field(rule, "response_body").as_str() {
            "" => None,
            name => Some(rpc.output.get_field_by_name(name).ok_or_else(|| {
                RuleError::Invalid(format!(
                    "response_body field {name:?} is not in {}",
                    rpc.output.full_name()
                ))
            })?),
        };
        let binding = Arc::new(Binding {
            rpc: Arc::clone(rpc),
            method: method.clone(),
            route: Arc::from(template.as_str()),
            template: template.clone(),
            path_fields,
            body,
            response_body,
        });
        let matcher = self.by_method.entry(method.clone()).or_default();
        if let Err(other) = matcher.insert(template, Arc::clone(&binding)) {
            return Err(RuleError::Conflict {
                other: other.rpc.name.clone(),
                method,
                template: binding.template.to_string(),
            });
        }
        self.bindings.push(binding);

        let additional = rule.get_field_by_name("additional_bindings");
        for extra in additional
            .as_deref()
            .and_then(Value::as_list)
            .unwrap_or_default()
        {
            let Value::Message(extra) = extra else {
                continue;
            };
            if !top {
                return Err(RuleError::Invalid(
                    "additional_bindings cannot nest additional_bindings".into(),
                ));
            }
            self.add_rule(rpc, extra, false)?;
        }
        Ok(())
    }
}

/// [`RouteError`] before the RPC name is attached.
enum RuleError {
    Invalid(String),
    Conflict {
        other: String,
        method: Method,
        template: String,
    },
}

fn grpc_path(method: &MethodDescriptor) -> Result<http::uri::PathAndQuery, String> {
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    path.parse()
        .map_err(|e| format!("cannot form the gRPC path {path:?}: {e}"))
}

/// The HTTP method and path template of one `HttpRule`.
fn pattern(rule: &DynamicMessage) -> Result<(Method, String), RuleError> {
    for (field, method) in [
        ("get", Method::GET),
        ("put", Method::PUT),
        ("post", Method::POST),
        ("delete", Method::DELETE),
        ("patch", Method::PATCH),
    ] {
        if rule.has_field_by_name(field) {
            return Ok((method, string_field(rule, field)));
        }
    }
    if rule.has_field_by_name("custom") {
        let custom = rule.get_field_by_name("custom");
        if let Some(custom) = custom.as_deref().and_then(Value::as_message) {
            let kind = string_field(custom, "kind");
            let method = Method::from_bytes(kind.as_bytes()).map_err(|_| {
                RuleError::Invalid(format!("custom method {kind:?} is not an HTTP method"))
            })?;
            return Ok((method, string_field(custom, "path")));
        }
    }
    Err(RuleError::Invalid(
        "the HTTP rule sets no method and path".into(),
    ))
}

fn string_field(message: &DynamicMessage, name: &str) -> String {
    message
        .get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Resolves a path variable's field path: every step but the last a
/// singular message, the last a singular scalar or enum.
/// `path` in one method's templates: with its trailing `:verb` read as a
/// custom verb only, when some route has that verb (`verb_path`).
fn find_in<'a>(
    matcher: &'a Matcher<Arc<Binding>>,
    path: &str,
    verb_path: bool,
) -> Option<Match<'a, Arc<Binding>>> {
    if verb_path {
        matcher.find_verb(path)
    } else {
        matcher.find(path)
    }
}

fn resolve_path_field(
    input: &MessageDescriptor,
    path: &[String],
) -> Result<Vec<FieldDescriptor>, String> {
    let mut message = input.clone();
    let mut fields = Vec::with_capacity(path.len());
    for (i, name) in path.iter().enumerate() {
        let field = message
            .get_field_by_name(name)
            .ok_or_else(|| format!("no field {name:?} in {}", message.full_name()))?;
        if field.is_list() || field.is_map() {
            return Err(format!("path variable field {name:?} is repeated"));
        }
        let last = i + 1 == path.len();
        match (field.kind(), last) {
            (Kind::Message(inner), false) => message = inner,
            (Kind::Message(_), true) => {
                return Err(format!(
                    "path variable field {name:?} is a message, not a scalar"
                ));
            }
            (_, false) => return Err(format!("path variable field {name:?} is not a message")),
            (_, true) => {}
        }
        fields.push(field);
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let pool = DescriptorPool::decode(todo_proto::FILE_DESCRIPTOR_SET).unwrap();
        RouteTable::from_pool(&pool).unwrap()
    }

    /// `(METHOD, template, rpc)` of every binding.
    fn routes(table: &RouteTable) -> Vec<(String, String, String)> {
        table
            .bindings()
            .iter()
            .map(|b| {
                (
                    b.method.to_string(),
                    b.template.to_string(),
                    b.rpc.name.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn every_public_rpc_of_the_api_is_routed() {
        let routes = routes(&table());
        let expected = [
            ("POST", "/v1/users", "todo.user.v1.UserService.CreateUser"),
            ("POST", "/v1/auth:login", "todo.user.v1.UserService.Login"),
            (
                "POST",
                "/v1/auth:refresh",
                "todo.user.v1.UserService.RefreshToken",
            ),
            ("POST", "/v1/auth:logout", "todo.user.v1.UserService.Logout"),
            (
                "POST",
                "/v1/auth:verifyEmail",
                "todo.user.v1.UserService.VerifyEmail",
            ),
            (
                "POST",
                "/v1/auth:requestPasswordReset",
                "todo.user.v1.UserService.RequestPasswordReset",
            ),
            (
                "POST",
                "/v1/auth:resetPassword",
                "todo.user.v1.UserService.ResetPassword",
            ),
            ("GET", "/v1/users/me", "todo.user.v1.UserService.GetMe"),
            ("PATCH", "/v1/users/me", "todo.user.v1.UserService.UpdateMe"),
            (
                "POST",
                "/v1/users/me:changePassword",
                "todo.user.v1.UserService.ChangePassword",
            ),
            (
                "POST",
                "/v1/users/me:delete",
                "todo.user.v1.UserService.DeleteMe",
            ),
            (
                "POST",
                "/v1/users/me:resendVerification",
                "todo.user.v1.UserService.ResendVerification",
            ),
            (
                "POST",
                "/v1/users/me:changeEmail",
                "todo.user.v1.UserService.ChangeEmail",
            ),
            (
                "GET",
                "/.well-known/jwks.json",
                "todo.user.v1.UserService.GetJwks",
            ),
            ("POST", "/v1/tasks", "todo.task.v1.TaskService.CreateTask"),
            ("GET", "/v1/tasks", "todo.task.v1.TaskService.ListTasks"),
            ("GET", "/v1/tasks/{id}", "todo.task.v1.TaskService.GetTask"),
            (
                "PUT",
                "/v1/tasks/{task.id}",
                "todo.task.v1.TaskService.ReplaceTask",
            ),
            (
                "PATCH",
                "/v1/tasks/{task.id}",
                "todo.task.v1.TaskService.UpdateTask",
            ),
            (
                "DELETE",
                "/v1/tasks/{id}",
                "todo.task.v1.TaskService.DeleteTask",
            ),
            (
                "POST",
                "/v1/tasks:fromUrl",
                "todo.task.v1.TaskService.CreateTaskFromUrl",
            ),
            (
                "GET",
                "/v1/notifications",
                "todo.notify.v1.NotifyService.ListNotifications",
            ),
            (
                "POST",
                "/v1/notifications/{id}:markRead",
                "todo.notify.v1.NotifyService.MarkRead",
            ),
            (
                "POST",
                "/v1/notifications:markAllRead",
                "todo.notify.v1.NotifyService.MarkAllRead",
            ),
            (
                "GET",
                "/v1/notificationSettings",
                "todo.notify.v1.NotifyService.GetNotificationSettings",
            ),
            (
                "PATCH",
                "/v1/notificationSettings",
                "todo.notify.v1.NotifyService.UpdateNotificationSettings",
            ),
            (
                "POST",
                "/v1/tasks/{id}:move",
                "todo.task.v1.TaskService.MoveTask",
            ),
            ("POST", "/v1/lists", "todo.task.v1.TaskService.CreateList"),
            ("GET", "/v1/lists", "todo.task.v1.TaskService.ListLists"),
            ("GET", "/v1/lists/{id}", "todo.task.v1.TaskService.GetList"),
            (
                "PATCH",
                "/v1/lists/{list.id}",
                "todo.task.v1.TaskService.UpdateList",
            ),
            (
                "DELETE",
                "/v1/lists/{id}",
                "todo.task.v1.TaskService.DeleteList",
            ),
            (
                "POST",
                "/v1/lists/{list_id}/members:invite",
                "todo.task.v1.TaskService.InviteMember",
            ),
            (
                "GET",
                "/v1/invitations",
                "todo.task.v1.TaskService.ListInvitations",
            ),
            (
                "POST",
                "/v1/invitations/{id}:accept",
                "todo.task.v1.TaskService.AcceptInvitation",
            ),
            (
                "POST",
                "/v1/invitations/{id}:decline",
                "todo.task.v1.TaskService.DeclineInvitation",
            ),
            (
                "GET",
                "/v1/lists/{list_id}/members",
                "todo.task.v1.TaskService.ListMembers",
            ),
            (
                "PATCH",
                "/v1/lists/{list_id}/members/{user_id}",
                "todo.task.v1.TaskService.UpdateMember",
            ),
            (
                "DELETE",
                "/v1/lists/{list_id}/members/{user_id}",
                "todo.task.v1.TaskService.RemoveMember",
            ),
        ];
        for (method, template, rpc) in expected {
            let route = (method.to_owned(), template.to_owned(), rpc.to_owned());
            assert!(routes.contains(&route), "missing {route:?}");
        }
        assert_eq!(
            routes.len(),
            expected.len(),
            "unexpected extra routes: {routes:?}"
        );
    }

    #[test]
    fn no_internal_rpc_is_routed() {
        for binding in table().bindings() {
            assert!(
                !binding.rpc.service.ends_with(INTERNAL_SUFFIX),
                "{}",
                binding.rpc.name
            );
        }
    }

    #[test]
    fn lookups_resolve_paths_and_methods() {
        let table = table();
        let Lookup::Found(hit) = table.lookup(&Method::POST, "/v1/notifications/n1:markRead")
        else {
            panic!("markRead not found");
        };
        assert_eq!(
            hit.value.rpc.grpc_path.as_str(),
            "/todo.notify.v1.NotifyService/MarkRead"
        );
        assert_eq!(hit.variables().unwrap(), ["n1"]);

        let Lookup::Found(hit) = table.lookup(&Method::PUT, "/v1/tasks/t1") else {
            panic!("replace not found");
        };
        let names: Vec<&str> = hit.value.path_fields[0]
            .iter()
            .map(FieldDescriptor::name)
            .collect();
        assert_eq!(names, ["task", "id"]);

        match table.lookup(&Method::POST, "/v1/tasks/t1") {
            Lookup::MethodNotAllowed(allow) => {
                assert_eq!(
                    allow,
                    [
                        Method::DELETE,
                        Method::GET,
                        Method::HEAD,
                        Method::PATCH,
                        Method::PUT
                    ]
                );
            }
            other => panic!("expected 405, got {other:?}"),
        }
        assert!(matches!(
            table.lookup(&Method::GET, "/v1/nothing"),
            Lookup::NotFound
        ));
        assert!(matches!(
            table.lookup(&Method::GET, "/v1/auth:login"),
            Lookup::MethodNotAllowed(_)
        ));
    }

    #[test]
    fn a_custom_verb_path_is_that_routes_path_for_every_method() {
        let table = table();
        match table.lookup(&Method::PUT, "/v1/tasks/t1:move") {
            Lookup::MethodNotAllowed(allow) => assert_eq!(allow, [Method::POST]),
            other => panic!("expected 405, got {other:?}"),
        }
        let Lookup::Found(hit) = table.lookup(&Method::POST, "/v1/tasks/t1:move") else {
            panic!("move not found");
        };
        assert_eq!(hit.variables().unwrap(), ["t1"]);
        // A ':' that is no route's verb stays part of the id.
        let Lookup::Found(hit) = table.lookup(&Method::GET, "/v1/tasks/a:b") else {
            panic!("get of an id with a colon not found");
        };
        assert_eq!(hit.variables().unwrap(), ["a:b"]);
    }

    #[test]
    fn head_finds_the_get_binding() {
        let table = table();
        let Lookup::Found(hit) = table.lookup(&Method::HEAD, "/v1/tasks/t1") else {
            panic!("HEAD of a GET route not found");
        };
        assert_eq!(hit.value.method, Method::GET);
        assert!(matches!(
            table.lookup(&Method::HEAD, "/v1/auth:login"),
            Lookup::MethodNotAllowed(_)
        ));
    }
}
