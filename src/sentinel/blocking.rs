//! The blocking driver of Sentinel discovery, and the thread that follows failovers.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::{
    Attempts, Event, FAILOVER_STARTED, NODE_TIMEOUT, NodeAddr, PROMOTED_REPLICA, Role,
    SWITCH_MASTER, Service, check_role, healthy_replicas,
};
use crate::connection::Connection;
use crate::connection::info::ConnectionInfo;
use crate::connector::Connector;
use crate::error::Result;
use crate::pipeline::Pipeline;
use crate::pubsub::{MessageKind, PubSub};
use crate::retry::RetryPolicy;
use crate::seam::ConnectionLike;
use crate::value::Value;

/// The watcher asks for the Sentinels' list of Sentinels every this many checks.
const LEARN_EVERY: u32 = 10;

/// Asks each Sentinel in turn, from the one that answered last, until one gives an
/// answer `read` accepts; that Sentinel goes in front.
pub(crate) fn ask<T>(
    service: &Service,
    request: &Pipeline,
    what: &str,
    mut read: impl FnMut(Vec<Value>) -> Result<T>,
) -> Result<T> {
    let mut attempts = Attempts::default();
    for sentinel in service.sentinels() {
        let answer = Connection::open(&service.sentinel_info(&sentinel))
            .and_then(|mut con| request.query::<Vec<Value>>(&mut con))
            .and_then(&mut read);
        match answer {
            Ok(answer) => {
                service.answered(&sentinel);
                return Ok(answer);
            }
            Err(e) => attempts.failed(&sentinel, e),
        }
    }
    Err(attempts.into_error(&service.name, what))
}

/// The master the Sentinels name now.
pub(crate) fn ask_master(service: &Service) -> Result<NodeAddr> {
    ask(
        service,
        &service.master_request(),
        "a usable master",
        |replies| service.master_from(replies),
    )
}

/// Connects to the node at `addr` and asks its `ROLE`, within the node's socket
/// timeout (or [`NODE_TIMEOUT`]).
fn open_node(service: &Service, addr: &NodeAddr) -> Result<(Connection, Value)> {
    let info = service.node_info(addr);
    let mut con = Connection::open(&info)?;
    con.set_timeouts(Some(info.socket_timeout.unwrap_or(NODE_TIMEOUT)), None)?;
    let role: Value = con.req_command(&crate::commands::role())?;
    con.set_timeouts(info.socket_timeout, None)?;
    Ok((con, role))
}

/// A connection to the master: the one the Sentinels name now (or, when none answers,
/// the one followed so far), confirmed with `ROLE` and opened under its tenure.
pub(crate) fn connect_master(service: &Service) -> Result<Connection> {
    let addr = match ask_master(service) {
        Ok(addr) => addr,
        Err(e) => service.current().map(|c| c.addr).ok_or(e)?,
    };
    let tenure = service.follow(&addr);
    let (mut con, role) = open_node(service, &addr)?;
    if let Err(e) = check_role(role, Role::Master, &addr) {
        // Not the master the Sentinel named, or no longer: ask again next time.
        service.drop_master(&addr, &e.to_string());
        return Err(e);
    }
    con.set_tenure(tenure);
    Ok(con)
}

/// A connection to a healthy replica, the next in turn; the master when none is.
pub(crate) fn connect_replica(service: &Service) -> Result<Connection> {
    let replicas = ask(
        service,
        &service.replicas_request(),
        "replicas",
        healthy_replicas,
    )?;
    for addr in service.replica_order(replicas) {
        if let Ok((con, role)) = open_node(service, &addr)
            && check_role(role, Role::Replica, &addr).is_ok()
        {
            return Ok(con);
        }
    }
    connect_master(service)
}

/// The Sentinels of a service, as a connector: each connection goes to the first that
/// answers, in the service's order when the connector was made.
#[derive(Debug)]
pub(crate) struct Sentinels {
    infos: Vec<ConnectionInfo>,
    /// The options, with the first Sentinel's address.
    options: ConnectionInfo,
}

impl Sentinels {
    pub(crate) fn of(service: &Service) -> Sentinels {
        let infos: Vec<ConnectionInfo> = service
            .sentinels()
            .iter()
            .map(|addr| service.sentinel_info(addr))
            .collect();
        let options = infos.first().cloned().unwrap_or_default();
        Sentinels { infos, options }
    }
}

impl Connector for Sentinels {
    fn options(&self) -> &ConnectionInfo {
        &self.options
    }

    fn connect(&self) -> Result<Connection> {
        let mut last = None;
        for info in &self.infos {
            match Connection::open(info) {
                Ok(con) => return Ok(con),
                Err(e) => last = Some(e.within(format!("Sentinel {}", info.addr))),
            }
        }
        Err(last.unwrap_or_else(|| crate::error::Error::invalid_input("no Sentinel")))
    }

    #[cfg(feature = "tokio")]
    fn connect_async(&self) -> crate::connector::ConnectFuture<'_> {
        Box::pin(async move {
            let mut last = None;
            for info in &self.infos {
                match crate::aio::Connection::open(info).await {
                    Ok(con) => return Ok(con),
                    Err(e) => last = Some(e.within(format!("Sentinel {}", info.addr))),
                }
            }
            Err(last.unwrap_or_else(|| crate::error::Error::invalid_input("no Sentinel")))
        })
    }
}

/// Starts the thread that follows the service's master: it listens for a Sentinel's
/// failover events and asks where the master is every check interval. When a failover
/// tells a replica to stop replicating, the old master's tenure ends (what it accepts
/// from then on is lost); when a replica is promoted or the new master announced, the
/// client follows it. It stops within
/// a check interval of the last handle on the service going.
pub(crate) fn watch(service: &Arc<Service>) {
    let weak = Arc::downgrade(service);
    let name = format!("respec-sentinel-{}", service.name);
    // A thread that cannot start leaves the periodic re-resolving of each new connection.
    let _ = std::thread::Builder::new()
        .name(name)
        .spawn(move || Watcher::default().run(&weak));
}

#[derive(Default)]
struct Watcher {
    subscription: Option<PubSub>,
    checks: u32,
}

impl Watcher {
    fn run(mut self, weak: &Weak<Service>) {
        let mut last_check: Option<Instant> = None;
        loop {
            let Some(service) = weak.upgrade() else {
                return;
            };
            let interval = service.check_interval;
            if self.subscription.is_none() {
                self.subscription = subscribe(&service);
            }
            if last_check.is_none_or(|at| at.elapsed() >= interval) {
                self.check(&service);
                last_check = Some(Instant::now());
            }
            // The wait holds no handle on the service, so that dropping the client ends it.
            drop(service);
            let message = if let Some(sub) = &mut self.subscription {
                sub.get_message(interval)
            } else {
                std::thread::sleep(interval.min(Duration::from_millis(100)));
                Ok(None)
            };
            match message {
                Ok(Some(message)) if message.kind() == MessageKind::Message => {
                    let Some(service) = weak.upgrade() else {
                        return;
                    };
                    let channel = message.channel_name().unwrap_or_default();
                    let payload: String = message.payload().unwrap_or_default();
                    match service.event(channel, &payload) {
                        Some(Event::Promoted(addr)) => {
                            service.follow(&addr);
                        }
                        Some(Event::FailoverStarted { master, replica }) => {
                            service.failover_started(&master, &replica);
                        }
                        None => {}
                    }
                }
                Ok(_) => {}
                Err(_) => self.subscription = None,
            }
        }
    }

    /// Asks where the master is, and follows it when it moved; now and then learns the
    /// Sentinels too.
    fn check(&mut self, service: &Service) {
        if let Ok(addr) = ask_master(service)
            && service.current().is_some_and(|c| c.addr != addr)
        {
            service.follow(&addr);
        }
        if self.checks.is_multiple_of(LEARN_EVERY) {
            let _ = ask(
                service,
                &service.sentinels_request(),
                "Sentinels",
                |replies| {
                    service.learn_sentinels(replies);
                    Ok(())
                },
            );
        }
        self.checks = self.checks.wrapping_add(1);
    }
}

/// A subscription to the failover events on the first Sentinel that answers.
fn subscribe(service: &Service) -> Option<PubSub> {
    let mut sub =
        PubSub::new(Sentinels::of(service), RetryPolicy::none()).ignore_subscribe_messages(true);
    sub.subscribe([FAILOVER_STARTED, PROMOTED_REPLICA, SWITCH_MASTER])
        .ok()?;
    Some(sub)
}
