//! [`Pipeline`]: many commands sent in one write, their replies read together;
//! optionally a `MULTI`/`EXEC` transaction.
//!
//! A pipeline builds a [`Batch`] (what goes to the connection) and remembers which
//! replies the caller wants left out. Whichever backend runs the batch, the results come
//! back one per command and are judged here: the first error of any command (ignored
//! ones included), or the replies not ignored.

use std::borrow::Borrow;

use crate::batch::Batch;
use crate::cmd::{BATCH_START_CMDS, Cmd};
use crate::error::Result;
use crate::script::ScriptInvocation;
use crate::seam::{AsyncConnectionLike, ConnectionLike};
use crate::types::FromRedisValue;
use crate::value::Value;

/// Commands queued to be sent in one write.
///
/// Every command has a chainable method here (generated from the spec, like
/// [`Commands`](crate::Commands)). [`Pipeline::query`] sends them all in one write and
/// converts the replies, in order, to a tuple or collection; [`Pipeline::ignore`]
/// leaves the reply of the command before it out. [`Pipeline::atomic`] wraps the
/// commands in `MULTI`/`EXEC`, so they run as one transaction.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> respec::Result<()> {
/// let client = respec::Client::open("redis://127.0.0.1/")?;
/// let mut con = client.get_connection()?;
/// let (n, v): (i64, String) = respec::pipe()
///     .atomic()
///     .set("k", "v").ignore()
///     .incr("counter")
///     .get("k")
///     .query(&mut con)?;
/// println!("counter is {n}, k is {v}");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    /// The commands, packed into one buffer as they are queued, with how they run.
    batch: Batch,
    ignored: Vec<bool>,
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
    /// The command is copied in, so a borrowed one serves as well as an owned one:
    /// `cmd("DBSIZE")`, or `&cmd` for a command kept to be sent again.
    pub fn add_command(&mut self, cmd: impl Borrow<Cmd>) -> &mut Pipeline {
        self.batch.push(cmd.borrow());
        self.note_queued();
        self
    }

    /// Queues the command `write` writes: how the generated methods queue theirs,
    /// without building a [`Cmd`] of its own for each.
    pub(crate) fn queue(&mut self, write: impl FnOnce(&mut Cmd)) -> &mut Pipeline {
        self.batch.queue(write);
        self.note_queued();
        self
    }

    /// Records a command just queued as not ignored, making room for as many as the
    /// batch did with its first.
    fn note_queued(&mut self) {
        if self.ignored.capacity() == 0 {
            self.ignored.reserve(BATCH_START_CMDS);
        }
        self.ignored.push(false);
    }

    /// Queues a script call; the script is loaded, in the same write, before the
    /// pipeline runs, so `EVALSHA` cannot meet `NOSCRIPT`.
    pub fn invoke_script(&mut self, invocation: &ScriptInvocation<'_>) -> &mut Pipeline {
        self.batch.load_script(invocation.script());
        self.add_command(invocation.evalsha_cmd())
    }

    /// Leaves the reply of the last queued command out of the result.
    pub fn ignore(&mut self) -> &mut Pipeline {
        if let Some(last) = self.ignored.last_mut() {
            *last = true;
        }
        self
    }

    /// Runs the commands as one transaction: `MULTI`, the commands, `EXEC`.
    pub fn atomic(&mut self) -> &mut Pipeline {
        self.batch.set_atomic(true);
        self
    }

    /// `true` for a transaction.
    #[must_use]
    pub fn is_atomic(&self) -> bool {
        self.batch.is_atomic()
    }

    /// The batch a connection is handed: the commands, whether they are a transaction,
    /// and the scripts to load first.
    #[must_use]
    pub fn batch(&self) -> &Batch {
        &self.batch
    }

    /// The queued commands, each copied out.
    #[must_use]
    pub fn cmds(&self) -> impl ExactSizeIterator<Item = Cmd> + '_ {
        self.batch.cmds()
    }

    /// Writes the commands as they go on the wire: script loads first, then for a
    /// transaction `MULTI`, the commands and `EXEC`.
    pub fn write_packed(&self, dst: &mut impl bytes::BufMut) {
        self.batch.write_packed(dst);
    }

    /// How many commands are queued.
    #[must_use]
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// `true` when nothing is queued.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Empties the pipeline, keeping whether it is atomic.
    pub fn clear(&mut self) {
        self.batch.clear();
        self.ignored.clear();
    }

    /// Sends every command in one write and converts the replies that are not
    /// ignored, as an array in order, to `T`.
    ///
    /// # Errors
    ///
    /// IO and protocol errors; the first error reply of any command, ignored ones
    /// included, with the command's position ([`Error::command_index`]); for a
    /// transaction the server refused to queue a command of, that command's error (`EXEC`
    /// then ran nothing); [`ErrorKind::TransactionAborted`] when a watched key changed and
    /// `EXEC` discarded the transaction; a failed conversion.
    ///
    /// [`Error::command_index`]: crate::Error::command_index
    /// [`ErrorKind::TransactionAborted`]: crate::ErrorKind::TransactionAborted
    pub fn query<T: FromRedisValue>(&self, con: &mut (impl ConnectionLike + ?Sized)) -> Result<T> {
        let results = con.req_batch(&self.batch)?;
        self.typed(results)
    }

    /// Sends every command and returns each reply that is not ignored, in order, with
    /// error replies as `Err` beside the others (redis-py's `raise_on_error=False`). The
    /// error of an ignored command is not dropped: it stands in its command's place.
    ///
    /// # Errors
    ///
    /// IO and protocol errors, and a transaction that `EXEC` aborted or discarded: then
    /// no command ran.
    pub fn query_all(
        &self,
        con: &mut (impl ConnectionLike + ?Sized),
    ) -> Result<Vec<Result<Value>>> {
        let results = con.req_batch(&self.batch)?;
        Ok(self.each(results))
    }

    /// The async twin of [`Pipeline::query`].
    ///
    /// # Errors
    ///
    /// As [`Pipeline::query`].
    pub async fn query_async<T: FromRedisValue>(
        &self,
        con: &mut (impl AsyncConnectionLike + ?Sized),
    ) -> Result<T> {
        let results = con.req_batch(&self.batch).await?;
        self.typed(results)
    }

    /// The async twin of [`Pipeline::query_all`].
    ///
    /// # Errors
    ///
    /// As [`Pipeline::query_all`].
    pub async fn query_all_async(
        &self,
        con: &mut (impl AsyncConnectionLike + ?Sized),
    ) -> Result<Vec<Result<Value>>> {
        let results = con.req_batch(&self.batch).await?;
        Ok(self.each(results))
    }

    /// The first error reply as an error, ignored commands' included, else the results
    /// not ignored converted.
    fn typed<T: FromRedisValue>(&self, results: Vec<Value>) -> Result<T> {
        if let Some((idx, Value::ServerError(e))) = results
            .iter()
            .enumerate()
            .find(|(_, r)| matches!(r, Value::ServerError(_)))
        {
            return Err(self.batch.command_error(e.clone(), idx, false));
        }
        T::from_redis_value(Value::Array(self.keep(results)))
    }

    /// Each result not ignored, and each ignored command's error, in order; error
    /// replies as errors.
    fn each(&self, results: Vec<Value>) -> Vec<Result<Value>> {
        let mut ignored = self.ignored.iter();
        results
            .into_iter()
            .enumerate()
            .filter_map(|(idx, reply)| {
                let ignored = ignored.next().copied().unwrap_or(false);
                match reply {
                    Value::ServerError(e) => Some(Err(self.batch.command_error(e, idx, false))),
                    _ if ignored => None,
                    value => Some(Ok(value)),
                }
            })
            .collect()
    }

    /// The replies of the commands not marked with [`Pipeline::ignore`], in place.
    fn keep(&self, mut replies: Vec<Value>) -> Vec<Value> {
        replies.truncate(self.ignored.len());
        // Most pipelines ignore every reply or none.
        if self.ignored.iter().all(|&ignored| ignored) {
            replies.clear();
            return replies;
        }
        if !self.ignored.contains(&true) {
            return replies;
        }
        let mut ignored = self.ignored.iter();
        replies.retain(|_| ignored.next().is_some_and(|ignored| !ignored));
        replies
    }
}
