//! The pool behind [`Client`](crate::Client): blocking checkouts, with a condition
//! variable to wait on.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::{Checkout, Home, Lease, PoolConfig, PoolState, exhausted, health_check_due};
use crate::batch::Batch;
use crate::cmd::{Cmd, cmd};
use crate::connection::{Connection, ProtocolVersion};
use crate::connector::Connector;
use crate::deadline;
use crate::error::Result;
use crate::retry::RetryPolicy;
use crate::seam::ConnectionLike;
use crate::types::FromRedisValue;
use crate::value::Value;

pub(crate) struct Pool {
    connector: Arc<dyn Connector>,
    config: PoolConfig,
    retry: RetryPolicy,
    state: Mutex<PoolState<Connection>>,
    available: Condvar,
}

impl Pool {
    pub(crate) fn new(
        connector: Arc<dyn Connector>,
        config: PoolConfig,
        retry: RetryPolicy,
    ) -> Pool {
        Pool {
            connector,
            state: Mutex::new(PoolState::new(config.max_connections)),
            config,
            retry,
            available: Condvar::new(),
        }
    }

    pub(crate) fn connector(&self) -> &Arc<dyn Connector> {
        &self.connector
    }

    #[cfg(feature = "tokio")]
    pub(crate) fn config(&self) -> &PoolConfig {
        &self.config
    }

    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    fn lock(&self) -> MutexGuard<'_, PoolState<Connection>> {
        // The state stays consistent across a panic elsewhere: every change is one step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a connection, retrying as the policy says.
    pub(crate) fn connect(&self) -> Result<Connection> {
        self.retry.run(|| self.connector.connect())
    }

    /// Checks out an idle connection (checked first), or opens one while under the
    /// limit, or waits for one to come back.
    pub(crate) fn get(self: &Arc<Self>) -> Result<PooledConnection> {
        // `None`: do not wait; `Some(None)`: wait for ever, for a timeout too long to
        // count to.
        let deadline = self.config.timeout.map(deadline::after);
        let mut state = self.lock();
        loop {
            match state.checkout() {
                Checkout::Idle(con, since) => {
                    drop(state);
                    if let Some(con) = self.checked(con, since) {
                        return Ok(self.wrap(con));
                    }
                    state = self.lock();
                    state.discard();
                }
                Checkout::Open => {
                    drop(state);
                    return match self.connect() {
                        Ok(con) => Ok(self.wrap(con)),
                        Err(e) => {
                            self.lock().discard();
                            self.available.notify_one();
                            Err(e)
                        }
                    };
                }
                Checkout::Full => {
                    state = match deadline {
                        None => return Err(exhausted(&self.config)),
                        Some(None) => self
                            .available
                            .wait(state)
                            .unwrap_or_else(PoisonError::into_inner),
                        Some(Some(deadline)) => {
                            let left = deadline.saturating_duration_since(Instant::now());
                            if left.is_zero() {
                                return Err(exhausted(&self.config));
                            }
                            self.available
                                .wait_timeout(state, left)
                                .unwrap_or_else(PoisonError::into_inner)
                                .0
                        }
                    };
                }
            }
        }
    }

    /// An idle connection, pinged first when it sat idle past the health check
    /// interval; `None` when it is dead: closed by the server while idle (seen without a
    /// round trip), or not answering the ping.
    fn checked(&self, mut con: Connection, since: Instant) -> Option<Connection> {
        if !con.is_quiet() {
            return None;
        }
        let due = health_check_due(since, self.connector.options().health_check_interval);
        if due && con.req_command::<()>(&cmd("PING")).is_err() {
            return None;
        }
        Some(con)
    }

    fn wrap(self: &Arc<Self>, con: Connection) -> PooledConnection {
        PooledConnection {
            lease: Lease::new(con, Arc::clone(self)),
        }
    }

    /// Connections open now, idle or in use.
    pub(crate) fn open_connections(&self) -> usize {
        self.lock().open()
    }

    /// Connections idle in the pool.
    pub(crate) fn idle_connections(&self) -> usize {
        self.lock().idle()
    }
}

/// A connection checked out of a [`Client`](crate::Client)'s pool; it goes back when
/// dropped.
///
/// The pool checks an idle connection before handing it out: one the server closed
/// while it sat idle (or that has stray bytes waiting) is seen with a non-blocking peek,
/// without a round trip, and replaced silently.
///
/// It is a [`Connection`] through `Deref`, and every command works on it. A connection
/// that broke, or whose state a command changed (`SELECT` to another database, `AUTH`,
/// `HELLO`, `RESET`), is closed instead of going back, so the next user always gets a
/// connection set up as the client's [`ConnectionInfo`](crate::ConnectionInfo) says.
pub struct PooledConnection {
    lease: Lease<Connection, Arc<Pool>>,
}

impl PooledConnection {
    /// Takes the connection out of the pool for good: it will not go back, and its place
    /// is free for another.
    #[must_use]
    pub fn detach(self) -> Connection {
        self.lease.detach()
    }
}

impl Home<Connection> for Arc<Pool> {
    fn put(&self, con: Connection) {
        let keep = con.is_pristine(self.connector.options().db);
        self.lock().give_back(con, keep);
        self.available.notify_one();
    }

    fn forget(&self) {
        self.lock().discard();
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
        f.debug_tuple("PooledConnection")
            .field(&*self.lease)
            .finish()
    }
}

impl ConnectionLike for PooledConnection {
    fn req_command<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T> {
        self.lease.req_command(cmd)
    }

    fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        self.lease.req_batch(batch)
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
