//! The one public [`Error`] type and its [`ErrorKind`]s.
//!
//! Every failure the library reports is an [`Error`]: IO and timeouts, error replies from
//! the server (parsed into a [`ServerError`]), malformed replies, failed conversions and
//! invalid input. It is a boxed, opaque struct, so it stays one pointer wide and can grow
//! without breaking anyone.

use std::borrow::Cow;
use std::{fmt, io};

use crate::protocol::ProtocolError;
use crate::value::{Redirect, ServerError, ServerErrorKind, Value};

/// The result type of every fallible operation in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, broadly: the categories redis-py's exceptions draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Connecting failed, the connection dropped, or a connection that had failed before
    /// was used again.
    Connection,
    /// A connect, read or write took longer than its timeout.
    Timeout,
    /// The server refused the credentials (`WRONGPASS`), wants some (`NOAUTH`), or the
    /// ACL user may not do what was asked (`NOPERM`).
    Authentication,
    /// Any other error reply from the server; see [`Error::server_error`].
    Server,
    /// A transaction was aborted because a watched key changed (`EXEC` returned nil).
    TransactionAborted,
    /// A reply could not be converted to the type asked for.
    Conversion,
    /// The server sent bytes that are not valid RESP.
    Protocol,
    /// The caller's input was invalid: a bad URL, a bad argument.
    InvalidInput,
    /// Every connection of a pool was in use for longer than the pool waits.
    PoolExhausted,
    /// A lock operation was refused: the lock is not held, not owned, or expired.
    Lock,
    /// TLS failed: the server's certificate did not verify (unknown authority, wrong
    /// name, expired), or the handshake broke down.
    Tls,
}

/// An error from this crate: see [`Error::kind`] for its category.
///
/// `Display` prints this error alone; an underlying IO error is its
/// [`source`](std::error::Error::source). Secrets (passwords, tokens) never appear in
/// either.
pub struct Error(Box<Repr>);

#[derive(Debug, thiserror::Error)]
enum Repr {
    #[error("{0}")]
    Server(ServerError),
    #[error("{name}, command {} of the {}, {}: {error}", index + 1, if *in_transaction { "transaction" } else { "pipeline" }, if *queued { "was refused, so the transaction did not run" } else { "failed" })]
    InBatch {
        /// The command's position among those queued, from 0.
        index: usize,
        /// The command's name.
        name: String,
        in_transaction: bool,
        /// The server refused to queue it, and `EXEC` aborted the transaction.
        queued: bool,
        error: ServerError,
    },
    #[error("{context}")]
    Io {
        kind: ErrorKind,
        context: Cow<'static, str>,
        #[source]
        source: io::Error,
    },
    #[error("invalid reply: {0}")]
    Protocol(ProtocolError),
    #[error("cannot convert {value} to {target}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Conversion {
        target: String,
        value: String,
        detail: Option<Cow<'static, str>>,
    },
    #[error("{message}")]
    Message {
        kind: ErrorKind,
        message: Cow<'static, str>,
    },
    /// An error met at a place the message names (a Sentinel, say), which it is
    /// otherwise: the same kind, server error, cause.
    #[error("{place}: {inner}")]
    Within {
        place: Cow<'static, str>,
        inner: Error,
    },
}

impl Error {
    /// The category of this error.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match &*self.0 {
            Repr::Server(e) | Repr::InBatch { error: e, .. } => match e.kind() {
                ServerErrorKind::NoAuth | ServerErrorKind::WrongPass | ServerErrorKind::NoPerm => {
                    ErrorKind::Authentication
                }
                _ => ErrorKind::Server,
            },
            Repr::Io { kind, .. } | Repr::Message { kind, .. } => *kind,
            Repr::Protocol(_) => ErrorKind::Protocol,
            Repr::Conversion { .. } => ErrorKind::Conversion,
            Repr::Within { inner, .. } => inner.kind(),
        }
    }

    /// The error reply, when this error is one.
    #[must_use]
    pub fn server_error(&self) -> Option<&ServerError> {
        match &*self.0 {
            Repr::Server(e) | Repr::InBatch { error: e, .. } => Some(e),
            Repr::Within { inner, .. } => inner.server_error(),
            _ => None,
        }
    }

    /// For the error of one command of a [`Pipeline`](crate::Pipeline), its position
    /// among the commands queued, from 0 (script loads, `MULTI` and `EXEC` are not
    /// counted). The message names the position too, from 1, with the command's name.
    #[must_use]
    pub fn command_index(&self) -> Option<usize> {
        match &*self.0 {
            Repr::InBatch { index, .. } => Some(*index),
            Repr::Within { inner, .. } => inner.command_index(),
            _ => None,
        }
    }

    /// The code of the error reply (`WRONGTYPE`, `NOSCRIPT`...), when this error is one.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        self.server_error().map(ServerError::code)
    }

    /// The cluster redirection of a `MOVED` or `ASK` reply.
    #[must_use]
    pub fn redirect(&self) -> Option<Redirect> {
        self.server_error().and_then(ServerError::redirect)
    }

    /// `true` when an operation ran out of time.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        self.kind() == ErrorKind::Timeout
    }

    /// `true` when the connection was closed or reset by the peer, or had already failed.
    #[must_use]
    pub fn is_connection_dropped(&self) -> bool {
        match &*self.0 {
            Repr::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::NotConnected
            ),
            Repr::Message { kind, .. } => *kind == ErrorKind::Connection,
            Repr::Within { inner, .. } => inner.is_connection_dropped(),
            _ => false,
        }
    }

    /// `true` when nothing listened at the address.
    #[must_use]
    pub fn is_connection_refused(&self) -> bool {
        match &*self.0 {
            Repr::Io { source, .. } => source.kind() == io::ErrorKind::ConnectionRefused,
            Repr::Within { inner, .. } => inner.is_connection_refused(),
            _ => false,
        }
    }

    /// `true` for errors after which the connection that produced them cannot be used
    /// again: IO failures, timeouts and protocol errors. Error replies and conversion
    /// errors leave the connection in step with the server.
    #[must_use]
    pub fn is_unrecoverable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Connection | ErrorKind::Timeout | ErrorKind::Protocol
        )
    }

    /// An IO failure, described by `context`; a timeout when the IO error says so. A
    /// failure of TLS below the IO (a bad record, an alert from the server such as
    /// `CertificateRequired`) is a [`ErrorKind::Tls`] error, and `context` then names it,
    /// so that it is seen wherever the message goes.
    pub(crate) fn io(context: impl Into<Cow<'static, str>>, source: io::Error) -> Error {
        let mut context = context.into();
        let kind = match source.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::Timeout,
            _ if is_tls(&source) => {
                context = format!("{context}: {source}").into();
                ErrorKind::Tls
            }
            _ => ErrorKind::Connection,
        };
        Error(Box::new(Repr::Io {
            kind,
            context,
            source,
        }))
    }

    /// The error reply of the command at `index` of a pipeline (or transaction), named
    /// `name`; `queued` when the server refused to queue it and `EXEC` then aborted.
    pub(crate) fn in_batch(
        error: ServerError,
        index: usize,
        name: &[u8],
        in_transaction: bool,
        queued: bool,
    ) -> Error {
        Error(Box::new(Repr::InBatch {
            index,
            name: String::from_utf8_lossy(name).into_owned(),
            in_transaction,
            queued,
            error,
        }))
    }

    /// A copy of this error, to hand one failure to several callers: the same kind,
    /// message and server error; an IO cause keeps its kind and its text.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // Only the async manager shares errors.
    pub(crate) fn copied(&self) -> Error {
        Error(Box::new(match &*self.0 {
            Repr::Server(e) => Repr::Server(e.clone()),
            Repr::InBatch {
                index,
                name,
                in_transaction,
                queued,
                error,
            } => Repr::InBatch {
                index: *index,
                name: name.clone(),
                in_transaction: *in_transaction,
                queued: *queued,
                error: error.clone(),
            },
            Repr::Io {
                kind,
                context,
                source,
            } => Repr::Io {
                kind: *kind,
                context: context.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Repr::Protocol(e) => Repr::Protocol(e.clone()),
            Repr::Conversion {
                target,
                value,
                detail,
            } => Repr::Conversion {
                target: target.clone(),
                value: value.clone(),
                detail: detail.clone(),
            },
            Repr::Message { kind, message } => Repr::Message {
                kind: *kind,
                message: message.clone(),
            },
            Repr::Within { place, inner } => Repr::Within {
                place: place.clone(),
                inner: inner.copied(),
            },
        }))
    }

    /// This error, met at `place`, which the message then names first: the kind, the
    /// server error and the cause stay this error's.
    pub(crate) fn within(self, place: impl Into<Cow<'static, str>>) -> Error {
        Error(Box::new(Repr::Within {
            place: place.into(),
            inner: self,
        }))
    }

    pub(crate) fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Error {
        Error(Box::new(Repr::Message {
            kind,
            message: message.into(),
        }))
    }

    pub(crate) fn invalid_input(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(ErrorKind::InvalidInput, message)
    }

    /// `value` cannot become a `T`. An error reply inside an aggregate is reported as that
    /// error reply rather than as a type mismatch.
    pub(crate) fn conversion<T: ?Sized>(value: &Value) -> Error {
        Error::conversion_detail::<T>(value, None)
    }

    pub(crate) fn conversion_detail<T: ?Sized>(
        value: &Value,
        detail: Option<Cow<'static, str>>,
    ) -> Error {
        if let Value::ServerError(e) = value {
            return Error::from(e.clone());
        }
        Error(Box::new(Repr::Conversion {
            target: short_type_name(std::any::type_name::<T>()),
            value: match value {
                Value::Nil => "nil".to_owned(),
                value => format!("{} {value:?}", value.type_name()),
            },
            detail,
        }))
    }
}

/// `true` when an IO error carries a TLS failure.
#[cfg(feature = "tls")]
fn is_tls(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

#[cfg(not(feature = "tls"))]
fn is_tls(_: &io::Error) -> bool {
    false
}

/// `alloc::vec::Vec<alloc::string::String>` -> `Vec<String>`.
fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut segment_start = 0;
    for (idx, c) in full.char_indices() {
        if matches!(c, '<' | '>' | ',' | ' ' | '(' | ')' | '[' | ']' | ';' | '&') {
            out.push_str(last_path_segment(
                full.get(segment_start..idx).unwrap_or(""),
            ));
            out.push(c);
            segment_start = idx + c.len_utf8();
        }
    }
    out.push_str(last_path_segment(full.get(segment_start..).unwrap_or("")));
    out
}

fn last_path_segment(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path)
}

impl From<ServerError> for Error {
    fn from(e: ServerError) -> Self {
        Error(Box::new(Repr::Server(e)))
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error(Box::new(Repr::Protocol(e)))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind())
            .field("message", &self.0.to_string())
            .field("source", &std::error::Error::source(&*self.0))
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_small_and_thread_safe() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        assert_eq!(
            std::mem::size_of::<Result<()>>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn type_names_are_shortened() {
        assert_eq!(
            short_type_name(std::any::type_name::<Vec<String>>()),
            "Vec<String>"
        );
        assert_eq!(
            short_type_name(std::any::type_name::<
                std::collections::HashMap<String, (i64, [u8; 2])>,
            >()),
            "HashMap<String, (i64, [u8; 2])>"
        );
    }

    #[test]
    fn kinds_follow_server_codes() {
        let e = Error::from(ServerError::new("NOPERM no"));
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(e.code(), Some("NOPERM"));
        let e = Error::from(ServerError::new("MOVED 1 h:1"));
        assert_eq!(e.kind(), ErrorKind::Server);
        assert_eq!(e.redirect().map(|r| r.slot), Some(1));
        assert_eq!(e.to_string(), "MOVED 1 h:1");
    }
}
