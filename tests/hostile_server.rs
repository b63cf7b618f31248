//! Every client against a server that misbehaves as a real one will not on demand (the
//! fake server in `tests/support/fake.rs`): a huge bulk or array header and then
//! silence, 100,000-deep nesting, garbage, a reply cut and the connection closed, a reply
//! trickled a byte at a time, a reply begun and never finished, a setup never answered.
//!
//! Each case runs against the sync connection, the pool, the multiplexed connection, the
//! manager and the single async connection, and must end in an error of the expected
//! kind well within a bound (the timeouts are 0.5 s; the bound, a hang detector, is
//! ten times that), without panicking, without any allocation larger than 16 MiB, and
//! with the connection refused afterwards, or replaced where the client replaces
//! connections (the pool, the manager).

// The allocation counter below is the only unsafe code: a global allocator must be
// written with `unsafe`, and it only forwards to the system's.
#![allow(unsafe_code)]

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use respec::{
    AsyncCommands, AsyncConnectionLike, Client, Commands, Connection, ConnectionInfo,
    ConnectionLike, ErrorKind, cmd,
};
use support::fake::{FakeServer, Peer};

/// Allocates with the system's allocator, noting the largest allocation each thread
/// makes.
struct Counting;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: a thread being torn down has no counter left, and must not panic here.
    let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
}

// SAFETY: every method forwards to the system allocator with the arguments it was given,
// so the contract of `GlobalAlloc` is the system allocator's; noting a size touches only
// a thread-local `Cell`, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The largest allocation a client may make against any of these servers: the decoder
/// reserves at most 4 MiB ahead of the bytes that back it.
const MAX_ALLOCATION: usize = 16 * 1024 * 1024;
/// The timeouts every client is given.
const TIMEOUT: &str = "socket_timeout=0.5&socket_connect_timeout=0.5";
/// The most a case may take before it counts as a hang.
const HANG: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sync,
    Pool,
    Multiplexed,
    Manager,
    Single,
}

const KINDS: [Kind; 5] = [
    Kind::Sync,
    Kind::Pool,
    Kind::Multiplexed,
    Kind::Manager,
    Kind::Single,
];

/// A server whose first connection answers its setup and then meets the client's first
/// `GET` with `misbehave`; the connections after it behave.
fn misbehaving(misbehave: fn(&mut Peer)) -> FakeServer {
    FakeServer::start(move |peer| {
        if peer.index > 0 {
            peer.serve();
        } else if peer.serve_until("GET").is_some() {
            misbehave(peer);
        }
    })
}

fn info(server: &FakeServer) -> ConnectionInfo {
    server
        .url(&format!("?protocol=3&{TIMEOUT}"))
        .parse()
        .expect("the URL parses")
}

fn runtime() -> tokio::runtime::Runtime {
    // One thread, so that the connection's tasks allocate on the thread that counts.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

#[track_caller]
fn check(kind: Kind, case: &str, err: &respec::Error, expected: ErrorKind, started: Instant) {
    assert_eq!(err.kind(), expected, "{case} on {kind:?}: {err:?}");
    assert!(
        started.elapsed() < HANG,
        "{case} on {kind:?}: the error took {:?}",
        started.elapsed()
    );
}

/// Runs `GET` against a server that misbehaves as `misbehave` does, on every kind of
/// client, expecting an error of kind `expected`, then the connection refused or
/// replaced.
fn against_every_client(case: &str, misbehave: fn(&mut Peer), expected: ErrorKind) {
    for kind in KINDS {
        let server = misbehaving(misbehave);
        let info = info(&server);
        LARGEST.set(0);
        let started = Instant::now();
        match kind {
            Kind::Sync => {
                let mut con = Connection::open(&info).unwrap();
                let err = con.get::<Option<String>>("k").unwrap_err();
                check(kind, case, &err, expected, started);
                assert!(
                    !con.is_open(),
                    "{case}: the connection is refused afterwards"
                );
                let again = con.ping().unwrap_err();
                assert_eq!(again.kind(), ErrorKind::Connection, "{again}");
            }
            Kind::Pool => {
                let client = Client::open(info).unwrap();
                let mut con = client.get_connection().unwrap();
                let err = con.get::<Option<String>>("k").unwrap_err();
                check(kind, case, &err, expected, started);
                drop(con);
                assert_eq!(client.open_connections(), 0, "{case}: not back in the pool");
                let pong: String = cmd("PING").query(&mut client.clone()).unwrap();
                assert_eq!(pong, "PONG", "{case}: replaced");
            }
            Kind::Multiplexed => runtime().block_on(async {
                let client = Client::open(info).unwrap();
                let mut con = client.get_multiplexed_async_connection().await.unwrap();
                let err = con.get::<Option<String>>("k").await.unwrap_err();
                check(kind, case, &err, expected, started);
                assert!(!con.is_connected(), "{case}: the connection is refused");
                assert!(con.ping().await.is_err());
            }),
            Kind::Manager => runtime().block_on(async {
                let client = Client::open(info).unwrap();
                let mut con = client.connection_manager().await.unwrap();
                let err = con.get::<Option<String>>("k").await.unwrap_err();
                check(kind, case, &err, expected, started);
                assert_eq!(con.ping().await.unwrap(), "PONG", "{case}: replaced");
            }),
            Kind::Single => runtime().block_on(async {
                let client = Client::open(info).unwrap();
                let mut con = client.get_async_connection().await.unwrap();
                let err = con.get::<Option<String>>("k").await.unwrap_err();
                check(kind, case, &err, expected, started);
                assert!(!con.is_open(), "{case}: the connection is refused");
                drop(con);
                let mut fresh = client.get_async_connection().await.unwrap();
                assert_eq!(fresh.ping().await.unwrap(), "PONG", "{case}: replaced");
            }),
        }
        let largest = LARGEST.get();
        assert!(
            largest <= MAX_ALLOCATION,
            "{case} on {kind:?}: an allocation of {largest} bytes"
        );
    }
}

#[test]
fn a_huge_bulk_header_then_silence() {
    against_every_client(
        "a huge bulk header then silence",
        |peer| {
            peer.write(b"$500000000\r\nabc");
            peer.stall();
        },
        ErrorKind::Timeout,
    );
}

#[test]
fn a_huge_array_header_then_silence() {
    against_every_client(
        "a huge array header then silence",
        |peer| {
            peer.write(b"*2000000000\r\n:1\r\n$3\r\nabc\r\n");
            peer.stall();
        },
        ErrorKind::Timeout,
    );
}

#[test]
fn nesting_a_hundred_thousand_deep() {
    against_every_client(
        "nesting 100,000 deep",
        |peer| {
            peer.write(&b"*1\r\n".repeat(100_000));
            peer.stall();
        },
        ErrorKind::Protocol,
    );
}

#[test]
fn garbage() {
    against_every_client(
        "garbage",
        |peer| {
            peer.write(b"?this is not RESP\r\n");
            peer.stall();
        },
        ErrorKind::Protocol,
    );
}

#[test]
fn a_reply_cut_then_closed() {
    against_every_client(
        "a reply cut then closed",
        |peer| {
            peer.write(b"$10\r\nabc");
            peer.close();
        },
        ErrorKind::Connection,
    );
}

// Issue 20, item 3: a reply trickled a byte at a time made a sync `get` with a 0.5 s
// timeout return after 2.4 s.
#[test]
fn a_reply_trickled_a_byte_at_a_time() {
    against_every_client(
        "a 47-byte reply a byte every 50 ms",
        |peer| {
            let mut reply = b"$40\r\n".to_vec();
            reply.extend_from_slice(&[b'x'; 40]);
            reply.extend_from_slice(b"\r\n");
            peer.trickle(&reply, Duration::from_millis(50));
            peer.stall();
        },
        ErrorKind::Timeout,
    );
}

#[test]
fn an_endless_trickle() {
    against_every_client(
        "an endless trickle",
        |peer| {
            peer.write(b"$100000000\r\n");
            peer.trickle(&vec![b'x'; 100_000], Duration::from_millis(20));
        },
        ErrorKind::Timeout,
    );
}

// Issue 20, item 2: a reply begun and never finished made every later request time out
// while the manager said it was connected.
#[test]
fn a_reply_begun_and_never_finished() {
    against_every_client(
        "*2 and then silence",
        |peer| {
            peer.write(b"*2\r\n");
            peer.stall();
        },
        ErrorKind::Timeout,
    );
}

// Issue 20, item 1: with RESP3 and timeouts of 0.5 s, an async connection to a server
// that never answers its setup never returned.
#[test]
fn a_setup_never_answered() {
    let case = "a setup never answered";
    for kind in KINDS {
        let server = FakeServer::start(Peer::stall);
        let info = info(&server);
        let started = Instant::now();
        let err = match kind {
            Kind::Sync => Connection::open(&info).unwrap_err(),
            Kind::Pool => Client::open(info).unwrap().get_connection().unwrap_err(),
            Kind::Multiplexed => runtime().block_on(async {
                let client = Client::open(info).unwrap();
                client.get_multiplexed_async_connection().await.unwrap_err()
            }),
            Kind::Manager => runtime().block_on(async {
                let client = Client::open(info).unwrap();
                client.connection_manager().await.unwrap_err()
            }),
            Kind::Single => runtime().block_on(async {
                let client = Client::open(info).unwrap();
                client.get_async_connection().await.unwrap_err()
            }),
        };
        check(kind, case, &err, ErrorKind::Timeout, started);
        assert!(server.accepted() >= 1);
    }
}

// Issue 20, item 1: a manager whose reconnect met a server that never answers the setup
// hung every request.
#[test]
fn a_manager_reconnecting_to_a_silent_server_ends_each_request_by_its_deadline() {
    // The first connection is set up, then closed at the first GET; every later one
    // never answers its setup.
    let server = FakeServer::start(|peer| {
        if peer.index == 0 {
            peer.serve_until("GET");
            peer.close();
        } else {
            peer.stall();
        }
    });
    let info = info(&server);
    runtime().block_on(async {
        let client = Client::open(info).unwrap();
        let mut manager = client.connection_manager().await.unwrap();
        let err = manager.get::<Option<String>>("k").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection, "{err:?}");
        // Several requests wait on the same reconnect; each ends by its own deadline.
        let started = Instant::now();
        let mut waiting = Vec::new();
        for _ in 0..5 {
            let mut manager = manager.clone();
            waiting.push(tokio::spawn(async move { manager.ping().await }));
        }
        for request in waiting {
            let err = request.await.unwrap().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
        }
        assert!(started.elapsed() < HANG, "{:?}", started.elapsed());
        // And again, with no request in flight.
        let started = Instant::now();
        let err = manager.ping().await.unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert!(started.elapsed() < HANG, "{:?}", started.elapsed());
    });
    assert!(server.accepted() >= 2, "the manager tried to reconnect");
}

// The multiplexed connection times requests out with one watchdog per connection: the
// oldest request fails as timed out within an eighth of its timeout after it, the others
// in flight as lost with the connection, and a request nobody waits for any more still
// ends the connection when the server never answers it.
#[test]
fn a_silent_server_times_the_oldest_multiplexed_request_out_and_fails_the_rest() {
    let server = FakeServer::start(|peer| {
        if peer.serve_until("GET").is_some() {
            peer.stall();
        }
    });
    let mut info = info(&server);
    info.socket_timeout = Some(Duration::from_millis(400));
    runtime().block_on(async {
        let client = Client::open(info).unwrap();
        let con = client.get_multiplexed_async_connection().await.unwrap();
        let started = Instant::now();
        let (mut first, mut second) = (con.clone(), con.clone());
        let oldest = tokio::spawn(async move { first.get::<Option<String>>("a").await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let next = tokio::spawn(async move { second.get::<Option<String>>("b").await });
        let oldest = oldest.await.unwrap().unwrap_err();
        let waited = started.elapsed();
        assert_eq!(oldest.kind(), ErrorKind::Timeout, "{oldest:?}");
        assert!(waited >= Duration::from_millis(400), "{waited:?}");
        assert!(waited < Duration::from_secs(1), "{waited:?}");
        let next = next.await.unwrap().unwrap_err();
        assert_eq!(next.kind(), ErrorKind::Connection, "{next:?}");
        assert!(next.to_string().contains("no reply within"), "{next}");
        assert!(!con.is_connected());

        // A request dropped before its reply still ends a connection the server never
        // answers.
        let con = client.get_multiplexed_async_connection().await.unwrap();
        let mut dropped = con.clone();
        let _ = tokio::time::timeout(
            Duration::from_millis(50),
            dropped.get::<Option<String>>("c"),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(!con.is_connected(), "the watchdog failed it");
    });
}
