//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `test [--server redis|valkey|both] [ARGS]`: makes sure the servers are installed,
//!   then runs every test in the workspace (`cargo test`, passing `ARGS` on) against
//!   Redis, and the integration tests again against Valkey (both unless one is named);
//!   it ends with how many tests ran on each server and which skipped, and why;
//! - `demo`: runs the tour (`examples/tour.rs`) against `$REDIS_URL`, or against a
//!   throwaway server started for it when `REDIS_URL` is not set;
//! - `bench [peers|codec] [ARGS]`: the side-by-side suite against redis-rs, fred and
//!   `redis-benchmark` (`peers`, writing `target/bench/peers.md`), then the criterion
//!   micro-benchmarks of the codec and conversions (`codec`); both unless one is named;
//! - `spec [--check]`: rebuilds `commands.json` from `spec/upstream/`, `spec/live/` and
//!   `spec/overrides.json` (or checks that it is current);
//! - `spec --from-server URL [--write]`: asks a live server for `COMMAND DOCS` and
//!   `COMMAND INFO` and reports, command by command, what the vendored spec lacks or has
//!   otherwise; with `--write`, keeps what it lacks in `spec/live/` for `spec` to merge;
//! - `codegen [--check]`: regenerates `src/commands/generated/` from `commands.json` (or
//!   checks that it is current);
//! - `fuzz [SECONDS]`: runs the decoder's coverage-guided fuzz target (`fuzz/`) with
//!   cargo-fuzz on a nightly toolchain, for 60 seconds unless told.

// The same server helper the integration tests use; xtask needs only part of it.
#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/support/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use server::ServerKind;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match task.as_str() {
        "test" => test(&rest),
        "demo" => demo(),
        "bench" => bench(&rest),
        "spec" => match rest.as_slice() {
            [flag, url] if flag == "--from-server" => spec_from_server(url, false),
            [flag, url, write] if flag == "--from-server" && write == "--write" => {
                spec_from_server(url, true)
            }
            _ => generated(&rest, "spec", |root| {
                vec![respec_codegen::generate_spec(root)]
            }),
        },
        "codegen" => generated(&rest, "codegen", respec_codegen::generate_sources),
        "fuzz" => fuzz(&rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 test [--server redis|valkey|both] [ARGS]\n                \
                     install the servers if needed, then run every test against each\n  \
                 demo          run the tour against $REDIS_URL or a throwaway server\n  \
                 bench [peers|codec] [ARGS]  respec against its peers, then the codec benches\n  \
                 spec [--check]     rebuild commands.json from spec/upstream, spec/live and spec/overrides.json\n  \
                 spec --from-server URL [--write]\n                \
                     report what a live server's commands add to the spec; keep it in spec/live\n  \
                 codegen [--check]  regenerate src/commands/generated from commands.json\n  \
                 fuzz [SECONDS]     fuzz the decoder with cargo-fuzz on nightly (60 s unless told)"
            );
            ExitCode::FAILURE
        }
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the project root")
        .to_owned()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

fn run(mut cmd: Command) -> ExitCode {
    match cmd.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("xtask: {cmd:?} failed: {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xtask: cannot run {cmd:?}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn test(args: &[String]) -> ExitCode {
    let (servers, args) = match args {
        [flag, which, rest @ ..] if flag == "--server" => match which.as_str() {
            "redis" => (vec![ServerKind::Redis], rest),
            "valkey" => (vec![ServerKind::Valkey], rest),
            "both" => (vec![ServerKind::Redis, ServerKind::Valkey], rest),
            other => {
                eprintln!("xtask: unknown server {other:?}; use redis, valkey or both");
                return ExitCode::FAILURE;
            }
        },
        rest => (vec![ServerKind::Redis, ServerKind::Valkey], rest),
    };
    let mut runs = Vec::new();
    for (idx, &kind) in servers.iter().enumerate() {
        // Install up front rather than from inside the first test binary that needs it.
        eprintln!("xtask: testing against {}", kind.binary().display());
        let skip_log = project_root().join(format!("target/skipped-{}.txt", kind.name()));
        let _ = std::fs::remove_file(&skip_log);
        let mut cmd = cargo();
        cmd.env("RESPEC_SERVER", kind.name())
            .env("RESPEC_SKIP_LOG", &skip_log);
        if idx == 0 {
            // The benchmark crate compiles the peers and criterion; it is checked by
            // clippy, not here. Every feature is on, so the TLS and async tests run too.
            cmd.args([
                "test",
                "--workspace",
                "--exclude",
                "respec-bench",
                "--all-features",
            ]);
        } else {
            // What needs no server ran once already: here, the integration tests.
            cmd.args(["test", "--package", "respec", "--all-features", "--tests"]);
        }
        cmd.args(args);
        let Some(passed) = run_counting(cmd) else {
            return ExitCode::FAILURE;
        };
        let skipped = std::fs::read_to_string(&skip_log).unwrap_or_default();
        runs.push((kind, passed, skipped));
    }
    for (kind, passed, skipped) in runs {
        // A test that skips returns early, and the harness counts it as passed.
        let lines: Vec<&str> = skipped.lines().collect();
        eprintln!(
            "xtask: {}: {} tests passed, {} skipped",
            kind.name(),
            passed - lines.len().min(passed),
            lines.len()
        );
        for line in lines {
            let (test, why) = line.split_once('\t').unwrap_or((line, ""));
            eprintln!("  skipped {test}: {why}");
        }
    }
    ExitCode::SUCCESS
}

/// Runs `cmd`, passing its output on, and counts the tests its `test result` lines say
/// passed; `None` when it fails.
fn run_counting(mut cmd: Command) -> Option<usize> {
    use std::io::{BufRead, BufReader};
    let mut child = match cmd.stdout(std::process::Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("xtask: cannot run {cmd:?}: {e}");
            return None;
        }
    };
    let mut passed = 0;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                passed += rest
                    .split("; ")
                    .find_map(|part| {
                        part.rsplit_once(". ")
                            .map_or(part, |(_, p)| p)
                            .strip_suffix(" passed")
                    })
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .unwrap_or(0);
            }
        }
    }
    match child.wait() {
        Ok(status) if status.success() => Some(passed),
        Ok(status) => {
            eprintln!("xtask: {cmd:?} failed: {status}");
            None
        }
        Err(e) => {
            eprintln!("xtask: cannot wait for {cmd:?}: {e}");
            None
        }
    }
}

fn demo() -> ExitCode {
    let mut cmd = cargo();
    cmd.args(["run", "--quiet", "--example", "tour"]);
    if std::env::var_os("REDIS_URL").is_some() {
        return run(cmd);
    }
    let server = server::RedisServer::start();
    eprintln!(
        "xtask: started a throwaway redis-server at {}",
        server.url()
    );
    cmd.env("REDIS_URL", server.url());
    run(cmd)
}

fn bench(args: &[String]) -> ExitCode {
    match args.split_first() {
        Some((which, rest)) if which == "peers" => bench_peers(rest),
        Some((which, rest)) if which == "codec" => bench_codec(rest),
        Some((other, _)) => {
            eprintln!("xtask: unknown benchmark {other:?}; use `peers` or `codec`");
            ExitCode::FAILURE
        }
        None => match bench_peers(&[]) {
            code if code == ExitCode::SUCCESS => bench_codec(&[]),
            failed => failed,
        },
    }
}

/// Builds the suite in release and runs it; it starts and stops its own server.
fn bench_peers(args: &[String]) -> ExitCode {
    let binary = server::redis_server_binary();
    let out = project_root().join("target/bench");
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("xtask: cannot create {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "--quiet",
        "--package",
        "respec-bench",
        "--bin",
        "peers",
    ])
    .args(["--", "suite", "--out"])
    .arg(out.join("peers.md"))
    .args(args);
    // redis-benchmark is installed beside redis-server.
    if let Some(dir) = binary.parent() {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let joined = std::env::join_paths(
            std::iter::once(dir.to_owned()).chain(std::env::split_paths(&path)),
        );
        if let Ok(joined) = joined {
            cmd.env("PATH", joined);
        }
    }
    run(cmd)
}

fn bench_codec(args: &[String]) -> ExitCode {
    let mut cmd = cargo();
    cmd.args(["bench", "--package", "respec-bench", "--bench", "codec"])
        .args(args);
    run(cmd)
}

/// Runs the decoder's fuzz target for a bounded time, where a nightly toolchain and
/// cargo-fuzz are at hand; says how to get them where they are not. Crashes land in
/// `fuzz/artifacts/decoder/`, with the input that caused them.
fn fuzz(args: &[String]) -> ExitCode {
    let seconds = match args {
        [] => 60,
        [seconds] => match seconds.parse::<u64>() {
            Ok(seconds) if seconds > 0 => seconds,
            _ => {
                eprintln!("usage: cargo xtask fuzz [SECONDS]");
                return ExitCode::FAILURE;
            }
        },
        _ => {
            eprintln!("usage: cargo xtask fuzz [SECONDS]");
            return ExitCode::FAILURE;
        }
    };
    let works = |args: &[&str]| {
        Command::new("cargo")
            .args(args)
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if !works(&["+nightly", "--version"]) {
        eprintln!(
            "xtask: fuzzing needs a nightly toolchain (`rustup toolchain install nightly`); \
             the suite's bounded randomized decoder test (tests/decoder_fuzz.rs) runs without it"
        );
        return ExitCode::FAILURE;
    }
    if !works(&["+nightly", "fuzz", "--version"]) {
        eprintln!("xtask: fuzzing needs cargo-fuzz: `cargo install cargo-fuzz`");
        return ExitCode::FAILURE;
    }
    let mut cmd = Command::new("cargo");
    cmd.current_dir(project_root().join("fuzz"))
        .args(["+nightly", "fuzz", "run", "decoder", "--"])
        .arg(format!("-max_total_time={seconds}"));
    run(cmd)
}

/// `spec --from-server URL [--write]`: the report, and with `--write` the file in
/// `spec/live/`.
fn spec_from_server(url: &str, write: bool) -> ExitCode {
    let fetched = fetch_command_docs(url);
    let (server, docs, info) = match fetched {
        Ok(fetched) => fetched,
        Err(e) => {
            eprintln!("xtask: cannot read the command docs of {url}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let live = respec_codegen::live::LiveSpec::from_replies(&server, &docs, &info);
    let root = project_root();
    let vendored = respec_codegen::spec::vendored(&root.join(respec_codegen::UPSTREAM_DIR));
    let report = respec_codegen::live::compare(&vendored, &live);
    print!("{}", report.render(&server));
    if !write {
        return ExitCode::SUCCESS;
    }
    let kept = respec_codegen::live::additions(&vendored, &live);
    let path = live_file(&root, &server);
    let mut text = serde_json::to_string_pretty(&kept).expect("JSON serialises");
    text.push('\n');
    let written = std::fs::create_dir_all(path.parent().expect("spec/live has a parent"))
        .and_then(|()| std::fs::write(&path, text));
    match written {
        Ok(()) => {
            eprintln!(
                "wrote {}; now `cargo xtask spec` and `cargo xtask codegen`",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask: cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// Where `spec --from-server --write` keeps what `server` adds: `spec/live/valkey-9.1.2.json`.
fn live_file(root: &Path, server: &str) -> PathBuf {
    let file = server.to_ascii_lowercase().replace(' ', "-");
    root.join(respec_codegen::LIVE_DIR)
        .join(format!("{file}.json"))
}

/// Who the server is (`Valkey 9.1.2`) and its `COMMAND DOCS` and `COMMAND INFO`, as
/// JSON, asked over RESP3 so that maps come as maps.
fn fetch_command_docs(url: &str) -> respec::Result<(String, serde_json::Value, serde_json::Value)> {
    let mut info: respec::ConnectionInfo = url.parse()?;
    info.protocol = respec::ProtocolVersion::Resp3;
    let mut con = respec::Connection::open(&info)?;
    let about: String = respec::cmd("INFO").arg("server").query(&mut con)?;
    let field = |name: &str| {
        about
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let server = match (field("server_name"), field("valkey_version")) {
        (Some("valkey"), Some(version)) => format!("Valkey {version}"),
        _ => format!("Redis {}", field("redis_version").unwrap_or("?")),
    };
    let docs: respec::Value = respec::cmd("COMMAND DOCS").query(&mut con)?;
    let commands: respec::Value = respec::cmd("COMMAND INFO").query(&mut con)?;
    Ok((server, to_json(docs), to_json(commands)))
}

/// A reply as JSON: maps as objects (keys as text), strings as strings.
fn to_json(value: respec::Value) -> serde_json::Value {
    use respec::Value;
    use serde_json::Value as Json;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    match value {
        Value::Nil => Json::Null,
        Value::SimpleString(s) | Value::BulkString(s) | Value::BigNumber(s) => {
            Json::String(text(&s))
        }
        Value::VerbatimString { text: s, .. } => Json::String(text(&s)),
        Value::Int(n) => Json::from(n),
        Value::Double(d) => serde_json::Number::from_f64(d).map_or(Json::Null, Json::Number),
        Value::Boolean(b) => Json::Bool(b),
        Value::Array(items) | Value::Set(items) | Value::Push(items) => {
            Json::Array(items.into_iter().map(to_json).collect())
        }
        Value::Map(pairs) => Json::Object(
            pairs
                .into_iter()
                .map(|(key, value)| {
                    let key = match to_json(key) {
                        Json::String(key) => key,
                        other => other.to_string(),
                    };
                    (key, to_json(value))
                })
                .collect(),
        ),
        Value::ServerError(e) => Json::String(format!("-{e}")),
        other => Json::String(format!("{other:?}")),
    }
}

/// Writes (or with `--check`, compares) what a generator produces.
fn generated(
    args: &[String],
    task: &str,
    render: impl FnOnce(&Path) -> Vec<respec_codegen::Output>,
) -> ExitCode {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => {
            eprintln!("usage: cargo xtask {task} [--check]");
            return ExitCode::FAILURE;
        }
    };
    let root = project_root();
    let outputs = render(&root);
    if check {
        let stale = respec_codegen::stale(&root, &outputs);
        if stale.is_empty() {
            return ExitCode::SUCCESS;
        }
        for path in &stale {
            eprintln!("stale: {}", path.display());
        }
        eprintln!("run `cargo xtask {task}` and commit");
        return ExitCode::FAILURE;
    }
    for path in respec_codegen::write(&root, &outputs) {
        eprintln!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `spec --from-server` on a real server's replies: what Valkey 9.1.2 says is what
    /// `spec/live/` keeps of it.
    #[test]
    fn spec_live_holds_what_valkey_says() {
        let valkey = server::RedisServer::config()
            .kind(ServerKind::Valkey)
            .start();
        let (name, docs, info) = fetch_command_docs(&valkey.url()).unwrap();
        let live = respec_codegen::live::LiveSpec::from_replies(&name, &docs, &info);
        let root = project_root();
        let vendored = respec_codegen::spec::vendored(&root.join(respec_codegen::UPSTREAM_DIR));
        let report = respec_codegen::live::compare(&vendored, &live);
        let new: Vec<&str> = report
            .new_commands
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert!(
            new.contains(&"HSETEX") && new.contains(&"COMMANDLOG GET"),
            "{new:?}"
        );
        assert!(
            report
                .missing_on_server
                .iter()
                .all(|n| n.starts_with("SENTINEL"))
        );
        // The kept file is what this server says, unless the server is another release.
        let kept = respec_codegen::live::additions(&vendored, &live);
        let path = live_file(&root, &name);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let on_disk: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(
                    kept,
                    on_disk,
                    "{} is stale: run `cargo xtask spec --from-server URL --write`",
                    path.display()
                );
            }
            Err(_) => assert_ne!(name, "Valkey 9.1.2", "{} is missing", path.display()),
        }
    }
}
