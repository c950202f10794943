//! Abuse throttling: failed logins per account and per client address,
//! registrations and reset requests per client address, verification and
//! address-change e-mails per account.
//!
//! Events are rows in the user database, not counters in memory, so a
//! limit holds however many replicas serve and across restarts. A subject
//! is stored as a digest: the table needs to tell subjects apart, not to
//! know who they are.

use std::net::IpAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use tonic::Request;

use todo_common::CancellationToken;
use todo_common::auth::ServiceCredential;
use todo_common::clock::{new_id, now_micros};
use todo_store::db::{Db, Pool};
use todo_store::poll::{self, Pass, Schedule};

use crate::config::{Limit, Limits};
use crate::error::Error;

/// What is being counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Wrong passwords given for one account address.
    LoginAccount,
    /// Wrong passwords sent from one client address.
    LoginAddress,
    /// Registration attempts from one client address.
    Registration,
    /// Password reset requests from one client address.
    ResetRequest,
    /// E-mails a signed-in user has sent to an address (verification sent
    /// again, address change), per account: the caller is known, and the
    /// limit protects the mailboxes the e-mails go to.
    AccountMail,
    /// Notices to an account that someone tried to sign up with its
    /// address: counted per account, so many clients together cannot
    /// flood one mailbox through registration.
    SignupNotice,
}

impl Bucket {
    fn as_str(self) -> &'static str {
        match self {
            Self::LoginAccount => "login_account",
            Self::LoginAddress => "login_address",
            Self::Registration => "register",
            Self::ResetRequest => "reset",
            Self::AccountMail => "account_mail",
            Self::SignupNotice => "signup_notice",
        }
    }
}

/// Who is counted, as a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject(String);

impl Subject {
    /// An account by the address typed at login, whether or not it has an
    /// account: throttling must not tell the two apart.
    pub fn account(email_key: &str) -> Self {
        Self::digest("account", email_key)
    }

    /// A signed-in user, by account id.
    pub fn user(user_id: &str) -> Self {
        Self::digest("user", user_id)
    }

    pub fn address(client: &ClientAddress) -> Self {
        Self::digest("address", &client.0)
    }

    fn digest(kind: &str, value: &str) -> Self {
        let mut h = Sha256::new();
        h.update(kind.as_bytes());
        h.update([0]);
        h.update(value.as_bytes());
        Self(hex::encode(h.finalize()))
    }
}

/// The network address a request comes from: the first hop of
/// `x-forwarded-for` when the caller presents the service credential (the
/// edge does, having settled the client's address itself), else the peer
/// of the connection. Anyone else could write any address there and get a
/// fresh throttle budget with each. IPv6 clients are counted per /64,
/// since one host commonly holds a whole /64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(String);

impl ClientAddress {
    pub fn of<T>(request: &Request<T>, trusted: &ServiceCredential) -> Self {
        let forwarded = request
            .metadata()
            .get("x-forwarded-for")
            .filter(|_| trusted.presented_in(request))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(parse_ip);
        let ip = forwarded.or_else(|| request.remote_addr().map(|a| a.ip()));
        Self(ip.map_or_else(|| "unknown".to_owned(), |ip| normalize(ip).to_string()))
    }
}

/// An address as written in `x-forwarded-for`: bare, or with a port.
fn parse_ip(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    raw.parse::<IpAddr>()
        .ok()
        .or_else(|| raw.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}

fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4)
}

/// Refuses when `subject` already has `limit.max` events in the window,
/// saying when the oldest event that matters leaves it.
///
/// # Errors
/// [`Error::Throttled`] past the limit; [`Error::Internal`] when the
/// database fails.
pub async fn check(
    pool: &Pool,
    bucket: Bucket,
    subject: &Subject,
    limit: Limit,
    now: i64,
) -> Result<(), Error> {
    let since = now - micros(limit.window);
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM throttle_events WHERE bucket = ? AND subject = ? AND create_time > ?",
    )
    .bind(bucket.as_str())
    .bind(&subject.0)
    .bind(since)
    .fetch_one(pool)
    .await?;
    let max = i64::from(limit.max);
    if count < max {
        return Ok(());
    }
    // The attempt is allowed again once fewer than `max` events remain in
    // the window, that is when the (count - max + 1)-th oldest leaves it.
    let pivot: Option<i64> = sqlx::query_scalar(
        "SELECT create_time FROM throttle_events WHERE bucket = ? AND subject = ? AND create_time > ? \
         ORDER BY create_time LIMIT 1 OFFSET ?",
    )
    .bind(bucket.as_str())
    .bind(&subject.0)
    .bind(since)
    .bind(count - max)
    .fetch_optional(pool)
    .await?;
    let free_at = pivot.unwrap_or(now) + micros(limit.window);
    let wait = u64::try_from(free_at - now).unwrap_or(0);
    // Whole seconds, rounded up: Retry-After has no finer unit.
    let retry_after = Duration::from_secs(wait.div_ceil(1_000_000).max(1));
    Err(Error::Throttled { retry_after })
}

/// How many events `subject` has in `bucket` since `since`, on the
/// caller's connection (inside its transaction).
///
/// # Errors
/// When the database fails.
pub async fn count_since(
    conn: &mut AnyConnection,
    bucket: Bucket,
    subject: &Subject,
    since: i64,
) -> Result<i64, Error> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM throttle_events WHERE bucket = ? AND subject = ? AND create_time > ?",
    )
    .bind(bucket.as_str())
    .bind(&subject.0)
    .bind(since)
    .fetch_one(conn)
    .await?)
}

/// Counts one event of `subject`.
///
/// # Errors
/// When the database fails.
pub async fn record(
    conn: &mut AnyConnection,
    bucket: Bucket,
    subject: &Subject,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO throttle_events (id, bucket, subject, create_time) VALUES (?, ?, ?, ?)",
    )
    .bind(new_id())
    .bind(bucket.as_str())
    .bind(&subject.0)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Notices of attempted sign-ups one account gets per hour at most, however
/// many clients try; further attempts get the same answer and no e-mail.
pub const SIGNUP_NOTICES_PER_HOUR: i64 = 3;
/// The window of [`SIGNUP_NOTICES_PER_HOUR`], which throttle pruning must
/// keep whatever the configured limits.
pub const SIGNUP_NOTICE_WINDOW: Duration = Duration::from_secs(3600);

/// How often old throttle events are deleted.
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// Deletes throttle events that no window reaches any more, so the table
/// stays as small as the traffic of the longest window.
pub async fn prune_until_stopped(db: Db, limits: Limits, shutdown: CancellationToken) {
    let schedule = Schedule {
        worker: "throttle pruning",
        idle: PRUNE_INTERVAL,
        wake: None,
    };
    poll::run(schedule, shutdown, || async {
        let keep = limits.longest_window().max(SIGNUP_NOTICE_WINDOW);
        let n = prune(&db.pool, keep, now_micros()).await?;
        if n > 0 {
            tracing::debug!(rows = n, "throttle events pruned");
        }
        Ok::<_, Error>(Pass::Idle)
    })
    .await;
}

/// Forgets events older than `keep`, which no window reaches any more.
///
/// # Errors
/// When the database fails.
pub async fn prune(pool: &Pool, keep: Duration, now: i64) -> Result<u64, Error> {
    let done = sqlx::query("DELETE FROM throttle_events WHERE create_time <= ?")
        .bind(now - micros(keep))
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential() -> ServiceCredential {
        ServiceCredential::new(&"k".repeat(32)).unwrap()
    }

    /// A request from a trusted service (the edge) forwarding `xff`.
    fn from(xff: Option<&str>) -> ClientAddress {
        let mut req = Request::new(());
        credential().attach(req.metadata_mut()).unwrap();
        if let Some(v) = xff {
            req.metadata_mut()
                .insert("x-forwarded-for", v.parse().unwrap());
        }
        ClientAddress::of(&req, &credential())
    }

    #[test]
    fn only_a_trusted_caller_can_name_the_client_address() {
        let mut req = Request::new(());
        req.metadata_mut()
            .insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
        assert_eq!(ClientAddress::of(&req, &credential()).0, "unknown");
        req.metadata_mut().insert(
            todo_common::auth::SERVICE_TOKEN,
            "x".repeat(32).parse().unwrap(),
        );
        assert_eq!(ClientAddress::of(&req, &credential()).0, "unknown");
        credential().attach(req.metadata_mut()).unwrap();
        assert_eq!(ClientAddress::of(&req, &credential()).0, "203.0.113.7");
    }

    #[test]
    fn the_first_forwarded_hop_is_the_client() {
        assert_eq!(from(Some("203.0.113.7, 10.0.0.1")).0, "203.0.113.7");
        assert_eq!(from(Some("203.0.113.7:4711")).0, "203.0.113.7");
        assert_eq!(from(Some("::ffff:203.0.113.7")).0, "203.0.113.7");
        // One /64 is one client.
        assert_eq!(
            from(Some("2001:db8:1:2:aaaa::1")),
            from(Some("[2001:db8:1:2:bbbb::2]:443"))
        );
        assert_ne!(from(Some("2001:db8:1:2::1")), from(Some("2001:db8:1:3::1")));
        // Garbage falls back to the peer, here unknown.
        assert_eq!(from(Some("not an address")).0, "unknown");
        assert_eq!(from(None).0, "unknown");
    }

    #[test]
    fn subjects_are_digests_that_keep_kinds_apart() {
        let a = Subject::account("1.2.3.4");
        let b = Subject::address(&ClientAddress("1.2.3.4".into()));
        assert_ne!(a, b);
        assert_eq!(a.0.len(), 64);
        assert!(!a.0.contains("1.2.3.4"));
    }
}
