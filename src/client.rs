//! [`Client`]: the entry point, holding what is needed to open connections.

use std::sync::Arc;

use crate::connection::{Connection, ConnectionInfo, IntoConnectionInfo};
use crate::error::Result;

/// Opens connections to one server.
///
/// A `Client` is cheap to clone and to share between threads; it holds the parsed
/// [`ConnectionInfo`] and opens a new, fully set up connection on each
/// [`get_connection`](Client::get_connection).
///
/// # Examples
///
/// ```no_run
/// # fn main() -> respec::Result<()> {
/// let client = respec::Client::open("redis://127.0.0.1:6379/0")?;
/// let mut con = client.get_connection()?;
/// let pong: String = respec::cmd("PING").query(&mut con)?;
/// assert_eq!(pong, "PONG");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    info: Arc<ConnectionInfo>,
}

impl Client {
    /// Creates a client from a URL, a [`ConnectionInfo`] or a `(host, port)` pair. Nothing
    /// connects yet.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) when a URL does not
    /// parse.
    pub fn open(params: impl IntoConnectionInfo) -> Result<Client> {
        Ok(Client {
            info: Arc::new(params.into_connection_info()?),
        })
    }

    /// Opens a new connection and sets it up.
    ///
    /// # Errors
    ///
    /// As [`Connection::open`].
    pub fn get_connection(&self) -> Result<Connection> {
        Connection::open(&self.info)
    }

    /// What this client connects to.
    #[must_use]
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.info
    }
}
