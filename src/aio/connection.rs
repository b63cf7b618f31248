//! [`Connection`]: one async connection, one request at a time; and the stream types
//! every async connection is built on.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
#[cfg(unix)]
use tokio::net::UnixStream;

use crate::batch::Batch;
use crate::cmd::{Cmd, Outgoing};
use crate::connection::core::{ConnectionCore, DIRECT_WRITE_MIN};
use crate::connection::info::{ConnectionAddr, ConnectionInfo, ProtocolVersion};
use crate::connection::socket::{configure_tcp, is_quiet, read_outcome};
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::{Decoded, Decoder, Frame, ProtocolError};
use crate::seam::AsyncConnectionLike;
use crate::table::BlockingWait;
use crate::tenure::Tenure;
use crate::types::FromRedisValue;
use crate::value::Value;

/// Default time a request may wait for its reply on an async connection when
/// [`ConnectionInfo::socket_timeout`] is not set; also the default time connecting and
/// setting a connection up may take, when neither
/// [`ConnectionInfo::socket_connect_timeout`] nor the socket timeout is set.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long connecting and setting up (`HELLO`, `AUTH`, `SELECT`, `CLIENT SETNAME`) may
/// take together on an async connection.
pub(crate) fn setup_timeout(info: &ConnectionInfo) -> Duration {
    info.socket_connect_timeout
        .or(info.socket_timeout)
        .unwrap_or(DEFAULT_RESPONSE_TIMEOUT)
}

/// Runs the opening of a connection to `info` (`open`: connecting, then the setup)
/// within [`setup_timeout`]; running out of time is a timeout error naming the server.
pub(crate) async fn within_setup_timeout<T>(
    info: &ConnectionInfo,
    open: impl Future<Output = Result<T>>,
) -> Result<T> {
    let timeout = setup_timeout(info);
    tokio::time::timeout(timeout, open)
        .await
        .unwrap_or_else(|_| {
            Err(Error::io(
                format!("cannot connect to {}", info.addr),
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "connecting and setting the connection up took longer than {timeout:?}"
                    ),
                ),
            ))
        })
}

/// How much the read buffer grows by at a time.
const READ_CHUNK: usize = 16 * 1024;

/// A socket to the server.
pub(crate) enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

#[cfg(feature = "tls")]
type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

impl Stream {
    /// Connects to `info.addr`, with `TCP_NODELAY` and keepalive on TCP.
    pub(crate) async fn connect(info: &ConnectionInfo) -> Result<Stream> {
        let shown = &info.addr;
        let connect = async {
            match &info.addr {
                ConnectionAddr::Tcp { host, port } => {
                    let stream = TcpStream::connect((host.as_str(), *port))
                        .await
                        .map_err(|e| Error::io(format!("cannot connect to {shown}"), e))?;
                    configure_tcp(&socket2::SockRef::from(&stream), info)?;
                    Ok(Stream::Tcp(stream))
                }
                #[cfg(feature = "tls")]
                ConnectionAddr::TcpTls { host, port } => {
                    let tcp = TcpStream::connect((host.as_str(), *port))
                        .await
                        .map_err(|e| Error::io(format!("cannot connect to {shown}"), e))?;
                    configure_tcp(&socket2::SockRef::from(&tcp), info)?;
                    let config = crate::tls::client_config(&info.tls)?;
                    let name = crate::tls::server_name(host)?;
                    let tls = tokio_rustls::TlsConnector::from(config)
                        .connect(name, tcp)
                        .await
                        .map_err(|e| crate::tls::handshake_error(host, e))?;
                    Ok(Stream::Tls(Box::new(tls)))
                }
                #[cfg(not(feature = "tls"))]
                ConnectionAddr::TcpTls { .. } => Err(Error::invalid_input(
                    "rediss:// (TLS) needs respec's `tls` feature",
                )),
                #[cfg(unix)]
                ConnectionAddr::Unix(path) => UnixStream::connect(path)
                    .await
                    .map(Stream::Unix)
                    .map_err(|e| Error::io(format!("cannot connect to {}", path.display()), e)),
                #[cfg(not(unix))]
                ConnectionAddr::Unix(_) => Err(Error::invalid_input(
                    "Unix sockets are not available on this platform",
                )),
            }
        };
        match info.socket_connect_timeout {
            Some(timeout) => tokio::time::timeout(timeout, connect).await.map_err(|_| {
                Error::io(
                    format!("cannot connect to {shown}"),
                    io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
                )
            })?,
            None => connect.await,
        }
    }

    /// `true` when nothing waits to be read and the peer has not closed: one peek at
    /// the socket (under TLS, at the socket below it) that does not wait. It asks the
    /// socket, not the runtime, which may not have seen yet what has arrived.
    pub(crate) fn is_quiet(&self) -> bool {
        match self {
            Stream::Tcp(s) => is_quiet(&socket2::SockRef::from(s)),
            #[cfg(unix)]
            Stream::Unix(s) => is_quiet(&socket2::SockRef::from(s)),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => is_quiet(&socket2::SockRef::from(s.get_ref().0)),
        }
    }

    /// Splits into halves the reader and writer tasks own.
    pub(crate) fn into_split(self) -> (OwnedRead, OwnedWrite) {
        match self {
            Stream::Tcp(s) => {
                let (read, write) = s.into_split();
                (
                    OwnedRead::Tcp(read),
                    OwnedWrite::plain(PlainWrite::Tcp(write)),
                )
            }
            #[cfg(unix)]
            Stream::Unix(s) => {
                let (read, write) = s.into_split();
                (
                    OwnedRead::Unix(read),
                    OwnedWrite::plain(PlainWrite::Unix(write)),
                )
            }
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                let (read, write) = tokio::io::split(*s);
                (OwnedRead::Tls(read), OwnedWrite::Tls(write))
            }
        }
    }

    pub(crate) async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => write_in_two(s, data).await,
            #[cfg(unix)]
            Stream::Unix(s) => write_in_two(s, data).await,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                s.write_all(data).await?;
                s.flush().await
            }
        }
    }
}

/// The write half of a TCP or Unix stream. Writing to it takes only a shared reference,
/// so the callers of a multiplexed connection can write to the socket themselves while
/// its writer task holds it too (they take turns; see the multiplexed connection).
pub(crate) enum PlainWrite {
    Tcp(tokio::net::tcp::OwnedWriteHalf),
    #[cfg(unix)]
    Unix(tokio::net::unix::OwnedWriteHalf),
}

impl PlainWrite {
    /// Writes what the socket takes now, without waiting.
    pub(crate) fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            PlainWrite::Tcp(s) => s.try_write_vectored(bufs),
            #[cfg(unix)]
            PlainWrite::Unix(s) => s.try_write_vectored(bufs),
        }
    }

    async fn writable(&self) -> io::Result<()> {
        match self {
            PlainWrite::Tcp(s) => s.writable().await,
            #[cfg(unix)]
            PlainWrite::Unix(s) => s.writable().await,
        }
    }

    /// Writes all of `data`, waiting for room as needed; a write longer than
    /// [`DIRECT_WRITE_MIN`] in two, as [`write_in_two`] does.
    pub(crate) async fn write_all(&self, data: &[u8]) -> io::Result<()> {
        let (first, rest) = data.split_at(data.len().min(DIRECT_WRITE_MIN));
        self.write_fully(first).await?;
        self.write_fully(rest).await
    }

    async fn write_fully(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            match self.try_write_vectored(&[io::IoSlice::new(data)]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => data = data.get(n..).unwrap_or_default(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Writes `data`, a write longer than [`DIRECT_WRITE_MIN`] as two: its first bytes, then
/// the rest. As with the sync connection, the server starts reading a large command while
/// the rest is still being sent; one write of a whole 1 MiB `SET` made the async 1 MiB
/// workload of `cargo xtask bench` 15-30% slower on the loopback.
async fn write_in_two<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> io::Result<()> {
    let (first, rest) = data.split_at(data.len().min(DIRECT_WRITE_MIN));
    w.write_all(first).await?;
    w.write_all(rest).await
}

/// The read half of a split stream.
pub(crate) enum OwnedRead {
    Tcp(tokio::net::tcp::OwnedReadHalf),
    #[cfg(unix)]
    Unix(tokio::net::unix::OwnedReadHalf),
    #[cfg(feature = "tls")]
    Tls(tokio::io::ReadHalf<TlsStream>),
}

/// The write half of a split stream: a TCP or Unix socket, shared with the callers of a
/// multiplexed connection, who may write to it directly; or a TLS stream, which only its
/// owner writes to.
pub(crate) enum OwnedWrite {
    Plain(Arc<PlainWrite>),
    #[cfg(feature = "tls")]
    Tls(tokio::io::WriteHalf<TlsStream>),
}

impl OwnedWrite {
    fn plain(half: PlainWrite) -> OwnedWrite {
        OwnedWrite::Plain(Arc::new(half))
    }

    pub(crate) async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            OwnedWrite::Plain(s) => s.write_all(data).await,
            #[cfg(feature = "tls")]
            OwnedWrite::Tls(s) => {
                // rustls buffers what it encrypts; flushing sends it.
                s.write_all(data).await?;
                s.flush().await
            }
        }
    }
}

/// What [`read_value`] reads from: a whole stream or the read half of a split one.
pub(crate) trait ReadInto {
    async fn read_into(&mut self, buf: &mut BytesMut) -> io::Result<usize>;
}

impl ReadInto for Stream {
    async fn read_into(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read_buf(buf).await,
            #[cfg(unix)]
            Stream::Unix(s) => s.read_buf(buf).await,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read_buf(buf).await,
        }
    }
}

impl ReadInto for OwnedRead {
    async fn read_into(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            OwnedRead::Tcp(s) => s.read_buf(buf).await,
            #[cfg(unix)]
            OwnedRead::Unix(s) => s.read_buf(buf).await,
            #[cfg(feature = "tls")]
            OwnedRead::Tls(s) => s.read_buf(buf).await,
        }
    }
}

/// Runs `work` within `timeout`, if any; running out of time is an IO timeout error.
async fn within<R>(timeout: Option<Duration>, work: impl Future<Output = Result<R>>) -> Result<R> {
    let Some(timeout) = timeout else {
        return work.await;
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(Error::io(
                "waiting for a reply",
                io::Error::new(io::ErrorKind::TimedOut, "the reply did not arrive in time"),
            ))
        })
}

/// Reads from `stream` into `buf` until `decoder` has a whole frame, and returns it as
/// [`Decoder::decode_owned`] does, or built whole when `built` (for a reader that knows
/// a `Value` is wanted).
pub(crate) async fn read_decoded(
    stream: &mut impl ReadInto,
    buf: &mut BytesMut,
    decoder: &mut Decoder,
    addr: &ConnectionAddr,
    built: bool,
) -> Result<Decoded> {
    read_frame(stream, buf, decoder, addr, |decoder, buf| {
        if built {
            Ok(decoder.decode(buf)?.map(Decoded::Value))
        } else {
            decoder.decode_owned(buf)
        }
    })
    .await
}

async fn read_frame<R>(
    stream: &mut impl ReadInto,
    buf: &mut BytesMut,
    decoder: &mut Decoder,
    addr: &ConnectionAddr,
    mut decode: impl FnMut(&mut Decoder, &mut BytesMut) -> Result<Option<R>, ProtocolError>,
) -> Result<R> {
    loop {
        if let Some(out) = decode(decoder, buf)? {
            return Ok(out);
        }
        let wanted = decoder.wanted(buf.len());
        read_more_into(stream, buf, wanted, addr).await?;
    }
}

/// Reads what arrives onto `buf`, with room for `wanted` more bytes (what is left of a
/// large string) or a chunk, whichever is more. Cancel safe: what arrives stays in `buf`.
async fn read_more_into(
    stream: &mut impl ReadInto,
    buf: &mut BytesMut,
    wanted: usize,
    addr: &ConnectionAddr,
) -> Result<()> {
    buf.reserve(wanted.max(READ_CHUNK));
    read_outcome(addr, stream.read_into(buf).await)
}

/// One async connection, used by one request at a time.
///
/// This is what the [`Pool`](crate::aio::Pool) hands out and what blocking commands,
/// transactions, pub/sub and monitor run on. For sharing one socket between many tasks
/// use a [`MultiplexedConnection`](crate::aio::MultiplexedConnection).
///
/// # Cancel safety
///
/// Dropping a request future mid-way leaves the reply (or part of it) unread, so the
/// connection marks itself broken unless the request completed, and refuses every later
/// use.
pub struct Connection {
    stream: Stream,
    /// Everything but the socket: buffers, decoder, state.
    core: ConnectionCore,
    timeout: Option<Duration>,
    /// Set while a request is under way; still set after it means the request future
    /// was dropped half-way.
    in_flight: bool,
}

impl Connection {
    /// Connects and sets the connection up (`HELLO`, `AUTH`, `SELECT`, `CLIENT SETNAME`).
    ///
    /// # Errors
    ///
    /// Connection and authentication errors, as for the sync connection.
    pub async fn open(info: &ConnectionInfo) -> Result<Connection> {
        within_setup_timeout(info, Connection::open_unbounded(info)).await
    }

    async fn open_unbounded(info: &ConnectionInfo) -> Result<Connection> {
        let stream = Stream::connect(info).await?;
        let mut con = Connection {
            stream,
            core: ConnectionCore::new(info),
            timeout: info.socket_timeout,
            in_flight: false,
        };
        let cmds = ConnectionCore::setup_commands(info)?;
        if !cmds.is_empty() {
            // The caller's timeout covers the setup.
            let replies = con.exchange(Outgoing::Cmds(&cmds), None).await?;
            con.core.finish_setup(replies)?;
        }
        Ok(con)
    }

    /// The socket and the core, for the multiplexed connection, which splits the socket
    /// between its reader and writer tasks.
    pub(crate) fn into_parts(self) -> (Stream, ConnectionCore) {
        (self.stream, self.core)
    }

    /// The address this connection is connected to.
    #[must_use]
    pub fn addr(&self) -> &ConnectionAddr {
        &self.core.addr
    }

    /// Ties the connection to `tenure`, as [`Connection::set_tenure`](crate::Connection::set_tenure)
    /// does; a multiplexed connection made from it keeps it.
    pub fn set_tenure(&mut self, tenure: Tenure) {
        self.core.set_tenure(tenure);
    }

    /// `true` when the connection is as it was set up: open, on database `db`, with no
    /// `AUTH`, `HELLO` or `RESET` since; pools hand on only such connections.
    #[must_use]
    pub fn is_pristine(&self, db: i64) -> bool {
        !self.in_flight && self.core.is_pristine(db)
    }

    /// `true` when the server has sent nothing since the last reply and has not closed
    /// the connection: what the pool checks, without a round trip, before handing an idle
    /// connection on.
    pub(crate) fn is_quiet(&self) -> bool {
        !self.core.is_broken()
            && !self.in_flight
            && self.core.read_buf.is_empty()
            && self.stream.is_quiet()
    }

    fn check_usable(&mut self) -> Result<()> {
        if self.in_flight {
            // An earlier request was dropped before its reply was read.
            self.core.mark_broken();
            return Err(Error::new(
                ErrorKind::Connection,
                "connection is broken by a request dropped half-way, and cannot be reused",
            ));
        }
        self.core.check_usable()
    }

    /// Starts a request: checks the connection and encodes `out` for
    /// [`Connection::write_out`].
    fn begin(&mut self, out: Outgoing<'_>) -> Result<()> {
        self.check_usable()?;
        out.check_args()?;
        self.in_flight = true;
        self.core.encode(out);
        Ok(())
    }

    /// Writes what [`Connection::begin`] encoded.
    async fn write_out(&mut self) -> Result<()> {
        self.stream
            .write_all(&self.core.write_buf)
            .await
            .map_err(|e| Error::io(format!("writing to {} failed", self.core.addr), e))?;
        self.core.written();
        Ok(())
    }

    /// Ends a request begun with [`Connection::begin`] with its outcome `res`.
    fn end<R>(&mut self, res: Result<R>) -> Result<R> {
        self.core.written();
        self.in_flight = false;
        self.core.track(res)
    }

    /// Reads more bytes onto the core's buffer. Cancel safe: what arrives stays there.
    async fn read_more(&mut self) -> Result<()> {
        let wanted = self.core.wanted();
        let core = &mut self.core;
        read_more_into(&mut self.stream, &mut core.read_buf, wanted, &core.addr).await
    }

    /// The next reply, skipping push messages that are not replies, handed to `read` as
    /// its frame, as the sync connection reads it.
    async fn read_reply_with<R>(&mut self, mut read: impl FnMut(&mut Frame<'_>) -> R) -> Result<R> {
        loop {
            if let Some(out) = self.core.decode_reply_with(&mut read)? {
                return Ok(out);
            }
            self.read_more().await?;
        }
    }

    /// The request timeout: [`ConnectionInfo::socket_timeout`] or
    /// [`DEFAULT_RESPONSE_TIMEOUT`].
    fn request_timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_RESPONSE_TIMEOUT)
    }

    /// Sends a command and converts its reply to `T` from its frame, within `timeout`
    /// (`None`: no limit).
    async fn req_command_as_within<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        timeout: Option<Duration>,
    ) -> Result<T> {
        self.begin(Outgoing::Cmds(std::slice::from_ref(cmd)))?;
        let work = async {
            self.write_out().await?;
            self.read_reply_with(|frame| match frame.next_error() {
                Some(error) => Err(error),
                None => Ok(T::from_frame(frame)),
            })
            .await
        };
        let reply = within(timeout, work).await;
        let converted = match self.end(reply)? {
            Ok(converted) => {
                // The command ran whether or not its reply converts.
                self.core.note_state(cmd.view());
                converted
            }
            Err(e) => Err(e.into()),
        };
        self.core.track(converted)
    }

    /// Sends `out` in one write and reads a reply for each command within `timeout`.
    async fn exchange(
        &mut self,
        out: Outgoing<'_>,
        timeout: Option<Duration>,
    ) -> Result<Vec<Value>> {
        let count = out.len();
        self.begin(out)?;
        let work = async {
            self.write_out().await?;
            let mut replies = Vec::with_capacity(count);
            while !self.core.take_replies(&mut replies, count)? {
                self.read_more().await?;
            }
            Ok(replies)
        };
        let replies = within(timeout, work).await;
        let replies = self.end(replies)?;
        self.core.note_states(out, &replies);
        Ok(replies)
    }

    /// Sends a command without reading a reply, for pub/sub and monitor.
    pub(crate) async fn send(&mut self, cmd: &Cmd) -> Result<()> {
        self.check_usable()?;
        cmd.check_args()?;
        cmd.write_packed(&mut self.core.write_buf);
        let res = self
            .stream
            .write_all(&self.core.write_buf)
            .await
            .map_err(|e| Error::io(format!("writing to {} failed", self.core.addr), e));
        self.core.written();
        self.core.track(res)
    }

    /// Reads whatever the server sends next, push messages included. Cancel safe: a
    /// frame half read stays buffered.
    pub(crate) async fn read_message(&mut self) -> Result<Value> {
        self.core.check_usable()?;
        loop {
            if let Some(value) = self.core.decode_message()? {
                return Ok(value);
            }
            let read = self.read_more().await;
            self.core.track(read)?;
        }
    }
}

impl AsyncConnectionLike for Connection {
    /// Waits up to the request timeout for the reply, plus, for a blocking command, its
    /// own timeout (a timeout of 0 waits as long as the server does).
    async fn req_command<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T> {
        let timeout = BlockingWait::limit(cmd.view().blocking_wait(), self.request_timeout());
        self.req_command_as_within(cmd, timeout).await
    }

    async fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        let plan = batch.plan();
        let timeout = BlockingWait::limit(plan.blocking_wait(), self.request_timeout());
        let replies = self.exchange(plan.wire(), timeout).await?;
        self.core.track(plan.finish(replies))
    }

    fn db(&self) -> i64 {
        self.core.db()
    }

    fn protocol(&self) -> ProtocolVersion {
        self.core.protocol()
    }

    fn is_open(&self) -> bool {
        !self.core.is_broken() && !self.in_flight
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("aio::Connection")
            .field("addr", &self.core.addr)
            .field("db", &self.core.db())
            .field("protocol", &self.core.protocol())
            .field("broken", &self.core.is_broken())
            .finish_non_exhaustive()
    }
}
