//! Async [`PubSub`] and [`Monitor`], as `Stream`s.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use bytes::Bytes;
use futures_core::Stream;

use super::connection::Connection;
use super::stream::unfold;
use crate::cmd::cmd;
use crate::connection::ConnectionInfo;
use crate::error::{Error, ErrorKind, Result};
use crate::monitor::{MonitorEntry, entry};
use crate::pubsub::{Message, command, forget, is_pong, names};
use crate::retry::RetryPolicy;
use crate::types::ToRedisArgs;
use crate::value::Value;

/// Subscriptions on a dedicated async connection; the async twin of
/// [`PubSub`](crate::PubSub).
///
/// [`next_message`](PubSub::next_message) waits for the next message, and
/// [`into_stream`](PubSub::into_stream) turns the subscriptions into a `Stream`. When the
/// connection fails, a new one is opened (with the retry policy) and every channel,
/// pattern and shard channel is subscribed again; under RESP3 the messages are push
/// messages, and the same works.
pub struct PubSub {
    info: ConnectionInfo,
    retry: RetryPolicy,
    con: Option<Connection>,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    shard_channels: BTreeSet<Bytes>,
    ignore_subscribe_messages: bool,
}

impl PubSub {
    /// A pub/sub for `info`; it connects when it first subscribes.
    #[must_use]
    pub fn new(info: ConnectionInfo, retry: RetryPolicy) -> PubSub {
        PubSub {
            info,
            retry,
            con: None,
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            shard_channels: BTreeSet::new(),
            ignore_subscribe_messages: false,
        }
    }

    /// Whether confirmations of (un)subscribing are left out.
    #[must_use]
    pub fn ignore_subscribe_messages(mut self, ignore: bool) -> PubSub {
        self.ignore_subscribe_messages = ignore;
        self
    }

    /// Subscribes to channels.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn subscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        let names = names(&channels);
        self.send("SUBSCRIBE", &names).await?;
        self.channels.extend(names);
        Ok(())
    }

    /// Subscribes to patterns.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn psubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        let names = names(&patterns);
        self.send("PSUBSCRIBE", &names).await?;
        self.patterns.extend(names);
        Ok(())
    }

    /// Subscribes to shard channels.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn ssubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        let names = names(&channels);
        self.send("SSUBSCRIBE", &names).await?;
        self.shard_channels.extend(names);
        Ok(())
    }

    /// Unsubscribes from channels; an empty collection from all.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn unsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        let names = names(&channels);
        self.send("UNSUBSCRIBE", &names).await?;
        forget(&mut self.channels, &mut HashMap::new(), &names);
        Ok(())
    }

    /// Unsubscribes from patterns; an empty collection from all.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn punsubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        let names = names(&patterns);
        self.send("PUNSUBSCRIBE", &names).await?;
        forget(&mut self.patterns, &mut HashMap::new(), &names);
        Ok(())
    }

    /// Unsubscribes from shard channels; an empty collection from all.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn sunsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        let names = names(&channels);
        self.send("SUNSUBSCRIBE", &names).await?;
        forget(&mut self.shard_channels, &mut HashMap::new(), &names);
        Ok(())
    }

    /// Sends a `PING` on the subscribed connection; its answer is not a message.
    ///
    /// # Errors
    ///
    /// Connection errors that reconnecting could not mend.
    pub async fn check_health(&mut self) -> Result<()> {
        self.send("PING", &[]).await
    }

    /// Waits for the next message (confirmations too, unless ignored).
    ///
    /// # Errors
    ///
    /// Connection errors that reconnecting could not mend, and protocol errors.
    pub async fn next_message(&mut self) -> Result<Message> {
        loop {
            let value = match self.connection().await?.read_message().await {
                Ok(value) => value,
                Err(e) if e.is_unrecoverable() && e.kind() != ErrorKind::Protocol => {
                    self.con = None;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match value {
                Value::SimpleString(pong) if pong.eq_ignore_ascii_case(b"PONG") => {}
                Value::Array(ref items) if is_pong(items) => {}
                value => {
                    if let Some(message) = Message::parse(value)
                        && !(self.ignore_subscribe_messages && message.kind().is_subscription())
                    {
                        return Ok(message);
                    }
                }
            }
        }
    }

    /// The messages as a `Stream`; it ends after yielding an error reconnecting could
    /// not mend.
    pub fn into_stream(self) -> impl Stream<Item = Result<Message>> + Send {
        unfold(Some(self), |pubsub: Option<PubSub>| async move {
            let mut pubsub = pubsub?;
            match pubsub.next_message().await {
                Ok(message) => Some((Ok(message), Some(pubsub))),
                Err(e) => Some((Err(e), None)),
            }
        })
    }

    async fn connection(&mut self) -> Result<&mut Connection> {
        if self.con.is_none() {
            let con = self.reconnect().await?;
            self.con = Some(con);
        }
        self.con
            .as_mut()
            .ok_or_else(|| Error::new(ErrorKind::Connection, "no pub/sub connection"))
    }

    /// A new connection with every subscription sent again.
    async fn reconnect(&self) -> Result<Connection> {
        let mut attempt = 0;
        let mut con = loop {
            match Connection::open(&self.info).await {
                Err(e) if attempt + 1 < self.retry.attempts() && self.retry.is_retryable(&e) => {
                    tokio::time::sleep(self.retry.delay(attempt)).await;
                    attempt += 1;
                }
                res => break res?,
            }
        };
        for (name, set) in [
            ("SUBSCRIBE", &self.channels),
            ("PSUBSCRIBE", &self.patterns),
            ("SSUBSCRIBE", &self.shard_channels),
        ] {
            if !set.is_empty() {
                con.send(&command(name, set.iter().map(|b| &b[..]))).await?;
            }
        }
        Ok(con)
    }

    /// Sends a command, reconnecting once if the connection is dead.
    async fn send(&mut self, name: &str, args: &[Bytes]) -> Result<()> {
        let command = command(name, args.iter().map(|b| &b[..]));
        match self.connection().await?.send(&command).await {
            Err(e) if e.is_unrecoverable() => {
                self.con = None;
                self.connection().await?.send(&command).await
            }
            res => res,
        }
    }
}

impl fmt::Debug for PubSub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("aio::PubSub")
            .field("channels", &self.channels)
            .field("patterns", &self.patterns)
            .field("shard_channels", &self.shard_channels)
            .finish_non_exhaustive()
    }
}

/// A dedicated async connection in `MONITOR` mode; the async twin of
/// [`Monitor`](crate::Monitor).
#[derive(Debug)]
pub struct Monitor {
    con: Connection,
}

impl Monitor {
    /// Sends `MONITOR` on `con` and waits for its `OK`.
    ///
    /// # Errors
    ///
    /// IO errors, or the server's refusal.
    pub async fn new(mut con: Connection) -> Result<Monitor> {
        con.send(&cmd("MONITOR")).await?;
        match con.read_message().await? {
            reply if reply.is_ok() => Ok(Monitor { con }),
            Value::ServerError(e) => Err(e.into()),
            other => Err(Error::new(
                ErrorKind::Protocol,
                format!("unexpected reply to MONITOR: {other:?}"),
            )),
        }
    }

    /// Waits for the next entry.
    ///
    /// # Errors
    ///
    /// IO errors and unparseable lines.
    pub async fn next_entry(&mut self) -> Result<MonitorEntry> {
        entry(self.con.read_message().await?)
    }

    /// The entries as a `Stream`; it ends after a connection error.
    pub fn into_stream(self) -> impl Stream<Item = Result<MonitorEntry>> + Send {
        unfold(Some(self), |monitor: Option<Monitor>| async move {
            let mut monitor = monitor?;
            match monitor.next_entry().await {
                Ok(entry) => Some((Ok(entry), Some(monitor))),
                Err(e) if !e.is_unrecoverable() => Some((Err(e), Some(monitor))),
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}
