//! Pub/sub: subscriptions on a dedicated connection, kept across reconnects.
//!
//! [`SubscriptionState`] knows what is subscribed and what to do with what arrives: the
//! commands to send, the commands that subscribe a new connection again, which messages
//! go to handlers and which are returned. The blocking [`PubSub`] and the tokio
//! [`aio::PubSub`](crate::aio::PubSub) only connect, send and read.

/// What both drivers' `PubSub` have alike: how one is made, its one option, and what it
/// is subscribed to; all of it is the connector, the retry policy and the core's.
macro_rules! subscriber_basics {
    () => {
        /// A pub/sub whose connections come from `connector` (a
        /// [`ConnectionInfo`](crate::ConnectionInfo) is one), opened with `retry`; it
        /// connects when it first subscribes.
        #[must_use]
        pub fn new(connector: impl Connector + 'static, retry: RetryPolicy) -> Self {
            Self::with_connector(Arc::new(connector), retry)
        }

        pub(crate) fn with_connector(connector: Arc<dyn Connector>, retry: RetryPolicy) -> Self {
            Self {
                connector,
                retry,
                con: None,
                state: SubscriptionState::default(),
            }
        }

        /// Whether confirmations of (un)subscribing are left out of the messages
        /// returned.
        #[must_use]
        pub fn ignore_subscribe_messages(mut self, ignore: bool) -> Self {
            self.state.ignore_subscribe_messages = ignore;
            self
        }

        /// The channels, patterns and shard channels subscribed to.
        #[must_use]
        pub fn subscriptions(&self) -> Subscriptions<'_> {
            self.state.subscriptions()
        }
    };
}

pub(crate) mod blocking;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use bytes::Bytes;

pub use blocking::{PubSub, PubSubThread};

use crate::cmd::{Cmd, cmd};
use crate::error::Result;
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

/// What a subscriber passes messages to, instead of returning them.
pub(crate) type Handler = Box<dyn FnMut(Message) + Send>;

/// Channels, patterns and shard channels, as [`PubSub::subscriptions`] lists them.
pub type Subscriptions<'a> = (Vec<&'a [u8]>, Vec<&'a [u8]>, Vec<&'a [u8]>);

/// The three kinds of subscription, each with its own commands and namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Channels,
    Patterns,
    ShardChannels,
}

impl Family {
    const ALL: [Family; 3] = [Family::Channels, Family::Patterns, Family::ShardChannels];

    fn subscribe(self) -> &'static str {
        match self {
            Family::Channels => "SUBSCRIBE",
            Family::Patterns => "PSUBSCRIBE",
            Family::ShardChannels => "SSUBSCRIBE",
        }
    }

    fn unsubscribe(self) -> &'static str {
        match self {
            Family::Channels => "UNSUBSCRIBE",
            Family::Patterns => "PUNSUBSCRIBE",
            Family::ShardChannels => "SUNSUBSCRIBE",
        }
    }
}

/// The names of one family, with the handlers some of them have.
#[derive(Default)]
struct Subscribed {
    names: BTreeSet<Bytes>,
    handlers: HashMap<Bytes, Handler>,
}

/// Everything a subscriber knows, without a connection: the drivers send the commands it
/// makes and pass it what they read.
#[derive(Default)]
pub(crate) struct SubscriptionState {
    channels: Subscribed,
    patterns: Subscribed,
    shard_channels: Subscribed,
    pub(crate) ignore_subscribe_messages: bool,
    /// Set when the server ended a shard channel subscription nobody asked to end: in a
    /// cluster, the channel's slot moved to another node (a migration, a failover). The
    /// driver then drops its connection, and the next one, made where the slot is now,
    /// subscribes again.
    moved: bool,
}

impl SubscriptionState {
    /// `SUBSCRIBE` (or its kin) for `names`.
    pub(crate) fn subscribe_cmd(family: Family, names: &[Bytes]) -> Cmd {
        command(family.subscribe(), names)
    }

    /// `UNSUBSCRIBE` (or its kin) for `names`; none means all.
    pub(crate) fn unsubscribe_cmd(family: Family, names: &[Bytes]) -> Cmd {
        command(family.unsubscribe(), names)
    }

    /// Notes names as subscribed, once their command is sent.
    pub(crate) fn subscribed(&mut self, family: Family, names: Vec<Bytes>) {
        self.family_mut(family).names.extend(names);
    }

    /// Forgets names and their handlers, once their command is sent; none means all.
    pub(crate) fn unsubscribed(&mut self, family: Family, names: &[Bytes]) {
        let subscribed = self.family_mut(family);
        if names.is_empty() {
            for name in std::mem::take(&mut subscribed.names) {
                subscribed.handlers.remove(&name);
            }
        } else {
            for name in names {
                subscribed.names.remove(name);
                subscribed.handlers.remove(name);
            }
        }
    }

    /// Passes the messages of `name` to `handler` from now on.
    pub(crate) fn set_handler(&mut self, family: Family, name: Bytes, handler: Handler) {
        self.family_mut(family).handlers.insert(name, handler);
    }

    /// The commands that subscribe a new connection to everything again.
    pub(crate) fn resubscribe_cmds(&self) -> Vec<Cmd> {
        Family::ALL
            .into_iter()
            .filter_map(|family| {
                let names = &self.family(family).names;
                (!names.is_empty()).then(|| command(family.subscribe(), names))
            })
            .collect()
    }

    pub(crate) fn subscriptions(&self) -> Subscriptions<'_> {
        (
            list(&self.channels),
            list(&self.patterns),
            list(&self.shard_channels),
        )
    }

    /// Takes what the connection sent: a message for the caller, or `None` for what
    /// went to a handler, a confirmation being ignored, or what is no message at all
    /// (the answer to a health check's `PING`, or a push of another kind).
    pub(crate) fn deliver(&mut self, value: Value) -> Option<Message> {
        let message = Message::parse(value)?;
        if message.kind == MessageKind::SUnsubscribe
            && self.shard_channels.names.contains(&message.channel)
        {
            self.moved = true;
            return None;
        }
        let family = match message.kind {
            MessageKind::Message => Family::Channels,
            MessageKind::PMessage => Family::Patterns,
            MessageKind::SMessage => Family::ShardChannels,
            _ => return (!self.ignore_subscribe_messages).then_some(message),
        };
        let name = message.pattern.as_ref().unwrap_or(&message.channel);
        match self.family_mut(family).handlers.get_mut(name) {
            Some(handler) => {
                handler(message);
                None
            }
            None => Some(message),
        }
    }

    /// `true` once after the server moved a shard channel subscription away; see
    /// `moved`.
    pub(crate) fn take_moved(&mut self) -> bool {
        std::mem::take(&mut self.moved)
    }

    fn family(&self, family: Family) -> &Subscribed {
        match family {
            Family::Channels => &self.channels,
            Family::Patterns => &self.patterns,
            Family::ShardChannels => &self.shard_channels,
        }
    }

    fn family_mut(&mut self, family: Family) -> &mut Subscribed {
        match family {
            Family::Channels => &mut self.channels,
            Family::Patterns => &mut self.patterns,
            Family::ShardChannels => &mut self.shard_channels,
        }
    }
}

impl fmt::Debug for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (channels, patterns, shard_channels) = self.subscriptions();
        let handlers: usize = Family::ALL
            .into_iter()
            .map(|family| self.family(family).handlers.len())
            .sum();
        f.debug_struct("SubscriptionState")
            .field("channels", &channels)
            .field("patterns", &patterns)
            .field("shard_channels", &shard_channels)
            .field("handlers", &handlers)
            .field("ignore_subscribe_messages", &self.ignore_subscribe_messages)
            .field("moved", &self.moved)
            .finish()
    }
}

fn list(subscribed: &Subscribed) -> Vec<&[u8]> {
    subscribed.names.iter().map(|b| &b[..]).collect()
}

/// The names a subscribe or unsubscribe call was given, one per argument.
pub(crate) fn names(args: &impl ToRedisArgs) -> Vec<Bytes> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    args.write_redis_args(&mut out);
    out.into_iter().map(Bytes::from).collect()
}

fn command<'a>(name: &str, args: impl IntoIterator<Item = &'a Bytes>) -> Cmd {
    let mut built = cmd(name);
    for arg in args {
        built.arg(&arg[..]);
    }
    built
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn words(cmd: &Cmd) -> Vec<String> {
        cmd.args()
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect()
    }

    fn bytes(names: &[&str]) -> Vec<Bytes> {
        names
            .iter()
            .map(|n| Bytes::copy_from_slice(n.as_bytes()))
            .collect()
    }

    #[test]
    fn resubscribing_covers_every_family_and_nothing_forgotten() {
        let mut state = SubscriptionState::default();
        assert!(state.resubscribe_cmds().is_empty());
        state.subscribed(Family::Channels, bytes(&["b", "a"]));
        state.subscribed(Family::Patterns, bytes(&["n.*"]));
        state.subscribed(Family::ShardChannels, bytes(&["s"]));
        state.unsubscribed(Family::Channels, &bytes(&["b"]));
        let cmds: Vec<_> = state.resubscribe_cmds().iter().map(words).collect();
        assert_eq!(
            cmds,
            [
                vec!["SUBSCRIBE", "a"],
                vec!["PSUBSCRIBE", "n.*"],
                vec!["SSUBSCRIBE", "s"]
            ]
        );
        state.unsubscribed(Family::Patterns, &[]);
        let (channels, patterns, shards) = state.subscriptions();
        assert_eq!(
            (channels, patterns, shards),
            (vec![&b"a"[..]], vec![], vec![&b"s"[..]])
        );
        assert_eq!(
            words(&SubscriptionState::unsubscribe_cmd(
                Family::ShardChannels,
                &[]
            )),
            ["SUNSUBSCRIBE"]
        );
    }

    #[test]
    fn handlers_take_their_messages_and_no_others() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut state = SubscriptionState::default();
        let log = Arc::clone(&seen);
        state.set_handler(
            Family::Patterns,
            Bytes::from_static(b"jobs.*"),
            Box::new(move |m: Message| log.lock().unwrap().push(m.channel.clone())),
        );
        let pmessage = Value::Push(vec![
            bulk("pmessage"),
            bulk("jobs.*"),
            bulk("jobs.1"),
            bulk("x"),
        ]);
        assert!(state.deliver(pmessage).is_none());
        assert_eq!(*seen.lock().unwrap(), [Bytes::from_static(b"jobs.1")]);

        // A channel named like the pattern is another subscription.
        let message = Value::Array(vec![bulk("message"), bulk("jobs.*"), bulk("y")]);
        let returned = state.deliver(message).expect("returned");
        assert_eq!(
            (returned.kind(), returned.channel()),
            (MessageKind::Message, &b"jobs.*"[..])
        );

        state.unsubscribed(Family::Patterns, &bytes(&["jobs.*"]));
        let pmessage = Value::Push(vec![
            bulk("pmessage"),
            bulk("jobs.*"),
            bulk("jobs.2"),
            bulk("z"),
        ]);
        assert!(
            state.deliver(pmessage).is_some(),
            "the handler went with the pattern"
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn confirmations_pongs_and_other_pushes() {
        let mut state = SubscriptionState::default();
        let confirmation = Value::Array(vec![bulk("subscribe"), bulk("a"), Value::Int(1)]);
        let message = state.deliver(confirmation.clone()).expect("returned");
        assert_eq!(message.kind(), MessageKind::Subscribe);
        assert_eq!(message.payload::<i64>().unwrap(), 1);
        state.ignore_subscribe_messages = true;
        assert!(state.deliver(confirmation).is_none());

        for not_a_message in [
            Value::SimpleString("PONG".into()),
            Value::Array(vec![bulk("pong"), bulk("")]),
            Value::Push(vec![bulk("invalidate"), Value::Nil]),
            Value::Int(3),
        ] {
            assert!(state.deliver(not_a_message).is_none());
        }
        // Unsubscribing from nothing confirms with a nil channel.
        state.ignore_subscribe_messages = false;
        let none = Value::Array(vec![bulk("unsubscribe"), Value::Nil, Value::Int(0)]);
        assert_eq!(state.deliver(none).unwrap().channel(), b"");
    }
}
