//! The async client against real servers: the multiplexed connection under load, under
//! failure and under cancellation, blocking commands, the manager, the pool, and the
//! toolkit async.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use respec::aio::MultiplexedConnection;
use respec::{AsyncCommands, Client, ErrorKind, ProtocolVersion, cmd};
use support::{PROTOCOLS, RedisServer};

async fn multiplexed(server: &RedisServer, protocol: ProtocolVersion) -> MultiplexedConnection {
    Client::open(support::info(server, protocol))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tasks_share_one_connection() {
    let server = RedisServer::start();
    for protocol in PROTOCOLS {
        let con = multiplexed(&server, protocol).await;
        let mut tasks = Vec::new();
        for task in 0..1000 {
            let mut con = con.clone();
            tasks.push(tokio::spawn(async move {
                let key = format!("counter:{task}");
                for expected in 1..=100 {
                    let n = con.incr(&key).await.unwrap();
                    assert_eq!(n, expected, "{key}");
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let mut con = con.clone();
        let keys: Vec<String> = (0..1000).map(|i| format!("counter:{i}")).collect();
        let totals: Vec<i64> = con.mget(&keys).await.unwrap();
        assert!(totals.iter().all(|&n| n == 100), "every total is 100");
        let stats = con.stats();
        eprintln!(
            "{protocol:?}: {} commands in {} writes ({:.1} commands per write)",
            stats.commands,
            stats.writes,
            stats.commands as f64 / stats.writes as f64
        );
        cmd("FLUSHALL").query_async::<()>(&mut con).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_connection_fails_requests_in_flight_and_none_gets_a_wrong_reply() {
    let server = RedisServer::start();
    let client = Client::open(support::info(&server, ProtocolVersion::Resp3)).unwrap();
    let manager = client.connection_manager().await.unwrap();
    let mut admin = support::connect(&server, ProtocolVersion::Resp2);
    let id: i64 = cmd("CLIENT ID")
        .query_async(&mut manager.clone())
        .await
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for task in 0..200 {
        let mut con = manager.clone();
        let done = Arc::clone(&done);
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0, 0);
            for round in 0..50 {
                let mine = format!("reply-{task}-{round}");
                match con.echo::<String>(&mine).await {
                    Ok(reply) => {
                        assert_eq!(reply, mine, "a reply reached the wrong request");
                        ok += 1;
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::Connection, "{e:?}");
                        failed += 1;
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            (ok, failed)
        }));
    }
    // Kill the connection while requests are flowing.
    while done.load(Ordering::Relaxed) < 1000 {
        tokio::task::yield_now().await;
    }
    respec::cmd("CLIENT KILL")
        .arg("ID")
        .arg(id)
        .exec(&mut admin)
        .unwrap();
    let (mut ok, mut failed) = (0, 0);
    for task in tasks {
        let (o, f) = task.await.unwrap();
        ok += o;
        failed += f;
    }
    eprintln!("{ok} requests succeeded and {failed} failed with a connection error");
    assert_eq!(ok + failed, 200 * 50);
    assert!(failed > 0, "the kill failed some requests in flight");
    // The manager reconnected: new requests are served, on a new connection.
    let mut con = manager.clone();
    assert_eq!(con.ping().await.unwrap(), "PONG");
    let new_id: i64 = cmd("CLIENT ID").query_async(&mut con).await.unwrap();
    assert_ne!(new_id, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_blpop_does_not_hold_up_other_requests() {
    let server = RedisServer::start();
    let mut info = support::info(&server, ProtocolVersion::Resp2);
    info.socket_timeout = Some(Duration::from_millis(500));
    let con = Client::open(info)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    assert_eq!(con.timeout(), Duration::from_millis(500));
    let mut blocking = con.clone();
    let blpop = tokio::spawn(async move {
        blocking
            .blpop::<Option<(String, String)>>("empty", 2.0)
            .await
    });
    let mut other = con.clone();
    other.set("k", "v").await.unwrap();
    for _ in 0..20 {
        assert_eq!(other.get::<String>("k").await.unwrap(), "v");
    }
    // The GETs completed while BLPOP was still waiting on its own connection.
    assert!(!blpop.is_finished(), "BLPOP returned before its 2 s");
    // BLPOP outlives the 500 ms request timeout: its deadline adds its own 2 s.
    assert_eq!(blpop.await.unwrap().unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_futures_never_desynchronise_the_connection() {
    let server = RedisServer::start();
    let con = multiplexed(&server, ProtocolVersion::Resp3).await;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..1000 {
        let mut con = con.clone();
        let polls = next() % 4;
        let value = format!("dropped-{i}");
        let future = async move { con.echo::<String>(&value).await };
        // Poll a random number of times (0 to 3), then drop it wherever it stands.
        let mut future = Box::pin(future);
        for _ in 0..polls {
            if tokio::time::timeout(Duration::from_micros(next() % 50), &mut future)
                .await
                .is_ok()
            {
                break;
            }
        }
        drop(future);
    }
    let mut checked = Vec::new();
    for i in 0..1000 {
        let mut con = con.clone();
        checked.push(tokio::spawn(async move {
            let value = format!("checked-{i}");
            assert_eq!(con.echo::<String>(&value).await.unwrap(), value);
        }));
    }
    for task in checked {
        task.await.unwrap();
    }
}
