//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `test [ARGS]`: makes sure `redis-server` is installed, then runs every test in the
//!   workspace (`cargo test`), passing `ARGS` on;
//! - `demo`: runs the tour (`examples/tour.rs`) against `$REDIS_URL`, or against a
//!   throwaway server started for it when `REDIS_URL` is not set;
//! - `bench [peers|codec] [ARGS]`: the side-by-side suite against redis-rs, fred and
//!   `redis-benchmark` (`peers`, writing `target/bench/peers.md`), then the criterion
//!   micro-benchmarks of the codec and conversions (`codec`); both unless one is named;
//! - `spec [--check]`: rebuilds `commands.json` from `spec/upstream/` and
//!   `spec/overrides.json` (or checks that it is current);
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

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match task.as_str() {
        "test" => test(&rest),
        "demo" => demo(),
        "bench" => bench(&rest),
        "spec" => generated(&rest, "spec", |root| {
            vec![respec_codegen::generate_spec(root)]
        }),
        "codegen" => generated(&rest, "codegen", respec_codegen::generate_sources),
        "fuzz" => fuzz(&rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 test [ARGS]   install redis-server if needed, then run every test\n  \
                 demo          run the tour against $REDIS_URL or a throwaway server\n  \
                 bench [peers|codec] [ARGS]  respec against its peers, then the codec benches\n  \
                 spec [--check]     rebuild commands.json from spec/upstream and spec/overrides.json\n  \
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
    // Install once up front rather than from inside the first test binary that needs it.
    let binary = server::redis_server_binary();
    eprintln!("xtask: using {}", binary.display());
    let mut cmd = cargo();
    // The benchmark crate compiles the peers and criterion; it is checked by clippy, not
    // here. Every feature is on, so the TLS and async tests run too.
    cmd.args([
        "test",
        "--workspace",
        "--exclude",
        "respec-bench",
        "--all-features",
    ])
    .args(args);
    run(cmd)
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
