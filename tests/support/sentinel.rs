//! A throwaway Sentinel topology: a master, two replicas and three Sentinels on
//! loopback, data nodes and Sentinels with passwords of their own.
//!
//! One topology serves a whole test binary: [`shared`] starts it for the first test
//! and hands the same one to the tests running meanwhile, one at a time; when the last
//! of them is done it is killed, also when a test panics. A test that moves the master
//! or kills a node leaves the topology serving again ([`Topology::settle`]).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use respec::{Connection, ConnectionInfo, Value, cmd};

use super::server::{RedisServer, ServerConfig};

/// The service the Sentinels watch.
pub const SERVICE: &str = "svc";
/// The data nodes' password.
pub const NODE_PASSWORD: &str = "node-secret";
/// The Sentinels' password.
pub const SENTINEL_PASSWORD: &str = "sentinel-secret";
/// How long the topology may take to come together, or to settle after a failover.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(40);

/// The topology of this test binary, for one test at a time: started when no test holds
/// it, killed when the last one lets go.
pub fn shared() -> Shared {
    static SHARED: Mutex<Weak<Mutex<Topology>>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    let topology = slot.upgrade().unwrap_or_else(|| {
        let fresh = Arc::new(Mutex::new(Topology::start()));
        *slot = Arc::downgrade(&fresh);
        fresh
    });
    drop(slot);
    Shared(topology)
}

/// A hold on the shared topology; [`Shared::lock`] gives it to one test at a time.
pub struct Shared(Arc<Mutex<Topology>>);

impl Shared {
    /// The topology, settled: every Sentinel agrees on a master that says it is one,
    /// with a replica in sync.
    pub fn lock(&self) -> MutexGuard<'_, Topology> {
        let mut topology = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        topology.settle();
        topology
    }
}

/// The running nodes and Sentinels.
#[derive(Debug)]
pub struct Topology {
    nodes: Vec<RedisServer>,
    sentinels: Vec<RedisServer>,
}

impl Topology {
    /// Starts the master, its two replicas and three Sentinels (quorum 2,
    /// `down-after-milliseconds 1000`), and waits until every Sentinel sees both
    /// replicas and both other Sentinels.
    pub fn start() -> Topology {
        let master = node(None);
        let replicas = [node(Some(master.port())), node(Some(master.port()))];
        let mut nodes = vec![master];
        nodes.extend(replicas);
        let master_port = nodes[0].port().to_string();
        let sentinels = (0..3)
            .map(|_| {
                ServerConfig::default()
                    .sentinel()
                    .directive(&[
                        "sentinel",
                        "monitor",
                        SERVICE,
                        "127.0.0.1",
                        &master_port,
                        "2",
                    ])
                    .directive(&["sentinel", "auth-pass", SERVICE, NODE_PASSWORD])
                    .directive(&["sentinel", "down-after-milliseconds", SERVICE, "1000"])
                    .directive(&["sentinel", "failover-timeout", SERVICE, "10000"])
                    .directive(&["sentinel", "parallel-syncs", SERVICE, "2"])
                    .directive(&["sentinel", "sentinel-pass", SENTINEL_PASSWORD])
                    .directive(&["requirepass", SENTINEL_PASSWORD])
                    .start()
            })
            .collect();
        let mut topology = Topology { nodes, sentinels };
        topology.settle();
        topology
    }

    /// Waits until every Sentinel that runs agrees on the master, sees two replicas
    /// and the other Sentinels, the master says it is one, and a replica is in sync.
    pub fn settle(&mut self) {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let Err(why) = self.settled() else {
                return;
            };
            assert!(
                Instant::now() < deadline,
                "the Sentinel topology did not settle: {why}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn settled(&self) -> Result<(), String> {
        let mut masters = BTreeSet::new();
        for sentinel in &self.sentinels {
            let Ok(mut con) = Connection::open(&sentinel_info(sentinel.port())) else {
                continue; // a Sentinel a test stopped
            };
            let fields: Vec<String> = cmd("SENTINEL")
                .arg("MASTER")
                .arg(SERVICE)
                .query(&mut con)
                .map_err(|e| e.to_string())?;
            let field = |name: &str| {
                let at = fields.iter().position(|f| f == name)?;
                fields.get(at + 1).cloned()
            };
            let flags = field("flags").unwrap_or_default();
            if flags != "master" {
                return Err(format!("a Sentinel flags the master {flags}"));
            }
            if field("num-slaves").as_deref() != Some("2") {
                return Err("a Sentinel does not see two replicas".into());
            }
            if field("num-other-sentinels").as_deref() != Some("2") {
                return Err("a Sentinel does not see the other two".into());
            }
            // A replica a test froze or killed is flagged down for a while after it is
            // back: a test asking for a replica needs one the Sentinels see healthy.
            let replicas: Vec<std::collections::HashMap<String, String>> = cmd("SENTINEL")
                .arg("REPLICAS")
                .arg(SERVICE)
                .query(&mut con)
                .map_err(|e| e.to_string())?;
            let healthy = replicas.iter().any(|r| {
                r.get("flags")
                    .is_some_and(|f| !f.contains("down") && !f.contains("disconnected"))
                    && r.get("master-link-status").is_some_and(|s| s == "ok")
            });
            if !healthy {
                return Err("a Sentinel sees no healthy replica".into());
            }
            masters.insert(field("port").unwrap_or_default());
        }
        let mut masters = masters.into_iter();
        let (Some(port), None) = (masters.next(), masters.next()) else {
            return Err("the Sentinels disagree on the master, or none answers".into());
        };
        let port: u16 = port.parse().map_err(|_| "a port that is none")?;
        let role = role(port).ok_or("the master does not answer")?;
        if role != "master" {
            return Err(format!("the master the Sentinels name says it is a {role}"));
        }
        let synced = self
            .node_ports()
            .into_iter()
            .filter(|p| *p != port)
            .any(|p| replica_in_sync(p, port));
        if !synced {
            return Err("no replica is in sync with the master".into());
        }
        Ok(())
    }

    /// The master's port, as the first Sentinel that answers names it.
    pub fn master_port(&self) -> u16 {
        for sentinel in &self.sentinels {
            let Ok(mut con) = Connection::open(&sentinel_info(sentinel.port())) else {
                continue;
            };
            if let Ok((_, port)) = cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(SERVICE)
                .query::<(String, u16)>(&mut con)
            {
                return port;
            }
        }
        panic!("no Sentinel names the master");
    }

    /// The data nodes' ports.
    pub fn node_ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }

    /// The data node on `port`.
    pub fn node(&mut self, port: u16) -> &mut RedisServer {
        self.nodes
            .iter_mut()
            .find(|n| n.port() == port)
            .unwrap_or_else(|| panic!("no data node on port {port}"))
    }

    /// The data nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// The Sentinels.
    pub fn sentinels(&mut self) -> &mut [RedisServer] {
        &mut self.sentinels
    }

    /// The Sentinels' URLs, with their password.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| format!("redis://:{SENTINEL_PASSWORD}@127.0.0.1:{}", s.port()))
            .collect()
    }
}

/// How to connect to the Sentinel on `port`.
pub fn sentinel_info(port: u16) -> ConnectionInfo {
    let mut info: ConnectionInfo = format!("redis://:{SENTINEL_PASSWORD}@127.0.0.1:{port}")
        .parse()
        .expect("a Sentinel URL");
    info.socket_timeout = Some(Duration::from_secs(2));
    info
}

/// How to connect to the data node on `port`.
pub fn node_info(port: u16) -> ConnectionInfo {
    let mut info: ConnectionInfo = format!("redis://:{NODE_PASSWORD}@127.0.0.1:{port}")
        .parse()
        .expect("a node URL");
    info.socket_timeout = Some(Duration::from_secs(2));
    info
}

/// The options the tests' clients connect to data nodes with.
pub fn node_options() -> String {
    format!("redis://:{NODE_PASSWORD}@127.0.0.1/0")
}

/// The role a data node says it has; `None` when it does not answer.
pub fn role(port: u16) -> Option<String> {
    let mut con = Connection::open(&node_info(port)).ok()?;
    let role: Vec<Value> = cmd("ROLE").query(&mut con).ok()?;
    match role.first()? {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

fn replica_in_sync(port: u16, master: u16) -> bool {
    let Ok(mut con) = Connection::open(&node_info(port)) else {
        return false;
    };
    let info: String = cmd("INFO")
        .arg("replication")
        .query(&mut con)
        .unwrap_or_default();
    info.contains(&format!("master_port:{master}")) && info.contains("master_link_status:up")
}

/// Servers frozen (SIGSTOP) until this is dropped, also when a test panics, so that
/// the tests after it find them running.
pub struct Frozen<'a>(Vec<&'a RedisServer>);

impl<'a> Frozen<'a> {
    pub fn new(servers: Vec<&'a RedisServer>) -> Frozen<'a> {
        for server in &servers {
            server.freeze();
        }
        Frozen(servers)
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        for server in &self.0 {
            server.thaw();
        }
    }
}

/// A data node with a password, a replica of `master` when given.
fn node(master: Option<u16>) -> RedisServer {
    let mut config = ServerConfig::default()
        .password(NODE_PASSWORD)
        .directive(&["masterauth", NODE_PASSWORD])
        .directive(&["repl-diskless-sync", "yes"])
        .directive(&["repl-diskless-sync-delay", "0"]);
    let port;
    if let Some(master) = master {
        port = master.to_string();
        config = config.directive(&["replicaof", "127.0.0.1", &port]);
    }
    config.start()
}
