//! The cluster client's core, without IO: the slot map shared by every connection of a
//! client ([`State`]), where each command goes ([`route`]), and what to do after a
//! failure ([`recovery`]). The blocking and tokio drivers send, read the map again when
//! told, and wait; the decisions are made here, once for both.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::batch::Batch;
use crate::cmd::Cmd;
use crate::connection::info::{ConnectionAddr, ConnectionInfo, NodeAddr};
use crate::deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::{RetryPolicy, random_u64};
use crate::script::Script;
use crate::table::CommandInfo;
use crate::types::FromRedisValue;
use crate::value::{RedirectKind, ServerErrorKind, Value};

pub(crate) mod blocking;
pub(crate) mod client;
pub(crate) mod route;
pub(crate) mod scan;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;
pub(crate) mod topology;

use topology::{Moved, Topology};

/// What a node is asked for its availability zone (Valkey 8.1's setting).
pub(crate) const ZONE_QUERY: &str = "CONFIG GET availability-zone";

/// How often a request bound for a primary that failed reads the map first, at most.
const FAILING_REFRESH_GAP: Duration = Duration::from_millis(100);

/// How many nodes a refresh asks for their view of the slot map, when it can.
const VIEWS_WANTED: usize = 3;

/// How many redirections and retries one request follows at most, by default.
pub const DEFAULT_MAX_REDIRECTS: u32 = 16;

/// How long creating a client or reading the slot map again may take at most, by
/// default.
pub const DEFAULT_DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a cluster node may take to connect and to answer, unless the node options
/// say: a frozen node must not hold a request up for ever.
pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the slot map is read again while the client is in use, by default.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// Where read-only commands go. Writes always go to the primary of their slot.
///
/// A command is read-only when the command table flags it `READONLY` (`GET`, `HGETALL`,
/// `XRANGE`...). Replicas serve reads after `READONLY` on their connection, which the
/// client sends when it connects to one; what they return may lag behind the primary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReadFrom {
    /// The primary, always (the default).
    #[default]
    Primary,
    /// The primary and its replicas, in turn.
    RoundRobin,
    /// The replicas, in turn; the primary when the shard has no healthy replica.
    PreferReplica,
    /// The replicas in this availability zone (a node's `availability-zone`), in turn;
    /// then the other replicas, then the primary.
    AvailabilityZone(String),
}

/// The nodes a command is sent to when the caller chooses them, as redis-py's
/// `target_nodes`: see [`ClusterConnection::on_nodes`](crate::ClusterConnection::on_nodes).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Nodes {
    /// Every primary.
    Primaries,
    /// Every replica.
    Replicas,
    /// Every node, primaries and replicas.
    All,
    /// One node, chosen at random.
    Random,
    /// This node.
    Node(NodeAddr),
}

/// Maps the address a node reports to the one to connect to (NAT, containers).
pub type AddressRemap = Arc<dyn Fn(&NodeAddr) -> NodeAddr + Send + Sync>;

/// What a cluster client has met so far: for tests, dashboards and curiosity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterStats {
    /// `MOVED` replies followed.
    pub moved: u64,
    /// `ASK` replies followed.
    pub asked: u64,
    /// Retries after `TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`, `LOADING`, `READONLY`,
    /// `UNBLOCKED` or a connection error.
    pub retries: u64,
    /// Times the slot map was read (or tried), discovery included.
    pub refreshes: u64,
}

/// The counters behind [`ClusterStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    moved: AtomicU64,
    asked: AtomicU64,
    retries: AtomicU64,
}

/// What a cluster client is made of: its seeds, how nodes are connected, and its
/// policies.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) seeds: Vec<NodeAddr>,
    /// The options every node is connected with; the address is the node's.
    pub(crate) node_options: ConnectionInfo,
    pub(crate) read_from: ReadFrom,
    pub(crate) max_redirects: u32,
    pub(crate) retry: RetryPolicy,
    pub(crate) require_full_coverage: bool,
    pub(crate) remap: Option<AddressRemap>,
    pub(crate) discovery_timeout: Duration,
    pub(crate) refresh_interval: Option<Duration>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("seeds", &self.seeds)
            .field("node_options", &self.node_options)
            .field("read_from", &self.read_from)
            .field("max_redirects", &self.max_redirects)
            .field("retry", &self.retry)
            .field("require_full_coverage", &self.require_full_coverage)
            .field("remap", &self.remap.as_ref().map(|_| "..."))
            .field("discovery_timeout", &self.discovery_timeout)
            .field("refresh_interval", &self.refresh_interval)
            .finish()
    }
}

/// What every connection of one cluster client shares: the configuration, the slot map
/// and when it was read, which replica serves next, and the replicas to avoid until the
/// map is read again.
pub(crate) struct State {
    pub(crate) config: Config,
    topology: RwLock<Arc<Topology>>,
    /// Counts every change to the map: a refresh that finds it moved on since it was
    /// asked for has nothing to do.
    version: AtomicU64,
    /// When the state was made; `refreshed` counts from it.
    born: Instant,
    /// When the map was last read (or tried), in nanoseconds since `born`: an atomic,
    /// since every sync request looks at it.
    refreshed: AtomicU64,
    /// Counts the refreshes done (or tried).
    refreshes: AtomicU64,
    /// The names of commands asked about with `COMMAND INFO`, asked once each.
    learning: Mutex<HashSet<Vec<u8>>>,
    next_replica: AtomicUsize,
    /// Nodes whose last request failed with a connection error or a timeout: reads pass
    /// such replicas over until the map is read again, a request bound for such a
    /// primary reads the map first (at most every [`FAILING_REFRESH_GAP`]), and a
    /// refresh asks them last. A primary leaves the set when a request to it succeeds.
    failing: Mutex<HashSet<NodeAddr>>,
    /// Whether `failing` has anything, so that the usual request does not lock it.
    any_failing: std::sync::atomic::AtomicBool,
    /// The availability zone of each node met so far.
    zones: RwLock<std::collections::HashMap<NodeAddr, String>>,
    /// Held by the one sync refresh under way.
    pub(crate) refreshing: Mutex<()>,
    counters: Counters,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("config", &self.config)
            .field("topology", &self.topology())
            .finish_non_exhaustive()
    }
}

impl State {
    pub(crate) fn new(mut config: Config) -> State {
        let options = &mut config.node_options;
        if options.socket_connect_timeout.is_none() {
            options.socket_connect_timeout =
                Some(options.socket_timeout.unwrap_or(DEFAULT_NODE_TIMEOUT));
        }
        if options.socket_timeout.is_none() {
            options.socket_timeout = Some(DEFAULT_NODE_TIMEOUT);
        }
        State {
            config,
            topology: RwLock::new(Arc::new(Topology::empty())),
            version: AtomicU64::new(0),
            born: Instant::now(),
            refreshed: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            learning: Mutex::default(),
            next_replica: AtomicUsize::new(0),
            failing: Mutex::default(),
            any_failing: std::sync::atomic::AtomicBool::new(false),
            zones: RwLock::default(),
            refreshing: Mutex::new(()),
            counters: Counters::default(),
        }
    }

    /// The slot map now.
    pub(crate) fn topology(&self) -> Arc<Topology> {
        Arc::clone(&self.topology.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// How many times the map changed.
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// `true` once the refresh interval passed since the map was last read.
    pub(crate) fn refresh_due(&self) -> bool {
        let Some(every) = self.config.refresh_interval else {
            return false;
        };
        self.since_refresh() >= every
    }

    /// How long ago the map was last read (or tried).
    fn since_refresh(&self) -> Duration {
        let now = self.born.elapsed();
        now.saturating_sub(Duration::from_nanos(self.refreshed.load(Ordering::Acquire)))
    }

    /// Notes that the map was just read (or tried), so the next periodic refresh waits
    /// for the interval again.
    pub(crate) fn mark_refreshed(&self) {
        let now = u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.refreshed.store(now, Ordering::Release);
        self.refreshes.fetch_add(1, Ordering::AcqRel);
    }

    /// What the client met so far.
    pub(crate) fn stats(&self) -> ClusterStats {
        let c = &self.counters;
        ClusterStats {
            moved: c.moved.load(Ordering::Relaxed),
            asked: c.asked.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            refreshes: self.refreshes(),
        }
    }

    /// Counts a recovery about to be followed.
    pub(crate) fn count(&self, recovery: &Recovery) {
        let counter = match recovery {
            Recovery::Moved { .. } => &self.counters.moved,
            Recovery::Ask(_) => &self.counters.asked,
            Recovery::Retry { .. } => &self.counters.retries,
            Recovery::Fail { .. } => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// How many refreshes were done or tried.
    pub(crate) fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Acquire)
    }

    /// `true` the first time a command the table does not know is met: it is then asked
    /// about with `COMMAND INFO`, once.
    pub(crate) fn should_learn(&self, name: &[u8]) -> bool {
        let mut learning = self.learning.lock().unwrap_or_else(PoisonError::into_inner);
        learning.insert(name.to_ascii_uppercase())
    }

    /// Whether nodes are reached with TLS.
    pub(crate) fn tls(&self) -> bool {
        matches!(self.config.node_options.addr, ConnectionAddr::TcpTls { .. })
    }

    /// The options a node is connected with.
    pub(crate) fn node_info(&self, addr: &NodeAddr) -> ConnectionInfo {
        let mut info = self.config.node_options.clone();
        let (host, port) = (addr.host.clone(), addr.port);
        info.addr = if self.tls() {
            ConnectionAddr::TcpTls { host, port }
        } else {
            ConnectionAddr::Tcp { host, port }
        };
        info
    }

    /// The address to connect to for one a node reported.
    pub(crate) fn remap(&self, addr: NodeAddr) -> NodeAddr {
        match &self.config.remap {
            Some(remap) => remap(&addr),
            None => addr,
        }
    }

    /// The nodes to ask for the slot map, in order: the known primaries (in a random
    /// order, so that clients spread), their replicas, then the seeds, each once; those
    /// that failed last (flagged `true`), to be asked only when no other answered.
    pub(crate) fn candidates(&self) -> Vec<(NodeAddr, bool)> {
        let topology = self.topology();
        let mut primaries: Vec<&NodeAddr> = topology.shards().iter().map(|s| &s.primary).collect();
        if !primaries.is_empty() {
            let turn = random_u64() as usize % primaries.len();
            primaries.rotate_left(turn);
        }
        let replicas = topology.nodes().skip(primaries.len());
        let mut all: Vec<NodeAddr> = Vec::new();
        for addr in primaries
            .into_iter()
            .chain(replicas)
            .chain(&self.config.seeds)
        {
            if !all.contains(addr) {
                all.push(addr.clone());
            }
        }
        // Nodes that failed last, and only when no other answers: one that does not
        // answer would spend the refresh's time.
        let failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        all.sort_by_key(|addr| failing.contains(addr));
        all.into_iter()
            .map(|addr| {
                let failed = failing.contains(&addr);
                (addr, failed)
            })
            .collect()
    }

    /// Whether enough views were gathered for a refresh.
    pub(crate) fn enough_views(views: usize) -> bool {
        views >= VIEWS_WANTED
    }

    /// Takes the view most of the nodes asked agree on as the new map. With
    /// `require_full_coverage`, a map that leaves a slot unserved is refused, and the
    /// old one stays.
    ///
    /// # Errors
    ///
    /// No node answered (each node's reason is listed), or the map is partial.
    pub(crate) fn install(
        &self,
        views: Vec<Topology>,
        failures: &[(NodeAddr, Error)],
    ) -> Result<()> {
        self.mark_refreshed();
        let answered = views.len();
        let Some((mut topology, _)) = topology::agreed(views) else {
            let mut reasons: Vec<String> = failures
                .iter()
                .map(|(addr, e)| format!("{addr}: {e}"))
                .collect();
            if answered > 0 {
                reasons.push(format!("{answered} nodes answered, serving no slot yet"));
            }
            if reasons.is_empty() {
                reasons.push("no node to ask".to_owned());
            }
            return Err(Error::new(
                ErrorKind::Connection,
                format!("cannot read the cluster's slot map: {}", reasons.join("; ")),
            ));
        };
        if self.config.require_full_coverage && topology.uncovered() > 0 {
            return Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "the cluster does not serve every slot (missing: {}); set \
                     require_full_coverage(false) to use it anyway",
                    topology.uncovered_ranges()
                ),
            ));
        }
        if let Some(remap) = &self.config.remap {
            topology.remap(remap.as_ref());
        }
        let mut current = self
            .topology
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if **current != topology {
            *current = Arc::new(topology);
            self.version.fetch_add(1, Ordering::AcqRel);
        }
        let primaries: HashSet<&NodeAddr> = current.shards().iter().map(|s| &s.primary).collect();
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        failing.retain(|addr| primaries.contains(addr));
        self.any_failing
            .store(!failing.is_empty(), Ordering::Release);
        Ok(())
    }

    /// `true` when one node's view is the map as it is (once remapped): the periodic
    /// check, which then counts as a refresh.
    pub(crate) fn confirms(&self, mut view: Topology) -> bool {
        if let Some(remap) = &self.config.remap {
            view.remap(remap.as_ref());
        }
        let same = *self.topology() == view;
        if same {
            self.mark_refreshed();
        }
        same
    }

    /// Patches the map for `MOVED slot addr`; `true` when the map should be read again
    /// (a failover, or a node it did not know).
    pub(crate) fn moved(&self, slot: u16, addr: &NodeAddr) -> bool {
        let mut current = self
            .topology
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut patched = (**current).clone();
        let moved = patched.moved(slot, addr);
        *current = Arc::new(patched);
        self.version.fetch_add(1, Ordering::AcqRel);
        moved != Moved::Migrated
    }

    /// Notes that a node failed with a connection error or a timeout.
    pub(crate) fn failed(&self, addr: &NodeAddr) {
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        failing.insert(addr.clone());
        self.any_failing.store(true, Ordering::Release);
    }

    /// Notes that a request to a node succeeded.
    pub(crate) fn answered(&self, addr: &NodeAddr) {
        if self.any_failing.load(Ordering::Acquire) {
            let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
            failing.remove(addr);
            self.any_failing
                .store(!failing.is_empty(), Ordering::Release);
        }
    }

    /// `true` when a request bound for `addr` should read the map first: the node
    /// failed last time, and the map was not read in the last [`FAILING_REFRESH_GAP`].
    pub(crate) fn refresh_before(&self, addr: &NodeAddr) -> bool {
        if !self.any_failing.load(Ordering::Acquire) {
            return false;
        }
        let failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        if !failing.contains(addr) {
            return false;
        }
        drop(failing);
        self.since_refresh() >= FAILING_REFRESH_GAP
    }

    /// The nodes whose availability zone is to be asked: every node of the map not
    /// asked yet, when reads follow a zone; none otherwise.
    pub(crate) fn zones_unknown(&self) -> Vec<NodeAddr> {
        if !matches!(self.config.read_from, ReadFrom::AvailabilityZone(_)) {
            return Vec::new();
        }
        let zones = self.zones.read().unwrap_or_else(PoisonError::into_inner);
        let topology = self.topology();
        topology
            .nodes()
            .filter(|addr| !zones.contains_key(*addr))
            .cloned()
            .collect()
    }

    /// Notes a node's availability zone from its reply to [`ZONE_QUERY`]: none (empty)
    /// when the server has no such setting.
    pub(crate) fn set_zone(&self, addr: &NodeAddr, reply: Result<Value>) {
        let zone = match reply {
            Ok(Value::Array(pair)) => match pair.get(1) {
                Some(Value::BulkString(zone)) => String::from_utf8_lossy(zone).into_owned(),
                _ => String::new(),
            },
            Ok(Value::Map(pairs)) => match pairs.first() {
                Some((_, Value::BulkString(zone))) => String::from_utf8_lossy(zone).into_owned(),
                _ => String::new(),
            },
            Ok(_) => String::new(),
            // Not reachable now: asked again after the next refresh.
            Err(_) => return,
        };
        let mut zones = self.zones.write().unwrap_or_else(PoisonError::into_inner);
        zones.insert(addr.clone(), zone);
    }

    /// The node that serves a command for `slot`: the primary, or for a read-only
    /// command, a node chosen by [`ReadFrom`].
    ///
    /// # Errors
    ///
    /// No shard serves the slot.
    pub(crate) fn node_for(&self, slot: u16, read_only: bool) -> Result<NodeAddr> {
        let topology = self.topology();
        let shard = topology.shard(slot).ok_or_else(|| route::uncovered(slot))?;
        if !read_only || self.config.read_from == ReadFrom::Primary {
            return Ok(shard.primary.clone());
        }
        let failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        let healthy: Vec<&NodeAddr> = shard
            .replicas
            .iter()
            .filter(|r| !failing.contains(*r))
            .collect();
        drop(failing);
        let turn = self.next_replica.fetch_add(1, Ordering::Relaxed);
        let pick = |nodes: &[&NodeAddr]| {
            nodes
                .get(turn % nodes.len().max(1))
                .map(|&addr| addr.clone())
        };
        let chosen = match &self.config.read_from {
            ReadFrom::Primary => None,
            ReadFrom::RoundRobin => {
                let mut all = vec![&shard.primary];
                all.extend(healthy);
                pick(&all)
            }
            ReadFrom::PreferReplica => pick(&healthy),
            ReadFrom::AvailabilityZone(zone) => {
                let zones = self.zones.read().unwrap_or_else(PoisonError::into_inner);
                let local: Vec<&NodeAddr> = healthy
                    .iter()
                    .copied()
                    .filter(|r| zones.get(*r) == Some(zone))
                    .collect();
                drop(zones);
                pick(&local).or_else(|| pick(&healthy))
            }
        };
        Ok(chosen.unwrap_or_else(|| shard.primary.clone()))
    }

    /// Any primary, for a keyless command.
    ///
    /// # Errors
    ///
    /// The map has no shard yet.
    pub(crate) fn any_primary(&self) -> Result<NodeAddr> {
        let topology = self.topology();
        let shards = topology.shards();
        let turn = random_u64() as usize % shards.len().max(1);
        shards
            .get(turn)
            .map(|s| s.primary.clone())
            .ok_or_else(no_nodes)
    }

    /// Every primary, or every node, for a command that fans out.
    pub(crate) fn fan_out(&self, all_nodes: bool) -> Vec<NodeAddr> {
        let topology = self.topology();
        if all_nodes {
            topology.nodes().cloned().collect()
        } else {
            topology
                .shards()
                .iter()
                .map(|s| s.primary.clone())
                .collect()
        }
    }

    /// The nodes `nodes` names now.
    pub(crate) fn chosen(&self, nodes: &Nodes) -> Vec<NodeAddr> {
        let topology = self.topology();
        match nodes {
            Nodes::Primaries => topology
                .shards()
                .iter()
                .map(|s| s.primary.clone())
                .collect(),
            Nodes::Replicas => topology
                .nodes()
                .skip(topology.shards().len())
                .cloned()
                .collect(),
            Nodes::All => topology.nodes().cloned().collect(),
            Nodes::Random => {
                let all: Vec<&NodeAddr> = topology.nodes().collect();
                let pick = random_u64() as usize % all.len().max(1);
                all.get(pick).map(|&a| a.clone()).into_iter().collect()
            }
            Nodes::Node(addr) => vec![addr.clone()],
        }
    }

    /// How long one request may take with its retries: the nodes' socket timeout.
    pub(crate) fn request_deadline(&self) -> Option<Instant> {
        deadline::after(
            self.config
                .node_options
                .socket_timeout
                .unwrap_or(DEFAULT_NODE_TIMEOUT),
        )
    }
}

/// Where one request goes, once routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// The node serving this slot (the primary, or for a read a node [`ReadFrom`] picks).
    Slot(u16),
    /// Any primary.
    AnyPrimary,
    /// This node, and no other: redirections are not followed.
    Node(NodeAddr),
}

impl State {
    /// The node `target` names now.
    ///
    /// # Errors
    ///
    /// The slot is not served, or the map has no node.
    pub(crate) fn resolve(&self, target: &Target, read_only: bool) -> Result<NodeAddr> {
        match target {
            Target::Slot(slot) => self.node_for(*slot, read_only),
            Target::AnyPrimary => self.any_primary(),
            Target::Node(addr) => Ok(addr.clone()),
        }
    }
}

/// The one slot of an atomic batch (a transaction), whose commands must all share it;
/// `None` when no command has a key.
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] naming two of the slots, before anything is sent.
pub(crate) fn atomic_slot(batch: &crate::batch::Batch) -> Result<Option<u16>> {
    let mut first: Option<u16> = None;
    for cmd in batch.cmds() {
        for slot in route::slots_of(&cmd) {
            match first {
                None => first = Some(slot),
                Some(seen) if seen != slot => {
                    return Err(Error::invalid_input(format!(
                        "a transaction's keys map to different slots ({seen} and {slot}): in \
                         a cluster every key of a transaction must share a slot (use a hash \
                         tag: {{user1}}.a, {{user1}}.b)"
                    )));
                }
                Some(_) => {}
            }
        }
    }
    Ok(first)
}

/// Commands bound for several nodes, as both drivers send them: one batch per node,
/// then on their own, by [`recovery`]'s rules, each command a node redirected or failed.
/// This holds who goes where and the replies so far; the drivers only send.
pub(crate) struct Grouped {
    replies: Vec<Option<Value>>,
    /// Each node and the indices of the commands bound for it.
    groups: Vec<(NodeAddr, Vec<usize>)>,
    /// Commands to run on their own.
    alone: Vec<usize>,
}

impl Grouped {
    /// Groups `cmds` by the node serving each now; one whose slot is not served runs on
    /// its own (after the map is read again).
    pub(crate) fn new(state: &State, cmds: &[(Cmd, Target)]) -> Grouped {
        let mut groups: Vec<(NodeAddr, Vec<usize>)> = Vec::new();
        let mut alone = Vec::new();
        for (idx, (command, target)) in cmds.iter().enumerate() {
            let read_only = command.info().is_some_and(CommandInfo::is_readonly);
            match state.resolve(target, read_only) {
                Ok(addr) => match groups.iter_mut().find(|(a, _)| *a == addr) {
                    Some((_, members)) => members.push(idx),
                    None => groups.push((addr, vec![idx])),
                },
                Err(_) => alone.push(idx),
            }
        }
        Grouped {
            replies: vec![None; cmds.len()],
            groups,
            alone,
        }
    }

    /// The batches to send: each node, the indices of its commands, and the batch (the
    /// scripts loaded first).
    pub(crate) fn batches(
        &mut self,
        cmds: &[(Cmd, Target)],
        scripts: &[Script],
    ) -> Vec<(NodeAddr, Vec<usize>, Batch)> {
        std::mem::take(&mut self.groups)
            .into_iter()
            .map(|(addr, members)| {
                let mut batch = Batch::new();
                for script in scripts {
                    batch.load_script(script);
                }
                for &idx in &members {
                    if let Some((command, _)) = cmds.get(idx) {
                        batch.push(command);
                    }
                }
                (addr, members, batch)
            })
            .collect()
    }

    /// Takes a node's replies: each in its place, but a redirection or another reply to
    /// retry sends its command again on its own.
    pub(crate) fn answered(&mut self, members: &[usize], values: Vec<Value>) {
        for (&idx, value) in members.iter().zip(values) {
            let retry = match &value {
                Value::ServerError(e) => {
                    let error = Error::from(e.clone());
                    !matches!(recovery(&error, true, false), Recovery::Fail { .. })
                }
                _ => false,
            };
            if retry {
                self.alone.push(idx);
            } else {
                self.place(idx, value);
            }
        }
    }

    /// Takes a node's failure: its commands run again on their own where that is safe.
    ///
    /// # Errors
    ///
    /// `error`, when one of the commands may have run and does not only read.
    pub(crate) fn failed(
        &mut self,
        cmds: &[(Cmd, Target)],
        members: &[usize],
        error: Error,
        sent: bool,
    ) -> Result<()> {
        for &idx in members {
            let read_only = cmds
                .get(idx)
                .and_then(|(c, _)| c.info())
                .is_some_and(CommandInfo::is_readonly);
            if let Recovery::Fail { .. } = recovery(&error, sent, read_only) {
                return Err(error);
            }
            self.alone.push(idx);
        }
        Ok(())
    }

    /// The commands left to run on their own, in order.
    pub(crate) fn take_alone(&mut self) -> Vec<usize> {
        let mut alone = std::mem::take(&mut self.alone);
        alone.sort_unstable();
        alone
    }

    /// Puts the reply of command `idx` in its place.
    pub(crate) fn place(&mut self, idx: usize, value: Value) {
        if let Some(place) = self.replies.get_mut(idx) {
            *place = Some(value);
        }
    }

    /// The replies in the commands' order.
    pub(crate) fn finish(self) -> Vec<Value> {
        self.replies
            .into_iter()
            .map(|reply| reply.unwrap_or(Value::Nil))
            .collect()
    }
}

/// A command's reply as a value: an error reply as [`Value::ServerError`], other errors
/// returned.
pub(crate) fn reply_value(reply: Result<Value>) -> Result<Value> {
    match reply {
        Ok(value) => Ok(value),
        Err(e) => match e.server_error() {
            Some(server) => Ok(Value::ServerError(server.clone())),
            None => Err(e),
        },
    }
}

/// `true` for an error after which a connection is no longer used.
pub(crate) fn breaks_connection(error: &Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::Connection | ErrorKind::Timeout | ErrorKind::Protocol
    )
}

/// A merged reply converted to what the caller asked for; an error reply as an error.
pub(crate) fn convert<T: FromRedisValue>(value: Value) -> Result<T> {
    match value {
        Value::ServerError(e) => Err(e.into()),
        value => T::from_redis_value(value),
    }
}

fn no_nodes() -> Error {
    Error::new(
        ErrorKind::Connection,
        "the cluster's slot map has no node yet",
    )
}

/// What to do after a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// The slot has a new owner: patch the map (and read it again when the patch says),
    /// then send there.
    Moved { slot: u16, addr: NodeAddr },
    /// Send `ASKING` and the command to this node, once; the map stays.
    Ask(NodeAddr),
    /// Wait a little (reading the map again first when `refresh`), then route again.
    Retry { refresh: bool },
    /// Return the error; read the map again first when `refresh`.
    Fail { refresh: bool },
}

/// What to do after `error`, for a request that was `sent` (or may have been), of a
/// command that only reads when `read_only`.
///
/// - `MOVED`: patch and follow; `ASK`: follow once with `ASKING`.
/// - `TRYAGAIN` (a multi-key command in a slot migrating), `MASTERDOWN`, `LOADING`: wait
///   and try again; `CLUSTERDOWN` also reads the map again.
/// - `READONLY` (a write reached a primary turned replica) and `UNBLOCKED` (a blocked
///   client whose node failed over): read the map again and retry; nothing ran.
/// - A connection error: retried only when nothing was sent or the command only reads;
///   a write that may have run is returned, never sent again. The map is read again
///   either way. A timeout is returned: the request's time is spent.
pub(crate) fn recovery(error: &Error, sent: bool, read_only: bool) -> Recovery {
    if let Some(redirect) = error.redirect() {
        return match redirect.kind {
            RedirectKind::Moved => Recovery::Moved {
                slot: redirect.slot,
                addr: parse_addr(&redirect.address),
            },
            RedirectKind::Ask => Recovery::Ask(parse_addr(&redirect.address)),
        };
    }
    if let Some(server) = error.server_error() {
        return match server.kind() {
            ServerErrorKind::TryAgain | ServerErrorKind::MasterDown | ServerErrorKind::Loading => {
                Recovery::Retry { refresh: false }
            }
            ServerErrorKind::ClusterDown | ServerErrorKind::ReadOnly => {
                Recovery::Retry { refresh: true }
            }
            _ if server.code() == "UNBLOCKED" => Recovery::Retry { refresh: true },
            _ => Recovery::Fail { refresh: false },
        };
    }
    match error.kind() {
        ErrorKind::Connection if !sent || read_only => Recovery::Retry { refresh: true },
        ErrorKind::Connection | ErrorKind::Timeout => Recovery::Fail { refresh: true },
        _ => Recovery::Fail { refresh: false },
    }
}

/// A node's address as a redirection names it: `host:port`, `[v6]:port`.
fn parse_addr(address: &str) -> NodeAddr {
    let (host, port) = address.rsplit_once(':').unwrap_or((address, "0"));
    let host = host.trim_start_matches('[').trim_end_matches(']');
    NodeAddr {
        host: host.to_owned(),
        port: port.parse().unwrap_or(0),
    }
}

/// The tries one request may still make: redirections and retries together, within the
/// request's deadline.
pub(crate) struct Attempts {
    left: u32,
    retries: u32,
    /// The nodes that redirected or failed this request so far.
    failed_at: Vec<NodeAddr>,
    /// `None`: no deadline.
    deadline: Option<Instant>,
}

impl Attempts {
    pub(crate) fn new(state: &State) -> Attempts {
        Attempts {
            left: state.config.max_redirects.max(1),
            retries: 0,
            failed_at: Vec::new(),
            deadline: state.request_deadline(),
        }
    }

    /// Notes that `addr` redirected or failed the request.
    pub(crate) fn failed_at(&mut self, addr: &NodeAddr) {
        if !self.failed_at.contains(addr) {
            self.failed_at.push(addr.clone());
        }
    }

    /// `true` when a redirection to `addr` sends the request back to a node that
    /// redirected it already: the nodes disagree for a moment (a slot handed over on one
    /// and not yet on the other), and following at once would spend every try.
    pub(crate) fn bounced(&self, addr: &NodeAddr) -> bool {
        self.failed_at.contains(addr)
    }

    /// Takes one try; `false` when none is left.
    pub(crate) fn take(&mut self) -> bool {
        if self.left == 0 || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        self.left -= 1;
        true
    }

    /// How long to wait before the next retry; `None` when the wait would pass the
    /// deadline.
    pub(crate) fn wait(&mut self, retry: &RetryPolicy) -> Option<Duration> {
        let wait = retry.delay(self.retries);
        self.retries += 1;
        match self.deadline {
            None => Some(wait),
            Some(deadline) => {
                let left = deadline.checked_duration_since(Instant::now())?;
                (wait < left).then_some(wait)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{ServerError, Value};

    fn server(line: &str) -> Error {
        ServerError::new(line).into()
    }

    #[test]
    fn recovery_follows_the_reply() {
        let moved = recovery(&server("MOVED 3999 127.0.0.1:7002"), true, false);
        assert_eq!(
            moved,
            Recovery::Moved {
                slot: 3999,
                addr: NodeAddr {
                    host: "127.0.0.1".into(),
                    port: 7002
                }
            }
        );
        let ask = recovery(&server("ASK 1 [::1]:7003"), true, false);
        assert_eq!(
            ask,
            Recovery::Ask(NodeAddr {
                host: "::1".into(),
                port: 7003
            })
        );
        for line in ["TRYAGAIN x", "MASTERDOWN x", "LOADING x"] {
            assert_eq!(
                recovery(&server(line), true, false),
                Recovery::Retry { refresh: false }
            );
        }
        for line in ["CLUSTERDOWN x", "READONLY x", "UNBLOCKED x"] {
            assert_eq!(
                recovery(&server(line), true, false),
                Recovery::Retry { refresh: true }
            );
        }
        assert_eq!(
            recovery(&server("WRONGTYPE x"), true, false),
            Recovery::Fail { refresh: false }
        );
    }

    fn state(require_full_coverage: bool) -> State {
        State::new(Config {
            seeds: Vec::new(),
            node_options: ConnectionInfo::default(),
            read_from: ReadFrom::Primary,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            retry: RetryPolicy::default(),
            require_full_coverage,
            remap: None,
            discovery_timeout: DEFAULT_DISCOVERY_TIMEOUT,
            refresh_interval: None,
        })
    }

    /// A view where one node serves slots 0 to `last`.
    fn partial(last: i64) -> Topology {
        let node = Value::Array(vec![
            Value::BulkString("port".into()),
            Value::Int(7000),
            Value::BulkString("ip".into()),
            Value::BulkString("127.0.0.1".into()),
            Value::BulkString("role".into()),
            Value::BulkString("master".into()),
        ]);
        let shard = Value::Array(vec![
            Value::BulkString("slots".into()),
            Value::Array(vec![Value::Int(0), Value::Int(last)]),
            Value::BulkString("nodes".into()),
            Value::Array(vec![node]),
        ]);
        let asked = NodeAddr {
            host: "127.0.0.1".into(),
            port: 7000,
        };
        Topology::from_shards(Value::Array(vec![shard]), &asked, false).unwrap()
    }

    #[test]
    fn a_partial_map_is_refused_when_full_coverage_is_required() {
        let strict = state(true);
        let e = strict.install(vec![partial(99)], &[]).unwrap_err();
        assert!(e.to_string().contains("100-16383"), "{e}");
        assert_eq!(strict.version(), 0, "the old map stays");
        assert!(strict.install(vec![partial(16383)], &[]).is_ok());
        assert_eq!(strict.version(), 1);

        let lenient = state(false);
        lenient.install(vec![partial(99)], &[]).unwrap();
        assert_eq!(lenient.node_for(5, false).unwrap().port, 7000);
        let e = lenient.node_for(500, false).unwrap_err();
        assert!(e.to_string().contains("slot 500"), "{e}");
        let none = lenient.install(
            Vec::new(),
            &[(
                NodeAddr {
                    host: "h".into(),
                    port: 1,
                },
                Error::new(ErrorKind::Connection, "refused"),
            )],
        );
        assert!(none.unwrap_err().to_string().contains("h:1: refused"));
    }

    #[test]
    fn a_redirection_back_to_a_node_that_redirected_is_a_bounce() {
        let state = state(true);
        let mut attempts = Attempts::new(&state);
        let (a, b) = (
            NodeAddr {
                host: "a".into(),
                port: 1,
            },
            NodeAddr {
                host: "b".into(),
                port: 2,
            },
        );
        attempts.failed_at(&a);
        assert!(!attempts.bounced(&b));
        attempts.failed_at(&b);
        assert!(attempts.bounced(&a));
    }

    #[test]
    fn a_write_that_may_have_run_is_never_sent_again() {
        let lost = Error::new(ErrorKind::Connection, "connection reset");
        assert_eq!(
            recovery(&lost, true, false),
            Recovery::Fail { refresh: true }
        );
        assert_eq!(
            recovery(&lost, false, false),
            Recovery::Retry { refresh: true }
        );
        assert_eq!(
            recovery(&lost, true, true),
            Recovery::Retry { refresh: true }
        );
        let timeout = Error::new(ErrorKind::Timeout, "timed out");
        assert_eq!(
            recovery(&timeout, true, true),
            Recovery::Fail { refresh: true }
        );
    }
}
