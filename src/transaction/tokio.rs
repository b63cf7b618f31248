//! Transactions over the async seam.

use std::time::Duration;

use super::{Transaction, attempt_pipeline, unwatch_cmd};
use crate::client::Client;
use crate::error::Result;
use crate::pipeline::Pipeline;
use crate::pool::tokio::PooledConnection;
use crate::seam::AsyncConnectionLike;
use crate::types::{FromRedisValue, ToRedisArgs};

/// The async twin of [`transaction`](crate::transaction).
///
/// # Errors
///
/// As [`transaction`](crate::transaction).
pub async fn transaction<C, T, F>(con: &mut C, keys: impl ToRedisArgs, func: F) -> Result<T>
where
    C: AsyncConnectionLike + ?Sized,
    T: FromRedisValue,
    F: AsyncFnMut(&mut C, &mut Pipeline) -> Result<()>,
{
    Transaction::new(keys).run_async(con, func).await
}

impl Transaction {
    /// The async twin of [`Transaction::run`]: the closure is async, and so is
    /// everything on the connection.
    ///
    /// # Errors
    ///
    /// As [`Transaction::run`].
    pub async fn run_async<C, T, F>(&self, con: &mut C, mut func: F) -> Result<T>
    where
        C: AsyncConnectionLike + ?Sized,
        T: FromRedisValue,
        F: AsyncFnMut(&mut C, &mut Pipeline) -> Result<()>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (queued, ()) = self.prepare(con, &mut func).await?;
            match queued.query_async(con).await {
                Err(e) => pause(self.after_failure(attempts, e)?).await,
                res => return res,
            }
        }
    }

    /// The async twin of [`Transaction::run_value`].
    ///
    /// # Errors
    ///
    /// As [`Transaction::run_value`].
    pub async fn run_value_async<C, R, F>(&self, con: &mut C, mut func: F) -> Result<R>
    where
        C: AsyncConnectionLike + ?Sized,
        F: AsyncFnMut(&mut C, &mut Pipeline) -> Result<R>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (queued, value) = self.prepare(con, &mut func).await?;
            match queued.query_async::<()>(con).await {
                Err(e) => pause(self.after_failure(attempts, e)?).await,
                Ok(()) => return Ok(value),
            }
        }
    }

    /// Starts an attempt: `WATCH`, then the closure, which queues its writes and gives
    /// its value; `UNWATCH` when it fails.
    async fn prepare<C, R, F>(&self, con: &mut C, func: &mut F) -> Result<(Pipeline, R)>
    where
        C: AsyncConnectionLike + ?Sized,
        F: AsyncFnMut(&mut C, &mut Pipeline) -> Result<R>,
    {
        if let Some(watch) = self.watch_cmd() {
            watch.exec_async(con).await?;
        }
        let mut queued = attempt_pipeline();
        match func(con, &mut queued).await {
            Ok(value) => Ok((queued, value)),
            Err(e) => {
                // Leave the connection as it was; the closure's error is the news.
                let _ = unwatch_cmd().exec_async(con).await;
                Err(e)
            }
        }
    }
}

/// Waits before another attempt.
async fn pause(delay: Duration) {
    if !delay.is_zero() {
        ::tokio::time::sleep(delay).await;
    }
}

impl Client {
    /// Runs an optimistic transaction on one async connection checked out of the async
    /// pool for its whole span; the async twin of [`Client::transaction`].
    ///
    /// # Errors
    ///
    /// As [`Transaction::run`], and pool errors.
    pub async fn transaction_async<T, F>(&self, keys: impl ToRedisArgs, func: F) -> Result<T>
    where
        T: FromRedisValue,
        F: AsyncFnMut(&mut PooledConnection, &mut Pipeline) -> Result<()>,
    {
        let mut con = self.get_async_connection().await?;
        Transaction::new(keys).run_async(&mut con, func).await
    }
}
