//! The connection pool behind [`Client`](crate::Client): redis-py's
//! `BlockingConnectionPool`, in Rust.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::cmd::{Cmd, cmd};
use crate::connection::{Connection, ConnectionInfo, ProtocolVersion};
use crate::deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::RetryPolicy;
use crate::seam::ConnectionLike;
use crate::types::FromRedisValue;
use crate::value::Value;

/// Default for [`PoolConfig::max_connections`], as redis-py's blocking pool.
pub const DEFAULT_MAX_CONNECTIONS: usize = 50;
/// Default for [`PoolConfig::timeout`], as redis-py's blocking pool.
pub const DEFAULT_POOL_TIMEOUT: Duration = Duration::from_secs(20);

/// How a [`Client`](crate::Client)'s pool behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// The most connections open at once.
    pub max_connections: usize,
    /// How long to wait for a connection when all are in use; `None` fails at once.
    pub timeout: Option<Duration>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            timeout: Some(DEFAULT_POOL_TIMEOUT),
        }
    }
}

impl PoolConfig {
    /// The most connections open at once.
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long to wait for a free connection; `None` fails at once.
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

pub(crate) struct Pool {
    info: ConnectionInfo,
    config: PoolConfig,
    retry: RetryPolicy,
    state: Mutex<State>,
    available: Condvar,
}

struct State {
    idle: Vec<Idle>,
    /// Connections open, idle or checked out.
    open: usize,
}

struct Idle {
    con: Connection,
    since: Instant,
}

impl Pool {
    pub(crate) fn new(info: ConnectionInfo, config: PoolConfig, retry: RetryPolicy) -> Pool {
        Pool {
            info,
            config,
            retry,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            available: Condvar::new(),
        }
    }

    pub(crate) fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // The async pool copies it.
    pub(crate) fn config(&self) -> &PoolConfig {
        &self.config
    }

    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic elsewhere: every change is one step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens a connection, retrying as the policy says.
    pub(crate) fn connect(&self) -> Result<Connection> {
        self.retry.run(|| Connection::open(&self.info))
    }

    /// Checks out an idle connection (health-checked when it sat idle too long), or
    /// opens one while under the limit, or waits for one to come back.
    pub(crate) fn get(self: &Arc<Self>) -> Result<PooledConnection> {
        // `None`: do not wait; `Some(None)`: wait for ever, for a timeout too long to
        // count to.
        let deadline = self.config.timeout.map(deadline::after);
        let mut state = self.lock();
        loop {
            if let Some(idle) = state.idle.pop() {
                drop(state);
                if let Some(con) = self.checked(idle) {
                    return Ok(self.wrap(con));
                }
                state = self.lock();
                state.open -= 1;
                continue;
            }
            if state.open < self.config.max_connections {
                state.open += 1;
                drop(state);
                return match self.connect() {
                    Ok(con) => Ok(self.wrap(con)),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.available.notify_one();
                        Err(e)
                    }
                };
            }
            state = match deadline {
                None => return Err(self.exhausted()),
                Some(None) => self
                    .available
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(Some(deadline)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(self.exhausted());
                    }
                    self.available
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    fn exhausted(&self) -> Error {
        let waited = self.config.timeout.map_or_else(
            || "without waiting".to_owned(),
            |t| format!("after waiting {t:?}"),
        );
        Error::new(
            ErrorKind::PoolExhausted,
            format!(
                "no connection available: all {} are in use ({waited})",
                self.config.max_connections
            ),
        )
    }

    /// An idle connection, pinged first when it sat idle past the health check
    /// interval; `None` when it is dead: closed by the server while idle (seen without a
    /// round trip), or not answering the ping.
    fn checked(&self, idle: Idle) -> Option<Connection> {
        let Idle { mut con, since } = idle;
        if !con.is_quiet() {
            return None;
        }
        let due = self
            .info
            .health_check_interval
            .is_some_and(|interval| since.elapsed() >= interval);
        if due && con.req_command::<()>(&cmd("PING")).is_err() {
            return None;
        }
        Some(con)
    }

    fn wrap(self: &Arc<Self>, con: Connection) -> PooledConnection {
        PooledConnection {
            con: Some(con),
            pool: Arc::clone(self),
        }
    }

    /// Takes a connection back: kept when it is as it was set up, else closed.
    fn put(&self, con: Connection) {
        let mut state = self.lock();
        if con.is_pristine(self.info.db) {
            state.idle.push(Idle {
                con,
                since: Instant::now(),
            });
        } else {
            state.open -= 1;
        }
        drop(state);
        self.available.notify_one();
    }

    /// Connections open now, idle or in use.
    pub(crate) fn open_connections(&self) -> usize {
        self.lock().open
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
/// connection set up as the client's [`ConnectionInfo`] says.
pub struct PooledConnection {
    con: Option<Connection>,
    pool: Arc<Pool>,
}

impl PooledConnection {
    fn con(&self) -> &Connection {
        // Present from creation until drop.
        self.con
            .as_ref()
            .unwrap_or_else(|| unreachable!("a pooled connection is present until dropped"))
    }

    fn con_mut(&mut self) -> &mut Connection {
        self.con
            .as_mut()
            .unwrap_or_else(|| unreachable!("a pooled connection is present until dropped"))
    }

    /// Takes the connection out of the pool for good: it will not go back.
    #[must_use]
    pub fn detach(mut self) -> Connection {
        let con = self
            .con
            .take()
            .unwrap_or_else(|| unreachable!("a pooled connection is present until dropped"));
        self.pool.lock().open -= 1;
        self.pool.available.notify_one();
        con
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
        if let Some(con) = self.con.take() {
            self.pool.put(con);
        }
    }
}

impl fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PooledConnection").field(&self.con).finish()
    }
}

impl ConnectionLike for PooledConnection {
    fn req_command<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T> {
        self.con_mut().req_command(cmd)
    }

    fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        self.con_mut().req_batch(batch)
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
