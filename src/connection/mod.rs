//! [`Connection`]: one blocking socket (TCP or Unix) to one server, the sync driver of
//! the seam ([`ConnectionLike`]).
//!
//! Pooling, pipelines and pub/sub are built on top of this; async IO lives elsewhere.

mod busy_poll;
pub(crate) mod core;
pub(crate) mod info;
pub(crate) mod socket;

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

pub use info::{
    CertReqs, ConnectionAddr, ConnectionInfo, CredentialProvider, CredentialProviderHandle,
    Credentials, DEFAULT_PORT, IntoConnectionInfo, NodeAddr, Password, ProtocolVersion,
    StaticCredentials, TlsOptions,
};

use self::busy_poll::{BusyPoll, Pollable};
use self::core::{ConnectionCore, DIRECT_WRITE_MIN};
use self::socket::is_quiet;
use crate::batch::Batch;
use crate::cmd::{Cmd, Outgoing};
use crate::deadline;
use crate::error::{Error, Result};
use crate::protocol::Frame;
use crate::seam::ConnectionLike;
use crate::table::BlockingWait;
use crate::tenure::Tenure;
use crate::types::FromRedisValue;
use crate::value::Value;

/// The first read asks for this much; later reads follow the size of the last one.
const INITIAL_READ_CHUNK: usize = 16 * 1024;
/// The most one read asks for.
const MAX_READ_CHUNK: usize = 256 * 1024;

/// A blocking connection to one server, over TCP or a Unix socket.
///
/// Opened with [`Client::get_connection`](crate::Client::get_connection) or
/// [`Connection::open`], already set up: authenticated, with its protocol negotiated, its
/// database selected and its name set.
///
/// After an IO error, a timeout or a protocol error the connection is marked broken: the
/// rest of a reply may still be on its way, so no later reply could be trusted to belong
/// to the command that reads it. Every later use fails with an
/// [`ErrorKind::Connection`](crate::ErrorKind::Connection) error; open a new connection instead.
///
/// # Timeouts
///
/// [`ConnectionInfo::socket_timeout`] is a deadline for each request as a whole: from
/// sending the command (or pipeline) to reading the last byte of its reply, however the
/// bytes trickle in. A blocking command (`BLPOP`, `XREAD ... BLOCK`, `WAIT`...) gets its
/// own timeout on top of it, so `BLPOP k 7` waits up to seven seconds plus the socket
/// timeout, and a timeout of 0 waits as long as the server does. Without a socket timeout
/// a request waits as long as it takes. The setup on connecting (`HELLO`, `AUTH`,
/// `SELECT`, `CLIENT SETNAME`) must be done within
/// [`ConnectionInfo::socket_connect_timeout`] (or else the socket timeout) of starting to
/// connect.
///
/// # Waiting for replies
///
/// A connection blocks on its socket until a reply arrives. With
/// [`ConnectionInfo::busy_poll`] set (`?busy_poll_us=50` in a URL), it first polls
/// the socket for up to that long, yielding the CPU between polls. A server on the
/// same host usually answers within tens of microseconds, and a reply polled for is
/// read without the cost of waking a blocked thread, which on a virtual machine can be
/// most of a round trip: sequential commands can run at twice the rate or more. The
/// price is CPU time, since polling is work where blocking is not; it pays for quick
/// replies and costs for replies that take a while (a large `HGETALL`, a long
/// pipeline). Polls that run out of time make later ones rarer, down to one read in
/// 256, so over a slower network polling costs next to nothing. TLS connections,
/// pub/sub and `MONITOR` never poll.
pub struct Connection {
    stream: Stream,
    /// Everything but the socket: buffers, decoder, state.
    core: ConnectionCore,
    /// Where the socket is read into, zeroed once and reused: safe code cannot read into
    /// uninitialised memory, and zeroing a fresh chunk of `read_buf` for every read
    /// costs more than copying in just the bytes that arrived.
    scratch: Vec<u8>,
    read_chunk: usize,
    /// The read timeout the connection was configured with: each request's deadline.
    read_timeout: Option<Duration>,
    /// The read and write timeouts the socket has now, which a request shortens to what
    /// is left of its deadline when a reply or a write takes more than one call.
    armed_read: Option<Duration>,
    armed_write: Option<Duration>,
    /// The deadline of the request under way; `None` when it may take as long as it
    /// takes.
    deadline: Option<Instant>,
    busy_poll: BusyPoll,
}

/// Which of a socket's timeouts [`Connection::arm`] sets.
#[derive(Debug, Clone, Copy)]
enum Direction {
    Read,
    Write,
}

/// How long [`Connection::read_message`] waits for something to arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Until a message arrives.
    Forever,
    /// At most this long.
    For(Duration),
    /// Not at all: only what has arrived already.
    No,
}

enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Pollable for Stream {
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(nonblocking),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_nonblocking(nonblocking),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.sock.set_nonblocking(nonblocking),
        }
    }
}

impl Stream {
    /// `true` when nothing waits to be read and the peer has not closed: one
    /// non-blocking peek at the socket (under TLS, at the socket below it).
    fn is_quiet(&self) -> bool {
        match self {
            Stream::Tcp(s) => is_quiet(&socket2::SockRef::from(s)),
            #[cfg(unix)]
            Stream::Unix(s) => is_quiet(&socket2::SockRef::from(s)),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => is_quiet(&socket2::SockRef::from(&s.sock)),
        }
    }

    fn is_tls(&self) -> bool {
        match self {
            #[cfg(feature = "tls")]
            Stream::Tls(_) => true,
            _ => false,
        }
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(timeout),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.sock.set_read_timeout(timeout),
        }
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(timeout),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_write_timeout(timeout),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.sock.set_write_timeout(timeout),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
            _ => Ok(()),
        }
    }
}

impl Connection {
    /// Connects to the server `info` names and sets the connection up.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Connection`](crate::ErrorKind::Connection) or [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) when the server cannot be
    /// reached; [`ErrorKind::Authentication`](crate::ErrorKind::Authentication) when it refuses the credentials; the
    /// server's error when `SELECT` or `HELLO` fails.
    pub fn open(info: &ConnectionInfo) -> Result<Connection> {
        let started = Instant::now();
        let stream = match &info.addr {
            ConnectionAddr::Tcp { host, port } => Stream::Tcp(connect_tcp(host, *port, info)?),
            #[cfg(feature = "tls")]
            ConnectionAddr::TcpTls { host, port } => {
                let tcp = connect_tcp(host, *port, info)?;
                // The handshake must not hang: it gets the connect timeout.
                let handshake_timeout = info.socket_connect_timeout.or(info.socket_timeout);
                tcp.set_read_timeout(handshake_timeout)
                    .and_then(|()| tcp.set_write_timeout(handshake_timeout))
                    .map_err(|_| Error::invalid_input("a socket timeout must not be zero"))?;
                Stream::Tls(Box::new(crate::tls::connect_sync(tcp, host, &info.tls)?))
            }
            #[cfg(not(feature = "tls"))]
            ConnectionAddr::TcpTls { .. } => {
                return Err(Error::invalid_input(
                    "rediss:// (TLS) needs respec's `tls` feature",
                ));
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => Stream::Unix(
                UnixStream::connect(path)
                    .map_err(|e| Error::io(format!("cannot connect to {}", path.display()), e))?,
            ),
            #[cfg(not(unix))]
            ConnectionAddr::Unix(_) => {
                return Err(Error::invalid_input(
                    "Unix sockets are not available on this platform",
                ));
            }
        };
        let mut con = Connection {
            stream,
            core: ConnectionCore::new(info),
            scratch: Vec::new(),
            read_chunk: INITIAL_READ_CHUNK,
            read_timeout: info.socket_timeout,
            armed_read: None,
            armed_write: None,
            deadline: None,
            busy_poll: BusyPoll::new(info.busy_poll),
        };
        con.set_timeouts(info.socket_timeout, info.socket_timeout)?;
        // The setup counts against the connect timeout, from the start of connecting.
        let setup_timeout = info.socket_connect_timeout.or(info.socket_timeout);
        con.deadline = setup_timeout.and_then(|t| started.checked_add(t));
        let cmds = ConnectionCore::setup_commands(info)?;
        if !cmds.is_empty() {
            let replies = con.exchange(Outgoing::Cmds(&cmds))?;
            con.core.finish_setup(replies)?;
        }
        Ok(con)
    }

    /// Sets how long a read and a write may each block; `None` blocks forever.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a zero duration.
    pub fn set_timeouts(&mut self, read: Option<Duration>, write: Option<Duration>) -> Result<()> {
        self.stream
            .set_read_timeout(read)
            .and_then(|()| self.stream.set_write_timeout(write))
            .map_err(|_| Error::invalid_input("a socket timeout must not be zero"))?;
        (self.read_timeout, self.armed_read, self.armed_write) = (read, read, write);
        Ok(())
    }

    /// Starts a request: its deadline is the socket timeout from now, plus how long its
    /// commands may block on the server.
    #[inline]
    fn start(&mut self, blocking: Option<BlockingWait>) {
        self.deadline = self
            .read_timeout
            .and_then(|timeout| BlockingWait::limit(blocking, timeout))
            .and_then(deadline::after);
    }

    /// What is left of the request's deadline, for the socket's next read or write;
    /// `None` without a deadline.
    fn time_left(&self, what: &str) -> Result<Option<Duration>> {
        let Some(deadline) = self.deadline else {
            return Ok(None);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::io(
                format!("{what} {} failed", self.core.addr),
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the request's deadline passed before its reply was whole",
                ),
            ));
        }
        Ok(Some(left))
    }

    /// Sets the socket's read (or write) timeout to what is left of the request's
    /// deadline, unless it is that already, give or take [`REARM_SLACK`]: most requests
    /// cost no call.
    #[inline]
    fn arm(&mut self, direction: Direction) -> Result<()> {
        if self.deadline.is_none() && self.read_timeout.is_none() {
            // No timeouts at all: nothing was ever set, nothing to set.
            return Ok(());
        }
        self.arm_with_timeouts(direction)
    }

    /// [`Connection::arm`] on a connection with timeouts.
    #[inline(never)]
    fn arm_with_timeouts(&mut self, direction: Direction) -> Result<()> {
        let (what, armed) = match direction {
            Direction::Read => ("reading from", self.armed_read),
            Direction::Write => ("writing to", self.armed_write),
        };
        let left = self.time_left(what)?;
        if close_enough(left, armed) {
            return Ok(());
        }
        let set = match direction {
            Direction::Read => self.stream.set_read_timeout(left),
            Direction::Write => self.stream.set_write_timeout(left),
        };
        set.map_err(|e| Error::io("cannot set the socket's timeout", e))?;
        match direction {
            Direction::Read => self.armed_read = left,
            Direction::Write => self.armed_write = left,
        }
        Ok(())
    }

    /// Ties the connection to `tenure`: once that ends, the connection refuses requests
    /// before sending anything, and pools discard it. A [`Connector`](crate::Connector)
    /// that picks servers by role (a Sentinel's master) sets it on what it opens.
    pub fn set_tenure(&mut self, tenure: Tenure) {
        self.core.set_tenure(tenure);
    }

    /// `true` when the connection is still set up as it was opened: open, on database
    /// `db`, and with no `AUTH`, `HELLO` or `RESET` sent through it since. Pools hand
    /// on only such connections.
    #[must_use]
    pub fn is_pristine(&self, db: i64) -> bool {
        self.core.is_pristine(db)
    }

    /// `true` when the server has sent nothing since the last reply and has not closed
    /// the connection (a `CLIENT KILL`, a restart, a timeout on its side): what a pool
    /// checks before handing an idle connection on, with one non-blocking peek and no
    /// round trip.
    pub(crate) fn is_quiet(&self) -> bool {
        !self.core.is_broken() && self.core.read_buf.is_empty() && self.stream.is_quiet()
    }

    /// Sends `out` and reads its replies within the request's deadline. A batch is
    /// written straight from its buffer.
    fn exchange(&mut self, out: Outgoing<'_>) -> Result<Vec<Value>> {
        self.core.check_usable()?;
        out.check_args()?;
        match out.wire() {
            Some(wire) if self.core.write_buf.is_empty() => self.write_through(wire)?,
            _ => {
                self.core.encode(out);
                self.flush()?;
            }
        }
        let count = out.len();
        let mut replies = Vec::with_capacity(count);
        while !self.core.take_replies(&mut replies, count)? {
            self.read_more()?;
        }
        self.core.note_states(out, &replies);
        Ok(replies)
    }

    /// Sends a command without reading its reply: requests read it next, and pub/sub
    /// and `MONITOR`, where the server talks without being asked, read what comes back
    /// with [`Connection::read_message`].
    ///
    /// A command longer than [`DIRECT_WRITE_MIN`] has its header and first bytes copied
    /// into the write buffer and the rest written from the command itself.
    pub(crate) fn send(&mut self, cmd: &Cmd) -> Result<()> {
        self.start(None);
        self.write_cmd(cmd)
    }

    /// Writes a command within the request's deadline.
    #[inline]
    fn write_cmd(&mut self, cmd: &Cmd) -> Result<()> {
        self.core.check_usable()?;
        cmd.check_args()?;
        let args = cmd.encoded_args();
        let Some((head, rest)) = args.split_at_checked(DIRECT_WRITE_MIN) else {
            cmd.write_packed(&mut self.core.write_buf);
            return self.flush();
        };
        cmd.write_header(&mut self.core.write_buf);
        self.core.write_buf.extend_from_slice(head);
        self.flush()?;
        self.write_through(rest)
    }

    /// Writes `bytes` to the socket as they are, past the write buffer, which must be
    /// empty so nothing is sent out of order.
    fn write_through(&mut self, bytes: &[u8]) -> Result<()> {
        debug_assert!(self.core.write_buf.is_empty());
        let res = self.write_within(bytes);
        self.core.track(res)
    }

    /// Writes all of `bytes` within the request's deadline: a write the socket takes in
    /// one call costs nothing more; one it takes in several gets what is left of the
    /// deadline for each further call.
    fn write_within(&mut self, bytes: &[u8]) -> Result<()> {
        let mut rest = bytes;
        let mut first = true;
        while !rest.is_empty() {
            if !first {
                self.arm(Direction::Write)?;
            }
            first = false;
            match self.stream.write(rest) {
                Ok(0) => {
                    return Err(Error::io(
                        format!("writing to {} failed", self.core.addr),
                        io::ErrorKind::WriteZero.into(),
                    ));
                }
                Ok(n) => rest = rest.get(n..).unwrap_or_default(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::io(
                        format!("writing to {} failed", self.core.addr),
                        e,
                    ));
                }
            }
        }
        self.stream
            .flush()
            .map_err(|e| Error::io(format!("writing to {} failed", self.core.addr), e))
    }

    /// Reads the next message the server sends, push messages included, waiting as
    /// `wait` says. Running out of time is not an error here (`Ok(None)`), and a message
    /// half arrived stays buffered for the next call.
    pub(crate) fn read_message(&mut self, wait: Wait) -> Result<Option<Value>> {
        self.core.check_usable()?;
        loop {
            if let Some(value) = self.core.decode_message()? {
                return Ok(Some(value));
            }
            let set = match wait {
                Wait::Forever => self.stream.set_read_timeout(None),
                Wait::For(timeout) => self.stream.set_read_timeout(Some(timeout)),
                Wait::No => self.stream.set_nonblocking(true),
            };
            set.map_err(|_| Error::invalid_input("a wait must not be zero"))?;
            let filled = self.fill_read_buf(false);
            let restored = self
                .stream
                .set_nonblocking(false)
                .and_then(|()| self.stream.set_read_timeout(self.read_timeout));
            self.armed_read = self.read_timeout;
            match filled {
                Ok(()) => {}
                Err(e) if e.is_timeout() => return Ok(None),
                Err(e) => return self.core.track(Err(e)),
            }
            restored.map_err(|e| Error::io("cannot restore the socket's timeouts", e))?;
        }
    }

    /// The address this connection is connected to.
    #[must_use]
    pub fn addr(&self) -> &ConnectionAddr {
        &self.core.addr
    }

    fn flush(&mut self) -> Result<()> {
        let buf = std::mem::take(&mut self.core.write_buf);
        let res = self.write_within(&buf);
        self.core.write_buf = buf;
        self.core.written();
        self.core.track(res)
    }

    /// The next reply, handed to `read` as its frame, whose errors are `read`'s to
    /// judge; RESP3 push messages that arrive in between and are not replies are skipped.
    fn read_reply_with<R>(&mut self, mut read: impl FnMut(&mut Frame<'_>) -> R) -> Result<R> {
        loop {
            if let Some(out) = self.core.decode_reply_with(&mut read)? {
                return Ok(out);
            }
            self.read_more()?;
        }
    }

    /// Reads more of a reply within the request's deadline; a failure breaks the
    /// connection.
    fn read_more(&mut self) -> Result<()> {
        let filled = self
            .arm(Direction::Read)
            .and_then(|()| self.fill_read_buf(true));
        self.core.track(filled)
    }

    /// Reads once from the socket onto the end of the read buffer, first polling for a
    /// while if `poll` (a reply is awaited) and the connection's policy says so.
    fn fill_read_buf(&mut self, poll: bool) -> Result<()> {
        // A large value whose length is known gets its room in one go, not by doubling.
        let wanted = self.core.wanted();
        self.core.read_buf.reserve(wanted);
        if self.scratch.len() < self.read_chunk {
            self.scratch.resize(self.read_chunk, 0);
        }
        let dst = self.scratch.get_mut(..self.read_chunk).unwrap_or_default();
        // Reading through TLS may also write (a key update, say), which a non-blocking
        // socket could cut short: TLS streams are not polled.
        let polled = if poll && !self.stream.is_tls() {
            self.busy_poll.read(&mut self.stream, dst, self.armed_read)
        } else {
            Ok(None)
        };
        let res = match polled {
            Ok(None) => loop {
                match self.stream.read(dst) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    res => break res,
                }
            },
            Ok(Some(n)) => Ok(n),
            Err(e) => Err(e),
        };
        let n = *res.as_ref().unwrap_or(&0);
        self.core
            .read_buf
            .extend_from_slice(self.scratch.get(..n).unwrap_or_default());
        self.read_chunk = (n * 2).clamp(INITIAL_READ_CHUNK, MAX_READ_CHUNK);
        socket::read_outcome(&self.core.addr, res)
    }
}

/// How far a socket's timeout may be from what is left of a deadline before it is set
/// anew: a request whose reply comes in one read then costs no call to set it.
const REARM_SLACK: Duration = Duration::from_millis(1);

/// `true` when two timeouts are the same, give or take [`REARM_SLACK`].
fn close_enough(a: Option<Duration>, b: Option<Duration>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.abs_diff(b) <= REARM_SLACK,
        _ => false,
    }
}

fn connect_tcp(host: &str, port: u16, info: &ConnectionInfo) -> Result<TcpStream> {
    let shown = &info.addr;
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::io(format!("cannot resolve {shown}"), e))?;
    let mut last_err = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in addrs {
        let res = match info.socket_connect_timeout {
            Some(timeout) => TcpStream::connect_timeout(&addr, timeout),
            None => TcpStream::connect(addr),
        };
        match res {
            Ok(stream) => {
                socket::configure_tcp(&socket2::SockRef::from(&stream), info)?;
                return Ok(stream);
            }
            Err(e) => last_err = e,
        }
    }
    Err(Error::io(format!("cannot connect to {shown}"), last_err))
}

impl ConnectionLike for Connection {
    fn req_command<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T> {
        self.start(cmd.view().blocking_wait());
        self.write_cmd(cmd)?;
        let reply = self.read_reply_with(|frame| match frame.next_error() {
            Some(error) => Err(error),
            None => Ok(T::from_frame(frame)),
        })?;
        let converted = match reply {
            Ok(converted) => {
                // The command ran whether or not its reply converts.
                self.core.note_state(cmd.view());
                converted
            }
            Err(e) => Err(e.into()),
        };
        self.core.track(converted)
    }

    fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        let plan = batch.plan();
        self.start(plan.blocking_wait());
        let replies = self.exchange(plan.wire())?;
        self.core.track(plan.finish(replies))
    }

    fn db(&self) -> i64 {
        self.core.db()
    }

    fn protocol(&self) -> ProtocolVersion {
        self.core.protocol()
    }

    fn is_open(&self) -> bool {
        !self.core.is_broken()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.core.addr)
            .field("db", &self.core.db())
            .field("protocol", &self.core.protocol())
            .field("broken", &self.core.is_broken())
            .finish_non_exhaustive()
    }
}
