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
//! Lowest layer first; a layer never uses one above it.
//!
//! - [`protocol`]: RESP2/RESP3 frames. An incremental [`Decoder`](protocol::Decoder) over
//!   `BytesMut` and the encoding functions. No IO.
//! - [`Value`], [`Error`], and the conversions [`ToRedisArgs`] (arguments) and
//!   [`FromRedisValue`] (replies).
//! - [`Cmd`]: one command, arguments packed, keys marked; [`Pipeline`] queues many.
//! - [`commands`]: generated from the spec: the [`Commands`], [`AsyncCommands`] and
//!   pipeline methods, option types, and the command table with key specs and routing
//!   tips.
//! - [`ConnectionLike`], the seam every backend implements, and [`Connection`], one
//!   blocking TCP or Unix-socket connection; [`ConnectionInfo`] parses URLs.
//! - [`Client`]: opens connections.
//!
//! # Feature flags
//!
//! None yet: the sync client builds with `bytes`, `thiserror` and `socket2` alone.
//!
//! # Cancel safety
//!
//! The sync API has no futures to cancel. A call that fails half-way through a reply (an
//! IO error, a timeout) marks its connection broken, and the connection refuses every
//! later use, so a late reply can never be read as the answer to another command.
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

mod client;
mod cmd;
pub mod commands;
mod connection;
mod error;
mod pipeline;
pub mod protocol;
mod types;
mod value;

pub use client::Client;
pub use cmd::{Args, Cmd, cmd};
pub use commands::{AsyncCommands, AsyncSentinelCommands, Commands, SentinelCommands};
pub use connection::{
    AsyncConnectionLike, Connection, ConnectionAddr, ConnectionInfo, ConnectionLike, DEFAULT_PORT,
    IntoConnectionInfo, Password, ProtocolVersion,
};
pub use error::{Error, ErrorKind, Result};
pub use pipeline::{Pipeline, pipe};
pub use types::{FromRedisValue, RedisWrite, ToRedisArgs, from_redis_value};
pub use value::{Redirect, RedirectKind, ServerError, ServerErrorKind, Value};

/// The README's examples, compiled as doctests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
