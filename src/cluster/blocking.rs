//! The blocking cluster driver: [`ClusterConnection`], a connection to every node it
//! needs, routing each command by the core's decisions; and reading the slot map.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use super::route::{self, Route, merge_nodes, merge_split};
use super::scan::{ClusterScan, ScanStep};
use super::topology::Topology;
use super::{
    Attempts, Grouped, Nodes, Recovery, State, Target, ZONE_QUERY, atomic_slot, breaks_connection,
    convert, recovery, reply_value,
};
use crate::batch::Batch;
use crate::cmd::{Cmd, cmd};
use crate::commands::ScanOptions;
use crate::connection::Connection;
use crate::connection::info::{NodeAddr, ProtocolVersion};
use crate::error::{Error, ErrorKind, Result};
use crate::script::Script;
use crate::seam::ConnectionLike;
use crate::table::CommandInfo;
use crate::types::FromRedisValue;
use crate::value::Value;

/// A connection to a Redis Cluster: one connection to each node it has needed, opened on
/// first use. Every command goes where its table entry says (see
/// [`ClusterClient`](crate::ClusterClient)); `MOVED`, `ASK` and the other cluster
/// replies are followed here.
///
/// It is a [`ConnectionLike`], so every command method, [`Pipeline`](crate::Pipeline),
/// [`Script`](crate::Script) and the lock work on it.
pub struct ClusterConnection {
    state: Arc<State>,
    nodes: HashMap<NodeAddr, Connection>,
}

impl fmt::Debug for ClusterConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConnection")
            .field("nodes", &self.nodes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ClusterConnection {
    pub(crate) fn new(state: Arc<State>) -> ClusterConnection {
        ClusterConnection {
            state,
            nodes: HashMap::new(),
        }
    }

    /// The connection to `addr`, opened (and for reads from replicas, put in `READONLY`
    /// mode) when there is none or the one there failed.
    fn node(&mut self, addr: &NodeAddr) -> Result<&mut Connection> {
        if self.nodes.get(addr).is_some_and(|con| !con.is_open()) {
            self.nodes.remove(addr);
        }
        if !self.nodes.contains_key(addr) {
            let con = open_node(&self.state, addr)?;
            self.nodes.insert(addr.clone(), con);
        }
        self.nodes
            .get_mut(addr)
            .ok_or_else(|| Error::new(ErrorKind::Connection, format!("no connection to {addr}")))
    }

    /// Sends `cmd` to `addr`, after `ASKING` when `asking`. A failure comes with whether
    /// the command may have been sent.
    fn send<T: FromRedisValue>(
        &mut self,
        addr: &NodeAddr,
        command: &Cmd,
        asking: bool,
    ) -> Result<T, (Error, bool)> {
        let con = self.node(addr).map_err(|e| (e, false))?;
        let result = if asking {
            con.req_commands(&[cmd("ASKING"), command.clone()])
                .and_then(|replies| match replies.into_iter().nth(1) {
                    Some(Value::ServerError(e)) => Err(e.into()),
                    Some(reply) => T::from_redis_value(reply),
                    None => Err(Error::new(ErrorKind::Protocol, "no reply after ASKING")),
                })
        } else {
            con.req_command(command)
        };
        result.map_err(|e| {
            if breaks_connection(&e) {
                self.nodes.remove(addr);
                self.state.failed(addr);
            }
            (e, true)
        })
    }

    /// Runs one command at `target`, following redirections and retrying by the core's
    /// rules until it succeeds, fails for good, or its tries or time run out.
    fn run<T: FromRedisValue>(&mut self, command: &Cmd, target: &Target) -> Result<T> {
        let read_only = command.info().is_some_and(CommandInfo::is_readonly);
        let mut attempts = Attempts::new(&self.state);
        let mut ask: Option<NodeAddr> = None;
        loop {
            let asking = ask.is_some();
            let addr = match ask.take() {
                Some(addr) => addr,
                None => self.resolve(target, read_only)?,
            };
            let (error, sent) = match self.send(&addr, command, asking) {
                Ok(reply) => {
                    self.state.answered(&addr);
                    return Ok(reply);
                }
                Err(failed) => failed,
            };
            attempts.failed_at(&addr);
            let next = recovery(&error, sent, read_only);
            if matches!(target, Target::Node(_))
                && matches!(next, Recovery::Moved { .. } | Recovery::Ask(_))
            {
                return Err(error);
            }
            self.state.count(&next);
            if !self.recover(next, &mut attempts, &mut ask) || !attempts.take() {
                return Err(error);
            }
        }
    }

    /// Follows a recovery: patches the map, reads it again, waits. `false` when the
    /// error is to be returned.
    fn recover(
        &mut self,
        next: Recovery,
        attempts: &mut Attempts,
        ask: &mut Option<NodeAddr>,
    ) -> bool {
        match next {
            Recovery::Moved { slot, addr } => {
                let addr = self.state.remap(addr);
                if self.state.moved(slot, &addr) {
                    self.refresh_quietly();
                }
                if attempts.bounced(&addr) {
                    match attempts.wait(&self.state.config.retry) {
                        Some(wait) => std::thread::sleep(wait),
                        None => return false,
                    }
                }
                true
            }
            Recovery::Ask(addr) => {
                *ask = Some(self.state.remap(addr));
                true
            }
            Recovery::Retry { refresh } => {
                if refresh {
                    self.refresh_quietly();
                }
                match attempts.wait(&self.state.config.retry) {
                    Some(wait) => {
                        std::thread::sleep(wait);
                        true
                    }
                    None => false,
                }
            }
            // The failed node is marked: the next request bound for it reads the map
            // first, so this one ends by its deadline.
            Recovery::Fail { .. } => false,
        }
    }

    /// The node for `target`: when the slot is not served, or its node failed last
    /// time, after reading the map again.
    fn resolve(&mut self, target: &Target, read_only: bool) -> Result<NodeAddr> {
        match self.state.resolve(target, read_only) {
            Ok(addr) if self.state.refresh_before(&addr) => {
                self.refresh_quietly();
                self.state.resolve(target, read_only)
            }
            Ok(addr) => Ok(addr),
            Err(_) => {
                refresh(&self.state)?;
                self.state.resolve(target, read_only)
            }
        }
    }

    /// Reads the map again; a failure leaves the old map, and the request that asked
    /// goes on with it.
    fn refresh_quietly(&mut self) {
        let _ = refresh(&self.state);
    }

    /// Runs `cmd` on every node `all_nodes` (or every primary) and merges the replies by
    /// its response policy.
    fn fan_out(&mut self, command: &Cmd, all_nodes: bool) -> Result<Value> {
        let nodes = self.state.fan_out(all_nodes);
        let replies = self.on_each(command, nodes)?;
        Ok(merge_nodes(command.info(), replies))
    }

    /// Runs `cmd` on each of `nodes`, each reply with its node, error replies as values.
    fn on_each(&mut self, command: &Cmd, nodes: Vec<NodeAddr>) -> Result<Vec<(NodeAddr, Value)>> {
        if nodes.is_empty() {
            return Err(Error::new(
                ErrorKind::Connection,
                "the cluster has no such node",
            ));
        }
        let mut replies = Vec::with_capacity(nodes.len());
        for addr in nodes {
            let reply = self.run::<Value>(command, &Target::Node(addr.clone()));
            replies.push((addr.clone(), error_as_value(reply, &addr)?));
        }
        Ok(replies)
    }

    /// Runs `cmd` on the nodes the caller chooses, as redis-py's `target_nodes`, and
    /// returns each node's reply, an error reply as [`Value::ServerError`] in its place.
    /// Redirections are not followed: the command goes where it is told.
    ///
    /// # Errors
    ///
    /// No such node in the slot map; a node that could not be reached (named).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use respec::{Nodes, cmd};
    ///
    /// # fn main() -> respec::Result<()> {
    /// let client = respec::ClusterClient::new(["redis://10.0.0.1:7000"])?;
    /// let mut con = client.get_connection()?;
    /// for (node, reply) in con.on_nodes(&cmd("LASTSAVE"), &Nodes::Primaries)? {
    ///     println!("{node}: {reply:?}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_nodes(&mut self, command: &Cmd, nodes: &Nodes) -> Result<Vec<(NodeAddr, Value)>> {
        let nodes = self.state.chosen(nodes);
        self.on_each(command, nodes)
    }

    /// Runs `cmd` on the nodes the caller chooses and merges the replies by the
    /// command's response policy, as a command that fans out by itself is merged (see
    /// [`ClusterClient`](crate::ClusterClient)); one node's reply as it is.
    ///
    /// # Errors
    ///
    /// As [`ClusterConnection::on_nodes`]; the (first) error reply; a failed conversion.
    pub fn on_nodes_merged<T: FromRedisValue>(
        &mut self,
        command: &Cmd,
        nodes: &Nodes,
    ) -> Result<T> {
        let replies = self.on_nodes(command, nodes)?;
        convert(merge_nodes(command.info(), replies))
    }

    /// A command's entry, learned from `COMMAND INFO` for one the table does not know.
    fn learn(&mut self, command: &Cmd) -> Option<Cmd> {
        let name = command.args().next()?.to_vec();
        if !self.state.should_learn(&name) {
            return None;
        }
        let ask = cmd("COMMAND").arg("INFO").arg(&name[..]).clone();
        let reply: Value = self.run(&ask, &Target::AnyPrimary).ok()?;
        let info = CommandInfo::learn(reply).ok()?.into_iter().next()?;
        let mut learned = command.clone();
        learned.set_info(info);
        Some(learned)
    }

    /// Runs one command wherever it goes, its reply as a value.
    fn dispatch(&mut self, command: &Cmd) -> Result<Value> {
        match route::route(command)? {
            Route::Slot(slot) => self.run(command, &Target::Slot(slot)),
            Route::AnyPrimary => self.run(command, &Target::AnyPrimary),
            Route::AllPrimaries => self.fan_out(command, false),
            Route::AllNodes => self.fan_out(command, true),
            Route::Split(parts) => {
                let cmds: Vec<(Cmd, Target)> = parts
                    .iter()
                    .map(|part| (part.cmd.clone(), Target::Slot(part.slot)))
                    .collect();
                let replies = self.run_grouped(&cmds, &[])?;
                Ok(merge_split(command.info(), &parts, replies))
            }
        }
    }

    /// Runs commands bound for several nodes: one batch per node, then each command a
    /// node redirected or failed on its own, by the rules of [`ClusterConnection::run`].
    /// Replies come back in the commands' order, error replies as values.
    fn run_grouped(&mut self, cmds: &[(Cmd, Target)], scripts: &[Script]) -> Result<Vec<Value>> {
        let mut grouped = Grouped::new(&self.state, cmds);
        for (addr, members, batch) in grouped.batches(cmds, scripts) {
            let sent = match self.node(&addr) {
                Err(e) => Err((e, false)),
                Ok(con) => con.req_batch(&batch).map_err(|e| (e, true)),
            };
            match sent {
                Ok(values) => grouped.answered(&members, values),
                Err((error, sent)) => {
                    if breaks_connection(&error) {
                        self.nodes.remove(&addr);
                        self.state.failed(&addr);
                    }
                    grouped.failed(cmds, &members, error, sent)?;
                }
            }
        }
        for idx in grouped.take_alone() {
            if let Some((command, target)) = cmds.get(idx) {
                let value = reply_value(self.run::<Value>(command, target))?;
                grouped.place(idx, value);
            }
        }
        Ok(grouped.finish())
    }

    /// Runs a transaction on its slot's primary, again elsewhere when it was redirected
    /// (nothing of it ran then).
    fn run_atomic(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        let target = match atomic_slot(batch)? {
            Some(slot) => Target::Slot(slot),
            None => Target::AnyPrimary,
        };
        let mut attempts = Attempts::new(&self.state);
        loop {
            let addr = self.resolve(&target, false)?;
            let (error, sent) = match self.node(&addr) {
                Err(e) => (e, false),
                Ok(con) => match con.req_batch(batch) {
                    Ok(replies) => return Ok(replies),
                    Err(e) => (e, true),
                },
            };
            if breaks_connection(&error) {
                self.nodes.remove(&addr);
                self.state.failed(&addr);
            }
            attempts.failed_at(&addr);
            let next = match recovery(&error, sent, false) {
                // A slot in migration: wait until it has moved.
                Recovery::Ask(_) => Recovery::Retry { refresh: false },
                next => next,
            };
            self.state.count(&next);
            if !self.recover(next, &mut attempts, &mut None) || !attempts.take() {
                return Err(error);
            }
        }
    }

    /// The keys of the whole cluster, with `SCAN`'s MATCH, COUNT and TYPE options: each
    /// primary scanned in turn, and every key present for the whole scan yielded at least
    /// once, also while slots migrate or a shard fails over (a slot that moved during its
    /// node's pass is scanned again where it went). An error is yielded once, and then the
    /// iteration ends.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use respec::commands::ScanOptions;
    ///
    /// # fn main() -> respec::Result<()> {
    /// let client = respec::ClusterClient::new(["redis://10.0.0.1:7000"])?;
    /// let mut con = client.get_connection()?;
    /// for key in con.scan_iter::<String>(ScanOptions::default().pattern("user:*")) {
    ///     println!("{}", key?);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn scan_iter<T: FromRedisValue>(&mut self, options: ScanOptions) -> ClusterScanIter<'_, T> {
        ClusterScanIter {
            con: self,
            core: ClusterScan::new(options),
            _items: PhantomData,
        }
    }

    /// Checks the slot map when the refresh interval has passed: one node's view,
    /// compared with it; the full refresh only when they differ.
    fn refresh_if_due(&mut self) {
        if self.state.refresh_due() {
            let within = self.state.config.discovery_timeout;
            let first = self.state.candidates().into_iter().next();
            let same = first.is_some_and(|(addr, _)| {
                ask_view(&self.state, &addr, within).is_ok_and(|view| self.state.confirms(view))
            });
            if !same {
                self.refresh_quietly();
            }
        }
    }
}

/// The keys of a whole cluster; from [`ClusterConnection::scan_iter`].
pub struct ClusterScanIter<'a, T> {
    con: &'a mut ClusterConnection,
    core: ClusterScan,
    _items: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for ClusterScanIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterScanIter")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl<T: FromRedisValue> Iterator for ClusterScanIter<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            match self.core.step() {
                ScanStep::Item(key) => return Some(T::from_redis_value(Value::BulkString(key))),
                ScanStep::Done => return None,
                ScanStep::Locate { slot, refresh } => {
                    if refresh {
                        self.con.refresh_quietly();
                    }
                    let node = self.con.state.node_for(slot, false).ok();
                    self.core.node(slot, node);
                }
                ScanStep::Send(addr, command) => {
                    let reply = self.con.run::<Value>(&command, &Target::Node(addr));
                    match self.core.reply(reply) {
                        Ok(None) => {}
                        Ok(Some(wait)) => std::thread::sleep(wait),
                        Err(e) => return Some(Err(e)),
                    }
                }
            }
        }
    }
}

/// A reply as a value, an error reply as [`Value::ServerError`]; other errors are
/// returned, naming the node.
fn error_as_value(reply: Result<Value>, addr: &NodeAddr) -> Result<Value> {
    reply_value(reply).map_err(|e| e.within(format!("node {addr}")))
}

impl ConnectionLike for ClusterConnection {
    fn req_command<T: FromRedisValue>(&mut self, command: &Cmd) -> Result<T> {
        self.refresh_if_due();
        let learned = if command.info().is_none() {
            self.learn(command)
        } else {
            None
        };
        let command = learned.as_ref().unwrap_or(command);
        match route::route(command)? {
            // The usual case: the reply converts straight from the node's read buffer.
            Route::Slot(slot) => self.run(command, &Target::Slot(slot)),
            Route::AnyPrimary => self.run(command, &Target::AnyPrimary),
            _ => convert(self.dispatch(command)?),
        }
    }

    fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        self.refresh_if_due();
        if batch.is_atomic() {
            return self.run_atomic(batch);
        }
        let mut routed: Vec<(Cmd, Target)> = Vec::with_capacity(batch.len());
        let mut special: Vec<(usize, Cmd)> = Vec::new();
        for (idx, command) in batch.cmds().enumerate() {
            match route::route(&command)? {
                Route::Slot(slot) => routed.push((command, Target::Slot(slot))),
                Route::AnyPrimary => routed.push((command, Target::AnyPrimary)),
                _ => {
                    special.push((idx, command.clone()));
                    routed.push((command, Target::AnyPrimary));
                }
            }
        }
        // Commands that fan out or split run on their own, in their place.
        let plain: Vec<(Cmd, Target)> = routed
            .iter()
            .enumerate()
            .filter(|(idx, _)| !special.iter().any(|(s, _)| s == idx))
            .map(|(_, job)| job.clone())
            .collect();
        let mut plain_replies = self.run_grouped(&plain, batch.scripts())?.into_iter();
        let mut replies = Vec::with_capacity(routed.len());
        for idx in 0..routed.len() {
            match special.iter().find(|(s, _)| *s == idx) {
                Some((_, command)) => replies.push(reply_value(self.dispatch(command))?),
                None => replies.push(plain_replies.next().unwrap_or(Value::Nil)),
            }
        }
        Ok(replies)
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

/// Opens a connection to a node, in `READONLY` mode when reads may go to replicas.
pub(crate) fn open_node(state: &State, addr: &NodeAddr) -> Result<Connection> {
    let mut con = Connection::open(&state.node_info(addr))?;
    if state.config.read_from != super::ReadFrom::Primary {
        cmd("READONLY").query::<()>(&mut con)?;
    }
    Ok(con)
}

/// Reads the slot map from up to three nodes and takes the view most agree on, within
/// the discovery timeout. One refresh runs at a time; one that finds another finished
/// while it waited has nothing left to do.
///
/// # Errors
///
/// No node answered in time (with each node's reason), or the map is partial and full
/// coverage is required.
pub(crate) fn refresh(state: &State) -> Result<()> {
    let seen = state.refreshes();
    let _one = state
        .refreshing
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if state.refreshes() != seen {
        return Ok(());
    }
    let deadline = Instant::now().checked_add(state.config.discovery_timeout);
    let mut views = Vec::new();
    let mut failures = Vec::new();
    for (addr, failed) in state.candidates() {
        if State::enough_views(views.len()) || (failed && !views.is_empty()) {
            break;
        }
        let left = deadline.map_or(Some(state.config.discovery_timeout), |d| {
            d.checked_duration_since(Instant::now())
        });
        let Some(left) = left.filter(|left| !left.is_zero()) else {
            failures.push((addr, Error::new(ErrorKind::Timeout, "no time left to ask")));
            break;
        };
        match ask_view(state, &addr, left) {
            Ok(view) => views.push(view),
            Err(e) => failures.push((addr, e)),
        }
    }
    state.install(views, &failures)?;
    for addr in state.zones_unknown() {
        let left = deadline.and_then(|d| d.checked_duration_since(Instant::now()));
        let Some(left) = left.filter(|left| !left.is_zero()) else {
            break;
        };
        let zone = open_within(state, &addr, left)
            .and_then(|mut con| cmd(ZONE_QUERY).query::<Value>(&mut con));
        state.set_zone(&addr, zone);
    }
    Ok(())
}

/// A connection of its own to a node, connected and answering within `within`.
fn open_within(state: &State, addr: &NodeAddr, within: Duration) -> Result<Connection> {
    let mut info = state.node_info(addr);
    let cap = |t: Option<Duration>| Some(t.map_or(within, |t| t.min(within)));
    info.socket_timeout = cap(info.socket_timeout);
    info.socket_connect_timeout = cap(info.socket_connect_timeout);
    Connection::open(&info)
}

/// One node's view of the slot map: `CLUSTER SHARDS`, or `CLUSTER SLOTS` where the
/// server has no `SHARDS`.
fn ask_view(state: &State, addr: &NodeAddr, within: Duration) -> Result<Topology> {
    let mut con = open_within(state, addr, within)?;
    match cmd("CLUSTER").arg("SHARDS").query::<Value>(&mut con) {
        Ok(reply) => Topology::from_shards(reply, addr, state.tls()),
        Err(e) if e.server_error().is_some() => {
            let reply = cmd("CLUSTER").arg("SLOTS").query::<Value>(&mut con)?;
            Topology::from_slots(reply, addr)
        }
        Err(e) => Err(e),
    }
}
