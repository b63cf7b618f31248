//! The slot map: which shard serves each of the 16,384 slots, with its primary and its
//! replicas, read from `CLUSTER SHARDS` (or `CLUSTER SLOTS` on servers before 7.0),
//! compared between the views of several nodes, and patched by a `MOVED` reply.

use std::collections::BTreeMap;

use crate::connection::info::NodeAddr;
use crate::error::{Error, ErrorKind, Result};
use crate::types::into_pairs;
use crate::value::Value;

/// The slots of a cluster.
pub(crate) const SLOTS: usize = 16_384;

/// A slot no shard serves.
const UNOWNED: u16 = u16::MAX;

/// One shard: the primary that takes writes for its slots, the replicas that may serve
/// reads (those the cluster reports online), and those still loading, which serve
/// nothing yet but run what goes to every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shard {
    pub(crate) primary: NodeAddr,
    pub(crate) replicas: Vec<NodeAddr>,
    pub(crate) loading: Vec<NodeAddr>,
}

/// Which shard serves each slot. Two views compare equal when they route every slot to
/// the same primary with the same replicas.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Topology {
    /// In the order of their first slot; replicas sorted.
    shards: Vec<Shard>,
    /// For each slot, its shard's index in `shards`, or [`UNOWNED`].
    owners: Box<[u16]>,
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topology")
            .field("shards", &self.shards)
            .field("uncovered", &self.uncovered())
            .finish_non_exhaustive()
    }
}

/// A shard and the slot ranges it serves.
type ShardRanges = (Vec<(u16, u16)>, Shard);

/// What a `MOVED` reply told about the slot map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Moved {
    /// The slot went to another shard the map knows: a migration, patched exactly.
    Migrated,
    /// A replica of the slot's shard took it over: a failover within the shard. Its
    /// other slots went with it, and the map was patched for all of them.
    Failover,
    /// To a node the map does not know: patched for this slot; the map needs reading
    /// again.
    Unknown,
}

impl Topology {
    /// A map with no shard: what a client knows before discovery.
    pub(crate) fn empty() -> Topology {
        Topology {
            shards: Vec::new(),
            owners: vec![UNOWNED; SLOTS].into_boxed_slice(),
        }
    }

    /// A map of the given shards and the slot ranges each serves. Ranges past the last
    /// slot are an error; overlapping ones go to the later shard.
    fn build(mut shards: Vec<ShardRanges>) -> Result<Topology> {
        shards.retain(|(ranges, _)| !ranges.is_empty());
        for (ranges, shard) in &mut shards {
            ranges.sort_unstable();
            for replicas in [&mut shard.replicas, &mut shard.loading] {
                replicas.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
                replicas.dedup();
            }
        }
        shards.sort_by_key(|(ranges, _)| ranges.first().map(|r| r.0));
        let mut owners = vec![UNOWNED; SLOTS].into_boxed_slice();
        for (idx, (ranges, _)) in shards.iter().enumerate() {
            for &(first, last) in ranges {
                let range = owners
                    .get_mut(usize::from(first)..=usize::from(last))
                    .filter(|_| first <= last)
                    .ok_or_else(|| malformed(&format!("the slot range {first}-{last}")))?;
                range.fill(idx as u16);
            }
        }
        Ok(Topology {
            shards: shards.into_iter().map(|(_, shard)| shard).collect(),
            owners,
        })
    }

    /// The map a `CLUSTER SHARDS` reply (RESP2 or RESP3) describes. `asked` is the node
    /// that sent it, whose address a node reported without one takes; `tls` picks the
    /// nodes' TLS ports.
    pub(crate) fn from_shards(reply: Value, asked: &NodeAddr, tls: bool) -> Result<Topology> {
        let Value::Array(entries) = reply else {
            return Err(malformed("CLUSTER SHARDS did not reply with an array"));
        };
        let mut shards = Vec::with_capacity(entries.len());
        for entry in entries {
            let mut ranges = Vec::new();
            let mut primaries: Vec<(NodeAddr, bool)> = Vec::new();
            let mut replicas = Vec::new();
            let mut loading = Vec::new();
            for (field, value) in into_pairs::<Topology>(entry)? {
                match text(&field).as_deref() {
                    Some("slots") => ranges = slot_ranges(value)?,
                    Some("nodes") => {
                        let Value::Array(nodes) = value else {
                            return Err(malformed("a shard's nodes are not an array"));
                        };
                        for node in nodes {
                            let node = ShardNode::read(node, asked, tls)?;
                            match (node.primary, node.health) {
                                (true, health) => {
                                    primaries.push((node.addr, health == Health::Online));
                                }
                                (false, Health::Online) => replicas.push(node.addr),
                                (false, Health::Loading) => loading.push(node.addr),
                                (false, Health::Failed) => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            // After a failover the old primary may be listed too, failed: the healthy one
            // serves.
            primaries.sort_by_key(|(_, online)| !online);
            let Some((primary, _)) = primaries.into_iter().next() else {
                if ranges.is_empty() {
                    continue;
                }
                return Err(malformed("a shard serves slots but has no primary"));
            };
            shards.push((
                ranges,
                Shard {
                    primary,
                    replicas,
                    loading,
                },
            ));
        }
        Topology::build(shards)
    }

    /// The map a `CLUSTER SLOTS` reply describes: for each range, the primary then its
    /// replicas.
    pub(crate) fn from_slots(reply: Value, asked: &NodeAddr) -> Result<Topology> {
        let Value::Array(entries) = reply else {
            return Err(malformed("CLUSTER SLOTS did not reply with an array"));
        };
        let mut by_primary: BTreeMap<(String, u16), ShardRanges> = BTreeMap::new();
        for entry in entries {
            let Value::Array(fields) = entry else {
                return Err(malformed("a CLUSTER SLOTS entry is not an array"));
            };
            let mut fields = fields.into_iter();
            let (Some(first), Some(last)) = (fields.next(), fields.next()) else {
                return Err(malformed("a CLUSTER SLOTS entry has no range"));
            };
            let range = (slot(&first)?, slot(&last)?);
            let mut nodes = fields.map(|node| slots_node(node, asked));
            let primary = nodes
                .next()
                .ok_or_else(|| malformed("a CLUSTER SLOTS range has no primary"))??;
            let replicas = nodes.collect::<Result<Vec<_>>>()?;
            let (ranges, shard) = by_primary
                .entry((primary.host.clone(), primary.port))
                .or_insert_with(|| {
                    (
                        Vec::new(),
                        Shard {
                            primary,
                            replicas: Vec::new(),
                            loading: Vec::new(),
                        },
                    )
                });
            ranges.push(range);
            for replica in replicas {
                if !shard.replicas.contains(&replica) {
                    shard.replicas.push(replica);
                }
            }
        }
        Topology::build(by_primary.into_values().collect())
    }

    /// The shard serving `slot`.
    pub(crate) fn shard(&self, slot: u16) -> Option<&Shard> {
        let owner = *self.owners.get(usize::from(slot))?;
        self.shards.get(usize::from(owner))
    }

    /// The shards, in slot order.
    pub(crate) fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// Every node not failed: the primaries, then the replicas.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = &NodeAddr> {
        let primaries = self.shards.iter().map(|shard| &shard.primary);
        let replicas = self
            .shards
            .iter()
            .flat_map(|shard| shard.replicas.iter().chain(&shard.loading));
        primaries.chain(replicas)
    }

    /// How many slots no shard serves.
    pub(crate) fn uncovered(&self) -> usize {
        self.owners
            .iter()
            .filter(|&&owner| owner == UNOWNED)
            .count()
    }

    /// The first slots no shard serves, for an error message.
    pub(crate) fn uncovered_ranges(&self) -> String {
        let mut ranges = Vec::new();
        let mut start = None;
        for (slot, &owner) in self.owners.iter().enumerate().chain([(SLOTS, &0)]) {
            match (owner == UNOWNED && slot < SLOTS, start) {
                (true, None) => start = Some(slot),
                (false, Some(first)) => {
                    ranges.push(if first + 1 == slot {
                        first.to_string()
                    } else {
                        format!("{first}-{}", slot - 1)
                    });
                    start = None;
                }
                _ => {}
            }
        }
        let more = ranges.len().saturating_sub(4);
        ranges.truncate(4);
        if more > 0 {
            ranges.push(format!("and {more} more ranges"));
        }
        ranges.join(", ")
    }

    /// Gives every address the one `remap` makes of it (NAT, containers).
    pub(crate) fn remap(&mut self, remap: &dyn Fn(&NodeAddr) -> NodeAddr) {
        for shard in &mut self.shards {
            shard.primary = remap(&shard.primary);
            for replica in shard.replicas.iter_mut().chain(&mut shard.loading) {
                *replica = remap(replica);
            }
        }
    }

    /// Patches the map for a `MOVED slot addr` reply, telling a failover within the
    /// slot's shard (a replica of it now serves) from a migration (another shard's
    /// primary does).
    pub(crate) fn moved(&mut self, slot: u16, addr: &NodeAddr) -> Moved {
        let Some(&owner) = self.owners.get(usize::from(slot)) else {
            return Moved::Unknown;
        };
        if let Some(target) = self.shards.iter().position(|s| &s.primary == addr) {
            if let Some(place) = self.owners.get_mut(usize::from(slot)) {
                *place = target as u16;
            }
            return Moved::Migrated;
        }
        if let Some(shard) = self.shards.get_mut(usize::from(owner))
            && let Some(idx) = shard.replicas.iter().position(|r| r == addr)
        {
            // The old primary is down or a replica now; a refresh finds out which.
            let promoted = shard.replicas.remove(idx);
            shard.primary = promoted;
            return Moved::Failover;
        }
        self.shards.push(Shard {
            primary: addr.clone(),
            replicas: Vec::new(),
            loading: Vec::new(),
        });
        let idx = (self.shards.len() - 1) as u16;
        if let Some(place) = self.owners.get_mut(usize::from(slot)) {
            *place = idx;
        }
        Moved::Unknown
    }
}

/// The view most nodes agree on, among those that cover at least one slot: the one
/// given by the most nodes, the one covering more slots on a tie, the first given after
/// that.
pub(crate) fn agreed(views: Vec<Topology>) -> Option<(Topology, usize)> {
    let mut groups: Vec<(Topology, usize)> = Vec::new();
    for view in views {
        if view.uncovered() == SLOTS {
            continue;
        }
        match groups.iter_mut().find(|(seen, _)| *seen == view) {
            Some((_, count)) => *count += 1,
            None => groups.push((view, 1)),
        }
    }
    let mut best: Option<(Topology, usize)> = None;
    for (view, count) in groups {
        let better = best.as_ref().is_none_or(|(top, top_count)| {
            (count, SLOTS - view.uncovered()) > (*top_count, SLOTS - top.uncovered())
        });
        if better {
            best = Some((view, count));
        }
    }
    best
}

/// A node as `CLUSTER SHARDS` lists it.
struct ShardNode {
    addr: NodeAddr,
    primary: bool,
    health: Health,
}

/// A node's `health` in `CLUSTER SHARDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    Online,
    /// A replica still syncing (or one that has not replicated anything yet).
    Loading,
    Failed,
}

impl ShardNode {
    fn read(node: Value, asked: &NodeAddr, tls: bool) -> Result<ShardNode> {
        let (mut ip, mut endpoint, mut port, mut tls_port) = (None, None, None, None);
        let (mut primary, mut health) = (false, Health::Online);
        for (field, value) in into_pairs::<ShardNode>(node)? {
            match text(&field).as_deref() {
                Some("ip") => ip = text(&value),
                Some("endpoint") => endpoint = text(&value),
                Some("port") => port = Some(slot_port(&value)?),
                Some("tls-port") => tls_port = Some(slot_port(&value)?),
                Some("role") => primary = text(&value).as_deref() == Some("master"),
                Some("health") => {
                    health = match text(&value).as_deref() {
                        Some("online") => Health::Online,
                        Some("loading") => Health::Loading,
                        _ => Health::Failed,
                    };
                }
                _ => {}
            }
        }
        let host = [endpoint, ip]
            .into_iter()
            .flatten()
            .find(|host| !host.is_empty() && host != "?")
            .unwrap_or_else(|| asked.host.clone());
        let port = if tls {
            tls_port.or(port)
        } else {
            port.or(tls_port)
        };
        let port = port.ok_or_else(|| malformed("a node has no port"))?;
        Ok(ShardNode {
            addr: NodeAddr { host, port },
            primary,
            health,
        })
    }
}

/// A node of a `CLUSTER SLOTS` range: `[host, port, id, ...]`.
fn slots_node(node: Value, asked: &NodeAddr) -> Result<NodeAddr> {
    let Value::Array(fields) = node else {
        return Err(malformed("a CLUSTER SLOTS node is not an array"));
    };
    let mut fields = fields.iter();
    let host = fields.next().and_then(text).unwrap_or_default();
    let port = fields
        .next()
        .map(slot_port)
        .ok_or_else(|| malformed("a CLUSTER SLOTS node has no port"))??;
    let host = if host.is_empty() || host == "?" {
        asked.host.clone()
    } else {
        host
    };
    Ok(NodeAddr { host, port })
}

/// A shard's `slots`: a flat list of first and last slots.
fn slot_ranges(value: Value) -> Result<Vec<(u16, u16)>> {
    let Value::Array(bounds) = value else {
        return Err(malformed("a shard's slots are not an array"));
    };
    bounds
        .chunks(2)
        .map(|pair| match pair {
            [first, last] => Ok((slot(first)?, slot(last)?)),
            _ => Err(malformed("a shard's slots are not in pairs")),
        })
        .collect()
}

fn slot(value: &Value) -> Result<u16> {
    integer(value)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|&n| usize::from(n) < SLOTS)
        .ok_or_else(|| malformed(&format!("the slot {value:?}")))
}

fn slot_port(value: &Value) -> Result<u16> {
    integer(value)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| malformed(&format!("the port {value:?}")))
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) | Value::SimpleString(b) => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        Value::VerbatimString { text, .. } => Some(String::from_utf8_lossy(text).into_owned()),
        _ => None,
    }
}

fn malformed(what: &str) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("unexpected cluster topology reply: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.to_owned().into())
    }

    fn addr(port: u16) -> NodeAddr {
        NodeAddr {
            host: "127.0.0.1".into(),
            port,
        }
    }

    fn shard_node(port: u16, role: &str, health: &str) -> Value {
        Value::Array(vec![
            bulk("id"),
            bulk("abc"),
            bulk("port"),
            Value::Int(i64::from(port)),
            bulk("ip"),
            bulk("127.0.0.1"),
            bulk("endpoint"),
            bulk("127.0.0.1"),
            bulk("role"),
            bulk(role),
            bulk("health"),
            bulk(health),
        ])
    }

    fn shard(ranges: &[(i64, i64)], nodes: Vec<Value>) -> Value {
        let slots = ranges
            .iter()
            .flat_map(|&(a, b)| [Value::Int(a), Value::Int(b)])
            .collect();
        Value::Array(vec![
            bulk("slots"),
            Value::Array(slots),
            bulk("nodes"),
            Value::Array(nodes),
        ])
    }

    fn three_shards() -> Value {
        Value::Array(vec![
            shard(
                &[(5461, 10922)],
                vec![
                    shard_node(2, "master", "online"),
                    shard_node(5, "replica", "online"),
                ],
            ),
            shard(
                &[(0, 5460)],
                vec![
                    shard_node(1, "master", "online"),
                    shard_node(4, "replica", "online"),
                ],
            ),
            shard(
                &[(10923, 16383)],
                vec![
                    shard_node(3, "master", "online"),
                    shard_node(6, "replica", "failed"),
                ],
            ),
        ])
    }

    #[test]
    fn shards_are_read_in_slot_order_with_their_healthy_replicas() {
        let topology = Topology::from_shards(three_shards(), &addr(1), false).unwrap();
        assert_eq!(topology.uncovered(), 0);
        assert_eq!(topology.shard(0).unwrap().primary, addr(1));
        assert_eq!(topology.shard(5461).unwrap().primary, addr(2));
        assert_eq!(topology.shard(16383).unwrap().primary, addr(3));
        assert_eq!(topology.shard(0).unwrap().replicas, [addr(4)]);
        assert!(
            topology.shard(16383).unwrap().replicas.is_empty(),
            "a failed replica serves nothing"
        );
        assert_eq!(topology.nodes().count(), 5);
    }

    #[test]
    fn slots_and_shards_give_the_same_map() {
        let node = |port: u16| {
            Value::Array(vec![
                bulk("127.0.0.1"),
                Value::Int(i64::from(port)),
                bulk("id"),
            ])
        };
        let slots = Value::Array(vec![
            Value::Array(vec![Value::Int(0), Value::Int(5460), node(1), node(4)]),
            Value::Array(vec![Value::Int(5461), Value::Int(10922), node(2), node(5)]),
            Value::Array(vec![Value::Int(10923), Value::Int(16383), node(3)]),
        ]);
        let from_slots = Topology::from_slots(slots, &addr(1)).unwrap();
        let from_shards = Topology::from_shards(three_shards(), &addr(1), false).unwrap();
        assert_eq!(from_slots, from_shards);
    }

    #[test]
    fn a_partial_map_says_what_it_lacks_and_nonsense_is_an_error() {
        let partial = Value::Array(vec![shard(
            &[(0, 99), (200, 200)],
            vec![shard_node(1, "master", "online")],
        )]);
        let topology = Topology::from_shards(partial, &addr(1), false).unwrap();
        assert_eq!(topology.uncovered(), SLOTS - 101);
        assert!(
            topology
                .uncovered_ranges()
                .starts_with("100-199, 201-16383")
        );
        for bad in [
            Value::Int(1),
            Value::Array(vec![shard(&[(0, 20_000)], vec![])]),
            Value::Array(vec![shard(
                &[(5, 1)],
                vec![shard_node(1, "master", "online")],
            )]),
            Value::Array(vec![shard(&[(0, 1)], vec![])]),
        ] {
            let e = Topology::from_shards(bad, &addr(1), false).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
        }
    }

    #[test]
    fn moved_tells_a_migration_from_a_failover() {
        let mut topology = Topology::from_shards(three_shards(), &addr(1), false).unwrap();
        assert_eq!(topology.moved(7, &addr(2)), Moved::Migrated);
        assert_eq!(topology.shard(7).unwrap().primary, addr(2));
        assert_eq!(topology.shard(8).unwrap().primary, addr(1));

        assert_eq!(topology.moved(8, &addr(4)), Moved::Failover);
        assert_eq!(
            topology.shard(9).unwrap().primary,
            addr(4),
            "the whole shard"
        );
        assert_eq!(topology.moved(9, &addr(9)), Moved::Unknown);
        assert_eq!(topology.shard(9).unwrap().primary, addr(9));
    }

    #[test]
    fn the_view_most_nodes_give_wins() {
        let full = Topology::from_shards(three_shards(), &addr(1), false).unwrap();
        let mut other = full.clone();
        other.moved(0, &addr(2));
        let empty = Topology::build(Vec::new()).unwrap();
        let (view, count) = agreed(vec![other.clone(), full.clone(), empty, full.clone()]).unwrap();
        assert_eq!((view, count), (full, 2));
        assert!(agreed(Vec::new()).is_none());
    }
}
