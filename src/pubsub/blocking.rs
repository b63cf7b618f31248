//! The blocking [`PubSub`]: [`SubscriptionState`] over a sync connection.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Family, Message, SubscriptionState, Subscriptions, names};
use crate::client::Client;
use crate::cmd::{Cmd, cmd};
use crate::connection::{Connection, Wait};
use crate::connector::Connector;
use crate::deadline;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::RetryPolicy;
use crate::types::ToRedisArgs;
use crate::value::Value;

/// Subscriptions on a dedicated connection.
///
/// Subscribing sends the command and returns; the confirmations arrive as messages,
/// unless [`ignore_subscribe_messages`](PubSub::ignore_subscribe_messages) is set. A
/// channel or pattern subscribed with a handler has its messages passed to the handler
/// instead of being returned. When the connection fails, the next read opens a new one
/// (through the connector, with the retry policy) and subscribes again to every channel, pattern and
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
    connector: Arc<dyn Connector>,
    retry: RetryPolicy,
    con: Option<Connection>,
    state: SubscriptionState,
}

impl PubSub {
    subscriber_basics!();

    /// Subscribes to channels.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub fn subscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.subscribe_to(Family::Channels, names(&channels))
    }

    /// Subscribes to channels matching patterns.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub fn psubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        self.subscribe_to(Family::Patterns, names(&patterns))
    }

    /// Subscribes to shard channels.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub fn ssubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.subscribe_to(Family::ShardChannels, names(&channels))
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
        self.subscribe_with_handler(Family::Channels, channel.into(), Box::new(handler))
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
        self.subscribe_with_handler(Family::Patterns, pattern.into(), Box::new(handler))
    }

    /// Subscribes to a shard channel, passing its messages to `handler` rather than
    /// returning them.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub fn ssubscribe_with(
        &mut self,
        channel: impl Into<Bytes>,
        handler: impl FnMut(Message) + Send + 'static,
    ) -> Result<()> {
        self.subscribe_with_handler(Family::ShardChannels, channel.into(), Box::new(handler))
    }

    /// Unsubscribes from channels; an empty collection unsubscribes from all.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub fn unsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.unsubscribe_from(Family::Channels, &names(&channels))
    }

    /// Unsubscribes from patterns; an empty collection unsubscribes from all.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub fn punsubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        self.unsubscribe_from(Family::Patterns, &names(&patterns))
    }

    /// Unsubscribes from shard channels; an empty collection unsubscribes from all.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub fn sunsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.unsubscribe_from(Family::ShardChannels, &names(&channels))
    }

    /// Sends a `PING` on the subscribed connection (its answer is not returned as a
    /// message), reconnecting when the connection turns out dead.
    ///
    /// # Errors
    ///
    /// Connection errors, when reconnecting fails too.
    pub fn check_health(&mut self) -> Result<()> {
        self.send(&cmd("PING"))
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
            if let Some(message) = self.read(wait)?.and_then(|value| self.deliver(value)) {
                return Ok(Some(message));
            }
            if left.is_zero() {
                return Ok(None);
            }
        }
    }

    /// Waits for the next message that is not passed to a handler (confirmations too,
    /// unless ignored).
    ///
    /// # Errors
    ///
    /// Connection errors that reconnecting could not mend, and protocol errors.
    pub fn next_message(&mut self) -> Result<Message> {
        loop {
            if let Some(message) = self.read(Wait::Forever)?.and_then(|v| self.deliver(v)) {
                return Ok(message);
            }
        }
    }

    /// The messages as a blocking iterator; it ends after yielding an error that
    /// reconnecting could not mend.
    pub fn listen(&mut self) -> impl Iterator<Item = Result<Message>> + '_ {
        let mut failed = false;
        std::iter::from_fn(move || {
            if failed {
                return None;
            }
            let next = self.next_message();
            failed = next.is_err();
            Some(next)
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

    /// What a read brought, for the caller or a handler; a subscription the server
    /// moved away drops the connection, so that the next read subscribes again where it
    /// went.
    fn deliver(&mut self, value: Value) -> Option<Message> {
        let message = self.state.deliver(value);
        if self.state.take_moved() {
            self.con = None;
        }
        message
    }

    fn subscribe_to(&mut self, family: Family, names: Vec<Bytes>) -> Result<()> {
        self.send(&SubscriptionState::subscribe_cmd(family, &names))?;
        self.state.subscribed(family, names);
        Ok(())
    }

    fn subscribe_with_handler(
        &mut self,
        family: Family,
        name: Bytes,
        handler: super::Handler,
    ) -> Result<()> {
        self.state.set_handler(family, name.clone(), handler);
        self.subscribe_to(family, vec![name])
    }

    fn unsubscribe_from(&mut self, family: Family, names: &[Bytes]) -> Result<()> {
        self.send(&SubscriptionState::unsubscribe_cmd(family, names))?;
        self.state.unsubscribed(family, names);
        Ok(())
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
        let mut con = self.retry.run(|| self.connector.connect())?;
        for resubscribe in self.state.resubscribe_cmds() {
            con.send(&resubscribe)?;
        }
        Ok(con)
    }

    /// Sends a command, reconnecting once if the connection is dead.
    fn send(&mut self, command: &Cmd) -> Result<()> {
        match self.connection()?.send(command) {
            Err(e) if e.is_unrecoverable() => {
                self.con = None;
                self.connection()?.send(command)
            }
            res => res,
        }
    }

    /// Reads what arrives next; a dead connection is replaced (and subscribed again),
    /// and the read counts as having found nothing.
    fn read(&mut self, wait: Wait) -> Result<Option<Value>> {
        match self.connection()?.read_message(wait) {
            Err(e) if e.is_unrecoverable() && e.kind() != ErrorKind::Protocol => {
                self.con = None;
                self.connection()?;
                Ok(None)
            }
            res => res,
        }
    }
}

impl fmt::Debug for PubSub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubSub")
            .field("connector", &self.connector)
            .field("state", &self.state)
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

impl Client {
    /// A [`PubSub`] on a dedicated connection, opened when it first subscribes.
    #[must_use]
    pub fn pubsub(&self) -> PubSub {
        PubSub::with_connector(Arc::clone(self.connector()), self.retry_policy().clone())
    }
}
