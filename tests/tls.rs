//! TLS, credentials and Unix sockets against real servers, sync and async.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};

use respec::{
    AsyncCommands, CertReqs, Client, Commands, ConnectionAddr, ConnectionInfo, CredentialProvider,
    CredentialProviderHandle, Credentials, ErrorKind, cmd,
};
use support::RedisServer;
use support::certs::certs;

/// A server with TLS on, or `None` (the test then skips) when its build has no TLS.
fn tls_server(auth_clients: bool) -> Option<RedisServer> {
    if !support::server_has("TLS", support::server_kind().has_tls()) {
        return None;
    }
    let c = certs();
    let server = RedisServer::config()
        .tls(&c.server_cert, &c.server_key, &c.ca_cert, auth_clients)
        .start();
    Some(server)
}

fn url(host: &str, server: &RedisServer, query: &str) -> String {
    format!("rediss://{host}:{}/?{query}", server.tls_port().unwrap())
}

fn ca_query(ca: &Path) -> String {
    format!("ssl_ca_certs={}", ca.display())
}

#[test]
fn a_trusted_ca_connects_sync_and_async() {
    let Some(server) = tls_server(false) else {
        return;
    };
    for protocol in ["2", "3"] {
        let client = Client::open(url(
            "localhost",
            &server,
            &format!("{}&protocol={protocol}", ca_query(&certs().ca_cert)),
        ))
        .unwrap();
        let mut con = client.get_connection().unwrap();
        assert_eq!(con.ping().unwrap(), "PONG");
        // Pipelines over TLS.
        let (n, v): (i64, String) = respec::pipe()
            .set("k", "v")
            .ignore()
            .incr("n")
            .get("k")
            .query(&mut con)
            .unwrap();
        assert_eq!((n, v.as_str()), (1, "v"));
        // A large value, which is written in two parts.
        let big: Vec<u8> = (0..(3 << 20) + 7).map(|i| (i % 251) as u8).collect();
        cmd("SET").key("big").arg(&big).exec(&mut con).unwrap();
        assert_eq!(
            cmd("GET").key("big").query::<Vec<u8>>(&mut con).unwrap(),
            big
        );
        cmd("FLUSHALL").exec(&mut con).unwrap();
    }
    // The CA given as PEM text instead of a file.
    let mut info: ConnectionInfo = url("localhost", &server, "").parse().unwrap();
    info.tls.ca_data = Some(std::fs::read_to_string(&certs().ca_cert).unwrap());
    assert_eq!(
        Client::open(info)
            .unwrap()
            .get_connection()
            .unwrap()
            .ping()
            .unwrap(),
        "PONG"
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = Client::open(url("localhost", &server, &ca_query(&certs().ca_cert))).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let mut con = con.clone();
            tasks.push(tokio::spawn(async move {
                con.incr(format!("t{i}")).await.unwrap()
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), 1);
        }
        let (a, b): (i64, i64) = respec::pipe()
            .incr("t0")
            .incr("t1")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!((a, b), (2, 2));
        let mut single = client.get_async_connection().await.unwrap();
        assert_eq!(single.ping().await.unwrap(), "PONG");
    });
}

#[test]
fn an_unknown_ca_fails_with_a_certificate_error() {
    let Some(server) = tls_server(false) else {
        return;
    };
    let err = Client::open(url("localhost", &server, &ca_query(&certs().other_ca_cert)))
        .unwrap()
        .get_connection()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = runtime
        .block_on(
            Client::open(url("localhost", &server, &ca_query(&certs().other_ca_cert)))
                .unwrap()
                .get_multiplexed_async_connection(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
}

#[test]
fn a_host_name_mismatch_fails_unless_checking_is_off() {
    let Some(server) = tls_server(false) else {
        return;
    };
    // The certificate names localhost, not 127.0.0.1.
    let err = Client::open(url("127.0.0.1", &server, &ca_query(&certs().ca_cert)))
        .unwrap()
        .get_connection()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err:?}");
    assert!(
        err.to_string().contains("not valid for name")
            || err.to_string().contains("NotValidForName"),
        "{err}"
    );
    let query = format!("{}&ssl_check_hostname=false", ca_query(&certs().ca_cert));
    let mut con = Client::open(url("127.0.0.1", &server, &query))
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(con.ping().unwrap(), "PONG");
    // The chain is still checked when the name is not.
    let query = format!(
        "{}&ssl_check_hostname=false",
        ca_query(&certs().other_ca_cert)
    );
    let err = Client::open(url("127.0.0.1", &server, &query))
        .unwrap()
        .get_connection()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls);
}

#[test]
fn mutual_tls() {
    let Some(server) = tls_server(true) else {
        return;
    };
    let c = certs();
    let query = format!(
        "{}&ssl_certfile={}&ssl_keyfile={}",
        ca_query(&c.ca_cert),
        c.client_cert.display(),
        c.client_key.display()
    );
    let mut con = Client::open(url("localhost", &server, &query))
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(con.ping().unwrap(), "PONG");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut con = Client::open(url("localhost", &server, &query))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        assert_eq!(con.ping().await.unwrap(), "PONG");
    });
    // Without a client certificate the server refuses us: in the handshake, or (TLS
    // 1.3) on the first exchange after it.
    // Issue 20, item 12: either way the error is a TLS error that names the alert, sync
    // and async.
    let no_cert = url("localhost", &server, &ca_query(&c.ca_cert));
    let refused = Client::open(no_cert.as_str())
        .unwrap()
        .get_connection()
        .and_then(|mut con| con.ping())
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Tls, "{refused:?}");
    assert!(
        refused.to_string().contains("CertificateRequired"),
        "{refused}"
    );
    runtime.block_on(async {
        let client = Client::open(no_cert.as_str()).unwrap();
        let multiplexed = match client.get_multiplexed_async_connection().await {
            Ok(mut con) => con.ping().await.unwrap_err(),
            Err(e) => e,
        };
        let single = match client.get_async_connection().await {
            Ok(mut con) => con.ping().await.unwrap_err(),
            Err(e) => e,
        };
        for refused in [multiplexed, single] {
            assert_eq!(refused.kind(), ErrorKind::Tls, "{refused:?}");
            assert!(
                refused.to_string().contains("CertificateRequired"),
                "{refused}"
            );
        }
    });
    let err = Client::open(format!(
        "{}&ssl_certfile={}",
        url("localhost", &server, &ca_query(&c.ca_cert)),
        c.client_cert.display()
    ))
    .unwrap()
    .get_connection()
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("ssl_keyfile"), "{err}");
}

#[test]
fn cert_reqs_none_accepts_a_self_signed_server() {
    if !support::server_has("TLS", support::server_kind().has_tls()) {
        return;
    }
    let c = certs();
    let server = RedisServer::config()
        .tls(&c.self_signed_cert, &c.self_signed_key, &c.ca_cert, false)
        .start();
    let err = Client::open(url("localhost", &server, &ca_query(&c.ca_cert)))
        .unwrap()
        .get_connection()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls);
    let mut info: ConnectionInfo = url("localhost", &server, "ssl_cert_reqs=none")
        .parse()
        .unwrap();
    assert_eq!(info.tls.cert_reqs, CertReqs::None);
    let mut con = Client::open(info.clone())
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(con.ping().unwrap(), "PONG");
    // `optional` checks, as `required` does, for a client.
    info.tls.cert_reqs = CertReqs::Optional;
    assert_eq!(
        Client::open(info)
            .unwrap()
            .get_connection()
            .unwrap_err()
            .kind(),
        ErrorKind::Tls
    );
}

#[test]
fn pubsub_over_tls() {
    let Some(server) = tls_server(false) else {
        return;
    };
    let client = Client::open(url("localhost", &server, &ca_query(&certs().ca_cert))).unwrap();
    let mut pubsub = client.pubsub().ignore_subscribe_messages(true);
    pubsub.subscribe("secure").unwrap();
    let mut publisher = client.clone();
    while publisher.publish("secure", "sealed").unwrap() == 0 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let message = pubsub
        .get_message(std::time::Duration::from_secs(5))
        .unwrap()
        .unwrap();
    assert_eq!(message.payload::<String>().unwrap(), "sealed");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut pubsub = client.async_pubsub().ignore_subscribe_messages(true);
        pubsub.subscribe("secure-async").await.unwrap();
        let mut publisher = client.get_multiplexed_async_connection().await.unwrap();
        while publisher
            .publish("secure-async", "sealed too")
            .await
            .unwrap()
            == 0
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let message = pubsub.next_message().await.unwrap();
        assert_eq!(message.payload::<String>().unwrap(), "sealed too");
    });
}

#[test]
fn tls_options_need_a_rediss_url() {
    let err = ConnectionInfo::from_url("redis://localhost/?ssl_cert_reqs=none").unwrap_err();
    assert!(err.to_string().contains("rediss://"), "{err}");
    let info = ConnectionInfo::from_url(
        "rediss://h/?ssl_cert_reqs=OPTIONAL&ssl_check_hostname=no&ssl_ca_data=x",
    )
    .unwrap();
    assert_eq!(info.tls.cert_reqs, CertReqs::Optional);
    assert!(!info.tls.check_hostname);
    assert_eq!(info.tls.ca_data.as_deref(), Some("x"));
    assert!(matches!(info.addr, ConnectionAddr::TcpTls { .. }));
    let err = ConnectionInfo::from_url("rediss://h/?ssl_cert_reqs=maybe").unwrap_err();
    assert!(
        err.to_string().contains("required, optional or none"),
        "{err}"
    );
}

/// A provider whose secret can be rotated.
#[derive(Debug)]
struct Rotating(Mutex<String>);

impl CredentialProvider for Rotating {
    fn credentials(&self) -> respec::Result<Credentials> {
        Ok(Credentials {
            username: Some("svc".into()),
            password: self.0.lock().unwrap().as_str().into(),
        })
    }
}

#[test]
fn a_credential_providers_rotated_secret_is_used_by_the_next_connection() {
    let server = RedisServer::config()
        .acl_user("svc", "on >first ~* +@all")
        .start();
    let provider = Arc::new(Rotating(Mutex::new("first".into())));
    for protocol in support::PROTOCOLS {
        let mut info = support::info(&server, protocol);
        info.credential_provider = Some(CredentialProviderHandle(provider.clone()));
        let mut con = respec::Connection::open(&info).unwrap();
        assert_eq!(cmd("ACL WHOAMI").query::<String>(&mut con).unwrap(), "svc");
        // The secret rotates on the server and in the provider.
        cmd("ACL SETUSER")
            .arg(["svc", "resetpass", ">second"])
            .exec(&mut con)
            .unwrap();
        *provider.0.lock().unwrap() = "second".into();
        let mut next = respec::Connection::open(&info).unwrap();
        assert_eq!(cmd("ACL WHOAMI").query::<String>(&mut next).unwrap(), "svc");
        // Back for the next protocol; the old secret no longer works.
        cmd("ACL SETUSER")
            .arg(["svc", "resetpass", ">first"])
            .exec(&mut next)
            .unwrap();
        *provider.0.lock().unwrap() = "second".into();
        let err = respec::Connection::open(&info).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Authentication);
        assert!(!err.to_string().contains("second"), "{err}");
        *provider.0.lock().unwrap() = "first".into();
    }
}

#[test]
fn unix_sockets_async() {
    let server = RedisServer::config().unix_socket().start();
    let path = server.unix_socket().unwrap().to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for protocol in [2, 3] {
            let client = Client::open(format!(
                "unix://{}?db=4&protocol={protocol}",
                path.display()
            ))
            .unwrap();
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            con.set("over", "unix").await.unwrap();
            assert_eq!(con.get::<String>("over").await.unwrap(), "unix");
            let info: String = con.client_info().await.unwrap();
            assert!(info.contains(" db=4 "), "{info}");
            let mut pooled = client.get_async_connection().await.unwrap();
            assert_eq!(pooled.get::<String>("over").await.unwrap(), "unix");

            // A Unix socket takes far less than 4 MiB at once: most of the value goes
            // through the writer task after the caller's own first write.
            let big = support::patterned(4 << 20);
            con.set("big", &big).await.unwrap();
            assert!(con.get::<Vec<u8>>("big").await.unwrap() == big);
            assert!(pooled.get::<Vec<u8>>("big").await.unwrap() == big);
        }
    });
}
