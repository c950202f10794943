//! Password hashing with argon2id, off the async runtime threads and with
//! bounded concurrency.
//!
//! The work runs on a few threads of its own rather than tokio's blocking
//! pool. Each hash takes a 19 MiB block; the allocator keeps a freed block
//! in the arena of the thread that used it, so hashes spread over the
//! blocking pool's many threads left hundreds of megabytes resident. On a
//! fixed set of threads the same few blocks are reused.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::domain::{NewPassword, Password};

/// OWASP's argon2id baseline: 19 MiB, two passes, one lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
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
}

impl Hasher {
    /// # Errors
    /// When the dummy hash cannot be made.
    pub fn new(permits: usize) -> anyhow::Result<Self> {
        let salt = SaltString::generate(&mut OsRng);
        let dummy = argon2()
            .hash_password(SaltString::generate(&mut OsRng).as_str().as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string();
        let permits = permits.max(1);
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..permits {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || work(&queue))?;
        }
        Ok(Self {
            permits: Arc::new(Semaphore::new(permits)),
            jobs,
            dummy: dummy.into(),
        })
    }

    /// A PHC-format argon2id hash of `password`.
    ///
    /// # Errors
    /// When the blocking pool or argon2 fails.
    pub async fn hash(&self, password: &NewPassword) -> anyhow::Result<String> {
        let password = password.expose().to_owned();
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2: {e}"))
        })
        .await
    }

    /// Whether `password` matches `hash`; with `None`, verifies against the
    /// dummy hash and answers `false`.
    ///
    /// # Errors
    /// When the blocking pool fails or the stored hash is corrupt.
    pub async fn verify(&self, password: &Password, hash: Option<&str>) -> anyhow::Result<bool> {
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy.to_string(), str::to_owned);
        let password = password.expose().to_owned();
        let ok = self
            .run(move || {
                let parsed =
                    PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
                Ok(argon2()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        Ok(known && ok)
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
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let pw = Password::offered("a long enough secret", "p").unwrap();
        assert!(hasher.verify(&pw, Some(&hash)).await.unwrap());
        let wrong = Password::offered("another long secret", "p").unwrap();
        assert!(!hasher.verify(&wrong, Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&pw, None).await.unwrap());
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
