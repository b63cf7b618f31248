//! The scan streams over the async seam.

use futures_core::Stream;

use super::{ScanCore, Step};
use crate::aio::stream::unfold;
use crate::commands::{HscanOptions, ScanOptions, SscanOptions, ZscanOptions};
use crate::error::Result;
use crate::seam::AsyncConnectionLike;
use crate::types::{FromRedisValue, ToRedisArgs};

/// The scan iterators as `Stream`s, for every async connection; see
/// [`ScanCommands`](crate::ScanCommands) for what they yield.
pub trait AsyncScanCommands: AsyncConnectionLike {
    /// The keys of the database, with `SCAN`'s MATCH, COUNT and TYPE options.
    fn scan_stream<T: FromRedisValue + Send + 'static>(
        &mut self,
        options: ScanOptions,
    ) -> impl Stream<Item = Result<T>> + Send + '_ {
        stream(self, ScanCore::keys(options))
    }

    /// The field/value pairs of a hash.
    fn hscan_stream<F: FromRedisValue + Send + 'static, V: FromRedisValue + Send + 'static>(
        &mut self,
        key: impl ToRedisArgs,
        options: HscanOptions,
    ) -> impl Stream<Item = Result<(F, V)>> + Send + '_ {
        stream(self, ScanCore::hash(&key, options))
    }

    /// The members of a set.
    fn sscan_stream<T: FromRedisValue + Send + 'static>(
        &mut self,
        key: impl ToRedisArgs,
        options: SscanOptions,
    ) -> impl Stream<Item = Result<T>> + Send + '_ {
        stream(self, ScanCore::set(&key, options))
    }

    /// The members of a sorted set with their scores.
    fn zscan_stream<T: FromRedisValue + Send + 'static>(
        &mut self,
        key: impl ToRedisArgs,
        options: ZscanOptions,
    ) -> impl Stream<Item = Result<(T, f64)>> + Send + '_ {
        stream(self, ScanCore::sorted_set(&key, options))
    }
}

impl<C: AsyncConnectionLike + ?Sized> AsyncScanCommands for C {}

fn stream<'a, C, T>(con: &'a mut C, core: ScanCore<T>) -> impl Stream<Item = Result<T>> + Send + 'a
where
    C: AsyncConnectionLike + ?Sized,
    T: FromRedisValue + Send + 'static,
{
    unfold(
        (con, core),
        |(con, mut core): (&'a mut C, ScanCore<T>)| async move {
            loop {
                match core.step() {
                    Step::Item(item) => return Some((Ok(item), (con, core))),
                    Step::Done => return None,
                    Step::Fetch(page) => {
                        let fetched = con.req_command(&page).await;
                        if let Err(e) = fetched.and_then(|reply| core.page(reply)) {
                            return Some((Err(e), (con, core)));
                        }
                    }
                }
            }
        },
    )
}
