//! Monitor: every command the server runs, as parsed entries.
//!
//! The parsing and the `MONITOR` handshake are here; the blocking [`Monitor`] and the
//! tokio [`aio::Monitor`](crate::aio::Monitor) only connect and read.

pub(crate) mod blocking;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;

pub use blocking::Monitor;

use crate::cmd::{Cmd, cmd};
use crate::error::{Error, ErrorKind, Result};
use crate::value::Value;

/// One command seen by `MONITOR`:
/// `1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MonitorEntry {
    /// When the server ran it, in seconds since the Unix epoch.
    pub time: f64,
    /// The database it ran on.
    pub db: i64,
    /// Who sent it: `127.0.0.1:60866`, `unix:/path`, or `lua` for scripts.
    pub client: String,
    /// The command name, as sent.
    pub command: String,
    /// The arguments after the name.
    pub args: Vec<Vec<u8>>,
}

impl MonitorEntry {
    /// Parses one line of `MONITOR` output.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Protocol`] for a line not in that form.
    pub fn parse(line: &[u8]) -> Result<MonitorEntry> {
        let bad = || {
            Error::new(
                ErrorKind::Protocol,
                format!(
                    "unexpected MONITOR line: {:?}",
                    String::from_utf8_lossy(line)
                ),
            )
        };
        let text = std::str::from_utf8(line).map_err(|_| bad())?;
        let (time, rest) = text.split_once(' ').ok_or_else(bad)?;
        let rest = rest.strip_prefix('[').ok_or_else(bad)?;
        let (source, rest) = rest.split_once("] ").ok_or_else(bad)?;
        let (db, client) = source.split_once(' ').ok_or_else(bad)?;
        let mut words = unquote_all(rest.as_bytes()).ok_or_else(bad)?.into_iter();
        let command = String::from_utf8_lossy(&words.next().ok_or_else(bad)?).into_owned();
        Ok(MonitorEntry {
            time: time.parse().map_err(|_| bad())?,
            db: db.parse().map_err(|_| bad())?,
            client: client.to_owned(),
            command,
            args: words.collect(),
        })
    }
}

/// Splits `"a" "b\"c" "\x00"` into its unescaped words.
fn unquote_all(mut rest: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut words = Vec::new();
    loop {
        rest = rest.trim_ascii_start();
        let Some(body) = rest.strip_prefix(b"\"") else {
            return rest.is_empty().then_some(words);
        };
        let mut word = Vec::new();
        let mut idx = 0;
        loop {
            match *body.get(idx)? {
                b'"' => break,
                b'\\' => {
                    let (byte, used) = match *body.get(idx + 1)? {
                        b'n' => (b'\n', 2),
                        b'r' => (b'\r', 2),
                        b't' => (b'\t', 2),
                        b'a' => (0x07, 2),
                        b'b' => (0x08, 2),
                        b'x' => {
                            let hex = std::str::from_utf8(body.get(idx + 2..idx + 4)?).ok()?;
                            (u8::from_str_radix(hex, 16).ok()?, 4)
                        }
                        other => (other, 2),
                    };
                    word.push(byte);
                    idx += used;
                }
                byte => {
                    word.push(byte);
                    idx += 1;
                }
            }
        }
        words.push(word);
        rest = body.get(idx + 1..)?;
    }
}

/// `MONITOR`, which turns a connection into a monitor.
pub(crate) fn monitor_cmd() -> Cmd {
    cmd("MONITOR")
}

/// Judges the reply to [`monitor_cmd`]: `OK`, or the server's refusal.
pub(crate) fn confirm(reply: Value) -> Result<()> {
    match reply {
        reply if reply.is_ok() => Ok(()),
        Value::ServerError(e) => Err(e.into()),
        other => Err(Error::new(
            ErrorKind::Protocol,
            format!("unexpected reply to MONITOR: {other:?}"),
        )),
    }
}

/// An entry from what a monitoring connection sent.
pub(crate) fn entry(value: Value) -> Result<MonitorEntry> {
    match value {
        Value::SimpleString(line) | Value::BulkString(line) => MonitorEntry::parse(&line),
        other => Err(Error::new(
            ErrorKind::Protocol,
            format!("unexpected MONITOR message: {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let entry =
            MonitorEntry::parse(br#"1339518083.107412 [0 127.0.0.1:60866] "keys" "*""#).unwrap();
        assert_eq!(entry.db, 0);
        assert_eq!(entry.client, "127.0.0.1:60866");
        assert_eq!(entry.command, "keys");
        assert_eq!(entry.args, [b"*".to_vec()]);
        assert!((entry.time - 1_339_518_083.107_412).abs() < 1e-6);

        let entry = MonitorEntry::parse(br#"1.5 [3 lua] "set" "k\"ey" "a\r\n\x00\\""#).unwrap();
        assert_eq!((entry.db, entry.client.as_str()), (3, "lua"));
        assert_eq!(entry.args, [b"k\"ey".to_vec(), b"a\r\n\x00\\".to_vec()]);

        assert!(MonitorEntry::parse(b"OK").is_err());
        assert!(MonitorEntry::parse(br#"1.5 [0 x] "unterminated"#).is_err());
    }

    #[test]
    fn handshake_and_messages() {
        assert_eq!(monitor_cmd().args().collect::<Vec<_>>(), [b"MONITOR"]);
        assert!(confirm(Value::SimpleString("OK".into())).is_ok());
        let refused = Value::ServerError(crate::value::ServerError::new("ERR no"));
        assert!(confirm(refused).unwrap_err().to_string().contains("no"));
        assert_eq!(
            confirm(Value::Int(1)).unwrap_err().kind(),
            ErrorKind::Protocol
        );

        let line = Value::SimpleString(r#"2.0 [1 unix:/s] "get" "k""#.into());
        assert_eq!(entry(line).unwrap().command, "get");
        assert_eq!(entry(Value::Nil).unwrap_err().kind(), ErrorKind::Protocol);
    }
}
