//! The Sentinel client against a real master, two replicas and three Sentinels: finding
//! the master, following a failover and a crash without writing to the old master,
//! Sentinels down or refusing the password, and the toolkit through it all.
//!
//! One topology serves the whole binary (`support::sentinel::shared`), one test at a
//! time. The failover tests print what they measured (switch and recovery times,
//! writes per master); run them with `--nocapture` to see it.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use respec::{
    AsyncCommands, AsyncSentinelCommands, Client, Commands, Connection, ErrorKind, Script,
    SentinelClient, SentinelCommands, Tenure, Value,
};
use support::sentinel::{Frozen, SERVICE, Topology, node_info, node_options, role, shared};
use support::wait_until;

fn client(topology: &Topology) -> SentinelClient {
    let mut builder = SentinelClient::builder(SERVICE).node_options(node_options());
    for url in topology.sentinel_urls() {
        builder = builder.sentinel(url);
    }
    builder.build().expect("a Sentinel client")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn role_of(con: &mut impl respec::ConnectionLike) -> String {
    let role: Vec<Value> = con.role().expect("ROLE");
    match role.first() {
        Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("ROLE said {other:?}"),
    }
}

#[test]
fn the_master_and_replicas_are_found_and_confirmed() {
    let shared = shared();
    let topology = shared.lock();
    let master_port = topology.master_port();
    // Given one Sentinel, the client learns the other two.
    let first = topology.sentinel_urls().remove(0);
    let sentinel = SentinelClient::builder(SERVICE)
        .sentinel(first)
        .node_options(node_options())
        .build()
        .unwrap();
    assert_eq!(sentinel.discover_master().unwrap().port, master_port);

    let mut master = sentinel.master();
    master.set("found", "here").unwrap();
    assert_eq!(sentinel.current_master().unwrap().port, master_port);
    assert_eq!(role_of(&mut *master.get_connection().unwrap()), "master");
    wait_until("the client learns the other Sentinels", || {
        sentinel.sentinels().len() == 3
    });

    let mut replica = sentinel.replicas().get_connection().unwrap();
    assert_eq!(role_of(&mut *replica), "slave");
    wait_until("the write reaches the replica", || {
        replica.get::<Option<String>>("found").unwrap().as_deref() == Some("here")
    });
    // Replicas refuse writes, as replicas do.
    let e = replica.set("found", "there").unwrap_err();
    assert_eq!(e.code(), Some("READONLY"), "{e}");
    // New replica connections take the replicas in turn, once the Sentinels see both
    // healthy (after a failover in an earlier test, the old master takes a while to
    // become a replica).
    wait_until_long("the Sentinels see two healthy replicas", || {
        let mut con = sentinel.sentinel_connection().unwrap();
        let replicas: Vec<std::collections::HashMap<String, String>> =
            con.sentinel_replicas(SERVICE).unwrap();
        let healthy = replicas.iter().filter(|r| {
            r.get("flags")
                .is_some_and(|f| !f.contains("down") && !f.contains("disconnected"))
                && r.get("master-link-status").is_some_and(|s| s == "ok")
        });
        healthy.count() == 2
    });
    let replicas = sentinel.replicas();
    let ports: std::collections::BTreeSet<String> = (0..4)
        .map(|_| {
            replicas
                .get_dedicated_connection()
                .unwrap()
                .addr()
                .to_string()
        })
        .collect();
    assert_eq!(ports.len(), 2, "{ports:?}");

    // The Sentinel commands, on one Sentinel and on each.
    let mut con = sentinel.sentinel_connection().unwrap();
    #[allow(deprecated)] // Redis Sentinels know only this name
    let (_, port): (String, u16) = con.sentinel_get_master_addr_by_name(SERVICE).unwrap();
    assert_eq!(port, master_port);
    let quorums = sentinel.on_each_sentinel(|con| con.sentinel_ckquorum::<String>(SERVICE));
    assert_eq!(quorums.len(), 3);
    for (addr, quorum) in quorums {
        assert!(quorum.unwrap().starts_with("OK"), "Sentinel {addr}");
    }
}

#[test]
fn the_async_backends_find_the_master() {
    let shared = shared();
    let topology = shared.lock();
    let master_port = topology.master_port();
    let sentinel = client(&topology);
    runtime().block_on(async {
        let master = sentinel.master();
        let mut mux = master.get_multiplexed_async_connection().await.unwrap();
        mux.set("async-found", 1).await.unwrap();
        let mut manager = master.connection_manager().await.unwrap();
        assert_eq!(manager.get::<i64>("async-found").await.unwrap(), 1);
        assert_eq!(sentinel.current_master().unwrap().port, master_port);
        let mut pooled = master.get_async_connection().await.unwrap();
        let role: Vec<Value> = pooled.role().await.unwrap();
        assert_eq!(role.first(), Some(&Value::BulkString("master".into())));

        let mut replica = sentinel.replicas().get_async_connection().await.unwrap();
        let role: Vec<Value> = replica.role().await.unwrap();
        assert_eq!(role.first(), Some(&Value::BulkString("slave".into())));

        let mut con = sentinel.sentinel_connection_async().await.unwrap();
        #[allow(deprecated)] // Redis Sentinels know only these names
        let (_, port): (String, u16) = con.sentinel_get_master_addr_by_name(SERVICE).await.unwrap();
        assert_eq!(port, master_port);
        #[allow(deprecated)]
        let answers = sentinel
            .on_each_sentinel_async(async |con| con.sentinel_master::<Value>(SERVICE).await)
            .await;
        assert_eq!(answers.len(), 3);
        assert!(answers.iter().all(|(_, a)| a.is_ok()));
    });
}

#[test]
fn a_wrong_sentinel_password_is_an_error_naming_the_sentinel() {
    let shared = shared();
    let mut topology = shared.lock();
    let port = topology.sentinels()[0].port();
    let sentinel = SentinelClient::builder(SERVICE)
        .sentinel(format!("redis://:wrong@127.0.0.1:{port}"))
        .node_options(node_options())
        .build()
        .unwrap();
    let e = sentinel.master().set("k", "v").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("Sentinel 127.0.0.1:{port}")),
        "{e}"
    );

    // The Sentinels' password does not open the data nodes: the two never mix.
    let sentinel = SentinelClient::builder(SERVICE)
        .sentinel(topology.sentinel_urls().remove(0))
        .node_options("redis://:wrong@127.0.0.1/0")
        .build()
        .unwrap();
    let e = sentinel.master().set("k", "v").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    assert!(!e.to_string().contains("Sentinel"), "{e}");
    drop(topology);
}

/// Opens connections to one node under one tenure, as a connector that picks servers
/// by role does.
#[derive(Debug)]
struct UnderTenure(respec::ConnectionInfo, Tenure);

impl respec::Connector for UnderTenure {
    fn options(&self) -> &respec::ConnectionInfo {
        &self.0
    }

    fn connect(&self) -> respec::Result<Connection> {
        let mut con = Connection::open(&self.0)?;
        con.set_tenure(self.1.clone());
        Ok(con)
    }

    fn connect_async(&self) -> respec::aio::ConnectFuture<'_> {
        Box::pin(async {
            let mut con = respec::aio::Connection::open(&self.0).await?;
            con.set_tenure(self.1.clone());
            Ok(con)
        })
    }
}

/// With no replica answering, reads through the replica client go to the master.
#[test]
fn with_no_replica_answering_reads_go_to_the_master() {
    let shared = shared();
    let topology = shared.lock();
    let master = topology.master_port();
    let sentinel = client(&topology);
    let replicas = topology
        .nodes()
        .iter()
        .filter(|n| n.port() != master)
        .collect();
    let frozen = Frozen::new(replicas);
    let mut con = sentinel.replicas().get_dedicated_connection().unwrap();
    assert_eq!(con.addr().to_string(), format!("127.0.0.1:{master}"));
    assert_eq!(role_of(&mut con), "master");
    drop(frozen);
}

/// A master turned replica answers `READONLY`: that ends the tenure of the
/// connections opened to it as a master, which then send nothing more.
#[test]
fn a_readonly_reply_ends_the_tenure() {
    let shared = shared();
    let topology = shared.lock();
    let master = topology.master_port();
    let replica = topology
        .node_ports()
        .into_iter()
        .find(|p| *p != master)
        .unwrap();
    let tenure = Tenure::new();
    let connector = UnderTenure(node_info(replica), tenure.clone());
    let client = Client::with_connector(
        Arc::new(connector),
        respec::PoolConfig::default(),
        respec::RetryPolicy::none(),
    );
    let mut con = client.get_connection().unwrap();
    assert_eq!(con.set("k", 1).unwrap_err().code(), Some("READONLY"));
    assert!(tenure.ended().unwrap().contains("READONLY"));
    let e = con.get::<Option<i64>>("k").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection);
    assert!(e.to_string().contains("not sent"), "{e}");

    // The same on a multiplexed connection: it fails as a lost one, and the manager
    // would reconnect.
    let tenure = Tenure::new();
    let client = Client::with_connector(
        Arc::new(UnderTenure(node_info(replica), tenure.clone())),
        respec::PoolConfig::default(),
        respec::RetryPolicy::none(),
    );
    runtime().block_on(async {
        let mut mux = client.get_multiplexed_async_connection().await.unwrap();
        let e = mux.set("k", 1).await.unwrap_err();
        assert_eq!(e.code(), Some("READONLY"));
        assert!(tenure.ended().is_some());
        assert!(!mux.is_connected());
        let e = mux.get::<Option<i64>>("k").await.unwrap_err();
        assert!(e.to_string().contains("not sent"), "{e}");
    });
}

#[test]
fn with_a_sentinel_down_the_others_answer() {
    let shared = shared();
    let mut topology = shared.lock();
    let master_port = topology.master_port();
    // The first Sentinel is down, the second frozen (it takes connections and never
    // answers): discovery passes both within their deadlines.
    let sentinel = client(&topology);
    topology.sentinels()[0].kill();
    let frozen = Frozen::new(vec![&topology.sentinels()[1]]);
    let mut master = sentinel.master();
    master.set("sentinel-down", 1).unwrap();
    assert_eq!(sentinel.current_master().unwrap().port, master_port);
    drop(frozen);
    let asked = sentinel.on_each_sentinel(Commands::ping);
    assert_eq!(asked.iter().filter(|(_, r)| r.is_ok()).count(), 2);
    let (down, e) = asked.iter().find(|(_, r)| r.is_err()).unwrap();
    let e = e.as_ref().unwrap_err();
    assert!(e.to_string().contains(&format!("Sentinel {down}")), "{e}");
    // The Sentinel that answered is asked first from then on.
    assert_ne!(sentinel.sentinels()[0].port, topology.sentinels()[0].port());
    topology.sentinels()[0].restart();
}

#[test]
fn a_master_too_few_sentinels_see_is_refused() {
    let shared = shared();
    let topology = shared.lock();
    let sentinel = SentinelClient::builder(SERVICE)
        .sentinel(topology.sentinel_urls().remove(0))
        .node_options(node_options())
        .min_other_sentinels(3)
        .build()
        .unwrap();
    let e = sentinel.master().get::<Option<String>>("k").unwrap_err();
    assert!(e.to_string().contains("fewer than the 3 required"), "{e}");
    let e = SentinelClient::new(Vec::<String>::new(), SERVICE).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

/// One write during a failover.
#[derive(Debug)]
struct Write {
    n: u64,
    /// When it ended.
    at: Instant,
    /// The master the client followed just before sending it.
    following: Option<u16>,
    res: Result<(), String>,
}

/// What one writer saw during a failover.
#[derive(Debug, Default)]
struct Writes {
    log: Vec<Write>,
}

impl Writes {
    /// The first write sent once the client stopped following `old`, after it had.
    fn switch(&self, old: u16) -> Option<&Write> {
        let followed = self.log.iter().position(|w| w.following == Some(old))?;
        self.log
            .iter()
            .skip(followed)
            .find(|w| w.following != Some(old))
    }

    fn acked_since(&self, first: u64) -> Vec<u64> {
        self.log
            .iter()
            .filter(|w| w.n >= first && w.res.is_ok())
            .map(|w| w.n)
            .collect()
    }
}

/// Runs `write` for write after write, on a thread of its own, until `stop`.
fn writer(
    sentinel: SentinelClient,
    stop: Arc<AtomicBool>,
    mut write: impl FnMut(u64) -> respec::Result<()> + Send + 'static,
) -> thread::JoinHandle<Writes> {
    thread::spawn(move || {
        let mut writes = Writes::default();
        for n in 0.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let following = sentinel.current_master().map(|m| m.port);
            let res = write(n).map_err(|e| e.to_string());
            let failed = res.is_err();
            writes.log.push(Write {
                n,
                at: Instant::now(),
                following,
                res,
            });
            thread::sleep(Duration::from_millis(if failed { 20 } else { 2 }));
        }
        writes
    })
}

/// A sync writer through the pooled master client, and an async one through a
/// connection manager, each setting `<prefix>:<n>` to `n`.
fn writers(sentinel: &SentinelClient, stop: &Arc<AtomicBool>) -> [thread::JoinHandle<Writes>; 2] {
    let mut pooled = sentinel.master();
    let sync = writer(sentinel.clone(), Arc::clone(stop), move |n| {
        pooled.set(format!("sync:{n}"), n)
    });
    let rt = runtime();
    let mut manager = rt
        .block_on(sentinel.master().connection_manager())
        .expect("a connection manager");
    let asynchronous = writer(sentinel.clone(), Arc::clone(stop), move |n| {
        rt.block_on(manager.set(format!("async:{n}"), n))
    });
    [sync, asynchronous]
}

/// Every `SET` the node on `port` runs from now until `stop`, by key.
fn watch_sets(port: u16, stop: &Arc<AtomicBool>) -> thread::JoinHandle<Vec<String>> {
    let mut monitor = Client::open(node_info(port)).unwrap().monitor().unwrap();
    let stop = Arc::clone(stop);
    thread::spawn(move || {
        let mut keys = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match monitor.next_entry(Duration::from_millis(100)) {
                Ok(Some(entry)) if entry.command.eq_ignore_ascii_case("set") => {
                    keys.push(String::from_utf8_lossy(&entry.args[0]).into_owned());
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        keys
    })
}

/// Checks one writer's story: it followed the new master, sent nothing to the old one
/// after that, and every write acknowledged since is on the new master. Returns what
/// the note reports.
fn check_writer(
    label: &str,
    prefix: &str,
    writes: &Writes,
    old: u16,
    new_master: &mut Connection,
    old_sets: Option<&[String]>,
    t0: Instant,
) -> String {
    let switch = writes
        .switch(old)
        .unwrap_or_else(|| panic!("{label}: the client never followed the new master"));
    let (switch_n, switch_at) = (switch.n, switch.at);
    if let Some(old_sets) = old_sets {
        let numbers: Vec<u64> = old_sets
            .iter()
            .filter_map(|key| key.strip_prefix(prefix)?.strip_prefix(':')?.parse().ok())
            .collect();
        // The monitor saw the writes the old master had before the switch: it was
        // watching, so seeing none after it means none came.
        assert!(
            numbers.iter().any(|n| *n < switch_n),
            "{label}: MONITOR on the old master saw none of the writes it served"
        );
        let after: Vec<&u64> = numbers.iter().filter(|n| **n >= switch_n).collect();
        assert!(
            after.is_empty(),
            "{label}: writes reached the old master after the switch: {after:?}"
        );
    }
    let acked = writes.acked_since(switch_n);
    assert!(
        !acked.is_empty(),
        "{label}: no write succeeded after the switch"
    );
    for n in &acked {
        let v: Option<u64> = new_master.get(format!("{prefix}:{n}")).unwrap();
        assert_eq!(
            v,
            Some(*n),
            "{label}: an acknowledged write is missing on the new master"
        );
    }
    let first_ok = writes
        .log
        .iter()
        .find(|w| w.n >= switch_n && w.res.is_ok())
        .map(|w| w.at.duration_since(t0))
        .unwrap();
    // Once the client followed the new master, it never went back.
    let back = writes
        .log
        .iter()
        .find(|w| w.n > switch_n && w.following == Some(old));
    assert!(
        back.is_none(),
        "{label}: the client followed the old master again: {back:?}"
    );
    let watched = if old_sets.is_some() {
        " 0 sent to the old master after the switch (MONITOR);"
    } else {
        ""
    };
    let failed = writes.log.iter().filter(|w| w.res.is_err()).count();
    let acked_before: Vec<u64> = writes
        .log
        .iter()
        .filter(|w| w.n < switch_n && w.res.is_ok())
        .map(|w| w.n)
        .collect();
    let lost = acked_before
        .iter()
        .filter(|n| {
            new_master
                .get::<Option<u64>>(format!("{prefix}:{n}"))
                .unwrap()
                .is_none()
        })
        .count();
    format!(
        "{label}: stopped writing to the old master {:?} after the event, first write acknowledged by the new one after {first_ok:?}; \
         {} writes acknowledged since, all on the new master;{watched} \
         {failed} writes failed cleanly; {lost} of {} writes the old master acknowledged before the switch are not on the new one",
        switch_at.duration_since(t0),
        acked.len(),
        acked_before.len(),
    )
}

/// Checks the sync and the async writer's stories after `event`, which the Sentinels
/// took `promoted` to act on, and prints what was measured.
fn report(
    event: &str,
    promoted: Duration,
    [sync, asynchronous]: [&Writes; 2],
    old: u16,
    old_sets: Option<&[String]>,
    t0: Instant,
    new: u16,
) {
    let mut new_master = Connection::open(&node_info(new)).unwrap();
    let lines = [
        ("sync pooled client", "sync", sync),
        ("async connection manager", "async", asynchronous),
    ]
    .map(|(label, prefix, writes)| {
        check_writer(label, prefix, writes, old, &mut new_master, old_sets, t0)
    });
    eprintln!("{event}: the Sentinels named the new master after {promoted:?}");
    for line in lines {
        eprintln!("  {line}");
    }
}

/// `SENTINEL FAILOVER` during writes from a sync and an async client.
#[test]
fn a_failover_is_followed_and_the_old_master_gets_no_write_after_it() {
    let shared = shared();
    let topology = shared.lock();
    let old = topology.master_port();
    let sentinel = client(&topology);
    let stop = Arc::new(AtomicBool::new(false));
    let stop_watch = Arc::new(AtomicBool::new(false));
    let old_sets = watch_sets(old, &stop_watch);
    let writers = writers(&sentinel, &stop);
    thread::sleep(Duration::from_millis(300));

    let t0 = Instant::now();
    sentinel
        .sentinel_connection()
        .unwrap()
        .sentinel_failover(SERVICE)
        .unwrap();
    wait_until_long("the Sentinels promote a replica", || {
        topology.master_port() != old
    });
    let promoted = t0.elapsed();
    thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let [sync, asynchronous] = writers.map(|w| w.join().unwrap());
    thread::sleep(Duration::from_millis(200));
    stop_watch.store(true, Ordering::Relaxed);
    let old_sets = old_sets.join().unwrap();

    report(
        "SENTINEL FAILOVER",
        promoted,
        [&sync, &asynchronous],
        old,
        Some(&old_sets),
        t0,
        topology.master_port(),
    );
    drop(topology);
}

/// The master killed (SIGKILL) during writes: the clients fail cleanly until the
/// promotion, then write to the new master.
#[test]
fn a_killed_master_is_replaced_after_the_promotion() {
    let shared = shared();
    let mut topology = shared.lock();
    let old = topology.master_port();
    let sentinel = client(&topology);
    let stop = Arc::new(AtomicBool::new(false));
    let writers = writers(&sentinel, &stop);
    thread::sleep(Duration::from_millis(300));

    let t0 = Instant::now();
    topology.node(old).kill();
    wait_until_long("the Sentinels promote a replica", || {
        topology.master_port() != old
    });
    let promoted = t0.elapsed();
    thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let [sync, asynchronous] = writers.map(|w| w.join().unwrap());

    // The old master is dead: nothing can reach it, so there is nothing to watch.
    report(
        "master killed",
        promoted,
        [&sync, &asynchronous],
        old,
        None,
        t0,
        topology.master_port(),
    );
    // Back as a replica of the new master, for the tests after this one.
    topology.node(old).restart();
    wait_until_long("the old master rejoins as a replica", || {
        role(old).as_deref() == Some("slave")
    });
}

/// Pub/sub, the lock, scripts and transactions follow the master through a failover.
#[test]
fn the_toolkit_follows_the_master() {
    let shared = shared();
    let topology = shared.lock();
    let old = topology.master_port();
    let sentinel = client(&topology);
    let mut master = sentinel.master();
    let rt = runtime();

    let mut sub = master.pubsub().ignore_subscribe_messages(true);
    sub.subscribe("news").unwrap();
    let mut async_sub = rt.block_on(async {
        let mut sub = master.async_pubsub().ignore_subscribe_messages(true);
        sub.subscribe("news").await.unwrap();
        sub
    });
    let script = Script::new("return redis.call('INCR', KEYS[1])");
    let _: i64 = script.key("script-count").invoke(&mut master).unwrap();

    sentinel
        .sentinel_connection()
        .unwrap()
        .sentinel_failover(SERVICE)
        .unwrap();
    wait_until_long("the client follows the new master", || {
        let _ = master.get::<Option<String>>("probe");
        sentinel.current_master().is_some_and(|m| m.port != old)
    });

    // Published on the new master, received by subscribers that were on the old one.
    let mut blocking_heard = false;
    let mut tokio_heard = false;
    wait_until_long("both subscribers hear the new master", || {
        let _: i64 = master.publish("news", "after").unwrap();
        blocking_heard |= sub
            .get_message(Duration::from_millis(50))
            .ok()
            .flatten()
            .is_some();
        tokio_heard |= rt
            .block_on(async_sub.get_message(Duration::from_millis(50)))
            .ok()
            .flatten()
            .is_some();
        blocking_heard && tokio_heard
    });

    // The script is loaded again on the new master; the lock and a transaction work.
    let n: i64 = script.key("script-count").invoke(&mut master).unwrap();
    assert!(n >= 1);
    let lock = master.lock("sentinel-lock");
    let guard = lock.acquire_guard().unwrap();
    guard.release().unwrap();
    let (v,): (i64,) = master
        .transaction("tx-key", |con, pipe| {
            let now: i64 = con.get::<Option<i64>>("tx-key")?.unwrap_or(0);
            pipe.set("tx-key", now + 1).ignore().get("tx-key");
            Ok(())
        })
        .unwrap();
    assert!(v >= 1);
    rt.block_on(async {
        let mut manager = master.connection_manager().await.unwrap();
        let lock = respec::aio::Lock::new(manager.clone(), "sentinel-async-lock");
        let guard = lock.acquire_guard().await.unwrap();
        guard.release().await.unwrap();
        let n: i64 = script
            .key("script-count")
            .invoke_async(&mut manager)
            .await
            .unwrap();
        assert!(n >= 2);
    });
    assert_ne!(topology.master_port(), old);
}

/// `wait_until`, for what a Sentinel takes seconds to do.
fn wait_until_long(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(20));
    }
}
