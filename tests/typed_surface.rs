//! The generated surfaces in use: what must compile with no annotations, options, the
//! pipeline, the async twins, and the command table that hand-built commands find.

mod support;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use respec::commands::{self as c, SetOptions, ZrangeOptions};
use respec::{
    AsyncCommands, AsyncConnectionLike, Cmd, Commands, Connection, ConnectionLike, ProtocolVersion,
    Value, cmd,
};

#[test]
// The issue's own spelling (`&["a", "b"]`) is kept on purpose.
#[allow(clippy::needless_borrows_for_generic_args)]
fn fixed_replies_need_no_annotations() -> respec::Result<()> {
    let server = support::RedisServer::start();
    let mut con = support::connect(&server, ProtocolVersion::Resp3);
    con.set("k", "v")?;
    let n = con.incr("n")?;
    let added = con.sadd("s", &["a", "b"])?;
    let v: Option<String> = con.get("k")?;
    // The types were fixed by the methods, not by these comparisons.
    let (n, added): (i64, i64) = (n, added);
    assert_eq!((n, added, v.as_deref()), (1, 2, Some("v")));
    let old: Option<String> = con.set_options("k", "w", SetOptions::default().nx().ex(10))?;
    assert_eq!(
        old, None,
        "NX on an existing key sets nothing and answers nil"
    );
    let old: Option<String> = con.set_options("k", "w", SetOptions::default().get().ex(10))?;
    assert_eq!(old.as_deref(), Some("v"));
    Ok(())
}

#[test]
fn pipelines_chain_every_command() {
    let server = support::RedisServer::start();
    support::each_protocol(&server, |con, _| {
        let (set, n, missing, added, top): ((), i64, Option<String>, i64, Vec<(String, f64)>) =
            respec::pipe()
                .set("k", "v")
                .incr("n")
                .get("nope")
                .zadd("z", [(1.0, "a"), (2.0, "b")])
                .zrange_options("z", 0, 0, ZrangeOptions::default().rev().withscores())
                .query(con)
                .unwrap();
        assert_eq!((set, n, missing, added), ((), 1, None, 2));
        assert_eq!(top, [("b".to_owned(), 2.0)]);
    });
}

#[test]
fn pipeline_methods_queue_what_the_constructors_build() {
    let eval = || c::EvalOptions::default().key("k1").key("k2").arg("a");
    let mut p = respec::pipe();
    p.set("k", "v")
        .set_options("k", "v", SetOptions::default().get().ex(10))
        .mset([("a", "1"), ("b", "2")])
        .eval_options("return 1", eval())
        .zadd("z", [(1.0, "a"), (2.0, "b")])
        .client_list()
        .acl_help()
        .ignore()
        .add_command(respec::cmd("OBJECT ENCODING").key("k").clone());
    let built = [
        c::set("k", "v"),
        c::set_options("k", "v", SetOptions::default().get().ex(10)),
        c::mset([("a", "1"), ("b", "2")]),
        c::eval_options("return 1", eval()),
        c::zadd("z", [(1.0, "a"), (2.0, "b")]),
        c::client_list(),
        c::acl_help(),
        respec::cmd("OBJECT ENCODING").key("k").clone(),
    ];
    // Arguments, counts and key marks alike.
    assert_eq!(p.cmds().collect::<Vec<_>>(), built);
    let mut wire = Vec::new();
    p.write_packed(&mut wire);
    assert_eq!(wire, built.iter().flat_map(Cmd::packed).collect::<Vec<_>>());
    assert_eq!(p.len(), built.len());
}

/// A key whose encoding panics once it has written part of itself.
struct Exploding;

impl respec::ToRedisArgs for Exploding {
    fn write_redis_args<W: respec::RedisWrite + ?Sized>(&self, out: &mut W) {
        out.write_arg(b"half");
        panic!("this key cannot be encoded");
    }
}

#[test]
fn a_command_that_panics_while_queued_leaves_nothing_behind() {
    let mut p = respec::pipe();
    p.get("before");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        p.set("key", Exploding);
    }));
    assert!(caught.is_err());
    // Neither its arguments nor its key mark reach the next command, nor the wire.
    p.dbsize();
    let built = [c::get("before"), c::dbsize()];
    assert_eq!(p.cmds().collect::<Vec<_>>(), built);
    assert_eq!(p.len(), 2);
    let mut wire = Vec::new();
    p.write_packed(&mut wire);
    assert_eq!(wire, built.iter().flat_map(Cmd::packed).collect::<Vec<_>>());
}

#[test]
fn pipelines_queue_commands_of_any_length_whole() {
    let server = support::RedisServer::start();
    let mut con = support::connect(&server, ProtocolVersion::Resp3);
    // Array headers of one to five digits, on both sides of every width's edge.
    let counts = [
        0, 1, 7, 8, 9, 10, 11, 98, 99, 100, 997, 998, 9_998, 9_999, 10_000,
    ];
    let mut p = respec::pipe();
    let mut built = Vec::new();
    for n in counts {
        // RPUSH, a key and `n` items: `n + 2` arguments.
        let items: Vec<String> = (0..n).map(|i| format!("item-{i}")).collect();
        let key = format!("list:{n}");
        if n == 0 {
            p.llen(&key);
            built.push(c::llen(&key));
        } else {
            p.rpush(&key, &items);
            built.push(c::rpush(&key, &items));
        }
        // A command added by reference, as one kept to be sent again would be.
        let last = c::lindex(&key, -1);
        p.add_command(&last);
        built.push(last);
    }
    assert_eq!(p.cmds().collect::<Vec<_>>(), built);
    let mut wire = Vec::new();
    p.write_packed(&mut wire);
    assert_eq!(wire, built.iter().flat_map(Cmd::packed).collect::<Vec<_>>());

    // The same commands wrapped in a transaction, which copies them behind MULTI.
    for atomic in [false, true] {
        let mut p = p.clone();
        if atomic {
            con.flushdb().unwrap();
            p.atomic();
        }
        let replies: Vec<Value> = p.query(&mut con).unwrap();
        assert_eq!(replies.len(), counts.len() * 2, "atomic: {atomic}");
        for (n, pair) in counts.iter().zip(replies.chunks(2)) {
            let last = (*n > 0).then(|| Value::BulkString(format!("item-{}", n - 1).into()));
            assert_eq!(
                pair[0],
                Value::Int(i64::from(*n)),
                "{n} items, atomic: {atomic}"
            );
            assert_eq!(
                pair[1],
                last.unwrap_or(Value::Nil),
                "{n} items, atomic: {atomic}"
            );
        }
    }
}

/// An async connection that does its IO on the spot: enough to drive the generated
/// futures against a real server without a runtime.
struct Blocking(Connection);

impl AsyncConnectionLike for Blocking {
    fn req_command<T: respec::FromRedisValue>(
        &mut self,
        cmd: &Cmd,
    ) -> impl Future<Output = respec::Result<T>> + Send {
        // The future holds the reply as a `Value`, which is `Send` whatever `T` is.
        let reply = self.0.req_command::<Value>(cmd);
        async move { T::from_redis_value(reply?) }
    }

    fn req_batch(
        &mut self,
        batch: &respec::Batch,
    ) -> impl Future<Output = respec::Result<Vec<Value>>> + Send {
        std::future::ready(self.0.req_batch(batch))
    }

    fn db(&self) -> i64 {
        self.0.db()
    }

    fn protocol(&self) -> ProtocolVersion {
        self.0.protocol()
    }

    fn is_open(&self) -> bool {
        self.0.is_open()
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[test]
fn async_twins_send_and_convert() -> respec::Result<()> {
    let server = support::RedisServer::start();
    let mut con = Blocking(support::connect(&server, ProtocolVersion::Resp2));
    block_on(assert_send(con.set("k", "v")))?;
    let n = block_on(assert_send(con.incrby("n", 5)))?;
    assert_eq!(n, 5);
    let v: Option<String> = block_on(con.get("k"))?;
    assert_eq!(v.as_deref(), Some("v"));
    let ttl = block_on(con.ttl("k"))?;
    assert_eq!(ttl, -1);
    let values: Vec<Option<String>> = block_on(con.mget(["k", "nope"]))?;
    assert_eq!(values, [Some("v".to_owned()), None]);
    Ok(())
}

#[test]
fn hand_built_commands_find_their_table_entry() {
    let info = c::lookup_cmd(&cmd("client kill")).expect("CLIENT KILL is in the table");
    assert_eq!(info.name, "CLIENT KILL");
    assert!(c::lookup_cmd(&cmd("BLPOP")).unwrap().is_blocking());
    assert!(c::lookup_cmd(&cmd("get")).unwrap().is_readonly());
    let mget = c::lookup(b"MGET", None).unwrap();
    assert_eq!(mget.request_policy, Some(c::RequestPolicy::MultiShard));
    let dbsize = c::lookup(b"dbsize", None).unwrap();
    assert_eq!(dbsize.response_policy, Some(c::ResponsePolicy::AggSum));
    assert!(c::lookup(b"NOSUCH", None).is_none());
    // An unknown subcommand falls back to its container; a plain command ignores it.
    assert_eq!(
        c::lookup(b"CLIENT", Some(b"NOSUCH")).unwrap().name,
        "CLIENT"
    );
    assert_eq!(c::lookup(b"GET", Some(b"key")).unwrap().name, "GET");
    assert!(c::all().len() > 390);
}
