//! [`Batch`]: commands sent as one request, as a connection's seam takes them; and the
//! single-node executor's IO-free core, which puts a batch on the wire and reads its
//! replies back.
//!
//! A batch holds its commands (each with its table entry and key marks), whether it is a
//! transaction, and the scripts to load before it runs. A backend that talks to one
//! server sends it with [`Plan`]: what to write (script loads first, then `MULTI`, the
//! commands and `EXEC` for a transaction) and how to turn the replies back into one
//! result per command. A backend over many nodes (a cluster) groups the commands by node
//! and puts the results back by index instead.

use std::borrow::Cow;

use crate::cmd::{Cmd, Outgoing, Packed, cmd};
use crate::error::{Error, ErrorKind, Result};
use crate::script::Script;
use crate::table::BlockingWait;
use crate::value::{ServerError, Value};

/// Commands sent as one request: what a [`Pipeline`](crate::Pipeline) hands to a
/// connection ([`ConnectionLike::req_batch`](crate::ConnectionLike::req_batch)).
///
/// It holds the commands, each with its table entry and key marks; whether they run as
/// one transaction (`MULTI`/`EXEC`); and the scripts to load before they run, so that
/// the `EVALSHA` calls among them find their scripts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    cmds: Packed,
    atomic: bool,
    scripts: Vec<Script>,
}

impl Batch {
    /// An empty batch.
    #[must_use]
    pub fn new() -> Batch {
        Batch::default()
    }

    /// A batch of these commands.
    #[must_use]
    pub fn from_cmds(cmds: &[Cmd]) -> Batch {
        let mut batch = Batch::new();
        for cmd in cmds {
            batch.push(cmd);
        }
        batch
    }

    /// Adds a command.
    pub fn push(&mut self, cmd: &Cmd) {
        self.cmds.push(cmd);
    }

    /// Adds the command `write` writes, without building a [`Cmd`] of its own for it.
    pub(crate) fn queue(&mut self, write: impl FnOnce(&mut Cmd)) {
        self.cmds.queue(write);
    }

    /// Makes the batch a transaction, or not.
    pub fn set_atomic(&mut self, atomic: bool) {
        self.atomic = atomic;
    }

    /// Adds a script to load before the commands run, unless it is there already.
    pub fn load_script(&mut self, script: &Script) {
        if !self.scripts.iter().any(|s| s.hash() == script.hash()) {
            self.scripts.push(script.clone());
        }
    }

    /// `true` for a transaction.
    #[must_use]
    pub fn is_atomic(&self) -> bool {
        self.atomic
    }

    /// The scripts loaded before the commands run.
    #[must_use]
    pub fn scripts(&self) -> &[Script] {
        &self.scripts
    }

    /// How many commands there are (script loads, `MULTI` and `EXEC` not counted).
    #[must_use]
    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    /// `true` when there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// The commands, each copied out as a [`Cmd`] (with its entry and key marks).
    #[must_use]
    pub fn cmds(&self) -> impl ExactSizeIterator<Item = Cmd> + '_ {
        self.cmds.to_cmds()
    }

    /// Drops the commands and scripts, keeping whether it is a transaction and the room
    /// they took.
    pub fn clear(&mut self) {
        self.cmds.clear();
        self.scripts.clear();
    }

    /// Writes the batch as it goes on the wire to one server: script loads first, then
    /// for a transaction `MULTI`, the commands and `EXEC`.
    pub fn write_packed(&self, dst: &mut impl bytes::BufMut) {
        self.plan().wire().write_packed(dst);
    }

    /// How the batch goes to one server.
    pub(crate) fn plan(&self) -> Plan<'_> {
        if !self.atomic && self.scripts.is_empty() {
            return Plan {
                batch: self,
                wire: Cow::Borrowed(&self.cmds),
            };
        }
        let mut wire = Packed::new();
        for script in &self.scripts {
            wire.push(&script.load_cmd());
        }
        if self.atomic {
            wire.push(&cmd("MULTI"));
        }
        wire.extend(&self.cmds);
        if self.atomic {
            wire.push(&cmd("EXEC"));
        }
        Plan {
            batch: self,
            wire: Cow::Owned(wire),
        }
    }

    /// The error reply of command `idx`, with its place in the batch; `queued` when the
    /// server refused to queue it and `EXEC` then aborted the transaction.
    pub(crate) fn command_error(&self, error: ServerError, idx: usize, queued: bool) -> Error {
        let name = self.cmds.iter().nth(idx).and_then(|cmd| cmd.args().next());
        Error::in_batch(error, idx, name.unwrap_or_default(), self.atomic, queued)
    }
}

/// A batch as it goes to one server: the single-node executor's core. A driver writes
/// [`Plan::wire`], reads one reply for each of its commands, and hands them to
/// [`Plan::finish`].
pub(crate) struct Plan<'a> {
    batch: &'a Batch,
    wire: Cow<'a, Packed>,
}

impl Plan<'_> {
    /// What to write.
    pub(crate) fn wire(&self) -> Outgoing<'_> {
        Outgoing::Packed(&self.wire)
    }

    /// How long the batch may block on the server; none in a transaction, where a
    /// blocking command does not block.
    pub(crate) fn blocking_wait(&self) -> Option<BlockingWait> {
        if self.batch.atomic {
            return None;
        }
        self.wire().blocking_wait()
    }

    /// One result per command of the batch, from the replies to what was written: for a
    /// transaction, the results in `EXEC`'s reply. Error replies stay values.
    ///
    /// # Errors
    ///
    /// A script that did not load; a transaction that did not run: the command the server
    /// refused to queue (with its place), `MULTI`'s or `EXEC`'s own error, or
    /// [`ErrorKind::TransactionAborted`] when a watched key changed.
    pub(crate) fn finish(&self, replies: Vec<Value>) -> Result<Vec<Value>> {
        let batch = self.batch;
        if !batch.atomic && batch.scripts.is_empty() {
            return Ok(replies);
        }
        let mut replies = replies.into_iter();
        for reply in replies.by_ref().take(batch.scripts.len()) {
            if let Value::ServerError(e) = reply {
                return Err(e.into());
            }
        }
        if !batch.atomic {
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
                    Some((idx, e)) => batch.command_error(e, idx, true),
                    None => exec_error.into(),
                })
            }
            other => Err(Error::new(
                ErrorKind::Protocol,
                format!("unexpected reply to EXEC: {other:?}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Value {
        Value::SimpleString("OK".into())
    }

    fn queued() -> Value {
        Value::SimpleString("QUEUED".into())
    }

    fn err(line: &str) -> Value {
        Value::ServerError(ServerError::new(line))
    }

    fn batch(atomic: bool, script: Option<&Script>) -> Batch {
        let mut batch = Batch::from_cmds(&[
            cmd("SET").key("k").arg(1).clone(),
            cmd("GET").key("k").clone(),
        ]);
        batch.set_atomic(atomic);
        if let Some(script) = script {
            batch.load_script(script);
            batch.load_script(script);
        }
        batch
    }

    fn wire(plan: &Plan<'_>) -> Vec<String> {
        let Outgoing::Packed(packed) = plan.wire() else {
            panic!("a plan writes packed commands")
        };
        packed
            .iter()
            .map(|cmd| {
                let words: Vec<_> = cmd.args().map(String::from_utf8_lossy).collect();
                words.join(" ")
            })
            .collect()
    }

    #[test]
    fn a_plain_batch_goes_as_it_is_and_comes_back_as_it_is() {
        let batch = batch(false, None);
        let plan = batch.plan();
        assert_eq!(wire(&plan), ["SET k 1", "GET k"]);
        let replies = vec![ok(), err("WRONGTYPE no")];
        assert_eq!(
            plan.finish(replies.clone()).unwrap(),
            replies,
            "errors stay in place"
        );
        assert_eq!(
            batch.cmds().map(|c| c.keys().count()).collect::<Vec<_>>(),
            [1, 1]
        );
    }

    #[test]
    fn scripts_load_first_and_their_replies_are_taken_off() {
        let script = Script::new("return 1");
        let batch = batch(false, Some(&script));
        let plan = batch.plan();
        let sent = wire(&plan);
        assert_eq!(sent.len(), 3, "a script loads once: {sent:?}");
        assert!(sent[0].starts_with("SCRIPT LOAD"));
        let hash = Value::BulkString(script.hash().to_owned().into());
        assert_eq!(plan.finish(vec![hash, ok(), ok()]).unwrap(), [ok(), ok()]);
        let failed = plan
            .finish(vec![err("ERR bad script"), ok(), ok()])
            .unwrap_err();
        assert!(failed.to_string().contains("bad script"), "{failed}");
    }

    #[test]
    fn a_transaction_is_wrapped_and_unwrapped() {
        let batch = batch(true, None);
        let plan = batch.plan();
        assert_eq!(wire(&plan), ["MULTI", "SET k 1", "GET k", "EXEC"]);
        let exec = Value::Array(vec![ok(), Value::BulkString("1".into())]);
        let results = plan
            .finish(vec![ok(), queued(), queued(), exec.clone()])
            .unwrap();
        assert_eq!(Value::Array(results), exec);

        let watched = plan
            .finish(vec![ok(), queued(), queued(), Value::Nil])
            .unwrap_err();
        assert_eq!(watched.kind(), ErrorKind::TransactionAborted);

        let refused = vec![
            ok(),
            queued(),
            err("ERR unknown"),
            err("EXECABORT discarded"),
        ];
        let refused = plan.finish(refused).unwrap_err();
        assert_eq!(
            refused.command_index(),
            Some(1),
            "the cause, with its place"
        );
        assert!(refused.to_string().contains("GET"), "{refused}");

        let odd = plan
            .finish(vec![ok(), queued(), queued(), Value::Int(3)])
            .unwrap_err();
        assert_eq!(odd.kind(), ErrorKind::Protocol);
    }

    #[test]
    fn a_transaction_does_not_block_though_its_commands_would() {
        let mut batch = Batch::from_cmds(&[cmd("BLPOP").key("q").arg(5).clone()]);
        assert!(batch.plan().blocking_wait().is_some());
        batch.set_atomic(true);
        assert!(batch.plan().blocking_wait().is_none());
    }
}
