//! Iterators over `SCAN`, `HSCAN`, `SSCAN` and `ZSCAN`, following the cursor to the end.

use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;

use crate::cmd::Cmd;
use crate::commands::{self, HscanOptions, ScanOptions, SscanOptions, ZscanOptions};
use crate::error::Result;
use crate::seam::ConnectionLike;
use crate::types::{FromRedisValue, ToRedisArgs};
use crate::value::Value;

/// The scan iterators, for every [`ConnectionLike`].
///
/// Each is an `Iterator` of `Result<T>`: it asks for the next page when the last one is
/// used up and ends when the server returns cursor 0. An error is yielded once, and then
/// the iteration ends. As the commands themselves, they may yield an element more than
/// once if the data changes meanwhile.
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
        ScanIter::new(
            self,
            Box::new(move |cursor| commands::scan_options(cursor, options.clone())),
        )
    }

    /// The field/value pairs of a hash.
    fn hscan_iter<F: FromRedisValue, V: FromRedisValue>(
        &mut self,
        key: impl ToRedisArgs,
        options: HscanOptions,
    ) -> ScanIter<'_, Self, (F, V)> {
        let key = key_args(&key);
        ScanIter::new(
            self,
            Box::new(move |cursor| commands::hscan_options(&key, cursor, options.clone())),
        )
    }

    /// The members of a set.
    fn sscan_iter<T: FromRedisValue>(
        &mut self,
        key: impl ToRedisArgs,
        options: SscanOptions,
    ) -> ScanIter<'_, Self, T> {
        let key = key_args(&key);
        ScanIter::new(
            self,
            Box::new(move |cursor| commands::sscan_options(&key, cursor, options.clone())),
        )
    }

    /// The members of a sorted set with their scores.
    fn zscan_iter<T: FromRedisValue>(
        &mut self,
        key: impl ToRedisArgs,
        options: ZscanOptions,
    ) -> ScanIter<'_, Self, (T, f64)> {
        let key = key_args(&key);
        ScanIter::new(
            self,
            Box::new(move |cursor| commands::zscan_options(&key, cursor, options.clone())),
        )
    }
}

impl<C: ConnectionLike + ?Sized> ScanCommands for C {}

/// The arguments a key writes, kept to build each page's command from.
fn key_args(key: &impl ToRedisArgs) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    key.write_redis_args(&mut args);
    args
}

/// Builds the command for one page from the cursor.
type PageCmd<'a> = Box<dyn Fn(&[u8]) -> Cmd + 'a>;

/// An iterator over a scan; see [`ScanCommands`].
pub struct ScanIter<'a, C: ?Sized, T> {
    con: &'a mut C,
    make: PageCmd<'a>,
    /// The cursor to ask with next; `None` once the server said 0 or an error came.
    cursor: Option<Bytes>,
    page: std::vec::IntoIter<T>,
    item: PhantomData<fn() -> T>,
}

impl<'a, C: ConnectionLike + ?Sized, T: FromRedisValue> ScanIter<'a, C, T> {
    fn new(con: &'a mut C, make: PageCmd<'a>) -> Self {
        ScanIter {
            con,
            make,
            cursor: Some(Bytes::from_static(b"0")),
            page: Vec::new().into_iter(),
            item: PhantomData,
        }
    }

    /// Asks for the next page; returns the items, and whether the scan goes on.
    fn fetch(&mut self, cursor: &[u8]) -> Result<(Vec<T>, Option<Bytes>)> {
        let reply = self.con.req_command(&(self.make)(cursor))?;
        let (next, items): (Bytes, Value) = FromRedisValue::from_redis_value(reply)?;
        let items = Vec::<T>::from_redis_value(items)?;
        let next = (next.as_ref() != b"0").then_some(next);
        Ok((items, next))
    }
}

impl<C: ConnectionLike + ?Sized, T: FromRedisValue> Iterator for ScanIter<'_, C, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(item) = self.page.next() {
                return Some(Ok(item));
            }
            let cursor = self.cursor.take()?;
            match self.fetch(&cursor) {
                Ok((items, next)) => {
                    self.page = items.into_iter();
                    self.cursor = next;
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<C: ?Sized, T> fmt::Debug for ScanIter<'_, C, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanIter")
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}
