//! Each error kind, produced for real against real servers.

mod support;

use std::time::Duration;

use respec::{Client, ConnectionLike, ErrorKind, ProtocolVersion, ServerErrorKind, Value, cmd};
use support::{CutProxy, PROTOCOLS, RedisServer, each_protocol};

#[test]
fn wrongtype() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        cmd("SET").key("k").arg("v").exec(con).unwrap();
        let err = cmd("LPUSH").key("k").arg("x").exec(con).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Server);
        assert_eq!(err.code(), Some("WRONGTYPE"));
        assert_eq!(
            err.server_error().map(respec::ServerError::kind),
            Some(ServerErrorKind::WrongType)
        );
        assert!(
            err.to_string()
                .starts_with("WRONGTYPE Operation against a key"),
            "{err}"
        );
        // An error reply leaves the connection usable.
        assert!(con.is_open());
        assert_eq!(cmd("GET").key("k").query::<String>(con).unwrap(), "v");
    });
}

#[test]
fn noscript() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        let err = cmd("EVALSHA")
            .arg("ffffffffffffffffffffffffffffffffffffffff")
            .arg(0)
            .exec(con)
            .unwrap_err();
        assert_eq!(err.code(), Some("NOSCRIPT"));
        assert_eq!(
            err.server_error().map(respec::ServerError::kind),
            Some(ServerErrorKind::NoScript)
        );
    });
}

#[test]
fn wrong_password_is_an_authentication_error_without_the_secret() {
    let server = RedisServer::config().password("right-password").start();
    let secret = "wrong-Pa55-do-not-echo";
    for protocol in PROTOCOLS {
        let mut info = support::info(&server, protocol);
        info.password = Some(secret.into());
        let err = Client::open(info).unwrap().get_connection().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Authentication, "{protocol:?}: {err}");
        assert_eq!(err.code(), Some("WRONGPASS"));
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(secret), "the secret leaked: {shown}");
        }

        // No password at all: the first command is refused.
        let mut info = support::info(&server, ProtocolVersion::Resp2);
        info.password = None;
        let mut con = Client::open(info).unwrap().get_connection().unwrap();
        let err = cmd("GET").key("k").exec(&mut con).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Authentication);
        assert_eq!(err.code(), Some("NOAUTH"));
    }
}

#[test]
fn acl_user_gets_noperm_outside_its_rights() {
    let server = RedisServer::config()
        .acl_user("app", "on >app-secret ~app:* +get +set")
        .start();
    for protocol in PROTOCOLS {
        let url = format!(
            "redis://app:app-secret@127.0.0.1:{}/?protocol={}",
            server.port(),
            if protocol == ProtocolVersion::Resp3 {
                3
            } else {
                2
            }
        );
        let mut con = Client::open(url).unwrap().get_connection().unwrap();
        cmd("SET").key("app:1").arg("v").exec(&mut con).unwrap();
        assert_eq!(
            cmd("GET").key("app:1").query::<String>(&mut con).unwrap(),
            "v"
        );

        let err = cmd("SET")
            .key("other:1")
            .arg("v")
            .exec(&mut con)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
        assert_eq!(err.code(), Some("NOPERM"));

        let err = cmd("DEL").key("app:1").exec(&mut con).unwrap_err();
        assert_eq!(err.code(), Some("NOPERM"), "{err}");
        assert!(con.is_open());
    }
}

#[test]
fn connecting_to_a_closed_port() {
    // A socket bound but never listening holds the port, so nothing else can take it and
    // every connection to it is refused.
    let holder = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    holder
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let port = holder.local_addr().unwrap().as_socket().unwrap().port();
    let err = Client::open(("127.0.0.1", port))
        .unwrap()
        .get_connection()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert!(err.is_connection_refused(), "{err:?}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn a_timeout_mid_request_breaks_the_connection() {
    for protocol in PROTOCOLS {
        // A server of its own each time: the sleep holds the whole server.
        let server = RedisServer::start();
        let mut info = support::info(&server, protocol);
        info.socket_timeout = Some(Duration::from_millis(200));
        let mut con = Client::open(info).unwrap().get_connection().unwrap();
        // The server answers nothing for half a second.
        let err = cmd("DEBUG")
            .arg("SLEEP")
            .arg(0.5)
            .exec(&mut con)
            .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Timeout);
        // The reply may still arrive: the connection must not be reused.
        assert!(!con.is_open());
        let err = cmd("PING").exec(&mut con).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection);
        assert!(err.is_connection_dropped());
    }
}

#[test]
fn server_cut_off_mid_reply_breaks_the_connection() {
    let server = RedisServer::start();
    let mut direct = support::connect(&server, ProtocolVersion::Resp2);
    let big = "v".repeat(100_000);
    cmd("SET").key("big").arg(&big).exec(&mut direct).unwrap();

    // The proxy lets 1000 bytes of the 100 kB reply through, then the "server" is gone.
    let proxy = CutProxy::start(server.port(), 1000);
    let mut con = Client::open(proxy.url()).unwrap().get_connection().unwrap();
    let err = cmd("GET").key("big").query::<String>(&mut con).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err:?}");
    assert!(err.is_connection_dropped(), "{err:?}");
    assert!(!con.is_open());
    let err = cmd("PING").exec(&mut con).unwrap_err();
    assert!(err.to_string().contains("cannot be reused"), "{err}");
}

#[test]
fn killed_server() {
    let mut server = RedisServer::start();
    let mut con = support::connect(&server, ProtocolVersion::Resp3);
    cmd("PING").exec(&mut con).unwrap();
    server.kill();
    let err = cmd("PING").exec(&mut con).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err:?}");
    assert!(!con.is_open());
}

#[test]
fn conversion_errors_leave_the_connection_usable() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        cmd("SET").key("k").arg("not a number").exec(con).unwrap();
        let err = cmd("GET").key("k").query::<i64>(con).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conversion);
        assert_eq!(
            err.to_string(),
            r#"cannot convert bulk string "not a number" to i64"#
        );
        assert!(con.is_open());
        assert_eq!(
            cmd("GET").key("k").query::<String>(con).unwrap(),
            "not a number"
        );
    });
}

#[test]
fn error_replies_inside_an_aggregate() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        cmd("SET").key("s").arg("x").exec(con).unwrap();
        let replies = con
            .req_commands(&[
                cmd("MULTI").clone(),
                cmd("INCR").key("s").clone(),
                cmd("GET").key("s").clone(),
                cmd("EXEC").clone(),
            ])
            .unwrap();
        let Value::Array(results) = &replies[3] else {
            panic!("EXEC returned {:?}", replies[3]);
        };
        assert!(matches!(&results[0], Value::ServerError(e) if e.code() == "ERR"));
        // Converting the whole EXEC reply reports the error inside it.
        let err = respec::from_redis_value::<(i64, String)>(replies[3].clone()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Server);
        assert!(err.to_string().contains("not an integer"), "{err}");
        let (_, s): (Value, String) = respec::from_redis_value(replies[3].clone()).unwrap();
        assert_eq!(s, "x");
    });
}

#[test]
fn execabort() {
    let server = RedisServer::start();
    each_protocol(&server, |con, _| {
        let replies = con
            .req_commands(&[
                cmd("MULTI").clone(),
                cmd("NOSUCHCOMMAND").clone(),
                cmd("EXEC").clone(),
            ])
            .unwrap();
        assert!(matches!(&replies[1], Value::ServerError(e) if e.code() == "ERR"));
        let Value::ServerError(e) = &replies[2] else {
            panic!("EXEC returned {:?}", replies[2]);
        };
        assert_eq!(e.kind(), ServerErrorKind::ExecAbort);
    });
}
