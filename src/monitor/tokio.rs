//! The async [`Monitor`].

use std::time::Duration;

use futures_core::Stream;

use super::{MonitorEntry, confirm, entry, monitor_cmd};
use crate::aio::Connection;
use crate::aio::stream::unfold;
use crate::client::Client;
use crate::connector::Connector;
use crate::error::Result;
use crate::retry::RetryPolicy;

/// A dedicated async connection in `MONITOR` mode; the async twin of
/// [`Monitor`](crate::Monitor).
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
    pub async fn new(mut con: Connection) -> Result<Monitor> {
        con.send(&monitor_cmd()).await?;
        confirm(con.read_message().await?)?;
        Ok(Monitor { con })
    }

    /// A monitor on a new connection from `connector`, opened with `retry`.
    ///
    /// # Errors
    ///
    /// Connection errors (after the retries `retry` allows), or the server's refusal.
    pub async fn connect(
        connector: &(impl Connector + ?Sized),
        retry: &RetryPolicy,
    ) -> Result<Monitor> {
        Monitor::new(retry.run_async(|| connector.connect_async()).await?).await
    }

    /// The next entry, waiting up to `timeout`; `Ok(None)` when none came.
    ///
    /// # Errors
    ///
    /// IO errors and unparseable lines.
    pub async fn next_entry(&mut self, timeout: Duration) -> Result<Option<MonitorEntry>> {
        // Reading is cancel safe: a line half read when time runs out stays buffered.
        match tokio::time::timeout(timeout, self.con.read_message()).await {
            Ok(message) => entry(message?).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// The entries as a `Stream`: an unparseable line is yielded as an error and the
    /// stream goes on; it ends after a connection error.
    pub fn into_stream(self) -> impl Stream<Item = Result<MonitorEntry>> + Send {
        unfold(Some(self), |monitor: Option<Monitor>| async move {
            let mut monitor = monitor?;
            match monitor.con.read_message().await.and_then(entry) {
                Ok(entry) => Some((Ok(entry), Some(monitor))),
                Err(e) if !e.is_unrecoverable() => Some((Err(e), Some(monitor))),
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

impl Client {
    /// An async [`Monitor`] on a dedicated connection: every command the server runs.
    ///
    /// # Errors
    ///
    /// Connection errors, or the server's refusal.
    pub async fn async_monitor(&self) -> Result<Monitor> {
        Monitor::connect(&**self.connector(), self.retry_policy()).await
    }
}
