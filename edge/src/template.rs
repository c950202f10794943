//! `google.api.http` path templates: the parser, and a segment trie that
//! matches a request path against every template of one HTTP method at once.
//!
//! The grammar, from `google/api/http.proto`:
//!
//! ```text
//! Template  = "/" Segments [ Verb ] ;
//! Segments  = Segment { "/" Segment } ;
//! Segment   = "*" | "**" | LITERAL | Variable ;
//! Variable  = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb      = ":" LITERAL ;
//! ```
//!
//! Templates are parsed once, at start-up; a request costs one walk down the
//! trie and no allocation beyond its captured variables.

use std::fmt;

/// One segment of a template, as the matcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Matches exactly this (percent-decoded) segment.
    Literal(String),
    /// `*`: exactly one non-empty segment.
    Single,
    /// `**`: one or more segments. Only allowed last, so matching never
    /// has to guess where it ends.
    Multi,
}

/// A `{field.path=...}` variable: which request field it fills and which
/// template segments it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    field_path: Vec<String>,
    /// First template segment the variable covers.
    start: usize,
    /// One past the last template segment the variable covers.
    end: usize,
}

impl Variable {
    /// The proto field names from the request message down to the field
    /// the variable sets, e.g. `["task", "id"]` for `{task.id}`.
    pub fn field_path(&self) -> &[String] {
        &self.field_path
    }
}

/// A parsed path template such as `/v1/notifications/{id}:markRead`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    source: String,
    segments: Vec<Segment>,
    verb: Option<String>,
    variables: Vec<Variable>,
}

/// Why a template was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path template {template:?}: {reason}")]
pub struct TemplateError {
    template: String,
    reason: String,
}

impl PathTemplate {
    /// Parses `source`.
    ///
    /// # Errors
    /// When `source` does not follow the grammar, uses `**` anywhere but
    /// last, nests variables or binds one field twice.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let fail = |reason: &str| TemplateError {
            template: source.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = source
            .strip_prefix('/')
            .ok_or_else(|| fail("must start with '/'"))?;
        let (path, verb) = split_verb(rest).map_err(&fail)?;
        if let Some(verb) = verb
            && (verb.is_empty() || !verb.chars().all(is_literal_char))
        {
            return Err(fail("the custom verb must be a non-empty literal"));
        }

        let mut segments = Vec::new();
        let mut variables: Vec<Variable> = Vec::new();
        for token in split_top_level(path).map_err(&fail)? {
            if let Some(inner) = token.strip_prefix('{') {
                let inner = inner
                    .strip_suffix('}')
                    .ok_or_else(|| fail("a variable must fill a whole segment"))?;
                let (field, pattern) = inner.split_once('=').unwrap_or((inner, "*"));
                let field_path = parse_field_path(field).map_err(&fail)?;
                if variables.iter().any(|v| v.field_path == field_path) {
                    return Err(fail("a field is bound by two variables"));
                }
                let start = segments.len();
                for part in pattern.split('/') {
                    segments.push(parse_plain_segment(part).map_err(&fail)?);
                }
                variables.push(Variable {
                    field_path,
                    start,
                    end: segments.len(),
                });
            } else {
                segments.push(parse_plain_segment(token).map_err(&fail)?);
            }
        }
        let multi_at = segments.iter().position(|s| *s == Segment::Multi);
        if multi_at.is_some_and(|i| i + 1 != segments.len()) {
            return Err(fail("'**' is only allowed as the last segment"));
        }
        Ok(Self {
            source: source.to_owned(),
            segments,
            verb: verb.map(str::to_owned),
            variables,
        })
    }

    /// The template as written in the proto file.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The template as an OpenAPI path: variable `i` as `{names[i]}`
    /// (`{field.path}` when `names` has no entry for it), without its
    /// segment pattern, since OpenAPI cannot say that a parameter spans
    /// segments.
    pub fn openapi_path(&self, names: &[String]) -> String {
        let mut path = String::new();
        let mut index = 0;
        while index < self.segments.len() {
            path.push('/');
            let found = self
                .variables
                .iter()
                .enumerate()
                .find(|(_, v)| v.start == index);
            if let Some((i, variable)) = found {
                path.push('{');
                match names.get(i) {
                    Some(name) => path.push_str(name),
                    None => path.push_str(&variable.field_path.join(".")),
                }
                path.push('}');
                index = variable.end.max(index + 1);
                continue;
            }
            match &self.segments[index] {
                Segment::Literal(literal) => path.push_str(literal),
                Segment::Single => path.push('*'),
                Segment::Multi => path.push_str("**"),
            }
            index += 1;
        }
        if let Some(verb) = &self.verb {
            path.push(':');
            path.push_str(verb);
        }
        path
    }

    /// The variables, in the order [`Match::variables`] returns their values.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }

    /// The captured value of `variable`, still percent-encoded.
    fn capture(&self, variable: &Variable, path: &[&str]) -> String {
        let ends_in_multi =
            variable.end == self.segments.len() && self.segments.last() == Some(&Segment::Multi);
        let end = if ends_in_multi {
            path.len()
        } else {
            variable.end
        };
        path.get(variable.start..end).unwrap_or_default().join("/")
    }

    /// Whether the variable captures one `*` segment: such values are
    /// decoded fully; longer ones keep `%2F` so that the segments survive.
    fn is_single_segment(&self, variable: &Variable) -> bool {
        variable.end == variable.start + 1
            && self.segments.get(variable.start) == Some(&Segment::Single)
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Splits `rest` (the template without its leading '/') into path and
/// custom verb, ignoring any ':' inside a variable.
fn split_verb(rest: &str) -> Result<(&str, Option<&str>), &'static str> {
    let mut depth = 0_u32;
    let mut colon = None;
    for (i, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.checked_sub(1).ok_or("unbalanced '}'")?,
            ':' if depth == 0 => colon = Some(i),
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unclosed '{'");
    }
    Ok(match colon {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    })
}

/// Splits `path` on the '/' that are not inside a variable.
fn split_top_level(path: &str) -> Result<Vec<&str>, &'static str> {
    let mut tokens = Vec::new();
    let mut depth = 0_u32;
    let mut start = 0;
    for (i, c) in path.char_indices() {
        match c {
            '{' if depth > 0 => return Err("variables cannot nest"),
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '/' if depth == 0 => {
                tokens.push(&path[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    tokens.push(&path[start..]);
    Ok(tokens)
}

fn parse_plain_segment(token: &str) -> Result<Segment, &'static str> {
    match token {
        "" => Err("empty segment"),
        "*" => Ok(Segment::Single),
        "**" => Ok(Segment::Multi),
        literal if literal.chars().all(is_literal_char) => Ok(Segment::Literal(literal.to_owned())),
        _ => Err("a literal segment may only hold letters, digits and '-._~'"),
    }
}

fn parse_field_path(field: &str) -> Result<Vec<String>, &'static str> {
    let is_ident = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let parts: Vec<String> = field.split('.').map(str::to_owned).collect();
    if parts.iter().all(|p| is_ident(p)) {
        Ok(parts)
    } else {
        Err("a variable must name a field path like 'a.b'")
    }
}

fn is_literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

/// A segment or variable value could not be percent-decoded to UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the URL path is not valid percent-encoded UTF-8")]
pub struct InvalidEncoding;

/// A path variable whose value is not valid percent-encoded UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the URL path is not valid percent-encoded UTF-8")]
pub struct InvalidVariable {
    /// Which variable, in the order of [`PathTemplate::variables`]: the
    /// error names its field.
    pub index: usize,
}

/// Percent-decodes `raw`; with `keep_slash`, `%2F` stays encoded (multi-
/// segment variables, as `google.api.http` specifies).
fn percent_decode(raw: &str, keep_slash: bool) -> Result<String, InvalidEncoding> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte != b'%' {
            out.push(byte);
            i += 1;
            continue;
        }
        let hex = bytes.get(i + 1..i + 3).ok_or(InvalidEncoding)?;
        let decoded = std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or(InvalidEncoding)?;
        if keep_slash && decoded == b'/' {
            out.extend_from_slice(&bytes[i..i + 3]);
        } else {
            out.push(decoded);
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| InvalidEncoding)
}

/// Every template of one HTTP method, as a trie over path segments.
#[derive(Debug)]
pub struct Matcher<T> {
    root: Node<T>,
}

#[derive(Debug)]
struct Node<T> {
    literals: Vec<(String, Node<T>)>,
    single: Option<Box<Node<T>>>,
    /// Templates ending in `**` at this point, by custom verb.
    multi: Vec<Leaf<T>>,
    /// Templates ending exactly here, by custom verb.
    ends: Vec<Leaf<T>>,
}

#[derive(Debug)]
struct Leaf<T> {
    template: PathTemplate,
    value: T,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Self {
            literals: Vec::new(),
            single: None,
            multi: Vec::new(),
            ends: Vec::new(),
        }
    }
}

impl<T> Default for Matcher<T> {
    fn default() -> Self {
        Self {
            root: Node::default(),
        }
    }
}

/// A request path matched to a template.
#[derive(Debug)]
pub struct Match<'a, T> {
    /// What was stored with the template.
    pub value: &'a T,
    /// The template that matched.
    pub template: &'a PathTemplate,
    /// Captured variable values, in template order, still percent-encoded.
    raw_variables: Vec<String>,
}

impl<T> Match<'_, T> {
    /// The variable values, percent-decoded, in the order of
    /// [`PathTemplate::variables`].
    ///
    /// # Errors
    /// When a value is not valid percent-encoded UTF-8.
    pub fn variables(&self) -> Result<Vec<String>, InvalidVariable> {
        self.template
            .variables
            .iter()
            .zip(&self.raw_variables)
            .enumerate()
            .map(|(index, (var, raw))| {
                percent_decode(raw, !self.template.is_single_segment(var))
                    .map_err(|InvalidEncoding| InvalidVariable { index })
            })
            .collect()
    }
}

/// One request path segment, decoded once for literal comparisons.
struct PathSegment<'p> {
    raw: &'p str,
    decoded: Option<String>,
}

impl<T> Matcher<T> {
    /// Adds `template` with its `value`.
    ///
    /// # Errors
    /// When a template of the same shape (same literals, wildcards in the
    /// same places, same verb) is already present: it returns that one's
    /// value, so that the caller can name both.
    pub fn insert(&mut self, template: PathTemplate, value: T) -> Result<(), &T> {
        let mut node = &mut self.root;
        let mut ends_in_multi = false;
        for segment in &template.segments {
            node = match segment {
                Segment::Literal(lit) => {
                    let at = match node.literals.iter().position(|(l, _)| l == lit) {
                        Some(at) => at,
                        None => {
                            node.literals.push((lit.clone(), Node::default()));
                            node.literals.len() - 1
                        }
                    };
                    &mut node.literals[at].1
                }
                Segment::Single => node.single.get_or_insert_with(Box::default),
                Segment::Multi => {
                    ends_in_multi = true;
                    break;
                }
            };
        }
        let leaves = if ends_in_multi {
            &mut node.multi
        } else {
            &mut node.ends
        };
        if let Some(at) = leaves.iter().position(|l| l.template.verb == template.verb) {
            return Err(&leaves[at].value);
        }
        leaves.push(Leaf { template, value });
        Ok(())
    }

    /// Finds the template that matches `path` (no query string).
    ///
    /// A trailing `:verb` is first tried as a custom verb; when no template
    /// has that verb the whole last segment is matched as path, so
    /// `/v1/tasks/a:b` still reaches `/v1/tasks/{id}` with id `a:b`.
    /// Literals win over `*`, which wins over `**`.
    pub fn find(&self, path: &str) -> Option<Match<'_, T>> {
        if let Some(found) = self.find_verb(path) {
            return Some(found);
        }
        let rest = path.strip_prefix('/')?;
        let raw: Vec<&str> = rest.split('/').collect();
        self.find_segments(&raw, None)
    }

    /// Finds the template that matches `path` read with a trailing
    /// `:verb` as a custom verb, and only so.
    pub fn find_verb(&self, path: &str) -> Option<Match<'_, T>> {
        let rest = path.strip_prefix('/')?;
        let raw: Vec<&str> = rest.split('/').collect();
        let (last, init) = raw.split_last()?;
        let (head, verb) = last.rsplit_once(':')?;
        let mut with_verb = init.to_vec();
        with_verb.push(head);
        self.find_segments(&with_verb, Some(verb))
    }

    fn find_segments(&self, raw: &[&str], verb: Option<&str>) -> Option<Match<'_, T>> {
        let segments: Vec<PathSegment<'_>> = raw
            .iter()
            .map(|r| PathSegment {
                raw: r,
                decoded: percent_decode(r, false).ok(),
            })
            .collect();
        let leaf = self.root.find(&segments, verb)?;
        let raw_variables = leaf
            .template
            .variables
            .iter()
            .map(|v| leaf.template.capture(v, raw))
            .collect();
        Some(Match {
            value: &leaf.value,
            template: &leaf.template,
            raw_variables,
        })
    }
}

impl<T> Node<T> {
    fn find(&self, path: &[PathSegment<'_>], verb: Option<&str>) -> Option<&Leaf<T>> {
        let by_verb = |leaves: &'_ [Leaf<T>]| -> Option<usize> {
            leaves
                .iter()
                .position(|l| l.template.verb.as_deref() == verb)
        };
        let Some((first, rest)) = path.split_first() else {
            return by_verb(&self.ends).map(|at| &self.ends[at]);
        };
        if let Some(decoded) = &first.decoded {
            let child = self.literals.iter().find(|(l, _)| l == decoded);
            if let Some(found) = child.and_then(|(_, node)| node.find(rest, verb)) {
                return Some(found);
            }
        }
        if !first.raw.is_empty()
            && let Some(found) = self.single.as_ref().and_then(|n| n.find(rest, verb))
        {
            return Some(found);
        }
        if path.iter().all(|s| !s.raw.is_empty()) {
            return by_verb(&self.multi).map(|at| &self.multi[at]);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(templates: &[&str]) -> Matcher<String> {
        let mut m = Matcher::default();
        for t in templates {
            let parsed = PathTemplate::parse(t).unwrap();
            m.insert(parsed, (*t).to_owned()).unwrap();
        }
        m
    }

    /// The matched template and its decoded variables.
    fn find(m: &Matcher<String>, path: &str) -> Option<(String, Vec<String>)> {
        m.find(path)
            .map(|hit| (hit.value.clone(), hit.variables().unwrap()))
    }

    #[test]
    fn openapi_paths_name_each_variable_once() {
        let template = PathTemplate::parse("/v1/{parent=shelves/*}/books/{book.id}:read").unwrap();
        assert_eq!(
            template.openapi_path(&[]),
            "/v1/{parent}/books/{book.id}:read"
        );
        assert_eq!(
            template.openapi_path(&["p".into(), "id".into()]),
            "/v1/{p}/books/{id}:read"
        );
    }

    #[test]
    fn parses_literals_variables_and_verbs() {
        let t = PathTemplate::parse("/v1/{parent=projects/*}/tasks/{task.id}:move").unwrap();
        assert_eq!(t.verb.as_deref(), Some("move"));
        assert_eq!(
            t.segments,
            [
                Segment::Literal("v1".into()),
                Segment::Literal("projects".into()),
                Segment::Single,
                Segment::Literal("tasks".into()),
                Segment::Single,
            ]
        );
        let paths: Vec<&[String]> = t.variables().iter().map(Variable::field_path).collect();
        assert_eq!(
            paths,
            [
                &["parent".to_owned()][..],
                &["task".to_owned(), "id".to_owned()][..]
            ]
        );
    }

    #[test]
    fn rejects_invalid_templates() {
        for bad in [
            "",
            "v1/tasks",
            "/v1//tasks",
            "/v1/tasks/",
            "/v1/{id",
            "/v1/id}",
            "/v1/{a{b}}",
            "/v1/{}",
            "/v1/{1a}",
            "/v1/{a..b}",
            "/v1/**/tasks",
            "/v1/{name=**}/x",
            "/v1/{id}/{id}",
            "/v1/tasks:",
            "/v1/ta sks",
            "/v1/x{id}",
            "/v1/{id=}",
        ] {
            assert!(PathTemplate::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn matches_literal_paths_only_exactly() {
        let m = matcher(&["/v1/users/me", "/.well-known/jwks.json"]);
        assert_eq!(find(&m, "/v1/users/me").unwrap().0, "/v1/users/me");
        assert_eq!(
            find(&m, "/.well-known/jwks.json").unwrap().0,
            "/.well-known/jwks.json"
        );
        for miss in [
            "/v1/users",
            "/v1/users/me/x",
            "/v1/users/me/",
            "v1/users/me",
            "/",
        ] {
            assert!(find(&m, miss).is_none(), "{miss:?} matched");
        }
    }

    #[test]
    fn single_variables_take_one_non_empty_segment() {
        let m = matcher(&["/v1/tasks/{id}"]);
        assert_eq!(find(&m, "/v1/tasks/42").unwrap().1, ["42"]);
        assert!(find(&m, "/v1/tasks/42/more").is_none());
        assert!(find(&m, "/v1/tasks/").is_none());
        assert!(find(&m, "/v1/tasks").is_none());
    }

    #[test]
    fn nested_field_paths_are_captured() {
        let m = matcher(&["/v1/tasks/{task.id}"]);
        let hit = m.find("/v1/tasks/7").unwrap();
        assert_eq!(hit.template.variables()[0].field_path(), ["task", "id"]);
        assert_eq!(hit.variables().unwrap(), ["7"]);
    }

    #[test]
    fn double_wildcards_take_the_rest_of_the_path() {
        let m = matcher(&["/v1/files/{name=**}", "/v1/files/{name=**}:undelete"]);
        assert_eq!(find(&m, "/v1/files/a/b/c").unwrap().1, ["a/b/c"]);
        let (template, vars) = find(&m, "/v1/files/a/b:undelete").unwrap();
        assert_eq!(template, "/v1/files/{name=**}:undelete");
        assert_eq!(vars, ["a/b"]);
        assert!(find(&m, "/v1/files").is_none());
        assert!(find(&m, "/v1/files/a//b").is_none());
    }

    #[test]
    fn prefixed_variables_require_their_literals() {
        let m = matcher(&["/v1/{name=projects/*}"]);
        assert_eq!(find(&m, "/v1/projects/p1").unwrap().1, ["projects/p1"]);
        assert!(find(&m, "/v1/folders/p1").is_none());
        assert!(find(&m, "/v1/projects/p1/x").is_none());
    }

    #[test]
    fn custom_verbs_select_their_own_route() {
        let m = matcher(&[
            "/v1/notifications",
            "/v1/notifications:markAllRead",
            "/v1/notifications/{id}:markRead",
            "/v1/auth:login",
            "/v1/tasks/{id}",
        ]);
        assert_eq!(find(&m, "/v1/auth:login").unwrap().0, "/v1/auth:login");
        assert!(find(&m, "/v1/auth:logout").is_none());
        assert!(find(&m, "/v1/auth").is_none());
        assert_eq!(
            find(&m, "/v1/notifications:markAllRead").unwrap().0,
            "/v1/notifications:markAllRead"
        );
        assert_eq!(
            find(&m, "/v1/notifications").unwrap().0,
            "/v1/notifications"
        );
        let (template, vars) = find(&m, "/v1/notifications/n1:markRead").unwrap();
        assert_eq!(template, "/v1/notifications/{id}:markRead");
        assert_eq!(vars, ["n1"]);
        assert!(find(&m, "/v1/notifications/n1").is_none());
    }

    #[test]
    fn a_colon_that_is_no_known_verb_is_part_of_the_segment() {
        let m = matcher(&["/v1/tasks/{id}", "/v1/tasks/{id}:archive"]);
        assert_eq!(
            find(&m, "/v1/tasks/a:b").unwrap(),
            ("/v1/tasks/{id}".into(), vec!["a:b".into()])
        );
        assert_eq!(
            find(&m, "/v1/tasks/a:archive").unwrap(),
            ("/v1/tasks/{id}:archive".into(), vec!["a".into()])
        );
    }

    #[test]
    fn literals_win_over_variables() {
        let m = matcher(&["/v1/users/{id}", "/v1/users/me"]);
        assert_eq!(find(&m, "/v1/users/me").unwrap().0, "/v1/users/me");
        assert_eq!(find(&m, "/v1/users/you").unwrap().0, "/v1/users/{id}");
    }

    #[test]
    fn variables_are_percent_decoded() {
        let m = matcher(&["/v1/tasks/{id}", "/v1/files/{name=**}"]);
        assert_eq!(find(&m, "/v1/tasks/a%20b%2Fc%3Ad").unwrap().1, ["a b/c:d"]);
        assert_eq!(find(&m, "/v1/tasks/%C3%A9").unwrap().1, ["é"]);
        // An encoded '/' stays encoded in a multi-segment value, so that
        // the value's own segments are told apart from it.
        assert_eq!(find(&m, "/v1/files/a%2Fb/c%20d").unwrap().1, ["a%2Fb/c d"]);
        // An encoded ':' is never a verb separator.
        assert_eq!(find(&m, "/v1/tasks/x%3Ay").unwrap().1, ["x:y"]);
        // Literals compare decoded.
        assert!(find(&m, "/v1/%74asks/1").is_some());
    }

    #[test]
    fn broken_percent_encoding_is_reported() {
        let m = matcher(&["/v1/tasks/{id}"]);
        for bad in ["/v1/tasks/%", "/v1/tasks/%zz", "/v1/tasks/%FF"] {
            let hit = m.find(bad).unwrap();
            assert_eq!(hit.variables(), Err(InvalidVariable { index: 0 }), "{bad}");
        }
    }

    #[test]
    fn templates_of_the_same_shape_conflict() {
        let mut m = matcher(&["/v1/tasks/{id}", "/v1/tasks/{id}:archive"]);
        let clash = PathTemplate::parse("/v1/tasks/{name}").unwrap();
        assert_eq!(
            m.insert(clash, "other".into()),
            Err(&"/v1/tasks/{id}".to_owned())
        );
        let distinct = PathTemplate::parse("/v1/tasks/{id}:restore").unwrap();
        assert!(m.insert(distinct, "restore".into()).is_ok());
    }
}
