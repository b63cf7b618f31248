//! Polling for a reply a short while before blocking on it, when a connection is
//! configured to ([`ConnectionInfo::busy_poll`](super::ConnectionInfo::busy_poll)).
//!
//! A thread that blocks on a socket and is woken when the reply lands pays for the
//! wake-up: tens of microseconds on a virtual machine whose idle CPU halts, a few on
//! bare metal. When the server answers within microseconds, as a local one does, that
//! wake-up is most of a round trip. Polling the socket for a short while first catches
//! such replies while the thread is still running, trading CPU time for latency: the
//! time spent polling is CPU time, where a blocked thread's wait is not.
//!
//! The polling adapts, as a spinning lock does: every poll yields the CPU to any other
//! thread that wants it, so threads crowded onto few CPUs take turns rather than
//! starve each other, and a poll that runs out of time makes the next ones rarer. Over
//! a network slower than the budget polling soon stops, costing one budget's worth of
//! CPU every 256 reads at most.

use std::io::{self, Read};
use std::time::{Duration, Instant};

/// Polls in a row that run out of time are counted up to this many; from then on one
/// read in `2^MAX_MISSES` (256) polls until a poll finds a reply.
const MAX_MISSES: u32 = 8;

/// A socket that can be switched between blocking and non-blocking reads.
pub(super) trait Pollable: Read {
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()>;
}

/// The polling policy of one connection: its budget and how polls have gone lately.
#[derive(Debug, Clone, Copy)]
pub(super) struct BusyPoll {
    budget: Duration,
    /// Polls in a row that ran out of time.
    misses: u32,
    /// Reads left before the next poll.
    skip: u32,
}

impl BusyPoll {
    pub(super) fn new(budget: Duration) -> BusyPoll {
        BusyPoll {
            budget,
            misses: 0,
            skip: 0,
        }
    }

    /// Reads into `buf`, polling for up to the budget (and never past `timeout`) when a
    /// poll is due. `Ok(None)` when the poll was not due or nothing came; the caller
    /// then reads as it would have without polling.
    pub(super) fn read<S: Pollable + ?Sized>(
        &mut self,
        stream: &mut S,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> io::Result<Option<usize>> {
        if self.budget.is_zero() {
            return Ok(None);
        }
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(None);
        }
        let budget = timeout.map_or(self.budget, |t| t.min(self.budget));
        stream.set_nonblocking(true)?;
        let polled = poll(stream, buf, budget);
        stream.set_nonblocking(false)?;
        let polled = polled?;
        if polled.is_some() {
            self.misses = 0;
        } else {
            self.misses = (self.misses + 1).min(MAX_MISSES);
            self.skip = (1 << self.misses) - 1;
        }
        Ok(polled)
    }
}

/// Non-blocking reads until one returns something or `budget` has passed, yielding the
/// CPU between them.
fn poll<S: Read + ?Sized>(
    stream: &mut S,
    buf: &mut [u8],
    budget: Duration,
) -> io::Result<Option<usize>> {
    let start = Instant::now();
    loop {
        match stream.read(buf) {
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if start.elapsed() >= budget {
                    return Ok(None);
                }
                std::thread::yield_now();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A socket with nothing to read for its first `empty` reads.
    struct Slow {
        empty: Cell<u32>,
        nonblocking: Cell<bool>,
        reads: u32,
    }

    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            if self.empty.get() > 0 && self.nonblocking.get() {
                self.empty.set(self.empty.get() - 1);
                return Err(io::ErrorKind::WouldBlock.into());
            }
            buf[0] = b'+';
            Ok(1)
        }
    }

    impl Pollable for Slow {
        fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
            self.nonblocking.set(nonblocking);
            Ok(())
        }
    }

    fn slow(empty: u32) -> Slow {
        Slow {
            empty: Cell::new(empty),
            nonblocking: Cell::new(false),
            reads: 0,
        }
    }

    #[test]
    fn a_reply_within_the_budget_is_read_by_polling() {
        let mut policy = BusyPoll::new(Duration::from_secs(10));
        let mut stream = slow(3);
        let mut buf = [0; 4];
        assert_eq!(policy.read(&mut stream, &mut buf, None).unwrap(), Some(1));
        assert_eq!(stream.reads, 4);
        assert!(!stream.nonblocking.get(), "the socket is left blocking");
    }

    #[test]
    fn polls_that_run_out_of_time_become_rarer_and_a_hit_resets_them() {
        let mut policy = BusyPoll::new(Duration::from_nanos(1));
        let mut stream = slow(u32::MAX);
        let mut buf = [0; 4];
        let mut polled = Vec::new();
        for _ in 0..16 {
            let before = stream.reads;
            assert_eq!(policy.read(&mut stream, &mut buf, None).unwrap(), None);
            polled.push(stream.reads > before);
        }
        let at: Vec<usize> = (0..16).filter(|&i| polled[i]).collect();
        // Skips of 1, 3, 7 after each miss in turn.
        assert_eq!(at, [0, 2, 6, 14]);
        assert!(!stream.nonblocking.get());

        policy.skip = 0;
        stream.empty.set(0);
        assert_eq!(policy.read(&mut stream, &mut buf, None).unwrap(), Some(1));
        assert_eq!((policy.misses, policy.skip), (0, 0));
    }

    #[test]
    fn a_zero_budget_never_polls() {
        let mut policy = BusyPoll::new(Duration::ZERO);
        let mut stream = slow(0);
        assert_eq!(policy.read(&mut stream, &mut [0; 4], None).unwrap(), None);
        assert_eq!(stream.reads, 0);
    }
}
