//! [`Client`]: the entry point. It holds a connector and a pool of connections from it,
//! runs commands on them, and opens the async backends.
//!
//! The toolkit sits above the client and adds its own ways in, each next to its tool:
//! [`Client::lock`] in `lock/`, [`Client::pubsub`] in `pubsub/`, [`Client::monitor`] in
//! `monitor/`, [`Client::transaction`] in `transaction/`, and their async twins.

use std::sync::Arc;

use crate::batch::Batch;
use crate::cmd::Cmd;
use crate::connection::{Connection, ConnectionInfo, IntoConnectionInfo, ProtocolVersion};
use crate::connector::Connector;
use crate::error::Result;
use crate::pool::PoolConfig;
use crate::pool::blocking::{Pool, PooledConnection};
use crate::retry::RetryPolicy;
use crate::seam::ConnectionLike;
use crate::types::FromRedisValue;
use crate::value::Value;

/// Connections to one server, pooled.
///
/// A `Client` is cheap to clone and to share between threads: clones share one pool.
/// Commands run on the client directly, each on a connection taken from the pool and
/// given back; [`get_connection`](Client::get_connection) checks one out for a
/// sequence of commands. The pool behaves like redis-py's `BlockingConnectionPool`:
/// at most [`PoolConfig::max_connections`] open, and when all are in use a caller
/// waits up to [`PoolConfig::timeout`], then gets an
/// [`ErrorKind::PoolExhausted`](crate::ErrorKind::PoolExhausted) error.
///
/// # Examples
///
/// ```no_run
/// use respec::Commands;
///
/// # fn main() -> respec::Result<()> {
/// let mut client = respec::Client::open("redis://127.0.0.1:6379/0")?;
/// client.set("k", "v")?; // on a pooled connection
/// let mut con = client.get_connection()?; // checked out until dropped
/// let v: String = con.get("k")?;
/// assert_eq!(v, "v");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    pool: Arc<Pool>,
    /// The async pool, made on first use and shared by clones.
    #[cfg(feature = "tokio")]
    async_pool: Arc<std::sync::OnceLock<crate::aio::Pool>>,
}

impl Client {
    /// Creates a client from a URL, a [`ConnectionInfo`] or a `(host, port)` pair, with
    /// the default pool and retry policy. Nothing connects yet.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) when a URL does not
    /// parse.
    pub fn open(params: impl IntoConnectionInfo) -> Result<Client> {
        Client::with_config(params, PoolConfig::default(), RetryPolicy::default())
    }

    /// Creates a client with its own pool settings and retry policy.
    ///
    /// # Errors
    ///
    /// As [`Client::open`].
    pub fn with_config(
        params: impl IntoConnectionInfo,
        pool: PoolConfig,
        retry: RetryPolicy,
    ) -> Result<Client> {
        let info = params.into_connection_info()?;
        Ok(Client::with_connector(Arc::new(info), pool, retry))
    }

    /// Creates a client whose connections come from `connector`: every pool, dedicated
    /// connection, pub/sub, monitor and manager this client makes asks it for new
    /// connections.
    #[must_use]
    pub fn with_connector(
        connector: Arc<dyn Connector>,
        pool: PoolConfig,
        retry: RetryPolicy,
    ) -> Client {
        Client {
            pool: Arc::new(Pool::new(connector, pool, retry)),
            #[cfg(feature = "tokio")]
            async_pool: Arc::default(),
        }
    }

    /// Checks a connection out of the pool; it goes back when dropped.
    ///
    /// # Errors
    ///
    /// Connection errors (after the retries the policy allows), or
    /// [`ErrorKind::PoolExhausted`](crate::ErrorKind::PoolExhausted).
    pub fn get_connection(&self) -> Result<PooledConnection> {
        self.pool.get()
    }

    /// Opens a new connection outside the pool, for a long dedicated use such as
    /// pub/sub.
    ///
    /// # Errors
    ///
    /// Connection errors, after the retries the policy allows.
    pub fn get_dedicated_connection(&self) -> Result<Connection> {
        self.pool.connect()
    }

    /// The options this client connects with (for a client made from a URL or a
    /// [`ConnectionInfo`], also the address).
    #[must_use]
    pub fn connection_info(&self) -> &ConnectionInfo {
        self.pool.connector().options()
    }

    /// Where this client's connections come from.
    #[must_use]
    pub fn connector(&self) -> &Arc<dyn Connector> {
        self.pool.connector()
    }

    /// The retry policy for opening connections and for [`Client::retrying`].
    #[must_use]
    pub fn retry_policy(&self) -> &RetryPolicy {
        self.pool.retry()
    }

    /// Connections open now, idle or in use.
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.pool.open_connections()
    }

    /// Connections idle in the pool, ready for a checkout.
    #[must_use]
    pub fn idle_connections(&self) -> usize {
        self.pool.idle_connections()
    }

    /// A new [`MultiplexedConnection`](crate::aio::MultiplexedConnection): one socket
    /// many tasks share, cheap to clone.
    ///
    /// # Errors
    ///
    /// Connection errors, after the retries the policy allows.
    #[cfg(feature = "tokio")]
    pub async fn get_multiplexed_async_connection(
        &self,
    ) -> Result<crate::aio::MultiplexedConnection> {
        let dedicated = self.async_pool();
        self.pool
            .retry()
            .run_async(|| crate::aio::MultiplexedConnection::connect(dedicated.clone()))
            .await
    }

    /// Checks an async connection out of this client's async pool (same limits as the
    /// sync pool), for what cannot share a multiplexed socket.
    ///
    /// # Errors
    ///
    /// As [`aio::Pool::get`](crate::aio::Pool::get).
    #[cfg(feature = "tokio")]
    pub async fn get_async_connection(&self) -> Result<crate::aio::PooledConnection> {
        self.async_pool().get().await
    }

    /// The async pool, made on first use: single async connections, and the dedicated
    /// connections multiplexed connections run blocking commands on.
    #[cfg(feature = "tokio")]
    fn async_pool(&self) -> &crate::aio::Pool {
        self.async_pool.get_or_init(|| {
            crate::aio::Pool::with_connector(
                Arc::clone(self.pool.connector()),
                self.pool.config().clone(),
                self.pool.retry().clone(),
            )
        })
    }

    /// A [`ConnectionManager`](crate::aio::ConnectionManager): a multiplexed connection
    /// that reconnects by itself, with this client's retry policy.
    ///
    /// # Errors
    ///
    /// Connection errors, after the retries the policy allows.
    #[cfg(feature = "tokio")]
    pub async fn connection_manager(&self) -> Result<crate::aio::ConnectionManager> {
        crate::aio::ConnectionManager::with_pool(
            self.pool.retry().clone(),
            self.async_pool().clone(),
        )
        .await
    }

    /// The client, with every command sent through the result retried by the retry
    /// policy: the caller marks them safe to send twice by sending them this way.
    ///
    /// ```no_run
    /// use respec::Commands;
    ///
    /// # fn main() -> respec::Result<()> {
    /// let client = respec::Client::open("redis://127.0.0.1/")?;
    /// let v: Option<String> = client.retrying().get("k")?; // reads are safe to repeat
    /// println!("{v:?}");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn retrying(&self) -> Retrying<'_> {
        Retrying { client: self }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("connector", self.pool.connector())
            .finish_non_exhaustive()
    }
}

/// Runs each command on a connection from the pool.
impl ConnectionLike for Client {
    fn req_command<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T> {
        self.pool.get()?.req_command(cmd)
    }

    fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        self.pool.get()?.req_batch(batch)
    }

    fn db(&self) -> i64 {
        self.connection_info().db
    }

    fn protocol(&self) -> ProtocolVersion {
        self.connection_info().protocol
    }

    fn is_open(&self) -> bool {
        true
    }
}

/// A [`Client`] whose commands are retried by its [`RetryPolicy`]; see
/// [`Client::retrying`].
#[derive(Debug, Clone, Copy)]
pub struct Retrying<'a> {
    client: &'a Client,
}

impl ConnectionLike for Retrying<'_> {
    fn req_command<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T> {
        let pool = &self.client.pool;
        pool.retry().run(|| pool.get()?.req_command(cmd))
    }

    fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        let pool = &self.client.pool;
        pool.retry().run(|| pool.get()?.req_batch(batch))
    }

    fn db(&self) -> i64 {
        self.client.db()
    }

    fn protocol(&self) -> ProtocolVersion {
        self.client.protocol()
    }

    fn is_open(&self) -> bool {
        true
    }
}
