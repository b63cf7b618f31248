//! The workloads, written once against the client traits.
//!
//! A workload runs in its own process (started by the suite, pinned to the client CPU),
//! does a short untimed warm-up, then times `ops` commands and keeps every request's
//! latency. Each stops early at [`TIME_CAP`] so no run can take the suite hostage.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::clients::{AsyncClient, Result, SyncClient};

/// The longest one measured run may take.
pub(crate) const TIME_CAP: Duration = Duration::from_secs(10);

pub(crate) const VALUE_16: &[u8] = b"0123456789abcdef";
pub(crate) const LIST_KEY: &str = "bench:list";
pub(crate) const LIST_LEN: usize = 1000;
pub(crate) const LIST_ITEM: usize = 32;
pub(crate) const HASH_KEY: &str = "bench:hash";
pub(crate) const HASH_LEN: usize = 100;
pub(crate) const MIB: usize = 1 << 20;

/// The hash's fields and values, in the order they are written.
pub(crate) fn hash_fields() -> impl Iterator<Item = (String, String)> {
    (0..HASH_LEN).map(|i| (format!("field:{i:03}"), format!("value-{i:026}")))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Workload {
    Ping,
    SetGet,
    Pipeline100,
    Concurrent50,
    SetGet1Mib,
    Lrange1000,
    Hgetall100,
    IncrPool4,
    ClusterIncrGet,
}

impl Workload {
    pub(crate) const ALL: [Workload; 9] = [
        Workload::Ping,
        Workload::SetGet,
        Workload::Pipeline100,
        Workload::Concurrent50,
        Workload::SetGet1Mib,
        Workload::Lrange1000,
        Workload::Hgetall100,
        Workload::IncrPool4,
        Workload::ClusterIncrGet,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::Ping => "ping",
            Workload::SetGet => "set-get",
            Workload::Pipeline100 => "pipeline-100",
            Workload::Concurrent50 => "concurrent-50",
            Workload::SetGet1Mib => "set-get-1mib",
            Workload::Lrange1000 => "lrange-1000",
            Workload::Hgetall100 => "hgetall-100",
            Workload::IncrPool4 => "incr-1000-tasks-pool-4",
            Workload::ClusterIncrGet => "cluster-incr-get-1000-tasks",
        }
    }

    pub(crate) fn title(self) -> &'static str {
        match self {
            Workload::Ping => "Sequential PING",
            Workload::SetGet => "Sequential SET/GET, 16-byte values",
            Workload::Pipeline100 => "Pipelines of 100 SETs",
            Workload::Concurrent50 => {
                "50 concurrent SET/GET callers (async: one shared connection; sync: 50 threads, a connection each)"
            }
            Workload::SetGet1Mib => "Sequential SET/GET, 1 MiB values",
            Workload::Lrange1000 => "LRANGE of 1,000 x 32-byte items into Vec<String>",
            Workload::Hgetall100 => "HGETALL of 100 fields into HashMap<String, String>",
            Workload::IncrPool4 => {
                "1,000 tasks doing INCR over a pool of 4 multiplexed connections"
            }
            Workload::ClusterIncrGet => {
                "1,000 tasks doing INCR and GET on keys of their own, through a cluster client, on 3 primaries"
            }
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Commands timed per run: a second or two each, so that five rounds of every
    /// client fit in the suite's time.
    pub(crate) const fn ops(self) -> usize {
        match self {
            Workload::Ping | Workload::SetGet => 24_000,
            Workload::Pipeline100 => 600_000,
            Workload::Concurrent50 => 120_000,
            Workload::SetGet1Mib => 1_200,
            Workload::Lrange1000 => 5_000,
            Workload::Hgetall100 => 12_000,
            Workload::IncrPool4 | Workload::ClusterIncrGet => 300_000,
        }
    }

    /// Payload bytes moved per command, where a throughput in MB/s says something.
    pub(crate) fn payload(self) -> Option<usize> {
        match self {
            Workload::SetGet1Mib => Some(MIB),
            Workload::Lrange1000 => Some(LIST_LEN * LIST_ITEM),
            _ => None,
        }
    }

    /// Whether a reply allocates per element (a `String` each), which makes the
    /// allocator part of what is measured.
    pub(crate) fn allocates_per_element(self) -> bool {
        matches!(self, Workload::Lrange1000 | Workload::Hgetall100)
    }

    /// Whether a blocking client runs it (the pool of multiplexed connections is an
    /// async shape only).
    pub(crate) fn has_sync_form(self) -> bool {
        !matches!(self, Workload::IncrPool4 | Workload::ClusterIncrGet)
    }

    /// Whether one task issues every request (no sharing of a connection).
    pub(crate) fn has_one_caller(self) -> bool {
        !matches!(
            self,
            Workload::Concurrent50 | Workload::IncrPool4 | Workload::ClusterIncrGet
        )
    }

    /// Whether it runs on a cluster, through the cluster clients.
    pub(crate) fn is_cluster(self) -> bool {
        self == Workload::ClusterIncrGet
    }
}

/// What one measured run reports back to the suite.
pub(crate) struct Measured {
    pub(crate) ops: usize,
    pub(crate) elapsed: Duration,
    /// This process's CPU time (user + system, every thread) over the timed section.
    pub(crate) cpu: Duration,
    /// Latencies in nanoseconds, one per request (per pipeline for pipelines).
    pub(crate) latencies: Vec<u64>,
}

impl Measured {
    pub(crate) fn line(mut self) -> String {
        self.latencies.sort_unstable();
        let pick = |q: f64| -> u64 {
            if self.latencies.is_empty() {
                return 0;
            }
            let at = ((self.latencies.len() - 1) as f64 * q).round() as usize;
            self.latencies[at]
        };
        format!(
            "RESULT ops={} secs={:.6} cpu_ns={} p50_ns={} p99_ns={}",
            self.ops,
            self.elapsed.as_secs_f64(),
            self.cpu.as_nanos(),
            pick(0.50),
            pick(0.99)
        )
    }
}

/// The start of a timed section: the wall clock, and the CPU time this process has used
/// so far, so the warm-up before it and the set-up are not counted.
#[derive(Clone, Copy)]
pub(crate) struct Started {
    wall: Instant,
    cpu: Duration,
}

impl Started {
    pub(crate) fn now() -> Started {
        Started {
            wall: Instant::now(),
            cpu: crate::cpu::used(crate::cpu::Whose::ThisProcess),
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.wall.elapsed()
    }

    /// Ends the section with `ops` commands done.
    pub(crate) fn finish(&self, ops: usize, latencies: Vec<u64>) -> Measured {
        Measured {
            ops,
            elapsed: self.wall.elapsed(),
            cpu: crate::cpu::used(crate::cpu::Whose::ThisProcess).saturating_sub(self.cpu),
            latencies,
        }
    }
}

fn warmup_ops(ops: usize) -> usize {
    (ops / 20).clamp(1, 2_000)
}

/// Times `ops` calls of `step(i)`, one latency sample each.
fn timed(ops: usize, mut step: impl FnMut(usize) -> Result<()>) -> Result<Measured> {
    for i in 0..warmup_ops(ops) {
        step(i)?;
    }
    let mut latencies = Vec::with_capacity(ops);
    let start = Started::now();
    let mut done = 0;
    while done < ops {
        let t = Instant::now();
        step(done)?;
        latencies.push(t.elapsed().as_nanos() as u64);
        done += 1;
        if done.is_multiple_of(64) && start.elapsed() > TIME_CAP {
            break;
        }
    }
    Ok(start.finish(done, latencies))
}

fn set_get_sync<C: SyncClient>(con: &mut C, key: &str, value: &[u8], i: usize) -> Result<()> {
    if i.is_multiple_of(2) {
        con.set(key, value)
    } else {
        con.get(key).map(drop)
    }
}

pub(crate) fn run_sync<C: SyncClient>(workload: Workload, url: &str) -> Result<Measured> {
    let ops = workload.ops();
    if workload == Workload::Concurrent50 {
        return concurrent_sync::<C>(url, ops);
    }
    let mut con = C::connect(url)?;
    match workload {
        Workload::Ping => timed(ops, |_| con.ping()),
        Workload::SetGet => timed(ops, |i| set_get_sync(&mut con, "bench:k16", VALUE_16, i)),
        Workload::SetGet1Mib => {
            let value = vec![b'x'; MIB];
            timed(ops, |i| set_get_sync(&mut con, "bench:k1m", &value, i))
        }
        Workload::Pipeline100 => {
            let mut m = timed(ops / 100, |_| con.set_pipeline("bench:kp", VALUE_16, 100))?;
            m.ops *= 100;
            Ok(m)
        }
        Workload::Lrange1000 => timed(ops, |_| check(con.lrange(LIST_KEY)?, LIST_LEN)),
        Workload::Hgetall100 => timed(ops, |_| check(con.hgetall(HASH_KEY)?, HASH_LEN)),
        Workload::Concurrent50 | Workload::IncrPool4 | Workload::ClusterIncrGet => {
            Err(format!("{} has no blocking form", workload.name()).into())
        }
    }
}

fn check(got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("expected {want} items, got {got}: was the data loaded?").into())
    }
}

/// 50 threads, a connection each, started together.
fn concurrent_sync<C: SyncClient>(url: &str, ops: usize) -> Result<Measured> {
    const THREADS: usize = 50;
    let per_thread = ops / THREADS;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(THREADS + 1));
    let mut handles = Vec::with_capacity(THREADS);
    for t in 0..THREADS {
        let mut con = C::connect(url)?;
        let barrier = barrier.clone();
        let key = format!("bench:c{t}");
        handles.push(std::thread::spawn(move || -> Result<Vec<u64>> {
            for i in 0..warmup_ops(per_thread) {
                set_get_sync(&mut con, &key, VALUE_16, i)?;
            }
            barrier.wait();
            let mut latencies = Vec::with_capacity(per_thread);
            for i in 0..per_thread {
                let t = Instant::now();
                set_get_sync(&mut con, &key, VALUE_16, i)?;
                latencies.push(t.elapsed().as_nanos() as u64);
            }
            Ok(latencies)
        }));
    }
    barrier.wait();
    let start = Started::now();
    let mut latencies = Vec::with_capacity(ops);
    for handle in handles {
        let mine = handle.join().map_err(|_| "a client thread panicked")??;
        latencies.extend(mine);
    }
    Ok(start.finish(latencies.len(), latencies))
}

pub(crate) fn run_async<C: AsyncClient>(workload: Workload, url: &str) -> Result<Measured> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, drive_async::<C>(workload, url.to_owned()))
}

async fn drive_async<C: AsyncClient>(workload: Workload, url: String) -> Result<Measured> {
    let ops = workload.ops();
    match workload {
        Workload::Concurrent50 => {
            let con = C::connect(&url).await?;
            fan_out(vec![con], 50, ops, Fan::SetGet).await
        }
        Workload::IncrPool4 => {
            let pool = C::pool(&url, 4).await?;
            fan_out(pool, 1000, ops, Fan::Incr).await
        }
        Workload::ClusterIncrGet => {
            let con = C::connect(&url).await?;
            fan_out(vec![con], 1000, ops, Fan::IncrGet).await
        }
        _ => {
            let mut con = C::connect(&url).await?;
            sequential_async(&mut con, workload, ops).await
        }
    }
}

/// [`timed`] for async steps.
pub(crate) async fn timed_async(
    ops: usize,
    mut step: impl AsyncFnMut(usize) -> Result<()>,
) -> Result<Measured> {
    for i in 0..warmup_ops(ops) {
        step(i).await?;
    }
    let mut latencies = Vec::with_capacity(ops);
    let start = Started::now();
    let mut done = 0;
    while done < ops {
        let t = Instant::now();
        step(done).await?;
        latencies.push(t.elapsed().as_nanos() as u64);
        done += 1;
        if done.is_multiple_of(64) && start.elapsed() > TIME_CAP {
            break;
        }
    }
    Ok(start.finish(done, latencies))
}

/// The sequential workloads on one async connection, as [`run_sync`] runs them.
async fn sequential_async<C: AsyncClient>(
    con: &mut C,
    workload: Workload,
    ops: usize,
) -> Result<Measured> {
    match workload {
        Workload::Ping => timed_async(ops, async |_| con.ping().await).await,
        Workload::SetGet => {
            timed_async(ops, async |i| {
                if i.is_multiple_of(2) {
                    con.set("bench:k16", VALUE_16).await
                } else {
                    con.get("bench:k16").await.map(drop)
                }
            })
            .await
        }
        Workload::SetGet1Mib => {
            let value = vec![b'x'; MIB];
            timed_async(ops, async |i| {
                if i.is_multiple_of(2) {
                    con.set("bench:k1m", &value).await
                } else {
                    con.get("bench:k1m").await.map(drop)
                }
            })
            .await
        }
        Workload::Pipeline100 => {
            let mut m = timed_async(ops / 100, async |_| {
                con.set_pipeline("bench:kp", VALUE_16, 100).await
            })
            .await?;
            m.ops *= 100;
            Ok(m)
        }
        Workload::Lrange1000 => {
            timed_async(ops, async |_| check(con.lrange(LIST_KEY).await?, LIST_LEN)).await
        }
        Workload::Hgetall100 => {
            timed_async(ops, async |_| check(con.hgetall(HASH_KEY).await?, HASH_LEN)).await
        }
        Workload::Concurrent50 | Workload::IncrPool4 | Workload::ClusterIncrGet => {
            Err(format!("{} is fanned out, not sequential", workload.name()).into())
        }
    }
}

/// What each task of a fanned-out workload does.
#[derive(Clone, Copy)]
enum Fan {
    /// SET and GET in turn on a key of the task's own.
    SetGet,
    /// INCR of one shared counter.
    Incr,
    /// INCR and GET in turn on a key of the task's own (spread over a cluster's slots).
    IncrGet,
}

async fn fan_request<C: AsyncClient>(con: &mut C, fan: Fan, key: &str, i: usize) -> Result<()> {
    match fan {
        Fan::SetGet if i.is_multiple_of(2) => con.set(key, VALUE_16).await,
        Fan::Incr => con.incr("bench:counter").await.map(drop),
        Fan::IncrGet if i.is_multiple_of(2) => con.incr(key).await.map(drop),
        // The other half of SET/GET and of INCR/GET.
        Fan::SetGet | Fan::IncrGet => con.get(key).await.map(drop),
    }
}

/// `tasks` tasks share `clients` round robin (task `t` uses `clients[t % len]`) and
/// together make `ops` requests, each timed.
async fn fan_out<C: AsyncClient>(
    clients: Vec<C>,
    tasks: usize,
    ops: usize,
    fan: Fan,
) -> Result<Measured> {
    // Warm up every connection untimed.
    for con in &clients {
        let mut con = con.clone();
        for i in 0..warmup_ops(ops / tasks).max(2) {
            fan_request(&mut con, fan, "bench:c0", i).await?;
        }
    }
    let per_task = ops / tasks;
    let deadline_hit = Rc::new(Cell::new(false));
    let start = Started::now();
    let mut handles = Vec::with_capacity(tasks);
    for t in 0..tasks {
        let mut con = clients[t % clients.len()].clone();
        let deadline_hit = deadline_hit.clone();
        let key = format!("bench:c{t}");
        handles.push(tokio::task::spawn_local(async move {
            let mut latencies = Vec::with_capacity(per_task);
            for i in 0..per_task {
                let began = Instant::now();
                fan_request(&mut con, fan, &key, i).await?;
                latencies.push(began.elapsed().as_nanos() as u64);
                if i % 64 == 63 && (deadline_hit.get() || start.elapsed() > TIME_CAP) {
                    deadline_hit.set(true);
                    break;
                }
            }
            Ok::<_, crate::clients::Error>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(ops);
    for handle in handles {
        latencies.extend(handle.await??);
    }
    Ok(start.finish(latencies.len(), latencies))
}
