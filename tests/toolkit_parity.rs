//! Every toolkit feature on both sides: the same scenario run through the blocking tool
//! and through its tokio twin, against one real server, must tell the same story. The
//! two share one core, so a difference here is a driver doing more (or less) than IO.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use respec::aio::ConnectFuture;
use respec::{
    AsyncCommands, Client, Commands, Connection, ConnectionInfo, Connector, ErrorKind, Message,
    PoolConfig, ProtocolVersion, RetryPolicy, Transaction, cmd,
};
use support::{PROTOCOLS, RedisServer, wait_until};

const WAIT: Duration = Duration::from_secs(5);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn client(server: &RedisServer, protocol: ProtocolVersion) -> Client {
    Client::open(support::info(server, protocol)).unwrap()
}

/// A handler that notes `label: payload` in `seen`.
fn noting(
    seen: &Arc<Mutex<Vec<String>>>,
    label: &'static str,
) -> impl FnMut(Message) + Send + 'static {
    let seen = Arc::clone(seen);
    move |message: Message| {
        let payload: String = message.payload().unwrap();
        seen.lock().unwrap().push(format!("{label}: {payload}"));
    }
}

/// Whether a subscriber is in place for each channel, the pattern and the shard channel.
fn all_subscribed(publisher: &mut Client) -> bool {
    let numsub = respec::commands::PubsubNumsubOptions::default()
        .channel("plain")
        .channel("handled");
    let counts: Vec<(String, i64)> = publisher.pubsub_numsub_options(numsub).unwrap();
    let shards = respec::commands::PubsubShardnumsubOptions::default().shardchannel("shard");
    let shard_counts: Vec<(String, i64)> = publisher.pubsub_shardnumsub_options(shards).unwrap();
    counts.iter().all(|(_, n)| *n == 1)
        && shard_counts[0].1 == 1
        && publisher.pubsub_numpat().unwrap() == 1
}

/// Publishes to every subscription; the plain channel last, so that when its message is
/// read the others have been handled.
fn publish_round(publisher: &mut Client, round: &str) {
    publisher
        .publish("handled", format!("handled {round}"))
        .unwrap();
    publisher
        .publish("p.x", format!("pattern {round}"))
        .unwrap();
    publisher
        .spublish("shard", format!("shard {round}"))
        .unwrap();
    publisher
        .publish("plain", format!("plain {round}"))
        .unwrap();
}

fn shown(message: Option<Message>) -> String {
    message.map_or_else(
        || "nothing".to_owned(),
        |m| {
            format!(
                "{}: {}",
                m.channel_name().unwrap(),
                m.payload::<String>().unwrap()
            )
        },
    )
}

#[test]
fn pubsub_handlers_timeouts_and_subscriptions() {
    let server = RedisServer::start();
    for protocol in PROTOCOLS {
        let mut publisher = client(&server, protocol);

        let blocking = {
            let mut story = Vec::new();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let mut pubsub = client(&server, protocol)
                .pubsub()
                .ignore_subscribe_messages(true);
            pubsub.subscribe("plain").unwrap();
            pubsub
                .subscribe_with("handled", noting(&seen, "channel handler"))
                .unwrap();
            pubsub
                .psubscribe_with("p.*", noting(&seen, "pattern handler"))
                .unwrap();
            pubsub
                .ssubscribe_with("shard", noting(&seen, "shard handler"))
                .unwrap();
            story.push(format!("{:?}", pubsub.subscriptions()));
            wait_until("the subscriptions", || {
                assert!(pubsub.get_message(Duration::ZERO).unwrap().is_none());
                all_subscribed(&mut publisher)
            });
            publish_round(&mut publisher, "1");
            story.push(shown(pubsub.get_message(WAIT).unwrap()));
            story.push(seen.lock().unwrap().join(", "));
            story.push(shown(pubsub.get_message(Duration::ZERO).unwrap()));
            story.push(shown(
                pubsub.get_message(Duration::from_millis(20)).unwrap(),
            ));
            // The handler goes with the subscription: subscribed again without one, the
            // channel's messages are returned.
            pubsub.unsubscribe("handled").unwrap();
            pubsub.subscribe("handled").unwrap();
            let mut returned = None;
            wait_until("a message without its handler", || {
                publisher.publish("handled", "unhandled").unwrap();
                returned = pubsub.get_message(Duration::from_millis(20)).unwrap();
                returned.is_some()
            });
            story.push(shown(returned));
            // (A publication repeated while waiting may still be on its way.)
            publisher.publish("plain", "last").unwrap();
            let last = std::iter::repeat_with(|| pubsub.next_message().unwrap())
                .find(|m| m.channel() == b"plain");
            story.push(shown(last));
            story.push(format!("{:?}", pubsub.subscriptions()));
            story
        };

        let tokio = runtime().block_on(async {
            let mut story = Vec::new();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let client = client(&server, protocol);
            let mut pubsub = client.async_pubsub().ignore_subscribe_messages(true);
            pubsub.subscribe("plain").await.unwrap();
            pubsub
                .subscribe_with("handled", noting(&seen, "channel handler"))
                .await
                .unwrap();
            pubsub
                .psubscribe_with("p.*", noting(&seen, "pattern handler"))
                .await
                .unwrap();
            pubsub
                .ssubscribe_with("shard", noting(&seen, "shard handler"))
                .await
                .unwrap();
            story.push(format!("{:?}", pubsub.subscriptions()));
            while !all_subscribed(&mut publisher) {
                assert!(pubsub.get_message(Duration::ZERO).await.unwrap().is_none());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            publish_round(&mut publisher, "1");
            story.push(shown(pubsub.get_message(WAIT).await.unwrap()));
            story.push(seen.lock().unwrap().join(", "));
            story.push(shown(pubsub.get_message(Duration::ZERO).await.unwrap()));
            story.push(shown(
                pubsub.get_message(Duration::from_millis(20)).await.unwrap(),
            ));
            pubsub.unsubscribe("handled").await.unwrap();
            pubsub.subscribe("handled").await.unwrap();
            let deadline = Instant::now() + WAIT;
            let returned = loop {
                assert!(Instant::now() < deadline, "timed out waiting for a message");
                publisher.publish("handled", "unhandled").unwrap();
                if let Some(m) = pubsub.get_message(Duration::from_millis(20)).await.unwrap() {
                    break m;
                }
            };
            story.push(shown(Some(returned)));
            publisher.publish("plain", "last").unwrap();
            let last = loop {
                let message = pubsub.next_message().await.unwrap();
                if message.channel() == b"plain" {
                    break message;
                }
            };
            story.push(shown(Some(last)));
            story.push(format!("{:?}", pubsub.subscriptions()));
            story
        });

        assert_eq!(blocking, tokio, "{protocol:?}");
        assert_eq!(
            blocking[1..=6],
            [
                "plain: plain 1",
                "channel handler: handled 1, pattern handler: pattern 1, shard handler: shard 1",
                "nothing",
                "nothing",
                "handled: unhandled",
                "plain: last",
            ]
        );
    }
}

#[test]
fn handlers_run_on_a_thread_or_a_task_until_stopped() {
    let server = RedisServer::start();
    let mut publisher = client(&server, ProtocolVersion::Resp3);
    let jobs = |publisher: &mut Client| {
        for n in 0..5 {
            publisher.publish(format!("jobs.{n}"), n).unwrap();
        }
    };
    let subscribed = |publisher: &mut Client| publisher.pubsub_numpat().unwrap() == 1;

    let count = Arc::new(AtomicUsize::new(0));
    let counting = |count: &Arc<AtomicUsize>| {
        let count = Arc::clone(count);
        move |_: Message| {
            count.fetch_add(1, Ordering::SeqCst);
        }
    };

    let mut pubsub = client(&server, ProtocolVersion::Resp3).pubsub();
    pubsub.psubscribe_with("jobs.*", counting(&count)).unwrap();
    let thread = pubsub.run_in_thread(Duration::from_millis(10));
    wait_until("the subscription", || subscribed(&mut publisher));
    jobs(&mut publisher);
    wait_until("five jobs handled", || count.load(Ordering::SeqCst) == 5);
    let pubsub = thread.stop().unwrap();
    assert_eq!(pubsub.subscriptions().1, [b"jobs.*"]);
    drop(pubsub);
    wait_until("the thread's subscriber to go", || {
        !subscribed(&mut publisher)
    });

    let count = Arc::new(AtomicUsize::new(0));
    let pubsub = runtime().block_on(async {
        let mut pubsub = client(&server, ProtocolVersion::Resp3).async_pubsub();
        pubsub
            .psubscribe_with("jobs.*", counting(&count))
            .await
            .unwrap();
        let task = pubsub.run_in_task();
        while !subscribed(&mut publisher) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        jobs(&mut publisher);
        while count.load(Ordering::SeqCst) < 5 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        task.stop().await.unwrap()
    });
    assert_eq!(count.load(Ordering::SeqCst), 5);
    assert_eq!(pubsub.subscriptions().1, [b"jobs.*"]);
}

#[test]
fn lock_guards_release_on_drop_and_refuse_alike() {
    let server = RedisServer::start();
    let client = client(&server, ProtocolVersion::Resp3);

    let blocking = {
        let lock = client
            .lock("guarded")
            .timeout(Some(Duration::from_secs(10)));
        let name = lock.name().to_owned();
        let guard = lock.acquire_guard().unwrap();
        assert!(guard.owned().unwrap());
        let refused = client
            .lock("guarded")
            .blocking(false)
            .acquire_guard()
            .unwrap_err();
        drop(guard);
        assert!(
            !client.lock("guarded").locked().unwrap(),
            "released on drop"
        );
        (name, refused.kind(), refused.to_string())
    };

    let tokio = runtime().block_on(async {
        let con = client.get_multiplexed_async_connection().await.unwrap();
        let lock =
            respec::aio::Lock::new(con.clone(), "guarded").timeout(Some(Duration::from_secs(10)));
        let name = lock.name().to_owned();
        let guard = lock.acquire_guard().await.unwrap();
        assert!(guard.owned().await.unwrap());
        let refused = respec::aio::Lock::new(con.clone(), "guarded")
            .blocking(false)
            .acquire_guard()
            .await
            .unwrap_err();
        drop(guard);
        // The release is spawned: wait for it.
        let probe = respec::aio::Lock::new(con.clone(), "guarded");
        while probe.locked().await.unwrap() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let explicit = respec::aio::Lock::new(con, "guarded")
            .acquire_guard()
            .await
            .unwrap();
        explicit.release().await.unwrap();
        (name, refused.kind(), refused.to_string())
    });

    assert_eq!(blocking, tokio);
    assert_eq!(blocking.1, ErrorKind::Lock);
    assert!(blocking.2.contains("\"guarded\""), "{}", blocking.2);
}

#[test]
fn the_lock_works_on_any_clonable_seam_handle() {
    let server = RedisServer::start();
    let client = client(&server, ProtocolVersion::Resp2);
    // Retrying is a seam handle of its own: its commands are retried by the policy.
    let mut lock =
        respec::Lock::new(client.retrying(), "retried").timeout(Some(Duration::from_secs(5)));
    assert!(lock.acquire().unwrap());
    assert!(client.lock("retried").locked().unwrap());
    lock.extend(Duration::from_secs(5), true).unwrap();
    lock.release().unwrap();
    assert!(!lock.locked().unwrap());
}

#[test]
fn pools_give_a_connection_up_for_good_with_detach() {
    let server = RedisServer::start();
    let info = support::info(&server, ProtocolVersion::Resp3);
    let one = PoolConfig::default().max_connections(1).timeout(None);

    let client = Client::with_config(info.clone(), one.clone(), RetryPolicy::default()).unwrap();
    let mut detached = client.get_connection().unwrap().detach();
    assert_eq!(client.open_connections(), 0);
    let pooled = client.get_connection().expect("the place is free again");
    assert_eq!(client.open_connections(), 1);
    drop(pooled);
    assert_eq!(client.idle_connections(), 1);
    assert_eq!(cmd("PING").query::<String>(&mut detached).unwrap(), "PONG");

    runtime().block_on(async {
        let pool = respec::aio::Pool::new(info, one, RetryPolicy::default());
        let mut detached = pool.get().await.unwrap().detach();
        assert_eq!(pool.open_connections(), 0);
        let pooled = pool.get().await.expect("the place is free again");
        assert_eq!(pool.open_connections(), 1);
        drop(pooled);
        assert_eq!(pool.idle_connections(), 1);
        assert_eq!(
            cmd("PING")
                .query_async::<String>(&mut detached)
                .await
                .unwrap(),
            "PONG"
        );
    });
}

#[test]
fn transactions_hand_back_the_value_of_the_attempt_that_ran() {
    let server = RedisServer::start();
    let client = client(&server, ProtocolVersion::Resp3);

    let blocking = {
        client.clone().set("n", 1).unwrap();
        let mut other = client.clone();
        let mut con = client.get_connection().unwrap();
        let mut attempts = 0;
        let value: i64 = Transaction::new("n")
            .run_value(&mut con, |con, pipe| {
                attempts += 1;
                let n: i64 = con.get("n")?;
                if attempts == 1 {
                    other.set("n", 10)?; // a conflict: this attempt is thrown away
                }
                pipe.set("n", n + 1).ignore();
                Ok(n + 1)
            })
            .unwrap();
        let stored: i64 = client.clone().get("n").unwrap();
        (value, attempts, stored)
    };

    let tokio = runtime().block_on(async {
        let mut other = client.get_multiplexed_async_connection().await.unwrap();
        other.set("n", 1).await.unwrap();
        let mut con = client.get_async_connection().await.unwrap();
        let mut attempts = 0;
        let value: i64 = Transaction::new("n")
            .run_value_async(&mut con, async |con, pipe| {
                attempts += 1;
                let n: i64 = con.get("n").await?;
                if attempts == 1 {
                    other.set("n", 10).await?;
                }
                pipe.set("n", n + 1).ignore();
                Ok(n + 1)
            })
            .await
            .unwrap();
        let stored: i64 = other.get("n").await.unwrap();
        (value, attempts, stored)
    });

    assert_eq!(blocking, tokio);
    assert_eq!(blocking, (11, 2, 11));
}

#[test]
fn monitors_wait_as_long_as_they_are_told() {
    let server = RedisServer::start();
    let client = client(&server, ProtocolVersion::Resp2);
    let info = support::info(&server, ProtocolVersion::Resp2);

    let mut monitor = respec::Monitor::connect(&info, &RetryPolicy::none()).unwrap();
    assert!(monitor.next_entry(Duration::ZERO).unwrap().is_none());
    assert!(
        monitor
            .next_entry(Duration::from_millis(20))
            .unwrap()
            .is_none()
    );
    client.clone().set("seen", "sync").unwrap();
    let blocking = std::iter::from_fn(|| monitor.next_entry(WAIT).unwrap())
        .find(|e| e.command.eq_ignore_ascii_case("set"))
        .unwrap();

    let tokio = runtime().block_on(async {
        let mut monitor = client.async_monitor().await.unwrap();
        assert!(monitor.next_entry(Duration::ZERO).await.unwrap().is_none());
        assert!(
            monitor
                .next_entry(Duration::from_millis(20))
                .await
                .unwrap()
                .is_none()
        );
        client.clone().set("seen", "async").unwrap();
        loop {
            let entry = monitor.next_entry(WAIT).await.unwrap().expect("an entry");
            if entry.command.eq_ignore_ascii_case("set") {
                break entry;
            }
        }
    });

    assert_eq!(blocking.args, [b"seen".to_vec(), b"sync".to_vec()]);
    assert_eq!(tokio.args, [b"seen".to_vec(), b"async".to_vec()]);
}

/// A connector of one's own: the address of a `ConnectionInfo`, counting its connects.
#[derive(Debug)]
struct Counting {
    info: ConnectionInfo,
    sync: AtomicUsize,
    tokio: AtomicUsize,
}

impl Connector for Counting {
    fn options(&self) -> &ConnectionInfo {
        &self.info
    }

    fn connect(&self) -> respec::Result<Connection> {
        self.sync.fetch_add(1, Ordering::SeqCst);
        Connection::open(&self.info)
    }

    fn connect_async(&self) -> ConnectFuture<'_> {
        self.tokio.fetch_add(1, Ordering::SeqCst);
        Box::pin(respec::aio::Connection::open(&self.info))
    }
}

/// A connector that can only connect synchronously.
#[derive(Debug)]
struct SyncOnly(ConnectionInfo);

impl Connector for SyncOnly {
    fn options(&self) -> &ConnectionInfo {
        &self.0
    }

    fn connect(&self) -> respec::Result<Connection> {
        Connection::open(&self.0)
    }
}

#[test]
fn everything_that_opens_connections_asks_the_clients_connector() {
    let server = RedisServer::start();
    let connector = Arc::new(Counting {
        info: support::info(&server, ProtocolVersion::Resp3),
        sync: AtomicUsize::new(0),
        tokio: AtomicUsize::new(0),
    });
    let mut client = Client::with_connector(
        connector.clone(),
        PoolConfig::default(),
        RetryPolicy::default(),
    );
    assert_eq!(client.connection_info(), &connector.info);
    let synced = || connector.sync.load(Ordering::SeqCst);
    let tokioed = || connector.tokio.load(Ordering::SeqCst);

    client.set("k", "v").unwrap();
    assert_eq!(synced(), 1, "the pool");
    let mut pubsub = client.pubsub();
    pubsub.subscribe("c").unwrap();
    assert_eq!(synced(), 2, "pub/sub");
    let _monitor = client.monitor().unwrap();
    assert_eq!(synced(), 3, "monitor");
    let _dedicated = client.get_dedicated_connection().unwrap();
    assert_eq!(synced(), 4, "a dedicated connection");

    runtime().block_on(async {
        let mut multiplexed = client.get_multiplexed_async_connection().await.unwrap();
        assert_eq!(multiplexed.get::<String>("k").await.unwrap(), "v");
        assert_eq!(tokioed(), 1, "the multiplexed connection");
        // A blocking command goes to a dedicated connection of the async pool.
        assert_eq!(
            multiplexed
                .blpop::<Option<(String, String)>>("empty", 0.01)
                .await
                .unwrap(),
            None
        );
        assert_eq!(tokioed(), 2, "the multiplexed connection's dedicated one");
        let mut manager = client.connection_manager().await.unwrap();
        assert_eq!(manager.get::<String>("k").await.unwrap(), "v");
        assert_eq!(tokioed(), 3, "the manager");
        let mut pubsub = client.async_pubsub();
        pubsub.subscribe("c").await.unwrap();
        assert_eq!(tokioed(), 4, "async pub/sub");
        let _monitor = client.async_monitor().await.unwrap();
        assert_eq!(tokioed(), 5, "async monitor");
        let manager = respec::aio::ConnectionManager::new(
            Counting {
                info: connector.info.clone(),
                sync: AtomicUsize::new(0),
                tokio: AtomicUsize::new(0),
            },
            RetryPolicy::default(),
        )
        .await
        .unwrap();
        assert!(manager.is_connected());

        let sync_only = Client::with_connector(
            Arc::new(SyncOnly(connector.info.clone())),
            PoolConfig::default(),
            RetryPolicy::default(),
        );
        let err = sync_only
            .get_multiplexed_async_connection()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("only synchronously"), "{err}");
        assert_eq!(
            sync_only.clone().get::<String>("k").unwrap(),
            "v",
            "sync still works"
        );
    });
}
