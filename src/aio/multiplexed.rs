//! [`MultiplexedConnection`]: one socket shared by many tasks, writes coalesced.
//!
//! Callers encode their command into a shared buffer and queue a reply slot, under one
//! short lock, so the order of commands on the wire and the order of slots always agree.
//! A writer task writes whatever has gathered in the buffer in one go: while a write is
//! in flight, commands from other tasks gather for the next one. A caller that finds the
//! connection idle (nothing to write, no reply awaited) writes its command to the socket
//! itself, without waiting, and leaves only what the socket did not take to the writer:
//! a lone request then costs no hand-over, and a large value is not copied. A reader
//! task decodes replies and hands each to the oldest slot; a slot whose caller went away (a dropped
//! future) still takes its reply, which is thrown away, so no reply ever reaches the
//! wrong request.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::connection::{
    Connection, DEFAULT_RESPONSE_TIMEOUT, OwnedRead, OwnedWrite, PlainWrite, read_decoded,
};
use crate::batch::Batch;
use crate::cmd::{Cmd, Outgoing};
use crate::connection::core::{DIRECT_WRITE_MIN, end_on_readonly, is_subscription_reply, not_sent};
use crate::connection::info::{ConnectionAddr, ConnectionInfo, ProtocolVersion};
use crate::error::{Error, ErrorKind, Result};
use crate::pool::PoolConfig;
use crate::pool::tokio::Pool;
use crate::protocol::{Decoded, Decoder, ProtocolError};
use crate::retry::RetryPolicy;
use crate::seam::AsyncConnectionLike;
use crate::table::BlockingWait;
use crate::tenure::Tenure;
use crate::types::FromRedisValue;
use crate::value::Value;

/// What a request gets back: one command's reply, as the reader decoded it (an
/// aggregate stays a frame, which the caller converts to what it wants without building
/// a [`Value`]), or a batch's replies in order.
enum Reply {
    One(Decoded),
    Many(Vec<Value>),
}

/// A request waiting for its replies: one for a command; one per command for a batch,
/// which is answered once, when its last reply is in.
struct Slot {
    tx: oneshot::Sender<Result<Reply>>,
    /// A batch's size and its replies so far; `None` for a single command.
    batch: Option<(usize, Vec<Value>)>,
    /// The watchdog's tick when the request was queued; see [`watch`].
    queued_at: u64,
}

impl Slot {
    /// How many more replies the request waits for: what is left of a batch.
    fn awaiting(&self) -> usize {
        self.batch
            .as_ref()
            .map_or(0, |(len, replies)| len.saturating_sub(replies.len()))
    }

    /// Takes one reply; returns what to send when that completes the request.
    fn take(&mut self, decoded: Decoded) -> Result<Option<Reply>, ProtocolError> {
        let Some((len, replies)) = &mut self.batch else {
            return Ok(Some(Reply::One(decoded)));
        };
        replies.push(decoded.into_value()?);
        Ok((replies.len() == *len).then(|| Reply::Many(std::mem::take(replies))))
    }

    /// Takes a batch's next replies that are in `buf` already and short (a pipeline's
    /// `+OK`s), without a trip round the reader's loop each; returns what to send when
    /// they complete the request.
    fn take_short_lines(&mut self, decoder: &mut Decoder, buf: &mut BytesMut) -> Option<Reply> {
        let (len, replies) = self.batch.as_mut()?;
        decoder.decode_short_lines(buf, replies, *len);
        (replies.len() == *len).then(|| Reply::Many(std::mem::take(replies)))
    }
}

struct State {
    /// Commands encoded and not written yet.
    buf: Vec<u8>,
    /// `true` while the writer task, or a caller writing directly, is writing: the
    /// socket is theirs until they are done.
    writing: bool,
    /// A buffer for a caller writing directly to encode into, kept between uses.
    spare: Vec<u8>,
    /// One slot per request written or waiting to be, in order.
    pending: VecDeque<Slot>,
    /// How and why the connection failed, once it has.
    failed: Option<(ErrorKind, String)>,
}

struct Shared {
    state: Mutex<State>,
    /// The socket, for a plain (TCP or Unix) connection, which callers may write to
    /// directly as well as the writer task. A TLS stream belongs to the writer alone.
    socket: Option<Arc<PlainWrite>>,
    wake_writer: Notify,
    pushes: Mutex<Option<mpsc::UnboundedSender<Value>>>,
    writes: AtomicU64,
    commands: AtomicU64,
    /// The watchdog's ticks so far; see [`watch`].
    ticks: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change to the state is one step; a panic elsewhere leaves it whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fails every request in flight and every later one, as lost for `why`, with a
    /// TLS error when TLS failed and a connection error otherwise.
    fn fail(&self, kind: ErrorKind, why: &str) {
        let mut state = self.lock();
        let (kind, why) = state
            .failed
            .get_or_insert_with(|| (kind, why.to_owned()))
            .clone();
        state.buf.clear();
        for slot in state.pending.drain(..) {
            let _ = slot.tx.send(Err(lost(kind, &why)));
        }
    }

    /// [`Shared::fail`] for the error that ended the connection.
    fn fail_on(&self, e: &Error) {
        let kind = match e.kind() {
            kind @ (ErrorKind::Tls | ErrorKind::Protocol) => kind,
            _ => ErrorKind::Connection,
        };
        self.fail(kind, &e.to_string());
    }
}

/// The error of a request on a connection that failed for `why`.
fn lost(kind: ErrorKind, why: &str) -> Error {
    Error::new(kind, format!("connection lost: {why}"))
}

/// Stops the tasks when the last handle goes.
struct Tasks {
    writer: JoinHandle<()>,
    reader: JoinHandle<()>,
    watchdog: JoinHandle<()>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.writer.abort();
        self.reader.abort();
        self.watchdog.abort();
    }
}

/// Counts of what a [`MultiplexedConnection`] did, to see writes being coalesced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultiplexedStats {
    /// Write calls made on the socket.
    pub writes: u64,
    /// Commands sent.
    pub commands: u64,
}

/// Many tasks sharing one connection; cheap to clone.
///
/// Commands from concurrent callers are encoded on the caller's side and written
/// together, as few writes as possible; replies are matched to requests in order. Every
/// request has a timeout: [`ConnectionInfo::socket_timeout`], or
/// [`DEFAULT_RESPONSE_TIMEOUT`] (5 s). Connecting and the setup must be done within
/// [`ConnectionInfo::socket_connect_timeout`] (else the socket timeout, else 5 s).
///
/// # Blocking commands
///
/// Blocking commands (flagged `BLOCKING` in the command table: `BLPOP`, `XREAD ...
/// BLOCK`, `WAIT`...) would hold up every reply behind them, so they run on a dedicated
/// connection instead, and so does a pipeline holding one. Their deadline adds their own
/// timeout argument to the request timeout (a timeout of 0 waits as long as the server
/// does). The dedicated connections come from a bounded [`Pool`]: the client's async
/// pool for a connection from a [`Client`](crate::Client) (at most
/// [`PoolConfig::max_connections`], 50 unless configured), a pool of its own with the
/// default limits otherwise. When all are in use, a blocking command waits for one within
/// its deadline.
///
/// # Failures
///
/// When the socket fails, every request in flight fails with an
/// [`ErrorKind::Connection`] error, and so does every later one: a
/// [`ConnectionManager`](crate::aio::ConnectionManager) reconnects. A request that gets
/// no reply within its timeout fails with an [`ErrorKind::Timeout`] error and fails the
/// connection with it: every reply after it would be as late, and a reply cut short would
/// leave the rest of the stream unreadable.
///
/// # Shared state
///
/// `SELECT`, `AUTH`, `HELLO` and `RESET` are refused with an
/// [`ErrorKind::InvalidInput`] error before anything is sent: they would change the
/// database, user or protocol under every task sharing the connection, and a reconnect
/// would silently undo them. Set them in the [`ConnectionInfo`] instead, or send them on a
/// connection of your own ([`Client::get_async_connection`](crate::Client::get_async_connection)).
///
/// # Cancel safety
///
/// Dropping a request future at any point is safe: its command is written anyway (or was
/// already) and its reply, when it comes, is thrown away. The connection stays in step.
///
/// RESP3 push messages (client-side caching invalidations, say) go to the channel
/// [`push_receiver`](MultiplexedConnection::push_receiver) hands out, once.
#[derive(Clone)]
pub struct MultiplexedConnection {
    shared: Arc<Shared>,
    _tasks: Arc<Tasks>,
    info: Arc<ConnectionInfo>,
    timeout: Duration,
    /// Where blocking commands run.
    dedicated: Pool,
    push_rx: Arc<Mutex<Option<mpsc::UnboundedReceiver<Value>>>>,
    /// The tenure of the connection it was made from: once that ends, the connection
    /// fails as a lost one does.
    tenure: Option<Tenure>,
}

impl MultiplexedConnection {
    /// Connects, sets the connection up, and starts its reader and writer tasks on the
    /// current tokio runtime.
    ///
    /// # Errors
    ///
    /// Connection and authentication errors.
    pub async fn open(info: &ConnectionInfo) -> Result<MultiplexedConnection> {
        let dedicated = Pool::new(info.clone(), PoolConfig::default(), RetryPolicy::default());
        MultiplexedConnection::connect(dedicated).await
    }

    /// A multiplexed connection from the connector of `dedicated`, whose connections
    /// its blocking commands run on.
    pub(crate) async fn connect(dedicated: Pool) -> Result<MultiplexedConnection> {
        let connector = Arc::clone(dedicated.connector());
        let con = connector.connect_async().await?;
        Ok(MultiplexedConnection::start(
            connector.options(),
            con,
            dedicated,
        ))
    }

    /// Starts the reader and writer tasks on a connection set up already: the socket is
    /// split between them, and the reader goes on from what was read past the setup.
    fn start(info: &ConnectionInfo, con: Connection, dedicated: Pool) -> MultiplexedConnection {
        let (stream, core) = con.into_parts();
        let tenure = core.tenure().cloned();
        let (buf, decoder) = core.into_read_state();
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let (read_half, write_half) = stream.into_split();
        let socket = match &write_half {
            OwnedWrite::Plain(plain) => Some(Arc::clone(plain)),
            #[cfg(feature = "tls")]
            OwnedWrite::Tls(_) => None,
        };
        let shared = Arc::new(Shared {
            socket,
            state: Mutex::new(State {
                buf: Vec::with_capacity(16 * 1024),
                writing: false,
                spare: Vec::with_capacity(1024),
                pending: VecDeque::new(),
                failed: None,
            }),
            wake_writer: Notify::new(),
            pushes: Mutex::new(Some(push_tx)),
            writes: AtomicU64::new(0),
            commands: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
        });
        let timeout = info.socket_timeout.unwrap_or(DEFAULT_RESPONSE_TIMEOUT);
        let writer = tokio::spawn(write_loop(Arc::clone(&shared), write_half));
        let watchdog = tokio::spawn(watch(Arc::downgrade(&shared), timeout));
        let reader = tokio::spawn(read_loop(
            Arc::clone(&shared),
            read_half,
            buf,
            decoder,
            info.addr.clone(),
        ));
        MultiplexedConnection {
            shared,
            _tasks: Arc::new(Tasks {
                writer,
                reader,
                watchdog,
            }),
            info: Arc::new(info.clone()),
            timeout,
            dedicated,
            push_rx: Arc::new(Mutex::new(Some(push_rx))),
            tenure,
        }
    }

    /// The channel RESP3 push messages go to; `None` after the first call.
    #[must_use]
    pub fn push_receiver(&self) -> Option<mpsc::UnboundedReceiver<Value>> {
        self.push_rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// How many writes carried how many commands so far.
    #[must_use]
    pub fn stats(&self) -> MultiplexedStats {
        MultiplexedStats {
            writes: self.shared.writes.load(Ordering::Relaxed),
            commands: self.shared.commands.load(Ordering::Relaxed),
        }
    }

    /// The per-request timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `false` once the socket failed; every request fails from then on.
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.tenure_ended().is_none() && self.shared.lock().failed.is_none()
    }

    /// Why the connection's tenure ended, once it has.
    #[inline]
    fn tenure_ended(&self) -> Option<&str> {
        self.tenure.as_ref().and_then(Tenure::ended)
    }

    /// Ends the tenure when `res` is a `READONLY` reply: the server is a replica now.
    fn track<T>(&self, res: Result<T>) -> Result<T> {
        if let (Err(e), Some(tenure)) = (&res, &self.tenure) {
            end_on_readonly(tenure, &self.info.addr, e);
        }
        res
    }

    /// Queues `cmds` as one request; its receiver gets a [`Reply::One`] for a single
    /// command, else a [`Reply::Many`]. On an idle connection the caller writes the
    /// commands itself (see [`MultiplexedConnection::write_directly`]); otherwise they
    /// are left to the writer task.
    fn enqueue(&self, out: Outgoing<'_>) -> Result<oneshot::Receiver<Result<Reply>>> {
        out.check_args()?;
        if let Some(why) = self.tenure_ended() {
            // Requests in flight fail with it, and the connection is done.
            let e = not_sent(&self.info.addr, why);
            self.shared.fail(ErrorKind::Connection, &e.to_string());
            return Err(e);
        }
        let count = out.len();
        let (tx, rx) = oneshot::channel();
        let slot = Slot {
            tx,
            batch: (count > 1).then(|| (count, Vec::with_capacity(count))),
            queued_at: self.shared.ticks.load(Ordering::Relaxed),
        };
        let mut state = self.shared.lock();
        if let Some((kind, why)) = &state.failed {
            return Err(lost(*kind, why));
        }
        state.pending.push_back(slot);
        self.shared
            .commands
            .fetch_add(count as u64, Ordering::Relaxed);
        // Only a request with no other in flight writes directly, so that commands from
        // many callers still gather into shared writes.
        let idle = !state.writing && state.buf.is_empty() && state.pending.len() == 1;
        match &self.shared.socket {
            Some(socket) if idle => {
                state.writing = true;
                let spare = std::mem::take(&mut state.spare);
                drop(state);
                self.write_directly(socket, out, spare);
            }
            _ => {
                out.write_packed(&mut state.buf);
                drop(state);
                self.shared.wake_writer.notify_one();
            }
        }
        Ok(rx)
    }

    /// Writes `sending` to the socket from the caller's task, as far as the socket
    /// takes it without waiting, while `writing` keeps the writer task and other callers
    /// off it; what is left goes to the front of the buffer for the writer task. Nothing
    /// here waits, so a caller dropped later cannot leave a command half written. A batch
    /// is written from its own buffer, and a single large command from the command
    /// itself, its header from `out`; other commands are encoded into `out`.
    fn write_directly(&self, socket: &PlainWrite, sending: Outgoing<'_>, mut out: Vec<u8>) {
        let large = match sending {
            Outgoing::Packed(batch) => batch.wire(),
            Outgoing::Cmds([cmd]) if cmd.encoded_args().len() > DIRECT_WRITE_MIN => {
                cmd.write_header(&mut out);
                cmd.encoded_args()
            }
            Outgoing::Cmds(_) => {
                sending.write_packed(&mut out);
                &[]
            }
        };
        // As the writer task does, a large command goes out as its first bytes, then
        // the rest.
        let (first, rest) = large.split_at(large.len().min(DIRECT_WRITE_MIN));
        let parts = [out.as_slice(), first, rest];
        self.shared.writes.fetch_add(1, Ordering::Relaxed);
        let written = write_now(socket, &parts[..2]).and_then(|sent| {
            if sent < out.len() + first.len() {
                return Ok(sent);
            }
            Ok(sent + write_now(socket, &parts[2..])?)
        });

        let mut state = self.shared.lock();
        state.writing = false;
        let sent = match written {
            Ok(sent) => sent,
            Err(e) => {
                drop(state);
                let e = Error::io(format!("writing to {} failed", self.info.addr), e);
                self.shared.fail_on(&e);
                return;
            }
        };
        if state.failed.is_none() {
            let unsent = unsent_tail(&parts, sent);
            if !unsent.is_empty() {
                // Ahead of whatever other callers queued meanwhile.
                state.buf.splice(0..0, unsent);
            }
        }
        out.clear();
        if out.capacity() <= MAX_SPARE {
            state.spare = out;
        }
        let wake = !state.buf.is_empty();
        drop(state);
        if wake {
            self.shared.wake_writer.notify_one();
        }
    }

    /// Waits for a request's reply within the request timeout. A request that runs out
    /// of time fails the connection: the replies behind it are as late, and one cut
    /// short would leave the stream unreadable.
    async fn receive(&self, rx: oneshot::Receiver<Result<Reply>>) -> Result<Reply> {
        // No timer of its own: the connection's watchdog fails the oldest request when
        // it has waited too long, and the connection with it.
        rx.await.unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Connection,
                "connection lost before the reply",
            ))
        })
    }

    /// Runs `out`, which holds a blocking command, on a dedicated connection, within the
    /// request timeout plus how long its commands may block (`wait`), waiting for a free
    /// connection included.
    async fn on_dedicated<R>(
        &self,
        wait: BlockingWait,
        run: impl AsyncFnOnce(&mut crate::pool::tokio::PooledConnection) -> Result<R>,
    ) -> Result<R> {
        let work = async {
            let mut con = self.dedicated.get().await?;
            run(&mut con).await
        };
        match wait.plus(self.timeout) {
            None => work.await,
            Some(limit) => tokio::time::timeout(limit, work)
                .await
                .unwrap_or_else(|_| Err(timed_out(limit))),
        }
    }
}

/// The error of a request that got no reply in `limit`.
fn timed_out(limit: Duration) -> Error {
    Error::io(
        "waiting for a reply",
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the reply did not arrive within {limit:?}"),
        ),
    )
}

/// Refuses the commands that would change the connection's state under every task
/// sharing it; see [`MultiplexedConnection`].
fn refuse_shared_state(out: Outgoing<'_>) -> Result<()> {
    if !out.changes_state() {
        return Ok(());
    }
    let mut refused = None;
    out.for_each(|cmd| {
        if refused.is_none() && cmd.state_change().is_some() {
            refused = cmd
                .args()
                .next()
                .map(|name| String::from_utf8_lossy(name).into_owned());
        }
    });
    match refused {
        None => Ok(()),
        Some(name) => Err(Error::invalid_input(format!(
            "{name} is refused on a shared connection: it would change the database, user \
             or protocol of every task sharing it, and a reconnect would undo it; set it \
             in the ConnectionInfo, or use a connection of your own \
             (Client::get_async_connection)"
        ))),
    }
}

/// Converts a single command's reply to `T`: an error reply is returned as the `Err`, an
/// aggregate is read straight from its frame.
///
/// # Errors
///
/// Inner `Result`: the conversion's error. Outer: the server's error reply.
fn convert_reply<T: FromRedisValue>(reply: Decoded) -> Result<Result<T>> {
    match reply {
        Decoded::Value(Value::ServerError(e)) => Err(e.into()),
        Decoded::Value(value) => Ok(T::from_redis_value(value)),
        Decoded::Frame(owned) => {
            let mut frame = owned.frame();
            match frame.next_error() {
                Some(e) => Err(e.into()),
                None => Ok(T::from_frame(&mut frame)),
            }
        }
    }
}

/// The largest buffer a caller writing directly leaves for the next one.
const MAX_SPARE: usize = 64 * 1024;

/// Writes `parts` (at most three) in order as far as the socket takes them without
/// waiting; returns how many bytes went.
fn write_now(socket: &PlainWrite, parts: &[&[u8]]) -> std::io::Result<usize> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut sent = 0;
    while sent < total {
        let mut slices = [std::io::IoSlice::new(&[]); 3];
        let mut count = 0;
        for (slot, rest) in slices.iter_mut().zip(unsent(parts, sent)) {
            *slot = std::io::IoSlice::new(rest);
            count += 1;
        }
        match socket.try_write_vectored(slices.get(..count).unwrap_or_default()) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

/// What of `parts` is left after the first `sent` bytes.
fn unsent<'a>(parts: &[&'a [u8]], mut sent: usize) -> impl Iterator<Item = &'a [u8]> {
    parts.iter().filter_map(move |part| {
        let skip = sent.min(part.len());
        sent -= skip;
        part.get(skip..).filter(|rest| !rest.is_empty())
    })
}

/// What of `parts` is left after the first `sent` bytes, as one run of bytes.
fn unsent_tail(parts: &[&[u8]], sent: usize) -> Vec<u8> {
    unsent(parts, sent)
        .flat_map(|rest| rest.iter().copied())
        .collect()
}

/// Writes what gathers in the buffer. A plain socket is shared with callers that write
/// directly, taking turns through [`State::writing`].
/// How many ticks of the watchdog make a request timeout: a request that times out
/// fails within an eighth of its timeout after it.
const TICKS_PER_TIMEOUT: u64 = 8;

/// The connection's watchdog: every eighth of the request timeout it counts a tick, and
/// fails the oldest request in flight (requests are answered in order) once it has
/// waited a whole timeout, and every other with it, as a lost connection. One timer per
/// connection instead of one per request: the timers were a quarter of the client's
/// CPU with 1,000 tasks over 4 connections (1.83M commands a second with them, 2.37M
/// without). It stops when the connection fails or is dropped.
async fn watch(shared: Weak<Shared>, timeout: Duration) {
    let tick = (timeout / TICKS_PER_TIMEOUT as u32).max(Duration::from_millis(1));
    loop {
        tokio::time::sleep(tick).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = shared.ticks.fetch_add(1, Ordering::Relaxed) + 1;
        let mut state = shared.lock();
        if state.failed.is_some() {
            return;
        }
        let expired = state
            .pending
            .front()
            .is_some_and(|slot| now.saturating_sub(slot.queued_at) > TICKS_PER_TIMEOUT);
        if expired {
            if let Some(slot) = state.pending.pop_front() {
                let _ = slot.tx.send(Err(timed_out(timeout)));
            }
            drop(state);
            shared.fail(
                ErrorKind::Connection,
                &format!("a request got no reply within {timeout:?}"),
            );
            return;
        }
    }
}

/// Requests in flight above which the writer waits more turns before writing; see
/// `write_loop`.
const MANY_IN_FLIGHT: usize = 64;

async fn write_loop(shared: Arc<Shared>, mut stream: OwnedWrite) {
    let mut out = Vec::with_capacity(16 * 1024);
    loop {
        shared.wake_writer.notified().await;
        // Let the other tasks woken with us queue their commands, so they share this
        // write. With many requests in flight, wait a few turns of the runtime more:
        // the reader hands out more replies meanwhile, their callers queue their next
        // commands, and one write carries them all. Each write costs the client as
        // much as dozens of commands (the kernel's loopback path runs on its CPU);
        // 1,000 tasks over 4 connections went from 1.23M to 1.8M commands a second,
        // 0.81 to 0.54 µs of client CPU each, while a few callers still get theirs
        // written after one turn.
        let in_flight = shared.lock().pending.len();
        let turns = if in_flight > MANY_IN_FLIGHT { 8 } else { 1 };
        for _ in 0..turns {
            tokio::task::yield_now().await;
        }
        loop {
            {
                let mut state = shared.lock();
                // A caller writing directly wakes this task again when it is done.
                if state.buf.is_empty() || state.writing {
                    break;
                }
                std::mem::swap(&mut out, &mut state.buf);
                state.writing = true;
            }
            shared.writes.fetch_add(1, Ordering::Relaxed);
            let written = stream.write_all(&out).await;
            shared.lock().writing = false;
            if let Err(e) = written {
                shared.fail_on(&Error::io("writing to the server failed", e));
                return;
            }
            out.clear();
        }
    }
}

/// The reader hands out at most this many replies from one read before it yields.
///
/// Many callers on one connection otherwise move in lockstep: every reply of a read is
/// handed out, then every caller queues its next command, then one write goes out, and
/// client and server take turns being idle. Yielding part way lets the first callers'
/// next commands reach the server while the client is still busy with the rest: with 50
/// callers this took SET/GET from about 450k to 700k commands a second on two CPUs.
const YIELD_EVERY: usize = 16;

/// With many more callers in flight than that, the reader hands out a quarter of those
/// still waiting before it yields, up to this many: every yield costs a write of its
/// own, and with hundreds of requests waiting the server has plenty to do meanwhile.
/// 1,000 tasks over a cluster's three nodes went from 766k to 837k commands a second,
/// and from 1.30 to 1.19 µs of client CPU each; 50 callers (at most 16 a yield still)
/// and 1,000 tasks over 4 connections did not move outside the noise.
const YIELD_MOST: usize = 128;

async fn read_loop(
    shared: Arc<Shared>,
    mut stream: OwnedRead,
    mut buf: BytesMut,
    mut decoder: Decoder,
    addr: ConnectionAddr,
) {
    let mut delivered = 0;
    let mut yield_every = YIELD_EVERY;
    // Replies the batch at the front still waits for: they become values in its list,
    // so they are built as they are decoded instead of kept as frames.
    let mut batch_left = 0;
    loop {
        if delivered >= yield_every && !buf.is_empty() {
            // Let the callers just answered queue their next commands and the writer send
            // them while the rest of this read is handed out.
            delivered = 0;
            tokio::task::yield_now().await;
        }
        let read = read_decoded(&mut stream, &mut buf, &mut decoder, &addr, batch_left > 0);
        let incoming = match read.await {
            Ok(Decoded::Frame(frame)) if frame.frame().at_push() => frame
                .frame()
                .value()
                .map(Decoded::Value)
                .map_err(Error::from),
            other => other,
        };
        let incoming = match incoming {
            Ok(Decoded::Value(Value::Push(items))) if !is_subscription_reply(&items) => {
                let pushes = shared.pushes.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(tx) = pushes.as_ref() {
                    let _ = tx.send(Value::Push(items));
                }
                continue;
            }
            Ok(incoming) => incoming,
            Err(e) => {
                shared.fail_on(&e);
                return;
            }
        };
        let done = {
            let mut state = shared.lock();
            let Some(slot) = state.pending.front_mut() else {
                drop(state);
                shared.fail(
                    ErrorKind::Protocol,
                    "a reply arrived that no request was waiting for",
                );
                return;
            };
            let mut taken = slot.take(incoming);
            if matches!(taken, Ok(None)) {
                taken = Ok(slot.take_short_lines(&mut decoder, &mut buf));
            }
            batch_left = match taken {
                Ok(None) => slot.awaiting(),
                _ => 0,
            };
            yield_every = (state.pending.len() / 4).clamp(YIELD_EVERY, YIELD_MOST);
            match taken {
                Ok(reply) => reply.and_then(|reply| {
                    let slot = state.pending.pop_front()?;
                    Some((slot.tx, reply))
                }),
                Err(e) => {
                    drop(state);
                    shared.fail_on(&e.into());
                    return;
                }
            }
        };
        if let Some((tx, reply)) = done {
            // The caller may have gone; the reply is then dropped, in step.
            let _ = tx.send(Ok(reply));
            delivered += 1;
        }
    }
}

impl AsyncConnectionLike for MultiplexedConnection {
    async fn req_command<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T> {
        let out = Outgoing::Cmds(std::slice::from_ref(cmd));
        refuse_shared_state(out)?;
        if let Some(wait) = cmd.view().blocking_wait() {
            // Boxed: opening a connection makes a large future, and every request's
            // future would otherwise be as large, to be moved about at each await.
            let run = self.on_dedicated(wait, async |con| con.req_command(cmd).await);
            return Box::pin(run).await;
        }
        let rx = self.enqueue(out)?;
        let Reply::One(reply) = self.receive(rx).await? else {
            return Err(Error::new(
                ErrorKind::Protocol,
                "a batch reply for a single command",
            ));
        };
        let converted = convert_reply(reply).and_then(|converted| converted);
        if let Err(e) = &converted
            && e.is_unrecoverable()
        {
            // A malformed reply: as if the reader had found it.
            self.shared.fail_on(e);
        }
        self.track(converted)
    }

    async fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        let plan = batch.plan();
        refuse_shared_state(plan.wire())?;
        if let Some(wait) = plan.blocking_wait() {
            // A blocking command would hold up every reply behind it: the whole batch
            // goes to a dedicated connection.
            let run = self.on_dedicated(wait, async |con| con.req_batch(batch).await);
            return Box::pin(run).await;
        }
        let replies = self.exchange(plan.wire()).await?;
        self.track(plan.finish(replies))
    }

    fn db(&self) -> i64 {
        self.info.db
    }

    fn protocol(&self) -> ProtocolVersion {
        self.info.protocol
    }

    fn is_open(&self) -> bool {
        self.is_connected()
    }
}

impl MultiplexedConnection {
    /// Sends `out` in one request and reads a reply for each command, error replies as
    /// values.
    async fn exchange(&self, out: Outgoing<'_>) -> Result<Vec<Value>> {
        if out.len() == 0 {
            return Ok(Vec::new());
        }
        let rx = self.enqueue(out)?;
        // Error replies stay values in a batch.
        match self.receive(rx).await? {
            Reply::One(reply) => match reply.into_value() {
                Ok(value) => Ok(vec![value]),
                Err(e) => {
                    let e = Error::from(e);
                    self.shared.fail_on(&e);
                    Err(e)
                }
            },
            Reply::Many(replies) => Ok(replies),
        }
    }
}

impl fmt::Debug for MultiplexedConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiplexedConnection")
            .field("addr", &self.info.addr)
            .field("connected", &self.is_connected())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
