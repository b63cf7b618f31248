//! Pub/sub and MONITOR against real servers, under RESP2 and RESP3.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use respec::{Client, Commands, MessageKind, ProtocolVersion, cmd};
use support::{PROTOCOLS, RedisServer, wait_until};

const WAIT: Duration = Duration::from_secs(5);

fn client(server: &RedisServer, protocol: ProtocolVersion) -> Client {
    Client::open(support::info(server, protocol)).unwrap()
}

fn subscribers(publisher: &mut Client, channel: &str) -> i64 {
    let counts: Vec<(String, i64)> = publisher
        .pubsub_numsub_options(respec::commands::PubsubNumsubOptions::default().channel(channel))
        .unwrap();
    counts[0].1
}

#[test]
fn messages_confirmations_patterns_and_shards() {
    let server = RedisServer::start();
    for protocol in PROTOCOLS {
        let mut publisher = client(&server, protocol);
        let mut pubsub = client(&server, protocol).pubsub();
        // Nothing waiting: returns at once.
        pubsub.subscribe("news").unwrap();
        let confirmation = pubsub.get_message(WAIT).unwrap().expect("a confirmation");
        assert_eq!(confirmation.kind(), MessageKind::Subscribe);
        assert_eq!(confirmation.channel_name(), Some("news"));
        assert_eq!(confirmation.payload::<i64>().unwrap(), 1);
        let started = Instant::now();
        assert!(pubsub.get_message(Duration::ZERO).unwrap().is_none());
        assert!(started.elapsed() < Duration::from_secs(1));

        assert_eq!(publisher.publish("news", "hello").unwrap(), 1);
        let message = pubsub.get_message(WAIT).unwrap().expect("a message");
        assert_eq!(message.kind(), MessageKind::Message);
        assert_eq!(message.channel(), b"news");
        assert_eq!(message.pattern(), None);
        assert_eq!(message.payload::<String>().unwrap(), "hello");

        pubsub.psubscribe("alerts.*").unwrap();
        assert_eq!(
            pubsub.get_message(WAIT).unwrap().unwrap().kind(),
            MessageKind::PSubscribe
        );
        publisher.publish("alerts.disk", "full").unwrap();
        let message = pubsub.get_message(WAIT).unwrap().unwrap();
        assert_eq!(message.kind(), MessageKind::PMessage);
        assert_eq!(
            (message.pattern(), message.channel()),
            (Some(&b"alerts.*"[..]), &b"alerts.disk"[..])
        );

        pubsub.ssubscribe("shard-news").unwrap();
        assert_eq!(
            pubsub.get_message(WAIT).unwrap().unwrap().kind(),
            MessageKind::SSubscribe
        );
        assert_eq!(publisher.spublish("shard-news", "s").unwrap(), 1);
        let message = pubsub.get_message(WAIT).unwrap().unwrap();
        assert_eq!(
            (
                message.kind(),
                message.payload::<String>().unwrap().as_str()
            ),
            (MessageKind::SMessage, "s")
        );

        // Unsubscribing: one channel, then everything (an empty list).
        pubsub.unsubscribe("news").unwrap();
        assert_eq!(
            pubsub.get_message(WAIT).unwrap().unwrap().kind(),
            MessageKind::Unsubscribe
        );
        assert_eq!(subscribers(&mut publisher, "news"), 0);
        pubsub.punsubscribe(Vec::<String>::new()).unwrap();
        assert_eq!(
            pubsub.get_message(WAIT).unwrap().unwrap().kind(),
            MessageKind::PUnsubscribe
        );
        pubsub.sunsubscribe(Vec::<String>::new()).unwrap();
        assert_eq!(
            pubsub.get_message(WAIT).unwrap().unwrap().kind(),
            MessageKind::SUnsubscribe
        );
        assert_eq!(pubsub.subscriptions(), (vec![], vec![], vec![]));
    }
}

#[test]
fn handlers_ignore_and_health_checks() {
    let server = RedisServer::start();
    for protocol in PROTOCOLS {
        let mut publisher = client(&server, protocol);
        let mut pubsub = client(&server, protocol)
            .pubsub()
            .ignore_subscribe_messages(true);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        pubsub
            .subscribe_with("handled", move |m| {
                sink.lock().unwrap().push(m.payload::<String>().unwrap());
            })
            .unwrap();
        pubsub.subscribe("plain").unwrap();
        wait_until("both subscriptions", || {
            subscribers(&mut publisher, "plain") == 1
        });
        publisher.publish("handled", "to the handler").unwrap();
        publisher.publish("plain", "to the caller").unwrap();
        // The handled message is passed on, not returned; confirmations are skipped.
        let mut returned = Vec::new();
        wait_until("both messages", || {
            if let Some(m) = pubsub.get_message(Duration::from_millis(20)).unwrap() {
                returned.push(m.payload::<String>().unwrap());
            }
            returned.len() == 1 && seen.lock().unwrap().len() == 1
        });
        assert_eq!(returned, ["to the caller"]);
        assert_eq!(*seen.lock().unwrap(), ["to the handler"]);
        // A health check's PING answer is no message.
        pubsub.check_health().unwrap();
        assert!(
            pubsub
                .get_message(Duration::from_millis(100))
                .unwrap()
                .is_none()
        );
    }
}

#[test]
fn handlers_run_in_a_thread_until_stopped() {
    let server = RedisServer::start();
    let mut publisher = client(&server, ProtocolVersion::Resp2);
    let mut pubsub = client(&server, ProtocolVersion::Resp2)
        .pubsub()
        .ignore_subscribe_messages(true);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    pubsub
        .psubscribe_with("jobs.*", move |m| {
            sink.lock()
                .unwrap()
                .push(m.channel_name().unwrap().to_owned());
        })
        .unwrap();
    let thread = pubsub.run_in_thread(Duration::from_millis(10));
    wait_until("the subscription", || {
        publisher.pubsub_numpat().unwrap() == 1
    });
    publisher.publish("jobs.a", "1").unwrap();
    publisher.publish("jobs.b", "2").unwrap();
    wait_until("two handled messages", || seen.lock().unwrap().len() == 2);
    assert_eq!(*seen.lock().unwrap(), ["jobs.a", "jobs.b"]);
    let pubsub = thread.stop().unwrap();
    assert_eq!(pubsub.subscriptions().1, [b"jobs.*"]);
}

#[test]
fn a_blocking_iterator() {
    let server = RedisServer::start();
    let mut publisher = client(&server, ProtocolVersion::Resp3);
    let mut pubsub = client(&server, ProtocolVersion::Resp3)
        .pubsub()
        .ignore_subscribe_messages(true);
    pubsub.subscribe(["a", "b"]).unwrap();
    wait_until("the subscriptions", || {
        subscribers(&mut publisher, "b") == 1
    });
    publisher.publish("a", "1").unwrap();
    publisher.publish("b", "2").unwrap();
    let got: Vec<String> = pubsub
        .listen()
        .take(2)
        .map(|m| m.unwrap().payload().unwrap())
        .collect();
    assert_eq!(got, ["1", "2"]);
}

#[test]
fn subscriptions_come_back_after_the_connection_is_killed() {
    let server = RedisServer::start();
    for protocol in PROTOCOLS {
        let mut publisher = client(&server, protocol);
        let mut pubsub = client(&server, protocol)
            .pubsub()
            .ignore_subscribe_messages(true);
        pubsub.subscribe("news").unwrap();
        pubsub.psubscribe("alerts.*").unwrap();
        wait_until("the subscription", || {
            subscribers(&mut publisher, "news") == 1
        });

        cmd("CLIENT KILL")
            .arg(["TYPE", "pubsub"])
            .exec(&mut publisher)
            .unwrap();
        // Reading notices the dead connection, reconnects and subscribes again.
        wait_until("the resubscription", || {
            assert!(
                pubsub
                    .get_message(Duration::from_millis(10))
                    .unwrap()
                    .is_none()
            );
            subscribers(&mut publisher, "news") == 1 && publisher.pubsub_numpat().unwrap() == 1
        });
        publisher.publish("news", "after").unwrap();
        publisher.publish("alerts.x", "pattern after").unwrap();
        let mut got = Vec::new();
        wait_until("both messages", || {
            if let Some(m) = pubsub.get_message(Duration::from_millis(20)).unwrap() {
                got.push(m.payload::<String>().unwrap());
            }
            got.len() == 2
        });
        assert_eq!(got, ["after", "pattern after"]);
        pubsub.unsubscribe(Vec::<String>::new()).unwrap();
        pubsub.punsubscribe(Vec::<String>::new()).unwrap();
    }
}

#[test]
fn monitor_sees_another_clients_commands() {
    let server = RedisServer::start();
    for protocol in PROTOCOLS {
        let mut other = client(&server, protocol);
        let mut monitor = client(&server, protocol).monitor().unwrap();
        assert!(monitor.next_entry(Duration::ZERO).unwrap().is_none());
        other.set("watched", "va\"lue\n").unwrap();
        let entry = std::iter::from_fn(|| monitor.next_entry(WAIT).unwrap())
            .find(|e| e.command.eq_ignore_ascii_case("set"))
            .expect("the SET was seen");
        assert_eq!(entry.args, [b"watched".to_vec(), b"va\"lue\n".to_vec()]);
        assert_eq!(entry.db, 0);
        assert!(entry.client.starts_with("127.0.0.1:"), "{}", entry.client);
        assert!(entry.time > 1_600_000_000.0);
        // The blocking iterator too (a new connection's setup, HELLO, may come first).
        other.incr("n").unwrap();
        let entry = monitor
            .by_ref()
            .map(Result::unwrap)
            .find(|e| e.command.eq_ignore_ascii_case("incr"))
            .unwrap();
        assert_eq!(entry.args, [b"n".to_vec()]);
    }
}
