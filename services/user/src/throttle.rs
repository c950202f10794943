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
        let n = prune(db.writer(), keep, now_micros()).await?;
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
        let c = Subject::user("1.2.3.4");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(b, c);
        for s in [&a, &b, &c] {
            assert_eq!(s.0.len(), 64);
            assert!(!s.0.contains("1.2.3.4"));
        }
        // One kind, two values: two subjects.
        assert_ne!(Subject::user("u1"), Subject::user("u2"));
        assert_ne!(
            Subject::address(&ClientAddress("203.0.113.7".into())),
            Subject::address(&ClientAddress("203.0.113.8".into()))
        );
    }

    const SECOND: i64 = 1_000_000;
    /// A moment far from the clock's zero, so windows reach back from it.
    const NOW: i64 = 1_000_000 * SECOND;

    async fn database(dir: &tempfile::TempDir) -> Db {
        let config = todo_store::db::DbConfig {
            url: format!("sqlite://{}/user.db", dir.path().display()),
            max_connections: 2,
        };
        todo_store::db::connect(&config, &crate::MIGRATOR)
            .await
            .unwrap()
    }

    /// Counts one event of `subject` `ago` seconds before [`NOW`].
    async fn event(db: &Db, bucket: Bucket, subject: &Subject, ago: i64) {
        let mut conn = db.pool.acquire().await.unwrap();
        record(&mut conn, bucket, subject, NOW - ago * SECOND)
            .await
            .unwrap();
    }

    /// What `check` answers at [`NOW`]: `None` when allowed, else the
    /// seconds to wait.
    async fn wait(db: &Db, bucket: Bucket, subject: &Subject, limit: Limit) -> Option<u64> {
        match check(&db.pool, bucket, subject, limit, NOW).await {
            Ok(()) => None,
            Err(Error::Throttled { retry_after }) => Some(retry_after.as_secs()),
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn a_reached_limit_refuses_until_the_window_frees_an_event() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        let ada = Subject::account("ada@example.com");
        let limit = Limit::new(2, 100);
        assert_eq!(wait(&db, Bucket::LoginAccount, &ada, limit).await, None);
        event(&db, Bucket::LoginAccount, &ada, 90).await;
        assert_eq!(wait(&db, Bucket::LoginAccount, &ada, limit).await, None);
        event(&db, Bucket::LoginAccount, &ada, 30).await;
        // Two in the window: the next is refused until the older of them,
        // 90 s ago, leaves the 100 s window.
        assert_eq!(wait(&db, Bucket::LoginAccount, &ada, limit).await, Some(10));
        // Past the limit (a lowered limit, concurrent attempts), the
        // newest event that keeps the count at the limit decides.
        event(&db, Bucket::LoginAccount, &ada, 20).await;
        assert_eq!(
            wait(&db, Bucket::LoginAccount, &ada, Limit::new(1, 100)).await,
            Some(80)
        );
        // An event older than the window counts for nothing.
        let bob = Subject::account("bob@example.com");
        event(&db, Bucket::LoginAccount, &bob, 101).await;
        event(&db, Bucket::LoginAccount, &bob, 100).await;
        assert_eq!(
            wait(&db, Bucket::LoginAccount, &bob, Limit::new(1, 100)).await,
            None
        );
    }

    #[tokio::test]
    async fn buckets_and_subjects_are_counted_apart() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        let ada = Subject::account("ada@example.com");
        let limit = Limit::new(1, 100);
        event(&db, Bucket::LoginAccount, &ada, 5).await;
        assert!(wait(&db, Bucket::LoginAccount, &ada, limit).await.is_some());
        for other in [
            Bucket::LoginAddress,
            Bucket::Registration,
            Bucket::ResetRequest,
            Bucket::AccountMail,
            Bucket::SignupNotice,
        ] {
            assert_eq!(wait(&db, other, &ada, limit).await, None, "{other:?}");
        }
        let bob = Subject::account("bob@example.com");
        assert_eq!(wait(&db, Bucket::LoginAccount, &bob, limit).await, None);
    }

    #[tokio::test]
    async fn an_endless_window_still_counts_and_never_overflows() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        let ada = Subject::user("u1");
        // `u64::MAX` seconds, as an operator may write: far beyond i64
        // microseconds.
        let limit = Limit::new(1, u64::MAX);
        assert!(micros(limit.window) > 1_000 * 365 * 24 * 3600 * SECOND);
        event(&db, Bucket::AccountMail, &ada, 400 * 24 * 3600).await;
        assert!(wait(&db, Bucket::AccountMail, &ada, limit).await.is_some());
    }

    #[tokio::test]
    async fn events_are_counted_since_the_moment_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        let ada = Subject::account("ada@example.com");
        for ago in [30, 20, 10] {
            event(&db, Bucket::SignupNotice, &ada, ago).await;
        }
        let mut conn = db.pool.acquire().await.unwrap();
        let since = |ago: i64| NOW - ago * SECOND;
        let mut counts = Vec::new();
        for ago in [40, 25, 10] {
            counts.push(
                count_since(&mut conn, Bucket::SignupNotice, &ada, since(ago))
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(counts, [3, 2, 0]);
    }

    async fn events(db: &Db) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM throttle_events")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn pruning_forgets_only_events_no_window_reaches() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        let ada = Subject::account("ada@example.com");
        for ago in [200, 100, 99] {
            event(&db, Bucket::LoginAccount, &ada, ago).await;
        }
        let keep = Duration::from_secs(100);
        assert_eq!(prune(&db.pool, keep, NOW).await.unwrap(), 2);
        assert_eq!(events(&db).await, 1);
        assert_eq!(prune(&db.pool, keep, NOW).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn the_pruning_worker_keeps_what_the_longest_window_reaches() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        let ada = Subject::account("ada@example.com");
        let now = now_micros();
        let mut conn = db.pool.acquire().await.unwrap();
        // Beyond every window, and within the hour of the sign-up notices.
        record(&mut conn, Bucket::LoginAccount, &ada, now - 7200 * SECOND)
            .await
            .unwrap();
        record(&mut conn, Bucket::SignupNotice, &ada, now - 1800 * SECOND)
            .await
            .unwrap();
        drop(conn);
        let limits = Limits {
            login_failures: Limit::new(1, 60),
            registrations: Limit::new(1, 60),
            reset_requests: Limit::new(1, 60),
            account_mails: Limit::new(1, 60),
        };
        let stop = CancellationToken::new();
        let worker = tokio::spawn(prune_until_stopped(db.clone(), limits, stop.clone()));
        // The first pass runs at once; wait for its outcome, not a time.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while events(&db).await > 1 {
            assert!(std::time::Instant::now() < deadline, "nothing pruned");
            tokio::task::yield_now().await;
        }
        stop.cancel();
        worker.await.unwrap();
        let left: Vec<String> = sqlx::query_scalar("SELECT bucket FROM throttle_events")
            .fetch_all(&db.pool)
            .await
            .unwrap();
        assert_eq!(left, [Bucket::SignupNotice.as_str()]);
    }
}
