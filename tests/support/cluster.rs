//! Throwaway clusters: primaries and replicas on loopback, set up with the cluster
//! commands themselves (no `redis-cli` needed), ready only when every node agrees.
//!
//! Every node is a [`RedisServer`], so each is killed and cleaned up when the cluster is
//! dropped, also when a test panics.

use std::collections::BTreeSet;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::{Duration, Instant};

use respec::{Connection, ProtocolVersion, cmd};

use super::server::{RedisServer, ServerKind};

/// How long a new cluster may take to agree on its shape.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The slots of a cluster.
pub const SLOTS: u16 = 16_384;

/// The 3+3 cluster of this test binary, started by the first test that asks and killed
/// when the last one holding it lets go.
pub fn shared() -> SharedCluster {
    static SHARED: Mutex<Weak<RwLock<Cluster>>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    let cluster = slot.upgrade().unwrap_or_else(|| {
        let fresh = Arc::new(RwLock::new(Cluster::start(3, 1)));
        *slot = Arc::downgrade(&fresh);
        fresh
    });
    drop(slot);
    SharedCluster(cluster)
}

/// A hold on the shared cluster. Tests that leave its shape alone [`read`] it together;
/// one that fails nodes over, kills, freezes or moves slots [`write`]s it, alone, and
/// leaves it whole again when done (also on panic).
///
/// [`read`]: SharedCluster::read
/// [`write`]: SharedCluster::write
pub struct SharedCluster(Arc<RwLock<Cluster>>);

impl SharedCluster {
    /// The cluster, shared with the other readers; made whole first if a test that
    /// disrupted it failed before it could.
    pub fn read(&self) -> RwLockReadGuard<'_, Cluster> {
        if self.0.is_poisoned() {
            drop(self.write());
        }
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cluster, alone; made whole again when the guard goes, or by the next test if
    /// this one panics.
    pub fn write(&self) -> Disrupting<'_> {
        let mut cluster = self.0.write().unwrap_or_else(|poisoned| {
            self.0.clear_poison();
            poisoned.into_inner()
        });
        // A test that panicked while holding it left it as it was.
        if cluster.unsettled {
            cluster.settle();
        }
        cluster.unsettled = true;
        Disrupting(cluster)
    }
}

/// The cluster held by a test that changes its shape; see [`SharedCluster::write`].
pub struct Disrupting<'a>(RwLockWriteGuard<'a, Cluster>);

impl Deref for Disrupting<'_> {
    type Target = Cluster;

    fn deref(&self) -> &Cluster {
        &self.0
    }
}

impl DerefMut for Disrupting<'_> {
    fn deref_mut(&mut self) -> &mut Cluster {
        &mut self.0
    }
}

impl Drop for Disrupting<'_> {
    fn drop(&mut self) {
        // Settling asserts; a second panic during a panic would abort the binary and
        // leave the servers running, so a failed test leaves it to the next one.
        if !std::thread::panicking() {
            self.0.settle();
            self.0.unsettled = false;
        }
    }
}

/// A running cluster: `primaries` first in [`Cluster::nodes`], then their replicas.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<RedisServer>,
    ids: Vec<String>,
    primaries: usize,
    /// Set while a test that disrupts it holds it, cleared once it is settled.
    unsettled: bool,
    /// The password every node requires, for a secured cluster.
    password: Option<&'static str>,
}

/// The password of a secured cluster's nodes ([`Cluster::start_secured`]).
pub const SECURED_PASSWORD: &str = "cluster-secret";

impl Cluster {
    /// Starts `primaries` primaries, the slots split evenly between them in order, each
    /// with `replicas` replicas, and waits until every node sees every other and the
    /// cluster's state is ok everywhere, with every replica in sync.
    ///
    /// # Panics
    ///
    /// When a node does not start or the cluster does not come together in time.
    pub fn start(primaries: usize, replicas: usize) -> Cluster {
        Cluster::start_with(primaries, replicas, false)
    }

    /// As [`Cluster::start`], every node requiring [`SECURED_PASSWORD`] (replicas
    /// authenticate with it too) and, where the server has TLS, listening for TLS on a
    /// port of its own, the cluster bus and replication over TLS as well.
    pub fn start_secured(primaries: usize, replicas: usize) -> Cluster {
        Cluster::start_with(primaries, replicas, true)
    }

    fn start_with(primaries: usize, replicas: usize, secured: bool) -> Cluster {
        assert!(primaries > 0, "a cluster needs a primary");
        let total = primaries * (1 + replicas);
        let password = secured.then_some(SECURED_PASSWORD);
        let nodes: Vec<RedisServer> = (0..total).map(|_| start_node(secured)).collect();
        let mut cons: Vec<Connection> = nodes.iter().map(|n| connect(n, password)).collect();
        let ids: Vec<String> = cons
            .iter_mut()
            .map(|con| cmd("CLUSTER MYID").query(con).expect("CLUSTER MYID"))
            .collect();

        for (idx, con) in cons.iter_mut().take(primaries).enumerate() {
            let (first, last) = slot_range(idx, primaries);
            cmd("CLUSTER ADDSLOTSRANGE")
                .arg(first)
                .arg(last)
                .exec(con)
                .expect("CLUSTER ADDSLOTSRANGE");
        }
        let (head, rest) = cons.split_first_mut().expect("a node");
        for node in &nodes[1..] {
            // With the bus over TLS, a node's bus port follows its TLS port.
            cmd("CLUSTER MEET")
                .arg("127.0.0.1")
                .arg(node.tls_port().unwrap_or(node.port()))
                .exec(head)
                .expect("CLUSTER MEET");
        }
        let cluster = Cluster {
            nodes,
            ids,
            primaries,
            unsettled: false,
            password,
        };
        cluster.wait_until("every node knows every other", |con| {
            known_nodes(con) == total
        });
        for (idx, con) in rest.iter_mut().enumerate().skip(primaries - 1) {
            let replica = idx + 1;
            let primary = (replica - primaries) % primaries;
            cmd("CLUSTER REPLICATE")
                .arg(&cluster.ids[primary])
                .exec(con)
                .expect("CLUSTER REPLICATE");
        }
        cluster.wait_until("the cluster state is ok on every node", |con| {
            let info: String = cmd("CLUSTER INFO").query(con).unwrap_or_default();
            info.contains("cluster_state:ok")
        });
        cluster.wait_until("every node sees every replica", |con| {
            replicas_seen(con) == primaries * replicas
        });
        for replica in &cluster.nodes[primaries..] {
            let mut con = connect(replica, password);
            wait_for("a replica to sync", || {
                let info: String = cmd("INFO")
                    .arg("replication")
                    .query(&mut con)
                    .unwrap_or_default();
                info.contains("master_link_status:up")
            });
        }
        cluster
    }

    /// Every node: primaries first, in slot order, then the replicas.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The primaries, in slot order.
    pub fn primaries(&self) -> &[RedisServer] {
        &self.nodes[..self.primaries]
    }

    /// The node id of node `idx` (in [`Cluster::nodes`] order).
    pub fn id(&self, idx: usize) -> &str {
        &self.ids[idx]
    }

    /// The index of the primary that serves `slot` at the start.
    pub fn primary_of(&self, slot: u16) -> usize {
        (0..self.primaries)
            .find(|&idx| {
                let (first, last) = slot_range(idx, self.primaries);
                (first..=last).contains(&slot)
            })
            .expect("every slot has a primary")
    }

    /// Makes the cluster whole again after a test: frozen nodes thawed, killed ones
    /// restarted (they rejoin as they were, or as replicas of who took over), every slot
    /// served, and every node seeing every replica in sync.
    pub fn settle(&mut self) {
        for node in &mut self.nodes {
            if node.is_running() {
                node.thaw();
            } else {
                node.restart();
            }
        }
        let total = self.nodes.len();
        let replicas = total - self.primaries;
        self.wait_until("every node knows every other, none failing", |con| {
            let nodes: String = cmd("CLUSTER NODES").query(con).unwrap_or_default();
            nodes.lines().count() == total
                && !nodes.contains("fail")
                && !nodes.contains("handshake")
        });
        self.wait_until("the cluster state is ok on every node", |con| {
            let info: String = cmd("CLUSTER INFO").query(con).unwrap_or_default();
            info.contains("cluster_state:ok")
        });
        self.wait_until("every node sees every replica", |con| {
            replicas_seen(con) == replicas
        });
        self.wait_until("every replica is in sync", |con| {
            let info: String = cmd("INFO")
                .arg("replication")
                .query(con)
                .unwrap_or_default();
            info.contains("role:master") || info.contains("master_link_status:up")
        });
    }

    /// The URL of every node, for a client's seeds.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes that are primaries now (after failovers, not those started as such).
    pub fn primary_indices(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&idx| {
                let mut con = connect(&self.nodes[idx], self.password);
                let role: Vec<respec::Value> = cmd("ROLE").query(&mut con).expect("ROLE");
                matches!(role.first(), Some(respec::Value::BulkString(r)) if &r[..] == b"master")
            })
            .collect()
    }

    /// The index of the primary serving `slot` now.
    pub fn serving(&self, slot: u16) -> usize {
        self.index_of(self.primary_port_of(slot))
    }

    /// The index of the (first) replica of primary `primary`.
    pub fn replica_of(&self, primary: usize) -> usize {
        let ports = self.replica_ports_of(self.nodes[primary].port());
        self.index_of(*ports.first().expect("the primary has a replica"))
    }

    /// The index of a primary other than `not`.
    pub fn another_primary(&self, not: usize) -> usize {
        self.primary_indices()
            .into_iter()
            .find(|&idx| idx != not)
            .expect("another primary")
    }

    /// The index of the node at `port`.
    pub fn index_of(&self, port: u16) -> usize {
        self.nodes
            .iter()
            .position(|node| node.port() == port)
            .unwrap_or_else(|| panic!("no node at port {port}"))
    }

    /// The node at `idx`, to kill, freeze or restart.
    pub fn node_mut(&mut self, idx: usize) -> &mut RedisServer {
        &mut self.nodes[idx]
    }

    /// The port of the node that serves `slot` now, as node `asked` sees it.
    pub fn primary_port_of(&self, slot: u16) -> u16 {
        let mut con = connect(&self.nodes[0], self.password);
        let slots: respec::Value = cmd("CLUSTER SLOTS").query(&mut con).expect("CLUSTER SLOTS");
        let respec::Value::Array(ranges) = slots else {
            panic!("CLUSTER SLOTS: {slots:?}")
        };
        for range in ranges {
            let respec::Value::Array(fields) = range else {
                continue;
            };
            let (Some(respec::Value::Int(first)), Some(respec::Value::Int(last))) =
                (fields.first(), fields.get(1))
            else {
                continue;
            };
            if (*first..=*last).contains(&i64::from(slot))
                && let Some(respec::Value::Array(node)) = fields.get(2)
                && let Some(respec::Value::Int(port)) = node.get(1)
            {
                return *port as u16;
            }
        }
        panic!("no node serves slot {slot}")
    }

    /// The ports of the replicas of the primary at `port`, as that primary sees them.
    pub fn replica_ports_of(&self, port: u16) -> Vec<u16> {
        let primary = self.index_of(port);
        let mut con = connect(&self.nodes[primary], self.password);
        let info: String = cmd("INFO")
            .arg("replication")
            .query(&mut con)
            .expect("INFO");
        info.lines()
            .filter(|line| line.starts_with("slave") && line.contains("state=online"))
            .filter_map(|line| {
                let port = line.split(',').find_map(|f| f.strip_prefix("port="))?;
                port.parse().ok()
            })
            .collect()
    }

    /// A new connection to node `idx`.
    pub fn connect(&self, idx: usize) -> Connection {
        connect(&self.nodes[idx], self.password)
    }

    fn wait_until(&self, what: &str, mut ready: impl FnMut(&mut Connection) -> bool) {
        // Connections are opened again when one fails: a node may just have restarted.
        let mut cons: Vec<Option<Connection>> = self.nodes.iter().map(|_| None).collect();
        wait_for(what, || {
            cons.iter_mut().zip(&self.nodes).all(|(con, node)| {
                if con
                    .as_ref()
                    .is_none_or(|c| !respec::ConnectionLike::is_open(c))
                {
                    *con = try_connect(node, self.password);
                }
                con.as_mut().is_some_and(&mut ready)
            })
        });
    }
}

/// The slots primary `idx` of `primaries` serves at the start: an even split, in order.
pub fn slot_range(idx: usize, primaries: usize) -> (u16, u16) {
    let share = usize::from(SLOTS) / primaries;
    let first = idx * share;
    let last = if idx + 1 == primaries {
        usize::from(SLOTS) - 1
    } else {
        first + share - 1
    };
    (first as u16, last as u16)
}

fn start_node(secured: bool) -> RedisServer {
    let mut config = RedisServer::config()
        .directive(&["cluster-enabled", "yes"])
        .directive(&["cluster-config-file", "nodes.conf"])
        .directive(&["cluster-node-timeout", "1000"])
        .directive(&["repl-diskless-sync", "yes"])
        .directive(&["repl-diskless-sync-delay", "0"]);
    if ServerKind::from_env() == ServerKind::Valkey {
        // Valkey 9 serves several databases in cluster mode when told to.
        config = config.directive(&["cluster-databases", "16"]);
    }
    if secured {
        config = config
            .password(SECURED_PASSWORD)
            .directive(&["masterauth", SECURED_PASSWORD]);
        if ServerKind::from_env().has_tls() {
            let c = super::certs::certs();
            // Nodes connect to each other as TLS clients: with the client certificate,
            // which the server certificate (for servers only) cannot stand in for.
            let client_cert = c.client_cert.display().to_string();
            let client_key = c.client_key.display().to_string();
            config = config
                .tls(&c.server_cert, &c.server_key, &c.ca_cert, false)
                .directive(&["tls-client-cert-file", &client_cert])
                .directive(&["tls-client-key-file", &client_key])
                .directive(&["tls-cluster", "yes"])
                .directive(&["tls-replication", "yes"]);
        }
    }
    config.start()
}

fn try_connect(node: &RedisServer, password: Option<&str>) -> Option<Connection> {
    let mut info: respec::ConnectionInfo = node.url().parse().ok()?;
    info.password = password.map(Into::into);
    info.protocol = ProtocolVersion::Resp2;
    info.socket_timeout = Some(Duration::from_secs(1));
    Connection::open(&info).ok()
}

fn connect(node: &RedisServer, password: Option<&str>) -> Connection {
    let mut info: respec::ConnectionInfo = node.url().parse().expect("the node URL parses");
    info.password = password.map(Into::into);
    info.protocol = ProtocolVersion::Resp2;
    Connection::open(&info).unwrap_or_else(|e| panic!("cannot connect to {}: {e}", node.url()))
}

/// How many nodes `con`'s node knows, itself included, past the handshake.
fn known_nodes(con: &mut Connection) -> usize {
    let nodes: String = cmd("CLUSTER NODES").query(con).unwrap_or_default();
    nodes
        .lines()
        .filter(|line| !line.contains("handshake") && !line.contains("noaddr"))
        .count()
}

/// How many replicas `con`'s node sees attached to a primary.
fn replicas_seen(con: &mut Connection) -> usize {
    let nodes: String = cmd("CLUSTER NODES").query(con).unwrap_or_default();
    let ids: BTreeSet<&str> = nodes.lines().filter_map(|l| l.split(' ').next()).collect();
    nodes
        .lines()
        .filter(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            fields.get(2).is_some_and(|flags| flags.contains("slave"))
                && fields.get(3).is_some_and(|primary| ids.contains(primary))
        })
        .count()
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + READY_TIMEOUT;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "the test cluster did not come together: timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A key primary `idx` of `primaries` serves at the start: the first of `prefix0`,
/// `prefix1`... whose slot is in its range.
pub fn key_served_by(idx: usize, primaries: usize, prefix: &str) -> String {
    let (first, last) = slot_range(idx, primaries);
    // A range holds at least one slot in 16,384, so a few tens of thousands of tries
    // find one.
    (0..1_000_000)
        .map(|n| format!("{prefix}{n}"))
        .find(|key| (first..=last).contains(&respec::commands::slot::key_slot(key.as_bytes())))
        .expect("some key falls in every range")
}
