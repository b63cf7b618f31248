//! [`Pipeline`]: many commands sent in one write, their replies read together.

use crate::cmd::Cmd;
use crate::connection::ConnectionLike;
use crate::error::{Error, Result};
use crate::types::FromRedisValue;
use crate::value::Value;

/// Commands queued to be sent in one write.
///
/// Every command has a chainable method here (generated from the spec, like
/// [`Commands`](crate::Commands)); [`Pipeline::query`] sends them all and converts the
/// replies, in order, to a tuple or collection.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> respec::Result<()> {
/// let client = respec::Client::open("redis://127.0.0.1/")?;
/// let mut con = client.get_connection()?;
/// let (_, n, v): ((), i64, String) = respec::pipe()
///     .set("k", "v")
///     .incr("counter")
///     .get("k")
///     .query(&mut con)?;
/// println!("counter is {n}, k is {v}");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    cmds: Vec<Cmd>,
}

/// Starts an empty pipeline.
#[must_use]
pub fn pipe() -> Pipeline {
    Pipeline::new()
}

impl Pipeline {
    /// An empty pipeline.
    #[must_use]
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// Queues a command built by hand or by a constructor in [`commands`](crate::commands).
    pub fn add_command(&mut self, cmd: Cmd) -> &mut Pipeline {
        self.cmds.push(cmd);
        self
    }

    /// The queued commands.
    #[must_use]
    pub fn cmds(&self) -> &[Cmd] {
        &self.cmds
    }

    /// How many commands are queued.
    #[must_use]
    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    /// `true` when nothing is queued.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// Sends every command in one write and converts the replies, as an array in
    /// order, to `T`.
    ///
    /// # Errors
    ///
    /// IO and protocol errors; otherwise the first error reply, if any; otherwise a
    /// failed conversion.
    pub fn query<T: FromRedisValue>(&self, con: &mut (impl ConnectionLike + ?Sized)) -> Result<T> {
        let replies = con.req_commands(&self.cmds)?;
        if let Some(Value::ServerError(e)) =
            replies.iter().find(|r| matches!(r, Value::ServerError(_)))
        {
            return Err(Error::from(e.clone()));
        }
        T::from_redis_value(Value::Array(replies))
    }
}
