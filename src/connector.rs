//! [`Connector`]: where new connections come from.
//!
//! Pools, the manager, pub/sub, monitor and the multiplexed connection's dedicated
//! connections all ask a connector for a connected, set-up connection, sync or async,
//! whenever they need a new one: the address in a [`ConnectionInfo`] today; a master a
//! Sentinel names, or a cluster node, tomorrow, looked up again at each connect.

use std::fmt;
use std::sync::Arc;

use crate::connection::Connection;
use crate::connection::info::ConnectionInfo;
#[cfg(feature = "tokio")]
use crate::error::Error;
use crate::error::Result;

/// A boxed future of a connector, `Send` so any task of a runtime may await it.
#[cfg(feature = "tokio")]
pub type ConnectFuture<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<crate::aio::Connection>> + Send + 'a>>;

/// Gives connected, set-up connections: authenticated, with their protocol negotiated,
/// database selected and name set.
///
/// [`ConnectionInfo`] is one: it connects to its address. A connector that finds its
/// server at each connect (a Sentinel's master) implements this trait the same way, and
/// everything that opens connections works with it unchanged.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use respec::{Client, Commands, Connection, ConnectionInfo, Connector, PoolConfig, RetryPolicy};
///
/// /// Connects to whichever of two servers answers first.
/// #[derive(Debug)]
/// struct Either(ConnectionInfo, ConnectionInfo);
///
/// impl Connector for Either {
///     fn options(&self) -> &ConnectionInfo {
///         &self.0
///     }
///
///     fn connect(&self) -> respec::Result<Connection> {
///         Connection::open(&self.0).or_else(|_| Connection::open(&self.1))
///     }
/// }
///
/// # fn main() -> respec::Result<()> {
/// let either = Either("redis://10.0.0.1/".parse()?, "redis://10.0.0.2/".parse()?);
/// let mut client = Client::with_connector(Arc::new(either), PoolConfig::default(), RetryPolicy::default());
/// client.set("k", "v")?;
/// # Ok(())
/// # }
/// ```
pub trait Connector: Send + Sync + fmt::Debug {
    /// The options connections are opened with: timeouts, credentials, database,
    /// protocol. Their address says where a connection goes only for a connector that
    /// goes there; others find the address by other means.
    fn options(&self) -> &ConnectionInfo;

    /// Opens a connection, set up and ready for commands.
    ///
    /// # Errors
    ///
    /// Connection, timeout and authentication errors.
    fn connect(&self) -> Result<Connection>;

    /// Opens an async connection, set up and ready for commands. A connector that
    /// connects only synchronously keeps this default, which fails.
    ///
    /// # Errors
    ///
    /// Connection, timeout and authentication errors.
    #[cfg(feature = "tokio")]
    fn connect_async(&self) -> ConnectFuture<'_> {
        Box::pin(std::future::ready(Err(Error::invalid_input(format!(
            "the connector {self:?} connects only synchronously"
        )))))
    }
}

impl Connector for ConnectionInfo {
    fn options(&self) -> &ConnectionInfo {
        self
    }

    fn connect(&self) -> Result<Connection> {
        Connection::open(self)
    }

    #[cfg(feature = "tokio")]
    fn connect_async(&self) -> ConnectFuture<'_> {
        Box::pin(crate::aio::Connection::open(self))
    }
}

impl<C: Connector + ?Sized> Connector for Arc<C> {
    fn options(&self) -> &ConnectionInfo {
        (**self).options()
    }

    fn connect(&self) -> Result<Connection> {
        (**self).connect()
    }

    #[cfg(feature = "tokio")]
    fn connect_async(&self) -> ConnectFuture<'_> {
        (**self).connect_async()
    }
}
