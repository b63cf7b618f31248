//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `test [ARGS]`: makes sure `redis-server` is installed, then runs every test in the
//!   workspace (`cargo test`), passing `ARGS` on;
//! - `demo`: runs the tour (`examples/tour.rs`) against `$REDIS_URL`, or against a
//!   throwaway server started for it when `REDIS_URL` is not set;
//! - `bench [ARGS]`: runs the criterion micro-benchmarks of the codec and conversions;
//! - `spec [--check]`: rebuilds `commands.json` from `spec/upstream/` and
//!   `spec/overrides.json` (or checks that it is current);
//! - `codegen [--check]`: regenerates `src/commands/generated/` from `commands.json` (or
//!   checks that it is current).

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
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 test [ARGS]   install redis-server if needed, then run every test\n  \
                 demo          run the tour against $REDIS_URL or a throwaway server\n  \
                 bench [ARGS]  run the criterion micro-benchmarks\n  \
                 spec [--check]     rebuild commands.json from spec/upstream and spec/overrides.json\n  \
                 codegen [--check]  regenerate src/commands/generated from commands.json"
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
    let mut cmd = cargo();
    cmd.args(["bench", "--package", "respec-bench"]).args(args);
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
