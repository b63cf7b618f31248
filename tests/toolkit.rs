//! The toolkit against real servers: the pooled client, retries, pipelines,
//! transactions, scripts, scan iterators and the lock.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use respec::commands::{HscanOptions, ScanOptions, SscanOptions, ZscanOptions};
use respec::{
    Client, Commands, ConnectionLike, ErrorKind, PoolConfig, ProtocolVersion, RetryPolicy,
    ScanCommands, Script, Transaction, Value, cmd, pipe,
};
use support::{RedisServer, each_protocol};

fn pooled(server: &RedisServer, pool: PoolConfig) -> Client {
    Client::with_config(server.url(), pool, RetryPolicy::default()).unwrap()
}

#[test]
fn eight_threads_share_one_client() {
    let server = RedisServer::start();
    let client = pooled(&server, PoolConfig::default().max_connections(4));
    std::thread::scope(|scope| {
        for t in 0..8 {
            let mut client = client.clone();
            scope.spawn(move || {
                for i in 0..1000 {
                    client.incr("total").unwrap();
                    if i % 100 == 0 {
                        // A checked-out connection for a burst of commands, too.
                        let mut con = client.get_connection().unwrap();
                        con.hincrby("per-thread", t, 1).unwrap();
                    }
                }
            });
        }
    });
    let mut con = client.get_connection().unwrap();
    assert_eq!(con.get::<i64>("total").unwrap(), 8000);
    let per_thread: Vec<i64> = con.hvals("per-thread").unwrap();
    assert_eq!(per_thread, vec![10; 8]);
    assert!(
        client.open_connections() <= 4,
        "{}",
        client.open_connections()
    );
}

#[test]
fn an_exhausted_pool_times_out_with_a_clear_error() {
    let server = RedisServer::start();
    let client = pooled(
        &server,
        PoolConfig::default()
            .max_connections(2)
            .timeout(Some(Duration::from_millis(100))),
    );
    let held = [
        client.get_connection().unwrap(),
        client.get_connection().unwrap(),
    ];
    let err = client.get_connection().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PoolExhausted);
    assert_eq!(
        err.to_string(),
        "no connection available: all 2 are in use (after waiting 100ms)"
    );
    drop(held);
    assert!(client.get_connection().is_ok());

    let no_wait = pooled(
        &server,
        PoolConfig::default().max_connections(1).timeout(None),
    );
    let _held = no_wait.get_connection().unwrap();
    assert_eq!(
        no_wait.get_connection().unwrap_err().kind(),
        ErrorKind::PoolExhausted
    );
}

#[test]
fn a_killed_connection_is_replaced() {
    let server = RedisServer::start();
    let client = Client::open(server.url()).unwrap();
    let first_id = client.get_connection().unwrap().client_id().unwrap();
    let mut admin = support::connect(&server, ProtocolVersion::Resp2);
    admin
        .client_kill(respec::commands::ClientKillFilter::NewFormat(vec![
            respec::commands::ClientKillFilterNewFormat::Id(first_id),
        ]))
        .map(|_: i64| ())
        .unwrap();
    // The idle connection was killed: the pool sees it at checkout, without a round
    // trip, and hands out a new one.
    let mut con = client.get_connection().unwrap();
    assert_eq!(con.ping().unwrap(), "PONG");
    assert_ne!(con.client_id().unwrap(), first_id);
    drop(con);
    assert_eq!(client.open_connections(), 1);

    // With a health check, a dead idle connection is replaced before anyone sees it.
    let mut info = support::info(&server, ProtocolVersion::Resp2);
    info.health_check_interval = Some(Duration::from_millis(1));
    let checked = Client::open(info).unwrap();
    let id = checked.get_connection().unwrap().client_id().unwrap();
    admin
        .client_kill(respec::commands::ClientKillFilter::NewFormat(vec![
            respec::commands::ClientKillFilterNewFormat::Id(id),
        ]))
        .map(|_: i64| ())
        .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let mut con = checked.get_connection().unwrap();
    assert_eq!(con.ping().unwrap(), "PONG");
    assert_ne!(con.client_id().unwrap(), id);
}

#[test]
fn connections_set_up_with_hello_and_auth_are_reused() {
    let server = RedisServer::config().password("pw").start();
    let mut info = support::info(&server, ProtocolVersion::Resp3);
    info.password = Some("pw".into());
    info.db = 2;
    let mut client = Client::open(info).unwrap();
    let first = client.client_id().unwrap();
    for _ in 0..5 {
        assert_eq!(
            client.client_id().unwrap(),
            first,
            "the same pooled connection"
        );
    }
    assert_eq!(client.open_connections(), 1);
}

#[test]
fn select_does_not_leak_to_the_next_user() {
    let server = RedisServer::start();
    let client = pooled(&server, PoolConfig::default().max_connections(1));
    {
        let mut con = client.get_connection().unwrap();
        cmd("SELECT").arg(5).exec(&mut con).unwrap();
        assert_eq!(con.db(), 5);
    }
    let mut con = client.get_connection().unwrap();
    assert_eq!(con.db(), 0);
    let info: String = con.client_info().unwrap();
    assert!(info.contains(" db=0 "), "{info}");
}

#[test]
fn retries_reconnect_and_give_up() {
    let mut server = RedisServer::start();
    let policy = RetryPolicy::new(4).backoff(Duration::from_millis(5), Duration::from_millis(20));
    let client = Client::with_config(server.url(), PoolConfig::default(), policy).unwrap();
    // Connections die under the pool (the server restarts): the retried command
    // discards the dead connection and succeeds on a new one.
    let mut admin = support::connect(&server, ProtocolVersion::Resp2);
    client.retrying().set("k", "v").unwrap();
    cmd("CLIENT KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .exec(&mut admin)
        .unwrap();
    assert_eq!(client.retrying().get::<String>("k").unwrap(), "v");
    // Nothing listens any more: every try fails, and the last error comes back.
    server.kill();
    let err = client.retrying().get::<String>("k").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err:?}");
}

#[test]
fn pipelines_atomic_ignore_and_every_reply() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        let (n, v): (i64, String) = pipe()
            .set("k", "v")
            .ignore()
            .incr("n")
            .get("k")
            .query(con)
            .unwrap();
        assert_eq!((n, v.as_str()), (1, "v"));

        // Every reply ignored: none comes back, though every command ran.
        let none: Vec<Value> = pipe()
            .set("a", "1")
            .ignore()
            .set("b", "2")
            .ignore()
            .query(con)
            .unwrap();
        assert!(none.is_empty(), "{none:?}");
        assert_eq!(con.get::<String>("b").unwrap(), "2");

        let (n, m): (i64, i64) = pipe()
            .atomic()
            .incr("n")
            .incrby("n", 10)
            .query(con)
            .unwrap();
        assert_eq!((n, m), (2, 12));

        // The first error is raised; query_all gives every reply and error in order.
        let err = pipe()
            .set("s", "x")
            .lpush("s", "y")
            .query::<Value>(con)
            .unwrap_err();
        assert_eq!(err.code(), Some("WRONGTYPE"));
        let all = pipe()
            .set("s", "x")
            .lpush("s", "y")
            .get("s")
            .query_all(con)
            .unwrap();
        assert_eq!(all.len(), 3);
        assert!(all[0].is_ok());
        assert_eq!(all[1].as_ref().unwrap_err().code(), Some("WRONGTYPE"));
        assert_eq!(
            respec::from_redis_value::<String>(all[2].as_ref().unwrap().clone()).unwrap(),
            "x"
        );

        // A transaction with a command the server refuses to queue: the refusal, with
        // the command's place, and nothing ran.
        let err = pipe()
            .atomic()
            .incr("n")
            .add_command(cmd("NOSUCHCOMMAND"))
            .query::<Value>(con)
            .unwrap_err();
        assert_eq!(err.code(), Some("ERR"), "{err}");
        assert_eq!(con.get::<i64>("n").unwrap(), 12, "nothing ran");
    });
}

// Issue 20, item 5: the error of an ignored command vanished.
#[test]
fn errors_of_ignored_commands_are_not_dropped() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        con.set("s", "x").unwrap();
        let err = pipe()
            .lpush("s", "x")
            .ignore()
            .query::<()>(con)
            .unwrap_err();
        assert_eq!(err.code(), Some("WRONGTYPE"), "{err}");
        assert_eq!(err.command_index(), Some(0));
        assert!(
            err.to_string()
                .starts_with("LPUSH, command 1 of the pipeline, failed: WRONGTYPE"),
            "{err}"
        );
        // Every reply ignored, one of them an error.
        let err = pipe()
            .incr("n")
            .ignore()
            .lpush("s", "x")
            .ignore()
            .query::<Vec<Value>>(con)
            .unwrap_err();
        assert_eq!(err.command_index(), Some(1), "{err}");
        // query_all keeps an ignored command's error in its place.
        let all = pipe()
            .incr("n")
            .ignore()
            .lpush("s", "x")
            .ignore()
            .get("s")
            .query_all(con)
            .unwrap();
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[0].as_ref().unwrap_err().code(), Some("WRONGTYPE"));
        assert_eq!(all[0].as_ref().unwrap_err().command_index(), Some(1));
        assert_eq!(all[1].as_ref().unwrap(), &Value::BulkString("x".into()));
        // Inside a transaction too: the command ran, its error is returned.
        let err = pipe()
            .atomic()
            .lpush("s", "x")
            .ignore()
            .incr("n")
            .query::<(i64,)>(con)
            .unwrap_err();
        assert_eq!(err.code(), Some("WRONGTYPE"), "{err}");
        assert!(
            err.to_string().contains("command 1 of the transaction"),
            "{err}"
        );
        assert_eq!(con.get::<i64>("n").unwrap(), 3);
    });
}

// Issue 20, item 6: a transaction aborted at queue time gave only EXECABORT.
#[test]
fn a_transaction_refused_at_queue_time_names_the_command_and_its_error() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        let err = pipe()
            .atomic()
            .set("a", 1)
            .incr("n")
            .add_command(cmd("NOSUCHCOMMAND").arg("x"))
            .set("b", 2)
            .query::<Value>(con)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Server);
        assert_eq!(err.code(), Some("ERR"), "{err}");
        assert_eq!(err.command_index(), Some(2));
        let text = err.to_string();
        assert!(
            text.starts_with("NOSUCHCOMMAND, command 3 of the transaction, was refused, so the transaction did not run: ERR unknown command"),
            "{text}"
        );
        // A wrong number of arguments is refused at queue time as well.
        let err = pipe()
            .atomic()
            .add_command(cmd("GET"))
            .query_all(con)
            .unwrap_err();
        assert_eq!(err.command_index(), Some(0), "{err}");
        assert!(
            err.to_string().contains("wrong number of arguments"),
            "{err}"
        );
        assert_eq!(con.exists(["a", "b", "n"]).unwrap(), 0, "nothing ran");
    });
}

/// Checks the replies of [`long_pipeline`]: for each round, the counter and the value
/// just set, with the `SET`s' replies left out.
fn check_long_pipeline(replies: &[Value], rounds: usize, tag: &str) {
    assert_eq!(replies.len(), rounds * 2, "{tag}");
    for (round, pair) in replies.chunks(2).enumerate() {
        assert_eq!(
            pair[0],
            Value::Int(round as i64 + 1),
            "{tag}, round {round}"
        );
        let value: String = respec::from_redis_value(pair[1].clone()).unwrap();
        assert_eq!(
            value,
            format!("{tag}-value-{round}"),
            "{tag}, round {round}"
        );
    }
}

/// `rounds` rounds of SET (ignored), INCR and GET on keys of their own.
fn long_pipeline(rounds: usize, tag: &str) -> respec::Pipeline {
    let mut p = pipe();
    for round in 0..rounds {
        p.set(format!("{tag}:{round}"), format!("{tag}-value-{round}"))
            .ignore()
            .incr(format!("{tag}:counter"))
            .get(format!("{tag}:{round}"));
    }
    p
}

#[test]
fn long_pipelines_keep_every_reply_in_its_place() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        // 3,000 commands: far more replies than one read brings in.
        let replies: Vec<Value> = long_pipeline(1000, "long").query(con).unwrap();
        check_long_pipeline(&replies, 1000, "long");

        // An error reply in the middle of many short ones keeps its place.
        let mut p = pipe();
        for round in 0..300 {
            p.incr("errs:n");
            if round == 150 {
                p.lpush("long:0", "x");
            }
        }
        let all = p.query_all(con).unwrap();
        assert_eq!(all.len(), 301);
        for (idx, reply) in all.iter().enumerate() {
            if idx == 151 {
                assert_eq!(reply.as_ref().unwrap_err().code(), Some("WRONGTYPE"));
                continue;
            }
            // The INCRs count on past the error.
            let n = if idx < 151 { idx + 1 } else { idx };
            assert_eq!(
                reply.as_ref().unwrap(),
                &Value::Int(n as i64),
                "reply {idx}"
            );
        }

        // A SELECT inside a pipeline moves the connection to that database.
        let mut select = cmd("SELECT");
        select.arg(2);
        let _: Value = pipe()
            .add_command(select)
            .set("in-db-2", "yes")
            .query(con)
            .unwrap();
        assert_eq!(con.db(), 2);
        assert_eq!(con.get::<String>("in-db-2").unwrap(), "yes");
        cmd("SELECT").arg(0).exec(con).unwrap();
        assert_eq!(con.get::<Option<String>>("in-db-2").unwrap(), None);
    });
    // A pipeline of large values goes out straight from its buffer.
    let mut con = support::connect(&server, ProtocolVersion::Resp2);
    let lens = [10, 64 * 1024, 3 << 20];
    let mut p = pipe();
    for (n, len) in lens.into_iter().enumerate() {
        p.set(format!("big:{n}"), support::patterned(len))
            .ignore()
            .get(format!("big:{n}"));
    }
    let got: Vec<Vec<u8>> = p.query(&mut con).unwrap();
    assert_eq!(got.len(), lens.len());
    for (value, len) in got.iter().zip(lens) {
        assert!(
            *value == support::patterned(len),
            "{len} bytes in a pipeline"
        );
    }

    // The pooled client and its retrying view send a pipeline on one connection.
    let mut client = pooled(&server, PoolConfig::default());
    let replies: Vec<Value> = long_pipeline(500, "client").query(&mut client).unwrap();
    check_long_pipeline(&replies, 500, "client");
    let replies: Vec<Value> = long_pipeline(500, "retrying")
        .query(&mut client.retrying())
        .unwrap();
    check_long_pipeline(&replies, 500, "retrying");
}

#[test]
fn a_watch_conflict_retries_exactly_once() {
    let server = RedisServer::start();
    let client = Client::open(server.url()).unwrap();
    let mut other = support::connect(&server, ProtocolVersion::Resp2);
    other.set("balance", 100).unwrap();
    let attempts = AtomicUsize::new(0);
    let (balance,): (i64,) = client
        .transaction("balance", |con, pipe| {
            let current: i64 = con.get("balance")?;
            if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                // Another client writes the watched key before our EXEC.
                other.incrby("balance", 50)?;
            }
            pipe.set("balance", current - 30).ignore().get("balance");
            Ok(())
        })
        .unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(balance, 120);

    // The closure's own value, and a cap on attempts.
    let mut con = client.get_connection().unwrap();
    let seen = Transaction::new("balance")
        .retry_delay(Duration::from_millis(1))
        .run_value(&mut con, |con, pipe| {
            let seen: i64 = con.get("balance")?;
            pipe.incr("balance");
            Ok(seen)
        })
        .unwrap();
    assert_eq!(seen, 120);
    let err = Transaction::new("balance")
        .max_attempts(2)
        .run::<_, Value, _>(&mut con, |_, pipe| {
            other.incr("balance")?;
            pipe.incr("balance");
            Ok(())
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TransactionAborted);
    // A failing closure unwatches, leaving the connection clean.
    let err = Transaction::new("balance")
        .run::<_, Value, _>(&mut con, |_, _| {
            Err(respec::Error::from(respec::ServerError::new(
                "ERR from the closure",
            )))
        })
        .unwrap_err();
    assert_eq!(err.code(), Some("ERR"));
    assert_eq!(con.ping().unwrap(), "PONG");
}

#[test]
fn scripts_survive_a_script_flush() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        let script = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
        let loaded: String = con.script_load(script.code()).unwrap();
        assert_eq!(loaded, script.hash(), "our SHA1 is the server's");
        assert_eq!(script.key("n").arg(5).invoke::<i64>(con).unwrap(), 5);
        con.script_flush().unwrap();
        // NOSCRIPT now: the script is loaded again and the call goes through.
        assert_eq!(script.key("n").arg(2).invoke::<i64>(con).unwrap(), 7);
        // In a pipeline, the script is loaded in the same write before the commands.
        con.script_flush().unwrap();
        let (a, b): (i64, i64) = pipe()
            .invoke_script(&script.key("n").arg(1))
            .invoke_script(&script.key("m").arg(3))
            .query(con)
            .unwrap();
        assert_eq!((a, b), (8, 3));
        let (c,): (i64,) = pipe()
            .atomic()
            .invoke_script(&script.key("n").arg(1))
            .query(con)
            .unwrap();
        assert_eq!(c, 9);
        assert_eq!(
            Script::new("return 'hi'").invoke::<String>(con).unwrap(),
            "hi"
        );
    });
}

#[test]
fn functions_through_the_generated_commands() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        let library = "#!lua name=counters\n\
            redis.register_function('bump', function(keys, args) return redis.call('INCRBY', keys[1], args[1]) end)";
        let name: String = con
            .function_load_options(
                library,
                respec::commands::FunctionLoadOptions::default().replace(),
            )
            .unwrap();
        assert_eq!(name, "counters");
        let n: i64 = con
            .fcall_options(
                "bump",
                respec::commands::FcallOptions::default().key("c").arg(4),
            )
            .unwrap();
        assert_eq!(n, 4);
    });
}

#[test]
fn scans_visit_every_key() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        let mut p = pipe();
        for i in 0..10_000 {
            p.set(format!("key:{i}"), i).ignore();
        }
        p.query::<()>(con).unwrap();
        con.sadd("set", (0..500).collect::<Vec<i32>>()).unwrap();
        con.hset(
            "hash",
            (0..300).map(|i| (format!("f{i}"), i)).collect::<Vec<_>>(),
        )
        .unwrap();
        con.zadd(
            "zset",
            (0..200)
                .map(|i| (f64::from(i), format!("m{i}")))
                .collect::<Vec<_>>(),
        )
        .unwrap();

        let keys: HashSet<String> = con
            .scan_iter::<String>(ScanOptions::default().pattern("key:*").count(1000))
            .collect::<respec::Result<_>>()
            .unwrap();
        assert_eq!(keys.len(), 10_000);
        let strings = con
            .scan_iter::<String>(ScanOptions::default().type_("set").count(1000))
            .collect::<respec::Result<Vec<_>>>()
            .unwrap();
        assert_eq!(strings, ["set"]);
        let members: HashSet<i32> = con
            .sscan_iter("set", SscanOptions::default().count(50))
            .map(Result::unwrap)
            .collect();
        assert_eq!(members.len(), 500);
        let fields: Vec<(String, i32)> = con
            .hscan_iter("hash", HscanOptions::default().pattern("f1*"))
            .map(Result::unwrap)
            .collect();
        assert_eq!(fields.len(), 111);
        assert!(fields.iter().all(|(f, v)| *f == format!("f{v}")));
        let scored: Vec<(String, f64)> = con
            .zscan_iter("zset", ZscanOptions::default())
            .map(Result::unwrap)
            .collect();
        assert_eq!(scored.len(), 200);

        // Errors come as items, then the iteration ends.
        let mut wrong = con.sscan_iter::<String>("hash", SscanOptions::default());
        assert_eq!(wrong.next().unwrap().unwrap_err().code(), Some("WRONGTYPE"));
        assert!(wrong.next().is_none());
    });
}

#[test]
fn four_threads_contend_for_one_lock() {
    let server = RedisServer::start();
    let client = Client::open(server.url()).unwrap();
    let inside = Arc::new(AtomicUsize::new(0));
    let entries = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let client = client.clone();
            let (inside, entries) = (Arc::clone(&inside), Arc::clone(&entries));
            scope.spawn(move || {
                for _ in 0..10 {
                    let lock = client
                        .lock("resource")
                        .timeout(Some(Duration::from_secs(10)))
                        .sleep(Duration::from_millis(1));
                    let guard = lock.acquire_guard().unwrap();
                    // Nobody else may be inside at the same time.
                    assert_eq!(
                        inside.fetch_add(1, Ordering::SeqCst),
                        0,
                        "critical sections overlap"
                    );
                    std::thread::sleep(Duration::from_millis(2));
                    entries.fetch_add(1, Ordering::SeqCst);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    guard.release().unwrap();
                }
            });
        }
    });
    assert_eq!(entries.load(Ordering::SeqCst), 40);
    assert!(!client.lock("resource").locked().unwrap());
}

#[test]
fn lock_expiry_and_ownership_are_honoured() {
    let server = RedisServer::start();
    let client = Client::open(server.url()).unwrap();
    let mut first = client.lock("job").timeout(Some(Duration::from_millis(100)));
    assert!(first.acquire().unwrap());
    assert!(first.owned().unwrap() && first.locked().unwrap());

    let mut second = client.lock("job").blocking(false);
    assert!(!second.acquire().unwrap(), "held by the first");
    let mut patient = client
        .lock("job")
        .blocking_timeout(Some(Duration::from_millis(30)))
        .sleep(Duration::from_millis(5));
    assert!(
        !patient.acquire().unwrap(),
        "the blocking timeout is honoured"
    );

    first.extend(Duration::from_millis(100), false).unwrap();
    first.reacquire().unwrap();
    // The lock expires; another takes it; the first can no longer release or extend it.
    std::thread::sleep(Duration::from_millis(250));
    assert!(!first.owned().unwrap());
    let mut third = client
        .lock("job")
        .blocking_timeout(Some(Duration::from_secs(1)));
    assert!(third.acquire().unwrap());
    let err = first.release().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Lock);
    assert!(err.to_string().contains("no longer owned"), "{err}");
    let err = first.release().unwrap_err();
    assert!(err.to_string().contains("not acquired"), "{err}");
    assert!(third.owned().unwrap(), "the new holder is untouched");
    let err = third.extend(Duration::from_secs(1), true).unwrap_err();
    assert!(err.to_string().contains("no timeout"), "{err}");
    third.release().unwrap();
    assert!(!client.lock("job").locked().unwrap());
}

#[test]
fn the_shared_types_are_thread_safe() {
    fn assert_shareable<T: Clone + Send + Sync + 'static>() {}
    fn assert_send<T: Send + 'static>() {}
    assert_shareable::<Client>();
    assert_shareable::<Script>();
    assert_send::<respec::PooledConnection>();
    assert_send::<respec::PubSub>();
    assert_send::<respec::Lock>();
}

// Issue 20, item 4: the first commands after the server closed idle pooled connections
// failed.
#[test]
fn the_pool_replaces_connections_the_server_closed_while_idle() {
    let server = RedisServer::start();
    let client = Client::open(server.url()).unwrap();
    let checked_out: Vec<_> = (0..14).map(|_| client.get_connection().unwrap()).collect();
    drop(checked_out);
    assert_eq!(client.open_connections(), 14);
    let mut admin = support::connect(&server, respec::ProtocolVersion::Resp2);
    let killed = support::kill_other_clients(&mut admin);
    assert_eq!(killed, 14);
    for round in 0..20 {
        let pong: String = cmd("PING").query(&mut client.clone()).unwrap_or_else(|e| {
            panic!("request {round} after the kill failed: {e}");
        });
        assert_eq!(pong, "PONG");
    }
    // The dead ones were dropped, not counted as open.
    assert_eq!(client.open_connections(), 1);
}
