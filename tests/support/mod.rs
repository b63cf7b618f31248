//! Shared helpers for the integration tests: throwaway servers (`server.rs`), connections
//! under each protocol, and a fault-injecting proxy for failures a real server cannot
//! produce on demand.

// Each test binary uses its own part of this module.
#![allow(dead_code, unused_imports, unreachable_pub)]

pub mod certs;
pub mod cluster;
pub mod decode_check;
pub mod fake;
pub mod resp;
pub mod sentinel;
pub mod server;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;

use respec::{Connection, ConnectionInfo, ProtocolVersion};
pub use server::{RedisServer, ServerConfig, ServerKind, free_port};

/// The server under test: `$RESPEC_SERVER`, Redis unless it says `valkey`.
pub fn server_kind() -> ServerKind {
    ServerKind::from_env()
}

/// `true` when the server under test has `what` a test needs; otherwise notes that the
/// running test skips (see [`skip`]) and returns `false`, and the test returns at once.
pub fn server_has(what: &str, has: bool) -> bool {
    if !has {
        skip(&format!(
            "this {} server has no {what}",
            server_kind().name()
        ));
    }
    has
}

/// Notes that the running test skips, and why: on stderr, and in the file
/// `$RESPEC_SKIP_LOG` names, from which `cargo xtask test` lists and counts the skips.
pub fn skip(reason: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let binary = env!("CARGO_CRATE_NAME");
    eprintln!(
        "skipped {binary}::{test} on {}: {reason}",
        server_kind().name()
    );
    if let Some(path) = std::env::var_os("RESPEC_SKIP_LOG") {
        let line = format!("{binary}::{test}\t{reason}\n");
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        appended
            .unwrap_or_else(|e| panic!("cannot note a skip in {}: {e}", path.to_string_lossy()));
    }
}

/// Polls `ready` every few milliseconds until it holds, for up to five seconds.
///
/// # Panics
///
/// When it does not hold in time, naming `what` was awaited.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Both protocol versions, for tests that must hold under each.
pub const PROTOCOLS: [ProtocolVersion; 2] = [ProtocolVersion::Resp2, ProtocolVersion::Resp3];

/// Connection settings for `server` speaking `protocol`.
pub fn info(server: &RedisServer, protocol: ProtocolVersion) -> ConnectionInfo {
    let mut info: ConnectionInfo = server.url().parse().expect("the test URL parses");
    info.protocol = protocol;
    info
}

/// A new connection to `server` speaking `protocol`, outside any pool.
pub fn connect(server: &RedisServer, protocol: ProtocolVersion) -> Connection {
    Connection::open(&info(server, protocol))
        .unwrap_or_else(|e| panic!("cannot connect to the test server with {protocol:?}: {e}"))
}

/// Runs `body` once per protocol, on a fresh connection to an emptied database, so one
/// test body covers RESP2 and RESP3. A failure names the protocol it happened under.
pub fn each_protocol(server: &RedisServer, mut body: impl FnMut(&mut Connection, ProtocolVersion)) {
    for protocol in PROTOCOLS {
        let mut con = connect(server, protocol);
        respec::cmd("FLUSHALL")
            .exec(&mut con)
            .expect("FLUSHALL works");
        eprintln!("-- under {protocol:?}");
        body(&mut con, protocol);
    }
}

/// A proxy in front of a server that forwards one client connection and cuts it after a
/// set number of reply bytes: a server dying in the middle of a reply.
#[derive(Debug)]
pub struct CutProxy {
    port: u16,
}

impl CutProxy {
    /// Starts a proxy to `upstream_port` that closes both sides once `reply_limit` bytes
    /// of replies have reached the client.
    pub fn start(upstream_port: u16, reply_limit: usize) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        thread::spawn(move || {
            let Ok((mut client, _)) = listener.accept() else {
                return;
            };
            let mut upstream =
                TcpStream::connect(("127.0.0.1", upstream_port)).expect("reach the server");
            let (mut client_reader, mut upstream_writer) = (
                client.try_clone().expect("clone the client socket"),
                upstream.try_clone().expect("clone the server socket"),
            );
            thread::spawn(move || {
                let _ = std::io::copy(&mut client_reader, &mut upstream_writer);
            });
            let mut sent = 0;
            let mut buf = [0u8; 8192];
            while sent < reply_limit {
                let n = match upstream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n.min(reply_limit - sent),
                };
                if client.write_all(&buf[..n]).is_err() {
                    break;
                }
                sent += n;
            }
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        });
        CutProxy { port }
    }

    /// `redis://127.0.0.1:<proxy port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// Closes every normal client of the server but `admin` itself (`CLIENT KILL TYPE
/// normal SKIPME yes`); returns how many it closed.
pub fn kill_other_clients(admin: &mut Connection) -> i64 {
    respec::cmd("CLIENT KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query(admin)
        .expect("CLIENT KILL works")
}

/// The server's version, from `INFO server`.
pub fn server_version(con: &mut Connection) -> (u32, u32, u32) {
    let info: String = respec::cmd("INFO")
        .arg("server")
        .query(con)
        .expect("INFO works");
    let version = info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .expect("INFO server names the version");
    let mut parts = version.trim().split('.').map(|p| p.parse().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// Which way a reply reached a conversion: straight from its decoded frame, as every
/// connection is meant to hand it over, or built as a `Value` first.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplyPath {
    Frame,
    Value,
}

impl respec::FromRedisValue for ReplyPath {
    fn from_redis_value(_: respec::Value) -> respec::Result<Self> {
        Ok(ReplyPath::Value)
    }

    fn from_frame(frame: &mut respec::protocol::Frame<'_>) -> respec::Result<Self> {
        frame.value()?;
        Ok(ReplyPath::Frame)
    }
}

/// Bytes that repeat only every 251, so a piece out of place shows.
pub fn patterned(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Checks that a reply converted straight from its decoded frame (`direct`, as the
/// command methods convert) agrees with the same reply converted from a built `Value`:
/// the same value, or errors with the same message.
#[track_caller]
pub fn assert_same_conversion<T: PartialEq + std::fmt::Debug>(
    command: &respec::Cmd,
    direct: &respec::Result<T>,
    via_value: &respec::Result<T>,
) {
    match (direct, via_value) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{command:?}"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{command:?}"),
        _ => panic!("{command:?}: {direct:?} but {via_value:?}"),
    }
}
