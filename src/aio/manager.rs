//! [`ConnectionManager`]: a multiplexed connection that reconnects by itself.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use super::connection::DEFAULT_RESPONSE_TIMEOUT;
use super::multiplexed::MultiplexedConnection;
use crate::batch::Batch;
use crate::cmd::Cmd;
use crate::connection::ProtocolVersion;
use crate::connector::Connector;
use crate::error::{Error, ErrorKind, Result};
use crate::pool::PoolConfig;
use crate::pool::tokio::Pool;
use crate::retry::RetryPolicy;
use crate::seam::AsyncConnectionLike;
use crate::table::BlockingWait;
use crate::types::FromRedisValue;
use crate::value::Value;

/// A [`MultiplexedConnection`] that replaces itself when its socket fails.
///
/// Cheap to clone; clones share the connection. A request that finds the connection lost
/// (or failed by a request that timed out) waits for the reconnect, and is then sent on
/// the new connection. One task reconnects for everyone, with the retry policy's
/// exponential backoff and jitter, running the setup again (`HELLO`, `AUTH`, `SELECT`,
/// `CLIENT SETNAME`); each attempt must be done within the connect timeout. When
/// reconnecting fails, the requests waiting for it get that error, and the next request
/// tries again.
///
/// Every request ends by its own deadline, the time spent waiting for a reconnect
/// included: the request timeout ([`ConnectionInfo::socket_timeout`](crate::ConnectionInfo::socket_timeout), or
/// [`DEFAULT_RESPONSE_TIMEOUT`]), plus a blocking command's own timeout.
///
/// A request that was in flight when the socket failed fails with an
/// [`ErrorKind::Connection`] error and is not sent again, since it may have run: retry it
/// yourself when it is safe to.
///
/// Pub/sub does not go through the manager: [`PubSub`](crate::aio::PubSub) keeps its
/// own connection and subscribes again after a reconnect.
#[derive(Clone)]
pub struct ConnectionManager {
    inner: Arc<Inner>,
}

struct Inner {
    retry: RetryPolicy,
    /// Where the connections' blocking commands run; it outlives each connection.
    dedicated: Pool,
    /// The request timeout.
    timeout: Duration,
    state: Mutex<State>,
}

struct State {
    /// The connection, which may have failed since.
    current: MultiplexedConnection,
    /// While a reconnect runs, where its outcome will be.
    reconnecting: Option<watch::Receiver<Option<Outcome>>>,
}

/// How a reconnect ended; an error is kept as a copy, for every request waiting.
type Outcome = std::result::Result<MultiplexedConnection, Arc<Error>>;

impl ConnectionManager {
    /// Connects through `connector` (a [`ConnectionInfo`](crate::ConnectionInfo) is one),
    /// retrying as `retry` says; every reconnect goes through it again.
    ///
    /// # Errors
    ///
    /// The last connection error.
    pub async fn new(
        connector: impl Connector + 'static,
        retry: RetryPolicy,
    ) -> Result<ConnectionManager> {
        let dedicated = Pool::new(connector, PoolConfig::default(), retry.clone());
        ConnectionManager::with_pool(retry, dedicated).await
    }

    /// [`ConnectionManager::new`] through the connector of `dedicated`, running blocking
    /// commands on its connections.
    pub(crate) async fn with_pool(
        retry: RetryPolicy,
        dedicated: Pool,
    ) -> Result<ConnectionManager> {
        let con = connect(&retry, &dedicated).await?;
        let timeout = dedicated
            .connector()
            .options()
            .socket_timeout
            .unwrap_or(DEFAULT_RESPONSE_TIMEOUT);
        Ok(ConnectionManager {
            inner: Arc::new(Inner {
                timeout,
                retry,
                dedicated,
                state: Mutex::new(State {
                    current: con,
                    reconnecting: None,
                }),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change to the state is one assignment; a panic elsewhere leaves it whole.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The next connection, once the current one is lost: a reconnect is started, or
    /// one under way is joined.
    async fn reconnected(&self) -> Result<MultiplexedConnection> {
        let mut outcome = {
            let mut state = self.lock();
            if state.current.is_connected() {
                return Ok(state.current.clone());
            }
            if let Some(outcome) = &state.reconnecting {
                outcome.clone()
            } else {
                let (tx, rx) = watch::channel(None);
                state.reconnecting = Some(rx.clone());
                tokio::spawn(reconnect(Arc::clone(&self.inner), tx));
                rx
            }
        };
        let reconnected = outcome.wait_for(Option::is_some).await.map_err(|_| {
            Error::new(
                ErrorKind::Connection,
                "connection lost, and the reconnect stopped before it was done",
            )
        })?;
        match reconnected.as_ref() {
            Some(Ok(con)) => Ok(con.clone()),
            Some(Err(e)) => Err(e.copied()),
            None => Err(Error::new(ErrorKind::Connection, "connection lost")),
        }
    }

    /// The connection, while it is up. The connection's own timeouts then bound a
    /// request.
    fn connected(&self) -> Option<MultiplexedConnection> {
        let state = self.lock();
        state.current.is_connected().then(|| state.current.clone())
    }

    /// Runs `request` once the connection is back: it waits for the reconnect and is
    /// then sent, all within its deadline, the request timeout plus how long it may
    /// block (`wait`).
    async fn after_reconnect<R>(
        &self,
        wait: Option<BlockingWait>,
        request: impl AsyncFnOnce(MultiplexedConnection) -> Result<R>,
    ) -> Result<R> {
        let limit = BlockingWait::limit(wait, self.inner.timeout);
        let work = async {
            let con = self.reconnected().await?;
            request(con).await
        };
        let Some(limit) = limit else {
            return work.await;
        };
        tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
            Err(Error::io(
                "waiting for a reply",
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no reply within {limit:?}, waiting for a reconnect included"),
                ),
            ))
        })
    }

    /// `true` while the current connection is up.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.lock().current.is_connected()
    }
}

/// Replaces the connection, for every request waiting on `outcome`.
async fn reconnect(inner: Arc<Inner>, outcome: watch::Sender<Option<Outcome>>) {
    let res = connect(&inner.retry, &inner.dedicated).await;
    let shared = res.map_err(Arc::new);
    {
        let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Ok(con) = &shared {
            state.current = con.clone();
        }
        state.reconnecting = None;
    }
    let _ = outcome.send(Some(shared));
}

/// Opens a multiplexed connection, retrying what the policy says is worth it.
async fn connect(retry: &RetryPolicy, dedicated: &Pool) -> Result<MultiplexedConnection> {
    retry
        .run_async(|| MultiplexedConnection::connect(dedicated.clone()))
        .await
}

// While the connection is up a request goes straight to it; the path that waits for a
// reconnect is boxed, as it makes a large future that every request's would otherwise
// carry.
impl AsyncConnectionLike for ConnectionManager {
    async fn req_command<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T> {
        if let Some(mut con) = self.connected() {
            return con.req_command(cmd).await;
        }
        let wait = cmd.view().blocking_wait();
        Box::pin(self.after_reconnect(wait, async |mut con| con.req_command(cmd).await)).await
    }

    async fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        if let Some(mut con) = self.connected() {
            return con.req_batch(batch).await;
        }
        let wait = batch.plan().blocking_wait();
        Box::pin(self.after_reconnect(wait, async |mut con| con.req_batch(batch).await)).await
    }

    fn db(&self) -> i64 {
        self.inner.dedicated.connector().options().db
    }

    fn protocol(&self) -> ProtocolVersion {
        self.inner.dedicated.connector().options().protocol
    }

    fn is_open(&self) -> bool {
        true
    }
}

impl fmt::Debug for ConnectionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionManager")
            .field("connector", self.inner.dedicated.connector())
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}
