//! Every reply type read back from a real server, under RESP2 and RESP3.

mod support;

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use respec::{ConnectionLike, ProtocolVersion, Value, cmd};
use support::{RedisServer, ReplyPath, each_protocol, patterned};

fn bulk(s: &str) -> Value {
    Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
}

fn debug_protocol(con: &mut respec::Connection, kind: &str) -> Value {
    cmd("DEBUG PROTOCOL")
        .arg(kind)
        .query(con)
        .unwrap_or_else(|e| panic!("DEBUG PROTOCOL {kind}: {e}"))
}

#[test]
fn debug_protocol_sends_every_type() {
    let server = RedisServer::start();
    each_protocol(&server, |con, protocol| {
        let resp3 = protocol == ProtocolVersion::Resp3;
        let check = |con: &mut respec::Connection, kind: &str, resp2: Value, resp3_value: Value| {
            let expected = if resp3 { resp3_value } else { resp2 };
            assert_eq!(debug_protocol(con, kind), expected, "DEBUG PROTOCOL {kind}");
        };
        check(con, "string", bulk("Hello World"), bulk("Hello World"));
        check(con, "integer", Value::Int(12345), Value::Int(12345));
        // DEBUG PROTOCOL's double is 3.141, written out, not pi.
        #[allow(clippy::approx_constant)]
        check(con, "double", bulk("3.141"), Value::Double(3.141));
        check(
            con,
            "bignum",
            bulk("1234567999999999999999999999999999999"),
            Value::BigNumber(Bytes::from_static(b"1234567999999999999999999999999999999")),
        );
        check(con, "null", Value::Nil, Value::Nil);
        let ints = || (0..3).map(Value::Int).collect::<Vec<_>>();
        check(con, "array", Value::Array(ints()), Value::Array(ints()));
        check(con, "set", Value::Array(ints()), Value::Set(ints()));
        check(
            con,
            "map",
            Value::Array(vec![
                Value::Int(0),
                Value::Int(0),
                Value::Int(1),
                Value::Int(1),
                Value::Int(2),
                Value::Int(0),
            ]),
            Value::Map(vec![
                (Value::Int(0), Value::Boolean(false)),
                (Value::Int(1), Value::Boolean(true)),
                (Value::Int(2), Value::Boolean(false)),
            ]),
        );
        // The attribute is read and dropped; the reply it annotates is what comes back.
        check(
            con,
            "attrib",
            bulk("Some real reply following the attribute"),
            bulk("Some real reply following the attribute"),
        );
        check(con, "true", Value::Int(1), Value::Boolean(true));
        check(con, "false", Value::Int(0), Value::Boolean(false));
        check(
            con,
            "verbatim",
            bulk("This is a verbatim\nstring"),
            Value::VerbatimString {
                format: *b"txt",
                text: Bytes::from_static(b"This is a verbatim\nstring"),
            },
        );
        if resp3 {
            // The push goes by out of band; the reply after it is what the command gets.
            check(
                con,
                "push",
                Value::Nil,
                bulk("Some real reply following the push reply"),
            );
        } else {
            let err = cmd("DEBUG PROTOCOL")
                .arg("push")
                .query::<Value>(con)
                .unwrap_err();
            assert_eq!(err.code(), Some("ERR"), "{err}");
        }
        // The connection is still in step after all of that.
        assert_eq!(cmd("PING").query::<String>(con).unwrap(), "PONG");
    });
}

#[test]
fn push_replies_are_decoded() {
    let server = RedisServer::start();
    let mut con = support::connect(&server, ProtocolVersion::Resp3);
    let reply: Value = cmd("SUBSCRIBE").arg("news").query(&mut con).unwrap();
    assert_eq!(
        reply,
        Value::Push(vec![bulk("subscribe"), bulk("news"), Value::Int(1)])
    );
}

#[test]
fn ordinary_commands_under_both_protocols() {
    let server = RedisServer::start();
    each_protocol(&server, |con, protocol| {
        let resp3 = protocol == ProtocolVersion::Resp3;
        assert!(
            cmd("SET")
                .key("s")
                .arg("v")
                .query::<Value>(con)
                .unwrap()
                .is_ok()
        );
        assert_eq!(
            cmd("GET").key("s").query::<Option<String>>(con).unwrap(),
            Some("v".into())
        );
        assert_eq!(
            cmd("GET").key("missing").query::<Value>(con).unwrap(),
            Value::Nil
        );
        assert_eq!(cmd("INCRBY").key("n").arg(5).query::<i64>(con).unwrap(), 5);

        cmd("HSET")
            .key("h")
            .arg([("a", "1"), ("b", "2")])
            .exec(con)
            .unwrap();
        let raw: Value = cmd("HGETALL").key("h").query(con).unwrap();
        assert!(
            matches!(
                (&raw, resp3),
                (Value::Map(_), true) | (Value::Array(_), false)
            ),
            "{raw:?}"
        );
        let map: HashMap<String, i64> = cmd("HGETALL").key("h").query(con).unwrap();
        assert_eq!(map, HashMap::from([("a".into(), 1), ("b".into(), 2)]));

        cmd("SADD").key("set").arg(["x", "y"]).exec(con).unwrap();
        let raw: Value = cmd("SMEMBERS").key("set").query(con).unwrap();
        assert!(
            matches!(
                (&raw, resp3),
                (Value::Set(_), true) | (Value::Array(_), false)
            ),
            "{raw:?}"
        );
        let members: BTreeSet<String> = cmd("SMEMBERS").key("set").query(con).unwrap();
        assert_eq!(members, BTreeSet::from(["x".into(), "y".into()]));

        cmd("ZADD")
            .key("z")
            .arg(1.5)
            .arg("m")
            .arg(2.25)
            .arg("n")
            .exec(con)
            .unwrap();
        let raw: Value = cmd("ZSCORE").key("z").arg("m").query(con).unwrap();
        assert!(
            matches!(
                (&raw, resp3),
                (Value::Double(_), true) | (Value::BulkString(_), false)
            ),
            "{raw:?}"
        );
        assert_eq!(
            cmd("ZSCORE").key("z").arg("m").query::<f64>(con).unwrap(),
            1.5
        );
        let ranked: Vec<(String, f64)> = cmd("ZRANGE")
            .key("z")
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(con)
            .unwrap();
        assert_eq!(ranked, [("m".to_owned(), 1.5), ("n".to_owned(), 2.25)]);

        let binary = [0u8, 255, b'\r', b'\n', 7];
        cmd("SET").key("bin").arg(&binary[..]).exec(con).unwrap();
        assert_eq!(cmd("GET").key("bin").query::<Vec<u8>>(con).unwrap(), binary);

        let big = "x".repeat(3 * 1024 * 1024);
        cmd("SET").key("big").arg(&big).exec(con).unwrap();
        assert_eq!(cmd("GET").key("big").query::<String>(con).unwrap(), big);
        // Large commands are written in two parts (a copied head, then the rest from the
        // command itself): values around that split, and several in one command, arrive
        // whole and in order.
        for len in [
            64 * 1024 - 40,
            64 * 1024 - 20,
            64 * 1024,
            64 * 1024 + 1,
            5 << 20,
        ] {
            let value = patterned(len);
            cmd("SET").key("big").arg(&value).exec(con).unwrap();
            assert_eq!(
                cmd("GET").key("big").query::<Vec<u8>>(con).unwrap(),
                value,
                "{len}"
            );
        }
        let values: Vec<Vec<u8>> = (1..=3).map(|n| patterned(n * 100_000 + n)).collect();
        cmd("MSET")
            .key("a")
            .arg(&values[0])
            .key("b")
            .arg(&values[1])
            .key("c")
            .arg(&values[2])
            .exec(con)
            .unwrap();
        let got: Vec<Vec<u8>> = cmd("MGET").key("a").key("b").key("c").query(con).unwrap();
        assert_eq!(got, values);

        let list: Vec<String> = (0..1000).map(|i| format!("item-{i}")).collect();
        cmd("RPUSH").key("list").arg(&list).exec(con).unwrap();
        assert_eq!(
            cmd("LRANGE")
                .key("list")
                .arg(0)
                .arg(-1)
                .query::<Vec<String>>(con)
                .unwrap(),
            list
        );

        assert_eq!(
            cmd("EXISTS").key("s").key("nope").query::<u8>(con).unwrap(),
            1
        );
        assert!(cmd("EXPIRE").key("s").arg(100).query::<bool>(con).unwrap());
    });
}

#[test]
fn replies_of_many_commands_in_one_write() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        use respec::ConnectionLike;
        let cmds = [
            cmd("SET").key("a").arg(1).clone(),
            cmd("LPUSH").key("a").arg(2).clone(),
            cmd("INCR").key("a").clone(),
        ];
        let replies = con.req_commands(&cmds).unwrap();
        assert!(replies[0].is_ok());
        let Value::ServerError(e) = &replies[1] else {
            panic!("expected WRONGTYPE, got {:?}", replies[1]);
        };
        assert_eq!(e.code(), "WRONGTYPE");
        assert_eq!(replies[2], Value::Int(2));
    });
}

/// The reply converted as the command methods convert it, straight from the frame, and
/// converted from the built `Value`: the two must agree.
fn typed<T: respec::FromRedisValue + PartialEq + std::fmt::Debug>(
    con: &mut respec::Connection,
    command: &respec::Cmd,
) -> respec::Result<T> {
    let direct = command.query::<T>(con);
    let via_value = command
        .query::<Value>(con)
        .and_then(respec::from_redis_value::<T>);
    support::assert_same_conversion(command, &direct, &via_value);
    direct
}

#[test]
fn typed_replies_are_read_straight_from_the_frame() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        let items: Vec<String> = (0..1000).map(|i| format!("{i:032}")).collect();
        cmd("RPUSH").key("list").arg(&items).exec(con).unwrap();
        let lrange = cmd("LRANGE").key("list").arg(0).arg(-1).clone();
        assert_eq!(typed::<Vec<String>>(con, &lrange).unwrap(), items);
        assert_eq!(typed::<Vec<Vec<u8>>>(con, &lrange).unwrap().len(), 1000);
        assert_eq!(
            typed::<Option<Vec<Bytes>>>(con, &lrange)
                .unwrap()
                .unwrap()
                .len(),
            1000
        );

        let fields: Vec<(String, String)> = (0..100)
            .map(|i| (format!("f{i}"), format!("v{i}")))
            .collect();
        cmd("HSET").key("hash").arg(&fields).exec(con).unwrap();
        let hgetall = cmd("HGETALL").key("hash").clone();
        let map: HashMap<String, String> = typed(con, &hgetall).unwrap();
        assert_eq!(map, fields.iter().cloned().collect());

        cmd("ZADD")
            .key("z")
            .arg([(1.5, "a"), (2.0, "b")])
            .exec(con)
            .unwrap();
        let zrange = cmd("ZRANGE")
            .key("z")
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .clone();
        assert_eq!(
            typed::<Vec<(String, f64)>>(con, &zrange).unwrap(),
            vec![("a".to_owned(), 1.5), ("b".to_owned(), 2.0)]
        );
        let get_missing = cmd("GET").key("missing").clone();
        assert_eq!(typed::<Option<String>>(con, &get_missing).unwrap(), None);
        cmd("SET").key("n").arg(41).exec(con).unwrap();
        assert_eq!(typed::<i64>(con, &cmd("GET").key("n").clone()).unwrap(), 41);
        assert_eq!(
            typed::<u8>(con, &cmd("STRLEN").key("n").clone()).unwrap(),
            2
        );

        // A conversion failure is the caller's: the connection reads on.
        cmd("RPUSH").key("raw").arg(&b"\xff"[..]).exec(con).unwrap();
        let raw = cmd("LRANGE").key("raw").arg(0).arg(-1).clone();
        let e = typed::<Vec<String>>(con, &raw).unwrap_err();
        assert_eq!(e.kind(), respec::ErrorKind::Conversion, "{e}");
        assert!(e.to_string().contains("invalid UTF-8"), "{e}");
        // A server error stays a server error.
        let e = typed::<Vec<String>>(con, &cmd("LRANGE").key("hash").arg(0).arg(-1).clone())
            .unwrap_err();
        assert_eq!(e.code(), Some("WRONGTYPE"), "{e}");
        assert!(con.is_open());
        assert_eq!(typed::<String>(con, &cmd("PING").clone()).unwrap(), "PONG");
    });
}

#[test]
fn pushes_between_replies_are_skipped_by_typed_reads() {
    let server = RedisServer::start();
    let mut con = support::connect(&server, ProtocolVersion::Resp3);
    let mut other = support::connect(&server, ProtocolVersion::Resp3);
    cmd("CLIENT TRACKING").arg("ON").exec(&mut con).unwrap();
    cmd("RPUSH")
        .key("list")
        .arg(["a", "b"])
        .exec(&mut con)
        .unwrap();
    for round in 0..3 {
        // Reading the key makes the server track it; writing it from elsewhere sends this
        // connection an invalidation push, which lands ahead of the next reply.
        let _: Vec<String> = cmd("LRANGE")
            .key("list")
            .arg(0)
            .arg(-1)
            .query(&mut con)
            .unwrap();
        cmd("RPUSH")
            .key("list")
            .arg(round)
            .exec(&mut other)
            .unwrap();
        let items: Vec<String> = cmd("LRANGE")
            .key("list")
            .arg(0)
            .arg(-1)
            .query(&mut con)
            .unwrap();
        assert_eq!(items.len(), 3 + round);
        let len: i64 = cmd("LLEN").key("list").query(&mut con).unwrap();
        assert_eq!(len, 3 + round as i64);
    }
}

#[test]
fn every_sync_backend_hands_typed_replies_over_as_frames() {
    // Conversions read a reply straight from its decoded frame on a connection and on
    // everything wrapping one, rather than from a `Value` built first.
    let server = RedisServer::start();
    for protocol in support::PROTOCOLS {
        let mut client = respec::Client::open(support::info(&server, protocol)).unwrap();
        let mut direct = support::connect(&server, protocol);
        let mut pooled = client.get_connection().unwrap();
        cmd("RPUSH")
            .key("list")
            .arg(["a", "b"])
            .exec(&mut direct)
            .unwrap();
        for command in [
            cmd("PING"),
            cmd("LRANGE").key("list").arg(0).arg(-1).clone(),
        ] {
            for (name, path) in [
                ("connection", command.query::<ReplyPath>(&mut direct)),
                ("pooled", command.query(&mut pooled)),
                ("client", command.query(&mut client)),
            ] {
                assert_eq!(path.unwrap(), ReplyPath::Frame, "{name}: {command:?}");
            }
        }
        cmd("DEL").key("list").exec(&mut direct).unwrap();
    }
}
