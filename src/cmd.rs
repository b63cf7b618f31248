//! [`Cmd`]: one command, its arguments packed, its keys marked, and its entry in the
//! command table.

use std::fmt;
use std::sync::Arc;

use bytes::BufMut;

use crate::error::{Error, Result};
use crate::protocol::{write_array_header, write_bulk};
use crate::table::{self, BlockingWait, CommandInfo, ConnectionState};
use crate::types::{RedisWrite, ToRedisArgs};

/// A command ready to send.
///
/// Arguments are encoded as RESP bulk strings the moment they are added, into one
/// buffer, so sending a command costs one array header and one copy. The command also
/// remembers which arguments are keys, and its entry in the command table
/// ([`Cmd::info`]): its flags, key specs and routing tips, where a blocking command's
/// timeout is. The generated constructors set the entry at no cost; a command built
/// with [`cmd`] finds it by its name, once; a command the table does not know (a
/// module's) has none, and can be given one ([`Cmd::set_info`]).
///
/// # Examples
///
/// ```no_run
/// # fn main() -> respec::Result<()> {
/// let client = respec::Client::open("redis://127.0.0.1/")?;
/// let mut con = client.get_connection()?;
/// respec::cmd("SET").key("greeting").arg("hello").query::<()>(&mut con)?;
/// let greeting: String = respec::cmd("GET").key("greeting").query(&mut con)?;
/// assert_eq!(greeting, "hello");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Cmd {
    /// The arguments, each encoded as `$<len>\r\n<data>\r\n`.
    buf: Vec<u8>,
    n_args: usize,
    keys: KeyIndices,
    /// Why an argument could not be written, if one could not: the command is then
    /// refused before it is sent.
    invalid: Option<Arc<str>>,
    /// The command's entry in the table, once its name is written.
    info: Option<&'static CommandInfo>,
}

/// Starts a command: `cmd("GET")`. The name may hold several words (`"CLIENT LIST"`),
/// which become separate arguments.
#[must_use]
pub fn cmd(name: &str) -> Cmd {
    let mut cmd = Cmd::with_capacity(name.len() + 64);
    cmd.write_name(name);
    cmd
}

impl Cmd {
    /// An empty command.
    #[must_use]
    pub fn new() -> Cmd {
        Cmd::default()
    }

    /// An empty command with room for `bytes` bytes of encoded arguments.
    #[must_use]
    pub fn with_capacity(bytes: usize) -> Cmd {
        Cmd {
            buf: Vec::with_capacity(bytes),
            ..Cmd::default()
        }
    }

    /// Writes a command's name, each of its words an argument.
    pub(crate) fn write_name(&mut self, name: &str) {
        if name.bytes().any(|b| b.is_ascii_whitespace()) {
            for word in name.split_ascii_whitespace() {
                self.write_arg(word.as_bytes());
            }
        } else if !name.is_empty() {
            self.write_arg(name.as_bytes());
        }
    }

    /// Writes a command's name encoded ahead of time, as the generated constructors do:
    /// `encoded` is its `words` words, each a bulk string, and `info` its entry.
    #[inline]
    pub(crate) fn write_encoded_name(
        &mut self,
        encoded: &[u8],
        words: usize,
        info: &'static CommandInfo,
    ) {
        self.buf.extend_from_slice(encoded);
        self.n_args += words;
        self.info = Some(info);
    }

    /// The command's entry in the command table; `None` for a command the table does
    /// not know (a module's), unless given one with [`Cmd::set_info`].
    #[must_use]
    pub fn info(&self) -> Option<&'static CommandInfo> {
        self.info
    }

    /// Gives the command its entry: for a command the table does not know, one learned
    /// from the server's `COMMAND INFO` ([`CommandInfo::learn`]), so that blocking
    /// detection and routing work for it as for any other. (A command built with
    /// [`cmd`] after its entry was learned finds it by itself.)
    pub fn set_info(&mut self, info: &'static CommandInfo) -> &mut Cmd {
        self.info = Some(info);
        self
    }

    /// Finds the entry from the name as it is written: the first argument, then, for a
    /// container (`CLIENT`), the second, which names the subcommand. Only the first two
    /// arguments of a command built by hand come here.
    #[cold]
    fn identify(&mut self, arg: &[u8]) {
        match (self.n_args, self.info) {
            (0, None) => self.info = table::lookup(arg, None),
            (1, Some(container)) if container.subcommands => {
                self.info = table::lookup(container.name.as_bytes(), Some(arg));
            }
            _ => {}
        }
    }

    /// Appends the arguments `arg` writes.
    pub fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Cmd {
        arg.write_redis_args(self);
        self
    }

    /// Appends the arguments `key` writes and marks them as keys.
    pub fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Cmd {
        let first = self.n_args;
        key.write_redis_args(self);
        for idx in first..self.n_args {
            self.keys.insert(idx);
        }
        self
    }

    /// Appends arguments encoded ahead of time, keeping their key marks.
    pub fn append(&mut self, args: &Args) -> &mut Cmd {
        self.append_cmd(&args.0)
    }

    /// Appends every argument of `other`, keeping its key marks, and its entry when this
    /// command has no name yet.
    fn append_cmd(&mut self, other: &Cmd) -> &mut Cmd {
        if self.invalid.is_none() {
            self.invalid.clone_from(&other.invalid);
        }
        if self.n_args == 0 {
            self.info = other.info;
        }
        let offset = self.n_args;
        self.buf.extend_from_slice(&other.buf);
        for idx in other.keys.iter() {
            self.keys.insert(offset + idx);
        }
        self.n_args += other.n_args;
        self
    }

    /// Marks as keys the arguments from `start` on that sit at `positions` within each
    /// group of `width`: the keys of `MSET k1 v1 k2 v2` are at position 0 of groups of 2.
    pub(crate) fn mark_keys_in_groups(&mut self, start: usize, width: usize, positions: &[usize]) {
        for idx in start..self.n_args {
            if positions.contains(&((idx - start) % width)) {
                self.keys.insert(idx);
            }
        }
    }

    /// The number of arguments, the command name included.
    #[must_use]
    pub fn arg_count(&self) -> usize {
        self.n_args
    }

    /// The arguments, the command name first.
    pub fn args(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.view().args()
    }

    /// The arguments marked as keys.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.args()
            .enumerate()
            .filter(|(idx, _)| self.keys.contains(*idx))
            .map(|(_, arg)| arg)
    }

    /// `true` when the argument at `idx` is marked as a key.
    #[must_use]
    pub fn is_key(&self, idx: usize) -> bool {
        self.keys.contains(idx)
    }

    /// Writes the command as the server reads it: `*<n>\r\n` and the arguments.
    pub fn write_packed(&self, dst: &mut impl BufMut) {
        self.view().write_packed(dst);
    }

    /// The arguments as [`Cmd::write_packed`] writes them after the array header.
    pub(crate) fn encoded_args(&self) -> &[u8] {
        self.view().encoded_args()
    }

    /// Writes the array header [`Cmd::write_packed`] starts with.
    pub(crate) fn write_header(&self, dst: &mut impl BufMut) {
        self.view().write_header(dst);
    }

    /// The command as the server reads it.
    #[must_use]
    pub fn packed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buf.len() + 16);
        self.write_packed(&mut out);
        out
    }

    /// Fails when one of the arguments could not be written (see
    /// [`RedisWrite::invalid_argument`]): such a command is never sent.
    pub(crate) fn check_args(&self) -> Result<()> {
        match &self.invalid {
            None => Ok(()),
            Some(reason) => Err(invalid_args(self.args().next(), reason)),
        }
    }

    /// The command borrowed, as batches hand their commands out.
    pub(crate) fn view(&self) -> CmdRef<'_> {
        CmdRef {
            args: &self.buf,
            n_args: self.n_args,
            info: self.info,
        }
    }
}

/// A command borrowed from a [`Cmd`] or from a [`Packed`]: its encoded arguments and
/// how many there are.
#[derive(Clone, Copy)]
pub(crate) struct CmdRef<'a> {
    args: &'a [u8],
    n_args: usize,
    info: Option<&'static CommandInfo>,
}

impl<'a> CmdRef<'a> {
    /// The arguments, the command name first.
    pub(crate) fn args(self) -> impl Iterator<Item = &'a [u8]> {
        ArgIter { rest: self.args }
    }

    /// The arguments as they follow the array header on the wire.
    pub(crate) fn encoded_args(self) -> &'a [u8] {
        self.args
    }

    /// Writes the array header the command starts with on the wire.
    pub(crate) fn write_header(self, dst: &mut impl BufMut) {
        write_array_header(dst, self.n_args);
    }

    /// Writes the command as the server reads it.
    pub(crate) fn write_packed(self, dst: &mut impl BufMut) {
        write_array_header(dst, self.n_args);
        dst.put_slice(self.args);
    }

    /// How long the command may block on the server, by its entry and its timeout
    /// argument; `None` when it does not block.
    #[inline]
    pub(crate) fn blocking_wait(self) -> Option<BlockingWait> {
        let info = self.info.filter(|info| info.blocking_timeout.is_some())?;
        let args: Vec<&[u8]> = self.args().collect();
        info.blocking_wait(&args)
    }

    /// What the command, once it succeeded, did to its connection's state.
    #[inline]
    pub(crate) fn state_change(self) -> Option<StateChange> {
        match self.info?.connection_state? {
            ConnectionState::Database => {
                let db = self.args().nth(1)?;
                Some(StateChange::Db(std::str::from_utf8(db).ok()?.parse().ok()?))
            }
            _ => Some(StateChange::Other),
        }
    }
}

/// How a successful command changed a connection's state.
pub(crate) enum StateChange {
    /// `SELECT` moved it to this database.
    Db(i64),
    /// `AUTH`, `HELLO` or `RESET` changed it in ways a pool must not pass on.
    Other,
}

/// Commands packed back to back in one buffer as the server reads them, as a
/// [`Pipeline`](crate::Pipeline) queues them: sending them is one copy, or none. A
/// queued command is written straight onto the end of that buffer, so any number of
/// commands hold a few allocations, not one per command. Each keeps its key marks and
/// its table entry.
#[derive(Clone, Default)]
pub(crate) struct Packed {
    /// Writes each command onto the end of its buffer, which holds every command, its
    /// array header and its arguments, one after another. Past the last queued command
    /// the buffer may hold the remains of one whose writing panicked (a caller's
    /// [`ToRedisArgs`] may); nothing reads them, and the next command overwrites them.
    writer: Cmd,
    cmds: Vec<Queued>,
    /// The first command with an argument that could not be written, and why.
    invalid: Option<(usize, Arc<str>)>,
    /// Some queued command may block on the server: its entry says where its timeout is.
    may_block: bool,
    /// Some queued command changes its connection's state, as its entry says.
    changes_state: bool,
}

impl PartialEq for Packed {
    fn eq(&self, other: &Packed) -> bool {
        self.wire() == other.wire() && self.cmds == other.cmds && self.invalid == other.invalid
    }
}

/// What a batch notes of each command it queues.
fn note_entry(batch: &mut Packed, info: Option<&'static CommandInfo>) {
    if let Some(info) = info {
        batch.may_block |= info.blocking_timeout.is_some();
        batch.changes_state |= info.connection_state.is_some();
    }
}

impl Eq for Packed {}

/// Where a command's arguments lie in a [`Packed`], and what else its [`Cmd`] knew.
#[derive(Clone, Default, PartialEq, Eq)]
struct Queued {
    start: usize,
    end: usize,
    n_args: usize,
    keys: KeyIndices,
    info: Option<&'static CommandInfo>,
}

/// How many bytes a batch reserves when its first command is queued: room for a typical
/// pipeline (a hundred short `SET`s take 5,000), so the buffer is not regrown and
/// copied on the way. Room not written to is never touched.
const BATCH_START_BYTES: usize = 8192;
/// How many commands a batch makes room for with its first: as many short ones as fit
/// in [`BATCH_START_BYTES`].
pub(crate) const BATCH_START_CMDS: usize = 128;

impl Packed {
    /// An empty batch.
    #[must_use]
    pub(crate) fn new() -> Packed {
        Packed::default()
    }

    /// Queues `cmd`.
    pub(crate) fn push(&mut self, cmd: &Cmd) {
        self.queue(|writer| {
            writer.append_cmd(cmd);
        });
    }

    /// Queues the command `write` writes, name first, into a [`Cmd`] that counts this
    /// command's arguments and keys alone.
    pub(crate) fn queue(&mut self, write: impl FnOnce(&mut Cmd)) {
        let header = self.committed();
        let writer = &mut self.writer;
        if writer.buf.capacity() == 0 {
            writer.buf.reserve(BATCH_START_BYTES);
            self.cmds.reserve(BATCH_START_CMDS);
        }
        writer.buf.truncate(header);
        // A header that assumes fewer than ten arguments, corrected below if need be.
        writer.buf.extend_from_slice(b"*0\r\n");
        writer.n_args = 0;
        writer.keys = KeyIndices::default();
        // `invalid` is taken after each command, so it is `None` here.
        writer.info = None;
        write(writer);
        if let Some(reason) = writer.invalid.take() {
            self.invalid.get_or_insert((self.cmds.len(), reason));
        }

        let n_args = writer.n_args;
        let mut start = header + 4;
        if let Ok(n @ 0..10) = u8::try_from(n_args) {
            if let Some(digit) = writer.buf.get_mut(header + 1) {
                *digit = b'0' + n;
            }
        } else {
            let mut longer = Vec::with_capacity(24);
            write_array_header(&mut longer, n_args);
            start = header + longer.len();
            writer.buf.splice(header..header + 4, longer);
        }
        let info = writer.info;
        self.cmds.push(Queued {
            start,
            end: writer.buf.len(),
            n_args,
            keys: std::mem::take(&mut writer.keys),
            info,
        });
        note_entry(self, info);
    }

    /// Queues every command of `other` after the ones queued already.
    pub(crate) fn extend(&mut self, other: &Packed) {
        if let Some((idx, reason)) = &other.invalid {
            self.invalid
                .get_or_insert_with(|| (self.cmds.len() + idx, Arc::clone(reason)));
        }
        self.may_block |= other.may_block;
        self.changes_state |= other.changes_state;
        let offset = self.committed();
        self.writer.buf.truncate(offset);
        self.writer.buf.extend_from_slice(other.wire());
        self.cmds.extend(other.cmds.iter().map(|queued| Queued {
            start: offset + queued.start,
            end: offset + queued.end,
            ..queued.clone()
        }));
    }

    /// How many commands are queued.
    #[must_use]
    pub(crate) fn len(&self) -> usize {
        self.cmds.len()
    }

    /// `true` when none is.
    #[must_use]
    pub(crate) fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// Drops every command, keeping the room they took.
    pub(crate) fn clear(&mut self) {
        self.writer.buf.clear();
        self.cmds.clear();
        self.invalid = None;
        self.may_block = false;
        self.changes_state = false;
    }

    /// `true` when some queued command may block on the server: one test, whatever the
    /// batch's length.
    pub(crate) fn may_block(&self) -> bool {
        self.may_block
    }

    /// `true` when some queued command changes its connection's state.
    pub(crate) fn changes_state(&self) -> bool {
        self.changes_state
    }

    /// Fails when an argument of a queued command could not be written: then none of
    /// the batch is sent.
    pub(crate) fn check_args(&self) -> Result<()> {
        match &self.invalid {
            None => Ok(()),
            Some((idx, reason)) => {
                let name = self.iter().nth(*idx).and_then(|cmd| cmd.args().next());
                Err(invalid_args(name, reason))
            }
        }
    }

    /// Every command written as the server reads it, one after another.
    pub(crate) fn write_packed(&self, dst: &mut impl BufMut) {
        dst.put_slice(self.wire());
    }

    /// The commands as the server reads them.
    pub(crate) fn wire(&self) -> &[u8] {
        self.writer.buf.get(..self.committed()).unwrap_or_default()
    }

    /// Where the last queued command ends.
    fn committed(&self) -> usize {
        self.cmds.last().map_or(0, |queued| queued.end)
    }

    /// The commands, each copied out as a [`Cmd`] of its own.
    #[must_use]
    pub(crate) fn to_cmds(&self) -> impl ExactSizeIterator<Item = Cmd> + '_ {
        self.spans().enumerate().map(|(idx, (args, queued))| Cmd {
            buf: args.to_vec(),
            n_args: queued.n_args,
            keys: queued.keys.clone(),
            invalid: self
                .invalid
                .as_ref()
                .filter(|(invalid, _)| *invalid == idx)
                .map(|(_, reason)| Arc::clone(reason)),
            info: queued.info,
        })
    }

    /// The commands, borrowed.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = CmdRef<'_>> {
        self.spans().map(|(args, queued)| CmdRef {
            args,
            n_args: queued.n_args,
            info: queued.info,
        })
    }

    /// Each command's encoded arguments with what else is known of it.
    fn spans(&self) -> impl ExactSizeIterator<Item = (&[u8], &Queued)> {
        self.cmds.iter().map(|queued| {
            let args = self
                .writer
                .buf
                .get(queued.start..queued.end)
                .unwrap_or_default();
            (args, queued)
        })
    }
}

/// What one request sends: commands of their own, or a batch packed already.
#[derive(Clone, Copy)]
pub(crate) enum Outgoing<'a> {
    Cmds(&'a [Cmd]),
    Packed(&'a Packed),
}

impl<'a> Outgoing<'a> {
    /// How long the commands may block on the server together; `None` when none blocks.
    pub(crate) fn blocking_wait(self) -> Option<BlockingWait> {
        if let Outgoing::Packed(batch) = self
            && !batch.may_block()
        {
            return None;
        }
        let mut total: Option<BlockingWait> = None;
        self.for_each(|cmd| {
            if let Some(wait) = cmd.blocking_wait() {
                total = Some(total.map_or(wait, |sum| sum.then(wait)));
            }
        });
        total
    }

    /// `true` when some command may change its connection's state.
    pub(crate) fn changes_state(self) -> bool {
        match self {
            Outgoing::Cmds(cmds) => cmds
                .iter()
                .any(|cmd| cmd.info.is_some_and(|info| info.connection_state.is_some())),
            Outgoing::Packed(batch) => batch.changes_state(),
        }
    }

    /// Fails when an argument of a command could not be written: then nothing is sent.
    pub(crate) fn check_args(self) -> Result<()> {
        match self {
            Outgoing::Cmds(cmds) => cmds.iter().try_for_each(Cmd::check_args),
            Outgoing::Packed(batch) => batch.check_args(),
        }
    }

    /// How many commands, and so replies, there are.
    pub(crate) fn len(self) -> usize {
        match self {
            Outgoing::Cmds(cmds) => cmds.len(),
            Outgoing::Packed(batch) => batch.len(),
        }
    }

    /// Calls `f` with each command, borrowed, in order.
    pub(crate) fn for_each(self, f: impl FnMut(CmdRef<'a>)) {
        match self {
            Outgoing::Cmds(cmds) => cmds.iter().map(Cmd::view).for_each(f),
            Outgoing::Packed(batch) => batch.iter().for_each(f),
        }
    }

    /// The bytes to send when they lie in one buffer already: a batch's.
    pub(crate) fn wire(self) -> Option<&'a [u8]> {
        match self {
            Outgoing::Cmds(_) => None,
            Outgoing::Packed(batch) => Some(batch.wire()),
        }
    }

    /// Writes every command as the server reads it.
    pub(crate) fn write_packed(self, dst: &mut impl BufMut) {
        match self {
            Outgoing::Cmds(cmds) => {
                for cmd in cmds {
                    cmd.write_packed(dst);
                }
            }
            Outgoing::Packed(batch) => batch.write_packed(dst),
        }
    }
}

impl fmt::Debug for Packed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(CmdRef::shown))
            .finish()
    }
}

/// Arguments encoded ahead of time: what option types and enums of the generated
/// commands hold for their string and key values. Build one from anything that writes
/// arguments; a [`Cmd`] takes it whole with [`Cmd::append`].
///
/// # Examples
///
/// ```
/// let mut names = respec::Args::new("a");
/// names.push(["b", "c"]);
/// assert_eq!(names.arg_count(), 3);
/// let mut cmd = respec::cmd("DEL");
/// cmd.append(&respec::Args::keys(["k1", "k2"]));
/// assert_eq!(cmd.keys().count(), 2);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Args(Cmd);

impl Args {
    /// The arguments `value` writes.
    #[must_use]
    pub fn new(value: impl ToRedisArgs) -> Args {
        let mut args = Args::default();
        args.push(value);
        args
    }

    /// The arguments `value` writes, marked as keys.
    #[must_use]
    pub fn keys(value: impl ToRedisArgs) -> Args {
        let mut args = Args::default();
        args.push_keys(value);
        args
    }

    /// Adds the arguments `value` writes.
    pub fn push(&mut self, value: impl ToRedisArgs) {
        self.0.arg(value);
    }

    /// Adds the arguments `value` writes, marked as keys.
    pub fn push_keys(&mut self, value: impl ToRedisArgs) {
        self.0.key(value);
    }

    /// How many arguments there are.
    #[must_use]
    pub fn arg_count(&self) -> usize {
        self.0.arg_count()
    }

    /// `true` when there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.arg_count() == 0
    }
}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.0
                    .args()
                    .map(|arg| crate::Value::BulkString(bytes::Bytes::copy_from_slice(arg))),
            )
            .finish()
    }
}

impl RedisWrite for Cmd {
    #[inline]
    fn write_arg(&mut self, arg: &[u8]) {
        // Only the name (and a container's subcommand) may say which command this is.
        if self.n_args < 2 && self.info.is_none_or(|info| info.subcommands) {
            self.identify(arg);
        }
        write_bulk(&mut self.buf, arg);
        self.n_args += 1;
    }

    fn invalid_argument(&mut self, reason: &str) {
        if self.invalid.is_none() {
            self.invalid = Some(reason.into());
        }
    }
}

/// The error of a command (named by `name`, its first argument) one of whose arguments
/// could not be written.
fn invalid_args(name: Option<&[u8]>, reason: &str) -> Error {
    let name = String::from_utf8_lossy(name.unwrap_or_default());
    Error::invalid_input(format!("cannot send {name}: {reason}"))
}

/// Shows the arguments as text, keys included: `GET "k"`. Values are not secret to the
/// library, but be careful logging commands that carry passwords (`AUTH`).
impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.view().shown().fmt(f)
    }
}

impl<'a> CmdRef<'a> {
    fn shown(self) -> ShowArgs<'a> {
        // A subcommand's name is two words: `CLIENT SETNAME`.
        let name_words = self.info.map_or(1, |info| info.name.split(' ').count());
        ShowArgs(self.args, name_words)
    }
}

/// Encoded arguments shown as text: the words of the name as they are, the others
/// quoted.
struct ShowArgs<'a>(&'a [u8], usize);

impl fmt::Debug for ShowArgs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (idx, arg) in (ArgIter { rest: self.0 }).enumerate() {
            if idx > 0 {
                f.write_str(" ")?;
            }
            if idx < self.1 {
                f.write_str(&String::from_utf8_lossy(arg))?;
            } else {
                write!(
                    f,
                    "{:?}",
                    crate::Value::BulkString(bytes::Bytes::copy_from_slice(arg))
                )?;
            }
        }
        Ok(())
    }
}

/// Walks the encoded arguments of a [`Cmd`].
struct ArgIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ArgIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        // `Cmd` wrote these bytes itself: `$<len>\r\n<data>\r\n`.
        let header_end = self.rest.iter().position(|&b| b == b'\n')?;
        let len = self
            .rest
            .get(1..header_end.checked_sub(1)?)?
            .iter()
            .try_fold(0usize, |n, &b| {
                let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
                n.checked_mul(10)?.checked_add(usize::from(digit))
            })?;
        let data = self.rest.get(header_end + 1..header_end + 1 + len)?;
        self.rest = self
            .rest
            .get(header_end + 1 + len + 2..)
            .unwrap_or_default();
        Some(data)
    }
}

/// The set of argument positions that are keys: a bitmask for the first 64, which is
/// every real command's case, and a list past that.
#[derive(Clone, Default, PartialEq, Eq)]
struct KeyIndices {
    first_64: u64,
    beyond: Vec<usize>,
}

impl KeyIndices {
    fn insert(&mut self, idx: usize) {
        if idx < 64 {
            self.first_64 |= 1 << idx;
        } else {
            self.beyond.push(idx);
        }
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..64)
            .filter(|idx| self.first_64 & (1 << idx) != 0)
            .chain(self.beyond.iter().copied())
    }

    fn contains(&self, idx: usize) -> bool {
        if idx < 64 {
            self.first_64 & (1 << idx) != 0
        } else {
            self.beyond.contains(&idx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_of_several_words_becomes_several_arguments() {
        let args = |name: &str| -> Vec<Vec<u8>> { cmd(name).args().map(<[u8]>::to_vec).collect() };
        assert_eq!(args("GET"), [b"GET".to_vec()]);
        assert_eq!(args("CLIENT  LIST"), [b"CLIENT".to_vec(), b"LIST".to_vec()]);
        assert_eq!(args(" CONFIG\tGET "), [b"CONFIG".to_vec(), b"GET".to_vec()]);
        assert!(args("").is_empty());
        assert!(args("  ").is_empty());
    }

    #[test]
    fn packs_arguments_and_marks_keys() {
        let mut c = cmd("MSET");
        c.key("a").arg(1).key(&["b", "c"][..]).arg(2.5);
        assert_eq!(c.arg_count(), 6);
        assert_eq!(
            c.packed(),
            b"*6\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\nc\r\n$3\r\n2.5\r\n"
        );
        assert_eq!(c.keys().collect::<Vec<_>>(), [b"a", b"b", b"c"]);
        assert_eq!(format!("{c:?}"), r#"MSET "a" "1" "b" "c" "2.5""#);
    }

    #[test]
    fn many_keys() {
        let keys: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
        let mut c = cmd("DEL");
        c.key(&keys);
        assert_eq!(c.keys().count(), 100);
        assert!(!c.is_key(0));
        assert!(c.is_key(100));
    }
}
