//! [`ClusterClient`]: the entry point to a Redis Cluster, and its builder.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::blocking::{ClusterConnection, refresh};
use super::scan::own_slots;
use super::{
    AddressRemap, Config, DEFAULT_DISCOVERY_TIMEOUT, DEFAULT_MAX_REDIRECTS,
    DEFAULT_REFRESH_INTERVAL, ReadFrom, State,
};
use crate::batch::Batch;
use crate::cmd::{Cmd, cmd};
use crate::commands::slot::key_slot;
use crate::connection::Connection;
use crate::connection::info::{
    ConnectionAddr, ConnectionInfo, IntoConnectionInfo, NodeAddr, ProtocolVersion,
};
use crate::connector::Connector;
use crate::error::{Error, ErrorKind, Result};
use crate::lock::Lock;
use crate::monitor::Monitor;
use crate::pubsub::PubSub;
use crate::retry::RetryPolicy;
use crate::seam::ConnectionLike;
use crate::types::FromRedisValue;
use crate::value::Value;

/// A client for a Redis Cluster, routed by the command table alone.
///
/// Made from one or more seed URLs ([`ClusterClient::new`]) or a
/// [`builder`](ClusterClient::builder); the first seed's options (credentials, TLS with
/// `rediss://`, timeouts, protocol, client name) connect every node. Nothing connects
/// until the first connection is asked for; then the slot map is read within the
/// [discovery timeout](ClusterBuilder::discovery_timeout), so that no call hangs.
///
/// # Routing
///
/// - A command with keys goes to the shard of their slot ([`key_slot`](crate::commands::slot::key_slot),
///   hash tags honoured); the keys are found by the command's key specs. Keys in several
///   slots are refused before anything is sent, naming the slots, except for the
///   `multi_shard` commands (`MGET`, `MSET`, `DEL`, `EXISTS`, `TOUCH`, `UNLINK`), which are
///   split per slot and put back together in the caller's order.
/// - A keyless command follows its `request_policy` tip: to every primary (`DBSIZE`,
///   `FLUSHALL`, `KEYS`...) or every node (`CONFIG SET`...), the replies merged by its
///   `response_policy` (sums, minimum, logical and, all or one succeeded). Its `special`
///   ones: `INFO`, `MEMORY STATS`, `MEMORY DOCTOR`, `LATENCY ...` and `FUNCTION STATS`
///   reply with a map of each node's address to its reply; `RANDOMKEY` with a key one of
///   the primaries gave. Other keyless commands go to any primary.
/// - A command the table does not know (a module's) is looked up with `COMMAND INFO`,
///   once.
/// - Read-only commands go where [`ReadFrom`] says; the rest to primaries.
///
/// # Failures
///
/// `MOVED` patches the slot map and retries at the new owner; `ASK` sends `ASKING` and
/// the command to the node named, once. `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN` and
/// `LOADING` are retried after a wait (see [`ClusterBuilder::retry`]), `READONLY` and
/// `UNBLOCKED` after reading the map again; all within the request's time (the nodes'
/// socket timeout) and at most [`max_redirects`](ClusterBuilder::max_redirects) tries.
/// After a connection error a command is sent again only when it was never sent or
/// only reads: a write that may have run is returned as an error.
///
/// # Examples
///
/// ```no_run
/// use respec::{ClusterClient, Commands};
///
/// # fn main() -> respec::Result<()> {
/// let client = ClusterClient::new(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])?;
/// let mut con = client.get_connection()?;
/// con.set("{user1}.name", "Ada")?;
/// let keys: i64 = con.dbsize()?; // summed over the primaries
/// # let _ = keys;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ClusterClient {
    pub(crate) state: Arc<State>,
    /// Connections the client runs commands on itself, shared by its clones.
    idle: Arc<Mutex<Vec<ClusterConnection>>>,
}

/// How many connections a client keeps for the commands it runs itself.
const IDLE_CONNECTIONS: usize = 16;

impl fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterClient")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ClusterClient {
    /// A client for the cluster the seeds belong to, with the default options.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a URL that does
    /// not parse, no seed, or a seed at a Unix socket.
    pub fn new<I>(seeds: I) -> Result<ClusterClient>
    where
        I: IntoIterator,
        I::Item: IntoConnectionInfo,
    {
        let mut builder = ClusterClient::builder();
        for seed in seeds {
            builder = builder.seed(seed);
        }
        builder.build()
    }

    /// Starts configuring a client.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            seeds: Vec::new(),
            node_options: None,
            read_from: ReadFrom::Primary,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            retry: RetryPolicy::new(DEFAULT_MAX_REDIRECTS)
                .backoff(Duration::from_millis(10), Duration::from_millis(250)),
            require_full_coverage: true,
            remap: None,
            discovery_timeout: DEFAULT_DISCOVERY_TIMEOUT,
            refresh_interval: Some(DEFAULT_REFRESH_INTERVAL),
            invalid: None,
        }
    }

    /// A sync connection to the cluster: a [`ConnectionLike`](crate::ConnectionLike)
    /// on which every command works. The first reads the slot map.
    ///
    /// # Errors
    ///
    /// The slot map could not be read: no node answered within the discovery timeout
    /// (each node's reason is listed), or it is partial and full coverage is required.
    pub fn get_connection(&self) -> Result<ClusterConnection> {
        if self.state.version() == 0 {
            refresh(&self.state)?;
        }
        Ok(ClusterConnection::new(Arc::clone(&self.state)))
    }

    /// An async connection to the cluster: an
    /// [`AsyncConnectionLike`](crate::AsyncConnectionLike), cheap to clone, over one
    /// multiplexed connection per node. The first reads the slot map.
    ///
    /// # Errors
    ///
    /// As [`ClusterClient::get_connection`].
    #[cfg(feature = "tokio")]
    pub async fn get_async_connection(&self) -> Result<crate::aio::ClusterConnection> {
        crate::aio::ClusterConnection::new(Arc::clone(&self.state)).await
    }

    /// Reads the slot map now.
    ///
    /// # Errors
    ///
    /// As [`ClusterClient::get_connection`]; the old map stays.
    pub fn refresh_slots(&self) -> Result<()> {
        let seen = self.state.refreshes();
        refresh(&self.state)?;
        if self.state.refreshes() == seen {
            // Another refresh finished while this one waited: read again anyway, as
            // asked.
            refresh(&self.state)?;
        }
        Ok(())
    }

    /// A [`Lock`] on the key `name`, in the slot the key maps to.
    pub fn lock(&self, name: impl Into<String>) -> Lock<ClusterClient> {
        Lock::new(self.clone(), name)
    }

    /// A [`PubSub`] for classic channels and patterns on a dedicated connection to a
    /// primary: a message published on any node reaches every node, so one will do;
    /// when it fails, the subscriptions move to another.
    #[must_use]
    pub fn pubsub(&self) -> PubSub {
        let connector = NodeConnector {
            state: Arc::clone(&self.state),
            slot: None,
        };
        PubSub::with_connector(Arc::new(connector), self.state.config.retry.clone())
    }

    /// A [`PubSub`] for the shard channels of one slot, the slot of `channel` (use hash
    /// tags to put channels together: `{news}.sport`, `{news}.weather`). Its connection
    /// goes to the node serving the slot; when the slot moves (a migration, a failover),
    /// the server ends the subscriptions with a pushed `sunsubscribe`, or the connection
    /// drops, and the `PubSub` subscribes again where the slot is then. Classic channels
    /// may share it.
    #[must_use]
    pub fn sharded_pubsub(&self, channel: impl AsRef<[u8]>) -> PubSub {
        let connector = NodeConnector {
            state: Arc::clone(&self.state),
            slot: Some(key_slot(channel.as_ref())),
        };
        PubSub::with_connector(Arc::new(connector), self.state.config.retry.clone())
    }

    /// The async [`PubSub`](crate::aio::PubSub) for classic channels and patterns; see
    /// [`ClusterClient::pubsub`].
    #[cfg(feature = "tokio")]
    #[must_use]
    pub fn async_pubsub(&self) -> crate::aio::PubSub {
        let connector = NodeConnector {
            state: Arc::clone(&self.state),
            slot: None,
        };
        crate::aio::PubSub::with_connector(Arc::new(connector), self.state.config.retry.clone())
    }

    /// The async [`PubSub`](crate::aio::PubSub) for the shard channels of one slot; see
    /// [`ClusterClient::sharded_pubsub`].
    #[cfg(feature = "tokio")]
    #[must_use]
    pub fn async_sharded_pubsub(&self, channel: impl AsRef<[u8]>) -> crate::aio::PubSub {
        let connector = NodeConnector {
            state: Arc::clone(&self.state),
            slot: Some(key_slot(channel.as_ref())),
        };
        crate::aio::PubSub::with_connector(Arc::new(connector), self.state.config.retry.clone())
    }

    /// A [`Monitor`] of one node (`MONITOR` sees only the commands its node runs).
    ///
    /// # Errors
    ///
    /// Connection errors, or the server's refusal.
    pub fn monitor(&self, node: &NodeAddr) -> Result<Monitor> {
        Monitor::connect(&self.state.node_info(node), &RetryPolicy::none())
    }

    /// An async [`Monitor`](crate::aio::Monitor) of one node.
    ///
    /// # Errors
    ///
    /// Connection errors, or the server's refusal.
    #[cfg(feature = "tokio")]
    pub async fn async_monitor(&self, node: &NodeAddr) -> Result<crate::aio::Monitor> {
        crate::aio::Monitor::connect(&self.state.node_info(node), &RetryPolicy::none()).await
    }

    /// What the client met so far: redirections followed, retries, refreshes.
    #[must_use]
    pub fn stats(&self) -> super::ClusterStats {
        self.state.stats()
    }

    /// The primaries, in slot order, as the slot map has them now.
    #[must_use]
    pub fn primaries(&self) -> Vec<NodeAddr> {
        self.state.fan_out(false)
    }

    /// Every node the slot map has now: the primaries, then the replicas.
    #[must_use]
    pub fn nodes(&self) -> Vec<NodeAddr> {
        self.state.fan_out(true)
    }

    /// The primary that serves `slot` now, by the slot map.
    #[must_use]
    pub fn primary_for_slot(&self, slot: u16) -> Option<NodeAddr> {
        self.state.node_for(slot, false).ok()
    }
}

/// The client runs commands itself, each on a connection of its own from the ones it
/// keeps, so that it can be cloned into what needs a clonable seam ([`Lock`]).
impl ConnectionLike for ClusterClient {
    fn req_command<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T> {
        let mut con = self.checkout()?;
        let reply = con.req_command(cmd);
        self.give_back(con);
        reply
    }

    fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        let mut con = self.checkout()?;
        let replies = con.req_batch(batch);
        self.give_back(con);
        replies
    }

    fn db(&self) -> i64 {
        self.state.config.node_options.db
    }

    fn protocol(&self) -> ProtocolVersion {
        self.state.config.node_options.protocol
    }

    fn is_open(&self) -> bool {
        true
    }
}

impl ClusterClient {
    fn checkout(&self) -> Result<ClusterConnection> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(con) => Ok(con),
            None => self.get_connection(),
        }
    }

    fn give_back(&self, con: ClusterConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(con);
        }
    }
}

/// Connects to the node serving a slot, or to any primary, as the slot map has it at
/// each connect: what pub/sub connections of a cluster come from.
#[derive(Debug)]
pub(crate) struct NodeConnector {
    state: Arc<State>,
    slot: Option<u16>,
}

impl NodeConnector {
    /// Connects to the node serving the slot, checking with the node itself (its own
    /// line of `CLUSTER NODES`) that it serves it: right after a failover or a migration
    /// the map may be behind, and is read again until it is not, within the discovery
    /// timeout.
    fn connect_to_slot(&self, slot: u16) -> Result<Connection> {
        let deadline = Instant::now().checked_add(self.state.config.discovery_timeout);
        loop {
            let _ = refresh(&self.state);
            let node = self.state.node_for(slot, false)?;
            let mut con = Connection::open(&self.state.node_info(&node))?;
            let nodes: Value = cmd("CLUSTER NODES").query(&mut con)?;
            let (served, _) = own_slots(&nodes)?;
            if served.binary_search(&slot).is_ok() {
                return Ok(con);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::new(
                    ErrorKind::Connection,
                    format!("no node was found serving slot {slot}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[cfg(feature = "tokio")]
    async fn connect_to_slot_async(&self, slot: u16) -> Result<crate::aio::Connection> {
        use crate::seam::AsyncConnectionLike;
        let deadline = Instant::now().checked_add(self.state.config.discovery_timeout);
        loop {
            // Reading the map is sync; its connections are short and bounded.
            let state = Arc::clone(&self.state);
            let _ = tokio::task::spawn_blocking(move || refresh(&state)).await;
            let node = self.state.node_for(slot, false)?;
            let mut con = crate::aio::Connection::open(&self.state.node_info(&node)).await?;
            let nodes: Value = con.req_command(&cmd("CLUSTER NODES")).await?;
            let (served, _) = own_slots(&nodes)?;
            if served.binary_search(&slot).is_ok() {
                return Ok(con);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::new(
                    ErrorKind::Connection,
                    format!("no node was found serving slot {slot}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn node(&self) -> Result<NodeAddr> {
        if self.state.version() == 0 {
            refresh(&self.state)?;
        }
        match self.slot {
            Some(slot) => self.state.node_for(slot, false),
            None => self.state.any_primary(),
        }
    }
}

impl Connector for NodeConnector {
    fn options(&self) -> &ConnectionInfo {
        &self.state.config.node_options
    }

    fn connect(&self) -> Result<Connection> {
        if let Some(slot) = self.slot {
            return self.connect_to_slot(slot);
        }
        let node = self.node().or_else(|_| {
            refresh(&self.state)?;
            self.node()
        })?;
        Connection::open(&self.state.node_info(&node)).inspect_err(|_| {
            // The next connect finds the map read again.
            self.state.failed(&node);
            let _ = refresh(&self.state);
        })
    }

    #[cfg(feature = "tokio")]
    fn connect_async(&self) -> crate::connector::ConnectFuture<'_> {
        Box::pin(async move {
            if let Some(slot) = self.slot {
                return self.connect_to_slot_async(slot).await;
            }
            let node = self.node()?;
            crate::aio::Connection::open(&self.state.node_info(&node)).await
        })
    }
}

/// How to build a [`ClusterClient`]; from [`ClusterClient::builder`].
#[must_use]
pub struct ClusterBuilder {
    seeds: Vec<ConnectionInfo>,
    node_options: Option<ConnectionInfo>,
    read_from: ReadFrom,
    max_redirects: u32,
    retry: RetryPolicy,
    require_full_coverage: bool,
    remap: Option<AddressRemap>,
    discovery_timeout: Duration,
    refresh_interval: Option<Duration>,
    /// The first seed URL that did not parse.
    invalid: Option<Error>,
}

impl fmt::Debug for ClusterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterBuilder")
            .field("seeds", &self.seeds)
            .field("read_from", &self.read_from)
            .finish_non_exhaustive()
    }
}

impl ClusterBuilder {
    /// Adds a seed node by URL or [`ConnectionInfo`]: `redis://[user:password@]host:port`
    /// (`rediss://` for TLS). Unless [`node_options`](ClusterBuilder::node_options) are
    /// given, the first seed's options connect every node.
    pub fn seed(mut self, url: impl IntoConnectionInfo) -> Self {
        match url.into_connection_info() {
            Ok(info) => self.seeds.push(info),
            Err(e) => {
                self.invalid.get_or_insert(e);
            }
        }
        self
    }

    /// The options every node is connected with: credentials, protocol, TLS, timeouts,
    /// client name. The address is replaced by each node's.
    pub fn node_options(mut self, options: ConnectionInfo) -> Self {
        self.node_options = Some(options);
        self
    }

    /// Where read-only commands go; [`ReadFrom::Primary`] unless set.
    pub fn read_from(mut self, read_from: ReadFrom) -> Self {
        self.read_from = read_from;
        self
    }

    /// How many redirections and retries one request may follow; 16 unless set.
    pub fn max_redirects(mut self, max: u32) -> Self {
        self.max_redirects = max.max(1);
        self
    }

    /// The waits between retries after `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`,
    /// `LOADING`, `READONLY` and connection errors: exponential with jitter from 10 ms to
    /// 250 ms unless set. The number of tries is [`max_redirects`](ClusterBuilder::max_redirects)'s.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Whether a slot map that leaves slots unserved is refused (the default, as
    /// redis-py's `require_full_coverage`). When not, commands for the served slots
    /// work, and those for the others fail naming their slot.
    pub fn require_full_coverage(mut self, yes: bool) -> Self {
        self.require_full_coverage = yes;
        self
    }

    /// Maps each node's address as the cluster reports it to the one to connect to (NAT,
    /// containers); redirections' addresses too.
    pub fn address_remap(
        mut self,
        remap: impl Fn(&NodeAddr) -> NodeAddr + Send + Sync + 'static,
    ) -> Self {
        self.remap = Some(Arc::new(remap));
        self
    }

    /// How long reading the slot map may take, all nodes asked together; 5 s unless
    /// set.
    pub fn discovery_timeout(mut self, timeout: Duration) -> Self {
        self.discovery_timeout = timeout;
        self
    }

    /// How often the slot map is read again while the client is in use (besides after
    /// `MOVED` to an unknown node, failovers, connection errors and `CLUSTERDOWN`); 30 s
    /// unless set, `None` for never.
    pub fn refresh_interval(mut self, every: Option<Duration>) -> Self {
        self.refresh_interval = every;
        self
    }

    /// The client. Nothing connects yet.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a URL that did
    /// not parse, no seed, or a seed at a Unix socket.
    pub fn build(self) -> Result<ClusterClient> {
        if let Some(e) = self.invalid {
            return Err(e);
        }
        let Some(first) = self.seeds.first() else {
            return Err(Error::invalid_input("a cluster client needs a seed node"));
        };
        let mut seeds = Vec::with_capacity(self.seeds.len());
        for seed in &self.seeds {
            match &seed.addr {
                ConnectionAddr::Tcp { host, port } | ConnectionAddr::TcpTls { host, port } => {
                    seeds.push(NodeAddr {
                        host: host.clone(),
                        port: *port,
                    });
                }
                ConnectionAddr::Unix(path) => {
                    return Err(Error::invalid_input(format!(
                        "a cluster seed must be a TCP address, not the Unix socket {}",
                        path.display()
                    )));
                }
            }
        }
        let mut node_options = self.node_options.unwrap_or_else(|| first.clone());
        // Whether nodes are reached with TLS is the seeds' scheme.
        node_options.addr = first.addr.clone();
        let config = Config {
            seeds,
            node_options,
            read_from: self.read_from,
            max_redirects: self.max_redirects,
            retry: self.retry,
            require_full_coverage: self.require_full_coverage,
            remap: self.remap,
            discovery_timeout: self.discovery_timeout,
            refresh_interval: self.refresh_interval,
        };
        Ok(ClusterClient {
            state: Arc::new(State::new(config)),
            idle: Arc::default(),
        })
    }
}
