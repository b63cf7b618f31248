//! respec is a Redis client whose command surface is generated from the server's own
//! command specification.
//!
//! ```no_run
//! # fn main() -> respec::Result<()> {
//! let client = respec::Client::open("redis://127.0.0.1/")?;
//! let mut con = client.get_connection()?;
//! respec::cmd("SET").key("answer").arg(42).exec(&mut con)?;
//! let answer: i64 = respec::cmd("GET").key("answer").query(&mut con)?;
//! assert_eq!(answer, 42);
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
//! - [`Cmd`]: one command, arguments packed, keys marked.
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
