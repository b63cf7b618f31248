//! The seam every backend implements, sync ([`ConnectionLike`]) and async
//! ([`AsyncConnectionLike`]): send a command and get its reply, send a batch and get a
//! result per command.
//!
//! Everything built on commands (the typed command methods, pipelines, transactions,
//! scripts, scans, the lock) uses these traits alone, so a plain connection, a pooled
//! client, and cluster and sentinel clients all get every command by implementing them.
//! A backend converts a reply to the type asked for however suits it: a connection
//! straight from the decoded bytes, a client over many nodes from the [`Value`] it put
//! together.

use crate::batch::Batch;
use crate::cmd::Cmd;
use crate::connection::info::ProtocolVersion;
use crate::error::Result;
use crate::types::FromRedisValue;
use crate::value::Value;

/// What every sync backend implements: send commands, get their replies.
///
/// A backend implements [`req_command`](ConnectionLike::req_command),
/// [`req_batch`](ConnectionLike::req_batch) and the three accessors; every command method
/// ([`Commands`](crate::Commands)), [`Pipeline`](crate::Pipeline),
/// [`Script`](crate::Script), scan and lock then work on it.
pub trait ConnectionLike {
    /// Sends one command and converts its reply to `T`. An error reply is returned as an
    /// `Err`.
    ///
    /// # Errors
    ///
    /// IO errors and timeouts, protocol errors, the server's error reply, or a failed
    /// conversion.
    fn req_command<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T>;

    /// Sends a batch as one request and returns one result per command, in order:
    /// for a transaction, the results in `EXEC`'s reply. Error replies stay in place as
    /// [`Value::ServerError`], so one failed command does not hide the others' replies.
    ///
    /// # Errors
    ///
    /// IO errors, timeouts and protocol errors, after which no reply can be trusted; a
    /// transaction that did not run (see [`Pipeline::query`](crate::Pipeline::query)).
    fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>>;

    /// Sends `cmds` together and returns one reply for each, error replies as values:
    /// [`ConnectionLike::req_batch`] for commands of one's own.
    ///
    /// # Errors
    ///
    /// As [`ConnectionLike::req_batch`].
    fn req_commands(&mut self, cmds: &[Cmd]) -> Result<Vec<Value>> {
        self.req_batch(&Batch::from_cmds(cmds))
    }

    /// The database this connection has selected.
    fn db(&self) -> i64;

    /// The protocol version this connection speaks.
    fn protocol(&self) -> ProtocolVersion;

    /// `false` once the connection has failed and may no longer be used.
    fn is_open(&self) -> bool;
}

impl<C: ConnectionLike + ?Sized> ConnectionLike for &mut C {
    fn req_command<T: FromRedisValue>(&mut self, cmd: &Cmd) -> Result<T> {
        (**self).req_command(cmd)
    }

    fn req_batch(&mut self, batch: &Batch) -> Result<Vec<Value>> {
        (**self).req_batch(batch)
    }

    fn db(&self) -> i64 {
        (**self).db()
    }

    fn protocol(&self) -> ProtocolVersion {
        (**self).protocol()
    }

    fn is_open(&self) -> bool {
        (**self).is_open()
    }
}

/// The async seam: what every async backend implements.
///
/// The futures must be `Send`, so that commands can be awaited from any task of a
/// multi-threaded runtime; everything built on commands
/// ([`AsyncCommands`](crate::AsyncCommands)) works through this trait alone.
pub trait AsyncConnectionLike: Send {
    /// Sends one command and converts its reply to `T`. An error reply is returned as an
    /// `Err`.
    fn req_command<T: FromRedisValue>(
        &mut self,
        cmd: &Cmd,
    ) -> impl Future<Output = Result<T>> + Send;

    /// Sends a batch as one request and returns one result per command, in order, error
    /// replies as values; see [`ConnectionLike::req_batch`].
    fn req_batch(&mut self, batch: &Batch) -> impl Future<Output = Result<Vec<Value>>> + Send;

    /// Sends `cmds` together and returns one reply for each, error replies as values.
    fn req_commands(&mut self, cmds: &[Cmd]) -> impl Future<Output = Result<Vec<Value>>> + Send {
        let batch = Batch::from_cmds(cmds);
        async move { self.req_batch(&batch).await }
    }

    /// The database this connection has selected.
    fn db(&self) -> i64;

    /// The protocol version this connection speaks.
    fn protocol(&self) -> ProtocolVersion;

    /// `false` once the connection has failed and may no longer be used.
    fn is_open(&self) -> bool;
}

impl Cmd {
    /// Sends the command on `con` and converts the reply.
    ///
    /// # Errors
    ///
    /// IO and protocol errors, the server's error reply, or a failed conversion.
    pub fn query<T: FromRedisValue>(&self, con: &mut (impl ConnectionLike + ?Sized)) -> Result<T> {
        con.req_command(self)
    }

    /// Sends the command on `con` and discards the reply.
    ///
    /// # Errors
    ///
    /// IO and protocol errors, or the server's error reply.
    pub fn exec(&self, con: &mut (impl ConnectionLike + ?Sized)) -> Result<()> {
        con.req_command(self)
    }

    /// Sends the command on an async connection and converts the reply.
    ///
    /// # Errors
    ///
    /// IO and protocol errors, the server's error reply, or a failed conversion.
    pub async fn query_async<T: FromRedisValue>(
        &self,
        con: &mut (impl AsyncConnectionLike + ?Sized),
    ) -> Result<T> {
        con.req_command(self).await
    }

    /// Sends the command on an async connection and discards the reply.
    ///
    /// # Errors
    ///
    /// IO and protocol errors, or the server's error reply.
    pub async fn exec_async(&self, con: &mut (impl AsyncConnectionLike + ?Sized)) -> Result<()> {
        con.req_command(self).await
    }
}
