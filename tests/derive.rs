//! `#[derive(FromRedisValue)]` and `#[derive(ToRedisArgs)]` round trips against a real
//! server, under RESP2 and RESP3, and their errors.

mod support;

use std::collections::BTreeMap;

use respec::{Commands, ErrorKind, FromRedisValue, ToRedisArgs, Value};
use serde::{Deserialize, Serialize};
use support::{RedisServer, each_protocol};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Preferences {
    theme: String,
    languages: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, FromRedisValue, ToRedisArgs)]
struct User {
    name: String,
    #[redis(rename = "years")]
    age: u32,
    active: bool,
    score: f64,
    nickname: Option<String>,
    #[redis(default)]
    visits: u64,
    #[redis(json)]
    preferences: Preferences,
    status: Status,
}

#[derive(Debug, Clone, Copy, PartialEq, FromRedisValue, ToRedisArgs)]
#[redis(rename_all = "snake_case")]
enum Status {
    Active,
    OnHold,
    #[redis(rename = "gone")]
    Deleted,
}

fn ada() -> User {
    User {
        name: "Ada".into(),
        age: 36,
        active: true,
        score: 9.5,
        nickname: None,
        visits: 0,
        preferences: Preferences {
            theme: "dark".into(),
            languages: vec!["en".into(), "fr".into()],
        },
        status: Status::OnHold,
    }
}

#[test]
fn a_struct_stored_as_a_hash_reads_back() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        let user = ada();
        con.hset("user:1", &user).unwrap();
        // Stored field by field, renamed, the None field left out, the JSON field as JSON.
        let stored: BTreeMap<String, String> = con.hgetall("user:1").unwrap();
        assert_eq!(stored["years"], "36");
        assert_eq!(stored["active"], "1");
        assert_eq!(stored["status"], "on_hold");
        assert_eq!(
            stored["preferences"],
            r#"{"theme":"dark","languages":["en","fr"]}"#
        );
        assert!(!stored.contains_key("nickname") && !stored.contains_key("age"));
        assert_eq!(con.hgetall::<User>("user:1").unwrap(), user);

        // Option and default fields: present when set, defaulted when absent.
        let with_nickname = User {
            nickname: Some("Countess".into()),
            visits: 3,
            ..ada()
        };
        con.hset("user:2", &with_nickname).unwrap();
        assert_eq!(con.hgetall::<User>("user:2").unwrap(), with_nickname);
        con.hdel("user:2", ["nickname", "visits"]).unwrap();
        let read: User = con.hgetall("user:2").unwrap();
        assert_eq!((read.nickname, read.visits), (None, 0));

        // Unknown fields are ignored.
        con.hset("user:1", [("extra", "ignored")]).unwrap();
        assert_eq!(con.hgetall::<User>("user:1").unwrap(), user);
    });
}

#[derive(Debug, PartialEq, FromRedisValue, ToRedisArgs)]
#[redis(rename_all = "camelCase")]
struct Profile {
    display_name: String,
    follower_count: i64,
}

#[test]
fn rename_all_applies_both_ways() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        let profile = Profile {
            display_name: "ada".into(),
            follower_count: 1815,
        };
        con.hset("p", &profile).unwrap();
        let keys: Vec<String> = con.hkeys("p").unwrap();
        assert_eq!(
            keys.iter()
                .map(String::as_str)
                .collect::<std::collections::BTreeSet<_>>(),
            ["displayName", "followerCount"].into()
        );
        assert_eq!(con.hgetall::<Profile>("p").unwrap(), profile);
    });
}

#[derive(Debug, PartialEq, FromRedisValue)]
struct NameAndYears(String, u32);

#[derive(Debug, PartialEq, FromRedisValue, ToRedisArgs)]
struct UserId(u64);

#[test]
fn tuple_structs_from_hmget_and_transparent_newtypes() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        con.hset("user:1", ada()).unwrap();
        let pair: NameAndYears = con.hmget("user:1", ["name", "years"]).unwrap();
        assert_eq!(pair, NameAndYears("Ada".into(), 36));
        let err = con.hmget::<NameAndYears>("user:1", ["name"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conversion);
        assert!(err.to_string().contains("expected 2 elements"), "{err}");

        con.set("next-id", UserId(41)).unwrap();
        assert_eq!(con.incr("next-id").unwrap(), 42);
        assert_eq!(con.get::<UserId>("next-id").unwrap(), UserId(42));
    });
}

#[derive(Debug, PartialEq, FromRedisValue)]
#[redis(rename_all = "lowercase")]
enum Kind {
    String,
    List,
}

#[test]
fn enums_from_get() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        for status in [Status::Active, Status::OnHold, Status::Deleted] {
            con.set("status", status).unwrap();
            assert_eq!(con.get::<Status>("status").unwrap(), status);
        }
        assert_eq!(con.get::<String>("status").unwrap(), "gone");
        // A simple-string reply names a variant as well as a bulk string does.
        con.rpush("l", "x").unwrap();
        assert_eq!(con.key_type::<Kind>("status").unwrap(), Kind::String);
        assert_eq!(con.key_type::<Kind>("l").unwrap(), Kind::List);
    });
}

#[derive(Debug, PartialEq, Serialize, Deserialize, FromRedisValue, ToRedisArgs)]
#[redis(json)]
struct Settings {
    retries: u8,
    endpoints: Vec<String>,
}

#[test]
fn json_structs_are_one_bulk_string() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        let settings = Settings {
            retries: 3,
            endpoints: vec!["a".into(), "b".into()],
        };
        con.set("settings", &settings).unwrap();
        assert_eq!(
            con.get::<String>("settings").unwrap(),
            r#"{"retries":3,"endpoints":["a","b"]}"#
        );
        assert_eq!(con.get::<Settings>("settings").unwrap(), settings);
        con.set("settings", "{not json").unwrap();
        let err = con.get::<Settings>("settings").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conversion);
        assert!(
            err.to_string()
                .starts_with("cannot decode JSON into Settings"),
            "{err}"
        );
    });
}

#[test]
fn conversion_errors_name_the_struct_and_field() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        con.hset("u", [("name", "Ada"), ("years", "36")]).unwrap();
        let err = con.hgetall::<User>("u").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conversion);
        assert_eq!(
            err.to_string(),
            "cannot convert to `User`: the reply has no field `active`"
        );

        con.hset("u", [("years", "old"), ("active", "1"), ("score", "1")])
            .unwrap();
        let err = con.hgetall::<User>("u").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"field `years` of `User`: cannot convert bulk string "old" to u32"#
        );

        con.set("status", "paused").unwrap();
        let err = con.get::<Status>("status").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"cannot convert bulk string "paused" to Status (expected one of: active, on_hold, gone)"#
        );
        // A missing key is nil: not a struct, and said so.
        let err = con.hgetall::<User>("missing").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conversion);
        assert_eq!(con.get::<Option<Status>>("missing").unwrap(), None);
    });
}

#[derive(Debug, PartialEq, FromRedisValue, ToRedisArgs)]
struct Tagged<T> {
    tag: String,
    value: T,
}

#[test]
fn generic_structs_get_their_bounds_from_their_fields() {
    let reply = Value::Array(
        ["tag", "answer", "value", "42"]
            .map(|s| Value::BulkString(s.into()))
            .to_vec(),
    );
    let tagged: Tagged<i64> = respec::from_redis_value(reply).unwrap();
    assert_eq!(
        tagged,
        Tagged {
            tag: "answer".into(),
            value: 42
        }
    );
    let mut args: Vec<Vec<u8>> = Vec::new();
    tagged.write_redis_args(&mut args);
    assert_eq!(args, [&b"tag"[..], b"answer", b"value", b"42"]);
}

mod reexported {
    pub(crate) use respec as inner;
}

#[derive(Debug, PartialEq, FromRedisValue, ToRedisArgs)]
#[redis(crate = "crate::reexported::inner")]
struct ThroughReexport {
    id: u32,
}

#[test]
fn the_crate_path_can_be_given() {
    let reply = Value::Map(vec![(Value::SimpleString("id".into()), Value::Int(7))]);
    assert_eq!(
        ThroughReexport::from_redis_value(reply).unwrap(),
        ThroughReexport { id: 7 }
    );
}

/// A field JSON cannot hold: its map keys are not strings.
#[derive(Debug, ToRedisArgs)]
struct Grid {
    name: String,
    #[redis(json)]
    cells: std::collections::HashMap<(u8, u8), u8>,
}

#[derive(Debug, Serialize, ToRedisArgs)]
#[redis(json)]
struct Board {
    cells: std::collections::HashMap<(u8, u8), u8>,
}

// Issue 20, item 11: a field serde_json refuses was stored as `null`.
#[test]
fn json_that_cannot_be_written_is_refused_and_nothing_is_sent() {
    let server = RedisServer::start();
    let grid = Grid {
        name: "g".into(),
        cells: [((1, 2), 3)].into(),
    };
    let board = Board {
        cells: [((1, 2), 3)].into(),
    };
    each_protocol(&server, |con, _| {
        let err = con.hset("grid", &grid).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(
            err.to_string()
                .starts_with("cannot send HSET: field `cells` of `Grid` cannot be written as JSON"),
            "{err}"
        );
        let err = con.set("board", &board).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot send SET: `Board` cannot be written as JSON"),
            "{err}"
        );
        // A pipeline holding such a command sends none of its commands.
        let err = respec::pipe()
            .set("before", 1)
            .hset("grid", &grid)
            .set("after", 1)
            .query::<()>(con)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().starts_with("cannot send HSET"), "{err}");
        // The connection is still good, and nothing reached the server.
        assert_eq!(con.exists(["grid", "board", "before", "after"]).unwrap(), 0);
    });
}

#[tokio::test]
async fn json_that_cannot_be_written_is_refused_on_async_connections() {
    use respec::AsyncCommands;
    let server = RedisServer::start();
    let client = respec::Client::open(server.url()).unwrap();
    let grid = Grid {
        name: "g".into(),
        cells: [((1, 2), 3)].into(),
    };
    let mut multiplexed = client.get_multiplexed_async_connection().await.unwrap();
    let err = multiplexed.hset("grid", &grid).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let mut single = client.get_async_connection().await.unwrap();
    let err = respec::pipe()
        .hset("grid", &grid)
        .query_async::<()>(&mut *single)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(multiplexed.exists("grid").await.unwrap(), 0);
    assert_eq!(single.ping().await.unwrap(), "PONG");
}
