//! The async [`Lock`]: [`LockCore`]'s commands over the async seam.

use std::fmt;
use std::time::Duration;

use super::LockCore;
use crate::error::Result;
use crate::script::ScriptInvocation;
use crate::seam::AsyncConnectionLike;
use crate::value::Value;

/// The async [`Lock`](crate::Lock): the same lock, options, scripts and errors, on any
/// async connection that can be cloned (a
/// [`MultiplexedConnection`](crate::aio::MultiplexedConnection) or a
/// [`ConnectionManager`](crate::aio::ConnectionManager)).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// # async fn run() -> respec::Result<()> {
/// let client = respec::Client::open("redis://127.0.0.1/")?;
/// let con = client.get_multiplexed_async_connection().await?;
/// let lock = respec::aio::Lock::new(con, "jobs:nightly").timeout(Some(Duration::from_secs(30)));
/// let guard = lock.acquire_guard().await?;
/// // ... the critical section ...
/// guard.release().await?;
/// # Ok(())
/// # }
/// # let _ = run;
/// ```
#[derive(Clone)]
pub struct Lock<C> {
    con: C,
    core: LockCore,
}

impl<C: AsyncConnectionLike + Clone + Send + Sync> Lock<C> {
    lock_options!();

    /// Takes the lock; `Ok(false)` when it is held by someone else and waiting is off
    /// or ran out.
    ///
    /// # Errors
    ///
    /// IO errors.
    pub async fn acquire(&mut self) -> Result<bool> {
        let attempt = self.core.attempt();
        loop {
            let reply: Value = self
                .core
                .acquire_cmd(&attempt)
                .query_async(&mut self.con)
                .await?;
            if let Some(acquired) = self.core.acquired(&attempt, &reply) {
                return Ok(acquired);
            }
            tokio::time::sleep(self.core.sleep).await;
        }
    }

    /// Takes the lock and returns a guard that releases it when dropped.
    ///
    /// # Errors
    ///
    /// As [`Lock::acquire_guard`](crate::Lock::acquire_guard).
    pub async fn acquire_guard(mut self) -> Result<LockGuard<C>>
    where
        C: 'static,
    {
        if self.acquire().await? {
            Ok(LockGuard { lock: Some(self) })
        } else {
            Err(self.core.not_acquired())
        }
    }

    /// Releases the lock.
    ///
    /// # Errors
    ///
    /// As [`Lock::release`](crate::Lock::release).
    pub async fn release(&mut self) -> Result<()> {
        let call = self.core.release_call()?;
        self.run_owned(&call, "release").await
    }

    /// Adds `additional` to the lock's remaining time, or, with `replace_ttl`, sets the
    /// remaining time to `additional`.
    ///
    /// # Errors
    ///
    /// As [`Lock::extend`](crate::Lock::extend).
    pub async fn extend(&mut self, additional: Duration, replace_ttl: bool) -> Result<()> {
        let call = self.core.extend_call(additional, replace_ttl)?;
        self.run_owned(&call, "extend").await
    }

    /// Resets the lock's remaining time to its full timeout.
    ///
    /// # Errors
    ///
    /// As [`Lock::reacquire`](crate::Lock::reacquire).
    pub async fn reacquire(&mut self) -> Result<()> {
        let call = self.core.reacquire_call()?;
        self.run_owned(&call, "reacquire").await
    }

    /// `true` when anyone holds the lock.
    ///
    /// # Errors
    ///
    /// IO errors.
    pub async fn locked(&self) -> Result<bool> {
        self.core
            .locked_cmd()
            .query_async(&mut self.con.clone())
            .await
    }

    /// `true` when this `Lock` holds the lock and it has not expired.
    ///
    /// # Errors
    ///
    /// IO errors.
    pub async fn owned(&self) -> Result<bool> {
        let Some(get) = self.core.owned_cmd() else {
            return Ok(false);
        };
        let current: Option<String> = get.query_async(&mut self.con.clone()).await?;
        Ok(self.core.is_own_token(current.as_deref()))
    }

    async fn run_owned(&mut self, call: &ScriptInvocation<'_>, what: &str) -> Result<()> {
        let done: i64 = call.invoke_async(&mut self.con).await?;
        self.core.owned_reply(done, what)
    }
}

impl<C> fmt::Debug for Lock<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_as("aio::Lock", f)
    }
}

/// A held [`Lock`], released when dropped: a drop cannot wait, so the release is
/// spawned on the current tokio runtime (and skipped outside one, leaving the lock to
/// its timeout); an error then is ignored. Call [`release`](LockGuard::release) to wait
/// for the release and see its error.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<C: AsyncConnectionLike + Clone + Send + Sync + 'static> {
    lock: Option<Lock<C>>,
}

impl<C: AsyncConnectionLike + Clone + Send + Sync + 'static> LockGuard<C> {
    /// Releases the lock now.
    ///
    /// # Errors
    ///
    /// As [`Lock::release`].
    pub async fn release(mut self) -> Result<()> {
        match self.lock.take() {
            Some(mut lock) => lock.release().await,
            None => Ok(()),
        }
    }

    /// As [`Lock::extend`].
    ///
    /// # Errors
    ///
    /// As [`Lock::extend`].
    pub async fn extend(&mut self, additional: Duration, replace_ttl: bool) -> Result<()> {
        match &mut self.lock {
            Some(lock) => lock.extend(additional, replace_ttl).await,
            None => Ok(()),
        }
    }

    /// As [`Lock::owned`].
    ///
    /// # Errors
    ///
    /// As [`Lock::owned`].
    pub async fn owned(&self) -> Result<bool> {
        match &self.lock {
            Some(lock) => lock.owned().await,
            None => Ok(false),
        }
    }
}

impl<C: AsyncConnectionLike + Clone + Send + Sync + 'static> Drop for LockGuard<C> {
    fn drop(&mut self) {
        if let Some(mut lock) = self.lock.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = lock.release().await;
            });
        }
    }
}

impl<C: AsyncConnectionLike + Clone + Send + Sync + 'static> fmt::Debug for LockGuard<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("aio::LockGuard")
            .field("lock", &self.lock)
            .finish()
    }
}
