//! Key extraction from the command table, checked against the live server's
//! `COMMAND GETKEYS` for every key-spec form: index and keyword starts; ranges to the end,
//! with steps and with limits; key counts (`numkeys`); and SORT's unknown spec. The keys
//! that generated constructors mark must agree with both.

mod support;

use respec::commands::{self as c};
use respec::{Cmd, Connection, ErrorKind, ProtocolVersion, cmd};

/// The keys the table finds in `args`.
fn local_keys(args: &[&str]) -> Vec<String> {
    let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let info = c::lookup(bytes[0], bytes.get(1).copied())
        .unwrap_or_else(|| panic!("{} is not in the table", args[0]));
    info.key_indices(&bytes)
        .into_iter()
        .map(|idx| args[idx].to_owned())
        .collect()
}

/// The keys the server finds, or none when it says the command has none.
fn server_keys(con: &mut Connection, args: &[&str]) -> Vec<String> {
    match cmd("COMMAND GETKEYS").arg(args).query::<Vec<String>>(con) {
        Ok(keys) => keys,
        Err(e) if e.kind() == ErrorKind::Server => Vec::new(),
        Err(e) => panic!("COMMAND GETKEYS {args:?}: {e}"),
    }
}

/// Invocations covering every key-spec form, many with varying numbers of keys.
fn invocations() -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut add = |words: &[&str]| out.push(words.iter().map(|w| (*w).to_owned()).collect());
    // begin_search index, find_keys range with lastkey 0.
    for single in [
        &["GET", "k"][..],
        &["SET", "k", "v", "NX", "EX", "10"],
        &["INCR", "counter"],
        &["LPUSH", "list", "a", "b"],
        &["HSET", "h", "f", "v", "g", "w"],
        &["ZADD", "z", "1", "m"],
        &["XADD", "s", "*", "f", "v"],
        &["EXPIRE", "k", "10"],
        &["TYPE", "k"],
        &["GETEX", "k", "PERSIST"],
        &["SETRANGE", "k", "0", "v"],
        &["BITFIELD", "bf", "GET", "u8", "0"],
        &["BITFIELD_RO", "bf", "GET", "u8", "0"],
        &["GEOADD", "geo", "1", "2", "m"],
        &["PFADD", "hll", "a"],
        &["OBJECT", "ENCODING", "k"],
        &["MEMORY", "USAGE", "k"],
        &["XINFO", "STREAM", "s"],
        &["XGROUP", "CREATE", "s", "g", "0"],
        &["XGROUP", "SETID", "s", "g", "$"],
        &["XAUTOCLAIM", "s", "g", "c", "0", "0"],
        &["XCLAIM", "s", "g", "c", "0", "1-1"],
        &["SINTERSTORE", "dst", "a", "b"],
        &["RESTORE", "k", "0", "payload"],
        &["DUMP", "k"],
    ] {
        add(single);
    }
    // Ranges to the end: every argument a key, in growing numbers.
    for cmd_name in [
        "DEL", "EXISTS", "MGET", "TOUCH", "UNLINK", "SINTER", "SUNION", "SDIFF", "PFCOUNT", "WATCH",
    ] {
        for n in 1..=4 {
            let mut words = vec![cmd_name];
            words.extend(["k1", "k2", "k3", "k4"].iter().take(n));
            add(&words);
        }
    }
    // Step 2: keys and values alternate.
    for n in 1..=3 {
        let mut words = vec!["MSET"];
        words.extend(["a", "1", "b", "2", "c", "3"].iter().take(n * 2));
        add(&words);
        words[0] = "MSETNX";
        add(&words);
    }
    // lastkey -2: keys up to the timeout.
    for name in ["BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX"] {
        add(&[name, "a", "0"]);
        add(&[name, "a", "b", "c", "0"]);
    }
    // Two index specs, or an index and a range.
    for pair in [
        &["RENAME", "a", "b"][..],
        &["RENAMENX", "a", "b"],
        &["COPY", "a", "b", "REPLACE"],
        &["SMOVE", "a", "b", "m"],
        &["LMOVE", "a", "b", "LEFT", "RIGHT"],
        &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"],
        &["RPOPLPUSH", "a", "b"],
        &["LCS", "a", "b"],
        &["ZRANGESTORE", "dst", "src", "0", "-1"],
        &[
            "GEOSEARCHSTORE",
            "dst",
            "src",
            "FROMMEMBER",
            "m",
            "BYRADIUS",
            "1",
            "km",
        ],
        &["BITOP", "AND", "dst", "a"],
        &["BITOP", "OR", "dst", "a", "b", "c"],
        &["SUNIONSTORE", "dst", "a", "b"],
        &["PFMERGE", "dst", "a", "b"],
    ] {
        add(pair);
    }
    // begin_search keyword, with a limit: half of what follows STREAMS are keys.
    add(&["XREAD", "STREAMS", "a", "0"]);
    add(&["XREAD", "COUNT", "2", "STREAMS", "a", "b", "0", "0"]);
    add(&[
        "XREAD", "COUNT", "2", "BLOCK", "10", "STREAMS", "a", "b", "c", "0", "0", "0",
    ]);
    add(&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", ">"]);
    add(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "COUNT",
        "1",
        "STREAMS",
        "a",
        "b",
        ">",
        ">",
    ]);
    // Keyword searched from the end (MIGRATE's KEYS form) and from a fixed start (STORE).
    add(&["MIGRATE", "127.0.0.1", "1", "k", "0", "5"]);
    add(&["MIGRATE", "127.0.0.1", "1", "", "0", "5", "KEYS", "a", "b"]);
    add(&[
        "MIGRATE",
        "127.0.0.1",
        "1",
        "",
        "0",
        "5",
        "COPY",
        "REPLACE",
        "KEYS",
        "a",
    ]);
    add(&["GEORADIUS", "geo", "0", "0", "1", "km", "STORE", "dst"]);
    add(&["GEORADIUS", "geo", "0", "0", "1", "km", "STOREDIST", "dst"]);
    add(&["GEORADIUS", "geo", "0", "0", "1", "km"]);
    add(&["GEORADIUSBYMEMBER", "geo", "m", "1", "km", "STORE", "dst"]);
    add(&["GEORADIUSBYMEMBER", "geo", "m", "1", "km", "WITHDIST"]);
    // find_keys keynum: the count is an argument.
    for n in 0..=3 {
        let keys = ["k1", "k2", "k3"];
        let count = n.to_string();
        let mut eval = vec!["EVAL", "return 1", &count];
        eval.extend(keys.iter().take(n));
        eval.push("arg");
        add(&eval);
        eval[0] = "EVAL_RO";
        add(&eval);
        let mut fcall = vec!["FCALL", "f", &count];
        fcall.extend(keys.iter().take(n));
        add(&fcall);
    }
    for name in ["ZUNION", "ZINTER", "ZDIFF", "SINTERCARD", "ZINTERCARD"] {
        add(&[name, "1", "a"]);
        add(&[name, "2", "a", "b"]);
    }
    for name in ["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"] {
        add(&[name, "dst", "1", "a"]);
        add(&[name, "dst", "2", "a", "b"]);
    }
    add(&["ZUNIONSTORE", "dst", "2", "a", "b", "WEIGHTS", "1", "2"]);
    add(&["LMPOP", "2", "a", "b", "LEFT"]);
    add(&["BLMPOP", "0", "1", "a", "RIGHT", "COUNT", "2"]);
    add(&["ZMPOP", "2", "a", "b", "MIN"]);
    add(&["BZMPOP", "0", "3", "a", "b", "c", "MAX"]);
    add(&[
        "EVALSHA",
        "0000000000000000000000000000000000000000",
        "2",
        "a",
        "b",
    ]);
    // SORT: the unknown spec (BY/GET patterns are not keys; STORE's destination is).
    add(&["SORT", "k"]);
    add(&["SORT", "k", "BY", "w_*", "GET", "#", "LIMIT", "0", "2"]);
    add(&["SORT", "k", "ALPHA", "STORE", "dst"]);
    add(&["SORT", "k", "BY", "w_*", "STORE", "dst", "GET", "d_*"]);
    add(&["SORT_RO", "k", "BY", "w_*"]);
    // Commands with no keys.
    add(&["PING"]);
    add(&["CLIENT", "LIST"]);
    add(&["PUBLISH", "channel", "message"]);
    out
}

#[test]
fn key_extraction_agrees_with_the_server() {
    let server = support::RedisServer::start();
    let mut con = support::connect(&server, ProtocolVersion::Resp2);
    let cases = invocations();
    let mut compared = 0;
    for case in &cases {
        let args: Vec<&str> = case.iter().map(String::as_str).collect();
        let local = local_keys(&args);
        let remote = server_keys(&mut con, &args);
        assert_eq!(local, remote, "keys of {args:?}");
        compared += 1;
    }
    eprintln!("{compared} invocations agree with COMMAND GETKEYS");
    assert!(compared >= 100, "only {compared} invocations");
}

#[test]
fn a_key_count_over_groups_counts_groups_not_arguments() {
    // MSETEX numkeys key value [key value ...]: the count is of pairs, every other
    // argument a key.
    let args = ["MSETEX", "2", "a", "x", "b", "y", "EX", "10"];
    assert_eq!(local_keys(&args), ["a", "b"]);
    let server = support::RedisServer::start();
    let mut con = support::connect(&server, ProtocolVersion::Resp2);
    let known = cmd("COMMAND INFO")
        .arg("MSETEX")
        .query::<Vec<Option<respec::Value>>>(&mut con)
        .is_ok_and(|info| info.first().is_some_and(Option::is_some));
    if support::server_has("MSETEX", known) {
        assert_eq!(server_keys(&mut con, &args), ["a", "b"]);
    }
}

#[test]
fn shard_channels_route_like_keys() {
    // SPUBLISH's channel is a NOT_KEY spec: no key for the server, but the slot decides
    // where it goes, so the table reports it.
    assert_eq!(local_keys(&["SPUBLISH", "news", "hi"]), ["news"]);
}

/// The arguments of a command, as text.
fn words(cmd: &Cmd) -> Vec<String> {
    cmd.args()
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

#[test]
#[allow(deprecated)] // GEORADIUS's STORE is one of the forms under test.
fn generated_constructors_mark_the_keys_the_server_finds() {
    let server = support::RedisServer::start();
    let mut con = support::connect(&server, ProtocolVersion::Resp2);
    let cmds = [
        c::get("k"),
        c::del(["a", "b", "c"]),
        c::mset([("a", 1), ("b", 2)]),
        c::blpop(["a", "b"], 0.5),
        c::xread_options(
            ["s1", "s2"],
            ["0", "0"],
            c::XreadOptions::default().count(5),
        ),
        c::eval_options(
            "return 1",
            c::EvalOptions::default().key(["a", "b"]).arg("x"),
        ),
        c::fcall_options("f", c::FcallOptions::default().key("a")),
        c::zunionstore_options(
            "dst",
            ["a", "b"],
            c::ZunionstoreOptions::default().weights(1).weights(2),
        ),
        c::lmpop(["a", "b"], c::LmpopWhere::Left),
        c::bitop(c::BitopOperation::Or, "dst", ["a", "b"]),
        c::sort_options(
            "k",
            c::SortOptions::default().by("w_*").get("#").store("dst"),
        ),
        c::georadius_options(
            "geo",
            1.0,
            2.0,
            3.0,
            c::GeoradiusUnit::Km,
            c::GeoradiusOptions::default().storedist("dst"),
        ),
        c::migrate_options(
            "127.0.0.1",
            1,
            c::MigrateKeySelector::EmptyString,
            0,
            5,
            c::MigrateOptions::default().keys(["a", "b"]),
        ),
        c::migrate("127.0.0.1", 1, c::MigrateKeySelector::key("k"), 0, 5),
        c::object_encoding("k"),
        c::xgroup_create("s", "g", c::XgroupCreateIdSelector::NewId),
        c::copy("src", "dst"),
    ];
    for built in &cmds {
        let args = words(built);
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let marked: Vec<String> = built
            .keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        assert_eq!(marked, local_keys(&arg_refs), "marked keys of {args:?}");
        assert_eq!(
            marked,
            server_keys(&mut con, &arg_refs),
            "server keys of {args:?}"
        );
    }
}

/// Entries learned from the server's own `COMMAND INFO` agree with the generated table
/// on what routing reads: arity, key specs, routing tips, subcommands.
#[test]
fn entries_learned_from_command_info_agree_with_the_table() {
    let overrides =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/spec/overrides.json"))
            .unwrap();
    let overrides: serde_json::Value = serde_json::from_str(&overrides).unwrap();
    let tips_added: Vec<&str> = overrides["cluster"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(tips_added.contains(&"CLIENT PAUSE"));
    let server = support::RedisServer::start();
    for protocol in support::PROTOCOLS {
        let mut con = support::connect(&server, protocol);
        let names = ["GET", "MSET", "DBSIZE", "XREAD", "EVAL", "LMPOP", "CLIENT"];
        let reply: respec::Value = cmd("COMMAND INFO").arg(names).query(&mut con).unwrap();
        let learned = c::CommandInfo::learn(reply).unwrap();
        // CLIENT comes with its subcommands.
        assert!(learned.len() > names.len(), "{}", learned.len());
        let mut unknown = Vec::new();
        for entry in &learned {
            let words: Vec<&[u8]> = entry.name.split(' ').map(str::as_bytes).collect();
            let table = c::lookup(words[0], words.get(1).copied()).unwrap();
            if entry.name != table.name {
                // A subcommand newer than the spec: the table finds its container.
                assert_eq!(table.name, "CLIENT", "{protocol:?}: {}", entry.name);
                unknown.push(entry.name);
                continue;
            }
            assert_eq!(entry.key_specs, table.key_specs, "{}", entry.name);
            assert_eq!(entry.subcommands, table.subcommands, "{}", entry.name);
            // Redis 7.0 gives CLIENT SETNAME no tips; the spec (Valkey 8.0) does. The
            // project adds the tips the spec lacks (spec/overrides.json, "cluster").
            if entry.name != "CLIENT SETNAME" && !tips_added.contains(&entry.name) {
                assert_eq!(entry.request_policy, table.request_policy, "{}", entry.name);
                assert_eq!(
                    entry.response_policy, table.response_policy,
                    "{}",
                    entry.name
                );
            }
            assert_eq!(entry.arity, table.arity, "{}", entry.name);
            for flag in [
                c::CommandFlags::WRITE,
                c::CommandFlags::READONLY,
                c::CommandFlags::BLOCKING,
                c::CommandFlags::FAST,
            ] {
                assert_eq!(
                    entry.flags.contains(flag),
                    table.flags.contains(flag),
                    "{} {flag:?}",
                    entry.name
                );
            }
        }
        eprintln!("{protocol:?}: subcommands the table does not know: {unknown:?}");
        // The generated table stays what lookups find for the commands it knows.
        let get = c::all().iter().find(|info| info.name == "GET").unwrap();
        assert!(std::ptr::eq(c::lookup(b"GET", None).unwrap(), get));
    }
}

/// A command the table does not know (a module's) has no entry, until one is learned
/// from `COMMAND INFO`; from then on commands built for it find it, and its keys.
#[test]
fn a_command_the_table_does_not_know_is_routed_from_a_learned_entry() {
    use respec::Value;
    let text = |s: &str| Value::BulkString(bytes::Bytes::copy_from_slice(s.as_bytes()));
    let int = Value::Int;
    let array = Value::Array;
    assert!(cmd("JSONX.GET").key("doc").info().is_none());
    // What a server with a JSON module answers, in RESP2's flat form.
    let reply = array(vec![array(vec![
        text("jsonx.get"),
        int(-2),
        array(vec![text("readonly")]),
        int(1),
        int(1),
        int(1),
        array(vec![text("@json")]),
        array(vec![]),
        array(vec![array(vec![
            text("flags"),
            array(vec![text("RO"), text("access")]),
            text("begin_search"),
            array(vec![
                text("type"),
                text("index"),
                text("spec"),
                array(vec![text("index"), int(1)]),
            ]),
            text("find_keys"),
            array(vec![
                text("type"),
                text("range"),
                text("spec"),
                array(vec![
                    text("lastkey"),
                    int(0),
                    text("keystep"),
                    int(1),
                    text("limit"),
                    int(0),
                ]),
            ]),
        ])]),
        array(vec![]),
    ])]);
    let learned = c::CommandInfo::learn(reply).unwrap();
    assert_eq!(learned.len(), 1);
    let info = cmd("JSONX.GET").key("doc").arg("$").info().unwrap();
    assert!(std::ptr::eq(info, learned[0]));
    assert!(info.is_readonly());
    assert_eq!(info.key_indices(&[b"JSONX.GET", b"doc", b"$"]), [1]);
    // A malformed reply is an error, not a panic.
    let err = c::CommandInfo::learn(Value::Int(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    let err = c::CommandInfo::learn(array(vec![array(vec![text("x")])])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
}
