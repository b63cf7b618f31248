//! [`SentinelClient`]: clients for a service's master and replicas, found through
//! Sentinels and followed through failovers.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::{DEFAULT_CHECK_INTERVAL, NodeAddr, Service, blocking};
use crate::client::Client;
use crate::connection::Connection;
use crate::connection::info::{ConnectionInfo, IntoConnectionInfo};
use crate::connector::Connector;
use crate::error::{Error, Result};
use crate::pool::PoolConfig;
use crate::retry::RetryPolicy;

/// Clients for the master and the replicas of one service that Sentinels watch over,
/// following the master through failovers.
///
/// Sentinels are reached with their own options (credentials, TLS, timeouts: those of
/// the first Sentinel URL), data nodes with theirs ([`SentinelBuilder::node_options`]):
/// the two never mix.
///
/// # Finding the master
///
/// Each new connection asks the Sentinels in turn, the one that answered last first:
/// `SENTINEL MASTER <service>`. A master that Sentinel flags down (`s_down`, `o_down`),
/// or that fewer than [`min_other_sentinels`](SentinelBuilder::min_other_sentinels)
/// other Sentinels see, is passed over for the next Sentinel's answer. The connection
/// then asks the node its `ROLE` and is used only when the node says it is the master.
/// Every step has a deadline: a Sentinel's timeouts (1 s unless its URL says); the
/// node's connect timeout for connecting and its setup, and its socket timeout for
/// `ROLE` (2 s each unless set). When no Sentinel answers, the
/// master followed so far is used.
///
/// # Following a failover
///
/// While the master client is in use, a thread listens for `+switch-master` on a
/// Sentinel and asks where the master is every [check
/// interval](SentinelBuilder::check_interval) (1 s). Connections to one master share a
/// [`Tenure`](crate::Tenure); the moment another master is known, that tenure ends, and
/// from then on no command goes to the old master: a request on one of its connections
/// fails before anything is sent, with an [`ErrorKind::Connection`](crate::ErrorKind::Connection)
/// error naming both masters, and pools and managers replace such connections with
/// connections to the new master. A `READONLY` reply (a master turned replica) ends the
/// tenure too. A request already sent when the master changed is answered by the old
/// master or fails with a connection error; the client never sends it again.
///
/// # Examples
///
/// ```no_run
/// use respec::{Commands, SentinelClient};
///
/// # fn main() -> respec::Result<()> {
/// let sentinel = SentinelClient::builder("mymaster")
///     .sentinel("redis://:sentinel-secret@10.0.0.1:26379")
///     .sentinel("redis://:sentinel-secret@10.0.0.2:26379")
///     .node_options("redis://:data-secret@/0")
///     .build()?;
/// let mut master = sentinel.master();
/// master.set("k", "v")?;
/// let mut replicas = sentinel.replicas();
/// let v: Option<String> = replicas.get("k")?;
/// println!("{v:?}");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SentinelClient {
    service: Arc<Service>,
    pool: PoolConfig,
    retry: RetryPolicy,
    master: Arc<OnceLock<Client>>,
    replicas: Arc<OnceLock<Client>>,
}

impl SentinelClient {
    /// A client for `service` through the Sentinels at `sentinels` (URLs or
    /// [`ConnectionInfo`]s), with the default options; data nodes are connected to
    /// without credentials, on database 0.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a URL that does
    /// not parse, no Sentinel, or a Sentinel at a Unix socket.
    pub fn new<I>(sentinels: I, service: &str) -> Result<SentinelClient>
    where
        I: IntoIterator,
        I::Item: IntoConnectionInfo,
    {
        let mut builder = SentinelClient::builder(service);
        for sentinel in sentinels {
            builder = builder.sentinel_info(sentinel.into_connection_info()?);
        }
        builder.build()
    }

    /// Starts configuring a client for `service`.
    pub fn builder(service: &str) -> SentinelBuilder {
        SentinelBuilder {
            service: service.to_owned(),
            sentinels: Vec::new(),
            node_options: Ok(ConnectionInfo::default()),
            min_other_sentinels: 0,
            check_interval: DEFAULT_CHECK_INTERVAL,
            pool: PoolConfig::default(),
            retry: RetryPolicy::default(),
            invalid: None,
        }
    }

    /// The service's name.
    #[must_use]
    pub fn service_name(&self) -> &str {
        &self.service.name
    }

    /// A client for the master, pooled as [`Client`] is, and through it the async
    /// backends: [`Client::get_multiplexed_async_connection`],
    /// [`Client::connection_manager`]. Clones share one pool; the toolkit (pub/sub,
    /// locks, scripts, transactions) follows the master the same way.
    #[must_use]
    pub fn master(&self) -> Client {
        self.master
            .get_or_init(|| {
                blocking::watch(&self.service);
                let connector = MasterConnector(Arc::clone(&self.service));
                Client::with_connector(Arc::new(connector), self.pool.clone(), self.retry.clone())
            })
            .clone()
    }

    /// A client for reads from the replicas: each new connection goes to the next
    /// healthy replica in turn (one whose `ROLE` says so), and to the master when there
    /// is none.
    #[must_use]
    pub fn replicas(&self) -> Client {
        self.replicas
            .get_or_init(|| {
                let connector = ReplicaConnector(Arc::clone(&self.service));
                Client::with_connector(Arc::new(connector), self.pool.clone(), self.retry.clone())
            })
            .clone()
    }

    /// Asks the Sentinels where the master is now, as a new connection would.
    ///
    /// # Errors
    ///
    /// When no Sentinel names a usable master: the last Sentinel's error, naming it,
    /// after what the others said.
    pub fn discover_master(&self) -> Result<NodeAddr> {
        blocking::ask_master(&self.service)
    }

    /// The master the client's connections follow now; `None` before the first
    /// connection, and between a master found to be no master and the next connection.
    #[must_use]
    pub fn current_master(&self) -> Option<NodeAddr> {
        self.service.current().map(|c| c.addr)
    }

    /// The Sentinels the client knows, in the order it asks them: those it was given,
    /// then those the Sentinels named, the one that answered last first.
    #[must_use]
    pub fn sentinels(&self) -> Vec<NodeAddr> {
        self.service.sentinels()
    }

    /// A connection to the first Sentinel that answers, for the
    /// [`SentinelCommands`](crate::SentinelCommands).
    ///
    /// # Errors
    ///
    /// The last Sentinel's error, naming it, when none answers.
    pub fn sentinel_connection(&self) -> Result<Connection> {
        blocking::Sentinels::of(&self.service).connect()
    }

    /// Runs `f` on a connection to each Sentinel, as redis-py's `execute_command` does
    /// without `once`: each Sentinel's address with what `f` gave there, or why it
    /// could not connect.
    ///
    /// ```no_run
    /// use respec::SentinelCommands;
    ///
    /// # fn main() -> respec::Result<()> {
    /// let sentinel = respec::SentinelClient::new(["redis://10.0.0.1:26379"], "mymaster")?;
    /// for (addr, quorum) in sentinel.on_each_sentinel(|con| con.sentinel_ckquorum::<String>("mymaster")) {
    ///     println!("{addr}: {quorum:?}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_each_sentinel<T>(
        &self,
        mut f: impl FnMut(&mut Connection) -> Result<T>,
    ) -> Vec<(NodeAddr, Result<T>)> {
        self.service
            .sentinels()
            .into_iter()
            .map(|addr| {
                let info = self.service.sentinel_info(&addr);
                let res = Connection::open(&info)
                    .and_then(|mut con| f(&mut con))
                    .map_err(|e| e.within(format!("Sentinel {addr}")));
                (addr, res)
            })
            .collect()
    }

    /// An async connection to the first Sentinel that answers.
    ///
    /// # Errors
    ///
    /// As [`SentinelClient::sentinel_connection`].
    #[cfg(feature = "tokio")]
    pub async fn sentinel_connection_async(&self) -> Result<crate::aio::Connection> {
        blocking::Sentinels::of(&self.service).connect_async().await
    }

    /// [`SentinelClient::on_each_sentinel`] on async connections, one Sentinel after
    /// another.
    #[cfg(feature = "tokio")]
    pub async fn on_each_sentinel_async<T>(
        &self,
        mut f: impl AsyncFnMut(&mut crate::aio::Connection) -> Result<T>,
    ) -> Vec<(NodeAddr, Result<T>)> {
        let mut out = Vec::new();
        for addr in self.service.sentinels() {
            let info = self.service.sentinel_info(&addr);
            let res = match crate::aio::Connection::open(&info).await {
                Ok(mut con) => f(&mut con).await,
                Err(e) => Err(e),
            };
            out.push((
                addr.clone(),
                res.map_err(|e| e.within(format!("Sentinel {addr}"))),
            ));
        }
        out
    }
}

impl fmt::Debug for SentinelClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentinelClient")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// How to build a [`SentinelClient`]; from [`SentinelClient::builder`].
#[derive(Debug)]
#[must_use]
pub struct SentinelBuilder {
    service: String,
    sentinels: Vec<ConnectionInfo>,
    node_options: Result<ConnectionInfo>,
    min_other_sentinels: usize,
    check_interval: Duration,
    pool: PoolConfig,
    retry: RetryPolicy,
    /// The first Sentinel URL that did not parse.
    invalid: Option<Error>,
}

impl SentinelBuilder {
    /// Adds a Sentinel by URL: `redis://[:password@]host:port` (`rediss://` for TLS).
    /// The first Sentinel's credentials, TLS and timeouts are used for every Sentinel.
    pub fn sentinel(mut self, url: impl IntoConnectionInfo) -> Self {
        match url.into_connection_info() {
            Ok(info) => self.sentinels.push(info),
            Err(e) => {
                self.invalid.get_or_insert(e);
            }
        }
        self
    }

    /// Adds a Sentinel by its [`ConnectionInfo`].
    pub fn sentinel_info(mut self, info: ConnectionInfo) -> Self {
        self.sentinels.push(info);
        self
    }

    /// The options the master and replicas are connected with, as a URL or a
    /// [`ConnectionInfo`]: credentials, database, protocol, TLS (`rediss://`), timeouts,
    /// client name. The address is replaced by each node's: write `redis://:pw@/0`.
    pub fn node_options(mut self, options: impl IntoConnectionInfo) -> Self {
        self.node_options = options.into_connection_info();
        self
    }

    /// How many other Sentinels must see a master before it is used (redis-py's
    /// `min_other_sentinels`); 0 unless set.
    pub fn min_other_sentinels(mut self, count: usize) -> Self {
        self.min_other_sentinels = count;
        self
    }

    /// How often the master client asks a Sentinel where the master is, besides
    /// listening for `+switch-master`; [`DEFAULT_CHECK_INTERVAL`] (1 s) unless set.
    pub fn check_interval(mut self, every: Duration) -> Self {
        self.check_interval = every.max(Duration::from_millis(10));
        self
    }

    /// The pool of each of the master and replica clients.
    pub fn pool(mut self, pool: PoolConfig) -> Self {
        self.pool = pool;
        self
    }

    /// The retry policy of the master and replica clients.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The client. Nothing connects yet.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a URL that did
    /// not parse, no Sentinel, or a Sentinel at a Unix socket.
    pub fn build(self) -> Result<SentinelClient> {
        if let Some(e) = self.invalid {
            return Err(e);
        }
        let service = Service::new(
            self.service,
            &self.sentinels,
            self.node_options?,
            self.min_other_sentinels,
            self.check_interval,
        )?;
        Ok(SentinelClient {
            service: Arc::new(service),
            pool: self.pool,
            retry: self.retry,
            master: Arc::default(),
            replicas: Arc::default(),
        })
    }
}

/// Connects to the service's master, as the Sentinels name it at each connect.
#[derive(Debug)]
struct MasterConnector(Arc<Service>);

impl Connector for MasterConnector {
    fn options(&self) -> &ConnectionInfo {
        self.0.node_options()
    }

    fn connect(&self) -> Result<Connection> {
        blocking::connect_master(&self.0)
    }

    #[cfg(feature = "tokio")]
    fn connect_async(&self) -> crate::connector::ConnectFuture<'_> {
        Box::pin(super::tokio::connect_master(&self.0))
    }
}

/// Connects to the service's replicas in turn, or its master when none is healthy.
#[derive(Debug)]
struct ReplicaConnector(Arc<Service>);

impl Connector for ReplicaConnector {
    fn options(&self) -> &ConnectionInfo {
        self.0.node_options()
    }

    fn connect(&self) -> Result<Connection> {
        blocking::connect_replica(&self.0)
    }

    #[cfg(feature = "tokio")]
    fn connect_async(&self) -> crate::connector::ConnectFuture<'_> {
        Box::pin(super::tokio::connect_replica(&self.0))
    }
}
