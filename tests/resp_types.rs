//! Every reply type read back from a real server, under RESP2 and RESP3.

mod support;

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use respec::{ProtocolVersion, Value, cmd};
use support::{RedisServer, each_protocol};

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
