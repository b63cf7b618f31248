//! [`Cmd`]: one command, its arguments packed and its keys marked.

use std::fmt;

use bytes::BufMut;

use crate::connection::{AsyncConnectionLike, ConnectionLike};
use crate::error::Result;
use crate::protocol::{write_array_header, write_bulk};
use crate::types::{Converted, FromRedisValue, RedisWrite, ToRedisArgs};

/// A command ready to send.
///
/// Arguments are encoded as RESP bulk strings the moment they are added, into one
/// buffer, so sending a command costs one array header and one copy. The command also
/// remembers which arguments are keys, which cluster routing needs.
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
}

/// Starts a command: `cmd("GET")`. The name may hold several words (`"CLIENT LIST"`),
/// which become separate arguments.
#[must_use]
pub fn cmd(name: &str) -> Cmd {
    let mut cmd = Cmd::with_capacity(name.len() + 64);
    if name.bytes().any(|b| b.is_ascii_whitespace()) {
        for word in name.split_ascii_whitespace() {
            cmd.write_arg(word.as_bytes());
        }
    } else if !name.is_empty() {
        cmd.write_arg(name.as_bytes());
    }
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
        let offset = self.n_args;
        self.buf.extend_from_slice(&args.0.buf);
        for idx in args.0.keys.iter() {
            self.keys.insert(offset + idx);
        }
        self.n_args += args.0.n_args;
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

    /// Sends the command on `con` and converts the reply.
    ///
    /// # Errors
    ///
    /// IO and protocol errors, the server's error reply, or a failed conversion.
    pub fn query<T: FromRedisValue>(&self, con: &mut (impl ConnectionLike + ?Sized)) -> Result<T> {
        let mut reply = Converted::<T>::new();
        con.req_command_into(self, &mut reply)?;
        reply.finish()
    }

    /// Sends the command on `con` and discards the reply.
    ///
    /// # Errors
    ///
    /// IO and protocol errors, or the server's error reply.
    pub fn exec(&self, con: &mut (impl ConnectionLike + ?Sized)) -> Result<()> {
        con.req_command(self).map(drop)
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
        con.req_command_as(self).await
    }

    /// Sends the command on an async connection and discards the reply.
    ///
    /// # Errors
    ///
    /// IO and protocol errors, or the server's error reply.
    pub async fn exec_async(&self, con: &mut (impl AsyncConnectionLike + ?Sized)) -> Result<()> {
        con.req_command(self).await.map(drop)
    }

    /// The number of arguments, the command name included.
    #[must_use]
    pub fn arg_count(&self) -> usize {
        self.n_args
    }

    /// The arguments, the command name first.
    pub fn args(&self) -> impl Iterator<Item = &[u8]> + '_ {
        ArgIter { rest: &self.buf }
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
        write_array_header(dst, self.n_args);
        dst.put_slice(&self.buf);
    }

    /// The arguments as [`Cmd::write_packed`] writes them after the array header.
    pub(crate) fn encoded_args(&self) -> &[u8] {
        &self.buf
    }

    /// Writes the array header [`Cmd::write_packed`] starts with.
    pub(crate) fn write_header(&self, dst: &mut impl BufMut) {
        write_array_header(dst, self.n_args);
    }

    /// The command as the server reads it.
    #[must_use]
    pub fn packed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buf.len() + 16);
        self.write_packed(&mut out);
        out
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
    fn write_arg(&mut self, arg: &[u8]) {
        write_bulk(&mut self.buf, arg);
        self.n_args += 1;
    }
}

/// Shows the arguments as text, keys included: `GET "k"`. Values are not secret to the
/// library, but be careful logging commands that carry passwords (`AUTH`).
impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (idx, arg) in self.args().enumerate() {
            if idx > 0 {
                f.write_str(" ")?;
            }
            if idx == 0 {
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
