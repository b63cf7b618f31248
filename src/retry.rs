//! [`RetryPolicy`]: how often to try again, how long to wait, and after which errors.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};

/// When and how to try an operation again.
///
/// Only errors where trying again can help are retried: connection errors (refused,
/// reset, closed), and timeouts when [`retry_on_timeout`](RetryPolicy::retry_on_timeout)
/// is set. The wait before each retry grows exponentially from `base` up to `max`, with
/// jitter so that clients failing together do not retry together.
///
/// A [`Client`](crate::Client) applies its policy to opening connections, and to the
/// commands sent through [`Client::retrying`](crate::Client::retrying), which the
/// caller thereby marks as safe to send twice.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use respec::RetryPolicy;
///
/// let policy = RetryPolicy::new(5)
///     .backoff(Duration::from_millis(10), Duration::from_secs(1))
///     .retry_on_timeout(true);
/// assert_eq!(policy.attempts(), 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    attempts: u32,
    base: Duration,
    max: Duration,
    retry_on_timeout: bool,
}

/// Default first wait between tries.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_millis(8);
/// Default longest wait between tries.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_millis(500);

impl Default for RetryPolicy {
    /// Three tries, waits from 8 ms to 500 ms, timeouts not retried.
    fn default() -> Self {
        RetryPolicy::new(3)
    }
}

impl RetryPolicy {
    /// Up to `attempts` tries in all (1 means no retry).
    #[must_use]
    pub fn new(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts: attempts.max(1),
            base: DEFAULT_RETRY_BASE,
            max: DEFAULT_RETRY_MAX,
            retry_on_timeout: false,
        }
    }

    /// No retries.
    #[must_use]
    pub fn none() -> RetryPolicy {
        RetryPolicy::new(1)
    }

    /// The first wait and the longest one.
    #[must_use]
    pub fn backoff(mut self, base: Duration, max: Duration) -> RetryPolicy {
        self.base = base;
        self.max = max.max(base);
        self
    }

    /// Whether timeouts are retried too (redis-py's `retry_on_timeout`).
    #[must_use]
    pub fn retry_on_timeout(mut self, yes: bool) -> RetryPolicy {
        self.retry_on_timeout = yes;
        self
    }

    /// Tries in all.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// `true` when `error` is worth another try.
    #[must_use]
    pub fn is_retryable(&self, error: &Error) -> bool {
        match error.kind() {
            ErrorKind::Connection => true,
            ErrorKind::Timeout => self.retry_on_timeout,
            _ => false,
        }
    }

    /// The wait before retry number `retry` (0 for the first): exponential, capped, and
    /// drawn at random between half of it and all of it.
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        let exponential = self
            .base
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX));
        let capped = exponential.min(self.max);
        let half = capped / 2;
        let share = (random_u64() % 1_000_001) as f64 / 1_000_000.0;
        let jitter = Duration::try_from_secs_f64(half.as_secs_f64() * share).unwrap_or(half);
        half + jitter
    }

    /// The waits before each retry, in turn: one fewer than the tries. Every retry loop,
    /// sync or async, draws its waits from here.
    pub fn delays(&self) -> impl Iterator<Item = Duration> + '_ {
        (0..self.attempts - 1).map(|retry| self.delay(retry))
    }

    /// Runs `operation` until it succeeds, fails in a way not worth retrying, or runs
    /// out of tries; the last error is returned.
    ///
    /// # Errors
    ///
    /// The operation's last error.
    pub fn run<T>(&self, mut operation: impl FnMut() -> Result<T>) -> Result<T> {
        let mut delays = self.delays();
        loop {
            match operation() {
                Err(e) if self.is_retryable(&e) => match delays.next() {
                    Some(delay) => std::thread::sleep(delay),
                    None => return Err(e),
                },
                res => return res,
            }
        }
    }

    /// The async twin of [`RetryPolicy::run`]: `operation` makes the future of each try.
    ///
    /// # Errors
    ///
    /// The operation's last error.
    #[cfg(feature = "tokio")]
    pub async fn run_async<T, F>(&self, mut operation: impl FnMut() -> F) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let mut delays = self.delays();
        loop {
            match operation().await {
                Err(e) if self.is_retryable(&e) => match delays.next() {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => return Err(e),
                },
                res => return res,
            }
        }
    }
}

/// A pseudo-random number: different at every call and in every process. For jitter
/// and unique tokens, not for secrets.
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // `RandomState` is keyed at random per process (and per thread); hashing distinct
    // inputs with it gives well-spread values.
    RandomState::new().hash_one((count, nanos, std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let policy =
            RetryPolicy::new(10).backoff(Duration::from_millis(10), Duration::from_millis(100));
        for retry in 0..10 {
            let delay = policy.delay(retry);
            let full =
                (Duration::from_millis(10) * 2u32.pow(retry)).min(Duration::from_millis(100));
            assert!(
                delay >= full / 2 && delay <= full,
                "retry {retry}: {delay:?}"
            );
        }
    }

    #[test]
    fn only_connection_errors_and_chosen_timeouts_are_retried() {
        let io = |kind| Error::io("x", std::io::Error::from(kind));
        let policy = RetryPolicy::new(3);
        assert!(policy.is_retryable(&io(std::io::ErrorKind::ConnectionRefused)));
        assert!(!policy.is_retryable(&io(std::io::ErrorKind::TimedOut)));
        assert!(
            policy
                .clone()
                .retry_on_timeout(true)
                .is_retryable(&io(std::io::ErrorKind::TimedOut))
        );
        assert!(!policy.is_retryable(&Error::invalid_input("bad")));
    }

    #[test]
    fn run_stops_after_the_last_attempt() {
        let policy = RetryPolicy::new(4).backoff(Duration::ZERO, Duration::ZERO);
        let mut calls = 0;
        let res: Result<()> = policy.run(|| {
            calls += 1;
            Err(Error::io(
                "x",
                std::io::Error::from(std::io::ErrorKind::ConnectionReset),
            ))
        });
        assert!(res.is_err());
        assert_eq!(calls, 4);
        let mut calls = 0;
        let res: Result<()> = policy.run(|| {
            calls += 1;
            Err(Error::invalid_input("not retryable"))
        });
        assert!(res.is_err());
        assert_eq!(calls, 1);
    }

    #[test]
    fn there_is_one_delay_fewer_than_tries() {
        assert_eq!(RetryPolicy::new(4).delays().count(), 3);
        assert_eq!(RetryPolicy::none().delays().count(), 0);
        let policy =
            RetryPolicy::new(3).backoff(Duration::from_millis(10), Duration::from_millis(10));
        assert!(policy.delays().all(|d| d <= Duration::from_millis(10)));
    }

    #[test]
    fn random_numbers_differ() {
        let a: Vec<u64> = (0..100).map(|_| random_u64()).collect();
        let distinct: std::collections::HashSet<_> = a.iter().collect();
        assert_eq!(distinct.len(), 100);
    }
}
