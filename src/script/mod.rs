//! [`Script`]: a Lua script called by its SHA1 with `EVALSHA`, loaded when the server
//! does not know it.
//!
//! This module is the IO-free core: the script and its hash, the commands a call sends,
//! and what a reply means (`NOSCRIPT`: load, then call again). `blocking.rs` and
//! `tokio.rs` run that over the sync and the async seam.

mod blocking;
#[cfg(feature = "tokio")]
mod tokio;

use std::fmt::{self, Write as _};
use std::sync::Arc;

use crate::cmd::{Args, Cmd, cmd};
use crate::error::Error;
use crate::types::ToRedisArgs;

/// A Lua script, called by its SHA1.
///
/// The hash is computed once, when the script is made. [`invoke`](ScriptInvocation::invoke)
/// sends `EVALSHA`; when the server answers `NOSCRIPT` (it never saw the script, or its
/// cache was flushed) the script is loaded and called again. In a
/// [`Pipeline`](crate::Pipeline) ([`Pipeline::invoke_script`](crate::Pipeline::invoke_script))
/// the script is loaded in the same write, before the pipeline's commands.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> respec::Result<()> {
/// let client = respec::Client::open("redis://127.0.0.1/")?;
/// let mut con = client.get_connection()?;
/// let add = respec::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
/// let n: i64 = add.key("counter").arg(5).invoke(&mut con)?;
/// println!("counter is now {n}");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Script {
    code: Arc<str>,
    hash: Arc<str>,
}

impl Script {
    /// A script with its SHA1 computed.
    #[must_use]
    pub fn new(code: &str) -> Script {
        Script {
            hash: sha1_hex(code.as_bytes()).into(),
            code: code.into(),
        }
    }

    /// The SHA1 of the script, in lowercase hex, as `SCRIPT LOAD` answers it.
    #[must_use]
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The Lua source.
    #[must_use]
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Starts a call with a key.
    pub fn key(&self, key: impl ToRedisArgs) -> ScriptInvocation<'_> {
        self.prepare_invoke().key(key)
    }

    /// Starts a call with an argument.
    pub fn arg(&self, arg: impl ToRedisArgs) -> ScriptInvocation<'_> {
        self.prepare_invoke().arg(arg)
    }

    /// Starts a call with no keys or arguments yet.
    pub fn prepare_invoke(&self) -> ScriptInvocation<'_> {
        ScriptInvocation {
            script: self,
            keys: Args::default(),
            args: Args::default(),
        }
    }

    /// `SCRIPT LOAD` for this script.
    pub(crate) fn load_cmd(&self) -> Cmd {
        let mut load = cmd("SCRIPT LOAD");
        load.arg(&*self.code);
        load
    }
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// A call of a [`Script`] being put together: its keys and arguments.
#[derive(Debug, Clone)]
#[must_use = "a script call does nothing until it is invoked"]
pub struct ScriptInvocation<'a> {
    script: &'a Script,
    keys: Args,
    args: Args,
}

impl<'a> ScriptInvocation<'a> {
    /// Adds keys (`KEYS[n]` in the script).
    pub fn key(mut self, key: impl ToRedisArgs) -> Self {
        self.keys.push_keys(key);
        self
    }

    /// Adds arguments (`ARGV[n]` in the script).
    pub fn arg(mut self, arg: impl ToRedisArgs) -> Self {
        self.args.push(arg);
        self
    }

    pub(crate) fn script(&self) -> &'a Script {
        self.script
    }

    /// `EVALSHA hash numkeys keys... args...`: the command a call sends first.
    pub(crate) fn evalsha_cmd(&self) -> Cmd {
        let mut call = cmd("EVALSHA");
        call.arg(&*self.script.hash)
            .arg(self.keys.arg_count())
            .append(&self.keys)
            .append(&self.args);
        call
    }
}

/// `true` when a call's error says the server does not know the script (`NOSCRIPT`): then
/// it is loaded, and called again.
pub(crate) fn needs_loading(error: &Error) -> bool {
    error.code() == Some("NOSCRIPT")
}

/// SHA-1 of `data` in lowercase hex (FIPS 180-4). Redis names scripts by it; it is not
/// used for anything that needs to resist attack.
// Every index is into a fixed 80-word schedule or a 4-byte chunk, within bounds, and
// the one-letter names are the standard's own.
#[allow(clippy::indexing_slicing, clippy::many_single_char_names)]
fn sha1_hex(data: &[u8]) -> String {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let temp = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = temp;
        }
        for (state, add) in h.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(add);
        }
    }
    let mut hex = String::with_capacity(40);
    for word in h {
        let _ = write!(hex, "{word:08x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_evalsha_with_its_keys_counted_and_a_load_on_noscript() {
        let script = Script::new("return KEYS[1]");
        let call = script.key("k").key("l").arg(7).evalsha_cmd();
        let words: Vec<_> = call.args().map(String::from_utf8_lossy).collect();
        assert_eq!(words, ["EVALSHA", script.hash(), "2", "k", "l", "7"]);
        assert_eq!(call.keys().count(), 2);
        let load = script.load_cmd();
        let load: Vec<_> = load.args().map(String::from_utf8_lossy).collect();
        assert_eq!(load, ["SCRIPT", "LOAD", "return KEYS[1]"]);

        let noscript = Error::from(crate::value::ServerError::new(
            "NOSCRIPT No matching script",
        ));
        assert!(needs_loading(&noscript));
        assert!(!needs_loading(&Error::from(
            crate::value::ServerError::new("ERR other")
        )));
    }

    #[test]
    fn sha1_known_answers() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            sha1_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            sha1_hex(&vec![b'a'; 1_000_000]),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }
}
