//! Blocking commands on every kind of connection, against a real server: each gets a
//! deadline of its own timeout plus the request timeout, alone or in a pipeline; on the
//! multiplexed connection they never hold up other callers, and the connections they
//! run on are bounded.

mod support;

use std::time::Duration;

use respec::{AsyncCommands, Client, Commands, ErrorKind, PoolConfig, RetryPolicy, cmd, pipe};
use support::RedisServer;

/// The request timeout the tests give: shorter than the blocking commands' own.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);

fn client(server: &RedisServer) -> Client {
    let mut info = support::info(server, respec::ProtocolVersion::Resp3);
    info.socket_timeout = Some(REQUEST_TIMEOUT);
    Client::open(info).unwrap()
}

// Issue 20, item 8: a blocking command whose own timeout is longer than the request
// timeout failed with a timeout and broke the connection (on the async pool's
// connections, and on sync connections, whose socket timeout cut it short).
#[test]
fn a_blocking_command_waits_its_own_timeout_on_sync_connections() {
    let server = RedisServer::start();
    let client = client(&server);
    let mut con = client.get_dedicated_connection().unwrap();
    let popped: Option<(String, String)> = con.blpop("empty:a", 1.0).unwrap();
    assert_eq!(popped, None);
    let (popped,): (Option<(String, String)>,) =
        pipe().blpop("empty:a", 1.0).query(&mut con).unwrap();
    assert_eq!(popped, None);
    assert_eq!(con.ping().unwrap(), "PONG");
    // Through the pool, one pooled connection per command.
    let popped: Option<(String, String)> = client.clone().brpop("empty:b", 1.0).unwrap();
    assert_eq!(popped, None);
    // XREAD ... BLOCK counts milliseconds.
    let read: Option<respec::Value> = cmd("XREAD")
        .arg("BLOCK")
        .arg(600)
        .arg("STREAMS")
        .key("empty:stream")
        .arg("$")
        .query(&mut con)
        .unwrap();
    assert_eq!(read, None);
    // A data-less wait past the deadline still fails, and breaks the connection.
    let err = cmd("DEBUG").arg("SLEEP").arg(1).exec(&mut con).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_command_waits_its_own_timeout_on_async_connections() {
    let server = RedisServer::start();
    let client = client(&server);
    let multiplexed = client.get_multiplexed_async_connection().await.unwrap();
    let manager = client.connection_manager().await.unwrap();
    let single = async {
        let mut con = client.get_async_connection().await.unwrap();
        let popped: Option<(String, String)> = con.blpop("empty:single", 1.0).await.unwrap();
        assert_eq!(popped, None);
        let (popped,): (Option<(String, String)>,) = pipe()
            .blpop("empty:single", 1.0)
            .query_async(&mut *con)
            .await
            .unwrap();
        assert_eq!(popped, None);
        assert_eq!(
            con.ping().await.unwrap(),
            "PONG",
            "the connection is still good"
        );
    };
    let shared = |mut con: respec::aio::MultiplexedConnection, key: &'static str| async move {
        let popped: Option<(String, String)> = con.blpop(key, 1.0).await.unwrap();
        assert_eq!(popped, None);
        let (popped,): (Option<(String, String)>,) =
            pipe().blpop(key, 1.0).query_async(&mut con).await.unwrap();
        assert_eq!(popped, None);
    };
    let through_manager = async {
        let mut con = manager.clone();
        let popped: Option<(String, String)> = con.blpop("empty:manager", 1.0).await.unwrap();
        assert_eq!(popped, None);
        let (popped,): (Option<(String, String)>,) = pipe()
            .blpop("empty:manager", 1.0)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(popped, None);
    };
    tokio::join!(
        single,
        shared(multiplexed.clone(), "empty:multiplexed"),
        through_manager
    );
    assert!(multiplexed.is_connected());
    assert!(manager.is_connected());
}

// Issue 20, item 8: a BLPOP inside a pipeline on the multiplexed connection went on the
// shared socket and held up every other caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_pipeline_does_not_hold_up_the_shared_connection() {
    let server = RedisServer::start();
    let client = client(&server);
    let con = client.get_multiplexed_async_connection().await.unwrap();
    let mut blocked = con.clone();
    let pipeline = tokio::spawn(async move {
        let mut p = pipe();
        p.set("before", 1).ignore().blpop("empty", 2.0);
        p.query_async::<(Option<(String, String)>,)>(&mut blocked)
            .await
    });
    // Let the pipeline reach the server and block there.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut other = con.clone();
    for _ in 0..10 {
        assert_eq!(other.ping().await.unwrap(), "PONG");
    }
    assert!(
        !pipeline.is_finished(),
        "the other requests were answered while the pipeline blocked"
    );
    assert_eq!(pipeline.await.unwrap().unwrap(), (None,));
    assert_eq!(other.get::<Option<i64>>("before").await.unwrap(), Some(1));
}

// Issue 20, item 8: the dedicated connections for blocking commands were unbounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedicated_connections_for_blocking_commands_are_bounded() {
    let server = RedisServer::start();
    let mut info = support::info(&server, respec::ProtocolVersion::Resp3);
    info.socket_timeout = Some(Duration::from_secs(3));
    let client = Client::with_config(
        info,
        PoolConfig::default().max_connections(2),
        RetryPolicy::default(),
    )
    .unwrap();
    let con = client.get_multiplexed_async_connection().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let mut con = con.clone();
        tasks.push(tokio::spawn(async move {
            con.blpop::<Option<(String, String)>>(format!("empty:{i}"), 0.5)
                .await
        }));
    }
    let mut admin = support::connect(&server, respec::ProtocolVersion::Resp2);
    let mut most = 0;
    while tasks.iter().any(|task| !task.is_finished()) {
        let clients: String = cmd("CLIENT LIST").query(&mut admin).unwrap();
        most = most.max(clients.lines().count());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for task in tasks {
        // Each waited for a free connection within its deadline, then blocked its 0.5 s.
        assert_eq!(task.await.unwrap().unwrap(), None);
    }
    // The admin, the multiplexed connection, and at most two dedicated ones.
    assert!(most <= 4, "{most} clients at once");
    assert!(
        most >= 3,
        "the blocking commands ran on dedicated connections"
    );
}

// Issue 20, item 7: no argument a user can pass may panic.
#[test]
fn timeouts_no_duration_can_hold_never_panic() {
    let server = RedisServer::start();
    let client = client(&server);
    let mut con = client.get_connection().unwrap();
    // The server refuses an infinite timeout; the client must not panic on it.
    let err = con
        .blpop::<Option<(String, String)>>("k", f64::INFINITY)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    let err = con
        .blpop::<Option<(String, String)>>("k", f64::NAN)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    drop(con);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let err = con
            .blpop::<Option<(String, String)>>("k", f64::INFINITY)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Server, "{err}");
        let mut single = client.get_async_connection().await.unwrap();
        let err = single
            .blpop::<Option<(String, String)>>("k", 1e300)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Server, "{err}");
        // Duration::MAX means "forever" wherever a wait is given.
        let lock = respec::aio::Lock::new(con.clone(), "lock:forever")
            .blocking_timeout(Some(Duration::MAX));
        let mut lock = lock;
        assert!(lock.acquire().await.unwrap());
        lock.release().await.unwrap();
    });

    // Locks: waiting forever for a free lock, and an expiry no server takes.
    let mut lock = client
        .lock("lock:max")
        .blocking_timeout(Some(Duration::MAX))
        .sleep(Duration::from_millis(10));
    assert!(lock.acquire().unwrap());
    lock.release().unwrap();
    let err = client
        .lock("lock:ttl")
        .timeout(Some(Duration::MAX))
        .acquire()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");

    // A pool that waits forever for a connection gets one when it comes back.
    let mut info = support::info(&server, respec::ProtocolVersion::Resp2);
    info.socket_timeout = Some(REQUEST_TIMEOUT);
    let pool = Client::with_config(
        info,
        PoolConfig::default()
            .max_connections(1)
            .timeout(Some(Duration::MAX)),
        RetryPolicy::default().backoff(Duration::MAX, Duration::MAX),
    )
    .unwrap();
    let held = pool.get_connection().unwrap();
    let waiter = {
        let pool = pool.clone();
        std::thread::spawn(move || pool.get_connection().map(drop))
    };
    std::thread::sleep(Duration::from_millis(100));
    drop(held);
    waiter.join().unwrap().unwrap();
    assert!(pool.retry_policy().delay(40) <= Duration::MAX);

    // Pub/sub waits forever for a message that comes.
    let mut pubsub = client.pubsub().ignore_subscribe_messages(true);
    pubsub.subscribe("news").unwrap();
    let publisher = {
        let client = client.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            client.clone().publish("news", "hello")
        })
    };
    let message = pubsub.get_message(Duration::MAX).unwrap().unwrap();
    assert_eq!(message.payload::<String>().unwrap(), "hello");
    assert_eq!(publisher.join().unwrap().unwrap(), 1);
}

// Issue 20, item 14: SELECT through a shared connection left `db()` wrong, and a
// reconnect moved every task back to database 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changing_commands_are_refused_on_shared_connections() {
    let server = RedisServer::start();
    let mut info = support::info(&server, respec::ProtocolVersion::Resp3);
    info.db = 2;
    let client = Client::open(info).unwrap();
    let mut multiplexed = client.get_multiplexed_async_connection().await.unwrap();
    let mut manager = client.connection_manager().await.unwrap();
    for con in [&mut multiplexed as &mut dyn Refuses, &mut manager] {
        for refused in [
            cmd("SELECT").arg(3).clone(),
            cmd("select").arg(0).clone(),
            cmd("HELLO").arg(2).clone(),
            cmd("RESET"),
            cmd("AUTH").arg("pw").clone(),
        ] {
            let err = con.exec(&refused).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{refused:?}: {err}");
            assert!(err.to_string().contains("shared connection"), "{err}");
        }
        let err = con.pipeline_with_select().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
    // Nothing was sent: both still on database 2.
    let on: String = multiplexed.client_info().await.unwrap();
    assert!(on.contains(" db=2 "), "{on}");
    let on: String = manager.client_info().await.unwrap();
    assert!(on.contains(" db=2 "), "{on}");
    assert_eq!(respec::AsyncConnectionLike::db(&multiplexed), 2);
    // A connection of one's own may select as it likes.
    let mut own = client.get_async_connection().await.unwrap();
    cmd("SELECT").arg(3).exec_async(&mut *own).await.unwrap();
}

/// The two shared connections, as the test above drives them.
trait Refuses {
    fn exec<'a>(
        &'a mut self,
        cmd: &'a respec::Cmd,
    ) -> std::pin::Pin<Box<dyn Future<Output = respec::Result<()>> + 'a>>;
    fn pipeline_with_select(
        &mut self,
    ) -> std::pin::Pin<Box<dyn Future<Output = respec::Result<()>> + '_>>;
}

impl<C: respec::AsyncConnectionLike> Refuses for C {
    fn exec<'a>(
        &'a mut self,
        cmd: &'a respec::Cmd,
    ) -> std::pin::Pin<Box<dyn Future<Output = respec::Result<()>> + 'a>> {
        Box::pin(cmd.exec_async(self))
    }

    fn pipeline_with_select(
        &mut self,
    ) -> std::pin::Pin<Box<dyn Future<Output = respec::Result<()>> + '_>> {
        Box::pin(async move {
            let mut p = pipe();
            p.set("a", 1).add_command(cmd("SELECT").arg(1).clone());
            p.query_async::<()>(self).await
        })
    }
}
