//! Entries learned from a server's `COMMAND INFO`, for the commands the generated table
//! does not know: a module's (`JSON.GET`), or a server's newer than the spec.
//!
//! A learned entry has what `COMMAND INFO` says: arity, flags, key specs, tips and
//! whether it has subcommands. It cannot say where a blocking command's timeout is, nor
//! what a command changes of its connection; those stay unknown. Entries live for the
//! rest of the process, as the generated ones do: each name is learned (and its entry
//! allocated) once, and [`lookup`](super::lookup) finds it from then on.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use super::{
    BeginSearch, CommandFlags, CommandInfo, FindKeys, KeySpec, KeySpecFlags, RequestPolicy,
    ResponsePolicy,
};
use crate::error::{Error, ErrorKind, Result};
use crate::types::into_pairs;
use crate::value::Value;

/// The entries learned so far, by their name in upper case (`JSON.GET`, `CONFIG GET`).
static LEARNED: RwLock<BTreeMap<String, &'static CommandInfo>> = RwLock::new(BTreeMap::new());

/// The learned entry of a command, by its name (and subcommand), in any case.
pub(super) fn find(name: &[u8], sub: Option<&[u8]>) -> Option<&'static CommandInfo> {
    let learned = LEARNED.read().unwrap_or_else(PoisonError::into_inner);
    if learned.is_empty() {
        return None;
    }
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    if let Some(sub) = sub {
        let full = format!(
            "{name} {}",
            String::from_utf8_lossy(sub).to_ascii_uppercase()
        );
        if let Some(info) = learned.get(&full) {
            return Some(info);
        }
    }
    learned.get(&name).copied()
}

impl CommandInfo {
    /// Learns the entries of a `COMMAND INFO` reply (RESP2 or RESP3), subcommands
    /// included, for the commands the generated table does not know: from then on
    /// [`lookup`](crate::commands::lookup) finds them, and so does every command built
    /// for them with [`cmd`](crate::cmd). The entries of commands asked about that the
    /// server does not know (nil) are left out. A name learned before keeps its first
    /// entry.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Protocol`] when the reply is not shaped as `COMMAND INFO` answers.
    pub fn learn(reply: Value) -> Result<Vec<&'static CommandInfo>> {
        let entries = match reply {
            Value::Array(entries) | Value::Set(entries) => entries,
            other => return Err(malformed(&format!("expected an array, got {other:?}"))),
        };
        let mut learned = Vec::new();
        for entry in entries {
            if entry != Value::Nil {
                learn_entry(entry, &mut learned)?;
            }
        }
        Ok(learned)
    }
}

/// Learns one entry and its subcommands, appending them to `learned`.
fn learn_entry(entry: Value, learned: &mut Vec<&'static CommandInfo>) -> Result<()> {
    let Value::Array(fields) = entry else {
        return Err(malformed("an entry is not an array"));
    };
    let mut fields = fields.into_iter();
    let mut next = |what: &str| {
        fields
            .next()
            .ok_or_else(|| malformed(&format!("an entry has no {what}")))
    };
    let name = text(&next("name")?)?.replace('|', " ").to_ascii_uppercase();
    let Value::Int(arity) = next("arity")? else {
        return Err(malformed(&format!("{name}: the arity is not an integer")));
    };
    let flags = strings(next("flags")?)?
        .iter()
        .fold(CommandFlags::EMPTY, |set, flag| {
            set.union(command_flag(flag))
        });
    // First key, last key and step: the key specs say it better.
    for what in ["first key", "last key", "step", "ACL categories"] {
        next(what)?;
    }
    let tips = strings(next("tips")?)?;
    let key_specs = match next("key specs")? {
        Value::Array(specs) | Value::Set(specs) => specs
            .into_iter()
            .map(|spec| key_spec(spec, &name))
            .collect::<Result<Vec<_>>>()?,
        _ => {
            return Err(malformed(&format!(
                "{name}: the key specs are not an array"
            )));
        }
    };
    let subcommands = match fields.next() {
        Some(Value::Array(subs) | Value::Set(subs)) => subs,
        _ => Vec::new(),
    };
    let policy = |prefix: &str| {
        tips.iter().find_map(|tip| {
            tip.to_ascii_lowercase()
                .strip_prefix(prefix)
                .map(str::to_owned)
        })
    };
    let info = CommandInfo {
        name: leak(name.clone()),
        arity: i32::try_from(arity).unwrap_or(0),
        flags,
        key_specs: Box::leak(key_specs.into_boxed_slice()),
        request_policy: policy("request_policy:").and_then(|p| request_policy(&p)),
        response_policy: policy("response_policy:").and_then(|p| response_policy(&p)),
        nondeterministic_output: tips
            .iter()
            .any(|t| t.eq_ignore_ascii_case("nondeterministic_output")),
        nondeterministic_output_order: tips
            .iter()
            .any(|t| t.eq_ignore_ascii_case("nondeterministic_output_order")),
        group: "",
        since: "",
        blocking_timeout: None,
        subcommands: !subcommands.is_empty(),
        connection_state: None,
        key_rule: None,
    };
    {
        let mut table = LEARNED.write().unwrap_or_else(PoisonError::into_inner);
        let entry = *table
            .entry(name)
            .or_insert_with(|| Box::leak(Box::new(info)));
        learned.push(entry);
    }
    for sub in subcommands {
        learn_entry(sub, learned)?;
    }
    Ok(())
}

/// One key spec: a map (RESP3) or flat pairs (RESP2) of `flags`, `begin_search` and
/// `find_keys`.
fn key_spec(spec: Value, command: &str) -> Result<KeySpec> {
    let mut flags = KeySpecFlags::EMPTY;
    let mut begin_search = BeginSearch::Unknown;
    let mut find_keys = FindKeys::Unknown;
    for (field, value) in pairs(spec, command)? {
        match text(&field)?.as_str() {
            "flags" => {
                for flag in strings(value)? {
                    flags = flags.union(key_spec_flag(&flag));
                }
            }
            "begin_search" => {
                let (kind, spec) = typed_spec(value, command)?;
                let int = |name: &str| int_field(&spec, name, command);
                begin_search = match kind.as_str() {
                    "index" => BeginSearch::Index(usize::try_from(int("index")?).unwrap_or(0)),
                    "keyword" => BeginSearch::Keyword {
                        keyword: leak(str_field(&spec, "keyword", command)?),
                        start_from: int("startfrom")? as isize,
                    },
                    _ => BeginSearch::Unknown,
                };
            }
            "find_keys" => {
                let (kind, spec) = typed_spec(value, command)?;
                let int = |name: &str| int_field(&spec, name, command);
                find_keys = match kind.as_str() {
                    "range" => FindKeys::Range {
                        last_key: int("lastkey")? as isize,
                        step: int("keystep")? as usize,
                        limit: int("limit")? as usize,
                    },
                    "keynum" => FindKeys::KeyNum {
                        key_num_idx: int("keynumidx")? as usize,
                        first_key: int("firstkey")? as usize,
                        step: int("keystep")? as usize,
                    },
                    _ => FindKeys::Unknown,
                };
            }
            _ => {}
        }
    }
    Ok(KeySpec {
        flags,
        begin_search,
        find_keys,
    })
}

/// A `begin_search` or `find_keys` object: its `type` and the pairs of its `spec`.
fn typed_spec(value: Value, command: &str) -> Result<(String, Vec<(String, Value)>)> {
    let mut kind = String::new();
    let mut spec = Vec::new();
    for (field, value) in pairs(value, command)? {
        match text(&field)?.as_str() {
            "type" => kind = text(&value)?,
            "spec" => {
                for (name, value) in pairs(value, command)? {
                    spec.push((text(&name)?, value));
                }
            }
            _ => {}
        }
    }
    Ok((kind, spec))
}

fn int_field(spec: &[(String, Value)], name: &str, command: &str) -> Result<i64> {
    match spec.iter().find(|(field, _)| field == name) {
        Some((_, Value::Int(n))) => Ok(*n),
        _ => Err(malformed(&format!(
            "{command}: a key spec has no integer {name}"
        ))),
    }
}

fn str_field(spec: &[(String, Value)], name: &str, command: &str) -> Result<String> {
    match spec.iter().find(|(field, _)| field == name) {
        Some((_, value)) => text(value),
        None => Err(malformed(&format!("{command}: a key spec has no {name}"))),
    }
}

fn pairs(value: Value, command: &str) -> Result<Vec<(Value, Value)>> {
    into_pairs::<CommandInfo>(value)
        .map_err(|e| malformed(&format!("{command}: a key spec is not pairs: {e}")))
}

fn text(value: &Value) -> Result<String> {
    match value {
        Value::SimpleString(s) | Value::BulkString(s) => {
            Ok(String::from_utf8_lossy(s).into_owned())
        }
        other => Err(malformed(&format!("expected a string, got {other:?}"))),
    }
}

fn strings(value: Value) -> Result<Vec<String>> {
    match value {
        Value::Array(items) | Value::Set(items) => items.iter().map(text).collect(),
        other => Err(malformed(&format!(
            "expected an array of strings, got {other:?}"
        ))),
    }
}

/// A command flag by the name `COMMAND INFO` gives it (`readonly`); flags the table has
/// no bit for (`module`) are dropped.
fn command_flag(name: &str) -> CommandFlags {
    let known: &[(&str, CommandFlags)] = &[
        ("stale", CommandFlags::STALE),
        ("write", CommandFlags::WRITE),
        ("loading", CommandFlags::LOADING),
        ("fast", CommandFlags::FAST),
        ("noscript", CommandFlags::NOSCRIPT),
        ("readonly", CommandFlags::READONLY),
        ("admin", CommandFlags::ADMIN),
        ("sentinel", CommandFlags::SENTINEL),
        ("denyoom", CommandFlags::DENYOOM),
        ("only_sentinel", CommandFlags::ONLY_SENTINEL),
        ("no_async_loading", CommandFlags::NO_ASYNC_LOADING),
        ("allow_busy", CommandFlags::ALLOW_BUSY),
        ("pubsub", CommandFlags::PUBSUB),
        ("blocking", CommandFlags::BLOCKING),
        ("may_replicate", CommandFlags::MAY_REPLICATE),
        ("skip_monitor", CommandFlags::SKIP_MONITOR),
        ("no_mandatory_keys", CommandFlags::NO_MANDATORY_KEYS),
        ("no_multi", CommandFlags::NO_MULTI),
        ("no_auth", CommandFlags::NO_AUTH),
        ("protected", CommandFlags::PROTECTED),
        (
            "touches_arbitrary_keys",
            CommandFlags::TOUCHES_ARBITRARY_KEYS,
        ),
        ("skip_slowlog", CommandFlags::SKIP_SLOWLOG),
        ("asking", CommandFlags::ASKING),
    ];
    known
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map_or(CommandFlags::EMPTY, |(_, flag)| *flag)
}

/// A key spec flag by the name `COMMAND INFO` gives it (`RO`, `access`).
fn key_spec_flag(name: &str) -> KeySpecFlags {
    let known: &[(&str, KeySpecFlags)] = &[
        ("ro", KeySpecFlags::RO),
        ("rw", KeySpecFlags::RW),
        ("ow", KeySpecFlags::OW),
        ("rm", KeySpecFlags::RM),
        ("access", KeySpecFlags::ACCESS),
        ("update", KeySpecFlags::UPDATE),
        ("insert", KeySpecFlags::INSERT),
        ("delete", KeySpecFlags::DELETE),
        ("not_key", KeySpecFlags::NOT_KEY),
        ("incomplete", KeySpecFlags::INCOMPLETE),
        ("variable_flags", KeySpecFlags::VARIABLE_FLAGS),
    ];
    known
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map_or(KeySpecFlags::EMPTY, |(_, flag)| *flag)
}

fn request_policy(name: &str) -> Option<RequestPolicy> {
    Some(match name {
        "all_nodes" => RequestPolicy::AllNodes,
        "all_shards" => RequestPolicy::AllShards,
        "multi_shard" => RequestPolicy::MultiShard,
        "special" => RequestPolicy::Special,
        _ => return None,
    })
}

fn response_policy(name: &str) -> Option<ResponsePolicy> {
    Some(match name {
        "one_succeeded" => ResponsePolicy::OneSucceeded,
        "all_succeeded" => ResponsePolicy::AllSucceeded,
        "agg_logical_and" => ResponsePolicy::AggLogicalAnd,
        "agg_logical_or" => ResponsePolicy::AggLogicalOr,
        "agg_min" => ResponsePolicy::AggMin,
        "agg_max" => ResponsePolicy::AggMax,
        "agg_sum" => ResponsePolicy::AggSum,
        "special" => ResponsePolicy::Special,
        _ => return None,
    })
}

/// A string kept for the rest of the process, as a learned entry's fields are.
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn malformed(what: &str) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("unexpected COMMAND INFO reply: {what}"),
    )
}
