//! The async client against real servers: the multiplexed connection under load, under
//! failure and under cancellation, blocking commands, the manager, the pool, and the
//! toolkit async.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use respec::aio::MultiplexedConnection;
use respec::{AsyncCommands, Client, ErrorKind, ProtocolVersion, cmd};
use support::{PROTOCOLS, RedisServer, ReplyPath, patterned};

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

/// A request's future is moved at every `await` that holds it, so it is kept small: the
/// rare paths that open connections (a blocking command's, a reconnect) are boxed,
/// where they made every request's future 1,600 and 960 bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_futures_stay_small() {
    const MAX: usize = 512;
    let server = RedisServer::start();
    let client = Client::open(support::info(&server, ProtocolVersion::Resp2)).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let get = con.get::<Option<String>>("k");
    assert!(size_of_val(&get) <= MAX, "{} bytes", size_of_val(&get));
    assert_eq!(get.await.unwrap(), None);
    let blpop = con.blpop::<Option<(String, String)>>("empty", 0.01);
    assert!(size_of_val(&blpop) <= MAX, "{} bytes", size_of_val(&blpop));
    assert_eq!(blpop.await.unwrap(), None);

    let mut manager = client.connection_manager().await.unwrap();
    let get = manager.get::<Option<String>>("k");
    assert!(size_of_val(&get) <= MAX, "{} bytes", size_of_val(&get));
    assert_eq!(get.await.unwrap(), None);
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
        // Single commands and batches alike: a batch's replies are matched as one.
        let mut future: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
            if i % 2 == 0 {
                Box::pin(async move {
                    let _ = con.echo::<String>(&value).await;
                })
            } else {
                Box::pin(async move {
                    let _ = respec::pipe()
                        .echo(&value)
                        .echo("second")
                        .echo("third")
                        .query_async::<Vec<String>>(&mut con)
                        .await;
                })
            };
        // Poll a random number of times (0 to 3), then drop it wherever it stands.
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
            let batch: Vec<String> = respec::pipe()
                .echo(&value)
                .echo("after")
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(batch, [value.as_str(), "after"]);
        }));
    }
    for task in checked {
        task.await.unwrap();
    }
}

/// The next item of a stream.
async fn next<S: futures_core::Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tasks_share_writes() {
    let server = RedisServer::start();
    let con = multiplexed(&server, ProtocolVersion::Resp2).await;
    let before = con.stats();
    let mut tasks = Vec::new();
    for task in 0..50 {
        let mut con = con.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..200 {
                con.set(format!("k{task}"), i).await.unwrap();
                assert_eq!(con.get::<i64>(format!("k{task}")).await.unwrap(), i);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let after = con.stats();
    let (commands, writes) = (
        after.commands - before.commands,
        after.writes - before.writes,
    );
    eprintln!(
        "50 tasks: {commands} commands in {writes} writes: {:.3} write syscalls per command",
        writes as f64 / commands as f64
    );
    assert_eq!(commands, 50 * 200 * 2);
    // Without coalescing every command would be a write of its own.
    assert!(
        writes * 2 <= commands,
        "{writes} writes for {commands} commands: writes are not shared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_pool() {
    let server = RedisServer::start();
    let client = Client::with_config(
        support::info(&server, ProtocolVersion::Resp3),
        respec::PoolConfig::default()
            .max_connections(2)
            .timeout(Some(Duration::from_millis(100))),
        respec::RetryPolicy::default(),
    )
    .unwrap();
    let mut a = client.get_async_connection().await.unwrap();
    let b = client.get_async_connection().await.unwrap();
    let err = client.get_async_connection().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolExhausted);
    let first = a.client_id().await.unwrap();
    drop((a, b));
    // Connections go back and are reused.
    let mut again = client.get_async_connection().await.unwrap();
    let id = again.client_id().await.unwrap();
    assert!(id == first || id == first + 1, "{id} reused");
    // A connection whose state changed is discarded, not returned.
    cmd("SELECT").arg(3).exec_async(&mut again).await.unwrap();
    drop(again);
    let mut fresh = client.get_async_connection().await.unwrap();
    let info: String = fresh.client_info().await.unwrap();
    assert!(info.contains(" db=0 "), "{info}");
}

// Issue 20, item 4: the first commands after the server closed idle pooled connections
// failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_pool_replaces_connections_the_server_closed_while_idle() {
    let server = RedisServer::start();
    let client = Client::open(server.url()).unwrap();
    let mut checked_out = Vec::new();
    for _ in 0..14 {
        checked_out.push(client.get_async_connection().await.unwrap());
    }
    drop(checked_out);
    let mut admin = support::connect(&server, ProtocolVersion::Resp2);
    let killed = support::kill_other_clients(&mut admin);
    assert_eq!(killed, 14);
    for round in 0..20 {
        let mut con = client.get_async_connection().await.unwrap();
        let pong = con.ping().await.unwrap_or_else(|e| {
            panic!("request {round} after the kill failed: {e}");
        });
        assert_eq!(pong, "PONG");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_transactions_and_scripts_async() {
    let server = RedisServer::start();
    let client = Client::open(support::info(&server, ProtocolVersion::Resp3)).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let (n, v): (i64, String) = respec::pipe()
        .atomic()
        .set("k", "v")
        .ignore()
        .incr("n")
        .get("k")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!((n, v.as_str()), (1, "v"));
    let all = respec::pipe()
        .set("s", "x")
        .lpush("s", "y")
        .query_all_async(&mut con)
        .await
        .unwrap();
    assert_eq!(all[1].as_ref().unwrap_err().code(), Some("WRONGTYPE"));
    // Ignored commands' errors and queue-time refusals are reported, as in the sync API.
    let err = respec::pipe()
        .lpush("s", "y")
        .ignore()
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert_eq!(err.command_index(), Some(0), "{err}");
    let err = respec::pipe()
        .atomic()
        .incr("n")
        .add_command(cmd("NOSUCHCOMMAND"))
        .query_async::<()>(&mut con)
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.command_index()),
        (Some("ERR"), Some(1)),
        "{err}"
    );

    // A WATCH conflict from a second client causes exactly one retry.
    con.set("balance", 100).await.unwrap();
    let attempts = Arc::new(AtomicUsize::new(0));
    let mut other = con.clone();
    let counted = Arc::clone(&attempts);
    let (balance,): (i64,) = client
        .transaction_async("balance", async |tx, pipe| {
            let current: i64 = tx.get("balance").await?;
            if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                other.incrby("balance", 50).await?;
            }
            pipe.set("balance", current - 30).ignore().get("balance");
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!((attempts.load(Ordering::SeqCst), balance), (2, 120));

    // A script survives SCRIPT FLUSH.
    let script = respec::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    assert_eq!(
        script
            .key("c")
            .arg(5)
            .invoke_async::<i64>(&mut con)
            .await
            .unwrap(),
        5
    );
    con.script_flush().await.unwrap();
    assert_eq!(
        script
            .key("c")
            .arg(1)
            .invoke_async::<i64>(&mut con)
            .await
            .unwrap(),
        6
    );
}

/// `rounds` rounds of SET (ignored), INCR and GET on keys of their own.
fn long_pipeline(rounds: usize, tag: &str) -> respec::Pipeline {
    let mut p = respec::pipe();
    for round in 0..rounds {
        p.set(format!("{tag}:{round}"), format!("{tag}-value-{round}"))
            .ignore()
            .incr(format!("{tag}:counter"))
            .get(format!("{tag}:{round}"));
    }
    p
}

/// Runs [`long_pipeline`] on `con` and checks every reply: the counter and the value just
/// set, round by round.
async fn run_long_pipeline(con: &mut impl respec::AsyncConnectionLike, rounds: usize, tag: &str) {
    let replies: Vec<(i64, String)> = long_pipeline(rounds, tag)
        .query_async::<Vec<respec::Value>>(con)
        .await
        .unwrap()
        .chunks(2)
        .map(|pair| {
            (
                respec::from_redis_value(pair[0].clone()).unwrap(),
                respec::from_redis_value(pair[1].clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(replies.len(), rounds, "{tag}");
    for (round, (n, value)) in replies.into_iter().enumerate() {
        assert_eq!(n, round as i64 + 1, "{tag}, round {round}");
        assert_eq!(
            value,
            format!("{tag}-value-{round}"),
            "{tag}, round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_pipelines_keep_every_reply_in_its_place_on_every_async_backend() {
    let server = RedisServer::start();
    for protocol in PROTOCOLS {
        let tag = format!("{protocol:?}");
        let client = Client::open(support::info(&server, protocol)).unwrap();
        // 3,000 commands, far more replies than one read brings in.
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        run_long_pipeline(&mut con, 1000, &format!("{tag}:multiplexed")).await;
        let mut pooled = client.get_async_connection().await.unwrap();
        run_long_pipeline(&mut pooled, 1000, &format!("{tag}:pooled")).await;
        let mut manager = client.connection_manager().await.unwrap();
        run_long_pipeline(&mut manager, 1000, &format!("{tag}:manager")).await;

        // Pipelines and single commands from many tasks at once on one connection: each
        // batch's replies are gathered while other requests' replies follow them.
        let mut tasks = Vec::new();
        for task in 0..8 {
            let mut con = con.clone();
            let tag = format!("{tag}:task{task}");
            tasks.push(tokio::spawn(async move {
                for time in 1..=3 {
                    run_long_pipeline(&mut con, 200, &tag).await;
                    con.del(&[format!("{tag}:counter")]).await.unwrap();
                    assert_eq!(con.incr(format!("{tag}:single")).await.unwrap(), time);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_messages_amid_a_pipelines_replies_go_to_the_push_channel() {
    let server = RedisServer::start();
    let mut con = multiplexed(&server, ProtocolVersion::Resp3).await;
    let mut pushes = con.push_receiver().unwrap();
    con.client_tracking(respec::commands::ClientTrackingStatus::On)
        .await
        .unwrap();
    // Reading a key has the server track it for this connection; writing it then sends
    // this connection an invalidation push, which arrives between the pipeline's replies.
    let mut p = respec::pipe();
    for round in 0..200 {
        p.get("tracked").set("tracked", round).incr("count");
    }
    let replies: Vec<respec::Value> = p.query_async(&mut con).await.unwrap();
    assert_eq!(replies.len(), 600);
    for (round, three) in replies.chunks(3).enumerate() {
        let previous = (round > 0).then(|| (round - 1).to_string());
        let got: Option<String> = respec::from_redis_value(three[0].clone()).unwrap();
        assert_eq!(got, previous, "round {round}");
        assert_eq!(
            three[1],
            respec::Value::SimpleString("OK".into()),
            "round {round}"
        );
        assert_eq!(
            three[2],
            respec::Value::Int(round as i64 + 1),
            "round {round}"
        );
    }
    // Each round's SET invalidates what its GET read: 200 pushes, all of them here
    // already, since they came in ahead of the replies that followed them.
    let mut invalidations = 0;
    while let Ok(push) = pushes.try_recv() {
        let respec::Value::Push(items) = push else {
            panic!("not a push: {push:?}");
        };
        assert_eq!(
            respec::from_redis_value::<String>(items[0].clone()).unwrap(),
            "invalidate"
        );
        invalidations += 1;
    }
    assert_eq!(invalidations, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_streams() {
    use respec::aio::AsyncScanCommands;
    use respec::commands::{HscanOptions, ScanOptions, SscanOptions, ZscanOptions};

    let server = RedisServer::start();
    let mut con = multiplexed(&server, ProtocolVersion::Resp2).await;
    let mut load = respec::pipe();
    for i in 0..3000 {
        load.set(format!("key:{i}"), i).ignore();
    }
    load.query_async::<()>(&mut con).await.unwrap();
    con.sadd("set", (0..300).collect::<Vec<i32>>())
        .await
        .unwrap();
    con.hset(
        "hash",
        (0..100).map(|i| (format!("f{i}"), i)).collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    con.zadd(
        "zset",
        (0..50)
            .map(|i| (f64::from(i), format!("m{i}")))
            .collect::<Vec<_>>(),
    )
    .await
    .unwrap();

    let mut keys = std::collections::HashSet::new();
    let mut stream = con.scan_stream::<String>(ScanOptions::default().pattern("key:*").count(500));
    while let Some(key) = next(&mut stream).await {
        keys.insert(key.unwrap());
    }
    drop(stream);
    assert_eq!(keys.len(), 3000);
    let mut members = 0;
    let mut stream = con.sscan_stream::<i32>("set", SscanOptions::default());
    while let Some(member) = next(&mut stream).await {
        member.unwrap();
        members += 1;
    }
    drop(stream);
    assert!(members >= 300);
    let mut stream =
        con.hscan_stream::<String, i32>("hash", HscanOptions::default().pattern("f1*"));
    let mut fields = Vec::new();
    while let Some(pair) = next(&mut stream).await {
        fields.push(pair.unwrap());
    }
    drop(stream);
    assert_eq!(fields.len(), 11);
    let mut stream = con.zscan_stream::<String>("zset", ZscanOptions::default());
    let mut scored = 0;
    while let Some(pair) = next(&mut stream).await {
        let (member, score) = pair.unwrap();
        assert_eq!(member, format!("m{score}"));
        scored += 1;
    }
    assert_eq!(scored, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_lock() {
    let server = RedisServer::start();
    let con = multiplexed(&server, ProtocolVersion::Resp3).await;
    let inside = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let con = con.clone();
        let inside = Arc::clone(&inside);
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                let mut lock = respec::aio::Lock::new(con.clone(), "resource")
                    .timeout(Some(Duration::from_secs(10)))
                    .sleep(Duration::from_millis(1));
                assert!(lock.acquire().await.unwrap());
                assert_eq!(
                    inside.fetch_add(1, Ordering::SeqCst),
                    0,
                    "critical sections overlap"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
                lock.release().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut short =
        respec::aio::Lock::new(con.clone(), "job").timeout(Some(Duration::from_millis(50)));
    assert!(short.acquire().await.unwrap());
    short
        .extend(Duration::from_millis(50), false)
        .await
        .unwrap();
    assert!(short.owned().await.unwrap());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!short.locked().await.unwrap(), "expired");
    assert_eq!(short.release().await.unwrap_err().kind(), ErrorKind::Lock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_and_monitor_streams() {
    let server = RedisServer::start();
    for protocol in PROTOCOLS {
        let client = Client::open(support::info(&server, protocol)).unwrap();
        let mut publisher = client.get_multiplexed_async_connection().await.unwrap();
        let mut pubsub = client.async_pubsub().ignore_subscribe_messages(true);
        pubsub.subscribe("news").await.unwrap();
        pubsub.psubscribe("alerts.*").await.unwrap();
        while publisher.publish("news", "first").await.unwrap() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let message = pubsub.next_message().await.unwrap();
        assert_eq!(
            (
                message.channel(),
                message.payload::<String>().unwrap().as_str()
            ),
            (&b"news"[..], "first")
        );

        // Killed, the connection comes back with its subscriptions.
        cmd("CLIENT KILL")
            .arg(["TYPE", "pubsub"])
            .exec_async(&mut publisher)
            .await
            .unwrap();
        let mut stream = pubsub.into_stream();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while got.len() < 2 {
                let message = next(&mut stream).await.unwrap().unwrap();
                got.push(message.payload::<String>().unwrap());
            }
            got
        });
        loop {
            let counts: Vec<(String, i64)> = publisher
                .pubsub_numsub_options(
                    respec::commands::PubsubNumsubOptions::default().channel("news"),
                )
                .await
                .unwrap();
            if counts[0].1 == 1 && publisher.pubsub_numpat().await.unwrap() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        publisher.publish("news", "after").await.unwrap();
        publisher.publish("alerts.x", "pattern").await.unwrap();
        assert_eq!(reader.await.unwrap(), ["after", "pattern"]);

        let mut monitor = client.async_monitor().await.unwrap().into_stream();
        publisher.set("watched", "v").await.unwrap();
        loop {
            let entry = next(&mut monitor).await.unwrap().unwrap();
            if entry.command.eq_ignore_ascii_case("set") {
                assert_eq!(entry.args, [b"watched".to_vec(), b"v".to_vec()]);
                break;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp3_push_messages_reach_the_push_channel() {
    let server = RedisServer::start();
    let con = multiplexed(&server, ProtocolVersion::Resp3).await;
    let mut pushes = con.push_receiver().expect("the first call hands it out");
    assert!(con.push_receiver().is_none());
    let mut tracked = con.clone();
    tracked.set("cached", "1").await.unwrap();
    tracked
        .client_tracking(respec::commands::ClientTrackingStatus::On)
        .await
        .unwrap();
    assert_eq!(tracked.get::<String>("cached").await.unwrap(), "1");
    let mut other = multiplexed(&server, ProtocolVersion::Resp2).await;
    other.set("cached", "2").await.unwrap();
    let push = tokio::time::timeout(Duration::from_secs(5), pushes.recv())
        .await
        .expect("an invalidation arrives")
        .unwrap();
    let respec::Value::Push(items) = push else {
        panic!("not a push: {push:?}");
    };
    assert_eq!(
        respec::from_redis_value::<String>(items[0].clone()).unwrap(),
        "invalidate"
    );
    // Requests go on undisturbed.
    assert_eq!(tracked.get::<String>("cached").await.unwrap(), "2");
}

/// The reply as the async command methods convert it, from the frame the reader task
/// decoded, and as the built `Value` converted: the two must agree.
async fn typed<T: respec::FromRedisValue + PartialEq + std::fmt::Debug>(
    con: &mut impl respec::AsyncConnectionLike,
    command: &respec::Cmd,
) -> respec::Result<T> {
    let direct = command.query_async::<T>(con).await;
    let via_value = command
        .query_async::<respec::Value>(con)
        .await
        .and_then(respec::from_redis_value::<T>);
    support::assert_same_conversion(command, &direct, &via_value);
    direct
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiplexed_typed_replies_are_read_from_the_frame() {
    use std::collections::HashMap;

    let server = RedisServer::start();
    for protocol in PROTOCOLS {
        let mut con = multiplexed(&server, protocol).await;
        cmd("FLUSHALL").exec_async(&mut con).await.unwrap();
        let items: Vec<String> = (0..1000).map(|i| format!("{i:032}")).collect();
        cmd("RPUSH")
            .key("list")
            .arg(&items)
            .exec_async(&mut con)
            .await
            .unwrap();
        let lrange = cmd("LRANGE").key("list").arg(0).arg(-1).clone();
        assert_eq!(
            typed::<Vec<String>>(&mut con, &lrange).await.unwrap(),
            items
        );
        let got: Vec<String> = con.lrange("list", 0, 2).await.unwrap();
        assert_eq!(got, items[..3]);

        let fields: Vec<(String, String)> = (0..100)
            .map(|i| (format!("f{i}"), format!("v{i}")))
            .collect();
        cmd("HSET")
            .key("hash")
            .arg(&fields)
            .exec_async(&mut con)
            .await
            .unwrap();
        let map: HashMap<String, String> = con.hgetall("hash").await.unwrap();
        assert_eq!(map, fields.iter().cloned().collect());
        let hgetall = cmd("HGETALL").key("hash").clone();
        typed::<HashMap<String, String>>(&mut con, &hgetall)
            .await
            .unwrap();

        cmd("ZADD")
            .key("z")
            .arg([(1.5, "a"), (2.0, "b")])
            .exec_async(&mut con)
            .await
            .unwrap();
        let zrange = cmd("ZRANGE")
            .key("z")
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .clone();
        assert_eq!(
            typed::<Vec<(String, f64)>>(&mut con, &zrange)
                .await
                .unwrap(),
            vec![("a".to_owned(), 1.5), ("b".to_owned(), 2.0)]
        );
        let empty = cmd("LRANGE").key("nothing").arg(0).arg(-1).clone();
        assert!(
            typed::<Vec<String>>(&mut con, &empty)
                .await
                .unwrap()
                .is_empty()
        );

        // A conversion failure leaves the connection in step; a server error stays one.
        cmd("RPUSH")
            .key("raw")
            .arg(&b"\xff"[..])
            .exec_async(&mut con)
            .await
            .unwrap();
        let raw = cmd("LRANGE").key("raw").arg(0).arg(-1).clone();
        let e = typed::<Vec<String>>(&mut con, &raw).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conversion, "{e}");
        let wrong = cmd("LRANGE").key("hash").arg(0).arg(-1).clone();
        let e = typed::<Vec<String>>(&mut con, &wrong).await.unwrap_err();
        assert_eq!(e.code(), Some("WRONGTYPE"), "{e}");

        // Aggregates inside a batch are built for it.
        let (list, hash): (Vec<String>, HashMap<String, String>) = respec::pipe()
            .lrange("list", 0, 1)
            .hgetall("hash")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(list, items[..2]);
        assert_eq!(hash.len(), 100);

        // Many tasks at once, each reading its own aggregate.
        let mut tasks = Vec::new();
        for task in 0..50 {
            let mut con = con.clone();
            tasks.push(tokio::spawn(async move {
                let key = format!("own:{task}");
                let mine: Vec<String> = (0..task).map(|i| format!("{task}:{i}")).collect();
                if !mine.is_empty() {
                    con.rpush(&key, &mine).await.unwrap();
                }
                for _ in 0..20 {
                    let got: Vec<String> = con.lrange(&key, 0, -1).await.unwrap();
                    assert_eq!(got, mine);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_async_connections_read_typed_replies_from_the_frame() {
    use std::collections::HashMap;

    let server = RedisServer::start();
    for protocol in PROTOCOLS {
        let client = Client::open(support::info(&server, protocol)).unwrap();
        let mut con = client.get_async_connection().await.unwrap();
        cmd("FLUSHALL").exec_async(&mut con).await.unwrap();
        let items: Vec<String> = (0..500).map(|i| format!("item:{i}")).collect();
        con.rpush("list", &items).await.unwrap();
        let lrange = cmd("LRANGE").key("list").arg(0).arg(-1).clone();
        assert_eq!(
            typed::<Vec<String>>(&mut con, &lrange).await.unwrap(),
            items
        );
        con.hset("hash", [("a", "1"), ("b", "2")]).await.unwrap();
        let map: HashMap<String, i64> = con.hgetall("hash").await.unwrap();
        assert_eq!(
            map,
            HashMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)])
        );

        // A failed conversion leaves the connection usable; a server error stays one.
        let e = typed::<Vec<u8>>(&mut con, &lrange).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conversion, "{e}");
        let wrong = cmd("LRANGE").key("hash").arg(0).arg(-1).clone();
        let e = typed::<Vec<String>>(&mut con, &wrong).await.unwrap_err();
        assert_eq!(e.code(), Some("WRONGTYPE"), "{e}");
        assert!(respec::AsyncConnectionLike::is_open(&con));
        let pong: String = cmd("PING").query_async(&mut con).await.unwrap();
        assert_eq!(pong, "PONG");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_async_connections_skip_pushes_between_replies() {
    let server = RedisServer::start();
    let client = Client::open(support::info(&server, ProtocolVersion::Resp3)).unwrap();
    let mut con = client.get_async_connection().await.unwrap();
    let mut other = multiplexed(&server, ProtocolVersion::Resp3).await;
    cmd("CLIENT TRACKING")
        .arg("ON")
        .exec_async(&mut con)
        .await
        .unwrap();
    con.rpush("list", ["a", "b"]).await.unwrap();
    for round in 0..3 {
        // Reading the key makes the server track it; writing it from elsewhere sends this
        // connection an invalidation push, which lands ahead of the next reply.
        let _: Vec<String> = con.lrange("list", 0, -1).await.unwrap();
        other.rpush("list", round).await.unwrap();
        let items: Vec<String> = con.lrange("list", 0, -1).await.unwrap();
        assert_eq!(items.len(), 3 + round);
        let replies: Vec<i64> = respec::pipe()
            .llen("list")
            .llen("list")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(replies, [3 + round as i64; 2]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_arrive_whole_on_async_connections() {
    // Writes longer than 64 KiB go out in two parts; values on either side of the split,
    // and large commands from many tasks sharing one write, arrive whole and in order.
    let server = RedisServer::start();
    let lens = [64 * 1024 - 40, 64 * 1024, 64 * 1024 + 1, 3 << 20];
    let client = Client::open(support::info(&server, ProtocolVersion::Resp3)).unwrap();
    let mut single = client.get_async_connection().await.unwrap();
    let mut shared = multiplexed(&server, ProtocolVersion::Resp2).await;
    for len in lens {
        let value = patterned(len);
        single.set("single", &value).await.unwrap();
        let got: Vec<u8> = single.get("single").await.unwrap();
        assert!(got == value, "single connection, {len} bytes");
        shared.set("shared", &value).await.unwrap();
        let got: Vec<u8> = shared.get("shared").await.unwrap();
        assert!(got == value, "multiplexed connection, {len} bytes");
    }

    // A pipeline is written from its own buffer: large ones, with small commands between
    // the values, on both kinds of connection.
    let mut p = respec::pipe();
    for (n, len) in lens.into_iter().enumerate() {
        p.set(format!("piped:{n}"), patterned(len))
            .ignore()
            .incr("piped:count")
            .ignore()
            .get(format!("piped:{n}"));
    }
    for (name, got) in [
        (
            "single",
            p.query_async::<Vec<Vec<u8>>>(&mut single).await.unwrap(),
        ),
        (
            "multiplexed",
            p.query_async::<Vec<Vec<u8>>>(&mut shared).await.unwrap(),
        ),
    ] {
        assert_eq!(got.len(), lens.len(), "{name}");
        for (value, len) in got.iter().zip(lens) {
            assert!(
                *value == patterned(len),
                "{name}, {len} bytes in a pipeline"
            );
        }
    }

    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let mut con = shared.clone();
            tokio::spawn(async move {
                let key = format!("task:{n}");
                let mut value = patterned(100_000 + n * 7_001);
                value[0] = n as u8;
                con.set(&key, &value).await.unwrap();
                let got: Vec<u8> = con.get(&key).await.unwrap();
                assert!(got == value, "task {n}");
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_and_small_commands_from_many_tasks_stay_in_order() {
    // A caller on an idle connection writes its command itself and leaves what the
    // socket does not take at once to the writer task, ahead of what other callers
    // queued meanwhile. A 32 MiB value rarely fits at once, so its tail goes that way
    // while small requests from other tasks (on the other worker thread) keep coming;
    // some large requests are dropped right after their first poll, which sent them.
    let server = RedisServer::start();
    let con = multiplexed(&server, ProtocolVersion::Resp3).await;
    let big = Arc::new(patterned(32 << 20));
    let mut tasks = Vec::new();
    for n in 0..6u8 {
        let mut con = con.clone();
        let big = Arc::clone(&big);
        tasks.push(tokio::spawn(async move {
            if n == 0 {
                for round in 0..6 {
                    let key = format!("big:{round}");
                    if round % 2 == 0 {
                        con.set(&key, big.as_slice()).await.unwrap();
                    } else {
                        let set = con.set(&key, big.as_slice());
                        let _ = tokio::time::timeout(Duration::from_micros(1), set).await;
                    }
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
                return;
            }
            let key = format!("small:{n}");
            for i in 0..60 {
                con.set(&key, i).await.unwrap();
                assert_eq!(con.get::<i64>(&key).await.unwrap(), i, "task {n}");
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut con = con.clone();
    for round in 0..6 {
        let got: Vec<u8> = con.get(format!("big:{round}")).await.unwrap();
        assert!(got == *big, "big value {round} arrived changed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_async_backend_hands_typed_replies_over_as_frames() {
    // Conversions read an aggregate reply straight from its decoded frame on every async
    // backend, wrappers included, rather than from a `Value` built first. (The
    // multiplexed connection builds a lone scalar in its reader; a single async
    // connection converts scalars from the frame too.)
    let server = RedisServer::start();
    for protocol in PROTOCOLS {
        let client = Client::open(support::info(&server, protocol)).unwrap();
        let mut multiplexed = client.get_multiplexed_async_connection().await.unwrap();
        let mut pooled = client.get_async_connection().await.unwrap();
        let mut manager = client.connection_manager().await.unwrap();
        cmd("RPUSH")
            .key("list")
            .arg(["a", "b"])
            .exec_async(&mut pooled)
            .await
            .unwrap();
        let lrange = cmd("LRANGE").key("list").arg(0).arg(-1).clone();
        let ping = cmd("PING").clone();
        for (name, path) in [
            (
                "multiplexed",
                lrange.query_async::<ReplyPath>(&mut multiplexed).await,
            ),
            ("pooled", lrange.query_async(&mut pooled).await),
            ("pooled PING", ping.query_async(&mut pooled).await),
            ("manager", lrange.query_async(&mut manager).await),
        ] {
            assert_eq!(path.unwrap(), ReplyPath::Frame, "{name}, {protocol:?}");
        }
        cmd("DEL")
            .key("list")
            .exec_async(&mut pooled)
            .await
            .unwrap();
    }
}
