//! The scan iterators over the sync seam.

use std::fmt;

use super::{ScanCore, Step};
use crate::commands::{HscanOptions, ScanOptions, SscanOptions, ZscanOptions};
use crate::error::Result;
use crate::seam::ConnectionLike;
use crate::types::{FromRedisValue, ToRedisArgs};

/// The scan iterators, for every [`ConnectionLike`].
///
/// Each is an `Iterator` of `Result<T>`: it asks for the next page when the last one is
/// used up and ends when the server returns cursor 0. An error is yielded once, and then
/// the iteration ends. As the commands themselves, they may yield an element more than
/// once if the data changes meanwhile. [`AsyncScanCommands`](crate::aio::AsyncScanCommands)
/// are the same scans as streams.
///
/// # Examples
///
/// ```no_run
/// use respec::ScanCommands;
/// use respec::commands::ScanOptions;
///
/// # fn main() -> respec::Result<()> {
/// let client = respec::Client::open("redis://127.0.0.1/")?;
/// let mut con = client.get_connection()?;
/// for key in con.scan_iter::<String>(ScanOptions::default().pattern("user:*").count(500)) {
///     println!("{}", key?);
/// }
/// # Ok(())
/// # }
/// ```
pub trait ScanCommands: ConnectionLike {
    /// The keys of the database, with `SCAN`'s MATCH, COUNT and TYPE options.
    fn scan_iter<T: FromRedisValue>(&mut self, options: ScanOptions) -> ScanIter<'_, Self, T> {
        ScanIter::new(self, ScanCore::keys(options))
    }

    /// The field/value pairs of a hash.
    fn hscan_iter<F: FromRedisValue, V: FromRedisValue>(
        &mut self,
        key: impl ToRedisArgs,
        options: HscanOptions,
    ) -> ScanIter<'_, Self, (F, V)> {
        ScanIter::new(self, ScanCore::hash(&key, options))
    }

    /// The members of a set.
    fn sscan_iter<T: FromRedisValue>(
        &mut self,
        key: impl ToRedisArgs,
        options: SscanOptions,
    ) -> ScanIter<'_, Self, T> {
        ScanIter::new(self, ScanCore::set(&key, options))
    }

    /// The members of a sorted set with their scores.
    fn zscan_iter<T: FromRedisValue>(
        &mut self,
        key: impl ToRedisArgs,
        options: ZscanOptions,
    ) -> ScanIter<'_, Self, (T, f64)> {
        ScanIter::new(self, ScanCore::sorted_set(&key, options))
    }
}

impl<C: ConnectionLike + ?Sized> ScanCommands for C {}

/// An iterator over a scan; see [`ScanCommands`].
pub struct ScanIter<'a, C: ?Sized, T> {
    con: &'a mut C,
    core: ScanCore<T>,
}

impl<'a, C: ConnectionLike + ?Sized, T: FromRedisValue> ScanIter<'a, C, T> {
    fn new(con: &'a mut C, core: ScanCore<T>) -> Self {
        ScanIter { con, core }
    }
}

impl<C: ConnectionLike + ?Sized, T: FromRedisValue> Iterator for ScanIter<'_, C, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            match self.core.step() {
                Step::Item(item) => return Some(Ok(item)),
                Step::Done => return None,
                Step::Fetch(page) => {
                    let fetched = self.con.req_command(&page);
                    if let Err(e) = fetched.and_then(|reply| self.core.page(reply)) {
                        return Some(Err(e));
                    }
                }
            }
        }
    }
}

impl<C: ?Sized, T> fmt::Debug for ScanIter<'_, C, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanIter")
            .field("cursor", &self.core.cursor)
            .finish_non_exhaustive()
    }
}
