//! [`PubSub`]: subscriptions on a dedicated connection, kept across reconnects.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::client::Client;
use crate::cmd::{Cmd, cmd};
use crate::connection::{Connection, Wait};
use crate::deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::types::{FromRedisValue, ToRedisArgs};
use crate::value::Value;

/// What a pub/sub message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// A message published to a subscribed channel.
    Message,
    /// A message published to a channel matching a subscribed pattern.
    PMessage,
    /// A message published to a subscribed shard channel.
    SMessage,
    /// Confirms a `SUBSCRIBE`.
    Subscribe,
    /// Confirms an `UNSUBSCRIBE`.
    Unsubscribe,
    /// Confirms a `PSUBSCRIBE`.
    PSubscribe,
    /// Confirms a `PUNSUBSCRIBE`.
    PUnsubscribe,
    /// Confirms an `SSUBSCRIBE`.
    SSubscribe,
    /// Confirms an `SUNSUBSCRIBE`.
    SUnsubscribe,
}

impl MessageKind {
    fn parse(name: &[u8]) -> Option<MessageKind> {
        Some(match name.to_ascii_lowercase().as_slice() {
            b"message" => MessageKind::Message,
            b"pmessage" => MessageKind::PMessage,
            b"smessage" => MessageKind::SMessage,
            b"subscribe" => MessageKind::Subscribe,
            b"unsubscribe" => MessageKind::Unsubscribe,
            b"psubscribe" => MessageKind::PSubscribe,
            b"punsubscribe" => MessageKind::PUnsubscribe,
            b"ssubscribe" => MessageKind::SSubscribe,
            b"sunsubscribe" => MessageKind::SUnsubscribe,
            _ => return None,
        })
    }

    /// `true` for the confirmations of subscribing and unsubscribing.
    #[must_use]
    pub fn is_subscription(self) -> bool {
        !matches!(
            self,
            MessageKind::Message | MessageKind::PMessage | MessageKind::SMessage
        )
    }
}

/// One message from a [`PubSub`]: its kind, channel, pattern (for pattern messages) and
/// data: the payload of a published message, or the subscription count of a
/// confirmation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    kind: MessageKind,
    channel: Bytes,
    pattern: Option<Bytes>,
    data: Value,
}

impl Message {
    /// Parses a message as the server sends it: an array (RESP2) or a push (RESP3).
    pub(crate) fn parse(value: Value) -> Option<Message> {
        let (Value::Array(items) | Value::Push(items)) = value else {
            return None;
        };
        let mut items = items.into_iter();
        let kind = MessageKind::parse(&text(items.next()?)?)?;
        let pattern = if kind == MessageKind::PMessage {
            Some(text(items.next()?)?)
        } else {
            None
        };
        let channel = match items.next()? {
            // Unsubscribing from nothing answers with a nil channel.
            Value::Nil => Bytes::new(),
            other => text(other)?,
        };
        Some(Message {
            kind,
            channel,
            pattern,
            data: items.next().unwrap_or(Value::Nil),
        })
    }

    /// The kind of message.
    #[must_use]
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The channel, as bytes.
    #[must_use]
    pub fn channel(&self) -> &[u8] {
        &self.channel
    }

    /// The channel as text, when it is UTF-8.
    #[must_use]
    pub fn channel_name(&self) -> Option<&str> {
        std::str::from_utf8(&self.channel).ok()
    }

    /// The pattern a [`PMessage`](MessageKind::PMessage) matched.
    #[must_use]
    pub fn pattern(&self) -> Option<&[u8]> {
        self.pattern.as_deref()
    }

    /// The raw data.
    #[must_use]
    pub fn data(&self) -> &Value {
        &self.data
    }

    /// The data converted: the payload of a published message, or the subscription
    /// count of a confirmation.
    ///
    /// # Errors
    ///
    /// A failed conversion.
    pub fn payload<T: FromRedisValue>(&self) -> Result<T> {
        T::from_redis_value(self.data.clone())
    }
}

fn text(value: Value) -> Option<Bytes> {
    match value {
        Value::BulkString(s) | Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

pub(crate) type Handler = Box<dyn FnMut(Message) + Send>;

/// Channels, patterns and shard channels, as [`PubSub::subscriptions`] lists them.
pub type Subscriptions<'a> = (Vec<&'a [u8]>, Vec<&'a [u8]>, Vec<&'a [u8]>);

/// Subscriptions on a dedicated connection.
///
/// Subscribing sends the command and returns; the confirmations arrive as messages,
/// unless [`ignore_subscribe_messages`](PubSub::ignore_subscribe_messages) is set. A
/// channel or pattern subscribed with a handler has its messages passed to the handler
/// instead of being returned. When the connection fails, the next read opens a new one
/// (with the client's retry policy) and subscribes again to every channel, pattern and
/// shard channel; messages published meanwhile are lost, as pub/sub does not keep them.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
///
/// # fn main() -> respec::Result<()> {
/// let client = respec::Client::open("redis://127.0.0.1/")?;
/// let mut pubsub = client.pubsub().ignore_subscribe_messages(true);
/// pubsub.subscribe("news")?;
/// pubsub.psubscribe("alerts.*")?;
/// while let Some(message) = pubsub.get_message(Duration::from_secs(1))? {
///     let text: String = message.payload()?;
///     println!("{:?}: {text}", message.channel_name());
/// }
/// # Ok(())
/// # }
/// ```
pub struct PubSub {
    client: Client,
    con: Option<Connection>,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    shard_channels: BTreeSet<Bytes>,
    handlers: HashMap<Bytes, Handler>,
    ignore_subscribe_messages: bool,
}

impl PubSub {
    pub(crate) fn new(client: Client) -> PubSub {
        PubSub {
            client,
            con: None,
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            shard_channels: BTreeSet::new(),
            handlers: HashMap::new(),
            ignore_subscribe_messages: false,
        }
    }

    /// Whether confirmations of (un)subscribing are left out of what
    /// [`get_message`](PubSub::get_message) returns.
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
    pub fn subscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        let names = names(&channels);
        self.send("SUBSCRIBE", &names)?;
        self.channels.extend(names);
        Ok(())
    }

    /// Subscribes to channels matching patterns.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub fn psubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        let names = names(&patterns);
        self.send("PSUBSCRIBE", &names)?;
        self.patterns.extend(names);
        Ok(())
    }

    /// Subscribes to shard channels.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub fn ssubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        let names = names(&channels);
        self.send("SSUBSCRIBE", &names)?;
        self.shard_channels.extend(names);
        Ok(())
    }

    /// Subscribes to a channel, passing its messages to `handler` rather than returning
    /// them.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub fn subscribe_with(
        &mut self,
        channel: impl Into<Bytes>,
        handler: impl FnMut(Message) + Send + 'static,
    ) -> Result<()> {
        let channel = channel.into();
        self.handlers.insert(channel.clone(), Box::new(handler));
        self.subscribe(&channel[..])
    }

    /// Subscribes to a pattern, passing its messages to `handler` rather than returning
    /// them.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub fn psubscribe_with(
        &mut self,
        pattern: impl Into<Bytes>,
        handler: impl FnMut(Message) + Send + 'static,
    ) -> Result<()> {
        let pattern = pattern.into();
        self.handlers.insert(pattern.clone(), Box::new(handler));
        self.psubscribe(&pattern[..])
    }

    /// Unsubscribes from channels; an empty collection unsubscribes from all.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub fn unsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        let names = names(&channels);
        self.send("UNSUBSCRIBE", &names)?;
        forget(&mut self.channels, &mut self.handlers, &names);
        Ok(())
    }

    /// Unsubscribes from patterns; an empty collection unsubscribes from all.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub fn punsubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        let names = names(&patterns);
        self.send("PUNSUBSCRIBE", &names)?;
        forget(&mut self.patterns, &mut self.handlers, &names);
        Ok(())
    }

    /// Unsubscribes from shard channels; an empty collection unsubscribes from all.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub fn sunsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        let names = names(&channels);
        self.send("SUNSUBSCRIBE", &names)?;
        forget(&mut self.shard_channels, &mut self.handlers, &names);
        Ok(())
    }

    /// The channels, patterns and shard channels subscribed to.
    #[must_use]
    pub fn subscriptions(&self) -> Subscriptions<'_> {
        (
            list(&self.channels),
            list(&self.patterns),
            list(&self.shard_channels),
        )
    }

    /// Sends a `PING` on the subscribed connection (its answer is not returned as a
    /// message), reconnecting when the connection turns out dead.
    ///
    /// # Errors
    ///
    /// Connection errors, when reconnecting fails too.
    pub fn check_health(&mut self) -> Result<()> {
        self.send("PING", &[])
    }

    /// The next message, waiting up to `timeout` for one; a zero timeout only looks at
    /// what has arrived. `Ok(None)` when nothing came, or what came went to a handler or
    /// was a confirmation being ignored.
    ///
    /// # Errors
    ///
    /// Connection errors that reconnecting could not mend, and protocol errors.
    pub fn get_message(&mut self, timeout: Duration) -> Result<Option<Message>> {
        // A timeout too long to count to waits forever.
        let deadline = deadline::after(timeout);
        loop {
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            let wait = if left.is_zero() {
                Wait::No
            } else if deadline.is_none() {
                Wait::Forever
            } else {
                Wait::For(left)
            };
            let Some(value) = self.read(wait)? else {
                return Ok(None);
            };
            if let Some(message) = self.deliver(value) {
                return Ok(Some(message));
            }
            if left.is_zero() {
                return Ok(None);
            }
        }
    }

    /// The messages as a blocking iterator; it ends only at an error that reconnecting
    /// could not mend.
    pub fn listen(&mut self) -> impl Iterator<Item = Result<Message>> + '_ {
        let mut failed = false;
        std::iter::from_fn(move || {
            if failed {
                return None;
            }
            loop {
                match self.read(Wait::Forever) {
                    Ok(Some(value)) => {
                        if let Some(message) = self.deliver(value) {
                            return Some(Ok(message));
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        failed = true;
                        return Some(Err(e));
                    }
                }
            }
        })
    }

    /// Runs the handlers on a thread of their own, reading with waits of `poll`, until
    /// [`PubSubThread::stop`]. Messages without a handler are dropped.
    #[must_use]
    pub fn run_in_thread(mut self, poll: Duration) -> PubSubThread {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                self.get_message(poll)?;
            }
            Ok(self)
        });
        PubSubThread { stop, handle }
    }

    /// Passes a message to its handler, or returns it; `None` for what is not returned.
    fn deliver(&mut self, value: Value) -> Option<Message> {
        let message = Message::parse(value)?;
        if message.kind.is_subscription() {
            return (!self.ignore_subscribe_messages).then_some(message);
        }
        let key = message.pattern.as_ref().unwrap_or(&message.channel);
        if let Some(handler) = self.handlers.get_mut(key) {
            handler(message);
            return None;
        }
        Some(message)
    }

    fn connection(&mut self) -> Result<&mut Connection> {
        if self.con.is_none() {
            self.con = Some(self.reconnect()?);
        }
        self.con
            .as_mut()
            .ok_or_else(|| Error::new(ErrorKind::Connection, "no pub/sub connection"))
    }

    /// A new connection with every subscription sent again.
    fn reconnect(&self) -> Result<Connection> {
        let mut con = self.client.get_dedicated_connection()?;
        for (name, set) in [
            ("SUBSCRIBE", &self.channels),
            ("PSUBSCRIBE", &self.patterns),
            ("SSUBSCRIBE", &self.shard_channels),
        ] {
            if !set.is_empty() {
                con.send(&command(name, set.iter().map(|b| &b[..])))?;
            }
        }
        Ok(con)
    }

    /// Sends a command, reconnecting once if the connection is dead.
    fn send(&mut self, name: &str, args: &[Bytes]) -> Result<()> {
        let command = command(name, args.iter().map(|b| &b[..]));
        match self.connection()?.send(&command) {
            Err(e) if e.is_unrecoverable() => {
                self.con = None;
                self.connection()?.send(&command)
            }
            res => res,
        }
    }

    /// Reads the next message; a dead connection is replaced (and resubscribed) and the
    /// read goes on.
    fn read(&mut self, wait: Wait) -> Result<Option<Value>> {
        match self.connection()?.read_message(wait) {
            Err(e) if e.is_unrecoverable() && e.kind() != ErrorKind::Protocol => {
                self.con = None;
                self.connection()?;
                Ok(None)
            }
            Ok(Some(Value::SimpleString(pong))) if pong.eq_ignore_ascii_case(b"PONG") => Ok(None),
            Ok(Some(Value::Array(items))) if is_pong(&items) => Ok(None),
            res => res,
        }
    }
}

/// RESP2's answer to `PING` on a subscribed connection: `["pong", ""]`.
pub(crate) fn is_pong(items: &[Value]) -> bool {
    matches!(items.first(), Some(Value::BulkString(s) | Value::SimpleString(s)) if s.eq_ignore_ascii_case(b"pong"))
}

fn list(set: &BTreeSet<Bytes>) -> Vec<&[u8]> {
    set.iter().map(|b| &b[..]).collect()
}

pub(crate) fn names(args: &impl ToRedisArgs) -> Vec<Bytes> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    args.write_redis_args(&mut out);
    out.into_iter().map(Bytes::from).collect()
}

pub(crate) fn forget(
    set: &mut BTreeSet<Bytes>,
    handlers: &mut HashMap<Bytes, Handler>,
    names: &[Bytes],
) {
    if names.is_empty() {
        for name in std::mem::take(set) {
            handlers.remove(&name);
        }
    } else {
        for name in names {
            set.remove(name);
            handlers.remove(name);
        }
    }
}

pub(crate) fn command<'a>(name: &str, args: impl Iterator<Item = &'a [u8]>) -> Cmd {
    let mut built = cmd(name);
    for arg in args {
        built.arg(arg);
    }
    built
}

impl fmt::Debug for PubSub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubSub")
            .field("channels", &self.channels)
            .field("patterns", &self.patterns)
            .field("shard_channels", &self.shard_channels)
            .field("handlers", &self.handlers.len())
            .finish_non_exhaustive()
    }
}

/// A [`PubSub`] running its handlers on a thread; see [`PubSub::run_in_thread`].
#[derive(Debug)]
pub struct PubSubThread {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<PubSub>>,
}

impl PubSubThread {
    /// Stops the thread after its current wait, and gives the `PubSub` back.
    ///
    /// # Errors
    ///
    /// The error that ended the thread, if one did.
    pub fn stop(self) -> Result<PubSub> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Connection,
                "the pub/sub thread panicked",
            ))
        })
    }
}
