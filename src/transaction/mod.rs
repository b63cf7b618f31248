//! Optimistic transactions: `WATCH`, read, queue, `EXEC`, and again on a conflict.
//!
//! This module is the IO-free core: the options, the commands an attempt sends, and when
//! a failed attempt is tried again. `blocking.rs` and `tokio.rs` run the attempts over
//! the sync and the async seam.

mod blocking;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;

use std::time::Duration;

pub use blocking::transaction;

use crate::cmd::{Args, Cmd, cmd};
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::{Pipeline, pipe};
use crate::types::ToRedisArgs;

/// An optimistic transaction, as redis-py's `transaction(func, *watches)`.
///
/// Each attempt sends `WATCH` with the keys, then calls the closure with the connection
/// and an atomic [`Pipeline`]: the closure reads what it needs through the connection
/// and queues its writes in the pipeline. The pipeline then runs as `MULTI`/`EXEC`. When
/// a watched key changed in between, `EXEC` discards the transaction and the whole
/// attempt, closure included, starts again (after the retry delay, if set). An error
/// from the closure sends `UNWATCH` and is returned.
///
/// Everything runs on the one connection given, which must not be shared meanwhile:
/// [`Client::transaction`](crate::Client::transaction) checks one out of the pool for
/// the whole span.
#[derive(Debug, Clone, Default)]
pub struct Transaction {
    keys: Args,
    retry_delay: Option<Duration>,
    max_attempts: Option<u32>,
}

impl Transaction {
    /// A transaction watching `keys`.
    #[must_use]
    pub fn new(keys: impl ToRedisArgs) -> Transaction {
        Transaction {
            keys: Args::keys(keys),
            ..Transaction::default()
        }
    }

    /// Waits this long before trying again after a conflict.
    #[must_use]
    pub fn retry_delay(mut self, delay: Duration) -> Transaction {
        self.retry_delay = Some(delay);
        self
    }

    /// Gives up after this many attempts, returning the
    /// [`TransactionAborted`](ErrorKind::TransactionAborted) error; unlimited by default.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Transaction {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// `WATCH` with the keys, which each attempt starts with; none without keys.
    fn watch_cmd(&self) -> Option<Cmd> {
        (!self.keys.is_empty()).then(|| {
            let mut watch = cmd("WATCH");
            watch.append(&self.keys);
            watch
        })
    }

    /// What an attempt ending in `error` leads to, after `attempts` of them: another
    /// attempt after the wait given (a conflict, with attempts left), or the error.
    fn after_failure(&self, attempts: u32, error: Error) -> Result<Duration> {
        let again = error.kind() == ErrorKind::TransactionAborted
            && self.max_attempts.is_none_or(|max| attempts < max);
        if again {
            Ok(self.retry_delay.unwrap_or_default())
        } else {
            Err(error)
        }
    }
}

/// The pipeline an attempt's closure queues into: atomic.
fn attempt_pipeline() -> Pipeline {
    let mut queued = pipe();
    queued.atomic();
    queued
}

/// `UNWATCH`, sent when the closure fails, to leave the connection as it was.
fn unwatch_cmd() -> Cmd {
    cmd("UNWATCH")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_watch_their_keys_and_retry_conflicts_only() {
        let tx = Transaction::new(["a", "b"])
            .max_attempts(2)
            .retry_delay(Duration::from_millis(5));
        assert_eq!(format!("{:?}", tx.watch_cmd().unwrap()), r#"WATCH "a" "b""#);
        assert!(Transaction::new(Vec::<String>::new()).watch_cmd().is_none());
        let conflict = || Error::new(ErrorKind::TransactionAborted, "x");
        assert_eq!(
            tx.after_failure(1, conflict()).unwrap(),
            Duration::from_millis(5)
        );
        let out_of_attempts = tx.after_failure(2, conflict()).unwrap_err();
        assert_eq!(out_of_attempts.kind(), ErrorKind::TransactionAborted);
        let other = tx.after_failure(1, Error::new(ErrorKind::Server, "x"));
        assert_eq!(other.unwrap_err().kind(), ErrorKind::Server);
        let unlimited = Transaction::new("k").after_failure(1000, conflict());
        assert_eq!(unlimited.unwrap(), Duration::ZERO);
        assert!(attempt_pipeline().is_atomic());
    }
}
