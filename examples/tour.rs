//! A short tour of respec. Run it with `cargo xtask demo`, which starts a throwaway
//! server, or point it at your own with `REDIS_URL=redis://... cargo run --example tour`
//! (it only touches keys under `tour:` and deletes them at the end).

use std::collections::HashMap;

use std::time::Duration;

use respec::commands::{ScanOptions, SetOptions, ZrangeOptions};
use respec::{Client, Commands, ErrorKind, ProtocolVersion, ScanCommands, Script, Value};

fn main() -> respec::Result<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    run(&url)
}

/// The tour itself, also run by the test suite.
pub(crate) fn run(url: &str) -> respec::Result<()> {
    // A client parses the URL once; each connection it opens is set up and ready.
    let client = Client::open(url)?;
    println!("connecting to {}", client.connection_info());
    let mut con = client.get_connection()?;

    // Every command is a typed method generated from the server's command spec.
    println!("PING -> {}", con.ping()?);
    con.set("tour:greeting", "hello")?;
    let greeting: Option<String> = con.get("tour:greeting")?;
    let missing: Option<String> = con.get("tour:nothing")?;
    println!("GET tour:greeting -> {greeting:?}, GET tour:nothing -> {missing:?}");

    // Where the protocol fixes the reply, so does the method: INCRBY gives an i64.
    let visits = con.incrby("tour:visits", 5)?;
    println!("INCRBY tour:visits 5 -> {visits}");

    // Optional arguments gather in an options type with builder methods.
    let created: bool = con.set_options("tour:lock", "me", SetOptions::default().nx().ex(30))?;
    let again: bool = con.set_options("tour:lock", "you", SetOptions::default().nx().ex(30))?;
    println!("SET tour:lock NX EX 30 -> {created}, then {again}");

    // Collections flatten into arguments; hashes come back as maps.
    con.hset("tour:user", [("name", "Ada"), ("lang", "Rust")])?;
    let fields: HashMap<String, String> = con.hgetall("tour:user")?;
    println!(
        "HGETALL tour:user -> {} fields, name = {}",
        fields.len(),
        fields["name"]
    );

    con.zadd(
        "tour:scores",
        [(10.0, "ada"), (7.5, "grace"), (9.0, "alan")],
    )?;
    let top: Vec<(String, f64)> = con.zrange_options(
        "tour:scores",
        0,
        1,
        ZrangeOptions::default().rev().withscores(),
    )?;
    println!("top two scores -> {top:?}");

    // Binary data goes in and out unchanged.
    let blob = [0u8, 159, 146, 150, b'\r', b'\n'];
    con.set("tour:blob", &blob[..])?;
    let back: Vec<u8> = con.get("tour:blob")?;
    assert_eq!(back, blob);
    println!("binary value of {} bytes round-tripped", back.len());

    // A pipeline sends many commands in one write and types the replies together.
    let (len, score): (i64, Option<f64>) = respec::pipe()
        .strlen("tour:greeting")
        .zscore("tour:scores", "alan")
        .query(&mut con)?;
    println!("pipelined STRLEN and ZSCORE -> {len}, {score:?}");

    // Error replies are typed: code and kind, no string matching needed.
    let err = con.lpush("tour:greeting", "x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    println!(
        "LPUSH on a string -> {} error: {err}",
        err.code().unwrap_or("?")
    );

    // RESP3 brings real maps, sets, doubles and booleans.
    let mut info = client.connection_info().clone();
    info.protocol = ProtocolVersion::Resp3;
    let mut resp3 = Client::open(info)?.get_connection()?;
    let raw: Value = resp3.hgetall("tour:user")?;
    println!("HGETALL over RESP3 -> {raw:?}");

    // Anything the typed surface does not cover goes through `cmd`.
    let kind: String = respec::cmd("OBJECT")
        .arg("ENCODING")
        .key("tour:visits")
        .query(&mut con)?;
    println!("OBJECT ENCODING tour:visits -> {kind}");

    // The client pools connections; commands run on it directly, from any thread.
    let mut shared = client.clone();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let mut client = client.clone();
            scope.spawn(move || {
                for _ in 0..25 {
                    client.incr("tour:hits").expect("INCR works");
                }
            });
        }
    });
    println!(
        "4 threads x 25 INCR on one client -> {}",
        shared.get::<i64>("tour:hits")?
    );

    // An optimistic transaction: WATCH, read, queue, EXEC, retried on a conflict.
    let (doubled,): (i64,) = client.transaction("tour:hits", |con, pipe| {
        let hits: i64 = con.get("tour:hits")?;
        pipe.set("tour:hits", hits * 2).ignore().get("tour:hits");
        Ok(())
    })?;
    println!("transaction doubled the hits -> {doubled}");

    // Scripts are called by SHA1 and loaded when the server does not know them.
    let bump = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    let bumped: i64 = bump.key("tour:hits").arg(1).invoke(&mut con)?;
    println!("script INCRBY -> {bumped}");

    // Scans are iterators that follow the cursor to the end.
    let mut keys: Vec<String> = con
        .scan_iter(ScanOptions::default().pattern("tour:*"))
        .collect::<respec::Result<_>>()?;
    keys.sort();
    println!("SCAN tour:* -> {keys:?}");

    // A distributed lock, released when its guard is dropped.
    {
        let _guard = client
            .lock("tour:lock-key")
            .timeout(Some(Duration::from_secs(10)))
            .acquire_guard()?;
        println!(
            "holding tour:lock-key -> {}",
            client.lock("tour:lock-key").locked()?
        );
    }

    // Pub/sub on its own connection; subscriptions survive reconnects.
    let mut pubsub = client.pubsub().ignore_subscribe_messages(true);
    pubsub.subscribe("tour:news")?;
    while shared.publish("tour:news", "hello subscribers")? == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    if let Some(message) = pubsub.get_message(Duration::from_secs(1))? {
        println!(
            "pub/sub -> {}: {}",
            message.channel_name().unwrap_or("?"),
            message.payload::<String>()?
        );
    }

    let deleted = con.del([
        "tour:hits",
        "tour:greeting",
        "tour:visits",
        "tour:lock",
        "tour:user",
        "tour:scores",
        "tour:blob",
    ])?;
    println!("cleaned up {deleted} keys");
    Ok(())
}
