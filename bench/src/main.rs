//! `peers`: respec against redis-rs, fred and `redis-benchmark`, side by side.
//!
//! ```text
//! peers suite [--rounds N] [--budget SECS] [--out FILE] [--only WORKLOAD,...]
//! peers run CLIENT WORKLOAD URL
//! peers probe MODE URL
//! ```
//!
//! `suite` starts a private `redis-server` pinned to CPU 0, loads the data the
//! workloads read, and runs every workload for every client, each run a fresh process
//! pinned to CPU 1 (`run`), interleaving the clients round by round (five unless
//! `--rounds` says otherwise, and no more after the third than fit in `--budget`
//! seconds, 450 unless told, so that a slow machine still finishes in time). It
//! reports medians over the rounds as Markdown, on stdout and in `--out`, each client
//! against `redis-benchmark` twice: the medians compared, and the median of its
//! rounds' ratios to `redis-benchmark`'s run in the same round ("paired"), since this
//! shared machine's speed drifts. Client CPU time is
//! `getrusage`'s user plus system time: our processes count their own over the timed
//! section (`RUSAGE_SELF`), leaving out the warm-up they run first, and
//! `redis-benchmark`'s, which has no warm-up, is its whole process's
//! (`RUSAGE_CHILDREN` around the run). `probe` times raw PING round trips
//! without any client library (see the `probe` module); the suite runs it too.

mod clients;
mod cpu;
mod probe;
mod suite;
mod workloads;

use std::process::ExitCode;

use clients::{
    Fred, FredCluster, RedisRsAsync, RedisRsCluster, RedisRsSync, RespecAsync, RespecAsyncOwn,
    RespecCluster, RespecSync,
};
use workloads::{Measured, Workload};

/// The clients, in the order the tables list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peer {
    RespecSync,
    /// The sync client with busy polling on: not a peer, the price and gain of an option.
    RespecSyncPolling,
    RespecAsync,
    /// The async client on a connection of its own (what the async pool hands out), no
    /// reader task: for the workloads with one caller.
    RespecAsyncOwn,
    RedisRsSync,
    RedisRsAsync,
    Fred,
    RedisBenchmark,
    /// The cluster clients, for the cluster workloads.
    RespecCluster,
    RedisRsCluster,
    FredCluster,
}

impl Peer {
    pub(crate) const ALL: [Peer; 11] = [
        Peer::RespecSync,
        Peer::RespecSyncPolling,
        Peer::RespecAsync,
        Peer::RespecAsyncOwn,
        Peer::RedisRsSync,
        Peer::RedisRsAsync,
        Peer::Fred,
        Peer::RedisBenchmark,
        Peer::RespecCluster,
        Peer::RedisRsCluster,
        Peer::FredCluster,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Peer::RespecSync => "respec sync",
            Peer::RespecSyncPolling => "respec sync, busy_poll_us=50",
            Peer::RespecAsync => "respec async",
            Peer::RespecAsyncOwn => "respec async, own connection",
            Peer::RedisRsSync => "redis-rs sync",
            Peer::RedisRsAsync => "redis-rs async",
            Peer::Fred => "fred",
            Peer::RedisBenchmark => "redis-benchmark",
            Peer::RespecCluster => "respec cluster",
            Peer::RedisRsCluster => "redis-rs cluster",
            Peer::FredCluster => "fred cluster",
        }
    }

    pub(crate) fn arg(self) -> &'static str {
        match self {
            Peer::RespecSync => "respec-sync",
            Peer::RespecSyncPolling => "respec-sync-polling",
            Peer::RespecAsync => "respec-async",
            Peer::RespecAsyncOwn => "respec-async-own",
            Peer::RedisRsSync => "redis-rs-sync",
            Peer::RedisRsAsync => "redis-rs-async",
            Peer::Fred => "fred",
            Peer::RedisBenchmark => "redis-benchmark",
            Peer::RespecCluster => "respec-cluster",
            Peer::RedisRsCluster => "redis-rs-cluster",
            Peer::FredCluster => "fred-cluster",
        }
    }

    fn parse(arg: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|p| p.arg() == arg)
    }

    pub(crate) fn is_sync(self) -> bool {
        matches!(
            self,
            Peer::RespecSync | Peer::RespecSyncPolling | Peer::RedisRsSync
        )
    }

    /// Whether it is a cluster client.
    pub(crate) fn is_cluster(self) -> bool {
        matches!(
            self,
            Peer::RespecCluster | Peer::RedisRsCluster | Peer::FredCluster
        )
    }

    fn runs(self, workload: Workload) -> bool {
        if self.is_cluster() != workload.is_cluster() {
            return false;
        }
        match self {
            Peer::RespecAsyncOwn => workload.has_one_caller(),
            _ => !self.is_sync() || workload.has_sync_form(),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("suite") => suite::suite(&args[1..]),
        Some("probe") => probe::probe(&args[1..]),
        _ => Err("usage: peers suite [--rounds N] [--budget SECS] [--out FILE] [--only W,...] | peers run CLIENT WORKLOAD URL | peers probe MODE URL".into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peers: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The polling budget of [`Peer::RespecSyncPolling`], in microseconds; its row's name
/// ([`Peer::name`]) states it too.
const POLLING_US: u32 = 50;

/// One measured run, in this process; prints a `RESULT` line for the suite.
fn run(args: &[String]) -> clients::Result<()> {
    let [peer, workload, url] = args else {
        return Err("usage: peers run CLIENT WORKLOAD URL".into());
    };
    let peer = Peer::parse(peer).ok_or_else(|| format!("unknown client {peer:?}"))?;
    let workload =
        Workload::parse(workload).ok_or_else(|| format!("unknown workload {workload:?}"))?;
    let measured: Measured = match peer {
        Peer::RespecSync => workloads::run_sync::<RespecSync>(workload, url)?,
        Peer::RespecSyncPolling => {
            let sep = if url.contains('?') { '&' } else { '?' };
            let url = format!("{url}{sep}busy_poll_us={POLLING_US}");
            workloads::run_sync::<RespecSync>(workload, &url)?
        }
        Peer::RedisRsSync => workloads::run_sync::<RedisRsSync>(workload, url)?,
        Peer::RespecAsync => workloads::run_async::<RespecAsync>(workload, url)?,
        Peer::RespecAsyncOwn => workloads::run_async::<RespecAsyncOwn>(workload, url)?,
        Peer::RedisRsAsync => workloads::run_async::<RedisRsAsync>(workload, url)?,
        Peer::Fred => workloads::run_async::<Fred>(workload, url)?,
        Peer::RespecCluster => workloads::run_async::<RespecCluster>(workload, url)?,
        Peer::RedisRsCluster => workloads::run_async::<RedisRsCluster>(workload, url)?,
        Peer::FredCluster => workloads::run_async::<FredCluster>(workload, url)?,
        Peer::RedisBenchmark => return Err("redis-benchmark is run by the suite itself".into()),
    };
    println!("{}", measured.line());
    Ok(())
}
