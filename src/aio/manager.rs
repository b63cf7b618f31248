//! [`ConnectionManager`]: a multiplexed connection that reconnects by itself.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use super::multiplexed::MultiplexedConnection;
use crate::cmd::{Batch, Cmd};
use crate::connection::{AsyncConnectionLike, ConnectionInfo, ProtocolVersion};
use crate::error::{ErrorKind, Result};
use crate::retry::RetryPolicy;
use crate::types::FromRedisValue;
use crate::value::Value;

/// A [`MultiplexedConnection`] that replaces itself when its socket fails.
///
/// Cheap to clone; clones share the connection. A request that finds the connection
/// lost waits for the reconnect (one task reconnects for everyone, with the retry
/// policy's exponential backoff and jitter, running the setup again: `HELLO`, `AUTH`,
/// `SELECT`, `CLIENT SETNAME`) and is then sent on the new connection; if reconnecting
/// fails it returns that error. A request that was in flight when the socket failed
/// fails with an [`ErrorKind::Connection`] error and is not sent again, since it may
/// have run: retry it yourself when it is safe to.
///
/// Pub/sub does not go through the manager: [`PubSub`](crate::aio::PubSub) keeps its
/// own connection and subscribes again after a reconnect.
#[derive(Clone)]
pub struct ConnectionManager {
    inner: Arc<Inner>,
}

struct Inner {
    info: ConnectionInfo,
    retry: RetryPolicy,
    /// The current connection and its generation, bumped at each reconnect.
    current: Mutex<(u64, MultiplexedConnection)>,
    reconnecting: tokio::sync::Mutex<()>,
}

impl ConnectionManager {
    /// Connects, retrying as `retry` says.
    ///
    /// # Errors
    ///
    /// The last connection error.
    pub async fn new(info: ConnectionInfo, retry: RetryPolicy) -> Result<ConnectionManager> {
        let con = connect(&info, &retry).await?;
        Ok(ConnectionManager {
            inner: Arc::new(Inner {
                info,
                retry,
                current: Mutex::new((0, con)),
                reconnecting: tokio::sync::Mutex::new(()),
            }),
        })
    }

    fn current(&self) -> (u64, MultiplexedConnection) {
        self.inner
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The connection to use: the current one, or a new one when it is lost.
    async fn connection(&self) -> Result<MultiplexedConnection> {
        let (generation, con) = self.current();
        if con.is_connected() {
            return Ok(con);
        }
        // Boxed, as reconnecting makes a large future that every request's would
        // otherwise carry.
        Box::pin(self.reconnect(generation)).await
    }

    /// Replaces the connection of `generation`, unless another task already did.
    async fn reconnect(&self, generation: u64) -> Result<MultiplexedConnection> {
        let _one_at_a_time = self.inner.reconnecting.lock().await;
        let (current_generation, con) = self.current();
        if current_generation != generation && con.is_connected() {
            return Ok(con);
        }
        let fresh = connect(&self.inner.info, &self.inner.retry).await?;
        *self
            .inner
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (current_generation + 1, fresh.clone());
        Ok(fresh)
    }

    /// `true` while the current connection is up.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.current().1.is_connected()
    }
}

/// Opens a multiplexed connection, retrying connection errors with backoff.
async fn connect(info: &ConnectionInfo, retry: &RetryPolicy) -> Result<MultiplexedConnection> {
    let mut attempt = 0;
    loop {
        match MultiplexedConnection::open(info).await {
            Err(e) if attempt + 1 < retry.attempts() && e.kind() == ErrorKind::Connection => {
                tokio::time::sleep(retry.delay(attempt)).await;
                attempt += 1;
            }
            res => return res,
        }
    }
}

impl AsyncConnectionLike for ConnectionManager {
    async fn req_command(&mut self, cmd: &Cmd) -> Result<Value> {
        let mut con = self.connection().await?;
        con.req_command(cmd).await
    }

    async fn req_command_as<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T> {
        let mut con = self.connection().await?;
        con.req_command_as(cmd).await
    }

    async fn req_commands(&mut self, cmds: &[Cmd]) -> Result<Vec<Value>> {
        let mut con = self.connection().await?;
        con.req_commands(cmds).await
    }

    async fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        let mut con = self.connection().await?;
        con.req_batch(batch).await
    }

    fn db(&self) -> i64 {
        self.inner.info.db
    }

    fn protocol(&self) -> ProtocolVersion {
        self.inner.info.protocol
    }

    fn is_open(&self) -> bool {
        true
    }
}

impl fmt::Debug for ConnectionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionManager")
            .field("addr", &self.inner.info.addr)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}
