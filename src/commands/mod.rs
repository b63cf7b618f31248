//! The command surface, generated from the spec (`commands.json`).
//!
//! - [`Commands`] (sync), [`AsyncCommands`] and the chainable methods of
//!   [`Pipeline`](crate::Pipeline): one typed method per command, plus an `_options` twin
//!   taking an options type (`SetOptions`, `ZrangeOptions`...) where the command has
//!   optional arguments.
//! - One function per command building its [`Cmd`](crate::Cmd): `commands::get("k")`.
//! - The options, choices (`oneof`) and blocks of arguments, as types.
//! - [`SentinelCommands`] and [`AsyncSentinelCommands`] for the commands only a Sentinel
//!   answers.
//! - The command table ([`lookup`], [`lookup_cmd`], [`CommandInfo`]) with flags, key specs and
//!   cluster routing tips, and key extraction ([`CommandInfo::key_indices`]).
//!
//! Everything under `generated/` is written by `cargo xtask codegen`; nothing there is
//! edited by hand. A few commands have no typed method, each for a reason recorded in
//! `spec/overrides.json` (the subscribe family and `MONITOR` belong to dedicated objects,
//! replication internals are not for clients...); [`cmd`](crate::cmd) still sends them.
//!
//! # Arguments
//!
//! Keys and values take `impl ToRedisArgs`: one value, or any collection of them where
//! the command takes several (`con.del(&["a", "b"])`). Integers and Unix times are
//! `i64`, doubles `f64`. A choice (`oneof`) is an enum; a group (`block`) is a struct or,
//! where all its fields are required, a run of parameters. Repeated groups of plain
//! fields take tuples: `con.zadd("z", &[(1.0, "a"), (2.0, "b")])`. A count of what
//! follows (`numkeys`, `numfields`) is never passed: it is counted from the keys, fields
//! or pairs themselves. Arguments go on the wire in the spec's order.
//!
//! Commands and arguments a newer server added than the vendored spec knows were taken
//! from a live server (`spec/live/`); their docs say so.

#[rustfmt::skip]
#[path = "generated/asynch.rs"]
mod asynch;
pub mod slot;
#[rustfmt::skip]
#[path = "generated/constructors.rs"]
mod constructors;
#[rustfmt::skip]
#[path = "generated/pipeline.rs"]
mod pipeline;
#[rustfmt::skip]
#[path = "generated/sync.rs"]
mod sync;
#[rustfmt::skip]
#[path = "generated/types.rs"]
mod types;

pub use crate::table::{
    ArgPosition, BeginSearch, BlockingTimeout, CommandFlags, CommandInfo, ConnectionState,
    FindKeys, KeyRule, KeySpec, KeySpecFlags, RequestPolicy, ResponsePolicy, TimeUnit, all, lookup,
};
pub use asynch::{AsyncCommands, AsyncSentinelCommands};
pub use constructors::*;
pub use sync::{Commands, SentinelCommands};

/// The table entry of a command: [`Cmd::info`](crate::Cmd::info).
#[must_use]
pub fn lookup_cmd(cmd: &crate::Cmd) -> Option<&'static CommandInfo> {
    cmd.info()
}
pub use types::*;
