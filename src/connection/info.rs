//! [`ConnectionInfo`]: where to connect and how to set the connection up, parsed from
//! URLs by redis-py's rules.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// The port used when a `redis://` URL names none.
pub const DEFAULT_PORT: u16 = 6379;

/// A node's host and port, as Sentinels and cluster nodes name each other.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeAddr {
    /// The host: an IP address, as Sentinels and cluster nodes report them, or a name.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionAddr {
    /// Plain TCP.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port.
        port: u16,
    },
    /// TCP with TLS (`rediss://`).
    TcpTls {
        /// Host name or IP address, also used for SNI and certificate checks.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix domain socket (`unix://`).
    Unix(PathBuf),
}

impl fmt::Display for ConnectionAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionAddr::Tcp { host, port } | ConnectionAddr::TcpTls { host, port } => {
                if host.contains(':') {
                    write!(f, "[{host}]:{port}")
                } else {
                    write!(f, "{host}:{port}")
                }
            }
            ConnectionAddr::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The RESP version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// RESP2, what every server speaks; the default.
    #[default]
    Resp2,
    /// RESP3, negotiated with `HELLO 3` (Redis 6 and later).
    Resp3,
}

/// Whether and how the server's certificate is checked, as redis-py's `ssl_cert_reqs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CertReqs {
    /// The certificate must verify against the trusted roots (the default).
    #[default]
    Required,
    /// As `Required`: for a client, Python's `CERT_OPTIONAL` means the same.
    Optional,
    /// No check at all. **Unsafe**: anyone between the client and the server can read
    /// and change the traffic. Only for tests and trusted networks.
    None,
}

/// TLS settings for `rediss://` connections, with redis-py's meanings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsOptions {
    /// CA certificates to trust, from a PEM file (`ssl_ca_certs`); the system's roots
    /// when neither this nor `ca_data` is set.
    pub ca_certs: Option<PathBuf>,
    /// CA certificates to trust, as PEM text (`ssl_ca_data`).
    pub ca_data: Option<String>,
    /// Client certificate chain for mutual TLS, a PEM file (`ssl_certfile`).
    pub certfile: Option<PathBuf>,
    /// The client certificate's private key, a PEM file (`ssl_keyfile`).
    pub keyfile: Option<PathBuf>,
    /// How the server's certificate is checked (`ssl_cert_reqs`).
    pub cert_reqs: CertReqs,
    /// Whether the certificate must name the host connected to (`ssl_check_hostname`).
    pub check_hostname: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            ca_certs: None,
            ca_data: None,
            certfile: None,
            keyfile: None,
            cert_reqs: CertReqs::Required,
            check_hostname: true,
        }
    }
}

/// A user name and password for `AUTH` or `HELLO ... AUTH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The ACL user; `None` is the default user.
    pub username: Option<String>,
    /// The password or token.
    pub password: Password,
}

/// Gives the credentials for each new connection, so that rotating secrets (short-lived
/// tokens, say) are picked up by the next connection opened.
pub trait CredentialProvider: Send + Sync {
    /// The credentials to authenticate a new connection with.
    ///
    /// # Errors
    ///
    /// Whatever stops the provider from having them; the connection fails with it.
    fn credentials(&self) -> Result<Credentials>;
}

/// A provider that always gives the same credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticCredentials(pub Credentials);

impl CredentialProvider for StaticCredentials {
    fn credentials(&self) -> Result<Credentials> {
        Ok(self.0.clone())
    }
}

/// A shared [`CredentialProvider`], as [`ConnectionInfo`] holds it.
#[derive(Clone)]
pub struct CredentialProviderHandle(pub std::sync::Arc<dyn CredentialProvider>);

impl PartialEq for CredentialProviderHandle {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for CredentialProviderHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CredentialProvider")
    }
}

/// A password or token. It prints as `***` in `Debug` and is never put in an error.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a secret.
    #[must_use]
    pub fn new(secret: impl Into<String>) -> Password {
        Password(secret.into())
    }

    /// The secret itself, for sending to the server.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Password {
        Password::new(s)
    }
}

impl From<String> for Password {
    fn from(s: String) -> Password {
        Password(s)
    }
}

/// Everything needed to open and set up a connection.
///
/// Build it from a URL ([`ConnectionInfo::from_url`], or `parse()`), from a
/// `(host, port)` pair, or from [`ConnectionInfo::default`] (`127.0.0.1:6379`) and its
/// fields.
///
/// # URLs
///
/// ```text
/// redis://[[username]:[password]@]host[:port][/db][?option=value&...]
/// rediss://...                          the same, over TLS
/// unix://[[username]:[password]@]/path/to/socket[?db=N&...]
/// ```
///
/// The user name, password, host, path and every query value are percent-decoded. The
/// database comes from the `db` query option, else from the path, else 0. Query options:
///
/// | option | value |
/// | --- | --- |
/// | `db` | database number |
/// | `protocol` | `2` or `3` |
/// | `username`, `password` | credentials (the ones in the user-info part win) |
/// | `client_name` | name set with `CLIENT SETNAME` (or `HELLO`) |
/// | `socket_timeout` | each request's deadline, in seconds |
/// | `socket_connect_timeout` | deadline of connecting and the setup, in seconds |
/// | `socket_keepalive` | TCP keepalive on or off |
/// | `busy_poll_us` | how long a sync connection polls for a reply before blocking, in microseconds (default `0`: never) |
/// | `health_check_interval` | idle seconds after which a pooled connection is checked |
/// | `ssl_ca_certs`, `ssl_ca_data` | CA certificates to trust (a PEM file, or PEM text) |
/// | `ssl_certfile`, `ssl_keyfile` | client certificate and key for mutual TLS |
/// | `ssl_cert_reqs` | `required` (default), `optional` (the same for a client) or `none` (unsafe) |
/// | `ssl_check_hostname` | whether the certificate must name the host (default: yes) |
///
/// Booleans accept `true`/`false`, `yes`/`no` and `1`/`0` in any case. An unknown scheme or
/// option, or a value that does not parse, is an [`ErrorKind::InvalidInput`] error.
///
/// # Examples
///
/// ```
/// use respec::{ConnectionAddr, ConnectionInfo};
///
/// let info: ConnectionInfo = "redis://app:s%40cret@cache.internal:6380/2?protocol=3".parse()?;
/// assert_eq!(
///     info.addr,
///     ConnectionAddr::Tcp { host: "cache.internal".into(), port: 6380 }
/// );
/// assert_eq!(info.db, 2);
/// assert_eq!(info.password.as_ref().map(|p| p.expose()), Some("s@cret"));
/// assert!(!format!("{info:?} {info}").contains("s@cret"));
/// # Ok::<(), respec::Error>(())
/// ```
///
/// [`ErrorKind::InvalidInput`]: crate::ErrorKind::InvalidInput
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// Where the server is.
    pub addr: ConnectionAddr,
    /// The ACL user; `None` authenticates as `default`.
    pub username: Option<String>,
    /// The password; `None` skips authentication.
    pub password: Option<Password>,
    /// The database selected on connect.
    pub db: i64,
    /// The protocol version to negotiate.
    pub protocol: ProtocolVersion,
    /// The name given to the connection with `CLIENT SETNAME`.
    pub client_name: Option<String>,
    /// The deadline of each request as a whole, from sending it to the last byte of its
    /// reply, however the bytes arrive; a blocking command (`BLPOP`, `XREAD ... BLOCK`)
    /// gets its own timeout on top. `None`: a sync connection waits forever, an async one
    /// [`DEFAULT_RESPONSE_TIMEOUT`](crate::aio::DEFAULT_RESPONSE_TIMEOUT).
    pub socket_timeout: Option<Duration>,
    /// How long connecting and the setup (`HELLO`, `AUTH`, `SELECT`, `CLIENT SETNAME`)
    /// may take together; `None` takes the socket timeout (and, for a sync connection
    /// with neither, leaves connecting to the operating system and waits for the setup as
    /// long as it takes; an async one allows 5 s).
    pub socket_connect_timeout: Option<Duration>,
    /// Whether TCP keepalive probes are sent on idle connections (default: on).
    pub socket_keepalive: bool,
    /// Idle time after which a pooled connection is checked with `PING` before use.
    pub health_check_interval: Option<Duration>,
    /// How long a sync connection polls the socket for a reply before it blocks on it;
    /// zero, the default, blocks at once. Polling saves the wake-up of a blocked thread
    /// when the server answers quickly, at the cost of the CPU time it takes, and grows
    /// rarer by itself when replies take longer; see [`Connection`](crate::Connection).
    /// TLS connections and async connections do not poll.
    pub busy_poll: Duration,
    /// TLS settings, used for `rediss://` ([`ConnectionAddr::TcpTls`]).
    pub tls: TlsOptions,
    /// Where each new connection gets its credentials; when set, it takes the place of
    /// `username` and `password`.
    pub credential_provider: Option<CredentialProviderHandle>,
}

impl Default for ConnectionInfo {
    fn default() -> Self {
        ConnectionInfo {
            addr: ConnectionAddr::Tcp {
                host: "127.0.0.1".into(),
                port: DEFAULT_PORT,
            },
            username: None,
            password: None,
            db: 0,
            protocol: ProtocolVersion::Resp2,
            client_name: None,
            socket_timeout: None,
            socket_connect_timeout: None,
            socket_keepalive: true,
            health_check_interval: None,
            busy_poll: Duration::ZERO,
            tls: TlsOptions::default(),
            credential_provider: None,
        }
    }
}

impl fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("addr", &self.addr)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("db", &self.db)
            .field("protocol", &self.protocol)
            .field("client_name", &self.client_name)
            .field("socket_timeout", &self.socket_timeout)
            .field("socket_connect_timeout", &self.socket_connect_timeout)
            .field("socket_keepalive", &self.socket_keepalive)
            .field("health_check_interval", &self.health_check_interval)
            .field("busy_poll", &self.busy_poll)
            .field("tls", &self.tls)
            .field("credential_provider", &self.credential_provider)
            .finish()
    }
}

/// Prints the connection as a URL without its secret: `redis://app:***@host:6379/2`.
impl fmt::Display for ConnectionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.addr {
            ConnectionAddr::Tcp { .. } => "redis",
            ConnectionAddr::TcpTls { .. } => "rediss",
            ConnectionAddr::Unix(_) => "unix",
        };
        write!(f, "{scheme}://")?;
        if self.username.is_some() || self.password.is_some() {
            let user = self.username.as_deref().unwrap_or("");
            let pass = if self.password.is_some() { ":***" } else { "" };
            write!(f, "{user}{pass}@")?;
        }
        write!(f, "{}", self.addr)?;
        if matches!(self.addr, ConnectionAddr::Unix(_)) {
            write!(f, "?db={}", self.db)
        } else {
            write!(f, "/{}", self.db)
        }
    }
}

impl ConnectionInfo {
    /// Parses a `redis://`, `rediss://` or `unix://` URL; see the type's docs for the rules.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) naming what is wrong:
    /// the scheme, the port, the database, an option or its value.
    pub fn from_url(url: &str) -> Result<ConnectionInfo> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            Error::invalid_input("invalid URL: no scheme (expected redis://, rediss:// or unix://)")
        })?;
        let scheme = scheme.to_ascii_lowercase();
        // A fragment means nothing here; drop it as a URL parser would.
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (user_info, rest) = match rest.rsplit_once('@') {
            Some((user_info, rest)) => (Some(user_info), rest),
            None => (None, rest),
        };

        let mut info = ConnectionInfo::default();
        let mut path_db = None;
        match scheme.as_str() {
            "redis" | "rediss" => {
                let (authority, path) = match rest.find('/') {
                    Some(idx) => rest.split_at(idx),
                    None => (rest, ""),
                };
                let (host, port) = split_host_port(authority)?;
                let host = if host.is_empty() {
                    "localhost".to_owned()
                } else {
                    percent_decode(host, "host")?
                };
                info.addr = if scheme == "redis" {
                    ConnectionAddr::Tcp { host, port }
                } else {
                    ConnectionAddr::TcpTls { host, port }
                };
                let path = path.trim_start_matches('/');
                if !path.is_empty() {
                    let db = percent_decode(path, "path")?;
                    path_db = Some(parse_db(&db, "URL path")?);
                }
            }
            "unix" => {
                let path = percent_decode(rest, "path")?;
                if path.is_empty() {
                    return Err(Error::invalid_input(
                        "invalid URL: unix:// needs a socket path",
                    ));
                }
                info.addr = ConnectionAddr::Unix(PathBuf::from(path));
            }
            other => {
                return Err(Error::invalid_input(format!(
                    "invalid URL: unknown scheme {other:?} (expected redis://, rediss:// or unix://)"
                )));
            }
        }

        let mut query_db = None;
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name, "query option name")?;
            let value = percent_decode(value, "query value")?;
            match name.as_str() {
                "db" => query_db = Some(parse_db(&value, "db")?),
                "protocol" => {
                    info.protocol = match value.as_str() {
                        "2" => ProtocolVersion::Resp2,
                        "3" => ProtocolVersion::Resp3,
                        _ => return Err(bad_value("protocol", &value, "2 or 3")),
                    }
                }
                "username" => info.username = Some(value),
                "password" => info.password = Some(Password(value)),
                "client_name" => info.client_name = Some(value),
                "socket_timeout" => info.socket_timeout = Some(parse_seconds(&name, &value)?),
                "socket_connect_timeout" => {
                    info.socket_connect_timeout = Some(parse_seconds(&name, &value)?);
                }
                "socket_keepalive" => info.socket_keepalive = parse_bool(&name, &value)?,
                "health_check_interval" => {
                    info.health_check_interval = Some(parse_seconds(&name, &value)?);
                }
                "busy_poll_us" => {
                    let micros = value
                        .parse()
                        .map_err(|_| bad_value(&name, &value, "a whole number of microseconds"))?;
                    info.busy_poll = Duration::from_micros(micros);
                }
                "ssl_ca_certs" | "ssl_ca_data" | "ssl_certfile" | "ssl_keyfile"
                | "ssl_cert_reqs" | "ssl_check_hostname"
                    if scheme != "rediss" =>
                {
                    return Err(Error::invalid_input(format!(
                        "invalid URL: {name} applies to rediss:// URLs only"
                    )));
                }
                "ssl_ca_certs" => info.tls.ca_certs = Some(PathBuf::from(value)),
                "ssl_ca_data" => info.tls.ca_data = Some(value),
                "ssl_certfile" => info.tls.certfile = Some(PathBuf::from(value)),
                "ssl_keyfile" => info.tls.keyfile = Some(PathBuf::from(value)),
                "ssl_cert_reqs" => {
                    info.tls.cert_reqs = match value.to_ascii_lowercase().as_str() {
                        "required" => CertReqs::Required,
                        "optional" => CertReqs::Optional,
                        "none" => CertReqs::None,
                        _ => return Err(bad_value(&name, &value, "required, optional or none")),
                    };
                }
                "ssl_check_hostname" => info.tls.check_hostname = parse_bool(&name, &value)?,
                _ => {
                    return Err(Error::invalid_input(format!(
                        "invalid URL: unknown option {name:?}"
                    )));
                }
            }
        }
        info.db = query_db.or(path_db).unwrap_or(0);

        if let Some(user_info) = user_info {
            let (user, pass) = match user_info.split_once(':') {
                Some((user, pass)) => (user, Some(pass)),
                None => (user_info, None),
            };
            if !user.is_empty() {
                info.username = Some(percent_decode(user, "user name")?);
            }
            if let Some(pass) = pass.filter(|p| !p.is_empty()) {
                // Never echo the password, even when it does not decode.
                let decoded = percent_decode(pass, "password").map_err(|_| {
                    Error::invalid_input(
                        "invalid URL: the password is not valid UTF-8 once percent-decoded",
                    )
                })?;
                info.password = Some(Password(decoded));
            }
        }
        Ok(info)
    }
}

impl FromStr for ConnectionInfo {
    type Err = Error;

    fn from_str(url: &str) -> Result<ConnectionInfo> {
        ConnectionInfo::from_url(url)
    }
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]`.
fn split_host_port(authority: &str) -> Result<(&str, u16)> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| Error::invalid_input("invalid URL: unclosed '[' in host"))?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(Error::invalid_input("invalid URL: junk after ']' in host")),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some(port) => port
            .parse()
            .map_err(|_| bad_value("port", port, "a number from 0 to 65535"))?,
    };
    Ok((host, port))
}

fn bad_value(name: &str, value: &str, expected: &str) -> Error {
    Error::invalid_input(format!(
        "invalid URL: {name} must be {expected}, not {value:?}"
    ))
}

fn parse_db(value: &str, name: &str) -> Result<i64> {
    value
        .parse()
        .ok()
        .filter(|db| *db >= 0)
        .ok_or_else(|| bad_value(name, value, "a database number"))
}

fn parse_seconds(name: &str, value: &str) -> Result<Duration> {
    value
        .parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| bad_value(name, value, "a positive number of seconds"))
}

fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(bad_value(name, value, "true/false, yes/no or 1/0")),
    }
}

/// Decodes `%XX` escapes. A `%` not followed by two hex digits is kept as it is, as
/// Python's `unquote` does; the result must be UTF-8.
fn percent_decode(text: &str, what: &str) -> Result<String> {
    if !text.contains('%') {
        return Ok(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut idx = 0;
    while let Some(&b) = bytes.get(idx) {
        let hex = |i: usize| bytes.get(i).and_then(|h| char::from(*h).to_digit(16));
        if let (b'%', Some(hi), Some(lo)) = (b, hex(idx + 1), hex(idx + 2)) {
            out.push((hi * 16 + lo) as u8);
            idx += 3;
        } else {
            out.push(b);
            idx += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        Error::invalid_input(format!(
            "invalid URL: the {what} is not valid UTF-8 once percent-decoded"
        ))
    })
}

/// Anything a [`Client`](crate::Client) can be opened with.
pub trait IntoConnectionInfo {
    /// Converts into a [`ConnectionInfo`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for a URL that does not
    /// parse.
    fn into_connection_info(self) -> Result<ConnectionInfo>;
}

impl IntoConnectionInfo for ConnectionInfo {
    fn into_connection_info(self) -> Result<ConnectionInfo> {
        Ok(self)
    }
}

impl IntoConnectionInfo for &str {
    fn into_connection_info(self) -> Result<ConnectionInfo> {
        ConnectionInfo::from_url(self)
    }
}

impl IntoConnectionInfo for String {
    fn into_connection_info(self) -> Result<ConnectionInfo> {
        ConnectionInfo::from_url(&self)
    }
}

impl IntoConnectionInfo for &String {
    fn into_connection_info(self) -> Result<ConnectionInfo> {
        ConnectionInfo::from_url(self)
    }
}

impl<H: Into<String>> IntoConnectionInfo for (H, u16) {
    fn into_connection_info(self) -> Result<ConnectionInfo> {
        Ok(ConnectionInfo {
            addr: ConnectionAddr::Tcp {
                host: self.0.into(),
                port: self.1,
            },
            ..ConnectionInfo::default()
        })
    }
}
