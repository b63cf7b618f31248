//! [`ClusterClient`]: the entry point to a Redis Cluster, and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::blocking::{ClusterConnection, refresh};
use super::{
    AddressRemap, Config, DEFAULT_DISCOVERY_TIMEOUT, DEFAULT_MAX_REDIRECTS,
    DEFAULT_REFRESH_INTERVAL, ReadFrom, State,
};
use crate::connection::info::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, NodeAddr};
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

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
}

impl fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterClient")
            .field("state", &self.state)
            .finish()
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
        })
    }
}
