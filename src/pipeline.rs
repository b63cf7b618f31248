//! [`Pipeline`]: many commands sent in one write, their replies read together;
//! optionally a `MULTI`/`EXEC` transaction.

use std::borrow::{Borrow, Cow};

use crate::cmd::{BATCH_START_CMDS, Batch, Cmd, cmd};
use crate::connection::{AsyncConnectionLike, ConnectionLike};
use crate::error::{Error, ErrorKind, Result};
use crate::script::Script;
use crate::types::FromRedisValue;
use crate::value::{ServerError, Value};

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
    /// The commands, packed into one buffer as they are queued.
    cmds: Batch,
    ignored: Vec<bool>,
    atomic: bool,
    scripts: Vec<Script>,
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
        self.cmds.push(cmd.borrow());
        self.note_queued();
        self
    }

    /// Queues the command `write` writes: how the generated methods queue theirs,
    /// without building a [`Cmd`] of its own for each.
    pub(crate) fn queue(&mut self, write: impl FnOnce(&mut Cmd)) -> &mut Pipeline {
        self.cmds.queue(write);
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
    pub fn invoke_script(
        &mut self,
        invocation: &crate::script::ScriptInvocation<'_>,
    ) -> &mut Pipeline {
        let script = invocation.script();
        if !self.scripts.iter().any(|s| s.hash() == script.hash()) {
            self.scripts.push(script.clone());
        }
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
        self.atomic = true;
        self
    }

    /// `true` for a transaction.
    #[must_use]
    pub fn is_atomic(&self) -> bool {
        self.atomic
    }

    /// The queued commands, each copied out.
    #[must_use]
    pub fn cmds(&self) -> impl ExactSizeIterator<Item = Cmd> + '_ {
        self.cmds.to_cmds()
    }

    /// Writes the commands as they go on the wire: script loads first, then for a
    /// transaction `MULTI`, the commands and `EXEC`.
    pub fn write_packed(&self, dst: &mut impl bytes::BufMut) {
        self.batch().write_packed(dst);
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

    /// Empties the pipeline, keeping whether it is atomic.
    pub fn clear(&mut self) {
        self.cmds.clear();
        self.ignored.clear();
        self.scripts.clear();
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
    pub fn query<T: FromRedisValue>(&self, con: &mut (impl ConnectionLike + ?Sized)) -> Result<T> {
        let batch = self.batch();
        let replies = con.req_batch(&batch)?;
        self.typed(replies)
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
        let batch = self.batch();
        let replies = con.req_batch(&batch)?;
        self.each(replies)
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
        let batch = self.batch();
        let replies = con.req_batch(&batch).await?;
        self.typed(replies)
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
        let batch = self.batch();
        let replies = con.req_batch(&batch).await?;
        self.each(replies)
    }

    /// What goes on the wire: script loads first, then `MULTI`, the commands and `EXEC`
    /// for a transaction.
    fn batch(&self) -> Cow<'_, Batch> {
        if !self.atomic && self.scripts.is_empty() {
            return Cow::Borrowed(&self.cmds);
        }
        let mut batch = Batch::new();
        for script in &self.scripts {
            batch.push(&script.load_cmd());
        }
        if self.atomic {
            batch.push(&cmd("MULTI"));
        }
        batch.extend(&self.cmds);
        if self.atomic {
            batch.push(&cmd("EXEC"));
        }
        Cow::Owned(batch)
    }

    /// One result per queued command, in order, from the batch's replies: for a
    /// transaction, the results in `EXEC`'s reply.
    fn results(&self, replies: Vec<Value>) -> Result<Vec<Value>> {
        if !self.atomic && self.scripts.is_empty() {
            return Ok(replies);
        }
        let mut replies = replies.into_iter();
        for reply in replies.by_ref().take(self.scripts.len()) {
            if let Value::ServerError(e) = reply {
                return Err(e.into());
            }
        }
        if !self.atomic {
            return Ok(replies.collect());
        }
        if let Some(Value::ServerError(e)) = replies.next() {
            return Err(e.into());
        }
        // The commands' own replies are QUEUED, or the error that made EXEC abort; the
        // results come in EXEC's reply.
        match replies.next_back() {
            Some(Value::Array(results)) => Ok(results),
            Some(Value::Nil) => Err(Error::new(
                ErrorKind::TransactionAborted,
                "transaction aborted: a watched key changed before EXEC",
            )),
            Some(Value::ServerError(exec_error)) => {
                // EXECABORT: the cause is the first command the server refused to queue.
                let refused = replies.enumerate().find_map(|(idx, reply)| match reply {
                    Value::ServerError(e) => Some((idx, e)),
                    _ => None,
                });
                Err(match refused {
                    Some((idx, e)) => self.command_error(e, idx, true),
                    None => exec_error.into(),
                })
            }
            other => Err(Error::new(
                ErrorKind::Protocol,
                format!("unexpected reply to EXEC: {other:?}"),
            )),
        }
    }

    /// The error reply of command `idx`, with its place in the pipeline.
    fn command_error(&self, error: ServerError, idx: usize, queued: bool) -> Error {
        let name = self.cmds.iter().nth(idx).and_then(|cmd| cmd.args().next());
        Error::in_batch(error, idx, name.unwrap_or_default(), self.atomic, queued)
    }

    /// The first error reply as an error, ignored commands' included, else the replies
    /// not ignored converted.
    fn typed<T: FromRedisValue>(&self, replies: Vec<Value>) -> Result<T> {
        let results = self.results(replies)?;
        if let Some((idx, Value::ServerError(e))) = results
            .iter()
            .enumerate()
            .find(|(_, r)| matches!(r, Value::ServerError(_)))
        {
            return Err(self.command_error(e.clone(), idx, false));
        }
        T::from_redis_value(Value::Array(self.keep(results)))
    }

    /// Each result not ignored, and each ignored command's error, in order; error
    /// replies as errors.
    fn each(&self, replies: Vec<Value>) -> Result<Vec<Result<Value>>> {
        let results = self.results(replies)?;
        let mut ignored = self.ignored.iter();
        Ok(results
            .into_iter()
            .enumerate()
            .filter_map(|(idx, reply)| {
                let ignored = ignored.next().copied().unwrap_or(false);
                match reply {
                    Value::ServerError(e) => Some(Err(self.command_error(e, idx, false))),
                    _ if ignored => None,
                    value => Some(Ok(value)),
                }
            })
            .collect())
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
