//! Where a command goes in a cluster, decided from its table entry alone: the slot of
//! its keys (by the key specs, hash tags honoured), its `request_policy` tip for a
//! keyless one; a `multi_shard` command split per slot; and how the replies of several
//! nodes merge, by its `response_policy` tip.

use std::collections::BTreeMap;

use crate::cmd::Cmd;
use crate::commands::slot::key_slot;
use crate::connection::info::NodeAddr;
use crate::error::{Error, ErrorKind, Result};
use crate::table::{BeginSearch, CommandInfo, FindKeys, RequestPolicy, ResponsePolicy};
use crate::value::{ServerError, Value};

/// Where a command goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// To the shard serving this slot.
    Slot(u16),
    /// Keyless, with no tip: to any primary.
    AnyPrimary,
    /// To every primary (`ALL_SHARDS`).
    AllPrimaries,
    /// To every node (`ALL_NODES`).
    AllNodes,
    /// Split per slot (`MULTI_SHARD` over several slots).
    Split(Vec<Part>),
}

/// One slot's share of a split command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub(crate) slot: u16,
    pub(crate) cmd: Cmd,
    /// Where each of this part's keys stood among the command's keys.
    pub(crate) positions: Vec<usize>,
}

/// Where `cmd` goes. A command that is not `multi_shard` and whose keys map to several
/// slots is refused here, before anything is sent.
///
/// # Errors
///
/// [`ErrorKind::InvalidInput`] for keys in several slots, naming the slots.
pub(crate) fn route(cmd: &Cmd) -> Result<Route> {
    let info = cmd.info();
    // The usual case, one key right after the name: its slot, with nothing collected.
    if let Some(info) = info
        && single_key(info)
        && let Some(key) = cmd.args().nth(1)
    {
        return Ok(Route::Slot(key_slot(key)));
    }
    // The arguments once, so that finding each key is not a walk from the start.
    let args: Vec<&[u8]> = cmd.args().collect();
    let keys = key_positions(cmd, info, &args);
    let mut slots = keys
        .iter()
        .filter_map(|&idx| args.get(idx).map(|key| key_slot(key)));
    let Some(first) = slots.next() else {
        return match info.and_then(|info| info.request_policy) {
            Some(RequestPolicy::AllShards) => Ok(Route::AllPrimaries),
            Some(RequestPolicy::AllNodes) => Ok(Route::AllNodes),
            // SCAN: a cursor is one node's; the cluster's keys are scanned node by node.
            Some(RequestPolicy::Special) => Err(Error::invalid_input(format!(
                "{}: a cluster is scanned node by node; use the cluster's scan iterator \
                 (ClusterConnection::scan_iter), or send it to one node",
                name_of(cmd)
            ))),
            _ => Ok(Route::AnyPrimary),
        };
    };
    let mut other = None;
    for slot in slots {
        if slot != first {
            other = Some(slot);
            break;
        }
    }
    let Some(other) = other else {
        return Ok(Route::Slot(first));
    };
    let info = info.filter(|info| info.request_policy == Some(RequestPolicy::MultiShard));
    match info.and_then(|info| split(info, &args, &keys)) {
        Some(parts) => Ok(Route::Split(parts)),
        None => Err(cross_slot(cmd, first, other)),
    }
}

/// The error for a command whose keys map to several slots.
pub(crate) fn cross_slot(cmd: &Cmd, first: u16, other: u16) -> Error {
    let name = cmd
        .info()
        .map_or_else(|| name_of(cmd), |info| info.name.to_owned());
    Error::invalid_input(format!(
        "{name}: its keys map to different slots ({first} and {other}); in a cluster the keys \
         of one command must share a slot (use a hash tag: {{user1}}.a, {{user1}}.b)"
    ))
}

fn name_of(cmd: &Cmd) -> String {
    cmd.args()
        .next()
        .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
        .unwrap_or_default()
}

/// The positions of `cmd`'s keys among its arguments `args`: by the key specs when the
/// table knows the command, else (or when the specs find none) by the arguments marked
/// as keys.
fn key_positions(cmd: &Cmd, info: Option<&CommandInfo>, args: &[&[u8]]) -> Vec<usize> {
    if let Some(info) = info {
        let keys = info.key_indices(args);
        if !keys.is_empty() {
            return keys;
        }
    }
    (0..args.len()).filter(|&idx| cmd.is_key(idx)).collect()
}

/// `true` for a command whose one key is its first argument (`GET`, `INCR`, `HSET`).
fn single_key(info: &CommandInfo) -> bool {
    matches!(
        info.key_specs,
        [spec] if spec.begin_search == BeginSearch::Index(1)
            && matches!(spec.find_keys, FindKeys::Range { last_key: 0, .. })
    ) && info.key_rule.is_none()
}

/// The slots of `cmd`'s keys, each once, in order.
pub(crate) fn slots_of(cmd: &Cmd) -> Vec<u16> {
    let args: Vec<&[u8]> = cmd.args().collect();
    let mut slots: Vec<u16> = Vec::new();
    for idx in key_positions(cmd, cmd.info(), &args) {
        if let Some(slot) = args.get(idx).map(|key| key_slot(key))
            && !slots.contains(&slot)
        {
            slots.push(slot);
        }
    }
    slots
}

/// Splits a `multi_shard` command per slot: each part has the arguments before the keys
/// (a key count set to the part's), its own key groups (a key and what follows it up to
/// the next, as `MSET`'s values), and the arguments after the keys. `None` when the key
/// specs do not describe the keys as evenly spaced groups.
fn split(info: &'static CommandInfo, args: &[&[u8]], keys: &[usize]) -> Option<Vec<Part>> {
    let [spec] = info.key_specs else {
        return None;
    };
    let (step, count_at) = match (spec.begin_search, spec.find_keys) {
        (BeginSearch::Index(_), FindKeys::Range { step, .. }) => (step, None),
        (
            BeginSearch::Index(begin),
            FindKeys::KeyNum {
                key_num_idx, step, ..
            },
        ) => (step, Some(begin + key_num_idx)),
        _ => return None,
    };
    let (&first, &last) = (keys.first()?, keys.last()?);
    let end = last + step;
    if step == 0
        || end > args.len()
        || keys
            .windows(2)
            .any(|w| matches!(w, [a, b] if b - a != step))
    {
        return None;
    }
    let mut by_slot: BTreeMap<u16, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for (position, &idx) in keys.iter().enumerate() {
        let slot = key_slot(args.get(idx)?);
        let (groups, positions) = by_slot.entry(slot).or_default();
        groups.push(idx);
        positions.push(position);
    }
    let parts = by_slot
        .into_iter()
        .map(|(slot, (groups, positions))| {
            let mut part = Cmd::new();
            for (idx, arg) in args.iter().enumerate().take(first) {
                if Some(idx) == count_at {
                    part.arg(groups.len());
                } else {
                    part.arg(*arg);
                }
            }
            for &key in &groups {
                part.key(args.get(key).copied().unwrap_or_default());
                for arg in args.get(key + 1..key + step).unwrap_or_default() {
                    part.arg(*arg);
                }
            }
            for arg in args.get(end..).unwrap_or_default() {
                part.arg(*arg);
            }
            part.set_info(info);
            Part {
                slot,
                cmd: part,
                positions,
            }
        })
        .collect();
    Some(parts)
}

/// Puts a split command's replies together: each part's array in its keys' places
/// (`MGET`), or merged by the command's response policy (`DEL`'s sum, `MSET`'s all
/// succeeded).
pub(crate) fn merge_split(
    info: Option<&CommandInfo>,
    parts: &[Part],
    replies: Vec<Value>,
) -> Value {
    if let Some(policy) = info.and_then(|info| info.response_policy) {
        return merge(policy, replies);
    }
    if let Some(error) = first_error(&replies) {
        return error;
    }
    let total = parts.iter().map(|p| p.positions.len()).sum();
    let mut placed = vec![Value::Nil; total];
    for (part, reply) in parts.iter().zip(replies) {
        let Value::Array(items) = reply else {
            return reply;
        };
        for (&position, item) in part.positions.iter().zip(items) {
            if let Some(place) = placed.get_mut(position) {
                *place = item;
            }
        }
    }
    Value::Array(placed)
}

/// Merges the replies of every node a command fanned out to, by its response policy;
/// see [`merge`]. `Special` replies (`INFO`, `MEMORY STATS`, `LATENCY` and `FUNCTION
/// STATS`) come back as a map of each node's address to its reply; `RANDOMKEY` as one of
/// the keys the nodes gave; `PUBSUB NUMSUB` and `SHARDNUMSUB` with each channel's counts
/// summed. A command with no policy gets its nodes' arrays joined (`KEYS`), each element
/// once when their order means nothing (`PUBSUB CHANNELS`), or the first reply when they
/// are not arrays.
pub(crate) fn merge_nodes(info: Option<&CommandInfo>, replies: Vec<(NodeAddr, Value)>) -> Value {
    let name = info.map_or("", |info| info.name);
    match info.and_then(|info| info.response_policy) {
        Some(ResponsePolicy::Special) if name.ends_with("NUMSUB") => {
            let replies: Vec<Value> = replies.into_iter().map(|(_, v)| v).collect();
            sum_per_channel(replies)
        }
        Some(ResponsePolicy::Special) if name == "RANDOMKEY" => {
            let keys: Vec<Value> = replies.into_iter().map(|(_, v)| v).collect();
            if let Some(error) = first_error(&keys) {
                return error;
            }
            let mut keys: Vec<Value> = keys.into_iter().filter(|v| !v.is_nil()).collect();
            if keys.is_empty() {
                return Value::Nil;
            }
            let pick = crate::retry::random_u64() as usize % keys.len();
            keys.swap_remove(pick)
        }
        Some(ResponsePolicy::Special) => Value::Map(
            replies
                .into_iter()
                .map(|(addr, reply)| (Value::BulkString(addr.to_string().into()), reply))
                .collect(),
        ),
        Some(policy) => merge(policy, replies.into_iter().map(|(_, v)| v).collect()),
        None => {
            let replies: Vec<Value> = replies.into_iter().map(|(_, v)| v).collect();
            if let Some(error) = first_error(&replies) {
                return error;
            }
            if replies
                .iter()
                .all(|r| matches!(r, Value::Array(_) | Value::Set(_)))
            {
                let mut joined: Vec<Value> = Vec::new();
                let unordered = info.is_some_and(|info| info.nondeterministic_output_order);
                for item in replies.into_iter().flat_map(|r| match r {
                    Value::Array(items) | Value::Set(items) => items,
                    _ => Vec::new(),
                }) {
                    if !(unordered && joined.contains(&item)) {
                        joined.push(item);
                    }
                }
                Value::Array(joined)
            } else {
                replies.into_iter().next().unwrap_or(Value::Nil)
            }
        }
    }
}

/// `PUBSUB NUMSUB`'s replies (`channel count ...`, flat or as a map) summed per channel,
/// the channels in the order of the first reply.
fn sum_per_channel(replies: Vec<Value>) -> Value {
    if let Some(error) = first_error(&replies) {
        return error;
    }
    let mut counts: Vec<(Value, i64)> = Vec::new();
    for reply in replies {
        let pairs = match reply {
            Value::Map(pairs) => pairs,
            Value::Array(flat) => {
                let mut flat = flat.into_iter();
                let mut pairs = Vec::new();
                while let (Some(channel), Some(count)) = (flat.next(), flat.next()) {
                    pairs.push((channel, count));
                }
                pairs
            }
            other => return other,
        };
        for (channel, count) in pairs {
            let Value::Int(count) = count else {
                return count;
            };
            match counts.iter_mut().find(|(c, _)| *c == channel) {
                Some((_, total)) => *total = total.saturating_add(count),
                None => counts.push((channel, count)),
            }
        }
    }
    Value::Array(
        counts
            .into_iter()
            .flat_map(|(channel, count)| [channel, Value::Int(count)])
            .collect(),
    )
}

/// Merges replies by a response policy: `OneSucceeded` gives the first success (else the
/// first error); `AllSucceeded` the first error, else the first reply; the aggregates
/// work on integers, and on arrays of them element by element (`SCRIPT EXISTS`).
pub(crate) fn merge(policy: ResponsePolicy, replies: Vec<Value>) -> Value {
    match policy {
        ResponsePolicy::OneSucceeded => {
            let mut first_error = None;
            for reply in replies {
                if matches!(reply, Value::ServerError(_)) {
                    first_error.get_or_insert(reply);
                } else {
                    return reply;
                }
            }
            first_error.unwrap_or(Value::Nil)
        }
        ResponsePolicy::AllSucceeded | ResponsePolicy::Special => first_error(&replies)
            .unwrap_or_else(|| replies.into_iter().next().unwrap_or(Value::Nil)),
        ResponsePolicy::AggSum => aggregate(replies, i64::saturating_add),
        ResponsePolicy::AggMin => aggregate(replies, i64::min),
        ResponsePolicy::AggMax => aggregate(replies, i64::max),
        ResponsePolicy::AggLogicalAnd => aggregate(replies, |a, b| i64::from(a != 0 && b != 0)),
        ResponsePolicy::AggLogicalOr => aggregate(replies, |a, b| i64::from(a != 0 || b != 0)),
    }
}

fn aggregate(replies: Vec<Value>, op: impl Fn(i64, i64) -> i64 + Copy) -> Value {
    if let Some(error) = first_error(&replies) {
        return error;
    }
    let mut replies = replies.into_iter();
    let Some(first) = replies.next() else {
        return Value::Nil;
    };
    replies
        .try_fold(first, |acc, next| combine(acc, next, op))
        .unwrap_or_else(|bad| {
            Value::ServerError(ServerError::new(format!(
                "ERR the nodes' replies cannot be aggregated: {bad:?}"
            )))
        })
}

fn combine(acc: Value, next: Value, op: impl Fn(i64, i64) -> i64 + Copy) -> Result<Value, Value> {
    match (acc, next) {
        (Value::Int(a), Value::Int(b)) => Ok(Value::Int(op(a, b))),
        (Value::Boolean(a), Value::Boolean(b)) => Ok(Value::Boolean(op(a.into(), b.into()) != 0)),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .into_iter()
            .zip(b)
            .map(|(x, y)| combine(x, y, op))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (_, other) => Err(other),
    }
}

fn first_error(replies: &[Value]) -> Option<Value> {
    replies
        .iter()
        .find(|r| matches!(r, Value::ServerError(_)))
        .cloned()
}

/// The error for a command no shard can take: its slot is not served.
pub(crate) fn uncovered(slot: u16) -> Error {
    Error::new(
        ErrorKind::Connection,
        format!("no node of the cluster serves slot {slot}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::cmd;

    fn words(cmd: &Cmd) -> String {
        let words: Vec<_> = cmd.args().map(String::from_utf8_lossy).collect();
        words.join(" ")
    }

    #[test]
    fn keys_route_by_slot_and_hash_tags_keep_them_together() {
        let get = cmd("GET").arg("{user1}.name").clone();
        assert_eq!(route(&get).unwrap(), Route::Slot(key_slot(b"user1")));
        let rename = cmd("RENAME").arg("{u}a").arg("{u}b").clone();
        assert_eq!(route(&rename).unwrap(), Route::Slot(key_slot(b"u")));
        // XREAD's keys follow STREAMS; its ids are not keys.
        let xread = cmd("XREAD")
            .arg("COUNT")
            .arg(1)
            .arg("STREAMS")
            .arg("s")
            .arg("0")
            .clone();
        assert_eq!(route(&xread).unwrap(), Route::Slot(key_slot(b"s")));
    }

    #[test]
    fn keyless_commands_follow_their_tips() {
        assert_eq!(route(&cmd("DBSIZE")).unwrap(), Route::AllPrimaries);
        assert_eq!(route(&cmd("CONFIG SET")).unwrap(), Route::AllNodes);
        assert_eq!(
            route(&cmd("ECHO").arg("x").clone()).unwrap(),
            Route::AnyPrimary
        );
        // EVAL with no keys has no slot.
        let eval = cmd("EVAL").arg("return 1").arg(0).clone();
        assert_eq!(route(&eval).unwrap(), Route::AnyPrimary);
    }

    #[test]
    fn keys_in_several_slots_are_refused_before_sending_naming_the_slots() {
        let rename = cmd("RENAME").arg("a").arg("b").clone();
        let e = route(&rename).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let text = e.to_string();
        assert!(text.contains("RENAME"), "{text}");
        assert!(text.contains(&key_slot(b"a").to_string()), "{text}");
        assert!(text.contains(&key_slot(b"b").to_string()), "{text}");
    }

    #[test]
    fn multi_shard_commands_split_per_slot_and_merge_in_order() {
        let (a, b) = ("{a}1", "{b}1");
        let mget = cmd("MGET").arg(a).arg(b).arg("{a}2").clone();
        let Route::Split(parts) = route(&mget).unwrap() else {
            panic!("split")
        };
        assert_eq!(parts.len(), 2);
        let part_a = parts.iter().find(|p| p.slot == key_slot(b"a")).unwrap();
        assert_eq!(words(&part_a.cmd), "MGET {a}1 {a}2");
        assert_eq!(part_a.positions, [0, 2]);
        let replies: Vec<Value> = parts
            .iter()
            .map(|p| Value::Array(p.positions.iter().map(|&i| Value::Int(i as i64)).collect()))
            .collect();
        assert_eq!(
            merge_split(mget.info(), &parts, replies),
            Value::Array(vec![Value::Int(0), Value::Int(1), Value::Int(2)])
        );

        let mset = cmd("MSET").arg(a).arg(1).arg(b).arg(2).clone();
        let Route::Split(parts) = route(&mset).unwrap() else {
            panic!("split")
        };
        let texts: Vec<String> = parts.iter().map(|p| words(&p.cmd)).collect();
        assert!(texts.contains(&"MSET {a}1 1".to_owned()), "{texts:?}");
        assert!(texts.contains(&"MSET {b}1 2".to_owned()), "{texts:?}");

        let del = cmd("DEL").arg(a).arg(b).clone();
        let Route::Split(parts) = route(&del).unwrap() else {
            panic!("split")
        };
        let summed = merge_split(del.info(), &parts, vec![Value::Int(1), Value::Int(1)]);
        assert_eq!(summed, Value::Int(2));
    }

    #[test]
    fn a_counted_key_list_is_recounted_per_part() {
        let msetex = cmd("MSETEX")
            .arg(2)
            .arg("{a}1")
            .arg("x")
            .arg("{b}1")
            .arg("y")
            .arg("EX")
            .arg(10)
            .clone();
        if msetex
            .info()
            .is_none_or(|i| i.request_policy != Some(RequestPolicy::MultiShard))
        {
            return;
        }
        let Route::Split(parts) = route(&msetex).unwrap() else {
            panic!("split")
        };
        let texts: Vec<String> = parts.iter().map(|p| words(&p.cmd)).collect();
        assert!(
            texts.contains(&"MSETEX 1 {a}1 x EX 10".to_owned()),
            "{texts:?}"
        );
    }

    #[test]
    fn replies_merge_by_policy() {
        use ResponsePolicy as P;
        let err = || Value::ServerError(ServerError::new("ERR no"));
        assert_eq!(
            merge(P::AggSum, vec![Value::Int(2), Value::Int(3)]),
            Value::Int(5)
        );
        assert_eq!(
            merge(P::AggMin, vec![Value::Int(2), Value::Int(3)]),
            Value::Int(2)
        );
        let exists = |a: i64, b: i64| Value::Array(vec![Value::Int(a), Value::Int(b)]);
        assert_eq!(
            merge(P::AggLogicalAnd, vec![exists(1, 1), exists(1, 0)]),
            exists(1, 0)
        );
        assert_eq!(
            merge(P::OneSucceeded, vec![err(), Value::Int(1)]),
            Value::Int(1)
        );
        assert_eq!(merge(P::AllSucceeded, vec![Value::Int(1), err()]), err());
        assert!(matches!(
            merge(P::AggSum, vec![Value::Int(1), Value::Nil]),
            Value::ServerError(_)
        ));
        let a = NodeAddr {
            host: "h".into(),
            port: 1,
        };
        let keys = |v: Vec<&str>| {
            Value::Array(
                v.into_iter()
                    .map(|s| Value::BulkString(s.to_owned().into()))
                    .collect(),
            )
        };
        let joined = merge_nodes(
            crate::table::lookup(b"KEYS", None),
            vec![(a.clone(), keys(vec!["x"])), (a.clone(), keys(vec!["y"]))],
        );
        assert_eq!(joined, keys(vec!["x", "y"]));
        let info = merge_nodes(
            crate::table::lookup(b"INFO", None),
            vec![(a.clone(), Value::Int(1))],
        );
        assert_eq!(
            info,
            Value::Map(vec![(Value::BulkString("h:1".into()), Value::Int(1))])
        );
    }
}
