//! Sentinel: finding a service's master and replicas, and following it through a
//! failover.
//!
//! This core holds what a [`SentinelClient`](crate::SentinelClient) knows about its
//! service and decides what the Sentinels' replies mean: which Sentinels to ask and in
//! which order, whether the master a Sentinel names is fit to use, which replicas are
//! healthy, what `ROLE` must say, and which master the connections follow now, with the
//! [`Tenure`] they share. The blocking and tokio drivers only connect and ask;
//! `client.rs` holds the public client and the connectors.

pub(crate) mod blocking;
pub(crate) mod client;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::cmd::Cmd;
pub(crate) use crate::connection::info::NodeAddr;
use crate::connection::info::{ConnectionAddr, ConnectionInfo};
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::Pipeline;
use crate::tenure::Tenure;
use crate::types::FromRedisValue;
use crate::value::Value;

/// How long a Sentinel may take to connect and to answer, unless its URL says.
pub const DEFAULT_SENTINEL_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the client asks a Sentinel where the master is, besides listening for
/// `+switch-master`.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How long a data node may take to connect and set up, and to answer `ROLE` then,
/// unless its options set timeouts: a node that takes connections and never answers
/// (a frozen one) must not hold discovery up.
pub(crate) const NODE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a master a failover started to take the role from is not followed again,
/// unless a Sentinel names another master first: long enough for a failover to promote
/// its replica, short enough that a failover that gave up costs no more.
pub(crate) const FAILOVER_GRACE: Duration = Duration::from_secs(10);

/// The channels of the Sentinel events the client follows: a failover's new master
/// announced, its replica promoted, and the replica told to stop replicating (from
/// then on what the old master accepts is lost).
pub(crate) const SWITCH_MASTER: &str = "+switch-master";
pub(crate) const PROMOTED_REPLICA: &str = "+promoted-slave";
pub(crate) const FAILOVER_STARTED: &str = "+failover-state-send-slaveof-noone";

/// A Sentinel event for the service.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// The replica at this address is the master now.
    Promoted(NodeAddr),
    /// A failover told `replica` to stop replicating `master`.
    FailoverStarted { master: NodeAddr, replica: NodeAddr },
}

/// The role a data node must confirm with `ROLE` after connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Master,
    Replica,
}

/// A service as the Sentinels watch it: their addresses, how to reach its nodes, and
/// the master the client follows now.
pub(crate) struct Service {
    pub(crate) name: String,
    /// The options Sentinels are connected with; their addresses are in `sentinels`.
    sentinel_options: ConnectionInfo,
    /// Where the Sentinels are, the one that answered last in front.
    sentinels: Mutex<Vec<NodeAddr>>,
    /// The options data nodes are connected with; the address is the node's.
    node_options: ConnectionInfo,
    pub(crate) min_other_sentinels: usize,
    pub(crate) check_interval: Duration,
    /// The master connections follow, and the tenure they share; `None` before the first
    /// discovery.
    current: Mutex<Option<Current>>,
    /// Which replica the next replica connection tries first.
    next_replica: AtomicUsize,
    /// Masters the role moved away from, and since when: for [`FAILOVER_GRACE`] a
    /// Sentinel that names one of them has not heard of the failover yet, and is
    /// passed over.
    retired: Mutex<Vec<(NodeAddr, Instant)>>,
}

/// The master the client follows, and the tenure of the connections opened to it.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub(crate) addr: NodeAddr,
    pub(crate) tenure: Tenure,
}

impl Service {
    pub(crate) fn new(
        name: String,
        sentinels: &[ConnectionInfo],
        mut node_options: ConnectionInfo,
        min_other_sentinels: usize,
        check_interval: Duration,
    ) -> Result<Service> {
        let Some(first) = sentinels.first() else {
            return Err(Error::invalid_input(format!(
                "no Sentinel address given for the service '{name}'"
            )));
        };
        let mut sentinel_options = first.clone();
        sentinel_options.db = 0;
        sentinel_options.socket_timeout = sentinel_options
            .socket_timeout
            .or(Some(DEFAULT_SENTINEL_TIMEOUT));
        sentinel_options.socket_connect_timeout = sentinel_options
            .socket_connect_timeout
            .or(sentinel_options.socket_timeout);
        let mut addrs = Vec::with_capacity(sentinels.len());
        for info in sentinels {
            let addr = node_addr(&info.addr).ok_or_else(|| {
                Error::invalid_input(format!(
                    "a Sentinel is reached over TCP, not at {}",
                    info.addr
                ))
            })?;
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        node_options.socket_connect_timeout = node_options
            .socket_connect_timeout
            .or(node_options.socket_timeout)
            .or(Some(NODE_TIMEOUT));
        Ok(Service {
            name,
            sentinel_options,
            sentinels: Mutex::new(addrs),
            node_options,
            min_other_sentinels,
            check_interval,
            current: Mutex::new(None),
            next_replica: AtomicUsize::new(0),
            retired: Mutex::new(Vec::new()),
        })
    }

    /// The Sentinels to ask, in order: the one that answered last first.
    pub(crate) fn sentinels(&self) -> Vec<NodeAddr> {
        lock(&self.sentinels).clone()
    }

    /// How to connect to the Sentinel at `addr`.
    pub(crate) fn sentinel_info(&self, addr: &NodeAddr) -> ConnectionInfo {
        with_addr(&self.sentinel_options, addr)
    }

    /// How to connect to the data node at `addr`.
    pub(crate) fn node_info(&self, addr: &NodeAddr) -> ConnectionInfo {
        with_addr(&self.node_options, addr)
    }

    /// The options data nodes are connected with.
    pub(crate) fn node_options(&self) -> &ConnectionInfo {
        &self.node_options
    }

    /// The Sentinel at `addr` answered: it goes in front.
    pub(crate) fn answered(&self, addr: &NodeAddr) {
        let mut sentinels = lock(&self.sentinels);
        if let Some(at) = sentinels.iter().position(|a| a == addr)
            && let Some(ahead) = sentinels.get_mut(..=at)
        {
            ahead.rotate_right(1);
        }
    }

    /// Adds the Sentinels a Sentinel knows of (`SENTINEL SENTINELS`) behind the known.
    pub(crate) fn learn_sentinels(&self, replies: Vec<Value>) {
        let Some(reply) = replies.into_iter().next() else {
            return;
        };
        let Ok(entries) = Vec::<HashMap<String, String>>::from_redis_value(reply) else {
            return;
        };
        let mut sentinels = lock(&self.sentinels);
        for entry in entries {
            if let Some(addr) = addr_of(&entry)
                && !sentinels.contains(&addr)
            {
                sentinels.push(addr);
            }
        }
    }

    /// The master connections follow now, while its tenure holds.
    pub(crate) fn current(&self) -> Option<Current> {
        lock(&self.current)
            .as_ref()
            .filter(|c| c.tenure.ended().is_none())
            .cloned()
    }

    /// Makes `addr` the master connections follow, and gives the tenure to open them
    /// under. When the master was another, its tenure ends first: from then on no
    /// connection to it sends anything.
    pub(crate) fn follow(&self, addr: &NodeAddr) -> Tenure {
        lock(&self.retired).retain(|(old, _)| old != addr);
        let mut current = lock(&self.current);
        if let Some(c) = current.as_ref()
            && c.addr == *addr
            && c.tenure.ended().is_none()
        {
            return c.tenure.clone();
        }
        if let Some(old) = current.take() {
            old.tenure.end(format!(
                "the master of '{}' moved from {} to {addr}",
                self.name, old.addr
            ));
            self.retire(old.addr);
        }
        let tenure = Tenure::new();
        *current = Some(Current {
            addr: addr.clone(),
            tenure: tenure.clone(),
        });
        tenure
    }

    /// Stops following `addr` for `why` (it is no master, say): its tenure ends, and the
    /// next connection asks the Sentinels again.
    pub(crate) fn drop_master(&self, addr: &NodeAddr, why: &str) {
        let mut current = lock(&self.current);
        if current.as_ref().is_some_and(|c| c.addr == *addr)
            && let Some(old) = current.take()
        {
            old.tenure.end(why.to_owned());
        }
    }

    /// A failover started taking the role from `master` to `replica`: connections to
    /// `master` end at once (what it accepts from now on is lost), and it is not
    /// followed again for [`FAILOVER_GRACE`] unless a Sentinel announces it promoted.
    pub(crate) fn failover_started(&self, master: &NodeAddr, replica: &NodeAddr) {
        self.retire(master.clone());
        self.drop_master(
            master,
            &format!(
                "the master of '{}' is failing over from {master} to {replica}, and what \
                 {master} accepts from now on is lost",
                self.name
            ),
        );
    }

    /// `addr` lost the master's role to a failover: a Sentinel that names it has not
    /// heard of the failover yet.
    fn retire(&self, addr: NodeAddr) {
        let mut retired = lock(&self.retired);
        retired.retain(|(old, since)| *old != addr && since.elapsed() < FAILOVER_GRACE);
        retired.push((addr, Instant::now()));
    }

    /// Fails when the role moved away from `addr` within [`FAILOVER_GRACE`].
    fn check_not_retired(&self, addr: &NodeAddr) -> Result<()> {
        let retired = lock(&self.retired);
        if retired
            .iter()
            .any(|(old, since)| old == addr && since.elapsed() < FAILOVER_GRACE)
        {
            return Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "it names {addr}, which a failover of '{}' took the master's role from: \
                     it has not heard of the failover yet",
                    self.name
                ),
            ));
        }
        Ok(())
    }

    /// The order to try `replicas` in: round-robin over the client's connections.
    pub(crate) fn replica_order(&self, mut replicas: Vec<NodeAddr>) -> Vec<NodeAddr> {
        if !replicas.is_empty() {
            let start = self.next_replica.fetch_add(1, Ordering::Relaxed) % replicas.len();
            replicas.rotate_left(start);
        }
        replicas
    }

    /// `SENTINEL MASTER <name>` and `SENTINEL GET-MASTER-ADDR-BY-NAME <name>`, in one
    /// round trip. Valkey has `PRIMARY` names for both, but Redis Sentinels know only
    /// these.
    #[allow(deprecated)]
    pub(crate) fn master_request(&self) -> Pipeline {
        let mut pipe = Pipeline::new();
        pipe.add_command(crate::commands::sentinel_master(&self.name))
            .add_command(crate::commands::sentinel_get_master_addr_by_name(
                &self.name,
            ));
        pipe
    }

    /// `SENTINEL REPLICAS <name>`.
    pub(crate) fn replicas_request(&self) -> Pipeline {
        one(crate::commands::sentinel_replicas(&self.name))
    }

    /// `SENTINEL SENTINELS <name>`.
    pub(crate) fn sentinels_request(&self) -> Pipeline {
        one(crate::commands::sentinel_sentinels(&self.name))
    }

    /// The master a Sentinel's replies to [`Service::master_request`] name, when it is
    /// fit to use: not flagged down (`s_down`, `o_down`) by that Sentinel, seen by at
    /// least `min_other_sentinels` other Sentinels, and not in a failover. A master in a
    /// failover whose replica was promoted already is passed over for that replica,
    /// which `GET-MASTER-ADDR-BY-NAME` names from then on; before the promotion there is
    /// no master to use, since the old one's writes would be lost.
    pub(crate) fn master_from(&self, replies: Vec<Value>) -> Result<NodeAddr> {
        let mut replies = replies.into_iter();
        let (Some(master), Some(named)) = (replies.next(), replies.next()) else {
            return Err(Error::new(
                ErrorKind::Protocol,
                "a reply missing from a pipeline",
            ));
        };
        let fields = HashMap::<String, String>::from_redis_value(master)?;
        let addr = addr_of(&fields).ok_or_else(|| {
            Error::new(
                ErrorKind::Protocol,
                format!("SENTINEL MASTER {} named no ip and port", self.name),
            )
        })?;
        let flags = fields.get("flags").map_or("", String::as_str);
        if let Some(down) = flags.split(',').find(|f| matches!(*f, "s_down" | "o_down")) {
            return Err(Error::new(
                ErrorKind::Connection,
                format!("it flags the master {addr} as down ({down})"),
            ));
        }
        let others = fields
            .get("num-other-sentinels")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        if others < self.min_other_sentinels {
            return Err(Error::new(
                ErrorKind::Connection,
                format!(
                    "it sees {others} other Sentinels, fewer than the {} required",
                    self.min_other_sentinels
                ),
            ));
        }
        let (host, port) = <(String, u16)>::from_redis_value(named)?;
        let named = NodeAddr { host, port };
        if named == addr && flags.split(',').any(|f| f == "failover_in_progress") {
            return Err(Error::new(
                ErrorKind::Connection,
                format!("a failover of the master {addr} is under way, no replica promoted yet"),
            ));
        }
        self.check_not_retired(&named)?;
        Ok(named)
    }

    /// What a Sentinel event on `channel` with `payload` means for this service.
    pub(crate) fn event(&self, channel: &str, payload: &str) -> Option<Event> {
        let words: Vec<&str> = payload.split(' ').collect();
        match channel {
            // <name> <old ip> <old port> <new ip> <new port>
            SWITCH_MASTER => match words[..] {
                [name, _, _, host, port] if name == self.name => Some(Event::Promoted(NodeAddr {
                    host: host.to_owned(),
                    port: port.parse().ok()?,
                })),
                _ => None,
            },
            // slave <ip:port> <ip> <port> @ <name> <master ip> <master port>
            PROMOTED_REPLICA | FAILOVER_STARTED => match words[..] {
                ["slave", _, host, port, "@", name, master_host, master_port]
                    if name == self.name =>
                {
                    let replica = NodeAddr {
                        host: host.to_owned(),
                        port: port.parse().ok()?,
                    };
                    if channel == PROMOTED_REPLICA {
                        return Some(Event::Promoted(replica));
                    }
                    let master = NodeAddr {
                        host: master_host.to_owned(),
                        port: master_port.parse().ok()?,
                    };
                    Some(Event::FailoverStarted { master, replica })
                }
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.name)
            .field("sentinels", &self.sentinels())
            .field("current", &lock(&self.current).as_ref().map(|c| &c.addr))
            .finish_non_exhaustive()
    }
}

/// The healthy replicas a `SENTINEL REPLICAS` reply lists: not flagged down or
/// disconnected, with their link to the master up.
pub(crate) fn healthy_replicas(replies: Vec<Value>) -> Result<Vec<NodeAddr>> {
    let reply = replies.into_iter().next().unwrap_or(Value::Nil);
    let entries = Vec::<HashMap<String, String>>::from_redis_value(reply)?;
    Ok(entries
        .iter()
        .filter(|entry| {
            let flags = entry.get("flags").map_or("", String::as_str);
            let down = flags
                .split(',')
                .any(|f| matches!(f, "s_down" | "o_down" | "disconnected"));
            !down && entry.get("master-link-status").is_some_and(|s| s == "ok")
        })
        .filter_map(addr_of)
        .collect())
}

/// Fails unless a `ROLE` reply says the node at `addr` is in `role`.
pub(crate) fn check_role(reply: Value, role: Role, addr: &NodeAddr) -> Result<()> {
    let Value::Array(items) = reply else {
        return Err(Error::conversion::<Vec<Value>>(&reply));
    };
    let said = match items.first() {
        Some(Value::BulkString(b) | Value::SimpleString(b)) => {
            String::from_utf8_lossy(b).into_owned()
        }
        _ => String::new(),
    };
    let expected = match role {
        Role::Master => "master",
        Role::Replica => "slave",
    };
    if said == expected {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Connection,
        format!("{addr} is not a {expected}: ROLE says {said:?}"),
    ))
}

/// The errors of each Sentinel asked, for the one error of a discovery that failed.
#[derive(Default)]
pub(crate) struct Attempts {
    failed: Vec<(NodeAddr, Error)>,
}

impl Attempts {
    pub(crate) fn failed(&mut self, sentinel: &NodeAddr, e: Error) {
        self.failed.push((sentinel.clone(), e));
    }

    /// The error when no Sentinel helped: the last Sentinel's, naming it, after what the
    /// others said.
    pub(crate) fn into_error(mut self, service: &str, what: &str) -> Error {
        let Some((last, e)) = self.failed.pop() else {
            return Error::new(
                ErrorKind::Connection,
                format!("no Sentinel to ask for {what} of '{service}'"),
            );
        };
        let mut place = format!("no Sentinel gave {what} of '{service}'");
        if !self.failed.is_empty() {
            place.push_str(" (");
            for (i, (sentinel, e)) in self.failed.iter().enumerate() {
                let sep = if i == 0 { "" } else { "; " };
                let _ = write!(place, "{sep}Sentinel {sentinel}: {e}");
            }
            place.push(')');
        }
        let _ = write!(place, "; Sentinel {last}");
        e.within(place)
    }
}

/// A pipeline of `cmd` alone.
fn one(cmd: Cmd) -> Pipeline {
    let mut pipe = Pipeline::new();
    pipe.add_command(cmd);
    pipe
}

/// The address of a node in a Sentinel's description of it (`ip` and `port` fields).
fn addr_of(fields: &HashMap<String, String>) -> Option<NodeAddr> {
    Some(NodeAddr {
        host: fields.get("ip")?.clone(),
        port: fields.get("port")?.parse().ok()?,
    })
}

/// The TCP address of `addr`, when it is one.
fn node_addr(addr: &ConnectionAddr) -> Option<NodeAddr> {
    match addr {
        ConnectionAddr::Tcp { host, port } | ConnectionAddr::TcpTls { host, port } => {
            Some(NodeAddr {
                host: host.clone(),
                port: *port,
            })
        }
        ConnectionAddr::Unix(_) => None,
    }
}

/// `options`, for the node at `addr`: TLS when the options' address used it.
fn with_addr(options: &ConnectionInfo, addr: &NodeAddr) -> ConnectionInfo {
    let mut info = options.clone();
    let (host, port) = (addr.host.clone(), addr.port);
    info.addr = match options.addr {
        ConnectionAddr::TcpTls { .. } => ConnectionAddr::TcpTls { host, port },
        _ => ConnectionAddr::Tcp { host, port },
    };
    info
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under these locks is one step; a panic elsewhere leaves them whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Service {
        let sentinels = vec![
            "redis://127.0.0.1:26379".parse().unwrap(),
            "redis://127.0.0.1:26380".parse().unwrap(),
        ];
        Service::new(
            "svc".into(),
            &sentinels,
            "redis://:pw@x/2".parse().unwrap(),
            1,
            DEFAULT_CHECK_INTERVAL,
        )
        .unwrap()
    }

    fn fields(pairs: &[(&str, &str)]) -> Value {
        Value::Array(
            pairs
                .iter()
                .flat_map(|(k, v)| [*k, *v])
                .map(|s| Value::BulkString(s.as_bytes().to_vec().into()))
                .collect(),
        )
    }

    fn addr(port: u16) -> NodeAddr {
        NodeAddr {
            host: "127.0.0.1".into(),
            port,
        }
    }

    fn named(port: u16) -> Value {
        Value::Array(vec![
            Value::BulkString(b"127.0.0.1".to_vec().into()),
            Value::BulkString(port.to_string().into_bytes().into()),
        ])
    }

    fn master(flags: &str, others: &str) -> Value {
        master_at(7000, flags, others)
    }

    fn master_at(port: u16, flags: &str, others: &str) -> Value {
        let port = port.to_string();
        fields(&[
            ("ip", "127.0.0.1"),
            ("port", &port),
            ("flags", flags),
            ("num-other-sentinels", others),
        ])
    }

    #[test]
    fn a_master_flagged_down_seen_by_too_few_or_failing_over_is_refused() {
        let s = service();
        let ok = s.master_from(vec![master("master", "2"), named(7000)]);
        assert_eq!(ok.unwrap(), addr(7000));
        let down = s.master_from(vec![master("master,s_down", "2"), named(7000)]);
        assert!(down.unwrap_err().to_string().contains("s_down"));
        let alone = s.master_from(vec![master("master", "0"), named(7000)]);
        assert!(alone.unwrap_err().to_string().contains("fewer than the 1"));
        let failing_over = s.master_from(vec![
            master("master,failover_in_progress", "2"),
            named(7000),
        ]);
        assert!(failing_over.unwrap_err().to_string().contains("failover"));
        let promoted = s.master_from(vec![
            master("master,failover_in_progress", "2"),
            named(7001),
        ]);
        assert_eq!(promoted.unwrap(), addr(7001));
    }

    #[test]
    fn following_a_new_master_ends_the_old_tenure() {
        let s = service();
        let first = s.follow(&addr(7000));
        assert!(s.follow(&addr(7000)).same_as(&first));
        let second = s.follow(&addr(7001));
        assert_eq!(
            first.ended(),
            Some("the master of 'svc' moved from 127.0.0.1:7000 to 127.0.0.1:7001")
        );
        assert!(second.ended().is_none());
        s.drop_master(&addr(7001), "not a master");
        assert!(s.current().is_none());
        assert_eq!(second.ended(), Some("not a master"));

        // The masters the role moved away from are not taken from a Sentinel that has
        // not heard of the failover.
        assert!(s.check_not_retired(&addr(7000)).is_err());
        let third = s.follow(&addr(7001));
        s.failover_started(&addr(7001), &addr(7002));
        assert!(
            third
                .ended()
                .unwrap()
                .contains("failing over from 127.0.0.1:7001 to 127.0.0.1:7002")
        );
        let stale = s.master_from(vec![master_at(7001, "master", "2"), named(7001)]);
        assert!(
            stale
                .unwrap_err()
                .to_string()
                .contains("not heard of the failover")
        );
        assert!(s.check_not_retired(&addr(7002)).is_ok());
        // Unless a Sentinel announces it promoted again.
        s.follow(&addr(7001));
        assert!(s.check_not_retired(&addr(7001)).is_ok());
    }

    #[test]
    fn events_are_read_for_this_service_alone() {
        let s = service();
        let switched = s.event(SWITCH_MASTER, "svc 127.0.0.1 7000 127.0.0.1 7001");
        assert_eq!(switched, Some(Event::Promoted(addr(7001))));
        assert_eq!(
            s.event(SWITCH_MASTER, "other 127.0.0.1 7000 127.0.0.1 7001"),
            None
        );
        assert_eq!(s.event(SWITCH_MASTER, "svc 127.0.0.1"), None);
        let replica = "slave 127.0.0.1:7001 127.0.0.1 7001 @ svc 127.0.0.1 7000";
        assert_eq!(
            s.event(PROMOTED_REPLICA, replica),
            Some(Event::Promoted(addr(7001)))
        );
        assert_eq!(
            s.event(FAILOVER_STARTED, replica),
            Some(Event::FailoverStarted {
                master: addr(7000),
                replica: addr(7001)
            })
        );
        let elsewhere = "slave 127.0.0.1:7001 127.0.0.1 7001 @ other 127.0.0.1 7000";
        assert_eq!(s.event(PROMOTED_REPLICA, elsewhere), None);
    }

    #[test]
    fn the_sentinel_that_answered_goes_first_and_new_ones_are_learned() {
        let s = service();
        s.answered(&addr(26380));
        assert_eq!(s.sentinels(), [addr(26380), addr(26379)]);
        s.learn_sentinels(vec![Value::Array(vec![fields(&[
            ("ip", "127.0.0.1"),
            ("port", "26381"),
        ])])]);
        assert_eq!(s.sentinels(), [addr(26380), addr(26379), addr(26381)]);
        assert_eq!(s.node_info(&addr(7000)).db, 2);
        assert_eq!(
            s.node_info(&addr(7000)).socket_connect_timeout,
            Some(NODE_TIMEOUT)
        );
        assert_eq!(
            s.sentinel_info(&addr(26381)).socket_timeout,
            Some(DEFAULT_SENTINEL_TIMEOUT)
        );
    }

    #[test]
    fn only_healthy_replicas_are_used() {
        let reply = Value::Array(vec![
            fields(&[
                ("ip", "h"),
                ("port", "1"),
                ("flags", "slave"),
                ("master-link-status", "ok"),
            ]),
            fields(&[
                ("ip", "h"),
                ("port", "2"),
                ("flags", "slave,s_down"),
                ("master-link-status", "ok"),
            ]),
            fields(&[
                ("ip", "h"),
                ("port", "3"),
                ("flags", "slave"),
                ("master-link-status", "err"),
            ]),
        ]);
        let healthy = healthy_replicas(vec![reply]).unwrap();
        assert_eq!(
            healthy,
            [NodeAddr {
                host: "h".into(),
                port: 1
            }]
        );
    }

    #[test]
    fn role_must_match() {
        let master = Value::Array(vec![Value::BulkString(b"master".to_vec().into())]);
        assert!(check_role(master.clone(), Role::Master, &addr(1)).is_ok());
        let e = check_role(master, Role::Replica, &addr(1)).unwrap_err();
        assert!(e.to_string().contains("127.0.0.1:1 is not a slave"), "{e}");
    }
}
