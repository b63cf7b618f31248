//! The async toolkit on any async connection: scan streams and the lock.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;

use super::stream::unfold;
use crate::cmd::Cmd;
use crate::commands::{self, HscanOptions, ScanOptions, SscanOptions, ZscanOptions};
use crate::error::{Error, Result};
use crate::lock::LockCore;
use crate::script::ScriptInvocation;
use crate::seam::AsyncConnectionLike;
use crate::types::{FromRedisValue, ToRedisArgs};
use crate::value::Value;

/// The scan iterators as `Stream`s, for every async connection; see
/// [`ScanCommands`](crate::ScanCommands) for what they yield.
pub trait AsyncScanCommands: AsyncConnectionLike {
    /// The keys of the database, with `SCAN`'s MATCH, COUNT and TYPE options.
    fn scan_stream<T: FromRedisValue + Send + 'static>(
        &mut self,
        options: ScanOptions,
    ) -> impl Stream<Item = Result<T>> + Send + '_ {
        scan(self, move |cursor| {
            commands::scan_options(cursor, options.clone())
        })
    }

    /// The field/value pairs of a hash.
    fn hscan_stream<F: FromRedisValue + Send + 'static, V: FromRedisValue + Send + 'static>(
        &mut self,
        key: impl ToRedisArgs,
        options: HscanOptions,
    ) -> impl Stream<Item = Result<(F, V)>> + Send + '_ {
        let key = key_args(&key);
        scan(self, move |cursor| {
            commands::hscan_options(&key, cursor, options.clone())
        })
    }

    /// The members of a set.
    fn sscan_stream<T: FromRedisValue + Send + 'static>(
        &mut self,
        key: impl ToRedisArgs,
        options: SscanOptions,
    ) -> impl Stream<Item = Result<T>> + Send + '_ {
        let key = key_args(&key);
        scan(self, move |cursor| {
            commands::sscan_options(&key, cursor, options.clone())
        })
    }

    /// The members of a sorted set with their scores.
    fn zscan_stream<T: FromRedisValue + Send + 'static>(
        &mut self,
        key: impl ToRedisArgs,
        options: ZscanOptions,
    ) -> impl Stream<Item = Result<(T, f64)>> + Send + '_ {
        let key = key_args(&key);
        scan(self, move |cursor| {
            commands::zscan_options(&key, cursor, options.clone())
        })
    }
}

impl<C: AsyncConnectionLike + ?Sized> AsyncScanCommands for C {}

fn key_args(key: &impl ToRedisArgs) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    key.write_redis_args(&mut args);
    args
}

/// Where a scan stream stands.
struct ScanState<'a, C: ?Sized, T, M> {
    con: &'a mut C,
    make: M,
    /// The cursor to ask with next; `None` once done.
    cursor: Option<Bytes>,
    page: std::vec::IntoIter<T>,
}

fn scan<'a, C, T, M>(con: &'a mut C, make: M) -> impl Stream<Item = Result<T>> + Send + 'a
where
    C: AsyncConnectionLike + ?Sized,
    T: FromRedisValue + Send + 'static,
    M: Fn(&[u8]) -> Cmd + Send + Sync + 'a,
{
    let state = ScanState {
        con,
        make,
        cursor: Some(Bytes::from_static(b"0")),
        page: Vec::new().into_iter(),
    };
    unfold(state, |mut state: ScanState<'a, C, T, M>| async move {
        loop {
            if let Some(item) = state.page.next() {
                return Some((Ok(item), state));
            }
            let cursor = state.cursor.take()?;
            let page = async {
                let reply = state.con.req_command(&(state.make)(&cursor)).await?;
                let (next, items): (Bytes, Value) = FromRedisValue::from_redis_value(reply)?;
                Ok::<_, Error>((Vec::<T>::from_redis_value(items)?, next))
            };
            match page.await {
                Ok((items, next)) => {
                    state.page = items.into_iter();
                    state.cursor = (next.as_ref() != b"0").then_some(next);
                }
                Err(e) => return Some((Err(e), state)),
            }
        }
    })
}

/// The async [`Lock`](crate::Lock): the same lock, scripts and errors, on any async
/// connection that can be cloned (a [`MultiplexedConnection`](super::MultiplexedConnection)
/// or a [`ConnectionManager`](super::ConnectionManager)).
#[derive(Clone)]
pub struct Lock<C> {
    con: C,
    core: LockCore,
}

impl<C: AsyncConnectionLike + Clone + Send + Sync> Lock<C> {
    /// A lock on the key `name`, through `con`.
    pub fn new(con: C, name: impl Into<String>) -> Lock<C> {
        Lock {
            con,
            core: LockCore::new(name.into()),
        }
    }

    /// How long the lock lives once acquired; `None` lives until released.
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Lock<C> {
        self.core.timeout = timeout;
        self
    }

    /// How long to sleep between tries while waiting.
    #[must_use]
    pub fn sleep(mut self, sleep: Duration) -> Lock<C> {
        self.core.sleep = sleep;
        self
    }

    /// Whether [`acquire`](Lock::acquire) waits or tries once.
    #[must_use]
    pub fn blocking(mut self, blocking: bool) -> Lock<C> {
        self.core.blocking = blocking;
        self
    }

    /// How long [`acquire`](Lock::acquire) waits at most; `None` waits forever.
    #[must_use]
    pub fn blocking_timeout(mut self, timeout: Option<Duration>) -> Lock<C> {
        self.core.blocking_timeout = timeout;
        self
    }

    /// Takes the lock; `Ok(false)` when waiting is off or ran out.
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

    /// Releases the lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Lock`](crate::ErrorKind::Lock) when it is not held or no longer owned; IO errors.
    pub async fn release(&mut self) -> Result<()> {
        let call = self.core.release_call()?;
        self.run_owned(&call, "release").await
    }

    /// Adds `additional` to the remaining time, or sets it with `replace_ttl`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Lock`](crate::ErrorKind::Lock) when the lock is not held, not owned, or has no timeout.
    pub async fn extend(&mut self, additional: Duration, replace_ttl: bool) -> Result<()> {
        let call = self.core.extend_call(additional, replace_ttl)?;
        self.run_owned(&call, "extend").await
    }

    /// Resets the remaining time to the full timeout.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Lock`](crate::ErrorKind::Lock) when the lock is not held, not owned, or has no timeout.
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

    /// `true` when this lock holds it and it has not expired.
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
        f.debug_struct("aio::Lock")
            .field("name", &self.core.name)
            .field("held", &self.core.is_held())
            .finish_non_exhaustive()
    }
}
