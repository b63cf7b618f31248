//! The async [`PubSub`]: [`SubscriptionState`] over an async connection.

use std::fmt;
use std::future::poll_fn;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{Family, Handler, Message, SubscriptionState, Subscriptions, names};
use crate::aio::Connection;
use crate::aio::stream::unfold;
use crate::client::Client;
use crate::cmd::{Cmd, cmd};
use crate::connector::Connector;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::RetryPolicy;
use crate::types::ToRedisArgs;
use crate::value::Value;

/// Subscriptions on a dedicated async connection; the async twin of
/// [`PubSub`](crate::PubSub), with the same options, handlers and errors.
///
/// [`next_message`](PubSub::next_message) waits for the next message,
/// [`get_message`](PubSub::get_message) waits up to a timeout, and
/// [`into_stream`](PubSub::into_stream) turns the subscriptions into a `Stream`. When the
/// connection fails, a new one is opened (through the connector, with the retry policy)
/// and every channel, pattern and shard channel is subscribed again; under RESP3 the
/// messages are push messages, and the same works.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> respec::Result<()> {
/// let client = respec::Client::open("redis://127.0.0.1/")?;
/// let mut pubsub = client.async_pubsub().ignore_subscribe_messages(true);
/// pubsub.subscribe("news").await?;
/// pubsub.psubscribe_with("alerts.*", |message| println!("{message:?}")).await?;
/// let message = pubsub.next_message().await?; // from "news": alerts go to the handler
/// println!("{:?}", message.payload::<String>()?);
/// # Ok(())
/// # }
/// # let _ = run;
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
    pub async fn subscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.subscribe_to(Family::Channels, names(&channels)).await
    }

    /// Subscribes to channels matching patterns.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn psubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        self.subscribe_to(Family::Patterns, names(&patterns)).await
    }

    /// Subscribes to shard channels.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn ssubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.subscribe_to(Family::ShardChannels, names(&channels))
            .await
    }

    /// Subscribes to a channel, passing its messages to `handler` rather than returning
    /// them.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn subscribe_with(
        &mut self,
        channel: impl Into<Bytes>,
        handler: impl FnMut(Message) + Send + 'static,
    ) -> Result<()> {
        self.subscribe_with_handler(Family::Channels, channel.into(), Box::new(handler))
            .await
    }

    /// Subscribes to a pattern, passing its messages to `handler` rather than returning
    /// them.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn psubscribe_with(
        &mut self,
        pattern: impl Into<Bytes>,
        handler: impl FnMut(Message) + Send + 'static,
    ) -> Result<()> {
        self.subscribe_with_handler(Family::Patterns, pattern.into(), Box::new(handler))
            .await
    }

    /// Subscribes to a shard channel, passing its messages to `handler` rather than
    /// returning them.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn ssubscribe_with(
        &mut self,
        channel: impl Into<Bytes>,
        handler: impl FnMut(Message) + Send + 'static,
    ) -> Result<()> {
        self.subscribe_with_handler(Family::ShardChannels, channel.into(), Box::new(handler))
            .await
    }

    /// Unsubscribes from channels; an empty collection unsubscribes from all.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn unsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.unsubscribe_from(Family::Channels, &names(&channels))
            .await
    }

    /// Unsubscribes from patterns; an empty collection unsubscribes from all.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn punsubscribe(&mut self, patterns: impl ToRedisArgs) -> Result<()> {
        self.unsubscribe_from(Family::Patterns, &names(&patterns))
            .await
    }

    /// Unsubscribes from shard channels; an empty collection unsubscribes from all.
    ///
    /// # Errors
    ///
    /// Connection errors.
    pub async fn sunsubscribe(&mut self, channels: impl ToRedisArgs) -> Result<()> {
        self.unsubscribe_from(Family::ShardChannels, &names(&channels))
            .await
    }

    /// Sends a `PING` on the subscribed connection (its answer is not returned as a
    /// message), reconnecting when the connection turns out dead.
    ///
    /// # Errors
    ///
    /// Connection errors, when reconnecting fails too.
    pub async fn check_health(&mut self) -> Result<()> {
        self.send(&cmd("PING")).await
    }

    /// The next message, waiting up to `timeout` for one; a zero timeout only looks at
    /// what has arrived. `Ok(None)` when nothing came, or what came went to a handler or
    /// was a confirmation being ignored.
    ///
    /// # Errors
    ///
    /// As [`PubSub::next_message`].
    pub async fn get_message(&mut self, timeout: Duration) -> Result<Option<Message>> {
        if timeout.is_zero() {
            // Only what has arrived, once there is a connection to look at: a timeout
            // polls the read once before it looks at the clock.
            self.connection().await?;
        }
        // Reading is cancel safe: a message half read when time runs out stays buffered.
        match tokio::time::timeout(timeout, self.next_message()).await {
            Ok(res) => res.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Waits for the next message that is not passed to a handler (confirmations too,
    /// unless ignored).
    ///
    /// # Errors
    ///
    /// Connection errors that reconnecting could not mend, and protocol errors.
    pub async fn next_message(&mut self) -> Result<Message> {
        loop {
            let value = self.read().await?;
            let message = value.and_then(|v| self.state.deliver(v));
            if self.state.take_moved() {
                // The server moved a shard channel away: the next read subscribes again
                // where it went.
                self.con = None;
            }
            if let Some(message) = message {
                return Ok(message);
            }
        }
    }

    /// The messages as a `Stream`; it ends after yielding an error that reconnecting
    /// could not mend.
    pub fn into_stream(self) -> impl Stream<Item = Result<Message>> + Send {
        unfold(Some(self), |pubsub: Option<PubSub>| async move {
            let mut pubsub = pubsub?;
            match pubsub.next_message().await {
                Ok(message) => Some((Ok(message), Some(pubsub))),
                Err(e) => Some((Err(e), None)),
            }
        })
    }

    /// Runs the handlers on a task of their own until [`PubSubTask::stop`]; the async
    /// twin of [`PubSub::run_in_thread`](crate::PubSub::run_in_thread). Messages without
    /// a handler are dropped.
    #[must_use]
    pub fn run_in_task(mut self) -> PubSubTask {
        let stop = Arc::new(Notify::new());
        let stopping = Arc::clone(&stop);
        let handle = tokio::spawn(async move {
            loop {
                let stopped = {
                    let mut stopped = pin!(stopping.notified());
                    let mut next = pin!(self.next_message());
                    poll_fn(|cx| {
                        if stopped.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(Ok(true));
                        }
                        next.as_mut().poll(cx).map(|res| res.map(|_| false))
                    })
                    .await?
                };
                if stopped {
                    return Ok(self);
                }
            }
        });
        PubSubTask { stop, handle }
    }

    async fn subscribe_to(&mut self, family: Family, names: Vec<Bytes>) -> Result<()> {
        self.send(&SubscriptionState::subscribe_cmd(family, &names))
            .await?;
        self.state.subscribed(family, names);
        Ok(())
    }

    async fn subscribe_with_handler(
        &mut self,
        family: Family,
        name: Bytes,
        handler: Handler,
    ) -> Result<()> {
        self.state.set_handler(family, name.clone(), handler);
        self.subscribe_to(family, vec![name]).await
    }

    async fn unsubscribe_from(&mut self, family: Family, names: &[Bytes]) -> Result<()> {
        self.send(&SubscriptionState::unsubscribe_cmd(family, names))
            .await?;
        self.state.unsubscribed(family, names);
        Ok(())
    }

    async fn connection(&mut self) -> Result<&mut Connection> {
        if self.con.is_none() {
            let resubscribe = self.state.resubscribe_cmds();
            let con = reconnect(&*self.connector, &self.retry, resubscribe).await?;
            self.con = Some(con);
        }
        self.con
            .as_mut()
            .ok_or_else(|| Error::new(ErrorKind::Connection, "no pub/sub connection"))
    }

    /// Sends a command, reconnecting once if the connection is dead.
    async fn send(&mut self, command: &Cmd) -> Result<()> {
        match self.connection().await?.send(command).await {
            Err(e) if e.is_unrecoverable() => {
                self.con = None;
                self.connection().await?.send(command).await
            }
            res => res,
        }
    }

    /// Reads what arrives next; a dead connection is replaced (and subscribed again),
    /// and the read counts as having found nothing.
    async fn read(&mut self) -> Result<Option<Value>> {
        match self.connection().await?.read_message().await {
            Err(e) if e.is_unrecoverable() && e.kind() != ErrorKind::Protocol => {
                self.con = None;
                self.connection().await?;
                Ok(None)
            }
            res => res.map(Some),
        }
    }
}

/// A new connection with `resubscribe` sent on it. (The handlers a `PubSub` holds need
/// not be `Sync`, so what runs across an await borrows none of it but the connector.)
async fn reconnect(
    connector: &dyn Connector,
    retry: &RetryPolicy,
    resubscribe: Vec<Cmd>,
) -> Result<Connection> {
    let mut con = retry.run_async(|| connector.connect_async()).await?;
    for subscribe in &resubscribe {
        con.send(subscribe).await?;
    }
    Ok(con)
}

impl fmt::Debug for PubSub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("aio::PubSub")
            .field("connector", &self.connector)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// An async [`PubSub`] running its handlers on a task; see [`PubSub::run_in_task`].
#[derive(Debug)]
pub struct PubSubTask {
    stop: Arc<Notify>,
    handle: JoinHandle<Result<PubSub>>,
}

impl PubSubTask {
    /// Stops the task at its next wait, and gives the `PubSub` back.
    ///
    /// # Errors
    ///
    /// The error that ended the task, if one did.
    pub async fn stop(self) -> Result<PubSub> {
        // A permit is kept if the task is not waiting right now.
        self.stop.notify_one();
        self.handle.await.unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Connection,
                "the pub/sub task panicked or was cancelled",
            ))
        })
    }
}

impl Client {
    /// An async [`PubSub`] on a dedicated connection, opened when it first subscribes.
    #[must_use]
    pub fn async_pubsub(&self) -> PubSub {
        PubSub::with_connector(Arc::clone(self.connector()), self.retry_policy().clone())
    }
}
