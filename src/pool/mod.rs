//! Connection pools, as redis-py's `BlockingConnectionPool`: at most a set number of
//! connections open; a caller waits a while for one to come back when all are in use;
//! idle connections are checked before they are handed on, and connections that broke
//! or whose state a command changed are closed rather than handed on.
//!
//! This module is the IO-free core both pools share: the limits ([`PoolConfig`]) and the
//! bookkeeping of which connections are idle and how many are open, which decides what a
//! checkout does. `blocking.rs` (the pool behind [`Client`](crate::Client)) and
//! `tokio.rs` ([`aio::Pool`](crate::aio::Pool)) add the waiting and the IO.

pub(crate) mod blocking;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

/// Default for [`PoolConfig::max_connections`], as redis-py's blocking pool.
pub const DEFAULT_MAX_CONNECTIONS: usize = 50;
/// Default for [`PoolConfig::timeout`], as redis-py's blocking pool.
pub const DEFAULT_POOL_TIMEOUT: Duration = Duration::from_secs(20);

/// How a pool behaves: the sync one behind a [`Client`](crate::Client), and the async
/// [`aio::Pool`](crate::aio::Pool).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// The most connections open at once.
    pub max_connections: usize,
    /// How long to wait for a connection when all are in use; `None` fails at once.
    pub timeout: Option<Duration>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            timeout: Some(DEFAULT_POOL_TIMEOUT),
        }
    }
}

impl PoolConfig {
    /// The most connections open at once.
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long to wait for a free connection; `None` fails at once.
    #[must_use]
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Where a checked-out connection goes back to: the pool it came from.
pub(crate) trait Home<C> {
    /// Takes a connection back: kept when it is as it was set up, else closed.
    fn put(&self, con: C);
    /// Gives up the place of a connection that will not come back.
    fn forget(&self);
}

/// A connection out of a pool, until it goes back (when dropped) or is detached; the
/// pooled connections of both drivers are one of these.
pub(crate) struct Lease<C, H: Home<C>> {
    /// Present from checkout until it goes back or is detached.
    con: Option<C>,
    home: H,
}

impl<C, H: Home<C>> Lease<C, H> {
    pub(crate) fn new(con: C, home: H) -> Lease<C, H> {
        Lease {
            con: Some(con),
            home,
        }
    }

    /// Takes the connection out of the pool for good; its place is free for another.
    pub(crate) fn detach(mut self) -> C {
        let con = self.con.take();
        self.home.forget();
        con.unwrap_or_else(|| unreachable!("a lease holds its connection until it ends"))
    }
}

impl<C, H: Home<C>> Deref for Lease<C, H> {
    type Target = C;

    fn deref(&self) -> &C {
        self.con
            .as_ref()
            .unwrap_or_else(|| unreachable!("a lease holds its connection until it ends"))
    }
}

impl<C, H: Home<C>> DerefMut for Lease<C, H> {
    fn deref_mut(&mut self) -> &mut C {
        self.con
            .as_mut()
            .unwrap_or_else(|| unreachable!("a lease holds its connection until it ends"))
    }
}

impl<C, H: Home<C>> Drop for Lease<C, H> {
    fn drop(&mut self) {
        if let Some(con) = self.con.take() {
            self.home.put(con);
        }
    }
}

/// What a checkout does, as the pool's state decides it.
#[derive(Debug)]
pub(crate) enum Checkout<C> {
    /// Hand on this idle connection, idle since then, once it passes its checks.
    Idle(C, Instant),
    /// Open a new one: it is counted as open already.
    Open,
    /// Wait for one to come back: all are in use.
    Full,
}

/// Which connections are idle and how many are open, idle or in use.
#[derive(Debug)]
pub(crate) struct PoolState<C> {
    idle: Vec<(C, Instant)>,
    open: usize,
    max: usize,
}

impl<C> PoolState<C> {
    pub(crate) fn new(max: usize) -> PoolState<C> {
        PoolState {
            idle: Vec::new(),
            open: 0,
            max,
        }
    }

    /// The most recently idle connection, else room to open one, else a wait.
    pub(crate) fn checkout(&mut self) -> Checkout<C> {
        if let Some((con, since)) = self.idle.pop() {
            return Checkout::Idle(con, since);
        }
        if self.open < self.max {
            self.open += 1;
            return Checkout::Open;
        }
        Checkout::Full
    }

    /// One connection counted as open is not any more: it was dead at checkout, failed
    /// to open, or left the pool for good.
    pub(crate) fn discard(&mut self) {
        self.open = self.open.saturating_sub(1);
    }

    /// Takes a connection back, idle from now, when `keep`; otherwise closes it.
    pub(crate) fn give_back(&mut self, con: C, keep: bool) {
        if keep {
            self.idle.push((con, Instant::now()));
        } else {
            self.discard();
        }
    }

    /// Connections open, idle or in use.
    pub(crate) fn open(&self) -> usize {
        self.open
    }

    /// Connections idle in the pool.
    pub(crate) fn idle(&self) -> usize {
        self.idle.len()
    }
}

/// `true` when a connection idle since `since` is due a `PING` before it is handed on.
pub(crate) fn health_check_due(since: Instant, interval: Option<Duration>) -> bool {
    interval.is_some_and(|every| since.elapsed() >= every)
}

/// The error of a checkout that found no connection in time.
pub(crate) fn exhausted(config: &PoolConfig) -> crate::Error {
    let waited = config.timeout.map_or_else(
        || "without waiting".to_owned(),
        |t| format!("after waiting {t:?}"),
    );
    crate::Error::new(
        crate::ErrorKind::PoolExhausted,
        format!(
            "no connection available: all {} are in use ({waited})",
            config.max_connections
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkouts_take_idle_connections_then_open_up_to_the_limit() {
        let mut pool: PoolState<&str> = PoolState::new(2);
        assert!(matches!(pool.checkout(), Checkout::Open));
        assert!(matches!(pool.checkout(), Checkout::Open));
        assert!(matches!(pool.checkout(), Checkout::Full));
        assert_eq!(pool.open(), 2);
        pool.give_back("a", true);
        pool.give_back("b", true);
        assert_eq!(pool.idle(), 2);
        // The most recently returned first: it is the likeliest still open.
        assert!(matches!(pool.checkout(), Checkout::Idle("b", _)));
        // A connection that is not kept frees its place.
        pool.give_back("b", false);
        assert_eq!(pool.open(), 1);
        assert!(matches!(pool.checkout(), Checkout::Idle("a", _)));
        assert!(matches!(pool.checkout(), Checkout::Open));
        assert!(matches!(pool.checkout(), Checkout::Full));
        pool.discard();
        assert!(matches!(pool.checkout(), Checkout::Open));
    }

    #[test]
    fn health_checks_are_due_after_the_interval() {
        let now = Instant::now();
        assert!(!health_check_due(now, None));
        assert!(!health_check_due(now, Some(Duration::from_secs(60))));
        assert!(health_check_due(now, Some(Duration::ZERO)));
    }

    /// A home that notes what comes back to it.
    #[derive(Default)]
    struct Noting(std::cell::RefCell<Vec<String>>);

    impl Home<&'static str> for &Noting {
        fn put(&self, con: &'static str) {
            self.0.borrow_mut().push(format!("put {con}"));
        }

        fn forget(&self) {
            self.0.borrow_mut().push("forget".to_owned());
        }
    }

    #[test]
    fn a_lease_goes_home_when_dropped_and_not_when_detached() {
        let home = Noting::default();
        let lease = Lease::new("a", &home);
        assert_eq!(*lease, "a");
        drop(lease);
        let detached = Lease::new("b", &home).detach();
        assert_eq!(detached, "b");
        assert_eq!(*home.0.borrow(), ["put a", "forget"]);
    }
}
