//! A short tour of respec. Run it with `cargo xtask demo`, which starts a throwaway
//! server, or point it at your own with `REDIS_URL=redis://... cargo run --example tour`
//! (it only touches keys under `tour:` and deletes them at the end).

use std::collections::HashMap;

use respec::{Client, ConnectionLike, ErrorKind, ProtocolVersion, Value, cmd};

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

    // Raw commands with typed replies: the annotation picks the conversion.
    let pong: String = cmd("PING").query(&mut con)?;
    println!("PING -> {pong}");

    cmd("SET")
        .key("tour:greeting")
        .arg("hello")
        .exec(&mut con)?;
    let greeting: Option<String> = cmd("GET").key("tour:greeting").query(&mut con)?;
    let missing: Option<String> = cmd("GET").key("tour:nothing").query(&mut con)?;
    println!("GET tour:greeting -> {greeting:?}, GET tour:nothing -> {missing:?}");

    let visits: i64 = cmd("INCRBY").key("tour:visits").arg(5).query(&mut con)?;
    println!("INCRBY tour:visits 5 -> {visits}");

    // Collections flatten into arguments; hashes come back as maps.
    let user = [("name", "Ada"), ("lang", "Rust")];
    cmd("HSET").key("tour:user").arg(user).exec(&mut con)?;
    let fields: HashMap<String, String> = cmd("HGETALL").key("tour:user").query(&mut con)?;
    println!(
        "HGETALL tour:user -> {} fields, name = {}",
        fields.len(),
        fields["name"]
    );

    // Binary data goes in and out unchanged.
    let blob = [0u8, 159, 146, 150, b'\r', b'\n'];
    cmd("SET").key("tour:blob").arg(&blob[..]).exec(&mut con)?;
    let back: Vec<u8> = cmd("GET").key("tour:blob").query(&mut con)?;
    assert_eq!(back, blob);
    println!("binary value of {} bytes round-tripped", back.len());

    // Several commands in one write; each reply, error replies included, in order.
    let replies = con.req_commands(&[
        cmd("LPUSH").key("tour:greeting").arg("x").clone(),
        cmd("STRLEN").key("tour:greeting").clone(),
    ])?;
    println!("two commands in one write -> {replies:?}");

    // Error replies are typed: code and kind, no string matching needed.
    let err = cmd("LPUSH")
        .key("tour:greeting")
        .arg("x")
        .exec(&mut con)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    println!(
        "LPUSH on a string -> {} error: {err}",
        err.code().unwrap_or("?")
    );

    // RESP3 brings real maps, sets, doubles and booleans.
    let mut info = client.connection_info().clone();
    info.protocol = ProtocolVersion::Resp3;
    let mut resp3 = Client::open(info)?.get_connection()?;
    let raw: Value = cmd("HGETALL").key("tour:user").query(&mut resp3)?;
    println!("HGETALL over RESP3 -> {raw:?}");

    let deleted: i64 = cmd("DEL")
        .key(["tour:greeting", "tour:visits", "tour:user", "tour:blob"])
        .query(&mut con)?;
    println!("cleaned up {deleted} keys");
    Ok(())
}
