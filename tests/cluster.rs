//! The cluster client against a real 3+3 cluster: routing by key specs and tips,
//! splitting and merging, fan-out, redirections while slots move, failovers, crashed
//! and frozen primaries, pipelines and the toolkit; sync and async.
//!
//! One cluster serves the whole binary (`support::cluster::shared`): tests that leave
//! its shape alone share it, each with keys of its own; tests that move slots or fail
//! nodes over hold it alone and leave it whole. The failover tests print what they
//! measured; run them with `--nocapture` to see it.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use respec::commands::slot::key_slot;
use respec::{
    AsyncCommands, ClusterClient, ClusterConnection, Commands, ErrorKind, Script, Value, cmd, pipe,
};
use support::cluster::{Cluster, shared};

fn client(cluster: &Cluster) -> ClusterClient {
    ClusterClient::new(cluster.urls()).expect("a cluster client")
}

fn connection(cluster: &Cluster) -> ClusterConnection {
    client(cluster)
        .get_connection()
        .expect("a cluster connection")
}

/// A key of `prefix` in each primary's slots, as the cluster started.
fn key_per_primary(prefix: &str) -> Vec<String> {
    (0..3)
        .map(|idx| support::cluster::key_served_by(idx, 3, prefix))
        .collect()
}

#[test]
fn commands_go_to_the_shard_of_their_key() {
    let shared = shared();
    let cluster = shared.read();
    let mut con = connection(&cluster);
    for (idx, key) in key_per_primary("route:").iter().enumerate() {
        con.set(key, idx as i64).unwrap();
        let back: i64 = con.get(key).unwrap();
        assert_eq!(back, idx as i64);
        // The key is where its slot says, and nowhere else.
        let port = cluster.primary_port_of(key_slot(key.as_bytes()));
        let mut owner = cluster.connect(cluster.index_of(port));
        let exists: i64 = cmd("EXISTS").arg(key).query(&mut owner).unwrap();
        assert_eq!(exists, 1, "{key} is on the node serving its slot");
    }
    // Hash tags keep keys together: a multi-key command on one slot runs as one.
    con.set("{route-tag}a", "x").unwrap();
    con.rename("{route-tag}a", "{route-tag}b").unwrap();
    let moved: Option<String> = con.get("{route-tag}b").unwrap();
    assert_eq!(moved.as_deref(), Some("x"));
}

#[test]
fn keys_in_several_slots_are_refused_before_anything_is_sent() {
    let shared = shared();
    let cluster = shared.read();
    let mut con = connection(&cluster);
    let keys = key_per_primary("cross:");
    con.set(&keys[0], "kept").unwrap();
    let e = con.rename(&keys[0], &keys[1]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let text = e.to_string();
    for key in &keys[..2] {
        let slot = key_slot(key.as_bytes()).to_string();
        assert!(text.contains(&slot), "{text} names slot {slot}");
    }
    let kept: Option<String> = con.get(&keys[0]).unwrap();
    assert_eq!(kept.as_deref(), Some("kept"), "nothing ran");

    let mut transaction = pipe();
    transaction.atomic().set(&keys[0], 1).set(&keys[1], 2);
    let e = transaction.query::<Value>(&mut con).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let kept: Option<String> = con.get(&keys[0]).unwrap();
    assert_eq!(
        kept.as_deref(),
        Some("kept"),
        "no part of the transaction ran"
    );
}

#[test]
fn multi_shard_commands_split_per_slot_and_come_back_in_order() {
    let shared = shared();
    let cluster = shared.read();
    let mut con = connection(&cluster);
    let keys: Vec<String> = (0..50).map(|n| format!("split:{n}")).collect();
    let slots: BTreeSet<u16> = keys.iter().map(|k| key_slot(k.as_bytes())).collect();
    assert!(slots.len() > 10, "the keys spread over many slots");
    let pairs: Vec<(String, usize)> = keys.iter().cloned().zip(0..).collect();
    con.mset(&pairs).unwrap();
    let mut asked = keys.clone();
    asked.insert(7, "split:missing".to_owned());
    let values: Vec<Option<usize>> = con.mget(&asked).unwrap();
    let mut expected: Vec<Option<usize>> = (0..50).map(Some).collect();
    expected.insert(7, None);
    assert_eq!(values, expected, "in the caller's order");
    let exists: i64 = con.exists(&asked).unwrap();
    assert_eq!(exists, 50, "summed over the shards");
    let touched: i64 = con.touch(&keys).unwrap();
    assert_eq!(touched, 50);
    let deleted: i64 = con.del(&keys[..25]).unwrap();
    assert_eq!(deleted, 25);
    let unlinked: i64 = con.unlink(&keys).unwrap();
    assert_eq!(unlinked, 25);
}

#[test]
fn keyless_commands_fan_out_and_their_replies_merge_by_policy() {
    let shared = shared();
    let cluster = shared.read();
    let client = client(&cluster);
    let mut con = client.get_connection().unwrap();
    assert_eq!(client.nodes().len(), 6, "{:?}", client.nodes());
    for key in key_per_primary("fanout:") {
        con.set(&key, 1).unwrap();
    }
    // DBSIZE: the sum of the primaries' sizes.
    let total: i64 = con.dbsize().unwrap();
    let direct: i64 = (0..3)
        .map(|idx| {
            cmd("DBSIZE")
                .query::<i64>(&mut cluster.connect(idx))
                .unwrap()
        })
        .sum();
    let again: i64 = con.dbsize().unwrap();
    assert!(
        (total.min(again)..=total.max(again)).contains(&direct) || total == direct,
        "DBSIZE {total} (then {again}) against {direct} counted node by node"
    );
    // KEYS: every primary's keys joined.
    let found: Vec<String> = con.keys("fanout:*").unwrap();
    assert_eq!(found.len(), 3, "{found:?}");
    // PING: all succeeded.
    let pong: String = con.ping().unwrap();
    assert_eq!(pong, "PONG");
    // SCRIPT LOAD goes to every node, and SCRIPT EXISTS is their logical and.
    let script = Script::new("return 'fan-out'");
    let hash: String = cmd("SCRIPT")
        .arg("LOAD")
        .arg(script.code())
        .query(&mut con)
        .unwrap();
    assert_eq!(hash, script.hash());
    for idx in 0..cluster.nodes().len() {
        let exists: Vec<bool> = cmd("SCRIPT")
            .arg("EXISTS")
            .arg(script.hash())
            .query(&mut cluster.connect(idx))
            .unwrap();
        assert_eq!(exists, [true], "loaded on node {idx}");
    }
    let exists: Vec<bool> = cmd("SCRIPT")
        .arg("EXISTS")
        .arg(script.hash())
        .arg("0000")
        .query(&mut con)
        .unwrap();
    assert_eq!(exists, [true, false]);
    // INFO: each node's reply, by address.
    let info: std::collections::HashMap<String, String> = con.info().unwrap();
    assert_eq!(info.len(), 3, "{:?}", info.keys());
    assert!(
        info.values()
            .all(|text| text.contains("redis_version") || text.contains("valkey"))
    );
    // RANDOMKEY: a key one of the primaries holds.
    let random: Option<String> = con.randomkey().unwrap();
    assert!(random.is_some());
}

#[test]
fn pipelines_split_by_node_and_come_back_in_order() {
    let shared = shared();
    let cluster = shared.read();
    let mut con = connection(&cluster);
    let keys: Vec<String> = (0..30).map(|n| format!("pipe:{n}")).collect();
    let mut pipeline = pipe();
    for (n, key) in keys.iter().enumerate() {
        pipeline.set(key, n).ignore().incr(key);
    }
    pipeline.mget(&keys).dbsize().get("pipe:missing");
    let (incremented, got, size, missing): (Vec<i64>, Vec<i64>, i64, Option<String>) = {
        let replies: Vec<Value> = pipeline.query(&mut con).unwrap();
        assert_eq!(replies.len(), 30 + 3);
        let incremented = replies[..30]
            .iter()
            .map(|v| respec::from_redis_value(v.clone()).unwrap())
            .collect();
        (
            incremented,
            respec::from_redis_value(replies[30].clone()).unwrap(),
            respec::from_redis_value(replies[31].clone()).unwrap(),
            respec::from_redis_value(replies[32].clone()).unwrap(),
        )
    };
    let expected: Vec<i64> = (1..=30).collect();
    let _ = &expected;
    assert_eq!(incremented, expected);
    assert_eq!(got, expected);
    assert!(size >= 30);
    assert_eq!(missing, None);

    // A transaction on one slot runs as one.
    let mut transaction = pipe();
    transaction
        .atomic()
        .set("{pipe-tx}a", 1)
        .incrby("{pipe-tx}a", 2)
        .get("{pipe-tx}a");
    let ((), incr, get): ((), i64, i64) = transaction.query(&mut con).unwrap();
    assert_eq!((incr, get), (3, 3));
}

#[test]
fn scripts_run_by_key_slot_and_load_where_missing() {
    let shared = shared();
    let cluster = shared.read();
    let mut con = connection(&cluster);
    let script = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    for key in key_per_primary("script:") {
        let n: i64 = script.key(&key).arg(5).invoke(&mut con).unwrap();
        assert_eq!(n, 5);
    }
}

#[test]
fn a_seed_that_does_not_answer_is_passed_over_and_none_is_an_error_in_time() {
    let shared = shared();
    let cluster = shared.read();
    let dead = format!("redis://127.0.0.1:{}", support::server::free_port());
    let mut seeds = vec![dead.clone()];
    seeds.extend(cluster.urls());
    let mut con = ClusterClient::new(seeds).unwrap().get_connection().unwrap();
    con.set("seed:k", 1).unwrap();

    let started = std::time::Instant::now();
    let alone = ClusterClient::builder()
        .seed(dead.as_str())
        .discovery_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let e = alone.get_connection().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(e.to_string().contains(&dead[8..]), "names the seed: {e}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A seed that takes the connection and never answers: first among the seeds it is
    // given up on within the node timeout, and alone, within the discovery timeout,
    // sync and async.
    let silent = support::fake::FakeServer::start(support::fake::Peer::stall);
    let mut options: respec::ConnectionInfo = silent.url("").parse().unwrap();
    options.socket_timeout = Some(Duration::from_millis(300));
    let mut seeds = vec![silent.url("")];
    seeds.extend(cluster.urls());
    let mut builder = ClusterClient::builder().node_options(options.clone());
    for seed in &seeds {
        builder = builder.seed(seed.as_str());
    }
    let mut con = builder.build().unwrap().get_connection().unwrap();
    con.set("seed:k", 2).unwrap();
    let alone = ClusterClient::builder()
        .seed(silent.url("").as_str())
        .discovery_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let e = alone.get_connection().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}: {e}",
        started.elapsed()
    );
    assert!(e.to_string().contains(&silent.port().to_string()), "{e}");
    runtime().block_on(async {
        let alone = ClusterClient::builder()
            .seed(silent.url("").as_str())
            .discovery_timeout(Duration::from_millis(500))
            .build()
            .unwrap();
        let started = std::time::Instant::now();
        let e = alone.get_async_connection().await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}: {e}",
            started.elapsed()
        );
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// How many times node `idx` ran `GET`, by its command statistics.
fn gets_served(cluster: &Cluster, idx: usize) -> u64 {
    let stats: String = cmd("INFO")
        .arg("commandstats")
        .query(&mut cluster.connect(idx))
        .unwrap();
    stats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_get:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0)
}

#[test]
fn async_tasks_share_one_connection_per_node() {
    let shared = shared();
    let cluster = shared.read();
    let client = client(&cluster);
    runtime().block_on(async {
        let con = client.get_async_connection().await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..100 {
            let mut con = con.clone();
            tasks.spawn(async move {
                let key = format!("async:{task}");
                for n in 1..=10 {
                    let v: i64 = con.incr(&key).await.unwrap();
                    assert_eq!(v, n);
                }
                let v: i64 = con.get(&key).await.unwrap();
                v
            });
        }
        let mut total = 0;
        while let Some(done) = tasks.join_next().await {
            total += done.unwrap();
        }
        assert_eq!(total, 1000);

        let mut con = con.clone();
        let keys: Vec<String> = (0..100).map(|n| format!("async:{n}")).collect();
        let values: Vec<i64> = con.mget(&keys).await.unwrap();
        assert_eq!(values, vec![10; 100]);
        let size: i64 = con.dbsize().await.unwrap();
        assert!(size >= 100);
        let e = con.rename(&keys[0], &keys[1]).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let deleted: i64 = con.del(&keys).await.unwrap();
        assert_eq!(deleted, 100);

        let mut pipeline = pipe();
        for key in &keys {
            pipeline.set(key, 1).ignore().incr(key);
        }
        let incremented: Vec<i64> = pipeline.query_async(&mut con).await.unwrap();
        assert_eq!(incremented, vec![2; 100]);
        let mut transaction = pipe();
        transaction
            .atomic()
            .set("{async-tx}a", 5)
            .get("{async-tx}a");
        let ((), five): ((), i64) = transaction.query_async(&mut con).await.unwrap();
        assert_eq!(five, 5);

        let script = Script::new("return redis.call('GET', KEYS[1])");
        let one: i64 = script.key(&keys[3]).invoke_async(&mut con).await.unwrap();
        assert_eq!(one, 2);
    });
}

#[test]
fn reads_go_to_replicas_when_allowed_and_writes_never_do() {
    let shared = shared();
    let cluster = shared.read();
    let key = support::cluster::key_served_by(0, 3, "replica-read:");
    let primary = cluster.serving(key_slot(key.as_bytes()));
    let replica = cluster.replica_of(primary);
    let client = reading_from(&cluster, respec::ReadFrom::PreferReplica);
    let mut con = client.get_connection().unwrap();
    reads_reach(&cluster, &client, &mut con, &key, replica);
    let (primary_before, replica_before) = (
        gets_served(&cluster, primary),
        gets_served(&cluster, replica),
    );
    for _ in 0..20 {
        let v: String = con.get(&key).unwrap();
        assert_eq!(v, "v");
    }
    assert_eq!(gets_served(&cluster, primary), primary_before);
    assert_eq!(gets_served(&cluster, replica), replica_before + 20);
    // Writes still go to the primary.
    con.set(&key, "w").unwrap();
    let on_primary: String = cmd("GET")
        .arg(&key)
        .query(&mut cluster.connect(primary))
        .unwrap();
    assert_eq!(on_primary, "w");

    // Round robin: the primary and its replica in turn.
    let round_robin = reading_from(&cluster, respec::ReadFrom::RoundRobin);
    let mut con = round_robin.get_connection().unwrap();
    reads_reach(&cluster, &round_robin, &mut con, &key, replica);
    let (primary_before, replica_before) = (
        gets_served(&cluster, primary),
        gets_served(&cluster, replica),
    );
    for _ in 0..20 {
        let _: Option<String> = con.get(&key).unwrap();
    }
    let on_primary = gets_served(&cluster, primary) - primary_before;
    let on_replica = gets_served(&cluster, replica) - replica_before;
    assert_eq!(on_primary + on_replica, 20);
    assert!(
        on_primary > 0 && on_replica > 0,
        "{on_primary} and {on_replica}"
    );
}

/// A client of `cluster` whose reads go where `read_from` says.
fn reading_from(cluster: &Cluster, read_from: respec::ReadFrom) -> ClusterClient {
    ClusterClient::builder()
        .seed(cluster.urls()[0].as_str())
        .read_from(read_from)
        .build()
        .unwrap()
}

/// Writes `key` = "v", waits until a replica has it, and then until the client's reads
/// of it reach node `replica` (a replica counts as healthy once the map says it is
/// online).
fn reads_reach(
    cluster: &Cluster,
    client: &ClusterClient,
    con: &mut ClusterConnection,
    key: &str,
    replica: usize,
) {
    con.set(key, "v").unwrap();
    let primary = cluster.serving(key_slot(key.as_bytes()));
    cmd("WAIT")
        .arg(1)
        .arg(1000)
        .exec(&mut cluster.connect(primary))
        .unwrap();
    support::wait_until("the replica to serve reads", || {
        client.refresh_slots().unwrap();
        let before = gets_served(cluster, replica);
        let _: Option<String> = con.get(key).unwrap();
        gets_served(cluster, replica) > before
    });
}

/// Moves `slot` from the node serving it to `target` the way `redis-cli --cluster
/// reshard` does: IMPORTING and MIGRATING, the keys in small batches with a pause between
/// them (so that a workload meets the slot half moved), then the slot handed over on
/// every primary.
fn migrate_slot(cluster: &Cluster, slot: u16, target: usize) {
    let source = cluster.serving(slot);
    let (mut from, mut to) = (cluster.connect(source), cluster.connect(target));
    cmd("CLUSTER SETSLOT")
        .arg(slot)
        .arg(["IMPORTING", cluster.id(source)])
        .exec(&mut to)
        .unwrap();
    cmd("CLUSTER SETSLOT")
        .arg(slot)
        .arg(["MIGRATING", cluster.id(target)])
        .exec(&mut from)
        .unwrap();
    let port = cluster.nodes()[target].port().to_string();
    loop {
        let keys: Vec<String> = cmd("CLUSTER GETKEYSINSLOT")
            .arg(slot)
            .arg(5)
            .query(&mut from)
            .unwrap();
        if keys.is_empty() {
            break;
        }
        cmd("MIGRATE")
            .arg(["127.0.0.1", &port, "", "0", "5000", "KEYS"])
            .arg(&keys)
            .exec(&mut from)
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    // The source first, then the target (`redis-cli` does the reverse): for a moment
    // each sends the slot's requests to the other, and a client must wait that out
    // rather than spend its tries on it.
    let mut primaries = cluster.primary_indices();
    primaries.sort_by_key(|&idx| (idx != source, idx != target));
    for idx in primaries {
        cmd("CLUSTER SETSLOT")
            .arg(slot)
            .arg(["NODE", cluster.id(target)])
            .exec(&mut cluster.connect(idx))
            .unwrap();
    }
}

#[test]
fn a_live_reshard_under_load_is_followed_through_ask_tryagain_and_moved() {
    let shared = shared();
    let cluster = shared.write();
    let slot = key_slot(b"reshard");
    let key = |n: usize| format!("{{reshard}}:{n}");
    let source = cluster.serving(slot);
    let target = cluster.another_primary(source);
    let client = client(&cluster);
    let mut con = client.get_connection().unwrap();
    for n in 0..200 {
        con.set(key(n), n).unwrap();
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A sync and an async workload: single-key reads and writes (ASK once a key has
    // moved) and MGETs across moved and unmoved keys (TRYAGAIN).
    let sync_load = {
        let (stop, client) = (stop.clone(), client.clone());
        std::thread::spawn(move || {
            let mut con = client.get_connection().unwrap();
            let mut done = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let n = done % 200;
                let v: usize = con
                    .get(key(n))
                    .unwrap_or_else(|e| panic!("GET {}: {e}", key(n)));
                assert_eq!(v, n);
                con.set(key(n), n)
                    .unwrap_or_else(|e| panic!("SET {}: {e}", key(n)));
                let some: Vec<usize> = con
                    .mget([key(n), key((n + 100) % 200)])
                    .unwrap_or_else(|e| panic!("MGET: {e}"));
                assert_eq!(some, [n, (n + 100) % 200]);
                // A pipeline mixing the moving slot with others: its commands for the
                // moving slot are redirected inside it and sent again on their own.
                let mut pipeline = pipe();
                pipeline
                    .get(key(n))
                    .incr(format!("reshard-other:{n}"))
                    .ignore()
                    .get(key((n + 1) % 200));
                let (first, second): (usize, usize) = pipeline
                    .query(&mut con)
                    .unwrap_or_else(|e| panic!("pipeline: {e}"));
                assert_eq!((first, second), (n, (n + 1) % 200));
                done += 1;
            }
            done
        })
    };
    let async_load = {
        let (stop, client) = (stop.clone(), client.clone());
        std::thread::spawn(move || {
            runtime().block_on(async {
                let con = client.get_async_connection().await.unwrap();
                let mut tasks = tokio::task::JoinSet::new();
                for task in 0..4 {
                    let (mut con, stop) = (con.clone(), stop.clone());
                    tasks.spawn(async move {
                        let mut done = 0usize;
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                            let n = (done * 4 + task) % 200;
                            let v: usize = con.get(key(n)).await.unwrap();
                            assert_eq!(v, n);
                            let some: Vec<usize> =
                                con.mget([key(n), key((n + 50) % 200)]).await.unwrap();
                            assert_eq!(some, [n, (n + 50) % 200]);
                            let mut pipeline = pipe();
                            pipeline.get(key(n)).get(format!("reshard-other:{n}"));
                            let (got, _): (usize, Option<i64>) =
                                pipeline.query_async(&mut con).await.unwrap();
                            assert_eq!(got, n);
                            done += 1;
                        }
                        done
                    });
                }
                let mut done = 0;
                while let Some(finished) = tasks.join_next().await {
                    done += finished.unwrap();
                }
                done
            })
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    migrate_slot(&cluster, slot, target);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sync_done, async_done) = (sync_load.join().unwrap(), async_load.join().unwrap());
    let stats = client.stats();
    eprintln!(
        "reshard under load: {sync_done} sync and {async_done} async rounds, none failed; \
         {} MOVED, {} ASK and {} retries (TRYAGAIN) followed",
        stats.moved, stats.asked, stats.retries
    );
    assert!(
        stats.asked > 0,
        "the workload met keys already moved: {stats:?}"
    );
    assert!(stats.moved > 0, "and the slot handed over: {stats:?}");
    assert_eq!(
        client.primary_for_slot(slot).map(|a| a.port),
        Some(cluster.nodes()[target].port())
    );
    for n in 0..200 {
        let v: usize = con.get(key(n)).unwrap();
        assert_eq!(v, n);
    }
    // Back where it was, for the tests after.
    migrate_slot(&cluster, slot, source);
}

/// What a write workload saw: the keys acknowledged, the writes that failed, and the
/// longest time between two acknowledgements.
#[derive(Debug, Default)]
struct Writes {
    acked: Vec<String>,
    failed: usize,
    longest_gap: Duration,
    slowest: Duration,
}

impl Writes {
    fn note(
        &mut self,
        key: String,
        result: &respec::Result<()>,
        started: std::time::Instant,
        last_ack: &mut std::time::Instant,
    ) {
        self.slowest = self.slowest.max(started.elapsed());
        match result {
            Ok(()) => {
                self.longest_gap = self.longest_gap.max(last_ack.elapsed());
                *last_ack = std::time::Instant::now();
                self.acked.push(key);
            }
            Err(_) => self.failed += 1,
        }
    }
}

/// Writes fresh keys of `tag` from a sync connection and from async tasks until `stop`.
fn write_load(
    client: &ClusterClient,
    tag: &'static str,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (
    std::thread::JoinHandle<Writes>,
    std::thread::JoinHandle<Writes>,
) {
    let sync = {
        let (stop, client) = (stop.clone(), client.clone());
        std::thread::spawn(move || {
            let mut con = client.get_connection().unwrap();
            let mut writes = Writes::default();
            let mut last_ack = std::time::Instant::now();
            for n in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let key = format!("{{{tag}}}:sync:{n}");
                let started = std::time::Instant::now();
                let result = con.set(&key, n);
                writes.note(key, &result, started, &mut last_ack);
                std::thread::sleep(Duration::from_millis(1));
            }
            writes
        })
    };
    let tasks = {
        let (stop, client) = (stop.clone(), client.clone());
        std::thread::spawn(move || {
            runtime().block_on(async {
                let mut con = client.get_async_connection().await.unwrap();
                let mut writes = Writes::default();
                let mut last_ack = std::time::Instant::now();
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("{{{tag}}}:async:{n}");
                    let started = std::time::Instant::now();
                    let result = con.set(&key, n).await;
                    writes.note(key, &result, started, &mut last_ack);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                writes
            })
        })
    };
    (sync, tasks)
}

/// Checks that every acknowledged write is on the node serving the tag's slot now, and
/// prints what the workload saw.
fn check_writes(cluster: &Cluster, what: &str, tag: &str, sync: &Writes, tasks: &Writes) {
    let primary = cluster.serving(key_slot(tag.as_bytes()));
    let mut con = cluster.connect(primary);
    for (side, writes) in [("sync", sync), ("async", tasks)] {
        let lost: Vec<&String> = writes
            .acked
            .iter()
            .filter(|key| cmd("EXISTS").arg(*key).query::<i64>(&mut con).unwrap() == 0)
            .collect();
        eprintln!(
            "{what} ({side}): {} writes acknowledged, {} failed cleanly, longest time \
             without an acknowledged write {:?}, slowest request {:?}, acknowledged writes \
             lost: {}",
            writes.acked.len(),
            writes.failed,
            writes.longest_gap,
            writes.slowest,
            lost.len()
        );
        assert!(
            lost.is_empty(),
            "{what}: acknowledged writes lost: {lost:?}"
        );
        assert!(writes.acked.len() > 100, "{what}: the workload ran");
    }
}

#[test]
fn a_manual_failover_under_writes_loses_nothing_and_writes_resume() {
    let shared = shared();
    let cluster = shared.write();
    let tag = "failover";
    let slot = key_slot(tag.as_bytes());
    let old = cluster.serving(slot);
    let replica = cluster.replica_of(old);
    let client = client(&cluster);
    let _ = client.get_connection().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (sync, tasks) = write_load(&client, tag, &stop);
    // A client blocked on the old primary is answered UNBLOCKED by the failover, and
    // waits again on the new one.
    let queue = format!("{{{tag}}}:queue");
    let blocked = {
        let (client, queue) = (client.clone(), queue.clone());
        std::thread::spawn(move || {
            let mut con = client.get_connection().unwrap();
            con.blpop::<Option<(String, String)>>(&queue, 10.0)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    cmd("CLUSTER FAILOVER")
        .exec(&mut cluster.connect(replica))
        .unwrap();
    support::wait_until("the replica to take over", || {
        cluster.primary_port_of(slot) == cluster.nodes()[replica].port()
    });
    let promoted = started.elapsed();
    std::thread::sleep(Duration::from_millis(1500));
    let mut con = client.get_connection().unwrap();
    con.rpush(&queue, "after the failover").unwrap();
    let popped = blocked.join().unwrap().unwrap();
    assert_eq!(popped, Some((queue, "after the failover".to_owned())));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sync, tasks) = (sync.join().unwrap(), tasks.join().unwrap());
    eprintln!(
        "CLUSTER FAILOVER: the replica served the slot after {promoted:?}; {:?}",
        client.stats()
    );
    assert_eq!(
        client.primary_for_slot(slot).map(|a| a.port),
        Some(cluster.nodes()[replica].port())
    );
    check_writes(&cluster, "CLUSTER FAILOVER", tag, &sync, &tasks);
}

/// How a test takes a primary away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outage {
    Kill,
    Freeze,
}

/// Takes the primary of a slot away under a write workload with a 1 s request timeout,
/// and checks that requests fail cleanly and in time meanwhile, and that writes go on
/// after a replica is promoted.
fn lose_a_primary(outage: Outage) {
    let shared = shared();
    let mut cluster = shared.write();
    let tag = match outage {
        Outage::Kill => "killed",
        Outage::Freeze => "frozen",
    };
    let slot = key_slot(tag.as_bytes());
    let old = cluster.serving(slot);
    let replica = cluster.replica_of(old);
    let timeout = Duration::from_secs(1);
    let mut options: respec::ConnectionInfo = cluster.urls()[0].parse().unwrap();
    options.socket_timeout = Some(timeout);
    let client = ClusterClient::builder()
        .seed(cluster.urls()[0].as_str())
        .node_options(options)
        .build()
        .unwrap();
    let _ = client.get_connection().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (sync, tasks) = write_load(&client, tag, &stop);
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    match outage {
        Outage::Kill => cluster.node_mut(old).kill(),
        Outage::Freeze => cluster.node_mut(old).freeze(),
    }
    let promoted = (0..200)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            let mut con = cluster.connect(replica);
            let role: Vec<Value> = cmd("ROLE").query(&mut con).ok()?;
            matches!(role.first(), Some(Value::BulkString(r)) if &r[..] == b"master")
                .then(|| started.elapsed())
        })
        .expect("the replica is promoted");
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (sync, tasks) = (sync.join().unwrap(), tasks.join().unwrap());
    eprintln!(
        "{outage:?}: the replica was promoted after {promoted:?}; {:?}",
        client.stats()
    );
    for (side, writes) in [("sync", &sync), ("async", &tasks)] {
        eprintln!(
            "{outage:?} ({side}): {} writes acknowledged, {} failed cleanly, longest time \
             without an acknowledged write {:?}, slowest request {:?}",
            writes.acked.len(),
            writes.failed,
            writes.longest_gap,
            writes.slowest
        );
        assert!(writes.failed > 0, "{side}: the outage was met");
        // Each request ends by its own deadline (plus, at most, the time to read the map
        // again from nodes that answer).
        assert!(
            writes.slowest < timeout * 2,
            "{side}: a request took {:?}",
            writes.slowest
        );
    }
    // Writes work again, on the promoted replica.
    let mut con = client.get_connection().unwrap();
    con.set(format!("{{{tag}}}:after"), 1).unwrap();
    assert_eq!(
        client.primary_for_slot(slot).map(|a| a.port),
        Some(cluster.nodes()[replica].port())
    );
    let last_sync = sync.acked.last().expect("writes after the promotion");
    let on_new: i64 = cmd("EXISTS")
        .arg(last_sync)
        .query(&mut cluster.connect(replica))
        .unwrap();
    assert_eq!(on_new, 1, "the last writes went to the new primary");
}

#[test]
fn a_killed_primary_fails_requests_cleanly_until_its_replica_takes_over() {
    lose_a_primary(Outage::Kill);
}

#[test]
fn a_frozen_primary_times_requests_out_until_its_replica_takes_over() {
    lose_a_primary(Outage::Freeze);
}

#[test]
fn the_cluster_scan_yields_every_key_while_a_slot_migrates() {
    let shared = shared();
    let cluster = shared.write();
    let client = client(&cluster);
    let mut con = client.get_connection().unwrap();
    let mut expected: BTreeSet<String> = (0..300).map(|n| format!("scan:{n}")).collect();
    expected.extend((0..100).map(|n| format!("{{scan-moving}}:{n}")));
    let pairs: Vec<(&String, i32)> = expected.iter().map(|k| (k, 1)).collect();
    con.mset(&pairs).unwrap();
    let slot = key_slot(b"scan-moving");
    let source = cluster.serving(slot);
    let target = cluster.another_primary(source);
    let options = || {
        respec::commands::ScanOptions::default()
            .pattern("*scan*")
            .count(5)
    };
    let (scanned, streamed) = std::thread::scope(|scope| {
        let mover = scope.spawn(|| migrate_slot(&cluster, slot, target));
        let sync = scope.spawn(|| {
            let mut con = client.get_connection().unwrap();
            con.scan_iter::<String>(options())
                .map(Result::unwrap)
                .collect::<BTreeSet<String>>()
        });
        let streamed = runtime().block_on(async {
            let con = client.get_async_connection().await.unwrap();
            let mut stream = std::pin::pin!(con.scan_iter::<String>(options()));
            let mut seen = BTreeSet::new();
            while let Some(key) =
                std::future::poll_fn(|cx| futures_core::Stream::poll_next(stream.as_mut(), cx))
                    .await
            {
                seen.insert(key.unwrap());
            }
            seen
        });
        mover.join().unwrap();
        (sync.join().unwrap(), streamed)
    });
    for (side, seen) in [("sync", &scanned), ("async", &streamed)] {
        let missing: Vec<&String> = expected.difference(seen).collect();
        assert!(missing.is_empty(), "{side} scan missed {missing:?}");
        let foreign: Vec<&String> = seen.difference(&expected).collect();
        assert!(
            foreign.is_empty(),
            "{side} scan found keys never written: {foreign:?}"
        );
    }
    eprintln!(
        "cluster scan during a migration: {} keys, all seen by both scans; {:?}",
        expected.len(),
        client.stats()
    );
    migrate_slot(&cluster, slot, source);

    // And while the shard serving those keys fails over.
    let replica = cluster.replica_of(source);
    let scanned = std::thread::scope(|scope| {
        let scan = scope.spawn(|| {
            let mut con = client.get_connection().unwrap();
            // Slowly, so that the failover comes in the middle.
            con.scan_iter::<String>(options())
                .map(Result::unwrap)
                .inspect(|_| std::thread::sleep(Duration::from_millis(1)))
                .collect::<BTreeSet<String>>()
        });
        std::thread::sleep(Duration::from_millis(100));
        cmd("CLUSTER FAILOVER")
            .exec(&mut cluster.connect(replica))
            .unwrap();
        scan.join().unwrap()
    });
    let missing: Vec<&String> = expected.difference(&scanned).collect();
    assert!(
        missing.is_empty(),
        "the scan across a failover missed {missing:?}"
    );
    let deleted: i64 = con.del(expected.iter().collect::<Vec<_>>()).unwrap();
    assert_eq!(deleted, 400);
}

#[test]
fn pubsub_introspection_and_pause_go_to_every_node() {
    let shared = shared();
    let cluster = shared.read();
    let mut con = connection(&cluster);
    let mut subscribers: Vec<respec::PubSub> = (0..2)
        .map(|idx| {
            let node = respec::Client::open(cluster.nodes()[idx].url()).unwrap();
            let mut pubsub = node.pubsub();
            pubsub.subscribe("fan-out-channel").unwrap();
            pubsub.psubscribe("fan-out-pattern:*").unwrap();
            pubsub
        })
        .collect();
    let channels: Vec<String> = con
        .pubsub_channels_options(
            respec::commands::PubsubChannelsOptions::default().pattern("fan-out-*"),
        )
        .unwrap();
    assert_eq!(channels, ["fan-out-channel"], "each channel once");
    let counts: Vec<(String, i64)> = con
        .pubsub_numsub_options(
            respec::commands::PubsubNumsubOptions::default().channel(["fan-out-channel", "nobody"]),
        )
        .unwrap();
    assert_eq!(
        counts,
        [("fan-out-channel".to_owned(), 2), ("nobody".to_owned(), 0)]
    );
    let patterns: i64 = con.pubsub_numpat().unwrap();
    assert!(patterns >= 2, "{patterns}");
    subscribers.clear();
    // CLIENT PAUSE and UNPAUSE reach every node.
    con.client_pause(1000).unwrap();
    con.client_unpause().unwrap();
    let pong: String = con.ping().unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn commands_go_to_the_nodes_the_caller_chooses() {
    let shared = shared();
    let cluster = shared.read();
    let client = client(&cluster);
    let mut con = client.get_connection().unwrap();
    let each = con.on_nodes(&cmd("PING"), &respec::Nodes::All).unwrap();
    assert_eq!(each.len(), 6);
    let ports: BTreeSet<u16> = each.iter().map(|(node, _)| node.port).collect();
    let all: BTreeSet<u16> = cluster
        .nodes()
        .iter()
        .map(support::server::RedisServer::port)
        .collect();
    assert_eq!(ports, all);
    assert!(
        each.iter()
            .all(|(_, reply)| *reply == Value::SimpleString("PONG".into()))
    );
    let roles = con
        .on_nodes(&cmd("ROLE"), &respec::Nodes::Replicas)
        .unwrap();
    assert_eq!(roles.len(), 3);
    for (node, role) in roles {
        let Value::Array(fields) = role else {
            panic!("{role:?}")
        };
        assert_eq!(fields[0], Value::BulkString("slave".into()), "{node}");
    }
    let random = con.on_nodes(&cmd("PING"), &respec::Nodes::Random).unwrap();
    assert_eq!(random.len(), 1);
    let one = client.primaries()[1].clone();
    let mine: Vec<(respec::NodeAddr, Value)> = con
        .on_nodes(&cmd("CLUSTER MYID"), &respec::Nodes::Node(one.clone()))
        .unwrap();
    let id = cluster.id(cluster.index_of(one.port));
    assert_eq!(mine, [(one, Value::BulkString(id.to_owned().into()))]);
    // Merged by the command's policy: DBSIZE on the primaries is their sum.
    let summed: i64 = con
        .on_nodes_merged(&cmd("DBSIZE"), &respec::Nodes::Primaries)
        .unwrap();
    let each: i64 = con
        .on_nodes(&cmd("DBSIZE"), &respec::Nodes::Primaries)
        .unwrap()
        .into_iter()
        .map(|(_, v)| respec::from_redis_value::<i64>(v).unwrap())
        .sum();
    assert!((summed - each).abs() < 50, "{summed} and {each}");
    // Redirections are not followed for a node the caller chose.
    let key = support::cluster::key_served_by(0, 3, "chosen:");
    let owner = cluster.primary_port_of(key_slot(key.as_bytes()));
    let other = client
        .primaries()
        .into_iter()
        .find(|p| p.port != owner)
        .unwrap();
    let replies = con
        .on_nodes(cmd("GET").arg(&key), &respec::Nodes::Node(other))
        .unwrap();
    assert!(
        matches!(&replies[0].1, Value::ServerError(e) if e.code() == "MOVED"),
        "{replies:?}"
    );
    runtime().block_on(async {
        let con = client.get_async_connection().await.unwrap();
        let each = con
            .on_nodes(&cmd("PING"), &respec::Nodes::Primaries)
            .await
            .unwrap();
        assert_eq!(each.len(), 3);
        let summed: i64 = con
            .on_nodes_merged(&cmd("DBSIZE"), &respec::Nodes::Primaries)
            .await
            .unwrap();
        assert!(summed >= 0);
    });
}

#[test]
fn the_toolkit_works_on_a_cluster() {
    let shared = shared();
    let cluster = shared.read();
    let client = client(&cluster);
    // The lock, sync through the client and async through a connection.
    let mut lock = client
        .lock("toolkit:lock")
        .timeout(Some(Duration::from_secs(5)));
    assert!(lock.acquire().unwrap());
    let mut rival = client.lock("toolkit:lock").blocking(false);
    assert!(!rival.acquire().unwrap(), "held");
    lock.release().unwrap();
    assert!(rival.acquire().unwrap());
    rival.release().unwrap();
    runtime().block_on(async {
        let con = client.get_async_connection().await.unwrap();
        let mut lock = respec::aio::Lock::new(con, "toolkit:async-lock");
        assert!(lock.acquire().await.unwrap());
        lock.release().await.unwrap();
    });

    // The WATCH transaction helper, on keys of one slot.
    let mut con = client.get_connection().unwrap();
    con.set("{toolkit}:balance", 10).unwrap();
    let (balance,): (i64,) = respec::transaction(&mut con, "{toolkit}:balance", |con, pipe| {
        let balance: i64 = con.get("{toolkit}:balance")?;
        pipe.set("{toolkit}:balance", balance - 3)
            .ignore()
            .get("{toolkit}:balance");
        Ok(())
    })
    .unwrap();
    assert_eq!(balance, 7);
    let e = respec::transaction::<_, (), _>(&mut con, ["{a}x", "{b}y"], |_, _| Ok(())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    runtime().block_on(async {
        let mut con = client.get_async_connection().await.unwrap();
        let (balance,): (i64,) =
            respec::aio::transaction(&mut con, "{toolkit}:balance", async |con, pipe| {
                let balance: i64 = con.get("{toolkit}:balance").await?;
                pipe.set("{toolkit}:balance", balance - 2)
                    .ignore()
                    .get("{toolkit}:balance");
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(balance, 5);
        let e =
            respec::aio::transaction::<_, (), _>(&mut con, ["{a}x", "{b}y"], async |_, _| Ok(()))
                .await
                .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    });

    // Blocking commands: a dedicated connection per node on the sync side, the
    // multiplexed connection's dedicated ones on the async side.
    let queue = "{toolkit}:queue";
    let pusher = {
        let client = client.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let mut con = client.get_connection().unwrap();
            con.rpush(queue, "job").unwrap();
        })
    };
    let popped: Option<(String, String)> = con.blpop(queue, 5.0).unwrap();
    assert_eq!(popped, Some((queue.to_owned(), "job".to_owned())));
    pusher.join().unwrap();

    // Classic pub/sub: a message published through the cluster reaches a subscriber
    // on any node.
    let mut subscriber = client.pubsub();
    subscriber.subscribe("toolkit:news").unwrap();
    let _ = subscriber.get_message(Duration::from_millis(200)).unwrap();
    let receivers: i64 = con.publish("toolkit:news", "hello").unwrap();
    assert!(receivers <= 1);
    let message = loop {
        let message = subscriber
            .get_message(Duration::from_secs(5))
            .unwrap()
            .expect("a message");
        if message.kind() == respec::MessageKind::Message {
            break message;
        }
    };
    assert_eq!(message.payload::<String>().unwrap(), "hello");

    // MONITOR on a chosen node sees the commands that node runs.
    let key = support::cluster::key_served_by(2, 3, "toolkit:monitored:");
    let owner = client.primary_for_slot(key_slot(key.as_bytes())).unwrap();
    let mut monitor = client.monitor(&owner).unwrap();
    con.set(&key, 1).unwrap();
    let entry = loop {
        let entry = monitor
            .next_entry(Duration::from_secs(5))
            .unwrap()
            .expect("an entry");
        if entry.command.eq_ignore_ascii_case("SET") {
            break entry;
        }
    };
    assert_eq!(entry.args.first().map(|a| &a[..]), Some(key.as_bytes()));
}

/// Publishes `payload` on the shard channel until `subscriber` gets it (a subscription
/// that moves takes a moment to be made again), within 10 s.
fn shard_message_arrives(
    con: &mut ClusterConnection,
    subscriber: &mut respec::PubSub,
    channel: &str,
    payload: &str,
) {
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let _: i64 = cmd("SPUBLISH")
            .arg(channel)
            .arg(payload)
            .query(con)
            .unwrap();
        while let Some(message) = subscriber.get_message(Duration::from_millis(100)).unwrap() {
            if message.kind() == respec::MessageKind::SMessage
                && message.payload::<String>().unwrap() == payload
            {
                return;
            }
        }
    }
    panic!("{payload} did not arrive on {channel}");
}

#[test]
fn sharded_pubsub_follows_its_slot_through_a_migration_and_a_failover() {
    let shared = shared();
    let cluster = shared.write();
    let client = client(&cluster);
    let mut con = client.get_connection().unwrap();
    let channel = "{shard-news}.sport";
    let slot = key_slot(b"shard-news");
    let mut subscriber = client.sharded_pubsub(channel);
    subscriber.ssubscribe(channel).unwrap();
    shard_message_arrives(&mut con, &mut subscriber, channel, "before");

    // A migration: the old owner pushes sunsubscribe, and the subscriber moves.
    let source = cluster.serving(slot);
    let target = cluster.another_primary(source);
    migrate_slot(&cluster, slot, target);
    shard_message_arrives(&mut con, &mut subscriber, channel, "after the migration");

    // A failover of the shard that serves it now.
    let replica = cluster.replica_of(target);
    cmd("CLUSTER FAILOVER")
        .exec(&mut cluster.connect(replica))
        .unwrap();
    support::wait_until("the replica to take over", || {
        cluster.primary_port_of(slot) == cluster.nodes()[replica].port()
    });
    shard_message_arrives(&mut con, &mut subscriber, channel, "after the failover");

    // The async subscriber moves the same way.
    runtime().block_on(async {
        let mut subscriber = client.async_sharded_pubsub(channel);
        subscriber.ssubscribe(channel).await.unwrap();
        let back = cluster.serving(slot);
        let elsewhere = cluster.another_primary(back);
        tokio::task::block_in_place(|| migrate_slot(&cluster, slot, elsewhere));
        let mut aio_con = client.get_async_connection().await.unwrap();
        let started = std::time::Instant::now();
        'wait: while started.elapsed() < Duration::from_secs(10) {
            let _: i64 = cmd("SPUBLISH")
                .arg(channel)
                .arg("async")
                .query_async(&mut aio_con)
                .await
                .unwrap();
            while let Some(message) = subscriber
                .get_message(Duration::from_millis(100))
                .await
                .unwrap()
            {
                if message.kind() == respec::MessageKind::SMessage {
                    break 'wait;
                }
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the async subscriber moved"
        );
    });
}

/// One or more commands of every command group through the cluster client, keys spread
/// over the shards (hash tags where a command takes several), under RESP2 and RESP3.
#[test]
fn every_command_group_works_through_the_cluster() {
    use respec::commands as c;
    let shared = shared();
    let cluster = shared.read();
    for protocol in support::PROTOCOLS {
        let mut options: respec::ConnectionInfo = cluster.urls()[0].parse().unwrap();
        options.protocol = protocol;
        let client = ClusterClient::builder()
            .seed(cluster.urls()[0].as_str())
            .node_options(options)
            .build()
            .unwrap();
        let con = &mut client.get_connection().unwrap();
        let prefix = format!("groups-{protocol:?}");
        let key = |name: &str| format!("{prefix}:{name}");
        let tagged = |name: &str| format!("{{{prefix}}}:{name}");
        // string
        con.set(key("s"), "hello").unwrap();
        assert_eq!(con.append(key("s"), " world").unwrap(), 11);
        assert_eq!(con.getrange::<String>(key("s"), 0, 4).unwrap(), "hello");
        assert_eq!(con.incrby(key("n"), 5).unwrap(), 5);
        // list
        assert_eq!(con.rpush(key("l"), ["a", "b", "c"]).unwrap(), 3);
        let moved: String = con
            .lmove(
                tagged("l1"),
                tagged("l2"),
                c::LmoveWherefrom::Left,
                c::LmoveWhereto::Right,
            )
            .unwrap_or_default();
        assert_eq!(moved, "");
        assert_eq!(
            con.lrange::<Vec<String>>(key("l"), 0, -1).unwrap(),
            ["a", "b", "c"]
        );
        // set
        assert_eq!(con.sadd(tagged("a"), ["1", "2", "3"]).unwrap(), 3);
        assert_eq!(con.sadd(tagged("b"), ["2", "3", "4"]).unwrap(), 3);
        assert_eq!(
            con.sinterstore(tagged("i"), [tagged("a"), tagged("b")])
                .unwrap(),
            2
        );
        // sorted set
        assert_eq!(con.zadd(tagged("x"), [(1.0, "m"), (2.0, "n")]).unwrap(), 2);
        assert_eq!(
            con.zadd(tagged("y"), [(10.0, "n"), (20.0, "o")]).unwrap(),
            2
        );
        assert_eq!(
            con.zunionstore(tagged("u"), [tagged("x"), tagged("y")])
                .unwrap(),
            3
        );
        assert_eq!(con.zcard(tagged("u")).unwrap(), 3);
        // hash
        assert_eq!(
            con.hset(key("h"), [("name", "Ada"), ("year", "1815")])
                .unwrap(),
            2
        );
        let h: std::collections::HashMap<String, String> = con.hgetall(key("h")).unwrap();
        assert_eq!(h["name"], "Ada");
        // stream
        let id: String = con
            .xadd(key("st"), c::XaddIdSelector::id("1-1"), [("f", "1")])
            .unwrap();
        assert_eq!(id, "1-1");
        assert_eq!(con.xlen(key("st")).unwrap(), 1);
        // geo
        assert_eq!(
            con.geoadd(
                key("geo"),
                [
                    (13.361_389, 38.115_556, "Palermo"),
                    (15.087_269, 37.502_669, "Catania")
                ]
            )
            .unwrap(),
            2
        );
        let meters: f64 = con.geodist(key("geo"), "Palermo", "Catania").unwrap();
        assert!((166_274.0..166_275.0).contains(&meters), "{meters}");
        // hyperloglog
        con.pfadd_options(tagged("h1"), c::PfaddOptions::default().element(["a", "b"]))
            .unwrap();
        con.pfadd_options(tagged("h2"), c::PfaddOptions::default().element(["b", "c"]))
            .unwrap();
        assert_eq!(con.pfcount([tagged("h1"), tagged("h2")]).unwrap(), 3);
        // bitmap
        assert!(!con.setbit(tagged("b1"), 7, 1).unwrap());
        assert_eq!(
            con.bitop(
                c::BitopOperation::Or,
                tagged("or"),
                [tagged("b1"), tagged("b1")]
            )
            .unwrap(),
            1
        );
        assert_eq!(con.bitcount(tagged("or")).unwrap(), 1);
        // generic
        assert!(con.copy(tagged("a"), tagged("a-copy")).unwrap());
        assert!(con.expire(key("s"), 100).unwrap());
        assert_eq!(con.key_type::<String>(key("h")).unwrap(), "hash");
        let existing: i64 = con.exists([key("s"), key("h"), key("missing")]).unwrap();
        assert_eq!(existing, 2);
        // scripting
        let script = Script::new("return redis.call('GET', KEYS[1])");
        let n: i64 = script.key(key("n")).invoke(con).unwrap();
        assert_eq!(n, 5);
        let evaluated: i64 = cmd("EVAL")
            .arg("return #KEYS")
            .arg(2)
            .arg([tagged("a"), tagged("b")])
            .query(con)
            .unwrap();
        assert_eq!(evaluated, 2);
        // transactions
        let ((), got): ((), String) = pipe()
            .atomic()
            .set(tagged("tx"), "v")
            .get(tagged("tx"))
            .query(con)
            .unwrap();
        assert_eq!(got, "v");
        // connection
        let echoed: String = con.echo("hi").unwrap();
        assert_eq!(echoed, "hi");
        let pong: String = con.ping().unwrap();
        assert_eq!(pong, "PONG");
        // pubsub
        let _: i64 = con.publish("groups-channel", "m").unwrap();
        let _: i64 = con.spublish(key("shard-channel"), "m").unwrap();
        // server
        let size: i64 = con.dbsize().unwrap();
        assert!(size > 0);
        let time: Vec<String> = con.time().unwrap();
        assert_eq!(time.len(), 2);
        let deleted: i64 = con
            .del([
                key("s"),
                key("n"),
                key("l"),
                key("h"),
                key("st"),
                key("geo"),
                tagged("a"),
                tagged("b"),
            ])
            .unwrap();
        assert!(deleted >= 8);
    }
}

#[test]
fn addresses_are_remapped_and_nodes_connected_where_the_hook_says() {
    let shared = shared();
    let cluster = shared.read();
    let remapped = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = remapped.clone();
    let client = ClusterClient::builder()
        .seed(cluster.urls()[0].as_str())
        .address_remap(move |addr: &respec::NodeAddr| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            respec::NodeAddr {
                host: "localhost".into(),
                port: addr.port,
            }
        })
        .build()
        .unwrap();
    let mut con = client.get_connection().unwrap();
    assert!(
        client.nodes().iter().all(|node| node.host == "localhost"),
        "{:?}",
        client.nodes()
    );
    assert!(remapped.load(std::sync::atomic::Ordering::Relaxed) >= 6);
    for key in key_per_primary("remap:") {
        con.set(&key, 1).unwrap();
        let v: i64 = con.get(&key).unwrap();
        assert_eq!(v, 1);
    }
}

#[test]
fn the_slot_map_is_checked_every_refresh_interval() {
    let shared = shared();
    let cluster = shared.read();
    let client = ClusterClient::builder()
        .seed(cluster.urls()[0].as_str())
        .refresh_interval(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let mut con = client.get_connection().unwrap();
    let before = client.stats().refreshes;
    std::thread::sleep(Duration::from_millis(150));
    con.set("periodic:k", 1).unwrap();
    assert_eq!(
        client.stats().refreshes,
        before + 1,
        "the sync connection checked once"
    );
    runtime().block_on(async {
        let _con = client.get_async_connection().await.unwrap();
        let before = client.stats().refreshes;
        tokio::time::sleep(Duration::from_millis(550)).await;
        let checks = client.stats().refreshes - before;
        assert!(
            checks >= 2,
            "the async connection checks by itself: {checks}"
        );
    });
}

#[test]
fn reads_follow_the_availability_zone_when_asked() {
    let shared = shared();
    let cluster = shared.read();
    let key = support::cluster::key_served_by(1, 3, "zone:");
    let primary = cluster.serving(key_slot(key.as_bytes()));
    let replica = cluster.replica_of(primary);
    let mut node = cluster.connect(replica);
    let known = cmd("CONFIG SET")
        .arg("availability-zone")
        .arg("zone-b")
        .exec(&mut node)
        .is_ok();
    if !support::server_has("availability zones (Valkey 8.1)", known) {
        return;
    }
    let client = reading_from(
        &cluster,
        respec::ReadFrom::AvailabilityZone("zone-b".into()),
    );
    let mut con = client.get_connection().unwrap();
    reads_reach(&cluster, &client, &mut con, &key, replica);
    let before = gets_served(&cluster, replica);
    for _ in 0..10 {
        let v: String = con.get(&key).unwrap();
        assert_eq!(v, "v");
    }
    assert_eq!(
        gets_served(&cluster, replica),
        before + 10,
        "every read in the zone"
    );
    cmd("CONFIG SET")
        .arg("availability-zone")
        .arg("")
        .exec(&mut node)
        .unwrap();
}

/// RESP for a `CLUSTER SHARDS` reply: one shard on `port` serving every slot.
fn one_shard(port: u16) -> Vec<u8> {
    format!(
        "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n*10\r\n\
         $2\r\nid\r\n$4\r\nfake\r\n$4\r\nport\r\n:{port}\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n\
         $4\r\nrole\r\n$6\r\nmaster\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    )
    .into_bytes()
}

/// RESP for a `COMMAND INFO` entry of a module's command whose keys run from argument 1
/// to the last: `name` keys... (no `multi_shard` tip).
fn module_command(name: &str) -> Vec<u8> {
    let spec = "*6\r\n$5\r\nflags\r\n*1\r\n$2\r\nRO\r\n\
                $12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n\
                $9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n";
    format!(
        "*1\r\n*10\r\n${}\r\n{name}\r\n:-2\r\n*1\r\n$8\r\nreadonly\r\n:1\r\n:-1\r\n:1\r\n*0\r\n*0\r\n*1\r\n{spec}*0\r\n",
        name.len()
    )
    .into_bytes()
}

#[test]
fn a_command_the_table_does_not_know_is_routed_by_what_command_info_says() {
    use support::fake::FakeServer;
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Vec<Vec<u8>>>::new()));
    let port = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(0));
    let server = {
        let (asked, sent, port) = (asked.clone(), sent.clone(), port.clone());
        FakeServer::start(move |peer| {
            while let Some(args) = peer.read_command() {
                let words: Vec<String> = args
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
                    .collect();
                let reply = match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                    ["CLUSTER", "SHARDS"] => {
                        one_shard(port.load(std::sync::atomic::Ordering::SeqCst))
                    }
                    ["COMMAND", "INFO", name] => {
                        asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        module_command(&name.to_ascii_lowercase())
                    }
                    [name, ..] if name.starts_with("FAKEMOD.") => {
                        sent.lock().unwrap().push(args.clone());
                        b"$5\r\nvalue\r\n".to_vec()
                    }
                    _ => b"+OK\r\n".to_vec(),
                };
                if !peer.write(&reply) {
                    return;
                }
            }
        })
    };
    port.store(server.port(), std::sync::atomic::Ordering::SeqCst);
    let client = ClusterClient::new([server.url("")]).unwrap();
    let mut con = client.get_connection().unwrap();
    for _ in 0..3 {
        let value: String = cmd("FAKEMOD.GET").arg("k").query(&mut con).unwrap();
        assert_eq!(value, "value");
    }
    assert_eq!(
        asked.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "COMMAND INFO once"
    );
    let learned = respec::commands::lookup(b"FAKEMOD.GET", None).expect("learned");
    assert_eq!(learned.key_indices(&[b"FAKEMOD.GET", b"k"]), [1]);
    // Its keys in two slots, and no multi_shard tip: refused before anything is sent.
    let before = sent.lock().unwrap().len();
    let e = cmd("FAKEMOD.GET")
        .arg("{a}1")
        .arg("{b}1")
        .query::<String>(&mut con)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(sent.lock().unwrap().len(), before, "nothing sent");
    let both: String = cmd("FAKEMOD.GET")
        .arg("{a}1")
        .arg("{a}2")
        .query(&mut con)
        .unwrap();
    assert_eq!(both, "value");
}

#[test]
fn the_seed_s_options_connect_every_node_credentials_tls_protocol_and_name() {
    use support::cluster::SECURED_PASSWORD;
    let cluster = Cluster::start_secured(3, 0);
    let tls = support::server_kind().has_tls();
    let node = &cluster.nodes()[0];
    let seed = if tls {
        let ca = support::certs::certs().ca_cert.display().to_string();
        format!(
            "rediss://:{SECURED_PASSWORD}@localhost:{}/?ssl_ca_certs={ca}&protocol=3&client_name=cluster-app",
            node.tls_port().unwrap()
        )
    } else {
        format!(
            "redis://:{SECURED_PASSWORD}@127.0.0.1:{}/?protocol=3&client_name=cluster-app",
            node.port()
        )
    };
    // The nodes report their IP address; the server certificate names `localhost`.
    let client = ClusterClient::builder()
        .seed(seed.as_str())
        .address_remap(|addr: &respec::NodeAddr| respec::NodeAddr {
            host: "localhost".into(),
            port: addr.port,
        })
        .build()
        .unwrap();
    let mut con = client.get_connection().unwrap();
    if tls {
        let ports: Vec<u16> = client.nodes().iter().map(|n| n.port).collect();
        let tls_ports: Vec<u16> = cluster
            .nodes()
            .iter()
            .map(|n| n.tls_port().unwrap())
            .collect();
        assert_eq!(
            ports, tls_ports,
            "the TLS ports, as CLUSTER SHARDS names them"
        );
    }
    for key in key_per_primary("secured:") {
        con.set(&key, "v").unwrap();
        let back: String = con.get(&key).unwrap();
        assert_eq!(back, "v");
    }
    // RESP3 and the client name on every node.
    let hello = con
        .on_nodes(&cmd("CLIENT INFO"), &respec::Nodes::All)
        .unwrap();
    assert_eq!(hello.len(), 3);
    for (node, info) in hello {
        let info: String = respec::from_redis_value(info).unwrap();
        assert!(info.contains("name=cluster-app"), "{node}: {info}");
        assert!(info.contains("resp=3"), "{node}: {info}");
    }
    runtime().block_on(async {
        let mut con = client.get_async_connection().await.unwrap();
        let size: i64 = con.dbsize().await.unwrap();
        assert_eq!(size, 3);
    });
    // A wrong password is an authentication error, in time.
    let wrong = seed.replace(SECURED_PASSWORD, "wrong");
    let e = ClusterClient::builder()
        .seed(wrong.as_str())
        .address_remap(|addr: &respec::NodeAddr| respec::NodeAddr {
            host: "localhost".into(),
            port: addr.port,
        })
        .build()
        .unwrap()
        .get_connection()
        .unwrap_err();
    assert!(
        e.to_string().contains("WRONGPASS") || e.kind() == ErrorKind::Authentication,
        "{e}"
    );
    assert!(
        !e.to_string().contains("wrong"),
        "the password is not echoed: {e}"
    );
}

/// The same groups through the async cluster connection, under RESP2 and RESP3.
#[test]
fn every_command_group_works_through_the_async_cluster_connection() {
    use respec::commands as c;
    let shared = shared();
    let cluster = shared.read();
    runtime().block_on(async {
        for protocol in support::PROTOCOLS {
            let mut options: respec::ConnectionInfo = cluster.urls()[0].parse().unwrap();
            options.protocol = protocol;
            let client = ClusterClient::builder()
                .seed(cluster.urls()[0].as_str())
                .node_options(options)
                .build()
                .unwrap();
            let con = &mut client.get_async_connection().await.unwrap();
            let prefix = format!("async-groups-{protocol:?}");
            let key = |name: &str| format!("{prefix}:{name}");
            let tagged = |name: &str| format!("{{{prefix}}}:{name}");
            // string
            con.set(key("s"), "hello").await.unwrap();
            assert_eq!(con.append(key("s"), " world").await.unwrap(), 11);
            assert_eq!(con.incrby(key("n"), 5).await.unwrap(), 5);
            // list
            assert_eq!(con.rpush(key("l"), ["a", "b"]).await.unwrap(), 2);
            let moved: String = con
                .lmove(
                    key("l"),
                    key("l"),
                    c::LmoveWherefrom::Left,
                    c::LmoveWhereto::Right,
                )
                .await
                .unwrap();
            assert_eq!(moved, "a");
            // set
            assert_eq!(con.sadd(tagged("a"), ["1", "2", "3"]).await.unwrap(), 3);
            assert_eq!(con.sadd(tagged("b"), ["2", "3", "4"]).await.unwrap(), 3);
            assert_eq!(
                con.sinterstore(tagged("i"), [tagged("a"), tagged("b")])
                    .await
                    .unwrap(),
                2
            );
            // sorted set
            assert_eq!(
                con.zadd(tagged("x"), [(1.0, "m"), (2.0, "n")])
                    .await
                    .unwrap(),
                2
            );
            assert_eq!(
                con.zunionstore(tagged("u"), [tagged("x"), tagged("x")])
                    .await
                    .unwrap(),
                2
            );
            // hash
            assert_eq!(con.hset(key("h"), [("name", "Ada")]).await.unwrap(), 1);
            let h: std::collections::HashMap<String, String> = con.hgetall(key("h")).await.unwrap();
            assert_eq!(h["name"], "Ada");
            // stream
            let id: String = con
                .xadd(key("st"), c::XaddIdSelector::id("1-1"), [("f", "1")])
                .await
                .unwrap();
            assert_eq!(id, "1-1");
            // geo
            assert_eq!(
                con.geoadd(key("geo"), (13.361_389, 38.115_556, "Palermo"))
                    .await
                    .unwrap(),
                1
            );
            // hyperloglog
            con.pfadd_options(tagged("h1"), c::PfaddOptions::default().element(["a", "b"]))
                .await
                .unwrap();
            assert_eq!(con.pfcount(tagged("h1")).await.unwrap(), 2);
            // bitmap
            assert!(!con.setbit(tagged("b1"), 7, 1).await.unwrap());
            assert_eq!(con.bitcount(tagged("b1")).await.unwrap(), 1);
            // generic
            assert!(con.copy(tagged("a"), tagged("a-copy")).await.unwrap());
            let existing: i64 = con
                .exists([key("s"), key("h"), key("missing")])
                .await
                .unwrap();
            assert_eq!(existing, 2);
            // scripting
            let script = Script::new("return redis.call('GET', KEYS[1])");
            let n: i64 = script.key(key("n")).invoke_async(con).await.unwrap();
            assert_eq!(n, 5);
            // transactions
            let ((), got): ((), String) = pipe()
                .atomic()
                .set(tagged("tx"), "v")
                .get(tagged("tx"))
                .query_async(con)
                .await
                .unwrap();
            assert_eq!(got, "v");
            // connection and server
            let echoed: String = con.echo("hi").await.unwrap();
            assert_eq!(echoed, "hi");
            let size: i64 = con.dbsize().await.unwrap();
            assert!(size > 0);
            // pubsub
            let _: i64 = con.publish("async-groups-channel", "m").await.unwrap();
            let _: i64 = con.spublish(key("shard-channel"), "m").await.unwrap();
            let deleted: i64 = con
                .del([
                    key("s"),
                    key("n"),
                    key("l"),
                    key("h"),
                    key("st"),
                    key("geo"),
                    tagged("a"),
                ])
                .await
                .unwrap();
            assert!(deleted >= 7);
        }
    });
}
