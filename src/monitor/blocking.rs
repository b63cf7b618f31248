//! The blocking [`Monitor`].

use std::time::Duration;

use super::{MonitorEntry, confirm, entry, monitor_cmd};
use crate::client::Client;
use crate::connection::{Connection, Wait};
use crate::connector::Connector;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::RetryPolicy;

/// A connection in `MONITOR` mode: an iterator of [`MonitorEntry`], one per command the
/// server runs, from any client.
///
/// # Examples
///
/// ```no_run
/// # fn main() -> respec::Result<()> {
/// let client = respec::Client::open("redis://127.0.0.1/")?;
/// for entry in client.monitor()?.take(10) {
///     let entry = entry?;
///     println!("{} {} {:?}", entry.client, entry.command, entry.args);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Monitor {
    con: Connection,
}

impl Monitor {
    /// Turns `con` into a monitor: sends `MONITOR` and waits for its `OK`.
    ///
    /// # Errors
    ///
    /// IO errors, or the server's refusal.
    pub fn new(mut con: Connection) -> Result<Monitor> {
        con.send(&monitor_cmd())?;
        let reply = con
            .read_message(Wait::Forever)?
            .ok_or_else(|| Error::new(ErrorKind::Protocol, "no reply to MONITOR"))?;
        confirm(reply)?;
        Ok(Monitor { con })
    }

    /// A monitor on a new connection from `connector`, opened with `retry`.
    ///
    /// # Errors
    ///
    /// Connection errors (after the retries `retry` allows), or the server's refusal.
    pub fn connect(connector: &(impl Connector + ?Sized), retry: &RetryPolicy) -> Result<Monitor> {
        Monitor::new(retry.run(|| connector.connect())?)
    }

    /// The next entry, waiting up to `timeout`; `Ok(None)` when none came.
    ///
    /// # Errors
    ///
    /// IO errors and unparseable lines.
    pub fn next_entry(&mut self, timeout: Duration) -> Result<Option<MonitorEntry>> {
        let wait = if timeout.is_zero() {
            Wait::No
        } else {
            Wait::For(timeout)
        };
        self.con.read_message(wait)?.map(entry).transpose()
    }
}

/// Blocks for each entry; an error ends nothing by itself, but a dead connection yields
/// its error every time.
impl Iterator for Monitor {
    type Item = Result<MonitorEntry>;

    fn next(&mut self) -> Option<Result<MonitorEntry>> {
        self.con
            .read_message(Wait::Forever)
            .transpose()
            .map(|res| res.and_then(entry))
    }
}

impl Client {
    /// A [`Monitor`] on a dedicated connection: every command the server runs.
    ///
    /// # Errors
    ///
    /// Connection errors, or the server's refusal.
    pub fn monitor(&self) -> Result<Monitor> {
        Monitor::connect(&**self.connector(), self.retry_policy())
    }
}
