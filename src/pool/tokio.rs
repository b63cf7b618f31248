//! [`Pool`]: single async connections, for what cannot share a socket; the async twin of
//! the pool behind [`Client`](crate::Client), waiting on a [`Notify`] instead of a
//! condition variable.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use ::tokio::sync::Notify;

use super::{Checkout, Home, Lease, PoolConfig, PoolState, exhausted, health_check_due};
use crate::aio::Connection;
use crate::batch::Batch;
use crate::cmd::{Cmd, cmd};
use crate::connection::ProtocolVersion;
use crate::connector::Connector;
use crate::error::Result;
use crate::retry::RetryPolicy;
use crate::seam::AsyncConnectionLike;
use crate::types::FromRedisValue;
use crate::value::Value;

/// A pool of async [`Connection`]s, for what cannot share a multiplexed socket: `WATCH`
/// transactions, long blocking commands, and anything else that holds a connection.
///
/// It behaves as the sync pool: at most [`PoolConfig::max_connections`] open; checkout
/// waits up to [`PoolConfig::timeout`] and then fails with
/// [`ErrorKind::PoolExhausted`](crate::ErrorKind::PoolExhausted); idle connections the
/// server closed are seen at checkout (with a non-blocking read, without a round trip)
/// and replaced, those idle past the health check interval are pinged first, and broken
/// or changed connections are closed rather than handed on.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connector: Arc<dyn Connector>,
    config: PoolConfig,
    retry: RetryPolicy,
    state: Mutex<PoolState<Connection>>,
    available: Notify,
}

impl Pool {
    /// A pool of connections from `connector` (a [`ConnectionInfo`](crate::ConnectionInfo)
    /// is one).
    #[must_use]
    pub fn new(
        connector: impl Connector + 'static,
        config: PoolConfig,
        retry: RetryPolicy,
    ) -> Pool {
        Pool::with_connector(Arc::new(connector), config, retry)
    }

    pub(crate) fn with_connector(
        connector: Arc<dyn Connector>,
        config: PoolConfig,
        retry: RetryPolicy,
    ) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                connector,
                state: Mutex::new(PoolState::new(config.max_connections)),
                config,
                retry,
                available: Notify::new(),
            }),
        }
    }

    pub(crate) fn connector(&self) -> &Arc<dyn Connector> {
        &self.inner.connector
    }

    fn lock(&self) -> MutexGuard<'_, PoolState<Connection>> {
        lock(&self.inner)
    }

    /// Checks a connection out: an idle one (checked first), or a new one while under the
    /// limit, or one that comes back within [`PoolConfig::timeout`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PoolExhausted`](crate::ErrorKind::PoolExhausted) when none frees up
    /// in time; connection errors.
    pub async fn get(&self) -> Result<PooledConnection> {
        let deadline = self.inner.config.timeout.map(crate::deadline::after);
        loop {
            // Registered before the state is looked at, so a connection given back in
            // between still wakes this caller.
            let notified = self.inner.available.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let checkout = self.lock().checkout();
            match checkout {
                Checkout::Idle(con, since) => {
                    if let Some(con) = self.checked(con, since).await {
                        return Ok(self.wrap(con));
                    }
                    self.lock().discard();
                }
                Checkout::Open => {
                    return match self.connect().await {
                        Ok(con) => Ok(self.wrap(con)),
                        Err(e) => {
                            self.lock().discard();
                            self.inner.available.notify_one();
                            Err(e)
                        }
                    };
                }
                Checkout::Full => match deadline {
                    None => return Err(exhausted(&self.inner.config)),
                    Some(None) => notified.await,
                    Some(Some(deadline)) => {
                        let deadline = ::tokio::time::Instant::from_std(deadline);
                        if ::tokio::time::timeout_at(deadline, notified).await.is_err() {
                            return Err(exhausted(&self.inner.config));
                        }
                    }
                },
            }
        }
    }

    /// Opens a connection, retrying as the policy says.
    async fn connect(&self) -> Result<Connection> {
        let connector = &self.inner.connector;
        self.inner
            .retry
            .run_async(|| connector.connect_async())
            .await
    }

    /// An idle connection, pinged first when it sat idle past the health check
    /// interval; `None` when it is dead: closed by the server while idle, or not
    /// answering the ping.
    async fn checked(&self, mut con: Connection, since: Instant) -> Option<Connection> {
        if !con.is_quiet() {
            return None;
        }
        let interval = self.inner.connector.options().health_check_interval;
        if health_check_due(since, interval) && con.req_command::<()>(&cmd("PING")).await.is_err() {
            return None;
        }
        Some(con)
    }

    fn wrap(&self, con: Connection) -> PooledConnection {
        PooledConnection {
            lease: Lease::new(con, Arc::clone(&self.inner)),
        }
    }

    /// Connections open now, idle or in use.
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.lock().open()
    }

    /// Connections idle in the pool.
    #[must_use]
    pub fn idle_connections(&self) -> usize {
        self.lock().idle()
    }
}

fn lock(inner: &Inner) -> MutexGuard<'_, PoolState<Connection>> {
    // The state stays consistent across a panic elsewhere: every change is one step.
    inner.state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("aio::Pool")
            .field("connector", &self.inner.connector)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// An async connection checked out of a [`Pool`]; it goes back when dropped, unless it
/// broke (or a request on it was dropped half-way) or a command changed its state.
pub struct PooledConnection {
    lease: Lease<Connection, Arc<Inner>>,
}

impl PooledConnection {
    /// Takes the connection out of the pool for good: it will not go back, and its place
    /// is free for another.
    #[must_use]
    pub fn detach(self) -> Connection {
        self.lease.detach()
    }
}

impl Home<Connection> for Arc<Inner> {
    fn put(&self, con: Connection) {
        let keep = con.is_pristine(self.connector.options().db);
        lock(self).give_back(con, keep);
        self.available.notify_one();
    }

    fn forget(&self) {
        lock(self).discard();
        self.available.notify_one();
    }
}

impl Deref for PooledConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.lease
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.lease
    }
}

impl fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("aio::PooledConnection")
            .field(&*self.lease)
            .finish()
    }
}

impl AsyncConnectionLike for PooledConnection {
    async fn req_command<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T> {
        self.lease.req_command(cmd).await
    }

    async fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        self.lease.req_batch(batch).await
    }

    fn db(&self) -> i64 {
        self.lease.db()
    }

    fn protocol(&self) -> ProtocolVersion {
        self.lease.protocol()
    }

    fn is_open(&self) -> bool {
        self.lease.is_open()
    }
}
