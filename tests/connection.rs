//! Connection setup against real servers: protocol, database, name, credentials, and
//! Unix sockets, and polling for replies.

mod support;

use std::time::Duration;

use respec::{Client, ConnectionAddr, ConnectionLike, ProtocolVersion, cmd};
use support::{PROTOCOLS, RedisServer};

fn protocol_number(protocol: ProtocolVersion) -> u8 {
    if protocol == ProtocolVersion::Resp3 {
        3
    } else {
        2
    }
}

/// One field of `CLIENT INFO`, as the server sees this connection.
fn client_info(con: &mut respec::Connection, field: &str) -> String {
    let info: String = cmd("CLIENT INFO").query(con).unwrap();
    info.split_whitespace()
        .find_map(|pair| pair.strip_prefix(field)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .to_owned()
}

#[test]
fn setup_selects_db_names_the_connection_and_negotiates_the_protocol() {
    let server = RedisServer::start();
    for protocol in PROTOCOLS {
        let url = format!(
            "{}/3?client_name=tour%2Dguide&protocol={}",
            server.url(),
            protocol_number(protocol)
        );
        let mut con = Client::open(url).unwrap().get_connection().unwrap();
        assert_eq!(con.db(), 3);
        assert_eq!(con.protocol(), protocol);
        assert_eq!(client_info(&mut con, "db"), "3");
        assert_eq!(
            client_info(&mut con, "resp"),
            protocol_number(protocol).to_string()
        );
        assert_eq!(
            cmd("CLIENT GETNAME").query::<String>(&mut con).unwrap(),
            "tour-guide"
        );

        // The key lands in db 3 and only there.
        cmd("SET").key("where").arg("three").exec(&mut con).unwrap();
        let mut db0 = support::connect(&server, protocol);
        assert_eq!(
            cmd("GET")
                .key("where")
                .query::<Option<String>>(&mut db0)
                .unwrap(),
            None
        );
        cmd("FLUSHALL").exec(&mut db0).unwrap();
    }
}

#[test]
fn query_db_wins_over_path_db() {
    let server = RedisServer::start();
    let mut con = Client::open(format!("{}/5?db=7", server.url()))
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(client_info(&mut con, "db"), "7");
}

#[test]
fn password_only_auth() {
    let server = RedisServer::config().password("p@ss:word").start();
    for protocol in PROTOCOLS {
        let url = format!(
            "redis://:p%40ss%3Aword@127.0.0.1:{}?protocol={}",
            server.port(),
            protocol_number(protocol)
        );
        let mut con = Client::open(url).unwrap().get_connection().unwrap();
        assert_eq!(cmd("PING").query::<String>(&mut con).unwrap(), "PONG");
        assert_eq!(client_info(&mut con, "user"), "default");
    }
}

#[test]
fn acl_user_and_password() {
    let server = RedisServer::config()
        .acl_user("alice", "on >wonderland ~* +@all")
        .start();
    for protocol in PROTOCOLS {
        let mut info = support::info(&server, protocol);
        info.username = Some("alice".into());
        info.password = Some("wonderland".into());
        let mut con = Client::open(info).unwrap().get_connection().unwrap();
        assert_eq!(
            cmd("ACL WHOAMI").query::<String>(&mut con).unwrap(),
            "alice"
        );
    }
}

#[test]
fn unix_socket_round_trip() {
    let server = RedisServer::config().unix_socket().start();
    let path = server.unix_socket().unwrap();
    for protocol in PROTOCOLS {
        let url = format!(
            "unix://{}?db=2&protocol={}",
            path.display(),
            protocol_number(protocol)
        );
        let client = Client::open(url).unwrap();
        assert_eq!(
            client.connection_info().addr,
            ConnectionAddr::Unix(path.to_owned())
        );
        let mut con = client.get_connection().unwrap();
        cmd("SET").key("over").arg("unix").exec(&mut con).unwrap();
        assert_eq!(
            cmd("GET").key("over").query::<String>(&mut con).unwrap(),
            "unix"
        );
        assert_eq!(client_info(&mut con, "db"), "2");
        assert_eq!(
            client_info(&mut con, "resp"),
            protocol_number(protocol).to_string()
        );
    }
}

#[test]
fn tls_urls_need_the_tls_feature() {
    let client = Client::open("rediss://127.0.0.1:1/").unwrap();
    let err = client.get_connection().unwrap_err();
    if cfg!(feature = "tls") {
        // With TLS built in, a closed port is a plain connection error.
        assert_eq!(err.kind(), respec::ErrorKind::Connection, "{err}");
    } else {
        assert_eq!(err.kind(), respec::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("`tls` feature"), "{err}");
    }
}

#[test]
fn one_client_many_connections_across_threads() {
    let server = RedisServer::start();
    let client = Client::open(server.url()).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let client = client.clone();
            scope.spawn(move || {
                let mut con = client.get_connection().unwrap();
                for i in 0..50 {
                    let n: i64 = cmd("INCR").key("shared").query(&mut con).unwrap();
                    assert!(n >= 1, "thread {t} round {i}");
                }
            });
        }
    });
    let mut con = client.get_connection().unwrap();
    assert_eq!(
        cmd("GET").key("shared").query::<i64>(&mut con).unwrap(),
        200
    );
}

/// Replies that come back at once, replies slower than the polling budget and large
/// replies that arrive in many reads all come whole, whatever the budget, over TCP and
/// a Unix socket.
#[test]
fn replies_arrive_whole_whether_polled_for_or_waited_on() {
    // The server wakes for a blocked client's timeout on its timer: at hz 100, the 0.01 s
    // BLPOPs below take about 10 ms each instead of 100.
    let server = RedisServer::config()
        .unix_socket()
        .directive(&["hz", "100"])
        .start();
    let path = server.unix_socket().unwrap();
    let big = support::patterned(1 << 20);
    for base in [server.url(), format!("unix://{}", path.display())] {
        for budget_us in [0, 1, 50, 1_000_000] {
            let url = format!("{base}?busy_poll_us={budget_us}");
            let client = Client::open(url.as_str()).unwrap();
            assert_eq!(
                client.connection_info().busy_poll,
                Duration::from_micros(budget_us)
            );
            let mut con = client.get_connection().unwrap();
            cmd("SET").key("big").arg(&big).exec(&mut con).unwrap();
            for round in 0..10 {
                // Slower than any budget but the last: the polls run out and grow rarer.
                let popped: Option<(String, String)> = cmd("BLPOP")
                    .key("nothing")
                    .arg(0.01)
                    .query(&mut con)
                    .unwrap();
                assert_eq!(popped, None, "{url} round {round}");
                let n: i64 = cmd("INCR").key("n").query(&mut con).unwrap();
                assert!(n > round, "{url} round {round}");
                let got: Vec<u8> = cmd("GET").key("big").query(&mut con).unwrap();
                assert!(got == big, "{url} round {round}: the large value changed");
                let replies: Vec<i64> = (0..100)
                    .fold(&mut respec::pipe(), |pipe, _| pipe.incr("p"))
                    .query(&mut con)
                    .unwrap();
                assert_eq!(replies.len(), 100);
                assert!(replies.windows(2).all(|w| w[1] == w[0] + 1), "{url}");
            }
        }
    }
}

/// A read timeout shorter than the polling budget still ends the wait in time.
#[test]
fn a_read_timeout_shorter_than_the_polling_budget_is_kept() {
    let server = RedisServer::start();
    let mut info = support::info(&server, ProtocolVersion::Resp2);
    info.busy_poll = Duration::from_secs(30);
    info.socket_timeout = Some(Duration::from_millis(100));
    let mut con = Client::open(info).unwrap().get_connection().unwrap();
    assert_eq!(cmd("PING").query::<String>(&mut con).unwrap(), "PONG");
    let started = std::time::Instant::now();
    // The server answers nothing for 20 s.
    let err = cmd("DEBUG")
        .arg("SLEEP")
        .arg(20)
        .exec(&mut con)
        .unwrap_err();
    // A poll that ignored the timeout would run its 30 s budget before failing.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the wait outlived the read timeout: {:?}",
        started.elapsed()
    );
    assert!(err.is_timeout(), "{err:?}");
    assert!(!con.is_open());
}
