//! The web app's sign-in, as a browser goes through it: the sign-in page
//! for its CSRF cookie and token, then the form posted with them. What
//! comes back is the `Cookie` header a signed-in browser sends.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, HOST, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::cases::query_escape;
use crate::http::connect;

/// The cookies of the web app's CSRF id and session (web/src/csrf.rs,
/// web/src/session.rs), and the form field of the token.
const CSRF: &str = "csrf";
const SESSION: &str = "session";

/// Signs `email` in through the web app on `addr`.
///
/// # Errors
/// When a step fails or answers other than a browser would expect.
pub async fn sign_in(addr: SocketAddr, email: &str, password: &str) -> Result<HeaderValue, String> {
    let (status, headers, body) = send(addr, Method::GET, "/sign-in", None, None).await?;
    if status != StatusCode::OK {
        return Err(format!("GET /sign-in answered {status}"));
    }
    let csrf_cookie = cookie(&headers, CSRF).ok_or("GET /sign-in set no CSRF cookie")?;
    let token =
        form_token(&String::from_utf8_lossy(&body)).ok_or("the sign-in form has no token")?;
    let form = format!(
        "{CSRF}={}&email={}&password={}",
        query_escape(&token),
        query_escape(email),
        query_escape(password)
    );
    let sent = HeaderValue::try_from(csrf_cookie.clone()).map_err(|e| e.to_string())?;
    let (status, headers, _) = send(addr, Method::POST, "/sign-in", Some(sent), Some(form)).await?;
    // Signed in, the form redirects (303) and sets the session.
    if !status.is_redirection() {
        return Err(format!("POST /sign-in answered {status}"));
    }
    let session = cookie(&headers, SESSION).ok_or("POST /sign-in set no session cookie")?;
    HeaderValue::try_from(format!("{session}; {csrf_cookie}")).map_err(|e| e.to_string())
}

/// One request on a connection of its own, with its whole answer.
async fn send(
    addr: SocketAddr,
    method: Method,
    target: &str,
    cookies: Option<HeaderValue>,
    form: Option<String>,
) -> Result<(StatusCode, HeaderMap, Bytes), String> {
    let mut connection = connect(addr).await?;
    let mut request = Request::builder()
        .method(method)
        .uri(target)
        .header(HOST, addr.to_string());
    if let Some(cookies) = cookies {
        request = request.header(COOKIE, cookies);
    }
    if form.is_some() {
        request = request.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let request = request
        .body(Full::new(Bytes::from(form.unwrap_or_default())))
        .map_err(|e| format!("invalid request: {e}"))?;
    let response = connection
        .send_request(request)
        .await
        .map_err(|e| format!("{target}: {e}"))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("{target}: answer cut short: {e}"))?
        .to_bytes();
    Ok((parts.status, parts.headers, body))
}

/// `name=value` of the cookie `name` that `headers` set.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or_default().trim())
        .find(|pair| pair.split_once('=').is_some_and(|(n, _)| n == name))
        .map(str::to_owned)
}

/// The value of the form's hidden CSRF field in `html`.
fn form_token(html: &str) -> Option<String> {
    let field = format!("name=\"{CSRF}\" value=\"");
    let start = html.find(&field)? + field.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_from_the_hidden_field() {
        let html = r#"<form><input type="hidden" name="csrf" value="a.b-c"><input name="x">"#;
        assert_eq!(form_token(html).as_deref(), Some("a.b-c"));
        assert_eq!(form_token("<form></form>"), None);
    }

    #[test]
    fn the_named_cookie_is_found_among_those_set() {
        let mut headers = HeaderMap::new();
        headers.append(SET_COOKIE, HeaderValue::from_static("lang=en; Path=/"));
        headers.append(
            SET_COOKIE,
            HeaderValue::from_static("session=v=1; HttpOnly; Path=/"),
        );
        assert_eq!(cookie(&headers, "session").as_deref(), Some("session=v=1"));
        assert_eq!(cookie(&headers, "csrf"), None);
    }
}
