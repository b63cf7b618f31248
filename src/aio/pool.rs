//! [`Pool`]: single async connections, for what cannot share a socket.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::connection::Connection;
use crate::batch::Batch;
use crate::cmd::{Cmd, cmd};
use crate::connection::{ConnectionInfo, ProtocolVersion};
use crate::error::{Error, ErrorKind, Result};
use crate::pool::PoolConfig;
use crate::retry::RetryPolicy;
use crate::seam::AsyncConnectionLike;
use crate::types::FromRedisValue;
use crate::value::Value;

/// A pool of async [`Connection`]s, for what cannot share a multiplexed socket: `WATCH`
/// transactions, long blocking commands, and anything else that holds a connection.
///
/// It behaves as the sync pool: at most [`PoolConfig::max_connections`]; checkout waits
/// up to [`PoolConfig::timeout`] and then fails with
/// [`ErrorKind::PoolExhausted`](crate::ErrorKind::PoolExhausted); idle connections older than the health check interval
/// are pinged first; broken connections are discarded, and so are idle connections the
/// server closed (seen with a non-blocking read, without a round trip).
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    info: ConnectionInfo,
    config: PoolConfig,
    retry: RetryPolicy,
    idle: Mutex<Vec<(Connection, Instant)>>,
    permits: Arc<Semaphore>,
}

impl Pool {
    /// A pool for `info`.
    #[must_use]
    pub fn new(info: ConnectionInfo, config: PoolConfig, retry: RetryPolicy) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(config.max_connections)),
                info,
                config,
                retry,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Checks a connection out.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PoolExhausted`](crate::ErrorKind::PoolExhausted) when none frees up in time; connection errors.
    pub async fn get(&self) -> Result<PooledConnection> {
        let permits = Arc::clone(&self.inner.permits);
        let permit = match self.inner.config.timeout {
            Some(timeout) => tokio::time::timeout(timeout, permits.acquire_owned())
                .await
                .ok()
                .and_then(Result::ok),
            None => permits.try_acquire_owned().ok(),
        };
        let Some(permit) = permit else {
            return Err(Error::new(
                ErrorKind::PoolExhausted,
                format!(
                    "no async connection available: all {} are in use",
                    self.inner.config.max_connections
                ),
            ));
        };
        loop {
            let idle = self
                .inner
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let Some((mut con, since)) = idle else {
                let con = self.connect().await?;
                return Ok(self.wrap(con, permit));
            };
            // Closed by the server while idle: seen without a round trip, and replaced.
            if !con.is_quiet() {
                continue;
            }
            let due = self
                .inner
                .info
                .health_check_interval
                .is_some_and(|every| since.elapsed() >= every);
            if !due || con.req_command::<()>(&cmd("PING")).await.is_ok() {
                return Ok(self.wrap(con, permit));
            }
        }
    }

    async fn connect(&self) -> Result<Connection> {
        let retry = &self.inner.retry;
        let mut attempt = 0;
        loop {
            match Connection::open(&self.inner.info).await {
                Err(e) if attempt + 1 < retry.attempts() && retry.is_retryable(&e) => {
                    tokio::time::sleep(retry.delay(attempt)).await;
                    attempt += 1;
                }
                res => return res,
            }
        }
    }

    fn wrap(&self, con: Connection, permit: OwnedSemaphorePermit) -> PooledConnection {
        PooledConnection {
            con: Some(con),
            pool: Arc::clone(&self.inner),
            _permit: permit,
        }
    }

    /// Connections idle in the pool.
    #[must_use]
    pub fn idle_connections(&self) -> usize {
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("aio::Pool")
            .field("addr", &self.inner.info.addr)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// An async connection checked out of a [`Pool`]; it goes back when dropped, unless it
/// broke (or a request on it was dropped half-way).
pub struct PooledConnection {
    con: Option<Connection>,
    pool: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
}

impl PooledConnection {
    fn con(&self) -> &Connection {
        self.con
            .as_ref()
            .unwrap_or_else(|| unreachable!("present until dropped"))
    }

    fn con_mut(&mut self) -> &mut Connection {
        self.con
            .as_mut()
            .unwrap_or_else(|| unreachable!("present until dropped"))
    }
}

impl Deref for PooledConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.con()
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        self.con_mut()
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        if let Some(con) = self.con.take()
            && con.is_pristine(self.pool.info.db)
        {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((con, Instant::now()));
        }
    }
}

impl fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("aio::PooledConnection")
            .field(&self.con)
            .finish()
    }
}

impl AsyncConnectionLike for PooledConnection {
    async fn req_command<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T> {
        self.con_mut().req_command(cmd).await
    }

    async fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        self.con_mut().req_batch(batch).await
    }

    fn db(&self) -> i64 {
        self.con().db()
    }

    fn protocol(&self) -> ProtocolVersion {
        self.con().protocol()
    }

    fn is_open(&self) -> bool {
        self.con().is_open()
    }
}
