//! What every page shares: the request context (cookies, language, CSRF
//! token, client address, session), the layout's data, the form extractor
//! that refuses a POST without a valid CSRF token, the error pages and the
//! security headers.

use std::net::{IpAddr, SocketAddr};

use askama::Template;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::Key;
use http::header::{
    ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderValue, StatusCode};
use serde::de::DeserializeOwned;
use todo_proto::todo::notify::v1::ListNotificationsRequest;
use todo_proto::todo::task::v1::ListInvitationsRequest;
use todo_proto::todo::user::v1::RefreshTokenRequest;

use crate::i18n::Lang;
use crate::session::{self, Session};
use crate::{AppState, csrf};

/// No inline script or style anywhere, so the policy can forbid them.
const CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The largest form body read; the largest form (a task) is far smaller.
const FORM_LIMIT: usize = 64 * 1024;

/// The request's context. Handlers take it, change the cookie jar through
/// it, and hand it back with the page so that the cookies are sent.
pub struct Ctx {
    pub jar: PrivateCookieJar,
    pub lang: Lang,
    /// The token this browser's forms carry.
    pub csrf: String,
    csrf_id: String,
    pub client: Option<IpAddr>,
    pub session: Option<Session>,
    pub path: String,
    pub state: AppState,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = Key::from_ref(state);
        let mut jar = PrivateCookieJar::from_headers(&parts.headers, key);
        let lang = jar
            .get(crate::i18n::COOKIE)
            .and_then(|c| Lang::from_code(c.value()))
            .unwrap_or_else(|| {
                Lang::from_accept_language(
                    parts
                        .headers
                        .get(ACCEPT_LANGUAGE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default(),
                )
            });
        let csrf_id = match jar.get(csrf::COOKIE) {
            Some(cookie) => cookie.value().to_owned(),
            None => {
                let id = csrf::new_id();
                jar = jar.add(session::cookie(
                    csrf::COOKIE,
                    id.clone(),
                    state.inner.secure_cookies,
                ));
                id
            }
        };
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let client = todo_edge::metadata::client_address(
            &parts.headers,
            peer,
            state.inner.trusted_proxy_hops,
        );
        let session = Session::read(&jar);
        Ok(Self {
            csrf: csrf::token(&state.inner.csrf_key, &csrf_id),
            csrf_id,
            lang,
            client,
            session,
            path: parts.uri.path().to_owned(),
            jar,
            state: state.clone(),
        })
    }
}

impl Ctx {
    /// The services, with this request's metadata at hand.
    pub fn services(&self) -> &crate::services::Services {
        &self.state.inner.services
    }

    /// A request to a service for this client, with the session's access
    /// token if there is one.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let token = self.session.as_ref().map(|s| s.access_token.as_str());
        self.services().request(message, self.client, token)
    }

    /// Signs the browser in with `session`.
    pub fn sign_in(&mut self, session: Session) {
        let cookie = session.cookie(self.state.inner.secure_cookies);
        self.jar = self.jar.clone().add(cookie);
        self.session = Some(session);
    }

    /// Forgets the session in this browser.
    pub fn sign_out(&mut self) {
        self.jar = self.jar.clone().remove(session::removal());
        self.session = None;
    }

    /// Makes sure the session's access token is fresh, refreshing it with
    /// the refresh token when it has expired. `Err` is the way to the
    /// sign-in page when there is no usable session.
    #[allow(clippy::result_large_err)]
    pub async fn require_session(&mut self) -> Result<(), Response> {
        let Some(current) = self.session.clone() else {
            return Err(self.redirect("/sign-in"));
        };
        if !current.needs_refresh() {
            return Ok(());
        }
        let request = self.services().request(
            RefreshTokenRequest {
                refresh_token: current.refresh_token,
            },
            self.client,
            None,
        );
        match self.services().user.clone().refresh_token(request).await {
            Ok(pair) => {
                self.sign_in(Session::from_pair(pair.into_inner()));
                Ok(())
            }
            Err(status) => {
                tracing::debug!(code = ?status.code(), "session refresh failed");
                self.sign_out();
                Err(self.redirect("/sign-in"))
            }
        }
    }

    /// The layout's data for a page titled by catalog key `title`; for a
    /// signed-in user with the inbox's unread count and the number of
    /// pending invitations (one call each, side by side).
    pub async fn chrome(&self, title: &'static str) -> Chrome {
        let (unread, invitations) = match &self.session {
            None => (0, 0),
            Some(_) => tokio::join!(self.unread(), self.pending_invitations()),
        };
        Chrome {
            lang: self.lang,
            csrf: self.csrf.clone(),
            signed_in: self.session.is_some(),
            unread,
            invitations,
            title,
            heading: String::new(),
            path: self.path.clone(),
        }
    }

    async fn unread(&self) -> i64 {
        let request = self.request(ListNotificationsRequest {
            page_size: 1,
            page_token: String::new(),
            unread_only: true,
        });
        match self
            .services()
            .notify
            .clone()
            .list_notifications(request)
            .await
        {
            Ok(list) => list.into_inner().unread_count,
            // The header is not worth failing the page for.
            Err(_) => 0,
        }
    }

    async fn pending_invitations(&self) -> usize {
        let request = self.request(ListInvitationsRequest {});
        match self.services().task.clone().list_invitations(request).await {
            Ok(list) => list.into_inner().invitations.len(),
            Err(_) => 0,
        }
    }

    /// The page `template` renders, with this request's cookies.
    pub fn page(self, template: &impl Template) -> Response {
        self.page_with_status(StatusCode::OK, template)
    }

    /// As [`Ctx::page`] with another status (a form with errors is 400).
    pub fn page_with_status(self, status: StatusCode, template: &impl Template) -> Response {
        match template.render() {
            Ok(html) => (status, self.jar, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "a page failed to render");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }

    /// A redirect after a POST (303, so the browser follows with GET),
    /// with this request's cookies.
    pub fn redirect(&self, to: &str) -> Response {
        (self.jar.clone(), Redirect::to(to)).into_response()
    }

    /// A page with one message, for errors that end a request.
    pub async fn message(
        self,
        status: StatusCode,
        title: &'static str,
        text: &'static str,
    ) -> Response {
        let c = self.chrome(title).await;
        self.page_with_status(status, &MessagePage { c, text })
    }

    /// The answer to a failed call that has no form to show it on.
    pub async fn failed(self, status: &tonic::Status) -> Response {
        if status.code() == tonic::Code::Unauthenticated {
            let mut this = self;
            this.sign_out();
            return this.redirect("/sign-in");
        }
        let key = crate::forms::Errors::from_status(status, self.lang)
            .form
            .unwrap_or("err_invalid");
        let (code, title) = match status.code() {
            // A VIEWER's forged write, say: refused, and said so.
            tonic::Code::PermissionDenied => (StatusCode::FORBIDDEN, "forbidden_title"),
            tonic::Code::NotFound => (StatusCode::NOT_FOUND, "error_title"),
            tonic::Code::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "error_title"),
            _ => (StatusCode::BAD_REQUEST, "error_title"),
        };
        self.message(code, title, key).await
    }

    /// A redirect to `back` if it is a path on this site, else to
    /// `fallback`, so that a form's return address cannot send anyone
    /// elsewhere.
    pub fn redirect_back(&self, back: &str, fallback: &str) -> Response {
        self.redirect(if is_local(back) { back } else { fallback })
    }
}

/// Whether `path` is a path on this site (not `//elsewhere` or a
/// backslash trick that browsers read as one).
pub fn is_local(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.contains('\\')
}

/// The layout's data: language, CSRF token for the header's forms, whether
/// someone is signed in, the unread count, the pending invitations, the
/// page title's key.
pub struct Chrome {
    pub lang: Lang,
    pub csrf: String,
    pub signed_in: bool,
    pub unread: i64,
    pub invitations: usize,
    pub title: &'static str,
    /// The page's heading when it is the user's text (a list's title)
    /// rather than the catalog's `title`.
    pub heading: String,
    pub path: String,
}

impl Chrome {
    /// The text of catalog key `key` in the page's language.
    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// The page's heading: the user's text if there is one, else the
    /// catalog's title.
    pub fn h1(&self) -> &str {
        if self.heading.is_empty() {
            self.t(self.title)
        } else {
            &self.heading
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub c: Chrome,
    pub text: &'static str,
}

/// A form body whose CSRF token matched; the handler gets the context and
/// the parsed form. A POST without a valid token is refused with a 403
/// page before any handler runs.
pub struct Form<T> {
    pub ctx: Ctx,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Form<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let Ok(ctx) = Ctx::from_request_parts(&mut parts, state).await;
        let Ok(bytes) = axum::body::to_bytes(body, FORM_LIMIT).await else {
            return Err(ctx
                .message(StatusCode::PAYLOAD_TOO_LARGE, "error_title", "err_invalid")
                .await);
        };
        let presented = form_urlencoded_value(&bytes, csrf::FIELD);
        let valid = presented
            .as_deref()
            .is_some_and(|token| csrf::verify(&state.inner.csrf_key, &ctx.csrf_id, token));
        if !valid {
            tracing::info!(path = %ctx.path, "form refused: missing or wrong CSRF token");
            return Err(ctx
                .message(StatusCode::FORBIDDEN, "forbidden_title", "err_csrf")
                .await);
        }
        let parsed: Option<T> = serde_urlencoded::from_bytes(&bytes).ok();
        match parsed {
            Some(form) => Ok(Self { ctx, form }),
            None => Err(ctx
                .message(StatusCode::BAD_REQUEST, "error_title", "err_invalid")
                .await),
        }
    }
}

/// The first value of `name` in a URL-encoded body.
fn form_urlencoded_value(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// Security headers on every page and on the stylesheet.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    // For browsers that predate `frame-ancestors`.
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The one stylesheet, compiled in.
pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", include_str!("../static/app.css"))
}

/// The one script, compiled in: drag-and-drop over the Up/Down buttons.
pub async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../static/app.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}
