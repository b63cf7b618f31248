//! Fault injection against a real server: tasks sharing one multiplexed connection,
//! tasks sharing a manager, and threads on the pool send requests whose replies are
//! known in advance (`ECHO` of a token of their own, alone or three in a pipeline),
//! while another connection kills every client at random intervals with `CLIENT KILL`.
//!
//! Counted: requests, kills, replies delivered to the wrong request (must be 0), hangs
//! (a request outliving every timeout it has; must be 0), and recovery afterwards (each
//! workload completes requests again once the kills stop). RESP2 and RESP3 both run.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use respec::aio::{ConnectionManager, MultiplexedConnection};
use respec::{AsyncCommands, Client, Commands, ErrorKind, ProtocolVersion, pipe};
use support::RedisServer;
use support::resp::Rng;

/// How long the kills go on.
const KILLING: Duration = Duration::from_secs(8);
/// The request timeout: well above a loopback round trip, well below a hang.
const TIMEOUT: Duration = Duration::from_secs(2);
/// A request that takes longer than this hangs: its timeout, a reconnect, and margin.
const HANG: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Counts {
    requests: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    misdelivered: AtomicU64,
    hangs: AtomicU64,
}

impl Counts {
    /// Records one request: its outcome against what it expected, and its time.
    fn record(&self, sent: &[String], got: respec::Result<Vec<String>>, took: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if took > HANG {
            self.hangs.fetch_add(1, Ordering::Relaxed);
        }
        match got {
            Ok(replies) if replies == sent => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(replies) => {
                eprintln!("MISDELIVERED: sent {sent:?}, got {replies:?}");
                self.misdelivered.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::Connection | ErrorKind::Timeout),
                    "a kill gave an error of another kind: {e:?}"
                );
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn show(&self, name: &str) {
        eprintln!(
            "{name}: {} requests, {} answered right, {} failed, {} misdelivered, {} hangs",
            self.requests.load(Ordering::Relaxed),
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.misdelivered.load(Ordering::Relaxed),
            self.hangs.load(Ordering::Relaxed),
        );
    }
}

/// The tokens one request sends: one, or three for a pipeline.
fn tokens(worker: usize, round: u64, rng: &mut Rng) -> Vec<String> {
    let count = if rng.one_in(4) { 3 } else { 1 };
    (0..count)
        .map(|i| format!("w{worker}-r{round}-{i}-{}", rng.next_u64()))
        .collect()
}

fn echo_pipeline(tokens: &[String]) -> respec::Pipeline {
    let mut p = pipe();
    for token in tokens {
        p.echo(token);
    }
    p
}

async fn on_multiplexed(
    con: &Arc<Mutex<MultiplexedConnection>>,
    client: &Client,
    sent: &[String],
) -> respec::Result<Vec<String>> {
    let mut current = con.lock().unwrap().clone();
    if !current.is_connected() {
        // Replaced once for every task sharing it.
        let fresh = client.get_multiplexed_async_connection().await?;
        let mut shared = con.lock().unwrap();
        if !shared.is_connected() {
            *shared = fresh;
        }
        current = shared.clone();
    }
    if let [one] = sent {
        current.echo::<String>(one).await.map(|reply| vec![reply])
    } else {
        echo_pipeline(sent).query_async(&mut current).await
    }
}

async fn on_manager(
    manager: &mut ConnectionManager,
    sent: &[String],
) -> respec::Result<Vec<String>> {
    if let [one] = sent {
        manager.echo::<String>(one).await.map(|reply| vec![reply])
    } else {
        echo_pipeline(sent).query_async(manager).await
    }
}

fn on_pool(client: &Client, sent: &[String]) -> respec::Result<Vec<String>> {
    if let [one] = sent {
        client.clone().echo::<String>(one).map(|reply| vec![reply])
    } else {
        echo_pipeline(sent).query(&mut client.clone())
    }
}

fn client(server: &RedisServer, protocol: ProtocolVersion) -> Client {
    let mut info = support::info(server, protocol);
    info.socket_timeout = Some(TIMEOUT);
    info.socket_connect_timeout = Some(TIMEOUT);
    Client::open(info).unwrap()
}

#[test]
fn no_reply_reaches_the_wrong_request_while_connections_are_killed() {
    let server = RedisServer::start();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    eprintln!("seed {seed}");
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicU64::new(0));
    let killed_clients = Arc::new(AtomicU64::new(0));
    let (on_shared, on_managed, on_pooled) = (
        Arc::new(Counts::default()),
        Arc::new(Counts::default()),
        Arc::new(Counts::default()),
    );

    // The pool: eight threads, half of them speaking RESP2, half RESP3.
    let mut threads = Vec::new();
    for worker in 0..8 {
        let protocol = [ProtocolVersion::Resp2, ProtocolVersion::Resp3][worker % 2];
        let client = client(&server, protocol);
        let (stop, counts) = (stop.clone(), on_pooled.clone());
        threads.push(std::thread::spawn(move || {
            let mut rng = Rng::new(seed ^ worker as u64);
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                let sent = tokens(worker, round, &mut rng);
                let started = Instant::now();
                let got = on_pool(&client, &sent);
                counts.record(&sent, got, started.elapsed());
                round += 1;
            }
        }));
    }

    // The killer: every normal client but itself, every 20 to 150 ms.
    let killer = {
        let (stop, kills, killed_clients) = (stop.clone(), kills.clone(), killed_clients.clone());
        let mut admin = support::connect(&server, ProtocolVersion::Resp2);
        std::thread::spawn(move || {
            let mut rng = Rng::new(seed);
            let until = Instant::now() + KILLING;
            while Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20 + rng.below(130) as u64));
                let n = support::kill_other_clients(&mut admin);
                kills.fetch_add(1, Ordering::Relaxed);
                killed_clients.fetch_add(n as u64, Ordering::Relaxed);
            }
            stop.store(true, Ordering::Relaxed);
        })
    };

    // The async workloads: 50 tasks on one multiplexed connection (RESP3), 50 on one
    // manager (RESP2).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (shared_client, managed_client) = (
        client(&server, ProtocolVersion::Resp3),
        client(&server, ProtocolVersion::Resp2),
    );
    let (shared, managed) = runtime.block_on(async {
        let shared = Arc::new(Mutex::new(
            shared_client
                .get_multiplexed_async_connection()
                .await
                .unwrap(),
        ));
        let managed = managed_client.connection_manager().await.unwrap();
        let mut tasks = Vec::new();
        for worker in 0..50 {
            let (stopped, counts, con, client) = (
                stop.clone(),
                on_shared.clone(),
                shared.clone(),
                shared_client.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng::new(seed ^ (100 + worker as u64));
                let mut round = 0;
                while !stopped.load(Ordering::Relaxed) {
                    let sent = tokens(100 + worker, round, &mut rng);
                    let started = Instant::now();
                    let got = on_multiplexed(&con, &client, &sent).await;
                    counts.record(&sent, got, started.elapsed());
                    round += 1;
                }
            }));
            let (stopped, counts, mut con) = (stop.clone(), on_managed.clone(), managed.clone());
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng::new(seed ^ (200 + worker as u64));
                let mut round = 0;
                while !stopped.load(Ordering::Relaxed) {
                    let sent = tokens(200 + worker, round, &mut rng);
                    let started = Instant::now();
                    let got = on_manager(&mut con, &sent).await;
                    counts.record(&sent, got, started.elapsed());
                    round += 1;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        (shared, managed)
    });
    killer.join().unwrap();
    for thread in threads {
        thread.join().unwrap();
    }

    eprintln!(
        "{} kills closed {} connections over {KILLING:?}",
        kills.load(Ordering::Relaxed),
        killed_clients.load(Ordering::Relaxed)
    );
    on_shared.show("multiplexed, 50 tasks");
    on_managed.show("manager, 50 tasks");
    on_pooled.show("pool, 8 threads");
    for (name, counts) in [
        ("multiplexed", &on_shared),
        ("manager", &on_managed),
        ("pool", &on_pooled),
    ] {
        assert_eq!(counts.misdelivered.load(Ordering::Relaxed), 0, "{name}");
        assert_eq!(counts.hangs.load(Ordering::Relaxed), 0, "{name}");
        assert!(counts.ok.load(Ordering::Relaxed) > 100, "{name} did little");
        assert!(
            counts.failed.load(Ordering::Relaxed) > 0,
            "{name} never saw a kill"
        );
    }
    assert!(killed_clients.load(Ordering::Relaxed) > 20);

    // Recovery: with the kills over, every workload is answered again.
    let mut rng = Rng::new(seed ^ 7);
    for round in 0..50 {
        let sent = tokens(300, round, &mut rng);
        assert_eq!(on_pool(&pool_client(&server), &sent).unwrap(), sent);
    }
    runtime.block_on(async {
        let mut managed = managed;
        for round in 0..50 {
            let sent = tokens(400, round, &mut rng);
            assert_eq!(on_manager(&mut managed, &sent).await.unwrap(), sent);
            let sent = tokens(500, round, &mut rng);
            assert_eq!(
                on_multiplexed(&shared, &shared_client, &sent)
                    .await
                    .unwrap(),
                sent
            );
        }
    });
}

fn pool_client(server: &RedisServer) -> Client {
    client(server, ProtocolVersion::Resp3)
}
