//! The cluster scan's core: every key present for the whole scan is yielded at least
//! once, even while slots migrate or shards fail over.
//!
//! The scan keeps a bitmap of the slots done. It takes the lowest slot not done, asks
//! the primary serving it which slots it serves (`CLUSTER NODES`, its own line), scans
//! that node from cursor 0 to 0 keeping only the keys of those slots not done, and asks
//! again at the end. Only the slots the node served at both ends, migrating at neither,
//! are marked done; the others are scanned again where they are then. A slot that keeps
//! migrating is waited for, within a bound.

use std::time::Duration;

use bytes::Bytes;

use super::topology::SLOTS;
use crate::cmd::{Cmd, cmd};
use crate::commands::slot::key_slot;
use crate::commands::{self, ScanOptions};
use crate::connection::info::NodeAddr;
use crate::error::{Error, ErrorKind, Result};
use crate::types::FromRedisValue;
use crate::value::Value;

/// How long the scan waits, in all, for slots that stay in migration.
const MIGRATION_PATIENCE: Duration = Duration::from_secs(30);
/// The wait between two looks at slots in migration.
const MIGRATION_WAIT: Duration = Duration::from_millis(50);
/// How many times a node's pass may fail (a failover, a lost connection) before the
/// scan gives up.
const NODE_FAILURES: u32 = 10;

/// What the scan does next.
#[derive(Debug)]
pub(crate) enum ScanStep {
    /// Yield this key.
    Item(Bytes),
    /// Send this command to this node and hand the reply to [`ClusterScan::reply`].
    Send(NodeAddr, Cmd),
    /// Find the node serving this slot and hand it to [`ClusterScan::node`]; read the
    /// slot map again first when `refresh`.
    Locate { slot: u16, refresh: bool },
    /// The scan is over.
    Done,
}

/// One node's pass.
#[derive(Debug)]
struct Pass {
    addr: NodeAddr,
    /// The slots not done that the node served when the pass began.
    slots: Vec<u16>,
    /// The slots it had in migration then.
    migrating: Vec<u16>,
    /// `None` before the first page and once the node said 0.
    cursor: Option<Bytes>,
    phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Asking which slots the node serves, before the pages.
    Begin,
    Pages,
    /// Asking again, after the last page.
    End,
}

/// Where a cluster scan stands.
#[derive(Debug)]
pub(crate) struct ClusterScan {
    options: ScanOptions,
    /// One bit per slot: set once its keys were all yielded.
    done: Vec<u64>,
    pass: Option<Pass>,
    page: std::vec::IntoIter<Bytes>,
    waited: Duration,
    failures: u32,
    /// Set after a failure, so that the next locate reads the map again.
    refresh: bool,
    over: bool,
}

impl ClusterScan {
    pub(crate) fn new(options: ScanOptions) -> ClusterScan {
        ClusterScan {
            options,
            done: vec![0; SLOTS / 64],
            pass: None,
            page: Vec::new().into_iter(),
            waited: Duration::ZERO,
            failures: 0,
            refresh: false,
            over: false,
        }
    }

    fn is_done(&self, slot: u16) -> bool {
        self.done
            .get(usize::from(slot) / 64)
            .is_some_and(|word| word & (1 << (slot % 64)) != 0)
    }

    fn mark(&mut self, slot: u16) {
        if let Some(word) = self.done.get_mut(usize::from(slot) / 64) {
            *word |= 1 << (slot % 64);
        }
    }

    fn first_left(&self) -> Option<u16> {
        (0..SLOTS as u16).find(|&slot| !self.is_done(slot))
    }

    /// What to do next.
    pub(crate) fn step(&mut self) -> ScanStep {
        if let Some(key) = self.page.next() {
            return ScanStep::Item(key);
        }
        if self.over {
            return ScanStep::Done;
        }
        let Some(pass) = &self.pass else {
            let Some(slot) = self.first_left() else {
                self.over = true;
                return ScanStep::Done;
            };
            let refresh = std::mem::take(&mut self.refresh);
            return ScanStep::Locate { slot, refresh };
        };
        let command = match pass.phase {
            Phase::Begin | Phase::End => cmd("CLUSTER NODES"),
            Phase::Pages => {
                let cursor = pass
                    .cursor
                    .clone()
                    .unwrap_or_else(|| Bytes::from_static(b"0"));
                commands::scan_options(&cursor[..], self.options.clone())
            }
        };
        ScanStep::Send(pass.addr.clone(), command)
    }

    /// The node serving the slot asked for by [`ScanStep::Locate`]; `None` when no node
    /// serves it (a map that is not complete): the slot has no keys to give.
    pub(crate) fn node(&mut self, slot: u16, node: Option<NodeAddr>) {
        match node {
            Some(addr) => {
                self.pass = Some(Pass {
                    addr,
                    slots: Vec::new(),
                    migrating: Vec::new(),
                    cursor: None,
                    phase: Phase::Begin,
                });
            }
            None => self.mark(slot),
        }
    }

    /// Takes the reply to a [`ScanStep::Send`]. A failed pass is dropped (its slots stay
    /// to do, after the map is read again), until a node has failed too often.
    ///
    /// # Errors
    ///
    /// The scan cannot go on: too many failures, slots that stay in migration, a
    /// malformed reply. The scan is over then.
    pub(crate) fn reply(&mut self, reply: Result<Value>) -> Result<Option<Duration>> {
        let Some(mut pass) = self.pass.take() else {
            return Ok(None);
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) if e.server_error().is_some() || super::breaks_connection(&e) => {
                self.failures += 1;
                self.refresh = true;
                if self.failures > NODE_FAILURES {
                    self.over = true;
                    return Err(e.within(format!("scanning {}", pass.addr)));
                }
                return Ok(None);
            }
            Err(e) => {
                self.over = true;
                return Err(e);
            }
        };
        match pass.phase {
            Phase::Begin => {
                let (served, migrating) = own_slots(&reply)?;
                pass.slots = served.into_iter().filter(|&s| !self.is_done(s)).collect();
                pass.migrating = migrating;
                if pass.slots.is_empty() {
                    // The map is behind: that node no longer serves the slot.
                    self.refresh = true;
                    self.failures += 1;
                    return self.give_up_after_failures();
                }
                pass.phase = Phase::Pages;
                self.pass = Some(pass);
            }
            Phase::Pages => {
                let (next, keys): (Bytes, Vec<Bytes>) = FromRedisValue::from_redis_value(reply)?;
                let slots = &pass.slots;
                let keys: Vec<Bytes> = keys
                    .into_iter()
                    .filter(|key| slots.binary_search(&key_slot(key)).is_ok())
                    .collect();
                self.page = keys.into_iter();
                if next.as_ref() == b"0" {
                    pass.phase = Phase::End;
                }
                pass.cursor = Some(next);
                self.pass = Some(pass);
            }
            Phase::End => {
                let (served, migrating) = own_slots(&reply)?;
                let before = self.done.iter().map(|w| w.count_ones()).sum::<u32>();
                for &slot in &pass.slots {
                    let steady = served.binary_search(&slot).is_ok()
                        && !migrating.contains(&slot)
                        && !pass.migrating.contains(&slot);
                    if steady {
                        self.mark(slot);
                    }
                }
                let after = self.done.iter().map(|w| w.count_ones()).sum::<u32>();
                if after == before {
                    // Every slot of the pass was in migration: wait for it to end.
                    if self.waited >= MIGRATION_PATIENCE {
                        self.over = true;
                        return Err(Error::new(
                            ErrorKind::Timeout,
                            format!(
                                "the cluster scan waited {MIGRATION_PATIENCE:?} for slots of {} to \
                                 finish migrating",
                                pass.addr
                            ),
                        ));
                    }
                    self.waited += MIGRATION_WAIT;
                    self.refresh = true;
                    return Ok(Some(MIGRATION_WAIT));
                }
            }
        }
        Ok(None)
    }

    fn give_up_after_failures(&mut self) -> Result<Option<Duration>> {
        if self.failures > NODE_FAILURES {
            self.over = true;
            return Err(Error::new(
                ErrorKind::Connection,
                "the cluster scan found no node serving the slots it had left",
            ));
        }
        Ok(Some(MIGRATION_WAIT))
    }
}

/// The slots a node serves and those it is migrating away, from its own line of
/// `CLUSTER NODES` (flagged `myself`): `0-5460 [93->-<id>]`. Both sorted.
pub(crate) fn own_slots(reply: &Value) -> Result<(Vec<u16>, Vec<u16>)> {
    let text = match reply {
        Value::BulkString(text) | Value::VerbatimString { text, .. } => {
            String::from_utf8_lossy(text).into_owned()
        }
        other => {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("unexpected reply to CLUSTER NODES: {other:?}"),
            ));
        }
    };
    let mine = text
        .lines()
        .find(|line| {
            line.split(' ')
                .nth(2)
                .is_some_and(|flags| flags.contains("myself"))
        })
        .unwrap_or_default();
    let mut served = Vec::new();
    let mut migrating = Vec::new();
    for field in mine.split(' ').skip(8) {
        if let Some(inner) = field.strip_prefix('[') {
            if let Some((slot, _)) = inner.split_once("->-")
                && let Ok(slot) = slot.parse::<u16>()
            {
                migrating.push(slot);
            }
            continue;
        }
        let (first, last) = field.split_once('-').unwrap_or((field, field));
        if let (Ok(first), Ok(last)) = (first.parse::<u16>(), last.parse::<u16>()) {
            served.extend(first..=last.min(SLOTS as u16 - 1));
        }
    }
    served.sort_unstable();
    migrating.sort_unstable();
    Ok((served, migrating))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(mine: &str) -> Value {
        Value::BulkString(
            format!(
                "aaa 127.0.0.1:7001@17001 master - 0 0 1 connected 9000-16383\n\
                 bbb 127.0.0.1:7000@17000 myself,master - 0 0 2 connected {mine}\n"
            )
            .into(),
        )
    }

    fn addr() -> NodeAddr {
        NodeAddr {
            host: "127.0.0.1".into(),
            port: 7000,
        }
    }

    fn page(cursor: &str, keys: &[&str]) -> Value {
        Value::Array(vec![
            Value::BulkString(cursor.to_owned().into()),
            Value::Array(
                keys.iter()
                    .map(|k| Value::BulkString((*k).to_owned().into()))
                    .collect(),
            ),
        ])
    }

    /// Runs the scan against one node serving `0-8999` then `9000-16383` on another,
    /// answering from `replies`, and returns the keys yielded.
    fn keys_of(scan: &mut ClusterScan, mut answer: impl FnMut(&Cmd) -> Value) -> Vec<String> {
        let mut keys = Vec::new();
        for _ in 0..100 {
            match scan.step() {
                ScanStep::Item(key) => keys.push(String::from_utf8_lossy(&key).into_owned()),
                ScanStep::Send(_, command) => {
                    scan.reply(Ok(answer(&command))).unwrap();
                }
                ScanStep::Locate { slot, .. } => scan.node(slot, Some(addr())),
                ScanStep::Done => return keys,
            }
        }
        panic!("the scan did not end: {keys:?}")
    }

    #[test]
    fn own_slots_reads_ranges_and_migrations() {
        let (served, migrating) = own_slots(&nodes("0-2 5 [3->-ccc] [4-<-ddd]")).unwrap();
        assert_eq!(served, [0, 1, 2, 5]);
        assert_eq!(migrating, [3]);
    }

    #[test]
    fn each_node_is_scanned_once_and_keys_of_other_slots_are_left_out() {
        let mut scan = ClusterScan::new(ScanOptions::default());
        let mut node_passes = 0;
        let keys = keys_of(&mut scan, |command| {
            let name: Vec<u8> = command.args().next().unwrap().to_vec();
            if name == b"CLUSTER" {
                // The first node serves every slot.
                nodes("0-16383")
            } else {
                node_passes += 1;
                page("0", &["a", "b"])
            }
        });
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(node_passes, 1);
    }

    #[test]
    fn a_slot_migrating_during_a_pass_is_scanned_again() {
        let mut scan = ClusterScan::new(ScanOptions::default());
        let slot_a = key_slot(b"a");
        let mut asked = 0;
        let keys = keys_of(&mut scan, |command| {
            let name: Vec<u8> = command.args().next().unwrap().to_vec();
            if name == b"CLUSTER" {
                asked += 1;
                // Migrating at the end of the first pass; done by the second.
                if asked == 2 {
                    nodes(&format!("0-16383 [{slot_a}->-ccc]"))
                } else {
                    nodes("0-16383")
                }
            } else {
                page("0", &["a"])
            }
        });
        assert_eq!(keys, ["a", "a"], "at least once; here twice");
    }

    #[test]
    fn a_failed_pass_is_started_again_after_the_map_is_read() {
        let mut scan = ClusterScan::new(ScanOptions::default());
        assert!(matches!(
            scan.step(),
            ScanStep::Locate {
                slot: 0,
                refresh: false
            }
        ));
        scan.node(0, Some(addr()));
        assert!(matches!(scan.step(), ScanStep::Send(..)));
        let lost = Error::new(ErrorKind::Connection, "lost");
        assert_eq!(scan.reply(Err(lost)).unwrap(), None);
        assert!(matches!(
            scan.step(),
            ScanStep::Locate {
                slot: 0,
                refresh: true
            }
        ));
    }
}
