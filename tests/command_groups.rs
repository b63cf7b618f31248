//! Every command of the data, scripting, transaction, connection and pub/sub groups,
//! called through its generated typed method (options included) against a real server,
//! under RESP2 and RESP3, and checked against the server's answer.
//!
//! A recording connection notes each command sent; the last step asserts that every
//! command of those groups that the server knows was called, so a command cannot be
//! forgotten here. Commands newer than the server are listed as skipped, by version.

// Deprecated commands (GETSET, SETNX, GEORADIUS...) are exercised on purpose.
#![allow(deprecated)]

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use respec::commands as c;
use respec::{Cmd, Commands, Connection, ConnectionLike, ErrorKind, ProtocolVersion, Value, cmd};
use support::RedisServer;

type R = respec::Result<()>;
type Group = fn(&mut Recorder<'_>, &Ctx) -> R;

/// A connection that records the name of every command sent through it.
struct Recorder<'a> {
    con: &'a mut Connection,
    seen: &'a mut BTreeSet<String>,
}

impl Recorder<'_> {
    fn note(&mut self, cmd: &Cmd) {
        if let Some(info) = c::lookup_cmd(cmd) {
            self.seen.insert(info.name.to_owned());
        }
    }
}

impl ConnectionLike for Recorder<'_> {
    fn req_command<T: respec::FromRedisValue>(&mut self, cmd: &Cmd) -> respec::Result<T> {
        self.note(cmd);
        self.con.req_command(cmd)
    }

    fn req_batch(&mut self, batch: &respec::Batch) -> respec::Result<Vec<Value>> {
        for cmd in batch.cmds() {
            self.note(&cmd);
        }
        self.con.req_batch(batch)
    }

    fn db(&self) -> i64 {
        self.con.db()
    }

    fn protocol(&self) -> ProtocolVersion {
        self.con.protocol()
    }

    fn is_open(&self) -> bool {
        self.con.is_open()
    }
}

const GROUPS: [&str; 14] = [
    "string",
    "list",
    "set",
    "sorted_set",
    "hash",
    "stream",
    "geo",
    "hyperloglog",
    "bitmap",
    "generic",
    "scripting",
    "transactions",
    "connection",
    "pubsub",
];

/// Commands of the groups above that have a typed method, from commands.json.
fn typed_commands_in_groups() -> BTreeSet<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/commands.json"))
        .expect("commands.json is readable");
    let spec: serde_json::Value = serde_json::from_str(&text).expect("commands.json parses");
    spec["commands"]
        .as_object()
        .expect("a commands object")
        .iter()
        .filter(|(_, c)| {
            c["respec"]["surface"] == "commands"
                && GROUPS.contains(&c["group"].as_str().unwrap_or(""))
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Every command the server knows, as `GET` and `CLIENT KILL`.
fn server_commands(con: &mut Connection) -> BTreeSet<String> {
    let names: Vec<String> = cmd("COMMAND LIST").query(con).unwrap();
    names
        .iter()
        .map(|name| name.to_ascii_uppercase().replace('|', " "))
        .collect()
}

#[test]
fn every_command_of_the_groups_through_its_typed_method() {
    let server = RedisServer::start();
    let second = RedisServer::start();
    let on_server = server_commands(&mut support::connect(&server, ProtocolVersion::Resp2));
    let mut seen = BTreeSet::new();
    for protocol in support::PROTOCOLS {
        let mut con = support::connect(&server, protocol);
        cmd("FLUSHALL").exec(&mut con).unwrap();
        cmd("FUNCTION FLUSH").exec(&mut con).unwrap();
        eprintln!("-- under {protocol:?}");
        let rec = &mut Recorder {
            con: &mut con,
            seen: &mut seen,
        };
        let groups: [(&str, Group); 14] = [
            ("string", strings),
            ("list", lists),
            ("set", sets),
            ("sorted_set", sorted_sets),
            ("hash", hashes),
            ("stream", streams),
            ("geo", geo),
            ("hyperloglog", hyperloglog),
            ("bitmap", bitmaps),
            ("generic", generic),
            ("scripting", scripting),
            ("transactions", transactions),
            ("connection", connection),
            ("pubsub", pubsub),
        ];
        let ctx = Ctx {
            server: &server,
            second: &second,
            protocol,
            on_server: &on_server,
        };
        for (name, group) in groups {
            cmd("FLUSHALL").exec(rec).unwrap();
            if let Err(e) = group(rec, &ctx) {
                panic!("group {name} under {protocol:?}: {e:?}");
            }
        }
    }

    let mut con = support::connect(&server, ProtocolVersion::Resp2);
    let expected = typed_commands_in_groups();
    let skipped: Vec<&String> = expected.difference(&on_server).collect();
    eprintln!(
        "skipped, newer than the server {:?}: {skipped:?}",
        support::server_version(&mut con)
    );
    let missing: Vec<&String> = expected
        .intersection(&on_server)
        .filter(|name| !seen.contains(*name))
        .collect();
    assert!(missing.is_empty(), "commands never called: {missing:?}");
    eprintln!(
        "called {} commands of the {} groups",
        expected.intersection(&on_server).count(),
        GROUPS.len()
    );
}

struct Ctx<'a> {
    server: &'a RedisServer,
    second: &'a RedisServer,
    protocol: ProtocolVersion,
    /// What `COMMAND LIST` names: commands newer than the server are not called.
    on_server: &'a BTreeSet<String>,
}

impl Ctx<'_> {
    fn other(&self) -> Connection {
        support::connect(self.server, self.protocol)
    }

    /// `true` when the server knows `command` (`"CLIENT NO-TOUCH"`).
    fn has(&self, command: &str) -> bool {
        self.on_server.contains(command)
    }
}

fn strings(con: &mut Recorder<'_>, ctx: &Ctx) -> R {
    con.set("s", "hello")?;
    assert_eq!(con.append("s", " world")?, 11);
    assert_eq!(con.strlen("s")?, 11);
    assert_eq!(con.getrange::<String>("s", 0, 4)?, "hello");
    assert_eq!(con.substr::<String>("s", 6, -1)?, "world");
    assert_eq!(con.setrange("s", 6, "there")?, 11);
    assert_eq!(con.get::<String>("s")?, "hello there");
    assert_eq!(con.getset::<String>("s", "new")?, "hello there");
    assert_eq!(con.getdel::<Option<String>>("s")?, Some("new".into()));
    assert_eq!(con.get::<Option<String>>("s")?, None);

    assert_eq!(con.incr("n")?, 1);
    assert_eq!(con.incrby("n", 9)?, 10);
    assert_eq!(con.decr("n")?, 9);
    assert_eq!(con.decrby("n", 4)?, 5);
    assert!((con.incrbyfloat("f", 0.5)? - 0.5).abs() < f64::EPSILON);

    // SET with every option.
    let set: Option<String> = con.set_options("k", "v1", c::SetOptions::default().nx().get())?;
    assert_eq!(set, None);
    let set: Value = con.set_options("k", "v2", c::SetOptions::default().nx())?;
    assert_eq!(set, Value::Nil, "NX on an existing key does nothing");
    let old: Option<String> =
        con.set_options("k", "v2", c::SetOptions::default().xx().get().ex(100))?;
    assert_eq!(old.as_deref(), Some("v1"));
    assert!((1..=100).contains(&con.ttl("k")?));
    let _: Value = con.set_options("k", "v3", c::SetOptions::default().keepttl())?;
    assert!(con.ttl("k")? > 0);
    let _: Value = con.set_options("k", "v4", c::SetOptions::default().px(50_000))?;
    assert!(con.pttl("k")? > 1000);
    let at = 4_000_000_000i64;
    let _: Value = con.set_options("k", "v5", c::SetOptions::default().exat(at))?;
    assert_eq!(con.expiretime("k")?, at);
    let _: Value = con.set_options("k", "v6", c::SetOptions::default().pxat(at * 1000))?;
    assert_eq!(con.pexpiretime("k")?, at * 1000);

    assert!(con.setnx("nx", "1")?);
    assert!(!con.setnx("nx", "2")?);
    con.setex("ex", 100, "v")?;
    assert!(con.ttl("ex")? > 0);
    con.psetex("pex", 100_000, "v")?;
    assert!(con.pttl("pex")? > 0);

    con.mset([("m1", "a"), ("m2", "b")])?;
    assert_eq!(
        con.mget::<Vec<Option<String>>>(["m1", "m2", "m3"])?,
        [Some("a".into()), Some("b".into()), None]
    );
    assert!(!con.msetnx([("m1", "x"), ("m9", "y")])?);
    assert!(con.msetnx([("m8", "x"), ("m9", "y")])?);

    con.set("g", "v")?;
    assert_eq!(
        con.getex_options::<String>("g", c::GetexOptions::default().ex(100))?,
        "v"
    );
    assert!(con.ttl("g")? > 0);
    assert_eq!(
        con.getex_options::<String>("g", c::GetexOptions::default().persist())?,
        "v"
    );
    assert_eq!(con.ttl("g")?, -1);
    assert_eq!(con.getex::<String>("g")?, "v");

    con.set("l1", "ohmytext")?;
    con.set("l2", "mynewtext")?;
    assert_eq!(con.lcs::<String>("l1", "l2")?, "mytext");
    assert_eq!(
        con.lcs_options::<i64>("l1", "l2", c::LcsOptions::default().len())?,
        6
    );
    let idx: Value = con.lcs_options(
        "l1",
        "l2",
        c::LcsOptions::default().idx().minmatchlen(4).withmatchlen(),
    )?;
    let idx: HashMap<String, Value> = respec::from_redis_value(idx)?;
    assert_eq!(respec::from_redis_value::<i64>(idx["len"].clone())?, 6);

    // Conditional writes (Valkey 8.1 and 9).
    if ctx.has("DELIFEQ") {
        con.set("d", "mine")?;
        assert!(!con.delifeq("d", "theirs")?);
        assert!(con.delifeq("d", "mine")?);
        con.set("d", "a")?;
        let swapped: Value = con.set_options(
            "d",
            "b",
            c::SetOptions::default().condition(c::SetCondition::ifeq("a")),
        )?;
        assert!(swapped.is_ok(), "{swapped:?}");
        let refused: Value = con.set_options(
            "d",
            "c",
            c::SetOptions::default().condition(c::SetCondition::ifeq("a")),
        )?;
        assert_eq!(refused, Value::Nil);
        assert_eq!(con.get::<String>("d")?, "b");
        // The number of keys is counted from the pairs.
        assert!(con.msetex([("m1", "1"), ("m2", "2")])?);
        assert!(!con.msetex_options([("m1", "x")], c::MsetexOptions::default().nx())?);
        assert!(con.msetex_options([("m3", "3")], c::MsetexOptions::default().nx().ex(100))?);
        assert!(con.ttl("m3")? > 90);
        assert_eq!(
            con.mget::<Vec<String>>(["m1", "m2", "m3"])?,
            ["1", "2", "3"]
        );
    }
    Ok(())
}

fn lists(con: &mut Recorder<'_>, _: &Ctx) -> R {
    assert_eq!(con.rpush("l", ["a", "b", "c"])?, 3);
    assert_eq!(con.lpush("l", "z")?, 4);
    assert_eq!(con.lpushx("missing", "x")?, 0);
    assert_eq!(con.rpushx("l", "d")?, 5);
    assert_eq!(con.llen("l")?, 5);
    assert_eq!(
        con.lrange::<Vec<String>>("l", 0, -1)?,
        ["z", "a", "b", "c", "d"]
    );
    assert_eq!(con.lindex::<String>("l", 1)?, "a");
    assert_eq!(con.linsert("l", c::LinsertWhere::Before, "b", "a")?, 6);
    con.lset("l", 0, "a")?;
    assert_eq!(con.lpos("l", "a")?, Some(0));
    assert_eq!(con.lpos("l", "nope")?, None);
    let second: Option<i64> = con.lpos_options("l", "a", c::LposOptions::default().rank(2))?;
    assert_eq!(second, Some(1));
    let all: Vec<i64> =
        con.lpos_options("l", "a", c::LposOptions::default().count(0).maxlen(10))?;
    assert_eq!(all, [0, 1, 2]);
    assert_eq!(con.lrem("l", 2, "a")?, 2);
    con.ltrim("l", 0, 2)?;
    assert_eq!(con.lrange::<Vec<String>>("l", 0, -1)?, ["a", "b", "c"]);
    assert_eq!(con.lpop::<String>("l")?, "a");
    assert_eq!(con.rpop::<String>("l")?, "c");
    con.rpush("l", ["x", "y", "z"])?;
    assert_eq!(
        con.lpop_options::<Vec<String>>("l", c::LpopOptions::default().count(2))?,
        ["b", "x"]
    );
    assert_eq!(
        con.rpop_options::<Vec<String>>("l", c::RpopOptions::default().count(1))?,
        ["z"]
    );
    assert_eq!(con.rpoplpush::<String>("l", "l2")?, "y");
    con.rpush("l", ["p", "q"])?;
    assert_eq!(
        con.lmove::<String>("l", "l2", c::LmoveWherefrom::Left, c::LmoveWhereto::Right)?,
        "p"
    );
    assert_eq!(
        con.blmove::<String>(
            "l",
            "l2",
            c::BlmoveWherefrom::Right,
            c::BlmoveWhereto::Left,
            0.1
        )?,
        "q"
    );
    assert_eq!(con.brpoplpush::<Option<String>>("l", "l2", 0.1)?, None);
    assert_eq!(con.lrange::<Vec<String>>("l2", 0, -1)?, ["q", "y", "p"]);
    assert_eq!(
        con.blpop::<(String, String)>("l2", 0.1)?,
        ("l2".into(), "q".into())
    );
    assert_eq!(
        con.brpop::<(String, String)>(["empty", "l2"], 0.1)?,
        ("l2".into(), "p".into())
    );
    assert_eq!(con.blpop::<Option<(String, String)>>("empty", 0.1)?, None);
    con.rpush("m", ["1", "2", "3"])?;
    let (key, items): (String, Vec<String>) = con.lmpop_options(
        ["empty", "m"],
        c::LmpopWhere::Left,
        c::LmpopOptions::default().count(2),
    )?;
    assert_eq!(
        (key.as_str(), items),
        ("m", vec!["1".to_owned(), "2".to_owned()])
    );
    let (_, items): (String, Vec<String>) = con.lmpop("m", c::LmpopWhere::Right)?;
    assert_eq!(items, ["3"]);
    con.rpush("m", "4")?;
    let (_, items): (String, Vec<String>) = con.blmpop_options(
        0.1,
        "m",
        c::BlmpopWhere::Left,
        c::BlmpopOptions::default().count(5),
    )?;
    assert_eq!(items, ["4"]);
    assert_eq!(
        con.blmpop::<Value>(0.1, "m", c::BlmpopWhere::Left)?,
        Value::Nil
    );
    Ok(())
}

fn sets(con: &mut Recorder<'_>, _: &Ctx) -> R {
    assert_eq!(con.sadd("a", ["1", "2", "3"])?, 3);
    assert_eq!(con.sadd("b", ["2", "3", "4"])?, 3);
    assert_eq!(con.scard("a")?, 3);
    assert!(con.sismember("a", "1")?);
    assert_eq!(con.smismember::<Vec<bool>>("a", ["1", "9"])?, [true, false]);
    assert_eq!(
        con.smembers::<BTreeSet<String>>("a")?,
        BTreeSet::from(["1".into(), "2".into(), "3".into()])
    );
    assert_eq!(
        con.sinter::<BTreeSet<u8>>(["a", "b"])?,
        BTreeSet::from([2, 3])
    );
    assert_eq!(
        con.sunion::<BTreeSet<u8>>(["a", "b"])?,
        BTreeSet::from([1, 2, 3, 4])
    );
    assert_eq!(con.sdiff::<BTreeSet<u8>>(["a", "b"])?, BTreeSet::from([1]));
    assert_eq!(con.sinterstore("i", ["a", "b"])?, 2);
    assert_eq!(con.sunionstore("u", ["a", "b"])?, 4);
    assert_eq!(con.sdiffstore("d", ["a", "b"])?, 1);
    assert_eq!(con.sintercard(["a", "b"])?, 2);
    assert_eq!(
        con.sintercard_options(["a", "b"], c::SintercardOptions::default().limit(1))?,
        1
    );
    assert!(con.smove("a", "b", "1")?);
    assert_eq!(con.srem("b", ["1", "2"])?, 2);
    let member: String = con.srandmember("b")?;
    assert!(["3", "4"].contains(&member.as_str()));
    let members: Vec<String> =
        con.srandmember_options("b", c::SrandmemberOptions::default().count(-3))?;
    assert_eq!(members.len(), 3);
    let popped: String = con.spop("u")?;
    let rest: HashSet<String> = con.spop_options("u", c::SpopOptions::default().count(10))?;
    assert_eq!(rest.len(), 3);
    assert!(!rest.contains(&popped));
    con.sadd("big", (0..50).map(|i| format!("m{i}")).collect::<Vec<_>>())?;
    let (cursor, page): (String, Vec<String>) = con.sscan_options(
        "big",
        0,
        c::SscanOptions::default().pattern("m1*").count(100),
    )?;
    assert_eq!(cursor, "0");
    assert_eq!(page.len(), 11);
    let (_, all): (String, Vec<String>) = con.sscan("big", 0)?;
    assert!(!all.is_empty());
    Ok(())
}

fn sorted_sets(con: &mut Recorder<'_>, ctx: &Ctx) -> R {
    assert_eq!(con.zadd("z", [(1.0, "a"), (2.0, "b"), (3.0, "c")])?, 3);
    // ZADD with every option.
    let changed: i64 =
        con.zadd_options("z", (5.0, "a"), c::ZaddOptions::default().xx().gt().ch())?;
    assert_eq!(changed, 1);
    let ignored: i64 =
        con.zadd_options("z", (1.0, "a"), c::ZaddOptions::default().xx().gt().ch())?;
    assert_eq!(ignored, 0, "GT keeps the higher score");
    let new_score: f64 = con.zadd_options("z", (1.5, "b"), c::ZaddOptions::default().incr())?;
    assert!((new_score - 3.5).abs() < 1e-9);
    let aborted: Option<f64> =
        con.zadd_options("z", (1.0, "b"), c::ZaddOptions::default().nx().incr())?;
    assert_eq!(aborted, None);
    let lower: i64 = con.zadd_options(
        "z",
        [(0.5, "c"), (9.0, "d")],
        c::ZaddOptions::default().lt().ch(),
    )?;
    assert_eq!(lower, 2);
    // z: c 0.5, b 3.5, a 5, d 9
    assert_eq!(con.zcard("z")?, 4);
    assert_eq!(con.zscore("z", "a")?, Some(5.0));
    assert_eq!(con.zscore("z", "nope")?, None);
    assert_eq!(
        con.zmscore::<Vec<Option<f64>>>("z", ["a", "x"])?,
        [Some(5.0), None]
    );
    assert_eq!(con.zrank("z", "a")?, Some(2));
    assert_eq!(con.zrevrank("z", "a")?, Some(1));
    assert_eq!(con.zcount("z", "(0.5", "+inf")?, 3);
    assert!((con.zincrby("z", 0.5, "c")? - 1.0).abs() < 1e-9);
    // ZRANGE with BYSCORE, REV, LIMIT and WITHSCORES.
    assert_eq!(con.zrange::<Vec<String>>("z", 0, -1)?, ["c", "b", "a", "d"]);
    let top: Vec<(String, f64)> = con.zrange_options(
        "z",
        "+inf",
        "(1",
        c::ZrangeOptions::default()
            .byscore()
            .rev()
            .limit(0, 2)
            .withscores(),
    )?;
    assert_eq!(top, [("d".to_owned(), 9.0), ("a".to_owned(), 5.0)]);
    assert_eq!(con.zrevrange::<Vec<String>>("z", 0, 0)?, ["d"]);
    let with: Vec<(String, f64)> =
        con.zrevrange_options("z", 0, 0, c::ZrevrangeOptions::default().withscores())?;
    assert_eq!(with, [("d".to_owned(), 9.0)]);
    assert_eq!(
        con.zrangebyscore::<Vec<String>>("z", "-inf", "(5")?,
        ["c", "b"]
    );
    let page: Vec<(String, f64)> = con.zrangebyscore_options(
        "z",
        1,
        10,
        c::ZrangebyscoreOptions::default().withscores().limit(1, 1),
    )?;
    assert_eq!(page, [("b".to_owned(), 3.5)]);
    assert_eq!(
        con.zrevrangebyscore::<Vec<String>>("z", "+inf", 5)?,
        ["d", "a"]
    );
    let page: Vec<String> = con.zrevrangebyscore_options(
        "z",
        "+inf",
        "-inf",
        c::ZrevrangebyscoreOptions::default().limit(0, 1),
    )?;
    assert_eq!(page, ["d"]);
    assert_eq!(con.zrangestore("zs", "z", 0, 1)?, 2);
    assert_eq!(
        con.zrangestore_options(
            "zs",
            "z",
            "(1",
            "+inf",
            c::ZrangestoreOptions::default().byscore().limit(0, 1)
        )?,
        1
    );

    con.zadd("lex", [(0.0, "a"), (0.0, "b"), (0.0, "c"), (0.0, "d")])?;
    assert_eq!(con.zlexcount("lex", "[b", "+")?, 3);
    assert_eq!(
        con.zrangebylex::<Vec<String>>("lex", "-", "(c")?,
        ["a", "b"]
    );
    assert_eq!(
        con.zrangebylex_options::<Vec<String>>(
            "lex",
            "-",
            "+",
            c::ZrangebylexOptions::default().limit(1, 2)
        )?,
        ["b", "c"]
    );
    assert_eq!(
        con.zrevrangebylex::<Vec<String>>("lex", "+", "[c")?,
        ["d", "c"]
    );
    assert_eq!(
        con.zrevrangebylex_options::<Vec<String>>(
            "lex",
            "+",
            "-",
            c::ZrevrangebylexOptions::default().limit(0, 1)
        )?,
        ["d"]
    );
    assert_eq!(con.zremrangebylex("lex", "[a", "[b")?, 2);
    assert_eq!(con.zremrangebyrank("lex", 0, 0)?, 1);
    assert_eq!(con.zremrangebyscore("z", "-inf", "(1.5")?, 1);
    assert_eq!(con.zrem("z", ["b", "nope"])?, 1);

    // Set algebra, with WEIGHTS and AGGREGATE.
    con.zadd("x", [(1.0, "m"), (2.0, "n")])?;
    con.zadd("y", [(10.0, "n"), (20.0, "o")])?;
    assert_eq!(con.zunion::<Vec<String>>(["x", "y"])?, ["m", "n", "o"]);
    let weighted: Vec<(String, f64)> = con.zunion_options(
        ["x", "y"],
        c::ZunionOptions::default()
            .weights(2)
            .weights(1)
            .max()
            .withscores(),
    )?;
    assert_eq!(
        weighted,
        [
            ("m".to_owned(), 2.0),
            ("n".to_owned(), 10.0),
            ("o".to_owned(), 20.0)
        ]
    );
    assert_eq!(con.zinter::<Vec<String>>(["x", "y"])?, ["n"]);
    let summed: Vec<(String, f64)> =
        con.zinter_options(["x", "y"], c::ZinterOptions::default().sum().withscores())?;
    assert_eq!(summed, [("n".to_owned(), 12.0)]);
    assert_eq!(con.zdiff::<Vec<String>>(["x", "y"])?, ["m"]);
    let diff: Vec<(String, f64)> =
        con.zdiff_options(["x", "y"], c::ZdiffOptions::default().withscores())?;
    assert_eq!(diff, [("m".to_owned(), 1.0)]);
    assert_eq!(con.zunionstore("us", ["x", "y"])?, 3);
    assert_eq!(
        con.zunionstore_options(
            "us",
            ["x", "y"],
            c::ZunionstoreOptions::default().weights(1).weights(0).min()
        )?,
        3
    );
    assert_eq!(con.zscore("us", "n")?, Some(0.0));
    assert_eq!(con.zinterstore("is", ["x", "y"])?, 1);
    assert_eq!(
        con.zinterstore_options(
            "is",
            ["x", "y"],
            c::ZinterstoreOptions::default().aggregate(c::ZinterstoreAggregate::Max)
        )?,
        1
    );
    assert_eq!(con.zscore("is", "n")?, Some(10.0));
    assert_eq!(con.zdiffstore("ds", ["x", "y"])?, 1);
    assert_eq!(con.zintercard(["x", "y"])?, 1);
    assert_eq!(
        con.zintercard_options(["x", "us"], c::ZintercardOptions::default().limit(1))?,
        1
    );

    // Random members and pops.
    let member: String = con.zrandmember("us")?;
    assert!(["m", "n", "o"].contains(&member.as_str()));
    let with_scores: Vec<(String, f64)> =
        con.zrandmember_options("us", c::ZrandmemberOptions::default().options(2, true))?;
    assert_eq!(with_scores.len(), 2);
    assert_eq!(con.zpopmin::<(String, f64)>("us")?, ("n".to_owned(), 0.0));
    assert_eq!(con.zpopmax::<(String, f64)>("us")?, ("m".to_owned(), 1.0));
    con.zadd("p", [(1.0, "a"), (2.0, "b"), (3.0, "c"), (4.0, "d")])?;
    let two: Vec<(String, f64)> =
        con.zpopmin_options("p", c::ZpopminOptions::default().count(2))?;
    assert_eq!(two, [("a".to_owned(), 1.0), ("b".to_owned(), 2.0)]);
    let one: Vec<(String, f64)> =
        con.zpopmax_options("p", c::ZpopmaxOptions::default().count(1))?;
    assert_eq!(one, [("d".to_owned(), 4.0)]);
    let (key, popped): (String, Vec<(String, f64)>) =
        con.zmpop(["none", "p"], c::ZmpopWhere::Min)?;
    assert_eq!((key.as_str(), popped), ("p", vec![("c".to_owned(), 3.0)]));
    con.zadd("p", [(1.0, "a"), (2.0, "b")])?;
    let (_, popped): (String, Vec<(String, f64)>) =
        con.zmpop_options("p", c::ZmpopWhere::Max, c::ZmpopOptions::default().count(5))?;
    assert_eq!(popped.len(), 2);
    con.zadd("p", (7.0, "q"))?;
    let (key, member, score): (String, String, f64) = con.bzpopmin(["none", "p"], 0.1)?;
    assert_eq!((key.as_str(), member.as_str(), score), ("p", "q", 7.0));
    assert_eq!(con.bzpopmax::<Value>("p", 0.1)?, Value::Nil);
    con.zadd("p", [(1.0, "a"), (2.0, "b")])?;
    let (_, popped): (String, Vec<(String, f64)>) = con.bzmpop(0.1, "p", c::BzmpopWhere::Max)?;
    assert_eq!(popped, [("b".to_owned(), 2.0)]);
    let (_, popped): (String, Vec<(String, f64)>) = con.bzmpop_options(
        0.1,
        "p",
        c::BzmpopWhere::Min,
        c::BzmpopOptions::default().count(3),
    )?;
    assert_eq!(popped, [("a".to_owned(), 1.0)]);
    con.zadd("bz", (1.0, "v"))?;
    let (_, member, _): (String, String, f64) = con.bzpopmax("bz", 0.1)?;
    assert_eq!(member, "v");

    con.zadd(
        "scan",
        (0..20)
            .map(|i| (f64::from(i), format!("s{i}")))
            .collect::<Vec<_>>(),
    )?;
    let (cursor, page): (String, Vec<(String, f64)>) = con.zscan_options(
        "scan",
        0,
        c::ZscanOptions::default().pattern("s1*").count(100),
    )?;
    assert_eq!(cursor, "0");
    assert_eq!(page.len(), 11);
    let (_, all): (String, Vec<String>) = con.zscan("scan", 0)?;
    assert!(!all.is_empty());

    // ZRANK WITHSCORE came with 7.2.
    let mut direct = ctx.other();
    if support::server_version(&mut direct) >= (7, 2, 0) {
        let (rank, score): (i64, f64) =
            con.zrank_options("scan", "s3", c::ZrankOptions::default().withscore())?;
        assert_eq!((rank, score), (3, 3.0));
        let (rank, _): (i64, f64) =
            con.zrevrank_options("scan", "s3", c::ZrevrankOptions::default().withscore())?;
        assert_eq!(rank, 16);
    } else {
        eprintln!("skipping ZRANK/ZREVRANK WITHSCORE: the server is older than 7.2");
    }
    Ok(())
}

fn hashes(con: &mut Recorder<'_>, ctx: &Ctx) -> R {
    assert_eq!(con.hset("h", [("name", "Ada"), ("year", "1815")])?, 2);
    assert!(con.hsetnx("h", "lang", "math")?);
    assert!(!con.hsetnx("h", "lang", "poetry")?);
    con.hmset("h", [("born", "London")])?;
    assert_eq!(con.hget::<String>("h", "name")?, "Ada");
    assert_eq!(
        con.hmget::<Vec<Option<String>>>("h", ["name", "nope"])?,
        [Some("Ada".into()), None]
    );
    assert!(con.hexists("h", "year")?);
    assert_eq!(con.hlen("h")?, 4);
    assert_eq!(con.hstrlen("h", "name")?, 3);
    assert_eq!(con.hincrby("h", "year", 10)?, 1825);
    assert!((con.hincrbyfloat("h", "score", 1.5)? - 1.5).abs() < 1e-9);
    let all: HashMap<String, String> = con.hgetall("h")?;
    assert_eq!(all["born"], "London");
    assert_eq!(con.hkeys::<BTreeSet<String>>("h")?.len(), 5);
    assert_eq!(con.hvals::<Vec<String>>("h")?.len(), 5);
    assert_eq!(con.hdel("h", ["score", "nope"])?, 1);
    let field: String = con.hrandfield("h")?;
    assert!(all.contains_key(&field));
    let pairs: Vec<(String, String)> =
        con.hrandfield_options("h", c::HrandfieldOptions::default().options(2, true))?;
    assert_eq!(pairs.len(), 2);
    let (cursor, page): (String, HashMap<String, String>) =
        con.hscan_options("h", 0, c::HscanOptions::default().pattern("n*").count(100))?;
    assert_eq!((cursor.as_str(), page.len()), ("0", 1));
    let (_, all): (String, Vec<String>) = con.hscan("h", 0)?;
    assert_eq!(all.len(), 8);
    if ctx.has("HSETEX") {
        hash_field_expiry(con)?;
    }
    Ok(())
}

/// Hash fields with their own expiry (Valkey 9): the field counts are written by the
/// generated code.
fn hash_field_expiry(con: &mut Recorder<'_>) -> R {
    assert!(con.hsetex("hx", c::HsetexFields::new([("a", "1"), ("b", "2")]))?);
    assert!(!con.hsetex_options(
        "hx",
        c::HsetexFields::new([("a", "3")]),
        c::HsetexOptions::default().fnx().ex(100),
    )?);
    assert_eq!(
        con.hexpire::<Vec<i64>>("hx", 100, ["a", "missing"])?,
        [1, -2]
    );
    let not_greater =
        con.hexpire_options::<Vec<i64>>("hx", 50, "a", c::HexpireOptions::default().gt())?;
    assert_eq!(not_greater, [0]);
    let ttls: Vec<i64> = con.httl("hx", ["a", "b"])?;
    assert!(ttls[0] > 90 && ttls[1] == -1, "{ttls:?}");
    assert!(con.hpttl::<Vec<i64>>("hx", "a")?[0] > 90_000);
    assert_eq!(con.hpersist::<Vec<i64>>("hx", "a")?, [1]);
    assert_eq!(con.hpexpire::<Vec<i64>>("hx", 100_000, "a")?, [1]);
    let at = 4_000_000_000;
    assert_eq!(con.hexpireat::<Vec<i64>>("hx", at, "b")?, [1]);
    assert_eq!(con.hexpiretime::<Vec<i64>>("hx", "b")?, [at]);
    assert_eq!(con.hpexpireat::<Vec<i64>>("hx", at * 1000 + 1, "b")?, [1]);
    assert_eq!(con.hpexpiretime::<Vec<i64>>("hx", "b")?, [at * 1000 + 1]);
    assert_eq!(con.hgetex::<Vec<String>>("hx", ["a", "b"])?, ["1", "2"]);
    let got: Vec<String> = con.hgetex_options("hx", "b", c::HgetexOptions::default().persist())?;
    assert_eq!(got, ["2"]);
    assert_eq!(con.httl::<Vec<i64>>("hx", "b")?, [-1]);
    let taken: Vec<Option<String>> = con.hgetdel("hx", ["a", "nope"])?;
    assert_eq!(taken, [Some("1".to_owned()), None]);
    assert_eq!(con.hlen("hx")?, 1);
    Ok(())
}

type Entries = Vec<(String, HashMap<String, String>)>;

fn streams(con: &mut Recorder<'_>, _: &Ctx) -> R {
    let id: String = con.xadd("st", c::XaddIdSelector::id("1-1"), [("f", "1")])?;
    assert_eq!(id, "1-1");
    let auto: String = con.xadd("st", c::XaddIdSelector::AutoId, [("f", "2")])?;
    assert!(auto.contains('-'));
    // XADD with MAXLEN, MINID and NOMKSTREAM.
    let trim = c::XaddTrim::new(c::XaddTrimStrategy::Maxlen, 2).equal();
    let _: String = con.xadd_options(
        "st",
        c::XaddIdSelector::AutoId,
        [("f", "3")],
        c::XaddOptions::default().trim(trim),
    )?;
    assert_eq!(con.xlen("st")?, 2);
    let nothing: Option<String> = con.xadd_options(
        "absent",
        c::XaddIdSelector::AutoId,
        [("f", "1")],
        c::XaddOptions::default().nomkstream(),
    )?;
    assert_eq!(nothing, None);
    con.xadd::<String>("mi", c::XaddIdSelector::id("1-0"), [("a", "1")])?;
    con.xadd::<String>("mi", c::XaddIdSelector::id("2-0"), [("a", "2")])?;
    let trim = c::XaddTrim::new(c::XaddTrimStrategy::Minid, "3-0")
        .approximately()
        .limit(100);
    let _: String = con.xadd_options(
        "mi",
        c::XaddIdSelector::id("3-0"),
        [("a", "3")],
        c::XaddOptions::default().trim(trim),
    )?;
    let trim = c::XaddTrim::new(c::XaddTrimStrategy::Minid, "3-0");
    let _: String = con.xadd_options(
        "mi",
        c::XaddIdSelector::id("4-0"),
        [("a", "4")],
        c::XaddOptions::default().trim(trim),
    )?;
    assert_eq!(con.xlen("mi")?, 2);
    assert_eq!(
        con.xtrim("mi", c::XtrimTrim::new(c::XtrimTrimStrategy::Maxlen, 1))?,
        1
    );
    assert_eq!(
        con.xtrim(
            "mi",
            c::XtrimTrim::new(c::XtrimTrimStrategy::Minid, "9-0").equal()
        )?,
        1
    );

    let entries: Entries = con.xrange("st", "-", "+")?;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].1["f"], "3");
    let first: Entries =
        con.xrange_options("st", "-", "+", c::XrangeOptions::default().count(1))?;
    assert_eq!(first.len(), 1);
    let rev: Entries = con.xrevrange("st", "+", "-")?;
    assert_eq!(rev[0].1["f"], "3");
    let last: Entries =
        con.xrevrange_options("st", "+", "-", c::XrevrangeOptions::default().count(1))?;
    assert_eq!(last[0].1["f"], "3");
    let read: HashMap<String, Entries> = con.xread("st", "0")?;
    assert_eq!(read["st"].len(), 2);
    let read: Option<HashMap<String, Entries>> =
        con.xread_options("st", "$", c::XreadOptions::default().count(1).block(10))?;
    assert_eq!(read, None);

    // Consumer groups.
    con.xgroup_create_options(
        "g",
        "grp",
        c::XgroupCreateIdSelector::id("0"),
        c::XgroupCreateOptions::default().mkstream(),
    )?;
    con.xgroup_create("st", "grp", c::XgroupCreateIdSelector::id("0"))?;
    con.xgroup_create("st", "late", c::XgroupCreateIdSelector::NewId)?;
    assert!(con.xgroup_createconsumer("st", "grp", "c0")?);
    con.xgroup_setid("st", "late", c::XgroupSetidIdSelector::id("0"))?;
    con.xgroup_setid_options(
        "st",
        "late",
        c::XgroupSetidIdSelector::id("0"),
        c::XgroupSetidOptions::default().entriesread(0),
    )?;
    let got: HashMap<String, Entries> = con.xreadgroup("grp", "c1", "st", ">")?;
    assert_eq!(got["st"].len(), 2);
    let got: HashMap<String, Entries> = con.xreadgroup_options(
        "late",
        "c1",
        "st",
        ">",
        c::XreadgroupOptions::default().count(1).noack(),
    )?;
    assert_eq!(got["st"].len(), 1);
    let pending: Value = con.xpending("st", "grp")?;
    let (count, _, _, _): (i64, String, String, Value) = respec::from_redis_value(pending)?;
    assert_eq!(count, 2);
    let filters = c::XpendingFilters::new("-", "+", 10).consumer("c1");
    let detail: Vec<(String, String, i64, i64)> =
        con.xpending_options("st", "grp", c::XpendingOptions::default().filters(filters))?;
    assert_eq!(detail.len(), 2);
    let ids: Vec<String> = detail.iter().map(|d| d.0.clone()).collect();
    let claimed: Vec<String> = con.xclaim_options(
        "st",
        "grp",
        "c2",
        0,
        &ids[..1],
        c::XclaimOptions::default().justid().force(),
    )?;
    assert_eq!(claimed, ids[..1]);
    let claimed: Entries = con.xclaim("st", "grp", "c2", 0, &ids[1..])?;
    assert_eq!(claimed.len(), 1);
    let (_, auto, _): (String, Vec<String>, Vec<String>) = con.xautoclaim_options(
        "st",
        "grp",
        "c3",
        0,
        "0-0",
        c::XautoclaimOptions::default().count(10).justid(),
    )?;
    assert_eq!(auto.len(), 2);
    let (_, entries, _): (String, Entries, Vec<String>) =
        con.xautoclaim("st", "grp", "c1", 0, "0-0")?;
    assert_eq!(entries.len(), 2);
    assert_eq!(con.xack("st", "grp", &ids)?, 2);
    assert_eq!(con.xgroup_delconsumer("st", "grp", "c3")?, 0);

    let info: HashMap<String, Value> = con.xinfo_stream("st")?;
    assert_eq!(respec::from_redis_value::<i64>(info["length"].clone())?, 2);
    let full: HashMap<String, Value> = con.xinfo_stream_options(
        "st",
        c::XinfoStreamOptions::default().full(c::XinfoStreamFullBlock::new().count(10)),
    )?;
    assert!(full.contains_key("groups"));
    let groups: Vec<HashMap<String, Value>> = con.xinfo_groups("st")?;
    assert_eq!(groups.len(), 2);
    let consumers: Vec<HashMap<String, Value>> = con.xinfo_consumers("st", "grp")?;
    assert!(consumers.len() >= 2);
    assert!(!con.xinfo_help::<Vec<String>>()?.is_empty());
    assert!(!con.xgroup_help::<Vec<String>>()?.is_empty());
    assert!(con.xgroup_destroy("st", "late")?);
    assert_eq!(con.xdel("st", &ids[..1])?, 1);
    con.xsetid("st", "99999999999999-0")?;
    con.xsetid_options(
        "st",
        "99999999999999-5",
        c::XsetidOptions::default()
            .entriesadded(10)
            .maxdeletedid("5-0"),
    )?;
    let info: HashMap<String, Value> = con.xinfo_stream("st")?;
    assert_eq!(
        respec::from_redis_value::<String>(info["last-generated-id"].clone())?,
        "99999999999999-5"
    );
    Ok(())
}

fn geo(con: &mut Recorder<'_>, _: &Ctx) -> R {
    let places = [
        (13.361_389, 38.115_556, "Palermo"),
        (15.087_269, 37.502_669, "Catania"),
    ];
    assert_eq!(con.geoadd("Sicily", places)?, 2);
    let changed = con.geoadd_options(
        "Sicily",
        (13.0, 38.0, "Palermo"),
        c::GeoaddOptions::default().xx().ch(),
    )?;
    assert_eq!(changed, 1);
    assert_eq!(
        con.geoadd_options(
            "Sicily",
            (1.0, 1.0, "New"),
            c::GeoaddOptions::default().xx()
        )?,
        0
    );
    con.geoadd("Sicily", (13.361_389, 38.115_556, "Palermo"))?;
    let km: Option<f64> = con.geodist_options(
        "Sicily",
        "Palermo",
        "Catania",
        c::GeodistOptions::default().km(),
    )?;
    assert!((km.unwrap_or(0.0) - 166.27).abs() < 0.1, "{km:?}");
    let meters: f64 = con.geodist("Sicily", "Palermo", "Catania")?;
    assert!((meters - 166_274.0).abs() < 100.0);
    let hashes: Vec<String> =
        con.geohash_options("Sicily", c::GeohashOptions::default().member(["Palermo"]))?;
    assert_eq!(hashes, ["sqc8b49rny0"]);
    assert!(con.geohash::<Vec<String>>("Sicily")?.is_empty());
    let positions: Vec<Option<(f64, f64)>> = con.geopos_options(
        "Sicily",
        c::GeoposOptions::default().member(["Catania", "Nowhere"]),
    )?;
    assert!((positions[0].unwrap().0 - 15.087_269).abs() < 1e-4 && positions[1].is_none());
    assert!(con.geopos::<Vec<Value>>("Sicily")?.is_empty());

    let near: Vec<String> = con.georadius("Sicily", 15.0, 37.0, 200.0, c::GeoradiusUnit::Km)?;
    assert_eq!(near.len(), 2);
    let nearest: Vec<(String, f64)> = con.georadius_options(
        "Sicily",
        15.0,
        37.0,
        200.0,
        c::GeoradiusUnit::Km,
        c::GeoradiusOptions::default()
            .withdist()
            .asc()
            .count(1, false),
    )?;
    assert_eq!(nearest[0].0, "Catania");
    let stored: i64 = con.georadius_options(
        "Sicily",
        15.0,
        37.0,
        200.0,
        c::GeoradiusUnit::Km,
        c::GeoradiusOptions::default().storedist("dists"),
    )?;
    assert_eq!(stored, 2);
    let ro: Vec<String> = con.georadius_ro_options(
        "Sicily",
        15.0,
        37.0,
        100.0,
        c::GeoradiusRoUnit::Km,
        c::GeoradiusRoOptions::default().desc(),
    )?;
    assert_eq!(ro, ["Catania"]);
    assert_eq!(
        con.georadius_ro::<Vec<String>>("Sicily", 15.0, 37.0, 1.0, c::GeoradiusRoUnit::Km)?
            .len(),
        0
    );
    let by_member: Vec<String> =
        con.georadiusbymember("Sicily", "Palermo", 200.0, c::GeoradiusbymemberUnit::Km)?;
    assert_eq!(by_member.len(), 2);
    let stored: i64 = con.georadiusbymember_options(
        "Sicily",
        "Palermo",
        200.0,
        c::GeoradiusbymemberUnit::Km,
        c::GeoradiusbymemberOptions::default().store(c::GeoradiusbymemberStore::store("copy")),
    )?;
    assert_eq!(stored, 2);
    let ro: Vec<(String, (f64, f64))> = con.georadiusbymember_ro_options(
        "Sicily",
        "Palermo",
        10.0,
        c::GeoradiusbymemberRoUnit::Km,
        c::GeoradiusbymemberRoOptions::default().withcoord(),
    )?;
    assert_eq!(ro[0].0, "Palermo");
    assert_eq!(
        con.georadiusbymember_ro::<Vec<String>>(
            "Sicily",
            "Palermo",
            10.0,
            c::GeoradiusbymemberRoUnit::Km
        )?,
        ["Palermo"]
    );

    // GEOSEARCH BYRADIUS and BYBOX, from a member and from coordinates.
    let found: Vec<String> = con.geosearch(
        "Sicily",
        c::GeosearchFrom::frommember("Palermo"),
        c::GeosearchBy::byradius(200.0, c::GeosearchByCircleUnit::Km),
    )?;
    assert_eq!(found.len(), 2);
    let boxed: Vec<(String, f64)> = con.geosearch_options(
        "Sicily",
        c::GeosearchFrom::fromlonlat(15.0, 37.0),
        c::GeosearchBy::bybox(400.0, 400.0, c::GeosearchByBoxUnit::Km),
        c::GeosearchOptions::default()
            .asc()
            .count(1, true)
            .withdist(),
    )?;
    assert_eq!(boxed.len(), 1);
    let stored = con.geosearchstore(
        "dest",
        "Sicily",
        c::GeosearchstoreFrom::frommember("Catania"),
        c::GeosearchstoreBy::byradius(1.0, c::GeosearchstoreByCircleUnit::Km),
    )?;
    assert_eq!(stored, 1);
    let stored = con.geosearchstore_options(
        "dest",
        "Sicily",
        c::GeosearchstoreFrom::fromlonlat(15.0, 37.0),
        c::GeosearchstoreBy::bybox(400.0, 400.0, c::GeosearchstoreByBoxUnit::Km),
        c::GeosearchstoreOptions::default().desc().storedist(),
    )?;
    assert_eq!(stored, 2);
    Ok(())
}

fn hyperloglog(con: &mut Recorder<'_>, _: &Ctx) -> R {
    assert!(con.pfadd_options("h1", c::PfaddOptions::default().element(["a", "b", "c"]))?);
    assert!(!con.pfadd_options("h1", c::PfaddOptions::default().element("a"))?);
    assert!(con.pfadd("empty")?);
    con.pfadd_options("h2", c::PfaddOptions::default().element(["c", "d"]))?;
    assert_eq!(con.pfcount("h1")?, 3);
    assert_eq!(con.pfcount(["h1", "h2"])?, 4);
    con.pfmerge_options("h3", c::PfmergeOptions::default().sourcekey(["h1", "h2"]))?;
    assert_eq!(con.pfcount("h3")?, 4);
    con.pfmerge("h3")?;
    assert_eq!(con.pfcount("h3")?, 4);
    Ok(())
}

fn bitmaps(con: &mut Recorder<'_>, _: &Ctx) -> R {
    assert!(!con.setbit("b", 7, 1)?);
    assert!(con.getbit("b", 7)?);
    con.set("b2", "foobar")?;
    assert_eq!(con.bitcount("b2")?, 26);
    let range = c::BitcountRange::new(1).end_unit_block(c::BitcountRangeEndUnitBlock::new(1));
    assert_eq!(
        con.bitcount_options("b2", c::BitcountOptions::default().range(range))?,
        6
    );
    let range =
        c::BitcountRange::new(5).end_unit_block(c::BitcountRangeEndUnitBlock::new(30).bit());
    assert_eq!(
        con.bitcount_options("b2", c::BitcountOptions::default().range(range))?,
        17
    );
    assert_eq!(con.bitpos("b", 1)?, 7);
    let range = c::BitposRange::new(0).end_unit_block(c::BitposRangeEndUnitBlock::new(-1).byte());
    assert_eq!(
        con.bitpos_options("b", 0, c::BitposOptions::default().range(range))?,
        0
    );
    con.set("x", &[0x0fu8][..])?;
    con.set("y", &[0xffu8][..])?;
    assert_eq!(con.bitop(c::BitopOperation::And, "and", ["x", "y"])?, 1);
    assert_eq!(con.get::<Vec<u8>>("and")?, [0x0f]);
    assert_eq!(con.bitop(c::BitopOperation::Not, "not", "x")?, 1);
    assert_eq!(con.get::<Vec<u8>>("not")?, [0xf0]);

    // BITFIELD with SET, INCRBY, OVERFLOW and GET.
    let ops = c::BitfieldOptions::default()
        .operation(c::BitfieldOperation::Write(c::BitfieldOperationWrite::new(
            c::BitfieldOperationWriteWriteOperation::set("u8", 0, 200),
        )))
        .operation(c::BitfieldOperation::Write(
            c::BitfieldOperationWrite::new(c::BitfieldOperationWriteWriteOperation::incrby(
                "u8", 0, 100,
            ))
            .sat(),
        ))
        .operation(c::BitfieldOperation::get("u8", 0));
    let results: Vec<Option<i64>> = con.bitfield_options("bf", ops)?;
    assert_eq!(results, [Some(0), Some(255), Some(255)]);
    assert_eq!(con.bitfield::<Vec<i64>>("bf")?, Vec::<i64>::new());
    let read: Vec<i64> = con.bitfield_ro_options(
        "bf",
        c::BitfieldRoOptions::default().get(c::BitfieldRoGetBlock::new("u4", 0)),
    )?;
    assert_eq!(read, [15]);
    assert_eq!(con.bitfield_ro::<Vec<i64>>("bf")?, Vec::<i64>::new());
    Ok(())
}

fn generic(con: &mut Recorder<'_>, ctx: &Ctx) -> R {
    con.set("a", "1")?;
    con.set("b", "2")?;
    assert_eq!(con.exists(["a", "b", "nope"])?, 2);
    assert_eq!(con.key_type::<String>("a")?, "string");
    assert_eq!(con.touch(["a", "nope"])?, 1);
    assert!(con.copy("a", "a2")?);
    assert!(!con.copy("a", "a2")?);
    assert!(con.copy_options("a", "a2", c::CopyOptions::default().replace().db(1))?);
    assert!(con.copy_options("b", "a2", c::CopyOptions::default().replace())?);
    assert_eq!(con.get::<String>("a2")?, "2");
    let mut keys: Vec<String> = con.keys("a*")?;
    keys.sort();
    assert_eq!(keys, ["a", "a2"]);
    let random: Option<String> = con.randomkey()?;
    assert!(random.is_some());
    con.rename("a2", "renamed")?;
    assert!(!con.renamenx("renamed", "b")?);
    assert!(con.renamenx("renamed", "fresh")?);
    assert!(con.move_key("fresh", 2)?);
    assert_eq!(con.exists("fresh")?, 0);

    // Expiry, with NX/XX/GT/LT.
    assert!(con.expire("a", 100)?);
    assert!(!con.expire_options("a", 200, c::ExpireOptions::default().nx())?);
    assert!(con.expire_options("a", 200, c::ExpireOptions::default().gt())?);
    assert!(!con.expire_options("a", 300, c::ExpireOptions::default().lt())?);
    assert!(con.expire_options("a", 50, c::ExpireOptions::default().xx())?);
    assert!((1..=50).contains(&con.ttl("a")?));
    assert!(con.pexpire("a", 100_000)?);
    assert!(con.pexpire_options("a", 1_000, c::PexpireOptions::default().lt())?);
    assert!(con.pttl("a")? <= 1000);
    let at = 4_000_000_000i64;
    assert!(con.expireat("a", at)?);
    assert!(!con.expireat_options("a", at - 1, c::ExpireatOptions::default().gt())?);
    assert_eq!(con.expiretime("a")?, at);
    assert!(con.pexpireat("a", at * 1000 + 5)?);
    assert!(con.pexpireat_options("a", at * 1000 + 10, c::PexpireatOptions::default().xx())?);
    assert_eq!(con.pexpiretime("a")?, at * 1000 + 10);
    assert!(con.persist("a")?);
    assert_eq!(con.ttl("a")?, -1);

    // DUMP and RESTORE.
    let dumped: Vec<u8> = con.dump("b")?;
    con.restore("restored", 0, &dumped[..])?;
    assert_eq!(con.get::<String>("restored")?, "2");
    let err = con.restore("restored", 0, &dumped[..]).unwrap_err();
    assert_eq!(err.code(), Some("BUSYKEY"));
    con.restore_options(
        "restored",
        4_000_000_000_000,
        &dumped[..],
        c::RestoreOptions::default().replace().absttl(),
    )?;
    assert!(con.pttl("restored")? > 0);

    // OBJECT: encoding, refcount, idle time, then access frequency under an LFU policy.
    assert_eq!(con.object_encoding::<String>("b")?, "int");
    assert!(con.object_refcount("b")? >= 1);
    assert!(con.object_idletime("b")? >= 0);
    assert!(!con.object_help::<Vec<String>>()?.is_empty());
    cmd("CONFIG SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lfu")
        .exec(con)?;
    let freq = con.object_freq("b");
    cmd("CONFIG SET")
        .arg("maxmemory-policy")
        .arg("noeviction")
        .exec(con)?;
    assert!(freq? >= 0);

    // SORT with BY, GET, LIMIT, ALPHA and STORE, and SORT_RO.
    con.rpush("ids", ["3", "1", "2"])?;
    con.mset([
        ("w_1", "30"),
        ("w_2", "10"),
        ("w_3", "20"),
        ("d_1", "one"),
        ("d_2", "two"),
        ("d_3", "three"),
    ])?;
    assert_eq!(con.sort::<Vec<u8>>("ids")?, [1, 2, 3]);
    let sorted: Vec<String> = con.sort_options(
        "ids",
        c::SortOptions::default()
            .by("w_*")
            .get("#")
            .get("d_*")
            .limit(0, 2),
    )?;
    assert_eq!(sorted, ["2", "two", "3", "three"]);
    let stored: i64 = con.sort_options("ids", c::SortOptions::default().desc().store("sorted"))?;
    assert_eq!(stored, 3);
    assert_eq!(con.lrange::<Vec<u8>>("sorted", 0, -1)?, [3, 2, 1]);
    let alpha: Vec<String> =
        con.sort_ro_options("ids", c::SortRoOptions::default().by("d_*").alpha())?;
    assert_eq!(alpha, ["1", "3", "2"]);
    assert_eq!(con.sort_ro::<Vec<u8>>("ids")?, [1, 2, 3]);

    // SCAN with MATCH, COUNT and TYPE.
    let (cursor, keys): (String, Vec<String>) = con.scan_options(
        0,
        c::ScanOptions::default()
            .pattern("w_*")
            .count(1000)
            .type_("string"),
    )?;
    assert_eq!((cursor.as_str(), keys.len()), ("0", 3));
    let (_, keys): (String, Vec<String>) = con.scan(0)?;
    assert!(!keys.is_empty());

    // MIGRATE to a second server, one key and then the KEYS form.
    let port = i64::from(ctx.second.port());
    con.set("mig1", "x")?;
    let reply: String = con.migrate(
        "127.0.0.1",
        port,
        c::MigrateKeySelector::key("mig1"),
        0,
        5000,
    )?;
    assert_eq!(reply, "OK");
    con.mset([("mig2", "y"), ("mig3", "z")])?;
    let reply: String = con.migrate_options(
        "127.0.0.1",
        port,
        c::MigrateKeySelector::EmptyString,
        0,
        5000,
        c::MigrateOptions::default()
            .copy()
            .replace()
            .keys(["mig2", "mig3"]),
    )?;
    assert_eq!(reply, "OK");
    assert_eq!(
        con.exists(["mig1", "mig2"])?,
        1,
        "COPY keeps the source keys"
    );
    let mut second = support::connect(ctx.second, ProtocolVersion::Resp2);
    assert_eq!(
        cmd("MGET")
            .arg(["mig1", "mig2", "mig3"])
            .query::<Vec<String>>(&mut second)?,
        ["x", "y", "z"]
    );
    cmd("FLUSHALL").exec(&mut second)?;

    assert_eq!(con.wait(0, 100)?, 0);
    if ctx.has("WAITAOF") {
        // Persistence is off: nothing to wait for locally, no replica to count.
        assert_eq!(con.waitaof::<(i64, i64)>(0, 0, 100)?, (0, 0));
    }
    assert_eq!(con.del(["b", "nope"])?, 1);
    assert_eq!(con.unlink("restored")?, 1);
    Ok(())
}

fn scripting(con: &mut Recorder<'_>, ctx: &Ctx) -> R {
    let script = "return {KEYS[1], ARGV[1], #KEYS, #ARGV}";
    let (key, arg, n_keys, n_args): (String, String, i64, i64) = con.eval_options(
        script,
        c::EvalOptions::default().key(["k1", "k2"]).arg("a1"),
    )?;
    assert_eq!(
        (key.as_str(), arg.as_str(), n_keys, n_args),
        ("k1", "a1", 2, 1)
    );
    assert_eq!(con.eval::<i64>("return 7")?, 7);
    assert_eq!(con.eval_ro::<i64>("return 8")?, 8);
    con.set("k1", "stored")?;
    let ro: String = con.eval_ro_options(
        "return redis.call('GET', KEYS[1])",
        c::EvalRoOptions::default().key("k1"),
    )?;
    assert_eq!(ro, "stored");
    // Lua drops a table's elements from the first nil on, so count rather than echo.
    let sha: String = con.script_load("return {#KEYS, #ARGV}")?;
    assert_eq!(
        con.script_exists::<Vec<bool>>([sha.as_str(), "0000000000000000000000000000000000000000"])?,
        [true, false]
    );
    let counts: (i64, i64) =
        con.evalsha_options(&sha, c::EvalshaOptions::default().key("k").arg(["a", "b"]))?;
    assert_eq!(counts, (1, 2));
    let (n_keys, n_args): (i64, i64) = con.evalsha(&sha)?;
    assert_eq!((n_keys, n_args), (0, 0));
    if ctx.has("SCRIPT SHOW") {
        assert_eq!(con.script_show::<String>(&sha)?, "return {#KEYS, #ARGV}");
    }
    let counts: (i64, i64) =
        con.evalsha_ro_options(&sha, c::EvalshaRoOptions::default().arg("x"))?;
    assert_eq!(counts, (0, 1));
    let _: Value = con.evalsha_ro(&sha)?;
    con.script_debug(c::ScriptDebugMode::No)?;
    assert!(!con.script_help::<Vec<String>>()?.is_empty());
    assert_eq!(con.script_kill().unwrap_err().code(), Some("NOTBUSY"));
    con.script_flush_options(c::ScriptFlushOptions::default().sync())?;
    con.script_flush()?;
    assert_eq!(con.script_exists::<Vec<bool>>(&sha)?, [false]);

    // Functions: load, call, list, dump, restore, stats, delete, flush.
    let library = "#!lua name=tour\nredis.register_function{function_name='echo_arg', callback=function(keys, args) return args[1] end, flags={'no-writes'}}";
    assert_eq!(con.function_load::<String>(library)?, "tour");
    assert_eq!(
        con.function_load_options::<String>(library, c::FunctionLoadOptions::default().replace())?,
        "tour"
    );
    assert_eq!(
        con.fcall_options::<String>("echo_arg", c::FcallOptions::default().key("k").arg("hello"))?,
        "hello"
    );
    assert_eq!(
        con.fcall_ro_options::<String>("echo_arg", c::FcallRoOptions::default().arg("ro"))?,
        "ro"
    );
    assert_eq!(con.fcall::<Option<String>>("echo_arg")?, None);
    assert_eq!(con.fcall_ro::<Option<String>>("echo_arg")?, None);
    let listed: Vec<HashMap<String, Value>> = con.function_list_options(
        c::FunctionListOptions::default()
            .libraryname("tour")
            .withcode(),
    )?;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].contains_key("library_code"));
    assert_eq!(con.function_list::<Vec<Value>>()?.len(), 1);
    let dump: Vec<u8> = con.function_dump()?;
    con.function_delete("tour")?;
    con.function_restore(&dump[..])?;
    con.function_restore_options(&dump[..], c::FunctionRestoreOptions::default().replace())?;
    let stats: HashMap<String, Value> = con.function_stats()?;
    assert!(stats.contains_key("engines"));
    assert!(!con.function_help::<Vec<String>>()?.is_empty());
    assert_eq!(con.function_kill().unwrap_err().code(), Some("NOTBUSY"));
    con.function_flush_options(c::FunctionFlushOptions::default().async_())?;
    con.function_flush()?;
    assert_eq!(con.function_list::<Vec<Value>>()?.len(), 0);
    Ok(())
}

fn transactions(con: &mut Recorder<'_>, ctx: &Ctx) -> R {
    con.multi()?;
    // Inside MULTI every command answers QUEUED; typed replies come from EXEC.
    assert_eq!(cmd("INCR").key("t").query::<String>(con)?, "QUEUED");
    assert_eq!(cmd("INCR").key("t").query::<String>(con)?, "QUEUED");
    assert_eq!(con.exec::<(i64, i64)>()?, (1, 2));
    con.multi()?;
    cmd("INCR").key("t").exec(con)?;
    con.discard()?;
    assert_eq!(con.get::<i64>("t")?, 2);
    // WATCH: a change from another client aborts EXEC, which then answers nil.
    con.watch("t")?;
    let mut other = ctx.other();
    cmd("SET").key("t").arg(10).exec(&mut other)?;
    con.multi()?;
    cmd("INCR").key("t").exec(con)?;
    assert_eq!(con.exec::<Option<(i64,)>>()?, None);
    con.watch(["t", "u"])?;
    con.unwatch()?;
    con.multi()?;
    cmd("INCR").key("t").exec(con)?;
    assert_eq!(con.exec::<Option<(i64,)>>()?, Some((11,)));
    Ok(())
}

fn connection(con: &mut Recorder<'_>, ctx: &Ctx) -> R {
    assert_eq!(con.ping()?, "PONG");
    assert_eq!(
        con.ping_options::<String>(c::PingOptions::default().message("hi"))?,
        "hi"
    );
    assert_eq!(con.echo::<String>("echo")?, "echo");
    let id = con.client_id()?;
    assert!(id > 0);
    con.client_setname("typed")?;
    assert_eq!(con.client_getname::<String>()?, "typed");
    let info: String = con.client_info()?;
    assert!(info.contains(&format!("id={id} ")), "{info}");
    let list: String = con.client_list()?;
    assert!(list.contains("name=typed"));
    // The server takes one filter at a time.
    let mine: String = con.client_list_options(c::ClientListOptions::default().id(id))?;
    assert_eq!(mine.lines().count(), 1);
    let normal: String = con.client_list_options(c::ClientListOptions::default().normal())?;
    assert!(normal.contains("name=typed"));
    assert!(!con.client_help::<Vec<String>>()?.is_empty());
    con.client_no_evict(c::ClientNoEvictEnabled::On)?;
    con.client_no_evict(c::ClientNoEvictEnabled::Off)?;
    if ctx.has("CLIENT NO-TOUCH") {
        con.client_no_touch(c::ClientNoTouchEnabled::On)?;
        con.client_no_touch(c::ClientNoTouchEnabled::Off)?;
    }
    if ctx.has("CLIENT SETINFO") {
        con.client_setinfo(c::ClientSetinfoAttr::libname("respec"))?;
        con.client_setinfo(c::ClientSetinfoAttr::libver("0.1.0"))?;
        let info: String = con.client_info()?;
        assert!(info.contains("lib-name=respec lib-ver=0.1.0"), "{info}");
    }
    if ctx.has("CLIENT CAPA") {
        con.client_capa("redirect")?;
    }
    if ctx.has("CLIENT IMPORT-SOURCE") {
        // Only while the server is in import mode.
        cmd("CONFIG SET").arg(["import-mode", "yes"]).exec(con)?;
        con.client_import_source(c::ClientImportSourceEnabled::On)?;
        con.client_import_source(c::ClientImportSourceEnabled::Off)?;
        cmd("CONFIG SET").arg(["import-mode", "no"]).exec(con)?;
    }
    if ctx.has("DELIFEQ") {
        // The filters Valkey 9 added to CLIENT LIST and CLIENT KILL.
        let named: String =
            con.client_list_options(c::ClientListOptions::default().name("typed"))?;
        assert_eq!(named.lines().count(), 1, "{named}");
        let killed: i64 = con.client_kill(c::ClientKillFilter::NewFormat(vec![
            c::ClientKillFilterNewFormat::Name(respec::Args::new("nobody-has-this-name")),
        ]))?;
        assert_eq!(killed, 0);
    }
    con.client_pause_options(50, c::ClientPauseOptions::default().write())?;
    con.client_unpause()?;
    con.client_pause(1)?;

    // Tracking and caching.
    con.client_tracking_options(
        c::ClientTrackingStatus::On,
        c::ClientTrackingOptions::default().redirect(id).optin(),
    )?;
    con.client_caching(c::ClientCachingMode::Yes)?;
    assert_eq!(con.client_getredir()?, id);
    let tracking: HashMap<String, Value> = con.client_trackinginfo()?;
    assert!(tracking.contains_key("flags"));
    con.client_tracking(c::ClientTrackingStatus::Off)?;
    assert_eq!(con.client_getredir()?, -1);

    // Unblock a client blocked in BLPOP, then kill it.
    let mut blocked = ctx.other();
    let blocked_id: i64 = cmd("CLIENT ID").query(&mut blocked)?;
    let waiter = std::thread::spawn(move || {
        let reply = cmd("BLPOP")
            .key("never")
            .arg(5)
            .query::<Value>(&mut blocked);
        (reply, blocked)
    });
    while !cmd("CLIENT LIST")
        .query::<String>(con)?
        .contains("cmd=blpop")
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(con.client_unblock_options(blocked_id, c::ClientUnblockOptions::default().error())?);
    let (reply, still_open) = waiter.join().expect("the blocked thread ends");
    assert_eq!(reply.unwrap_err().code(), Some("UNBLOCKED"));
    assert!(!con.client_unblock(blocked_id)?);
    let killed: i64 = con.client_kill(c::ClientKillFilter::NewFormat(vec![
        c::ClientKillFilterNewFormat::Id(blocked_id),
    ]))?;
    assert_eq!(killed, 1);
    assert!(cmd("PING").exec(&mut { still_open }).is_err());

    // AUTH as an ACL user and back; the default user has no password here.
    cmd("ACL SETUSER")
        .arg("typed-user")
        .arg(["on", ">secret", "~*", "+@all"])
        .exec(con)?;
    con.auth_options("secret", c::AuthOptions::default().username("typed-user"))?;
    assert_eq!(cmd("ACL WHOAMI").query::<String>(con)?, "typed-user");
    con.auth_options("anything", c::AuthOptions::default().username("default"))?;
    let err = con.auth("wrong").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server, "{err}");
    cmd("ACL DELUSER").arg("typed-user").exec(con)?;
    Ok(())
}

fn pubsub(con: &mut Recorder<'_>, ctx: &Ctx) -> R {
    let mut subscriber = ctx.other();
    cmd("SUBSCRIBE").arg("news").exec(&mut subscriber)?;
    let mut shard_subscriber = ctx.other();
    cmd("SSUBSCRIBE")
        .arg("shard-news")
        .exec(&mut shard_subscriber)?;
    assert_eq!(con.publish("news", "hello")?, 1);
    assert_eq!(con.publish("nobody", "hello")?, 0);
    assert_eq!(con.spublish("shard-news", "hi")?, 1);
    assert_eq!(con.pubsub_channels::<Vec<String>>()?, ["news"]);
    assert_eq!(
        con.pubsub_channels_options::<Vec<String>>(
            c::PubsubChannelsOptions::default().pattern("n*")
        )?,
        ["news"]
    );
    let counts: BTreeMap<String, i64> =
        con.pubsub_numsub_options(c::PubsubNumsubOptions::default().channel(["news", "other"]))?;
    assert_eq!(
        counts,
        BTreeMap::from([("news".to_owned(), 1), ("other".to_owned(), 0)])
    );
    assert_eq!(con.pubsub_numsub::<Vec<Value>>()?.len(), 0);
    assert_eq!(con.pubsub_numpat()?, 0);
    assert_eq!(con.pubsub_shardchannels::<Vec<String>>()?, ["shard-news"]);
    assert_eq!(
        con.pubsub_shardchannels_options::<Vec<String>>(
            c::PubsubShardchannelsOptions::default().pattern("x*")
        )?
        .len(),
        0
    );
    let counts: HashMap<String, i64> = con.pubsub_shardnumsub_options(
        c::PubsubShardnumsubOptions::default().shardchannel("shard-news"),
    )?;
    assert_eq!(counts["shard-news"], 1);
    assert_eq!(con.pubsub_shardnumsub::<Vec<Value>>()?.len(), 0);
    assert!(!con.pubsub_help::<Vec<String>>()?.is_empty());
    Ok(())
}
