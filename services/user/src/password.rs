//! Password hashing with argon2id, off the async runtime threads and with
//! bounded concurrency.
//!
//! The work runs on a few threads of its own rather than tokio's blocking
//! pool, and each of them keeps one argon2 work area (9 MiB) for every
//! hash it computes. Allocated per hash, as argon2 does by default, the
//! blocks stayed resident in the allocator's per-thread arenas (hundreds of
//! megabytes on the blocking pool's many threads) and each new one was
//! zeroed again. The memory of password hashing is now the number of
//! hashing threads times 9 MiB, and no more: even the hash made at start
//! (the dummy below) is made on a hashing thread.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::domain::{NewPassword, Password};

/// One of OWASP's argon2id baselines: 9 MiB, four passes, one lane. OWASP
/// lists it beside 19 MiB with two passes as an equal defence, the same
/// work traded for memory; it halves what each hashing thread holds.
/// Hashes stored with the former 19 MiB setting verify with it.
fn params() -> Params {
    const PARAMS: Params = match Params::new(9_216, 4, 1, None) {
        Ok(p) => p,
        Err(_) => panic!("argon2 parameters out of range"),
    };
    PARAMS
}

/// The least time the hashing of a refused password takes, as the caller
/// sees it. An unknown address is checked against a dummy hash of the
/// current setting, while an account whose hash has a former, costlier
/// setting (19 MiB, until its next login rehashes it) takes longer to
/// refuse: without this floor, the time of a wrong password would tell
/// such an account from no account. Several times the cost of either
/// setting here, and waited out asynchronously, off the hashing threads.
const REFUSAL_TIME: Duration = Duration::from_millis(100);

thread_local! {
    /// The argon2 work area of the thread, kept for its next hash.
    static WORK_AREA: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Computes `argon2` of `password` and `salt` into `out`. Up to the size
/// [`params`] needs, the thread's work area is reused; a stored hash made
/// with more memory (a former setting) gets a work area of its own.
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    let needed = argon2.params().block_count();
    if needed > params().block_count() {
        return argon2.hash_password_into(password, salt, out);
    }
    WORK_AREA.with_borrow_mut(|area| {
        if area.len() < needed {
            area.resize(needed, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut area[..needed])
    })
}

/// A PHC-format argon2id hash of `password` with a fresh salt.
fn hash_new(password: &[u8]) -> anyhow::Result<String> {
    let failed = |e: argon2::password_hash::Error| anyhow::anyhow!("argon2: {e}");
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf).map_err(failed)?;
    let params = params();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(len, |out| {
        compute(&argon2, password, salt_bytes, out).map_err(Into::into)
    })
    .map_err(failed)?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    }
    .to_string())
}

/// Whether `password` matches the PHC-format hash `stored`, computed with
/// the algorithm, version and parameters written in it.
///
/// # Errors
/// When `stored` is not an argon2 hash.
fn matches(password: &[u8], stored: &str) -> anyhow::Result<bool> {
    let corrupt = |e: argon2::password_hash::Error| anyhow::anyhow!("stored hash: {e}");
    let parsed = PasswordHash::new(stored).map_err(corrupt)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        anyhow::bail!("stored hash: no salt or no hash");
    };
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(corrupt)?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| corrupt(e.into()))?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(corrupt)?;
    let argon2 = Argon2::new(algorithm, version, params);
    let mut salt_buf = [0; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(corrupt)?;
    let computed = Output::init_with(expected.len(), |out| {
        compute(&argon2, password, salt_bytes, out).map_err(Into::into)
    })
    .map_err(corrupt)?;
    // `Output` compares in constant time.
    Ok(computed == expected)
}

/// Whether `stored` was made with the current algorithm, version and
/// parameters; a hash that does not parse is not.
pub fn is_current(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let current = params();
    let same = |p: Params| {
        (p.m_cost(), p.t_cost(), p.p_cost())
            == (current.m_cost(), current.t_cost(), current.p_cost())
    };
    parsed.algorithm == Algorithm::Argon2id.ident()
        && parsed.version == Some(Version::V0x13.into())
        && Params::try_from(&parsed).is_ok_and(same)
}

/// Work for the hashing threads.
type Job = Box<dyn FnOnce() + Send>;

/// Hashes and verifies passwords on `permits` threads of its own, at most
/// `permits` at once.
#[derive(Clone, Debug)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// The queue of the hashing threads; they stop when the last clone of
    /// the hasher is dropped.
    jobs: Sender<Job>,
    /// A real hash of a random password, verified against when the user is
    /// unknown, so an unknown address costs the same time as a wrong
    /// password.
    dummy: Arc<str>,
    /// [`REFUSAL_TIME`], longer in a test that must tell it from hashing.
    refusal_time: Duration,
}

impl Hasher {
    /// # Errors
    /// When the dummy hash cannot be made.
    pub fn new(permits: usize) -> anyhow::Result<Self> {
        let permits = permits.max(1);
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..permits {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || work(&queue))?;
        }
        // Made on a hashing thread, in the work area it keeps anyway: made
        // here, the calling thread would keep a work area of its own, for
        // good, to hash one password once.
        let (made, dummy) = channel();
        jobs.send(Box::new(move || {
            let _ = made.send(hash_new(
                SaltString::generate(&mut OsRng).as_str().as_bytes(),
            ));
        }))
        .map_err(|_| anyhow::anyhow!("the hashing threads have stopped"))?;
        let dummy = dummy
            .recv()
            .map_err(|_| anyhow::anyhow!("the dummy hash failed"))??;
        Ok(Self {
            permits: Arc::new(Semaphore::new(permits)),
            jobs,
            dummy: dummy.into(),
            refusal_time: REFUSAL_TIME,
        })
    }

    /// A PHC-format argon2id hash of `password`.
    ///
    /// # Errors
    /// When the blocking pool or argon2 fails.
    pub async fn hash(&self, password: &NewPassword) -> anyhow::Result<String> {
        self.hash_str(password.expose()).await
    }

    /// A hash with the current setting of a password that has just matched
    /// its hash of a former one. Not checked as a new password: it is the
    /// account's password already.
    ///
    /// # Errors
    /// When the hashing threads or argon2 fail.
    pub async fn rehash(&self, password: &Password) -> anyhow::Result<String> {
        self.hash_str(password.expose()).await
    }

    async fn hash_str(&self, password: &str) -> anyhow::Result<String> {
        let password = password.to_owned();
        self.run(move || hash_new(password.as_bytes())).await
    }

    /// Whether `password` matches `hash`; with `None`, verifies against the
    /// dummy hash and answers `false`. A refusal comes no sooner than
    /// [`REFUSAL_TIME`] after its hashing began, whatever the setting of
    /// the hash.
    ///
    /// # Errors
    /// When the blocking pool fails or the stored hash is corrupt.
    pub async fn verify(&self, password: &Password, hash: Option<&str>) -> anyhow::Result<bool> {
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy.to_string(), str::to_owned);
        let password = password.expose().to_owned();
        let (ok, took) = self
            .run(move || {
                let began = Instant::now();
                let ok = matches(password.as_bytes(), &hash)?;
                Ok((ok, began.elapsed()))
            })
            .await?;
        let matched = known && ok;
        if !matched {
            // Measured on the hashing thread, so time spent waiting for one
            // (which does not depend on the account) is not counted.
            tokio::time::sleep(self.refusal_time.saturating_sub(took)).await;
        }
        Ok(matched)
    }

    /// Runs CPU-heavy work (a hash, a strength estimate) on the hashing
    /// threads under the same bound as hashing.
    ///
    /// # Errors
    /// When the hashing threads are gone or `f` panics, or `f` fails.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await?;
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // The caller may have gone away; the result is then unused.
                let _ = done.send(f());
            }))
            .map_err(|_| anyhow::anyhow!("the hashing threads have stopped"))?;
        result
            .await
            .map_err(|_| anyhow::anyhow!("a hashing job failed"))?
    }
}

/// A hashing thread: runs jobs until the queue closes. A job that panics
/// drops its reply (its caller gets an error) and the thread goes on.
fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        // Held only while waiting: the job runs after the lock is released.
        let next = queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recv();
        let Ok(job) = next else {
            return;
        };
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_users_never_match() {
        let hasher = Hasher::new(2).unwrap();
        let new = NewPassword::parse("a long enough secret", "p", &[]).unwrap();
        let hash = hasher.hash(&new).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=9216,t=4,p=1$"));
        let pw = Password::offered("a long enough secret", "p").unwrap();
        assert!(hasher.verify(&pw, Some(&hash)).await.unwrap());
        let wrong = Password::offered("another long secret", "p").unwrap();
        assert!(!hasher.verify(&wrong, Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&pw, None).await.unwrap());

        let again = hasher.rehash(&pw).await.unwrap();
        assert!(is_current(&again));
        assert_ne!(again, hash);
        assert!(hasher.verify(&pw, Some(&again)).await.unwrap());
        assert!(!hasher.verify(&wrong, Some(&again)).await.unwrap());
    }

    #[test]
    fn hashes_agree_with_argon2s_own_hashing_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let stock = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        let ours = hash_new(b"correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(stock.verify_password(b"correct horse", &parsed).is_ok());
        assert!(stock.verify_password(b"correct horsE", &parsed).is_err());

        let salt = SaltString::generate(&mut OsRng);
        let theirs = stock
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        assert!(matches(b"battery staple", &theirs).unwrap());
        assert!(!matches(b"battery stapler", &theirs).unwrap());
    }

    #[test]
    fn a_hash_stored_with_other_parameters_is_checked_with_them() {
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        // The former default, one smaller and one larger.
        for (m, t) in [(19_456, 2), (8_192, 3), (32_768, 1)] {
            let former = Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(m, t, 1, None).unwrap(),
            );
            let stored = former
                .hash_password(b"old secret", &salt)
                .unwrap()
                .to_string();
            assert!(matches(b"old secret", &stored).unwrap(), "m={m} t={t}");
            assert!(!matches(b"new secret", &stored).unwrap(), "m={m} t={t}");
        }
        // The larger former setting did not grow the kept work area.
        let kept = WORK_AREA.with_borrow(Vec::len);
        assert!(kept <= params().block_count(), "{kept} blocks kept");
    }

    #[tokio::test]
    async fn a_refusal_takes_the_refusal_time_whatever_the_hash() {
        use argon2::password_hash::PasswordHasher;
        // Long enough that no hashing of a debug build reaches it.
        let floor = Duration::from_secs(3);
        let hasher = Hasher {
            refusal_time: floor,
            ..Hasher::new(2).unwrap()
        };
        let salt = SaltString::generate(&mut OsRng);
        let former = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
            .hash_password(b"a long enough secret", &salt)
            .unwrap()
            .to_string();
        let wrong = Password::offered("another long secret", "p").unwrap();
        for stored in [None, Some(former.as_str()), Some(&*hasher.dummy)] {
            let began = tokio::time::Instant::now();
            assert!(!hasher.verify(&wrong, stored).await.unwrap());
            assert!(began.elapsed() >= floor, "{stored:?}");
        }
        let right = Password::offered("a long enough secret", "p").unwrap();
        assert!(hasher.verify(&right, Some(&former)).await.unwrap());
    }

    #[test]
    fn making_a_hasher_leaves_no_work_area_on_the_calling_thread() {
        let hasher = Hasher::new(1).unwrap();
        assert!(hasher.dummy.starts_with("$argon2id$"));
        assert_eq!(WORK_AREA.with_borrow(Vec::len), 0);
    }

    #[test]
    fn only_a_hash_of_the_current_setting_is_current() {
        let ours = hash_new(b"secret").unwrap();
        assert!(is_current(&ours));
        let salt = SaltString::generate(&mut OsRng);
        for (algorithm, m, t) in [
            (Algorithm::Argon2id, 19_456, 2),
            (Algorithm::Argon2id, 9_216, 3),
            (Algorithm::Argon2i, 9_216, 4),
        ] {
            use argon2::password_hash::PasswordHasher;
            let other = Argon2::new(
                algorithm,
                Version::V0x13,
                Params::new(m, t, 1, None).unwrap(),
            );
            let stored = other.hash_password(b"secret", &salt).unwrap().to_string();
            assert!(!is_current(&stored), "{stored}");
        }
        assert!(!is_current("not a hash"));
    }

    #[test]
    fn a_corrupt_stored_hash_is_an_error_not_a_match() {
        assert!(matches(b"x", "not a hash").is_err());
        assert!(matches(b"x", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ").is_err());
    }

    #[test]
    fn a_thread_reuses_its_work_area() {
        hash_new(b"first").unwrap();
        let area = WORK_AREA.with_borrow(|a| (a.as_ptr(), a.len()));
        hash_new(b"second").unwrap();
        assert_eq!(WORK_AREA.with_borrow(|a| (a.as_ptr(), a.len())), area);
        assert_eq!(area.1, params().block_count());
    }

    #[tokio::test]
    async fn work_runs_on_the_hashers_own_threads_and_survives_a_panic() {
        let hasher = Hasher::new(2).unwrap();
        let name = hasher
            .run(|| Ok(std::thread::current().name().map(str::to_owned)))
            .await
            .unwrap();
        assert!(name.is_some_and(|n| n.starts_with("argon2-")));
        let failed = hasher.run::<()>(|| panic!("a broken job")).await;
        assert!(failed.is_err());
        for _ in 0..3 {
            assert_eq!(hasher.run(|| Ok(7)).await.unwrap(), 7);
        }
    }
}
