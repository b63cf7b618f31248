//! Transactions over the sync seam.

use super::{Transaction, attempt_pipeline, unwatch_cmd};
use crate::client::Client;
use crate::error::Result;
use crate::pipeline::Pipeline;
use crate::pool::blocking::PooledConnection;
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

impl Transaction {
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
            if let Some(watch) = self.watch_cmd() {
                watch.exec(con)?;
            }
            let mut queued = attempt_pipeline();
            let value = match func(con, &mut queued) {
                Ok(value) => value,
                Err(e) => {
                    // Leave the connection as it was; the closure's error is the news.
                    let _ = unwatch_cmd().exec(con);
                    return Err(e);
                }
            };
            match exec(con, &queued, value) {
                Err(e) => std::thread::sleep(self.after_failure(attempts, e)?),
                res => return res,
            }
        }
    }
}

impl Client {
    /// Runs an optimistic transaction (see [`Transaction`]) on one connection checked
    /// out of the pool for its whole span, watching `keys`; returns `EXEC`'s replies.
    ///
    /// # Errors
    ///
    /// As [`Transaction::run`], and pool errors.
    pub fn transaction<T, F>(&self, keys: impl ToRedisArgs, func: F) -> Result<T>
    where
        T: FromRedisValue,
        F: FnMut(&mut PooledConnection, &mut Pipeline) -> Result<()>,
    {
        let mut con = self.get_connection()?;
        Transaction::new(keys).run(&mut con, func)
    }
}
