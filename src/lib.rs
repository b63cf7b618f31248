//! respec is a Redis client whose command surface is generated from the server's own
//! command specification: every command is a typed method.
//!
//! ```no_run
//! use respec::Commands;
//! use respec::commands::SetOptions;
//!
//! # fn main() -> respec::Result<()> {
//! let client = respec::Client::open("redis://127.0.0.1/")?;
//! let mut con = client.get_connection()?;
//! con.set("answer", 42)?;
//! let n = con.incr("answer")?; // an i64: INCR's reply is fixed by the protocol
//! let v: Option<String> = con.get("answer")?; // GET's reply is yours to type
//! let old: Option<String> = con.set_options("answer", 7, SetOptions::default().get().ex(60))?;
//! assert_eq!((n, v.as_deref(), old.as_deref()), (43, Some("43"), Some("43")));
//!
//! // Anything else goes through `cmd`, with the same conversions.
//! let pong: String = respec::cmd("PING").query(&mut con)?;
//! assert_eq!(pong, "PONG");
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! Lowest layer first; a layer never uses one above it (ARCHITECTURE.md lists the
//! modules in order, and a test holds the code to it).
//!
//! - [`protocol`]: RESP2/RESP3 frames. An incremental [`Decoder`](protocol::Decoder) over
//!   `BytesMut` and the encoding functions. No IO.
//! - [`Value`], [`Error`], and the conversions [`ToRedisArgs`] (arguments) and
//!   [`FromRedisValue`] (replies).
//! - [`Cmd`]: one command, arguments packed, keys marked, its command-table entry at
//!   hand ([`Cmd::info`]); a [`Batch`] holds many, with an atomic flag and scripts to
//!   load.
//! - [`ConnectionLike`] and [`AsyncConnectionLike`]: the seam every backend implements.
//!   [`Commands`], [`AsyncCommands`], [`Pipeline`] and the toolkit work on any of them.
//! - [`commands`]: generated from the spec: the command methods, option types, the
//!   command table with key specs and routing tips, and cluster key slots.
//! - [`Connection`], one blocking TCP or Unix-socket connection ([`ConnectionInfo`]
//!   parses URLs); a [`Connector`] gives new ones to whatever opens connections.
//! - [`Client`]: a pool of connections, itself a backend of the seam.
//! - The toolkit, each tool with one core and a blocking and a tokio driver:
//!   transactions, scans, the [`Lock`], [`PubSub`], [`Monitor`].
//! - [`aio`]: the async client: multiplexed connections with coalesced writes, the
//!   reconnecting manager, the async pool, and the tokio drivers of the toolkit.
//!
//! # Feature flags
//!
//! - `derive` (default): `#[derive(FromRedisValue)]` and `#[derive(ToRedisArgs)]`.
//! - `json` (default): `#[redis(json)]` in the derives, with serde and `serde_json`.
//! - `tokio` (default): the async client in [`aio`], on tokio.
//! - `tls`: `rediss://` with rustls (aws-lc-rs, or the process-wide provider the
//!   application installed), sync and async.
//!
//! # Cancel safety
//!
//! The sync API has no futures to cancel. A call that fails half-way through a reply (an
//! IO error, a timeout) marks its connection broken, and the connection refuses every
//! later use, so a late reply can never be read as the answer to another command.
//!
//! In the async API, dropping a request future on an
//! [`aio::MultiplexedConnection`] (or the
//! [`aio::ConnectionManager`]) is always safe: the
//! command is sent anyway and its reply is thrown away when it comes, in step with the
//! other requests. On a single [`aio::Connection`], dropping a
//! request before its reply is read marks the connection broken, and the pool discards it.
//!
//! # Stability
//!
//! Before 1.0, minor versions may break the API. [`Value`], [`ErrorKind`] and the server
//! error kinds are `#[non_exhaustive]` and may gain variants in any release; the text of
//! error messages is not part of the API.
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]
#![warn(missing_docs)]
// The library must not panic on anything a server sends: no unwraps, no unchecked indexing.
#![warn(clippy::unwrap_used, clippy::indexing_slicing)]

#[doc(hidden)]
pub mod __private;
#[cfg(feature = "tokio")]
pub mod aio;
mod batch;
mod client;
mod cluster;
mod cmd;
pub mod commands;
mod connection;
mod connector;
mod deadline;
mod error;
mod lock;
mod monitor;
mod pipeline;
mod pool;
pub mod protocol;
mod pubsub;
mod retry;
mod scan;
mod script;
mod seam;
mod sentinel;
mod table;
mod tenure;
#[cfg(feature = "tls")]
mod tls;
mod transaction;
mod types;
mod value;

pub use batch::Batch;
pub use client::{Client, Retrying};
pub use cluster::blocking::{ClusterConnection, ClusterScanIter};
pub use cluster::client::{ClusterBuilder, ClusterClient};
pub use cluster::{
    AddressRemap, ClusterStats, DEFAULT_DISCOVERY_TIMEOUT, DEFAULT_MAX_REDIRECTS,
    DEFAULT_NODE_TIMEOUT, DEFAULT_REFRESH_INTERVAL, Nodes, ReadFrom,
};
pub use cmd::{Args, Cmd, cmd};
pub use commands::{AsyncCommands, AsyncSentinelCommands, Commands, SentinelCommands};
pub use connection::{
    CertReqs, Connection, ConnectionAddr, ConnectionInfo, CredentialProvider,
    CredentialProviderHandle, Credentials, DEFAULT_PORT, IntoConnectionInfo, NodeAddr, Password,
    ProtocolVersion, StaticCredentials, TlsOptions,
};
pub use connector::Connector;
pub use error::{Error, ErrorKind, Result};
pub use lock::{DEFAULT_LOCK_SLEEP, Lock, LockGuard};
pub use monitor::{Monitor, MonitorEntry};
pub use pipeline::{Pipeline, pipe};
pub use pool::blocking::PooledConnection;
pub use pool::{DEFAULT_MAX_CONNECTIONS, DEFAULT_POOL_TIMEOUT, PoolConfig};
pub use pubsub::{Message, MessageKind, PubSub, PubSubThread, Subscriptions};
pub use retry::{DEFAULT_RETRY_BASE, DEFAULT_RETRY_MAX, RetryPolicy};
pub use scan::{ScanCommands, ScanIter};
pub use script::{Script, ScriptInvocation};
pub use seam::{AsyncConnectionLike, ConnectionLike};
pub use sentinel::client::{SentinelBuilder, SentinelClient};
pub use sentinel::{DEFAULT_CHECK_INTERVAL, DEFAULT_SENTINEL_TIMEOUT};
pub use tenure::Tenure;
pub use transaction::{Transaction, transaction};
pub use types::{FromRedisValue, RedisWrite, ToRedisArgs, from_redis_value};

/// Derives [`FromRedisValue`](trait@FromRedisValue) for a struct or a unit-only enum.
///
/// - Named fields are read from a map reply (a RESP3 map, or the flat `field value ...`
///   array RESP2 sends for `HGETALL`), matched by name; unknown fields are ignored. Each
///   field converts through its own `FromRedisValue`, so numbers and booleans are parsed
///   from bulk strings. An `Option` field (spelled `Option<...>`) may be absent or nil;
///   a `#[redis(default)]` field takes `Default::default()` when absent; any other missing
///   field is an error naming the struct and the field.
/// - Tuple structs read an array of exactly their length; a newtype reads what its field
///   reads.
/// - Enums of unit variants read a simple or bulk string naming a variant; an unknown
///   string is an error listing the accepted ones.
///
/// Attributes: `#[redis(rename = "...")]` on fields and variants, `#[redis(rename_all =
/// "...")]` on the type (`lowercase`, `UPPERCASE`, `PascalCase`, `camelCase`,
/// `snake_case`, `SCREAMING_SNAKE_CASE`, `kebab-case`, `SCREAMING-KEBAB-CASE`),
/// `#[redis(json)]` on the type or a field to decode a bulk string as JSON with
/// `serde_json` (needs the `json` feature), and `#[redis(crate = "...")]` where respec is
/// re-exported under another path.
///
/// ```
/// use respec::FromRedisValue;
///
/// #[derive(FromRedisValue, Debug, PartialEq)]
/// #[redis(rename_all = "camelCase")]
/// struct User {
///     display_name: String,
///     age: u32,
///     nickname: Option<String>,
/// }
///
/// let reply = respec::Value::Array(
///     ["displayName", "Ada", "age", "36"].map(|s| respec::Value::BulkString(s.into())).to_vec(),
/// );
/// let user = User::from_redis_value(reply)?;
/// assert_eq!(user, User { display_name: "Ada".into(), age: 36, nickname: None });
/// # Ok::<(), respec::Error>(())
/// ```
#[cfg(feature = "derive")]
pub use respec_macros::FromRedisValue;

/// Derives [`ToRedisArgs`](trait@ToRedisArgs).
///
/// - A struct with named fields writes `field value` pairs, renamed as for
///   [`FromRedisValue`](derive@FromRedisValue), skipping `None` fields; so `HSET key`
///   followed by the struct stores it as a hash.
/// - An enum of unit variants writes its (renamed) variant name.
/// - A tuple struct writes its fields in order; a newtype writes what its field writes.
/// - `#[redis(json)]` on the type or a field writes it as one JSON argument (needs the
///   `json` feature).
///
/// ```
/// use respec::ToRedisArgs;
///
/// #[derive(ToRedisArgs)]
/// struct User {
///     name: String,
///     #[redis(rename = "years")]
///     age: u32,
///     nickname: Option<String>,
/// }
///
/// let mut args: Vec<Vec<u8>> = Vec::new();
/// User { name: "Ada".into(), age: 36, nickname: None }.write_redis_args(&mut args);
/// assert_eq!(args, [&b"name"[..], b"Ada", b"years", b"36"]);
/// ```
#[cfg(feature = "derive")]
pub use respec_macros::ToRedisArgs;
pub use value::{Redirect, RedirectKind, ServerError, ServerErrorKind, Value};

/// The README's examples, compiled as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
