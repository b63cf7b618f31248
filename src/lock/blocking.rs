//! The blocking [`Lock`]: [`LockCore`]'s commands over the sync seam.

use std::fmt;
use std::time::Duration;

use super::LockCore;
use crate::client::Client;
use crate::error::Result;
use crate::script::ScriptInvocation;
use crate::seam::ConnectionLike;
use crate::value::Value;

/// A lock on one key, shared between processes through the server.
///
/// Acquiring sets the key to a random token with `SET NX` (and `PX` when the lock has a
/// timeout, so a holder that dies cannot keep it forever). Releasing, extending and
/// reacquiring run Lua scripts that first check the token, so a holder whose lock
/// expired and went to someone else cannot touch the new holder's lock: those calls fail
/// with an [`ErrorKind::Lock`](crate::ErrorKind::Lock) error instead.
///
/// Options, as in redis-py: `timeout` (expiry of the lock; none by default), `sleep`
/// (wait between tries while blocking), `blocking` (wait for the lock; on by default)
/// and `blocking_timeout` (how long to wait; forever by default).
///
/// The lock works through any handle on the sync seam that can be cloned: a
/// [`Client`] (what [`Client::lock`] uses), its [`retrying`](Client::retrying) view, or
/// a backend of one's own. [`aio::Lock`](crate::aio::Lock) is the same lock on the async
/// seam.
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
pub struct Lock<C = Client> {
    con: C,
    core: LockCore,
}

impl<C: ConnectionLike + Clone> Lock<C> {
    lock_options!();

    /// Takes the lock; `Ok(false)` when it is held by someone else and waiting is off
    /// or ran out.
    ///
    /// # Errors
    ///
    /// IO errors.
    pub fn acquire(&mut self) -> Result<bool> {
        let attempt = self.core.attempt();
        loop {
            let reply: Value = self.core.acquire_cmd(&attempt).query(&mut self.con)?;
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
    /// [`ErrorKind::Lock`](crate::ErrorKind::Lock) when the lock could not be had (not
    /// blocking, or the blocking timeout ran out), and IO errors.
    pub fn acquire_guard(mut self) -> Result<LockGuard<C>> {
        if self.acquire()? {
            Ok(LockGuard { lock: Some(self) })
        } else {
            Err(self.core.not_acquired())
        }
    }

    /// Releases the lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Lock`](crate::ErrorKind::Lock) when this `Lock` does not hold it, or
    /// no longer owns it because it expired (and perhaps went to someone else); IO
    /// errors.
    pub fn release(&mut self) -> Result<()> {
        let call = self.core.release_call()?;
        self.run_owned(&call, "release")
    }

    /// Adds `additional` to the lock's remaining time, or, with `replace_ttl`, sets the
    /// remaining time to `additional`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Lock`](crate::ErrorKind::Lock) when the lock is not held, not owned
    /// any more, or has no timeout; IO errors.
    pub fn extend(&mut self, additional: Duration, replace_ttl: bool) -> Result<()> {
        let call = self.core.extend_call(additional, replace_ttl)?;
        self.run_owned(&call, "extend")
    }

    /// Resets the lock's remaining time to its full timeout.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Lock`](crate::ErrorKind::Lock) when the lock is not held, not owned
    /// any more, or has no timeout; IO errors.
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
        self.core.locked_cmd().query(&mut self.con.clone())
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
        let current: Option<String> = get.query(&mut self.con.clone())?;
        Ok(self.core.is_own_token(current.as_deref()))
    }

    fn run_owned(&mut self, call: &ScriptInvocation<'_>, what: &str) -> Result<()> {
        let done: i64 = call.invoke(&mut self.con)?;
        self.core.owned_reply(done, what)
    }
}

impl<C> fmt::Debug for Lock<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_as("Lock", f)
    }
}

/// A held [`Lock`], released when dropped (an error then is ignored: call
/// [`release`](LockGuard::release) to see it).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<C: ConnectionLike + Clone = Client> {
    lock: Option<Lock<C>>,
}

impl<C: ConnectionLike + Clone> LockGuard<C> {
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

impl<C: ConnectionLike + Clone> Drop for LockGuard<C> {
    fn drop(&mut self) {
        if let Some(mut lock) = self.lock.take() {
            let _ = lock.release();
        }
    }
}

impl<C: ConnectionLike + Clone> fmt::Debug for LockGuard<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("lock", &self.lock)
            .finish()
    }
}

impl Client {
    /// A distributed lock on the key `name`; see [`Lock`] for its options.
    #[must_use]
    pub fn lock(&self, name: impl Into<String>) -> Lock<Client> {
        Lock::new(self.clone(), name)
    }
}
