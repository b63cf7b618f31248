//! [`Lock`]: a distributed lock on one key, as redis-py's `Lock`.

use std::fmt;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::cmd::cmd;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::random_u64;
use crate::script::Script;
use crate::value::Value;

/// Deletes the key if it still holds our token.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end \
         redis.call('del', KEYS[1]) \
         return 1",
    )
});

/// Adds `ARGV[2]` ms to the expiry (or sets it, when `ARGV[3]` is `1`) if the key still
/// holds our token and has an expiry.
pub(crate) static EXTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end \
         local ttl = redis.call('pttl', KEYS[1]) \
         if ttl < 0 then return 0 end \
         local new_ttl = tonumber(ARGV[2]) \
         if ARGV[3] == '0' then new_ttl = new_ttl + ttl end \
         redis.call('pexpire', KEYS[1], new_ttl) \
         return 1",
    )
});

/// Resets the expiry to `ARGV[2]` ms if the key still holds our token.
pub(crate) static REACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end \
         redis.call('pexpire', KEYS[1], ARGV[2]) \
         return 1",
    )
});

/// A random token identifying one holder of a lock.
pub(crate) fn new_token() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

/// The error of a refused lock operation.
pub(crate) fn lock_error(name: &str, what: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::Lock,
        format!("cannot {what} the lock {name:?}: {why}"),
    )
}

/// Default wait between tries while blocking for a lock.
pub const DEFAULT_LOCK_SLEEP: Duration = Duration::from_millis(100);

/// A lock on one key, shared between processes through the server.
///
/// Acquiring sets the key to a random token with `SET NX` (and `PX` when the lock has a
/// timeout, so a holder that dies cannot keep it forever). Releasing, extending and
/// reacquiring run Lua scripts that first check the token, so a holder whose lock
/// expired and went to someone else cannot touch the new holder's lock: those calls fail
/// with an [`ErrorKind::Lock`] error instead.
///
/// Options, as in redis-py: `timeout` (expiry of the lock; none by default), `sleep`
/// (wait between tries while blocking), `blocking` (wait for the lock; on by default)
/// and `blocking_timeout` (how long to wait; forever by default).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// # fn main() -> respec::Result<()> {
/// let client = respec::Client::open("redis://127.0.0.1/")?;
/// let lock = client
///     .lock("jobs:nightly")
///     .timeout(Some(Duration::from_secs(30)))
///     .blocking_timeout(Some(Duration::from_secs(5)));
/// let guard = lock.acquire_guard()?; // released when dropped
/// // ... the critical section ...
/// guard.release()?; // or explicitly, to see the error if the lock expired meanwhile
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Lock {
    client: Client,
    name: String,
    token: Option<String>,
    timeout: Option<Duration>,
    sleep: Duration,
    blocking: bool,
    blocking_timeout: Option<Duration>,
}

impl Lock {
    pub(crate) fn new(client: Client, name: impl Into<String>) -> Lock {
        Lock {
            client,
            name: name.into(),
            token: None,
            timeout: None,
            sleep: DEFAULT_LOCK_SLEEP,
            blocking: true,
            blocking_timeout: None,
        }
    }

    /// How long the lock lives once acquired; `None` lives until released.
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Lock {
        self.timeout = timeout;
        self
    }

    /// How long to sleep between tries while waiting for the lock.
    #[must_use]
    pub fn sleep(mut self, sleep: Duration) -> Lock {
        self.sleep = sleep;
        self
    }

    /// Whether [`acquire`](Lock::acquire) waits for the lock or tries once.
    #[must_use]
    pub fn blocking(mut self, blocking: bool) -> Lock {
        self.blocking = blocking;
        self
    }

    /// How long [`acquire`](Lock::acquire) waits at most; `None` waits forever.
    #[must_use]
    pub fn blocking_timeout(mut self, timeout: Option<Duration>) -> Lock {
        self.blocking_timeout = timeout;
        self
    }

    /// The key of the lock.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes the lock; `Ok(false)` when it is held by someone else and waiting is off
    /// or ran out.
    ///
    /// # Errors
    ///
    /// IO errors.
    pub fn acquire(&mut self) -> Result<bool> {
        let token = new_token();
        let deadline = self.blocking_timeout.map(|t| Instant::now() + t);
        loop {
            let mut set = cmd("SET");
            set.key(&self.name).arg(&token).arg("NX");
            if let Some(timeout) = self.timeout {
                set.arg("PX").arg(timeout.as_millis().max(1) as u64);
            }
            if set.query::<Value>(&mut self.client.clone())?.is_ok() {
                self.token = Some(token);
                return Ok(true);
            }
            let out_of_time = deadline.is_some_and(|d| Instant::now() + self.sleep > d);
            if !self.blocking || out_of_time {
                return Ok(false);
            }
            std::thread::sleep(self.sleep);
        }
    }

    /// Takes the lock and returns a guard that releases it when dropped.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Lock`] when the lock could not be had (not blocking, or the blocking
    /// timeout ran out), and IO errors.
    pub fn acquire_guard(mut self) -> Result<LockGuard> {
        if self.acquire()? {
            Ok(LockGuard { lock: Some(self) })
        } else {
            Err(Error::new(
                ErrorKind::Lock,
                format!(
                    "could not acquire the lock {:?}: it is held by another owner",
                    self.name
                ),
            ))
        }
    }

    /// Releases the lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Lock`] when this `Lock` does not hold it, or no longer owns it
    /// because it expired (and perhaps went to someone else); IO errors.
    pub fn release(&mut self) -> Result<()> {
        let token = self
            .token
            .take()
            .ok_or_else(|| self.error("release", "it is not acquired"))?;
        self.run_owned(&RELEASE, &token, &[], "release")
    }

    /// Adds `additional` to the lock's remaining time, or, with `replace_ttl`, sets the
    /// remaining time to `additional`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Lock`] when the lock is not held, not owned any more, or has no
    /// timeout; IO errors.
    pub fn extend(&mut self, additional: Duration, replace_ttl: bool) -> Result<()> {
        let token = self
            .token
            .clone()
            .ok_or_else(|| self.error("extend", "it is not acquired"))?;
        if self.timeout.is_none() {
            return Err(self.error("extend", "it has no timeout"));
        }
        let millis = additional.as_millis().to_string();
        let replace = if replace_ttl { "1" } else { "0" };
        self.run_owned(&EXTEND, &token, &[&millis, replace], "extend")
    }

    /// Resets the lock's remaining time to its full timeout.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Lock`] when the lock is not held, not owned any more, or has no
    /// timeout; IO errors.
    pub fn reacquire(&mut self) -> Result<()> {
        let token = self
            .token
            .clone()
            .ok_or_else(|| self.error("reacquire", "it is not acquired"))?;
        let timeout = self
            .timeout
            .ok_or_else(|| self.error("reacquire", "it has no timeout"))?;
        let millis = timeout.as_millis().to_string();
        self.run_owned(&REACQUIRE, &token, &[&millis], "reacquire")
    }

    /// `true` when anyone holds the lock.
    ///
    /// # Errors
    ///
    /// IO errors.
    pub fn locked(&self) -> Result<bool> {
        cmd("EXISTS")
            .key(&self.name)
            .query(&mut self.client.clone())
    }

    /// `true` when this `Lock` holds the lock and it has not expired.
    ///
    /// # Errors
    ///
    /// IO errors.
    pub fn owned(&self) -> Result<bool> {
        let Some(token) = &self.token else {
            return Ok(false);
        };
        let current: Option<String> = cmd("GET").key(&self.name).query(&mut self.client.clone())?;
        Ok(current.as_deref() == Some(token.as_str()))
    }

    fn run_owned(&self, script: &Script, token: &str, args: &[&str], what: &str) -> Result<()> {
        let done: i64 = script
            .key(&self.name)
            .arg(token)
            .arg(args)
            .invoke(&mut self.client.clone())?;
        if done == 1 {
            Ok(())
        } else {
            Err(self.error(
                what,
                "it is no longer owned: it expired, and may be held by another owner",
            ))
        }
    }

    fn error(&self, what: &str, why: &str) -> Error {
        lock_error(&self.name, what, why)
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("name", &self.name)
            .field("held", &self.token.is_some())
            .field("timeout", &self.timeout)
            .field("blocking", &self.blocking)
            .field("blocking_timeout", &self.blocking_timeout)
            .finish_non_exhaustive()
    }
}

/// A held [`Lock`], released when dropped (an error then is ignored: call
/// [`release`](LockGuard::release) to see it).
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard {
    lock: Option<Lock>,
}

impl LockGuard {
    /// Releases the lock now.
    ///
    /// # Errors
    ///
    /// As [`Lock::release`].
    pub fn release(mut self) -> Result<()> {
        match self.lock.take() {
            Some(mut lock) => lock.release(),
            None => Ok(()),
        }
    }

    /// As [`Lock::extend`].
    ///
    /// # Errors
    ///
    /// As [`Lock::extend`].
    pub fn extend(&mut self, additional: Duration, replace_ttl: bool) -> Result<()> {
        match &mut self.lock {
            Some(lock) => lock.extend(additional, replace_ttl),
            None => Ok(()),
        }
    }

    /// As [`Lock::owned`].
    ///
    /// # Errors
    ///
    /// As [`Lock::owned`].
    pub fn owned(&self) -> Result<bool> {
        self.lock.as_ref().map_or(Ok(false), Lock::owned)
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(mut lock) = self.lock.take() {
            let _ = lock.release();
        }
    }
}
