//! A scriptable fake server, for what a real server will not do on demand: a huge header
//! and then silence, a reply cut short, garbage, a trickle, a setup never answered.
//!
//! Each accepted connection runs the script on a thread of its own, with its index
//! (0 for the first), so a script can misbehave on the first connection and behave on
//! the ones a client opens to replace it. The server listens on 127.0.0.1 only, and
//! dropping it stops the listener and every connection's thread: a stalling script
//! stalls only until then.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a waiting thread looks at whether the server is stopping.
const POLL: Duration = Duration::from_millis(20);
/// The most any script may run, whatever it asks for: no thread outlives a test for long.
const MAX_LIFE: Duration = Duration::from_secs(120);

/// A running fake server; dropping it stops everything it started.
#[derive(Debug)]
pub struct FakeServer {
    port: u16,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl FakeServer {
    /// Starts a server that runs `script` on every connection it accepts.
    pub fn start(script: impl Fn(&mut Peer) + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake server");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("its address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let threads: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let script = Arc::new(script);
        let accept = {
            let (stop, accepted, threads) = (stop.clone(), accepted.clone(), threads.clone());
            std::thread::spawn(move || {
                let born = Instant::now();
                while !stop.load(Ordering::Relaxed) && born.elapsed() < MAX_LIFE {
                    let stream = match listener.accept() {
                        Ok((stream, _)) => stream,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                            continue;
                        }
                        Err(_) => return,
                    };
                    let index = accepted.fetch_add(1, Ordering::SeqCst);
                    let (stop, script) = (stop.clone(), script.clone());
                    let handle = std::thread::spawn(move || {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(POLL));
                        let mut peer = Peer {
                            stream,
                            buf: Vec::new(),
                            stop,
                            index,
                            born,
                        };
                        script(&mut peer);
                        let _ = peer.stream.shutdown(Shutdown::Both);
                    });
                    threads
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(handle);
                }
            })
        };
        threads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(accept);
        FakeServer {
            port,
            stop,
            accepted,
            threads,
        }
    }

    /// `redis://127.0.0.1:<port>`, with `query` (`?protocol=3&...`) after it.
    pub fn url(&self, query: &str) -> String {
        format!("redis://127.0.0.1:{}{query}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many connections it has accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// One accepted connection, as a script sees it.
#[derive(Debug)]
pub struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
    stop: Arc<AtomicBool>,
    /// 0 for the first connection the server accepted, 1 for the next...
    pub index: usize,
    born: Instant,
}

impl Peer {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.born.elapsed() > MAX_LIFE
    }

    /// The next command the client sent, as its arguments; `None` once the client
    /// closed or the server is stopping. Inline commands are not understood.
    pub fn read_command(&mut self) -> Option<Vec<Vec<u8>>> {
        loop {
            if let Some((args, used)) = parse_command(&self.buf) {
                self.buf.drain(..used);
                return Some(args);
            }
            if self.stopping() {
                return None;
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return None,
            }
        }
    }

    /// Sends `bytes`; `false` when the client is gone.
    pub fn write(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// Sends `bytes` one at a time, `every` apart, until done, the client goes, or the
    /// server stops.
    pub fn trickle(&mut self, bytes: &[u8], every: Duration) {
        for byte in bytes {
            if self.stopping() || !self.write(std::slice::from_ref(byte)) {
                return;
            }
            std::thread::sleep(every);
        }
    }

    /// Says nothing more, reading and dropping whatever comes, until the client closes
    /// or the server stops.
    pub fn stall(&mut self) {
        while self.read_command().is_some() {}
    }

    /// Closes the connection now.
    pub fn close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Answers like a server would, for what clients send in tests: the setup, `PING`,
    /// `ECHO`, `GET` of a missing key, `+OK` for the rest. Returns when the client closes.
    pub fn serve(&mut self) {
        while let Some(args) = self.read_command() {
            self.answer(&args);
        }
    }

    /// Answers like [`Peer::serve`] until a command named `name` comes, and returns it
    /// unanswered (`None` when the client closed first).
    pub fn serve_until(&mut self, name: &str) -> Option<Vec<Vec<u8>>> {
        while let Some(args) = self.read_command() {
            if args
                .first()
                .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            {
                return Some(args);
            }
            self.answer(&args);
        }
        None
    }

    fn answer(&mut self, args: &[Vec<u8>]) {
        let name = args
            .first()
            .map(|n| n.to_ascii_uppercase())
            .unwrap_or_default();
        let reply: Vec<u8> = match name.as_slice() {
            b"HELLO" if args.get(1).is_some_and(|v| v == b"3") => {
                b"%3\r\n+server\r\n+fake\r\n+proto\r\n:3\r\n+mode\r\n+standalone\r\n".to_vec()
            }
            b"HELLO" => b"*6\r\n$6\r\nserver\r\n$4\r\nfake\r\n$5\r\nproto\r\n:2\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n".to_vec(),
            b"PING" => b"+PONG\r\n".to_vec(),
            b"GET" => b"$-1\r\n".to_vec(),
            b"ECHO" => {
                let text = args.get(1).cloned().unwrap_or_default();
                let mut reply = format!("${}\r\n", text.len()).into_bytes();
                reply.extend_from_slice(&text);
                reply.extend_from_slice(b"\r\n");
                reply
            }
            _ => b"+OK\r\n".to_vec(),
        };
        self.write(&reply);
    }
}

/// A whole RESP array of bulk strings at the front of `buf`: its arguments and length.
fn parse_command(buf: &[u8]) -> Option<(Vec<Vec<u8>>, usize)> {
    let (count, mut at) = line_number(buf, 0, b'*')?;
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, start) = line_number(buf, at, b'$')?;
        let end = start.checked_add(len)?;
        args.push(buf.get(start..end)?.to_vec());
        if buf.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        at = end + 2;
    }
    Some((args, at))
}

/// The number on the line at `at` that starts with `kind`, and where the next line starts.
fn line_number(buf: &[u8], at: usize, kind: u8) -> Option<(usize, usize)> {
    if *buf.get(at)? != kind {
        return None;
    }
    let rest = buf.get(at + 1..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    let number = std::str::from_utf8(rest.get(..end)?).ok()?.parse().ok()?;
    Some((number, at + 1 + end + 2))
}
