//! The side-by-side suite: server, data, interleaved rounds, medians, Markdown.

use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use respec::Commands as _;

use crate::Peer;
use crate::clients::Result;
use crate::probe::Mode;
use crate::workloads::{HASH_KEY, LIST_ITEM, LIST_KEY, LIST_LEN, MIB, Workload, hash_fields};

/// The server runs on this CPU and every client on [`CLIENT_CPU`].
const SERVER_CPU: &str = "0";
const CLIENT_CPU: &str = "1";

/// One run of one client on one workload.
#[derive(Clone, Copy, Debug)]
struct Sample {
    ops_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_op: f64,
}

impl Sample {
    /// Prints the progress line for this run: `what` ran `who` in `round`, with `note`
    /// after it (the allocator, when not the default one).
    fn log(&self, round: usize, what: &str, who: &str, note: &str) {
        eprintln!(
            "round {round}: {what:<24} {who:<16} {:>12.0} ops/s  {:>7.2} us/op CPU{note}",
            self.ops_per_sec, self.cpu_us_per_op
        );
    }
}

/// The suite stops adding rounds once another would end past its time budget, but
/// never before it has this many (or all it was asked for, if fewer).
const MIN_ROUNDS: usize = 3;

struct Options {
    rounds: usize,
    /// How long the rounds may take together; see [`MIN_ROUNDS`].
    budget: Duration,
    out: Option<String>,
    only: Vec<Workload>,
    /// Also time raw round trips without a client library; see [`probe`].
    probe: bool,
    /// Also run the large-reply workloads with the allocator `redis-benchmark` uses.
    same_allocator: bool,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut options = Options {
        rounds: 5,
        // Leaves a full `cargo xtask bench`, criterion and builds included, inside ten
        // minutes on a machine running at a third under its usual speed.
        budget: Duration::from_secs(450),
        out: None,
        only: Workload::ALL.to_vec(),
        probe: true,
        same_allocator: true,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--rounds" => {
                options.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?;
            }
            "--budget" => {
                let secs: u64 = value()?.parse().map_err(|e| format!("--budget: {e}"))?;
                options.budget = Duration::from_secs(secs);
            }
            "--out" => options.out = Some(value()?.clone()),
            "--only" => {
                options.only = value()?
                    .split(',')
                    .map(|w| Workload::parse(w).ok_or_else(|| format!("unknown workload {w:?}")))
                    .collect::<std::result::Result<_, _>>()?;
            }
            "--no-probe" => options.probe = false,
            "--no-same-allocator" => options.same_allocator = false,
            other => return Err(format!("unknown option {other:?}").into()),
        }
    }
    if options.rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    Ok(options)
}

pub(crate) fn suite(args: &[String]) -> Result<()> {
    let options = parse_options(args)?;
    let pinned = std::thread::available_parallelism().map_or(1, usize::from) >= 2
        && Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !pinned {
        eprintln!("peers: fewer than 2 CPUs or no taskset; running unpinned");
    }
    let server = Server::start(pinned)?;
    let url = format!("redis://127.0.0.1:{}", server.port);
    load_data(&url)?;
    let cluster = if options.only.iter().any(|w| w.is_cluster()) {
        Some(Cluster::start(pinned)?)
    } else {
        None
    };

    let started = Instant::now();
    let mut samples: Vec<(Workload, Peer, Vec<Sample>)> = Vec::new();
    let mut probes: Vec<(Mode, Vec<Sample>)> = Mode::ALL.map(|m| (m, Vec::new())).to_vec();
    // The allocator redis-benchmark links, to rerun the large-reply workloads with the
    // Rust clients on it too.
    let jemalloc = options
        .same_allocator
        .then(redis_benchmark_jemalloc)
        .flatten();
    let mut same_allocator: Vec<(Workload, Peer, Vec<Sample>)> = Vec::new();
    // The probe that builds HGETALL's map, on that allocator too.
    let mut same_allocator_probe: Vec<Sample> = Vec::new();
    let mut rounds = 0;
    while rounds < options.rounds {
        if !another_round_fits(rounds, started.elapsed(), options.budget) {
            eprintln!(
                "peers: stopping after {rounds} rounds: another would end past the {} s budget",
                options.budget.as_secs()
            );
            break;
        }
        rounds += 1;
        let round = rounds;
        if options.probe {
            for (mode, runs) in &mut probes {
                let sample = run_process(&["probe", mode.arg(), &url], pinned)?;
                sample.log(round, "probe", mode.arg(), "");
                runs.push(sample);
            }
        }
        for &workload in &options.only {
            for peer in Peer::ALL.into_iter().filter(|p| p.runs(workload)) {
                let sample = match (peer, &cluster) {
                    (Peer::RedisBenchmark, _) => {
                        run_redis_benchmark(workload, server.port, pinned)?
                    }
                    (_, Some(cluster)) if workload.is_cluster() => {
                        run_client(peer, workload, &cluster.url, pinned)?
                    }
                    _ => run_client(peer, workload, &url, pinned)?,
                };
                sample.log(round, workload.name(), peer.name(), "");
                add_sample(&mut samples, workload, peer, sample);
            }
        }
        let Some(preload) = &jemalloc else { continue };
        for &workload in options.only.iter().filter(|w| w.allocates_per_element()) {
            let rust_peers = Peer::ALL.into_iter().filter(|p| {
                !matches!(
                    p,
                    Peer::RedisBenchmark | Peer::RespecSyncPolling | Peer::RespecAsyncOwn
                ) && p.runs(workload)
            });
            for peer in rust_peers {
                let args = ["run", peer.arg(), workload.name(), &url];
                let sample = run_process_with(&args, pinned, Some(preload))?;
                sample.log(round, workload.name(), peer.name(), " (jemalloc)");
                add_sample(&mut same_allocator, workload, peer, sample);
            }
            if options.probe && workload == Mode::HgetallMap.workload() {
                let args = ["probe", Mode::HgetallMap.arg(), &url];
                let sample = run_process_with(&args, pinned, Some(preload))?;
                sample.log(round, "probe", Mode::HgetallMap.arg(), " (jemalloc)");
                same_allocator_probe.push(sample);
            }
        }
    }
    let mut report = report(&options, rounds, &samples, started.elapsed(), pinned)?;
    if options.probe {
        let baseline = |workload: Workload| {
            samples
                .iter()
                .find(|(w, p, _)| *w == workload && *p == Peer::RedisBenchmark)
                .map(|(_, _, runs)| runs.as_slice())
        };
        for workload in [Workload::Ping, Workload::Pipeline100, Workload::Hgetall100] {
            let modes: Vec<_> = probes
                .iter()
                .filter(|(mode, _)| mode.workload() == workload)
                .collect();
            let heading = match workload {
                Workload::Pipeline100 => format!(
                    "Raw pipelines of 100 SETs without a client library ({} commands a run)",
                    workload.ops()
                ),
                Workload::Hgetall100 => format!(
                    "Raw HGETALL round trips without a client library ({} a run)",
                    workload.ops()
                ),
                _ => format!(
                    "Raw PING round trips without a client library ({} a run)",
                    workload.ops()
                ),
            };
            probe_report(&mut report, &heading, &modes, baseline(workload))?;
        }
    }
    if let Some(preload) = &jemalloc {
        allocator_report(
            &mut report,
            preload,
            &samples,
            &same_allocator,
            &same_allocator_probe,
        )?;
    }
    println!("{report}");
    if let Some(out) = &options.out {
        std::fs::write(out, &report).map_err(|e| format!("writing {out}: {e}"))?;
        eprintln!("peers: wrote {out}");
    }
    Ok(())
}

/// Whether the suite, `done` rounds in after `took`, may start another: always before
/// [`MIN_ROUNDS`], then only if one more round as long as the average so far ends
/// inside `budget`.
fn another_round_fits(done: usize, took: Duration, budget: Duration) -> bool {
    if done < MIN_ROUNDS {
        return true;
    }
    let took = took.as_secs_f64();
    took + took / done as f64 <= budget.as_secs_f64()
}

/// A private server on a free loopback port, persistence off, stopped on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(pinned: bool) -> Result<Server> {
        Server::start_with(pinned, &[])
    }

    /// A server with `extra` directives on its command line.
    fn start_with(pinned: bool, extra: &[&str]) -> Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = pinned_command("redis-server", SERVER_CPU, pinned);
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command
            .spawn()
            .map_err(|e| format!("starting redis-server (is it installed?): {e}"))?;
        let server = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        let url = format!("redis://127.0.0.1:{port}");
        loop {
            let ready = respec::Client::open(url.as_str())
                .and_then(|c| c.get_connection())
                .and_then(|mut con| con.ping());
            match ready {
                Ok(_) => return Ok(server),
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("redis-server on port {port} never answered: {e}").into());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three primaries sharing the slots, in a directory of their own (their node files),
/// on the server CPU; stopped and removed on drop.
struct Cluster {
    nodes: Vec<Server>,
    dir: std::path::PathBuf,
    /// The first node's URL, the clients' seed.
    url: String,
}

impl Cluster {
    fn start(pinned: bool) -> Result<Cluster> {
        use respec::cmd;
        let dir = std::env::temp_dir().join(format!("respec-bench-cluster-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let dir_arg = dir.to_string_lossy().into_owned();
        let mut nodes = Vec::new();
        for idx in 0..3 {
            let file = format!("nodes-{idx}.conf");
            let extra = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &file,
                "--dir",
                &dir_arg,
            ];
            nodes.push(Server::start_with(pinned, &extra)?);
        }
        let connect = |port: u16| -> Result<respec::Connection> {
            let info = respec::IntoConnectionInfo::into_connection_info(format!(
                "redis://127.0.0.1:{port}"
            ))?;
            Ok(respec::Connection::open(&info)?)
        };
        let share = 16_384 / 3;
        for (idx, node) in nodes.iter().enumerate() {
            let first = idx * share;
            let last = if idx == 2 { 16_383 } else { first + share - 1 };
            cmd("CLUSTER ADDSLOTSRANGE")
                .arg(first)
                .arg(last)
                .exec(&mut connect(node.port)?)?;
        }
        let mut head = connect(nodes[0].port)?;
        for node in &nodes[1..] {
            cmd("CLUSTER MEET")
                .arg("127.0.0.1")
                .arg(node.port)
                .exec(&mut head)?;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &nodes {
            let mut con = connect(node.port)?;
            loop {
                let info: String = cmd("CLUSTER INFO").query(&mut con)?;
                if info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3") {
                    break;
                }
                if Instant::now() > deadline {
                    return Err("the benchmark cluster did not come together".into());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let url = format!("redis://127.0.0.1:{}", nodes[0].port);
        Ok(Cluster { nodes, dir, url })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pinned_command(program: &str, cpu: &str, pinned: bool) -> Command {
    if pinned {
        let mut command = Command::new("taskset");
        command.args(["-c", cpu, program]);
        command
    } else {
        Command::new(program)
    }
}

/// The list and hash the read workloads fetch.
fn load_data(url: &str) -> Result<()> {
    let client = respec::Client::open(url)?;
    let mut con = client.get_connection()?;
    con.del((LIST_KEY, HASH_KEY))?;
    let items: Vec<String> = (0..LIST_LEN).map(|i| format!("{i:0LIST_ITEM$}")).collect();
    con.rpush(LIST_KEY, &items)?;
    let fields: Vec<(String, String)> = hash_fields().collect();
    con.hset(HASH_KEY, &fields)?;
    Ok(())
}

fn run_client(peer: Peer, workload: Workload, url: &str, pinned: bool) -> Result<Sample> {
    run_process(&["run", peer.arg(), workload.name(), url], pinned)
}

/// Runs this program with `args` in a fresh process on the client CPU and reads the
/// `RESULT` line it prints.
fn run_process(args: &[&str], pinned: bool) -> Result<Sample> {
    run_process_with(args, pinned, None)
}

/// As [`run_process`], with `preload` (a shared library, an allocator) preloaded.
fn run_process_with(args: &[&str], pinned: bool, preload: Option<&str>) -> Result<Sample> {
    let exe = std::env::current_exe()?;
    let exe = exe.to_str().ok_or("the benchmark's path is not UTF-8")?;
    let mut command = pinned_command(exe, CLIENT_CPU, pinned);
    command.args(args).stderr(Stdio::inherit());
    if let Some(preload) = preload {
        command.env("LD_PRELOAD", preload);
    }
    let output = command.output()?;
    let shown = args.join(" ");
    if !output.status.success() {
        return Err(format!("peers {shown} failed: {}", output.status).into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| format!("peers {shown}: no RESULT line in {stdout:?}"))?;
    let field = |name: &str| -> Result<f64> {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .ok_or_else(|| format!("no {name} in {line:?}"))?
            .parse::<f64>()
            .map_err(|e| format!("{name} in {line:?}: {e}").into())
    };
    let ops = field("ops")?;
    Ok(Sample {
        ops_per_sec: ops / field("secs")?,
        p50_us: field("p50_ns")? / 1e3,
        p99_us: field("p99_ns")? / 1e3,
        // The process's own count over its timed section, leaving out its warm-up.
        cpu_us_per_op: field("cpu_ns")? / 1e3 / ops,
    })
}

/// The `redis-benchmark` arguments closest to each workload, and the command count.
fn redis_benchmark_args(workload: Workload) -> (Vec<String>, usize) {
    let ops = workload.ops();
    let half = (ops / 2).to_string();
    let all = ops.to_string();
    let args: Vec<&str> = match workload {
        Workload::Ping => vec!["-c", "1", "-n", &all, "PING"],
        Workload::SetGet => vec!["-c", "1", "-n", &half, "-d", "16", "-t", "set,get"],
        Workload::Pipeline100 => vec!["-c", "1", "-n", &all, "-d", "16", "-P", "100", "-t", "set"],
        Workload::Concurrent50 => vec!["-c", "50", "-n", &half, "-d", "16", "-t", "set,get"],
        Workload::SetGet1Mib => vec!["-c", "1", "-n", &half, "-d", "1048576", "-t", "set,get"],
        Workload::Lrange1000 => vec!["-c", "1", "-n", &all, "LRANGE", LIST_KEY, "0", "-1"],
        Workload::Hgetall100 => vec!["-c", "1", "-n", &all, "HGETALL", HASH_KEY],
        // Four sockets, each with up to 250 requests in flight: the shape of 1,000
        // tasks over a pool of 4 multiplexed connections.
        Workload::IncrPool4 => vec!["-c", "4", "-P", "250", "-n", &all, "INCR", "bench:counter"],
        // Not run (the suite runs redis-benchmark against the single server only): the
        // closest shape, for whoever runs it by hand against a cluster.
        Workload::ClusterIncrGet => {
            vec![
                "--cluster",
                "-c",
                "4",
                "-P",
                "250",
                "-n",
                &all,
                "INCR",
                "bench:counter",
            ]
        }
    };
    let ops = if args.contains(&"set,get") {
        2 * (ops / 2)
    } else {
        ops
    };
    (args.into_iter().map(str::to_owned).collect(), ops)
}

fn run_redis_benchmark(workload: Workload, port: u16, pinned: bool) -> Result<Sample> {
    let (args, ops) = redis_benchmark_args(workload);
    let before = crate::cpu::used(crate::cpu::Whose::Children);
    let output = pinned_command("redis-benchmark", CLIENT_CPU, pinned)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--csv"])
        .args(&args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running redis-benchmark (is it installed?): {e}"))?;
    let cpu = crate::cpu::used(crate::cpu::Whose::Children).saturating_sub(before);
    if !output.status.success() {
        return Err(format!("redis-benchmark {args:?} failed: {}", output.status).into());
    }
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",
    // "p99_latency_ms","max_latency_ms"
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut rows = Vec::new();
    for line in stdout.lines().skip(1) {
        let cells: Vec<f64> = line
            .split("\",\"")
            .skip(1)
            .map(|c| c.trim_matches('"').parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| format!("redis-benchmark CSV {line:?}: {e}"))?;
        if cells.len() < 6 {
            return Err(format!("redis-benchmark CSV row {line:?} is short").into());
        }
        rows.push((cells[0], cells[3], cells[5]));
    }
    if rows.is_empty() {
        return Err(format!("redis-benchmark printed no results: {stdout:?}").into());
    }
    // Each row ran an equal share of the commands: the combined rate is their
    // harmonic mean.
    let share = ops as f64 / rows.len() as f64;
    let secs: f64 = rows.iter().map(|(rps, _, _)| share / rps).sum();
    Ok(Sample {
        ops_per_sec: ops as f64 / secs,
        p50_us: rows.iter().map(|r| r.1).sum::<f64>() / rows.len() as f64 * 1e3,
        p99_us: rows.iter().map(|r| r.2).fold(0.0, f64::max) * 1e3,
        cpu_us_per_op: cpu.as_secs_f64() * 1e6 / ops as f64,
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        f64::midpoint(values[n / 2 - 1], values[n / 2])
    }
}

fn median_sample(runs: &[Sample]) -> Sample {
    let of = |f: fn(&Sample) -> f64| median(runs.iter().map(f).collect());
    Sample {
        ops_per_sec: of(|s| s.ops_per_sec),
        p50_us: of(|s| s.p50_us),
        p99_us: of(|s| s.p99_us),
        cpu_us_per_op: of(|s| s.cpu_us_per_op),
    }
}

fn report(
    options: &Options,
    rounds: usize,
    samples: &[(Workload, Peer, Vec<Sample>)],
    took: Duration,
    pinned: bool,
) -> Result<String> {
    let mut out = String::new();
    writeln!(out, "# respec side by side")?;
    writeln!(out)?;
    writeln!(out, "| | |\n|---|---|")?;
    writeln!(
        out,
        "| date | {} |",
        shell(&["date", "-u", "+%Y-%m-%d %H:%M UTC"])
    )?;
    writeln!(out, "| machine | {} |", machine())?;
    writeln!(
        out,
        "| kernel | {} |",
        read_trimmed("/proc/sys/kernel/osrelease")
    )?;
    writeln!(
        out,
        "| server | {} |",
        shell(&["redis-server", "--version"])
    )?;
    writeln!(
        out,
        "| redis-benchmark | {} |",
        shell(&["redis-benchmark", "--version"])
    )?;
    writeln!(out, "| rustc | {} |", shell(&["rustc", "--version"]))?;
    writeln!(out, "| peers | {} |", peer_versions())?;
    let placement = if pinned {
        format!("server on CPU {SERVER_CPU}, clients on CPU {CLIENT_CPU} (taskset)")
    } else {
        "unpinned".to_owned()
    };
    writeln!(out, "| placement | {placement} |")?;
    writeln!(
        out,
        "| method | median of {rounds} interleaved rounds{}; \"vs redis-benchmark\" compares the medians, \"paired\" is the median of each round's ratio to redis-benchmark's run in that round (for the cluster workload, to the faster of the other cluster clients); the run took {:.0} s |",
        if rounds < options.rounds {
            format!(
                " ({} asked, the rest past the {} s budget)",
                options.rounds,
                options.budget.as_secs()
            )
        } else {
            String::new()
        },
        took.as_secs_f64()
    )?;
    for &workload in &options.only {
        let of = |peer: Peer| {
            samples
                .iter()
                .find(|(w, p, _)| *w == workload && *p == peer)
                .map(|(_, _, runs)| runs.as_slice())
        };
        let heading = format!("{} ({} commands a run)", workload.title(), workload.ops());
        let rows = Peer::ALL
            .into_iter()
            .filter_map(|peer| Some((peer.name(), of(peer)?)));
        // A cluster workload has no redis-benchmark run: it is compared with the faster
        // of the other cluster clients.
        let (baseline, baseline_label) = if workload.is_cluster() {
            let best = [Peer::RedisRsCluster, Peer::FredCluster]
                .into_iter()
                .filter_map(of)
                .max_by(|a, b| {
                    median_sample(a)
                        .ops_per_sec
                        .total_cmp(&median_sample(b).ops_per_sec)
                });
            (best, "vs the best peer")
        } else {
            (of(Peer::RedisBenchmark), "vs redis-benchmark")
        };
        let table = Table {
            heading: &heading,
            first_column: "client",
            payload: workload.payload(),
            baseline,
            baseline_label,
        };
        table.write(&mut out, rows)?;
    }
    Ok(out)
}

/// One Markdown table of medians over the rounds, each row compared with `baseline`
/// twice: median against median, and round by round.
struct Table<'a> {
    heading: &'a str,
    first_column: &'a str,
    /// Bytes per command, for a MB/s column.
    payload: Option<usize>,
    /// The runs compared with, one a round: `redis-benchmark`'s, or the best peer's.
    baseline: Option<&'a [Sample]>,
    /// The comparison column's title.
    baseline_label: &'a str,
}

impl Table<'_> {
    /// Writes a row for each label and its runs, one a round.
    fn write<'r>(
        &self,
        out: &mut String,
        rows: impl IntoIterator<Item = (&'r str, &'r [Sample])>,
    ) -> Result<()> {
        let (mb_head, mb_rule) = match self.payload {
            Some(_) => (" MB/s |", "---:|"),
            None => ("", ""),
        };
        writeln!(out)?;
        writeln!(out, "## {}", self.heading)?;
        writeln!(out)?;
        writeln!(
            out,
            "| {} | ops/s |{mb_head} p50 µs | p99 µs | CPU µs/op | {} | paired |",
            self.first_column, self.baseline_label
        )?;
        writeln!(out, "|---|---:|{mb_rule}---:|---:|---:|---:|---:|")?;
        for (label, runs) in rows {
            let s = median_sample(runs);
            let mb = match self.payload {
                Some(bytes) => format!(" {:.0} |", s.ops_per_sec * bytes as f64 / MIB as f64),
                None => String::new(),
            };
            // Two ratios: the medians compared; and each run against the baseline's run
            // of the same round, then the median of those. Neither is always the
            // steadier on this shared machine: pairing cancels a slowdown that lasts
            // a whole round, but counts twice one that hits a single run.
            let (ratio, paired) = self.baseline.map_or_else(
                || ("–".to_owned(), "–".to_owned()),
                |baseline| {
                    let medians = s.ops_per_sec / median_sample(baseline).ops_per_sec;
                    let ratios = runs
                        .iter()
                        .zip(baseline)
                        .map(|(run, base)| run.ops_per_sec / base.ops_per_sec);
                    (
                        format!("{medians:.2}x"),
                        format!("{:.2}x", median(ratios.collect())),
                    )
                },
            );
            writeln!(
                out,
                "| {label} | {:.0} |{mb} {:.1} | {:.1} | {:.2} | {ratio} | {paired} |",
                s.ops_per_sec, s.p50_us, s.p99_us, s.cpu_us_per_op
            )?;
        }
        Ok(())
    }
}

fn shell(argv: &[&str]) -> String {
    Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
        .map_or("unknown CPU", str::trim);
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    format!("{model}, {cpus} CPUs")
}

/// The versions of the peers this binary was built with, from the workspace lock file.
fn peer_versions() -> String {
    let lock = include_str!("../../Cargo.lock");
    let version = |name: &str| {
        let needle = format!("name = \"{name}\"\nversion = \"");
        lock.find(&needle)
            .and_then(|at| lock[at + needle.len()..].split('"').next())
            .unwrap_or("unknown")
            .to_owned()
    };
    format!(
        "respec {}, redis-rs {}, fred {}",
        version("respec"),
        version("redis"),
        version("fred")
    )
}

/// Raw round-trip probes, beside the `redis-benchmark` run of the same workload.
fn probe_report(
    out: &mut String,
    heading: &str,
    probes: &[&(Mode, Vec<Sample>)],
    baseline: Option<&[Sample]>,
) -> Result<()> {
    let labels: Vec<String> = probes
        .iter()
        .map(|(mode, _)| format!("{}: {}", mode.arg(), mode.describe()))
        .collect();
    let rows = labels
        .iter()
        .zip(probes)
        .map(|(label, (_, runs))| (label.as_str(), runs.as_slice()));
    let table = Table {
        heading,
        first_column: "loop",
        payload: None,
        baseline,
        baseline_label: "vs redis-benchmark",
    };
    table.write(out, rows)
}

fn add_sample(
    samples: &mut Vec<(Workload, Peer, Vec<Sample>)>,
    workload: Workload,
    peer: Peer,
    sample: Sample,
) {
    match samples
        .iter_mut()
        .find(|(w, p, _)| *w == workload && *p == peer)
    {
        Some((_, _, runs)) => runs.push(sample),
        None => samples.push((workload, peer, vec![sample])),
    }
}

/// The jemalloc `redis-benchmark` is linked with, as `ldd` finds it; `None` when it
/// links another allocator.
fn redis_benchmark_jemalloc() -> Option<String> {
    let output = Command::new("sh")
        .args(["-c", "ldd \"$(command -v redis-benchmark)\""])
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains("libjemalloc"))
        .find_map(|line| {
            line.split("=>")
                .nth(1)?
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
}

/// The large-reply workloads again, every Rust client on `redis-benchmark`'s allocator.
fn allocator_report(
    out: &mut String,
    preload: &str,
    samples: &[(Workload, Peer, Vec<Sample>)],
    same_allocator: &[(Workload, Peer, Vec<Sample>)],
    map_probe: &[Sample],
) -> Result<()> {
    let probe_label = format!(
        "probe {}: {}",
        Mode::HgetallMap.arg(),
        Mode::HgetallMap.describe()
    );
    let workloads: Vec<Workload> = Workload::ALL
        .into_iter()
        .filter(|w| same_allocator.iter().any(|(sw, _, _)| sw == w))
        .collect();
    for workload in workloads {
        let heading = format!(
            "{}, every client on redis-benchmark's allocator ({preload} preloaded)",
            workload.title()
        );
        let baseline = samples
            .iter()
            .find(|(w, p, _)| *w == workload && *p == Peer::RedisBenchmark)
            .map(|(_, _, runs)| runs.as_slice());
        let rows = same_allocator
            .iter()
            .filter(|(w, _, _)| *w == workload)
            .map(|(_, p, runs)| (p.name(), runs.as_slice()))
            .chain(
                (workload == Mode::HgetallMap.workload() && !map_probe.is_empty())
                    .then_some((probe_label.as_str(), map_probe)),
            )
            .chain(baseline.map(|b| (Peer::RedisBenchmark.name(), b)));
        let table = Table {
            heading: &heading,
            first_column: "client",
            payload: workload.payload(),
            baseline,
            baseline_label: "vs redis-benchmark",
        };
        table.write(out, rows)?;
    }
    Ok(())
}
