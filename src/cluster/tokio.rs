//! The tokio cluster driver: [`ClusterConnection`], cheap to clone, over one multiplexed
//! connection per node; and reading the slot map, the nodes asked in parallel.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use tokio::task::JoinSet;

use super::route::{self, Route, merge_nodes, merge_split};
use super::scan::{ClusterScan, ScanStep};
use super::topology::Topology;
use super::{
    Attempts, Grouped, Nodes, ReadFrom, Recovery, State, Target, ZONE_QUERY, atomic_slot,
    breaks_connection, convert, recovery, reply_value,
};
use futures_core::Stream;

use crate::aio::stream::unfold;
use crate::aio::{MultiplexedConnection, Pool};
use crate::batch::Batch;
use crate::cmd::{Cmd, cmd};
use crate::commands::ScanOptions;
use crate::connection::info::{NodeAddr, ProtocolVersion};
use crate::error::{Error, ErrorKind, Result};
use crate::pool::PoolConfig;
use crate::retry::RetryPolicy;
use crate::script::Script;
use crate::seam::AsyncConnectionLike;
use crate::table::CommandInfo;
use crate::types::FromRedisValue;
use crate::value::Value;

/// An async connection to a Redis Cluster: one
/// [`MultiplexedConnection`](crate::aio::MultiplexedConnection) per node, opened on first
/// use and shared by every clone, so that many tasks' commands to one node go out
/// together. Clones are cheap; hand one to each task.
///
/// Routing and failures follow the rules of [`ClusterClient`](crate::ClusterClient);
/// commands to several nodes (fan-out, split commands, pipelines) go to them in
/// parallel. Blocking commands run on dedicated connections, as on a multiplexed
/// connection. The slot map is read again in a task of its own every
/// [refresh interval](crate::ClusterBuilder::refresh_interval) while a clone lives.
#[derive(Clone)]
pub struct ClusterConnection {
    inner: Arc<Inner>,
}

struct Inner {
    state: Arc<State>,
    nodes: Mutex<HashMap<NodeAddr, Arc<OnceCell<MultiplexedConnection>>>>,
    /// Held by the one refresh under way.
    refreshing: tokio::sync::Mutex<()>,
}

impl fmt::Debug for ClusterConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes = self
            .inner
            .nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("ClusterConnection")
            .field("nodes", &nodes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ClusterConnection {
    /// A connection over the client's slot map, read first when it has not been; the
    /// periodic refresh starts with it.
    pub(crate) async fn new(state: Arc<State>) -> Result<ClusterConnection> {
        let con = ClusterConnection {
            inner: Arc::new(Inner {
                state,
                nodes: Mutex::default(),
                refreshing: tokio::sync::Mutex::new(()),
            }),
        };
        if con.inner.state.version() == 0 {
            con.refresh().await?;
        }
        if let Some(every) = con.inner.state.config.refresh_interval {
            tokio::spawn(refresh_every(Arc::downgrade(&con.inner), every));
        }
        Ok(con)
    }

    fn state(&self) -> &State {
        &self.inner.state
    }

    /// The multiplexed connection to `addr`, opened when there is none or the one there
    /// failed; one connect per node however many tasks ask at once.
    async fn node(&self, addr: &NodeAddr) -> Result<MultiplexedConnection> {
        let cell = {
            let mut nodes = self
                .inner
                .nodes
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // The usual case: a live connection, found without copying the address.
            if let Some(con) = nodes.get(addr).and_then(|cell| cell.get())
                && con.is_connected()
            {
                return Ok(con.clone());
            }
            let cell = nodes.entry(addr.clone()).or_default();
            if cell.get().is_some_and(|con| !con.is_connected()) {
                *cell = Arc::default();
            }
            Arc::clone(cell)
        };
        let con = cell
            .get_or_try_init(|| open_node(&self.inner.state, addr))
            .await?;
        Ok(con.clone())
    }

    /// Forgets a failed node's connection; reads pass the node over until the map is
    /// read again.
    fn forget(&self, addr: &NodeAddr) {
        let mut nodes = self
            .inner
            .nodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        nodes.remove(addr);
        drop(nodes);
        self.state().failed(addr);
    }

    /// Sends `cmd` to `addr`, after `ASKING` when `asking`. A failure comes with whether
    /// the command may have been sent.
    async fn send<T: FromRedisValue>(
        &self,
        addr: &NodeAddr,
        command: &Cmd,
        asking: bool,
    ) -> Result<T, (Error, bool)> {
        let mut con = self.node(addr).await.map_err(|e| (e, false))?;
        let result = if asking {
            con.req_commands(&[cmd("ASKING"), command.clone()])
                .await
                .and_then(|replies| match replies.into_iter().nth(1) {
                    Some(value) => convert(value),
                    None => Err(Error::new(ErrorKind::Protocol, "no reply after ASKING")),
                })
        } else {
            con.req_command(command).await
        };
        result.map_err(|e| {
            if breaks_connection(&e) {
                self.forget(addr);
            }
            (e, true)
        })
    }

    /// Runs one command at `target`, following redirections and retrying by the core's
    /// rules until it succeeds, fails for good, or its tries or time run out.
    async fn run<T: FromRedisValue>(&self, command: &Cmd, target: &Target) -> Result<T> {
        let read_only = command.info().is_some_and(CommandInfo::is_readonly);
        let mut attempts = Attempts::new(self.state());
        let mut ask: Option<NodeAddr> = None;
        loop {
            let asking = ask.is_some();
            let addr = match ask.take() {
                Some(addr) => addr,
                None => self.resolve(target, read_only).await?,
            };
            let (error, sent) = match self.send(&addr, command, asking).await {
                Ok(reply) => {
                    self.state().answered(&addr);
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
            self.state().count(&next);
            if !self.recover(next, &mut attempts, &mut ask).await || !attempts.take() {
                return Err(error);
            }
        }
    }

    /// Follows a recovery: patches the map, reads it again, waits. `false` when the
    /// error is to be returned.
    async fn recover(
        &self,
        next: Recovery,
        attempts: &mut Attempts,
        ask: &mut Option<NodeAddr>,
    ) -> bool {
        match next {
            Recovery::Moved { slot, addr } => {
                let addr = self.state().remap(addr);
                if self.state().moved(slot, &addr) {
                    self.refresh_quietly().await;
                }
                if attempts.bounced(&addr) {
                    match attempts.wait(&self.state().config.retry) {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => return false,
                    }
                }
                true
            }
            Recovery::Ask(addr) => {
                *ask = Some(self.state().remap(addr));
                true
            }
            Recovery::Retry { refresh } => {
                if refresh {
                    self.refresh_quietly().await;
                }
                match attempts.wait(&self.state().config.retry) {
                    Some(wait) => {
                        tokio::time::sleep(wait).await;
                        true
                    }
                    None => false,
                }
            }
            Recovery::Fail { refresh } => {
                if refresh {
                    // In a task of its own: the caller has its error at once, and the
                    // map is read whatever the caller does next.
                    let con = self.clone();
                    tokio::spawn(async move { con.refresh_quietly().await });
                }
                false
            }
        }
    }

    /// The node for `target`: when the slot is not served, or its node failed last
    /// time, after reading the map again.
    async fn resolve(&self, target: &Target, read_only: bool) -> Result<NodeAddr> {
        match self.state().resolve(target, read_only) {
            Ok(addr) if self.state().refresh_before(&addr) => {
                self.refresh_quietly().await;
                self.state().resolve(target, read_only)
            }
            Ok(addr) => Ok(addr),
            Err(_) => {
                self.refresh().await?;
                self.state().resolve(target, read_only)
            }
        }
    }

    async fn refresh_quietly(&self) {
        let _ = self.refresh().await;
    }

    /// Reads the slot map from up to three nodes at once and takes the view most agree
    /// on, within the discovery timeout; see the blocking driver's `refresh`.
    async fn refresh(&self) -> Result<()> {
        let state = Arc::clone(&self.inner.state);
        let seen = state.refreshes();
        let _one = self.inner.refreshing.lock().await;
        if state.refreshes() != seen {
            return Ok(());
        }
        let deadline = Instant::now().checked_add(state.config.discovery_timeout);
        let mut views = Vec::new();
        let mut failures = Vec::new();
        let candidates = state.candidates();
        for batch in candidates.chunks(3) {
            if State::enough_views(views.len())
                || (batch.iter().all(|(_, failed)| *failed) && !views.is_empty())
            {
                break;
            }
            let left = deadline.map_or(Some(state.config.discovery_timeout), |d| {
                d.checked_duration_since(Instant::now())
            });
            let Some(left) = left.filter(|left| !left.is_zero()) else {
                break;
            };
            let mut asks = JoinSet::new();
            for (addr, failed) in batch {
                if *failed && !views.is_empty() {
                    continue;
                }
                let (state, addr) = (Arc::clone(&state), addr.clone());
                asks.spawn(async move {
                    let view = tokio::time::timeout(left, ask_view(&state, &addr, left)).await;
                    let view = view.unwrap_or_else(|_| {
                        Err(Error::new(ErrorKind::Timeout, "no answer in time"))
                    });
                    (addr, view)
                });
            }
            while let Some(done) = asks.join_next().await {
                match done {
                    Ok((_, Ok(view))) => views.push(view),
                    Ok((addr, Err(e))) => failures.push((addr, e)),
                    Err(_) => {}
                }
            }
        }
        state.install(views, &failures)?;
        let mut asks = JoinSet::new();
        for addr in state.zones_unknown() {
            let left = deadline.and_then(|d| d.checked_duration_since(Instant::now()));
            let Some(left) = left.filter(|left| !left.is_zero()) else {
                break;
            };
            let state = Arc::clone(&state);
            asks.spawn(async move {
                let ask = async {
                    let mut con = open_within(&state, &addr, left).await?;
                    con.req_command::<Value>(&cmd(ZONE_QUERY)).await
                };
                let zone = tokio::time::timeout(left, ask).await;
                let zone = zone.unwrap_or_else(|_| Err(Error::new(ErrorKind::Timeout, "")));
                state.set_zone(&addr, zone);
            });
        }
        while asks.join_next().await.is_some() {}
        Ok(())
    }

    /// Runs `cmd` on every primary (or every node) at once and merges the replies by its
    /// response policy.
    async fn fan_out(&self, command: &Cmd, all_nodes: bool) -> Result<Value> {
        let nodes = self.state().fan_out(all_nodes);
        let replies = self.on_each(command, nodes).await?;
        Ok(merge_nodes(command.info(), replies))
    }

    /// Runs `cmd` on the nodes the caller chooses and returns each node's reply; see
    /// the sync [`ClusterConnection::on_nodes`](crate::ClusterConnection::on_nodes).
    ///
    /// # Errors
    ///
    /// No such node in the slot map; a node that could not be reached (named).
    pub async fn on_nodes(&self, command: &Cmd, nodes: &Nodes) -> Result<Vec<(NodeAddr, Value)>> {
        let nodes = self.state().chosen(nodes);
        self.on_each(command, nodes).await
    }

    /// Runs `cmd` on the nodes the caller chooses and merges the replies by the
    /// command's response policy; see the sync
    /// [`ClusterConnection::on_nodes_merged`](crate::ClusterConnection::on_nodes_merged).
    ///
    /// # Errors
    ///
    /// As [`ClusterConnection::on_nodes`]; the (first) error reply; a failed conversion.
    pub async fn on_nodes_merged<T: FromRedisValue>(
        &self,
        command: &Cmd,
        nodes: &Nodes,
    ) -> Result<T> {
        let replies = self.on_nodes(command, nodes).await?;
        convert(merge_nodes(command.info(), replies))
    }

    /// Runs `cmd` on each of `nodes` at once, each reply with its node, error replies as
    /// values.
    async fn on_each(&self, command: &Cmd, nodes: Vec<NodeAddr>) -> Result<Vec<(NodeAddr, Value)>> {
        if nodes.is_empty() {
            return Err(Error::new(
                ErrorKind::Connection,
                "the cluster has no such node",
            ));
        }
        let mut runs = JoinSet::new();
        for (idx, addr) in nodes.iter().enumerate() {
            let (con, command, target) =
                (self.clone(), command.clone(), Target::Node(addr.clone()));
            runs.spawn(async move { (idx, con.run::<Value>(&command, &target).await) });
        }
        let mut replies: Vec<Option<Value>> = vec![None; nodes.len()];
        while let Some(done) = runs.join_next().await {
            let Ok((idx, reply)) = done else { continue };
            let addr = nodes.get(idx).cloned().unwrap_or_else(|| NodeAddr {
                host: String::new(),
                port: 0,
            });
            let value = reply_value(reply).map_err(|e| e.within(format!("node {addr}")))?;
            if let Some(place) = replies.get_mut(idx) {
                *place = Some(value);
            }
        }
        Ok(nodes
            .into_iter()
            .zip(replies)
            .map(|(addr, reply)| (addr, reply.unwrap_or(Value::Nil)))
            .collect())
    }

    /// A command's entry, learned from `COMMAND INFO` for one the table does not know.
    async fn learn(&self, command: &Cmd) -> Option<Cmd> {
        let name = command.args().next()?.to_vec();
        if !self.state().should_learn(&name) {
            return None;
        }
        let ask = cmd("COMMAND").arg("INFO").arg(&name[..]).clone();
        let reply: Value = self.run(&ask, &Target::AnyPrimary).await.ok()?;
        let info = CommandInfo::learn(reply).ok()?.into_iter().next()?;
        let mut learned = command.clone();
        learned.set_info(info);
        Some(learned)
    }

    /// Runs one command wherever it goes, its reply as a value.
    async fn dispatch(&self, command: &Cmd) -> Result<Value> {
        match route::route(command)? {
            Route::Slot(slot) => self.run(command, &Target::Slot(slot)).await,
            Route::AnyPrimary => self.run(command, &Target::AnyPrimary).await,
            Route::AllPrimaries => Box::pin(self.fan_out(command, false)).await,
            Route::AllNodes => Box::pin(self.fan_out(command, true)).await,
            Route::Split(parts) => {
                let cmds: Vec<(Cmd, Target)> = parts
                    .iter()
                    .map(|part| (part.cmd.clone(), Target::Slot(part.slot)))
                    .collect();
                let replies = Box::pin(self.run_grouped(cmds, Vec::new())).await?;
                Ok(merge_split(command.info(), &parts, replies))
            }
        }
    }

    /// Runs commands bound for several nodes: one batch per node, all at once, then each
    /// command a node redirected or failed on its own. Replies come back in the
    /// commands' order, error replies as values.
    async fn run_grouped(
        &self,
        cmds: Vec<(Cmd, Target)>,
        scripts: Vec<Script>,
    ) -> Result<Vec<Value>> {
        let mut grouped = Grouped::new(self.state(), &cmds);
        let mut sends = JoinSet::new();
        for (addr, members, batch) in grouped.batches(&cmds, &scripts) {
            let con = self.clone();
            sends.spawn(async move {
                let sent = match con.node(&addr).await {
                    Err(e) => Err((e, false)),
                    Ok(mut node) => node.req_batch(&batch).await.map_err(|e| (e, true)),
                };
                (addr, members, sent)
            });
        }
        while let Some(done) = sends.join_next().await {
            let Ok((addr, members, sent)) = done else {
                return Err(Error::new(
                    ErrorKind::Connection,
                    "a pipeline's task failed",
                ));
            };
            match sent {
                Ok(values) => grouped.answered(&members, values),
                Err((error, sent)) => {
                    if breaks_connection(&error) {
                        self.forget(&addr);
                    }
                    grouped.failed(&cmds, &members, error, sent)?;
                }
            }
        }
        for idx in grouped.take_alone() {
            if let Some((command, target)) = cmds.get(idx) {
                let value = reply_value(self.run::<Value>(command, target).await)?;
                grouped.place(idx, value);
            }
        }
        Ok(grouped.finish())
    }

    /// The keys of the whole cluster as a stream; see the sync
    /// [`ClusterConnection::scan_iter`](crate::ClusterConnection::scan_iter).
    pub fn scan_iter<T: FromRedisValue + Send + 'static>(
        &self,
        options: ScanOptions,
    ) -> impl Stream<Item = Result<T>> + Send + 'static {
        let con = self.clone();
        unfold(
            (con, ClusterScan::new(options)),
            |(con, mut core)| async move {
                loop {
                    match core.step() {
                        ScanStep::Item(key) => {
                            let item = T::from_redis_value(Value::BulkString(key));
                            return Some((item, (con, core)));
                        }
                        ScanStep::Done => return None,
                        ScanStep::Locate { slot, refresh } => {
                            if refresh {
                                con.refresh_quietly().await;
                            }
                            let node = con.state().node_for(slot, false).ok();
                            core.node(slot, node);
                        }
                        ScanStep::Send(addr, command) => {
                            let reply = con.run::<Value>(&command, &Target::Node(addr)).await;
                            match core.reply(reply) {
                                Ok(None) => {}
                                Ok(Some(wait)) => tokio::time::sleep(wait).await,
                                Err(e) => return Some((Err(e), (con, core))),
                            }
                        }
                    }
                }
            },
        )
    }

    /// Runs a transaction on its slot's primary, again elsewhere when it was redirected
    /// (nothing of it ran then).
    async fn run_atomic(&self, batch: &Batch) -> Result<Vec<Value>> {
        let target = match atomic_slot(batch)? {
            Some(slot) => Target::Slot(slot),
            None => Target::AnyPrimary,
        };
        let mut attempts = Attempts::new(self.state());
        loop {
            let addr = self.resolve(&target, false).await?;
            let (error, sent) = match self.node(&addr).await {
                Err(e) => (e, false),
                Ok(mut con) => match con.req_batch(batch).await {
                    Ok(replies) => return Ok(replies),
                    Err(e) => (e, true),
                },
            };
            if breaks_connection(&error) {
                self.forget(&addr);
            }
            attempts.failed_at(&addr);
            let next = match recovery(&error, sent, false) {
                // A slot in migration: wait until it has moved.
                Recovery::Ask(_) => Recovery::Retry { refresh: false },
                next => next,
            };
            self.state().count(&next);
            if !self.recover(next, &mut attempts, &mut None).await || !attempts.take() {
                return Err(error);
            }
        }
    }
}

impl AsyncConnectionLike for ClusterConnection {
    async fn req_command<T: FromRedisValue>(&mut self, command: &Cmd) -> Result<T> {
        let learned = if command.info().is_none() {
            self.learn(command).await
        } else {
            None
        };
        let command = learned.as_ref().unwrap_or(command);
        match route::route(command)? {
            // The usual case: the reply converts straight from what the node sent.
            Route::Slot(slot) => self.run(command, &Target::Slot(slot)).await,
            Route::AnyPrimary => self.run(command, &Target::AnyPrimary).await,
            _ => convert(self.dispatch(command).await?),
        }
    }

    async fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        if batch.is_atomic() {
            return self.run_atomic(batch).await;
        }
        let mut plain: Vec<(Cmd, Target)> = Vec::with_capacity(batch.len());
        let mut special: Vec<(usize, Cmd)> = Vec::new();
        for (idx, command) in batch.cmds().enumerate() {
            match route::route(&command)? {
                Route::Slot(slot) => plain.push((command, Target::Slot(slot))),
                Route::AnyPrimary => plain.push((command, Target::AnyPrimary)),
                _ => special.push((idx, command)),
            }
        }
        let mut plain_replies = self
            .run_grouped(plain, batch.scripts().to_vec())
            .await?
            .into_iter();
        let mut replies = Vec::with_capacity(batch.len());
        for idx in 0..batch.len() {
            match special.iter().find(|(s, _)| *s == idx) {
                // Commands that fan out or split run on their own, in their place.
                Some((_, command)) => replies.push(reply_value(self.dispatch(command).await)?),
                None => replies.push(plain_replies.next().unwrap_or(Value::Nil)),
            }
        }
        Ok(replies)
    }

    fn db(&self) -> i64 {
        self.state().config.node_options.db
    }

    fn protocol(&self) -> ProtocolVersion {
        self.state().config.node_options.protocol
    }

    fn is_open(&self) -> bool {
        true
    }
}

/// Opens the multiplexed connection to a node (its blocking commands on a pool of
/// dedicated connections of its own), in `READONLY` mode when reads may go to replicas.
async fn open_node(state: &State, addr: &NodeAddr) -> Result<MultiplexedConnection> {
    let info = state.node_info(addr);
    let dedicated = Pool::new(info, PoolConfig::default(), RetryPolicy::none());
    let mut con = MultiplexedConnection::connect(dedicated).await?;
    if state.config.read_from != ReadFrom::Primary {
        con.req_command::<()>(&cmd("READONLY")).await?;
    }
    Ok(con)
}

/// One node's view of the slot map, asked on a connection of its own.
async fn ask_view(state: &State, addr: &NodeAddr, within: Duration) -> Result<Topology> {
    let mut con = open_within(state, addr, within).await?;
    match con.req_command::<Value>(&cmd("CLUSTER SHARDS")).await {
        Ok(reply) => Topology::from_shards(reply, addr, state.tls()),
        Err(e) if e.server_error().is_some() => {
            let reply = con.req_command::<Value>(&cmd("CLUSTER SLOTS")).await?;
            Topology::from_slots(reply, addr)
        }
        Err(e) => Err(e),
    }
}

/// A connection of its own to a node, connected and answering within `within`.
async fn open_within(
    state: &State,
    addr: &NodeAddr,
    within: Duration,
) -> Result<crate::aio::Connection> {
    let mut info = state.node_info(addr);
    let cap = |t: Option<Duration>| Some(t.map_or(within, |t| t.min(within)));
    info.socket_timeout = cap(info.socket_timeout);
    info.socket_connect_timeout = cap(info.socket_connect_timeout);
    crate::aio::Connection::open(&info).await
}

/// Reads the slot map every `every` while a connection lives.
async fn refresh_every(inner: Weak<Inner>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if inner.state.refresh_due() {
            // One node's view, compared with the map; the full refresh only when they
            // differ.
            let state = &inner.state;
            let within = state.config.discovery_timeout;
            let same = match state.candidates().into_iter().next() {
                Some((addr, _)) => {
                    let view = tokio::time::timeout(within, ask_view(state, &addr, within)).await;
                    view.is_ok_and(|view| view.is_ok_and(|view| state.confirms(view)))
                }
                None => false,
            };
            if !same {
                ClusterConnection { inner }.refresh_quietly().await;
            }
        }
    }
}
