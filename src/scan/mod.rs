//! Scans: `SCAN`, `HSCAN`, `SSCAN` and `ZSCAN` followed from cursor 0 back to 0.
//!
//! [`ScanCore`] holds the cursor and the page at hand, and says at each step what to do
//! next: yield an item, fetch a page with a given command, or stop. The blocking
//! [`ScanIter`] and the tokio stream only run that command.

pub(crate) mod blocking;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;

use bytes::Bytes;

pub use blocking::{ScanCommands, ScanIter};

use crate::cmd::Cmd;
use crate::commands::{self, HscanOptions, ScanOptions, SscanOptions, ZscanOptions};
use crate::error::Result;
use crate::types::{FromRedisValue, ToRedisArgs};
use crate::value::Value;

/// Builds the command for one page from the cursor.
type PageCmd = Box<dyn Fn(&[u8]) -> Cmd + Send + Sync>;

/// Where a scan stands: the next cursor and what is left of the last page.
pub(crate) struct ScanCore<T> {
    page_cmd: PageCmd,
    /// The cursor to ask with next; `None` once the server said 0 or a page failed.
    cursor: Option<Bytes>,
    page: std::vec::IntoIter<T>,
}

/// What a scan does next.
pub(crate) enum Step<T> {
    /// Yield this item.
    Item(T),
    /// Send this command and hand its reply to [`ScanCore::page`].
    Fetch(Cmd),
    /// The scan is over.
    Done,
}

impl<T: FromRedisValue> ScanCore<T> {
    fn new(page_cmd: PageCmd) -> ScanCore<T> {
        ScanCore {
            page_cmd,
            cursor: Some(Bytes::from_static(b"0")),
            page: Vec::new().into_iter(),
        }
    }

    /// The keys of the database.
    pub(crate) fn keys(options: ScanOptions) -> ScanCore<T> {
        ScanCore::new(Box::new(move |cursor| {
            commands::scan_options(cursor, options.clone())
        }))
    }

    /// What to do next. After a [`Fetch`](Step::Fetch) the cursor is spent: a page that
    /// fails ends the scan.
    pub(crate) fn step(&mut self) -> Step<T> {
        if let Some(item) = self.page.next() {
            return Step::Item(item);
        }
        match self.cursor.take() {
            Some(cursor) => Step::Fetch((self.page_cmd)(&cursor)),
            None => Step::Done,
        }
    }

    /// Takes the reply to a [`Fetch`](Step::Fetch): `[cursor, [items...]]`.
    pub(crate) fn page(&mut self, reply: Value) -> Result<()> {
        let (next, items): (Bytes, Value) = FromRedisValue::from_redis_value(reply)?;
        self.page = Vec::<T>::from_redis_value(items)?.into_iter();
        self.cursor = (next.as_ref() != b"0").then_some(next);
        Ok(())
    }
}

impl<F: FromRedisValue, V: FromRedisValue> ScanCore<(F, V)> {
    /// The field/value pairs of a hash.
    pub(crate) fn hash(key: &impl ToRedisArgs, options: HscanOptions) -> ScanCore<(F, V)> {
        let key = key_args(key);
        ScanCore::new(Box::new(move |cursor| {
            commands::hscan_options(&key, cursor, options.clone())
        }))
    }
}

impl<T: FromRedisValue> ScanCore<T> {
    /// The members of a set.
    pub(crate) fn set(key: &impl ToRedisArgs, options: SscanOptions) -> ScanCore<T> {
        let key = key_args(key);
        ScanCore::new(Box::new(move |cursor| {
            commands::sscan_options(&key, cursor, options.clone())
        }))
    }
}

impl<T: FromRedisValue> ScanCore<(T, f64)> {
    /// The members of a sorted set with their scores.
    pub(crate) fn sorted_set(key: &impl ToRedisArgs, options: ZscanOptions) -> ScanCore<(T, f64)> {
        let key = key_args(key);
        ScanCore::new(Box::new(move |cursor| {
            commands::zscan_options(&key, cursor, options.clone())
        }))
    }
}

/// The arguments a key writes, kept to build each page's command from.
fn key_args(key: &impl ToRedisArgs) -> Vec<Vec<u8>> {
    let mut args = Vec::new();
    key.write_redis_args(&mut args);
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn page(cursor: &str, items: &[&str]) -> Value {
        Value::Array(vec![
            bulk(cursor),
            Value::Array(items.iter().map(|s| bulk(s)).collect()),
        ])
    }

    fn fetch<T>(step: Step<T>) -> Vec<String> {
        let Step::Fetch(cmd) = step else {
            panic!("expected a fetch")
        };
        cmd.args()
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect()
    }

    #[test]
    fn follows_the_cursor_until_zero() {
        let mut scan = ScanCore::<String>::keys(ScanOptions::default().count(10));
        assert_eq!(fetch(scan.step()), ["SCAN", "0", "COUNT", "10"]);
        assert!(scan.cursor.is_none(), "spent while the page is fetched");
        scan.page(page("17", &["a", "b"])).unwrap();
        assert!(matches!(scan.step(), Step::Item(s) if s == "a"));
        assert!(matches!(scan.step(), Step::Item(s) if s == "b"));
        // An empty page with a cursor goes on.
        assert_eq!(fetch(scan.step())[..2], ["SCAN", "17"]);
        scan.page(page("5", &[])).unwrap();
        assert_eq!(fetch(scan.step())[..2], ["SCAN", "5"]);
        scan.page(page("0", &["c"])).unwrap();
        assert!(matches!(scan.step(), Step::Item(s) if s == "c"));
        assert!(matches!(scan.step(), Step::Done));
        assert!(matches!(scan.step(), Step::Done));
    }

    #[test]
    fn keyed_scans_pair_their_items() {
        let mut scan = ScanCore::<(String, f64)>::sorted_set(&"z", ZscanOptions::default());
        assert_eq!(fetch(scan.step()), ["ZSCAN", "z", "0"]);
        scan.page(page("0", &["m", "1.5"])).unwrap();
        assert!(matches!(scan.step(), Step::Item((m, s)) if m == "m" && s == 1.5));

        let mut scan = ScanCore::<(String, i64)>::hash(&"h", HscanOptions::default());
        assert_eq!(fetch(scan.step()), ["HSCAN", "h", "0"]);
        let mut scan = ScanCore::<String>::set(&"s", SscanOptions::default().pattern("x*"));
        assert_eq!(fetch(scan.step()), ["SSCAN", "s", "0", "MATCH", "x*"]);
    }

    #[test]
    fn a_bad_page_ends_the_scan() {
        let mut scan = ScanCore::<i64>::keys(ScanOptions::default());
        let _ = scan.step();
        assert!(scan.page(page("3", &["not a number"])).is_err());
        assert!(matches!(scan.step(), Step::Done));

        let mut scan = ScanCore::<String>::keys(ScanOptions::default());
        let _ = scan.step();
        assert!(scan.page(Value::Int(1)).is_err());
        assert!(matches!(scan.step(), Step::Done));
    }
}
