//! Commands the spec gained from a live Valkey 9.1.2 (`spec/live/`), through their
//! typed methods, on a server that has them; skipped, and said so, on one that does
//! not. (Hash field expiry, `DELIFEQ`, `MSETEX`, `SET ... IFEQ` and the new `CLIENT`
//! filters run in `command_groups.rs` with the rest of their groups; the cluster ones in
//! `server_differences.rs`.)

mod support;

use respec::commands as c;
use respec::{Commands, ProtocolVersion, Value, cmd};
use support::RedisServer;

/// `true` when the server knows `command`; otherwise the test skips.
fn server_knows(con: &mut respec::Connection, command: &str) -> bool {
    let info: Vec<Value> = cmd("COMMAND INFO").arg(command).query(con).unwrap();
    support::server_has(
        command,
        info.first().is_some_and(|entry| *entry != Value::Nil),
    )
}

/// A command log entry: id, time, duration, the command's words, client address, name.
type Entry = (i64, i64, i64, Vec<String>, String, String);

#[test]
fn the_command_log_reads_and_resets() {
    let server = RedisServer::start();
    let mut con = support::connect(&server, ProtocolVersion::Resp3);
    if !server_knows(&mut con, "COMMANDLOG") {
        return;
    }
    // Every command counts as slow from here on.
    cmd("CONFIG SET")
        .arg(["commandlog-execution-slower-than", "0"])
        .exec(&mut con)
        .unwrap();
    con.commandlog_reset(c::CommandlogResetType::Slow).unwrap();
    con.set("logged", "v").unwrap();
    assert!(con.commandlog_len(c::CommandlogLenType::Slow).unwrap() >= 1);
    let entries: Vec<Entry> = con.commandlog_get(10, c::CommandlogGetType::Slow).unwrap();
    let logged = |entry: &Entry| {
        let words: Vec<String> = entry.3.iter().map(|w| w.to_ascii_lowercase()).collect();
        words == ["set", "logged", "v"]
    };
    assert!(entries.iter().any(logged), "{entries:?}");
    assert_eq!(
        con.commandlog_len(c::CommandlogLenType::LargeRequest)
            .unwrap(),
        0
    );
    con.commandlog_reset(c::CommandlogResetType::Slow).unwrap();
    assert!(con.commandlog_len(c::CommandlogLenType::Slow).unwrap() <= 1);
    assert!(!con.commandlog_help::<Vec<String>>().unwrap().is_empty());
}
