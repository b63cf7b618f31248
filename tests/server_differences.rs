//! Where Redis and Valkey differ in ways a client must handle, each tested on the server
//! under test (`cargo xtask test` runs both): what a key in a migrating slot answers,
//! and whether a cluster node serves more than one database.

mod support;

use std::time::{Duration, Instant};

use respec::commands as c;
use respec::{Commands, Connection, ConnectionInfo, ErrorKind, RedirectKind, cmd};
use support::ServerKind;
use support::cluster::{Cluster, key_served_by};

const WAIT: Duration = Duration::from_secs(10);

/// Reads `key` from `con` until the node answers with a redirection; every answer
/// before it must be the value. Returns the redirection's kind, and whether an `ASK`
/// was seen on the way.
fn read_until_moved(con: &mut Connection, key: &str, value: &str) -> Vec<RedirectKind> {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "the slot never moved");
        match con.get::<Option<String>>(key) {
            Ok(found) => assert_eq!(found.as_deref(), Some(value), "served while it moves"),
            Err(e) => {
                let redirect = e
                    .redirect()
                    .unwrap_or_else(|| panic!("not a redirection: {e}"));
                seen.push(redirect.kind);
                if redirect.kind == RedirectKind::Moved {
                    return seen;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_key_in_a_migrating_slot_answers_ask_on_redis_and_moved_on_valkey() {
    let cluster = Cluster::start(2, 0);
    let key = key_served_by(0, 2, "moving:");
    let slot = respec::commands::slot::key_slot(key.as_bytes());
    let target = format!("127.0.0.1:{}", cluster.nodes()[1].port());
    let mut source = cluster.connect(0);
    let mut destination = cluster.connect(1);
    source.set(&key, "v").unwrap();

    match support::server_kind() {
        ServerKind::Redis => {
            // Redis 7.0 moves a slot key by key: a key already moved is answered with ASK
            // while the slot migrates, and with MOVED once the slot is handed over.
            cmd("CLUSTER SETSLOT")
                .arg(slot)
                .arg(["IMPORTING", cluster.id(0)])
                .exec(&mut destination)
                .unwrap();
            cmd("CLUSTER SETSLOT")
                .arg(slot)
                .arg(["MIGRATING", cluster.id(1)])
                .exec(&mut source)
                .unwrap();
            let port = cluster.nodes()[1].port();
            cmd("MIGRATE")
                .arg(["127.0.0.1", &port.to_string(), "", "0", "5000", "KEYS"])
                .key(&key)
                .exec(&mut source)
                .unwrap();
            let ask = source.get::<Option<String>>(&key).unwrap_err();
            let redirect = ask.redirect().expect("a redirection");
            assert_eq!(
                (redirect.kind, redirect.slot, redirect.address.as_str()),
                (RedirectKind::Ask, slot, target.as_str())
            );
            // The destination serves the key to a client that says ASKING first.
            let ((), value): ((), Option<String>) = respec::pipe()
                .add_command(cmd("ASKING"))
                .get(&key)
                .query(&mut destination)
                .unwrap();
            assert_eq!(value.as_deref(), Some("v"));
            for con in [&mut destination, &mut source] {
                cmd("CLUSTER SETSLOT")
                    .arg(slot)
                    .arg(["NODE", cluster.id(1)])
                    .exec(con)
                    .unwrap();
            }
            assert_eq!(
                read_until_moved(&mut source, &key, "v"),
                [RedirectKind::Moved]
            );
        }
        ServerKind::Valkey => {
            // Valkey 9 moves the whole slot and hands it over at once: the source serves
            // the key until then and answers MOVED after, never ASK.
            source
                .cluster_migrateslots([c::ClusterMigrateslotsMigrationGroup::new(
                    (i64::from(slot), i64::from(slot)),
                    cluster.id(1),
                )])
                .unwrap();
            assert_eq!(
                read_until_moved(&mut source, &key, "v"),
                [RedirectKind::Moved]
            );
            let moved = source.get::<Option<String>>(&key).unwrap_err();
            let redirect = moved.redirect().expect("a redirection");
            assert_eq!(
                (redirect.slot, redirect.address.as_str()),
                (slot, target.as_str())
            );
        }
    }
    assert_eq!(
        destination.get::<Option<String>>(&key).unwrap().as_deref(),
        Some("v")
    );
}

#[test]
fn a_cluster_node_serves_other_databases_on_valkey_only() {
    let cluster = Cluster::start(1, 0);
    let mut info: ConnectionInfo = cluster.nodes()[0].url().parse().unwrap();
    info.db = 2;
    match support::server_kind() {
        ServerKind::Redis => {
            // Selecting the database is part of connecting, so connecting fails, and says why.
            let err = Connection::open(&info).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Server);
            assert!(err.to_string().contains("cluster mode"), "{err}");
        }
        ServerKind::Valkey => {
            let mut other = Connection::open(&info).unwrap();
            other.set("db", "two").unwrap();
            let mut default = cluster.connect(0);
            assert_eq!(default.get::<Option<String>>("db").unwrap(), None);
            assert_eq!(
                other.get::<Option<String>>("db").unwrap().as_deref(),
                Some("two")
            );
        }
    }
}

#[test]
fn the_cluster_commands_valkey_9_added() {
    if !support::server_has(
        "atomic slot migration and CLUSTERSCAN (Valkey 9)",
        support::server_kind() == ServerKind::Valkey,
    ) {
        return;
    }
    let cluster = Cluster::start(2, 0);
    let mut first = cluster.connect(0);
    let mut second = cluster.connect(1);
    let keys: Vec<String> = (0..2)
        .flat_map(|node| (0..20).map(move |n| key_served_by(node, 2, &format!("scan{n}:"))))
        .collect();
    for key in &keys {
        let node = cluster.primary_of(respec::commands::slot::key_slot(key.as_bytes()));
        let con = if node == 0 { &mut first } else { &mut second };
        con.set(key, "v").unwrap();
    }

    // CLUSTERSCAN walks the slots; a cursor past this node's slots is redirected.
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_owned();
    let mut on_first = true;
    let mut redirects = 0;
    loop {
        let con = if on_first { &mut first } else { &mut second };
        match con.clusterscan_options::<(String, Vec<String>)>(
            &cursor,
            c::ClusterscanOptions::default().count(100),
        ) {
            Ok((next, page)) => {
                seen.extend(page);
                if next == "0" {
                    break;
                }
                cursor = next;
            }
            Err(e) => {
                let redirect = e.redirect().unwrap_or_else(|| panic!("{e}"));
                on_first = redirect
                    .address
                    .ends_with(&cluster.nodes()[0].port().to_string());
                redirects += 1;
                assert!(redirects < 100, "redirected in circles");
            }
        }
    }
    let expected: std::collections::BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(seen, expected);
    assert!(redirects >= 1, "the scan crossed to the second node");
    eprintln!("CLUSTERSCAN: {} keys, {redirects} redirects", seen.len());

    // Move one slot with the typed commands, and watch its migration end.
    let key = &keys[0];
    let slot = respec::commands::slot::key_slot(key.as_bytes());
    first
        .cluster_migrateslots([c::ClusterMigrateslotsMigrationGroup::new(
            (i64::from(slot), i64::from(slot)),
            cluster.id(1),
        )])
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while second.get::<Option<String>>(key).is_err() {
        assert!(Instant::now() < deadline, "the slot never arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The source reports the job until it has ended: its `state` turns `success` a
    // moment after the target serves the slot.
    let deadline = Instant::now() + WAIT;
    loop {
        let migrations: Vec<Vec<String>> = first.cluster_getslotmigrations().unwrap();
        let job = migrations.first().expect("the migration is reported");
        assert!(job.contains(&cluster.id(1).to_owned()), "{job:?}");
        let state = job
            .iter()
            .position(|field| field == "state")
            .and_then(|at| job.get(at + 1));
        if state.is_some_and(|state| state == "success") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the migration never ended: {job:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Nothing left to cancel, and the server says so.
    let none = first.cluster_cancelslotmigrations().unwrap_err();
    assert!(none.to_string().contains("No migrations"), "{none}");
    // The slot's keys go with one command on its new owner.
    second.cluster_flushslot(i64::from(slot)).unwrap();
    assert_eq!(second.get::<Option<String>>(key).unwrap(), None);
}
