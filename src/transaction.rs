//! Optimistic transactions: `WATCH`, read, queue, `EXEC`, and again on a conflict.

use std::time::Duration;

use crate::cmd::{Args, cmd};
use crate::error::{ErrorKind, Result};
use crate::pipeline::{Pipeline, pipe};
#[cfg(feature = "tokio")]
use crate::seam::AsyncConnectionLike;
use crate::seam::ConnectionLike;
use crate::types::{FromRedisValue, ToRedisArgs};

/// Runs `func` as an optimistic transaction on `con`, watching `keys`; see
/// [`Transaction`]. Returns `EXEC`'s replies as `T`.
///
/// # Examples
///
/// ```no_run
/// use respec::Commands;
///
/// # fn main() -> respec::Result<()> {
/// let client = respec::Client::open("redis://127.0.0.1/")?;
/// let mut con = client.get_connection()?;
/// // Double a counter, safely against concurrent writers.
/// let (doubled,): (i64,) = respec::transaction(&mut con, "counter", |con, pipe| {
///     let n: i64 = con.get::<Option<i64>>("counter")?.unwrap_or(1);
///     pipe.set("counter", n * 2).ignore().get("counter");
///     Ok(())
/// })?;
/// println!("doubled to {doubled}");
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// IO errors, the closure's error, or an error from `EXEC`.
pub fn transaction<C, T, F>(con: &mut C, keys: impl ToRedisArgs, func: F) -> Result<T>
where
    C: ConnectionLike + ?Sized,
    T: FromRedisValue,
    F: FnMut(&mut C, &mut Pipeline) -> Result<()>,
{
    Transaction::new(keys).run(con, func)
}

/// The async twin of [`transaction`].
///
/// # Errors
///
/// As [`transaction`].
#[cfg(feature = "tokio")]
pub async fn transaction_async<C, T, F>(con: &mut C, keys: impl ToRedisArgs, func: F) -> Result<T>
where
    C: AsyncConnectionLike + ?Sized,
    T: FromRedisValue,
    F: AsyncFnMut(&mut C, &mut Pipeline) -> Result<()>,
{
    Transaction::new(keys).run_async(con, func).await
}

/// An optimistic transaction, as redis-py's `transaction(func, *watches)`.
///
/// Each attempt sends `WATCH` with the keys, then calls the closure with the connection
/// and an atomic [`Pipeline`]: the closure reads what it needs through the connection
/// and queues its writes in the pipeline. The pipeline then runs as `MULTI`/`EXEC`. When
/// a watched key changed in between, `EXEC` discards the transaction and the whole
/// attempt, closure included, starts again (after the retry delay, if set). An error
/// from the closure sends `UNWATCH` and is returned.
///
/// Everything runs on the one connection given, which must not be shared meanwhile:
/// [`Client::transaction`](crate::Client::transaction) checks one out of the pool for
/// the whole span.
#[derive(Debug, Clone, Default)]
pub struct Transaction {
    keys: Args,
    retry_delay: Option<Duration>,
    max_attempts: Option<u32>,
}

impl Transaction {
    /// A transaction watching `keys`.
    #[must_use]
    pub fn new(keys: impl ToRedisArgs) -> Transaction {
        Transaction {
            keys: Args::keys(keys),
            ..Transaction::default()
        }
    }

    /// Waits this long before trying again after a conflict.
    #[must_use]
    pub fn retry_delay(mut self, delay: Duration) -> Transaction {
        self.retry_delay = Some(delay);
        self
    }

    /// Gives up after this many attempts, returning the
    /// [`TransactionAborted`](ErrorKind::TransactionAborted) error; unlimited by default.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Transaction {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// Runs the transaction and returns `EXEC`'s replies (those not ignored) as `T`.
    ///
    /// # Errors
    ///
    /// IO errors, the closure's error, or an error from `EXEC`.
    pub fn run<C, T, F>(&self, con: &mut C, mut func: F) -> Result<T>
    where
        C: ConnectionLike + ?Sized,
        T: FromRedisValue,
        F: FnMut(&mut C, &mut Pipeline) -> Result<()>,
    {
        self.attempt(
            con,
            |con, pipe| func(con, pipe),
            |con, pipe, ()| pipe.query(con),
        )
    }

    /// Runs the transaction and returns the closure's own value, taken from the
    /// attempt whose `EXEC` went through (redis-py's `value_from_callable`).
    ///
    /// # Errors
    ///
    /// IO errors, the closure's error, or an error from `EXEC`.
    pub fn run_value<C, R, F>(&self, con: &mut C, func: F) -> Result<R>
    where
        C: ConnectionLike + ?Sized,
        F: FnMut(&mut C, &mut Pipeline) -> Result<R>,
    {
        self.attempt(con, func, |con, pipe, value| {
            pipe.query::<()>(con)?;
            Ok(value)
        })
    }

    /// The async twin of [`Transaction::run`]: the closure is async, and so is
    /// everything on the connection.
    ///
    /// # Errors
    ///
    /// As [`Transaction::run`].
    #[cfg(feature = "tokio")]
    pub async fn run_async<C, T, F>(&self, con: &mut C, mut func: F) -> Result<T>
    where
        C: AsyncConnectionLike + ?Sized,
        T: FromRedisValue,
        F: AsyncFnMut(&mut C, &mut Pipeline) -> Result<()>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            if !self.keys.is_empty() {
                cmd("WATCH").append(&self.keys).exec_async(con).await?;
            }
            let mut queued = pipe();
            queued.atomic();
            if let Err(e) = func(con, &mut queued).await {
                let _ = cmd("UNWATCH").exec_async(con).await;
                return Err(e);
            }
            match queued.query_async(con).await {
                Err(e)
                    if e.kind() == ErrorKind::TransactionAborted
                        && self.max_attempts.is_none_or(|max| attempts < max) =>
                {
                    if let Some(delay) = self.retry_delay {
                        tokio::time::sleep(delay).await;
                    }
                }
                res => return res,
            }
        }
    }

    fn attempt<C, R, T>(
        &self,
        con: &mut C,
        mut func: impl FnMut(&mut C, &mut Pipeline) -> Result<R>,
        mut exec: impl FnMut(&mut C, &Pipeline, R) -> Result<T>,
    ) -> Result<T>
    where
        C: ConnectionLike + ?Sized,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            if !self.keys.is_empty() {
                cmd("WATCH").append(&self.keys).exec(con)?;
            }
            let mut queued = pipe();
            queued.atomic();
            let value = match func(con, &mut queued) {
                Ok(value) => value,
                Err(e) => {
                    // Leave the connection as it was; the closure's error is the news.
                    let _ = cmd("UNWATCH").exec(con);
                    return Err(e);
                }
            };
            match exec(con, &queued, value) {
                Err(e)
                    if e.kind() == ErrorKind::TransactionAborted
                        && self.max_attempts.is_none_or(|max| attempts < max) =>
                {
                    if let Some(delay) = self.retry_delay {
                        std::thread::sleep(delay);
                    }
                }
                res => return res,
            }
        }
    }
}
