//! The command table: every command and subcommand of the spec with its arity, flags,
//! key specs, cluster routing tips, where a blocking command's timeout is, and what a
//! command changes of its connection; lookup by name, and key extraction from the key
//! specs.
//!
//! The entries themselves are generated (`generated.rs`) from `commands.json`. Every
//! [`Cmd`](crate::Cmd) holds its entry: the generated constructors set it at no cost,
//! [`cmd`](crate::cmd) finds it with one lookup. This module knows nothing of commands
//! as they are sent; it is data about them, below everything that sends them.

use std::time::Duration;

use crate::deadline;

#[rustfmt::skip]
mod generated;
mod learned;

pub(crate) use generated::COMMANDS;

macro_rules! flag_set {
    ($(#[$doc:meta])* $name:ident { $($(#[$flag_doc:meta])* $flag:ident = $bit:expr,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(u32);

        impl $name {
            /// No flags.
            pub const EMPTY: $name = $name(0);
            $($(#[$flag_doc])* pub const $flag: $name = $name(1 << $bit);)*

            /// Both sets of flags.
            #[must_use]
            pub const fn union(self, other: $name) -> $name {
                $name(self.0 | other.0)
            }

            /// `true` when every flag of `other` is set here.
            #[must_use]
            pub const fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut set = f.debug_set();
                $(if self.contains($name::$flag) { set.entry(&format_args!(stringify!($flag))); })*
                set.finish()
            }
        }
    };
}

flag_set! {
    /// How the server treats a command (`command_flags` in the spec).
    CommandFlags {
        /// May run while the replica is stale.
        STALE = 0,
        /// Writes data.
        WRITE = 1,
        /// May run while the data set loads.
        LOADING = 2,
        /// Runs in constant or logarithmic time.
        FAST = 3,
        /// Not allowed in scripts.
        NOSCRIPT = 4,
        /// Only reads data; may go to a replica.
        READONLY = 5,
        /// Administrative.
        ADMIN = 6,
        /// Allowed in Sentinel mode.
        SENTINEL = 7,
        /// May use more memory; refused when memory is full.
        DENYOOM = 8,
        /// Only a Sentinel runs it.
        ONLY_SENTINEL = 9,
        /// Refused while the data set loads asynchronously.
        NO_ASYNC_LOADING = 10,
        /// Allowed while a script runs.
        ALLOW_BUSY = 11,
        /// Pub/sub.
        PUBSUB = 12,
        /// May block the connection until data arrives or a timeout passes.
        BLOCKING = 13,
        /// May replicate even though it does not write.
        MAY_REPLICATE = 14,
        /// Not shown to `MONITOR`.
        SKIP_MONITOR = 15,
        /// Its keys are optional.
        NO_MANDATORY_KEYS = 16,
        /// Not allowed in a transaction.
        NO_MULTI = 17,
        /// Allowed before authenticating.
        NO_AUTH = 18,
        /// Protected: refused unless enabled in the configuration.
        PROTECTED = 19,
        /// May touch keys other than its arguments.
        TOUCHES_ARBITRARY_KEYS = 20,
        /// Not logged in the slow log.
        SKIP_SLOWLOG = 21,
        /// Sent to a node importing a slot.
        ASKING = 22,
    }
}

flag_set! {
    /// How a key spec's keys are used (`flags` of a key spec).
    KeySpecFlags {
        /// Read-only.
        RO = 0,
        /// Read and write.
        RW = 1,
        /// Overwritten without being read.
        OW = 2,
        /// Removed.
        RM = 3,
        /// Its data is returned, copied or used.
        ACCESS = 4,
        /// Its data is changed.
        UPDATE = 5,
        /// Data is added to it.
        INSERT = 6,
        /// Data is deleted from it.
        DELETE = 7,
        /// Not a key, but routed like one (shard channels).
        NOT_KEY = 8,
        /// The spec may not find every key.
        INCOMPLETE = 9,
        /// The flags depend on other arguments.
        VARIABLE_FLAGS = 10,
    }
}

/// Where the search for a key spec's keys begins. Argument 0 is the command name (for a
/// subcommand, argument 1 is the subcommand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginSearch {
    /// At this argument.
    Index(usize),
    /// After this keyword, searched from `start_from` (from the end when negative).
    Keyword {
        /// The keyword, such as `STREAMS`.
        keyword: &'static str,
        /// Where to start searching.
        start_from: isize,
    },
    /// The spec cannot say; the server knows by other means.
    Unknown,
}

/// Which arguments are keys, from where the search began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindKeys {
    /// A range: up to `last_key` past the first (negative: counted from the end), every
    /// `step`; with a negative `last_key` and `limit` of 2 or more, only the first
    /// `1/limit` of what remains.
    Range {
        /// Offset of the last key.
        last_key: isize,
        /// Distance between keys.
        step: usize,
        /// Fraction limit, as above.
        limit: usize,
    },
    /// An argument holds the number of keys.
    KeyNum {
        /// Offset of the count.
        key_num_idx: usize,
        /// Offset of the first key.
        first_key: usize,
        /// Distance between keys.
        step: usize,
    },
    /// The spec cannot say.
    Unknown,
}

/// One group of keys of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// How the keys are used.
    pub flags: KeySpecFlags,
    /// Where the search begins.
    pub begin_search: BeginSearch,
    /// Which arguments are keys.
    pub find_keys: FindKeys,
}

/// Where a cluster client sends a command (`REQUEST_POLICY` tips).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestPolicy {
    /// To every node, primaries and replicas.
    AllNodes,
    /// To every primary.
    AllShards,
    /// Split by slot, each part to its shard.
    MultiShard,
    /// Needs logic of its own.
    Special,
}

/// How a cluster client merges the replies of several nodes (`RESPONSE_POLICY` tips).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponsePolicy {
    /// Success if any node succeeded.
    OneSucceeded,
    /// Success if all succeeded.
    AllSucceeded,
    /// Logical AND of the replies, element by element.
    AggLogicalAnd,
    /// Logical OR of the replies, element by element.
    AggLogicalOr,
    /// The smallest reply.
    AggMin,
    /// The largest reply.
    AggMax,
    /// The sum of the replies.
    AggSum,
    /// Needs logic of its own.
    Special,
}

/// Where a blocking command says how long it may block, and in what unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockingTimeout {
    /// Which argument it is.
    pub position: ArgPosition,
    /// What it counts.
    pub unit: TimeUnit,
}

/// Where an argument is among a command's arguments (the name at 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgPosition {
    /// At this index.
    At(usize),
    /// Last.
    Last,
    /// Just after this keyword, when the keyword is given (before the first key).
    After(&'static str),
}

/// The unit of a timeout argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Seconds, fractions allowed (`BLPOP`'s `0.5`).
    Seconds,
    /// Whole milliseconds (`XREAD ... BLOCK 100`, `WAIT`).
    Milliseconds,
}

/// How long a command may block on the server, by its own timeout argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockingWait {
    /// At most this long.
    For(Duration),
    /// Until it is served: a timeout of 0.
    Forever,
}

impl BlockingWait {
    /// Both waits, one after the other: as a batch holding both may block.
    pub(crate) fn then(self, other: BlockingWait) -> BlockingWait {
        match (self, other) {
            (BlockingWait::For(a), BlockingWait::For(b)) => BlockingWait::For(a.saturating_add(b)),
            _ => BlockingWait::Forever,
        }
    }

    /// The time a request with this wait may take, given the request timeout: both
    /// together; `None` when it may wait forever.
    pub(crate) fn plus(self, timeout: Duration) -> Option<Duration> {
        match self {
            BlockingWait::For(own) => Some(own.saturating_add(timeout)),
            BlockingWait::Forever => None,
        }
    }

    /// The time a request whose commands may block as long as `wait` says may take:
    /// `timeout`, plus the wait; `None` when it may wait forever.
    pub(crate) fn limit(wait: Option<BlockingWait>, timeout: Duration) -> Option<Duration> {
        match wait {
            None => Some(timeout),
            Some(wait) => wait.plus(timeout),
        }
    }
}

/// What a command, once it succeeded, changed of the state its connection was set up
/// with (decided in `spec/overrides.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// The selected database (`SELECT`).
    Database,
    /// The user (`AUTH`).
    User,
    /// The protocol, and perhaps the user and name (`HELLO`).
    Protocol,
    /// All of it (`RESET`).
    Everything,
}

/// A rule key extraction follows where the key specs cannot say it all (decided in
/// `spec/overrides.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRule {
    /// `SORT`: the destination follows `STORE`, past the `BY`, `GET` and `LIMIT`
    /// arguments, which are not keys.
    SortStore,
    /// `MIGRATE`: in the `KEYS` form, the single key's slot is left empty and is no key.
    Migrate,
}

/// What the spec says about one command or subcommand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandInfo {
    /// `GET`, or `CLIENT KILL` for a subcommand.
    pub name: &'static str,
    /// Number of arguments including the name; negative means at least that many.
    pub arity: i32,
    /// How the server treats it.
    pub flags: CommandFlags,
    /// Where its keys are.
    pub key_specs: &'static [KeySpec],
    /// Where a cluster client sends it, when not by key.
    pub request_policy: Option<RequestPolicy>,
    /// How a cluster client merges replies from several nodes.
    pub response_policy: Option<ResponsePolicy>,
    /// The same input and data may give different output.
    pub nondeterministic_output: bool,
    /// The output is a collection in no fixed order.
    pub nondeterministic_output_order: bool,
    /// Its group in the documentation: `string`, `list`...
    pub group: &'static str,
    /// The version that introduced it.
    pub since: &'static str,
    /// For a blocking command, where its own timeout is.
    pub blocking_timeout: Option<BlockingTimeout>,
    /// `true` for a container of subcommands (`CLIENT`, `CONFIG`...).
    pub subcommands: bool,
    /// What a successful run changes of its connection.
    pub connection_state: Option<ConnectionState>,
    /// A rule key extraction follows beyond the key specs.
    pub key_rule: Option<KeyRule>,
}

/// The whole table, sorted by name.
#[must_use]
pub fn all() -> &'static [CommandInfo] {
    &COMMANDS
}

/// The entry of a command by name, any case: `lookup("get", None)`,
/// `lookup("CLIENT", Some("kill"))`. An unknown subcommand finds its container's entry;
/// a plain command ignores `sub`. A command the generated table does not know is looked
/// for among those learned from `COMMAND INFO` ([`CommandInfo::learn`]).
#[must_use]
pub fn lookup(name: &[u8], sub: Option<&[u8]>) -> Option<&'static CommandInfo> {
    let table = all();
    let find = |words: &[&[u8]]| {
        table
            .binary_search_by(|entry| compare_name(entry.name, words))
            .ok()
            .and_then(|idx| table.get(idx))
    };
    if let Some(sub) = sub
        && let Some(entry) = find(&[name, sub])
    {
        return Some(entry);
    }
    find(&[name]).or_else(|| learned::find(name, sub))
}

/// Compares a table name with words joined by spaces, ignoring ASCII case, without
/// allocating: this runs for every command a multiplexed connection sends.
fn compare_name(entry: &str, words: &[&[u8]]) -> std::cmp::Ordering {
    let joined = words.iter().enumerate().flat_map(|(idx, word)| {
        let space: &[u8] = if idx > 0 { b" " } else { b"" };
        space.iter().chain(word.iter()).map(u8::to_ascii_uppercase)
    });
    entry.bytes().cmp(joined)
}

impl CommandInfo {
    /// The positions of the key arguments in `args` (the command name at 0), found with
    /// the key specs as the server finds them. Shard channels (`NOT_KEY`) are included:
    /// they route like keys.
    ///
    /// # Examples
    ///
    /// ```
    /// let args: [&[u8]; 6] = [b"XREAD", b"COUNT", b"2", b"STREAMS", b"s1", b"0"];
    /// let info = respec::commands::lookup(b"XREAD", None).unwrap();
    /// assert_eq!(info.key_indices(&args), [4]);
    /// ```
    #[must_use]
    pub fn key_indices(&self, args: &[&[u8]]) -> Vec<usize> {
        let mut keys = Vec::new();
        for spec in self.key_specs {
            spec.find(args, &mut keys);
        }
        match self.key_rule {
            Some(KeyRule::SortStore) => sort_store_key(args, &mut keys),
            // There, as the server decides, the key slot (left empty) is not a key.
            Some(KeyRule::Migrate) if keys.iter().any(|&idx| idx > 3) => {
                keys.retain(|&idx| idx != 3);
            }
            _ => {}
        }
        keys
    }

    /// `true` for blocking commands.
    #[must_use]
    pub fn is_blocking(&self) -> bool {
        self.flags.contains(CommandFlags::BLOCKING)
    }

    /// `true` for commands that only read.
    #[must_use]
    pub fn is_readonly(&self) -> bool {
        self.flags.contains(CommandFlags::READONLY)
    }

    /// How long this command, sent with `args` (the name at 0), may block on the server;
    /// `None` when it does not block: it is not a blocking command, or is one that blocks
    /// only with a keyword it was not given (`XREAD` without `BLOCK`). A timeout that
    /// does not parse as a duration (negative, not a number, too large) is taken as
    /// none: the server refuses it at once.
    pub(crate) fn blocking_wait(&self, args: &[&[u8]]) -> Option<BlockingWait> {
        let timeout = self.blocking_timeout?;
        let value = match timeout.position {
            ArgPosition::At(idx) => args.get(idx)?,
            ArgPosition::Last => args.last()?,
            ArgPosition::After(keyword) => {
                // The keyword is searched for before the keys only: a key may be named
                // like it.
                let first_key = self.key_indices(args).first().copied();
                let end = first_key.unwrap_or(args.len()).min(args.len());
                let at = args
                    .get(1..end)?
                    .iter()
                    .position(|arg| arg.eq_ignore_ascii_case(keyword.as_bytes()))?;
                args.get(at + 2)?
            }
        };
        let text = std::str::from_utf8(value).ok();
        let wait = match timeout.unit {
            TimeUnit::Seconds => text
                .and_then(|t| t.parse::<f64>().ok())
                .and_then(deadline::from_secs),
            TimeUnit::Milliseconds => text
                .and_then(|t| t.parse::<u64>().ok())
                .map(Duration::from_millis),
        };
        Some(match wait {
            Some(wait) if wait.is_zero() => BlockingWait::Forever,
            Some(wait) => BlockingWait::For(wait),
            None => BlockingWait::For(Duration::ZERO),
        })
    }
}

/// SORT's destination follows `STORE`, which no key spec can describe: its `BY` and
/// `GET` patterns share the same "unknown" spec but are not keys.
fn sort_store_key(args: &[&[u8]], keys: &mut Vec<usize>) {
    let mut idx = 2;
    while let Some(arg) = args.get(idx) {
        let skip = match arg.to_ascii_uppercase().as_slice() {
            b"STORE" => {
                if args.get(idx + 1).is_some() {
                    keys.push(idx + 1);
                }
                2
            }
            b"BY" | b"GET" => 2,
            b"LIMIT" => 3,
            _ => 1,
        };
        idx += skip;
    }
}

impl KeySpec {
    /// Appends the positions of this spec's keys in `args`; a spec that does not match
    /// the arguments adds none.
    fn find(&self, args: &[&[u8]], keys: &mut Vec<usize>) {
        let n_args = args.len() as isize;
        let first = match self.begin_search {
            BeginSearch::Index(pos) => pos as isize,
            BeginSearch::Keyword {
                keyword,
                start_from,
            } => {
                let found = if start_from > 0 {
                    (start_from..n_args - 1).find(|&i| is_keyword(args, i, keyword))
                } else {
                    (1..=n_args + start_from)
                        .rev()
                        .find(|&i| is_keyword(args, i, keyword))
                };
                match found {
                    Some(idx) => idx + 1,
                    None => return,
                }
            }
            BeginSearch::Unknown => return,
        };
        let (first, last, step) = match self.find_keys {
            FindKeys::Range {
                last_key,
                step,
                limit,
            } => {
                let last = if last_key >= 0 {
                    first + last_key
                } else if limit <= 1 {
                    n_args + last_key
                } else {
                    first + ((n_args - first) / limit as isize + last_key)
                };
                (first, last, step as isize)
            }
            FindKeys::KeyNum {
                key_num_idx,
                first_key,
                step,
            } => {
                let count = args
                    .get((first + key_num_idx as isize) as usize)
                    .and_then(|n| std::str::from_utf8(n).ok()?.parse::<isize>().ok());
                let Some(count) = count.filter(|n| *n >= 0) else {
                    return;
                };
                let first = first + first_key as isize;
                let step = step as isize;
                (first, first + (count - 1) * step, step)
            }
            FindKeys::Unknown => return,
        };
        let mut idx = first;
        while idx <= last && step > 0 {
            if idx >= n_args || idx < 1 {
                return;
            }
            keys.push(idx as usize);
            idx += step;
        }
    }
}

fn is_keyword(args: &[&[u8]], idx: isize, keyword: &str) -> bool {
    usize::try_from(idx)
        .ok()
        .and_then(|i| args.get(i))
        .is_some_and(|arg| arg.eq_ignore_ascii_case(keyword.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Cmd, cmd};

    fn wait(cmd: &Cmd) -> Option<BlockingWait> {
        cmd.view().blocking_wait()
    }

    #[test]
    fn every_command_the_table_flags_blocking_says_where_its_timeout_is() {
        let mut seen = 0;
        for info in all().iter().filter(|info| info.is_blocking()) {
            let timeout = info
                .blocking_timeout
                .unwrap_or_else(|| panic!("{} has no blocking timeout", info.name));
            // Found in any case, and its wait read from where the table says.
            for name in [info.name.to_owned(), info.name.to_ascii_lowercase()] {
                let mut command = cmd(&name);
                let value = match timeout.unit {
                    TimeUnit::Seconds => "1.5",
                    TimeUnit::Milliseconds => "1500",
                };
                match timeout.position {
                    ArgPosition::At(idx) => {
                        for _ in 1..idx {
                            command.arg("x");
                        }
                        command.arg(value).arg("1").arg("k");
                    }
                    ArgPosition::Last => {
                        command.key("k").arg(value);
                    }
                    ArgPosition::After(keyword) => {
                        command
                            .arg(keyword)
                            .arg(value)
                            .arg("STREAMS")
                            .key("k")
                            .arg("0");
                    }
                }
                assert_eq!(
                    wait(&command),
                    Some(BlockingWait::For(Duration::from_millis(1500))),
                    "{command:?}"
                );
            }
            seen += 1;
        }
        assert!(seen >= 10, "only {seen} blocking commands in the table");
        for info in all().iter().filter(|info| !info.is_blocking()) {
            assert_eq!(info.blocking_timeout, None, "{}", info.name);
        }
    }

    #[test]
    fn blocking_waits_follow_the_arguments() {
        let blpop = |timeout: &str| wait(cmd("BLPOP").key("a").key("b").arg(timeout));
        assert_eq!(blpop("0"), Some(BlockingWait::Forever));
        assert_eq!(
            blpop("0.25"),
            Some(BlockingWait::For(Duration::from_millis(250)))
        );
        // What no duration holds is refused by the server at once: no wait of its own.
        for odd in ["inf", "-1", "nan", "1e300", "soon"] {
            assert_eq!(blpop(odd), Some(BlockingWait::For(Duration::ZERO)), "{odd}");
        }
        assert_eq!(
            wait(cmd("blmpop").arg(2).arg(1).key("k").arg("LEFT")),
            Some(BlockingWait::For(Duration::from_secs(2)))
        );
        assert_eq!(
            wait(cmd("WAIT").arg(1).arg(250)),
            Some(BlockingWait::For(Duration::from_millis(250)))
        );
        // XREAD blocks only with BLOCK, and a stream named BLOCK is no keyword.
        assert_eq!(wait(cmd("XREAD").arg("STREAMS").key("s").arg("0")), None);
        assert_eq!(
            wait(cmd("XREAD").arg("STREAMS").key("BLOCK").arg("0")),
            None
        );
        assert_eq!(
            wait(
                cmd("xreadgroup")
                    .arg("GROUP")
                    .arg("g")
                    .arg("c")
                    .arg("block")
                    .arg(0)
                    .arg("STREAMS")
                    .key("s")
                    .arg(">")
            ),
            Some(BlockingWait::Forever)
        );
        for name in ["GET", "PING", "BITCOUNT", "WATCH", "XADD"] {
            assert_eq!(wait(&cmd(name)), None, "{name}");
        }
        assert_eq!(wait(&Cmd::new()), None);
        assert_eq!(
            BlockingWait::For(Duration::MAX).then(BlockingWait::For(Duration::MAX)),
            BlockingWait::For(Duration::MAX)
        );
        assert_eq!(
            BlockingWait::For(Duration::MAX).plus(Duration::MAX),
            Some(Duration::MAX)
        );
    }
}
