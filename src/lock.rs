//! [`Lock`]: a distributed lock on one key, as redis-py's `Lock`.

use std::fmt;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::cmd::{Cmd, cmd};
use crate::deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::random_u64;
use crate::script::{Script, ScriptInvocation};
use crate::value::Value;

/// Deletes the key if it still holds our token.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end \
         redis.call('del', KEYS[1]) \
         return 1",
    )
});

/// Adds `ARGV[2]` ms to the expiry (or sets it, when `ARGV[3]` is `1`) if the key still
/// holds our token and has an expiry.
static EXTEND: LazyLock<Script> = LazyLock::new(|| {
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
static REACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end \
         redis.call('pexpire', KEYS[1], ARGV[2]) \
         return 1",
    )
});

/// A random token identifying one holder of a lock.
fn new_token() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

/// The error of a refused lock operation.
fn lock_error(name: &str, what: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::Lock,
        format!("cannot {what} the lock {name:?}: {why}"),
    )
}

/// Default wait between tries while blocking for a lock.
pub const DEFAULT_LOCK_SLEEP: Duration = Duration::from_millis(100);

/// What a lock is and what it holds, with the commands each operation sends and how
/// their replies are judged. [`Lock`] and [`aio::Lock`](crate::aio::Lock) only do the
/// IO, so the two behave the same by construction.
#[derive(Clone, Debug)]
pub(crate) struct LockCore {
    pub(crate) name: String,
    token: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) sleep: Duration,
    pub(crate) blocking: bool,
    pub(crate) blocking_timeout: Option<Duration>,
}

/// One run of [`LockCore::acquire`]'s protocol: the token tried and when to give up.
pub(crate) struct Attempt {
    token: String,
    deadline: Option<Instant>,
}

impl LockCore {
    pub(crate) fn new(name: String) -> LockCore {
        LockCore {
            name,
            token: None,
            timeout: None,
            sleep: DEFAULT_LOCK_SLEEP,
            blocking: true,
            blocking_timeout: None,
        }
    }

    pub(crate) fn is_held(&self) -> bool {
        self.token.is_some()
    }

    /// Starts acquiring: a fresh token and the deadline of the wait.
    pub(crate) fn attempt(&self) -> Attempt {
        Attempt {
            token: new_token(),
            // A timeout too long to count to waits forever.
            deadline: self.blocking_timeout.and_then(deadline::after),
        }
    }

    /// `SET name token NX [PX timeout]`.
    pub(crate) fn acquire_cmd(&self, attempt: &Attempt) -> Cmd {
        let mut set = cmd("SET");
        set.key(&self.name).arg(&attempt.token).arg("NX");
        if let Some(timeout) = self.timeout {
            set.arg("PX").arg(deadline::millis(timeout).max(1));
        }
        set
    }

    /// Takes the reply to [`acquire_cmd`](Self::acquire_cmd): `Some(true)` when the
    /// lock is now held, `Some(false)` when it is time to give up, `None` to sleep for
    /// [`sleep`](Self::sleep) and try again.
    pub(crate) fn acquired(&mut self, attempt: &Attempt, reply: &Value) -> Option<bool> {
        if reply.is_ok() {
            self.token = Some(attempt.token.clone());
            return Some(true);
        }
        let out_of_time = attempt
            .deadline
            .is_some_and(|d| deadline::passes_within(d, self.sleep));
        (!self.blocking || out_of_time).then_some(false)
    }

    /// The script call that releases the lock; the lock counts as released from here on.
    pub(crate) fn release_call(&mut self) -> Result<ScriptInvocation<'static>> {
        let token = self
            .token
            .take()
            .ok_or_else(|| self.error("release", "it is not acquired"))?;
        Ok(RELEASE.key(&self.name).arg(token))
    }

    pub(crate) fn extend_call(
        &self,
        additional: Duration,
        replace_ttl: bool,
    ) -> Result<ScriptInvocation<'static>> {
        let token = self.held("extend")?;
        if self.timeout.is_none() {
            return Err(self.error("extend", "it has no timeout"));
        }
        let replace = if replace_ttl { "1" } else { "0" };
        Ok(EXTEND
            .key(&self.name)
            .arg(token)
            .arg(deadline::millis(additional))
            .arg(replace))
    }

    pub(crate) fn reacquire_call(&self) -> Result<ScriptInvocation<'static>> {
        let token = self.held("reacquire")?;
        let timeout = self
            .timeout
            .ok_or_else(|| self.error("reacquire", "it has no timeout"))?;
        Ok(REACQUIRE
            .key(&self.name)
            .arg(token)
            .arg(deadline::millis(timeout)))
    }

    /// Judges a script's reply: 1 when the token still owned the lock.
    pub(crate) fn owned_reply(&self, done: i64, what: &str) -> Result<()> {
        if done == 1 {
            Ok(())
        } else {
            Err(self.error(
                what,
                "it is no longer owned: it expired, and may be held by another owner",
            ))
        }
    }

    /// `EXISTS name`.
    pub(crate) fn locked_cmd(&self) -> Cmd {
        let mut exists = cmd("EXISTS");
        exists.key(&self.name);
        exists
    }

    /// `GET name`, whose reply says whether the lock is still ours; `None` when this
    /// lock holds nothing.
    pub(crate) fn owned_cmd(&self) -> Option<Cmd> {
        self.token.as_ref()?;
        let mut get = cmd("GET");
        get.key(&self.name);
        Some(get)
    }

    pub(crate) fn is_own_token(&self, current: Option<&str>) -> bool {
        current.is_some() && current == self.token.as_deref()
    }

    fn held(&self, what: &str) -> Result<&str> {
        self.token
            .as_deref()
            .ok_or_else(|| self.error(what, "it is not acquired"))
    }

    fn error(&self, what: &str, why: &str) -> Error {
        lock_error(&self.name, what, why)
    }
}

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
    core: LockCore,
}

impl Lock {
    pub(crate) fn new(client: Client, name: impl Into<String>) -> Lock {
        Lock {
            client,
            core: LockCore::new(name.into()),
        }
    }

    /// How long the lock lives once acquired; `None` lives until released.
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Lock {
        self.core.timeout = timeout;
        self
    }

    /// How long to sleep between tries while waiting for the lock.
    #[must_use]
    pub fn sleep(mut self, sleep: Duration) -> Lock {
        self.core.sleep = sleep;
        self
    }

    /// Whether [`acquire`](Lock::acquire) waits for the lock or tries once.
    #[must_use]
    pub fn blocking(mut self, blocking: bool) -> Lock {
        self.core.blocking = blocking;
        self
    }

    /// How long [`acquire`](Lock::acquire) waits at most; `None` waits forever.
    #[must_use]
    pub fn blocking_timeout(mut self, timeout: Option<Duration>) -> Lock {
        self.core.blocking_timeout = timeout;
        self
    }

    /// The key of the lock.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// Takes the lock; `Ok(false)` when it is held by someone else and waiting is off
    /// or ran out.
    ///
    /// # Errors
    ///
    /// IO errors.
    pub fn acquire(&mut self) -> Result<bool> {
        let attempt = self.core.attempt();
        loop {
            let reply: Value = self
                .core
                .acquire_cmd(&attempt)
                .query(&mut self.client.clone())?;
            if let Some(acquired) = self.core.acquired(&attempt, &reply) {
                return Ok(acquired);
            }
            std::thread::sleep(self.core.sleep);
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
                    self.core.name
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
        let call = self.core.release_call()?;
        self.run_owned(&call, "release")
    }

    /// Adds `additional` to the lock's remaining time, or, with `replace_ttl`, sets the
    /// remaining time to `additional`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Lock`] when the lock is not held, not owned any more, or has no
    /// timeout; IO errors.
    pub fn extend(&mut self, additional: Duration, replace_ttl: bool) -> Result<()> {
        let call = self.core.extend_call(additional, replace_ttl)?;
        self.run_owned(&call, "extend")
    }

    /// Resets the lock's remaining time to its full timeout.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Lock`] when the lock is not held, not owned any more, or has no
    /// timeout; IO errors.
    pub fn reacquire(&mut self) -> Result<()> {
        let call = self.core.reacquire_call()?;
        self.run_owned(&call, "reacquire")
    }

    /// `true` when anyone holds the lock.
    ///
    /// # Errors
    ///
    /// IO errors.
    pub fn locked(&self) -> Result<bool> {
        self.core.locked_cmd().query(&mut self.client.clone())
    }

    /// `true` when this `Lock` holds the lock and it has not expired.
    ///
    /// # Errors
    ///
    /// IO errors.
    pub fn owned(&self) -> Result<bool> {
        let Some(get) = self.core.owned_cmd() else {
            return Ok(false);
        };
        let current: Option<String> = get.query(&mut self.client.clone())?;
        Ok(self.core.is_own_token(current.as_deref()))
    }

    fn run_owned(&self, call: &ScriptInvocation<'_>, what: &str) -> Result<()> {
        let done: i64 = call.invoke(&mut self.client.clone())?;
        self.core.owned_reply(done, what)
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("name", &self.core.name)
            .field("held", &self.core.is_held())
            .field("timeout", &self.core.timeout)
            .field("blocking", &self.core.blocking)
            .field("blocking_timeout", &self.core.blocking_timeout)
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
