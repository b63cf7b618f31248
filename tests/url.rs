//! URL parsing, one row per rule.

use std::path::PathBuf;
use std::time::Duration;

use respec::{ConnectionAddr, ConnectionInfo, ErrorKind, ProtocolVersion};

fn parse(url: &str) -> ConnectionInfo {
    url.parse()
        .unwrap_or_else(|e| panic!("{url} should parse: {e}"))
}

#[track_caller]
fn check_err(url: &str, expected_fragment: &str) {
    let err = ConnectionInfo::from_url(url).expect_err(url);
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{url}");
    let text = err.to_string();
    assert!(
        text.contains(expected_fragment),
        "{url}: {text:?} does not mention {expected_fragment:?}"
    );
}

fn tcp(host: &str, port: u16) -> ConnectionAddr {
    ConnectionAddr::Tcp {
        host: host.into(),
        port,
    }
}

#[test]
fn addresses() {
    let cases = [
        ("redis://localhost", tcp("localhost", 6379)),
        ("redis://localhost:6380", tcp("localhost", 6380)),
        ("redis://127.0.0.1:7000/", tcp("127.0.0.1", 7000)),
        ("redis://", tcp("localhost", 6379)),
        ("redis://:6390", tcp("localhost", 6390)),
        ("redis://[::1]:6381", tcp("::1", 6381)),
        ("redis://[::1]", tcp("::1", 6379)),
        ("REDIS://Example.COM", tcp("Example.COM", 6379)),
        ("redis://my%2Dhost:1", tcp("my-host", 1)),
        (
            "rediss://cache.example.com:6390",
            ConnectionAddr::TcpTls {
                host: "cache.example.com".into(),
                port: 6390,
            },
        ),
        (
            "unix:///run/redis/redis.sock",
            ConnectionAddr::Unix(PathBuf::from("/run/redis/redis.sock")),
        ),
        (
            "unix://user:pw@/tmp/a%20b.sock?db=2",
            ConnectionAddr::Unix(PathBuf::from("/tmp/a b.sock")),
        ),
    ];
    for (url, addr) in cases {
        assert_eq!(parse(url).addr, addr, "{url}");
    }
}

#[test]
fn credentials() {
    let cases: [(&str, Option<&str>, Option<&str>); 9] = [
        ("redis://host", None, None),
        ("redis://:secret@host", None, Some("secret")),
        ("redis://alice:secret@host", Some("alice"), Some("secret")),
        ("redis://alice@host", Some("alice"), None),
        ("redis://alice:@host", Some("alice"), None),
        // Percent-encoded password: '@', ':', '/', '%' and a space.
        (
            "redis://:p%40ss%3Aw%2Fo%25rd%20x@host",
            None,
            Some("p@ss:w/o%rd x"),
        ),
        // A raw '@' in the password: the last '@' ends the user info.
        ("redis://u:a@b@host", Some("u"), Some("a@b")),
        (
            "redis://host?username=bob&password=pw",
            Some("bob"),
            Some("pw"),
        ),
        (
            "redis://carol:pw2@host?username=bob&password=pw",
            Some("carol"),
            Some("pw2"),
        ),
    ];
    for (url, username, password) in cases {
        let info = parse(url);
        assert_eq!(info.username.as_deref(), username, "{url}");
        assert_eq!(
            info.password.as_ref().map(respec::Password::expose),
            password,
            "{url}"
        );
    }
}

#[test]
fn db_comes_from_the_query_then_the_path_then_zero() {
    let cases = [
        ("redis://host", 0),
        ("redis://host/", 0),
        ("redis://host/4", 4),
        ("redis://host/4?db=9", 9),
        ("redis://host?db=9", 9),
        ("redis://host/%35", 5),
        ("unix:///tmp/r.sock", 0),
        ("unix:///tmp/r.sock?db=3", 3),
    ];
    for (url, db) in cases {
        assert_eq!(parse(url).db, db, "{url}");
    }
}

#[test]
fn options() {
    let info = parse(
        "redis://host/?socket_timeout=1.5&socket_connect_timeout=2&socket_keepalive=No\
         &client_name=my%2Dapp&health_check_interval=30&protocol=3&busy_poll_us=120",
    );
    assert_eq!(info.socket_timeout, Some(Duration::from_millis(1500)));
    assert_eq!(info.socket_connect_timeout, Some(Duration::from_secs(2)));
    assert!(!info.socket_keepalive);
    assert_eq!(info.client_name.as_deref(), Some("my-app"));
    assert_eq!(info.health_check_interval, Some(Duration::from_secs(30)));
    assert_eq!(info.protocol, ProtocolVersion::Resp3);
    assert_eq!(info.busy_poll, Duration::from_micros(120));
    assert_eq!(
        parse("redis://host?busy_poll_us=0").busy_poll,
        Duration::ZERO
    );

    let defaults = parse("redis://host");
    assert_eq!(defaults.protocol, ProtocolVersion::Resp2);
    assert!(defaults.socket_keepalive);
    assert_eq!(defaults.socket_timeout, None);
    assert_eq!(defaults.busy_poll, Duration::ZERO);
}

#[test]
fn booleans_in_any_case() {
    for (text, expected) in [
        ("True", true),
        ("TRUE", true),
        ("yes", true),
        ("YeS", true),
        ("1", true),
        ("false", false),
        ("False", false),
        ("NO", false),
        ("0", false),
    ] {
        let info = parse(&format!("redis://h?socket_keepalive={text}"));
        assert_eq!(info.socket_keepalive, expected, "{text}");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    check_err("http://host", "unknown scheme \"http\"");
    check_err("localhost:6379", "no scheme");
    check_err("redis://host:port", "port must be a number");
    check_err("redis://host:70000", "port must be a number");
    check_err("redis://host/zero", "URL path must be a database number");
    check_err("redis://host/-1", "URL path must be a database number");
    check_err("redis://host?db=x", "db must be a database number");
    check_err("redis://host?protocol=4", "protocol must be 2 or 3");
    check_err(
        "redis://host?socket_timeout=soon",
        "socket_timeout must be a positive number",
    );
    check_err(
        "redis://host?socket_timeout=-1",
        "socket_timeout must be a positive number",
    );
    check_err(
        "redis://host?socket_keepalive=maybe",
        "socket_keepalive must be true/false",
    );
    check_err(
        "redis://host?busy_poll_us=-5",
        "busy_poll_us must be a whole number of microseconds",
    );
    check_err(
        "redis://host?busy_poll_us=0.5",
        "busy_poll_us must be a whole number of microseconds",
    );
    check_err("redis://host?colour=blue", "unknown option \"colour\"");
    check_err("redis://[::1", "unclosed '['");
    check_err("unix://", "needs a socket path");
    check_err("redis://host?client_name=%ff", "not valid UTF-8");
}

#[test]
fn a_bad_password_encoding_is_reported_without_the_password() {
    let err = ConnectionInfo::from_url("redis://:hunter%ff2@host").unwrap_err();
    assert!(err.to_string().contains("password"), "{err}");
    assert!(!err.to_string().contains("hunter"), "{err}");
}

#[test]
fn the_password_never_shows() {
    let info = parse("redis://alice:hunter2@host:6380/1");
    let debug = format!("{info:?}");
    let display = info.to_string();
    assert!(!debug.contains("hunter2") && !display.contains("hunter2"));
    assert!(debug.contains("***"), "{debug}");
    assert_eq!(display, "redis://alice:***@host:6380/1");
}

#[test]
fn host_and_port_pairs() {
    use respec::IntoConnectionInfo;
    let info = ("10.0.0.1", 7001).into_connection_info().unwrap();
    assert_eq!(info.addr, tcp("10.0.0.1", 7001));
    assert_eq!(info.db, 0);
}
