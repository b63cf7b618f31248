//! A short tour of respec. Run it with `cargo xtask demo`, which starts a throwaway
//! server, or point it at your own with `REDIS_URL=redis://... cargo run --example tour`
//! (it only touches keys under `tour:` and deletes them at the end).

use std::collections::HashMap;

use respec::commands::{SetOptions, ZrangeOptions};
use respec::{Client, Commands, ErrorKind, ProtocolVersion, Value};

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

    let deleted = con.del([
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
