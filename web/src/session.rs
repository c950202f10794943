//! The session: the user's token pair, kept in an encrypted, signed,
//! HttpOnly cookie, so that no script in the browser can read the tokens
//! and no one can forge or alter the cookie without the derived key.

use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use todo_proto::todo::user::v1::TokenPair;

/// The cookie that holds the session.
pub const COOKIE: &str = "session";

/// Refresh this long before the access token expires, so that a call
/// started just before the expiry does not fail on the way.
const REFRESH_MARGIN_SECS: i64 = 30;

/// A signed-in user's tokens.
#[derive(Clone)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    /// Unix seconds when the access token expires.
    pub expires_at: i64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session(..)")
    }
}

impl Session {
    /// The session a fresh token pair makes.
    pub fn from_pair(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            expires_at: now().saturating_add(pair.expires_in),
        }
    }

    /// The session in `jar`, if it holds a well-formed one.
    pub fn read(jar: &PrivateCookieJar) -> Option<Self> {
        let cookie = jar.get(COOKIE)?;
        // Encrypted, so the format is ours alone: expiry, refresh, access.
        let mut parts = cookie.value().splitn(3, '|');
        let expires_at = parts.next()?.parse().ok()?;
        let refresh_token = parts.next()?.to_owned();
        let access_token = parts.next()?.to_owned();
        Some(Self {
            access_token,
            refresh_token,
            expires_at,
        })
    }

    /// Whether the access token is expired or about to be.
    pub fn needs_refresh(&self) -> bool {
        now() >= self.expires_at.saturating_sub(REFRESH_MARGIN_SECS)
    }

    /// The cookie that stores this session.
    pub fn cookie(&self, secure: bool) -> Cookie<'static> {
        let value = format!(
            "{}|{}|{}",
            self.expires_at, self.refresh_token, self.access_token
        );
        cookie(COOKIE, value, secure)
    }
}

/// A cookie for the whole site that scripts cannot read and that
/// cross-site subrequests and form posts do not carry (top-level
/// navigations do, so links from e-mails still find the session).
pub fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build()
}

/// The cookie that removes the session.
pub fn removal() -> Cookie<'static> {
    Cookie::build((COOKIE, "")).path("/").build()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
