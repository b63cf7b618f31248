//! Round trips without a client library: where the time of a sequential request goes.
//!
//! ```text
//! peers probe MODE URL
//! ```
//!
//! The PING modes send PING over a raw socket and wait for `+PONG`, as many times as
//! the PING workload does, and differ only in what happens between the send and the
//! reply:
//!
//! - `blocking`: nothing; a blocking `recv` waits. This is what a blocking client does,
//!   respec's and redis-rs's alike.
//! - `event-loop`: the calls `redis-benchmark`'s event loop makes per request (five
//!   `epoll_ctl`, two `epoll_wait`) around the same `send` and `recv`.
//! - `epoll-ctl`: `blocking` with only the four `epoll_ctl` calls the event loop makes
//!   between its `send` and its wait, and no event loop.
//! - `epoll-other`: the same four calls, made on an epoll set that watches another,
//!   idle socket, so they have nothing to do with the request.
//! - `epoll-mod`: four `epoll_ctl` calls that change the socket's interest in place
//!   (`EPOLL_CTL_MOD`) instead of removing and adding it.
//! - `busy`: non-blocking reads in a loop until the reply is there, so the client's CPU
//!   never goes idle. Not something a client should do; it shows what waking costs.
//!
//! Two more workloads are probed with their request encoded once and sent again and
//! again, each reply read whole with blocking `recv`s and compared, never parsed: the
//! floor for a blocking client that builds and parses nothing. Two more build or parse,
//! as little as they can.
//!
//! - `pipeline`: the pipeline workload's 100 `SET`s and their 100 `+OK`s.
//! - `pipeline-built`: `pipeline` with the 100 `SET`s encoded afresh for every pipeline by
//!   the least code that can: the floor for a blocking client that builds its pipelines.
//! - `hgetall`: the HGETALL workload's request and the hash the suite loaded.
//! - `hgetall-epoll-other`: `hgetall` with `epoll-other`'s four calls after each send.
//! - `hgetall-map`: `hgetall` with each reply built into the workload's
//!   `HashMap<String, String>` by the least code that can, trusting the reply's shape:
//!   the floor for a blocking client that hands over that map.
//!
//! Two more run on tokio, in the future the runtime blocks on, as the async workloads
//! run their clients: the floor for an async client, which waits for its reply in
//! `epoll_wait` where a blocking one waits in `recv`.
//!
//! - `async-ping`: PING sent, `+PONG` awaited.
//! - `async-pipeline-built`: `pipeline-built`'s pipelines sent, their `+OK`s awaited.
//!
//! On the virtual machines the suite runs on, a CPU that goes idle is slow to wake. If
//! `epoll-ctl` beats `blocking`, the gap between a blocking client and
//! `redis-benchmark` comes from the calls its event loop makes, not from work a client
//! could avoid; if `epoll-other` does as well and `epoll-mod` does not, it comes from
//! removing and adding an epoll entry, whichever set it is in. (BENCHMARKS.md has what
//! that does to the server's CPU.)

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use respec::protocol::{encode_command, write_array_header, write_bulk};

use crate::clients::Result;
use crate::workloads::{HASH_KEY, HASH_LEN, Started, VALUE_16, Workload, hash_fields, timed_async};

const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
const PONG: &[u8] = b"+PONG\r\n";
/// The pipeline workload's pipelines: this many SETs of this key.
const PIPELINE_DEPTH: usize = 100;
const PIPELINE_KEY: &[u8] = b"bench:kp";
const WARM_UP: usize = 1_000;
/// Round trips timed per run: as many as the PING workload times.
const COUNT: usize = Workload::Ping.ops();

/// What a probe does between sending a request and reading its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Blocking,
    EventLoop,
    EpollCtl,
    EpollOther,
    EpollMod,
    Busy,
    Pipeline,
    PipelineBuilt,
    Hgetall,
    HgetallEpollOther,
    HgetallMap,
    AsyncPing,
    AsyncPipelineBuilt,
}

impl Mode {
    pub(crate) const ALL: [Mode; 13] = [
        Mode::Blocking,
        Mode::EventLoop,
        Mode::EpollCtl,
        Mode::EpollOther,
        Mode::EpollMod,
        Mode::Busy,
        Mode::Pipeline,
        Mode::PipelineBuilt,
        Mode::Hgetall,
        Mode::HgetallEpollOther,
        Mode::HgetallMap,
        Mode::AsyncPing,
        Mode::AsyncPipelineBuilt,
    ];

    pub(crate) fn arg(self) -> &'static str {
        match self {
            Mode::Blocking => "blocking",
            Mode::EventLoop => "event-loop",
            Mode::EpollCtl => "epoll-ctl",
            Mode::EpollOther => "epoll-other",
            Mode::EpollMod => "epoll-mod",
            Mode::Busy => "busy",
            Mode::Pipeline => "pipeline",
            Mode::PipelineBuilt => "pipeline-built",
            Mode::Hgetall => "hgetall",
            Mode::HgetallEpollOther => "hgetall-epoll-other",
            Mode::HgetallMap => "hgetall-map",
            Mode::AsyncPing => "async-ping",
            Mode::AsyncPipelineBuilt => "async-pipeline-built",
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Mode::Blocking => "send, then a blocking recv",
            Mode::EventLoop => "redis-benchmark's per-request epoll calls around send and recv",
            Mode::EpollCtl => "send, four epoll_ctl calls, then a blocking recv",
            Mode::EpollOther => {
                "send, the same four calls on an epoll set watching an idle socket, then a blocking recv"
            }
            Mode::EpollMod => "send, four EPOLL_CTL_MOD calls, then a blocking recv",
            Mode::Busy => "send, then non-blocking recvs until the reply is there",
            Mode::Pipeline => "100 SETs encoded once, sent, their replies read unparsed",
            Mode::PipelineBuilt => {
                "100 SETs encoded afresh each time with the least work, sent, their replies compared"
            }
            Mode::Hgetall => "HGETALL sent, its reply read unparsed",
            Mode::HgetallEpollOther => {
                "HGETALL sent, the four epoll_ctl calls of epoll-other, its reply read unparsed"
            }
            Mode::HgetallMap => {
                "HGETALL sent, its reply read and built into a HashMap<String, String> with the least work"
            }
            Mode::AsyncPing => "on tokio, as the async workloads run: send, then await the reply",
            Mode::AsyncPipelineBuilt => {
                "pipeline-built on tokio, as the async workloads run: send, then await the replies"
            }
        }
    }

    /// The workload whose `redis-benchmark` run this mode compares with.
    pub(crate) fn workload(self) -> Workload {
        match self {
            Mode::Pipeline | Mode::PipelineBuilt | Mode::AsyncPipelineBuilt => {
                Workload::Pipeline100
            }
            Mode::Hgetall | Mode::HgetallEpollOther | Mode::HgetallMap => Workload::Hgetall100,
            _ => Workload::Ping,
        }
    }

    fn parse(arg: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.arg() == arg)
    }
}

/// `peers probe MODE URL`: prints a `RESULT` line like the client runs do.
pub(crate) fn probe(args: &[String]) -> Result<()> {
    let [mode, url] = args else {
        return Err("usage: peers probe MODE URL".into());
    };
    let mode = Mode::parse(mode).ok_or_else(|| format!("unknown probe mode {mode:?}"))?;
    let addr = url
        .strip_prefix("redis://")
        .ok_or_else(|| format!("{url:?} is not a redis:// URL"))?
        .trim_end_matches('/');
    match mode {
        Mode::AsyncPing => {
            return on_tokio(
                addr,
                Workload::Ping,
                1,
                &mut |out| out.extend_from_slice(PING),
                PONG,
            );
        }
        Mode::AsyncPipelineBuilt => {
            return on_tokio(
                addr,
                Workload::Pipeline100,
                PIPELINE_DEPTH,
                &mut build_pipeline,
                &pipeline_replies(),
            );
        }
        _ => {}
    }
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    // For the `epoll-other` modes: a socket nobody writes to, in a set of its own.
    let (idle, _peer) = UnixStream::pair()?;
    let other = Epoll::new(idle.as_raw_fd())?;
    match mode {
        Mode::Pipeline => return pipeline(&mut stream, false),
        Mode::PipelineBuilt => return pipeline(&mut stream, true),
        Mode::Hgetall => return hgetall(&mut stream, None, false),
        Mode::HgetallEpollOther => return hgetall(&mut stream, Some(&other), false),
        Mode::HgetallMap => return hgetall(&mut stream, None, true),
        _ => {}
    }
    stream.set_nonblocking(mode == Mode::Busy)?;
    let epoll = Epoll::new(stream.as_raw_fd())?;
    let mut reply = [0u8; 64];
    let mut round_trip = |stream: &mut TcpStream| -> Result<()> {
        match mode {
            // (The pipeline, HGETALL and async modes have a loop of their own.)
            Mode::Blocking
            | Mode::Busy
            | Mode::Pipeline
            | Mode::PipelineBuilt
            | Mode::Hgetall
            | Mode::HgetallEpollOther
            | Mode::HgetallMap
            | Mode::AsyncPing
            | Mode::AsyncPipelineBuilt => stream.write_all(PING)?,
            Mode::EpollCtl | Mode::EpollOther => {
                stream.write_all(PING)?;
                if mode == Mode::EpollCtl {
                    epoll.churn()?;
                } else {
                    other.churn()?;
                }
            }
            Mode::EpollMod => {
                stream.write_all(PING)?;
                for _ in 0..4 {
                    epoll.modify(libc::EPOLLIN)?;
                }
            }
            Mode::EventLoop => {
                // As redis-benchmark: wait to be writable, write, switch the interest to
                // reading, wait for the reply, read it, switch back.
                epoll.delete()?;
                epoll.add(libc::EPOLLOUT)?;
                epoll.wait()?;
                stream.write_all(PING)?;
                epoll.delete()?;
                epoll.add(libc::EPOLLIN)?;
                epoll.wait()?;
            }
        }
        let mut got = 0;
        while got < PONG.len() {
            match stream.read(&mut reply[got..]) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        if &reply[..PONG.len()] != PONG {
            return Err(format!("unexpected reply {:?}", &reply[..got]).into());
        }
        if mode == Mode::EventLoop {
            epoll.modify(libc::EPOLLIN)?;
        }
        Ok(())
    };
    for _ in 0..WARM_UP {
        round_trip(&mut stream)?;
    }
    let mut latencies = Vec::with_capacity(COUNT);
    let started = Started::now();
    for _ in 0..COUNT {
        let sent = Instant::now();
        round_trip(&mut stream)?;
        latencies.push(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    let measured = started.finish(COUNT, latencies);
    println!("{}", measured.line());
    Ok(())
}

/// The `pipeline` modes: the workload's pipelines encoded once, or afresh each time with
/// [`least_sets`] when `built` is set; their replies compared, never parsed.
fn pipeline(stream: &mut TcpStream, built: bool) -> Result<()> {
    let mut one = Vec::new();
    encode_command(&mut one, [&b"SET"[..], PIPELINE_KEY, VALUE_16]);
    let encoded = one.repeat(PIPELINE_DEPTH);
    let mut encode = build_pipeline;
    let request = if built {
        Request::Built(&mut encode)
    } else {
        Request::Fixed(&encoded)
    };
    let reply = pipeline_replies();
    let requests = Workload::Pipeline100.ops() / PIPELINE_DEPTH;
    repeat_request(
        stream,
        request,
        reply.len(),
        PIPELINE_DEPTH,
        requests,
        None,
        |got| same_reply(got, &reply),
    )
}

/// One of the pipeline workload's pipelines, encoded afresh by [`least_sets`].
fn build_pipeline(out: &mut Vec<u8>) {
    least_sets(out, PIPELINE_KEY, VALUE_16, PIPELINE_DEPTH);
}

/// What the server answers to one of the pipeline workload's pipelines.
fn pipeline_replies() -> Vec<u8> {
    b"+OK\r\n".repeat(PIPELINE_DEPTH)
}

/// The `async-*` modes: each request written afresh by `build`, sent, and its reply
/// read whole and compared, on a tokio socket in the future the runtime blocks on, as
/// the async workloads run their clients: the floor for an async client on tokio, which
/// waits for each reply in `epoll_wait` where a blocking client waits in `recv`.
fn on_tokio(
    addr: &str,
    workload: Workload,
    per_request: usize,
    build: &mut dyn FnMut(&mut Vec<u8>),
    reply: &[u8],
) -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let mut measured = local.block_on(&runtime, async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut out = Vec::new();
        let mut got = vec![0u8; reply.len()];
        timed_async(workload.ops() / per_request, async |_| {
            out.clear();
            build(&mut out);
            stream.write_all(&out).await?;
            stream.read_exact(&mut got).await?;
            same_reply(&got, reply)
        })
        .await
    })?;
    measured.ops *= per_request;
    println!("{}", measured.line());
    Ok(())
}

/// The least a client can do to encode `count` SETs of `key` to `value`: the name's
/// bytes as they are, and each argument behind a length header written digit by digit.
fn least_sets(out: &mut Vec<u8>, key: &[u8], value: &[u8], count: usize) {
    for _ in 0..count {
        out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
        for arg in [key, value] {
            out.push(b'$');
            let mut digits = [0u8; 20];
            let mut at = digits.len();
            let mut len = arg.len();
            loop {
                at -= 1;
                digits[at] = b'0' + (len % 10) as u8;
                len /= 10;
                if len == 0 {
                    break;
                }
            }
            out.extend_from_slice(&digits[at..]);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// The `hgetall` modes: the workload's HGETALL with nothing parsed, with `epoll-other`'s
/// calls after each send when `between` is given, and with each reply built into a map
/// with [`least_map`] when `map` is set.
fn hgetall(stream: &mut TcpStream, between: Option<&Epoll>, map: bool) -> Result<()> {
    let mut request = Vec::new();
    encode_command(&mut request, [&b"HGETALL"[..], HASH_KEY.as_bytes()]);
    // A hash this small keeps its fields in the order they were written.
    let mut reply = Vec::new();
    write_array_header(&mut reply, 2 * HASH_LEN);
    for (field, value) in hash_fields() {
        write_bulk(&mut reply, field.as_bytes());
        write_bulk(&mut reply, value.as_bytes());
    }
    let requests = Workload::Hgetall100.ops();
    repeat_request(
        stream,
        Request::Fixed(&request),
        reply.len(),
        1,
        requests,
        between,
        |got| {
            if !map {
                return same_reply(got, &reply);
            }
            let map = least_map(got).ok_or("the HGETALL reply did not parse")?;
            if map.len() != HASH_LEN {
                return Err(format!("expected {HASH_LEN} fields, got {}", map.len()).into());
            }
            Ok(())
        },
    )
}

fn same_reply(got: &[u8], want: &[u8]) -> Result<()> {
    if got != want {
        return Err(format!("unexpected reply {:?}", String::from_utf8_lossy(got)).into());
    }
    Ok(())
}

/// The least a client can do to turn a flat HGETALL reply into the workload's
/// `HashMap<String, String>`: step from string to string, check each for UTF-8, copy it
/// into a `String` of its own and insert the pairs into a map sized for them. It trusts
/// the reply to be a well-formed array of bulk strings, which a client cannot; `None`
/// is all it says when that is not so.
fn least_map(reply: &[u8]) -> Option<HashMap<String, String>> {
    let header_end = reply.iter().position(|&b| b == b'\n')?;
    let pairs = std::str::from_utf8(reply.get(1..header_end.checked_sub(1)?)?)
        .ok()?
        .parse::<usize>()
        .ok()?
        / 2;
    let mut at = header_end + 1;
    let mut next = || -> Option<String> {
        let mut len = 0usize;
        at += 1;
        while let Some(&digit) = reply.get(at).filter(|b| b.is_ascii_digit()) {
            len = len
                .checked_mul(10)?
                .checked_add(usize::from(digit - b'0'))?;
            at += 1;
        }
        let start = at + 2;
        let text = std::str::from_utf8(reply.get(start..start.checked_add(len)?)?).ok()?;
        at = start + len + 2;
        Some(text.to_owned())
    };
    let mut map = HashMap::with_capacity(pairs);
    for _ in 0..pairs {
        let field = next()?;
        map.insert(field, next()?);
    }
    Some(map)
}

/// What [`repeat_request`] sends each time.
enum Request<'a> {
    /// The same bytes every time.
    Fixed(&'a [u8]),
    /// Bytes written afresh each time into a buffer the probe reuses.
    Built(&'a mut dyn FnMut(&mut Vec<u8>)),
}

/// Sends `request` `requests` times after a warm-up, each time reading the whole
/// `reply_len`-byte reply with blocking reads and handing it to `check`; prints the
/// `RESULT` line, counting `per_request` operations a request.
fn repeat_request(
    stream: &mut TcpStream,
    mut request: Request<'_>,
    reply_len: usize,
    per_request: usize,
    requests: usize,
    between: Option<&Epoll>,
    mut check: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut got = vec![0u8; reply_len];
    let mut out = Vec::new();
    let mut round_trip = |stream: &mut TcpStream| -> Result<()> {
        match &mut request {
            Request::Fixed(bytes) => stream.write_all(bytes)?,
            Request::Built(build) => {
                out.clear();
                build(&mut out);
                stream.write_all(&out)?;
            }
        }
        if let Some(set) = between {
            set.churn()?;
        }
        stream.read_exact(&mut got)?;
        check(&got)
    };
    for _ in 0..(WARM_UP / per_request).max(1) {
        round_trip(stream)?;
    }
    let mut latencies = Vec::with_capacity(requests);
    let started = Started::now();
    for _ in 0..requests {
        let sent = Instant::now();
        round_trip(stream)?;
        latencies.push(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    let measured = started.finish(requests * per_request, latencies);
    println!("{}", measured.line());
    Ok(())
}

/// An epoll instance watching one socket.
struct Epoll {
    epfd: libc::c_int,
    fd: libc::c_int,
}

#[allow(unsafe_code)] // epoll(7) has no safe wrapper in std or libc
impl Epoll {
    fn new(fd: libc::c_int) -> Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        let epoll = Epoll { epfd, fd };
        epoll.add(libc::EPOLLIN)?;
        Ok(epoll)
    }

    fn ctl(&self, op: libc::c_int, events: libc::c_int) -> Result<()> {
        let mut event = libc::epoll_event {
            events: events as u32,
            u64: self.fd as u64,
        };
        // SAFETY: both descriptors are open for the life of `self`, and `event` is a
        // valid epoll_event that outlives the call (DEL ignores it).
        let rc = unsafe { libc::epoll_ctl(self.epfd, op, self.fd, &raw mut event) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(())
    }

    /// `epoll-other`'s four calls: the socket removed from the set and added back, twice.
    fn churn(&self) -> Result<()> {
        for _ in 0..2 {
            self.delete()?;
            self.add(libc::EPOLLIN)?;
        }
        Ok(())
    }

    fn add(&self, events: libc::c_int) -> Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, events)
    }

    fn modify(&self, events: libc::c_int) -> Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, events)
    }

    fn delete(&self) -> Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, 0)
    }

    fn wait(&self) -> Result<()> {
        let mut ready = [libc::epoll_event { events: 0, u64: 0 }];
        loop {
            // SAFETY: `ready` has room for the one event asked for.
            let n = unsafe { libc::epoll_wait(self.epfd, ready.as_mut_ptr(), 1, -1) };
            if n > 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            if n < 0 && e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e.into());
            }
        }
    }
}

#[allow(unsafe_code)] // closing a descriptor this struct owns
impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: `epfd` came from epoll_create1 and is closed only here.
        unsafe { libc::close(self.epfd) };
    }
}
