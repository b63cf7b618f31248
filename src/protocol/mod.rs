//! RESP2 and RESP3 on the wire: an incremental [`Decoder`] and the encoding functions.
//!
//! This layer does no IO and knows nothing of connections: it turns bytes into
//! [`Value`](crate::Value)s and commands into bytes. It never panics on any input; bytes
//! that are not RESP are a [`ProtocolError`]. An incomplete frame is not an error: the
//! decoder answers "need more" (`Ok(None)`).
//!
//! # Format
//!
//! ```text
//! +OK\r\n                     simple string      $5\r\nhello\r\n      bulk string
//! -ERR message\r\n            error              *2\r\n:1\r\n:2\r\n  array of two integers
//! :42\r\n                     integer            %1\r\n+k\r\n+v\r\n   RESP3 map
//! ```

mod decode;
mod encode;

#[cfg(feature = "tokio")]
pub(crate) use decode::Decoded;
pub use decode::{Decoder, Frame, MAX_RESERVE_AHEAD};
pub(crate) use encode::{DecimalBuf, FloatBuf};
pub use encode::{encode_command, encode_value, write_array_header, write_bulk};

/// Default for [`Limits::max_bulk_len`]: 512 MiB, the largest string Redis stores
/// (`proto-max-bulk-len`).
pub const DEFAULT_MAX_BULK_LEN: usize = 512 * 1024 * 1024;

/// Default for [`Limits::max_depth`]. Server replies nest a few levels (`COMMAND DOCS`
/// reaches about eight); the cap keeps a hostile peer from exhausting the stack.
pub const DEFAULT_MAX_DEPTH: usize = 128;

/// Default for [`Limits::max_aggregate_len`]: the element count Redis itself accepts in a
/// multi-bulk request. Memory is never reserved ahead of the bytes that back it, so a
/// large announced length costs nothing until its elements arrive.
pub const DEFAULT_MAX_AGGREGATE_LEN: usize = i32::MAX as usize;

/// Bounds the decoder enforces on what a peer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest bulk string, verbatim string, blob error or line (a simple string, an
    /// error, a number...) accepted, in bytes.
    pub max_bulk_len: usize,
    /// The deepest nesting of aggregates accepted (a top-level array is depth 1).
    pub max_depth: usize,
    /// The most elements one aggregate may announce (a map counts its pairs).
    pub max_aggregate_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
            max_depth: DEFAULT_MAX_DEPTH,
            max_aggregate_len: DEFAULT_MAX_AGGREGATE_LEN,
        }
    }
}

/// Bytes that are not valid RESP, or that exceed the decoder's [`Limits`].
///
/// After a protocol error the stream cannot be resynchronised: the connection that
/// produced it must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The first byte of a frame is no RESP type.
    #[error("invalid RESP type byte {0:#04x}")]
    InvalidType(u8),
    /// A length header is not a number (or is negative where null is not allowed).
    #[error("invalid length in a {0:?} header")]
    InvalidLength(char),
    /// RESP3 streamed strings and aggregates (`$?`, `*?`) are not sent by servers and are
    /// not supported.
    #[error("streamed RESP3 types are not supported")]
    Streamed,
    /// A bulk string, blob error or verbatim string announces more bytes than
    /// [`Limits::max_bulk_len`].
    #[error("string of {len} bytes exceeds the limit of {limit}")]
    StringTooLong {
        /// The announced or seen length.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// A simple string, error, number or other one-line value is longer than
    /// [`Limits::max_bulk_len`]. Its full length is not given: it is refused as soon as
    /// it is known to be too long, before the end of the line arrives.
    #[error("a line exceeds the limit of {limit} bytes")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// An aggregate announces more elements than [`Limits::max_aggregate_len`].
    #[error("aggregate of {len} elements exceeds the limit of {limit}")]
    AggregateTooLong {
        /// The announced length.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Aggregates nest deeper than [`Limits::max_depth`].
    #[error("aggregates nest deeper than the limit of {limit}")]
    TooDeep {
        /// The limit in force.
        limit: usize,
    },
    /// A line does not end in CRLF, or a bulk string is not followed by CRLF.
    #[error("missing CRLF terminator")]
    MissingCrlf,
    /// The body of a line-type value does not parse as its type.
    #[error("invalid {kind} {text:?}")]
    InvalidValue {
        /// What was expected: "integer", "double", "boolean"...
        kind: &'static str,
        /// The offending text, cut to a few bytes.
        text: String,
    },
}
