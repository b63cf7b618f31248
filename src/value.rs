//! The data a server sends: [`Value`] and the error replies it can carry.
//!
//! This module is pure data. It knows nothing of sockets or of the wire format; the
//! `protocol` module turns bytes into these values and back.

use std::fmt;

use bytes::Bytes;

/// One reply from the server, covering every RESP2 and RESP3 type.
///
/// RESP2 replies map onto the same variants: a RESP2 null bulk string and a null array
/// both become [`Value::Nil`], and RESP2 has no maps, sets, doubles or booleans, so such
/// replies arrive as arrays, bulk strings and integers instead.
///
/// RESP3 attributes (`|`) are read and dropped by the decoder: the value they annotate is
/// returned in their place. No server command needs them to be understood, and keeping
/// them would make every conversion look through an extra wrapper.
///
/// Strings are [`Bytes`] slices of the connection's read buffer, so taking one out of a
/// reply does not copy it.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// RESP3 null, or a RESP2 null bulk string or null array.
    Nil,
    /// A simple string status reply, such as `OK` or `PONG`.
    SimpleString(Bytes),
    /// A bulk string: binary-safe user data.
    BulkString(Bytes),
    /// A RESP3 verbatim string: text with a three-letter format such as `txt` or `mkd`.
    VerbatimString {
        /// The format, as sent (`txt`, `mkd`).
        format: [u8; 3],
        /// The text, without the format prefix.
        text: Bytes,
    },
    /// A signed 64-bit integer.
    Int(i64),
    /// A RESP3 double, including infinities and NaN.
    Double(f64),
    /// A RESP3 boolean.
    Boolean(bool),
    /// A RESP3 big number, kept as its decimal digits (with a leading `-` when negative).
    BigNumber(Bytes),
    /// An ordered sequence.
    Array(Vec<Value>),
    /// A RESP3 set: unordered, kept in the order the server sent it.
    Set(Vec<Value>),
    /// A RESP3 map, as key/value pairs in the order the server sent them.
    Map(Vec<(Value, Value)>),
    /// A RESP3 push message, out of band (pub/sub messages, invalidations). The first
    /// element names its kind.
    Push(Vec<Value>),
    /// An error reply (simple or RESP3 blob error). At the top level of a reply it is
    /// turned into an [`Error`](crate::Error); inside an aggregate (the replies of `EXEC`,
    /// say) it stays a value so that the other elements are not lost.
    ServerError(ServerError),
}

impl Value {
    /// Returns `true` for [`Value::Nil`].
    #[must_use]
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// Returns `true` for the `OK` status reply.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        matches!(self, Value::SimpleString(s) if s.as_ref() == b"OK")
    }

    /// A short name for the value's type, as used in error messages.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::SimpleString(_) => "simple string",
            Value::BulkString(_) => "bulk string",
            Value::VerbatimString { .. } => "verbatim string",
            Value::Int(_) => "integer",
            Value::Double(_) => "double",
            Value::Boolean(_) => "boolean",
            Value::BigNumber(_) => "big number",
            Value::Array(_) => "array",
            Value::Set(_) => "set",
            Value::Map(_) => "map",
            Value::Push(_) => "push",
            Value::ServerError(_) => "error",
        }
    }
}

/// At most this many bytes of a string are shown when a value is printed.
const SHOWN_STRING_LEN: usize = 64;
/// At most this many elements of an aggregate are shown when a value is printed.
const SHOWN_ELEMENTS: usize = 8;

/// Writes `bytes` as a quoted string, escaping what is not printable ASCII, cut after
/// [`SHOWN_STRING_LEN`] bytes.
fn write_quoted(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    f.write_str("\"")?;
    let shown = bytes.get(..SHOWN_STRING_LEN).unwrap_or(bytes);
    for chunk in shown.utf8_chunks() {
        for c in chunk.valid().chars() {
            write!(f, "{}", c.escape_debug())?;
        }
        for b in chunk.invalid() {
            write!(f, "\\x{b:02x}")?;
        }
    }
    f.write_str("\"")?;
    if bytes.len() > shown.len() {
        write!(f, "... ({} bytes)", bytes.len())?;
    }
    Ok(())
}

fn write_elements<'a>(
    f: &mut fmt::Formatter<'_>,
    open: &str,
    close: &str,
    items: impl ExactSizeIterator<Item = &'a Value>,
) -> fmt::Result {
    let len = items.len();
    f.write_str(open)?;
    for (idx, item) in items.take(SHOWN_ELEMENTS).enumerate() {
        if idx > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item:?}")?;
    }
    if len > SHOWN_ELEMENTS {
        write!(f, ", ... ({len} elements)")?;
    }
    f.write_str(close)
}

/// Prints a compact, truncated form, so that an error can show the value it could not
/// convert without flooding the message: long strings and aggregates are cut.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::SimpleString(s) => {
                f.write_str("+")?;
                write_quoted(f, s)
            }
            Value::BulkString(s) => write_quoted(f, s),
            Value::VerbatimString { format, text } => {
                write!(f, "{}:", String::from_utf8_lossy(format))?;
                write_quoted(f, text)
            }
            Value::Int(n) => write!(f, "{n}"),
            Value::Double(d) => write!(f, "{d:?}"),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::BigNumber(n) => write!(f, "({})", String::from_utf8_lossy(n)),
            Value::Array(items) => write_elements(f, "[", "]", items.iter()),
            Value::Set(items) => write_elements(f, "~{", "}", items.iter()),
            Value::Push(items) => write_elements(f, ">[", "]", items.iter()),
            Value::Map(pairs) => {
                f.write_str("{")?;
                for (idx, (k, v)) in pairs.iter().take(SHOWN_ELEMENTS).enumerate() {
                    if idx > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k:?}: {v:?}")?;
                }
                if pairs.len() > SHOWN_ELEMENTS {
                    write!(f, ", ... ({} pairs)", pairs.len())?;
                }
                f.write_str("}")
            }
            Value::ServerError(e) => write!(f, "-{e}"),
        }
    }
}

/// An error reply from the server: `-WRONGTYPE Operation against a key ...`.
///
/// The first word is the error code; [`ServerError::kind`] sorts the codes a client acts
/// on, and [`ServerError::redirect`] parses `MOVED` and `ASK`.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The whole line, without the leading `-` and the trailing CRLF.
    line: String,
    /// Length of the code at the start of `line`; zero when the line has no code.
    code_len: usize,
}

impl ServerError {
    /// Parses an error line as sent by the server (without `-` and CRLF).
    ///
    /// The code is the first word when it is written in capitals (`ERR`, `WRONGTYPE`,
    /// `MOVED`). A line that starts otherwise (a Lua `error_reply` may) has no code.
    #[must_use]
    pub fn new(line: impl Into<String>) -> Self {
        let line = line.into();
        let first = line.split(' ').next().unwrap_or("");
        let is_code = !first.is_empty()
            && first
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        let code_len = if is_code { first.len() } else { 0 };
        ServerError { line, code_len }
    }

    /// The error code: `ERR`, `WRONGTYPE`, `MOVED`... Empty when the line has none.
    #[must_use]
    pub fn code(&self) -> &str {
        self.line.get(..self.code_len).unwrap_or("")
    }

    /// The text after the code.
    #[must_use]
    pub fn message(&self) -> &str {
        let rest = self.line.get(self.code_len..).unwrap_or("");
        rest.strip_prefix(' ').unwrap_or(rest)
    }

    /// The kind of error, from its code.
    #[must_use]
    pub fn kind(&self) -> ServerErrorKind {
        ServerErrorKind::from_code(self.code())
    }

    /// The redirection of a `MOVED` or `ASK` error: `MOVED 3999 127.0.0.1:6381`.
    #[must_use]
    pub fn redirect(&self) -> Option<Redirect> {
        let kind = match self.kind() {
            ServerErrorKind::Moved => RedirectKind::Moved,
            ServerErrorKind::Ask => RedirectKind::Ask,
            _ => return None,
        };
        let mut words = self.message().split(' ');
        let slot = words.next()?.parse().ok()?;
        let address = words.next()?;
        if address.is_empty() || words.next().is_some() {
            return None;
        }
        Some(Redirect {
            kind,
            slot,
            address: address.to_owned(),
        })
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

impl fmt::Debug for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerError")
            .field("code", &self.code())
            .field("message", &self.message())
            .finish()
    }
}

/// The error codes a client tells apart. Anything else is [`ServerErrorKind::Other`]; the
/// code itself is always available from [`ServerError::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerErrorKind {
    /// `ERR`: the generic error.
    Err,
    /// `WRONGTYPE`: the key holds another type.
    WrongType,
    /// `NOSCRIPT`: no script with that SHA1 is loaded.
    NoScript,
    /// `BUSY`: a script or function is running.
    Busy,
    /// `LOADING`: the server is loading its data set.
    Loading,
    /// `READONLY`: a write was sent to a replica.
    ReadOnly,
    /// `EXECABORT`: `EXEC` discarded a transaction because a queued command was invalid.
    ExecAbort,
    /// `MOVED`: the slot lives on another cluster node.
    Moved,
    /// `ASK`: the slot is migrating; ask the other node once.
    Ask,
    /// `TRYAGAIN`: a multi-key command hit a slot in migration.
    TryAgain,
    /// `CLUSTERDOWN`: the cluster cannot serve requests.
    ClusterDown,
    /// `MASTERDOWN`: the replica lost its primary.
    MasterDown,
    /// `NOREPLICAS`: not enough replicas to accept the write.
    NoReplicas,
    /// `NOAUTH`: authentication is required.
    NoAuth,
    /// `WRONGPASS`: the user name or password is wrong.
    WrongPass,
    /// `NOPERM`: the ACL user may not run this command or touch this key.
    NoPerm,
    /// Any other code.
    Other,
}

impl ServerErrorKind {
    fn from_code(code: &str) -> Self {
        match code {
            "ERR" => ServerErrorKind::Err,
            "WRONGTYPE" => ServerErrorKind::WrongType,
            "NOSCRIPT" => ServerErrorKind::NoScript,
            "BUSY" => ServerErrorKind::Busy,
            "LOADING" => ServerErrorKind::Loading,
            "READONLY" => ServerErrorKind::ReadOnly,
            "EXECABORT" => ServerErrorKind::ExecAbort,
            "MOVED" => ServerErrorKind::Moved,
            "ASK" => ServerErrorKind::Ask,
            "TRYAGAIN" => ServerErrorKind::TryAgain,
            "CLUSTERDOWN" => ServerErrorKind::ClusterDown,
            "MASTERDOWN" => ServerErrorKind::MasterDown,
            "NOREPLICAS" => ServerErrorKind::NoReplicas,
            "NOAUTH" => ServerErrorKind::NoAuth,
            "WRONGPASS" => ServerErrorKind::WrongPass,
            "NOPERM" => ServerErrorKind::NoPerm,
            _ => ServerErrorKind::Other,
        }
    }
}

/// Where a cluster node sent a request instead: parsed from `MOVED` and `ASK` errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// `MOVED` (the slot has a new owner) or `ASK` (ask the other node this once).
    pub kind: RedirectKind,
    /// The hash slot of the key.
    pub slot: u16,
    /// The node to ask, as `host:port`.
    pub address: String,
}

/// The two kinds of cluster redirection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// The slot moved for good: update the slot map.
    Moved,
    /// The slot is migrating: send `ASKING` and the command to the other node, once.
    Ask,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_error_code_and_message() {
        let e =
            ServerError::new("WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(e.code(), "WRONGTYPE");
        assert_eq!(e.kind(), ServerErrorKind::WrongType);
        assert_eq!(
            e.message(),
            "Operation against a key holding the wrong kind of value"
        );

        let e = ServerError::new("user_script:1: oops");
        assert_eq!(e.code(), "");
        assert_eq!(e.kind(), ServerErrorKind::Other);
        assert_eq!(e.message(), "user_script:1: oops");
    }

    #[test]
    fn redirects_are_parsed() {
        let e = ServerError::new("MOVED 3999 127.0.0.1:6381");
        assert_eq!(
            e.redirect(),
            Some(Redirect {
                kind: RedirectKind::Moved,
                slot: 3999,
                address: "127.0.0.1:6381".into()
            })
        );
        let e = ServerError::new("ASK 12 [::1]:7000");
        assert_eq!(e.redirect().map(|r| r.kind), Some(RedirectKind::Ask));
        assert_eq!(ServerError::new("MOVED nonsense").redirect(), None);
        assert_eq!(ServerError::new("ERR 1 a:1").redirect(), None);
    }

    #[test]
    fn debug_output_is_truncated() {
        let long = Value::BulkString(Bytes::from(vec![b'x'; 1000]));
        let shown = format!("{long:?}");
        assert!(shown.ends_with("... (1000 bytes)"), "{shown}");
        assert!(shown.len() < 100);
        let many = Value::Array((0..100).map(Value::Int).collect());
        assert_eq!(
            format!("{many:?}"),
            "[0, 1, 2, 3, 4, 5, 6, 7, ... (100 elements)]"
        );
        assert_eq!(
            format!("{:?}", Value::BulkString(Bytes::from_static(b"a\n\xff"))),
            "\"a\\n\\xff\""
        );
    }
}
