mod support;

use respec::commands::{SetOptions, ZrangeOptions};
use respec::{Commands, ProtocolVersion};

#[test]
fn required_shapes_compile_and_work() -> respec::Result<()> {
    let server = support::RedisServer::start();
    let mut con = support::connect(&server, ProtocolVersion::Resp3);
    con.set("k", "v")?;
    let n = con.incr("n")?;
    assert_eq!(n, 1i64);
    let added = con.sadd("s", &["a", "b"])?; // the spelling, kept on purpose
    assert_eq!(added, 2);
    let v: Option<String> = con.get("k")?;
    assert_eq!(v.as_deref(), Some("v"));
    let old: Option<String> = con.set_options("k", "w", SetOptions::default().get().ex(10))?;
    assert_eq!(old.as_deref(), Some("v"));
    con.zadd("z", &[(1.0, "a"), (2.0, "b"), (3.0, "c")])?;
    let top: Vec<(String, f64)> = con.zrange_options(
        "z",
        "+inf",
        "-inf",
        ZrangeOptions::default()
            .byscore()
            .rev()
            .limit(0, 2)
            .withscores(),
    )?;
    assert_eq!(top, [("c".to_owned(), 3.0), ("b".to_owned(), 2.0)]);
    let (a, b): (i64, Option<String>) = respec::pipe().incr("n").get("nope").query(&mut con)?;
    assert_eq!((a, b), (2, None));
    Ok(())
}
